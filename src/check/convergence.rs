//! What must hold once every fault has healed and the cluster has had time to settle.
//!
//! - `replica-divergence`: every two live replicas of a partition hold the same record at
//!   every offset both of them hold. During a run, replicas may disagree for a while (a
//!   deposed leader keeps records that the new leader's epoch replaces, until it truncates);
//!   the correct protocol removes every such difference once the replicas fetch again.
//!   A difference that outlives the heal phase is permanent divergence: KIP-101's and
//!   KIP-279's bugs (R5, R6).

use std::collections::BTreeMap;

use crate::kafka::protocol::TopicPartition;

use super::Violation;
use super::view::{ClusterView, ReplicaView};

/// Checks the settled cluster; one violation per diverged partition.
pub fn check_converged(view: &ClusterView) -> Vec<Violation> {
    let mut replicas: BTreeMap<&TopicPartition, Vec<(&str, &ReplicaView)>> = BTreeMap::new();
    for broker in view.brokers.iter().filter(|b| b.alive) {
        for &(tp, ref replica) in &broker.replicas {
            replicas.entry(tp).or_default().push((broker.name, replica));
        }
    }
    let mut violations = Vec::new();
    for (tp, held) in replicas {
        let divergence = held
            .iter()
            .enumerate()
            .find_map(|(idx, a)| held[idx + 1..].iter().find_map(|b| first_difference(a, b)));
        if let Some(detail) = divergence {
            violations.push(Violation {
                invariant: "replica-divergence",
                time: view.time,
                detail: format!("{tp}: {detail} after the heal phase"),
            });
        }
    }
    violations
}

/// The first offset two replicas both hold with different records, described.
fn first_difference(
    (name_a, a): &(&str, &ReplicaView),
    (name_b, b): &(&str, &ReplicaView),
) -> Option<String> {
    let start = a.log_start_offset.max(b.log_start_offset);
    let end = a.log_end_offset.min(b.log_end_offset);
    (start..end).find_map(|offset| {
        let (ra, rb) = (a.record_at(offset)?, b.record_at(offset)?);
        (ra != rb).then(|| {
            format!(
                "{name_a} and {name_b} differ at offset {offset}: {name_a} has (epoch {}, value \
                 {}), {name_b} has (epoch {}, value {}); {} of their {} common offsets differ",
                ra.leader_epoch,
                ra.value,
                rb.leader_epoch,
                rb.value,
                (offset..end).filter(|&o| a.record_at(o) != b.record_at(o)).count(),
                end - start
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::view::BrokerView;
    use crate::kafka::protocol::Record;
    use crate::sim::{Instant, NodeId};

    fn records(epochs: &[u32]) -> Vec<Record> {
        epochs
            .iter()
            .enumerate()
            .map(|(offset, &epoch)| {
                Record::data(offset as u64, epoch, 0, 100 * epoch as u64 + offset as u64)
            })
            .collect()
    }

    fn replica(records: &[Record]) -> ReplicaView<'_> {
        ReplicaView {
            is_leader: false,
            leader_epoch: 1,
            high_watermark: records.len() as u64,
            log_end_offset: records.len() as u64,
            log_start_offset: 0,
            records,
            isr: &[],
            pending_isr: &[],
        }
    }

    fn view<'a>(tp: &'a TopicPartition, logs: &'a [Vec<Record>]) -> ClusterView<'a> {
        let brokers = logs
            .iter()
            .enumerate()
            .map(|(idx, log)| BrokerView {
                id: NodeId(idx as u32),
                name: ["b1", "b2", "b3"][idx],
                alive: true,
                replicas: vec![(tp, replica(log))],
            })
            .collect();
        ClusterView { time: Instant::ZERO, brokers, controller: None }
    }

    #[test]
    fn a_lagging_replica_is_not_divergence() {
        let logs = [records(&[1, 1, 2, 2]), records(&[1, 1, 2])];
        let tp = TopicPartition::new("t", 0);
        assert_eq!(check_converged(&view(&tp, &logs)), vec![]);
    }

    #[test]
    fn different_records_at_a_common_offset_are() {
        let logs = [records(&[1, 1, 2, 2]), records(&[1, 1, 3])];
        let tp = TopicPartition::new("t", 0);
        let found = check_converged(&view(&tp, &logs));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].invariant, "replica-divergence");
        assert!(
            found[0].detail.starts_with("t-0: b1 and b2 differ at offset 2"),
            "{}",
            found[0].detail
        );
    }
}
