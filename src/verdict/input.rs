//! The `input.*` checks, on whenever a run sent a malformed-input corpus (`input.jsonl`):
//! no 5xx, no dead service, no leaked request, the right error, in time. Each case is
//! judged on its own line of `input.jsonl`; [`failures`] says which ids one case fails.

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::InputRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A 5xx answer to a case.
pub const SERVER_ERROR: &str = "input.server_error";
/// The service unhealthy, or a valid request failing, after a case.
pub const CRASH: &str = "input.crash";
/// The running gauge not back to its baseline after a disconnect.
pub const LEAK: &str = "input.leak";
/// Not the error a client should get: no OpenAI-shaped body, or not a 4xx at all.
pub const ERROR_SHAPE: &str = "input.error_shape";
/// No answer within the bound.
pub const SLOW: &str = "input.slow";

/// The ids one case fails, in report order.
pub fn failures(r: &InputRecord) -> Vec<&'static str> {
    let mut out = Vec::new();
    if r.status.is_some_and(|s| s >= 500) {
        out.push(SERVER_ERROR);
    }
    if r.health_after != Some(200) || r.valid_after != Some(200) {
        out.push(CRASH);
    }
    if r.gauge.as_ref().is_some_and(|g| g.settled_ms.is_none()) {
        out.push(LEAK);
    }
    if wrong_error(r) {
        out.push(ERROR_SHAPE);
    }
    if slow(r) {
        out.push(SLOW);
    }
    out
}

/// For a case expecting a 4xx: a 4xx without an OpenAI-shaped body, a 1xx–3xx (the server
/// accepted what it must refuse), or no answer at all.
fn wrong_error(r: &InputRecord) -> bool {
    if r.expect != "4xx" {
        return false;
    }
    match r.status {
        Some(s) if (400..500).contains(&s) => r.error_shaped == Some(false),
        Some(s) => s < 400,
        None => r.result == "closed",
    }
}

/// A case owed an answer got none in time (or took longer than the bound).
fn slow(r: &InputRecord) -> bool {
    r.answer_bound_ms
        .is_some_and(|b| r.result == "timeout" || r.elapsed_ms > b)
}

/// One row of the per-case table in reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRow {
    pub case: String,
    pub category: String,
    pub origin: Option<String>,
    pub expect: String,
    /// The HTTP status, or how it ended without one (`closed`, `disconnected`, ...).
    pub status: String,
    pub time_ms: f64,
    /// `ok`, or the failed ids.
    pub verdict: String,
    pub evidence: String,
}

/// The per-case table of a run (empty without `input.jsonl`).
pub fn rows(records: &RunRecords) -> Vec<CaseRow> {
    records
        .input
        .iter()
        .map(|r| {
            let f = failures(r);
            let mut evidence = r.evidence.clone();
            if f.contains(&CRASH) {
                evidence = format!(
                    "after: health {}, valid request {}{}",
                    show(r.health_after),
                    show(r.valid_after),
                    r.valid_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
            } else if let (true, Some(g)) = (f.contains(&LEAK), &r.gauge) {
                evidence = format!(
                    "running gauge still {} (baseline {}) {} ms later",
                    g.last, g.baseline, g.bound_ms
                );
            }
            CaseRow {
                case: r.case.clone(),
                category: r.category.clone(),
                origin: r.origin.clone(),
                expect: r.expect.clone(),
                status: r.status.map_or_else(|| r.result.clone(), |s| s.to_string()),
                time_ms: round(r.elapsed_ms),
                verdict: if f.is_empty() {
                    "ok".into()
                } else {
                    f.join(" ")
                },
                evidence: evidence
                    .chars()
                    .take(120)
                    .collect::<String>()
                    .replace('\n', " "),
            }
        })
        .collect()
}

fn show(s: Option<u16>) -> String {
    s.map_or_else(|| "no answer".into(), |s| s.to_string())
}

/// One check over every case: how many fail `id`, and the first few as evidence.
fn judge_id(
    r: &RunRecords,
    check: &str,
    id: &'static str,
    what: &str,
    applies: impl Fn(&InputRecord) -> bool,
) -> Option<Verdict> {
    if r.input.is_empty() {
        return None;
    }
    let judged: Vec<&InputRecord> = r.input.iter().filter(|c| applies(c)).collect();
    if judged.is_empty() {
        return Some(Verdict::skip(check, id, "no case this check applies to"));
    }
    let bad: Vec<&InputRecord> = judged
        .iter()
        .copied()
        .filter(|c| failures(c).contains(&id))
        .collect();
    let pass = bad.is_empty();
    let summary = if pass {
        format!("{} case(s): none {what}", judged.len())
    } else {
        let names: Vec<&str> = bad.iter().take(3).map(|c| c.case.as_str()).collect();
        format!(
            "{} of {} case(s) {what}: {}{}",
            bad.len(),
            judged.len(),
            names.join(", "),
            if bad.len() > 3 { ", ..." } else { "" }
        )
    };
    let examples: Vec<_> = bad
        .iter()
        .take(5)
        .map(|c| {
            json!({
                "case": c.case, "origin": c.origin, "status": c.status, "result": c.result,
                "elapsed_ms": c.elapsed_ms, "health_after": c.health_after,
                "valid_after": c.valid_after, "gauge": c.gauge, "evidence": c.evidence,
            })
        })
        .collect();
    Some(Verdict::new(
        check,
        id,
        pass,
        summary,
        json!({"cases": judged.len(), "failed": bad.len(), "examples": examples}),
    ))
}

pub fn server_error(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    Ok(judge_id(
        r,
        "input_no_server_error",
        SERVER_ERROR,
        "got a 5xx",
        |_| true,
    ))
}

pub fn crash(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    Ok(judge_id(
        r,
        "input_no_crash",
        CRASH,
        "left the service unhealthy or failing valid requests",
        |_| true,
    ))
}

pub fn leak(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    if r.input.iter().any(|c| c.mode.starts_with("disconnect"))
        && !r.input.iter().any(|c| c.gauge.is_some())
    {
        return Ok(Some(Verdict::skip(
            "input_no_leak",
            LEAK,
            "the service exports no vllm:num_requests_running",
        )));
    }
    Ok(judge_id(
        r,
        "input_no_leak",
        LEAK,
        "left the running gauge above its baseline",
        |c| c.gauge.is_some(),
    ))
}

pub fn error_shape(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    Ok(judge_id(
        r,
        "input_error_shape",
        ERROR_SHAPE,
        "expecting a 4xx got the wrong answer",
        |c| c.expect == "4xx",
    ))
}

pub fn slow_answer(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    Ok(judge_id(
        r,
        "input_answer_time",
        SLOW,
        "went unanswered past the bound",
        |c| c.answer_bound_ms.is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::GaugeCheck;

    fn rec(expect: &str, status: Option<u16>) -> InputRecord {
        InputRecord {
            case: "c".into(),
            expect: expect.into(),
            mode: "normal".into(),
            status,
            result: if status.is_some() {
                "answered"
            } else {
                "closed"
            }
            .into(),
            elapsed_ms: 5.0,
            answer_bound_ms: Some(1000.0),
            error_shaped: status.filter(|s| *s >= 400).map(|_| true),
            health_after: Some(200),
            valid_after: Some(200),
            ..InputRecord::default()
        }
    }

    #[test]
    fn each_failure_has_its_id() {
        assert!(failures(&rec("4xx", Some(400))).is_empty());
        assert!(failures(&rec("not_5xx", Some(200))).is_empty());
        assert!(failures(&rec("not_5xx", None)).is_empty());
        assert_eq!(failures(&rec("not_5xx", Some(500))), vec![SERVER_ERROR]);
        assert_eq!(failures(&rec("4xx", Some(200))), vec![ERROR_SHAPE]);
        assert_eq!(failures(&rec("4xx", None)), vec![ERROR_SHAPE]);
        let mut r = rec("4xx", Some(422));
        r.error_shaped = Some(false);
        assert_eq!(failures(&r), vec![ERROR_SHAPE]);
        let mut r = rec("4xx", Some(400));
        r.health_after = None;
        r.valid_after = None;
        assert_eq!(failures(&r), vec![CRASH]);
        let mut r = rec("not_5xx", None);
        r.result = "disconnected".into();
        r.answer_bound_ms = None;
        r.gauge = Some(GaugeCheck {
            baseline: 0.0,
            last: 1.0,
            settled_ms: None,
            bound_ms: 5000.0,
        });
        assert_eq!(failures(&r), vec![LEAK]);
        let mut r = rec("4xx", None);
        r.result = "timeout".into();
        r.elapsed_ms = 1000.0;
        assert_eq!(failures(&r), vec![SLOW]);
    }
}
