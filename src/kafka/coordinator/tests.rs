//! The coordinator's state machine driven directly: a vector stands in for the partition
//! log, the test moves the HW and the clock.

use super::*;
use crate::kafka::protocol::NewRecord;

const TOPIC: &str = "events";
const SESSION_MS: u64 = 10_000;
const REBALANCE_MS: u64 = 20_000;
const INITIAL_DELAY_MS: u64 = 3_000;
const COMMIT_TIMEOUT_MS: u64 = 5_000;

/// The partition log: records appended at the leader's epoch; appends can be refused.
struct VecLog {
    records: Vec<Record>,
    leader_epoch: u32,
    refuse: Option<ErrorCode>,
}

impl CoordinatorLog for VecLog {
    fn append(&mut self, records: Vec<CoordinatorRecord>) -> Result<u64, ErrorCode> {
        if let Some(error) = self.refuse {
            return Err(error);
        }
        for record in records {
            let offset = self.records.len() as u64;
            let new = NewRecord::coordinator(record);
            self.records.push(new.at(offset, self.leader_epoch));
        }
        Ok(self.records.len() as u64 - 1)
    }
}

struct Fixture {
    coordinator: Coordinator,
    log: VecLog,
    now: Instant,
    next_member: u64,
    notes: Vec<String>,
}

fn config(generation_check: bool) -> CoordinatorConfig {
    CoordinatorConfig {
        initial_rebalance_delay_ms: INITIAL_DELAY_MS,
        offsets_commit_timeout_ms: COMMIT_TIMEOUT_MS,
        generation_check,
    }
}

fn offsets_tp() -> TopicPartition {
    TopicPartition::new(crate::kafka::protocol::CONSUMER_OFFSETS, 0)
}

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn group() -> Arc<str> {
    Arc::from("g")
}

fn client(n: u32) -> NodeId {
    NodeId(10 + n)
}

fn offset(offset: u64) -> CommittedOffset {
    CommittedOffset { offset, leader_epoch: Some(1) }
}

impl Fixture {
    fn new(generation_check: bool) -> Self {
        let mut coordinator = Coordinator::new(config(generation_check), offsets_tp(), 1, 0);
        let mut out = Outbox::default();
        coordinator.load(Instant::ZERO, &[], &mut out);
        Fixture {
            coordinator,
            log: VecLog { records: Vec::new(), leader_epoch: 1, refuse: None },
            now: Instant::ZERO,
            next_member: 1,
            notes: out.notes,
        }
    }

    fn request(&mut self, from: NodeId, msg: Msg) -> Vec<(NodeId, Msg)> {
        let fresh_id = matches!(msg, Msg::JoinGroup { member_id: None, .. }).then(|| {
            self.next_member += 1;
            MemberId(self.next_member - 1)
        });
        let mut out = Outbox::default();
        self.coordinator.handle(self.now, from, msg, fresh_id, &mut self.log, &mut out);
        self.notes.extend(out.notes);
        out.sends
    }

    /// The HW reaches the LEO: everything appended is committed.
    fn commit_all(&mut self) -> Vec<(NodeId, Msg)> {
        let hw = self.log.records.len() as u64;
        self.move_hw(hw, true)
    }

    fn move_hw(&mut self, hw: u64, enough_replicas: bool) -> Vec<(NodeId, Msg)> {
        let mut out = Outbox::default();
        self.coordinator.high_watermark_moved(self.now, hw, enough_replicas, &mut out);
        self.notes.extend(out.notes);
        out.sends
    }

    /// Time passes in coordinator ticks.
    fn advance(&mut self, duration_ms: u64) -> Vec<(NodeId, Msg)> {
        let mut sends = Vec::new();
        let end = self.now + Duration::from_millis(duration_ms);
        while self.now < end {
            self.now = (self.now + Duration::from_millis(COORDINATOR_TICK_MS)).min(end);
            let mut out = Outbox::default();
            self.coordinator.tick(self.now, &mut self.log, &mut out);
            self.notes.extend(out.notes);
            sends.extend(out.sends);
        }
        sends
    }

    fn join(&mut self, n: u32, member_id: Option<MemberId>) -> Vec<(NodeId, Msg)> {
        self.request(
            client(n),
            Msg::JoinGroup {
                correlation_id: 100 + n as u64,
                group: group(),
                member_id,
                subscription: vec![Arc::from(TOPIC)],
                assignor: Assignor::Range,
                session_timeout_ms: SESSION_MS,
                rebalance_timeout_ms: REBALANCE_MS,
            },
        )
    }

    fn sync(
        &mut self,
        n: u32,
        generation: u32,
        member_id: MemberId,
        assignments: Vec<(MemberId, Vec<TopicPartition>)>,
    ) -> Vec<(NodeId, Msg)> {
        let msg = Msg::SyncGroup {
            correlation_id: 200 + n as u64,
            group: group(),
            generation,
            member_id,
            assignments,
        };
        self.request(client(n), msg)
    }

    fn heartbeat(&mut self, n: u32, generation: u32, member_id: MemberId) -> Option<ErrorCode> {
        let msg = Msg::Heartbeat { correlation_id: 300, group: group(), generation, member_id };
        match &self.request(client(n), msg)[..] {
            [(_, Msg::HeartbeatResponse { error, .. })] => *error,
            other => panic!("{other:?}"),
        }
    }

    fn commit(
        &mut self,
        generation: Option<u32>,
        member_id: Option<MemberId>,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    ) -> Vec<(NodeId, Msg)> {
        let msg = Msg::OffsetCommit {
            correlation_id: 400,
            group: group(),
            generation,
            member_id,
            offsets,
        };
        self.request(client(9), msg)
    }

    fn fetch(
        &mut self,
        partitions: Vec<TopicPartition>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        let msg = Msg::OffsetFetch { correlation_id: 500, group: group(), partitions };
        match self.request(client(9), msg).pop() {
            Some((_, Msg::OffsetFetchResponse { result: Ok(offsets), .. })) => offsets,
            other => panic!("{other:?}"),
        }
    }

    fn state(&self) -> GroupState {
        self.coordinator.group_state("g").expect("group exists")
    }

    fn metadata(&self) -> GroupMetadata {
        self.coordinator.describe("g").expect("group exists")
    }

    /// One member, generation 1, stable with `events-0` and `events-1`.
    fn one_stable_member(&mut self) -> MemberId {
        self.join(1, None);
        let join = joined(&self.advance(INITIAL_DELAY_MS));
        let (_, m1) = join[0];
        self.sync(1, 1, m1, vec![(m1, vec![tp(0), tp(1)])]);
        assert_eq!(synced(&self.commit_all()), vec![(client(1), vec![tp(0), tp(1)])]);
        m1
    }

    /// Two members, generation 2, stable: m1 has `events-0`, m2 `events-1`.
    fn two_stable_members(&mut self) -> (MemberId, MemberId) {
        let m1 = self.one_stable_member();
        assert!(self.join(2, None).is_empty());
        assert_eq!(self.heartbeat(1, 1, m1), Some(ErrorCode::RebalanceInProgress));
        let join = joined(&self.join(1, Some(m1)));
        let m2 = join.iter().find(|(c, _)| *c == client(2)).expect("m2 joined").1;
        self.sync(2, 2, m2, vec![]);
        self.sync(1, 2, m1, vec![(m1, vec![tp(0)]), (m2, vec![tp(1)])]);
        let mut done = synced(&self.commit_all());
        done.sort();
        assert_eq!(done, vec![(client(1), vec![tp(0)]), (client(2), vec![tp(1)])]);
        assert_eq!(self.state(), GroupState::Stable);
        (m1, m2)
    }
}

/// The successful JoinGroup answers: (client, member id).
fn joined(sends: &[(NodeId, Msg)]) -> Vec<(NodeId, MemberId)> {
    sends
        .iter()
        .filter_map(|(to, m)| match m {
            Msg::JoinGroupResponse { result: Ok(r), .. } => Some((*to, r.member_id)),
            _ => None,
        })
        .collect()
}

fn join_results(sends: &[(NodeId, Msg)]) -> Vec<(NodeId, JoinResult)> {
    sends
        .iter()
        .filter_map(|(to, m)| match m {
            Msg::JoinGroupResponse { result: Ok(r), .. } => Some((*to, r.clone())),
            _ => None,
        })
        .collect()
}

fn synced(sends: &[(NodeId, Msg)]) -> Vec<(NodeId, Vec<TopicPartition>)> {
    sends
        .iter()
        .filter_map(|(to, m)| match m {
            Msg::SyncGroupResponse { result: Ok(a), .. } => Some((*to, a.clone())),
            _ => None,
        })
        .collect()
}

fn commit_results(sends: &[(NodeId, Msg)]) -> Vec<Result<(), ErrorCode>> {
    sends
        .iter()
        .filter_map(|(_, m)| match m {
            Msg::OffsetCommitResponse { result, .. } => Some(*result),
            _ => None,
        })
        .collect()
}

#[test]
fn first_join_gets_an_id_and_waits_the_initial_delay() {
    let mut f = Fixture::new(true);
    assert!(f.join(1, None).is_empty(), "the first rebalance waits");
    assert_eq!(f.state(), GroupState::PreparingRebalance);
    assert!(joined(&f.advance(INITIAL_DELAY_MS - 200)).is_empty());
    let results = join_results(&f.advance(200));
    let [(to, result)] = &results[..] else { panic!("{results:?}") };
    assert_eq!(*to, client(1));
    assert_eq!(result.generation, 1);
    assert_eq!(result.leader, result.member_id);
    assert_eq!(result.members, vec![(result.member_id, vec![Arc::from(TOPIC)])]);
    assert_eq!(f.state(), GroupState::CompletingRebalance);
}

#[test]
fn initial_delay_extends_while_members_keep_arriving() {
    let mut f = Fixture::new(true);
    f.join(1, None);
    f.advance(INITIAL_DELAY_MS - 100);
    f.join(2, None);
    // The first wait ends with a newcomer: Kafka's InitialDelayedJoin waits once more.
    assert!(joined(&f.advance(100)).is_empty());
    let results = join_results(&f.advance(INITIAL_DELAY_MS));
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|(_, r)| r.generation == 1));
    let leader = results.iter().find(|(c, _)| *c == client(1)).unwrap().1.clone();
    assert_eq!(leader.leader, leader.member_id, "the first to join leads");
    assert_eq!(leader.members.len(), 2);
    let follower = results.iter().find(|(c, _)| *c == client(2)).unwrap().1.clone();
    assert!(follower.members.is_empty(), "only the leader gets the subscriptions");
}

#[test]
fn second_member_rebalances_to_generation_two() {
    let mut f = Fixture::new(true);
    let m1 = f.one_stable_member();
    assert!(f.join(2, None).is_empty(), "a new member waits for the others to rejoin");
    assert_eq!(f.state(), GroupState::PreparingRebalance);
    assert_eq!(f.heartbeat(1, 1, m1), Some(ErrorCode::RebalanceInProgress));
    let results = join_results(&f.join(1, Some(m1)));
    assert_eq!(results.len(), 2, "every member rejoined: the join completes at once");
    for (_, r) in &results {
        assert_eq!(r.generation, 2);
        assert_eq!(r.leader, m1);
    }
    let leader = &results.iter().find(|(c, _)| *c == client(1)).unwrap().1;
    assert_eq!(leader.members.len(), 2);
}

#[test]
fn sync_completes_only_after_the_group_record_commits() {
    let mut f = Fixture::new(true);
    f.join(1, None);
    f.join(2, None);
    // m2 arrived during the initial delay: it runs twice.
    let results = join_results(&f.advance(2 * INITIAL_DELAY_MS));
    let m1 = results.iter().find(|(c, _)| *c == client(1)).unwrap().1.member_id;
    let m2 = results.iter().find(|(c, _)| *c == client(2)).unwrap().1.member_id;
    assert!(f.sync(2, 1, m2, vec![]).is_empty(), "a follower waits for the leader");
    assert!(f.log.records.is_empty());
    let assignments = vec![(m1, vec![tp(0)]), (m2, vec![tp(1)])];
    assert!(f.sync(1, 1, m1, assignments).is_empty(), "the leader waits for the record");
    assert_eq!(f.log.records.len(), 1);
    let Some(CoordinatorRecord::GroupMetadata(meta)) = f.log.records[0].coordinator() else {
        panic!("{:?}", f.log.records)
    };
    assert_eq!(meta.generation, 1);
    assert_eq!(meta.leader, Some(m1));
    assert_eq!(
        meta.members.iter().map(|m| m.assignment.clone()).collect::<Vec<_>>(),
        vec![vec![tp(0)], vec![tp(1)]]
    );
    assert_eq!(f.state(), GroupState::CompletingRebalance);
    assert!(f.move_hw(0, true).is_empty(), "the HW has not passed the record");
    let mut done = synced(&f.move_hw(1, true));
    done.sort();
    assert_eq!(done, vec![(client(1), vec![tp(0)]), (client(2), vec![tp(1)])]);
    assert_eq!(f.state(), GroupState::Stable);
    // A late SyncGroup of the same generation gets the assignment at once.
    assert_eq!(synced(&f.sync(2, 1, m2, vec![])), vec![(client(2), vec![tp(1)])]);
}

#[test]
fn heartbeat_answers() {
    let mut f = Fixture::new(true);
    let (m1, m2) = f.two_stable_members();
    assert_eq!(f.heartbeat(1, 2, m1), None);
    assert_eq!(f.heartbeat(1, 1, m1), Some(ErrorCode::IllegalGeneration));
    assert_eq!(f.heartbeat(7, 2, MemberId(999)), Some(ErrorCode::UnknownMemberId));
    f.join(3, None);
    assert_eq!(f.heartbeat(2, 2, m2), Some(ErrorCode::RebalanceInProgress));
    // The unknown-member check comes before the generation check (Kafka's order).
    assert_eq!(f.heartbeat(7, 1, MemberId(999)), Some(ErrorCode::UnknownMemberId));
}

#[test]
fn session_expiry_removes_the_member_and_rebalances() {
    let mut f = Fixture::new(true);
    let (m1, m2) = f.two_stable_members();
    // m1 heartbeats every 3 s, m2 is silent.
    for _ in 0..3 {
        f.advance(3_000);
        assert_eq!(f.heartbeat(1, 2, m1), None);
    }
    f.advance(1_200);
    assert_eq!(f.state(), GroupState::PreparingRebalance);
    assert!(f.notes.iter().any(|n| n.contains(&format!("{m2} session expired"))), "{:?}", f.notes);
    assert_eq!(f.heartbeat(2, 2, m2), Some(ErrorCode::UnknownMemberId));
    let results = join_results(&f.join(1, Some(m1)));
    let [(_, result)] = &results[..] else { panic!("{results:?}") };
    assert_eq!(result.generation, 3);
    assert_eq!(result.members.iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![m1]);
}

#[test]
fn member_that_does_not_rejoin_in_time_is_dropped() {
    let mut f = Fixture::new(true);
    let (m1, m2) = f.two_stable_members();
    f.join(3, None);
    f.join(1, Some(m1));
    // m2 keeps heartbeating (so its session lives) but never rejoins.
    let mut results = Vec::new();
    for _ in 0..(REBALANCE_MS / 2_000) {
        results.extend(join_results(&f.advance(2_000)));
        if results.is_empty() {
            assert_eq!(f.heartbeat(2, 2, m2), Some(ErrorCode::RebalanceInProgress));
        }
    }
    assert_eq!(results.len(), 2, "{results:?}");
    let leader = &results.iter().find(|(c, _)| *c == client(1)).unwrap().1;
    assert_eq!(leader.generation, 3);
    assert!(!leader.members.iter().any(|(m, _)| *m == m2));
    assert_eq!(leader.members.len(), 2);
    assert_eq!(f.heartbeat(2, 3, m2), Some(ErrorCode::UnknownMemberId));
}

#[test]
fn leave_group_removes_the_member_and_rebalances() {
    let mut f = Fixture::new(true);
    let (m1, m2) = f.two_stable_members();
    let sends =
        f.request(client(2), Msg::LeaveGroup { correlation_id: 9, group: group(), member_id: m2 });
    assert!(matches!(&sends[..], [(_, Msg::LeaveGroupResponse { error: None, .. })]), "{sends:?}");
    assert_eq!(f.state(), GroupState::PreparingRebalance);
    let results = join_results(&f.join(1, Some(m1)));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.generation, 3);
    // The last member leaving empties the group; the emptiness is recorded too.
    let sends =
        f.request(client(1), Msg::LeaveGroup { correlation_id: 9, group: group(), member_id: m1 });
    assert!(matches!(&sends[..], [(_, Msg::LeaveGroupResponse { error: None, .. })]), "{sends:?}");
    assert_eq!(f.state(), GroupState::Empty);
    assert_eq!(f.metadata().generation, 4);
    let Some(CoordinatorRecord::GroupMetadata(meta)) = f.log.records.last().unwrap().coordinator()
    else {
        panic!()
    };
    assert!(meta.members.is_empty());
}

#[test]
fn commit_from_a_stale_generation_or_an_unknown_member_is_refused() {
    let mut f = Fixture::new(true);
    let (m1, _m2) = f.two_stable_members();
    let records = f.log.records.len();
    let stale = f.commit(Some(1), Some(m1), vec![(tp(0), offset(15))]);
    assert_eq!(commit_results(&stale), vec![Err(ErrorCode::IllegalGeneration)]);
    let unknown = f.commit(Some(2), Some(MemberId(999)), vec![(tp(0), offset(15))]);
    assert_eq!(commit_results(&unknown), vec![Err(ErrorCode::UnknownMemberId)]);
    let outside = f.commit(None, None, vec![(tp(0), offset(15))]);
    assert_eq!(commit_results(&outside), vec![Err(ErrorCode::UnknownMemberId)]);
    assert_eq!(f.log.records.len(), records, "nothing refused was written");
    // During CompletingRebalance the member must finish the rebalance first.
    f.join(3, None);
    assert!(joined(&f.join(1, Some(m1))).is_empty(), "m2 has not rejoined yet");
    let results = joined(&f.advance(REBALANCE_MS));
    assert_eq!(results.len(), 2, "m2 expired, m1 and m3 joined");
    assert_eq!(f.state(), GroupState::CompletingRebalance, "{results:?}");
    let during = f.commit(Some(3), Some(m1), vec![(tp(0), offset(15))]);
    assert_eq!(commit_results(&during), vec![Err(ErrorCode::RebalanceInProgress)]);
    assert_eq!(f.fetch(vec![tp(0)]), vec![(tp(0), None)]);
}

#[test]
fn without_the_generation_check_a_zombie_commit_is_accepted() {
    let mut f = Fixture::new(false);
    let (m1, _m2) = f.two_stable_members();
    let stale = f.commit(Some(1), Some(m1), vec![(tp(0), offset(15))]);
    assert!(commit_results(&stale).is_empty(), "accepted: waits for the HW");
    assert_eq!(commit_results(&f.commit_all()), vec![Ok(())]);
    assert_eq!(f.fetch(vec![tp(0)]), vec![(tp(0), Some(offset(15)))]);
}

#[test]
fn commit_is_acknowledged_only_after_the_high_watermark_passes_it() {
    let mut f = Fixture::new(true);
    let (m1, _m2) = f.two_stable_members();
    let before = f.log.records.len() as u64;
    let sends = f.commit(Some(2), Some(m1), vec![(tp(0), offset(40)), (tp(2), offset(7))]);
    assert!(sends.is_empty());
    assert_eq!(f.log.records.len() as u64, before + 2, "one record per partition");
    assert_eq!(f.fetch(vec![tp(0)]), vec![(tp(0), None)], "a pending commit is not visible");
    assert!(commit_results(&f.move_hw(before + 1, true)).is_empty(), "only the first record");
    assert_eq!(commit_results(&f.move_hw(before + 2, true)), vec![Ok(())]);
    assert_eq!(
        f.fetch(vec![tp(0), tp(1), tp(2)]),
        vec![(tp(0), Some(offset(40))), (tp(1), None), (tp(2), Some(offset(7)))]
    );
}

#[test]
fn commit_fails_when_leadership_is_lost_first() {
    let mut f = Fixture::new(true);
    let (m1, _m2) = f.two_stable_members();
    assert!(f.commit(Some(2), Some(m1), vec![(tp(0), offset(40))]).is_empty());
    let mut out = Outbox::default();
    f.coordinator.unload(&mut out);
    assert_eq!(commit_results(&out.sends), vec![Err(ErrorCode::NotCoordinator)]);
}

#[test]
fn commit_fails_on_timeout_and_below_min_insync_replicas() {
    let mut f = Fixture::new(true);
    let (m1, _m2) = f.two_stable_members();
    assert!(f.commit(Some(2), Some(m1), vec![(tp(0), offset(40))]).is_empty());
    assert!(commit_results(&f.advance(COMMIT_TIMEOUT_MS - 100)).is_empty());
    assert_eq!(commit_results(&f.advance(100)), vec![Err(ErrorCode::RequestTimedOut)]);
    // The HW passing it later acknowledges nothing more.
    assert!(commit_results(&f.commit_all()).is_empty());
    assert_eq!(f.fetch(vec![tp(0)]), vec![(tp(0), None)]);
    // The ISR shrank below min.insync.replicas after the append...
    f.heartbeat(1, 2, m1);
    assert!(f.commit(Some(2), Some(m1), vec![(tp(0), offset(41))]).is_empty());
    let hw = f.log.records.len() as u64;
    assert_eq!(
        commit_results(&f.move_hw(hw, false)),
        vec![Err(ErrorCode::CoordinatorNotAvailable)]
    );
    // ... or before it: refused at once.
    f.log.refuse = Some(ErrorCode::NotEnoughReplicas);
    let refused = f.commit(Some(2), Some(m1), vec![(tp(0), offset(42))]);
    assert_eq!(commit_results(&refused), vec![Err(ErrorCode::CoordinatorNotAvailable)]);
}

#[test]
fn commit_outside_group_management_only_while_the_group_has_no_members() {
    let mut f = Fixture::new(true);
    assert!(f.commit(None, None, vec![(tp(0), offset(3))]).is_empty());
    assert_eq!(commit_results(&f.commit_all()), vec![Ok(())]);
    assert_eq!(f.state(), GroupState::Empty);
    assert_eq!(f.fetch(vec![tp(0)]), vec![(tp(0), Some(offset(3)))]);
    f.one_stable_member();
    let refused = f.commit(None, None, vec![(tp(0), offset(4))]);
    assert_eq!(commit_results(&refused), vec![Err(ErrorCode::UnknownMemberId)]);
}

#[test]
fn failover_replays_generation_members_assignment_and_offsets() {
    let mut f = Fixture::new(true);
    let (m1, m2) = f.two_stable_members();
    assert!(f.commit(Some(2), Some(m1), vec![(tp(0), offset(40))]).is_empty());
    assert!(f.commit(Some(2), Some(m2), vec![(tp(1), offset(9))]).is_empty());
    f.commit_all();
    assert!(f.commit(Some(2), Some(m2), vec![(tp(1), offset(12))]).is_empty());
    f.commit_all();
    let records = f.log.records.clone();
    let until = records.len() as u64;

    let mut next = Coordinator::new(config(true), offsets_tp(), 2, until);
    assert_eq!(next.load_point(), Some(until));
    let mut out = Outbox::default();
    let mut log = VecLog { records: records.clone(), leader_epoch: 2, refuse: None };
    let heartbeat =
        Msg::Heartbeat { correlation_id: 1, group: group(), generation: 2, member_id: m1 };
    next.handle(f.now, client(1), heartbeat.clone(), None, &mut log, &mut out);
    assert!(
        matches!(
            &out.sends[..],
            [(_, Msg::HeartbeatResponse { error: Some(ErrorCode::CoordinatorLoadInProgress), .. })]
        ),
        "{:?}",
        out.sends
    );
    next.load(f.now, &records, &mut out);
    assert_eq!(next.describe("g"), Some(f.metadata()));
    assert_eq!(next.group_state("g"), Some(GroupState::Stable));
    for partition in 0..3 {
        assert_eq!(
            next.committed("g", &tp(partition)),
            f.coordinator.committed("g", &tp(partition))
        );
    }
    let mut out = Outbox::default();
    let fetch =
        Msg::OffsetFetch { correlation_id: 2, group: group(), partitions: vec![tp(0), tp(1)] };
    next.handle(f.now, client(9), fetch, None, &mut log, &mut out);
    next.handle(f.now, client(1), heartbeat, None, &mut log, &mut out);
    let [
        (_, Msg::OffsetFetchResponse { result: Ok(offsets), .. }),
        (_, Msg::HeartbeatResponse { error: None, .. }),
    ] = &out.sends[..]
    else {
        panic!("{:?}", out.sends)
    };
    assert_eq!(offsets, &vec![(tp(0), Some(offset(40))), (tp(1), Some(offset(12)))]);
}

#[test]
fn unload_answers_waiting_joins_and_syncs_with_not_coordinator() {
    let mut f = Fixture::new(true);
    f.join(1, None);
    let mut out = Outbox::default();
    f.coordinator.unload(&mut out);
    assert!(
        matches!(
            &out.sends[..],
            [(_, Msg::JoinGroupResponse { result: Err(ErrorCode::NotCoordinator), .. })]
        ),
        "{:?}",
        out.sends
    );
}
