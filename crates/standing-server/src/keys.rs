//! API keys: who may call what. A key is a random 256-bit secret shown once at creation; the
//! store (`keys.json` in the data directory) keeps only its SHA-256, its role and, for a
//! consumer, the purposes it may use.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends events.
    Source,
    /// Asks for scores and decisions, for its purposes only.
    Consumer,
    /// Runs the system: reads everything.
    Operator,
    /// A person reading what is held about them: their own access report, nothing else.
    Subject,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Consumer => "consumer",
            Role::Operator => "operator",
            Role::Subject => "subject",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "source" => Some(Role::Source),
            "consumer" => Some(Role::Consumer),
            "operator" => Some(Role::Operator),
            "subject" => Some(Role::Subject),
            _ => None,
        }
    }
}

/// One stored key (without its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// A public name for the key, shown in logs: `key-` and 8 hex digits.
    pub id: String,
    pub role: Role,
    /// For a consumer, the purposes it may use.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// For a subject key, whose data it reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

#[derive(Debug, thiserror::Error)]
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
}

/// The keys of a data directory.
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

impl KeyStore {
    /// The store of `directory` (empty when it has no `keys.json` yet).
    pub fn open(directory: &Path) -> Result<KeyStore, KeyError> {
        let path = directory.join("keys.json");
        let keys = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|error| KeyError::Format {
                path: path.display().to_string(),
                reason: error.to_string(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(KeyError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Ok(KeyStore { path, keys })
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Creates a key and saves the store (written to a temporary file, synced, renamed).
    /// Returns the key and its secret, which is stored nowhere.
    pub fn create(&mut self, role: Role, purposes: Vec<String>) -> Result<(Key, String), KeyError> {
        self.insert(role, purposes, None)
    }

    /// Creates a subject's key: it reads that subject's access report and nothing else.
    pub fn create_for_subject(&mut self, subject: &str) -> Result<(Key, String), KeyError> {
        self.insert(Role::Subject, Vec::new(), Some(subject.to_owned()))
    }

    fn insert(
        &mut self,
        role: Role,
        purposes: Vec<String>,
        subject: Option<String>,
    ) -> Result<(Key, String), KeyError> {
        let mut random = [0u8; 36];
        getrandom::fill(&mut random).map_err(|error| KeyError::Random(error.to_string()))?;
        let secret = format!("stk_{}", hex(&random[..32]));
        let key = Key {
            id: format!("key-{}", hex(&random[32..])),
            role,
            purposes,
            hash: digest(&secret),
            subject,
        };
        self.keys.push(key.clone());
        self.save()?;
        Ok((key, secret))
    }

    fn save(&self) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let text = serde_json::to_string_pretty(&self.keys).unwrap_or_default();
        let temporary = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, &self.path).map_err(io)
    }

    /// The key whose secret this is.
    pub fn authenticate(&self, secret: &str) -> Option<&Key> {
        let hash = digest(secret);
        self.keys.iter().find(|key| key.hash == hash)
    }
}
