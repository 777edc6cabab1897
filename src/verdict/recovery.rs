//! `recover_within`: after each fault, the success rate over a sliding window returns to
//! the steady level within the deadline. Also finds each fault's window of disturbance,
//! which the other checks use to tell "during a fault" from "steady".

use super::{JudgeError, RunRecords, Verdict, round, success_rate};
use serde_json::json;

/// Recovery target when the suite names no `steady_success_rate`.
pub const DEFAULT_TARGET: f64 = 0.99;
/// Fewest requests a window needs before its rate means anything.
const MIN_REQUESTS: usize = 3;
/// Step of the sliding window.
const STEP_MS: f64 = 50.0;

/// One fault, as it happened.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    pub index: usize,
    pub inject_ms: f64,
    /// When it was cleared (= inject for instant faults); `None` if never injected.
    pub clear_ms: Option<f64>,
    /// Start of the first request of the first window after clearing whose success rate met the target.
    pub recovered_ms: Option<f64>,
    /// End of the disturbance: recovery, or failing that the end of observation.
    pub end_ms: f64,
}

/// Fault windows from the journal, with recovery found by the sliding window.
pub fn windows(r: &RunRecords) -> Vec<FaultWindow> {
    let target = r.expect.steady_success_rate.unwrap_or(DEFAULT_TARGET);
    let w = r.expect.window.as_ms();
    let last = r
        .requests
        .iter()
        .map(|q| q.start_ms())
        .fold(r.timeline.load_end_ms, f64::max);
    let mut out = Vec::new();
    for inj in r.events_of("fault.inject") {
        let Some(index) = inj.data.get("index").and_then(|v| v.as_u64()) else {
            continue;
        };
        let index = index as usize;
        let clear_ms = r
            .events_of("fault.clear")
            .find(|e| e.data.get("index").and_then(|v| v.as_u64()) == Some(index as u64))
            .map(|e| e.t_ms);
        let from = clear_ms.unwrap_or(inj.t_ms);
        let mut recovered_ms = None;
        let mut t = from;
        // Windows near the end of load are shorter; they still need MIN_REQUESTS to count.
        while t <= last {
            let in_window = || {
                r.requests
                    .iter()
                    .filter(|q| q.start_ms() >= t && q.start_ms() < t + 2.0 * w)
            };
            let (ok, n) = success_rate(in_window());
            if n >= MIN_REQUESTS && ok as f64 >= target * n as f64 {
                // Recovered when the first request of the good window went out.
                recovered_ms = in_window().map(|q| q.start_ms()).reduce(f64::min);
                break;
            }
            t += STEP_MS;
        }
        out.push(FaultWindow {
            index,
            inject_ms: inj.t_ms,
            clear_ms: Some(from),
            recovered_ms,
            end_ms: recovered_ms.unwrap_or(last),
        });
    }
    out
}

pub fn judge(r: &RunRecords, windows: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "recover_within";
    const ID: &str = "recovery.timeout";
    let Some(limit) = r.expect.recover_within else {
        return Ok(None);
    };
    if windows.is_empty() {
        return Ok(Some(Verdict::skip(CHECK, ID, "no fault was injected")));
    }
    let limit_ms = limit.as_ms();
    let mut worst: f64 = 0.0;
    let mut failed = Vec::new();
    let mut per_fault = Vec::new();
    for fw in windows {
        let clear = fw.clear_ms.unwrap_or(fw.inject_ms);
        let took = fw.recovered_ms.map(|t| t - clear);
        per_fault.push(json!({
            "fault": fw.index, "inject_ms": round(fw.inject_ms), "clear_ms": round(clear),
            "recovered_ms": fw.recovered_ms.map(round), "recovery_ms": took.map(round),
        }));
        match took {
            Some(t) if t <= limit_ms => worst = worst.max(t),
            _ => failed.push(fw.index),
        }
    }
    let target = r.expect.steady_success_rate.unwrap_or(DEFAULT_TARGET);
    let pass = failed.is_empty();
    let summary = if pass {
        format!(
            "recovered within {:.2} s (limit {limit}) after {} fault(s)",
            worst / 1e3,
            windows.len()
        )
    } else {
        format!(
            "success rate did not return to {:.0}% within {limit} after fault(s) {failed:?}",
            target * 100.0
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"limit_ms": limit_ms, "target_rate": target, "window_ms": 2.0 * r.expect.window.as_ms(), "faults": per_fault, "worst_recovery_ms": round(worst)}),
    )))
}
