//! The social part of a score. Each subject's served score is the fixed point
//!
//! ```text
//! f(s) = (1 − α)·b(s) + α · Σ_u w(s,u)·f(u) / Σ_u w(s,u)      (f(s) = b(s) without contacts)
//! ```
//!
//! over the relation graph, where `b` is the behaviour score the engine computes. This crate is
//! pure and knows nothing of events or models: subjects are dense `u32` indices, weights are
//! quantized [`Weight`]s, and scores are `f64`.
//!
//! - [`Graph`]: compressed sparse rows (6 bytes per stored entry), with an overlay that absorbs
//!   added relations until it is merged, and removals done in place.
//! - [`Network`]: the graph with the behaviour scores, the current solution and its residuals;
//!   [`Network::solve`] iterates in parallel (Jacobi, deterministic at any thread count) until
//!   the stopping rule proves every score within ε of the exact fixed point;
//!   [`Network::set_behaviour`] and the relation changes restore that bound by local residual
//!   pushes, with a per-change work cap and a deferred sweep ([`Network::settle`]).
//! - [`Shard`]: the push kernel over a range of subjects, exchanging residual messages with
//!   the other shards — what a distributed run would place on separate workers.
//! - [`synthetic`]: a seeded generator of power-law, community-structured graphs.
//!
//! # The ε bound
//! Write `T(f) = (1 − α)·b + α·P·f` (P row-stochastic over the contacts) and `r = T(f) − f`, the
//! residual. `T` is a contraction with factor α in the max norm, so for the fixed point `f*`:
//! `‖f − f*‖∞ ≤ ‖T(f) − T(f*)‖∞ + ‖r‖∞ ≤ α‖f − f*‖∞ + ‖r‖∞`, that is
//! `‖f − f*‖∞ ≤ ‖r‖∞ / (1 − α)`. Both the full solve and the pushes stop only when every
//! residual is at most `(1 − α)·ε`, which bounds every score's error by ε.

mod graph;
mod network;
mod shard;
pub mod synthetic;

pub use graph::{Changed, Direction, Entry, Graph, Weight};
pub use network::{Contact, Network, NetworkExplanation, Params, PushReport, SolveReport, sweep};
pub use shard::{Message, Shard, settle_shards};
