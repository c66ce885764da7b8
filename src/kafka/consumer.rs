//! The consumer: reads every partition of its topics from offset 0 (manual assignment, no
//! group, no commits), fetching from each partition's leader, and records every record it
//! reads. After a crash it starts again from 0.

use crate::sim::node::{Context, NodeId, TimerId};
use crate::sim::time::Duration;

use super::client::{MetadataCache, REQUEST_TIMEOUT_MS};
use super::node::KafkaNode;
use super::producer::BOOT_FILE;
use super::protocol::{Entry, ErrorCode, KafkaObs, Msg, Record, Timer, TopicPartition};

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
    pub topics: Vec<String>,
    pub brokers: Vec<NodeId>,
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
            config.topics.clone(),
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
                ctx.observe(KafkaObs::PositionReset { tp, from, to });
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
