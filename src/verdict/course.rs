//! How the run went, as far as the checks care, derived once from the journal: did load
//! start, was the run cut short and when, and every window in which the service was
//! disturbed (a fault and its recovery, or a crash nobody planned and its recovery).
//!
//! Checks use it to judge only what the run observed: a check whose moment never came is
//! *not judged*, with the reason, never failed.

use super::{Exit, RunRecords, Verdict, Window, crash, recovery};
use crate::record::{Phase, What};

/// The run was cut short: when, and why, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// When, ms after `t0`.
    pub at_ms: f64,
    /// `interrupted by SIGINT`, `the budget of 5m ran out`.
    pub why: String,
}

/// What every check shares.
#[derive(Debug, Clone)]
pub struct Course {
    /// When load started (every service ready, arrivals planned); `None`: it never did.
    pub load_start_ms: Option<f64>,
    /// Why the run ended before load, when it did.
    pub before_load: Option<String>,
    /// The interrupt, budget or guardrail that cut the run short, if one did.
    pub cut: Option<Cut>,
    /// The error that stopped the run, its first line, if one did.
    pub error: Option<String>,
    /// Faults and crashes with their recovery, faults first.
    pub windows: Vec<Window>,
    /// Exits no fault explains, in time order.
    pub unplanned_exits: Vec<Exit>,
}

impl Course {
    /// Derive the course of a run from its records.
    pub fn of(r: &RunRecords) -> Course {
        let mut load_start_ms = None;
        let mut cut = None;
        let mut error = None;
        let mut start_failed = None;
        let mut skipped = None;
        for e in &r.events {
            match &e.what {
                What::Phase(Phase::Baseline { .. }) => load_start_ms = Some(e.t_ms),
                What::Interrupt { signal } => {
                    cut.get_or_insert_with(|| Cut {
                        at_ms: e.t_ms,
                        why: format!(
                            "the run was interrupted by {signal} at {:.1} s",
                            e.t_ms / 1e3
                        ),
                    });
                }
                What::BudgetExceeded { budget_ms } => {
                    cut.get_or_insert_with(|| Cut {
                        at_ms: e.t_ms,
                        why: format!(
                            "the budget of {} ran out at {:.1} s",
                            humantime::format_duration(std::time::Duration::from_millis(
                                *budget_ms as u64
                            )),
                            e.t_ms / 1e3
                        ),
                    });
                }
                What::GuardrailTripped { guardrail, reason } => {
                    cut.get_or_insert_with(|| Cut {
                        at_ms: e.t_ms,
                        why: format!(
                            "the guardrail {guardrail} ended the run at {:.1} s ({reason})",
                            e.t_ms / 1e3
                        ),
                    });
                }
                What::RunError { error: msg } => {
                    error.get_or_insert_with(|| first_line(msg));
                }
                What::RunStartFailed { error: msg } => {
                    start_failed.get_or_insert_with(|| first_line(msg));
                }
                What::RunSkipped { reason } => {
                    skipped.get_or_insert_with(|| reason.clone());
                }
                _ => {}
            }
        }
        if cut.is_none()
            && let Some(at_ms) = r.unfinished_at()
        {
            cut = Some(Cut {
                at_ms,
                why: unfinished(at_ms),
            });
        }
        let before_load = match load_start_ms {
            Some(_) => None,
            None => Some(match (&error, start_failed, skipped, &cut) {
                (Some(e), ..) => format!("the run ended before load: {e}"),
                (_, Some(e), ..) => {
                    format!("the service did not start (as the suite judges): {e}")
                }
                (_, _, Some(s), _) => format!("the run was skipped: {s}"),
                (_, _, _, Some(c)) => format!("{} during start-up, before load", c.why),
                _ => "the run ended before load".into(),
            }),
        };
        let mut windows = recovery::fault_windows(r);
        let unplanned_exits = crash::unplanned(r, &windows);
        windows.extend(recovery::crash_windows(r, &unplanned_exits));
        Course {
            load_start_ms,
            before_load,
            cut,
            error,
            windows,
            unplanned_exits,
        }
    }

    /// A check that judges load, when load never ran: *not judged*, with the reason.
    pub fn without_load(&self, check: &str, id: &str) -> Option<Verdict> {
        self.before_load
            .as_ref()
            .map(|why| Verdict::not_judged(check, id, why))
    }

    /// A check that judges windows of disturbance, when there is nothing for it to judge:
    /// not judged when load never ran, skipped when no fault was injected and nothing crashed.
    pub fn without_windows(&self, check: &str, id: &str) -> Option<Verdict> {
        self.without_load(check, id).or_else(|| {
            self.windows
                .is_empty()
                .then(|| Verdict::skip(check, id, "no fault was injected and no service crashed"))
        })
    }

    /// Why an instant `t_ms` was never reached, when the run was cut before it.
    pub fn unreached(&self, t_ms: f64) -> Option<&str> {
        self.cut
            .as_ref()
            .filter(|c| c.at_ms < t_ms)
            .map(|c| c.why.as_str())
    }

    /// Whether a request's life overlaps any window of disturbance.
    pub fn disturbed(&self, q: &crate::record::RequestRecord) -> bool {
        self.windows
            .iter()
            .any(|w| q.start_ms() < w.end_ms && q.done_ms > w.start_ms)
    }
}

/// Why a run that never reached judging is judged only up to `at_ms`.
pub fn unfinished(at_ms: f64) -> String {
    format!(
        "the run did not finish (killed, or still running): its records end at {:.1} s",
        at_ms / 1e3
    )
}

/// The gist of an error message: its first line, without what the service printed (a
/// start-up error ends `; its last log lines:` or `; it printed nothing`).
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or_default();
    line.split("; it").next().unwrap_or(line).to_string()
}
