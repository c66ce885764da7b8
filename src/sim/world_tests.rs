//! Kernel tests on a small test protocol: nodes that send numbered messages, set timers,
//! write to disk and record what they saw.

use std::collections::BTreeSet;

use super::*;

#[derive(Clone, Debug, Hash)]
enum TestTimer {
    Tick(u64),
    Cancelled,
}

/// What the test node records: (what happened, the node's clock reading).
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Started { disk_len: usize },
    Got { from: NodeId, value: u64 },
    Fired { tick: u64, local: Instant },
}

/// Sends `n_sends` numbered messages to `target` at start, a tick timer every `tick`,
/// and appends every received value to its disk, fsyncing values that are multiples of 10.
struct TestNode {
    target: Option<NodeId>,
    n_sends: u64,
    tick: Option<Duration>,
}

impl Node for TestNode {
    type Msg = u64;
    type Timer = TestTimer;
    type Entry = u64;
    type Obs = Seen;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let disk_len = ctx.disk().read("log").len();
        ctx.observe(Seen::Started { disk_len });
        if let Some(target) = self.target {
            for value in 0..self.n_sends {
                ctx.send(target, value);
            }
        }
        if let Some(tick) = self.tick {
            ctx.set_timer(tick, TestTimer::Tick(1));
            let doomed = ctx.set_timer(tick, TestTimer::Cancelled);
            ctx.cancel_timer(doomed);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, value: u64) {
        ctx.disk().append("log", value);
        if value.is_multiple_of(10) {
            ctx.disk().fsync("log");
        }
        ctx.observe(Seen::Got { from, value });
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TestTimer) {
        let TestTimer::Tick(tick) = timer else { panic!("a cancelled timer fired") };
        let local = ctx.now();
        ctx.observe(Seen::Fired { tick, local });
        ctx.set_timer(self.tick.expect("ticking node"), TestTimer::Tick(tick + 1));
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn at(ms_: u64) -> Instant {
    Instant::ZERO + ms(ms_)
}

/// Node 0 sends `n_sends` messages to node 1; node 1 ticks every 100ms.
fn two_nodes(config: SimConfig, n_sends: u64) -> Sim<TestNode> {
    let mut sim = Sim::new(config, move |id| match id.0 {
        0 => TestNode { target: Some(NodeId(1)), n_sends, tick: None },
        _ => TestNode { target: None, n_sends: 0, tick: Some(ms(100)) },
    });
    sim.add_node("a");
    sim.add_node("b");
    sim
}

fn received(sim: &Sim<TestNode>) -> Vec<u64> {
    sim.history()
        .iter()
        .filter_map(|o| match o.obs {
            Seen::Got { value, .. } => Some(value),
            _ => None,
        })
        .collect()
}

fn fired(sim: &Sim<TestNode>) -> Vec<(Instant, Instant)> {
    sim.history()
        .iter()
        .filter_map(|o| match o.obs {
            Seen::Fired { local, .. } => Some((o.time, local)),
            _ => None,
        })
        .collect()
}

#[test]
fn ordered_network_delivers_in_send_order() {
    let mut config = SimConfig::new(1);
    config.net.latency_max = ms(50);
    let mut sim = two_nodes(config, 1000);
    sim.run_until(at(1000));
    assert_eq!(received(&sim), (0..1000).collect::<Vec<_>>());
    let times: Vec<Instant> = sim.history().iter().map(|o| o.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "history out of time order");
}

#[test]
fn draining_as_the_run_goes_yields_the_whole_history_in_order() {
    let mut config = SimConfig::new(1);
    config.net.latency_max = ms(50);
    let mut whole = two_nodes(config.clone(), 1000);
    whole.run_until(at(1000));
    let mut drained = two_nodes(config, 1000);
    let mut parts = Vec::new();
    for step_ms in (10..=1000).step_by(10) {
        drained.run_until(at(step_ms));
        parts.extend(drained.drain_history().map(|o| (o.time, o.node, o.obs)));
        assert!(drained.history().is_empty(), "a drain leaves nothing behind");
    }
    let expected: Vec<_> =
        whole.history().iter().map(|o| (o.time, o.node, o.obs.clone())).collect();
    assert!(expected.len() > 1000, "the run observed too little to show anything");
    assert_eq!(parts, expected);
}

#[test]
fn unordered_network_reorders_but_delivers_all() {
    let mut config = SimConfig::new(1);
    config.net.latency_max = ms(50);
    config.net.ordered = false;
    let mut sim = two_nodes(config, 1000);
    sim.run_until(at(1000));
    let mut got = received(&sim);
    assert_ne!(got, (0..1000).collect::<Vec<_>>(), "nothing was reordered");
    got.sort_unstable();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn loss_and_duplication_through_the_kernel() {
    let mut config = SimConfig::new(3);
    config.net.loss = 0.2;
    config.net.duplicate = 0.1;
    let mut sim = two_nodes(config, 20_000);
    sim.run_until(at(1000));
    let got = received(&sim);
    let distinct: BTreeSet<u64> = got.iter().copied().collect();
    let lost = 20_000 - distinct.len();
    let dups = got.len() - distinct.len();
    assert!((3_700..4_300).contains(&lost), "{lost} lost of 20000 at 20%");
    assert!((1_400..1_800).contains(&dups), "{dups} duplicated at 10% of 16000");
}

#[test]
fn timers_fire_on_time_and_cancelled_ones_never() {
    let mut sim = two_nodes(SimConfig::new(1), 0);
    sim.run_until(at(1000));
    let fired = fired(&sim);
    assert_eq!(fired.len(), 10);
    for (idx, (time, local)) in fired.iter().enumerate() {
        assert_eq!(*time, at(100 * (idx as u64 + 1)));
        assert_eq!(time, local, "no skew, so local time is simulated time");
    }
}

#[test]
fn partition_drops_both_ways_and_heals() {
    let mut sim = two_nodes(SimConfig::new(1), 0);
    let groups = vec![vec![NodeId(0)], vec![NodeId(1)]];
    sim.schedule_fault(Fault {
        at: at(10),
        duration: Some(ms(100)),
        kind: FaultKind::Partition { groups },
    });
    sim.run_until(at(50));
    assert!(sim.network().is_blocked(NodeId(0), NodeId(1)));
    assert!(sim.network().is_blocked(NodeId(1), NodeId(0)));
    assert_eq!(sim.network().components().len(), 2);
    sim.run_until(at(200));
    assert!(!sim.network().is_blocked(NodeId(0), NodeId(1)));
    assert_eq!(sim.network().components().len(), 1);
}

#[test]
fn one_way_partition_blocks_one_direction() {
    let mut sim = two_nodes(SimConfig::new(1), 0);
    let kind = FaultKind::PartitionOneWay { from: vec![NodeId(0)], to: vec![NodeId(1)] };
    sim.schedule_fault(Fault { at: Instant::ZERO, duration: None, kind });
    sim.run_until(at(10));
    assert!(sim.network().is_blocked(NodeId(0), NodeId(1)));
    assert!(!sim.network().is_blocked(NodeId(1), NodeId(0)));
    sim.heal_all();
    assert!(!sim.network().is_blocked(NodeId(0), NodeId(1)));
}

#[test]
fn partition_cuts_messages_in_flight() {
    let mut config = SimConfig::new(1);
    config.net.latency_min = ms(10);
    config.net.latency_max = ms(10);
    let mut sim = two_nodes(config, 5);
    // The messages are sent at t=0 and land at t=10; the partition starts at t=5.
    let groups = vec![vec![NodeId(0)], vec![NodeId(1)]];
    sim.schedule_fault(Fault {
        at: at(5),
        duration: Some(ms(10)),
        kind: FaultKind::Partition { groups },
    });
    sim.run_until(at(100));
    assert!(received(&sim).is_empty());
}

/// Node 1 receives 0..25 (fsyncing at 0, 10, 20), then crashes at `crash_at`.
fn crash_run(lose_unflushed: bool) -> Sim<TestNode> {
    let mut config = SimConfig::new(1);
    config.writeback_age = None;
    let mut sim = two_nodes(config, 25);
    let kind = FaultKind::Crash { nodes: vec![NodeId(1)], lose_unflushed };
    sim.schedule_fault(Fault { at: at(50), duration: Some(ms(250)), kind });
    sim.run_until(at(1000));
    sim
}

fn starts(sim: &Sim<TestNode>, node: NodeId) -> Vec<usize> {
    sim.history()
        .iter()
        .filter(|o| o.node == node)
        .filter_map(|o| match o.obs {
            Seen::Started { disk_len } => Some(disk_len),
            _ => None,
        })
        .collect()
}

#[test]
fn process_crash_keeps_page_cache_and_restarts_from_disk() {
    let sim = crash_run(false);
    assert_eq!(starts(&sim, NodeId(1)), [0, 25]);
    // Timers died with the process: the restarted node ticks again from its restart.
    let ticks: Vec<Instant> = fired(&sim).into_iter().map(|(t, _)| t).collect();
    assert!(!ticks.iter().any(|t| (at(50)..at(400)).contains(t)), "timer of a dead process fired");
    assert!(ticks.contains(&at(400)));
}

#[test]
fn power_loss_drops_unflushed_writes() {
    let sim = crash_run(true);
    // 0..=20 were fsynced at 20; 21..24 were only in the page cache.
    assert_eq!(starts(&sim, NodeId(1)), [0, 21]);
    assert_eq!(sim.disk(NodeId(1)).read("log"), (0..21).collect::<Vec<u64>>());
}

#[test]
fn writeback_makes_old_writes_durable() {
    let mut sim = two_nodes(SimConfig::new(1), 25);
    let kind = FaultKind::Crash { nodes: vec![NodeId(1)], lose_unflushed: true };
    sim.schedule_fault(Fault { at: at(40_000), duration: Some(ms(1)), kind });
    sim.run_until(at(41_000));
    assert_eq!(starts(&sim, NodeId(1)), [0, 25], "30s writeback should have flushed all");
}

#[test]
fn messages_to_a_crashed_node_are_dropped() {
    let mut sim = two_nodes(SimConfig::new(1), 5);
    let kind = FaultKind::Crash { nodes: vec![NodeId(1)], lose_unflushed: false };
    sim.schedule_fault(Fault { at: Instant::ZERO, duration: None, kind });
    sim.run_until(at(100));
    assert!(received(&sim).is_empty());
    assert!(sim.node(NodeId(1)).is_none());
}

/// A deferred fault is resolved from the state at its time: here it crashes whichever node
/// received message 3 by then, and one due after the heal never resolves.
#[test]
fn deferred_fault_resolves_from_the_state_when_due() {
    let mut sim = two_nodes(SimConfig::new(1), 5);
    let crash_the_receiver: Deferred<TestNode> = Box::new(|sim: &Sim<TestNode>| {
        let node =
            sim.history().iter().find(|o| o.obs == Seen::Got { from: NodeId(0), value: 3 })?.node;
        let kind = FaultKind::Crash { nodes: vec![node], lose_unflushed: false };
        Some(Fault { at: Instant::ZERO, duration: Some(ms(100)), kind })
    });
    let never: Deferred<TestNode> = Box::new(|_: &Sim<TestNode>| panic!("resolved after heal"));
    let nothing: Deferred<TestNode> = Box::new(|_: &Sim<TestNode>| None);
    sim.schedule_deferred(at(50), crash_the_receiver);
    sim.schedule_deferred(at(60), nothing);
    sim.schedule_deferred(at(500), never);
    sim.run_until(at(120));
    assert!(sim.node(NodeId(1)).is_none(), "the receiver is down");
    let started: Vec<&Fault> = sim.faults().collect();
    assert_eq!(started.len(), 1, "nothing to hit: no fault");
    assert_eq!(started[0].at, at(50), "starts when resolved");
    sim.run_until(at(200));
    assert_eq!(starts(&sim, NodeId(1)), [0, 5], "restarted after its 100 ms");
    sim.heal_all();
    sim.run_until(at(1000));
}

#[test]
fn pause_holds_messages_and_timers_until_resume() {
    let mut sim = two_nodes(SimConfig::new(1), 3);
    let kind = FaultKind::Pause { nodes: vec![NodeId(1)] };
    sim.schedule_fault(Fault { at: Instant::ZERO, duration: Some(ms(450)), kind });
    sim.run_until(at(1000));
    let got: Vec<(Instant, u64)> = sim
        .history()
        .iter()
        .filter_map(|o| match o.obs {
            Seen::Got { value, .. } => Some((o.time, value)),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(at(450), 0), (at(450), 1), (at(450), 2)]);
    // The node started at t=0, just before the pause: its tick due at t=100 fires late,
    // at the resume, and the next one 100ms after that.
    let ticks: Vec<Instant> = fired(&sim).into_iter().map(|(t, _)| t).take(2).collect();
    assert_eq!(ticks, [at(450), at(550)]);
}

#[test]
fn clock_skew_shifts_readings_and_drift_scales_timers() {
    let mut sim = two_nodes(SimConfig::new(1), 0);
    let kind = FaultKind::ClockSkew {
        nodes: vec![NodeId(1)],
        offset_ns: 5_000_000_000,
        drift_ppm: 100_000,
    };
    sim.schedule_fault(Fault { at: at(150), duration: None, kind });
    sim.run_until(at(1000));
    let fired = fired(&sim);
    // Before the skew: on time. The timer set at t=100 fires at t=200 with +5s offset
    // and 10% drift over 50ms.
    assert_eq!(fired[0], (at(100), at(100)));
    assert_eq!(fired[1], (at(200), at(5_205)));
    // Timers set after the skew run 10% fast: 100ms local is ~90.9ms simulated.
    let gap = fired[2].0 - fired[1].0;
    assert_eq!(gap, Duration::from_nanos(90_909_090));
    sim.heal_all();
    assert_eq!(sim.clock_of(NodeId(1)), sim.clock_of(NodeId(1)));
}

#[test]
fn same_seed_same_hash_other_seed_other_hash() {
    let run = |seed| {
        let mut config = SimConfig::new(seed);
        config.net.loss = 0.05;
        let mut sim = two_nodes(config, 500);
        sim.run_until(at(2000));
        (sim.trace().hash(), sim.trace().n_events())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

#[test]
fn recorded_trace_matches_hash_only_run() {
    let run = |record| {
        let mut config = SimConfig::new(5);
        config.record_trace = record;
        let mut sim = two_nodes(config, 50);
        sim.run_until(at(500));
        (sim.trace().hash(), sim.trace().records().len() as u64, sim.trace().n_events())
    };
    let (hash_plain, _, n_events) = run(false);
    let (hash_recorded, n_records, _) = run(true);
    assert_eq!(hash_plain, hash_recorded);
    assert_eq!(n_records, n_events);
}
