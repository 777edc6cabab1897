//! The planned schedule of a run (`schedule.json`): a pure function of the resolved suite and
//! its seed, so two plans from one seed are identical byte for byte and a replay can prove it
//! follows the recorded one.

use super::{Faults, RunError, build_faults};
use crate::load::arrival;
use crate::proxy::{self, Stream};
use crate::record::{
    LinkRolls, PlannedArrivals, PlannedService, Schedule, ScheduledFault, Toxicity,
};
use crate::suite::Suite;

/// Links whose toxicity rolls are listed, and rolls listed per direction of each.
const LINKS_LISTED: u64 = 8;
const ROLLS_LISTED: usize = 4;

/// The schedule a run of `suite` follows, with the suite's seed; the first fault entry that
/// cannot be built is the error.
pub fn plan(suite: &Suite) -> Result<Schedule, RunError> {
    Ok(of(suite, &build_faults(suite)?))
}

/// `schedule.json`'s bytes.
pub fn to_json(schedule: &Schedule) -> Vec<u8> {
    serde_json::to_vec_pretty(schedule).unwrap_or_default()
}

/// The schedule of `suite` with its built `faults`.
pub(super) fn of(suite: &Suite, faults: &Faults) -> Schedule {
    let seed = suite.meta.seed;
    let arrivals = suite
        .load
        .as_ref()
        .map(|l| PlannedArrivals::of(l.duration.as_ms(), arrival::Schedule::of(l, seed).iter()));
    let faults = suite
        .faults
        .iter()
        .zip(faults)
        .enumerate()
        .map(|(index, (spec, f))| ScheduledFault {
            index,
            kind: spec.kind.clone(),
            service: spec.service.clone(),
            startup: spec.startup,
            at_ms: spec.at.as_ms(),
            duration_ms: spec.duration.map(|d| d.as_ms()),
            draws: f.as_ref().map_or(serde_json::Value::Null, |f| {
                f.draws(seed, spec.duration.map(|d| d.0))
            }),
        })
        .collect();
    // Only the embedded proxy rolls from the seed; an external Toxiproxy rolls its own.
    let embedded = suite.uses_proxy() && suite.proxy.as_ref().is_none_or(|p| p.server.is_none());
    Schedule {
        version: env!("CARGO_PKG_VERSION").to_string(),
        suite: suite.meta.name.clone(),
        seed,
        services: suite
            .services
            .iter()
            .map(|s| PlannedService {
                name: s.name.clone(),
                command: s.command.clone(),
            })
            .collect(),
        arrivals,
        faults,
        toxicity: embedded.then(|| toxicity(seed)),
    }
}

/// The first rolls of the first links of an embedded proxy seeded with `seed`.
fn toxicity(seed: u64) -> Toxicity {
    let rolls = |n, stream| {
        let mut rng = proxy::rolls(seed, n, stream);
        (0..ROLLS_LISTED).map(|_| rng.f64()).collect()
    };
    Toxicity {
        seed,
        links: (0..LINKS_LISTED)
            .map(|n| LinkRolls {
                link: n,
                upstream: rolls(n, Stream::Upstream),
                downstream: rolls(n, Stream::Downstream),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(seed: u64) -> Suite {
        let text = r#"
[suite]
name = "plan"
seed = 1

[service]
command = ["shakedown", "mock-server", "--port", "{port}"]

[load]
rate = 50
arrival = "poisson"
duration = "3s"

[[fault]]
kind = "network.flicker"
at = "500ms"
for = "2s"
down = ["200ms", "400ms"]
up = ["200ms", "400ms"]

[[fault]]
kind = "input.malformed"
at = "1s"

[[fault]]
kind = "process.kill"
at = "2s"
"#;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, text).expect("write");
        let mut s = crate::suite::load(&path, &crate::fault::check).expect("suite");
        s.meta.seed = seed;
        s
    }

    #[test]
    fn one_seed_gives_one_plan_byte_for_byte_and_another_seed_another() {
        let a = to_json(&plan(&suite(7)).expect("plan"));
        let b = to_json(&plan(&suite(7)).expect("plan"));
        assert_eq!(a, b);
        let c = to_json(&plan(&suite(8)).expect("plan"));
        assert_ne!(a, c);
        let s = plan(&suite(7)).expect("plan");
        let arrivals = s.arrivals.as_ref().expect("arrivals");
        assert!(arrivals.count > 100, "{arrivals:?}");
        assert_eq!(arrivals.first_ms.len() as u64, arrivals.count);
        // Every kind of draw is there: flicker intervals to cover `for`, the corpus order,
        // the proxy's rolls.
        let intervals = s.faults[0].draws["intervals_ms"]
            .as_array()
            .expect("intervals");
        let total: f64 = intervals.iter().filter_map(|v| v.as_f64()).sum();
        assert!((2000.0..2400.0).contains(&total), "{intervals:?}");
        assert!(
            s.faults[1].draws["case_order"]
                .as_array()
                .is_some_and(|o| o.len() > 10)
        );
        assert_eq!(s.faults[2].draws, serde_json::Value::Null);
        assert_eq!(s.toxicity.as_ref().map(|t| t.links.len()), Some(8));
        let other = plan(&suite(8)).expect("plan");
        assert_ne!(s.faults[1].draws, other.faults[1].draws);
        assert!(s.first_difference(&other).is_some());
    }
}
