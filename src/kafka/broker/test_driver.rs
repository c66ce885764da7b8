//! The broker unit tests' driver: one broker with its own disk and random stream, its
//! handlers run through a detached context at simulated time zero.

use crate::kafka::node::KafkaNode;
use crate::kafka::protocol::{MetadataImage, Msg};
use crate::sim::node::{Detached, NodeId};
use crate::sim::rng::SimRng;

use super::{Broker, BrokerConfig, Ctx};

pub(super) struct Driver {
    pub broker: Broker,
    pub node: Detached<KafkaNode>,
}

impl Driver {
    /// Broker `id` with `config`; `stream` names its random stream.
    pub fn new(id: NodeId, config: BrokerConfig, stream: &str) -> Self {
        let rng = SimRng::stream(u64::from(id.0), stream);
        Driver { broker: Broker::new(config), node: Detached::new(id, rng) }
    }

    /// Runs a handler; its effects accumulate until [`Driver::take_sends`].
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Broker, &mut Ctx<'_>) -> R) -> R {
        f(&mut self.broker, &mut self.node.context())
    }

    pub fn start(&mut self) {
        self.with(|b, ctx| b.on_start(ctx));
    }

    /// The controller at `controller` accepts the broker's registration with `image`; what
    /// the broker sends accumulates.
    pub fn register(&mut self, controller: NodeId, image: MetadataImage) {
        let incarnation = self.broker.incarnation;
        self.handle(controller, Msg::BrokerRegistrationResponse { incarnation, result: Ok(image) });
    }

    /// Delivers `msg`; what the broker sends accumulates.
    pub fn handle(&mut self, from: NodeId, msg: Msg) {
        self.with(|b, ctx| b.on_message(ctx, from, msg));
    }

    /// What the broker sent since the last call.
    pub fn take_sends(&mut self) -> Vec<(NodeId, Msg)> {
        let sends = self.node.effects.sends().to_vec();
        self.node.effects.clear();
        sends
    }

    /// Delivers `msg`; returns what the broker sent since the last take (its answer).
    pub fn deliver(&mut self, from: NodeId, msg: Msg) -> Vec<(NodeId, Msg)> {
        self.handle(from, msg);
        self.take_sends()
    }
}
