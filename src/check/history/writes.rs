//! The anomalies of what was written against what was read: `lost-write`, `unseen`,
//! `inconsistent-offsets`, `duplicate` and `G1a`.

use crate::history::{Call, Outcome};

use super::index::{Index, Seen, Write};
use super::{DUPLICATE, Example, Found, G1A, INCONSISTENT, LOST_WRITE, UNSEEN};

const NOT_ACKS_ALL: &str = "acks 0 and 1 promise only the leader's copy";
const UNCLEAN: &str = "unclean leader election gives acknowledged writes up";
const NOT_IDEMPOTENT: &str = "without idempotence a retry may append a record again";
const UNCLEAN_DEDUP: &str =
    "an unclean leader may lack the producer state idempotence deduplicates against";

pub(super) fn check(index: &Index, end_ns: u64, unseen_grace_ns: u64, found: &mut Found) {
    for write in &index.writes {
        lost_or_unseen(index, write, end_ns, unseen_grace_ns, found);
        aborted_read(index, write, found);
    }
    for (tp, part) in index.parts.iter().enumerate() {
        inconsistent(index, tp, &part.seen, found);
        duplicates(index, tp, &part.seen, found);
    }
}

/// Why the promises allow losing `write`, if they do.
fn loss_allowed(index: &Index, write: &Write) -> Option<&'static str> {
    let promises = &index.history.promises;
    if !promises.producer(index.processes[write.process]).acks_all {
        Some(NOT_ACKS_ALL)
    } else if !promises.durable {
        Some(UNCLEAN)
    } else {
        None
    }
}

fn describe_ack(index: &Index, write: &Write, offset: u64) -> String {
    format!(
        "offset {offset}: {} {}",
        index.name(index.value_of(write)),
        acknowledgement(index, write.op)
    )
}

/// `acknowledged by b1 (epoch 3) in op 12 (p1, t=1.000s)`, with what the op knows.
fn acknowledgement(index: &Index, op: usize) -> String {
    let by = match &index.history.ops[op].call {
        Call::Send { leader: Some(leader), epoch: Some(epoch), .. } => {
            format!(" by {leader} (epoch {epoch})")
        }
        Call::Send { leader: Some(leader), .. } => format!(" by {leader}"),
        _ => String::new(),
    };
    format!("acknowledged{by} in {}", index.op(op))
}

fn lost_or_unseen(index: &Index, write: &Write, end_ns: u64, grace_ns: u64, found: &mut Found) {
    let (Some(offset), None) = (write.offset, write.read_by) else { return };
    let part = &index.parts[write.tp];
    let acked_ns = index.history.ops[write.op].complete_ns;
    let allowed = loss_allowed(index, write);
    let value = index.value_of(write);
    if part.max_read().is_some_and(|m| m >= offset) {
        let seen_ns = part.first_reached(offset).expect("reads reached it").max(acked_ns);
        found.add(LOST_WRITE, write.tp, Some(write.process), allowed, seen_ns, || {
            let instead = part.at(offset).iter().filter(|s| s.value != value);
            let instead: Vec<String> = instead
                .map(|s| format!("{} ({})", index.name(s.value), observed_by(index, s)))
                .collect();
            let instead = if instead.is_empty() {
                "nothing read at that offset".to_string()
            } else {
                format!("instead there: {}", instead.join("; "))
            };
            let mut ops = vec![write.op];
            ops.extend(part.at(offset).iter().filter(|s| s.value != value).map(|s| s.op));
            Example {
                ops,
                offsets: vec![offset],
                values: vec![value],
                text: format!("{}; {instead}", describe_ack(index, write, offset)),
            }
        });
    } else if acked_ns.saturating_add(grace_ns) <= end_ns && stalled(part, end_ns, grace_ns) {
        found.add(UNSEEN, write.tp, Some(write.process), allowed, end_ns, || Example {
            ops: vec![write.op],
            offsets: vec![offset],
            values: vec![value],
            text: describe_ack(index, write, offset),
        });
    }
}

/// Whether the polls of a partition had stopped advancing for the grace before the end (or
/// never read it): a consumer still working through a backlog is late, not short.
fn stalled(part: &super::index::PartIndex, end_ns: u64, grace_ns: u64) -> bool {
    part.frontier.last().is_none_or(|&(at_ns, _)| at_ns.saturating_add(grace_ns) <= end_ns)
}

/// `G1a`: a definitely failed send's value was read.
fn aborted_read(index: &Index, write: &Write, found: &mut Found) {
    let (Outcome::Fail, Some(read)) = (write.outcome, write.read_by) else { return };
    let value = index.value_of(write);
    let read_op = &index.history.ops[read];
    found.add(G1A, write.tp, Some(write.process), None, read_op.complete_ns, || Example {
        ops: vec![write.op, read],
        offsets: Vec::new(),
        values: vec![value],
        text: format!(
            "{} failed ({}) yet was read by {}",
            index.name(value),
            index.op(write.op),
            index.op(read)
        ),
    });
}

/// `inconsistent-offsets`: each offset observed with several values.
fn inconsistent(index: &Index, tp: usize, seen: &[Seen], found: &mut Found) {
    for same in seen.chunk_by(|a, b| a.offset == b.offset).filter(|s| s.len() > 1) {
        let at_ns = same.iter().map(|s| index.history.ops[s.op].complete_ns).max().expect("some");
        found.add(INCONSISTENT, tp, None, offset_allowed(index, same), at_ns, || {
            let values: Vec<String> = same
                .iter()
                .map(|s| format!("{} ({})", index.name(s.value), observed_by(index, s)))
                .collect();
            Example {
                ops: same.iter().map(|s| s.op).collect(),
                offsets: vec![same[0].offset],
                values: same.iter().map(|s| s.value).collect(),
                text: format!("offset {}: {}", same[0].offset, values.join(" vs ")),
            }
        });
    }
}

/// How an observation was made: acknowledged to its sender, or read.
fn observed_by(index: &Index, seen: &Seen) -> String {
    match index.history.ops[seen.op].call {
        Call::Send { .. } => acknowledgement(index, seen.op),
        _ => format!("read in {}", index.op(seen.op)),
    }
}

/// Several values at one offset are allowed when the promises allow losing the writes
/// behind all but one of them.
fn offset_allowed(index: &Index, same: &[Seen]) -> Option<&'static str> {
    if !index.history.promises.durable {
        return Some(UNCLEAN);
    }
    let is_read = |s: &Seen| !matches!(index.history.ops[s.op].call, Call::Send { .. });
    let reads = same.iter().filter(|s| is_read(s)).count();
    let unpromised_acks = same.iter().filter(|s| !is_read(s)).all(|s| {
        index.write_of(s.value).is_some_and(|w| loss_allowed(index, w) == Some(NOT_ACKS_ALL))
    });
    (reads <= 1 && unpromised_acks).then_some(NOT_ACKS_ALL)
}

/// `duplicate`: a value observed at more than one offset.
fn duplicates(index: &Index, tp: usize, seen: &[Seen], found: &mut Found) {
    let mut by_value: Vec<&Seen> = seen.iter().collect();
    // Values mostly grow with offsets (per producer): a stable sort merges those runs.
    by_value.sort_by_key(|s| (s.value, s.offset));
    for same in by_value.chunk_by(|a, b| a.value == b.value).filter(|s| s.len() > 1) {
        let value = same[0].value;
        let writer = index.write_of(value);
        let process = writer.map(|w| w.process);
        let promises = &index.history.promises;
        let allowed = match writer {
            Some(w) if !promises.producer(index.processes[w.process]).idempotent => {
                Some(NOT_IDEMPOTENT)
            }
            Some(_) if !promises.durable => Some(UNCLEAN_DEDUP),
            _ => None,
        };
        let at_ns = same.iter().map(|s| index.history.ops[s.op].complete_ns).max().expect("some");
        found.add(DUPLICATE, tp, process, allowed, at_ns, || {
            let offsets: Vec<String> = same.iter().map(|s| s.offset.to_string()).collect();
            Example {
                ops: same.iter().map(|s| s.op).collect(),
                offsets: same.iter().map(|s| s.offset).collect(),
                values: vec![value],
                text: format!("{} at offsets {}", index.name(value), offsets.join(", ")),
            }
        });
    }
}
