//! `shakedown shrink`: the smallest suite that still fails with a run's verdict id.
//!
//! From the run's resolved suite and seed, in order: ddmin over its faults; each survivor's
//! instant and length halved while it still fails; the load's length halved; ddmin over each
//! `input.malformed` fault's cases (its `only` key). Every candidate runs `k` times into a
//! directory of its own and counts as failing only if every run fails with the id.

use super::ddmin::{Tally, ddmin, every_time, halve};
use super::{ReplayError, failed_in_order, read_report, resolved_suite};
use crate::report::RunStatus;
use crate::run::{self, RunOptions, create_fresh_dir, create_run_dir};
use crate::suite::Suite;
use crate::units::Dur;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The minimal suite's file, in the shrink directory.
pub const SHRUNK: &str = "shrunk.json";
/// No instant or fault length is halved below this, ms.
const FLOOR_MS: f64 = 200.0;
/// No load is halved below this, ms.
const LOAD_FLOOR_MS: f64 = 1000.0;

/// How a shrink is asked for.
#[derive(Debug, Clone)]
pub struct ShrinkOptions {
    /// The failing run directory.
    pub run_dir: PathBuf,
    /// The verdict id that must keep failing (default: the run's first failing id).
    pub id: Option<String>,
    /// Runs per candidate.
    pub k: u32,
    /// Where the candidates' run directories and the minimal suite go (default: a fresh
    /// `<run dir>-shrink` beside the run directory).
    pub out: Option<PathBuf>,
    /// Runs at most, the first confirmation included; past it the smallest suite so far wins.
    pub max_runs: usize,
    /// A line per candidate on stderr.
    pub progress: bool,
}

/// What a shrink found.
#[derive(Debug)]
pub enum Shrunk {
    /// The original suite, run again `k` times, did not fail with the id every time.
    NotReproduced {
        /// The id.
        id: String,
        /// How often it failed.
        tally: Tally,
        /// Where the runs are.
        dir: PathBuf,
    },
    /// The smallest suite found, written.
    Minimal(Box<Minimal>),
}

/// The smallest failing suite and what it took.
#[derive(Debug)]
pub struct Minimal {
    /// The verdict id it still fails with.
    pub id: String,
    /// The shrink directory (one run directory per candidate run).
    pub dir: PathBuf,
    /// The minimal suite's file.
    pub suite_file: PathBuf,
    /// The last run of the minimal suite (a run directory `replay` accepts).
    pub last_failing: PathBuf,
    /// The seed every candidate ran with.
    pub seed: u64,
    /// Runs made, all candidates together.
    pub runs: usize,
    /// How often the minimal suite failed over its runs.
    pub tally: Tally,
    /// Faults before and after.
    pub faults: (usize, usize),
    /// Load length before and after, ms (`None`: no load).
    pub load_ms: Option<(f64, f64)>,
    /// Malformed-input cases before and after, all such faults together.
    pub cases: (usize, usize),
    /// Whether `max_runs` stopped the search before it was done.
    pub exhausted: bool,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

impl Shrunk {
    /// The lines that report it.
    pub fn lines(&self) -> String {
        match self {
            Shrunk::NotReproduced { id, tally, dir } => format!(
                "shrink: {id} does not fail every time: fails {} of {} runs (in {}); \
                 nothing to shrink\n",
                tally.fails,
                tally.runs,
                dir.display()
            ),
            Shrunk::Minimal(m) => m.lines(),
        }
    }

    /// Exit code: 0 when a minimal suite was written, 1 when the failure does not reproduce,
    /// 130 when Ctrl-C ended the search (the smallest suite so far is still written).
    pub fn exit_code(&self) -> i32 {
        match self {
            Shrunk::NotReproduced { .. } => 1,
            Shrunk::Minimal(m) if m.interrupted => 130,
            Shrunk::Minimal(_) => 0,
        }
    }
}

impl Minimal {
    fn lines(&self) -> String {
        let secs = |ms: f64| format!("{} s", ms / 1e3);
        let load = match self.load_ms {
            Some((a, b)) if a != b => format!(", load {} (was {})", secs(b), secs(a)),
            Some((_, b)) => format!(", load {}", secs(b)),
            None => String::new(),
        };
        let cases = match self.cases {
            (0, _) => String::new(),
            (a, b) => format!(", {b} of {a} input cases"),
        };
        // A run with no faults to take away (a failure under load alone) says so plainly.
        let faults = match self.faults {
            (0, _) => "no faults".to_string(),
            (a, b) => format!("{b} of {a} fault(s)"),
        };
        let stopped = if self.interrupted {
            " (interrupted: smaller may exist)"
        } else if self.exhausted {
            " (stopped at --max-runs: smaller may exist)"
        } else {
            ""
        };
        format!(
            "shrink: {} still fails with {faults}{load}{cases}: fails {} of {} runs\n\
             shrink: {} runs{stopped}, each in {}\n\
             shrink: minimal suite: {}\n  \
             replay: shakedown replay {}\n  \
             or run: shakedown run {} --seed {}\n",
            self.id,
            self.tally.fails,
            self.tally.runs,
            self.runs,
            self.dir.display(),
            self.suite_file.display(),
            self.last_failing.display(),
            self.suite_file.display(),
            self.seed,
        )
    }
}

/// Shrink `opts.run_dir`'s failing suite (runs its candidates on a runtime of its own).
pub fn shrink(opts: &ShrinkOptions) -> Result<Shrunk, ReplayError> {
    let original = resolved_suite(&opts.run_dir)?;
    let failed = failed_in_order(&read_report(&opts.run_dir)?);
    let id = match &opts.id {
        Some(id) if !failed.contains(id) => {
            return Err(ReplayError::Usage(format!(
                "`{id}` did not fail in {}, expected one of its failing ids: {}",
                opts.run_dir.display(),
                if failed.is_empty() {
                    "none".to_string()
                } else {
                    failed.join(", ")
                }
            )));
        }
        Some(id) => id.clone(),
        None => failed.first().cloned().ok_or_else(|| {
            ReplayError::Usage(format!(
                "{} has no failing verdict to shrink",
                opts.run_dir.display()
            ))
        })?,
    };
    if opts.max_runs < opts.k.max(1) as usize {
        return Err(ReplayError::Usage(format!(
            "--max-runs {} is below -k {}, expected at least the k runs that confirm the failure",
            opts.max_runs, opts.k
        )));
    }
    let dir = shrink_dir(opts)?;
    let rt = tokio::runtime::Runtime::new().map_err(|source| ReplayError::Write {
        path: dir.clone(),
        source,
    })?;
    let stop = {
        let _in = rt.enter();
        run::watch_interrupts()
    };
    let mut t = Tester {
        id: id.clone(),
        k: opts.k.max(1),
        max_runs: opts.max_runs,
        dir: dir.clone(),
        progress: opts.progress,
        rt,
        stop,
        runs: 0,
        interrupted: false,
        last_failing: None,
        tally: Tally::default(),
        exhausted: false,
    };
    let tally = t.confirm(&original);
    if t.interrupted {
        return Err(ReplayError::Interrupted);
    }
    if tally.fails < tally.runs || tally.runs == 0 {
        return Ok(Shrunk::NotReproduced { id, tally, dir });
    }
    let mut best = original.clone();
    shrink_faults(&mut t, &mut best);
    shrink_timing(&mut t, &mut best);
    shrink_load(&mut t, &mut best);
    shrink_cases(&mut t, &mut best);

    let suite_file = dir.join(SHRUNK);
    let bytes = serde_json::to_vec_pretty(&best).unwrap_or_default();
    std::fs::write(&suite_file, bytes).map_err(|source| ReplayError::Write {
        path: suite_file.clone(),
        source,
    })?;
    let load_ms = match (&original.load, &best.load) {
        (Some(a), Some(b)) => Some((a.duration.as_ms(), b.duration.as_ms())),
        _ => None,
    };
    Ok(Shrunk::Minimal(Box::new(Minimal {
        id,
        suite_file,
        last_failing: t.last_failing.clone().unwrap_or_else(|| dir.clone()),
        dir,
        seed: best.meta.seed,
        runs: t.runs,
        tally: t.tally,
        faults: (original.faults.len(), best.faults.len()),
        load_ms,
        cases: (case_count(&original), case_count(&best)),
        exhausted: t.exhausted,
        interrupted: t.interrupted,
    })))
}

/// The shrink directory: `--out`, which must be empty, or a fresh one beside the run.
fn shrink_dir(opts: &ShrinkOptions) -> Result<PathBuf, ReplayError> {
    let created = match &opts.out {
        Some(out) => create_run_dir(Some(out), out, "", 0),
        None => {
            let parent = opts.run_dir.parent().unwrap_or(Path::new("."));
            let name = opts
                .run_dir
                .file_name()
                .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
            create_fresh_dir(parent, &format!("{name}-shrink"))
        }
    };
    created.map_err(|(path, source)| ReplayError::Write { path, source })
}

/// Runs candidates and keeps count.
struct Tester {
    id: String,
    k: u32,
    max_runs: usize,
    dir: PathBuf,
    progress: bool,
    rt: tokio::runtime::Runtime,
    /// Cancelled by Ctrl-C, between runs as during one.
    stop: CancellationToken,
    runs: usize,
    /// A candidate run was interrupted: no more runs.
    interrupted: bool,
    /// The last run of the last candidate that failed every time.
    last_failing: Option<PathBuf>,
    /// That candidate's tally.
    tally: Tally,
    exhausted: bool,
}

impl Tester {
    /// The original suite, all `k` runs (its tally says how stable the failure is).
    fn confirm(&mut self, suite: &Suite) -> Tally {
        let mut tally = Tally::default();
        let mut last = None;
        for _ in 0..self.k {
            let (hit, dir) = self.once(suite);
            tally.runs += u32::from(dir.is_some());
            if hit {
                tally.fails += 1;
                last = dir;
            }
        }
        self.say("original", suite, tally);
        if tally.fails == tally.runs {
            (self.last_failing, self.tally) = (last, tally);
        }
        tally
    }

    /// Whether `suite` fails with the id in every one of `k` runs (`what` names the step).
    fn fails(&mut self, what: &str, suite: &Suite) -> bool {
        let mut last = None;
        let (failed, tally) = every_time(self.k, &mut || {
            let (hit, dir) = self.once(suite);
            last = dir;
            hit
        });
        self.say(what, suite, tally);
        if failed {
            (self.last_failing, self.tally) = (last, tally);
        }
        failed
    }

    /// One run of `suite`: whether it failed with the id, and its directory (`None` when
    /// `max_runs` is spent and nothing ran).
    fn once(&mut self, suite: &Suite) -> (bool, Option<PathBuf>) {
        if self.stop.is_cancelled() {
            self.halt();
        }
        if self.runs >= self.max_runs {
            self.exhausted = !self.interrupted;
            return (false, None);
        }
        self.runs += 1;
        let run_dir = self.dir.join(format!("{:03}", self.runs));
        let opts = RunOptions {
            seed: None,
            out: self.dir.clone(),
            run_dir: Some(run_dir.clone()),
            progress: false,
            duration: None,
        };
        let hit = match self.rt.block_on(run::run(suite.clone(), &opts)) {
            // Ctrl-C ends the search: the smallest failing suite so far is the answer.
            Ok(report) if report.status == RunStatus::Interrupted => {
                self.halt();
                false
            }
            Ok(report) => failed_in_order(&report).contains(&self.id),
            // A candidate that cannot run (a fault that no longer builds) does not fail.
            Err(_) => false,
        };
        (hit, Some(run_dir))
    }

    /// Ctrl-C: no more runs.
    fn halt(&mut self) {
        self.interrupted = true;
        self.max_runs = self.runs;
    }

    fn say(&self, what: &str, suite: &Suite, t: Tally) {
        if !self.progress {
            return;
        }
        let load = suite
            .load
            .as_ref()
            .map_or(String::new(), |l| format!(", load {}", l.duration));
        eprintln!(
            "shrink: run {:>3}: {what}: {} fault(s){load}: {} {} of {} runs",
            self.runs,
            suite.faults.len(),
            if t.fails == t.runs && t.runs > 0 {
                "fails"
            } else {
                "passes"
            },
            t.fails,
            t.runs
        );
    }
}

/// Fewer faults: none at all if the failure needs none, else ddmin over them.
fn shrink_faults(t: &mut Tester, best: &mut Suite) {
    if best.faults.is_empty() {
        return;
    }
    let keep = |s: &Suite, idx: &[usize]| {
        let mut c = s.clone();
        c.faults = idx.iter().map(|&i| s.faults[i].clone()).collect();
        c
    };
    if t.fails("no fault", &keep(best, &[])) {
        best.faults.clear();
        return;
    }
    let all: Vec<usize> = (0..best.faults.len()).collect();
    let base = best.clone();
    let chosen = ddmin(&all, &mut |idx| {
        t.fails(&format!("faults {idx:?}"), &keep(&base, idx))
    });
    *best = keep(&base, &chosen);
}

/// Each fault shorter (`for` halved), then earlier (`at` halved), while it still fails.
fn shrink_timing(t: &mut Tester, best: &mut Suite) {
    for i in 0..best.faults.len() {
        if let Some(d) = best.faults[i].duration {
            let base = best.clone();
            let ms = halve(d.as_ms(), FLOOR_MS, &mut |ms| {
                let mut c = base.clone();
                c.faults[i].duration = Some(dur(ms));
                t.fails(&format!("fault {i} for {}", dur(ms)), &c)
            });
            best.faults[i].duration = Some(dur(ms));
        }
        if !best.faults[i].startup {
            let base = best.clone();
            let ms = halve(best.faults[i].at.as_ms(), FLOOR_MS, &mut |ms| {
                let mut c = base.clone();
                c.faults[i].at = dur(ms);
                t.fails(&format!("fault {i} at {}", dur(ms)), &c)
            });
            best.faults[i].at = dur(ms);
        }
    }
}

/// A shorter load, halved while it still fails and still holds every fault.
fn shrink_load(t: &mut Tester, best: &mut Suite) {
    let Some(load) = &best.load else { return };
    let last_fault = best
        .faults
        .iter()
        .filter(|f| !f.startup && !f.after_load)
        .map(|f| f.at.as_ms() + f.duration.map_or(0.0, |d| d.as_ms()))
        .fold(0.0, f64::max);
    let base = best.clone();
    let ms = halve(
        load.duration.as_ms(),
        LOAD_FLOOR_MS.max(last_fault),
        &mut |ms| {
            let mut c = base.clone();
            if let Some(l) = &mut c.load {
                l.duration = dur(ms);
            }
            t.fails(&format!("load {}", dur(ms)), &c)
        },
    );
    if let Some(l) = &mut best.load {
        l.duration = dur(ms);
    }
}

/// Fewer malformed-input cases: ddmin over each `input.malformed` fault's cases, named in
/// its `only` key.
fn shrink_cases(t: &mut Tester, best: &mut Suite) {
    for i in 0..best.faults.len() {
        let names = cases(best, i);
        if names.len() < 2 {
            continue;
        }
        let base = best.clone();
        let with = |only: &[String]| {
            let mut c = base.clone();
            c.faults[i].params.insert("only".into(), only.into());
            c
        };
        let chosen = ddmin(&names, &mut |only| {
            t.fails(&format!("fault {i}: {} cases", only.len()), &with(only))
        });
        *best = with(&chosen);
    }
}

/// The case names of fault `i` when it is `input.malformed`, in the order the run sends them.
fn cases(suite: &Suite, i: usize) -> Vec<String> {
    if suite.faults[i].kind != "input.malformed" {
        return Vec::new();
    }
    let Ok(plan) = run::schedule::plan(suite) else {
        return Vec::new();
    };
    plan.faults[i].draws["case_order"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every malformed-input case of the suite.
fn case_count(suite: &Suite) -> usize {
    (0..suite.faults.len()).map(|i| cases(suite, i).len()).sum()
}

/// Whole milliseconds as a suite duration.
fn dur(ms: f64) -> Dur {
    Dur(Duration::from_millis(ms.round() as u64))
}
