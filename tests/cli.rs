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
pub fn shipped_scenarios() -> Vec<PathBuf> {
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
    // acks=1 loses acknowledged writes, which its promises allow: a pass that shows them.
    assert_eq!(run["outcome"], "pass");
    assert_eq!(run["expect_met"], true);
    let first = &run["allowed"][0];
    assert_eq!(first["invariant"], "lost-write");
    assert!(first["time_ms"].as_u64().is_some() && first["detail"].as_str().is_some());
    assert_eq!(run["trace_hash"].as_str().map(str::len), Some(16));
}

#[test]
fn failing_expectation_exits_1_with_reproduce_line() {
    // The acks=1 scenario expecting other allowed anomalies than the ones it shows.
    let source = std::fs::read_to_string("scenarios/leader-crash-acks-1.toml").expect("shipped");
    let flipped = source
        .replace("allowed = [\"lost-write\", \"inconsistent-offsets\"]", "allowed = [\"unseen\"]");
    assert_ne!(flipped, source);
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

/// A run's saved history, checked again by `check-history`, gives the run's verdict: the
/// same anomalies, allowed the same way.
#[test]
fn a_saved_history_checks_as_the_run_did() {
    let file = std::env::temp_dir().join(format!("kafsim-history-{}.jsonl", std::process::id()));
    let path = file.to_str().expect("utf-8 temp path");
    let run = kafsim(&["run", "scenarios/leader-crash-acks-1.toml", "--json", "--history", path]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let run: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("json");
    let checked = kafsim(&["check-history", path, "--json"]);
    std::fs::remove_file(&file).expect("history removed");
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
    let checked: serde_json::Value = serde_json::from_str(&stdout(&checked)).expect("json");
    assert_eq!(checked["errors"], 0);
    let names = |list: &serde_json::Value, key: &str| -> Vec<String> {
        let mut names: Vec<String> = list
            .as_array()
            .expect("a list")
            .iter()
            .map(|a| a[key].as_str().expect("a name").to_string())
            .collect();
        names.dedup();
        names
    };
    assert_eq!(names(&checked["anomalies"], "name"), names(&run["allowed"], "invariant"));
    let lost = &checked["anomalies"][0];
    assert_eq!(lost["allowed"], "acks 0 and 1 promise only the leader's copy");
    assert!(lost["count"].as_u64().expect("count") > 0);
    assert!(!lost["examples"][0]["ops"].as_array().expect("ops").is_empty());
}

#[test]
fn a_bad_history_file_exits_2_with_line_and_column() {
    let file = std::env::temp_dir().join(format!("kafsim-bad-{}.jsonl", std::process::id()));
    let path = file.to_str().expect("utf-8 temp path");
    let good = r#"{"process":"p1","f":"crash","type":"info","invoke_ns":1,"complete_ns":1}"#;
    std::fs::write(&file, format!("{good}\n{}\n", good.replace("crash", "crush"))).expect("write");
    let output = kafsim(&["check-history", path]);
    std::fs::remove_file(&file).expect("removed");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains(&format!("{path}:2:1: unknown variant `crush`")), "{err}");
}

/// A violation comes with the story of how it came about, in the human output and in JSON.
#[test]
fn violations_are_explained_by_the_events_that_led_to_them() {
    let scenario = "scenarios/replication/r4-hw-truncation.toml";
    let output = kafsim(&["run", scenario]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("how it came about:"), "{out}");
    assert!(out.contains("controller: events-0: broker fenced; leader b2 -> b3 epoch 3"), "{out}");
    let output = kafsim(&["run", scenario, "--json"]);
    let run: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let story = run["violations"][0]["explanation"].as_array().expect("an explanation");
    let last = story.last().and_then(|l| l.as_str()).expect("lines");
    assert!(last.starts_with("t=13.260s committed-durability: events-0: leader b3"), "{last}");
    assert!(story.iter().any(|l| l.as_str().is_some_and(|l| l.contains("fault starts: Crash"))));
}

#[test]
fn a_reader_that_goes_away_ends_the_program_quietly() {
    // The read end is closed before the program starts, so its first write fails.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_kafsim"))
        .args(["check", "scenarios/quickstart.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(writer)
        .output()
        .expect("the kafsim binary runs");
    assert_eq!(output.status.code(), Some(141), "stderr: {}", stderr(&output));
    assert_eq!(stderr(&output), "", "no panic, no message");
}

/// `shrink -o FILE` writes a scenario that `run` then meets; without `-o` the file goes to
/// standard output; a seed that breaks nothing is bad input.
#[test]
fn a_shrunk_scenario_runs_as_it_expects() {
    let file = std::env::temp_dir().join(format!("kafsim-shrunk-{}.toml", std::process::id()));
    let path = file.to_str().expect("utf-8 temp path");
    let scenario = "scenarios/nemesis/kip101-lookup.toml";
    // A run that breaks an invariant says how to shrink it.
    let run = stdout(&kafsim(&["run", scenario]));
    let hint = format!(
        "shrink     kafsim shrink {scenario} --seed 0 -o nemesis-kip101-lookup-seed-0.toml"
    );
    assert!(run.contains(&hint), "{run}");
    let shrunk = kafsim(&["shrink", scenario, "--seed", "0", "-o", path]);
    assert_eq!(shrunk.status.code(), Some(0), "{}", stderr(&shrunk));
    let summary = stdout(&shrunk);
    assert!(summary.contains("keeping `committed-durability` broken"), "{summary}");
    assert!(summary.contains(&format!("reproduce  kafsim run {path} --seed 0")), "{summary}");
    let run = kafsim(&["run", path]);
    let written = std::fs::read_to_string(&file).expect("written");
    std::fs::remove_file(&file).expect("removed");
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    let printed = kafsim(&["shrink", scenario, "--seed", "0", "--jobs", "1"]);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    assert_eq!(stdout(&printed), written);
    assert!(stderr(&printed).contains("keeping `committed-durability` broken"));
    let passing = kafsim(&["shrink", "scenarios/quickstart.toml", "--seed", "3"]);
    assert_eq!(passing.status.code(), Some(2));
    assert!(stderr(&passing).contains("seed 3 breaks no invariant"), "{}", stderr(&passing));
}

/// `--report DIR` writes the summary and the timeline (Markdown, and HTML with the timeline
/// drawn), and `--timeline` prints the same timeline: b1's power loss on its lane, and
/// events-0's leadership moving off b1.
#[test]
fn a_report_draws_the_run_as_a_timeline() {
    let dir = std::env::temp_dir().join(format!("kafsim-report-{}", std::process::id()));
    let scenario = "scenarios/leader-crash-acks-1.toml";
    let dir_arg = dir.to_str().expect("utf-8 temp path");
    let output = kafsim(&["run", scenario, "--report", dir_arg, "--timeline"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let markdown = std::fs::read_to_string(dir.join("leader-crash-acks-1-seed-1.md"))
        .expect("the report is written");
    let page = std::fs::read_to_string(dir.join("leader-crash-acks-1-seed-1.html"))
        .expect("the HTML report is written");
    std::fs::remove_dir_all(&dir).expect("removed");
    assert!(page.contains("<svg ") && page.contains("t=5.000s for 3.000s power-loss b1"), "{page}");
    // The timeline comes last (the summary above has a line starting `allowed` too).
    let lane = |text: &str, name: &str| -> String {
        let line = text.lines().rfind(|l| l.starts_with(&format!("{name} "))).unwrap_or_default();
        line[name.len()..].trim().to_string()
    };
    assert!(markdown.contains("## Timeline"), "{markdown}");
    let b1 = lane(&markdown, "b1");
    assert!(b1.starts_with('.') && b1.contains("######"), "{markdown}");
    let leaders = lane(&markdown, "events-0");
    assert!(leaders.starts_with('1') && !leaders.ends_with('1'), "{markdown}");
    assert!(lane(&markdown, "allowed").contains('1'), "{markdown}");
    let printed = stdout(&output);
    assert_eq!(lane(&printed, "events-0"), leaders);
    assert_eq!(lane(&printed, "b1"), b1);
}

/// `sweep --junit FILE` writes one test case per seed for CI, a seed that missed its
/// `[expect]` a failure carrying its reproduce line; `--report DIR` writes each such seed's
/// reports.
#[test]
fn a_sweep_writes_junit_for_ci() {
    let dir = std::env::temp_dir().join(format!("kafsim-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = std::fs::read_to_string("scenarios/leader-crash-acks-all.toml").expect("shipped");
    // The same scenario expecting a violation it does not show: every seed fails.
    let flipped = source.replace("outcome = \"pass\"", "outcome = \"violation\"");
    assert_ne!(flipped, source);
    let scenario = dir.join("expects-violation.toml");
    std::fs::write(&scenario, flipped).expect("write scenario");
    let xml = dir.join("results.xml");
    let (scenario, xml_arg) = (scenario.to_str().expect("utf-8"), xml.to_str().expect("utf-8"));
    let passing = ["sweep", "scenarios/leader-crash-acks-all.toml", "--seeds", "1..3"];
    assert_eq!(kafsim(&[&passing[..], &["--junit", xml_arg]].concat()).status.code(), Some(0));
    let passed = std::fs::read_to_string(&xml).expect("written");
    let reports = dir.join("reports");
    let reports_arg = reports.to_str().expect("utf-8");
    let failing = kafsim(&[
        "sweep",
        scenario,
        "--seeds",
        "1..3",
        "--junit",
        xml_arg,
        "--report",
        reports_arg,
    ]);
    assert_eq!(failing.status.code(), Some(1));
    let failed = std::fs::read_to_string(&xml).expect("written");
    // And a report of each failed seed, named on the sweep's output.
    let page = reports.join("leader-crash-acks-all-seed-2.html");
    let html = std::fs::read_to_string(&page).expect("a report of the failed seed");
    assert!(html.contains("NOT as expected") && html.contains("<svg "), "{html}");
    assert!(reports.join("leader-crash-acks-all-seed-1.md").exists());
    assert!(stdout(&failing).contains(&format!("report     {}", page.display())));
    std::fs::remove_dir_all(&dir).expect("removed");
    assert!(passed.contains("tests=\"2\" failures=\"0\""), "{passed}");
    assert_eq!(passed.matches("<testcase ").count(), 2, "{passed}");
    assert!(!passed.contains("<failure"), "{passed}");
    assert!(failed.contains("tests=\"2\" failures=\"2\""), "{failed}");
    assert!(failed.contains("<failure message=\"expected violation, got pass\""), "{failed}");
    assert!(failed.contains(&format!("reproduce  kafsim run {scenario} --seed 2")), "{failed}");
}
