//! The nemesis: a random fault timeline drawn from the run's `nemesis` sub-stream.
//!
//! The timeline is drawn up front, as data, so a failing run's faults can be listed,
//! replayed as a fixed timeline, and shrunk. Faults come one at a time (each healed
//! before the next starts) and hit one target node at a time, and power losses are spaced
//! (`power_loss_gap_min`) so that a node that lost its unflushed writes has caught up
//! again before another can lose its own: the nemesis stays within what a replicated
//! system promises to survive.

use super::fault::{Fault, FaultKind};
use super::node::NodeId;
use super::rng::SimRng;
use super::time::{Duration, Instant};

/// Most faults one timeline may hold.
const FAULTS_MAX: usize = 100_000;
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

/// Draws a fault timeline.
pub fn timeline(config: &NemesisConfig, rng: &mut SimRng) -> Vec<Fault> {
    assert!(!config.kinds.is_empty(), "nemesis without fault kinds");
    assert!(!config.targets.is_empty(), "nemesis without targets");
    assert!(
        config.interval_min <= config.interval_max && config.duration_min <= config.duration_max
    );
    let mut faults = Vec::new();
    let mut at = config.start + rng.duration_between(config.interval_min, config.interval_max);
    let mut last_power_loss: Option<Instant> = None;
    while at < config.end {
        assert!(faults.len() < FAULTS_MAX, "nemesis timeline longer than {FAULTS_MAX}");
        let mut kind = *rng.pick(&config.kinds);
        if kind == NemesisFault::PowerLoss {
            if last_power_loss.is_some_and(|t| at.saturating_since(t) < config.power_loss_gap_min) {
                kind = NemesisFault::Crash;
            } else {
                last_power_loss = Some(at);
            }
        }
        let duration = rng
            .duration_between(config.duration_min, config.duration_max)
            .min(config.end.saturating_since(at));
        faults.push(Fault { at, duration: Some(duration), kind: draw_fault(kind, config, rng) });
        let gap = rng.duration_between(config.interval_min, config.interval_max);
        // A zero-length interval and duration would never advance: keep time moving.
        at = at + duration + gap.max(Duration::from_millis(1));
    }
    faults
}

fn draw_fault(kind: NemesisFault, config: &NemesisConfig, rng: &mut SimRng) -> FaultKind {
    let target = *rng.pick(&config.targets);
    match kind {
        NemesisFault::Partition => {
            let (side, rest) = split(config, target);
            FaultKind::Partition { groups: vec![side, rest] }
        }
        NemesisFault::PartitionOneWay => {
            let (side, rest) = split(config, target);
            if rng.chance(0.5) {
                FaultKind::PartitionOneWay { from: side, to: rest }
            } else {
                FaultKind::PartitionOneWay { from: rest, to: side }
            }
        }
        NemesisFault::Crash => FaultKind::Crash { nodes: vec![target], lose_unflushed: false },
        NemesisFault::PowerLoss => FaultKind::Crash { nodes: vec![target], lose_unflushed: true },
        NemesisFault::Pause => FaultKind::Pause { nodes: vec![target] },
        NemesisFault::ClockSkew => {
            let magnitude = rng.between(0, SKEW_OFFSET_NS_MAX) as i64;
            let offset_ns = if rng.chance(0.5) { magnitude } else { -magnitude };
            let drift_ppm =
                rng.between(0, 2 * SKEW_DRIFT_PPM_MAX) as i64 - SKEW_DRIFT_PPM_MAX as i64;
            FaultKind::ClockSkew { nodes: vec![target], offset_ns, drift_ppm }
        }
        NemesisFault::Loss => {
            let unit = rng.below(1 << 20) as f64 / (1 << 20) as f64;
            let rate = LOSS_RATE_MIN + unit * (LOSS_RATE_MAX - LOSS_RATE_MIN);
            FaultKind::Loss { nodes: vec![target], rate }
        }
    }
}

/// The target alone on one side, every other participant on the other.
fn split(config: &NemesisConfig, target: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
    let rest: Vec<NodeId> = config.participants.iter().copied().filter(|&n| n != target).collect();
    (vec![target], rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kinds: Vec<NemesisFault>) -> NemesisConfig {
        NemesisConfig {
            kinds,
            targets: vec![NodeId(0), NodeId(1), NodeId(2)],
            participants: vec![NodeId(0), NodeId(1), NodeId(2), NodeId(3)],
            interval_min: Duration::from_secs(1),
            interval_max: Duration::from_secs(5),
            duration_min: Duration::from_secs(1),
            duration_max: Duration::from_secs(4),
            power_loss_gap_min: Duration::from_secs(30),
            start: Instant::ZERO,
            end: Instant::ZERO + Duration::from_secs(120),
        }
    }

    #[test]
    fn faults_do_not_overlap_and_end_in_time() {
        let all = vec![
            NemesisFault::Partition,
            NemesisFault::PartitionOneWay,
            NemesisFault::Crash,
            NemesisFault::PowerLoss,
            NemesisFault::Pause,
            NemesisFault::ClockSkew,
            NemesisFault::Loss,
        ];
        let faults = timeline(&config(all), &mut SimRng::stream(9, "nemesis"));
        assert!(faults.len() >= 10, "only {} faults in 120s", faults.len());
        for pair in faults.windows(2) {
            assert!(pair[0].at + pair[0].duration.unwrap() < pair[1].at, "faults overlap");
        }
        let end = config(vec![]).end;
        assert!(faults.iter().all(|f| f.at + f.duration.unwrap() <= end));
        let kinds: std::collections::BTreeSet<&str> =
            faults.iter().map(|f| f.kind.name()).collect();
        assert!(kinds.len() >= 5, "kinds drawn: {kinds:?}");
    }

    #[test]
    fn partitions_isolate_one_target_from_the_rest() {
        let faults = timeline(&config(vec![NemesisFault::Partition]), &mut SimRng::stream(1, "n"));
        for fault in faults {
            let FaultKind::Partition { groups } = fault.kind else { panic!("not a partition") };
            assert_eq!(groups[0].len(), 1);
            assert_eq!(groups[1].len(), 3);
            assert!(!groups[1].contains(&groups[0][0]));
        }
    }

    #[test]
    fn power_losses_are_spaced() {
        let cfg = config(vec![NemesisFault::PowerLoss]);
        let faults = timeline(&cfg, &mut SimRng::stream(2, "nemesis"));
        let losses: Vec<Instant> = faults
            .iter()
            .filter(|f| matches!(f.kind, FaultKind::Crash { lose_unflushed: true, .. }))
            .map(|f| f.at)
            .collect();
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
        let a = timeline(&cfg, &mut SimRng::stream(4, "nemesis"));
        let b = timeline(&cfg, &mut SimRng::stream(4, "nemesis"));
        let c = timeline(&cfg, &mut SimRng::stream(5, "nemesis"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
