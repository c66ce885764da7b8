//! The simulated network: one directed link per ordered pair of nodes.
//!
//! A link has a latency range, a loss rate and a duplication rate, and delivers in order
//! (TCP-like) unless the network is unordered. Partitions block links; a message is
//! dropped when its link is blocked at send time or at delivery time (a partition cuts
//! what is in flight, as a broken TCP connection does).
//!
//! Connectivity is a directed graph: `components` derives the partition's sides with
//! petgraph's strongly connected components. The hot path reads a flat matrix.

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use super::node::NodeId;
use super::rng::SimRng;
use super::time::{Duration, Instant};

/// How the network behaves when no fault touches it.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Probability that a message is dropped.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Per-link FIFO delivery; false lets messages on one link overtake each other.
    pub ordered: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            loss: 0.0,
            duplicate: 0.0,
            ordered: true,
        }
    }
}

/// What happens to one message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Dropped,
    /// Deliver at this time (and a duplicate at the second, if any).
    Deliver(Instant, Option<Instant>),
}

#[derive(Debug)]
pub struct Network {
    config: NetConfig,
    rng: SimRng,
    n_nodes: usize,
    /// How many active faults block each directed link, indexed `from * n + to`.
    blocks: Vec<u32>,
    /// Loss rate of each directed link, base rate and loss faults combined.
    link_loss: Vec<f64>,
    /// Active loss faults: (fault key, nodes (empty = all), rate).
    loss_faults: Vec<(u64, Vec<NodeId>, f64)>,
    /// Latest scheduled delivery per link, so an ordered link never reorders.
    last_delivery: Vec<Instant>,
}

impl Network {
    pub fn new(config: NetConfig, rng: SimRng) -> Self {
        assert!(config.latency_min <= config.latency_max, "latency range is empty");
        assert!((0.0..=1.0).contains(&config.loss), "loss outside 0..=1");
        assert!((0.0..=1.0).contains(&config.duplicate), "duplicate outside 0..=1");
        Network {
            config,
            rng,
            n_nodes: 0,
            blocks: Vec::new(),
            link_loss: Vec::new(),
            loss_faults: Vec::new(),
            last_delivery: Vec::new(),
        }
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Grows the link matrices to `n_nodes` (nodes are only added before a run starts).
    pub fn resize(&mut self, n_nodes: usize) {
        assert!(n_nodes >= self.n_nodes, "nodes are never removed");
        let old = self.n_nodes;
        let mut blocks = vec![0; n_nodes * n_nodes];
        for from in 0..old {
            blocks[from * n_nodes..from * n_nodes + old]
                .copy_from_slice(&self.blocks[from * old..from * old + old]);
        }
        self.blocks = blocks;
        self.n_nodes = n_nodes;
        self.last_delivery = vec![Instant::ZERO; n_nodes * n_nodes];
        self.recompute_loss();
    }

    fn link(&self, from: NodeId, to: NodeId) -> usize {
        assert!((from.0 as usize) < self.n_nodes && (to.0 as usize) < self.n_nodes);
        from.0 as usize * self.n_nodes + to.0 as usize
    }

    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocks[self.link(from, to)] > 0
    }

    /// Blocks (or, with `block = false`, unblocks) the directed link.
    pub fn set_blocked(&mut self, from: NodeId, to: NodeId, block: bool) {
        let link = self.link(from, to);
        if block {
            self.blocks[link] += 1;
        } else {
            assert!(self.blocks[link] > 0, "unblocking a link that is not blocked");
            self.blocks[link] -= 1;
        }
    }

    pub fn add_loss_fault(&mut self, key: u64, nodes: Vec<NodeId>, rate: f64) {
        assert!((0.0..=1.0).contains(&rate), "loss rate {rate} outside 0..=1");
        self.loss_faults.push((key, nodes, rate));
        self.recompute_loss();
    }

    pub fn remove_loss_fault(&mut self, key: u64) {
        let before = self.loss_faults.len();
        self.loss_faults.retain(|(k, _, _)| *k != key);
        assert_eq!(before, self.loss_faults.len() + 1, "loss fault {key} was not active");
        self.recompute_loss();
    }

    fn recompute_loss(&mut self) {
        let n = self.n_nodes;
        self.link_loss = vec![self.config.loss; n * n];
        for (_, nodes, rate) in &self.loss_faults {
            for from in 0..n {
                for to in 0..n {
                    let touches = nodes.is_empty()
                        || nodes
                            .iter()
                            .any(|node| node.0 as usize == from || node.0 as usize == to);
                    if touches {
                        let keep = (1.0 - self.link_loss[from * n + to]) * (1.0 - rate);
                        self.link_loss[from * n + to] = 1.0 - keep;
                    }
                }
            }
        }
    }

    pub fn loss_rate(&self, from: NodeId, to: NodeId) -> f64 {
        self.link_loss[self.link(from, to)]
    }

    /// Decides what happens to a message sent now from `from` to `to`.
    pub fn route(&mut self, now: Instant, from: NodeId, to: NodeId) -> Fate {
        let link = self.link(from, to);
        if self.blocks[link] > 0 || self.rng.chance(self.link_loss[link]) {
            return Fate::Dropped;
        }
        let first = self.delivery_time(now, link);
        let duplicate =
            self.rng.chance(self.config.duplicate).then(|| self.delivery_time(now, link));
        Fate::Deliver(first, duplicate)
    }

    fn delivery_time(&mut self, now: Instant, link: usize) -> Instant {
        let latency = self.rng.duration_between(self.config.latency_min, self.config.latency_max);
        let mut at = now + latency;
        if self.config.ordered {
            // Equal times keep send order: the scheduler breaks ties by insertion.
            at = at.max(self.last_delivery[link]);
            self.last_delivery[link] = at;
        }
        at
    }

    /// The groups of nodes that can all reach each other (strongly connected components
    /// of the unblocked links), each sorted, in order of their smallest node.
    pub fn components(&self) -> Vec<Vec<NodeId>> {
        let n = self.n_nodes as u32;
        let mut graph = DiGraphMap::<u32, ()>::with_capacity(n as usize, (n * n) as usize);
        for node in 0..n {
            graph.add_node(node);
        }
        for from in 0..n {
            for to in 0..n {
                if from != to && !self.is_blocked(NodeId(from), NodeId(to)) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        let mut groups: Vec<Vec<NodeId>> = tarjan_scc(&graph)
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c.into_iter().map(NodeId).collect()
            })
            .collect();
        groups.sort();
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(config: NetConfig, n: usize) -> Network {
        let mut net = Network::new(config, SimRng::stream(1, "network"));
        net.resize(n);
        net
    }

    #[test]
    fn ordered_links_never_reorder() {
        let config = NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(50),
            ..NetConfig::default()
        };
        let mut net = net(config, 2);
        let mut last = Instant::ZERO;
        for step in 0..1000u64 {
            let now = Instant::from_nanos(step * 100_000);
            let Fate::Deliver(at, None) = net.route(now, NodeId(0), NodeId(1)) else {
                panic!("no loss or duplication configured");
            };
            assert!(at >= last, "delivery {at} before earlier delivery {last}");
            last = at;
        }
    }

    #[test]
    fn unordered_links_do_reorder() {
        let config = NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(50),
            ordered: false,
            ..NetConfig::default()
        };
        let mut net = net(config, 2);
        let times: Vec<Instant> = (0..100u64)
            .map(|step| {
                match net.route(Instant::from_nanos(step * 100_000), NodeId(0), NodeId(1)) {
                    Fate::Deliver(at, _) => at,
                    Fate::Dropped => panic!("no loss configured"),
                }
            })
            .collect();
        assert!(times.windows(2).any(|w| w[1] < w[0]), "no message overtook another");
    }

    #[test]
    fn loss_and_duplication_rates_hold() {
        let config = NetConfig { loss: 0.1, duplicate: 0.05, ..NetConfig::default() };
        let mut net = net(config, 2);
        let (mut dropped, mut duplicated) = (0, 0);
        for _ in 0..100_000 {
            match net.route(Instant::ZERO, NodeId(0), NodeId(1)) {
                Fate::Dropped => dropped += 1,
                Fate::Deliver(_, Some(_)) => duplicated += 1,
                Fate::Deliver(_, None) => {}
            }
        }
        assert!((9_500..10_500).contains(&dropped), "{dropped} dropped of 100000 at 10%");
        // Duplication applies to the 90% delivered.
        assert!((4_100..4_900).contains(&duplicated), "{duplicated} duplicated at 5%");
    }

    #[test]
    fn loss_faults_combine_with_base_loss() {
        let mut net = net(NetConfig { loss: 0.5, ..NetConfig::default() }, 3);
        net.add_loss_fault(7, vec![NodeId(2)], 0.5);
        assert_eq!(net.loss_rate(NodeId(0), NodeId(1)), 0.5);
        assert_eq!(net.loss_rate(NodeId(0), NodeId(2)), 0.75);
        assert_eq!(net.loss_rate(NodeId(2), NodeId(1)), 0.75);
        net.remove_loss_fault(7);
        assert_eq!(net.loss_rate(NodeId(2), NodeId(1)), 0.5);
    }

    #[test]
    fn blocked_links_drop_and_components_follow() {
        let mut net = net(NetConfig::default(), 3);
        assert_eq!(net.components(), vec![vec![NodeId(0), NodeId(1), NodeId(2)]]);
        for other in [1, 2] {
            net.set_blocked(NodeId(0), NodeId(other), true);
            net.set_blocked(NodeId(other), NodeId(0), true);
        }
        assert_eq!(net.route(Instant::ZERO, NodeId(0), NodeId(1)), Fate::Dropped);
        assert_eq!(net.components(), vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]);
        // One way only: 1 -> 0 works again, 0 -> 1 does not; 0 is still its own component.
        net.set_blocked(NodeId(1), NodeId(0), false);
        assert!(net.is_blocked(NodeId(0), NodeId(1)));
        assert!(!net.is_blocked(NodeId(1), NodeId(0)));
        assert_eq!(net.components().len(), 2);
    }
}
