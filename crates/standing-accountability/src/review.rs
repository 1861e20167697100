//! Human review of adverse decisions: a purpose declared with `review = "adverse"` answers a
//! deny as `pending_review`; an operator resolves it (allow or deny, with a note), and the
//! consumer reads the outcome by decision id. Every opening and resolution is kept in
//! `review/reviews.jsonl`, synced before it is in force.

use crate::ledger::{LedgerError, LedgerMap};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use standing_core::{Decision, Timestamp};

/// Where a held decision stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Waiting for a person.
    PendingReview,
    /// Reviewed: allowed after all.
    Allow,
    /// Reviewed: the deny stands.
    Deny,
}

impl ReviewStatus {
    pub fn name(self) -> &'static str {
        match self {
            ReviewStatus::PendingReview => "pending_review",
            ReviewStatus::Allow => "allow",
            ReviewStatus::Deny => "deny",
        }
    }
}

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewVerdict {
    Allow,
    Deny,
}

impl ReviewVerdict {
    /// `allow` or `deny`.
    pub fn parse(text: &str) -> Option<ReviewVerdict> {
        match text {
            "allow" => Some(ReviewVerdict::Allow),
            "deny" => Some(ReviewVerdict::Deny),
            _ => None,
        }
    }
}

/// A decision held for review, and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub decision_id: String,
    pub purpose: String,
    pub subject: String,
    /// The decision as the model made it (its JSON form), with its reasons.
    pub proposed: Value,
    /// The key that asked.
    pub asked_by: String,
    #[serde(with = "crate::instant")]
    pub opened_at: Timestamp,
    pub status: ReviewStatus,
    pub reviewed_by: Option<String>,
    #[serde(with = "crate::instant::option")]
    pub reviewed_at: Option<Timestamp>,
    pub note: Option<String>,
}

impl Review {
    /// A review of `decision`, asked for by key `asked_by` at `at`.
    pub fn of(decision: &Decision, asked_by: &str, at: Timestamp) -> Review {
        Review {
            decision_id: decision.id.to_string(),
            purpose: decision.purpose.to_string(),
            subject: decision.subject.to_string(),
            proposed: crate::json::decision_json(decision),
            asked_by: asked_by.to_owned(),
            opened_at: at,
            status: ReviewStatus::PendingReview,
            reviewed_by: None,
            reviewed_at: None,
            note: None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == ReviewStatus::PendingReview
    }

    /// The decision as it stands, with its review.
    pub fn to_json(&self) -> Value {
        let mut answer = self.proposed.clone();
        answer["verdict"] = json!(self.status);
        answer["review"] = json!({
            "status": if self.is_pending() { "pending" } else { "reviewed" },
            "proposed_verdict": self.proposed["verdict"],
            "opened_at": self.opened_at.to_string(),
            "reviewed_at": self.reviewed_at.map(|at| at.to_string()),
            "reviewed_by": self.reviewed_by,
            "note": self.note,
        });
        answer
    }
}

/// Why a review was not opened or resolved.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no decision `{0}` is held for review")]
    Unknown(String),
    #[error("decision `{id}` was reviewed: {}", .status.name())]
    AlreadyReviewed { id: String, status: ReviewStatus },
    #[error("the review was not recorded: {0}")]
    NotDurable(#[from] LedgerError),
}

/// The reviews of a data directory.
#[derive(Debug)]
pub struct Reviews {
    by_id: LedgerMap<String, Review>,
}

impl Reviews {
    pub fn open(directory: &std::path::Path) -> Result<Reviews, LedgerError> {
        let by_id = LedgerMap::open(&directory.join("review/reviews.jsonl"), |r: &Review| {
            r.decision_id.clone()
        })?;
        Ok(Reviews { by_id })
    }

    pub fn get(&self, decision_id: &str) -> Option<Review> {
        self.by_id.get(decision_id)
    }

    /// Keeps a review (durable first); an existing one for the same decision is returned as it
    /// stands instead.
    pub fn open_review(&self, review: Review) -> Result<Review, LedgerError> {
        let id = review.decision_id.clone();
        self.by_id.insert_new(id, review)
    }

    /// Resolves a pending review with `verdict`, by key `by` at `at`, with a note; unless it was
    /// resolved already.
    pub fn resolve(
        &self,
        decision_id: &str,
        verdict: ReviewVerdict,
        by: &str,
        at: Timestamp,
        note: String,
    ) -> Result<Review, ReviewError> {
        self.by_id.write(decision_id.to_owned(), |was| {
            let Some(was) = was else {
                return Err(ReviewError::Unknown(decision_id.to_owned()));
            };
            if !was.is_pending() {
                return Err(ReviewError::AlreadyReviewed {
                    id: decision_id.to_owned(),
                    status: was.status,
                });
            }
            Ok(Review {
                status: match verdict {
                    ReviewVerdict::Allow => ReviewStatus::Allow,
                    ReviewVerdict::Deny => ReviewStatus::Deny,
                },
                reviewed_by: Some(by.to_owned()),
                reviewed_at: Some(at),
                note: Some(note),
                ..was.clone()
            })
        })
    }

    /// The reviews still pending, oldest decision id first.
    pub fn pending(&self) -> Vec<Review> {
        let all = self.by_id.read();
        all.values().filter(|r| r.is_pending()).cloned().collect()
    }
}
