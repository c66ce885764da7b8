//! `KafkaNode`: the one node type of a Kafka simulation, an enum over the roles, so that
//! one `Sim` runs brokers, the controller and clients together.

use crate::sim::node::{Context, Node, NodeId};

use super::broker::Broker;
use super::consumer::Consumer;
use super::controller::Controller;
use super::producer::Producer;
use super::protocol::{Entry, KafkaObs, Msg, Timer};

#[derive(Clone, Debug)]
pub enum KafkaNode {
    Broker(Broker),
    Controller(Controller),
    Producer(Producer),
    Consumer(Consumer),
}

impl KafkaNode {
    pub fn as_broker(&self) -> Option<&Broker> {
        match self {
            KafkaNode::Broker(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_controller(&self) -> Option<&Controller> {
        match self {
            KafkaNode::Controller(c) => Some(c),
            _ => None,
        }
    }

    pub fn as_producer(&self) -> Option<&Producer> {
        match self {
            KafkaNode::Producer(p) => Some(p),
            _ => None,
        }
    }

    pub fn as_consumer(&self) -> Option<&Consumer> {
        match self {
            KafkaNode::Consumer(c) => Some(c),
            _ => None,
        }
    }
}

impl Node for KafkaNode {
    type Msg = Msg;
    type Timer = Timer;
    type Entry = Entry;
    type Obs = KafkaObs;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        match self {
            KafkaNode::Broker(n) => n.on_start(ctx),
            KafkaNode::Controller(n) => n.on_start(ctx),
            KafkaNode::Producer(n) => n.on_start(ctx),
            KafkaNode::Consumer(n) => n.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            KafkaNode::Broker(n) => n.on_message(ctx, from, msg),
            KafkaNode::Controller(n) => n.on_message(ctx, from, msg),
            KafkaNode::Producer(n) => n.on_message(ctx, from, msg),
            KafkaNode::Consumer(n) => n.on_message(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match self {
            KafkaNode::Broker(n) => n.on_timer(ctx, timer),
            KafkaNode::Controller(n) => n.on_timer(ctx, timer),
            KafkaNode::Producer(n) => n.on_timer(ctx, timer),
            KafkaNode::Consumer(n) => n.on_timer(ctx, timer),
        }
    }
}
