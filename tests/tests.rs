//! The one integration-test binary (one link step for all integration tests).

mod agreement;
mod cli;
mod determinism;
mod golden;
mod properties;
mod replication;
mod report;
mod scenario_errors;
mod shrink;
mod state_invariants;
mod sweeps;
