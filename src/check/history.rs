//! The history checker: holds a run's observations (sends, acknowledgements, reads) against
//! the anomalies Jepsen defines for Kafka (reference/kafka-anomalies.md §3), adapted to a
//! history where every acknowledgement names its offset:
//!
//! - `lost-write`: an acknowledged record was not read at its acknowledged offset although
//!   some consumer read that far, i.e. a different value (or nothing but other offsets) was
//!   read there.
//! - `unseen`: an acknowledged record no consumer read by the end of the run, because no
//!   consumer got that far (loss and delay look the same; see [`UNSEEN_GRACE_MS`]).
//! - `poll-skip`: a consumer's successive reads of a partition skip an offset.
//! - `nonmonotonic-poll`: a consumer read an offset at or below the previous one.
//!
//! Both poll anomalies are judged within one continuous run of reads: a consumer's restart,
//! a new assignment of the partition (`Assigned`) and a position reset (`PositionReset`, any
//! reason; the next read is expected at its target) start a new run, as Jepsen allows skips
//! and regressions across subscribe rebalances.
//!
//! One bug tends to break thousands of records the same way, so violations are aggregated:
//! one per invariant and partition (and consumer, for the poll anomalies), with a count and
//! the first few examples.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::kafka::cluster::Layout;
use crate::kafka::protocol::{KafkaObs, TopicPartition, value_producer_index};
use crate::sim::node::NodeId;
use crate::sim::time::{Duration, Instant};
use crate::sim::world::Observed;

use super::Violation;

/// Acknowledgements younger than this at the end of the run are not reported as unseen: a
/// consumer may simply not have fetched them yet.
/// Ten seconds cover a lost fetch on the way (3 s request timeouts) both at the follower
/// (holding the HW back) and at the consumer.
pub const UNSEEN_GRACE_MS: u64 = 10_000;
/// Examples quoted per violation.
pub(super) const EXAMPLES_MAX: usize = 5;

#[derive(Clone, Debug)]
struct Ack {
    time: Instant,
    producer: NodeId,
    key: u32,
    value: u64,
    offset: u64,
    leader: NodeId,
    leader_epoch: u32,
}

#[derive(Clone, Debug)]
struct Read {
    time: Instant,
    consumer: NodeId,
    value: u64,
    leader_epoch: u32,
    broker: NodeId,
}

/// What a consumer's next read of a partition must be within one continuous run of reads.
#[derive(Clone, Copy, Debug)]
struct Expected {
    /// The last offset read in this run: reading at or below it is a regression.
    last: Option<u64>,
    /// The next offset: reading past it skips. `None` right after an assignment, whose
    /// starting position the checker does not know.
    next: Option<u64>,
}

impl Expected {
    /// A consumer that just started reads from offset 0.
    const START: Expected = Expected { last: None, next: Some(0) };
    /// Newly assigned: any offset may come next.
    const ANY: Expected = Expected { last: None, next: None };

    fn after_read(offset: u64) -> Expected {
        Expected { last: Some(offset), next: Some(offset + 1) }
    }

    fn after_reset(to: u64) -> Expected {
        Expected { last: None, next: Some(to) }
    }
}

/// Everything read from one partition.
#[derive(Clone, Debug, Default)]
struct PartitionReads {
    /// Per offset (the index), the first read of each distinct value. Offsets are dense,
    /// so a vector beats a map here.
    by_offset: Vec<Vec<Read>>,
    /// (time, offset) each time the highest offset read grew, in time order.
    frontier: Vec<(Instant, u64)>,
}

impl PartitionReads {
    fn at(&self, offset: u64) -> &[Read] {
        self.by_offset.get(offset as usize).map_or(&[], Vec::as_slice)
    }

    fn at_mut(&mut self, offset: u64) -> &mut Vec<Read> {
        let idx = usize::try_from(offset).expect("offset fits in memory");
        if idx >= self.by_offset.len() {
            self.by_offset.resize_with(idx + 1, Vec::new);
        }
        &mut self.by_offset[idx]
    }

    fn max_offset(&self) -> Option<u64> {
        self.frontier.last().map(|&(_, o)| o)
    }

    /// When a consumer first read at or past `offset`.
    fn first_reached(&self, offset: u64) -> Option<Instant> {
        let idx = self.frontier.partition_point(|&(_, o)| o < offset);
        self.frontier.get(idx).map(|&(t, _)| t)
    }
}

/// An aggregated violation being built: count, first examples, first time.
pub(super) struct Finding {
    pub(super) count: usize,
    pub(super) time: Instant,
    pub(super) examples: Vec<String>,
}

impl Finding {
    pub(super) fn new() -> Self {
        Finding { count: 0, time: Instant::from_nanos(u64::MAX), examples: Vec::new() }
    }

    pub(super) fn add(&mut self, time: Instant, example: impl FnOnce() -> String) {
        self.count += 1;
        self.time = self.time.min(time);
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(example());
        }
    }
}

/// Names a record value: its producer, the producer's restart count, its sequence.
pub(super) fn value_name(layout: &Layout, value: u64) -> String {
    let index = value_producer_index(value) as usize;
    let producer = layout
        .producers
        .get(index)
        .map_or_else(|| format!("producer#{index}"), |&p| layout.name(p).to_string());
    let restarts = (value >> 32) & 0xff;
    let sequence = value & 0xffff_ffff;
    if restarts == 0 {
        format!("{producer}:{sequence}")
    } else {
        format!("{producer}:r{restarts}:{sequence}")
    }
}

/// Checks the history of a run that ended at `end`, with the default unseen grace
/// ([`UNSEEN_GRACE_MS`]). Violations come out in a fixed order: by invariant (as in
/// [`super::INVARIANTS`]), then partition, then consumer.
pub fn check(history: &[Observed<KafkaObs>], layout: &Layout, end: Instant) -> Vec<Violation> {
    check_with_grace(history, layout, end, Duration::from_millis(UNSEEN_GRACE_MS))
}

/// [`check`] with the grace for `unseen` chosen by the caller: acknowledgements younger
/// than `unseen_grace` at `end` are not reported as unseen.
pub fn check_with_grace(
    history: &[Observed<KafkaObs>],
    layout: &Layout,
    end: Instant,
    unseen_grace: Duration,
) -> Vec<Violation> {
    let mut acks: BTreeMap<TopicPartition, Vec<Ack>> = BTreeMap::new();
    let mut reads: BTreeMap<TopicPartition, PartitionReads> = BTreeMap::new();
    let mut poll_skip: BTreeMap<(TopicPartition, NodeId), Finding> = BTreeMap::new();
    let mut nonmonotonic: BTreeMap<(TopicPartition, NodeId), Finding> = BTreeMap::new();
    // Per (partition, consumer): what its next read must be; no entry is a consumer that
    // just started, which reads from offset 0 (unless a reset or an assignment says where).
    let mut positions: BTreeMap<(TopicPartition, NodeId), Expected> = BTreeMap::new();
    // Per (partition, consumer): the last position reset, to explain what follows it.
    let mut last_reset: BTreeMap<(TopicPartition, NodeId), (Instant, u64)> = BTreeMap::new();

    for o in history {
        match &o.obs {
            KafkaObs::Acked { tp, key, value, offset, leader, leader_epoch } => {
                acks.entry(tp.clone()).or_default().push(Ack {
                    time: o.time,
                    producer: o.node,
                    key: *key,
                    value: *value,
                    offset: *offset,
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                });
            }
            KafkaObs::Read { tp, value, offset, leader_epoch, broker, .. } => {
                let offset = *offset;
                let partition = reads.entry(tp.clone()).or_default();
                let at = partition.at_mut(offset);
                if !at.iter().any(|r| r.value == *value) {
                    at.push(Read {
                        time: o.time,
                        consumer: o.node,
                        value: *value,
                        leader_epoch: *leader_epoch,
                        broker: *broker,
                    });
                }
                if partition.max_offset().is_none_or(|m| offset > m) {
                    partition.frontier.push((o.time, offset));
                }

                let slot = (tp.clone(), o.node);
                let expected = positions.insert(slot.clone(), Expected::after_read(offset));
                let expected = expected.unwrap_or(Expected::START);
                let (findings, what) = match (expected.last, expected.next) {
                    (Some(prev), _) if offset <= prev => {
                        (&mut nonmonotonic, format!("after {prev}"))
                    }
                    (last, Some(next)) if offset > next => {
                        let after = last.map_or("its start".to_string(), |p| p.to_string());
                        (&mut poll_skip, format!("after {after}, skipping {next}..{}", offset - 1))
                    }
                    _ => continue,
                };
                findings.entry(slot.clone()).or_insert_with(Finding::new).add(o.time, || {
                    let reset = last_reset.get(&slot).map_or(String::new(), |(t, from)| {
                        format!(" (position reset from {from} at {t})")
                    });
                    format!(
                        "{} read offset {offset} {what} at {}: {} (epoch {}, from {}){reset}",
                        layout.name(o.node),
                        o.time,
                        value_name(layout, *value),
                        leader_epoch,
                        layout.name(*broker),
                    )
                });
            }
            KafkaObs::Restarted => {
                // A restarted consumer reads from 0 again: that is not a regression.
                positions.retain(|(_, node), _| *node != o.node);
                last_reset.retain(|(_, node), _| *node != o.node);
            }
            KafkaObs::PositionReset { tp, from, to, .. } => {
                // Any reset (committed offset, auto.offset.reset, truncation) starts a new
                // run of reads at `to`.
                let slot = (tp.clone(), o.node);
                positions.insert(slot.clone(), Expected::after_reset(*to));
                last_reset.insert(slot, (o.time, *from));
            }
            KafkaObs::Assigned { partitions, .. } => {
                // Jepsen allows skips and regressions across a (re)assignment: the position
                // is the committed offset or a reset, which the next observations show.
                for tp in partitions {
                    positions.insert((tp.clone(), o.node), Expected::ANY);
                }
            }
            KafkaObs::Sent { .. }
            | KafkaObs::Throttled { .. }
            | KafkaObs::SendFailed { .. }
            | KafkaObs::ProducerId { .. }
            | KafkaObs::Processed { .. }
            | KafkaObs::CommitSent { .. }
            | KafkaObs::OffsetFetchSent { .. }
            | KafkaObs::CommitDone { .. }
            | KafkaObs::OffsetFetched { .. }
            | KafkaObs::Revoked { .. } => {}
        }
    }

    let mut violations = Vec::new();
    let empty = PartitionReads::default();

    let mut lost: BTreeMap<TopicPartition, Finding> = BTreeMap::new();
    let mut unseen: BTreeMap<TopicPartition, Finding> = BTreeMap::new();
    for (tp, tp_acks) in &acks {
        let partition = reads.get(tp).unwrap_or(&empty);
        let max_read = partition.max_offset();
        for ack in tp_acks {
            let describe_ack = || {
                format!(
                    "offset {}: {} (key {}) acked by {} in epoch {} at {}",
                    ack.offset,
                    value_name(layout, ack.value),
                    ack.key,
                    layout.name(ack.leader),
                    ack.leader_epoch,
                    ack.time
                )
            };
            if max_read.is_some_and(|m| m >= ack.offset) {
                let at = partition.at(ack.offset);
                if at.iter().any(|r| r.value == ack.value) {
                    continue;
                }
                let seen = partition.first_reached(ack.offset).expect("max read covers it");
                lost.entry(tp.clone()).or_insert_with(Finding::new).add(seen.max(ack.time), || {
                    let instead = if at.is_empty() {
                        "nothing read at that offset".to_string()
                    } else {
                        at.iter()
                            .map(|r| {
                                format!(
                                    "{} (epoch {}, from {}) read by {} at {}",
                                    value_name(layout, r.value),
                                    r.leader_epoch,
                                    layout.name(r.broker),
                                    layout.name(r.consumer),
                                    r.time
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    format!("{}; read there instead: {instead}", describe_ack())
                });
            } else if ack.time + unseen_grace <= end {
                unseen.entry(tp.clone()).or_insert_with(Finding::new).add(end, describe_ack);
            }
        }
    }

    for (tp, finding) in lost {
        let producers = producers_of(&acks[&tp], layout);
        violations.push(Violation {
            invariant: "lost-write",
            time: finding.time,
            detail: summary(
                &finding,
                &format!(
                    "{tp}: {} acknowledged record(s) from {producers} missing where consumers read",
                    finding.count
                ),
            ),
        });
    }
    for (tp, finding) in unseen {
        let max_read = reads.get(&tp).and_then(PartitionReads::max_offset);
        let reach = max_read.map_or("no consumer read it at all".to_string(), |m| {
            format!("consumers read up to offset {m}")
        });
        violations.push(Violation {
            invariant: "unseen",
            time: finding.time,
            detail: summary(
                &finding,
                &format!(
                    "{tp}: {} acknowledged record(s) never read by the end ({end}); {reach}",
                    finding.count
                ),
            ),
        });
    }
    for ((tp, consumer), finding) in poll_skip {
        violations.push(Violation {
            invariant: "poll-skip",
            time: finding.time,
            detail: summary(
                &finding,
                &format!("{tp}: {} skip(s) in {}'s reads", finding.count, layout.name(consumer)),
            ),
        });
    }
    for ((tp, consumer), finding) in nonmonotonic {
        violations.push(Violation {
            invariant: "nonmonotonic-poll",
            time: finding.time,
            detail: summary(
                &finding,
                &format!("{tp}: {} backward read(s) by {}", finding.count, layout.name(consumer)),
            ),
        });
    }
    violations
}

fn producers_of(acks: &[Ack], layout: &Layout) -> String {
    let mut names: Vec<&str> = acks.iter().map(|a| layout.name(a.producer)).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

pub(super) fn summary(finding: &Finding, headline: &str) -> String {
    let mut text = headline.to_string();
    for example in &finding.examples {
        let _ = write!(text, "\n  - {example}");
    }
    if finding.count > finding.examples.len() {
        let _ = write!(text, "\n  - ... and {} more", finding.count - finding.examples.len());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::record_value;

    // Node ids of the layout below: b1..b3 = 0..2, controller 3, p1 4, c1 5, c2 6.
    const B1: NodeId = NodeId(0);
    const B2: NodeId = NodeId(1);
    const P1: NodeId = NodeId(4);
    const C1: NodeId = NodeId(5);
    const C2: NodeId = NodeId(6);

    fn layout() -> Layout {
        let text = r#"
            name = "h"
            description = "two consumers of one topic"
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
            acks = "1"
            rate = 1
            [[consumers]]
            name = "c1"
            topics = ["t"]
            [[consumers]]
            name = "c2"
            topics = ["t"]
        "#;
        let scenario = crate::scenario::parse("h.toml", text).expect("valid test scenario");
        Layout::new(&scenario)
    }

    fn tp(p: u32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn v(seq: u64) -> u64 {
        record_value(0, 0, seq)
    }

    fn ack(ms: u64, p: u32, offset: u64, value: u64, epoch: u32) -> Observed<KafkaObs> {
        let obs =
            KafkaObs::Acked { tp: tp(p), key: 0, value, offset, leader: B1, leader_epoch: epoch };
        Observed { time: at(ms), node: P1, obs }
    }

    fn read(ms: u64, consumer: NodeId, p: u32, offset: u64, value: u64) -> Observed<KafkaObs> {
        let obs = KafkaObs::Read { tp: tp(p), key: 0, value, offset, leader_epoch: 1, broker: B2 };
        Observed { time: at(ms), node: consumer, obs }
    }

    fn restarted(ms: u64, node: NodeId) -> Observed<KafkaObs> {
        Observed { time: at(ms), node, obs: KafkaObs::Restarted }
    }

    /// Three records acked on partition 0 and one on partition 1, all read by c1 in order;
    /// c2 reads partition 0 too, restarts, and reads it again from 0.
    fn clean() -> Vec<Observed<KafkaObs>> {
        vec![
            ack(10, 0, 0, v(0), 1),
            ack(11, 0, 1, v(1), 1),
            ack(12, 1, 0, v(2), 1),
            ack(13, 0, 2, v(3), 1),
            read(20, C1, 0, 0, v(0)),
            read(20, C1, 0, 1, v(1)),
            read(21, C1, 1, 0, v(2)),
            read(22, C1, 0, 2, v(3)),
            read(23, C2, 0, 0, v(0)),
            read(24, C2, 0, 1, v(1)),
            restarted(30, C2),
            read(31, C2, 0, 0, v(0)),
            read(32, C2, 0, 1, v(1)),
            read(33, C2, 0, 2, v(3)),
        ]
    }

    fn invariants(violations: &[Violation]) -> Vec<&'static str> {
        violations.iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn clean_history_is_silent() {
        assert_eq!(check(&clean(), &layout(), at(60_000)), vec![]);
    }

    #[test]
    fn lost_write_when_another_value_sits_at_the_acked_offset() {
        // R1: the old leader acked v9 at offset 3 in epoch 1; the new leader wrote v10 there.
        let mut h = clean();
        h.push(ack(40, 0, 3, v(9), 1));
        h.push(ack(50, 0, 3, v(10), 2));
        h.push(read(60, C1, 0, 3, v(10)));
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["lost-write"], "{violations:#?}");
        let lost = &violations[0];
        assert_eq!(lost.time, at(60));
        for needle in ["t-0", "offset 3", "p1:9", "acked by b1 in epoch 1", "p1:10", "read by c1"] {
            assert!(lost.detail.contains(needle), "{needle:?} not in {}", lost.detail);
        }
    }

    #[test]
    fn unseen_when_no_consumer_got_that_far() {
        let mut h = clean();
        for offset in 3..10 {
            h.push(ack(40, 0, offset, v(100 + offset), 1));
        }
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["unseen"], "{violations:#?}");
        let detail = &violations[0].detail;
        assert!(detail.contains("7 acknowledged record(s)"), "{detail}");
        assert!(detail.contains("read up to offset 2"), "{detail}");
        assert!(detail.contains("and 2 more"), "{detail}");
        // Too recent to call: a consumer may just not have fetched it yet.
        assert_eq!(check(&h, &layout(), at(3_000)), vec![]);
        assert_eq!(check_with_grace(&h, &layout(), at(3_000), Duration::ZERO).len(), 1);
    }

    #[test]
    fn poll_skip_when_an_offset_is_jumped() {
        let mut h = clean();
        h.push(ack(40, 1, 1, v(20), 1));
        h.push(ack(40, 1, 2, v(21), 1));
        h.push(read(41, C1, 1, 2, v(21)));
        // Offset 1 of partition 1 was read by c2, so nothing is lost or unseen.
        h.push(read(42, C2, 1, 0, v(2)));
        h.push(read(43, C2, 1, 1, v(20)));
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["poll-skip"], "{violations:#?}");
        let detail = &violations[0].detail;
        assert!(detail.contains("c1 read offset 2 after 0, skipping 1..1 at t=0.041s: p1:21"));
        assert_eq!(violations[0].time, at(41));
    }

    #[test]
    fn nonmonotonic_poll_when_a_consumer_goes_back_without_restart() {
        let mut h = clean();
        h.push(read(40, C1, 0, 1, v(1)));
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["nonmonotonic-poll"], "{violations:#?}");
        assert!(violations[0].detail.contains("c1 read offset 1 after 2 at t=0.040s: p1:1"));
    }

    fn reset(ms: u64, consumer: NodeId, p: u32, from: u64, to: u64) -> Observed<KafkaObs> {
        let reason = crate::kafka::protocol::ResetReason::Committed;
        let obs = KafkaObs::PositionReset { tp: tp(p), from, to, reason };
        Observed { time: at(ms), node: consumer, obs }
    }

    fn assigned(ms: u64, consumer: NodeId, partitions: &[u32]) -> Observed<KafkaObs> {
        let obs = KafkaObs::Assigned {
            group: Some("g".into()),
            generation: Some(2),
            member_id: Some(crate::kafka::protocol::MemberId(1)),
            partitions: partitions.iter().map(|&p| tp(p)).collect(),
        };
        Observed { time: at(ms), node: consumer, obs }
    }

    #[test]
    fn a_new_assignment_or_a_reset_starts_a_new_run_of_reads() {
        let mut h = clean();
        // c1 gets t-0 again in a rebalance and goes back to the committed offset 1; then a
        // reset to the committed offset 2 of a newer commit.
        h.push(assigned(40, C1, &[0]));
        h.push(read(41, C1, 0, 1, v(1)));
        h.push(read(41, C1, 0, 2, v(3)));
        h.push(reset(42, C1, 0, 3, 2));
        h.push(read(43, C1, 0, 2, v(3)));
        // c2, newly assigned t-1, starts where the group had committed: offset 0.
        h.push(assigned(44, C2, &[1]));
        h.push(read(45, C2, 1, 0, v(2)));
        assert_eq!(check(&h, &layout(), at(60_000)), vec![]);
    }

    #[test]
    fn poll_anomalies_within_one_assignment_are_still_flagged() {
        let mut h = clean();
        h.push(assigned(40, C1, &[0]));
        h.push(read(41, C1, 0, 1, v(1)));
        h.push(read(42, C1, 0, 0, v(0)));
        // A reset makes its target the next offset: reading past it skips.
        h.push(reset(43, C2, 0, 2, 0));
        h.push(read(44, C2, 0, 2, v(3)));
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["poll-skip", "nonmonotonic-poll"]);
        assert!(violations[0].detail.contains("c2 read offset 2 after its start, skipping 0..1"));
        assert!(violations[0].detail.contains("(position reset from 2 at t=0.043s)"));
        assert!(violations[1].detail.contains("c1 read offset 0 after 1 at t=0.042s"));
    }

    #[test]
    fn many_lost_records_make_one_violation() {
        let mut h = Vec::new();
        for offset in 0..1_000 {
            h.push(ack(10, 0, offset, v(offset), 1));
            h.push(read(20, C1, 0, offset, v(5_000 + offset)));
        }
        let violations = check(&h, &layout(), at(60_000));
        assert_eq!(invariants(&violations), vec!["lost-write"]);
        assert!(violations[0].detail.contains("1000 acknowledged record(s)"));
        assert!(violations[0].detail.lines().count() <= EXAMPLES_MAX + 2);
    }
}
