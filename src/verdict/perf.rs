//! Key performance thresholds: `latency_p99`, `ttft_p99`, `tpot_p99` and `throughput_min`,
//! judged with the definitions of [`crate::metrics`] over the successful requests outside
//! fault and crash windows (a disturbance is judged by the recovery checks, not here).

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::metrics::{self, Throughput, percentile};
use crate::record::RequestRecord;
use crate::units::Below;
use serde_json::json;

/// The requests a threshold judges: successful, outside every window, not after a cut.
fn steady<'a>(r: &'a RunRecords, course: &'a Course) -> impl Iterator<Item = &'a RequestRecord> {
    r.requests.iter().filter(move |q| {
        q.outcome.is_ok()
            && !course.disturbed(q)
            && course.cut.as_ref().is_none_or(|c| q.done_ms <= c.at_ms)
    })
}

/// One p99 threshold: the metric of each qualifying request, its p99 against the bound.
fn p99(
    r: &RunRecords,
    course: &Course,
    (check, id, what): (&str, &str, &str),
    bound: Option<Below>,
    metric: fn(&RequestRecord) -> Option<f64>,
) -> Option<Verdict> {
    let bound = bound?;
    if let Some(v) = course.without_load(check, id) {
        return Some(v);
    }
    let values: Vec<f64> = steady(r, course).filter_map(metric).collect();
    let Some(p) = percentile(&values, 0.99) else {
        return Some(Verdict::not_judged(
            check,
            id,
            &format!("no successful request outside fault and crash windows had a {what}"),
        ));
    };
    Some(Verdict::new(
        check,
        id,
        bound.holds(p),
        format!(
            "p99 {what} {:.1} ms over {} request(s) outside fault and crash windows (required {bound})",
            p,
            values.len()
        ),
        json!({
            "p99_ms": p, "p50_ms": percentile(&values, 0.50),
            "max_ms": values.iter().copied().reduce(f64::max).map(round),
            "requests": values.len(), "bound": bound.to_string(),
        }),
    ))
}

/// `latency_p99`: p99 end-to-end latency.
pub fn latency(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let what = ("latency_p99", "perf.latency", "end-to-end latency");
    Ok(p99(r, course, what, r.expect.latency_p99, metrics::e2e_ms))
}

/// `ttft_p99`: p99 time to first token.
pub fn ttft(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let what = ("ttft_p99", "perf.ttft", "time to first token");
    Ok(p99(r, course, what, r.expect.ttft_p99, metrics::ttft_ms))
}

/// `tpot_p99`: p99 time per output token after the first.
pub fn tpot(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let what = ("tpot_p99", "perf.tpot", "time per output token");
    Ok(p99(r, course, what, r.expect.tpot_p99, metrics::tpot_ms))
}

/// Milliseconds of `[from, to)` that no window covers.
pub(super) fn undisturbed_ms(course: &Course, from: f64, to: f64) -> f64 {
    let mut spans: Vec<(f64, f64)> = course
        .windows
        .iter()
        .map(|w| (w.start_ms.max(from), w.end_ms.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut covered, mut reach) = (0.0, from);
    for (a, b) in spans {
        if b > reach {
            covered += b - a.max(reach);
            reach = b;
        }
    }
    (to - from - covered).max(0.0)
}

/// `throughput_min`: successful requests outside windows, and their output tokens, per second
/// over the load (from load start to the later of the last arrival and the last such
/// request's end, cut short by an interrupt), less the time windows cover.
pub fn throughput(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "throughput_min";
    const ID: &str = "perf.throughput";
    let Some(min) = r.expect.throughput_min else {
        return Ok(None);
    };
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let from = course.load_start_ms.unwrap_or(r.timeline.load_start_ms);
    let last_done = steady(r, course).map(|q| q.done_ms).fold(from, f64::max);
    let mut to = last_done.max(r.timeline.load_end_ms);
    if let Some(c) = &course.cut {
        to = to.min(c.at_ms);
    }
    let t = Throughput::of(steady(r, course), undisturbed_ms(course, from, to));
    let (Some(rps), Some(tps)) = (t.requests_per_s(), t.output_tokens_per_s()) else {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            "no time of the load lay outside fault and crash windows",
        )));
    };
    if t.requests == 0 {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            "no request outside fault and crash windows succeeded",
        )));
    }
    let mut short = Vec::new();
    if let Some(m) = min.requests_per_s.filter(|&m| rps < m) {
        short.push(format!("{rps:.2} requests/s (required {m})"));
    }
    if let Some(m) = min.output_tokens_per_s.filter(|&m| tps < m) {
        short.push(format!("{tps:.1} output tokens/s (required {m})"));
    }
    let summary = if short.is_empty() {
        format!(
            "{rps:.2} requests/s, {tps:.1} output tokens/s over {:.1} s outside fault and crash windows",
            t.duration_ms / 1e3
        )
    } else {
        format!(
            "only {} over {:.1} s outside fault and crash windows",
            short.join(" and "),
            t.duration_ms / 1e3
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        short.is_empty(),
        summary,
        json!({
            "requests": t.requests, "output_tokens": t.output_tokens,
            "duration_ms": round(t.duration_ms), "requests_per_s": rps, "output_tokens_per_s": tps,
            "min": min,
        }),
    )))
}
