//! Raw TOML values to a [`Scenario`]: defaults filled in, ranges checked, every name
//! resolved. Tables are checked in the order the format lists them; the first mistake
//! stops validation, so the report is about one thing.

use toml::Spanned;

use super::broker;
use super::clients;
use super::error::Problem;
use super::faults;
use super::model::{
    BrokerSpec, ClusterSpec, ConsumerSpec, Expect, NetworkSpec, Outcome, RunSpec, Scenario,
    TopicSpec,
};
use super::names::{Nodes, no_repeats};
use super::raw::{RawConsumer, RawExpect, RawNetwork, RawRun, RawScenario, RawTopic};
use super::spelling::did_you_mean;
use super::values::{duration, duration_range, int_in, non_empty, probability};
use crate::check::INVARIANTS;
use crate::check::history::ANOMALIES;
use crate::sim::time::Duration;

const MAX_BROKERS: i64 = 64;
const MAX_PARTITIONS: i64 = 1000;
const DEFAULT_HEAL: Duration = Duration::from_secs(20);
const DEFAULT_LATENCY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(5));

/// `text` is the file's text, for errors that point at a key rather than its value.
pub fn validate(raw: &RawScenario, text: &str) -> Result<Scenario, Problem> {
    let name = non_empty(&raw.name, "name", "name the scenario, e.g. name = \"leader-crash\"")?;
    let description =
        non_empty(&raw.description, "description", "say in a sentence what the scenario shows")?;
    let run = run(&raw.run)?;
    let brokers = int_in(
        &raw.cluster.brokers,
        "brokers",
        1..=MAX_BROKERS,
        "a cluster has from 1 to 64 brokers",
    )?;
    let broker = broker::broker(raw.broker.as_ref())?;
    let protocol = broker::protocol(raw.protocol.as_ref())?;
    let network = network(raw.network.as_ref())?;
    let topics = topics(&raw.topics, brokers)?;
    let mut nodes = Nodes::new(brokers);
    let producers = raw
        .producers
        .iter()
        .map(|p| clients::producer(p, &topics, &mut nodes))
        .collect::<Result<_, _>>()?;
    let mut consumers = Vec::new();
    for c in &raw.consumers {
        consumers.extend(clients::consumers(c, &topics, &mut nodes, text)?);
    }
    offsets_topic_fits(raw, &broker, brokers, &consumers)?;
    let faults = raw
        .faults
        .iter()
        .map(|f| faults::fault(f, (&raw.run.duration, run.duration), &nodes, text))
        .collect::<Result<_, _>>()?;
    let nemesis = raw.nemesis.as_ref().map(|n| faults::nemesis(n, &nodes, &topics)).transpose()?;
    let expect = expect(raw.expect.as_ref())?;
    Ok(Scenario {
        name,
        description,
        run,
        cluster: ClusterSpec { brokers },
        broker,
        protocol,
        network,
        topics,
        producers,
        consumers,
        faults,
        nemesis,
        expect,
    })
}

fn run(raw: &RawRun) -> Result<RunSpec, Problem> {
    let length = duration(&raw.duration)?;
    if length == Duration::ZERO {
        return Err(Problem::at(raw.duration.span(), "the run has no fault phase")
            .label("zero")
            .help("give the fault phase a length, e.g. duration = \"30s\""));
    }
    let heal = raw.heal.as_ref().map(duration).transpose()?.unwrap_or(DEFAULT_HEAL);
    let seed = raw
        .seed
        .as_ref()
        .map(|s| int_in(s, "seed", 0..=i64::MAX, "a seed is a non-negative integer"))
        .transpose()?
        .unwrap_or(1);
    let liveness = match raw.liveness.as_ref() {
        None => heal,
        Some(raw_liveness) => {
            let liveness = duration(raw_liveness)?;
            if liveness > heal {
                return Err(Problem::at(
                    raw_liveness.span(),
                    format!("liveness {liveness} is longer than the heal phase ({heal})"),
                )
                .label("past the end of the run")
                .help("the cluster must recover within the heal phase: lower `liveness` or raise `heal`"));
            }
            liveness
        }
    };
    Ok(RunSpec { duration: length, heal, liveness, seed })
}

fn network(raw: Option<&RawNetwork>) -> Result<NetworkSpec, Problem> {
    let Some(raw) = raw else {
        return Ok(NetworkSpec {
            latency_min: DEFAULT_LATENCY.0,
            latency_max: DEFAULT_LATENCY.1,
            loss: 0.0,
            duplicate: 0.0,
            ordered: true,
        });
    };
    let (latency_min, latency_max) =
        raw.latency.as_ref().map(duration_range).transpose()?.unwrap_or(DEFAULT_LATENCY);
    let chance = |value: &Option<Spanned<f64>>, key, meaning| {
        value.as_ref().map(|v| probability(v, key, meaning)).transpose().map(|p| p.unwrap_or(0.0))
    };
    Ok(NetworkSpec {
        latency_min,
        latency_max,
        loss: chance(&raw.loss, "loss", "a message is dropped")?,
        duplicate: chance(&raw.duplicate, "duplicate", "a message is delivered twice")?,
        ordered: raw.ordered.unwrap_or(true),
    })
}

fn topics(raw: &Spanned<Vec<Spanned<RawTopic>>>, brokers: u32) -> Result<Vec<TopicSpec>, Problem> {
    if raw.get_ref().is_empty() {
        return Err(Problem::at(raw.span(), "no topics")
            .label("empty")
            .help("declare at least one topic in a [[topics]] table"));
    }
    no_repeats(raw.get_ref().iter().map(|t| &t.get_ref().name))?;
    raw.get_ref().iter().map(|t| topic(t.get_ref(), brokers)).collect()
}

fn topic(raw: &RawTopic, brokers: u32) -> Result<TopicSpec, Problem> {
    let name = topic_name(&raw.name)?;
    let partitions = int_in(
        &raw.partitions,
        "partitions",
        1..=MAX_PARTITIONS,
        "a topic has from 1 to 1000 partitions",
    )?;
    let rf = &raw.replication_factor;
    let replication_factor = *rf.get_ref();
    if replication_factor > i64::from(brokers) {
        let message = format!(
            "replication factor {replication_factor} is larger than the cluster ({brokers} brokers)"
        );
        return Err(Problem::at(rf.span(), message).label("more replicas than brokers").help(
            format!(
                "each replica lives on its own broker: use replication_factor = 1..={brokers}, \
             or raise [cluster] brokers"
            ),
        ));
    }
    let replication_factor = int_in(
        rf,
        "replication_factor",
        1..=i64::from(brokers),
        "every partition needs at least one replica",
    )?;
    Ok(TopicSpec { name, partitions, replication_factor })
}

/// Kafka's rule for topic names; names starting with `__` are Kafka's internal topics.
fn topic_name(raw: &Spanned<String>) -> Result<String, Problem> {
    let name = non_empty(raw, "name", "name the topic, e.g. name = \"events\"")?;
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.len() > 249 || !name.chars().all(legal) {
        return Err(Problem::at(raw.span(), format!("`{name}` is not a valid topic name"))
            .label("invalid topic name")
            .help("as in Kafka, use at most 249 letters, digits, '.', '_' and '-'"));
    }
    if name.starts_with("__") {
        return Err(Problem::at(raw.span(), format!("`{name}` is an internal topic name"))
            .label("reserved")
            .help(
                "names starting with \"__\" are Kafka's internal topics (__consumer_offsets); \
                 rename it",
            ));
    }
    Ok(name)
}

/// A name that must be a declared topic.
pub fn topic_ref(name: &Spanned<String>, topics: &[TopicSpec]) -> Result<String, Problem> {
    let text = name.get_ref();
    if topics.iter().any(|t| &t.name == text) {
        return Ok(text.clone());
    }
    let declared: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    Err(Problem::at(name.span(), format!("unknown topic `{text}`"))
        .label("not a declared topic")
        .help(format!(
            "{}the declared topics are: {} (add a [[topics]] table to declare another)",
            did_you_mean(text, &declared),
            declared.join(", ")
        )))
}

/// Kafka creates `__consumer_offsets` for the first consumer group, with
/// `offsets.topic.replication.factor` replicas per partition, each on its own broker; with
/// fewer brokers, it never exists and no group ever finds its coordinator.
fn offsets_topic_fits(
    raw: &RawScenario,
    broker: &BrokerSpec,
    brokers: u32,
    consumers: &[ConsumerSpec],
) -> Result<(), Problem> {
    let rf = broker.offsets_topic_replication_factor;
    let first_group = raw.consumers.iter().find_map(|c: &RawConsumer| c.group.as_ref());
    let Some(group) = first_group.filter(|_| rf > brokers) else {
        return Ok(());
    };
    assert!(consumers.iter().any(|c| c.group.is_some()));
    let fix = format!(
        "set \"offsets.topic.replication.factor\" = {brokers} or less in [broker], or raise \
         [cluster] brokers to {rf}"
    );
    let written = raw.broker.as_ref().and_then(|b| b.offsets_topic_replication_factor.as_ref());
    let problem = match written {
        Some(value) => Problem::at(
            value.span(),
            format!(
                "`offsets.topic.replication.factor` ({rf}) is larger than the cluster \
                 ({brokers} brokers)"
            ),
        )
        .label("more replicas than brokers"),
        None => Problem::at(
            group.span(),
            format!(
                "a consumer group needs {rf} brokers for __consumer_offsets, the cluster has \
                 {brokers}"
            ),
        )
        .label("needs __consumer_offsets"),
    };
    Err(problem.help(format!(
        "consumer groups keep their offsets in __consumer_offsets, with \
         \"offsets.topic.replication.factor\" replicas per partition (Kafka's default: 3), each \
         on its own broker: {fix}"
    )))
}

fn expect(raw: Option<&RawExpect>) -> Result<Expect, Problem> {
    let Some(raw) = raw else {
        return Ok(Expect { outcome: Outcome::Pass, violations: Vec::new(), allowed: Vec::new() });
    };
    let allowed = match raw.allowed.as_ref() {
        None => Vec::new(),
        Some(list) => {
            no_repeats(list.get_ref())?;
            list.get_ref().iter().map(anomaly).collect::<Result<_, _>>()?
        }
    };
    let outcome = match raw.outcome.as_ref() {
        None => Outcome::Pass,
        Some(o) => match o.get_ref().as_str() {
            "pass" => Outcome::Pass,
            "violation" => Outcome::Violation,
            other => {
                return Err(Problem::at(o.span(), format!("unknown outcome `{other}`"))
                    .label("not an outcome")
                    .help("use outcome = \"pass\" or outcome = \"violation\""));
            }
        },
    };
    let Some(list) = raw.violations.as_ref() else {
        return Ok(Expect { outcome, violations: Vec::new(), allowed });
    };
    if outcome == Outcome::Pass && !list.get_ref().is_empty() {
        return Err(Problem::at(list.span(), "`violations` listed for a run expected to pass")
            .label("only with outcome = \"violation\"")
            .help("set outcome = \"violation\", or remove `violations`"));
    }
    no_repeats(list.get_ref())?;
    let violations = list.get_ref().iter().map(invariant).collect::<Result<_, _>>()?;
    Ok(Expect { outcome, violations, allowed })
}

/// A history anomaly's name, for `[expect] allowed`.
fn anomaly(name: &Spanned<String>) -> Result<String, Problem> {
    known(name, &ANOMALIES, ["history anomaly", "a history anomaly", "history anomalies"])
}

fn invariant(name: &Spanned<String>) -> Result<String, Problem> {
    known(name, INVARIANTS, ["invariant", "an invariant", "invariants"])
}

/// `name` if it is one of `names`, else an error that lists them; `[kind, a kind, kinds]`
/// words the error.
fn known(name: &Spanned<String>, names: &[&str], words: [&str; 3]) -> Result<String, Problem> {
    let [kind, a_kind, kinds] = words;
    let text = name.get_ref();
    if names.contains(&text.as_str()) {
        return Ok(text.clone());
    }
    Err(Problem::at(name.span(), format!("unknown {kind} `{text}`"))
        .label(format!("not {a_kind}"))
        .help(format!("{}the {kinds} are: {}", did_you_mean(text, names), names.join(", "))))
}
