//! Calls that repeat. Most partitions of a run are idle most of the time (ten
//! `__consumer_offsets` partitions, say, of which two see commits): the view shows them
//! exactly as in the previous call, and checking them again finds exactly what it found then.
//! A partition is *quiet* in a call when the view shows of it what the two previous calls
//! showed, all three incremental, none of its live replicas recovering; a quiet partition is
//! not checked again, only its bookkeeping moves on.
//!
//! Why that is exact. Call it `f`: a call maps the checker's state of a partition and what
//! the view shows of it (its input) to the next state and to findings. Everything `f` reads
//! of the input is in what [`PartitionRepeat`] compares: the controller's entry (leader,
//! epochs, ISR, ELR; listed or not), and per live replica (the same brokers, alive or not, in
//! the same order) its role, epoch, HW, log start, LEO, last record, ISR and pending ISR. The
//! records below the last are not compared, and need not be: on a repeated input the
//! comparisons resume where the previous call left them (the HW, or the log end), so they
//! read no record; the records a recovering replica's catching up reads are why a partition
//! with one is never quiet. And `f` applied twice to one input changes nothing the second
//! time, but the call counters (`ReplicaTrack::call`, `PairMark::pass`): the controller's
//! epochs are maxima, the first claim of an epoch stays, the committed log already reaches
//! every leader's HW, every track holds the input's values, and every pair mark is the
//! minimum of its HW and the logs' ends, which the second call computes again. So after two
//! calls on one input the state is a fixed point: a third call on it finds what the second
//! found (all already reported, so suppressed) and changes only the counters, which a quiet
//! partition moves as the call would: its live replicas' tracks to this call, and the marks
//! set in the previous log pass to this one.

use super::logs::PairMark;
use super::{ClusterView, Found, Mode, Places, StateChecker};

/// Checker-wide: whether a call may repeat the previous one at all.
#[derive(Debug, Default)]
pub(super) struct Repeats {
    /// The previous call's brokers (id, alive), in view order.
    brokers: Vec<(crate::sim::NodeId, bool)>,
    /// Whether the previous call was incremental.
    incremental: bool,
    /// This call is incremental, as was the previous one, with the same brokers alive.
    steady: bool,
    /// Partitions found quiet so far.
    pub(super) quiet_total: u64,
    /// For tests: never find a partition quiet.
    pub(super) off: bool,
}

/// Per partition: what its previous calls showed, as far as telling a repeat needs.
#[derive(Debug, Default)]
pub(super) struct PartitionRepeat {
    /// The call the tallies below are for.
    call: u64,
    /// Live replicas in that call.
    live: usize,
    /// Live replicas in the call before.
    live_before: usize,
    /// In that call, something it showed differed from the call before.
    moved: bool,
    /// The last call whose controller entry listed it.
    listed_in: u64,
    /// Consecutive steady calls, up to the last settled one, that showed what the call
    /// before showed.
    streak: u32,
    /// What the last settled call found on it.
    findings: u64,
}

impl PartitionRepeat {
    /// Starts this call's tallies (the first time the call touches the partition).
    fn begin(&mut self, call: u64) {
        if self.call != call {
            assert!(self.call < call);
            self.call = call;
            self.live_before = self.live;
            self.live = 0;
            self.moved = false;
        }
    }

    /// The controller listed the partition; `changed`: with other values than before.
    pub(super) fn listed(&mut self, call: u64, changed: bool) {
        self.begin(call);
        self.moved |= changed || self.listed_in + 1 != call;
        self.listed_in = call;
    }

    /// A live replica; `same`: it showed what it showed in the previous call.
    pub(super) fn held(&mut self, call: u64, same: bool) {
        self.begin(call);
        self.live += 1;
        self.moved |= !same;
    }
}

impl StateChecker {
    /// Which partitions are quiet in this call (see the module doc), by index.
    pub(super) fn quiet(&mut self, view: &ClusterView, places: &Places, mode: Mode) -> Vec<bool> {
        let steady = self.steady(view, mode);
        let call = self.call;
        let mut quiet: Vec<bool> = (self.partitions.iter())
            .map(|p| steady && !self.repeats.off && p.repeat.streak >= 1)
            .collect();
        if !quiet.contains(&true) {
            return quiet;
        }
        let mut listed = vec![false; quiet.len()];
        let entries = view.controller.iter().flat_map(|c| &c.partitions);
        for ((_, pv), &at) in entries.zip(&places.controller) {
            let part = &self.partitions[at];
            listed[at] = true;
            quiet[at] &= part.repeat.listed_in + 1 == call
                && part.controller.as_ref().is_some_and(|c| c.shows(pv));
        }
        let mut live = vec![0; quiet.len()];
        let replicas = view
            .brokers
            .iter()
            .filter(|b| b.alive)
            .flat_map(|b| b.replicas.iter().map(move |(_, replica)| (b.id, replica)));
        for ((id, replica), &at) in replicas.zip(&places.replicas) {
            if !quiet[at] {
                continue;
            }
            live[at] += 1;
            let tail = replica.log_end_offset.checked_sub(1).and_then(|o| replica.record_at(o));
            let track = self.partitions[at].replicas.0.iter().find(|(k, _)| *k == id);
            quiet[at] = track.is_some_and(|(_, t)| {
                t.call + 1 == call && !t.recovering && t.shows(replica, tail)
            });
        }
        for (at, part) in self.partitions.iter().enumerate() {
            let r = &part.repeat;
            quiet[at] &= live[at] == r.live && (listed[at] || r.listed_in + 1 != call);
        }
        quiet
    }

    /// Whether this call is incremental, as was the previous one, with the same brokers
    /// alive; remembers this call's.
    fn steady(&mut self, view: &ClusterView, mode: Mode) -> bool {
        let r = &mut self.repeats;
        let same_brokers = r.brokers.len() == view.brokers.len()
            && r.brokers
                .iter()
                .zip(&view.brokers)
                .all(|(&(id, alive), b)| id == b.id && alive == b.alive);
        if !same_brokers {
            r.brokers.clear();
            r.brokers.extend(view.brokers.iter().map(|b| (b.id, b.alive)));
        }
        r.steady = same_brokers && r.incremental && mode == Mode::Incremental;
        r.incremental = mode == Mode::Incremental;
        r.steady
    }

    /// Ends the call for every partition: a quiet one's bookkeeping moves on as a check
    /// would have moved it (and what it would have found again counts as suppressed); the
    /// others' streaks and findings are taken from what the call saw.
    pub(super) fn settle(&mut self, quiet: &[bool], found: &[Found]) {
        let call = self.call;
        let mut findings = vec![0; self.partitions.len()];
        for f in found {
            findings[f.at] += 1;
        }
        for (at, part) in self.partitions.iter_mut().enumerate() {
            let r = &mut part.repeat;
            r.begin(call);
            if quiet[at] {
                self.repeats.quiet_total += 1;
                self.suppressed += r.findings;
                r.live = r.live_before;
                r.listed_in = if r.listed_in + 1 == call { call } else { r.listed_in };
                r.streak += 1;
                let marks = part.durable.0.iter_mut().map(|(_, m)| m);
                let marks = marks.chain(part.strong.0.iter_mut().map(|(_, m)| m));
                marks.chain(part.consistent.0.iter_mut().map(|(_, m)| m)).for_each(|m| {
                    PairMark::carry(m, self.log_pass);
                });
                continue;
            }
            // Listed by the previous call's controller, not by this one's.
            r.moved |= r.listed_in + 1 == call;
            let same = self.repeats.steady && !r.moved && r.live == r.live_before;
            r.streak = if same { r.streak + 1 } else { 0 };
            r.findings = findings[at];
        }
    }
}
