//! The metrics of one sweep point of a perf test, from its request records alone, with the
//! definitions of vLLM's serving benchmark (`vllm bench serve`) and its result-file names.
//!
//! Over the successful requests: TTFT, TPOT (first token excluded), ITL (every gap between
//! chunks after the first token, pooled over requests), E2E latency; each as mean, median,
//! std (population), p90, p95, p99, min, max and a histogram. Throughputs divide by the
//! point's duration: from its first intended arrival to its last answer. Goodput counts the
//! requests that meet every objective set. Beside them, the client's own schedule lag
//! (send − intended start, or − the moment a concurrency slot came free) and the latency
//! from the intended start, so a slow client is never taken for a slow server.

use super::{e2e_ms, percentile, tpot_ms, ttft_ms};
use crate::record::{Outcome, RequestRecord};
use crate::suite::Goodput;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Upper bounds of the histogram buckets, ms; a last bucket takes everything above.
pub const BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 3e4, 6e4,
];

/// Summary statistics of one latency over a point's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Values summarised.
    pub count: usize,
    pub mean: f64,
    /// Nearest rank, as every shakedown percentile.
    pub median: f64,
    /// Population standard deviation (numpy's default, as vLLM reports it).
    pub std: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    /// Values at or below each of [`BUCKETS_MS`], then above the last.
    pub histogram: Vec<u64>,
}

impl Stats {
    /// The statistics of `values`; `None` for none.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let n = values.len();
        let p = |q| percentile(values, q);
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let mut histogram = vec![0; BUCKETS_MS.len() + 1];
        for v in values {
            histogram[BUCKETS_MS.partition_point(|b| b < v)] += 1;
        }
        Some(Stats {
            count: n,
            mean: round(mean),
            median: p(0.5)?,
            std: round(var.sqrt()),
            p90: p(0.9)?,
            p95: p(0.95)?,
            p99: p(0.99)?,
            min: p(0.0)?,
            max: p(1.0)?,
            histogram,
        })
    }

    /// The statistic called `name` (`mean`, `p99`, …).
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "mean" => self.mean,
            "median" => self.median,
            "std" => self.std,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "min" => self.min,
            "max" => self.max,
            _ => return None,
        })
    }
}

fn round(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The metrics of one sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointMetrics {
    /// Requests measured (warm-ups are not records of the point).
    pub requests: usize,
    /// Successful requests.
    pub completed: usize,
    /// Requests that did not succeed.
    pub failed: usize,
    /// Failed requests by outcome.
    pub failures: BTreeMap<Outcome, usize>,
    /// From the first intended arrival to the last answer, seconds.
    pub duration: f64,
    /// Prompt tokens of the successful requests (`usage`).
    pub total_input_tokens: u64,
    /// Output tokens of the successful requests (`usage`, else counted chunks).
    pub total_output_tokens: u64,
    /// Successful requests per second.
    pub request_throughput: f64,
    /// Output tokens per second.
    pub output_throughput: f64,
    /// Prompt and output tokens per second.
    pub total_token_throughput: f64,
    /// Requests meeting every goodput objective, per second; `None` without objectives.
    pub request_goodput: Option<f64>,
    /// Most successful requests open at once.
    pub max_concurrent_requests: usize,
    pub ttft_ms: Option<Stats>,
    pub tpot_ms: Option<Stats>,
    pub itl_ms: Option<Stats>,
    pub e2el_ms: Option<Stats>,
    /// End-to-end latency from the intended start (open-loop schedule) rather than the send.
    pub e2el_from_intended_ms: Option<Stats>,
    /// The generator's schedule lag: send − intended start (or − slot free).
    pub lag_ms: Option<Stats>,
}

impl PointMetrics {
    /// The metrics of a point's records with the goodput objectives `goodput`.
    pub fn of(reqs: &[RequestRecord], goodput: &Goodput) -> Self {
        let ok: Vec<&RequestRecord> = reqs.iter().filter(|r| r.outcome.is_ok()).collect();
        let mut failures = BTreeMap::new();
        for r in reqs.iter().filter(|r| !r.outcome.is_ok()) {
            *failures.entry(r.outcome).or_default() += 1;
        }
        let start = reqs.iter().map(|r| r.intended_ms).reduce(f64::min);
        let end = reqs.iter().map(|r| r.done_ms).reduce(f64::max);
        let duration_s = match (start, end) {
            (Some(s), Some(e)) if e > s => (e - s) / 1e3,
            _ => 0.0,
        };
        let per_s = |n: f64| {
            if duration_s > 0.0 {
                round(n / duration_s)
            } else {
                0.0
            }
        };
        let input: u64 = ok
            .iter()
            .map(|r| u64::from(r.prompt_tokens.unwrap_or(0)))
            .sum();
        let output: u64 = ok
            .iter()
            .map(|r| u64::from(r.tokens.unwrap_or(r.chunks)))
            .sum();
        let collect = |f: fn(&RequestRecord) -> Option<f64>| -> Option<Stats> {
            Stats::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        let itls: Vec<f64> = ok.iter().flat_map(|r| r.itl_ms.iter().copied()).collect();
        let lags: Vec<f64> = reqs.iter().filter_map(lag_ms).collect();
        let good = ok.iter().filter(|r| meets(r, goodput)).count();
        PointMetrics {
            requests: reqs.len(),
            completed: ok.len(),
            failed: reqs.len() - ok.len(),
            failures,
            duration: round(duration_s),
            total_input_tokens: input,
            total_output_tokens: output,
            request_throughput: per_s(ok.len() as f64),
            output_throughput: per_s(output as f64),
            total_token_throughput: per_s((input + output) as f64),
            request_goodput: goodput.is_set().then(|| per_s(good as f64)),
            max_concurrent_requests: peak_concurrency(ok.iter().copied()),
            ttft_ms: collect(ttft_ms),
            tpot_ms: collect(tpot_ms),
            itl_ms: Stats::of(&itls),
            e2el_ms: collect(e2e_ms),
            e2el_from_intended_ms: collect(|r| Some(r.done_ms - r.intended_ms)),
            lag_ms: Stats::of(&lags),
        }
    }

    /// The metric called `name`, as a baseline names it (`ttft_ms.p99`, `request_throughput`).
    pub fn get(&self, name: &str) -> Option<f64> {
        if let Some((latency, stat)) = name.split_once('.') {
            let s = match latency {
                "ttft_ms" => &self.ttft_ms,
                "tpot_ms" => &self.tpot_ms,
                "itl_ms" => &self.itl_ms,
                "e2el_ms" => &self.e2el_ms,
                "lag_ms" => &self.lag_ms,
                _ => return None,
            };
            return s.as_ref()?.get(stat);
        }
        Some(match name {
            "request_throughput" => self.request_throughput,
            "output_throughput" => self.output_throughput,
            "total_token_throughput" => self.total_token_throughput,
            "request_goodput" => self.request_goodput?,
            "completed" => self.completed as f64,
            "failed" => self.failed as f64,
            _ => return None,
        })
    }

    /// The fields of `vllm bench serve --save-result` this point has (`mean_ttft_ms`,
    /// `p99_itl_ms`, `request_throughput`, …), so dashboards that read those read this.
    pub fn vllm_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("duration".into(), json!(self.duration));
        m.insert("completed".into(), json!(self.completed));
        m.insert("failed".into(), json!(self.failed));
        m.insert("total_input_tokens".into(), json!(self.total_input_tokens));
        m.insert(
            "total_output_tokens".into(),
            json!(self.total_output_tokens),
        );
        m.insert("request_throughput".into(), json!(self.request_throughput));
        m.insert("request_goodput".into(), json!(self.request_goodput));
        m.insert("output_throughput".into(), json!(self.output_throughput));
        m.insert(
            "total_token_throughput".into(),
            json!(self.total_token_throughput),
        );
        m.insert(
            "max_concurrent_requests".into(),
            json!(self.max_concurrent_requests),
        );
        for (name, stats) in [
            ("ttft", &self.ttft_ms),
            ("tpot", &self.tpot_ms),
            ("itl", &self.itl_ms),
            ("e2el", &self.e2el_ms),
        ] {
            // vLLM reports 0 for a metric with no values (`np.mean(x or 0)`).
            let s = |stat: &str| stats.as_ref().and_then(|s| s.get(stat)).unwrap_or(0.0);
            for stat in ["mean", "median", "std", "p90", "p95", "p99"] {
                m.insert(format!("{stat}_{name}_ms"), json!(s(stat)));
            }
        }
        m
    }
}

/// Schedule lag of a request that went out: from when it could have gone (its intended
/// start, or the moment a concurrency slot came free) to its send.
pub fn lag_ms(r: &RequestRecord) -> Option<f64> {
    let ready = r.slot_ms.map_or(r.intended_ms, |s| s.max(r.intended_ms));
    Some((r.sent_ms? - ready).max(0.0))
}

/// Whether a successful request meets every goodput objective (vLLM's rule: a request of
/// one token has TPOT 0; a stream's TTFT must exist to meet a TTFT objective).
fn meets(r: &RequestRecord, g: &Goodput) -> bool {
    let within = |v: Option<f64>, slo: Option<crate::units::Dur>| match slo {
        None => true,
        Some(d) => v.is_some_and(|v| v <= d.as_ms()),
    };
    within(ttft_ms(r), g.ttft)
        && within(Some(tpot_ms(r).unwrap_or(0.0)), g.tpot)
        && within(e2e_ms(r), g.e2el)
}

/// Most requests open at once (vLLM counts the successful ones; half-open intervals: an
/// end before a start at the same instant).
fn peak_concurrency<'a>(reqs: impl Iterator<Item = &'a RequestRecord>) -> usize {
    let mut edges: Vec<(f64, i32)> = reqs
        .filter_map(|r| Some([(r.sent_ms?, 1), (r.done_ms, -1)]))
        .flatten()
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Dur;

    fn req(intended: f64, sent: f64, first: f64, done: f64, tokens: u32) -> RequestRecord {
        RequestRecord {
            sent_ms: Some(sent),
            first_token_ms: Some(first),
            done_ms: done,
            outcome: Outcome::Ok,
            tokens: Some(tokens),
            prompt_tokens: Some(10),
            ..RequestRecord::new(0, intended)
        }
    }

    #[test]
    fn a_point_measured_from_its_records() {
        let mut a = req(0.0, 1.0, 21.0, 61.0, 5); // ttft 20, tpot 10, e2e 60
        a.itl_ms = vec![10.0, 10.0, 10.0, 10.0];
        let mut b = req(500.0, 502.0, 542.0, 1002.0, 3); // ttft 40, tpot 230, e2e 500
        b.itl_ms = vec![200.0, 260.0];
        let failed = RequestRecord {
            outcome: Outcome::Http5xx,
            sent_ms: Some(600.0),
            done_ms: 601.0,
            ..RequestRecord::new(2, 600.0)
        };
        let g = Goodput {
            ttft: Some(Dur(std::time::Duration::from_millis(30))),
            ..Goodput::default()
        };
        let m = PointMetrics::of(&[a, b, failed], &g);
        assert_eq!((m.requests, m.completed, m.failed), (3, 2, 1));
        assert_eq!(m.failures.get(&Outcome::Http5xx), Some(&1));
        assert_eq!(m.duration, 1.002);
        assert_eq!((m.total_input_tokens, m.total_output_tokens), (20, 8));
        assert_eq!(m.request_throughput, round(2.0 / 1.002));
        assert_eq!(m.request_goodput, Some(round(1.0 / 1.002)));
        let ttft = m.ttft_ms.as_ref().map(|s| (s.mean, s.median, s.max));
        assert_eq!(ttft, Some((30.0, 20.0, 40.0)));
        assert_eq!(m.get("tpot_ms.max"), Some(230.0));
        let itl = m.itl_ms.as_ref().map(|s| (s.count, s.median, s.p99));
        assert_eq!(itl, Some((6, 10.0, 260.0)), "ITL pools every gap");
        assert_eq!(m.get("lag_ms.max"), Some(2.0));
        assert_eq!(m.get("e2el_ms.std"), Some(220.0));
        assert_eq!(m.max_concurrent_requests, 1);
        let v = m.vllm_fields();
        assert_eq!(v["median_ttft_ms"], json!(20.0));
        assert_eq!(v["p99_itl_ms"], json!(260.0));
        assert_eq!(v["completed"], json!(2));
        // Histogram: 20 and 40 ms fall in the ≤20 and ≤50 buckets.
        let h = m.ttft_ms.map(|s| s.histogram).unwrap_or_default();
        assert_eq!((h[4], h[5], h.iter().sum::<u64>()), (1, 1, 2));
    }

    #[test]
    fn lag_counts_from_the_slot_when_one_was_waited_for() {
        let mut r = req(0.0, 105.0, 110.0, 120.0, 2);
        assert_eq!(lag_ms(&r), Some(105.0));
        r.slot_ms = Some(100.0);
        assert_eq!(lag_ms(&r), Some(5.0));
        let concurrent = [
            req(0.0, 0.0, 1.0, 10.0, 1),
            req(0.0, 5.0, 6.0, 20.0, 1),
            req(0.0, 10.0, 11.0, 30.0, 1),
        ];
        assert_eq!(
            peak_concurrency(concurrent.iter()),
            2,
            "an end before a start at one instant"
        );
    }
}
