//! Scenario files: TOML text to a validated [`Scenario`].
//!
//! Two steps, so that each error can point into the file: serde reads the text into raw
//! types that keep the position of every value (`raw`), refusing unknown keys and wrong
//! types; validation (`validate`, `broker`, `faults`) then checks ranges and names and fills in
//! defaults (`clients` for producers and consumers, `settings` for Kafka's integer
//! settings). Any mistake becomes a [`ScenarioError`] with file, line, column and a help.

mod broker;
mod clients;
mod duration;
mod error;
mod faults;
pub mod model;
mod names;
mod raw;
mod settings;
mod span;
mod spelling;
mod toml_error;
mod validate;
mod values;
pub mod write;

use std::path::Path;

pub use duration::{duration_text, signed_text};
pub use error::ScenarioError;
pub use model::*;

/// Parses and validates scenario `text`; `source_name` (usually the path) names it in errors.
pub fn parse(source_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let fail = |problem| ScenarioError::new(source_name, text, problem);
    let raw: raw::RawScenario =
        toml::from_str(text).map_err(|e| fail(toml_error::problem(&e, text)))?;
    validate::validate(&raw, text).map_err(fail)
}

/// Reads and parses the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    Ok(load_text(path)?.0)
}

/// The scenario at `path` and the text it was parsed from (for tools that write
/// scenarios from it, as `kafsim shrink` does).
pub fn load_text(path: &Path) -> Result<(Scenario, String), ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::io(&name, &e))?;
    Ok((parse(&name, &text)?, text))
}
