//! The broker's part of consumer groups: it hosts the group coordinator of every
//! `__consumer_offsets` partition it leads, routes group requests to it, appends its
//! records and completes them when the partition's HW passes them.
//!
//! One [`Coordinator`] per partition and leader epoch: a new epoch (even of the same
//! broker) unloads the old coordinator, failing what it had pending with NOT_COORDINATOR,
//! and loads a new one from the log. The coordinator only completes writes on this
//! broker's HW as leader in the epoch it appended in; a follower's HW completes nothing.
//! The coordinator's clock (`Timer::GroupCoordinatorTick`) runs only while the broker hosts
//! a coordinator, so brokers of scenarios without groups pay nothing.
//!
//! Departures from Kafka: `__consumer_offsets` is not compacted (retention, if set, applies
//! to it as to any topic).

use std::collections::BTreeMap;

use crate::sim::disk::Disk;
use crate::sim::node::NodeId;
use crate::sim::time::Instant;

use super::super::coordinator::{
    COORDINATOR_TICK_MS, Coordinator, CoordinatorConfig, CoordinatorLog, Outbox, error_response,
    request_group,
};
use super::super::log::PartitionLog;
use super::super::protocol::{
    CONSUMER_OFFSETS, CoordinatorRecord, Entry, ErrorCode, MemberId, Msg, NewRecord, Timer,
    TopicPartition, offsets_partition_for,
};
use super::{Broker, Ctx, Role, ms};

/// The coordinators this broker hosts, by `__consumer_offsets` partition.
#[derive(Clone, Debug, Default)]
pub struct GroupHost {
    coordinators: BTreeMap<u32, Coordinator>,
    /// A `GroupCoordinatorTick` is set.
    tick_armed: bool,
}

/// The leader's append of coordinator records: acks=all, so refused below
/// `min.insync.replicas`; flushed per `log.flush.interval.messages` like a produce.
struct LeaderAppender<'a> {
    log: &'a mut PartitionLog,
    disk: &'a mut Disk<Entry>,
    leader_epoch: u32,
    now_ms: u64,
    flush_messages: Option<u64>,
    enough_replicas: bool,
    appended: bool,
}

impl CoordinatorLog for LeaderAppender<'_> {
    fn append(&mut self, records: Vec<CoordinatorRecord>) -> Result<u64, ErrorCode> {
        if !self.enough_replicas {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        let mut last_offset = None;
        for record in records {
            let record = NewRecord::coordinator(record);
            let offset =
                self.log.append_as_leader(self.disk, self.leader_epoch, record, self.now_ms);
            last_offset = Some(offset);
        }
        if self.flush_messages.is_some_and(|n| self.log.unflushed_messages() >= n) {
            self.log.flush(self.disk);
        }
        self.appended = true;
        Ok(last_offset.expect("a write has records"))
    }
}

fn deliver(ctx: &mut Ctx<'_>, out: Outbox) {
    for note in out.notes {
        ctx.annotate(note);
    }
    for (to, msg) in out.sends {
        ctx.send(to, msg);
    }
}

impl Broker {
    /// The coordinator of `__consumer_offsets` partition `partition`, if this broker leads it.
    pub fn group_coordinator(&self, partition: u32) -> Option<&Coordinator> {
        self.groups.coordinators.get(&partition)
    }

    /// A process starts with no coordinator: they load when leadership arrives.
    pub(super) fn start_group_coordinator(&mut self, _ctx: &mut Ctx<'_>) {
        assert!(self.groups.coordinators.is_empty(), "a starting broker hosts no coordinator");
        assert!(!self.groups.tick_armed, "a starting broker has no coordinator tick");
    }

    fn coordinator_config(&self) -> CoordinatorConfig {
        CoordinatorConfig {
            initial_rebalance_delay_ms: self.config.broker.group_initial_rebalance_delay_ms,
            offsets_commit_timeout_ms: self.config.broker.offsets_commit_timeout_ms,
            generation_check: self.config.protocol.offset_commit_generation_check,
        }
    }

    fn arm_group_tick(&mut self, ctx: &mut Ctx<'_>) {
        if !self.groups.tick_armed && !self.groups.coordinators.is_empty() {
            ctx.set_timer(ms(COORDINATOR_TICK_MS), Timer::GroupCoordinatorTick);
            self.groups.tick_armed = true;
        }
    }

    pub(super) fn group_coordinator_tick(&mut self, ctx: &mut Ctx<'_>) {
        self.groups.tick_armed = false;
        let partitions: Vec<u32> = self.groups.coordinators.keys().copied().collect();
        for partition in partitions {
            self.run_coordinator(ctx, partition, |c, now, log, out| c.tick(now, log, out));
        }
        self.arm_group_tick(ctx);
    }

    /// Runs one input of the coordinator of `partition` with the leader's log to append
    /// to, delivers what it produced, and moves the HW if it appended.
    fn run_coordinator(
        &mut self,
        ctx: &mut Ctx<'_>,
        partition: u32,
        input: impl FnOnce(&mut Coordinator, Instant, &mut dyn CoordinatorLog, &mut Outbox),
    ) {
        let now = ctx.now();
        let enough_isr = self.min_isr();
        let flush_messages = self.config.broker.log_flush_interval_messages;
        let tp = TopicPartition::new(CONSUMER_OFFSETS, partition);
        let Some(coordinator) = self.groups.coordinators.get_mut(&partition) else { return };
        let replica = self.replicas.get_mut(&tp).expect("a coordinator's partition is hosted");
        let Role::Leader(leader) = &replica.role else {
            panic!("{tp}: a coordinator on a replica that does not lead")
        };
        assert_eq!(replica.leader_epoch, coordinator.leader_epoch(), "{tp}: coordinator epoch");
        let mut appender = LeaderAppender {
            enough_replicas: leader.isr.len() >= enough_isr,
            log: &mut replica.log,
            disk: ctx.disk(),
            leader_epoch: replica.leader_epoch,
            now_ms: now.as_millis(),
            flush_messages,
            appended: false,
        };
        let mut out = Outbox::default();
        input(coordinator, now, &mut appender, &mut out);
        let appended = appender.appended;
        deliver(ctx, out);
        if appended {
            // A single in-sync replica commits at once; otherwise followers' fetches do.
            self.maybe_advance_high_watermark(ctx, &tp);
        }
    }

    pub(super) fn handle_group_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        if let Msg::FindCoordinator { correlation_id, group } = &msg {
            let result = self.find_coordinator(group);
            let correlation_id = *correlation_id;
            ctx.send(from, Msg::FindCoordinatorResponse { correlation_id, result });
            return;
        }
        let partitions = self.config.broker.offsets_topic_num_partitions;
        let partition = offsets_partition_for(request_group(&msg), partitions);
        if !self.groups.coordinators.contains_key(&partition) {
            ctx.send(from, error_response(&msg, ErrorCode::NotCoordinator));
            return;
        }
        let fresh_id = matches!(msg, Msg::JoinGroup { member_id: None, .. })
            .then(|| MemberId(ctx.rng().next_u64()));
        self.run_coordinator(ctx, partition, |c, now, log, out| {
            c.handle(now, from, msg, fresh_id, log, out);
        });
    }

    /// Any broker answers FindCoordinator from its metadata image: the live leader of the
    /// group's `__consumer_offsets` partition.
    fn find_coordinator(&self, group: &str) -> Result<NodeId, ErrorCode> {
        let partition =
            offsets_partition_for(group, self.config.broker.offsets_topic_num_partitions);
        self.metadata
            .iter()
            .flat_map(|m| &m.partitions)
            .find(|p| &*p.tp.topic == CONSUMER_OFFSETS && p.tp.partition == partition)
            .and_then(|p| p.leader)
            .filter(|&leader| !self.is_fenced(leader))
            .ok_or(ErrorCode::CoordinatorNotAvailable)
    }

    pub(super) fn coordinator_leadership_changed(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: &TopicPartition,
    ) {
        if &*tp.topic != CONSUMER_OFFSETS {
            return;
        }
        let replica = &self.replicas[tp];
        let leading = match replica.role {
            Role::Leader(_) => Some((replica.leader_epoch, replica.log.log_end_offset())),
            Role::Follower(_) | Role::Offline => None,
        };
        let hosted = self.groups.coordinators.get(&tp.partition).map(Coordinator::leader_epoch);
        if leading.map(|(epoch, _)| epoch) == hosted {
            return;
        }
        if let Some(old) = self.groups.coordinators.remove(&tp.partition) {
            let mut out = Outbox::default();
            old.unload(&mut out);
            deliver(ctx, out);
        }
        let Some((epoch, log_end_offset)) = leading else { return };
        let coordinator =
            Coordinator::new(self.coordinator_config(), tp.clone(), epoch, log_end_offset);
        self.groups.coordinators.insert(tp.partition, coordinator);
        ctx.annotate(format!(
            "{tp}: coordinator of epoch {epoch} loads once the HW reaches {log_end_offset}"
        ));
        self.arm_group_tick(ctx);
        self.coordinator_high_watermark_moved(ctx, tp);
    }

    /// The leader's HW moved: load the groups once everything in the log is committed,
    /// and complete the writes the HW passed.
    pub(super) fn coordinator_high_watermark_moved(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: &TopicPartition,
    ) {
        if &*tp.topic != CONSUMER_OFFSETS {
            return;
        }
        let enough_isr = self.min_isr();
        let Some(coordinator) = self.groups.coordinators.get_mut(&tp.partition) else { return };
        let Some(replica) = self.replicas.get(tp) else { return };
        // A follower's HW completes nothing (KAFKA-20634), nor does an older epoch's
        // coordinator during the reconcile that replaces it.
        let Role::Leader(leader) = &replica.role else { return };
        if replica.leader_epoch != coordinator.leader_epoch() {
            return;
        }
        let now = ctx.now();
        let high_watermark = replica.log.high_watermark();
        let mut out = Outbox::default();
        if coordinator.load_point().is_some_and(|until| high_watermark >= until) {
            coordinator.load(now, replica.log.records(), &mut out);
        }
        let enough_replicas = leader.isr.len() >= enough_isr;
        coordinator.high_watermark_moved(now, high_watermark, enough_replicas, &mut out);
        deliver(ctx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_driver::Driver;
    use super::*;
    use crate::kafka::broker::BrokerConfig;
    use crate::kafka::protocol::{Assignor, CommittedOffset, MetadataImage, PartitionState};
    use std::sync::Arc;

    const CONTROLLER: NodeId = NodeId(3);
    const CONSUMER: NodeId = NodeId(5);

    type Harness = Driver;

    /// Broker 0 with one `__consumer_offsets` partition and no initial rebalance delay.
    fn harness() -> Harness {
        let mut config = BrokerConfig::defaults(CONTROLLER);
        config.broker.offsets_topic_num_partitions = 1;
        config.broker.group_initial_rebalance_delay_ms = 0;
        Driver::new(NodeId(0), config, "groups-test")
    }

    /// Replica 1 fetches `__consumer_offsets-0` at `offset`, moving the leader's HW; returns
    /// what the broker sent to the consumer.
    fn follower_fetch(h: &mut Harness, epoch: u32, offset: u64) -> Vec<(NodeId, Msg)> {
        let fetch = Msg::Fetch {
            correlation_id: 77,
            tp: offsets_tp(),
            replica_id: Some(NodeId(1)),
            current_leader_epoch: epoch,
            fetch_offset: offset,
        };
        let mut sends = h.deliver(NodeId(1), fetch);
        sends.retain(|(to, _)| *to == CONSUMER);
        sends
    }

    fn offsets_tp() -> TopicPartition {
        TopicPartition::new(CONSUMER_OFFSETS, 0)
    }

    fn image(version: u64, leader: u32, epoch: u32) -> MetadataImage {
        MetadataImage {
            version,
            partitions: vec![PartitionState {
                tp: offsets_tp(),
                replicas: vec![NodeId(0), NodeId(1)],
                isr: vec![NodeId(0), NodeId(1)],
                elr: vec![],
                leader: Some(NodeId(leader)),
                leader_epoch: epoch,
                partition_epoch: epoch,
            }],
            fenced: vec![],
        }
    }

    fn group() -> Arc<str> {
        Arc::from("readers")
    }

    fn join() -> Msg {
        Msg::JoinGroup {
            correlation_id: 2,
            group: group(),
            member_id: None,
            subscription: vec![Arc::from("events")],
            assignor: Assignor::Range,
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
        }
    }

    #[test]
    fn find_join_sync_commit_through_the_broker() {
        let mut h = harness();
        h.start();
        h.register(CONTROLLER, image(1, 0, 1));
        h.take_sends();
        assert!(h.broker.group_coordinator(0).is_some_and(Coordinator::is_loaded), "empty log");

        let find = Msg::FindCoordinator { correlation_id: 1, group: group() };
        let sends = h.deliver(CONSUMER, find.clone());
        assert!(
            matches!(
                &sends[..],
                [(CONSUMER, Msg::FindCoordinatorResponse { result: Ok(NodeId(0)), .. })]
            ),
            "{sends:?}"
        );

        let sends = h.deliver(CONSUMER, join());
        let [(CONSUMER, Msg::JoinGroupResponse { result: Ok(joined), .. })] = &sends[..] else {
            panic!("{sends:?}")
        };
        assert_eq!(joined.generation, 1);
        let member_id = joined.member_id;
        let assignments = vec![(member_id, vec![TopicPartition::new("events", 0)])];
        let sync = Msg::SyncGroup {
            correlation_id: 3,
            group: group(),
            generation: 1,
            member_id,
            assignments,
        };
        assert!(h.deliver(CONSUMER, sync).is_empty(), "waits for the group record");
        assert!(follower_fetch(&mut h, 1, 0).is_empty(), "the follower has not got the record");
        let sends = follower_fetch(&mut h, 1, 1);
        assert!(
            matches!(&sends[..], [(CONSUMER, Msg::SyncGroupResponse { result: Ok(_), .. })]),
            "{sends:?}"
        );

        let offset = CommittedOffset { offset: 40, leader_epoch: Some(1) };
        let commit = Msg::OffsetCommit {
            correlation_id: 4,
            group: group(),
            generation: Some(1),
            member_id: Some(member_id),
            offsets: vec![(TopicPartition::new("events", 0), offset)],
        };
        assert!(h.deliver(CONSUMER, commit.clone()).is_empty(), "waits for the HW");
        let log = h.broker.replica(&offsets_tp()).unwrap().log();
        assert_eq!((log.log_end_offset(), log.high_watermark()), (2, 1));
        let sends = follower_fetch(&mut h, 1, 2);
        assert!(
            matches!(&sends[..], [(CONSUMER, Msg::OffsetCommitResponse { result: Ok(()), .. })]),
            "{sends:?}"
        );
        let fetch = Msg::OffsetFetch {
            correlation_id: 5,
            group: group(),
            partitions: vec![TopicPartition::new("events", 0)],
        };
        let sends = h.deliver(CONSUMER, fetch);
        let [(_, Msg::OffsetFetchResponse { result: Ok(offsets), .. })] = &sends[..] else {
            panic!("{sends:?}")
        };
        assert_eq!(offsets, &vec![(TopicPartition::new("events", 0), Some(offset))]);

        // Leadership moves before a second commit is committed: it fails, and the broker
        // sends the group's members to the new coordinator.
        assert!(h.deliver(CONSUMER, commit).is_empty());
        let sends = h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
        assert!(
            sends.iter().any(|(to, m)| *to == CONSUMER
                && matches!(
                    m,
                    Msg::OffsetCommitResponse { result: Err(ErrorCode::NotCoordinator), .. }
                )),
            "{sends:?}"
        );
        assert!(h.broker.group_coordinator(0).is_none());
        let sends = h.deliver(CONSUMER, join());
        assert!(
            matches!(
                &sends[..],
                [(_, Msg::JoinGroupResponse { result: Err(ErrorCode::NotCoordinator), .. })]
            ),
            "{sends:?}"
        );
        let sends = h.deliver(CONSUMER, find);
        assert!(
            matches!(&sends[..], [(_, Msg::FindCoordinatorResponse { result: Ok(NodeId(1)), .. })]),
            "{sends:?}"
        );
    }

    #[test]
    fn a_new_leader_loads_only_once_its_log_is_committed() {
        let mut h = harness();
        h.start();
        h.register(CONTROLLER, image(1, 0, 1));
        h.take_sends();
        let sends = h.deliver(CONSUMER, join());
        let [(_, Msg::JoinGroupResponse { result: Ok(joined), .. })] = &sends[..] else {
            panic!("{sends:?}")
        };
        let member_id = joined.member_id;
        let sync = Msg::SyncGroup {
            correlation_id: 3,
            group: group(),
            generation: 1,
            member_id,
            assignments: vec![],
        };
        h.deliver(CONSUMER, sync);
        // Follower in epoch 2 (the record is not committed), then leader again in epoch 3.
        h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(2, 1, 2) });
        h.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(3, 0, 3) });
        assert_eq!(h.broker.group_coordinator(0).map(Coordinator::load_point), Some(Some(1)));
        let heartbeat =
            Msg::Heartbeat { correlation_id: 4, group: group(), generation: 1, member_id };
        let sends = h.deliver(CONSUMER, heartbeat.clone());
        assert!(
            matches!(
                &sends[..],
                [(
                    _,
                    Msg::HeartbeatResponse {
                        error: Some(ErrorCode::CoordinatorLoadInProgress),
                        ..
                    }
                )]
            ),
            "{sends:?}"
        );
        follower_fetch(&mut h, 3, 1);
        let coordinator = h.broker.group_coordinator(0).expect("leader");
        assert!(coordinator.is_loaded());
        assert_eq!(coordinator.describe("readers").map(|g| g.generation), Some(1));
        let sends = h.deliver(CONSUMER, heartbeat);
        assert!(
            matches!(&sends[..], [(_, Msg::HeartbeatResponse { error: None, .. })]),
            "{sends:?}"
        );
    }
}
