//! Standing's model language: a versioned TOML file of event types, dimensions, rules, lists and
//! purposes, whose conditions and points are CEL expressions.
//!
//! [`check_model`] reads and checks a model whole and reports every problem at once; the
//! [`Model`] it builds is compiled and ready for the engine. Pure: no I/O.

mod check;
mod diagnostic;
pub mod expr;
mod model;
pub mod protected;

pub use check::{Checked, MAX_MODEL_BYTES, Profile, check_model, check_model_profile};
pub use diagnostic::{Diagnostic, Severity};
pub use expr::{MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_TERMS};
pub use model::*;

/// The sample model for a city point system, shipped as the default.
pub const SAMPLE_CITY_MODEL: &str = include_str!("../../../models/city.toml");
/// The sample model for a marketplace's trust ratings.
pub const SAMPLE_MARKETPLACE_MODEL: &str = include_str!("../../../models/marketplace.toml");
/// The sample model for consumer-credit applications (UCI German credit attributes).
pub const SAMPLE_CONSUMER_CREDIT_MODEL: &str = include_str!("../../../models/consumer-credit.toml");
