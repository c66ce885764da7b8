//! Checkers: what a run must never show.

pub mod clients;
pub mod convergence;
pub mod explain;
mod finding;
pub mod history;
pub mod liveness;
pub mod state;
pub mod view;

pub use clients::check as check_clients;
pub use history::check as check_history;

use crate::sim::time::Instant;

/// Every invariant a scenario's `[expect] violations` may name.
pub const INVARIANTS: &[&str] = &[
    // History anomalies (`history::ANOMALIES`).
    "lost-write",
    "unseen",
    "inconsistent-offsets",
    "duplicate",
    "G1a",
    "nonmonotonic-send",
    "poll-skip",
    "nonmonotonic-poll",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    // Client invariants (`clients`).
    "commit-ahead-of-processing",
    "lost-commit",
    "split-assignment",
    "zombie-commit",
    "missed-record",
    "node-panic",
    // State invariants (`state::STATE_INVARIANTS`).
    "single-leader",
    "monotonic-epoch",
    "hw-below-leo",
    "monotonic-high-watermark",
    "leader-in-isr",
    "strong-isr",
    "valid-high-watermark",
    "replica-consistency",
    "committed-durability",
    // After the heal phase (`convergence`, `liveness`).
    "replica-divergence",
    "liveness",
];

/// One broken invariant, with what a person needs to understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// One of [`INVARIANTS`].
    pub invariant: &'static str,
    /// Simulated time at which the violation became visible.
    pub time: Instant,
    /// What broke, where: topic, partition, offsets, values, nodes.
    pub detail: String,
}
