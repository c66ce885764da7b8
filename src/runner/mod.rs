//! Running scenarios: one seed ([`run_seed`]), many seeds in parallel ([`sweep`]), and the
//! determinism self-check ([`check_determinism`]).
//!
//! A run is: build the cluster, schedule the fixed faults and the nemesis timeline, run
//! the fault phase, heal every fault, run the heal phase, check the history. A panic inside
//! a simulated node is caught and reported as a failure of that seed; a sweep goes on.

mod faults;
pub mod leadership;
mod panics;

use std::collections::BTreeSet;
use std::time::Instant as WallInstant;

use rayon::prelude::*;

use crate::check::Violation;
use crate::check::clients::{ClientChecker, FinalLogs, consumer_groups};
use crate::check::convergence::check_converged;
use crate::check::history::{Anomaly, UNSEEN_GRACE_MS, check_ended};
use crate::check::liveness::Liveness;
use crate::check::state::StateChecker;
use crate::history::{self, History};
use crate::kafka::protocol::CONSUMER_OFFSETS;
use crate::kafka::view::cluster_view;
use crate::kafka::{self, KafkaNode, Layout};
use crate::scenario::{FaultSpec, Outcome, Scenario};
use crate::sim::trace::{TraceRecord, first_divergence};
use crate::sim::{Duration, Instant, Sim};
use faults::FaultLog;
pub use faults::describe as describe_fault;
use leadership::{LeaderChange, Leadership};

/// How often, in simulated time, the state invariants look at the cluster. Looking after
/// every event is exact but costs several times the simulation itself; the states these
/// invariants catch last far longer than this.
pub const STATE_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// How often, in simulated time, the heal phase looks for the cluster's recovery: the
/// recovery time is reported to this precision.
pub const LIVENESS_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Anomalies found that the scenario's promises allow (see [`crate::check::history`]):
    /// shown, but not failures.
    pub allowed: Vec<Violation>,
    /// How long after the heal the cluster had recovered (see [`crate::check::liveness`]);
    /// `None` if it did not within the scenario's bound (a `liveness` violation).
    pub converged_after: Option<Duration>,
    /// Per violation (same order), the narrative of the events that led to it, when the
    /// run was explained ([`run_explained`]); else empty.
    pub explanations: Vec<Vec<String>>,
    pub trace_hash: u64,
    pub events: u64,
    pub sim_time: Duration,
    pub wall: std::time::Duration,
    /// Whether the run showed what the scenario's `[expect]` asks for.
    pub expect_met: bool,
    /// The faults the run injected, fixed and drawn by the nemesis, one line each.
    pub faults: Vec<String>,
    /// The faults the run injected, as a fixed timeline would write them (a role's as the
    /// node it hit; one skipped or never reached is absent): what `kafsim shrink` starts from.
    pub injected: Vec<FaultSpec>,
    /// Each partition's leader as the controller had it, as it changed: what a report's
    /// timeline draws.
    pub leadership: Vec<LeaderChange>,
}

impl RunReport {
    pub fn outcome(&self) -> Outcome {
        if self.violations.is_empty() { Outcome::Pass } else { Outcome::Violation }
    }

    /// Simulated seconds per wall second.
    pub fn speed(&self) -> f64 {
        self.sim_time.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Whether a run is what the scenario expects: no violation for `pass`; for `violation`,
/// exactly the listed invariants (any, when none is listed); and, when `[expect] allowed`
/// lists anomalies, exactly those among the allowed ones. Exactness is what lets a scenario
/// show that a variant breaks one invariant and its correct twin does not.
pub fn expect_met(scenario: &Scenario, violations: &[Violation], allowed: &[Violation]) -> bool {
    let allowed_seen: BTreeSet<&str> = allowed.iter().map(|v| v.invariant).collect();
    let allowed_wanted: BTreeSet<&str> =
        scenario.expect.allowed.iter().map(String::as_str).collect();
    if !allowed_wanted.is_empty() && allowed_seen != allowed_wanted {
        return false;
    }
    let seen: BTreeSet<&str> = violations.iter().map(|v| v.invariant).collect();
    match scenario.expect.outcome {
        Outcome::Pass => seen.is_empty(),
        Outcome::Violation if scenario.expect.violations.is_empty() => !seen.is_empty(),
        Outcome::Violation => {
            let expected: BTreeSet<&str> =
                scenario.expect.violations.iter().map(String::as_str).collect();
            seen == expected
        }
    }
}

/// Runs one seed of the scenario.
pub fn run_seed(scenario: &Scenario, seed: u64) -> RunReport {
    run_recorded(scenario, seed, false).0
}

/// Runs one seed and records its trace: every event, with what the nodes annotated.
pub fn run_traced(scenario: &Scenario, seed: u64) -> (RunReport, Vec<TraceRecord>) {
    let (report, trace, _) = run_recorded(scenario, seed, true);
    (report, trace)
}

/// As [`run_recorded`], with every violation explained (see [`crate::check::explain`]):
/// a run that broke something and was not recorded is replayed with its trace on (the
/// report's figures stay the first run's).
pub fn run_explained(
    scenario: &Scenario,
    seed: u64,
    record: bool,
) -> (RunReport, Vec<TraceRecord>, History) {
    let (mut report, trace, history) = run_recorded(scenario, seed, record);
    if report.violations.is_empty() {
        return (report, trace, history);
    }
    let layout = Layout::new(scenario);
    let explain = |trace: &[TraceRecord]| -> Vec<Vec<String>> {
        report
            .violations
            .iter()
            .map(|v| crate::check::explain::explain(v, trace, &layout))
            .collect()
    };
    let explanations = if record {
        explain(&trace)
    } else {
        let (replay, replay_trace) = run_traced(scenario, seed);
        assert_eq!(replay.trace_hash, report.trace_hash, "a replay of seed {seed} differs");
        explain(&replay_trace)
    };
    report.explanations = explanations;
    (report, trace, history)
}

/// Runs one seed; returns its report, its trace when `record` is set (else empty), and its
/// client history (empty if the run panicked).
pub fn run_recorded(
    scenario: &Scenario,
    seed: u64,
    record: bool,
) -> (RunReport, Vec<TraceRecord>, History) {
    let wall_start = WallInstant::now();
    let mut report = RunReport {
        scenario: scenario.name.clone(),
        seed,
        violations: Vec::new(),
        allowed: Vec::new(),
        converged_after: None,
        explanations: Vec::new(),
        trace_hash: 0,
        events: 0,
        sim_time: Duration::ZERO,
        wall: std::time::Duration::ZERO,
        expect_met: false,
        faults: Vec::new(),
        injected: Vec::new(),
        leadership: Vec::new(),
    };
    let mut records = Vec::new();
    let mut history = History::default();
    match panics::catch(|| prepare(scenario, seed, record)) {
        Err(panic) => report.violations.push(panic.into_violation(Instant::ZERO)),
        Ok((mut sim, layout, faults)) => {
            let checked = panics::catch(|| simulate(scenario, &mut sim, &layout));
            // After a panic the sim is only read: its time and its trace up to the panic.
            match checked {
                Ok(checked) => {
                    report.violations = checked.violations;
                    report.allowed = checked.allowed;
                    report.converged_after = checked.converged_after;
                    history = checked.history;
                    report.leadership = checked.leadership;
                }
                Err(panic) => report.violations = vec![panic.into_violation(sim.now())],
            }
            report.trace_hash = sim.trace().hash();
            report.events = sim.trace().n_events();
            report.sim_time = sim.now() - Instant::ZERO;
            let faults = faults.borrow();
            report.faults = faults.iter().map(|f| f.line.clone()).collect();
            report.injected =
                faults.iter().filter_map(|f| Some(layout.spec(f.fault.as_ref()?))).collect();
            records = sim.trace().records().to_vec();
        }
    }
    report.expect_met = expect_met(scenario, &report.violations, &report.allowed);
    report.wall = wall_start.elapsed();
    (report, records, history)
}

/// Builds the cluster and schedules every fault; returns the fault descriptions (those of
/// faults aimed at a role are filled in as they start).
fn prepare(scenario: &Scenario, seed: u64, record: bool) -> (Sim<KafkaNode>, Layout, FaultLog) {
    let (mut sim, layout) = kafka::build_sim(scenario, seed, record);
    let log = faults::schedule(scenario, seed, &layout, &mut sim);
    (sim, layout, log)
}

/// What a run's checks found, and the history they read.
struct Checked {
    violations: Vec<Violation>,
    allowed: Vec<Violation>,
    history: History,
    converged_after: Option<Duration>,
    leadership: Vec<LeaderChange>,
}

/// Everything that reads the run as it goes: the observations, taken so the run never
/// keeps them raw (reading each while it is fresh, into tables far smaller than the
/// observations, is most of what makes a run's checks cheap), and the partitions' leaders.
struct Observers {
    history: history::Builder,
    clients: ClientChecker,
    liveness: Liveness,
    leadership: Leadership,
}

impl Observers {
    fn new(scenario: &Scenario, layout: &Layout) -> Self {
        Observers {
            history: history::Builder::new(layout),
            clients: ClientChecker::new(consumer_groups(scenario, layout)),
            liveness: Liveness::new(
                kafka::progress::readers(scenario, layout),
                scenario.run.liveness,
            ),
            leadership: Leadership::default(),
        }
    }

    /// Feeds everyone what the run observed since the last call.
    fn take(&mut self, sim: &mut Sim<KafkaNode>, layout: &Layout) {
        self.leadership.sample(sim, layout);
        for o in sim.drain_history() {
            self.history.observe(&o);
            self.clients.observe(&o, layout);
            self.liveness.observe(&o);
        }
    }
}

/// The fault phase, the heal, the heal phase, then the checks: the state checker's, the
/// convergence's, the history's (Jepsen's anomalies) and the clients' invariants.
fn simulate(scenario: &Scenario, sim: &mut Sim<KafkaNode>, layout: &Layout) -> Checked {
    let mut state = StateChecker::new();
    let mut observers = Observers::new(scenario, layout);
    let fault_phase_end = Instant::ZERO + scenario.run.duration;
    run_checked(sim, layout, &mut state, &mut observers, fault_phase_end);
    sim.heal_all();
    observers.take(sim, layout);
    observers.liveness.heal(sim.now());
    let heal_end = fault_phase_end + scenario.run.heal;
    // The heal phase in steps, looking for recovery between them.
    loop {
        let progress = kafka::progress::progress(sim, layout, scenario);
        observers.liveness.probe(&progress, sim.now());
        if sim.now() >= heal_end {
            break;
        }
        let step_end = (sim.now() + LIVENESS_PROBE_INTERVAL).min(heal_end);
        run_checked(sim, layout, &mut state, &mut observers, step_end);
    }
    let settled = cluster_view(sim, layout);
    state.observe_full(&settled);
    let mut violations = state.violations().to_vec();
    violations.extend(check_converged(&settled));
    violations.extend(observers.liveness.violation());
    let grace = Duration::from_millis(UNSEEN_GRACE_MS);
    let history = observers.history.finish(scenario, sim.now(), grace);
    let (errors, allowed): (Vec<Anomaly>, Vec<Anomaly>) =
        check_ended(&history).into_iter().partition(|a| a.allowed.is_none());
    violations.extend(errors.iter().map(Anomaly::to_violation));
    violations.extend(observers.clients.finish(layout, &final_logs(sim, layout)));
    let allowed = allowed.iter().map(Anomaly::to_violation).collect();
    let converged_after = observers.liveness.converged_after();
    let leadership = observers.leadership.finish();
    Checked { violations, allowed, history, converged_after, leadership }
}

/// Every data partition's records below the high watermark of its final leader (the
/// controller's), after healing: the truth `missed-record` holds reads against. A partition
/// without a leader, or whose leader is down, has no final log.
pub fn final_logs(sim: &Sim<KafkaNode>, layout: &Layout) -> FinalLogs {
    layout
        .partitions()
        .filter(|(tp, _)| &*tp.topic != CONSUMER_OFFSETS)
        .filter_map(|(tp, _)| {
            let (leader, _) = layout.leader(sim, &tp)?;
            let log = sim.node(leader)?.as_broker()?.replica(&tp)?.log();
            let hw = log.high_watermark();
            let records =
                log.records().iter().take_while(|r| r.offset < hw).map(|r| (r.offset, r.value));
            Some((tp, records.collect()))
        })
        .collect()
}

/// Runs to `deadline`, showing the state checker the cluster every
/// [`STATE_CHECK_INTERVAL`] of simulated time and right after every fault starts or ends,
/// and the observers what the run observed as often.
fn run_checked(
    sim: &mut Sim<KafkaNode>,
    layout: &Layout,
    state: &mut StateChecker,
    observers: &mut Observers,
    deadline: Instant,
) {
    let mut next_check = sim.now() + STATE_CHECK_INTERVAL;
    let mut faults_seen = sim.n_fault_transitions();
    while sim.step_before(deadline) {
        let fault_moved = sim.n_fault_transitions() != faults_seen;
        if fault_moved || sim.now() >= next_check {
            state.observe(&cluster_view(sim, layout));
            observers.take(sim, layout);
            faults_seen = sim.n_fault_transitions();
            next_check = sim.now() + STATE_CHECK_INTERVAL;
        }
    }
    sim.advance_to(deadline);
    observers.take(sim, layout);
}

/// Runs every seed in `seeds` on `jobs` threads; reports come back sorted by seed.
pub fn sweep(scenario: &Scenario, seeds: &[u64], jobs: usize) -> Vec<RunReport> {
    assert!(jobs > 0, "a sweep needs at least one job");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .expect("the sweep's thread pool starts");
    let mut reports: Vec<RunReport> =
        pool.install(|| seeds.par_iter().map(|&seed| run_seed(scenario, seed)).collect());
    reports.sort_by_key(|r| r.seed);
    reports
}

/// Where two runs of one seed part.
#[derive(Clone, Debug)]
pub struct Divergence {
    pub first: RunReport,
    pub second: RunReport,
    /// The first event that differs in each run (`None` where that trace ended).
    pub events: Option<(Option<TraceRecord>, Option<TraceRecord>)>,
}

/// Runs the seed twice with full traces; `Err` names the first event that differs.
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<RunReport, Box<Divergence>> {
    let (first, trace_a) = run_traced(scenario, seed);
    let (second, trace_b) = run_traced(scenario, seed);
    let idx = first_divergence(&trace_a, &trace_b);
    if idx.is_none() && first.trace_hash == second.trace_hash {
        return Ok(first);
    }
    let events = idx.map(|i| (trace_a.get(i).cloned(), trace_b.get(i).cloned()));
    Err(Box::new(Divergence { first, second, events }))
}
