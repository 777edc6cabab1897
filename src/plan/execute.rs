//! Running a level on this machine: every suite of the plan in order, one run directory
//! each, and a level directory with `level.json` and one JUnit file for them all.

use super::{Ask, Entry, level, secs};
use crate::record::files;
use crate::report::{Report, RunStatus};
use crate::run::{RunOptions, create_fresh_dir, utc_stamp};
use crate::suite::{Hardware, Level, Suite};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// The level summary in a level directory.
pub const LEVEL_JSON: &str = "level.json";

/// Why the suites after an interrupt are not run.
const NOT_RUN_INTERRUPTED: &str = "not run: the level was interrupted";

/// How a level is run.
#[derive(Debug, Clone)]
pub struct LevelOptions {
    /// Override every suite's seed.
    pub seed: Option<u64>,
    /// Where the level directory goes (`OUT/level-L3-<utc>/`).
    pub out: PathBuf,
    /// Print each run's progress lines to stderr.
    pub progress: bool,
    /// Stop at the first suite that fails or errs; the rest are not run.
    pub fail_fast: bool,
    /// Scale every soak to this length of load (`run --duration`).
    pub duration: Option<crate::units::Dur>,
}

/// Why a level could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("failed to create the level directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `level.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub shakedown: String,
    /// The level run.
    pub level: Level,
    /// The levels whose suites it ran, cheapest first.
    pub runs: Vec<Level>,
    /// The hardware of this machine.
    pub hardware: Hardware,
    /// The worst status of its suites (interrupted, error, aborted, failed, passed, skipped).
    pub status: RunStatus,
    pub started_at: String,
    pub wall_ms: f64,
    /// The level's budget, seconds; `None`: as needed.
    pub budget_s: Option<f64>,
    /// Whether the level took longer than its budget.
    pub over_budget: bool,
    /// The level directory.
    pub dir: PathBuf,
    /// Each suite, in the order run.
    pub suites: Vec<SuiteResult>,
    /// How many suites ended in each status.
    pub totals: Totals,
}

/// One suite of a level run.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    pub name: String,
    pub file: PathBuf,
    pub level: Level,
    pub hardware: Hardware,
    /// `skipped` also for a suite not run (after `--fail-fast` stopped, or an interrupt).
    pub status: RunStatus,
    /// Its run directory; `None` when it was not run or none could be made.
    pub run_dir: Option<PathBuf>,
    pub wall_ms: f64,
    /// The failure ids of its failed verdicts (and `budget.exceeded` when cut at its budget,
    /// the guardrail's id when one aborted it).
    pub failed: Vec<String>,
    /// Why it did not pass: its error, what interrupted it, why it was skipped or not run.
    pub reason: Option<String>,
}

/// Suites per status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub error: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub aborted: usize,
}

impl Totals {
    fn of(results: &[SuiteResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            *match r.status {
                RunStatus::Passed => &mut t.passed,
                RunStatus::Failed => &mut t.failed,
                RunStatus::Error => &mut t.error,
                RunStatus::Interrupted => &mut t.interrupted,
                RunStatus::Skipped => &mut t.skipped,
                RunStatus::Aborted => &mut t.aborted,
            } += 1;
        }
        t
    }
}

/// Why the suites after `e` are not run, given how it ended: an interrupt stops the level,
/// and with `--fail-fast` so does a failure or an error.
fn stop_after(e: &Entry, status: RunStatus, fail_fast: bool) -> Option<String> {
    match status {
        RunStatus::Interrupted => Some(NOT_RUN_INTERRUPTED.into()),
        RunStatus::Failed | RunStatus::Aborted | RunStatus::Error if fail_fast => Some(format!(
            "not run: `{}` {} and --fail-fast stopped the level",
            e.name,
            status.word()
        )),
        _ => None,
    }
}

/// How bad a status is, for the level's status (the worst of its suites').
fn severity(s: RunStatus) -> u8 {
    match s {
        RunStatus::Skipped => 0,
        RunStatus::Passed => 1,
        RunStatus::Failed => 2,
        RunStatus::Aborted => 3,
        RunStatus::Error => 4,
        RunStatus::Interrupted => 5,
    }
}

/// Run every suite of `level` (and of the levels it includes) among `suites` on this
/// machine, cheapest level first; `each` sees every report as it is written. Writes
/// `level.json` and `junit.xml` into a new level directory.
pub async fn run_level(
    level: Level,
    suites: Vec<Suite>,
    opts: &LevelOptions,
    mut each: impl FnMut(&Report),
) -> Result<LevelReport, LevelError> {
    let ask = Ask {
        levels: vec![level],
        trigger: None,
        hardware: super::this_machine(),
    };
    let plan = super::plan(suites, &ask);
    let id = level::info(level).id;
    let now = SystemTime::now();
    let dir = create_fresh_dir(&opts.out, &format!("level-{id}-{}", utc_stamp(now)))
        .map_err(|(path, source)| LevelError::Dir { path, source })?;
    let started = Instant::now();
    let interrupted = crate::run::watch_interrupts();
    let run_opts = RunOptions {
        seed: opts.seed,
        out: dir.clone(),
        run_dir: None,
        progress: opts.progress,
        duration: opts.duration,
    };
    let mut reports = Vec::new();
    let mut results = Vec::new();
    // Once set, why the remaining suites are not run.
    let mut stopped: Option<String> = None;
    for e in plan.suites.iter().filter(|e| e.in_levels()) {
        if stopped.is_none() && interrupted.is_cancelled() {
            stopped = Some(NOT_RUN_INTERRUPTED.into());
        }
        let ran = stopped.is_none();
        let report = match &stopped {
            Some(reason) => not_run(e, RunStatus::Skipped, reason.clone()),
            None => match crate::run::run(e.suite.clone(), &run_opts).await {
                Ok(r) => {
                    each(&r);
                    r
                }
                Err(err) => not_run(e, RunStatus::Error, err.to_string()),
            },
        };
        if ran {
            stopped = stop_after(e, report.status, opts.fail_fast);
        }
        results.push(result_of(e, &report, ran));
        reports.push(report);
    }
    let mut status = results
        .iter()
        .map(|r| r.status)
        .max_by_key(|&s| severity(s))
        .unwrap_or(RunStatus::Skipped);
    if interrupted.is_cancelled() {
        status = RunStatus::Interrupted;
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let budget_s = level::info(level).budget.map(|b| b.as_secs_f64());
    let report = LevelReport {
        shakedown: env!("CARGO_PKG_VERSION").into(),
        level,
        runs: plan.runs.clone(),
        hardware: plan.hardware,
        status,
        started_at: humantime::format_rfc3339_millis(now).to_string(),
        wall_ms,
        budget_s,
        over_budget: budget_s.is_some_and(|b| wall_ms / 1e3 > b),
        dir: dir.clone(),
        totals: Totals::of(&results),
        suites: results,
    };
    write(
        &dir,
        LEVEL_JSON,
        serde_json::to_vec_pretty(&report).unwrap_or_default(),
    )?;
    write(
        &dir,
        files::JUNIT,
        crate::report::junit::render_all(&reports).into_bytes(),
    )?;
    Ok(report)
}

fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<(), LevelError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| LevelError::Write { path, source })
}

/// The report of a suite that was not run (`skipped`), or whose run could not start
/// (`error`), with why.
fn not_run(e: &Entry, status: RunStatus, reason: String) -> Report {
    Report {
        shakedown: env!("CARGO_PKG_VERSION").into(),
        suite: e.name.clone(),
        level: level::info(e.level).id.into(),
        seed: e.suite.meta.seed,
        status,
        error: Some(reason),
        started_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        wall_ms: 0.0,
        run_dir: PathBuf::new(),
        requests: Default::default(),
        input: Vec::new(),
        tests: Vec::new(),
        verdicts: Vec::new(),
        perf: None,
        plots: Vec::new(),
    }
}

/// A suite's line in `level.json`.
fn result_of(e: &Entry, r: &Report, ran: bool) -> SuiteResult {
    let mut failed: Vec<String> = r
        .verdicts
        .iter()
        .filter(|v| v.status.fails_run())
        .map(|v| v.id.clone())
        .collect();
    if let Some(id) = r.ending_id() {
        failed.insert(0, id.into());
    }
    SuiteResult {
        name: e.name.clone(),
        file: e.file.clone(),
        level: e.level,
        hardware: e.hardware,
        status: r.status,
        run_dir: (ran && !r.run_dir.as_os_str().is_empty()).then(|| r.run_dir.clone()),
        wall_ms: r.wall_ms,
        failed,
        reason: r.error.clone(),
    }
}

impl LevelReport {
    /// The terminal summary of the level: one line per suite.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let runs: Vec<&str> = self.runs.iter().map(|&l| level::info(l).id).collect();
        let budget = match self.budget_s {
            Some(b) if self.over_budget => format!(", OVER its budget of {}", secs(b)),
            Some(b) => format!(", budget {}", secs(b)),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "shakedown: level {} (runs {}): {} in {:.1} s{budget}",
            level::info(self.level).id,
            runs.join(", "),
            self.status.word(),
            self.wall_ms / 1e3
        );
        let width = self.suites.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &self.suites {
            let what = match (&r.run_dir, &r.reason) {
                (Some(d), _) if r.status == RunStatus::Passed => d.display().to_string(),
                (_, Some(reason)) => reason.lines().next().unwrap_or_default().to_string(),
                (Some(d), None) => d.display().to_string(),
                (None, None) => String::new(),
            };
            let failed = if r.failed.is_empty() {
                String::new()
            } else {
                format!("[{}] ", r.failed.join(", "))
            };
            let _ = writeln!(
                s,
                "  {:11}  {}  {:width$}  {:>6.1} s  {failed}{what}",
                r.status.word(),
                level::info(r.level).id,
                r.name,
                r.wall_ms / 1e3
            );
        }
        if self.suites.is_empty() {
            let _ = writeln!(s, "  no suites of these levels found");
        }
        let _ = writeln!(s, "  level directory: {}", self.dir.display());
        s
    }
}
