//! What Standing's tests, benchmarks and demo share, so no crate builds it again: temporary
//! directories that clean up after themselves, data directories holding the sample city model,
//! and seeded synthetic data.

mod temp;

pub use temp::TempDir;
