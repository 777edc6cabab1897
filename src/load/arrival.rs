//! Open-loop arrival schedules: when each request is meant to leave, fixed by the seed
//! before the first one is sent, so a slow service never slows the arrivals down.
//!
//! A schedule is generated while it is sent, never stored: the first request leaves at once
//! however long the load is, and the generator's memory does not grow with the load's length.

use crate::seed::{ChaCha8Rng, Rng};
use crate::suite::{Arrival, LoadSpec};
use rand_distr::{Distribution, Gamma};

/// A seeded arrival schedule: the instants, in ms from load start, at which requests are
/// meant to leave. Each pass over it ([`Schedule::iter`]) yields the same instants.
#[derive(Debug, Clone)]
pub struct Schedule {
    arrival: Arrival,
    /// Mean gap between arrivals, ms.
    gap: f64,
    duration_ms: f64,
    /// The generator as the schedule starts; every pass draws from a copy.
    rng: Rng,
    /// Constant: the exact count. Poisson: the expected count, `rate × duration`, rounded.
    planned: usize,
}

impl Schedule {
    /// `rate` per second over `duration_ms`, drawing Poisson gaps from `rng`.
    pub fn new(arrival: Arrival, rate: f64, duration_ms: f64, rng: Rng) -> Self {
        let gap = 1e3 / rate;
        let planned = match arrival {
            Arrival::Constant => constant_count(gap, duration_ms),
            // Counting a Poisson schedule exactly takes a pass over all of it, which is what
            // laziness avoids; the exact number is `scheduled` in `load.finished`.
            Arrival::Poisson => (duration_ms / gap).round().max(0.0) as usize,
        };
        Schedule {
            arrival,
            gap,
            duration_ms,
            rng,
            planned,
        }
    }

    /// A suite's load with `seed`: the schedule a run sends (the seed's `arrivals` stream).
    pub fn of(load: &LoadSpec, seed: u64) -> Self {
        Self::new(
            load.arrival,
            load.rate,
            load.duration.as_ms(),
            Rng::fork(seed, "arrivals"),
        )
    }

    /// No arrivals (a suite without load).
    pub fn none() -> Self {
        Self::new(Arrival::Constant, 1.0, 0.0, Rng::new(0))
    }

    /// The planned number of arrivals: exact for constant arrivals, the expected number
    /// (`rate × duration`, rounded) for Poisson arrivals.
    pub fn len(&self) -> usize {
        self.planned
    }

    /// Whether no arrival is planned.
    pub fn is_empty(&self) -> bool {
        self.planned == 0
    }

    /// The instants, in order, generated as they are taken.
    pub fn iter(&self) -> Arrivals {
        Arrivals {
            next: match self.arrival {
                Arrival::Constant => Next::Constant {
                    k: 0,
                    n: self.planned,
                    gap: self.gap,
                },
                Arrival::Poisson => {
                    let mut rng = self.rng.clone();
                    Next::Poisson {
                        t: rng.exp(self.gap),
                        rng,
                        gap: self.gap,
                        end: self.duration_ms,
                    }
                }
            },
        }
    }
}

impl IntoIterator for &Schedule {
    type Item = f64;
    type IntoIter = Arrivals;

    fn into_iter(self) -> Arrivals {
        self.iter()
    }
}

/// The least `n` with `n × gap >= duration_ms`: how many of `0, gap, 2 gap, …` fall before the end.
fn constant_count(gap: f64, duration_ms: f64) -> usize {
    if duration_ms.is_nan() || duration_ms <= 0.0 {
        return 0;
    }
    let mut n = (duration_ms / gap).ceil();
    // The division rounds; one step either way settles on the exact count.
    if n >= 1.0 && (n - 1.0) * gap >= duration_ms {
        n -= 1.0;
    }
    if n * gap < duration_ms {
        n += 1.0;
    }
    n as usize
}

/// A pass over a [`Schedule`].
#[derive(Debug, Clone)]
pub struct Arrivals {
    next: Next,
}

#[derive(Debug, Clone)]
enum Next {
    /// `k × gap` for `k` in `0..n` (a product, so no rounding error builds up over a long load).
    Constant { k: usize, n: usize, gap: f64 },
    /// A running sum of exponential gaps while it stays before `end`.
    Poisson {
        t: f64,
        rng: Rng,
        gap: f64,
        end: f64,
    },
}

impl Iterator for Arrivals {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        match &mut self.next {
            Next::Constant { k, n, gap } => {
                if k >= n {
                    return None;
                }
                let t = *k as f64 * *gap;
                *k += 1;
                Some(t)
            }
            Next::Poisson { t, rng, gap, end } => {
                if *t >= *end {
                    return None;
                }
                let now = *t;
                *t += rng.exp(*gap);
                Some(now)
            }
        }
    }
}

/// The arrivals of `n` requests at `qps` per second (`None`: all at once), as vLLM's
/// benchmark draws them: gamma gaps of shape `burstiness` (1 is Poisson, less is burstier),
/// summed, then scaled so the last arrival falls at exactly `n / qps` (the same
/// throughput for every seed). In ms from the start.
pub fn sweep(n: usize, qps: Option<f64>, burstiness: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let Some(qps) = qps else {
        return vec![0.0; n];
    };
    let gap_ms = 1e3 / qps;
    let gaps = Gamma::new(burstiness, gap_ms / burstiness).ok();
    let mut t = 0.0;
    let mut out: Vec<f64> = (0..n)
        .map(|_| {
            t += gaps.map_or(gap_ms, |g| g.sample(rng));
            t
        })
        .collect();
    if let Some(&last) = out.last()
        && last > 0.0
    {
        let scale = n as f64 * gap_ms / last;
        out.iter_mut().for_each(|x| *x *= scale);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::limits::{MAX_ARRIVALS, MAX_RATE};
    use std::time::{Duration, Instant};

    /// The eager schedule runs used before schedules became lazy, kept to prove seeds still
    /// mean what they meant.
    fn eager(arrival: Arrival, rate: f64, duration_ms: f64, rng: &mut Rng) -> Vec<f64> {
        let gap = 1e3 / rate;
        let mut out = Vec::new();
        let mut t = match arrival {
            Arrival::Constant => 0.0,
            Arrival::Poisson => rng.exp(gap),
        };
        while t < duration_ms {
            out.push(t);
            t += match arrival {
                Arrival::Constant => gap,
                Arrival::Poisson => rng.exp(gap),
            };
        }
        out
    }

    #[test]
    fn rates_and_determinism() {
        let c: Vec<f64> = Schedule::new(Arrival::Constant, 20.0, 1000.0, Rng::new(1))
            .iter()
            .collect();
        assert_eq!(c.len(), 20);
        assert!((c[1] - c[0] - 50.0).abs() < 1e-9);
        let s = Schedule::new(Arrival::Poisson, 100.0, 100_000.0, Rng::new(3));
        let a: Vec<f64> = s.iter().collect();
        let b: Vec<f64> = s.iter().collect();
        assert_eq!(a, b, "every pass yields the same instants");
        assert!((a.len() as f64 - 10_000.0).abs() < 300.0, "{}", a.len());
        assert_eq!(s.len(), 10_000, "the expected count");
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(Schedule::none().is_empty());
        assert_eq!(Schedule::none().iter().count(), 0);
    }

    #[test]
    fn lazy_schedules_equal_the_eager_ones_seeds_used_to_make() {
        for seed in [0, 1, 7, 42, u64::MAX] {
            for (rate, duration_ms) in [(5.0, 15_000.0), (20.0, 60_000.0), (333.0, 7_000.0)] {
                let rng = Rng::fork(seed, "arrivals");
                let old = eager(Arrival::Poisson, rate, duration_ms, &mut rng.clone());
                let new: Vec<f64> = Schedule::new(Arrival::Poisson, rate, duration_ms, rng)
                    .iter()
                    .collect();
                assert_eq!(new, old, "poisson: bit for bit, seed {seed}, rate {rate}");
            }
        }
        // Constant arrivals use no seed; the product k × gap equals the old running sum up to
        // float rounding, with the same count.
        for (rate, duration_ms) in [
            (20.0, 1_000.0),
            (3.0, 10_000.0),
            (7.0, 60_000.0),
            (1e3, 3e5),
        ] {
            let old = eager(Arrival::Constant, rate, duration_ms, &mut Rng::new(0));
            let s = Schedule::new(Arrival::Constant, rate, duration_ms, Rng::new(0));
            let new: Vec<f64> = s.iter().collect();
            assert_eq!((new.len(), s.len()), (old.len(), old.len()), "rate {rate}");
            assert!(
                new.iter().zip(&old).all(|(a, b)| (a - b).abs() < 1e-6),
                "rate {rate}"
            );
        }
    }

    #[test]
    fn sweep_arrivals_follow_the_rate_and_the_burstiness() {
        let draw =
            |b: f64, seed: u64| sweep(2000, Some(100.0), b, &mut crate::seed::stream(seed, "t"));
        let a = draw(1.0, 1);
        assert_eq!(a, draw(1.0, 1), "seeded");
        assert_eq!(a.len(), 2000);
        assert!((a[1999] - 20_000.0).abs() < 1e-6, "the last lands at n/qps");
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // The coefficient of variation of the gaps is 1/sqrt(burstiness).
        let cv = |v: &[f64]| {
            let gaps: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
            let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64;
            var.sqrt() / m
        };
        assert!((cv(&a) - 1.0).abs() < 0.1, "poisson {}", cv(&a));
        assert!(
            (cv(&draw(0.25, 2)) - 2.0).abs() < 0.25,
            "bursty {}",
            cv(&draw(0.25, 2))
        );
        assert!(cv(&draw(100.0, 3)) < 0.15, "nearly even");
        assert_eq!(
            sweep(3, None, 1.0, &mut crate::seed::stream(0, "t")),
            vec![0.0; 3]
        );
    }

    #[test]
    fn constant_count_is_exact_at_the_edges() {
        assert_eq!(constant_count(50.0, 1000.0), 20);
        assert_eq!(constant_count(50.0, 1000.1), 21);
        assert_eq!(constant_count(1e3 / 3.0, 1000.0), 3);
        assert_eq!(constant_count(1.0, 0.0), 0);
        for (gap, d) in [(0.1, 1.0), (1e3 / 7.0, 1e4), (0.01, 3.0)] {
            let n = constant_count(gap, d);
            assert!((n - 1) as f64 * gap < d && n as f64 * gap >= d, "{gap} {d}");
        }
    }

    #[test]
    fn the_largest_allowed_load_starts_at_once_in_constant_memory() {
        for arrival in [Arrival::Constant, Arrival::Poisson] {
            let duration_ms = MAX_ARRIVALS / MAX_RATE * 1e3;
            let begun = Instant::now();
            let s = Schedule::new(arrival, MAX_RATE, duration_ms, Rng::new(9));
            let mut it = s.iter();
            assert_eq!(it.next().map(|t| t < 1.0), Some(true));
            assert!(begun.elapsed() < Duration::from_millis(100), "{arrival:?}");
            assert_eq!(s.len(), MAX_ARRIVALS as usize);
            // Nothing in a schedule or a pass over it grows with the load.
            assert!(std::mem::size_of::<Schedule>() + std::mem::size_of::<Arrivals>() < 256);
        }
    }
}
