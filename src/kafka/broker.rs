//! The broker: hosts partition replicas, leads some and follows others, serves producers,
//! followers and consumers, and answers metadata requests.
//!
//! Replication follows Kafka's `Partition` / `ReplicaManager` / `AbstractFetcherThread`:
//! - The leader keeps the committed ISR from the controller and at most one ISR change in
//!   flight (KIP-497's pending ISR). The HW is the minimum LEO over the *maximal* ISR: the
//!   committed ISR together with the pending one (or, with the R11 variant
//!   `high_watermark_isr = Proposed`, the pending one alone). A new leader forgets its
//!   followers' LEOs, so its HW moves only once every ISR follower fetched in its epoch
//!   (KIP-320 rule 3); with strict min ISR (KIP-966) it does not move while the committed
//!   ISR is smaller than `min.insync.replicas`.
//! - ISR shrink: every `replica.lag.time.max.ms / 2` the leader drops followers whose
//!   `lastCaughtUpTime` is older than `replica.lag.time.max.ms`; expansion: a follower whose
//!   LEO reached the HW and the start of the leader's epoch (KIP-320 rule 4; with the R9
//!   variant `isr_expansion = HighWatermarkOnly`, the HW alone) is added. Both go through
//!   AlterPartition to the controller.
//! - Produce: acks=0 gets no answer, acks=1 after the append, acks=all waits in a purgatory
//!   until the HW passes its last record (REQUEST_TIMED_OUT after `request.timeout.ms`);
//!   NOT_ENOUGH_REPLICAS when the ISR is below `min.insync.replicas` at append time,
//!   NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank below it before the HW got there.
//! - A follower fetches with its current leader epoch (KIP-320 fencing). On becoming a
//!   follower it finds where to truncate per `protocol.truncation`: its own HW (before
//!   KIP-101, R4/R5), KIP-101's first OffsetsForLeaderEpoch (R6) or KIP-279's (default).
//! - Durable state: partition logs ([`PartitionLog`]), the HW checkpoint
//!   (`replication-offset-checkpoint`, every `replica.high.watermark.checkpoint.interval.ms`,
//!   so a restart starts from a stale HW as Kafka does), the flush policy
//!   (`log.flush.interval.messages` / `.ms`; default: never fsync) and retention (every
//!   `log.retention.check.interval.ms`).
//!
//! Followers poll: an idle follower fetches again every `replica.fetch.wait.max.ms`
//! instead of Kafka's long poll at the leader, so acks=all latency is up to that long.

mod groups;
mod idempotence;
#[cfg(test)]
mod test_driver;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::scenario::{Acks, BrokerSpec, HighWatermarkIsr, IsrExpansion, ProtocolSpec, Truncation};
use crate::sim::node::{Context, NodeId};
use crate::sim::time::{Duration, Instant};

use super::log::{OlderEpochs, PartitionLog};
use super::node::KafkaNode;
use super::producer::BOOT_FILE;
use super::producer_state::{BatchCheck, ProducerStateTable};
use super::protocol::{
    Entry, ErrorCode, FETCH_RECORDS_MAX, MetadataImage, Msg, NewRecord, OffsetSpec,
    PartitionMetadata, PartitionState, ProducerBatch, Record, RecordExtra, Timer, TopicPartition,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// How long a follower waits for a fetch answer before sending it again. Kafka's
/// `replica.socket.timeout.ms` is 30 s, but a real broker also notices a broken connection;
/// the simulated network only loses messages, so a shorter timeout stands in for that.
/// Also how long a leader waits for an AlterPartition answer before sending it again.
pub const REPLICA_REQUEST_TIMEOUT_MS: u64 = 3_000;
/// Most acks=all produce requests one partition may hold waiting (Kafka's purgatory); a
/// full purgatory drops the oldest, whose producer times out and retries.
pub const PURGATORY_LEN_MAX: usize = 1_000;
/// Kafka's HW checkpoint file: every partition's HW, rewritten and fsynced periodically.
pub const HIGH_WATERMARK_CHECKPOINT: &str = "replication-offset-checkpoint";

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    pub controller: NodeId,
    /// Kafka's broker configs.
    pub broker: BrokerSpec,
    /// The protocol variants (defaults: the modern protocol).
    pub protocol: ProtocolSpec,
}

impl BrokerConfig {
    /// Kafka's defaults and the modern protocol.
    pub fn defaults(controller: NodeId) -> Self {
        BrokerConfig {
            controller,
            broker: BrokerSpec::kafka_defaults(),
            protocol: ProtocolSpec::modern(),
        }
    }
}

/// An acks=all request waiting for the HW to pass its last record.
#[derive(Clone, Debug)]
struct DelayedProduce {
    client: NodeId,
    correlation_id: u64,
    base_offset: u64,
    last_offset: u64,
    deadline: Instant,
}

/// A produce request's header, as the leader handles it.
#[derive(Clone, Copy, Debug)]
struct ProduceRequest {
    from: NodeId,
    correlation_id: u64,
    acks: Acks,
    producer: Option<ProducerBatch>,
}

/// What the leader knows of one follower (Kafka's `Replica` state).
#[derive(Clone, Debug)]
struct FollowerProgress {
    /// The offset of its latest fetch in this epoch; `None` until it fetched in it.
    log_end_offset: Option<u64>,
    /// Kafka's `lastCaughtUpTimeMs`: the follower had everything the leader had then.
    last_caught_up: Instant,
    last_fetch: Instant,
    /// The leader's LEO at the follower's previous fetch.
    last_fetch_leader_leo: u64,
}

/// An AlterPartition in flight.
#[derive(Clone, Debug)]
struct PendingIsr {
    proposed: Vec<NodeId>,
    sent_at: Instant,
}

#[derive(Clone, Debug)]
struct LeaderState {
    replicas: Vec<NodeId>,
    /// The ISR the controller committed, at `partition_epoch`.
    isr: Vec<NodeId>,
    partition_epoch: u32,
    pending: Option<PendingIsr>,
    followers: BTreeMap<NodeId, FollowerProgress>,
    /// The LEO when this replica became leader: where its epoch starts.
    epoch_start_offset: u64,
    purgatory: VecDeque<DelayedProduce>,
    /// Idempotent producers' last batches, rebuilt from the log when leadership starts.
    producers: ProducerStateTable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetcherPhase {
    /// Asking the leader where our last epoch ends (OffsetsForLeaderEpoch).
    Truncating,
    Fetching,
}

#[derive(Clone, Debug)]
struct FollowerState {
    leader: NodeId,
    phase: FetcherPhase,
    /// The request we wait for: (correlation id, sent at).
    in_flight: Option<(u64, Instant)>,
}

#[derive(Clone, Debug)]
enum Role {
    /// No leader known yet (fresh start) or none elected.
    Offline,
    Leader(LeaderState),
    Follower(FollowerState),
}

#[derive(Clone, Debug)]
pub struct Replica {
    log: PartitionLog,
    /// The epoch of the partition state this replica acts on.
    leader_epoch: u32,
    role: Role,
}

impl Replica {
    pub fn log(&self) -> &PartitionLog {
        &self.log
    }
    pub fn leader_epoch(&self) -> u32 {
        self.leader_epoch
    }
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
    /// A leader's committed ISR (empty on followers).
    pub fn isr(&self) -> &[NodeId] {
        match &self.role {
            Role::Leader(l) => &l.isr,
            _ => &[],
        }
    }
    /// A leader's proposed ISR while an AlterPartition is in flight (empty otherwise).
    pub fn pending_isr(&self) -> &[NodeId] {
        match &self.role {
            Role::Leader(LeaderState { pending: Some(p), .. }) => &p.proposed,
            _ => &[],
        }
    }
    /// The leader this replica follows.
    pub fn following(&self) -> Option<NodeId> {
        match &self.role {
            Role::Follower(f) => Some(f.leader),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Broker {
    config: BrokerConfig,
    id: NodeId,
    /// A fresh random id per process start (KRaft's incarnation id).
    incarnation: u64,
    /// Whether the previous process shut down cleanly: only a first start does here.
    previous_clean_shutdown: bool,
    registered: bool,
    metadata: Option<MetadataImage>,
    replicas: BTreeMap<TopicPartition, Replica>,
    next_correlation_id: u64,
    /// Producer ids this broker may hand out (a block from the controller).
    producer_ids: idempotence::ProducerIdBlock,
    /// The group coordinators of the `__consumer_offsets` partitions this broker leads.
    groups: groups::GroupHost,
}

fn ms(d: u64) -> Duration {
    Duration::from_millis(d)
}

impl Broker {
    pub fn new(config: BrokerConfig) -> Self {
        Broker {
            config,
            id: NodeId(u32::MAX),
            incarnation: 0,
            previous_clean_shutdown: true,
            registered: false,
            metadata: None,
            replicas: BTreeMap::new(),
            next_correlation_id: 0,
            producer_ids: idempotence::ProducerIdBlock::default(),
            groups: groups::GroupHost::default(),
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn replica(&self, tp: &TopicPartition) -> Option<&Replica> {
        self.replicas.get(tp)
    }

    pub fn replicas(&self) -> impl Iterator<Item = (&TopicPartition, &Replica)> {
        self.replicas.iter()
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn metadata_version(&self) -> Option<u64> {
        self.metadata.as_ref().map(|m| m.version)
    }

    fn correlation_id(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    fn min_isr(&self) -> usize {
        self.config.broker.min_insync_replicas as usize
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.id = ctx.id();
        self.incarnation = ctx.rng().next_u64();
        // A random start, so that answers to the previous process's requests never match.
        self.next_correlation_id = ctx.rng().next_u64() >> 1;
        // Every crash is unclean (no controlled shutdown exists in the simulation), so only
        // the very first start reports a clean previous shutdown.
        self.previous_clean_shutdown = ctx.disk().read(BOOT_FILE).is_empty();
        ctx.disk().append(BOOT_FILE, Entry::Boot);
        ctx.disk().fsync(BOOT_FILE);
        let checkpoint: BTreeMap<TopicPartition, u64> =
            match ctx.disk().read(HIGH_WATERMARK_CHECKPOINT).last() {
                Some(Entry::HighWatermarks(hws)) => hws.iter().cloned().collect(),
                Some(other) => panic!("{HIGH_WATERMARK_CHECKPOINT} holds {other:?}"),
                None => BTreeMap::new(),
            };
        // Kafka loads every log directory at startup; they wait for metadata to act.
        let names: Vec<String> = ctx.disk().file_names().map(str::to_string).collect();
        for name in names {
            let Some(tp) = PartitionLog::parse_file_name(&name) else { continue };
            let mut log = PartitionLog::open_with(tp.clone(), ctx.disk(), self.older_epochs());
            log.restore_high_watermark(checkpoint.get(&tp).copied().unwrap_or(0));
            ctx.annotate(format!(
                "{tp}: loaded log, start {} LEO {} HW {} epochs {:?}",
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark(),
                log.epochs()
            ));
            self.replicas.insert(tp, Replica { log, leader_epoch: 0, role: Role::Offline });
        }
        self.send_heartbeat(ctx);
        let spec = &self.config.broker;
        ctx.set_timer(ms(spec.broker_heartbeat_interval_ms), Timer::Heartbeat);
        ctx.set_timer(ms(spec.replica_fetch_wait_max_ms), Timer::ReplicaFetch);
        ctx.set_timer(ms((spec.replica_lag_time_max_ms / 2).max(1)), Timer::IsrExpiration);
        let checkpoint_interval = spec.replica_high_watermark_checkpoint_interval_ms;
        ctx.set_timer(ms(checkpoint_interval), Timer::HighWatermarkCheckpoint);
        if let Some(flush_ms) = spec.log_flush_interval_ms {
            ctx.set_timer(ms(flush_ms.max(1)), Timer::LogFlush);
        }
        if spec.retention_ms.is_some() || spec.retention_bytes.is_some() {
            ctx.set_timer(ms(spec.log_retention_check_interval_ms), Timer::RetentionCheck);
        }
        self.start_group_coordinator(ctx);
    }

    fn send_heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        let msg = if self.registered {
            Msg::BrokerHeartbeat {
                incarnation: self.incarnation,
                metadata_version: self.metadata_version().unwrap_or(0),
            }
        } else {
            Msg::BrokerRegistration {
                incarnation: self.incarnation,
                previous_clean_shutdown: self.previous_clean_shutdown,
            }
        };
        ctx.send(self.config.controller, msg);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        let spec = self.config.broker.clone();
        match timer {
            Timer::Heartbeat => {
                self.send_heartbeat(ctx);
                ctx.set_timer(ms(spec.broker_heartbeat_interval_ms), Timer::Heartbeat);
            }
            Timer::ReplicaFetch => {
                self.replica_fetch_tick(ctx);
                ctx.set_timer(ms(spec.replica_fetch_wait_max_ms), Timer::ReplicaFetch);
            }
            Timer::IsrExpiration => {
                self.maybe_shrink_isrs(ctx);
                ctx.set_timer(ms((spec.replica_lag_time_max_ms / 2).max(1)), Timer::IsrExpiration);
            }
            Timer::HighWatermarkCheckpoint => {
                let hws = self
                    .replicas
                    .iter()
                    .map(|(tp, r)| (tp.clone(), r.log.high_watermark()))
                    .collect();
                // Kafka writes the checkpoint to a temporary file, fsyncs and renames it.
                ctx.disk().overwrite(HIGH_WATERMARK_CHECKPOINT, vec![Entry::HighWatermarks(hws)]);
                ctx.disk().fsync(HIGH_WATERMARK_CHECKPOINT);
                let interval = spec.replica_high_watermark_checkpoint_interval_ms;
                ctx.set_timer(ms(interval), Timer::HighWatermarkCheckpoint);
            }
            Timer::LogFlush => {
                for replica in self.replicas.values_mut() {
                    if replica.log.unflushed_messages() > 0 {
                        replica.log.flush(ctx.disk());
                    }
                }
                let flush_ms = spec.log_flush_interval_ms.expect("flush timer only when set");
                ctx.set_timer(ms(flush_ms.max(1)), Timer::LogFlush);
            }
            Timer::RetentionCheck => {
                let now_ms = ctx.now().as_millis();
                for (tp, replica) in &mut self.replicas {
                    let target = replica.log.retention_target(
                        now_ms,
                        spec.retention_ms,
                        spec.retention_bytes,
                    );
                    let deleted = replica.log.advance_log_start_offset(ctx.disk(), target);
                    if deleted > 0 {
                        ctx.annotate(format!(
                            "{tp}: retention deleted {deleted} records, log start {}",
                            replica.log.log_start_offset()
                        ));
                    }
                }
                ctx.set_timer(ms(spec.log_retention_check_interval_ms), Timer::RetentionCheck);
            }
            Timer::GroupCoordinatorTick => self.group_coordinator_tick(ctx),
            other => panic!("broker got a foreign timer {other:?}"),
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::BrokerRegistrationResponse { incarnation, result } => {
                if incarnation != self.incarnation || self.registered {
                    return;
                }
                match result {
                    Ok(image) => {
                        self.registered = true;
                        ctx.annotate(format!(
                            "registered with the controller (image v{})",
                            image.version
                        ));
                        self.apply_image(ctx, image);
                    }
                    Err(error) => ctx.annotate(format!("registration refused: {error}")),
                }
            }
            Msg::BrokerHeartbeatResponse { error, image } => {
                if let Some(error) = error {
                    ctx.annotate(format!("heartbeat refused: {error}; registering again"));
                    self.registered = false;
                    return;
                }
                if let Some(image) = image {
                    self.apply_image(ctx, image);
                }
            }
            Msg::UpdateMetadata { image } => {
                // Before registration the controller may still push the previous
                // incarnation's state; only the registration answer starts this one.
                if self.registered {
                    self.apply_image(ctx, image);
                }
            }
            Msg::AlterPartitionResponse { tp, result } => {
                self.handle_alter_partition_response(ctx, tp, result);
            }
            Msg::MetadataRequest { correlation_id, topics } => {
                let partitions = self
                    .metadata
                    .iter()
                    .flat_map(|m| &m.partitions)
                    .filter(|p| topics.iter().any(|t| **t == *p.tp.topic))
                    .map(|p| PartitionMetadata {
                        tp: p.tp.clone(),
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    })
                    .collect();
                ctx.send(from, Msg::MetadataResponse { correlation_id, partitions });
            }
            Msg::ProduceRequest { correlation_id, tp, acks, producer, records } => {
                let request = ProduceRequest { from, correlation_id, acks, producer };
                self.handle_produce(ctx, request, tp, records);
            }
            Msg::InitProducerId { correlation_id } => {
                self.handle_init_producer_id(ctx, from, correlation_id);
            }
            Msg::AllocateProducerIdsResponse { result } => {
                self.handle_allocate_producer_ids_response(ctx, result);
            }
            Msg::ListOffsets { correlation_id, tp, current_leader_epoch, spec } => {
                let result = self.check_leader(&tp, current_leader_epoch).map(|replica| {
                    let offset = match spec {
                        OffsetSpec::Earliest => replica.log.log_start_offset(),
                        OffsetSpec::Latest => replica.log.high_watermark(),
                    };
                    (offset, replica.leader_epoch)
                });
                ctx.send(from, Msg::ListOffsetsResponse { correlation_id, tp, result });
            }
            msg @ (Msg::FindCoordinator { .. }
            | Msg::JoinGroup { .. }
            | Msg::SyncGroup { .. }
            | Msg::Heartbeat { .. }
            | Msg::LeaveGroup { .. }
            | Msg::OffsetCommit { .. }
            | Msg::OffsetFetch { .. }) => self.handle_group_request(ctx, from, msg),
            Msg::Fetch { correlation_id, tp, replica_id, current_leader_epoch, fetch_offset } => {
                self.handle_fetch(
                    ctx,
                    from,
                    correlation_id,
                    tp,
                    replica_id,
                    current_leader_epoch,
                    fetch_offset,
                );
            }
            Msg::OffsetsForLeaderEpoch {
                correlation_id,
                tp,
                current_leader_epoch,
                leader_epoch,
            } => {
                let kip101 = self.config.protocol.truncation == Truncation::LeaderEpochKip101;
                let result = self.check_leader(&tp, current_leader_epoch).map(|replica| {
                    if kip101 {
                        replica.log.kip101_offset_for_epoch(leader_epoch).map(|o| (leader_epoch, o))
                    } else {
                        replica.log.end_offset_for_epoch(leader_epoch)
                    }
                });
                ctx.send(from, Msg::OffsetsForLeaderEpochResponse { correlation_id, tp, result });
            }
            Msg::OffsetsForLeaderEpochResponse { correlation_id, tp, result } => {
                self.handle_epoch_answer(ctx, correlation_id, tp, result);
            }
            Msg::FetchResponse {
                correlation_id,
                tp,
                error,
                high_watermark,
                log_start_offset,
                records,
            } => {
                self.handle_fetch_response(
                    ctx,
                    correlation_id,
                    tp,
                    error,
                    high_watermark,
                    log_start_offset,
                    records,
                );
            }
            // Messages for other node kinds (a duplicate delivered after a role mix-up
            // cannot happen: ids are fixed), so anything else is a bug.
            other => panic!("broker {:?} got unexpected {other:?}", self.id),
        }
    }

    /// Applies a newer controller image: every hosted partition whose state moved changes
    /// role or ISR.
    fn apply_image(&mut self, ctx: &mut Ctx<'_>, image: MetadataImage) {
        if self.metadata.as_ref().is_some_and(|m| m.version >= image.version) {
            return;
        }
        let partitions = image.partitions.clone();
        self.metadata = Some(image);
        for state in &partitions {
            if state.replicas.contains(&self.id) {
                self.reconcile(ctx, state);
            }
        }
    }

    fn is_fenced(&self, broker: NodeId) -> bool {
        self.metadata.as_ref().is_some_and(|m| m.fenced.contains(&broker))
    }

    /// Fails every parked acks=all request of `tp` (leadership over).
    fn fail_purgatory(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition, error: ErrorCode) {
        let Some(replica) = self.replicas.get_mut(tp) else { return };
        let Role::Leader(leader) = &mut replica.role else { return };
        for delayed in leader.purgatory.drain(..) {
            ctx.send(
                delayed.client,
                Msg::ProduceResponse {
                    correlation_id: delayed.correlation_id,
                    tp: tp.clone(),
                    result: Err(error),
                },
            );
        }
    }

    /// Logs tolerate records of older epochs only under the truncations before KIP-279.
    fn older_epochs(&self) -> OlderEpochs {
        match self.config.protocol.truncation {
            Truncation::LeaderEpoch => OlderEpochs::Refuse,
            Truncation::HighWatermark | Truncation::LeaderEpochKip101 => OlderEpochs::Tolerate,
        }
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>, state: &PartitionState) {
        let tp = &state.tp;
        if !self.replicas.contains_key(tp) {
            let log = PartitionLog::open_with(tp.clone(), ctx.disk(), self.older_epochs());
            self.replicas.insert(tp.clone(), Replica { log, leader_epoch: 0, role: Role::Offline });
        }
        let id = self.id;
        let now = ctx.now();
        let replica = self.replicas.get_mut(tp).expect("replica just ensured");
        assert!(
            state.leader_epoch >= replica.leader_epoch,
            "{tp}: leader epoch went back from {} to {} (MonotonicEpoch)",
            replica.leader_epoch,
            state.leader_epoch
        );
        let same_epoch = state.leader_epoch == replica.leader_epoch;
        match (&mut replica.role, state.leader) {
            (Role::Leader(leader), Some(l)) if l == id && same_epoch => {
                // Same leadership; the controller committed an ISR change (ours, or its
                // own after fencing a follower). Kafka's makeLeader with a new partition
                // epoch: the committed state replaces any pending one.
                if state.partition_epoch > leader.partition_epoch {
                    leader.isr = state.isr.clone();
                    leader.partition_epoch = state.partition_epoch;
                    leader.pending = None;
                    self.maybe_advance_high_watermark(ctx, tp);
                }
                return;
            }
            (Role::Follower(f), Some(l)) if l == f.leader && same_epoch => return,
            (Role::Offline, None) if same_epoch => return,
            _ => {}
        }
        // Whatever this replica led before is over: parked acks=all requests fail so that
        // their producers retry against the new leader.
        self.fail_purgatory(ctx, tp, ErrorCode::NotLeaderOrFollower);
        let truncation = self.config.protocol.truncation;
        let replica = self.replicas.get_mut(tp).expect("replica exists");
        replica.leader_epoch = state.leader_epoch;
        match state.leader {
            Some(leader) if leader == id => {
                let leo = replica.log.log_end_offset();
                replica.log.assign_epoch_start(state.leader_epoch, leo);
                // Followers start unknown: the HW waits until each ISR member fetched in
                // this epoch (KIP-320). ISR members get a full lag period to do so.
                let followers = state
                    .replicas
                    .iter()
                    .filter(|&&r| r != id)
                    .map(|&r| {
                        let last_caught_up =
                            if state.isr.contains(&r) { now } else { Instant::ZERO };
                        let progress = FollowerProgress {
                            log_end_offset: None,
                            last_caught_up,
                            last_fetch: Instant::ZERO,
                            last_fetch_leader_leo: 0,
                        };
                        (r, progress)
                    })
                    .collect();
                replica.role = Role::Leader(LeaderState {
                    replicas: state.replicas.clone(),
                    isr: state.isr.clone(),
                    partition_epoch: state.partition_epoch,
                    pending: None,
                    followers,
                    epoch_start_offset: leo,
                    purgatory: VecDeque::new(),
                    producers: ProducerStateTable::default(),
                });
                ctx.annotate(format!(
                    "{tp}: leader in epoch {} at LEO {leo} HW {} ISR {:?}",
                    state.leader_epoch,
                    replica.log.high_watermark(),
                    state.isr
                ));
                self.rebuild_producer_state(ctx, tp);
                self.maybe_advance_high_watermark(ctx, tp);
            }
            Some(leader) => {
                let before = replica.log.log_end_offset();
                let phase = match truncation {
                    // Before KIP-101: cut to our own HW at once, whatever the leader has.
                    Truncation::HighWatermark => {
                        let hw = replica.log.high_watermark();
                        replica.log.truncate_to(ctx.disk(), hw);
                        FetcherPhase::Fetching
                    }
                    Truncation::LeaderEpochKip101 | Truncation::LeaderEpoch => {
                        if replica.log.latest_epoch().is_some() {
                            FetcherPhase::Truncating
                        } else {
                            FetcherPhase::Fetching
                        }
                    }
                };
                replica.role = Role::Follower(FollowerState { leader, phase, in_flight: None });
                ctx.annotate(format!(
                    "{tp}: follower of {leader:?} in epoch {} at LEO {} (was {before}) HW {}",
                    state.leader_epoch,
                    replica.log.log_end_offset(),
                    replica.log.high_watermark()
                ));
                self.send_follower_request(ctx, tp);
            }
            None => {
                replica.role = Role::Offline;
                ctx.annotate(format!("{tp}: no leader in epoch {}", state.leader_epoch));
            }
        }
        // A coordinator moves with the leadership of its `__consumer_offsets` partition.
        self.coordinator_leadership_changed(ctx, tp);
    }

    /// The replica of `tp` if this broker leads it.
    fn leader_replica(&self, tp: &TopicPartition) -> Result<&Replica, ErrorCode> {
        let Some(replica) = self.replicas.get(tp) else {
            let known = self.metadata.iter().flat_map(|m| &m.partitions).any(|p| &p.tp == tp);
            return Err(if known {
                ErrorCode::NotLeaderOrFollower
            } else {
                ErrorCode::UnknownTopicOrPartition
            });
        };
        if replica.is_leader() { Ok(replica) } else { Err(ErrorCode::NotLeaderOrFollower) }
    }

    /// The leader replica of `tp` if the request's epoch is the current one (KIP-320
    /// fencing: an older epoch is fenced, a newer one not known yet).
    fn check_leader(&self, tp: &TopicPartition, request_epoch: u32) -> Result<&Replica, ErrorCode> {
        let replica = self.leader_replica(tp)?;
        match request_epoch.cmp(&replica.leader_epoch) {
            std::cmp::Ordering::Less => Err(ErrorCode::FencedLeaderEpoch),
            std::cmp::Ordering::Greater => Err(ErrorCode::UnknownLeaderEpoch),
            std::cmp::Ordering::Equal => Ok(replica),
        }
    }

    fn handle_produce(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: ProduceRequest,
        tp: TopicPartition,
        records: Vec<(u32, u64)>,
    ) {
        let ProduceRequest { from, correlation_id, acks, producer } = request;
        let reply = |ctx: &mut Ctx<'_>, tp: &TopicPartition, result| {
            // acks=0: the producer waits for nothing, so it gets nothing (Kafka even closes
            // the connection on an error).
            if acks != Acks::None {
                let tp = tp.clone();
                ctx.send(from, Msg::ProduceResponse { correlation_id, tp, result });
            }
        };
        // Produce requests carry no leader epoch in Kafka: the leader check is all there is.
        let (epoch, isr_len) = match self.leader_replica(&tp) {
            Ok(replica) => (replica.leader_epoch, replica.isr().len()),
            Err(error) => return reply(ctx, &tp, Err(error)),
        };
        if acks == Acks::All && isr_len < self.min_isr() {
            return reply(ctx, &tp, Err(ErrorCode::NotEnoughReplicas));
        }
        // Idempotence: a retried batch is answered with its first append; a gap or a stale
        // epoch is refused.
        let stamp = match producer {
            None => None,
            Some(batch) => match self.check_producer_batch(&tp, batch, records.len()) {
                Ok(BatchCheck::Append(stamp)) => Some(stamp),
                Ok(BatchCheck::Duplicate { base_offset, leader_epoch }) => {
                    let last_offset = base_offset + records.len() as u64 - 1;
                    return self.answer_duplicate(
                        ctx,
                        request,
                        &tp,
                        (base_offset, last_offset),
                        leader_epoch,
                    );
                }
                Err(error) => return reply(ctx, &tp, Err(error)),
            },
        };
        let now = ctx.now();
        let flush_messages = self.config.broker.log_flush_interval_messages;
        let timeout = ms(self.config.broker.request_timeout_ms);
        let replica = self.replicas.get_mut(&tp).expect("leader checked");
        let base_offset = replica.log.log_end_offset();
        // The batch's records share one header.
        let extra = stamp.map(|s| Arc::new(RecordExtra::Producer(s)));
        for (key, value) in records {
            let record = NewRecord { key, value, extra: extra.clone() };
            replica.log.append_as_leader(ctx.disk(), epoch, record, now.as_millis());
        }
        if let Some(stamp) = stamp {
            self.record_producer_batch(&tp, stamp, base_offset, epoch);
        }
        let replica = self.replicas.get_mut(&tp).expect("leader checked");
        if flush_messages.is_some_and(|n| replica.log.unflushed_messages() >= n) {
            replica.log.flush(ctx.disk());
        }
        let leo = replica.log.log_end_offset();
        if acks != Acks::All || leo == base_offset {
            reply(ctx, &tp, Ok((base_offset, epoch)));
            self.maybe_advance_high_watermark(ctx, &tp);
            return;
        }
        let Role::Leader(leader) = &mut replica.role else { unreachable!("leader checked") };
        if leader.purgatory.len() >= PURGATORY_LEN_MAX {
            leader.purgatory.pop_front();
        }
        leader.purgatory.push_back(DelayedProduce {
            client: from,
            correlation_id,
            base_offset,
            last_offset: leo - 1,
            deadline: now + timeout,
        });
        self.maybe_advance_high_watermark(ctx, &tp);
    }

    /// A retried idempotent batch that is already in the log at `offsets` (first, last):
    /// answered with the original's place, with acks=all only once the HW passed it
    /// (Kafka's delayed produce waits for the duplicate's offsets like for an append's).
    fn answer_duplicate(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: ProduceRequest,
        tp: &TopicPartition,
        (base_offset, last_offset): (u64, u64),
        leader_epoch: u32,
    ) {
        let ProduceRequest { from, correlation_id, acks, .. } = request;
        let deadline = ctx.now() + ms(self.config.broker.request_timeout_ms);
        let replica = self.replicas.get_mut(tp).expect("leader checked");
        let committed = last_offset < replica.log.high_watermark();
        match (&mut replica.role, acks) {
            (_, Acks::None) => {}
            (Role::Leader(leader), Acks::All) if !committed => {
                if leader.purgatory.len() >= PURGATORY_LEN_MAX {
                    leader.purgatory.pop_front();
                }
                // The purgatory completes in offset order: the duplicate goes where its
                // offsets belong.
                let at = leader.purgatory.partition_point(|d| d.last_offset <= last_offset);
                leader.purgatory.insert(
                    at,
                    DelayedProduce {
                        client: from,
                        correlation_id,
                        base_offset,
                        last_offset,
                        deadline,
                    },
                );
            }
            _ => {
                let result = Ok((base_offset, leader_epoch));
                ctx.send(from, Msg::ProduceResponse { correlation_id, tp: tp.clone(), result });
            }
        }
    }

    /// HW = min LEO over the maximal ISR, never moving back; completes the acks=all
    /// requests it now covers.
    fn maybe_advance_high_watermark(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition) {
        let id = self.id;
        let min_isr = self.min_isr();
        let strict = self.config.protocol.strict_min_isr;
        let hw_isr = self.config.protocol.high_watermark_isr;
        let Some(replica) = self.replicas.get_mut(tp) else { return };
        let epoch = replica.leader_epoch;
        let Role::Leader(leader) = &mut replica.role else { return };
        let under_min_isr = leader.isr.len() < min_isr;
        if !(strict && under_min_isr) {
            let mut maximal: Vec<NodeId> = match (&leader.pending, hw_isr) {
                (None, _) => leader.isr.clone(),
                (Some(p), HighWatermarkIsr::Proposed) => p.proposed.clone(),
                (Some(p), HighWatermarkIsr::CommittedAndPending) => {
                    leader.isr.iter().chain(&p.proposed).copied().collect()
                }
            };
            maximal.sort();
            maximal.dedup();
            let mut hw = Some(replica.log.log_end_offset());
            for r in maximal.iter().filter(|&&r| r != id) {
                let follower_leo = leader.followers.get(r).and_then(|f| f.log_end_offset);
                hw = match (hw, follower_leo) {
                    (Some(h), Some(f)) => Some(h.min(f)),
                    _ => None,
                };
            }
            if let Some(hw) = hw {
                replica.log.advance_high_watermark(hw);
            }
        }
        let hw = replica.log.high_watermark();
        while leader.purgatory.front().is_some_and(|d| d.last_offset < hw) {
            let done = leader.purgatory.pop_front().expect("front checked");
            let result = if under_min_isr {
                Err(ErrorCode::NotEnoughReplicasAfterAppend)
            } else {
                Ok((done.base_offset, epoch))
            };
            ctx.send(
                done.client,
                Msg::ProduceResponse {
                    correlation_id: done.correlation_id,
                    tp: tp.clone(),
                    result,
                },
            );
        }
        self.coordinator_high_watermark_moved(ctx, tp);
    }

    /// Sends an ISR change to the controller and records it as pending.
    fn propose_isr(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition, proposed: Vec<NodeId>) {
        let now = ctx.now();
        let incarnation = self.incarnation;
        let replica = self.replicas.get_mut(tp).expect("leader replica");
        let leader_epoch = replica.leader_epoch;
        let Role::Leader(leader) = &mut replica.role else { return };
        assert!(proposed.contains(&self.id), "{tp}: an ISR proposal without its leader");
        ctx.annotate(format!(
            "{tp}: proposing ISR {:?} -> {proposed:?} (HW {})",
            leader.isr,
            replica.log.high_watermark()
        ));
        let msg = Msg::AlterPartition {
            incarnation,
            tp: tp.clone(),
            leader_epoch,
            partition_epoch: leader.partition_epoch,
            new_isr: proposed.clone(),
        };
        leader.pending = Some(PendingIsr { proposed, sent_at: now });
        ctx.send(self.config.controller, msg);
        self.maybe_advance_high_watermark(ctx, tp);
    }

    /// Kafka's `maybeShrinkIsr`: drops ISR followers not caught up within
    /// `replica.lag.time.max.ms`.
    fn maybe_shrink_isrs(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let lag = ms(self.config.broker.replica_lag_time_max_ms);
        let id = self.id;
        let mut proposals = Vec::new();
        for (tp, replica) in &self.replicas {
            let Role::Leader(leader) = &replica.role else { continue };
            if leader.pending.is_some() {
                continue;
            }
            let out_of_sync = |r: &NodeId| {
                *r != id
                    && leader
                        .followers
                        .get(r)
                        .is_none_or(|f| now.saturating_since(f.last_caught_up) > lag)
            };
            if leader.isr.iter().any(out_of_sync) {
                let proposed = leader.isr.iter().copied().filter(|r| !out_of_sync(r)).collect();
                proposals.push((tp.clone(), proposed));
            }
        }
        for (tp, proposed) in proposals {
            self.propose_isr(ctx, &tp, proposed);
        }
    }

    /// Kafka's `maybeExpandIsr` after a follower's fetch.
    fn maybe_expand_isr(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition, follower: NodeId) {
        let fenced = self.is_fenced(follower);
        let rule = self.config.protocol.isr_expansion;
        let replica = &self.replicas[tp];
        let Role::Leader(leader) = &replica.role else { return };
        if leader.pending.is_some() || leader.isr.contains(&follower) || fenced {
            return;
        }
        let Some(follower_leo) = leader.followers.get(&follower).and_then(|f| f.log_end_offset)
        else {
            return;
        };
        let caught_up = follower_leo >= replica.log.high_watermark()
            && (rule == IsrExpansion::HighWatermarkOnly
                || follower_leo >= leader.epoch_start_offset);
        if !caught_up {
            return;
        }
        let proposed = leader
            .replicas
            .iter()
            .copied()
            .filter(|r| leader.isr.contains(r) || *r == follower)
            .collect();
        self.propose_isr(ctx, tp, proposed);
    }

    fn handle_alter_partition_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: TopicPartition,
        result: Result<PartitionState, ErrorCode>,
    ) {
        let Some(replica) = self.replicas.get_mut(&tp) else { return };
        let epoch = replica.leader_epoch;
        let Role::Leader(leader) = &mut replica.role else { return };
        match result {
            Ok(state) => {
                // An answer to an older request, or about an older epoch: the metadata
                // update brings whatever is current.
                if state.leader_epoch != epoch || state.partition_epoch <= leader.partition_epoch {
                    return;
                }
                ctx.annotate(format!(
                    "{tp}: ISR {:?} -> {:?} committed at partition epoch {}",
                    leader.isr, state.isr, state.partition_epoch
                ));
                leader.isr = state.isr;
                leader.partition_epoch = state.partition_epoch;
                leader.pending = None;
                self.maybe_advance_high_watermark(ctx, &tp);
            }
            // The proposal can never apply: back to the committed state.
            Err(ErrorCode::IneligibleReplica | ErrorCode::InvalidRequest) => {
                leader.pending = None;
                self.maybe_advance_high_watermark(ctx, &tp);
            }
            // Our epochs are stale (or we are): Kafka waits for the metadata update, which
            // replaces the pending state.
            Err(_) => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_fetch(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        replica_id: Option<NodeId>,
        current_leader_epoch: u32,
        fetch_offset: u64,
    ) {
        let reply = |ctx: &mut Ctx<'_>, tp, error, high_watermark, log_start_offset, records| {
            ctx.send(
                from,
                Msg::FetchResponse {
                    correlation_id,
                    tp,
                    error,
                    high_watermark,
                    log_start_offset,
                    records,
                },
            );
        };
        let (leo, hw, log_start) = match self.check_leader(&tp, current_leader_epoch) {
            Ok(r) => (r.log.log_end_offset(), r.log.high_watermark(), r.log.log_start_offset()),
            Err(error) => return reply(ctx, tp, Some(error), 0, 0, Vec::new()),
        };
        if fetch_offset > leo || fetch_offset < log_start {
            let error = Some(ErrorCode::OffsetOutOfRange);
            return reply(ctx, tp, error, hw, log_start, Vec::new());
        }
        if let Some(follower) = replica_id {
            let now = ctx.now();
            let replica = self.replicas.get_mut(&tp).expect("leader checked");
            let Role::Leader(leader) = &mut replica.role else { unreachable!("leader checked") };
            let Some(progress) = leader.followers.get_mut(&follower) else {
                return reply(ctx, tp, Some(ErrorCode::NotLeaderOrFollower), 0, 0, Vec::new());
            };
            // Kafka's `Replica.updateFetchState`: caught up now if it asked for our LEO,
            // or as of its previous fetch if it reached what we had then.
            if fetch_offset >= leo {
                progress.last_caught_up = now;
            } else if fetch_offset >= progress.last_fetch_leader_leo {
                progress.last_caught_up = progress.last_caught_up.max(progress.last_fetch);
            }
            progress.last_fetch_leader_leo = leo;
            progress.last_fetch = now;
            progress.log_end_offset = Some(fetch_offset);
            self.maybe_expand_isr(ctx, &tp, follower);
            self.maybe_advance_high_watermark(ctx, &tp);
        }
        let replica = &self.replicas[&tp];
        let hw = replica.log.high_watermark();
        // Followers get everything; consumers only what is committed.
        let upto = if replica_id.is_some() { leo } else { hw };
        let records = replica.log.read(fetch_offset, upto, FETCH_RECORDS_MAX);
        reply(ctx, tp, None, hw, log_start, records);
    }

    fn replica_fetch_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let timeout = ms(REPLICA_REQUEST_TIMEOUT_MS);
        let mut due = Vec::new();
        let mut resend = Vec::new();
        let mut expired = Vec::new();
        for (tp, replica) in &mut self.replicas {
            match &mut replica.role {
                Role::Follower(f) => {
                    if f.in_flight.is_none_or(|(_, sent)| now.saturating_since(sent) >= timeout) {
                        due.push(tp.clone());
                    }
                }
                Role::Leader(leader) => {
                    // Kafka's delayed produce expires with REQUEST_TIMED_OUT.
                    while leader.purgatory.front().is_some_and(|d| d.deadline <= now) {
                        expired.push((tp.clone(), leader.purgatory.pop_front().expect("front")));
                    }
                    if let Some(p) = &leader.pending
                        && now.saturating_since(p.sent_at) >= timeout
                    {
                        resend.push((tp.clone(), p.proposed.clone()));
                    }
                }
                Role::Offline => {}
            }
        }
        for (tp, d) in expired {
            let result = Err(ErrorCode::RequestTimedOut);
            ctx.send(
                d.client,
                Msg::ProduceResponse { correlation_id: d.correlation_id, tp, result },
            );
        }
        // An AlterPartition without an answer is sent again (Kafka's AlterPartitionManager
        // retries); a duplicate that arrives after the first applied gets
        // INVALID_UPDATE_VERSION, and the metadata update settles it.
        for (tp, proposed) in resend {
            self.propose_isr(ctx, &tp, proposed);
        }
        for tp in due {
            self.send_follower_request(ctx, &tp);
        }
    }

    fn send_follower_request(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition) {
        let correlation_id = self.correlation_id();
        let now = ctx.now();
        let id = self.id;
        let replica = self.replicas.get_mut(tp).expect("follower replica exists");
        let epoch = replica.leader_epoch;
        let Role::Follower(follower) = &mut replica.role else { return };
        follower.in_flight = Some((correlation_id, now));
        let msg = match follower.phase {
            FetcherPhase::Truncating => Msg::OffsetsForLeaderEpoch {
                correlation_id,
                tp: tp.clone(),
                current_leader_epoch: epoch,
                leader_epoch: replica.log.latest_epoch().expect("truncating a log with epochs"),
            },
            FetcherPhase::Fetching => Msg::Fetch {
                correlation_id,
                tp: tp.clone(),
                replica_id: Some(id),
                current_leader_epoch: epoch,
                fetch_offset: replica.log.log_end_offset(),
            },
        };
        ctx.send(follower.leader, msg);
    }

    /// The follower's request `correlation_id` of `phase` got its answer: clears it and
    /// returns the replica, or `None` when the answer is stale.
    fn take_answer(
        &mut self,
        tp: &TopicPartition,
        correlation_id: u64,
        phase: FetcherPhase,
    ) -> Option<&mut Replica> {
        let replica = self.replicas.get_mut(tp)?;
        let Role::Follower(follower) = &mut replica.role else { return None };
        if follower.phase != phase || follower.in_flight.map(|(c, _)| c) != Some(correlation_id) {
            return None;
        }
        follower.in_flight = None;
        Some(replica)
    }

    fn handle_epoch_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<Option<(u32, u64)>, ErrorCode>,
    ) {
        let kip101 = self.config.protocol.truncation == Truncation::LeaderEpochKip101;
        let Some(replica) = self.take_answer(&tp, correlation_id, FetcherPhase::Truncating) else {
            return;
        };
        let answer = match result {
            Ok(answer) => answer,
            // Stale metadata on one side: the next tick asks again, by then the
            // controller's image has reached whoever was behind.
            Err(_) => return,
        };
        let before = replica.log.log_end_offset();
        let truncation = if kip101 {
            replica.log.kip101_truncation_for(answer.map(|(_, offset)| offset))
        } else {
            replica.log.truncation_for(answer)
        };
        replica.log.truncate_to(ctx.disk(), truncation.truncate_to);
        let after = replica.log.log_end_offset();
        if after < before {
            ctx.annotate(format!(
                "{tp}: truncated from {before} to {after} (leader answered {answer:?})"
            ));
        }
        if truncation.complete || replica.log.latest_epoch().is_none() {
            let Role::Follower(follower) = &mut replica.role else { unreachable!() };
            follower.phase = FetcherPhase::Fetching;
        }
        self.send_follower_request(ctx, &tp);
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        tp: TopicPartition,
        error: Option<ErrorCode>,
        high_watermark: u64,
        leader_log_start_offset: u64,
        records: Vec<Record>,
    ) {
        let truncation = self.config.protocol.truncation;
        let flush_messages = self.config.broker.log_flush_interval_messages;
        let now_ms = ctx.now().as_millis();
        let Some(replica) = self.take_answer(&tp, correlation_id, FetcherPhase::Fetching) else {
            // Not a follower's fetch: consumers are other nodes, so this is stale.
            return;
        };
        match error {
            Some(ErrorCode::OffsetOutOfRange) => {
                let leo = replica.log.log_end_offset();
                if leo < leader_log_start_offset {
                    // Retention at the leader passed us: start again at its log start.
                    replica.log.truncate_fully_and_start_at(ctx.disk(), leader_log_start_offset);
                } else if truncation == Truncation::HighWatermark
                    || replica.log.latest_epoch().is_none()
                {
                    // Our log is longer than the leader's; before KIP-101 the follower cut
                    // it back to what it knew committed.
                    let to = replica.log.high_watermark().min(high_watermark);
                    replica.log.truncate_to(ctx.disk(), to);
                } else {
                    // Our log is longer than the leader's: find the divergence again.
                    let Role::Follower(follower) = &mut replica.role else { unreachable!() };
                    follower.phase = FetcherPhase::Truncating;
                }
                self.send_follower_request(ctx, &tp);
                return;
            }
            Some(_) => return,
            None => {}
        }
        let epoch = replica.leader_epoch;
        let got_records = !records.is_empty();
        for record in records {
            assert!(
                record.leader_epoch <= epoch,
                "{tp}: fetched a record of epoch {} while following epoch {epoch}",
                record.leader_epoch
            );
            replica.log.append(ctx.disk(), record, now_ms);
        }
        if flush_messages.is_some_and(|n| replica.log.unflushed_messages() >= n) {
            replica.log.flush(ctx.disk());
        }
        replica.log.set_follower_high_watermark(high_watermark);
        self.coordinator_high_watermark_moved(ctx, &tp);
        let replica = self.replicas.get_mut(&tp).expect("follower replica");
        // Kafka's follower follows the leader's log start offset (up to its own HW).
        if leader_log_start_offset > replica.log.log_start_offset() {
            replica.log.advance_log_start_offset(ctx.disk(), leader_log_start_offset);
        }
        // Kafka's fetcher goes again at once while there is data to catch up on.
        if got_records {
            self.send_follower_request(ctx, &tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_driver::Driver;
    use super::*;
    use crate::kafka::protocol::Record;

    const CONTROLLER: NodeId = NodeId(3);
    const PRODUCER: NodeId = NodeId(4);

    fn tp() -> TopicPartition {
        TopicPartition::new("events", 0)
    }

    type Harness = Driver;

    /// Broker `id` with Kafka's defaults.
    fn harness(id: u32) -> Harness {
        Driver::new(NodeId(id), BrokerConfig::defaults(CONTROLLER), "broker-test")
    }

    /// The controller registers the broker with `events-0` led by `leader` in `epoch`.
    fn register(h: &mut Harness, leader: u32, epoch: u32) {
        h.register(CONTROLLER, image(1, leader, epoch));
    }

    fn image(version: u64, leader: u32, epoch: u32) -> MetadataImage {
        MetadataImage {
            version,
            partitions: vec![PartitionState {
                tp: tp(),
                replicas: vec![NodeId(0), NodeId(1), NodeId(2)],
                isr: vec![NodeId(0), NodeId(1), NodeId(2)],
                elr: vec![],
                leader: Some(NodeId(leader)),
                leader_epoch: epoch,
                partition_epoch: epoch,
            }],
            fenced: vec![],
        }
    }

    fn produce(h: &mut Harness, correlation_id: u64, acks: Acks, values: &[u64]) {
        let records = values.iter().map(|&v| (0, v)).collect();
        h.handle(
            PRODUCER,
            Msg::ProduceRequest { correlation_id, tp: tp(), acks, producer: None, records },
        );
    }

    fn produce_result(sends: &[(NodeId, Msg)]) -> Vec<Result<(u64, u32), ErrorCode>> {
        sends
            .iter()
            .filter_map(|(_, m)| match m {
                Msg::ProduceResponse { result, .. } => Some(*result),
                _ => None,
            })
            .collect()
    }

    fn follower_fetch(h: &mut Harness, follower: u32, epoch: u32, offset: u64) -> Msg {
        h.handle(
            NodeId(follower),
            Msg::Fetch {
                correlation_id: 99,
                tp: tp(),
                replica_id: Some(NodeId(follower)),
                current_leader_epoch: epoch,
                fetch_offset: offset,
            },
        );
        h.take_sends()
            .into_iter()
            .map(|(_, m)| m)
            .find(|m| matches!(m, Msg::FetchResponse { .. }))
            .unwrap()
    }

    #[test]
    fn leader_acks_leader_at_once_and_all_after_every_replica() {
        let mut h = harness(0);
        h.start();
        register(&mut h, 0, 1);
        h.take_sends();
        produce(&mut h, 1, Acks::Leader, &[10, 11]);
        assert_eq!(produce_result(&h.take_sends()), vec![Ok((0, 1))]);
        produce(&mut h, 2, Acks::All, &[12]);
        assert!(produce_result(&h.take_sends()).is_empty());
        follower_fetch(&mut h, 1, 1, 3);
        // b2 has not fetched yet: HW stays at 0.
        assert_eq!(h.broker.replica(&tp()).unwrap().log().high_watermark(), 0);
        h.handle(
            NodeId(2),
            Msg::Fetch {
                correlation_id: 7,
                tp: tp(),
                replica_id: Some(NodeId(2)),
                current_leader_epoch: 1,
                fetch_offset: 3,
            },
        );
        let sends = h.take_sends();
        assert_eq!(produce_result(&sends), vec![Ok((2, 1))]);
        assert_eq!(h.broker.replica(&tp()).unwrap().log().high_watermark(), 3);
    }

    #[test]
    fn fetch_fencing_and_out_of_range() {
        let mut h = harness(0);
        h.start();
        register(&mut h, 0, 2);
        h.take_sends();
        produce(&mut h, 1, Acks::Leader, &[10]);
        h.take_sends();
        let error = |m: Msg| match m {
            Msg::FetchResponse { error, .. } => error,
            _ => unreachable!(),
        };
        assert_eq!(error(follower_fetch(&mut h, 1, 1, 0)), Some(ErrorCode::FencedLeaderEpoch));
        assert_eq!(error(follower_fetch(&mut h, 1, 3, 0)), Some(ErrorCode::UnknownLeaderEpoch));
        assert_eq!(error(follower_fetch(&mut h, 1, 2, 5)), Some(ErrorCode::OffsetOutOfRange));
        // Consumers see nothing above the HW.
        h.handle(
            NodeId(5),
            Msg::Fetch {
                correlation_id: 3,
                tp: tp(),
                replica_id: None,
                current_leader_epoch: 2,
                fetch_offset: 0,
            },
        );
        let sends = h.take_sends();
        let Msg::FetchResponse { records, error: None, high_watermark: 0, .. } = &sends[0].1 else {
            panic!("{sends:?}")
        };
        assert!(records.is_empty());
    }

    #[test]
    fn follower_truncates_then_fetches() {
        // The broker led epoch 1 and wrote 3 records; then b1 became leader in epoch 2 with
        // only the first record of epoch 1.
        let mut h = harness(0);
        h.start();
        register(&mut h, 0, 1);
        produce(&mut h, 1, Acks::Leader, &[10, 11, 12]);
        h.take_sends();
        h.handle(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
        let sends = h.take_sends();
        let (
            to,
            Msg::OffsetsForLeaderEpoch {
                correlation_id,
                leader_epoch: 1,
                current_leader_epoch: 2,
                ..
            },
        ) = sends
            .iter()
            .find(|(_, m)| matches!(m, Msg::OffsetsForLeaderEpoch { .. }))
            .cloned()
            .unwrap()
        else {
            panic!("{sends:?}")
        };
        assert_eq!(to, NodeId(1));
        h.handle(
            NodeId(1),
            Msg::OffsetsForLeaderEpochResponse {
                correlation_id,
                tp: tp(),
                result: Ok(Some((1, 1))),
            },
        );
        let log = h.broker.replica(&tp()).unwrap().log();
        assert_eq!(log.log_end_offset(), 1);
        let sends = h.take_sends();
        let Some((_, Msg::Fetch { correlation_id, fetch_offset: 1, current_leader_epoch: 2, .. })) =
            sends.iter().find(|(_, m)| matches!(m, Msg::Fetch { .. })).cloned()
        else {
            panic!("{sends:?}")
        };
        let records = vec![Record::data(1, 2, 0, 20)];
        h.handle(
            NodeId(1),
            Msg::FetchResponse {
                correlation_id,
                tp: tp(),
                error: None,
                high_watermark: 2,
                log_start_offset: 0,
                records,
            },
        );
        let log = h.broker.replica(&tp()).unwrap().log();
        assert_eq!(log.records().iter().map(|r| r.value).collect::<Vec<_>>(), vec![10, 20]);
        assert_eq!(log.high_watermark(), 2);
        // A non-empty answer: the follower fetches again at once. A repeat of the same
        // answer (duplicated by the network) is ignored.
        let sends = h.take_sends();
        assert!(sends.iter().any(|(_, m)| matches!(m, Msg::Fetch { fetch_offset: 2, .. })));
        let stale = vec![Record::data(1, 2, 0, 20)];
        h.handle(
            NodeId(1),
            Msg::FetchResponse {
                correlation_id,
                tp: tp(),
                error: None,
                high_watermark: 2,
                log_start_offset: 0,
                records: stale,
            },
        );
        assert_eq!(h.broker.replica(&tp()).unwrap().log().log_end_offset(), 2);
    }

    #[test]
    fn losing_leadership_fails_parked_produce_requests() {
        let mut h = harness(0);
        h.start();
        register(&mut h, 0, 1);
        produce(&mut h, 1, Acks::All, &[10]);
        h.take_sends();
        h.handle(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
        produce(&mut h, 2, Acks::Leader, &[11]);
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
    }

    #[test]
    fn restart_reloads_log_and_waits_for_registration() {
        let mut h = harness(0);
        h.start();
        register(&mut h, 0, 1);
        produce(&mut h, 1, Acks::Leader, &[10, 11]);
        // A process crash: memory gone, page cache kept.
        h.broker = Broker::new(BrokerConfig::defaults(CONTROLLER));
        h.node.effects.clear();
        h.start();
        let replica = h.broker.replica(&tp()).unwrap();
        assert_eq!(replica.log().log_end_offset(), 2);
        assert!(!replica.is_leader());
        // A stale push of the old state is not acted on before registration.
        h.handle(CONTROLLER, Msg::UpdateMetadata { image: image(1, 0, 1) });
        assert!(!h.broker.replica(&tp()).unwrap().is_leader());
        produce(&mut h, 2, Acks::Leader, &[12]);
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
    }
}
