//! The leader's idempotent-producer state for one partition (Kafka's
//! `ProducerStateManager`): per producer id, its epoch and its last
//! [`PRODUCER_BATCHES_KEPT`] batches, enough to acknowledge a retried batch without
//! appending it again and to refuse a sequence gap. A new leader rebuilds it from its log,
//! whose records carry their batch's [`ProducerStamp`].
//!
//! The checks, in Kafka's order (`UnifiedLog.analyzeAndValidateProducerState`, then
//! `ProducerAppendInfo.checkProducerEpoch` / `checkSequence`):
//! - a batch equal (same epoch, first and last sequence) to one of the producer's last
//!   batches is a duplicate, answered with where the original went;
//! - an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0
//!   (else OUT_OF_ORDER_SEQUENCE_NUMBER) and replaces the producer's state;
//! - in the same epoch the batch must start right after the last sequence
//!   (else OUT_OF_ORDER_SEQUENCE_NUMBER);
//! - an unknown producer id may only start at sequence 0; any other sequence is
//!   UNKNOWN_PRODUCER_ID, which tells the client that the leader lost its state (the
//!   behaviour the Kafka 2.5 client relies on for KIP-360's recovery; Kafka's own broker is
//!   laxer where retention deleted the producer's records).
//!
//! Departures from Kafka: no snapshots (the table is rebuilt from the in-memory log, which
//! is the whole log here), no transactions, no sequence wrap-around at `i32::MAX`, and
//! state is not expired by `transactional.id.expiration.ms`. The
//! `[protocol] producer_state_rebuild = false` variant (P3) uses [`ProducerStateTable::lenient`]:
//! an empty table that accepts an unknown producer at any sequence.

use std::collections::{BTreeMap, VecDeque};

use super::protocol::{ErrorCode, ProducerBatch, ProducerStamp, Record};

/// Batches kept per producer (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`): the
/// reason an idempotent producer allows at most 5 requests in flight.
pub const PRODUCER_BATCHES_KEPT: usize = 5;

/// What the producer state says of an idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchCheck {
    /// New: append it with this stamp.
    Append(ProducerStamp),
    /// One of the producer's last batches again: answer with where it went.
    Duplicate { base_offset: u64, leader_epoch: u32 },
}

/// One appended batch (Kafka's `BatchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BatchMetadata {
    first_sequence: u32,
    last_sequence: u32,
    base_offset: u64,
    leader_epoch: u32,
}

/// One producer's state (Kafka's `ProducerStateEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProducerEntry {
    epoch: u16,
    /// Oldest first; never more than [`PRODUCER_BATCHES_KEPT`], never empty.
    batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    fn last_sequence(&self) -> u32 {
        self.batches.back().expect("an entry holds a batch").last_sequence
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    producers: BTreeMap<u64, ProducerEntry>,
    /// P3 variant: an unknown producer is accepted at any sequence.
    unknown_producer_any_sequence: bool,
}

impl ProducerStateTable {
    /// The P3 variant's table: empty, and it accepts an unknown producer at any sequence
    /// (before KIP-360 a leader without the state took the batch as it came).
    pub fn lenient() -> Self {
        ProducerStateTable { producers: BTreeMap::new(), unknown_producer_any_sequence: true }
    }

    /// A producer's epoch and the last sequence it appended.
    pub fn last(&self, producer_id: u64) -> Option<(u16, u32)> {
        self.producers.get(&producer_id).map(|e| (e.epoch, e.last_sequence()))
    }

    /// Decides what to do with a batch of `count` records.
    pub fn check(&self, batch: ProducerBatch, count: usize) -> Result<BatchCheck, ErrorCode> {
        assert!(count > 0, "an empty producer batch");
        let last_sequence = u32::try_from(count - 1)
            .ok()
            .and_then(|c| batch.base_sequence.checked_add(c))
            .expect("sequence numbers do not wrap in the model");
        let stamp = ProducerStamp {
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
            last_sequence,
        };
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return if batch.base_sequence == 0 || self.unknown_producer_any_sequence {
                Ok(BatchCheck::Append(stamp))
            } else {
                Err(ErrorCode::UnknownProducerId)
            };
        };
        if batch.producer_epoch == entry.epoch
            && let Some(original) = entry.batches.iter().find(|b| {
                b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence
            })
        {
            return Ok(BatchCheck::Duplicate {
                base_offset: original.base_offset,
                leader_epoch: original.leader_epoch,
            });
        }
        match batch.producer_epoch.cmp(&entry.epoch) {
            std::cmp::Ordering::Less => Err(ErrorCode::InvalidProducerEpoch),
            std::cmp::Ordering::Greater if batch.base_sequence != 0 => {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            }
            std::cmp::Ordering::Greater => Ok(BatchCheck::Append(stamp)),
            std::cmp::Ordering::Equal
                if entry.last_sequence().checked_add(1) == Some(batch.base_sequence) =>
            {
                Ok(BatchCheck::Append(stamp))
            }
            std::cmp::Ordering::Equal => Err(ErrorCode::OutOfOrderSequenceNumber),
        }
    }

    /// The batch `stamp` was appended at `base_offset` in `leader_epoch`.
    pub fn record(&mut self, stamp: ProducerStamp, base_offset: u64, leader_epoch: u32) {
        assert!(stamp.base_sequence <= stamp.last_sequence, "a batch's sequences: {stamp:?}");
        let batch = BatchMetadata {
            first_sequence: stamp.base_sequence,
            last_sequence: stamp.last_sequence,
            base_offset,
            leader_epoch,
        };
        let entry = self.producers.entry(stamp.producer_id).or_insert_with(|| ProducerEntry {
            epoch: stamp.producer_epoch,
            batches: VecDeque::new(),
        });
        assert!(
            stamp.producer_epoch >= entry.epoch,
            "producer {} appended in epoch {} after epoch {}",
            stamp.producer_id,
            stamp.producer_epoch,
            entry.epoch
        );
        if stamp.producer_epoch > entry.epoch {
            // A new epoch starts the producer afresh (Kafka's `ProducerAppendInfo` resets).
            entry.epoch = stamp.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_KEPT {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
        assert!(entry.batches.len() <= PRODUCER_BATCHES_KEPT);
    }

    /// The state a log implies: its stamped records replayed batch by batch (a batch is a
    /// run of consecutive records with the same stamp, as long as the stamp says).
    /// A batch whose head retention deleted keeps the base offset it had (the stamp says
    /// how many records are missing), so a retry of it is still answered where it went.
    pub fn rebuild(records: &[Record]) -> Self {
        let mut table = ProducerStateTable::default();
        let mut i = 0;
        while i < records.len() {
            let first = &records[i];
            let Some(stamp) = first.producer() else {
                i += 1;
                continue;
            };
            let batch_len = (stamp.last_sequence - stamp.base_sequence) as usize + 1;
            let mut run = 1;
            while run < batch_len
                && records.get(i + run).is_some_and(|r| {
                    r.producer() == Some(stamp) && r.offset == first.offset + run as u64
                })
            {
                run += 1;
            }
            // Only the log's first batch may have lost its head (to retention).
            let missing = if i == 0 { (batch_len - run) as u64 } else { 0 };
            let base_offset = first.offset.saturating_sub(missing);
            table.record(stamp, base_offset, first.leader_epoch);
            i += run;
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::{NewRecord, RecordExtra};
    use proptest::prelude::*;
    use std::sync::Arc;

    const PID: u64 = 7;

    fn batch(epoch: u16, base_sequence: u32) -> ProducerBatch {
        ProducerBatch { producer_id: PID, producer_epoch: epoch, base_sequence }
    }

    /// Appends like a leader: check, then record; returns where the batch went.
    fn append(
        table: &mut ProducerStateTable,
        log: &mut Vec<Record>,
        b: ProducerBatch,
        count: usize,
        leader_epoch: u32,
    ) -> Result<BatchCheck, ErrorCode> {
        let check = table.check(b, count)?;
        if let BatchCheck::Append(stamp) = check {
            let base_offset = log.len() as u64;
            let extra = Some(Arc::new(RecordExtra::Producer(stamp)));
            for i in 0..count {
                let record = NewRecord { key: 0, value: i as u64, extra: extra.clone() };
                log.push(record.at(log.len() as u64, leader_epoch));
            }
            table.record(stamp, base_offset, leader_epoch);
        }
        Ok(check)
    }

    #[test]
    fn each_of_the_last_five_batches_is_a_duplicate_and_the_sixth_oldest_is_not() {
        let mut table = ProducerStateTable::default();
        let mut log = Vec::new();
        for n in 0..6u32 {
            let check = append(&mut table, &mut log, batch(0, n * 2), 2, 1).unwrap();
            assert!(matches!(check, BatchCheck::Append(_)), "{check:?}");
        }
        for n in 1..6u32 {
            let dup = table.check(batch(0, n * 2), 2);
            assert_eq!(
                dup,
                Ok(BatchCheck::Duplicate { base_offset: n as u64 * 2, leader_epoch: 1 })
            );
        }
        // The first batch fell out of the window: its retry is a sequence error.
        assert_eq!(table.check(batch(0, 0), 2), Err(ErrorCode::OutOfOrderSequenceNumber));
        // A batch that overlaps but is not equal to a kept one is no duplicate.
        assert_eq!(table.check(batch(0, 2), 3), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(table.last(PID), Some((0, 11)));
    }

    #[test]
    fn gaps_epochs_and_unknown_producers() {
        let mut table = ProducerStateTable::default();
        let mut log = Vec::new();
        assert_eq!(table.check(batch(0, 3), 1), Err(ErrorCode::UnknownProducerId));
        append(&mut table, &mut log, batch(1, 0), 3, 1).unwrap();
        assert_eq!(table.check(batch(1, 4), 1), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert!(matches!(table.check(batch(1, 3), 1), Ok(BatchCheck::Append(_))));
        assert_eq!(table.check(batch(0, 3), 1), Err(ErrorCode::InvalidProducerEpoch));
        // Even the duplicate of an old epoch's batch is refused once the epoch moved on.
        assert_eq!(table.check(batch(2, 1), 1), Err(ErrorCode::OutOfOrderSequenceNumber));
        append(&mut table, &mut log, batch(2, 0), 1, 1).unwrap();
        assert_eq!(table.check(batch(1, 0), 3), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(table.last(PID), Some((2, 0)));
        // The P3 variant takes an unknown producer at any sequence.
        assert!(matches!(
            ProducerStateTable::lenient().check(batch(0, 3), 1),
            Ok(BatchCheck::Append(_))
        ));
    }

    #[test]
    fn rebuild_after_a_truncation_forgets_the_truncated_batches() {
        let mut table = ProducerStateTable::default();
        let mut log = Vec::new();
        append(&mut table, &mut log, batch(0, 0), 2, 1).unwrap();
        let mut expected = table.clone();
        append(&mut table, &mut log, batch(0, 2), 2, 1).unwrap();
        log.truncate(2);
        let rebuilt = ProducerStateTable::rebuild(&log);
        assert_eq!(rebuilt, expected);
        // The truncated batch is appended again at the new leader, not acknowledged.
        let check = append(&mut expected, &mut log, batch(0, 2), 2, 2).unwrap();
        assert!(matches!(check, BatchCheck::Append(_)));
    }

    #[test]
    fn rebuild_keeps_the_base_offset_of_a_batch_whose_head_retention_deleted() {
        let mut table = ProducerStateTable::default();
        let mut log = Vec::new();
        append(&mut table, &mut log, batch(0, 0), 3, 1).unwrap();
        append(&mut table, &mut log, batch(0, 3), 2, 1).unwrap();
        let rebuilt = ProducerStateTable::rebuild(&log[1..]);
        assert_eq!(rebuilt, table);
        assert_eq!(
            rebuilt.check(batch(0, 0), 3),
            Ok(BatchCheck::Duplicate { base_offset: 0, leader_epoch: 1 })
        );
    }

    proptest! {
        /// Whatever a leader accepted, the state rebuilt from its log is the state it built
        /// by appending (several producers, epochs, retries, gaps, unstamped records).
        #[test]
        fn rebuild_equals_the_state_built_by_appends(
            ops in proptest::collection::vec((0u64..3, 0u16..3, 0u32..12, 1usize..4, any::<bool>()), 0..60)
        ) {
            let mut table = ProducerStateTable::default();
            let mut log: Vec<Record> = Vec::new();
            for (pid, epoch, seq, count, plain) in ops {
                if plain {
                    log.push(Record::data(log.len() as u64, 1, 0, 0));
                    continue;
                }
                let b = ProducerBatch { producer_id: pid, producer_epoch: epoch, base_sequence: seq };
                let _ = append(&mut table, &mut log, b, count, 1 + pid as u32);
            }
            prop_assert_eq!(ProducerStateTable::rebuild(&log), table);
        }
    }
}
