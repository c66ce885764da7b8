//! The consumer: reads every partition of its topics from offset 0 (manual assignment, no
//! group, no commits), fetching from each partition's leader, and records every record it
//! reads. After a crash it starts again from 0.

use crate::scenario::ConsumerSpec;
use crate::sim::node::{Context, NodeId, TimerId};
use crate::sim::time::Duration;

use super::client::{MetadataCache, REQUEST_TIMEOUT_MS};
use super::node::KafkaNode;
use super::producer::BOOT_FILE;
use super::protocol::{
    Entry, ErrorCode, KafkaObs, Msg, Record, ResetReason, Timer, TopicPartition,
};

type Ctx<'a> = Context<'a, KafkaNode>;

/// How often an idle partition is fetched again (stands in for Kafka's long poll,
/// `fetch.max.wait.ms`, which answers as soon as data arrives).
pub const CONSUMER_POLL_MS: u64 = 100;

#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// This consumer's index among the scenario's consumers (spreads metadata requests).
    pub index: u32,
    /// Every partition of its topics.
    pub partitions: Vec<TopicPartition>,
    pub brokers: Vec<NodeId>,
    /// Kafka's consumer configs, its topics and group.
    pub spec: ConsumerSpec,
    /// KIP-320 position validation after leader changes (`[protocol]`).
    pub truncation_detection: bool,
}

/// A fetch response's payload.
struct Fetched {
    error: Option<ErrorCode>,
    log_start_offset: u64,
    records: Vec<Record>,
}

#[derive(Clone, Debug)]
struct Fetcher {
    tp: TopicPartition,
    position: u64,
    in_flight: Option<(u64, TimerId)>,
}

#[derive(Clone, Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    metadata: MetadataCache,
    fetchers: Vec<Fetcher>,
    next_correlation_id: u64,
}

impl Consumer {
    pub fn new(config: ConsumerConfig) -> Self {
        let metadata = MetadataCache::new(
            config.brokers.clone(),
            config.spec.topics.clone(),
            config.index as usize,
        );
        let fetchers = config
            .partitions
            .iter()
            .map(|tp| Fetcher { tp: tp.clone(), position: 0, in_flight: None })
            .collect();
        Consumer { config, metadata, fetchers, next_correlation_id: 0 }
    }

    /// The next offset this consumer reads in `tp`.
    pub fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.fetchers.iter().find(|f| &f.tp == tp).map(|f| f.position)
    }

    fn correlation_id(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let restarts = ctx.disk().read(BOOT_FILE).len();
        ctx.disk().append(BOOT_FILE, Entry::Boot);
        ctx.disk().fsync(BOOT_FILE);
        if restarts > 0 {
            ctx.observe(KafkaObs::Restarted);
        }
        self.next_correlation_id = ctx.rng().next_u64() >> 1;
        self.refresh_metadata(ctx);
        ctx.set_timer(Duration::from_millis(CONSUMER_POLL_MS), Timer::ConsumerPoll);
    }

    fn refresh_metadata(&mut self, ctx: &mut Ctx<'_>) {
        let correlation_id = self.correlation_id();
        self.metadata.refresh(ctx, correlation_id);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::ConsumerPoll => {
                for i in 0..self.fetchers.len() {
                    if self.fetchers[i].in_flight.is_none() {
                        self.send_fetch(ctx, i);
                    }
                }
                ctx.set_timer(Duration::from_millis(CONSUMER_POLL_MS), Timer::ConsumerPoll);
            }
            Timer::RequestTimeout { correlation_id } => {
                if self.metadata.on_timeout(correlation_id) {
                    self.refresh_metadata(ctx);
                    return;
                }
                let waiting = self
                    .fetchers
                    .iter_mut()
                    .find(|f| f.in_flight.is_some_and(|(c, _)| c == correlation_id));
                if let Some(fetcher) = waiting {
                    fetcher.in_flight = None;
                    self.refresh_metadata(ctx);
                }
            }
            Timer::Retry { tp: None } => {
                self.metadata.on_retry();
                self.refresh_metadata(ctx);
            }
            other => panic!("consumer got a foreign timer {other:?}"),
        }
    }

    fn send_fetch(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let Some((leader, epoch)) = self.metadata.leader(&self.fetchers[i].tp) else {
            self.refresh_metadata(ctx);
            return;
        };
        let correlation_id = self.correlation_id();
        let fetcher = &mut self.fetchers[i];
        ctx.send(
            leader,
            Msg::Fetch {
                correlation_id,
                tp: fetcher.tp.clone(),
                replica_id: None,
                current_leader_epoch: epoch,
                fetch_offset: fetcher.position,
            },
        );
        let timer = ctx.set_timer(
            Duration::from_millis(REQUEST_TIMEOUT_MS),
            Timer::RequestTimeout { correlation_id },
        );
        fetcher.in_flight = Some((correlation_id, timer));
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResponse { correlation_id, partitions } => {
                let wanted = self.config.partitions.clone();
                self.metadata.on_response(ctx, correlation_id, partitions, &wanted);
            }
            Msg::FetchResponse { correlation_id, tp, error, records, log_start_offset, .. } => {
                let fetched = Fetched { error, log_start_offset, records };
                self.handle_fetch_response(ctx, from, correlation_id, tp, fetched);
            }
            other => panic!("consumer got unexpected {other:?}"),
        }
    }

    fn handle_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        fetched: Fetched,
    ) {
        let Fetched { error, log_start_offset, records } = fetched;
        let Some(i) = self
            .fetchers
            .iter()
            .position(|f| f.tp == tp && f.in_flight.is_some_and(|(c, _)| c == correlation_id))
        else {
            return;
        };
        let fetcher = &mut self.fetchers[i];
        let (_, timer) = fetcher.in_flight.take().expect("matched in flight");
        ctx.cancel_timer(timer);
        match error {
            None => {}
            Some(ErrorCode::OffsetOutOfRange) => {
                // `auto.offset.reset=earliest`: the leader's log start offset.
                ctx.annotate(format!(
                    "{tp}: position {} out of range; reset to {log_start_offset}",
                    fetcher.position
                ));
                let (from, to) = (fetcher.position, log_start_offset);
                ctx.observe(KafkaObs::PositionReset {
                    tp,
                    from,
                    to,
                    reason: ResetReason::OutOfRange,
                });
                fetcher.position = log_start_offset;
                return;
            }
            // The leader knows a newer epoch than our metadata, or is not the leader.
            Some(_) => {
                self.refresh_metadata(ctx);
                return;
            }
        }
        let got_records = !records.is_empty();
        for record in records {
            ctx.observe(KafkaObs::Read {
                tp: tp.clone(),
                key: record.key,
                value: record.value,
                offset: record.offset,
                leader_epoch: record.leader_epoch,
                broker: from,
            });
            fetcher.position = record.offset + 1;
        }
        if got_records {
            self.send_fetch(ctx, i);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Liveness of the consumer under the failures the soak nemesis causes: a lost fetch, a
    //! restarted leader that does not know it leads yet, a partition without a leader. In
    //! each case the consumer must go on fetching from whoever the metadata names next.

    use super::*;
    use crate::kafka::client::RETRY_BACKOFF_MAX_MS;
    use crate::kafka::protocol::PartitionMetadata;
    use crate::sim::node::Effects;
    use crate::sim::{Disk, Instant, SimRng};

    const B1: NodeId = NodeId(0);
    const B2: NodeId = NodeId(1);
    const B3: NodeId = NodeId(2);

    type Sends = Vec<(NodeId, Msg)>;
    type Timers = Vec<(Duration, Timer)>;

    struct Harness {
        consumer: Consumer,
        disk: Disk<Entry>,
        rng: SimRng,
        effects: Effects<KafkaNode>,
        timer_ids: u64,
    }

    impl Harness {
        fn new() -> Self {
            let tp = TopicPartition::new("orders", 1);
            let config = ConsumerConfig {
                index: 0,
                partitions: vec![tp],
                brokers: vec![B1, B2, B3],
                spec: ConsumerSpec::groupless("c1", &["orders"]),
                truncation_detection: true,
            };
            Harness {
                consumer: Consumer::new(config),
                disk: Disk::new(),
                rng: SimRng::stream(1, "consumer-test"),
                effects: Effects::default(),
                timer_ids: 0,
            }
        }

        fn with(&mut self, f: impl FnOnce(&mut Consumer, &mut Ctx<'_>)) {
            let mut ctx = Context::detached(
                NodeId(9),
                Instant::ZERO,
                &mut self.rng,
                &mut self.disk,
                &mut self.effects,
                &mut self.timer_ids,
            );
            f(&mut self.consumer, &mut ctx);
        }

        /// Runs a handler; returns what it sent and the timers it set.
        fn step(&mut self, f: impl FnOnce(&mut Consumer, &mut Ctx<'_>)) -> (Sends, Timers) {
            self.effects.clear();
            self.with(f);
            let sends = self.effects.sends().to_vec();
            let timers =
                self.effects.timers_set().iter().map(|(_, d, t)| (*d, t.clone())).collect();
            (sends, timers)
        }

        fn poll(&mut self) -> Sends {
            self.step(|c, ctx| c.on_timer(ctx, Timer::ConsumerPoll)).0
        }

        fn metadata(&mut self, correlation_id: u64, leader: Option<NodeId>, epoch: u32) {
            let tp = TopicPartition::new("orders", 1);
            let partitions = vec![PartitionMetadata { tp, leader, leader_epoch: epoch }];
            let msg = Msg::MetadataResponse { correlation_id, partitions };
            self.step(|c, ctx| c.on_message(ctx, B1, msg));
        }
    }

    fn metadata_request(sends: &[(NodeId, Msg)]) -> Option<u64> {
        sends.iter().find_map(|(_, m)| match m {
            Msg::MetadataRequest { correlation_id, .. } => Some(*correlation_id),
            _ => None,
        })
    }

    /// The fetch sent, as (broker, correlation id, epoch, offset).
    fn fetch(sends: &[(NodeId, Msg)]) -> Option<(NodeId, u64, u32, u64)> {
        sends.iter().find_map(|(to, m)| match m {
            Msg::Fetch { correlation_id, current_leader_epoch, fetch_offset, .. } => {
                Some((*to, *correlation_id, *current_leader_epoch, *fetch_offset))
            }
            _ => None,
        })
    }

    fn started() -> Harness {
        let mut h = Harness::new();
        let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
        let cid = metadata_request(&sends).expect("metadata request on start");
        h.metadata(cid, Some(B2), 1);
        h
    }

    /// Seed 602's orders-1: the leader crashes with a fetch in flight (its response is
    /// lost), comes back not knowing it leads (NOT_LEADER), and the controller moves the
    /// leadership on. The consumer times the fetch out, refreshes, and follows the leader.
    #[test]
    fn a_lost_fetch_and_a_moved_leader_do_not_stall_the_partition() {
        let mut h = started();
        let (to, lost, epoch, offset) = fetch(&h.poll()).expect("first fetch");
        assert_eq!((to, epoch, offset), (B2, 1, 0));
        // While the fetch is out, polls do not send a second one.
        assert_eq!(fetch(&h.poll()), None);
        // The response never comes: the request times out, and metadata is refreshed.
        let timeout = Timer::RequestTimeout { correlation_id: lost };
        let (sends, timers) = h.step(|c, ctx| c.on_timer(ctx, timeout));
        let refresh = metadata_request(&sends).expect("a timed-out fetch refreshes metadata");
        assert!(timers.iter().all(|(d, _)| *d <= Duration::from_millis(REQUEST_TIMEOUT_MS)));
        // The next poll fetches again from the leader it knows.
        let (to, cid, _, _) = fetch(&h.poll()).expect("fetch retried after the timeout");
        assert_eq!(to, B2);
        // B2 restarted and answers NOT_LEADER: another refresh is wanted, and the metadata
        // names B3 in epoch 2.
        let response = Msg::FetchResponse {
            correlation_id: cid,
            tp: TopicPartition::new("orders", 1),
            error: Some(ErrorCode::NotLeaderOrFollower),
            high_watermark: 0,
            log_start_offset: 0,
            records: Vec::new(),
        };
        h.step(|c, ctx| c.on_message(ctx, B2, response));
        h.metadata(refresh, Some(B3), 2);
        let (to, _, epoch, offset) = fetch(&h.poll()).expect("fetch from the new leader");
        assert_eq!((to, epoch, offset), (B3, 2, 0));
    }

    /// While a partition has no leader the consumer asks again, with a bounded back-off, and
    /// fetches as soon as a leader is named.
    #[test]
    fn a_leaderless_partition_is_retried_with_a_bounded_backoff() {
        let mut h = Harness::new();
        let (sends, _) = h.step(|c, ctx| c.on_start(ctx));
        let mut cid = metadata_request(&sends).expect("metadata request on start");
        for _ in 0..20 {
            let tp = TopicPartition::new("orders", 1);
            let partitions = vec![PartitionMetadata { tp, leader: None, leader_epoch: 4 }];
            let msg = Msg::MetadataResponse { correlation_id: cid, partitions };
            let (_, timers) = h.step(|c, ctx| c.on_message(ctx, B1, msg));
            let (backoff, _) = timers
                .iter()
                .find(|(_, t)| matches!(t, Timer::Retry { tp: None }))
                .expect("a leaderless answer schedules a retry");
            assert!(*backoff <= Duration::from_millis(RETRY_BACKOFF_MAX_MS));
            assert_eq!(fetch(&h.poll()), None, "no leader, no fetch");
            let (sends, _) = h.step(|c, ctx| c.on_timer(ctx, Timer::Retry { tp: None }));
            cid = metadata_request(&sends).expect("the retry asks again");
        }
        h.metadata(cid, Some(B1), 5);
        let (to, _, epoch, _) = fetch(&h.poll()).expect("fetch once a leader is named");
        assert_eq!((to, epoch), (B1, 5));
    }
}
