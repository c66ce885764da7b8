//! Scenario files written from validated values: the inverse of parsing, for tools that
//! write scenarios (`kafsim shrink`, the property-testing strategies). What is written
//! parses back to what it was written from.

use toml::{Table, Value};

use super::{FaultSpec, FaultSpecKind, duration_text, signed_text};

fn names(nodes: &[String]) -> Value {
    Value::Array(nodes.iter().map(|n| Value::String(n.clone())).collect())
}

/// A `[[faults]]` entry, as a person would write it.
pub fn fault_table(fault: &FaultSpec) -> Table {
    let mut t = Table::new();
    t.insert("at".into(), duration_text(fault.at).into());
    let kind = match &fault.kind {
        FaultSpecKind::Partition { groups } => {
            t.insert("groups".into(), Value::Array(groups.iter().map(|g| names(g)).collect()));
            "partition"
        }
        FaultSpecKind::PartitionOneWay { from, to } => {
            t.insert("from".into(), names(from));
            t.insert("to".into(), names(to));
            "partition-oneway"
        }
        FaultSpecKind::Crash { nodes, lose_unflushed } => {
            t.insert("nodes".into(), names(nodes));
            if *lose_unflushed { "power-loss" } else { "crash" }
        }
        FaultSpecKind::Pause { nodes } => {
            t.insert("nodes".into(), names(nodes));
            "pause"
        }
        FaultSpecKind::ClockSkew { nodes, offset_ns, drift_ppm } => {
            t.insert("nodes".into(), names(nodes));
            t.insert("offset".into(), signed_text(*offset_ns).into());
            t.insert("drift_ppm".into(), Value::Integer(*drift_ppm));
            "clock-skew"
        }
        FaultSpecKind::Loss { nodes, rate } => {
            // No nodes: every link.
            if !nodes.is_empty() {
                t.insert("nodes".into(), names(nodes));
            }
            t.insert("rate".into(), Value::Float(*rate));
            "loss"
        }
    };
    t.insert("kind".into(), kind.into());
    if let Some(length) = fault.duration {
        t.insert("for".into(), duration_text(length).into());
    }
    t
}

/// `[expect]` for a run that shows `violations` and the allowed anomalies `allowed`
/// (exactly these; none listed when there are none).
pub fn expect_table(violations: &[&str], allowed: &[&str]) -> Table {
    let list = |names: &[&str]| Value::Array(names.iter().map(|&n| n.into()).collect());
    let mut t = Table::new();
    t.insert("outcome".into(), "violation".into());
    t.insert("violations".into(), list(violations));
    if !allowed.is_empty() {
        t.insert("allowed".into(), list(allowed));
    }
    t
}
