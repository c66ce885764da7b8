//! The consumer's handlers, driven directly.
//!
//! Liveness of the groupless consumer under the failures the soak nemesis causes (a lost
//! fetch, a restarted leader that does not know it leads yet, a partition without a leader),
//! then the group consumer: joining and assigning, positions, heartbeats and fencing, the
//! commit modes, KIP-320 validation, `max.poll.interval.ms`, restarts.

use super::*;
use crate::kafka::client::{REQUEST_TIMEOUT_MS, RETRY_BACKOFF_MAX_MS};
use crate::kafka::protocol::{
    Assignor, CommittedOffset, ErrorCode, JoinResult, MemberId, OffsetSpec, PartitionMetadata,
    Record, ResetReason, RevokeReason,
};
use crate::scenario::AutoOffsetReset;
use crate::sim::node::Detached;
use crate::sim::{Instant, SimRng};

const B1: NodeId = NodeId(0);
const B2: NodeId = NodeId(1);
const B3: NodeId = NodeId(2);
/// The coordinator in the group tests.
const COORD: NodeId = B1;
const ME: MemberId = MemberId(10);
const OTHER: MemberId = MemberId(20);

type Sends = Vec<(NodeId, Msg)>;
type Timers = Vec<(Duration, Timer)>;

struct Harness {
    consumer: Consumer,
    node: Detached<KafkaNode>,
    /// Every observation so far.
    observed: Vec<KafkaObs>,
    annotations: Vec<String>,
}

fn orders(partitions: &[u32]) -> Vec<TopicPartition> {
    partitions.iter().map(|&p| TopicPartition::new("orders", p)).collect()
}

impl Harness {
    fn new() -> Self {
        Harness::with(ConsumerSpec::groupless("c1", &["orders"]), orders(&[1]), true)
    }

    fn with(
        spec: ConsumerSpec,
        partitions: Vec<TopicPartition>,
        truncation_detection: bool,
    ) -> Self {
        let config = ConsumerConfig {
            index: 0,
            partitions,
            brokers: vec![B1, B2, B3],
            spec,
            truncation_detection,
        };
        Harness {
            consumer: Consumer::new(config),
            node: Detached::new(NodeId(9), SimRng::stream(1, "consumer-test")),
            observed: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// Runs a handler; returns what it sent and the timers it set.
    fn step(&mut self, f: impl FnOnce(&mut Consumer, &mut Ctx<'_>)) -> (Sends, Timers) {
        self.node.effects.clear();
        let mut ctx = self.node.context();
        f(&mut self.consumer, &mut ctx);
        self.observed.extend(self.node.effects.observations().iter().cloned());
        self.annotations.extend(self.node.effects.annotations.iter().cloned());
        let sends = self.node.effects.sends().to_vec();
        let timers =
            self.node.effects.timers_set().iter().map(|(_, d, t)| (*d, t.clone())).collect();
        (sends, timers)
    }

    fn msg(&mut self, from: NodeId, msg: Msg) -> (Sends, Timers) {
        self.step(|c, ctx| c.on_message(ctx, from, msg))
    }

    fn timer(&mut self, timer: Timer) -> (Sends, Timers) {
        self.step(|c, ctx| c.on_timer(ctx, timer))
    }

    fn poll(&mut self) -> Sends {
        self.timer(Timer::ConsumerPoll).0
    }

    fn metadata_for(
        &mut self,
        correlation_id: u64,
        tps: &[TopicPartition],
        leader: Option<NodeId>,
        epoch: u32,
    ) {
        let partitions = tps
            .iter()
            .map(|tp| PartitionMetadata { tp: tp.clone(), leader, leader_epoch: epoch })
            .collect();
        self.msg(B1, Msg::MetadataResponse { correlation_id, partitions });
    }

    fn metadata(&mut self, correlation_id: u64, leader: Option<NodeId>, epoch: u32) {
        self.metadata_for(correlation_id, &orders(&[1]), leader, epoch);
    }

    /// Observations since `from` (an index into `observed`).
    fn since(&self, from: usize) -> &[KafkaObs] {
        &self.observed[from..]
    }
}

fn metadata_request(sends: &[(NodeId, Msg)]) -> Option<u64> {
    sends.iter().find_map(|(_, m)| match m {
        Msg::MetadataRequest { correlation_id, .. } => Some(*correlation_id),
        _ => None,
    })
}

/// The fetch sent, as (broker, correlation id, epoch, offset).
fn fetch(sends: &[(NodeId, Msg)]) -> Option<(NodeId, u64, u32, u64)> {
    sends.iter().find_map(|(to, m)| match m {
        Msg::Fetch { correlation_id, current_leader_epoch, fetch_offset, .. } => {
            Some((*to, *correlation_id, *current_leader_epoch, *fetch_offset))
        }
        _ => None,
    })
}

fn started() -> Harness {
    let mut h = Harness::new();
    let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
    let cid = metadata_request(&sends).expect("metadata request on start");
    h.metadata(cid, Some(B2), 1);
    h
}

/// Seed 602's orders-1: the leader crashes with a fetch in flight (its response is
/// lost), comes back not knowing it leads (NOT_LEADER), and the controller moves the
/// leadership on. The consumer times the fetch out, refreshes, and follows the leader.
#[test]
fn a_lost_fetch_and_a_moved_leader_do_not_stall_the_partition() {
    let mut h = started();
    let (to, lost, epoch, offset) = fetch(&h.poll()).expect("first fetch");
    assert_eq!((to, epoch, offset), (B2, 1, 0));
    // While the fetch is out, polls do not send a second one.
    assert_eq!(fetch(&h.poll()), None);
    // The response never comes: the request times out, and metadata is refreshed.
    let timeout = Timer::RequestTimeout { correlation_id: lost };
    let (sends, timers) = h.step(|c, ctx| c.on_timer(ctx, timeout));
    let refresh = metadata_request(&sends).expect("a timed-out fetch refreshes metadata");
    assert!(timers.iter().all(|(d, _)| *d <= Duration::from_millis(REQUEST_TIMEOUT_MS)));
    // The next poll fetches again from the leader it knows.
    let (to, cid, _, _) = fetch(&h.poll()).expect("fetch retried after the timeout");
    assert_eq!(to, B2);
    // B2 restarted and answers NOT_LEADER: another refresh is wanted, and the metadata
    // names B3 in epoch 2.
    let response = Msg::FetchResponse {
        correlation_id: cid,
        tp: TopicPartition::new("orders", 1),
        error: Some(ErrorCode::NotLeaderOrFollower),
        high_watermark: 0,
        log_start_offset: 0,
        records: Vec::new(),
    };
    h.step(|c, ctx| c.on_message(ctx, B2, response));
    h.metadata(refresh, Some(B3), 2);
    let (to, _, epoch, offset) = fetch(&h.poll()).expect("fetch from the new leader");
    assert_eq!((to, epoch, offset), (B3, 2, 0));
}

/// While a partition has no leader the consumer asks again, with a bounded back-off, and
/// fetches as soon as a leader is named.
#[test]
fn a_leaderless_partition_is_retried_with_a_bounded_backoff() {
    let mut h = Harness::new();
    let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
    let mut cid = metadata_request(&sends).expect("metadata request on start");
    for _ in 0..20 {
        let tp = TopicPartition::new("orders", 1);
        let partitions = vec![PartitionMetadata { tp, leader: None, leader_epoch: 4 }];
        let msg = Msg::MetadataResponse { correlation_id: cid, partitions };
        let (_, timers) = h.step(|c, ctx| c.on_message(ctx, B1, msg));
        let (backoff, _) = timers
            .iter()
            .find(|(_, t)| matches!(t, Timer::Retry { tp: None }))
            .expect("a leaderless answer schedules a retry");
        assert!(*backoff <= Duration::from_millis(RETRY_BACKOFF_MAX_MS));
        assert_eq!(fetch(&h.poll()), None, "no leader, no fetch");
        let (sends, _) = h.step(|c, ctx| c.on_timer(ctx, Timer::Retry { tp: None }));
        cid = metadata_request(&sends).expect("the retry asks again");
    }
    h.metadata(cid, Some(B1), 5);
    let (to, _, epoch, _) = fetch(&h.poll()).expect("fetch once a leader is named");
    assert_eq!((to, epoch), (B1, 5));
}

// ---- The group consumer ----

fn member_spec(commit: CommitMode) -> ConsumerSpec {
    ConsumerSpec {
        commit,
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records: 3,
        ..ConsumerSpec::kafka_defaults("c1", &["orders"], "g")
    }
}

fn find<T>(sends: &[(NodeId, Msg)], pick: impl Fn(&NodeId, &Msg) -> Option<T>) -> Option<T> {
    sends.iter().find_map(|(to, m)| pick(to, m))
}

fn find_coordinator(sends: &[(NodeId, Msg)]) -> Option<u64> {
    find(sends, |_, m| match m {
        Msg::FindCoordinator { correlation_id, .. } => Some(*correlation_id),
        _ => None,
    })
}

/// The JoinGroup sent: (correlation id, member id).
fn join(sends: &[(NodeId, Msg)]) -> Option<(u64, Option<MemberId>)> {
    find(sends, |to, m| match m {
        Msg::JoinGroup { correlation_id, member_id, .. } => {
            assert_eq!(*to, COORD);
            Some((*correlation_id, *member_id))
        }
        _ => None,
    })
}

type Assignments = Vec<(MemberId, Vec<TopicPartition>)>;

fn sync(sends: &[(NodeId, Msg)]) -> Option<(u64, u32, Assignments)> {
    find(sends, |_, m| match m {
        Msg::SyncGroup { correlation_id, generation, assignments, .. } => {
            Some((*correlation_id, *generation, assignments.clone()))
        }
        _ => None,
    })
}

fn offset_fetch(sends: &[(NodeId, Msg)]) -> Option<(u64, Vec<TopicPartition>)> {
    find(sends, |_, m| match m {
        Msg::OffsetFetch { correlation_id, partitions, .. } => {
            Some((*correlation_id, partitions.clone()))
        }
        _ => None,
    })
}

type Offsets = Vec<(TopicPartition, CommittedOffset)>;

/// The OffsetCommit sent: (correlation id, generation, offsets).
fn offset_commit(sends: &[(NodeId, Msg)]) -> Option<(u64, Option<u32>, Offsets)> {
    find(sends, |_, m| match m {
        Msg::OffsetCommit { correlation_id, generation, offsets, .. } => {
            Some((*correlation_id, *generation, offsets.clone()))
        }
        _ => None,
    })
}

fn heartbeat(sends: &[(NodeId, Msg)]) -> Option<u64> {
    find(sends, |_, m| match m {
        Msg::Heartbeat { correlation_id, .. } => Some(*correlation_id),
        _ => None,
    })
}

fn list_offsets(sends: &[(NodeId, Msg)]) -> Option<(u64, OffsetSpec)> {
    find(sends, |_, m| match m {
        Msg::ListOffsets { correlation_id, spec, .. } => Some((*correlation_id, *spec)),
        _ => None,
    })
}

/// (to, correlation id, current leader epoch, last epoch).
fn epoch_request(sends: &[(NodeId, Msg)]) -> Option<(NodeId, u64, u32, u32)> {
    find(sends, |to, m| match m {
        Msg::OffsetsForLeaderEpoch {
            correlation_id, current_leader_epoch, leader_epoch, ..
        } => Some((*to, *correlation_id, *current_leader_epoch, *leader_epoch)),
        _ => None,
    })
}

fn has_timer(timers: &Timers, timer: &Timer) -> bool {
    timers.iter().any(|(_, t)| std::mem::discriminant(t) == std::mem::discriminant(timer))
}

fn records(from: u64, to: u64, epoch: u32) -> Vec<Record> {
    (from..to).map(|o| Record::data(o, epoch, 0, 1000 + o)).collect()
}

fn fetch_response(correlation_id: u64, tp: TopicPartition, records: Vec<Record>) -> Msg {
    Msg::FetchResponse {
        correlation_id,
        tp,
        error: None,
        high_watermark: 100,
        log_start_offset: 0,
        records,
    }
}

/// Starts a member, answers metadata (B2 leads every partition in epoch 1) and the
/// coordinator lookup; returns the harness and the JoinGroup's correlation id.
fn joining(
    spec: ConsumerSpec,
    partitions: Vec<TopicPartition>,
    truncation_detection: bool,
) -> (Harness, u64) {
    let mut h = Harness::with(spec, partitions.clone(), truncation_detection);
    let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
    let meta = metadata_request(&sends).expect("metadata on start");
    h.metadata_for(meta, &partitions, Some(B2), 1);
    let find = find_coordinator(&sends).expect("a member looks its coordinator up");
    let (sends, _) =
        h.msg(B3, Msg::FindCoordinatorResponse { correlation_id: find, result: Ok(COORD) });
    let (cid, member_id) = join(&sends).expect("then joins");
    assert_eq!(member_id, None, "a new member has no id");
    (h, cid)
}

/// Joins as the only member and gets every partition in generation 1; returns the
/// OffsetFetch's correlation id.
fn stable(h: &mut Harness, join_cid: u64) -> u64 {
    let members = vec![(ME, vec![Arc::from("orders")])];
    let joined =
        JoinResult { generation: 1, member_id: ME, leader: ME, assignor: Assignor::Range, members };
    let (sends, _) =
        h.msg(COORD, Msg::JoinGroupResponse { correlation_id: join_cid, result: Ok(joined) });
    let (sync_cid, _, assignments) = sync(&sends).expect("sync after joining");
    let mine = assignments[0].1.clone();
    let (sends, _) =
        h.msg(COORD, Msg::SyncGroupResponse { correlation_id: sync_cid, result: Ok(mine) });
    offset_fetch(&sends).expect("positions are fetched after the assignment").0
}

/// A member of one partition (orders-0) at position 0, its first fetch out.
fn member_at_zero(commit: CommitMode) -> (Harness, u64) {
    let (mut h, join_cid) = joining(member_spec(commit), orders(&[0]), true);
    let fetch_cid = stable(&mut h, join_cid);
    let committed = vec![(
        TopicPartition::new("orders", 0),
        Some(CommittedOffset { offset: 0, leader_epoch: None }),
    )];
    let (sends, _) =
        h.msg(COORD, Msg::OffsetFetchResponse { correlation_id: fetch_cid, result: Ok(committed) });
    let (to, cid, _, offset) = fetch(&sends).expect("fetches from the committed offset");
    assert_eq!((to, offset), (B2, 0));
    (h, cid)
}

/// The leader of a two-member group computes the assignment with the group's assignor.
#[test]
fn the_leader_assigns_with_range_and_round_robin() {
    for (assignor, mine, theirs) in
        [(Assignor::Range, vec![0, 1], vec![2, 3]), (Assignor::RoundRobin, vec![0, 2], vec![1, 3])]
    {
        let spec = ConsumerSpec { assignor, ..member_spec(CommitMode::Auto) };
        let (mut h, join_cid) = joining(spec, orders(&[0, 1, 2, 3]), true);
        let members = vec![(OTHER, vec![Arc::from("orders")]), (ME, vec![Arc::from("orders")])];
        let joined = JoinResult { generation: 4, member_id: ME, leader: ME, assignor, members };
        let (sends, _) =
            h.msg(COORD, Msg::JoinGroupResponse { correlation_id: join_cid, result: Ok(joined) });
        let (sync_cid, generation, assignments) = sync(&sends).expect("the leader syncs");
        assert_eq!(generation, 4);
        assert_eq!(
            assignments,
            vec![(ME, orders(&mine)), (OTHER, orders(&theirs))],
            "{assignor:?}"
        );
        let at = h.observed.len();
        let (sends, _) = h.msg(
            COORD,
            Msg::SyncGroupResponse { correlation_id: sync_cid, result: Ok(orders(&mine)) },
        );
        assert_eq!(
            h.since(at)[..1],
            [KafkaObs::Assigned {
                group: Some(Arc::from("g")),
                generation: Some(4),
                member_id: Some(ME),
                partitions: orders(&mine),
            }]
        );
        assert_eq!(offset_fetch(&sends).expect("offsets of the assignment").1, orders(&mine));
    }
}

/// A follower sends an empty SyncGroup.
#[test]
fn a_follower_sends_no_assignment() {
    let (mut h, join_cid) = joining(member_spec(CommitMode::Auto), orders(&[0, 1]), true);
    let joined = JoinResult {
        generation: 2,
        member_id: ME,
        leader: OTHER,
        assignor: Assignor::Range,
        members: vec![],
    };
    let (sends, _) =
        h.msg(COORD, Msg::JoinGroupResponse { correlation_id: join_cid, result: Ok(joined) });
    let (_, generation, assignments) = sync(&sends).expect("followers sync too");
    assert_eq!((generation, assignments), (2, vec![]));
}

/// A committed offset becomes the position (validated first, as it names an epoch);
/// without one, `auto.offset.reset` asks the leader for the earliest or latest offset;
/// with `none` the partition is not read.
#[test]
fn positions_come_from_committed_offsets_or_auto_offset_reset() {
    let (mut h, join_cid) = joining(member_spec(CommitMode::Auto), orders(&[0]), true);
    let cid = stable(&mut h, join_cid);
    let tp = TopicPartition::new("orders", 0);
    let committed = CommittedOffset { offset: 7, leader_epoch: Some(1) };
    let at = h.observed.len();
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetFetchResponse {
            correlation_id: cid,
            result: Ok(vec![(tp.clone(), Some(committed))]),
        },
    );
    assert!(
        matches!(&h.since(at)[0], KafkaObs::OffsetFetched { offset: Some(o), .. } if *o == committed)
    );
    assert_eq!(
        h.since(at)[1],
        KafkaObs::PositionReset { tp: tp.clone(), from: 0, to: 7, reason: ResetReason::Committed }
    );
    let (to, vcid, current, last) = epoch_request(&sends).expect("KIP-320 validation first");
    assert_eq!((to, current, last), (B2, 1, 1));
    assert_eq!(fetch(&sends), None, "no fetch before the position is validated");
    let (sends, _) = h.msg(
        B2,
        Msg::OffsetsForLeaderEpochResponse {
            correlation_id: vcid,
            tp: tp.clone(),
            result: Ok(Some((1, 9))),
        },
    );
    assert_eq!(fetch(&sends).map(|f| f.3), Some(7));

    for (policy, spec, offset) in [
        (AutoOffsetReset::Earliest, OffsetSpec::Earliest, 3),
        (AutoOffsetReset::Latest, OffsetSpec::Latest, 42),
    ] {
        let spec_ = ConsumerSpec { auto_offset_reset: policy, ..member_spec(CommitMode::Auto) };
        let (mut h, join_cid) = joining(spec_, orders(&[0]), true);
        let cid = stable(&mut h, join_cid);
        let (sends, _) = h.msg(
            COORD,
            Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp.clone(), None)]) },
        );
        let (lcid, asked) = list_offsets(&sends).expect("nothing committed: ListOffsets");
        assert_eq!(asked, spec);
        let at = h.observed.len();
        let (sends, _) = h.msg(
            B2,
            Msg::ListOffsetsResponse {
                correlation_id: lcid,
                tp: tp.clone(),
                result: Ok((offset, 1)),
            },
        );
        assert_eq!(
            h.since(at),
            [KafkaObs::PositionReset {
                tp: tp.clone(),
                from: 0,
                to: offset,
                reason: ResetReason::AutoOffsetReset
            }]
        );
        assert_eq!(fetch(&sends).map(|f| f.3), Some(offset));
    }

    let spec =
        ConsumerSpec { auto_offset_reset: AutoOffsetReset::None, ..member_spec(CommitMode::Auto) };
    let (mut h, join_cid) = joining(spec, orders(&[0]), true);
    let cid = stable(&mut h, join_cid);
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp.clone(), None)]) },
    );
    assert_eq!(list_offsets(&sends), None);
    assert_eq!(fetch(&h.poll()), None, "a partition without an offset is not read");
    assert!(h.annotations.iter().any(|a| a.contains("NO_OFFSET")));
}

/// Reads three records (a full poll) at position 0 and returns the sends of that step.
fn read_three(h: &mut Harness, fetch_cid: u64) -> (Sends, Timers) {
    let tp = TopicPartition::new("orders", 0);
    let (sends, timers) = h.msg(B2, fetch_response(fetch_cid, tp.clone(), records(0, 3, 1)));
    let reads = h.observed.iter().filter(|o| matches!(o, KafkaObs::Read { .. })).count();
    assert_eq!(reads, 3);
    (sends, timers)
}

/// Heartbeats go on; REBALANCE_IN_PROGRESS makes the next poll commit (auto) the positions
/// of what was returned, observe the revocation, and rejoin with the same member id.
#[test]
fn rebalance_in_progress_commits_then_rejoins() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::Auto);
    let (_, timers) = read_three(&mut h, fetch_cid);
    assert!(has_timer(&timers, &Timer::ProcessingDone));
    h.node.now = Instant::from_nanos(3_000_000_000);
    let (sends, _) = h.timer(Timer::GroupHeartbeat);
    let hb = heartbeat(&sends).expect("heartbeats while processing");
    let (sends, _) = h.msg(
        COORD,
        Msg::HeartbeatResponse { correlation_id: hb, error: Some(ErrorCode::RebalanceInProgress) },
    );
    assert_eq!(offset_commit(&sends), None, "the application is processing: nothing yet");
    assert!(!h.observed.iter().any(|o| matches!(o, KafkaObs::Revoked { .. })));
    // Processing ends; the next poll commits before revoking.
    let (sends, _) = h.timer(Timer::ProcessingDone);
    let (ccid, generation, offsets) = offset_commit(&sends).expect("auto-commit before revoking");
    let tp = TopicPartition::new("orders", 0);
    assert_eq!(generation, Some(1));
    assert_eq!(offsets, vec![(tp.clone(), CommittedOffset { offset: 3, leader_epoch: Some(1) })]);
    assert_eq!(join(&sends), None, "rejoins only after the commit");
    let at = h.observed.len();
    let (sends, _) =
        h.msg(COORD, Msg::OffsetCommitResponse { correlation_id: ccid, result: Ok(()) });
    assert!(matches!(&h.since(at)[0], KafkaObs::CommitDone { result: Ok(()), .. }));
    assert_eq!(
        h.since(at)[1],
        KafkaObs::Revoked {
            group: Arc::from("g"),
            generation: 1,
            partitions: vec![tp],
            reason: RevokeReason::Rebalance
        }
    );
    assert_eq!(join(&sends).expect("rejoins").1, Some(ME));
}

/// ILLEGAL_GENERATION on a heartbeat: the partitions are lost without a commit and the
/// member rejoins with its id; UNKNOWN_MEMBER_ID also forgets the id.
#[test]
fn a_fenced_member_revokes_without_committing() {
    for (error, rejoin_id) in
        [(ErrorCode::IllegalGeneration, Some(ME)), (ErrorCode::UnknownMemberId, None)]
    {
        let (mut h, fetch_cid) = member_at_zero(CommitMode::Auto);
        read_three(&mut h, fetch_cid);
        h.timer(Timer::ProcessingDone);
        h.node.now = Instant::from_nanos(6_000_000_000);
        // The auto-commit interval passed too: still, a fenced member does not commit.
        h.consumer.auto_commit_due = true;
        let hb = heartbeat(&h.timer(Timer::GroupHeartbeat).0).expect("heartbeat");
        let at = h.observed.len();
        let (sends, _) =
            h.msg(COORD, Msg::HeartbeatResponse { correlation_id: hb, error: Some(error) });
        assert_eq!(offset_commit(&sends), None, "{error}: no commit");
        assert_eq!(
            h.since(at),
            [KafkaObs::Revoked {
                group: Arc::from("g"),
                generation: 1,
                partitions: orders(&[0]),
                reason: RevokeReason::Fenced
            }]
        );
        assert_eq!(join(&sends).expect("rejoins").1, rejoin_id, "{error}");
    }
}

/// Auto commit: nothing before `auto.commit.interval.ms`, then the next poll commits the
/// positions of what earlier polls returned.
#[test]
fn auto_commit_commits_on_its_interval() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::Auto);
    let (sends, _) = read_three(&mut h, fetch_cid);
    assert_eq!(offset_commit(&sends), None);
    let (sends, _) = h.timer(Timer::ProcessingDone);
    assert_eq!(offset_commit(&sends), None, "not due yet");
    let (sends, timers) = h.timer(Timer::AutoCommit);
    assert!(has_timer(&timers, &Timer::AutoCommit), "the interval goes on");
    let (_, _, offsets) = offset_commit(&sends).expect("due: the poll commits");
    assert_eq!(
        offsets,
        vec![(
            TopicPartition::new("orders", 0),
            CommittedOffset { offset: 3, leader_epoch: Some(1) }
        )]
    );
}

/// After-process: the commit follows the processing of each poll's records.
#[test]
fn after_process_commits_once_processed() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::AfterProcess);
    let (sends, _) = read_three(&mut h, fetch_cid);
    assert_eq!(offset_commit(&sends), None, "nothing before processing");
    let at = h.observed.len();
    let (sends, _) = h.timer(Timer::ProcessingDone);
    let tp = TopicPartition::new("orders", 0);
    assert_eq!(
        h.since(at)[..1],
        [KafkaObs::Processed { group: Some(Arc::from("g")), tp: tp.clone(), first: 0, last: 2 }]
    );
    let (ccid, _, offsets) = offset_commit(&sends).expect("commit after processing");
    assert_eq!(offsets[0].1.offset, 3);
    // A retriable failure is retried; the success is observed once, with the first
    // attempt's invocation time.
    h.node.now = Instant::from_nanos(1_000_000);
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetCommitResponse {
            correlation_id: ccid,
            result: Err(ErrorCode::CoordinatorLoadInProgress),
        },
    );
    assert_eq!(offset_commit(&sends), None, "after a back-off");
    let (sends, _) = h.timer(Timer::CoordinatorRetry);
    let (ccid, _, _) = offset_commit(&sends).expect("retried");
    let at = h.observed.len();
    h.msg(COORD, Msg::OffsetCommitResponse { correlation_id: ccid, result: Ok(()) });
    let sent_ops: Vec<u64> = h
        .since(0)
        .iter()
        .filter_map(|o| match o {
            KafkaObs::CommitSent { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    assert_eq!(sent_ops.len(), 2, "both attempts are in the history: {sent_ops:?}");
    assert_eq!(sent_ops[0], sent_ops[1], "one operation over its attempts");
    assert!(matches!(
        &h.since(at)[0],
        KafkaObs::CommitDone { result: Ok(()), op, .. } if *op == sent_ops[0]
    ));
}

/// Before-process: the new positions are committed before processing starts, and the
/// batch is processed once the commit succeeded.
#[test]
fn before_process_commits_before_processing() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::BeforeProcess);
    let (sends, timers) = read_three(&mut h, fetch_cid);
    let (ccid, _, offsets) = offset_commit(&sends).expect("commit right after the poll");
    assert_eq!(offsets[0].1.offset, 3);
    assert!(!has_timer(&timers, &Timer::ProcessingDone), "processing waits for the commit");
    let (_, timers) =
        h.msg(COORD, Msg::OffsetCommitResponse { correlation_id: ccid, result: Ok(()) });
    assert!(has_timer(&timers, &Timer::ProcessingDone));
}

/// The leader moves to B3 in epoch 2, whose log ends epoch 1 at 2, below the position 3:
/// the consumer goes back to 2. With detection off it fetches on from 3.
#[test]
fn kip320_validation_resets_to_the_divergence_point() {
    for detection in [true, false] {
        let (mut h, join_cid) = joining(member_spec(CommitMode::Auto), orders(&[0]), detection);
        let cid = stable(&mut h, join_cid);
        let tp = TopicPartition::new("orders", 0);
        let zero = Some(CommittedOffset { offset: 0, leader_epoch: None });
        let (sends, _) = h.msg(
            COORD,
            Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp.clone(), zero)]) },
        );
        let fetch_cid = fetch(&sends).expect("fetch").1;
        // The poll that returned 0..=2 fetches on from 3, and meets a deposed leader.
        let (sends, _) = read_three(&mut h, fetch_cid);
        let (_, cid, _, offset) = fetch(&sends).expect("fetch on");
        assert_eq!(offset, 3);
        h.timer(Timer::ProcessingDone);
        let error = Msg::FetchResponse {
            correlation_id: cid,
            tp: tp.clone(),
            error: Some(ErrorCode::NotLeaderOrFollower),
            high_watermark: 0,
            log_start_offset: 0,
            records: vec![],
        };
        let (sends, _) = h.msg(B2, error);
        let meta = metadata_request(&sends).expect("refresh");
        h.metadata_for(meta, std::slice::from_ref(&tp), Some(B3), 2);
        let sends = h.poll();
        if !detection {
            assert_eq!(epoch_request(&sends), None);
            assert_eq!(fetch(&sends).map(|f| (f.0, f.3)), Some((B3, 3)), "C3: fetches on");
            continue;
        }
        assert_eq!(fetch(&sends), None);
        let (to, vcid, current, last) = epoch_request(&sends).expect("validation");
        assert_eq!((to, current, last), (B3, 2, 1));
        let at = h.observed.len();
        let (sends, _) = h.msg(
            B3,
            Msg::OffsetsForLeaderEpochResponse {
                correlation_id: vcid,
                tp: tp.clone(),
                result: Ok(Some((1, 2))),
            },
        );
        assert_eq!(
            h.since(at),
            [KafkaObs::PositionReset {
                tp: tp.clone(),
                from: 3,
                to: 2,
                reason: ResetReason::Truncation
            }]
        );
        assert_eq!(fetch(&sends).map(|f| (f.0, f.3)), Some((B3, 2)));
    }
}

/// Processing longer than `max.poll.interval.ms`: the heartbeat side leaves the group;
/// the next poll revokes (without a commit) and rejoins as a new member.
#[test]
fn max_poll_interval_expiry_leaves_the_group() {
    let spec = ConsumerSpec {
        processing_ms: 60_000,
        max_poll_interval_ms: 10_000,
        ..member_spec(CommitMode::AfterProcess)
    };
    let (mut h, join_cid) = joining(spec, orders(&[0]), true);
    let cid = stable(&mut h, join_cid);
    let zero = Some(CommittedOffset { offset: 0, leader_epoch: None });
    let tp = TopicPartition::new("orders", 0);
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp.clone(), zero)]) },
    );
    read_three(&mut h, fetch(&sends).expect("fetch").1);
    // Heartbeats every 3 s while the application processes, until 10 s passed.
    let mut left = false;
    for s in [3, 6, 9, 10] {
        h.node.now = Instant::from_nanos(s * 1_000_000_000);
        let (sends, _) = h.timer(Timer::GroupHeartbeat);
        if let Some(hb) = heartbeat(&sends) {
            h.msg(COORD, Msg::HeartbeatResponse { correlation_id: hb, error: None });
        }
        if sends.iter().any(|(_, m)| matches!(m, Msg::LeaveGroup { member_id: ME, .. })) {
            left = true;
            assert_eq!(s, 10);
        }
    }
    assert!(left, "the member left the group");
    h.node.now = Instant::from_nanos(60_000_000_000);
    let at = h.observed.len();
    let (sends, _) = h.timer(Timer::ProcessingDone);
    assert_eq!(offset_commit(&sends), None, "no generation, no commit");
    assert!(matches!(&h.since(at)[0], KafkaObs::Processed { .. }), "the batch was processed");
    assert_eq!(
        h.since(at)[1],
        KafkaObs::Revoked {
            group: Arc::from("g"),
            generation: 1,
            partitions: vec![tp],
            reason: RevokeReason::PollTimeout
        }
    );
    assert_eq!(join(&sends).expect("rejoins at the next poll").1, None);
}

/// A restarted consumer is a new member and reads on from the committed offset.
#[test]
fn a_restarted_member_resumes_from_committed_offsets() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::AfterProcess);
    read_three(&mut h, fetch_cid);
    // The process crashes: a fresh consumer on the same disk.
    let config = (*h.consumer.config).clone();
    h.consumer = Consumer::new(config);
    let at = h.observed.len();
    let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
    assert_eq!(h.since(at), [KafkaObs::Restarted]);
    let meta = metadata_request(&sends).expect("metadata");
    h.metadata_for(meta, &orders(&[0]), Some(B2), 1);
    let find = find_coordinator(&sends).expect("lookup");
    let (sends, _) =
        h.msg(B3, Msg::FindCoordinatorResponse { correlation_id: find, result: Ok(COORD) });
    let (join_cid, member_id) = join(&sends).expect("joins");
    assert_eq!(member_id, None, "a new member");
    let cid = stable(&mut h, join_cid);
    let tp = TopicPartition::new("orders", 0);
    let committed = Some(CommittedOffset { offset: 2, leader_epoch: None });
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp, committed)]) },
    );
    assert_eq!(fetch(&sends).map(|f| f.3), Some(2));
}

/// `assign` with a group: every partition, positions from the group, commits outside
/// group management (no generation, no member id).
#[test]
fn an_assigning_consumer_commits_without_a_generation() {
    let spec = ConsumerSpec { mode: ConsumerMode::Assign, ..member_spec(CommitMode::AfterProcess) };
    let mut h = Harness::with(spec, orders(&[0]), true);
    let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
    h.metadata_for(metadata_request(&sends).expect("metadata"), &orders(&[0]), Some(B2), 1);
    let find = find_coordinator(&sends).expect("lookup");
    let (sends, _) =
        h.msg(B3, Msg::FindCoordinatorResponse { correlation_id: find, result: Ok(COORD) });
    assert_eq!(join(&sends), None, "assign joins no group");
    let (cid, partitions) = offset_fetch(&sends).expect("positions from the group");
    assert_eq!(partitions, orders(&[0]));
    let zero = Some(CommittedOffset { offset: 0, leader_epoch: None });
    let tp = TopicPartition::new("orders", 0);
    let (sends, _) = h
        .msg(COORD, Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp, zero)]) });
    read_three(&mut h, fetch(&sends).expect("fetch").1);
    let (sends, _) = h.timer(Timer::ProcessingDone);
    let (_, generation, offsets) = offset_commit(&sends).expect("commit");
    assert_eq!((generation, offsets[0].1.offset), (None, 3));
}

/// An auto-commit that gets no answer is observed as unknown (REQUEST_TIMED_OUT), is not
/// retried, and the application polls on.
#[test]
fn an_unanswered_auto_commit_is_unknown_and_not_retried() {
    let (mut h, fetch_cid) = member_at_zero(CommitMode::Auto);
    read_three(&mut h, fetch_cid);
    h.timer(Timer::ProcessingDone);
    let (sends, _) = h.timer(Timer::AutoCommit);
    let (ccid, _, _) = offset_commit(&sends).expect("auto-commit");
    let at = h.observed.len();
    let (sends, _) = h.timer(Timer::RequestTimeout { correlation_id: ccid });
    assert!(matches!(
        &h.since(at)[0],
        KafkaObs::CommitDone { result: Err(ErrorCode::RequestTimedOut), offset, .. } if offset.offset == 3
    ));
    assert_eq!(offset_commit(&sends), None, "not retried");
    assert!(find_coordinator(&sends).is_some(), "the coordinator is looked up again");
    assert!(matches!(h.consumer.app, App::Polling));
}

/// A member that does not know it was fenced (a paused process) still processes and
/// commits with its old generation: the coordinator refuses, and only then does it revoke
/// (Fenced) and rejoin. The records it fetched meanwhile are dropped.
#[test]
fn a_zombie_commits_with_its_old_generation_until_told() {
    let spec = ConsumerSpec { max_poll_records: 2, ..member_spec(CommitMode::AfterProcess) };
    let (mut h, join_cid) = joining(spec, orders(&[0]), true);
    let cid = stable(&mut h, join_cid);
    let tp = TopicPartition::new("orders", 0);
    let zero = Some(CommittedOffset { offset: 0, leader_epoch: None });
    let (sends, _) = h.msg(
        COORD,
        Msg::OffsetFetchResponse { correlation_id: cid, result: Ok(vec![(tp.clone(), zero)]) },
    );
    // Three records arrive; the poll returns two, one stays buffered.
    h.msg(B2, fetch_response(fetch(&sends).expect("fetch").1, tp.clone(), records(0, 3, 1)));
    h.node.now = Instant::from_nanos(50_000_000_000);
    let (sends, _) = h.timer(Timer::ProcessingDone);
    let (ccid, generation, offsets) = offset_commit(&sends).expect("the zombie commits");
    assert_eq!((generation, offsets[0].1.offset), (Some(1), 2));
    let at = h.observed.len();
    let refused = Err(ErrorCode::IllegalGeneration);
    let (sends, _) =
        h.msg(COORD, Msg::OffsetCommitResponse { correlation_id: ccid, result: refused });
    assert!(matches!(
        &h.since(at)[0],
        KafkaObs::CommitDone { result: Err(ErrorCode::IllegalGeneration), .. }
    ));
    assert_eq!(
        h.since(at)[1],
        KafkaObs::Revoked {
            group: Arc::from("g"),
            generation: 1,
            partitions: vec![tp],
            reason: RevokeReason::Fenced
        }
    );
    assert_eq!(h.since(at).len(), 2, "the buffered record is dropped, not read");
    assert_eq!(join(&sends).expect("rejoins").1, Some(ME));
}
