//! One pass over a history builds what every checker reads: interned partitions and
//! processes, every send (a "write") by value, and per partition the version order:
//! which values were observed at which offset, by acknowledgement or by an `ok` poll.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::history::{Call, History, Op, Outcome, Tp};
use crate::sim::time::Instant;

/// A send, found by its value.
#[derive(Clone, Debug)]
pub(super) struct Write {
    pub op: usize,
    pub process: usize,
    pub tp: usize,
    pub outcome: Outcome,
    /// Where its acknowledgement put it.
    pub offset: Option<u64>,
    /// The first `ok` poll that returned it, if any.
    pub read_by: Option<usize>,
}

/// One value observed at one offset, by the first operation that observed it there (an
/// acknowledgement rather than the reads that agree with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Seen {
    pub offset: u64,
    pub value: u64,
    pub op: usize,
}

#[derive(Clone, Debug, Default)]
pub(super) struct PartIndex {
    /// Every (offset, value) observed, sorted, one entry (the first op) per pair.
    pub seen: Vec<Seen>,
    /// The distinct offsets observed, sorted: a read's index in the version order.
    pub offsets: Vec<u64>,
    /// The offsets observed with more than one value, sorted (`inconsistent-offsets`).
    pub conflicted: Vec<u64>,
    /// (completion time, offset) each time the highest offset an `ok` poll read grew.
    pub frontier: Vec<(u64, u64)>,
}

impl PartIndex {
    pub fn max_read(&self) -> Option<u64> {
        self.frontier.last().map(|&(_, o)| o)
    }

    /// When a poll first read at or past `offset`.
    pub fn first_reached(&self, offset: u64) -> Option<u64> {
        let idx = self.frontier.partition_point(|&(_, o)| o < offset);
        self.frontier.get(idx).map(|&(t, _)| t)
    }

    /// Whether `offset` was observed with more than one value.
    pub fn is_conflicted(&self, offset: u64) -> bool {
        self.conflicted.binary_search(&offset).is_ok()
    }

    /// How many observed offsets lie below `offset`.
    pub fn rank(&self, offset: u64) -> usize {
        self.offsets.partition_point(|&o| o < offset)
    }

    /// The values observed at `offset`, each with the first op that saw it.
    pub fn at(&self, offset: u64) -> &[Seen] {
        let from = self.seen.partition_point(|s| s.offset < offset);
        let to = from + self.seen[from..].partition_point(|s| s.offset == offset);
        &self.seen[from..to]
    }
}

pub(super) struct Index<'h> {
    pub history: &'h History,
    pub tps: Vec<Tp>,
    pub processes: Vec<&'h str>,
    /// Op index -> its process.
    pub op_process: Vec<usize>,
    pub writes: Vec<Write>,
    /// Value -> index into `writes`. Only looked up, never iterated.
    by_value: HashMap<u64, usize>,
    pub parts: Vec<PartIndex>,
    tp_ids: BTreeMap<(&'h str, u32), usize>,
    last_tp: Option<(&'h str, u32, usize)>,
}

impl<'h> Index<'h> {
    pub fn new(history: &'h History) -> Index<'h> {
        let mut index = Index {
            history,
            tps: Vec::new(),
            processes: Vec::new(),
            op_process: Vec::with_capacity(history.ops.len()),
            writes: Vec::new(),
            by_value: HashMap::with_capacity(history.ops.len()),
            parts: Vec::new(),
            tp_ids: BTreeMap::new(),
            last_tp: None,
        };
        let mut process_ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut last: Option<(&Arc<str>, usize)> = None;
        for op in &history.ops {
            let process = match last {
                // Most histories share one name per process: the pointer decides.
                Some((name, id)) if Arc::ptr_eq(name, &op.process) || *name == op.process => id,
                _ => {
                    let next = process_ids.len();
                    let id = *process_ids.entry(&op.process).or_insert(next);
                    if id == index.processes.len() {
                        index.processes.push(&op.process);
                    }
                    id
                }
            };
            last = Some((&op.process, process));
            index.op_process.push(process);
        }
        index.index_writes();
        index.index_reads();
        for part in &mut index.parts {
            // Acknowledgements and each consumer's reads come mostly in offset order: a
            // stable sort merges such runs in near-linear time.
            part.seen.sort();
            part.seen.dedup_by(|b, a| a.offset == b.offset && a.value == b.value);
            part.offsets = part.seen.iter().map(|s| s.offset).collect();
            part.offsets.dedup();
            part.conflicted = part
                .seen
                .chunk_by(|a, b| a.offset == b.offset)
                .filter(|same| same.len() > 1)
                .map(|same| same[0].offset)
                .collect();
        }
        index
    }

    pub fn tp_id(&mut self, topic: &'h str, partition: u32) -> usize {
        // Runs of operations on one partition: the same name, usually the same memory.
        if let Some((last_topic, last_partition, id)) = self.last_tp
            && last_partition == partition
            && (std::ptr::eq(last_topic, topic) || last_topic == topic)
        {
            return id;
        }
        let id = self.intern_tp(topic, partition);
        self.last_tp = Some((topic, partition, id));
        id
    }

    fn intern_tp(&mut self, topic: &'h str, partition: u32) -> usize {
        let next = self.tp_ids.len();
        let id = *self.tp_ids.entry((topic, partition)).or_insert(next);
        if id == self.tps.len() {
            self.tps.push(Tp(topic.to_string(), partition));
            self.parts.push(PartIndex::default());
        }
        id
    }

    /// The id of a partition the history names.
    pub fn find_tp(&self, topic: &'h str, partition: u32) -> Option<usize> {
        self.tp_ids.get(&(topic, partition)).copied()
    }

    pub fn write_of(&self, value: u64) -> Option<&Write> {
        self.by_value.get(&value).map(|&w| &self.writes[w])
    }

    fn ops(&self) -> impl Iterator<Item = (usize, &'h Op)> + use<'h> {
        self.history.ops.iter().enumerate()
    }

    fn index_writes(&mut self) {
        for (i, op) in self.ops() {
            if let Call::Send { topic, partition, value, offset, .. } = &op.call {
                let tp = self.tp_id(topic, *partition);
                let process = self.op_process[i];
                let write = Write {
                    op: i,
                    process,
                    tp,
                    outcome: op.outcome,
                    offset: offset.filter(|_| op.outcome == Outcome::Ok),
                    read_by: None,
                };
                assert!(
                    self.by_value.insert(*value, self.writes.len()).is_none(),
                    "value {value} sent twice: histories are validated on load"
                );
                if let Some(o) = write.offset {
                    self.parts[tp].seen.push(Seen { offset: o, value: *value, op: i });
                }
                self.writes.push(write);
            }
        }
    }

    fn index_reads(&mut self) {
        for (i, op) in self.ops() {
            let Call::Poll { reads } = &op.call else { continue };
            if op.outcome != Outcome::Ok {
                continue;
            }
            for read in reads {
                let tp = self.tp_id(&read.topic, read.partition);
                for &(offset, value) in &read.records {
                    // A read of a write where it was acknowledged adds nothing to the
                    // version order (the acknowledgement put that pair there): only the
                    // other reads are kept, which is most of the saving on long histories.
                    let write = self.by_value.get(&value).map(|&w| &mut self.writes[w]);
                    let as_acked =
                        write.as_ref().is_some_and(|w| w.tp == tp && w.offset == Some(offset));
                    if let Some(w) = write {
                        w.read_by.get_or_insert(i);
                    }
                    if !as_acked {
                        self.parts[tp].seen.push(Seen { offset, value, op: i });
                    }
                    let part = &mut self.parts[tp];
                    if part.max_read().is_none_or(|m| offset > m) {
                        part.frontier.push((op.complete_ns, offset));
                    }
                }
            }
        }
    }

    /// A value as a person reads it: its sender and the send's number among the sender's
    /// sends in invocation order (`p1#17`), or the bare value when no send wrote it. One
    /// pass over the sends: names are made only for the few examples quoted.
    pub fn name(&self, value: u64) -> String {
        let Some(w) = self.write_of(value) else { return format!("value {value}") };
        let key = |w: &Write| (self.history.ops[w.op].invoke_ns, self.value_of(w));
        let own = key(w);
        let seq = self.writes.iter().filter(|o| o.process == w.process && key(o) < own).count();
        format!("{}#{seq}", self.processes[w.process])
    }

    /// The value a write sent.
    pub fn value_of(&self, write: &Write) -> u64 {
        match &self.history.ops[write.op].call {
            Call::Send { value, .. } => *value,
            _ => unreachable!("a write is a send"),
        }
    }

    /// An operation as a person reads it: `op 12 (c1, t=3.214s)`.
    pub fn op(&self, op: usize) -> String {
        let o = &self.history.ops[op];
        format!("op {op} ({}, {})", o.process, at(o.complete_ns))
    }
}

/// A time of the history, shown as the trace shows times (`t=1.234s`).
pub(super) fn at(ns: u64) -> Instant {
    Instant::from_nanos(ns)
}
