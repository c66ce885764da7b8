//! The Kafka side of a scenario: `[broker]`, Kafka's settings under Kafka's own names,
//! units (integer milliseconds) and defaults, and `[protocol]`, the historical variants of
//! the replication protocol. Also what to say about a `[broker]` key kafsim does not take.

use super::error::Problem;
use super::model::{BrokerSpec, HighWatermarkIsr, IsrExpansion, ProtocolSpec, Truncation};
use super::raw::{RawBroker, RawProtocol};
use super::settings::{Setting, get, get_u32, set_or_never};
use super::values::one_of;

const MIN_INSYNC_REPLICAS: Setting = Setting::count(
    "min.insync.replicas",
    "how many in-sync replicas an acks=all write needs",
    "1 (Kafka's default) or more; above a topic's replication factor, every acks=all write to \
     it fails with NOT_ENOUGH_REPLICAS",
);
const REPLICA_LAG_TIME_MAX_MS: Setting = Setting::ms(
    "replica.lag.time.max.ms",
    "how long a follower may fall behind before the leader removes it from the ISR",
    "milliseconds, greater than 0 (Kafka's default: 30000)",
);
const REPLICA_FETCH_WAIT_MAX_MS: Setting = Setting::ms(
    "replica.fetch.wait.max.ms",
    "how long a follower's fetch may wait at the leader for new records",
    "milliseconds, greater than 0 (Kafka's default: 500)",
);
const REPLICA_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS: Setting = Setting::ms(
    "replica.high.watermark.checkpoint.interval.ms",
    "how often a broker writes its high watermarks to disk",
    "milliseconds, greater than 0 (Kafka's default: 5000)",
);
const LOG_FLUSH_INTERVAL_MESSAGES: Setting = Setting::count(
    "log.flush.interval.messages",
    "how many records a partition's log takes before it is flushed to disk",
    "an integer greater than 0, or 9223372036854775807 (Kafka's default) for never",
)
.at_most(i64::MAX, "")
.never(i64::MAX);
/// Kafka's default is no value, which falls back to a scheduler interval of
/// `Long.MAX_VALUE`: that value also reads as never.
const LOG_FLUSH_INTERVAL_MS: Setting = Setting::ms(
    "log.flush.interval.ms",
    "how long a record may stay in memory before its log is flushed to disk",
    "milliseconds, greater than 0; leave it out (Kafka's default) to never flush on a timer",
)
.never(i64::MAX);
const RETENTION_MS: Setting = Setting::ms(
    "retention.ms",
    "how long a partition keeps a record",
    "milliseconds, greater than 0, or -1 for no limit (Kafka's default: 604800000, 7 days)",
)
.never(-1);
const RETENTION_BYTES: Setting = Setting::count(
    "retention.bytes",
    "how many bytes of records a partition keeps",
    "an integer greater than 0, or -1 (Kafka's default) for no limit",
)
.at_most(i64::MAX, "")
.never(-1);
const BROKER_SESSION_TIMEOUT_MS: Setting = Setting::ms(
    "broker.session.timeout.ms",
    "how long the controller waits for a broker's heartbeat before fencing the broker",
    "milliseconds, more than broker.heartbeat.interval.ms (Kafka's default: 9000)",
);
const BROKER_HEARTBEAT_INTERVAL_MS: Setting = Setting::ms(
    "broker.heartbeat.interval.ms",
    "how often a broker sends the controller a heartbeat",
    "milliseconds, greater than 0 (Kafka's default: 2000)",
);
const REQUEST_TIMEOUT_MS: Setting = Setting::ms(
    "request.timeout.ms",
    "how long an acks=all produce may wait for the in-sync replicas",
    "milliseconds, greater than 0 (Kafka's default: 30000)",
);
const LOG_RETENTION_CHECK_INTERVAL_MS: Setting = Setting::ms(
    "log.retention.check.interval.ms",
    "how often a broker deletes records that retention.ms or retention.bytes let go",
    "milliseconds, greater than 0 (Kafka's default: 300000, 5 minutes)",
);
const OFFSETS_TOPIC_NUM_PARTITIONS: Setting = Setting::count(
    "offsets.topic.num.partitions",
    "how many partitions __consumer_offsets has (a group's coordinator leads one of them)",
    "from 1 to 1000 (Kafka's default: 50)",
)
.at_most(1000, "at most 1000");
/// Kafka's value is a `short`; the cluster's size bounds it further, checked with the
/// consumers (`validate`), as only a consumer group makes `__consumer_offsets` exist.
const OFFSETS_TOPIC_REPLICATION_FACTOR: Setting = Setting::count(
    "offsets.topic.replication.factor",
    "how many replicas each partition of __consumer_offsets has",
    "from 1 to the number of brokers (Kafka's default: 3)",
)
.at_most(i16::MAX as i64, "at most 32767");
const OFFSETS_COMMIT_TIMEOUT_MS: Setting = Setting::ms(
    "offsets.commit.timeout.ms",
    "how long an offset commit waits for its record to be replicated before it fails",
    "milliseconds, greater than 0 (Kafka's default: 5000)",
);
const GROUP_INITIAL_REBALANCE_DELAY_MS: Setting = Setting::ms(
    "group.initial.rebalance.delay.ms",
    "how long an empty group's first rebalance waits for more members to join",
    "milliseconds, 0 or more (Kafka's default: 3000)",
)
.at_least(0);

/// `[broker]`; an absent table or key is Kafka's default.
pub fn broker(raw: Option<&RawBroker>) -> Result<BrokerSpec, Problem> {
    let defaults = BrokerSpec::kafka_defaults();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let d = &defaults;
    let spec = BrokerSpec {
        min_insync_replicas: get_u32(
            &raw.min_insync_replicas,
            &MIN_INSYNC_REPLICAS,
            d.min_insync_replicas,
        )?,
        unclean_leader_election_enable: raw
            .unclean_leader_election_enable
            .unwrap_or(d.unclean_leader_election_enable),
        replica_lag_time_max_ms: get(
            &raw.replica_lag_time_max_ms,
            &REPLICA_LAG_TIME_MAX_MS,
            d.replica_lag_time_max_ms,
        )?,
        replica_fetch_wait_max_ms: get(
            &raw.replica_fetch_wait_max_ms,
            &REPLICA_FETCH_WAIT_MAX_MS,
            d.replica_fetch_wait_max_ms,
        )?,
        replica_high_watermark_checkpoint_interval_ms: get(
            &raw.replica_high_watermark_checkpoint_interval_ms,
            &REPLICA_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS,
            d.replica_high_watermark_checkpoint_interval_ms,
        )?,
        log_flush_interval_messages: set_or_never(
            &raw.log_flush_interval_messages,
            &LOG_FLUSH_INTERVAL_MESSAGES,
        )?
        .unwrap_or(d.log_flush_interval_messages),
        log_flush_interval_ms: set_or_never(&raw.log_flush_interval_ms, &LOG_FLUSH_INTERVAL_MS)?
            .unwrap_or(d.log_flush_interval_ms),
        retention_ms: set_or_never(&raw.retention_ms, &RETENTION_MS)?.unwrap_or(d.retention_ms),
        retention_bytes: set_or_never(&raw.retention_bytes, &RETENTION_BYTES)?
            .unwrap_or(d.retention_bytes),
        broker_session_timeout_ms: get(
            &raw.broker_session_timeout_ms,
            &BROKER_SESSION_TIMEOUT_MS,
            d.broker_session_timeout_ms,
        )?,
        broker_heartbeat_interval_ms: get(
            &raw.broker_heartbeat_interval_ms,
            &BROKER_HEARTBEAT_INTERVAL_MS,
            d.broker_heartbeat_interval_ms,
        )?,
        request_timeout_ms: get(
            &raw.request_timeout_ms,
            &REQUEST_TIMEOUT_MS,
            d.request_timeout_ms,
        )?,
        log_retention_check_interval_ms: get(
            &raw.log_retention_check_interval_ms,
            &LOG_RETENTION_CHECK_INTERVAL_MS,
            d.log_retention_check_interval_ms,
        )?,
        offsets_topic_num_partitions: get_u32(
            &raw.offsets_topic_num_partitions,
            &OFFSETS_TOPIC_NUM_PARTITIONS,
            d.offsets_topic_num_partitions,
        )?,
        offsets_topic_replication_factor: get_u32(
            &raw.offsets_topic_replication_factor,
            &OFFSETS_TOPIC_REPLICATION_FACTOR,
            d.offsets_topic_replication_factor,
        )?,
        offsets_commit_timeout_ms: get(
            &raw.offsets_commit_timeout_ms,
            &OFFSETS_COMMIT_TIMEOUT_MS,
            d.offsets_commit_timeout_ms,
        )?,
        group_initial_rebalance_delay_ms: get(
            &raw.group_initial_rebalance_delay_ms,
            &GROUP_INITIAL_REBALANCE_DELAY_MS,
            d.group_initial_rebalance_delay_ms,
        )?,
    };
    fetch_wait_within_lag_time(raw, &spec)?;
    session_outlasts_heartbeat(raw, &spec)?;
    Ok(spec)
}

/// Kafka refuses to start when a follower's fetch may wait longer than the lag limit.
fn fetch_wait_within_lag_time(raw: &RawBroker, spec: &BrokerSpec) -> Result<(), Problem> {
    let (wait, lag) = (spec.replica_fetch_wait_max_ms, spec.replica_lag_time_max_ms);
    let (span, message, label) = match (
        &raw.replica_fetch_wait_max_ms,
        &raw.replica_lag_time_max_ms,
    ) {
        _ if wait <= lag => return Ok(()),
        (Some(w), lag_set) => (
            w.span(),
            format!(
                "`replica.fetch.wait.max.ms` ({wait}) exceeds `replica.lag.time.max.ms` ({lag})"
            ),
            if lag_set.is_some() { "above the lag limit" } else { "above the default lag limit" },
        ),
        (None, Some(l)) => (
            l.span(),
            format!(
                "`replica.lag.time.max.ms` ({lag}) is below `replica.fetch.wait.max.ms` ({wait})"
            ),
            "below the default fetch wait",
        ),
        (None, None) => return Ok(()),
    };
    Err(Problem::at(span, message).label(label).help(
        "Kafka refuses this configuration: a follower whose fetch waits longer than the lag \
         limit leaves the ISR whenever records are few; keep \"replica.fetch.wait.max.ms\" at \
         most \"replica.lag.time.max.ms\" (Kafka's defaults: 500 and 30000)",
    ))
}

fn session_outlasts_heartbeat(raw: &RawBroker, spec: &BrokerSpec) -> Result<(), Problem> {
    let (session, heartbeat) = (spec.broker_session_timeout_ms, spec.broker_heartbeat_interval_ms);
    let (span, message, label) =
        match (&raw.broker_session_timeout_ms, &raw.broker_heartbeat_interval_ms) {
            _ if session > heartbeat => return Ok(()),
            (Some(s), heartbeat_set) => (
                s.span(),
                format!(
                    "`broker.session.timeout.ms` ({session}) must exceed \
                     `broker.heartbeat.interval.ms` ({heartbeat})"
                ),
                if heartbeat_set.is_some() {
                    "not longer than the heartbeat interval"
                } else {
                    "not longer than the default heartbeat interval"
                },
            ),
            (None, Some(h)) => (
                h.span(),
                format!(
                    "`broker.heartbeat.interval.ms` ({heartbeat}) must be below \
                     `broker.session.timeout.ms` ({session})"
                ),
                "not shorter than the default session timeout",
            ),
            (None, None) => return Ok(()),
        };
    Err(Problem::at(span, message).label(label).help(
        "the controller fences a broker that sends no heartbeat for broker.session.timeout.ms, \
         so the session must outlast several heartbeats: raise \"broker.session.timeout.ms\" or \
         lower \"broker.heartbeat.interval.ms\" (Kafka's defaults: 9000 and 2000)",
    ))
}

/// Each `truncation` as the file writes it, and what it means.
const TRUNCATIONS: &[(&str, Truncation, &str)] = &[
    (
        "high-watermark",
        Truncation::HighWatermark,
        "before KIP-101: truncate to the replica's own high watermark",
    ),
    (
        "leader-epoch-kip101",
        Truncation::LeaderEpochKip101,
        "KIP-101 before KIP-279: truncate to the next epoch's start",
    ),
    (
        "leader-epoch",
        Truncation::LeaderEpoch,
        "KIP-101 with KIP-279 and KIP-320: the correct protocol (the default)",
    ),
];

/// Each `high_watermark_isr` as the file writes it, and what it means.
const HIGH_WATERMARK_ISRS: &[(&str, HighWatermarkIsr, &str)] = &[
    (
        "committed-and-pending",
        HighWatermarkIsr::CommittedAndPending,
        "the HW covers the committed and proposed ISR (the default)",
    ),
    ("proposed", HighWatermarkIsr::Proposed, "in an ISR shrink, HW over the new ISR alone (R11)"),
];

/// Each `isr_expansion` as the file writes it, and what it means.
const ISR_EXPANSIONS: &[(&str, IsrExpansion, &str)] = &[
    (
        "epoch-start",
        IsrExpansion::EpochStart,
        "follower reached the HW and the leader's epoch start (the default)",
    ),
    ("high-watermark", IsrExpansion::HighWatermarkOnly, "follower reached the HW alone (R9)"),
];

/// `[protocol]`; an absent table or key is the correct, modern protocol.
pub fn protocol(raw: Option<&RawProtocol>) -> Result<ProtocolSpec, Problem> {
    let modern = ProtocolSpec::modern();
    let Some(raw) = raw else {
        return Ok(modern);
    };
    Ok(ProtocolSpec {
        truncation: raw
            .truncation
            .as_ref()
            .map(|t| one_of(t, "truncation", TRUNCATIONS))
            .transpose()?
            .unwrap_or(modern.truncation),
        eligible_leader_replicas: raw
            .eligible_leader_replicas
            .unwrap_or(modern.eligible_leader_replicas),
        strict_min_isr: raw.strict_min_isr.unwrap_or(modern.strict_min_isr),
        high_watermark_isr: raw
            .high_watermark_isr
            .as_ref()
            .map(|h| one_of(h, "high_watermark_isr", HIGH_WATERMARK_ISRS))
            .transpose()?
            .unwrap_or(modern.high_watermark_isr),
        isr_expansion: raw
            .isr_expansion
            .as_ref()
            .map(|e| one_of(e, "isr_expansion", ISR_EXPANSIONS))
            .transpose()?
            .unwrap_or(modern.isr_expansion),
        offset_commit_generation_check: raw
            .offset_commit_generation_check
            .unwrap_or(modern.offset_commit_generation_check),
        consumer_truncation_detection: raw
            .consumer_truncation_detection
            .unwrap_or(modern.consumer_truncation_detection),
        producer_state_rebuild: raw.producer_state_rebuild.unwrap_or(modern.producer_state_rebuild),
    })
}

/// Why kafsim does not take a key that Kafka has.
pub enum KafkaKey {
    /// A Kafka broker setting that does not change what the simulated replication does.
    NotSimulated,
    /// Kafka's other name for a setting kafsim takes: `key`, converted as `how` says.
    OtherName { key: &'static str, how: &'static str },
}

/// Well-known Kafka broker settings that kafsim does not simulate. Not every Kafka
/// setting: any other unknown key gets the usual list of accepted keys.
const NOT_SIMULATED: &[&str] = &[
    "advertised.listeners",
    "auto.create.topics.enable",
    "auto.leader.rebalance.enable",
    "broker.id",
    "compression.type",
    "controlled.shutdown.enable",
    "controller.quorum.voters",
    "default.replication.factor",
    "delete.topic.enable",
    "leader.imbalance.check.interval.seconds",
    "listeners",
    "log.cleaner.enable",
    "log.cleanup.policy",
    "log.dir",
    "log.dirs",
    "log.flush.scheduler.interval.ms",
    "log.roll.hours",
    "log.roll.ms",
    "log.segment.bytes",
    "message.max.bytes",
    "node.id",
    "num.io.threads",
    "num.network.threads",
    "num.partitions",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "process.roles",
    "replica.fetch.max.bytes",
    "replica.fetch.min.bytes",
    "replica.socket.timeout.ms",
    "socket.receive.buffer.bytes",
    "socket.request.max.bytes",
    "socket.send.buffer.bytes",
    "transaction.state.log.min.isr",
    "transaction.state.log.replication.factor",
    "zookeeper.connect",
];

/// Kafka's other names for settings kafsim takes (broker-level for topic-level, another
/// unit, or a client config the file names after the contract), by table, and how to
/// convert.
const OTHER_NAMES: &[(&str, &str, &str, &str)] = &[
    ("[broker]", "log.retention.ms", "retention.ms", ""),
    ("[broker]", "log.retention.minutes", "retention.ms", ", in milliseconds (minutes × 60000)"),
    ("[broker]", "log.retention.hours", "retention.ms", ", in milliseconds (hours × 3600000)"),
    ("[broker]", "log.retention.bytes", "retention.bytes", ""),
    ("[broker]", "flush.messages", "log.flush.interval.messages", ""),
    ("[broker]", "flush.ms", "log.flush.interval.ms", ""),
    ("[[producers]]", "enable.idempotence", "idempotent", ""),
    ("[[consumers]]", "group.id", "group", ""),
    (
        "[[consumers]]",
        "enable.auto.commit",
        "commit",
        " (true: commit = \"auto\"; false: \"after-process\" or \"before-process\")",
    ),
    ("[[consumers]]", "auto.offset.reset", "auto_offset_reset", ""),
];

/// What kafsim knows about an unknown key of `table`, if it is a Kafka setting.
pub fn kafka_key(table: &str, key: &str) -> Option<KafkaKey> {
    if table == "[broker]" && NOT_SIMULATED.contains(&key) {
        return Some(KafkaKey::NotSimulated);
    }
    OTHER_NAMES
        .iter()
        .find(|(t, name, _, _)| *t == table && *name == key)
        .map(|&(_, _, key, how)| KafkaKey::OtherName { key, how })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::raw::TABLES;
    use crate::scenario::values::fits_one_line;

    #[test]
    fn kafka_key_lists_are_not_keys_kafsim_takes() {
        let keys_of = |table: &str| TABLES.iter().find(|(t, _)| *t == table).unwrap().1;
        for key in NOT_SIMULATED {
            assert!(!keys_of("[broker]").contains(key), "{key}");
        }
        for (table, name, target, _) in OTHER_NAMES {
            assert!(!keys_of(table).contains(name), "{name}");
            assert!(keys_of(table).contains(target), "{target}");
        }
        assert!(NOT_SIMULATED.is_sorted());
    }

    #[test]
    fn value_meanings_fit_one_line() {
        let lines = TRUNCATIONS
            .iter()
            .map(|(name, _, meaning)| (name, meaning))
            .chain(HIGH_WATERMARK_ISRS.iter().map(|(name, _, meaning)| (name, meaning)))
            .chain(ISR_EXPANSIONS.iter().map(|(name, _, meaning)| (name, meaning)));
        for (name, meaning) in lines {
            assert!(fits_one_line(name, meaning), "{name}: {meaning}");
        }
    }
}
