//! The group coordinator of one `__consumer_offsets` partition (Kafka's classic
//! `GroupCoordinator` with its `GroupMetadataManager`), sans IO: a pure state machine whose
//! inputs are group requests, the clock, the partition's records at load time and the
//! partition's high watermark, and whose outputs are responses, appends (through
//! [`CoordinatorLog`]) and annotations. The broker hosts one per partition it leads, for one
//! leader epoch (`broker/groups.rs`).
//!
//! What it models: groups in Empty, PreparingRebalance, CompletingRebalance, Stable and
//! Dead; member ids given at the first join; `group.initial.rebalance.delay.ms` for an
//! empty group's first rebalance (Kafka's `InitialDelayedJoin`, extended while members
//! keep arriving); the rebalance timeout (the largest member `max.poll.interval.ms`), after
//! which members that did not rejoin are removed; the generation bump at every completed
//! join; session expiry; the group record written at SyncGroup and acknowledged only once
//! committed; offset commits fenced by member and generation, acknowledged once committed,
//! failed with REQUEST_TIMED_OUT after `offsets.commit.timeout.ms`. Pending commits are kept
//! apart from the committed offsets (Kafka's `pendingOffsetCommits`): OffsetFetch serves
//! committed state only.
//!
//! Loading: a new leader replays its whole log (to the LEO), but only once its HW reached
//! that LEO; until then it answers COORDINATOR_LOAD_IN_PROGRESS. A leader never truncates,
//! so every record it replays will be committed in its epoch or the coordinator is
//! unloaded; waiting for the HW makes the loaded state committed state (like Kafka's new
//! coordinator runtime, which serves reads at the committed offset), so an OffsetFetch never
//! returns an offset that a later leader could lose.
//!
//! Departures from Kafka: no MEMBER_ID_REQUIRED round trip (KIP-394): the first JoinGroup
//! gets its id and joins at once; no static membership; a group uses its leader's assignor
//! instead of voting over every member's list (a member with another assignor is not
//! refused with INCONSISTENT_GROUP_PROTOCOL); no offset retention or group expiry; the group
//! leader after the first one leaves is the earliest remaining joiner.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::sim::node::NodeId;
use crate::sim::time::{Duration, Instant};

use super::protocol::{
    Assignor, CommittedOffset, CoordinatorRecord, ErrorCode, GroupMetadata, JoinResult, MemberId,
    MemberMetadata, Msg, Record, TopicPartition,
};

/// The coordinator's clock tick: session expiry, join deadlines and commit timeouts are
/// checked this often.
pub const COORDINATOR_TICK_MS: u64 = 100;
/// Most groups one coordinator holds: a runaway client loop fails loudly.
pub const GROUPS_MAX: usize = 10_000;
/// Most members of one group (each consumer is one member; expired ones are removed).
pub const MEMBERS_MAX: usize = 1_000;
/// Most writes waiting for the HW (each expires after `offsets.commit.timeout.ms`).
pub const PENDING_WRITES_MAX: usize = 100_000;

/// The broker configs and protocol switch the coordinator reads.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// `offsets.commit.timeout.ms`: how long a write waits for the HW.
    pub offsets_commit_timeout_ms: u64,
    /// `protocol.offset_commit_generation_check` (false: the C4 variant).
    pub generation_check: bool,
}

/// Where the coordinator's records go: the leader's log of its partition. The broker's
/// implementation appends with acks=all semantics (NOT_ENOUGH_REPLICAS below
/// `min.insync.replicas`); tests use a vector.
pub trait CoordinatorLog {
    /// Appends `records` in order and returns the offset of the last one.
    fn append(&mut self, records: Vec<CoordinatorRecord>) -> Result<u64, ErrorCode>;
}

/// What one input produced besides appends.
#[derive(Debug, Default)]
pub struct Outbox {
    pub sends: Vec<(NodeId, Msg)>,
    /// Trace annotations.
    pub notes: Vec<String>,
}

/// Kafka's `GroupState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets only, or everyone left).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined: waiting for the leader's assignment to be committed.
    CompletingRebalance,
    Stable,
    /// Unloaded: the coordinator moved away.
    Dead,
}

#[derive(Clone, Debug)]
struct Member {
    meta: MemberMetadata,
    assignor: Assignor,
    /// The last heartbeat, join or sync (or the load).
    last_heard: Instant,
    /// The correlation id of a JoinGroup waiting for the rebalance to complete.
    awaiting_join: Option<u64>,
    /// The correlation id of a SyncGroup waiting for the assignment to be committed.
    awaiting_sync: Option<u64>,
}

impl Member {
    /// Kafka's `shouldKeepAlive`: a member waiting for the coordinator is not expired.
    fn expired(&self, now: Instant) -> bool {
        self.awaiting_join.is_none()
            && self.awaiting_sync.is_none()
            && now.saturating_since(self.last_heard)
                > Duration::from_millis(self.meta.session_timeout_ms)
    }
}

/// `InitialDelayedJoin`: an empty group's first rebalance waits for more members.
#[derive(Clone, Copy, Debug)]
struct InitialDelay {
    /// How much of the rebalance timeout is left to extend the wait by.
    remaining_ms: u64,
    /// A member joined during the current wait.
    new_member: bool,
}

#[derive(Clone, Debug)]
struct Group {
    name: Arc<str>,
    state: GroupState,
    generation: u32,
    /// The members in join order; the first is the leader.
    members: Vec<Member>,
    leader: Option<MemberId>,
    assignor: Option<Assignor>,
    /// When PreparingRebalance ends at the latest.
    join_deadline: Option<Instant>,
    initial_delay: Option<InitialDelay>,
    /// The leader's assignment of the current generation went to the log.
    assignment_written: bool,
    committed: BTreeMap<TopicPartition, CommittedOffset>,
}

impl Group {
    fn new(name: Arc<str>) -> Self {
        Group {
            name,
            state: GroupState::Empty,
            generation: 0,
            members: Vec::new(),
            leader: None,
            assignor: None,
            join_deadline: None,
            initial_delay: None,
            assignment_written: false,
            committed: BTreeMap::new(),
        }
    }

    fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.meta.member_id == id)
    }

    fn member_mut(&mut self, id: MemberId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.meta.member_id == id)
    }

    fn has(&self, id: Option<MemberId>) -> bool {
        id.is_some_and(|id| self.member(id).is_some())
    }

    fn all_joined(&self) -> bool {
        self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    /// Kafka's `GroupMetadata.transitionTo` with its valid previous states.
    fn transition(&mut self, to: GroupState) {
        use GroupState::*;
        let valid = match to {
            Empty => matches!(self.state, PreparingRebalance),
            PreparingRebalance => matches!(self.state, Empty | CompletingRebalance | Stable),
            CompletingRebalance => matches!(self.state, PreparingRebalance),
            Stable => matches!(self.state, CompletingRebalance),
            Dead => true,
        };
        assert!(valid, "group {}: no transition {:?} -> {to:?}", self.name, self.state);
        self.state = to;
    }

    fn metadata(&self) -> GroupMetadata {
        GroupMetadata {
            group: self.name.clone(),
            generation: self.generation,
            assignor: self.assignor,
            leader: self.leader,
            members: self.members.iter().map(|m| m.meta.clone()).collect(),
        }
    }

    fn check(&self) {
        assert!(self.members.len() <= MEMBERS_MAX, "group {}: too many members", self.name);
        assert_eq!(
            self.members.is_empty(),
            self.leader.is_none(),
            "group {}: a leader exactly when there are members",
            self.name
        );
        assert!(self.leader.is_none_or(|l| self.member(l).is_some()), "{}: leader", self.name);
        assert_eq!(
            self.join_deadline.is_some(),
            self.state == GroupState::PreparingRebalance,
            "group {}: a join deadline exactly while preparing a rebalance",
            self.name
        );
        if matches!(self.state, GroupState::Empty) {
            assert!(self.members.is_empty(), "group {}: Empty with members", self.name);
        }
    }
}

/// What a committed write completes.
#[derive(Clone, Debug)]
enum Completion {
    Commit {
        client: NodeId,
        correlation_id: u64,
        group: Arc<str>,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    },
    /// The group record of `generation` (after SyncGroup, or an emptied group).
    GroupRecord { group: Arc<str>, generation: u32 },
}

#[derive(Clone, Debug)]
struct PendingWrite {
    deadline: Instant,
    completion: Completion,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the HW to reach the LEO the replica had when it became leader.
    Loading {
        until: u64,
    },
    Active,
}

/// The coordinator of the groups of one `__consumer_offsets` partition in one leader epoch.
#[derive(Clone, Debug)]
pub struct Coordinator {
    config: CoordinatorConfig,
    tp: TopicPartition,
    leader_epoch: u32,
    phase: Phase,
    groups: BTreeMap<Arc<str>, Group>,
    /// Writes waiting for the HW, by the offset of their last record.
    writes: BTreeMap<u64, PendingWrite>,
}

/// The group a coordinator request names.
pub fn request_group(msg: &Msg) -> &Arc<str> {
    match msg {
        Msg::FindCoordinator { group, .. }
        | Msg::JoinGroup { group, .. }
        | Msg::SyncGroup { group, .. }
        | Msg::Heartbeat { group, .. }
        | Msg::LeaveGroup { group, .. }
        | Msg::OffsetCommit { group, .. }
        | Msg::OffsetFetch { group, .. } => group,
        other => panic!("not a group request: {other:?}"),
    }
}

/// The response to a group request that fails as a whole with `error`.
pub fn error_response(msg: &Msg, error: ErrorCode) -> Msg {
    match *msg {
        Msg::FindCoordinator { correlation_id, .. } => {
            Msg::FindCoordinatorResponse { correlation_id, result: Err(error) }
        }
        Msg::JoinGroup { correlation_id, .. } => {
            Msg::JoinGroupResponse { correlation_id, result: Err(error) }
        }
        Msg::SyncGroup { correlation_id, .. } => {
            Msg::SyncGroupResponse { correlation_id, result: Err(error) }
        }
        Msg::Heartbeat { correlation_id, .. } => {
            Msg::HeartbeatResponse { correlation_id, error: Some(error) }
        }
        Msg::LeaveGroup { correlation_id, .. } => {
            Msg::LeaveGroupResponse { correlation_id, error: Some(error) }
        }
        Msg::OffsetCommit { correlation_id, .. } => {
            Msg::OffsetCommitResponse { correlation_id, result: Err(error) }
        }
        Msg::OffsetFetch { correlation_id, .. } => {
            Msg::OffsetFetchResponse { correlation_id, result: Err(error) }
        }
        ref other => panic!("not a group request: {other:?}"),
    }
}

/// Kafka's error mapping of a failed offset-commit append (`storeOffsets`).
fn commit_error(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::UnknownTopicOrPartition => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
        other => other,
    }
}

/// Kafka's error mapping of a failed group-record append (`storeGroup`): a timeout sends
/// the members back to rejoin.
fn group_write_error(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::RequestTimedOut => ErrorCode::RebalanceInProgress,
        other => commit_error(other),
    }
}

fn join_response(correlation_id: u64, result: Result<JoinResult, ErrorCode>) -> Msg {
    Msg::JoinGroupResponse { correlation_id, result }
}

impl Coordinator {
    /// A coordinator for a replica that just became leader of `tp` in `leader_epoch`, with
    /// `log_end_offset` records to replay once they are committed.
    pub fn new(
        config: CoordinatorConfig,
        tp: TopicPartition,
        leader_epoch: u32,
        log_end_offset: u64,
    ) -> Self {
        Coordinator {
            config,
            tp,
            leader_epoch,
            phase: Phase::Loading { until: log_end_offset },
            groups: BTreeMap::new(),
            writes: BTreeMap::new(),
        }
    }

    pub fn leader_epoch(&self) -> u32 {
        self.leader_epoch
    }

    /// While loading: the offset the HW must reach before the log is replayed.
    pub fn load_point(&self) -> Option<u64> {
        match self.phase {
            Phase::Loading { until } => Some(until),
            Phase::Active => None,
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.phase == Phase::Active
    }

    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.get(group).map(|g| g.state)
    }

    /// The group as its record would store it: generation, leader, members, assignments.
    pub fn describe(&self, group: &str) -> Option<GroupMetadata> {
        self.groups.get(group).map(Group::metadata)
    }

    /// The committed offset of `tp` for `group` (what OffsetFetch answers).
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<CommittedOffset> {
        self.groups.get(group).and_then(|g| g.committed.get(tp)).copied()
    }

    /// Replays the partition's records (all committed: the HW reached the load point) and
    /// starts serving. Loaded members' sessions start now, as Kafka's do.
    pub fn load(&mut self, now: Instant, records: &[Record], out: &mut Outbox) {
        let Phase::Loading { until } = self.phase else { panic!("{}: loaded twice", self.tp) };
        assert!(
            records.last().is_none_or(|r| r.offset < until),
            "{}: records past the load point {until}",
            self.tp
        );
        for record in records {
            if let Some(payload) = record.coordinator() {
                self.replay(now, payload);
            }
        }
        self.phase = Phase::Active;
        let names: Vec<String> = self
            .groups
            .values()
            .map(|g| {
                format!("{} gen {} {:?} {} members", g.name, g.generation, g.state, g.members.len())
            })
            .collect();
        out.notes.push(format!(
            "{}: coordinator loaded {} groups at epoch {} to offset {until}: {names:?}",
            self.tp,
            self.groups.len(),
            self.leader_epoch
        ));
    }

    /// Applies one committed record to the in-memory state (load, and write completion).
    fn replay(&mut self, now: Instant, record: &CoordinatorRecord) {
        match record {
            CoordinatorRecord::OffsetCommit { group, tp, offset } => {
                self.group_entry(group).committed.insert(tp.clone(), *offset);
            }
            CoordinatorRecord::GroupMetadata(meta) => {
                let group = self.group_entry(&meta.group);
                let assignor = meta.assignor.unwrap_or(Assignor::Range);
                group.generation = meta.generation;
                group.assignor = meta.assignor;
                group.leader = meta.leader;
                group.members = meta
                    .members
                    .iter()
                    .map(|m| Member {
                        meta: m.clone(),
                        assignor,
                        last_heard: now,
                        awaiting_join: None,
                        awaiting_sync: None,
                    })
                    .collect();
                group.state =
                    if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
                group.join_deadline = None;
                group.initial_delay = None;
                group.assignment_written = true;
                group.check();
            }
        }
    }

    fn group_entry(&mut self, name: &Arc<str>) -> &mut Group {
        if !self.groups.contains_key(name) {
            assert!(self.groups.len() < GROUPS_MAX, "{}: too many groups", self.tp);
            self.groups.insert(name.clone(), Group::new(name.clone()));
        }
        self.groups.get_mut(name).expect("group just ensured")
    }

    /// One group request from `from`. `fresh_id` is the id for a JoinGroup without one
    /// (drawn by the host from its random stream).
    pub fn handle(
        &mut self,
        now: Instant,
        from: NodeId,
        msg: Msg,
        fresh_id: Option<MemberId>,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        if !self.is_loaded() {
            out.sends.push((from, error_response(&msg, ErrorCode::CoordinatorLoadInProgress)));
            return;
        }
        let name = request_group(&msg).clone();
        self.dispatch(now, from, msg, fresh_id, log, out);
        if let Some(group) = self.groups.get(&name) {
            group.check();
        }
    }

    fn dispatch(
        &mut self,
        now: Instant,
        from: NodeId,
        msg: Msg,
        fresh_id: Option<MemberId>,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        match msg {
            Msg::JoinGroup {
                correlation_id,
                group,
                member_id,
                subscription,
                assignor,
                session_timeout_ms,
                rebalance_timeout_ms,
            } => {
                let member = MemberMetadata {
                    member_id: member_id.or(fresh_id).expect("a new member gets an id"),
                    client: from,
                    subscription,
                    assignment: Vec::new(),
                    session_timeout_ms,
                    rebalance_timeout_ms,
                };
                let join = Join { correlation_id, new: member_id.is_none(), member, assignor };
                self.join(now, &group, join, log, out);
            }
            Msg::SyncGroup { correlation_id, group, generation, member_id, assignments } => {
                let sync = Sync { correlation_id, generation, member_id, assignments };
                self.sync(now, from, &group, sync, log, out);
            }
            Msg::Heartbeat { correlation_id, group, generation, member_id } => {
                let error = self.heartbeat(now, &group, generation, member_id).err();
                out.sends.push((from, Msg::HeartbeatResponse { correlation_id, error }));
            }
            Msg::LeaveGroup { correlation_id, group, member_id } => {
                let error = self.leave(now, &group, member_id, log, out).err();
                out.sends.push((from, Msg::LeaveGroupResponse { correlation_id, error }));
            }
            Msg::OffsetCommit { correlation_id, group, generation, member_id, offsets } => {
                let commit = Commit { correlation_id, generation, member_id, offsets };
                self.commit(now, from, &group, commit, log, out);
            }
            Msg::OffsetFetch { correlation_id, group, partitions } => {
                let offsets = partitions
                    .into_iter()
                    .map(|tp| {
                        let offset = self.committed(&group, &tp);
                        (tp, offset)
                    })
                    .collect();
                out.sends
                    .push((from, Msg::OffsetFetchResponse { correlation_id, result: Ok(offsets) }));
            }
            other => panic!("{}: not a coordinator request: {other:?}", self.tp),
        }
    }

    /// Kafka's `doJoinGroup` (classic protocol, without MEMBER_ID_REQUIRED).
    fn join(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        join: Join,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let Join { correlation_id, new, member, assignor } = join;
        let client = member.client;
        let id = member.member_id;
        if !new && !self.groups.get(name).is_some_and(|g| g.has(Some(id))) {
            let error = Err(ErrorCode::UnknownMemberId);
            out.sends.push((client, join_response(correlation_id, error)));
            return;
        }
        let tp = self.tp.clone();
        let initial_delay_ms = self.config.initial_rebalance_delay_ms;
        let group = self.group_entry(name);
        if new {
            assert!(group.member(id).is_none(), "group {name}: member id {id} drawn twice");
            if let Some(delay) = &mut group.initial_delay {
                delay.new_member = true;
            }
            if group.leader.is_none() {
                group.leader = Some(id);
                group.assignor = Some(assignor);
            }
            out.notes.push(format!("{tp}: group {name}: {id} ({client:?}) joins, new"));
            group.members.push(Member {
                meta: member,
                assignor,
                last_heard: now,
                awaiting_join: Some(correlation_id),
                awaiting_sync: None,
            });
            if group.state != GroupState::PreparingRebalance {
                Self::prepare_rebalance(&tp, now, group, "new member", initial_delay_ms, out);
            }
        } else {
            let state = group.state;
            let existing = group.member_mut(id).expect("member checked");
            let changed = existing.meta.subscription != member.subscription;
            existing.last_heard = now;
            existing.meta.client = client;
            existing.meta.subscription = member.subscription;
            existing.meta.session_timeout_ms = member.session_timeout_ms;
            existing.meta.rebalance_timeout_ms = member.rebalance_timeout_ms;
            existing.assignor = assignor;
            let is_leader = group.leader == Some(id);
            match state {
                GroupState::PreparingRebalance => {
                    group.member_mut(id).expect("member").awaiting_join = Some(correlation_id);
                }
                // A follower rejoining with the same subscription gets the current
                // generation back; a leader or a changed subscription rebalances.
                GroupState::CompletingRebalance | GroupState::Stable
                    if !(changed || is_leader && state == GroupState::Stable) =>
                {
                    let result = Ok(Self::join_result(group, id));
                    out.sends.push((client, join_response(correlation_id, result)));
                }
                GroupState::CompletingRebalance | GroupState::Stable => {
                    group.member_mut(id).expect("member").awaiting_join = Some(correlation_id);
                    Self::prepare_rebalance(&tp, now, group, "member rejoined", 0, out);
                }
                GroupState::Empty | GroupState::Dead => {
                    unreachable!("group {name}: a known member in {state:?}")
                }
            }
        }
        self.maybe_complete_join(now, name, log, out);
    }

    fn join_result(group: &Group, id: MemberId) -> JoinResult {
        let leader = group.leader.expect("a group with members has a leader");
        let members = if leader == id {
            group.members.iter().map(|m| (m.meta.member_id, m.meta.subscription.clone())).collect()
        } else {
            Vec::new()
        };
        JoinResult {
            generation: group.generation,
            member_id: id,
            leader,
            assignor: group.assignor.expect("a group with members has an assignor"),
            members,
        }
    }

    /// Kafka's `prepareRebalance`: members waiting for their assignment must rejoin; the
    /// join waits for every member up to the largest rebalance timeout, and an empty
    /// group's first one waits `group.initial.rebalance.delay.ms` for more members.
    fn prepare_rebalance(
        tp: &TopicPartition,
        now: Instant,
        group: &mut Group,
        reason: &str,
        initial_delay_ms: u64,
        out: &mut Outbox,
    ) {
        if group.state == GroupState::CompletingRebalance {
            Self::fail_awaiting_syncs(group, ErrorCode::RebalanceInProgress, out);
        }
        let rebalance_timeout_ms =
            group.members.iter().map(|m| m.meta.rebalance_timeout_ms).max().unwrap_or(0);
        let wait_ms = if group.state == GroupState::Empty && initial_delay_ms > 0 {
            group.initial_delay = Some(InitialDelay {
                remaining_ms: rebalance_timeout_ms.saturating_sub(initial_delay_ms),
                new_member: false,
            });
            initial_delay_ms
        } else {
            rebalance_timeout_ms
        };
        group.transition(GroupState::PreparingRebalance);
        group.join_deadline = Some(now + Duration::from_millis(wait_ms));
        out.notes.push(format!(
            "{tp}: group {} preparing rebalance after generation {} ({reason}), waiting up to {wait_ms} ms",
            group.name, group.generation
        ));
    }

    fn fail_awaiting_syncs(group: &mut Group, error: ErrorCode, out: &mut Outbox) {
        for member in &mut group.members {
            if let Some(correlation_id) = member.awaiting_sync.take() {
                let msg = Msg::SyncGroupResponse { correlation_id, result: Err(error) };
                out.sends.push((member.meta.client, msg));
            }
        }
    }

    /// Completes the join when every member rejoined (not during the initial delay), or
    /// when the deadline passed.
    fn maybe_complete_join(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let Some(group) = self.groups.get_mut(name) else { return };
        let Some(deadline) = group.join_deadline else { return };
        let complete = if let Some(delay) = group.initial_delay {
            if now < deadline {
                false
            } else if delay.new_member && delay.remaining_ms > 0 {
                // Kafka's InitialDelayedJoin: members keep arriving, wait once more.
                let initial_ms = self.config.initial_rebalance_delay_ms;
                let wait_ms = initial_ms.min(delay.remaining_ms).max(1);
                group.initial_delay = Some(InitialDelay {
                    remaining_ms: delay.remaining_ms - wait_ms.min(delay.remaining_ms),
                    new_member: false,
                });
                group.join_deadline = Some(now + Duration::from_millis(wait_ms));
                false
            } else {
                true
            }
        } else {
            now >= deadline || group.all_joined()
        };
        if complete {
            self.complete_join(now, name, log, out);
        }
    }

    /// Kafka's `onCompleteJoin`: members that did not rejoin are removed, the generation
    /// bumps and every member gets its JoinGroup answer (the leader with every
    /// subscription). A group left without members is Empty, and its record says so.
    fn complete_join(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let tp = self.tp.clone();
        let group = self.groups.get_mut(name).expect("completing an existing group");
        let (stayed, dropped): (Vec<Member>, Vec<Member>) =
            group.members.drain(..).partition(|m| m.awaiting_join.is_some());
        group.members = stayed;
        for member in &dropped {
            out.notes.push(format!(
                "{tp}: group {name}: {} did not rejoin within the rebalance timeout, removed",
                member.meta.member_id
            ));
        }
        if group.leader.is_some_and(|l| group.member(l).is_none()) {
            group.leader = group.members.first().map(|m| m.meta.member_id);
            group.assignor = group.members.first().map(|m| m.assignor);
        }
        group.generation += 1;
        group.join_deadline = None;
        group.initial_delay = None;
        group.assignment_written = false;
        for member in &mut group.members {
            member.meta.assignment.clear();
        }
        if group.members.is_empty() {
            group.leader = None;
            group.assignor = None;
            group.transition(GroupState::Empty);
            out.notes.push(format!("{tp}: group {name}: generation {} is empty", group.generation));
            let generation = group.generation;
            let record = CoordinatorRecord::GroupMetadata(group.metadata());
            let completion = Completion::GroupRecord { group: name.clone(), generation };
            self.write(now, vec![record], completion, log, out);
            return;
        }
        group.transition(GroupState::CompletingRebalance);
        let ids: Vec<MemberId> = group.members.iter().map(|m| m.meta.member_id).collect();
        out.notes.push(format!(
            "{tp}: group {name}: generation {} completed with members {ids:?}, leader {}",
            group.generation,
            group.leader.expect("members have a leader")
        ));
        for id in ids {
            let result = Self::join_result(group, id);
            let member = group.member_mut(id).expect("member");
            let correlation_id = member.awaiting_join.take().expect("every member rejoined");
            member.last_heard = now;
            out.sends.push((member.meta.client, join_response(correlation_id, Ok(result))));
        }
        group.check();
    }

    /// Kafka's `doSyncGroup`.
    fn sync(
        &mut self,
        now: Instant,
        from: NodeId,
        name: &Arc<str>,
        sync: Sync,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let Sync { correlation_id, generation, member_id, assignments } = sync;
        let reply = |out: &mut Outbox, result| {
            out.sends.push((from, Msg::SyncGroupResponse { correlation_id, result }));
        };
        let Some(group) = self.groups.get_mut(name).filter(|g| g.has(Some(member_id))) else {
            return reply(out, Err(ErrorCode::UnknownMemberId));
        };
        if generation != group.generation {
            return reply(out, Err(ErrorCode::IllegalGeneration));
        }
        let is_leader = group.leader == Some(member_id);
        let state = group.state;
        let member = group.member_mut(member_id).expect("member checked");
        member.last_heard = now;
        match state {
            GroupState::PreparingRebalance => reply(out, Err(ErrorCode::RebalanceInProgress)),
            GroupState::Stable => reply(out, Ok(member.meta.assignment.clone())),
            GroupState::CompletingRebalance => {
                member.awaiting_sync = Some(correlation_id);
                if !is_leader || group.assignment_written {
                    return;
                }
                for member in &mut group.members {
                    let id = member.meta.member_id;
                    member.meta.assignment = assignments
                        .iter()
                        .find(|(m, _)| *m == id)
                        .map(|(_, partitions)| partitions.clone())
                        .unwrap_or_default();
                }
                group.assignment_written = true;
                let record = CoordinatorRecord::GroupMetadata(group.metadata());
                let completion = Completion::GroupRecord { group: name.clone(), generation };
                self.write(now, vec![record], completion, log, out);
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!("group {name}: a member in {state:?}")
            }
        }
    }

    /// Kafka's `handleHeartbeat`.
    fn heartbeat(
        &mut self,
        now: Instant,
        name: &str,
        generation: u32,
        member_id: MemberId,
    ) -> Result<(), ErrorCode> {
        let group = self.groups.get_mut(name).ok_or(ErrorCode::UnknownMemberId)?;
        if !group.has(Some(member_id)) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation != group.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        let state = group.state;
        group.member_mut(member_id).expect("member checked").last_heard = now;
        match state {
            GroupState::PreparingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            GroupState::Empty | GroupState::Dead => Err(ErrorCode::UnknownMemberId),
        }
    }

    /// Kafka's `handleLeaveGroup`.
    fn leave(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        member_id: MemberId,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) -> Result<(), ErrorCode> {
        if !self.groups.get(name).is_some_and(|g| g.has(Some(member_id))) {
            return Err(ErrorCode::UnknownMemberId);
        }
        self.remove_member(now, name, member_id, "left the group", log, out);
        Ok(())
    }

    /// Kafka's `removeMemberAndUpdateGroup`: a pending join or sync is answered
    /// UNKNOWN_MEMBER_ID, and the group rebalances without the member.
    fn remove_member(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        member_id: MemberId,
        reason: &str,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let tp = self.tp.clone();
        let group = self.groups.get_mut(name).expect("removing from an existing group");
        let index = group.members.iter().position(|m| m.meta.member_id == member_id);
        let member = group.members.remove(index.expect("removing a member"));
        let client = member.meta.client;
        if let Some(correlation_id) = member.awaiting_join {
            let error = Err(ErrorCode::UnknownMemberId);
            out.sends.push((client, join_response(correlation_id, error)));
        }
        if let Some(correlation_id) = member.awaiting_sync {
            let result = Err(ErrorCode::UnknownMemberId);
            out.sends.push((client, Msg::SyncGroupResponse { correlation_id, result }));
        }
        if group.leader == Some(member_id) {
            group.leader = group.members.first().map(|m| m.meta.member_id);
            group.assignor = group.members.first().map(|m| m.assignor).or(group.assignor);
        }
        out.notes.push(format!("{tp}: group {name}: {member_id} {reason}"));
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                Self::prepare_rebalance(&tp, now, group, reason, 0, out);
            }
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                unreachable!("group {name}: a member in {:?}", group.state)
            }
        }
        if group.members.is_empty() {
            // A group without members cannot keep an assignor; the join completes empty.
            group.assignor = None;
            group.initial_delay = None;
            group.join_deadline = Some(now);
        }
        self.maybe_complete_join(now, name, log, out);
    }

    /// Kafka's `doCommitOffsets` for the classic protocol.
    fn commit(
        &mut self,
        now: Instant,
        from: NodeId,
        name: &Arc<str>,
        commit: Commit,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        let Commit { correlation_id, generation, member_id, offsets } = commit;
        if let Err(error) = self.check_commit(now, name, generation, member_id) {
            let result = Err(error);
            out.sends.push((from, Msg::OffsetCommitResponse { correlation_id, result }));
            return;
        }
        self.group_entry(name);
        let records = offsets
            .iter()
            .map(|(tp, offset)| CoordinatorRecord::OffsetCommit {
                group: name.clone(),
                tp: tp.clone(),
                offset: *offset,
            })
            .collect();
        let completion =
            Completion::Commit { client: from, correlation_id, group: name.clone(), offsets };
        self.write(now, records, completion, log, out);
    }

    /// Whether a commit is accepted (and it counts as the member's heartbeat).
    fn check_commit(
        &mut self,
        now: Instant,
        name: &str,
        generation: Option<u32>,
        member_id: Option<MemberId>,
    ) -> Result<(), ErrorCode> {
        if !self.config.generation_check {
            // The C4 variant: zombies' commits go through.
            return Ok(());
        }
        let Some(group) = self.groups.get_mut(name) else {
            // Kafka creates the group for a consumer outside group management; a commit
            // naming a generation comes from an older coordinator's group.
            return if generation.is_none() { Ok(()) } else { Err(ErrorCode::IllegalGeneration) };
        };
        if generation.is_none() && group.state == GroupState::Empty {
            return Ok(());
        }
        if !group.has(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation != Some(group.generation) {
            return Err(ErrorCode::IllegalGeneration);
        }
        let member_id = member_id.expect("a member");
        match group.state {
            GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                group.member_mut(member_id).expect("member checked").last_heard = now;
                Ok(())
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!("group {name}: a member in {:?}", group.state)
            }
        }
    }

    /// Appends `records` and parks `completion` until the HW passes them.
    fn write(
        &mut self,
        now: Instant,
        records: Vec<CoordinatorRecord>,
        completion: Completion,
        log: &mut dyn CoordinatorLog,
        out: &mut Outbox,
    ) {
        assert!(!records.is_empty(), "{}: an empty write", self.tp);
        match log.append(records) {
            Ok(last_offset) => {
                assert!(
                    self.writes.last_key_value().is_none_or(|(&k, _)| k < last_offset),
                    "{}: appends go forward",
                    self.tp
                );
                assert!(self.writes.len() < PENDING_WRITES_MAX, "{}: too many writes", self.tp);
                let deadline = now + Duration::from_millis(self.config.offsets_commit_timeout_ms);
                self.writes.insert(last_offset, PendingWrite { deadline, completion });
            }
            Err(error) => self.fail_write(now, completion, error, out),
        }
    }

    /// The partition's HW moved: every write below it is committed (or, when the ISR
    /// shrank below `min.insync.replicas` meanwhile, failed as acks=all fails it).
    pub fn high_watermark_moved(
        &mut self,
        now: Instant,
        high_watermark: u64,
        enough_replicas: bool,
        out: &mut Outbox,
    ) {
        while let Some(entry) = self.writes.first_entry() {
            if *entry.key() >= high_watermark {
                break;
            }
            let offset = *entry.key();
            let write = entry.remove();
            if enough_replicas {
                self.complete_write(now, offset, write.completion, out);
            } else {
                self.fail_write(
                    now,
                    write.completion,
                    ErrorCode::NotEnoughReplicasAfterAppend,
                    out,
                );
            }
        }
    }

    fn complete_write(
        &mut self,
        now: Instant,
        offset: u64,
        completion: Completion,
        out: &mut Outbox,
    ) {
        let tp = self.tp.clone();
        match completion {
            Completion::Commit { client, correlation_id, group, offsets } => {
                for (committed_tp, offset) in offsets {
                    let record = CoordinatorRecord::OffsetCommit {
                        group: group.clone(),
                        tp: committed_tp,
                        offset,
                    };
                    self.replay(now, &record);
                }
                out.notes.push(format!("{tp}: group {group}: commit at offset {offset} committed"));
                out.sends
                    .push((client, Msg::OffsetCommitResponse { correlation_id, result: Ok(()) }));
            }
            Completion::GroupRecord { group: name, generation } => {
                let Some(group) = self.groups.get_mut(&name) else { return };
                // A rebalance started meanwhile: the members rejoin, nothing to answer.
                if group.generation != generation || group.state != GroupState::CompletingRebalance
                {
                    return;
                }
                group.transition(GroupState::Stable);
                out.notes.push(format!(
                    "{tp}: group {name}: generation {generation} stable, record at offset {offset} committed"
                ));
                for member in &mut group.members {
                    if let Some(correlation_id) = member.awaiting_sync.take() {
                        let result = Ok(member.meta.assignment.clone());
                        out.sends.push((
                            member.meta.client,
                            Msg::SyncGroupResponse { correlation_id, result },
                        ));
                    }
                }
            }
        }
    }

    fn fail_write(
        &mut self,
        now: Instant,
        completion: Completion,
        error: ErrorCode,
        out: &mut Outbox,
    ) {
        let tp = self.tp.clone();
        let initial_delay_ms = self.config.initial_rebalance_delay_ms;
        match completion {
            Completion::Commit { client, correlation_id, group, .. } => {
                let error = commit_error(error);
                out.notes.push(format!("{tp}: group {group}: commit failed: {error}"));
                let result = Err(error);
                out.sends.push((client, Msg::OffsetCommitResponse { correlation_id, result }));
            }
            Completion::GroupRecord { group: name, generation } => {
                let Some(group) = self.groups.get_mut(&name) else { return };
                if group.generation != generation || group.state != GroupState::CompletingRebalance
                {
                    return;
                }
                // Kafka's `resetAndPropagateAssignmentError` and a new rebalance.
                let error = group_write_error(error);
                out.notes.push(format!(
                    "{tp}: group {name}: generation {generation} record failed: {error}"
                ));
                Self::fail_awaiting_syncs(group, error, out);
                for member in &mut group.members {
                    member.meta.assignment.clear();
                }
                Self::prepare_rebalance(
                    &tp,
                    now,
                    group,
                    "group record failed",
                    initial_delay_ms,
                    out,
                );
            }
        }
    }

    /// The coordinator's clock: write timeouts, session expiry and join deadlines.
    pub fn tick(&mut self, now: Instant, log: &mut dyn CoordinatorLog, out: &mut Outbox) {
        if self.writes.is_empty() && self.groups.is_empty() {
            return;
        }
        let expired: Vec<u64> = self
            .writes
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(&offset, _)| offset)
            .collect();
        for offset in expired {
            let write = self.writes.remove(&offset).expect("expired write");
            self.fail_write(now, write.completion, ErrorCode::RequestTimedOut, out);
        }
        if !self.is_loaded() {
            return;
        }
        let names: Vec<Arc<str>> = self.groups.keys().cloned().collect();
        for name in names {
            let group = &self.groups[&name];
            let expired: Vec<MemberId> =
                group.members.iter().filter(|m| m.expired(now)).map(|m| m.meta.member_id).collect();
            for member_id in expired {
                self.remove_member(now, &name, member_id, "session expired", log, out);
            }
            self.maybe_complete_join(now, &name, log, out);
            self.groups[&name].check();
        }
    }

    /// Leadership is over: every waiting request fails with NOT_COORDINATOR (the members
    /// find the new coordinator), every group is Dead.
    pub fn unload(mut self, out: &mut Outbox) {
        for write in std::mem::take(&mut self.writes).into_values() {
            if let Completion::Commit { client, correlation_id, .. } = write.completion {
                let result = Err(ErrorCode::NotCoordinator);
                out.sends.push((client, Msg::OffsetCommitResponse { correlation_id, result }));
            }
        }
        for group in self.groups.values_mut() {
            for member in &mut group.members {
                let client = member.meta.client;
                if let Some(correlation_id) = member.awaiting_join.take() {
                    let error = Err(ErrorCode::NotCoordinator);
                    out.sends.push((client, join_response(correlation_id, error)));
                }
                if let Some(correlation_id) = member.awaiting_sync.take() {
                    let result = Err(ErrorCode::NotCoordinator);
                    out.sends.push((client, Msg::SyncGroupResponse { correlation_id, result }));
                }
            }
            group.transition(GroupState::Dead);
        }
        out.notes.push(format!(
            "{}: coordinator of epoch {} unloaded {} groups",
            self.tp,
            self.leader_epoch,
            self.groups.len()
        ));
    }
}

/// A JoinGroup as the coordinator handles it.
struct Join {
    correlation_id: u64,
    /// No member id given: a new member.
    new: bool,
    member: MemberMetadata,
    assignor: Assignor,
}

struct Sync {
    correlation_id: u64,
    generation: u32,
    member_id: MemberId,
    assignments: Vec<(MemberId, Vec<TopicPartition>)>,
}

struct Commit {
    correlation_id: u64,
    generation: Option<u32>,
    member_id: Option<MemberId>,
    offsets: Vec<(TopicPartition, CommittedOffset)>,
}

#[cfg(test)]
mod tests;
