//! The state view the invariant checkers read ([`crate::check::view`]), filled from the
//! live nodes of a running simulation.

use crate::check::view::{BrokerView, ClusterView, ControllerView, PartitionView, ReplicaView};
use crate::sim::Sim;

use super::cluster::Layout;
use super::node::KafkaNode;

/// The cluster as it is now: every broker (a crashed one is `alive: false` with no
/// replicas: its memory is gone), and the controller's committed partition state (`None`
/// while it is crashed). Everything is borrowed from the nodes; partitions come in the
/// nodes' own (sorted) order.
pub fn cluster_view<'a>(sim: &'a Sim<KafkaNode>, layout: &'a Layout) -> ClusterView<'a> {
    let brokers = layout
        .brokers
        .iter()
        .map(|&id| {
            let broker = sim.node(id).and_then(KafkaNode::as_broker);
            let replicas = broker.map_or_else(Vec::new, |b| {
                b.replicas()
                    .map(|(tp, replica)| {
                        let log = replica.log();
                        let view = ReplicaView {
                            is_leader: replica.is_leader(),
                            leader_epoch: replica.leader_epoch(),
                            high_watermark: log.high_watermark(),
                            log_end_offset: log.log_end_offset(),
                            log_start_offset: log.log_start_offset(),
                            records: log.records(),
                            isr: replica.isr(),
                            pending_isr: replica.pending_isr(),
                        };
                        (tp, view)
                    })
                    .collect()
            });
            BrokerView { id, name: layout.name(id), alive: broker.is_some(), replicas }
        })
        .collect();
    let controller =
        sim.node(layout.controller).and_then(KafkaNode::as_controller).map(|c| ControllerView {
            partitions: c
                .partitions()
                .map(|p| {
                    let view = PartitionView {
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        replicas: &p.replicas,
                        isr: &p.isr,
                        elr: &p.elr,
                    };
                    (&p.tp, view)
                })
                .collect(),
        });
    ClusterView { time: sim.now(), brokers, controller }
}
