//! `deterministic`/`api.nondeterministic`: the same request with a fixed `seed` and
//! `temperature` 0, sent twice after load, gets the same text twice (the `api.determinism`
//! event holds both).

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::What;
use serde_json::json;

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "deterministic";
    const ID: &str = "api.nondeterministic";
    if !r.expect.deterministic || r.command || r.offline.is_some() {
        return Ok(None);
    }
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let probe = r.events.iter().rev().find_map(|e| match &e.what {
        What::Determinism {
            first,
            second,
            error,
        } => Some((first, second, error)),
        _ => None,
    });
    let Some((first, second, error)) = probe else {
        let why = course.cut.as_ref().map_or(
            "the probe never ran (the suite has no [load] to take its request from)",
            |c| c.why.as_str(),
        );
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    };
    let evidence = json!({"first": first, "second": second, "error": error});
    let (pass, summary) = match (first, second, error) {
        (_, _, Some(e)) => (false, format!("the seeded probe got no answer: {e}")),
        (Some(a), Some(b), None) if a == b => (
            true,
            format!(
                "the same seeded request gave the same text twice ({} chars)",
                a.len()
            ),
        ),
        (a, b, None) => (
            false,
            format!(
                "the same seeded request (temperature 0) gave two texts: {:?} then {:?}",
                a.as_deref().unwrap_or_default(),
                b.as_deref().unwrap_or_default()
            ),
        ),
    };
    Ok(Some(Verdict::new(CHECK, ID, pass, summary, evidence)))
}
