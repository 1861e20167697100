//! `standing consume` killed with SIGKILL at random moments while a producer publishes to a real
//! broker: every valid record published is in the log exactly once, the refused ones never, and
//! `standing replay` rebuilds the same state.

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use standing_core::Timestamp;
use standing_devkit::TempDir;
use standing_devkit::broker::Broker;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STANDING: &str = env!("CARGO_BIN_EXE_standing");

fn record(value: String) -> Record {
    Record {
        key: None,
        value: Some(value.into_bytes()),
        headers: Default::default(),
        timestamp: rskafka::chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    }
}

fn payment(id: usize) -> String {
    format!(
        r#"{{"id":"pay-{id}","subject":"p-{}","type":"payment.on_time","occurred_at":"2026-11-01T00:00:00Z","fields":{{"amount":10.5,"creditor":"c"}}}}"#,
        id % 500
    )
}

/// A consumer of `dir` from `broker`.
fn consumer(dir: &std::path::Path, broker: &Broker) -> Child {
    Command::new(STANDING)
        .args(["consume", "-d"])
        .arg(dir)
        .args([
            "--kafka",
            "--brokers",
            &broker.address,
            "--topic",
            "payments=payments",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A small deterministic generator of pauses (seeded from the clock; the seed is printed).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn consume_killed_at_random_moments_takes_every_valid_record_exactly_once() {
    let broker = Broker::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let partitions = runtime.block_on(async {
        let client = ClientBuilder::new(vec![broker.address.clone()])
            .build()
            .await
            .unwrap();
        client
            .controller_client()
            .unwrap()
            .create_topic("payments", 2, 1, 5_000)
            .await
            .unwrap();
        let mut partitions = Vec::new();
        for partition in 0..2 {
            partitions.push(
                client
                    .partition_client("payments", partition, UnknownTopicHandling::Retry)
                    .await
                    .unwrap(),
            );
        }
        partitions
    });
    let dir = TempDir::with_city_model("stream-kill");
    // The producer: batches of 40 — 36 new valid records, 2 refused (a negative amount), and 2
    // valid ones published again — alternating partitions, every 5 ms, for 300 batches.
    let producer = {
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            let mut valid = 0usize;
            for batch in 0..300usize {
                let mut records = Vec::new();
                for _ in 0..36 {
                    records.push(record(payment(valid)));
                    valid += 1;
                }
                records.push(record(payment(1_000_000 + batch).replace("10.5", "-1")));
                records.push(record(payment(1_000_000 + batch).replace("10.5", "-2")));
                records.push(record(payment(valid - 1)));
                records.push(record(payment(valid / 2)));
                handle
                    .block_on(partitions[batch % 2].produce(records, Compression::NoCompression))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            valid
        })
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut moments = Moments(seed);
    for _ in 0..20 {
        let mut child = consumer(&dir, &broker);
        std::thread::sleep(Duration::from_millis(30 + moments.next_ms(300)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let valid = producer.join().unwrap();
    // A last consumer, stopped cleanly once it has taken everything (bounded).
    let started = Instant::now();
    let engine_ids = loop {
        let mut child = consumer(&dir, &broker);
        std::thread::sleep(Duration::from_millis(1500));
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success(), "a clean stop");
        let (mut node, _) =
            standing_node::Node::open(&dir, Timestamp::parse("2026-11-25").unwrap()).unwrap();
        // A restored engine builds its event index on the first look-up that needs it.
        node.find_event("payments", "pay-0").unwrap();
        let engine = node.engine();
        let taken = (0..valid)
            .filter(|id| {
                engine
                    .event_number("payments", &format!("pay-{id}"))
                    .is_some()
            })
            .count();
        if taken == valid {
            // Every record of the log, by what it is.
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            let mut ids: BTreeMap<String, usize> = BTreeMap::new();
            for seq in 0..node.log_records() {
                let logged = node.record(seq).unwrap().unwrap();
                let body: serde_json::Value = serde_json::from_slice(&logged.body).unwrap();
                *kinds
                    .entry(body["type"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                if body["type"] != "~checkpoint" {
                    assert_eq!(logged.origin, "kafka:payments");
                    *ids.entry(body["id"].as_str().unwrap().to_owned())
                        .or_default() += 1;
                }
            }
            assert_eq!(kinds["payment.on_time"], valid, "{kinds:?}");
            assert!(
                ids.values().all(|&count| count == 1),
                "an event logged twice"
            );
            assert!(
                !ids.keys()
                    .any(|id| id["pay-".len()..].parse::<usize>().unwrap() >= 1_000_000),
                "a refused record"
            );
            let positions: Vec<u64> = engine.stream_positions().map(|(_, _, next)| next).collect();
            assert_eq!(
                positions,
                [150 * 40, 150 * 40],
                "every record of both partitions"
            );
            break ids.len();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {taken} of {valid} taken after 60 s"
        );
    };
    assert_eq!(engine_ids, valid);
    let replay = Command::new(STANDING)
        .args(["replay", "-d"])
        .arg(&*dir)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "standing replay: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
}
