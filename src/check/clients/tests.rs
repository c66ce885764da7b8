//! Hand-made histories: each anomaly alone is found with its partition, group and offsets;
//! the legal cases around it (rebalances, timed-out commits that applied, commits just
//! before a partition moved, re-reads, a group starting at `latest`) stay silent.

use super::*;
use crate::kafka::protocol::{CommittedOffset, ErrorCode, record_value};
use crate::sim::time::Duration;

// Node ids of the layout below: b1..b3 = 0..2, controller 3, p1 4, p2 5, c1 6, c2 7, c3 8.
const B1: NodeId = NodeId(0);
const P1: NodeId = NodeId(4);
const C1: NodeId = NodeId(6);
const C2: NodeId = NodeId(7);
const C3: NodeId = NodeId(8);
const M1: MemberId = MemberId(1);
const M2: MemberId = MemberId(2);

fn scenario() -> Scenario {
    let text = r#"
        name = "clients"
        description = "two producers, three consumers of one topic"
        [run]
        duration = "1s"
        [cluster]
        brokers = 3
        [[topics]]
        name = "t"
        partitions = 2
        replication_factor = 3
        [[producers]]
        name = "p1"
        topic = "t"
        rate = 1
        [[producers]]
        name = "p2"
        topic = "t"
        rate = 1
        [[consumers]]
        name = "c1"
        topics = ["t"]
        [[consumers]]
        name = "c2"
        topics = ["t"]
        [[consumers]]
        name = "c3"
        topics = ["t"]
    "#;
    crate::scenario::parse("clients.toml", text).expect("valid test scenario")
}

fn layout() -> Layout {
    Layout::new(&scenario())
}

fn tp(p: u32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// p1's values.
fn v(seq: u64) -> u64 {
    record_value(0, 0, seq)
}

/// p2's values.
fn w(seq: u64) -> u64 {
    record_value(1, 0, seq)
}

/// A history under construction; `done` puts it in time order, as the kernel records it.
#[derive(Default)]
struct History(Vec<Observed<KafkaObs>>);

impl History {
    fn obs(&mut self, ms: u64, node: NodeId, obs: KafkaObs) -> &mut Self {
        self.0.push(Observed { time: at(ms), node, obs });
        self
    }

    /// A fresh operation id: the history's length is unique at every call.
    fn next_op(&self) -> u64 {
        self.0.len() as u64 + 1
    }

    fn producer_id(&mut self, ms: u64, producer: NodeId) -> &mut Self {
        self.obs(ms, producer, KafkaObs::ProducerId { producer_id: 7, producer_epoch: 0 })
    }

    fn ack(&mut self, ms: u64, producer: NodeId, p: u32, offset: u64, value: u64) -> &mut Self {
        self.ack_in(ms, producer, p, offset, value, 1)
    }

    fn ack_in(
        &mut self,
        ms: u64,
        producer: NodeId,
        p: u32,
        offset: u64,
        value: u64,
        leader_epoch: u32,
    ) -> &mut Self {
        let obs = KafkaObs::Acked { tp: tp(p), key: 0, value, offset, leader: B1, leader_epoch };
        self.obs(ms, producer, obs)
    }

    fn read(&mut self, ms: u64, consumer: NodeId, p: u32, offset: u64, value: u64) -> &mut Self {
        let obs = KafkaObs::Read { tp: tp(p), key: 0, value, offset, leader_epoch: 1, broker: B1 };
        self.obs(ms, consumer, obs)
    }

    /// Reads `offsets` of partition `p` holding `value(offset)`.
    fn reads(
        &mut self,
        ms: u64,
        consumer: NodeId,
        p: u32,
        offsets: std::ops::Range<u64>,
        value: impl Fn(u64) -> u64,
    ) -> &mut Self {
        for offset in offsets {
            self.read(ms, consumer, p, offset, value(offset));
        }
        self
    }

    fn processed(&mut self, ms: u64, consumer: NodeId, p: u32, first: u64, last: u64) -> &mut Self {
        let group = Some(group_of(consumer));
        self.obs(ms, consumer, KafkaObs::Processed { group, tp: tp(p), first, last })
    }

    fn reset(
        &mut self,
        ms: u64,
        consumer: NodeId,
        p: u32,
        (from, to): (u64, u64),
        reason: ResetReason,
    ) -> &mut Self {
        self.obs(ms, consumer, KafkaObs::PositionReset { tp: tp(p), from, to, reason })
    }

    fn assigned(
        &mut self,
        ms: u64,
        consumer: NodeId,
        generation: u32,
        member: MemberId,
        partitions: &[u32],
    ) -> &mut Self {
        let obs = KafkaObs::Assigned {
            group: Some(group_of(consumer)),
            generation: Some(generation),
            member_id: Some(member),
            partitions: partitions.iter().map(|&p| tp(p)).collect(),
        };
        self.obs(ms, consumer, obs)
    }

    /// An OffsetCommit of `offset` in partition `p`, invoked at `invoked_ms`, completed at
    /// `ms` with `result`, from `member` in `generation`.
    fn commit(
        &mut self,
        (invoked_ms, ms): (u64, u64),
        consumer: NodeId,
        (generation, member): (u32, MemberId),
        p: u32,
        offset: u64,
        result: Result<(), ErrorCode>,
    ) -> &mut Self {
        let op = self.next_op();
        let offset = CommittedOffset { offset, leader_epoch: Some(1) };
        let sent = KafkaObs::CommitSent {
            op,
            group: group_of(consumer),
            generation: Some(generation),
            member_id: Some(member),
            offsets: vec![(tp(p), offset)],
        };
        self.obs(invoked_ms, consumer, sent);
        let obs = KafkaObs::CommitDone {
            op,
            group: group_of(consumer),
            generation: Some(generation),
            member_id: Some(member),
            tp: tp(p),
            offset,
            result,
        };
        self.obs(ms, consumer, obs)
    }

    fn fetched(
        &mut self,
        (invoked_ms, ms): (u64, u64),
        consumer: NodeId,
        p: u32,
        offset: Option<u64>,
    ) -> &mut Self {
        let op = self.next_op();
        let sent =
            KafkaObs::OffsetFetchSent { op, group: group_of(consumer), partitions: vec![tp(p)] };
        self.obs(invoked_ms, consumer, sent);
        let obs = KafkaObs::OffsetFetched {
            op,
            group: group_of(consumer),
            tp: tp(p),
            offset: offset.map(|offset| CommittedOffset { offset, leader_epoch: Some(1) }),
        };
        self.obs(ms, consumer, obs)
    }

    fn done(&mut self) -> Vec<Observed<KafkaObs>> {
        let mut history = std::mem::take(&mut self.0);
        history.sort_by_key(|o| o.time);
        history
    }
}

/// c1 and c2 are group `g`; c3 is group `h`.
fn group_of(consumer: NodeId) -> Arc<str> {
    Arc::from(if consumer == C3 { "h" } else { "g" })
}

fn facts() -> RunFacts {
    let groups = [C1, C2, C3].into_iter().map(|c| (c, group_of(c))).collect();
    let final_logs = [(tp(0), (0..10).map(|o| (o, v(o))).collect()), (tp(1), t1_log())];
    RunFacts { groups, final_logs: final_logs.into_iter().collect() }
}

/// Partition t-1 holds p1's records 100..104 at offsets 0..4.
fn t1_log() -> Vec<(u64, u64)> {
    (0..4).map(|o| (o, v(100 + o))).collect()
}

/// Group g: c1 owns both partitions in generation 1, reads from the start and commits;
/// in generation 2 t-0 moves to c2, which takes up the committed offset, while c1 keeps
/// t-1 and goes back to its committed offset. c1's commit of generation 1 invoked before
/// the move completes after it. c2's last commit times out but was applied: a later fetch
/// returns it. Group h (c3) starts at `latest`, offset 7 of t-0.
fn clean() -> History {
    let mut h = History::default();
    h.producer_id(1, P1);
    for o in 0..10 {
        h.ack(10 + o, P1, 0, o, v(o));
    }
    for o in 0..4 {
        h.ack(10, P1, 1, o, v(100 + o));
    }
    h.assigned(20, C1, 1, M1, &[0, 1])
        .fetched((20, 21), C1, 0, None)
        .fetched((20, 21), C1, 1, None)
        .reset(22, C1, 0, (0, 0), ResetReason::AutoOffsetReset)
        .reset(22, C1, 1, (0, 0), ResetReason::AutoOffsetReset)
        .reads(30, C1, 0, 0..5, v)
        .reads(30, C1, 1, 0..4, |o| v(100 + o))
        .processed(35, C1, 0, 0, 4)
        .processed(35, C1, 1, 0, 1)
        .commit((45, 50), C1, (1, M1), 0, 5, Ok(()))
        .commit((45, 50), C1, (1, M1), 1, 2, Ok(()))
        .commit((55, 65), C1, (1, M1), 0, 5, Ok(()))
        .assigned(60, C2, 2, M2, &[0])
        .assigned(60, C1, 2, M1, &[1])
        .fetched((60, 61), C2, 0, Some(5))
        .reset(62, C2, 0, (0, 5), ResetReason::Committed)
        .fetched((61, 62), C1, 1, Some(2))
        .reset(62, C1, 1, (4, 2), ResetReason::Committed)
        .reads(70, C2, 0, 5..10, v)
        .reads(70, C1, 1, 2..4, |o| v(100 + o))
        .processed(75, C2, 0, 5, 9)
        .processed(75, C1, 1, 2, 3)
        .commit((100, 130), C2, (2, M2), 0, 10, Err(ErrorCode::RequestTimedOut))
        .fetched((140, 150), C2, 0, Some(10))
        .assigned(20, C3, 1, M1, &[0])
        .reset(22, C3, 0, (0, 7), ResetReason::AutoOffsetReset)
        .reads(30, C3, 0, 7..10, v)
        .processed(35, C3, 0, 7, 9)
        .commit((40, 45), C3, (1, M1), 0, 10, Ok(()));
    h
}

fn check_clients(history: &[Observed<KafkaObs>]) -> Vec<Violation> {
    check(history, &layout(), &facts())
}

fn invariants(violations: &[Violation]) -> Vec<&'static str> {
    violations.iter().map(|v| v.invariant).collect()
}

fn assert_mentions(violation: &Violation, needles: &[&str]) {
    for needle in needles {
        assert!(violation.detail.contains(needle), "{needle:?} not in {}", violation.detail);
    }
}

#[test]
fn clean_group_history_is_silent() {
    let history = clean().done();
    assert_eq!(check_clients(&history), vec![]);
    // The poll checks accept the moves too: c2 starts t-0 at the committed 5, c1 goes back
    // on t-1 to its committed 2, c3 starts at 7.
    let end = at(60_000);
    let grace = Duration::ZERO;
    let history = crate::history::from_observations(&history, &scenario(), &layout(), end, grace);
    assert_eq!(super::super::history::check(&history, end.as_nanos(), 0), vec![]);
}

#[test]
fn every_client_invariant_is_known() {
    for name in [
        "commit-ahead-of-processing",
        "lost-commit",
        "split-assignment",
        "zombie-commit",
        "missed-record",
    ] {
        assert!(super::super::INVARIANTS.contains(&name), "{name}");
    }
}

#[test]
fn consumer_groups_come_from_the_scenario() {
    let mut scenario = scenario();
    scenario.consumers[1].group = Some("g".to_string());
    let groups = consumer_groups(&scenario, &Layout::new(&scenario));
    assert_eq!(groups, [(C2, Arc::from("g"))].into_iter().collect());
}

#[test]
fn commit_ahead_of_processing_when_committed_past_unprocessed_records() {
    let mut h = clean();
    // c2 committed 12 before processing 10 and 11 (commit before process, then crash).
    h.reads(150, C2, 0, 10..12, v).commit((155, 160), C2, (2, M2), 0, 12, Ok(()));
    let violations = check_clients(&h.done());
    assert_eq!(invariants(&violations), ["commit-ahead-of-processing"], "{violations:#?}");
    assert_mentions(
        &violations[0],
        &[
            "group g, t-0: 2 offset(s) below the committed offset 12",
            "(started at 0)",
            "offsets 10..=11 never processed",
            "12 by c2 (m2, generation 2) invoked at t=0.155s",
        ],
    );
    assert_eq!(violations[0].time, at(160));
}

#[test]
fn offsets_deleted_by_retention_need_no_processing() {
    let mut h = clean();
    h.reset(150, C2, 0, (10, 12), ResetReason::OutOfRange)
        .reads(151, C2, 0, 12..13, v)
        .processed(152, C2, 0, 12, 12)
        .commit((155, 160), C2, (2, M2), 0, 13, Ok(()));
    let mut facts = facts();
    facts.final_logs.insert(tp(0), (12..13).map(|o| (o, v(o))).collect());
    assert_eq!(check(&h.done(), &layout(), &facts), vec![]);
}

#[test]
fn lost_commit_when_a_fetch_misses_an_acknowledged_commit() {
    let mut h = clean();
    h.commit((160, 165), C2, (2, M2), 0, 10, Ok(())).fetched((170, 171), C1, 0, Some(5)).fetched(
        (172, 173),
        C1,
        0,
        None,
    );
    let violations = check_clients(&h.done());
    assert_eq!(invariants(&violations), ["lost-commit"], "{violations:#?}");
    assert_mentions(
        &violations[0],
        &[
            "group g, t-0: 2 OffsetFetch(es)",
            "OffsetFetch by c1 invoked at t=0.170s returned 5 at t=0.171s",
            "the commit of 10 by c2 (m2, generation 2) invoked at t=0.160s was acknowledged at \
         t=0.165s",
            "returned nothing",
        ],
    );
    assert_eq!(violations[0].time, at(171));
}

#[test]
fn a_fetch_may_return_a_commit_still_in_flight() {
    let mut h = clean();
    // The fetch is answered while a commit of 7 (which fails later) is on its way.
    h.commit((160, 165), C2, (2, M2), 0, 10, Ok(())).fetched((170, 180), C1, 0, Some(7)).commit(
        (175, 200),
        C1,
        (2, M1),
        0,
        7,
        Err(ErrorCode::IllegalGeneration),
    );
    assert_eq!(check_clients(&h.done()), vec![]);
}

#[test]
fn split_assignment_when_two_members_own_a_partition_in_one_generation() {
    let mut h = clean();
    h.assigned(61, C1, 2, M1, &[0, 1]);
    let violations = check_clients(&h.done());
    assert_eq!(invariants(&violations), ["split-assignment"], "{violations:#?}");
    assert_mentions(
        &violations[0],
        &[
            "group g, t-0: 1 split assignment(s)",
            "generation 2: t-0 assigned to m2 (c2) at t=0.060s and to m1 (c1) at t=0.061s",
        ],
    );
}

#[test]
fn zombie_commit_when_acknowledged_after_the_partition_moved() {
    let mut h = clean();
    // c1, still in generation 1, commits 3 for t-0 after c2 got it in generation 2.
    h.commit((80, 85), C1, (1, M1), 0, 3, Ok(()));
    let violations = check_clients(&h.done());
    assert_eq!(invariants(&violations), ["zombie-commit"], "{violations:#?}");
    assert_mentions(
        &violations[0],
        &[
            "group g, t-0: 1 commit(s) acknowledged after the partition moved",
            "commit of 3 by c1 (m1, generation 1) invoked at t=0.080s acknowledged at t=0.085s",
            "assigned to m2 (c2) in generation 2 at t=0.060s",
        ],
    );
    assert_eq!(violations[0].time, at(85));
}

#[test]
fn a_refused_zombie_commit_is_fine() {
    let mut h = clean();
    h.commit((80, 85), C1, (1, M1), 0, 3, Err(ErrorCode::IllegalGeneration));
    assert_eq!(check_clients(&h.done()), vec![]);
}

#[test]
fn missed_record_when_the_final_log_differs_from_what_the_group_read() {
    // The group read v8 at offset 8; after a truncation the final log holds w0 there.
    let mut facts = facts();
    let log = facts.final_logs.get_mut(&tp(0)).expect("t-0 has a final log");
    log[8] = (8, w(0));
    let violations = check(&clean().done(), &layout(), &facts);
    assert_eq!(invariants(&violations), ["missed-record", "missed-record"], "{violations:#?}");
    assert_mentions(
        &violations[0],
        &[
            "group g, t-0: 1 record(s) of the final log never read by the group, which read offsets \
         0..=9",
            "offset 8: p2:0 never read (read there instead: p1:8 by c2)",
        ],
    );
    assert_mentions(&violations[1], &["group h, t-0", "offsets 7..=9"]);
    assert_eq!(violations[0].time, at(70));
}

#[test]
fn missed_record_for_a_consumer_outside_groups() {
    let mut h = History::default();
    h.reads(10, C3, 0, 0..2, v).reads(11, C3, 0, 3..5, v);
    let mut facts = facts();
    facts.groups.remove(&C3);
    let violations = check(&h.done(), &layout(), &facts);
    assert_eq!(invariants(&violations), ["missed-record"], "{violations:#?}");
    assert_mentions(&violations[0], &["consumer c3, t-0: 1 record(s)", "offset 2: p1:2"]);
}

#[test]
fn records_past_the_furthest_read_are_not_missed() {
    let mut facts = facts();
    let log = facts.final_logs.get_mut(&tp(0)).expect("t-0 has a final log");
    log.extend((10..20).map(|o| (o, v(o))));
    assert_eq!(check(&clean().done(), &layout(), &facts), vec![]);
}

/// The per-offset table keeps each distinct value once, in the order first seen, whether
/// it sits inline (the first) or aside (the rest).
#[test]
fn values_at_an_offset_keep_the_order_first_seen() {
    let mut table: ByOffset<(u64, NodeId)> = ByOffset::default();
    for (offset, value, reader) in [(2, 7, C1), (2, 9, C2), (0, 5, C1), (2, 7, C3), (2, 8, C3)] {
        table.add(offset, (value, reader), |&(v, _)| v == value);
    }
    let at = |offset| table.at(offset).copied().collect::<Vec<_>>();
    assert_eq!(at(2), [(7, C1), (9, C2), (8, C3)]);
    assert_eq!(at(0), [(5, C1)]);
    assert_eq!(at(1), []);
    assert_eq!(at(3), []);
}
