//! `steady_success_rate`: outside fault windows, requests succeed at least this often.

use super::{FaultWindow, JudgeError, RunRecords, Verdict, examples, success_rate};
use crate::record::Outcome;
use serde_json::json;
use std::collections::BTreeMap;

pub fn judge(r: &RunRecords, windows: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "steady_success_rate";
    const ID: &str = "steady.success_rate";
    let Some(target) = r.expect.steady_success_rate else {
        return Ok(None);
    };
    let steady: Vec<_> = r
        .requests
        .iter()
        // A request open when a fault struck belongs to the fault, not to the steady state.
        .filter(|q| {
            !windows
                .iter()
                .any(|w| q.start_ms() < w.end_ms && q.done_ms > w.inject_ms)
        })
        .collect();
    let (ok, n) = success_rate(steady.iter().copied());
    if n == 0 {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            false,
            "no request was sent outside fault windows, so no steady rate was observed".into(),
            json!({"requests": 0}),
        )));
    }
    let rate = ok as f64 / n as f64;
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for q in &steady {
        *by_outcome.entry(q.outcome).or_default() += 1;
    }
    let pass = rate >= target;
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        format!(
            "{:.2}% of {n} requests outside fault windows succeeded (required {:.2}%)",
            rate * 100.0,
            target * 100.0
        ),
        json!({
            "requests": n, "ok": ok, "rate": rate, "target": target, "by_outcome": by_outcome,
            "failures": examples(steady.iter().copied().filter(|q| !q.outcome.is_ok() && q.outcome != Outcome::Aborted), 5),
        }),
    )))
}
