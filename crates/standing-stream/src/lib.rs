//! Intake from Kafka topics, with the guarantees of Standing's own intake: every record
//! admitted as a source key's would be (the topic speaks for one source), nothing applied
//! twice, nothing lost. A partition's position is a checkpoint written into the log in the
//! same durable commit as the events it carried, so a restart resumes exactly where the log
//! ends; event ids drop any record published twice. Records refused are written to a
//! dead-letter topic with where they came from and why.

pub mod config;
pub mod consume;
pub mod status;

pub use config::{ConfigError, Partitions, Start, StreamConfig, Topic};
pub use consume::{Host, StreamError, consume, origin};
pub use status::{Figures, PartitionFigures, Status};
