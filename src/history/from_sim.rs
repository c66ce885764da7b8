//! A run's history, built from its observations ([`KafkaObs`]) and its scenario.
//!
//! - A send is invoked at its first `Sent` and completes at its `Acked` (`ok`) or
//!   `SendFailed`: `fail` when no attempt ever left the producer, else `info` (an attempt
//!   may have been appended). A send still open when its producer restarts, or when the
//!   run ends, completes `info` then.
//! - A poll is the run of `Read`s one consumer observed at one instant (one `poll()`).
//! - `Assigned`, `Revoked`, `PositionReset` and `Restarted` become `assign`, `revoke`,
//!   `seek` and `crash`; a commit is invoked at its first `CommitSent` and completes when
//!   every partition has its `CommitDone` (`ok` if all succeeded, `fail` if all were
//!   refused, `info` otherwise or when none came).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::kafka::cluster::Layout;
use crate::kafka::protocol::{KafkaObs, TopicPartition};
use crate::scenario::{Acks, Scenario};
use crate::sim::node::NodeId;
use crate::sim::time::{Duration, Instant};
use crate::sim::world::Observed;

use super::{Call, End, History, Op, Outcome, PartitionRead, ProducerPromises, Promises, Tp};

/// What the scenario's configuration promises (see [`Promises`]).
pub fn promises(scenario: &Scenario) -> Promises {
    let producers = scenario
        .producers
        .iter()
        .map(|p| {
            let acks_all = p.acks == Acks::All;
            // Kafka turns idempotence off for acks other than all.
            let idempotent = p.idempotent && acks_all;
            let promises = ProducerPromises {
                acks_all,
                idempotent,
                ordered: idempotent || p.max_in_flight == 1,
            };
            (p.name.clone(), promises)
        })
        .collect();
    Promises {
        durable: !scenario.broker.unclean_leader_election_enable,
        producers,
        producers_default: ProducerPromises::default(),
    }
}

/// The history of a run of `scenario` whose observations are `observed`, ended at `end`,
/// whose `unseen` grace is `unseen_grace`.
pub fn from_observations(
    observed: &[Observed<KafkaObs>],
    scenario: &Scenario,
    layout: &Layout,
    end: Instant,
    unseen_grace: Duration,
) -> History {
    let mut builder = Builder::new(layout);
    for o in observed {
        builder.observe(o);
    }
    builder.finish(scenario, end, unseen_grace)
}

/// Builds a run's history from its observations, fed in time order as the run goes.
pub struct Builder {
    /// Node names, shared by every operation of the node.
    names: Vec<Arc<str>>,
    ops: Vec<Op>,
    /// Value -> (producer, invoked, an attempt was sent) of sends not yet completed.
    open_sends: BTreeMap<u64, OpenSend>,
    /// (consumer, commit op id) -> the commit being completed partition by partition.
    commits: BTreeMap<(NodeId, u64), OpenCommit>,
    /// The poll being read: the `Read`s one consumer observed at one instant, so far.
    poll: Option<OpenPoll>,
}

struct OpenPoll {
    consumer: NodeId,
    at: Instant,
    reads: Vec<PartitionRead>,
}

struct OpenSend {
    producer: NodeId,
    tp: TopicPartition,
    key: u32,
    invoked: Instant,
}

struct OpenCommit {
    invoked: Instant,
    group: String,
    generation: Option<u32>,
    offsets: Vec<(String, u32, u64)>,
    /// Partitions answered so far, and how many of them succeeded.
    answered: usize,
    succeeded: usize,
    /// Partitions answered with no answer (timed out): outcome unknown.
    unknown: usize,
}

fn tp_of(tp: &TopicPartition) -> Tp {
    Tp(tp.topic.to_string(), tp.partition)
}

impl Builder {
    pub fn new(layout: &Layout) -> Self {
        let names =
            (0..layout.node_count() as u32).map(|n| Arc::from(layout.name(NodeId(n)))).collect();
        Builder {
            names,
            ops: Vec::new(),
            open_sends: BTreeMap::new(),
            commits: BTreeMap::new(),
            poll: None,
        }
    }

    /// The history of a run of `scenario` ended at `end`, whose `unseen` grace is
    /// `unseen_grace`: what is still open then completes `info`.
    pub fn finish(mut self, scenario: &Scenario, end: Instant, unseen_grace: Duration) -> History {
        self.close_poll();
        self.close_sends(|_| true, end);
        self.close_commits(|_| true, end);
        let end = End { end_ns: Some(end.as_nanos()), unseen_grace_ns: unseen_grace.as_nanos() };
        History { promises: promises(scenario), end, ops: self.ops }
    }

    fn push(
        &mut self,
        node: NodeId,
        outcome: Outcome,
        invoked: Instant,
        completed: Instant,
        call: Call,
    ) {
        self.ops.push(Op {
            process: self.names[node.0 as usize].clone(),
            outcome,
            invoke_ns: invoked.as_nanos(),
            complete_ns: completed.as_nanos(),
            call,
        });
    }

    /// A send's call; `acked` is where and by whom: (offset, leader, epoch).
    fn send_call(&self, open: &OpenSend, value: u64, acked: Option<(u64, NodeId, u32)>) -> Call {
        Call::Send {
            topic: open.tp.topic.clone(),
            partition: open.tp.partition,
            key: open.key,
            value,
            offset: acked.map(|a| a.0),
            leader: acked.map(|a| self.names[a.1.0 as usize].clone()),
            epoch: acked.map(|a| a.2),
        }
    }

    /// Adds a read to the poll it belongs to: the open one if the same consumer read it at
    /// the same instant, else a new one.
    fn read(&mut self, consumer: NodeId, at: Instant, tp: &TopicPartition, record: (u64, u64)) {
        if self.poll.as_ref().is_none_or(|p| p.consumer != consumer || p.at != at) {
            self.close_poll();
        }
        let poll = self.poll.get_or_insert_with(|| OpenPoll { consumer, at, reads: Vec::new() });
        match poll.reads.last_mut() {
            Some(last) if last.partition == tp.partition && *last.topic == *tp.topic => {
                last.records.push(record);
            }
            _ => poll.reads.push(PartitionRead {
                topic: tp.topic.clone(),
                partition: tp.partition,
                records: vec![record],
            }),
        }
    }

    fn close_poll(&mut self) {
        if let Some(poll) = self.poll.take() {
            let call = Call::Poll { reads: poll.reads };
            self.push(poll.consumer, Outcome::Ok, poll.at, poll.at, call);
        }
    }

    pub fn observe(&mut self, o: &Observed<KafkaObs>) {
        let (node, at) = (o.node, o.time);
        if let KafkaObs::Read { tp, value, offset, .. } = &o.obs {
            self.read(node, at, tp, (*offset, *value));
            return;
        }
        // Any other observation ends the poll: its reads come one after the other.
        self.close_poll();
        match &o.obs {
            KafkaObs::Sent { tp, key, value, .. } => {
                self.open_sends.entry(*value).or_insert_with(|| OpenSend {
                    producer: node,
                    tp: tp.clone(),
                    key: *key,
                    invoked: at,
                });
            }
            KafkaObs::Acked { tp, key, value, offset, leader, leader_epoch } => {
                let open = self.open_sends.remove(value).unwrap_or(OpenSend {
                    producer: node,
                    tp: tp.clone(),
                    key: *key,
                    invoked: at,
                });
                let call = self.send_call(&open, *value, Some((*offset, *leader, *leader_epoch)));
                self.push(node, Outcome::Ok, open.invoked, at, call);
            }
            KafkaObs::SendFailed { tp, key, value, .. } => {
                let (outcome, open) = match self.open_sends.remove(value) {
                    Some(open) => (Outcome::Info, open),
                    None => (
                        Outcome::Fail,
                        OpenSend { producer: node, tp: tp.clone(), key: *key, invoked: at },
                    ),
                };
                let call = self.send_call(&open, *value, None);
                self.push(node, outcome, open.invoked, at, call);
            }
            KafkaObs::Restarted => {
                self.close_sends(|p| p == node, at);
                self.close_commits(|c| c == node, at);
                self.push(node, Outcome::Info, at, at, Call::Crash {});
            }
            KafkaObs::PositionReset { tp, to, reason, .. } => {
                let call = Call::Seek {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    offset: *to,
                    reason: Some(format!("{reason:?}")),
                };
                self.push(node, Outcome::Ok, at, at, call);
            }
            KafkaObs::Assigned { group, generation, partitions, .. } => {
                let call = Call::Assign {
                    group: group.as_deref().map(str::to_string),
                    generation: *generation,
                    partitions: partitions.iter().map(tp_of).collect(),
                };
                self.push(node, Outcome::Ok, at, at, call);
            }
            KafkaObs::Revoked { group, generation, partitions, .. } => {
                let call = Call::Revoke {
                    group: Some(group.to_string()),
                    generation: Some(*generation),
                    partitions: partitions.iter().map(tp_of).collect(),
                };
                self.push(node, Outcome::Ok, at, at, call);
            }
            KafkaObs::CommitSent { op, group, generation, offsets, .. } => {
                self.commits.entry((node, *op)).or_insert_with(|| OpenCommit {
                    invoked: at,
                    group: group.to_string(),
                    generation: *generation,
                    offsets: offsets
                        .iter()
                        .map(|(tp, c)| (tp.topic.to_string(), tp.partition, c.offset))
                        .collect(),
                    answered: 0,
                    succeeded: 0,
                    unknown: 0,
                });
            }
            KafkaObs::CommitDone { op, result, .. } => {
                let Some(commit) = self.commits.get_mut(&(node, *op)) else { return };
                commit.answered += 1;
                match result {
                    Ok(()) => commit.succeeded += 1,
                    Err(crate::kafka::protocol::ErrorCode::RequestTimedOut) => commit.unknown += 1,
                    Err(_) => {}
                }
                if commit.answered >= commit.offsets.len() {
                    let commit = self.commits.remove(&(node, *op)).expect("present");
                    let outcome = if commit.succeeded == commit.answered {
                        Outcome::Ok
                    } else if commit.succeeded == 0 && commit.unknown == 0 {
                        Outcome::Fail
                    } else {
                        Outcome::Info
                    };
                    self.push_commit(node, outcome, commit, at);
                }
            }
            KafkaObs::Read { .. } => unreachable!("read above"),
            KafkaObs::ProducerId { .. }
            | KafkaObs::Processed { .. }
            | KafkaObs::Throttled { .. }
            | KafkaObs::OffsetFetchSent { .. }
            | KafkaObs::OffsetFetched { .. } => {}
        }
    }

    fn push_commit(&mut self, node: NodeId, outcome: Outcome, commit: OpenCommit, at: Instant) {
        let call = Call::Commit {
            group: commit.group,
            generation: commit.generation,
            offsets: commit.offsets,
        };
        self.push(node, outcome, commit.invoked, at, call);
    }

    /// Completes as `info` every open send of the producers `which` picks.
    fn close_sends(&mut self, which: impl Fn(NodeId) -> bool, at: Instant) {
        let closing: Vec<u64> =
            self.open_sends.iter().filter(|(_, s)| which(s.producer)).map(|(&v, _)| v).collect();
        for value in closing {
            let open = self.open_sends.remove(&value).expect("listed");
            let call = self.send_call(&open, value, None);
            self.push(open.producer, Outcome::Info, open.invoked, at, call);
        }
    }

    fn close_commits(&mut self, which: impl Fn(NodeId) -> bool, at: Instant) {
        let closing: Vec<(NodeId, u64)> =
            self.commits.keys().filter(|(c, _)| which(*c)).copied().collect();
        for key in closing {
            let commit = self.commits.remove(&key).expect("listed");
            self.push_commit(key.0, Outcome::Info, commit, at);
        }
    }
}
