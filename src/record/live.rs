//! What a run is doing now, for the live progress display: counters the load generator and
//! the journal keep up to date as they write, read a few times a second, never from the files.
//!
//! The request counters are relaxed atomics: the load generator's hot path takes no lock.
//! Everything else changes a few times a run and sits behind one mutex.

use super::{Phase, What};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The live state of one run; every [`super::Journal`] holds one (`Journal::live`).
#[derive(Debug, Default)]
pub struct Live {
    ok: AtomicU64,
    failed: AtomicU64,
    restarts: AtomicU64,
    state: Mutex<State>,
}

/// The rarely changing part of [`Live`].
#[derive(Debug, Default)]
struct State {
    /// The phase's name, and when it began (ms after `t0`).
    phase: Option<(String, f64)>,
    /// Load start and planned length, ms.
    load: Option<(f64, f64)>,
    /// Faults held now, by index: their kind.
    faults: BTreeMap<usize, String>,
}

/// A copy of [`Live`] at one instant: what the status line shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The phase (`start`, `load`, `faults`, `recovery`, `teardown`, `judge`, a sweep point).
    pub phase: String,
    /// Time in the phase, ms.
    pub phase_ms: f64,
    /// Time since load start and the load's planned length, ms, once load has begun.
    pub load: Option<(f64, f64)>,
    /// Requests that ended `ok`.
    pub ok: u64,
    /// Requests that ended any other way (dropped included).
    pub failed: u64,
    /// Service restarts by the supervisor.
    pub restarts: u64,
    /// Faults held now, as `kind[index]`.
    pub faults: Vec<String>,
    /// Time since the run began, ms.
    pub run_ms: f64,
}

impl Live {
    /// Count one request that ended, `ok` or not (relaxed: only a display reads it).
    pub fn request(&self, ok: bool) {
        let c = if ok { &self.ok } else { &self.failed };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Fault `index` of `kind` is held from now until [`Live::fault_cleared`].
    pub fn fault_held(&self, index: usize, kind: &str) {
        self.state().faults.insert(index, kind.to_string());
    }

    /// Fault `index` is no longer held.
    pub fn fault_cleared(&self, index: usize) {
        self.state().faults.remove(&index);
    }

    /// Take in what the journal logs at `t_ms`: phases, sweep points, restarts.
    pub fn see(&self, t_ms: f64, what: &What) {
        let phase = match what {
            What::Phase(p) => match p {
                Phase::Start { .. } => "start",
                Phase::Baseline { duration_ms, .. } => {
                    self.state().load = Some((t_ms, *duration_ms));
                    "load"
                }
                Phase::Faults => "faults",
                Phase::Recovery => "recovery",
                Phase::Teardown => "teardown",
                Phase::Judge => "judge",
            }
            .to_string(),
            What::PerfPointStart { point, .. } => format!("point {point}"),
            What::ServiceRestart { .. } => {
                self.restarts.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => return,
        };
        self.state().phase = Some((phase, t_ms));
    }

    /// The state at `now_ms` (ms after `t0`).
    pub fn status(&self, now_ms: f64) -> Status {
        let s = self.state();
        let (phase, since) = s.phase.clone().unwrap_or_else(|| ("start".into(), 0.0));
        Status {
            phase,
            phase_ms: now_ms - since,
            load: s.load.map(|(start, len)| ((now_ms - start).max(0.0), len)),
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            faults: s.faults.iter().map(|(i, k)| format!("{k}[{i}]")).collect(),
            run_ms: now_ms,
        }
    }

    /// The state, even after a panic elsewhere held the lock (it is only ever a display's).
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phases, restarts, held faults and counted requests show in the status.
    #[test]
    fn the_status_follows_what_is_logged() {
        let live = Live::default();
        assert_eq!(live.status(5.0).phase, "start");
        live.see(100.0, &What::Phase(Phase::Start { seed: 1 }));
        live.see(
            1000.0,
            &What::Phase(Phase::Baseline {
                arrivals: 3,
                duration_ms: 30_000.0,
            }),
        );
        live.see(
            1500.0,
            &What::ServiceRestart {
                generation: 1,
                backoff_ms: 0.0,
            },
        );
        live.fault_held(2, "network.flicker");
        live.fault_held(0, "process.pause");
        live.fault_cleared(0);
        live.request(true);
        live.request(true);
        live.request(false);
        let s = live.status(3000.0);
        assert_eq!(
            s,
            Status {
                phase: "load".into(),
                phase_ms: 2000.0,
                load: Some((2000.0, 30_000.0)),
                ok: 2,
                failed: 1,
                restarts: 1,
                faults: vec!["network.flicker[2]".into()],
                run_ms: 3000.0,
            }
        );
        live.see(4000.0, &What::Phase(Phase::Teardown));
        assert_eq!(live.status(4500.0).phase, "teardown");
    }
}
