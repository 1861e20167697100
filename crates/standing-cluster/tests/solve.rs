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

/// Worker `worker`'s part as a serving process assembles it from what it knows: the rows of
/// the subjects it owns, its contacts elsewhere by name, mirrors and sends ordered by name.
fn assembled(
    graph: &Graph,
    behaviour: &[f64],
    workers: u32,
    owner: impl Fn(u32) -> u32,
    worker: u32,
) -> (standing_cluster::Part, Vec<u32>) {
    let name = |s: u32| format!("subject-{s}");
    let own: Vec<u32> = (0..graph.len()).filter(|&s| owner(s) == worker).collect();
    let mut mirrors: Vec<(u32, String, u32)> = own
        .iter()
        .flat_map(|&s| graph.entries_of(s).map(|e| e.target))
        .filter(|&t| owner(t) != worker)
        .map(|t| (owner(t), name(t), t))
        .collect();
    mirrors.sort();
    mirrors.dedup();
    let mut slot = std::collections::HashMap::new();
    for (index, &s) in own.iter().enumerate() {
        slot.insert(s, index as u32);
    }
    for (index, (_, _, t)) in mirrors.iter().enumerate() {
        slot.insert(*t, (own.len() + index) as u32);
    }
    let receive = (0..workers)
        .map(|q| {
            let start = own.len() + mirrors.partition_point(|m| m.0 < q);
            let end = own.len() + mirrors.partition_point(|m| m.0 <= q);
            start..end
        })
        .collect();
    let send = (0..workers)
        .map(|q| {
            let mut to: Vec<(String, u32)> = own
                .iter()
                .filter(|&&s| q != worker && graph.entries_of(s).any(|e| owner(e.target) == q))
                .map(|&s| (name(s), slot[&s]))
                .collect();
            to.sort();
            to.into_iter().map(|(_, slot)| slot).collect()
        })
        .collect();
    let rows = graph.relabelled(&own, |t| slot[&t]);
    let mut score: Vec<f64> = own.iter().map(|&s| behaviour[s as usize]).collect();
    score.extend(mirrors.iter().map(|m| behaviour[m.2 as usize]));
    let part = standing_cluster::Part::from_rows(
        worker,
        rows,
        own.iter().map(|&s| behaviour[s as usize]).collect(),
        score,
        send,
        receive,
    )
    .unwrap();
    (part, own)
}

#[test]
fn parts_assembled_by_name_solve_bit_for_bit_as_one_process_does() {
    let shape = synthetic::Shape {
        subjects: 2_000,
        mean_entries: 10.0,
        local: 0.5,
        seed: 5,
    };
    let (graph, behaviour) = (synthetic::graph(shape), synthetic::behaviour(2_000, 5));
    let mut single = Network::new(graph.clone(), behaviour.clone(), PARAMS);
    single.solve();
    let expected = single.scores();
    for workers in [1u32, 3] {
        let owner = |s: u32| (s * 7 + 3) % workers;
        let (parts, owned): (Vec<_>, Vec<_>) = (0..workers)
            .map(|w| assembled(&graph, &behaviour, workers, owner, w))
            .unzip();
        let layout = Layout::Threads {
            workers: workers as usize,
        };
        let solved = standing_cluster::solve_parts(&layout, parts, run()).unwrap();
        let mut mirrored = 0;
        for (worker, own) in solved.iter().zip(&owned) {
            assert_eq!(worker.part.subjects().len(), own.len());
            for (&s, &got) in own.iter().zip(worker.part.scores()) {
                let want = expected[s as usize];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "subject {s}, {workers} workers"
                );
            }
            for &got in worker.part.mirror_scores() {
                assert!(
                    expected
                        .iter()
                        .any(|&want| (got - want).abs() <= PARAMS.epsilon)
                );
                mirrored += 1;
            }
        }
        assert_eq!(mirrored > 0, workers > 1);
    }
}

#[test]
fn parts_that_disagree_on_what_they_exchange_are_refused() {
    let graph = Graph::from_relations(
        2,
        &[(0, 1, Weight::from_units(100).unwrap(), Direction::Mutual)],
    );
    let behaviour = vec![400.0, 700.0];
    let (a, _) = assembled(&graph, &behaviour, 2, |s| s, 0);
    // Worker 1 believes it has no contact on worker 0: it neither mirrors nor sends.
    let lonely = Graph::from_relations(1, &[]);
    let b = standing_cluster::Part::from_rows(
        1,
        lonely,
        vec![700.0],
        vec![700.0],
        vec![vec![], vec![]],
        vec![1..1, 1..1],
    )
    .unwrap();
    let error = standing_cluster::solve_parts(&Layout::Threads { workers: 2 }, vec![a, b], run())
        .unwrap_err();
    assert!(error.to_string().contains("mirrors"), "{error}");
}
