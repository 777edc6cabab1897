//! `api_conformant`/`api.schema`: every answer that arrived whole has the shape the OpenAI
//! API promises (`load::conform`: `object`, a `finish_reason` per choice, `usage` totals that
//! add up and cover the streamed chunks, nothing after `[DONE]`, JSON chunks). Names the
//! first answer that does not, and what was wrong with it.

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::{Outcome, RequestRecord};
use serde_json::json;

/// Non-conformant answers listed as evidence at most.
const LISTED: usize = 5;

/// What was wrong with `q`'s answer, if it arrived and was wrong.
fn problem(q: &RequestRecord) -> Option<&str> {
    match q.outcome {
        Outcome::BadResponse => Some(q.error.as_deref().unwrap_or("a malformed answer")),
        Outcome::Ok => q.nonconformant.as_deref(),
        _ => None,
    }
}

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "api_conformant";
    const ID: &str = "api.schema";
    if !r.expect.api_conformant || r.command {
        return Ok(None);
    }
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let answered = r
        .requests
        .iter()
        .filter(|q| matches!(q.outcome, Outcome::Ok | Outcome::BadResponse))
        .count();
    if answered == 0 {
        let why = "no answer arrived whole, so none could be checked";
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    }
    let bad: Vec<(&RequestRecord, &str)> = r
        .requests
        .iter()
        .filter_map(|q| problem(q).map(|p| (q, p)))
        .collect();
    let listed: Vec<_> = bad
        .iter()
        .take(LISTED)
        .map(|(q, p)| json!({"id": q.id, "start_ms": round(q.start_ms()), "problem": p}))
        .collect();
    let evidence = json!({"answered": answered, "nonconformant": bad.len(), "examples": listed});
    let Some((first, what)) = bad.first() else {
        let summary = format!("all {answered} answers had the shape the API promises");
        return Ok(Some(Verdict::new(CHECK, ID, true, summary, evidence)));
    };
    let summary = format!(
        "{} of {answered} answers broke the API's shape; the first, request {} at {:.1} s: {what}",
        bad.len(),
        first.id,
        first.start_ms() / 1e3
    );
    Ok(Some(Verdict::new(CHECK, ID, false, summary, evidence)))
}
