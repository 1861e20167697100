//! Standing's duties to the people it scores, with no HTTP in sight: who may ask (API keys by
//! role), the record of every answer (the audit chain), consent per purpose, a person's review
//! of adverse decisions, disputes of events, the access report, and model versions — gathered in
//! a [`House`], one per node, which the HTTP server (or any other front) calls.
//!
//! Every duty keeps its own durable file in the data directory and is written *durable first*:
//! a change is synced before it is in force, and no reader waits for a disk sync.

pub mod access;
pub mod audit;
pub mod consent;
pub mod disputes;
pub mod intake;
pub mod json;
pub mod keys;
pub mod ledger;
pub mod review;
pub mod versions;

use standing_core::{Event, Timestamp};
use standing_engine::ApplyOutcome;
use standing_node::{Node, NodeError};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Everything one node answers for: the node itself (model, log, engine) behind one lock —
/// reads share it, intake takes it alone — and the duties kept beside it.
#[derive(Debug)]
pub struct House {
    pub node: RwLock<Node>,
    /// The API keys, read again when `keys.json` changes.
    pub keys: keys::LiveKeys,
    /// Every read of a subject's data, every decision and every refusal.
    pub audit: audit::Audit,
    /// Every model version given to the node.
    pub versions: versions::Versions,
    /// Subjects' consent per purpose.
    pub consents: consent::Consents,
    /// Adverse decisions held for a person's review.
    pub reviews: review::Reviews,
    /// Contested events and relations.
    pub disputes: disputes::Disputes,
    /// The wall clock (a parameter, so tests can fix it).
    pub now: fn() -> Timestamp,
}

/// Why a house could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HouseError {
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Versions(#[from] versions::VersionError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
}

impl House {
    /// The duties of `node`'s data directory, opened beside it.
    pub fn open(node: Node, now: fn() -> Timestamp) -> Result<House, HouseError> {
        let directory = node.directory().to_owned();
        Ok(House {
            keys: keys::LiveKeys::new(keys::KeyStore::open(&directory)?),
            audit: audit::Audit::open(&directory)?,
            versions: versions::Versions::open(&directory)?,
            consents: consent::Consents::open(&directory)?,
            reviews: review::Reviews::open(&directory)?,
            disputes: disputes::Disputes::open(&directory)?,
            node: RwLock::new(node),
            now,
        })
    }

    /// The node, shared with other readers. A writer that panicked leaves the node as it was
    /// before its batch, or poisoned (which intake reports); reads go on.
    pub fn read_node(&self) -> RwLockReadGuard<'_, Node> {
        self.node.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The node alone (see [`House::read_node`] on a panicked writer).
    pub fn write_node(&self) -> RwLockWriteGuard<'_, Node> {
        self.node.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what was asked and answered (or refused) in the audit log. Nothing may be
    /// answered that this could not record.
    pub fn record(
        &self,
        key: Option<&keys::Key>,
        asked: &audit::Asked<'_>,
        action: &str,
        answer: String,
    ) -> Result<(), audit::AuditError> {
        let now = (self.now)();
        if audit::is_answer(action) {
            self.audit.note(now);
        }
        let entry = audit::AuditEntry {
            at: now,
            key: key.map_or("-".into(), |k| k.id.clone()),
            role: key.map_or("-", |k| k.role.name()).into(),
            purpose: asked.purpose.map(str::to_owned),
            action: action.into(),
            subject: asked.subject.map(str::to_owned),
            answer,
        };
        self.audit.record(&entry)
    }

    /// Writes events Standing makes itself (a dispute's suspension, a restored item) into the
    /// log from `origin` (the key that caused them), recorded now; durable when this returns.
    /// The outcome of each, as the engine decided it.
    pub fn record_own(
        &self,
        origin: &str,
        mut events: Vec<Event>,
    ) -> Result<Vec<ApplyOutcome>, NodeError> {
        let mut node = self.write_node();
        // Recorded now, and never before what the log holds.
        let at = (self.now)().max(node.last_recorded_at());
        let bodies: Vec<Vec<u8>> = events
            .iter_mut()
            .map(|event| {
                event.recorded_at = at;
                standing_ingest::to_wire(node.model(), event, false)
            })
            .collect();
        let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        Ok(node.ingest(&events, &slices, origin)?.outcomes)
    }
}

/// Instants in the duties' files as RFC 3339 text (`with = "instant"`, and
/// `with = "instant::option"`).
pub mod instant {
    use serde::{Deserialize, Deserializer, Serializer};
    use standing_core::Timestamp;

    pub fn serialize<S: Serializer>(value: &Timestamp, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(input)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            value: &Option<Timestamp>,
            out: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(instant) => out.collect_str(instant),
                None => out.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            input: D,
        ) -> Result<Option<Timestamp>, D::Error> {
            let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(input)?;
            text.map(|text| Timestamp::parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
