//! Arrays whose start may be used in place from a restored snapshot's bytes.
//!
//! A restore maps the snapshot file and reads its large sections (entries, event ids) where
//! they lie instead of decoding them into the heap: the pages are the page cache's, shared,
//! and the restore costs what checking them costs. What is added afterwards goes to the heap,
//! behind the mapped part.

use bytemuck::Pod;
use standing_core::SharedBytes;
use std::ops::Range;

/// A run of shared bytes read as a slice of `T`. Alignment and length are checked once, when
/// it is made.
#[derive(Clone)]
pub(crate) struct Region {
    bytes: SharedBytes,
    range: Range<usize>,
}

impl Region {
    /// `range` of `bytes` as `T`s; `None` when misaligned or not a whole number of `T`s.
    pub(crate) fn new<T: Pod>(bytes: &SharedBytes, range: Range<usize>) -> Option<Self> {
        let all = (**bytes).as_ref();
        let slice = all.get(range.clone())?;
        bytemuck::try_cast_slice::<u8, T>(slice).ok()?;
        Some(Region {
            bytes: bytes.clone(),
            range,
        })
    }

    #[inline]
    pub(crate) fn slice<T: Pod>(&self) -> &[T] {
        // Checked in `new` for this `T`: never panics.
        bytemuck::cast_slice(&(*self.bytes).as_ref()[self.range.clone()])
    }
}

/// A mapped prefix (possibly empty) followed by values on the heap.
#[derive(Clone)]
pub(crate) struct Column<T: Pod> {
    base: Option<Region>,
    /// Length of the mapped prefix, in `T`s.
    base_len: usize,
    pub(crate) tail: Vec<T>,
}

impl<T: Pod> Default for Column<T> {
    fn default() -> Self {
        Column {
            base: None,
            base_len: 0,
            tail: Vec::new(),
        }
    }
}

impl<T: Pod> Column<T> {
    pub(crate) fn mapped(region: Region) -> Self {
        let base_len = region.slice::<T>().len();
        Column {
            base: Some(region),
            base_len,
            tail: Vec::new(),
        }
    }

    /// The mapped prefix.
    #[inline]
    pub(crate) fn base(&self) -> &[T] {
        self.base.as_ref().map_or(&[], Region::slice)
    }

    #[inline]
    pub(crate) fn base_len(&self) -> usize {
        self.base_len
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.base_len + self.tail.len()
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<T> {
        if index < self.base_len {
            self.base().get(index).copied()
        } else {
            self.tail.get(index - self.base_len).copied()
        }
    }

    pub(crate) fn push(&mut self, value: T) {
        self.tail.push(value);
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.tail.reserve_exact(additional);
    }

    /// Both parts, in order.
    pub(crate) fn parts(&self) -> [&[T]; 2] {
        [self.base(), &self.tail]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.base().iter().chain(&self.tail)
    }

    /// Heap bytes (the mapped part is the page cache's).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tail.capacity() * std::mem::size_of::<T>()
    }

    /// Bytes in use by the mapped part.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.base_len * std::mem::size_of::<T>()
    }
}
