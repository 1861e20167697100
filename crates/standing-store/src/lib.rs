//! Standing's durable event log: the source of truth every score is reproduced from.
//!
//! An append-only sequence of records in checksummed segments (`docs/storage-format.md`), with
//! group commit (many records, one `fdatasync`), torn-tail recovery and snapshots. It stores
//! bytes: what a record means is the caller's business. The only crate that knows the disk
//! format.

mod backend;
mod log;

pub use backend::{Aligned, Backend, FileBackend, MemBackend, Shared, SharedBytes};
pub use log::{
    Compaction, Log, LogOptions, MAX_ORIGIN_BYTES, MAX_RECORD_BYTES, Record, Recovery,
    SnapshotState, StoredRecord,
};

/// Why the log could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A sealed segment (not the last) fails its checksum or framing: the disk lost data the
    /// log had made durable. Never repaired silently.
    #[error("segment {segment} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        segment: u64,
        offset: u64,
        reason: &'static str,
    },
    /// An earlier commit failed; the log must be reopened to learn what is durable.
    #[error("the log failed earlier ({0}) and must be reopened")]
    Failed(String),
    #[error("record of {0} bytes exceeds the limit of {max} bytes", max = log::MAX_RECORD_BYTES)]
    RecordTooLarge(usize),
    #[error("a record's origin of {0} bytes exceeds the limit of {max} bytes", max = log::MAX_ORIGIN_BYTES)]
    OriginTooLong(usize),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
