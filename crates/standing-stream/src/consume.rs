//! The consumer: a fetching task per partition, each with at most two fetches in hand, and one
//! committer that admits what they fetched through the house, writes the refused records to
//! the dead-letter topic, and makes the accepted events durable together with each partition's
//! checkpoint.

use crate::config::{Partitions, Start, StreamConfig};
use crate::status::Status;
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use standing_accountability::House;
use standing_accountability::intake::{Intake, Outcome, RecordResult, Sender, Slot};
use standing_accountability::keys::{Key, Role};
use standing_core::{Event, Timestamp};
use standing_ingest::RecordError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the consumer runs beside: the house it feeds, and who is told of what it did.
pub trait Host: Send + Sync + 'static {
    fn house(&self) -> &House;
    /// A batch made durable (for counters such as events per source).
    fn taken(&self, _intake: &Intake) {}
}

/// Why consumption stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The log could not make a batch durable: the node must be reopened.
    #[error("the log could not make a batch durable: {0}")]
    NotDurable(String),
}

/// The origin logged with every event taken from `topic`.
pub fn origin(topic: &str) -> String {
    format!("kafka:{topic}")
}

/// Records fetched from one partition, in offset order.
struct Chunk {
    topic: usize,
    partition: u32,
    records: Vec<(u64, Option<Vec<u8>>)>,
    /// The offset after the last record.
    next: u64,
}

/// The retries of every request: from 100 ms up to 5 s apart, given up after 10 s so that a
/// broker that is gone is reported rather than waited on in silence.
fn backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        base: 2.0,
        deadline: Some(Duration::from_secs(10)),
    }
}

/// The pause after a failure, doubling from 200 ms to 30 s.
struct Pause(Duration);

impl Pause {
    fn new() -> Pause {
        Pause(Duration::from_millis(200))
    }
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(30));
    }
}

/// Consumes `config`'s topics into `host`'s house until `stop` turns true, reporting to
/// `status`. Brokers that cannot be reached are reported and retried with backoff; only a log
/// that cannot make a batch durable ends it.
pub async fn consume<H: Host>(
    host: Arc<H>,
    config: StreamConfig,
    status: Arc<Status>,
    mut stop: watch::Receiver<bool>,
    now: fn() -> Timestamp,
) -> Result<(), StreamError> {
    let mut pause = Pause::new();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let outcome = tokio::select! {
            outcome = run(&host, &config, &status, stop.clone(), now) => outcome,
            _ = stop.changed() => return Ok(()),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Broker(message)) => {
                tracing::warn!("Kafka: {message}; retrying");
                status.broker(Some(message));
                pause.wait().await;
            }
        }
    }
}

enum Failure {
    Broker(String),
    Fatal(StreamError),
}

/// The partitions to take: (topic index, partition).
async fn assigned(client: &Client, config: &StreamConfig) -> Result<Vec<(usize, u32)>, Failure> {
    let listed = client
        .list_topics()
        .await
        .map_err(|e| Failure::Broker(format!("cannot list topics: {e}")))?;
    let mut taken = Vec::new();
    for (index, topic) in config.topics.iter().enumerate() {
        let Some(found) = listed.iter().find(|t| t.name == topic.name) else {
            return Err(Failure::Broker(format!(
                "topic `{}` does not exist on the brokers",
                topic.name
            )));
        };
        match &topic.partitions {
            Partitions::All => {
                taken.extend(found.partitions.iter().map(|&p| (index, p as u32)));
            }
            Partitions::Listed(listed) => {
                if let Some(missing) = listed
                    .iter()
                    .find(|&&p| !found.partitions.contains(&(p as i32)))
                {
                    return Err(Failure::Broker(format!(
                        "topic `{}` has no partition {missing}",
                        topic.name
                    )));
                }
                taken.extend(listed.iter().map(|&p| (index, p)));
            }
        }
    }
    if !listed.iter().any(|t| t.name == config.dead_letters) {
        let created = client
            .controller_client()
            .map_err(|e| Failure::Broker(e.to_string()))?
            .create_topic(&config.dead_letters, 1, 1, 5_000)
            .await;
        if let Err(error) = created
            && !matches!(
                error,
                KafkaError::ServerError {
                    protocol_error: ProtocolError::TopicAlreadyExists,
                    ..
                }
            )
        {
            return Err(Failure::Broker(format!(
                "cannot create the dead-letter topic `{}`: {error}",
                config.dead_letters
            )));
        }
    }
    Ok(taken)
}

async fn run<H: Host>(
    host: &Arc<H>,
    config: &StreamConfig,
    status: &Arc<Status>,
    stop: watch::Receiver<bool>,
    now: fn() -> Timestamp,
) -> Result<(), Failure> {
    let client = ClientBuilder::new(config.brokers.clone())
        .client_id("standing")
        .max_message_size(config.fetch_bytes.max(1 << 20) * 2)
        .backoff_config(backoff())
        .build()
        .await
        .map_err(|e| Failure::Broker(format!("cannot reach {}: {e}", config.brokers.join(","))))?;
    let partitions = assigned(&client, config).await?;
    let dead = client
        .partition_client(&config.dead_letters, 0, UnknownTopicHandling::Retry)
        .await
        .map_err(|e| Failure::Broker(format!("the dead-letter topic: {e}")))?;
    status.broker(None);
    // Each partition's start: where the log says, else where its topic says a new one starts.
    let (sender, mut chunks) = mpsc::channel::<Chunk>(2 * partitions.len().max(1));
    let mut fetchers = tokio::task::JoinSet::new();
    for &(topic, partition) in &partitions {
        let name = &config.topics[topic].name;
        let client = client
            .partition_client(name, partition as i32, UnknownTopicHandling::Error)
            .await
            .map_err(|e| Failure::Broker(format!("{name}/{partition}: {e}")))?;
        let kept = {
            let node = host.house().read_node();
            node.engine().stream_position(name, partition)
        };
        let next = match kept {
            Some(next) => next,
            None => {
                let at = match config.topics[topic].start {
                    Start::Earliest => OffsetAt::Earliest,
                    Start::Latest => OffsetAt::Latest,
                };
                client
                    .get_offset(at)
                    .await
                    .map_err(|e| Failure::Broker(format!("{name}/{partition}: {e}")))?
                    as u64
            }
        };
        status.partition(name, partition, next);
        fetchers.spawn(fetch(
            client,
            topic,
            name.clone(),
            partition,
            next,
            config.clone(),
            Arc::clone(status),
            sender.clone(),
            stop.clone(),
        ));
    }
    drop(sender);
    let dead = Arc::new(dead);
    while let Some(first) = chunks.recv().await {
        let mut batch = vec![first];
        let mut records = batch[0].records.len();
        while records < config.batch_records {
            match chunks.try_recv() {
                Ok(chunk) => {
                    records += chunk.records.len();
                    batch.push(chunk);
                }
                Err(_) => break,
            }
        }
        commit(host, config, status, &dead, batch, now).await?;
    }
    fetchers.shutdown().await;
    Ok(())
}

/// Fetches one partition from `next` on, handing each fetch's records to the committer; the
/// channel's bound holds it back while commits are slower than fetches.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    client: PartitionClient,
    topic: usize,
    name: String,
    partition: u32,
    mut next: u64,
    config: StreamConfig,
    status: Arc<Status>,
    chunks: mpsc::Sender<Chunk>,
    stop: watch::Receiver<bool>,
) {
    let mut pause = Pause::new();
    let bytes = 1..i32::try_from(config.fetch_bytes).unwrap_or(i32::MAX);
    let wait = i32::try_from(config.max_wait.as_millis()).unwrap_or(i32::MAX);
    while !*stop.borrow() {
        match client.fetch_records(next as i64, bytes.clone(), wait).await {
            Ok((records, hwm)) => {
                pause = Pause::new();
                status.broker(None);
                status.high_watermark(&name, partition, hwm.max(0) as u64);
                let Some(last) = records.last().map(|r| r.offset) else {
                    continue;
                };
                let chunk = Chunk {
                    topic,
                    partition,
                    records: records
                        .into_iter()
                        .map(|r| (r.offset as u64, r.record.value))
                        .collect(),
                    next: last as u64 + 1,
                };
                next = chunk.next;
                if chunks.send(chunk).await.is_err() {
                    return;
                }
            }
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            }) => {
                // The broker no longer holds the records from `next`: taken from its earliest,
                // and said, since what lay between was never seen.
                match client.get_offset(OffsetAt::Earliest).await {
                    Ok(earliest) if earliest as u64 > next => {
                        tracing::warn!(
                            "Kafka: {name}/{partition}: offsets {next} to {} were removed from \
                             the broker before they were taken",
                            earliest - 1
                        );
                        next = earliest as u64;
                    }
                    Ok(_) => pause.wait().await,
                    Err(error) => {
                        status.broker(Some(format!("{name}/{partition}: {error}")));
                        pause.wait().await;
                    }
                }
            }
            Err(error) => {
                let message = format!("{name}/{partition}: {error}");
                tracing::warn!("Kafka: {message}; retrying");
                status.broker(Some(message));
                pause.wait().await;
            }
        }
    }
}

/// A refused record as a dead letter: its bytes, keyed by where it came from, with the code and
/// the reason in headers.
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    topic: &str,
    partition: u32,
    offset: u64,
    value: &[u8],
    code: &str,
    reason: &str,
    at: Timestamp,
) -> Record {
    let place = format!("{topic}/{partition}/{offset}");
    Record {
        key: Some(place.clone().into_bytes()),
        value: Some(value.to_vec()),
        headers: BTreeMap::from([
            ("standing.topic".to_owned(), topic.as_bytes().to_vec()),
            (
                "standing.partition".to_owned(),
                partition.to_string().into_bytes(),
            ),
            (
                "standing.offset".to_owned(),
                offset.to_string().into_bytes(),
            ),
            ("standing.code".to_owned(), code.as_bytes().to_vec()),
            ("standing.reason".to_owned(), reason.as_bytes().to_vec()),
        ]),
        timestamp: rskafka::chrono::DateTime::from_timestamp(at.0, 0).unwrap_or_default(),
    }
}

/// Takes a batch of chunks: per topic, through the house with the topic's source, with every
/// partition's checkpoint in the same commit; refused records to the dead-letter topic first
/// (so that a crash before the commit writes them again rather than never).
async fn commit<H: Host>(
    host: &Arc<H>,
    config: &StreamConfig,
    status: &Arc<Status>,
    dead: &Arc<PartitionClient>,
    batch: Vec<Chunk>,
    now: fn() -> Timestamp,
) -> Result<(), Failure> {
    let mut by_topic: BTreeMap<usize, Vec<Chunk>> = BTreeMap::new();
    for chunk in batch {
        by_topic.entry(chunk.topic).or_default().push(chunk);
    }
    for (topic, chunks) in by_topic {
        let topic = config.topics[topic].clone();
        let name = topic.name.clone();
        let worker = Arc::clone(host);
        let dead = Arc::clone(dead);
        let runtime = tokio::runtime::Handle::current();
        let status_inner = Arc::clone(status);
        let (intake, chunks) = tokio::task::spawn_blocking(move || {
            let key = Key {
                id: origin(&topic.name),
                role: Role::Source {
                    source: topic.source.clone(),
                },
                hash: String::new(),
                created_at: None,
                expires_at: None,
                revoked_at: None,
            };
            let at = now();
            let checkpoints: Vec<Event> = chunks
                .iter()
                .map(|c| Event::checkpoint(&topic.name, c.partition, c.next, at))
                .collect();
            let places: Vec<(u32, u64, &[u8])> = chunks
                .iter()
                .flat_map(|c| {
                    c.records.iter().map(|(offset, value)| {
                        (c.partition, *offset, value.as_deref().unwrap_or(&[]))
                    })
                })
                .collect();
            let read = |_: &standing_rules::Model| -> Result<Vec<Slot>, String> {
                Ok(chunks
                    .iter()
                    .flat_map(|c| c.records.iter())
                    .map(|(_, value)| match value {
                        Some(value) => Ok(value.clone()),
                        None => Err(RecordError::MalformedJson(
                            "the Kafka record has no value".into(),
                        )),
                    })
                    .collect())
            };
            let refused = |results: &[RecordResult]| -> Result<(), String> {
                let letters: Vec<Record> = results
                    .iter()
                    .filter_map(|result| match &result.outcome {
                        Outcome::Rejected { code, reason } => {
                            let (partition, offset, value) = places[result.index];
                            Some(dead_letter(
                                &topic.name,
                                partition,
                                offset,
                                value,
                                code,
                                reason,
                                at,
                            ))
                        }
                        _ => None,
                    })
                    .collect();
                let count = letters.len() as u64;
                if count > 0 {
                    runtime
                        .block_on(dead.produce(letters, Compression::NoCompression))
                        .map_err(|e| format!("cannot write dead letters: {e}"))?;
                    status_inner.dead_letters(count);
                }
                Ok(())
            };
            let intake =
                worker
                    .house()
                    .ingest_from(Sender { key: &key }, read, &checkpoints, refused);
            (intake, chunks)
        })
        .await
        .map_err(|e| Failure::Fatal(StreamError::NotDurable(e.to_string())))?;
        let intake = match intake {
            Ok(intake) => intake,
            Err(standing_accountability::intake::IntakeError::Read(message)) => {
                return Err(Failure::Broker(message));
            }
            Err(other) => return Err(Failure::Fatal(StreamError::NotDurable(other.to_string()))),
        };
        host.taken(&intake);
        let moved: Vec<(&str, u32, u64, u64)> = chunks
            .iter()
            .map(|c| (name.as_str(), c.partition, c.next, c.records.len() as u64))
            .collect();
        status.committed(
            &moved,
            intake.accepted(),
            intake.duplicate() + intake.conflict(),
            intake.rejected(),
        );
    }
    Ok(())
}
