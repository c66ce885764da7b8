//! `Sim`: one value that owns all state of a run (nodes, disks, clocks, network, event
//! queue, trace, history) and processes events one at a time in (time, sequence) order.

use std::collections::VecDeque;

use super::clock::Clock;
use super::disk::Disk;
use super::fault::{Fault, FaultKind};
use super::net::{Fate, NetConfig, Network};
use super::node::{Context, Effects, Node, NodeId, TimerId};
use super::rng::SimRng;
use super::scheduler::Scheduler;
use super::time::{Duration, Instant};
use super::trace::{EventKind, StableHasher, Trace};

/// Most events the queue may hold at once (the scheduler numbers slots in 24 bits).
const QUEUE_LEN_MAX: usize = 16_000_000;
/// Most events a paused node may have waiting for it.
const PARKED_LEN_MAX: usize = 1_000_000;
/// Most observations a run may hold before they are drained ([`Sim::drain_history`]).
const HISTORY_LEN_MAX: usize = 100_000_000;
/// How often the operating system's flusher wakes (Linux: `dirty_writeback_centisecs`).
const WRITEBACK_PERIOD: Duration = Duration::from_secs(5);

/// Everything that shapes a run besides its nodes and faults.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub net: NetConfig,
    /// Dirty pages older than this reach the disk by themselves (Linux's
    /// `dirty_expire_centisecs`: 30 s); `None` keeps them unflushed until fsync.
    pub writeback_age: Option<Duration>,
    /// Keep every event (not only the hash), for `--check-determinism`.
    pub record_trace: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            net: NetConfig::default(),
            writeback_age: Some(Duration::from_secs(30)),
            record_trace: false,
        }
    }
}

/// One entry of the run's history: what a node observed, and when.
#[derive(Clone, Debug)]
pub struct Observed<O> {
    pub time: Instant,
    pub node: NodeId,
    pub obs: O,
}

enum Event<N: Node> {
    Start { node: NodeId, incarnation: u32 },
    Deliver { from: NodeId, to: NodeId, msg: N::Msg },
    Timer { node: NodeId, incarnation: u32, id: TimerId, timer: N::Timer },
    FaultStart { fault_idx: usize },
    FaultEnd { fault_idx: usize },
    Resolve { deferred_idx: usize },
    Writeback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultState {
    Pending,
    Active,
    Done,
}

struct Slot<N: Node> {
    name: String,
    node: Option<N>,
    disk: Disk<N::Entry>,
    rng: SimRng,
    clock: Clock,
    /// Bumped at every crash, so timers of a dead incarnation never fire.
    incarnation: u32,
    /// Overlapping crash faults: the node restarts when the last one ends.
    crash_depth: u32,
    pause_depth: u32,
    parked: VecDeque<Event<N>>,
    live_timers: LiveTimers,
}

/// A node's timers set and not yet fired or cancelled. Timer ids grow with every timer set
/// in the run, so the set is a sorted vector that grows at its end; a node has a handful
/// of timers, and this costs a fraction of a tree's look-ups on every timer event.
#[derive(Default)]
struct LiveTimers(Vec<TimerId>);

impl LiveTimers {
    fn insert(&mut self, id: TimerId) {
        assert!(self.0.last().is_none_or(|&last| last < id), "timer ids grow");
        self.0.push(id);
    }

    fn contains(&self, id: TimerId) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    fn remove(&mut self, id: TimerId) {
        if let Ok(idx) = self.0.binary_search(&id) {
            self.0.remove(idx);
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Resolves a fault when it is due, from the run's state at that moment: the fault to start
/// now, or `None` when there is nothing to hit. Lets a fault aim at a role, such as the
/// current leader of a partition, that only the simulated system knows.
pub type Deferred<N> = Box<dyn FnOnce(&Sim<N>) -> Option<Fault>>;

/// The simulation of one run.
pub struct Sim<N: Node> {
    config: SimConfig,
    boot: Box<dyn Fn(NodeId) -> N>,
    now: Instant,
    slots: Vec<Slot<N>>,
    queue: Scheduler<Event<N>>,
    net: Network,
    faults: Vec<(Fault, FaultState)>,
    /// Faults resolved when due ([`Sim::schedule_deferred`]); taken when resolved or healed.
    deferred: Vec<Option<Deferred<N>>>,
    trace: Trace,
    /// Observations made since the last [`Sim::drain_history`] (all of them if never).
    history: Vec<Observed<N::Obs>>,
    next_timer_id: u64,
    /// Fault starts and ends applied so far, so observers can look right after each.
    n_fault_transitions: u64,
    /// Reused between handlers so effects cost no allocation in the steady state.
    effects: Effects<N>,
}

impl<N: Node> Sim<N> {
    /// A new run. `boot` builds a node from its configuration alone: at the start, and
    /// again at every restart, when the node must recover from its disk.
    pub fn new(config: SimConfig, boot: impl Fn(NodeId) -> N + 'static) -> Self {
        let net = Network::new(config.net.clone(), SimRng::stream(config.seed, "network"));
        let mut queue = Scheduler::new(QUEUE_LEN_MAX);
        if config.writeback_age.is_some() {
            queue.push(Instant::ZERO + WRITEBACK_PERIOD, Event::Writeback);
        }
        Sim {
            trace: Trace::new(config.record_trace),
            config,
            boot: Box::new(boot),
            now: Instant::ZERO,
            slots: Vec::new(),
            queue,
            net,
            faults: Vec::new(),
            deferred: Vec::new(),
            history: Vec::new(),
            next_timer_id: 0,
            n_fault_transitions: 0,
            effects: Effects::default(),
        }
    }

    /// Adds a node; it boots and starts at the current time. Names must be unique.
    pub fn add_node(&mut self, name: &str) -> NodeId {
        assert!(self.id_of(name).is_none(), "node name {name} used twice");
        let id = NodeId(u32::try_from(self.slots.len()).expect("fewer than 2^32 nodes"));
        self.slots.push(Slot {
            name: name.to_string(),
            node: Some((self.boot)(id)),
            disk: Disk::new(),
            rng: SimRng::stream(self.config.seed, &format!("node/{name}")),
            clock: Clock::default(),
            incarnation: 0,
            crash_depth: 0,
            pause_depth: 0,
            parked: VecDeque::new(),
            live_timers: LiveTimers::default(),
        });
        self.net.resize(self.slots.len());
        self.queue.push(self.now, Event::Start { node: id, incarnation: 0 });
        id
    }

    /// Schedules a fault; it takes effect at `fault.at` (not before the current time).
    pub fn schedule_fault(&mut self, fault: Fault) {
        for node in fault.kind.nodes() {
            assert!((node.0 as usize) < self.slots.len(), "fault names unknown node {node:?}");
        }
        let at = fault.at.max(self.now);
        let fault_idx = self.faults.len();
        self.faults.push((fault, FaultState::Pending));
        self.queue.push(at, Event::FaultStart { fault_idx });
    }

    /// Schedules a fault resolved at `at` (not before the current time) by `resolve`; the
    /// fault it returns starts then, whatever its own `at`.
    pub fn schedule_deferred(&mut self, at: Instant, resolve: Deferred<N>) {
        let deferred_idx = self.deferred.len();
        self.deferred.push(Some(resolve));
        self.queue.push(at.max(self.now), Event::Resolve { deferred_idx });
    }

    /// Processes every event up to and including `deadline`, then sets the time to it.
    pub fn run_until(&mut self, deadline: Instant) {
        while self.step_before(deadline) {}
        self.advance_to(deadline);
    }

    /// Processes the next event if it is due at or before `deadline`; false when none is.
    /// With [`Sim::advance_to`], lets a caller look at the state between events.
    pub fn step_before(&mut self, deadline: Instant) -> bool {
        assert!(deadline >= self.now, "time runs forward only");
        self.queue.peek_time().is_some_and(|t| t <= deadline) && self.step()
    }

    /// Moves the clock to `deadline` once no event is due before it.
    pub fn advance_to(&mut self, deadline: Instant) {
        assert!(deadline >= self.now, "time runs forward only");
        assert!(
            self.queue.peek_time().is_none_or(|t| t > deadline),
            "events are due before {deadline}"
        );
        self.now = deadline;
    }

    /// Processes the next event. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some((time, event)) = self.queue.pop() else {
            return false;
        };
        assert!(time >= self.now, "event at {time} scheduled in the past of {}", self.now);
        self.now = time;
        match event {
            Event::Start { node, incarnation } => self.on_start(node, incarnation),
            Event::Deliver { from, to, msg } => self.on_deliver(from, to, msg),
            Event::Timer { node, incarnation, id, timer } => {
                self.on_timer(node, incarnation, id, timer)
            }
            Event::FaultStart { fault_idx } => self.start_fault(fault_idx),
            Event::FaultEnd { fault_idx } => self.end_fault(fault_idx),
            Event::Resolve { deferred_idx } => self.resolve(deferred_idx),
            Event::Writeback => self.writeback(),
        }
        true
    }

    /// Ends every active fault now and cancels those not yet started: the heal phase.
    pub fn heal_all(&mut self) {
        for fault_idx in 0..self.faults.len() {
            match self.faults[fault_idx].1 {
                FaultState::Pending => self.faults[fault_idx].1 = FaultState::Done,
                FaultState::Active => self.end_fault(fault_idx),
                FaultState::Done => {}
            }
        }
        self.deferred.iter_mut().for_each(|d| *d = None);
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// The node's state, or `None` while it is crashed.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.slots[id.0 as usize].node.as_ref()
    }

    pub fn disk(&self, id: NodeId) -> &Disk<N::Entry> {
        &self.slots[id.0 as usize].disk
    }

    pub fn name(&self, id: NodeId) -> &str {
        &self.slots[id.0 as usize].name
    }

    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        self.slots.iter().position(|s| s.name == name).map(|idx| NodeId(idx as u32))
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + use<N> {
        (0..self.slots.len() as u32).map(NodeId)
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.slots[id.0 as usize].pause_depth > 0
    }

    /// The node's clock reading now.
    pub fn clock_of(&mut self, id: NodeId) -> Instant {
        let now = self.now;
        self.slots[id.0 as usize].clock.read(now)
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The observations made since the last [`Sim::drain_history`], in time order: the
    /// whole history of a run that never drains.
    pub fn history(&self) -> &[Observed<N::Obs>] {
        &self.history
    }

    /// Takes the observations made since the last call, in time order. A long run drains as
    /// it goes, so that its observers read each observation while it is fresh and the
    /// buffer never grows past what a short stretch of the run observes.
    pub fn drain_history(&mut self) -> std::vec::Drain<'_, Observed<N::Obs>> {
        self.history.drain(..)
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn faults(&self) -> impl Iterator<Item = &Fault> {
        self.faults.iter().map(|(f, _)| f)
    }

    /// How many fault starts and ends have been applied so far.
    pub fn n_fault_transitions(&self) -> u64 {
        self.n_fault_transitions
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    fn slot(&mut self, id: NodeId) -> &mut Slot<N> {
        &mut self.slots[id.0 as usize]
    }

    /// True when the event must wait for the node to resume.
    fn park_if_paused(&mut self, node: NodeId, event: Event<N>) -> Option<Event<N>> {
        let slot = self.slot(node);
        if slot.pause_depth == 0 {
            return Some(event);
        }
        assert!(
            slot.parked.len() < PARKED_LEN_MAX,
            "paused node {} holds too many events",
            slot.name
        );
        slot.parked.push_back(event);
        None
    }

    fn on_start(&mut self, node: NodeId, incarnation: u32) {
        let slot = self.slot(node);
        if slot.incarnation != incarnation || slot.node.is_none() {
            return;
        }
        let Some(Event::Start { .. }) =
            self.park_if_paused(node, Event::Start { node, incarnation })
        else {
            return;
        };
        self.trace.event(self.now, EventKind::Start, Some(node), None, incarnation as u64, || {
            format!("start incarnation {incarnation}")
        });
        self.run_handler(node, |n, ctx| n.on_start(ctx));
    }

    fn on_deliver(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        let down = self.slots[to.0 as usize].node.is_none();
        if down || self.net.is_blocked(from, to) {
            let digest = StableHasher::hash_of(&msg);
            let why = if down { "node down" } else { "partitioned in flight" };
            self.trace.event(self.now, EventKind::Drop, Some(to), Some(from), digest, || {
                format!("drop ({why}) {msg:?}")
            });
            return;
        }
        if self.slots[to.0 as usize].pause_depth > 0 {
            self.park_if_paused(to, Event::Deliver { from, to, msg });
            return;
        }
        let digest = StableHasher::hash_of(&msg);
        self.trace.event(self.now, EventKind::Deliver, Some(to), Some(from), digest, || {
            format!("{msg:?}")
        });
        self.run_handler(to, |n, ctx| n.on_message(ctx, from, msg));
    }

    fn on_timer(&mut self, node: NodeId, incarnation: u32, id: TimerId, timer: N::Timer) {
        let slot = self.slot(node);
        if slot.incarnation != incarnation || !slot.live_timers.contains(id) {
            return;
        }
        let Some(Event::Timer { timer, .. }) =
            self.park_if_paused(node, Event::Timer { node, incarnation, id, timer })
        else {
            return;
        };
        self.slot(node).live_timers.remove(id);
        let digest = StableHasher::hash_of(&timer);
        self.trace
            .event(self.now, EventKind::Timer, Some(node), None, digest, || format!("{timer:?}"));
        self.run_handler(node, |n, ctx| n.on_timer(ctx, timer));
    }

    /// Runs one handler and applies the effects it pushed.
    fn run_handler(&mut self, id: NodeId, handler: impl FnOnce(&mut N, &mut Context<'_, N>)) {
        debug_assert!(self.effects.is_empty());
        let now = self.now;
        let slot = &mut self.slots[id.0 as usize];
        let now_local = slot.clock.read(now);
        slot.disk.set_now(now);
        let node = slot.node.as_mut().expect("handlers run only on live nodes");
        let mut ctx = Context {
            id,
            now_local,
            rng: &mut slot.rng,
            disk: &mut slot.disk,
            effects: &mut self.effects,
            next_timer_id: &mut self.next_timer_id,
        };
        handler(node, &mut ctx);
        self.apply_effects(id);
    }

    fn apply_effects(&mut self, id: NodeId) {
        let effects = &mut self.effects;
        if !effects.timers_set.is_empty() || !effects.timers_cancelled.is_empty() {
            let slot = &mut self.slots[id.0 as usize];
            let incarnation = slot.incarnation;
            for (timer_id, delay, timer) in effects.timers_set.drain(..) {
                let at = self.now + slot.clock.to_sim_delay(delay);
                slot.live_timers.insert(timer_id);
                self.queue.push(at, Event::Timer { node: id, incarnation, id: timer_id, timer });
            }
            // After the sets: a handler may cancel a timer it set a moment before.
            for cancelled in effects.timers_cancelled.drain(..) {
                slot.live_timers.remove(cancelled);
            }
        }
        for (to, msg) in effects.sends.drain(..) {
            assert!((to.0 as usize) < self.slots.len(), "send to unknown node {to:?}");
            route(&mut self.net, &mut self.queue, &mut self.trace, self.now, id, to, msg);
        }
        if !effects.annotations.is_empty() {
            for text in effects.annotations.drain(..) {
                let digest = StableHasher::hash_of(&text);
                self.trace.event(self.now, EventKind::Annotation, Some(id), None, digest, || text);
            }
        }
        if !effects.observations.is_empty() {
            assert!(self.history.len() + effects.observations.len() <= HISTORY_LEN_MAX);
            let now = self.now;
            self.history.extend(effects.observations.drain(..).map(|obs| Observed {
                time: now,
                node: id,
                obs,
            }));
        }
    }

    fn writeback(&mut self) {
        let age = self.config.writeback_age.expect("writeback scheduled only when enabled");
        let now = self.now;
        for slot in &mut self.slots {
            slot.disk.writeback(now, age);
        }
        self.queue.push(now + WRITEBACK_PERIOD, Event::Writeback);
    }

    /// Resolves a deferred fault and starts what it resolved to (unless healed since).
    fn resolve(&mut self, deferred_idx: usize) {
        let Some(resolve) = self.deferred[deferred_idx].take() else { return };
        let Some(mut fault) = resolve(self) else {
            self.trace.event(self.now, EventKind::Fault, None, None, deferred_idx as u64, || {
                format!("deferred fault {deferred_idx} resolved to nothing")
            });
            return;
        };
        for node in fault.kind.nodes() {
            assert!((node.0 as usize) < self.slots.len(), "fault names unknown node {node:?}");
        }
        fault.at = self.now;
        let fault_idx = self.faults.len();
        self.faults.push((fault, FaultState::Pending));
        self.start_fault(fault_idx);
    }

    fn start_fault(&mut self, fault_idx: usize) {
        if self.faults[fault_idx].1 != FaultState::Pending {
            return;
        }
        self.faults[fault_idx].1 = FaultState::Active;
        self.n_fault_transitions += 1;
        let fault = self.faults[fault_idx].0.clone();
        self.trace.event(self.now, EventKind::Fault, None, None, fault_idx as u64, || {
            format!("start {fault:?}")
        });
        match &fault.kind {
            FaultKind::Partition { groups } => self.block_groups(groups, true),
            FaultKind::PartitionOneWay { from, to } => self.block_links(from, to, true),
            FaultKind::Crash { nodes, lose_unflushed } => {
                nodes.iter().for_each(|&node| self.crash(node, *lose_unflushed))
            }
            FaultKind::Pause { nodes } => {
                nodes.iter().for_each(|&node| self.slot(node).pause_depth += 1)
            }
            FaultKind::ClockSkew { nodes, offset_ns, drift_ppm } => {
                let now = self.now;
                for &node in nodes {
                    self.slot(node).clock.set_skew(now, *offset_ns, *drift_ppm);
                }
            }
            FaultKind::Loss { nodes, rate } => {
                self.net.add_loss_fault(fault_idx as u64, nodes.clone(), *rate)
            }
        }
        if let Some(duration) = fault.duration {
            self.queue.push(self.now + duration, Event::FaultEnd { fault_idx });
        }
    }

    fn end_fault(&mut self, fault_idx: usize) {
        if self.faults[fault_idx].1 != FaultState::Active {
            return;
        }
        self.faults[fault_idx].1 = FaultState::Done;
        self.n_fault_transitions += 1;
        let fault = self.faults[fault_idx].0.clone();
        self.trace.event(self.now, EventKind::Fault, None, None, fault_idx as u64, || {
            format!("end {fault:?}")
        });
        match &fault.kind {
            FaultKind::Partition { groups } => self.block_groups(groups, false),
            FaultKind::PartitionOneWay { from, to } => self.block_links(from, to, false),
            FaultKind::Crash { nodes, .. } => nodes.iter().for_each(|&node| self.restart(node)),
            FaultKind::Pause { nodes } => nodes.iter().for_each(|&node| self.resume(node)),
            FaultKind::ClockSkew { nodes, .. } => {
                let now = self.now;
                for &node in nodes {
                    self.slot(node).clock.clear_skew(now);
                }
            }
            FaultKind::Loss { .. } => self.net.remove_loss_fault(fault_idx as u64),
        }
    }

    fn block_groups(&mut self, groups: &[Vec<NodeId>], block: bool) {
        for (idx, side) in groups.iter().enumerate() {
            for other in groups.iter().skip(idx + 1) {
                self.block_links(side, other, block);
                self.block_links(other, side, block);
            }
        }
    }

    fn block_links(&mut self, from: &[NodeId], to: &[NodeId], block: bool) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.net.set_blocked(a, b, block);
                }
            }
        }
    }

    fn crash(&mut self, node: NodeId, lose_unflushed: bool) {
        let slot = self.slot(node);
        slot.crash_depth += 1;
        slot.node = None;
        slot.incarnation += 1;
        slot.live_timers.clear();
        slot.parked.clear();
        slot.disk.crash(lose_unflushed);
    }

    fn restart(&mut self, node: NodeId) {
        let slot = self.slot(node);
        assert!(slot.crash_depth > 0, "restart of node {} that is not crashed", slot.name);
        slot.crash_depth -= 1;
        if slot.crash_depth > 0 {
            return;
        }
        let fresh = (self.boot)(node);
        let slot = self.slot(node);
        slot.node = Some(fresh);
        let incarnation = slot.incarnation;
        self.queue.push(self.now, Event::Start { node, incarnation });
    }

    fn resume(&mut self, node: NodeId) {
        let now = self.now;
        let slot = self.slot(node);
        assert!(slot.pause_depth > 0, "resume of node {} that is not paused", slot.name);
        slot.pause_depth -= 1;
        if slot.pause_depth > 0 {
            return;
        }
        let parked = std::mem::take(&mut slot.parked);
        for event in parked {
            self.queue.push(now, event);
        }
    }
}

/// Hands one message to the network and schedules its delivery (or records its drop).
fn route<N: Node>(
    net: &mut Network,
    queue: &mut Scheduler<Event<N>>,
    trace: &mut Trace,
    now: Instant,
    from: NodeId,
    to: NodeId,
    msg: N::Msg,
) {
    match net.route(now, from, to) {
        Fate::Dropped => {
            let digest = StableHasher::hash_of(&msg);
            trace.event(now, EventKind::Drop, Some(to), Some(from), digest, || {
                format!("drop (network) {msg:?}")
            });
        }
        Fate::Deliver(at, duplicate_at) => {
            if let Some(dup_at) = duplicate_at {
                queue.push(dup_at, Event::Deliver { from, to, msg: msg.clone() });
            }
            queue.push(at, Event::Deliver { from, to, msg });
        }
    }
}

#[cfg(test)]
#[path = "world_tests.rs"]
mod tests;
