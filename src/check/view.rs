//! What the state invariants look at: a read-only view of every broker's replicas and of
//! the controller's partition state at one moment. `kafka::view` builds it from a running
//! simulation; tests build it by hand, which is how each invariant is shown to fire on a
//! broken state and stay silent on a sound one.
//!
//! The view borrows everything (names, partitions, logs, ISRs) from the nodes: the runner
//! builds one every few milliseconds of simulated time, so building it must not copy.

use crate::kafka::protocol::{Record, TopicPartition};
use crate::sim::{Instant, NodeId};

/// The cluster at simulated time `time`.
#[derive(Clone, Debug)]
pub struct ClusterView<'a> {
    pub time: Instant,
    /// Every broker, live or not, in id order.
    pub brokers: Vec<BrokerView<'a>>,
    /// `None` while the controller is crashed.
    pub controller: Option<ControllerView<'a>>,
}

#[derive(Clone, Debug)]
pub struct BrokerView<'a> {
    pub id: NodeId,
    pub name: &'a str,
    /// False while crashed; a crashed broker's replicas are empty (its memory is gone).
    pub alive: bool,
    /// Its replicas, in partition order, each partition once.
    pub replicas: Vec<(&'a TopicPartition, ReplicaView<'a>)>,
}

/// One replica as its broker holds it in memory.
#[derive(Clone, Debug)]
pub struct ReplicaView<'a> {
    /// True when this broker acts as the partition's leader (it may be a deposed zombie).
    pub is_leader: bool,
    /// The leader epoch this replica acts in.
    pub leader_epoch: u32,
    pub high_watermark: u64,
    pub log_end_offset: u64,
    pub log_start_offset: u64,
    /// Records from `log_start_offset` to `log_end_offset`, dense.
    pub records: &'a [Record],
    /// A leader's ISR as it applies it (empty on followers).
    pub isr: &'a [NodeId],
    /// A leader's proposed ISR change not yet committed by the controller (KIP-497's
    /// pending ISR); the HW must hold on `isr` and `pending_isr` together.
    pub pending_isr: &'a [NodeId],
}

/// The controller's committed state of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView<'a> {
    pub leader: Option<NodeId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub replicas: &'a [NodeId],
    pub isr: &'a [NodeId],
    /// KIP-966 eligible leader replicas.
    pub elr: &'a [NodeId],
}

#[derive(Clone, Debug)]
pub struct ControllerView<'a> {
    /// In partition order, each partition once.
    pub partitions: Vec<(&'a TopicPartition, PartitionView<'a>)>,
}

impl<'a> BrokerView<'a> {
    /// This broker's replica of `tp`, if it holds one.
    pub fn replica(&self, tp: &TopicPartition) -> Option<&ReplicaView<'a>> {
        self.replicas.iter().find(|(t, _)| *t == tp).map(|(_, r)| r)
    }
}

impl ReplicaView<'_> {
    /// The record at `offset`, if this replica holds it.
    pub fn record_at(&self, offset: u64) -> Option<&Record> {
        if offset < self.log_start_offset || offset >= self.log_end_offset {
            return None;
        }
        let record = self.records.get((offset - self.log_start_offset) as usize)?;
        assert_eq!(record.offset, offset, "replica records are not dense");
        Some(record)
    }
}
