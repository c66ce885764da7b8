//! The history checkers: a client history ([`crate::history::History`]) against the
//! anomalies Jepsen's Kafka analysis defines (reference/kafka-anomalies.md §3), with
//! Jepsen's names. The version order of a partition (Jepsen's "key") is every value
//! observed at each offset, by acknowledgement or by an `ok` poll; a read's index is the
//! number of distinct observed offsets below it.
//!
//! - `inconsistent-offsets`: an offset observed with two or more values.
//! - `duplicate`: a value observed at two or more offsets.
//! - `lost-write`: a write whose send is `ok` (or `info` and read elsewhere is impossible:
//!   only `ok` sends have a known offset), never returned by any `ok` poll, though polls
//!   read its offset or past it.
//! - `unseen`: an `ok` write no poll returned, because no poll got that far by the end of
//!   the history. Loss and delay look the same, so only what polls had time to reach is
//!   judged: acknowledgements older than the grace ([`UNSEEN_GRACE_MS`] for runs) in a
//!   partition whose polls had stopped advancing for the grace before the end (a
//!   consumer still working through a backlog is late, not short; the liveness check
//!   bounds how late).
//! - `poll-skip` / `nonmonotonic-poll`: a process's successive `ok` polls of a partition
//!   advance by more than one index / by zero or less. A run of reads starts afresh at a
//!   crash and at an `assign` naming the partition (any position may follow), and at a
//!   `seek` (the next read is expected at its offset).
//! - `int-poll-skip` / `int-nonmonotonic-poll`: the same within one poll's records of a
//!   partition.
//! - `nonmonotonic-send`: a process's send lands at an offset at or below that of a send it
//!   invoked earlier on the same partition: the sends' invocation order and their log
//!   order form a cycle (found with petgraph, see `order`).
//! - `G1a` (aborted read): a poll returned the value of a definitely failed (`fail`) send.
//!
//! # Rules: which anomalies are errors
//! What is an error depends on what the system promised ([`crate::history::Promises`],
//! derived from a scenario's configuration or read from a history file's header).
//! Anomalies a promise does not cover are still found and reported, as allowed, with why:
//!
//! | anomaly | an error unless |
//! |---|---|
//! | `lost-write`, `unseen` | the writer's `acks` is not `all` (only the leader had it), or unclean leader election is on (it gives acknowledged writes up) |
//! | `inconsistent-offsets` | unclean leader election is on, or at most one value there was read and every other was acknowledged to a producer without `acks=all` |
//! | `duplicate` | the writer is not idempotent (a retry may append a record again), or unclean leader election is on (the new leader may lack the producer state deduplication relies on) |
//! | `nonmonotonic-send` | the writer keeps no order (no idempotence, several requests in flight: a retry overtakes) |
//! | `poll-skip`, `nonmonotonic-poll`, `int-*`, `G1a` | never allowed |
//!
//! Jepsen allows poll skips and regressions under `subscribe`; here a rebalance's `assign`
//! starts a new run of reads instead, so within one assignment they stay errors.
//!
//! # Reports
//! One anomaly per name, partition, process (where one is involved) and rule, with a
//! count, the time it was first visible, and the first [`EXAMPLES_MAX`] examples in full:
//! the operations, offsets and values involved.

mod index;
mod order;
mod reads;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::history::History;
use crate::kafka::cluster::Layout;
use crate::kafka::protocol::KafkaObs;
use crate::scenario::Scenario;
use crate::sim::time::{Duration, Instant};
use crate::sim::world::Observed;

use super::Violation;
use super::finding::EXAMPLES_MAX;
use index::{Index, at};

/// Acknowledgements younger than this at the end of a run are not reported as unseen: a
/// consumer may simply not have fetched them yet. Ten seconds cover a lost fetch on the
/// way (3 s request timeouts) both at the follower (holding the HW back) and at the
/// consumer.
pub const UNSEEN_GRACE_MS: u64 = 10_000;

/// Every anomaly this checker finds, in report order.
pub const ANOMALIES: [&str; 10] = [
    LOST_WRITE,
    UNSEEN,
    INCONSISTENT,
    DUPLICATE,
    G1A,
    NONMONOTONIC_SEND,
    POLL_SKIP,
    NONMONOTONIC_POLL,
    INT_POLL_SKIP,
    INT_NONMONOTONIC_POLL,
];

const LOST_WRITE: &str = "lost-write";
const UNSEEN: &str = "unseen";
const INCONSISTENT: &str = "inconsistent-offsets";
const DUPLICATE: &str = "duplicate";
const G1A: &str = "G1a";
const NONMONOTONIC_SEND: &str = "nonmonotonic-send";
const POLL_SKIP: &str = "poll-skip";
const NONMONOTONIC_POLL: &str = "nonmonotonic-poll";
const INT_POLL_SKIP: &str = "int-poll-skip";
const INT_NONMONOTONIC_POLL: &str = "int-nonmonotonic-poll";

/// One kind of anomaly on one partition (and process), aggregated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// One of [`ANOMALIES`].
    pub name: &'static str,
    /// The partition, `topic-partition`.
    pub partition: String,
    /// The process whose operations show it, for the per-process anomalies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Why the promises allow it; `None` for an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<&'static str>,
    pub count: usize,
    /// When it first became visible (nanoseconds).
    pub first_ns: u64,
    pub headline: String,
    /// The first few instances in full.
    pub examples: Vec<Example>,
}

/// One instance of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Example {
    /// Indices into the history's operations.
    pub ops: Vec<usize>,
    pub offsets: Vec<u64>,
    pub values: Vec<u64>,
    pub text: String,
}

impl Anomaly {
    /// The anomaly as a violation: headline and examples.
    pub fn to_violation(&self) -> Violation {
        let mut detail = self.headline.clone();
        if let Some(why) = self.allowed {
            let _ = write!(detail, " (allowed: {why})");
        }
        for example in &self.examples {
            let _ = write!(detail, "\n  - {}", example.text);
        }
        if self.count > self.examples.len() {
            let _ = write!(detail, "\n  - ... and {} more", self.count - self.examples.len());
        }
        let invariant = ANOMALIES.iter().find(|&&n| n == self.name).expect("a known anomaly");
        Violation { invariant, time: Instant::from_nanos(self.first_ns), detail }
    }
}

/// Checks a history that ended at `end_ns`; acknowledgements younger than `unseen_grace_ns`
/// then are not judged `unseen`. Anomalies come out in [`ANOMALIES`] order, then by
/// partition and process.
pub fn check(history: &History, end_ns: u64, unseen_grace_ns: u64) -> Vec<Anomaly> {
    let index = Index::new(history);
    let mut found = Found::default();
    writes::check(&index, end_ns, unseen_grace_ns, &mut found);
    reads::check(&index, &mut found);
    order::check(&index, &mut found);
    found.finish(&index, end_ns)
}

/// Checks a simulated run's observations, ended at `end`, with the default grace: the
/// history built from them ([`crate::history::from_observations`]) and what it shows.
pub fn check_run(
    observed: &[Observed<KafkaObs>],
    scenario: &Scenario,
    layout: &Layout,
    end: Instant,
) -> (History, Vec<Anomaly>) {
    let grace = Duration::from_millis(UNSEEN_GRACE_MS);
    let history = crate::history::from_observations(observed, scenario, layout, end, grace);
    let anomalies = check_ended(&history);
    (history, anomalies)
}

/// Checks a history at the end its [`crate::history::End`] gives (by default its last
/// completion, with no grace for `unseen`).
pub fn check_ended(history: &History) -> Vec<Anomaly> {
    let last_ns = history.ops.iter().map(|o| o.complete_ns).max().unwrap_or(0);
    check(history, history.end.end_ns.unwrap_or(last_ns), history.end.unseen_grace_ns)
}

/// Where findings are gathered: per (anomaly, partition, process, rule).
#[derive(Default)]
struct Found {
    groups: BTreeMap<Key, Group>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// Index into [`ANOMALIES`].
    anomaly: usize,
    tp: usize,
    process: Option<usize>,
    allowed: Option<&'static str>,
}

struct Group {
    count: usize,
    first_ns: u64,
    examples: Vec<Example>,
}

impl Found {
    /// Records one instance; `example` is built only for the first few.
    fn add(
        &mut self,
        name: &'static str,
        tp: usize,
        process: Option<usize>,
        allowed: Option<&'static str>,
        at_ns: u64,
        example: impl FnOnce() -> Example,
    ) {
        let anomaly = ANOMALIES.iter().position(|&n| n == name).expect("a known anomaly");
        let key = Key { anomaly, tp, process, allowed };
        let group = self.groups.entry(key).or_insert(Group {
            count: 0,
            first_ns: u64::MAX,
            examples: Vec::new(),
        });
        group.count += 1;
        group.first_ns = group.first_ns.min(at_ns);
        if group.examples.len() < EXAMPLES_MAX {
            group.examples.push(example());
        }
    }

    fn finish(self, index: &Index, end_ns: u64) -> Vec<Anomaly> {
        self.groups
            .into_iter()
            .map(|(key, group)| {
                let name = ANOMALIES[key.anomaly];
                let tp = &index.tps[key.tp];
                let process = key.process.map(|p| index.processes[p].to_string());
                let headline = headline(
                    name,
                    &tp.to_string(),
                    process.as_deref(),
                    group.count,
                    index,
                    key.tp,
                    end_ns,
                );
                Anomaly {
                    name,
                    partition: tp.to_string(),
                    process,
                    allowed: key.allowed,
                    count: group.count,
                    first_ns: group.first_ns,
                    headline,
                    examples: group.examples,
                }
            })
            .collect()
    }
}

fn headline(
    name: &str,
    tp: &str,
    process: Option<&str>,
    count: usize,
    index: &Index,
    tp_id: usize,
    end_ns: u64,
) -> String {
    let who = process.unwrap_or("?");
    match name {
        LOST_WRITE => format!(
            "{tp}: {count} acknowledged write(s) from {who} never read, though polls read past them"
        ),
        UNSEEN => {
            let reach =
                index.parts[tp_id].max_read().map_or("no poll read it at all".to_string(), |m| {
                    format!("polls read up to offset {m}")
                });
            format!(
                "{tp}: {count} acknowledged write(s) from {who} never read by the end ({}); {reach}",
                at(end_ns)
            )
        }
        INCONSISTENT => format!("{tp}: {count} offset(s) observed with different values"),
        DUPLICATE => format!("{tp}: {count} value(s) from {who} at more than one offset"),
        G1A => format!("{tp}: {count} value(s) of definitely failed sends from {who} read"),
        NONMONOTONIC_SEND => {
            format!("{tp}: {count} send(s) by {who} landed at or before a send it invoked earlier")
        }
        POLL_SKIP => format!("{tp}: {count} skip(s) between {who}'s polls"),
        NONMONOTONIC_POLL => format!("{tp}: {count} backward read(s) between {who}'s polls"),
        INT_POLL_SKIP => format!("{tp}: {count} skip(s) within one of {who}'s polls"),
        INT_NONMONOTONIC_POLL => {
            format!("{tp}: {count} backward read(s) within one of {who}'s polls")
        }
        _ => unreachable!("a known anomaly"),
    }
}
