//! What Kafka nodes say to each other, write to disk, set as timers and record for the
//! checkers. Names follow Kafka's protocol (`ProduceRequest`, `OffsetsForLeaderEpoch`,
//! `NOT_LEADER_OR_FOLLOWER`, ...); the payloads keep only what the model needs.

use std::fmt;
use std::sync::Arc;

use crate::scenario::Acks;
use crate::sim::node::NodeId;

/// Kafka's `max.in.flight` is per connection; the skeleton keeps one request in flight per
/// partition, so a produce batch is the unit of ordering and of retry.
pub const PRODUCE_BATCH_RECORDS_MAX: usize = 200;

/// `fetch.max.bytes`, in records: what one fetch response carries at most.
pub const FETCH_RECORDS_MAX: usize = 1_000;

/// A topic's partition, as Kafka names it (`events-0`). The topic name is shared, not
/// copied: partitions travel in every message and history entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: u32) -> Self {
        TopicPartition { topic: Arc::from(topic), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One record of a partition log. Kafka stores batches; one record per entry keeps the model
/// simple and loses nothing the checkers look at (a batch shares one leader epoch, and so do
/// our records appended by one request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub offset: u64,
    /// The epoch of the leader that appended it (the batch's `partitionLeaderEpoch`).
    pub leader_epoch: u32,
    pub key: u32,
    pub value: u64,
}

/// The controller's view of one partition: Kafka's `PartitionRecord` /
/// `PartitionChangeRecord`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionState {
    pub tp: TopicPartition,
    /// In assignment order; elections prefer earlier replicas.
    pub replicas: Vec<NodeId>,
    /// The in-sync replicas, in assignment order. May be empty only with KIP-966's ELR.
    pub isr: Vec<NodeId>,
    /// KIP-966 eligible leader replicas: out of the ISR, but known to hold the HW.
    pub elr: Vec<NodeId>,
    /// `None` is Kafka's `NO_LEADER` (-1).
    pub leader: Option<NodeId>,
    /// Bumped at every leader change.
    pub leader_epoch: u32,
    /// Bumped at every change of the partition (leader, ISR, ELR): AlterPartition's
    /// compare-and-set version (KIP-497).
    pub partition_epoch: u32,
}

/// The whole cluster metadata at one version of the controller's log. The clusters are
/// small, so the controller ships the full image, never a delta.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetadataImage {
    /// The length of the controller's metadata log when the image was taken; strictly
    /// grows with every change (also across controller restarts, the log is fsynced).
    pub version: u64,
    pub partitions: Vec<PartitionState>,
    /// Brokers fenced by the controller (no live session); a leader does not add them to
    /// the ISR (KIP-841).
    pub fenced: Vec<NodeId>,
}

/// Kafka's error codes, the few the skeleton returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    NotLeaderOrFollower,
    /// The request carries an older leader epoch than the replica's (KIP-320).
    FencedLeaderEpoch,
    /// The request carries a newer leader epoch than the replica knows.
    UnknownLeaderEpoch,
    OffsetOutOfRange,
    UnknownTopicOrPartition,
    /// Another incarnation of the broker id still holds a live session.
    DuplicateBrokerRegistration,
    /// The heartbeat comes from an incarnation the controller does not hold.
    StaleBrokerEpoch,
    /// acks=all and the ISR is smaller than `min.insync.replicas` before the append.
    NotEnoughReplicas,
    /// acks=all: the HW passed the records, but the ISR had shrunk below
    /// `min.insync.replicas` meanwhile.
    NotEnoughReplicasAfterAppend,
    /// acks=all: the HW did not pass the records within `request.timeout.ms`.
    RequestTimedOut,
    /// AlterPartition: the partition epoch is not the controller's.
    InvalidUpdateVersion,
    /// AlterPartition: malformed (not from the leader, ISR without the leader).
    InvalidRequest,
    /// AlterPartition: a proposed ISR member is fenced or not a replica.
    IneligibleReplica,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            ErrorCode::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            ErrorCode::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            ErrorCode::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            ErrorCode::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ErrorCode::DuplicateBrokerRegistration => "DUPLICATE_BROKER_REGISTRATION",
            ErrorCode::StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            ErrorCode::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            ErrorCode::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            ErrorCode::RequestTimedOut => "REQUEST_TIMED_OUT",
            ErrorCode::InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::IneligibleReplica => "INELIGIBLE_REPLICA",
        };
        f.write_str(name)
    }
}

/// A leader's metadata for one partition, as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionMetadata {
    pub tp: TopicPartition,
    pub leader: Option<NodeId>,
    pub leader_epoch: u32,
}

/// Every message of the cluster. Requests carry a `correlation_id` that the response
/// echoes; a client ignores responses it is not waiting for (duplicates, late ones).
#[derive(Clone, Debug, Hash)]
pub enum Msg {
    // Broker <-> controller (KRaft's BrokerRegistration / BrokerHeartbeat; metadata is
    // pushed instead of fetched from the metadata log).
    BrokerRegistration {
        incarnation: u64,
        /// KIP-966: false after a crash (no clean-shutdown marker). Every crash in the
        /// simulation is unclean, so this is false for every start but the first.
        previous_clean_shutdown: bool,
    },
    BrokerRegistrationResponse {
        incarnation: u64,
        result: Result<MetadataImage, ErrorCode>,
    },
    BrokerHeartbeat {
        incarnation: u64,
        metadata_version: u64,
    },
    /// Carries the image when the broker's version is behind.
    BrokerHeartbeatResponse {
        error: Option<ErrorCode>,
        image: Option<MetadataImage>,
    },
    /// The controller's push after every change (LeaderAndIsr / metadata update).
    UpdateMetadata {
        image: MetadataImage,
    },
    /// A leader asks the controller to change the ISR (KIP-497). Applied only when the
    /// leader epoch and the partition epoch are the controller's current ones.
    AlterPartition {
        /// The leader's registration (KRaft's broker epoch).
        incarnation: u64,
        tp: TopicPartition,
        leader_epoch: u32,
        partition_epoch: u32,
        new_isr: Vec<NodeId>,
    },
    /// The partition's new state, or why the change was refused.
    AlterPartitionResponse {
        tp: TopicPartition,
        result: Result<PartitionState, ErrorCode>,
    },

    // Clients <-> brokers.
    MetadataRequest {
        correlation_id: u64,
        topics: Vec<String>,
    },
    MetadataResponse {
        correlation_id: u64,
        partitions: Vec<PartitionMetadata>,
    },
    ProduceRequest {
        correlation_id: u64,
        tp: TopicPartition,
        acks: Acks,
        /// (key, value) in send order.
        records: Vec<(u32, u64)>,
    },
    ProduceResponse {
        correlation_id: u64,
        tp: TopicPartition,
        /// The base offset and the leader epoch the batch was appended in.
        result: Result<(u64, u32), ErrorCode>,
    },

    // Fetch: followers (replica_id = Some) and consumers (None).
    Fetch {
        correlation_id: u64,
        tp: TopicPartition,
        replica_id: Option<NodeId>,
        /// KIP-320: the leader epoch the fetcher believes current.
        current_leader_epoch: u32,
        fetch_offset: u64,
    },
    FetchResponse {
        correlation_id: u64,
        tp: TopicPartition,
        error: Option<ErrorCode>,
        high_watermark: u64,
        /// The leader's log start offset: followers delete below it, and fetchers that fell
        /// below it start again there (also sent with OFFSET_OUT_OF_RANGE).
        log_start_offset: u64,
        records: Vec<Record>,
    },
    /// KIP-101/279: "where does epoch `leader_epoch` end in your log?"
    OffsetsForLeaderEpoch {
        correlation_id: u64,
        tp: TopicPartition,
        current_leader_epoch: u32,
        leader_epoch: u32,
    },
    /// The largest epoch <= the requested one and its end offset; `None` is Kafka's
    /// `UNDEFINED_EPOCH_OFFSET`. With the KIP-101 variant the epoch is the requested one
    /// and the offset is the start of the next epoch (the pre-KIP-279 answer).
    OffsetsForLeaderEpochResponse {
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<Option<(u32, u64)>, ErrorCode>,
    },
}

/// Timers of all node kinds. Timers carry a correlation id when they guard one request,
/// so that a timer that outlived its request does nothing.
#[derive(Clone, Debug, Hash)]
pub enum Timer {
    /// Broker: registration retry and heartbeat (`broker.heartbeat.interval.ms`).
    Heartbeat,
    /// Broker: the replica fetchers' poll (`replica.fetch.wait.max.ms`), and expiry of
    /// parked acks=all produce requests.
    ReplicaFetch,
    /// Broker: the ISR shrink check (Kafka's `isr-expiration` task, every
    /// `replica.lag.time.max.ms / 2`).
    IsrExpiration,
    /// Broker: write the HW checkpoint file.
    HighWatermarkCheckpoint,
    /// Broker: `log.flush.interval.ms`.
    LogFlush,
    /// Broker: apply retention (`log.retention.check.interval.ms`).
    RetentionCheck,
    /// Controller: session expiry check and pending elections.
    ControllerTick,
    /// Producer: time to generate the next record.
    Generate,
    /// Client: a request got no answer in time.
    RequestTimeout { correlation_id: u64 },
    /// Client: back-off over, try `tp` again (or metadata when `tp` is `None`).
    Retry { tp: Option<TopicPartition> },
    /// Consumer: the fetch loop's poll.
    ConsumerPoll,
}

/// What nodes write to their disks.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// The first entry of a broker's partition log file: its log start offset.
    LogStartOffset(u64),
    /// A record of a broker's partition log file, with its append time in ms.
    Record(Record, u64),
    /// A broker's `replication-offset-checkpoint`: every partition's HW.
    HighWatermarks(Vec<(TopicPartition, u64)>),
    /// A controller metadata-log record: the new state of one partition.
    PartitionChange(PartitionState),
    /// A controller metadata-log record: a broker was fenced or unfenced (KRaft's
    /// `BrokerRegistrationChangeRecord`).
    BrokerFencing { broker: NodeId, fenced: bool },
    /// A client's boot marker: how many times this process started before.
    Boot,
}

/// What the history checkers see. Times and nodes come with [`crate::sim::node::Node`]'s
/// `Observed` wrapper.
#[derive(Clone, Debug, PartialEq)]
pub enum KafkaObs {
    /// A producer sent (or re-sent) a record.
    Sent { tp: TopicPartition, key: u32, value: u64, attempt: u32 },
    /// A producer got an acknowledgement: the record is at `offset`. With acks=0 there is
    /// no acknowledgement, so no `Acked`: such records appear only as `Sent`.
    Acked {
        tp: TopicPartition,
        key: u32,
        value: u64,
        offset: u64,
        leader: NodeId,
        leader_epoch: u32,
    },
    /// A consumer read a record.
    Read {
        tp: TopicPartition,
        key: u32,
        value: u64,
        offset: u64,
        /// The epoch the record was appended in.
        leader_epoch: u32,
        /// The broker that served it.
        broker: NodeId,
    },
    /// A consumer or producer process started again after a crash; a consumer starts
    /// reading from offset 0 again.
    Restarted,
    /// A consumer's position was reset (`auto.offset.reset=earliest` after
    /// OFFSET_OUT_OF_RANGE).
    PositionReset { tp: TopicPartition, from: u64, to: u64 },
    /// A producer stopped generating: too many records wait to be acknowledged.
    Throttled { pending: usize },
}

/// A record value is unique in a run: the producer's index in the high bits, the number of
/// times the producer process restarted next, its sequence number in the low 32 bits.
pub fn record_value(producer_index: u32, restarts: u32, sequence: u64) -> u64 {
    assert!(producer_index < (1 << 23), "producer index {producer_index} too large");
    assert!(restarts < (1 << 8), "producer restarted {restarts} times");
    assert!(sequence < (1 << 32), "producer sequence {sequence} overflows");
    ((producer_index as u64) << 40) | ((restarts as u64) << 32) | sequence
}

/// The producer index encoded in a record value.
pub fn value_producer_index(value: u64) -> u32 {
    (value >> 40) as u32
}
