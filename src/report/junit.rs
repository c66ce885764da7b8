//! JUnit XML, the format CI systems read test results in: a sweep (or one run) as a test
//! suite with one test case per seed, failed when the run did not meet its `[expect]`,
//! the failure carrying the run's summary and its reproduce line.

use std::fmt::Write as _;

use super::{escape, expected_text, human, outcome_name};
use crate::runner::RunReport;
use crate::scenario::Expect;

/// The runs of one scenario as a JUnit XML document.
pub fn junit(reports: &[RunReport], scenario_path: &str, expect: &Expect) -> String {
    let failures = reports.iter().filter(|r| !r.expect_met).count();
    let wall_s: f64 = reports.iter().map(|r| r.wall.as_secs_f64()).sum();
    let suite = escape(reports.first().map_or(scenario_path, |r| r.scenario.as_str()));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts =
        format!("tests=\"{}\" failures=\"{failures}\" time=\"{wall_s:.3}\"", reports.len());
    let _ = writeln!(out, "<testsuites name=\"kafsim\" {counts}>");
    let _ = writeln!(out, "  <testsuite name=\"{suite}\" {counts}>");
    for r in reports {
        let _ = write!(
            out,
            "    <testcase classname=\"{suite}\" name=\"seed {}\" time=\"{:.3}\"",
            r.seed,
            r.wall.as_secs_f64()
        );
        if r.expect_met {
            out.push_str("/>\n");
            continue;
        }
        let shown: Vec<&str> = r.violations.iter().map(|v| v.invariant).collect();
        let message = format!(
            "expected {}, got {}{}",
            expected_text(expect),
            outcome_name(r.outcome()),
            if shown.is_empty() { String::new() } else { format!(" of {}", shown.join(", ")) }
        );
        let kind = shown.first().copied().unwrap_or("expectation");
        let _ = writeln!(out, ">");
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
            escape(&message),
            escape(&human(r, scenario_path, expect))
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Violation;
    use crate::scenario::Outcome;
    use crate::sim::time::{Duration, Instant};

    fn report(seed: u64, violations: Vec<Violation>, expect_met: bool) -> RunReport {
        RunReport {
            scenario: "a<b".into(),
            seed,
            violations,
            allowed: Vec::new(),
            converged_after: Some(Duration::ZERO),
            explanations: Vec::new(),
            trace_hash: 7,
            events: 10,
            sim_time: Duration::from_secs(1),
            wall: std::time::Duration::from_millis(250),
            expect_met,
            faults: Vec::new(),
            injected: Vec::new(),
            leadership: Vec::new(),
        }
    }

    #[test]
    fn a_run_that_missed_its_expectation_is_a_failure_with_its_reproduce_line() {
        let expect = Expect { outcome: Outcome::Pass, violations: Vec::new(), allowed: Vec::new() };
        let lost = Violation {
            invariant: "lost-write",
            time: Instant::ZERO + Duration::from_millis(5),
            detail: "events-0: offset 3 \"v\" & <gone>".into(),
        };
        let xml =
            junit(&[report(1, Vec::new(), true), report(2, vec![lost], false)], "s.toml", &expect);
        let lines: Vec<&str> = xml.lines().collect();
        assert_eq!(lines[0], "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        assert_eq!(
            lines[1],
            "<testsuites name=\"kafsim\" tests=\"2\" failures=\"1\" time=\"0.500\">"
        );
        assert_eq!(
            lines[2],
            "  <testsuite name=\"a&lt;b\" tests=\"2\" failures=\"1\" time=\"0.500\">"
        );
        assert_eq!(lines[3], "    <testcase classname=\"a&lt;b\" name=\"seed 1\" time=\"0.250\"/>");
        assert_eq!(lines[4], "    <testcase classname=\"a&lt;b\" name=\"seed 2\" time=\"0.250\">");
        assert!(lines[5].starts_with(
            "      <failure message=\"expected pass, got violation of lost-write\" type=\"lost-write\">"
        ));
        assert!(xml.contains("offset 3 &quot;v&quot; &amp; &lt;gone&gt;"), "{xml}");
        assert!(xml.contains("reproduce  kafsim run s.toml --seed 2"), "{xml}");
        assert!(xml.ends_with("    </testcase>\n  </testsuite>\n</testsuites>\n"), "{xml}");
    }
}
