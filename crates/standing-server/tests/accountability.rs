//! Accountability duties through the HTTP API: the subject access report and portal, consent
//! per subject and purpose (withdrawal refuses the very next request), and human review of
//! adverse decisions.

use axum::http::StatusCode;
use serde_json::Value;
use standing_accountability::consent::Consents;
use standing_accountability::review::Reviews;

mod common;
use common::{EVENTS, Fixture, call, fixture, post_events};

async fn set_consent(
    fixture: &Fixture,
    subject: &str,
    purpose: &str,
    choice: &str,
) -> (StatusCode, serde_json::Value) {
    let body = format!(r#"{{"choice":"{choice}"}}"#);
    let uri = format!("/v1/subjects/{subject}/consent/{purpose}");
    call(fixture, "PUT", &uri, Some(&fixture.operator), &body).await
}

#[tokio::test]
async fn consent_decides_per_purpose_basis_and_a_withdrawal_refuses_the_next_request() {
    let fixture = fixture("consent");
    common::send_events(&fixture).await;
    // p-8 has a record too: a decision about a person with none is refused (404).
    let p8 = EVENTS
        .lines()
        .next()
        .unwrap()
        .replace("\"p1\"", "\"p8\"")
        .replace("p-9", "p-8");
    let (_, sent) = post_events(&fixture, &p8).await;
    assert_eq!(sent["accepted"], 1, "{sent}");
    let dating_score = "/v1/subjects/p-9/score?purpose=dating.profile";

    // dating.profile rests on consent: nothing before an opt-in.
    let (status, refused) = call(&fixture, "GET", dating_score, Some(&fixture.dating), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "no_consent");
    let (status, answer) = set_consent(&fixture, "p-9", "dating.profile", "opted_in").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "opted_in");
    let (status, score) = call(&fixture, "GET", dating_score, Some(&fixture.dating), "").await;
    assert_eq!(status, StatusCode::OK, "{score}");
    assert!(score["score"].is_number());
    // Withdrawn: the very next request is refused.
    let (status, answer) = set_consent(&fixture, "p-9", "dating.profile", "opted_out").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, refused) = call(&fixture, "GET", dating_score, Some(&fixture.dating), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["error"]["code"], "no_consent");
    // Rankings leave out whoever has not consented, without reading them.
    let rank = r#"{"purpose":"dating.profile","subjects":["p-9"]}"#;
    let (status, ranked) = call(&fixture, "POST", "/v1/rank", Some(&fixture.dating), rank).await;
    assert_eq!(status, StatusCode::OK, "{ranked}");
    assert_eq!(ranked["withheld"][0], "p-9");
    assert_eq!(ranked["ranking"].as_array().unwrap().len(), 0);

    // lending.consumer rests on legitimate interest: it answers until the subject objects.
    let decision = r#"{"purpose":"lending.consumer","subject":"p-8"}"#;
    let (status, _) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.lender),
        decision,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = set_consent(&fixture, "p-8", "lending.consumer", "opted_out").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, refused) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.lender),
        decision,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "no_consent");

    // The rail purpose is required by law: no consent to give or withdraw.
    let (status, conflict) =
        set_consent(&fixture, "p-9", "rail.highspeed.booking", "opted_out").await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    let decision = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    let (status, _) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.rail),
        decision,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, states) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/consent",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let state_of = |purpose: &str| {
        states["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["purpose"] == purpose)
            .map(|p| p["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(state_of("dating.profile"), "opted_out");
    assert_eq!(state_of("rail.highspeed.booking"), "required_by_law");
    assert_eq!(state_of("lending.consumer"), "not_enrolled");
    // Consumers do not manage consent.
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/consent",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every refusal for want of consent was audited; choices are durable.
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert_eq!(log.matches("refused:no_consent").count(), 3, "{log}");
    let reopened = Consents::open(&fixture.directory).unwrap();
    assert_eq!(
        reopened.choice("p-9", "dating.profile").map(|c| c.0),
        Some(standing_accountability::consent::Choice::OptedOut)
    );
}

#[tokio::test]
async fn an_adverse_decision_waits_for_a_person_and_the_consumer_reads_the_outcome() {
    let fixture = fixture("review");
    common::send_events(&fixture).await;
    // p-9 is a listed defaulter: lending denies, and lending reviews adverse decisions.
    let decision = r#"{"purpose":"lending.consumer","subject":"p-9"}"#;
    let (status, held) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.lender),
        decision,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(held["verdict"], "pending_review", "{held}");
    assert_eq!(held["review"]["proposed_verdict"], "deny");
    assert!(held["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    let id = held["decision_id"].as_str().unwrap().to_owned();
    // Asked again: the same review, not a second one.
    let (_, again) = call(
        &fixture,
        "POST",
        "/v1/decisions",
        Some(&fixture.lender),
        decision,
    )
    .await;
    assert_eq!(again["decision_id"], id.as_str());
    let (_, pending) = call(&fixture, "GET", "/v1/reviews", Some(&fixture.operator), "").await;
    assert_eq!(pending["pending"].as_array().unwrap().len(), 1, "{pending}");

    let status_uri = format!("/v1/decisions/{id}");
    let (status, waiting) = call(&fixture, "GET", &status_uri, Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waiting["verdict"], "pending_review");
    let (status, _) = call(&fixture, "GET", &status_uri, Some(&fixture.dating), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another consumer's decision");

    // A consumer cannot resolve; an operator can, once.
    let resolution = r#"{"verdict":"allow","note":"listing is under appeal; income verified"}"#;
    let review_uri = format!("/v1/reviews/{id}");
    let (status, _) = call(
        &fixture,
        "POST",
        &review_uri,
        Some(&fixture.lender),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, resolved) = call(
        &fixture,
        "POST",
        &review_uri,
        Some(&fixture.operator),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["verdict"], "allow");
    let (status, _) = call(
        &fixture,
        "POST",
        &review_uri,
        Some(&fixture.operator),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, outcome) = call(&fixture, "GET", &status_uri, Some(&fixture.lender), "").await;
    assert_eq!(outcome["verdict"], "allow");
    assert_eq!(
        outcome["review"]["note"],
        "listing is under appeal; income verified"
    );
    let (_, pending) = call(&fixture, "GET", "/v1/reviews", Some(&fixture.operator), "").await;
    assert_eq!(pending["pending"].as_array().unwrap().len(), 0);

    // A purpose without review answers adverse decisions at once.
    let rail = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    let (_, denied) = call(&fixture, "POST", "/v1/decisions", Some(&fixture.rail), rail).await;
    assert_eq!(denied["verdict"], "deny");
    // Reviews are durable and audited.
    let reopened = Reviews::open(&fixture.directory).unwrap();
    assert_eq!(reopened.get(&id).unwrap().status.name(), "allow");
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert!(log.contains("\"action\":\"review\"") && log.contains("pending_review"));
    // A review and a decision's status name the decision's subject and purpose, refusals too.
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let about_decision =
        |record: &&Value| record["subject"] == "p-9" && record["purpose"] == "lending.consumer";
    let named = |action: &str| {
        let of: Vec<&Value> = records.iter().filter(|r| r["action"] == action).collect();
        assert!(!of.is_empty(), "no {action} audited");
        assert!(of.iter().all(about_decision), "{action}: {of:?}");
    };
    named("review");
    named("decision.status");
    let refused = records
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("refused:"))
        .filter(about_decision)
        .count();
    assert!(
        refused >= 3,
        "the refused review, status read and second review: {refused}"
    );
}

#[tokio::test]
async fn the_access_report_holds_every_event_and_every_audited_recipient() {
    let fixture = fixture("access");
    common::send_events(&fixture).await;
    let key_id = |secret: &str| common::key_id(&fixture, secret);
    // Reads by three recipients, one refusal (not a recipient: nothing was given).
    for (method, uri, key, body) in [
        (
            "GET",
            "/v1/subjects/p-9/score?purpose=lending.consumer",
            &fixture.lender,
            "",
        ),
        (
            "POST",
            "/v1/decisions",
            &fixture.rail,
            r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#,
        ),
        ("GET", "/v1/subjects/p-9/explanation", &fixture.operator, ""),
    ] {
        let (status, answer) = call(&fixture, method, uri, Some(key), body).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {answer}");
    }
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=dating.profile",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, report) = call(&fixture, "GET", "/v1/me/report", Some(&fixture.subject), "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["subject"], "p-9");
    assert_eq!(report["events"]["count"], 2);
    // By source, in name order; each event with the key that sent it.
    let types = |index: usize| -> Vec<(String, String)> {
        report["events"]["by_source"][index]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let kind = e["event"]["type"].as_str().unwrap().to_owned();
                (kind, e["key"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    assert_eq!(report["events"]["by_source"][0]["source"], "courts");
    assert_eq!(report["events"]["by_source"][1]["source"], "payments");
    let courts_key = key_id(&fixture.courts);
    let payments_key = key_id(&fixture.source);
    assert_eq!(
        types(0),
        [("court.defaulter_listed".to_owned(), courts_key)]
    );
    assert_eq!(types(1), [("payment.late".to_owned(), payments_key)]);
    assert_eq!(report["lists"][0]["list"], "court-defaulters");
    assert!(
        report["score"]["score"].is_number() && report["explanation"]["key_factors"].is_array()
    );
    assert_eq!(report["decisions"][0]["purpose"], "rail.highspeed.booking");

    // Every recipient the audit log names (answers, not refusals) is in the report.
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    let mut audited: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| {
            r["subject"] == "p-9"
                && !r["action"].as_str().unwrap().starts_with("refused")
                && r["role"] != "subject"
        })
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    audited.sort();
    audited.dedup();
    let mut listed: Vec<String> = report["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, audited);
    let mut expected = vec![
        key_id(&fixture.lender),
        key_id(&fixture.rail),
        key_id(&fixture.operator),
    ];
    expected.sort();
    assert_eq!(listed, expected, "{report}");
    assert!(
        !listed.contains(&key_id(&fixture.dating)),
        "a refusal gave nothing"
    );

    // A subject key reads its own report only, and nothing a consumer reads.
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-8/report",
        Some(&fixture.subject),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=lending.consumer",
        Some(&fixture.subject),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, same) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/report",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["events"], report["events"]);

    // The subject manages their own consent: opting in lets the dating app read them.
    let (status, answer) = call(
        &fixture,
        "PUT",
        "/v1/subjects/p-9/consent/dating.profile",
        Some(&fixture.subject),
        r#"{"choice":"opted_in"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = call(
        &fixture,
        "PUT",
        "/v1/subjects/p-8/consent/dating.profile",
        Some(&fixture.subject),
        r#"{"choice":"opted_in"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=dating.profile",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = call(&fixture, "GET", "/v1/me/report", Some(&fixture.subject), "").await;
    let dating_recipient = again["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["purpose"] == "dating.profile");
    assert!(dating_recipient, "{again}");
}

#[tokio::test]
async fn counterfactuals_come_true_when_applied() {
    let fixture = fixture("whatif");
    common::send_events(&fixture).await;
    let uri = "/v1/subjects/p-9/counterfactuals?purpose=rail.highspeed.booking";
    let (status, answer) = call(&fixture, "GET", uri, Some(&fixture.operator), "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["now"]["decisions"][0]["verdict"], "deny", "{answer}");
    let changes = answer["changes"].as_array().unwrap();
    // Delisting case C-1 lets p-9 book; so does time, once the listing lapses.
    let delisting = changes
        .iter()
        .find(|c| c["event"]["type"] == "court.defaulter_delisted")
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(delisting["event"]["fields"]["case_id"], "C-1");
    assert_eq!(delisting["event"]["fields"]["court"], "district");
    assert_eq!(delisting["outcome"]["decisions"][0]["verdict"], "allow");
    let waiting = changes
        .iter()
        .find(|c| c["event"].is_null())
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(waiting["at"].as_str().unwrap() > "2027-11-25", "{waiting}");
    assert_eq!(waiting["outcome"]["decisions"][0]["verdict"], "allow");

    // Applied as the court would send it: the promised score, grade and decision.
    let mut event = delisting["event"].clone();
    event["id"] = "delist-C-1".into();
    let (status, sent) = call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&fixture.courts),
        &event.to_string(),
    )
    .await;
    assert_eq!(sent["accepted"], 1, "{status} {sent}");
    let (_, score) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(
        score["score"], delisting["outcome"]["score"],
        "{score} {delisting}"
    );
    assert_eq!(score["grade"], delisting["outcome"]["grade"]);
    let rail = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    let (_, decision) = call(&fixture, "POST", "/v1/decisions", Some(&fixture.rail), rail).await;
    assert_eq!(decision["verdict"], "allow", "{decision}");

    // The subject reads their own, and only their own.
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/counterfactuals",
        Some(&fixture.subject),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-8/counterfactuals",
        Some(&fixture.subject),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A clock the dispute test moves: seconds since the epoch.
static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn moving_now() -> standing_core::Timestamp {
    standing_core::Timestamp(CLOCK.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn a_dispute_suspends_the_item_at_once_and_its_resolution_restores_or_deletes_it() {
    use axum::body::Body;
    use tower::ServiceExt;
    let start = common::fixed_now();
    CLOCK.store(start.0, std::sync::atomic::Ordering::SeqCst);
    let fixture = common::fixture_with_clock("dispute", moving_now);
    common::send_events(&fixture).await;
    let score = || async {
        let (_, s) = call(
            &fixture,
            "GET",
            "/v1/subjects/p-9/score",
            Some(&fixture.operator),
            "",
        )
        .await;
        s["score"].as_f64().unwrap()
    };
    let before = score().await;

    // The source listens for disputes about its events.
    let request = axum::http::Request::get("/v1/changes?kinds=dispute")
        .header("authorization", format!("Bearer {}", fixture.courts))
        .body(Body::empty())
        .unwrap();
    let response = standing_server::router(std::sync::Arc::clone(&fixture.state))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut source_stream = response.into_body();
    // Consumers do not hear of disputes.
    let (status, _) = call(
        &fixture,
        "GET",
        "/v1/changes?purpose=lending.consumer&kinds=dispute",
        Some(&fixture.lender),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // p-9 contests the court listing with their own key: suspended in the same request cycle.
    let contest = r#"{"source":"courts","event":"c1","reason":"the judgment was paid in March"}"#;
    let (status, opened) = call(
        &fixture,
        "POST",
        "/v1/subjects/p-9/disputes",
        Some(&fixture.subject),
        contest,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["due"], "2026-12-25T00:00:00Z");
    let suspended = score().await;
    assert!(suspended > before + 50.0, "{before} → {suspended}");
    assert_eq!(opened["score_after"].as_f64().unwrap(), suspended);
    let rail = r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#;
    let (_, decision) = call(&fixture, "POST", "/v1/decisions", Some(&fixture.rail), rail).await;
    assert_eq!(
        decision["verdict"], "allow",
        "the listing is suspended: {decision}"
    );
    let (event, data) = common::next_event(&mut source_stream).await;
    assert_eq!(event, "dispute");
    assert_eq!(data["event"], "c1");
    assert_eq!(data["status"], "open");
    // Disputed twice: refused; another subject's data: refused.
    let (status, _) = call(
        &fixture,
        "POST",
        "/v1/subjects/p-9/disputes",
        Some(&fixture.subject),
        contest,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &fixture,
        "POST",
        "/v1/subjects/p-8/disputes",
        Some(&fixture.subject),
        contest,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The source verified it: restored, and the score is what it was.
    let id = opened["id"].as_str().unwrap().to_owned();
    let resolution = r#"{"outcome":"restored","note":"the court confirmed the listing"}"#;
    let (status, _) = call(
        &fixture,
        "POST",
        &format!("/v1/disputes/{id}"),
        Some(&fixture.subject),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a subject does not resolve");
    let (status, restored) = call(
        &fixture,
        "POST",
        &format!("/v1/disputes/{id}"),
        Some(&fixture.operator),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["status"], "restored");
    assert_eq!(score().await, before);
    let (status, _) = call(
        &fixture,
        "POST",
        &format!("/v1/disputes/{id}"),
        Some(&fixture.operator),
        resolution,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, data) = common::next_event(&mut source_stream).await;
    assert_eq!(data["status"], "restored");

    // A dispute nobody answers within 30 days is upheld: the late payment is deleted.
    let contest = r#"{"source":"payments","event":"p1","reason":"I paid on time"}"#;
    let (status, opened) = call(
        &fixture,
        "POST",
        "/v1/subjects/p-9/disputes",
        Some(&fixture.operator),
        contest,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let suspended = score().await;
    CLOCK.store(start.0 + 29 * 86_400, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(standing_server::disputes::uphold_overdue(&fixture.state), 0);
    CLOCK.store(start.0 + 31 * 86_400, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(standing_server::disputes::uphold_overdue(&fixture.state), 1);
    let (_, disputes) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/disputes",
        Some(&fixture.subject),
        "",
    )
    .await;
    assert_eq!(disputes["disputes"][0]["status"], "upheld", "{disputes}");
    assert_eq!(disputes["disputes"][1]["status"], "restored");
    assert_eq!(score().await, suspended, "the upheld item stays out");
    // A retracted item cannot be disputed again (suspending it would change nothing); the
    // restored copy is what counts now, and the refusal says so.
    let (status, again) = call(
        &fixture,
        "POST",
        "/v1/subjects/p-9/disputes",
        Some(&fixture.subject),
        r#"{"source":"courts","event":"c1","reason":"again"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "already_retracted");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("c1~restored"),
        "{again}"
    );

    // Everything went through the log: a replay gives the same state; all of it audited.
    {
        let node = fixture.state.house.node.read().unwrap();
        let replayed = node.replay_log_only(node.engine().clock()).unwrap();
        assert_eq!(node.engine().first_difference(&replayed), None);
    }
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert_eq!(log.matches("\"action\":\"dispute.open\"").count(), 2);
    assert!(log.matches("\"action\":\"dispute.resolve\"").count() >= 2);
}

static RETENTION_CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn retention_now() -> standing_core::Timestamp {
    standing_core::Timestamp(RETENTION_CLOCK.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn a_purge_removes_expired_events_from_queries_and_from_the_store() {
    RETENTION_CLOCK.store(common::fixed_now().0, std::sync::atomic::Ordering::SeqCst);
    let fixture = common::fixture_with_clock("retention", retention_now);
    common::send_events(&fixture).await;
    let store_text = || {
        let mut text = String::new();
        for entry in std::fs::read_dir(fixture.directory.join("log")).unwrap() {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.unwrap().path()).unwrap(),
            ));
        }
        text
    };
    assert!(store_text().contains("\"id\":\"c1\""));
    // Nothing has passed its retention yet: a purge removes nothing.
    let (status, nothing) = call(&fixture, "POST", "/v1/purge", Some(&fixture.operator), "").await;
    assert_eq!(status, StatusCode::OK, "{nothing}");
    assert_eq!(nothing["removed"], 0);

    // Two years after the listing of 2026-04-01 (the city model keeps listings 2 years, late
    // payments 3): the listing goes, the late payment stays.
    RETENTION_CLOCK.store(
        standing_core::Timestamp::parse("2028-04-02T00:00:00Z")
            .unwrap()
            .0,
        std::sync::atomic::Ordering::SeqCst,
    );
    let (status, _) = call(&fixture, "POST", "/v1/purge", Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, purged) = call(&fixture, "POST", "/v1/purge", Some(&fixture.operator), "").await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(purged["removed"], 1, "{purged}");
    assert_eq!(purged["by_type"]["court.defaulter_listed"], 1);
    assert_eq!(purged["kept"], 1);

    // Gone from queries…
    let (_, explained) = call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/explanation",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert!(!explained.to_string().contains("\"c1\""), "{explained}");
    assert_eq!(explained["lists"].as_array().unwrap().len(), 0);
    let (_, report) = call(&fixture, "GET", "/v1/me/report", Some(&fixture.subject), "").await;
    assert_eq!(report["events"]["count"], 1, "{report}");
    let (_, health) = call(&fixture, "GET", "/healthz", None, "").await;
    assert_eq!(health["events"], 1);
    // …and from the store; the purge is in the audit log.
    let text = store_text();
    assert!(!text.contains("\"id\":\"c1\"") && text.contains("\"id\":\"p1\""));
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    assert!(log.contains("\"action\":\"purge\"") && log.contains("court.defaulter_listed"));
    // Intake goes on on the new log.
    let late = r#"{"id":"p2","source":"payments","subject":"p-9","type":"payment.late","occurred_at":"2028-04-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":5}}"#;
    let (_, sent) = call(&fixture, "POST", "/v1/events", Some(&fixture.source), late).await;
    assert_eq!(sent["accepted"], 1, "{sent}");
    let node = fixture.state.house.node.read().unwrap();
    let replayed = node.replay_log_only(node.engine().clock()).unwrap();
    assert_eq!(node.engine().first_difference(&replayed), None);
}
