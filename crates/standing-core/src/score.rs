//! What the engine answers: scores, explanations and decisions.

use crate::Timestamp;

/// A subject's score at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub subject: Box<str>,
    /// The served score: behaviour plus network, clamped to the model's range.
    pub value: f64,
    pub grade: Box<str>,
    /// The behaviour part: base plus the capped dimension totals.
    pub behaviour: f64,
    /// What the subject's contacts add or take; 0 until the social graph is in the model.
    pub network: f64,
    pub model_version: Box<str>,
    /// The instant the score is computed for (occurred-time).
    pub as_of: Timestamp,
    /// When set, only what was recorded by this instant is counted.
    pub known_at: Option<Timestamp>,
}

/// A score with the reasons behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub score: Score,
    pub dimensions: Vec<DimensionScore>,
    /// The reason codes with the largest effect on the score, largest first (at most four).
    /// The contacts' part counts as one, `NETWORK`.
    pub key_factors: Vec<ReasonImpact>,
    pub lists: Vec<ListMembership>,
    /// How contacts' scores moved this one; `None` when the model's network is off.
    pub network: Option<NetworkPart>,
}

/// The social-graph part of a score: `f(s) = (1 − α)·b(s) + α·Σ w·f(u) / Σ w`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkPart {
    /// Points the contacts moved the score (served score minus behaviour score).
    pub points: f64,
    pub alpha: f64,
    /// The network score is within this many points of the exact fixed point.
    pub epsilon: f64,
    /// Contacts the score depends on.
    pub contact_count: usize,
    /// The contacts behind `points`, largest effect first (at most five). Their shares add up
    /// to `points` within ε.
    pub contacts: Vec<ContactImpact>,
}

/// One contact's part in a score.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactImpact {
    pub subject: Box<str>,
    /// The relation kind (model's name).
    pub kind: Box<str>,
    pub weight: f64,
    /// The contact's own score.
    pub score: f64,
    /// Points this contact moves the score: `α · w / Σw · (score of contact − behaviour)`.
    pub share: f64,
}

/// One dimension's part of a score.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionScore {
    pub name: Box<str>,
    /// The sum of the dimension's current rule points before the dimension's caps.
    pub raw: f64,
    /// What the dimension adds to the score: `raw` clamped to `[lower, upper]`.
    pub points: f64,
    pub lower: f64,
    pub upper: f64,
    pub contributions: Vec<Contribution>,
}

/// What one event adds to a score now.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub source: Box<str>,
    pub event_id: Box<str>,
    pub event_type: Box<str>,
    pub reason_code: Box<str>,
    pub reason: Box<str>,
    pub occurred_at: Timestamp,
    /// The points the rule awarded when the event occurred.
    pub awarded: f64,
    /// The points after decay, at the score's instant.
    pub current: f64,
}

/// The total effect of one reason code on a score.
#[derive(Clone, Debug, PartialEq)]
pub struct ReasonImpact {
    pub code: Box<str>,
    pub points: f64,
    pub events: u32,
    pub description: Box<str>,
}

/// A subject's place on a list at the score's instant.
#[derive(Clone, Debug, PartialEq)]
pub struct ListMembership {
    pub list: Box<str>,
    pub since: Timestamp,
    /// When the entry lapses unless it is left earlier: entry plus the list's maximum duration.
    pub until: Timestamp,
    pub source: Box<str>,
    pub event_id: Box<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// A purpose's answer for one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub id: Box<str>,
    pub purpose: Box<str>,
    pub subject: Box<str>,
    pub verdict: Verdict,
    pub reasons: Vec<DecisionReason>,
    pub model_version: Box<str>,
    pub as_of: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DecisionReason {
    pub code: Box<str>,
    pub message: Box<str>,
}
