//! The client invariants: what producers, consumer groups and the group coordinator must
//! never show in a run's history (reference/kafka-anomalies.md §1b, P1–P3 and C1–C6):
//!
//! - `commit-ahead-of-processing` (C1): a group committed an offset past records no member
//!   of the group processed.
//! - `lost-commit` (C6): an OffsetFetch did not return the last acknowledged commit or a
//!   commit that may have superseded it.
//! - `split-assignment`: two members own one partition in one generation.
//! - `zombie-commit` (C4): a commit acknowledged from a member whose partition had already
//!   been assigned to another member in a newer generation.
//! - `missed-record` (C3): a record of the final log, inside the range a group read, that
//!   no member of the group read.
//!
//! The checker is pure: besides the history it takes [`RunFacts`], which the runner builds
//! from the scenario (who is in which group) and from the final cluster (the logs). It is
//! one pass over the history into per-partition and per-group tables (BTreeMaps, vectors
//! sorted once), then one linear pass per invariant, because it runs once per seed of
//! sweeps of thousands of seeds. The pass can run as the run goes ([`ClientChecker`]), so
//! that a run never keeps its raw observations.
//!
//! P1–P3's symptoms (`duplicate`, `nonmonotonic-send`) are history anomalies, found by
//! [`super::history`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::kafka::cluster::Layout;
use crate::kafka::protocol::{KafkaObs, MemberId, ResetReason, TopicPartition};
use crate::scenario::Scenario;
use crate::sim::node::NodeId;
use crate::sim::time::Instant;
use crate::sim::world::Observed;

use super::Violation;
use super::finding::{Finding, summary, value_name};

/// The final log of each partition: (offset, value) of every record below the high
/// watermark of the partition's final leader, in offset order.
pub type FinalLogs = BTreeMap<TopicPartition, Vec<(u64, u64)>>;

/// What the client checks need besides the history.
#[derive(Clone, Debug, Default)]
pub struct RunFacts {
    /// Every consumer that belongs to a group, with its `group.id`.
    pub groups: BTreeMap<NodeId, Arc<str>>,
    /// The truth after healing; partitions without a final leader are absent.
    pub final_logs: FinalLogs,
}

/// Each consumer of the scenario that has a `group.id`, by node id.
pub fn consumer_groups(scenario: &Scenario, layout: &Layout) -> BTreeMap<NodeId, Arc<str>> {
    assert_eq!(scenario.consumers.len(), layout.consumers.len(), "layout of this scenario");
    scenario
        .consumers
        .iter()
        .zip(&layout.consumers)
        .filter_map(|(spec, &node)| spec.group.as_deref().map(|g| (node, Arc::from(g))))
        .collect()
}

/// Who reads together: a group, or a consumer outside any group as a group of one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Readers {
    Group(Arc<str>),
    Alone(NodeId),
}

impl Readers {
    fn name(&self, layout: &Layout) -> String {
        match self {
            Readers::Group(g) => format!("group {g}"),
            Readers::Alone(node) => format!("consumer {}", layout.name(*node)),
        }
    }
}

/// One completed OffsetCommit of one partition.
#[derive(Clone, Debug)]
struct Commit {
    node: NodeId,
    member: Option<MemberId>,
    generation: Option<u32>,
    offset: u64,
    invoked: Instant,
    done: Instant,
    ok: bool,
}

impl Commit {
    fn describe(&self, layout: &Layout) -> String {
        let who = match (self.member, self.generation) {
            (Some(m), Some(g)) => format!("{} ({m}, generation {g})", layout.name(self.node)),
            _ => layout.name(self.node).to_string(),
        };
        format!("{} by {who} invoked at {}", self.offset, self.invoked)
    }
}

/// One answered OffsetFetch of one partition.
#[derive(Clone, Debug)]
struct Fetch {
    node: NodeId,
    offset: Option<u64>,
    invoked: Instant,
    done: Instant,
}

/// A partition given to a member in a generation.
#[derive(Clone, Copy, Debug)]
struct Grant {
    time: Instant,
    generation: u32,
    member: MemberId,
    node: NodeId,
}

/// Per offset (the index; offsets are dense, so a vector beats a map), the distinct values
/// seen there, in the order first seen. Nearly every offset holds one value, kept inline;
/// the rare others (a divergence, a duplicate) go to a side table, so the common case
/// costs no allocation of its own.
#[derive(Clone, Debug)]
struct ByOffset<T> {
    first: Vec<Option<T>>,
    /// Offset -> the values after the first, in the order first seen.
    more: BTreeMap<u64, Vec<T>>,
}

impl<T> Default for ByOffset<T> {
    fn default() -> Self {
        ByOffset { first: Vec::new(), more: BTreeMap::new() }
    }
}

impl<T: Copy> ByOffset<T> {
    /// Adds `item` at `offset` unless a value there is `same` as it.
    fn add(&mut self, offset: u64, item: T, same: impl Fn(&T) -> bool) {
        let idx = usize::try_from(offset).expect("offset fits in memory");
        if idx >= self.first.len() {
            self.first.resize(idx + 1, None);
        }
        match &self.first[idx] {
            None => self.first[idx] = Some(item),
            Some(first) if same(first) => {}
            Some(_) => {
                let more = self.more.entry(offset).or_default();
                if !more.iter().any(&same) {
                    more.push(item);
                }
            }
        }
    }

    /// The values at `offset`, in the order first seen.
    fn at(&self, offset: u64) -> impl Iterator<Item = &T> + Clone {
        let first = usize::try_from(offset).ok().and_then(|idx| self.first.get(idx)?.as_ref());
        let more = self.more.get(&offset).map_or(&[][..], Vec::as_slice);
        first.into_iter().chain(more)
    }
}

/// `a == b`, comparing the partition numbers first: most partitions asked about one after
/// the other differ there, and the topic names are text.
fn same_tp(a: &TopicPartition, b: &TopicPartition) -> bool {
    a.partition == b.partition && a.topic == b.topic
}

/// What one group read of one partition.
#[derive(Clone, Debug, Default)]
struct GroupReads {
    /// Per member, where it started reading: its first reset or its first read.
    starts: Vec<(NodeId, u64)>,
    /// Per offset, the distinct values read there and who first read each.
    by_offset: ByOffset<(u64, NodeId)>,
    /// (time, offset) each time the furthest offset read grew, in time order.
    frontier: Vec<(Instant, u64)>,
}

impl GroupReads {
    fn started(&mut self, member: NodeId, offset: u64) {
        if !self.starts.iter().any(|&(m, _)| m == member) {
            assert!(self.starts.len() < 1 << 16, "members of one group are bounded");
            self.starts.push((member, offset));
        }
    }

    /// The lowest position any member started from.
    fn start(&self) -> Option<u64> {
        self.starts.iter().map(|&(_, offset)| offset).min()
    }

    fn add(&mut self, time: Instant, offset: u64, value: u64, reader: NodeId) {
        self.started(reader, offset);
        self.by_offset.add(offset, (value, reader), |&(v, _)| v == value);
        if self.furthest().is_none_or(|f| offset > f) {
            self.frontier.push((time, offset));
        }
    }

    fn at(&self, offset: u64) -> impl Iterator<Item = &(u64, NodeId)> + Clone {
        self.by_offset.at(offset)
    }

    fn furthest(&self) -> Option<u64> {
        self.frontier.last().map(|&(_, o)| o)
    }

    /// When the group first read at or past `offset`.
    fn first_reached(&self, offset: u64) -> Option<Instant> {
        let idx = self.frontier.partition_point(|&(_, o)| o < offset);
        self.frontier.get(idx).map(|&(t, _)| t)
    }
}

type GroupTp = (Arc<str>, TopicPartition);

/// Vectors indexed through a map, remembering the last lookup: the records of one fetch
/// response or one produce response come in a run, and cost one lookup.
#[derive(Clone, Debug)]
struct Slots<K, V> {
    index: BTreeMap<K, usize>,
    values: Vec<V>,
    last: Option<(K, usize)>,
}

impl<K, V> Default for Slots<K, V> {
    fn default() -> Self {
        Slots { index: BTreeMap::new(), values: Vec::new(), last: None }
    }
}

impl<K: Ord + Clone, V> Slots<K, V> {
    /// The slot of the key `make` builds, built only when it is not the last one asked;
    /// a new slot holds `fresh()`.
    fn slot(
        &mut self,
        is_last: impl Fn(&K) -> bool,
        make: impl FnOnce() -> K,
        fresh: impl FnOnce() -> V,
    ) -> &mut V {
        let i = match &self.last {
            Some((key, i)) if is_last(key) => *i,
            _ => {
                let key = make();
                let next = self.values.len();
                let i = *self.index.entry(key.clone()).or_insert(next);
                if i == next {
                    self.values.push(fresh());
                }
                self.last = Some((key, i));
                i
            }
        };
        &mut self.values[i]
    }

    /// In key order.
    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.index.iter().map(|(k, &i)| (k, &self.values[i]))
    }
}

/// The history sorted into the tables the invariants read.
#[derive(Default)]
struct Tables {
    /// Per (group, partition, member): where the member started, for
    /// `commit-ahead-of-processing` (first reset or first processed offset).
    processing_starts: BTreeMap<(Readers, TopicPartition, NodeId), u64>,
    /// Offsets `[from, to)` jumped over by forward out-of-range resets: retention deleted them.
    skipped: BTreeMap<(Readers, TopicPartition), Vec<(u64, u64)>>,
    /// Processed ranges `first..=last`.
    processed: BTreeMap<GroupTp, Vec<(u64, u64)>>,
    /// In completion order.
    commits: BTreeMap<GroupTp, Vec<Commit>>,
    /// Every commit attempt sent, as (offset, time), in time order: any of them may have
    /// been applied, answered or not.
    sent: BTreeMap<GroupTp, Vec<(u64, Instant)>>,
    /// When each operation (node, op id) was first sent.
    invocations: BTreeMap<(NodeId, u64), Instant>,
    /// In completion order.
    fetches: BTreeMap<GroupTp, Vec<Fetch>>,
    /// Owner of each partition of each group, per generation.
    owners: BTreeMap<(Arc<str>, TopicPartition, u32), Grant>,
    split: BTreeMap<GroupTp, Finding>,
    zombie: BTreeMap<GroupTp, Finding>,
    /// Every value acknowledged or read, per partition.
    /// Keyed by group (or lone consumer) and partition; remembered by consumer and
    /// partition for the runs of reads.
    reads: Slots<(Readers, TopicPartition), GroupReads>,
    last_reader: Option<(NodeId, TopicPartition)>,
}

/// Checks the client invariants over a run's history. Violations come out in a fixed
/// order: by invariant (as in [`super::INVARIANTS`]), then partition or group.
pub fn check(history: &[Observed<KafkaObs>], layout: &Layout, facts: &RunFacts) -> Vec<Violation> {
    let mut checker = ClientChecker::new(facts.groups.clone());
    for o in history {
        checker.observe(o, layout);
    }
    checker.finish(layout, &facts.final_logs)
}

/// The client checks of one run, fed its observations in time order as they come.
pub struct ClientChecker {
    /// Every consumer that belongs to a group, with its `group.id` ([`RunFacts::groups`]).
    groups: BTreeMap<NodeId, Arc<str>>,
    tables: Tables,
    last: Instant,
}

impl ClientChecker {
    pub fn new(groups: BTreeMap<NodeId, Arc<str>>) -> Self {
        ClientChecker { groups, tables: Tables::default(), last: Instant::ZERO }
    }

    pub fn observe(&mut self, o: &Observed<KafkaObs>, layout: &Layout) {
        // Checked here, in the one pass every observation takes.
        assert!(self.last <= o.time, "the history is in time order");
        self.last = o.time;
        self.tables.add(o, layout, &self.groups);
    }

    /// The violations, given the partitions' final logs ([`RunFacts::final_logs`]).
    pub fn finish(self, layout: &Layout, final_logs: &FinalLogs) -> Vec<Violation> {
        let tables = self.tables;
        let mut violations = Vec::new();
        // Each of these tables is read by one invariant only, which may reorder it in place.
        violations.extend(commits_ahead_of_processing(&tables, layout));
        violations.extend(lost_commits(&tables, layout));
        violations.extend(aggregated("split-assignment", &tables.split, "split assignment(s)"));
        violations.extend(aggregated(
            "zombie-commit",
            &tables.zombie,
            "commit(s) acknowledged after the partition moved to a newer generation",
        ));
        violations.extend(missed_records(&tables, layout, final_logs));
        violations
    }
}

impl Tables {
    fn add(
        &mut self,
        o: &Observed<KafkaObs>,
        layout: &Layout,
        groups: &BTreeMap<NodeId, Arc<str>>,
    ) {
        let readers = || match groups.get(&o.node) {
            Some(g) => Readers::Group(g.clone()),
            None => Readers::Alone(o.node),
        };
        match &o.obs {
            KafkaObs::Read { tp, value, offset, .. } => {
                self.group_reads(o.node, tp, readers).add(o.time, *offset, *value, o.node);
            }
            KafkaObs::Processed { group: Some(group), tp, first, last } => {
                assert!(first <= last, "processed range {first}..={last} of {tp} is reversed");
                let member = (Readers::Group(group.clone()), tp.clone(), o.node);
                self.processing_starts.entry(member).or_insert(*first);
                self.processed
                    .entry((group.clone(), tp.clone()))
                    .or_default()
                    .push((*first, *last));
            }
            KafkaObs::PositionReset { tp, from, to, reason } => match reason {
                ResetReason::AutoOffsetReset | ResetReason::Committed => {
                    let member = (readers(), tp.clone(), o.node);
                    self.processing_starts.entry(member).or_insert(*to);
                    self.group_reads(o.node, tp, readers).started(o.node, *to);
                }
                ResetReason::OutOfRange if to > from => {
                    self.skipped.entry((readers(), tp.clone())).or_default().push((*from, *to));
                }
                ResetReason::OutOfRange | ResetReason::Truncation => {}
            },
            KafkaObs::CommitDone { op, group, generation, member_id, tp, offset, result } => {
                let commit = Commit {
                    node: o.node,
                    member: *member_id,
                    generation: *generation,
                    offset: offset.offset,
                    invoked: self.invoked(o, *op),
                    done: o.time,
                    ok: result.is_ok(),
                };
                assert!(commit.invoked <= commit.done, "commit completed before it was invoked");
                let key = (group.clone(), tp.clone());
                self.check_zombie(&key, &commit, layout);
                self.commits.entry(key).or_default().push(commit);
            }
            KafkaObs::CommitSent { op, group, offsets, .. } => {
                self.invocations.entry((o.node, *op)).or_insert(o.time);
                for (tp, offset) in offsets {
                    let sent = self.sent.entry((group.clone(), tp.clone())).or_default();
                    sent.push((offset.offset, o.time));
                }
            }
            KafkaObs::OffsetFetchSent { op, .. } => {
                self.invocations.entry((o.node, *op)).or_insert(o.time);
            }
            KafkaObs::OffsetFetched { op, group, tp, offset } => {
                let fetch = Fetch {
                    node: o.node,
                    offset: offset.map(|c| c.offset),
                    invoked: self.invoked(o, *op),
                    done: o.time,
                };
                assert!(fetch.invoked <= fetch.done, "fetch answered before it was invoked");
                self.fetches.entry((group.clone(), tp.clone())).or_default().push(fetch);
            }
            KafkaObs::Assigned {
                group: Some(group),
                generation: Some(generation),
                member_id: Some(member),
                partitions,
            } => {
                let grant =
                    Grant { time: o.time, generation: *generation, member: *member, node: o.node };
                for tp in partitions {
                    self.granted(group, tp, grant, layout);
                }
            }
            KafkaObs::Restarted => {
                // Operation ids start again with the process.
                let node = o.node;
                self.invocations.retain(|&(n, _), _| n != node);
            }
            KafkaObs::Sent { .. }
            | KafkaObs::Acked { .. }
            | KafkaObs::ProducerId { .. }
            | KafkaObs::SendFailed { .. }
            | KafkaObs::Throttled { .. }
            | KafkaObs::Processed { group: None, .. }
            | KafkaObs::Assigned { .. }
            | KafkaObs::Revoked { .. } => {}
        }
    }

    /// When operation `op` of `o`'s node was first sent; an operation never sent (it
    /// failed before reaching the coordinator) was invoked when it completed, at the latest.
    fn invoked(&self, o: &Observed<KafkaObs>, op: u64) -> Instant {
        self.invocations.get(&(o.node, op)).copied().unwrap_or(o.time)
    }

    /// The reads of `consumer`'s group in `tp`.
    fn group_reads(
        &mut self,
        consumer: NodeId,
        tp: &TopicPartition,
        readers: impl FnOnce() -> Readers,
    ) -> &mut GroupReads {
        // The slot last asked for is this consumer's for this partition only if the last
        // consumer asking was this one.
        let same = self.last_reader.as_ref().is_some_and(|(c, t)| *c == consumer && same_tp(t, tp));
        if !same {
            self.last_reader = Some((consumer, tp.clone()));
        }
        self.reads.slot(|_| same, || (readers(), tp.clone()), GroupReads::default)
    }

    /// `split-assignment`: a second member given the partition in the same generation.
    fn granted(&mut self, group: &Arc<str>, tp: &TopicPartition, grant: Grant, layout: &Layout) {
        let slot = (group.clone(), tp.clone(), grant.generation);
        let owner = *self.owners.entry(slot).or_insert(grant);
        if owner.member == grant.member {
            return;
        }
        let key = (group.clone(), tp.clone());
        self.split.entry(key).or_insert_with(Finding::new).add(grant.time, || {
            format!(
                "generation {}: {tp} assigned to {} ({}) at {} and to {} ({}) at {}",
                grant.generation,
                owner.member,
                layout.name(owner.node),
                owner.time,
                grant.member,
                layout.name(grant.node),
                grant.time,
            )
        });
    }

    /// `zombie-commit`: an acknowledged commit from generation g invoked after another
    /// member was given the partition in a generation newer than g. Every grant before the
    /// commit completed is known here. Only generations newer than the commit's are looked
    /// at: none for a member of the current generation, a few for a zombie.
    fn check_zombie(&mut self, key: &GroupTp, commit: &Commit, layout: &Layout) {
        let (true, Some(member), Some(generation)) = (commit.ok, commit.member, commit.generation)
        else {
            return;
        };
        let (group, tp) = key;
        let newer = (group.clone(), tp.clone(), generation.saturating_add(1))..;
        let Some(grant) = self
            .owners
            .range(newer)
            .take_while(|((g, t, _), _)| g == group && t == tp)
            .map(|(_, grant)| *grant)
            .find(|grant| grant.member != member && grant.time < commit.invoked)
        else {
            return;
        };
        assert!(grant.generation > generation);
        self.zombie.entry(key.clone()).or_insert_with(Finding::new).add(commit.done, || {
            format!(
                "commit of {} acknowledged at {}, but {tp} was assigned to {} ({}) in \
                 generation {} at {}",
                commit.describe(layout),
                commit.done,
                grant.member,
                layout.name(grant.node),
                grant.generation,
                grant.time,
            )
        });
    }
}

/// Sorted, disjoint, non-empty half-open ranges covering the same offsets as `ranges`.
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|&(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The half-open ranges of `from..to` that `covered` (merged) leaves out.
fn gaps(covered: &[(u64, u64)], from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for &(a, b) in covered {
        if cursor >= to {
            break;
        }
        if a > cursor {
            out.push((cursor, a.min(to)));
        }
        cursor = cursor.max(b);
    }
    if cursor < to {
        out.push((cursor, to));
    }
    out
}

/// The lowest position any member of `readers` started from in `tp`.
fn group_start(
    starts: &BTreeMap<(Readers, TopicPartition, NodeId), u64>,
    readers: &Readers,
    tp: &TopicPartition,
) -> Option<u64> {
    let first = (readers.clone(), tp.clone(), NodeId(0));
    let last = (readers.clone(), tp.clone(), NodeId(u32::MAX));
    starts.range(first..=last).map(|(_, &offset)| offset).min()
}

/// `commit-ahead-of-processing`: every offset from where the group started up to its
/// highest acknowledged commit was processed by a member, or skipped because retention
/// deleted it. A group whose members recorded neither a start nor a processed record in
/// the partition is not judged: where it started is unknown.
fn commits_ahead_of_processing(tables: &Tables, layout: &Layout) -> Vec<Violation> {
    let mut violations = Vec::new();
    for ((group, tp), commits) in &tables.commits {
        let acked: Vec<&Commit> = commits.iter().filter(|c| c.ok).collect();
        let Some(highest) = acked.iter().map(|c| c.offset).max() else { continue };
        let readers = Readers::Group(group.clone());
        let Some(start) = group_start(&tables.processing_starts, &readers, tp) else { continue };
        let key = (group.clone(), tp.clone());
        let processed = tables.processed.get(&key).into_iter().flatten().map(|&(a, b)| (a, b + 1));
        let skipped = tables.skipped.get(&(readers, tp.clone())).into_iter().flatten().copied();
        let covered = merged(processed.chain(skipped).collect());
        // The highest acknowledged commit so far, in completion order.
        let reach: Vec<u64> = acked
            .iter()
            .scan(0, |max, c| {
                *max = c.offset.max(*max);
                Some(*max)
            })
            .collect();
        let mut finding = Finding::new();
        let mut missing = 0;
        for (a, b) in gaps(&covered, start, highest) {
            missing += b - a;
            let first_past = acked[reach.partition_point(|&r| r <= a)];
            finding.add(first_past.done, || {
                format!(
                    "offsets {a}..={} never processed; first committed past by the commit of {} \
                     acknowledged at {}",
                    b - 1,
                    first_past.describe(layout),
                    first_past.done,
                )
            });
        }
        if finding.count == 0 {
            continue;
        }
        let headline = format!(
            "group {group}, {tp}: {missing} offset(s) below the committed offset {highest} never \
             processed by the group (started at {start})"
        );
        violations.push(Violation {
            invariant: "commit-ahead-of-processing",
            time: finding.time,
            detail: summary(&finding, &headline),
        });
    }
    violations
}

/// `lost-commit`: each OffsetFetch returns the offset of the acknowledged commit that
/// completed last before the fetch was invoked, or of a commit (of any outcome: a failed or
/// timed-out commit may have been applied) invoked since that one was and before the fetch
/// completed.
fn lost_commits(tables: &Tables, layout: &Layout) -> Vec<Violation> {
    let mut violations = Vec::new();
    for ((group, tp), fetches) in &tables.fetches {
        let Some(commits) = tables.commits.get(&(group.clone(), tp.clone())) else { continue };
        // In completion order, as the history is.
        let acked: Vec<&Commit> = commits.iter().filter(|c| c.ok).collect();
        let mut invocations: BTreeMap<u64, Vec<Instant>> = BTreeMap::new();
        let sent = tables.sent.get(&(group.clone(), tp.clone())).into_iter().flatten();
        for (offset, time) in commits.iter().map(|c| (c.offset, c.invoked)).chain(sent.copied()) {
            invocations.entry(offset).or_default().push(time);
        }
        invocations.values_mut().for_each(|times| times.sort_unstable());
        let invoked_between = |offset: u64, from: Instant, to: Instant| {
            invocations.get(&offset).is_some_and(|times| {
                let i = times.partition_point(|&t| t < from);
                times.get(i).is_some_and(|&t| t <= to)
            })
        };
        let mut finding = Finding::new();
        for fetch in fetches {
            let before = acked.partition_point(|c| c.done < fetch.invoked);
            let Some(last) = before.checked_sub(1).map(|i| acked[i]) else { continue };
            let returned_ok = fetch.offset.is_some_and(|offset| {
                offset == last.offset || invoked_between(offset, last.invoked, fetch.done)
            });
            if returned_ok {
                continue;
            }
            finding.add(fetch.done, || {
                let got = fetch.offset.map_or("nothing".to_string(), |o| o.to_string());
                format!(
                    "OffsetFetch by {} invoked at {} returned {got} at {}; the commit of {} was \
                     acknowledged at {}",
                    layout.name(fetch.node),
                    fetch.invoked,
                    fetch.done,
                    last.describe(layout),
                    last.done,
                )
            });
        }
        if finding.count == 0 {
            continue;
        }
        let headline = format!(
            "group {group}, {tp}: {} OffsetFetch(es) did not return an acknowledged commit",
            finding.count
        );
        violations.push(Violation {
            invariant: "lost-commit",
            time: finding.time,
            detail: summary(&finding, &headline),
        });
    }
    violations
}

/// One violation per (group, partition) of an invariant found while reading the history.
fn aggregated(
    invariant: &'static str,
    findings: &BTreeMap<GroupTp, Finding>,
    what: &str,
) -> Vec<Violation> {
    findings
        .iter()
        .map(|((group, tp), finding)| Violation {
            invariant,
            time: finding.time,
            detail: summary(finding, &format!("group {group}, {tp}: {} {what}", finding.count)),
        })
        .collect()
}

/// `missed-record`: every record of the final log from where a group started reading a
/// partition up to the furthest offset it read there was read by a member, except offsets
/// that forward out-of-range resets jumped over (retention deleted them).
fn missed_records(tables: &Tables, layout: &Layout, final_logs: &FinalLogs) -> Vec<Violation> {
    let mut violations = Vec::new();
    for ((readers, tp), reads) in tables.reads.iter() {
        let Some(log) = final_logs.get(tp) else { continue };
        // A group may have started (a reset) and read nothing yet.
        let Some(furthest) = reads.furthest() else { continue };
        let start = reads.start().expect("a group that read a partition has a start there");
        let key = (readers.clone(), tp.clone());
        let skipped = merged(tables.skipped.get(&key).cloned().unwrap_or_default());
        let mut skip = skipped.iter().peekable();
        let mut finding = Finding::new();
        let from = log.partition_point(|&(offset, _)| offset < start);
        for &(offset, value) in log[from..].iter().take_while(|&&(o, _)| o <= furthest) {
            while skip.next_if(|&&(_, end)| end <= offset).is_some() {}
            if skip.peek().is_some_and(|&&(a, _)| a <= offset) {
                continue;
            }
            let there = reads.at(offset);
            if there.clone().any(|&(v, _)| v == value) {
                continue;
            }
            let reached = reads.first_reached(offset).expect("offset is below the furthest read");
            finding.add(reached, || {
                let instead = if there.clone().next().is_none() {
                    "nothing read there".to_string()
                } else {
                    let read: Vec<String> = there
                        .map(|&(v, c)| format!("{} by {}", value_name(layout, v), layout.name(c)))
                        .collect();
                    format!("read there instead: {}", read.join("; "))
                };
                format!(
                    "offset {offset}: {} never read ({instead}); the group read past it at \
                     {reached}",
                    value_name(layout, value)
                )
            });
        }
        if finding.count == 0 {
            continue;
        }
        let headline = format!(
            "{}, {tp}: {} record(s) of the final log never read by the group, which read \
             offsets {start}..={furthest}",
            readers.name(layout),
            finding.count,
        );
        violations.push(Violation {
            invariant: "missed-record",
            time: finding.time,
            detail: summary(&finding, &headline),
        });
    }
    violations
}

#[cfg(test)]
mod tests;
