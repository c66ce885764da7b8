//! Each checker on hand-made histories (exactly its anomaly, with its details; silent on
//! clean ones), the rules, and a property test that plants random anomalies into random
//! clean histories.

use proptest::prelude::*;

use super::*;
use crate::history::{Call, History, Op, Outcome, PartitionRead, ProducerPromises, Tp};

const MS: u64 = 1_000_000;

/// Builds a history operation by operation (completion order is push order).
#[derive(Default)]
struct H(History);

impl H {
    fn op(
        &mut self,
        process: &str,
        outcome: Outcome,
        invoke_ms: u64,
        complete_ms: u64,
        call: Call,
    ) -> &mut Self {
        self.0.ops.push(Op {
            process: process.into(),
            outcome,
            invoke_ns: invoke_ms * MS,
            complete_ns: complete_ms * MS,
            call,
        });
        self
    }

    fn send(
        &mut self,
        p: &str,
        invoke_ms: u64,
        ms: u64,
        partition: u32,
        value: u64,
        offset: u64,
    ) -> &mut Self {
        let leader = Some("b1".into());
        let call = Call::Send {
            topic: "t".into(),
            partition,
            key: 0,
            value,
            offset: Some(offset),
            leader,
            epoch: Some(1),
        };
        self.op(p, Outcome::Ok, invoke_ms, ms, call)
    }

    fn send_unknown(&mut self, p: &str, ms: u64, outcome: Outcome, value: u64) -> &mut Self {
        let call = Call::Send {
            topic: "t".into(),
            partition: 0,
            key: 0,
            value,
            offset: None,
            leader: None,
            epoch: None,
        };
        self.op(p, outcome, ms, ms, call)
    }

    fn poll(&mut self, c: &str, ms: u64, partition: u32, records: &[(u64, u64)]) -> &mut Self {
        let reads = vec![PartitionRead { topic: "t".into(), partition, records: records.to_vec() }];
        self.op(c, Outcome::Ok, ms, ms, Call::Poll { reads })
    }

    fn seek(&mut self, c: &str, ms: u64, partition: u32, offset: u64) -> &mut Self {
        let call = Call::Seek { topic: "t".into(), partition, offset, reason: None };
        self.op(c, Outcome::Ok, ms, ms, call)
    }

    fn assign(&mut self, c: &str, ms: u64, partitions: &[u32]) -> &mut Self {
        let partitions = partitions.iter().map(|&p| Tp("t".into(), p)).collect();
        self.op(c, Outcome::Ok, ms, ms, Call::Assign { group: None, generation: None, partitions })
    }

    fn crash(&mut self, c: &str, ms: u64) -> &mut Self {
        self.op(c, Outcome::Info, ms, ms, Call::Crash {})
    }

    fn done(&mut self) -> History {
        std::mem::take(&mut self.0)
    }
}

/// p1 writes values 0..4 to t-0 (offsets 0..4) and 10 to t-1; p2 writes 5 to t-0 at 4.
/// c1 reads t-0 in two polls and t-1; c2 reads t-0, crashes, reads it again from 0, then
/// is assigned t-0 and seeks to 3.
fn clean() -> H {
    let mut h = H::default();
    h.send("p1", 1, 10, 0, 0, 0)
        .send("p1", 1, 10, 0, 1, 1)
        .send("p1", 2, 11, 0, 2, 2)
        .send("p1", 3, 12, 0, 3, 3)
        .send("p2", 3, 12, 0, 5, 4)
        .send("p1", 4, 13, 1, 10, 0)
        .poll("c1", 20, 0, &[(0, 0), (1, 1)])
        .poll("c1", 21, 0, &[(2, 2), (3, 3), (4, 5)])
        .poll("c1", 21, 1, &[(0, 10)])
        .poll("c2", 22, 0, &[(0, 0), (1, 1), (2, 2)])
        .crash("c2", 23)
        .poll("c2", 24, 0, &[(0, 0)])
        .poll("c2", 25, 0, &[(1, 1), (2, 2)])
        .assign("c2", 26, &[0])
        .seek("c2", 26, 0, 3)
        .poll("c2", 27, 0, &[(3, 3), (4, 5)]);
    h
}

fn run(history: &History) -> Vec<Anomaly> {
    check(history, 60_000 * MS, UNSEEN_GRACE_MS * MS)
}

fn names(anomalies: &[Anomaly]) -> Vec<&'static str> {
    anomalies.iter().map(|a| a.name).collect()
}

fn assert_mentions(anomaly: &Anomaly, needles: &[&str]) {
    let text = anomaly.to_violation().detail;
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

#[test]
fn a_clean_history_is_silent() {
    assert_eq!(run(&clean().done()), vec![]);
    assert_eq!(run(&History::default()), vec![]);
}

#[test]
fn every_anomaly_is_an_invariant_scenarios_may_name() {
    for name in ANOMALIES {
        assert!(crate::check::INVARIANTS.contains(&name), "{name}");
    }
}

#[test]
fn lost_write_when_polls_read_past_an_acknowledged_write() {
    // p1's value 6 acked at offset 5; c3 starts at 6 (a seek) and reads 6: nothing ever
    // read at 5.
    let history = clean()
        .send("p1", 30, 31, 0, 6, 5)
        .send("p2", 30, 31, 0, 7, 6)
        .seek("c3", 40, 0, 6)
        .poll("c3", 41, 0, &[(6, 7)])
        .done();
    let found = run(&history);
    assert_eq!(names(&found), ["lost-write"], "{found:#?}");
    let lost = &found[0];
    assert_eq!(
        (lost.partition.as_str(), lost.process.as_deref(), lost.count),
        ("t-0", Some("p1"), 1)
    );
    assert_eq!(lost.first_ns, 41 * MS);
    assert_eq!(lost.examples[0].offsets, [5]);
    assert_eq!(lost.examples[0].values, [6]);
    assert_eq!(lost.examples[0].ops, [16]);
    assert_mentions(
        lost,
        &[
            "offset 5: p1#5 acknowledged by b1 (epoch 1) in op 16 (p1, t=0.031s)",
            "nothing read at that offset",
        ],
    );
}

#[test]
fn unseen_when_no_poll_got_that_far() {
    let mut h = clean();
    for offset in 5..12 {
        h.send("p2", 30, 31, 0, 100 + offset, offset);
    }
    let history = h.done();
    let found = run(&history);
    assert_eq!(names(&found), ["unseen"], "{found:#?}");
    assert_eq!(found[0].count, 7);
    assert_mentions(
        &found[0],
        &["7 acknowledged write(s) from p2", "polls read up to offset 4", "and 2 more"],
    );
    // Too recent to call at the end of a run: a consumer may just not have fetched it.
    assert_eq!(check(&history, 3_000 * MS, UNSEEN_GRACE_MS * MS), vec![]);
    assert_eq!(names(&check_ended(&history)), ["unseen"]);
    // A consumer still advancing through the partition near the end is late, not short.
    let mut h = H(history);
    h.poll("c1", 55_000, 0, &[]).poll("c3", 55_000, 0, &[(0, 0)]);
    assert_eq!(names(&run(&h.0)), ["unseen"], "an empty poll or a re-read is no progress");
    h.seek("c4", 55_000, 0, 5).poll("c4", 55_000, 0, &[(5, 105)]);
    assert_eq!(run(&h.done()), vec![]);
}

#[test]
fn inconsistent_offsets_when_two_values_are_read_at_one_offset() {
    // c3 reads p2's unacknowledged value 9 at offset 3, where c1 read p1's value 3.
    let history = clean()
        .send_unknown("p2", 30, Outcome::Info, 9)
        .seek("c3", 40, 0, 3)
        .poll("c3", 41, 0, &[(3, 9)])
        .done();
    let found = run(&history);
    assert_eq!(names(&found), ["inconsistent-offsets"], "{found:#?}");
    assert_eq!(found[0].examples[0].offsets, [3]);
    assert_eq!(found[0].examples[0].values, [3, 9]);
    assert_mentions(
        &found[0],
        &[
            "offset 3: p1#3 (acknowledged by b1 (epoch 1) in op 3",
            "vs p2#1 (read in op 18 (c3, t=0.041s))",
        ],
    );
}

#[test]
fn duplicate_when_a_value_sits_at_two_offsets() {
    // p1's value 3, acked at offset 3, is read again at offset 5.
    let history = clean().poll("c1", 30, 0, &[(5, 3)]).done();
    let found = run(&history);
    assert_eq!(names(&found), ["duplicate"], "{found:#?}");
    assert_eq!(found[0].examples[0].offsets, [3, 5]);
    assert_mentions(
        &found[0],
        &["1 value(s) from p1 at more than one offset", "p1#3 at offsets 3, 5"],
    );
}

#[test]
fn g1a_when_a_failed_send_is_read() {
    let history =
        clean().send_unknown("p2", 30, Outcome::Fail, 8).poll("c1", 31, 0, &[(5, 8)]).done();
    let found = run(&history);
    assert_eq!(names(&found), ["G1a"], "{found:#?}");
    assert_mentions(&found[0], &["p2#1 failed (op 16", "yet was read by op 17 (c1, t=0.031s)"]);
}

#[test]
fn nonmonotonic_send_when_a_later_send_lands_lower() {
    // p1 invokes value 21 after value 20, but 21 lands first.
    let history = clean()
        .send("p1", 30, 32, 1, 21, 2)
        .send("p1", 31, 33, 1, 20, 1)
        .poll("c1", 40, 1, &[(1, 20), (2, 21)])
        .done();
    let found = run(&history);
    assert_eq!(names(&found), ["nonmonotonic-send"], "{found:#?}");
    let example = &found[0].examples[0];
    assert_eq!(
        (example.offsets.as_slice(), example.values.as_slice()),
        (&[2, 1][..], &[21, 20][..])
    );
    assert_mentions(
        &found[0],
        &["t-1: 1 send(s) by p1", "landed at offset 1, at or below", "at offset 2"],
    );
}

#[test]
fn sends_invoked_together_are_not_ordered() {
    // One batch: invoked at the same instant, any order within it is fine.
    let history = clean()
        .send("p1", 30, 32, 1, 21, 2)
        .send("p1", 30, 32, 1, 20, 1)
        .poll("c1", 40, 1, &[(1, 20), (2, 21)])
        .done();
    assert_eq!(run(&history), vec![]);
}

#[test]
fn poll_skip_and_nonmonotonic_poll_between_polls() {
    let history = clean()
        .poll("c1", 30, 1, &[(0, 10)]) // back to 0: nonmonotonic
        .poll("c2", 31, 0, &[(4, 5)]) // after 4: nonmonotonic
        .seek("c3", 32, 0, 1)
        .poll("c3", 33, 0, &[(3, 3)]) // from 1 straight to 3: skip
        .done();
    let found = run(&history);
    assert_eq!(
        names(&found),
        ["poll-skip", "nonmonotonic-poll", "nonmonotonic-poll"],
        "{found:#?}"
    );
    assert_mentions(&found[0], &["c3 read offset 3 after a seek to 1, skipping 1..2"]);
    // Sorted by partition, then process: c2's t-0 before c1's t-1.
    assert_mentions(&found[1], &["t-0", "c2 read offset 4 after offset 4 at t=0.031s"]);
    assert_mentions(&found[2], &["t-1", "c1 read offset 0 after offset 0 at t=0.030s"]);
    let skipped = clean().poll("c1", 30, 1, &[]).done();
    assert_eq!(run(&skipped), vec![], "an empty poll reads nothing");
}

#[test]
fn skips_count_only_offsets_someone_observed() {
    // Offsets 5..9 were never observed (e.g. compacted away): reading 10 after 4 is fine.
    let history = clean().send("p2", 30, 31, 0, 50, 10).poll("c1", 40, 0, &[(10, 50)]).done();
    assert_eq!(run(&history), vec![]);
}

#[test]
fn int_poll_anomalies_within_one_poll() {
    let history = clean().seek("c3", 30, 0, 0).poll("c3", 31, 0, &[(0, 0), (2, 2), (1, 1)]).done();
    let found = run(&history);
    assert_eq!(names(&found), ["int-poll-skip", "int-nonmonotonic-poll"], "{found:#?}");
    assert_mentions(&found[0], &["c3 read offset 2 right after 0 in one poll"]);
    assert_mentions(&found[1], &["c3 read offset 1 right after 2 in one poll"]);
}

#[test]
fn a_new_assignment_or_a_crash_starts_a_new_run_of_reads() {
    let history = clean()
        .assign("c1", 30, &[0])
        .poll("c1", 31, 0, &[(1, 1)])
        .crash("c1", 32)
        .poll("c1", 33, 0, &[(0, 0)])
        .done();
    assert_eq!(run(&history), vec![]);
}

#[test]
fn rules_allow_what_the_promises_do_not_cover() {
    let lossy = || {
        clean()
            .send("p1", 30, 31, 0, 6, 5)
            .send("p2", 30, 31, 0, 7, 6)
            .seek("c3", 40, 0, 6)
            .poll("c3", 41, 0, &[(6, 7)])
            .done()
    };
    let mut history = lossy();
    history
        .promises
        .producers
        .insert("p1".into(), ProducerPromises { acks_all: false, ..ProducerPromises::default() });
    let found = run(&history);
    assert_eq!(names(&found), ["lost-write"]);
    assert_eq!(found[0].allowed, Some("acks 0 and 1 promise only the leader's copy"));
    assert!(found[0].to_violation().detail.contains("(allowed: acks 0 and 1"));

    let mut history = lossy();
    history.promises.durable = false;
    assert_eq!(
        run(&history)[0].allowed,
        Some("unclean leader election gives acknowledged writes up")
    );

    let mut history = clean().poll("c1", 30, 0, &[(5, 3)]).done();
    history.promises.producers_default.idempotent = false;
    assert_eq!(
        run(&history)[0].allowed,
        Some("without idempotence a retry may append a record again")
    );

    let mut history = clean()
        .send("p1", 30, 32, 1, 21, 2)
        .send("p1", 31, 33, 1, 20, 1)
        .poll("c1", 40, 1, &[(1, 20), (2, 21)])
        .done();
    history.promises.producers_default.ordered = false;
    let found = run(&history);
    assert_eq!(names(&found), ["nonmonotonic-send"]);
    assert!(found[0].allowed.is_some());
}

#[test]
fn a_lost_write_replaced_at_its_offset_is_no_reordering() {
    // R1: p1's value 6 acked at 5 by an old leader; the new leader puts 7 there.
    let history = clean()
        .send("p1", 30, 31, 0, 6, 5)
        .send("p1", 32, 33, 0, 7, 5)
        .poll("c1", 40, 0, &[(5, 7)])
        .done();
    let found = run(&history);
    assert_eq!(names(&found), ["lost-write", "inconsistent-offsets"], "{found:#?}");
    assert_mentions(&found[0], &["instead there: p1#6 (acknowledged by b1 (epoch 1) in op 17"]);
}

#[test]
fn many_instances_make_one_anomaly_with_a_few_examples() {
    let mut h = H::default();
    for offset in 0..1_000 {
        h.send("p1", 1, 1, 0, offset, offset);
    }
    h.seek("c1", 2, 0, 1_000);
    h.send("p1", 1, 1, 0, 5_000, 1_000).poll("c1", 3, 0, &[(1_000, 5_000)]);
    let found = run(&h.done());
    assert_eq!(names(&found), ["lost-write"]);
    assert_eq!(found[0].count, 1_000);
    assert_eq!(found[0].examples.len(), EXAMPLES_MAX);
    assert!(found[0].to_violation().detail.contains("... and 995 more"));
}

// --- Property: random clean histories stay silent; each planted anomaly is found. ---

/// A clean history: `producers` processes each send `sends` values round-robin over
/// `partitions`, acked in order; each partition is read by one consumer in polls of
/// random sizes.
fn random_clean(producers: usize, partitions: u32, sends: usize, poll_sizes: &[usize]) -> History {
    let mut h = H::default();
    let mut next_offset = vec![0u64; partitions as usize];
    let mut logs: Vec<Vec<(u64, u64)>> = vec![Vec::new(); partitions as usize];
    let mut value = 0;
    for round in 0..sends {
        for p in 0..producers {
            let partition = (value % u64::from(partitions)) as u32;
            let offset = next_offset[partition as usize];
            next_offset[partition as usize] += 1;
            let t = (round * producers + p) as u64;
            h.send(&format!("p{p}"), t, t + 1, partition, value, offset);
            logs[partition as usize].push((offset, value));
            value += 1;
        }
    }
    let mut t = (sends * producers) as u64 + 10;
    let mut sizes = poll_sizes.iter().cycle();
    for (partition, log) in logs.iter().enumerate() {
        let consumer = format!("c{partition}");
        let mut at = 0;
        while at < log.len() {
            let size = (*sizes.next().expect("cycle")).max(1).min(log.len() - at);
            h.poll(&consumer, t, partition as u32, &log[at..at + size]);
            at += size;
            t += 1;
        }
    }
    h.done()
}

/// Plants `name` into a clean history; `pick` chooses where.
fn plant(mut h: History, name: &str, pick: usize) -> History {
    let end = h.ops.last().map_or(0, |o| o.complete_ns / MS) + 1;
    let polls: Vec<usize> =
        (0..h.ops.len()).filter(|&i| matches!(h.ops[i].call, Call::Poll { .. })).collect();
    let records = |h: &History, i: usize| match &h.ops[i].call {
        Call::Poll { reads } => reads[0].records.clone(),
        _ => unreachable!(),
    };
    let poll_at = |h: &History, i: usize| match &h.ops[i].call {
        Call::Poll { reads } => reads[0].partition,
        _ => unreachable!(),
    };
    let i = polls[pick % polls.len()];
    let (partition, recs) = (poll_at(&h, i), records(&h, i));
    let (offset, value) = recs[pick % recs.len()];
    let mut add = H(std::mem::take(&mut h));
    match name {
        LOST_WRITE => {
            // An acked write past the log, and a reader that starts past it.
            add.send("px", end, end, partition, 1 << 40, 1 << 20).send(
                "px",
                end,
                end,
                partition,
                (1 << 40) + 1,
                (1 << 20) + 1,
            );
            add.seek("cx", end, partition, (1 << 20) + 1).poll(
                "cx",
                end,
                partition,
                &[((1 << 20) + 1, (1 << 40) + 1)],
            );
        }
        UNSEEN => {
            add.send("px", end, end, partition, 1 << 40, 1 << 20);
        }
        INCONSISTENT => {
            add.seek("cx", end, partition, offset).poll("cx", end, partition, &[(offset, 1 << 41)]);
        }
        DUPLICATE => {
            add.seek("cx", end, partition, 1 << 20).poll("cx", end, partition, &[(1 << 20, value)]);
        }
        G1A => {
            add.send_unknown("px", end, Outcome::Fail, 1 << 40);
            add.seek("cx", end, 0, 1 << 20).poll("cx", end, 0, &[(1 << 20, 1 << 40)]);
        }
        NONMONOTONIC_SEND => {
            add.send("px", end, end + 2, partition, 1 << 40, (1 << 20) + 1).send(
                "px",
                end + 1,
                end + 2,
                partition,
                (1 << 40) + 1,
                1 << 20,
            );
        }
        POLL_SKIP => {
            let (a, b) = (1u64 << 20, 1u64 << 40);
            add.send("px", end, end, partition, b, a)
                .send("px", end, end, partition, b + 1, a + 1)
                .send("px", end, end, partition, b + 2, a + 2);
            add.seek("cx", end, partition, a).poll("cx", end, partition, &[(a, b)]).poll(
                "cx",
                end,
                partition,
                &[(a + 2, b + 2)],
            );
        }
        NONMONOTONIC_POLL => {
            let consumer = h_process(&add.0, i);
            add.poll(&consumer, end, partition, &[(offset, value)]);
        }
        INT_POLL_SKIP => {
            add.send("px", end, end, partition, 1 << 40, 1 << 20)
                .send("px", end, end, partition, (1 << 40) + 1, (1 << 20) + 1)
                .send("px", end, end, partition, (1 << 40) + 2, (1 << 20) + 2);
            add.seek("cx", end, partition, 1 << 20).poll(
                "cx",
                end,
                partition,
                &[(1 << 20, 1 << 40), ((1 << 20) + 2, (1 << 40) + 2)],
            );
        }
        INT_NONMONOTONIC_POLL => {
            add.seek("cx", end, partition, offset).poll(
                "cx",
                end,
                partition,
                &[(offset, value), (offset, value)],
            );
        }
        _ => unreachable!("a known anomaly"),
    }
    add.done()
}

fn h_process(h: &History, op: usize) -> String {
    h.ops[op].process.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_clean_histories_are_silent(
        producers in 1usize..4,
        partitions in 1u32..4,
        sends in 1usize..40,
        poll_sizes in proptest::collection::vec(1usize..6, 1..5),
    ) {
        let history = random_clean(producers, partitions, sends, &poll_sizes);
        prop_assert_eq!(check_ended(&history), vec![]);
    }

    #[test]
    fn every_planted_anomaly_is_found(
        producers in 1usize..4,
        partitions in 1u32..4,
        sends in 2usize..40,
        poll_sizes in proptest::collection::vec(1usize..6, 1..5),
        which in 0usize..ANOMALIES.len(),
        pick in 0usize..1000,
    ) {
        let name = ANOMALIES[which];
        let history = plant(random_clean(producers, partitions, sends, &poll_sizes), name, pick);
        let found = check(&history, u64::MAX, 0);
        prop_assert!(found.iter().any(|a| a.name == name && a.allowed.is_none()), "{} not found in {:#?}", name, found);
    }
}
