//! The real binary, end to end: shipped scenarios meet their `[expect]`, bad input exits 2,
//! and the JSON output carries the contract's fields.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kafsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the kafsim binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Every shipped scenario: `scenarios/**/*.toml` except the deliberately invalid ones.
fn shipped_scenarios() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable scenario dir") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() && !path.ends_with("invalid") {
                walk(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"), &mut files);
    files.sort();
    assert!(files.len() >= 15, "expected the shipped scenarios, found {files:?}");
    files
}

#[test]
fn every_shipped_scenario_meets_its_expectation() {
    for path in shipped_scenarios() {
        let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).expect("inside the crate");
        let output = kafsim(&["run", relative.to_str().expect("utf-8 path")]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{} did not meet its [expect]:\n{}{}",
            relative.display(),
            stdout(&output),
            stderr(&output)
        );
    }
}

#[test]
fn check_accepts_every_shipped_scenario() {
    let paths: Vec<String> = shipped_scenarios().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["check"];
    args.extend(paths.iter().map(String::as_str));
    let output = kafsim(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn invalid_scenario_exits_2_with_position() {
    let output = kafsim(&["run", "scenarios/invalid/unknown-node.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("scenarios/invalid/unknown-node.toml:"), "no file position in:\n{err}");
    assert!(err.contains("b9"), "the unknown node is not named in:\n{err}");
}

#[test]
fn missing_file_and_bad_flags_exit_2() {
    assert_eq!(kafsim(&["run", "scenarios/no-such-file.toml"]).status.code(), Some(2));
    assert_eq!(
        kafsim(&["sweep", "scenarios/quickstart.toml", "--seeds", "5..2"]).status.code(),
        Some(2)
    );
    assert_eq!(
        kafsim(&["sweep", "scenarios/quickstart.toml", "--seeds", "1..3", "--shard", "3/2"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(kafsim(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn json_output_has_the_contract_fields() {
    let output = kafsim(&["run", "scenarios/leader-crash-acks-1.toml", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let run: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    for field in [
        "scenario",
        "seed",
        "outcome",
        "violations",
        "trace_hash",
        "events",
        "sim_time_ms",
        "wall_ms",
        "expect_met",
    ] {
        assert!(run.get(field).is_some(), "missing field {field} in {run}");
    }
    assert_eq!(run["outcome"], "violation");
    assert_eq!(run["expect_met"], true);
    let first = &run["violations"][0];
    assert_eq!(first["invariant"], "lost-write");
    assert!(first["time_ms"].as_u64().is_some() && first["detail"].as_str().is_some());
    assert_eq!(run["trace_hash"].as_str().map(str::len), Some(16));
}

#[test]
fn failing_expectation_exits_1_with_reproduce_line() {
    // The acks=1 scenario run with its expectation flipped: write a copy that expects a pass.
    let source = std::fs::read_to_string("scenarios/leader-crash-acks-1.toml").expect("shipped");
    let flipped = source
        .replace("outcome = \"violation\"", "outcome = \"pass\"")
        .replace("violations = [\"lost-write\"]", "");
    let dir = std::env::temp_dir().join(format!("kafsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("expects-pass.toml");
    std::fs::write(&path, flipped).expect("write scenario");
    let output = kafsim(&["run", path.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    let reproduce = format!("kafsim run {} --seed 1", path.display());
    assert!(out.contains(&reproduce), "no reproduce line in:\n{out}");
    assert!(out.contains("lost-write"), "violation not shown in:\n{out}");
}

#[test]
fn sweep_json_prints_each_seed_then_a_summary() {
    let output =
        kafsim(&["sweep", "scenarios/leader-crash-acks-all.toml", "--seeds", "1..4", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 4);
    let seeds: Vec<u64> = lines[..3].iter().map(|l| l["seed"].as_u64().expect("seed")).collect();
    assert_eq!(seeds, [1, 2, 3]);
    assert_eq!(lines[3]["summary"], true);
    assert_eq!(lines[3]["seeds"], 3);
    assert_eq!(lines[3]["failed_seeds"], serde_json::json!([]));
}

/// `run --trace FILE` writes one line per event, naming nodes, with the nodes' notes, and
/// the run is the one `run` alone gives.
#[test]
fn trace_file_lists_every_event() {
    let file = std::env::temp_dir().join(format!("kafsim-trace-{}.txt", std::process::id()));
    let path = file.to_str().expect("utf-8 temp path");
    let scenario = "scenarios/clients/zombie-member.toml";
    let traced = kafsim(&["run", scenario, "--json", "--trace", path]);
    assert_eq!(traced.status.code(), Some(0), "{}", stderr(&traced));
    let report: serde_json::Value = serde_json::from_str(&stdout(&traced)).expect("json");
    let text = std::fs::read_to_string(&file).expect("trace written");
    std::fs::remove_file(&file).expect("trace removed");
    assert_eq!(text.lines().count() as u64, report["events"].as_u64().expect("events"));
    assert!(
        text.lines().any(|l| l.contains("c1 Annotation: fenced: UNKNOWN_MEMBER_ID")),
        "{}",
        &text[..200]
    );
    let plain: serde_json::Value =
        serde_json::from_str(&stdout(&kafsim(&["run", scenario, "--json"]))).expect("json");
    assert_eq!(report["trace_hash"], plain["trace_hash"]);
}
