//! The operator's side through the router: overview, model, subject pages, model versions
//! (upload, impact, activation), metrics, subscriptions, and the OpenAPI document held to the
//! router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use standing_server::{router, watch};
use std::sync::Arc;
use tower::ServiceExt;

mod common;
use common::{EVENTS, call, fixture, next_event, opt_in, post_events};

#[tokio::test]
async fn operators_see_the_overview_the_model_and_a_subjects_page() {
    let fixture = fixture("overview");
    common::send_events(&fixture).await;
    let decision = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.rail),
        decision,
    )
    .await;

    let (status, overview) =
        call(&fixture, "GET", "/v1/overview", Some(&fixture.operator), "").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["subjects"], 1);
    assert_eq!(overview["events"], 2);
    let counts: u64 = overview["histogram"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 1);
    let listed = &overview["lists"][0];
    assert_eq!(listed["name"], "court-defaulters");
    assert_eq!(listed["members"], 1, "{overview}");
    assert_eq!(overview["sources"][0]["source"], "courts");
    assert_eq!(overview["sources"][0]["events"], 1);
    assert_eq!(overview["sources"][1]["source"], "payments");
    assert_eq!(overview["sources"][1]["events"], 1);
    assert_eq!(
        overview["decisions"][0]["purpose"],
        "rail.highspeed.booking"
    );
    assert_eq!(overview["decisions"][0]["deny"], 1);
    assert_eq!(overview["lowest"][0]["subject"], "p-9");
    let (status, refused) = call(&fixture, "GET", "/v1/overview", Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    // The model is the published rulebook: any key reads it.
    let (status, model) = call(&fixture, "GET", "/v1/model", Some(&fixture.dating), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(model["name"], "city-points");
    let purposes: Vec<&str> = model["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(purposes.contains(&"dating.profile"), "{purposes:?}");
    assert_eq!(model["versions"][0]["active"], true, "{model}");

    let (status, history) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/history?months=12",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), 13);
    // A year ago nothing had happened: the base score; now the late payment and listing weigh.
    assert_eq!(points[0]["behaviour"], 1000.0);
    assert!(
        history["current"]["score"].as_f64().unwrap() < 1000.0,
        "{history}"
    );

    let (status, contacts) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/contacts",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    assert_eq!(contacts["contact_count"], 0);
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/nobody/contacts",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Who read p-9: the rail decision is on its page.
    let (status, audit) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/audit",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "decision" && e["purpose"] == "rail.highspeed.booking"),
        "{audit}"
    );
    // Newest first.
    assert_eq!(entries[0]["action"], "contacts");
}

fn city_version(version: &str, grade_b: &str) -> String {
    standing_rules::SAMPLE_CITY_MODEL
        .replace("version = \"2026.1\"", &format!("version = \"{version}\""))
        .replace(
            "{ name = \"B\", min = 850 }",
            &format!("{{ name = \"B\", min = {grade_b} }}"),
        )
}

#[tokio::test]
async fn a_model_version_is_uploaded_checked_weighed_and_activated() {
    let fixture = fixture("versions");
    common::send_events(&fixture).await;
    let operator = Some(fixture.operator.as_str());
    let (_, before) = call(&fixture, "GET", "/v1/subjects/p-9/score", operator, "").await;
    let grade_before = before["grade"].as_str().unwrap().to_owned();

    // A model that does not check: every problem with its line.
    let broken = standing_rules::SAMPLE_CITY_MODEL
        .replace("lower = -300\nupper = 40", "lower = \"low\"\nupper = 40");
    let (status, refused) = call(&fixture, "POST", "/v1/models", operator, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains(":"),
        "{refused}"
    );
    // Consumers may not upload.
    let (status, _) = call(
        &fixture,
        "POST",
        "/v1/models",
        Some(&fixture.lender),
        &broken,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Version 2026.2 puts grade B's floor above p-9's score, so p-9 falls to C.
    let score = before["score"].as_f64().unwrap();
    let text = city_version("2026.2", &format!("{}", score.floor() + 1.0));
    let (status, stored) = call(&fixture, "POST", "/v1/models", operator, &text).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["version"], "2026.2");
    // The same version with other text is refused; versions are never overwritten.
    let (status, conflict) = call(
        &fixture,
        "POST",
        "/v1/models",
        operator,
        &city_version("2026.2", "800"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");

    let (status, impact) = call(&fixture, "GET", "/v1/models/2026.2/impact", operator, "").await;
    assert_eq!(status, StatusCode::OK, "{impact}");
    assert_eq!(impact["grade_changes"], 1, "{impact}");
    assert_eq!(impact["transitions"][0]["from"], grade_before.as_str());
    assert_eq!(impact["transitions"][0]["to"], "C");
    let lending = impact["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "lending.consumer")
        .unwrap();
    // p-9 is listed, so lending denied it before and still does: no flip.
    assert_eq!(lending["allow_to_deny"], 0, "{impact}");
    // Impact changed nothing.
    let (_, still) = call(&fixture, "GET", "/v1/subjects/p-9/score", operator, "").await;
    assert_eq!(still["grade"], grade_before.as_str());
    let (status, _) = call(&fixture, "GET", "/v1/models/9.9/impact", operator, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, activated) =
        call(&fixture, "POST", "/v1/models/2026.2/activate", operator, "").await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    let (_, after) = call(&fixture, "GET", "/v1/subjects/p-9/score", operator, "").await;
    assert_eq!(after["grade"], "C", "{after}");
    assert_eq!(after["score"], before["score"]);
    let (_, versions) = call(&fixture, "GET", "/v1/models", operator, "").await;
    let versions = versions["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(
        versions
            .iter()
            .any(|v| v["version"] == "2026.2" && v["active"] == true)
    );
    assert!(
        versions
            .iter()
            .any(|v| v["version"] == "2026.1" && v["active"] == false)
    );
    // The data directory serves the new version from now on.
    let on_disk = std::fs::read_to_string(fixture.directory.join("model.toml")).unwrap();
    assert!(on_disk.contains("version = \"2026.2\""));
}

#[tokio::test]
async fn metrics_count_requests_events_and_decisions() {
    let fixture = fixture("metrics");
    common::send_events(&fixture).await;
    let decision = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.rail),
        decision,
    )
    .await;
    let response = router(Arc::clone(&fixture.state))
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for expected in [
        "standing_events_accepted_total{source=\"payments\"} 1",
        "standing_events_accepted_total{source=\"courts\"} 1",
        "standing_events_rejected_total 1",
        "standing_decisions_total{purpose=\"rail.highspeed.booking\",verdict=\"deny\"} 1",
        "standing_http_requests_total{route=\"/v1/events\",status=\"200\"} 2",
        "standing_log_records 2",
        "# EOF",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[tokio::test]
async fn subscribers_hear_of_list_and_grade_changes_within_their_purpose() {
    let fixture = fixture("changes");
    let subscribe = |uri: &str, key: &str| {
        Request::get(uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    // The dating purpose reads scores only: no list changes for it.
    let (status, refused) = call(
        &fixture,
        "GET",
        "/v1/changes?purpose=dating.profile&kinds=list",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "beyond_purpose");

    opt_in(&fixture, "p-9", "dating.profile").await;
    watch::look(&fixture.state);
    let response = router(Arc::clone(&fixture.state))
        .oneshot(subscribe(
            "/v1/changes?purpose=rail.highspeed.booking",
            &fixture.rail,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut rail = response.into_body();
    let response = router(Arc::clone(&fixture.state))
        .oneshot(subscribe(
            "/v1/changes?purpose=dating.profile&kinds=threshold&threshold=990",
            &fixture.dating,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut dating = response.into_body();

    let audited = fixture.state.house.audit.count();
    common::send_events(&fixture).await;
    watch::look(&fixture.state);
    let (event, data) = next_event(&mut rail).await;
    assert_eq!(event, "list");
    assert_eq!(data["subject"], "p-9");
    assert_eq!(data["list"], "court-defaulters");
    assert_eq!(data["change"], "entered");
    let (event, data) = next_event(&mut dating).await;
    assert_eq!(event, "threshold");
    assert_eq!(data["direction"], "below", "{data}");
    assert!(data["score"].as_f64().unwrap() < 990.0);
    // Each event sent was an audited read.
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert!(
        log.contains("\"action\":\"change:list\"")
            && log.contains("\"action\":\"change:threshold\"")
    );
    assert!(fixture.state.house.audit.count() >= audited + 2);
    // Stopping the server ends open streams, so a graceful shutdown does not wait on them.
    fixture.state.stopping.send_replace(true);
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match rail.frame().await {
                None => break,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream did not end");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_those() {
    let fixture = fixture("openapi");
    let response = router(Arc::clone(&fixture.state))
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            // Every operation says what it answers, and every reference resolves.
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let text = operation.to_string();
            for reference in text.split("\"$ref\":\"").skip(1) {
                let target = reference.split('"').next().unwrap();
                let name = target.strip_prefix("#/components/schemas/").expect(target);
                assert!(
                    document["components"]["schemas"][name].is_object(),
                    "{method} {path}: {target}"
                );
            }
            if operation.get("security").is_some() {
                assert!(document["components"]["securitySchemes"]["api_key"].is_object());
            }
            // Each path parameter in the template is declared.
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    operation["parameters"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|p| p["name"] == name && p["in"] == "path")),
                    "{method} {path}: path parameter {name} undeclared"
                );
            }
        }
    }
    documented.sort();
    // The router and the document are made from one list of handlers (`routes!`), so a route
    // cannot be served undocumented; what is documented must be served, which this checks.
    assert!(documented.len() >= 30, "{documented:?}");

    // Every documented operation is answered by the router (not the fallback 404 / 405).
    for (method, path) in &documented {
        let uri = path
            .replace("{subject}", "p-9")
            .replace("{list}", "court-defaulters")
            .replace("{version}", "2026.1")
            .replace("{purpose}", "dating.profile")
            .replace("{decision_id}", "dec-0")
            .replace("{file}", "app.js");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .header("authorization", format!("Bearer {}", fixture.operator))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let response = router(Arc::clone(&fixture.state))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        if uri == "/v1/changes" {
            continue;
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            status != StatusCode::NOT_FOUND || !bytes.is_empty(),
            "{method} {uri}: fallback 404"
        );
    }
}

static MOVING: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn moving_now() -> standing_core::Timestamp {
    standing_core::Timestamp(MOVING.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn the_clock_moved_while_serving_gives_the_scores_a_rebuild_at_that_instant_gives() {
    use std::sync::atomic::Ordering;
    let start = common::fixed_now();
    MOVING.store(start.0, Ordering::SeqCst);
    let fixture = common::fixture_with_clock("clock", moving_now);
    let (status, _) = post_events(&fixture, EVENTS).await;
    assert_eq!(status, StatusCode::OK);
    let score = |fixture: &common::Fixture| {
        let node = fixture.state.house.node.read().unwrap();
        node.engine().score("p-9").unwrap().value
    };
    let before = score(&fixture);
    // A year on: decay and expiries move scores.
    let later = standing_core::Timestamp(start.0 + 365 * 86_400);
    MOVING.store(later.0, Ordering::SeqCst);
    let stamp = fixture
        .state
        .house
        .node
        .read()
        .unwrap()
        .engine()
        .mutations();
    standing_server::advance_clock(&fixture.state);
    let node = fixture.state.house.node.read().unwrap();
    assert!(node.engine().mutations() > stamp);
    assert_eq!(node.engine().clock(), later);
    let rebuilt = node.replay_log_only(later).unwrap();
    assert_eq!(rebuilt.first_difference(node.engine()), None);
    drop(node);
    assert_ne!(score(&fixture), before);
}
