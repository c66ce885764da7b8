//! The validated scenario: every value checked, every duration parsed, every node name
//! known. Only `parse` builds it; the runner consumes it.

use crate::sim::time::Duration;

/// A scenario file, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub run: RunSpec,
    pub cluster: ClusterSpec,
    pub network: NetworkSpec,
    pub topics: Vec<TopicSpec>,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub faults: Vec<FaultSpec>,
    pub nemesis: Option<NemesisSpec>,
    pub expect: Expect,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// The fault phase.
    pub duration: Duration,
    /// After the fault phase every fault heals; the run ends `heal` later.
    pub heal: Duration,
    /// The seed `kafsim run` uses without `--seed`.
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    /// Brokers are named `b1`..`bN`.
    pub brokers: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Probability that a message is dropped, 0..=1.
    pub loss: f64,
    /// Probability that a message is delivered twice, 0..=1.
    pub duplicate: f64,
    /// Per-link FIFO delivery (TCP-like); false lets messages overtake each other.
    pub ordered: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// acks=1: the leader's append is enough.
    Leader,
    /// acks=all: every replica must have the record.
    All,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProducerSpec {
    pub name: String,
    pub topic: String,
    pub acks: Acks,
    /// Records per simulated second.
    pub rate: u32,
    /// Number of distinct keys; records are spread over partitions by key hash.
    pub keys: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerSpec {
    pub name: String,
    /// The consumer reads every partition of these topics from offset 0.
    pub topics: Vec<String>,
}

/// A fault of the fixed timeline, naming nodes as the file does.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub at: Duration,
    pub duration: Option<Duration>,
    pub kind: FaultSpecKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultSpecKind {
    Partition { groups: Vec<Vec<String>> },
    PartitionOneWay { from: Vec<String>, to: Vec<String> },
    Crash { nodes: Vec<String>, lose_unflushed: bool },
    Pause { nodes: Vec<String> },
    ClockSkew { nodes: Vec<String>, offset_ns: i64, drift_ppm: i64 },
    Loss { nodes: Vec<String>, rate: f64 },
}

/// The fault kinds a nemesis draws from are the kernel's.
pub use crate::sim::nemesis::NemesisFault as NemesisKind;

#[derive(Clone, Debug, PartialEq)]
pub struct NemesisSpec {
    pub kinds: Vec<NemesisKind>,
    /// Gap between the end of one fault and the start of the next.
    pub interval_min: Duration,
    pub interval_max: Duration,
    /// How long each fault lasts.
    pub fault_duration_min: Duration,
    pub fault_duration_max: Duration,
    /// Nodes the nemesis may target (default: every broker).
    pub targets: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Violation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    pub outcome: Outcome,
    /// With `Outcome::Violation`: invariants that must be among those violated.
    pub violations: Vec<String>,
}
