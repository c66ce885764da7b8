//! The system under test: Kafka as sans-IO nodes on the kernel.
//!
//! This is the walking skeleton: a real end-to-end path (producer -> leader -> followers ->
//! consumer, a controller that fences brokers and elects leaders, follower truncation by
//! leader epoch) that the replication and client issues grow into the faithful protocol.
//!
//! - [`protocol`]: messages, timers, disk entries and history observations.
//! - [`log`]: a replica's partition log (offsets, leader-epoch cache, LEO, HW, truncation).
//! - [`broker`]: leader and follower replicas, produce/fetch/metadata handling.
//! - [`controller`]: broker sessions, fencing, leader election, the metadata log.
//! - [`producer`], [`consumer`], [`client`]: the clients and their shared metadata cache.
//! - [`node`]: [`KafkaNode`], the one node type; [`cluster`]: [`build_sim`] and [`Layout`].

pub mod broker;
pub mod client;
pub mod cluster;
pub mod consumer;
pub mod controller;
pub mod log;
pub mod node;
pub mod producer;
pub mod protocol;

pub use cluster::{Layout, TopicLayout, build_sim};
pub use node::KafkaNode;
pub use protocol::{Entry, KafkaObs, Msg, Timer, TopicPartition};
