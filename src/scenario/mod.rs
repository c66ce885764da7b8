//! Scenario files. Placeholder: replaced by the parser.
pub mod model;
pub use model::*;
