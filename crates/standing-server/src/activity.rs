//! What the server has done, counted: events by source, decisions by purpose and verdict,
//! requests by route and status with their latencies. The overview reads the counts and rates;
//! `/metrics` renders everything in Prometheus' text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use standing_core::Verdict;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// A label value escaped as the text exposition format requires (`\\`, `\"`, `\n`):
/// `prometheus-client` writes label values as given, so a value holding a quote or a newline
/// would end the label, or the line, and let the rest read as other metrics. (Source names are
/// ids of the id alphabet and declared in the model, so none holds those; this holds anyway.)
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Escaped(String);

impl prometheus_client::encoding::EncodeLabelValue for Escaped {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for character in self.0.chars() {
            match character {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                other => encoder.write_char(other)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    purpose: Escaped,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Escaped,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Escaped,
}

/// A route's latency histogram and its request counter per status.
type RouteHandles = (Histogram, Vec<(u16, Counter)>);

/// The seconds over which event rates are measured.
const RATE_WINDOW: usize = 10;

/// Counts kept for the overview: totals and, once a second, a sample of them for rates.
#[derive(Debug, Default)]
struct Counts {
    /// Accepted events by source.
    sources: BTreeMap<String, u64>,
    /// (allow, deny) by purpose.
    decisions: BTreeMap<String, (u64, u64)>,
    /// Totals by source at each of the last seconds, oldest first.
    samples: VecDeque<BTreeMap<String, u64>>,
}

/// A source's accepted events, in all and per second of late.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRate {
    pub source: String,
    pub events: u64,
    pub per_second: f64,
}

/// The server's counters.
#[derive(Debug)]
pub struct Activity {
    counts: Mutex<Counts>,
    registry: Registry,
    events: Family<SourceLabels, Counter>,
    duplicates: Counter,
    rejected: Counter,
    decisions: Family<DecisionLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// Gauges set from the node when `/metrics` is read.
    pub subjects: Gauge,
    pub log_records: Gauge,
    /// The decision counters of each purpose, `[allow, deny]`.
    verdicts: std::sync::RwLock<std::collections::HashMap<String, [Counter; 2]>>,
    /// The handles of each route's latency and of its counter per status, by route.
    routes: std::sync::RwLock<std::collections::HashMap<String, RouteHandles>>,
    pub audit_records: Gauge,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_05, 2.0, 16,
    ))
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

impl Activity {
    pub fn new() -> Activity {
        let mut registry = Registry::with_prefix("standing");
        let events = Family::<SourceLabels, Counter>::default();
        let duplicates = Counter::default();
        let rejected = Counter::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let subjects = Gauge::default();
        let log_records = Gauge::default();
        let audit_records = Gauge::default();
        registry.register(
            "events_accepted",
            "Events accepted and made durable, by source",
            events.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events already recorded (no-ops)",
            duplicates.clone(),
        );
        registry.register(
            "events_rejected",
            "Events refused by intake or by the engine",
            rejected.clone(),
        );
        registry.register(
            "decisions",
            "Decisions answered, by purpose and verdict",
            decisions.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        registry.register("subjects", "Subjects with a score", subjects.clone());
        registry.register(
            "log_records",
            "Records in the durable event log",
            log_records.clone(),
        );
        registry.register(
            "audit_records",
            "Records in the audit log",
            audit_records.clone(),
        );
        Activity {
            counts: Mutex::new(Counts::default()),
            registry,
            events,
            duplicates,
            rejected,
            decisions,
            requests,
            latency,
            subjects,
            log_records,
            audit_records,
            routes: Default::default(),
            verdicts: Default::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a durable intake batch: accepted events by source, duplicates and rejections.
    pub fn accepted(&self, by_source: &[(&str, u64)], duplicate: u64, rejected: usize) {
        {
            let mut counts = self.counts();
            for (source, count) in by_source {
                match counts.sources.get_mut(*source) {
                    Some(total) => *total += count,
                    None => {
                        counts.sources.insert((*source).to_owned(), *count);
                    }
                }
            }
        }
        for (source, count) in by_source {
            self.events
                .get_or_create(&SourceLabels {
                    source: Escaped((*source).to_owned()),
                })
                .inc_by(*count);
        }
        self.duplicates.inc_by(duplicate);
        self.rejected.inc_by(rejected as u64);
    }

    pub fn decided(&self, purpose: &str, verdict: Verdict) {
        {
            let mut counts = self.counts();
            let entry = match counts.decisions.get_mut(purpose) {
                Some(entry) => entry,
                None => counts.decisions.entry(purpose.to_owned()).or_default(),
            };
            match verdict {
                Verdict::Allow => entry.0 += 1,
                Verdict::Deny => entry.1 += 1,
            }
        }
        let slot = usize::from(verdict == Verdict::Deny);
        let cached = self
            .verdicts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(purpose)
            .map(|counters| counters[slot].clone());
        let counter = cached.unwrap_or_else(|| {
            let counters = [Verdict::Allow, Verdict::Deny].map(|verdict| {
                self.decisions
                    .get_or_create(&DecisionLabels {
                        purpose: Escaped(purpose.to_owned()),
                        verdict: verdict.name().to_owned(),
                    })
                    .clone()
            });
            let counter = counters[slot].clone();
            self.verdicts
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(purpose.to_owned(), counters);
            counter
        });
        counter.inc();
    }

    /// Counts an answered request (`route` is the matched route, not the path). The metric
    /// handles of a route are looked up by `&str` in a cache, so the request path allocates
    /// nothing once a route and status have been seen.
    pub fn answered(&self, route: &str, status: u16, seconds: f64) {
        let found = {
            let cache = self.routes.read().unwrap_or_else(|p| p.into_inner());
            cache.get(route).and_then(|(latency, statuses)| {
                statuses
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map(|(_, counter)| (latency.clone(), counter.clone()))
            })
        };
        let (latency, counter) = match found {
            Some(handles) => handles,
            None => {
                let mut cache = self.routes.write().unwrap_or_else(|p| p.into_inner());
                let entry = cache.entry(route.to_owned()).or_insert_with(|| {
                    let latency = self
                        .latency
                        .get_or_create(&RouteLabels {
                            route: Escaped(route.to_owned()),
                        })
                        .clone();
                    (latency, Vec::new())
                });
                let counter = self
                    .requests
                    .get_or_create(&RequestLabels {
                        route: Escaped(route.to_owned()),
                        status,
                    })
                    .clone();
                entry.1.push((status, counter.clone()));
                (entry.0.clone(), counter)
            }
        };
        counter.inc();
        latency.observe(seconds);
    }

    /// Takes this second's sample of the totals, for rates; call once a second.
    pub fn sample(&self) {
        let mut counts = self.counts();
        let sample = counts.sources.clone();
        counts.samples.push_back(sample);
        while counts.samples.len() > RATE_WINDOW + 1 {
            counts.samples.pop_front();
        }
    }

    /// Each source's accepted events and its rate over the last seconds sampled.
    pub fn sources(&self) -> Vec<SourceRate> {
        let counts = self.counts();
        let oldest = counts.samples.front();
        let span = counts.samples.len().saturating_sub(1).max(1) as f64;
        let newest = counts.samples.back();
        counts
            .sources
            .iter()
            .map(|(source, &events)| {
                let at = |sample: Option<&BTreeMap<String, u64>>| {
                    sample.and_then(|s| s.get(source)).copied().unwrap_or(0)
                };
                let per_second = if counts.samples.len() < 2 {
                    0.0
                } else {
                    (at(newest) - at(oldest)) as f64 / span
                };
                SourceRate {
                    source: source.clone(),
                    events,
                    per_second,
                }
            })
            .collect()
    }

    /// (purpose, allow, deny) for every purpose that decided anything.
    pub fn decisions(&self) -> Vec<(String, u64, u64)> {
        self.counts()
            .decisions
            .iter()
            .map(|(purpose, (allow, deny))| (purpose.clone(), *allow, *deny))
            .collect()
    }

    /// Everything in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::Activity;

    #[test]
    fn a_label_value_with_quotes_and_newlines_cannot_add_lines_to_the_exposition() {
        let activity = Activity::new();
        let crafted = "x\"} 1\nstanding_injected_total 99\n#";
        activity.accepted(&[(crafted, 3)], 0, 0);
        let text = activity.render();
        assert!(
            !text
                .lines()
                .any(|line| line.starts_with("standing_injected")),
            "{text}"
        );
        assert!(
            text.contains(r#"source="x\"} 1\nstanding_injected_total 99\n#"} 3"#),
            "{text}"
        );
    }
}
