//! The sans-IO node interface. A node is a state machine: the kernel hands it one event
//! and a [`Context`]; the node reads its clock, its disk and its random stream through the
//! context and pushes effects (sends, timers, annotations, history observations) into it.
//! Nothing else reaches the outside world.

use std::fmt::Debug;
use std::hash::Hash;

use super::disk::Disk;
use super::rng::SimRng;
use super::time::{Duration, Instant};

/// A node's index in the simulation, in the order nodes were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// A timer set by a node; unique within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// A simulated process. Handlers must be deterministic functions of the node's state,
/// the event and the context.
pub trait Node {
    /// What nodes send each other.
    type Msg: Clone + Debug + Hash;
    /// The payload of a timer, handed back when it fires.
    type Timer: Clone + Debug + Hash;
    /// What the node writes to its disk.
    type Entry: Clone + Debug;
    /// What the node records into the run's history (for checkers); survives crashes.
    type Obs: Clone + Debug;

    /// The node (re)starts. A fresh node after a crash finds only its disk.
    fn on_start(&mut self, ctx: &mut Context<'_, Self>);
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Self::Timer);
}

/// What a handler asked for, applied by the kernel once the handler returns.
#[derive(Debug)]
pub struct Effects<N: Node + ?Sized> {
    pub(crate) sends: Vec<(NodeId, N::Msg)>,
    pub(crate) timers_set: Vec<(TimerId, Duration, N::Timer)>,
    pub(crate) timers_cancelled: Vec<TimerId>,
    pub(crate) annotations: Vec<String>,
    pub(crate) observations: Vec<N::Obs>,
}

impl<N: Node + ?Sized> Default for Effects<N> {
    fn default() -> Self {
        Effects {
            sends: Vec::new(),
            timers_set: Vec::new(),
            timers_cancelled: Vec::new(),
            annotations: Vec::new(),
            observations: Vec::new(),
        }
    }
}

impl<N: Node + ?Sized> Effects<N> {
    pub(crate) fn is_empty(&self) -> bool {
        self.sends.is_empty()
            && self.timers_set.is_empty()
            && self.timers_cancelled.is_empty()
            && self.annotations.is_empty()
            && self.observations.is_empty()
    }
}

/// A handler's view of the world.
pub struct Context<'a, N: Node + ?Sized> {
    pub(crate) id: NodeId,
    pub(crate) now_local: Instant,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) disk: &'a mut Disk<N::Entry>,
    pub(crate) effects: &'a mut Effects<N>,
    pub(crate) next_timer_id: &'a mut u64,
}

/// A node's surroundings outside the kernel, for unit tests of its handlers: its id,
/// clock, random stream and disk, and the effects its handlers push (which the test reads
/// and clears; nothing applies them).
pub struct Detached<N: Node + ?Sized> {
    pub id: NodeId,
    /// The node's clock; tests move it.
    pub now: Instant,
    pub rng: SimRng,
    pub disk: Disk<N::Entry>,
    pub effects: Effects<N>,
    next_timer_id: u64,
}

impl<N: Node + ?Sized> Detached<N> {
    pub fn new(id: NodeId, rng: SimRng) -> Self {
        Detached {
            id,
            now: Instant::ZERO,
            rng,
            disk: Disk::new(),
            effects: Effects::default(),
            next_timer_id: 0,
        }
    }

    /// A context for one handler call at `now`.
    pub fn context(&mut self) -> Context<'_, N> {
        self.disk.set_now(self.now);
        Context {
            id: self.id,
            now_local: self.now,
            rng: &mut self.rng,
            disk: &mut self.disk,
            effects: &mut self.effects,
            next_timer_id: &mut self.next_timer_id,
        }
    }
}

impl<'a, N: Node + ?Sized> Context<'a, N> {
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's clock: simulated time plus the node's skew and drift.
    pub fn now(&self) -> Instant {
        self.now_local
    }

    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    pub fn disk(&mut self) -> &mut Disk<N::Entry> {
        self.disk
    }

    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.effects.sends.push((to, msg));
    }

    /// Fires `timer` after `delay` as measured by this node's clock.
    pub fn set_timer(&mut self, delay: Duration, timer: N::Timer) -> TimerId {
        let id = TimerId(*self.next_timer_id);
        *self.next_timer_id += 1;
        self.effects.timers_set.push((id, delay, timer));
        id
    }

    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.timers_cancelled.push(id);
    }

    /// A line in the trace, for explanations ("elected leader of p0 in epoch 4").
    pub fn annotate(&mut self, text: impl Into<String>) {
        self.effects.annotations.push(text.into());
    }

    /// Records an observation into the run's history, stamped with simulated time.
    pub fn observe(&mut self, obs: N::Obs) {
        self.effects.observations.push(obs);
    }
}

/// Takes the effects out of a detached context's buffer, for node unit tests.
impl<N: Node + ?Sized> Effects<N> {
    pub fn sends(&self) -> &[(NodeId, N::Msg)] {
        &self.sends
    }
    pub fn timers_set(&self) -> &[(TimerId, Duration, N::Timer)] {
        &self.timers_set
    }
    pub fn observations(&self) -> &[N::Obs] {
        &self.observations
    }
    pub fn clear(&mut self) {
        *self = Effects::default();
    }
}
