//! `nonmonotonic-send` as a graph problem: per process and partition, the `ok` sends are
//! nodes; the process's invocation order (a send invoked strictly before another) and the
//! log's order (a lower offset before a higher one; equal offsets both ways) are edges.
//! Both orders agree exactly when the graph is acyclic, so every strongly connected
//! component of more than one send is a cluster of reordered sends; within it, each send
//! that landed at or below a send invoked before it is one instance.
//!
//! A send at an offset observed with several values (`inconsistent-offsets`, e.g. an
//! acknowledged write a failover replaced) has no place in the log order: it is left out,
//! so that one lost write is not also counted as a reordering.
//!
//! Sends invoked at the same instant are concurrent (a batch): they get no invocation
//! edge between them. Instead of an edge from each send of one instant to each of the
//! next (quadratic in batch size), each instant gets a junction node the sends pass
//! through: O(sends) nodes and edges.

use std::collections::BTreeMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::index::{Index, at};
use super::{Example, Found, NONMONOTONIC_SEND};

const UNORDERED: &str = "without idempotence, with several requests in flight, a retry may \
                         overtake a later send";

/// An `ok` send: (invoked, offset, op).
type Send = (u64, u64, usize);

pub(super) fn check(index: &Index, found: &mut Found) {
    let mut sends: BTreeMap<(usize, usize), Vec<Send>> = BTreeMap::new();
    for write in &index.writes {
        if let Some(offset) = write.offset
            && !index.parts[write.tp].is_conflicted(offset)
        {
            let invoked = index.history.ops[write.op].invoke_ns;
            sends.entry((write.process, write.tp)).or_default().push((invoked, offset, write.op));
        }
    }
    for ((process, tp), mut sends) in sends {
        sends.sort_unstable();
        let ordered = index.history.promises.producer(index.processes[process]).ordered;
        let allowed = (!ordered).then_some(UNORDERED);
        for cluster in reordered_clusters(&sends) {
            report(index, process, tp, allowed, &cluster, found);
        }
    }
}

/// Whether the invocation order and the log order agree: every send lands above every
/// send invoked strictly before it (`sends` sorted by invocation). Then the graph is
/// acyclic and need not be built: the common case, checked in one pass.
fn in_order(sends: &[Send]) -> bool {
    let mut highest_before: Option<u64> = None;
    for same in sends.chunk_by(|a, b| a.0 == b.0) {
        let lowest = same.iter().map(|s| s.1).min().expect("non-empty");
        if highest_before.is_some_and(|h| lowest <= h) {
            return false;
        }
        let highest = same.iter().map(|s| s.1).max().expect("non-empty");
        highest_before = Some(highest_before.map_or(highest, |h| h.max(highest)));
    }
    // Equal offsets within one instant are a cycle too (log order both ways).
    sends.chunk_by(|a, b| a.0 == b.0).all(|same| {
        let mut offsets: Vec<u64> = same.iter().map(|s| s.1).collect();
        offsets.sort_unstable();
        offsets.windows(2).all(|w| w[0] < w[1])
    })
}

/// The strongly connected components of more than one send, each sorted by invocation.
fn reordered_clusters(sends: &[Send]) -> Vec<Vec<Send>> {
    if in_order(sends) {
        return Vec::new();
    }
    let mut graph: DiGraph<Option<usize>, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..sends.len()).map(|i| graph.add_node(Some(i))).collect();
    // Invocation order, through one junction per distinct invocation instant.
    let mut previous_junction: Option<NodeIndex> = None;
    for same in (0..sends.len()).collect::<Vec<_>>().chunk_by(|&a, &b| sends[a].0 == sends[b].0) {
        let junction = graph.add_node(None);
        for &i in same {
            if let Some(before) = previous_junction {
                graph.add_edge(before, nodes[i], ());
            }
            graph.add_edge(nodes[i], junction, ());
        }
        previous_junction = Some(junction);
    }
    // Log order.
    let mut by_offset: Vec<usize> = (0..sends.len()).collect();
    by_offset.sort_unstable_by_key(|&i| (sends[i].1, i));
    for pair in by_offset.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        graph.add_edge(nodes[a], nodes[b], ());
        if sends[a].1 == sends[b].1 {
            graph.add_edge(nodes[b], nodes[a], ());
        }
    }
    let mut clusters: Vec<Vec<Send>> = tarjan_scc(&graph)
        .into_iter()
        .map(|scc| scc.into_iter().filter_map(|n| graph[n]).map(|i| sends[i]).collect::<Vec<_>>())
        .filter(|cluster| cluster.len() > 1)
        .collect();
    for cluster in &mut clusters {
        cluster.sort_unstable();
    }
    clusters.sort_unstable();
    clusters
}

/// One instance per send of `cluster` that landed at or below a send invoked before it.
fn report(
    index: &Index,
    process: usize,
    tp: usize,
    allowed: Option<&'static str>,
    cluster: &[Send],
    found: &mut Found,
) {
    // The highest-offset send among those invoked strictly earlier.
    let mut highest_before: Option<Send> = None;
    for same in cluster.chunk_by(|a, b| a.0 == b.0) {
        if let Some(earlier) = highest_before {
            for &send in same.iter().filter(|s| s.1 <= earlier.1) {
                let at_ns = index.history.ops[send.2].complete_ns;
                found.add(NONMONOTONIC_SEND, tp, Some(process), allowed, at_ns, || {
                    example(index, earlier, send)
                });
            }
        }
        let top = *same.iter().max_by_key(|s| s.1).expect("non-empty");
        if highest_before.is_none_or(|h| top.1 > h.1) {
            highest_before = Some(top);
        }
    }
}

fn example(index: &Index, earlier: Send, later: Send) -> Example {
    let value = |op: usize| match index.history.ops[op].call {
        crate::history::Call::Send { value, .. } => value,
        _ => unreachable!("sends only"),
    };
    Example {
        ops: vec![earlier.2, later.2],
        offsets: vec![earlier.1, later.1],
        values: vec![value(earlier.2), value(later.2)],
        text: format!(
            "{} (invoked at {}, {}) landed at offset {}, at or below {} (invoked before it at \
             {}, {}) at offset {}",
            index.name(value(later.2)),
            at(later.0),
            index.op(later.2),
            later.1,
            index.name(value(earlier.2)),
            at(earlier.0),
            index.op(earlier.2),
            earlier.1
        ),
    }
}
