//! Every model version the server was given, kept: `models/VERSION.toml` in the data directory,
//! never overwritten with other text. The active one is `model.toml` (which the node reads); a
//! version is uploaded and checked first, its impact seen, then activated.

use crate::House;
use rayon::prelude::*;
use serde_json::{Value, json};
use standing_engine::Engine;
use standing_node::NodeError;
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

/// Why a stored version's impact, or its activation, could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ModelChangeError {
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The log's events do not check under the version.
    #[error("{0}")]
    DoesNotFit(NodeError),
    #[error(transparent)]
    Node(NodeError),
}

impl From<NodeError> for ModelChangeError {
    fn from(error: NodeError) -> ModelChangeError {
        match error {
            NodeError::Model { .. } | NodeError::Replay { .. } => {
                ModelChangeError::DoesNotFit(error)
            }
            error => ModelChangeError::Node(error),
        }
    }
}

impl House {
    /// What stored `version` would change: grade changes and decisions flipped per purpose,
    /// from the whole log replayed under it. Changes nothing; holds the node for reading
    /// meanwhile (intake waits: seconds per ten million events).
    pub fn model_impact(&self, version: &str) -> Result<Value, ModelChangeError> {
        let text = self.versions.text(version)?;
        let node = self.read_node();
        let clock = node.engine().clock();
        let candidate = node.candidate(&format!("models/{version}.toml"), &text, clock)?;
        Ok(impact(node.engine(), &candidate.engine))
    }

    /// Makes stored `version` the active model (the engine rebuilt from the log under it, the
    /// node held alone meanwhile); returns what it changed.
    pub fn activate_model(&self, version: &str) -> Result<Value, ModelChangeError> {
        let text = self.versions.text(version)?;
        let mut node = self.write_node();
        let clock = node.engine().clock();
        let candidate = node.candidate(&format!("models/{version}.toml"), &text, clock)?;
        let answer = impact(node.engine(), &candidate.engine);
        node.activate(candidate)?;
        Ok(answer)
    }
}

/// What `candidate` (the same log under another model) changes from `current`.
pub fn impact(current: &Engine, candidate: &Engine) -> Value {
    let (now, next) = (current.model(), candidate.model());
    let subjects = current.subject_count();
    // Both engines replayed the same log: subject `i` is the same person in each.
    let grades = |engine: &Engine| -> Vec<usize> {
        engine
            .served_scores()
            .into_iter()
            .map(|score| engine.grade_index(score))
            .collect()
    };
    let (before, after) = (grades(current), grades(candidate));
    // A cluster's process counts its own subjects, not its contacts elsewhere.
    let own = |index: usize| current.is_own(index as u32);
    let subjects_counted = (0..subjects).filter(|&i| own(i)).count();
    let mut transitions: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for (_, (&from, &to)) in before
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(index, (from, to))| from != to && own(*index))
    {
        let key = (
            now.scale.grades[from].name.as_str(),
            next.scale.grades[to].name.as_str(),
        );
        *transitions.entry(key).or_default() += 1;
    }
    let grade_changes: u64 = transitions.values().sum();
    let purposes: Vec<Value> = next
        .purposes
        .iter()
        .map(|purpose| {
            let existed = now.purpose(&purpose.name).is_some();
            let (to_deny, to_allow) = (0..subjects as u32)
                .into_par_iter()
                .with_min_len(1024)
                .filter(|&index| current.is_own(index))
                .map(|index| {
                    let subject = current.subject_name(index);
                    let before = current.decide(&purpose.name, subject).map(|d| d.verdict);
                    let after = candidate.decide(&purpose.name, subject).map(|d| d.verdict);
                    match (before, after) {
                        (Some(b), Some(a)) if b != a && a == standing_core::Verdict::Deny => (1u64, 0u64),
                        (Some(b), Some(a)) if b != a => (0, 1),
                        _ => (0, 0),
                    }
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            json!({"purpose": purpose.name, "new": !existed, "allow_to_deny": to_deny, "deny_to_allow": to_allow})
        })
        .collect();
    json!({
        "from": now.version_label(),
        "to": next.version_label(),
        "subjects": subjects_counted,
        "grade_changes": grade_changes,
        "transitions": transitions.iter().map(|((from, to), count)| json!({"from": from, "to": to, "count": count})).collect::<Vec<_>>(),
        "purposes": purposes,
        "dropped_purposes": now.purposes.iter().filter(|p| next.purpose(&p.name).is_none()).map(|p| p.name.clone()).collect::<Vec<_>>(),
    })
}
