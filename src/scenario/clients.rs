//! `[[producers]]` and `[[consumers]]`: the clients' Kafka configs under Kafka's names and
//! defaults, and the rules Kafka's clients enforce when they start (`ConfigException`),
//! as scenario errors. A consumer entry with `members = N` becomes N consumer specs.
//!
//! Departures from Kafka: `retry.backoff.ms` must be above 0 (a retry without backoff
//! could spin in zero simulated time); with idempotence left at its default, Kafka also
//! throws on `max.in.flight.requests.per.connection` > 5 when acks is not "all" (its
//! check runs before it turns idempotence off), while kafsim lets that producer be.

use std::ops::Range;

use toml::Spanned;

use super::error::Problem;
use super::model::{
    Acks, AutoOffsetReset, CommitMode, ConsumerMode, ConsumerSpec, ProducerSpec, TopicSpec,
};
use super::names::{Nodes, no_repeats};
use super::raw::{KafkaInt, Lenient, RawConsumer, RawProducer};
use super::settings::{MAX_INT, Setting, get, get_u32, set};
use super::span::key_before;
use super::validate::topic_ref;
use super::values::{duration, int_in, names_non_empty, non_empty, one_of, written};
use crate::kafka::log::RECORD_SIZE_BYTES;
use crate::kafka::protocol::Assignor;

const MAX_RATE: i64 = 1_000_000;
const MAX_KEYS: i64 = 1_000_000;
const MAX_MEMBERS: i64 = 100;
/// Kafka's `MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION_FOR_IDEMPOTENCE`: the broker keeps the
/// last 5 batches of each producer to deduplicate retries.
const MAX_IN_FLIGHT_IDEMPOTENT: u32 = 5;

const LINGER_MS: Setting = Setting::ms(
    "linger.ms",
    "how long a batch waits for more records before it is sent",
    "milliseconds, 0 or more (Kafka's default: 5)",
)
.at_least(0);
const BATCH_SIZE: Setting = Setting::count(
    "batch.size",
    "the most bytes of records a batch holds (a record counts as 100 bytes)",
    "bytes, at least 100, one record (Kafka's default: 16384)",
)
.at_least(RECORD_SIZE_BYTES as i64);
const MAX_IN_FLIGHT: Setting = Setting::count(
    "max.in.flight.requests.per.connection",
    "how many produce requests may await an answer from one broker",
    "1 or more, at most 5 for an idempotent producer (Kafka's default: 5)",
);
const RETRIES: Setting = Setting::count(
    "retries",
    "how many times a failed batch is sent again (delivery.timeout.ms bounds it too)",
    "0 or more; an idempotent producer needs at least 1 (Kafka's default: 2147483647)",
)
.at_least(0);
const RETRY_BACKOFF_MS: Setting = Setting::ms(
    "retry.backoff.ms",
    "how long the producer waits before its first retry",
    "milliseconds, greater than 0 (Kafka's default: 100)",
);
const RETRY_BACKOFF_MAX_MS: Setting = Setting::ms(
    "retry.backoff.max.ms",
    "the longest wait between retries, which grows exponentially from retry.backoff.ms",
    "milliseconds, at least retry.backoff.ms (Kafka's default: 1000)",
);
const PRODUCER_REQUEST_TIMEOUT_MS: Setting = Setting::ms(
    "request.timeout.ms",
    "how long the producer waits for the answer to a produce request",
    "milliseconds, greater than 0 (Kafka's default: 30000)",
)
.at_most(MAX_INT, "at most 2147483647");
const DELIVERY_TIMEOUT_MS: Setting = Setting::ms(
    "delivery.timeout.ms",
    "how long a record may wait for its acknowledgement, retries included, before it fails",
    "milliseconds, at least linger.ms + request.timeout.ms (Kafka's default: 120000)",
)
.at_most(MAX_INT, "at most 2147483647");

/// A `[[producers]]` entry, its node registered in `nodes`.
pub fn producer(
    raw: &RawProducer,
    topics: &[TopicSpec],
    nodes: &mut Nodes,
) -> Result<ProducerSpec, Problem> {
    nodes.add_client(&raw.name, "producer")?;
    let topic = topic_ref(&raw.topic, topics)?;
    let acks = raw.acks.as_ref().map(acks).transpose()?.unwrap_or(Acks::All);
    let rate = int_in(
        &raw.rate,
        "rate",
        1..=MAX_RATE,
        "`rate` is records per simulated second: use an integer from 1 to 1000000",
    )?;
    let keys = raw
        .keys
        .as_ref()
        .map(|k| {
            int_in(
                k,
                "keys",
                0..=MAX_KEYS,
                "`keys` is the number of distinct keys, from 1 to 1000000, or 0 for records \
                 without a key (the sticky partitioner)",
            )
        })
        .transpose()?
        .unwrap_or(8);
    let d = ProducerSpec::kafka_defaults(raw.name.get_ref(), &topic, rate, keys);
    let linger_ms = get(&raw.linger_ms, &LINGER_MS, d.linger_ms)?;
    let request_timeout_ms =
        get(&raw.request_timeout_ms, &PRODUCER_REQUEST_TIMEOUT_MS, d.request_timeout_ms)?;
    let spec = ProducerSpec {
        acks,
        batch_size: get(&raw.batch_size, &BATCH_SIZE, d.batch_size)?,
        max_in_flight: get_u32(&raw.max_in_flight, &MAX_IN_FLIGHT, d.max_in_flight)?,
        retries: get_u32(&raw.retries, &RETRIES, d.retries)?,
        retry_backoff_ms: get(&raw.retry_backoff_ms, &RETRY_BACKOFF_MS, d.retry_backoff_ms)?,
        retry_backoff_max_ms: get(
            &raw.retry_backoff_max_ms,
            &RETRY_BACKOFF_MAX_MS,
            d.retry_backoff_max_ms,
        )?,
        delivery_timeout_ms: delivery_timeout_ms(
            raw,
            linger_ms + request_timeout_ms,
            d.delivery_timeout_ms,
        )?,
        linger_ms,
        request_timeout_ms,
        ..d
    };
    backoff_within_max(raw, &spec)?;
    Ok(ProducerSpec { idempotent: idempotent(raw, &spec)?, ..spec })
}

const ACKS_HELP: &str = "use acks = \"0\" (no answer awaited), acks = \"1\" (the leader's \
                         append) or acks = \"all\" (every in-sync replica)";

/// Kafka's spellings: `"0"`, `"1"`, `"all"` or `"-1"`, as a string or an integer.
fn acks(raw: &Spanned<Lenient>) -> Result<Acks, Problem> {
    match written(raw.get_ref()) {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        other => Err(Problem::at(raw.span(), format!("unknown acks `{other}`"))
            .label("not an acks setting")
            .help(ACKS_HELP)),
    }
}

/// Kafka's rule: a `delivery.timeout.ms` the file sets must cover `linger.ms` +
/// `request.timeout.ms` (`lingered`); left out, it is raised to that sum if need be.
fn delivery_timeout_ms(raw: &RawProducer, lingered: u64, default: u64) -> Result<u64, Problem> {
    let Some(value) = set(&raw.delivery_timeout_ms, &DELIVERY_TIMEOUT_MS)? else {
        return Ok(default.max(lingered));
    };
    if value >= lingered {
        return Ok(value);
    }
    let span = raw.delivery_timeout_ms.as_ref().map(Spanned::span).unwrap_or_default();
    Err(Problem::at(
        span,
        format!(
            "`delivery.timeout.ms` ({value}) is below `linger.ms` + `request.timeout.ms` \
             ({lingered})"
        ),
    )
    .label(format!("below {lingered}"))
    .help(format!(
        "Kafka refuses this configuration: a record may wait linger.ms in its batch, then \
         request.timeout.ms for an answer; raise \"delivery.timeout.ms\" to {lingered} or more, \
         or lower the others"
    )))
}

fn backoff_within_max(raw: &RawProducer, spec: &ProducerSpec) -> Result<(), Problem> {
    let (backoff, max) = (spec.retry_backoff_ms, spec.retry_backoff_max_ms);
    if backoff <= max {
        return Ok(());
    }
    let pair = Pair {
        low: ("retry.backoff.ms", &raw.retry_backoff_ms, backoff),
        high: ("retry.backoff.max.ms", &raw.retry_backoff_max_ms, max),
    };
    Err(pair.problem("above", "below").help(
        "retries wait retry.backoff.ms, then exponentially longer up to retry.backoff.max.ms: \
         keep \"retry.backoff.ms\" at most \"retry.backoff.max.ms\" (Kafka's defaults: 100 and \
         1000)",
    ))
}

/// `idempotent`, Kafka's `enable.idempotence`: left out, true when acks is "all" and
/// retries are allowed; set to true, Kafka's `ConfigException`s for what contradicts it.
fn idempotent(raw: &RawProducer, spec: &ProducerSpec) -> Result<bool, Problem> {
    let explicit = raw.idempotent.as_ref();
    if explicit.is_some_and(|i| !*i.get_ref()) {
        return Ok(false);
    }
    let enabled = match explicit {
        Some(set_true) => {
            idempotence_needs(set_true, spec)?;
            true
        }
        None => spec.acks == Acks::All && spec.retries > 0,
    };
    if enabled && spec.max_in_flight > MAX_IN_FLIGHT_IDEMPOTENT {
        let span = raw.max_in_flight.as_ref().map(Spanned::span).unwrap_or_default();
        let default = if explicit.is_some() { "" } else { " (idempotent by default)" };
        return Err(Problem::at(
            span,
            format!(
                "an idempotent producer{default} allows at most 5 requests in flight, not {}",
                spec.max_in_flight
            ),
        )
        .label("at most 5 with idempotence")
        .help(
            "Kafka refuses this configuration (\"max.in.flight.requests.per.connection must \
             be set to at most 5\"): a broker remembers each producer's last 5 batches to \
             deduplicate retries; lower it to 5 or less, or set idempotent = false",
        ));
    }
    Ok(enabled)
}

/// What `idempotent = true` (at `set_true`) needs of acks and retries.
fn idempotence_needs(set_true: &Spanned<bool>, spec: &ProducerSpec) -> Result<(), Problem> {
    let (message, label, help) = if spec.acks != Acks::All {
        (
            "an idempotent producer needs acks = \"all\"",
            "needs acks = \"all\"",
            "Kafka refuses this configuration (\"Must set acks to all in order to use the \
             idempotent producer\"): set acks = \"all\", or remove `idempotent` (without it, a \
             producer with acks = \"0\" or \"1\" is not idempotent)",
        )
    } else if spec.retries == 0 {
        (
            "an idempotent producer needs retries",
            "needs \"retries\" above 0",
            "Kafka refuses this configuration (\"Must set retries to non-zero when using the \
             idempotent producer\"): raise \"retries\", or remove `idempotent`",
        )
    } else {
        return Ok(());
    };
    Err(Problem::at(set_true.span(), message).label(label).help(help))
}

const AUTO_COMMIT_INTERVAL_MS: Setting = Setting::ms(
    "auto.commit.interval.ms",
    "how often an auto-committing consumer commits the positions of what it polled",
    "milliseconds, greater than 0 (Kafka's default: 5000)",
)
.at_most(MAX_INT, "at most 2147483647");
/// The range is the broker's: `group.min.session.timeout.ms` and
/// `group.max.session.timeout.ms` (defaults 6000 and 1800000); outside it, the coordinator
/// refuses the JoinGroup with INVALID_SESSION_TIMEOUT.
const SESSION_TIMEOUT_MS: Setting = Setting::ms(
    "session.timeout.ms",
    "how long the coordinator waits for a member's heartbeat before removing it from the group",
    "milliseconds from 6000 to 1800000, the broker's group.min.session.timeout.ms and \
     group.max.session.timeout.ms (Kafka's default: 45000)",
)
.at_least(6_000)
.at_most(1_800_000, "at most 1800000");
const HEARTBEAT_INTERVAL_MS: Setting = Setting::ms(
    "heartbeat.interval.ms",
    "how often a member sends the coordinator a heartbeat",
    "milliseconds, greater than 0 and below session.timeout.ms (Kafka's default: 3000)",
)
.at_most(MAX_INT, "at most 2147483647");
const MAX_POLL_INTERVAL_MS: Setting = Setting::ms(
    "max.poll.interval.ms",
    "how long a member may go without polling before it leaves the group",
    "milliseconds, greater than 0 (Kafka's default: 300000)",
)
.at_most(MAX_INT, "at most 2147483647");
const MAX_POLL_RECORDS: Setting = Setting::count(
    "max.poll.records",
    "the most records one poll returns",
    "1 or more (Kafka's default: 500)",
);

/// Each `mode` as the file writes it, and what it means.
const MODES: &[(&str, ConsumerMode, &str)] = &[
    ("subscribe", ConsumerMode::Subscribe, "the group's coordinator assigns partitions (default)"),
    ("assign", ConsumerMode::Assign, "every partition of its topics, commits outside a rebalance"),
];

/// Each `commit` as the file writes it, and what it means.
const COMMITS: &[(&str, CommitMode, &str)] = &[
    ("auto", CommitMode::Auto, "every auto.commit.interval.ms, inside poll (the default)"),
    (
        "after-process",
        CommitMode::AfterProcess,
        "commitSync after processing a poll: at least once",
    ),
    (
        "before-process",
        CommitMode::BeforeProcess,
        "commitSync before processing: at most once (C1)",
    ),
];

/// Each `auto_offset_reset` as the file writes it, and what it means.
const RESETS: &[(&str, AutoOffsetReset, &str)] = &[
    ("earliest", AutoOffsetReset::Earliest, "from the partition's first record"),
    ("latest", AutoOffsetReset::Latest, "from the partition's end (Kafka's default)"),
    ("none", AutoOffsetReset::None, "fail: the consumer does not read the partition"),
];

/// Each `partition.assignment.strategy` as the file writes it, Kafka's class names
/// included, and what it means.
const ASSIGNORS: &[(&str, Assignor, &str)] = &[
    ("range", Assignor::Range, "per topic, consecutive ranges of partitions (the default)"),
    ("roundrobin", Assignor::RoundRobin, "all partitions dealt one by one over the members"),
    ("org.apache.kafka.clients.consumer.RangeAssignor", Assignor::Range, "same as \"range\""),
    (
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        Assignor::RoundRobin,
        "same as \"roundrobin\"",
    ),
];

/// A `[[consumers]]` entry: one spec per member, each node registered in `nodes`. `text`
/// is the file's, to point at keys.
pub fn consumers(
    raw: &RawConsumer,
    topics: &[TopicSpec],
    nodes: &mut Nodes,
    text: &str,
) -> Result<Vec<ConsumerSpec>, Problem> {
    if raw.group.is_none() {
        no_group_only_keys(raw, text)?;
    }
    let members = raw
        .members
        .as_ref()
        .map(|m| {
            int_in(
                m,
                "members",
                1..=MAX_MEMBERS,
                "`members` is how many consumer nodes share this entry's settings, from 1 to \
                 100; with N above 1 they are named <name>1..<name>N",
            )
        })
        .transpose()?
        .unwrap_or(1);
    let names = match members {
        1 => {
            nodes.add_client(&raw.name, "consumer")?;
            vec![raw.name.get_ref().clone()]
        }
        n => nodes.add_members(&raw.name, n)?,
    };
    let template = consumer(raw, topics)?;
    assert_eq!(names.len(), members as usize);
    Ok(names.into_iter().map(|name| ConsumerSpec { name, ..template.clone() }).collect())
}

/// The settings every member of the entry shares (named as the entry).
fn consumer(raw: &RawConsumer, topics: &[TopicSpec]) -> Result<ConsumerSpec, Problem> {
    let listed = names_non_empty(
        &raw.topics,
        "topics",
        "list the topics it reads, e.g. topics = [\"events\"]",
    )?;
    no_repeats(listed)?;
    let topics: Vec<String> =
        listed.iter().map(|t| topic_ref(t, topics)).collect::<Result<_, _>>()?;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let groupless = ConsumerSpec::groupless(raw.name.get_ref(), &topics);
    let poll = ConsumerSpec {
        max_poll_records: get_u32(
            &raw.max_poll_records,
            &MAX_POLL_RECORDS,
            groupless.max_poll_records,
        )?,
        processing_ms: raw
            .processing
            .as_ref()
            .map(processing_ms)
            .transpose()?
            .unwrap_or(groupless.processing_ms),
        ..groupless
    };
    let Some(group) = raw.group.as_ref() else {
        return Ok(poll);
    };
    let group = non_empty(group, "group", "name the consumer group, e.g. group = \"g1\"")?;
    let d = ConsumerSpec::kafka_defaults(raw.name.get_ref(), &topics, &group);
    let spec = ConsumerSpec {
        mode: pick(&raw.mode, "mode", MODES)?.unwrap_or(d.mode),
        commit: pick(&raw.commit, "commit", COMMITS)?.unwrap_or(d.commit),
        auto_offset_reset: pick(&raw.auto_offset_reset, "auto_offset_reset", RESETS)?
            .unwrap_or(d.auto_offset_reset),
        assignor: pick(&raw.assignor, "partition.assignment.strategy", ASSIGNORS)?
            .unwrap_or(d.assignor),
        auto_commit_interval_ms: get(
            &raw.auto_commit_interval_ms,
            &AUTO_COMMIT_INTERVAL_MS,
            d.auto_commit_interval_ms,
        )?,
        session_timeout_ms: get(
            &raw.session_timeout_ms,
            &SESSION_TIMEOUT_MS,
            d.session_timeout_ms,
        )?,
        heartbeat_interval_ms: get(
            &raw.heartbeat_interval_ms,
            &HEARTBEAT_INTERVAL_MS,
            d.heartbeat_interval_ms,
        )?,
        max_poll_interval_ms: get(
            &raw.max_poll_interval_ms,
            &MAX_POLL_INTERVAL_MS,
            d.max_poll_interval_ms,
        )?,
        max_poll_records: poll.max_poll_records,
        processing_ms: poll.processing_ms,
        ..d
    };
    auto_commit_interval_needs_auto(raw, &spec)?;
    heartbeat_within_session(raw, &spec)?;
    Ok(spec)
}

/// An enumerated setting, `None` when the file leaves it out.
fn pick<T: Copy>(
    value: &Option<Spanned<String>>,
    key: &str,
    values: &[(&str, T, &str)],
) -> Result<Option<T>, Problem> {
    value.as_ref().map(|v| one_of(v, key, values)).transpose()
}

/// `processing`: a duration, in whole milliseconds as the model counts it.
fn processing_ms(raw: &Spanned<Lenient>) -> Result<u64, Problem> {
    let d = duration(raw)?;
    if d.as_nanos() % 1_000_000 != 0 {
        return Err(Problem::at(
            raw.span(),
            format!(
                "`processing` of {} is not a whole number of milliseconds",
                written(raw.get_ref())
            ),
        )
        .label("not whole milliseconds")
        .help(
            "the application's work on a poll is counted in milliseconds: write e.g. \
               processing = \"10ms\" (0ms: no work)",
        ));
    }
    Ok(d.as_millis())
}

/// The keys that only mean something in a consumer group, and their spans.
fn group_only_keys(raw: &RawConsumer) -> [(&'static str, Option<Range<usize>>); 9] {
    let int = |v: &Option<Spanned<KafkaInt>>| v.as_ref().map(Spanned::span);
    let text = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
    [
        ("members", raw.members.as_ref().map(Spanned::span)),
        ("mode", text(&raw.mode)),
        ("commit", text(&raw.commit)),
        ("auto_offset_reset", text(&raw.auto_offset_reset)),
        ("auto.commit.interval.ms", int(&raw.auto_commit_interval_ms)),
        ("session.timeout.ms", int(&raw.session_timeout_ms)),
        ("heartbeat.interval.ms", int(&raw.heartbeat_interval_ms)),
        ("max.poll.interval.ms", int(&raw.max_poll_interval_ms)),
        ("partition.assignment.strategy", text(&raw.assignor)),
    ]
}

/// A consumer without `group` reads everything from offset 0 and commits nothing, so a
/// group setting there is a mistake: point at the first one.
fn no_group_only_keys(raw: &RawConsumer, text: &str) -> Result<(), Problem> {
    let Some((key, span)) = group_only_keys(raw)
        .into_iter()
        .filter_map(|(key, span)| Some((key, span?)))
        .min_by_key(|(_, span)| span.start)
    else {
        return Ok(());
    };
    let name = raw.name.get_ref();
    Err(Problem::at(
        key_before(text, &span),
        format!("`{key}` is a consumer-group setting, but consumer `{name}` has no `group`"),
    )
    .label("needs `group`")
    .help(format!(
        "set group = \"g1\" (Kafka's group.id) to make `{name}` a group member, or remove \
         `{key}`: without a group, a consumer reads every partition of its topics from offset 0 \
         and commits nothing"
    )))
}

/// Kafka ignores `auto.commit.interval.ms` without auto commit; a file that sets both
/// says something it does not mean.
fn auto_commit_interval_needs_auto(raw: &RawConsumer, spec: &ConsumerSpec) -> Result<(), Problem> {
    let (Some(interval), Some(commit)) = (&raw.auto_commit_interval_ms, &raw.commit) else {
        return Ok(());
    };
    if spec.commit == CommitMode::Auto {
        return Ok(());
    }
    Err(Problem::at(
        interval.span(),
        format!("`auto.commit.interval.ms` with commit = \"{}\"", commit.get_ref()),
    )
    .label("only with commit = \"auto\"")
    .help(
        "the interval paces automatic commits (Kafka's enable.auto.commit); this consumer \
         commits itself: remove \"auto.commit.interval.ms\", or set commit = \"auto\"",
    ))
}

/// Kafka's consumer refuses a heartbeat interval not below the session timeout.
fn heartbeat_within_session(raw: &RawConsumer, spec: &ConsumerSpec) -> Result<(), Problem> {
    let (heartbeat, session) = (spec.heartbeat_interval_ms, spec.session_timeout_ms);
    if heartbeat < session {
        return Ok(());
    }
    let pair = Pair {
        low: ("heartbeat.interval.ms", &raw.heartbeat_interval_ms, heartbeat),
        high: ("session.timeout.ms", &raw.session_timeout_ms, session),
    };
    Err(pair.problem("not below", "not above").help(
        "the coordinator removes a member that sends no heartbeat for session.timeout.ms, so \
         the session must outlast several heartbeats (Kafka: \"Heartbeat must be set lower \
         than the session timeout\"); lower \"heartbeat.interval.ms\" or raise \
         \"session.timeout.ms\" (Kafka's defaults: 3000 and 45000)",
    ))
}

/// Two settings that must keep an order, `low` below `high`: the problem points at the
/// one the file sets (`low` when both are), comparing it with the other.
struct Pair<'a> {
    low: (&'static str, &'a Option<Spanned<KafkaInt>>, u64),
    high: (&'static str, &'a Option<Spanned<KafkaInt>>, u64),
}

impl Pair<'_> {
    /// `low_is`/`high_is` say how each compares with the other ("above", "below").
    fn problem(&self, low_is: &str, high_is: &str) -> Problem {
        let ((low_key, low_raw, low), (high_key, high_raw, high)) = (self.low, self.high);
        let (span, message, label) = match (low_raw, high_raw) {
            (Some(l), other) => (
                l.span(),
                format!("`{low_key}` ({low}) is {low_is} `{high_key}` ({high})"),
                format!(
                    "{low_is} {}`{high_key}`",
                    if other.is_some() { "" } else { "the default " }
                ),
            ),
            (None, Some(h)) => (
                h.span(),
                format!("`{high_key}` ({high}) is {high_is} `{low_key}` ({low})"),
                format!("{high_is} the default `{low_key}`"),
            ),
            // Kafka's defaults keep the order.
            (None, None) => unreachable!("defaults out of order: {low_key}, {high_key}"),
        };
        Problem::at(span, message).label(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::values::fits_one_line;

    #[test]
    fn value_meanings_fit_one_line() {
        let lines = MODES
            .iter()
            .map(|(name, _, meaning)| (name, meaning))
            .chain(COMMITS.iter().map(|(name, _, meaning)| (name, meaning)))
            .chain(RESETS.iter().map(|(name, _, meaning)| (name, meaning)))
            .chain(ASSIGNORS.iter().map(|(name, _, meaning)| (name, meaning)));
        for (name, meaning) in lines {
            assert!(fits_one_line(name, meaning), "{name}: {meaning}");
        }
    }

    #[test]
    fn defaults_keep_the_orders_checked() {
        let p = ProducerSpec::kafka_defaults("p", "t", 1, 0);
        assert!(p.retry_backoff_ms <= p.retry_backoff_max_ms);
        assert!(p.linger_ms + p.request_timeout_ms <= p.delivery_timeout_ms);
        assert!(p.max_in_flight <= MAX_IN_FLIGHT_IDEMPOTENT);
        let c = ConsumerSpec::kafka_defaults("c", &["t"], "g");
        assert!(c.heartbeat_interval_ms < c.session_timeout_ms);
    }
}
