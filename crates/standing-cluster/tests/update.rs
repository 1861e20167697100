//! Changes after a full solve, pushed across timely workers — behaviour scores, relations added
//! and removed: every score ends within ε of the exact fixed point of the changed network,
//! against a direct dense solve on random graphs, and against the single process on the real
//! graphs in ../shared/data.

use proptest::prelude::*;
use standing_cluster::{Change, Layout, Owners, Placement, Run, Solved, Updated};
use standing_devkit::oracle::{Relation, dense_solve};
use standing_graph::{Direction, Graph, Network, Params, Weight};
use std::sync::Arc;
use std::time::Duration;

const EPSILON: f64 = 0.01;
/// Rounding allowance on top of ε when comparing with an oracle computed in floating point.
const SLACK: f64 = 1e-7;

fn run(alpha: f64) -> Run {
    Run {
        alpha,
        threshold: (1.0 - alpha) * EPSILON,
        max_sweeps: 10_000,
        timeout: Duration::from_secs(60),
        progress: None,
    }
}

fn to_graph(n: u32, relations: &[Relation]) -> Graph {
    let relations: Vec<_> = relations
        .iter()
        .map(|&(a, b, units, mutual)| {
            let direction = if mutual {
                Direction::Mutual
            } else {
                Direction::OneWay
            };
            (a, b, Weight::from_units(units).unwrap(), direction)
        })
        .collect();
    Graph::from_relations(n, &relations)
}

/// Solves on `workers` threads, applies `changes`; the scores by subject, and what the changes
/// took on each worker.
fn solve_and_update(
    graph: Graph,
    behaviour: Vec<f64>,
    workers: u32,
    placement: Placement,
    alpha: f64,
    changes: Vec<Change>,
    batch: usize,
) -> (Vec<f64>, Vec<Updated>) {
    let n = graph.len();
    let owners = Arc::new(Owners::place(&graph, workers, placement));
    let layout = Layout::Threads {
        workers: workers as usize,
    };
    let results = standing_cluster::solve_and_update(
        &layout,
        Arc::new(graph),
        Arc::new(behaviour),
        owners,
        run(alpha),
        Arc::new(changes.chunks(batch).map(<[Change]>::to_vec).collect()),
    )
    .unwrap();
    let mut scores = vec![f64::NAN; n as usize];
    for (Solved { part, .. }, _) in &results {
        for (&s, &f) in part.subjects().iter().zip(part.scores()) {
            scores[s as usize] = f;
        }
    }
    (
        scores,
        results.into_iter().map(|(_, updated)| updated).collect(),
    )
}

fn worst(scores: &[f64], exact: &[f64]) -> f64 {
    scores
        .iter()
        .zip(exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

fn small_graph() -> impl Strategy<Value = (u32, Vec<Relation>, Vec<f64>)> {
    (2u32..40).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec(
                (0..n, 0..n, 1u16..4096, any::<bool>()).prop_filter("no loops", |r| r.0 != r.1),
                0..(3 * n as usize),
            ),
            prop::collection::vec(300.0f64..1300.0, n as usize),
        )
    })
}

/// What a generated change does.
#[derive(Clone, Debug)]
enum Step {
    Behaviour(u32, f64),
    Add(Relation),
    /// Removes the relation at this index of those present (modulo their number).
    Remove(usize),
}

fn steps(n: u32) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..n, 300.0f64..1300.0).prop_map(|(s, b)| Step::Behaviour(s, b)),
            2 => (0..n, 0..n, 1u16..4096, any::<bool>())
                .prop_filter("no loops", |r| r.0 != r.1)
                .prop_map(Step::Add),
            1 => any::<usize>().prop_map(Step::Remove),
        ],
        1..16,
    )
}

fn direction(mutual: bool) -> Direction {
    if mutual {
        Direction::Mutual
    } else {
        Direction::OneWay
    }
}

/// Applies `steps` to the graph in batches of `batch` across `workers` and checks every score
/// against the dense solve of the changed network.
#[allow(clippy::too_many_arguments)]
fn check_steps(
    (n, relations, behaviour): (u32, Vec<Relation>, Vec<f64>),
    steps: Vec<Step>,
    alpha: f64,
    workers: u32,
    placement: Placement,
    batch: usize,
) -> Result<(), TestCaseError> {
    let (mut changed, mut present) = (behaviour.clone(), relations.clone());
    let mut changes: Vec<Change> = Vec::new();
    for step in steps {
        match step {
            Step::Behaviour(subject, value) => {
                changed[subject as usize] = value;
                changes.push(Change::Behaviour {
                    subject,
                    behaviour: value,
                });
            }
            Step::Add(relation) => {
                let (a, b, units, mutual) = relation;
                present.push(relation);
                let weight = Weight::from_units(units).unwrap();
                changes.push(Change::Relate {
                    a,
                    b,
                    weight,
                    direction: direction(mutual),
                });
            }
            Step::Remove(index) if !present.is_empty() => {
                let (a, b, units, mutual) = present.remove(index % present.len());
                let weight = Weight::from_units(units).unwrap();
                changes.push(Change::Unrelate {
                    a,
                    b,
                    weight,
                    direction: direction(mutual),
                });
            }
            Step::Remove(_) => {}
        }
    }
    let (scores, updated) = solve_and_update(
        to_graph(n, &relations),
        behaviour,
        workers,
        placement,
        alpha,
        changes.clone(),
        batch,
    );
    let exact = dense_solve(n as usize, &present, &changed, alpha);
    let off = worst(&scores, &exact);
    prop_assert!(off <= EPSILON + SLACK, "off by {off}");
    for worker in &updated {
        prop_assert_eq!(worker.latencies.len(), changes.len().div_ceil(batch));
        prop_assert!(worker.rounds.iter().all(|&r| r >= 1));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pushed_changes_keep_every_score_within_epsilon_of_the_exact_fixed_point(
        (graph, steps) in small_graph().prop_flat_map(|graph| {
            let n = graph.0;
            (Just(graph), steps(n))
        }),
        alpha in 0.0f64..0.9,
        workers in 1u32..4,
        communities in any::<bool>(),
        batch in 1usize..6,
    ) {
        let placement = if communities { Placement::Communities { rounds: 3 } } else { Placement::Hash };
        check_steps(graph, steps, alpha, workers, placement, batch)?;
    }
}

/// A case the property test found: a batch that adds a relation and removes relations
/// (one of them possibly the one just added), across 2 workers placed by communities.
#[test]
fn a_batch_adding_and_removing_relations_across_workers() {
    let relations = vec![
        (29, 7, 3947, false),
        (6, 11, 1195, true),
        (12, 22, 1625, true),
        (0, 28, 2197, false),
        (3, 13, 3260, false),
        (0, 15, 199, true),
        (9, 15, 4061, false),
        (27, 28, 3703, true),
        (7, 6, 1198, true),
        (12, 15, 3040, true),
        (2, 23, 1026, false),
        (31, 23, 486, false),
        (7, 25, 3335, true),
        (8, 35, 2586, true),
        (14, 2, 3823, true),
        (3, 7, 2848, false),
    ];
    let behaviour = vec![
        864.713812140907,
        521.9506285193947,
        1230.205960596288,
        908.5864240997836,
        676.8749762552956,
        1256.083986111904,
        703.1859164949673,
        1003.3385158914094,
        1262.0153719728485,
        1250.3570012359403,
        628.8102644582739,
        702.6187011211103,
        951.6285857254868,
        844.7402226770554,
        654.8013331721397,
        512.0802362579548,
        1065.6865207614,
        808.3482710319419,
        1045.5769752273286,
        1265.7715141648448,
        510.6537215439818,
        488.2228384304122,
        573.1246464677374,
        629.5844099703423,
        931.1515459815428,
        391.36720580426913,
        373.1469071966497,
        1238.165904445932,
        525.4838345859451,
        1041.7808855169058,
        625.973362297925,
        683.8739599240611,
        328.97213253827505,
        1134.5396294871518,
        897.7075691811549,
        1149.1938088671186,
    ];
    let steps = vec![
        Step::Behaviour(24, 317.2877397444852),
        Step::Add((14, 24, 2226, false)),
        Step::Remove(13151184102787393942),
        Step::Behaviour(4, 496.32486144130115),
        Step::Remove(3942505055221235551),
        Step::Remove(4748056816280075240),
        Step::Remove(16483131887947357583),
        Step::Remove(5503165350302374570),
        Step::Behaviour(15, 564.4948546442861),
        Step::Behaviour(9, 1181.0108323315142),
    ];
    let placement = Placement::Communities { rounds: 3 };
    check_steps(
        (36, relations, behaviour),
        steps,
        0.7811639822382895,
        2,
        placement,
        4,
    )
    .unwrap();
}

fn shared_data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A real graph: about 180 behaviour changes, 60 relations added and some removed, pushed
/// across 2 workers one at a time and across 3 in batches of 25, end within ε of the fixed
/// point a single process solves afresh for the changed network (to 1e-9).
fn check_real(name: &str, one_way: bool, alpha: f64) {
    let edges = standing_cluster::read_edges(name, &shared_data(name), one_way).unwrap();
    let n = edges.graph.len();
    let behaviour = standing_graph::synthetic::behaviour(n, 5);
    let mut rng = standing_graph::synthetic::Rng::new(9);
    let mut changed = behaviour.clone();
    let tight = Params {
        alpha,
        epsilon: 1e-9,
        push_budget: u64::MAX,
    };
    // The changed network, built directly: its graph changed relation by relation.
    let mut fresh_graph = edges.graph.clone();
    let kind = if one_way {
        Direction::OneWay
    } else {
        Direction::Mutual
    };
    let mut changes: Vec<Change> = Vec::new();
    for index in 0..300 {
        let (a, b) = (
            rng.below(u64::from(n)) as u32,
            rng.below(u64::from(n)) as u32,
        );
        match index % 5 {
            1 if a != b => {
                let weight = Weight::from_f64(1.0 + 3.0 * rng.unit()).unwrap();
                fresh_graph.add(a, b, weight, kind);
                changes.push(Change::Relate {
                    a,
                    b,
                    weight,
                    direction: kind,
                });
            }
            3 => {
                // One of `a`'s relations, as stored at its row.
                let found = edges.graph.entries_of(a).find(|entry| entry.forward);
                if let Some(entry) = found {
                    let direction = if entry.backward {
                        Direction::Mutual
                    } else {
                        Direction::OneWay
                    };
                    let (b, weight) = (entry.target, entry.weight);
                    if fresh_graph.remove(a, b, weight, direction).is_some() {
                        changes.push(Change::Unrelate {
                            a,
                            b,
                            weight,
                            direction,
                        });
                    }
                }
            }
            _ => {
                let value = 300.0 + 1000.0 * rng.unit();
                changed[a as usize] = value;
                changes.push(Change::Behaviour {
                    subject: a,
                    behaviour: value,
                });
            }
        }
    }
    let relation_changes = changes
        .iter()
        .filter(|c| !matches!(c, Change::Behaviour { .. }))
        .count();
    assert!(
        relation_changes >= 60,
        "{relation_changes} relation changes"
    );
    let mut fresh = Network::new(fresh_graph, changed, tight);
    fresh.solve();
    let exact = fresh.scores();
    // One change at a time on 2 workers; batches of 25 on 3.
    for (workers, placement, batch) in [
        (2, Placement::Hash, 1),
        (3, Placement::Communities { rounds: 8 }, 25),
    ] {
        let (scores, updated) = solve_and_update(
            edges.graph.clone(),
            behaviour.clone(),
            workers,
            placement,
            alpha,
            changes.clone(),
            batch,
        );
        let off = worst(&scores, &exact);
        assert!(
            off <= EPSILON + 1e-9,
            "{name}, {workers} workers: off by {off}"
        );
        let sent: u64 = updated.iter().map(|u| u.messages).sum();
        assert!(sent > 0, "{name}: changes crossed no worker");
    }
}

#[test]
fn ego_facebook_changes_pushed_across_workers_match_a_fresh_solve() {
    check_real("facebook_combined.txt", false, 0.5);
}

#[test]
fn bitcoin_otc_changes_pushed_across_workers_match_a_fresh_solve() {
    check_real("soc-sign-bitcoinotc.csv", true, 0.6);
}
