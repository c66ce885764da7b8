//! `kafsim shrink` through the library: a failing nemesis seed comes out as a smaller fixed
//! timeline that still fails the same way, whatever the jobs, and what cannot be shrunk
//! says why.

use std::path::Path;

use kafsim::runner::run_seed;
use kafsim::scenario::{self, Scenario};
use kafsim::shrink::{RUNS_MAX_DEFAULT, Request, ShrinkError, Shrunk, shrink};

fn shipped(path: &str) -> (Scenario, String) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    scenario::load_text(&full).expect("shipped scenario is valid")
}

fn shrink_shipped(
    path: &str,
    seed: u64,
    invariant: Option<&str>,
    jobs: usize,
    runs_max: usize,
) -> Result<Shrunk, ShrinkError> {
    let (scenario, text) = shipped(path);
    shrink(&Request {
        scenario: &scenario,
        text: &text,
        source: path,
        seed,
        invariant,
        jobs,
        runs_max,
    })
}

/// KIP-101's epoch lookup under the nemesis: seed 0 breaks committed-durability after six
/// faults; two crashes are enough, and the file written fails the same way on its own.
#[test]
fn a_shrunk_failure_is_smaller_and_fails_the_same_way() {
    let path = "scenarios/nemesis/kip101-lookup.toml";
    let (original, _) = shipped(path);
    let first = run_seed(&original, 0);
    let shrunk = shrink_shipped(path, 0, None, 2, RUNS_MAX_DEFAULT).expect("seed 0 fails");
    assert_eq!(shrunk.invariant, "committed-durability");
    assert!(shrunk.after.faults < shrunk.before.faults, "{:?}", shrunk.after);
    assert!(shrunk.after.faults >= 1, "the bug needs a fault: {:?}", shrunk.after);
    assert!(shrunk.after.duration < original.run.duration);
    assert!(!shrunk.exhausted, "the search ends before its limit");
    // The file, header and all, is a scenario that expects exactly what it shows.
    let written = scenario::parse("shrunk.toml", &shrunk.text).expect("the file parses");
    assert_eq!(written, shrunk.scenario);
    assert_eq!(written.nemesis, None);
    assert_eq!(written.faults.len(), shrunk.after.faults);
    let rerun = run_seed(&written, 0);
    assert!(rerun.expect_met, "{:?}", rerun.violations);
    assert_eq!(rerun.trace_hash, shrunk.report.trace_hash);
    // It breaks the invariant, and nothing the original seed did not.
    let broken = |r: &kafsim::runner::RunReport| -> Vec<&str> {
        r.violations.iter().map(|v| v.invariant).collect()
    };
    assert!(broken(&rerun).contains(&"committed-durability"));
    assert!(broken(&rerun).iter().all(|i| broken(&first).contains(i)), "{:?}", broken(&rerun));
    // The header says where it came from and how the failure came about.
    assert!(shrunk.text.starts_with(&format!("# Shrunk by `kafsim shrink {path} --seed 0`.")));
    assert!(shrunk.text.contains("#   how it came about:"), "{}", shrunk.text);
    assert!(shrunk.text.contains("fault starts: Crash"), "{}", shrunk.text);
    // And its timeline: the crashes on the brokers' lanes, the partition's leaders.
    let lane = |name: &str| shrunk.text.lines().find(|l| l.starts_with(&format!("# {name} ")));
    assert!(lane("b2").is_some_and(|l| l.contains('X')), "{}", shrunk.text);
    assert!(lane("events-0").is_some_and(|l| l.contains('1')), "{}", shrunk.text);
}

/// Candidates run in parallel, yet one job and three give the same file, with the search
/// run to its end and stopped by its budget in the middle of a batch.
#[test]
fn a_shrink_does_not_depend_on_its_jobs() {
    let path = "scenarios/nemesis/hw-truncation.toml";
    for runs_max in [RUNS_MAX_DEFAULT, 7] {
        let one = shrink_shipped(path, 1, None, 1, runs_max).expect("seed 1 fails");
        let three = shrink_shipped(path, 1, None, 3, runs_max).expect("seed 1 fails");
        assert_eq!(one.text, three.text, "runs_max {runs_max}");
        assert_eq!(one.exhausted, runs_max == 7);
        assert!(three.runs >= one.runs, "batches run whole");
    }
}

#[test]
fn what_cannot_be_shrunk_says_why() {
    let passes = shrink_shipped("scenarios/quickstart.toml", 3, None, 1, RUNS_MAX_DEFAULT);
    assert_eq!(passes.unwrap_err(), ShrinkError::Passes);
    let kip101 = "scenarios/nemesis/kip101-lookup.toml";
    let error = shrink_shipped(kip101, 0, Some("lost-write"), 1, RUNS_MAX_DEFAULT).unwrap_err();
    let ShrinkError::NotShown { invariant, shown } = &error else { panic!("{error:?}") };
    assert_eq!(invariant, "lost-write");
    assert!(shown.contains(&"committed-durability"), "{shown:?}");
    assert!(error.message(0).contains("pick one of those with --invariant"));
}

/// Asked for another invariant the seed breaks, the search keeps that one.
#[test]
fn the_invariant_kept_can_be_chosen() {
    let path = "scenarios/nemesis/kip101-lookup.toml";
    let shrunk = shrink_shipped(path, 0, Some("strong-isr"), 2, RUNS_MAX_DEFAULT).expect("fails");
    assert_eq!(shrunk.invariant, "strong-isr");
    assert!(shrunk.report.violations.iter().any(|v| v.invariant == "strong-isr"));
    assert!(shrunk.text.contains("--seed 0 --invariant strong-isr`."), "{}", shrunk.text);
}
