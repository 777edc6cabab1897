//! The one set of request-metric definitions, as vLLM's serving benchmark
//! (`benchmarks/serve.py`) defines them, so a threshold, a report and a perf suite mean the
//! same thing by the same word. `docs/metrics.md` states them once, for people.
//!
//! Per request (times from a [`RequestRecord`], ms since the run's `t0`):
//! - **E2E latency** = end − send.
//! - **TTFT** = first token − send (streams only).
//! - **TPOT** = (E2E − TTFT) / (output tokens − 1), for streams of more than one token.
//!
//! Over a run: **request throughput** = completed requests / duration, **output token
//! throughput** = their output tokens / duration. Quantiles are nearest-rank.

pub mod point;
pub mod trend;

use crate::record::RequestRecord;

/// The `q` quantile (nearest rank: the smallest value with at least `q` of the values at or
/// below it), rounded to µs; `None` for no data.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some((v[rank - 1] * 1e3).round() / 1e3)
}

/// End-to-end latency: from send to end (`None` if never sent).
pub fn e2e_ms(r: &RequestRecord) -> Option<f64> {
    Some(r.done_ms - r.sent_ms?)
}

/// Time to first token: from send to the first chunk with content (`None` for a request
/// that never streamed a token).
pub fn ttft_ms(r: &RequestRecord) -> Option<f64> {
    Some(r.first_token_ms? - r.sent_ms?)
}

/// Time per output token after the first: (E2E − TTFT) / (tokens − 1); `None` without a
/// first token or with fewer than two tokens.
pub fn tpot_ms(r: &RequestRecord) -> Option<f64> {
    let tokens = r.tokens.filter(|&t| t > 1)?;
    Some((e2e_ms(r)? - ttft_ms(r)?) / f64::from(tokens - 1))
}

/// Requests and output tokens per second over a span of time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Requests counted.
    pub requests: usize,
    /// Their output tokens (`usage`, or counted chunks).
    pub output_tokens: u64,
    /// The span they are counted over, ms.
    pub duration_ms: f64,
}

impl Throughput {
    /// `reqs` over `duration_ms`.
    pub fn of<'a>(reqs: impl Iterator<Item = &'a RequestRecord>, duration_ms: f64) -> Self {
        let mut requests = 0;
        let mut output_tokens = 0;
        for r in reqs {
            requests += 1;
            output_tokens += u64::from(r.tokens.unwrap_or(0));
        }
        Throughput {
            requests,
            output_tokens,
            duration_ms,
        }
    }

    /// Requests per second; `None` over an empty span.
    pub fn requests_per_s(&self) -> Option<f64> {
        (self.duration_ms > 0.0).then(|| self.requests as f64 * 1e3 / self.duration_ms)
    }

    /// Output tokens per second; `None` over an empty span.
    pub fn output_tokens_per_s(&self) -> Option<f64> {
        (self.duration_ms > 0.0).then(|| self.output_tokens as f64 * 1e3 / self.duration_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    fn req(sent: f64, first: Option<f64>, done: f64, tokens: Option<u32>) -> RequestRecord {
        RequestRecord {
            sent_ms: Some(sent),
            first_token_ms: first,
            done_ms: done,
            status: Some(200),
            outcome: Outcome::Ok,
            chunks: tokens.unwrap_or(0),
            tokens,
            ..RequestRecord::new(0, sent)
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.99), Some(4.0));
        // 100 values 1..=100: p99 is the 99th, p50 the 50th.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 0.50), Some(50.0));
    }

    #[test]
    fn per_request_definitions() {
        // Sent at 100, first token at 300, done at 1200, 10 tokens:
        // E2E 1100, TTFT 200, TPOT (1100 − 200) / 9 = 100.
        let r = req(100.0, Some(300.0), 1200.0, Some(10));
        assert_eq!(e2e_ms(&r), Some(1100.0));
        assert_eq!(ttft_ms(&r), Some(200.0));
        assert_eq!(tpot_ms(&r), Some(100.0));
        // One token: no TPOT; no first token: no TTFT and no TPOT.
        assert_eq!(tpot_ms(&req(0.0, Some(50.0), 60.0, Some(1))), None);
        let plain = req(0.0, None, 60.0, Some(8));
        assert_eq!((ttft_ms(&plain), tpot_ms(&plain)), (None, None));
        let never = RequestRecord {
            sent_ms: None,
            ..req(0.0, None, 60.0, None)
        };
        assert_eq!(e2e_ms(&never), None);
    }

    #[test]
    fn throughput_over_a_span() {
        let reqs = [
            req(0.0, Some(10.0), 500.0, Some(20)),
            req(100.0, Some(110.0), 900.0, Some(30)),
            req(200.0, Some(210.0), 1900.0, None),
        ];
        // 3 requests and 50 tokens over 2 s.
        let t = Throughput::of(reqs.iter(), 2000.0);
        assert_eq!(t.requests_per_s(), Some(1.5));
        assert_eq!(t.output_tokens_per_s(), Some(25.0));
        assert_eq!(Throughput::of(reqs.iter(), 0.0).requests_per_s(), None);
    }
}
