//! The broker's part of idempotence: handing out producer ids, and the leader's producer
//! state around appends.

use crate::sim::node::NodeId;

use super::super::producer_state::{BatchCheck, ProducerStateTable};
use super::super::protocol::{ErrorCode, ProducerBatch, ProducerStamp, TopicPartition};
use super::{Broker, Ctx, Role};

/// STUB.
#[derive(Clone, Debug, Default)]
pub struct ProducerIdBlock {}

impl Broker {
    pub(super) fn handle_init_producer_id(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
    ) {
        let _ = (&self.producer_ids, ctx, from, correlation_id);
    }

    pub(super) fn handle_allocate_producer_ids_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: Result<(u64, u64), ErrorCode>,
    ) {
        let _ = (ctx, result);
    }

    pub(super) fn check_producer_batch(
        &self,
        tp: &TopicPartition,
        batch: ProducerBatch,
        count: usize,
    ) -> Result<BatchCheck, ErrorCode> {
        match &self.replicas[tp].role {
            Role::Leader(leader) => leader.producers.check(batch, count),
            _ => Err(ErrorCode::NotLeaderOrFollower),
        }
    }

    pub(super) fn record_producer_batch(
        &mut self,
        tp: &TopicPartition,
        stamp: ProducerStamp,
        base_offset: u64,
        leader_epoch: u32,
    ) {
        if let Some(Role::Leader(leader)) = self.replicas.get_mut(tp).map(|r| &mut r.role) {
            leader.producers.record(stamp, base_offset, leader_epoch);
        }
    }

    pub(super) fn rebuild_producer_state(&mut self, _ctx: &mut Ctx<'_>, tp: &TopicPartition) {
        let Some(replica) = self.replicas.get_mut(tp) else { return };
        let table = ProducerStateTable::rebuild(replica.log.records());
        if let Role::Leader(leader) = &mut replica.role {
            leader.producers = table;
        }
    }
}
