//! The consumer's offsets: OffsetFetch after an assignment (positions from the committed
//! offsets), and OffsetCommit of the positions, one commit at a time, with the application
//! waiting for it. A commit carries each partition's position and the leader epoch of the
//! last record read (KIP-320).

use std::sync::Arc;

use super::super::client::REQUEST_TIMEOUT_MS;
use super::super::protocol::{
    CommittedOffset, ErrorCode, KafkaObs, MemberId, Msg, ResetReason, RevokeReason, TopicPartition,
};
use super::fetcher::Phase;
use super::{COMMIT_ATTEMPTS_MAX, COORDINATOR_REQUEST_TIMEOUT_MS, Consumer, Ctx, Request};

/// What `start_commit` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Started {
    /// The commit is out (or waits for the coordinator): the application waits.
    Sent,
    /// No partition has a position: nothing to commit.
    Empty,
    /// Kafka's `CommitFailedException` without a request: the member has no generation.
    Refused,
}

/// One commitSync (or auto-commit) of the application, over its attempts.
#[derive(Clone, Debug)]
pub(super) struct Commit {
    offsets: Vec<(TopicPartition, CommittedOffset)>,
    generation: Option<u32>,
    member_id: Option<MemberId>,
    /// The operation id its history records carry.
    op: u64,
    attempts: u32,
    /// commitSync (true) blocks the application and retries retriable errors; the
    /// auto-commit's commitAsync (false) does neither.
    retries: bool,
    /// Some attempt got no answer (or REQUEST_TIMED_OUT): it may have been applied.
    unknown: bool,
    in_flight: Option<Request>,
}

impl Consumer {
    /// Commits the position of every owned partition that has one.
    pub(super) fn start_commit(&mut self, ctx: &mut Ctx<'_>, retries: bool) -> Started {
        assert!(self.commit.is_none(), "one commit at a time");
        let Some(coordinator) = &self.coordinator else { return Started::Empty };
        let (generation, member_id) = match &self.member {
            None => (None, None),
            Some(m) => match (m.generation, m.member_id) {
                (Some(g), Some(id)) => (Some(g), Some(id)),
                _ => {
                    ctx.annotate("commit refused: the member has no generation");
                    return Started::Refused;
                }
            },
        };
        let offsets: Vec<(TopicPartition, CommittedOffset)> = self
            .partitions
            .iter()
            .filter_map(|p| p.committable().map(|o| (p.tp.clone(), o)))
            .collect();
        if offsets.is_empty() {
            return Started::Empty;
        }
        // The auto-commit does not wait for a coordinator lookup (Kafka's async commit
        // fails at once); the next interval commits again.
        if !retries && coordinator.node.is_none() {
            return Started::Empty;
        }
        self.commit = Some(Commit {
            offsets,
            generation,
            member_id,
            op: self.next_op(),
            attempts: 0,
            retries,
            unknown: false,
            in_flight: None,
        });
        self.maybe_send_commit(ctx);
        Started::Sent
    }

    /// Sends the waiting commit's next attempt once the coordinator can take it.
    pub(super) fn maybe_send_commit(&mut self, ctx: &mut Ctx<'_>) {
        let Some(commit) = &self.commit else { return };
        if commit.in_flight.is_some() {
            return;
        }
        let Some((node, group)) = self.coordinator_ready() else {
            self.find_coordinator(ctx);
            return;
        };
        if self.member.is_some() {
            for (tp, _) in &commit.offsets {
                assert!(
                    self.partitions.iter().any(|p| &p.tp == tp),
                    "a member commits {tp}, which it does not own"
                );
            }
        }
        let (generation, member_id, offsets) =
            (commit.generation, commit.member_id, commit.offsets.clone());
        ctx.observe(KafkaObs::CommitSent {
            op: commit.op,
            group: group.clone(),
            generation,
            member_id,
            offsets: offsets.clone(),
        });
        let request = self.request(ctx, node, COORDINATOR_REQUEST_TIMEOUT_MS, |correlation_id| {
            Msg::OffsetCommit { correlation_id, group, generation, member_id, offsets }
        });
        let commit = self.commit.as_mut().expect("checked above");
        commit.attempts += 1;
        assert!(commit.attempts <= COMMIT_ATTEMPTS_MAX, "commit attempts are bounded");
        commit.in_flight = Some(request);
    }

    pub(super) fn handle_commit_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<(), ErrorCode>,
    ) {
        let Some(commit) = &mut self.commit else { return };
        let Some(request) = commit.in_flight.filter(|r| r.is(correlation_id)) else { return };
        commit.in_flight = None;
        ctx.cancel_timer(request.timer);
        match result {
            Ok(()) => {
                self.coordinator_ok();
                self.finish_commit(ctx, Ok(()));
            }
            Err(error @ (ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)) => {
                if self.member.is_some() {
                    self.fenced(ctx, error);
                }
                self.finish_commit(ctx, Err(error));
            }
            Err(ErrorCode::RebalanceInProgress) => {
                if let Some(m) = &mut self.member {
                    m.rejoin.get_or_insert(RevokeReason::Rebalance);
                }
                self.finish_commit(ctx, Err(ErrorCode::RebalanceInProgress));
            }
            Err(error) => {
                if error == ErrorCode::RequestTimedOut {
                    commit.unknown = true;
                }
                match error {
                    ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                        self.coordinator_lost(ctx);
                    }
                    _ => self.coordinator_backoff(ctx),
                }
                self.retry_or_finish_commit(ctx, error);
            }
        }
    }

    fn retry_or_finish_commit(&mut self, ctx: &mut Ctx<'_>, error: ErrorCode) {
        let commit = self.commit.as_ref().expect("a commit is waiting");
        if commit.retries && commit.attempts < COMMIT_ATTEMPTS_MAX {
            self.drive(ctx);
        } else {
            self.finish_commit(ctx, Err(error));
        }
    }

    /// The commit's outcome, one `CommitDone` per partition: success if an attempt
    /// succeeded, unknown (`REQUEST_TIMED_OUT`) if an attempt may have been applied.
    fn finish_commit(&mut self, ctx: &mut Ctx<'_>, result: Result<(), ErrorCode>) {
        let commit = self.commit.take().expect("a commit is waiting");
        let result = match result {
            Err(_) if commit.unknown => Err(ErrorCode::RequestTimedOut),
            other => other,
        };
        let group: Arc<str> = self.group_name().expect("commits need a group");
        for (tp, offset) in commit.offsets {
            ctx.observe(KafkaObs::CommitDone {
                op: commit.op,
                group: group.clone(),
                generation: commit.generation,
                member_id: commit.member_id,
                tp,
                offset,
                result,
            });
        }
        if commit.retries {
            self.commit_finished(ctx, result.is_ok());
        } else {
            self.drive(ctx);
        }
    }

    /// OffsetFetch of the partitions waiting for their committed offset.
    pub(super) fn maybe_send_offset_fetch(&mut self, ctx: &mut Ctx<'_>) {
        if self.offset_fetch.is_some() {
            return;
        }
        let partitions: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|p| p.phase == Phase::AwaitCommitted)
            .map(|p| p.tp.clone())
            .collect();
        if partitions.is_empty() {
            return;
        }
        let Some((node, group)) = self.coordinator_ready() else { return };
        let op = self.next_op();
        let sent =
            KafkaObs::OffsetFetchSent { op, group: group.clone(), partitions: partitions.clone() };
        ctx.observe(sent);
        let request = self.request(ctx, node, REQUEST_TIMEOUT_MS, |correlation_id| {
            Msg::OffsetFetch { correlation_id, group, partitions }
        });
        self.offset_fetch = Some((request, op));
    }

    pub(super) fn handle_offset_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        result: Result<Vec<(TopicPartition, Option<CommittedOffset>)>, ErrorCode>,
    ) {
        let Some((request, op)) = self.offset_fetch.filter(|(r, _)| r.is(correlation_id)) else {
            return;
        };
        self.offset_fetch = None;
        ctx.cancel_timer(request.timer);
        match result {
            Ok(offsets) => {
                self.coordinator_ok();
                for (tp, offset) in offsets {
                    self.take_committed(ctx, tp, offset, op);
                }
            }
            Err(ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                self.coordinator_lost(ctx);
            }
            Err(_) => self.coordinator_backoff(ctx),
        }
        self.drive(ctx);
    }

    /// A committed offset (or none) for a partition waiting for it.
    fn take_committed(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: TopicPartition,
        offset: Option<CommittedOffset>,
        op: u64,
    ) {
        let waiting =
            self.partitions.iter().position(|p| p.tp == tp && p.phase == Phase::AwaitCommitted);
        let Some(i) = waiting else { return };
        let group = self.group_name().expect("offset fetches need a group");
        ctx.observe(KafkaObs::OffsetFetched { op, group, tp, offset });
        match offset {
            Some(committed) => {
                self.reset_position(ctx, i, committed.offset, ResetReason::Committed);
                // KIP-320: a committed epoch is validated against the current leader.
                self.partitions[i].last_epoch = committed.leader_epoch;
            }
            None => self.no_committed_offset(ctx, i),
        }
    }

    /// An OffsetFetch or OffsetCommit timed out: true when it was ours.
    pub(super) fn coordinator_request_timed_out(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
    ) -> bool {
        if self.offset_fetch.is_some_and(|(r, _)| r.is(correlation_id)) {
            self.offset_fetch = None;
            self.coordinator_lost(ctx);
            self.drive(ctx);
            return true;
        }
        let Some(commit) = &mut self.commit else { return false };
        if !commit.in_flight.is_some_and(|r| r.is(correlation_id)) {
            return false;
        }
        commit.in_flight = None;
        commit.unknown = true;
        self.coordinator_lost(ctx);
        self.retry_or_finish_commit(ctx, ErrorCode::RequestTimedOut);
        true
    }
}
