//! What the liveness check ([`crate::check::liveness`]) looks at, read off a running
//! simulation: partition leadership and ISRs as the controller has them, the groups as
//! their coordinators have them, and who consumes which partitions.

use std::collections::BTreeMap;

use crate::check::liveness::{GroupProgress, PartitionProgress, Progress, Readers};
use crate::scenario::{ConsumerMode, Scenario};
use crate::sim::Sim;
use crate::sim::node::NodeId;

use super::cluster::Layout;
use super::node::KafkaNode;
use super::protocol::{CONSUMER_OFFSETS, TopicPartition, offsets_partition_for};

/// The cluster's progress now.
pub fn progress(sim: &Sim<KafkaNode>, layout: &Layout, scenario: &Scenario) -> Progress {
    let controller = sim.node(layout.controller).and_then(KafkaNode::as_controller);
    let names = |ids: &[NodeId]| ids.iter().map(|&id| layout.name(id).to_string()).collect();
    let partitions = layout
        .partitions()
        .map(|(tp, replicas)| {
            let state = controller.and_then(|c| c.partition(&tp));
            let acting = |l: NodeId| {
                sim.node(l).and_then(KafkaNode::as_broker).and_then(|b| b.replica(&tp)).filter(
                    |r| r.is_leader() && state.is_some_and(|s| r.leader_epoch() == s.leader_epoch),
                )
            };
            let high_watermark =
                state.and_then(|s| s.leader).and_then(acting).map(|r| r.log().high_watermark());
            let (leader, no_leader) = match state {
                None => (None, "the controller is down"),
                Some(s) => match s.leader {
                    None => (None, "the controller elected none"),
                    Some(l) => {
                        if acting(l).is_some() {
                            (Some(layout.name(l).to_string()), "")
                        } else {
                            (None, "the elected leader does not act in its epoch yet")
                        }
                    }
                },
            };
            PartitionProgress {
                leader,
                no_leader,
                replicas: names(replicas),
                isr: state.map_or_else(Vec::new, |s| names(&s.isr)),
                high_watermark,
                tp,
            }
        })
        .collect();
    let groups = subscribed_groups(scenario)
        .into_iter()
        .map(|(group, members_expected)| {
            group_progress(sim, layout, scenario, group, members_expected)
        })
        .collect();
    Progress { partitions, groups }
}

/// Every group whose members subscribe, with its number of members.
fn subscribed_groups(scenario: &Scenario) -> BTreeMap<&str, usize> {
    let mut groups = BTreeMap::new();
    for c in scenario.consumers.iter().filter(|c| c.mode == ConsumerMode::Subscribe) {
        if let Some(group) = c.group.as_deref() {
            *groups.entry(group).or_insert(0) += 1;
        }
    }
    groups
}

fn group_progress(
    sim: &Sim<KafkaNode>,
    layout: &Layout,
    scenario: &Scenario,
    group: &str,
    members_expected: usize,
) -> GroupProgress {
    let partition = offsets_partition_for(group, scenario.broker.offsets_topic_num_partitions);
    let tp = TopicPartition::new(CONSUMER_OFFSETS, partition);
    let coordinator = layout
        .leader(sim, &tp)
        .and_then(|(leader, _)| sim.node(leader)?.as_broker()?.group_coordinator(partition))
        .filter(|c| c.is_loaded());
    let (state, members) = match coordinator {
        None => ("no loaded coordinator".to_string(), 0),
        Some(c) => (
            c.group_state(group).map_or("unknown".to_string(), |s| format!("{s:?}")),
            c.describe(group).map_or(0, |g| g.members.len()),
        ),
    };
    GroupProgress {
        group: group.to_string(),
        stable: state == "Stable",
        state,
        members,
        members_expected,
    }
}

/// Who must consume what: each group (its members reading the union of their topics) and
/// each consumer outside a group.
pub fn readers(scenario: &Scenario, layout: &Layout) -> Vec<Readers> {
    assert_eq!(scenario.consumers.len(), layout.consumers.len(), "layout of this scenario");
    let partitions_of = |topics: &[String]| -> Vec<TopicPartition> {
        layout
            .partitions()
            .map(|(tp, _)| tp)
            .filter(|tp| topics.iter().any(|t| **t == *tp.topic))
            .collect()
    };
    let mut groups: BTreeMap<&str, (Vec<NodeId>, Vec<String>)> = BTreeMap::new();
    let mut readers = Vec::new();
    for (spec, &node) in scenario.consumers.iter().zip(&layout.consumers) {
        match spec.group.as_deref() {
            Some(group) => {
                let (members, topics) = groups.entry(group).or_default();
                members.push(node);
                topics.extend(spec.topics.iter().cloned());
            }
            None => readers.push(Readers {
                name: spec.name.clone(),
                members: vec![node],
                partitions: partitions_of(&spec.topics),
            }),
        }
    }
    for (group, (members, topics)) in groups {
        readers.push(Readers {
            name: format!("group {group}"),
            members,
            partitions: partitions_of(&topics),
        });
    }
    readers
}
