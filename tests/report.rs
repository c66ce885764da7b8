//! What reports draw: each partition's leader as the controller had it, and the timeline
//! in the Markdown report and on `run --timeline`.

use kafsim::kafka::protocol::TopicPartition;
use kafsim::runner::leadership::Leader;
use kafsim::runner::run_seed;
use kafsim::scenario;
use kafsim::sim::{Duration, Instant};

/// A controller crash makes every partition's leader unknown until it is back; the
/// brokers keep leading meanwhile, so the leaders known after are the ones before.
#[test]
fn leadership_follows_the_controller() {
    let text = r#"
        name = "controller-crash"
        description = "the controller crashes for a second"
        [run]
        duration = "5s"
        heal = "2s"
        [cluster]
        brokers = 3
        [[topics]]
        name = "events"
        partitions = 2
        replication_factor = 3
        [[producers]]
        name = "p1"
        topic = "events"
        rate = 50
        [[faults]]
        at = "2s"
        kind = "crash"
        nodes = ["controller"]
        for = "1s"
    "#;
    let s = scenario::parse("controller-crash.toml", text).expect("valid");
    let report = run_seed(&s, 1);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    let at = |ms| Instant::ZERO + Duration::from_millis(ms);
    for p in 0..2 {
        let tp = TopicPartition::new("events", p);
        let changes: Vec<_> = report.leadership.iter().filter(|c| c.partition == tp).collect();
        let leaders: Vec<Leader> = changes.iter().map(|c| c.leader).collect();
        let Leader::Broker(first) = leaders[0] else { panic!("{tp}: {leaders:?}") };
        assert_eq!(leaders, [Leader::Broker(first), Leader::Unknown, Leader::Broker(first)]);
        assert!(changes[0].at <= at(100), "{tp} led from the start: {:?}", changes[0]);
        assert!((at(2_000)..=at(2_010)).contains(&changes[1].at), "{:?}", changes[1]);
        assert!((at(3_000)..=at(3_100)).contains(&changes[2].at), "{:?}", changes[2]);
    }
}
