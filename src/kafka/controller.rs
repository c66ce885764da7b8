//! The controller, KRaft-style: brokers register (with an incarnation id) and heartbeat; a
//! broker whose session expires is fenced, leaves every ISR and loses its leaderships; the
//! controller elects leaders from the ISR (KIP-966: from the ELR when the ISR is empty;
//! with `unclean.leader.election.enable`, from any live replica as a last resort), applies
//! leaders' AlterPartition requests when their leader and partition epochs are current,
//! persists every change to its metadata log (append + fsync) before anyone hears of it,
//! and recovers its state from that log after a crash.
//!
//! Partition changes follow Kafka's `PartitionChangeBuilder`: the current leader stays if
//! it is live and in the target ISR; otherwise the first live ISR member in assignment
//! order leads. A leader change bumps the leader epoch; any change bumps the partition
//! epoch. Without ELR the ISR never becomes empty (the last member stays in it even when
//! fenced, which is what lets it come back as leader with whatever its disk kept: R10);
//! with ELR, members that leave an ISR smaller than `min.insync.replicas` become eligible
//! leader replicas, and a broker that registers after an unclean shutdown leaves the ELR.
//!
//! A deliberate departure from Kafka 4.x: a broker that restarts after an unclean shutdown
//! while its old session is still live is accepted at once (with ELR on): the old
//! registration is fenced and the broker leaves every ISR and ELR. Kafka refuses such a
//! registration (DUPLICATE_BROKER_REGISTRATION) until the old session expires, and for that
//! window a broker whose power loss took committed records stays in the ISR, electable; the
//! soak sweeps showed it breaking `strong-isr`, `valid-high-watermark` and, through a later
//! election, `replica-divergence`. Bringing Kafka's window back as a `[protocol]` switch,
//! and finding out whether it loses acknowledged writes, is an open issue.
//!
//! Metadata propagation: push. After every change the controller sends its full image
//! (tagged with the metadata log's length, its version) to every broker; brokers apply an
//! image only if it is newer than theirs, so they see changes in log order even when pushes
//! are lost, duplicated or reordered; a heartbeat response carries the image whenever the
//! broker's version is behind (the pull that repairs lost pushes).
//!
//! Producer ids (KRaft's `ProducerIdControlManager`): a registered broker asks for a
//! block of [`PRODUCER_ID_BLOCK_SIZE`] ids; the controller logs the next free id
//! (`Entry::ProducerIds`), fsyncs, then answers, and takes that id up again after a
//! restart, so no id is handed out twice.
//!
//! One controller, not a Raft quorum: its state is a pure function of its metadata log
//! plus soft session state, so a quorum could replicate that log later.
//! Broker registrations (incarnations) are soft state; fencing is in the log.

use std::collections::{BTreeMap, BTreeSet};

use crate::sim::node::{Context, NodeId};
use crate::sim::time::{Duration, Instant};

use super::node::KafkaNode;
use super::protocol::{
    Entry, ErrorCode, MetadataImage, Msg, PartitionState, Timer, TopicPartition,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// How often the controller looks for expired sessions.
pub const CONTROLLER_TICK_MS: u64 = 250;
/// At startup, a leaderless partition waits this long for all its replicas to register,
/// so that leadership starts on the first replica (Kafka's preferred leader) instead of on
/// whichever broker registered first.
pub const INITIAL_ELECTION_DELAY_MS: u64 = 1_000;
/// The controller's metadata log (KRaft's `__cluster_metadata`).
pub const METADATA_LOG: &str = "__cluster_metadata";
/// Producer ids per AllocateProducerIds (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: u64 = 1_000;
/// Most entries the metadata log may hold: a bound that catches a change loop.
pub const METADATA_LOG_LEN_MAX: usize = 1_000_000;

#[derive(Clone, Debug)]
pub struct ControllerConfig {
    pub brokers: Vec<NodeId>,
    /// Every partition and its replicas, in assignment order (topics exist from the start).
    pub assignment: Vec<(TopicPartition, Vec<NodeId>)>,
    /// `min.insync.replicas`: ELR membership starts below it.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// KIP-966 eligible leader replicas.
    pub eligible_leader_replicas: bool,
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: u64,
}

impl ControllerConfig {
    /// Kafka's defaults (ELR on, as for new 4.1 clusters) for these brokers and partitions.
    pub fn defaults(brokers: Vec<NodeId>, assignment: Vec<(TopicPartition, Vec<NodeId>)>) -> Self {
        ControllerConfig {
            brokers,
            assignment,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            eligible_leader_replicas: true,
            broker_session_timeout_ms: 9_000,
        }
    }
}

#[derive(Clone, Debug)]
struct Session {
    /// The registered process; `None` when unknown (a fresh controller).
    incarnation: Option<u64>,
    last_heartbeat: Instant,
    fenced: bool,
}

/// How a fenced broker went down: after an unclean one it also leaves the ELR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    Clean,
    Unclean,
}

/// Why a partition changes: what the builder removes and how it may elect.
#[derive(Clone, Debug, Default)]
struct Change {
    /// The ISR to move to (`None`: keep the current one).
    target_isr: Option<Vec<NodeId>>,
    /// A broker that registered after an unclean shutdown: out of the ELR.
    unclean_shutdown: Option<NodeId>,
}

#[derive(Clone, Debug)]
pub struct Controller {
    config: ControllerConfig,
    started_at: Instant,
    sessions: BTreeMap<NodeId, Session>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Length of the metadata log: the image version.
    version: u64,
    /// The first producer id not yet handed out to a broker.
    next_producer_id: u64,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            started_at: Instant::ZERO,
            sessions: BTreeMap::new(),
            partitions: BTreeMap::new(),
            version: 0,
            next_producer_id: 0,
        }
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    pub fn partitions(&self) -> impl ExactSizeIterator<Item = &PartitionState> {
        self.partitions.values()
    }

    pub fn is_fenced(&self, broker: NodeId) -> Option<bool> {
        self.sessions.get(&broker).map(|s| s.fenced)
    }

    pub fn image(&self) -> MetadataImage {
        MetadataImage {
            version: self.version,
            partitions: self.partitions.values().cloned().collect(),
            fenced: self.sessions.iter().filter(|(_, s)| s.fenced).map(|(&b, _)| b).collect(),
        }
    }

    fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.config.broker_session_timeout_ms)
    }

    /// Appends one record to the metadata log and makes it durable before anything acts on
    /// it (a KRaft controller commits a record before applying it).
    fn persist(&mut self, ctx: &mut Ctx<'_>, entry: Entry) {
        assert!(
            ctx.disk().read(METADATA_LOG).len() < METADATA_LOG_LEN_MAX,
            "the metadata log grew past {METADATA_LOG_LEN_MAX} records"
        );
        ctx.disk().append(METADATA_LOG, entry);
        ctx.disk().fsync(METADATA_LOG);
        self.version += 1;
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.started_at = now;
        let first_boot = ctx.disk().read(METADATA_LOG).is_empty();
        if first_boot {
            // Topic creation: every partition exists, leaderless, with every replica in the
            // ISR, in epoch 0. Every broker starts fenced until it registers.
            for &broker in &self.config.brokers.clone() {
                self.persist(ctx, Entry::BrokerFencing { broker, fenced: true });
            }
            for (tp, replicas) in self.config.assignment.clone() {
                let state = PartitionState {
                    tp,
                    isr: replicas.clone(),
                    replicas,
                    elr: Vec::new(),
                    leader: None,
                    leader_epoch: 0,
                    partition_epoch: 0,
                };
                self.persist(ctx, Entry::PartitionChange(Box::new(state)));
            }
        }
        let mut fenced: BTreeMap<NodeId, bool> = BTreeMap::new();
        for entry in ctx.disk().read(METADATA_LOG) {
            match entry {
                Entry::PartitionChange(state) => {
                    if let Some(old) = self.partitions.get(&state.tp) {
                        assert!(
                            state.leader_epoch >= old.leader_epoch
                                && state.partition_epoch > old.partition_epoch,
                            "{}: epochs not increasing in the metadata log",
                            state.tp
                        );
                    }
                    self.partitions.insert(state.tp.clone(), (**state).clone());
                }
                Entry::BrokerFencing { broker, fenced: f } => {
                    fenced.insert(*broker, *f);
                }
                Entry::ProducerIds { next } => {
                    assert!(*next > self.next_producer_id, "producer ids went back to {next}");
                    self.next_producer_id = *next;
                }
                other => panic!("non-metadata entry {other:?} in {METADATA_LOG}"),
            }
        }
        self.version = ctx.disk().read(METADATA_LOG).len() as u64;
        // A restarted controller cannot tell live brokers from dead ones: it gives each
        // unfenced broker a full session before fencing it, instead of moving every
        // leadership at once.
        for &broker in &self.config.brokers {
            let session = Session {
                incarnation: None,
                last_heartbeat: now,
                fenced: fenced.get(&broker).copied().unwrap_or(true),
            };
            self.sessions.insert(broker, session);
        }
        ctx.annotate(format!("controller up, metadata v{}", self.version));
        if !first_boot {
            self.push_image(ctx);
        }
        ctx.set_timer(Duration::from_millis(CONTROLLER_TICK_MS), Timer::ControllerTick);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        let Timer::ControllerTick = timer else {
            panic!("controller got a foreign timer {timer:?}")
        };
        let now = ctx.now();
        let timeout = self.session_timeout();
        let expired: Vec<NodeId> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.fenced && now.saturating_since(s.last_heartbeat) >= timeout)
            .map(|(&b, _)| b)
            .collect();
        let mut changed = false;
        for broker in expired {
            ctx.annotate(format!("session of {broker:?} expired: fenced"));
            changed |= self.fence(ctx, broker);
        }
        changed |= self.elect_leaderless(ctx);
        if changed {
            self.push_image(ctx);
        }
        ctx.set_timer(Duration::from_millis(CONTROLLER_TICK_MS), Timer::ControllerTick);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        if !self.sessions.contains_key(&from) {
            // Only brokers talk to the controller.
            return;
        }
        let now = ctx.now();
        match msg {
            Msg::BrokerRegistration { incarnation, previous_clean_shutdown } => {
                self.handle_registration(ctx, from, incarnation, previous_clean_shutdown);
            }
            Msg::BrokerHeartbeat { incarnation, metadata_version } => {
                let session = self.sessions.get_mut(&from).expect("known broker");
                if session.incarnation.is_some_and(|i| i != incarnation) {
                    let reply = Msg::BrokerHeartbeatResponse {
                        error: Some(ErrorCode::StaleBrokerEpoch),
                        image: None,
                    };
                    ctx.send(from, reply);
                    return;
                }
                session.incarnation = Some(incarnation);
                session.last_heartbeat = now;
                if session.fenced {
                    ctx.annotate(format!("{from:?} heartbeats again: unfenced"));
                    self.unfence(ctx, from);
                    self.push_image(ctx);
                }
                let image = (metadata_version < self.version).then(|| self.image());
                ctx.send(from, Msg::BrokerHeartbeatResponse { error: None, image });
            }
            Msg::AlterPartition { incarnation, tp, leader_epoch, partition_epoch, new_isr } => {
                let result = self.alter_partition(
                    ctx,
                    from,
                    incarnation,
                    &tp,
                    leader_epoch,
                    partition_epoch,
                    new_isr,
                );
                if let Err(error) = &result {
                    ctx.annotate(format!("{tp}: AlterPartition from {from:?} refused: {error}"));
                }
                ctx.send(from, Msg::AlterPartitionResponse { tp, result });
            }
            Msg::AllocateProducerIds { incarnation } => {
                let result = self.allocate_producer_ids(ctx, from, incarnation);
                ctx.send(from, Msg::AllocateProducerIdsResponse { result });
            }
            // Anything else is not for the controller; brokers never send it.
            other => panic!("controller got unexpected {other:?}"),
        }
    }

    fn handle_registration(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        incarnation: u64,
        previous_clean_shutdown: bool,
    ) {
        let now = ctx.now();
        let session = &self.sessions[&from];
        if session.incarnation == Some(incarnation) {
            // A repeated registration (lost answer, duplicate): answer again.
            self.sessions.get_mut(&from).expect("known broker").last_heartbeat = now;
            let result = Ok(self.image());
            ctx.send(from, Msg::BrokerRegistrationResponse { incarnation, result });
            return;
        }
        let live = session.incarnation.is_some()
            && !session.fenced
            && now.saturating_since(session.last_heartbeat) < self.session_timeout();
        let unclean = !previous_clean_shutdown && self.config.eligible_leader_replicas;
        if live && !unclean {
            // KRaft: another incarnation of this id still holds a valid session; the new
            // process waits until that session expires. (Without ELR, KIP-966's unclean
            // shutdown handling does not exist: the variant keeps the old window.)
            let result = Err(ErrorCode::DuplicateBrokerRegistration);
            ctx.send(from, Msg::BrokerRegistrationResponse { incarnation, result });
            return;
        }
        if unclean {
            // KIP-966: the new process did not find a clean-shutdown marker, so the
            // previous one died and its disk may have lost records below the HW. The old
            // registration is fenced at once, even while its session would still be valid
            // (it cannot heartbeat again: its process is gone), and the broker leaves every
            // ISR and ELR (`ReplicationControlManager.handleBrokerUncleanShutdown`): it comes
            // back only through ISR expansion, once it has caught up again.
            if live {
                ctx.annotate(format!(
                    "{from:?} restarted after an unclean shutdown within its session: the old \
                     registration is fenced"
                ));
            }
            self.handle_unclean_shutdown(ctx, from);
        } else if !self.sessions[&from].fenced {
            // The previous process is gone: whatever it led moves away and it leaves every
            // ISR before the new one, with whatever its disk kept, joins.
            self.fence(ctx, from);
        }
        let session = self.sessions.get_mut(&from).expect("known broker");
        session.incarnation = Some(incarnation);
        session.last_heartbeat = now;
        ctx.annotate(format!(
            "{from:?} registered (incarnation {incarnation:#x}, clean shutdown \
             {previous_clean_shutdown})"
        ));
        self.unfence(ctx, from);
        self.push_image(ctx);
        let result = Ok(self.image());
        ctx.send(from, Msg::BrokerRegistrationResponse { incarnation, result });
    }

    /// Kafka's `ReplicationControlManager.alterPartition` for one partition.
    #[allow(clippy::too_many_arguments)]
    fn alter_partition(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        incarnation: u64,
        tp: &TopicPartition,
        leader_epoch: u32,
        partition_epoch: u32,
        new_isr: Vec<NodeId>,
    ) -> Result<PartitionState, ErrorCode> {
        let session = &self.sessions[&from];
        if session.fenced || session.incarnation != Some(incarnation) {
            return Err(ErrorCode::StaleBrokerEpoch);
        }
        let state = self.partitions.get(tp).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if leader_epoch != state.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if state.leader != Some(from) {
            return Err(ErrorCode::InvalidRequest);
        }
        if partition_epoch != state.partition_epoch {
            return Err(ErrorCode::InvalidUpdateVersion);
        }
        // The ISR never shrinks below the leader.
        if !new_isr.contains(&from) {
            return Err(ErrorCode::InvalidRequest);
        }
        let eligible =
            |r: &NodeId| state.replicas.contains(r) && (state.isr.contains(r) || self.is_live(*r));
        if !new_isr.iter().all(eligible) {
            return Err(ErrorCode::IneligibleReplica);
        }
        let target: Vec<NodeId> =
            state.replicas.iter().copied().filter(|r| new_isr.contains(r)).collect();
        let change = Change { target_isr: Some(target), ..Change::default() };
        if self.apply_change(ctx, tp, change, "AlterPartition") {
            self.push_image(ctx);
        }
        Ok(self.partitions[tp].clone())
    }

    /// A block of producer ids for a registered broker, durable before it is answered.
    fn allocate_producer_ids(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        incarnation: u64,
    ) -> Result<(u64, u64), ErrorCode> {
        let session = &self.sessions[&from];
        if session.fenced || session.incarnation != Some(incarnation) {
            return Err(ErrorCode::StaleBrokerEpoch);
        }
        let first = self.next_producer_id;
        let next = first.checked_add(PRODUCER_ID_BLOCK_SIZE).expect("producer ids run out");
        self.persist(ctx, Entry::ProducerIds { next });
        self.next_producer_id = next;
        ctx.annotate(format!("producer ids {first}..{next} to {from:?}"));
        Ok((first, PRODUCER_ID_BLOCK_SIZE))
    }

    /// Fences `broker`: it leaves every ISR and its leaderships move; true when the
    /// metadata changed.
    fn fence(&mut self, ctx: &mut Ctx<'_>, broker: NodeId) -> bool {
        self.fence_and_remove(ctx, broker, Shutdown::Clean);
        true
    }

    /// Kafka's `ReplicationControlManager.handleBrokerUncleanShutdown`: fences `broker` (its
    /// leaderships move) and removes it from every ISR and every ELR, without making it an
    /// eligible leader replica on the way (its log may have lost committed records).
    fn handle_unclean_shutdown(&mut self, ctx: &mut Ctx<'_>, broker: NodeId) {
        self.fence_and_remove(ctx, broker, Shutdown::Unclean);
    }

    /// Fences `broker` and takes it out of every ISR, and also out of every ELR after an
    /// unclean shutdown.
    fn fence_and_remove(&mut self, ctx: &mut Ctx<'_>, broker: NodeId, shutdown: Shutdown) {
        let session = self.sessions.get_mut(&broker).expect("known broker");
        if !session.fenced {
            session.fenced = true;
            self.persist(ctx, Entry::BrokerFencing { broker, fenced: true });
        }
        let unclean = shutdown == Shutdown::Unclean;
        let affected: Vec<TopicPartition> = self
            .partitions
            .values()
            .filter(|p| {
                p.isr.contains(&broker)
                    || p.leader == Some(broker)
                    || (unclean && p.elr.contains(&broker))
            })
            .map(|p| p.tp.clone())
            .collect();
        for tp in affected {
            let isr = self.partitions[&tp].isr.iter().copied().filter(|&r| r != broker).collect();
            let change =
                Change { target_isr: Some(isr), unclean_shutdown: unclean.then_some(broker) };
            let why = if unclean { "unclean shutdown" } else { "broker fenced" };
            self.apply_change(ctx, &tp, change, why);
        }
    }

    fn unfence(&mut self, ctx: &mut Ctx<'_>, broker: NodeId) {
        let session = self.sessions.get_mut(&broker).expect("known broker");
        if session.fenced {
            session.fenced = false;
            self.persist(ctx, Entry::BrokerFencing { broker, fenced: false });
        }
        self.elect_leaderless(ctx);
    }

    fn is_live(&self, broker: NodeId) -> bool {
        self.sessions.get(&broker).is_some_and(|s| !s.fenced)
    }

    /// Elects a leader for every leaderless partition that has a candidate. Right after
    /// startup a partition waits for all its replicas, up to [`INITIAL_ELECTION_DELAY_MS`].
    fn elect_leaderless(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let settled = ctx.now().saturating_since(self.started_at)
            >= Duration::from_millis(INITIAL_ELECTION_DELAY_MS);
        let leaderless: Vec<TopicPartition> = self
            .partitions
            .values()
            .filter(|p| p.leader.is_none())
            .filter(|p| {
                let live = p.replicas.iter().filter(|&&r| self.is_live(r)).count();
                live > 0 && (settled || p.leader_epoch > 0 || live == p.replicas.len())
            })
            .map(|p| p.tp.clone())
            .collect();
        let mut changed = false;
        for tp in leaderless {
            changed |= self.apply_change(ctx, &tp, Change::default(), "no leader");
        }
        changed
    }

    /// The new state of `state` after `change` (Kafka's `PartitionChangeBuilder.build`).
    fn build(&self, state: &PartitionState, change: &Change) -> PartitionState {
        let elr_enabled = self.config.eligible_leader_replicas;
        let mut isr = change.target_isr.clone().unwrap_or_else(|| state.isr.clone());
        let mut elr = state.elr.clone();
        if let Some(b) = change.unclean_shutdown {
            elr.retain(|&r| r != b);
        }
        let in_order = |set: &[NodeId]| -> Vec<NodeId> {
            state.replicas.iter().copied().filter(|r| set.contains(r)).collect()
        };
        let keeps_leader = state.leader.is_some_and(|l| isr.contains(&l) && self.is_live(l));
        let mut unclean = false;
        let leader = if keeps_leader {
            state.leader
        } else if let Some(l) =
            state.replicas.iter().copied().find(|&r| isr.contains(&r) && self.is_live(r))
        {
            Some(l)
        } else if let Some(l) = (elr_enabled && isr.is_empty())
            .then(|| state.replicas.iter().copied().find(|&r| elr.contains(&r) && self.is_live(r)))
            .flatten()
        {
            // KIP-966: an ELR member holds the HW; it leads with an ISR of itself.
            isr = vec![l];
            elr.retain(|&r| r != l);
            Some(l)
        } else if let Some(l) = self
            .config
            .unclean_leader_election_enable
            .then(|| state.replicas.iter().copied().find(|&r| self.is_live(r)))
            .flatten()
        {
            // Unclean: a live out-of-sync replica leads; whatever it lacks is lost.
            unclean = true;
            isr = vec![l];
            Some(l)
        } else {
            None
        };
        // Without ELR an ISR never becomes empty: its last member stays, fenced or not.
        if isr.is_empty() && !elr_enabled {
            isr = state.isr.clone();
        }
        if !elr_enabled || unclean || isr.len() >= self.config.min_insync_replicas as usize {
            elr.clear();
        } else {
            // Kafka's `maybePopulateTargetElr`: members that left an ISR below min ISR join
            // the ELR; members back in the ISR, and unclean shutdowns, leave it.
            let mut candidates: BTreeSet<NodeId> = elr.iter().copied().collect();
            candidates.extend(state.isr.iter().copied());
            candidates.retain(|r| !isr.contains(r) && Some(*r) != change.unclean_shutdown);
            elr = in_order(&candidates.into_iter().collect::<Vec<_>>());
        }
        let isr = in_order(&isr);
        let leader_changed = leader != state.leader;
        PartitionState {
            tp: state.tp.clone(),
            replicas: state.replicas.clone(),
            isr,
            elr,
            leader,
            leader_epoch: state.leader_epoch + u32::from(leader_changed),
            partition_epoch: state.partition_epoch,
        }
    }

    /// Builds, persists and applies a change; true when the partition changed.
    fn apply_change(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: &TopicPartition,
        change: Change,
        reason: &str,
    ) -> bool {
        let state = &self.partitions[tp];
        let mut new = self.build(state, &change);
        if new.leader == state.leader && new.isr == state.isr && new.elr == state.elr {
            return false;
        }
        new.partition_epoch = state.partition_epoch + 1;
        assert!(
            new.leader.is_none_or(|l| new.isr.contains(&l)),
            "{tp}: leader {:?} outside the ISR {:?} (LeaderInIsr)",
            new.leader,
            new.isr
        );
        assert!(
            self.config.eligible_leader_replicas || !new.isr.is_empty(),
            "{tp}: empty ISR without ELR"
        );
        ctx.annotate(format!(
            "{tp}: {reason}; leader {:?} -> {:?} epoch {}, ISR {:?} -> {:?}, ELR {:?}, \
             partition epoch {}",
            state.leader,
            new.leader,
            new.leader_epoch,
            state.isr,
            new.isr,
            new.elr,
            new.partition_epoch
        ));
        self.persist(ctx, Entry::PartitionChange(Box::new(new.clone())));
        self.partitions.insert(tp.clone(), new);
        true
    }

    fn push_image(&self, ctx: &mut Ctx<'_>) {
        let image = self.image();
        for &broker in &self.config.brokers {
            ctx.send(broker, Msg::UpdateMetadata { image: image.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::node::Detached;
    use crate::sim::rng::SimRng;

    const B: [NodeId; 3] = [NodeId(0), NodeId(1), NodeId(2)];

    struct Harness {
        controller: Controller,
        node: Detached<KafkaNode>,
    }

    fn config() -> ControllerConfig {
        ControllerConfig::defaults(
            B.to_vec(),
            vec![
                (TopicPartition::new("t", 0), vec![B[0], B[1], B[2]]),
                (TopicPartition::new("t", 1), vec![B[1], B[2], B[0]]),
            ],
        )
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                controller: Controller::new(config()),
                node: Detached::new(NodeId(3), SimRng::stream(1, "controller-test")),
            }
        }

        fn with(&mut self, f: impl FnOnce(&mut Controller, &mut Ctx<'_>)) {
            let mut ctx = self.node.context();
            f(&mut self.controller, &mut ctx);
        }

        fn at_ms(&mut self, ms: u64) {
            self.node.now = Instant::ZERO + Duration::from_millis(ms);
        }

        fn register(&mut self, broker: NodeId, incarnation: u64) -> Msg {
            self.node.effects.clear();
            self.with(|c, ctx| {
                c.on_message(
                    ctx,
                    broker,
                    Msg::BrokerRegistration { incarnation, previous_clean_shutdown: true },
                )
            });
            let sends = self.node.effects.sends().to_vec();
            sends
                .into_iter()
                .find(|(to, m)| {
                    *to == broker && matches!(m, Msg::BrokerRegistrationResponse { .. })
                })
                .map(|(_, m)| m)
                .unwrap()
        }

        fn heartbeat(&mut self, broker: NodeId, incarnation: u64) {
            let msg = Msg::BrokerHeartbeat { incarnation, metadata_version: 0 };
            self.with(|c, ctx| c.on_message(ctx, broker, msg));
        }

        fn tick(&mut self) {
            self.with(|c, ctx| c.on_timer(ctx, Timer::ControllerTick));
        }

        fn leader(&self, p: u32) -> (Option<NodeId>, u32) {
            let s = self.controller.partition(&TopicPartition::new("t", p)).unwrap();
            (s.leader, s.leader_epoch)
        }
    }

    #[test]
    fn elects_first_replica_once_all_registered() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        h.register(B[2], 12);
        h.register(B[1], 11);
        assert_eq!(h.leader(0), (None, 0), "waits for every replica at startup");
        h.register(B[0], 10);
        assert_eq!(h.leader(0), (Some(B[0]), 1));
        assert_eq!(h.leader(1), (Some(B[1]), 1));
    }

    #[test]
    fn fences_expired_session_and_refuses_duplicate_registration() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        // b0 crashes at 1 s and restarts at 3 s: its new incarnation must wait.
        for ms in (2_000..=8_000).step_by(2_000) {
            h.at_ms(ms);
            h.heartbeat(B[1], 11);
            h.heartbeat(B[2], 12);
            h.tick();
        }
        h.at_ms(8_000);
        let refused = h.register(B[0], 20);
        assert!(matches!(
            refused,
            Msg::BrokerRegistrationResponse {
                result: Err(ErrorCode::DuplicateBrokerRegistration),
                ..
            }
        ));
        assert_eq!(h.leader(0), (Some(B[0]), 1));
        h.at_ms(9_000);
        h.heartbeat(B[1], 11);
        h.heartbeat(B[2], 12);
        h.tick();
        assert_eq!(h.controller.is_fenced(B[0]), Some(true));
        assert_eq!(h.leader(0), (Some(B[1]), 2));
        // Now the new incarnation joins; leadership stays where it went.
        let accepted = h.register(B[0], 20);
        assert!(matches!(accepted, Msg::BrokerRegistrationResponse { result: Ok(_), .. }));
        assert_eq!(h.controller.is_fenced(B[0]), Some(false));
        assert_eq!(h.leader(0), (Some(B[1]), 2));
    }

    /// KIP-966: a new incarnation that reports an unclean shutdown is not refused while the
    /// old session would still be valid: the old registration is fenced at once and the
    /// broker leaves every ISR (and never becomes an eligible leader on the way).
    #[test]
    fn unclean_restart_within_session_fences_old_registration_and_leaves_isrs() {
        let mut h = Harness::new();
        h.controller = Controller::new(ControllerConfig { min_insync_replicas: 2, ..config() });
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        h.at_ms(2_000);
        h.node.effects.clear();
        let msg = Msg::BrokerRegistration { incarnation: 20, previous_clean_shutdown: false };
        h.with(|c, ctx| c.on_message(ctx, B[0], msg));
        let accepted = h.node.effects.sends().iter().any(|(to, m)| {
            *to == B[0] && matches!(m, Msg::BrokerRegistrationResponse { result: Ok(_), .. })
        });
        assert!(accepted, "registered at once");
        assert_eq!(h.controller.is_fenced(B[0]), Some(false), "the new incarnation is live");
        for p in [0, 1] {
            let state = h.controller.partition(&TopicPartition::new("t", p)).unwrap();
            assert!(!state.isr.contains(&B[0]) && !state.elr.contains(&B[0]), "{state:?}");
        }
        // b0 led t-0: leadership moved to b1 in a new epoch.
        assert_eq!(h.leader(0), (Some(B[1]), 2));
        // A clean previous shutdown keeps Kafka's rule: wait for the old session.
        h.node.effects.clear();
        let msg = Msg::BrokerRegistration { incarnation: 21, previous_clean_shutdown: true };
        h.with(|c, ctx| c.on_message(ctx, B[1], msg));
        let refused = h.node.effects.sends().iter().any(|(to, m)| {
            *to == B[1]
                && matches!(
                    m,
                    Msg::BrokerRegistrationResponse {
                        result: Err(ErrorCode::DuplicateBrokerRegistration),
                        ..
                    }
                )
        });
        assert!(refused);
    }

    #[test]
    fn restart_rebuilds_from_the_metadata_log() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        let before = h.controller.image();
        h.node.disk.crash(true);
        h.controller = Controller::new(config());
        h.at_ms(5_000);
        h.with(|c, ctx| c.on_start(ctx));
        assert_eq!(h.controller.image(), before);
        assert_eq!(h.controller.is_fenced(B[0]), Some(false), "a full session of grace");
        // A known broker's heartbeat is accepted as is; a no-show is fenced after a session.
        h.at_ms(14_000);
        h.heartbeat(B[1], 11);
        h.heartbeat(B[2], 12);
        h.tick();
        assert_eq!(h.leader(0), (Some(B[1]), 2));
        assert_eq!(h.leader(1), (Some(B[1]), 1));
    }

    fn alter(h: &mut Harness, from: NodeId, epochs: (u32, u32), isr: &[NodeId]) -> Msg {
        h.node.effects.clear();
        let msg = Msg::AlterPartition {
            incarnation: 10 + from.0 as u64,
            tp: TopicPartition::new("t", 0),
            leader_epoch: epochs.0,
            partition_epoch: epochs.1,
            new_isr: isr.to_vec(),
        };
        h.with(|c, ctx| c.on_message(ctx, from, msg));
        let sends = h.node.effects.sends().to_vec();
        sends
            .into_iter()
            .find(|(to, m)| *to == from && matches!(m, Msg::AlterPartitionResponse { .. }))
            .map(|(_, m)| m)
            .unwrap()
    }

    fn alter_result(msg: Msg) -> Result<(Vec<NodeId>, u32), ErrorCode> {
        let Msg::AlterPartitionResponse { result, .. } = msg else { panic!("{msg:?}") };
        result.map(|s| (s.isr, s.partition_epoch))
    }

    #[test]
    fn alter_partition_applies_only_current_epochs() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        // b0 leads t-0 in leader epoch 1, partition epoch 1.
        let shrink = [B[0], B[1]];
        assert_eq!(alter_result(alter(&mut h, B[0], (1, 1), &shrink)), Ok((shrink.to_vec(), 2)));
        // The same request again (a retry after a lost answer): its version is stale.
        let stale = alter_result(alter(&mut h, B[0], (1, 1), &shrink));
        assert_eq!(stale, Err(ErrorCode::InvalidUpdateVersion));
        assert_eq!(
            alter_result(alter(&mut h, B[0], (0, 2), &shrink)),
            Err(ErrorCode::FencedLeaderEpoch)
        );
        // Not from the leader, or an ISR without the leader.
        assert_eq!(alter_result(alter(&mut h, B[1], (1, 2), &B)), Err(ErrorCode::InvalidRequest));
        let no_leader = alter_result(alter(&mut h, B[0], (1, 2), &[B[1], B[2]]));
        assert_eq!(no_leader, Err(ErrorCode::InvalidRequest));
        assert_eq!(alter_result(alter(&mut h, B[0], (1, 2), &B)), Ok((B.to_vec(), 3)));
        let state = h.controller.partition(&TopicPartition::new("t", 0)).unwrap();
        assert_eq!((state.leader, state.leader_epoch, state.partition_epoch), (Some(B[0]), 1, 3));
        assert_eq!(h.node.disk.unflushed_len(METADATA_LOG), 0, "every change is fsynced");
    }

    fn allocate(
        h: &mut Harness,
        broker: NodeId,
        incarnation: u64,
    ) -> Result<(u64, u64), ErrorCode> {
        h.node.effects.clear();
        h.with(|c, ctx| c.on_message(ctx, broker, Msg::AllocateProducerIds { incarnation }));
        let sends = h.node.effects.sends().to_vec();
        sends
            .into_iter()
            .find_map(|(to, m)| match m {
                Msg::AllocateProducerIdsResponse { result } if to == broker => Some(result),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn producer_id_blocks_do_not_overlap_across_a_controller_restart() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        let mut blocks =
            vec![allocate(&mut h, B[0], 10).unwrap(), allocate(&mut h, B[1], 11).unwrap()];
        assert_eq!(h.node.disk.unflushed_len(METADATA_LOG), 0, "logged before answered");
        // Not from the registered incarnation: refused, nothing handed out.
        assert_eq!(allocate(&mut h, B[2], 99), Err(ErrorCode::StaleBrokerEpoch));
        // A power loss keeps only what was fsynced; the new controller goes on after it.
        h.node.disk.crash(true);
        h.controller = Controller::new(config());
        h.at_ms(1_000);
        h.with(|c, ctx| c.on_start(ctx));
        // The brokers' sessions are not known yet: they register again.
        assert_eq!(allocate(&mut h, B[2], 12), Err(ErrorCode::StaleBrokerEpoch));
        h.register(B[2], 12);
        blocks.push(allocate(&mut h, B[2], 12).unwrap());
        blocks.push(allocate(&mut h, B[2], 12).unwrap());
        for (i, &(first, count)) in blocks.iter().enumerate() {
            assert_eq!(count, PRODUCER_ID_BLOCK_SIZE);
            for &(other, _) in &blocks[..i] {
                assert!(other + count <= first, "block {first} overlaps {other}: {blocks:?}");
            }
        }
    }

    #[test]
    fn elr_keeps_last_isr_members_and_drops_unclean_shutdowns() {
        let mut h = Harness::new();
        h.controller = Controller::new(ControllerConfig { min_insync_replicas: 2, ..config() });
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        let t0 = || TopicPartition::new("t", 0);
        // Only b0 heartbeats: b1 and b2 are fenced; below min ISR, b2 becomes eligible.
        for ms in (1_000..=9_000).step_by(1_000) {
            h.at_ms(ms);
            h.heartbeat(B[0], 10);
            h.tick();
        }
        let state = h.controller.partition(&t0()).unwrap().clone();
        assert_eq!((state.isr, state.elr), (vec![B[0]], vec![B[2]]));
        // Then b0 too: the ISR empties and the ELR holds both; no leader.
        h.at_ms(19_000);
        h.tick();
        let state = h.controller.partition(&t0()).unwrap().clone();
        assert_eq!((state.leader, state.isr.len(), state.elr.clone()), (None, 0, vec![B[0], B[2]]));
        // b2 restarts after a crash: unclean shutdown, out of the ELR, not elected.
        h.with(|c, ctx| {
            let msg = Msg::BrokerRegistration { incarnation: 99, previous_clean_shutdown: false };
            c.on_message(ctx, B[2], msg)
        });
        let state = h.controller.partition(&t0()).unwrap().clone();
        assert_eq!((state.leader, state.elr), (None, vec![B[0]]));
        // b0 was only cut off: it comes back with its log and leads from the ELR.
        h.heartbeat(B[0], 10);
        let state = h.controller.partition(&t0()).unwrap().clone();
        assert_eq!((state.leader, state.isr, state.elr), (Some(B[0]), vec![B[0]], vec![]));
    }
}
