//! Determinism is the product: a seed gives the same trace hash every time, in one process
//! or two, whatever the number of sweep jobs or shards; different seeds differ.

use std::process::Command;

use kafsim::runner;
use kafsim::scenario;

const QUICKSTART: &str = "scenarios/quickstart.toml";
/// Groups, a coordinator, idempotent producers, and a nemesis that also hits consumers.
const GROUPS_SOAK: &str = "scenarios/groups-soak.toml";

fn load(path: &str) -> kafsim::scenario::Scenario {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    scenario::load(&full).expect("shipped scenario is valid")
}

/// `(seed, trace_hash)` of every JSON line of a `kafsim` invocation.
fn hashes_from_binary(args: &[&str]) -> Vec<(u64, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_kafsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the kafsim binary runs");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| v.get("summary").is_none())
        .map(|v| {
            let seed = v["seed"].as_u64().expect("seed");
            (seed, v["trace_hash"].as_str().expect("hash").to_string())
        })
        .collect()
}

#[test]
fn same_seed_same_hash_in_one_process() {
    let scenario = load(QUICKSTART);
    let a = runner::run_seed(&scenario, 11);
    let b = runner::run_seed(&scenario, 11);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert!(a.events > 10_000, "a quickstart run should be substantial, got {} events", a.events);
}

#[test]
fn different_seeds_give_different_hashes() {
    let scenario = load(QUICKSTART);
    let hashes: std::collections::BTreeSet<u64> =
        (0..4).map(|seed| runner::run_seed(&scenario, seed).trace_hash).collect();
    assert_eq!(hashes.len(), 4);
}

#[test]
fn same_seed_same_hash_across_processes() {
    for scenario in [QUICKSTART, GROUPS_SOAK] {
        let first = hashes_from_binary(&["run", scenario, "--seed", "5", "--json"]);
        let second = hashes_from_binary(&["run", scenario, "--seed", "5", "--json"]);
        assert_eq!(first.len(), 1);
        assert_eq!(first, second, "{scenario}");
        let in_process = runner::run_seed(&load(scenario), 5).trace_hash;
        assert_eq!(first[0].1, format!("{in_process:016x}"), "{scenario}");
    }
}

#[test]
fn sweep_hashes_do_not_depend_on_jobs_or_shards() {
    let one_job =
        hashes_from_binary(&["sweep", QUICKSTART, "--seeds", "0..6", "--jobs", "1", "--json"]);
    let two_jobs =
        hashes_from_binary(&["sweep", QUICKSTART, "--seeds", "0..6", "--jobs", "2", "--json"]);
    assert_eq!(one_job.len(), 6);
    assert_eq!(one_job, two_jobs);
    let mut sharded =
        hashes_from_binary(&["sweep", QUICKSTART, "--seeds", "0..6", "--shard", "1/2", "--json"]);
    sharded.extend(hashes_from_binary(&[
        "sweep", QUICKSTART, "--seeds", "0..6", "--shard", "2/2", "--json",
    ]));
    sharded.sort();
    assert_eq!(one_job, sharded);
}

#[test]
fn check_determinism_agrees_with_itself() {
    for scenario in [QUICKSTART, GROUPS_SOAK] {
        let report = runner::check_determinism(&load(scenario), 3).expect("deterministic");
        assert_eq!(report.trace_hash, runner::run_seed(&load(scenario), 3).trace_hash);
    }
}
