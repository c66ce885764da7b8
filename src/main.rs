//! The `kafsim` command line: parse arguments, call the library, print. Nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant as WallInstant;

use clap::{Args, Parser, Subcommand};

use kafsim::report::{self, SweepSummary};
use kafsim::runner::{self, Divergence};
use kafsim::scenario::{self, Scenario};

/// A run grows logs, disk files and history tables of tens of megabytes; mimalloc grows
/// them far more cheaply than the system allocator (see ARCHITECTURE.md). It cannot change
/// a run: nothing in a run depends on addresses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes of DESIGN.md's CLI contract.
const EXIT_MET: u8 = 0;
const EXIT_NOT_MET: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
/// Standard output closed before all was written (`kafsim sweep ... | head`): the code a
/// shell shows for a program killed by SIGPIPE.
const EXIT_OUTPUT_CLOSED: i32 = 141;

/// Writes to standard output; a reader that went away ends the program quietly with
/// [`EXIT_OUTPUT_CLOSED`] rather than a panic.
fn write_out(text: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(error) = std::io::stdout().lock().write_fmt(text) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OUTPUT_CLOSED);
        }
        panic!("cannot write to standard output: {error}");
    }
}

macro_rules! out {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

#[derive(Parser)]
#[command(
    name = "kafsim",
    version,
    about = "Deterministic simulation testing for Kafka-style systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed of a scenario.
    Run(RunArgs),
    /// Run many seeds of a scenario in parallel.
    Sweep(SweepArgs),
    /// Cut a failing seed's run down to a small scenario file that still fails the same way.
    Shrink(ShrinkArgs),
    /// Validate scenario files without running them.
    Check { scenarios: Vec<PathBuf> },
    /// Check a client history (JSON lines, as `run --history` writes) for anomalies.
    CheckHistory {
        file: PathBuf,
        /// Print one JSON object instead of the human summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    scenario: PathBuf,
    /// The seed (default: the scenario's `[run] seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Also write a Markdown report (summary and timeline) into this directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Also print the run's timeline: faults per node, leaders per partition, violations.
    #[arg(long, conflicts_with = "json")]
    timeline: bool,
    /// Run the seed twice and compare the traces event by event.
    #[arg(long)]
    check_determinism: bool,
    /// Also write the run's trace (every event and node annotation, one per line).
    #[arg(long, value_name = "FILE", conflicts_with = "check_determinism")]
    trace: Option<PathBuf>,
    /// Also write the run's client history (JSON lines; `kafsim check-history` reads it).
    #[arg(long, value_name = "FILE", conflicts_with = "check_determinism")]
    history: Option<PathBuf>,
}

#[derive(Args)]
struct SweepArgs {
    scenario: PathBuf,
    /// Seeds to run: `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_parser = parse_seed_range)]
    seeds: SeedRange,
    /// Parallel jobs (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard K of N (`K/N`, K from 1): every N-th seed of the range.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Print one JSON object per seed, then a summary object.
    #[arg(long)]
    json: bool,
    /// Also write the results as JUnit XML (one test case per seed), for CI.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write reports (Markdown and HTML, explained) of each seed that did not meet
    /// `[expect]` into this directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

#[derive(Args)]
struct ShrinkArgs {
    scenario: PathBuf,
    /// The failing seed.
    #[arg(long)]
    seed: u64,
    /// Write the shrunk scenario here (default: print it on standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The invariant to keep broken (default: the run's first violation's).
    #[arg(long, value_name = "NAME")]
    invariant: Option<String>,
    /// Candidate runs at once (default: every core). The result does not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Most candidates to try before settling for what the search has.
    #[arg(long, value_name = "N", default_value_t = kafsim::shrink::RUNS_MAX_DEFAULT)]
    runs_max: usize,
}

#[derive(Clone, Copy, Debug)]
struct SeedRange {
    start: u64,
    end_exclusive: u64,
}

fn parse_seed_range(text: &str) -> Result<SeedRange, String> {
    let usage = || format!("`{text}` is not a seed range: write A..B (B excluded) or A..=B");
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(usage());
    };
    let start: u64 = start.trim().parse().map_err(|_| usage())?;
    let end: u64 = end.trim().parse().map_err(|_| usage())?;
    let end_exclusive = if inclusive { end.checked_add(1).ok_or_else(usage)? } else { end };
    if end_exclusive <= start {
        return Err(format!("seed range `{text}` is empty"));
    }
    Ok(SeedRange { start, end_exclusive })
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let usage = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/4");
    let (k, n) = text.split_once('/').ok_or_else(usage)?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| usage())?, n.parse().map_err(|_| usage())?);
    if k == 0 || n == 0 || k > n {
        return Err(usage());
    }
    Ok((k, n))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::Sweep(args) => sweep(args),
        Command::Shrink(args) => shrink(args),
        Command::Check { scenarios } => check(&scenarios),
        Command::CheckHistory { file, json } => check_history(&file, json),
    };
    ExitCode::from(code)
}

fn load(path: &Path) -> Result<Scenario, u8> {
    scenario::load(path).map_err(|error| {
        eprintln!("{}", error.render());
        EXIT_BAD_INPUT
    })
}

fn exit_for(expect_met: bool) -> u8 {
    if expect_met { EXIT_MET } else { EXIT_NOT_MET }
}

fn run(args: RunArgs) -> u8 {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let path = args.scenario.display().to_string();
    let seed = args.seed.unwrap_or(scenario.run.seed);
    let report = if args.check_determinism {
        match runner::check_determinism(&scenario, seed) {
            Ok(report) => report,
            Err(divergence) => {
                print_divergence(&divergence, &path);
                return EXIT_NOT_MET;
            }
        }
    } else {
        let (report, records, history) =
            runner::run_explained(&scenario, seed, args.trace.is_some());
        if let Some(file) = &args.trace {
            let layout = kafsim::kafka::Layout::new(&scenario);
            if let Err(error) = std::fs::write(file, trace_text(&records, &layout)) {
                eprintln!("error: cannot write trace {}: {error}", file.display());
                return EXIT_BAD_INPUT;
            }
        }
        if let Some(file) = &args.history
            && let Err(error) = std::fs::write(file, kafsim::history::to_jsonl(&history))
        {
            eprintln!("error: cannot write history {}: {error}", file.display());
            return EXIT_BAD_INPUT;
        }
        report
    };
    if args.json {
        outln!("{}", report::json(&report, &path));
    } else {
        out!("{}", report::human(&report, &path, &scenario.expect));
        if args.check_determinism {
            outln!("determinism: two runs gave the same {} events", report.events);
        }
        if args.timeline {
            let layout = kafsim::kafka::Layout::new(&scenario);
            outln!("");
            out!("{}", report::timeline(&report, &layout, scenario.run.duration));
        }
    }
    if let Some(dir) = args.report
        && let Err(code) = write_reports(&dir, &report, &path, &scenario)
    {
        return code;
    }
    exit_for(report.expect_met)
}

/// Writes a run's Markdown and HTML reports into `dir`; returns the HTML page's path.
fn write_reports(
    dir: &Path,
    report: &kafsim::runner::RunReport,
    path: &str,
    scenario: &Scenario,
) -> Result<PathBuf, u8> {
    let stem = format!("{}-seed-{}", scenario.name, report.seed);
    let pages = [
        (dir.join(format!("{stem}.md")), report::markdown(report, path, scenario)),
        (dir.join(format!("{stem}.html")), report::html(report, path, scenario)),
    ];
    for (file, page) in &pages {
        let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(file, page));
        if let Err(error) = written {
            eprintln!("error: cannot write report {}: {error}", file.display());
            return Err(EXIT_BAD_INPUT);
        }
    }
    Ok(pages[1].0.clone())
}

/// Reads a history file and checks it: exit 0 when it shows no anomaly its promises
/// forbid, 1 when it does, 2 when it cannot be read.
fn check_history(file: &Path, json: bool) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", file.display());
            return EXIT_BAD_INPUT;
        }
    };
    let wall_start = WallInstant::now();
    let history = match kafsim::history::parse(&text) {
        Ok(history) => history,
        Err(error) => {
            eprintln!("error: {}:{error}", file.display());
            return EXIT_BAD_INPUT;
        }
    };
    let anomalies = kafsim::check::history::check_ended(&history);
    let wall = wall_start.elapsed();
    let path = file.display().to_string();
    if json {
        outln!("{}", report::history_json(&path, &history, &anomalies, wall));
    } else {
        out!("{}", report::history_human(&path, &history, &anomalies, wall));
    }
    exit_for(anomalies.iter().all(|a| a.allowed.is_some()))
}

/// One line per event: `t=1.234s b1 Deliver <- p1: ProduceRequest { .. }`.
fn trace_text(
    records: &[kafsim::sim::trace::TraceRecord],
    layout: &kafsim::kafka::Layout,
) -> String {
    let name = |n: Option<kafsim::sim::NodeId>| n.map_or("-", |n| layout.name(n));
    let mut text = String::new();
    for r in records {
        let peer = r.peer.map_or(String::new(), |p| format!(" {}", name(Some(p))));
        text.push_str(&format!("{} {} {:?}{peer}: {}\n", r.time, name(r.node), r.kind, r.detail));
    }
    text
}

fn print_divergence(divergence: &Divergence, path: &str) {
    outln!(
        "NON-DETERMINISM: seed {} gave trace hashes {:016x} and {:016x}",
        divergence.first.seed,
        divergence.first.trace_hash,
        divergence.second.trace_hash
    );
    match &divergence.events {
        Some((a, b)) => {
            let show = |r: &Option<kafsim::sim::trace::TraceRecord>| {
                r.as_ref().map_or("(trace ended)".to_string(), |r| {
                    format!(
                        "#{} {} {:?} node {:?} peer {:?}: {}",
                        r.index, r.time, r.kind, r.node, r.peer, r.detail
                    )
                })
            };
            outln!("first difference:\n  run 1: {}\n  run 2: {}", show(a), show(b));
        }
        None => outln!("the recorded events agree; only the hashes differ"),
    }
    outln!(
        "reproduce  {} --check-determinism",
        report::reproduce_line(path, divergence.first.seed)
    );
}

fn sweep(args: SweepArgs) -> u8 {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let path = args.scenario.display().to_string();
    let (shard_k, shard_n) = args.shard.unwrap_or((1, 1));
    let seeds: Vec<u64> = (args.seeds.start..args.seeds.end_exclusive)
        .filter(|seed| (seed - args.seeds.start) % shard_n == shard_k - 1)
        .collect();
    let jobs = match jobs(args.jobs) {
        Ok(jobs) => jobs,
        Err(code) => return code,
    };
    let wall_start = WallInstant::now();
    let reports = runner::sweep(&scenario, &seeds, jobs);
    let summary = SweepSummary::new(&reports, wall_start.elapsed());
    for report in &reports {
        if args.json {
            outln!("{}", report::json(report, &path));
        } else if !report.expect_met {
            out!("{}", report::human(report, &path, &scenario.expect));
        }
    }
    if args.json {
        outln!("{}", summary.json());
    } else {
        out!("{}", summary.human(&path));
    }
    if let Some(file) = &args.junit
        && let Err(error) = std::fs::write(file, report::junit(&reports, &path, &scenario.expect))
    {
        eprintln!("error: cannot write {}: {error}", file.display());
        return EXIT_BAD_INPUT;
    }
    if let Some(dir) = &args.report {
        for failed in reports.iter().filter(|r| !r.expect_met) {
            // Run again with its trace recorded, to explain each violation.
            let (explained, _, _) = runner::run_explained(&scenario, failed.seed, true);
            match write_reports(dir, &explained, &path, &scenario) {
                Ok(page) if !args.json => outln!("report     {}", page.display()),
                Ok(_) => {}
                Err(code) => return code,
            }
        }
    }
    exit_for(summary.failed_seeds.is_empty())
}

/// `--jobs`, by default every core.
fn jobs(asked: Option<usize>) -> Result<usize, u8> {
    match asked {
        Some(0) => {
            eprintln!("error: --jobs must be at least 1");
            Err(EXIT_BAD_INPUT)
        }
        Some(jobs) => Ok(jobs),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Shrinks a failing seed: exit 0 with the shrunk scenario written, 1 when the failure
/// cannot be shrunk, 2 when there is no failure to shrink (or bad input).
fn shrink(args: ShrinkArgs) -> u8 {
    let source = args.scenario.display().to_string();
    // Read once: the shrunk file is written from this text.
    let (scenario, text) = match scenario::load_text(&args.scenario) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("{}", error.render());
            return EXIT_BAD_INPUT;
        }
    };
    let jobs = match jobs(args.jobs) {
        Ok(jobs) => jobs,
        Err(code) => return code,
    };
    let request = kafsim::shrink::Request {
        scenario: &scenario,
        text: &text,
        source: &source,
        seed: args.seed,
        invariant: args.invariant.as_deref(),
        jobs,
        runs_max: args.runs_max,
    };
    let wall_start = WallInstant::now();
    let shrunk = match kafsim::shrink::shrink(&request) {
        Ok(shrunk) => shrunk,
        Err(error) => {
            eprintln!("error: {}", error.message(args.seed));
            return match error {
                kafsim::shrink::ShrinkError::NotReproduced { .. } => EXIT_NOT_MET,
                _ => EXIT_BAD_INPUT,
            };
        }
    };
    let summary = report::shrink_summary(&shrunk, &source, wall_start.elapsed());
    match &args.output {
        Some(file) => {
            if let Err(error) = std::fs::write(file, &shrunk.text) {
                eprintln!("error: cannot write {}: {error}", file.display());
                return EXIT_BAD_INPUT;
            }
            out!("{summary}");
            outln!("wrote      {}", file.display());
            outln!("reproduce  {}", report::reproduce_line(&file.display().to_string(), args.seed));
        }
        // The file on standard output, so `> FILE` keeps it; the summary beside it.
        None => {
            eprint!("{summary}");
            out!("{}", shrunk.text);
        }
    }
    EXIT_MET
}

fn check(paths: &[PathBuf]) -> u8 {
    if paths.is_empty() {
        eprintln!("error: name at least one scenario file");
        return EXIT_BAD_INPUT;
    }
    let mut code = EXIT_MET;
    for path in paths {
        match scenario::load(path) {
            Ok(s) => outln!("ok   {} ({})", path.display(), s.name),
            Err(error) => {
                eprintln!("{}", error.render());
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}
