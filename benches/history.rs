//! Benchmarks of the history checkers on a history of one million operations (issue 5:
//! checked in under 10 s in release): checking a history in memory, and reading it from
//! JSON lines then checking it, as `kafsim check-history` does.
//!
//! ```text
//! cargo bench --bench history
//! ```

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use kafsim::check::history::check_ended;
use kafsim::history::{Call, History, Op, Outcome, PartitionRead, parse, to_jsonl};

fn main() {
    divan::main();
}

const PRODUCERS: u64 = 8;
const PARTITIONS: u32 = 10;
/// Sends per producer, in batches invoked together.
const SENDS_PER_PRODUCER: u64 = 112_500;
const BATCH: u64 = 10;
/// Records per poll: 900 000 sends read in 100 000 polls.
const POLL_RECORDS: usize = 9;

/// 900 000 acknowledged sends (8 producers, 10 partitions, batches of 10) and 100 000 polls
/// reading every partition in order: one million operations, all clean, so every checker
/// runs its full course without stopping at a finding.
fn million_ops() -> History {
    let mut history = History::default();
    let mut logs: Vec<Vec<(u64, u64)>> = vec![Vec::new(); PARTITIONS as usize];
    let mut value = 0;
    for batch in 0..SENDS_PER_PRODUCER / BATCH {
        for p in 0..PRODUCERS {
            let partition = ((batch * PRODUCERS + p) % u64::from(PARTITIONS)) as u32;
            let invoke_ns = batch * 1_000_000 + p;
            for _ in 0..BATCH {
                let log = &mut logs[partition as usize];
                let offset = log.len() as u64;
                log.push((offset, value));
                history.ops.push(Op {
                    process: format!("p{p}").into(),
                    outcome: Outcome::Ok,
                    invoke_ns,
                    complete_ns: invoke_ns + 500_000,
                    call: Call::Send {
                        topic: "events".into(),
                        partition,
                        key: 0,
                        value,
                        offset: Some(offset),
                        leader: Some("b1".into()),
                        epoch: Some(1),
                    },
                });
                value += 1;
            }
        }
    }
    let end_ns = history.ops.last().map_or(0, |o| o.complete_ns) + 1;
    for (partition, log) in logs.iter().enumerate() {
        for (i, records) in log.chunks(POLL_RECORDS).enumerate() {
            let at_ns = end_ns + i as u64;
            history.ops.push(Op {
                process: format!("c{partition}").into(),
                outcome: Outcome::Ok,
                invoke_ns: at_ns,
                complete_ns: at_ns,
                call: Call::Poll {
                    reads: vec![PartitionRead {
                        topic: "events".into(),
                        partition: partition as u32,
                        records: records.to_vec(),
                    }],
                },
            });
        }
    }
    assert_eq!(history.ops.len(), 1_000_000);
    history
}

#[divan::bench(sample_count = 3)]
fn check_one_million_operations(bencher: Bencher) {
    bencher.counter(ItemsCount::new(1_000_000u64)).with_inputs(million_ops).bench_local_refs(
        |history| {
            let anomalies = check_ended(history);
            assert!(anomalies.is_empty(), "{anomalies:?}");
        },
    );
}

#[divan::bench(sample_count = 3)]
fn parse_and_check_one_million_operations(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(1_000_000u64))
        .with_inputs(|| to_jsonl(&million_ops()))
        .bench_local_refs(|text| {
            let history = parse(black_box(text)).expect("a valid history");
            assert!(check_ended(&history).is_empty());
        });
}
