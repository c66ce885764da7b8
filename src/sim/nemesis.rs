//! The nemesis: a random fault timeline drawn from the run's `nemesis` sub-streams.
//!
//! The timeline is drawn up front, as data, so a failing run's faults can be listed,
//! replayed as a fixed timeline, and shrunk. A lane draws faults one at a time (each healed
//! before the next starts, after a gap that may be as short as 1 ms: back to back), each
//! on one target; several lanes, each from its own stream, overlap. A target is a node, or
//! a role the runner resolves when the fault starts (a partition's current leader, say):
//! the role and which instance of it (a draw) are in the timeline, the node it meant at
//! that moment is in the trace. Power losses are spaced across lanes
//! (`power_loss_gap_min`) so that a node that lost its unflushed writes has caught up
//! again before another can lose its own: the nemesis stays within what a replicated
//! system promises to survive.

use super::fault::{Fault, FaultKind};
use super::node::NodeId;
use super::rng::SimRng;
use super::time::{Duration, Instant};

/// Most faults one timeline may hold.
const FAULTS_MAX: usize = 100_000;
/// Most lanes a timeline may have.
pub const LANES_MAX: usize = 8;
/// Clock skew the nemesis applies: offsets up to this far either way.
const SKEW_OFFSET_NS_MAX: u64 = 10_000_000_000;
/// Clock drift the nemesis applies: up to 5% fast or slow.
const SKEW_DRIFT_PPM_MAX: u64 = 50_000;
/// Link loss the nemesis applies.
const LOSS_RATE_MIN: f64 = 0.1;
const LOSS_RATE_MAX: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NemesisFault {
    Partition,
    PartitionOneWay,
    Crash,
    PowerLoss,
    Pause,
    ClockSkew,
    Loss,
}

#[derive(Clone, Debug)]
pub struct NemesisConfig {
    pub kinds: Vec<NemesisFault>,
    /// Nodes a fault may hit.
    pub targets: Vec<NodeId>,
    /// How many roles (resolved when a fault starts, by the caller) a fault may hit besides
    /// `targets`: a fault picks one of the targets and roles, uniformly.
    pub roles: usize,
    /// Nodes a partition splits (targets and the infrastructure they talk to); nodes not
    /// listed, such as clients, keep every link.
    pub participants: Vec<NodeId>,
    pub interval_min: Duration,
    pub interval_max: Duration,
    pub duration_min: Duration,
    pub duration_max: Duration,
    /// Least time between the starts of two power losses; a power loss drawn sooner
    /// becomes a plain crash (the page cache survives).
    pub power_loss_gap_min: Duration,
    /// Faults start at or after `start` and end by `end`.
    pub start: Instant,
    pub end: Instant,
}

/// Who a fault of the timeline hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// The caller's role number `role` (`0..roles`), resolved when the fault starts;
    /// `pick`, drawn with the timeline, chooses among what the role may mean (which
    /// partition's leader, say), so the choice does not depend on the run.
    Role {
        role: usize,
        pick: u64,
    },
}

/// What a fault of the timeline does to its target, with every random parameter drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// The target alone on one side, every other participant on the other.
    Partition,
    /// The target's messages to every other participant are cut (`outbound`), or theirs
    /// to it.
    PartitionOneWay {
        outbound: bool,
    },
    Crash {
        lose_unflushed: bool,
    },
    Pause,
    ClockSkew {
        offset_ns: i64,
        drift_ppm: i64,
    },
    Loss {
        rate: f64,
    },
}

/// One fault of a drawn timeline, its target still possibly a role.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub at: Instant,
    pub duration: Duration,
    pub target: Target,
    pub shape: Shape,
}

impl Shape {
    /// The kernel fault kind on `target`.
    pub fn kind(self, target: NodeId, participants: &[NodeId]) -> FaultKind {
        match self {
            Shape::Partition => {
                let (side, rest) = split(participants, target);
                FaultKind::Partition { groups: vec![side, rest] }
            }
            Shape::PartitionOneWay { outbound } => {
                let (side, rest) = split(participants, target);
                if outbound {
                    FaultKind::PartitionOneWay { from: side, to: rest }
                } else {
                    FaultKind::PartitionOneWay { from: rest, to: side }
                }
            }
            Shape::Crash { lose_unflushed } => {
                FaultKind::Crash { nodes: vec![target], lose_unflushed }
            }
            Shape::Pause => FaultKind::Pause { nodes: vec![target] },
            Shape::ClockSkew { offset_ns, drift_ppm } => {
                FaultKind::ClockSkew { nodes: vec![target], offset_ns, drift_ppm }
            }
            Shape::Loss { rate } => FaultKind::Loss { nodes: vec![target], rate },
        }
    }

    /// The name of its kind, as scenario files and reports spell it.
    pub fn name(self) -> &'static str {
        self.kind(NodeId(0), &[]).name()
    }
}

impl Planned {
    /// The kernel fault once the target is known.
    pub fn fault(&self, target: NodeId, participants: &[NodeId]) -> Fault {
        let kind = self.shape.kind(target, participants);
        Fault { at: self.at, duration: Some(self.duration), kind }
    }

    /// The node it hits, when that is not a role.
    pub fn node(&self) -> Option<NodeId> {
        match self.target {
            Target::Node(node) => Some(node),
            Target::Role { .. } => None,
        }
    }
}

/// Draws a fault timeline: one lane per stream in `lanes`, merged in time order.
pub fn timeline(config: &NemesisConfig, lanes: &mut [SimRng]) -> Vec<Planned> {
    assert!(!config.kinds.is_empty(), "nemesis without fault kinds");
    assert!(config.roles > 0 || !config.targets.is_empty(), "nemesis without targets");
    assert!((1..=LANES_MAX).contains(&lanes.len()), "{} nemesis lanes", lanes.len());
    assert!(
        config.interval_min <= config.interval_max && config.duration_min <= config.duration_max
    );
    let mut faults: Vec<Planned> = lanes.iter_mut().flat_map(|rng| lane(config, rng)).collect();
    assert!(faults.len() <= FAULTS_MAX, "nemesis timeline longer than {FAULTS_MAX}");
    // Stable: one lane's faults are already in order, and equal times keep lane order.
    faults.sort_by_key(|f| f.at);
    space_power_losses(&mut faults, config.power_loss_gap_min);
    faults
}

/// One lane: faults one at a time, each followed by a gap.
fn lane(config: &NemesisConfig, rng: &mut SimRng) -> Vec<Planned> {
    let mut faults = Vec::new();
    let mut at = config.start + rng.duration_between(config.interval_min, config.interval_max);
    while at < config.end {
        assert!(faults.len() < FAULTS_MAX, "nemesis lane longer than {FAULTS_MAX}");
        let kind = *rng.pick(&config.kinds);
        let duration = rng
            .duration_between(config.duration_min, config.duration_max)
            .min(config.end.saturating_since(at));
        let target = draw_target(config, rng);
        let shape = draw_shape(kind, rng);
        faults.push(Planned { at, duration, target, shape });
        let gap = rng.duration_between(config.interval_min, config.interval_max);
        // A zero-length interval and duration would never advance: keep time moving.
        at = at + duration + gap.max(Duration::from_millis(1));
    }
    faults
}

/// A power loss that starts sooner than `gap_min` after the previous one becomes a crash.
fn space_power_losses(faults: &mut [Planned], gap_min: Duration) {
    let mut last_power_loss: Option<Instant> = None;
    for fault in faults {
        if let Shape::Crash { lose_unflushed: true } = fault.shape {
            if last_power_loss.is_some_and(|t| fault.at.saturating_since(t) < gap_min) {
                fault.shape = Shape::Crash { lose_unflushed: false };
            } else {
                last_power_loss = Some(fault.at);
            }
        }
    }
}

fn draw_target(config: &NemesisConfig, rng: &mut SimRng) -> Target {
    let n_nodes = config.targets.len();
    let idx = rng.below((n_nodes + config.roles) as u64) as usize;
    match config.targets.get(idx) {
        Some(&node) => Target::Node(node),
        None => Target::Role { role: idx - n_nodes, pick: rng.next_u64() },
    }
}

fn draw_shape(kind: NemesisFault, rng: &mut SimRng) -> Shape {
    match kind {
        NemesisFault::Partition => Shape::Partition,
        NemesisFault::PartitionOneWay => Shape::PartitionOneWay { outbound: rng.chance(0.5) },
        NemesisFault::Crash => Shape::Crash { lose_unflushed: false },
        NemesisFault::PowerLoss => Shape::Crash { lose_unflushed: true },
        NemesisFault::Pause => Shape::Pause,
        NemesisFault::ClockSkew => {
            let magnitude = rng.between(0, SKEW_OFFSET_NS_MAX) as i64;
            let offset_ns = if rng.chance(0.5) { magnitude } else { -magnitude };
            let drift_ppm =
                rng.between(0, 2 * SKEW_DRIFT_PPM_MAX) as i64 - SKEW_DRIFT_PPM_MAX as i64;
            Shape::ClockSkew { offset_ns, drift_ppm }
        }
        NemesisFault::Loss => {
            let unit = rng.below(1 << 20) as f64 / (1 << 20) as f64;
            Shape::Loss { rate: LOSS_RATE_MIN + unit * (LOSS_RATE_MAX - LOSS_RATE_MIN) }
        }
    }
}

/// The target alone on one side, every other participant on the other.
fn split(participants: &[NodeId], target: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
    let rest: Vec<NodeId> = participants.iter().copied().filter(|&n| n != target).collect();
    (vec![target], rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTICIPANTS: [NodeId; 4] = [NodeId(0), NodeId(1), NodeId(2), NodeId(3)];

    fn config(kinds: Vec<NemesisFault>) -> NemesisConfig {
        NemesisConfig {
            kinds,
            targets: vec![NodeId(0), NodeId(1), NodeId(2)],
            roles: 0,
            participants: PARTICIPANTS.to_vec(),
            interval_min: Duration::from_secs(1),
            interval_max: Duration::from_secs(5),
            duration_min: Duration::from_secs(1),
            duration_max: Duration::from_secs(4),
            power_loss_gap_min: Duration::from_secs(30),
            start: Instant::ZERO,
            end: Instant::ZERO + Duration::from_secs(120),
        }
    }

    fn all_kinds() -> Vec<NemesisFault> {
        vec![
            NemesisFault::Partition,
            NemesisFault::PartitionOneWay,
            NemesisFault::Crash,
            NemesisFault::PowerLoss,
            NemesisFault::Pause,
            NemesisFault::ClockSkew,
            NemesisFault::Loss,
        ]
    }

    /// Kernel faults of a timeline whose targets are all nodes.
    fn faults(config: &NemesisConfig, lanes: &mut [SimRng]) -> Vec<Fault> {
        let planned = timeline(config, lanes);
        planned.iter().map(|p| p.fault(p.node().expect("a node target"), &PARTICIPANTS)).collect()
    }

    fn end_of(fault: &Planned) -> Instant {
        fault.at + fault.duration
    }

    #[test]
    fn faults_do_not_overlap_and_end_in_time() {
        let cfg = config(all_kinds());
        let faults = faults(&cfg, &mut [SimRng::stream(9, "nemesis")]);
        assert!(faults.len() >= 10, "only {} faults in 120s", faults.len());
        for pair in faults.windows(2) {
            assert!(pair[0].at + pair[0].duration.unwrap() < pair[1].at, "faults overlap");
        }
        assert!(faults.iter().all(|f| f.at + f.duration.unwrap() <= cfg.end));
        let kinds: std::collections::BTreeSet<&str> =
            faults.iter().map(|f| f.kind.name()).collect();
        assert!(kinds.len() >= 5, "kinds drawn: {kinds:?}");
    }

    #[test]
    fn partitions_isolate_one_target_from_the_rest() {
        let cfg = config(vec![NemesisFault::Partition]);
        for fault in faults(&cfg, &mut [SimRng::stream(1, "n")]) {
            let FaultKind::Partition { groups } = fault.kind else { panic!("not a partition") };
            assert_eq!(groups[0].len(), 1);
            assert_eq!(groups[1].len(), 3);
            assert!(!groups[1].contains(&groups[0][0]));
        }
    }

    fn power_loss_starts(faults: &[Planned]) -> Vec<Instant> {
        faults
            .iter()
            .filter(|f| f.shape == Shape::Crash { lose_unflushed: true })
            .map(|f| f.at)
            .collect()
    }

    #[test]
    fn power_losses_are_spaced() {
        let cfg = config(vec![NemesisFault::PowerLoss]);
        let faults = timeline(&cfg, &mut [SimRng::stream(2, "nemesis")]);
        let losses = power_loss_starts(&faults);
        assert!(
            losses.len() >= 2 && losses.len() < faults.len(),
            "{} of {}",
            losses.len(),
            faults.len()
        );
        assert!(losses.windows(2).all(|w| w[1] - w[0] >= cfg.power_loss_gap_min));
    }

    #[test]
    fn same_seed_same_timeline() {
        let cfg = config(vec![NemesisFault::Crash, NemesisFault::ClockSkew]);
        let a = timeline(&cfg, &mut [SimRng::stream(4, "nemesis")]);
        let b = timeline(&cfg, &mut [SimRng::stream(4, "nemesis")]);
        let c = timeline(&cfg, &mut [SimRng::stream(5, "nemesis")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// With a zero interval each fault starts 1 ms after the previous one healed.
    #[test]
    fn zero_interval_puts_faults_back_to_back() {
        let mut cfg = config(vec![NemesisFault::Crash]);
        (cfg.interval_min, cfg.interval_max) = (Duration::ZERO, Duration::ZERO);
        let faults = timeline(&cfg, &mut [SimRng::stream(3, "nemesis")]);
        assert!(faults.len() >= 24, "{} faults", faults.len());
        for pair in faults.windows(2) {
            assert_eq!(pair[1].at, end_of(&pair[0]) + Duration::from_millis(1));
        }
    }

    /// Each lane is the timeline its stream draws alone; lanes overlap, but at most as many
    /// faults as lanes are active at once, and power losses stay spaced across lanes.
    #[test]
    fn lanes_overlap_and_keep_power_losses_spaced() {
        let cfg = config(all_kinds());
        let streams = || [SimRng::stream(6, "nemesis"), SimRng::stream(6, "nemesis/1")];
        let merged = timeline(&cfg, &mut streams());
        // Each lane is what its stream draws alone, but for power losses too close to
        // another lane's: those became crashes.
        let [mut first, mut second] = streams();
        let mut alone = lane(&cfg, &mut first);
        alone.extend(lane(&cfg, &mut second));
        assert_eq!(merged.len(), alone.len());
        assert!(alone.iter().all(|a| merged.iter().any(|m| a.at == m.at && a.target == m.target)));
        assert!(power_loss_starts(&alone).len() > power_loss_starts(&merged).len());
        assert!(merged.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
        let overlapping = merged.windows(2).filter(|w| end_of(&w[0]) > w[1].at).count();
        assert!(overlapping > 0, "two lanes never overlapped");
        for (i, fault) in merged.iter().enumerate() {
            let active = merged[..i].iter().filter(|f| end_of(f) > fault.at).count();
            assert!(active < 2, "{} faults active at {}", active + 1, fault.at);
        }
        let losses = power_loss_starts(&merged);
        assert!(!losses.is_empty());
        assert!(losses.windows(2).all(|w| w[1] - w[0] >= cfg.power_loss_gap_min));
    }

    /// Roles are drawn beside nodes; a role's pick is drawn with the timeline.
    #[test]
    fn roles_are_drawn_with_their_pick() {
        let mut cfg = config(vec![NemesisFault::Crash, NemesisFault::Partition]);
        cfg.targets = vec![NodeId(0)];
        cfg.roles = 2;
        let faults = timeline(&cfg, &mut [SimRng::stream(8, "nemesis")]);
        let roles: std::collections::BTreeSet<usize> = faults
            .iter()
            .filter_map(|f| match f.target {
                Target::Role { role, .. } => Some(role),
                Target::Node(_) => None,
            })
            .collect();
        assert_eq!(roles, [0, 1].into(), "both roles drawn");
        assert!(faults.iter().any(|f| f.node() == Some(NodeId(0))), "the node drawn too");
        let picks: std::collections::BTreeSet<u64> = faults
            .iter()
            .filter_map(|f| match f.target {
                Target::Role { pick, .. } => Some(pick),
                Target::Node(_) => None,
            })
            .collect();
        assert!(picks.len() > 5, "picks vary: {picks:?}");
        // A role's fault, once resolved, hits the node it resolved to.
        let role_fault = faults.iter().find(|f| f.node().is_none()).expect("a role fault");
        let fault = role_fault.fault(NodeId(2), &PARTICIPANTS);
        assert!(fault.kind.nodes().contains(&NodeId(2)));
    }
}
