//! Echo: one server and C clients, each client doing R sequential request/response round
//! trips with the server, on the simulation kernel alone.
//!
//! It shows the kernel is generic (nothing here comes from the Kafka side of the crate) and
//! it is the kernel's throughput benchmark: the handlers are as small as a real protocol
//! allows, so the time goes to the kernel. `benches/kernel.rs` includes this file for its
//! echo workload.
//!
//! ```text
//! cargo run --release --example echo -- --clients 16 --round-trips 20000 --seed 1
//! messages=640000 sim_time_ms=... wall_ms=... msgs_per_sec=...
//! ```

use kafsim::sim::{Context, Duration, NetConfig, Node, NodeId, Sim, SimConfig};

/// The server is the first node added; clients follow.
pub const SERVER: NodeId = NodeId(0);

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Msg {
    /// A client's request for its round `0..round_trips`.
    Request(u64),
    /// The server's reply, echoing the request's round.
    Reply(u64),
}

#[derive(Debug)]
pub enum Echo {
    Server {
        /// Requests received (and answered).
        requests: u64,
    },
    Client {
        /// Round trips completed; also the round of the request in flight.
        round: u64,
        round_trips: u64,
    },
}

impl Node for Echo {
    type Msg = Msg;
    type Timer = ();
    type Entry = ();
    type Obs = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if let Echo::Client { round: 0, round_trips: 1.. } = self {
            ctx.send(SERVER, Msg::Request(0));
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Echo::Server { requests }, Msg::Request(round)) => {
                *requests += 1;
                ctx.send(from, Msg::Reply(round));
            }
            (Echo::Client { round, round_trips }, Msg::Reply(echoed)) => {
                assert_eq!(from, SERVER, "reply from a node that is not the server");
                assert_eq!(echoed, *round, "reply does not echo the request in flight");
                *round += 1;
                if *round < *round_trips {
                    ctx.send(SERVER, Msg::Request(*round));
                }
            }
            (node, msg) => panic!("{node:?} cannot handle {msg:?} from {from:?}"),
        }
    }

    fn on_timer(&mut self, _ctx: &mut Context<'_, Self>, _timer: ()) {
        unreachable!("echo sets no timers");
    }
}

/// A run ready to go: the server and `clients` clients, every message's latency uniform in
/// [1ms, 5ms], no loss, no duplication, FIFO links.
pub fn build(clients: u32, round_trips: u64, seed: u64) -> Sim<Echo> {
    let mut config = SimConfig::new(seed);
    config.net = NetConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(5),
        loss: 0.0,
        duplicate: 0.0,
        ordered: true,
    };
    // No periodic writeback event: the queue empties when the last reply lands.
    config.writeback_age = None;
    let mut sim = Sim::new(config, move |id| {
        if id == SERVER {
            Echo::Server { requests: 0 }
        } else {
            Echo::Client { round: 0, round_trips }
        }
    });
    assert_eq!(sim.add_node("server"), SERVER);
    for client in 0..clients {
        sim.add_node(&format!("client{client}"));
    }
    sim
}

/// Steps until no event is left; returns the number of messages delivered.
pub fn run_to_end(sim: &mut Sim<Echo>) -> u64 {
    while sim.step() {}
    sim.node_ids()
        .map(|id| match sim.node(id).expect("no node crashes in echo") {
            Echo::Server { requests } => *requests,
            Echo::Client { round, .. } => *round,
        })
        .sum()
}

/// Panics unless every client completed all its round trips.
pub fn assert_complete(sim: &Sim<Echo>, clients: u32, round_trips: u64) {
    for id in sim.node_ids() {
        match sim.node(id).expect("no node crashes in echo") {
            Echo::Server { requests } => {
                assert_eq!(*requests, u64::from(clients) * round_trips, "server request count");
            }
            Echo::Client { round, .. } => {
                assert_eq!(*round, round_trips, "{} stopped early", sim.name(id));
            }
        }
    }
}

struct Args {
    clients: u32,
    round_trips: u64,
    seed: u64,
}

const USAGE: &str = "usage: echo [--clients N] [--round-trips N] [--seed N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args { clients: 16, round_trips: 20_000, seed: 1 };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value =
            inline.or_else(|| argv.next()).ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |err: std::num::ParseIntError| format!("{flag} {value}: {err}");
        match flag.as_str() {
            "--clients" => args.clients = value.parse().map_err(bad)?,
            "--round-trips" => args.round_trips = value.parse().map_err(bad)?,
            "--seed" => args.seed = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|err| {
        eprintln!("echo: {err}\n{USAGE}");
        std::process::exit(2);
    });
    let started = std::time::Instant::now();
    let mut sim = build(args.clients, args.round_trips, args.seed);
    let messages = run_to_end(&mut sim);
    let wall = started.elapsed();
    assert_complete(&sim, args.clients, args.round_trips);
    assert_eq!(messages, 2 * u64::from(args.clients) * args.round_trips);
    let msgs_per_sec = (messages as f64 / wall.as_secs_f64()) as u64;
    println!(
        "messages={messages} sim_time_ms={} wall_ms={} msgs_per_sec={msgs_per_sec}",
        sim.now().as_millis(),
        wall.as_millis(),
    );
}
