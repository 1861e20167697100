//! The full solve on timely workers gives the single-process solve's scores bit for bit, at
//! any number of workers and either placement.

use standing_cluster::{Layout, Owners, Placement, Run};
use standing_graph::{Direction, Graph, Network, Params, Weight, synthetic};
use std::sync::Arc;
use std::time::Duration;

const PARAMS: Params = Params {
    alpha: 0.6,
    epsilon: 1e-6,
    push_budget: u64::MAX,
};

fn run() -> Run {
    Run {
        alpha: PARAMS.alpha,
        threshold: PARAMS.threshold(),
        max_sweeps: 10_000,
        timeout: Duration::from_secs(60),
        progress: None,
    }
}

/// Scores by subject from every worker's part.
fn gathered(n: u32, solved: &[standing_cluster::Solved]) -> Vec<f64> {
    let mut scores = vec![f64::NAN; n as usize];
    for worker in solved {
        for (&s, &f) in worker.part.subjects().iter().zip(worker.part.scores()) {
            scores[s as usize] = f;
        }
    }
    scores
}

fn check(graph: Graph, behaviour: Vec<f64>) {
    let n = graph.len();
    let mut single = Network::new(graph.clone(), behaviour.clone(), PARAMS);
    let report = single.solve();
    let expected = single.scores();
    let (graph, behaviour) = (Arc::new(graph), Arc::new(behaviour));
    for workers in [1u32, 2, 3, 4] {
        for placement in [Placement::Hash, Placement::Communities { rounds: 4 }] {
            let owners = Arc::new(Owners::place(&graph, workers, placement));
            let layout = Layout::Threads {
                workers: workers as usize,
            };
            let solved = standing_cluster::solve(
                &layout,
                Arc::clone(&graph),
                Arc::clone(&behaviour),
                owners,
                run(),
            )
            .unwrap();
            assert_eq!(solved.len(), workers as usize);
            let scores = gathered(n, &solved);
            for (s, (got, want)) in scores.iter().zip(&expected).enumerate() {
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "subject {s}, {workers} workers, {placement:?}: {got} against {want}"
                );
            }
            for worker in &solved {
                assert_eq!(
                    worker.sweeps, report.iterations,
                    "{workers} workers, {placement:?}"
                );
                assert_eq!(worker.max_residual.to_bits(), report.max_residual.to_bits());
            }
        }
    }
}

#[test]
fn a_community_graph_solves_bit_for_bit_as_one_process_does() {
    let shape = synthetic::Shape {
        subjects: 3_000,
        mean_entries: 12.0,
        local: 0.9,
        seed: 11,
    };
    check(synthetic::graph(shape), synthetic::behaviour(3_000, 12));
}

#[test]
fn one_way_and_weighted_relations_and_isolated_subjects_solve_bit_for_bit() {
    let mut rng = synthetic::Rng::new(3);
    let n = 700u32;
    let relations: Vec<_> = (0..2_500)
        .map(|_| {
            let a = rng.below(u64::from(n - 50)) as u32; // the last 50 have no relations
            let b = (a + 1 + rng.below(u64::from(n - 52)) as u32) % (n - 50);
            let weight = Weight::from_units(1 + rng.below(8000) as u16).unwrap();
            let direction = if rng.unit() < 0.5 {
                Direction::OneWay
            } else {
                Direction::Mutual
            };
            (a, b, weight, direction)
        })
        .collect();
    let behaviour = (0..n).map(|_| 300.0 + 550.0 * rng.unit()).collect();
    check(Graph::from_relations(n, &relations), behaviour);
}
