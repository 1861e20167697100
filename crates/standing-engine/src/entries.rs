//! Every subject's entries: after a restore, read in place from the snapshot; a subject's
//! entries move to the heap the first time an event changes them.

use crate::column::{Column, Region};
use crate::entry::Entry;
use thin_vec::ThinVec;

#[derive(Default)]
pub(crate) struct SubjectEntries {
    /// Per restored subject, where its entries start in `flat`, and one more at the end.
    offsets: Column<u64>,
    /// The restored subjects' entries, back to back in subject order.
    flat: Column<Entry>,
    /// Per subject: its entries on the heap, or `None` while they are the restored ones.
    owned: Vec<Option<ThinVec<Entry>>>,
}

impl SubjectEntries {
    /// Restored entries in place: `offsets` has one more value than there are subjects,
    /// ascending from 0 to the number of entries in `flat` (the caller checks this).
    pub(crate) fn mapped(offsets: Region, flat: Region) -> Self {
        let offsets = Column::<u64>::mapped(offsets);
        let subjects = offsets.len().saturating_sub(1);
        SubjectEntries {
            offsets,
            flat: Column::mapped(flat),
            owned: std::iter::repeat_with(|| None).take(subjects).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.owned.len()
    }

    /// A subject's entries (empty for an index past the end).
    #[inline]
    pub(crate) fn get(&self, subject: usize) -> &[Entry] {
        match self.owned.get(subject) {
            Some(Some(owned)) => owned,
            Some(None) => self.restored(subject),
            None => &[],
        }
    }

    #[inline]
    fn restored(&self, subject: usize) -> &[Entry] {
        let offsets = self.offsets.base();
        match (offsets.get(subject), offsets.get(subject + 1)) {
            (Some(&start), Some(&end)) => self
                .flat
                .base()
                .get(start as usize..end as usize)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// A subject's entries to change: restored ones are copied to the heap first.
    pub(crate) fn get_mut(&mut self, subject: usize) -> &mut ThinVec<Entry> {
        if matches!(self.owned.get(subject), Some(None)) {
            let copied: ThinVec<Entry> = self.restored(subject).iter().copied().collect();
            self.owned[subject] = Some(copied);
        }
        self.owned[subject].get_or_insert_with(ThinVec::new)
    }

    /// A new subject, with no entries.
    pub(crate) fn push_empty(&mut self) {
        self.owned.push(Some(ThinVec::new()));
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.owned.reserve_exact(additional);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[Entry]> + '_ {
        (0..self.len()).map(|subject| self.get(subject))
    }

    pub(crate) fn count(&self) -> usize {
        self.iter().map(<[Entry]>::len).sum()
    }

    /// Heap bytes held (restored entries not yet changed are the page cache's).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.owned.capacity() * std::mem::size_of::<Option<ThinVec<Entry>>>()
            + self
                .owned
                .iter()
                .flatten()
                .filter(|owned| owned.capacity() > 0)
                .map(|owned| 16 + owned.capacity() * std::mem::size_of::<Entry>())
                .sum::<usize>()
    }

    /// Bytes of the snapshot read in place.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.offsets.mapped_bytes() + self.flat.mapped_bytes()
    }
}
