//! Faults as data. A fault starts at `at`, and when it has a `duration` the kernel undoes
//! it after that long (restarting a crashed node, resuming a paused one, lifting a
//! partition). A fault without a duration lasts until [`crate::sim::Sim::heal_all`].

use super::node::NodeId;
use super::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Links between nodes of different groups are cut both ways. Nodes in no group keep
    /// every link.
    Partition { groups: Vec<Vec<NodeId>> },
    /// Messages from any node of `from` to any node of `to` are dropped; the reverse
    /// direction still works.
    PartitionOneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// The nodes' processes die: memory and timers are gone. With `lose_unflushed` (power
    /// loss) the disk also drops every unflushed write. They restart when the fault ends.
    Crash { nodes: Vec<NodeId>, lose_unflushed: bool },
    /// The nodes run nothing: messages queue, timers fire late, on resume.
    Pause { nodes: Vec<NodeId> },
    /// The nodes' clocks jump by `offset_ns` and then run `drift_ppm` fast (or slow).
    ClockSkew { nodes: Vec<NodeId>, offset_ns: i64, drift_ppm: i64 },
    /// Extra loss on every link to or from the nodes (all links when `nodes` is empty).
    Loss { nodes: Vec<NodeId>, rate: f64 },
}

impl FaultKind {
    /// The name used in scenario files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::PartitionOneWay { .. } => "partition-oneway",
            FaultKind::Crash { lose_unflushed: false, .. } => "crash",
            FaultKind::Crash { lose_unflushed: true, .. } => "power-loss",
            FaultKind::Pause { .. } => "pause",
            FaultKind::ClockSkew { .. } => "clock-skew",
            FaultKind::Loss { .. } => "loss",
        }
    }

    /// Every node the fault names.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            FaultKind::Partition { groups } => groups.iter().flatten().copied().collect(),
            FaultKind::PartitionOneWay { from, to } => from.iter().chain(to).copied().collect(),
            FaultKind::Crash { nodes, .. }
            | FaultKind::Pause { nodes }
            | FaultKind::ClockSkew { nodes, .. }
            | FaultKind::Loss { nodes, .. } => nodes.clone(),
        }
    }
}

/// One fault of a timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: Instant,
    pub duration: Option<Duration>,
    pub kind: FaultKind,
}
