//! Who led each partition over a run, as the controller had it: what a report's timeline
//! draws. Sampled with the state checks (every `STATE_CHECK_INTERVAL` and at each fault's
//! start and end), so a change shows within that interval of when it happened. A sample
//! walks the controller's partitions in order, comparing one leader each: cheap enough to
//! run on every run.

use crate::kafka::protocol::TopicPartition;
use crate::kafka::{KafkaNode, Layout};
use crate::sim::{Instant, NodeId, Sim};

/// Most leadership changes one run records: a bound that catches a flapping controller.
const CHANGES_MAX: usize = 1_000_000;

/// A partition's leader as the controller has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leader {
    Broker(NodeId),
    /// The controller knows the partition but no replica can lead it.
    None,
    /// The controller is down: nobody knows.
    Unknown,
}

/// From `at` on, `partition` was led by `leader`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderChange {
    pub at: Instant,
    pub partition: TopicPartition,
    pub leader: Leader,
}

/// Records each partition's leader as it changes.
#[derive(Debug, Default)]
pub struct Leadership {
    /// The controller's partitions, in its order, with the leader last seen for each.
    last: Vec<(TopicPartition, Leader)>,
    changes: Vec<LeaderChange>,
}

impl Leadership {
    /// Looks at the controller now and records what changed since the last look.
    pub fn sample(&mut self, sim: &Sim<KafkaNode>, layout: &Layout) {
        let at = sim.now();
        let Some(controller) = sim.node(layout.controller).and_then(KafkaNode::as_controller)
        else {
            for i in 0..self.last.len() {
                self.set(i, Leader::Unknown, at);
            }
            return;
        };
        let partitions = controller.partitions();
        // The controller creates partitions as topics come; rebuild the order when it did.
        if partitions.len() != self.last.len() {
            let known = std::mem::take(&mut self.last);
            self.last = partitions
                .map(|state| {
                    let was = known.iter().find(|(tp, _)| *tp == state.tp);
                    (state.tp.clone(), was.map_or(Leader::Unknown, |&(_, leader)| leader))
                })
                .collect();
        }
        for (i, state) in controller.partitions().enumerate() {
            self.set(i, state.leader.map_or(Leader::None, Leader::Broker), at);
        }
    }

    fn set(&mut self, i: usize, leader: Leader, at: Instant) {
        let (partition, last) = &mut self.last[i];
        if *last == leader {
            return;
        }
        *last = leader;
        assert!(self.changes.len() < CHANGES_MAX, "more than {CHANGES_MAX} leader changes");
        self.changes.push(LeaderChange { at, partition: partition.clone(), leader });
    }

    /// Every change, in time order.
    pub fn finish(self) -> Vec<LeaderChange> {
        self.changes
    }
}
