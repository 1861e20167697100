//! `standing serve --cluster` across three real processes on 127.0.0.1: a batch sent to one
//! process lands on the owners of its records, every process answers for every subject what a
//! single node answers, a key created on one process is valid on all, and a process that is
//! killed leaves its subjects answered with a 503 naming it while the others keep answering,
//! and recovers when it is started again.
//!
//! Every process started is killed and reaped when the test ends, also when it fails; every
//! wait has a deadline.

mod common;
use common::{Scratch, free_addresses};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const START_WITHIN: Duration = Duration::from_secs(60);

/// A process the test started; dropping it kills and reaps it.
struct Running {
    child: Child,
    stderr: Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_standing"))
            .args(args)
            .env("STANDING_CLOCK_SECS", "3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (to, stderr) = channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut line = String::new();
            while matches!(err.read_line(&mut line), Ok(n) if n > 0) {
                let _ = to.send(line.trim_end().to_owned());
                line.clear();
            }
        });
        Running { child, stderr }
    }

    /// Waits for a line of standard error containing `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + START_WITHIN;
        let mut heard = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(line) => heard.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with `{needle}` in time; heard: {heard:#?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request, its status and JSON body.
fn http(address: &str, method: &str, path: &str, key: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let kind = if path == "/v1/events" {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A data directory holding only the city model (its network on: α = 0.15, ε = 0.01).
fn data_directory(at: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_standing"))
        .arg("init")
        .arg(at)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for generated in ["log", "snapshots", "sample-events.ndjson"] {
        let path = at.join(generated);
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_file(&path);
    }
    let model = std::fs::read_to_string(at.join("model.toml")).unwrap();
    assert!(model.contains("\nalpha = 0.15") && model.contains("\nepsilon = 0.01"));
}

/// ε of the city model.
const EPSILON: f64 = 0.01;

fn operator_key(data: &Path) -> String {
    key(data, &["--role", "operator"])
}

/// A consumer key for the city model's lending and rail purposes.
fn consumer_key(data: &Path) -> String {
    key(
        data,
        &[
            "--role",
            "consumer",
            "--purpose",
            "lending.consumer",
            "--purpose",
            "rail.highspeed.booking",
            "--purpose",
            "dating.profile",
        ],
    )
}

fn key(data: &Path, how: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_standing"))
        .args(["keys", "create", "-d"])
        .arg(data)
        .args(how)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .find(|w| w.starts_with("stk_"))
        .expect("a secret")
        .to_owned()
}

/// The answers that depend on nothing but the events: without the clock's instant, a
/// decision's id and its review's opening instant.
fn answer_of(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("as_of");
        object.remove("decision_id");
        if let Some(review) = object.get_mut("review").and_then(Value::as_object_mut) {
            review.remove("opened_at");
        }
    }
    if let Some(score) = value.get_mut("score").and_then(Value::as_object_mut) {
        score.remove("as_of");
    }
    value
}

/// Numbers the network solve moves: within 2ε of the single node's, plus the hundredth both
/// are rounded to. Every other number, and everything else, is equal.
const NETWORK_FIELDS: [&str; 5] = ["value", "network", "score", "points", "share"];

/// Where `got` differs from `want` beyond that, as a path; `None` when it does not.
fn difference(got: &Value, want: &Value, at: &str) -> Option<String> {
    let tolerance = 2.0 * EPSILON + 0.01 + 1e-9;
    match (got, want) {
        (Value::Object(a), Value::Object(b)) => {
            if a.len() != b.len() {
                return Some(format!("{at}: fields {a:?} against {b:?}"));
            }
            a.iter().find_map(|(key, value)| match (value, b.get(key)) {
                (Value::Number(x), Some(Value::Number(y)))
                    if NETWORK_FIELDS.contains(&key.as_str()) =>
                {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    ((x - y).abs() > tolerance).then(|| format!("{at}.{key}: {x} against {y}"))
                }
                (value, Some(other)) => difference(value, other, &format!("{at}.{key}")),
                (_, None) => Some(format!("{at}.{key}: not in the single node's answer")),
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{at}[{i}]"))),
        (a, b) => (a != b).then(|| format!("{at}: {a} against {b}")),
    }
}

#[test]
fn three_processes_answer_as_one_node() {
    let scratch = Scratch::new("service-three");
    let events = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/city-sample-events.ndjson"),
    )
    .unwrap();
    let subjects: Vec<String> = String::from_utf8_lossy(&events)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|v| {
            [v["subject"].as_str(), v["fields"]["other"].as_str()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(subjects.len() >= 3, "{subjects:?}");

    // One node.
    let single = scratch.join("single");
    data_directory(&single);
    let single_key = operator_key(&single);
    let single_consumer = consumer_key(&single);
    let single_address = free_addresses(1).remove(0);
    let node = Running::start(&[
        "serve",
        "-d",
        single.to_str().unwrap(),
        "--listen",
        &single_address,
    ]);
    node.wait_for("serving");
    let (status, sent) = http(&single_address, "POST", "/v1/events", &single_key, &events);
    assert_eq!(status, 200, "{sent}");

    // Three processes; the key is created on process 0 only.
    let addresses = free_addresses(6);
    let mut file = String::from("secret_file = \"cluster.secret\"\ntimeout_ms = 2000\n");
    for process in 0..3 {
        data_directory(&scratch.join(&format!("p{process}")));
        file += &format!(
            "[[process]]\nhttp = \"{}\"\ntimely = \"{}\"\ndata = \"p{process}\"\n",
            addresses[process],
            addresses[3 + process]
        );
    }
    std::fs::write(
        scratch.join("cluster.secret"),
        "a-secret-for-this-test-only\n",
    )
    .unwrap();
    let cluster = scratch.join("cluster.toml");
    std::fs::write(&cluster, file).unwrap();
    let key = operator_key(&scratch.join("p0"));
    let consumer = consumer_key(&scratch.join("p0"));
    let mut processes: Vec<Option<Running>> = (0..3)
        .map(|process| {
            Some(Running::start(&[
                "serve",
                "--cluster",
                cluster.to_str().unwrap(),
                "--process",
                &process.to_string(),
            ]))
        })
        .collect();
    for running in processes.iter().flatten() {
        running.wait_for("all 3 processes of the cluster answer");
    }
    // Keys are taken in once a second: the key made on process 0 reaches process 1.
    let deadline = Instant::now() + START_WITHIN;
    let (status, answer) = loop {
        let (status, answer) = http(&addresses[1], "POST", "/v1/events", &key, &events);
        if status != 401 || Instant::now() > deadline {
            break (status, answer);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], sent["accepted"], "{answer}");
    assert_eq!(answer["results"], sent["results"]);
    // Sent again: nothing is applied twice.
    let (_, again) = http(&addresses[2], "POST", "/v1/events", &key, &events);
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicate"], sent["accepted"], "{again}");

    // The records went to their owners: each process's log holds some, none holds all.
    let held: Vec<u64> = (0..3)
        .map(|p| {
            std::fs::read_dir(scratch.join(&format!("p{p}/log")))
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum()
        })
        .collect();
    assert!(
        held.iter().filter(|&&bytes| bytes > 64).count() >= 2,
        "{held:?}"
    );

    // The clock moved on both, through a process that does not lead it: every process moves,
    // and the network is solved across all three.
    let (status, moved) = http(&single_address, "POST", "/v1/clock", &single_key, b"");
    assert_eq!(status, 200, "{moved}");
    let (status, moved) = http(&addresses[2], "POST", "/v1/clock", &key, b"");
    assert_eq!(status, 200, "{moved}");
    let solved = moved["network"].as_array().expect("the network was solved");
    assert_eq!(solved.len(), 3, "{moved}");
    let subjects_solved: u64 = solved.iter().map(|p| p["subjects"].as_u64().unwrap()).sum();
    assert_eq!(subjects_solved, subjects.len() as u64, "{moved}");
    assert!(
        solved
            .iter()
            .any(|p| p["contacts_elsewhere"].as_u64() > Some(0)),
        "some contacts are on other processes: {moved}"
    );

    // Every process answers every subject as the single node does: the same behaviour scores,
    // key factors, lists and decisions; network scores within 2ε, contacts on other processes
    // included.
    for subject in &subjects {
        for path in [
            format!("/v1/subjects/{subject}/score"),
            format!("/v1/subjects/{subject}/explanation"),
        ] {
            let (_, expected) = http(&single_address, "GET", &path, &single_key, b"");
            for address in &addresses[..3] {
                let (status, got) = http(address, "GET", &path, &key, b"");
                assert_eq!(status, 200, "{path} at {address}: {got}");
                assert_eq!(
                    difference(&answer_of(got), &answer_of(expected.clone()), "answer"),
                    None,
                    "{path} at {address}"
                );
            }
        }
        for purpose in ["lending.consumer", "rail.highspeed.booking"] {
            let body = json!({"purpose": purpose, "subject": subject}).to_string();
            let asked = |address: &str, key: &str| {
                http(address, "POST", "/v1/decisions", key, body.as_bytes())
            };
            let (status, expected) = asked(&single_address, &single_consumer);
            assert_eq!(status, 200, "{expected}");
            for address in &addresses[..3] {
                let (status, got) = asked(address, &consumer);
                assert_eq!(status, 200, "{purpose} for {subject} at {address}: {got}");
                assert_eq!(
                    answer_of(got),
                    answer_of(expected.clone()),
                    "{purpose} for {subject} at {address}"
                );
            }
        }
    }
    let explained = |address: &str, key: &str, subject: &str| {
        http(
            address,
            "GET",
            &format!("/v1/subjects/{subject}/explanation"),
            key,
            b"",
        )
        .1
    };
    let across = subjects.iter().any(|subject| {
        explained(&addresses[0], &key, subject)["network"]["contacts"]
            .as_array()
            .is_some_and(|contacts| {
                contacts.iter().any(|c| {
                    let other = c["subject"].as_str().unwrap();
                    standing_gateway::owner_of(other, 3) != standing_gateway::owner_of(subject, 3)
                })
            })
    });
    assert!(
        across,
        "some explanation names a contact on another process"
    );

    // A ranking of everyone who opted in, split among the owners and merged: the single
    // node's order, under one model version.
    for subject in &subjects {
        let path = format!("/v1/subjects/{subject}/consent/dating.profile");
        let body = br#"{"choice": "opted_in"}"#;
        let (status, answer) = http(&single_address, "PUT", &path, &single_key, body);
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = http(&addresses[0], "PUT", &path, &key, body);
        assert_eq!(status, 200, "{answer}");
    }
    let asked = json!({"purpose": "dating.profile", "subjects": subjects}).to_string();
    let (status, expected) = http(
        &single_address,
        "POST",
        "/v1/rank",
        &single_consumer,
        asked.as_bytes(),
    );
    assert_eq!(status, 200, "{expected}");
    assert_eq!(
        expected["ranking"].as_array().map(Vec::len),
        Some(subjects.len()),
        "{expected}"
    );
    for address in &addresses[..3] {
        let (status, got) = http(address, "POST", "/v1/rank", &consumer, asked.as_bytes());
        assert_eq!(status, 200, "{got}");
        assert_eq!(difference(&got, &expected, "ranking"), None, "at {address}");
    }

    // A logged event is found through any process, on its subject's owner.
    let answers: Vec<Value> = addresses[..3]
        .iter()
        .map(|address| {
            let (status, found) = http(address, "GET", "/v1/events/payments/pay-0001", &key, b"");
            assert_eq!(status, 200, "{found}");
            found
        })
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(
        answers[0].to_string().contains("pay-0001"),
        "{}",
        answers[0]
    );

    // The overview through any process covers the whole cluster's own subjects, once each
    // (it is looked at once a second: asked until it has caught up with the clock move).
    let summary = |overview: &Value| {
        let mut extremes: Vec<String> = ["lowest", "highest"]
            .iter()
            .flat_map(|side| overview[*side].as_array().cloned().unwrap_or_default())
            .map(|entry| entry["subject"].as_str().unwrap().to_owned())
            .collect();
        extremes.sort();
        json!({
            "subjects": overview["subjects"],
            "histogram": overview["histogram"],
            "grades": overview["grades"],
            "lists": overview["lists"],
            "relations": overview["network"]["relations"],
            "extremes": extremes,
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let expected = loop {
        let (_, overview) = http(&single_address, "GET", "/v1/overview", &single_key, b"");
        let expected = summary(&overview);
        if expected["subjects"] == subjects.len() {
            break expected;
        }
        assert!(Instant::now() < deadline, "{expected}");
        std::thread::sleep(Duration::from_millis(250));
    };
    loop {
        let (status, got) = http(&addresses[1], "GET", "/v1/overview", &key, b"");
        assert_eq!(status, 200, "{got}");
        if summary(&got) == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} against {expected}",
            summary(&got)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The owner of the first subject killed: its subjects are refused with a 503 naming it, the
    // others answered.
    let owner_of = |subject: &str| standing_gateway::owner_of(subject, 3);
    let victim = owner_of(&subjects[0]);
    let asker = &addresses[(victim + 1) % 3];
    let (lost, kept): (Vec<&String>, Vec<&String>) =
        subjects.iter().partition(|s| owner_of(s) == victim);
    assert!(!lost.is_empty() && !kept.is_empty(), "{subjects:?}");
    processes[victim] = None;
    let named = format!("process {victim} ({})", addresses[victim]);
    for subject in &lost {
        let path = format!("/v1/subjects/{subject}/score");
        let (status, answer) = http(asker, "GET", &path, &key, b"");
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["error"]["code"], "process_unavailable");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&named), "{message}");
    }
    for subject in &kept {
        let path = format!("/v1/subjects/{subject}/score");
        let (status, answer) = http(asker, "GET", &path, &key, b"");
        assert_eq!(status, 200, "{answer}");
    }
    // A batch with records for it: 503, naming it; the others' records acknowledged (here as
    // duplicates: they were all sent before).
    let (status, answer) = http(asker, "POST", "/v1/events", &key, &events);
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&named)
    );
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"unavailable") && statuses.contains(&"duplicate"),
        "{statuses:?}"
    );
    // Nor can the clock move across the cluster: a 503 naming it, within the timeout.
    let (status, answer) = http(asker, "POST", "/v1/clock", &key, b"");
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&named),
        "{answer}"
    );

    // Restarted, it recovers from its own directory: after a clock move the cluster answers as
    // the single node does again.
    let restarted = Running::start(&[
        "serve",
        "--cluster",
        cluster.to_str().unwrap(),
        "--process",
        &victim.to_string(),
    ]);
    restarted.wait_for("serving");
    processes[victim] = Some(restarted);
    let (status, moved) = http(asker, "POST", "/v1/clock", &key, b"");
    assert_eq!(status, 200, "{moved}");
    for subject in &subjects {
        let path = format!("/v1/subjects/{subject}/explanation");
        let (_, expected) = http(&single_address, "GET", &path, &single_key, b"");
        let (status, got) = http(asker, "GET", &path, &key, b"");
        assert_eq!(status, 200, "{got}");
        assert_eq!(
            difference(&answer_of(got), &answer_of(expected), "answer"),
            None,
            "{path} after the restart"
        );
    }

    // A relation between two processes' subjects retracted through a third: it stops counting
    // on both ends, as on one node.
    let retraction = br#"{"id":"ret-0001","source":"social-app","subject":"p-1","type":"retraction","occurred_at":"2026-06-01T00:00:00Z","fields":{"event":"rel-0001","reason":"entered by mistake"}}"#;
    assert_ne!(owner_of("p-1"), owner_of("p-2"));
    let (status, alone) = http(
        &single_address,
        "POST",
        "/v1/events",
        &single_key,
        retraction,
    );
    assert_eq!(status, 200, "{alone}");
    assert_eq!(alone["accepted"], 1, "{alone}");
    let (status, retracted) = http(&addresses[2], "POST", "/v1/events", &key, retraction);
    assert_eq!(status, 200, "{retracted}");
    assert_eq!(retracted["results"], alone["results"], "{retracted}");
    for (address, key) in [(&single_address, &single_key), (&addresses[2], &key)] {
        let (status, moved) = http(address, "POST", "/v1/clock", key, b"");
        assert_eq!(status, 200, "{moved}");
    }
    for subject in ["p-1", "p-2"] {
        let path = format!("/v1/subjects/{subject}/explanation");
        let (_, expected) = http(&single_address, "GET", &path, &single_key, b"");
        assert!(
            !expected["network"]["contacts"]
                .to_string()
                .contains(if subject == "p-1" { "p-2" } else { "p-1" }),
            "{expected}"
        );
        for address in &addresses[..3] {
            let (_, got) = http(address, "GET", &path, &key, b"");
            assert_eq!(
                difference(&answer_of(got), &answer_of(expected.clone()), "answer"),
                None,
                "{path} at {address} after the retraction"
            );
        }
    }

    // A new version: stored on every process through one, its impact summed over all, and
    // activated through another, every process switching to it.
    let text = std::fs::read_to_string(single.join("model.toml"))
        .unwrap()
        .replace("version = \"2026.1\"", "version = \"2026.2\"")
        .replace(
            "amount >= 5000.0 ? -120 : -80",
            "amount >= 5000.0 ? -150 : -100",
        );
    assert!(text.contains("2026.2") && text.contains("-150 : -100"));
    for (address, key) in [(&single_address, &single_key), (&addresses[1], &key)] {
        let (status, stored) = http(address, "POST", "/v1/models", key, text.as_bytes());
        assert_eq!(status, 201, "{stored}");
    }
    let impact = |address: &str, key: &str| {
        let (status, impact) = http(address, "GET", "/v1/models/2026.2/impact", key, b"");
        assert_eq!(status, 200, "{impact}");
        json!([
            impact["subjects"],
            impact["grade_changes"],
            impact["transitions"],
            impact["purposes"]
        ])
    };
    let expected = impact(&single_address, &single_key);
    assert_eq!(expected[0], subjects.len(), "{expected}");
    assert_eq!(impact(&addresses[2], &key), expected);
    let activate = "/v1/models/2026.2/activate";
    let (status, answer) = http(&single_address, "POST", activate, &single_key, b"");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http(&addresses[2], "POST", activate, &key, b"");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active"], "2026.2", "{answer}");
    assert_eq!(
        answer["network"].as_array().map(Vec::len),
        Some(3),
        "{answer}"
    );
    for subject in &subjects {
        let path = format!("/v1/subjects/{subject}/explanation");
        let (_, expected) = http(&single_address, "GET", &path, &single_key, b"");
        assert_eq!(expected["score"]["model_version"], "city-points@2026.2");
        for address in &addresses[..3] {
            let (status, got) = http(address, "GET", &path, &key, b"");
            assert_eq!(status, 200, "{got}");
            assert_eq!(
                difference(&answer_of(got), &answer_of(expected.clone()), "answer"),
                None,
                "{path} at {address} under the new version"
            );
        }
    }

    // A purge through any process: every process purges its own log; what they removed sums
    // to what one node removes, and every answer stays the single node's.
    let (status, alone) = http(&single_address, "POST", "/v1/purge", &single_key, b"");
    assert_eq!(status, 200, "{alone}");
    let (status, purged) = http(&addresses[1], "POST", "/v1/purge", &key, b"");
    assert_eq!(status, 200, "{purged}");
    assert_eq!(
        purged["removed"], alone["removed"],
        "{purged} against {alone}"
    );
    assert_eq!(
        purged["network"].as_array().map(Vec::len),
        Some(3),
        "{purged}"
    );
    for subject in &subjects {
        let path = format!("/v1/subjects/{subject}/explanation");
        let (_, expected) = http(&single_address, "GET", &path, &single_key, b"");
        let (status, got) = http(&addresses[0], "GET", &path, &key, b"");
        assert_eq!(status, 200, "{got}");
        assert_eq!(
            difference(&answer_of(got), &answer_of(expected), "answer"),
            None,
            "{path} after the purge"
        );
    }
}

/// A TCP proxy on a free port of 127.0.0.1 to `to`, forwarding both ways until `cut` is set;
/// from then on bytes go nowhere while connections stay open: a partitioned peer. Its threads
/// end with the test.
struct Proxy {
    address: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn start(to: String) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let cut = std::sync::Arc::new(AtomicBool::new(false));
        let cutting = std::sync::Arc::clone(&cut);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&to) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let cut = std::sync::Arc::clone(&cutting);
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(read) = from.read(&mut buffer) {
                            if read == 0 {
                                let _ = into.shutdown(std::net::Shutdown::Write);
                                return;
                            }
                            if !cut.load(Ordering::SeqCst)
                                && into.write_all(&buffer[..read]).is_err()
                            {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Proxy { address, cut }
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A record of the city model for `subject` (a payment on time), numbered `id`.
fn payment(subject: &str, id: usize) -> String {
    json!({
        "id": format!("pay-partition-{id}"), "source": "payments", "subject": subject,
        "type": "payment.on_time", "occurred_at": "2026-01-05T09:00:00Z",
        "fields": {"amount": 120.5, "creditor": "city-water"},
    })
    .to_string()
}

#[test]
fn a_partitioned_process_is_named_within_the_timeouts_and_answers_again_when_it_is_back() {
    let scratch = Scratch::new("service-partition");
    let addresses = free_addresses(6);
    // Processes 0 and 1 reach process 2 only through the proxy; process 2 listens behind it.
    let proxy = Proxy::start(addresses[2].clone());
    let file = |third: &str| {
        let mut file = String::from(
            "secret_file = \"cluster.secret\"\ntimeout_ms = 1000\nwork_timeout_ms = 3000\n",
        );
        for process in 0..3 {
            let http = if process == 2 {
                third
            } else {
                &addresses[process]
            };
            file += &format!(
                "[[process]]\nhttp = \"{http}\"\ntimely = \"{}\"\ndata = \"p{process}\"\n",
                addresses[3 + process]
            );
        }
        file
    };
    for process in 0..3 {
        data_directory(&scratch.join(&format!("p{process}")));
    }
    std::fs::write(scratch.join("cluster.toml"), file(&proxy.address)).unwrap();
    std::fs::write(scratch.join("behind.toml"), file(&addresses[2])).unwrap();
    std::fs::write(
        scratch.join("cluster.secret"),
        "a-secret-for-this-test-only\n",
    )
    .unwrap();
    let key = operator_key(&scratch.join("p0"));
    let processes: Vec<Running> = (0..3)
        .map(|process| {
            let file = if process == 2 {
                "behind.toml"
            } else {
                "cluster.toml"
            };
            Running::start(&[
                "serve",
                "--cluster",
                scratch.join(file).to_str().unwrap(),
                "--process",
                &process.to_string(),
            ])
        })
        .collect();
    for running in &processes {
        running.wait_for("all 3 processes of the cluster answer");
    }
    let owned_by = |owner: usize| {
        (0..)
            .map(|i| format!("q-{i}"))
            .find(|s| standing_gateway::owner_of(s, 3) == owner)
            .unwrap()
    };
    let (far, near) = (owned_by(2), owned_by(1));
    let both = format!("{}\n{}\n", payment(&far, 1), payment(&near, 2));
    // The key made on process 0 reaches process 2 within about a second.
    let deadline = Instant::now() + START_WITHIN;
    let (status, answer) = loop {
        let (status, answer) = http(&addresses[0], "POST", "/v1/events", &key, both.as_bytes());
        if status != 401 || Instant::now() > deadline {
            break (status, answer);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 200, "{answer}");

    // One change stream through process 0 carries every process's subjects' changes.
    let mut stream = TcpStream::connect(&addresses[0]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let head = format!(
        "GET /v1/changes?kinds=threshold&threshold=1000.5 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\r\n",
        addresses[0]
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The head comes once every process's stream is open (each subscribed): only then are
    // the changes made.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut heard = String::new();
    let mut buffer = [0u8; 4096];
    while !heard.contains("\r\n\r\n") {
        assert!(Instant::now() < deadline, "no head: {heard}");
        if let Ok(read) = stream.read(&mut buffer) {
            heard.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    }
    let here = owned_by(0);
    let moved = format!(
        "{}\n{}\n{}\n",
        payment(&far, 10),
        payment(&near, 11),
        payment(&here, 12)
    );
    let (status, answer) = http(&addresses[1], "POST", "/v1/events", &key, moved.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ![&far, &near, &here]
        .iter()
        .all(|s| heard.contains(&format!("\"{s}\"")))
    {
        assert!(
            Instant::now() < deadline,
            "not every owner's change came: {heard}"
        );
        if let Ok(read) = stream.read(&mut buffer) {
            heard.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    }
    assert!(
        heard.contains("200 OK") && heard.contains("text/event-stream"),
        "{heard}"
    );

    proxy.cut(true);
    let named = format!("process 2 ({})", proxy.address);
    let started = Instant::now();
    let (status, answer) = http(
        &addresses[0],
        "GET",
        &format!("/v1/subjects/{far}/score"),
        &key,
        b"",
    );
    assert_eq!(status, 503, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&named) && message.contains("within 1000 ms"),
        "{message}"
    );
    // Bounded by the timeout (1 s here), not a hang: the test's own read gives up at 30 s.
    assert!(started.elapsed() < Duration::from_secs(20));
    let (status, answer) = http(
        &addresses[0],
        "GET",
        &format!("/v1/subjects/{near}/score"),
        &key,
        b"",
    );
    assert_eq!(status, 200, "the others keep answering: {answer}");
    let more = format!("{}\n{}\n", payment(&far, 3), payment(&near, 4));
    let (status, answer) = http(&addresses[1], "POST", "/v1/events", &key, more.as_bytes());
    assert_eq!(status, 503, "{answer}");
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["unavailable", "accepted"], "{answer}");
    let (status, answer) = http(&addresses[0], "POST", "/v1/clock", &key, b"");
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&named),
        "{answer}"
    );
    processes[0].wait_for(&format!("cannot reach {named}"));

    // Back: its subjects are answered again, and the record it missed is taken.
    proxy.cut(false);
    let deadline = Instant::now() + START_WITHIN;
    let path = format!("/v1/subjects/{far}/score");
    while http(&addresses[0], "GET", &path, &key, b"").0 != 200 {
        assert!(Instant::now() < deadline, "process 2 is not answered again");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, answer) = http(&addresses[1], "POST", "/v1/events", &key, more.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["duplicate"], 1, "{answer}");
    let (status, answer) = http(&addresses[2], "POST", "/v1/clock", &key, b"");
    assert_eq!(status, 200, "{answer}");
}

/// `standing demo` with `args`, its standard output and error, within a deadline.
fn demo(args: &[&str]) -> (bool, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_standing"))
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (to, done) = channel();
    std::thread::spawn(move || {
        let _ = to.send(child.wait_with_output());
    });
    match done.recv_timeout(Duration::from_secs(300)) {
        Ok(Ok(output)) => (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        ),
        _ => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the demo did not end within 300 s");
        }
    }
}

#[test]
fn the_demo_runs_a_local_cluster_of_three_processes_and_reopens_it() {
    let scratch = Scratch::new("service-demo");
    let dir = scratch.join("demo");
    let listen = free_addresses(1).remove(0);
    let args = [
        "--processes",
        "3",
        "-d",
        dir.to_str().unwrap(),
        "--people",
        "3000",
        "--listen",
        &listen,
        "--exit-when-ready",
    ];
    let (ok, first) = demo(&args);
    assert!(ok, "{first}");
    for said in [
        "served by 3 processes",
        "ingest (durable, 3 logs)",
        "all 3 processes answer; the network solved across them",
        "ready in",
    ] {
        assert!(first.contains(said), "no `{said}` in:\n{first}");
    }
    // Each process logged its own subjects' events, and their contacts' relations.
    for process in 0..3 {
        let data = scratch.join(&format!("demo/p{process}"));
        let replay = Command::new(env!("CARGO_BIN_EXE_standing"))
            .args(["replay", "-d"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(replay.status.success(), "{replay:?}");
    }
    let contacts = first
        .split("the network solved across them in ")
        .nth(1)
        .and_then(|rest| rest.split('(').nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(contacts > 0, "{first}");
    // Again: reopened, not built.
    let (ok, again) = demo(&args);
    assert!(ok, "{again}");
    assert!(again.contains("reopening the cluster"), "{again}");
    assert!(again.contains("ready in"), "{again}");
    // Every process's audit log verified at once; one edited record is found, and named.
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_standing"))
            .args(["audit", "verify", "--cluster"])
            .arg(dir.join("cluster.toml"))
            .output()
            .unwrap()
    };
    let verified = verify();
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{verified:?}");
    assert!(
        said.contains("all 3 processes' audit logs intact"),
        "{said}"
    );
    let log = dir.join("p0/audit/audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines.len() > 1, "{text}");
    lines[0] = lines[0].replacen("\"", "\" ", 1);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let verified = verify();
    let said = String::from_utf8_lossy(&verified.stderr).into_owned();
    assert!(!verified.status.success());
    assert!(
        said.contains("process 0") && said.contains("audit log broken"),
        "{said}"
    );
    // A single node's demo refuses the cluster's directory.
    let (ok, refused) = demo(&["-d", dir.to_str().unwrap(), "--exit-when-ready"]);
    assert!(!ok);
    assert!(refused.contains("holds a cluster's demo"), "{refused}");
}
