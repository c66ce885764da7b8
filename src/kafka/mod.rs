//! The system under test: Kafka as sans-IO nodes on the kernel.
//!
//! Kafka's replication protocol (ISR, HW over the ISR, AlterPartition, min.insync.replicas,
//! leader-epoch truncation, KIP-966 ELR) with switches that bring back its historical
//! data-loss bugs (`scenario::ProtocolSpec`); the clients are still the skeleton's.
//!
//! - [`protocol`]: messages, timers, disk entries and history observations.
//! - [`log`]: a replica's partition log (offsets, leader-epoch cache, LEO, HW, truncation).
//! - [`broker`]: leader and follower replicas, produce/fetch/metadata handling.
//! - [`controller`]: broker sessions, fencing, leader election, the metadata log.
//! - [`producer`], [`consumer`], [`client`]: the clients and their shared metadata cache.
//! - [`node`]: [`KafkaNode`], the one node type; [`cluster`]: [`build_sim`] and [`Layout`].
//! - [`view`]: [`view::cluster_view`], the state the invariant checkers read.

pub mod broker;
pub mod client;
pub mod cluster;
pub mod consumer;
pub mod controller;
pub mod coordinator;
pub mod log;
pub mod node;
pub mod producer;
pub mod producer_state;
pub mod progress;
pub mod protocol;
pub mod view;

pub use cluster::{Layout, TopicLayout, build_sim};
pub use node::KafkaNode;
pub use protocol::{Entry, KafkaObs, Msg, Timer, TopicPartition};
