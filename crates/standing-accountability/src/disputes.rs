//! Disputes (FCRA §611, GDPR Art. 16 and 22(3)): a subject or an operator contests an event
//! or a relation. While the dispute is open the item is suspended — a retraction under its
//! source's name goes into the log, so scores change at once and stay reproducible — and the
//! 30-day clock runs; the source hears of it on the change stream. Resolution upholds the
//! dispute (the item stays out) or restores the item (a copy of it goes back into the log, id
//! `ORIGINAL~restored`). A dispute still open after 30 days is upheld: an item nobody verified
//! is deleted. Everything is kept in `disputes/disputes.jsonl`.

use crate::House;
use crate::keys::Key;
use crate::ledger::{LedgerError, LedgerMap};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use standing_core::{Event, EventBody, Timestamp};
use standing_engine::ApplyOutcome;
use standing_node::NodeError;
use std::sync::Mutex;

/// The time a source has to verify a disputed item (FCRA §611(a)(1)).
pub const DEADLINE: i64 = 30 * 86_400;

/// Who resolves a dispute at its deadline.
pub const DEADLINE_RESOLVER: &str = "standing (deadline)";

/// Where a dispute stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// The item is suspended and the deadline runs.
    Open,
    /// The item stays out.
    Upheld,
    /// The source verified the item: it counts again.
    Restored,
}

impl DisputeStatus {
    pub fn name(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Upheld => "upheld",
            DisputeStatus::Restored => "restored",
        }
    }
}

/// How a dispute ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Upheld,
    Restored,
}

impl Outcome {
    /// `upheld` or `restored`.
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "upheld" => Some(Outcome::Upheld),
            "restored" => Some(Outcome::Restored),
            _ => None,
        }
    }
}

/// A dispute, as it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub subject: String,
    pub source: String,
    /// The contested event's id (of `source`).
    pub event: String,
    pub reason: String,
    /// The key that opened it.
    pub opened_by: String,
    #[serde(with = "crate::instant")]
    pub opened_at: Timestamp,
    /// When an unresolved dispute is upheld.
    #[serde(with = "crate::instant")]
    pub due: Timestamp,
    pub status: DisputeStatus,
    #[serde(with = "crate::instant::option")]
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

/// A dispute just opened, with the subject's score before and after the suspension.
#[derive(Clone, Debug)]
pub struct Opened {
    pub dispute: Dispute,
    pub score_before: Option<f64>,
    pub score_after: Option<f64>,
}

/// Why a dispute was not opened or resolved.
#[derive(Debug, thiserror::Error)]
pub enum DisputeError {
    #[error("event `{event}` of `{of}` was retracted{}", .restored.as_ref().map_or(String::new(), |r| format!("; it counts again as `{r}`: dispute that")))]
    AlreadyRetracted {
        of: String,
        event: String,
        /// The restored copy that counts instead, if there is one.
        restored: Option<String>,
    },
    #[error("no event `{event}` of `{of}` about `{subject}`")]
    UnknownEvent {
        of: String,
        event: String,
        subject: String,
    },
    #[error("a retraction is not an item; dispute the event it retracted")]
    NotDisputable,
    #[error("event `{event}` of `{of}` is already disputed")]
    AlreadyDisputed { of: String, event: String },
    #[error("no dispute `{0}`")]
    Unknown(String),
    #[error("dispute `{id}` was resolved: {}", .status.name())]
    AlreadyResolved { id: String, status: DisputeStatus },
    /// The log did not take the suspension or the restored copy.
    #[error("the log did not take it: {0}")]
    NotApplied(String),
    #[error("the log could not be read or written: {0}")]
    Log(#[from] NodeError),
    #[error("the dispute was not recorded: {0}")]
    NotDurable(#[from] LedgerError),
}

/// The disputes of a data directory.
#[derive(Debug)]
pub struct Disputes {
    by_id: LedgerMap<String, Dispute>,
    /// Held across each opening and resolution, from its check to its record: one at a time.
    gate: Mutex<()>,
}

impl Disputes {
    pub fn open(directory: &std::path::Path) -> Result<Disputes, LedgerError> {
        let by_id = LedgerMap::open(&directory.join("disputes/disputes.jsonl"), |d: &Dispute| {
            d.id.clone()
        })?;
        Ok(Disputes {
            by_id,
            gate: Mutex::new(()),
        })
    }

    pub fn get(&self, id: &str) -> Option<Dispute> {
        self.by_id.get(id)
    }

    /// A subject's disputes, newest first.
    pub fn of_subject(&self, subject: &str) -> Vec<Dispute> {
        let all = self.by_id.read();
        all.values()
            .rev()
            .filter(|d| d.subject == subject)
            .cloned()
            .collect()
    }

    /// Records a dispute as it now stands, durable first.
    fn keep(&self, dispute: Dispute) -> Result<Dispute, LedgerError> {
        self.by_id
            .write(dispute.id.clone(), |_| Ok::<_, LedgerError>(dispute))
    }
}

/// A subject's records in the log, as received (JSON).
fn records_about(house: &House, subject: &str) -> Result<Vec<Value>, NodeError> {
    Ok(house
        .read_node()
        .records_about(subject)?
        .iter()
        .filter_map(|record| serde_json::from_slice::<Value>(&record.body).ok())
        .collect())
}

fn is_event(record: &Value, source: &str, id: &str) -> bool {
    record["source"] == source && record["id"] == id
}

/// `Err` unless the log accepted every event.
fn accepted(outcomes: Vec<ApplyOutcome>) -> Result<(), DisputeError> {
    match outcomes.into_iter().find(|o| *o != ApplyOutcome::Accepted) {
        None => Ok(()),
        Some(outcome) => Err(DisputeError::NotApplied(outcome.to_string())),
    }
}

impl House {
    /// Opens a dispute of `source`'s event `event` about `subject`, by `key`: the event is
    /// suspended at once (a retraction under its source's name, in the log).
    pub fn open_dispute(
        &self,
        key: &Key,
        subject: &str,
        source: &str,
        event: &str,
        reason: &str,
    ) -> Result<Opened, DisputeError> {
        let _one_at_a_time = self.disputes.gate.lock().unwrap_or_else(|p| p.into_inner());
        let records = records_about(self, subject)?;
        // An item already retracted (by its source, or by an earlier dispute) is not in the
        // score: suspending it again would change nothing.
        let retracted = records.iter().any(|r| {
            r["type"] == "retraction" && r["source"] == source && r["fields"]["event"] == event
        });
        if retracted {
            let restored = format!("{event}~restored");
            let live = records.iter().any(|r| is_event(r, source, &restored));
            return Err(DisputeError::AlreadyRetracted {
                of: source.to_owned(),
                event: event.to_owned(),
                restored: live.then_some(restored),
            });
        }
        let Some(record) = records.iter().find(|r| is_event(r, source, event)) else {
            return Err(DisputeError::UnknownEvent {
                of: source.to_owned(),
                event: event.to_owned(),
                subject: subject.to_owned(),
            });
        };
        if record["type"] == "retraction" {
            return Err(DisputeError::NotDisputable);
        }
        let open = self
            .disputes
            .by_id
            .read()
            .values()
            .any(|d| d.source == source && d.event == event && d.status == DisputeStatus::Open);
        if open {
            return Err(DisputeError::AlreadyDisputed {
                of: source.to_owned(),
                event: event.to_owned(),
            });
        }
        let score = || self.read_node().engine().score(subject).map(|s| s.value);
        let score_before = score();
        let now = (self.now)();
        let id = format!("dsp-{}-{}", now.0, self.disputes.by_id.read().len() + 1);
        let occurred_at = record["occurred_at"]
            .as_str()
            .and_then(|at| Timestamp::parse(at).ok())
            .unwrap_or(now);
        // Suspended: retracted under the source's name, so scoring and replay agree.
        let suspension = Event {
            source: source.into(),
            id: format!("{id}~suspend").into(),
            subject: subject.into(),
            occurred_at,
            recorded_at: now,
            body: EventBody::Retraction {
                event_id: event.into(),
                reason: format!("disputed ({id}): {reason}").into(),
            },
        };
        accepted(self.record_own(&key.id, vec![suspension])?)?;
        let dispute = self.disputes.keep(Dispute {
            id,
            subject: subject.to_owned(),
            source: source.to_owned(),
            event: event.to_owned(),
            reason: reason.to_owned(),
            opened_by: key.id.clone(),
            opened_at: now,
            due: Timestamp(now.0 + DEADLINE),
            status: DisputeStatus::Open,
            resolved_at: None,
            resolved_by: None,
            note: None,
        })?;
        Ok(Opened {
            dispute,
            score_before,
            score_after: score(),
        })
    }

    /// Resolves open dispute `id` by `by` (a key's id) with `note`; a restored item goes back
    /// into the log as a copy, `ORIGINAL~restored`.
    pub fn resolve_dispute(
        &self,
        id: &str,
        outcome: Outcome,
        by: &str,
        note: String,
    ) -> Result<Dispute, DisputeError> {
        let _one_at_a_time = self.disputes.gate.lock().unwrap_or_else(|p| p.into_inner());
        // Resolved meanwhile (an operator and the deadline at once): the first one stands.
        let Some(mut dispute) = self.disputes.get(id) else {
            return Err(DisputeError::Unknown(id.to_owned()));
        };
        if dispute.status != DisputeStatus::Open {
            return Err(DisputeError::AlreadyResolved {
                id: id.to_owned(),
                status: dispute.status,
            });
        }
        if outcome == Outcome::Restored {
            let now = (self.now)();
            let copy = {
                let node = self.read_node();
                let records = node.records_about(&dispute.subject)?;
                let original = records.iter().find(|logged| {
                    serde_json::from_slice::<Value>(&logged.body)
                        .is_ok_and(|r| is_event(&r, &dispute.source, &dispute.event))
                });
                let Some(original) = original else {
                    return Err(DisputeError::NotApplied(
                        "the disputed event is no longer in the log".into(),
                    ));
                };
                // Recorded now: "as known at" before the restoration, it was suspended.
                let recorded = standing_ingest::RecordedAt::Stamp(now);
                standing_ingest::parse_record(node.model(), &original.body, recorded)
                    .map_err(|error| DisputeError::NotApplied(error.to_string()))?
            };
            let copy = Event {
                id: format!("{}~restored", dispute.event).into(),
                ..copy
            };
            accepted(self.record_own(by, vec![copy])?)?;
        }
        dispute.status = match outcome {
            Outcome::Upheld => DisputeStatus::Upheld,
            Outcome::Restored => DisputeStatus::Restored,
        };
        dispute.resolved_at = Some((self.now)());
        dispute.resolved_by = Some(by.to_owned());
        dispute.note = Some(note);
        Ok(self.disputes.keep(dispute)?)
    }

    /// Upholds every open dispute past its 30 days (the item was not verified in time), each
    /// audited; returns them. Called with the clock tick.
    pub fn uphold_overdue(&self) -> Vec<Dispute> {
        let now = (self.now)();
        let overdue: Vec<String> = self
            .disputes
            .by_id
            .read()
            .values()
            .filter(|d| d.status == DisputeStatus::Open && d.due <= now)
            .map(|d| d.id.clone())
            .collect();
        let mut upheld = Vec::new();
        for id in overdue {
            let note = "not verified by the source within 30 days: deleted".to_owned();
            let Ok(resolved) = self.resolve_dispute(&id, Outcome::Upheld, DEADLINE_RESOLVER, note)
            else {
                continue;
            };
            let asked = crate::audit::Asked {
                action: "dispute.resolve",
                subject: Some(&resolved.subject),
                purpose: None,
            };
            let answer = format!("{} upheld at its deadline", resolved.id);
            let _ = self.record(None, &asked, asked.action, answer);
            upheld.push(resolved);
        }
        upheld
    }
}
