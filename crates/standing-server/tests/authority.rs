//! Sources' authority and the holes a black-box test found, as one table: each case is a
//! request, the status and error code it must get, and the audit record it must leave.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Fixture, fixture, key_id, post_events};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// Who sends a case.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Payments,
    Courts,
    Lender,
    Rail,
    Operator,
    Subject,
    /// `Authorization: bearer …`, the scheme in lower case, with the payments key.
    LowercaseScheme,
}

struct Case {
    name: &'static str,
    who: Who,
    method: &'static str,
    uri: &'static str,
    content_type: Option<&'static str>,
    body: &'static str,
    status: StatusCode,
    /// The error code of the answer, or of the first record's result (`results[0].code`).
    code: Option<&'static str>,
    /// What the newest audit record's action must be.
    audited: &'static str,
}

const LATE: &str = r#"{"id":"x1","subject":"p-9","type":"payment.late","occurred_at":"2026-03-01T10:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#;

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let case = |name, who, method, uri, content_type, body, status, code, audited| Case {
        name,
        who,
        method,
        uri,
        content_type,
        body,
        status,
        code,
        audited,
    };
    vec![
        // Sources speak only for themselves.
        case(
            "payments may not send as courts",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"k1","source":"courts","subject":"p-1","type":"court.defaulter_listed","occurred_at":"2026-03-01T00:00:00Z","fields":{"case_id":"C-9","court":"district"}}"#,
            S::OK,
            Some("source_not_granted"),
            "intake",
        ),
        case(
            "courts may not retract payments' events",
            Who::Courts,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"r1","source":"payments","subject":"p-9","type":"retraction","occurred_at":"2026-03-01T00:00:00Z","fields":{"event":"p1"}}"#,
            S::OK,
            Some("source_not_granted"),
            "intake",
        ),
        case(
            "courts' own retraction of another's event finds nothing",
            Who::Courts,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"r2","subject":"p-9","type":"retraction","occurred_at":"2026-03-01T00:00:00Z","fields":{"event":"p1"}}"#,
            S::OK,
            Some("unknown_retraction_target"),
            "intake",
        ),
        case(
            "a source may send only its types",
            Who::Operator,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"k2","source":"payments","subject":"p-1","type":"court.judgment","occurred_at":"2026-03-01T00:00:00Z","fields":{"case_id":"C-2","kind":"other","amount":10}}"#,
            S::OK,
            Some("type_not_granted"),
            "intake",
        ),
        case(
            "an undeclared source is refused",
            Who::Operator,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"k3","source":"nobody-declared","subject":"p-1","type":"payment.late","occurred_at":"2026-03-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#,
            S::OK,
            Some("unknown_source"),
            "intake",
        ),
        case(
            "an operator names the source",
            Who::Operator,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            LATE,
            S::OK,
            Some("missing_source"),
            "intake",
        ),
        case(
            "an id with the mark of records Standing writes is refused",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"dsp-1~suspend","subject":"p-9","type":"payment.late","occurred_at":"2026-03-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#,
            S::OK,
            Some("bad_id"),
            "intake",
        ),
        case(
            "an operator's retraction from an undeclared source is refused",
            Who::Operator,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"r3","source":"nobody-declared","subject":"p-9","type":"retraction","occurred_at":"2026-03-01T00:00:00Z","fields":{"event":"p1"}}"#,
            S::OK,
            Some("unknown_source"),
            "intake",
        ),
        case(
            "a body without a known key is not read",
            Who::Nobody,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            LATE,
            S::UNAUTHORIZED,
            Some("unauthenticated"),
            "refused:unauthenticated",
        ),
        case(
            "a bad instant in a score query is refused and audited",
            Who::Lender,
            "GET",
            "/v1/subjects/p-9/score?purpose=lending.consumer&at=yesterday",
            None,
            "",
            S::BAD_REQUEST,
            Some("bad_time"),
            "refused:bad_time",
        ),
        // Time is the server's.
        case(
            "a source may not set recorded_at",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"t1","subject":"p-1","type":"payment.late","occurred_at":"2026-03-01T00:00:00Z","recorded_at":"2026-03-02T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#,
            S::OK,
            Some("recorded_at_not_allowed"),
            "intake",
        ),
        case(
            "an event in the year 2999 is refused",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"t2","subject":"p-1","type":"payment.late","occurred_at":"2999-01-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#,
            S::OK,
            Some("occurs_in_future"),
            "intake",
        ),
        // Ids of the alphabet; ranges.
        case(
            "a subject id with a newline",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"i1","subject":"p-1\n","type":"payment.late","occurred_at":"2026-03-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#,
            S::OK,
            Some("bad_id"),
            "intake",
        ),
        case(
            "an event id with a right-to-left override",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            "{\"id\":\"i2\u{202e}\",\"subject\":\"p-1\",\"type\":\"payment.late\",\"occurred_at\":\"2026-03-01T00:00:00Z\",\"fields\":{\"amount\":10,\"creditor\":\"telco\",\"days_late\":4}}",
            S::OK,
            Some("bad_id"),
            "intake",
        ),
        case(
            "days_late near 2^63 is out of range",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            r#"{"id":"o1","subject":"p-1","type":"payment.late","occurred_at":"2026-03-01T00:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":9223372036854775000}}"#,
            S::OK,
            Some("out_of_range"),
            "intake",
        ),
        // Content types.
        case(
            "an unknown content type is 415",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("application/x-www-form-urlencoded"),
            LATE,
            S::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type"),
            "refused:unsupported_media_type",
        ),
        case(
            "an empty source cell in CSV is the key's source",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("text/csv"),
            "id,source,subject,type,occurred_at,amount,creditor,days_late\ncsv-2,,p-5,payment.late,2026-03-01T00:00:00Z,10,telco,4\n",
            S::OK,
            None,
            "intake",
        ),
        case(
            "an unknown event of the log is 404 to an operator",
            Who::Operator,
            "GET",
            "/v1/events/payments/nothing",
            None,
            "",
            S::NOT_FOUND,
            Some("unknown_event"),
            "refused:unknown_event",
        ),
        case(
            "a source may not read the log's records",
            Who::Payments,
            "GET",
            "/v1/events/payments/p1",
            None,
            "",
            S::FORBIDDEN,
            Some("wrong_role"),
            "refused:wrong_role",
        ),
        case(
            "a path that does not decode, without a key, is 401",
            Who::Nobody,
            "GET",
            "/v1/subjects/%FF/score?purpose=lending.consumer",
            None,
            "",
            S::UNAUTHORIZED,
            Some("unauthenticated"),
            "refused:unauthenticated",
        ),
        case(
            "a path that does not decode is 400 in JSON after the key check",
            Who::Lender,
            "GET",
            "/v1/subjects/%FF/score?purpose=lending.consumer",
            None,
            "",
            S::BAD_REQUEST,
            Some("malformed_path"),
            "refused:malformed_path",
        ),
        case(
            "CSV is read as CSV",
            Who::Payments,
            "POST",
            "/v1/events",
            Some("text/csv"),
            "id,subject,type,occurred_at,amount,creditor,days_late\ncsv-1,p-5,payment.late,2026-03-01T00:00:00Z,10,telco,4\n",
            S::OK,
            None,
            "intake",
        ),
        // Refusals come after the key check, in the JSON body, audited.
        case(
            "a malformed decision body without a key is 401",
            Who::Nobody,
            "POST",
            "/v1/decisions",
            Some("application/json"),
            "{not json",
            S::UNAUTHORIZED,
            Some("unauthenticated"),
            "refused:unauthenticated",
        ),
        case(
            "a malformed query with a wrong role is 403",
            Who::Payments,
            "GET",
            "/v1/subjects/p-9/history?months=many",
            None,
            "",
            S::FORBIDDEN,
            Some("wrong_role"),
            "refused:wrong_role",
        ),
        case(
            "a malformed query with a right key is 400 in JSON",
            Who::Operator,
            "GET",
            "/v1/subjects/p-9/history?months=many",
            None,
            "",
            S::BAD_REQUEST,
            Some("malformed_query"),
            "refused:malformed_query",
        ),
        case(
            "another subject's consent with a malformed body is 403",
            Who::Subject,
            "PUT",
            "/v1/subjects/p-1/consent/dating.profile",
            Some("application/json"),
            r#"{"choice":"maybe"}"#,
            S::FORBIDDEN,
            Some("not_yours"),
            "refused:not_yours",
        ),
        case(
            "a bad consent body of one's own is 422 in JSON",
            Who::Subject,
            "PUT",
            "/v1/subjects/p-9/consent/dating.profile",
            Some("application/json"),
            r#"{"choice":"maybe"}"#,
            S::UNPROCESSABLE_ENTITY,
            Some("malformed_body"),
            "refused:malformed_body",
        ),
        case(
            "a decision body without its content type is 415 in JSON",
            Who::Rail,
            "POST",
            "/v1/decisions",
            None,
            r#"{"purpose":"rail.highspeed.booking","subject":"p-9"}"#,
            S::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type"),
            "refused:unsupported_media_type",
        ),
        case(
            "the bearer scheme in any case",
            Who::LowercaseScheme,
            "GET",
            "/v1/subjects/p-9/history",
            None,
            "",
            S::FORBIDDEN,
            Some("wrong_role"),
            "refused:wrong_role",
        ),
        // Unknown subjects.
        case(
            "a lending decision about nobody is 404",
            Who::Lender,
            "POST",
            "/v1/decisions",
            Some("application/json"),
            r#"{"purpose":"lending.consumer","subject":"p-404"}"#,
            S::NOT_FOUND,
            Some("unknown_subject"),
            "refused:unknown_subject",
        ),
        case(
            "an id with a trailing space is nobody",
            Who::Lender,
            "POST",
            "/v1/decisions",
            Some("application/json"),
            r#"{"purpose":"lending.consumer","subject":"p-9 "}"#,
            S::NOT_FOUND,
            Some("unknown_subject"),
            "refused:unknown_subject",
        ),
        case(
            "rail booking declares what nobody gets",
            Who::Rail,
            "POST",
            "/v1/decisions",
            Some("application/json"),
            r#"{"purpose":"rail.highspeed.booking","subject":"p-404"}"#,
            S::OK,
            None,
            "decision",
        ),
        // Key lifecycle: the operator endpoint.
        case(
            "revoking an unknown key is 404",
            Who::Operator,
            "POST",
            "/v1/keys/key-00000000/revoke",
            None,
            "",
            S::NOT_FOUND,
            Some("unknown_key_id"),
            "refused:unknown_key_id",
        ),
    ]
}

fn secret(fixture: &Fixture, who: Who) -> Option<&str> {
    Some(match who {
        Who::Nobody => return None,
        Who::Payments | Who::LowercaseScheme => &fixture.source,
        Who::Courts => &fixture.courts,
        Who::Lender => &fixture.lender,
        Who::Rail => &fixture.rail,
        Who::Operator => &fixture.operator,
        Who::Subject => &fixture.subject,
    })
}

async fn send(fixture: &Fixture, case: &Case) -> (StatusCode, Value) {
    let mut request = Request::builder().method(case.method).uri(case.uri);
    if let Some(secret) = secret(fixture, case.who) {
        let scheme = if matches!(case.who, Who::LowercaseScheme) {
            "bearer"
        } else {
            "Bearer"
        };
        request = request.header("authorization", format!("{scheme} {secret}"));
    }
    if let Some(kind) = case.content_type {
        request = request.header("content-type", kind);
    }
    let response = standing_server::router(Arc::clone(&fixture.state))
        .oneshot(request.body(Body::from(case.body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn last_audit(fixture: &Fixture) -> Value {
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

#[tokio::test]
async fn every_case_gets_its_status_its_code_and_its_audit_record() {
    let fixture = fixture("authority");
    common::send_events(&fixture).await;
    let mut failures = Vec::new();
    for case in cases() {
        let before = fixture.state.house.audit.count();
        let (status, answer) = send(&fixture, &case).await;
        let code = answer["error"]["code"]
            .as_str()
            .or_else(|| answer["results"][0]["code"].as_str());
        let audited = last_audit(&fixture);
        let action = audited["action"].as_str().unwrap_or("");
        // Exactly one record for the request, and it is this request's.
        if fixture.state.house.audit.count() != before + 1 {
            failures.push(format!(
                "{}: {} audit records for one request",
                case.name,
                fixture.state.house.audit.count() - before
            ));
        }
        if action == "intake" {
            let expected = if answer["accepted"] == 1 {
                "accepted 1 "
            } else {
                "accepted 0 "
            };
            if !audited["answer"].as_str().unwrap_or("").contains(expected) {
                failures.push(format!(
                    "{}: the intake record does not count this request: {audited}",
                    case.name
                ));
            }
        }
        if status != case.status || code != case.code || action != case.audited {
            failures.push(format!(
                "{}: got {status} {code:?} audited `{action}`, want {} {:?} audited `{}`: {answer}",
                case.name, case.status, case.code, case.audited
            ));
        }
        // A refusal of a key that was known names the key; its answer names the endpoint.
        if action.starts_with("refused:") && !matches!(case.who, Who::Nobody) {
            let expected = key_id(&fixture, secret(&fixture, case.who).unwrap());
            if audited["key"] != expected.as_str() {
                failures.push(format!(
                    "{}: audited key {}, want {expected}",
                    case.name, audited["key"]
                ));
            }
        }
        if action.starts_with("refused:")
            && !audited["answer"].as_str().unwrap_or("").contains(": ")
        {
            failures.push(format!(
                "{}: the refusal does not name its endpoint: {audited}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn intake_is_audited_with_its_key_and_a_record_keeps_who_sent_it() {
    let fixture = fixture("provenance");
    let (_, sent) = post_events(&fixture, common::EVENTS).await;
    assert_eq!(sent["accepted"], 2, "{sent}");
    fixture.state.house.audit.sync().unwrap();
    let log = std::fs::read_to_string(fixture.directory.join("audit/audit.jsonl")).unwrap();
    let intake: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["action"] == "intake")
        .collect();
    let payments = key_id(&fixture, &fixture.source);
    let courts = key_id(&fixture, &fixture.courts);
    assert_eq!(intake.len(), 2, "{log}");
    assert_eq!(intake[0]["key"], payments.as_str());
    assert_eq!(
        intake[0]["answer"],
        format!(
            "origin {payments} source payments accepted 1 duplicate 0 conflict 0 rejected 1 first p1 last p1"
        )
    );
    assert_eq!(intake[1]["key"], courts.as_str());
    {
        let mut node = fixture.state.house.node.write().unwrap();
        assert_eq!(
            node.find_event("courts", "c1").unwrap().unwrap().origin,
            courts
        );
        assert_eq!(
            node.find_event("payments", "p1").unwrap().unwrap().origin,
            payments
        );
    }
    // Operators read which key wrote an event, while the server runs.
    let (status, shown) = common::call(
        &fixture,
        "GET",
        "/v1/events/courts/c1",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["key"], courts.as_str());
    assert_eq!(shown["event"]["type"], "court.defaulter_listed");
    // The same id again with other content: a conflict, and the first is kept.
    let changed = common::EVENTS
        .lines()
        .next()
        .unwrap()
        .replace(r#""days_late":40"#, r#""days_late":41"#);
    let (_, again) = post_events(&fixture, &changed).await;
    assert_eq!(again["conflict"], 1, "{again}");
    assert_eq!(again["results"][0]["status"], "conflict");
    let mut node = fixture.state.house.node.write().unwrap();
    let kept = node.find_event("payments", "p1").unwrap().unwrap();
    assert!(String::from_utf8_lossy(&kept.body).contains(r#""days_late":40"#));
}

#[tokio::test]
async fn a_revoked_key_is_refused_from_the_next_request_on_also_when_revoked_by_another_process() {
    let fixture = fixture("revoke");
    let score = "/v1/subjects/p-9/score?purpose=lending.consumer";
    common::send_events(&fixture).await;
    let (status, _) = common::call(&fixture, "GET", score, Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::OK);
    // Revoked through the operator endpoint.
    let lender = key_id(&fixture, &fixture.lender);
    let uri = format!("/v1/keys/{lender}/revoke");
    let (status, revoked) = common::call(&fixture, "POST", &uri, Some(&fixture.operator), "").await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let (status, refused) = common::call(&fixture, "GET", score, Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"]["code"], "revoked_key");
    // Revoked in the file by another process (as `standing keys revoke` does): the next
    // request reads the change.
    let dating = key_id(&fixture, &fixture.dating);
    let mut store = standing_accountability::keys::KeyStore::open(&fixture.directory).unwrap();
    store.revoke(&dating, common::fixed_now()).unwrap();
    let (status, refused) = common::call(
        &fixture,
        "GET",
        "/v1/subjects/p-9/score?purpose=dating.profile",
        Some(&fixture.dating),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "revoked_key");
    // The list shows when each key was last used.
    let (_, listed) = common::call(&fixture, "GET", "/v1/keys", Some(&fixture.operator), "").await;
    let lender_entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == lender.as_str())
        .unwrap()
        .clone();
    assert!(lender_entry["last_used"].is_string(), "{lender_entry}");
    assert!(lender_entry["revoked_at"].is_string(), "{lender_entry}");
}

#[tokio::test]
async fn an_expired_key_is_refused_and_each_keys_last_use_is_kept_for_keys_list() {
    let fixture = fixture("expiry");
    // A key that expired before the server's clock, made by another process meanwhile.
    let mut store = standing_accountability::keys::KeyStore::open(&fixture.directory).unwrap();
    let spec = standing_accountability::keys::KeySpec {
        expires_at: Some(standing_core::Timestamp(common::fixed_now().0 - 1)),
        ..standing_accountability::keys::KeySpec::consumer(&["lending.consumer"])
    };
    let (expired, secret) = store.create(spec, common::fixed_now()).unwrap();
    let score = "/v1/subjects/p-9/score?purpose=lending.consumer";
    let (status, refused) = common::call(&fixture, "GET", score, Some(&secret), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "expired_key");
    let audited = last_audit(&fixture);
    assert_eq!(audited["action"], "refused:expired_key");
    assert_eq!(audited["key"], expired.id.as_str());
    // Last use: noted per request, written for `standing keys list`.
    common::send_events(&fixture).await;
    let (status, _) = common::call(&fixture, "GET", score, Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::OK);
    fixture.state.house.keys.save_last_used().unwrap();
    let used = standing_accountability::keys::KeyStore::open(&fixture.directory)
        .unwrap()
        .last_used();
    let lender = key_id(&fixture, &fixture.lender);
    assert_eq!(used.get(&lender), Some(&common::fixed_now()));
    assert!(
        !used.contains_key(&expired.id),
        "a refused key was not used"
    );
}

#[tokio::test]
async fn an_uploaded_model_over_its_bound_is_refused_after_the_key_check() {
    let fixture = fixture("model-size");
    let huge = format!(
        "# {}\n{}",
        "x".repeat(standing_rules::MAX_MODEL_BYTES),
        standing_rules::SAMPLE_CITY_MODEL
    );
    let request = Request::builder()
        .method("POST")
        .uri("/v1/models")
        .header("authorization", format!("Bearer {}", fixture.operator))
        .header("content-type", "application/toml")
        .body(Body::from(huge))
        .unwrap();
    let response = standing_server::router(Arc::clone(&fixture.state))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let audited = last_audit(&fixture);
    assert_eq!(audited["action"], "refused:too_large");
    // Without a key, the same body is not even read: 401.
    let (status, _) = common::call(&fixture, "POST", "/v1/models", None, "[model]").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_source_hears_of_disputes_about_its_own_events_only() {
    let fixture = fixture("dispute-per-source");
    common::send_events(&fixture).await;
    let request = Request::get("/v1/changes?kinds=dispute")
        .header("authorization", format!("Bearer {}", fixture.source))
        .body(Body::empty())
        .unwrap();
    let response = standing_server::router(Arc::clone(&fixture.state))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut payments_stream = response.into_body();
    // First the court's listing is contested, then the payment platform's late payment.
    for (source, event) in [("courts", "c1"), ("payments", "p1")] {
        let contest = format!(r#"{{"source":"{source}","event":"{event}","reason":"not mine"}}"#);
        let (status, opened) = common::call(
            &fixture,
            "POST",
            "/v1/subjects/p-9/disputes",
            Some(&fixture.operator),
            &contest,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{opened}");
    }
    // The payment platform's stream skipped the court's dispute.
    let (kind, data) = common::next_event(&mut payments_stream).await;
    assert_eq!(kind, "dispute");
    assert_eq!(data["source"], "payments", "{data}");
    assert_eq!(data["event"], "p1", "{data}");
}

#[tokio::test]
async fn consent_for_an_id_outside_the_alphabet_is_refused() {
    let fixture = fixture("consent-id");
    let (status, answer) = common::call(
        &fixture,
        "PUT",
        "/v1/subjects/p-1%0A/consent/dating.profile",
        Some(&fixture.operator),
        r#"{"choice":"opted_in"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_id");
    assert_eq!(last_audit(&fixture)["action"], "refused:bad_id");
}

#[tokio::test]
async fn a_record_naming_a_null_source_is_logged_with_the_keys_source_and_replays() {
    let fixture = fixture("null-source");
    let record = r#"{"id":"n1","source":null,"subject":"p-4","type":"payment.late","occurred_at":"2026-03-01T10:00:00Z","fields":{"amount":10,"creditor":"telco","days_late":4}}"#;
    let (status, answer) = common::call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&fixture.source),
        record,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    let mut node = fixture.state.house.node.write().unwrap();
    let logged = node.find_event("payments", "n1").unwrap().unwrap();
    let body: Value = serde_json::from_slice(&logged.body).unwrap();
    assert_eq!(body["source"], "payments");
    // The log replays (one `source` key in the body), to the same state.
    let replayed = node.replay_log_only(node.engine().clock()).unwrap();
    assert_eq!(replayed.first_difference(node.engine()), None);
}

#[tokio::test]
async fn a_source_key_made_before_keys_were_bound_is_refused() {
    let fixture = fixture("unbound");
    // A key store of before: a source key with no source.
    let path = fixture.directory.join("keys.json");
    let mut keys: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let payments = keys
        .iter_mut()
        .find(|key| key["source"] == "payments")
        .unwrap();
    payments.as_object_mut().unwrap().remove("source");
    std::fs::write(&path, serde_json::to_string(&keys).unwrap()).unwrap();
    // Another process's change is noticed by its generation.
    let mut store = standing_accountability::keys::KeyStore::open(&fixture.directory).unwrap();
    store
        .create(
            standing_accountability::keys::KeySpec::source("courts"),
            common::fixed_now(),
        )
        .unwrap();
    let (status, answer) =
        common::call(&fixture, "POST", "/v1/events", Some(&fixture.source), LATE).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "unbound_key");
}

#[tokio::test]
async fn an_operators_history_comes_in_recorded_order_after_the_log_and_the_answers_and_not_in_the_future()
 {
    let fixture = fixture("history");
    let mut store = standing_accountability::keys::KeyStore::open(&fixture.directory).unwrap();
    let spec = standing_accountability::keys::KeySpec {
        history: true,
        ..standing_accountability::keys::KeySpec::new(
            standing_accountability::keys::RoleKind::Operator,
        )
    };
    let (_, history) = store.create(spec, common::fixed_now()).unwrap();
    let record = |id: &str, recorded: &str| {
        format!(
            r#"{{"id":"{id}","source":"payments","subject":"p-3","type":"payment.late","occurred_at":"2026-01-01T00:00:00Z","recorded_at":"{recorded}","fields":{{"amount":10,"creditor":"telco","days_late":4}}}}"#
        )
    };
    let batch = [
        record("h1", "2026-02-01T00:00:00Z"),
        record("h2", "2026-03-01T00:00:00Z"),
        record("h3", "2026-02-15T00:00:00Z"),
        record("h4", "2999-01-01T00:00:00Z"),
    ]
    .join("\n");
    let (status, answer) =
        common::call(&fixture, "POST", "/v1/events", Some(&history), &batch).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let codes: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap_or(r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            "accepted",
            "accepted",
            "recorded_before_log",
            "recorded_in_future"
        ],
        "{answer}"
    );
    // An answer given now: history may no longer be recorded before it.
    let (status, _) = common::call(
        &fixture,
        "GET",
        "/v1/subjects/p-3/explanation",
        Some(&fixture.operator),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, later) = common::call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&history),
        &record("h5", "2026-04-01T00:00:00Z"),
    )
    .await;
    assert_eq!(
        later["results"][0]["code"], "recorded_before_log",
        "{later}"
    );
    // The fixture's source key, without the flag, may not carry recorded_at at all.
    let plain = record("h6", "2026-04-01T00:00:00Z").replace(r#""source":"payments","#, "");
    let (_, refused) = common::call(
        &fixture,
        "POST",
        "/v1/events",
        Some(&fixture.source),
        &plain,
    )
    .await;
    assert_eq!(
        refused["results"][0]["code"], "recorded_at_not_allowed",
        "{refused}"
    );
}

#[tokio::test]
async fn a_key_revoked_by_hand_in_keys_json_is_refused_after_the_next_look() {
    let fixture = fixture("hand-edit");
    common::send_events(&fixture).await;
    let score = "/v1/subjects/p-9/score?purpose=lending.consumer";
    let lender = key_id(&fixture, &fixture.lender);
    let path = fixture.directory.join("keys.json");
    let mut keys: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entry = keys
        .iter_mut()
        .find(|key| key["id"] == lender.as_str())
        .unwrap();
    entry["revoked_at"] = "2026-01-01T00:00:00Z".into();
    std::fs::write(&path, serde_json::to_string_pretty(&keys).unwrap()).unwrap();
    // No generation moved: the once-a-second look at the file finds the change.
    fixture.state.house.keys.notice_file_change();
    let (status, refused) = common::call(&fixture, "GET", score, Some(&fixture.lender), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "revoked_key");
}

#[tokio::test]
async fn an_unknown_route_and_an_unserved_method_are_answered_in_the_json_error_body() {
    let fixture = fixture("fallbacks");
    let (status, answer) = common::call(&fixture, "GET", "/v1/nothing-here", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "no_route");
    let (status, answer) = common::call(&fixture, "DELETE", "/v1/events", None, "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer["error"]["code"], "method_not_allowed");
}
