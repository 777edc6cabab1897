//! Verdicts: pure judgements over the files of a run directory.
//!
//! Invariant: nothing here looks at live state. Everything a check needs is on disk
//! before judging, so `shakedown report RUN_DIR` judges a run again to the same result,
//! and every check can be tested on recorded runs.

mod accuracy;
mod api;
mod command;
mod course;
mod crash;
mod determinism;
mod fail_fast;
#[cfg(test)]
pub(crate) mod fixture;
mod gpu;
mod hang;
mod health;
mod injected;
mod input;
mod known;
mod logs;
mod loss;
mod offline;
mod orphans;
mod perf;
mod recovery;
pub mod stability;
mod startup;
mod steady;
pub mod sweep;
#[cfg(test)]
mod tests;

use crate::record::{
    AccuracyRecord, Event, InputRecord, RequestRecord, Sample, TestRecord, Timeline, What, files,
    read_jsonl,
};
use crate::suite::{AccuracySpec, Expect, PerfSpec, StabilitySpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use course::{Course, Cut, unfinished};
pub use crash::Exit;
pub use input::{CaseRow, rows as input_rows};
pub use recovery::{Cause, Window};

/// Pass, fail, not applicable to this run, or applicable but not reached by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// The check does not apply to this suite (no fault, no health path, ...).
    Skip,
    /// The check applies, but the run ended before what it judges happened
    /// (an interrupt, an error before load); the summary says why. Never a failure.
    NotJudged,
    /// Failed, and the suite lists its id as a known failure: not a failure of the run.
    #[serde(rename = "xfail")]
    XFail,
    /// Listed as a known failure, yet it passed: fails the run, as pytest's strict xfail.
    #[serde(rename = "xpass")]
    XPass,
}

impl Status {
    /// Whether it fails the run: a failure, or a known failure that did not occur.
    pub fn fails_run(self) -> bool {
        matches!(self, Status::Fail | Status::XPass)
    }

    /// As the terminal summary tags it.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip | Status::NotJudged => "SKIP",
            Status::XFail => "XFAIL",
            Status::XPass => "XPASS",
        }
    }
}

/// The judgement of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// The `[expect]` key it judges (`recover_within`, ...).
    pub check: String,
    /// Stable failure id (`recovery.timeout`, ...), documented in `docs/contributing/ci/failures.md`.
    pub id: String,
    pub status: Status,
    /// One line for humans.
    pub summary: String,
    /// Lines a person needs under the summary (a crashed service's last log lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Times, counts, example requests.
    pub evidence: Value,
}

impl Verdict {
    fn new(check: &str, id: &str, pass: bool, summary: String, evidence: Value) -> Self {
        Verdict {
            check: check.into(),
            id: id.into(),
            status: if pass { Status::Pass } else { Status::Fail },
            summary,
            lines: Vec::new(),
            evidence,
        }
    }

    fn skip(check: &str, id: &str, why: &str) -> Self {
        Verdict {
            status: Status::Skip,
            ..Verdict::new(check, id, true, why.into(), Value::Null)
        }
    }

    fn not_judged(check: &str, id: &str, why: &str) -> Self {
        Verdict {
            status: Status::NotJudged,
            ..Verdict::new(check, id, true, format!("not judged: {why}"), Value::Null)
        }
    }

    /// With `lines` under the summary.
    fn with_lines(mut self, lines: Vec<String>) -> Self {
        self.lines = lines;
        self
    }
}

/// Why a run directory could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid regex in {key} `{pattern}`: {source}")]
    Regex {
        /// The suite key that holds it (`log_forbid`, `[accuracy] probes`).
        key: &'static str,
        pattern: String,
        source: regex::Error,
    },
}

/// Everything recorded by one run.
#[derive(Debug, Clone)]
pub struct RunRecords {
    pub dir: PathBuf,
    pub expect: Expect,
    /// The suite's level (`L5`).
    pub level: String,
    /// The suite has a `[load]` table.
    pub has_load: bool,
    pub timeline: Timeline,
    pub events: Vec<Event>,
    pub requests: Vec<RequestRecord>,
    pub samples: Vec<Sample>,
    /// Malformed-input cases (`input.jsonl`), empty when the run sent none.
    pub input: Vec<InputRecord>,
    /// A command suite (`kind = "command"`): one command, its tests imported.
    pub command: bool,
    /// An offline suite's batch: its prompts and outputs; `None` for other suites.
    pub offline: Option<offline::Batch>,
    /// The command's imported tests (`tests.jsonl`), empty for a service suite.
    pub tests: Vec<TestRecord>,
    /// The suite's `[accuracy]` table, its probes included; `None` when it has none.
    pub accuracy: Option<AccuracySpec>,
    /// The probes as sent and answered (`accuracy.jsonl`).
    pub probes: Vec<AccuracyRecord>,
    /// Lines of the files that could not be read back (a torn last line after a crash).
    pub skipped_lines: usize,
    /// A perf test's sweep and each point's metrics; `None` for other suites.
    pub perf: Option<(PerfSpec, sweep::PerfResults)>,
    /// A soak's stability settings and thresholds; `None` for other suites.
    pub stability: Option<StabilitySpec>,
}

impl RunRecords {
    /// Read a run directory.
    pub fn read(dir: &Path) -> Result<Self, JudgeError> {
        let path = |name: &str| dir.join(name);
        let json = |name: &str| -> Result<Value, JudgeError> {
            let text = std::fs::read_to_string(path(name)).map_err(|source| JudgeError::Read {
                path: path(name),
                source,
            })?;
            serde_json::from_str(&text).map_err(|source| JudgeError::Parse {
                path: path(name),
                source,
            })
        };
        let parse_err = |name: &str| {
            let path = path(name);
            move |source| JudgeError::Parse { path, source }
        };
        let suite = json(files::SUITE)?;
        let expect =
            serde_json::from_value(suite["expect"].clone()).map_err(parse_err(files::SUITE))?;
        let timeline =
            serde_json::from_value(json(files::TIMELINE)?).map_err(parse_err(files::TIMELINE))?;
        let read_err = |name: &str| {
            let path = path(name);
            move |source| JudgeError::Read { path, source }
        };
        let (events, a) = read_jsonl(&path(files::EVENTS)).map_err(read_err(files::EVENTS))?;
        let (mut requests, b) = read_jsonl::<RequestRecord>(&path(files::REQUESTS))
            .map_err(read_err(files::REQUESTS))?;
        let (samples, c) = read_jsonl(&path(files::SAMPLES)).map_err(read_err(files::SAMPLES))?;
        let (input, d) = read_jsonl(&path(files::INPUT)).map_err(read_err(files::INPUT))?;
        let (tests, e) = read_jsonl(&path(files::TESTS)).map_err(read_err(files::TESTS))?;
        let (probes, f) = read_jsonl(&path(files::ACCURACY)).map_err(read_err(files::ACCURACY))?;
        let accuracy = match suite.get("accuracy").filter(|a| !a.is_null()) {
            Some(a) => Some(serde_json::from_value(a.clone()).map_err(parse_err(files::SUITE))?),
            None => None,
        };
        requests.sort_by(|x, y| x.start_ms().total_cmp(&y.start_ms()));
        let stability = match suite.get("stability").filter(|s| !s.is_null()) {
            Some(s) => Some(serde_json::from_value(s.clone()).map_err(parse_err(files::SUITE))?),
            None => None,
        };
        let offline = match suite["meta"]["kind"].as_str() {
            Some("offline") => {
                let spec = serde_json::from_value(suite["offline"].clone())
                    .map_err(parse_err(files::SUITE))?;
                Some(offline::Batch::read(dir, spec)?)
            }
            _ => None,
        };
        let perf = match suite.get("perf").filter(|p| !p.is_null()) {
            Some(p) => {
                let spec: PerfSpec =
                    serde_json::from_value(p.clone()).map_err(parse_err(files::SUITE))?;
                let test = (
                    timeline_name(&suite),
                    suite["meta"]["seed"].as_u64().unwrap_or(0),
                );
                let results = sweep::PerfResults::read(dir, (&test.0, test.1), &spec, &samples)?;
                Some((spec, results))
            }
            None => None,
        };
        Ok(RunRecords {
            perf,
            dir: dir.to_path_buf(),
            expect,
            level: suite["meta"]["level"].as_str().unwrap_or("?").to_string(),
            has_load: !suite["load"].is_null(),
            timeline,
            events,
            requests,
            samples,
            input,
            command: suite["meta"]["kind"] == "command",
            offline,
            tests,
            accuracy,
            probes,
            skipped_lines: a + b + c + d + e + f,
            stability,
        })
    }

    /// Each event with its time, service and what happened.
    pub fn whats(&self) -> impl Iterator<Item = (&Event, &What)> + '_ {
        self.events.iter().map(|e| (e, &e.what))
    }

    /// When the records of a run that never reached judging end (killed outright, or still
    /// running: a soak's partial report): the last instant recorded; `None` for a run that
    /// reached its judge phase, or never started load.
    pub fn unfinished_at(&self) -> Option<f64> {
        let started = self
            .events
            .iter()
            .any(|e| matches!(e.what, What::Phase(crate::record::Phase::Baseline { .. })));
        let judged = self
            .events
            .iter()
            .any(|e| matches!(e.what, What::Phase(crate::record::Phase::Judge)));
        if !started || judged {
            return None;
        }
        let last = self.events.iter().map(|e| e.t_ms);
        let last = last.chain(self.requests.iter().map(|q| q.done_ms));
        let last = last.chain(self.samples.iter().map(Sample::t_ms));
        Some(last.fold(0.0, f64::max))
    }

    /// Events about fault `index` (inject, clear, error).
    pub fn fault_events(&self, index: usize) -> impl Iterator<Item = &Event> + '_ {
        self.events
            .iter()
            .filter(move |e| e.what.fault().is_some_and(|f| f.index == index))
    }
}

/// The suite's name as `suite.resolved.json` has it.
fn timeline_name(suite: &Value) -> String {
    suite["meta"]["name"].as_str().unwrap_or("?").to_string()
}

/// One check: a pure function of the records and what was derived from them once.
type Check = fn(&RunRecords, &Course) -> Result<Option<Verdict>, JudgeError>;

/// Every check, in report order.
const CHECKS: &[Check] = &[
    command::tests_pass,
    command::exit,
    command::timeout,
    offline::exit,
    offline::slow,
    offline::count,
    offline::schema,
    offline::keywords,
    injected::judge,
    startup::judge,
    startup::refused,
    startup::ready_within,
    crash::judge,
    recovery::judge,
    steady::judge,
    hang::judge,
    fail_fast::judge,
    perf::latency,
    perf::ttft,
    perf::tpot,
    perf::throughput,
    loss::judge,
    api::judge,
    determinism::judge,
    orphans::judge,
    logs::judge,
    logs::judge_teardown,
    health::judge,
    gpu::judge,
    input::server_error,
    input::crash,
    input::leak,
    input::error_shape,
    input::slow_answer,
    accuracy::baseline,
    accuracy::after_recovery,
    sweep::saturation,
    sweep::failures,
    sweep::regression,
    stability::failures,
    stability::memory_growth,
    stability::fd_growth,
    stability::thread_growth,
    stability::latency_drift,
    stability::throughput_drift,
    stability::stuck,
];

/// Judge a run from its records.
pub fn judge(records: &RunRecords) -> Result<Vec<Verdict>, JudgeError> {
    let course = Course::of(records);
    let mut out = Vec::new();
    for check in CHECKS {
        out.extend(check(records, &course)?);
    }
    known::apply(&records.expect.known_failures, &mut out);
    Ok(out)
}

/// A few requests as evidence: id, outcome, status, timings, error.
fn examples<'a>(reqs: impl Iterator<Item = &'a RequestRecord>, n: usize) -> Value {
    Value::Array(
        reqs.take(n)
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "outcome": r.outcome, "status": r.status,
                    "start_ms": round(r.start_ms()), "latency_ms": round(r.latency_ms()), "error": r.error,
                })
            })
            .collect(),
    )
}

/// Milliseconds to one decimal, for readable evidence.
fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// Success rate of requests that the service is answerable for (aborted ones are not).
fn success_rate<'a>(reqs: impl Iterator<Item = &'a RequestRecord>) -> (usize, usize) {
    let mut n = 0;
    let mut ok = 0;
    for r in reqs {
        if r.outcome == crate::record::Outcome::Aborted {
            continue;
        }
        n += 1;
        ok += usize::from(r.outcome.is_ok());
    }
    (ok, n)
}
