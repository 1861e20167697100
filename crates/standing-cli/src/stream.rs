//! `standing consume` and `standing serve --kafka`: Kafka topics taken into a data directory,
//! with or without serving it.

use anyhow::{Context, Result};
use standing_accountability::House;
use standing_accountability::intake::Intake;
use standing_server::AppState;
use standing_stream::{Host, Status, StreamConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the topics to consume are said.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaArgs {
    /// Consume Kafka topics: those FILE lists (TOML; default DIR/kafka.toml), or with
    /// `--brokers` and `--topic`, those flags say.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub kafka: Option<Option<PathBuf>>,
    /// Bootstrap brokers, `host:port,…` (instead of a file's `brokers`).
    #[arg(long, requires = "kafka")]
    pub brokers: Option<String>,
    /// A topic and the source it speaks for, `NAME=SOURCE` (repeatable; with `--brokers`).
    #[arg(long = "topic", value_name = "NAME=SOURCE", requires = "brokers")]
    pub topics: Vec<String>,
}

impl KafkaArgs {
    /// The configuration the flags name, if any.
    pub fn config(&self, data: &Path) -> Result<Option<StreamConfig>> {
        let Some(file) = &self.kafka else {
            return Ok(None);
        };
        let config = match (&self.brokers, file) {
            (Some(brokers), None) if !self.topics.is_empty() => {
                StreamConfig::from_flags(brokers, &self.topics)?
            }
            (brokers, file) => {
                let path = file.clone().unwrap_or_else(|| data.join("kafka.toml"));
                let mut config = StreamConfig::read(&path)?;
                if let Some(brokers) = brokers {
                    config.brokers = brokers.split(',').map(|b| b.trim().to_owned()).collect();
                }
                config
            }
        };
        Ok(Some(config))
    }
}

/// A house consumed into alone.
struct Alone(House);

impl Host for Alone {
    fn house(&self) -> &House {
        &self.0
    }
}

/// A served house: what is taken is counted like any intake.
pub struct Served(pub Arc<AppState>);

impl Host for Served {
    fn house(&self) -> &House {
        &self.0.house
    }
    fn taken(&self, intake: &Intake) {
        let by_source: Vec<(&str, u64)> = intake
            .by_source
            .iter()
            .map(|(source, count)| (&**source, *count))
            .collect();
        self.0.activity.accepted(
            &by_source,
            intake.duplicate() + intake.conflict(),
            intake.rejected() as usize,
        );
    }
}

/// One line of figures for the console.
fn line(status: &Status) -> String {
    let figures = status.figures();
    let lag: u64 = figures.partitions.iter().filter_map(|p| p.lag()).sum();
    let mut text = format!(
        "kafka: {:.0} records/s, {} accepted, {} duplicate, {} rejected ({} dead letters), lag {}",
        figures.per_second,
        figures.accepted,
        figures.duplicate,
        figures.rejected,
        figures.dead_letters,
        lag
    );
    for p in &figures.partitions {
        text.push_str(&format!(
            "; {}/{} at {} of {}",
            p.topic,
            p.partition,
            p.next,
            p.high_watermark.map_or("?".to_owned(), |h| h.to_string())
        ));
    }
    if let Some(error) = &figures.broker_error {
        text.push_str(&format!("; brokers: {error}"));
    }
    text
}

/// Starts consuming on the current runtime; the figures are said on standard error every few
/// seconds when `say` is set.
pub fn start<H: Host>(
    host: Arc<H>,
    config: StreamConfig,
    stop: tokio::sync::watch::Receiver<bool>,
    say: bool,
) -> (
    Arc<Status>,
    tokio::task::JoinHandle<Result<(), standing_stream::StreamError>>,
) {
    let status = Arc::new(Status::default());
    let task = tokio::spawn(standing_stream::consume(
        host,
        config,
        Arc::clone(&status),
        stop,
        crate::now,
    ));
    if say {
        let status = Arc::clone(&status);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(5));
            interval.tick().await;
            loop {
                interval.tick().await;
                eprintln!("{}", line(&status));
            }
        });
    }
    (status, task)
}

/// `standing consume`: the topics taken into `data` until Ctrl-C or SIGTERM, then a snapshot.
pub fn consume(data: &Path, config: StreamConfig) -> Result<()> {
    let (node, _) = standing_node::Node::open(data, crate::now())
        .with_context(|| format!("opening {}", data.display()))?;
    let house = Arc::new(Alone(House::open(node, crate::now)?));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let topics: Vec<String> = config
        .topics
        .iter()
        .map(|t| format!("{} as {}", t.name, t.source))
        .collect();
    eprintln!(
        "consuming {} from {} into {} (Ctrl-C or SIGTERM stops it cleanly)",
        topics.join(", "),
        config.brokers.join(","),
        data.display()
    );
    let outcome = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (status, task) = start(Arc::clone(&house), config, stopped, true);
        let mut task = task;
        let result = tokio::select! {
            result = &mut task => result,
            _ = shutdown() => {
                let _ = stop.send(true);
                task.await
            }
        };
        eprintln!("{}", line(&status));
        result
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error.into()),
        Err(error) => return Err(error.into()),
    }
    house.0.write_node().snapshot()?;
    eprintln!("stopped; snapshot stored");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
