//! Scenario files: a valid file parses to the expected values, and every kind of mistake
//! is reported at its exact line and column with a help line (snapshots of the full
//! report in tests/snapshots/).

use std::path::Path;

use kafsim::scenario::{
    self, Acks, BrokerSpec, ClusterSpec, ConsumerSpec, Expect, FaultSpec, FaultSpecKind,
    HighWatermarkIsr, IsrExpansion, NemesisKind, NemesisSpec, NetworkSpec, Outcome, ProducerSpec,
    ProtocolSpec, RunSpec, Scenario, ScenarioError, TopicSpec, Truncation,
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
    assert_eq!(s.run, RunSpec { duration: ms(30_000), heal: ms(20_000), seed: 1 });
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
    assert_eq!(s.expect, Expect { outcome: Outcome::Pass, violations: vec![] });
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

[protocol]
truncation = "high-watermark"
eligible_leader_replicas = false
strict_min_isr = false
high_watermark_isr = "proposed"
isr_expansion = "high-watermark"

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
rate = 200
keys = 8

[[producers]]
name = "p2"
topic = "events"
acks = 1
rate = 10

[[producers]]
name = "p3"
topic = "events"
acks = "0"
rate = 10

[[consumers]]
name = "c1"
topics = ["events"]

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
nodes = ["b1", "p1"]
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
targets = ["b1", "b2"]

[expect]
outcome = "violation"
violations = ["lost-write"]
"#;
    let s = scenario::parse("full.toml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let names = |ns: &[&str]| ns.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let expected = Scenario {
        name: "acks-all-survives-leader-crash".into(),
        description: "A leader crash with acks=all loses no acknowledged record.".into(),
        run: RunSpec { duration: ms(30_000), heal: ms(20_000), seed: 7 },
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
            ..BrokerSpec::kafka_defaults()
        },
        protocol: ProtocolSpec {
            truncation: Truncation::HighWatermark,
            eligible_leader_replicas: false,
            strict_min_isr: false,
            high_watermark_isr: HighWatermarkIsr::Proposed,
            isr_expansion: IsrExpansion::HighWatermarkOnly,
            ..ProtocolSpec::modern()
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
            ProducerSpec::kafka_defaults("p1", "events", 200, 8),
            ProducerSpec {
                acks: Acks::Leader,
                idempotent: false,
                ..ProducerSpec::kafka_defaults("p2", "events", 10, 8)
            },
            ProducerSpec {
                acks: Acks::None,
                idempotent: false,
                ..ProducerSpec::kafka_defaults("p3", "events", 10, 8)
            },
        ],
        consumers: vec![ConsumerSpec::groupless("c1", &["events"])],
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
                    nodes: names(&["b1", "p1"]),
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
            targets: names(&["b1", "b2"]),
        }),
        expect: Expect { outcome: Outcome::Violation, violations: names(&["lost-write"]) },
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
         [[faults]]\nat = \"5s\"\nkind = \"clock-skew\"\nnodes = [\"b1\"]\noffset = \"-2s\"\n",
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
