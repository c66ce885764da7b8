//! The broker's part of idempotence: handing out producer ids, and the leader's producer
//! state around appends.
//!
//! Producer ids: any broker answers InitProducerId from a block of ids the controller gave
//! it (KRaft's `ProducerIdManager` with AllocateProducerIds). While it has none it answers
//! COORDINATOR_NOT_AVAILABLE and asks the controller for a block; the client retries.
//! Departures from Kafka: no prefetch of the next block at 90% use (a broker asks when its
//! block is used up), and every id starts at producer epoch 0 (no transactional ids, so
//! no epoch bumps: a client that needs a fresh epoch gets a fresh id instead).
//!
//! Producer state: the leader of a partition checks every idempotent batch against its
//! [`ProducerStateTable`], records the batches it appends, and rebuilds the table from its
//! log when its leadership starts (which also covers whatever truncation happened while it
//! followed). With `[protocol] producer_state_rebuild = false` (P3) the table starts empty
//! and lenient instead.

use crate::sim::node::NodeId;
use crate::sim::time::Instant;

use super::super::producer_state::{BatchCheck, ProducerStateTable};
use super::super::protocol::{ErrorCode, Msg, ProducerBatch, ProducerStamp, TopicPartition};
use super::{Broker, Ctx, REPLICA_REQUEST_TIMEOUT_MS, Role, ms};

/// The producer ids this broker may hand out: `next..end`, and the block request in
/// flight to the controller.
#[derive(Clone, Debug, Default)]
pub struct ProducerIdBlock {
    next: u64,
    end: u64,
    /// When the outstanding AllocateProducerIds was sent.
    requested_at: Option<Instant>,
}

impl ProducerIdBlock {
    /// The next id, if the block has one left.
    fn take(&mut self) -> Option<u64> {
        if self.next == self.end {
            return None;
        }
        assert!(self.next < self.end, "producer id block {}..{}", self.next, self.end);
        let id = self.next;
        self.next += 1;
        Some(id)
    }
}

impl Broker {
    pub(super) fn handle_init_producer_id(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
    ) {
        let result = match self.producer_ids.take() {
            Some(producer_id) => Ok((producer_id, 0)),
            None => {
                self.request_producer_ids(ctx);
                Err(ErrorCode::CoordinatorNotAvailable)
            }
        };
        ctx.send(from, Msg::InitProducerIdResponse { correlation_id, result });
    }

    /// Asks the controller for a block, unless a request is out and not yet overdue (a
    /// lost request or answer is asked again).
    fn request_producer_ids(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let overdue = |sent: Instant| now.saturating_since(sent) >= ms(REPLICA_REQUEST_TIMEOUT_MS);
        if !self.registered || self.producer_ids.requested_at.is_some_and(|t| !overdue(t)) {
            return;
        }
        self.producer_ids.requested_at = Some(now);
        let incarnation = self.incarnation;
        ctx.send(self.config.controller, Msg::AllocateProducerIds { incarnation });
    }

    pub(super) fn handle_allocate_producer_ids_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: Result<(u64, u64), ErrorCode>,
    ) {
        self.producer_ids.requested_at = None;
        match result {
            // A block still in use stays: a second answer (to a repeated request) only
            // wastes the ids it names, which the controller never hands out again.
            Ok((first, count)) if self.producer_ids.next == self.producer_ids.end => {
                assert!(count > 0, "an empty producer id block");
                ctx.annotate(format!("producer ids {first}..{}", first + count));
                self.producer_ids.next = first;
                self.producer_ids.end = first + count;
            }
            Ok(_) => {}
            Err(error) => ctx.annotate(format!("producer id block refused: {error}")),
        }
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

    pub(super) fn rebuild_producer_state(&mut self, ctx: &mut Ctx<'_>, tp: &TopicPartition) {
        let rebuild = self.config.protocol.producer_state_rebuild;
        let Some(replica) = self.replicas.get_mut(tp) else { return };
        let table = if rebuild {
            ProducerStateTable::rebuild(replica.log.records())
        } else {
            ProducerStateTable::lenient()
        };
        if let Role::Leader(leader) = &mut replica.role {
            if !rebuild {
                ctx.annotate(format!("{tp}: producer state starts empty (not rebuilt)"));
            }
            leader.producers = table;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::BrokerConfig;
    use super::super::test_driver::Driver;
    use super::*;
    use crate::kafka::protocol::{MetadataImage, PartitionState};
    use crate::scenario::Acks;

    const CONTROLLER: NodeId = NodeId(3);
    const PRODUCER: NodeId = NodeId(4);
    const A: NodeId = NodeId(0);
    const B: NodeId = NodeId(1);

    fn tp() -> TopicPartition {
        TopicPartition::new("events", 0)
    }

    /// One broker, registered as a replica of `events-0` led by A in epoch 1.
    struct Harness {
        driver: Driver,
        /// What the broker sent when its registration was answered.
        registered: Vec<(NodeId, Msg)>,
    }

    impl std::ops::Deref for Harness {
        type Target = Driver;
        fn deref(&self) -> &Driver {
            &self.driver
        }
    }

    impl std::ops::DerefMut for Harness {
        fn deref_mut(&mut self) -> &mut Driver {
            &mut self.driver
        }
    }

    impl Harness {
        fn new(id: NodeId, producer_state_rebuild: bool) -> Self {
            let mut config = BrokerConfig::defaults(CONTROLLER);
            config.protocol.producer_state_rebuild = producer_state_rebuild;
            let driver = Driver::new(id, config, "idempotence-test");
            let mut h = Harness { driver, registered: Vec::new() };
            h.start();
            h.take_sends();
            h.register(CONTROLLER, image(1, A, 1));
            h.registered = h.take_sends();
            h
        }

        fn produce(&mut self, correlation_id: u64, batch: ProducerBatch, values: &[u64]) -> Msg {
            let records = values.iter().map(|&v| (0, v)).collect();
            let msg = Msg::ProduceRequest {
                correlation_id,
                tp: tp(),
                acks: Acks::Leader,
                producer: Some(batch),
                records,
            };
            let sends = self.deliver(PRODUCER, msg);
            sends
                .into_iter()
                .map(|(_, m)| m)
                .find(|m| matches!(m, Msg::ProduceResponse { .. }))
                .unwrap()
        }

        fn values(&self) -> Vec<u64> {
            self.broker.replica(&tp()).unwrap().log().records().iter().map(|r| r.value).collect()
        }
    }

    fn image(version: u64, leader: NodeId, epoch: u32) -> MetadataImage {
        MetadataImage {
            version,
            partitions: vec![PartitionState {
                tp: tp(),
                replicas: vec![A, B, NodeId(2)],
                isr: vec![A, B, NodeId(2)],
                elr: vec![],
                leader: Some(leader),
                leader_epoch: epoch,
                partition_epoch: epoch,
            }],
            fenced: vec![],
        }
    }

    fn result(msg: &Msg) -> Result<(u64, u32), ErrorCode> {
        let Msg::ProduceResponse { result, .. } = msg else { panic!("{msg:?}") };
        *result
    }

    /// A appends the batch (after some earlier one) and B replicates both; A loses the
    /// leadership to B before the producer hears back. The retry reaches B: acknowledged
    /// with A's offset and epoch when B rebuilt its state, appended again when it did not.
    fn failover_retry(producer_state_rebuild: bool) -> (Msg, Vec<u64>) {
        let mut a = Harness::new(A, true);
        let mut b = Harness::new(B, producer_state_rebuild);
        let batch =
            |base_sequence| ProducerBatch { producer_id: 9, producer_epoch: 0, base_sequence };
        assert_eq!(result(&a.produce(1, batch(0), &[10, 11])), Ok((0, 1)));
        assert_eq!(result(&a.produce(2, batch(2), &[12])), Ok((2, 1)));
        // B follows A from its registration: it sent a fetch at offset 0.
        let fetch = b.registered.iter().find(|(_, m)| matches!(m, Msg::Fetch { .. }));
        let (_, fetch) = fetch.cloned().unwrap();
        let answer = a.deliver(B, fetch);
        let (_, answer) =
            answer.into_iter().find(|(_, m)| matches!(m, Msg::FetchResponse { .. })).unwrap();
        b.deliver(A, answer);
        assert_eq!(b.values(), vec![10, 11, 12]);
        b.deliver(CONTROLLER, Msg::UpdateMetadata { image: image(2, B, 2) });
        assert!(b.broker.replica(&tp()).unwrap().is_leader());
        let retry = b.produce(3, batch(2), &[12]);
        (retry, b.values())
    }

    #[test]
    fn a_retried_batch_is_acknowledged_by_the_new_leader_with_the_old_leaders_offset() {
        let (retry, values) = failover_retry(true);
        assert_eq!(result(&retry), Ok((2, 1)));
        assert_eq!(values, vec![10, 11, 12], "not appended again");
    }

    #[test]
    fn without_the_rebuild_the_retried_batch_is_appended_twice() {
        let (retry, values) = failover_retry(false);
        assert_eq!(result(&retry), Ok((3, 2)));
        assert_eq!(values, vec![10, 11, 12, 12], "P3: a duplicate");
    }

    #[test]
    fn init_producer_id_waits_for_a_block_from_the_controller() {
        let mut h = Harness::new(A, true);
        let init = |h: &mut Harness, correlation_id| {
            let sends = h.deliver(PRODUCER, Msg::InitProducerId { correlation_id });
            let answer = sends.iter().find_map(|(_, m)| match m {
                Msg::InitProducerIdResponse { result, .. } => Some(*result),
                _ => None,
            });
            let asked = sends
                .iter()
                .any(|(to, m)| *to == CONTROLLER && matches!(m, Msg::AllocateProducerIds { .. }));
            (answer.unwrap(), asked)
        };
        assert_eq!(init(&mut h, 1), (Err(ErrorCode::CoordinatorNotAvailable), true));
        // The request is out: no second one.
        assert_eq!(init(&mut h, 2), (Err(ErrorCode::CoordinatorNotAvailable), false));
        h.deliver(CONTROLLER, Msg::AllocateProducerIdsResponse { result: Ok((1000, 2)) });
        assert_eq!(init(&mut h, 3), (Ok((1000, 0)), false));
        // A late duplicate answer does not replace the block in use.
        h.deliver(CONTROLLER, Msg::AllocateProducerIdsResponse { result: Ok((2000, 2)) });
        assert_eq!(init(&mut h, 4), (Ok((1001, 0)), false));
        assert_eq!(init(&mut h, 5), (Err(ErrorCode::CoordinatorNotAvailable), true));
    }
}
