//! Every model version the server was given, kept: `models/VERSION.toml` in the data directory,
//! never overwritten with other text. The active one is `model.toml` (which the node reads); a
//! version is uploaded and checked first, its impact seen, then activated.

use standing_rules::{Diagnostic, check_model};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The text does not check: every problem, located.
    #[error("the model has {} problem(s)", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(
        "version `{0}` is stored with other text; versions are never overwritten: give this one a new `version`"
    )]
    Conflict(String),
    #[error("version `{0}` may hold only letters, digits, `.`, `-` and `_` (it names a file)")]
    BadName(String),
    #[error("no model version `{0}` is stored")]
    Unknown(String),
}

/// One stored version.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub version: String,
    pub name: String,
    pub stored_at: Option<std::time::SystemTime>,
    pub active: bool,
}

/// The versions of a data directory.
#[derive(Debug)]
pub struct Versions {
    directory: PathBuf,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> VersionError + '_ {
    move |source| VersionError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn valid_name(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl Versions {
    /// Opens `DIR/models/`, storing the active `model.toml` as a version if it is not yet.
    pub fn open(directory: &Path) -> Result<Versions, VersionError> {
        let versions = Versions {
            directory: directory.join("models"),
        };
        std::fs::create_dir_all(&versions.directory).map_err(io(&versions.directory))?;
        let active = directory.join("model.toml");
        let text = std::fs::read_to_string(&active).map_err(io(&active))?;
        match versions.store(&text) {
            Ok(_) | Err(VersionError::Conflict(_)) => Ok(versions),
            // The node refuses a model.toml that does not check, before this is reached.
            Err(VersionError::Invalid(_)) | Err(VersionError::BadName(_)) => Ok(versions),
            Err(error) => Err(error),
        }
    }

    /// Checks `text` and stores it as its `version`; storing the same text again is a no-op.
    /// Returns the version and the checker's warnings.
    pub fn store(&self, text: &str) -> Result<(String, Vec<Diagnostic>), VersionError> {
        let checked = check_model("uploaded model", text);
        let Some(model) = checked.model else {
            return Err(VersionError::Invalid(checked.diagnostics));
        };
        if !valid_name(&model.version) {
            return Err(VersionError::BadName(model.version));
        }
        let path = self.path(&model.version);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => {}
            Ok(_) => return Err(VersionError::Conflict(model.version)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let staged = path.with_extension("toml.new");
                std::fs::write(&staged, text).map_err(io(&staged))?;
                std::fs::rename(&staged, &path).map_err(io(&path))?;
            }
            Err(error) => return Err(io(&path)(error)),
        }
        Ok((model.version, checked.diagnostics))
    }

    /// The text of a stored version.
    pub fn text(&self, version: &str) -> Result<String, VersionError> {
        if !valid_name(version) {
            return Err(VersionError::Unknown(version.into()));
        }
        let path = self.path(version);
        std::fs::read_to_string(&path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => VersionError::Unknown(version.into()),
            _ => io(&path)(error),
        })
    }

    /// Every stored version, oldest first; `active` names the one in force.
    pub fn list(&self, active: &str) -> Result<Vec<Version>, VersionError> {
        let mut versions = Vec::new();
        let entries = std::fs::read_dir(&self.directory).map_err(io(&self.directory))?;
        for entry in entries {
            let entry = entry.map_err(io(&self.directory))?;
            let path = entry.path();
            let Some(version) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".toml"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let name = check_model("stored model", &text)
                .model
                .map_or_else(String::new, |model| model.name);
            versions.push(Version {
                version: version.to_owned(),
                name,
                stored_at: entry.metadata().ok().and_then(|m| m.modified().ok()),
                active: version == active,
            });
        }
        versions.sort_by(|a, b| {
            a.stored_at
                .cmp(&b.stored_at)
                .then_with(|| a.version.cmp(&b.version))
        });
        Ok(versions)
    }

    fn path(&self, version: &str) -> PathBuf {
        self.directory.join(format!("{version}.toml"))
    }
}
