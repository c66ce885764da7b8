//! TOML syntax and shape errors (from the `toml` parser and serde) rewritten for people:
//! "unknown field" becomes "unknown key" with the accepted keys and a likely spelling,
//! type names become TOML's (`integer`, `array`, `table`), and every error gets a help line.

use std::ops::Range;

use super::broker::{KafkaKey, kafka_key};
use super::error::Problem;
use super::raw::TABLES;
use super::spelling::did_you_mean;

/// `text` is the file's text, to recognise a Kafka name written without quotes.
pub fn problem(err: &toml::de::Error, text: &str) -> Problem {
    let span = err.span().unwrap_or(0..0);
    let message = err.message();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        unknown_key(span, rest, text)
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        missing_key(span, &quoted(rest).into_iter().next().unwrap_or_default())
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        let dotted = if rest.starts_with("map,") { dotted_name(span.clone(), text) } else { None };
        dotted.unwrap_or_else(|| wrong_type(span, rest))
    } else if message == "duplicate key" {
        Problem::at(span, "duplicate key")
            .label("already set above")
            .help("a key may appear once per table: remove or rename one of them")
    } else if message.starts_with("string values must be quoted") {
        Problem::at(span, "string values must be quoted")
            .label("not quoted")
            .help("put the value in double quotes, e.g. name = \"events\"")
    } else {
        let label = match message.rsplit_once(", expected ") {
            Some((_, expected)) => format!("expected {expected}"),
            None => "invalid TOML".into(),
        };
        Problem::at(span, message)
            .label(label)
            .help("fix the TOML syntax here (reference: https://toml.io)")
    }
}

/// `rest` is "`key`, expected one of `a`, `b`" (or "expected `a` or `b`"). `text` is the
/// file's, to show a dotted key in full.
fn unknown_key(span: Range<usize>, rest: &str, text: &str) -> Problem {
    let mut names = quoted(rest).into_iter();
    let first = names.next().unwrap_or_default();
    let accepted: Vec<String> = names.collect();
    let table = TABLES.iter().find(|(_, keys)| *keys == accepted.as_slice()).map(|(t, _)| *t);
    // TOML reads `min.insync.replicas = 2` as the key `min` holding a table; the report is
    // about the name as written, when it is a Kafka name (elsewhere, dots may well be meant
    // as nested tables).
    let is_kafka_name = |name: &String| {
        table == Some("[broker]")
            || TABLES.iter().any(|(_, keys)| keys.contains(&name.as_str()))
            || table.is_some_and(|t| kafka_key(t, name).is_some())
    };
    let dotted = dotted_key(text, &span, &first).filter(|(name, _)| is_kafka_name(name));
    let (span, key) = match &dotted {
        Some((name, _)) => (span.start..span.start + name.len(), name.clone()),
        None => (span, first),
    };
    let quote_it = dotted.map(|(name, value)| {
        format!(
            "write a key holding dots in quotes: \"{name}\"{value} (unquoted, TOML reads each \
             dot as a nested table); "
        )
    });
    if accepted.contains(&key) {
        let help = quote_it.unwrap_or_default();
        return Problem::at(span, format!("`{key}` must be quoted"))
            .label("not quoted")
            .help(help.trim_end_matches("; "));
    }
    let keys =
        format!("the keys of {} are: {}", table.unwrap_or("this table"), accepted.join(", "));
    let kafka = table.and_then(|t| kafka_key(t, &key));
    let mut help = match kafka {
        Some(KafkaKey::NotSimulated) => {
            let message = format!("`{key}` is a Kafka setting that kafsim does not simulate");
            return Problem::at(span, message).label("not simulated").help(format!(
                "remove it: kafsim simulates only the settings that shape replication; {keys}"
            ));
        }
        Some(KafkaKey::OtherName { key: ours, how }) => {
            format!("kafsim takes this setting as {}{how}; ", as_written(ours))
        }
        None => quote_it.unwrap_or_default() + &did_you_mean(&key, &accepted),
    };
    let owners: Vec<&str> =
        TABLES.iter().filter(|(_, keys)| keys.contains(&key.as_str())).map(|(t, _)| *t).collect();
    if !owners.is_empty() {
        let header = if owners.len() == 1 { "that header" } else { "one of those headers" };
        help.push_str(&format!(
            "`{key}` is a key of {}: move it below {header} (a key belongs to the last table \
             header above it); ",
            owners.join(", ")
        ));
    }
    help.push_str(&keys);
    let message = match table {
        Some("the top level") => format!("unknown key `{key}` at the top level"),
        Some(table) => format!("unknown key `{key}` in {table}"),
        None => format!("unknown key `{key}`"),
    };
    Problem::at(span, message).label("unknown key").help(help)
}

/// TOML reads `group.id = "g1"` as the key `group` holding a table: when that key takes
/// another type, the report is about the dotted name as written, if kafsim knows it.
fn dotted_name(span: Range<usize>, text: &str) -> Option<Problem> {
    let first = text.get(span.clone())?;
    let (name, value) = dotted_key(text, &span, first)?;
    let span = span.start..span.start + name.len();
    let quote_it = format!(
        "write a key holding dots in quotes: \"{name}\"{value} (unquoted, TOML reads each dot \
         as a nested table)"
    );
    if TABLES.iter().any(|(_, keys)| keys.contains(&name.as_str())) {
        return Some(
            Problem::at(span, format!("`{name}` must be quoted"))
                .label("not quoted")
                .help(quote_it),
        );
    }
    let (table, ours, how) =
        TABLES.iter().find_map(|(table, _)| match kafka_key(table, &name) {
            Some(KafkaKey::OtherName { key, how }) => Some((table, key, how)),
            _ => None,
        })?;
    Some(
        Problem::at(span, format!("unknown key `{name}` in {table}"))
            .label("unknown key")
            .help(format!("kafsim takes this setting as {}{how}", as_written(ours))),
    )
}

/// A key as the file writes it: Kafka's names hold dots and are quoted; the contract's
/// are bare.
fn as_written(key: &str) -> String {
    if key.contains('.') { format!("\"{key}\"") } else { format!("`{key}`") }
}

fn missing_key(span: Range<usize>, key: &str) -> Problem {
    let help = match example(key) {
        Some(example) => format!("add {example}"),
        None => format!("add the key `{key}`"),
    };
    Problem::at(span, format!("missing key `{key}`"))
        .label(format!("`{key}` is required"))
        .help(help)
}

/// How to write each required key, for the help of a "missing key" error.
fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "`name = \"...\"`",
        "description" => "`description = \"what this scenario shows\"`",
        "run" => "a `[run]` table with at least `duration = \"30s\"`",
        "cluster" => "a `[cluster]` table with `brokers = 3`",
        "topics" => "a `[[topics]]` table with `name`, `partitions` and `replication_factor`",
        "duration" => "`duration = \"30s\"`",
        "brokers" => "`brokers = 3`",
        "partitions" => "`partitions = 3`",
        "replication_factor" => "`replication_factor = 3`",
        "topic" => "`topic = \"events\"`, a declared topic",
        "rate" => "`rate = 200` (records per simulated second)",
        "at" => "`at = \"5s\"` (when the fault starts)",
        "kind" => {
            "`kind = \"crash\"` (or partition, partition-oneway, power-loss, pause, \
             clock-skew, loss)"
        }
        "kinds" => "`kinds = [\"partition\", \"crash\"]`",
        _ => return None,
    })
}

/// `rest` is "integer `5`, expected a string" or "string \"a\", expected i64".
fn wrong_type(span: Range<usize>, rest: &str) -> Problem {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
    let (expected, help) = match expected {
        "i64" | "an integer" => ("an integer", "write a whole number without quotes, e.g. 3"),
        "f64" => ("a number", "write a number without quotes, e.g. 0.5"),
        "a boolean" => ("a boolean", "write true or false, without quotes"),
        "a string" => ("a string", "write it as a string, in double quotes"),
        "a sequence" => ("an array", "write a list in brackets, e.g. [\"b1\", \"b2\"]"),
        e if e.starts_with("struct ") => (
            "a table",
            "write it as a table: a header such as [run] on its own line, then its keys",
        ),
        e => (e, "change the value to the expected type"),
    };
    let found = toml_type_names(found);
    Problem::at(span, format!("wrong type: expected {expected}, found {found}"))
        .label(format!("expected {expected}"))
        .help(help)
}

/// serde's words for data types, in TOML's words.
fn toml_type_names(found: &str) -> String {
    let found = found.replace(" as i128", "");
    match found.as_str() {
        "sequence" => "an array".into(),
        "map" => "a table".into(),
        _ => found,
    }
}

/// When the unknown `key` at `span` is the first part of an unquoted dotted key, such as
/// `min` of `min.insync.replicas = 2`: the whole key, and the rest of its line (" = 2").
fn dotted_key(text: &str, span: &Range<usize>, key: &str) -> Option<(String, String)> {
    let rest = text.get(span.start..)?;
    let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let end = rest.find(|c: char| !bare(c)).unwrap_or(rest.len());
    let name = &rest[..end];
    let tail = name.strip_prefix(key)?.strip_prefix('.')?;
    if tail.is_empty() {
        return None;
    }
    let line = rest[end..].lines().next().unwrap_or_default().trim_end();
    let value =
        if line.trim_start().starts_with('=') && line.len() <= 30 { line } else { " = ..." };
    Some((name.to_string(), value.to_string()))
}

/// The names between backticks, in order.
fn quoted(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}
