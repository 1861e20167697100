//! `standing serve --cluster` across three real processes on 127.0.0.1: a batch sent to one
//! process lands on the owners of its records, every process answers for every subject what a
//! single node answers, a key created on one process is valid on all, and a process that is
//! killed leaves its subjects answered with a 503 naming it while the others keep answering.
//!
//! Every process started is killed and reaped when the test ends, also when it fails; every
//! wait has a deadline.

mod common;
use common::{Scratch, free_addresses};
use serde_json::Value;
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
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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

/// A data directory holding only the city model, its network off (a cluster does not solve it
/// across processes yet).
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
    let model = model.replace("\nalpha = 0.15", "\nalpha = 0.0");
    assert!(model.contains("alpha = 0.0"));
    std::fs::write(at.join("model.toml"), model).unwrap();
}

fn operator_key(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_standing"))
        .args(["keys", "create", "--role", "operator", "-d"])
        .arg(data)
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

/// The answers that depend on nothing but the events: without the clock's instant.
fn answer_of(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("as_of");
    }
    value
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

    // Every process answers every subject as the single node does.
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
                    answer_of(got),
                    answer_of(expected.clone()),
                    "{path} at {address}"
                );
            }
        }
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
}
