//! `recover_within`: after each fault, and after each crash nobody planned, the success rate
//! over a sliding window returns to the steady level within the deadline. Also finds each
//! window of disturbance, which the other checks use to tell "disturbed" from "steady".

use super::{Course, Exit, JudgeError, RunRecords, Verdict, round, success_rate};
use crate::record::What;
use serde_json::json;

/// Recovery target when the suite names no `steady_success_rate`.
pub const DEFAULT_TARGET: f64 = 0.99;
/// Fewest requests a window needs before its rate means anything.
const MIN_REQUESTS: usize = 3;
/// Step of the sliding window.
const STEP_MS: f64 = 50.0;

/// What disturbed the service.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// The suite's fault number `index`.
    Fault(usize),
    /// A service exited on its own (the `n`th entry of `Course::unplanned_exits`).
    Crash(usize),
}

/// One disturbance, as it happened.
#[derive(Debug, Clone)]
pub struct Window {
    pub cause: Cause,
    /// When it began: the fault's planned instant or its injection, whichever came first
    /// (an exit it causes may be recorded before the injection is); or the crash.
    pub start_ms: f64,
    /// Recovery is measured from here: the fault's clearing (its injection for instant
    /// faults), or the crash.
    pub from_ms: f64,
    /// Start of the first successful request of the first window after `from_ms` whose
    /// success rate met the target.
    pub recovered_ms: Option<f64>,
    /// End of the disturbance: recovery, or failing that the end of observation.
    pub end_ms: f64,
}

/// One window per injection of a fault (a fault with `reinject` has several), recovery
/// found by the sliding window.
pub fn fault_windows(r: &RunRecords) -> Vec<Window> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &r.events {
        let What::FaultInject { fault, .. } = &e.what else {
            continue;
        };
        let index = fault.index;
        // The plan is the first injection's; a re-injection begins at its `fault.reinject`
        // (an exit it causes may be recorded before its `fault.inject` is).
        let planned = match r.timeline.faults.iter().find(|p| p.index == index) {
            Some(p) if seen.insert(index) => p.at_ms,
            _ => r
                .fault_events(index)
                .take_while(|x| x.t_ms <= e.t_ms)
                .filter(|x| matches!(x.what, What::FaultReinject { .. }))
                .last()
                .map_or(e.t_ms, |x| x.t_ms),
        };
        // Its own clearing: the first after this injection.
        let cleared = r
            .fault_events(index)
            .find(|c| c.t_ms >= e.t_ms && matches!(c.what, What::FaultClear { .. }))
            .map(|c| c.t_ms);
        let from_ms = cleared.unwrap_or(e.t_ms);
        out.push(window(r, Cause::Fault(index), planned.min(e.t_ms), from_ms));
    }
    out
}

/// One window per unplanned exit, from the exit until success returns.
pub fn crash_windows(r: &RunRecords, exits: &[Exit]) -> Vec<Window> {
    exits
        .iter()
        .enumerate()
        .map(|(n, x)| window(r, Cause::Crash(n), x.t_ms, x.t_ms))
        .collect()
}

/// The window of a disturbance that began at `start_ms`, recovery sought from `from_ms`.
fn window(r: &RunRecords, cause: Cause, start_ms: f64, from_ms: f64) -> Window {
    let target = r.expect.steady_success_rate.unwrap_or(DEFAULT_TARGET);
    let w = r.expect.window.as_ms();
    let last = r
        .requests
        .iter()
        .map(|q| q.start_ms())
        .fold(r.timeline.load_end_ms, f64::max);
    // Requests are sorted by start: each window is a slice found by binary search.
    let from_idx = |t: f64| r.requests.partition_point(|q| q.start_ms() < t);
    let mut recovered_ms = None;
    let mut t = from_ms;
    // Windows near the end of load are shorter; they still need MIN_REQUESTS to count.
    while t <= last {
        let in_window = &r.requests[from_idx(t)..from_idx(t + 2.0 * w)];
        let (ok, n) = success_rate(in_window.iter());
        if n >= MIN_REQUESTS && ok as f64 >= target * n as f64 {
            // Recovered when the first success of the good window went out: a window may
            // meet the target with failures at its head, and those belong to the disturbance.
            let first_ok = in_window.iter().find(|q| q.outcome.is_ok());
            recovered_ms = first_ok.or(in_window.first()).map(|q| q.start_ms());
            break;
        }
        t += STEP_MS;
    }
    Window {
        cause,
        start_ms,
        from_ms,
        recovered_ms,
        end_ms: recovered_ms.unwrap_or(last),
    }
}

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "recover_within";
    const ID: &str = "recovery.timeout";
    let Some(limit) = r.expect.recover_within else {
        return Ok(None);
    };
    if let Some(v) = course.without_windows(CHECK, ID) {
        return Ok(Some(v));
    }
    let limit_ms = limit.as_ms();
    let mut worst: f64 = 0.0;
    let (mut failed, mut unjudged, mut per_window) = (Vec::new(), Vec::new(), Vec::new());
    for w in &course.windows {
        let took = w.recovered_ms.map(|t| t - w.from_ms);
        let what = name(w, course);
        per_window.push(json!({
            "what": what, "start_ms": round(w.start_ms), "from_ms": round(w.from_ms),
            "recovered_ms": w.recovered_ms.map(round), "recovery_ms": took.map(round),
        }));
        match took {
            Some(t) if t <= limit_ms => worst = worst.max(t),
            // Its deadline never came: the run was cut before it.
            _ if course.unreached(w.from_ms + limit_ms).is_some() => unjudged.push(what),
            _ => failed.push(what),
        }
    }
    let target = r.expect.steady_success_rate.unwrap_or(DEFAULT_TARGET);
    let evidence = json!({"limit_ms": limit_ms, "target_rate": target, "window_ms": 2.0 * r.expect.window.as_ms(), "windows": per_window, "worst_recovery_ms": round(worst)});
    let judged = course.windows.len() - unjudged.len();
    let cut = course.cut.as_ref().map_or("", |c| c.why.as_str());
    if judged == 0 {
        let why = format!(
            "{cut}, before the recovery deadline of {}",
            unjudged.join(", ")
        );
        return Ok(Some(Verdict::not_judged(CHECK, ID, &why)));
    }
    let pass = failed.is_empty();
    let mut summary = if pass {
        format!(
            "recovered within {:.2} s (limit {limit}) after {}",
            worst / 1e3,
            counted(course)
        )
    } else {
        format!(
            "success rate did not return to {:.0}% within {limit} after {}",
            target * 100.0,
            failed.join(", ")
        )
    };
    if !unjudged.is_empty() {
        summary.push_str(&format!("; not judged: {} ({cut})", unjudged.join(", ")));
    }
    Ok(Some(Verdict::new(CHECK, ID, pass, summary, evidence)))
}

/// A window in words: `fault 0`, or `crash of main at 7.3 s`.
pub fn name(w: &Window, course: &Course) -> String {
    match w.cause {
        Cause::Fault(i) => format!("fault {i}"),
        Cause::Crash(n) => match course.unplanned_exits.get(n) {
            Some(x) => format!("crash of `{}` at {:.1} s", x.service, x.t_ms / 1e3),
            None => "a crash".into(),
        },
    }
}

/// `1 fault(s)`, `1 fault(s) and 1 crash(es)`.
fn counted(course: &Course) -> String {
    let crashes = course.unplanned_exits.len();
    let faults = course.windows.len() - crashes;
    match (faults, crashes) {
        (f, 0) => format!("{f} fault(s)"),
        (0, c) => format!("{c} crash(es)"),
        (f, c) => format!("{f} fault(s) and {c} crash(es)"),
    }
}
