//! A scenario's faults, fixed and nemesis-drawn, as kernel faults on node ids. A nemesis
//! fault aimed at a role is resolved when it starts, from the controller's state then.

use std::cell::RefCell;
use std::rc::Rc;

use crate::kafka::cluster::OS_WRITEBACK_AGE;
use crate::kafka::protocol::{CONSUMER_OFFSETS, TopicPartition};
use crate::kafka::{KafkaNode, Layout};
use crate::scenario::{NemesisRole, NemesisSpec, Scenario};
use crate::sim::nemesis::{self, NemesisConfig, Planned, Target};
use crate::sim::{Fault, FaultKind, Instant, NodeId, Sim, SimRng};

/// One fault of a run: the line a person reads, and the fault as the kernel ran it once
/// known (a role's when it starts; `None` while not reached, or when skipped).
#[derive(Clone, Debug)]
pub struct Injected {
    pub line: String,
    pub fault: Option<Fault>,
}

/// The run's faults, in timeline order; a role's entry says which node it hit once the
/// fault has started. Shared with the deferred faults that fill it in.
pub type FaultLog = Rc<RefCell<Vec<Injected>>>;

/// Logs a fault known at scheduling time.
fn known(log: &FaultLog, fault: &Fault, layout: &Layout) {
    log.borrow_mut().push(Injected { line: describe(fault, layout), fault: Some(fault.clone()) });
}

/// Schedules every fault of the run: the fixed timeline, then the nemesis's, drawn from the
/// seed's `nemesis` sub-streams (one per lane). Returns their descriptions.
pub fn schedule(
    scenario: &Scenario,
    seed: u64,
    layout: &Layout,
    sim: &mut Sim<KafkaNode>,
) -> FaultLog {
    let log = FaultLog::default();
    for spec in &scenario.faults {
        let fault = layout.fault(spec);
        known(&log, &fault, layout);
        sim.schedule_fault(fault);
    }
    let Some(spec) = &scenario.nemesis else { return log };
    let config = nemesis_config(spec, scenario, layout);
    let mut lanes: Vec<SimRng> = (0..spec.concurrency).map(|lane| lane_rng(seed, lane)).collect();
    let shared = Rc::new(layout.clone());
    for planned in nemesis::timeline(&config, &mut lanes) {
        match planned.target {
            Target::Node(node) => {
                let fault = planned.fault(node, &config.participants);
                known(&log, &fault, layout);
                sim.schedule_fault(fault);
            }
            Target::Role { role, pick } => {
                let aim = Aim::new(spec.roles[role], pick, layout);
                defer(sim, planned, aim, &config.participants, &shared, &log);
            }
        }
    }
    log
}

/// Lane 0 draws from `nemesis`, as a nemesis without lanes always did; lane k from
/// `nemesis/k`.
fn lane_rng(seed: u64, lane: u32) -> SimRng {
    match lane {
        0 => SimRng::stream(seed, "nemesis"),
        k => SimRng::stream(seed, &format!("nemesis/{k}")),
    }
}

/// A role on one data partition, drawn with the timeline.
#[derive(Clone, Debug)]
struct Aim {
    role: NemesisRole,
    tp: TopicPartition,
    replicas: Vec<NodeId>,
    /// Which of the partition's followers, for [`NemesisRole::Follower`].
    pick: u64,
}

impl Aim {
    /// The partition `pick` chooses among those the role can mean (a follower needs a
    /// partition with more than one replica; validation made sure one exists).
    fn new(role: NemesisRole, pick: u64, layout: &Layout) -> Aim {
        let candidates: Vec<(TopicPartition, &[NodeId])> = layout
            .partitions()
            .filter(|(tp, _)| &*tp.topic != CONSUMER_OFFSETS)
            .filter(|(_, replicas)| role == NemesisRole::Leader || replicas.len() > 1)
            .collect();
        assert!(!candidates.is_empty(), "validation: no partition for the role {role:?}");
        let n = candidates.len() as u64;
        let (tp, replicas) = &candidates[(pick % n) as usize];
        Aim { role, tp: tp.clone(), replicas: replicas.to_vec(), pick: pick / n }
    }

    /// The node the role means now, as the controller sees it: none while the controller
    /// is down or the partition has no leader.
    fn resolve(&self, sim: &Sim<KafkaNode>, layout: &Layout) -> Option<NodeId> {
        let (leader, _) = layout.leader(sim, &self.tp)?;
        match self.role {
            NemesisRole::Leader => Some(leader),
            NemesisRole::Follower => {
                let followers: Vec<NodeId> =
                    self.replicas.iter().copied().filter(|&r| r != leader).collect();
                assert!(!followers.is_empty(), "{}: a leader among one replica", self.tp);
                Some(followers[(self.pick % followers.len() as u64) as usize])
            }
        }
    }

    fn name(&self) -> String {
        let role = match self.role {
            NemesisRole::Leader => "leader",
            NemesisRole::Follower => "follower",
        };
        format!("{role} of {}", self.tp)
    }
}

/// Schedules a fault on a role, resolved when it starts; its log line says what it hit.
fn defer(
    sim: &mut Sim<KafkaNode>,
    planned: Planned,
    aim: Aim,
    participants: &[NodeId],
    layout: &Rc<Layout>,
    log: &FaultLog,
) {
    let line = log.borrow().len();
    let head = format!("{} for {} {}", planned.at, planned.duration, planned.shape.name());
    let line_text = format!("{head} {} (not reached)", aim.name());
    log.borrow_mut().push(Injected { line: line_text, fault: None });
    let (layout, log, participants) = (Rc::clone(layout), Rc::clone(log), participants.to_vec());
    let at = planned.at;
    sim.schedule_deferred(
        at,
        Box::new(move |sim: &Sim<KafkaNode>| {
            let Some(node) = aim.resolve(sim, &layout) else {
                log.borrow_mut()[line].line = format!("{head} {}: none, skipped", aim.name());
                return None;
            };
            let fault = planned.fault(node, &participants);
            log.borrow_mut()[line] = Injected {
                line: format!("{} ({})", describe(&fault, &layout), aim.name()),
                fault: Some(fault.clone()),
            };
            Some(fault)
        }),
    );
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
        roles: spec.roles.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::build_sim;
    use crate::sim::Duration;

    /// One partition on three brokers; one crash a fault, every 5 s, of `role`.
    fn scenario(role: &str) -> Scenario {
        let text = format!(
            r#"
            name = "roles"
            description = "crashes aimed at a role"
            [run]
            duration = "20s"
            [cluster]
            brokers = 3
            [[topics]]
            name = "events"
            partitions = 1
            replication_factor = 3
            [nemesis]
            kinds = ["crash"]
            roles = ["{role}"]
            interval = "5s..5s"
            duration = "2s..2s"
            "#
        );
        crate::scenario::parse("roles.toml", &text).expect("valid scenario")
    }

    fn at_ms(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    /// Each fault hits what its role meant just before it started, and its line says so.
    #[test]
    fn roles_resolve_to_the_controllers_view_when_the_fault_starts() {
        let tp = TopicPartition::new("events", 0);
        for role in ["leader", "follower"] {
            let s = scenario(role);
            let (mut sim, layout) = build_sim(&s, 3, false);
            let log = schedule(&s, 3, &layout, &mut sim);
            let first = log.borrow()[0].line.clone();
            assert!(first.ends_with(&format!("crash {role} of events-0 (not reached)")));
            // The first fault starts at 5 s; the next at 12 s.
            sim.run_until(at_ms(4_999));
            let (leader, _) = layout.leader(&sim, &tp).expect("a leader by 5 s");
            sim.run_until(at_ms(5_000));
            let down: Vec<NodeId> =
                layout.brokers.iter().copied().filter(|&b| sim.node(b).is_none()).collect();
            assert_eq!(down.len(), 1, "{role}: one broker crashed");
            assert_eq!(down[0] == leader, role == "leader", "{role}: hit {down:?}, led {leader:?}");
            let line =
                format!("t=5.000s for 2.000s crash {} ({role} of events-0)", layout.name(down[0]));
            assert_eq!(log.borrow()[0].line, line);
            let injected = log.borrow()[0].fault.clone().expect("known once started");
            assert_eq!(injected.kind.nodes(), vec![down[0]]);
            sim.run_until(at_ms(7_001));
            assert!(sim.node(down[0]).is_some(), "{role}: restarted after 2 s");
        }
    }

    /// With the controller down no role can be resolved: the fault is skipped, and says so.
    #[test]
    fn a_role_without_a_controller_is_skipped() {
        let mut s = scenario("leader");
        s.faults.push(crate::scenario::FaultSpec {
            at: Duration::from_secs(4),
            duration: Some(Duration::from_secs(2)),
            kind: crate::scenario::FaultSpecKind::Crash {
                nodes: vec!["controller".into()],
                lose_unflushed: false,
            },
        });
        let (mut sim, layout) = build_sim(&s, 3, false);
        let log = schedule(&s, 3, &layout, &mut sim);
        sim.run_until(at_ms(5_001));
        assert!(layout.brokers.iter().all(|&b| sim.node(b).is_some()), "no broker crashed");
        assert_eq!(
            log.borrow()[1].line,
            "t=5.000s for 2.000s crash leader of events-0: none, skipped"
        );
        assert_eq!(log.borrow()[1].fault, None);
    }

    /// Lanes and roles keep a seed's run identical, event for event.
    #[test]
    fn lanes_and_roles_are_deterministic() {
        let mut s = scenario("follower");
        let nemesis = s.nemesis.as_mut().expect("a nemesis");
        nemesis.roles.push(NemesisRole::Leader);
        nemesis.concurrency = 3;
        (nemesis.interval_min, nemesis.fault_duration_min) =
            (Duration::ZERO, Duration::from_millis(500));
        let report = crate::runner::check_determinism(&s, 11).expect("same run twice");
        assert!(report.faults.len() >= 3 * 4, "{:?}", report.faults);
        assert!(report.faults.iter().any(|f| f.contains("(leader of events-0)")));
        assert!(report.faults.iter().any(|f| f.contains("(follower of events-0)")));
    }
}
