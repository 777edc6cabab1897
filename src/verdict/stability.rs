//! The checks of a soak (`kind: "soak"`, L5 stability): did anything fail, did memory,
//! descriptors or threads creep up, did latency or throughput degrade, did the engine freeze.
//!
//! Each judges the part of the load after the warm-up (`warmup`), up to the end of load, the
//! cut, or the last record of a run killed outright, so a partial report of a soak still
//! running judges its prefix. Every check is linear (or `n log n`) in the records, and the
//! trend estimator's own cost is constant ([`crate::metrics::trend`]), so judging a 12 h
//! soak costs what reading its files costs.

use super::perf::undisturbed_ms;
use super::{Course, JudgeError, RunRecords, Verdict, examples, round};
use crate::metrics::{self, percentile, trend};
use crate::record::{Outcome, Sample};
use crate::suite::StabilitySpec;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Milliseconds in the 24 h that growths are projected over.
const DAY_MS: f64 = 86_400_000.0;
/// Fewest requests in each window for a drift to be judged.
const MIN_WINDOW_REQUESTS: usize = 5;
/// Fewest requests in each window for their p99 to be compared: with fewer, the p99 is the
/// slowest request, and one request stalled by a busy machine would read as a drift.
const MIN_P99_REQUESTS: usize = 100;
/// Series whose evidence a growth verdict lists, steepest first.
const SHOWN: usize = 8;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quantity {
    /// Host memory: PSS where the kernel gives it for every process, else RSS.
    Memory,
    /// GPU memory held by the service's processes (NVML).
    GpuMemory,
    /// Open file descriptors.
    Fds,
    /// Threads.
    Threads,
}

impl Quantity {
    /// How a value of it reads.
    pub fn show(self, v: f64) -> String {
        match self {
            Quantity::Memory | Quantity::GpuMemory => bytes(v),
            Quantity::Fds => format!("{v:.1} fds"),
            Quantity::Threads => format!("{v:.1} threads"),
        }
    }

    /// In words, for plots and summaries.
    pub fn word(self) -> &'static str {
        match self {
            Quantity::Memory => "memory",
            Quantity::GpuMemory => "GPU memory",
            Quantity::Fds => "open fds",
            Quantity::Threads => "threads",
        }
    }

    /// Growth under which nothing is told apart from allocator and sampling noise, over the
    /// judged span whatever its length: 8 MiB of host memory, 64 MiB of GPU memory (its
    /// allocators take blocks), 8 descriptors, 4 threads. At 12 h these are far below any
    /// threshold per 24 h; at CI size (`--duration 15s`) they keep a few MiB of allocator
    /// settling from projecting to gigabytes a day.
    fn floor(self) -> f64 {
        match self {
            Quantity::Memory => 8.0 * MIB,
            Quantity::GpuMemory => 64.0 * MIB,
            Quantity::Fds => 8.0,
            Quantity::Threads => 4.0,
        }
    }
}

const MIB: f64 = (1u64 << 20) as f64;

/// Bytes as `1.5 GiB`, `12.0 MiB`.
fn bytes(v: f64) -> String {
    let a = v.abs();
    if a >= 1024.0 * MIB {
        format!("{:.2} GiB", v / (1024.0 * MIB))
    } else if a >= MIB {
        format!("{:.1} MiB", v / MIB)
    } else {
        format!("{:.0} KiB", v / 1024.0)
    }
}

/// One sampled series: `(t_ms, value)` in time order.
#[derive(Debug, Clone)]
pub struct Series {
    pub quantity: Quantity,
    /// `main (tree)`, `main pid 123 `shakedown::engine``.
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Every series of the run's samples: per service the tree's sum and each process, for
/// host memory, descriptors and threads; GPU memory per process and per service where NVML
/// sampled. One pass over the samples.
pub fn series(r: &RunRecords) -> Vec<Series> {
    let mut by: BTreeMap<(Quantity, String), Vec<(f64, f64)>> = BTreeMap::new();
    let mut push = |q: Quantity, name: String, t: f64, v: f64| {
        by.entry((q, name)).or_default().push((t, v));
    };
    // Which service a pid belongs to, for GPU samples (which name only pids).
    let mut owner: BTreeMap<i32, String> = BTreeMap::new();
    for s in &r.samples {
        match s {
            Sample::Procs {
                t_ms,
                service,
                procs,
            } => {
                let pss = procs.iter().all(|p| p.pss_bytes.is_some());
                let (mut mem, mut fds, mut threads) = (0.0, Some(0.0), Some(0.0));
                for p in procs {
                    owner.insert(p.pid, service.clone());
                    let m = if pss { p.pss_bytes } else { None }.unwrap_or(p.rss_bytes) as f64;
                    mem += m;
                    let name = format!("{service} pid {} `{}`", p.pid, short(&p.cmdline));
                    push(Quantity::Memory, name.clone(), *t_ms, m);
                    fds = fds.zip(p.fds).map(|(a, b)| a + f64::from(b));
                    threads = threads.zip(p.threads).map(|(a, b)| a + f64::from(b));
                    if let Some(n) = p.fds {
                        push(Quantity::Fds, name.clone(), *t_ms, f64::from(n));
                    }
                    if let Some(n) = p.threads {
                        push(Quantity::Threads, name, *t_ms, f64::from(n));
                    }
                }
                let tree = format!("{service} (tree)");
                push(Quantity::Memory, tree.clone(), *t_ms, mem);
                if let Some(n) = fds {
                    push(Quantity::Fds, tree.clone(), *t_ms, n);
                }
                if let Some(n) = threads {
                    push(Quantity::Threads, tree, *t_ms, n);
                }
            }
            Sample::Gpu { t_ms, procs, .. } => {
                let mut per_service: BTreeMap<String, f64> = BTreeMap::new();
                for p in procs {
                    let service = owner.get(&(p.pid as i32)).cloned().unwrap_or_default();
                    push(
                        Quantity::GpuMemory,
                        format!("{service} pid {} on GPU {}", p.pid, p.device),
                        *t_ms,
                        p.bytes as f64,
                    );
                    *per_service.entry(service).or_default() += p.bytes as f64;
                }
                for (service, b) in per_service {
                    push(Quantity::GpuMemory, format!("{service} (GPU)"), *t_ms, b);
                }
            }
            Sample::Health { .. } | Sample::Metrics { .. } => {}
        }
    }
    by.into_iter()
        .map(|((quantity, name), points)| Series {
            quantity,
            name,
            points,
        })
        .collect()
}

/// A command line cut to its program and first words.
fn short(cmdline: &str) -> String {
    let s: String = cmdline.chars().take(48).collect();
    if s.len() < cmdline.len() {
        s + "…"
    } else {
        s
    }
}

/// The part of a soak the checks judge: from the end of the warm-up to the end of load, the
/// cut, or the last record, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub from_ms: f64,
    pub to_ms: f64,
}

impl Span {
    /// The judged span of a soak, or why there is none (the reason of a not-judged verdict).
    pub fn of(r: &RunRecords, course: &Course, st: &StabilitySpec) -> Result<Span, String> {
        if let Some(why) = &course.before_load {
            return Err(why.clone());
        }
        let start = course.load_start_ms.unwrap_or(r.timeline.load_start_ms);
        let last = r
            .samples
            .iter()
            .map(Sample::t_ms)
            .chain(r.requests.iter().map(|q| q.done_ms))
            .fold(start, f64::max);
        let mut to = r.timeline.load_end_ms.min(last);
        if let Some(c) = &course.cut {
            to = to.min(c.at_ms);
        }
        let from = start + st.warmup.as_ms();
        if to <= from {
            return Err(format!(
                "the run ended at {:.1} s, within the warm-up of {}",
                (to - start).max(0.0) / 1e3,
                st.warmup
            ));
        }
        Ok(Span {
            from_ms: from,
            to_ms: to,
        })
    }

    /// Whether `t` lies in `[from, to)`: back-to-back windows share no instant.
    fn holds(&self, t: f64) -> bool {
        (self.from_ms..self.to_ms).contains(&t)
    }

    fn ms(&self) -> f64 {
        self.to_ms - self.from_ms
    }
}

/// The fitted trend of one series over the judged span, per 24 h.
#[derive(Debug, Clone)]
pub struct Fit {
    pub quantity: Quantity,
    pub name: String,
    pub trend: trend::Trend,
    /// Whether it grows past its allowance (and past [`Quantity::floor`] over the span).
    pub grows: bool,
}

/// Fit every series of `quantities` within `span`; each resample stream is seeded from the
/// run's seed, so judging again gives the same bounds.
pub fn fits(r: &RunRecords, st: &StabilitySpec, span: Span, quantities: &[Quantity]) -> Vec<Fit> {
    series(r)
        .into_iter()
        .filter(|s| quantities.contains(&s.quantity))
        .filter_map(|s| {
            let pts: Vec<(f64, f64)> = s
                .points
                .into_iter()
                .filter(|(t, _)| span.holds(*t))
                .collect();
            let mut rng = crate::seed::stream(r.timeline.seed, "bootstrap");
            let t = trend::trend(&pts, st.confidence, &mut rng)?;
            let allowed = allowance(st, s.quantity);
            let grows = t.lower * DAY_MS > allowed && t.lower * span.ms() > s.quantity.floor();
            Some(Fit {
                quantity: s.quantity,
                name: s.name,
                trend: t,
                grows,
            })
        })
        .collect()
}

/// The growth per 24 h a soak allows of `q`.
fn allowance(st: &StabilitySpec, q: Quantity) -> f64 {
    match q {
        Quantity::Memory => st.memory_growth as f64,
        Quantity::GpuMemory => st.gpu_memory_growth as f64,
        Quantity::Fds => st.fd_growth,
        Quantity::Threads => st.thread_growth,
    }
}

/// One growth check over the series of `quantities`: fails naming the steepest series whose
/// lower bound per 24 h exceeds its allowance. Scales as [`series`] (linear in the samples)
/// plus a constant per series.
fn growth(
    r: &RunRecords,
    course: &Course,
    (check, id): (&str, &str),
    quantities: &[Quantity],
) -> Result<Option<Verdict>, JudgeError> {
    let Some(st) = &r.stability else {
        return Ok(None);
    };
    let span = match Span::of(r, course, st) {
        Ok(s) => s,
        Err(why) => return Ok(Some(Verdict::not_judged(check, id, &why))),
    };
    let mut fits = fits(r, st, span, quantities);
    let what = quantities
        .iter()
        .map(|q| q.word())
        .collect::<Vec<_>>()
        .join(" and ");
    if fits.is_empty() {
        return Ok(Some(Verdict::not_judged(
            check,
            id,
            &format!(
                "fewer than {} samples of {what} after the warm-up",
                trend::MIN_POINTS
            ),
        )));
    }
    // Failing series first, then the steepest lower bound relative to its allowance.
    let rel = |f: &Fit| f.trend.lower * DAY_MS / allowance(st, f.quantity).max(1e-9);
    fits.sort_by(|a, b| b.grows.cmp(&a.grows).then(rel(b).total_cmp(&rel(a))));
    let day = |f: &Fit, v: f64| format!("{}/24h", f.quantity.show(v * DAY_MS));
    let worst = &fits[0];
    let growing = fits.iter().filter(|f| f.grows).count();
    let confidence = st.confidence * 100.0;
    let summary = if growing > 0 {
        format!(
            "{} grows {} ({confidence}% lower bound {}), allowed {}{}",
            worst.name,
            day(worst, worst.trend.slope),
            day(worst, worst.trend.lower),
            day(worst, allowance(st, worst.quantity) / DAY_MS),
            match growing {
                1 => String::new(),
                n => format!("; {} more series grow", n - 1),
            }
        )
    } else {
        let q = worst.quantity;
        let below_floor = if worst.trend.lower * DAY_MS > allowance(st, q) {
            format!(
                "; it gains {} over the span, under the {} that noise can make",
                q.show(worst.trend.lower * span.ms()),
                q.show(q.floor())
            )
        } else {
            String::new()
        };
        format!(
            "{} series of {what} over {:.1} s after warm-up; steepest {} at {} (lower bound {}), allowed {}{below_floor}",
            fits.len(),
            span.ms() / 1e3,
            worst.name,
            day(worst, worst.trend.slope),
            day(worst, worst.trend.lower),
            day(worst, allowance(st, q) / DAY_MS),
        )
    };
    let shown: Vec<Value> = fits
        .iter()
        .take(SHOWN)
        .map(|f| {
            json!({
                "series": f.name, "quantity": f.quantity.word(), "grows": f.grows,
                "per_24h": f.trend.slope * DAY_MS, "lower_per_24h": f.trend.lower * DAY_MS,
                "upper_per_24h": f.trend.upper * DAY_MS,
                "allowed_per_24h": allowance(st, f.quantity), "points": f.trend.points,
            })
        })
        .collect();
    Ok(Some(Verdict::new(
        check,
        id,
        growing == 0,
        summary,
        json!({
            "from_ms": round(span.from_ms), "to_ms": round(span.to_ms),
            "confidence": st.confidence, "series": fits.len(), "steepest": shown,
        }),
    )))
}

/// `thresholds.memory_growth` (and `gpu_memory_growth`): host memory of each tree and each
/// process, and GPU memory where NVML sampled, must not grow beyond the allowance per 24 h.
pub fn memory_growth(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let what = ("memory_growth", "stability.memory_growth");
    growth(r, course, what, &[Quantity::Memory, Quantity::GpuMemory])
}

/// `thresholds.fd_growth`: open file descriptors of each tree and process.
pub fn fd_growth(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    growth(
        r,
        course,
        ("fd_growth", "stability.fd_growth"),
        &[Quantity::Fds],
    )
}

/// `thresholds.thread_growth`: threads of each tree and process.
pub fn thread_growth(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    let what = ("thread_growth", "stability.thread_growth");
    growth(r, course, what, &[Quantity::Threads])
}

/// `thresholds.failures`: failed requests over the whole soak, warm-up included, within the
/// budget (aborted ones, open at a cut, are not failures). One pass over the requests.
pub fn failures(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "failures";
    const ID: &str = "stability.failures";
    let Some(st) = &r.stability else {
        return Ok(None);
    };
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let failed = || {
        r.requests
            .iter()
            .filter(|q| !q.outcome.is_ok() && q.outcome != Outcome::Aborted)
    };
    let n = failed().count() as u64;
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for q in failed() {
        *by.entry(format!("{:?}", q.outcome)).or_default() += 1;
    }
    let total = r.requests.len();
    let summary = if n == 0 {
        format!("none of {total} requests failed")
    } else {
        format!(
            "{n} of {total} requests failed ({}), allowed {}",
            by.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            st.max_failures
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        n <= st.max_failures,
        summary,
        json!({
            "failed": n, "requests": total, "allowed": st.max_failures, "by_outcome": by,
            "examples": examples(failed(), 5),
        }),
    )))
}

/// The first and last windows of the judged span, or why they cannot be compared.
fn windows(r: &RunRecords, course: &Course) -> Result<Option<(StabilitySpec, Span, Span)>, String> {
    let Some(st) = &r.stability else {
        return Ok(None);
    };
    let span = Span::of(r, course, st)?;
    let w = st.window.as_ms();
    if span.ms() < 2.0 * w {
        return Err(format!(
            "{:.1} s after the warm-up, less than two windows of {}",
            span.ms() / 1e3,
            st.window
        ));
    }
    let first = Span {
        from_ms: span.from_ms,
        to_ms: span.from_ms + w,
    };
    let last = Span {
        from_ms: span.to_ms - w,
        to_ms: span.to_ms,
    };
    Ok(Some((st.clone(), first, last)))
}

/// `thresholds.latency_drift`: p50 and p99 end-to-end latency of the successful requests
/// sent in the last window after warm-up against the first, outside fault and crash
/// windows (the p99 only with at least [`MIN_P99_REQUESTS`] in each). One pass over the requests per window, then a sort of each window's latencies.
pub fn latency_drift(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "latency_drift";
    const ID: &str = "stability.latency_drift";
    let (st, first, last) = match windows(r, course) {
        Ok(Some(w)) => w,
        Ok(None) => return Ok(None),
        Err(why) => return Ok(Some(Verdict::not_judged(CHECK, ID, &why))),
    };
    let latencies = |w: Span| -> Vec<f64> {
        r.requests
            .iter()
            .filter(|q| q.outcome.is_ok() && !course.disturbed(q) && w.holds(q.start_ms()))
            .filter_map(metrics::e2e_ms)
            .collect()
    };
    let (a, b) = (latencies(first), latencies(last));
    if a.len() < MIN_WINDOW_REQUESTS || b.len() < MIN_WINDOW_REQUESTS {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            &format!(
                "{} and {} successful requests in the first and last windows, fewer than {MIN_WINDOW_REQUESTS}",
                a.len(),
                b.len()
            ),
        )));
    }
    let mut worse = Vec::new();
    let mut ev = serde_json::Map::new();
    let p99 = a.len().min(b.len()) >= MIN_P99_REQUESTS;
    for (q, name) in [(0.50, "p50"), (0.99, "p99")] {
        let (Some(x), Some(y)) = (percentile(&a, q), percentile(&b, q)) else {
            continue;
        };
        if q > 0.5 && !p99 {
            continue;
        }
        let drift = (y / x.max(1e-9) - 1.0) * 100.0;
        if drift > st.latency_drift {
            worse.push(format!("{name} {x:.1} → {y:.1} ms (+{drift:.0}%)"));
        }
        ev.insert(
            name.into(),
            json!({"first_ms": x, "last_ms": y, "drift_pct": drift}),
        );
    }
    let summary = if worse.is_empty() {
        format!(
            "latency of the last window within {}% of the first ({} and {} requests{})",
            st.latency_drift,
            a.len(),
            b.len(),
            if p99 {
                ""
            } else {
                "; p50 only, p99 needs 100 per window"
            }
        )
    } else {
        format!(
            "latency drifted: {}; allowed +{}%",
            worse.join(", "),
            st.latency_drift
        )
    };
    ev.insert("first".into(), window_json(first, a.len()));
    ev.insert("last".into(), window_json(last, b.len()));
    ev.insert("allowed_pct".into(), st.latency_drift.into());
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        worse.is_empty(),
        summary,
        Value::Object(ev),
    )))
}

fn window_json(w: Span, requests: usize) -> Value {
    json!({"from_ms": round(w.from_ms), "to_ms": round(w.to_ms), "requests": requests})
}

/// `thresholds.throughput_drift`: successful requests (and their output tokens) per
/// undisturbed second of the last window against the first, counting the requests *sent* in
/// each window: under open-loop load that is what the service got done of what it was
/// offered, and it does not swing with when answers happen to land (a burst of late
/// completions at a window's edge). Slower answers that still come are `latency_drift`'s.
/// One pass over the requests.
pub fn throughput_drift(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "throughput_drift";
    const ID: &str = "stability.throughput_drift";
    let (st, first, last) = match windows(r, course) {
        Ok(Some(w)) => w,
        Ok(None) => return Ok(None),
        Err(why) => return Ok(Some(Verdict::not_judged(CHECK, ID, &why))),
    };
    let rate = |w: Span| {
        metrics::Throughput::of(
            r.requests
                .iter()
                .filter(|q| q.outcome.is_ok() && !course.disturbed(q) && w.holds(q.start_ms())),
            undisturbed_ms(course, w.from_ms, w.to_ms),
        )
    };
    let (a, b) = (rate(first), rate(last));
    let (Some(x), Some(y)) = (a.requests_per_s(), b.requests_per_s()) else {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            "the first or last window lay wholly inside fault and crash windows",
        )));
    };
    if x <= 0.0 {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            "no request succeeded in the first window after warm-up",
        )));
    }
    let drop = (1.0 - y / x) * 100.0;
    let pass = drop <= st.throughput_drift;
    let summary = format!(
        "{x:.2} → {y:.2} requests/s from the first to the last window ({}{:.0}%), allowed -{}%",
        if drop > 0.0 { "-" } else { "+" },
        drop.abs(),
        st.throughput_drift
    );
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({
            "first": {"requests_per_s": x, "output_tokens_per_s": a.output_tokens_per_s(), "window": window_json(first, a.requests)},
            "last": {"requests_per_s": y, "output_tokens_per_s": b.output_tokens_per_s(), "window": window_json(last, b.requests)},
            "drop_pct": drop, "allowed_pct": st.throughput_drift,
        }),
    )))
}

/// `thresholds.stuck_after`: requests in flight while nothing advances for that long. With
/// `metrics.running` and `metrics.tokens` sampled, the engine's own word: the gauge above 0
/// and the counter unchanged; otherwise the requests': some open, none receiving its first
/// token or ending well (a stream whose chunks keep coming counts as moving). Linear in the
/// samples, `n log n` in the requests.
pub fn stuck(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "stuck_after";
    const ID: &str = "stability.stuck";
    let Some(st) = &r.stability else {
        return Ok(None);
    };
    if let Some(v) = course.without_load(CHECK, ID) {
        return Ok(Some(v));
    }
    let bound = st.stuck_after.as_ms();
    let (source, longest) = match from_metrics(r, st) {
        Some(l) => ("the engine's counters (/metrics)", l),
        None => ("the requests' tokens", from_requests(r, course, bound)),
    };
    let Some((from, to)) = longest else {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            true,
            format!("never stuck: by {source}, nothing waited without progress"),
            json!({"source": source, "bound_ms": bound}),
        )));
    };
    let len = to - from;
    let pass = len < bound;
    let summary = if pass {
        format!(
            "never stuck: by {source}, the longest stall was {:.1} s (bound {})",
            len / 1e3,
            st.stuck_after
        )
    } else {
        format!(
            "stuck for {:.1} s from {:.1} s: by {source}, requests were in flight and no token came (bound {})",
            len / 1e3,
            from / 1e3,
            st.stuck_after
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"source": source, "from_ms": round(from), "to_ms": round(to), "bound_ms": bound}),
    )))
}

/// The longest stretch of `/metrics` samples in which the running gauge stayed above zero and
/// the tokens counter did not move; `None` when the soak samples no such pair of series.
fn from_metrics(r: &RunRecords, st: &StabilitySpec) -> Option<Option<(f64, f64)>> {
    let m = st.metrics.as_ref()?;
    let (running, tokens) = (m.running.as_deref()?, m.tokens.as_deref()?);
    let mut longest: Option<(f64, f64)> = None;
    let mut since: Option<(f64, f64)> = None;
    let mut any = false;
    for s in &r.samples {
        let Sample::Metrics { t_ms, values, .. } = s else {
            continue;
        };
        let (Some(&run), Some(&tok)) = (values.get(running), values.get(tokens)) else {
            continue;
        };
        any = true;
        match since {
            Some((t0, tok0)) if run > 0.0 && tok == tok0 => {
                if longest.is_none_or(|(a, b)| b - a < t_ms - t0) {
                    longest = Some((t0, *t_ms));
                }
            }
            _ => since = (run > 0.0).then_some((*t_ms, tok)),
        }
    }
    any.then_some(longest)
}

/// The longest stretch in which requests were open, none disturbed by a fault, and none got
/// its first token or ended well; a request streaming without a gap over `bound` counts as
/// progress from its first token to its end.
fn from_requests(r: &RunRecords, course: &Course, bound: f64) -> Option<(f64, f64)> {
    let reqs: Vec<_> = r
        .requests
        .iter()
        .filter(|q| q.sent_ms.is_some() && !course.disturbed(q))
        .collect();
    let mut open: Vec<(f64, f64)> = reqs.iter().map(|q| (q.start_ms(), q.done_ms)).collect();
    let mut moving: Vec<(f64, f64)> = reqs
        .iter()
        .filter(|q| q.outcome.is_ok())
        .flat_map(|q| {
            let first = q.first_token_ms.unwrap_or(q.done_ms);
            let steady = q.max_gap_ms.is_none_or(|g| g < bound);
            let a = [(first, first), (q.done_ms, q.done_ms)];
            let b = steady.then_some((first, q.done_ms));
            a.into_iter().chain(b)
        })
        .collect();
    let open = merge(&mut open);
    let moving = merge(&mut moving);
    let mut longest: Option<(f64, f64)> = None;
    let mut j = 0;
    for (a, b) in open {
        let mut at = a;
        while j < moving.len() && moving[j].1 < a {
            j += 1;
        }
        let mut k = j;
        while k < moving.len() && moving[k].0 <= b {
            let (m0, m1) = moving[k];
            if m0 > at && longest.is_none_or(|(x, y)| y - x < m0 - at) {
                longest = Some((at, m0));
            }
            at = at.max(m1);
            k += 1;
        }
        if b > at && longest.is_none_or(|(x, y)| y - x < b - at) {
            longest = Some((at, b));
        }
    }
    longest
}

/// Intervals sorted and merged where they touch or overlap.
fn merge(v: &mut [(f64, f64)]) -> Vec<(f64, f64)> {
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for &(a, b) in v.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
