//! Start-up, judged from the service's first start:
//! - `startup_under_fault`, always on when a fault strikes at start-up (`at = "startup"`): the
//!   service must either start anyway or fail fast and say why — exit non-zero with a
//!   message in its log within its readiness deadline. Hanging in between is
//!   `startup.hang`; dying without a word is `startup.silent`.
//! - `startup_refused`, on with `[expect] startup_fails = true` (a suite that starts a
//!   service with a bad configuration on purpose): the same, except that starting is the
//!   failure, `startup.accepted`.
//! - `ready_within`: every service was ready within the bound after it was spawned
//!   (`startup.slow`).

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::{Event, What, files, read_log};
use serde_json::json;

/// Why a start is judged: a fault met it, or the suite expects its configuration refused.
#[derive(Clone, Copy, PartialEq)]
enum Why {
    Fault,
    Refused,
}

pub fn judge(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    let mut services: Vec<&str> = r
        .timeline
        .faults
        .iter()
        .filter(|f| f.startup)
        .map(|f| f.service.as_str())
        .collect();
    services.dedup();
    let Some(service) = services.first().copied() else {
        return Ok(None);
    };
    Ok(Some(start(r, service, Why::Fault)))
}

/// `startup_refused`: the first service started must refuse its configuration, fast and
/// saying why.
pub fn refused(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    if !r.expect.startup_fails {
        return Ok(None);
    }
    let first = r.events.iter().find_map(|e| match e.what {
        What::ServiceSpawn { .. } => e.service.as_deref(),
        _ => None,
    });
    Ok(Some(match first {
        Some(service) => start(r, service, Why::Refused),
        None => Verdict::not_judged(
            "startup_refused",
            "startup.accepted",
            "no service was started",
        ),
    }))
}

/// `ready_within`: every service's first readiness came within the bound of its spawn.
pub fn ready_within(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "ready_within";
    const ID: &str = "startup.slow";
    let Some(bound) = r.expect.ready_within else {
        return Ok(None);
    };
    let (mut slow, mut ready) = (Vec::new(), Vec::new());
    for e in &r.events {
        if let What::ServiceReady {
            after_ms,
            generation: 0,
        } = e.what
        {
            let service = e.service.clone().unwrap_or_default();
            ready.push(json!({"service": service, "ready_after_ms": round(after_ms)}));
            if after_ms > bound.as_ms() {
                slow.push(format!("`{service}` after {:.2} s", after_ms / 1e3));
            }
        }
    }
    if ready.is_empty() {
        let why = course
            .before_load
            .clone()
            .unwrap_or_else(|| "no service became ready".into());
        return Ok(Some(Verdict::not_judged(CHECK, ID, &why)));
    }
    let pass = slow.is_empty();
    let summary = if pass {
        format!("every service was ready within {bound} of its start")
    } else {
        format!("ready later than {bound}: {}", slow.join(", "))
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"bound_ms": bound.as_ms(), "services": ready}),
    )))
}

/// Judge the first start of `service`.
fn start(r: &RunRecords, service: &str, why: Why) -> Verdict {
    let (check, under) = match why {
        Why::Fault => ("startup_under_fault", "under the fault"),
        Why::Refused => ("startup_refused", "refusing its configuration"),
    };
    // Generation 0 of the service: its first start, the one the fault met.
    let first = |e: &&Event| {
        e.service.as_deref() == Some(service)
            && match &e.what {
                What::ServiceSpawn { generation, .. }
                | What::ServiceReady { generation, .. }
                | What::ServiceExit { generation, .. } => *generation == 0,
                What::ServiceNotReady { .. } => true,
                _ => false,
            }
    };
    let of = |pick: fn(&What) -> bool| r.events.iter().filter(first).find(|e| pick(&e.what));
    let spawn_t = of(|w| matches!(w, What::ServiceSpawn { .. })).map_or(0.0, |e| e.t_ms);
    let exit = of(|w| {
        matches!(
            w,
            What::ServiceExit {
                during_teardown: false,
                ..
            }
        )
    });
    let ready = of(|w| matches!(w, What::ServiceReady { .. }));
    let not_ready = of(|w| matches!(w, What::ServiceNotReady { .. }));
    let log_lines = service_output(r, service);
    // An exit counts only if it came before readiness (a later one is another story).
    let exited_first = exit.filter(|e| ready.is_none_or(|rd| e.t_ms < rd.t_ms));
    match (exited_first, ready) {
        (Some(e), _) => {
            let (code, signal) = match &e.what {
                What::ServiceExit { code, signal, .. } => (*code, *signal),
                _ => (None, None),
            };
            let failed = code != Some(0);
            let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
            let took = e.t_ms - spawn_t;
            // The line that says why: the last one naming an error, else the last one.
            let last = log_lines
                .iter()
                .rev()
                .find(|l| l.to_ascii_lowercase().contains("error"))
                .or(log_lines.last())
                .cloned()
                .unwrap_or_default();
            let evidence = json!({"service": service, "exit_code": code, "signal": signal, "after_ms": round(took), "last_log_lines": log_lines.iter().rev().take(5).rev().collect::<Vec<_>>()});
            if failed && !log_lines.is_empty() {
                Verdict::new(
                    check,
                    "startup.silent",
                    true,
                    format!(
                        "`{service}` failed fast {under}: exit {code} after {:.1} s: {last}",
                        took / 1e3
                    ),
                    evidence,
                )
            } else {
                Verdict::new(
                    check,
                    "startup.silent",
                    false,
                    format!(
                        "`{service}` exited (code {code}) after {:.1} s without a clear message in its log",
                        took / 1e3
                    ),
                    evidence,
                )
            }
        }
        (_, Some(rd)) if why == Why::Fault => Verdict::new(
            check,
            "startup.hang",
            true,
            format!(
                "`{service}` started despite the fault (ready after {:.1} s)",
                (rd.t_ms - spawn_t) / 1e3
            ),
            json!({"service": service, "ready_after_ms": round(rd.t_ms - spawn_t)}),
        ),
        (_, Some(rd)) => Verdict::new(
            check,
            "startup.accepted",
            false,
            format!(
                "`{service}` accepted the configuration it should refuse: ready after {:.1} s",
                (rd.t_ms - spawn_t) / 1e3
            ),
            json!({"service": service, "ready_after_ms": round(rd.t_ms - spawn_t)}),
        ),
        (None, None) => match not_ready {
            Some(nr) => Verdict::new(
                check,
                "startup.hang",
                false,
                format!(
                    "`{service}` neither started nor failed within its readiness deadline ({:.1} s): it hung",
                    (nr.t_ms - spawn_t) / 1e3
                ),
                json!({"service": service, "waited_ms": round(nr.t_ms - spawn_t), "last_log_lines": log_lines.iter().rev().take(5).rev().collect::<Vec<_>>()}),
            ),
            None => Verdict::skip(check, "startup.hang", "the run ended before start-up did"),
        },
    }
}

/// The service's own output lines (supervisor notes left out).
fn service_output(r: &RunRecords, service: &str) -> Vec<String> {
    read_log(&r.dir.join(files::service_log(service)))
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !l.is_note() && !l.text.trim().is_empty())
        .map(|l| l.text)
        .collect()
}
