//! A minimal KRaft-style controller: brokers register and heartbeat; a broker whose session
//! expires is fenced and loses its leaderships; the controller elects the first live
//! replica in assignment order, bumps the leader epoch, persists the change to its
//! metadata log (append + fsync) and pushes the new image to every broker.
//!
//! Skeleton simplifications: one controller, not a Raft quorum; no ISR, so any live
//! replica is electable (which is what lets acks=1 lose acknowledged records, R1); broker
//! registrations are soft state (not in the metadata log).

use std::collections::BTreeMap;

use crate::sim::node::{Context, NodeId};
use crate::sim::time::{Duration, Instant};

use super::node::KafkaNode;
use super::protocol::{
    Entry, ErrorCode, MetadataImage, Msg, PartitionState, Timer, TopicPartition,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// `broker.session.timeout.ms`.
pub const BROKER_SESSION_TIMEOUT_MS: u64 = 9_000;
/// How often the controller looks for expired sessions.
pub const CONTROLLER_TICK_MS: u64 = 500;
/// At startup, a leaderless partition waits this long for all its replicas to register,
/// so that leadership starts on the first replica (Kafka's preferred leader) instead of on
/// whichever broker registered first.
pub const INITIAL_ELECTION_DELAY_MS: u64 = 1_000;
/// The controller's metadata log (KRaft's `__cluster_metadata`).
pub const METADATA_LOG: &str = "__cluster_metadata";

#[derive(Clone, Debug)]
pub struct ControllerConfig {
    pub brokers: Vec<NodeId>,
    /// Every partition and its replicas, in assignment order (topics exist from the start).
    pub assignment: Vec<(TopicPartition, Vec<NodeId>)>,
}

#[derive(Clone, Debug)]
struct Session {
    /// The registered process; `None` when unknown (a fresh controller).
    incarnation: Option<u64>,
    last_heartbeat: Instant,
    fenced: bool,
}

#[derive(Clone, Debug)]
pub struct Controller {
    config: ControllerConfig,
    started_at: Instant,
    sessions: BTreeMap<NodeId, Session>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Length of the metadata log: the image version.
    version: u64,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            started_at: Instant::ZERO,
            sessions: BTreeMap::new(),
            partitions: BTreeMap::new(),
            version: 0,
        }
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    pub fn is_fenced(&self, broker: NodeId) -> Option<bool> {
        self.sessions.get(&broker).map(|s| s.fenced)
    }

    pub fn image(&self) -> MetadataImage {
        MetadataImage {
            version: self.version,
            partitions: self.partitions.values().cloned().collect(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.started_at = now;
        let first_boot = ctx.disk().read(METADATA_LOG).is_empty();
        if first_boot {
            // Topic creation: every partition exists, leaderless, in epoch 0.
            for (tp, replicas) in self.config.assignment.clone() {
                let state = PartitionState { tp, replicas, leader: None, leader_epoch: 0 };
                ctx.disk().append(METADATA_LOG, Entry::PartitionChange(state));
            }
            ctx.disk().fsync(METADATA_LOG);
        }
        for entry in ctx.disk().read(METADATA_LOG) {
            let Entry::PartitionChange(state) = entry else {
                panic!("non-metadata entry {entry:?} in {METADATA_LOG}");
            };
            if let Some(old) = self.partitions.get(&state.tp) {
                assert!(
                    state.leader_epoch > old.leader_epoch,
                    "{}: epoch not increasing",
                    state.tp
                );
            }
            self.partitions.insert(state.tp.clone(), state.clone());
        }
        self.version = ctx.disk().read(METADATA_LOG).len() as u64;
        // A restarted controller cannot tell live brokers from dead ones: it gives each a
        // full session before fencing it, instead of moving every leadership at once.
        for &broker in &self.config.brokers {
            let session = Session { incarnation: None, last_heartbeat: now, fenced: first_boot };
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
        let timeout = Duration::from_millis(BROKER_SESSION_TIMEOUT_MS);
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
            Msg::BrokerRegistration { incarnation } => {
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
                    && now.saturating_since(session.last_heartbeat)
                        < Duration::from_millis(BROKER_SESSION_TIMEOUT_MS);
                if live {
                    // KRaft: another incarnation of this id still holds a valid session;
                    // the new process waits until that session expires.
                    let result = Err(ErrorCode::DuplicateBrokerRegistration);
                    ctx.send(from, Msg::BrokerRegistrationResponse { incarnation, result });
                    return;
                }
                // The previous process is gone: whatever it led moves away before the new
                // one, with whatever its disk kept, joins.
                let mut changed = self.fence(ctx, from);
                let session = self.sessions.get_mut(&from).expect("known broker");
                session.incarnation = Some(incarnation);
                session.last_heartbeat = now;
                ctx.annotate(format!("{from:?} registered (incarnation {incarnation:#x})"));
                changed |= self.unfence(ctx, from);
                if changed {
                    self.push_image(ctx);
                }
                let result = Ok(self.image());
                ctx.send(from, Msg::BrokerRegistrationResponse { incarnation, result });
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
                    if self.unfence(ctx, from) {
                        self.push_image(ctx);
                    }
                }
                let image = (metadata_version < self.version).then(|| self.image());
                ctx.send(from, Msg::BrokerHeartbeatResponse { error: None, image });
            }
            // Anything else is not for the controller; brokers never send it.
            other => panic!("controller got unexpected {other:?}"),
        }
    }

    /// Fences `broker` and moves its leaderships; true when the metadata changed.
    fn fence(&mut self, ctx: &mut Ctx<'_>, broker: NodeId) -> bool {
        self.sessions.get_mut(&broker).expect("known broker").fenced = true;
        let led: Vec<TopicPartition> = self
            .partitions
            .values()
            .filter(|p| p.leader == Some(broker))
            .map(|p| p.tp.clone())
            .collect();
        let mut changed = false;
        for tp in led {
            changed |= self.elect(ctx, &tp, "leader fenced");
        }
        changed
    }

    fn unfence(&mut self, ctx: &mut Ctx<'_>, broker: NodeId) -> bool {
        self.sessions.get_mut(&broker).expect("known broker").fenced = false;
        self.elect_leaderless(ctx)
    }

    fn is_live(&self, broker: NodeId) -> bool {
        self.sessions.get(&broker).is_some_and(|s| !s.fenced)
    }

    /// Elects a leader for every leaderless partition that has a live replica. Right
    /// after startup a partition waits for all its replicas, up to
    /// [`INITIAL_ELECTION_DELAY_MS`].
    fn elect_leaderless(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let settled = ctx.now().saturating_since(self.started_at)
            >= Duration::from_millis(INITIAL_ELECTION_DELAY_MS);
        let leaderless: Vec<TopicPartition> = self
            .partitions
            .values()
            .filter(|p| p.leader.is_none())
            .filter(|p| {
                let live = p.replicas.iter().filter(|&&r| self.is_live(r)).count();
                live > 0 && (settled || live == p.replicas.len())
            })
            .map(|p| p.tp.clone())
            .collect();
        let mut changed = false;
        for tp in leaderless {
            changed |= self.elect(ctx, &tp, "no leader");
        }
        changed
    }

    /// The first live replica in assignment order leads in a new epoch; `None` if no
    /// replica is live. Persisted before anyone hears of it.
    fn elect(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition, reason: &str) -> bool {
        let state = &self.partitions[tp];
        let leader = state.replicas.iter().copied().find(|&r| self.is_live(r));
        if leader == state.leader {
            return false;
        }
        let new = PartitionState {
            tp: tp.clone(),
            replicas: state.replicas.clone(),
            leader,
            leader_epoch: state.leader_epoch + 1,
        };
        ctx.annotate(format!(
            "{tp}: {reason}; leader {:?} -> {leader:?} in epoch {}",
            state.leader, new.leader_epoch
        ));
        ctx.disk().append(METADATA_LOG, Entry::PartitionChange(new.clone()));
        ctx.disk().fsync(METADATA_LOG);
        self.version += 1;
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
    use crate::sim::disk::Disk;
    use crate::sim::node::Effects;
    use crate::sim::rng::SimRng;

    const B: [NodeId; 3] = [NodeId(0), NodeId(1), NodeId(2)];

    struct Harness {
        controller: Controller,
        disk: Disk<Entry>,
        rng: SimRng,
        effects: Effects<KafkaNode>,
        timer_ids: u64,
        now: Instant,
    }

    fn config() -> ControllerConfig {
        ControllerConfig {
            brokers: B.to_vec(),
            assignment: vec![
                (TopicPartition::new("t", 0), vec![B[0], B[1], B[2]]),
                (TopicPartition::new("t", 1), vec![B[1], B[2], B[0]]),
            ],
        }
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                controller: Controller::new(config()),
                disk: Disk::new(),
                rng: SimRng::stream(1, "controller-test"),
                effects: Effects::default(),
                timer_ids: 0,
                now: Instant::ZERO,
            }
        }

        fn with(&mut self, f: impl FnOnce(&mut Controller, &mut Ctx<'_>)) {
            let mut ctx = Context::detached(
                NodeId(3),
                self.now,
                &mut self.rng,
                &mut self.disk,
                &mut self.effects,
                &mut self.timer_ids,
            );
            f(&mut self.controller, &mut ctx);
        }

        fn at_ms(&mut self, ms: u64) {
            self.now = Instant::ZERO + Duration::from_millis(ms);
        }

        fn register(&mut self, broker: NodeId, incarnation: u64) -> Msg {
            self.effects.clear();
            self.with(|c, ctx| c.on_message(ctx, broker, Msg::BrokerRegistration { incarnation }));
            let sends = self.effects.sends().to_vec();
            sends.into_iter().find(|(to, _)| *to == broker).map(|(_, m)| m).unwrap()
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

    #[test]
    fn restart_rebuilds_from_the_metadata_log() {
        let mut h = Harness::new();
        h.with(|c, ctx| c.on_start(ctx));
        for (i, &b) in B.iter().enumerate() {
            h.register(b, 10 + i as u64);
        }
        let before = h.controller.image();
        h.disk.crash(true);
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
}
