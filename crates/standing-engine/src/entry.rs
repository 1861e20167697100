//! One thing an event did to a subject, as the engine keeps it: the entry, whose layout
//! snapshots hold, and when it counts.

/// "Never": an entry not retracted has `retracted_at == NEVER`.
pub(crate) const NEVER: i64 = i64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum EntryKind {
    /// Points awarded by rule `index`.
    Contribution,
    /// Ends the contributions of rule `index` with the same key (a settlement).
    Close,
    /// Enters list `index`.
    ListEnter,
    /// Leaves list `index` (entries with the same key, or all when the list has no match field).
    ListLeave,
    /// Adds a relation of kind `index` to subject `key`, with weight units `points`.
    RelationAdd,
    /// Removes the relation of kind `index` to subject `key`.
    RelationRemove,
}

impl EntryKind {
    pub(crate) const ALL: [EntryKind; 6] = [
        EntryKind::Contribution,
        EntryKind::Close,
        EntryKind::ListEnter,
        EntryKind::ListLeave,
        EntryKind::RelationAdd,
        EntryKind::RelationRemove,
    ];

    pub(crate) fn from_code(code: u8) -> Option<EntryKind> {
        EntryKind::ALL.get(code as usize).copied()
    }
}

/// One thing an event did to a subject. 48 bytes, no padding: snapshots hold entries in this
/// very layout and a restore reads them in place (see `column`).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Entry {
    pub(crate) occurred_at: i64,
    pub(crate) recorded_at: i64,
    /// The recorded time of the retraction that withdrew the event, or `NEVER`.
    pub(crate) retracted_at: i64,
    pub(crate) points: f64,
    /// A hash of the match field's value, tying closes and leaves to what they end.
    pub(crate) key: u64,
    pub(crate) event: u32,
    pub(crate) index: u16,
    /// An [`EntryKind`] as its `u8`; checked when a snapshot is restored.
    pub(crate) code: u8,
    pub(crate) pad: u8,
}

impl Entry {
    #[inline]
    pub(crate) fn kind(&self) -> EntryKind {
        // Entries are made from an `EntryKind`, or restored after their codes were checked.
        EntryKind::from_code(self.code).unwrap_or(EntryKind::Contribution)
    }

    /// Whether the entry counts for occurred-time `at` as known at `known`.
    #[inline]
    pub(crate) fn visible(&self, at: i64, known: i64) -> bool {
        self.occurred_at <= at
            && self.recorded_at <= known
            && (self.retracted_at == NEVER || self.retracted_at > known)
    }
}
