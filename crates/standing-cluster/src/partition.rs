//! Which worker owns which subject: by a stable hash of the subject's id, or by communities of
//! the graph so that most of a row's contacts live with it.

use standing_graph::Graph;

/// How subjects are placed on workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// By a stable hash of the subject's id: even, and blind to the graph.
    Hash,
    /// By communities: `rounds` rounds of label propagation order the subjects so related ones
    /// are adjacent ([`Graph::locality_order`]), and each worker takes a run of that order
    /// holding an equal share of the entries.
    Communities { rounds: usize },
}

impl Placement {
    /// The label propagation rounds a rebalance uses unless told otherwise.
    pub const DEFAULT_ROUNDS: usize = 8;

    pub fn name(self) -> &'static str {
        match self {
            Placement::Hash => "hash",
            Placement::Communities { .. } => "communities",
        }
    }
}

/// The owner (a worker's index) of every subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners {
    owner: Vec<u32>,
    workers: u32,
}

/// SplitMix64's finaliser: a stable, well-spread hash of a subject's id.
fn mix(subject: u32) -> u64 {
    let mut z = u64::from(subject).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Owners {
    /// Places the subjects of `graph` on `workers` workers.
    pub fn place(graph: &Graph, workers: u32, placement: Placement) -> Owners {
        assert!(workers > 0, "at least one worker");
        let n = graph.len();
        let owner = match placement {
            Placement::Hash => (0..n)
                .map(|s| (mix(s) % u64::from(workers)) as u32)
                .collect(),
            Placement::Communities { rounds } => {
                let order = graph.locality_order(rounds);
                let mut by_order = vec![0u32; n as usize];
                for (subject, &position) in order.iter().enumerate() {
                    by_order[position as usize] = subject as u32;
                }
                // Each worker takes the next run of the order until it holds its share of the
                // entries (a row's entries are its work in a sweep).
                let total = graph.entries().max(1);
                let mut owner = vec![0u32; n as usize];
                let (mut worker, mut seen) = (0u32, 0u64);
                for &subject in &by_order {
                    let share = total * u64::from(worker + 1) / u64::from(workers);
                    if seen >= share && worker + 1 < workers {
                        worker += 1;
                    }
                    owner[subject as usize] = worker;
                    seen += graph.entries_of(subject).count() as u64;
                }
                owner
            }
        };
        Owners { owner, workers }
    }

    pub fn of(&self, subject: u32) -> u32 {
        self.owner[subject as usize]
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }

    pub fn subjects(&self) -> u32 {
        self.owner.len() as u32
    }

    /// The fraction of the graph's entries whose contact lives on another worker than the row.
    pub fn cut_fraction(&self, graph: &Graph) -> f64 {
        let (mut cut, mut all) = (0u64, 0u64);
        for s in 0..graph.len() {
            for entry in graph.entries_of(s) {
                all += 1;
                cut += u64::from(self.of(entry.target) != self.of(s));
            }
        }
        if all == 0 {
            0.0
        } else {
            cut as f64 / all as f64
        }
    }
}
