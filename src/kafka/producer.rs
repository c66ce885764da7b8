//! The producer: generates records at a fixed rate, partitions them by key hash, and sends
//! each partition's queue to its leader one batch at a time, retrying a batch on timeout
//! or error until it is acknowledged.
//!
//! acks=0 sends are fire-and-forget: the records leave the queue when sent and appear in
//! the history as `Sent` only, never `Acked`. Errors (NOT_ENOUGH_REPLICAS, timeouts,
//! NOT_LEADER_OR_FOLLOWER, ...) are retried with exponential back-off.
//!
//! One batch in flight per partition (Kafka's `max.in.flight.requests.per.connection=1`)
//! keeps a partition's records in order without idempotence; retries may still duplicate a
//! record (its first attempt was appended but the answer lost), which the skeleton's
//! checker does not flag. Idempotence comes with the producer issue.

use std::collections::VecDeque;

use crate::scenario::{Acks, ProducerSpec};
use crate::sim::node::{Context, NodeId, TimerId};
use crate::sim::time::Duration;
use crate::sim::trace::StableHasher;

use super::client::{MetadataCache, REQUEST_TIMEOUT_MS, next_backoff};
use super::node::KafkaNode;
use super::protocol::{
    Entry, ErrorCode, KafkaObs, Msg, PRODUCE_BATCH_RECORDS_MAX, Timer, TopicPartition, record_value,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// Most records waiting for an acknowledgement; past it the producer stops generating
/// (Kafka's `buffer.memory` blocks `send()`): it never drops a record it made.
pub const PENDING_RECORDS_MAX: usize = 10_000;
/// The client's boot-marker file.
pub const BOOT_FILE: &str = "boot";

#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// This producer's index among the scenario's producers (in record values).
    pub index: u32,
    /// Partitions of `spec.topic`.
    pub partitions: u32,
    pub brokers: Vec<NodeId>,
    /// Kafka's producer configs, the topic, rate and keys.
    pub spec: ProducerSpec,
}

/// The partition of a key: a stable hash (Kafka uses murmur2 of the key bytes).
pub fn partition_for_key(key: u32, partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has partitions");
    (StableHasher::hash_of(&key) % partitions as u64) as u32
}

#[derive(Clone, Debug)]
struct Queued {
    key: u32,
    value: u64,
    attempts: u32,
}

#[derive(Clone, Debug)]
struct InFlight {
    correlation_id: u64,
    count: usize,
    timer: TimerId,
}

#[derive(Clone, Debug)]
struct PartitionQueue {
    tp: TopicPartition,
    records: VecDeque<Queued>,
    in_flight: Option<InFlight>,
    retry_scheduled: bool,
    backoff: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct Producer {
    config: ProducerConfig,
    restarts: u32,
    sequence: u64,
    metadata: MetadataCache,
    queues: Vec<PartitionQueue>,
    pending: usize,
    throttled: bool,
    next_correlation_id: u64,
}

impl Producer {
    pub fn new(config: ProducerConfig) -> Self {
        let metadata = MetadataCache::new(
            config.brokers.clone(),
            vec![config.spec.topic.clone()],
            config.index as usize,
        );
        let queues = (0..config.partitions)
            .map(|p| PartitionQueue {
                tp: TopicPartition::new(&config.spec.topic, p),
                records: VecDeque::new(),
                in_flight: None,
                retry_scheduled: false,
                backoff: None,
            })
            .collect();
        Producer {
            config,
            restarts: 0,
            sequence: 0,
            metadata,
            queues,
            pending: 0,
            throttled: false,
            next_correlation_id: 0,
        }
    }

    /// Records generated and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending
    }

    fn correlation_id(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    fn interval(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / self.config.spec.rate as u64)
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.restarts = ctx.disk().read(BOOT_FILE).len() as u32;
        ctx.disk().append(BOOT_FILE, Entry::Boot);
        ctx.disk().fsync(BOOT_FILE);
        if self.restarts > 0 {
            ctx.observe(KafkaObs::Restarted);
        }
        self.next_correlation_id = ctx.rng().next_u64() >> 1;
        let correlation_id = self.correlation_id();
        self.metadata.refresh(ctx, correlation_id);
        if self.config.spec.rate > 0 {
            ctx.set_timer(self.interval(), Timer::Generate);
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::Generate => {
                self.generate(ctx);
                ctx.set_timer(self.interval(), Timer::Generate);
            }
            Timer::RequestTimeout { correlation_id } => {
                if self.metadata.on_timeout(correlation_id) {
                    self.refresh_metadata(ctx);
                    return;
                }
                let Some(p) = self.queue_waiting_for(correlation_id) else { return };
                let queue = &mut self.queues[p];
                queue.in_flight = None;
                ctx.annotate(format!("{}: produce timed out; retrying", queue.tp));
                self.schedule_retry(ctx, p);
                self.refresh_metadata(ctx);
            }
            Timer::Retry { tp: None } => {
                self.metadata.on_retry();
                self.refresh_metadata(ctx);
            }
            Timer::Retry { tp: Some(tp) } => {
                let p = tp.partition as usize;
                self.queues[p].retry_scheduled = false;
                self.try_send(ctx, p);
            }
            other => panic!("producer got a foreign timer {other:?}"),
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResponse { correlation_id, partitions } => {
                let wanted: Vec<TopicPartition> =
                    self.queues.iter().map(|q| q.tp.clone()).collect();
                if self.metadata.on_response(ctx, correlation_id, partitions, &wanted) {
                    for p in 0..self.queues.len() {
                        self.try_send(ctx, p);
                    }
                }
            }
            Msg::ProduceResponse { correlation_id, tp, result } => {
                let p = tp.partition as usize;
                let Some(queue) = self.queues.get_mut(p) else { return };
                let Some(in_flight) =
                    queue.in_flight.take_if(|f| f.correlation_id == correlation_id)
                else {
                    return;
                };
                ctx.cancel_timer(in_flight.timer);
                match result {
                    Ok((base_offset, leader_epoch)) => {
                        queue.backoff = None;
                        for (i, record) in queue.records.drain(..in_flight.count).enumerate() {
                            ctx.observe(KafkaObs::Acked {
                                tp: tp.clone(),
                                key: record.key,
                                value: record.value,
                                offset: base_offset + i as u64,
                                leader: from,
                                leader_epoch,
                            });
                        }
                        self.pending -= in_flight.count;
                        self.try_send(ctx, p);
                    }
                    Err(error) => {
                        ctx.annotate(format!("{tp}: produce failed with {error}; retrying"));
                        // Errors about the ISR or time are the same leader's: back off and
                        // retry there. The others mean our metadata is stale.
                        let same_leader = matches!(
                            error,
                            ErrorCode::UnknownLeaderEpoch
                                | ErrorCode::NotEnoughReplicas
                                | ErrorCode::NotEnoughReplicasAfterAppend
                                | ErrorCode::RequestTimedOut
                        );
                        if !same_leader {
                            self.refresh_metadata(ctx);
                        }
                        self.schedule_retry(ctx, p);
                    }
                }
            }
            other => panic!("producer got unexpected {other:?}"),
        }
    }

    fn refresh_metadata(&mut self, ctx: &mut Ctx<'_>) {
        let correlation_id = self.correlation_id();
        self.metadata.refresh(ctx, correlation_id);
    }

    fn queue_waiting_for(&self, correlation_id: u64) -> Option<usize> {
        self.queues
            .iter()
            .position(|q| q.in_flight.as_ref().is_some_and(|f| f.correlation_id == correlation_id))
    }

    fn generate(&mut self, ctx: &mut Ctx<'_>) {
        if self.pending >= PENDING_RECORDS_MAX {
            if !self.throttled {
                ctx.annotate(format!("{} records unacknowledged: generation paused", self.pending));
                ctx.observe(KafkaObs::Throttled { pending: self.pending });
            }
            self.throttled = true;
            return;
        }
        self.throttled = false;
        let key = ctx.rng().below(self.config.spec.keys.max(1) as u64) as u32;
        let p = partition_for_key(key, self.config.partitions) as usize;
        let value = record_value(self.config.index, self.restarts, self.sequence);
        self.sequence += 1;
        self.queues[p].records.push_back(Queued { key, value, attempts: 0 });
        self.pending += 1;
        self.try_send(ctx, p);
    }

    fn schedule_retry(&mut self, ctx: &mut Ctx<'_>, p: usize) {
        let queue = &mut self.queues[p];
        if queue.retry_scheduled {
            return;
        }
        let backoff = next_backoff(queue.backoff);
        queue.backoff = Some(backoff);
        queue.retry_scheduled = true;
        ctx.set_timer(backoff, Timer::Retry { tp: Some(queue.tp.clone()) });
    }

    /// Sends the head of partition `p`'s queue to its leader, if nothing is in flight.
    fn try_send(&mut self, ctx: &mut Ctx<'_>, p: usize) {
        let queue = &self.queues[p];
        if queue.in_flight.is_some() || queue.retry_scheduled || queue.records.is_empty() {
            return;
        }
        let Some((leader, _)) = self.metadata.leader(&queue.tp) else {
            self.refresh_metadata(ctx);
            return;
        };
        let correlation_id = self.correlation_id();
        let queue = &mut self.queues[p];
        let count = queue.records.len().min(PRODUCE_BATCH_RECORDS_MAX);
        let mut records = Vec::with_capacity(count);
        for record in queue.records.iter_mut().take(count) {
            record.attempts += 1;
            ctx.observe(KafkaObs::Sent {
                tp: queue.tp.clone(),
                key: record.key,
                value: record.value,
                attempt: record.attempts,
            });
            records.push((record.key, record.value));
        }
        let acks = self.config.spec.acks;
        ctx.send(
            leader,
            Msg::ProduceRequest {
                correlation_id,
                tp: queue.tp.clone(),
                acks,
                producer: None,
                records,
            },
        );
        if acks == Acks::None {
            // acks=0: fire and forget. The records are done the moment they are sent; the
            // history holds their `Sent` only (there is no offset to acknowledge).
            queue.records.drain(..count);
            self.pending -= count;
            return;
        }
        let timer = ctx.set_timer(
            Duration::from_millis(REQUEST_TIMEOUT_MS),
            Timer::RequestTimeout { correlation_id },
        );
        queue.in_flight = Some(InFlight { correlation_id, count, timer });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_partitions_stably() {
        let parts: Vec<u32> = (0..8).map(|k| partition_for_key(k, 3)).collect();
        assert_eq!(parts, (0..8).map(|k| partition_for_key(k, 3)).collect::<Vec<_>>());
        for p in 0..3 {
            assert!(parts.contains(&p), "8 keys cover 3 partitions: {parts:?}");
        }
    }
}
