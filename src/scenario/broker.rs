//! The Kafka side of a scenario: `[broker]`, Kafka's settings under Kafka's own names,
//! units (integer milliseconds) and defaults, and `[protocol]`, the historical variants of
//! the replication protocol. Also what to say about a `[broker]` key kafsim does not take.

use std::ops::Range;

use toml::Spanned;

use super::duration::parse_duration;
use super::error::Problem;
use super::model::{BrokerSpec, HighWatermarkIsr, IsrExpansion, ProtocolSpec, Truncation};
use super::raw::{KafkaInt, RawBroker, RawProtocol};
use super::spelling::did_you_mean;

/// The longest time setting: far beyond any run, and small enough that simulated time
/// (`u64` nanoseconds) never overflows adding it.
const MAX_MS: i64 = 100 * 365 * 24 * 3600 * 1000;
const MAX_MS_LABEL: &str = "at most 3153600000000 (100 years)";

/// One integer of `[broker]`: how to check it and how to explain it.
struct Setting {
    key: &'static str,
    /// Completes "`key` is ...".
    meaning: &'static str,
    /// What the file may write, Kafka's default included.
    accepts: &'static str,
    /// Milliseconds: a duration string written instead gets its value in milliseconds.
    ms: bool,
    /// The value that means "never" or "no limit", read as `None`.
    never: Option<i64>,
    max: i64,
    max_label: &'static str,
}

impl Setting {
    const fn ms(key: &'static str, meaning: &'static str, accepts: &'static str) -> Setting {
        Setting {
            key,
            meaning,
            accepts,
            ms: true,
            never: None,
            max: MAX_MS,
            max_label: MAX_MS_LABEL,
        }
    }

    const fn never(self, value: i64) -> Setting {
        Setting { never: Some(value), ..self }
    }

    fn help(&self) -> String {
        format!("`{}` is {}: {}", self.key, self.meaning, self.accepts)
    }
}

const MIN_INSYNC_REPLICAS: Setting = Setting {
    key: "min.insync.replicas",
    meaning: "how many in-sync replicas an acks=all write needs",
    accepts: "1 (Kafka's default) or more; above a topic's replication factor, every acks=all \
              write to it fails with NOT_ENOUGH_REPLICAS",
    ms: false,
    never: None,
    max: i32::MAX as i64,
    max_label: "at most 2147483647",
};
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
const LOG_FLUSH_INTERVAL_MESSAGES: Setting = Setting {
    key: "log.flush.interval.messages",
    meaning: "how many records a partition's log takes before it is flushed to disk",
    accepts: "an integer greater than 0, or 9223372036854775807 (Kafka's default) for never",
    ms: false,
    never: Some(i64::MAX),
    max: i64::MAX,
    max_label: "",
};
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
const RETENTION_BYTES: Setting = Setting {
    key: "retention.bytes",
    meaning: "how many bytes of records a partition keeps",
    accepts: "an integer greater than 0, or -1 (Kafka's default) for no limit",
    ms: false,
    never: Some(-1),
    max: i64::MAX,
    max_label: "",
};
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

/// `[broker]`; an absent table or key is Kafka's default.
pub fn broker(raw: Option<&RawBroker>) -> Result<BrokerSpec, Problem> {
    let defaults = BrokerSpec::kafka_defaults();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let spec = BrokerSpec {
        // At most `i32::MAX`, checked: the conversion cannot saturate.
        min_insync_replicas: set(&raw.min_insync_replicas, &MIN_INSYNC_REPLICAS)?
            .map_or(defaults.min_insync_replicas, |v| u32::try_from(v).unwrap_or(u32::MAX)),
        unclean_leader_election_enable: raw
            .unclean_leader_election_enable
            .unwrap_or(defaults.unclean_leader_election_enable),
        replica_lag_time_max_ms: set(&raw.replica_lag_time_max_ms, &REPLICA_LAG_TIME_MAX_MS)?
            .unwrap_or(defaults.replica_lag_time_max_ms),
        replica_fetch_wait_max_ms: set(&raw.replica_fetch_wait_max_ms, &REPLICA_FETCH_WAIT_MAX_MS)?
            .unwrap_or(defaults.replica_fetch_wait_max_ms),
        replica_high_watermark_checkpoint_interval_ms: set(
            &raw.replica_high_watermark_checkpoint_interval_ms,
            &REPLICA_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS,
        )?
        .unwrap_or(defaults.replica_high_watermark_checkpoint_interval_ms),
        log_flush_interval_messages: set_or_never(
            &raw.log_flush_interval_messages,
            &LOG_FLUSH_INTERVAL_MESSAGES,
        )?
        .unwrap_or(defaults.log_flush_interval_messages),
        log_flush_interval_ms: set_or_never(&raw.log_flush_interval_ms, &LOG_FLUSH_INTERVAL_MS)?
            .unwrap_or(defaults.log_flush_interval_ms),
        retention_ms: set_or_never(&raw.retention_ms, &RETENTION_MS)?
            .unwrap_or(defaults.retention_ms),
        retention_bytes: set_or_never(&raw.retention_bytes, &RETENTION_BYTES)?
            .unwrap_or(defaults.retention_bytes),
        broker_session_timeout_ms: set(&raw.broker_session_timeout_ms, &BROKER_SESSION_TIMEOUT_MS)?
            .unwrap_or(defaults.broker_session_timeout_ms),
        broker_heartbeat_interval_ms: set(
            &raw.broker_heartbeat_interval_ms,
            &BROKER_HEARTBEAT_INTERVAL_MS,
        )?
        .unwrap_or(defaults.broker_heartbeat_interval_ms),
        request_timeout_ms: set(&raw.request_timeout_ms, &REQUEST_TIMEOUT_MS)?
            .unwrap_or(defaults.request_timeout_ms),
        log_retention_check_interval_ms: set(
            &raw.log_retention_check_interval_ms,
            &LOG_RETENTION_CHECK_INTERVAL_MS,
        )?
        .unwrap_or(defaults.log_retention_check_interval_ms),
        ..defaults.clone()
    };
    fetch_wait_within_lag_time(raw, &spec)?;
    session_outlasts_heartbeat(raw, &spec)?;
    Ok(spec)
}

/// A setting without a "never" value: `None` when the file leaves it out.
fn set(raw: &Option<Spanned<KafkaInt>>, setting: &Setting) -> Result<Option<u64>, Problem> {
    // Without a "never" value, a present setting is always a number.
    Ok(set_or_never(raw, setting)?.flatten())
}

/// `None` when the file leaves it out, `Some(None)` for the "never" value.
fn set_or_never(
    raw: &Option<Spanned<KafkaInt>>,
    setting: &Setting,
) -> Result<Option<Option<u64>>, Problem> {
    let Some(value) = raw else {
        return Ok(None);
    };
    let v = match value.get_ref() {
        KafkaInt::Int(v) => *v,
        KafkaInt::Text(text) => return Err(text_for_integer(value.span(), text, setting)),
    };
    if Some(v) == setting.never {
        return Ok(Some(None));
    }
    let problem = if v < 0 {
        Problem::at(value.span(), format!("`{}` cannot be negative ({v})", setting.key))
            .label("negative")
    } else if v == 0 {
        Problem::at(value.span(), format!("`{}` must be greater than 0", setting.key)).label("zero")
    } else if v > setting.max {
        Problem::at(value.span(), format!("`{}` is too large ({v})", setting.key))
            .label(setting.max_label)
    } else {
        return Ok(Some(Some(v.unsigned_abs())));
    };
    Err(problem.help(setting.help()))
}

/// A string where Kafka takes an integer: say which integer to write.
fn text_for_integer(span: Range<usize>, text: &str, setting: &Setting) -> Problem {
    let key = setting.key;
    let whole_ms = parse_duration(text)
        .ok()
        .filter(|d| setting.ms && d.as_nanos() % 1_000_000 == 0 && d.as_millis() > 0);
    if let Some(d) = whole_ms {
        return Problem::at(
            span,
            format!("wrong type: expected an integer of milliseconds, found string {text:?}"),
        )
        .label("a duration, not milliseconds")
        .help(format!(
            "Kafka's settings keep Kafka's units: write \"{key}\" = {} ({text} in milliseconds)",
            d.as_millis()
        ));
    }
    let problem =
        Problem::at(span, format!("wrong type: expected an integer, found string {text:?}"))
            .label("expected an integer");
    match text.trim().parse::<i64>() {
        Ok(n) => problem.help(format!("write the number without quotes: \"{key}\" = {n}")),
        Err(_) => problem.help(setting.help()),
    }
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
        ..modern.clone()
    })
}

/// The value of `values` the file names; otherwise every value with its meaning.
fn one_of<T: Copy>(
    raw: &Spanned<String>,
    key: &str,
    values: &[(&str, T, &str)],
) -> Result<T, Problem> {
    let text = raw.get_ref();
    if let Some(&(_, value, _)) = values.iter().find(|(name, _, _)| name == text) {
        return Ok(value);
    }
    let names: Vec<&str> = values.iter().map(|(name, _, _)| *name).collect();
    let list: String =
        values.iter().map(|(name, _, meaning)| format!("\n  \"{name}\": {meaning}")).collect();
    Err(Problem::at(raw.span(), format!("unknown {key} value `{text}`"))
        .label(format!("not a `{key}` value"))
        .help(format!("{}{key} is one of:{list}", did_you_mean(text, &names))))
}

/// Why kafsim does not take a `[broker]` key that Kafka has.
pub enum KafkaKey {
    /// A Kafka setting that does not change what the simulated replication does.
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
    "group.initial.rebalance.delay.ms",
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
    "offsets.topic.replication.factor",
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

/// Kafka's other names for settings kafsim takes (broker-level for topic-level, or
/// another unit), and how to convert.
const OTHER_NAMES: &[(&str, &str, &str)] = &[
    ("log.retention.ms", "retention.ms", ""),
    ("log.retention.minutes", "retention.ms", ", in milliseconds (minutes × 60000)"),
    ("log.retention.hours", "retention.ms", ", in milliseconds (hours × 3600000)"),
    ("log.retention.bytes", "retention.bytes", ""),
    ("flush.messages", "log.flush.interval.messages", ""),
    ("flush.ms", "log.flush.interval.ms", ""),
];

/// What kafsim knows about an unknown `[broker]` key, if it is a Kafka setting.
pub fn kafka_key(key: &str) -> Option<KafkaKey> {
    if NOT_SIMULATED.contains(&key) {
        return Some(KafkaKey::NotSimulated);
    }
    OTHER_NAMES
        .iter()
        .find(|(name, _, _)| *name == key)
        .map(|&(_, key, how)| KafkaKey::OtherName { key, how })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::raw::TABLES;

    #[test]
    fn kafka_key_lists_are_not_keys_kafsim_takes() {
        let (_, keys) = TABLES.iter().find(|(t, _)| *t == "[broker]").unwrap();
        for key in NOT_SIMULATED.iter().chain(OTHER_NAMES.iter().map(|(k, _, _)| k)) {
            assert!(!keys.contains(key), "{key}");
        }
        for (_, target, _) in OTHER_NAMES {
            assert!(keys.contains(target), "{target}");
        }
        assert!(NOT_SIMULATED.is_sorted());
    }

    /// The help lists one value a line; each must fit the report's width (100, less the
    /// help's indent and a margin) so that none wraps.
    #[test]
    fn value_meanings_fit_one_line() {
        let lines = TRUNCATIONS
            .iter()
            .map(|(name, _, meaning)| (name, meaning))
            .chain(HIGH_WATERMARK_ISRS.iter().map(|(name, _, meaning)| (name, meaning)))
            .chain(ISR_EXPANSIONS.iter().map(|(name, _, meaning)| (name, meaning)));
        for (name, meaning) in lines {
            let line = format!("  \"{name}\": {meaning}");
            assert!(line.chars().count() <= 88, "{line}");
        }
    }

    #[test]
    fn max_ms_fits_simulated_time() {
        assert_eq!(MAX_MS, 3_153_600_000_000);
        assert!(MAX_MS.unsigned_abs().checked_mul(1_000_000 * 5).is_some());
    }
}
