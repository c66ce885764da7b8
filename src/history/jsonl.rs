//! Reading and writing histories as JSON lines, with errors that name the line and column.

use std::collections::BTreeMap;
use std::fmt::Write;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Call, FORMAT, Header, History, Op, Outcome};

/// A history file that cannot be read: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct HistoryError {
    /// 1-based line of the file.
    pub line: usize,
    /// 1-based column within the line.
    pub column: usize,
    pub message: String,
}

/// Parses a history: an optional header line, then one operation per line (blank lines are
/// skipped).
pub fn parse(text: &str) -> Result<History, HistoryError> {
    let mut history = History::default();
    // Send values seen so far, with their line: a value identifies one send.
    let mut sent: BTreeMap<u64, usize> = BTreeMap::new();
    for (idx, line) in text.lines().enumerate() {
        let number = idx + 1;
        if line.trim().is_empty() {
            continue;
        }
        if history.ops.is_empty() && line.contains("\"format\"") {
            let header: Header = serde_json::from_str(line).map_err(|e| json_error(number, &e))?;
            if header.format != FORMAT {
                let message =
                    format!("unknown format {:?}: this kafsim reads {FORMAT:?}", header.format);
                return Err(HistoryError { line: number, column: 1, message });
            }
            history.promises = header.promises;
            history.end = header.end;
            continue;
        }
        let op = parse_op(line).map_err(|e| json_error(number, &e))?;
        if op.invoke_ns > op.complete_ns {
            let message = format!(
                "invoke_ns {} is after complete_ns {}: an operation completes after it starts",
                op.invoke_ns, op.complete_ns
            );
            return Err(HistoryError { line: number, column: 1, message });
        }
        if let Call::Send { value, .. } = &op.call
            && let Some(first) = sent.insert(*value, number)
        {
            let message = format!(
                "value {value} is sent again (first sent on line {first}): every send must \
                 write a value of its own, which is how reads are traced back to sends"
            );
            return Err(HistoryError { line: number, column: 1, message });
        }
        history.ops.push(op);
    }
    Ok(history)
}

/// The fields every operation has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    process: Arc<str>,
    #[serde(rename = "type")]
    outcome: Outcome,
    invoke_ns: u64,
    complete_ns: u64,
}

const COMMON_FIELDS: [&str; 4] = ["process", "type", "invoke_ns", "complete_ns"];

/// One operation line: the common fields, then the rest as the call its `f` names.
fn parse_op(line: &str) -> Result<Op, serde_json::Error> {
    let mut fields: Map<String, Value> = serde_json::from_str(line)?;
    let common: Map<String, Value> = COMMON_FIELDS
        .iter()
        .filter_map(|&k| fields.remove(k).map(|v| (k.to_string(), v)))
        .collect();
    let common: Common = serde_json::from_value(Value::Object(common))?;
    let call: Call = serde_json::from_value(Value::Object(fields))?;
    Ok(Op {
        process: common.process,
        outcome: common.outcome,
        invoke_ns: common.invoke_ns,
        complete_ns: common.complete_ns,
        call,
    })
}

fn json_error(line: usize, e: &serde_json::Error) -> HistoryError {
    let hint = "each line is one JSON object: a header {\"format\": \"kafsim-history/1\", ...} \
                first, then operations {\"process\", \"type\", \"invoke_ns\", \"complete_ns\", \
                \"f\", ...} (see the format in README.md)";
    HistoryError { line, column: e.column().max(1), message: format!("{e}; {hint}") }
}

/// The history as JSON lines, header first.
pub fn to_jsonl(history: &History) -> String {
    let header =
        Header { format: FORMAT.to_string(), promises: history.promises.clone(), end: history.end };
    let mut out = serde_json::to_string(&header).expect("a header serialises");
    out.push('\n');
    for op in &history.ops {
        let line = serde_json::to_string(op).expect("an operation serialises");
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Outcome, PartitionRead, Promises, Tp};

    fn sample() -> History {
        let send = |value, offset| Op {
            process: "p1".into(),
            outcome: Outcome::Ok,
            invoke_ns: 10,
            complete_ns: 20,
            call: Call::Send {
                topic: "t".into(),
                partition: 0,
                key: 1,
                value,
                offset,
                leader: offset.map(|_| "b1".into()),
                epoch: offset.map(|_| 2),
            },
        };
        let mut promises = Promises { durable: false, ..Promises::default() };
        promises.producers_default.idempotent = false;
        History {
            promises,
            end: crate::history::End { end_ns: Some(50), unseen_grace_ns: 5 },
            ops: vec![
                send(7, Some(0)),
                send(8, None),
                Op {
                    process: "c1".into(),
                    outcome: Outcome::Ok,
                    invoke_ns: 30,
                    complete_ns: 30,
                    call: Call::Poll {
                        reads: vec![PartitionRead {
                            topic: "t".into(),
                            partition: 0,
                            records: vec![(0, 7)],
                        }],
                    },
                },
                Op {
                    process: "c1".into(),
                    outcome: Outcome::Ok,
                    invoke_ns: 31,
                    complete_ns: 31,
                    call: Call::Assign {
                        group: None,
                        generation: None,
                        partitions: vec![Tp("t".into(), 0)],
                    },
                },
                Op {
                    process: "c1".into(),
                    outcome: Outcome::Info,
                    invoke_ns: 40,
                    complete_ns: 40,
                    call: Call::Crash {},
                },
            ],
        }
    }

    #[test]
    fn a_history_survives_writing_and_reading() {
        let history = sample();
        let text = to_jsonl(&history);
        assert!(text.starts_with("{\"format\":\"kafsim-history/1\""), "{text}");
        assert_eq!(parse(&text), Ok(history));
    }

    #[test]
    fn an_operation_line_reads_as_documented() {
        let line = r#"{"process":"p1","f":"send","type":"ok","invoke_ns":1000,"complete_ns":5000,"topic":"t","partition":0,"key":3,"value":17,"offset":4}"#;
        let history = parse(line).expect("valid");
        assert_eq!(history.promises, Promises::default());
        let want = Call::Send {
            topic: "t".into(),
            partition: 0,
            key: 3,
            value: 17,
            offset: Some(4),
            leader: None,
            epoch: None,
        };
        assert_eq!(history.ops[0].call, want);
    }

    #[test]
    fn mistakes_are_reported_with_line_and_column() {
        let good = r#"{"process":"p1","f":"crash","type":"info","invoke_ns":1,"complete_ns":1}"#;
        let text = format!("{good}\n\n{}", good.replace("\"info\"", "\"maybe\""));
        let err = parse(&text).expect_err("unknown outcome");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("unknown variant `maybe`"), "{err}");
        let err = parse("{\"process\": \"p1\",, }").expect_err("not JSON");
        assert_eq!((err.line, err.column), (1, 18), "{err}");
        let typo = good.replace("\"f\":\"crash\"", "\"f\":\"crash\",\"valeu\":1");
        let err = parse(&typo).expect_err("unknown field");
        assert!(err.message.contains("unknown field `valeu`"), "{err}");

        let backwards = good.replace("\"invoke_ns\":1", "\"invoke_ns\":9");
        let err = parse(&backwards).expect_err("invoke after complete");
        assert!(err.to_string().starts_with("1:1: invoke_ns 9 is after complete_ns 1"), "{err}");

        let send = r#"{"process":"p","f":"send","type":"ok","invoke_ns":1,"complete_ns":1,"topic":"t","partition":0,"value":5}"#;
        let err = parse(&format!("{send}\n{send}")).expect_err("value sent twice");
        assert!(err.to_string().contains("value 5 is sent again (first sent on line 1)"));

        let header = r#"{"format":"kafsim-history/9"}"#;
        let err = parse(header).expect_err("unknown format");
        assert!(err.message.contains("unknown format \"kafsim-history/9\""), "{err}");
    }
}
