//! Building a simulated cluster from a scenario: which node is who, where every partition's
//! replicas live, and the `Sim` with every node added in a fixed order.

use crate::scenario::{FaultSpec, FaultSpecKind, Scenario, TopicSpec};
use crate::sim::fault::{Fault, FaultKind};
use crate::sim::node::NodeId;
use crate::sim::time::{Duration, Instant};
use crate::sim::{NetConfig, Sim, SimConfig};

use super::broker::{Broker, BrokerConfig};
use super::consumer::{Consumer, ConsumerConfig};
use super::controller::{Controller, ControllerConfig};
use super::node::KafkaNode;
use super::producer::{Producer, ProducerConfig};
use super::protocol::{CONSUMER_OFFSETS, TopicPartition};

/// How long dirty pages stay in the page cache before the OS writes them (Linux's
/// `dirty_expire_centisecs`): Kafka never fsyncs its logs and relies on this.
pub const OS_WRITEBACK_AGE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicLayout {
    pub name: String,
    /// Replicas of each partition, in assignment order (the first is the preferred leader).
    pub partitions: Vec<Vec<NodeId>>,
}

/// Names <-> node ids, and every partition's replicas. Nodes are added in this order:
/// brokers `b1..bN`, `controller`, producers, consumers (by their names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    names: Vec<String>,
    pub brokers: Vec<NodeId>,
    pub controller: NodeId,
    pub producers: Vec<NodeId>,
    pub consumers: Vec<NodeId>,
    pub topics: Vec<TopicLayout>,
}

impl Layout {
    /// The layout of a validated scenario.
    pub fn new(scenario: &Scenario) -> Layout {
        let n_brokers = scenario.cluster.brokers;
        assert!(n_brokers > 0, "a cluster has brokers");
        let mut names: Vec<String> = (1..=n_brokers).map(|i| format!("b{i}")).collect();
        let brokers: Vec<NodeId> = (0..n_brokers).map(NodeId).collect();
        let mut add = |name: &str| {
            names.push(name.to_string());
            NodeId(names.len() as u32 - 1)
        };
        let controller = add("controller");
        let producers = scenario.producers.iter().map(|p| add(&p.name)).collect();
        let consumers = scenario.consumers.iter().map(|c| add(&c.name)).collect();
        // Kafka creates `__consumer_offsets` at the first FindCoordinator; here it exists
        // from the start when some consumer belongs to a group.
        let offsets_topic =
            scenario.consumers.iter().any(|c| c.group.is_some()).then(|| TopicSpec {
                name: CONSUMER_OFFSETS.to_string(),
                partitions: scenario.broker.offsets_topic_num_partitions,
                replication_factor: scenario.broker.offsets_topic_replication_factor,
            });
        let topics = scenario
            .topics
            .iter()
            .chain(&offsets_topic)
            .enumerate()
            .map(|(topic_idx, t)| {
                let rf = t.replication_factor;
                assert!(
                    (1..=n_brokers).contains(&rf),
                    "topic {}: replication factor {rf} with {n_brokers} brokers",
                    t.name
                );
                // Kafka's round-robin assignment without racks: partition p starts at
                // broker (p + topic index) mod N and takes the next RF brokers.
                let partitions = (0..t.partitions)
                    .map(|p| {
                        (0..rf)
                            .map(|r| {
                                brokers[(p as usize + topic_idx + r as usize) % n_brokers as usize]
                            })
                            .collect()
                    })
                    .collect();
                TopicLayout { name: t.name.clone(), partitions }
            })
            .collect();
        Layout { names, brokers, controller, producers, consumers, topics }
    }

    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    pub fn name(&self, id: NodeId) -> &str {
        self.names.get(id.0 as usize).map_or("?", String::as_str)
    }

    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.names.iter().position(|n| n == name).map(|i| NodeId(i as u32))
    }

    pub fn topic(&self, name: &str) -> Option<&TopicLayout> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn replicas(&self, tp: &TopicPartition) -> Option<&[NodeId]> {
        self.topic(&tp.topic)?.partitions.get(tp.partition as usize).map(Vec::as_slice)
    }

    /// Every partition with its replicas, topic by topic.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &[NodeId])> {
        self.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .enumerate()
                .map(|(p, replicas)| (TopicPartition::new(&t.name, p as u32), replicas.as_slice()))
        })
    }

    fn ids(&self, names: &[String]) -> Vec<NodeId> {
        names
            .iter()
            .map(|n| self.id(n).unwrap_or_else(|| panic!("fault names unknown node {n:?}")))
            .collect()
    }

    /// A scenario's fixed fault with node names resolved.
    pub fn fault(&self, spec: &FaultSpec) -> Fault {
        let kind = match &spec.kind {
            FaultSpecKind::Partition { groups } => {
                FaultKind::Partition { groups: groups.iter().map(|g| self.ids(g)).collect() }
            }
            FaultSpecKind::PartitionOneWay { from, to } => {
                FaultKind::PartitionOneWay { from: self.ids(from), to: self.ids(to) }
            }
            FaultSpecKind::Crash { nodes, lose_unflushed } => {
                FaultKind::Crash { nodes: self.ids(nodes), lose_unflushed: *lose_unflushed }
            }
            FaultSpecKind::Pause { nodes } => FaultKind::Pause { nodes: self.ids(nodes) },
            FaultSpecKind::ClockSkew { nodes, offset_ns, drift_ppm } => FaultKind::ClockSkew {
                nodes: self.ids(nodes),
                offset_ns: *offset_ns,
                drift_ppm: *drift_ppm,
            },
            FaultSpecKind::Loss { nodes, rate } => {
                FaultKind::Loss { nodes: self.ids(nodes), rate: *rate }
            }
        };
        Fault { at: Instant::ZERO + spec.at, duration: spec.duration, kind }
    }

    /// The fault as a scenario file's timeline names it: the inverse of [`Layout::fault`].
    pub fn spec(&self, fault: &Fault) -> FaultSpec {
        let names = |ids: &[NodeId]| ids.iter().map(|&id| self.name(id).to_string()).collect();
        let kind = match &fault.kind {
            FaultKind::Partition { groups } => {
                FaultSpecKind::Partition { groups: groups.iter().map(|g| names(g)).collect() }
            }
            FaultKind::PartitionOneWay { from, to } => {
                FaultSpecKind::PartitionOneWay { from: names(from), to: names(to) }
            }
            FaultKind::Crash { nodes, lose_unflushed } => {
                FaultSpecKind::Crash { nodes: names(nodes), lose_unflushed: *lose_unflushed }
            }
            FaultKind::Pause { nodes } => FaultSpecKind::Pause { nodes: names(nodes) },
            FaultKind::ClockSkew { nodes, offset_ns, drift_ppm } => FaultSpecKind::ClockSkew {
                nodes: names(nodes),
                offset_ns: *offset_ns,
                drift_ppm: *drift_ppm,
            },
            FaultKind::Loss { nodes, rate } => {
                FaultSpecKind::Loss { nodes: names(nodes), rate: *rate }
            }
        };
        FaultSpec { at: fault.at - Instant::ZERO, duration: fault.duration, kind }
    }

    /// A fresh node for `id`: what the kernel boots, and boots again after a crash.
    fn boot(&self, scenario: &Scenario, id: NodeId) -> KafkaNode {
        if self.brokers.contains(&id) {
            return KafkaNode::Broker(Broker::new(BrokerConfig {
                controller: self.controller,
                broker: scenario.broker.clone(),
                protocol: scenario.protocol.clone(),
            }));
        }
        if id == self.controller {
            let assignment = self.partitions().map(|(tp, r)| (tp, r.to_vec())).collect();
            return KafkaNode::Controller(Controller::new(ControllerConfig {
                brokers: self.brokers.clone(),
                assignment,
                min_insync_replicas: scenario.broker.min_insync_replicas,
                unclean_leader_election_enable: scenario.broker.unclean_leader_election_enable,
                eligible_leader_replicas: scenario.protocol.eligible_leader_replicas,
                broker_session_timeout_ms: scenario.broker.broker_session_timeout_ms,
            }));
        }
        if let Some(i) = self.producers.iter().position(|&p| p == id) {
            let spec = &scenario.producers[i];
            let topic = self.topic(&spec.topic).unwrap_or_else(|| {
                panic!("producer {} writes unknown topic {}", spec.name, spec.topic)
            });
            return KafkaNode::Producer(Producer::new(ProducerConfig {
                index: i as u32,
                partitions: topic.partitions.len() as u32,
                brokers: self.brokers.clone(),
                spec: spec.clone(),
            }));
        }
        if let Some(i) = self.consumers.iter().position(|&c| c == id) {
            let spec = &scenario.consumers[i];
            let partitions = spec
                .topics
                .iter()
                .flat_map(|name| {
                    let topic = self.topic(name).unwrap_or_else(|| {
                        panic!("consumer {} reads unknown topic {name}", spec.name)
                    });
                    (0..topic.partitions.len() as u32).map(move |p| TopicPartition::new(name, p))
                })
                .collect();
            return KafkaNode::Consumer(Consumer::new(ConsumerConfig {
                index: i as u32,
                partitions,
                brokers: self.brokers.clone(),
                spec: spec.clone(),
                truncation_detection: scenario.protocol.consumer_truncation_detection,
            }));
        }
        panic!("no node with id {id:?}");
    }

    /// The controller's current leader and epoch of `tp` (`None` while it is down or the
    /// partition has no leader).
    pub fn leader(&self, sim: &Sim<KafkaNode>, tp: &TopicPartition) -> Option<(NodeId, u32)> {
        let state = sim.node(self.controller)?.as_controller()?.partition(tp)?;
        Some((state.leader?, state.leader_epoch))
    }
}

/// A simulation of the scenario's cluster and clients, not yet started, and its layout.
/// The scenario's faults are not scheduled here (the runner does that, via
/// [`Layout::fault`]).
pub fn build_sim(scenario: &Scenario, seed: u64, record_trace: bool) -> (Sim<KafkaNode>, Layout) {
    let layout = Layout::new(scenario);
    let net = NetConfig {
        latency_min: scenario.network.latency_min,
        latency_max: scenario.network.latency_max,
        loss: scenario.network.loss,
        duplicate: scenario.network.duplicate,
        ordered: scenario.network.ordered,
    };
    let config = SimConfig { seed, net, writeback_age: Some(OS_WRITEBACK_AGE), record_trace };
    // Nodes are built from the config alone, so booting after a crash gives a fresh one.
    let prototypes: Vec<KafkaNode> =
        (0..layout.node_count()).map(|i| layout.boot(scenario, NodeId(i as u32))).collect();
    let mut sim = Sim::new(config, move |id: NodeId| prototypes[id.0 as usize].clone());
    for i in 0..layout.node_count() {
        let id = sim.add_node(layout.name(NodeId(i as u32)));
        assert_eq!(id, NodeId(i as u32), "nodes are added in layout order");
    }
    (sim, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let text = r#"
            name = "t"
            description = "two topics, RF 3 and RF 2"
            [run]
            duration = "1s"
            [cluster]
            brokers = 3
            [[topics]]
            name = "a"
            partitions = 3
            replication_factor = 3
            [[topics]]
            name = "b"
            partitions = 2
            replication_factor = 2
            [[producers]]
            name = "p1"
            topic = "a"
            rate = 10
            keys = 4
            [[consumers]]
            name = "c1"
            topics = ["a", "b"]
        "#;
        crate::scenario::parse("t.toml", text).expect("valid test scenario")
    }

    #[test]
    fn names_and_round_robin_assignment() {
        let layout = Layout::new(&scenario());
        let names: Vec<&str> =
            (0..layout.node_count()).map(|i| layout.name(NodeId(i as u32))).collect();
        assert_eq!(names, ["b1", "b2", "b3", "controller", "p1", "c1"]);
        assert_eq!(layout.id("controller"), Some(NodeId(3)));
        let ids = |v: &[u32]| v.iter().map(|&i| NodeId(i)).collect::<Vec<_>>();
        assert_eq!(
            layout.topic("a").unwrap().partitions,
            vec![ids(&[0, 1, 2]), ids(&[1, 2, 0]), ids(&[2, 0, 1])]
        );
        // The second topic starts one broker further.
        assert_eq!(layout.topic("b").unwrap().partitions, vec![ids(&[1, 2]), ids(&[2, 0])]);
        assert_eq!(layout.partitions().count(), 5);
    }
}
