//! A source's batch of records, admitted record by record against the model and what its key
//! may say (its source, the types that source may send, the node's time), applied and made
//! durable with the key's id before anything is answered; every batch is audited.

use crate::House;
use crate::audit::{Asked, AuditError};
use crate::keys::Key;
use standing_core::Timestamp;
use standing_engine::ApplyOutcome;
use standing_ingest::{Admission, RecordError, admit};
use standing_node::NodeError;
use standing_rules::Model;
use std::sync::Arc;

/// A record of a batch: its bytes, or why it could not even be read.
pub type Slot = Result<Vec<u8>, RecordError>;

/// How one record of a batch ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Accepted,
    /// The same event was sent before: the first is kept.
    Duplicate,
    /// An event of the same id and source, saying something else, was sent before: the first is
    /// kept.
    Conflict(String),
    /// Refused: a code and the reason.
    Rejected {
        code: &'static str,
        reason: String,
    },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict(_) => "conflict",
            Outcome::Rejected { .. } => "rejected",
        }
    }
}

/// One record's answer: its place in the batch, its id and source once read, how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordResult {
    pub index: usize,
    /// The event's id and source, when the record was read as an event.
    pub event: Option<(Box<str>, Box<str>)>,
    pub outcome: Outcome,
}

/// What a batch did: every record's answer, in order, and the accepted ones per source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intake {
    pub results: Vec<RecordResult>,
    pub by_source: Vec<(Box<str>, u64)>,
}

impl Intake {
    fn count(&self, status: &str) -> u64 {
        self.results
            .iter()
            .filter(|r| r.outcome.status() == status)
            .count() as u64
    }

    pub fn accepted(&self) -> u64 {
        self.count("accepted")
    }

    pub fn duplicate(&self) -> u64 {
        self.count("duplicate")
    }

    pub fn conflict(&self) -> u64 {
        self.count("conflict")
    }

    pub fn rejected(&self) -> u64 {
        self.count("rejected")
    }
}

/// Why a batch was not taken: nothing of it was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError<E> {
    /// The body could not be read as records.
    #[error(transparent)]
    Read(E),
    /// The log could not make the batch durable.
    #[error("nothing of this batch was acknowledged: {0}")]
    NotDurable(NodeError),
    /// The batch could not be audited.
    #[error(transparent)]
    Audit(AuditError),
}

/// Who sends a batch, and what they may say.
#[derive(Clone, Copy, Debug)]
pub struct Sender<'a> {
    pub key: &'a Key,
}

/// The code of a refusal the engine decided.
fn refused_code(outcome: &ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::UnknownRetractionTarget => "unknown_retraction_target",
        ApplyOutcome::RetractionSubjectMismatch => "retraction_subject_mismatch",
        ApplyOutcome::CapacityExceeded => "capacity_exceeded",
        _ => "refused",
    }
}

impl House {
    /// Admits every record `read` gives (under the model in force; read again if a model is
    /// activated meanwhile), applies and syncs the good ones with `sender`'s key as their
    /// origin, audits the batch and answers per record. Records are read and admitted under no
    /// lock; only applying and syncing hold the node alone.
    pub fn ingest<E>(
        &self,
        sender: Sender<'_>,
        read: impl Fn(&Model) -> Result<Vec<Slot>, E>,
    ) -> Result<Intake, IntakeError<E>> {
        self.ingest_from(sender, read, &[], |_| Ok(()))
    }

    /// As [`House::ingest`], for records taken from a stream: `checkpoints` (each stream
    /// partition's position after these records) are made durable in the same commit as the
    /// records accepted, so what a restart resumes from is exactly what the log holds. Before
    /// anything is applied, `refused` is shown every record's admission (each refused record
    /// with its reason; the others `Accepted` until the engine decides): an error from it
    /// takes nothing. It may be shown the batch more than once (when a model is activated
    /// meanwhile).
    pub fn ingest_from<E>(
        &self,
        sender: Sender<'_>,
        read: impl Fn(&Model) -> Result<Vec<Slot>, E>,
        checkpoints: &[standing_core::Event],
        mut refused: impl FnMut(&[RecordResult]) -> Result<(), E>,
    ) -> Result<Intake, IntakeError<E>> {
        let key = sender.key;
        let (source, history) = (key.role.source(), key.role.history());
        let (mut model, mut floor) = {
            let node = self.read_node();
            (Arc::clone(node.model()), node.last_recorded_at())
        };
        let (mut node, mut results, events, bodies) = loop {
            let records = read(&model).map_err(IntakeError::Read)?;
            // History may not be recorded before what the log holds nor before the latest
            // answer given (which it would change); live records are stamped with the clock.
            let history_floor = floor.max(self.audit.latest().unwrap_or(Timestamp::MIN));
            let admission = Admission {
                now: (self.now)(),
                source,
                history_from: history.then_some(history_floor),
                system: false,
            };
            let mut results = Vec::with_capacity(records.len());
            let mut latest = history_floor;
            let mut events = Vec::new();
            let mut bodies: Vec<Vec<u8>> = Vec::new();
            for (index, record) in records.into_iter().enumerate() {
                let admitted = record.and_then(|record| {
                    admit(&model, &record, &admission).map(|admitted| (admitted, record))
                });
                // An imported history comes in recorded order: what is accepted never lies
                // before what was accepted ahead of it.
                let admitted = admitted.and_then(|(admitted, record)| {
                    let at = admitted.event.recorded_at;
                    if history {
                        if at < latest {
                            return Err(RecordError::RecordedBeforeLog { at, floor: latest });
                        }
                        latest = at;
                    }
                    Ok((admitted, record))
                });
                match admitted {
                    Ok((admitted, record)) => {
                        let event = admitted.event;
                        results.push(RecordResult {
                            index,
                            event: Some((event.id.clone(), event.source.clone())),
                            // Decided once the engine has applied it.
                            outcome: Outcome::Accepted,
                        });
                        bodies.push(admitted.body.unwrap_or(record));
                        events.push(event);
                    }
                    Err(error) => results.push(RecordResult {
                        index,
                        event: None,
                        outcome: Outcome::Rejected {
                            code: error.code(),
                            reason: error.to_string(),
                        },
                    }),
                }
            }
            refused(&results).map_err(IntakeError::Read)?;
            let node = self.write_node();
            if Arc::ptr_eq(node.model(), &model) && node.last_recorded_at() == floor {
                break (node, results, events, bodies);
            }
            model = Arc::clone(node.model());
            floor = node.last_recorded_at();
        };
        let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let report = node
            .ingest_from(&events, &slices, &key.id, checkpoints)
            .map_err(IntakeError::NotDurable)?;
        drop(node);
        let mut intake = Intake::default();
        let (mut first, mut last): (Option<&str>, Option<&str>) = (None, None);
        let mut applied = report.outcomes.iter().zip(&events);
        for result in &mut results {
            if result.event.is_none() {
                continue;
            }
            let Some((outcome, event)) = applied.next() else {
                break;
            };
            result.outcome = match outcome {
                ApplyOutcome::Accepted => {
                    first.get_or_insert(&event.id);
                    last = Some(&event.id);
                    match intake
                        .by_source
                        .iter_mut()
                        .find(|(source, _)| *source == event.source)
                    {
                        Some((_, count)) => *count += 1,
                        None => intake.by_source.push((event.source.clone(), 1)),
                    }
                    Outcome::Accepted
                }
                ApplyOutcome::Duplicate => Outcome::Duplicate,
                ApplyOutcome::Conflict => Outcome::Conflict(outcome.to_string()),
                refused => Outcome::Rejected {
                    code: refused_code(refused),
                    reason: refused.to_string(),
                },
            };
        }
        intake.results = results;
        let sources: Vec<&str> = intake.by_source.iter().map(|(s, _)| &**s).collect();
        let summary = format!(
            "origin {} source {} accepted {} duplicate {} conflict {} rejected {} first {} last {}",
            key.id,
            if sources.is_empty() {
                source.unwrap_or("-").to_owned()
            } else {
                sources.join(",")
            },
            intake.accepted(),
            intake.duplicate(),
            intake.conflict(),
            intake.rejected(),
            first.unwrap_or("-"),
            last.unwrap_or("-"),
        );
        let asked = Asked::action("events");
        self.record(Some(key), &asked, "intake", summary)
            .map_err(IntakeError::Audit)?;
        Ok(intake)
    }
}
