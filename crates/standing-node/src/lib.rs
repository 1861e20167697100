//! A Standing data directory — `model.toml`, `log/`, `snapshots/` — and the engine kept from
//! it. Opening recovers the log (cutting a torn tail), restores the newest snapshot taken under
//! the same model text and replays the records after it. Intake applies a batch to the engine,
//! appends the accepted records to the log and makes them durable with one sync before anything
//! is acknowledged.
//!
//! What the node keeps besides its log is behind [`Home`]: a data directory on disk
//! ([`Directory`]), or memory ([`MemHome`]), where tests crash a node at every step of
//! poisoning, purge and activation.

mod home;

pub use home::{Directory, Fault, Home, MemHome};

use rayon::prelude::*;
use standing_core::{Event, EventBody, Explanation, FieldValue, StableHasher, Timestamp};
use standing_engine::{ApplyOutcome, ApplyReport, Engine, EventFields};
use standing_ingest::{RecordedAt, parse_record};
use standing_rules::{Model, check_model};
use standing_store::{Backend, Log, LogOptions, Recovery, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Why a data directory could not be opened or fed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("no data directory at {0}; create one with `standing init {0}`")]
    Missing(String),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("model {path} has errors:\n{diagnostics}")]
    Model { path: String, diagnostics: String },
    #[error("log: {0}")]
    Store(#[from] StoreError),
    /// A logged record no longer passes intake under the current model.
    #[error("log record {seq} does not check under model {model}: {reason}")]
    Replay {
        seq: u64,
        model: String,
        reason: String,
    },
    /// The log could not be made durable after the engine applied a batch: the process must
    /// stop and reopen, which rebuilds the engine from what is durable.
    #[error("the log failed after a batch was applied ({0}); reopen the data directory")]
    Poisoned(String),
    /// Another process (an ingest, a server) has the data directory open.
    #[error(
        "{0} is in use by another standing process (an ingest or a server); \
         try again when it has finished"
    )]
    Busy(String),
    /// The engine accepted another number of events than the log holds.
    #[error("the log holds {log} records but the engine accepted {engine} events")]
    Inconsistent { log: u64, engine: u64 },
    /// A scan stopped early because it found what it looked for (never returned to callers).
    #[error("scan finished early")]
    #[doc(hidden)]
    ScanDone,
}

/// The latest `recorded_at` of the log.
fn last_recorded_at(log: &Log<impl Backend>) -> Result<Timestamp> {
    let Some(last) = log.next_seq().checked_sub(1) else {
        return Ok(Timestamp::MIN);
    };
    // Intake stamps each record no earlier than the last, and an imported history comes in
    // recorded order: the last record's time is the latest.
    Ok(log
        .read(last)?
        .map_or(Timestamp::MIN, |record| Timestamp(record.recorded_at)))
}

/// Whether two events say the same (their recorded times aside).
fn same_content(first: &Event, second: &Event) -> bool {
    first.source == second.source
        && first.id == second.id
        && first.subject == second.subject
        && first.occurred_at == second.occurred_at
        && first.body == second.body
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// What opening found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub recovery: Recovery,
    /// The sequence number the restored snapshot covers up to, if one was used.
    pub snapshot: Option<u64>,
    /// Why a snapshot present was not used.
    pub snapshot_skipped: Option<String>,
    /// Records replayed from the log after the snapshot.
    pub replayed: u64,
    /// Where the time went.
    pub timings: OpenTimings,
}

/// How long each step of opening took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenTimings {
    /// Opening the log: finding its segments, checking and cutting a torn tail.
    pub recovery: std::time::Duration,
    /// Mapping, checking and restoring the snapshot, and rebuilding the social graph.
    pub snapshot: std::time::Duration,
    /// Replaying the records after the snapshot.
    pub replay: std::time::Duration,
    /// Rescoring every subject at the opening clock.
    pub clock: std::time::Duration,
}

impl OpenTimings {
    pub fn total(&self) -> std::time::Duration {
        self.recovery + self.snapshot + self.replay + self.clock
    }
}

/// One record of the log: when it was recorded, who sent it and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRecord {
    pub seq: u64,
    pub recorded_at: Timestamp,
    /// The id of the API key that sent it (`local` for a command on the data directory, empty
    /// for records logged before origins were kept).
    pub origin: String,
    /// The wire record as accepted.
    pub body: Vec<u8>,
}

/// The origin of records sent by a command run on the data directory itself (`standing
/// ingest`), which needs no key: it owns the directory.
pub const LOCAL_ORIGIN: &str = "local";

/// A data directory opened — model, log and engine — or another [`Home`].
#[derive(Debug)]
pub struct Node<H: Home = Directory> {
    home: H,
    model: Arc<Model>,
    model_fingerprint: u64,
    log: Log<H::Backend>,
    engine: Engine,
    poisoned: bool,
    /// The `recorded_at` of the log's last record, or a later one accepted since it was opened
    /// (`Timestamp::MIN` for an empty log): an import of history may not record anything before
    /// it.
    last_recorded_at: Timestamp,
    /// What the newest snapshot in the directory covers and the model it was taken under, when
    /// this node restored or stored it: a snapshot of the same would be written for nothing.
    stored: Option<(u64, u64)>,
}

fn fingerprint(text: &str) -> u64 {
    StableHasher::new().write_str(text).finish()
}

/// Reads and checks `model.toml` of a data directory.
pub fn load_model(directory: &Path) -> Result<(Arc<Model>, u64)> {
    let path = directory.join("model.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| NodeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    checked(&path.display().to_string(), &text)
}

/// Checks a model text; errors name it `label`.
fn checked(label: &str, text: &str) -> Result<(Arc<Model>, u64)> {
    let checked = check_model(label, text);
    match checked.model {
        Some(model) => Ok((Arc::new(model), fingerprint(text))),
        None => Err(NodeError::Model {
            path: label.to_owned(),
            diagnostics: checked
                .diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// Replays of more records than this build the social graph once, at the end.
const BULK_REPLAY: u64 = 100_000;

/// Records of a replay batch, back to back: `(seq, recorded_at, body range)`.
type Pending = Vec<(u64, i64, std::ops::Range<usize>)>;

/// Parses a batch of logged records on all cores.
fn parse_batch(model: &Model, bodies: &[u8], records: &Pending) -> Result<Vec<Event>> {
    records
        .par_iter()
        .with_min_len(1024)
        .map(|(seq, recorded_at, range)| {
            parse_record(
                model,
                &bodies[range.clone()],
                RecordedAt::Stamp(Timestamp(*recorded_at)),
            )
            .map_err(|error| NodeError::Replay {
                seq: *seq,
                model: model.version_label(),
                reason: error.to_string(),
            })
        })
        .collect()
}

/// Applies every record of the log with `seq >= from` to `engine`, in order. A batch is parsed
/// while the one before it is applied.
fn replay(log: &Log<impl Backend>, model: &Model, engine: &mut Engine, from: u64) -> Result<u64> {
    const BATCH: usize = 65_536;
    // Records of a batch, back to back: (seq, recorded_at, body range).
    let mut bodies = Vec::with_capacity(BATCH * 200);
    let mut records: Pending = Vec::with_capacity(BATCH);
    let mut parsed: Vec<Event> = Vec::new();
    let mut replayed = 0;
    let mut flush = |bodies: &mut Vec<u8>,
                     records: &mut Pending,
                     parsed: &mut Vec<Event>,
                     engine: &mut Engine|
     -> Result<()> {
        let (applied, next) = rayon::join(
            || {
                engine.apply(parsed);
                parsed.len() as u64
            },
            || parse_batch(model, bodies, records),
        );
        replayed += applied;
        *parsed = next?;
        bodies.clear();
        records.clear();
        Ok(())
    };
    log.scan::<NodeError>(from, |record| {
        let start = bodies.len();
        bodies.extend_from_slice(record.body);
        records.push((record.seq, record.recorded_at, start..bodies.len()));
        if records.len() == BATCH {
            flush(&mut bodies, &mut records, &mut parsed, engine)?;
        }
        Ok(())
    })?;
    // The last partial batch, then what it parsed.
    flush(&mut bodies, &mut records, &mut parsed, engine)?;
    flush(&mut bodies, &mut records, &mut parsed, engine)?;
    Ok(replayed)
}

/// The one way an engine is rebuilt from the log: `engine` (new, or restored from a snapshot
/// covering the records before `from`) is fed every record from `from` on under `model` — with
/// the social graph built once at the end when `bulk` — checked to hold one event per record
/// (event `n` is record `n`: explanations read bodies by it) and its clock moved to `clock`.
fn rebuild(
    log: &Log<impl Backend>,
    model: &Model,
    mut engine: Engine,
    from: u64,
    bulk: bool,
    clock: Timestamp,
) -> Result<(Engine, Rebuilt)> {
    let started = std::time::Instant::now();
    if bulk {
        engine.start_bulk();
    }
    let replayed = replay(log, model, &mut engine, from)?;
    if bulk {
        engine.finish_bulk();
    }
    if engine.event_count() as u64 != log.next_seq() {
        return Err(NodeError::Inconsistent {
            log: log.next_seq(),
            engine: engine.event_count() as u64,
        });
    }
    let replay_time = started.elapsed();
    let started = std::time::Instant::now();
    engine.advance_clock(clock);
    let rebuilt = Rebuilt {
        replayed,
        replay: replay_time,
        clock: started.elapsed(),
    };
    Ok((engine, rebuilt))
}

/// What a [`rebuild`] did.
struct Rebuilt {
    replayed: u64,
    replay: std::time::Duration,
    clock: std::time::Duration,
}

/// What a purge removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Records removed, by event type (`retraction` for the retractions of removed events).
    pub removed: std::collections::BTreeMap<String, u64>,
    /// Records kept.
    pub kept: u64,
}

impl Node {
    /// Opens a data directory with the engine's clock at `clock`.
    pub fn open(directory: &Path, clock: Timestamp) -> Result<(Node, OpenReport)> {
        Node::open_home(Directory::open(directory)?, clock)
    }

    pub fn directory(&self) -> &Path {
        self.home.path()
    }
}

impl<H: Home> Node<H> {
    /// Opens a node in `home` with the engine's clock at `clock`, first finishing or abandoning
    /// a purge a crash interrupted.
    pub fn open_home(mut home: H, clock: Timestamp) -> Result<(Node<H>, OpenReport)> {
        home.recover_purge()?;
        let (model, model_fingerprint) = checked(&home.model_label(), &home.read_model()?)?;
        let backend = home.open_log()?;
        let started = std::time::Instant::now();
        let (log, recovery) = Log::open(backend, LogOptions::default())?;
        let mut report = OpenReport {
            recovery,
            ..OpenReport::default()
        };
        report.timings.recovery = started.elapsed();
        let started = std::time::Instant::now();
        let mut from = 0;
        let mut skipped = None;
        let restored = log.latest_snapshot(|_, state| {
            let fingerprint = state.as_slice().get(..8)?;
            if fingerprint != model_fingerprint.to_le_bytes() {
                skipped = Some("taken under another model.toml".to_owned());
                return None;
            }
            // The engine's part, read in place from the mapped file.
            Engine::map_snapshot(
                model.clone(),
                &state.bytes,
                state.range.start + 8..state.range.end,
            )
            .map_err(|error| skipped = Some(error.to_string()))
            .ok()
        })?;
        let engine = match restored {
            Some((covers, restored)) => {
                from = covers;
                report.snapshot = Some(covers);
                Some(restored)
            }
            None => {
                report.snapshot_skipped = skipped;
                None
            }
        };
        let engine = engine.unwrap_or_else(|| Engine::new(model.clone(), clock));
        report.timings.snapshot = started.elapsed();
        // Many records: the social graph is built once at the end, not kept live throughout.
        let bulk = log.next_seq().saturating_sub(from) > BULK_REPLAY;
        let (engine, rebuilt) = rebuild(&log, &model, engine, from, bulk, clock)?;
        report.replayed = rebuilt.replayed;
        report.timings.replay = rebuilt.replay;
        report.timings.clock = rebuilt.clock;
        let last_recorded_at = last_recorded_at(&log)?;
        Ok((
            Node {
                home,
                model,
                model_fingerprint,
                log,
                engine,
                poisoned: false,
                last_recorded_at,
                stored: report.snapshot.map(|covers| (covers, model_fingerprint)),
            },
            report,
        ))
    }

    /// Rebuilds the engine from the log alone, ignoring snapshots, with its clock at `clock`.
    pub fn replay_log_only(&self, clock: Timestamp) -> Result<Engine> {
        let engine = Engine::new(self.model.clone(), clock);
        Ok(rebuild(&self.log, &self.model, engine, 0, true, clock)?.0)
    }

    /// A score with its explanation, reason texts filled from the events in the log.
    pub fn explain(
        &self,
        subject: &str,
        at: Timestamp,
        known_at: Option<Timestamp>,
    ) -> Explanation {
        let bodies = LogFields {
            log: &self.log,
            model: &self.model,
        };
        self.engine.explain(subject, at, known_at, &bodies)
    }

    /// Moves the engine's clock to `now`, rescoring every subject there.
    pub fn advance_clock(&mut self, now: Timestamp) {
        self.engine.advance_clock(now);
    }

    /// Every record the log holds about `subject`, oldest first.
    pub fn records_about(&self, subject: &str) -> Result<Vec<LoggedRecord>> {
        let mut records = Vec::new();
        for event in self.engine.events_about(subject) {
            if let Some(record) = self.record(u64::from(event))? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Record `seq` of the log.
    pub fn record(&self, seq: u64) -> Result<Option<LoggedRecord>> {
        Ok(self.log.read(seq)?.map(|stored| LoggedRecord {
            seq,
            recorded_at: Timestamp(stored.recorded_at),
            origin: String::from_utf8_lossy(&stored.origin).into_owned(),
            body: stored.body,
        }))
    }

    /// The record of event `id` of `source`, if it was accepted: what it said and who sent it.
    pub fn find_event(&mut self, source: &str, id: &str) -> Result<Option<LoggedRecord>> {
        self.engine.ensure_event_index();
        self.event_record(source, id)
    }

    /// [`Node::find_event`] without building a restored engine's event index: `None` also while
    /// it is not built (see [`standing_engine::Engine::events_indexed`]).
    pub fn event_record(&self, source: &str, id: &str) -> Result<Option<LoggedRecord>> {
        match self.engine.event_number(source, id) {
            Some(seq) => self.record(u64::from(seq)),
            None => Ok(None),
        }
    }

    /// The latest `recorded_at` the log's intake holds: that of its last record, or a later
    /// one accepted since the node was opened (`Timestamp::MIN` when it is empty). Intake
    /// through `standing_ingest::admit` keeps recorded times in order, so this is the latest.
    pub fn last_recorded_at(&self) -> Timestamp {
        self.last_recorded_at
    }

    /// The subject's own events as accepted (relations left out), parsed back from the log: for
    /// what-if engines (see `standing_engine::whatif`).
    pub fn own_events(&self, subject: &str) -> Result<Vec<Event>> {
        let relation = |event: &Event| match &event.body {
            EventBody::Fact { event_type, .. } => {
                Some(*event_type) == self.model.network.added
                    || Some(*event_type) == self.model.network.removed
            }
            EventBody::Retraction { .. } => false,
            EventBody::Checkpoint { .. } => true,
        };
        let mut events = Vec::new();
        for LoggedRecord {
            seq,
            recorded_at,
            body,
            ..
        } in self.records_about(subject)?
        {
            let event = parse_record(&self.model, &body, RecordedAt::Stamp(recorded_at)).map_err(
                |error| NodeError::Replay {
                    seq,
                    model: self.model.version_label(),
                    reason: error.to_string(),
                },
            )?;
            if !relation(&event) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Moves the clock in steps (see [`Engine::start_clock`]): a server lets readers in
    /// between them.
    pub fn start_clock(&mut self, now: Timestamp) {
        self.engine.start_clock(now);
    }

    /// See [`Engine::install_behaviours`].
    pub fn install_behaviours(&mut self, computed: standing_engine::Behaviours) {
        self.engine.install_behaviours(computed);
    }

    /// See [`Engine::install_event_index`].
    pub fn install_event_index(&mut self, index: standing_engine::EventIndex) {
        self.engine.install_event_index(index);
    }

    /// See [`Engine::start_network_copy`].
    pub fn start_network_copy(&mut self) -> Option<u64> {
        self.engine.start_network_copy()
    }

    /// See [`Engine::install_network`].
    pub fn install_network(&mut self, solved: standing_engine::NetworkSolve) -> bool {
        self.engine.install_network(solved)
    }

    /// See [`Engine::finish_clock`].
    pub fn finish_clock(&mut self) {
        self.engine.finish_clock();
    }

    /// See [`Engine::serve_part`].
    pub fn serve_part(&mut self, owned: standing_engine::Owned) {
        self.engine.serve_part(owned);
    }

    /// See [`Engine::pin_contacts`].
    pub fn pin_contacts(&mut self, pins: &[(u32, f64)]) -> usize {
        self.engine.pin_contacts(pins)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The node's home.
    pub fn home(&self) -> &H {
        &self.home
    }

    /// Records in the log.
    pub fn log_records(&self) -> u64 {
        self.log.next_seq()
    }

    /// Applies `events` (with `bodies`, their wire records as accepted) sent by `origin` (an API
    /// key's id, or [`LOCAL_ORIGIN`]) and makes the accepted ones durable, each with its origin.
    /// When this returns `Ok`, every accepted event is on stable storage. An event whose id its
    /// source already sent is a duplicate when it says the same, a conflict when it does not;
    /// either way the first is kept.
    pub fn ingest(
        &mut self,
        events: &[Event],
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<ApplyReport> {
        self.ingest_from(events, bodies, origin, &[])
    }

    /// As [`Node::ingest`], and in the same durable commit each of `checkpoints` (see
    /// [`EventBody::Checkpoint`]) that moves its stream's position forward: when this returns
    /// `Ok`, the events and the positions after them are on stable storage together, so a
    /// restart resumes each stream exactly after what the log holds. The report covers
    /// `events` only.
    pub fn ingest_from(
        &mut self,
        events: &[Event],
        bodies: &[&[u8]],
        origin: &str,
        checkpoints: &[Event],
    ) -> Result<ApplyReport> {
        if self.poisoned {
            return Err(NodeError::Poisoned("an earlier failure".into()));
        }
        // What the log would refuse is refused before the engine applies anything: a refusal
        // after applying would poison the node.
        if origin.len() > standing_store::MAX_ORIGIN_BYTES {
            return Err(NodeError::Store(StoreError::OriginTooLong(origin.len())));
        }
        if let Some(body) = bodies
            .iter()
            .find(|body| body.len() > standing_store::MAX_RECORD_BYTES)
        {
            return Err(NodeError::Store(StoreError::RecordTooLarge(body.len())));
        }
        // A checkpoint that would not move its stream forward is left out.
        let checkpoints: Vec<&Event> = checkpoints
            .iter()
            .filter(|checkpoint| match &checkpoint.body {
                EventBody::Checkpoint {
                    stream,
                    partition,
                    next,
                } => self
                    .engine
                    .stream_position(stream, *partition)
                    .is_none_or(|at| at < *next),
                _ => false,
            })
            .collect();
        let mut report = self.engine.apply(events);
        let mut last_recorded_at = self.last_recorded_at;
        let outcome = (|| -> Result<(), StoreError> {
            for ((event, body), outcome) in events.iter().zip(bodies).zip(&report.outcomes) {
                if *outcome == ApplyOutcome::Accepted {
                    self.log
                        .append(event.recorded_at.0, origin.as_bytes(), body)?;
                    last_recorded_at = last_recorded_at.max(event.recorded_at);
                }
            }
            for checkpoint in &checkpoints {
                let applied = self.engine.apply(std::slice::from_ref(*checkpoint));
                if applied.outcomes.first() == Some(&ApplyOutcome::Accepted) {
                    let body = standing_ingest::to_wire(&self.model, checkpoint, false);
                    let at = checkpoint.recorded_at.max(last_recorded_at);
                    self.log.append(at.0, origin.as_bytes(), &body)?;
                    last_recorded_at = at;
                }
            }
            self.log.commit()
        })();
        if let Err(error) = outcome {
            self.poisoned = true;
            return Err(NodeError::Poisoned(error.to_string()));
        }
        self.last_recorded_at = last_recorded_at;
        // Everything accepted is durable now: a log that cannot be read back to tell conflicts
        // from duplicates leaves them reported as duplicates (the first is kept either way)
        // rather than fail an answer whose records are acknowledged.
        let _ = self.mark_conflicts(events, &mut report.outcomes);
        Ok(report)
    }

    /// Turns each duplicate whose content differs from the event first accepted under its id
    /// into a conflict. Content is what the event says (recorded time aside).
    fn mark_conflicts(&self, events: &[Event], outcomes: &mut [ApplyOutcome]) -> Result<()> {
        let mut duplicates: Vec<(u64, usize)> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, outcome)| **outcome == ApplyOutcome::Duplicate)
            .filter_map(|(index, _)| {
                let event = &events[index];
                let seq = self.engine.event_number(&event.source, &event.id)?;
                Some((u64::from(seq), index))
            })
            .collect();
        if duplicates.is_empty() {
            return Ok(());
        }
        duplicates.sort_unstable();
        let differs = |first: &[u8], recorded_at: i64, index: usize| -> bool {
            match parse_record(
                &self.model,
                first,
                RecordedAt::Stamp(Timestamp(recorded_at)),
            ) {
                Ok(first) => !same_content(&first, &events[index]),
                Err(_) => true,
            }
        };
        // One pass over the log from the first of them to the last (a read of a record of the
        // active segment reads the whole segment, so one read each would cost far more).
        let mut conflicts = Vec::new();
        let (from, to) = (duplicates[0].0, duplicates[duplicates.len() - 1].0);
        let mut next = 0;
        self.log
            .scan::<NodeError>(from, |record| {
                while next < duplicates.len() && duplicates[next].0 == record.seq {
                    if differs(record.body, record.recorded_at, duplicates[next].1) {
                        conflicts.push(duplicates[next].1);
                    }
                    next += 1;
                }
                if record.seq >= to {
                    return Err(NodeError::ScanDone);
                }
                Ok(())
            })
            .or_else(|error| match error {
                NodeError::ScanDone => Ok(()),
                other => Err(other),
            })?;
        for index in conflicts {
            outcomes[index] = ApplyOutcome::Conflict;
        }
        Ok(())
    }

    /// Rebuilds the engine from the whole log under another model text (checked first), with
    /// its clock at `clock`: what the node would serve under it. Changes nothing.
    pub fn candidate(&self, label: &str, text: &str, clock: Timestamp) -> Result<Candidate> {
        let (model, fingerprint) = checked(label, text)?;
        let engine = Engine::new(model.clone(), clock);
        let (engine, _) = rebuild(&self.log, &model, engine, 0, true, clock)?;
        Ok(Candidate {
            fingerprint,
            text: text.to_owned(),
            model,
            engine,
        })
    }

    /// Makes a candidate the node's model: `model.toml` is replaced (atomically, by rename) and
    /// the engine swapped, then a snapshot is stored under the new model. If the model cannot
    /// be replaced, nothing changes.
    pub fn activate(&mut self, candidate: Candidate) -> Result<()> {
        // Records accepted since the candidate was built.
        let mut engine = candidate.engine;
        let from = engine.event_count() as u64;
        replay(&self.log, &candidate.model, &mut engine, from)?;
        self.home.write_model(&candidate.text)?;
        engine.advance_clock(self.engine.clock());
        self.model = candidate.model;
        self.model_fingerprint = candidate.fingerprint;
        self.engine = engine;
        self.snapshot()
    }

    /// Starts a bulk load: see [`Engine::start_bulk`]; end it with [`Node::finish_bulk`].
    pub fn start_bulk(&mut self) {
        self.engine.start_bulk();
    }

    /// Ends a bulk load: the social graph built and solved once.
    pub fn finish_bulk(&mut self) {
        self.engine.finish_bulk();
    }

    /// Removes from the log every event whose type's `retention` has passed at `now` (occurred
    /// longer ago), and the retractions of removed events; the rest is written to a new log,
    /// numbered from 0, which replaces the old one (crash-safe: a purge interrupted before its
    /// log is complete is abandoned, after it is finished on the next open). The engine is
    /// rebuilt from the new log and a snapshot taken; earlier snapshots are removed. A purged
    /// event is gone: its id may be sent again.
    pub fn purge(&mut self, now: Timestamp) -> Result<Purge> {
        if self.poisoned {
            return Err(NodeError::Poisoned("an earlier failure".into()));
        }
        let backend = self.home.open_staging()?;
        let (mut fresh, _) = Log::open(backend, LogOptions::default())?;
        let mut report = Purge::default();
        let mut removed_ids: std::collections::HashSet<(Box<str>, Box<str>)> = Default::default();
        let model = self.model.clone();
        self.log.scan::<NodeError>(0, |record| {
            let event = parse_record(
                &model,
                record.body,
                RecordedAt::Stamp(Timestamp(record.recorded_at)),
            )
            .map_err(|error| NodeError::Replay {
                seq: record.seq,
                model: model.version_label(),
                reason: error.to_string(),
            })?;
            let removed = match &event.body {
                EventBody::Fact { event_type, .. } => {
                    let declared = model.event_type(*event_type);
                    declared
                        .retention
                        .is_some_and(|keep| event.occurred_at.0.saturating_add(keep.0) <= now.0)
                        .then(|| declared.name.clone())
                }
                EventBody::Retraction { event_id, .. } => removed_ids
                    .contains(&(event.source.clone(), event_id.clone()))
                    .then(|| "retraction".to_owned()),
                // Where streams resume: kept, or a purge would take them again.
                EventBody::Checkpoint { .. } => None,
            };
            match removed {
                Some(kind) => {
                    removed_ids.insert((event.source.clone(), event.id.clone()));
                    *report.removed.entry(kind).or_default() += 1;
                }
                None => {
                    fresh.append(record.recorded_at, record.origin, record.body)?;
                    report.kept += 1;
                    if report.kept % 65_536 == 0 {
                        fresh.commit()?;
                    }
                }
            }
            Ok(())
        })?;
        fresh.commit()?;
        drop(fresh);
        if report.removed.is_empty() {
            self.home.discard_staging()?;
            return Ok(report);
        }
        // The staged log is complete: from here a crash finishes the purge on the next open, and
        // a failure leaves the node poisoned (to be reopened, which finishes it, or not if the
        // marker did not reach the disk).
        self.poisoned = true;
        self.home.commit_staging()?;
        self.home.recover_purge()?;
        let backend = self.home.open_log()?;
        let (log, _) = Log::open(backend, LogOptions::default())?;
        self.log = log;
        let clock = self.engine.clock();
        let engine = Engine::new(self.model.clone(), clock);
        self.engine = rebuild(&self.log, &self.model, engine, 0, true, clock)?.0;
        self.poisoned = false;
        // The old snapshots are gone with the old log.
        self.stored = None;
        self.snapshot()?;
        Ok(report)
    }

    /// Stores a snapshot of the engine covering the whole log, so the next open replays nothing.
    pub fn snapshot(&mut self) -> Result<()> {
        if self.poisoned {
            // The engine may hold what the log lost: a snapshot of it would not reopen.
            return Err(NodeError::Poisoned("an earlier failure".into()));
        }
        let (fingerprint, engine) = (self.model_fingerprint, &self.engine);
        let covers = self.log.next_seq();
        if self.stored == Some((covers, fingerprint)) {
            return Ok(());
        }
        self.log.put_snapshot(covers, |out| {
            out.write_all(&fingerprint.to_le_bytes())?;
            engine.write_snapshot(out)
        })?;
        self.stored = Some((covers, fingerprint));
        Ok(())
    }
}

/// A model checked and the engine rebuilt under it, not yet active: see [`Node::candidate`].
#[derive(Debug)]
pub struct Candidate {
    pub model: Arc<Model>,
    pub engine: Engine,
    fingerprint: u64,
    text: String,
}

/// Event bodies read back from the log: event `n` is record `n`.
struct LogFields<'a, B: Backend> {
    log: &'a Log<B>,
    model: &'a Model,
}

impl<B: Backend> EventFields for LogFields<'_, B> {
    fn fields(&self, event: u32) -> Option<Box<[FieldValue]>> {
        let record = self.log.read(event as u64).ok()??;
        match parse_record(
            self.model,
            &record.body,
            RecordedAt::Stamp(Timestamp(record.recorded_at)),
        )
        .ok()?
        .body
        {
            EventBody::Fact { fields, .. } => Some(fields),
            EventBody::Retraction { .. } | EventBody::Checkpoint { .. } => None,
        }
    }
}
