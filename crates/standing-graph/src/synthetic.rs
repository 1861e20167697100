//! A seeded generator of social graphs: power-law degrees, communities, relation kinds.
//!
//! Subjects are numbered community by community (communities of 50 to 2,000 members, sizes
//! drawn log-uniformly), which is the locality ordering: most of a row's targets are near the
//! row. Each subject starts `d` relations, with `d` drawn from a Pareto distribution whose
//! density falls as `d^-2.5` (within the 2–3 measured for social networks), scaled to the
//! requested mean and capped at 5,000;
//! each relation stays inside the community with probability `local`, else goes to a
//! subject anywhere. All relations are mutual; their kinds have weights 1.0 (friend, most),
//! 1.5 (family) and 0.5 (colleague).

use crate::graph::{Direction, Graph, Weight};

/// SplitMix64: small, fast, and the same everywhere for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub subjects: u32,
    /// Mean stored entries per subject (each mutual relation is an entry in both rows).
    pub mean_entries: f64,
    /// Probability a relation stays within its community.
    pub local: f64,
    pub seed: u64,
}

/// The relation kinds the generator uses, with their weights.
pub const KINDS: [(&str, f64); 3] = [("friend", 1.0), ("family", 1.5), ("colleague", 0.5)];

/// The generated relations `(a, b, kind index)`, mutual; `a ≠ b`.
pub fn relations(shape: Shape) -> Vec<(u32, u32, u8)> {
    let n = shape.subjects;
    let mut rng = Rng::new(shape.seed);
    // Communities: consecutive ranges.
    let mut community_start = vec![0u32; n as usize];
    let mut community_len = vec![0u32; n as usize];
    let mut first = 0u32;
    while first < n {
        let size = (50.0 * 40f64.powf(rng.unit())) as u32;
        let end = first.saturating_add(size.max(2)).min(n);
        for s in first..end {
            community_start[s as usize] = first;
            community_len[s as usize] = end - first;
        }
        first = end;
    }
    // Density ∝ d^-2.5 is Pareto of shape 1.5: mean 3·x_min. A subject starts half its
    // entries (the other half are relations others start with it).
    let shape_parameter = 1.5f64;
    let mean_started = shape.mean_entries / 2.0;
    let x_min = mean_started * (shape_parameter - 1.0) / shape_parameter;
    let cap = 5_000.0;
    let mut out = Vec::with_capacity((f64::from(n) * mean_started * 1.02) as usize);
    for a in 0..n {
        let u = 1.0 - rng.unit();
        let degree = (x_min * u.powf(-1.0 / shape_parameter)).min(cap);
        // Randomised rounding keeps the mean.
        let whole = degree.floor();
        let started = whole as u32 + u32::from(rng.unit() < degree - whole);
        for _ in 0..started {
            let b = if rng.unit() < shape.local && community_len[a as usize] > 1 {
                community_start[a as usize] + rng.below(u64::from(community_len[a as usize])) as u32
            } else {
                rng.below(u64::from(n)) as u32
            };
            if b == a {
                continue;
            }
            let roll = rng.unit();
            let kind = if roll < 0.7 {
                0
            } else if roll < 0.85 {
                1
            } else {
                2
            };
            out.push((a, b, kind));
        }
    }
    out
}

/// The generated graph, kinds mapped to their weights.
pub fn graph(shape: Shape) -> Graph {
    let weights: Vec<Weight> = KINDS
        .iter()
        .map(|(_, w)| Weight::from_f64(*w).expect("kind weights are in range"))
        .collect();
    let relations: Vec<(u32, u32, Weight, Direction)> = relations(shape)
        .into_iter()
        .map(|(a, b, kind)| (a, b, weights[kind as usize], Direction::Mutual))
        .collect();
    Graph::from_relations(shape.subjects, &relations)
}

/// Behaviour scores for `subjects` subjects: a city-like spread around 1000 with a tail of
/// low scores, seeded.
pub fn behaviour(subjects: u32, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed ^ 0x5eed);
    (0..subjects)
        .map(|_| {
            let base = 1000.0 + (rng.unit() - 0.5) * 200.0;
            if rng.unit() < 0.05 {
                base - 300.0 * rng.unit()
            } else {
                base
            }
        })
        .collect()
}
