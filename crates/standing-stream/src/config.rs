//! What to consume: the brokers, each topic with the source it speaks for, which of its
//! partitions, and where a partition never taken starts — from a TOML file (`kafka.toml` in the
//! data directory, or any file) or from flags. Errors name the file, the line and the field.

use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A stream intake, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    pub topics: Vec<Topic>,
    /// Where records that fail to parse or check are written, with where they came from and why.
    pub dead_letters: String,
    /// How long a fetch waits at most for records to arrive.
    pub max_wait: Duration,
    /// The most bytes a fetch asks for, per partition.
    pub fetch_bytes: usize,
    /// The most records made durable in one commit: a slow disk makes commits slower, so
    /// fetches wait (each partition has at most two fetches in hand), and memory stays bounded.
    pub batch_records: usize,
}

/// One topic and what it may say.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    pub name: String,
    /// The source this topic speaks for: a record naming another is refused, as a source key's
    /// would be.
    pub source: String,
    pub partitions: Partitions,
    /// Where a partition the log has never taken starts.
    pub start: Start,
}

/// Which partitions of a topic this process consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitions {
    All,
    Listed(Vec<u32>),
}

/// Where a partition never taken starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its first record still held.
    Earliest,
    /// Only records published from now on.
    Latest,
}

/// Why a stream configuration was not taken.
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
}

/// The dead-letter topic unless the file names another.
pub const DEFAULT_DEAD_LETTERS: &str = "standing.dead-letters";
const DEFAULT_MAX_WAIT_MS: u64 = 50;
const DEFAULT_FETCH_BYTES: usize = 8 << 20;
const DEFAULT_BATCH_RECORDS: usize = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    brokers: Vec<Spanned<String>>,
    #[serde(default)]
    dead_letters: Option<Spanned<String>>,
    #[serde(default)]
    max_wait_ms: Option<Spanned<u64>>,
    #[serde(default)]
    fetch_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    batch_records: Option<Spanned<u64>>,
    #[serde(default)]
    topic: Vec<TopicFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    name: Spanned<String>,
    source: Spanned<String>,
    #[serde(default)]
    partitions: Option<Spanned<PartitionsFile>>,
    #[serde(default)]
    start: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PartitionsFile {
    Word(String),
    Listed(Vec<i64>),
}

/// A Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn topic_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 249 {
        Some("must be 1 to 249 characters")
    } else if name == "." || name == ".." {
        Some("cannot be `.` or `..`")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Some("may hold only letters, digits, `.`, `_` and `-`")
    } else {
        None
    }
}

/// `host:port`.
fn is_address(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

impl StreamConfig {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<StreamConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        StreamConfig::parse(&path.display().to_string(), &text)
    }

    /// Checks `text`, named `path` in errors.
    pub fn parse(path: &str, text: &str) -> Result<StreamConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            message: error.to_string().trim_end().replace('\n', " "),
        })?;
        let line = |span: std::ops::Range<usize>| {
            1 + text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        };
        let invalid =
            |span: std::ops::Range<usize>, field: &str, message: String| ConfigError::Invalid {
                path: path.to_owned(),
                line: line(span),
                field: field.to_owned(),
                message,
            };
        let whole = |field: &str, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            line: 1,
            field: field.to_owned(),
            message: message.to_owned(),
        };
        if file.brokers.is_empty() {
            return Err(whole(
                "brokers",
                "no broker is listed: brokers = [\"host:port\", …]",
            ));
        }
        for (index, broker) in file.brokers.iter().enumerate() {
            if !is_address(broker.get_ref()) {
                return Err(invalid(
                    broker.span(),
                    &format!("brokers[{index}]"),
                    format!("`{}` is not host:port", broker.get_ref()),
                ));
            }
        }
        if file.topic.is_empty() {
            return Err(whole(
                "topic",
                "no topic is listed: add a [[topic]] table with its name and source",
            ));
        }
        let mut topics: Vec<Topic> = Vec::new();
        for (index, topic) in file.topic.iter().enumerate() {
            let field = |name: &str| format!("topic[{index}].{name}");
            if let Some(problem) = topic_name_problem(topic.name.get_ref()) {
                return Err(invalid(topic.name.span(), &field("name"), problem.into()));
            }
            if topics.iter().any(|t| t.name == *topic.name.get_ref()) {
                return Err(invalid(
                    topic.name.span(),
                    &field("name"),
                    format!("`{}` is listed twice", topic.name.get_ref()),
                ));
            }
            if let Err(problem) = standing_core::id::check_id(topic.source.get_ref()) {
                return Err(invalid(
                    topic.source.span(),
                    &field("source"),
                    format!(
                        "`{}` is not a source name: {problem}",
                        topic.source.get_ref()
                    ),
                ));
            }
            let partitions = match topic.partitions.as_ref().map(|p| (p.span(), p.get_ref())) {
                None => Partitions::All,
                Some((_, PartitionsFile::Word(word))) if word == "all" => Partitions::All,
                Some((span, PartitionsFile::Word(word))) => {
                    return Err(invalid(
                        span,
                        &field("partitions"),
                        format!("`{word}` is neither \"all\" nor a list of partition numbers"),
                    ));
                }
                Some((span, PartitionsFile::Listed(listed))) => {
                    let mut numbers = Vec::with_capacity(listed.len());
                    for &number in listed {
                        let number = u32::try_from(number).ok().filter(|&n| n < i32::MAX as u32);
                        match number {
                            Some(n) if !numbers.contains(&n) => numbers.push(n),
                            _ => {
                                return Err(invalid(
                                    span,
                                    &field("partitions"),
                                    "partitions are distinct numbers from 0".into(),
                                ));
                            }
                        }
                    }
                    if numbers.is_empty() {
                        return Err(invalid(
                            span,
                            &field("partitions"),
                            "an empty list takes nothing: leave the topic out instead".into(),
                        ));
                    }
                    numbers.sort_unstable();
                    Partitions::Listed(numbers)
                }
            };
            let start = match topic.start.as_ref() {
                None => Start::Earliest,
                Some(word) => match word.get_ref().as_str() {
                    "earliest" => Start::Earliest,
                    "latest" => Start::Latest,
                    other => {
                        return Err(invalid(
                            word.span(),
                            &field("start"),
                            format!("`{other}` is neither \"earliest\" nor \"latest\""),
                        ));
                    }
                },
            };
            topics.push(Topic {
                name: topic.name.get_ref().clone(),
                source: topic.source.get_ref().clone(),
                partitions,
                start,
            });
        }
        let dead_letters = match &file.dead_letters {
            None => DEFAULT_DEAD_LETTERS.to_owned(),
            Some(name) => {
                if let Some(problem) = topic_name_problem(name.get_ref()) {
                    return Err(invalid(name.span(), "dead_letters", problem.into()));
                }
                if topics.iter().any(|t| t.name == *name.get_ref()) {
                    return Err(invalid(
                        name.span(),
                        "dead_letters",
                        "is a topic consumed: dead letters would be read back".into(),
                    ));
                }
                name.get_ref().clone()
            }
        };
        let positive =
            |value: &Option<Spanned<u64>>, name: &str, default: u64, most: u64| match value {
                None => Ok(default),
                Some(v) if *v.get_ref() == 0 || *v.get_ref() > most => {
                    Err(invalid(v.span(), name, format!("must be from 1 to {most}")))
                }
                Some(v) => Ok(*v.get_ref()),
            };
        let max_wait = positive(
            &file.max_wait_ms,
            "max_wait_ms",
            DEFAULT_MAX_WAIT_MS,
            60_000,
        )?;
        let fetch_bytes = positive(
            &file.fetch_bytes,
            "fetch_bytes",
            DEFAULT_FETCH_BYTES as u64,
            1 << 30,
        )?;
        let batch_records = positive(
            &file.batch_records,
            "batch_records",
            DEFAULT_BATCH_RECORDS as u64,
            10_000_000,
        )?;
        Ok(StreamConfig {
            brokers: file.brokers.iter().map(|b| b.get_ref().clone()).collect(),
            topics,
            dead_letters,
            max_wait: Duration::from_millis(max_wait),
            fetch_bytes: fetch_bytes as usize,
            batch_records: batch_records as usize,
        })
    }

    /// A configuration from flags: `brokers` (`host:port,…`) and each topic as `NAME=SOURCE`,
    /// all partitions, from the earliest record.
    pub fn from_flags(brokers: &str, topics: &[String]) -> Result<StreamConfig, ConfigError> {
        let mut text = String::from("brokers = [");
        for broker in brokers.split(',').filter(|b| !b.is_empty()) {
            text.push_str(&format!("{:?}, ", broker.trim()));
        }
        text.push_str("]\n");
        for topic in topics {
            let Some((name, source)) = topic.split_once('=') else {
                return Err(ConfigError::Invalid {
                    path: "--topic".into(),
                    line: 1,
                    field: topic.clone(),
                    message: "is not NAME=SOURCE".into(),
                });
            };
            text.push_str(&format!(
                "[[topic]]\nname = {:?}\nsource = {:?}\n",
                name.trim(),
                source.trim()
            ));
        }
        StreamConfig::parse("the --kafka and --topic flags", &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_with_its_defaults() {
        let config = StreamConfig::parse(
            "kafka.toml",
            "brokers = [\"127.0.0.1:9092\"]\n\
             [[topic]]\nname = \"payments\"\nsource = \"payments\"\n\
             [[topic]]\nname = \"courts.v1\"\nsource = \"courts\"\npartitions = [2, 0]\nstart = \"latest\"\n",
        )
        .unwrap();
        assert_eq!(config.dead_letters, DEFAULT_DEAD_LETTERS);
        assert_eq!(config.topics[0].partitions, Partitions::All);
        assert_eq!(config.topics[0].start, Start::Earliest);
        assert_eq!(config.topics[1].partitions, Partitions::Listed(vec![0, 2]));
        assert_eq!(config.topics[1].start, Start::Latest);
        assert_eq!(config.max_wait, Duration::from_millis(DEFAULT_MAX_WAIT_MS));
    }

    /// Each bad file, and the place and words its error must hold.
    #[test]
    fn a_bad_file_is_refused_naming_the_line_and_the_field() {
        let head = "brokers = [\"127.0.0.1:9092\"]\n";
        let cases: &[(&str, &str)] = &[
            ("", "kafka.toml:1: brokers: no broker is listed"),
            (
                "brokers = [\"nohost\"]\n",
                "kafka.toml:1: brokers[0]: `nohost` is not host:port",
            ),
            (head, "kafka.toml:1: topic: no topic is listed"),
            (
                "brokers = [\"b:1\"]\n[[topic]]\nname = \"a b\"\nsource = \"s\"\n",
                "kafka.toml:3: topic[0].name: may hold only",
            ),
            (
                "brokers = [\"b:1\"]\n[[topic]]\nname = \"t\"\nsource = \"s\"\nstart = \"middle\"\n",
                "kafka.toml:5: topic[0].start: `middle` is neither",
            ),
            (
                "brokers = [\"b:1\"]\n[[topic]]\nname = \"t\"\nsource = \"s\"\npartitions = [0, 0]\n",
                "kafka.toml:5: topic[0].partitions: partitions are distinct",
            ),
            (
                "brokers = [\"b:1\"]\ndead_letters = \"t\"\n[[topic]]\nname = \"t\"\nsource = \"s\"\n",
                "kafka.toml:2: dead_letters: is a topic consumed",
            ),
            (
                "brokers = [\"b:1\"]\nmax_wait_ms = 0\n[[topic]]\nname = \"t\"\nsource = \"s\"\n",
                "kafka.toml:2: max_wait_ms: must be from 1",
            ),
            (
                "brokers = [\"b:1\"]\n[[topic]]\nname = \"t\"\nsourse = \"s\"\n",
                "unknown field `sourse`",
            ),
        ];
        for (text, expected) in cases {
            let error = StreamConfig::parse("kafka.toml", text)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(expected),
                "for {text:?}: expected {expected:?} in {error:?}"
            );
        }
    }

    #[test]
    fn flags_make_the_same_configuration_as_a_file() {
        let flags =
            StreamConfig::from_flags("127.0.0.1:9092", &["payments=payments".into()]).unwrap();
        let file = StreamConfig::parse(
            "kafka.toml",
            "brokers = [\"127.0.0.1:9092\"]\n[[topic]]\nname = \"payments\"\nsource = \"payments\"\n",
        )
        .unwrap();
        assert_eq!(flags, file);
        let error = StreamConfig::from_flags("127.0.0.1:9092", &["payments".into()]).unwrap_err();
        assert!(error.to_string().contains("is not NAME=SOURCE"), "{error}");
    }
}
