//! Explanations: a score at any instant as known at any instant, with the contributions,
//! key factors, list memberships and network part that make it.

use crate::entry::NEVER;
use crate::kernel::{Scratch, memberships, visit_contributions};
use crate::state::{Engine, EventFields};
use standing_core::{
    Contribution, DimensionScore, Explanation, ListMembership, ReasonImpact, Score, Timestamp,
};
use thin_vec::ThinVec;

impl Engine {
    /// The score and its explanation at `at` (occurred-time), counting only what was recorded
    /// by `known_at` when given. A subject with no events gets the base score. Reason texts are
    /// filled from `bodies`; the engine keeps no event bodies (the log does).
    pub fn explain(
        &self,
        subject: &str,
        at: Timestamp,
        known_at: Option<Timestamp>,
        bodies: &dyn EventFields,
    ) -> Explanation {
        let model = &*self.model;
        let known = known_at.map_or(NEVER, |k| k.0);
        let empty = ThinVec::new();
        let found = self.subjects.find(subject.as_bytes());
        let entries = match found {
            Some(index) => self.entries.get(index as usize),
            None => &empty,
        };
        let mut scratch = Scratch::new(model);
        let mut per_dimension: Vec<Vec<Contribution>> = vec![Vec::new(); model.dimensions.len()];
        let mut rule_events = vec![0u32; model.rules.len()];
        let raw_behaviour = visit_contributions(
            model,
            entries,
            at.0,
            known,
            &mut scratch,
            |entry, current| {
                // A contribution decayed to nothing explains nothing.
                if current == 0.0 {
                    return;
                }
                let rule = &model.rules[entry.index as usize];
                rule_events[entry.index as usize] += 1;
                let (source, event_id) = self.event_name(entry.event);
                let reason = match bodies.fields(entry.event) {
                    Some(fields) => rule.reason.render(&fields),
                    None if rule.description.is_empty() => rule.code.clone(),
                    None => rule.description.clone(),
                };
                per_dimension[rule.dimension as usize].push(Contribution {
                    source: source.into(),
                    event_id: event_id.into(),
                    event_type: model.event_type(rule.event_type).name.as_str().into(),
                    reason_code: rule.code.as_str().into(),
                    reason: reason.into(),
                    occurred_at: Timestamp(entry.occurred_at),
                    awarded: entry.points,
                    current,
                });
            },
        );
        let behaviour_value = model.scale.clamp(raw_behaviour);
        let network = self.network_part(found, at, known_at, 5);
        let value = network
            .as_ref()
            .map_or(behaviour_value, |(_, served)| *served);
        let grade = model.scale.grade_index(value);

        let dimensions = model
            .dimensions
            .iter()
            .zip(per_dimension)
            .enumerate()
            .map(|(index, (dimension, contributions))| {
                let raw: f64 = model
                    .rules
                    .iter()
                    .zip(&scratch.rule_totals)
                    .filter(|(rule, _)| rule.dimension as usize == index)
                    .map(|(_, total)| *total)
                    .sum();
                DimensionScore {
                    name: dimension.name.as_str().into(),
                    raw,
                    points: scratch.dimension_totals[index],
                    lower: dimension.lower,
                    upper: dimension.upper,
                    contributions,
                }
            })
            .collect();
        let mut key_factors: Vec<ReasonImpact> = model
            .rules
            .iter()
            .enumerate()
            .filter(|(index, _)| rule_events[*index] > 0 && scratch.rule_totals[*index] != 0.0)
            .map(|(index, rule)| ReasonImpact {
                code: rule.code.as_str().into(),
                points: scratch.rule_totals[index],
                events: rule_events[index],
                description: if rule.description.is_empty() {
                    rule.code.as_str().into()
                } else {
                    rule.description.as_str().into()
                },
            })
            .collect();
        if let Some((part, _)) = &network
            && part.points != 0.0
        {
            key_factors.push(ReasonImpact {
                code: "NETWORK".into(),
                points: part.points,
                events: part.contact_count as u32,
                description: "The scores of the subject's contacts".into(),
            });
        }
        key_factors.sort_by(|a, b| {
            b.points
                .abs()
                .total_cmp(&a.points.abs())
                .then_with(|| a.code.cmp(&b.code))
        });
        key_factors.truncate(4);
        let lists = memberships(model, entries, at.0, known)
            .into_iter()
            .map(|(list, entry)| {
                let (source, event_id) = self.event_name(entry.event);
                ListMembership {
                    list: model.lists[list as usize].name.as_str().into(),
                    since: Timestamp(entry.occurred_at),
                    until: Timestamp(
                        entry
                            .occurred_at
                            .saturating_add(model.lists[list as usize].max_duration.0),
                    ),
                    source: source.into(),
                    event_id: event_id.into(),
                }
            })
            .collect();
        Explanation {
            score: Score {
                subject: subject.into(),
                value,
                grade: model.scale.grades[grade].name.as_str().into(),
                behaviour: behaviour_value,
                network: value - behaviour_value,
                model_version: self.version_label.clone(),
                as_of: at,
                known_at,
            },
            dimensions,
            key_factors,
            lists,
            network: network.map(|(part, _)| part),
        }
    }

    pub(crate) fn event_name(&self, event: u32) -> (&str, &str) {
        let key = self.events.get_bytes(event);
        let source = u16::from_le_bytes([key[0], key[1]]);
        (
            self.sources.get(source as u32),
            std::str::from_utf8(&key[2..]).unwrap_or(""),
        )
    }
}
