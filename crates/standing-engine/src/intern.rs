//! Dense indices for names: subject ids and (source, event id) pairs.
//!
//! Names live back to back in one byte arena, each behind a two-byte length. The hash table
//! holds, per name, its arena offset and its index: a lookup touches the table, then the name
//! and whatever the caller reads by index at once (the index is known before the name is
//! compared, so the two memory reads overlap). A name costs its bytes plus about 20 bytes.
//! Indices are handed out in first-seen order, which the caller keeps deterministic.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// The longest name an interner holds, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = u16::MAX as usize;

pub(crate) struct Interner {
    /// `[length: u16 LE][name bytes]` for every name, in index order.
    arena: Vec<u8>,
    /// Where each name's length prefix starts in `arena`, by index.
    starts: Vec<u32>,
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
            arena: Vec::new(),
            starts: Vec::new(),
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

#[inline]
fn name_at(arena: &[u8], offset: u32) -> &[u8] {
    let offset = offset as usize;
    let length = u16::from_le_bytes([arena[offset], arena[offset + 1]]) as usize;
    &arena[offset + 2..offset + 2 + length]
}

impl Interner {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn get_bytes(&self, index: u32) -> &[u8] {
        name_at(&self.arena, self.starts[index as usize])
    }

    pub fn get(&self, index: u32) -> &str {
        // Only `&str`s (or a two-byte source index followed by a `&str`) are ever interned.
        std::str::from_utf8(self.get_bytes(index)).unwrap_or("")
    }

    /// An interner over names already laid out (from a snapshot): `arena` and `starts` as
    /// [`Self::parts`] gave them. Checks the layout; builds the table now or on first need.
    pub fn from_parts(arena: Vec<u8>, starts: Vec<u32>, index_now: bool) -> Option<Self> {
        let mut expected = 0usize;
        for start in &starts {
            if *start as usize != expected || expected + 2 > arena.len() {
                return None;
            }
            let length = u16::from_le_bytes([arena[expected], arena[expected + 1]]) as usize;
            expected += 2 + length;
        }
        if expected != arena.len() {
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

    /// The arena and the starts, for snapshots.
    pub fn parts(&self) -> (&[u8], &[u32]) {
        (&self.arena, &self.starts)
    }

    /// Builds the table if it is not built. Names are known distinct: no comparisons.
    pub fn ensure_indexed(&mut self) {
        if self.indexed {
            return;
        }
        let Self {
            arena,
            starts,
            table,
            hasher,
            ..
        } = self;
        let arena = &*arena;
        *table = HashTable::with_capacity(starts.len());
        for (index, &offset) in starts.iter().enumerate() {
            let hash = hasher.hash_one(name_at(arena, offset));
            table.insert_unique(hash, (offset, index as u32), |&(offset, _)| {
                hasher.hash_one(name_at(arena, offset))
            });
        }
        self.indexed = true;
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
        arena.extend_from_slice(&(name.len() as u16).to_le_bytes());
        arena.extend_from_slice(name);
        starts.push(offset);
        let arena = &*arena;
        table.insert_unique(hash, (offset, index), |&(offset, _)| {
            hasher.hash_one(name_at(arena, offset))
        });
        (index, true)
    }

    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve_exact(bytes + 2 * names);
        self.starts.reserve_exact(names);
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
        self.arena.capacity() + self.starts.capacity() * 4 + self.table.capacity() * 9
    }
}
