//! Where a node keeps what is not in its log: the model text, a purge's staged log, and who
//! owns it. A data directory on disk ([`Directory`]) in production; in memory ([`MemHome`]) for
//! tests that crash a node at any step of poisoning, purge and activation, as the log's own
//! tests crash the log.

use crate::{NodeError, Result};
use standing_store::{Backend, FileBackend, MemBackend, Shared};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A node's home. Each durable step is atomic: a crash leaves it done or not done.
pub trait Home: Send + Sync + 'static {
    /// Where the log's bytes live.
    type Backend: Backend + Sync;
    /// The home's name in messages (a data directory's path).
    fn name(&self) -> String;
    /// The name errors about the model give it (a file's path).
    fn model_label(&self) -> String;
    /// The model text.
    fn read_model(&self) -> Result<String>;
    /// Replaces the model text, atomically and durably.
    fn write_model(&mut self, text: &str) -> Result<()>;
    /// The log's storage.
    fn open_log(&mut self) -> Result<Self::Backend>;
    /// A new, empty log for a purge to write what it keeps to (one left over is removed first).
    fn open_staging(&mut self) -> Result<Self::Backend>;
    /// Removes the staged log: the purge removed nothing.
    fn discard_staging(&mut self) -> Result<()>;
    /// Marks the staged log complete, durably: from here the purge is finished, if need be by
    /// [`Home::recover_purge`] on the next open.
    fn commit_staging(&mut self) -> Result<()>;
    /// Finishes a purge whose staged log is marked complete — it replaces the log, and the
    /// snapshots of the old log are removed — or abandons one that is not.
    fn recover_purge(&mut self) -> Result<()>;
}

/// A data directory: `model.toml`, `log/`, `snapshots/`, its `LOCK`, and a purge's
/// `purge.staging/` with its marker `PURGE-COMMITTED`. Held open, it holds the lock: one
/// process at a time owns a data directory.
#[derive(Debug)]
pub struct Directory {
    path: PathBuf,
    _lock: File,
}

/// The purge's staging directory, and the marker that says its log is complete.
const PURGE_STAGING: &str = "purge.staging";
const PURGE_COMMITTED: &str = "PURGE-COMMITTED";

/// An I/O error at `path`.
fn at(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError {
    let path = path.display().to_string();
    move |source| NodeError::Read { path, source }
}

impl Directory {
    /// Takes the data directory at `path`, without waiting for another owner. Opening repairs
    /// a torn log tail and appends to the log, so a second process must never open the same
    /// directory: it could take an ingest's unsynced write for a torn tail and cut it.
    pub fn open(path: &Path) -> Result<Directory> {
        if !path.join("model.toml").exists() {
            return Err(NodeError::Missing(path.display().to_string()));
        }
        let lock = path.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(at(&lock))?;
        match file.try_lock() {
            Ok(()) => Ok(Directory {
                path: path.to_owned(),
                _lock: file,
            }),
            Err(TryLockError::WouldBlock) => Err(NodeError::Busy(path.display().to_string())),
            Err(TryLockError::Error(source)) => Err(at(&lock)(source)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sync_directory(&self) -> Result<()> {
        File::open(&self.path)
            .and_then(|directory| directory.sync_all())
            .map_err(at(&self.path))
    }
}

impl Home for Directory {
    type Backend = FileBackend;

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn model_label(&self) -> String {
        self.path.join("model.toml").display().to_string()
    }

    fn read_model(&self) -> Result<String> {
        let path = self.path.join("model.toml");
        std::fs::read_to_string(&path).map_err(at(&path))
    }

    fn write_model(&mut self, text: &str) -> Result<()> {
        let path = self.path.join("model.toml");
        let staged = self.path.join("model.toml.new");
        let mut file = File::create(&staged).map_err(at(&staged))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(at(&staged))?;
        std::fs::rename(&staged, &path).map_err(at(&path))?;
        self.sync_directory()
    }

    fn open_log(&mut self) -> Result<FileBackend> {
        FileBackend::open(&self.path).map_err(at(&self.path))
    }

    fn open_staging(&mut self) -> Result<FileBackend> {
        self.discard_staging()?;
        let staging = self.path.join(PURGE_STAGING);
        FileBackend::open(&staging).map_err(at(&staging))
    }

    fn discard_staging(&mut self) -> Result<()> {
        let staging = self.path.join(PURGE_STAGING);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(at(&staging))?;
        }
        Ok(())
    }

    fn commit_staging(&mut self) -> Result<()> {
        let marker = self.path.join(PURGE_COMMITTED);
        File::create(&marker)
            .and_then(|file| file.sync_all())
            .map_err(at(&marker))?;
        self.sync_directory()
    }

    fn recover_purge(&mut self) -> Result<()> {
        let staging = self.path.join(PURGE_STAGING);
        let marker = self.path.join(PURGE_COMMITTED);
        if marker.exists() {
            let snapshots = self.path.join("snapshots");
            if snapshots.exists() {
                std::fs::remove_dir_all(&snapshots).map_err(at(&snapshots))?;
            }
            // Each step is a rename or a removal, and each is repeated or skipped by the next
            // open if a crash cuts this short.
            if staging.join("log").exists() {
                let (log, old) = (self.path.join("log"), self.path.join("log.old"));
                if old.exists() {
                    std::fs::remove_dir_all(&old).map_err(at(&old))?;
                }
                if log.exists() {
                    std::fs::rename(&log, &old).map_err(at(&log))?;
                }
                std::fs::rename(staging.join("log"), &log).map_err(at(&staging))?;
                self.sync_directory()?;
                std::fs::remove_dir_all(&old).map_err(at(&old))?;
            }
            std::fs::remove_file(&marker).map_err(at(&marker))?;
        }
        self.discard_staging()
    }
}

/// A step of a [`MemHome`] that can be made to fail, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Replacing the model text.
    WriteModel,
    /// Every sync of the next staged log.
    StagingSync,
    /// Marking a staged log complete.
    CommitStaging,
    /// Finishing a purge whose staged log is marked complete.
    RecoverPurge,
}

/// A home in memory, for crash tests. Its clones share it, as a disk outlives the processes
/// that open it: a test keeps one, opens a node on another, injects a [`Fault`] or a failing
/// disk, drops the node, [`MemHome::crash`]es and opens a node again on what is left.
#[derive(Clone, Debug)]
pub struct MemHome(Arc<Mutex<MemDisk>>);

#[derive(Debug)]
struct MemDisk {
    model: String,
    log: Shared<MemBackend>,
    staging: Option<Shared<MemBackend>>,
    committed: bool,
    faults: Vec<Fault>,
}

impl MemHome {
    /// A home holding `model` and an empty log.
    pub fn new(model: &str) -> MemHome {
        MemHome(Arc::new(Mutex::new(MemDisk {
            model: model.to_owned(),
            log: Shared::new(MemBackend::new()),
            staging: None,
            committed: false,
            faults: Vec::new(),
        })))
    }

    fn disk(&self) -> MutexGuard<'_, MemDisk> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the next `fault` step fail.
    pub fn fail(&self, fault: Fault) {
        self.disk().faults.push(fault);
    }

    /// Lets `count` more syncs of the log succeed and fails every one after them (see
    /// [`MemBackend::fail_sync_after`]).
    pub fn fail_log_syncs_after(&self, count: usize) {
        self.disk().log.lock().fail_sync_after(count);
    }

    /// Loses every byte of the logs not synced, keeping `keep` bytes of each unsynced tail (see
    /// [`MemBackend::crash`]), and heals the disk: syncs succeed again and no fault is pending.
    pub fn crash(&self, keep: usize) {
        let mut disk = self.disk();
        disk.faults.clear();
        let logs = std::iter::once(disk.log.clone()).chain(disk.staging.clone());
        for log in logs {
            let mut log = log.lock();
            log.crash(keep);
            log.fail_sync_after(usize::MAX);
        }
    }

    /// The model text it holds.
    pub fn model(&self) -> String {
        self.disk().model.clone()
    }

    /// Whether a purge's staged log is there.
    pub fn has_staging(&self) -> bool {
        self.disk().staging.is_some()
    }
}

impl MemDisk {
    /// Whether `fault` was injected (it is used up).
    fn faulted(&mut self, fault: Fault) -> bool {
        let found = self.faults.iter().position(|f| *f == fault);
        found.map(|index| self.faults.remove(index)).is_some()
    }
}

fn injected(what: &str) -> NodeError {
    NodeError::Read {
        path: format!("memory:{what}"),
        source: std::io::Error::other("injected failure"),
    }
}

impl Home for MemHome {
    type Backend = Shared<MemBackend>;

    fn name(&self) -> String {
        "memory".to_owned()
    }

    fn model_label(&self) -> String {
        "memory:model.toml".to_owned()
    }

    fn read_model(&self) -> Result<String> {
        Ok(self.disk().model.clone())
    }

    fn write_model(&mut self, text: &str) -> Result<()> {
        let mut disk = self.disk();
        if disk.faulted(Fault::WriteModel) {
            return Err(injected("model.toml"));
        }
        disk.model = text.to_owned();
        Ok(())
    }

    fn open_log(&mut self) -> Result<Self::Backend> {
        Ok(self.disk().log.clone())
    }

    fn open_staging(&mut self) -> Result<Self::Backend> {
        let mut disk = self.disk();
        let mut staging = MemBackend::new();
        if disk.faulted(Fault::StagingSync) {
            staging.fail_sync_after(0);
        }
        let staging = Shared::new(staging);
        disk.staging = Some(staging.clone());
        Ok(staging)
    }

    fn discard_staging(&mut self) -> Result<()> {
        self.disk().staging = None;
        Ok(())
    }

    fn commit_staging(&mut self) -> Result<()> {
        let mut disk = self.disk();
        if disk.faulted(Fault::CommitStaging) {
            return Err(injected("PURGE-COMMITTED"));
        }
        disk.committed = true;
        Ok(())
    }

    fn recover_purge(&mut self) -> Result<()> {
        let mut disk = self.disk();
        if disk.committed {
            if disk.faulted(Fault::RecoverPurge) {
                return Err(injected("purge.staging"));
            }
            // The staged log, with no snapshots, replaces the log and its snapshots.
            if let Some(staging) = disk.staging.take() {
                disk.log = staging;
            }
            disk.committed = false;
        }
        disk.staging = None;
        Ok(())
    }
}
