//! The invariants that compare logs, incrementally: each compared pair remembers how far it
//! agreed ([`PairMark`]), valid while both logs stayed unchanged below it (`Live::stable`)
//! and the pair was compared in the previous log pass.

use std::collections::VecDeque;

use crate::sim::{Instant, NodeId};

use super::super::view::{ReplicaView, first_difference};
use super::{COMMITTED_WINDOW, Live, Names, PartitionTrack, show};

type Report<'r> = &'r mut dyn FnMut(String);

/// How far a pair of logs was compared, in which log pass, and (for a leader against the
/// committed log) in which epoch of the leader.
#[derive(Clone, Copy, Debug)]
pub(super) struct PairMark {
    pass: u64,
    upto: u64,
    epoch: u32,
}

impl PairMark {
    /// A pair never compared.
    fn new() -> Self {
        PairMark { pass: 0, upto: 0, epoch: 0 }
    }

    /// Moves a mark set in the previous log pass to `pass`, as comparing the pair again
    /// without anything new would (see `super::repeat`).
    pub(super) fn carry(&mut self, pass: u64) {
        if self.pass + 1 == pass {
            self.pass = pass;
        }
    }

    /// Where to resume comparing the pair: this mark if it was set in the previous pass (in
    /// the same `epoch`), clamped to what stayed unchanged; else from the start.
    fn resume(&self, pass: u64, stable: u64, epoch: u32) -> u64 {
        if self.pass + 1 == pass && self.epoch == epoch { self.upto.min(stable) } else { 0 }
    }
}

/// One committed record: first seen below a leader's HW.
#[derive(Clone, Copy, Debug)]
pub(super) struct Committed {
    value: u64,
    time: Instant,
    /// The record's own epoch.
    epoch: u32,
    /// The epoch of the leader whose HW first covered it; [`UNKNOWN`] for a gap.
    commit_epoch: u32,
    leader: NodeId,
}

const _: () = assert!(std::mem::size_of::<Committed>() <= 32, "see COMMITTED_WINDOW");

/// `commit_epoch` of the offsets the checker never saw committed (a leader's log started
/// above the committed log's end).
const UNKNOWN: u32 = u32::MAX;

/// The committed records of one partition, dense from `base`, the last
/// [`COMMITTED_WINDOW`] only.
#[derive(Debug, Default)]
pub(super) struct CommittedLog {
    pub(super) base: u64,
    pub(super) entries: VecDeque<Committed>,
}

impl CommittedLog {
    fn end(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// The entries from `offset` (at or above `base`) to the end.
    fn from(&self, offset: u64) -> impl Iterator<Item = &Committed> {
        let skip = usize::try_from(offset - self.base).unwrap_or(usize::MAX);
        self.entries.range(skip.min(self.entries.len())..)
    }

    /// Records what `leader`'s HW covers beyond the committed end.
    pub(super) fn extend(&mut self, leader: NodeId, replica: &ReplicaView, time: Instant) {
        let hw = replica.high_watermark.min(replica.log_end_offset);
        let window = COMMITTED_WINDOW as u64;
        let start = self.end().max(replica.log_start_offset).max(hw.saturating_sub(window));
        if start >= hw {
            return;
        }
        if start - self.end() >= window {
            self.entries.clear();
            self.base = start;
        }
        let gap = Committed { value: 0, time, epoch: 0, commit_epoch: UNKNOWN, leader };
        while self.end() < start {
            self.entries.push_back(gap);
        }
        self.entries.extend(replica.records_in(start, hw).iter().map(|r| Committed {
            value: r.value,
            time,
            epoch: r.leader_epoch,
            commit_epoch: replica.leader_epoch,
            leader,
        }));
        while self.entries.len() > COMMITTED_WINDOW {
            self.entries.pop_front();
            self.base += 1;
        }
        assert!(self.entries.len() <= COMMITTED_WINDOW);
    }
}

/// Extends the committed log from every acting leader's HW, older epochs first (a deposed
/// leader's commits happened before its successor's).
pub(super) fn extend_committed(part: &mut PartitionTrack, replicas: &[Live], time: Instant) {
    // Picked one at a time, in (epoch, id) order: a partition has at most one per broker.
    let key = |l: &Live| (l.replica.leader_epoch, l.id);
    let mut last = None;
    while let Some(l) = replicas
        .iter()
        .filter(|l| l.replica.is_leader && last.is_none_or(|k| key(l) > k))
        .min_by_key(|l| key(l))
    {
        part.committed.extend(l.id, l.replica, time);
        last = Some(key(l));
    }
}

/// `committed-durability`: every record once below a leader's HW (see [`extend_committed`])
/// is, at its offset with the same epoch and value, in the log of every acting leader whose
/// epoch is at least the one it was committed in, unless below that leader's log start.
pub(super) fn committed_durability(
    part: &mut PartitionTrack,
    replicas: &[Live],
    pass: u64,
    names: &Names,
    report: Report,
) {
    for l in replicas.iter().filter(|l| l.replica.is_leader) {
        let r = l.replica;
        let epoch = r.leader_epoch;
        let committed = &part.committed;
        let mark = part.durable.slot(l.id, PairMark::new);
        let from = mark.resume(pass, l.stable, epoch).max(r.log_start_offset).max(committed.base);
        // The leader holds `from..held`; compared entry by entry with its records.
        let held = committed.end().min(r.log_end_offset);
        let records = if from < held { r.records_in(from, held) } else { &[] };
        for (idx, c) in committed.from(from).enumerate() {
            if c.commit_epoch == UNKNOWN || c.commit_epoch > epoch {
                continue;
            }
            let have = records.get(idx);
            if have.is_some_and(|h| h.leader_epoch == c.epoch && h.value == c.value) {
                continue;
            }
            let offset = from + idx as u64;
            report(format!(
                "leader {} (epoch {epoch}, log [{}, {}), HW {}) lacks offset {offset} = (epoch \
                 {}, value {}), committed under {} in epoch {} (seen {}): it has {}",
                names.get(l.id),
                r.log_start_offset,
                r.log_end_offset,
                r.high_watermark,
                c.epoch,
                c.value,
                names.get(c.leader),
                c.commit_epoch,
                c.time,
                show(have)
            ));
            break;
        }
        *mark = PairMark { pass, upto: committed.end(), epoch };
    }
}

/// `strong-isr` (KafkaReplication.tla): for every acting (presumed) leader, every record
/// below its HW is, at the same offset with the same epoch and value, on every live member
/// of the controller's ISR (offsets below either log start exempt). The controller's ISR is
/// its last seen one while it is down.
pub(super) fn strong_isr(
    part: &mut PartitionTrack,
    replicas: &[Live],
    pass: u64,
    names: &Names,
    report: Report,
) {
    let Some(pv) = &part.controller else { return };
    for l in replicas.iter().filter(|l| l.replica.is_leader) {
        let lr = l.replica;
        let hw = lr.high_watermark.min(lr.log_end_offset);
        for &member in pv.isr.iter().filter(|&&m| m != l.id) {
            let Some(m) = replicas.iter().find(|x| x.id == member && !x.recovering) else {
                continue;
            };
            let mr = m.replica;
            let key = (l.id, member);
            let mark = part.strong.slot(key, PairMark::new);
            let start = mark.resume(pass, l.stable.min(m.stable), 0);
            let from = start.max(lr.log_start_offset).max(mr.log_start_offset);
            if let Some(offset) = first_difference(lr, mr, from, hw) {
                let want = lr.record_at(offset);
                let have = mr.record_at(offset);
                report(format!(
                    "leader {} (epoch {}, HW {}) has offset {offset} = {} but ISR member {} \
                     (epoch {}, log [{}, {}), HW {}) has {} (controller ISR {}, leader epoch {})",
                    names.get(l.id),
                    lr.leader_epoch,
                    lr.high_watermark,
                    show(want),
                    names.get(member),
                    mr.leader_epoch,
                    mr.log_start_offset,
                    mr.log_end_offset,
                    mr.high_watermark,
                    show(have),
                    names.list(&pv.isr),
                    pv.leader_epoch
                ));
            }
            *mark = PairMark { pass, upto: hw.max(start), epoch: 0 };
        }
    }
}

/// `replica-consistency`: any two live replicas hold the same record (offset, epoch, value)
/// at every offset below both their HWs (offsets below either log start exempt; replicas
/// recovering from a crash exempt).
pub(super) fn replica_consistency(
    part: &mut PartitionTrack,
    replicas: &[Live],
    pass: u64,
    names: &Names,
    report: Report,
) {
    for (i, a) in replicas.iter().enumerate().filter(|(_, a)| !a.recovering) {
        for b in replicas[i + 1..].iter().filter(|b| !b.recovering) {
            let (a, b) = if a.id < b.id { (a, b) } else { (b, a) };
            let (ar, br) = (a.replica, b.replica);
            let key = (a.id, b.id);
            let mark = part.consistent.slot(key, PairMark::new);
            let start = mark.resume(pass, a.stable.min(b.stable), 0);
            let below = ar
                .high_watermark
                .min(br.high_watermark)
                .min(ar.log_end_offset)
                .min(br.log_end_offset);
            let from = start.max(ar.log_start_offset).max(br.log_start_offset);
            if let Some(offset) = first_difference(ar, br, from, below) {
                let (x, y) = (ar.record_at(offset), br.record_at(offset));
                report(format!(
                    "{} and {} disagree at offset {offset}, below both HWs ({}, {}): {} (in \
                     leader epoch {}) has {}, {} (in leader epoch {}) has {}",
                    names.get(a.id),
                    names.get(b.id),
                    ar.high_watermark,
                    br.high_watermark,
                    names.get(a.id),
                    ar.leader_epoch,
                    show(x),
                    names.get(b.id),
                    br.leader_epoch,
                    show(y)
                ));
            }
            *mark = PairMark { pass, upto: below.max(start), epoch: 0 };
        }
    }
}
