//! `cluster.toml`: every process of a cluster (its HTTP address, its timely address, its data
//! directory), the secret the processes share and how long one waits for another. Every process
//! reads the same file; a process is its index in the list.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A cluster as its file describes it, checked.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The file it was read from.
    pub path: PathBuf,
    pub processes: Vec<Process>,
    /// What a process shows another to be trusted with what only processes may ask.
    pub secret: String,
    /// How long a process waits for another's answer before calling it down.
    pub timeout: Duration,
    /// How long a process waits for another to move its clock or solve its part of the
    /// network (work that takes a second or more per million subjects).
    pub work_timeout: Duration,
}

/// One process of a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Where it serves the API (`host:port`), for clients and for the other processes.
    pub http: String,
    /// Where its timely worker listens for the network solve (`host:port`).
    pub timely: String,
    /// Its data directory (relative paths are taken from the file's directory).
    pub data: PathBuf,
}

/// Why a cluster file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{path}: the secret file {secret}: {source}")]
    Secret {
        path: String,
        secret: String,
        source: std::io::Error,
    },
}

/// The file's form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    secret_file: Spanned<String>,
    #[serde(default)]
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    work_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    placement: Option<Spanned<String>>,
    #[serde(default)]
    process: Vec<ProcessFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessFile {
    http: Spanned<String>,
    timely: Spanned<String>,
    data: Spanned<String>,
}

/// The shortest secret taken, in bytes: the processes trust each other's calls by it.
const SECRET_MIN: usize = 16;
/// How long a process waits for another unless the file says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a process waits for another's clock move or part of the solve unless the file says
/// otherwise: far above the second or two a million subjects take, and still a bound.
pub const DEFAULT_WORK_TIMEOUT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Cluster, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Cluster::parse(path, &text)
    }

    /// Checks `text`, read from `path` (which names it in errors and anchors relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Cluster, ConfigError> {
        let shown = path.display().to_string();
        let file: File = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: shown.clone(),
            message: error.to_string().trim_end().replace('\n', " "),
        })?;
        let line = |span: std::ops::Range<usize>| {
            1 + text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        };
        let invalid =
            |span: std::ops::Range<usize>, field: String, message: String| ConfigError::Invalid {
                path: shown.clone(),
                line: line(span),
                field,
                message,
            };
        if file.process.is_empty() {
            return Err(ConfigError::Invalid {
                path: shown,
                line: 1,
                field: "process".into(),
                message: "no process is listed: add a [[process]] table per process".into(),
            });
        }
        if let Some(placement) = &file.placement
            && placement.get_ref() != "hash"
        {
            return Err(invalid(
                placement.span(),
                "placement".into(),
                format!(
                    "`{}` is not a placement a live cluster can keep: only \"hash\" (each \
                     subject's owner from a stable hash of its id)",
                    placement.get_ref()
                ),
            ));
        }
        let millis = |field: &Option<Spanned<u64>>, name: &str, default: Duration| match field {
            None => Ok(default),
            Some(ms) if *ms.get_ref() == 0 => {
                Err(invalid(ms.span(), name.into(), "must be at least 1".into()))
            }
            Some(ms) => Ok(Duration::from_millis(*ms.get_ref())),
        };
        let timeout = millis(&file.timeout_ms, "timeout_ms", DEFAULT_TIMEOUT)?;
        let work_timeout = millis(
            &file.work_timeout_ms,
            "work_timeout_ms",
            DEFAULT_WORK_TIMEOUT,
        )?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut processes: Vec<Process> = Vec::with_capacity(file.process.len());
        for (index, process) in file.process.iter().enumerate() {
            for (name, address) in [("http", &process.http), ("timely", &process.timely)] {
                let field = format!("process[{index}].{name}");
                if address.get_ref().parse::<std::net::SocketAddr>().is_err()
                    && address
                        .get_ref()
                        .rsplit_once(':')
                        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
                {
                    return Err(invalid(
                        address.span(),
                        field,
                        format!("`{}` is not host:port", address.get_ref()),
                    ));
                }
                let taken = processes
                    .iter()
                    .position(|p| p.http == *address.get_ref() || p.timely == *address.get_ref());
                let own = name == "timely" && process.http.get_ref() == address.get_ref();
                if let Some(other) = if own { Some(index) } else { taken } {
                    return Err(invalid(
                        address.span(),
                        field,
                        format!(
                            "{} is also an address of process {other}: each process listens on \
                             addresses of its own",
                            address.get_ref()
                        ),
                    ));
                }
            }
            let data = base.join(process.data.get_ref());
            if let Some(other) = processes.iter().position(|p| p.data == data) {
                return Err(invalid(
                    process.data.span(),
                    format!("process[{index}].data"),
                    format!(
                        "{} is also the data directory of process {other}",
                        data.display()
                    ),
                ));
            }
            processes.push(Process {
                http: process.http.get_ref().clone(),
                timely: process.timely.get_ref().clone(),
                data,
            });
        }
        let secret_path = base.join(file.secret_file.get_ref());
        let secret =
            std::fs::read_to_string(&secret_path).map_err(|source| ConfigError::Secret {
                path: shown.clone(),
                secret: secret_path.display().to_string(),
                source,
            })?;
        let secret = secret.trim().to_owned();
        if secret.len() < SECRET_MIN {
            return Err(invalid(
                file.secret_file.span(),
                "secret_file".into(),
                format!(
                    "{} holds {} bytes; a cluster's secret has at least {SECRET_MIN} (make one \
                     with `head -c 32 /dev/urandom | base64 > {}`)",
                    secret_path.display(),
                    secret.len(),
                    file.secret_file.get_ref()
                ),
            ));
        }
        Ok(Cluster {
            path: path.to_owned(),
            processes,
            secret,
            timeout,
            work_timeout,
        })
    }

    /// The number of processes.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// A process's name in messages: its index and HTTP address.
    pub fn name(&self, process: usize) -> String {
        format!("process {process} ({})", self.processes[process].http)
    }
}

#[cfg(test)]
mod tests {
    use super::Cluster;

    /// A file with `body` after a valid secret line, in a directory holding a secret file.
    fn check(body: &str) -> Result<Cluster, String> {
        let dir =
            std::env::temp_dir().join(format!("standing-cluster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s"), "0123456789abcdef0123\n").unwrap();
        let text = format!("secret_file = \"s\"\n{body}");
        Cluster::parse(&dir.join("cluster.toml"), &text).map_err(|e| e.to_string())
    }

    const P0: &str =
        "[[process]]\nhttp = \"127.0.0.1:1\"\ntimely = \"127.0.0.1:2\"\ndata = \"a\"\n";

    #[test]
    fn bad_files_name_the_line_and_field() {
        let cases = [
            ("", "process: no process is listed"),
            (
                &format!("placement = \"communities\"\n{P0}"),
                ":2: placement:",
            ),
            (
                &format!("timeout_ms = 0\n{P0}"),
                ":2: timeout_ms: must be at least 1",
            ),
            (
                &format!("work_timeout_ms = 0\n{P0}"),
                ":2: work_timeout_ms: must be at least 1",
            ),
            (
                "[[process]]\nhttp = \"nowhere\"\ntimely = \"127.0.0.1:2\"\ndata = \"a\"\n",
                ":3: process[0].http: `nowhere` is not host:port",
            ),
            (
                &format!(
                    "{P0}[[process]]\nhttp = \"127.0.0.1:2\"\ntimely = \"127.0.0.1:3\"\ndata = \"b\"\n"
                ),
                ":7: process[1].http: 127.0.0.1:2 is also an address of process 0",
            ),
            (
                &format!(
                    "{P0}[[process]]\nhttp = \"127.0.0.1:3\"\ntimely = \"127.0.0.1:4\"\ndata = \"a\"\n"
                ),
                ":9: process[1].data:",
            ),
            (
                "[[process]]\nhttp = \"127.0.0.1:1\"\n",
                "missing field `timely`",
            ),
            ("colour = 1\n", "unknown field `colour`"),
        ];
        for (body, expected) in cases {
            let error = check(body).expect_err(body);
            assert!(error.contains(expected), "{body:?}: {error}");
        }
        let cluster = check(P0).unwrap();
        assert_eq!(cluster.len(), 1);
        assert_eq!(cluster.timeout, super::DEFAULT_TIMEOUT);
        assert_eq!(cluster.work_timeout, super::DEFAULT_WORK_TIMEOUT);
        assert!(cluster.processes[0].data.ends_with("a"));
    }
}
