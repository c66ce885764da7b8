//! The anomalies of one process's reads of a partition: `poll-skip` and
//! `nonmonotonic-poll` between successive polls, `int-poll-skip` and
//! `int-nonmonotonic-poll` within one poll. Skips are judged in the version order's
//! indices: reading offset `b` right after `a` skips when some offset strictly between
//! them was observed (acknowledged or read) anywhere in the history.

use std::collections::BTreeMap;

use crate::history::{Call, Outcome};

use super::index::{Index, PartIndex, at};
use super::{Example, Found, INT_NONMONOTONIC_POLL, INT_POLL_SKIP, NONMONOTONIC_POLL, POLL_SKIP};

/// Where a process's next read of a partition must be, within one run of reads.
#[derive(Clone, Copy, Debug)]
enum Expected {
    /// Just assigned, or never read: any offset may come.
    Any,
    /// A seek (op) set the position: the next read is expected at `offset`.
    At { offset: u64, op: usize },
    /// The last read was `offset`, in `op`.
    After { offset: u64, op: usize },
}

pub(super) fn check(index: &Index, found: &mut Found) {
    let mut expected: BTreeMap<(usize, usize), Expected> = BTreeMap::new();
    for (i, op) in index.history.ops.iter().enumerate() {
        let process = index.op_process[i];
        match &op.call {
            Call::Crash {} => expected.retain(|&(p, _), _| p != process),
            Call::Assign { partitions, .. } => {
                for tp in partitions {
                    if let Some(id) = index.find_tp(&tp.0, tp.1) {
                        expected.insert((process, id), Expected::Any);
                    }
                }
            }
            Call::Seek { topic, partition, offset, .. } => {
                if let Some(id) = index.find_tp(topic, *partition) {
                    expected.insert((process, id), Expected::At { offset: *offset, op: i });
                }
            }
            Call::Poll { reads } if op.outcome == Outcome::Ok => {
                for read in reads.iter().filter(|r| !r.records.is_empty()) {
                    let tp = index.find_tp(&read.topic, read.partition).expect("indexed");
                    let (first, _) = read.records[0];
                    let (last, _) = *read.records.last().expect("non-empty");
                    let slot = expected.entry((process, tp)).or_insert(Expected::Any);
                    between(index, tp, process, i, *slot, first, found);
                    within(index, tp, process, i, &read.records, found);
                    *slot = Expected::After { offset: last, op: i };
                }
            }
            _ => {}
        }
    }
}

/// Whether some observed offset lies in `from..to`.
fn observed_within(part: &PartIndex, from: u64, to: u64) -> bool {
    from < to && part.rank(to) > part.rank(from)
}

/// The first read of poll `op` against what the process's previous operations expected.
fn between(
    index: &Index,
    tp: usize,
    process: usize,
    op: usize,
    expected: Expected,
    offset: u64,
    found: &mut Found,
) {
    let part = &index.parts[tp];
    let at_ns = index.history.ops[op].complete_ns;
    let (name, since, after) = match expected {
        Expected::Any => return,
        Expected::After { offset: prev, op: prev_op } if offset <= prev => {
            (NONMONOTONIC_POLL, prev_op, format!("after offset {prev}"))
        }
        Expected::After { offset: prev, op: prev_op }
            if observed_within(part, prev + 1, offset) =>
        {
            (
                POLL_SKIP,
                prev_op,
                format!("after offset {prev}, skipping {}..{}", prev + 1, offset - 1),
            )
        }
        Expected::At { offset: to, op: seek_op } if observed_within(part, to, offset) => {
            (POLL_SKIP, seek_op, format!("after a seek to {to}, skipping {to}..{}", offset - 1))
        }
        _ => return,
    };
    found.add(name, tp, Some(process), None, at_ns, || Example {
        ops: vec![since, op],
        offsets: vec![offset],
        values: Vec::new(),
        text: format!(
            "{} read offset {offset} {after} at {} ({}; before: {})",
            index.processes[process],
            at(at_ns),
            index.op(op),
            index.op(since)
        ),
    });
}

/// Successive records of one poll's partition.
fn within(
    index: &Index,
    tp: usize,
    process: usize,
    op: usize,
    records: &[(u64, u64)],
    found: &mut Found,
) {
    let part = &index.parts[tp];
    let at_ns = index.history.ops[op].complete_ns;
    for pair in records.windows(2) {
        let (prev, offset) = (pair[0].0, pair[1].0);
        if offset == prev + 1 {
            continue;
        }
        let name = if offset <= prev {
            INT_NONMONOTONIC_POLL
        } else if observed_within(part, prev + 1, offset) {
            INT_POLL_SKIP
        } else {
            continue;
        };
        found.add(name, tp, Some(process), None, at_ns, || Example {
            ops: vec![op],
            offsets: vec![prev, offset],
            values: Vec::new(),
            text: format!(
                "{} read offset {offset} right after {prev} in one poll ({})",
                index.processes[process],
                index.op(op)
            ),
        });
    }
}
