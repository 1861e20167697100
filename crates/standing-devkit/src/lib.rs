//! What Standing's tests, benchmarks and demo share, so no crate builds it again: temporary
//! directories that clean up after themselves, data directories holding the sample city model,
//! a Kafka-protocol broker on 127.0.0.1 ([`broker`]), an exact solver of the network's fixed point for small graphs ([`oracle`]), and seeded synthetic data: event streams of a city ([`synthetic`]) and the demo's country
//! ([`country`]: people with behaviour profiles, their sources, the social graph, a live
//! stream), deterministic per seed.

pub mod broker;
pub mod country;
pub mod oracle;
pub mod synthetic;
mod temp;

pub use temp::TempDir;
