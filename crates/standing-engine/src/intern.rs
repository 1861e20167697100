//! Dense indices for names: subject ids and (source, event id) pairs.
//!
//! Names live back to back in one byte arena, each behind a two-byte length. The hash table
//! holds, per name, its arena offset and its index: a lookup touches the table, then the name
//! and whatever the caller reads by index at once (the index is known before the name is
//! compared, so the two memory reads overlap). A name costs its bytes plus about 20 bytes.
//! Indices are handed out in first-seen order, which the caller keeps deterministic.

use crate::column::Column;
use hashbrown::{DefaultHashBuilder, HashTable};
use rayon::prelude::*;
use std::hash::BuildHasher;

/// The longest name an interner holds, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = u16::MAX as usize;

pub(crate) struct Interner {
    /// `[length: u16 LE][name bytes]` for every name, in index order. A restored interner
    /// reads the names it was restored with in place.
    arena: Column<u8>,
    /// Where each name's length prefix starts in `arena`, by index.
    starts: Column<u32>,
    /// `(offset into arena, index)` per name.
    table: HashTable<(u32, u32)>,
    hasher: DefaultHashBuilder,
    /// Whether `table` holds every name. A restored interner may leave it to be built on first
    /// need: reading names by index needs no table.
    indexed: bool,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            arena: Column::default(),
            starts: Column::default(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            indexed: true,
        }
    }
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.starts.len())
            .finish()
    }
}

/// The name whose length prefix is at `offset` of `arena` (names never straddle the mapped
/// part and the heap part).
#[inline]
fn name_at(arena: &Column<u8>, offset: u32) -> &[u8] {
    let offset = offset as usize;
    let (bytes, offset) = if offset < arena.base_len() {
        (arena.base(), offset)
    } else {
        (&arena.tail[..], offset - arena.base_len())
    };
    name_in(bytes, offset).unwrap_or(&[])
}

#[inline]
fn name_in(bytes: &[u8], offset: usize) -> Option<&[u8]> {
    let length = u16::from_le_bytes([*bytes.get(offset)?, *bytes.get(offset + 1)?]) as usize;
    bytes.get(offset + 2..offset + 2 + length)
}

impl Interner {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn get_bytes(&self, index: u32) -> &[u8] {
        self.starts
            .get(index as usize)
            .map_or(&[], |start| name_at(&self.arena, start))
    }

    pub fn get(&self, index: u32) -> &str {
        // Only `&str`s (or a two-byte source index followed by a `&str`) are ever interned.
        std::str::from_utf8(self.get_bytes(index)).unwrap_or("")
    }

    /// An interner over names already laid out (from a snapshot, read in place): `arena` and
    /// `starts` as [`Self::parts`] gave them. Checks the layout (on every core); builds the
    /// table now or on first need.
    pub fn from_parts(arena: Column<u8>, starts: Column<u32>, index_now: bool) -> Option<Self> {
        if arena.tail.len() + starts.tail.len() > 0 {
            return None;
        }
        let (bytes, offsets) = (arena.base(), starts.base());
        // Name `i` starts where name `i - 1` ends; the first at 0 and the last ends the arena.
        let laid_out = offsets.first().is_none_or(|&first| first == 0)
            && offsets
                .par_iter()
                .enumerate()
                .with_min_len(1 << 14)
                .all(|(index, &start)| {
                    let end = offsets
                        .get(index + 1)
                        .map_or(bytes.len(), |&next| next as usize);
                    name_in(bytes, start as usize)
                        .is_some_and(|name| start as usize + 2 + name.len() == end)
                })
            && (!offsets.is_empty() || bytes.is_empty());
        if !laid_out {
            return None;
        }
        let mut interner = Interner {
            arena,
            starts,
            indexed: false,
            ..Interner::default()
        };
        if index_now {
            interner.ensure_indexed();
        }
        Some(interner)
    }

    /// The arena and the starts, each in its two parts, for snapshots.
    pub fn parts(&self) -> ([&[u8]; 2], [&[u32]; 2]) {
        (self.arena.parts(), self.starts.parts())
    }

    /// Builds the table if it is not built. Names are known distinct: no comparisons.
    pub fn ensure_indexed(&mut self) {
        if let Some(job) = self.index_job() {
            let built = job.build();
            self.install_index(built);
        }
    }

    /// The work of building the table, to do without the interner (on another thread, while
    /// it is read): `None` when the table is built.
    pub fn index_job(&self) -> Option<IndexJob> {
        (!self.indexed).then(|| IndexJob {
            arena: self.arena.clone(),
            starts: self.starts.clone(),
            hasher: self.hasher.clone(),
        })
    }

    /// Puts in place a table [`IndexJob::build`] made, if it still covers every name (a table
    /// built meanwhile wins).
    pub fn install_index(&mut self, built: BuiltIndex) {
        if self.indexed || built.names != self.starts.len() {
            return;
        }
        self.table = built.table;
        self.indexed = true;
    }

    /// Whether the table [`Self::find`] searches is built.
    pub fn is_indexed(&self) -> bool {
        self.indexed
    }

    /// Looks a name up. The table must be built ([`Self::ensure_indexed`]).
    #[inline]
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        debug_assert!(self.indexed, "find on an interner whose table is not built");
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&(offset, _)| name_at(&self.arena, offset) == name)
            .map(|&(_, index)| index)
    }

    /// Whether `name` fits: the arena is addressed with 32 bits.
    pub fn has_room_for(&self, name: &[u8]) -> bool {
        name.len() <= MAX_NAME_BYTES && self.arena.len() + name.len() + 2 <= u32::MAX as usize
    }

    /// The index of `name`, and whether it was new. The caller checks [`Self::has_room_for`].
    pub fn intern(&mut self, name: &[u8]) -> (u32, bool) {
        self.ensure_indexed();
        let hash = self.hasher.hash_one(name);
        let Self {
            arena,
            starts,
            table,
            hasher,
            ..
        } = self;
        if let Some(&(_, index)) = table.find(hash, |&(offset, _)| name_at(arena, offset) == name) {
            return (index, false);
        }
        let index = starts.len() as u32;
        let offset = arena.len() as u32;
        arena
            .tail
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        arena.tail.extend_from_slice(name);
        starts.push(offset);
        let arena = &*arena;
        table.insert_unique(hash, (offset, index), |&(offset, _)| {
            hasher.hash_one(name_at(arena, offset))
        });
        (index, true)
    }

    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve(bytes + 2 * names);
        self.starts.reserve(names);
        let Self {
            arena,
            table,
            hasher,
            ..
        } = self;
        let arena = &*arena;
        table.reserve(names, |&(offset, _)| {
            hasher.hash_one(name_at(arena, offset))
        });
    }

    /// Heap bytes held, for memory reports.
    pub fn heap_bytes(&self) -> usize {
        self.arena.heap_bytes() + self.starts.heap_bytes() + self.table.capacity() * 9
    }

    /// Bytes read in place from a restored snapshot.
    pub fn mapped_bytes(&self) -> usize {
        self.arena.mapped_bytes() + self.starts.mapped_bytes()
    }
}

/// The names of an interner whose table is not built yet, to build it from.
pub(crate) struct IndexJob {
    arena: Column<u8>,
    starts: Column<u32>,
    hasher: DefaultHashBuilder,
}

/// A table built by an [`IndexJob`].
pub(crate) struct BuiltIndex {
    table: HashTable<(u32, u32)>,
    names: usize,
}

impl IndexJob {
    /// Hashes the names on every core, then fills the table (names are known distinct: no
    /// comparisons).
    pub(crate) fn build(self) -> BuiltIndex {
        let Self {
            arena,
            starts,
            hasher,
        } = self;
        let [base, tail] = starts.parts();
        let hashes: Vec<u64> = base
            .par_iter()
            .chain(tail.par_iter())
            .with_min_len(1 << 14)
            .map(|&offset| hasher.hash_one(name_at(&arena, offset)))
            .collect();
        let mut table = HashTable::with_capacity(starts.len());
        for (index, (&offset, &hash)) in starts.iter().zip(&hashes).enumerate() {
            table.insert_unique(hash, (offset, index as u32), |&(offset, _)| {
                hasher.hash_one(name_at(&arena, offset))
            });
        }
        BuiltIndex {
            table,
            names: starts.len(),
        }
    }
}
