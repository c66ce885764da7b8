//! The shrunk scenario as a file: the original file's TOML with its nemesis replaced by the
//! faults as a fixed timeline, its fault phase, clients and `[expect]` as the search left
//! them, under a header saying where it came from, what it shows and how it came about.

use toml::{Table, Value};

use crate::scenario::write::fault_table;
use crate::scenario::{FaultSpec, duration_text};
use crate::sim::time::Duration;

/// What a candidate keeps of the original scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Cut {
    pub faults: Vec<FaultSpec>,
    /// The fault phase (`[run] duration`).
    pub duration: Duration,
    /// `[run] heal` and `liveness` (at most `heal`).
    pub heal: Duration,
    pub liveness: Duration,
    /// Indices of the original file's `[[producers]]` entries kept, in file order.
    pub producers: Vec<usize>,
    /// Indices of the original file's `[[consumers]]` entries kept, in file order.
    pub consumers: Vec<usize>,
}

impl Cut {
    /// The shortest fault phase: one that the last fault starts in.
    pub fn phase_min(&self) -> Duration {
        let last_start = self.faults.iter().map(|f| f.at).max().unwrap_or(Duration::ZERO);
        last_start + Duration::from_millis(1)
    }

    /// Sets the heal phase, and the liveness bound within it: the whole heal phase if it
    /// was, else as it was if it still fits.
    pub fn set_heal(&mut self, heal: Duration) {
        self.liveness = if self.liveness == self.heal { heal } else { self.liveness.min(heal) };
        self.heal = heal;
    }
}

/// The original file, parsed as TOML, that candidates are written from.
#[derive(Clone, Debug)]
pub struct Original {
    doc: Table,
}

/// How many entries `key` (an array of tables) has in `doc`.
fn entries(doc: &Table, key: &str) -> usize {
    doc.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

impl Original {
    /// `text` already parsed as a scenario, so it is valid TOML.
    pub fn new(text: &str) -> Original {
        Original { doc: text.parse().expect("a parsed scenario is valid TOML") }
    }

    /// Gives the scenario a name and description of its own.
    pub fn rename(&mut self, name: &str, description: &str) {
        self.doc.insert("name".into(), name.into());
        self.doc.insert("description".into(), description.into());
    }

    pub fn producers(&self) -> usize {
        entries(&self.doc, "producers")
    }

    pub fn consumers(&self) -> usize {
        entries(&self.doc, "consumers")
    }

    /// The scenario file of `cut`, without header: what the candidate runs and the shrunk
    /// file holds. `expect` is written as `[expect]`.
    pub fn text(&self, cut: &Cut, seed: u64, expect: &Table) -> String {
        let mut doc = self.doc.clone();
        doc.remove("nemesis");
        let run = doc.entry("run").or_insert_with(|| Value::Table(Table::new()));
        let run = run.as_table_mut().expect("[run] is a table in a parsed scenario");
        run.insert("duration".into(), duration_text(cut.duration).into());
        run.insert("heal".into(), duration_text(cut.heal).into());
        // `liveness` left out means `heal`.
        if run.contains_key("liveness") || cut.liveness != cut.heal {
            run.insert("liveness".into(), duration_text(cut.liveness).into());
        }
        run.insert("seed".into(), Value::Integer(seed as i64));
        keep(&mut doc, "producers", &cut.producers);
        keep(&mut doc, "consumers", &cut.consumers);
        doc.remove("faults");
        doc.remove("expect");
        if !cut.faults.is_empty() {
            let faults = cut.faults.iter().map(|f| Value::Table(fault_table(f))).collect();
            doc.insert("faults".into(), Value::Array(faults));
        }
        doc.insert("expect".into(), Value::Table(expect.clone()));
        toml::to_string(&doc).expect("a TOML table writes")
    }
}

/// Keeps the entries of the array of tables `key` at `indices`.
fn keep(doc: &mut Table, key: &str, indices: &[usize]) {
    let Some(Value::Array(all)) = doc.remove(key) else { return };
    let kept: Vec<Value> = indices.iter().map(|&i| all[i].clone()).collect();
    if !kept.is_empty() {
        doc.insert(key.into(), Value::Array(kept));
    }
}

/// `lines` as TOML comments.
pub fn comment(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        match line.is_empty() {
            true => out.push_str("#\n"),
            false => {
                out.push_str("# ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::write::expect_table;
    use crate::scenario::{FaultSpecKind, parse};

    const TEXT: &str = r#"
name = "shrinkable"
description = "two producers, a nemesis"
[run]
duration = "30s"
[cluster]
brokers = 3
[[topics]]
name = "events"
partitions = 1
replication_factor = 3
[[producers]]
name = "p1"
topic = "events"
rate = 100
[[producers]]
name = "p2"
topic = "events"
rate = 100
[[consumers]]
name = "c"
group = "g"
topics = ["events"]
[nemesis]
kinds = ["crash"]
"#;

    fn every_kind() -> Vec<FaultSpec> {
        let nodes = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let at = |ns: u64| Duration::from_nanos(ns);
        let kinds = [
            FaultSpecKind::Partition { groups: vec![nodes(&["b1"]), nodes(&["b2", "b3"])] },
            FaultSpecKind::PartitionOneWay { from: nodes(&["b1"]), to: nodes(&["controller"]) },
            FaultSpecKind::Crash { nodes: nodes(&["b2"]), lose_unflushed: false },
            FaultSpecKind::Crash { nodes: nodes(&["b3"]), lose_unflushed: true },
            FaultSpecKind::Pause { nodes: nodes(&["p2"]) },
            FaultSpecKind::ClockSkew {
                nodes: nodes(&["b1"]),
                offset_ns: -6_400_123,
                drift_ppm: 17,
            },
            FaultSpecKind::Loss { nodes: vec![], rate: 0.25 },
            FaultSpecKind::Loss { nodes: nodes(&["b2"]), rate: 0.1 },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| FaultSpec {
                at: at(1_000_000_000 * i as u64 + 123_456_789),
                duration: (i % 2 == 0).then(|| at(2_500_000_001)),
                kind,
            })
            .collect()
    }

    /// Every fault kind, exact times and the kept clients read back as they were written.
    #[test]
    fn a_cut_reads_back_as_itself() {
        let original = Original::new(TEXT);
        assert_eq!((original.producers(), original.consumers()), (2, 1));
        let cut = Cut {
            faults: every_kind(),
            duration: Duration::from_nanos(12_345_000_001),
            heal: Duration::from_secs(7),
            liveness: Duration::from_millis(6_500),
            producers: vec![1],
            consumers: vec![0],
        };
        let text = original.text(&cut, 42, &expect_table(&["lost-write"], &[]));
        let s = parse("shrunk.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        assert_eq!(s.faults, cut.faults);
        assert_eq!(s.nemesis, None);
        assert_eq!((s.run.duration, s.run.seed), (cut.duration, 42));
        assert_eq!((s.run.heal, s.run.liveness), (cut.heal, cut.liveness));
        let producers: Vec<&str> = s.producers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(producers, ["p2"]);
        assert_eq!(s.expect.violations, ["lost-write"]);
        // The rest of the file is as it was.
        assert_eq!(s.topics, parse("original.toml", TEXT).expect("valid").topics);
    }
}
