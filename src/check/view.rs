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

    /// The records at offsets `from..to`, all of which this replica holds. Only the ends are
    /// checked for density: the log asserts it at every append.
    pub fn records_in(&self, from: u64, to: u64) -> &[Record] {
        assert!(self.log_start_offset <= from && from <= to && to <= self.log_end_offset);
        let start = (from - self.log_start_offset) as usize;
        let records = &self.records[start..start + (to - from) as usize];
        let dense = records.first().is_none_or(|r| r.offset == from)
            && records.last().is_none_or(|r| r.offset + 1 == to);
        assert!(dense, "replica records are not dense");
        records
    }
}

/// The first offset in `from..to` at which `a` and `b` do not hold the same record (one
/// holding none counts as different), comparing their records slice to slice. Both logs
/// start at or below `from`.
pub fn first_difference(a: &ReplicaView, b: &ReplicaView, from: u64, to: u64) -> Option<u64> {
    assert!(a.log_start_offset <= from && b.log_start_offset <= from);
    if from >= to {
        return None;
    }
    // Both hold `from..both`.
    let both = to.min(a.log_end_offset).min(b.log_end_offset);
    if from < both {
        let mut pairs = a.records_in(from, both).iter().zip(b.records_in(from, both));
        if let Some(idx) = pairs.position(|(x, y)| x != y) {
            return Some(from + idx as u64);
        }
    }
    // From `at` on, at least one log has ended: they differ there if only one has.
    let at = from.max(both);
    let one_lacks = (at < a.log_end_offset) != (at < b.log_end_offset);
    (at < to && one_lacks).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(records: &[Record]) -> ReplicaView<'_> {
        ReplicaView {
            is_leader: false,
            leader_epoch: 1,
            high_watermark: 0,
            log_end_offset: records.first().map_or(0, |r| r.offset) + records.len() as u64,
            log_start_offset: records.first().map_or(0, |r| r.offset),
            records,
            isr: &[],
            pending_isr: &[],
        }
    }

    fn log(from: u64, values: &[u64]) -> Vec<Record> {
        values.iter().zip(from..).map(|(&v, offset)| Record::data(offset, 1, 0, v)).collect()
    }

    /// Agrees with comparing `record_at` offset by offset, on every range.
    #[test]
    fn first_difference_is_the_offset_by_offset_answer() {
        let logs = [
            log(0, &[1, 2, 3, 4, 5]),
            log(0, &[1, 2, 3]),
            log(0, &[1, 2, 9, 4, 5, 6]),
            log(2, &[3, 4]),
            log(0, &[]),
        ];
        for a in &logs {
            for b in &logs {
                let (a, b) = (replica(a), replica(b));
                let start = a.log_start_offset.max(b.log_start_offset);
                for from in start..8 {
                    for to in 0..8 {
                        let naive = (from..to).find(|&o| a.record_at(o) != b.record_at(o));
                        assert_eq!(first_difference(&a, &b, from, to), naive, "{from}..{to}");
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "not dense")]
    fn records_in_checks_density() {
        let mut records = log(0, &[1, 2, 3]);
        records[2].offset = 7;
        replica(&records).records_in(0, 3);
    }
}
