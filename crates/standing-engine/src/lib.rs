//! Standing's scoring engine: a pure, deterministic state machine.
//!
//! [`Engine::apply`] takes ordered events and evaluates the model's rules on them; the engine
//! keeps, per subject, every contribution with its occurred and recorded times, so it can score
//! a subject at any instant, as known at any instant, and explain the score. Served scores are
//! cached as of the engine's clock, which only moves when the caller says so
//! ([`Engine::advance_clock`]); time is always an argument, never read.
//!
//! Invariant: the same model and the same ordered events give the same scores bit for bit,
//! whatever the thread count. Sums run in event order within a subject; parallel work is split
//! by subject and never merges floating-point values across threads.

mod apply;
mod column;
mod decide;
mod entries;
mod entry;
mod explain;
mod foreign;
mod intern;
mod kernel;
mod live;
mod network;
mod query;
mod score;
mod snapshot;
mod state;
mod stepped;
pub mod whatif;

pub use foreign::{NetworkRows, Owned};
pub use snapshot::SnapshotError;
pub use state::{
    ApplyOutcome, ApplyReport, Engine, EngineStats, EventFields, NoEventFields, RankedSubject,
};
pub use stepped::{Behaviours, EventIndex, EventIndexJob, NetworkSolve};
