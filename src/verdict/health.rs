//! `health_truthful`: the health path must not answer 200 while requests fail or hang
//! because the service is broken.
//!
//! A poll answering 200 at `t` lies when, over the last two windows before `t`, no request
//! succeeded, at least three failed on the service's side (5xx, timeout, dropped for pile-up)
//! and the failing began at least one window earlier (a grace period for the service to
//! notice), or when several requests have hung past the stall bound with no success since.
//! Connection errors do not count: a service that is down cannot answer 200 either.

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::{Outcome, RequestRecord, Sample};
use serde_json::json;

/// Fewest failures that make a pattern.
const MIN_FAILURES: usize = 3;
/// Stall bound when the suite sets no `fail_fast`.
const DEFAULT_STALL_MS: f64 = 5000.0;

fn service_failure(o: Outcome) -> bool {
    matches!(o, Outcome::Http5xx | Outcome::Timeout | Outcome::Dropped)
}

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "health_truthful";
    const ID: &str = "health.lie";
    if !r.expect.health_truthful || r.perf.is_some() {
        return Ok(None);
    }
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
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
    let lies = lying_polls(&polls, &r.requests, w, stall);
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

/// The polls that answered 200 while requests were failing or hanging, with what was seen.
fn lying_polls(
    polls: &[(f64, Option<u16>)],
    requests: &[RequestRecord],
    w: f64,
    stall: f64,
) -> Vec<serde_json::Value> {
    let mut by_end: Vec<&RequestRecord> = requests
        .iter()
        .filter(|q| q.outcome != Outcome::Aborted)
        .collect();
    by_end.sort_by(|a, b| a.done_ms.total_cmp(&b.done_ms));
    // Ended in (from, to]: a slice of `by_end`, found by binary search, so a 12-hour soak's
    // polls each cost the requests of a few windows, not the whole run.
    let ended = |from: f64, to: f64| {
        let lo = by_end.partition_point(|q| q.done_ms <= from);
        let hi = by_end.partition_point(|q| q.done_ms <= to);
        &by_end[lo..hi.max(lo)]
    };
    // Only a request longer than the stall bound can be hanging at some t: it is, for
    // t in [start + stall, done). Counting those intervals that contain t is then
    // #(start + stall <= t) - #(done <= t), two more binary searches.
    let long: Vec<&&RequestRecord> = by_end
        .iter()
        .filter(|q| q.outcome.was_sent() && q.done_ms - q.start_ms() > stall)
        .collect();
    let mut stalled_at: Vec<f64> = long.iter().map(|q| q.start_ms() + stall).collect();
    stalled_at.sort_by(f64::total_cmp);
    let long_done: Vec<f64> = long.iter().map(|q| q.done_ms).collect();
    let mut lies = Vec::new();
    for &(t, status) in polls {
        if status != Some(200) {
            continue;
        }
        let recent = ended(t - 2.0 * w, t);
        let any_ok = recent.iter().any(|q| q.outcome.is_ok());
        let failures = recent.iter().filter(|q| service_failure(q.outcome)).count();
        let early = recent
            .iter()
            .any(|q| service_failure(q.outcome) && q.done_ms <= t - w);
        let failing = !any_ok && failures >= MIN_FAILURES && early;
        // Hangs: requests open longer than the stall bound at t, with no success since they began.
        let hanging =
            stalled_at.partition_point(|&s| s <= t) - long_done.partition_point(|&d| d <= t);
        let ok_since = ended(t - stall, t).iter().any(|q| q.outcome.is_ok());
        let hung = hanging >= MIN_FAILURES && !ok_since;
        if failing || hung {
            lies.push(json!({"t_ms": round(t), "failed_recently": failures, "hanging": hanging}));
        }
    }
    lies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Rng;

    /// The definition, checked request by request (quadratic): what `lying_polls` must equal.
    fn by_definition(
        polls: &[(f64, Option<u16>)],
        requests: &[RequestRecord],
        w: f64,
        stall: f64,
    ) -> Vec<serde_json::Value> {
        let all: Vec<&RequestRecord> = requests
            .iter()
            .filter(|q| q.outcome != Outcome::Aborted)
            .collect();
        let mut lies = Vec::new();
        for &(t, _) in polls.iter().filter(|p| p.1 == Some(200)) {
            let ended: Vec<_> = all
                .iter()
                .filter(|q| q.done_ms > t - 2.0 * w && q.done_ms <= t)
                .collect();
            let failures = ended.iter().filter(|q| service_failure(q.outcome)).count();
            let failing = !ended.iter().any(|q| q.outcome.is_ok())
                && failures >= MIN_FAILURES
                && ended
                    .iter()
                    .any(|q| service_failure(q.outcome) && q.done_ms <= t - w);
            let hanging = all
                .iter()
                .filter(|q| q.outcome.was_sent() && q.start_ms() <= t - stall && q.done_ms > t)
                .count();
            let ok_since = all
                .iter()
                .any(|q| q.outcome.is_ok() && q.done_ms > t - stall && q.done_ms <= t);
            if failing || (hanging >= MIN_FAILURES && !ok_since) {
                lies.push(
                    json!({"t_ms": round(t), "failed_recently": failures, "hanging": hanging}),
                );
            }
        }
        lies
    }

    /// A run of `n` requests at 20 per second whose service is healthy, failing, hanging or
    /// down in turns of a few seconds, polled every 250 ms.
    fn run(seed: u64, n: usize) -> (Vec<(f64, Option<u16>)>, Vec<RequestRecord>) {
        let mut rng = Rng::new(seed);
        let outcomes = [
            Outcome::Ok,
            Outcome::Http5xx,
            Outcome::Timeout,
            Outcome::Dropped,
            Outcome::ConnectError,
            Outcome::Aborted,
        ];
        let mut requests = Vec::new();
        for id in 0..n {
            let start = id as f64 * 50.0;
            let phase = (start / 3000.0) as u64 % 4; // healthy, failing, hanging, mixed
            let (outcome, took) = match phase {
                0 => (Outcome::Ok, rng.range(5.0, 200.0)),
                1 => (Outcome::Http5xx, rng.range(1.0, 50.0)),
                2 => (Outcome::Timeout, rng.range(4000.0, 9000.0)),
                _ => (
                    outcomes[(rng.next_u64() % outcomes.len() as u64) as usize],
                    rng.range(1.0, 7000.0),
                ),
            };
            let q: RequestRecord = serde_json::from_value(json!({
                "id": id, "intended_ms": start, "sent_ms": start + 0.1,
                "headers_ms": null, "first_token_ms": null, "done_ms": start + took,
                "status": null, "outcome": outcome,
            }))
            .expect("record");
            requests.push(q);
        }
        let end = n as f64 * 50.0 + 10_000.0;
        let polls = (0..(end / 250.0) as usize)
            .map(|i| (i as f64 * 250.0, (rng.f64() < 0.9).then_some(200)))
            .collect();
        (polls, requests)
    }

    #[test]
    fn indexed_lies_equal_the_definition() {
        for seed in 0..8 {
            let (polls, requests) = run(seed, 2000);
            let fast = lying_polls(&polls, &requests, 2000.0, 5000.0);
            assert_eq!(
                fast,
                by_definition(&polls, &requests, 2000.0, 5000.0),
                "seed {seed}"
            );
            // The mix really has lies of both kinds, or the comparison proves little.
            assert!(
                fast.iter()
                    .any(|l| l["failed_recently"].as_u64() >= Some(3))
            );
            assert!(fast.iter().any(|l| l["hanging"].as_u64() >= Some(3)));
        }
    }
}
