//! Guardrails at run time: follow the run's records as they are written (requests, samples,
//! fault events) and cut the run when one trips — a `guardrail.tripped` event, then the
//! same teardown and judging as any cut, and the report reads `aborted`.
//!
//! The judgement itself ([`Guard`]) is a pure function of the records it was fed, so it is
//! tested without a run.

use crate::record::{Clock, Event, Follow, Journal, Outcome, RequestRecord, Sample, What, files};
use crate::suite::{Guardrails, Suite};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the records are read again.
const EVERY: Duration = Duration::from_millis(250);
/// Fewest requests the error-rate span needs before its rate means anything.
const MIN_REQUESTS: usize = 5;
/// How long after a fault ends (or an instant fault acts) errors still count as its own,
/// when the suite sets no `recover_within`.
const DEFAULT_ALLOWANCE_MS: f64 = 10_000.0;

/// A tripped guardrail: which (`error_rate`, `memory`) and what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub guardrail: &'static str,
    pub reason: String,
}

/// A window in which errors are the fault's, not the service's steady state.
#[derive(Debug, Clone, Copy)]
struct Window {
    fault: usize,
    start_ms: f64,
    /// `None` while the fault is held.
    end_ms: Option<f64>,
}

/// What the guardrails have seen so far, and their judgement of it.
#[derive(Debug)]
pub struct Guard {
    rails: Guardrails,
    /// Errors this long after a fault ends are still the fault's.
    allowance_ms: f64,
    /// Which faults last (`for`), by index: an instant fault's window ends at its injection.
    lasting: Vec<bool>,
    load_start_ms: f64,
    windows: Vec<Window>,
    /// Requests that ended, as (intended, done, failed), most recent last.
    ended: VecDeque<(f64, f64, bool)>,
    /// The first memory sample above the bound, in words.
    memory: Option<String>,
}

impl Guard {
    /// A guard for `suite`'s guardrails, load starting at `load_start_ms`; the planned fault
    /// windows (`(index, at, until)`) count from the start, before their injection is seen.
    pub fn new(suite: &Suite, load_start_ms: f64, planned: &[(usize, f64, f64)]) -> Guard {
        let allowance_ms = suite
            .expect
            .recover_within
            .map_or(DEFAULT_ALLOWANCE_MS, |d| d.as_ms());
        Guard {
            rails: suite.guardrails.clone(),
            allowance_ms,
            lasting: suite.faults.iter().map(|f| f.duration.is_some()).collect(),
            load_start_ms,
            windows: planned
                .iter()
                .map(|&(fault, at, until)| Window {
                    fault,
                    start_ms: at,
                    end_ms: Some(until),
                })
                .collect(),
            ended: VecDeque::new(),
            memory: None,
        }
    }

    /// Faults injected (a window opens; an instant fault's closes at once) and cleared.
    pub fn events(&mut self, events: &[Event]) {
        for e in events {
            match &e.what {
                // A re-injection's window opens when it is announced.
                What::FaultReinject { fault, .. } => self.open(fault.index, e.t_ms),
                What::FaultInject { fault, .. } => {
                    self.open(fault.index, e.t_ms);
                    if !self.lasting.get(fault.index).copied().unwrap_or(false) {
                        self.close(fault.index, e.t_ms);
                    }
                }
                What::FaultClear { fault, .. } => self.close(fault.index, e.t_ms),
                _ => {}
            }
        }
    }

    /// Open a window of fault `index` at `t_ms`, unless one is open already.
    fn open(&mut self, index: usize, t_ms: f64) {
        if self.open_window(index).is_none() {
            self.windows.push(Window {
                fault: index,
                start_ms: t_ms,
                end_ms: None,
            });
        }
    }

    /// Close the open window of fault `index` at `t_ms`.
    fn close(&mut self, index: usize, t_ms: f64) {
        if let Some(w) = self.open_window(index) {
            w.end_ms = Some(t_ms);
        }
    }

    fn open_window(&mut self, index: usize) -> Option<&mut Window> {
        self.windows
            .iter_mut()
            .find(|w| w.fault == index && w.end_ms.is_none())
    }

    /// Requests as they end.
    pub fn requests(&mut self, records: &[RequestRecord]) {
        if self.rails.error_rate.is_none() {
            return;
        }
        for r in records {
            // Aborted requests are the framework's (cut short), not the service's.
            if r.outcome != Outcome::Aborted {
                self.ended
                    .push_back((r.intended_ms, r.done_ms, !r.outcome.is_ok()));
            }
        }
    }

    /// Samples of the process trees.
    pub fn samples(&mut self, samples: &[Sample]) {
        let Some(m) = &self.rails.memory else { return };
        for s in samples {
            let Sample::Procs { service, procs, .. } = s else {
                continue;
            };
            if m.service.as_ref().is_some_and(|want| want != service) || self.memory.is_some() {
                continue;
            }
            let bytes: u64 = procs
                .iter()
                .map(|p| p.pss_bytes.unwrap_or(p.rss_bytes))
                .sum();
            if bytes > m.above {
                self.memory = Some(format!(
                    "the process tree of `{service}` held {} MiB, above the bound of {} MiB",
                    bytes >> 20,
                    m.above >> 20
                ));
            }
        }
    }

    /// Whether a guardrail trips at `now_ms`.
    pub fn check(&mut self, now_ms: f64) -> Option<Trip> {
        if let Some(reason) = self.memory.take() {
            return Some(Trip {
                guardrail: "memory",
                reason,
            });
        }
        let rail = self.rails.error_rate.as_ref()?;
        let span = rail.sustained.as_ms();
        let from = now_ms - span;
        // Older requests can never fall in a later span.
        self.ended.retain(|&(_, done, _)| done >= from);
        let allowance = self.allowance_ms;
        let disturbed = |a: f64, b: f64| {
            self.windows.iter().any(|w| {
                let end = w.end_ms.map_or(f64::INFINITY, |e| e + allowance);
                a <= end && b >= w.start_ms
            })
        };
        if from < self.load_start_ms || disturbed(from, now_ms) {
            return None;
        }
        let (mut n, mut failed) = (0usize, 0usize);
        for &(intended, done, fail) in &self.ended {
            if done <= now_ms && !disturbed(intended, done) {
                n += 1;
                failed += usize::from(fail);
            }
        }
        let rate = failed as f64 / n.max(1) as f64;
        (n >= MIN_REQUESTS && rate > rail.above).then(|| Trip {
            guardrail: "error_rate",
            reason: format!(
                "{failed} of {n} requests ({:.0} %) failed in the last {}, outside fault \
                 windows; the bound is {:.0} %",
                rate * 100.0,
                rail.sustained,
                rail.above * 100.0
            ),
        })
    }
}

/// What the watching task needs.
pub(super) struct Watch {
    pub dir: PathBuf,
    pub clock: Clock,
    pub journal: Journal,
    /// Cancelled when a guardrail trips.
    pub cut: CancellationToken,
    /// Where to say that one tripped.
    pub progress: super::progress::Progress,
}

/// Watch the run's records until `stop`, feeding `guard`; on a trip, record it and cut the run.
pub(super) fn spawn(w: Watch, mut guard: Guard, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = Follow::new(&w.dir.join(files::EVENTS));
        let mut requests = Follow::new(&w.dir.join(files::REQUESTS));
        let mut samples = Follow::new(&w.dir.join(files::SAMPLES));
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
                () = w.cut.cancelled() => return,
            }
            // A file that cannot be read this time is read again on the next tick.
            guard.events(&events.read::<Event>().unwrap_or_default());
            guard.requests(&requests.read::<RequestRecord>().unwrap_or_default());
            guard.samples(&samples.read::<Sample>().unwrap_or_default());
            if let Some(trip) = guard.check(w.clock.now_ms()) {
                w.progress.say(&format!(
                    "shakedown: guardrail {} tripped ({}); ending the run",
                    trip.guardrail, trip.reason
                ));
                w.journal.log(
                    None,
                    What::GuardrailTripped {
                        guardrail: trip.guardrail.into(),
                        reason: trip.reason,
                    },
                );
                w.cut.cancel();
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FaultRef, ProcSample};
    use crate::suite::{Dur, ErrorRateGuard, MemoryGuard};

    fn suite(rails: Guardrails, lasting: &[bool]) -> Suite {
        let text = "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"serve\", \"{port}\"]\n";
        let mut s = crate::suite::load_str(std::path::Path::new("t.toml"), text, &|_| Ok(()))
            .expect("suite");
        s.guardrails = rails;
        s.expect.recover_within = Some(Dur::from_secs(2));
        s.faults = lasting
            .iter()
            .map(|&l| crate::suite::FaultSpec {
                kind: "process.kill".into(),
                name: None,
                at: Dur::from_secs(1),
                startup: false,
                after_load: false,
                duration: l.then(|| Dur::from_secs(1)),
                service: "main".into(),
                reinject: 0,
                params: Default::default(),
                origin: String::new(),
            })
            .collect();
        s
    }

    fn error_rate(above: f64, secs: u64) -> Guardrails {
        Guardrails {
            error_rate: Some(ErrorRateGuard {
                above,
                sustained: Dur::from_secs(secs),
            }),
            memory: None,
        }
    }

    /// One request every 100 ms from `from` to `to` (ms), each taking 10 ms.
    fn reqs(from: u64, to: u64, outcome: Outcome) -> Vec<RequestRecord> {
        (from..to)
            .step_by(100)
            .map(|t| RequestRecord {
                done_ms: t as f64 + 10.0,
                outcome,
                ..RequestRecord::new(t, t as f64)
            })
            .collect()
    }

    fn inject(index: usize, t_ms: f64) -> Event {
        Event {
            t_ms,
            service: None,
            what: What::FaultInject {
                fault: FaultRef {
                    index,
                    fault: None,
                    describe: None,
                },
                details: Default::default(),
            },
        }
    }

    #[test]
    fn errors_for_the_whole_span_trip_the_error_rate() {
        let mut g = Guard::new(&suite(error_rate(0.5, 2), &[]), 0.0, &[]);
        g.requests(&reqs(0, 1000, Outcome::Ok));
        g.requests(&reqs(1000, 4000, Outcome::Http5xx));
        assert_eq!(g.check(1500.0), None, "span not yet covered by load");
        let trip = g.check(4000.0).expect("tripped");
        assert_eq!(trip.guardrail, "error_rate");
        assert!(
            trip.reason.starts_with("20 of 20 requests (100 %)"),
            "{trip:?}"
        );
    }

    #[test]
    fn errors_below_the_bound_or_too_few_requests_do_not_trip() {
        let mut g = Guard::new(&suite(error_rate(0.5, 2), &[]), 0.0, &[]);
        let mut rs = reqs(0, 4000, Outcome::Ok);
        // Every third fails: 33 %.
        for r in rs.iter_mut().step_by(3) {
            r.outcome = Outcome::Http5xx;
        }
        g.requests(&rs);
        assert_eq!(g.check(4000.0), None);
        let mut few = Guard::new(&suite(error_rate(0.5, 2), &[]), 0.0, &[]);
        few.requests(&reqs(3000, 3400, Outcome::Http5xx));
        assert_eq!(few.check(4000.0), None, "4 requests are too few to judge");
    }

    #[test]
    fn errors_in_a_fault_window_and_its_allowance_do_not_count() {
        // An instant fault at 1 s (planned), allowance 2 s: errors until 3 s are its own.
        let mut g = Guard::new(
            &suite(error_rate(0.5, 1), &[false]),
            0.0,
            &[(0, 1000.0, 1000.0)],
        );
        g.events(&[inject(0, 1000.0)]);
        g.requests(&reqs(1000, 3000, Outcome::ConnectError));
        g.requests(&reqs(3000, 6000, Outcome::Ok));
        for now in [1500.0, 2500.0, 3500.0, 4500.0, 6000.0] {
            assert_eq!(g.check(now), None, "at {now}");
        }
        // A lasting fault held open (no clear yet) keeps its window open.
        let mut held = Guard::new(&suite(error_rate(0.5, 1), &[true]), 0.0, &[]);
        held.events(&[inject(0, 1000.0)]);
        held.requests(&reqs(1000, 30_000, Outcome::ConnectError));
        assert_eq!(held.check(30_000.0), None);
    }

    #[test]
    fn a_tree_above_the_memory_bound_trips_once_seen() {
        let rails = Guardrails {
            error_rate: None,
            memory: Some(MemoryGuard {
                above: 100 << 20,
                service: Some("main".into()),
            }),
        };
        let sample = |service: &str, mib: u64| Sample::Procs {
            t_ms: 1.0,
            service: service.into(),
            procs: vec![ProcSample {
                pid: 1,
                ppid: 0,
                cmdline: "serve".into(),
                rss_bytes: mib << 20,
                pss_bytes: None,
                fds: None,
                threads: None,
            }],
        };
        let mut g = Guard::new(&suite(rails, &[]), 0.0, &[]);
        g.samples(&[sample("main", 50), sample("other", 500)]);
        assert_eq!(g.check(10.0), None, "another service is not watched");
        g.samples(&[sample("main", 150)]);
        let trip = g.check(20.0).expect("tripped");
        assert_eq!(trip.guardrail, "memory");
        assert!(trip.reason.contains("held 150 MiB"), "{trip:?}");
    }
}
