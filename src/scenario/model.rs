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
    pub broker: BrokerSpec,
    pub protocol: ProtocolSpec,
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
    /// Within this long after the heal the cluster must have recovered (every partition
    /// led, every ISR full, every group stable, every record acknowledged during the fault
    /// phase consumed by every group that subscribes to it). At most `heal`; by default
    /// `heal`.
    pub liveness: Duration,
    /// The seed `kafsim run` uses without `--seed`.
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    /// Brokers are named `b1`..`bN`.
    pub brokers: u32,
}

/// Broker configuration, `[broker]` in the file, with Kafka's names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerSpec {
    /// `min.insync.replicas` (Kafka's default: 1).
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable` (default false).
    pub unclean_leader_election_enable: bool,
    /// `replica.lag.time.max.ms` (default 30000).
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms` (default 500).
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms` (default 5000).
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `log.flush.interval.messages` (default: never, Kafka's `Long.MAX_VALUE`).
    pub log_flush_interval_messages: Option<u64>,
    /// `log.flush.interval.ms` (default: never).
    pub log_flush_interval_ms: Option<u64>,
    /// `retention.ms` (default 604800000, 7 days; `-1` in the file: no limit).
    pub retention_ms: Option<u64>,
    /// `retention.bytes` (default `-1`: no limit). A record counts as
    /// `RECORD_SIZE_BYTES` bytes.
    pub retention_bytes: Option<u64>,
    /// `broker.session.timeout.ms` (default 9000).
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms` (default 2000).
    pub broker_heartbeat_interval_ms: u64,
    /// `request.timeout.ms` (default 30000): how long an acks=all produce may wait.
    pub request_timeout_ms: u64,
    /// `log.retention.check.interval.ms` (default 300000): how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions` (default 50): partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.replication.factor` (default 3).
    pub offsets_topic_replication_factor: u32,
    /// `offsets.commit.timeout.ms` (default 5000): how long an OffsetCommit waits for its
    /// record to be committed before REQUEST_TIMED_OUT.
    pub offsets_commit_timeout_ms: u64,
    /// `group.initial.rebalance.delay.ms` (default 3000): an empty group's first rebalance
    /// waits this long for more members.
    pub group_initial_rebalance_delay_ms: u64,
}

impl BrokerSpec {
    /// Kafka's defaults: what a `[broker]` table that sets nothing means.
    pub fn kafka_defaults() -> Self {
        BrokerSpec {
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            log_flush_interval_messages: None,
            log_flush_interval_ms: None,
            retention_ms: Some(604_800_000),
            retention_bytes: None,
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            request_timeout_ms: 30_000,
            log_retention_check_interval_ms: 300_000,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            offsets_commit_timeout_ms: 5_000,
            group_initial_rebalance_delay_ms: 3_000,
        }
    }
}

/// Historical protocol behaviours, `[protocol]` in the file. The defaults are the correct,
/// modern protocol (Kafka 4.1+); each other value brings back a known data-loss bug.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolSpec {
    pub truncation: Truncation,
    /// KIP-966 eligible leader replicas (default true).
    pub eligible_leader_replicas: bool,
    /// KIP-966 strict min ISR: the HW does not advance while the ISR is smaller than
    /// `min.insync.replicas` (default true).
    pub strict_min_isr: bool,
    /// Where the leader computes the HW during an ISR shrink (R11 of the catalogue).
    pub high_watermark_isr: HighWatermarkIsr,
    /// When the leader may add a caught-up follower to the ISR (R9 of the catalogue).
    pub isr_expansion: IsrExpansion,
    /// The coordinator refuses an OffsetCommit from a stale generation or an unknown
    /// member (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID); false accepts zombies' commits (C4).
    pub offset_commit_generation_check: bool,
    /// KIP-320 on the consumer: after a leader change, a consumer validates its position
    /// with OffsetsForLeaderEpoch and goes back to where the log diverges; false fetches on
    /// from its position and silently skips or re-reads (C3).
    pub consumer_truncation_detection: bool,
    /// A new leader rebuilds its idempotent-producer state from its log; false starts it
    /// empty, so a retried batch is appended again after a failover (P3).
    pub producer_state_rebuild: bool,
}

impl ProtocolSpec {
    /// The correct, modern protocol: what a `[protocol]` table that sets nothing means.
    pub fn modern() -> Self {
        ProtocolSpec {
            truncation: Truncation::LeaderEpoch,
            eligible_leader_replicas: true,
            strict_min_isr: true,
            high_watermark_isr: HighWatermarkIsr::CommittedAndPending,
            isr_expansion: IsrExpansion::EpochStart,
            offset_commit_generation_check: true,
            consumer_truncation_detection: true,
            producer_state_rebuild: true,
        }
    }
}

/// How a replica that becomes a follower finds where to truncate its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// Before KIP-101: truncate to the replica's own high watermark.
    HighWatermark,
    /// KIP-101's first OffsetsForLeaderEpoch lookup: the leader answers the start offset
    /// of the first epoch greater than the requested one (before KIP-279).
    LeaderEpochKip101,
    /// KIP-101 with KIP-279's fix and KIP-320's fencing: the leader answers the largest
    /// epoch not above the requested one and its end offset (the default).
    LeaderEpoch,
}

/// Which ISR the leader's HW must cover while an ISR shrink is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HighWatermarkIsr {
    /// The committed ISR and the proposed one together (KIP-497's rule; the default).
    CommittedAndPending,
    /// The proposed ISR alone, as soon as the leader sends AlterPartition (R11).
    Proposed,
}

/// When the leader may add a caught-up follower to the ISR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsrExpansion {
    /// KIP-320 rule 4 (Kafka's `isFollowerInSync`): the follower's LEO reached the HW
    /// *and* the start offset of the leader's epoch (the default).
    EpochStart,
    /// The follower's LEO reached the HW alone, which a new leader's stale HW makes too
    /// easy (R9).
    HighWatermarkOnly,
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

/// The producer's `acks`, in the scenario and on the wire (messages derive `Hash`: the
/// trace hashes every message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acks {
    /// acks=0: the producer does not wait for any answer.
    None,
    /// acks=1: the leader's append is enough.
    Leader,
    /// acks=all: every in-sync replica must have the record.
    All,
}

/// A producer, `[[producers]]`, with Kafka's producer configs by their names.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerSpec {
    pub name: String,
    pub topic: String,
    /// `acks` (default "all").
    pub acks: Acks,
    /// Records per simulated second.
    pub rate: u32,
    /// Number of distinct keys; records are spread over partitions by key hash. 0: no
    /// keys, records go to a sticky partition that changes with each batch (KIP-480).
    pub keys: u32,
    /// `enable.idempotence` (Kafka's default: true when acks=all, as Kafka 3.x turns it
    /// off silently for other acks when not set explicitly).
    pub idempotent: bool,
    /// `linger.ms` (default 5).
    pub linger_ms: u64,
    /// `batch.size` in bytes (default 16384); a record counts as `RECORD_SIZE_BYTES`.
    pub batch_size: u64,
    /// `max.in.flight.requests.per.connection` (default 5; at most 5 with idempotence).
    pub max_in_flight: u32,
    /// `retries` (default 2147483647).
    pub retries: u32,
    /// `retry.backoff.ms` (default 100) and `retry.backoff.max.ms` (default 1000).
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// `request.timeout.ms`. Default 3000, a deliberate departure from Kafka's 30000: the
    /// simulated network loses messages but never resets a connection, so a request to a
    /// dead or cut-off broker would hold one of the connection's in-flight slots for the
    /// full timeout, where Kafka's client learns of the broken connection sooner (the
    /// brokers' `REPLICA_REQUEST_TIMEOUT_MS` makes the same choice).
    pub request_timeout_ms: u64,
    /// `delivery.timeout.ms` (default 120000): a record not acknowledged by then fails.
    pub delivery_timeout_ms: u64,
}

impl ProducerSpec {
    /// Kafka's producer defaults, for `topic` at `rate` records/s over `keys` keys.
    pub fn kafka_defaults(name: &str, topic: &str, rate: u32, keys: u32) -> Self {
        ProducerSpec {
            name: name.to_string(),
            topic: topic.to_string(),
            acks: Acks::All,
            rate,
            keys,
            idempotent: true,
            linger_ms: 5,
            batch_size: 16_384,
            max_in_flight: 5,
            retries: i32::MAX as u32,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 1_000,
            request_timeout_ms: 3_000,
            delivery_timeout_ms: 120_000,
        }
    }
}

/// A consumer, `[[consumers]]`. Without a `group` it reads every partition of its topics
/// from offset 0 and commits nothing; with one, Kafka's consumer configs apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerSpec {
    pub name: String,
    pub topics: Vec<String>,
    /// `group.id`.
    pub group: Option<String>,
    /// `subscribe` (group management) or `assign` (every partition of its topics, commits
    /// to the group outside group management). Default: subscribe.
    pub mode: ConsumerMode,
    /// When offsets are committed (default: `auto`, Kafka's `enable.auto.commit = true`).
    pub commit: CommitMode,
    /// `auto.commit.interval.ms` (default 5000).
    pub auto_commit_interval_ms: u64,
    /// `auto.offset.reset` (default "latest").
    pub auto_offset_reset: AutoOffsetReset,
    /// `session.timeout.ms` (default 45000).
    pub session_timeout_ms: u64,
    /// `heartbeat.interval.ms` (default 3000).
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms` (default 300000).
    pub max_poll_interval_ms: u64,
    /// `partition.assignment.strategy` (default "range").
    pub assignor: crate::kafka::protocol::Assignor,
    /// `max.poll.records` (default 500).
    pub max_poll_records: u32,
    /// How long the application works on the records of one poll (default 10 ms).
    pub processing_ms: u64,
}

impl ConsumerSpec {
    /// A consumer outside any group: reads `topics` from offset 0, commits nothing.
    pub fn groupless(name: &str, topics: &[&str]) -> Self {
        ConsumerSpec {
            name: name.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            group: None,
            mode: ConsumerMode::Assign,
            commit: CommitMode::Auto,
            auto_commit_interval_ms: 5_000,
            auto_offset_reset: AutoOffsetReset::Latest,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3_000,
            max_poll_interval_ms: 300_000,
            assignor: crate::kafka::protocol::Assignor::Range,
            max_poll_records: 500,
            processing_ms: 10,
        }
    }

    /// A member of `group` with Kafka's consumer defaults.
    pub fn kafka_defaults(name: &str, topics: &[&str], group: &str) -> Self {
        ConsumerSpec {
            group: Some(group.to_string()),
            mode: ConsumerMode::Subscribe,
            ..ConsumerSpec::groupless(name, topics)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerMode {
    /// `subscribe(topics)`: the group coordinator assigns partitions.
    Subscribe,
    /// `assign(all partitions of topics)`: no group membership.
    Assign,
}

/// When a consumer commits its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitMode {
    /// `enable.auto.commit = true`: every `auto.commit.interval.ms`, inside `poll()`, the
    /// positions of what earlier polls returned (processed, as the poll loop is
    /// synchronous); and before a rebalance.
    Auto,
    /// `commitSync()` after the application processed a poll's records (at least once).
    AfterProcess,
    /// `commitSync()` of the new position before processing (at most once: C1).
    BeforeProcess,
}

/// `auto.offset.reset`: where a consumer without a committed offset starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    Latest,
    /// Fail instead (the consumer stops reading the partition).
    None,
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
    /// Nodes the nemesis may target (default: every broker, unless `roles` are given).
    pub targets: Vec<String>,
    /// Roles the nemesis may target besides `targets`, each resolved to a node when its
    /// fault starts; a fault picks one of the targets and roles, uniformly.
    pub roles: Vec<NemesisRole>,
    /// Most faults active at once: independent lanes, each one fault at a time.
    pub concurrency: u32,
}

/// Who a nemesis fault may hit besides named nodes, as the controller sees the cluster
/// when the fault starts. Each fault aims at one data partition, drawn with the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NemesisRole {
    /// The partition's current leader.
    Leader,
    /// One of the partition's other replicas (drawn with the timeline).
    Follower,
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
    /// History anomalies the scenario's promises allow that the run must show (exactly
    /// these, when any is listed), e.g. `lost-write` under acks=1.
    pub allowed: Vec<String>,
}
