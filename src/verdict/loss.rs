//! `no_lost_requests`: every request sent has exactly one terminal record, and none was
//! silently dropped (a stream that ended cleanly without `[DONE]` or an error).

use super::{Course, JudgeError, RunRecords, Verdict, examples};
use crate::record::{Outcome, What};
use serde_json::json;
use std::collections::BTreeMap;

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "no_lost_requests";
    const ID: &str = "loss.request";
    // A perf sweep's requests are its points', judged by the perf checks.
    if !r.expect.no_lost_requests || r.perf.is_some() {
        return Ok(None);
    }
    if !r.has_load {
        return Ok(Some(Verdict::skip(CHECK, ID, "the suite sends no load")));
    }
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let finished = r.events.iter().rev().find_map(|e| match &e.what {
        What::LoadFinished(summary) => Some(summary),
        _ => None,
    });
    let Some(finished) = finished else {
        // Still running (a soak's partial report) or killed: in-flight requests owe nothing yet.
        if let Some(at_ms) = r.unfinished_at() {
            return Ok(Some(Verdict::not_judged(
                CHECK,
                ID,
                &super::unfinished(at_ms),
            )));
        }
        if let Some(e) = &course.error {
            let why = format!("the run ended in an error before load finished: {e}");
            return Ok(Some(Verdict::not_judged(CHECK, ID, &why)));
        }
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            false,
            "the load generator never finished: requests cannot be accounted for".into(),
            json!({"records": r.requests.len()}),
        )));
    };
    let (sent, dropped, scheduled) = (finished.sent, finished.dropped, finished.scheduled);
    let mut per_id: BTreeMap<u64, usize> = BTreeMap::new();
    for q in &r.requests {
        *per_id.entry(q.id).or_default() += 1;
    }
    let missing: Vec<u64> = (0..scheduled)
        .filter(|id| !per_id.contains_key(id))
        .take(20)
        .collect();
    let duplicated: Vec<u64> = per_id
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .take(20)
        .collect();
    let truncated: Vec<_> = r
        .requests
        .iter()
        .filter(|q| q.outcome == Outcome::StreamTruncated && q.clean_end)
        .collect();
    let records_sent = r.requests.iter().filter(|q| q.outcome.was_sent()).count() as u64;
    let pass =
        missing.is_empty() && duplicated.is_empty() && truncated.is_empty() && records_sent == sent;
    let summary = if pass {
        format!("all {sent} requests sent have exactly one terminal record")
    } else if !truncated.is_empty() {
        format!(
            "{} stream(s) ended without [DONE] and without an error: answers silently lost",
            truncated.len()
        )
    } else {
        format!(
            "{sent} requests sent, {records_sent} records: {} missing, {} duplicated",
            missing.len(),
            duplicated.len()
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({
            "scheduled": scheduled, "sent": sent, "dropped": dropped, "records": r.requests.len(),
            "missing_ids": missing, "duplicated_ids": duplicated,
            "truncated": truncated.len(), "examples": examples(truncated.into_iter(), 5),
        }),
    )))
}
