//! Property tests through `kafsim::strategy`: drawn clusters, workloads and fault
//! schedules. The correct protocol keeps every promise on every case; a historical variant
//! is found, and proptest shrinks its case to the faults that show it.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

use kafsim::runner::run_seed;
use kafsim::scenario::NemesisKind;
use kafsim::strategy::{Case, Space, scenarios};

/// A runner whose cases come from a fixed seed: the test sees the same cases every time.
fn runner(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Whatever the cluster, workload and faults, acks=all with `min.insync.replicas` = 2
/// breaks no invariant and recovers after the heal.
#[test]
fn the_correct_protocol_keeps_every_promise_on_drawn_cases() {
    runner(24)
        .run(&(scenarios(Space::default()), 0..1_000u64), |(case, seed)| {
            let report = run_seed(&case.scenario, seed);
            let broken: Vec<&str> = report.violations.iter().map(|v| v.invariant).collect();
            prop_assert!(broken.is_empty(), "seed {seed} broke {broken:?}\n{case:?}");
            Ok(())
        })
        .expect("no drawn case breaks an invariant");
}

/// Truncating to the high watermark (R4, before KIP-101) is found among drawn crashes and
/// power losses, and proptest shrinks the case to a fault or two that still show it.
#[test]
fn a_variant_is_found_and_shrunk_to_the_faults_that_show_it() {
    let space = Space {
        kinds: vec![NemesisKind::Crash, NemesisKind::PowerLoss],
        settings: "[broker]\n\"min.insync.replicas\" = 2\n\"replica.lag.time.max.ms\" = 10000\n\
                   [protocol]\ntruncation = \"high-watermark\"\n"
            .into(),
        ..Space::default()
    };
    let broken = |case: &Case, seed: u64| -> Vec<&'static str> {
        run_seed(&case.scenario, seed).violations.iter().map(|v| v.invariant).collect()
    };
    // What the variant breaks: a replica below the high watermark it acknowledged.
    let shows_it = |broken: &[&str]| broken.contains(&"valid-high-watermark");
    let found = runner(64).run(&(scenarios(space), 0..1_000u64), |(case, seed)| {
        prop_assert!(!shows_it(&broken(&case, seed)));
        Ok(())
    });
    let Err(TestError::Fail(_, (case, seed))) = found else {
        panic!("the variant went unnoticed: {found:?}")
    };
    assert!(shows_it(&broken(&case, seed)), "{case:?}");
    assert!((1..=2).contains(&case.scenario.faults.len()), "shrunk to {case:?}");
    // The printed case is the file to replay.
    assert!(format!("{case:?}").contains("truncation = \"high-watermark\""));
}
