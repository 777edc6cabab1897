//! Verdicts: pure judgements over the files of a run directory.
//!
//! Invariant: nothing here looks at live state. Everything a check needs is on disk
//! before judging, so `shakedown report RUN_DIR` judges a run again to the same result,
//! and every check can be tested on recorded runs.

mod fail_fast;
mod gpu;
mod health;
mod injected;
mod input;
mod logs;
mod loss;
mod orphans;
mod recovery;
mod startup;
mod steady;

use crate::record::{Event, InputRecord, RequestRecord, Sample, Timeline, read_jsonl};
use crate::suite::Expect;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use input::{CaseRow, rows as input_rows};
pub use recovery::FaultWindow;

/// Pass, fail, or not applicable to this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
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
            evidence,
        }
    }

    fn skip(check: &str, id: &str, why: &str) -> Self {
        Verdict {
            check: check.into(),
            id: id.into(),
            status: Status::Skip,
            summary: why.into(),
            evidence: Value::Null,
        }
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
    #[error("invalid regex in log_forbid `{pattern}`: {source}")]
    Regex {
        pattern: String,
        source: regex::Error,
    },
}

/// Everything recorded by one run.
#[derive(Debug, Clone)]
pub struct RunRecords {
    pub dir: PathBuf,
    pub expect: Expect,
    pub timeline: Timeline,
    pub events: Vec<Event>,
    pub requests: Vec<RequestRecord>,
    pub samples: Vec<Sample>,
    /// Malformed-input cases (`input.jsonl`), empty when the run sent none.
    pub input: Vec<InputRecord>,
    /// Lines of the files that could not be read back (a torn last line after a crash).
    pub skipped_lines: usize,
}

impl RunRecords {
    /// Read a run directory.
    pub fn read(dir: &Path) -> Result<Self, JudgeError> {
        let json = |name: &str| -> Result<Value, JudgeError> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|source| JudgeError::Read {
                path: path.clone(),
                source,
            })?;
            serde_json::from_str(&text).map_err(|source| JudgeError::Parse { path, source })
        };
        let suite = json("suite.resolved.json")?;
        let expect = serde_json::from_value(suite["expect"].clone()).map_err(|source| {
            JudgeError::Parse {
                path: dir.join("suite.resolved.json"),
                source,
            }
        })?;
        let timeline =
            serde_json::from_value(json("timeline.json")?).map_err(|source| JudgeError::Parse {
                path: dir.join("timeline.json"),
                source,
            })?;
        let lines = |name: &str| dir.join(name);
        let read_err = |name: &str| {
            let path = lines(name);
            move |source| JudgeError::Read { path, source }
        };
        let (events, a) = read_jsonl(&lines("events.jsonl")).map_err(read_err("events.jsonl"))?;
        let (mut requests, b) = read_jsonl::<RequestRecord>(&lines("requests.jsonl"))
            .map_err(read_err("requests.jsonl"))?;
        let (samples, c) =
            read_jsonl(&lines("samples.jsonl")).map_err(read_err("samples.jsonl"))?;
        let (input, d) = read_jsonl(&lines(crate::fault::input::RECORD_FILE))
            .map_err(read_err(crate::fault::input::RECORD_FILE))?;
        requests.sort_by(|x, y| x.start_ms().total_cmp(&y.start_ms()));
        Ok(RunRecords {
            dir: dir.to_path_buf(),
            expect,
            timeline,
            events,
            requests,
            samples,
            input,
            skipped_lines: a + b + c + d,
        })
    }

    /// Events of one kind.
    pub fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

/// One check: the `[expect]` key it judges and how.
struct Check {
    judge: fn(&RunRecords, &[FaultWindow]) -> Result<Option<Verdict>, JudgeError>,
}

/// Every check, in report order.
const CHECKS: &[Check] = &[
    Check {
        judge: injected::judge,
    },
    Check {
        judge: startup::judge,
    },
    Check {
        judge: recovery::judge,
    },
    Check {
        judge: steady::judge,
    },
    Check {
        judge: fail_fast::judge,
    },
    Check { judge: loss::judge },
    Check {
        judge: orphans::judge,
    },
    Check { judge: logs::judge },
    Check {
        judge: logs::judge_teardown,
    },
    Check {
        judge: health::judge,
    },
    Check { judge: gpu::judge },
    Check {
        judge: input::server_error,
    },
    Check {
        judge: input::crash,
    },
    Check { judge: input::leak },
    Check {
        judge: input::error_shape,
    },
    Check {
        judge: input::slow_answer,
    },
];

/// Judge a run from its records.
pub fn judge(records: &RunRecords) -> Result<Vec<Verdict>, JudgeError> {
    let windows = recovery::windows(records);
    let mut out = Vec::new();
    for c in CHECKS {
        out.extend((c.judge)(records, &windows)?);
    }
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
