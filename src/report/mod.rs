//! What a person or a program reads after a run: the human summary, the JSON line of
//! DESIGN.md's CLI contract, the sweep summary and the Markdown report file.

mod html;
mod junit;
mod svg;
mod timeline;

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::history::Anomaly;
use crate::history::History;
use crate::kafka::Layout;
use crate::runner::RunReport;
use crate::scenario::{Expect, Outcome, Scenario, duration_text};
use crate::shrink::Shrunk;
pub use html::html;
pub use junit::junit;
pub use timeline::timeline;

/// Violations shown in full in human output; the rest are counted.
const VIOLATIONS_SHOWN_MAX: usize = 10;

/// Text as XML character data or an attribute value.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters than tab, newline, return.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The command that replays a run.
pub fn reproduce_line(scenario_path: &str, seed: u64) -> String {
    format!("kafsim run {scenario_path} --seed {seed}")
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Violation => "violation",
    }
}

/// `pass`, `violation`, or `violation of exactly a, b`.
fn expected_text(expect: &Expect) -> String {
    match (expect.outcome, expect.violations.is_empty()) {
        (Outcome::Violation, false) => {
            format!("violation of exactly {}", expect.violations.join(", "))
        }
        (outcome, _) => outcome_name(outcome).to_string(),
    }
}

/// A short summary a person reads at a glance.
pub fn human(report: &RunReport, scenario_path: &str, expect: &Expect) -> String {
    let mut out = String::new();
    let verdict = if report.expect_met { "as expected" } else { "NOT as expected" };
    let _ = writeln!(out, "scenario   {} (seed {})", report.scenario, report.seed);
    let _ = writeln!(
        out,
        "outcome    {} ({verdict}: expected {})",
        outcome_name(report.outcome()),
        expected_text(expect)
    );
    let _ = writeln!(out, "faults     {}", report.faults.len());
    for fault in &report.faults {
        let _ = writeln!(out, "  {fault}");
    }
    let _ = writeln!(out, "violations {}", report.violations.len());
    for (i, violation) in report.violations.iter().enumerate().take(VIOLATIONS_SHOWN_MAX) {
        let _ =
            writeln!(out, "  {} at {}: {}", violation.invariant, violation.time, violation.detail);
        if let Some(story) = report.explanations.get(i).filter(|s| !s.is_empty()) {
            let _ = writeln!(out, "  how it came about:");
            for line in story {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if report.violations.len() > VIOLATIONS_SHOWN_MAX {
        let _ = writeln!(out, "  ... and {} more", report.violations.len() - VIOLATIONS_SHOWN_MAX);
    }
    if !report.allowed.is_empty() {
        let _ = writeln!(
            out,
            "allowed    {} (anomalies the scenario's promises allow)",
            report.allowed.len()
        );
        for anomaly in report.allowed.iter().take(VIOLATIONS_SHOWN_MAX) {
            let _ =
                writeln!(out, "  {} at {}: {}", anomaly.invariant, anomaly.time, anomaly.detail);
        }
        if report.allowed.len() > VIOLATIONS_SHOWN_MAX {
            let _ = writeln!(out, "  ... and {} more", report.allowed.len() - VIOLATIONS_SHOWN_MAX);
        }
    }
    match report.converged_after {
        Some(after) => {
            let _ = writeln!(out, "recovered  {after} after the heal");
        }
        None => {
            let _ = writeln!(out, "recovered  not within the bound (see `liveness`)");
        }
    }
    let _ = writeln!(
        out,
        "events     {}   simulated {}   wall {}ms   speed {:.0}x",
        report.events,
        report.sim_time,
        report.wall.as_millis(),
        report.speed()
    );
    let _ = writeln!(out, "trace hash {:016x}", report.trace_hash);
    if !report.expect_met {
        let _ = writeln!(out, "reproduce  {}", reproduce_line(scenario_path, report.seed));
    }
    if let Some(shrink) = shrink_line(report, scenario_path) {
        let _ = writeln!(out, "shrink     {shrink}");
    }
    out
}

/// The command that shrinks a run, for a run that broke an invariant under faults.
pub fn shrink_line(report: &RunReport, scenario_path: &str) -> Option<String> {
    (!report.violations.is_empty() && !report.faults.is_empty()).then(|| {
        let (name, seed) = (&report.scenario, report.seed);
        format!("kafsim shrink {scenario_path} --seed {seed} -o {name}-seed-{seed}.toml")
    })
}

#[derive(Serialize)]
struct JsonViolation<'a> {
    invariant: &'a str,
    time_ms: u64,
    detail: &'a str,
    /// The events that led to it, when the run was explained.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    explanation: &'a [String],
}

impl<'a> JsonViolation<'a> {
    fn of(v: &'a crate::check::Violation) -> Self {
        JsonViolation {
            invariant: v.invariant,
            time_ms: v.time.as_millis(),
            detail: &v.detail,
            explanation: &[],
        }
    }
}

#[derive(Serialize)]
struct JsonRun<'a> {
    scenario: &'a str,
    seed: u64,
    outcome: &'static str,
    violations: Vec<JsonViolation<'a>>,
    /// Anomalies the scenario's promises allow.
    allowed: Vec<JsonViolation<'a>>,
    /// How long after the heal the cluster recovered; absent if it did not in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovered_after_ms: Option<u64>,
    trace_hash: String,
    events: u64,
    sim_time_ms: u64,
    wall_ms: u64,
    speed: f64,
    expect_met: bool,
    faults: &'a [String],
    reproduce: String,
}

/// The JSON object of one run (one line).
pub fn json(report: &RunReport, scenario_path: &str) -> String {
    let run = JsonRun {
        scenario: &report.scenario,
        seed: report.seed,
        outcome: outcome_name(report.outcome()),
        violations: report
            .violations
            .iter()
            .enumerate()
            .map(|(i, v)| JsonViolation {
                explanation: report.explanations.get(i).map_or(&[], Vec::as_slice),
                ..JsonViolation::of(v)
            })
            .collect(),
        allowed: report.allowed.iter().map(JsonViolation::of).collect(),
        recovered_after_ms: report.converged_after.map(|d| d.as_millis()),
        trace_hash: format!("{:016x}", report.trace_hash),
        events: report.events,
        sim_time_ms: report.sim_time.as_millis(),
        wall_ms: report.wall.as_millis() as u64,
        speed: (report.speed() * 10.0).round() / 10.0,
        expect_met: report.expect_met,
        faults: &report.faults,
        reproduce: reproduce_line(scenario_path, report.seed),
    };
    serde_json::to_string(&run).expect("a run serialises")
}

/// Totals of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepSummary {
    pub summary: bool,
    pub seeds: usize,
    /// Seeds whose run did not meet the scenario's `[expect]`.
    pub failed_seeds: Vec<u64>,
    pub events: u64,
    pub sim_time_ms: u64,
    pub wall_ms: u64,
    pub seeds_per_sec: f64,
}

impl SweepSummary {
    pub fn new(reports: &[RunReport], wall: std::time::Duration) -> Self {
        let wall_secs = wall.as_secs_f64().max(1e-9);
        SweepSummary {
            summary: true,
            seeds: reports.len(),
            failed_seeds: reports.iter().filter(|r| !r.expect_met).map(|r| r.seed).collect(),
            events: reports.iter().map(|r| r.events).sum(),
            sim_time_ms: reports.iter().map(|r| r.sim_time.as_millis()).sum(),
            wall_ms: wall.as_millis() as u64,
            seeds_per_sec: (reports.len() as f64 / wall_secs * 10.0).round() / 10.0,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a summary serialises")
    }

    pub fn human(&self, scenario_path: &str) -> String {
        let mut out = String::new();
        let met = self.seeds - self.failed_seeds.len();
        let _ = writeln!(
            out,
            "seeds      {} run, {met} as expected, {} not",
            self.seeds,
            self.failed_seeds.len()
        );
        let speed = self.sim_time_ms as f64 / (self.wall_ms.max(1) as f64);
        let _ = writeln!(
            out,
            "totals     {} events   simulated {}s   wall {}ms   {:.1} seeds/s   speed {:.0}x",
            self.events,
            self.sim_time_ms / 1000,
            self.wall_ms,
            self.seeds_per_sec,
            speed
        );
        for seed in &self.failed_seeds {
            let _ = writeln!(out, "reproduce  {}", reproduce_line(scenario_path, *seed));
        }
        out
    }
}

/// The Markdown report written by `kafsim run --report DIR`.
pub fn markdown(report: &RunReport, scenario_path: &str, scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} — seed {}\n", report.scenario, report.seed);
    let _ = writeln!(out, "Reproduce: `{}`\n", reproduce_line(scenario_path, report.seed));
    let _ = writeln!(out, "```text\n{}```\n", human(report, scenario_path, &scenario.expect));
    let layout = Layout::new(scenario);
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(out, "```text\n{}```", timeline(report, &layout, scenario.run.duration));
    out
}

/// `kafsim shrink`'s summary: what was kept broken, what is left, what the search cost.
pub fn shrink_summary(shrunk: &Shrunk, scenario_path: &str, wall: std::time::Duration) -> String {
    let (b, a) = (shrunk.before, shrunk.after);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "shrunk     {scenario_path} seed {}, keeping `{}` broken",
        shrunk.report.seed, shrunk.invariant
    );
    let _ = writeln!(out, "faults     {} -> {}", b.faults, a.faults);
    for fault in &shrunk.report.faults {
        let _ = writeln!(out, "  {fault}");
    }
    let _ =
        writeln!(out, "phase      {} -> {}", duration_text(b.duration), duration_text(a.duration));
    let _ = writeln!(
        out,
        "clients    producer entries {} -> {}, consumer entries {} -> {}",
        b.producers, a.producers, b.consumers, a.consumers
    );
    let limit = if shrunk.exhausted { " (stopped at the limit)" } else { "" };
    let _ = writeln!(
        out,
        "search     {} candidate runs in {}ms wall{limit}",
        shrunk.runs,
        wall.as_millis()
    );
    out
}

/// Examples shown per anomaly in `check-history`'s human output.
const EXAMPLES_SHOWN_MAX: usize = 3;

/// `check-history`'s summary: what was checked, then every anomaly with its first examples.
pub fn history_human(
    path: &str,
    history: &History,
    anomalies: &[Anomaly],
    wall: std::time::Duration,
) -> String {
    let mut out = String::new();
    let errors = anomalies.iter().filter(|a| a.allowed.is_none()).count();
    let _ = writeln!(out, "history    {path}: {} operations", history.ops.len());
    let _ = writeln!(
        out,
        "anomalies  {errors} error(s), {} allowed by the promises",
        anomalies.len() - errors
    );
    for a in anomalies {
        let kind = a.allowed.map_or("ERROR".to_string(), |why| format!("allowed ({why})"));
        let _ = writeln!(
            out,
            "  {} {kind}: {} (first at {})",
            a.name,
            a.headline,
            crate::sim::Instant::from_nanos(a.first_ns)
        );
        for example in a.examples.iter().take(EXAMPLES_SHOWN_MAX) {
            let _ = writeln!(out, "    - {}", example.text);
        }
        if a.count > EXAMPLES_SHOWN_MAX.min(a.examples.len()) {
            let shown = EXAMPLES_SHOWN_MAX.min(a.examples.len());
            let _ = writeln!(out, "    - ... and {} more", a.count - shown);
        }
    }
    let _ = writeln!(out, "checked in {}ms", wall.as_millis());
    out
}

#[derive(Serialize)]
struct JsonHistoryCheck<'a> {
    history: &'a str,
    operations: usize,
    errors: usize,
    allowed: usize,
    anomalies: &'a [Anomaly],
    wall_ms: u64,
}

/// `check-history --json`: one object with every anomaly and its examples.
pub fn history_json(
    path: &str,
    history: &History,
    anomalies: &[Anomaly],
    wall: std::time::Duration,
) -> String {
    let errors = anomalies.iter().filter(|a| a.allowed.is_none()).count();
    let check = JsonHistoryCheck {
        history: path,
        operations: history.ops.len(),
        errors,
        allowed: anomalies.len() - errors,
        anomalies,
        wall_ms: wall.as_millis() as u64,
    };
    serde_json::to_string(&check).expect("a history check serialises")
}
