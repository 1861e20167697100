//! The subject access report (GDPR Art. 15): everything held about a person — the events by
//! source, their relations, list memberships, score and grade with the explanation, consent per
//! purpose, the decisions made about them, and every recipient of their data in the last 12
//! months from the audit log — and the counterfactuals: the smallest changes of their own data
//! that would change their grade or a decision.

use crate::House;
use crate::audit::AuditError;
use crate::json as forms;
use crate::keys::{Key, RoleKind};
use serde_json::{Value, json};
use standing_core::Timestamp;
use standing_node::NodeError;
use std::collections::BTreeMap;

/// How far back the recipients of a report reach.
pub const RECIPIENTS_SPAN: i64 = 365 * 86_400;

/// Why a report or counterfactuals could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no record of subject `{0}`")]
    UnknownSubject(String),
    #[error("the model has no purpose `{0}`")]
    UnknownPurpose(String),
    #[error("the log could not be read: {0}")]
    Log(#[from] NodeError),
    #[error("the audit log could not be read: {0}")]
    Audit(#[from] AuditError),
}

fn outcome_json(outcome: &standing_engine::whatif::Outcome) -> Value {
    json!({
        "score": forms::round(outcome.score),
        "grade": outcome.grade,
        "decisions": outcome.decisions.iter().map(|(p, v)| json!({"purpose": p, "verdict": v.name()})).collect::<Vec<_>>(),
    })
}

impl House {
    /// Everything held about `subject`, as `key` may read it: a subject's own key does not see
    /// their contacts' scores (those are the contacts' data).
    pub fn access_report(&self, key: &Key, subject: &str) -> Result<Value, AccessError> {
        let node = self.read_node();
        if node.engine().subject_index_of(subject).is_none() {
            return Err(AccessError::UnknownSubject(subject.to_owned()));
        }
        let model = node.model().clone();
        let clock = node.engine().clock();
        let explanation = node.explain(subject, clock, None);
        let records = node.records_about(subject)?;
        drop(node);

        // Events by source, as they were received, with when each was recorded.
        let mut by_source: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut relations = Vec::new();
        for logged in &records {
            let record: Value = serde_json::from_slice(&logged.body).unwrap_or(Value::Null);
            let source = record["source"].as_str().unwrap_or("?").to_owned();
            let kind = record["type"].as_str().unwrap_or("");
            if kind == standing_rules::RELATION_ADDED || kind == standing_rules::RELATION_REMOVED {
                relations.push(json!({
                    "other": record["fields"]["other"],
                    "kind": record["fields"]["kind"],
                    "change": if kind == standing_rules::RELATION_ADDED { "added" } else { "removed" },
                    "occurred_at": record["occurred_at"],
                    "source": source,
                }));
            }
            by_source.entry(source).or_default().push(json!({
                "seq": logged.seq,
                "recorded_at": logged.recorded_at.to_string(),
                "key": logged.origin,
                "event": record,
            }));
        }
        let consent: Vec<Value> = self
            .consents
            .overview(&model, subject)
            .iter()
            .map(|c| {
                json!({
                    "purpose": c.purpose, "description": c.description, "basis": c.basis,
                    "state": c.state, "permitted": c.permitted, "reads": c.reads,
                })
            })
            .collect();

        // From the audit log: decisions, and who received the subject's data in the last year.
        let now = (self.now)();
        let since = Timestamp(now.0 - RECIPIENTS_SPAN);
        let audited = self.audit.about(subject, since)?;
        let mut decisions = Vec::new();
        let mut recipients: BTreeMap<(String, String, String), (u64, String, String)> =
            BTreeMap::new();
        for record in audited.iter().map(|record| &record.entry) {
            let (action, role) = (record.action.as_str(), record.role.as_str());
            if action.starts_with("refused") || role == RoleKind::Subject.name() {
                continue;
            }
            let at = record.at.to_string();
            if action == "decision" || action == "review" {
                decisions.push(json!({
                    "at": at, "purpose": record.purpose, "outcome": record.answer, "by": record.key,
                }));
            }
            let who = (
                record.key.clone(),
                role.to_owned(),
                record.purpose.clone().unwrap_or_default(),
            );
            let entry = recipients.entry(who).or_insert((0, at.clone(), at.clone()));
            entry.0 += 1;
            entry.2 = at;
        }
        let recipients: Vec<Value> = recipients
            .into_iter()
            .map(|((key, role, purpose), (reads, first, last))| {
                json!({
                    "key": key, "role": role, "purpose": (!purpose.is_empty()).then_some(purpose),
                    "reads": reads, "first": first, "last": last,
                })
            })
            .collect();
        let events: Vec<Value> = by_source
            .into_iter()
            .map(|(source, events)| json!({"source": source, "events": events}))
            .collect();
        let mut explained = forms::explanation_json(&explanation);
        if key.is(RoleKind::Subject) {
            // Their contacts' scores are the contacts' data, not the subject's.
            if let Some(contacts) = explained["network"]["contacts"].as_array_mut() {
                for contact in contacts {
                    if let Some(contact) = contact.as_object_mut() {
                        contact.remove("score");
                        contact.remove("share");
                    }
                }
            }
        }
        Ok(json!({
            "subject": subject,
            "generated_at": now.to_string(),
            "model_version": model.version_label(),
            "score": forms::score_json(&explanation.score),
            "explanation": explained,
            "events": {"count": records.len(), "by_source": events},
            "relations": relations,
            "lists": explained["lists"].clone(),
            "consent": consent,
            "decisions": decisions,
            "recipients": recipients,
            "recipients_since": since.to_string(),
        }))
    }

    /// The counterfactuals of `subject` for `purpose` (every purpose of the model when `None`).
    pub fn counterfactuals(
        &self,
        subject: &str,
        purpose: Option<&str>,
    ) -> Result<Value, AccessError> {
        let (model, clock, own, contacts) = {
            let node = self.read_node();
            let Some(score) = node.engine().score(subject) else {
                return Err(AccessError::UnknownSubject(subject.to_owned()));
            };
            let own = node.own_events(subject)?;
            (
                node.model().clone(),
                node.engine().clock(),
                own,
                score.network,
            )
        };
        let purposes: Vec<&str> = match purpose {
            Some(name) if model.purpose(name).is_none() => {
                return Err(AccessError::UnknownPurpose(name.to_owned()));
            }
            Some(name) => vec![name],
            None => model.purposes.iter().map(|p| p.name.as_str()).collect(),
        };
        let (now, changes) = standing_engine::whatif::counterfactuals(
            &model, clock, subject, &own, contacts, &purposes,
        );
        let changes: Vec<Value> = changes
            .iter()
            .map(|change| {
                json!({
                    "change": change.change,
                    "event": change.event.as_ref().map(|e| {
                        serde_json::from_slice::<Value>(&standing_ingest::to_wire(&model, e, false)).unwrap_or(Value::Null)
                    }),
                    "at": change.at.to_string(),
                    "outcome": outcome_json(&change.outcome),
                })
            })
            .collect();
        Ok(json!({
            "subject": subject,
            "as_of": clock.to_string(),
            "contacts_part": forms::round(contacts),
            "now": outcome_json(&now),
            "changes": changes,
        }))
    }
}
