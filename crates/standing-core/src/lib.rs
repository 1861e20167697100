//! Standing's vocabulary: the types every other crate speaks — timestamps, events, field values,
//! scores and explanations. Pure data: no I/O, no clock, no serialization.

mod bytes;
mod event;
mod hash;
pub mod id;
mod score;
mod time;

pub use bytes::{Aligned, SharedBytes};
pub use event::{CHECKPOINT_TYPE, Category, Event, EventBody, EventTypeId, FieldType, FieldValue};
pub use hash::StableHasher;
pub use score::{
    ContactImpact, Contribution, Decision, DecisionReason, DimensionScore, Explanation,
    ListMembership, NetworkPart, ReasonImpact, Score, Verdict,
};
pub use time::{Duration, ParseTimeError, Timestamp};
