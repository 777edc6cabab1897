//! `[accuracy]`: the share of probes answered right, before load (`accuracy.below`) and,
//! when the suite asks, after load with every fault cleared (`accuracy.after_recovery`): a
//! recovered service must be right, not just up. Answers are judged here, from the records
//! and the suite's probes, so re-judging a run directory agrees with the run.

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::{AccuracyRecord, ProbeRound};
use crate::suite::{AccuracySpec, Answer};
use serde_json::json;

/// `accuracy`: the baseline round.
pub fn baseline(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let Some(acc) = &r.accuracy else {
        return Ok(None);
    };
    let what = ("accuracy", "accuracy.below", "before load");
    round(r, course, acc, ProbeRound::Baseline, what).map(Some)
}

/// `accuracy_after_recovery`: with `after_recovery`, every round after the baseline: one
/// after each fault the service answered again after, and one after load. A fault the
/// service never recovered from has no round: that is `recover_within`'s failure, not this.
pub fn after_recovery(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "accuracy_after_recovery";
    const ID: &str = "accuracy.after_recovery";
    let Some(acc) = r.accuracy.as_ref().filter(|a| a.after_recovery) else {
        return Ok(None);
    };
    let mut rounds: Vec<ProbeRound> = r
        .probes
        .iter()
        .map(|p| p.round)
        .filter(|w| *w != ProbeRound::Baseline)
        .collect();
    rounds.sort();
    rounds.dedup();
    // The round after load is owed whatever happened; it says why when it is missing.
    if !rounds.contains(&ProbeRound::AfterRecovery) {
        rounds.push(ProbeRound::AfterRecovery);
    }
    let mut judged = Vec::new();
    for which in rounds {
        let when = which.when();
        judged.push(round(r, course, acc, which, (CHECK, ID, when.as_str()))?);
    }
    // The worst round speaks for all: a failure, else a pass, else why none was judged.
    let failed = judged
        .iter()
        .filter(|v| v.status == super::Status::Fail)
        .count();
    let passed = judged
        .iter()
        .filter(|v| v.status == super::Status::Pass)
        .count();
    let first = judged
        .iter()
        .find(|v| v.status == super::Status::Fail)
        .or_else(|| judged.iter().find(|v| v.status == super::Status::Pass))
        .or(judged.first())
        .cloned();
    let Some(mut v) = first else {
        return Ok(None);
    };
    if judged.len() > 1 {
        v.summary = format!(
            "{}; {} round(s): {passed} passed, {failed} failed",
            v.summary,
            judged.len()
        );
        v.lines = judged.iter().map(|j| j.summary.clone()).collect();
    }
    Ok(Some(v))
}

/// Judge one round: right answers over probes, against `min`.
fn round(
    r: &RunRecords,
    course: &Course,
    acc: &AccuracySpec,
    which: ProbeRound,
    (check, id, when): (&str, &str, &str),
) -> Result<Verdict, JudgeError> {
    let recs: Vec<&AccuracyRecord> = r.probes.iter().filter(|p| p.round == which).collect();
    let n = acc.probes.len();
    if recs.len() < n && (recs.is_empty() || course.cut.is_some() || course.error.is_some()) {
        let why = match (&course.before_load, &course.cut, &course.error) {
            (Some(b), ..) if recs.is_empty() => b.clone(),
            (_, Some(c), _) => format!("{} after {} of {n} probe(s) {when}", c.why, recs.len()),
            (_, _, Some(e)) => format!(
                "the run stopped after {} of {n} probe(s) {when}: {e}",
                recs.len()
            ),
            _ => format!("no probe was sent {when}"),
        };
        return Ok(Verdict::not_judged(check, id, &why));
    }
    let mut right = 0;
    let mut wrong = Vec::new();
    for (index, probe) in acc.probes.iter().enumerate() {
        let rec = recs.iter().find(|p| p.index == index);
        let answer = rec.and_then(|p| p.answer.as_deref());
        if let Some(a) = answer
            && matches(&probe.expect, a)?
        {
            right += 1;
        } else {
            wrong.push(json!({
                "index": index, "prompt": probe.prompt, "expect": probe.expect,
                "answer": answer, "status": rec.and_then(|p| p.status),
                "error": rec.and_then(|p| p.error.as_deref()).or(rec.is_none().then_some("not sent")),
            }));
        }
    }
    let rate = right as f64 / n as f64;
    Ok(Verdict::new(
        check,
        id,
        rate >= acc.min,
        format!(
            "{right} of {n} probe(s) answered right {when} ({:.1}%, required {:.1}%)",
            rate * 100.0,
            acc.min * 100.0
        ),
        json!({
            "right": right, "probes": n, "rate": rate, "min": acc.min,
            "probes_file": acc.probes_file, "wrong": wrong.into_iter().take(5).collect::<Vec<_>>(),
        }),
    ))
}

/// Whether `answer` is what `expect` asks for.
fn matches(expect: &Answer, answer: &str) -> Result<bool, JudgeError> {
    let lower = answer.to_lowercase();
    Ok(match expect {
        Answer::Contains(words) => words.iter().all(|w| lower.contains(&w.to_lowercase())),
        Answer::Equals(text) => answer.trim().eq_ignore_ascii_case(text.trim()),
        Answer::Regex(re) => regex::Regex::new(re)
            .map_err(|source| JudgeError::Regex {
                key: "[accuracy] probes",
                pattern: re.clone(),
                source,
            })?
            .is_match(answer),
    })
}
