//! Liveness after the heal: once every fault has healed, the cluster must recover within
//! the scenario's bound (`[run] liveness`). Recovered means, all at one moment:
//!
//! - every partition has a leader, up and acting in the controller's epoch;
//! - every ISR holds all the partition's replicas;
//! - every consumer group (under `subscribe`) is `Stable` on a loaded coordinator, with
//!   all its members in the generation;
//! - every record acknowledged before the heal has been consumed by every group (and lone
//!   consumer) that reads its topic: the group's reads reached its offset, or the
//!   leader's high watermark if a truncation took the log below it. Progress, not safety:
//!   a record lost on the way is the history checkers' `lost-write`, while a group that
//!   never gets past it is this check's.
//!
//! A run that does not recover in time gets one `liveness` violation that names what had
//! not converged at the bound.

use std::collections::BTreeMap;

use crate::kafka::protocol::{KafkaObs, TopicPartition};
use crate::sim::node::NodeId;
use crate::sim::time::{Duration, Instant};
use crate::sim::world::Observed;

use super::Violation;

/// What liveness looks at in the cluster at one moment (built by `kafka::progress`).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub partitions: Vec<PartitionProgress>,
    pub groups: Vec<GroupProgress>,
}

#[derive(Clone, Debug)]
pub struct PartitionProgress {
    pub tp: TopicPartition,
    /// The controller's leader, if it is up and leads in the controller's epoch.
    pub leader: Option<String>,
    /// Why there is no acting leader, when there is none.
    pub no_leader: &'static str,
    pub replicas: Vec<String>,
    pub isr: Vec<String>,
    /// The acting leader's high watermark: what consumers can read now.
    pub high_watermark: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct GroupProgress {
    pub group: String,
    /// The coordinator's state of the group (`Stable`, ...), or why there is none.
    pub state: String,
    pub stable: bool,
    pub members: usize,
    pub members_expected: usize,
}

/// Who consumes together: a group, or a consumer outside any group.
#[derive(Clone, Debug)]
pub struct Readers {
    pub name: String,
    pub members: Vec<NodeId>,
    pub partitions: Vec<TopicPartition>,
}

/// Tracks a run's reads and, from the heal on, when the cluster recovered. Fed every
/// observation in time order as the run goes ([`Liveness::observe`]).
#[derive(Debug)]
pub struct Liveness {
    bound: Duration,
    readers: Vec<Readers>,
    /// Per partition: the highest offset acknowledged so far (until the heal).
    acked: BTreeMap<TopicPartition, u64>,
    /// When the faults healed; acknowledgements after it set no target.
    heal: Option<Instant>,
    /// Per reader set and partition: the highest offset acknowledged before the heal.
    targets: Vec<BTreeMap<TopicPartition, u64>>,
    /// Per reader set and partition: the highest offset its members read.
    reached: Vec<BTreeMap<TopicPartition, u64>>,
    converged: Option<Instant>,
    last_missing: Vec<String>,
}

/// Raises `map[tp]` to `offset`, cloning the key only for a partition not seen before.
fn raise(map: &mut BTreeMap<TopicPartition, u64>, tp: &TopicPartition, offset: u64) {
    match map.get_mut(tp) {
        Some(top) => *top = (*top).max(offset),
        None => {
            map.insert(tp.clone(), offset);
        }
    }
}

impl Liveness {
    /// `bound`: how long after the heal the cluster may take to recover.
    pub fn new(readers: Vec<Readers>, bound: Duration) -> Liveness {
        Liveness {
            bound,
            reached: vec![BTreeMap::new(); readers.len()],
            targets: vec![BTreeMap::new(); readers.len()],
            readers,
            acked: BTreeMap::new(),
            heal: None,
            converged: None,
            last_missing: Vec::new(),
        }
    }

    /// Takes in the next observation of the run.
    pub fn observe(&mut self, o: &Observed<KafkaObs>) {
        match &o.obs {
            KafkaObs::Acked { tp, offset, .. } if self.heal.is_none() => {
                raise(&mut self.acked, tp, *offset);
            }
            KafkaObs::Read { tp, offset, .. } => {
                for (r, readers) in self.readers.iter().enumerate() {
                    if readers.members.contains(&o.node) {
                        raise(&mut self.reached[r], tp, *offset);
                    }
                }
            }
            _ => {}
        }
    }

    /// The faults healed at `now`, after every observation before it: what was
    /// acknowledged by then must be consumed.
    pub fn heal(&mut self, now: Instant) {
        assert!(self.heal.is_none(), "a run heals once");
        self.heal = Some(now);
        let acked = &self.acked;
        for (r, readers) in self.readers.iter().enumerate() {
            self.targets[r] = readers
                .partitions
                .iter()
                .filter_map(|tp| Some((tp.clone(), *acked.get(tp)?)))
                .collect();
        }
    }

    /// Looks at the cluster at `now`, until it has recovered or the bound has passed.
    pub fn probe(&mut self, progress: &Progress, now: Instant) {
        let heal = self.heal.expect("probed after the heal");
        if self.converged.is_some() || now > heal + self.bound {
            return;
        }
        self.last_missing = self.missing(progress);
        if self.last_missing.is_empty() {
            self.converged = Some(now);
        }
    }

    /// How long after the heal the cluster recovered, if it did.
    pub fn converged_after(&self) -> Option<Duration> {
        Some(self.converged? - self.heal?)
    }

    /// The violation of a cluster that did not recover within the bound.
    pub fn violation(&self) -> Option<Violation> {
        let heal = self.heal?;
        if self.converged.is_some() {
            return None;
        }
        let mut detail =
            format!("the cluster did not recover within {} of the heal at {}:", self.bound, heal);
        for what in &self.last_missing {
            detail.push_str("\n  - ");
            detail.push_str(what);
        }
        Some(Violation { invariant: "liveness", time: heal + self.bound, detail })
    }

    /// What has not converged, one line each.
    fn missing(&self, progress: &Progress) -> Vec<String> {
        let mut missing = Vec::new();
        for p in &progress.partitions {
            if p.leader.is_none() {
                missing.push(format!("{}: no leader ({})", p.tp, p.no_leader));
            }
            if p.isr.len() < p.replicas.len() {
                missing.push(format!(
                    "{}: ISR [{}] short of replicas [{}]",
                    p.tp,
                    p.isr.join(", "),
                    p.replicas.join(", ")
                ));
            }
        }
        for g in &progress.groups {
            if !g.stable || g.members != g.members_expected {
                missing.push(format!(
                    "group {}: {} with {} of {} members",
                    g.group, g.state, g.members, g.members_expected
                ));
            }
        }
        let readable: BTreeMap<&TopicPartition, u64> =
            progress.partitions.iter().map(|p| (&p.tp, p.high_watermark.unwrap_or(0))).collect();
        for (r, readers) in self.readers.iter().enumerate() {
            for (tp, &acked) in &self.targets[r] {
                // Offsets at or above the HW cannot be read (yet, or ever after a
                // truncation): the target is the last readable acknowledged offset.
                let Some(target) =
                    readable.get(tp).and_then(|hw| acked.min(hw.checked_sub(1)?).into())
                else {
                    continue;
                };
                let reached = self.reached[r].get(tp).copied();
                if reached.is_none_or(|o| o < target) {
                    let reach = reached.map_or("nothing".to_string(), |o| format!("offset {o}"));
                    missing.push(format!(
                        "{}: read {tp} up to {reach}, short of offset {target} acknowledged before the heal",
                        readers.name
                    ));
                }
            }
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: NodeId = NodeId(4);
    const C1: NodeId = NodeId(5);

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn ack(ms: u64, offset: u64) -> Observed<KafkaObs> {
        let obs = KafkaObs::Acked {
            tp: tp(),
            key: 0,
            value: offset,
            offset,
            leader: NodeId(0),
            leader_epoch: 1,
        };
        Observed { time: at(ms), node: P1, obs }
    }

    fn read(ms: u64, offset: u64) -> Observed<KafkaObs> {
        let obs = KafkaObs::Read {
            tp: tp(),
            key: 0,
            value: offset,
            offset,
            leader_epoch: 1,
            broker: NodeId(0),
        };
        Observed { time: at(ms), node: C1, obs }
    }

    fn healthy() -> Progress {
        Progress {
            partitions: vec![PartitionProgress {
                tp: tp(),
                leader: Some("b1".into()),
                no_leader: "",
                replicas: vec!["b1".into(), "b2".into()],
                isr: vec!["b1".into(), "b2".into()],
                high_watermark: Some(100),
            }],
            groups: vec![GroupProgress {
                group: "g".into(),
                state: "Stable".into(),
                stable: true,
                members: 1,
                members_expected: 1,
            }],
        }
    }

    fn readers() -> Vec<Readers> {
        vec![Readers { name: "group g".into(), members: vec![C1], partitions: vec![tp()] }]
    }

    /// A liveness fed `before` and healed at `heal_ms`.
    fn healed(before: &[Observed<KafkaObs>], heal_ms: u64) -> Liveness {
        let mut l = Liveness::new(readers(), Duration::from_millis(1_000));
        for o in before {
            l.observe(o);
        }
        l.heal(at(heal_ms));
        l
    }

    #[test]
    fn converges_once_everything_holds_at_one_moment() {
        let mut l = healed(&[ack(10, 0), ack(11, 1), read(12, 0)], 20);
        // Acknowledged after the heal: not a target.
        l.observe(&ack(30, 50));
        l.probe(&healthy(), at(100));
        assert_eq!(l.converged_after(), None, "offset 1 not read yet");
        l.observe(&read(150, 1));
        let mut sick = healthy();
        sick.partitions[0].isr.pop();
        l.probe(&sick, at(200));
        assert_eq!(l.converged_after(), None);
        l.probe(&healthy(), at(300));
        assert_eq!(l.converged_after(), Some(Duration::from_millis(280)));
        assert_eq!(l.violation(), None);
        // Once recovered, a later fault-free wobble changes nothing.
        l.probe(&sick, at(400));
        assert_eq!(l.converged_after(), Some(Duration::from_millis(280)));
    }

    #[test]
    fn a_cluster_that_never_recovers_names_what_did_not() {
        let mut l = healed(&[ack(10, 0), ack(11, 7)], 20);
        let mut sick = healthy();
        sick.partitions[0].leader = None;
        sick.partitions[0].no_leader = "the controller elected none";
        sick.groups[0] = GroupProgress {
            group: "g".into(),
            state: "PreparingRebalance".into(),
            stable: false,
            members: 1,
            members_expected: 2,
        };
        l.probe(&sick, at(500));
        // Past the bound, probes no longer count.
        l.probe(&healthy(), at(1_500));
        let v = l.violation().expect("never recovered");
        assert_eq!((v.invariant, v.time), ("liveness", at(1_020)));
        for needle in [
            "did not recover within 1.000s of the heal at t=0.020s",
            "t-0: no leader (the controller elected none)",
            "group g: PreparingRebalance with 1 of 2 members",
            "group g: read t-0 up to nothing, short of offset 7 acknowledged before the heal",
        ] {
            assert!(v.detail.contains(needle), "{needle:?} not in {}", v.detail);
        }
    }
}
