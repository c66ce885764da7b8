//! The consumer's fetcher: per owned partition its position (the next offset `poll()`
//! returns), the records fetched but not yet returned, how the position is found (committed
//! offset, `auto.offset.reset` through ListOffsets) and KIP-320's validation of the position
//! after a leader change (OffsetsForLeaderEpoch).

use std::collections::VecDeque;

use crate::scenario::AutoOffsetReset;
use crate::sim::node::NodeId;

use super::super::client::REQUEST_TIMEOUT_MS;
use super::super::protocol::{
    CommittedOffset, ErrorCode, FETCH_RESPONSE_RECORDS_MAX, KafkaObs, Msg, OffsetSpec, Record,
    ResetReason, TopicPartition,
};
use super::{App, Consumer, Ctx, Request};

/// A fetch response's payload.
pub(super) struct Fetched {
    pub error: Option<ErrorCode>,
    pub log_start_offset: u64,
    pub records: Vec<Record>,
}

/// How far a partition's position is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the group's committed offset (OffsetFetch).
    AwaitCommitted,
    /// No usable position: ListOffsets `spec`, then observe a reset for `reason`.
    AwaitReset { spec: OffsetSpec, reason: ResetReason },
    /// The position is known: fetch (after validating it when the leader changed).
    Fetching,
    /// Not read: no offset and `auto.offset.reset = none` (NO_OFFSET, LogTruncation).
    Stopped,
}

/// A fetch in flight: from which offset, in which leader epoch.
#[derive(Clone, Copy, Debug)]
pub(super) struct InFlightFetch {
    request: Request,
    offset: u64,
    leader_epoch: u32,
}

#[derive(Clone, Debug)]
pub(super) struct Partition {
    pub tp: TopicPartition,
    pub phase: Phase,
    /// The next offset `poll()` returns; `None` until found.
    pub position: Option<u64>,
    /// The leader epoch of the last record returned (or of the committed offset taken
    /// up): what KIP-320 validation asks the leader about.
    pub last_epoch: Option<u32>,
    /// The leader epoch in which the position is known to be on the leader's log.
    pub validated_epoch: Option<u32>,
    /// Fetched, not yet returned by `poll()`, with the broker that served them.
    pub buffer: VecDeque<(Record, NodeId)>,
    fetch: Option<InFlightFetch>,
    /// ListOffsets or OffsetsForLeaderEpoch in flight, and the leader epoch it was sent in.
    request: Option<(Request, u32)>,
}

impl Partition {
    fn new(tp: TopicPartition, phase: Phase, position: Option<u64>) -> Self {
        Partition {
            tp,
            phase,
            position,
            last_epoch: None,
            validated_epoch: None,
            buffer: VecDeque::new(),
            fetch: None,
            request: None,
        }
    }

    /// A partition read from `offset` (the groupless consumer's).
    pub fn at(tp: TopicPartition, offset: u64) -> Self {
        Partition::new(tp, Phase::Fetching, Some(offset))
    }

    /// A partition whose position comes from the group's committed offset.
    pub fn awaiting_committed(tp: TopicPartition) -> Self {
        Partition::new(tp, Phase::AwaitCommitted, None)
    }

    /// `poll()` returned `record`: the position moves past it.
    pub fn consume(&mut self, record: &Record) {
        let position = self.position.expect("a partition with records has a position");
        assert!(
            record.offset >= position,
            "{}: read {} below position {position}",
            self.tp,
            record.offset
        );
        self.position = Some(record.offset + 1);
        self.last_epoch = Some(record.leader_epoch);
    }

    /// What a commit of this partition carries (KIP-320: with the last epoch read).
    pub fn committable(&self) -> Option<CommittedOffset> {
        let usable = self.phase == Phase::Fetching && self.request.is_none();
        usable.then(|| CommittedOffset {
            offset: self.position.expect("a fetching partition has a position"),
            leader_epoch: self.last_epoch,
        })
    }
}

impl Consumer {
    /// KIP-320 applies to group consumers when the protocol switch is on.
    fn validates(&self) -> bool {
        self.config.truncation_detection && !self.groupless()
    }

    /// The position must be validated before fetching in `leader_epoch`.
    fn needs_validation(&self, p: &Partition, leader_epoch: u32) -> bool {
        self.validates() && p.last_epoch.is_some() && p.validated_epoch != Some(leader_epoch)
    }

    /// `poll()` may return the buffered records of partition `i`.
    pub(super) fn readable(&self, i: usize) -> bool {
        let p = &self.partitions[i];
        let validated = match self.metadata.leader(&p.tp) {
            Some((_, epoch)) => !self.needs_validation(p, epoch),
            None => true,
        };
        p.phase == Phase::Fetching && p.request.is_none() && validated
    }

    /// Sends, for every partition, the request it waits for: ListOffsets, validation, or a
    /// fetch once its buffer is empty.
    pub(super) fn pump_partitions(&mut self, ctx: &mut Ctx<'_>) {
        for i in 0..self.partitions.len() {
            self.pump_partition(ctx, i);
        }
    }

    fn pump_partition(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let p = &self.partitions[i];
        if p.request.is_some() || p.fetch.is_some() {
            return;
        }
        let phase = p.phase;
        if matches!(phase, Phase::AwaitCommitted | Phase::Stopped) {
            return;
        }
        let Some((leader, leader_epoch)) = self.metadata.leader(&p.tp) else {
            self.refresh_metadata(ctx);
            return;
        };
        match phase {
            Phase::AwaitReset { spec, .. } => {
                let tp = p.tp.clone();
                let request = self.request(ctx, leader, REQUEST_TIMEOUT_MS, |correlation_id| {
                    Msg::ListOffsets {
                        correlation_id,
                        tp,
                        current_leader_epoch: leader_epoch,
                        spec,
                    }
                });
                self.partitions[i].request = Some((request, leader_epoch));
            }
            Phase::Fetching if self.needs_validation(p, leader_epoch) => {
                let tp = p.tp.clone();
                let last_epoch = p.last_epoch.expect("validation needs an epoch");
                // Kafka drops what it fetched for a partition awaiting validation.
                self.partitions[i].buffer.clear();
                let request = self.request(ctx, leader, REQUEST_TIMEOUT_MS, |correlation_id| {
                    Msg::OffsetsForLeaderEpoch {
                        correlation_id,
                        tp,
                        current_leader_epoch: leader_epoch,
                        leader_epoch: last_epoch,
                    }
                });
                self.partitions[i].request = Some((request, leader_epoch));
            }
            Phase::Fetching if p.buffer.is_empty() => {
                let tp = p.tp.clone();
                let offset = p.position.expect("a fetching partition has a position");
                let request =
                    self.request(ctx, leader, REQUEST_TIMEOUT_MS, |correlation_id| Msg::Fetch {
                        correlation_id,
                        tp,
                        replica_id: None,
                        current_leader_epoch: leader_epoch,
                        fetch_offset: offset,
                    });
                self.partitions[i].fetch = Some(InFlightFetch { request, offset, leader_epoch });
            }
            Phase::Fetching | Phase::AwaitCommitted | Phase::Stopped => {}
        }
    }

    /// A fetch, ListOffsets or validation timed out: true when it was one of ours.
    pub(super) fn partition_request_timed_out(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
    ) -> bool {
        for p in &mut self.partitions {
            if p.fetch.is_some_and(|f| f.request.is(correlation_id)) {
                p.fetch = None;
            } else if p.request.is_some_and(|(r, _)| r.is(correlation_id)) {
                p.request = None;
            } else {
                continue;
            }
            self.refresh_metadata(ctx);
            return true;
        }
        false
    }

    fn partition_waiting(
        &self,
        tp: &TopicPartition,
        correlation_id: u64,
        fetch: bool,
    ) -> Option<usize> {
        self.partitions.iter().position(|p| {
            &p.tp == tp
                && if fetch {
                    p.fetch.is_some_and(|f| f.request.is(correlation_id))
                } else {
                    p.request.is_some_and(|(r, _)| r.is(correlation_id))
                }
        })
    }

    pub(super) fn handle_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        fetched: Fetched,
    ) {
        let Fetched { error, log_start_offset, records } = fetched;
        let Some(i) = self.partition_waiting(&tp, correlation_id, true) else { return };
        let fetch = self.partitions[i].fetch.take().expect("matched in flight");
        ctx.cancel_timer(fetch.request.timer);
        match error {
            None => {}
            Some(ErrorCode::OffsetOutOfRange) => {
                self.out_of_range(ctx, i, log_start_offset);
                return;
            }
            // The leader knows a newer epoch than our metadata (FENCED / UNKNOWN_LEADER_EPOCH
            // refresh alike), or is not the leader.
            Some(_) => {
                self.refresh_metadata(ctx);
                return;
            }
        }
        if self.partitions[i].position != Some(fetch.offset) || records.is_empty() {
            return;
        }
        if self.groupless() {
            self.read_at_once(ctx, i, from, records);
            self.pump_partition(ctx, i);
            return;
        }
        let p = &mut self.partitions[i];
        // The leader of `fetch.leader_epoch` served the position: it is on its log.
        p.validated_epoch = Some(fetch.leader_epoch);
        p.buffer
            .extend(records.into_iter().filter(|r| r.offset >= fetch.offset).map(|r| (r, from)));
        assert!(
            p.buffer.len() <= FETCH_RESPONSE_RECORDS_MAX,
            "{}: fetch buffer over its bound",
            p.tp
        );
        if matches!(self.app, App::Polling) {
            self.app_poll(ctx);
        }
    }

    /// The groupless consumer: every fetched record is returned at once.
    fn read_at_once(&mut self, ctx: &mut Ctx<'_>, i: usize, from: NodeId, records: Vec<Record>) {
        let p = &mut self.partitions[i];
        for record in records {
            ctx.observe(KafkaObs::read(&p.tp, &record, from));
            p.position = Some(record.offset + 1);
        }
    }

    /// OFFSET_OUT_OF_RANGE: `auto.offset.reset` decides (the groupless consumer goes to the
    /// log start offset, as it always did).
    fn out_of_range(&mut self, ctx: &mut Ctx<'_>, i: usize, log_start_offset: u64) {
        let policy = self.config.spec.auto_offset_reset;
        let tp = self.partitions[i].tp.clone();
        if self.groupless() || policy == AutoOffsetReset::Earliest {
            let from = self.partitions[i].position.unwrap_or(0);
            ctx.annotate(format!(
                "{tp}: position {from} out of range; reset to {log_start_offset}"
            ));
            self.reset_position(ctx, i, log_start_offset, ResetReason::OutOfRange);
        } else if policy == AutoOffsetReset::Latest {
            let reason = ResetReason::OutOfRange;
            self.partitions[i].phase = Phase::AwaitReset { spec: OffsetSpec::Latest, reason };
            self.partitions[i].buffer.clear();
            self.pump_partition(ctx, i);
        } else {
            self.stop(ctx, i, "OFFSET_OUT_OF_RANGE and auto.offset.reset=none");
        }
    }

    /// The only way, besides `poll()`, that a position moves: observed.
    pub(super) fn reset_position(
        &mut self,
        ctx: &mut Ctx<'_>,
        i: usize,
        to: u64,
        reason: ResetReason,
    ) {
        let p = &mut self.partitions[i];
        let from = p.position.unwrap_or(0);
        ctx.observe(KafkaObs::PositionReset { tp: p.tp.clone(), from, to, reason });
        p.position = Some(to);
        p.phase = Phase::Fetching;
        p.buffer.clear();
        p.last_epoch = None;
        p.validated_epoch = None;
    }

    /// The partition is not read any more (Kafka raises the error to the application).
    fn stop(&mut self, ctx: &mut Ctx<'_>, i: usize, why: &str) {
        let p = &mut self.partitions[i];
        ctx.annotate(format!("{}: {why}; not read", p.tp));
        p.phase = Phase::Stopped;
        p.buffer.clear();
    }

    /// Where a partition without a committed offset starts (`auto.offset.reset`).
    pub(super) fn no_committed_offset(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let reason = ResetReason::AutoOffsetReset;
        match self.config.spec.auto_offset_reset {
            AutoOffsetReset::Earliest => {
                self.partitions[i].phase = Phase::AwaitReset { spec: OffsetSpec::Earliest, reason };
            }
            AutoOffsetReset::Latest => {
                self.partitions[i].phase = Phase::AwaitReset { spec: OffsetSpec::Latest, reason };
            }
            AutoOffsetReset::None => self.stop(ctx, i, "NO_OFFSET"),
        }
    }

    pub(super) fn handle_list_offsets_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<(u64, u32), ErrorCode>,
    ) {
        let Some(i) = self.partition_waiting(&tp, correlation_id, false) else { return };
        let (request, _) = self.partitions[i].request.take().expect("matched in flight");
        ctx.cancel_timer(request.timer);
        let Phase::AwaitReset { reason, .. } = self.partitions[i].phase else { return };
        match result {
            // ListOffsets names no epoch of the record before the offset: nothing to
            // validate until the first record is read.
            Ok((offset, _)) => {
                self.reset_position(ctx, i, offset, reason);
                self.pump_partition(ctx, i);
            }
            Err(_) => self.refresh_metadata(ctx),
        }
    }

    /// KIP-320: the leader's answer to "where does the epoch of my last record end?".
    pub(super) fn handle_epoch_end_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<Option<(u32, u64)>, ErrorCode>,
    ) {
        let Some(i) = self.partition_waiting(&tp, correlation_id, false) else { return };
        let (request, leader_epoch) = self.partitions[i].request.take().expect("in flight");
        ctx.cancel_timer(request.timer);
        if self.partitions[i].phase != Phase::Fetching {
            return;
        }
        let position = self.partitions[i].position.expect("a fetching partition has a position");
        let policy = self.config.spec.auto_offset_reset;
        match result {
            Ok(Some((_, end_offset))) if end_offset >= position => {
                self.partitions[i].validated_epoch = Some(leader_epoch);
            }
            Ok(Some((epoch, end_offset))) => {
                if policy == AutoOffsetReset::None {
                    let why = format!("log truncated at {end_offset} below position {position}");
                    self.stop(ctx, i, &why);
                    return;
                }
                ctx.annotate(format!(
                    "{tp}: log truncated at {end_offset} (epoch {epoch}) below position {position}"
                ));
                self.reset_position(ctx, i, end_offset, ResetReason::Truncation);
                let p = &mut self.partitions[i];
                p.last_epoch = Some(epoch);
                p.validated_epoch = Some(leader_epoch);
            }
            // No epoch at or below ours on the leader: out of range (Kafka resets).
            Ok(None) => {
                let reason = ResetReason::Truncation;
                let spec = match policy {
                    AutoOffsetReset::Earliest => OffsetSpec::Earliest,
                    AutoOffsetReset::Latest => OffsetSpec::Latest,
                    AutoOffsetReset::None => {
                        self.stop(ctx, i, "no epoch end offset and auto.offset.reset=none");
                        return;
                    }
                };
                self.partitions[i].phase = Phase::AwaitReset { spec, reason };
            }
            Err(_) => {
                self.refresh_metadata(ctx);
                return;
            }
        }
        self.pump_partition(ctx, i);
    }
}
