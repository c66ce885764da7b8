//! The consumer: Kafka's `KafkaConsumer` with its `ConsumerCoordinator` and `Fetcher`.
//!
//! - Without a group it reads every partition of its topics from offset 0, commits nothing,
//!   and every fetched record counts as returned by a poll at once (the walking skeleton's
//!   consumer, kept so that the replication scenarios replay exactly).
//! - With a group, `assign` reads every partition from the group's committed offsets and
//!   commits outside group management; `subscribe` joins the group (FindCoordinator,
//!   JoinGroup, SyncGroup with the leader's range or round-robin assignment, heartbeats,
//!   the eager protocol: every partition is revoked before rejoining).
//! - The application loop is Kafka's: `poll()` returns at most `max.poll.records` fetched
//!   records, the application processes them for `processing_ms`, then polls again; commits
//!   follow the commit mode (auto, after processing, before processing). Rebalances, fencing
//!   and `max.poll.interval.ms` expiry are noticed by the heartbeat side and acted on in the
//!   next `poll()`, as Kafka's heartbeat thread hands them to the application thread: a
//!   fenced or timed-out member stops committing at once (no generation), but observes
//!   `Revoked` when its application polls again, after finishing the batch in hand.
//! - KIP-320: after a leader change the position is validated with OffsetsForLeaderEpoch
//!   and moved back to where the log diverges.
//!
//! Departures from Kafka: one fetch in flight per partition, sent only when the partition's
//! buffer is empty, with a periodic re-fetch standing in for the long poll; the auto-commit is
//! a commitAsync sent from `poll()`, one at a time (an interval with one still out is
//! skipped), not retried, as in Kafka; commitSync retries a bounded number of attempts instead of
//! `default.api.timeout.ms`; the groupless consumer does not validate positions (KIP-320).

mod assignor;
mod commit;
mod fetcher;
mod group;
#[cfg(test)]
mod tests;

use std::mem;
use std::sync::Arc;

use crate::scenario::{CommitMode, ConsumerMode, ConsumerSpec};
use crate::sim::node::{Context, NodeId, TimerId};
use crate::sim::time::{Duration, Instant};

use super::client::MetadataCache;
use super::node::KafkaNode;
use super::producer::BOOT_FILE;
use super::protocol::{Entry, KafkaObs, Msg, Timer, TopicPartition};

pub use assignor::assign;
use commit::{Commit, Started};
use fetcher::{Fetched, Partition};
use group::{Coordinator, Member};

type Ctx<'a> = Context<'a, KafkaNode>;

/// How often an idle partition is fetched again (stands in for Kafka's long poll,
/// `fetch.max.wait.ms`, which answers as soon as data arrives).
pub const CONSUMER_POLL_MS: u64 = 100;
/// The timeout of the requests a coordinator may hold: an OffsetCommit until its record is
/// committed (`offsets.commit.timeout.ms`, 5 s by default), a SyncGroup until the leader's
/// arrives. Kafka's consumer `request.timeout.ms` is 30 s, but Kafka's client also learns
/// of a dead coordinator from the broken connection; the simulated network never resets
/// one, so a shorter timeout stands in for that (as for the brokers and producers).
pub const COORDINATOR_REQUEST_TIMEOUT_MS: u64 = 6_000;
/// Kafka's `JOIN_GROUP_TIMEOUT_LAPSE`. Kafka's JoinGroup waits `max.poll.interval.ms` plus
/// this; here `session.timeout.ms` plus this, for the same reason as
/// [`COORDINATOR_REQUEST_TIMEOUT_MS`]: a JoinGroup held by a coordinator that crashed
/// would otherwise stall the member for five minutes. A rebalance completes within about
/// a session timeout (silent members expire), and a retried JoinGroup with the member id
/// only replaces the pending one at the coordinator.
pub const JOIN_GROUP_TIMEOUT_LAPSE_MS: u64 = 5_000;
/// Attempts of one commitSync (Kafka: until `default.api.timeout.ms`, 60 s).
pub const COMMIT_ATTEMPTS_MAX: u32 = 5;

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

/// A request awaiting its answer, with the timer that gives up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    correlation_id: u64,
    timer: TimerId,
}

impl Request {
    fn is(&self, correlation_id: u64) -> bool {
        self.correlation_id == correlation_id
    }
}

/// The records of one partition that one poll returned: offsets `first..=last`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span {
    tp: TopicPartition,
    first: u64,
    last: u64,
}

/// The application thread.
#[derive(Clone, Debug)]
enum App {
    /// Inside `poll()`, waiting for records (or for the group to settle).
    Polling,
    /// Processing what the last poll returned, until `Timer::ProcessingDone`.
    Processing { batch: Vec<Span> },
    /// Blocked in a commit; then goes on with `then`.
    Committing { then: AfterCommit },
}

#[derive(Clone, Debug)]
enum AfterCommit {
    /// Back into `poll()` (auto-commit, commit after processing).
    Poll,
    /// Process the batch the commit was for (commit before processing), if it succeeded.
    Process(Vec<Span>),
    /// Revoke every partition and rejoin (the commit before a rebalance).
    Revoke,
}

#[derive(Clone, Debug)]
pub struct Consumer {
    /// Boxed: the spec is large, and `KafkaNode`'s variants should stay of a size.
    config: Box<ConsumerConfig>,
    metadata: MetadataCache,
    /// The partitions this consumer owns (assigned or `assign`ed), in order.
    partitions: Vec<Partition>,
    /// The group's coordinator; `None` without a group.
    coordinator: Option<Coordinator>,
    /// Group membership; `Some` only in `subscribe` mode.
    member: Option<Member>,
    app: App,
    /// When the application last entered `poll()` (`max.poll.interval.ms` runs from here).
    last_poll_at: Instant,
    /// `auto.commit.interval.ms` passed: the next `poll()` commits.
    auto_commit_due: bool,
    /// The commit the application waits for.
    commit: Option<Commit>,
    /// OffsetFetch in flight, and when it was sent.
    /// The OffsetFetch out, with its operation id.
    offset_fetch: Option<(Request, u64)>,
    /// Where the next poll starts draining, so that every partition gets its turn.
    next_poll_partition: usize,
    next_correlation_id: u64,
    /// Operation ids of the history records (commits, offset fetches).
    next_op_id: u64,
}

impl Consumer {
    pub fn new(config: ConsumerConfig) -> Self {
        let metadata = MetadataCache::new(
            config.brokers.clone(),
            config.spec.topics.clone(),
            config.index as usize,
        );
        let group: Option<Arc<str>> = config.spec.group.as_deref().map(Arc::from);
        let partitions = match (&group, config.spec.mode) {
            (None, _) => config.partitions.iter().map(|tp| Partition::at(tp.clone(), 0)).collect(),
            (Some(_), ConsumerMode::Assign) => config
                .partitions
                .iter()
                .map(|tp| Partition::awaiting_committed(tp.clone()))
                .collect(),
            (Some(_), ConsumerMode::Subscribe) => Vec::new(),
        };
        let member =
            (group.is_some() && config.spec.mode == ConsumerMode::Subscribe).then(Member::new);
        let coordinator = group.map(|g| Coordinator::new(g, config.index as usize));
        Consumer {
            config: Box::new(config),
            metadata,
            partitions,
            coordinator,
            member,
            app: App::Polling,
            last_poll_at: Instant::ZERO,
            auto_commit_due: false,
            commit: None,
            offset_fetch: None,
            next_poll_partition: 0,
            next_correlation_id: 0,
            next_op_id: 0,
        }
    }

    /// The next offset this consumer's application gets from `tp`.
    pub fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.partitions.iter().find(|p| &p.tp == tp).and_then(|p| p.position)
    }

    /// The partitions this consumer owns.
    pub fn owned(&self) -> Vec<TopicPartition> {
        self.partitions.iter().map(|p| p.tp.clone()).collect()
    }

    fn groupless(&self) -> bool {
        self.coordinator.is_none()
    }

    fn group_name(&self) -> Option<Arc<str>> {
        self.coordinator.as_ref().map(|c| c.group.clone())
    }

    fn correlation_id(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    /// A fresh operation id for the history.
    fn next_op(&mut self) -> u64 {
        self.next_op_id += 1;
        self.next_op_id
    }

    /// Sends `msg` (built around a fresh correlation id) and sets its timeout.
    fn request(
        &mut self,
        ctx: &mut Ctx<'_>,
        to: NodeId,
        timeout_ms: u64,
        msg: impl FnOnce(u64) -> Msg,
    ) -> Request {
        let correlation_id = self.correlation_id();
        ctx.send(to, msg(correlation_id));
        let timer = ctx
            .set_timer(Duration::from_millis(timeout_ms), Timer::RequestTimeout { correlation_id });
        Request { correlation_id, timer }
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
        if self.member.is_none() {
            ctx.observe(KafkaObs::Assigned {
                group: self.group_name(),
                generation: None,
                member_id: None,
                partitions: self.owned(),
            });
        }
        if self.groupless() {
            return;
        }
        if self.config.spec.commit == CommitMode::Auto {
            let interval = Duration::from_millis(self.config.spec.auto_commit_interval_ms);
            ctx.set_timer(interval, Timer::AutoCommit);
        }
        self.last_poll_at = ctx.now();
        self.drive(ctx);
    }

    fn refresh_metadata(&mut self, ctx: &mut Ctx<'_>) {
        let correlation_id = self.correlation_id();
        self.metadata.refresh(ctx, correlation_id);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::ConsumerPoll => {
                self.pump_partitions(ctx);
                ctx.set_timer(Duration::from_millis(CONSUMER_POLL_MS), Timer::ConsumerPoll);
            }
            Timer::RequestTimeout { correlation_id } => {
                self.on_request_timeout(ctx, correlation_id)
            }
            Timer::Retry { tp: None } => {
                self.metadata.on_retry();
                self.refresh_metadata(ctx);
            }
            Timer::ProcessingDone => self.processing_done(ctx),
            Timer::GroupHeartbeat => self.heartbeat_tick(ctx),
            Timer::AutoCommit => {
                self.auto_commit_due = true;
                let interval = Duration::from_millis(self.config.spec.auto_commit_interval_ms);
                ctx.set_timer(interval, Timer::AutoCommit);
                self.drive(ctx);
            }
            Timer::CoordinatorRetry => {
                if let Some(c) = &mut self.coordinator {
                    c.backing_off = false;
                }
                self.drive(ctx);
            }
            other => panic!("consumer got a foreign timer {other:?}"),
        }
    }

    fn on_request_timeout(&mut self, ctx: &mut Ctx<'_>, correlation_id: u64) {
        if self.metadata.on_timeout(correlation_id) {
            self.refresh_metadata(ctx);
            return;
        }
        // Otherwise the timer outlived its request (answered meanwhile): nothing to do.
        let _ours = self.partition_request_timed_out(ctx, correlation_id)
            || self.group_request_timed_out(ctx, correlation_id)
            || self.coordinator_request_timed_out(ctx, correlation_id);
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
            Msg::ListOffsetsResponse { correlation_id, tp, result } => {
                self.handle_list_offsets_response(ctx, correlation_id, tp, result);
            }
            Msg::OffsetsForLeaderEpochResponse { correlation_id, tp, result } => {
                self.handle_epoch_end_response(ctx, correlation_id, tp, result);
            }
            Msg::FindCoordinatorResponse { correlation_id, result } => {
                self.handle_find_coordinator_response(ctx, correlation_id, result);
            }
            Msg::JoinGroupResponse { correlation_id, result } => {
                self.handle_join_response(ctx, correlation_id, result);
            }
            Msg::SyncGroupResponse { correlation_id, result } => {
                self.handle_sync_response(ctx, correlation_id, result);
            }
            Msg::HeartbeatResponse { correlation_id, error } => {
                self.handle_heartbeat_response(ctx, correlation_id, error);
            }
            // Leaving is fire and forget: the member already reset itself.
            Msg::LeaveGroupResponse { .. } => {}
            Msg::OffsetCommitResponse { correlation_id, result } => {
                self.handle_commit_response(ctx, correlation_id, result);
            }
            Msg::OffsetFetchResponse { correlation_id, result } => {
                self.handle_offset_fetch_response(ctx, correlation_id, result);
            }
            other => panic!("consumer got unexpected {other:?}"),
        }
    }

    /// After any change of a group consumer's state: sends what is due (coordinator lookup,
    /// OffsetFetch, the waiting commit, fetches) and lets a polling application go on.
    fn drive(&mut self, ctx: &mut Ctx<'_>) {
        assert!(!self.groupless(), "the groupless consumer has no group to drive");
        let coordinator = self.coordinator.as_ref().expect("a group has a coordinator");
        if coordinator.node.is_none() {
            self.find_coordinator(ctx);
        } else if !coordinator.backing_off {
            self.maybe_send_offset_fetch(ctx);
            self.maybe_send_commit(ctx);
        }
        self.pump_partitions(ctx);
        self.app_poll(ctx);
    }

    /// Kafka's `poll()`: the group first (revoke and rejoin when asked to), then the
    /// auto-commit when due, then at most `max.poll.records` fetched records.
    fn app_poll(&mut self, ctx: &mut Ctx<'_>) {
        if !matches!(self.app, App::Polling) {
            return;
        }
        self.last_poll_at = ctx.now();
        if self.member.is_some() && !self.poll_group(ctx) {
            return;
        }
        self.maybe_auto_commit(ctx);
        self.pump_partitions(ctx);
        let batch = self.drain(ctx);
        if batch.is_empty() {
            return;
        }
        // The drained partitions are fetched again while the application works.
        self.pump_partitions(ctx);
        if self.config.spec.commit == CommitMode::BeforeProcess {
            match self.start_commit(ctx, true) {
                Started::Sent => {
                    self.app = App::Committing { then: AfterCommit::Process(batch) };
                    return;
                }
                Started::Refused => {
                    ctx.annotate("commit before processing failed: the batch is not processed");
                    return;
                }
                Started::Empty => {}
            }
        }
        self.start_processing(ctx, batch);
    }

    /// The group's part of `poll()`: false while the member has no assignment to read.
    fn poll_group(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let member = self.member.as_ref().expect("subscribe mode");
        if let Some(reason) = member.rejoin {
            if self.commit.is_some() {
                // An auto-commit is still out: it finishes before the revocation.
                return false;
            }
            let commit_first = reason == crate::kafka::protocol::RevokeReason::Rebalance
                && self.config.spec.commit == CommitMode::Auto
                && member.generation.is_some();
            if commit_first && self.start_commit(ctx, true) == Started::Sent {
                self.app = App::Committing { then: AfterCommit::Revoke };
                return false;
            }
            self.revoke(ctx);
        }
        if !self.member.as_ref().expect("subscribe mode").is_stable() {
            self.maybe_join(ctx);
            return false;
        }
        true
    }

    /// Kafka's auto-commit: inside `poll()`, a commitAsync of the positions of what earlier
    /// polls returned; the poll goes on without waiting for it. While one is still out the
    /// next interval is skipped.
    fn maybe_auto_commit(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.spec.commit != CommitMode::Auto || !self.auto_commit_due {
            return;
        }
        if self.commit.is_some() {
            return;
        }
        self.auto_commit_due = false;
        self.start_commit(ctx, false);
    }

    /// Takes at most `max.poll.records` buffered records, partition after partition,
    /// observing a `Read` for each, and moves the positions past them.
    fn drain(&mut self, ctx: &mut Ctx<'_>) -> Vec<Span> {
        let max = self.config.spec.max_poll_records as usize;
        let n = self.partitions.len();
        let mut batch = Vec::new();
        let mut taken = 0;
        for k in 0..n {
            let i = (self.next_poll_partition + k) % n;
            if taken == max {
                break;
            }
            if !self.readable(i) {
                continue;
            }
            let p = &mut self.partitions[i];
            let mut span: Option<Span> = None;
            while taken < max {
                let Some((record, broker)) = p.buffer.pop_front() else { break };
                ctx.observe(KafkaObs::read(&p.tp, &record, broker));
                p.consume(&record);
                taken += 1;
                match &mut span {
                    Some(s) => s.last = record.offset,
                    None => {
                        let tp = p.tp.clone();
                        span = Some(Span { tp, first: record.offset, last: record.offset });
                    }
                }
            }
            batch.extend(span);
        }
        if n > 0 {
            self.next_poll_partition = (self.next_poll_partition + 1) % n;
        }
        batch
    }

    fn start_processing(&mut self, ctx: &mut Ctx<'_>, batch: Vec<Span>) {
        assert!(!batch.is_empty(), "only a poll that returned records is processed");
        ctx.set_timer(Duration::from_millis(self.config.spec.processing_ms), Timer::ProcessingDone);
        self.app = App::Processing { batch };
    }

    fn processing_done(&mut self, ctx: &mut Ctx<'_>) {
        let App::Processing { batch } = mem::replace(&mut self.app, App::Polling) else {
            panic!("ProcessingDone while the application is not processing");
        };
        let group = self.group_name();
        for Span { tp, first, last } in batch {
            ctx.observe(KafkaObs::Processed { group: group.clone(), tp, first, last });
        }
        if self.config.spec.commit == CommitMode::AfterProcess
            && self.start_commit(ctx, true) == Started::Sent
        {
            self.app = App::Committing { then: AfterCommit::Poll };
        }
        self.drive(ctx);
    }

    /// The application's commit is over (`ok`: it succeeded): it goes on.
    fn commit_finished(&mut self, ctx: &mut Ctx<'_>, ok: bool) {
        let App::Committing { then } = mem::replace(&mut self.app, App::Polling) else {
            panic!("a commit finished while the application was not committing");
        };
        match then {
            AfterCommit::Poll => {}
            AfterCommit::Process(batch) if ok => self.start_processing(ctx, batch),
            AfterCommit::Process(_) => {
                ctx.annotate("commit before processing failed: the batch is not processed");
            }
            AfterCommit::Revoke => self.revoke(ctx),
        }
        self.drive(ctx);
    }
}
