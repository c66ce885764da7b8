//! A run drawn as lanes over time, one character per slice of the run: what the faults did
//! to each node, who led each partition, and where each violation (and each anomaly the
//! promises allow) showed. Part of the Markdown report (`kafsim run --report`) and of
//! `kafsim run --timeline`. From `scenarios/nemesis/kip101-lookup.toml`:
//!
//! ```text
//!             0s                                                                   75s
//!             |--------------------------------------------------------|-------------|
//! b1          ........XXXXXXXXXXX......XXXXXXXXXX..........XXXXXXXXX..................
//! b2          ..................XXXXXXXX........XXXXXXXXXXXX.......XXXXX..............
//! controller  ........................................................................
//! events-0    111111111122222222211111111222222222111111111112222222111111111111111111
//! violations                     1                                     2             4
//! ```

use std::cmp::Reverse;
use std::fmt::Write as _;

use crate::check::explain::partition_of;
use crate::kafka::Layout;
use crate::kafka::protocol::{CONSUMER_OFFSETS, TopicPartition};
use crate::runner::leadership::Leader;
use crate::runner::{RunReport, describe_fault};
use crate::scenario::{FaultSpec, FaultSpecKind, duration_text};
use crate::sim::time::{Duration, Instant};

/// Characters per lane of the text timeline: the run's slices.
pub const WIDTH: usize = 72;
/// Violations and allowed anomalies labelled on their lanes and named in the legend.
pub const LABELLED_MAX: usize = 35;
/// A violation's headline in the legend is cut to this many characters.
const HEADLINE_MAX: usize = 80;

/// What a fault does to a node's lane, strongest first: where faults overlap, the
/// strongest shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    PowerLoss,
    Crash,
    Pause,
    CutOff,
    Loss,
    Skew,
}

impl Mark {
    pub fn char(self) -> char {
        match self {
            Mark::PowerLoss => '#',
            Mark::Crash => 'X',
            Mark::Pause => 'P',
            Mark::CutOff => '/',
            Mark::Loss => '~',
            Mark::Skew => 'S',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mark::PowerLoss => "power loss",
            Mark::Crash => "crashed",
            Mark::Pause => "paused",
            Mark::CutOff => "cut off by a partition",
            Mark::Loss => "lossy links",
            Mark::Skew => "clock skew",
        }
    }

    pub const ALL: [Mark; 6] =
        [Mark::PowerLoss, Mark::Crash, Mark::Pause, Mark::CutOff, Mark::Loss, Mark::Skew];
}

/// A run's timeline, drawn as text ([`Timeline::text`]) or SVG (`report::svg`): exact
/// times, so each drawing picks its own resolution.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub end: Duration,
    pub fault_phase: Duration,
    /// The brokers, the controller, then each client a fault touched, in layout order.
    pub nodes: Vec<NodeLane>,
    /// The data partitions, then any other partition a violation names.
    pub partitions: Vec<PartitionLane>,
    /// The violations, then the anomalies the promises allow, in the report's order.
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug)]
pub struct NodeLane {
    pub name: String,
    pub spans: Vec<Span>,
}

/// A fault on a node from `from` to `to`.
#[derive(Clone, Debug)]
pub struct Span {
    pub from: Duration,
    pub to: Duration,
    pub mark: Mark,
    /// The fault, as a person reads it.
    pub fault: String,
}

#[derive(Clone, Debug)]
pub struct PartitionLane {
    pub name: String,
    pub segments: Vec<Segment>,
}

/// From `from` to `to`, the partition was led by `holder`.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub from: Duration,
    pub to: Duration,
    pub holder: Holder,
}

/// Who led a partition, as the controller had it.
#[derive(Clone, Debug, PartialEq)]
pub enum Holder {
    /// The broker's number (`b3` is 3) and name.
    Broker(usize, String),
    Nobody,
    /// The controller was down.
    Unknown,
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub time: Duration,
    pub invariant: &'static str,
    pub allowed: bool,
    /// The detail's first line.
    pub headline: String,
}

impl Timeline {
    pub fn new(report: &RunReport, layout: &Layout, fault_phase: Duration) -> Timeline {
        let findings = (report.violations.iter().map(|v| (v, false)))
            .chain(report.allowed.iter().map(|v| (v, true)))
            .map(|(v, allowed)| Finding {
                time: v.time - Instant::ZERO,
                invariant: v.invariant,
                allowed,
                headline: v.detail.lines().next().unwrap_or_default().to_string(),
            })
            .collect();
        Timeline {
            end: report.sim_time.max(Duration::from_nanos(1)),
            fault_phase,
            nodes: node_lanes(layout, &report.injected, fault_phase),
            partitions: partition_lanes(layout, report),
            findings,
        }
    }

    /// The text drawing: an axis, a lane per node and partition, a lane of violations and
    /// one of allowed anomalies, their legend, and the key.
    pub fn text(&self) -> String {
        let slices = Slices { end: self.end };
        let mut lanes: Vec<(String, String)> = Vec::new();
        for node in &self.nodes {
            let mut marks: Vec<Option<Mark>> = vec![None; WIDTH];
            for span in &node.spans {
                for slot in &mut marks[slices.span(span.from, span.to)] {
                    *slot = Some(slot.map_or(span.mark, |m| m.min(span.mark)));
                }
            }
            lanes.push((
                node.name.clone(),
                marks.iter().map(|m| m.map_or('.', Mark::char)).collect(),
            ));
        }
        for partition in &self.partitions {
            lanes.push((partition.name.clone(), leader_chars(&partition.segments, &slices)));
        }
        let labelled = &self.findings[..self.findings.len().min(LABELLED_MAX)];
        for (lane, allowed) in [("violations", false), ("allowed", true)] {
            let mut marks = vec![' '; WIDTH];
            for (i, f) in labelled.iter().enumerate().filter(|(_, f)| f.allowed == allowed) {
                let slot = &mut marks[slices.of(f.time)];
                if *slot == ' ' {
                    *slot = label(i);
                }
            }
            if self.findings.iter().any(|f| f.allowed == allowed) {
                lanes.push((lane.into(), marks.into_iter().collect()));
            }
        }
        let margin = lanes.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 2;
        let mut out = axis(&slices, self.fault_phase, margin);
        for (name, lane) in &lanes {
            let _ = writeln!(out, "{}", format!("{name:margin$}{lane}").trim_end());
        }
        for (i, f) in labelled.iter().enumerate() {
            let allowed = if f.allowed { " (allowed)" } else { "" };
            let at = Instant::ZERO + f.time;
            let _ =
                writeln!(out, "{} {at} {}{allowed}: {}", label(i), f.invariant, cut(&f.headline));
        }
        if self.findings.len() > labelled.len() {
            let _ = writeln!(out, "... and {} more", self.findings.len() - labelled.len());
        }
        out.push_str(LEGEND);
        out.push('\n');
        out
    }
}

const LEGEND: &str = "nodes: . up  X crashed  # power loss  P paused  / cut off by a partition  \
                      ~ lossy links  S clock skew\npartitions: the leading broker's number  \
                      - no leader  ? controller down";

/// The run's text timeline (see [`Timeline::text`]).
pub fn timeline(report: &RunReport, layout: &Layout, fault_phase: Duration) -> String {
    Timeline::new(report, layout, fault_phase).text()
}

/// The run cut into [`WIDTH`] slices of equal length.
struct Slices {
    end: Duration,
}

impl Slices {
    /// The slice holding time `t` (the last for `t` at or past the end).
    fn of(&self, t: Duration) -> usize {
        let slice = t.as_nanos() as u128 * WIDTH as u128 / self.end.as_nanos() as u128;
        (slice as usize).min(WIDTH - 1)
    }

    /// The slices `[from, to)` overlaps: at least one, so that a 1 ms fault shows.
    fn span(&self, from: Duration, to: Duration) -> std::ops::RangeInclusive<usize> {
        let first = self.of(from);
        let last = self.of(to.saturating_sub(Duration::from_nanos(1))).max(first);
        first..=last
    }

    /// When slice `i` starts.
    fn start(&self, i: usize) -> Duration {
        Duration::from_nanos((self.end.as_nanos() as u128 * i as u128 / WIDTH as u128) as u64)
    }
}

/// Two rows: the times of the start, the heal and the end over tick marks.
fn axis(slices: &Slices, fault_phase: Duration, margin: usize) -> String {
    let heal = slices.of(fault_phase);
    let mut ticks = vec!['-'; WIDTH];
    for at in [0, heal, WIDTH - 1] {
        ticks[at] = '|';
    }
    let mut labels = vec![' '; WIDTH + 16];
    let mut place = |at: usize, text: &str| {
        for (i, c) in text.chars().enumerate() {
            labels[at + i] = c;
        }
    };
    let end_label = duration_text(slices.end);
    place(0, "0s");
    // The heal's time from its tick on, or else ending at its tick, clear of the others.
    let heal_label = format!("{} heal", duration_text(fault_phase));
    let free = 3..WIDTH - end_label.len();
    let starts = [heal, (heal + 1).saturating_sub(heal_label.len())];
    if let Some(&at) =
        starts.iter().find(|&&at| free.contains(&at) && at + heal_label.len() < free.end)
    {
        place(at, &heal_label);
    }
    place(WIDTH - end_label.len(), &end_label);
    let labels: String = labels.into_iter().collect();
    let ticks: String = ticks.into_iter().collect();
    format!("{:margin$}{}\n{:margin$}{ticks}\n", "", labels.trim_end(), "")
}

/// A partition's lane: in each slice the leader at its end, or `-` if it had none at any
/// moment of the slice (`?` if the controller was down); blank before the first election.
fn leader_chars(segments: &[Segment], slices: &Slices) -> String {
    (0..WIDTH)
        .map(|i| {
            let (start, end) = (slices.start(i), slices.start(i + 1));
            let within: Vec<&Segment> =
                segments.iter().filter(|s| s.from < end && s.to > start).collect();
            if within.iter().any(|s| s.holder == Holder::Nobody) {
                '-'
            } else if within.iter().any(|s| s.holder == Holder::Unknown) {
                '?'
            } else {
                match within.last().map(|s| &s.holder) {
                    Some(Holder::Broker(number, _)) => broker_char(*number),
                    _ => ' ',
                }
            }
        })
        .collect()
}

/// Per node lane (brokers, the controller, then each client a fault touched, in layout
/// order), its faults.
fn node_lanes(layout: &Layout, faults: &[FaultSpec], fault_phase: Duration) -> Vec<NodeLane> {
    let mut nodes: Vec<&str> = layout.brokers.iter().map(|&b| layout.name(b)).collect();
    nodes.push(layout.name(layout.controller));
    let clients = layout.producers.iter().chain(&layout.consumers).map(|&c| layout.name(c));
    let touched: Vec<(&str, Mark)> = faults.iter().flat_map(marks_of).collect();
    nodes.extend(clients.filter(|c| touched.iter().any(|(n, _)| n == c)));
    let mut lanes: Vec<NodeLane> =
        nodes.iter().map(|n| NodeLane { name: n.to_string(), spans: Vec::new() }).collect();
    for fault in faults {
        let to = fault.duration.map_or(fault_phase, |d| fault.at + d);
        // As the run's list of faults names it.
        let what = describe_fault(&layout.fault(fault), layout);
        for (node, mark) in marks_of(fault) {
            let everyone = node.is_empty();
            for lane in lanes.iter_mut().filter(|l| everyone || l.name == node) {
                lane.spans.push(Span { from: fault.at, to, mark, fault: what.clone() });
            }
        }
    }
    lanes
}

/// The nodes a fault marks, and how; an empty name marks every lane (loss on every link).
fn marks_of(fault: &FaultSpec) -> Vec<(&str, Mark)> {
    fn each(nodes: &[String], mark: Mark) -> Vec<(&str, Mark)> {
        nodes.iter().map(|n| (n.as_str(), mark)).collect()
    }
    match &fault.kind {
        FaultSpecKind::Crash { nodes, lose_unflushed: true } => each(nodes, Mark::PowerLoss),
        FaultSpecKind::Crash { nodes, lose_unflushed: false } => each(nodes, Mark::Crash),
        FaultSpecKind::Pause { nodes } => each(nodes, Mark::Pause),
        // The nodes outside the largest group (the first of the largest, on a tie).
        FaultSpecKind::Partition { groups } => {
            let largest = (0..groups.len()).max_by_key(|&i| (groups[i].len(), Reverse(i)));
            let cut = groups.iter().enumerate().filter(|&(i, _)| Some(i) != largest);
            cut.flat_map(|(_, group)| each(group, Mark::CutOff)).collect()
        }
        // The smaller side (the senders, on a tie).
        FaultSpecKind::PartitionOneWay { from, to } => {
            each(if to.len() < from.len() { to } else { from }, Mark::CutOff)
        }
        FaultSpecKind::Loss { nodes, .. } if nodes.is_empty() => vec![("", Mark::Loss)],
        FaultSpecKind::Loss { nodes, .. } => each(nodes, Mark::Loss),
        FaultSpecKind::ClockSkew { nodes, .. } => each(nodes, Mark::Skew),
    }
}

/// The data partitions, then any other partition a violation names (a
/// `__consumer_offsets` partition, say), in layout order; each as segments of leadership
/// from its first election to the end of the run.
fn partition_lanes(layout: &Layout, report: &RunReport) -> Vec<PartitionLane> {
    let named: Vec<TopicPartition> =
        report.violations.iter().filter_map(|v| partition_of(&v.detail, layout)).collect();
    let shown = layout
        .partitions()
        .map(|(tp, _)| tp)
        .filter(|tp| &*tp.topic != CONSUMER_OFFSETS || named.contains(tp));
    let end = report.sim_time;
    shown
        .map(|tp| {
            let changes: Vec<_> = report.leadership.iter().filter(|c| c.partition == tp).collect();
            let segments = changes
                .iter()
                .enumerate()
                .map(|(i, c)| Segment {
                    from: c.at - Instant::ZERO,
                    to: changes.get(i + 1).map_or(end, |next| next.at - Instant::ZERO),
                    holder: match c.leader {
                        Leader::Broker(b) => {
                            let number =
                                layout.brokers.iter().position(|&x| x == b).map_or(0, |i| i + 1);
                            Holder::Broker(number, layout.name(b).to_string())
                        }
                        Leader::None => Holder::Nobody,
                        Leader::Unknown => Holder::Unknown,
                    },
                })
                .collect();
            PartitionLane { name: tp.to_string(), segments }
        })
        .collect()
}

/// A broker's number as one character: `1`..`9`, then `a`..`z`; `*` past that.
fn broker_char(number: usize) -> char {
    char::from_digit(number as u32, 36).filter(|_| number > 0).unwrap_or('*')
}

/// The legend label of the `i`-th finding: `1`..`9`, then `a`..`z`.
pub fn label(i: usize) -> char {
    char::from_digit(i as u32 + 1, 36).expect("at most LABELLED_MAX labels")
}

/// A headline cut to [`HEADLINE_MAX`] characters.
fn cut(headline: &str) -> String {
    match headline.char_indices().nth(HEADLINE_MAX) {
        Some((at, _)) => format!("{}...", &headline[..at]),
        None => headline.to_string(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::check::Violation;
    use crate::runner::leadership::LeaderChange;

    pub(in crate::report) const SCENARIO: &str = r#"
        name = "lanes"
        description = "a timeline"
        [run]
        duration = "10s"
        heal = "5s"
        [cluster]
        brokers = 3
        [[topics]]
        name = "t"
        partitions = 2
        replication_factor = 2
        [[producers]]
        name = "p1"
        topic = "t"
        rate = 10
        [[consumers]]
        name = "c1"
        topics = ["t"]
    "#;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn fault(from_ms: u64, for_ms: Option<u64>, kind: FaultSpecKind) -> FaultSpec {
        FaultSpec { at: at(from_ms), duration: for_ms.map(at), kind }
    }

    fn names(nodes: &[&str]) -> Vec<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    fn violation(ms: u64, invariant: &'static str, detail: &str) -> Violation {
        Violation { invariant, time: Instant::ZERO + at(ms), detail: detail.into() }
    }

    /// A run with every fault kind, a leaderless moment, a controller outage, violations
    /// and an allowed anomaly; its layout and fault phase.
    pub(in crate::report) fn sample() -> (RunReport, Layout, Duration) {
        let scenario = crate::scenario::parse("lanes.toml", SCENARIO).expect("valid");
        let layout = Layout::new(&scenario);
        let b = |name: &str| layout.id(name).expect("a broker");
        let change = |ms: u64, leader| LeaderChange {
            at: Instant::ZERO + at(ms),
            partition: TopicPartition::new("t", 0),
            leader,
        };
        let report = RunReport {
            scenario: "lanes".into(),
            seed: 1,
            violations: vec![
                violation(5_500, "lost-write", "t-0: 2 acknowledged write(s) from p1 never read"),
                violation(5_500, "duplicate", "t-0: 1 value(s) read at two offsets"),
                violation(14_900, "liveness", "the cluster did not recover"),
            ],
            allowed: vec![violation(7_000, "lost-write", "t-1: 1 acknowledged write(s) lost")],
            converged_after: None,
            explanations: Vec::new(),
            trace_hash: 0,
            events: 0,
            sim_time: at(15_000),
            wall: std::time::Duration::ZERO,
            expect_met: false,
            faults: Vec::new(),
            injected: vec![
                fault(
                    500,
                    Some(3_000),
                    FaultSpecKind::ClockSkew { nodes: names(&["b1"]), offset_ns: 1, drift_ppm: 0 },
                ),
                fault(
                    1_000,
                    Some(2_000),
                    FaultSpecKind::Crash { nodes: names(&["b1"]), lose_unflushed: false },
                ),
                fault(2_000, None, FaultSpecKind::Pause { nodes: names(&["p1"]) }),
                fault(
                    5_000,
                    Some(1),
                    FaultSpecKind::Crash { nodes: names(&["b2"]), lose_unflushed: true },
                ),
                fault(
                    6_000,
                    Some(1_000),
                    FaultSpecKind::Partition {
                        groups: vec![names(&["b3"]), names(&["b1", "b2", "controller"])],
                    },
                ),
                fault(12_000, Some(1_000), FaultSpecKind::Loss { nodes: Vec::new(), rate: 0.5 }),
            ],
            leadership: vec![
                change(10, Leader::Broker(b("b1"))),
                change(1_200, Leader::None),
                change(1_300, Leader::Broker(b("b2"))),
                change(8_000, Leader::Unknown),
                change(8_100, Leader::Broker(b("b2"))),
            ],
        };
        (report, layout, scenario.run.duration)
    }

    /// Every fault kind on its lanes, the strongest winning a slice; a leader lane with a
    /// leaderless moment and a controller outage; violations labelled where they showed.
    #[test]
    fn faults_leaders_and_violations_fall_in_their_slices() {
        let (report, layout, fault_phase) = sample();
        let text = timeline(&report, &layout, fault_phase);
        let expected = [
            "            0s                                              10s heal             15s",
            "            |-----------------------------------------------|----------------------|",
            "b1          ..SSXXXXXXXXXXXSS........................................~~~~~~.........",
            "b2          ........................#................................~~~~~~.........",
            "b3          ............................//////.......................~~~~~~.........",
            "controller  .........................................................~~~~~~.........",
            "p1          .........PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP.........~~~~~~.........",
            "t-0         11111--2222222222222222222222222222222?222222222222222222222222222222222",
            "t-1",
            "violations                            1                                            3",
            "allowed                                      4",
            "1 t=5.500s lost-write: t-0: 2 acknowledged write(s) from p1 never read",
            "2 t=5.500s duplicate: t-0: 1 value(s) read at two offsets",
            "3 t=14.900s liveness: the cluster did not recover",
            "4 t=7.000s lost-write (allowed): t-1: 1 acknowledged write(s) lost",
        ];
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..expected.len()], expected, "\n{text}");
        assert_eq!(&lines[expected.len()..], LEGEND.lines().collect::<Vec<_>>());
    }
}
