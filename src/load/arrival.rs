//! Open-loop arrival schedules: when each request is meant to leave, fixed by the seed
//! before the first one is sent, so a slow service never slows the arrivals down.

use crate::seed::Rng;
use crate::suite::Arrival;

/// Intended send times in ms from load start, for `rate` per second over `duration_ms`.
pub fn schedule(arrival: Arrival, rate: f64, duration_ms: f64, rng: &mut Rng) -> Vec<f64> {
    let gap = 1e3 / rate;
    let mut out = Vec::with_capacity((duration_ms / gap) as usize + 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_determinism() {
        let c = schedule(Arrival::Constant, 20.0, 1000.0, &mut Rng::new(1));
        assert_eq!(c.len(), 20);
        assert!((c[1] - c[0] - 50.0).abs() < 1e-9);
        let a = schedule(Arrival::Poisson, 100.0, 100_000.0, &mut Rng::new(3));
        let b = schedule(Arrival::Poisson, 100.0, 100_000.0, &mut Rng::new(3));
        assert_eq!(a, b);
        assert!((a.len() as f64 - 10_000.0).abs() < 300.0, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }
}
