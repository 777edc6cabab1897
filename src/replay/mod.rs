//! Reproduce a run: `replay` runs a run directory's suite again with its seed and schedule
//! (optionally against another build of the service) and compares the failing verdict ids;
//! `shrink` ([`shrink`]) looks for the smallest suite that still fails with one of them.

pub mod ddmin;
pub mod shrink;

use crate::record::{Schedule, files, first_difference_json};
use crate::report::{Report, RunStatus};
use crate::run::{self, RunError, RunOptions};
use crate::suite::{Suite, SuiteError};
use crate::verdict::Status;
use std::path::{Path, PathBuf};

pub use shrink::{ShrinkOptions, Shrunk, shrink};

/// Why a run directory cannot be replayed (or shrunk).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Suite(#[from] SuiteError),
    #[error("{path} holds no single suite")]
    NotOne { path: PathBuf },
    #[error("failed to read the report of {dir}: {message}")]
    Report { dir: PathBuf, message: String },
    #[error("--against is empty, expected a command line")]
    EmptyAgainst,
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("{0}")]
    Usage(String),
    #[error("interrupted before the failure was confirmed")]
    Interrupted,
}

impl ReplayError {
    /// Exit code: 2 for what was asked (a directory without a run, a bad flag), else the
    /// run's own (3 for infrastructure).
    pub fn exit_code(&self) -> i32 {
        match self {
            ReplayError::Run(e) => e.exit_code(),
            ReplayError::Write { .. } => 3,
            ReplayError::Interrupted => 130,
            _ => 2,
        }
    }
}

/// How a replay is asked for.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The run directory to replay.
    pub run_dir: PathBuf,
    /// Another command line for the entry service (words split on spaces).
    pub against: Option<String>,
    /// Where the replay's run directory goes.
    pub out: PathBuf,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// How the replay's schedule compares with the one recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleCheck {
    /// The same, byte for byte.
    Same,
    /// Different; the first differing field.
    Differs(String),
    /// The run directory has no `schedule.json` (written by an older shakedown).
    NotRecorded,
}

/// A finished replay.
#[derive(Debug)]
pub struct Replayed {
    /// The replay's report.
    pub report: Report,
    /// Failing ids of the original run, sorted.
    pub before: Vec<String>,
    /// Failing ids of the replay, sorted.
    pub now: Vec<String>,
    /// The replay's planned schedule against the recorded one.
    pub schedule: ScheduleCheck,
}

impl Replayed {
    /// Whether the same verdict ids failed.
    pub fn same(&self) -> bool {
        self.before == self.now
    }

    /// Whether the replay got as far as verdicts to compare: not an error without an id of
    /// its own (a service that never started), not a skip (a requirement missing here).
    pub fn judged(&self) -> bool {
        !matches!(self.report.status, RunStatus::Error | RunStatus::Skipped)
            || self.report.ending_id().is_some()
    }

    /// Exit code: 0 the same ids fail, 1 others do, 3 the replay reached no verdict, 130
    /// interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.report.status == RunStatus::Interrupted {
            130
        } else if !self.judged() {
            3
        } else if self.same() {
            0
        } else {
            1
        }
    }

    /// The lines that close a replay's output: the schedule, then the verdict ids.
    pub fn lines(&self, dir: &Path) -> String {
        let list = |ids: &[String]| {
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        };
        let schedule = match &self.schedule {
            ScheduleCheck::Same => "replay: the planned schedule is the recorded one".to_string(),
            ScheduleCheck::Differs(field) => format!(
                "warning: the planned schedule differs from the recorded one, first at `{field}`"
            ),
            ScheduleCheck::NotRecorded => format!(
                "warning: {} has no {}, the schedule cannot be compared",
                dir.display(),
                files::SCHEDULE
            ),
        };
        let ids = if !self.judged() {
            format!(
                "replay: ended {} before any verdict, nothing to compare with {}",
                self.report.status.word(),
                dir.display()
            )
        } else if self.same() {
            format!(
                "replay: the same verdict ids fail as in {}: {}",
                dir.display(),
                list(&self.now)
            )
        } else {
            format!(
                "replay: other verdict ids fail than in {}: before {}, now {}",
                dir.display(),
                list(&self.before),
                list(&self.now)
            )
        };
        format!("{schedule}\n{ids}\n")
    }
}

/// Run `opts.run_dir`'s resolved suite again, with its seed, and compare.
pub async fn replay(opts: &ReplayOptions) -> Result<Replayed, ReplayError> {
    let dir = &opts.run_dir;
    let mut suite = resolved_suite(dir)?;
    let before = read_report(dir)?.failed_ids();
    if let Some(cmd) = &opts.against {
        against(&mut suite, cmd)?;
    }
    let schedule = compare(dir, &suite, opts.against.is_some())?;
    let run_opts = RunOptions {
        seed: None,
        out: opts.out.clone(),
        run_dir: None,
        progress: opts.progress,
        duration: None,
    };
    let report = run::run(suite, &run_opts).await?;
    let now = report.failed_ids();
    Ok(Replayed {
        report,
        before,
        now,
        schedule,
    })
}

/// The suite a run directory ran (`suite.resolved.json`).
pub fn resolved_suite(dir: &Path) -> Result<Suite, ReplayError> {
    let path = dir.join(files::SUITE);
    let mut suites = crate::suite::load_all(&path, &crate::fault::check)?;
    if suites.len() != 1 {
        return Err(ReplayError::NotOne { path });
    }
    Ok(suites.remove(0))
}

/// A run directory's `report.json`.
fn read_report(dir: &Path) -> Result<Report, ReplayError> {
    let err = |message: String| ReplayError::Report {
        dir: dir.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(dir.join(files::REPORT)).map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))
}

/// `Report::failed_ids` in report order (the run's own ending id first), for shrink's
/// default id: the first failure a person reads.
fn failed_in_order(report: &Report) -> Vec<String> {
    let mut ids: Vec<String> = report.ending_id().map(str::to_string).into_iter().collect();
    for v in report.verdicts.iter().filter(|v| v.status == Status::Fail) {
        if !ids.contains(&v.id) {
            ids.push(v.id.clone());
        }
    }
    ids
}

/// Replace the entry service's command line with `cmd` (a command suite's command).
fn against(suite: &mut Suite, cmd: &str) -> Result<(), ReplayError> {
    let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    if argv.is_empty() {
        return Err(ReplayError::EmptyAgainst);
    }
    if let Some(c) = &mut suite.command {
        c.argv = argv;
        return Ok(());
    }
    let entry = suite.entry().name.clone();
    if let Some(s) = suite.services.iter_mut().find(|s| s.name == entry) {
        s.command = argv;
    }
    Ok(())
}

/// The schedule `suite` will follow against the one `dir` recorded; with `--against`, the
/// services' command lines differ on purpose and are not compared.
fn compare(dir: &Path, suite: &Suite, against: bool) -> Result<ScheduleCheck, ReplayError> {
    let Ok(bytes) = std::fs::read(dir.join(files::SCHEDULE)) else {
        return Ok(ScheduleCheck::NotRecorded);
    };
    let mut now = run::schedule::plan(suite)?;
    let recorded: Schedule = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(_) => return Ok(ScheduleCheck::Differs(".".into())),
    };
    if against {
        now.services = recorded.services;
    }
    Ok(
        match first_difference_json(&bytes, &run::schedule::to_json(&now)) {
            None => ScheduleCheck::Same,
            Some(field) => ScheduleCheck::Differs(field),
        },
    )
}
