//! The broker unit tests' driver: one broker with its own disk and random stream, its
//! handlers run through detached contexts at simulated time zero.

use crate::kafka::node::KafkaNode;
use crate::kafka::protocol::{Entry, Msg};
use crate::sim::disk::Disk;
use crate::sim::node::{Context, Effects, NodeId};
use crate::sim::rng::SimRng;
use crate::sim::time::Instant;

use super::{Broker, BrokerConfig, Ctx};

pub(super) struct Driver {
    pub broker: Broker,
    pub effects: Effects<KafkaNode>,
    disk: Disk<Entry>,
    rng: SimRng,
    timer_ids: u64,
    id: NodeId,
}

impl Driver {
    /// Broker `id` with `config`; `stream` names its random stream.
    pub fn new(id: NodeId, config: BrokerConfig, stream: &str) -> Self {
        Driver {
            broker: Broker::new(config),
            effects: Effects::default(),
            disk: Disk::new(),
            rng: SimRng::stream(u64::from(id.0), stream),
            timer_ids: 0,
            id,
        }
    }

    /// Runs a handler; its effects accumulate until [`Driver::take_sends`].
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Broker, &mut Ctx<'_>) -> R) -> R {
        let mut ctx = Context::detached(
            self.id,
            Instant::ZERO,
            &mut self.rng,
            &mut self.disk,
            &mut self.effects,
            &mut self.timer_ids,
        );
        f(&mut self.broker, &mut ctx)
    }

    pub fn start(&mut self) {
        self.with(|b, ctx| b.on_start(ctx));
    }

    /// Delivers `msg`; what the broker sends accumulates.
    pub fn handle(&mut self, from: NodeId, msg: Msg) {
        self.with(|b, ctx| b.on_message(ctx, from, msg));
    }

    /// What the broker sent since the last call.
    pub fn take_sends(&mut self) -> Vec<(NodeId, Msg)> {
        let sends = self.effects.sends().to_vec();
        self.effects.clear();
        sends
    }

    /// Delivers `msg`; returns what the broker sent since the last take (its answer).
    pub fn deliver(&mut self, from: NodeId, msg: Msg) -> Vec<(NodeId, Msg)> {
        self.handle(from, msg);
        self.take_sends()
    }
}
