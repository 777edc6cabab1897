//! `no_unplanned_exits`: no service exits on its own. An exit is planned when a fault
//! explains it (it falls in a fault's window: from the fault until recovery) or teardown
//! caused it; an exit before a service was first ready is a start-up failure, reported as
//! the run's error. Every other exit is a crash, status 0 included (vLLM's API server exits
//! 0 once its engine is gone). Each crash also opens a window of disturbance, so the outage
//! it causes is judged by `recover_within` and `fail_fast`, not blamed on the steady rate.

use super::{Course, JudgeError, RunRecords, Verdict, Window, round};
use crate::record::{LogLine, What, files, read_log};
use serde_json::json;
use std::collections::BTreeMap;

/// Log lines shown under a crash.
const TAIL: usize = 5;

/// A service's main process exiting when nothing planned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub service: String,
    /// When, ms after `t0`.
    pub t_ms: f64,
    pub generation: u32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    /// `exit code 1`, `killed by signal 9`.
    pub fn status(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".into(),
        }
    }
}

/// The exits no fault window and no teardown explains, in time order.
pub fn unplanned(r: &RunRecords, fault_windows: &[Window]) -> Vec<Exit> {
    // First readiness per service: an exit before it is a start-up failure, not a crash.
    let mut ready: BTreeMap<&str, f64> = BTreeMap::new();
    let mut out = Vec::new();
    for e in &r.events {
        let service = e.service.as_deref().unwrap_or("?");
        match &e.what {
            What::ServiceReady { .. } => {
                ready.entry(service).or_insert(e.t_ms);
            }
            What::ServiceExit {
                generation,
                code,
                signal,
                during_teardown: false,
                ..
            } if ready.contains_key(service)
                && !fault_windows
                    .iter()
                    .any(|w| e.t_ms >= w.start_ms && e.t_ms <= w.end_ms) =>
            {
                out.push(Exit {
                    service: service.to_string(),
                    t_ms: e.t_ms,
                    generation: *generation,
                    code: *code,
                    signal: *signal,
                });
            }
            _ => {}
        }
    }
    out
}

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "no_unplanned_exits";
    const ID: &str = "service.crash";
    if !r.expect.no_unplanned_exits {
        return Ok(None);
    }
    let Some(first) = course.unplanned_exits.first() else {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            true,
            "no service exited outside faults and teardown".into(),
            json!({"unplanned_exits": 0}),
        )));
    };
    let mut lines = Vec::new();
    let mut exits = Vec::new();
    for x in &course.unplanned_exits {
        let tail = last_lines(r, x)?;
        lines.push(format!(
            "`{}` (generation {}) exited on its own at {:.1} s: {}{}",
            x.service,
            x.generation,
            x.t_ms / 1e3,
            x.status(),
            if tail.is_empty() {
                ", having printed nothing"
            } else {
                "; its last log lines:"
            }
        ));
        lines.extend(tail.iter().map(|l| format!("  {l}")));
        exits.push(json!({
            "service": x.service, "t_ms": round(x.t_ms), "generation": x.generation,
            "code": x.code, "signal": x.signal, "last_log_lines": tail,
        }));
    }
    let more = match course.unplanned_exits.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    let summary = format!(
        "`{}` exited on its own at {:.1} s ({}) with no fault planned{more}",
        first.service,
        first.t_ms / 1e3,
        first.status()
    );
    Ok(Some(
        Verdict::new(CHECK, ID, false, summary, json!({"unplanned_exits": exits}))
            .with_lines(lines),
    ))
}

/// The service's own last lines before exit `x` (supervisor notes left out).
pub(super) fn last_lines(r: &RunRecords, x: &Exit) -> Result<Vec<String>, JudgeError> {
    let path = r.dir.join(files::service_log(&x.service));
    let log = read_log(&path).map_err(|source| JudgeError::Read { path, source })?;
    let own: Vec<&LogLine> = log
        .iter()
        .filter(|l| !l.is_note() && l.t_ms <= x.t_ms && !l.text.trim().is_empty())
        .collect();
    Ok(own[own.len().saturating_sub(TAIL)..]
        .iter()
        .map(|l| l.text.clone())
        .collect())
}
