//! What producers and consumers share: the metadata cache that tells them each
//! partition's leader, refreshed from brokers picked round-robin.

use std::collections::BTreeMap;

use crate::sim::node::{Context, NodeId};
use crate::sim::time::Duration;

use super::node::KafkaNode;
use super::protocol::{Msg, PartitionMetadata, Timer, TopicPartition};

/// The clients' `request.timeout.ms` (Kafka: 30 s; the skeleton's clients give up sooner so
/// that a dead leader costs seconds, not half a minute).
pub const REQUEST_TIMEOUT_MS: u64 = 3_000;
/// `retry.backoff.ms`, doubled per failure up to `retry.backoff.max.ms` (KIP-580).
pub const RETRY_BACKOFF_MS: u64 = 100;
pub const RETRY_BACKOFF_MAX_MS: u64 = 1_000;

/// The next back-off after `current` (none yet: the base).
pub fn next_backoff(current: Option<Duration>) -> Duration {
    match current {
        None => Duration::from_millis(RETRY_BACKOFF_MS),
        Some(d) => {
            let doubled = Duration::from_nanos(d.as_nanos().saturating_mul(2));
            doubled.min(Duration::from_millis(RETRY_BACKOFF_MAX_MS))
        }
    }
}

#[derive(Clone, Debug)]
pub struct MetadataCache {
    brokers: Vec<NodeId>,
    topics: Vec<String>,
    next_broker: usize,
    in_flight: Option<u64>,
    retry_scheduled: bool,
    backoff: Option<Duration>,
    leaders: BTreeMap<TopicPartition, (Option<NodeId>, u32)>,
}

impl MetadataCache {
    /// `first_broker` spreads the clients' first requests over the brokers.
    pub fn new(brokers: Vec<NodeId>, topics: Vec<String>, first_broker: usize) -> Self {
        assert!(!brokers.is_empty(), "a client needs bootstrap brokers");
        MetadataCache {
            brokers,
            topics,
            next_broker: first_broker,
            in_flight: None,
            retry_scheduled: false,
            backoff: None,
            leaders: BTreeMap::new(),
        }
    }

    /// The partition's leader and epoch, when one is known.
    pub fn leader(&self, tp: &TopicPartition) -> Option<(NodeId, u32)> {
        match self.leaders.get(tp) {
            Some(&(Some(leader), epoch)) => Some((leader, epoch)),
            _ => None,
        }
    }

    /// Asks the next broker for metadata, unless a request is already out or a retry is
    /// pending.
    pub fn refresh(&mut self, ctx: &mut Context<'_, KafkaNode>, correlation_id: u64) {
        if self.in_flight.is_some() || self.retry_scheduled {
            return;
        }
        let broker = self.brokers[self.next_broker % self.brokers.len()];
        self.next_broker = self.next_broker.wrapping_add(1);
        self.in_flight = Some(correlation_id);
        ctx.send(broker, Msg::MetadataRequest { correlation_id, topics: self.topics.clone() });
        ctx.set_timer(
            Duration::from_millis(REQUEST_TIMEOUT_MS),
            Timer::RequestTimeout { correlation_id },
        );
    }

    /// A response: true when it was the one awaited. Keeps, per partition, the newest
    /// epoch seen, so that a broker with stale metadata cannot send us back in time.
    /// When some partition still has no leader, schedules a retry.
    pub fn on_response(
        &mut self,
        ctx: &mut Context<'_, KafkaNode>,
        correlation_id: u64,
        partitions: Vec<PartitionMetadata>,
        wanted: &[TopicPartition],
    ) -> bool {
        if self.in_flight != Some(correlation_id) {
            return false;
        }
        self.in_flight = None;
        for p in partitions {
            if !self.topics.iter().any(|t| **t == *p.tp.topic) {
                continue;
            }
            let newer = self.leaders.get(&p.tp).is_none_or(|&(_, epoch)| p.leader_epoch >= epoch);
            if newer {
                self.leaders.insert(p.tp, (p.leader, p.leader_epoch));
            }
        }
        if wanted.iter().all(|tp| self.leader(tp).is_some()) {
            self.backoff = None;
        } else {
            self.schedule_retry(ctx);
        }
        true
    }

    /// A request timeout: true when it was the metadata request's.
    pub fn on_timeout(&mut self, correlation_id: u64) -> bool {
        if self.in_flight == Some(correlation_id) {
            self.in_flight = None;
            true
        } else {
            false
        }
    }

    fn schedule_retry(&mut self, ctx: &mut Context<'_, KafkaNode>) {
        if self.retry_scheduled {
            return;
        }
        let backoff = next_backoff(self.backoff);
        self.backoff = Some(backoff);
        self.retry_scheduled = true;
        ctx.set_timer(backoff, Timer::Retry { tp: None });
    }

    /// The metadata retry timer fired.
    pub fn on_retry(&mut self) {
        self.retry_scheduled = false;
    }
}
