//! Golden runs: every shipped scenario at its own seed, pinned by its trace hash, event
//! count and findings. Any change to what a run does, intended or not, shows here as the
//! list of scenarios whose runs moved; an intended one is accepted by updating the snapshot
//! (`INSTA_UPDATE=always cargo test golden`, or `cargo insta review`) in the same commit
//! that explains it. To see where a run moved, diff `kafsim run SCENARIO --trace FILE`
//! from before and after.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use kafsim::runner::{RunReport, run_seed};
use kafsim::scenario;

#[derive(Serialize)]
struct Golden {
    seed: u64,
    trace_hash: String,
    events: u64,
    sim_time_ms: u64,
    /// `invariant at t=...`, in the report's order.
    violations: Vec<String>,
    allowed: Vec<String>,
}

impl Golden {
    fn of(report: &RunReport) -> Golden {
        let findings = |list: &[kafsim::check::Violation]| -> Vec<String> {
            list.iter().map(|v| format!("{} at {}", v.invariant, v.time)).collect()
        };
        Golden {
            seed: report.seed,
            trace_hash: format!("{:016x}", report.trace_hash),
            events: report.events,
            sim_time_ms: report.sim_time.as_millis(),
            violations: findings(&report.violations),
            allowed: findings(&report.allowed),
        }
    }
}

#[test]
fn every_shipped_scenario_runs_as_it_did() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs: BTreeMap<String, Golden> = crate::cli::shipped_scenarios()
        .par_iter()
        .map(|path| {
            let s = scenario::load(path).expect("shipped scenarios are valid");
            let name = path.strip_prefix(root).expect("inside the crate").display().to_string();
            (name, Golden::of(&run_seed(&s, s.run.seed)))
        })
        .collect();
    insta::assert_yaml_snapshot!(runs);
}
