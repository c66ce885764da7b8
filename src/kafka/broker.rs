//! The broker: hosts partition replicas, leads some and follows others, serves producers,
//! followers and consumers, and answers metadata requests.
//!
//! Skeleton simplifications, each replaced in the replication issue: the replica set is
//! fixed (no ISR), so the leader's HW is the minimum LEO over every replica, and acks=all
//! waits for every replica; partition state comes from the controller's pushed image.

use std::collections::{BTreeMap, VecDeque};

use crate::sim::node::{Context, NodeId};
use crate::sim::time::{Duration, Instant};

use super::log::PartitionLog;
use super::node::KafkaNode;
use super::protocol::{
    AcksMode, ErrorCode, FETCH_RECORDS_MAX, MetadataImage, Msg, PartitionMetadata, PartitionState,
    Record, Timer, TopicPartition,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// `broker.heartbeat.interval.ms`.
pub const BROKER_HEARTBEAT_INTERVAL_MS: u64 = 2_000;
/// `replica.fetch.wait.max.ms`: how long an idle follower waits before fetching again.
pub const REPLICA_FETCH_WAIT_MAX_MS: u64 = 500;
/// How long a follower waits for a fetch answer before sending it again. Kafka's
/// `replica.socket.timeout.ms` is 30 s, but a real broker also notices a broken connection;
/// the simulated network only loses messages, so a shorter timeout stands in for that.
pub const REPLICA_REQUEST_TIMEOUT_MS: u64 = 3_000;
/// `request.timeout.ms` on the broker: an acks=all produce waits this long at most.
pub const PRODUCE_PURGATORY_TIMEOUT_MS: u64 = 30_000;
/// Most acks=all produce requests one partition may hold waiting (Kafka's purgatory); a
/// full purgatory drops the oldest, whose producer times out and retries.
pub const PURGATORY_LEN_MAX: usize = 1_000;

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    pub controller: NodeId,
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

#[derive(Clone, Debug)]
struct LeaderState {
    replicas: Vec<NodeId>,
    /// The LEO each follower reported in its latest fetch of this epoch.
    follower_leo: BTreeMap<NodeId, u64>,
    purgatory: VecDeque<DelayedProduce>,
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
}

#[derive(Clone, Debug)]
pub struct Broker {
    config: BrokerConfig,
    id: NodeId,
    /// A fresh random id per process start (KRaft's incarnation id).
    incarnation: u64,
    registered: bool,
    metadata: Option<MetadataImage>,
    replicas: BTreeMap<TopicPartition, Replica>,
    next_correlation_id: u64,
}

impl Broker {
    pub fn new(config: BrokerConfig) -> Self {
        Broker {
            config,
            id: NodeId(u32::MAX),
            incarnation: 0,
            registered: false,
            metadata: None,
            replicas: BTreeMap::new(),
            next_correlation_id: 0,
        }
    }

    pub fn replica(&self, tp: &TopicPartition) -> Option<&Replica> {
        self.replicas.get(tp)
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

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.id = ctx.id();
        self.incarnation = ctx.rng().next_u64();
        // A random start, so that answers to the previous process's requests never match.
        self.next_correlation_id = ctx.rng().next_u64() >> 1;
        // Kafka loads every log directory at startup; they wait for metadata to act.
        let names: Vec<String> = ctx.disk().file_names().map(str::to_string).collect();
        for name in names {
            let Some(tp) = PartitionLog::parse_file_name(&name) else { continue };
            let log = PartitionLog::open(tp.clone(), ctx.disk());
            ctx.annotate(format!(
                "{tp}: loaded log, LEO {} epochs {:?}",
                log.log_end_offset(),
                log.epochs()
            ));
            self.replicas.insert(tp, Replica { log, leader_epoch: 0, role: Role::Offline });
        }
        self.send_heartbeat(ctx);
        ctx.set_timer(Duration::from_millis(BROKER_HEARTBEAT_INTERVAL_MS), Timer::Heartbeat);
        ctx.set_timer(Duration::from_millis(REPLICA_FETCH_WAIT_MAX_MS), Timer::ReplicaFetch);
    }

    fn send_heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        let msg = if self.registered {
            Msg::BrokerHeartbeat {
                incarnation: self.incarnation,
                metadata_version: self.metadata_version().unwrap_or(0),
            }
        } else {
            Msg::BrokerRegistration { incarnation: self.incarnation }
        };
        ctx.send(self.config.controller, msg);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::Heartbeat => {
                self.send_heartbeat(ctx);
                ctx.set_timer(
                    Duration::from_millis(BROKER_HEARTBEAT_INTERVAL_MS),
                    Timer::Heartbeat,
                );
            }
            Timer::ReplicaFetch => {
                self.replica_fetch_tick(ctx);
                ctx.set_timer(
                    Duration::from_millis(REPLICA_FETCH_WAIT_MAX_MS),
                    Timer::ReplicaFetch,
                );
            }
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
            Msg::MetadataRequest { correlation_id, topics } => {
                let partitions = self
                    .metadata
                    .iter()
                    .flat_map(|m| &m.partitions)
                    .filter(|p| topics.contains(&p.tp.topic))
                    .map(|p| PartitionMetadata {
                        tp: p.tp.clone(),
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    })
                    .collect();
                ctx.send(from, Msg::MetadataResponse { correlation_id, partitions });
            }
            Msg::ProduceRequest { correlation_id, tp, acks, records } => {
                self.handle_produce(ctx, from, correlation_id, tp, acks, records);
            }
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
                let result = self
                    .check_leader(&tp, current_leader_epoch)
                    .map(|replica| replica.log.end_offset_for_epoch(leader_epoch));
                ctx.send(from, Msg::OffsetsForLeaderEpochResponse { correlation_id, tp, result });
            }
            Msg::OffsetsForLeaderEpochResponse { correlation_id, tp, result } => {
                self.handle_epoch_answer(ctx, correlation_id, tp, result);
            }
            Msg::FetchResponse { correlation_id, tp, error, high_watermark, records } => {
                self.handle_fetch_response(ctx, correlation_id, tp, error, high_watermark, records);
            }
            // Messages for other node kinds (a duplicate delivered after a role mix-up
            // cannot happen: ids are fixed), so anything else is a bug.
            other => panic!("broker {:?} got unexpected {other:?}", self.id),
        }
    }

    /// Applies a newer controller image: every hosted partition whose epoch moved changes
    /// role.
    fn apply_image(&mut self, ctx: &mut Ctx<'_>, image: MetadataImage) {
        if self.metadata.as_ref().is_some_and(|m| m.version >= image.version) {
            return;
        }
        for state in &image.partitions {
            if state.replicas.contains(&self.id) {
                self.reconcile(ctx, state);
            }
        }
        self.metadata = Some(image);
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>, state: &PartitionState) {
        let tp = &state.tp;
        if !self.replicas.contains_key(tp) {
            let log = PartitionLog::open(tp.clone(), ctx.disk());
            self.replicas.insert(tp.clone(), Replica { log, leader_epoch: 0, role: Role::Offline });
        }
        let replica = self.replicas.get_mut(tp).expect("replica just ensured");
        assert!(
            state.leader_epoch >= replica.leader_epoch,
            "{tp}: leader epoch went back from {} to {} (MonotonicEpoch)",
            replica.leader_epoch,
            state.leader_epoch
        );
        let unchanged = state.leader_epoch == replica.leader_epoch
            && match (&replica.role, state.leader) {
                (Role::Leader(_), Some(l)) => l == self.id,
                (Role::Follower(f), Some(l)) => l == f.leader,
                (Role::Offline, None) => true,
                _ => false,
            };
        if unchanged {
            return;
        }
        // Whatever this replica led before is over: parked acks=all requests fail so that
        // their producers retry against the new leader.
        if let Role::Leader(leader) = &mut replica.role {
            for delayed in leader.purgatory.drain(..) {
                ctx.send(
                    delayed.client,
                    Msg::ProduceResponse {
                        correlation_id: delayed.correlation_id,
                        tp: tp.clone(),
                        result: Err(ErrorCode::NotLeaderOrFollower),
                    },
                );
            }
        }
        replica.leader_epoch = state.leader_epoch;
        match state.leader {
            Some(leader) if leader == self.id => {
                let leo = replica.log.log_end_offset();
                replica.log.assign_epoch_start(state.leader_epoch, leo);
                replica.role = Role::Leader(LeaderState {
                    replicas: state.replicas.clone(),
                    follower_leo: BTreeMap::new(),
                    purgatory: VecDeque::new(),
                });
                ctx.annotate(format!(
                    "{tp}: leader in epoch {} at LEO {leo} HW {}",
                    state.leader_epoch,
                    replica.log.high_watermark()
                ));
                self.maybe_advance_high_watermark(ctx, tp);
            }
            Some(leader) => {
                let phase = if replica.log.latest_epoch().is_some() {
                    FetcherPhase::Truncating
                } else {
                    FetcherPhase::Fetching
                };
                replica.role = Role::Follower(FollowerState { leader, phase, in_flight: None });
                ctx.annotate(format!(
                    "{tp}: follower of {leader:?} in epoch {} at LEO {}",
                    state.leader_epoch,
                    replica.log.log_end_offset()
                ));
                self.send_follower_request(ctx, tp);
            }
            None => {
                replica.role = Role::Offline;
                ctx.annotate(format!("{tp}: no leader in epoch {}", state.leader_epoch));
            }
        }
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
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        acks: AcksMode,
        records: Vec<(u32, u64)>,
    ) {
        // Produce requests carry no leader epoch in Kafka: the leader check is all there is.
        let epoch = match self.leader_replica(&tp) {
            Ok(replica) => replica.leader_epoch,
            Err(error) => {
                ctx.send(from, Msg::ProduceResponse { correlation_id, tp, result: Err(error) });
                return;
            }
        };
        let now = ctx.now();
        let replica = self.replicas.get_mut(&tp).expect("leader checked");
        let base_offset = replica.log.log_end_offset();
        for (key, value) in records {
            replica.log.append_as_leader(ctx.disk(), epoch, key, value);
        }
        let leo = replica.log.log_end_offset();
        if acks == AcksMode::Leader || leo == base_offset {
            ctx.send(
                from,
                Msg::ProduceResponse {
                    correlation_id,
                    tp: tp.clone(),
                    result: Ok((base_offset, epoch)),
                },
            );
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
            deadline: now + Duration::from_millis(PRODUCE_PURGATORY_TIMEOUT_MS),
        });
        self.maybe_advance_high_watermark(ctx, &tp);
    }

    /// HW = min LEO over the whole (fixed) replica set, never moving back; completes the
    /// acks=all requests it now covers.
    fn maybe_advance_high_watermark(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition) {
        let id = self.id;
        let Some(replica) = self.replicas.get_mut(tp) else { return };
        let epoch = replica.leader_epoch;
        let Role::Leader(leader) = &mut replica.role else { return };
        let leo = replica.log.log_end_offset();
        let min_leo = leader
            .replicas
            .iter()
            .filter(|&&r| r != id)
            .map(|r| leader.follower_leo.get(r).copied().unwrap_or(0))
            .fold(leo, u64::min);
        replica.log.advance_high_watermark(min_leo);
        let hw = replica.log.high_watermark();
        while leader.purgatory.front().is_some_and(|d| d.last_offset < hw) {
            let done = leader.purgatory.pop_front().expect("front checked");
            ctx.send(
                done.client,
                Msg::ProduceResponse {
                    correlation_id: done.correlation_id,
                    tp: tp.clone(),
                    result: Ok((done.base_offset, epoch)),
                },
            );
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
        let reply = |ctx: &mut Ctx<'_>, tp, error, high_watermark, records| {
            ctx.send(
                from,
                Msg::FetchResponse { correlation_id, tp, error, high_watermark, records },
            );
        };
        let leo = match self.check_leader(&tp, current_leader_epoch) {
            Ok(replica) => replica.log.log_end_offset(),
            Err(error) => return reply(ctx, tp, Some(error), 0, Vec::new()),
        };
        if fetch_offset > leo {
            return reply(ctx, tp, Some(ErrorCode::OffsetOutOfRange), 0, Vec::new());
        }
        if let Some(follower) = replica_id {
            let replica = self.replicas.get_mut(&tp).expect("leader checked");
            let Role::Leader(leader) = &mut replica.role else { unreachable!("leader checked") };
            if !leader.replicas.contains(&follower) || follower == self.id {
                return reply(ctx, tp, Some(ErrorCode::NotLeaderOrFollower), 0, Vec::new());
            }
            leader.follower_leo.insert(follower, fetch_offset);
            self.maybe_advance_high_watermark(ctx, &tp);
        }
        let replica = &self.replicas[&tp];
        let hw = replica.log.high_watermark();
        // Followers get everything; consumers only what is committed.
        let upto = if replica_id.is_some() { leo } else { hw };
        let records = replica.log.read(fetch_offset, upto, FETCH_RECORDS_MAX);
        reply(ctx, tp, None, hw, records);
    }

    fn replica_fetch_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let timeout = Duration::from_millis(REPLICA_REQUEST_TIMEOUT_MS);
        let mut due = Vec::new();
        for (tp, replica) in &mut self.replicas {
            match &mut replica.role {
                Role::Follower(f) => {
                    if f.in_flight.is_none_or(|(_, sent)| now.saturating_since(sent) >= timeout) {
                        due.push(tp.clone());
                    }
                }
                // Kafka expires a parked request after its timeout without an answer
                // the producer still waits for (it has timed out and retried by then).
                Role::Leader(leader) => leader.purgatory.retain(|d| d.deadline > now),
                Role::Offline => {}
            }
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
        let truncation = replica.log.truncation_for(answer);
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

    fn handle_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        tp: TopicPartition,
        error: Option<ErrorCode>,
        high_watermark: u64,
        records: Vec<Record>,
    ) {
        let Some(replica) = self.take_answer(&tp, correlation_id, FetcherPhase::Fetching) else {
            // Not a follower's fetch: consumers are other nodes, so this is stale.
            return;
        };
        match error {
            Some(ErrorCode::OffsetOutOfRange) => {
                // Our log is longer than the leader's: find the divergence again.
                if replica.log.latest_epoch().is_some() {
                    let Role::Follower(follower) = &mut replica.role else { unreachable!() };
                    follower.phase = FetcherPhase::Truncating;
                    self.send_follower_request(ctx, &tp);
                }
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
            replica.log.append(ctx.disk(), record);
        }
        replica.log.set_follower_high_watermark(high_watermark);
        // Kafka's fetcher goes again at once while there is data to catch up on.
        if got_records {
            self.send_follower_request(ctx, &tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::{Entry, Record};
    use crate::sim::disk::Disk;
    use crate::sim::node::Effects;
    use crate::sim::rng::SimRng;

    const CONTROLLER: NodeId = NodeId(3);
    const PRODUCER: NodeId = NodeId(4);

    fn tp() -> TopicPartition {
        TopicPartition::new("events", 0)
    }

    /// A broker with its own disk and a detached context to drive its handlers.
    struct Harness {
        broker: Broker,
        disk: Disk<Entry>,
        rng: SimRng,
        effects: Effects<KafkaNode>,
        timer_ids: u64,
        now: Instant,
        id: NodeId,
    }

    impl Harness {
        fn new(id: u32) -> Self {
            Harness {
                broker: Broker::new(BrokerConfig { controller: CONTROLLER }),
                disk: Disk::new(),
                rng: SimRng::stream(1, "broker-test"),
                effects: Effects::default(),
                timer_ids: 0,
                now: Instant::ZERO,
                id: NodeId(id),
            }
        }

        fn with<R>(&mut self, f: impl FnOnce(&mut Broker, &mut Ctx<'_>) -> R) -> R {
            let mut ctx = Context::detached(
                self.id,
                self.now,
                &mut self.rng,
                &mut self.disk,
                &mut self.effects,
                &mut self.timer_ids,
            );
            f(&mut self.broker, &mut ctx)
        }

        fn start(&mut self) {
            self.with(|b, ctx| b.on_start(ctx));
        }

        fn deliver(&mut self, from: NodeId, msg: Msg) {
            self.with(|b, ctx| b.on_message(ctx, from, msg));
        }

        fn take_sends(&mut self) -> Vec<(NodeId, Msg)> {
            let sends = self.effects.sends().to_vec();
            self.effects.clear();
            sends
        }

        fn register(&mut self, leader: u32, epoch: u32) {
            let incarnation = self.broker.incarnation;
            self.deliver(
                CONTROLLER,
                Msg::BrokerRegistrationResponse {
                    incarnation,
                    result: Ok(image(1, leader, epoch)),
                },
            );
        }
    }

    fn image(version: u64, leader: u32, epoch: u32) -> MetadataImage {
        MetadataImage {
            version,
            partitions: vec![PartitionState {
                tp: tp(),
                replicas: vec![NodeId(0), NodeId(1), NodeId(2)],
                leader: Some(NodeId(leader)),
                leader_epoch: epoch,
            }],
        }
    }

    fn produce(h: &mut Harness, correlation_id: u64, acks: AcksMode, values: &[u64]) {
        let records = values.iter().map(|&v| (0, v)).collect();
        h.deliver(PRODUCER, Msg::ProduceRequest { correlation_id, tp: tp(), acks, records });
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
        h.deliver(
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
        let mut h = Harness::new(0);
        h.start();
        h.register(0, 1);
        h.take_sends();
        produce(&mut h, 1, AcksMode::Leader, &[10, 11]);
        assert_eq!(produce_result(&h.take_sends()), vec![Ok((0, 1))]);
        produce(&mut h, 2, AcksMode::All, &[12]);
        assert!(produce_result(&h.take_sends()).is_empty());
        follower_fetch(&mut h, 1, 1, 3);
        // b2 has not fetched yet: HW stays at 0.
        assert_eq!(h.broker.replica(&tp()).unwrap().log().high_watermark(), 0);
        h.deliver(
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
        let mut h = Harness::new(0);
        h.start();
        h.register(0, 2);
        h.take_sends();
        produce(&mut h, 1, AcksMode::Leader, &[10]);
        h.take_sends();
        let error = |m: Msg| match m {
            Msg::FetchResponse { error, .. } => error,
            _ => unreachable!(),
        };
        assert_eq!(error(follower_fetch(&mut h, 1, 1, 0)), Some(ErrorCode::FencedLeaderEpoch));
        assert_eq!(error(follower_fetch(&mut h, 1, 3, 0)), Some(ErrorCode::UnknownLeaderEpoch));
        assert_eq!(error(follower_fetch(&mut h, 1, 2, 5)), Some(ErrorCode::OffsetOutOfRange));
        // Consumers see nothing above the HW.
        h.deliver(
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
        let mut h = Harness::new(0);
        h.start();
        h.register(0, 1);
        produce(&mut h, 1, AcksMode::Leader, &[10, 11, 12]);
        h.take_sends();
        h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
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
        h.deliver(
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
        let records = vec![Record { offset: 1, leader_epoch: 2, key: 0, value: 20 }];
        h.deliver(
            NodeId(1),
            Msg::FetchResponse {
                correlation_id,
                tp: tp(),
                error: None,
                high_watermark: 2,
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
        let stale = vec![Record { offset: 1, leader_epoch: 2, key: 0, value: 20 }];
        h.deliver(
            NodeId(1),
            Msg::FetchResponse {
                correlation_id,
                tp: tp(),
                error: None,
                high_watermark: 2,
                records: stale,
            },
        );
        assert_eq!(h.broker.replica(&tp()).unwrap().log().log_end_offset(), 2);
    }

    #[test]
    fn losing_leadership_fails_parked_produce_requests() {
        let mut h = Harness::new(0);
        h.start();
        h.register(0, 1);
        produce(&mut h, 1, AcksMode::All, &[10]);
        h.take_sends();
        h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
        produce(&mut h, 2, AcksMode::Leader, &[11]);
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
    }

    #[test]
    fn restart_reloads_log_and_waits_for_registration() {
        let mut h = Harness::new(0);
        h.start();
        h.register(0, 1);
        produce(&mut h, 1, AcksMode::Leader, &[10, 11]);
        // A process crash: memory gone, page cache kept.
        h.broker = Broker::new(BrokerConfig { controller: CONTROLLER });
        h.effects.clear();
        h.start();
        let replica = h.broker.replica(&tp()).unwrap();
        assert_eq!(replica.log().log_end_offset(), 2);
        assert!(!replica.is_leader());
        // A stale push of the old state is not acted on before registration.
        h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(1, 0, 1) });
        assert!(!h.broker.replica(&tp()).unwrap().is_leader());
        produce(&mut h, 2, AcksMode::Leader, &[12]);
        assert_eq!(produce_result(&h.take_sends()), vec![Err(ErrorCode::NotLeaderOrFollower)]);
    }
}
