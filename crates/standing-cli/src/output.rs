//! How the CLI shows scores, explanations and decisions: text for people, JSON for programs.

use serde_json::{Value, json};
pub use standing_accountability::json::{
    decision_json, explanation_json, ranking_json, score_json,
};
use standing_core::{Decision, Explanation, Score};
use standing_engine::RankedSubject;
use standing_rules::Diagnostic;

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
