//! The scenario file as TOML spells it, before any check. Every table denies unknown keys
//! (serde reports them with their position), and every value a later check may refuse is
//! `Spanned`, so that the refusal can point at it. Numbers are read as TOML's `i64`/`f64`
//! so that a negative or huge value reaches validation and gets a precise message instead
//! of a type error.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// A list of names (nodes, topics, kinds), each with its position.
pub type Names = Spanned<Vec<Spanned<String>>>;

/// Every table and its keys, in the order serde lists them. Errors use it to name the
/// table an unknown key was found in, and the table a misplaced key belongs to. The test
/// below keeps it in step with the structs.
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "the top level",
        &[
            "name",
            "description",
            "run",
            "cluster",
            "broker",
            "protocol",
            "network",
            "topics",
            "producers",
            "consumers",
            "faults",
            "nemesis",
            "expect",
        ],
    ),
    ("[run]", &["duration", "heal", "liveness", "seed"]),
    ("[cluster]", &["brokers"]),
    (
        "[broker]",
        &[
            "min.insync.replicas",
            "unclean.leader.election.enable",
            "replica.lag.time.max.ms",
            "replica.fetch.wait.max.ms",
            "replica.high.watermark.checkpoint.interval.ms",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "retention.ms",
            "retention.bytes",
            "broker.session.timeout.ms",
            "broker.heartbeat.interval.ms",
            "request.timeout.ms",
            "log.retention.check.interval.ms",
            "offsets.topic.num.partitions",
            "offsets.topic.replication.factor",
            "offsets.commit.timeout.ms",
            "group.initial.rebalance.delay.ms",
        ],
    ),
    (
        "[protocol]",
        &[
            "truncation",
            "eligible_leader_replicas",
            "strict_min_isr",
            "high_watermark_isr",
            "isr_expansion",
            "offset_commit_generation_check",
            "consumer_truncation_detection",
            "producer_state_rebuild",
        ],
    ),
    ("[network]", &["latency", "loss", "duplicate", "ordered"]),
    ("[[topics]]", &["name", "partitions", "replication_factor"]),
    (
        "[[producers]]",
        &[
            "name",
            "topic",
            "acks",
            "idempotent",
            "rate",
            "keys",
            "linger.ms",
            "batch.size",
            "max.in.flight.requests.per.connection",
            "retries",
            "retry.backoff.ms",
            "retry.backoff.max.ms",
            "request.timeout.ms",
            "delivery.timeout.ms",
        ],
    ),
    (
        "[[consumers]]",
        &[
            "name",
            "group",
            "members",
            "topics",
            "mode",
            "commit",
            "auto_offset_reset",
            "processing",
            "auto.commit.interval.ms",
            "session.timeout.ms",
            "heartbeat.interval.ms",
            "max.poll.interval.ms",
            "partition.assignment.strategy",
            "max.poll.records",
        ],
    ),
    (
        "[[faults]]",
        &[
            "at",
            "kind",
            "for",
            "groups",
            "from",
            "to",
            "nodes",
            "lose_unflushed",
            "offset",
            "drift_ppm",
            "rate",
        ],
    ),
    ("[nemesis]", &["kinds", "interval", "duration", "targets", "roles", "concurrency"]),
    ("[expect]", &["outcome", "violations", "allowed"]),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Spanned<String>,
    pub description: Spanned<String>,
    pub run: RawRun,
    pub cluster: RawCluster,
    pub broker: Option<RawBroker>,
    pub protocol: Option<RawProtocol>,
    pub network: Option<RawNetwork>,
    pub topics: Spanned<Vec<Spanned<RawTopic>>>,
    #[serde(default)]
    pub producers: Vec<RawProducer>,
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub nemesis: Option<RawNemesis>,
    pub expect: Option<RawExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub duration: Spanned<Lenient>,
    pub heal: Option<Spanned<Lenient>>,
    pub liveness: Option<Spanned<Lenient>>,
    pub seed: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub brokers: Spanned<i64>,
}

/// Kafka broker settings under Kafka's own names, which hold dots and so are quoted in the
/// file. Integers are [`KafkaInt`], so that `"30s"` written for milliseconds gets a fix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBroker {
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: Option<Spanned<KafkaInt>>,
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: Option<bool>,
    #[serde(rename = "replica.lag.time.max.ms")]
    pub replica_lag_time_max_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "replica.fetch.wait.max.ms")]
    pub replica_fetch_wait_max_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "replica.high.watermark.checkpoint.interval.ms")]
    pub replica_high_watermark_checkpoint_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "log.flush.interval.messages")]
    pub log_flush_interval_messages: Option<Spanned<KafkaInt>>,
    #[serde(rename = "log.flush.interval.ms")]
    pub log_flush_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "retention.ms")]
    pub retention_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "retention.bytes")]
    pub retention_bytes: Option<Spanned<KafkaInt>>,
    #[serde(rename = "broker.session.timeout.ms")]
    pub broker_session_timeout_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "broker.heartbeat.interval.ms")]
    pub broker_heartbeat_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "request.timeout.ms")]
    pub request_timeout_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "log.retention.check.interval.ms")]
    pub log_retention_check_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "offsets.topic.num.partitions")]
    pub offsets_topic_num_partitions: Option<Spanned<KafkaInt>>,
    #[serde(rename = "offsets.topic.replication.factor")]
    pub offsets_topic_replication_factor: Option<Spanned<KafkaInt>>,
    #[serde(rename = "offsets.commit.timeout.ms")]
    pub offsets_commit_timeout_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    pub group_initial_rebalance_delay_ms: Option<Spanned<KafkaInt>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProtocol {
    pub truncation: Option<Spanned<String>>,
    pub eligible_leader_replicas: Option<bool>,
    pub strict_min_isr: Option<bool>,
    pub high_watermark_isr: Option<Spanned<String>>,
    pub isr_expansion: Option<Spanned<String>>,
    pub offset_commit_generation_check: Option<bool>,
    pub consumer_truncation_detection: Option<bool>,
    pub producer_state_rebuild: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency: Option<Spanned<Lenient>>,
    pub loss: Option<Spanned<f64>>,
    pub duplicate: Option<Spanned<f64>>,
    pub ordered: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: Spanned<String>,
    pub partitions: Spanned<i64>,
    pub replication_factor: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProducer {
    pub name: Spanned<String>,
    pub topic: Spanned<String>,
    pub acks: Option<Spanned<Lenient>>,
    pub idempotent: Option<Spanned<bool>>,
    pub rate: Spanned<i64>,
    pub keys: Option<Spanned<i64>>,
    #[serde(rename = "linger.ms")]
    pub linger_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "batch.size")]
    pub batch_size: Option<Spanned<KafkaInt>>,
    #[serde(rename = "max.in.flight.requests.per.connection")]
    pub max_in_flight: Option<Spanned<KafkaInt>>,
    pub retries: Option<Spanned<KafkaInt>>,
    #[serde(rename = "retry.backoff.ms")]
    pub retry_backoff_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "retry.backoff.max.ms")]
    pub retry_backoff_max_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "request.timeout.ms")]
    pub request_timeout_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "delivery.timeout.ms")]
    pub delivery_timeout_ms: Option<Spanned<KafkaInt>>,
}

/// A consumer entry; with `members = N` it stands for N consumer nodes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    pub name: Spanned<String>,
    pub group: Option<Spanned<String>>,
    pub members: Option<Spanned<i64>>,
    pub topics: Names,
    pub mode: Option<Spanned<String>>,
    pub commit: Option<Spanned<String>>,
    pub auto_offset_reset: Option<Spanned<String>>,
    pub processing: Option<Spanned<Lenient>>,
    #[serde(rename = "auto.commit.interval.ms")]
    pub auto_commit_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "session.timeout.ms")]
    pub session_timeout_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "heartbeat.interval.ms")]
    pub heartbeat_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "max.poll.interval.ms")]
    pub max_poll_interval_ms: Option<Spanned<KafkaInt>>,
    #[serde(rename = "partition.assignment.strategy")]
    pub assignor: Option<Spanned<String>>,
    #[serde(rename = "max.poll.records")]
    pub max_poll_records: Option<Spanned<KafkaInt>>,
}

/// One fault of the timeline. The keys of every kind are accepted here; validation refuses
/// a key that does not belong to the fault's `kind`, naming those that do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: Spanned<Lenient>,
    pub kind: Spanned<String>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<Lenient>>,
    pub groups: Option<Spanned<Vec<Names>>>,
    pub from: Option<Names>,
    pub to: Option<Names>,
    pub nodes: Option<Names>,
    pub lose_unflushed: Option<Spanned<bool>>,
    pub offset: Option<Spanned<Lenient>>,
    pub drift_ppm: Option<Spanned<i64>>,
    pub rate: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    pub kinds: Names,
    pub interval: Option<Spanned<Lenient>>,
    pub duration: Option<Spanned<Lenient>>,
    pub targets: Option<Names>,
    pub roles: Option<Names>,
    pub concurrency: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub outcome: Option<Spanned<String>>,
    pub violations: Option<Names>,
    pub allowed: Option<Names>,
}

/// A string, or a number where a string is expected. Durations and `acks` are strings,
/// but people write `duration = 30` or `acks = 1`; keeping the number lets validation say
/// exactly what to write instead of reporting a type error.
#[derive(Clone, Debug, PartialEq)]
pub enum Lenient {
    Text(String),
    /// The number as TOML wrote it, e.g. `30` or `1.5`.
    Number(String),
}

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor)
    }
}

struct LenientVisitor;

impl Visitor<'_> for LenientVisitor {
    type Value = Lenient;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Lenient, E> {
        Ok(Lenient::Text(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lenient, E> {
        Ok(Lenient::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lenient, E> {
        Ok(Lenient::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lenient, E> {
        Ok(Lenient::Number(v.to_string()))
    }
}

/// An integer Kafka setting: a TOML integer, or a string where an integer is expected.
/// Kafka counts time in integer milliseconds while the rest of the file writes durations
/// (`"30s"`); keeping the string lets validation say which integer to write instead.
#[derive(Clone, Debug, PartialEq)]
pub enum KafkaInt {
    Int(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for KafkaInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KafkaIntVisitor)
    }
}

struct KafkaIntVisitor;

impl Visitor<'_> for KafkaIntVisitor {
    type Value = KafkaInt;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KafkaInt, E> {
        Ok(KafkaInt::Text(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KafkaInt, E> {
        Ok(KafkaInt::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KafkaInt, E> {
        i64::try_from(v)
            .map(KafkaInt::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys serde accepts for `T`, from its "unknown field" error.
    fn keys_of<T: for<'de> Deserialize<'de> + fmt::Debug>() -> Vec<String> {
        let err = toml::from_str::<T>("zzz = 1").unwrap_err();
        err.message().split('`').skip(3).step_by(2).map(String::from).collect()
    }

    #[test]
    fn tables_match_the_structs() {
        let actual = [
            keys_of::<RawScenario>(),
            keys_of::<RawRun>(),
            keys_of::<RawCluster>(),
            keys_of::<RawBroker>(),
            keys_of::<RawProtocol>(),
            keys_of::<RawNetwork>(),
            keys_of::<RawTopic>(),
            keys_of::<RawProducer>(),
            keys_of::<RawConsumer>(),
            keys_of::<RawFault>(),
            keys_of::<RawNemesis>(),
            keys_of::<RawExpect>(),
        ];
        assert_eq!(actual.len(), TABLES.len());
        for ((table, keys), actual) in TABLES.iter().zip(actual) {
            assert_eq!(*keys, actual, "{table}");
        }
    }
}
