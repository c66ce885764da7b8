//! kafsim: deterministic simulation testing for Kafka-style streaming systems.
//!
//! The module list is the codemap (see ARCHITECTURE.md for the invariants):
//! - [`sim`]: the deterministic kernel (time, randomness, scheduler, network, disk, faults,
//!   trace). It knows nothing of Kafka.
//! - [`kafka`]: the system under test, as sans-IO nodes on the kernel.
//! - [`check`]: invariants over node state and the recorded history.
//! - [`scenario`]: scenario files, raw TOML to a validated [`scenario::Scenario`].
//! - [`runner`]: runs one seed, sweeps many, checks determinism.
//! - [`shrink`]: cuts a failing seed's scenario down to what still fails.
//! - [`report`]: human and JSON output of runs, timelines, HTML and JUnit reports.
//! - [`strategy`]: proptest strategies over clusters, workloads and fault schedules.

pub mod check;
pub mod history;
pub mod kafka;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod sim;
pub mod strategy;
