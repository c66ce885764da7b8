//! The HTML report `kafsim run --report DIR` writes beside the Markdown one: one
//! self-contained page (no scripts, nothing fetched) with the verdict, the commands that
//! replay and shrink the run, the SVG timeline, and each violation with the events that
//! led to it.

use std::fmt::Write as _;

use super::svg::{colour, svg};
use super::timeline::{Mark, Timeline};
use super::{escape, expected_text, outcome_name, reproduce_line, shrink_line};
use crate::check::Violation;
use crate::kafka::Layout;
use crate::runner::RunReport;
use crate::scenario::Scenario;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1000px;color:#212121}\
    h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}\
    table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}\
    code,pre{background:#f5f5f5;padding:2px 4px}pre{padding:8px;white-space:pre-wrap}\
    .met{color:#2e7d32}.missed{color:#c62828}\
    .key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;\
    vertical-align:middle}";

/// The page of one run.
pub fn html(report: &RunReport, scenario_path: &str, scenario: &Scenario) -> String {
    let title = format!("{} — seed {}", report.scenario, report.seed);
    let (class, verdict) =
        if report.expect_met { ("met", "as expected") } else { ("missed", "NOT as expected") };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>kafsim: {}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        out,
        "<p class=\"{class}\"><b>{}</b> ({verdict}: expected {})</p>",
        outcome_name(report.outcome()),
        escape(&expected_text(&scenario.expect))
    );
    let mut rows = vec![
        ("description", escape(&scenario.description)),
        ("reproduce", code(&reproduce_line(scenario_path, report.seed))),
    ];
    if let Some(shrink) = shrink_line(report, scenario_path) {
        rows.push(("shrink", code(&shrink)));
    }
    rows.extend([
        ("simulated", format!("{} in {} events", report.sim_time, report.events)),
        ("trace hash", code(&format!("{:016x}", report.trace_hash))),
        (
            "recovered",
            report
                .converged_after
                .map_or("not within the bound".into(), |d| format!("{d} after the heal")),
        ),
    ]);
    out.push_str("<table>\n");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><td>{name}</td><td>{value}</td></tr>");
    }
    out.push_str("</table>\n<h2>Timeline</h2>\n");
    let timeline = Timeline::new(report, &Layout::new(scenario), scenario.run.duration);
    out.push_str(&svg(&timeline));
    out.push_str("<p class=\"key\">");
    for mark in Mark::ALL {
        let _ = write!(out, "<span style=\"background:{}\"></span>{}", colour(mark), mark.name());
    }
    out.push_str(
        "<br>partitions: coloured by the broker the controller had as leader, red \
                  while it had none, grey while it was down; dashed: the heal</p>\n",
    );
    findings(&mut out, "Violations", &report.violations, &report.explanations);
    findings(&mut out, "Anomalies the promises allow", &report.allowed, &[]);
    let _ = writeln!(out, "<h2>Faults ({})</h2>\n<ul>", report.faults.len());
    for fault in &report.faults {
        let _ = writeln!(out, "<li>{}</li>", escape(fault));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// A section per finding: its detail, and the events that led to it when known.
fn findings(out: &mut String, heading: &str, list: &[Violation], stories: &[Vec<String>]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "<h2>{heading} ({})</h2>", list.len());
    for (i, v) in list.iter().enumerate() {
        let _ = writeln!(out, "<h3>{} at {}</h3>", v.invariant, v.time);
        let _ = writeln!(out, "<pre>{}</pre>", escape(&v.detail));
        if let Some(story) = stories.get(i).filter(|s| !s.is_empty()) {
            out.push_str("<details open><summary>How it came about</summary><ol>\n");
            for line in story {
                let _ = writeln!(out, "<li><code>{}</code></li>", escape(line));
            }
            out.push_str("</ol></details>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::tests::sample;

    #[test]
    fn the_page_stands_alone_with_verdict_commands_timeline_and_findings() {
        let (mut report, _, _) = sample();
        report.explanations = vec![vec!["t=1.000s nemesis: fault starts: <crash>".into()]];
        report.faults = vec!["t=1.000s for 2.000s crash b1".into()];
        let scenario =
            crate::scenario::parse("lanes.toml", super::super::timeline::tests::SCENARIO)
                .expect("valid");
        let page = html(&report, "lanes.toml", &scenario);
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        // Self-contained: no scripts, nothing fetched (the one address names SVG's namespace).
        assert!(!page.contains("<script"), "{page}");
        assert_eq!(page.matches("http").count(), 1, "{page}");
        assert!(
            page.contains("<p class=\"missed\"><b>violation</b> (NOT as expected: expected pass)")
        );
        assert!(page.contains("<code>kafsim run lanes.toml --seed 1</code>"), "{page}");
        assert!(
            page.contains("<code>kafsim shrink lanes.toml --seed 1 -o lanes-seed-1.toml</code>")
        );
        assert!(page.contains("<svg "), "{page}");
        assert!(page.contains("<h2>Violations (3)</h2>"), "{page}");
        assert!(
            page.contains("<li><code>t=1.000s nemesis: fault starts: &lt;crash&gt;</code></li>")
        );
        assert!(page.contains("<h2>Anomalies the promises allow (1)</h2>"), "{page}");
        assert!(page.contains("<li>t=1.000s for 2.000s crash b1</li>"), "{page}");
        assert!(page.ends_with("</body></html>\n"));
    }
}
