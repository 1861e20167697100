//! Temporary directories for tests: one per call, named for the test and the process, empty
//! when made and removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under the system's temporary directory, removed (with what it holds) when
/// dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

/// Tells apart the directories one process makes under the same name.
static MADE: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    /// An empty directory `standing-NAME-PID-N`.
    pub fn new(name: &str) -> TempDir {
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("standing-{name}-{}-{made}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(error) = std::fs::create_dir_all(&path) {
            panic!("a temporary directory {}: {error}", path.display());
        }
        TempDir { path }
    }

    /// A data directory holding the sample city model as `model.toml`, and nothing else.
    pub fn with_city_model(name: &str) -> TempDir {
        let directory = TempDir::new(name);
        let model = directory.path.join("model.toml");
        if let Err(error) = std::fs::write(&model, standing_rules::SAMPLE_CITY_MODEL) {
            panic!("{}: {error}", model.display());
        }
        directory
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_directory_is_new_and_removed_when_dropped() {
        let first = TempDir::with_city_model("devkit");
        let second = TempDir::new("devkit");
        assert_ne!(first.path(), second.path());
        assert!(first.join("model.toml").is_file());
        assert_eq!(std::fs::read_dir(second.path()).unwrap().count(), 0);
        let path = first.path().to_owned();
        drop(first);
        assert!(!path.exists());
    }
}
