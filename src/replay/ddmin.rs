//! Delta debugging: Zeller and Hildebrandt's ddmin over a failing set of items, the halving
//! of a failing length, and the k-runs rule that keeps a flaky outcome from steering either.

/// The smallest subset of `items` (1-minimal: removing any one more item makes it pass) for
/// which `fails` holds, assuming it holds for `items` and not for the empty set; `fails` is
/// called on neither. Items keep their order.
pub fn ddmin<T: Clone>(items: &[T], fails: &mut dyn FnMut(&[T]) -> bool) -> Vec<T> {
    let mut c = items.to_vec();
    let mut n = 2;
    while c.len() >= 2 {
        n = n.min(c.len());
        let chunks = split(&c, n);
        let mut reduced = false;
        for chunk in &chunks {
            if fails(chunk) {
                (c, n, reduced) = (chunk.clone(), 2, true);
                break;
            }
        }
        // With two chunks, each one's complement is the other, already tried.
        if !reduced && n > 2 {
            for i in 0..chunks.len() {
                let rest: Vec<T> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, ch)| ch.iter().cloned())
                    .collect();
                if fails(&rest) {
                    (c, n, reduced) = (rest, (n - 1).max(2), true);
                    break;
                }
            }
        }
        if !reduced {
            if n >= c.len() {
                break;
            }
            n = (2 * n).min(c.len());
        }
    }
    c
}

/// `items` in `n` chunks of nearly equal length, in order.
fn split<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = start + (items.len() - start) / (n - i);
        out.push(items[start..end].to_vec());
        start = end;
    }
    out
}

/// `start` halved while the half is at least `floor` and still `fails`: the shortest length
/// found, `start` itself if no half fails.
pub fn halve(start: f64, floor: f64, fails: &mut dyn FnMut(f64) -> bool) -> f64 {
    let mut best = start;
    while best / 2.0 >= floor && fails(best / 2.0) {
        best /= 2.0;
    }
    best
}

/// How often a candidate failed over the runs it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Runs that failed as wanted.
    pub fails: u32,
    /// Runs made.
    pub runs: u32,
}

/// The k-runs rule: run `once` up to `k` times; the candidate fails only if every run fails,
/// so the first run that passes ends it (a flaky candidate is never taken for a cause).
pub fn every_time(k: u32, once: &mut dyn FnMut() -> bool) -> (bool, Tally) {
    let mut t = Tally::default();
    while t.runs < k.max(1) {
        t.runs += 1;
        if !once() {
            return (false, t);
        }
        t.fails += 1;
    }
    (true, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_culprit_is_found_among_many() {
        let items: Vec<u32> = (0..16).collect();
        let mut calls = 0;
        let got = ddmin(&items, &mut |s| {
            calls += 1;
            s.contains(&11)
        });
        assert_eq!(got, vec![11]);
        // Binary search's cost, not a brute force's.
        assert!(calls <= 10, "{calls} calls");
    }

    #[test]
    fn a_pair_that_fails_only_together_is_found() {
        let items: Vec<u32> = (0..10).collect();
        let got = ddmin(&items, &mut |s| s.contains(&2) && s.contains(&7));
        assert_eq!(got, vec![2, 7]);
    }

    #[test]
    fn five_faults_of_which_one_fails_shrink_to_it() {
        let got = ddmin(
            &["latency", "pause", "kill", "flicker", "malformed"],
            &mut |s| s.contains(&"kill"),
        );
        assert_eq!(got, vec!["kill"]);
    }

    #[test]
    fn the_k_rule_keeps_a_flaky_item_out() {
        // Item 7 fails every time; item 3 fails one run in two (a flaky outcome). Alone,
        // one run per candidate can be fooled by 3; three runs each never are.
        let items: Vec<u32> = (0..8).collect();
        let flaky = |k: u32| {
            let mut n = 0u32;
            ddmin(&items, &mut |s| {
                every_time(k, &mut || {
                    n += 1;
                    s.contains(&7) || (s.contains(&3) && n % 2 == 1)
                })
                .0
            })
        };
        assert_eq!(flaky(3), vec![7]);
        assert_eq!(flaky(1), vec![3]);
        let mut runs = 0;
        let (failed, t) = every_time(3, &mut || {
            runs += 1;
            runs != 2
        });
        assert!(!failed);
        assert_eq!(t, Tally { fails: 1, runs: 2 });
        assert_eq!(
            every_time(3, &mut || true),
            (true, Tally { fails: 3, runs: 3 })
        );
    }

    #[test]
    fn halving_stops_at_the_floor_or_the_first_pass() {
        assert_eq!(halve(8000.0, 100.0, &mut |d| d >= 1000.0), 1000.0);
        assert_eq!(halve(8000.0, 3000.0, &mut |_| true), 4000.0);
        assert_eq!(halve(8000.0, 100.0, &mut |_| false), 8000.0);
    }
}
