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

use crate::check::Violation;
use crate::check::explain::partition_of;
use crate::kafka::Layout;
use crate::kafka::protocol::{CONSUMER_OFFSETS, TopicPartition};
use crate::runner::RunReport;
use crate::runner::leadership::{Leader, LeaderChange};
use crate::scenario::{FaultSpec, FaultSpecKind};
use crate::sim::NodeId;
use crate::sim::time::{Duration, Instant};

/// Characters per lane: the run's slices.
pub const WIDTH: usize = 72;
/// Violations and allowed anomalies labelled on their lanes and named in the legend.
const LABELLED_MAX: usize = 35;
/// A violation's headline in the legend is cut to this many characters.
const HEADLINE_MAX: usize = 80;

/// What a fault does to a node's lane, strongest first: a slice shows the strongest fault
/// that touched the node in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    PowerLoss,
    Crash,
    Pause,
    CutOff,
    Loss,
    Skew,
}

impl Mark {
    fn char(self) -> char {
        match self {
            Mark::PowerLoss => '#',
            Mark::Crash => 'X',
            Mark::Pause => 'P',
            Mark::CutOff => '/',
            Mark::Loss => '~',
            Mark::Skew => 'S',
        }
    }
}

const LEGEND: &str = "nodes: . up  X crashed  # power loss  P paused  / cut off by a partition  \
                      ~ lossy links  S clock skew\npartitions: the leading broker's number  \
                      - no leader  ? controller down";

/// The run's timeline: an axis, a lane per broker, the controller and each client a fault
/// touched, a lane per data partition (and any other a violation names), a lane of
/// violations, and a legend.
pub fn timeline(report: &RunReport, layout: &Layout, fault_phase: Duration) -> String {
    let end = report.sim_time.max(Duration::from_nanos(1));
    let slices = Slices { end };
    let mut lanes: Vec<(String, String)> = Vec::new();
    for (name, marks) in node_marks(layout, &report.injected, fault_phase, &slices) {
        let lane = marks.iter().map(|m| m.map_or('.', Mark::char)).collect();
        lanes.push((name, lane));
    }
    for tp in partitions_shown(layout, &report.violations) {
        let lane = leader_lane(layout, &tp, &report.leadership, &slices);
        lanes.push((tp.to_string(), lane));
    }
    // Violations, then the anomalies the promises allow, labelled in that order.
    let findings: Vec<(&str, &Violation)> = (report.violations.iter().map(|v| ("violations", v)))
        .chain(report.allowed.iter().map(|v| ("allowed", v)))
        .collect();
    let labelled = &findings[..findings.len().min(LABELLED_MAX)];
    for kind in ["violations", "allowed"] {
        let mut marks = vec![' '; WIDTH];
        for (i, (_, v)) in labelled.iter().enumerate().filter(|(_, (k, _))| *k == kind) {
            let slot = &mut marks[slices.of(v.time - Instant::ZERO)];
            if *slot == ' ' {
                *slot = label(i);
            }
        }
        if findings.iter().any(|(k, _)| *k == kind) {
            lanes.push((kind.into(), marks.into_iter().collect()));
        }
    }
    let margin = lanes.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 2;
    let mut out = axis(&slices, fault_phase, margin);
    for (name, lane) in &lanes {
        let _ = writeln!(out, "{}", format!("{name:margin$}{lane}").trim_end());
    }
    for (i, (kind, v)) in labelled.iter().enumerate() {
        let allowed = if *kind == "allowed" { " (allowed)" } else { "" };
        let _ = writeln!(out, "{} {} {}{allowed}: {}", label(i), v.time, v.invariant, headline(v));
    }
    if findings.len() > labelled.len() {
        let _ = writeln!(out, "... and {} more", findings.len() - labelled.len());
    }
    out.push_str(LEGEND);
    out.push('\n');
    out
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
    let end_label = short(slices.end);
    place(0, "0s");
    // The heal's time from its tick on, or else ending at its tick, clear of the others.
    let heal_label = format!("{} heal", short(fault_phase));
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

/// A time for the axis, in whole seconds when it is one.
fn short(t: Duration) -> String {
    let ms = t.as_millis();
    if ms.is_multiple_of(1_000) { format!("{}s", ms / 1_000) } else { format!("{t}") }
}

/// Per node lane (brokers, the controller, then each client a fault touched, in layout
/// order), the strongest fault in each slice.
fn node_marks(
    layout: &Layout,
    faults: &[FaultSpec],
    fault_phase: Duration,
    slices: &Slices,
) -> Vec<(String, Vec<Option<Mark>>)> {
    let mut nodes: Vec<&str> = layout.brokers.iter().map(|&b| layout.name(b)).collect();
    nodes.push(layout.name(layout.controller));
    let clients = layout.producers.iter().chain(&layout.consumers).map(|&c| layout.name(c));
    let touched: Vec<(&str, Mark)> = faults.iter().flat_map(marks_of).collect();
    nodes.extend(clients.filter(|c| touched.iter().any(|(n, _)| n == c)));
    let mut lanes: Vec<(String, Vec<Option<Mark>>)> =
        nodes.iter().map(|n| (n.to_string(), vec![None; WIDTH])).collect();
    for fault in faults {
        let to = fault.duration.map_or(fault_phase, |d| fault.at + d);
        for (node, mark) in marks_of(fault) {
            let everyone = node.is_empty();
            for (_, lane) in lanes.iter_mut().filter(|(n, _)| everyone || n == node) {
                for slot in &mut lane[slices.span(fault.at, to)] {
                    *slot = Some(slot.map_or(mark, |m| m.min(mark)));
                }
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
/// `__consumer_offsets` partition, say), in layout order.
fn partitions_shown(layout: &Layout, violations: &[Violation]) -> Vec<TopicPartition> {
    let named: Vec<TopicPartition> =
        violations.iter().filter_map(|v| partition_of(&v.detail, layout)).collect();
    layout
        .partitions()
        .map(|(tp, _)| tp)
        .filter(|tp| &*tp.topic != CONSUMER_OFFSETS || named.contains(tp))
        .collect()
}

/// A partition's lane: in each slice the leader at its end, or `-` if it had none at any
/// moment of the slice (`?` if the controller was down); blank before the first election.
fn leader_lane(
    layout: &Layout,
    tp: &TopicPartition,
    changes: &[LeaderChange],
    slices: &Slices,
) -> String {
    let mine: Vec<&LeaderChange> = changes.iter().filter(|c| c.partition == *tp).collect();
    let mut lane = String::with_capacity(WIDTH);
    let mut next = 0;
    let mut current: Option<Leader> = None;
    for i in 0..WIDTH {
        let end = slices.start(i + 1);
        let mut seen: Vec<Leader> = current.into_iter().collect();
        while next < mine.len() && mine[next].at - Instant::ZERO < end {
            current = Some(mine[next].leader);
            seen.push(mine[next].leader);
            next += 1;
        }
        let c = if seen.contains(&Leader::None) {
            '-'
        } else if seen.contains(&Leader::Unknown) {
            '?'
        } else {
            match current {
                Some(Leader::Broker(b)) => broker_char(layout, b),
                _ => ' ',
            }
        };
        lane.push(c);
    }
    lane
}

/// A broker's number as one character: `1`..`9`, then `a`..`z`; `*` past that.
fn broker_char(layout: &Layout, broker: NodeId) -> char {
    let number = layout.brokers.iter().position(|&b| b == broker).map_or(0, |i| i + 1);
    char::from_digit(number as u32, 36).filter(|_| number > 0).unwrap_or('*')
}

/// The legend label of the `i`-th violation: `1`..`9`, then `a`..`z`.
fn label(i: usize) -> char {
    char::from_digit(i as u32 + 1, 36).expect("at most LABELLED_MAX labels")
}

/// A violation's first line, cut to [`HEADLINE_MAX`] characters.
fn headline(v: &Violation) -> String {
    let first = v.detail.lines().next().unwrap_or_default();
    match first.char_indices().nth(HEADLINE_MAX) {
        Some((at, _)) => format!("{}...", &first[..at]),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::leadership::LeaderChange;

    const SCENARIO: &str = r#"
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

    /// Every fault kind on its lanes, the strongest winning a slice; a leader lane with a
    /// leaderless moment and a controller outage; violations labelled where they showed.
    #[test]
    fn faults_leaders_and_violations_fall_in_their_slices() {
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
        let text = timeline(&report, &layout, scenario.run.duration);
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
