//! `no_hangs`: outside every fault and crash window, no request hangs — none times out, and
//! none stays open longer than `hang_after` when the suite sets it. A service that stops
//! answering while `/health` says 200 fails here, by name, rather than as a low success rate.

use super::{Course, JudgeError, RunRecords, Verdict, examples, round};
use crate::record::{Outcome, RequestRecord};
use serde_json::json;

/// Whether `q` hung: it timed out, or outlived `hang_after_ms`.
pub fn hung(q: &RequestRecord, hang_after_ms: Option<f64>) -> bool {
    q.outcome == Outcome::Timeout
        || (q.outcome != Outcome::Aborted
            && q.outcome.was_sent()
            && hang_after_ms.is_some_and(|b| q.latency_ms() > b))
}

/// The requests outside every window that hung, in start order.
pub fn steady_hangs<'a>(r: &'a RunRecords, course: &Course) -> Vec<&'a RequestRecord> {
    let bound = r.expect.hang_after.map(|d| d.as_ms());
    r.requests
        .iter()
        .filter(|q| hung(q, bound) && !course.disturbed(q))
        .collect()
}

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "no_hangs";
    const ID: &str = "steady.hang";
    if !r.expect.no_hangs || !r.has_load {
        return Ok(None);
    }
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let hangs = steady_hangs(r, course);
    let bound = match r.expect.hang_after {
        Some(d) => format!("timed out or stayed open past {d}"),
        None => "timed out".into(),
    };
    let Some(first) = hangs.first() else {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            true,
            format!("no request outside fault and crash windows {bound}"),
            json!({"hung": 0}),
        )));
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        false,
        format!(
            "{} request(s) outside fault and crash windows {bound}: the service hung; first: request {} sent at {:.1} s, open {:.1} s",
            hangs.len(),
            first.id,
            first.start_ms() / 1e3,
            first.latency_ms() / 1e3
        ),
        json!({
            "hung": hangs.len(), "first_id": first.id, "first_start_ms": round(first.start_ms()),
            "examples": examples(hangs.iter().copied(), 5),
        }),
    )))
}
