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
    let scenario = load("scenarios/soak.toml");
    let seeds: Vec<u64> = (0..16).collect();
    for report in runner::sweep(&scenario, &seeds, 2) {
        assert!(
            report.violations.is_empty(),
            "seed {} of the soak broke {:?}",
            report.seed,
            report.violations.iter().map(|v| v.invariant).collect::<Vec<_>>()
        );
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
