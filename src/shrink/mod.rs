//! Shrinking a failing seed (`kafsim shrink`). The run's faults become a fixed timeline
//! (the nemesis's draws, each role resolved to the node it hit), and the search then cuts
//! that scenario down: whole faults (delta debugging), clients, each fault's length and
//! the fault phase, keeping every cut under which the same seed still breaks the same
//! invariant. What is left is written as a scenario file, headed by where it came from,
//! what it shows and how it came about: the start of a regression scenario.
//!
//! A candidate is the text of a scenario file, parsed and run like any other, so the file
//! written is exactly what the search ran. Candidates run in parallel, yet the result does
//! not depend on the jobs: of a step's candidates, in a fixed order, the first that still
//! fails is taken, whichever finished first.

mod file;

use std::collections::BTreeSet;

use rayon::prelude::*;

use crate::check::Violation;
use crate::kafka::Layout;
use crate::runner::{RunReport, run_explained, run_seed};
use crate::scenario::write::expect_table;
use crate::scenario::{self, FaultSpecKind, Scenario, duration_text};
use crate::sim::time::Duration;
use file::{Cut, Original, comment};

/// Most candidates one shrink tries by default, counted as one job would try them; past it
/// the search stops where it is.
pub const RUNS_MAX_DEFAULT: usize = 2_000;
/// Most rounds of all the cuts; a round that cuts nothing ends the search sooner.
const ROUNDS_MAX: usize = 6;
/// The shortest fault the search tries.
const FAULT_LENGTH_MIN: Duration = Duration::from_millis(1);
/// Fault phases and lengths are tried in whole milliseconds, as a person would write them.
const MS: u64 = 1_000_000;
/// The invariants judged at the end of the heal phase (see `check::INVARIANTS`): a
/// shorter heal leaves less time to recover, so it would break them for another reason.
const JUDGED_AFTER_HEAL: [&str; 2] = ["replica-divergence", "liveness"];

/// How much of a scenario there is to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub faults: usize,
    pub duration: Duration,
    pub producers: usize,
    pub consumers: usize,
}

impl Size {
    fn of(cut: &Cut) -> Size {
        Size {
            faults: cut.faults.len(),
            duration: cut.duration,
            producers: cut.producers.len(),
            consumers: cut.consumers.len(),
        }
    }
}

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The scenario file: the header, then the scenario.
    pub text: String,
    pub scenario: Scenario,
    /// The invariant the search kept broken.
    pub invariant: &'static str,
    /// The shrunk scenario's run of the seed, explained.
    pub report: RunReport,
    pub before: Size,
    pub after: Size,
    /// Candidates run (more with more jobs: a batch runs whole).
    pub runs: usize,
    /// Whether the search stopped at its `runs_max` rather than when nothing more could go.
    pub exhausted: bool,
}

/// Why a seed cannot be shrunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    /// The seed breaks no invariant.
    Passes,
    /// The seed does not break the invariant asked for.
    NotShown { invariant: String, shown: Vec<&'static str> },
    /// The run's faults as a fixed timeline no longer break the invariant.
    NotReproduced { invariant: &'static str, shown: Vec<&'static str> },
}

impl ShrinkError {
    pub fn message(&self, seed: u64) -> String {
        match self {
            ShrinkError::Passes => {
                format!("seed {seed} breaks no invariant: there is nothing to shrink")
            }
            ShrinkError::NotShown { invariant, shown } => format!(
                "seed {seed} does not break `{invariant}`; it breaks {}: pick one of those \
                 with --invariant",
                quoted(shown)
            ),
            ShrinkError::NotReproduced { invariant, shown } => format!(
                "seed {seed} breaks `{invariant}`, but with its faults as a fixed timeline it \
                 breaks {}: the failure depends on how the nemesis scheduled its faults, so \
                 it cannot be shrunk this way (reproduce it with `kafsim run`)",
                if shown.is_empty() { "nothing".to_string() } else { quoted(shown) }
            ),
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The distinct invariants a list of violations breaks, in order of first appearance.
fn invariants(violations: &[Violation]) -> Vec<&'static str> {
    let mut seen = Vec::new();
    for v in violations {
        if !seen.contains(&v.invariant) {
            seen.push(v.invariant);
        }
    }
    seen
}

/// What the shrink is asked.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The scenario and the text of its file.
    pub scenario: &'a Scenario,
    pub text: &'a str,
    /// The file's path as the user gave it, for the header.
    pub source: &'a str,
    pub seed: u64,
    /// The invariant to keep broken; by default the run's first violation's.
    pub invariant: Option<&'a str>,
    /// Candidates run at once.
    pub jobs: usize,
    /// Most candidates to try (see [`RUNS_MAX_DEFAULT`]).
    pub runs_max: usize,
}

/// Shrinks the request's failing seed.
pub fn shrink(request: &Request) -> Result<Shrunk, ShrinkError> {
    assert!(request.jobs > 0, "a shrink needs at least one job");
    let seed = request.seed;
    let first = run_seed(request.scenario, seed);
    let shown = invariants(&first.violations);
    let invariant: &'static str = match request.invariant {
        _ if shown.is_empty() => return Err(ShrinkError::Passes),
        None => shown[0],
        Some(asked) => match shown.iter().find(|&&s| s == asked) {
            Some(&s) => s,
            None => return Err(ShrinkError::NotShown { invariant: asked.into(), shown }),
        },
    };
    let mut original = Original::new(request.text);
    let name = format!("{}-seed-{seed}-shrunk", request.scenario.name);
    let description = format!(
        "{} Shrunk from seed {seed}: breaks {invariant}.",
        request.scenario.description.trim_end()
    );
    original.rename(&name, &description);
    let start = Cut {
        faults: first.injected.clone(),
        duration: request.scenario.run.duration,
        heal: request.scenario.run.heal,
        liveness: request.scenario.run.liveness,
        producers: (0..original.producers()).collect(),
        consumers: (0..original.consumers()).collect(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(request.jobs)
        .build()
        .expect("the shrink's thread pool starts");
    let mut search = Search {
        original: &original,
        seed,
        invariant,
        shown: Vec::new(),
        pool,
        jobs: request.jobs,
        runs: 0,
        tried: 0,
        runs_max: request.runs_max,
    };
    let materialized = search.broken(&start);
    (search.runs, search.tried) = (1, 1);
    if !materialized.contains(&invariant) {
        return Err(ShrinkError::NotReproduced { invariant, shown: materialized });
    }
    search.shown = materialized;
    let mut cut = start.clone();
    for _ in 0..ROUNDS_MAX {
        let before = cut.clone();
        cut = search.cut_faults(cut);
        cut = search.cut_clients(cut);
        cut = search.cut_lengths(cut);
        cut = search.cut_phase(cut);
        cut = search.cut_heal(cut);
        if cut == before || search.exhausted() {
            break;
        }
    }
    let cut = search.round_times(cut);
    let (before, after) = (Size::of(&start), Size::of(&cut));
    let (runs, exhausted) = (search.runs, search.exhausted());
    // The last run, explained (recorded at once: it breaks the invariant), says what the
    // file expects and shows.
    let bare = search.scenario(&cut).expect("the search ran this cut");
    let (report, _, _) = run_explained(&bare, seed, true);
    let violations: BTreeSet<&str> = report.violations.iter().map(|v| v.invariant).collect();
    let allowed: BTreeSet<&str> = report.allowed.iter().map(|v| v.invariant).collect();
    assert!(violations.contains(invariant), "the kept cut breaks {invariant}");
    let expect = expect_table(&Vec::from_iter(violations), &Vec::from_iter(allowed));
    let body = original.text(&cut, seed, &expect);
    let scenario = scenario::parse(&name, &body).expect("the search parsed this cut");
    let check = run_seed(&scenario, seed);
    assert!(check.expect_met, "the shrunk scenario reproduces its run (trace hashes agree)");
    assert_eq!(check.trace_hash, report.trace_hash, "[expect] does not change a run");
    let timeline = crate::report::timeline(&report, &Layout::new(&scenario), cut.duration);
    let header = Header { request, invariant, before, after, exhausted, report: &report, timeline };
    let text = format!("{}\n{body}", comment(&header.lines()));
    Ok(Shrunk { text, scenario, invariant, report, before, after, runs, exhausted })
}

struct Search<'a> {
    original: &'a Original,
    seed: u64,
    invariant: &'static str,
    /// What the start breaks: a cut may break less, never anything else (a heal cut too
    /// short to recover in must not pass for the failure, say).
    shown: Vec<&'static str>,
    pool: rayon::ThreadPool,
    jobs: usize,
    runs: usize,
    /// Candidates one job would have run by now: the budget, the same for any jobs.
    tried: usize,
    runs_max: usize,
}

impl Search<'_> {
    fn exhausted(&self) -> bool {
        self.tried >= self.runs_max
    }

    /// The candidate's scenario; `None` if the cut is not a valid scenario (a fault naming
    /// a client cut away, say).
    fn scenario(&self, cut: &Cut) -> Option<Scenario> {
        let text = self.original.text(cut, self.seed, &expect_table(&[], &[]));
        scenario::parse("candidate", &text).ok()
    }

    /// The invariants the candidate breaks (none if it is not a valid scenario).
    fn broken(&self, cut: &Cut) -> Vec<&'static str> {
        let Some(scenario) = self.scenario(cut) else { return Vec::new() };
        invariants(&run_seed(&scenario, self.seed).violations)
    }

    /// Whether the cut still breaks the invariant, and nothing the start did not.
    fn fails(&self, cut: &Cut) -> bool {
        let broken = self.broken(cut);
        broken.contains(&self.invariant) && broken.iter().all(|b| self.shown.contains(b))
    }

    /// The first of `candidates`, in order and within the budget, that still breaks the
    /// invariant. They run `jobs` at a time, and a batch with one that fails ends the step;
    /// the budget counts only up to that one, as a single job would have.
    fn first(&mut self, candidates: Vec<Cut>) -> Option<Cut> {
        let affordable = candidates.len().min(self.runs_max.saturating_sub(self.tried));
        for batch in candidates[..affordable].chunks(self.jobs) {
            self.runs += batch.len();
            let failed: Vec<bool> =
                self.pool.install(|| batch.par_iter().map(|cut| self.fails(cut)).collect());
            match failed.iter().position(|&f| f) {
                Some(i) => {
                    self.tried += i + 1;
                    return Some(batch[i].clone());
                }
                None => self.tried += batch.len(),
            }
        }
        None
    }

    /// Whole faults, by delta debugging: all of them, then halves, quarters and so on down
    /// to single faults, keeping the first removal that still fails.
    fn cut_faults(&mut self, mut cut: Cut) -> Cut {
        let mut chunks = 1;
        while !cut.faults.is_empty() && !self.exhausted() {
            let n = cut.faults.len();
            let size = n.div_ceil(chunks.min(n));
            let candidates = (0..n)
                .step_by(size)
                .map(|from| {
                    let mut smaller = cut.clone();
                    smaller.faults.drain(from..(from + size).min(n));
                    smaller
                })
                .collect();
            match self.first(candidates) {
                Some(smaller) => {
                    cut = smaller;
                    chunks = chunks.saturating_sub(1).max(2);
                }
                None if size == 1 => break,
                None => chunks = 2 * chunks.min(n),
            }
        }
        cut
    }

    /// Whole clients: each producer entry, then each consumer entry.
    fn cut_clients(&mut self, mut cut: Cut) -> Cut {
        loop {
            let mut candidates = Vec::new();
            for i in 0..cut.producers.len() {
                let mut smaller = cut.clone();
                smaller.producers.remove(i);
                candidates.push(smaller);
            }
            for i in 0..cut.consumers.len() {
                let mut smaller = cut.clone();
                smaller.consumers.remove(i);
                candidates.push(smaller);
            }
            match self.first(candidates) {
                Some(smaller) => cut = smaller,
                None => return cut,
            }
        }
    }

    /// `cut` with the first of `values`, set by `set`, that still fails; `cut` as it is
    /// if none does.
    fn first_value<T>(&mut self, cut: Cut, values: Vec<T>, set: impl Fn(&mut Cut, T)) -> Cut {
        let candidates = values
            .into_iter()
            .map(|value| {
                let mut candidate = cut.clone();
                set(&mut candidate, value);
                candidate
            })
            .collect();
        self.first(candidates).unwrap_or(cut)
    }

    /// Each fault's length: a sixteenth, an eighth, a quarter or half of it, the shortest
    /// that still fails.
    fn cut_lengths(&mut self, mut cut: Cut) -> Cut {
        for i in 0..cut.faults.len() {
            let Some(length) = cut.faults[i].duration else { continue };
            let values = shorter(FAULT_LENGTH_MIN, length);
            cut = self.first_value(cut, values, |c, d| c.faults[i].duration = Some(d));
        }
        cut
    }

    /// The fault phase, down towards the start of the last fault.
    fn cut_phase(&mut self, cut: Cut) -> Cut {
        self.cut_down(cut, |c| (c.phase_min(), c.duration), |c, d| c.duration = d)
    }

    /// The heal phase, down to what the failure needs; kept whole for an invariant judged
    /// at its end.
    fn cut_heal(&mut self, cut: Cut) -> Cut {
        if JUDGED_AFTER_HEAL.contains(&self.invariant) {
            return cut;
        }
        self.cut_down(cut, |c| (FAULT_LENGTH_MIN, c.heal), Cut::set_heal)
    }

    /// One time of the cut, shortened step by step while the cut still fails: `read` gives
    /// the least it may be and what it is, `set` writes it.
    fn cut_down(
        &mut self,
        mut cut: Cut,
        read: impl Fn(&Cut) -> (Duration, Duration),
        set: impl Fn(&mut Cut, Duration),
    ) -> Cut {
        loop {
            let (floor, now) = read(&cut);
            let shorter = self.first_value(cut.clone(), shorter(floor, now), &set);
            if shorter == cut {
                return cut;
            }
            cut = shorter;
        }
    }

    /// The phases, each fault's start, its length and its loss rate to the roundest value
    /// near each that still fails: times in whole seconds, tenths, hundredths or
    /// thousandths of one, rates in tenths, hundredths or thousandths, as a person
    /// writes them.
    fn round_times(&mut self, mut cut: Cut) -> Cut {
        let values = rounder(cut.duration, cut.phase_min());
        cut = self.first_value(cut, values, |c, d| c.duration = d);
        let values = rounder(cut.heal, FAULT_LENGTH_MIN);
        cut = self.first_value(cut, values, Cut::set_heal);
        for i in 0..cut.faults.len() {
            let values = rounder(cut.faults[i].at, Duration::ZERO);
            cut = self.first_value(cut, values, |c, d| c.faults[i].at = d);
            if let FaultSpecKind::Loss { rate, .. } = cut.faults[i].kind {
                let set = |c: &mut Cut, r| {
                    if let FaultSpecKind::Loss { rate, .. } = &mut c.faults[i].kind {
                        *rate = r;
                    }
                };
                cut = self.first_value(cut, rounder_rate(rate), set);
            }
            let Some(length) = cut.faults[i].duration else { continue };
            let values = rounder(length, FAULT_LENGTH_MIN);
            cut = self.first_value(cut, values, |c, d| c.faults[i].duration = Some(d));
        }
        cut
    }
}

/// A loss rate rounded to tenths, hundredths and thousandths, roundest first; each a rate
/// (above 0, at most 1) other than `rate`.
fn rounder_rate(rate: f64) -> Vec<f64> {
    let mut tries: Vec<f64> = [10.0, 100.0, 1_000.0]
        .iter()
        .map(|&scale| (rate * scale).round() / scale)
        .filter(|&r| r > 0.0 && r <= 1.0 && r != rate)
        .collect();
    tries.dedup();
    tries
}

/// `time` rounded to the nearest whole second, tenth, hundredth and thousandth of a
/// second, roundest first; none below `floor`, none equal to `time`.
fn rounder(time: Duration, floor: Duration) -> Vec<Duration> {
    let ns = time.as_nanos();
    let mut tries: Vec<Duration> = [1_000 * MS, 100 * MS, 10 * MS, MS]
        .iter()
        .map(|&unit| Duration::from_nanos((ns + unit / 2) / unit * unit))
        .filter(|&t| t >= floor && t != time)
        .collect();
    tries.dedup();
    tries
}

/// Lengths between `floor` and `length` to try, shortest first: `floor` itself, then
/// `floor` plus a sixteenth, an eighth, a quarter and half of the span, in whole
/// milliseconds; each shorter than `length`.
fn shorter(floor: Duration, length: Duration) -> Vec<Duration> {
    let whole_ms = |ns: u64| Duration::from_nanos(ns.div_ceil(MS) * MS);
    let span = length.saturating_sub(floor).as_nanos();
    let mut tries: Vec<Duration> = [0, 16, 8, 4, 2]
        .iter()
        .map(|&d| whole_ms(floor.as_nanos() + span.checked_div(d).unwrap_or(0)))
        .filter(|&t| t < length)
        .collect();
    tries.dedup();
    tries
}

/// The shrunk file's header.
struct Header<'a> {
    request: &'a Request<'a>,
    invariant: &'static str,
    before: Size,
    after: Size,
    exhausted: bool,
    report: &'a RunReport,
    timeline: String,
}

impl Header<'_> {
    fn lines(&self) -> Vec<String> {
        let (r, b, a) = (self.request, self.before, self.after);
        let mut lines = vec![
            format!(
                "Shrunk by `kafsim shrink {} --seed {}{}`.",
                r.source,
                r.seed,
                r.invariant.map_or(String::new(), |i| format!(" --invariant {i}"))
            ),
            format!(
                "faults {} -> {}, fault phase {} -> {}, producer entries {} -> {}, consumer \
                 entries {} -> {}{}",
                b.faults,
                a.faults,
                duration_text(b.duration),
                duration_text(a.duration),
                b.producers,
                a.producers,
                b.consumers,
                a.consumers,
                if self.exhausted { " (the search stopped at its limit)" } else { "" },
            ),
            String::new(),
            format!("Seed {} of this file breaks `{}`:", r.seed, self.invariant),
        ];
        for (v, story) in self.report.violations.iter().zip(&self.report.explanations) {
            let headline = v.detail.lines().next().unwrap_or_default();
            lines.push(format!("  {} at {}: {headline}", v.invariant, v.time));
            if v.invariant == self.invariant && !story.is_empty() {
                lines.push("  how it came about:".into());
                lines.extend(story.iter().map(|step| format!("    {step}")));
            }
        }
        lines.push(String::new());
        lines.extend(self.timeline.lines().map(str::to_string));
        lines.extend([
            String::new(),
            "Postmortem (to write once the cause is known): what went wrong, the fix, and why"
                .into(),
            "the checker caught it. Once fixed, set [expect] outcome = \"pass\" and move this"
                .into(),
            "file to scenarios/regressions/.".into(),
        ]);
        lines
    }
}

#[cfg(test)]
mod tests;
