//! Real third-party data through the engine: the Bitcoin OTC trust ratings replayed as events
//! under the sample marketplace model, checked against a direct computation of the model's
//! formula written independently of the engine.

use standing_core::{Event, EventBody, FieldValue, Timestamp};
use standing_engine::Engine;
use standing_rules::{SAMPLE_MARKETPLACE_MODEL, check_model};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn shared_data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(file)
}

struct Rating {
    rater: String,
    ratee: String,
    rating: i64,
    time: i64,
}

fn bitcoin_otc() -> Vec<Rating> {
    let path = shared_data("soc-sign-bitcoinotc.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let parts: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
            assert_eq!(parts.len(), 4, "{line}");
            Rating {
                rater: format!("u{}", parts[0]),
                ratee: format!("u{}", parts[1]),
                rating: parts[2].parse().unwrap(),
                time: parts[3].parse::<f64>().unwrap() as i64,
            }
        })
        .collect()
}

#[test]
fn bitcoin_otc_scores_match_a_direct_computation() {
    let model = Arc::new(
        check_model("marketplace.toml", SAMPLE_MARKETPLACE_MODEL)
            .model
            .expect("the sample model checks"),
    );
    let ratings = bitcoin_otc();
    assert_eq!(ratings.len(), 35_592);
    let received = model.event_type_id("rating.received").unwrap();
    let given = model.event_type_id("rating.given").unwrap();
    let end = Timestamp(ratings.iter().map(|r| r.time).max().unwrap() + 86_400);

    let mut events = Vec::with_capacity(ratings.len() * 2);
    for (index, rating) in ratings.iter().enumerate() {
        // Fields in declared (alphabetical) order: received {rater, rating}, given {ratee, rating}.
        events.push(Event {
            source: "otc".into(),
            id: format!("r{index}").into(),
            subject: rating.ratee.as_str().into(),
            occurred_at: Timestamp(rating.time),
            recorded_at: Timestamp(rating.time),
            body: EventBody::Fact {
                event_type: received,
                fields: vec![
                    FieldValue::Str(rating.rater.as_str().into()),
                    FieldValue::Int(rating.rating),
                ]
                .into(),
            },
        });
        events.push(Event {
            source: "otc".into(),
            id: format!("g{index}").into(),
            subject: rating.rater.as_str().into(),
            occurred_at: Timestamp(rating.time),
            recorded_at: Timestamp(rating.time),
            body: EventBody::Fact {
                event_type: given,
                fields: vec![
                    FieldValue::Str(rating.ratee.as_str().into()),
                    FieldValue::Int(rating.rating),
                ]
                .into(),
            },
        });
    }
    let mut engine = Engine::new(model.clone(), end);
    let report = engine.apply(&events);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == standing_engine::ApplyOutcome::Accepted)
    );
    assert_eq!(engine.subject_count(), 5_881);

    // The model, by hand: reputation = Σ rating · 2^(−age / 1 year) capped to [−150, 150];
    // activity = Σ 0.1 · 2^(−age / 1 year) capped to [0, 10]; score = clamp(rep + act, ±200).
    let year = 365.0 * 86_400.0;
    let mut reputation: BTreeMap<&str, f64> = BTreeMap::new();
    let mut activity: BTreeMap<&str, f64> = BTreeMap::new();
    for rating in &ratings {
        let fade = 0.5f64.powf((end.0 - rating.time) as f64 / year);
        *reputation.entry(&rating.ratee).or_default() += rating.rating as f64 * fade;
        *activity.entry(&rating.rater).or_default() += 0.1 * fade;
    }
    let mut users: Vec<&str> = reputation.keys().chain(activity.keys()).copied().collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(users.len(), 5_881);
    let mut worst: f64 = 0.0;
    for user in users {
        let expected = (reputation
            .get(user)
            .copied()
            .unwrap_or(0.0)
            .clamp(-150.0, 150.0)
            + activity.get(user).copied().unwrap_or(0.0).clamp(0.0, 10.0))
        .clamp(-200.0, 200.0);
        let served = engine.score(user).unwrap().value;
        worst = worst.max((served - expected).abs());
        assert!(
            (served - expected).abs() < 1e-9,
            "{user}: served {served}, expected {expected}"
        );
    }
    assert!(worst < 1e-9);

    // The distribution is that of a trust network: most traders established or better, a few
    // distrusted (the data set's 10% negative ratings concentrate on few users).
    let distrusted = engine
        .rank(5_881, false)
        .iter()
        .filter(|r| &*r.grade == "distrusted")
        .count();
    assert!(distrusted > 0 && distrusted < 200, "{distrusted}");
}
