//! The state invariants on live runs of the shipped scenarios: checked after every event,
//! silent where Kafka's protocol is correct.

use std::path::Path;

use kafsim::check::Violation;
use kafsim::check::state::StateChecker;
use kafsim::kafka::build_sim;
use kafsim::kafka::view::cluster_view;
use kafsim::scenario::{self, Scenario};
use kafsim::sim::Instant;

/// Runs the scenario's explicit faults (no nemesis) as the runner does, showing the checker
/// the cluster after every event and comparing every log from scratch at the end.
fn shipped(path: &str) -> Scenario {
    scenario::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(path).as_path())
        .expect("shipped scenario parses")
}

fn state_violations(scenario: &Scenario, seed: u64) -> (Vec<Violation>, u64) {
    let (mut sim, layout) = build_sim(scenario, seed, false);
    for spec in &scenario.faults {
        sim.schedule_fault(layout.fault(spec));
    }
    let mut checker = StateChecker::new();
    let mut events = 0;
    let fault_end = Instant::ZERO + scenario.run.duration;
    for (end, heal) in [(fault_end, true), (fault_end + scenario.run.heal, false)] {
        while sim.step_before(end) {
            events += 1;
            checker.observe(&cluster_view(&sim, &layout));
        }
        sim.advance_to(end);
        if heal {
            sim.heal_all();
        }
    }
    checker.observe_full(&cluster_view(&sim, &layout));
    (checker.violations().to_vec(), events)
}

#[test]
fn shipped_scenarios_keep_the_state_invariants() {
    for path in [
        "scenarios/quickstart.toml",
        "scenarios/leader-crash-acks-all.toml",
        "scenarios/leader-isolated.toml",
    ] {
        let (violations, events) = state_violations(&shipped(path), 1);
        assert!(events > 1000, "{path}: only {events} events");
        assert_eq!(violations, vec![], "{path}");
    }
}

/// Crashes, power losses and partitions of every broker in turn, on six partitions.
const FAULTY: &str = r#"
name = "state-faulty"
description = "Every broker crashes, loses power or is cut off in turn."

[run]
duration = "30s"
heal = "15s"
seed = 1

[cluster]
brokers = 3

[broker]
"min.insync.replicas" = 2

[[topics]]
name = "orders"
partitions = 3
replication_factor = 3

[[topics]]
name = "payments"
partitions = 3
replication_factor = 3

[[producers]]
name = "p-orders"
topic = "orders"
acks = "all"
rate = 300
keys = 8

[[producers]]
name = "p-payments"
topic = "payments"
acks = "all"
rate = 300
keys = 8

[[consumers]]
name = "c1"
topics = ["orders", "payments"]

[[faults]]
at = "3s"
kind = "crash"
nodes = ["b2"]
for = "2s"

[[faults]]
at = "7s"
kind = "power-loss"
nodes = ["b1"]
for = "3s"

[[faults]]
at = "12s"
kind = "partition"
groups = [["b3"], ["b1", "b2", "controller"]]
for = "5s"

[[faults]]
at = "19s"
kind = "power-loss"
nodes = ["b2"]
for = "1s"

[[faults]]
at = "22s"
kind = "crash"
nodes = ["controller"]
for = "2s"

[[faults]]
at = "25s"
kind = "partition"
groups = [["b1"], ["b2", "b3", "controller"]]
for = "3s"

[expect]
outcome = "pass"
"#;

#[test]
fn faults_on_every_broker_keep_the_state_invariants() {
    let scenario = scenario::parse("state-faulty.toml", FAULTY).expect("parses");
    for seed in 1..=3 {
        let (violations, events) = state_violations(&scenario, seed);
        assert!(events > 10_000, "seed {seed}: only {events} events");
        assert_eq!(violations, vec![], "seed {seed}");
    }
}

/// R2: the leader, cut off from its followers, shrinks the ISR to itself and acknowledges
/// alone (min.insync.replicas = 1), then crashes; the controller elects b2 uncleanly.
const UNCLEAN: &str = r#"
name = "state-unclean"
description = "An unclean election loses records the lone leader committed."

[run]
duration = "20s"
heal = "10s"
seed = 1

[cluster]
brokers = 3

[broker]
"min.insync.replicas" = 1
"unclean.leader.election.enable" = true
"replica.lag.time.max.ms" = 1000

[[topics]]
name = "events"
partitions = 1
replication_factor = 3

[[producers]]
name = "p1"
topic = "events"
acks = "all"
rate = 200

[[consumers]]
name = "c1"
topics = ["events"]

[[faults]]
at = "3s"
kind = "partition"
groups = [["b1", "controller", "p1", "c1"], ["b2", "b3"]]
for = "4s"

[[faults]]
at = "6s"
kind = "crash"
nodes = ["b1"]
for = "10s"

[expect]
outcome = "violation"
"#;

#[test]
fn an_unclean_election_breaks_committed_durability() {
    let scenario = scenario::parse("state-unclean.toml", UNCLEAN).expect("parses");
    let (violations, _) = state_violations(&scenario, 1);
    let durable: Vec<&Violation> =
        violations.iter().filter(|v| v.invariant == "committed-durability").collect();
    assert_eq!(durable.len(), 1, "{violations:#?}");
    assert!(durable[0].detail.starts_with("events-0: leader b"), "{}", durable[0].detail);
}
