//! How the CLI shows scores, explanations and decisions: text for people, JSON for programs.

use serde_json::{Value, json};
use standing_core::{Decision, Explanation, Score};
use standing_engine::RankedSubject;
use standing_rules::Diagnostic;

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

pub fn score_text(score: &Score) -> String {
    let mut text = format!(
        "{}: {:.1} ({}) as of {}",
        score.subject, score.value, score.grade, score.as_of
    );
    if let Some(known) = score.known_at {
        text.push_str(&format!(", as known at {known}"));
    }
    text.push_str(&format!(" — model {}", score.model_version));
    text
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

pub fn explanation_text(explanation: &Explanation) -> String {
    let mut text = score_text(&explanation.score);
    text.push_str("\n\nKey factors:\n");
    if explanation.key_factors.is_empty() {
        text.push_str("  (none: no recorded event counts at this time)\n");
    }
    for (rank, factor) in explanation.key_factors.iter().enumerate() {
        let counted = if &*factor.code == "NETWORK" {
            "contact"
        } else {
            "event"
        };
        text.push_str(&format!(
            "  {}. {:<26} {:>+8.1}  ({} {counted}{})\n",
            rank + 1,
            factor.code,
            factor.points,
            factor.events,
            if factor.events == 1 { "" } else { "s" }
        ));
    }
    text.push_str("\nDimensions:\n");
    for dimension in &explanation.dimensions {
        let capped = if dimension.points != dimension.raw {
            format!(
                "  (capped from {:+.1} to [{}, {}])",
                dimension.raw, dimension.lower, dimension.upper
            )
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  {:<12} {:>+8.1}{capped}\n",
            dimension.name, dimension.points
        ));
        for c in &dimension.contributions {
            text.push_str(&format!(
                "      {:>+8.1} (of {:+.1})  {}  {}  {}/{}\n",
                c.current,
                c.awarded,
                c.occurred_at.date_string(),
                c.reason,
                c.source,
                c.event_id
            ));
        }
    }
    if let Some(network) = &explanation.network {
        text.push_str(&format!(
            "\nNetwork: {:+.1} points from {} contact{} (α = {}, within ±{} of the exact fixed point)\n",
            network.points,
            network.contact_count,
            if network.contact_count == 1 { "" } else { "s" },
            network.alpha,
            network.epsilon
        ));
        for c in &network.contacts {
            text.push_str(&format!(
                "      {:>+8.2}  {} ({}, weight {}), score {:.1}\n",
                c.share, c.subject, c.kind, c.weight, c.score
            ));
        }
    }
    text.push_str("\nLists:\n");
    if explanation.lists.is_empty() {
        text.push_str("  (none)\n");
    }
    for membership in &explanation.lists {
        text.push_str(&format!(
            "  {} since {}, lapses {} ({}/{})\n",
            membership.list,
            membership.since.date_string(),
            membership.until.date_string(),
            membership.source,
            membership.event_id
        ));
    }
    text
}

pub fn decision_json(decision: &Decision) -> Value {
    json!({
        "decision_id": decision.id,
        "purpose": decision.purpose,
        "subject": decision.subject,
        "verdict": decision.verdict.name(),
        "reasons": decision.reasons.iter().map(|r| json!({"code": r.code, "message": r.message})).collect::<Vec<_>>(),
        "model_version": decision.model_version,
        "as_of": decision.as_of.to_string(),
    })
}

pub fn decision_text(decision: &Decision) -> String {
    let mut text = format!(
        "{} for {} under {}: {} — model {}, decision {}\n",
        decision.verdict.name().to_uppercase(),
        decision.subject,
        decision.purpose,
        decision.as_of,
        decision.model_version,
        decision.id
    );
    for reason in &decision.reasons {
        text.push_str(&format!("  {}: {}\n", reason.code, reason.message));
    }
    text
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

pub fn ranking_text(ranking: &[RankedSubject]) -> String {
    ranking
        .iter()
        .enumerate()
        .map(|(rank, r)| {
            format!(
                "{:>4}. {:<16} {:>8.1}  {}\n",
                rank + 1,
                r.subject,
                r.score,
                r.grade
            )
        })
        .collect()
}

pub fn diagnostics_json(diagnostics: &[Diagnostic]) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| {
                json!({
                    "file": d.file,
                    "line": d.line,
                    "column": d.column,
                    "severity": match d.severity { standing_rules::Severity::Error => "error", standing_rules::Severity::Warning => "warning" },
                    "message": d.message,
                })
            })
            .collect(),
    )
}
