//! Benchmarks of the checkers on the groups soak (`scenarios/groups-soak.toml`, seed 1, no
//! faults): the state view and the state invariants the runner runs every 10 ms of simulated
//! time, and the client invariants it runs once at the end.
//!
//! ```text
//! cargo bench --bench checks
//! ```

use std::path::Path;

use divan::{Bencher, black_box};
use kafsim::check::clients::{RunFacts, consumer_groups};
use kafsim::check::state::StateChecker;
use kafsim::kafka::view::cluster_view;
use kafsim::kafka::{KafkaNode, Layout, build_sim};
use kafsim::runner::final_logs;
use kafsim::scenario::{self, Scenario};
use kafsim::sim::{Duration, Instant, Sim};

fn main() {
    divan::main();
}

fn groups_soak() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/groups-soak.toml");
    scenario::load(&path).expect("shipped scenario parses")
}

/// The groups soak run for `secs` simulated seconds.
fn run_for(secs: u64) -> (Scenario, Sim<KafkaNode>, Layout) {
    let scenario = groups_soak();
    let (mut sim, layout) = build_sim(&scenario, 1, false);
    sim.run_until(Instant::ZERO + Duration::from_secs(secs));
    (scenario, sim, layout)
}

/// One view of 3 brokers x 16 partitions, as the runner builds every 10 ms.
#[divan::bench]
fn cluster_view_groups_soak(bencher: Bencher) {
    let (_, sim, layout) = run_for(30);
    bencher.bench_local(|| black_box(cluster_view(&sim, &layout)).brokers.len());
}

/// One `observe` of a cluster that did not move since the previous calls: every partition
/// is quiet (`check::state` skips it), what remains is the cost of telling so.
#[divan::bench]
fn observe_groups_soak(bencher: Bencher) {
    let (_, sim, layout) = run_for(30);
    let view = cluster_view(&sim, &layout);
    let mut checker = StateChecker::new();
    checker.observe_full(&view);
    bencher.bench_local(|| black_box(checker.observe(&view)).len());
}

/// The client invariants over a full run's history (about 300 000 observations).
#[divan::bench(sample_count = 10)]
fn clients_check_groups_soak(bencher: Bencher) {
    let (scenario, sim, layout) = run_for(90);
    let facts = RunFacts {
        groups: consumer_groups(&scenario, &layout),
        final_logs: final_logs(&sim, &layout),
    };
    bencher.bench_local(|| {
        black_box(kafsim::check::clients::check(sim.history(), &layout, &facts)).len()
    });
}
