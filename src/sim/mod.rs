//! The deterministic simulation kernel. It is generic over the node type and knows nothing
//! of Kafka: any sans-IO protocol can run on it (see `examples/echo.rs`).
//!
//! - [`time`]: virtual time in nanoseconds.
//! - [`rng`]: seeded ChaCha8 sub-streams by name.
//! - [`node`]: the sans-IO node trait and the handler context.
//! - [`scheduler`]: the bounded (time, sequence) event queue.
//! - [`net`]: links, latency, loss, duplication, ordering, partitions.
//! - [`disk`]: per-node files with a page cache, fsync, writeback and crash semantics.
//! - [`clock`]: per-node skew and drift.
//! - [`fault`]: faults as data; [`nemesis`]: random fault timelines from the seed.
//! - [`trace`]: the stable event hash and the recorded trace.
//! - [`world`]: `Sim`, the one value that owns a run.

pub mod clock;
pub mod disk;
pub mod fault;
pub mod nemesis;
pub mod net;
pub mod node;
pub mod rng;
pub mod scheduler;
pub mod time;
pub mod trace;
pub mod world;

pub use disk::{Disk, FileId, FileRef};
pub use fault::{Fault, FaultKind};
pub use net::NetConfig;
pub use node::{Context, Detached, Effects, Node, NodeId, TimerId};
pub use rng::SimRng;
pub use time::{Duration, Instant};
pub use trace::{StableHasher, Trace};
pub use world::{Observed, Sim, SimConfig};
