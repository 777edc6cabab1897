//! A perf test's sweep judged: each point's metrics from its records ([`PointMetrics`]),
//! then three verdicts over the points — the client kept up (`client.saturated`), requests
//! did not fail (`perf.failures`), and no metric regressed against the baseline
//! (`perf.regression`). `perf.json` (and `shakedown perf compare`) carry the same numbers.
//!
//! Scales with the records of one point at a time: a point's requests are read, reduced to
//! its metrics, and dropped before the next point is read.

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::metrics::point::PointMetrics;
use crate::record::{RequestRecord, Sample, files, read_jsonl};
use crate::suite::{PerfSpec, SweepPoint, higher_is_better};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The metrics `perf.regression` compares with a previous result (and `perf compare` shows).
pub const COMPARED: &[&str] = &[
    "ttft_ms.median",
    "ttft_ms.p99",
    "tpot_ms.median",
    "tpot_ms.p99",
    "itl_ms.median",
    "itl_ms.p99",
    "e2el_ms.median",
    "e2el_ms.p99",
    "request_throughput",
    "output_throughput",
    "failed",
];

/// A perf test's results: `perf.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerfResults {
    /// The test (suite) name.
    pub test: String,
    /// The seed the run used.
    pub seed: u64,
    /// Every point of the sweep, in order.
    pub points: Vec<PointResult>,
}

/// One point's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointResult {
    /// `qps_4_concurrency_16`.
    pub name: String,
    #[serde(flatten)]
    pub point: SweepPoint,
    /// Its schedule lag p99 exceeded the bound: the numbers measure the client.
    pub saturated: bool,
    /// `None` when the run ended before the point.
    pub metrics: Option<PointMetrics>,
    /// What the service used while the point ran (from `samples.jsonl`).
    #[serde(default)]
    pub resources: Resources,
}

/// The service's resource use during a point: the largest of the samples taken in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Resident memory of every service process together, MiB.
    pub rss_max_mib: Option<f64>,
    /// GPU memory held by service processes together (where NVML loads), MiB.
    pub gpu_max_mib: Option<f64>,
}

impl Resources {
    /// The largest sums over the samples taken from `start_ms` to `end_ms`.
    fn during(samples: &[Sample], start_ms: f64, end_ms: f64) -> Self {
        let within = |t: f64| (start_ms..=end_ms).contains(&t);
        let mib = |b: u64| (b as f64 / 1048576.0 * 10.0).round() / 10.0;
        let mut r = Resources::default();
        // Several services sample apart: sum each instant's trees by service, largest first.
        let mut rss: std::collections::BTreeMap<&str, u64> = Default::default();
        for s in samples {
            match s {
                Sample::Procs {
                    t_ms,
                    service,
                    procs,
                } if within(*t_ms) => {
                    let sum: u64 = procs.iter().map(|p| p.rss_bytes).sum();
                    let e = rss.entry(service.as_str()).or_default();
                    *e = (*e).max(sum);
                }
                Sample::Gpu { t_ms, procs, .. } if within(*t_ms) => {
                    let sum = mib(procs.iter().map(|p| p.bytes).sum());
                    r.gpu_max_mib = Some(r.gpu_max_mib.map_or(sum, |m: f64| m.max(sum)));
                }
                _ => {}
            }
        }
        if !rss.is_empty() {
            r.rss_max_mib = Some(mib(rss.values().sum()));
        }
        r
    }
}

impl PerfResults {
    /// Judge the points of `spec` in the run directory `dir`, one at a time.
    pub fn read(
        dir: &Path,
        (test, seed): (&str, u64),
        spec: &PerfSpec,
        samples: &[Sample],
    ) -> Result<Self, JudgeError> {
        let mut points = Vec::new();
        for p in &spec.points {
            let name = p.name();
            let path = dir.join(files::POINTS).join(&name).join(files::REQUESTS);
            let (metrics, resources) = if path.exists() {
                let (reqs, _) = read_jsonl::<RequestRecord>(&path)
                    .map_err(|source| JudgeError::Read { path, source })?;
                let start = reqs
                    .iter()
                    .map(|r| r.intended_ms)
                    .fold(f64::INFINITY, f64::min);
                let end = reqs
                    .iter()
                    .map(|r| r.done_ms)
                    .fold(f64::NEG_INFINITY, f64::max);
                (
                    Some(PointMetrics::of(&reqs, &spec.goodput)),
                    Resources::during(samples, start, end),
                )
            } else {
                (None, Resources::default())
            };
            let lag_p99 = metrics.as_ref().and_then(|m| m.get("lag_ms.p99"));
            points.push(PointResult {
                name,
                point: *p,
                saturated: lag_p99.is_some_and(|l| l > spec.lag_p99_max.as_ms()),
                metrics,
                resources,
            });
        }
        Ok(PerfResults {
            test: test.to_string(),
            seed,
            points,
        })
    }

    /// Read `perf.json`, or the one in a run directory.
    pub fn load(path: &Path) -> Result<Self, JudgeError> {
        let file: PathBuf = if path.is_dir() {
            path.join(files::PERF)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| JudgeError::Read {
            path: file.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| JudgeError::Parse { path: file, source })
    }

    fn judged(&self) -> impl Iterator<Item = (&PointResult, &PointMetrics)> {
        self.points
            .iter()
            .filter(|p| !p.saturated)
            .filter_map(|p| Some((p, p.metrics.as_ref()?)))
    }
}

/// One metric of one point, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub point: String,
    pub metric: String,
    pub old: f64,
    pub new: f64,
    /// (new − old) / old, in percent; infinite from 0.
    pub change_pct: f64,
    /// Worse by more than the allowed percentage (latency up, throughput down).
    pub regressed: bool,
}

impl Change {
    /// `ttft_ms.p99 at qps_4: 20.1 → 35.2 (+75.1 %)`.
    pub fn describe(&self) -> String {
        format!(
            "{} at {}: {} → {} ({})",
            self.metric,
            self.point,
            num(self.old),
            num(self.new),
            pct(self.change_pct)
        )
    }
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn pct(p: f64) -> String {
    if p.is_infinite() {
        "new".into()
    } else {
        format!("{p:+.1} %")
    }
}

/// Every [`COMPARED`] metric of every point the two results share, `regressed` where it got
/// worse by more than `regress_pct`; saturated points are left out.
pub fn compare(old: &PerfResults, new: &PerfResults, regress_pct: f64) -> Vec<Change> {
    let mut out = Vec::new();
    for (p, m) in new.judged() {
        let Some((_, before)) = old.judged().find(|(o, _)| o.name == p.name) else {
            continue;
        };
        for metric in COMPARED {
            let (Some(a), Some(b)) = (before.get(metric), m.get(metric)) else {
                continue;
            };
            let change_pct = if a == b {
                0.0
            } else if a == 0.0 {
                f64::INFINITY.copysign(b)
            } else {
                (b - a) / a.abs() * 100.0
            };
            let worse = if higher_is_better(metric) {
                -change_pct
            } else {
                change_pct
            };
            out.push(Change {
                point: p.name.clone(),
                metric: metric.to_string(),
                old: a,
                new: b,
                change_pct,
                regressed: worse > regress_pct,
            });
        }
    }
    out
}

/// `client.saturated`: every point's schedule lag p99 within its bound; a point past it
/// measured the client, and is not judged by the other perf checks.
pub fn saturation(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    let (Some((spec, results)), check, id) = (&r.perf, "max_schedule_lag_p99", "client.saturated")
    else {
        return Ok(None);
    };
    let bound = spec.lag_p99_max;
    let saturated: Vec<String> = results
        .points
        .iter()
        .filter(|p| p.saturated)
        .map(|p| {
            let lag = p.metrics.as_ref().and_then(|m| m.get("lag_ms.p99"));
            format!("{}: schedule lag p99 {:.1} ms", p.name, lag.unwrap_or(0.0))
        })
        .collect();
    if saturated.is_empty() {
        return Ok(Some(Verdict::new(
            check,
            id,
            true,
            format!("the load generator kept its schedule at every point (lag p99 within {bound})"),
            json!({"bound": bound.to_string()}),
        )));
    }
    Ok(Some(
        Verdict::not_judged(
            check,
            id,
            &format!(
                "{} point(s) measured the client, not the service (schedule lag p99 over {bound}); they are left out of the other perf checks",
                saturated.len()
            ),
        )
        .with_lines(saturated),
    ))
}

/// `perf.failures`: at most `max_failed_pct` of each point's requests failed.
pub fn failures(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    let Some((spec, results)) = &r.perf else {
        return Ok(None);
    };
    let (check, id) = ("max_failed_pct", "perf.failures");
    let mut bad = Vec::new();
    let mut judged = 0;
    for (p, m) in results.judged() {
        judged += 1;
        if m.failed as f64 > spec.max_failed * m.requests as f64 {
            let classes: Vec<String> = m
                .failures
                .iter()
                .map(|(o, n)| format!("{n} {}", o.word()))
                .collect();
            bad.push(format!(
                "{}: {} of {} request(s) failed ({})",
                p.name,
                m.failed,
                m.requests,
                classes.join(", ")
            ));
        }
    }
    if judged == 0 {
        return Ok(Some(Verdict::not_judged(check, id, &no_point(results))));
    }
    let allowed = spec.max_failed * 100.0;
    Ok(Some(
        Verdict::new(
            check,
            id,
            bad.is_empty(),
            if bad.is_empty() {
                format!("requests failed within {allowed} % at each of {judged} point(s)")
            } else {
                format!(
                    "{} point(s) had more than {allowed} % failed requests",
                    bad.len()
                )
            },
            json!({"points": judged, "over": bad.len()}),
        )
        .with_lines(bad),
    ))
}

/// `perf.regression`: each point within its baseline's bounds, and no compared metric
/// worse than the previous result by more than `regress_pct`.
pub fn regression(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    let Some((spec, results)) = &r.perf else {
        return Ok(None);
    };
    let Some(baseline) = &spec.baseline else {
        return Ok(None);
    };
    let (check, id) = ("baseline", "perf.regression");
    let mut lines = Vec::new();
    let mut checked = 0;
    for (p, m) in results.judged() {
        for b in baseline
            .bounds
            .iter()
            .filter(|b| b.point == "*" || b.point == p.name)
        {
            checked += 1;
            let Some(v) = m.get(&b.metric) else {
                lines.push(format!(
                    "{} at {}: no value (required {})",
                    b.metric,
                    p.name,
                    bounds(b.min, b.max)
                ));
                continue;
            };
            if b.min.is_some_and(|min| v < min) || b.max.is_some_and(|max| v > max) {
                lines.push(format!(
                    "{} at {}: {} (required {})",
                    b.metric,
                    p.name,
                    num(v),
                    bounds(b.min, b.max)
                ));
            }
        }
    }
    let mut compared = 0;
    if let Some(prev) = &baseline.previous {
        let old = PerfResults::load(prev)?;
        for c in compare(&old, results, baseline.regress_pct) {
            compared += 1;
            if c.regressed {
                lines.push(format!(
                    "{} (more than {} % worse than {})",
                    c.describe(),
                    baseline.regress_pct,
                    prev.display()
                ));
            }
        }
    }
    if checked + compared == 0 {
        let why = match results.judged().count() {
            0 => no_point(results),
            _ => "no point of the run has a bound or a previous result to compare with".into(),
        };
        return Ok(Some(Verdict::not_judged(check, id, &why)));
    }
    Ok(Some(
        Verdict::new(
            check,
            id,
            lines.is_empty(),
            if lines.is_empty() {
                format!(
                    "every point within its baseline ({checked} bound(s), {compared} comparison(s))"
                )
            } else {
                format!(
                    "{} metric(s) regressed against {}",
                    lines.len(),
                    baseline.file.display()
                )
            },
            json!({"bounds": checked, "compared": compared, "regressed": lines.len()}),
        )
        .with_lines(lines),
    ))
}

/// Why no point can be judged: none was measured, or each measured the client.
fn no_point(results: &PerfResults) -> String {
    if results.points.iter().any(|p| p.metrics.is_some()) {
        "every measured point saturated the client (client.saturated)".into()
    } else {
        "no point was measured".into()
    }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{} to {}", num(a), num(b)),
        (Some(a), None) => format!("at least {}", num(a)),
        (None, Some(b)) => format!("at most {}", num(b)),
        (None, None) => "anything".into(),
    }
}
