//! The consumer's group membership (Kafka's `AbstractCoordinator` / `ConsumerCoordinator`,
//! classic protocol, eager rebalancing): finding the coordinator, JoinGroup, SyncGroup (the
//! leader assigns), heartbeats on their own clock, LeaveGroup when `max.poll.interval.ms`
//! passes, and revoking every partition before rejoining.

use std::sync::Arc;

use crate::sim::node::{NodeId, TimerId};
use crate::sim::time::Duration;

use super::super::client::{REQUEST_TIMEOUT_MS, next_backoff};
use super::super::protocol::{
    ErrorCode, JoinResult, KafkaObs, MemberId, Msg, RevokeReason, Timer, TopicPartition,
};
use super::assignor::assign;
use super::fetcher::Partition;
use super::{
    App, COORDINATOR_REQUEST_TIMEOUT_MS, Consumer, Ctx, JOIN_GROUP_TIMEOUT_LAPSE_MS, Request,
};

/// Where the group's coordinator is, and the back-off shared by the requests to it.
#[derive(Clone, Debug)]
pub(super) struct Coordinator {
    pub group: Arc<str>,
    pub node: Option<NodeId>,
    find: Option<Request>,
    next_broker: usize,
    backoff: Option<Duration>,
    /// A failed coordinator request waits for `Timer::CoordinatorRetry`.
    pub backing_off: bool,
}

impl Coordinator {
    pub fn new(group: Arc<str>, first_broker: usize) -> Self {
        Coordinator {
            group,
            node: None,
            find: None,
            next_broker: first_broker,
            backoff: None,
            backing_off: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MemberState {
    /// Not in a generation; joins at the next `poll()`.
    Unjoined,
    Joining(Request),
    /// SyncGroup sent for this generation.
    Syncing(Request, u32),
    /// Has its assignment; heartbeats.
    Stable,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    /// Given by the coordinator at the first join; kept across rejoins.
    pub member_id: Option<MemberId>,
    /// The generation commits carry; reset when fenced or after leaving.
    pub generation: Option<u32>,
    pub state: MemberState,
    /// The generation whose assignment the consumer holds (until revoked).
    pub owned_generation: Option<u32>,
    /// The heartbeat side asked the application to revoke and rejoin, and why.
    pub rejoin: Option<RevokeReason>,
    heartbeat: Option<Request>,
    heartbeat_timer: Option<TimerId>,
}

impl Member {
    pub fn new() -> Self {
        Member {
            member_id: None,
            generation: None,
            state: MemberState::Unjoined,
            owned_generation: None,
            rejoin: None,
            heartbeat: None,
            heartbeat_timer: None,
        }
    }

    pub fn is_stable(&self) -> bool {
        self.state == MemberState::Stable
    }
}

impl Consumer {
    fn member_mut(&mut self) -> &mut Member {
        self.member.as_mut().expect("subscribe mode has a member")
    }

    fn coordinator_mut(&mut self) -> &mut Coordinator {
        self.coordinator.as_mut().expect("a group has a coordinator")
    }

    /// The coordinator and the group, when the coordinator can take a request now.
    pub(super) fn coordinator_ready(&self) -> Option<(NodeId, Arc<str>)> {
        let c = self.coordinator.as_ref()?;
        let node = c.node.filter(|_| !c.backing_off)?;
        Some((node, c.group.clone()))
    }

    /// FindCoordinator to the next broker, unless one is out or a back-off runs.
    pub(super) fn find_coordinator(&mut self, ctx: &mut Ctx<'_>) {
        let brokers = self.config.brokers.clone();
        let c = self.coordinator_mut();
        if c.node.is_some() || c.find.is_some() || c.backing_off {
            return;
        }
        let broker = brokers[c.next_broker % brokers.len()];
        c.next_broker = c.next_broker.wrapping_add(1);
        let group = c.group.clone();
        let request = self.request(ctx, broker, REQUEST_TIMEOUT_MS, |correlation_id| {
            Msg::FindCoordinator { correlation_id, group }
        });
        self.coordinator_mut().find = Some(request);
    }

    pub(super) fn handle_find_coordinator_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<NodeId, ErrorCode>,
    ) {
        let c = self.coordinator_mut();
        let Some(request) = c.find.filter(|r| r.is(correlation_id)) else { return };
        c.find = None;
        ctx.cancel_timer(request.timer);
        match result {
            Ok(node) => {
                c.node = Some(node);
                ctx.annotate(format!("coordinator of {} is {node:?}", c.group));
            }
            Err(_) => self.coordinator_backoff(ctx),
        }
        self.drive(ctx);
    }

    /// A coordinator request failed retriably: the next waits a growing back-off.
    pub(super) fn coordinator_backoff(&mut self, ctx: &mut Ctx<'_>) {
        let c = self.coordinator_mut();
        if c.backing_off {
            return;
        }
        let backoff = next_backoff(c.backoff);
        c.backoff = Some(backoff);
        c.backing_off = true;
        ctx.set_timer(backoff, Timer::CoordinatorRetry);
    }

    /// The coordinator answered a request normally.
    pub(super) fn coordinator_ok(&mut self) {
        self.coordinator_mut().backoff = None;
    }

    /// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a timeout: look it up again. A join
    /// or sync in flight is abandoned (rejoined at the next poll), as is the heartbeat and
    /// the OffsetFetch; a commit in flight waits for its own answer or timeout.
    pub(super) fn coordinator_lost(&mut self, ctx: &mut Ctx<'_>) {
        let c = self.coordinator_mut();
        if let Some(node) = c.node.take() {
            ctx.annotate(format!("coordinator {node:?} of {} lost", c.group));
        }
        if let Some(m) = &mut self.member {
            if let MemberState::Joining(r) | MemberState::Syncing(r, _) = m.state {
                ctx.cancel_timer(r.timer);
                m.state = MemberState::Unjoined;
            }
            if let Some(r) = m.heartbeat.take() {
                ctx.cancel_timer(r.timer);
            }
        }
        if let Some((r, _)) = self.offset_fetch.take() {
            ctx.cancel_timer(r.timer);
        }
        self.find_coordinator(ctx);
    }

    /// A FindCoordinator, JoinGroup, SyncGroup or Heartbeat timed out: true when ours.
    pub(super) fn group_request_timed_out(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
    ) -> bool {
        let Some(c) = &mut self.coordinator else { return false };
        if c.find.is_some_and(|r| r.is(correlation_id)) {
            c.find = None;
            self.coordinator_backoff(ctx);
            self.drive(ctx);
            return true;
        }
        let Some(m) = &mut self.member else { return false };
        let membership = match m.state {
            MemberState::Joining(r) | MemberState::Syncing(r, _) => r.is(correlation_id),
            _ => false,
        };
        let heartbeat = m.heartbeat.is_some_and(|r| r.is(correlation_id));
        if !membership && !heartbeat {
            return false;
        }
        if heartbeat {
            m.heartbeat = None;
        }
        self.coordinator_lost(ctx);
        self.drive(ctx);
        true
    }

    /// JoinGroup, when the member is out of a generation and the coordinator is known.
    pub(super) fn maybe_join(&mut self, ctx: &mut Ctx<'_>) {
        let Some((node, group)) = self.coordinator_ready() else { return };
        let m = self.member.as_ref().expect("subscribe mode");
        if m.state != MemberState::Unjoined {
            return;
        }
        let member_id = m.member_id;
        let spec = &self.config.spec;
        let subscription: Vec<Arc<str>> =
            spec.topics.iter().map(|t| Arc::from(t.as_str())).collect();
        let (assignor, session_timeout_ms, rebalance_timeout_ms) =
            (spec.assignor, spec.session_timeout_ms, spec.max_poll_interval_ms);
        let timeout_ms = session_timeout_ms + JOIN_GROUP_TIMEOUT_LAPSE_MS;
        let request = self.request(ctx, node, timeout_ms, |correlation_id| Msg::JoinGroup {
            correlation_id,
            group,
            member_id,
            subscription,
            assignor,
            session_timeout_ms,
            rebalance_timeout_ms,
        });
        self.member_mut().state = MemberState::Joining(request);
    }

    pub(super) fn handle_join_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<JoinResult, ErrorCode>,
    ) {
        let Some(m) = &mut self.member else { return };
        let MemberState::Joining(request) = m.state else { return };
        if !request.is(correlation_id) {
            return;
        }
        ctx.cancel_timer(request.timer);
        m.state = MemberState::Unjoined;
        match result {
            Ok(joined) => {
                self.coordinator_ok();
                self.sync(ctx, joined);
            }
            Err(error) => self.membership_error(ctx, error),
        }
        self.drive(ctx);
    }

    /// Joined: the leader computes every member's assignment, the others send none.
    fn sync(&mut self, ctx: &mut Ctx<'_>, joined: JoinResult) {
        let JoinResult { generation, member_id, leader, assignor, members } = joined;
        self.member_mut().member_id = Some(member_id);
        let assignments = if leader == member_id {
            let assignments = assign(assignor, &members, &self.config.partitions);
            ctx.annotate(format!("{member_id} leads generation {generation}: {assignments:?}"));
            assignments
        } else {
            Vec::new()
        };
        let Some((node, group)) = self.coordinator_ready() else { return };
        let request = self.request(ctx, node, COORDINATOR_REQUEST_TIMEOUT_MS, |correlation_id| {
            Msg::SyncGroup { correlation_id, group, generation, member_id, assignments }
        });
        self.member_mut().state = MemberState::Syncing(request, generation);
    }

    /// A JoinGroup or SyncGroup error: the member is out and rejoins at the next poll.
    fn membership_error(&mut self, ctx: &mut Ctx<'_>, error: ErrorCode) {
        ctx.annotate(format!("membership: {error}"));
        let m = self.member_mut();
        m.state = MemberState::Unjoined;
        match error {
            ErrorCode::UnknownMemberId => {
                m.member_id = None;
                m.generation = None;
            }
            ErrorCode::IllegalGeneration => m.generation = None,
            // The group moved on: join again at once.
            ErrorCode::RebalanceInProgress => {}
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_lost(ctx);
            }
            _ => self.coordinator_backoff(ctx),
        }
    }

    pub(super) fn handle_sync_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<Vec<TopicPartition>, ErrorCode>,
    ) {
        let Some(m) = &mut self.member else { return };
        let MemberState::Syncing(request, generation) = m.state else { return };
        if !request.is(correlation_id) {
            return;
        }
        ctx.cancel_timer(request.timer);
        match result {
            Ok(partitions) => {
                self.coordinator_ok();
                self.assigned(ctx, generation, partitions);
            }
            Err(error) => self.membership_error(ctx, error),
        }
        self.drive(ctx);
    }

    /// SyncGroup answered: the member owns `partitions` in `generation`, and heartbeats.
    fn assigned(
        &mut self,
        ctx: &mut Ctx<'_>,
        generation: u32,
        mut partitions: Vec<TopicPartition>,
    ) {
        partitions.sort();
        partitions.dedup();
        for tp in &partitions {
            assert!(self.config.partitions.contains(tp), "assigned {tp} outside the subscription");
        }
        assert!(self.partitions.is_empty(), "partitions are revoked before rejoining");
        let group = self.group_name();
        let heartbeat_ms = self.config.spec.heartbeat_interval_ms;
        let m = self.member_mut();
        assert_eq!(m.owned_generation, None, "the last assignment was revoked");
        m.generation = Some(generation);
        m.owned_generation = Some(generation);
        m.state = MemberState::Stable;
        let member_id = m.member_id;
        if m.heartbeat_timer.is_none() {
            m.heartbeat_timer =
                Some(ctx.set_timer(Duration::from_millis(heartbeat_ms), Timer::GroupHeartbeat));
        }
        ctx.observe(KafkaObs::Assigned {
            group,
            generation: Some(generation),
            member_id,
            partitions: partitions.clone(),
        });
        self.partitions = partitions.into_iter().map(Partition::awaiting_committed).collect();
    }

    /// The heartbeat side: checks `max.poll.interval.ms`, heartbeats, and comes back at the
    /// next heartbeat or when the poll interval would expire, whichever is first.
    pub(super) fn heartbeat_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let max_poll = Duration::from_millis(self.config.spec.max_poll_interval_ms);
        let interval = Duration::from_millis(self.config.spec.heartbeat_interval_ms);
        let polling = matches!(self.app, App::Polling);
        let since_poll = now.saturating_since(self.last_poll_at);
        let m = self.member_mut();
        m.heartbeat_timer = None;
        if !m.is_stable() {
            return;
        }
        if !polling && since_poll >= max_poll {
            self.leave_for_poll_timeout(ctx);
            return;
        }
        let ready = self.coordinator_ready();
        let m = self.member.as_ref().expect("subscribe mode");
        if m.heartbeat.is_none() {
            if let Some((node, group)) = ready {
                let generation = m.generation.expect("a stable member has a generation");
                let member_id = m.member_id.expect("a stable member has an id");
                let request = self.request(ctx, node, REQUEST_TIMEOUT_MS, |correlation_id| {
                    Msg::Heartbeat { correlation_id, group, generation, member_id }
                });
                self.member_mut().heartbeat = Some(request);
            } else {
                self.find_coordinator(ctx);
            }
        }
        let delay =
            if polling { interval } else { interval.min(max_poll.saturating_sub(since_poll)) };
        let delay = delay.max(Duration::from_millis(1));
        self.member_mut().heartbeat_timer = Some(ctx.set_timer(delay, Timer::GroupHeartbeat));
    }

    pub(super) fn handle_heartbeat_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        error: Option<ErrorCode>,
    ) {
        let Some(m) = &mut self.member else { return };
        let Some(request) = m.heartbeat.filter(|r| r.is(correlation_id)) else { return };
        m.heartbeat = None;
        ctx.cancel_timer(request.timer);
        match error {
            None => self.coordinator_ok(),
            Some(ErrorCode::RebalanceInProgress) => {
                if m.rejoin.is_none() {
                    ctx.annotate("heartbeat: REBALANCE_IN_PROGRESS, rejoin at the next poll");
                    m.rejoin = Some(RevokeReason::Rebalance);
                }
            }
            Some(error @ (ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)) => {
                self.fenced(ctx, error);
            }
            Some(ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                self.coordinator_lost(ctx);
            }
            Some(_) => self.coordinator_backoff(ctx),
        }
        self.drive(ctx);
    }

    /// ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID: the group went on without this member. Its
    /// partitions are lost (revoked at the next poll without a commit) and it rejoins.
    pub(super) fn fenced(&mut self, ctx: &mut Ctx<'_>, error: ErrorCode) {
        ctx.annotate(format!("fenced: {error}"));
        let m = self.member_mut();
        m.generation = None;
        if error == ErrorCode::UnknownMemberId {
            m.member_id = None;
        }
        if m.state == MemberState::Stable {
            m.state = MemberState::Unjoined;
        }
        m.heartbeat = None;
        m.rejoin = Some(RevokeReason::Fenced);
    }

    /// The application did not poll within `max.poll.interval.ms`: leave the group (its
    /// partitions go to others); the application revokes and rejoins at its next poll.
    fn leave_for_poll_timeout(&mut self, ctx: &mut Ctx<'_>) {
        ctx.annotate("max.poll.interval.ms expired: leaving the group");
        let node = self.coordinator.as_ref().and_then(|c| c.node);
        let group = self.group_name().expect("a member has a group");
        let m = self.member_mut();
        let member_id = m.member_id.take().expect("a stable member has an id");
        m.generation = None;
        m.state = MemberState::Unjoined;
        m.heartbeat = None;
        m.rejoin = Some(RevokeReason::PollTimeout);
        if let Some(node) = node {
            let correlation_id = self.correlation_id();
            ctx.send(node, Msg::LeaveGroup { correlation_id, group, member_id });
        }
    }

    /// Gives every partition up (the eager protocol), dropping what was fetched for them.
    pub(super) fn revoke(&mut self, ctx: &mut Ctx<'_>) {
        let group = self.group_name().expect("a member has a group");
        let partitions = self.owned();
        let m = self.member_mut();
        let reason = m.rejoin.take().unwrap_or(RevokeReason::Rebalance);
        if m.state == MemberState::Stable {
            m.state = MemberState::Unjoined;
        }
        if let Some(r) = m.heartbeat.take() {
            ctx.cancel_timer(r.timer);
        }
        if let Some(generation) = m.owned_generation.take() {
            ctx.observe(KafkaObs::Revoked { group, generation, partitions, reason });
        }
        self.partitions.clear();
        if let Some((r, _)) = self.offset_fetch.take() {
            ctx.cancel_timer(r.timer);
        }
    }
}
