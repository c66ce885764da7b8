//! The fault timeline (`[[faults]]`) and the random nemesis (`[nemesis]`): kinds, the keys
//! each kind takes, the nodes they name, and when they happen.

use std::ops::Range;

use toml::Spanned;

use super::error::Problem;
use super::model::{FaultSpec, FaultSpecKind, NemesisKind, NemesisRole, NemesisSpec, TopicSpec};
use super::names::{Nodes, no_repeats};
use super::raw::{Lenient, Names, RawFault, RawNemesis};
use super::span::key_before;
use super::spelling::did_you_mean;
use super::values::{
    duration, duration_range, int_in, names_non_empty, one_of, probability, signed_duration,
    written,
};
use crate::sim::nemesis::LANES_MAX;
use crate::sim::time::Duration;

/// Every kind as files spell it (for `[[faults]]` and `[nemesis] kinds` alike), and the
/// keys a fixed fault of that kind takes.
const KINDS: &[(&str, NemesisKind, &[&str])] = &[
    ("partition", NemesisKind::Partition, &["groups"]),
    ("partition-oneway", NemesisKind::PartitionOneWay, &["from", "to"]),
    ("crash", NemesisKind::Crash, &["nodes", "lose_unflushed"]),
    ("power-loss", NemesisKind::PowerLoss, &["nodes"]),
    ("pause", NemesisKind::Pause, &["nodes"]),
    ("clock-skew", NemesisKind::ClockSkew, &["nodes", "offset", "drift_ppm"]),
    ("loss", NemesisKind::Loss, &["nodes", "rate"]),
];

/// Every role as files spell it, and what it means.
const ROLES: &[(&str, NemesisRole, &str)] = &[
    ("leader", NemesisRole::Leader, "the current leader of a data partition"),
    ("follower", NemesisRole::Follower, "a replica of a data partition other than its leader"),
];

const MAX_DRIFT_PPM: i64 = 1_000_000;
const DEFAULT_NEMESIS_INTERVAL: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(5));
const DEFAULT_NEMESIS_DURATION: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(4));

/// One fault of the timeline. `run` is `[run] duration` as written and as parsed: every
/// fault must start within it.
pub fn fault(
    raw: &RawFault,
    run: (&Spanned<Lenient>, Duration),
    nodes: &Nodes,
    text: &str,
) -> Result<FaultSpec, Problem> {
    let at = duration(&raw.at)?;
    if at >= run.1 {
        let (at_text, run_text) = (written(raw.at.get_ref()), written(run.0.get_ref()));
        return Err(Problem::at(
            raw.at.span(),
            format!("fault at {at_text} starts at or after the end of the run ({run_text})"),
        )
        .label("after the end of the run")
        .help(format!(
            "faults must start before [run] duration = \"{run_text}\": move `at` earlier or \
             make the run longer"
        )));
    }
    let length = raw.for_.as_ref().map(duration).transpose()?;
    if let (Some(Duration::ZERO), Some(for_)) = (length, raw.for_.as_ref()) {
        return Err(Problem::at(for_.span(), "a fault that lasts 0s does nothing")
            .label("zero")
            .help(
                "give it a length, e.g. for = \"4s\", or omit `for` to keep the fault until \
                 the heal phase",
            ));
    }
    let kind_name = raw.kind.get_ref().as_str();
    let Some(&(_, kind, keys)) = KINDS.iter().find(|(k, _, _)| *k == kind_name) else {
        return Err(unknown_kind(&raw.kind, "fault"));
    };
    only_keys_of_kind(raw, kind_name, keys, text)?;
    Ok(FaultSpec { at, duration: length, kind: fault_kind(raw, kind, nodes)? })
}

/// The kind-specific part of a fault, from the keys of that kind.
fn fault_kind(raw: &RawFault, kind: NemesisKind, nodes: &Nodes) -> Result<FaultSpecKind, Problem> {
    let context = format!("a {} fault", raw.kind.get_ref());
    let needs = |key: &str| missing(&raw.kind, key);
    let node_list = |list: &Names, key: &str| -> Result<Vec<String>, Problem> {
        names_non_empty(list, key, &format!("name at least one node, e.g. {key} = [\"b1\"]"))?;
        nodes.list(list, &context)
    };
    let required_nodes = || node_list(raw.nodes.as_ref().ok_or_else(|| needs("nodes"))?, "nodes");
    Ok(match kind {
        NemesisKind::Partition => FaultSpecKind::Partition {
            groups: groups(raw.groups.as_ref().ok_or_else(|| needs("groups"))?, nodes, &context)?,
        },
        NemesisKind::PartitionOneWay => {
            let from = raw.from.as_ref().ok_or_else(|| needs("from"))?;
            let to = raw.to.as_ref().ok_or_else(|| needs("to"))?;
            let (from_nodes, to_nodes) = (node_list(from, "from")?, node_list(to, "to")?);
            if let Some(both) = to.get_ref().iter().find(|n| from_nodes.contains(n.get_ref())) {
                let message = format!("`{}` is in both `from` and `to`", both.get_ref());
                return Err(Problem::at(both.span(), message).label("also in `from`").help(
                    "a one-way partition cuts the messages from one set of nodes to another, \
                     disjoint set",
                ));
            }
            FaultSpecKind::PartitionOneWay { from: from_nodes, to: to_nodes }
        }
        NemesisKind::Crash => FaultSpecKind::Crash {
            nodes: required_nodes()?,
            lose_unflushed: raw.lose_unflushed.as_ref().is_some_and(|l| *l.get_ref()),
        },
        NemesisKind::PowerLoss => {
            FaultSpecKind::Crash { nodes: required_nodes()?, lose_unflushed: true }
        }
        NemesisKind::Pause => FaultSpecKind::Pause { nodes: required_nodes()? },
        NemesisKind::ClockSkew => FaultSpecKind::ClockSkew {
            nodes: required_nodes()?,
            offset_ns: raw.offset.as_ref().map(signed_duration).transpose()?.unwrap_or(0),
            drift_ppm: raw.drift_ppm.as_ref().map(drift_ppm).transpose()?.unwrap_or(0),
        },
        NemesisKind::Loss => FaultSpecKind::Loss {
            nodes: match raw.nodes.as_ref() {
                Some(list) => nodes.list(list, &context)?,
                None => Vec::new(),
            },
            rate: probability(
                raw.rate.as_ref().ok_or_else(|| needs("rate"))?,
                "rate",
                "a message on an affected link is dropped",
            )?,
        },
    })
}

fn drift_ppm(value: &Spanned<i64>) -> Result<i64, Problem> {
    int_in(
        value,
        "drift_ppm",
        -MAX_DRIFT_PPM..=MAX_DRIFT_PPM,
        "`drift_ppm` is how much faster (or, negative, slower) the clock runs, in parts per \
         million, from -1000000 to 1000000",
    )
}

/// Refuses keys of other kinds, pointing at the key and naming those that belong.
fn only_keys_of_kind(raw: &RawFault, kind: &str, keys: &[&str], text: &str) -> Result<(), Problem> {
    let present: [(&str, Option<Range<usize>>); 8] = [
        ("groups", raw.groups.as_ref().map(Spanned::span)),
        ("from", raw.from.as_ref().map(Spanned::span)),
        ("to", raw.to.as_ref().map(Spanned::span)),
        ("nodes", raw.nodes.as_ref().map(Spanned::span)),
        ("lose_unflushed", raw.lose_unflushed.as_ref().map(Spanned::span)),
        ("offset", raw.offset.as_ref().map(Spanned::span)),
        ("drift_ppm", raw.drift_ppm.as_ref().map(Spanned::span)),
        ("rate", raw.rate.as_ref().map(Spanned::span)),
    ];
    let Some((key, span)) = present
        .into_iter()
        .filter_map(|(key, span)| Some((key, span?)))
        .filter(|(key, _)| !keys.contains(key))
        .min_by_key(|(_, span)| span.start)
    else {
        return Ok(());
    };
    let owners: Vec<&str> =
        KINDS.iter().filter(|(_, _, ks)| ks.contains(&key)).map(|(k, _, _)| *k).collect();
    let accepted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    Err(Problem::at(
        key_before(text, &span),
        format!("`{key}` is not a key of a {kind} fault"),
    )
    .label(format!("only for {} faults", owners.join(", ")))
    .help(format!(
        "a {kind} fault takes {} (besides `at`, `kind` and `for`); remove `{key}` or change `kind`",
        accepted.join(", ")
    )))
}

/// A required key of the fault's kind is absent: point at the kind, show how to write it.
fn missing(kind: &Spanned<String>, key: &str) -> Problem {
    let example = match key {
        "groups" => "groups = [[\"b1\"], [\"b2\", \"b3\", \"controller\"]]",
        "from" => "from = [\"b1\"]",
        "to" => "to = [\"b2\", \"b3\"]",
        "rate" => "rate = 0.5",
        _ => "nodes = [\"b1\"]",
    };
    Problem::at(kind.span(), format!("a {} fault needs `{key}`", kind.get_ref()))
        .label(format!("`{key}` missing for this kind"))
        .help(format!("add `{example}` to this fault"))
}

fn unknown_kind(kind: &Spanned<String>, what: &str) -> Problem {
    let names: Vec<&str> = KINDS.iter().map(|(k, _, _)| *k).collect();
    Problem::at(kind.span(), format!("unknown {what} kind `{}`", kind.get_ref()))
        .label(format!("not a {what} kind"))
        .help(format!(
            "{}the kinds are: {}",
            did_you_mean(kind.get_ref(), &names),
            names.join(", ")
        ))
}

/// At least two non-empty groups, no node in two of them.
fn groups(
    raw: &Spanned<Vec<Names>>,
    nodes: &Nodes,
    context: &str,
) -> Result<Vec<Vec<String>>, Problem> {
    let example = "e.g. groups = [[\"b1\"], [\"b2\", \"b3\", \"controller\"]]";
    if raw.get_ref().len() < 2 {
        return Err(Problem::at(raw.span(), "a partition needs at least two groups")
            .label("fewer than two groups")
            .help(format!("list the sides of the partition, {example}")));
    }
    if let Some(empty) = raw.get_ref().iter().find(|g| g.get_ref().is_empty()) {
        return Err(Problem::at(empty.span(), "empty group in a partition")
            .label("empty")
            .help(format!("every group needs at least one node, {example}")));
    }
    no_repeats(raw.get_ref().iter().flat_map(Spanned::get_ref))?;
    raw.get_ref().iter().map(|g| nodes.list(g, context)).collect()
}

pub fn nemesis(
    raw: &RawNemesis,
    nodes: &Nodes,
    topics: &[TopicSpec],
) -> Result<NemesisSpec, Problem> {
    let names = names_non_empty(
        &raw.kinds,
        "kinds",
        "list the faults to draw, e.g. kinds = [\"partition\", \"crash\"]",
    )?;
    no_repeats(names)?;
    let kinds = names
        .iter()
        .map(|name| {
            KINDS
                .iter()
                .find(|(k, _, _)| k == name.get_ref())
                .map(|&(_, kind, _)| kind)
                .ok_or_else(|| unknown_kind(name, "nemesis"))
        })
        .collect::<Result<_, _>>()?;
    let (interval_min, interval_max) =
        raw.interval.as_ref().map(duration_range).transpose()?.unwrap_or(DEFAULT_NEMESIS_INTERVAL);
    let (fault_duration_min, fault_duration_max) =
        raw.duration.as_ref().map(duration_range).transpose()?.unwrap_or(DEFAULT_NEMESIS_DURATION);
    if let (Duration::ZERO, Some(d)) = (fault_duration_min, raw.duration.as_ref()) {
        return Err(Problem::at(d.span(), "nemesis faults of length 0s never happen")
            .label("zero")
            .help("make the shortest fault longer than 0s, e.g. duration = \"1s..4s\""));
    }
    let roles = raw.roles.as_ref().map(|r| roles(r, topics)).transpose()?.unwrap_or_default();
    let targets = match raw.targets.as_ref() {
        Some(list) => {
            names_non_empty(
                list,
                "targets",
                "name the nodes to hit, or omit `targets` for every broker",
            )?;
            nodes.list(list, "the nemesis targets")?
        }
        None if roles.is_empty() => nodes.brokers(),
        None => Vec::new(),
    };
    let concurrency = raw.concurrency.as_ref().map(concurrency).transpose()?.unwrap_or(1);
    Ok(NemesisSpec {
        kinds,
        interval_min,
        interval_max,
        fault_duration_min,
        fault_duration_max,
        targets,
        roles,
        concurrency,
    })
}

/// `roles`: known names, each once, and a follower only where some partition has one.
fn roles(raw: &Names, topics: &[TopicSpec]) -> Result<Vec<NemesisRole>, Problem> {
    let names = names_non_empty(
        raw,
        "roles",
        "list the roles to hit, e.g. roles = [\"leader\"], or omit `roles`",
    )?;
    no_repeats(names)?;
    names
        .iter()
        .map(|name| {
            let role = one_of(name, "role", ROLES)?;
            if role == NemesisRole::Follower && topics.iter().all(|t| t.replication_factor < 2) {
                return Err(Problem::at(name.span(), "no partition has a follower")
                    .label("every topic has replication_factor = 1")
                    .help("give a topic replication_factor = 2 or more, or remove \"follower\""));
            }
            Ok(role)
        })
        .collect()
}

fn concurrency(value: &Spanned<i64>) -> Result<u32, Problem> {
    let max = LANES_MAX as i64;
    int_in(
        value,
        "concurrency",
        1..=max,
        &format!(
            "`concurrency` is how many nemesis faults may be active at once, from 1 (one at a \
             time, the default) to {max}"
        ),
    )
}
