//! What Kafka nodes say to each other, write to disk, set as timers and record for the
//! checkers. Names follow Kafka's protocol (`ProduceRequest`, `OffsetsForLeaderEpoch`,
//! `NOT_LEADER_OR_FOLLOWER`, ...); the payloads keep only what the model needs.

use std::fmt;

use crate::sim::node::NodeId;

/// Kafka's `max.in.flight` is per connection; the skeleton keeps one request in flight per
/// partition, so a produce batch is the unit of ordering and of retry.
pub const PRODUCE_BATCH_RECORDS_MAX: usize = 200;

/// `fetch.max.bytes`, in records: what one fetch response carries at most.
pub const FETCH_RECORDS_MAX: usize = 1_000;

/// A topic's partition, as Kafka names it (`events-0`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: u32) -> Self {
        TopicPartition { topic: topic.to_string(), partition }
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
/// `PartitionChangeRecord`, without the ISR (the skeleton's replica set is fixed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionState {
    pub tp: TopicPartition,
    /// In assignment order; the first live one is elected.
    pub replicas: Vec<NodeId>,
    /// `None` is Kafka's `NO_LEADER` (-1): no live replica.
    pub leader: Option<NodeId>,
    pub leader_epoch: u32,
}

/// The whole cluster metadata at one version of the controller's log. The skeleton's
/// clusters are small, so the controller ships the full image, never a delta.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetadataImage {
    /// The length of the controller's metadata log when the image was taken; strictly
    /// grows with every change (also across controller restarts, the log is fsynced).
    pub version: u64,
    pub partitions: Vec<PartitionState>,
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
        };
        f.write_str(name)
    }
}

/// The producer's `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcksMode {
    Leader,
    All,
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
        acks: AcksMode,
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
    /// `UNDEFINED_EPOCH_OFFSET`.
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
    /// A record of a broker's partition log file (one file per partition).
    Record(Record),
    /// A controller metadata-log record: the new state of one partition.
    PartitionChange(PartitionState),
    /// A client's boot marker: how many times this process started before.
    Boot,
}

/// What the history checkers see. Times and nodes come with [`crate::sim::node::Node`]'s
/// `Observed` wrapper.
#[derive(Clone, Debug, PartialEq)]
pub enum KafkaObs {
    /// A producer sent (or re-sent) a record.
    Sent { tp: TopicPartition, key: u32, value: u64, attempt: u32 },
    /// A producer got an acknowledgement: the record is at `offset`.
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
