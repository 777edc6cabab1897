//! `fail_fast`: while a fault or a crash disturbs the service, no request stays open longer than the bound.
//! A clean error is fine; a hang is not.

use super::{Course, JudgeError, RunRecords, Verdict, examples, round};
use crate::record::Outcome;
use serde_json::json;

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "fail_fast";
    const ID: &str = "degrade.hang";
    let Some(bound) = r.expect.fail_fast else {
        return Ok(None);
    };
    if let Some(v) = course.without_windows(CHECK, ID) {
        return Ok(Some(v));
    }
    let bound_ms = bound.as_ms();
    // Every request whose life overlaps a disturbance, aborted ones aside (the run cut them).
    let during: Vec<_> = r
        .requests
        .iter()
        .filter(|q| q.outcome.was_sent() && q.outcome != Outcome::Aborted)
        .filter(|q| course.disturbed(q))
        .collect();
    let mut slow: Vec<_> = during
        .iter()
        .copied()
        .filter(|q| q.latency_ms() > bound_ms)
        .collect();
    slow.sort_by(|a, b| b.latency_ms().total_cmp(&a.latency_ms()));
    let worst = during.iter().map(|q| q.latency_ms()).fold(0.0, f64::max);
    let pass = slow.is_empty();
    let summary = if pass {
        format!(
            "all {} requests during faults and crashes ended within {bound} (slowest {:.0} ms)",
            during.len(),
            worst
        )
    } else {
        format!(
            "{} of {} requests during faults and crashes stayed open longer than {bound} (slowest {:.0} ms)",
            slow.len(),
            during.len(),
            worst
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"bound_ms": bound_ms, "requests": during.len(), "too_slow": slow.len(), "slowest_ms": round(worst), "examples": examples(slow.into_iter(), 5)}),
    )))
}
