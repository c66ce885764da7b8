//! The group leader's partition assignors, as Kafka defines them (`RangeAssignor`,
//! `RoundRobinAssignor`). Deterministic: members are taken in member-id order, partitions in
//! (topic, partition) order. Kafka sorts member ids as strings; ours are numbers, sorted as
//! numbers.

use std::sync::Arc;

use crate::kafka::protocol::{Assignor, MemberId, TopicPartition};

/// Every member's partitions, in member-id order (members that get nothing are listed with
/// an empty list). `members` is the JoinGroup answer's list: each member's subscription;
/// `partitions` every partition the leader knows of. Partitions of topics no member
/// subscribes to are not assigned.
pub fn assign(
    assignor: Assignor,
    members: &[(MemberId, Vec<Arc<str>>)],
    partitions: &[TopicPartition],
) -> Vec<(MemberId, Vec<TopicPartition>)> {
    let mut members: Vec<(MemberId, Vec<Arc<str>>)> = members.to_vec();
    members.sort_by_key(|(id, _)| *id);
    assert!(members.windows(2).all(|w| w[0].0 != w[1].0), "member ids are unique");
    let mut partitions = partitions.to_vec();
    partitions.sort();
    partitions.dedup();
    let mut assignment: Vec<(MemberId, Vec<TopicPartition>)> =
        members.iter().map(|(id, _)| (*id, Vec::new())).collect();
    match assignor {
        Assignor::Range => range(&members, &partitions, &mut assignment),
        Assignor::RoundRobin => round_robin(&members, &partitions, &mut assignment),
    }
    assignment
}

fn subscribes(subscription: &[Arc<str>], topic: &str) -> bool {
    subscription.iter().any(|t| **t == *topic)
}

/// Per topic, the members subscribed to it (in order) get consecutive ranges; the first
/// `partitions % members` of them get one partition more.
fn range(
    members: &[(MemberId, Vec<Arc<str>>)],
    partitions: &[TopicPartition],
    assignment: &mut [(MemberId, Vec<TopicPartition>)],
) {
    let mut topics: Vec<&Arc<str>> = partitions.iter().map(|tp| &tp.topic).collect();
    topics.dedup();
    for topic in topics {
        let of_topic: Vec<&TopicPartition> =
            partitions.iter().filter(|tp| tp.topic == *topic).collect();
        let subscribed: Vec<usize> =
            (0..members.len()).filter(|&i| subscribes(&members[i].1, topic)).collect();
        if subscribed.is_empty() {
            continue;
        }
        let per_member = of_topic.len() / subscribed.len();
        let with_extra = of_topic.len() % subscribed.len();
        for (rank, &member) in subscribed.iter().enumerate() {
            let start = rank * per_member + rank.min(with_extra);
            let length = per_member + usize::from(rank < with_extra);
            assignment[member].1.extend(of_topic[start..start + length].iter().copied().cloned());
        }
    }
}

/// Every partition, in order, goes to the next member (circularly) subscribed to its topic.
fn round_robin(
    members: &[(MemberId, Vec<Arc<str>>)],
    partitions: &[TopicPartition],
    assignment: &mut [(MemberId, Vec<TopicPartition>)],
) {
    if members.is_empty() {
        return;
    }
    let mut next = 0;
    for tp in partitions {
        if !members.iter().any(|(_, s)| subscribes(s, &tp.topic)) {
            continue;
        }
        // Bounded: some member subscribes to the topic.
        let mut steps = 0;
        while !subscribes(&members[next].1, &tp.topic) {
            next = (next + 1) % members.len();
            steps += 1;
            assert!(steps <= members.len(), "a subscribed member exists");
        }
        assignment[next].1.push(tp.clone());
        next = (next + 1) % members.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(topic: &str, partitions: &[u32]) -> Vec<TopicPartition> {
        partitions.iter().map(|&p| TopicPartition::new(topic, p)).collect()
    }

    fn subscription(topics: &[&str]) -> Vec<Arc<str>> {
        topics.iter().map(|&t| Arc::from(t)).collect()
    }

    /// Kafka's RangeAssignor javadoc example: two members, two topics of three partitions;
    /// the first member gets two partitions of each topic.
    #[test]
    fn range_gives_the_first_members_the_extra_partitions_per_topic() {
        let members = vec![
            (MemberId(7), subscription(&["t0", "t1"])),
            (MemberId(3), subscription(&["t0", "t1"])),
        ];
        let partitions = [tps("t1", &[0, 1, 2]), tps("t0", &[2, 1, 0])].concat();
        let got = assign(Assignor::Range, &members, &partitions);
        let want = vec![
            (MemberId(3), [tps("t0", &[0, 1]), tps("t1", &[0, 1])].concat()),
            (MemberId(7), [tps("t0", &[2]), tps("t1", &[2])].concat()),
        ];
        assert_eq!(got, want);
    }

    /// Kafka's RoundRobinAssignor javadoc example: the same group gets t0p0, t0p2, t1p1 and
    /// t0p1, t1p0, t1p2.
    #[test]
    fn round_robin_deals_all_partitions_over_the_members() {
        let members = vec![
            (MemberId(2), subscription(&["t0", "t1"])),
            (MemberId(1), subscription(&["t0", "t1"])),
        ];
        let partitions = [tps("t0", &[0, 1, 2]), tps("t1", &[0, 1, 2])].concat();
        let got = assign(Assignor::RoundRobin, &members, &partitions);
        let want = vec![
            (MemberId(1), [tps("t0", &[0, 2]), tps("t1", &[1])].concat()),
            (MemberId(2), [tps("t0", &[1]), tps("t1", &[0, 2])].concat()),
        ];
        assert_eq!(got, want);
    }

    /// Members that do not subscribe to a topic get none of it; a topic nobody subscribes to
    /// is not assigned; more members than partitions leaves some with nothing.
    #[test]
    fn assignors_respect_subscriptions() {
        let members = vec![
            (MemberId(1), subscription(&["a"])),
            (MemberId(2), subscription(&["a", "b"])),
            (MemberId(3), subscription(&["b"])),
        ];
        let partitions = [tps("a", &[0]), tps("b", &[0, 1]), tps("c", &[0])].concat();
        let range = assign(Assignor::Range, &members, &partitions);
        assert_eq!(
            range,
            vec![
                (MemberId(1), tps("a", &[0])),
                (MemberId(2), tps("b", &[0])),
                (MemberId(3), tps("b", &[1])),
            ]
        );
        let round_robin = assign(Assignor::RoundRobin, &members, &partitions);
        assert_eq!(
            round_robin,
            vec![
                (MemberId(1), tps("a", &[0])),
                (MemberId(2), tps("b", &[0])),
                (MemberId(3), tps("b", &[1])),
            ]
        );
        let lone = assign(Assignor::Range, &members[..1], &tps("a", &[0, 1]));
        assert_eq!(lone, vec![(MemberId(1), tps("a", &[0, 1]))]);
    }
}
