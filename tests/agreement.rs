//! The history checkers and the state invariants agree: a lost acknowledged write is seen
//! both ways. On each variant that loses committed records, `committed-durability` (what
//! the brokers hold) names a lost offset, and the history (what the clients saw) shows an
//! acknowledged write lost or replaced at that very offset of that partition; on the
//! correct twins, neither sees anything.

use kafsim::check::history::check_ended;
use kafsim::runner;
use kafsim::scenario;

fn load(path: &str) -> scenario::Scenario {
    let text = std::fs::read_to_string(path).expect("shipped scenario");
    scenario::parse(path, &text).expect("valid scenario")
}

/// `(partition, offset)` of the state checker's `committed-durability` finding.
fn durability_loss(detail: &str) -> (String, u64) {
    let (partition, rest) = detail.split_once(": ").expect("partition first");
    let offset = rest
        .split_once("lacks offset ")
        .and_then(|(_, after)| after.split_whitespace().next())
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| panic!("no lost offset in {detail}"));
    (partition.to_string(), offset)
}

#[test]
fn a_lost_acknowledged_write_is_seen_both_ways() {
    for path in [
        "scenarios/replication/r4-hw-truncation.toml",
        "scenarios/replication/r11-hw-over-proposed-isr.toml",
        "scenarios/nemesis/no-elr.toml",
    ] {
        let s = load(path);
        let (report, _, history) = runner::run_recorded(&s, s.run.seed, false);
        let state = report
            .violations
            .iter()
            .find(|v| v.invariant == "committed-durability")
            .unwrap_or_else(|| panic!("{path}: the state invariant sees no loss"));
        let (partition, offset) = durability_loss(&state.detail);
        let anomalies = check_ended(&history);
        let seen = anomalies.iter().any(|a| {
            ["lost-write", "inconsistent-offsets"].contains(&a.name)
                && a.partition == partition
                && a.allowed.is_none()
                && a.examples.iter().any(|e| e.offsets.contains(&offset))
        });
        assert!(
            seen,
            "{path}: {partition} offset {offset} lost per the state, not per the history: {anomalies:#?}"
        );
    }
}

#[test]
fn the_correct_twins_lose_nothing_either_way() {
    for path in [
        "scenarios/replication/r4-leader-epoch.toml",
        "scenarios/replication/r11-hw-over-committed-isr.toml",
        "scenarios/replication/r2-clean-election.toml",
    ] {
        let s = load(path);
        let (report, _, history) = runner::run_recorded(&s, s.run.seed, false);
        assert!(report.violations.is_empty(), "{path}: {:#?}", report.violations);
        assert_eq!(check_ended(&history), vec![], "{path}");
    }
}
