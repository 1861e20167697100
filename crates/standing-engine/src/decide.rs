//! Decisions and rankings: a purpose's policy applied to a subject's score at the clock, and
//! the highest or lowest served scores.

use crate::entry::NEVER;
use crate::kernel::{Scratch, behaviour, memberships};
use crate::state::{Engine, RankedSubject};
use standing_core::{Decision, DecisionReason, StableHasher, Verdict};
use standing_rules::policy_values;
use thin_vec::ThinVec;

impl Engine {
    /// A purpose's decision for a subject at the clock. `None` when the model has no such purpose.
    pub fn decide(&self, purpose_name: &str, subject: &str) -> Option<Decision> {
        self.decide_with(purpose_name, subject, None)
    }

    /// [`Engine::decide`] on the subject's behaviour score plus `contacts` points (the contacts'
    /// part held fixed): for what-if engines that hold one subject's own events only.
    pub fn decide_with_contacts(
        &self,
        purpose_name: &str,
        subject: &str,
        contacts: f64,
    ) -> Option<Decision> {
        self.decide_with(purpose_name, subject, Some(contacts))
    }

    fn decide_with(
        &self,
        purpose_name: &str,
        subject: &str,
        contacts: Option<f64>,
    ) -> Option<Decision> {
        let model = &*self.model;
        let purpose = model.purpose(purpose_name)?;
        let at = self.clock.0;
        let empty = ThinVec::new();
        let entries = match self.subjects.find(subject.as_bytes()) {
            Some(index) => self.entries.get(index as usize),
            None => &empty,
        };
        let mut scratch = Scratch::new(model);
        let behaviour_value = model
            .scale
            .clamp(behaviour(model, entries, at, NEVER, &mut scratch));
        // The served score: with contacts' part when the network is on.
        let value = match (contacts, self.subjects.find(subject.as_bytes())) {
            (Some(contacts), _) => model.scale.clamp(behaviour_value + contacts),
            (None, Some(index)) if self.network.is_some() => self.served(index as usize),
            _ => behaviour_value,
        };
        let grade = model.scale.grade_index(value);
        let mut listed = vec![false; model.lists.len()];
        for (list, _) in memberships(model, entries, at, NEVER) {
            listed[list as usize] = true;
        }
        let values = policy_values(value, grade, &scratch.dimension_totals, &listed);
        let mut reasons = Vec::new();
        for rule in &purpose.deny {
            // A policy that cannot be evaluated refuses: failing open would grant what the
            // policy meant to withhold.
            if rule.when.eval(&values).unwrap_or(true) {
                reasons.push(DecisionReason {
                    code: rule.code.as_str().into(),
                    message: rule.reason.as_str().into(),
                });
            }
        }
        let verdict = if reasons.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let id = StableHasher::new()
            .write_str(&self.version_label)
            .write_str(purpose_name)
            .write_str(subject)
            .write_i64(at)
            .write_u64(self.events.len() as u64)
            .finish();
        Some(Decision {
            id: format!("dec-{id:016x}").into(),
            purpose: purpose_name.into(),
            subject: subject.into(),
            verdict,
            reasons,
            model_version: self.version_label.clone(),
            as_of: self.clock,
        })
    }

    /// The `count` highest (or lowest) served scores; ties go to the smaller subject id.
    pub fn rank(&self, count: usize, highest: bool) -> Vec<RankedSubject> {
        let mut order: Vec<u32> = (0..self.scores.len() as u32).collect();
        let compare = |a: &u32, b: &u32| {
            let (sa, sb) = (self.served(*a as usize), self.served(*b as usize));
            let by_score = if highest {
                sb.total_cmp(&sa)
            } else {
                sa.total_cmp(&sb)
            };
            by_score.then_with(|| self.subjects.get(*a).cmp(self.subjects.get(*b)))
        };
        if count < order.len() {
            order.select_nth_unstable_by(count, compare);
            order.truncate(count);
        }
        order.sort_by(compare);
        order
            .into_iter()
            .map(|index| RankedSubject {
                subject: self.subjects.get(index).into(),
                score: self.served(index as usize),
                grade: self
                    .grade_name(self.grade_of(self.served(index as usize)))
                    .into(),
            })
            .collect()
    }
}
