//! The network scores against oracles: a dense direct solve on small random graphs (full
//! solve, incremental pushes, sharded pushes, deferred work), determinism across thread
//! counts, and the real graphs in ../shared/data against an independent Gauss–Seidel solver.

use proptest::prelude::*;
use standing_graph::synthetic::{self, Shape};
use standing_graph::{Direction, Graph, Network, Params, Weight, settle_shards};

const EPSILON: f64 = 0.01;
/// Rounding allowance on top of ε when comparing with an oracle computed in floating point.
const SLACK: f64 = 1e-7;

fn params(alpha: f64, push_budget: u64) -> Params {
    Params {
        alpha,
        epsilon: EPSILON,
        push_budget,
    }
}

use standing_devkit::oracle::{Relation, dense_solve};

fn to_graph(n: u32, relations: &[Relation]) -> Graph {
    let list: Vec<_> = relations
        .iter()
        .map(|&(a, b, units, mutual)| {
            (
                a,
                b,
                Weight::from_units(units).unwrap(),
                if mutual {
                    Direction::Mutual
                } else {
                    Direction::OneWay
                },
            )
        })
        .collect();
    Graph::from_relations(n, &list)
}

fn assert_within(scores: &[f64], exact: &[f64], bound: f64) -> Result<(), TestCaseError> {
    for (s, (got, want)) in scores.iter().zip(exact).enumerate() {
        prop_assert!(
            (got - want).abs() <= bound,
            "subject {s}: {got} vs exact {want} (bound {bound})"
        );
    }
    Ok(())
}

fn small_graph() -> impl Strategy<Value = (u32, Vec<Relation>, Vec<f64>)> {
    (2u32..24).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec(
                (0..n, 0..n, 1u16..4096, any::<bool>()).prop_filter("no loops", |r| r.0 != r.1),
                0..(n as usize * 3),
            ),
            prop::collection::vec(300.0f64..1300.0, n as usize),
        )
    })
}

#[derive(Clone, Debug)]
enum Change {
    Behaviour(u32, f64),
    Add(Relation),
    /// Removes the relation at this index of those present (modulo their number).
    Remove(usize),
}

fn changes(n: u32) -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..n, 300.0f64..1300.0).prop_map(|(s, b)| Change::Behaviour(s, b)),
            2 => (0..n, 0..n, 1u16..4096, any::<bool>())
                .prop_filter("no loops", |r| r.0 != r.1)
                .prop_map(Change::Add),
            1 => any::<usize>().prop_map(Change::Remove),
        ],
        1..40,
    )
}

fn direction(mutual: bool) -> Direction {
    if mutual {
        Direction::Mutual
    } else {
        Direction::OneWay
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_full_solve_is_within_epsilon_of_the_exact_fixed_point(
        (n, relations, behaviour) in small_graph(),
        alpha in 0.0f64..0.95,
        reorder in any::<bool>(),
    ) {
        let mut network = Network::new(to_graph(n, &relations), behaviour.clone(), params(alpha, u64::MAX));
        if reorder {
            network.reorder(3);
        }
        let report = network.solve();
        prop_assert!(report.error_bound <= EPSILON);
        let exact = dense_solve(n as usize, &relations, &behaviour, alpha);
        assert_within(&network.scores(), &exact, EPSILON + SLACK)?;
    }

    #[test]
    fn incremental_pushes_keep_every_score_within_epsilon_of_the_exact_fixed_point(
        ((n, relations, behaviour), changes) in small_graph()
            .prop_flat_map(|graph| { let n = graph.0; (Just(graph), changes(n)) }),
        alpha in 0.0f64..0.9,
        budget in prop_oneof![Just(u64::MAX), 1u64..40],
        reorder in any::<bool>(),
    ) {
        let mut network = Network::new(to_graph(n, &relations), behaviour.clone(), params(alpha, budget));
        network.solve();
        if reorder {
            // Renumbered internally; every call below still speaks of the callers' subjects.
            network.reorder(3);
        }
        let mut present = relations.clone();
        let mut behaviour = behaviour;
        for change in changes {
            match change {
                Change::Behaviour(s, b) => {
                    behaviour[s as usize] = b;
                    network.set_behaviour(s, b);
                }
                Change::Add(relation) => {
                    let (a, b, units, mutual) = relation;
                    present.push(relation);
                    network.add_relation(a, b, Weight::from_units(units).unwrap(), direction(mutual));
                }
                Change::Remove(index) if !present.is_empty() => {
                    let (a, b, units, mutual) = present.remove(index % present.len());
                    let removed = network.remove_relation(a, b, Weight::from_units(units).unwrap(), direction(mutual));
                    prop_assert!(removed.is_some());
                }
                Change::Remove(_) => {}
            }
            if budget == u64::MAX {
                prop_assert_eq!(network.deferred(), 0);
                let exact = dense_solve(n as usize, &present, &behaviour, alpha);
                assert_within(&network.scores(), &exact, EPSILON + SLACK)?;
            }
        }
        // Deferred work, once settled, meets the same bound; and equals a full solve within 2ε.
        network.settle(u64::MAX);
        let exact = dense_solve(n as usize, &present, &behaviour, alpha);
        assert_within(&network.scores(), &exact, EPSILON + SLACK)?;
        prop_assert!(network.error_bound() <= EPSILON + SLACK);
        let mut full = Network::new(to_graph(n, &present), behaviour.clone(), params(alpha, u64::MAX));
        full.solve();
        assert_within(&network.scores(), &full.scores(), 2.0 * EPSILON + SLACK)?;
    }

    #[test]
    fn shards_exchanging_messages_reach_the_same_bound(
        (n, relations, behaviour) in small_graph(),
        alpha in 0.0f64..0.9,
        shard_count in 1u32..5,
        updates in prop::collection::vec((0u32..24, 300.0f64..1300.0), 1..10),
    ) {
        let mut network = Network::new(to_graph(n, &relations), behaviour.clone(), params(alpha, u64::MAX));
        network.solve();
        let mut shards = network.split(shard_count);
        let mut behaviour = behaviour;
        let threshold = network.params().threshold();
        for (s, b) in updates {
            let s = s % n;
            behaviour[s as usize] = b;
            let owner = shards.iter_mut().find(|shard| shard.owns(s)).unwrap();
            owner.set_behaviour(s, b, alpha, threshold);
        }
        settle_shards(&mut shards, alpha, threshold);
        let exact = dense_solve(n as usize, &relations, &behaviour, alpha);
        let scores: Vec<f64> = (0..n)
            .map(|s| shards.iter().find(|shard| shard.owns(s)).unwrap().score(s))
            .collect();
        assert_within(&scores, &exact, EPSILON + SLACK)?;
    }

    #[test]
    fn contacts_shares_add_up_to_the_network_points(
        (n, relations, behaviour) in small_graph(),
        alpha in 0.0f64..0.9,
        reorder in any::<bool>(),
    ) {
        let mut network = Network::new(to_graph(n, &relations), behaviour, params(alpha, u64::MAX));
        if reorder {
            network.reorder(3);
        }
        network.solve();
        for s in 0..n {
            let explained = network.explain(s, usize::MAX);
            let shares: f64 = explained.contacts.iter().map(|c| c.share).sum();
            // The shares add up to T(f)(s) − b(s), which is f(s) − b(s) up to the residual.
            prop_assert!((shares - explained.network_points).abs() <= network.params().threshold() + SLACK);
            prop_assert!(explained.contacts.windows(2).all(|w| w[0].share.abs() >= w[1].share.abs()));
            // Contacts are named in the callers' numbering: each is a relation of `s`.
            for contact in &explained.contacts {
                prop_assert!(relations.iter().any(|&(a, b, _, mutual)| {
                    (a == s && b == contact.subject) || (mutual && b == s && a == contact.subject)
                }), "{} is not a contact of {s}", contact.subject);
            }
        }
    }
}

#[test]
fn the_full_solve_is_the_same_bit_for_bit_at_any_thread_count() {
    let shape = Shape {
        subjects: 60_000,
        mean_entries: 20.0,
        local: 0.8,
        seed: 11,
    };
    let graph = synthetic::graph(shape);
    let behaviour = synthetic::behaviour(shape.subjects, 11);
    let solve = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut network = Network::new(graph.clone(), behaviour.clone(), params(0.3, 1 << 20));
            let report = network.solve();
            assert!(report.iterations > 2, "{report:?}");
            network
                .scores()
                .iter()
                .map(|f| f.to_bits())
                .collect::<Vec<u64>>()
        })
    };
    let one = solve(1);
    assert_eq!(one, solve(2));
    assert_eq!(one, solve(4));
}

/// Gauss–Seidel over plain adjacency lists, to a residual of 1e-12: an independent solver.
fn gauss_seidel(contacts: &[Vec<(usize, f64)>], behaviour: &[f64], alpha: f64) -> Vec<f64> {
    let mut f = behaviour.to_vec();
    loop {
        let mut change = 0.0f64;
        for s in 0..f.len() {
            let total: f64 = contacts[s].iter().map(|(_, w)| w).sum();
            let next = if contacts[s].is_empty() {
                behaviour[s]
            } else {
                let sum: f64 = contacts[s].iter().map(|&(u, w)| w * f[u]).sum();
                (1.0 - alpha) * behaviour[s] + alpha * sum / total
            };
            change = change.max((next - f[s]).abs());
            f[s] = next;
        }
        if change < 1e-12 {
            return f;
        }
    }
}

fn shared_data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_real_graph(
    n: usize,
    relations: &[(u32, u32, Weight, Direction)],
    contacts: &[Vec<(usize, f64)>],
    alpha: f64,
) {
    let behaviour = synthetic::behaviour(n as u32, 3);
    let mut network = Network::new(
        Graph::from_relations(n as u32, relations),
        behaviour.clone(),
        params(alpha, u64::MAX),
    );
    let report = network.solve();
    let exact = gauss_seidel(contacts, &behaviour, alpha);
    let worst = network
        .scores()
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= EPSILON, "full solve off by {worst} ({report:?})");
    // The network moved scores: the test would notice a solver that ignored the graph.
    let moved = exact
        .iter()
        .zip(&behaviour)
        .filter(|(f, b)| (*f - *b).abs() > 1.0)
        .count();
    assert!(moved > n / 10, "only {moved} of {n} scores moved");

    // Incremental: 200 behaviour changes, then against the independent solver again.
    let mut behaviour = behaviour;
    let mut rng = synthetic::Rng::new(9);
    for _ in 0..200 {
        let s = rng.below(n as u64) as usize;
        behaviour[s] = 300.0 + rng.unit() * 1000.0;
        network.set_behaviour(s as u32, behaviour[s]);
    }
    let exact = gauss_seidel(contacts, &behaviour, alpha);
    let worst = network
        .scores()
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= EPSILON, "incremental off by {worst}");
}

#[test]
fn ego_facebook_matches_an_independent_solver() {
    let text = shared_data("facebook_combined.txt");
    let n = 4039;
    let mut relations = Vec::new();
    let mut contacts = vec![Vec::new(); n];
    for line in text.lines() {
        let mut ends = line.split_whitespace().map(|x| x.parse::<u32>().unwrap());
        let (a, b) = (ends.next().unwrap(), ends.next().unwrap());
        relations.push((a, b, Weight::ONE, Direction::Mutual));
        contacts[a as usize].push((b as usize, 1.0));
        contacts[b as usize].push((a as usize, 1.0));
    }
    assert_eq!(relations.len(), 88_234);
    check_real_graph(n, &relations, &contacts, 0.4);
}

#[test]
fn bitcoin_otc_trust_matches_an_independent_solver() {
    // A positive rating r makes the rater's score depend on the ratee's, with weight r/10.
    let text = shared_data("soc-sign-bitcoinotc.csv");
    let mut relations = Vec::new();
    let mut n = 0;
    for line in text.lines() {
        let fields: Vec<i64> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
        let (rater, ratee, rating) = (fields[0] as u32, fields[1] as u32, fields[2]);
        n = n.max(rater.max(ratee) as usize + 1);
        if rating > 0 {
            let weight = Weight::from_f64(rating as f64 / 10.0).unwrap();
            relations.push((rater, ratee, weight, Direction::OneWay));
        }
    }
    let mut contacts = vec![Vec::new(); n];
    for &(a, b, weight, _) in &relations {
        contacts[a as usize].push((b as usize, weight.value()));
    }
    assert!(relations.len() > 30_000);
    check_real_graph(n, &relations, &contacts, 0.5);
}

#[test]
fn relations_added_and_removed_one_by_one_give_the_graph_built_at_once() {
    let n = 500u32;
    let mut rng = synthetic::Rng::new(5);
    let mut relations = Vec::new();
    let mut graph = Graph::new(n);
    // Enough additions to go through several merges of the overlay into the rows.
    for _ in 0..6_000 {
        let a = rng.below(u64::from(n)) as u32;
        let b = (a + 1 + rng.below(u64::from(n) - 1) as u32) % n;
        let weight = Weight::from_units(1 + rng.below(4000) as u16).unwrap();
        let direction = direction(rng.unit() < 0.5);
        graph.add(a, b, weight, direction);
        relations.push((a, b, weight, direction));
        if rng.unit() < 0.25 {
            let (a, b, weight, direction) =
                relations.swap_remove(rng.below(relations.len() as u64) as usize);
            assert!(graph.remove(a, b, weight, direction).is_some());
        }
    }
    let built = Graph::from_relations(n, &relations);
    assert_eq!(graph.entries(), built.entries());
    for s in 0..n {
        let mut got: Vec<_> = graph.entries_of(s).map(|e| format!("{e:?}")).collect();
        let mut want: Vec<_> = built.entries_of(s).map(|e| format!("{e:?}")).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "row {s}");
        assert_eq!(
            graph.forward_units(s),
            built.forward_units(s),
            "weight sum of {s}"
        );
    }
    // Removing what is not there changes nothing.
    let before = graph.entries();
    assert!(graph.remove(0, 0, Weight::ONE, Direction::Mutual).is_none());
    assert_eq!(graph.entries(), before);
}
