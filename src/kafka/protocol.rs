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

/// `fetch.max.bytes`, in records: what one fetch asks for at most. A response ends at a
/// batch boundary, so it may carry up to one batch more ([`FETCH_RESPONSE_RECORDS_MAX`]).
pub const FETCH_RECORDS_MAX: usize = 1_000;
/// The most records one fetch response carries: whole batches past the limit.
pub const FETCH_RESPONSE_RECORDS_MAX: usize = FETCH_RECORDS_MAX + PRODUCE_BATCH_RECORDS_MAX;

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
/// our records appended by one request; an idempotent batch's records share one
/// [`ProducerStamp`], which marks the batch's bounds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub offset: u64,
    /// The epoch of the leader that appended it (the batch's `partitionLeaderEpoch`).
    pub leader_epoch: u32,
    pub key: u32,
    pub value: u64,
    /// What only some records carry, behind one shared pointer so that the plain record
    /// stays small (logs hold millions of them): the idempotent producer's batch header,
    /// or the group coordinator's state.
    pub extra: Option<Arc<RecordExtra>>,
}

/// The rarer parts of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordExtra {
    /// The idempotent producer's batch header, shared by the records of the batch.
    Producer(ProducerStamp),
    /// `__consumer_offsets` records: the group coordinator's state.
    Coordinator(CoordinatorRecord),
}

impl Record {
    /// A data record (no producer stamp, no coordinator payload).
    pub fn data(offset: u64, leader_epoch: u32, key: u32, value: u64) -> Self {
        Record { offset, leader_epoch, key, value, extra: None }
    }

    /// The idempotent producer's batch header, if any.
    pub fn producer(&self) -> Option<ProducerStamp> {
        match self.extra.as_deref() {
            Some(RecordExtra::Producer(stamp)) => Some(*stamp),
            _ => None,
        }
    }

    /// The coordinator's payload of a `__consumer_offsets` record, if any.
    pub fn coordinator(&self) -> Option<&CoordinatorRecord> {
        match self.extra.as_deref() {
            Some(RecordExtra::Coordinator(record)) => Some(record),
            _ => None,
        }
    }
}

/// What a leader is asked to append: a record before it has an offset and an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NewRecord {
    pub key: u32,
    pub value: u64,
    pub extra: Option<Arc<RecordExtra>>,
}

impl NewRecord {
    pub fn data(key: u32, value: u64) -> Self {
        NewRecord { key, value, extra: None }
    }

    /// A coordinator record (key and value unused).
    pub fn coordinator(record: CoordinatorRecord) -> Self {
        NewRecord { key: 0, value: 0, extra: Some(Arc::new(RecordExtra::Coordinator(record))) }
    }

    pub fn at(self, offset: u64, leader_epoch: u32) -> Record {
        let NewRecord { key, value, extra } = self;
        Record { offset, leader_epoch, key, value, extra }
    }
}

/// An idempotent producer's batch, as the produce request names it (Kafka's RecordBatch
/// `producerId`, `producerEpoch`, `baseSequence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerBatch {
    pub producer_id: u64,
    pub producer_epoch: u16,
    /// The sequence number of the batch's first record; the others follow.
    pub base_sequence: u32,
}

/// The batch header every record of an idempotent batch carries in the log, so that a new
/// leader can rebuild the producer state (the last batches per producer) from its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerStamp {
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub base_sequence: u32,
    pub last_sequence: u32,
}

/// A consumer group member id, given by the coordinator at the first JoinGroup (Kafka's
/// `client.id-UUID` string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{:x}", self.0)
    }
}

/// `partition.assignment.strategy`: how the group leader splits partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// Kafka's `RangeAssignor` (the default): per topic, consecutive ranges by member order.
    Range,
    /// Kafka's `RoundRobinAssignor`: all partitions dealt one by one over the members.
    RoundRobin,
}

/// A committed position: the next offset to read, and the leader epoch of the last record
/// read (KIP-320), which lets the next owner validate it after a leader change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommittedOffset {
    pub offset: u64,
    pub leader_epoch: Option<u32>,
}

/// One member of a group as the coordinator stores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberMetadata {
    pub member_id: MemberId,
    /// The consumer process.
    pub client: NodeId,
    pub subscription: Vec<Arc<str>>,
    pub assignment: Vec<TopicPartition>,
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`: how long a rebalance waits for the member to rejoin.
    pub rebalance_timeout_ms: u64,
}

/// The group after a completed rebalance (Kafka's `GroupMetadataValue`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupMetadata {
    pub group: Arc<str>,
    pub generation: u32,
    pub assignor: Option<Assignor>,
    pub leader: Option<MemberId>,
    pub members: Vec<MemberMetadata>,
}

/// The records of `__consumer_offsets`: the coordinator's state, replayed by the broker that
/// becomes the partition's leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CoordinatorRecord {
    /// Kafka's `OffsetCommitKey` / `OffsetCommitValue`.
    OffsetCommit { group: Arc<str>, tp: TopicPartition, offset: CommittedOffset },
    /// Kafka's `GroupMetadataKey` / `GroupMetadataValue`.
    GroupMetadata(GroupMetadata),
}

/// The name of the internal topic that holds the groups and their offsets.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";

/// The `__consumer_offsets` partition of a group (Kafka: `abs(groupId.hashCode) %
/// offsets.topic.num.partitions`, with a stable hash of our own).
pub fn offsets_partition_for(group: &str, partitions: u32) -> u32 {
    assert!(partitions > 0, "{CONSUMER_OFFSETS} has partitions");
    (crate::sim::trace::StableHasher::hash_of(&group) % partitions as u64) as u32
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
    /// Idempotence: the batch's sequence is not the next one after the producer's last.
    OutOfOrderSequenceNumber,
    /// Idempotence: the batch's producer epoch is older than the producer's latest.
    InvalidProducerEpoch,
    /// Idempotence: the leader has no state for the producer id and the batch does not
    /// start at sequence 0.
    UnknownProducerId,
    /// No broker can take the request yet (no producer ids, no coordinator).
    CoordinatorNotAvailable,
    /// This broker is not the group's coordinator (not the offsets partition's leader).
    NotCoordinator,
    /// The coordinator is still loading the group from its partition.
    CoordinatorLoadInProgress,
    /// The request's generation is not the group's current one.
    IllegalGeneration,
    /// The coordinator does not know the member (expired, removed, or never joined).
    UnknownMemberId,
    /// The group is rebalancing: the member must rejoin.
    RebalanceInProgress,
    /// A consumer position cannot be found and `auto.offset.reset = none`.
    NoOffset,
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
            ErrorCode::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ErrorCode::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            ErrorCode::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::NotCoordinator => "NOT_COORDINATOR",
            ErrorCode::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            ErrorCode::IllegalGeneration => "ILLEGAL_GENERATION",
            ErrorCode::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            ErrorCode::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            ErrorCode::NoOffset => "NO_OFFSET",
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
        /// The idempotent producer's batch header; `None` without idempotence.
        producer: Option<ProducerBatch>,
        /// (key, value) in send order.
        records: Vec<(u32, u64)>,
    },
    ProduceResponse {
        correlation_id: u64,
        tp: TopicPartition,
        /// The base offset and the leader epoch the batch was appended in (for a
        /// duplicate of one of the producer's last batches: the original's).
        result: Result<(u64, u32), ErrorCode>,
    },
    /// Idempotent producer start: any broker hands out a producer id and epoch.
    InitProducerId {
        correlation_id: u64,
    },
    InitProducerIdResponse {
        correlation_id: u64,
        /// (producer id, producer epoch).
        result: Result<(u64, u16), ErrorCode>,
    },
    /// Broker -> controller: a block of producer ids to hand out (KRaft's
    /// AllocateProducerIds; the controller records the next free id in its metadata log).
    AllocateProducerIds {
        incarnation: u64,
    },
    AllocateProducerIdsResponse {
        /// (first id, count).
        result: Result<(u64, u64), ErrorCode>,
    },
    /// Consumer: "latest" / "earliest" offset of a partition (`auto.offset.reset`).
    ListOffsets {
        correlation_id: u64,
        tp: TopicPartition,
        current_leader_epoch: u32,
        spec: OffsetSpec,
    },
    ListOffsetsResponse {
        correlation_id: u64,
        tp: TopicPartition,
        /// The offset and the leader's epoch.
        result: Result<(u64, u32), ErrorCode>,
    },

    // Consumers <-> the group coordinator (Kafka's classic group protocol).
    /// Any broker answers, from its metadata: the leader of the group's
    /// `__consumer_offsets` partition.
    FindCoordinator {
        correlation_id: u64,
        group: Arc<str>,
    },
    FindCoordinatorResponse {
        correlation_id: u64,
        result: Result<NodeId, ErrorCode>,
    },
    JoinGroup {
        correlation_id: u64,
        group: Arc<str>,
        /// `None` on the first join; the coordinator assigns one.
        member_id: Option<MemberId>,
        subscription: Vec<Arc<str>>,
        assignor: Assignor,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
    },
    JoinGroupResponse {
        correlation_id: u64,
        result: Result<JoinResult, ErrorCode>,
    },
    SyncGroup {
        correlation_id: u64,
        group: Arc<str>,
        generation: u32,
        member_id: MemberId,
        /// The leader's assignment for every member; empty from followers.
        assignments: Vec<(MemberId, Vec<TopicPartition>)>,
    },
    SyncGroupResponse {
        correlation_id: u64,
        /// This member's partitions.
        result: Result<Vec<TopicPartition>, ErrorCode>,
    },
    Heartbeat {
        correlation_id: u64,
        group: Arc<str>,
        generation: u32,
        member_id: MemberId,
    },
    HeartbeatResponse {
        correlation_id: u64,
        error: Option<ErrorCode>,
    },
    LeaveGroup {
        correlation_id: u64,
        group: Arc<str>,
        member_id: MemberId,
    },
    LeaveGroupResponse {
        correlation_id: u64,
        error: Option<ErrorCode>,
    },
    /// `generation` and `member_id` are `None` for a consumer outside group management
    /// (`assign`): Kafka's -1 / "", accepted only while the group has no members.
    OffsetCommit {
        correlation_id: u64,
        group: Arc<str>,
        generation: Option<u32>,
        member_id: Option<MemberId>,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    },
    /// Sent once the commit's record is committed in `__consumer_offsets` (or refused).
    OffsetCommitResponse {
        correlation_id: u64,
        result: Result<(), ErrorCode>,
    },
    OffsetFetch {
        correlation_id: u64,
        group: Arc<str>,
        partitions: Vec<TopicPartition>,
    },
    OffsetFetchResponse {
        correlation_id: u64,
        /// Per asked partition, its committed offset (`None`: nothing committed).
        result: Result<Vec<(TopicPartition, Option<CommittedOffset>)>, ErrorCode>,
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

/// `ListOffsets`' target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (what a `read_uncommitted` consumer gets for "latest").
    Latest,
}

/// A completed JoinGroup, as the member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinResult {
    pub generation: u32,
    pub member_id: MemberId,
    pub leader: MemberId,
    pub assignor: Assignor,
    /// Every member with its subscription, for the leader only (empty for the others).
    pub members: Vec<(MemberId, Vec<Arc<str>>)>,
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
    /// Broker: the group coordinator's clock (session expiry, join and sync deadlines).
    GroupCoordinatorTick,
    /// Producer: `linger.ms` of a partition's open batch is over.
    Linger { tp: TopicPartition },
    /// Idempotent producer: back-off over, ask for a producer id again.
    InitProducerIdRetry,
    /// Consumer: the application finished processing what its last poll returned.
    ProcessingDone,
    /// Consumer: send a heartbeat to the coordinator (`heartbeat.interval.ms`).
    GroupHeartbeat,
    /// Consumer: `auto.commit.interval.ms`.
    AutoCommit,
    /// Consumer: the back-off after a failed request to the group coordinator is over.
    CoordinatorRetry,
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
    /// Boxed: disk entries are mostly log records, which this large, rare entry would
    /// otherwise make three times bigger.
    PartitionChange(Box<PartitionState>),
    /// A controller metadata-log record: a broker was fenced or unfenced (KRaft's
    /// `BrokerRegistrationChangeRecord`).
    BrokerFencing { broker: NodeId, fenced: bool },
    /// A client's boot marker: how many times this process started before.
    Boot,
    /// A controller metadata-log record: producer ids below `next` are handed out
    /// (KRaft's `ProducerIdsRecord`).
    ProducerIds { next: u64 },
}

/// What the history checkers see: every client operation and its outcome. Times (true
/// simulated time, not the node's skewed clock) and nodes come with
/// [`crate::sim::world::Observed`]'s wrapper; an operation whose invocation and completion
/// the checkers pair carries an `op` id, unique within its process.
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
    /// A producer gave a record up: `delivery.timeout.ms` passed (`error` is `None`) or the
    /// broker answered a non-retriable error. It may still have been appended: its outcome
    /// is unknown (Jepsen's `info`) unless it was never sent.
    SendFailed { tp: TopicPartition, key: u32, value: u64, error: Option<ErrorCode> },
    /// An idempotent producer got its producer id and epoch.
    ProducerId { producer_id: u64, producer_epoch: u16 },
    /// A consumer's poll returned a record.
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
    /// The consumer's application finished processing the records of `tp` at offsets
    /// `first..=last`, which one poll returned.
    Processed { group: Option<Arc<str>>, tp: TopicPartition, first: u64, last: u64 },
    /// A consumer or producer process started again after a crash.
    Restarted,
    /// A consumer's position was set other than by reading: `auto.offset.reset`, a
    /// committed offset taken up, or a truncation found by KIP-320 validation.
    PositionReset { tp: TopicPartition, from: u64, to: u64, reason: ResetReason },
    /// A producer stopped generating: too many records wait to be acknowledged.
    Throttled { pending: usize },
    /// A consumer sent an OffsetCommit (each attempt): from now on the coordinator may
    /// apply it, whether or not an answer ever comes back (the process may crash first).
    CommitSent {
        /// The commit operation (the same over its attempts), unique per process.
        op: u64,
        group: Arc<str>,
        generation: Option<u32>,
        member_id: Option<MemberId>,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    },
    /// An OffsetCommit of one partition completed (one observation per partition).
    /// `Err(RequestTimedOut)` when no answer came: the outcome is then unknown.
    CommitDone {
        /// The operation of the `CommitSent`s before it (none when no attempt was sent).
        op: u64,
        group: Arc<str>,
        generation: Option<u32>,
        member_id: Option<MemberId>,
        tp: TopicPartition,
        offset: CommittedOffset,
        result: Result<(), ErrorCode>,
    },
    /// A consumer sent an OffsetFetch.
    OffsetFetchSent { op: u64, group: Arc<str>, partitions: Vec<TopicPartition> },
    /// An OffsetFetch answered for one partition (`op` as its `OffsetFetchSent`).
    OffsetFetched { op: u64, group: Arc<str>, tp: TopicPartition, offset: Option<CommittedOffset> },
    /// A member got its partitions for `generation` (SyncGroup answered), or a consumer
    /// outside group management assigned itself partitions (`generation` `None`).
    Assigned {
        group: Option<Arc<str>>,
        generation: Option<u32>,
        member_id: Option<MemberId>,
        partitions: Vec<TopicPartition>,
    },
    /// A member stopped owning partitions: before rejoining, or because it learned it was
    /// no longer in the group (then it did not commit them).
    Revoked {
        group: Arc<str>,
        generation: u32,
        partitions: Vec<TopicPartition>,
        reason: RevokeReason,
    },
}

impl KafkaObs {
    /// A poll returned `record` of `tp`, served by `broker`.
    pub fn read(tp: &TopicPartition, record: &Record, broker: NodeId) -> Self {
        KafkaObs::Read {
            tp: tp.clone(),
            key: record.key,
            value: record.value,
            offset: record.offset,
            leader_epoch: record.leader_epoch,
            broker,
        }
    }
}

/// Why a consumer's position moved other than by reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// The group's committed offset was taken up (after an assignment or a restart).
    Committed,
    /// Nothing committed: `auto.offset.reset` chose earliest or latest.
    AutoOffsetReset,
    /// The fetch offset was out of range (`auto.offset.reset`).
    OutOfRange,
    /// KIP-320 validation found the log truncated below the position: back to where it
    /// diverges.
    Truncation,
}

/// Why a member gave partitions up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokeReason {
    /// A rebalance: it commits, then rejoins.
    Rebalance,
    /// The coordinator no longer knows it (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID): lost
    /// without a commit.
    Fenced,
    /// `max.poll.interval.ms` passed between polls: it left the group.
    PollTimeout,
    /// The consumer left the group.
    Leave,
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
