//! The state invariants: what no moment of a run may show about the replicas and the
//! controller, checked on a [`ClusterView`] as the run goes (reference/kafka-anomalies.md §2:
//! the TLA+ spec's invariants and RaftEventSimulationTest's, §1a says which anomaly each one
//! catches). [`StateChecker`] keeps the history the invariants need between calls.
//!
//! Cheap ones, O(1) per replica and partition, every call:
//! - `single-leader`: at most one leader per partition and leader epoch, over all brokers'
//!   claims and the controller's choice, across time.
//! - `monotonic-epoch`: the controller's leader and partition epochs never decrease (ever);
//!   a broker's epoch for a replica never decreases while the broker stays up.
//! - `hw-below-leo`: HW <= LEO on every replica.
//! - `monotonic-high-watermark`: a leader's HW never decreases within its epoch while up.
//! - `leader-in-isr`: the controller's leader is in the ISR (or in the ELR while the ISR is
//!   empty).
//! - `valid-high-watermark`: every live controller-ISR member's LEO >= the true leader's HW.
//!
//! Log-comparing ones, incremental:
//! - `strong-isr`: every record below a presumed leader's HW is on every live member of the
//!   controller's ISR, at the same offset with the same epoch and value.
//! - `replica-consistency`: two live replicas agree on every offset below both their HWs.
//! - `committed-durability`: a record once below a leader's HW is, unchanged, in the log of
//!   every leader of that epoch or a later one (offsets below its log start exempt).
//!
//! # Cost
//! [`StateChecker::observe`] does O(brokers × partitions) look-ups for the cheap invariants
//! (a partition by its index, guessed from the previous call's order; a replica's track by a
//! scan of its partition's few), plus, for the log ones, comparisons proportional to what
//! moved since the previous call: each pair it compares (leader × ISR member, replica × replica, leader ×
//! committed log) keeps the offset up to which it already agreed, and only the records
//! between that and the new HW are compared. A replica's already compared prefix stays
//! trusted while the checker sees its log only grow at the end, shrink at the end
//! (truncation: the prefix shrinks with it), or lose its start (retention), and the record
//! at the previous log end is unchanged; a leader change, an ISR change, a crash or a
//! replica not seen in the previous call makes the pair start over from its log start (one
//! O(log) pass per such change). Called after every event this is exact (unless one event
//! both truncates a log and appends past its old end). Called less often, a
//! truncate-and-refetch between two calls that leaves the record at the previous end
//! unchanged goes unnoticed until [`StateChecker::observe_full`], which compares every log
//! from its start (O(total log size)); a runner calling `observe` per event and
//! `observe_full` at the end of the run loses nothing. [`StateChecker::observe_cheap`] runs
//! only the cheap invariants (no log is read) and keeps the bookkeeping, so the next
//! `observe` compares what moved since its own previous call. A partition that the view
//! shows exactly as in the two previous incremental calls is quiet: it is not checked again,
//! which finds and changes exactly what checking it would (see `state/repeat.rs`).
//!
//! Measured (release, `benches/checks.rs`, the groups soak's 3 brokers × 16 partitions):
//! about 2.4 µs per `observe` when every partition moved, 1.3 µs when none did,
//! independent of log length; `kafka::view::cluster_view` about 0.4 µs; `observe_full`
//! costs one pass over every log. In `scenarios/groups-soak.toml`, the runner's 9 000 calls
//! (one per 10 ms) take about 15% of the run.
//!
//! # Memory
//! Per partition: O(brokers²) small records, the last [`EPOCHS_REMEMBERED`] leader epochs'
//! leaders, and the committed log's last [`COMMITTED_WINDOW`] records (32 bytes each, so at
//! most 8 MiB per partition); older committed records are forgotten (no longer checked for
//! durability), as if retention had deleted them.
//!
//! # Reporting
//! One violation per invariant and partition: the first moment it broke, with the brokers,
//! offsets, epochs and values. A broken state usually stays broken for many calls; later
//! detections are only counted ([`StateChecker::suppressed`]).
//!
//! A crashed broker (not alive) is skipped, and so is a live broker that holds no replica of
//! the partition (not loaded yet). A replica whose broker was seen crashed stays exempt from
//! `strong-isr`, `valid-high-watermark` (as an ISR member) and `replica-consistency` after
//! it comes back, until it has caught up with the leader: Kafka keeps a restarted follower
//! in the ISR while it refetches what a power loss took (KIP-966 is the fix), and a power
//! loss can undo an unflushed truncation below the checkpointed HW; the protocol repairs
//! both. A restarted replica elected before it caught up is `committed-durability`'s case. "While it stays up" means: seen with the replica in every
//! call since; a broker that crashes and restarts between two calls looks like one that
//! stayed up, so the runner should call at least once while a broker is down (e.g. after
//! every event, or after every crash). While the controller is crashed, its last seen state
//! stands for the quorum's (it is durable): `strong-isr` and `valid-high-watermark` use it.

mod logs;
mod repeat;
mod simple;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::kafka::protocol::{Record, TopicPartition};
use crate::sim::{Instant, NodeId};

use super::Violation;
use super::view::{BrokerView, ClusterView, PartitionView, ReplicaView};

use logs::{CommittedLog, PairMark};

/// Leader epochs remembered per partition for `single-leader` (the oldest are forgotten).
pub const EPOCHS_REMEMBERED: usize = 4096;
/// Committed records remembered per partition for `committed-durability`.
pub const COMMITTED_WINDOW: usize = 1 << 18;

/// Checks the state invariants on every view it is shown, keeping the history they need.
#[derive(Debug, Default)]
pub struct StateChecker {
    /// Calls so far (any kind); a replica seen in call `n - 1` and `n` was watched throughout.
    call: u64,
    /// Calls that compared logs so far.
    log_pass: u64,
    /// Partition -> index into `partitions` and `tps`.
    index: BTreeMap<TopicPartition, usize>,
    /// Index -> partition.
    tps: Vec<Known>,
    /// The index [`Self::index_of`] tries first: the one after the last asked. Views list
    /// partitions in the same order call after call, so this spares most map look-ups.
    hint: usize,
    partitions: Vec<PartitionTrack>,
    /// Scratch of each call's grouping of replicas by partition, kept for its memory.
    order: Vec<usize>,
    next: Vec<usize>,
    violations: Vec<Violation>,
    reported: BTreeSet<(&'static str, TopicPartition)>,
    suppressed: u64,
    /// What tells a call that repeats the previous ones (see [`repeat`]).
    repeats: repeat::Repeats,
}

/// What the checker remembers about one partition.
#[derive(Debug, Default)]
struct PartitionTrack {
    /// The controller's state as last seen (stands for the quorum's while it is down).
    controller: Option<Controlled>,
    /// Highest controller (leader epoch, partition epoch) seen.
    controller_epochs: Option<(u32, u32)>,
    /// Leader epoch -> the first leader seen claiming it.
    epoch_leaders: BTreeMap<u32, Claim>,
    replicas: SmallMap<NodeId, ReplicaTrack>,
    committed: CommittedLog,
    /// Leader -> how far its log was compared with the committed log.
    durable: SmallMap<NodeId, PairMark>,
    /// (leader, ISR member) -> how far the member's log was compared with the leader's.
    strong: SmallMap<(NodeId, NodeId), PairMark>,
    /// (replica, replica), lower id first -> how far their logs were compared.
    consistent: SmallMap<(NodeId, NodeId), PairMark>,
    /// Whether the calls before repeated what they were shown of it (see [`repeat`]).
    repeat: repeat::PartitionRepeat,
}

/// A tracked partition, and other copies of its topic name seen in views: nodes share topic
/// names through `Arc`s, but not all the same one. A view's partition whose name is one of
/// these, by address, is this partition without comparing text; holding the copies keeps
/// their addresses theirs.
#[derive(Debug)]
struct Known {
    tp: TopicPartition,
    aliases: Vec<Arc<str>>,
}

/// Copies of a topic name remembered per partition.
const ALIASES_MAX: usize = 8;

impl Known {
    fn is(&self, tp: &TopicPartition) -> bool {
        self.tp.partition == tp.partition
            && (Arc::ptr_eq(&self.tp.topic, &tp.topic)
                || self.aliases.iter().any(|a| Arc::ptr_eq(a, &tp.topic)))
    }

    /// Remembers `tp`'s name (equal to this partition's) by address, while there is room.
    fn learn(&mut self, tp: &TopicPartition) {
        debug_assert!(self.tp == *tp);
        if !self.is(tp) && self.aliases.len() < ALIASES_MAX {
            self.aliases.push(tp.topic.clone());
        }
    }
}

/// The controller's state of a partition as last seen, owned: what the log invariants read,
/// and what tells a repeat.
#[derive(Debug)]
struct Controlled {
    leader: Option<NodeId>,
    leader_epoch: u32,
    partition_epoch: u32,
    isr: Vec<NodeId>,
    elr: Vec<NodeId>,
}

impl Controlled {
    fn shows(&self, pv: &PartitionView) -> bool {
        self.leader == pv.leader
            && self.leader_epoch == pv.leader_epoch
            && self.partition_epoch == pv.partition_epoch
            && self.isr == pv.isr
            && self.elr == pv.elr
    }

    /// Takes `pv`'s values (copying lists only when they changed); whether any changed.
    fn update(slot: &mut Option<Controlled>, pv: &PartitionView) -> bool {
        let Some(c) = slot else {
            *slot = Some(Controlled {
                leader: pv.leader,
                leader_epoch: pv.leader_epoch,
                partition_epoch: pv.partition_epoch,
                isr: pv.isr.to_vec(),
                elr: pv.elr.to_vec(),
            });
            return true;
        };
        if c.shows(pv) {
            return false;
        }
        c.leader = pv.leader;
        c.leader_epoch = pv.leader_epoch;
        c.partition_epoch = pv.partition_epoch;
        copy_if_changed(&mut c.isr, pv.isr);
        copy_if_changed(&mut c.elr, pv.elr);
        true
    }
}

fn copy_if_changed(to: &mut Vec<NodeId>, from: &[NodeId]) {
    if *to != from {
        to.clear();
        to.extend_from_slice(from);
    }
}

/// A map for the handful of keys per partition (brokers, pairs of brokers): at this size a
/// linear scan beats a tree.
#[derive(Debug)]
struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<K: Eq, V> SmallMap<K, V> {
    fn position(&self, key: &K) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Adds `key`, which is absent; returns its position.
    fn push(&mut self, key: K, value: V) -> usize {
        debug_assert!(self.position(&key).is_none());
        self.0.push((key, value));
        self.0.len() - 1
    }

    /// The value of `key`, inserted as `fresh()` when absent.
    fn slot(&mut self, key: K, fresh: impl FnOnce() -> V) -> &mut V {
        let at = match self.position(&key) {
            Some(at) => at,
            None => self.push(key, fresh()),
        };
        &mut self.0[at].1
    }
}

#[derive(Clone, Copy, Debug)]
struct Claim {
    leader: NodeId,
    time: Instant,
    by_controller: bool,
}

/// One broker's replica as last seen.
#[derive(Clone, Debug)]
struct ReplicaTrack {
    /// The call it was last seen in (alive).
    call: u64,
    is_leader: bool,
    leader_epoch: u32,
    high_watermark: u64,
    /// A leader's ISR and pending ISR.
    isr: Vec<NodeId>,
    pending_isr: Vec<NodeId>,
    /// (epoch, HW) when last seen acting as leader, since it came up.
    leader_hw: Option<(u32, u64)>,
    log_start: u64,
    leo: u64,
    /// The record at `leo - 1`.
    tail: Option<Record>,
    /// Below this offset the log is unchanged since the last log pass (watched throughout).
    stable: u64,
    /// Its broker was seen crashed, and since it came back the replica has not yet caught up
    /// with the leader (see [`end_recovery`]): what the crash lost or undid (an unflushed
    /// suffix or truncation, on a power loss) is being repaired. Meanwhile it is not held to
    /// `strong-isr` and `valid-high-watermark` as an ISR member, nor to
    /// `replica-consistency` (its HW is a stale claim until then).
    recovering: bool,
}

/// What this call decided about a replica besides what its view shows.
struct Seen {
    call: u64,
    leader_hw: Option<(u32, u64)>,
    stable: u64,
    recovering: bool,
}

impl ReplicaTrack {
    /// Whether `replica` shows what this track remembers of it (`tail` is its last record).
    fn shows(&self, replica: &ReplicaView, tail: Option<&Record>) -> bool {
        self.is_leader == replica.is_leader
            && self.leader_epoch == replica.leader_epoch
            && self.high_watermark == replica.high_watermark
            && self.log_start == replica.log_start_offset
            && self.leo == replica.log_end_offset
            && self.tail.as_ref() == tail
            && self.isr == replica.isr
            && self.pending_isr == replica.pending_isr
    }

    /// Remembers `replica` as seen now, in place (its tail record is cloned only when it
    /// changed: a clone may touch a shared pointer). `at` is its track's place in `tracks`,
    /// if it has one. Returns that place, and whether the replica showed the same as in the
    /// previous call, not recovering.
    fn update(
        tracks: &mut SmallMap<NodeId, ReplicaTrack>,
        at: Option<usize>,
        id: NodeId,
        replica: &ReplicaView,
        seen: Seen,
    ) -> (usize, bool) {
        let tail = replica.log_end_offset.checked_sub(1).and_then(|o| replica.record_at(o));
        let Some(at) = at else {
            let track = ReplicaTrack {
                call: seen.call,
                is_leader: replica.is_leader,
                leader_epoch: replica.leader_epoch,
                high_watermark: replica.high_watermark,
                isr: replica.isr.to_vec(),
                pending_isr: replica.pending_isr.to_vec(),
                leader_hw: seen.leader_hw,
                log_start: replica.log_start_offset,
                leo: replica.log_end_offset,
                tail: tail.cloned(),
                stable: seen.stable,
                recovering: seen.recovering,
            };
            return (tracks.push(id, track), false);
        };
        let (key, t) = &mut tracks.0[at];
        assert_eq!(*key, id);
        let same = t.call + 1 == seen.call && !seen.recovering && t.shows(replica, tail);
        t.call = seen.call;
        t.leader_hw = seen.leader_hw;
        t.stable = seen.stable;
        t.recovering = seen.recovering;
        if !same {
            t.is_leader = replica.is_leader;
            t.leader_epoch = replica.leader_epoch;
            t.high_watermark = replica.high_watermark;
            t.log_start = replica.log_start_offset;
            t.leo = replica.log_end_offset;
            if t.tail.as_ref() != tail {
                t.tail = tail.cloned();
            }
            copy_if_changed(&mut t.isr, replica.isr);
            copy_if_changed(&mut t.pending_isr, replica.pending_isr);
        }
        (at, same)
    }
}

/// A live replica in this call, for the log invariants.
#[derive(Clone, Copy)]
struct Live<'v> {
    tp: &'v TopicPartition,
    id: NodeId,
    replica: &'v ReplicaView<'v>,
    stable: u64,
    recovering: bool,
    /// Where its [`ReplicaTrack`] is in its partition's `replicas`.
    track: usize,
}

/// Where a view's entries belong: the partition index of each controller entry and of each
/// live replica, in view order.
struct Places {
    controller: Vec<usize>,
    replicas: Vec<usize>,
}

/// A violation found in this call, before de-duplication.
struct Found<'v> {
    invariant: &'static str,
    /// The partition's index.
    at: usize,
    tp: &'v TopicPartition,
    detail: String,
}

/// Broker names by id, for details.
struct Names<'v>(&'v [BrokerView<'v>]);

impl Names<'_> {
    fn get(&self, id: NodeId) -> String {
        match self.0.iter().find(|b| b.id == id) {
            Some(b) => b.name.to_string(),
            None => format!("node{}", id.0),
        }
    }

    fn list(&self, ids: &[NodeId]) -> String {
        let names: Vec<String> = ids.iter().map(|&id| self.get(id)).collect();
        format!("[{}]", names.join(", "))
    }
}

/// `(epoch e, value v)` or `nothing`.
fn show(record: Option<&Record>) -> String {
    match record {
        Some(r) => format!("(epoch {}, value {})", r.leader_epoch, r.value),
        None => "nothing".to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Cheap,
    Incremental,
    Full,
}

impl StateChecker {
    pub fn new() -> Self {
        StateChecker::default()
    }

    /// Every invariant, the log-comparing ones incrementally. Returns the violations first
    /// found in this call (also kept in [`Self::violations`]).
    pub fn observe(&mut self, view: &ClusterView) -> Vec<Violation> {
        self.run(view, Mode::Incremental)
    }

    /// Only the invariants that read no log (see the module doc).
    pub fn observe_cheap(&mut self, view: &ClusterView) -> Vec<Violation> {
        self.run(view, Mode::Cheap)
    }

    /// Every invariant, comparing every log from its start.
    pub fn observe_full(&mut self, view: &ClusterView) -> Vec<Violation> {
        self.run(view, Mode::Full)
    }

    /// Every violation found so far, first one per invariant and partition, in order found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Detections not reported because their invariant had already failed on that partition.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn run(&mut self, view: &ClusterView, mode: Mode) -> Vec<Violation> {
        self.call += 1;
        let names = Names(&view.brokers);
        let places = self.place(view);
        let quiet = self.quiet(view, &places, mode);
        let mut found: Vec<Found> = Vec::new();
        self.check_controller(view, &places, &quiet, &names, &mut found);
        let live = self.check_replicas(view, &places, &quiet, mode, &names, &mut found);
        self.check_logs(view, &live, mode, &names, &mut found);
        if mode != Mode::Cheap {
            // What was compared now is the new baseline: reset every watched prefix.
            for (at, l) in &live {
                self.partitions[*at].replicas.0[l.track].1.stable = u64::MAX;
            }
        }
        self.settle(&quiet, &found);
        if mode != Mode::Cheap {
            self.log_pass += 1;
        }
        self.report(found, view.time)
    }

    /// The partition index of every controller entry and of every live replica, in view
    /// order.
    fn place(&mut self, view: &ClusterView) -> Places {
        let controller = view.controller.iter().flat_map(|c| &c.partitions);
        let controller = controller.map(|(tp, _)| self.index_of(tp)).collect();
        let alive = view.brokers.iter().filter(|b| b.alive);
        let replicas = alive.flat_map(|b| &b.replicas).map(|(tp, _)| self.index_of(tp)).collect();
        Places { controller, replicas }
    }

    /// The controller's invariants (`monotonic-epoch`, `leader-in-isr`, `single-leader`).
    fn check_controller<'v>(
        &mut self,
        view: &'v ClusterView,
        places: &Places,
        quiet: &[bool],
        names: &Names,
        found: &mut Vec<Found<'v>>,
    ) {
        let call = self.call;
        let entries = view.controller.iter().flat_map(|c| &c.partitions);
        for (&(tp, ref pv), &at) in entries.zip(&places.controller) {
            if quiet[at] {
                continue;
            }
            let part = &mut self.partitions[at];
            simple::controller_epochs(part, pv, &mut |d| found.push(finding(MONO, at, tp, d)));
            simple::leader_in_isr(pv, names, &mut |d| {
                found.push(finding(LEADER_IN_ISR, at, tp, d))
            });
            if let Some(leader) = pv.leader {
                let claim = Claim { leader, time: view.time, by_controller: true };
                let mut report = |d| found.push(finding(SINGLE, at, tp, d));
                simple::single_leader(
                    &mut part.epoch_leaders,
                    pv.leader_epoch,
                    claim,
                    names,
                    &mut report,
                );
            }
            let changed = Controlled::update(&mut part.controller, pv);
            part.repeat.listed(call, changed);
        }
    }

    /// The replicas' invariants (`hw-below-leo`, `monotonic-epoch`,
    /// `monotonic-high-watermark`, `single-leader`); returns the live replicas (of partitions
    /// not quiet) with their partition index.
    fn check_replicas<'v>(
        &mut self,
        view: &'v ClusterView,
        places: &Places,
        quiet: &[bool],
        mode: Mode,
        names: &Names,
        found: &mut Vec<Found<'v>>,
    ) -> Vec<(usize, Live<'v>)> {
        let call = self.call;
        let mut live: Vec<(usize, Live)> = Vec::with_capacity(places.replicas.len());
        let mut at_of = places.replicas.iter();
        for broker in &view.brokers {
            if !broker.alive {
                for part in &mut self.partitions {
                    if let Some(t) = part.replicas.get_mut(&broker.id) {
                        t.recovering = true;
                    }
                }
                continue;
            }
            for &(tp, ref replica) in &broker.replicas {
                let at = *at_of.next().expect("a place per live replica");
                let part = &mut self.partitions[at];
                let id = broker.id;
                if quiet[at] {
                    part.replicas.get_mut(&id).expect("a quiet partition's replica").call = call;
                    continue;
                }
                let track_at = part.replicas.position(&id);
                let track = track_at.map(|at| &part.replicas.0[at].1);
                let recovering = track.is_some_and(|t| t.recovering);
                let prev = track.filter(|t| t.call + 1 == call);
                let mut report = |invariant, detail| found.push(finding(invariant, at, tp, detail));
                simple::hw_below_leo(id, replica, names, &mut |d| report(HW_LEO, d));
                simple::broker_epoch(id, prev, replica, names, &mut |d| report(MONO, d));
                let leader_hw =
                    simple::monotonic_hw(id, prev, replica, names, &mut |d| report(MONO_HW, d));
                let stable = match prev {
                    Some(p) if mode != Mode::Full => p.stable.min(unchanged_below(p, replica)),
                    _ => 0,
                };
                if replica.is_leader {
                    let claim = Claim { leader: id, time: view.time, by_controller: false };
                    simple::single_leader(
                        &mut part.epoch_leaders,
                        replica.leader_epoch,
                        claim,
                        names,
                        &mut |d| report(SINGLE, d),
                    );
                }
                let seen = Seen { call, leader_hw, stable, recovering };
                let (track, same) =
                    ReplicaTrack::update(&mut part.replicas, track_at, id, replica, seen);
                part.repeat.held(call, same);
                live.push((at, Live { tp, id, replica, stable, recovering, track }));
            }
        }
        live
    }

    /// The invariants over each partition's live replicas together (`valid-high-watermark`,
    /// and unless cheap the log-comparing ones).
    fn check_logs<'v>(
        &mut self,
        view: &ClusterView,
        live: &[(usize, Live<'v>)],
        mode: Mode,
        names: &Names,
        found: &mut Vec<Found<'v>>,
    ) {
        let mut order = std::mem::take(&mut self.order);
        by_partition(live, self.partitions.len(), &mut self.next, &mut order);
        let mut grouped: Vec<Live> = Vec::with_capacity(view.brokers.len());
        for same in order.chunk_by(|&a, &b| live[a].0 == live[b].0) {
            let at = live[same[0]].0;
            let part = &mut self.partitions[at];
            grouped.clear();
            grouped.extend(same.iter().map(|&idx| live[idx].1));
            end_recovery(part, &mut grouped);
            let replicas = &grouped[..];
            let tp = replicas[0].tp;
            let mut report = |invariant, detail| found.push(finding(invariant, at, tp, detail));
            simple::valid_high_watermark(part, replicas, names, &mut |d| report(VALID_HW, d));
            if mode == Mode::Cheap {
                continue;
            }
            logs::extend_committed(part, replicas, view.time);
            logs::committed_durability(part, replicas, self.log_pass, names, &mut |d| {
                report(DURABLE, d)
            });
            logs::strong_isr(part, replicas, self.log_pass, names, &mut |d| report(STRONG_ISR, d));
            logs::replica_consistency(part, replicas, self.log_pass, names, &mut |d| {
                report(CONSISTENT, d)
            });
        }
        self.order = order;
    }

    /// Reports the findings not reported before, one per invariant and partition; counts the
    /// rest as suppressed.
    fn report(&mut self, found: Vec<Found>, time: Instant) -> Vec<Violation> {
        let mut new = Vec::new();
        for f in found {
            if self.reported.contains(&(f.invariant, f.tp.clone())) {
                self.suppressed += 1;
                continue;
            }
            self.reported.insert((f.invariant, f.tp.clone()));
            new.push(Violation {
                invariant: f.invariant,
                time,
                detail: format!("{}: {}", f.tp, f.detail),
            });
        }
        self.violations.extend(new.iter().cloned());
        new
    }

    /// `tp`'s index into `partitions`, tracking it from now on if new.
    fn index_of(&mut self, tp: &TopicPartition) -> usize {
        let at = match self.tps.get(self.hint) {
            Some(hinted) if hinted.is(tp) => self.hint,
            Some(hinted) if hinted.tp == *tp => {
                self.tps[self.hint].learn(tp);
                self.hint
            }
            _ => self.look_up(tp),
        };
        self.hint = if at + 1 == self.tps.len() { 0 } else { at + 1 };
        at
    }

    fn look_up(&mut self, tp: &TopicPartition) -> usize {
        if let Some(&at) = self.index.get(tp) {
            self.tps[at].learn(tp);
            return at;
        }
        self.partitions.push(PartitionTrack::default());
        self.tps.push(Known { tp: tp.clone(), aliases: Vec::new() });
        self.index.insert(tp.clone(), self.partitions.len() - 1);
        assert_eq!(self.tps.len(), self.partitions.len());
        self.partitions.len() - 1
    }
}

/// Fills `order` with the positions of `live` ordered by partition index, in their order
/// within one (a counting sort: linear in replicas and partitions; `next` is scratch).
fn by_partition(
    live: &[(usize, Live)],
    partitions: usize,
    next: &mut Vec<usize>,
    order: &mut Vec<usize>,
) {
    next.clear();
    next.resize(partitions + 1, 0);
    for &(at, _) in live {
        next[at + 1] += 1;
    }
    for at in 1..=partitions {
        next[at] += next[at - 1];
    }
    order.clear();
    order.resize(live.len(), 0);
    for (idx, &(at, _)) in live.iter().enumerate() {
        order[next[at]] = idx;
        next[at] += 1;
    }
}

fn finding<'v>(
    invariant: &'static str,
    at: usize,
    tp: &'v TopicPartition,
    detail: String,
) -> Found<'v> {
    Found { invariant, at, tp, detail }
}

/// Ends the recovery of every replica that caught up with the partition's leader (the
/// acting one in the highest epoch): it holds the leader's record just below the leader's
/// HW. (A restarted replica may hold a stale suffix below its stale HW, e.g. a truncation
/// the power loss undid, until it truncates against the leader; an earlier divergence the
/// protocol leaves in place is caught once the tail matches.)
fn end_recovery(part: &mut PartitionTrack, replicas: &mut [Live]) {
    let Some(leader) = replicas
        .iter()
        .filter(|l| l.replica.is_leader)
        .max_by_key(|l| (l.replica.leader_epoch, l.id))
        .map(|l| l.replica)
    else {
        return;
    };
    let hw = leader.high_watermark.min(leader.log_end_offset);
    let caught_up = |r: &ReplicaView| {
        r.log_end_offset >= hw
            && hw
                .checked_sub(1)
                .and_then(|o| leader.record_at(o))
                .is_none_or(|want| r.record_at(want.offset).is_none_or(|have| have == want))
    };
    for l in replicas.iter_mut().filter(|l| l.recovering && caught_up(l.replica)) {
        l.recovering = false;
        part.replicas.0[l.track].1.recovering = false;
    }
}

/// Below which offset `replica`'s log is unchanged since it was seen as `prev` one call ago,
/// given that logs only grow at the end, shrink at the end, or lose their start.
fn unchanged_below(prev: &ReplicaTrack, replica: &ReplicaView) -> u64 {
    if replica.log_start_offset < prev.log_start {
        return 0;
    }
    if replica.log_end_offset < prev.leo {
        return replica.log_end_offset;
    }
    match &prev.tail {
        Some(tail) => match replica.record_at(tail.offset) {
            Some(now) if now != tail => 0,
            _ => prev.leo,
        },
        None => prev.leo,
    }
}

const SINGLE: &str = "single-leader";
const MONO: &str = "monotonic-epoch";
const HW_LEO: &str = "hw-below-leo";
const MONO_HW: &str = "monotonic-high-watermark";
const LEADER_IN_ISR: &str = "leader-in-isr";
const STRONG_ISR: &str = "strong-isr";
const VALID_HW: &str = "valid-high-watermark";
const CONSISTENT: &str = "replica-consistency";
const DURABLE: &str = "committed-durability";

/// The state invariants' names, for [`super::INVARIANTS`].
pub const STATE_INVARIANTS: [&str; 9] =
    [SINGLE, MONO, HW_LEO, MONO_HW, LEADER_IN_ISR, STRONG_ISR, VALID_HW, CONSISTENT, DURABLE];
