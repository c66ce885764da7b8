//! Explanations: for each violation, the few events of the trace that matter, in order,
//! with simulated times and nodes, so that a person understands it without reading the
//! trace. Built from a recorded trace after the run (a run is deterministic: the runner
//! replays a failing seed with the trace on).
//!
//! What matters, for a violation about a partition: the faults that hit its replicas or
//! the controller, the controller's decisions about it (elections, ISR changes, fencing)
//! and its replicas' notes (becoming leader or follower, truncations, loaded logs), up to
//! the moment the violation became visible; then the violation's own first example. For a
//! violation about no single partition (a group's, liveness), the faults and the
//! controller's decisions. At most [`NARRATIVE_MAX`] events, the latest.
//!
//! A violation judged on the logs the run ended with (`lost-write`, `missed-record`) is
//! timed when a client acted: the acknowledgement, the read past an offset. The records
//! went missing later, when a log was truncated; its story goes on past the violation to
//! the partition's last truncation (at most [`AFTERMATH_MAX`] of those later events).

use crate::kafka::cluster::Layout;
use crate::kafka::protocol::TopicPartition;
use crate::sim::node::NodeId;
use crate::sim::time::Instant;
use crate::sim::trace::{EventKind, TraceRecord};

use super::Violation;

/// Events quoted per explanation, besides the violation itself.
pub const NARRATIVE_MAX: usize = 12;
/// Of those, the most quoted after the violation's time.
pub const AFTERMATH_MAX: usize = 8;

/// Invariants judged on the logs the run ended with (see the module's documentation).
const JUDGED_ON_FINAL_LOGS: [&str; 2] = ["lost-write", "missed-record"];
/// How a replica's note of a truncation begins, after the partition's name.
const TRUNCATION_NOTE: &str = " truncated from";

/// The narrative of `violation`, one line per event.
pub fn explain(violation: &Violation, trace: &[TraceRecord], layout: &Layout) -> Vec<String> {
    let tp = partition_of(&violation.detail, layout);
    let nodes: Vec<NodeId> = match &tp {
        Some(tp) => {
            let mut nodes = layout.replicas(tp).map_or_else(Vec::new, <[NodeId]>::to_vec);
            nodes.push(layout.controller);
            nodes
        }
        None => layout.brokers.iter().copied().chain([layout.controller]).collect(),
    };
    let prefix = tp.as_ref().map(|tp| format!("{tp}:"));
    let relevant = |r: &TraceRecord| match r.kind {
        EventKind::Fault => nodes.iter().any(|&n| r.detail.contains(&format!("NodeId({})", n.0))),
        EventKind::Annotation => {
            let by = r.node.is_some_and(|n| nodes.contains(&n));
            match &prefix {
                Some(prefix) => by && r.detail.starts_with(prefix.as_str()),
                None => r.node == Some(layout.controller),
            }
        }
        _ => false,
    };
    let truncation = |r: &TraceRecord| {
        let after_prefix = prefix.as_ref().and_then(|p| r.detail.strip_prefix(p.as_str()));
        r.kind == EventKind::Annotation
            && after_prefix.is_some_and(|d| d.starts_with(TRUNCATION_NOTE))
    };
    let until = match JUDGED_ON_FINAL_LOGS.contains(&violation.invariant) {
        true => trace.iter().rev().find(|r| relevant(r) && truncation(r)).map(|r| r.time),
        false => None,
    };
    let until = until.map_or(violation.time, |t| t.max(violation.time));
    let mut lines: Vec<(Instant, String)> = Vec::new();
    for r in trace.iter().take_while(|r| r.time <= until).filter(|r| relevant(r)) {
        let line = format!(
            "{} {}: {}",
            r.time,
            r.node.map_or("nemesis", |n| layout.name(n)),
            text(r, layout)
        );
        if lines.last().map(|(_, l)| l) != Some(&line) {
            lines.push((r.time, line));
        }
    }
    let mut after: Vec<String> = lines
        .split_off(lines.partition_point(|(time, _)| *time <= violation.time))
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    let after_skipped = after.len().saturating_sub(AFTERMATH_MAX);
    after.drain(..after_skipped);
    let before_skipped = lines.len().saturating_sub(NARRATIVE_MAX - after.len());
    let mut narrative: Vec<String> = Vec::with_capacity(NARRATIVE_MAX + 3);
    if before_skipped > 0 {
        narrative.push(format!("... {before_skipped} earlier event(s)"));
    }
    narrative.extend(lines.into_iter().skip(before_skipped).map(|(_, line)| line));
    narrative.push(format!(
        "{} {}: {}",
        violation.time,
        violation.invariant,
        conclusion(&violation.detail)
    ));
    if after_skipped > 0 {
        narrative.push(format!("... {after_skipped} event(s) later"));
    }
    narrative.extend(after);
    narrative
}

/// The first partition of the layout the violation's first line names (the longest name
/// first, so `t-1` does not match inside `t-10`).
pub fn partition_of(detail: &str, layout: &Layout) -> Option<TopicPartition> {
    let first = detail.lines().next().unwrap_or("");
    let mut partitions: Vec<TopicPartition> = layout.partitions().map(|(tp, _)| tp).collect();
    partitions.sort_by_key(|tp| std::cmp::Reverse(tp.to_string().len()));
    partitions.into_iter().find(|tp| {
        let name = tp.to_string();
        first.match_indices(&name).any(|(at, _)| {
            let next = first[at + name.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_digit())
        })
    })
}

/// An event's text with node ids as names; a fault as its kind and nodes.
fn text(r: &TraceRecord, layout: &Layout) -> String {
    let detail = match r.kind {
        EventKind::Fault => {
            let (phase, rest) = r.detail.split_once(' ').unwrap_or(("", &r.detail));
            let kind = rest.split_once("kind: ").map_or(rest, |(_, k)| k);
            let kind = kind.strip_suffix(" }").unwrap_or(kind);
            let verb = if phase == "end" { "heals" } else { "starts" };
            format!("fault {verb}: {kind}")
        }
        _ => r.detail.clone(),
    };
    with_names(&detail, layout)
}

/// `NodeId(3)` and `Some(NodeId(3))` as the node's name.
fn with_names(text: &str, layout: &Layout) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("NodeId(") {
        let (before, after) = rest.split_at(at);
        let inner = &after["NodeId(".len()..];
        let Some(close) = inner.find(')') else { break };
        let Ok(id) = inner[..close].parse::<u32>() else {
            out.push_str(&rest[..at + "NodeId(".len()]);
            rest = inner;
            continue;
        };
        let name = layout.name(NodeId(id));
        match before.strip_suffix("Some(") {
            Some(stem) if inner[close + 1..].starts_with(')') => {
                out.push_str(stem);
                out.push_str(name);
                rest = &inner[close + 2..];
            }
            _ => {
                out.push_str(before);
                out.push_str(name);
                rest = &inner[close + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the violation says, in one line: its first example if it has any, else its
/// headline.
fn conclusion(detail: &str) -> String {
    let mut lines = detail.lines();
    let headline = lines.next().unwrap_or("");
    match lines.next().and_then(|l| l.trim_start().strip_prefix("- ")) {
        Some(example) => format!("{headline}; e.g. {example}"),
        None => headline.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::time::{Duration, Instant};

    fn layout() -> Layout {
        let text = r#"
            name = "x"
            description = "one partition"
            [run]
            duration = "1s"
            [cluster]
            brokers = 3
            [[topics]]
            name = "t"
            partitions = 11
            replication_factor = 2
        "#;
        Layout::new(&crate::scenario::parse("x.toml", text).expect("valid"))
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn record(ms: u64, kind: EventKind, node: Option<u32>, detail: &str) -> TraceRecord {
        TraceRecord {
            index: ms,
            time: at(ms),
            kind,
            node: node.map(NodeId),
            peer: None,
            digest: 0,
            detail: detail.to_string(),
        }
    }

    #[test]
    fn the_narrative_keeps_the_events_of_the_partition_in_order_with_names() {
        let l = layout();
        // t-10's replicas: round-robin from broker 10 % 3 = 1: b2, b3.
        assert_eq!(l.replicas(&TopicPartition::new("t", 10)), Some(&[NodeId(1), NodeId(2)][..]));
        let controller = l.controller.0;
        let trace = vec![
            record(1, EventKind::Annotation, Some(1), "t-10: leader in epoch 1 at LEO 0 HW 0"),
            record(2, EventKind::Annotation, Some(1), "t-1: leader in epoch 1 at LEO 0 HW 0"),
            record(3, EventKind::Deliver, Some(1), "t-10: ProduceRequest"),
            record(
                4,
                EventKind::Fault,
                None,
                "start Fault { at: Instant(4), duration: None, kind: Crash { nodes: [NodeId(1)], lose_unflushed: true } }",
            ),
            record(
                5,
                EventKind::Fault,
                None,
                "start Fault { at: Instant(5), duration: None, kind: Pause { nodes: [NodeId(0)] } }",
            ),
            record(
                6,
                EventKind::Annotation,
                Some(controller),
                "t-10: leader Some(NodeId(1)) -> Some(NodeId(2)) epoch 2",
            ),
            record(
                6,
                EventKind::Annotation,
                Some(controller),
                "t-10: leader Some(NodeId(1)) -> Some(NodeId(2)) epoch 2",
            ),
            record(
                7,
                EventKind::Annotation,
                Some(2),
                "t-10: follower of NodeId(2) in epoch 2 at LEO 5 (was 9) HW 5",
            ),
            record(9, EventKind::Annotation, Some(2), "t-10: after the violation"),
        ];
        let violation = Violation {
            invariant: "lost-write",
            time: at(8),
            detail: "t-10: 2 acknowledged write(s) from p1 never read\n  - offset 7: p1#7 acknowledged by b2 (epoch 1)\n  - offset 8: ...".into(),
        };
        assert_eq!(
            explain(&violation, &trace, &l),
            [
                "t=0.001s b2: t-10: leader in epoch 1 at LEO 0 HW 0",
                "t=0.004s nemesis: fault starts: Crash { nodes: [b2], lose_unflushed: true }",
                "t=0.006s controller: t-10: leader b2 -> b3 epoch 2",
                "t=0.007s b3: t-10: follower of b3 in epoch 2 at LEO 5 (was 9) HW 5",
                "t=0.008s lost-write: t-10: 2 acknowledged write(s) from p1 never read; e.g. offset 7: p1#7 acknowledged by b2 (epoch 1)",
            ]
        );
    }

    /// A record missed at 5 ms went missing from the log only at the truncation at 30 ms:
    /// the story goes on to it, and no further.
    #[test]
    fn a_violation_judged_on_the_final_logs_runs_on_to_the_last_truncation() {
        let l = layout();
        let note = |ms, node, text: &str| record(ms, EventKind::Annotation, Some(node), text);
        let trace = vec![
            note(1, 1, "t-1: leader in epoch 1 at LEO 0 HW 0"),
            note(10, 1, "t-1: leader in epoch 2 at LEO 0 HW 0"),
            note(20, 2, "t-1: truncated from 9 to 0 (leader answered Some((1, 0)))"),
            note(30, 2, "t-1: truncated from 4 to 0 (leader answered Some((1, 0)))"),
            note(40, 2, "t-1: follower of NodeId(1) in epoch 2 at LEO 0 (was 0) HW 0"),
        ];
        let missed = Violation {
            invariant: "missed-record",
            time: at(5),
            detail: "group g, t-1: 1 record(s) of the final log never read by the group".into(),
        };
        assert_eq!(
            explain(&missed, &trace, &l),
            [
                "t=0.001s b2: t-1: leader in epoch 1 at LEO 0 HW 0",
                "t=0.005s missed-record: group g, t-1: 1 record(s) of the final log never read by the group",
                "t=0.010s b2: t-1: leader in epoch 2 at LEO 0 HW 0",
                "t=0.020s b3: t-1: truncated from 9 to 0 (leader answered Some((1, 0)))",
                "t=0.030s b3: t-1: truncated from 4 to 0 (leader answered Some((1, 0)))",
            ]
        );
        // A violation judged as it happens ends with it.
        let state = Violation { invariant: "strong-isr", ..missed };
        assert_eq!(explain(&state, &trace, &l).len(), 2);
    }

    #[test]
    fn long_stories_keep_their_latest_events() {
        let l = layout();
        let trace: Vec<TraceRecord> = (0..20)
            .map(|i| record(i, EventKind::Annotation, Some(1), &format!("t-1: step {i}")))
            .collect();
        let violation =
            Violation { invariant: "strong-isr", time: at(100), detail: "t-1: broken".into() };
        let narrative = explain(&violation, &trace, &l);
        assert_eq!(narrative.len(), NARRATIVE_MAX + 2);
        assert_eq!(narrative[0], "... 8 earlier event(s)");
        assert!(narrative[1].ends_with("t-1: step 8"), "{}", narrative[1]);
        assert_eq!(narrative.last().map(String::as_str), Some("t=0.100s strong-isr: t-1: broken"));
        // Twenty truncations after a missed record: the latest of them, and fewer before.
        let trace: Vec<TraceRecord> = (0..40)
            .map(|i| {
                let note = if i < 20 {
                    format!("t-1: step {i}")
                } else {
                    format!("t-1: truncated from {i} to 0")
                };
                record(i, EventKind::Annotation, Some(1), &note)
            })
            .collect();
        let missed = Violation { invariant: "missed-record", time: at(19), ..violation };
        let narrative = explain(&missed, &trace, &l);
        assert_eq!(narrative.len(), NARRATIVE_MAX + 3);
        assert_eq!(narrative[0], "... 16 earlier event(s)");
        assert_eq!(narrative[5], "t=0.019s missed-record: t-1: broken");
        assert_eq!(narrative[6], "... 12 event(s) later");
        assert!(narrative[7].ends_with("t-1: truncated from 32 to 0"), "{}", narrative[7]);
        assert!(narrative[14].ends_with("t-1: truncated from 39 to 0"), "{}", narrative[14]);
    }
}
