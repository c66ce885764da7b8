//! A scenario's faults, fixed and nemesis-drawn, as kernel faults on node ids.

use crate::kafka::Layout;
use crate::kafka::cluster::OS_WRITEBACK_AGE;
use crate::scenario::{NemesisSpec, Scenario};
use crate::sim::nemesis::{self, NemesisConfig};
use crate::sim::{Fault, FaultKind, Instant, NodeId, SimRng};

/// Every fault of the run: the fixed timeline, then the nemesis's, drawn from the seed's
/// `nemesis` sub-stream.
pub fn timeline(scenario: &Scenario, seed: u64, layout: &Layout) -> Vec<Fault> {
    let mut faults: Vec<Fault> = scenario.faults.iter().map(|f| layout.fault(f)).collect();
    if let Some(spec) = &scenario.nemesis {
        let config = nemesis_config(spec, scenario, layout);
        faults.extend(nemesis::timeline(&config, &mut SimRng::stream(seed, "nemesis")));
    }
    faults
}

/// One line a person can read: `t=5.000s for 4.000s partition [b1] | [b2 b3 controller]`.
pub fn describe(fault: &Fault, layout: &Layout) -> String {
    let names =
        |nodes: &[NodeId]| nodes.iter().map(|&n| layout.name(n)).collect::<Vec<_>>().join(" ");
    let what = match &fault.kind {
        FaultKind::Partition { groups } => {
            groups.iter().map(|g| format!("[{}]", names(g))).collect::<Vec<_>>().join(" | ")
        }
        FaultKind::PartitionOneWay { from, to } => {
            format!("[{}] -> [{}] cut", names(from), names(to))
        }
        FaultKind::Crash { nodes, .. } | FaultKind::Pause { nodes } => names(nodes),
        FaultKind::ClockSkew { nodes, offset_ns, drift_ppm } => {
            format!("{} offset {}ms drift {}ppm", names(nodes), offset_ns / 1_000_000, drift_ppm)
        }
        FaultKind::Loss { nodes, rate } if nodes.is_empty() => format!("all links rate {rate:.2}"),
        FaultKind::Loss { nodes, rate } => format!("{} rate {rate:.2}", names(nodes)),
    };
    let span = fault.duration.map_or_else(|| "until heal".to_string(), |d| format!("for {d}"));
    format!("{} {span} {} {what}", fault.at, fault.kind.name())
}

fn nemesis_config(spec: &NemesisSpec, scenario: &Scenario, layout: &Layout) -> NemesisConfig {
    let mut participants = layout.brokers.clone();
    participants.push(layout.controller);
    let targets = spec
        .targets
        .iter()
        .map(|name| layout.id(name).unwrap_or_else(|| panic!("validated target {name} unknown")))
        .collect();
    NemesisConfig {
        kinds: spec.kinds.clone(),
        targets,
        participants,
        interval_min: spec.interval_min,
        interval_max: spec.interval_max,
        duration_min: spec.fault_duration_min,
        duration_max: spec.fault_duration_max,
        // The OS writes dirty pages back after 30 s: one power loss per that window (plus
        // the longest fault) leaves time for the node to catch up again.
        power_loss_gap_min: OS_WRITEBACK_AGE + spec.fault_duration_max,
        start: Instant::ZERO,
        end: Instant::ZERO + scenario.run.duration,
    }
}
