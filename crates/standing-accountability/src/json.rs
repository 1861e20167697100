//! Scores, explanations, decisions and rankings as JSON: one form for the HTTP API and the
//! command line's `--json`.

use serde_json::{Value, json};
use standing_core::{Decision, Explanation, Score};
use standing_engine::RankedSubject;

/// Points to two decimals, as every JSON answer shows them.
pub fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

pub fn score_json(score: &Score) -> Value {
    json!({
        "subject": score.subject,
        "score": round(score.value),
        "grade": score.grade,
        "behaviour": round(score.behaviour),
        "network": round(score.network),
        "model_version": score.model_version,
        "as_of": score.as_of.to_string(),
        "known_at": score.known_at.map(|t| t.to_string()),
    })
}

pub fn explanation_json(explanation: &Explanation) -> Value {
    json!({
        "score": score_json(&explanation.score),
        "key_factors": explanation.key_factors.iter().map(|factor| json!({
            "code": factor.code,
            "points": round(factor.points),
            "events": factor.events,
            "description": factor.description,
        })).collect::<Vec<_>>(),
        "dimensions": explanation.dimensions.iter().map(|dimension| json!({
            "name": dimension.name,
            "points": round(dimension.points),
            "raw": round(dimension.raw),
            "lower": dimension.lower,
            "upper": dimension.upper,
            "contributions": dimension.contributions.iter().map(|c| json!({
                "source": c.source,
                "event_id": c.event_id,
                "event_type": c.event_type,
                "reason_code": c.reason_code,
                "reason": c.reason,
                "occurred_at": c.occurred_at.to_string(),
                "awarded": round(c.awarded),
                "current": round(c.current),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "lists": explanation.lists.iter().map(|m| json!({
            "list": m.list,
            "since": m.since.to_string(),
            "until": m.until.to_string(),
            "source": m.source,
            "event_id": m.event_id,
        })).collect::<Vec<_>>(),
        "network": explanation.network.as_ref().map(|network| json!({
            "points": round(network.points),
            "alpha": network.alpha,
            "epsilon": network.epsilon,
            "contact_count": network.contact_count,
            "contacts": network.contacts.iter().map(|c| json!({
                "subject": c.subject,
                "kind": c.kind,
                "weight": c.weight,
                "score": round(c.score),
                "share": round(c.share),
            })).collect::<Vec<_>>(),
        })),
    })
}

pub fn decision_json(decision: &Decision) -> Value {
    serde_json::to_value(DecisionForm::of(decision)).unwrap_or_default()
}

/// A decision's wire form, serialized straight from the decision (the hot path of consumers).
#[derive(Debug, serde::Serialize)]
pub struct DecisionForm<'a> {
    decision_id: &'a str,
    purpose: &'a str,
    subject: &'a str,
    verdict: &'static str,
    reasons: Vec<ReasonForm<'a>>,
    model_version: &'a str,
    as_of: String,
}

#[derive(Debug, serde::Serialize)]
struct ReasonForm<'a> {
    code: &'a str,
    message: &'a str,
}

impl<'a> DecisionForm<'a> {
    pub fn of(decision: &'a Decision) -> Self {
        DecisionForm {
            decision_id: &decision.id,
            purpose: &decision.purpose,
            subject: &decision.subject,
            verdict: decision.verdict.name(),
            reasons: decision
                .reasons
                .iter()
                .map(|reason| ReasonForm {
                    code: &reason.code,
                    message: &reason.message,
                })
                .collect(),
            model_version: &decision.model_version,
            as_of: decision.as_of.to_string(),
        }
    }
}

pub fn ranking_json(ranking: &[RankedSubject]) -> Value {
    Value::Array(
        ranking
            .iter()
            .enumerate()
            .map(|(rank, r)| json!({"rank": rank + 1, "subject": r.subject, "score": round(r.score), "grade": r.grade}))
            .collect(),
    )
}
