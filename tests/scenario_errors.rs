//! Scenario files: a valid file parses to the expected values, and every kind of mistake
//! is reported at its exact line and column with a help line (snapshots of the full
//! report in tests/snapshots/).

use std::path::Path;

use kafsim::kafka::protocol::Assignor;
use kafsim::scenario::{
    self, Acks, AutoOffsetReset, BrokerSpec, ClusterSpec, CommitMode, ConsumerMode, ConsumerSpec,
    Expect, FaultSpec, FaultSpecKind, HighWatermarkIsr, IsrExpansion, NemesisKind, NemesisRole,
    NemesisSpec, NetworkSpec, Outcome, ProducerSpec, ProtocolSpec, RunSpec, Scenario,
    ScenarioError, TopicSpec, Truncation,
};
use kafsim::sim::time::Duration;

/// A minimal valid scenario of exactly 10 lines; tests append to it from line 11 on.
const BASE: &str = r#"name = "t"
description = "A scenario for error tests."
[run]
duration = "30s"
[cluster]
brokers = 3
[[topics]]
name = "events"
partitions = 3
replication_factor = 3
"#;

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// Parses `text`, which must be refused at `line`:`col` with `message`.
fn refused(text: &str, line: usize, col: usize, message: &str) -> ScenarioError {
    let err = match scenario::parse("scenario.toml", text) {
        Ok(s) => panic!("expected an error, parsed {s:#?}"),
        Err(err) => err,
    };
    assert_eq!(err.line_col(), Some((line, col)), "{}", err.render());
    assert_eq!(err.message(), message, "{}", err.render());
    assert_eq!(err.to_string(), format!("scenario.toml:{line}:{col}: {message}"));
    assert!(!err.help_text().is_empty(), "no help in {}", err.render());
    err
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn base_is_valid_and_ten_lines() {
    assert_eq!(BASE.lines().count(), 10);
    let s = scenario::parse("scenario.toml", BASE).unwrap();
    // Defaults of every optional table.
    assert_eq!(
        s.run,
        RunSpec { duration: ms(30_000), heal: ms(20_000), liveness: ms(20_000), seed: 1 }
    );
    assert_eq!(
        s.network,
        NetworkSpec {
            latency_min: ms(1),
            latency_max: ms(5),
            loss: 0.0,
            duplicate: 0.0,
            ordered: true
        }
    );
    assert_eq!(s.broker, BrokerSpec::kafka_defaults());
    assert_eq!(s.protocol, ProtocolSpec::modern());
    assert_eq!(s.expect, Expect { outcome: Outcome::Pass, violations: vec![], allowed: vec![] });
    assert_eq!((s.producers.len(), s.consumers.len(), s.faults.len()), (0, 0, 0));
    assert_eq!(s.nemesis, None);
}

#[test]
fn full_scenario() {
    let text = r#"
name = "acks-all-survives-leader-crash"
description = "A leader crash with acks=all loses no acknowledged record."

[run]
duration = "30s"
heal = "20s"
seed = 7

[cluster]
brokers = 3

[broker]
"min.insync.replicas" = 2
"unclean.leader.election.enable" = true
"replica.lag.time.max.ms" = 10000
"replica.fetch.wait.max.ms" = 250
"replica.high.watermark.checkpoint.interval.ms" = 1000
"log.flush.interval.messages" = 100
"log.flush.interval.ms" = 50
"retention.ms" = -1
"retention.bytes" = 1048576
"broker.session.timeout.ms" = 6000
"broker.heartbeat.interval.ms" = 1500
"request.timeout.ms" = 20000
"log.retention.check.interval.ms" = 10000
"offsets.topic.num.partitions" = 5
"offsets.topic.replication.factor" = 2
"offsets.commit.timeout.ms" = 2000
"group.initial.rebalance.delay.ms" = 0

[protocol]
truncation = "high-watermark"
eligible_leader_replicas = false
strict_min_isr = false
high_watermark_isr = "proposed"
isr_expansion = "high-watermark"
offset_commit_generation_check = false
consumer_truncation_detection = false
producer_state_rebuild = false

[network]
latency = "1ms..5ms"
loss = 0.0
duplicate = 0.01
ordered = false

[[topics]]
name = "events"
partitions = 3
replication_factor = 3

[[producers]]
name = "p1"
topic = "events"
acks = "all"
idempotent = true
rate = 200
keys = 0
"linger.ms" = 0
"batch.size" = 1000
"max.in.flight.requests.per.connection" = 1
"retries" = 10
"retry.backoff.ms" = 50
"retry.backoff.max.ms" = 500
"request.timeout.ms" = 10000
"delivery.timeout.ms" = 20000

[[producers]]
name = "p2"
topic = "events"
acks = 1
idempotent = false
rate = 10
"max.in.flight.requests.per.connection" = 10

[[producers]]
name = "p3"
topic = "events"
acks = "0"
rate = 10

[[consumers]]
name = "c1"
topics = ["events"]
"max.poll.records" = 20
processing = "0ms"

[[consumers]]
name = "reader"
group = "g1"
members = 2
topics = ["events"]
mode = "subscribe"
commit = "after-process"
auto_offset_reset = "earliest"
processing = "25ms"
"session.timeout.ms" = 10000
"heartbeat.interval.ms" = 1000
"max.poll.interval.ms" = 60000
"partition.assignment.strategy" = "roundrobin"
"max.poll.records" = 50

[[consumers]]
name = "auditor"
group = "g2"
topics = ["events"]
mode = "assign"
commit = "auto"
auto_offset_reset = "none"
"auto.commit.interval.ms" = 1000
"partition.assignment.strategy" = "org.apache.kafka.clients.consumer.RangeAssignor"

[[faults]]
at = "5s"
kind = "partition"
groups = [["b1"], ["b2", "b3", "controller"]]
for = "4s"

[[faults]]
at = "12s"
kind = "crash"
nodes = ["b2"]
lose_unflushed = true
for = "3s"

[[faults]]
at = "13s"
kind = "power-loss"
nodes = ["b3"]

[[faults]]
at = "14.5s"
kind = "partition-oneway"
from = ["b1"]
to = ["b2", "c1"]

[[faults]]
at = "15s"
kind = "pause"
nodes = ["controller"]
for = "500ms"

[[faults]]
at = "16s"
kind = "clock-skew"
nodes = ["b1", "p1", "reader2"]
offset = "-2s"
drift_ppm = -300

[[faults]]
at = "17s"
kind = "loss"
rate = 0.5
for = "1m"

[nemesis]
kinds = ["partition", "crash", "pause", "clock-skew", "power-loss", "loss", "partition-oneway"]
interval = "1s..5s"
duration = "2s"
targets = ["b1", "b2", "reader1"]

[expect]
outcome = "violation"
violations = ["lost-write"]
"#;
    let s = scenario::parse("full.toml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let names = |ns: &[&str]| ns.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    // Every field written out, so that a field added to the model breaks this test.
    let reader = |name: &str| ConsumerSpec {
        name: name.into(),
        topics: names(&["events"]),
        group: Some("g1".into()),
        mode: ConsumerMode::Subscribe,
        commit: CommitMode::AfterProcess,
        auto_commit_interval_ms: 5_000,
        auto_offset_reset: AutoOffsetReset::Earliest,
        session_timeout_ms: 10_000,
        heartbeat_interval_ms: 1_000,
        max_poll_interval_ms: 60_000,
        assignor: Assignor::RoundRobin,
        max_poll_records: 50,
        processing_ms: 25,
    };
    let expected = Scenario {
        name: "acks-all-survives-leader-crash".into(),
        description: "A leader crash with acks=all loses no acknowledged record.".into(),
        run: RunSpec { duration: ms(30_000), heal: ms(20_000), liveness: ms(20_000), seed: 7 },
        cluster: ClusterSpec { brokers: 3 },
        broker: BrokerSpec {
            min_insync_replicas: 2,
            unclean_leader_election_enable: true,
            replica_lag_time_max_ms: 10_000,
            replica_fetch_wait_max_ms: 250,
            replica_high_watermark_checkpoint_interval_ms: 1_000,
            log_flush_interval_messages: Some(100),
            log_flush_interval_ms: Some(50),
            retention_ms: None,
            retention_bytes: Some(1_048_576),
            broker_session_timeout_ms: 6_000,
            broker_heartbeat_interval_ms: 1_500,
            request_timeout_ms: 20_000,
            log_retention_check_interval_ms: 10_000,
            offsets_topic_num_partitions: 5,
            offsets_topic_replication_factor: 2,
            offsets_commit_timeout_ms: 2_000,
            group_initial_rebalance_delay_ms: 0,
        },
        protocol: ProtocolSpec {
            truncation: Truncation::HighWatermark,
            eligible_leader_replicas: false,
            strict_min_isr: false,
            high_watermark_isr: HighWatermarkIsr::Proposed,
            isr_expansion: IsrExpansion::HighWatermarkOnly,
            offset_commit_generation_check: false,
            consumer_truncation_detection: false,
            producer_state_rebuild: false,
        },
        network: NetworkSpec {
            latency_min: ms(1),
            latency_max: ms(5),
            loss: 0.0,
            duplicate: 0.01,
            ordered: false,
        },
        topics: vec![TopicSpec { name: "events".into(), partitions: 3, replication_factor: 3 }],
        producers: vec![
            ProducerSpec {
                name: "p1".into(),
                topic: "events".into(),
                acks: Acks::All,
                rate: 200,
                keys: 0,
                idempotent: true,
                linger_ms: 0,
                batch_size: 1000,
                max_in_flight: 1,
                retries: 10,
                retry_backoff_ms: 50,
                retry_backoff_max_ms: 500,
                request_timeout_ms: 10_000,
                delivery_timeout_ms: 20_000,
            },
            ProducerSpec {
                acks: Acks::Leader,
                idempotent: false,
                max_in_flight: 10,
                ..ProducerSpec::kafka_defaults("p2", "events", 10, 8)
            },
            ProducerSpec {
                acks: Acks::None,
                idempotent: false,
                ..ProducerSpec::kafka_defaults("p3", "events", 10, 8)
            },
        ],
        consumers: vec![
            ConsumerSpec {
                max_poll_records: 20,
                processing_ms: 0,
                ..ConsumerSpec::groupless("c1", &["events"])
            },
            reader("reader1"),
            reader("reader2"),
            ConsumerSpec {
                name: "auditor".into(),
                topics: names(&["events"]),
                group: Some("g2".into()),
                mode: ConsumerMode::Assign,
                commit: CommitMode::Auto,
                auto_commit_interval_ms: 1_000,
                auto_offset_reset: AutoOffsetReset::None,
                session_timeout_ms: 45_000,
                heartbeat_interval_ms: 3_000,
                max_poll_interval_ms: 300_000,
                assignor: Assignor::Range,
                max_poll_records: 500,
                processing_ms: 10,
            },
        ],
        faults: vec![
            FaultSpec {
                at: ms(5_000),
                duration: Some(ms(4_000)),
                kind: FaultSpecKind::Partition {
                    groups: vec![names(&["b1"]), names(&["b2", "b3", "controller"])],
                },
            },
            FaultSpec {
                at: ms(12_000),
                duration: Some(ms(3_000)),
                kind: FaultSpecKind::Crash { nodes: names(&["b2"]), lose_unflushed: true },
            },
            FaultSpec {
                at: ms(13_000),
                duration: None,
                kind: FaultSpecKind::Crash { nodes: names(&["b3"]), lose_unflushed: true },
            },
            FaultSpec {
                at: ms(14_500),
                duration: None,
                kind: FaultSpecKind::PartitionOneWay {
                    from: names(&["b1"]),
                    to: names(&["b2", "c1"]),
                },
            },
            FaultSpec {
                at: ms(15_000),
                duration: Some(ms(500)),
                kind: FaultSpecKind::Pause { nodes: names(&["controller"]) },
            },
            FaultSpec {
                at: ms(16_000),
                duration: None,
                kind: FaultSpecKind::ClockSkew {
                    nodes: names(&["b1", "p1", "reader2"]),
                    offset_ns: -2_000_000_000,
                    drift_ppm: -300,
                },
            },
            FaultSpec {
                at: ms(17_000),
                duration: Some(ms(60_000)),
                kind: FaultSpecKind::Loss { nodes: vec![], rate: 0.5 },
            },
        ],
        nemesis: Some(NemesisSpec {
            kinds: vec![
                NemesisKind::Partition,
                NemesisKind::Crash,
                NemesisKind::Pause,
                NemesisKind::ClockSkew,
                NemesisKind::PowerLoss,
                NemesisKind::Loss,
                NemesisKind::PartitionOneWay,
            ],
            interval_min: ms(1_000),
            interval_max: ms(5_000),
            fault_duration_min: ms(2_000),
            fault_duration_max: ms(2_000),
            targets: names(&["b1", "b2", "reader1"]),
            roles: vec![],
            concurrency: 1,
        }),
        expect: Expect {
            outcome: Outcome::Violation,
            violations: names(&["lost-write"]),
            allowed: vec![],
        },
    };
    assert_eq!(s, expected);
}

#[test]
fn nemesis_defaults_target_every_broker() {
    let s = scenario::parse("scenario.toml", &with("[nemesis]\nkinds = [\"crash\"]\n")).unwrap();
    let nemesis = s.nemesis.unwrap();
    assert_eq!(nemesis.targets, ["b1", "b2", "b3"]);
    assert_eq!((nemesis.interval_min, nemesis.interval_max), (ms(1_000), ms(5_000)));
    assert_eq!((nemesis.fault_duration_min, nemesis.fault_duration_max), (ms(1_000), ms(4_000)));
}

/// Roles replace the default targets; with `targets` too, a fault picks among both.
#[test]
fn nemesis_roles_and_concurrency() {
    let nemesis = |extra: &str| {
        let text = with(&format!("[nemesis]\nkinds = [\"crash\"]\n{extra}"));
        scenario::parse("scenario.toml", &text).unwrap().nemesis.unwrap()
    };
    let n = nemesis("roles = [\"leader\", \"follower\"]\nconcurrency = 3\n");
    assert_eq!(n.roles, [NemesisRole::Leader, NemesisRole::Follower]);
    assert_eq!(n.targets, Vec::<String>::new());
    assert_eq!(n.concurrency, 3);
    let n = nemesis("roles = [\"follower\"]\ntargets = [\"controller\"]\n");
    assert_eq!((n.roles, n.targets), (vec![NemesisRole::Follower], vec!["controller".to_string()]));
    assert_eq!(nemesis("").concurrency, 1);
    assert_eq!(nemesis("").roles, []);
}

#[test]
fn unknown_nemesis_role() {
    let text = with("[nemesis]\nkinds = [\"crash\"]\nroles = [\"leader\", \"folower\"]\n");
    let err = refused(&text, 13, 20, "unknown role value `folower`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn nemesis_role_listed_twice() {
    let text = with("[nemesis]\nkinds = [\"crash\"]\nroles = [\"leader\", \"leader\"]\n");
    refused(&text, 13, 20, "`leader` is listed twice");
}

#[test]
fn empty_nemesis_roles() {
    let text = with("[nemesis]\nkinds = [\"crash\"]\nroles = []\n");
    refused(&text, 13, 9, "`roles` is empty");
}

/// A follower exists only where a topic has two replicas or more.
#[test]
fn follower_role_without_followers() {
    let text = with("[nemesis]\nkinds = [\"crash\"]\nroles = [\"follower\"]\n")
        .replace("replication_factor = 3", "replication_factor = 1");
    let err = refused(&text, 13, 10, "no partition has a follower");
    insta::assert_snapshot!(err.render());
}

#[test]
fn nemesis_concurrency_out_of_range() {
    let text = |n: i64| with(&format!("[nemesis]\nkinds = [\"crash\"]\nconcurrency = {n}\n"));
    let err = refused(&text(0), 13, 15, "`concurrency` is out of range (0)");
    insta::assert_snapshot!(err.render());
    refused(&text(9), 13, 15, "`concurrency` is out of range (9)");
    refused(&text(-1), 13, 15, "`concurrency` cannot be negative (-1)");
}

#[test]
fn acks_spellings() {
    let acks = |value: &str| {
        let text = with(&format!(
            "[[producers]]\nname = \"p1\"\ntopic = \"events\"\nacks = {value}\nrate = 1\n"
        ));
        scenario::parse("scenario.toml", &text).map(|s| s.producers[0].acks)
    };
    assert_eq!(acks("\"1\"").unwrap(), Acks::Leader);
    assert_eq!(acks("1").unwrap(), Acks::Leader);
    assert_eq!(acks("\"all\"").unwrap(), Acks::All);
    assert_eq!(acks("\"-1\"").unwrap(), Acks::All);
    assert_eq!(acks("-1").unwrap(), Acks::All);
    assert_eq!(acks("\"0\"").unwrap(), Acks::None);
    assert_eq!(acks("0").unwrap(), Acks::None);
    let two = acks("\"2\"").unwrap_err();
    assert_eq!(two.to_string(), "scenario.toml:14:8: unknown acks `2`");
    insta::assert_snapshot!(two.render());
}

#[test]
fn syntax_error() {
    let err =
        refused(&with("[[faults]\nat = \"1s\"\n"), 11, 10, "unclosed array table, expected `]`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unquoted_string() {
    let text = BASE.replace("name = \"events\"", "name = events");
    let err = refused(&text, 8, 8, "string values must be quoted");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_key_at_top_level() {
    // `seed` belongs in [run]; keys before the first table header are top-level.
    let err = refused(&format!("seed = 7\n{BASE}"), 1, 1, "unknown key `seed` at the top level");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_key_in_a_table() {
    let text = BASE.replace("duration = \"30s\"", "duration = \"30s\"\nheel = \"20s\"");
    let err = refused(&text, 5, 1, "unknown key `heel` in [run]");
    assert!(err.help_text().starts_with("did you mean `heal`?"), "{}", err.help_text());
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_key_in_an_array_of_tables() {
    // `for` is misspelt; the key list is that of [[faults]].
    let fault = "[[faults]]\nat = \"5s\"\nkind = \"pause\"\nnodes = [\"b1\"]\nfro = \"1s\"\n";
    let err = refused(&with(fault), 15, 1, "unknown key `fro` in [[faults]]");
    assert!(err.help_text().starts_with("did you mean `for`?"), "{}", err.help_text());
}

#[test]
fn missing_key() {
    let text = BASE.replace("duration = \"30s\"\n", "");
    let err = refused(&text, 3, 1, "missing key `duration`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn wrong_type() {
    let text = BASE.replace("brokers = 3", "brokers = \"3\"");
    let err = refused(&text, 6, 11, "wrong type: expected an integer, found string \"3\"");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_node_in_a_fault() {
    let fault =
        "[[faults]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"b1\"], [\"b2\", \"b9\"]]\n";
    let err = refused(&with(fault), 14, 26, "unknown node `b9` in a partition fault");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_node_in_a_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/invalid/unknown-node.toml");
    let err = scenario::load(&path).unwrap_err();
    assert_eq!(err.line_col(), Some((21, 10)));
    assert_eq!(err.message(), "unknown node `b9` in a crash fault");
    assert_eq!(
        err.help_text(),
        "the cluster has 3 brokers, b1..b3; the nodes are: b1, b2, b3, controller"
    );
    assert!(
        err.to_string().ends_with("unknown-node.toml:21:10: unknown node `b9` in a crash fault")
    );
}

#[test]
fn missing_file() {
    let err = scenario::load(Path::new("scenarios/no-such-file.toml")).unwrap_err();
    assert_eq!(err.line_col(), None);
    assert!(
        err.to_string().starts_with("scenarios/no-such-file.toml: cannot read the scenario file: "),
        "{err}"
    );
}

#[test]
fn negative_rate() {
    let producer = "[[producers]]\nname = \"p1\"\ntopic = \"events\"\nrate = -200\n";
    let err = refused(&with(producer), 14, 8, "`rate` cannot be negative (-200)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn duration_without_unit() {
    let text = BASE.replace("duration = \"30s\"", "duration = \"30\"");
    let err = refused(&text, 4, 12, "duration `30` has no unit");
    assert!(err.help_text().starts_with("add a unit, e.g. \"30s\""));
    insta::assert_snapshot!(err.render());
}

#[test]
fn duration_as_a_bare_integer() {
    let text = BASE.replace("duration = \"30s\"", "duration = 30");
    let err = refused(&text, 4, 12, "duration `30` has no unit");
    insta::assert_snapshot!(err.render());
}

#[test]
fn reversed_latency_range() {
    let err = refused(
        &with("[network]\nlatency = \"5ms..1ms\"\n"),
        12,
        11,
        "range `5ms..1ms` has its larger bound first",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn fault_after_the_end_of_the_run() {
    let fault = "[[faults]]\nat = \"45s\"\nkind = \"pause\"\nnodes = [\"b1\"]\n";
    let err =
        refused(&with(fault), 12, 6, "fault at 45s starts at or after the end of the run (30s)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn out_of_range() {
    let text = BASE.replace("brokers = 3", "brokers = 65");
    let err = refused(&text, 6, 11, "`brokers` is out of range (65)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn probability_out_of_range() {
    let err =
        refused(&with("[network]\nloss = 1.5\n"), 12, 8, "`loss` must be between 0 and 1 (1.5)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_topic() {
    let producer = "[[producers]]\nname = \"p1\"\ntopic = \"event\"\nrate = 200\n";
    let err = refused(&with(producer), 13, 9, "unknown topic `event`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_topic_of_a_consumer() {
    let consumer = "[[consumers]]\nname = \"c1\"\ntopics = [\"events\", \"orders\"]\n";
    refused(&with(consumer), 13, 21, "unknown topic `orders`");
}

#[test]
fn replication_factor_larger_than_the_cluster() {
    let text = BASE.replace("replication_factor = 3", "replication_factor = 4");
    let err = refused(&text, 10, 22, "replication factor 4 is larger than the cluster (3 brokers)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_allowed_anomaly() {
    let expect = "[expect]\noutcome = \"pass\"\nallowed = [\"G1\"]\n";
    let err = refused(&with(expect), 13, 12, "unknown history anomaly `G1`");
    let list = kafsim::check::history::ANOMALIES.join(", ");
    assert_eq!(err.help_text(), format!("did you mean `G1a`? the history anomalies are: {list}"));
}

#[test]
fn unknown_invariant() {
    let expect = "[expect]\noutcome = \"violation\"\nviolations = [\"lost-writes\"]\n";
    let err = refused(&with(expect), 13, 15, "unknown invariant `lost-writes`");
    let list = format!("the invariants are: {}", kafsim::check::INVARIANTS.join(", "));
    assert_eq!(err.help_text(), format!("did you mean `lost-write`? {list}"));
    // The snapshot stops before the list, so that adding an invariant does not change it.
    let render = err.render();
    let shown = render.find("the invariants are:").map_or(&render[..], |end| &render[..end]);
    insta::assert_snapshot!(format!("{shown}the invariants are: …"));
}

#[test]
fn violations_with_outcome_pass() {
    let expect = "[expect]\nviolations = [\"lost-write\"]\n";
    refused(&with(expect), 12, 14, "`violations` listed for a run expected to pass");
}

#[test]
fn unknown_fault_kind() {
    let fault = "[[faults]]\nat = \"5s\"\nkind = \"partiton\"\ngroups = [[\"b1\"], [\"b2\"]]\n";
    let err = refused(&with(fault), 13, 8, "unknown fault kind `partiton`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_nemesis_kind() {
    refused(
        &with("[nemesis]\nkinds = [\"crash\", \"meteor\"]\n"),
        12,
        19,
        "unknown nemesis kind `meteor`",
    );
}

#[test]
fn key_of_another_fault_kind() {
    let fault = "[[faults]]\nat = \"5s\"\nkind = \"crash\"\nnodes = [\"b1\"]\noffset = \"-2s\"\n";
    let err = refused(&with(fault), 15, 1, "`offset` is not a key of a crash fault");
    insta::assert_snapshot!(err.render());
}

#[test]
fn missing_key_of_the_fault_kind() {
    let fault = "[[faults]]\nat = \"5s\"\nkind = \"loss\"\nnodes = [\"b1\"]\n";
    let err = refused(&with(fault), 13, 8, "a loss fault needs `rate`");
    insta::assert_snapshot!(err.render());
}

#[test]
fn node_in_two_partition_groups() {
    let fault =
        "[[faults]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"b1\", \"b2\"], [\"b2\"]]\n";
    refused(&with(fault), 14, 26, "`b2` is listed twice");
}

#[test]
fn client_named_like_a_broker() {
    let producer = "[[producers]]\nname = \"b4\"\ntopic = \"events\"\nrate = 1\n";
    let err = refused(&with(producer), 12, 8, "`b4` is a broker name");
    insta::assert_snapshot!(err.render());
}

#[test]
fn client_names_collide() {
    let clients = "[[producers]]\nname = \"app\"\ntopic = \"events\"\nrate = 1\n\
                   [[consumers]]\nname = \"app\"\ntopics = [\"events\"]\n";
    refused(&with(clients), 16, 8, "the name `app` is already used by a producer");
}

/// A `[broker]` table with `settings` (one `"key" = value` a line) from line 12 on.
fn broker(settings: &str) -> String {
    with(&format!("[broker]\n{settings}\n"))
}

fn parsed_broker(settings: &str) -> BrokerSpec {
    match scenario::parse("scenario.toml", &broker(settings)) {
        Ok(s) => s.broker,
        Err(err) => panic!("{}", err.render()),
    }
}

#[test]
fn empty_broker_and_protocol_tables_are_the_defaults() {
    let s = scenario::parse("scenario.toml", &with("[broker]\n[protocol]\n")).unwrap();
    assert_eq!(s.broker, BrokerSpec::kafka_defaults());
    assert_eq!(s.protocol, ProtocolSpec::modern());
}

#[test]
fn kafka_defaults_written_out_are_the_defaults() {
    let settings = r#""min.insync.replicas" = 1
"unclean.leader.election.enable" = false
"replica.lag.time.max.ms" = 30000
"replica.fetch.wait.max.ms" = 500
"replica.high.watermark.checkpoint.interval.ms" = 5000
"log.flush.interval.messages" = 9223372036854775807
"retention.ms" = 604800000
"retention.bytes" = -1
"broker.session.timeout.ms" = 9000
"broker.heartbeat.interval.ms" = 2000
"request.timeout.ms" = 30000
"log.retention.check.interval.ms" = 300000"#;
    assert_eq!(parsed_broker(settings), BrokerSpec::kafka_defaults());
    let protocol = "[protocol]\ntruncation = \"leader-epoch\"\neligible_leader_replicas = true\n\
                    strict_min_isr = true\nhigh_watermark_isr = \"committed-and-pending\"\n\
                    isr_expansion = \"epoch-start\"\n";
    let s = scenario::parse("scenario.toml", &with(protocol)).unwrap();
    assert_eq!(s.protocol, ProtocolSpec::modern());
}

#[test]
fn each_truncation_value() {
    let truncation = |value: &str| {
        let text = with(&format!("[protocol]\ntruncation = \"{value}\"\n"));
        scenario::parse("scenario.toml", &text).unwrap().protocol.truncation
    };
    assert_eq!(truncation("high-watermark"), Truncation::HighWatermark);
    assert_eq!(truncation("leader-epoch-kip101"), Truncation::LeaderEpochKip101);
    assert_eq!(truncation("leader-epoch"), Truncation::LeaderEpoch);
}

#[test]
fn each_isr_expansion_value() {
    let isr_expansion = |value: &str| {
        let text = with(&format!("[protocol]\nisr_expansion = \"{value}\"\n"));
        scenario::parse("scenario.toml", &text).unwrap().protocol.isr_expansion
    };
    assert_eq!(isr_expansion("epoch-start"), IsrExpansion::EpochStart);
    assert_eq!(isr_expansion("high-watermark"), IsrExpansion::HighWatermarkOnly);
}

#[test]
fn min_insync_replicas_may_exceed_the_replication_factor() {
    // As in Kafka: every acks=all write then fails with NOT_ENOUGH_REPLICAS.
    assert_eq!(parsed_broker("\"min.insync.replicas\" = 5").min_insync_replicas, 5);
}

#[test]
fn minus_one_means_no_limit() {
    let b = parsed_broker("\"retention.ms\" = -1\n\"retention.bytes\" = -1");
    assert_eq!((b.retention_ms, b.retention_bytes), (None, None));
    let b = parsed_broker("\"retention.ms\" = 3600000\n\"retention.bytes\" = 1000");
    assert_eq!((b.retention_ms, b.retention_bytes), (Some(3_600_000), Some(1000)));
    // Only -1: any other negative value is a mistake.
    let err =
        refused(&broker("\"retention.ms\" = -2"), 12, 18, "`retention.ms` cannot be negative (-2)");
    assert!(err.help_text().contains("or -1 for no limit"), "{}", err.help_text());
    insta::assert_snapshot!(err.render());
    refused(
        &broker("\"retention.bytes\" = -2"),
        12,
        21,
        "`retention.bytes` cannot be negative (-2)",
    );
}

#[test]
fn long_max_means_never_flush() {
    // Kafka's defaults: Long.MAX_VALUE messages, and a timer of Long.MAX_VALUE ms.
    let b = parsed_broker(
        "\"log.flush.interval.messages\" = 9223372036854775807\n\
         \"log.flush.interval.ms\" = 9223372036854775807",
    );
    assert_eq!((b.log_flush_interval_messages, b.log_flush_interval_ms), (None, None));
    let b = parsed_broker("\"log.flush.interval.messages\" = 1\n\"log.flush.interval.ms\" = 1");
    assert_eq!((b.log_flush_interval_messages, b.log_flush_interval_ms), (Some(1), Some(1)));
    // Never is Long.MAX_VALUE (or leaving the key out), not -1.
    let err = refused(
        &broker("\"log.flush.interval.ms\" = -1"),
        12,
        27,
        "`log.flush.interval.ms` cannot be negative (-1)",
    );
    assert!(err.help_text().contains("leave it out"), "{}", err.help_text());
}

#[test]
fn unknown_broker_key() {
    let err = refused(
        &broker("\"min.insync.replica\" = 2"),
        12,
        1,
        "unknown key `min.insync.replica` in [broker]",
    );
    assert!(
        err.help_text().starts_with("did you mean `min.insync.replicas`?"),
        "{}",
        err.help_text()
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn kafka_setting_not_simulated() {
    let err = refused(
        &broker("\"log.segment.bytes\" = 1073741824"),
        12,
        1,
        "`log.segment.bytes` is a Kafka setting that kafsim does not simulate",
    );
    insta::assert_snapshot!(err.render());
    refused(
        &broker("\"num.network.threads\" = 3"),
        12,
        1,
        "`num.network.threads` is a Kafka setting that kafsim does not simulate",
    );
}

#[test]
fn kafka_setting_under_its_broker_level_name() {
    let err = refused(
        &broker("\"log.retention.hours\" = 168"),
        12,
        1,
        "unknown key `log.retention.hours` in [broker]",
    );
    assert!(
        err.help_text().starts_with(
            "kafsim takes this setting as \"retention.ms\", in milliseconds (hours × 3600000); "
        ),
        "{}",
        err.help_text()
    );
}

#[test]
fn kafka_name_without_quotes() {
    // TOML reads the dots as nested tables: the key serde sees is `min`.
    let err =
        refused(&broker("min.insync.replicas = 2"), 12, 1, "`min.insync.replicas` must be quoted");
    insta::assert_snapshot!(err.render());
    // An unquoted name that is not a key is reported whole.
    refused(
        &broker("num.network.threads = 3"),
        12,
        1,
        "`num.network.threads` is a Kafka setting that kafsim does not simulate",
    );
    let err = refused(
        &broker("min.insync.replica = 2"),
        12,
        1,
        "unknown key `min.insync.replica` in [broker]",
    );
    assert!(err.help_text().contains("did you mean `min.insync.replicas`?"), "{}", err.help_text());
    // Outside [broker], dots in a name that is no Kafka name may mean nested tables.
    let err = refused(
        &format!("runn.duration = \"30s\"\n{BASE}"),
        1,
        1,
        "unknown key `runn` at the top level",
    );
    assert!(err.help_text().starts_with("did you mean `run`?"), "{}", err.help_text());
    // At the top level, a Kafka name belongs in [broker].
    let err = refused(
        &format!("min.insync.replicas = 2\n{BASE}"),
        1,
        1,
        "unknown key `min.insync.replicas` at the top level",
    );
    assert!(err.help_text().contains("is a key of [broker]"), "{}", err.help_text());
}

#[test]
fn kafka_setting_outside_broker() {
    let err = refused(
        &format!("\"min.insync.replicas\" = 2\n{BASE}"),
        1,
        1,
        "unknown key `min.insync.replicas` at the top level",
    );
    assert!(
        err.help_text().starts_with("`min.insync.replicas` is a key of [broker]"),
        "{}",
        err.help_text()
    );
}

#[test]
fn broker_setting_of_the_wrong_type() {
    let err = refused(
        &broker("\"min.insync.replicas\" = \"2\""),
        12,
        25,
        "wrong type: expected an integer, found string \"2\"",
    );
    assert_eq!(err.help_text(), "write the number without quotes: \"min.insync.replicas\" = 2");
    insta::assert_snapshot!(err.render());
    refused(
        &broker("\"unclean.leader.election.enable\" = \"false\""),
        12,
        36,
        "wrong type: expected a boolean, found string \"false\"",
    );
    refused(
        &broker("\"request.timeout.ms\" = 1.5"),
        12,
        24,
        "wrong type: expected an integer, found floating point `1.5`",
    );
    refused(
        &broker("\"request.timeout.ms\" = true"),
        12,
        24,
        "wrong type: expected an integer, found boolean `true`",
    );
}

#[test]
fn milliseconds_written_as_a_duration() {
    let err = refused(
        &broker("\"replica.lag.time.max.ms\" = \"10s\""),
        12,
        29,
        "wrong type: expected an integer of milliseconds, found string \"10s\"",
    );
    assert_eq!(
        err.help_text(),
        "Kafka's settings keep Kafka's units: write \"replica.lag.time.max.ms\" = 10000 \
         (10s in milliseconds)"
    );
    insta::assert_snapshot!(err.render());
    let err = refused(
        &broker("\"log.retention.check.interval.ms\" = \"5m\""),
        12,
        37,
        "wrong type: expected an integer of milliseconds, found string \"5m\"",
    );
    assert_eq!(
        err.help_text(),
        "Kafka's settings keep Kafka's units: write \"log.retention.check.interval.ms\" = 300000 \
         (5m in milliseconds)"
    );
}

#[test]
fn negative_broker_setting() {
    let err = refused(
        &broker("\"replica.lag.time.max.ms\" = -1"),
        12,
        29,
        "`replica.lag.time.max.ms` cannot be negative (-1)",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn zero_or_huge_broker_setting() {
    refused(
        &broker("\"min.insync.replicas\" = 0"),
        12,
        25,
        "`min.insync.replicas` must be greater than 0",
    );
    refused(
        &broker("\"request.timeout.ms\" = 0"),
        12,
        24,
        "`request.timeout.ms` must be greater than 0",
    );
    refused(
        &broker("\"log.retention.check.interval.ms\" = 0"),
        12,
        37,
        "`log.retention.check.interval.ms` must be greater than 0",
    );
    refused(
        &broker("\"min.insync.replicas\" = 2147483648"),
        12,
        25,
        "`min.insync.replicas` is too large (2147483648)",
    );
    // Beyond 100 years, simulated time could overflow.
    refused(
        &broker("\"retention.ms\" = 3153600000001"),
        12,
        18,
        "`retention.ms` is too large (3153600000001)",
    );
}

#[test]
fn unknown_truncation() {
    let err = refused(
        &with("[protocol]\ntruncation = \"leader_epoch\"\n"),
        12,
        14,
        "unknown truncation value `leader_epoch`",
    );
    assert!(err.help_text().starts_with("did you mean `leader-epoch`?"), "{}", err.help_text());
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_high_watermark_isr() {
    let err = refused(
        &with("[protocol]\nhigh_watermark_isr = \"pending\"\n"),
        12,
        22,
        "unknown high_watermark_isr value `pending`",
    );
    assert!(err.help_text().contains("\"proposed\": "), "{}", err.help_text());
}

#[test]
fn unknown_isr_expansion() {
    let err = refused(
        &with("[protocol]\nisr_expansion = \"high-watermark-only\"\n"),
        12,
        17,
        "unknown isr_expansion value `high-watermark-only`",
    );
    assert!(err.help_text().starts_with("did you mean `high-watermark`?"), "{}", err.help_text());
    assert!(err.help_text().contains("\"epoch-start\": "), "{}", err.help_text());
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_protocol_key() {
    let err = refused(
        &with("[protocol]\nstrict_min_isrs = false\n"),
        12,
        1,
        "unknown key `strict_min_isrs` in [protocol]",
    );
    assert!(err.help_text().starts_with("did you mean `strict_min_isr`?"), "{}", err.help_text());
}

#[test]
fn session_timeout_not_above_heartbeat() {
    let settings = "\"broker.session.timeout.ms\" = 2000\n\"broker.heartbeat.interval.ms\" = 2000";
    let err = refused(
        &broker(settings),
        12,
        31,
        "`broker.session.timeout.ms` (2000) must exceed `broker.heartbeat.interval.ms` (2000)",
    );
    insta::assert_snapshot!(err.render());
    // Against the default session timeout (9000), the heartbeat interval is at fault.
    refused(
        &broker("\"broker.heartbeat.interval.ms\" = 9000"),
        12,
        34,
        "`broker.heartbeat.interval.ms` (9000) must be below `broker.session.timeout.ms` (9000)",
    );
}

#[test]
fn fetch_wait_above_the_lag_limit() {
    // Kafka refuses to start with replica.fetch.wait.max.ms > replica.lag.time.max.ms.
    refused(
        &broker("\"replica.fetch.wait.max.ms\" = 40000"),
        12,
        31,
        "`replica.fetch.wait.max.ms` (40000) exceeds `replica.lag.time.max.ms` (30000)",
    );
    refused(
        &broker("\"replica.lag.time.max.ms\" = 400"),
        12,
        29,
        "`replica.lag.time.max.ms` (400) is below `replica.fetch.wait.max.ms` (500)",
    );
}

#[test]
fn messages_stay_on_one_line() {
    // The TOML escape `\n` puts a newline into the topic name; the message escapes it.
    let text = BASE.replace("name = \"events\"", "name = \"ev\\nents\"");
    refused(&text, 8, 8, "`ev\\nents` is not a valid topic name");
}

#[test]
fn empty_file() {
    let err = refused("", 1, 1, "missing key `name`");
    insta::assert_snapshot!(err.render());
}

/// No input makes the parser panic: every prefix of a full scenario is either valid or an
/// error with a position inside the text.
#[test]
fn every_prefix_is_handled() {
    let text = with(
        "[broker]\n\"retention.ms\" = -1\n\"replica.lag.time.max.ms\" = 10000\n\
         [protocol]\ntruncation = \"high-watermark\"\n\
         [[producers]]\nname = \"p\"\ntopic = \"events\"\nrate = 1\n\"linger.ms\" = 0\n\
         [[consumers]]\nname = \"c\"\ngroup = \"g\"\nmembers = 2\ntopics = [\"events\"]\n\
         \"session.timeout.ms\" = 10000\n\
         [[faults]]\nat = \"5s\"\nkind = \"clock-skew\"\nnodes = [\"c2\"]\noffset = \"-2s\"\n",
    );
    scenario::parse("prefix.toml", &text).unwrap_or_else(|e| panic!("{}", e.render()));
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        if let Err(err) = scenario::parse("prefix.toml", &text[..end]) {
            let (line, _) = err.line_col().expect("a position");
            assert!(line <= text[..end].lines().count() + 1);
            assert!(!err.render().is_empty());
        }
    }
}

/// The shipped scenarios are valid.
#[test]
fn shipped_scenarios_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        if let Err(err) = scenario::load(&file) {
            panic!("{}", err.render());
        }
    }
}

/// A producer `p1` of `events` with `settings` from line 15 on.
fn producer(settings: &str) -> String {
    with(&format!("[[producers]]\nname = \"p1\"\ntopic = \"events\"\nrate = 1\n{settings}\n"))
}

fn parsed_producer(settings: &str) -> ProducerSpec {
    match scenario::parse("scenario.toml", &producer(settings)) {
        Ok(s) => s.producers[0].clone(),
        Err(err) => panic!("{}", err.render()),
    }
}

/// A consumer `c` of `events` with `settings` from line 14 on.
fn consumer(settings: &str) -> String {
    with(&format!("[[consumers]]\nname = \"c\"\ntopics = [\"events\"]\n{settings}\n"))
}

fn parsed_consumers(settings: &str) -> Vec<ConsumerSpec> {
    match scenario::parse("scenario.toml", &consumer(settings)) {
        Ok(s) => s.consumers,
        Err(err) => panic!("{}", err.render()),
    }
}

#[test]
fn producer_kafka_defaults_written_out_are_the_defaults() {
    let settings = r#"acks = "all"
keys = 8
"linger.ms" = 5
"batch.size" = 16384
"max.in.flight.requests.per.connection" = 5
"retries" = 2147483647
"retry.backoff.ms" = 100
"retry.backoff.max.ms" = 1000
"request.timeout.ms" = 3000
"delivery.timeout.ms" = 120000"#;
    let defaults = ProducerSpec::kafka_defaults("p1", "events", 1, 8);
    assert_eq!(parsed_producer(settings), defaults);
    assert_eq!(parsed_producer(""), defaults);
    assert_eq!(parsed_producer("idempotent = true"), defaults);
}

#[test]
fn idempotence_defaults_as_kafka_does() {
    // Left out, idempotence is on only where Kafka keeps it on: acks=all with retries.
    assert!(parsed_producer("acks = \"all\"").idempotent);
    assert!(!parsed_producer("acks = \"1\"").idempotent);
    assert!(!parsed_producer("acks = \"0\"").idempotent);
    assert!(!parsed_producer("\"retries\" = 0").idempotent);
    assert!(!parsed_producer("idempotent = false").idempotent);
    // Without idempotence, more requests may be in flight.
    let p = parsed_producer("idempotent = false\n\"max.in.flight.requests.per.connection\" = 6");
    assert_eq!((p.idempotent, p.max_in_flight), (false, 6));
    let p = parsed_producer("acks = 1\n\"max.in.flight.requests.per.connection\" = 6");
    assert_eq!((p.idempotent, p.max_in_flight), (false, 6));
}

#[test]
fn delivery_timeout_covers_linger_and_request_timeout() {
    // Left out, Kafka raises delivery.timeout.ms to linger.ms + request.timeout.ms.
    let p = parsed_producer("\"linger.ms\" = 1000\n\"request.timeout.ms\" = 200000");
    assert_eq!(p.delivery_timeout_ms, 201_000);
    assert_eq!(parsed_producer("\"delivery.timeout.ms\" = 3005").delivery_timeout_ms, 3_005);
    let err = refused(
        &producer("\"delivery.timeout.ms\" = 3000"),
        15,
        25,
        "`delivery.timeout.ms` (3000) is below `linger.ms` + `request.timeout.ms` (3005)",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn keys_zero_means_no_key() {
    assert_eq!(parsed_producer("keys = 0").keys, 0);
    refused(&producer("keys = -1"), 15, 8, "`keys` cannot be negative (-1)");
}

#[test]
fn idempotent_with_acks_1() {
    let err = refused(
        &producer("acks = \"1\"\nidempotent = true"),
        16,
        14,
        "an idempotent producer needs acks = \"all\"",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn idempotent_without_retries() {
    refused(
        &producer("idempotent = true\n\"retries\" = 0"),
        15,
        14,
        "an idempotent producer needs retries",
    );
}

#[test]
fn max_in_flight_6_with_idempotence() {
    let err = refused(
        &producer("idempotent = true\n\"max.in.flight.requests.per.connection\" = 6"),
        16,
        43,
        "an idempotent producer allows at most 5 requests in flight, not 6",
    );
    insta::assert_snapshot!(err.render());
    // Kafka's default idempotence (acks=all) throws too.
    refused(
        &producer("\"max.in.flight.requests.per.connection\" = 6"),
        15,
        43,
        "an idempotent producer (idempotent by default) allows at most 5 requests in flight, not 6",
    );
}

#[test]
fn producer_settings_out_of_range() {
    let err = refused(&producer("\"batch.size\" = 99"), 15, 16, "`batch.size` is too small (99)");
    insta::assert_snapshot!(err.render());
    refused(
        &producer("\"max.in.flight.requests.per.connection\" = 0"),
        15,
        43,
        "`max.in.flight.requests.per.connection` must be greater than 0",
    );
    refused(&producer("\"retries\" = -1"), 15, 13, "`retries` cannot be negative (-1)");
    refused(&producer("\"retries\" = 2147483648"), 15, 13, "`retries` is too large (2147483648)");
    refused(
        &producer("\"retry.backoff.ms\" = 0"),
        15,
        22,
        "`retry.backoff.ms` must be greater than 0",
    );
    assert_eq!(parsed_producer("\"linger.ms\" = 0").linger_ms, 0);
    let err = refused(
        &producer("\"linger.ms\" = \"5ms\""),
        15,
        15,
        "wrong type: expected an integer of milliseconds, found string \"5ms\"",
    );
    assert_eq!(
        err.help_text(),
        "Kafka's settings keep Kafka's units: write \"linger.ms\" = 5 (5ms in milliseconds)"
    );
}

#[test]
fn retry_backoff_above_its_max() {
    let err = refused(
        &producer("\"retry.backoff.ms\" = 2000"),
        15,
        22,
        "`retry.backoff.ms` (2000) is above `retry.backoff.max.ms` (1000)",
    );
    insta::assert_snapshot!(err.render());
    refused(
        &producer("\"retry.backoff.max.ms\" = 50"),
        15,
        26,
        "`retry.backoff.max.ms` (50) is below `retry.backoff.ms` (100)",
    );
}

#[test]
fn consumer_kafka_defaults_written_out_are_the_defaults() {
    let settings = r#"group = "g1"
members = 1
mode = "subscribe"
commit = "auto"
auto_offset_reset = "latest"
processing = "10ms"
"auto.commit.interval.ms" = 5000
"session.timeout.ms" = 45000
"heartbeat.interval.ms" = 3000
"max.poll.interval.ms" = 300000
"partition.assignment.strategy" = "range"
"max.poll.records" = 500"#;
    let defaults = ConsumerSpec::kafka_defaults("c", &["events"], "g1");
    assert_eq!(parsed_consumers(settings), std::slice::from_ref(&defaults));
    assert_eq!(parsed_consumers("group = \"g1\""), [defaults]);
    // Without a group, today's meaning: every partition from offset 0, no commits.
    assert_eq!(parsed_consumers(""), [ConsumerSpec::groupless("c", &["events"])]);
}

#[test]
fn each_consumer_enum_value() {
    let one = |key: &str, value: &str| {
        parsed_consumers(&format!("group = \"g1\"\n{key} = \"{value}\"")).remove(0)
    };
    assert_eq!(one("mode", "subscribe").mode, ConsumerMode::Subscribe);
    assert_eq!(one("mode", "assign").mode, ConsumerMode::Assign);
    assert_eq!(one("commit", "auto").commit, CommitMode::Auto);
    assert_eq!(one("commit", "after-process").commit, CommitMode::AfterProcess);
    assert_eq!(one("commit", "before-process").commit, CommitMode::BeforeProcess);
    assert_eq!(one("auto_offset_reset", "earliest").auto_offset_reset, AutoOffsetReset::Earliest);
    assert_eq!(one("auto_offset_reset", "latest").auto_offset_reset, AutoOffsetReset::Latest);
    assert_eq!(one("auto_offset_reset", "none").auto_offset_reset, AutoOffsetReset::None);
    let strategy = "\"partition.assignment.strategy\"";
    assert_eq!(one(strategy, "range").assignor, Assignor::Range);
    assert_eq!(one(strategy, "roundrobin").assignor, Assignor::RoundRobin);
    let class = |name: &str| format!("org.apache.kafka.clients.consumer.{name}");
    assert_eq!(one(strategy, &class("RangeAssignor")).assignor, Assignor::Range);
    assert_eq!(one(strategy, &class("RoundRobinAssignor")).assignor, Assignor::RoundRobin);
}

#[test]
fn unknown_mode() {
    let err = refused(
        &consumer("group = \"g1\"\nmode = \"subscribed\""),
        15,
        8,
        "unknown mode value `subscribed`",
    );
    assert!(err.help_text().starts_with("did you mean `subscribe`?"), "{}", err.help_text());
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_commit() {
    let err = refused(
        &consumer("group = \"g1\"\ncommit = \"manual\""),
        15,
        10,
        "unknown commit value `manual`",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_auto_offset_reset() {
    let err = refused(
        &consumer("group = \"g1\"\nauto_offset_reset = \"smallest\""),
        15,
        21,
        "unknown auto_offset_reset value `smallest`",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn unknown_assignment_strategy() {
    let err = refused(
        &consumer("group = \"g1\"\n\"partition.assignment.strategy\" = \"sticky\""),
        15,
        35,
        "unknown partition.assignment.strategy value `sticky`",
    );
    insta::assert_snapshot!(err.render());
}

#[test]
fn members_are_nodes() {
    let text = consumer(
        "group = \"g1\"\nmembers = 3\n\
         [[faults]]\nat = \"5s\"\nkind = \"crash\"\nnodes = [\"c2\"]\n\
         [nemesis]\nkinds = [\"pause\"]\ntargets = [\"c1\", \"c3\"]",
    );
    let s = scenario::parse("scenario.toml", &text).unwrap_or_else(|e| panic!("{}", e.render()));
    let names: Vec<&str> = s.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["c1", "c2", "c3"]);
    for c in &s.consumers {
        assert_eq!(c, &ConsumerSpec::kafka_defaults(&c.name, &["events"], "g1"));
    }
    assert_eq!(s.nemesis.unwrap().targets, ["c1", "c3"]);
    // The entry's own name is not a node: the help names its members.
    let text = consumer(
        "group = \"g1\"\nmembers = 2\n[[faults]]\nat = \"5s\"\nkind = \"pause\"\nnodes = [\"c\"]",
    );
    let err = refused(&text, 19, 10, "unknown node `c` in a pause fault");
    assert!(
        err.help_text().starts_with("consumer `c` is 2 nodes, c1..c2: name the members; "),
        "{}",
        err.help_text()
    );
}

#[test]
fn members_zero() {
    let err =
        refused(&consumer("group = \"g1\"\nmembers = 0"), 15, 11, "`members` is out of range (0)");
    insta::assert_snapshot!(err.render());
}

#[test]
fn member_name_clashing_with_another_node() {
    let clients = "[[producers]]\nname = \"c2\"\ntopic = \"events\"\nrate = 1\n\
                   [[consumers]]\nname = \"c\"\ngroup = \"g1\"\nmembers = 3\ntopics = [\"events\"]\n";
    let err = refused(
        &with(clients),
        16,
        8,
        "consumer `c` names its members c1..c3, and `c2` is already used by a producer",
    );
    insta::assert_snapshot!(err.render());
    // Members named like brokers.
    let text =
        with("[[consumers]]\nname = \"b\"\ngroup = \"g1\"\nmembers = 2\ntopics = [\"events\"]\n");
    refused(&text, 12, 8, "consumer `b` names its members b1..b2, and `b1` is a broker name");
    // A later consumer cannot take a member's name, nor the entry's (producers are
    // validated before consumers, whatever the order in the file).
    let later = |name: &str| {
        with(&format!(
            "[[consumers]]\nname = \"c\"\ngroup = \"g1\"\nmembers = 2\ntopics = [\"events\"]\n\
             [[consumers]]\nname = \"{name}\"\ntopics = [\"events\"]\n"
        ))
    };
    refused(&later("c1"), 17, 8, "the name `c1` is already used by member 1 of consumer `c`");
    refused(&later("c"), 17, 8, "the name `c` is already used by a consumer with members c1..c2");
}

#[test]
fn group_only_key_without_group() {
    let err = refused(
        &consumer("commit = \"after-process\""),
        14,
        1,
        "`commit` is a consumer-group setting, but consumer `c` has no `group`",
    );
    insta::assert_snapshot!(err.render());
    refused(
        &consumer("\"session.timeout.ms\" = 10000\nmembers = 2"),
        14,
        1,
        "`session.timeout.ms` is a consumer-group setting, but consumer `c` has no `group`",
    );
    // The poll loop's settings need no group.
    let c = parsed_consumers("\"max.poll.records\" = 5\nprocessing = \"1s\"").remove(0);
    assert_eq!((c.group, c.max_poll_records, c.processing_ms), (None, 5, 1_000));
}

#[test]
fn consumer_heartbeat_not_below_session_timeout() {
    let err = refused(
        &consumer(
            "group = \"g1\"\n\"session.timeout.ms\" = 10000\n\"heartbeat.interval.ms\" = 10000",
        ),
        16,
        27,
        "`heartbeat.interval.ms` (10000) is not below `session.timeout.ms` (10000)",
    );
    insta::assert_snapshot!(err.render());
    refused(
        &consumer("group = \"g1\"\n\"heartbeat.interval.ms\" = 45000"),
        15,
        27,
        "`heartbeat.interval.ms` (45000) is not below `session.timeout.ms` (45000)",
    );
}

#[test]
fn session_timeout_outside_the_brokers_range() {
    let err = refused(
        &consumer("group = \"g1\"\n\"session.timeout.ms\" = 5000"),
        15,
        24,
        "`session.timeout.ms` is too small (5000)",
    );
    insta::assert_snapshot!(err.render());
    refused(
        &consumer("group = \"g1\"\n\"session.timeout.ms\" = 1800001"),
        15,
        24,
        "`session.timeout.ms` is too large (1800001)",
    );
}

#[test]
fn auto_commit_interval_without_auto_commit() {
    refused(
        &consumer("group = \"g1\"\ncommit = \"after-process\"\n\"auto.commit.interval.ms\" = 1000"),
        16,
        29,
        "`auto.commit.interval.ms` with commit = \"after-process\"",
    );
}

#[test]
fn processing_in_whole_milliseconds() {
    refused(
        &consumer("processing = \"1500us\""),
        14,
        14,
        "`processing` of 1500us is not a whole number of milliseconds",
    );
    refused(&consumer("processing = 10"), 14, 14, "duration `10` has no unit");
    refused(&consumer("group = \"\""), 14, 9, "`group` is empty");
}

#[test]
fn offsets_replication_factor_above_the_broker_count() {
    let text = with(
        "[broker]\n\"offsets.topic.replication.factor\" = 4\n\
         [[consumers]]\nname = \"c\"\ngroup = \"g1\"\ntopics = [\"events\"]\n",
    );
    let err = refused(
        &text,
        12,
        38,
        "`offsets.topic.replication.factor` (4) is larger than the cluster (3 brokers)",
    );
    insta::assert_snapshot!(err.render());
    // Kafka's default of 3 does not fit a single broker.
    let one_broker = BASE
        .replace("brokers = 3", "brokers = 1")
        .replace("replication_factor = 3", "replication_factor = 1");
    let text =
        format!("{one_broker}[[consumers]]\nname = \"c\"\ngroup = \"g1\"\ntopics = [\"events\"]\n");
    let err = refused(
        &text,
        13,
        9,
        "a consumer group needs 3 brokers for __consumer_offsets, the cluster has 1",
    );
    insta::assert_snapshot!("offsets_replication_factor_default_above_one_broker", err.render());
    // Without a group, __consumer_offsets does not exist: the value is unused.
    let text = broker("\"offsets.topic.replication.factor\" = 4");
    assert_eq!(
        scenario::parse("scenario.toml", &text).unwrap().broker.offsets_topic_replication_factor,
        4
    );
    let fits = format!(
        "{one_broker}[broker]\n\"offsets.topic.replication.factor\" = 1\n\
         [[consumers]]\nname = \"c\"\ngroup = \"g1\"\ntopics = [\"events\"]\n"
    );
    scenario::parse("scenario.toml", &fits).unwrap_or_else(|e| panic!("{}", e.render()));
}

#[test]
fn group_broker_settings() {
    let b = parsed_broker(
        "\"offsets.topic.num.partitions\" = 1000\n\"group.initial.rebalance.delay.ms\" = 0",
    );
    assert_eq!((b.offsets_topic_num_partitions, b.group_initial_rebalance_delay_ms), (1000, 0));
    refused(
        &broker("\"offsets.topic.num.partitions\" = 1001"),
        12,
        34,
        "`offsets.topic.num.partitions` is too large (1001)",
    );
    refused(
        &broker("\"offsets.commit.timeout.ms\" = 0"),
        12,
        31,
        "`offsets.commit.timeout.ms` must be greater than 0",
    );
}

#[test]
fn each_client_protocol_switch() {
    let protocol = |key: &str| {
        let text = with(&format!("[protocol]\n{key} = false\n"));
        scenario::parse("scenario.toml", &text).unwrap().protocol
    };
    let modern = ProtocolSpec::modern();
    assert_eq!(
        protocol("offset_commit_generation_check"),
        ProtocolSpec { offset_commit_generation_check: false, ..modern.clone() }
    );
    assert_eq!(
        protocol("consumer_truncation_detection"),
        ProtocolSpec { consumer_truncation_detection: false, ..modern.clone() }
    );
    assert_eq!(
        protocol("producer_state_rebuild"),
        ProtocolSpec { producer_state_rebuild: false, ..modern }
    );
}

#[test]
fn misspelt_client_key() {
    let err = refused(
        &consumer("group = \"g1\"\n\"session.timeout\" = 10000"),
        15,
        1,
        "unknown key `session.timeout` in [[consumers]]",
    );
    assert!(
        err.help_text().starts_with("did you mean `session.timeout.ms`?"),
        "{}",
        err.help_text()
    );
    insta::assert_snapshot!(err.render());
    let err = refused(
        &producer("idempotence = true"),
        15,
        1,
        "unknown key `idempotence` in [[producers]]",
    );
    assert!(err.help_text().starts_with("did you mean `idempotent`?"), "{}", err.help_text());
}

#[test]
fn kafka_client_config_under_its_kafka_name() {
    let err = refused(
        &producer("\"enable.idempotence\" = true"),
        15,
        1,
        "unknown key `enable.idempotence` in [[producers]]",
    );
    assert!(
        err.help_text().starts_with("kafsim takes this setting as `idempotent`; "),
        "{}",
        err.help_text()
    );
    // Unquoted, TOML reads the dots as tables; the report is about the name as written.
    let err =
        refused(&consumer("group.id = \"g1\""), 14, 1, "unknown key `group.id` in [[consumers]]");
    assert!(
        err.help_text().starts_with("write a key holding dots in quotes")
            || err.help_text().starts_with("kafsim takes this setting as `group`"),
        "{}",
        err.help_text()
    );
    refused(&producer("linger.ms = 0"), 15, 1, "`linger.ms` must be quoted");
}
