//! The client history: every operation a client performed, with its process, its
//! invocation and completion times, its outcome and its values. It is what the history
//! checkers ([`crate::check::history`]) read, and it stands alone: a run's history can be
//! saved as JSON lines (`kafsim run --history FILE`), loaded and checked again
//! (`kafsim check-history FILE`), and a history written by another tool in the same format
//! can be checked the same way.
//!
//! # Format (`kafsim-history/1`)
//! One JSON object per line. The first line may be a header,
//! `{"format": "kafsim-history/1", "promises": {...}, "end_ns": N, "unseen_grace_ns": G}`
//! ([`Header`], [`Promises`], [`End`]); without one, every process is held to the
//! strictest promises and the history ends at its last completion, with no grace. Every other line is one
//! operation ([`Op`]):
//!
//! ```text
//! {"process":"p1","f":"send","type":"ok","invoke_ns":1000,"complete_ns":5000,
//!  "topic":"t","partition":0,"key":3,"value":17,"offset":4}
//! {"process":"c1","f":"poll","type":"ok","invoke_ns":6000,"complete_ns":6000,
//!  "reads":[{"topic":"t","partition":0,"records":[[4,17],[5,18]]}]}
//! ```
//!
//! - `process`: the client that performed it (a name). A process that crashes records a
//!   `crash` operation; what it does afterwards is a new incarnation of it.
//! - `type`: `ok` (it happened), `fail` (it definitely did not happen) or `info` (unknown:
//!   it may have happened, e.g. a send given up after a timeout, or cut short by a crash).
//! - `invoke_ns` / `complete_ns`: simulated (or real) time in nanoseconds, one clock for
//!   the whole history, `invoke_ns <= complete_ns`.
//! - `f` and its fields ([`Call`]): `send` (`topic`, `partition`, `key`, `value`, `offset`
//!   once acknowledged, optionally the acknowledging `leader` and its `epoch`), `poll` (`reads`: per partition, `[offset, value]` pairs in the
//!   order returned), `assign` / `revoke` (`partitions` as `[topic, partition]` pairs,
//!   `group`, `generation`), `seek` (a position reset: `topic`, `partition`, `offset`,
//!   `reason`), `commit` (`group`, `offsets` as `[topic, partition, offset]`), `crash`.
//!
//! Values identify records: every send writes a value no other send writes. Operations
//! are listed in completion order (ties keep the order the process saw them).

mod from_sim;
mod jsonl;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use from_sim::{Builder, from_observations, promises};
pub use jsonl::{HistoryError, parse, to_jsonl};

/// The format name a header carries.
pub const FORMAT: &str = "kafsim-history/1";

/// A whole history: the promises its checks hold it to, when it ended, and its
/// operations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub promises: Promises,
    pub end: End,
    pub ops: Vec<Op>,
}

/// When the history ended, for `unseen`: acknowledgements younger than the grace at the
/// end are not judged (a consumer may just not have fetched them yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct End {
    /// The end of the history; `None`: its last completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<u64>,
    pub unseen_grace_ns: u64,
}

/// The optional first line of a history file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    #[serde(default)]
    pub promises: Promises,
    #[serde(default, flatten)]
    pub end: End,
}

/// What the system under test promised: which anomalies are errors and which are allowed
/// (see [`crate::check::history`]'s rules). The defaults are the strictest promises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Promises {
    /// Acknowledged writes survive leader changes: false with
    /// `unclean.leader.election.enable`, which trades them for availability.
    pub durable: bool,
    /// Promises of each producing process; processes not listed get `producers_default`.
    pub producers: BTreeMap<String, ProducerPromises>,
    pub producers_default: ProducerPromises,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            durable: true,
            producers: BTreeMap::new(),
            producers_default: ProducerPromises::default(),
        }
    }
}

impl Promises {
    pub fn producer(&self, process: &str) -> &ProducerPromises {
        self.producers.get(process).unwrap_or(&self.producers_default)
    }
}

/// What one producer's configuration promises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerPromises {
    /// `acks=all`: an acknowledged write is on every in-sync replica (acks 0 and 1 promise
    /// only the leader's copy).
    pub acks_all: bool,
    /// Idempotence: no record is appended twice.
    pub idempotent: bool,
    /// Records keep their send order within a partition (idempotence, or at most one
    /// request in flight).
    pub ordered: bool,
}

impl Default for ProducerPromises {
    fn default() -> Self {
        ProducerPromises { acks_all: true, idempotent: true, ordered: true }
    }
}

/// One client operation (one line of the format). Read by [`parse`], which checks the
/// common fields and the call's fields separately (serde cannot deny unknown fields
/// through a flattened enum).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// Shared, not copied: a process performs many operations.
    pub process: Arc<str>,
    #[serde(rename = "type")]
    pub outcome: Outcome,
    pub invoke_ns: u64,
    pub complete_ns: u64,
    #[serde(flatten)]
    pub call: Call,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// What an operation did, by its `f`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase", deny_unknown_fields)]
pub enum Call {
    /// A producer wrote `value` (Kafka record key `key`) to a partition; `offset` is where
    /// the acknowledgement put it.
    Send {
        topic: Arc<str>,
        partition: u32,
        #[serde(default)]
        key: u32,
        value: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
        /// The broker that acknowledged it and its leader epoch, where known: they only
        /// explain findings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<Arc<str>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<u32>,
    },
    /// A consumer's poll returned these records.
    Poll { reads: Vec<PartitionRead> },
    /// The consumer now owns these partitions (a group generation's assignment, or
    /// `assign` outside group management).
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u32>,
        partitions: Vec<Tp>,
    },
    /// The consumer no longer owns these partitions.
    Revoke {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u32>,
        partitions: Vec<Tp>,
    },
    /// The consumer's position moved other than by reading: the next read of the
    /// partition is expected at `offset`.
    Seek {
        topic: String,
        partition: u32,
        offset: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A consumer committed `offsets` (the next offset to read) for its group.
    Commit {
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u32>,
        offsets: Vec<(String, u32, u64)>,
    },
    /// The process crashed; whatever it had in flight is `info`.
    Crash {},
}

/// A partition, as `[topic, partition]`: Jepsen's "key".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tp(pub String, pub u32);

impl fmt::Display for Tp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// What one poll returned from one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionRead {
    pub topic: Arc<str>,
    pub partition: u32,
    /// `[offset, value]`, in the order the poll returned them.
    pub records: Vec<(u64, u64)>,
}

impl PartitionRead {
    pub fn tp(&self) -> Tp {
        Tp(self.topic.to_string(), self.partition)
    }
}
