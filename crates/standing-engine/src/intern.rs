//! Dense indices for names: subject ids and (source, event id) pairs.
//!
//! Names live back to back in one byte arena and the hash table holds only `u32` indices, so a
//! name costs its bytes plus about 9 bytes — what lets ten million subjects fit in a few hundred
//! megabytes. Indices are handed out in first-seen order, which the caller keeps deterministic.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

#[derive(Default)]
pub(crate) struct Interner {
    bytes: Vec<u8>,
    /// `ends[i]` is where name `i` ends in `bytes`; it starts where name `i - 1` ends.
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner").field("len", &self.ends.len()).finish()
    }
}

impl Interner {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get_bytes(&self, index: u32) -> &[u8] {
        let index = index as usize;
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        &self.bytes[start..self.ends[index] as usize]
    }

    pub fn get(&self, index: u32) -> &str {
        // Only `&str`s (or a source index byte pair followed by a `&str`) are ever interned.
        std::str::from_utf8(self.get_bytes(index)).unwrap_or("")
    }

    pub fn find(&self, name: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.table.find(hash, |&index| self.get_bytes(index) == name).copied()
    }

    /// The index of `name`, and whether it was new.
    pub fn intern(&mut self, name: &[u8]) -> (u32, bool) {
        let hash = self.hasher.hash_one(name);
        let Self { bytes, ends, table, hasher } = self;
        let get = |index: u32| {
            let index = index as usize;
            let start = if index == 0 { 0 } else { ends[index - 1] as usize };
            &bytes[start..ends[index] as usize]
        };
        if let Some(&index) = table.find(hash, |&index| get(index) == name) {
            return (index, false);
        }
        let index = ends.len() as u32;
        bytes.extend_from_slice(name);
        ends.push(bytes.len() as u32);
        let (bytes, ends) = (&*bytes, &*ends);
        table.insert_unique(hash, index, |&index| {
            let index = index as usize;
            let start = if index == 0 { 0 } else { ends[index - 1] as usize };
            hasher.hash_one(&bytes[start..ends[index] as usize])
        });
        (index, true)
    }

    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.bytes.reserve_exact(bytes);
        self.ends.reserve_exact(names);
        let Self { bytes, ends, table, hasher } = self;
        let (bytes, ends) = (&*bytes, &*ends);
        table.reserve(names, |&index| {
            let index = index as usize;
            let start = if index == 0 { 0 } else { ends[index - 1] as usize };
            hasher.hash_one(&bytes[start..ends[index] as usize])
        });
    }

    /// Heap bytes held, for memory reports.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4 + self.table.capacity() * 5
    }
}
