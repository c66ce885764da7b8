//! Each invariant on hand-made views: one that breaks it (found, with the details) and one
//! that does not (silent).

use std::sync::LazyLock;

use super::*;
use crate::check::INVARIANTS;
use crate::check::view::{BrokerView, ControllerView};

const B1: NodeId = NodeId(0);
const B2: NodeId = NodeId(1);
const B3: NodeId = NodeId(2);

/// Partitions `t-0` to `t-7`; views borrow them.
static TPS: LazyLock<Vec<TopicPartition>> =
    LazyLock::new(|| (0..8).map(|p| TopicPartition::new("t", p)).collect());

const NAMES: [&str; 3] = ["b1", "b2", "b3"];

fn tp(partition: u32) -> &'static TopicPartition {
    &TPS[partition as usize]
}

/// In partition order, as views list them.
fn sorted<T>(mut by_tp: Vec<(&TopicPartition, T)>) -> Vec<(&TopicPartition, T)> {
    by_tp.sort_by(|a, b| a.0.cmp(b.0));
    assert!(by_tp.windows(2).all(|w| w[0].0 != w[1].0), "a partition listed twice");
    by_tp
}

/// Records at offsets `start..`, from (epoch, value).
fn log_from(start: u64, entries: &[(u32, u64)]) -> Vec<Record> {
    entries
        .iter()
        .zip(start..)
        .map(|(&(leader_epoch, value), offset)| Record::data(offset, leader_epoch, 0, value))
        .collect()
}

fn log(entries: &[(u32, u64)]) -> Vec<Record> {
    log_from(0, entries)
}

/// A follower holding `records` (dense; log start = first offset, or `start` when empty).
fn follower_from(start: u64, records: &[Record], epoch: u32, hw: u64) -> ReplicaView<'_> {
    let log_start_offset = records.first().map_or(start, |r| r.offset);
    ReplicaView {
        is_leader: false,
        leader_epoch: epoch,
        high_watermark: hw,
        log_end_offset: log_start_offset + records.len() as u64,
        log_start_offset,
        records,
        isr: &[],
        pending_isr: &[],
    }
}

fn follower(records: &[Record], epoch: u32, hw: u64) -> ReplicaView<'_> {
    follower_from(0, records, epoch, hw)
}

fn leader<'a>(records: &'a [Record], epoch: u32, hw: u64, isr: &'a [NodeId]) -> ReplicaView<'a> {
    ReplicaView { is_leader: true, isr, ..follower(records, epoch, hw) }
}

fn broker<'a>(id: NodeId, replicas: Vec<(&'a TopicPartition, ReplicaView<'a>)>) -> BrokerView<'a> {
    BrokerView { id, name: NAMES[id.0 as usize], alive: true, replicas: sorted(replicas) }
}

fn dead<'a>(id: NodeId) -> BrokerView<'a> {
    BrokerView { alive: false, ..broker(id, Vec::new()) }
}

fn partition(leader: Option<NodeId>, epoch: u32, isr: &[NodeId]) -> PartitionView<'_> {
    PartitionView {
        leader,
        leader_epoch: epoch,
        partition_epoch: epoch,
        replicas: &[B1, B2, B3],
        isr,
        elr: &[],
    }
}

fn controller<'a>(
    partitions: Vec<(&'a TopicPartition, PartitionView<'a>)>,
) -> Option<ControllerView<'a>> {
    Some(ControllerView { partitions: sorted(partitions) })
}

fn view<'a>(
    ms: u64,
    brokers: Vec<BrokerView<'a>>,
    controller: Option<ControllerView<'a>>,
) -> ClusterView<'a> {
    ClusterView { time: Instant::from_nanos(ms * 1_000_000), brokers, controller }
}

/// The one violation of `invariant` among `found`.
fn one(found: &[Violation], invariant: &str) -> Violation {
    let of: Vec<&Violation> = found.iter().filter(|v| v.invariant == invariant).collect();
    assert_eq!(of.len(), 1, "expected one {invariant} in {found:#?}");
    of[0].clone()
}

fn assert_mentions(v: &Violation, parts: &[&str]) {
    for part in parts {
        assert!(v.detail.contains(part), "{part:?} not in {:?}", v.detail);
    }
}

#[test]
fn names_are_listed_in_invariants() {
    for name in STATE_INVARIANTS {
        assert!(INVARIANTS.contains(&name), "{name}");
    }
}

/// Three partitions led by three brokers, followers at various points at or above the HW,
/// observed as they grow, then from scratch: silent for every invariant.
#[test]
fn clean_cluster_is_silent() {
    let mut checker = StateChecker::new();
    let full = log(&[(0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]);
    for (step, len) in [3usize, 4, 5].into_iter().enumerate() {
        let l = &full[..len];
        let f = &full[..len - 1];
        let hw = len as u64 - 1;
        let all = [B1, B2, B3];
        let v = view(
            10 * step as u64,
            vec![
                broker(
                    B1,
                    vec![
                        (tp(0), leader(l, 1, hw, &all)),
                        (tp(1), follower(f, 1, hw - 1)),
                        (tp(2), follower(l, 1, hw)),
                    ],
                ),
                broker(
                    B2,
                    vec![
                        (tp(0), follower(l, 1, hw)),
                        (tp(1), leader(l, 1, hw, &all)),
                        (tp(2), follower(f, 1, hw)),
                    ],
                ),
                broker(
                    B3,
                    vec![
                        (tp(0), follower(f, 1, hw)),
                        (tp(1), follower(f, 1, hw)),
                        (tp(2), leader(l, 1, hw, &all)),
                    ],
                ),
            ],
            controller(vec![
                (tp(0), partition(Some(B1), 1, &all)),
                (tp(1), partition(Some(B2), 1, &all)),
                (tp(2), partition(Some(B3), 1, &all)),
            ]),
        );
        assert_eq!(checker.observe(&v), vec![]);
        assert_eq!(checker.observe_cheap(&v), vec![]);
        assert_eq!(checker.observe_full(&v), vec![]);
    }
    assert!(checker.violations().is_empty());
}

#[test]
fn single_leader_zombie_with_the_same_epoch() {
    let records = log(&[(2, 1)]);
    let v = view(
        5,
        vec![
            broker(B1, vec![(tp(0), leader(&records, 2, 1, &[B1]))]),
            broker(B2, vec![(tp(0), leader(&records, 2, 1, &[B2]))]),
        ],
        controller(vec![(tp(0), partition(Some(B2), 2, &[B2]))]),
    );
    let found = StateChecker::new().observe(&v);
    let v = one(&found, "single-leader");
    assert_eq!(v.time, Instant::from_nanos(5_000_000));
    assert_mentions(&v, &["t-0", "epoch 2", "b1", "b2"]);
}

#[test]
fn single_leader_remembers_across_time() {
    let records = log(&[(2, 1)]);
    let mut checker = StateChecker::new();
    let before = view(
        1,
        vec![broker(B1, vec![(tp(0), leader(&records, 2, 1, &[B1]))]), broker(B2, vec![])],
        None,
    );
    assert_eq!(checker.observe(&before), vec![]);
    // b1 is gone; later b2 claims the epoch b1 had.
    let after =
        view(2, vec![dead(B1), broker(B2, vec![(tp(0), leader(&records, 2, 1, &[B2]))])], None);
    let v = one(&checker.observe(&after), "single-leader");
    assert_mentions(&v, &["epoch 2", "b1 (acting, seen since t=", "b2 (acting)"]);
}

#[test]
fn single_leader_silent_for_a_zombie_in_an_older_epoch() {
    let old = log(&[(1, 1)]);
    let new = log(&[(1, 1), (2, 2)]);
    let v = view(
        1,
        vec![
            broker(B1, vec![(tp(0), leader(&old, 1, 1, &[B1, B2]))]),
            broker(B2, vec![(tp(0), leader(&new, 2, 1, &[B2]))]),
        ],
        controller(vec![(tp(0), partition(Some(B2), 2, &[B2]))]),
    );
    assert_eq!(StateChecker::new().observe(&v), vec![]);
}

#[test]
fn monotonic_epoch_at_the_controller() {
    let mut checker = StateChecker::new();
    let at = |ms, epoch| view(ms, vec![], controller(vec![(tp(3), partition(None, epoch, &[]))]));
    assert_eq!(checker.observe(&at(1, 3)), vec![]);
    // A controller crash does not excuse going back.
    assert_eq!(checker.observe(&view(2, vec![], None)), vec![]);
    let v = one(&checker.observe(&at(3, 2)), "monotonic-epoch");
    assert_mentions(&v, &["t-3", "leader epoch 3 -> 2", "partition epoch 3 -> 2"]);
    assert_eq!(v.time, Instant::from_nanos(3_000_000));

    let mut checker = StateChecker::new();
    for (ms, epoch) in [(1, 2), (2, 2), (3, 3)] {
        assert_eq!(checker.observe(&at(ms, epoch)), vec![]);
    }
}

#[test]
fn monotonic_epoch_at_a_broker_while_it_stays_up() {
    let records = log(&[(1, 1)]);
    let mut checker = StateChecker::new();
    let up =
        |ms, epoch| view(ms, vec![broker(B2, vec![(tp(0), follower(&records, epoch, 1))])], None);
    assert_eq!(checker.observe(&up(1, 3)), vec![]);
    let v = one(&checker.observe(&up(2, 2)), "monotonic-epoch");
    assert_mentions(&v, &["b2's leader epoch went down from 3 to 2"]);

    // Across a restart the in-memory epoch may start lower.
    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&up(1, 3)), vec![]);
    assert_eq!(checker.observe(&view(2, vec![dead(B2)], None)), vec![]);
    assert_eq!(checker.observe(&up(3, 1)), vec![]);
    assert_eq!(checker.observe(&up(4, 3)), vec![]);
}

/// A partition is recognised whatever copy of its name a view carries and wherever it
/// sits in the list: a broker's epoch history follows the partition.
#[test]
fn partitions_are_recognised_by_name_in_any_position() {
    let records = log(&[(1, 1)]);
    // The same names in other allocations than `tp`'s.
    let copies: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    let at = |ms, replicas| view(ms, vec![broker(B2, replicas)], None);
    let mut checker = StateChecker::new();
    let first = vec![
        (tp(0), follower(&records, 5, 1)),
        (tp(1), follower(&records, 4, 1)),
        (tp(2), follower(&records, 3, 1)),
    ];
    assert_eq!(checker.observe(&at(1, first)), vec![]);
    let second =
        vec![(&copies[1], follower(&records, 4, 1)), (&copies[2], follower(&records, 2, 1))];
    let v = one(&checker.observe(&at(2, second)), "monotonic-epoch");
    assert_mentions(&v, &["t-2", "from 3 to 2"]);
    let third = vec![(&copies[1], follower(&records, 1, 1)), (tp(2), follower(&records, 2, 1))];
    let v = one(&checker.observe(&at(3, third)), "monotonic-epoch");
    assert_mentions(&v, &["t-1", "from 4 to 1"]);
}

#[test]
fn hw_below_leo() {
    let records = log(&[(1, 1), (1, 2)]);
    let bad = view(7, vec![broker(B3, vec![(tp(1), follower(&records, 1, 3))])], None);
    let v = one(&StateChecker::new().observe(&bad), "hw-below-leo");
    assert_mentions(&v, &["t-1", "b3", "HW 3 > LEO 2"]);
    let good = view(7, vec![broker(B3, vec![(tp(1), follower(&records, 1, 2))])], None);
    assert_eq!(StateChecker::new().observe(&good), vec![]);
}

#[test]
fn monotonic_high_watermark_within_an_epoch_only() {
    let records = log(&[(1, 1), (1, 2), (1, 3), (1, 4)]);
    let at = |ms, epoch, hw| {
        view(ms, vec![broker(B1, vec![(tp(0), leader(&records, epoch, hw, &[B1]))])], None)
    };
    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&at(1, 1, 4)), vec![]);
    let v = one(&checker.observe(&at(2, 1, 3)), "monotonic-high-watermark");
    assert_mentions(&v, &["leader b1's HW went down from 4 to 3 in epoch 1"]);

    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&at(1, 1, 4)), vec![]);
    assert_eq!(checker.observe(&at(2, 2, 3)), vec![]);
    assert_eq!(checker.observe(&at(3, 2, 4)), vec![]);
}

#[test]
fn leader_in_isr() {
    let brokers = || vec![dead(B1), dead(B2), dead(B3)];
    let bad = view(1, brokers(), controller(vec![(tp(2), partition(Some(B3), 4, &[B1, B2]))]));
    let v = one(&StateChecker::new().observe(&bad), "leader-in-isr");
    assert_mentions(&v, &["t-2", "leader b3", "leader epoch 4", "ISR [b1, b2]"]);

    let elr = PartitionView { elr: &[B3], ..partition(Some(B3), 4, &[]) };
    let no_leader = partition(None, 4, &[B1]);
    let good = view(1, brokers(), controller(vec![(tp(2), elr), (tp(3), no_leader)]));
    assert_eq!(StateChecker::new().observe(&good), vec![]);
}

/// R4 (KIP-101 scenario 1): leader b2 has HW 2, ISR member b1 truncated offset 1.
#[test]
fn strong_isr_r4() {
    let b2_log = log(&[(1, 10), (1, 11)]);
    let b1_log = log(&[(1, 10)]);
    let state = |isr: &'static [NodeId], b1_alive: bool| {
        let b1 =
            if b1_alive { broker(B1, vec![(tp(0), follower(&b1_log, 1, 1))]) } else { dead(B1) };
        view(
            9,
            vec![b1, broker(B2, vec![(tp(0), leader(&b2_log, 1, 2, &[B1, B2]))])],
            controller(vec![(tp(0), partition(Some(B2), 1, isr))]),
        )
    };
    let found = StateChecker::new().observe(&state(&[B1, B2], true));
    let v = one(&found, "strong-isr");
    assert_mentions(
        &v,
        &[
            "leader b2 (epoch 1, HW 2)",
            "offset 1 = (epoch 1, value 11)",
            "ISR member b1",
            "nothing",
        ],
    );
    // Out of the ISR, or crashed: not checked.
    assert_eq!(StateChecker::new().observe(&state(&[B2], true)), vec![]);
    assert_eq!(StateChecker::new().observe(&state(&[B1, B2], false)), vec![]);
}

/// A follower that lost its unflushed tail in a power loss is still in the controller's ISR
/// when it comes back (as in Kafka): exempt until it has fetched up to the leader's HW,
/// held to the invariants again afterwards.
#[test]
fn strong_isr_exempts_a_member_recovering_from_a_crash() {
    fn state<'a>(ms: u64, full: &'a [Record], b2: Option<&'a [Record]>) -> ClusterView<'a> {
        let b2 = match b2 {
            Some(records) => broker(B2, vec![(tp(0), follower(records, 1, 1))]),
            None => dead(B2),
        };
        view(
            ms,
            vec![broker(B1, vec![(tp(0), leader(full, 1, 2, &[B1, B2]))]), b2],
            controller(vec![(tp(0), partition(Some(B1), 1, &[B1, B2]))]),
        )
    }
    let full = log(&[(1, 10), (1, 11)]);
    let short = &full[..1];
    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&state(1, &full, Some(&full))), vec![]);
    assert_eq!(checker.observe(&state(2, &full, None)), vec![]);
    assert_eq!(checker.observe(&state(3, &full, Some(short))), vec![]);
    assert_eq!(checker.observe(&state(4, &full, Some(&full))), vec![]);
    let found = checker.observe(&state(5, &full, Some(short)));
    assert_mentions(&one(&found, "strong-isr"), &["offset 1", "ISR member b2"]);
    assert_mentions(&one(&found, "valid-high-watermark"), &["ISR member b2 has LEO 1 < HW 2"]);
}

#[test]
fn strong_isr_sees_a_different_record() {
    let b2_log = log(&[(1, 10), (1, 11)]);
    let b1_log = log(&[(1, 10), (0, 99)]);
    let v = view(
        9,
        vec![
            broker(B1, vec![(tp(0), follower(&b1_log, 1, 1))]),
            broker(B2, vec![(tp(0), leader(&b2_log, 1, 2, &[B1, B2]))]),
        ],
        controller(vec![(tp(0), partition(Some(B2), 1, &[B1, B2]))]),
    );
    let v = one(&StateChecker::new().observe(&v), "strong-isr");
    assert_mentions(&v, &["has (epoch 0, value 99)"]);
}

/// R11: the leader computed its HW without the lagging b3, still in the controller's ISR.
#[test]
fn valid_high_watermark() {
    let full = log(&[(1, 1), (1, 2), (1, 3)]);
    let state = |isr: &'static [NodeId]| {
        view(
            4,
            vec![
                broker(B1, vec![(tp(0), leader(&full, 1, 3, &[B1, B2]))]),
                broker(B2, vec![(tp(0), follower(&full, 1, 3))]),
                broker(B3, vec![(tp(0), follower(&full[..2], 1, 2))]),
            ],
            controller(vec![(tp(0), partition(Some(B1), 1, isr))]),
        )
    };
    let v = one(&StateChecker::new().observe(&state(&[B1, B2, B3])), "valid-high-watermark");
    assert_mentions(&v, &["ISR member b3 has LEO 2 < HW 3 of leader b1 (epoch 1"]);
    assert_eq!(StateChecker::new().observe(&state(&[B1, B2])), vec![]);
}

#[test]
fn replica_consistency() {
    let a = log(&[(1, 1), (1, 2), (1, 3)]);
    let b = log(&[(1, 1), (2, 7), (2, 8)]);
    let state = |hw_b| {
        view(
            3,
            vec![
                broker(B1, vec![(tp(5), follower(&a, 2, 3))]),
                broker(B2, vec![(tp(5), follower(&b, 2, hw_b))]),
            ],
            None,
        )
    };
    let v = one(&StateChecker::new().observe(&state(3)), "replica-consistency");
    assert_mentions(
        &v,
        &[
            "t-5",
            "b1 and b2 disagree at offset 1",
            "b1 (in leader epoch 2) has (epoch 1, value 2)",
            "(epoch 2, value 7)",
        ],
    );
    // Divergent only at or above b2's HW: silent.
    assert_eq!(StateChecker::new().observe(&state(1)), vec![]);
}

/// b1 commits three records in epoch 1 and crashes; b2 leads epoch 2 without offset 2.
#[test]
fn committed_durability() {
    let b1_log = log(&[(1, 1), (1, 2), (1, 3)]);
    let b2_log = log(&[(1, 1), (1, 2), (2, 9)]);
    let mut checker = StateChecker::new();
    let first = view(
        1,
        vec![broker(B1, vec![(tp(0), leader(&b1_log, 1, 3, &[B1]))])],
        controller(vec![(tp(0), partition(Some(B1), 1, &[B1]))]),
    );
    assert_eq!(checker.observe(&first), vec![]);
    let second = view(
        2,
        vec![dead(B1), broker(B2, vec![(tp(0), leader(&b2_log, 2, 2, &[B2]))])],
        controller(vec![(tp(0), partition(Some(B2), 2, &[B2]))]),
    );
    let v = one(&checker.observe(&second), "committed-durability");
    assert_mentions(
        &v,
        &[
            "leader b2 (epoch 2, log [0, 3), HW 2)",
            "lacks offset 2 = (epoch 1, value 3), committed under b1 in epoch 1 (seen t=",
            "it has (epoch 2, value 9)",
        ],
    );
    assert_eq!(v.time, Instant::from_nanos(2_000_000));
}

/// The same, but retention deleted offsets below 3 from b2's log: exempt.
#[test]
fn committed_durability_exempts_offsets_below_log_start() {
    let b1_log = log(&[(1, 1), (1, 2), (1, 3)]);
    let b2_log = log_from(3, &[(2, 9)]);
    let mut checker = StateChecker::new();
    let first = view(1, vec![broker(B1, vec![(tp(0), leader(&b1_log, 1, 3, &[B1]))])], None);
    assert_eq!(checker.observe(&first), vec![]);
    let second =
        view(2, vec![dead(B1), broker(B2, vec![(tp(0), leader(&b2_log, 2, 3, &[B2]))])], None);
    assert_eq!(checker.observe(&second), vec![]);
}

/// A follower whose log is rewritten between two calls: caught incrementally when the record
/// at its previous end changed, and by `observe_full` when only an older one did.
#[test]
fn incremental_comparison_notices_rewrites() {
    let good = log(&[(1, 1), (1, 2), (1, 3)]);
    let tail_changed = log(&[(1, 1), (1, 2), (0, 7)]);
    let middle_changed = log(&[(1, 1), (0, 7), (1, 3)]);
    let state = |b2_log| {
        view(
            1,
            vec![
                broker(B1, vec![(tp(0), leader(&good, 1, 3, &[B1, B2]))]),
                broker(B2, vec![(tp(0), follower(b2_log, 1, 3))]),
            ],
            controller(vec![(tp(0), partition(Some(B1), 1, &[B1, B2]))]),
        )
    };
    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&state(&good)), vec![]);
    assert_eq!(checker.observe(&state(&good)), vec![]);
    let found = checker.observe(&state(&tail_changed));
    assert_mentions(&one(&found, "strong-isr"), &["offset 2"]);
    assert_mentions(&one(&found, "replica-consistency"), &["offset 2"]);

    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&state(&good)), vec![]);
    assert_eq!(checker.observe(&state(&middle_changed)), vec![], "documented blind spot");
    let found = checker.observe_full(&state(&middle_changed));
    assert_mentions(&one(&found, "strong-isr"), &["offset 1"]);
}

/// A leader that was checked against the committed log is checked again for records a
/// deposed leader commits later (R3: a zombie acking alone).
#[test]
fn committed_durability_sees_later_commits_of_a_zombie() {
    let zombie = log(&[(1, 1), (1, 2)]);
    let new = log(&[(1, 1), (2, 5)]);
    let mut checker = StateChecker::new();
    let state = |zombie_hw| {
        view(
            1,
            vec![
                broker(B1, vec![(tp(0), leader(&zombie, 1, zombie_hw, &[B1]))]),
                broker(B2, vec![(tp(0), leader(&new, 2, 1, &[B2, B3]))]),
            ],
            None,
        )
    };
    assert_eq!(checker.observe(&state(1)), vec![]);
    let v = one(&checker.observe(&state(2)), "committed-durability");
    assert_mentions(&v, &["leader b2 (epoch 2", "lacks offset 1 = (epoch 1, value 2)"]);
}

#[test]
fn a_persistent_violation_is_reported_once() {
    let records = log(&[(1, 1)]);
    let bad = |ms| view(ms, vec![broker(B1, vec![(tp(0), follower(&records, 1, 2))])], None);
    let mut checker = StateChecker::new();
    assert_eq!(checker.observe(&bad(1)).len(), 1);
    assert_eq!(checker.observe(&bad(2)), vec![]);
    assert_eq!(checker.observe_full(&bad(3)), vec![]);
    assert_eq!(checker.violations().len(), 1);
    assert_eq!(checker.violations()[0].time, Instant::from_nanos(1_000_000));
    assert_eq!(checker.suppressed(), 2);
}

#[test]
fn committed_log_window_is_bounded() {
    let mut committed = CommittedLog::default();
    let records = log_from(0, &vec![(1, 0); COMMITTED_WINDOW + 10]);
    let r = leader(&records, 1, records.len() as u64, &[B1]);
    committed.extend(B1, &r, Instant::ZERO);
    assert_eq!(committed.entries.len(), COMMITTED_WINDOW);
    assert_eq!(committed.base, 10);
    // A leader whose log starts far beyond: the window restarts there.
    let far = log_from(10 * COMMITTED_WINDOW as u64, &[(2, 1), (2, 2)]);
    committed.extend(B2, &leader(&far, 2, far[1].offset + 1, &[B2]), Instant::ZERO);
    assert_eq!(committed.base, far[0].offset);
    assert_eq!(committed.entries.len(), 2);
}

/// A toy cluster of three brokers and three partitions that a random walk changes, for
/// comparing the checker with and without finding quiet partitions.
mod walk {
    use super::*;
    use crate::sim::SimRng;

    #[derive(Clone)]
    struct Replica {
        log_start: u64,
        /// (epoch, value) from `log_start`.
        entries: Vec<(u32, u64)>,
        records: Vec<Record>,
        is_leader: bool,
        epoch: u32,
        hw: u64,
        isr: Vec<NodeId>,
        pending: Vec<NodeId>,
    }

    #[derive(Clone)]
    struct Entry {
        leader: Option<NodeId>,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<NodeId>,
        elr: Vec<NodeId>,
    }

    pub(super) struct Cluster {
        rng: SimRng,
        alive: [bool; 3],
        /// [broker][partition].
        replicas: [[Option<Replica>; 3]; 3],
        controller: Option<[Option<Entry>; 3]>,
        /// The partitions' common history, which replicas mostly copy.
        truth: [Vec<(u32, u64)>; 3],
    }

    const IDS: [NodeId; 3] = [B1, B2, B3];

    impl Cluster {
        pub(super) fn new(seed: u64) -> Self {
            let entry = |p: usize| {
                Some(Entry {
                    leader: Some(IDS[p]),
                    leader_epoch: 1,
                    partition_epoch: 1,
                    isr: IDS.to_vec(),
                    elr: vec![],
                })
            };
            let mut c = Cluster {
                rng: SimRng::stream(seed, "test/walk"),
                alive: [true; 3],
                replicas: Default::default(),
                controller: Some([entry(0), entry(1), entry(2)]),
                truth: Default::default(),
            };
            for b in 0..3 {
                for p in 0..3 {
                    let r = Replica {
                        log_start: 0,
                        entries: vec![],
                        records: vec![],
                        is_leader: b == p,
                        epoch: 1,
                        hw: 0,
                        isr: if b == p { IDS.to_vec() } else { vec![] },
                        pending: vec![],
                    };
                    c.replicas[b][p] = Some(r);
                }
            }
            c
        }

        fn pick(&mut self, n: u64) -> usize {
            self.rng.below(n) as usize
        }

        fn ids(&mut self) -> Vec<NodeId> {
            IDS.iter().copied().filter(|_| self.rng.chance(0.6)).collect()
        }

        /// One random change (most keep the cluster sound; some break an invariant).
        pub(super) fn change(&mut self) {
            let (b, p) = (self.pick(3), self.pick(3));
            match self.pick(15) {
                0..=3 => {
                    let epoch = self.truth[p].last().map_or(1, |e| e.0);
                    let value = self.rng.below(1 << 20);
                    self.truth[p].push((epoch, value));
                    let truth = self.truth[p].clone();
                    for r in self.replicas.iter_mut().filter_map(|row| row[p].as_mut()) {
                        let held = r.log_start as usize + r.entries.len();
                        if held < truth.len() {
                            r.entries.push(truth[held]);
                        }
                    }
                }
                4 => {
                    if let Some(r) = self.replicas[b][p].as_mut() {
                        r.hw = self.rng.below(r.log_start + r.entries.len() as u64 + 2);
                    }
                }
                5 => {
                    let epoch = self.rng.below(4) as u32;
                    if let Some(r) = self.replicas[b][p].as_mut() {
                        r.is_leader = !r.is_leader;
                        r.epoch = epoch;
                    }
                }
                6 => {
                    let (isr, pending) = (self.ids(), self.ids());
                    if let Some(r) = self.replicas[b][p].as_mut() {
                        r.isr = isr;
                        r.pending = pending;
                    }
                }
                7 => {
                    let (epoch, value) = (self.rng.below(4) as u32, self.rng.below(9));
                    if let Some(r) = self.replicas[b][p].as_mut() {
                        match r.entries.last_mut() {
                            Some(last) => *last = (epoch, value),
                            None => r.entries.push((epoch, value)),
                        }
                    }
                }
                8 => {
                    let keep = self.pick(4);
                    if let Some(r) = self.replicas[b][p].as_mut() {
                        r.entries.truncate(r.entries.len().saturating_sub(keep));
                    }
                }
                9 => {
                    if let Some(r) = self.replicas[b][p].as_mut()
                        && !r.entries.is_empty()
                    {
                        r.entries.remove(0);
                        r.log_start += 1;
                    }
                }
                10 => self.alive[b] = !self.alive[b],
                11 => {
                    // A record below the last rewritten: the blind spot of incremental checks.
                    let (epoch, value) = (self.rng.below(4) as u32, self.rng.below(9));
                    let at = self.pick(8);
                    if let Some(r) = self.replicas[b][p].as_mut()
                        && at + 1 < r.entries.len()
                    {
                        r.entries[at] = (epoch, value);
                    }
                }
                12 => self.controller = self.controller.take().xor(Some(Default::default())),
                _ => {
                    let (isr, elr) = (self.ids(), self.ids());
                    let leader = self.rng.chance(0.8).then_some(IDS[b]);
                    let bump = self.rng.below(3) as u32;
                    if let Some(entries) = self.controller.as_mut() {
                        let old = entries[p]
                            .as_ref()
                            .map_or((0, 0), |e| (e.leader_epoch, e.partition_epoch));
                        entries[p] = Some(Entry {
                            leader,
                            leader_epoch: (old.0 + bump).saturating_sub(1),
                            partition_epoch: old.1 + bump,
                            isr,
                            elr,
                        });
                    }
                }
            }
        }

        pub(super) fn view(&mut self, ms: u64) -> ClusterView<'_> {
            for r in self.replicas.iter_mut().flatten().flatten() {
                r.records = log_from(r.log_start, &r.entries);
            }
            let brokers = (0..3)
                .map(|b| {
                    if !self.alive[b] {
                        return dead(IDS[b]);
                    }
                    let held = self.replicas[b].iter().enumerate().filter_map(|(p, r)| {
                        let r = r.as_ref()?;
                        let leo = r.log_start + r.records.len() as u64;
                        let view = ReplicaView {
                            is_leader: r.is_leader,
                            leader_epoch: r.epoch,
                            high_watermark: r.hw,
                            log_end_offset: leo,
                            log_start_offset: r.log_start,
                            records: &r.records,
                            isr: &r.isr,
                            pending_isr: &r.pending,
                        };
                        Some((tp(p as u32), view))
                    });
                    broker(IDS[b], held.collect())
                })
                .collect();
            let controller = self.controller.as_ref().map(|entries| {
                let listed = entries.iter().enumerate().filter_map(|(p, e)| {
                    let e = e.as_ref()?;
                    let pv = PartitionView {
                        leader: e.leader,
                        leader_epoch: e.leader_epoch,
                        partition_epoch: e.partition_epoch,
                        replicas: &IDS,
                        isr: &e.isr,
                        elr: &e.elr,
                    };
                    Some((tp(p as u32), pv))
                });
                ControllerView { partitions: listed.collect() }
            });
            view(ms, brokers, controller)
        }
    }
}

/// On random walks of a toy cluster that often stands still, the checker that skips quiet
/// partitions returns, call by call, what the one that checks everything returns, and
/// counts the same suppressed detections: skipping is exact.
#[test]
fn quiet_partitions_are_skipped_exactly() {
    let mut skipped = 0;
    for seed in 0..60 {
        let mut cluster = walk::Cluster::new(seed);
        let mut rng = crate::sim::SimRng::stream(seed, "test/walk/calls");
        let mut skipping = StateChecker::new();
        let mut checking = StateChecker::new();
        checking.repeats.off = true;
        for call in 0..400 {
            if rng.chance(0.3) {
                for _ in 0..=rng.below(3) {
                    cluster.change();
                }
            }
            let v = cluster.view(call);
            let (a, b) = match rng.below(20) {
                0 => (skipping.observe_full(&v), checking.observe_full(&v)),
                1 => (skipping.observe_cheap(&v), checking.observe_cheap(&v)),
                _ => (skipping.observe(&v), checking.observe(&v)),
            };
            assert_eq!(a, b, "seed {seed}, call {call}");
            assert_eq!(skipping.suppressed(), checking.suppressed(), "seed {seed}, call {call}");
        }
        assert_eq!(skipping.violations(), checking.violations());
        assert_eq!(checking.repeats.quiet_total, 0);
        skipped += skipping.repeats.quiet_total;
    }
    assert!(skipped > 10_000, "the walks hardly stood still: {skipped} quiet partitions");
}
