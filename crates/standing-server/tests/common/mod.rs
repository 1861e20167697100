//! What the API tests share: a data directory with the city model, keys of every kind, and a
//! call through the router.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use standing_accountability::keys::{KeySpec, KeyStore, RoleKind};
use standing_core::Timestamp;
use standing_devkit::TempDir;
use standing_node::Node;
use standing_server::{AppState, router};
use std::sync::Arc;
use tower::ServiceExt;

pub fn fixed_now() -> Timestamp {
    Timestamp::parse("2026-11-25T00:00:00Z").unwrap()
}

pub struct Fixture {
    pub state: Arc<AppState>,
    /// The key of source `payments`.
    pub source: String,
    /// The key of source `courts`.
    pub courts: String,
    pub lender: String,
    pub dating: String,
    pub rail: String,
    pub operator: String,
    /// p-9's own key.
    pub subject: String,
    pub directory: TempDir,
}

pub fn fixture(name: &str) -> Fixture {
    fixture_with_clock(name, fixed_now)
}

/// [`fixture`] with the server's clock given.
pub fn fixture_with_clock(name: &str, now: fn() -> Timestamp) -> Fixture {
    let directory = TempDir::with_city_model(&format!("api-{name}"));
    let mut keys = KeyStore::open(&directory).unwrap();
    let mut create = |spec: KeySpec| keys.create(spec, now()).unwrap().1;
    let source = create(KeySpec::source("payments"));
    let courts = create(KeySpec::source("courts"));
    let lender = create(KeySpec::consumer(&["lending.consumer"]));
    let dating = create(KeySpec::consumer(&["dating.profile"]));
    let rail = create(KeySpec::consumer(&["rail.highspeed.booking"]));
    let operator = create(KeySpec::new(RoleKind::Operator));
    let subject = create(KeySpec::subject("p-9"));
    // Keys are read back from disk, hashed: the secrets were never stored.
    let stored = std::fs::read_to_string(directory.join("keys.json")).unwrap();
    assert!(!stored.contains(&source) && !stored.contains(&operator));
    let (node, _) = Node::open(&directory, now()).unwrap();
    Fixture {
        state: Arc::new(AppState::new(node, now).unwrap()),
        source,
        courts,
        lender,
        dating,
        rail,
        operator,
        subject,
        directory,
    }
}

pub async fn call(
    fixture: &Fixture,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if (method == "POST" || method == "PUT") && body.starts_with('{') && !body.contains('\n') {
        request = request.header("content-type", "application/json");
    }
    let response = router(Arc::clone(&fixture.state))
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// The id of the key whose secret this is.
pub fn key_id(fixture: &Fixture, secret: &str) -> String {
    match fixture.state.house.keys.authenticate(secret, fixed_now()) {
        standing_accountability::keys::Authenticated::Key(key) => key.id.clone(),
        other => panic!("not a usable key: {other:?}"),
    }
}

/// Posts events as their sources: each record with the key of the source it names (`payments`
/// or `courts`), the answers put back together in the records' order.
pub async fn post_events(fixture: &Fixture, body: &str) -> (StatusCode, Value) {
    let mut groups: Vec<(&str, Vec<(usize, &str)>)> = Vec::new();
    for (index, line) in body.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let key = if line.contains(r#""source":"courts""#) {
            fixture.courts.as_str()
        } else {
            fixture.source.as_str()
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, lines)) => lines.push((index, line)),
            None => groups.push((key, vec![(index, line)])),
        }
    }
    let mut total =
        serde_json::json!({"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0});
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut last_status = StatusCode::OK;
    for (key, lines) in groups {
        let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let (status, answer) = call(fixture, "POST", "/v1/events", Some(key), &text).await;
        if status != StatusCode::OK {
            return (status, answer);
        }
        last_status = status;
        for field in ["accepted", "duplicate", "conflict", "rejected"] {
            total[field] =
                (total[field].as_u64().unwrap() + answer[field].as_u64().unwrap()).into();
        }
        for (position, result) in answer["results"].as_array().unwrap().iter().enumerate() {
            let mut result = result.clone();
            result["index"] = lines[position].0.into();
            results.push((lines[position].0, result));
        }
    }
    results.sort_by_key(|(index, _)| *index);
    total["durable"] = true.into();
    total["results"] = results
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .into();
    (last_status, total)
}

/// Posts [`EVENTS`] as a test's setup: both good records accepted, the bad one refused.
pub async fn send_events(fixture: &Fixture) {
    let (status, answer) = post_events(fixture, EVENTS).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["rejected"], 1, "{answer}");
}

pub const EVENTS: &str = concat!(
    r#"{"id":"p1","source":"payments","subject":"p-9","type":"payment.late","occurred_at":"2026-03-01T10:00:00Z","fields":{"amount":120,"creditor":"telco","days_late":40}}"#,
    "\n",
    r#"{"id":"c1","source":"courts","subject":"p-9","type":"court.defaulter_listed","occurred_at":"2026-04-01T00:00:00Z","fields":{"case_id":"C-1","court":"district"}}"#,
    "\n",
    r#"{"id":"bad","source":"payments","subject":"p-9","type":"payment.late","occurred_at":"not a time","fields":{}}"#,
    "\n",
);

/// Records, as an operator, that `subject` opted in to `purpose`.
pub async fn opt_in(fixture: &Fixture, subject: &str, purpose: &str) {
    let uri = format!("/v1/subjects/{subject}/consent/{purpose}");
    let (status, answer) = call(
        fixture,
        "PUT",
        &uri,
        Some(&fixture.operator),
        r#"{"choice":"opted_in"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The next server-sent event of a stream: its `event:` and parsed `data:`.
pub async fn next_event(body: &mut Body) -> (String, Value) {
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
        if let Some(end) = text.find("\n\n") {
            let block = &text[..end];
            if block.starts_with(':') {
                text.drain(..end + 2);
                continue;
            }
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            return (
                field("event:"),
                serde_json::from_str(&field("data:")).unwrap(),
            );
        }
    }
}
