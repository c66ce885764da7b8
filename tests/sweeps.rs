//! Sweeps of the shipped nemesis scenarios, sized for `cargo test`. The big sweeps (2000
//! seeds and more) are run by hand: `kafsim sweep scenarios/soak.toml --seeds 0..2000`.

use kafsim::runner;
use kafsim::scenario;

fn load(path: &str) -> kafsim::scenario::Scenario {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    scenario::load(&full).expect("shipped scenario is valid")
}

/// The correct protocol under the full nemesis breaks no invariant.
#[test]
fn soak_default_protocol_is_clean() {
    assert_clean("scenarios/soak.toml", 16);
}

/// Seeds `0..n` of the scenario at `path` break nothing.
fn assert_clean(path: &str, n: u64) {
    let scenario = load(path);
    let seeds: Vec<u64> = (0..n).collect();
    for report in runner::sweep(&scenario, &seeds, 2) {
        assert!(
            report.violations.is_empty(),
            "seed {} of {path} broke {:?}",
            report.seed,
            report.violations.iter().map(|v| v.invariant).collect::<Vec<_>>()
        );
        // Liveness: it recovered after the heal, within the bound.
        assert!(report.converged_after.is_some_and(|d| d <= scenario.run.liveness));
    }
}

/// Each historical variant is caught by the nemesis alone within a few seeds.
#[test]
fn nemesis_catches_the_high_watermark_variants() {
    for (path, seeds) in [
        ("scenarios/nemesis/hw-truncation.toml", 0..4),
        ("scenarios/nemesis/proposed-isr.toml", 70..74),
    ] {
        let scenario = load(path);
        let seeds: Vec<u64> = seeds.collect();
        let caught =
            runner::sweep(&scenario, &seeds, 2).iter().filter(|r| !r.violations.is_empty()).count();
        assert!(caught > 0, "{path}: no seed of {seeds:?} caught the variant");
    }
}

/// Idempotent producers and two consumer groups under a nemesis that also hits consumers
/// break no invariant.
#[test]
fn groups_soak_default_protocol_is_clean() {
    assert_clean("scenarios/groups-soak.toml", 12);
}

/// Liveness is a bound, and it binds: the groups soak recovers seconds after its heal (a
/// rebalance, a coordinator load and the consumers' catch-up take that long), so a bound of
/// 100 ms fails, naming what had not converged.
#[test]
fn a_recovery_slower_than_the_liveness_bound_is_a_violation() {
    let mut scenario = load("scenarios/groups-soak.toml");
    let report = runner::run_seed(&scenario, scenario.run.seed);
    let after = report.converged_after.expect("the groups soak recovers");
    assert!(after > kafsim::sim::Duration::from_millis(100), "{after}");
    scenario.run.liveness = kafsim::sim::Duration::from_millis(100);
    let report = runner::run_seed(&scenario, scenario.run.seed);
    let invariants: Vec<&str> = report.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(invariants, ["liveness"]);
    let detail = &report.violations[0].detail;
    assert!(detail.contains("did not recover within 0.100s of the heal at t=60.000s"), "{detail}");
    assert!(detail.contains("group "), "{detail}");
    assert_eq!(report.converged_after, None);
}

/// Per seed, every violation and every allowed anomaly found.
fn broken(scenario: &kafsim::scenario::Scenario, seeds: &[u64]) -> Vec<Vec<&'static str>> {
    runner::sweep(scenario, seeds, 2)
        .iter()
        .map(|r| r.violations.iter().chain(&r.allowed).map(|v| v.invariant).collect())
        .collect()
}

/// Each client variant is caught by the nemesis alone, by the invariant that exists for it,
/// and the same seeds with the variant switched back to the correct behaviour are clean.
#[test]
fn nemesis_catches_the_client_variants_and_their_twins_pass() {
    use kafsim::scenario::CommitMode;
    type Twin = fn(&mut kafsim::scenario::Scenario);
    let cases: [(&str, &str, Twin); 4] = [
        ("scenarios/clients/nemesis-no-idempotence.toml", "duplicate", |s| {
            s.producers.iter_mut().for_each(|p| p.idempotent = true)
        }),
        ("scenarios/clients/nemesis-no-state-rebuild.toml", "duplicate", |s| {
            s.protocol.producer_state_rebuild = true
        }),
        (
            "scenarios/clients/nemesis-commit-before-process.toml",
            "commit-ahead-of-processing",
            |s| s.consumers.iter_mut().for_each(|c| c.commit = CommitMode::AfterProcess),
        ),
        ("scenarios/clients/nemesis-no-generation-check.toml", "zombie-commit", |s| {
            s.protocol.offset_commit_generation_check = true
        }),
    ];
    for (path, invariant, twin) in cases {
        assert_caught_and_twin_holds(path, invariant, twin, None);
    }
}

/// The variant at `path` breaks `invariant` on its shipped seed or the next, and the same
/// seeds with `twin` applied (the correct protocol) break none of `twin_keeps` (every
/// invariant and allowed anomaly, when `None`).
fn assert_caught_and_twin_holds(
    path: &str,
    invariant: &str,
    twin: fn(&mut kafsim::scenario::Scenario),
    twin_keeps: Option<&[&str]>,
) {
    let variant = load(path);
    let seeds: Vec<u64> = (variant.run.seed..variant.run.seed + 2).collect();
    let found = broken(&variant, &seeds);
    assert!(found.iter().any(|v| v.contains(&invariant)), "{path}: {found:?}");
    let mut correct = variant.clone();
    twin(&mut correct);
    let must_hold = |v: &&str| twin_keeps.is_none_or(|keeps| keeps.contains(v));
    for (seed, broke) in seeds.iter().zip(broken(&correct, &seeds)) {
        let wrong: Vec<&str> = broke.into_iter().filter(must_hold).collect();
        assert!(wrong.is_empty(), "{path}'s correct twin, seed {seed}, broke {wrong:?}");
    }
}

/// R6 and R9 under the nemesis alone (rolling leader crashes; overlapping partitions and
/// lossy links aimed at leaders and followers): each variant is caught by the invariant
/// that exists for it within two seeds of its shipped seed, and the same seeds on the
/// correct protocol break none of `twin_keeps`. R6's unclean elections lose acknowledged
/// writes on the correct protocol too (its price, not R6's), so its twin is held to the
/// invariants R6 breaks; R9's twin to all of them.
#[test]
fn nemesis_catches_the_lookup_and_isr_expansion_variants_and_their_twins_pass() {
    use kafsim::scenario::{IsrExpansion, Truncation};
    type Twin = fn(&mut kafsim::scenario::Scenario);
    let r6_keeps: &[&str] = &["strong-isr", "replica-consistency", "replica-divergence"];
    let cases: [(&str, &str, Twin, Option<&[&str]>); 2] = [
        (
            "scenarios/nemesis/kip101-lookup.toml",
            "replica-divergence",
            |s| s.protocol.truncation = Truncation::LeaderEpoch,
            Some(r6_keeps),
        ),
        (
            "scenarios/nemesis/early-isr-expansion.toml",
            "strong-isr",
            |s| s.protocol.isr_expansion = IsrExpansion::EpochStart,
            None,
        ),
    ];
    for (path, invariant, twin, twin_keeps) in cases {
        assert_caught_and_twin_holds(path, invariant, twin, twin_keeps);
    }
}

/// R9's fixed timeline does not depend on the seed: the variant loses the acknowledged
/// batches and the correct twin nothing, whatever the network's draws.
#[test]
fn r9_fixed_timeline_catches_the_variant_and_its_twin_passes_on_every_seed() {
    let seeds: Vec<u64> = (1..6).collect();
    let variant = load("scenarios/replication/r9-hw-isr-expansion.toml");
    for (seed, broke) in seeds.iter().zip(broken(&variant, &seeds)) {
        assert!(broke.contains(&"committed-durability"), "seed {seed}: {broke:?}");
    }
    let twin = load("scenarios/replication/r9-epoch-start-isr-expansion.toml");
    assert!(broken(&twin, &seeds).iter().all(Vec::is_empty));
}
