//! A small append-only JSON-lines file for the server's own records (consents, reviews): each
//! record is synced before the call that made it is answered; opening reads them all back and
//! cuts a torn last line (a write cut by a crash, never acknowledged).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a record: {reason}")]
    Corrupt {
        path: String,
        line: usize,
        reason: String,
    },
    /// A record could not be written as JSON: nothing was appended.
    #[error("{path}: a record could not be written: {reason}")]
    Encode { path: String, reason: String },
}

/// An append-only file of `T`s.
#[derive(Debug)]
pub struct Ledger {
    /// The file and its length up to the last record written whole.
    file: Mutex<(File, u64)>,
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating) `path` and reads back every record.
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(Ledger, Vec<T>), LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut records = Vec::new();
        let mut good = 0u64;
        if let Ok(file) = File::open(path) {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            let mut number = 0;
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line).map_err(io)?;
                if read == 0 {
                    break;
                }
                number += 1;
                if !line.ends_with(b"\n") {
                    break; // torn: never acknowledged
                }
                let record =
                    serde_json::from_slice(&line).map_err(|error| LedgerError::Corrupt {
                        path: path.display().to_string(),
                        line: number,
                        reason: error.to_string(),
                    })?;
                records.push(record);
                good += read as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.set_len(good).map_err(io)?;
        Ok((
            Ledger {
                file: Mutex::new((file, good)),
                path: path.to_owned(),
            },
            records,
        ))
    }

    /// Holds the file as an append does, meanwhile: for tests of what may wait on a sync.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, (File, u64)> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a record and syncs it. On failure the file is cut back to the records before.
    pub fn append<T: Serialize>(&self, record: &T) -> Result<(), LedgerError> {
        let mut line = serde_json::to_vec(record).map_err(|error| LedgerError::Encode {
            path: self.path.display().to_string(),
            reason: error.to_string(),
        })?;
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let (file, length) = &mut *guard;
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if let Err(source) = written {
            let _ = file.set_len(*length);
            return Err(LedgerError::Io {
                path: self.path.display().to_string(),
                source,
            });
        }
        *length += line.len() as u64;
        Ok(())
    }
}
