//! Reports of a judged run: `report.json`, `junit.xml`, `report.html`, and the terminal summary.

pub mod chart;
pub mod html;
pub mod junit;
pub mod perf;
pub mod plot;

use crate::metrics::{self, percentile};
use crate::record::{Outcome, RequestRecord, TestRecord, TestStatus, What, files};
use crate::verdict::{CaseRow, RunRecords, Status, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where failure ids are explained; the report links each failure there.
pub const FAILURES_DOC: &str = "docs/contributing/ci/failures.md";

/// The failure id of a run cut at its budget; the run's error starts with it (`ID: ...`).
pub const BUDGET_EXCEEDED: &str = "budget.exceeded";

/// The family of a guardrail's failure id (`guardrail.error_rate`); an aborted run's error
/// starts with the id (`ID: ...`).
pub const GUARDRAIL: &str = "guardrail";

/// How a run ended as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every verdict passed.
    Passed,
    /// A verdict failed.
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM); verdicts judge what was recorded.
    Interrupted,
    /// Infrastructure failed (service never ready, budget exceeded).
    Error,
    /// Not run on this machine (e.g. a GPU suite without a GPU).
    Skipped,
    /// Ended early by a guardrail of the suite; verdicts judge what was recorded.
    Aborted,
}

impl RunStatus {
    /// The process exit code for this status.
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Passed | RunStatus::Skipped => 0,
            RunStatus::Failed | RunStatus::Aborted => 1,
            RunStatus::Error => 3,
            RunStatus::Interrupted => 130,
        }
    }

    /// The status in upper case, as summaries show it.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Passed => "PASSED",
            RunStatus::Failed => "FAILED",
            RunStatus::Interrupted => "INTERRUPTED",
            RunStatus::Error => "ERROR",
            RunStatus::Skipped => "SKIPPED",
            RunStatus::Aborted => "ABORTED",
        }
    }
}

/// Request counts and latencies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestStats {
    pub total: usize,
    pub by_outcome: BTreeMap<Outcome, usize>,
    /// Latency of successful requests, ms.
    pub ok_latency_p50_ms: Option<f64>,
    pub ok_latency_p99_ms: Option<f64>,
    /// Time to first token of successful streams, ms.
    pub ttft_p50_ms: Option<f64>,
    /// Schedule lag (actual send − intended start), ms.
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
}

impl RequestStats {
    /// Summarise request records.
    pub fn of(reqs: &[RequestRecord]) -> Self {
        let mut by_outcome = BTreeMap::new();
        for r in reqs {
            *by_outcome.entry(r.outcome).or_default() += 1;
        }
        let ok: Vec<&RequestRecord> = reqs.iter().filter(|r| r.outcome.is_ok()).collect();
        let lat: Vec<f64> = ok.iter().filter_map(|r| metrics::e2e_ms(r)).collect();
        let ttft: Vec<f64> = ok.iter().filter_map(|r| metrics::ttft_ms(r)).collect();
        let lag: Vec<f64> = reqs
            .iter()
            .filter_map(|r| Some(r.sent_ms? - r.intended_ms))
            .collect();
        RequestStats {
            total: reqs.len(),
            by_outcome,
            ok_latency_p50_ms: percentile(&lat, 0.50),
            ok_latency_p99_ms: percentile(&lat, 0.99),
            ttft_p50_ms: percentile(&ttft, 0.50),
            lag_p50_ms: percentile(&lag, 0.50),
            lag_p99_ms: percentile(&lag, 0.99),
        }
    }
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub shakedown: String,
    pub suite: String,
    pub level: String,
    pub seed: u64,
    pub status: RunStatus,
    /// Why the run could not complete (status `error`), or what interrupted it.
    pub error: Option<String>,
    pub started_at: String,
    pub wall_ms: f64,
    pub run_dir: PathBuf,
    pub requests: RequestStats,
    /// One row per malformed-input case (`input.malformed`), in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<CaseRow>,
    /// A command suite's imported tests (`tests.jsonl`), in the order its runner reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRecord>,
    pub verdicts: Vec<Verdict>,
    /// A perf test's points and their metrics (`perf.json` holds the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<crate::verdict::sweep::PerfResults>,
    /// Plots written into the run directory (a soak's `stability.svg`), by file name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<String>,
}

impl Report {
    /// The status the verdicts give, unless the run already ended otherwise.
    pub fn status_of(verdicts: &[Verdict], ended: Option<RunStatus>) -> RunStatus {
        match ended {
            Some(s) => s,
            None if verdicts.iter().any(|v| v.status.fails_run()) => RunStatus::Failed,
            None => RunStatus::Passed,
        }
    }

    /// What kind of error ended the run, for JUnit's `<error type>`: `interrupted`,
    /// `budget.exceeded`, the guardrail's id (`guardrail.error_rate`) of an aborted run, or
    /// `infrastructure` (a service never ready, a record not written).
    pub fn error_type(&self) -> &str {
        let budget = self
            .error
            .as_deref()
            .and_then(|e| e.strip_prefix(BUDGET_EXCEEDED))
            .is_some_and(|rest| rest.starts_with(':'));
        match self.status {
            RunStatus::Interrupted => "interrupted",
            RunStatus::Error if budget => BUDGET_EXCEEDED,
            RunStatus::Aborted => self
                .error
                .as_deref()
                .and_then(|e| e.split_once(':'))
                .map_or(GUARDRAIL, |(id, _)| id),
            _ => "infrastructure",
        }
    }

    /// The failure id of how the run ended, when that is a failure of its own: the budget
    /// ran out, or a guardrail tripped.
    pub fn ending_id(&self) -> Option<&str> {
        let t = self.error_type();
        (t == BUDGET_EXCEEDED || self.status == RunStatus::Aborted).then_some(t)
    }

    /// Write `report.json` and `junit.xml` into the run directory.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(files::REPORT), json)?;
        std::fs::write(dir.join(files::JUNIT), junit::render(self))
    }

    /// The terminal summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let status = self.status.word();
        let _ = writeln!(
            s,
            "shakedown: {} ({}, seed {}): {status} in {:.1} s",
            self.suite,
            self.level,
            self.seed,
            self.wall_ms / 1e3
        );
        if let Some(e) = &self.error {
            // A start-up error carries the service's log lines, indented under it.
            for line in e.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        if self.requests.total > 0 {
            let outcomes: Vec<String> = self
                .requests
                .by_outcome
                .iter()
                .map(|(o, n)| format!("{n} {}", o.word()))
                .collect();
            let _ = writeln!(
                s,
                "  requests: {} ({})",
                self.requests.total,
                outcomes.join(", ")
            );
        }
        if let Some(p) = &self.perf {
            let _ = writeln!(s, "  perf (latencies in ms):");
            s.push_str(&perf::table(p));
        }
        if !self.tests.is_empty() {
            let count = |s: TestStatus| self.tests.iter().filter(|t| t.status == s).count();
            let flaky = self.tests.iter().filter(|t| t.flaky()).count();
            let _ = writeln!(
                s,
                "  tests: {} ({} passed{}, {} failed, {} errors, {} skipped)",
                self.tests.len(),
                count(TestStatus::Pass),
                if flaky > 0 {
                    format!(" of which {flaky} flaky")
                } else {
                    String::new()
                },
                count(TestStatus::Fail),
                count(TestStatus::Error),
                count(TestStatus::Skip),
            );
        }
        let width = self
            .verdicts
            .iter()
            .map(|v| v.check.len())
            .max()
            .unwrap_or(0);
        for v in &self.verdicts {
            let tag = v.status.tag();
            let id = if matches!(v.status, Status::Fail | Status::XFail | Status::XPass) {
                format!("[{}] ", v.id)
            } else {
                String::new()
            };
            let _ = writeln!(s, "  {tag}  {:width$}  {id}{}", v.check, v.summary);
            for line in &v.lines {
                let _ = writeln!(s, "        {line}");
            }
        }
        self.input_table(&mut s);
        let count = |st: Status| self.verdicts.iter().filter(|v| v.status == st).count();
        let (xfail, xpass) = (count(Status::XFail), count(Status::XPass));
        if xfail + xpass > 0 {
            let _ = writeln!(
                s,
                "  known failures: {xfail} xfail (not failing the run), {xpass} xpass (failing it)"
            );
        }
        let mut failed: Vec<&str> = self
            .verdicts
            .iter()
            .filter(|v| v.status == Status::Fail)
            .map(|v| v.id.as_str())
            .collect();
        if let Some(id) = self.ending_id() {
            failed.insert(0, id);
        }
        if !failed.is_empty() {
            let ids: Vec<String> = failed
                .iter()
                .map(|id| format!("{FAILURES_DOC}#{}", anchor(id)))
                .collect();
            let _ = writeln!(s, "  what a failure means: {}", ids.join(" "));
        }
        let _ = writeln!(s, "  run directory: {}", self.run_dir.display());
        if let Some(cmd) = self.replay_command() {
            let _ = writeln!(s, "  replay: {cmd}");
        }
        s
    }

    /// The command that runs a failing run again: the same suite, seed and schedule, from
    /// the run directory alone; `None` unless the run failed.
    pub fn replay_command(&self) -> Option<String> {
        matches!(self.status, RunStatus::Failed | RunStatus::Aborted)
            .then(|| format!("shakedown replay {}", self.run_dir.display()))
    }

    /// The ids of the verdicts that failed, sorted, each once.
    pub fn failed_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .verdicts
            .iter()
            .filter(|v| v.status == Status::Fail)
            .map(|v| v.id.clone())
            .chain(self.ending_id().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Failing cases listed in the terminal summary at most (`report.json` has them all).
const MAX_CASE_ROWS: usize = 20;

impl Report {
    /// The malformed-input cases: a count, then one line per failing case.
    fn input_table(&self, s: &mut String) {
        if self.input.is_empty() {
            return;
        }
        let failing: Vec<&CaseRow> = self.input.iter().filter(|r| r.verdict != "ok").collect();
        let _ = writeln!(
            s,
            "  input cases: {} sent, {} ok, {} failing{}",
            self.input.len(),
            self.input.len() - failing.len(),
            failing.len(),
            if failing.is_empty() {
                ""
            } else {
                " (case, status, time, verdict, evidence):"
            }
        );
        let width = failing.iter().map(|r| r.case.len()).max().unwrap_or(0);
        for r in failing.iter().take(MAX_CASE_ROWS) {
            let _ = writeln!(
                s,
                "    {:width$}  {:>12}  {:>8.1} ms  {}  {}",
                r.case, r.status, r.time_ms, r.verdict, r.evidence
            );
        }
        if failing.len() > MAX_CASE_ROWS {
            let _ = writeln!(
                s,
                "    ... {} more in report.json",
                failing.len() - MAX_CASE_ROWS
            );
        }
    }
}

/// The Markdown anchor of a failure id's section (`recovery.timeout` → `recoverytimeout`).
pub fn anchor(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors() {
        assert_eq!(anchor("recovery.timeout"), "recoverytimeout");
    }
}

/// Why a run directory could not be reported on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Judge(#[from] crate::verdict::JudgeError),
    #[error("failed to write the report: {0}")]
    Write(#[from] std::io::Error),
}

/// How the run ended before any verdict, from its journal: skipped, interrupted, or an
/// error that stopped it; `None` when it ran its course.
fn ending(records: &RunRecords) -> (Option<RunStatus>, Option<String>) {
    let (mut skipped, mut interrupted, mut budget, mut error) = (None, None, None, None);
    let mut aborted = None;
    for e in &records.events {
        match &e.what {
            What::RunSkipped { reason } => skipped = Some(format!("skipped: {reason}")),
            What::Interrupt { signal } => {
                interrupted.get_or_insert_with(|| format!("interrupted by {signal}"));
            }
            What::BudgetExceeded { budget_ms } => {
                budget.get_or_insert_with(|| {
                    format!(
                        "{BUDGET_EXCEEDED}: the run was cut at its budget of {}",
                        humantime::format_duration(Duration::from_millis(*budget_ms as u64))
                    )
                });
            }
            What::RunError { error: e } => {
                error.get_or_insert_with(|| e.clone());
            }
            What::GuardrailTripped { guardrail, reason } => {
                aborted.get_or_insert_with(|| format!("{GUARDRAIL}.{guardrail}: {reason}"));
            }
            _ => {}
        }
    }
    let unfinished = records.unfinished_at().map(crate::verdict::unfinished);
    if let Some(s) = skipped {
        (Some(RunStatus::Skipped), Some(s))
    } else if let Some(i) = interrupted.or(unfinished) {
        (Some(RunStatus::Interrupted), Some(i))
    } else if let Some(a) = aborted {
        (Some(RunStatus::Aborted), Some(a))
    } else if let Some(b) = budget {
        (Some(RunStatus::Error), Some(b))
    } else {
        (error.as_ref().map(|_| RunStatus::Error), error)
    }
}

/// Judge a run directory from its records and write `report.json`, `junit.xml` and
/// `report.html`: the one
/// way a report comes to be, at the end of `shakedown run` as in `shakedown report DIR`.
/// Works on a directory whose run crashed before reporting, too.
pub fn judge(dir: &Path) -> Result<Report, ReportError> {
    let records = RunRecords::read(dir)?;
    let (ended, error) = ending(&records);
    // A skipped run judged nothing: its verdicts would only speak of what never ran.
    let verdicts = if ended == Some(RunStatus::Skipped) {
        Vec::new()
    } else {
        crate::verdict::judge(&records)?
    };
    // A plot that cannot be drawn costs the plot, never the report.
    let course = crate::verdict::Course::of(&records);
    let plots = plot::write(dir, &records, &course)
        .ok()
        .flatten()
        .into_iter()
        .collect();
    let report = Report {
        shakedown: env!("CARGO_PKG_VERSION").into(),
        suite: records.timeline.suite.clone(),
        level: records.level.clone(),
        seed: records.timeline.seed,
        status: Report::status_of(&verdicts, ended),
        error,
        started_at: records.timeline.started_at.clone(),
        wall_ms: records.events.last().map_or(0.0, |e| e.t_ms),
        run_dir: dir.to_path_buf(),
        requests: RequestStats::of(&records.requests),
        input: crate::verdict::input_rows(&records),
        tests: records.tests.clone(),
        verdicts,
        perf: records.perf.as_ref().map(|(_, results)| results.clone()),
        plots,
    };
    if let Some((spec, results)) = &records.perf {
        perf::write(dir, spec, results)?;
    }
    report.write(dir)?;
    html::write(dir, &report, &records, &course)?;
    Ok(report)
}
