//! Against a real Kafka-protocol broker (`tansu`, started here on 127.0.0.1 with memory
//! storage; `.ci/run` installs it): records published are taken exactly once, refused ones go
//! to the dead-letter topic with where they came from, and a restart resumes at the checkpoint.

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use standing_accountability::House;
use standing_core::Timestamp;
use standing_devkit::TempDir;
use standing_stream::{Host, Status, StreamConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn topic(address: &str, name: &str, partitions: i32) -> Vec<PartitionClient> {
    let client = ClientBuilder::new(vec![address.to_owned()])
        .build()
        .await
        .unwrap();
    client
        .controller_client()
        .unwrap()
        .create_topic(name, partitions, 1, 5_000)
        .await
        .unwrap();
    let mut clients = Vec::new();
    for partition in 0..partitions {
        clients.push(
            client
                .partition_client(name, partition, UnknownTopicHandling::Retry)
                .await
                .unwrap(),
        );
    }
    clients
}

fn record(value: &str) -> Record {
    Record {
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: Default::default(),
        timestamp: rskafka::chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    }
}

fn payment(id: usize, subject: usize) -> String {
    format!(
        r#"{{"id":"pay-{id}","subject":"p-{subject}","type":"payment.on_time","occurred_at":"2026-11-01T00:00:00Z","fields":{{"amount":10.5,"creditor":"c"}}}}"#
    )
}

struct Alone(House);
impl Host for Alone {
    fn house(&self) -> &House {
        &self.0
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-25T00:00:00Z").unwrap()
}

/// Consumes until `done` holds of the figures (bounded), then stops; returns the house.
async fn consume_until(
    dir: &std::path::Path,
    config: &StreamConfig,
    done: impl Fn(&standing_stream::Figures) -> bool,
) -> (Arc<Alone>, standing_stream::Figures) {
    let (node, _) = standing_node::Node::open(dir, now()).unwrap();
    let host = Arc::new(Alone(House::open(node, now).unwrap()));
    let status = Arc::new(Status::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(standing_stream::consume(
        Arc::clone(&host),
        config.clone(),
        Arc::clone(&status),
        stopped,
        now,
    ));
    let started = Instant::now();
    while !done(&status.figures()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not done in 30 s: {:?}",
            status.figures()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the consumer stops when told")
        .unwrap()
        .unwrap();
    (host, status.figures())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_taken_once_refused_ones_dead_lettered_and_a_restart_resumes() {
    let broker = standing_devkit::broker::Broker::start();
    let partitions = topic(&broker.address, "payments", 2).await;
    // Partition 0: three good records and two bad (another source, a field out of range);
    // partition 1: two good, one a republished copy of partition 0's first.
    partitions[0]
        .produce(
            vec![
                record(&payment(1, 1)),
                record(&payment(1, 1).replace("\"id\"", "\"source\":\"courts\",\"id\"")),
                record(&payment(2, 2)),
                record(&payment(3, 3).replace("10.5", "-1")),
                record(&payment(4, 1)),
            ],
            Compression::NoCompression,
        )
        .await
        .unwrap();
    partitions[1]
        .produce(
            vec![record(&payment(5, 5)), record(&payment(1, 1))],
            Compression::NoCompression,
        )
        .await
        .unwrap();
    let dir = TempDir::with_city_model("stream-once");
    let config =
        StreamConfig::from_flags(&broker.address, &["payments=payments".to_owned()]).unwrap();
    let (host, figures) = consume_until(&dir, &config, |f| {
        f.partitions.len() == 2
            && f.partitions
                .iter()
                .all(|p| p.lag() == Some(0) && p.next > 0)
    })
    .await;
    assert_eq!(
        (figures.accepted, figures.duplicate, figures.rejected),
        (4, 1, 2),
        "{figures:?}"
    );
    assert_eq!(figures.dead_letters, 2);
    {
        let node = host.0.read_node();
        assert_eq!(node.engine().stream_position("payments", 0), Some(5));
        assert_eq!(node.engine().stream_position("payments", 1), Some(2));
        // Each accepted event carries its topic as origin.
        let logged = node.event_record("payments", "pay-4").unwrap().unwrap();
        assert_eq!(logged.origin, "kafka:payments");
    }
    drop(host);

    // The dead letters: each with its place and its located reason.
    let client = ClientBuilder::new(vec![broker.address.clone()])
        .build()
        .await
        .unwrap();
    let dead = client
        .partition_client("standing.dead-letters", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let (letters, _) = dead.fetch_records(0, 1..1_000_000, 100).await.unwrap();
    let places: Vec<(String, String, String)> = letters
        .iter()
        .map(|l| {
            let header = |name: &str| String::from_utf8(l.record.headers[name].clone()).unwrap();
            (
                header("standing.offset"),
                header("standing.code"),
                header("standing.reason"),
            )
        })
        .collect();
    assert_eq!(places.len(), 2, "{places:?}");
    assert_eq!(places[0].0, "1");
    assert!(places[0].2.contains("courts"), "{places:?}");
    assert_eq!(places[1].0, "3");
    assert!(places[1].2.contains("amount"), "{places:?}");

    // More published; a restart takes only those, from the checkpoint on.
    partitions[0]
        .produce(vec![record(&payment(6, 6))], Compression::NoCompression)
        .await
        .unwrap();
    let (host, figures) = consume_until(&dir, &config, |f| {
        f.partitions.iter().any(|p| p.partition == 0 && p.next == 6)
    })
    .await;
    assert_eq!(
        (figures.accepted, figures.duplicate, figures.rejected),
        (1, 0, 0),
        "{figures:?}"
    );
    let node = host.0.read_node();
    // 5 accepted events, and the checkpoints between them.
    let events = ["pay-1", "pay-2", "pay-4", "pay-5", "pay-6"];
    for id in events {
        assert!(
            node.engine().event_number("payments", id).is_some(),
            "{id} is taken"
        );
    }
    assert_eq!(node.engine().stream_position("payments", 0), Some(6));
}
