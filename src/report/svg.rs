//! The timeline as an SVG drawing for the HTML report: the same lanes as the text
//! timeline, at exact times, with every fault, leader and finding named in a tooltip.

use std::fmt::Write as _;

use super::escape;
use super::timeline::{Holder, LABELLED_MAX, Mark, Timeline, label};
use crate::scenario::duration_text;
use crate::sim::time::{Duration, Instant};

/// The drawing's width in pixels; lanes take what the names leave.
const WIDTH_PX: f64 = 960.0;
const NAME_PX: f64 = 130.0;
const RIGHT_PX: f64 = 16.0;
const LANE_PX: f64 = 22.0;
const BAR_PX: f64 = 16.0;
const AXIS_PX: f64 = 28.0;
/// Most time ticks on the axis.
const TICKS_MAX: u64 = 12;
/// Broker colours for leadership, in broker order (repeating past the last).
const BROKER_COLOURS: [&str; 8] =
    ["#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#bab0ac"];

pub fn colour(mark: Mark) -> &'static str {
    match mark {
        Mark::PowerLoss => "#6a1b9a",
        Mark::Crash => "#c62828",
        Mark::Pause => "#f9a825",
        Mark::CutOff => "#1565c0",
        Mark::Loss => "#4fc3f7",
        Mark::Skew => "#8d6e63",
    }
}

/// The timeline as a standalone `<svg>` element.
pub fn svg(t: &Timeline) -> String {
    let plot_px = WIDTH_PX - NAME_PX - RIGHT_PX;
    let x = |d: Duration| NAME_PX + d.as_nanos() as f64 / t.end.as_nanos() as f64 * plot_px;
    let finding_lanes: Vec<bool> =
        [false, true].into_iter().filter(|&a| t.findings.iter().any(|f| f.allowed == a)).collect();
    let lanes = t.nodes.len() + t.partitions.len() + finding_lanes.len();
    let height = AXIS_PX + lanes as f64 * LANE_PX + 8.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH_PX}\" height=\"{height}\" \
         font-family=\"monospace\" font-size=\"12\">"
    );
    // The axis: a tick and a grid line every step, the heal as a dashed line.
    let step = tick_step(t.end);
    let mut tick = Duration::ZERO;
    while tick <= t.end {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{height}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(tick),
            AXIS_PX - 6.0,
            AXIS_PX - 10.0,
            duration_text(tick)
        );
        tick = tick + step;
    }
    let heal = x(t.fault_phase);
    let _ = writeln!(
        out,
        "<line x1=\"{heal:.1}\" y1=\"{}\" x2=\"{heal:.1}\" y2=\"{height}\" stroke=\"#424242\" \
         stroke-dasharray=\"4 3\"><title>faults heal at {}</title></line>",
        AXIS_PX - 14.0,
        Instant::ZERO + t.fault_phase
    );
    let mut row = 0;
    let mut lane_name = |out: &mut String, name: &str| -> f64 {
        let y = AXIS_PX + row as f64 * LANE_PX;
        row += 1;
        let _ = writeln!(out, "<text x=\"4\" y=\"{:.1}\">{}</text>", y + 13.0, escape(name));
        y + (LANE_PX - BAR_PX) / 2.0
    };
    for node in &t.nodes {
        let y = lane_name(&mut out, &node.name);
        let _ = writeln!(
            out,
            "<rect x=\"{NAME_PX}\" y=\"{:.1}\" width=\"{plot_px}\" height=\"2\" fill=\"#eeeeee\"/>",
            y + BAR_PX / 2.0 - 1.0
        );
        // Weakest first, so that the strongest fault is drawn on top.
        let mut spans: Vec<_> = node.spans.iter().collect();
        spans.sort_by_key(|s| std::cmp::Reverse(s.mark));
        for s in spans {
            bar(&mut out, x(s.from), x(s.to), y, colour(s.mark), &s.fault, None);
        }
    }
    for partition in &t.partitions {
        let y = lane_name(&mut out, &partition.name);
        for s in &partition.segments {
            let (fill, name) = match &s.holder {
                Holder::Broker(n, name) => {
                    (BROKER_COLOURS[n.saturating_sub(1) % BROKER_COLOURS.len()], name.as_str())
                }
                Holder::Nobody => ("#e53935", "none"),
                Holder::Unknown => ("#bdbdbd", "?"),
            };
            let tip = format!(
                "{}: {} from {} to {}",
                partition.name,
                match &s.holder {
                    Holder::Broker(_, name) => format!("led by {name}"),
                    Holder::Nobody => "no leader".into(),
                    Holder::Unknown => "controller down".into(),
                },
                Instant::ZERO + s.from,
                Instant::ZERO + s.to
            );
            bar(&mut out, x(s.from), x(s.to), y, fill, &tip, Some(name));
        }
    }
    for allowed in finding_lanes {
        let y = lane_name(&mut out, if allowed { "allowed" } else { "violations" });
        let fill = if allowed { "#fb8c00" } else { "#d50000" };
        for (i, f) in t.findings.iter().enumerate().filter(|(_, f)| f.allowed == allowed) {
            let cx = x(f.time);
            let mark = if i < LABELLED_MAX { label(i).to_string() } else { String::new() };
            let _ = writeln!(
                out,
                "<g><title>{} {}{}: {}</title><circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"7\" \
                 fill=\"{fill}\"/><text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 fill=\"white\" font-size=\"10\">{mark}</text></g>",
                Instant::ZERO + f.time,
                f.invariant,
                if allowed { " (allowed)" } else { "" },
                escape(&f.headline),
                y + BAR_PX / 2.0,
                y + BAR_PX / 2.0 + 3.5,
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// One bar from `x0` to `x1` (at least 2 px, so that a 1 ms fault shows), with a tooltip
/// and, where it fits, a label.
fn bar(out: &mut String, x0: f64, x1: f64, y: f64, fill: &str, tip: &str, text: Option<&str>) {
    let width = (x1 - x0).max(2.0);
    let _ = write!(
        out,
        "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" \
         height=\"{BAR_PX}\" fill=\"{fill}\"/>",
        escape(tip)
    );
    if let Some(text) = text.filter(|t| width > 8.0 * t.len() as f64 + 4.0) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"white\">{}</text>",
            x0 + width / 2.0,
            y + 12.0,
            escape(text)
        );
    }
    out.push_str("</g>\n");
}

/// The axis step: the smallest round step that gives at most [`TICKS_MAX`] ticks.
fn tick_step(end: Duration) -> Duration {
    const STEPS_MS: [u64; 12] =
        [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 300_000, 600_000];
    let end_ms = end.as_millis();
    let ms = STEPS_MS.iter().copied().find(|&s| end_ms / s <= TICKS_MAX);
    Duration::from_millis(ms.unwrap_or(end_ms.div_ceil(TICKS_MAX).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::tests::sample;

    /// Each fault a bar in its colour with the fault as its tooltip, each leader a bar in
    /// its broker's colour, each finding a numbered dot; the heal a dashed line.
    #[test]
    fn every_fault_leader_and_finding_is_drawn_with_a_tooltip() {
        let (report, layout, fault_phase) = sample();
        let drawing = svg(&Timeline::new(&report, &layout, fault_phase));
        assert!(drawing.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{drawing}");
        assert!(drawing.ends_with("</svg>\n"));
        let tip = "<title>t=1.000s for 2.000s crash b1</title>";
        let crash = drawing.lines().find(|l| l.contains(tip)).expect("the crash's bar");
        assert!(crash.contains(&format!("fill=\"{}\"", colour(Mark::Crash))), "{crash}");
        // From 1 s to 3 s of 15 s, across the 814 px of lanes after the 130 px of names.
        assert!(crash.contains("x=\"184.3\"") && crash.contains("width=\"108.5\""), "{crash}");
        let power_loss = "<title>t=5.000s for 0.001s power-loss b2</title>";
        let blip = drawing.lines().find(|l| l.contains(power_loss)).expect("a 1 ms fault");
        assert!(blip.contains("width=\"2.0\""), "drawn 2 px wide: {blip}");
        assert!(drawing.contains("<title>t-0: led by b2 from t=1.300s to t=8.000s</title>"));
        assert!(drawing.contains("<title>t-0: no leader from t=1.200s to t=1.300s</title>"));
        assert!(drawing.contains("<title>t-0: controller down from t=8.000s to t=8.100s</title>"));
        assert!(drawing.contains("<title>t=7.000s lost-write (allowed): t-1: 1 acknowledged"));
        assert_eq!(drawing.matches("<circle ").count(), 4);
        assert!(drawing.contains("stroke-dasharray=\"4 3\"><title>faults heal at t=10.000s"));
    }

    #[test]
    fn the_axis_takes_the_smallest_round_step() {
        let step = |ms| tick_step(Duration::from_millis(ms)).as_millis();
        assert_eq!(step(1_000), 100);
        assert_eq!(step(90_000), 10_000);
        assert_eq!(step(75_000), 10_000);
        assert_eq!(step(40_000), 5_000);
        assert_eq!(step(100_000_000), 100_000_000 / 12 + 1);
    }
}
