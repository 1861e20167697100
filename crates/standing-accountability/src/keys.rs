//! API keys: who may call what. A key is a random 256-bit secret shown once at creation; the
//! store (`keys.json` in the data directory) keeps only its SHA-256, its role and what the role
//! is bound to (a consumer's purposes, a source key's source, a subject key's subject), when it
//! expires and whether it was revoked. When each key was last used is kept beside it in
//! `keys-used.json`, written by the server.
//!
//! Every change of the store also counts up a generation kept in `keys.gen` (8 bytes, written
//! in place after `keys.json` is replaced). A server reads that generation on every request (one
//! `pread` of an open file, no path lookup) and the store again when it moved, so a key revoked
//! by `standing keys revoke` is refused from the very next request on; once a second it also
//! looks at `keys.json` itself, for a change made by hand. Writers (the command line, the
//! server's revoke endpoint) take `keys.lock` and read the file again before they change it, so
//! neither loses the other's change.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use standing_core::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The kinds of key, as endpoints allow them and the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    /// Sends events, for its source only.
    Source,
    /// Asks for scores and decisions, for its purposes only.
    Consumer,
    /// Runs the system: reads everything.
    Operator,
    /// A person reading what is held about them: their own access report, nothing else.
    Subject,
}

impl RoleKind {
    pub const ALL: [RoleKind; 4] = [
        RoleKind::Source,
        RoleKind::Consumer,
        RoleKind::Operator,
        RoleKind::Subject,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RoleKind::Source => "source",
            RoleKind::Consumer => "consumer",
            RoleKind::Operator => "operator",
            RoleKind::Subject => "subject",
        }
    }

    pub fn parse(text: &str) -> Option<RoleKind> {
        RoleKind::ALL.into_iter().find(|kind| kind.name() == text)
    }
}

/// What a key may do, with what its role is bound to: a source key always has its source, a
/// consumer its purposes, a subject key its subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends events as `source` only: records naming another are refused.
    Source { source: String },
    /// Asks for scores and decisions for these purposes only (at least one).
    Consumer { purposes: Vec<String> },
    /// Runs the system; with `history`, it may import records that carry their own
    /// `recorded_at`.
    Operator { history: bool },
    /// Reads and acts for this one subject only.
    Subject { subject: String },
    /// A source key made before keys were bound to a source: it would speak for any source, so
    /// it is refused, and kept only to be listed and revoked.
    UnboundSource,
}

impl Role {
    pub fn kind(&self) -> RoleKind {
        match self {
            Role::Source { .. } | Role::UnboundSource => RoleKind::Source,
            Role::Consumer { .. } => RoleKind::Consumer,
            Role::Operator { .. } => RoleKind::Operator,
            Role::Subject { .. } => RoleKind::Subject,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// A consumer's purposes (none for other keys).
    pub fn purposes(&self) -> &[String] {
        match self {
            Role::Consumer { purposes } => purposes,
            _ => &[],
        }
    }

    /// A subject key's subject.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Role::Subject { subject } => Some(subject),
            _ => None,
        }
    }

    /// A source key's source.
    pub fn source(&self) -> Option<&str> {
        match self {
            Role::Source { source } => Some(source),
            _ => None,
        }
    }

    /// Whether the key may import history.
    pub fn history(&self) -> bool {
        matches!(self, Role::Operator { history: true })
    }
}

/// One stored key (without its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredKey", into = "StoredKey")]
pub struct Key {
    /// A public name for the key, shown in logs and kept with every event it sent: `key-` and
    /// 8 hex digits.
    pub id: String,
    pub role: Role,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    pub created_at: Option<Timestamp>,
    /// From this instant on the key is refused.
    pub expires_at: Option<Timestamp>,
    /// When the key was revoked: refused from then on.
    pub revoked_at: Option<Timestamp>,
}

/// A key as `keys.json` holds it: its role and what the role is bound to, side by side.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredKey {
    id: String,
    role: RoleKind,
    #[serde(default)]
    purposes: Vec<String>,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    history: bool,
    #[serde(
        default,
        with = "crate::instant::option",
        skip_serializing_if = "Option::is_none"
    )]
    created_at: Option<Timestamp>,
    #[serde(
        default,
        with = "crate::instant::option",
        skip_serializing_if = "Option::is_none"
    )]
    expires_at: Option<Timestamp>,
    #[serde(
        default,
        with = "crate::instant::option",
        skip_serializing_if = "Option::is_none"
    )]
    revoked_at: Option<Timestamp>,
}

impl TryFrom<StoredKey> for Key {
    type Error = String;

    fn try_from(stored: StoredKey) -> Result<Key, String> {
        let id = stored.id;
        let role = match (stored.role, stored.source, stored.subject) {
            (RoleKind::Source, Some(source), _) => Role::Source { source },
            (RoleKind::Source, None, _) => Role::UnboundSource,
            (RoleKind::Consumer, _, _) => Role::Consumer {
                purposes: stored.purposes,
            },
            (RoleKind::Operator, _, _) => Role::Operator {
                history: stored.history,
            },
            (RoleKind::Subject, _, Some(subject)) => Role::Subject { subject },
            (RoleKind::Subject, _, None) => {
                return Err(format!("key {id}: a subject key names no subject"));
            }
        };
        Ok(Key {
            id,
            role,
            hash: stored.hash,
            created_at: stored.created_at,
            expires_at: stored.expires_at,
            revoked_at: stored.revoked_at,
        })
    }
}

impl From<Key> for StoredKey {
    fn from(key: Key) -> StoredKey {
        StoredKey {
            role: key.role.kind(),
            purposes: key.role.purposes().to_vec(),
            subject: key.role.subject().map(str::to_owned),
            source: key.role.source().map(str::to_owned),
            history: key.role.history(),
            id: key.id,
            hash: key.hash,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

impl Key {
    /// Why the key may not be used at `now`, if it may not.
    pub fn refusal(&self, now: Timestamp) -> Option<KeyRefusal> {
        if let Some(at) = self.revoked_at {
            return Some(KeyRefusal::Revoked(at));
        }
        // A source key made before keys were bound to a source would speak for any source.
        if self.role == Role::UnboundSource {
            return Some(KeyRefusal::Unbound);
        }
        match self.expires_at {
            Some(at) if at <= now => Some(KeyRefusal::Expired(at)),
            _ => None,
        }
    }

    /// Whether the key is of `kind`.
    pub fn is(&self, kind: RoleKind) -> bool {
        self.role.kind() == kind
    }
}

/// Why a known key is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    Revoked(Timestamp),
    Expired(Timestamp),
    /// A source key bound to no source (made before keys were bound).
    Unbound,
}

/// What a new key is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub role: RoleKind,
    pub purposes: Vec<String>,
    pub subject: Option<String>,
    pub source: Option<String>,
    pub history: bool,
    pub expires_at: Option<Timestamp>,
}

impl KeySpec {
    /// A key of `role` bound to nothing more.
    pub fn new(role: RoleKind) -> KeySpec {
        KeySpec {
            role,
            purposes: Vec::new(),
            subject: None,
            source: None,
            history: false,
            expires_at: None,
        }
    }

    /// A source key for `source`.
    pub fn source(source: &str) -> KeySpec {
        KeySpec {
            source: Some(source.to_owned()),
            ..KeySpec::new(RoleKind::Source)
        }
    }

    /// A consumer key for `purposes`.
    pub fn consumer(purposes: &[&str]) -> KeySpec {
        KeySpec {
            purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
            ..KeySpec::new(RoleKind::Consumer)
        }
    }

    /// A subject's key: it reads that subject's access report and nothing else.
    pub fn subject(subject: &str) -> KeySpec {
        KeySpec {
            subject: Some(subject.to_owned()),
            ..KeySpec::new(RoleKind::Subject)
        }
    }

    /// The role, when what the spec binds it to fits it.
    fn role(self) -> Result<Role, KeyError> {
        let wrong = |reason: &str| Err(KeyError::Spec(reason.to_owned()));
        if (self.role == RoleKind::Subject) != self.subject.is_some() {
            return wrong("a subject key, and only a subject key, names its person (--subject)");
        }
        if (self.role == RoleKind::Source) != self.source.is_some() {
            return wrong("a source key, and only a source key, names its source (--source)");
        }
        if (self.role == RoleKind::Consumer) == self.purposes.is_empty() {
            return wrong("a consumer key, and only a consumer key, has purposes (--purpose)");
        }
        if self.history && self.role != RoleKind::Operator {
            return wrong("only an operator key may import history (--history)");
        }
        for bound in self.subject.iter().chain(&self.source) {
            if let Err(problem) = standing_core::id::check_id(bound) {
                return Err(KeyError::Spec(format!(
                    "`{bound}` is not an id: it {problem}"
                )));
            }
        }
        match (self.role, self.source, self.subject) {
            (RoleKind::Source, Some(source), None) => Ok(Role::Source { source }),
            (RoleKind::Consumer, None, None) => Ok(Role::Consumer {
                purposes: self.purposes,
            }),
            (RoleKind::Operator, None, None) => Ok(Role::Operator {
                history: self.history,
            }),
            (RoleKind::Subject, None, Some(subject)) => Ok(Role::Subject { subject }),
            _ => wrong("a key is bound to one thing only: its source, purposes or subject"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a key store: {reason}")]
    Format { path: String, reason: String },
    #[error("no random numbers from the system: {0}")]
    Random(String),
    #[error("{0}")]
    Spec(String),
    #[error("no key `{0}` (see `standing keys list`)")]
    Unknown(String),
}

/// The keys of a data directory, as read from `keys.json`.
#[derive(Clone, Debug, Default)]
pub struct KeyStore {
    path: PathBuf,
    keys: Vec<Key>,
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    text
}

fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn read_keys(path: &Path) -> Result<Vec<Key>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|error| KeyError::Format {
            path: path.display().to_string(),
            reason: error.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(KeyError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

impl KeyStore {
    /// The store of `directory` (empty when it has no `keys.json` yet).
    pub fn open(directory: &Path) -> Result<KeyStore, KeyError> {
        let path = directory.join("keys.json");
        let keys = read_keys(&path)?;
        Ok(KeyStore { path, keys })
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Creates a key and saves the store (written to a temporary file, synced, renamed).
    /// Returns the key and its secret, which is stored nowhere.
    pub fn create(&mut self, spec: KeySpec, now: Timestamp) -> Result<(Key, String), KeyError> {
        let expires_at = spec.expires_at;
        let role = spec.role()?;
        let mut random = [0u8; 36];
        getrandom::fill(&mut random).map_err(|error| KeyError::Random(error.to_string()))?;
        let secret = format!("stk_{}", hex(&random[..32]));
        let key = Key {
            id: format!("key-{}", hex(&random[32..])),
            role,
            hash: digest(&secret),
            created_at: Some(now),
            expires_at,
            revoked_at: None,
        };
        self.change(|keys| {
            keys.push(key.clone());
            Ok(())
        })?;
        Ok((key, secret))
    }

    /// Revokes a key at `now`: it is refused from the next request on. Revoking a revoked key
    /// changes nothing and returns it as it is.
    pub fn revoke(&mut self, id: &str, now: Timestamp) -> Result<Key, KeyError> {
        let mut revoked = None;
        self.change(|keys| {
            let key = keys
                .iter_mut()
                .find(|key| key.id == id)
                .ok_or_else(|| KeyError::Unknown(id.to_owned()))?;
            key.revoked_at.get_or_insert(now);
            revoked = Some(key.clone());
            Ok(())
        })?;
        revoked.ok_or_else(|| KeyError::Unknown(id.to_owned()))
    }

    /// Takes in another store's keys (a cluster's processes keep one set of keys): keys it does
    /// not hold yet are added, and a key revoked there is revoked here (at the earlier time).
    /// Keys are never removed and a revocation never undone, so stores that take in each other's
    /// keys agree whatever the order. Saves only when something changed; returns how many keys
    /// changed.
    pub fn merge(&mut self, others: &[Key]) -> Result<usize, KeyError> {
        let news = |keys: &[Key]| {
            others
                .iter()
                .filter(|other| match keys.iter().find(|key| key.id == other.id) {
                    None => true,
                    Some(key) => match (key.revoked_at, other.revoked_at) {
                        (None, Some(_)) => true,
                        (Some(mine), Some(theirs)) => theirs < mine,
                        _ => false,
                    },
                })
                .count()
        };
        if news(&read_keys(&self.path)?) == 0 {
            return Ok(0);
        }
        let mut changed = 0;
        self.change(|keys| {
            changed = news(keys);
            for other in others {
                match keys.iter_mut().find(|key| key.id == other.id) {
                    None => keys.push(other.clone()),
                    Some(key) => {
                        if let Some(theirs) = other.revoked_at
                            && key.revoked_at.is_none_or(|mine| theirs < mine)
                        {
                            key.revoked_at = Some(theirs);
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(changed)
    }

    /// Changes the keys under `keys.lock`, on the file as it is now (another process may have
    /// changed it), and saves them.
    fn change(
        &mut self,
        edit: impl FnOnce(&mut Vec<Key>) -> Result<(), KeyError>,
    ) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        let mut keys = read_keys(&self.path)?;
        edit(&mut keys)?;
        let text = serde_json::to_string_pretty(&keys).map_err(|error| KeyError::Format {
            path: self.path.display().to_string(),
            reason: format!("the keys could not be written: {error}"),
        })?;
        let temporary = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        if let Some(directory) = self.path.parent() {
            std::fs::File::open(directory)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        // A running server sees the change at its next request.
        let generation = open_generation(&self.path).map_err(io)?;
        let next = read_generation(&generation).wrapping_add(1);
        write_generation(&generation, next).map_err(io)?;
        self.keys = keys;
        Ok(())
    }

    /// The key whose secret this is.
    pub fn authenticate(&self, secret: &str) -> Option<&Key> {
        let hash = digest(secret);
        self.keys.iter().find(|key| key.hash == hash)
    }

    /// When each key was last used, as the server last wrote it (`keys-used.json`).
    pub fn last_used(&self) -> BTreeMap<String, Timestamp> {
        let path = self.path.with_file_name(USED_FILE);
        let Ok(text) = std::fs::read_to_string(path) else {
            return BTreeMap::new();
        };
        let read: BTreeMap<String, String> = serde_json::from_str(&text).unwrap_or_default();
        read.into_iter()
            .filter_map(|(id, at)| Some((id, Timestamp::parse(&at).ok()?)))
            .collect()
    }
}

/// Where the server keeps when each key was last used.
const USED_FILE: &str = "keys-used.json";
/// The generation of the store: counted up by every change.
const GENERATION_FILE: &str = "keys.gen";

fn open_generation(keys: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(keys.with_file_name(GENERATION_FILE))
}

fn read_generation(file: &std::fs::File) -> u64 {
    let mut bytes = [0u8; 8];
    #[cfg(unix)]
    let read = std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, 0);
    #[cfg(not(unix))]
    let read: std::io::Result<()> = {
        let _ = file;
        Ok(())
    };
    match read {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

fn write_generation(file: &std::fs::File, generation: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::write_all_at(file, &generation.to_le_bytes(), 0);
    #[cfg(not(unix))]
    {
        let _ = (file, generation);
        Ok(())
    }
}

/// A server's keys: the store, read again when `keys.json` changed, and when each key was last
/// used (kept in memory, written to `keys-used.json` by [`LiveKeys::save_last_used`]).
#[derive(Debug)]
pub struct LiveKeys {
    current: RwLock<Current>,
    /// `keys.gen`, open: read on every request.
    generation_file: Option<std::fs::File>,
    /// `keys.json`'s modification time, length and inode when last looked at.
    file_stamp: Mutex<Option<FileStamp>>,
}

type FileStamp = (Option<std::time::SystemTime>, u64, u64);

#[derive(Debug)]
struct Current {
    store: KeyStore,
    /// The generation the keys were read at.
    generation: u64,
    keys: Vec<Arc<Key>>,
    /// Unix seconds of each key's last use (by index in `keys`), 0 for never.
    used: Arc<[AtomicI64]>,
    /// What was last written to `keys-used.json`.
    saved: BTreeMap<String, Timestamp>,
}

impl Current {
    fn new(store: KeyStore, saved: BTreeMap<String, Timestamp>, generation: u64) -> Current {
        let keys: Vec<Arc<Key>> = store.keys.iter().cloned().map(Arc::new).collect();
        let used = keys
            .iter()
            .map(|key| AtomicI64::new(saved.get(&key.id).map_or(0, |at| at.0)))
            .collect();
        Current {
            store,
            generation,
            keys,
            used,
            saved,
        }
    }
}

/// What authenticating a secret found.
#[derive(Debug)]
pub enum Authenticated {
    Key(Arc<Key>),
    Unknown,
    Refused(Arc<Key>, KeyRefusal),
}

impl LiveKeys {
    pub fn new(store: KeyStore) -> LiveKeys {
        let saved = store.last_used();
        let generation_file = open_generation(&store.path).ok();
        let generation = generation_file.as_ref().map_or(0, read_generation);
        // Read again at this generation: a change between the store's reading and now counts.
        let store = read_keys(&store.path)
            .map(|keys| KeyStore {
                path: store.path.clone(),
                keys,
            })
            .unwrap_or(store);
        let live = LiveKeys {
            current: RwLock::new(Current::new(store, saved, generation)),
            generation_file,
            file_stamp: Mutex::new(None),
        };
        live.notice_file_change();
        live
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Current> {
        self.current.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads `keys.json` again if it changed since (its generation moved). A file that cannot
    /// be read (broken by hand) leaves the keys as they were.
    fn refresh(&self) {
        let Some(file) = &self.generation_file else {
            return;
        };
        let generation = read_generation(file);
        if generation == self.read().generation {
            return;
        }
        self.reload(generation);
    }

    /// Reads `keys.json` again, once a second (the server's watcher calls it), when the file
    /// changed without its generation moving: edited by hand, or written by a writer whose
    /// generation write failed.
    pub fn notice_file_change(&self) {
        let path = self.read().store.path.clone();
        let stamp = std::fs::metadata(&path).ok().map(|metadata| {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
            #[cfg(not(unix))]
            let inode = 0;
            (metadata.modified().ok(), metadata.len(), inode)
        });
        let mut seen = self.file_stamp.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == stamp {
            return;
        }
        let first = seen.is_none();
        *seen = stamp;
        drop(seen);
        if !first {
            let generation = self.read().generation;
            self.reload(generation);
        }
    }

    /// Replaces the keys with `keys.json` as it is now, read at `generation`; their last uses
    /// are kept.
    fn reload(&self, generation: u64) {
        let path = self.read().store.path.clone();
        let Ok(keys) = read_keys(&path) else {
            return;
        };
        let mut current = self.write();
        let mut saved = current.saved.clone();
        for (key, used) in current.keys.iter().zip(current.used.iter()) {
            let at = used.load(Ordering::Relaxed);
            if at > 0 {
                saved.insert(key.id.clone(), Timestamp(at));
            }
        }
        *current = Current::new(KeyStore { path, keys }, saved, generation);
    }

    /// The key whose secret this is, if it may be used at `now`; its use is noted.
    pub fn authenticate(&self, secret: &str, now: Timestamp) -> Authenticated {
        self.refresh();
        let hash = digest(secret);
        let current = self.read();
        let Some(index) = current.keys.iter().position(|key| key.hash == hash) else {
            return Authenticated::Unknown;
        };
        let key = Arc::clone(&current.keys[index]);
        if let Some(refusal) = key.refusal(now) {
            return Authenticated::Refused(key, refusal);
        }
        current.used[index].fetch_max(now.0, Ordering::Relaxed);
        Authenticated::Key(key)
    }

    /// Revokes a key (as [`KeyStore::revoke`]): refused from the next request on.
    pub fn revoke(&self, id: &str, now: Timestamp) -> Result<Key, KeyError> {
        self.refresh();
        let mut store = self.read().store.clone();
        let key = store.revoke(id, now)?;
        // The next request reads the file this wrote.
        self.refresh();
        Ok(key)
    }

    /// Every key with when it was last used.
    pub fn list(&self) -> Vec<(Arc<Key>, Option<Timestamp>)> {
        self.refresh();
        let current = self.read();
        current
            .keys
            .iter()
            .zip(current.used.iter())
            .map(|(key, used)| {
                let at = used.load(Ordering::Relaxed);
                (Arc::clone(key), (at > 0).then_some(Timestamp(at)))
            })
            .collect()
    }

    /// Writes when each key was last used to `keys-used.json`, if that changed since the last
    /// write (written to a temporary file and renamed; not synced: a crash loses at most the
    /// last moments' uses, never a key).
    pub fn save_last_used(&self) -> Result<(), KeyError> {
        let (path, used) = {
            let current = self.read();
            let mut used = current.saved.clone();
            for (key, at) in current.keys.iter().zip(current.used.iter()) {
                let at = at.load(Ordering::Relaxed);
                if at > 0 {
                    used.insert(key.id.clone(), Timestamp(at));
                }
            }
            if used == current.saved {
                return Ok(());
            }
            (current.store.path.with_file_name(USED_FILE), used)
        };
        let text: BTreeMap<&str, String> = used
            .iter()
            .map(|(id, at)| (id.as_str(), at.to_string()))
            .collect();
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let temporary = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&text).map_err(|error| KeyError::Format {
            path: path.display().to_string(),
            reason: format!("the last uses could not be written: {error}"),
        })?;
        std::fs::write(&temporary, bytes).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        self.write().saved = used;
        Ok(())
    }
}
