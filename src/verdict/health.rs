//! `health_truthful`: the health path must not answer 200 while requests fail or hang
//! because the service is broken.
//!
//! A poll answering 200 at `t` lies when, over the last two windows before `t`, no request
//! succeeded, at least three failed on the service's side (5xx, timeout, dropped for pile-up)
//! and the failing began at least one window earlier (a grace period for the service to
//! notice), or when several requests have hung past the stall bound with no success since.
//! Connection errors do not count: a service that is down cannot answer 200 either.

use super::{FaultWindow, JudgeError, RunRecords, Verdict, round};
use crate::record::{Outcome, RequestRecord, Sample};
use serde_json::json;

/// Fewest failures that make a pattern.
const MIN_FAILURES: usize = 3;
/// Stall bound when the suite sets no `fail_fast`.
const DEFAULT_STALL_MS: f64 = 5000.0;

fn service_failure(o: Outcome) -> bool {
    matches!(o, Outcome::Http5xx | Outcome::Timeout | Outcome::Dropped)
}

pub fn judge(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "health_truthful";
    const ID: &str = "health.lie";
    if !r.expect.health_truthful {
        return Ok(None);
    }
    let polls: Vec<(f64, Option<u16>)> = r
        .samples
        .iter()
        .filter_map(|s| match s {
            Sample::Health { t_ms, status, .. } => Some((*t_ms, *status)),
            _ => None,
        })
        .collect();
    if polls.is_empty() {
        return Ok(Some(Verdict::skip(CHECK, ID, "no health path was polled")));
    }
    let w = r.expect.window.as_ms();
    let stall = r.expect.fail_fast.map_or(DEFAULT_STALL_MS, |d| d.as_ms());
    let mut by_end: Vec<&RequestRecord> = r
        .requests
        .iter()
        .filter(|q| q.outcome != Outcome::Aborted)
        .collect();
    by_end.sort_by(|a, b| a.done_ms.total_cmp(&b.done_ms));
    let mut lies = Vec::new();
    for &(t, status) in &polls {
        if status != Some(200) {
            continue;
        }
        let ended: Vec<&&RequestRecord> = by_end
            .iter()
            .filter(|q| q.done_ms > t - 2.0 * w && q.done_ms <= t)
            .collect();
        let any_ok = ended.iter().any(|q| q.outcome.is_ok());
        let failures = ended.iter().filter(|q| service_failure(q.outcome)).count();
        let early = ended
            .iter()
            .any(|q| service_failure(q.outcome) && q.done_ms <= t - w);
        let failing = !any_ok && failures >= MIN_FAILURES && early;
        // Hangs: requests open longer than the stall bound at t, with no success since they began.
        let hanging = by_end
            .iter()
            .filter(|q| q.outcome.was_sent() && q.start_ms() <= t - stall && q.done_ms > t)
            .count();
        let ok_since = by_end
            .iter()
            .any(|q| q.outcome.is_ok() && q.done_ms > t - stall && q.done_ms <= t);
        let hung = hanging >= MIN_FAILURES && !ok_since;
        if failing || hung {
            lies.push(json!({"t_ms": round(t), "failed_recently": failures, "hanging": hanging}));
        }
    }
    let pass = lies.is_empty();
    let summary = if pass {
        format!(
            "{} health polls; none answered 200 while requests were failing",
            polls.len()
        )
    } else {
        format!(
            "health answered 200 in {} poll(s) while requests were failing or hanging, first at {:.1} s",
            lies.len(),
            lies[0]["t_ms"].as_f64().unwrap_or(0.0) / 1e3
        )
    };
    let first: Vec<_> = lies.iter().take(5).cloned().collect();
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"polls": polls.len(), "lying_polls": lies.len(), "examples": first}),
    )))
}
