//! `steady_success_rate`: outside fault and crash windows, requests succeed at least this
//! often. Requests that hung are left to `no_hangs`, so one hang is one named failure.

use super::{Course, JudgeError, RunRecords, Verdict, examples, hang, success_rate};
use crate::record::Outcome;
use serde_json::json;
use std::collections::BTreeMap;

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "steady_success_rate";
    const ID: &str = "steady.success_rate";
    let Some(target) = r.expect.steady_success_rate else {
        return Ok(None);
    };
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let bound = r.expect.hang_after.map(|d| d.as_ms());
    let judged_as_hang =
        |q: &crate::record::RequestRecord| r.expect.no_hangs && hang::hung(q, bound);
    let undisturbed = r.requests.iter().filter(|q| !course.disturbed(q));
    let (hung, steady): (Vec<_>, Vec<_>) = undisturbed.partition(|q| judged_as_hang(q));
    let (ok, n) = success_rate(steady.iter().copied());
    if n == 0 {
        let why = if r.requests.is_empty() {
            "no request was sent".to_string()
        } else {
            "every request fell in a fault or crash window (or hung), so no steady rate was observed".to_string()
        };
        return Ok(Some(Verdict::not_judged(CHECK, ID, &why)));
    }
    let rate = ok as f64 / n as f64;
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for q in &steady {
        *by_outcome.entry(q.outcome).or_default() += 1;
    }
    let pass = rate >= target;
    let hung_note = match hung.len() {
        0 => String::new(),
        h => format!("; {h} hung request(s) judged by no_hangs"),
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        format!(
            "{:.2}% of {n} requests outside fault and crash windows succeeded (required {:.2}%){hung_note}",
            rate * 100.0,
            target * 100.0
        ),
        json!({
            "requests": n, "ok": ok, "rate": rate, "target": target, "by_outcome": by_outcome,
            "hung": hung.len(),
            "failures": examples(steady.iter().copied().filter(|q| !q.outcome.is_ok() && q.outcome != Outcome::Aborted), 5),
        }),
    )))
}
