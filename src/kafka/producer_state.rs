//! The leader's idempotent-producer state (Kafka's `ProducerStateManager`): per producer
//! id, its epoch and its last batches, enough to acknowledge a retried batch without
//! appending it again and to refuse a sequence gap. A new leader rebuilds it from its log.

use std::collections::BTreeMap;

use super::protocol::{ErrorCode, ProducerBatch, ProducerStamp, Record};

/// What the producer state says of an idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchCheck {
    /// New: append it with this stamp.
    Append(ProducerStamp),
    /// One of the producer's last batches again: answer with where it went.
    Duplicate { base_offset: u64, leader_epoch: u32 },
}

#[derive(Clone, Debug, Default)]
pub struct ProducerStateTable {
    producers: BTreeMap<u64, ()>,
}

impl ProducerStateTable {
    /// STUB (helper fills in).
    pub fn check(&self, batch: ProducerBatch, count: usize) -> Result<BatchCheck, ErrorCode> {
        let _ = &self.producers;
        let last = batch.base_sequence + count as u32 - 1;
        Ok(BatchCheck::Append(ProducerStamp {
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
            last_sequence: last,
        }))
    }

    /// STUB.
    pub fn record(&mut self, _stamp: ProducerStamp, _base_offset: u64, _leader_epoch: u32) {}

    /// STUB.
    pub fn rebuild(_records: &[Record]) -> Self {
        ProducerStateTable::default()
    }
}
