//! Benchmarks of the simulation kernel: the echo workload end to end, the event queue
//! alone, and the stable hash every delivery pays.
//!
//! ```text
//! cargo bench --bench kernel
//! ```

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use kafsim::sim::scheduler::Scheduler;
use kafsim::sim::{Instant, SimRng, StableHasher};

/// The echo nodes live in one place, the example; its `main` is unused here.
#[allow(dead_code)]
#[path = "../examples/echo.rs"]
mod echo;

fn main() {
    divan::main();
}

/// 16 clients x 1000 round trips; throughput is in messages delivered.
#[divan::bench(sample_count = 30)]
fn echo_16_clients_1000_round_trips(bencher: Bencher) {
    const CLIENTS: u32 = 16;
    const ROUND_TRIPS: u64 = 1000;
    bencher
        .counter(ItemsCount::new(2 * u64::from(CLIENTS) * ROUND_TRIPS))
        .with_inputs(|| echo::build(CLIENTS, ROUND_TRIPS, 1))
        .bench_local_refs(|sim| {
            let messages = echo::run_to_end(sim);
            assert_eq!(messages, 2 * u64::from(CLIENTS) * ROUND_TRIPS);
        });
}

/// Pops and pushes per iteration of the scheduler benchmark.
const HOLD_OPS: usize = 10_000;

/// The "hold" model: a queue of `len` events, each operation pops the earliest and pushes
/// one 1-5ms later, as a delivery that sends one message does. The payload is 24 bytes,
/// the size of an echo event.
#[divan::bench(args = [16, 1024, 65536])]
fn scheduler_pop_push(bencher: Bencher, len: usize) {
    let mut rng = SimRng::stream(1, "bench/scheduler");
    let delays: Vec<u64> = (0..4096).map(|_| rng.between(1_000_000, 5_000_000)).collect();
    let fill = |delays: &[u64]| {
        let mut queue = Scheduler::new(usize::MAX);
        for (idx, delay) in delays.iter().cycle().take(len).enumerate() {
            queue.push(Instant::from_nanos(*delay), [idx as u64; 3]);
        }
        queue
    };
    bencher.counter(ItemsCount::new(HOLD_OPS)).with_inputs(|| fill(&delays)).bench_local_refs(
        |queue| {
            for delay in delays.iter().cycle().take(HOLD_OPS) {
                let (time, event) = queue.pop().expect("the queue never empties");
                queue.push(Instant::from_nanos(time.as_nanos() + delay), black_box(event));
            }
        },
    );
}

/// What the kernel hashes at every delivery of an echo message.
#[divan::bench]
fn stable_hash_echo_msg(bencher: Bencher) {
    let msg = echo::Msg::Request(12_345);
    bencher.bench(|| StableHasher::hash_of(black_box(&msg)));
}

#[derive(Hash)]
struct SmallRecord {
    key: String,
    partition: u32,
    offset: u64,
    value: Vec<u8>,
}

/// A small message with a string and a 32-byte payload.
#[divan::bench]
fn stable_hash_small_record(bencher: Bencher) {
    let record = SmallRecord {
        key: "user-42".to_string(),
        partition: 3,
        offset: 1_000_007,
        value: vec![7; 32],
    };
    bencher.bench(|| StableHasher::hash_of(black_box(&record)));
}
