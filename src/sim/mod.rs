//! The deterministic simulation kernel. Generic over the node type; knows nothing of Kafka.
pub mod disk;
pub mod fault;
pub mod node;
pub mod rng;
pub mod time;
pub mod trace;
