//! Where the log's bytes live: a small trait with a file implementation and an in-memory one
//! that keeps written and durable bytes apart, so tests can crash it at any point.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use standing_core::{Aligned, SharedBytes};

/// Segments are named by the sequence number of their first record; snapshots by the sequence
/// number they cover up to (exclusive).
pub trait Backend: Send {
    /// The segments, ascending.
    fn segments(&self) -> io::Result<Vec<u64>>;
    /// A segment's whole content as it is now.
    fn read_segment(&self, segment: u64) -> io::Result<Vec<u8>>;
    /// `length` bytes of a segment from `offset` (fewer at its end).
    fn read_range(&self, segment: u64, offset: u64, length: usize) -> io::Result<Vec<u8>>;
    /// The first 16 bytes of a segment (fewer if it is shorter).
    fn read_segment_header(&self, segment: u64) -> io::Result<Vec<u8>>;
    /// Creates an empty segment, durably (the directory entry too).
    fn create_segment(&mut self, segment: u64) -> io::Result<()>;
    /// Appends bytes to a segment; not durable until [`Backend::sync`].
    fn append(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended to the segment durable.
    fn sync(&mut self, segment: u64) -> io::Result<()>;
    /// Cuts a segment to `len` bytes, durably.
    fn truncate(&mut self, segment: u64, len: u64) -> io::Result<()>;
    /// Replaces a segment's content atomically and durably (compaction).
    fn replace_segment(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()>;
    /// Stores a snapshot atomically and durably; `write` streams its bytes.
    fn put_snapshot(
        &mut self,
        name: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()>;
    /// The snapshots, ascending.
    fn snapshots(&self) -> io::Result<Vec<u64>>;
    /// A snapshot's bytes, shared read-only (memory-mapped for files): a restore uses them in
    /// place instead of copying them to the heap.
    fn map_snapshot(&self, name: u64) -> io::Result<SharedBytes>;
    fn remove_snapshot(&mut self, name: u64) -> io::Result<()>;
}

/// A data directory: `log/<first seq>.seg` and `snapshots/<seq>.snap`.
#[derive(Debug)]
pub struct FileBackend {
    log: PathBuf,
    snapshots: PathBuf,
    /// The segment being appended to, kept open.
    active: Option<(u64, File)>,
}

fn sync_directory(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn numbered(directory: &Path, extension: &str) -> io::Result<Vec<u64>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(extension)
            && let Some(number) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
        {
            names.push(number);
        }
    }
    names.sort_unstable();
    Ok(names)
}

impl FileBackend {
    /// Opens (creating if needed) the log and snapshot directories under `directory`.
    pub fn open(directory: &Path) -> io::Result<Self> {
        let log = directory.join("log");
        let snapshots = directory.join("snapshots");
        std::fs::create_dir_all(&log)?;
        std::fs::create_dir_all(&snapshots)?;
        Ok(FileBackend {
            log,
            snapshots,
            active: None,
        })
    }

    fn segment_path(&self, segment: u64) -> PathBuf {
        self.log.join(format!("{segment:020}.seg"))
    }

    fn snapshot_path(&self, name: u64) -> PathBuf {
        self.snapshots.join(format!("{name:020}.snap"))
    }

    fn file(&mut self, segment: u64) -> io::Result<&mut File> {
        if self.active.as_ref().map(|(s, _)| *s) != Some(segment) {
            let file = OpenOptions::new()
                .append(true)
                .open(self.segment_path(segment))?;
            self.active = Some((segment, file));
        }
        match &mut self.active {
            Some((_, file)) => Ok(file),
            None => Err(io::Error::other("no active segment")),
        }
    }

    fn write_atomically(&self, directory: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temporary = path.with_extension("tmp");
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        sync_directory(directory)
    }
}

impl Backend for FileBackend {
    fn segments(&self) -> io::Result<Vec<u64>> {
        numbered(&self.log, "seg")
    }

    fn read_segment(&self, segment: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(self.segment_path(segment))?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn read_range(&self, segment: u64, offset: u64, length: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(self.segment_path(segment))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::with_capacity(length);
        file.take(length as u64).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn read_segment_header(&self, segment: u64) -> io::Result<Vec<u8>> {
        let mut header = Vec::with_capacity(16);
        File::open(self.segment_path(segment))?
            .take(16)
            .read_to_end(&mut header)?;
        Ok(header)
    }

    fn create_segment(&mut self, segment: u64) -> io::Result<()> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.segment_path(segment))?;
        file.sync_all()?;
        sync_directory(&self.log)?;
        self.active = Some((segment, file));
        Ok(())
    }

    fn append(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        self.file(segment)?.write_all(bytes)
    }

    fn sync(&mut self, segment: u64) -> io::Result<()> {
        self.file(segment)?.sync_data()
    }

    fn truncate(&mut self, segment: u64, len: u64) -> io::Result<()> {
        self.active = None;
        let mut file = OpenOptions::new()
            .write(true)
            .open(self.segment_path(segment))?;
        file.set_len(len)?;
        file.seek(SeekFrom::End(0))?;
        file.sync_all()
    }

    fn replace_segment(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        if self.active.as_ref().map(|(s, _)| *s) == Some(segment) {
            self.active = None;
        }
        self.write_atomically(&self.log, &self.segment_path(segment), bytes)
    }

    fn put_snapshot(
        &mut self,
        name: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let path = self.snapshot_path(name);
        let temporary = path.with_extension("tmp");
        let mut file = std::io::BufWriter::with_capacity(8 << 20, File::create(&temporary)?);
        write(&mut file)?;
        let file = file.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        sync_directory(&self.snapshots)
    }

    fn snapshots(&self) -> io::Result<Vec<u64>> {
        numbered(&self.snapshots, "snap")
    }

    fn map_snapshot(&self, name: u64) -> io::Result<SharedBytes> {
        let file = File::open(self.snapshot_path(name))?;
        if file.metadata()?.len() == 0 {
            return Ok(Aligned::shared(&[]));
        }
        // SAFETY: a mapped file must not change while mapped. Snapshots are written to a
        // temporary file, synced and renamed into place, and never written again; the data
        // directory is locked by the one process that owns it, and removing a snapshot only
        // unlinks it (the mapping keeps the old inode alive). `populate` reads the pages in
        // ahead, in the kernel, instead of one fault at a time.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
        Ok(Arc::new(map))
    }

    fn remove_snapshot(&mut self, name: u64) -> io::Result<()> {
        std::fs::remove_file(self.snapshot_path(name))?;
        sync_directory(&self.snapshots)
    }
}

#[derive(Clone, Debug, Default)]
struct MemFile {
    bytes: Vec<u8>,
    durable: usize,
}

/// An in-memory backend that remembers which bytes are durable. [`MemBackend::crash`] drops
/// what was not synced, keeping any prefix of it, as a torn write would.
#[derive(Clone, Debug, Default)]
pub struct MemBackend {
    segments: BTreeMap<u64, MemFile>,
    snapshots: BTreeMap<u64, Vec<u8>>,
    /// Syncs that succeed before one fails (see [`MemBackend::fail_sync_after`]).
    syncs_before_failure: Option<usize>,
}

impl MemBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loses everything not synced, except `keep` bytes of each segment's unsynced tail.
    pub fn crash(&mut self, keep: usize) {
        for file in self.segments.values_mut() {
            let kept = file.durable + keep.min(file.bytes.len() - file.durable);
            file.bytes.truncate(kept);
            file.durable = kept;
        }
    }

    /// Like [`MemBackend::crash`], but the kept unsynced bytes read back as zeros, as a file
    /// whose size reached the disk before its data does after a crash.
    pub fn crash_zeroed(&mut self, keep: usize) {
        for file in self.segments.values_mut() {
            let kept = file.durable + keep.min(file.bytes.len() - file.durable);
            file.bytes.truncate(kept);
            file.bytes[file.durable..].fill(0);
            file.durable = kept;
        }
    }

    /// Lets `count` more syncs succeed, then fails every one after them, as a failing disk
    /// (storing a snapshot counts as a sync).
    pub fn fail_sync_after(&mut self, count: usize) {
        self.syncs_before_failure = Some(count);
    }

    /// Takes one sync from what [`MemBackend::fail_sync_after`] allows.
    fn spend_sync(&mut self) -> io::Result<()> {
        match &mut self.syncs_before_failure {
            Some(0) => Err(io::Error::other("injected sync failure")),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Flips a bit at `offset` of a segment, as a bad disk would.
    pub fn corrupt(&mut self, segment: u64, offset: usize) {
        if let Some(byte) = self
            .segments
            .get_mut(&segment)
            .and_then(|f| f.bytes.get_mut(offset))
        {
            *byte ^= 0x40;
        }
    }

    fn segment(&mut self, segment: u64) -> io::Result<&mut MemFile> {
        self.segments
            .get_mut(&segment)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("segment {segment}")))
    }
}

impl Backend for MemBackend {
    fn segments(&self) -> io::Result<Vec<u64>> {
        Ok(self.segments.keys().copied().collect())
    }

    fn read_segment(&self, segment: u64) -> io::Result<Vec<u8>> {
        self.segments
            .get(&segment)
            .map(|f| f.bytes.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("segment {segment}")))
    }

    fn read_range(&self, segment: u64, offset: u64, length: usize) -> io::Result<Vec<u8>> {
        let bytes = self.read_segment(segment)?;
        let start = (offset as usize).min(bytes.len());
        Ok(bytes[start..(start + length).min(bytes.len())].to_vec())
    }

    fn read_segment_header(&self, segment: u64) -> io::Result<Vec<u8>> {
        let mut bytes = self.read_segment(segment)?;
        bytes.truncate(16);
        Ok(bytes)
    }

    fn create_segment(&mut self, segment: u64) -> io::Result<()> {
        self.segments.insert(segment, MemFile::default());
        Ok(())
    }

    fn append(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        self.segment(segment)?.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self, segment: u64) -> io::Result<()> {
        self.spend_sync()?;
        let file = self.segment(segment)?;
        file.durable = file.bytes.len();
        Ok(())
    }

    fn truncate(&mut self, segment: u64, len: u64) -> io::Result<()> {
        let file = self.segment(segment)?;
        file.bytes.truncate(len as usize);
        file.durable = file.bytes.len();
        Ok(())
    }

    fn replace_segment(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        self.segments.insert(
            segment,
            MemFile {
                bytes: bytes.to_vec(),
                durable: bytes.len(),
            },
        );
        Ok(())
    }

    fn put_snapshot(
        &mut self,
        name: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        self.spend_sync()?;
        let mut bytes = Vec::new();
        write(&mut bytes)?;
        self.snapshots.insert(name, bytes);
        Ok(())
    }

    fn snapshots(&self) -> io::Result<Vec<u64>> {
        Ok(self.snapshots.keys().copied().collect())
    }

    fn map_snapshot(&self, name: u64) -> io::Result<SharedBytes> {
        self.snapshots
            .get(&name)
            .map(|bytes| Aligned::shared(bytes))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("snapshot {name}")))
    }

    fn remove_snapshot(&mut self, name: u64) -> io::Result<()> {
        self.snapshots.remove(&name);
        Ok(())
    }
}

/// A backend behind a handle its clones share, as processes that open a disk in turn share it:
/// a test keeps one handle, gives another to a log, and after the log is dropped crashes the
/// backend (see [`MemBackend::crash`]) and opens a new log on what is left.
#[derive(Debug, Default)]
pub struct Shared<B>(Arc<std::sync::Mutex<B>>);

impl<B> Clone for Shared<B> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<B: Backend> Shared<B> {
    pub fn new(backend: B) -> Self {
        Shared(Arc::new(std::sync::Mutex::new(backend)))
    }

    /// The backend itself, for as long as the guard is held.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, B> {
        // A backend is left consistent by each call: one that panicked changed nothing after it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<B: Backend> Backend for Shared<B> {
    fn segments(&self) -> io::Result<Vec<u64>> {
        self.lock().segments()
    }

    fn read_segment(&self, segment: u64) -> io::Result<Vec<u8>> {
        self.lock().read_segment(segment)
    }

    fn read_range(&self, segment: u64, offset: u64, length: usize) -> io::Result<Vec<u8>> {
        self.lock().read_range(segment, offset, length)
    }

    fn read_segment_header(&self, segment: u64) -> io::Result<Vec<u8>> {
        self.lock().read_segment_header(segment)
    }

    fn create_segment(&mut self, segment: u64) -> io::Result<()> {
        self.lock().create_segment(segment)
    }

    fn append(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        self.lock().append(segment, bytes)
    }

    fn sync(&mut self, segment: u64) -> io::Result<()> {
        self.lock().sync(segment)
    }

    fn truncate(&mut self, segment: u64, len: u64) -> io::Result<()> {
        self.lock().truncate(segment, len)
    }

    fn replace_segment(&mut self, segment: u64, bytes: &[u8]) -> io::Result<()> {
        self.lock().replace_segment(segment, bytes)
    }

    fn put_snapshot(
        &mut self,
        name: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        self.lock().put_snapshot(name, write)
    }

    fn snapshots(&self) -> io::Result<Vec<u64>> {
        self.lock().snapshots()
    }

    fn map_snapshot(&self, name: u64) -> io::Result<SharedBytes> {
        self.lock().map_snapshot(name)
    }

    fn remove_snapshot(&mut self, name: u64) -> io::Result<()> {
        self.lock().remove_snapshot(name)
    }
}
