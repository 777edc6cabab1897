//! Robust trends of a series over time (memory, descriptors, threads of a soak): the
//! Theil–Sen slope with a bootstrap confidence interval ([docs/metrics.md](../../docs/metrics.md)).
//!
//! Cost is bounded whatever the soak's length: the series is first reduced to at most
//! [`MAX_POINTS`] bucket medians (O(n), which also damps sample-to-sample noise and its
//! correlation), then the slope of those points and of [`RESAMPLES`] bootstrap resamples of
//! them is taken, O(`RESAMPLES` × `MAX_POINTS`²) — constant, a few milliseconds.

use rand::Rng;

/// Most points a trend is estimated from (bucket medians of the series).
pub const MAX_POINTS: usize = 64;
/// Bootstrap resamples behind a confidence interval.
pub const RESAMPLES: usize = 200;
/// Fewest points a trend is estimated from.
pub const MIN_POINTS: usize = 8;

/// A fitted trend: slope per unit of time and its interval at the confidence asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Theil–Sen slope: the median of the slopes of every pair of points.
    pub slope: f64,
    /// Value of the fitted line at time zero (the median of `y − slope·t`).
    pub intercept: f64,
    /// Lower bound: the `1 − confidence` quantile of the bootstrap slopes.
    pub lower: f64,
    /// Upper bound: the `confidence` quantile of the bootstrap slopes.
    pub upper: f64,
    /// Points the trend was estimated from (after reduction).
    pub points: usize,
}

/// Theil–Sen estimate of `(slope, intercept)` of `points` (`(t, y)`); pairs at the same `t`
/// are skipped. `None` with fewer than two distinct times.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    pair_slopes(points, &mut slopes);
    let slope = median(&mut slopes)?;
    let mut residuals: Vec<f64> = points.iter().map(|(t, y)| y - slope * t).collect();
    Some((slope, median(&mut residuals)?))
}

/// The trend of `points` (any order, any length) with a one-sided interval at `confidence`
/// on each side, its resamples drawn from `rng`; `None` with fewer than [`MIN_POINTS`]
/// distinct times.
pub fn trend(points: &[(f64, f64)], confidence: f64, rng: &mut impl Rng) -> Option<Trend> {
    let reduced = reduce(points, MAX_POINTS);
    if reduced.len() < MIN_POINTS {
        return None;
    }
    let (slope, intercept) = theil_sen(&reduced)?;
    let n = reduced.len();
    let mut boots = Vec::with_capacity(RESAMPLES);
    let mut sample = Vec::with_capacity(n);
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for _ in 0..RESAMPLES {
        sample.clear();
        sample.extend((0..n).map(|_| reduced[rng.random_range(0..n)]));
        slopes.clear();
        pair_slopes(&sample, &mut slopes);
        if let Some(s) = median(&mut slopes) {
            boots.push(s);
        }
    }
    boots.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        let i = ((q * boots.len() as f64).floor() as usize).min(boots.len().saturating_sub(1));
        boots.get(i).copied().unwrap_or(slope)
    };
    Some(Trend {
        slope,
        intercept,
        lower: at(1.0 - confidence).min(slope),
        upper: at(confidence).max(slope),
        points: n,
    })
}

/// `points` reduced to at most `max`: split their time span into `max` equal buckets and
/// keep the median time and median value of each non-empty one. Fewer points come back
/// sorted by time, as they are.
pub fn reduce(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, y)| t.is_finite() && y.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    if sorted.len() <= max || max == 0 {
        return sorted;
    }
    let (t0, t1) = (sorted[0].0, sorted[sorted.len() - 1].0);
    let width = (t1 - t0) / max as f64;
    let mut out = Vec::with_capacity(max);
    let mut start = 0;
    for b in 1..=max {
        let edge = if b == max {
            f64::INFINITY
        } else {
            t0 + width * b as f64
        };
        let end = start + sorted[start..].partition_point(|(t, _)| *t < edge);
        if end > start {
            let mut ts: Vec<f64> = sorted[start..end].iter().map(|p| p.0).collect();
            let mut ys: Vec<f64> = sorted[start..end].iter().map(|p| p.1).collect();
            if let (Some(t), Some(y)) = (median(&mut ts), median(&mut ys)) {
                out.push((t, y));
            }
        }
        start = end;
    }
    out
}

/// The slope of every pair of `points` with distinct times, appended to `out`.
fn pair_slopes(points: &[(f64, f64)], out: &mut Vec<f64>) {
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.0 - a.0;
            if dt != 0.0 {
                out.push((b.1 - a.1) / dt);
            }
        }
    }
}

/// The median (mean of the middle two for an even count), reordering `v`; `None` if empty.
fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..n / 2].iter().copied().reduce(f64::max).unwrap_or(hi);
    Some((lo + hi) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    const MIB: f64 = (1u64 << 20) as f64;
    /// Slopes here are per second; a day has this many.
    const DAY: f64 = 86_400.0;

    /// A 12 h soak sampled every 10 s: `level + f(t)` plus Gaussian noise of `sd`.
    fn series(seed: u64, sd: f64, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        let mut rng = crate::seed::stream(seed, "trend-test");
        let noise = Normal::new(0.0, sd).expect("valid sd");
        (0..4320)
            .map(|i| {
                let t = i as f64 * 10.0;
                (t, 2048.0 * MIB + f(t) + noise.sample(&mut rng))
            })
            .collect()
    }

    /// The lower bound per 24 h of a series, as the soak's check takes it.
    fn lower_per_day(points: &[(f64, f64)], seed: u64) -> f64 {
        let mut rng = crate::seed::stream(seed, "bootstrap");
        trend(points, 0.99, &mut rng).expect("enough points").lower * DAY
    }

    /// Whether the soak's check would fail it: the lower bound per 24 h above `allowed`.
    fn leaks(points: &[(f64, f64)], allowed: f64, seed: u64) -> bool {
        lower_per_day(points, seed) > allowed
    }

    #[test]
    fn theil_sen_ignores_outliers() {
        let mut pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        pts[5].1 = 1e9;
        pts[12].1 = -1e9;
        let (s, c) = theil_sen(&pts).expect("fits");
        assert!((s - 3.0).abs() < 1e-9 && (c - 1.0).abs() < 1e-9, "{s} {c}");
        assert!(theil_sen(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn reduce_keeps_bucket_medians_in_order() {
        let pts: Vec<(f64, f64)> = (0..1000).rev().map(|i| (i as f64, i as f64)).collect();
        let r = reduce(&pts, 10);
        assert_eq!(r.len(), 10);
        assert!(r.windows(2).all(|w| w[0].0 < w[1].0));
        assert!((r[0].1 - 49.5).abs() < 1.0, "{r:?}");
    }

    #[test]
    fn flat_with_noise_passes() {
        let pts = series(1, 30.0 * MIB, |_| 0.0);
        assert!(!leaks(&pts, 256.0 * MIB, 1));
    }

    #[test]
    fn a_one_time_step_is_not_a_leak() {
        // Cache warm-up after the warm-up: +512 MiB once, a fifth into the soak.
        let pts = series(2, 4.0 * MIB, |t| if t > 8640.0 { 512.0 * MIB } else { 0.0 });
        assert!(!leaks(&pts, 256.0 * MIB, 2));
    }

    #[test]
    fn a_linear_leak_fails() {
        // 1 MiB per request at 1 request per 10 s: 8.4 GiB a day.
        let pts = series(3, 4.0 * MIB, |t| t / 10.0 * MIB);
        assert!(leaks(&pts, 256.0 * MIB, 3));
    }

    #[test]
    fn a_leak_hidden_in_noise_at_12_h_fails() {
        // 1 GiB a day is 0.12 MiB per 10 s sample, under noise of 64 MiB per sample.
        let pts = series(4, 64.0 * MIB, |t| t * 1024.0 * MIB / DAY);
        assert!(leaks(&pts, 256.0 * MIB, 4));
    }

    #[test]
    fn false_alarm_rate_over_seeded_noise_is_at_most_one_percent() {
        // Flat 12 h series under heavy noise (64 MiB per sample), judged against an allowance
        // of 32 MiB a day, half the noise of one sample. With no allowance at all the rate is
        // that of the bootstrap's 99 % lower bound alone, printed for docs/metrics.md.
        let runs: usize = 200;
        let lows: Vec<f64> = (0..runs as u64)
            .map(|s| lower_per_day(&series(1000 + s, 64.0 * MIB, |_| 0.0), s))
            .collect();
        let alarms = lows.iter().filter(|&&l| l > 32.0 * MIB).count();
        let bare = lows.iter().filter(|&&l| l > 0.0).count();
        eprintln!("false alarms: {alarms} of {runs} (with no allowance: {bare})");
        assert!(alarms * 100 <= runs, "{alarms} false alarms in {runs}");
    }
}
