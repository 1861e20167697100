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
pub const EXTREMES: usize = 5;
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
    /// A dispute about a source's event was opened or resolved (`status`).
    Dispute {
        subject: Box<str>,
        id: Box<str>,
        source: Box<str>,
        event: Box<str>,
        status: Box<str>,
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
    /// The engine's mutation count at the last look: a look at an unchanged engine would find
    /// nothing, so it is skipped.
    looked_at: Option<u64>,
    /// The engine's list-change count when `lists` were read: unchanged, they are reused.
    lists_at: Option<u64>,
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

    /// Forgets the last look: after a purge or an activation renumbered or rescored every
    /// subject, the next look starts over instead of reporting differences that are not changes.
    pub fn reset(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = Seen::default();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Changes>> {
        self.sender.subscribe()
    }

    /// Sends changes found elsewhere (disputes) to the subscribers.
    pub fn publish(&self, changes: Changes) {
        // No subscriber is no error.
        let _ = self.sender.send(Arc::new(changes));
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

/// Subjects looked at per hold of the read lock: a writer waiting for the lock holds up the
/// readers behind it, so no hold may be long.
const LOOK_STEP: usize = 16_384;

/// Looks at the engine once: keeps the overview and sends the changes since the last look.
/// Reads the engine in steps of `LOOK_STEP` (16,384) subjects; a subject's score is compared with its
/// own score at the last look, so steps seeing slightly different moments change nothing.
pub fn look(state: &AppState) {
    let started = std::time::Instant::now();
    let (model, looked_at, lists_at, subjects, clock, events) = {
        let node = state.house.read_node();
        (
            node.model().clone(),
            node.engine().mutations(),
            node.engine().list_changes(),
            node.engine().subject_count(),
            node.engine().clock(),
            node.log_records(),
        )
    };
    let version = model.version_label();
    // Lists are read again only when they may have changed: most events touch no list, and
    // reading every membership is most of a look's cost.
    let kept_lists = {
        let seen = state.watch.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.looked_at == Some(looked_at) && seen.model_version == version {
            return;
        }
        (seen.lists_at == Some(lists_at) && seen.model_version == version)
            .then(|| seen.lists.clone())
    };
    let read_lists = kept_lists.is_none();
    let mut scores = Vec::with_capacity(subjects);
    let mut lists: Vec<Vec<u32>> =
        kept_lists.unwrap_or_else(|| vec![Vec::new(); model.lists.len()]);
    let mut start = 0;
    while start < subjects {
        let node = state.house.read_node();
        if node.model().version_label() != version {
            // A new model was activated meanwhile: the next look starts over.
            return;
        }
        let range = start..(start + LOOK_STEP).min(subjects);
        scores.extend(node.engine().served_range(range.clone()));
        if read_lists {
            for (all, found) in lists.iter_mut().zip(node.engine().list_members_in(range)) {
                all.extend(found);
            }
        }
        start += LOOK_STEP;
    }
    // A cluster's process counts only its own subjects, not its contacts elsewhere.
    let own: Option<Vec<bool>> = {
        let node = state.house.read_node();
        let engine = node.engine();
        engine
            .serves_part()
            .then(|| (0..scores.len() as u32).map(|i| engine.is_own(i)).collect())
    };
    let counted = |index: usize| own.as_ref().is_none_or(|own| own[index]);
    let subjects = own
        .as_ref()
        .map_or(subjects, |own| own.iter().filter(|&&o| o).count());
    let grades = &model.scale.grades;
    let grade_of = |score: f64| model.scale.grade_index(score);

    // The overview.
    let (min, max) = (model.scale.min, model.scale.max);
    let width = ((max - min) / BINS).max(1.0).ceil();
    let bins = (((max - min) / width).ceil() as usize).max(1);
    let mut histogram = vec![0u64; bins];
    let mut by_grade = vec![0u64; grades.len()];
    for (_, &score) in scores.iter().enumerate().filter(|(i, _)| counted(*i)) {
        let bin = (((score - min) / width) as usize).min(bins - 1);
        histogram[bin] += 1;
        by_grade[grade_of(score)] += 1;
    }
    // The extremes: lowest and highest scores, ties to the earlier subject.
    let mut order: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| counted(i as usize))
        .collect();
    let by_score = |a: &u32, b: &u32| {
        scores[*a as usize]
            .total_cmp(&scores[*b as usize])
            .then(a.cmp(b))
    };
    let count = EXTREMES.min(order.len());
    let mut lowest: Vec<u32> = Vec::new();
    let mut highest: Vec<u32> = Vec::new();
    if count > 0 {
        order.select_nth_unstable_by(count - 1, by_score);
        lowest = order[..count].to_vec();
        lowest.sort_by(by_score);
        let last = order.len() - count;
        order.select_nth_unstable_by(last, by_score);
        highest = order[last..].to_vec();
        highest.sort_by(|a, b| by_score(b, a));
    }

    // The changes: a subject new since the last look moved from the base score.
    let mut seen = state.watch.seen.lock().unwrap_or_else(|p| p.into_inner());
    let base = model.scale.clamp(model.scale.base);
    let compare = seen.model_version == version;
    let mut moved: Vec<(u32, f64, f64)> = Vec::new();
    let mut list_changes: Vec<(u32, usize, bool)> = Vec::new();
    if compare {
        for (index, &after) in scores.iter().enumerate().filter(|(i, _)| counted(*i)) {
            let before = seen.scores.get(index).copied().unwrap_or(base);
            if (after - before).abs() >= SCORE_STEP {
                moved.push((index as u32, before, after));
            }
        }
        for (list, (old, new)) in seen.lists.iter().zip(&lists).enumerate() {
            for (members, entered) in [
                (sorted_difference(new, old), true),
                (sorted_difference(old, new), false),
            ] {
                list_changes.extend(members.into_iter().map(|index| (index, list, entered)));
            }
        }
    }
    // Names, under the lock once more.
    let (changes, named) = {
        let node = state.house.read_node();
        let engine = node.engine();
        let name = |index: u32| -> Box<str> { engine.subject_name(index).into() };
        let grade_name = |score: f64| -> Box<str> { grades[grade_of(score)].name.as_str().into() };
        let mut changes: Vec<Change> = moved
            .iter()
            .map(|&(index, before, after)| Change::Score {
                subject: name(index),
                before,
                after,
                grade_before: grade_name(before),
                grade_after: grade_name(after),
            })
            .collect();
        changes.extend(
            list_changes
                .iter()
                .map(|&(index, list, entered)| Change::List {
                    subject: name(index),
                    list: model.lists[list].name.as_str().into(),
                    entered,
                }),
        );
        let named = |indices: &[u32]| -> Vec<Value> {
            indices
                .iter()
                .map(|&i| {
                    let score = scores[i as usize];
                    json!({"subject": engine.subject_name(i), "score": crate::json::round(score), "grade": grades[grade_of(score)].name})
                })
                .collect()
        };
        (changes, (named(&lowest), named(&highest)))
    };
    let network = model.network.is_active().then(|| {
        let relations = state.house.read_node().engine().relation_count();
        json!({"alpha": model.network.alpha, "relations": relations})
    });
    let overview = json!({
        "model_version": version,
        "as_of": clock.to_string(),
        "subjects": subjects,
        "events": events,
        "scale": {"base": model.scale.base, "min": min, "max": max},
        "histogram": {"lower": min, "width": width, "counts": histogram},
        "grades": grades.iter().zip(&by_grade).map(|(g, count)| json!({"name": g.name, "min": g.min, "count": count})).collect::<Vec<_>>(),
        "lists": model.lists.iter().zip(&lists).map(|(l, members)| json!({"name": l.name, "description": l.description, "members": members.len()})).collect::<Vec<_>>(),
        "network": network,
        "lowest": named.0,
        "highest": named.1,
        "looked_in_ms": started.elapsed().as_millis() as u64,
    });
    seen.scores = scores;
    seen.lists = lists;
    seen.model_version = version;
    seen.overview = Some(overview);
    seen.looked_at = Some(looked_at);
    seen.lists_at = Some(lists_at);
    drop(seen);
    if !changes.is_empty() {
        // No subscriber is no error.
        let _ = state
            .watch
            .sender
            .send(Arc::new(Changes { at: clock, changes }));
    }
}
