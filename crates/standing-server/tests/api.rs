//! The HTTP API through its router: health, intake with per-record results and idempotency,
//! purpose-bound reads and decisions, and the auth matrix (no key, unknown key, wrong role,
//! purpose not granted, a purpose reading beyond its binding).

use axum::http::StatusCode;

mod common;
use common::{EVENTS, call, fixture, opt_in, post_events};

#[tokio::test]
async fn sources_send_events_and_get_a_durable_answer_per_record() {
    let fixture = fixture("intake");
    let (status, health) = call(&fixture, "GET", "/healthz", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["events"], 0);

    let (status, answer) = post_events(&fixture, EVENTS).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["rejected"], 1);
    assert_eq!(answer["durable"], true);
    assert_eq!(answer["results"][2]["status"], "rejected");
    assert!(
        answer["results"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("occurred_at")
    );
    // Sent again: duplicates, nothing applied twice.
    let (_, again) = post_events(&fixture, EVENTS).await;
    assert_eq!(again["duplicate"], 2, "{again}");
    assert_eq!(again["accepted"], 0);
    // A JSON array is read too.
    let array = format!(
        "[{}]",
        EVENTS.lines().next().unwrap().replace("\"p1\"", "\"p2\"")
    );
    let (_, from_array) = call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&fixture.source),
        &array,
    )
    .await;
    assert_eq!(from_array["accepted"], 1, "{from_array}");
    let (_, health) = call(&fixture, "GET", "/healthz", None, "").await;
    assert_eq!(health["events"], 3);
    // Acknowledged means in the log, synced: the log holds exactly the accepted records.
    assert_eq!(fixture.state.house.node.read().unwrap().log_records(), 3);
}

#[tokio::test]
async fn consumers_see_what_their_purpose_may_read_and_nothing_else() {
    let fixture = fixture("reads");
    common::send_events(&fixture).await;

    let (status, lender) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=lending.consumer",
        Some(&fixture.lender),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lender}");
    assert!(
        lender["score"].is_number() && lender["grade"].is_string(),
        "{lender}"
    );
    assert!(lender.get("behaviour").is_none() && lender.get("network").is_none());

    // dating.profile reads the score, not the grade (for subjects who opted in).
    opt_in(&fixture, "p-9", "dating.profile").await;
    let (status, dating) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=dating.profile",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        dating["score"].is_number() && dating.get("grade").is_none(),
        "{dating}"
    );

    // The rail purpose reads a list, not scores: it gets a decision.
    let (status, refused) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=rail.highspeed.booking",
        Some(&fixture.rail),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["error"]["code"], "beyond_purpose");
    let decision = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    let (status, verdict) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.rail),
        decision,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["verdict"], "deny", "{verdict}");

    // Every read and decision was audited: two reads, one refusal, one decision so far (and
    // the consent recorded for the dating purpose), and the two intake batches (one per source).
    assert_eq!(fixture.state.house.audit.count(), 7);
    // Operators read explanations.
    let (status, explained) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/explanation",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        explained["key_factors"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
}

#[tokio::test]
async fn the_auth_matrix_refuses_with_clear_bodies() {
    let fixture = fixture("auth");
    let score = "/v1/subjects/p-9/score?purpose=lending.consumer";
    // (method, uri, key, body, expected status, expected error code)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        StatusCode,
        &'a str,
    );
    let cases: [Case; 7] = [
        (
            "GET",
            score,
            None,
            "",
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "GET",
            score,
            Some("stk_not-a-key"),
            "",
            StatusCode::UNAUTHORIZED,
            "unknown_key",
        ),
        (
            "GET",
            score,
            Some(&fixture.source),
            "",
            StatusCode::FORBIDDEN,
            "wrong_role",
        ),
        (
            "GET",
            score,
            Some(&fixture.dating),
            "",
            StatusCode::FORBIDDEN,
            "purpose_not_granted",
        ),
        (
            "GET",
            "/v1/subjects/p-9/score",
            Some(&fixture.lender),
            "",
            StatusCode::BAD_REQUEST,
            "purpose_missing",
        ),
        (
            "POST",
            "/v1/events",
            Some(&fixture.lender),
            EVENTS,
            StatusCode::FORBIDDEN,
            "wrong_role",
        ),
        (
            "GET",
            "/v1/subjects/p-9/explanation",
            Some(&fixture.lender),
            "",
            StatusCode::FORBIDDEN,
            "wrong_role",
        ),
    ];
    let audited = fixture.state.house.audit.count();
    for (method, uri, key, body, status, code) in cases {
        let (got, answer) = call(&fixture, method, uri, key, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {uri}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Nothing a refused request carried was applied, and every refusal was audited.
    let (_, health) = call(&fixture, "GET", "/healthz", None, "").await;
    assert_eq!(health["events"], 0);
    assert_eq!(fixture.state.house.audit.count(), audited + 7);
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert!(log.contains("refused:purpose_not_granted") && log.contains("refused:unknown_key"));
    assert_eq!(
        standing_accountability::audit::verify(&fixture.directory)
            .unwrap()
            .0,
        audited + 7
    );
}

#[tokio::test]
async fn history_rankings_and_list_membership_stay_within_the_purpose() {
    let fixture = fixture("history");
    common::send_events(&fixture).await;
    let on_time = r#"{"id":"g1","source":"payments","subject":"p-8","type":"payment.on_time","occurred_at":"2026-02-01T00:00:00Z","fields":{"amount":50,"creditor":"telco"}}"#;
    call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&fixture.source),
        on_time,
    )
    .await;

    let score = |query: &str| format!("/v1/subjects/p-9/score?purpose=lending.consumer{query}");
    let (_, now) = call(&fixture, "GET", &score(""), Some(&fixture.lender), "").await;
    let (_, march) = call(
        &fixture,
        "GET",
        &score("&at=2026-03-15T00:00:00Z"),
        Some(&fixture.lender),
        "",
    )
    .await;
    // Before the court listing of April the score was higher; as known before anything was
    // recorded it was the base.
    assert!(
        march["score"].as_f64().unwrap() > now["score"].as_f64().unwrap(),
        "{march} {now}"
    );
    let (_, unknown_then) = call(
        &fixture,
        "GET",
        &score("&known_at=2026-01-01T00:00:00Z"),
        Some(&fixture.lender),
        "",
    )
    .await;
    assert_eq!(unknown_then["score"], 1000.0, "{unknown_then}");
    let (status, bad) = call(
        &fixture,
        "GET",
        &score("&at=yesterday"),
        Some(&fixture.lender),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["error"]["message"].as_str().unwrap().contains("`at`"));

    for subject in ["p-8", "p-9", "p-nobody"] {
        opt_in(&fixture, subject, "dating.profile").await;
    }
    let rank = r#"{"purpose":"dating.profile","subjects":["p-9","p-nobody","p-8"]}"#;
    let (status, ranked) = call(&fixture, "POST", "/v1/rank", Some(&fixture.dating), rank).await;
    assert_eq!(status, StatusCode::OK, "{ranked}");
    assert_eq!(ranked["ranking"][0]["subject"], "p-8");
    assert_eq!(ranked["ranking"][1]["subject"], "p-9");
    assert_eq!(ranked["unknown"][0], "p-nobody");
    let lending_rank = rank.replace("dating.profile", "lending.consumer");
    let (status, refused) = call(
        &fixture,
        "POST",
        "/v1/rank",
        Some(&fixture.lender),
        &lending_rank,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    let list = |purpose: &str| format!("/v1/subjects/p-9/lists/court-defaulters?purpose={purpose}");
    let (status, listed) = call(
        &fixture,
        "GET",
        &list("rail.highspeed.booking"),
        Some(&fixture.rail),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["member"], true);
    let (status, refused) = call(
        &fixture,
        "GET",
        &list("dating.profile"),
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["error"]["code"], "beyond_purpose");
}
