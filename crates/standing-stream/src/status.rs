//! What the intake is doing, for `/metrics`, the dashboard and the console: each partition's
//! position, its lag behind the broker, what was taken and refused, and whether the brokers
//! answer.

use std::sync::Mutex;
use std::time::Instant;

/// One partition's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartitionFigures {
    pub topic: String,
    pub partition: u32,
    /// The offset the next record taken will have: everything before it is in the log.
    pub next: u64,
    /// The broker's high watermark at the last fetch (the offset after its last record).
    pub high_watermark: Option<u64>,
    /// Records taken (accepted, duplicates and refused alike) since this process started.
    pub taken: u64,
}

impl PartitionFigures {
    /// Records published and not yet in the log.
    pub fn lag(&self) -> Option<u64> {
        self.high_watermark.map(|hwm| hwm.saturating_sub(self.next))
    }
}

/// The whole intake's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub partitions: Vec<PartitionFigures>,
    /// Records made durable per second, over the last few seconds.
    pub per_second: f64,
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Dead letters written to the dead-letter topic.
    pub dead_letters: u64,
    /// Why the brokers cannot be used right now (retried with backoff); `None` when they
    /// answer.
    pub broker_error: Option<String>,
}

/// Shared between the consumer and whoever reports it.
#[derive(Debug, Default)]
pub struct Status {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    figures: Figures,
    /// (when, records taken in all) at each commit, the last few seconds of them.
    window: std::collections::VecDeque<(Instant, u64)>,
    taken: u64,
}

/// The span over which records per second are counted.
const WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

impl Status {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the figures now.
    pub fn figures(&self) -> Figures {
        let mut inner = self.inner();
        let now = Instant::now();
        // A window that saw no commit lately counts down to nothing.
        while inner
            .window
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
        {
            inner.window.pop_front();
        }
        inner.figures.per_second = match inner.window.front() {
            Some(&(first, taken_then)) if inner.window.len() > 1 => {
                (inner.taken - taken_then) as f64
                    / now.duration_since(first).as_secs_f64().max(1e-3)
            }
            _ => 0.0,
        };
        inner.figures.clone()
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32, next: u64) {
        let mut inner = self.inner();
        let partitions = &mut inner.figures.partitions;
        match partitions
            .iter_mut()
            .find(|p| p.topic == topic && p.partition == partition)
        {
            Some(figures) => figures.next = next,
            None => {
                partitions.push(PartitionFigures {
                    topic: topic.to_owned(),
                    partition,
                    next,
                    ..PartitionFigures::default()
                });
                partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            }
        }
    }

    pub(crate) fn high_watermark(&self, topic: &str, partition: u32, hwm: u64) {
        let mut inner = self.inner();
        if let Some(figures) = inner
            .figures
            .partitions
            .iter_mut()
            .find(|p| p.topic == topic && p.partition == partition)
        {
            figures.high_watermark = Some(hwm);
        }
    }

    /// A commit: per partition (topic, partition, next, taken), and the batch's counts.
    pub(crate) fn committed(
        &self,
        moved: &[(&str, u32, u64, u64)],
        accepted: u64,
        duplicate: u64,
        rejected: u64,
    ) {
        let mut inner = self.inner();
        let mut taken = 0;
        for &(topic, partition, next, records) in moved {
            taken += records;
            if let Some(figures) = inner
                .figures
                .partitions
                .iter_mut()
                .find(|p| p.topic == topic && p.partition == partition)
            {
                figures.next = figures.next.max(next);
                figures.taken += records;
            }
        }
        inner.figures.accepted += accepted;
        inner.figures.duplicate += duplicate;
        inner.figures.rejected += rejected;
        if inner.window.is_empty() {
            let before = inner.taken;
            inner.window.push_back((Instant::now(), before));
        }
        inner.taken += taken;
        let total = inner.taken;
        inner.window.push_back((Instant::now(), total));
        while inner.window.len() > 256 {
            inner.window.pop_front();
        }
    }

    pub(crate) fn dead_letters(&self, count: u64) {
        self.inner().figures.dead_letters += count;
    }

    /// Whether the brokers answer: `None` when they do.
    pub(crate) fn broker(&self, error: Option<String>) {
        self.inner().figures.broker_error = error;
    }
}
