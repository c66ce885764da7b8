//! The one integration-test binary (one link step for all integration tests).

mod cli;
mod determinism;
mod kafka_skeleton;
mod scenario_errors;
