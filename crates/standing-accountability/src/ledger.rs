//! A small append-only JSON-lines file for the duties' own records (consents, reviews,
//! disputes): each record is synced before the call that made it is answered; opening reads them
//! all back and cuts a torn last line (a write cut by a crash, never acknowledged). A
//! [`LedgerMap`] keeps the latest record per key in memory, durable first.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
    fn hold(&self) -> std::sync::MutexGuard<'_, (File, u64)> {
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

/// The latest record per key of a ledger, in memory: a change is appended and synced first and
/// in force after (the next reader sees it), and readers never wait for a sync — one writer at a
/// time holds `writing` over its check and its sync, and the map's lock only to insert.
#[derive(Debug)]
pub struct LedgerMap<K, V> {
    ledger: Ledger,
    current: Mutex<BTreeMap<K, V>>,
    writing: Mutex<()>,
}

impl<K: Ord, V: Serialize + DeserializeOwned + Clone> LedgerMap<K, V> {
    /// Opens the ledger at `path`; a later record of a key supersedes an earlier one.
    pub fn open(path: &Path, key: impl Fn(&V) -> K) -> Result<LedgerMap<K, V>, LedgerError> {
        let (ledger, records) = Ledger::open::<V>(path)?;
        let current = records.into_iter().map(|v| (key(&v), v)).collect();
        Ok(LedgerMap {
            ledger,
            current: Mutex::new(current),
            writing: Mutex::new(()),
        })
    }

    /// The records in force, briefly: hold the guard for a look, not across other work.
    pub fn read(&self) -> MutexGuard<'_, BTreeMap<K, V>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record in force for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.read().get(key).cloned()
    }

    /// Changes the record of `key`: `change` sees the record in force (with no other writer
    /// meanwhile) and returns the new one, which is made durable and then put in force; or an
    /// error, and nothing changes.
    pub fn write<E: From<LedgerError>>(
        &self,
        key: K,
        change: impl FnOnce(Option<&V>) -> Result<V, E>,
    ) -> Result<V, E> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.read().get(&key).cloned();
        let record = change(now.as_ref())?;
        self.ledger.append(&record)?;
        self.read().insert(key, record.clone());
        Ok(record)
    }

    /// Keeps `record` for `key` unless the key has one already: the record in force either way.
    pub fn insert_new(&self, key: K, record: V) -> Result<V, LedgerError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.read().get(&key) {
            return Ok(existing.clone());
        }
        self.ledger.append(&record)?;
        self.read().insert(key, record.clone());
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Note {
        id: String,
        text: String,
    }

    fn note(id: &str, text: &str) -> Note {
        Note {
            id: id.into(),
            text: text.into(),
        }
    }

    fn directory(name: &str) -> standing_devkit::TempDir {
        standing_devkit::TempDir::new(&format!("ledger-{name}"))
    }

    fn open(path: &Path) -> LedgerMap<String, Note> {
        LedgerMap::open(path, |n: &Note| n.id.clone()).unwrap()
    }

    /// A reader never waits for a writer's disk sync: with the ledger's file held (as a slow
    /// `fdatasync` holds it), a record being written does not hold up `get`.
    #[test]
    fn a_reader_does_not_wait_for_a_ledger_sync() {
        let directory = directory("lock");
        let map = std::sync::Arc::new(open(&directory.join("notes.jsonl")));
        map.write("n-1".into(), |_| Ok::<_, LedgerError>(note("n-1", "a")))
            .unwrap();
        let syncing = map.ledger.hold();
        let writer = {
            let map = std::sync::Arc::clone(&map);
            std::thread::spawn(move || {
                map.write("n-2".into(), |_| Ok::<_, LedgerError>(note("n-2", "b")))
            })
        };
        // Give the writer time to reach the ledger (it then waits for the file).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (answered, answer) = std::sync::mpsc::channel();
        let reader = {
            let map = std::sync::Arc::clone(&map);
            std::thread::spawn(move || answered.send(map.get("n-1").is_some()))
        };
        let read = answer.recv_timeout(std::time::Duration::from_secs(5));
        drop(syncing);
        writer.join().unwrap().unwrap();
        reader.join().unwrap().unwrap();
        assert_eq!(read, Ok(true), "the reader waited for the writer's sync");
        assert!(map.get("n-2").is_some());
    }

    /// What was written is read back after a reopen, the latest record of a key in force; a
    /// torn last line (a crash mid-write, never acknowledged) is cut; a refused change writes
    /// nothing.
    #[test]
    fn records_survive_a_reopen_and_a_torn_line_is_cut() {
        let directory = directory("reopen");
        let path = directory.join("notes.jsonl");
        {
            let map = open(&path);
            map.write("n-1".into(), |_| Ok::<_, LedgerError>(note("n-1", "a")))
                .unwrap();
            map.write("n-1".into(), |was| {
                assert_eq!(was, Some(&note("n-1", "a")));
                Ok::<_, LedgerError>(note("n-1", "b"))
            })
            .unwrap();
            let refused = map.write("n-2".into(), |_| {
                Err(LedgerError::Encode {
                    path: "-".into(),
                    reason: "refused".into(),
                })
            });
            assert!(refused.is_err());
        }
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"id":"n-3","te"#).unwrap();
        drop(file);
        let map = open(&path);
        assert_eq!(map.get("n-1"), Some(note("n-1", "b")));
        assert_eq!(map.get("n-2"), None);
        assert_eq!(map.get("n-3"), None);
        assert_eq!(map.read().len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "the torn line is cut: {text}");
    }

    /// A line that is not a record is an error naming the file and the line, not skipped.
    #[test]
    fn a_corrupt_line_is_an_error_naming_its_place() {
        let directory = directory("corrupt");
        let path = directory.join("notes.jsonl");
        std::fs::write(&path, "{\"id\":\"n-1\",\"text\":\"a\"}\nnot json\n").unwrap();
        let error = LedgerMap::open(&path, |n: &Note| n.id.clone()).unwrap_err();
        assert!(
            matches!(error, LedgerError::Corrupt { line: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("notes.jsonl:2"), "{error}");
    }
}
