//! The producer, after Kafka's `KafkaProducer` / `RecordAccumulator` / `Sender`: generates
//! records at a fixed rate, partitions them, batches them per partition and sends the
//! batches to the partitions' leaders, retrying until each record is acknowledged or fails.
//!
//! - Partitioner: the key's hash with keys; without keys KIP-480's sticky partitioner (a
//!   random partition takes records until its batch is sent or full, then another one).
//! - Batching: a partition's last batch takes records until it holds `batch.size` bytes
//!   (`log::RECORD_SIZE_BYTES` per record) or is sent. A batch is ready to send when it is
//!   full, `linger.ms` after its first record, when another batch queues behind it, or when
//!   it is a retry (Kafka's `RecordAccumulator.ready`). So a batch whose linger passed
//!   still takes records while the in-flight limit holds it back, as in Kafka.
//! - `max.in.flight.requests.per.connection` counts the produce requests in flight to a
//!   broker (one request carries one partition's batch here; Kafka packs every partition of
//!   a broker into one request). Without idempotence a failed batch is put back at the
//!   head of its partition (Kafka's `addFirst`) and may land after batches sent after it (P2).
//! - Retries: `retries`, back-off from `retry.backoff.ms` doubling to
//!   `retry.backoff.max.ms` (no jitter), `request.timeout.ms` per request (capped at 3 s,
//!   see [`Producer::request_timeout`]), and
//!   `delivery.timeout.ms` from the batch's creation: a batch past it fails with
//!   `SendFailed { error: None }` instead of being retried (Kafka also expires batches in
//!   flight; here a request in flight times out first, as `request.timeout.ms` is shorter).
//!   Non-retriable errors fail the batch with the error.
//! - Metadata is refreshed on NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
//!   FENCED_LEADER_EPOCH and on request timeouts.
//!
//! Idempotence (`enable.idempotence`, which only acks=all keeps, as Kafka silently turns
//! its default off for other acks): before sending anything the producer gets a producer
//! id (InitProducerId to the brokers in turn, retried on errors and timeouts). A
//! partition's batches get their base sequence at their first send and keep it on every
//! retry. A retry is sent alone (nothing else of its partition in flight), as Kafka's
//! `RecordAccumulator.shouldStopDrainBatchesForPartition` does, so the broker sees the
//! sequences in order. OUT_OF_ORDER_SEQUENCE_NUMBER and UNKNOWN_PRODUCER_ID on a batch
//! that is not the partition's next unacknowledged one mean an earlier batch is unresolved:
//! retried (Kafka's `TransactionManager.canRetry`). On the next unacknowledged batch they
//! mean the leader lost acknowledged state, a gap no retry closes; that, a batch failing
//! after it got a sequence (delivery timeout, retries exhausted, a fatal error such as
//! INVALID_PRODUCER_EPOCH) make the producer start a new producer id. Kafka bumps the
//! epoch of the same id (KIP-360); our InitProducerId has no epoch bump, so the producer
//! gets a fresh id, which the brokers treat the same way (a new producer starting at
//! sequence 0). The partition whose batch forced the new id renumbers its batches from 0
//! once its requests in flight resolved, retries included (Kafka rewrites that partition's
//! in-flight sequences): a retry renumbered this way may be appended twice, as in Kafka.
//! Every other partition retries its numbered batches as they were, under the old id, so
//! its leader still recognises them, and moves to the new id only once none is left
//! unresolved (Kafka's `maybeUpdateProducerIdAndEpoch` waits for the in-flight batches).

use std::collections::VecDeque;

use crate::scenario::{Acks, ProducerSpec};
use crate::sim::node::{Context, NodeId, TimerId};
use crate::sim::time::{Duration, Instant};
use crate::sim::trace::StableHasher;

use super::client::MetadataCache;
use super::log::RECORD_SIZE_BYTES;
use super::node::KafkaNode;
use super::producer_state::PRODUCER_BATCHES_KEPT;
use super::protocol::{
    Entry, ErrorCode, KafkaObs, Msg, PRODUCE_BATCH_RECORDS_MAX, ProducerBatch, Timer,
    TopicPartition, record_value,
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

/// A producer batch (Kafka's `ProducerBatch`).
#[derive(Clone, Debug)]
struct Batch {
    /// (key, value) in send order.
    records: Vec<(u32, u64)>,
    /// When its first record was made: `linger.ms` and `delivery.timeout.ms` count from it.
    created: Instant,
    /// Sends so far.
    attempts: u32,
    /// The idempotent header, fixed at the first send under the current producer id.
    sequence: Option<ProducerBatch>,
    /// Not sent again before this (retry back-off).
    retry_at: Instant,
    /// The back-off of its last retry.
    backoff: Option<Duration>,
}

impl Batch {
    fn last_sequence(&self) -> Option<u32> {
        self.sequence.map(|s| s.base_sequence + self.records.len() as u32 - 1)
    }
}

#[derive(Clone, Debug)]
struct InFlight {
    batch: Batch,
    correlation_id: u64,
    leader: NodeId,
    timer: TimerId,
}

#[derive(Clone, Debug)]
struct PartitionQueue {
    tp: TopicPartition,
    /// Batches not in flight, in send order: retries first, then new batches; the last one
    /// may still take records.
    queue: VecDeque<Batch>,
    /// Requests in flight, in send order.
    in_flight: Vec<InFlight>,
    /// The producer id and epoch the sequences below count under.
    numbering: Option<(u64, u16)>,
    next_sequence: u32,
    /// The highest sequence acknowledged under `numbering`.
    acked_sequence: Option<u32>,
    /// This partition made the producer start a new id (a gap at its leader, a batch of it
    /// given up): its batches are renumbered under the new id, retries included.
    rewrite: bool,
    retry_scheduled: bool,
    linger_scheduled: bool,
}

/// The idempotent producer's identity and the InitProducerId exchange.
#[derive(Clone, Debug, Default)]
struct Identity {
    producer: Option<(u64, u16)>,
    /// The InitProducerId in flight: (correlation id, its timeout).
    request: Option<(u64, TimerId)>,
    retry_scheduled: bool,
    backoff: Option<Duration>,
    next_broker: usize,
}

#[derive(Clone, Debug)]
pub struct Producer {
    config: ProducerConfig,
    restarts: u32,
    sequence: u64,
    metadata: MetadataCache,
    partitions: Vec<PartitionQueue>,
    /// `Some` with idempotence.
    identity: Option<Identity>,
    /// KIP-480: the partition records without a key go to.
    sticky: Option<usize>,
    /// Where the next pass over the partitions starts, so that none starves (Kafka's
    /// `drainIndex`).
    drain_index: usize,
    pending: usize,
    throttled: bool,
    next_correlation_id: u64,
}

impl Producer {
    pub fn new(config: ProducerConfig) -> Self {
        let spec = &config.spec;
        assert!(config.partitions > 0, "a topic has partitions");
        assert!(spec.max_in_flight > 0, "max.in.flight.requests.per.connection > 0");
        // Kafka turns the default `enable.idempotence` off for acks other than "all".
        let idempotent = spec.idempotent && spec.acks == Acks::All;
        assert!(
            !idempotent || spec.max_in_flight as usize <= PRODUCER_BATCHES_KEPT,
            "idempotence allows at most {PRODUCER_BATCHES_KEPT} requests in flight"
        );
        let metadata = MetadataCache::new(
            config.brokers.clone(),
            vec![spec.topic.clone()],
            config.index as usize,
        );
        let partitions = (0..config.partitions)
            .map(|p| PartitionQueue {
                tp: TopicPartition::new(&spec.topic, p),
                queue: VecDeque::new(),
                in_flight: Vec::new(),
                numbering: None,
                rewrite: false,
                next_sequence: 0,
                acked_sequence: None,
                retry_scheduled: false,
                linger_scheduled: false,
            })
            .collect();
        let identity = idempotent
            .then(|| Identity { next_broker: config.index as usize, ..Identity::default() });
        Producer {
            config,
            restarts: 0,
            sequence: 0,
            metadata,
            partitions,
            identity,
            sticky: None,
            drain_index: 0,
            pending: 0,
            throttled: false,
            next_correlation_id: 0,
        }
    }

    /// Records generated and not yet acknowledged or failed.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The idempotent producer's id and epoch, once it has one.
    pub fn producer_id(&self) -> Option<(u64, u16)> {
        self.identity.as_ref().and_then(|i| i.producer)
    }

    fn correlation_id(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    fn interval(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / self.config.spec.rate as u64)
    }

    /// Records per batch: `batch.size` over the model's record size.
    fn batch_records(&self) -> usize {
        let records = self.config.spec.batch_size / RECORD_SIZE_BYTES;
        (records as usize).clamp(1, PRODUCE_BATCH_RECORDS_MAX)
    }

    fn linger(&self) -> Duration {
        Duration::from_millis(self.config.spec.linger_ms)
    }

    /// `request.timeout.ms` (kafsim's default is shorter than Kafka's: see
    /// [`ProducerSpec::request_timeout_ms`]).
    fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.spec.request_timeout_ms)
    }

    /// `retry.backoff.ms` doubled per retry up to `retry.backoff.max.ms`.
    fn next_backoff(&self, current: Option<Duration>) -> Duration {
        let spec = &self.config.spec;
        let max = Duration::from_millis(spec.retry_backoff_max_ms.max(spec.retry_backoff_ms));
        match current {
            None => Duration::from_millis(spec.retry_backoff_ms),
            Some(d) => Duration::from_nanos(d.as_nanos().saturating_mul(2)).min(max),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.restarts = ctx.disk().read(BOOT_FILE).len() as u32;
        ctx.disk().append(BOOT_FILE, Entry::Boot);
        ctx.disk().fsync(BOOT_FILE);
        if self.restarts > 0 {
            ctx.observe(KafkaObs::Restarted);
        }
        self.next_correlation_id = ctx.rng().next_u64() >> 1;
        self.refresh_metadata(ctx);
        self.init_producer_id(ctx);
        if self.config.spec.rate > 0 {
            ctx.set_timer(self.interval(), Timer::Generate);
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::Generate => {
                self.generate(ctx);
                self.expire_queued(ctx);
                ctx.set_timer(self.interval(), Timer::Generate);
            }
            Timer::RequestTimeout { correlation_id } => self.request_timed_out(ctx, correlation_id),
            Timer::Retry { tp: None } => {
                self.metadata.on_retry();
                self.refresh_metadata(ctx);
            }
            Timer::Retry { tp: Some(tp) } => {
                let p = tp.partition as usize;
                self.partitions[p].retry_scheduled = false;
                self.try_send(ctx, p);
            }
            Timer::Linger { tp } => {
                let p = tp.partition as usize;
                self.partitions[p].linger_scheduled = false;
                self.try_send(ctx, p);
                self.schedule_linger(ctx, p);
            }
            Timer::InitProducerIdRetry => {
                self.identity.as_mut().expect("idempotent").retry_scheduled = false;
                self.init_producer_id(ctx);
            }
            other => panic!("producer got a foreign timer {other:?}"),
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResponse { correlation_id, partitions } => {
                let wanted: Vec<TopicPartition> =
                    self.partitions.iter().map(|q| q.tp.clone()).collect();
                if self.metadata.on_response(ctx, correlation_id, partitions, &wanted) {
                    self.send_ready(ctx);
                }
            }
            Msg::ProduceResponse { correlation_id, tp, result } => {
                self.handle_produce_response(ctx, from, correlation_id, tp, result);
            }
            Msg::InitProducerIdResponse { correlation_id, result } => {
                self.handle_init_producer_id_response(ctx, correlation_id, result);
            }
            other => panic!("producer got unexpected {other:?}"),
        }
    }

    fn refresh_metadata(&mut self, ctx: &mut Ctx<'_>) {
        let correlation_id = self.correlation_id();
        self.metadata.refresh(ctx, correlation_id);
    }

    // Idempotence: the producer id.

    /// Asks the next broker for a producer id, unless a request or a retry is pending.
    fn init_producer_id(&mut self, ctx: &mut Ctx<'_>) {
        let correlation_id = self.correlation_id();
        let timeout = self.request_timeout();
        let brokers = &self.config.brokers;
        let Some(identity) = self.identity.as_mut() else { return };
        if identity.producer.is_some() || identity.request.is_some() || identity.retry_scheduled {
            return;
        }
        let broker = brokers[identity.next_broker % brokers.len()];
        identity.next_broker = identity.next_broker.wrapping_add(1);
        ctx.send(broker, Msg::InitProducerId { correlation_id });
        let timer = ctx.set_timer(timeout, Timer::RequestTimeout { correlation_id });
        identity.request = Some((correlation_id, timer));
    }

    fn handle_init_producer_id_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<(u64, u16), ErrorCode>,
    ) {
        let Some(identity) = self.identity.as_mut() else { return };
        let Some((_, timer)) = identity.request.take_if(|(c, _)| *c == correlation_id) else {
            return;
        };
        ctx.cancel_timer(timer);
        match result {
            Ok((producer_id, producer_epoch)) => {
                identity.producer = Some((producer_id, producer_epoch));
                identity.backoff = None;
                ctx.annotate(format!("producer id {producer_id} epoch {producer_epoch}"));
                ctx.observe(KafkaObs::ProducerId { producer_id, producer_epoch });
                self.send_ready(ctx);
            }
            Err(error) => {
                ctx.annotate(format!("InitProducerId failed with {error}; retrying"));
                self.schedule_init_retry(ctx);
            }
        }
    }

    fn schedule_init_retry(&mut self, ctx: &mut Ctx<'_>) {
        let backoff = self.next_backoff(self.identity.as_ref().and_then(|i| i.backoff));
        let identity = self.identity.as_mut().expect("idempotent");
        identity.backoff = Some(backoff);
        identity.retry_scheduled = true;
        ctx.set_timer(backoff, Timer::InitProducerIdRetry);
    }

    /// A batch of `p` numbered under `under` cannot be resolved: the producer starts again
    /// under a new producer id (once; later failures under the old id only mark their
    /// partitions for renumbering).
    fn reset_producer_id(&mut self, ctx: &mut Ctx<'_>, p: usize, under: ProducerBatch) {
        self.partitions[p].rewrite = true;
        let Some(identity) = self.identity.as_mut() else { return };
        if identity.producer != Some((under.producer_id, under.producer_epoch)) {
            return;
        }
        ctx.annotate(format!("producer id {} abandoned: asking for a new one", under.producer_id));
        identity.producer = None;
        self.init_producer_id(ctx);
    }

    // Records and batches.

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
        let keys = self.config.spec.keys;
        let key = ctx.rng().below(u64::from(keys.max(1))) as u32;
        let p = if keys > 0 {
            partition_for_key(key, self.config.partitions) as usize
        } else {
            self.sticky_partition(ctx)
        };
        let value = record_value(self.config.index, self.restarts, self.sequence);
        self.sequence += 1;
        self.append(ctx, p, key, value);
        self.try_send(ctx, p);
    }

    /// KIP-480: the sticky partition while its batch takes records, else a new random one
    /// (another one when there is a choice).
    fn sticky_partition(&mut self, ctx: &mut Ctx<'_>) -> usize {
        if let Some(p) = self.sticky
            && self.appendable(p)
        {
            return p;
        }
        let n = self.config.partitions as u64;
        let p = match self.sticky {
            Some(previous) if n > 1 => {
                (previous as u64 + 1 + ctx.rng().below(n - 1)) as usize % n as usize
            }
            _ => ctx.rng().below(n) as usize,
        };
        self.sticky = Some(p);
        p
    }

    /// Whether partition `p`'s last batch takes another record.
    fn appendable(&self, p: usize) -> bool {
        let limit = self.batch_records();
        self.partitions[p].queue.back().is_some_and(|b| b.attempts == 0 && b.records.len() < limit)
    }

    fn append(&mut self, ctx: &mut Ctx<'_>, p: usize, key: u32, value: u64) {
        let now = ctx.now();
        if !self.appendable(p) {
            let batch = Batch {
                records: Vec::new(),
                created: now,
                attempts: 0,
                sequence: None,
                retry_at: now,
                backoff: None,
            };
            self.partitions[p].queue.push_back(batch);
            self.schedule_linger(ctx, p);
        }
        let batch = self.partitions[p].queue.back_mut().expect("a batch takes the record");
        batch.records.push((key, value));
        self.pending += 1;
        assert!(self.pending <= PENDING_RECORDS_MAX, "pending records past the bound");
    }

    /// Whether the head batch of `p` may go now (Kafka's `RecordAccumulator.ready`).
    fn head_ready(&self, p: usize, now: Instant) -> bool {
        let queue = &self.partitions[p].queue;
        let Some(head) = queue.front() else { return false };
        head.records.len() >= self.batch_records()
            || queue.len() > 1
            || head.attempts > 0
            || now >= head.created + self.linger()
    }

    /// A linger timer for the partition's only batch while it waits for more records.
    fn schedule_linger(&mut self, ctx: &mut Ctx<'_>, p: usize) {
        let now = ctx.now();
        let linger = self.linger();
        let queue = &self.partitions[p];
        if queue.linger_scheduled || queue.queue.len() != 1 || self.head_ready(p, now) {
            return;
        }
        let due = queue.queue[0].created + linger;
        let tp = queue.tp.clone();
        self.partitions[p].linger_scheduled = true;
        ctx.set_timer(due.saturating_since(now), Timer::Linger { tp });
    }

    // Sending.

    /// Requests in flight to `broker` (Kafka's in-flight requests of its connection).
    fn in_flight_to(&self, broker: NodeId) -> usize {
        self.partitions.iter().flat_map(|q| &q.in_flight).filter(|f| f.leader == broker).count()
    }

    /// One pass over every partition, from a rotating start.
    fn send_ready(&mut self, ctx: &mut Ctx<'_>) {
        let n = self.partitions.len();
        let start = self.drain_index % n;
        self.drain_index = self.drain_index.wrapping_add(1);
        for i in 0..n {
            self.try_send(ctx, (start + i) % n);
        }
    }

    /// Sends partition `p`'s ready batches while the connection to its leader has room.
    fn try_send(&mut self, ctx: &mut Ctx<'_>, p: usize) {
        self.expire_queued_in(ctx, p);
        let max_in_flight = self.config.spec.max_in_flight as usize;
        // At most one send per free in-flight slot: the loop is bounded.
        for _ in 0..max_in_flight {
            if !self.send_head(ctx, p) {
                return;
            }
        }
    }

    /// Sends the head batch of `p` if it may go now; true when it went.
    fn send_head(&mut self, ctx: &mut Ctx<'_>, p: usize) -> bool {
        let now = ctx.now();
        if !self.head_ready(p, now) {
            return false;
        }
        let head_retry_at = self.partitions[p].queue[0].retry_at;
        if head_retry_at > now {
            self.schedule_retry(ctx, p, head_retry_at.saturating_since(now));
            return false;
        }
        if self.identity.is_some() && !self.sequence_ready(ctx, p) {
            return false;
        }
        // Kafka's `guaranteeMessageOrder`: with one request in flight per connection the
        // partition itself is muted while its batch is out, so that a batch sent to a new
        // leader cannot overtake one still out to the old leader.
        if self.config.spec.max_in_flight == 1 && !self.partitions[p].in_flight.is_empty() {
            return false;
        }
        let tp = self.partitions[p].tp.clone();
        let Some((leader, _)) = self.metadata.leader(&tp) else {
            self.refresh_metadata(ctx);
            return false;
        };
        if self.in_flight_to(leader) >= self.config.spec.max_in_flight as usize {
            return false;
        }
        let mut batch = self.partitions[p].queue.pop_front().expect("head ready");
        if let Some((producer_id, producer_epoch)) = self.producer_id()
            && batch.sequence.is_none()
        {
            batch.sequence = Some(self.assign_sequence(p, producer_id, producer_epoch, &batch));
        }
        self.send(ctx, p, leader, batch);
        true
    }

    /// Idempotence: whether `p` may send its head now, moving `p` to the current producer
    /// id first once nothing numbered under the old one is unresolved (or at once, when `p`
    /// made the producer start anew).
    fn sequence_ready(&mut self, ctx: &mut Ctx<'_>, p: usize) -> bool {
        let Some(producer) = self.producer_id() else { return false };
        let queue = &mut self.partitions[p];
        if queue.numbering != Some(producer) {
            if !queue.in_flight.is_empty() {
                return false;
            }
            // A batch keeps the id and sequence it was first sent under for every retry
            // (Kafka drains a batch with a sequence as it is): its leader may hold it, and
            // only the same sequence is recognised as a duplicate. The partition moves to
            // the new id once each such batch is acknowledged or given up.
            if !queue.rewrite && queue.queue.front().is_some_and(|b| b.sequence.is_some()) {
                return true;
            }
            ctx.annotate(format!(
                "{}: sequences start at 0 under producer id {} ({} batches queued)",
                queue.tp,
                producer.0,
                queue.queue.len()
            ));
            for batch in &mut queue.queue {
                batch.sequence = None;
            }
            queue.numbering = Some(producer);
            queue.next_sequence = 0;
            queue.acked_sequence = None;
            queue.rewrite = false;
        }
        // A retry goes alone, so the leader sees the partition's sequences in order.
        queue.queue[0].sequence.is_none() || queue.in_flight.is_empty()
    }

    /// The next base sequence of `p` for `batch`, under the partition's numbering.
    fn assign_sequence(
        &mut self,
        p: usize,
        producer_id: u64,
        producer_epoch: u16,
        batch: &Batch,
    ) -> ProducerBatch {
        let queue = &mut self.partitions[p];
        assert_eq!(queue.numbering, Some((producer_id, producer_epoch)), "{}: numbering", queue.tp);
        let base_sequence = queue.next_sequence;
        // Sequences are handed out in send order, contiguous, never twice per numbering.
        let below = |b: &Batch| b.last_sequence().is_none_or(|last| last < base_sequence);
        assert!(
            queue.queue.iter().all(below) && queue.in_flight.iter().all(|f| below(&f.batch)),
            "{}: sequence {base_sequence} already used",
            queue.tp
        );
        queue.next_sequence = base_sequence
            .checked_add(batch.records.len() as u32)
            .expect("sequence numbers do not wrap in the model");
        ProducerBatch { producer_id, producer_epoch, base_sequence }
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, p: usize, leader: NodeId, mut batch: Batch) {
        let correlation_id = self.correlation_id();
        let acks = self.config.spec.acks;
        let timeout = self.request_timeout();
        batch.attempts += 1;
        let tp = self.partitions[p].tp.clone();
        for &(key, value) in &batch.records {
            let attempt = batch.attempts;
            ctx.observe(KafkaObs::Sent { tp: tp.clone(), key, value, attempt });
        }
        let msg = Msg::ProduceRequest {
            correlation_id,
            tp,
            acks,
            producer: batch.sequence,
            records: batch.records.clone(),
        };
        ctx.send(leader, msg);
        if acks == Acks::None {
            // acks=0: fire and forget. The records are done the moment they are sent; the
            // history holds their `Sent` only (there is no offset to acknowledge).
            self.pending -= batch.records.len();
            return;
        }
        let timer = ctx.set_timer(timeout, Timer::RequestTimeout { correlation_id });
        self.partitions[p].in_flight.push(InFlight { batch, correlation_id, leader, timer });
        let max_in_flight = self.config.spec.max_in_flight as usize;
        assert!(
            self.in_flight_to(leader) <= max_in_flight,
            "in flight to {leader:?} past the limit"
        );
    }

    fn schedule_retry(&mut self, ctx: &mut Ctx<'_>, p: usize, delay: Duration) {
        let queue = &mut self.partitions[p];
        if queue.retry_scheduled {
            return;
        }
        queue.retry_scheduled = true;
        ctx.set_timer(delay, Timer::Retry { tp: Some(queue.tp.clone()) });
    }

    // Outcomes.

    fn take_in_flight(&mut self, p: usize, correlation_id: u64) -> Option<InFlight> {
        let queue = self.partitions.get_mut(p)?;
        let i = queue.in_flight.iter().position(|f| f.correlation_id == correlation_id)?;
        Some(queue.in_flight.remove(i))
    }

    fn handle_produce_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<(u64, u32), ErrorCode>,
    ) {
        let p = tp.partition as usize;
        let Some(in_flight) = self.take_in_flight(p, correlation_id) else { return };
        ctx.cancel_timer(in_flight.timer);
        match result {
            Ok((base_offset, leader_epoch)) => {
                self.acknowledged(ctx, p, from, in_flight.batch, (base_offset, leader_epoch));
            }
            Err(error) => {
                let refresh = matches!(
                    error,
                    ErrorCode::NotLeaderOrFollower
                        | ErrorCode::UnknownTopicOrPartition
                        | ErrorCode::FencedLeaderEpoch
                );
                if refresh {
                    self.refresh_metadata(ctx);
                }
                self.failed_attempt(ctx, p, in_flight.batch, error);
            }
        }
        self.send_ready(ctx);
    }

    fn request_timed_out(&mut self, ctx: &mut Ctx<'_>, correlation_id: u64) {
        if self.metadata.on_timeout(correlation_id) {
            self.refresh_metadata(ctx);
            return;
        }
        if let Some(identity) = self.identity.as_mut()
            && identity.request.take_if(|(c, _)| *c == correlation_id).is_some()
        {
            ctx.annotate("InitProducerId timed out; retrying");
            self.schedule_init_retry(ctx);
            return;
        }
        let Some(p) = self
            .partitions
            .iter()
            .position(|q| q.in_flight.iter().any(|f| f.correlation_id == correlation_id))
        else {
            return;
        };
        let in_flight = self.take_in_flight(p, correlation_id).expect("found");
        self.refresh_metadata(ctx);
        self.failed_attempt(ctx, p, in_flight.batch, ErrorCode::RequestTimedOut);
        self.send_ready(ctx);
    }

    fn acknowledged(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: usize,
        leader: NodeId,
        batch: Batch,
        (base_offset, leader_epoch): (u64, u32),
    ) {
        let queue = &mut self.partitions[p];
        if let (Some(sequence), Some(last)) = (batch.sequence, batch.last_sequence())
            && queue.numbering == Some((sequence.producer_id, sequence.producer_epoch))
        {
            queue.acked_sequence = Some(queue.acked_sequence.map_or(last, |a| a.max(last)));
        }
        for (i, &(key, value)) in batch.records.iter().enumerate() {
            ctx.observe(KafkaObs::Acked {
                tp: queue.tp.clone(),
                key,
                value,
                offset: base_offset + i as u64,
                leader,
                leader_epoch,
            });
        }
        self.pending -= batch.records.len();
    }

    /// A send of `batch` failed with `error`: retried, or failed for good.
    fn failed_attempt(&mut self, ctx: &mut Ctx<'_>, p: usize, mut batch: Batch, error: ErrorCode) {
        let now = ctx.now();
        let tp = self.partitions[p].tp.clone();
        let retriable = matches!(
            error,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::NotEnoughReplicas
                | ErrorCode::NotEnoughReplicasAfterAppend
                | ErrorCode::RequestTimedOut
                | ErrorCode::OutOfOrderSequenceNumber
                | ErrorCode::UnknownProducerId
        );
        let expired =
            now >= batch.created + Duration::from_millis(self.config.spec.delivery_timeout_ms);
        if !retriable || batch.attempts > self.config.spec.retries {
            return self.fail_batch(ctx, p, batch, Some(error));
        }
        if expired {
            return self.fail_batch(ctx, p, batch, None);
        }
        if matches!(error, ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId)
            && let Some(sequence) = batch.sequence
        {
            let queue = &self.partitions[p];
            let current = queue.numbering == Some((sequence.producer_id, sequence.producer_epoch));
            let next = queue.acked_sequence.map_or(0, |a| a + 1);
            if current && sequence.base_sequence == next {
                // The leader lost what it acknowledged: no retry closes this gap.
                ctx.annotate(format!("{tp}: {error} on sequence {next}: a gap at the leader"));
                self.reset_producer_id(ctx, p, sequence);
            }
        }
        ctx.annotate(format!("{tp}: produce failed with {error}; retrying"));
        let backoff = self.next_backoff(batch.backoff);
        batch.backoff = Some(backoff);
        batch.retry_at = now + backoff;
        self.requeue(p, batch);
    }

    /// Puts a batch to retry back at the head of its partition: in sequence order with
    /// idempotence, first without (Kafka's `RecordAccumulator.reenqueue`).
    fn requeue(&mut self, p: usize, batch: Batch) {
        let queue = &mut self.partitions[p].queue;
        let at = match batch.sequence {
            Some(s) => queue.partition_point(|b| {
                b.sequence.is_some_and(|other| other.base_sequence < s.base_sequence)
            }),
            None => 0,
        };
        queue.insert(at, batch);
    }

    /// Expires the queued batches past `delivery.timeout.ms` (Kafka's
    /// `RecordAccumulator.expiredBatches`); batches queue in creation order.
    fn expire_queued(&mut self, ctx: &mut Ctx<'_>) {
        for p in 0..self.partitions.len() {
            self.expire_queued_in(ctx, p);
        }
    }

    fn expire_queued_in(&mut self, ctx: &mut Ctx<'_>, p: usize) {
        let now = ctx.now();
        let delivery_timeout = Duration::from_millis(self.config.spec.delivery_timeout_ms);
        while let Some(head) = self.partitions[p].queue.front()
            && now >= head.created + delivery_timeout
        {
            let batch = self.partitions[p].queue.pop_front().expect("head");
            self.fail_batch(ctx, p, batch, None);
        }
    }

    /// Gives a batch up: its records are `SendFailed` (outcome unknown if it was sent).
    /// A batch that had a sequence leaves a gap: the producer needs a new id.
    fn fail_batch(&mut self, ctx: &mut Ctx<'_>, p: usize, batch: Batch, error: Option<ErrorCode>) {
        let tp = self.partitions[p].tp.clone();
        let why = error.map_or_else(|| "delivery.timeout.ms passed".to_string(), |e| e.to_string());
        ctx.annotate(format!("{tp}: {} records failed: {why}", batch.records.len()));
        for &(key, value) in &batch.records {
            ctx.observe(KafkaObs::SendFailed { tp: tp.clone(), key, value, error });
        }
        self.pending -= batch.records.len();
        if let Some(sequence) = batch.sequence {
            self.reset_producer_id(ctx, p, sequence);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::PartitionMetadata;
    use crate::sim::node::Detached;
    use crate::sim::rng::SimRng;

    const B1: NodeId = NodeId(0);
    const B2: NodeId = NodeId(1);
    const B3: NodeId = NodeId(2);

    type Sends = Vec<(NodeId, Msg)>;

    struct Harness {
        producer: Producer,
        node: Detached<KafkaNode>,
        /// Everything observed so far.
        history: Vec<KafkaObs>,
    }

    fn spec(acks: Acks, idempotent: bool) -> ProducerSpec {
        let mut spec = ProducerSpec::kafka_defaults("p1", "events", 0, 1);
        spec.acks = acks;
        spec.idempotent = idempotent;
        spec.linger_ms = 0;
        spec
    }

    impl Harness {
        fn new(partitions: u32, spec: ProducerSpec) -> Self {
            let config = ProducerConfig { index: 0, partitions, brokers: vec![B1, B2, B3], spec };
            Harness {
                producer: Producer::new(config),
                node: Detached::new(NodeId(9), SimRng::stream(1, "producer-test")),
                history: Vec::new(),
            }
        }

        fn at_ms(&mut self, ms: u64) {
            self.node.now = Instant::ZERO + Duration::from_millis(ms);
        }

        /// Runs a handler; returns what it sent (timers stay in `self.node.effects`).
        fn step(&mut self, f: impl FnOnce(&mut Producer, &mut Ctx<'_>)) -> Sends {
            self.node.effects.clear();
            let mut ctx = self.node.context();
            f(&mut self.producer, &mut ctx);
            self.history.extend(self.node.effects.observations().iter().cloned());
            self.node.effects.sends().to_vec()
        }

        fn timers(&self) -> Vec<Timer> {
            self.node.effects.timers_set().iter().map(|(_, _, t)| t.clone()).collect()
        }

        /// Starts the producer and names `leader` the leader of every partition.
        fn start(&mut self, leader: NodeId) -> Sends {
            let sends = self.step(|p, ctx| p.on_start(ctx));
            let correlation_id = sends
                .iter()
                .find_map(|(_, m)| match m {
                    Msg::MetadataRequest { correlation_id, .. } => Some(*correlation_id),
                    _ => None,
                })
                .expect("a metadata request at start");
            let partitions = (0..self.producer.partitions.len() as u32)
                .map(|p| PartitionMetadata {
                    tp: TopicPartition::new("events", p),
                    leader: Some(leader),
                    leader_epoch: 1,
                })
                .collect();
            self.step(|p, ctx| {
                p.on_message(ctx, B1, Msg::MetadataResponse { correlation_id, partitions })
            });
            sends
        }

        /// Answers the InitProducerId in `sends`.
        fn init(&mut self, sends: &Sends, result: Result<(u64, u16), ErrorCode>) -> Sends {
            let (to, correlation_id) = init_request(sends).expect("an InitProducerId");
            let msg = Msg::InitProducerIdResponse { correlation_id, result };
            self.step(|p, ctx| p.on_message(ctx, to, msg))
        }

        /// Makes `values` records for partition `p` and lets the producer send.
        fn produce(&mut self, p: usize, values: &[u64]) -> Sends {
            let values = values.to_vec();
            self.step(|producer, ctx| {
                for v in values {
                    producer.append(ctx, p, 0, v);
                }
                producer.try_send(ctx, p);
            })
        }

        fn answer(&mut self, request: &Request, result: Result<(u64, u32), ErrorCode>) -> Sends {
            let msg = Msg::ProduceResponse {
                correlation_id: request.correlation_id,
                tp: TopicPartition::new("events", request.partition),
                result,
            };
            self.step(|p, ctx| p.on_message(ctx, request.to, msg))
        }
    }

    fn init_request(sends: &Sends) -> Option<(NodeId, u64)> {
        sends.iter().find_map(|(to, m)| match m {
            Msg::InitProducerId { correlation_id } => Some((*to, *correlation_id)),
            _ => None,
        })
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Request {
        to: NodeId,
        correlation_id: u64,
        partition: u32,
        producer: Option<ProducerBatch>,
        values: Vec<u64>,
    }

    fn requests(sends: &Sends) -> Vec<Request> {
        sends
            .iter()
            .filter_map(|(to, m)| match m {
                Msg::ProduceRequest { correlation_id, tp, producer, records, .. } => {
                    Some(Request {
                        to: *to,
                        correlation_id: *correlation_id,
                        partition: tp.partition,
                        producer: *producer,
                        values: records.iter().map(|&(_, v)| v).collect(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    fn base_sequence(r: &Request) -> u32 {
        r.producer.expect("an idempotent batch").base_sequence
    }

    #[test]
    fn keys_spread_over_partitions_stably() {
        let parts: Vec<u32> = (0..8).map(|k| partition_for_key(k, 3)).collect();
        assert_eq!(parts, (0..8).map(|k| partition_for_key(k, 3)).collect::<Vec<_>>());
        for p in 0..3 {
            assert!(parts.contains(&p), "8 keys cover 3 partitions: {parts:?}");
        }
    }

    #[test]
    fn linger_and_batch_size_close_batches() {
        let mut spec = spec(Acks::Leader, false);
        spec.linger_ms = 5;
        spec.batch_size = 3 * RECORD_SIZE_BYTES;
        let mut h = Harness::new(1, spec);
        h.start(B1);
        // Two records wait for linger.ms; the third fills the batch, which goes at once.
        assert!(h.produce(0, &[1, 2]).is_empty());
        assert!(matches!(&h.timers()[..], [Timer::Linger { tp }] if tp.partition == 0));
        let sent = requests(&h.produce(0, &[3, 4]));
        assert_eq!(sent.iter().map(|r| r.values.clone()).collect::<Vec<_>>(), vec![vec![1, 2, 3]]);
        // The fourth record's batch goes when its linger is over, not before.
        h.at_ms(4);
        assert!(h.step(|p, ctx| p.try_send(ctx, 0)).is_empty());
        h.at_ms(5);
        let linger = Timer::Linger { tp: TopicPartition::new("events", 0) };
        let sent = requests(&h.step(|p, ctx| p.on_timer(ctx, linger)));
        assert_eq!(sent.iter().map(|r| r.values.clone()).collect::<Vec<_>>(), vec![vec![4]]);
    }

    #[test]
    fn in_flight_requests_are_limited_per_broker_connection() {
        let mut spec = spec(Acks::Leader, false);
        spec.max_in_flight = 2;
        let mut h = Harness::new(3, spec);
        h.start(B1);
        let first = requests(&h.produce(0, &[1]));
        let second = requests(&h.produce(1, &[2]));
        assert_eq!((first.len(), second.len()), (1, 1));
        // Partition 2 has the same leader: its batch waits, and takes more records.
        assert!(requests(&h.produce(2, &[3])).is_empty());
        assert!(requests(&h.produce(2, &[4])).is_empty());
        assert!(requests(&h.produce(0, &[5])).is_empty());
        let sent = requests(&h.answer(&first[0], Ok((0, 1))));
        assert_eq!(sent.len(), 1, "one slot freed, one request: {sent:?}");
        assert_eq!(sent[0].to, B1);
        let in_flight = h.producer.in_flight_to(B1);
        assert_eq!(in_flight, 2);
        let waiting: usize = h.producer.partitions.iter().map(|q| q.queue.len()).sum();
        assert_eq!(waiting, 1, "the other batch still waits");
    }

    /// With `max.in.flight.requests.per.connection = 1` a partition waits for its batch in
    /// flight even when its leader moved to another connection (Kafka mutes the partition).
    #[test]
    fn one_in_flight_mutes_the_partition_across_a_leader_change() {
        let mut spec = spec(Acks::Leader, false);
        spec.max_in_flight = 1;
        let mut h = Harness::new(1, spec);
        h.start(B1);
        let first = requests(&h.produce(0, &[1])).remove(0);
        assert_eq!(first.to, B1);
        // The metadata now names B2 as the leader, while the first batch is still out.
        let sends = h.step(|p, ctx| p.refresh_metadata(ctx));
        let correlation_id = sends
            .iter()
            .find_map(|(_, m)| match m {
                Msg::MetadataRequest { correlation_id, .. } => Some(*correlation_id),
                _ => None,
            })
            .expect("a metadata request");
        let tp = TopicPartition::new("events", 0);
        let partitions = vec![PartitionMetadata { tp, leader: Some(B2), leader_epoch: 2 }];
        h.step(|p, ctx| {
            p.on_message(ctx, B1, Msg::MetadataResponse { correlation_id, partitions })
        });
        assert!(requests(&h.produce(0, &[2])).is_empty(), "the partition is muted");
        let sent = requests(&h.answer(&first, Ok((0, 1))));
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].to, sent[0].values.clone()), (B2, vec![2]));
    }

    #[test]
    fn a_retry_keeps_its_sequence_and_goes_alone() {
        let mut h = Harness::new(1, spec(Acks::All, true));
        let sends = h.start(B1);
        // Nothing goes before the producer has an id.
        assert!(requests(&h.produce(0, &[1, 2])).is_empty());
        let sent = requests(&h.init(&sends, Ok((7, 0))));
        assert!(h.history.contains(&KafkaObs::ProducerId { producer_id: 7, producer_epoch: 0 }));
        assert_eq!(sent.len(), 1);
        let first = sent[0].clone();
        assert_eq!(
            first.producer,
            Some(ProducerBatch { producer_id: 7, producer_epoch: 0, base_sequence: 0 })
        );
        let second = requests(&h.produce(0, &[3])).remove(0);
        assert_eq!(base_sequence(&second), 2);
        // The first fails (the leader moved), the second hits the gap: both go back.
        h.answer(&first, Err(ErrorCode::NotLeaderOrFollower));
        h.answer(&second, Err(ErrorCode::OutOfOrderSequenceNumber));
        assert!(requests(&h.produce(0, &[4])).is_empty(), "retries wait for their back-off");
        h.at_ms(100);
        let tp = TopicPartition::new("events", 0);
        let sent = requests(&h.step(|p, ctx| p.on_timer(ctx, Timer::Retry { tp: Some(tp) })));
        assert_eq!(sent.len(), 1, "a retry goes alone: {sent:?}");
        assert_eq!((base_sequence(&sent[0]), sent[0].values.clone()), (0, vec![1, 2]));
        // Once it is through, the next retry goes, and the new batch may follow it.
        let sent = requests(&h.answer(&sent[0], Ok((0, 2))));
        let sent: Vec<(u32, Vec<u64>)> =
            sent.iter().map(|r| (base_sequence(r), r.values.clone())).collect();
        assert_eq!(sent, vec![(2, vec![3]), (3, vec![4])]);
        let attempts: Vec<u32> = h
            .history
            .iter()
            .filter_map(|o| match o {
                KafkaObs::Sent { value: 1, attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect();
        assert_eq!(attempts, vec![1, 2]);
    }

    #[test]
    fn delivery_timeout_fails_the_records_and_restarts_the_sequences() {
        let mut spec = spec(Acks::All, true);
        spec.request_timeout_ms = 400;
        spec.delivery_timeout_ms = 1_000;
        let mut h = Harness::new(1, spec);
        let sends = h.start(B1);
        h.init(&sends, Ok((7, 0)));
        let tp = TopicPartition::new("events", 0);
        let first = requests(&h.produce(0, &[1, 2])).remove(0);
        let time_out = |h: &mut Harness, ms, request: &Request| {
            h.at_ms(ms);
            let correlation_id = request.correlation_id;
            h.step(|p, ctx| p.on_timer(ctx, Timer::RequestTimeout { correlation_id }))
        };
        let retry = |h: &mut Harness, ms| {
            h.at_ms(ms);
            let tp = Some(TopicPartition::new("events", 0));
            h.step(|p, ctx| p.on_timer(ctx, Timer::Retry { tp }))
        };
        assert!(init_request(&time_out(&mut h, 400, &first)).is_none());
        let second = requests(&retry(&mut h, 500)).remove(0);
        assert_eq!((base_sequence(&second), second.values.clone()), (0, vec![1, 2]));
        assert!(init_request(&time_out(&mut h, 900, &second)).is_none());
        assert_eq!(h.producer.pending(), 2, "not expired before delivery.timeout.ms");
        // Its back-off ends past the delivery timeout: it fails instead of going again.
        let sends = retry(&mut h, 1_100);
        assert!(requests(&sends).is_empty());
        let failed: Vec<&KafkaObs> =
            h.history.iter().filter(|o| matches!(o, KafkaObs::SendFailed { .. })).collect();
        assert_eq!(
            failed,
            [1, 2]
                .map(|value| KafkaObs::SendFailed { tp: tp.clone(), key: 0, value, error: None })
                .iter()
                .collect::<Vec<_>>()
        );
        assert_eq!(h.producer.pending(), 0);
        // The gap it leaves is closed by a new producer id; the next batch starts at 0.
        assert_eq!(h.producer.producer_id(), None);
        assert!(requests(&h.produce(0, &[3])).is_empty(), "nothing goes without an id");
        let sent = requests(&h.init(&sends, Ok((8, 0)))).remove(0);
        let header = ProducerBatch { producer_id: 8, producer_epoch: 0, base_sequence: 0 };
        assert_eq!((sent.producer, sent.values), (Some(header), vec![3]));
    }

    /// A gap on one partition makes the producer start a new id; another partition's
    /// batch, whose fate is unknown, is retried under the id and sequence it was sent with
    /// (its leader may hold it, and recognises only those), and moves to the new id after.
    #[test]
    fn after_a_new_producer_id_other_partitions_retry_under_the_old_one() {
        let mut spec = spec(Acks::All, true);
        spec.request_timeout_ms = 400;
        let mut h = Harness::new(2, spec);
        let sends = h.start(B1);
        h.init(&sends, Ok((7, 0)));
        let old = |base_sequence| {
            Some(ProducerBatch { producer_id: 7, producer_epoch: 0, base_sequence })
        };
        let new = |base_sequence| {
            Some(ProducerBatch { producer_id: 8, producer_epoch: 0, base_sequence })
        };
        let a = requests(&h.produce(0, &[1])).remove(0);
        let b = requests(&h.produce(1, &[2])).remove(0);
        assert_eq!((a.producer, b.producer), (old(0), old(0)));
        // b's request times out: the leader may or may not have appended it.
        h.at_ms(400);
        let correlation_id = b.correlation_id;
        h.step(|p, ctx| p.on_timer(ctx, Timer::RequestTimeout { correlation_id }));
        // a hits a gap at its leader: the producer asks for a new id.
        let sends = h.answer(&a, Err(ErrorCode::OutOfOrderSequenceNumber));
        let mut sent = requests(&h.init(&sends, Ok((8, 0))));
        h.at_ms(1_000);
        for p in 0..2 {
            let tp = Some(TopicPartition::new("events", p));
            sent.extend(requests(&h.step(|pr, ctx| pr.on_timer(ctx, Timer::Retry { tp }))));
        }
        let by_partition = |sent: &[Request], p| -> Vec<(Option<ProducerBatch>, Vec<u64>)> {
            let mine = sent.iter().filter(|r| r.partition == p);
            mine.map(|r| (r.producer, r.values.clone())).collect()
        };
        assert_eq!(by_partition(&sent, 0), [(new(0), vec![1])], "a renumbered under the new id");
        assert_eq!(by_partition(&sent, 1), [(old(0), vec![2])], "b retried as it was sent");
        // Once b is through, partition 1 moves to the new id too.
        let retried_b = sent.iter().find(|r| r.partition == 1).expect("b's retry").clone();
        h.answer(&retried_b, Ok((0, 1)));
        assert_eq!(by_partition(&requests(&h.produce(1, &[3])), 1), [(new(0), vec![3])]);
    }

    #[test]
    fn a_queued_batch_expires_without_a_leader() {
        let mut spec = spec(Acks::Leader, false);
        spec.delivery_timeout_ms = 1_000;
        let mut h = Harness::new(1, spec);
        h.step(|p, ctx| p.on_start(ctx));
        assert!(requests(&h.produce(0, &[1])).is_empty(), "no leader known");
        h.at_ms(999);
        h.step(|p, ctx| p.expire_queued(ctx));
        assert_eq!(h.producer.pending(), 1);
        h.at_ms(1_000);
        h.step(|p, ctx| p.expire_queued(ctx));
        assert_eq!(h.producer.pending(), 0);
        let tp = TopicPartition::new("events", 0);
        assert_eq!(
            h.history.last(),
            Some(&KafkaObs::SendFailed { tp, key: 0, value: 1, error: None })
        );
    }

    #[test]
    fn init_producer_id_is_retried_until_answered() {
        let mut h = Harness::new(1, spec(Acks::All, true));
        let sends = h.start(B1);
        let (first, _) = init_request(&sends).unwrap();
        h.init(&sends, Err(ErrorCode::CoordinatorNotAvailable));
        assert!(h.timers().iter().any(|t| matches!(t, Timer::InitProducerIdRetry)));
        let sends = h.step(|p, ctx| p.on_timer(ctx, Timer::InitProducerIdRetry));
        let (second, correlation_id) = init_request(&sends).expect("asked again");
        assert_ne!(second, first, "another broker");
        // No answer at all: the request times out, and is retried after a back-off.
        h.step(|p, ctx| p.on_timer(ctx, Timer::RequestTimeout { correlation_id }));
        assert!(h.timers().iter().any(|t| matches!(t, Timer::InitProducerIdRetry)));
        let sends = h.step(|p, ctx| p.on_timer(ctx, Timer::InitProducerIdRetry));
        // The late answer to the timed-out request is ignored.
        let late = Msg::InitProducerIdResponse { correlation_id, result: Ok((1, 0)) };
        h.step(|p, ctx| p.on_message(ctx, second, late));
        assert_eq!(h.producer.producer_id(), None);
        h.init(&sends, Ok((5, 0)));
        assert_eq!(h.producer.producer_id(), Some((5, 0)));
        let ids: Vec<&KafkaObs> =
            h.history.iter().filter(|o| matches!(o, KafkaObs::ProducerId { .. })).collect();
        assert_eq!(ids, vec![&KafkaObs::ProducerId { producer_id: 5, producer_epoch: 0 }]);
    }

    #[test]
    fn without_idempotence_a_failed_batch_retried_lands_after_a_later_one() {
        let mut h = Harness::new(1, spec(Acks::Leader, false));
        h.start(B1);
        let first = requests(&h.produce(0, &[1])).remove(0);
        let second = requests(&h.produce(0, &[2])).remove(0);
        assert_eq!(first.producer, None);
        h.answer(&first, Err(ErrorCode::NotEnoughReplicas));
        h.answer(&second, Ok((0, 1)));
        h.at_ms(100);
        let tp = TopicPartition::new("events", 0);
        let sent = requests(&h.step(|p, ctx| p.on_timer(ctx, Timer::Retry { tp: Some(tp) })));
        assert_eq!(sent[0].values, vec![1], "P2: the retry goes after 2 was appended");
    }
}
