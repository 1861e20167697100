//! Once a second the server looks at every subject's score and every list (a read of the
//! engine, a few milliseconds per million subjects): what changed since the last look goes to
//! the subscribers (server-sent events), and the figures of the overview are kept from it.

use crate::AppState;
use serde_json::{Value, json};
use standing_core::Timestamp;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// A score moved by less than this is not reported as a change.
const SCORE_STEP: f64 = 0.01;
/// Subjects shown as the lowest and highest on the overview.
const EXTREMES: usize = 5;
/// Bins of the overview's histogram.
const BINS: f64 = 60.0;

/// One change since the last look.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A served score moved (by at least 0.01 points), maybe across a grade boundary.
    Score {
        subject: Box<str>,
        before: f64,
        after: f64,
        grade_before: Box<str>,
        grade_after: Box<str>,
    },
    /// A subject entered or left a list.
    List {
        subject: Box<str>,
        list: Box<str>,
        entered: bool,
    },
}

/// The changes of one look, and when it was taken.
#[derive(Debug)]
pub struct Changes {
    pub at: Timestamp,
    pub changes: Vec<Change>,
}

/// What the last look saw.
#[derive(Debug, Default)]
struct Seen {
    /// The served score by subject index (subjects only ever get added).
    scores: Vec<f64>,
    /// Members of each list by subject index, ascending.
    lists: Vec<Vec<u32>>,
    /// The model version looked at: a new one starts over without reporting changes.
    model_version: String,
    /// The overview's figures, as JSON.
    overview: Option<Value>,
}

/// The watcher: its last look and the subscribers' channel.
#[derive(Debug)]
pub struct Watch {
    seen: Mutex<Seen>,
    sender: broadcast::Sender<Arc<Changes>>,
}

impl Default for Watch {
    fn default() -> Self {
        Watch::new()
    }
}

impl Watch {
    pub fn new() -> Watch {
        // A subscriber more than 64 looks behind misses some (and is told so).
        let (sender, _) = broadcast::channel(64);
        Watch {
            seen: Mutex::new(Seen::default()),
            sender,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Changes>> {
        self.sender.subscribe()
    }

    /// The overview's figures as of the last look.
    pub fn overview(&self) -> Option<Value> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .overview
            .clone()
    }
}

fn sorted_difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Looks at the engine once: keeps the overview and sends the changes since the last look.
pub fn look(state: &AppState) {
    let node = crate::read_node(state);
    let engine = node.engine();
    let model = node.model();
    let scores = engine.served_scores();
    let lists = engine.list_members();
    let version = model.version_label();
    let grades = &model.scale.grades;
    let grade_name =
        |score: f64| -> Box<str> { grades[engine.grade_index(score)].name.as_str().into() };

    // The overview.
    let (min, max) = (model.scale.min, model.scale.max);
    let width = ((max - min) / BINS).max(1.0).ceil();
    let bins = (((max - min) / width).ceil() as usize).max(1);
    let mut histogram = vec![0u64; bins];
    let mut by_grade = vec![0u64; grades.len()];
    for &score in &scores {
        let bin = (((score - min) / width) as usize).min(bins - 1);
        histogram[bin] += 1;
        by_grade[engine.grade_index(score)] += 1;
    }
    let ranked = |highest: bool| -> Vec<Value> {
        engine
            .rank(EXTREMES, highest)
            .iter()
            .map(|r| json!({"subject": r.subject, "score": crate::json::round(r.score), "grade": r.grade}))
            .collect()
    };
    let network = model
        .network
        .is_active()
        .then(|| json!({"alpha": model.network.alpha, "relations": engine.relation_count()}));
    let overview = json!({
        "model_version": version,
        "as_of": engine.clock().to_string(),
        "subjects": engine.subject_count(),
        "events": node.log_records(),
        "scale": {"base": model.scale.base, "min": min, "max": max},
        "histogram": {"lower": min, "width": width, "counts": histogram},
        "grades": grades.iter().zip(&by_grade).map(|(g, count)| json!({"name": g.name, "min": g.min, "count": count})).collect::<Vec<_>>(),
        "lists": model.lists.iter().zip(&lists).map(|(l, members)| json!({"name": l.name, "description": l.description, "members": members.len()})).collect::<Vec<_>>(),
        "network": network,
        "lowest": ranked(false),
        "highest": ranked(true),
    });

    // The changes.
    let mut seen = state.watch.seen.lock().unwrap_or_else(|p| p.into_inner());
    let mut changes = Vec::new();
    if seen.model_version == version {
        // A subject new since the last look moved from the base score, where everyone starts.
        let base = model.scale.clamp(model.scale.base);
        let before_of = |index: usize| seen.scores.get(index).copied().unwrap_or(base);
        for (index, &after) in scores.iter().enumerate() {
            let before = before_of(index);
            if (after - before).abs() >= SCORE_STEP {
                changes.push(Change::Score {
                    subject: engine.subject_name(index as u32).into(),
                    before,
                    after,
                    grade_before: grade_name(before),
                    grade_after: grade_name(after),
                });
            }
        }
        for (list, (old, new)) in model.lists.iter().zip(seen.lists.iter().zip(&lists)) {
            for (members, entered) in [
                (sorted_difference(new, old), true),
                (sorted_difference(old, new), false),
            ] {
                changes.extend(members.into_iter().map(|index| Change::List {
                    subject: engine.subject_name(index).into(),
                    list: list.name.as_str().into(),
                    entered,
                }));
            }
        }
    }
    let at = engine.clock();
    drop(node);
    seen.scores = scores;
    seen.lists = lists;
    seen.model_version = version;
    seen.overview = Some(overview);
    drop(seen);
    if !changes.is_empty() {
        // No subscriber is no error.
        let _ = state.watch.sender.send(Arc::new(Changes { at, changes }));
    }
}
