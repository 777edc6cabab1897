//! `schedule.json`: the exact plan of a run, a pure function of its resolved suite and seed,
//! written before load starts so a replay can prove it runs the same schedule.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Arrival instants written out in full up to this many; past it, the first this many and a
/// digest of them all (a day's soak has millions).
pub const ARRIVALS_LISTED: usize = 1000;

/// The planned schedule of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The shakedown version that planned it (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The suite's name.
    pub suite: String,
    /// The seed every draw below comes from.
    pub seed: u64,
    /// Each service's command line, placeholders (`{port}`) as the suite writes them.
    pub services: Vec<PlannedService>,
    /// The load's arrivals; `None` for a suite without `[load]` (a perf test draws its
    /// sweep's arrivals per point, from the same seed).
    pub arrivals: Option<PlannedArrivals>,
    /// Every fault, in suite order.
    pub faults: Vec<ScheduledFault>,
    /// The proxy's toxicity rolls; `None` when the run has no embedded proxy.
    pub toxicity: Option<Toxicity>,
}

/// One service's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedService {
    /// The service's name.
    pub name: String,
    /// Its argv.
    pub command: Vec<String>,
}

/// The arrival instants, in ms from load start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedArrivals {
    /// How long load lasts, ms.
    pub duration_ms: f64,
    /// The exact number of arrivals.
    pub count: u64,
    /// FNV-1a (64 bits, hex) over every instant's bits, in order.
    pub digest: String,
    /// The instants: all of them, or the first [`ARRIVALS_LISTED`].
    pub first_ms: Vec<f64>,
}

/// One fault's instant, length and seeded draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Its index in the suite's faults.
    pub index: usize,
    /// Its kind.
    pub kind: String,
    /// The service it acts on.
    pub service: String,
    /// Injected before any service starts (`at = "startup"`).
    pub startup: bool,
    /// When, in ms from load start (0 at start-up).
    pub at_ms: f64,
    /// How long it lasts, ms; `None` for an instant fault.
    pub duration_ms: Option<f64>,
    /// What the kind draws from the seed (`network.flicker`'s intervals, `input.malformed`'s
    /// case order); `null` for kinds that draw nothing.
    pub draws: Value,
}

/// The embedded proxy's toxicity rolls: each link (connection, numbered in accept order)
/// rolls, per direction, once for each toxic it meets, and a toxic applies where the roll is
/// below its toxicity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxicity {
    /// The proxy server's seed.
    pub seed: u64,
    /// The rolls of the first links.
    pub links: Vec<LinkRolls>,
}

/// The first rolls of one link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRolls {
    /// The link's number.
    pub link: u64,
    /// Rolls of the client → service direction.
    pub upstream: Vec<f64>,
    /// Rolls of the service → client direction.
    pub downstream: Vec<f64>,
}

impl PlannedArrivals {
    /// Count, digest and list `instants`.
    pub fn of(duration_ms: f64, instants: impl Iterator<Item = f64>) -> Self {
        let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
        let (mut count, mut first_ms) = (0u64, Vec::new());
        for t in instants {
            for b in t.to_bits().to_le_bytes() {
                digest = (digest ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            if first_ms.len() < ARRIVALS_LISTED {
                first_ms.push(t);
            }
            count += 1;
        }
        PlannedArrivals {
            duration_ms,
            count,
            digest: format!("{digest:016x}"),
            first_ms,
        }
    }
}

impl Schedule {
    /// The path of the first field (keys in alphabetical order) where `self` and `other`
    /// differ (`faults[2].at_ms`), or `None` when they are the same.
    pub fn first_difference(&self, other: &Schedule) -> Option<String> {
        let (a, b) = (serde_json::to_vec(self), serde_json::to_vec(other));
        match (a, b) {
            (Ok(a), Ok(b)) => first_difference_json(&a, &b),
            _ => Some(".".into()),
        }
    }
}

/// The first differing field of two schedules as JSON text (`schedule.json`'s bytes). Both
/// are read the same way, so a number compares as written, not as a float read back (which
/// may differ from the one written in its last bit).
pub fn first_difference_json(a: &[u8], b: &[u8]) -> Option<String> {
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => first_difference(&a, &b, ""),
        _ => Some(".".into()),
    }
}

/// The first path at which two JSON values differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    let here = || Some(if at.is_empty() { ".".into() } else { at.into() });
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &path) {
                            return Some(d);
                        }
                    }
                    None => return Some(path),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{at}.{k}").trim_start_matches('.').to_string())
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(v, w, &format!("{at}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{at}[{}]", x.len().min(y.len())))
        }
        _ if a == b => None,
        _ => here(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let s = Schedule {
            version: "1".into(),
            suite: "s".into(),
            seed: 1,
            services: vec![],
            arrivals: Some(PlannedArrivals::of(10.0, [0.0, 5.0].into_iter())),
            faults: vec![],
            toxicity: None,
        };
        assert_eq!(s.first_difference(&s.clone()), None);
        let mut t = s.clone();
        t.version = "2".into();
        assert_eq!(s.first_difference(&t).as_deref(), Some("version"));
        let mut t = s.clone();
        t.arrivals = Some(PlannedArrivals::of(10.0, [0.0, 6.0].into_iter()));
        assert_eq!(s.first_difference(&t).as_deref(), Some("arrivals.digest"));
    }
}
