//! Always on when a fault strikes at start-up (`at = "startup"`): the service must either
//! start anyway or fail fast and say why — exit non-zero with a message in its log within
//! its readiness deadline. Hanging in between is `startup.hang`; dying without a word is
//! `startup.silent`.

use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::{Event, What, files, read_log};
use serde_json::json;

const CHECK: &str = "startup_under_fault";

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
    let verdict = match (exited_first, ready) {
        (Some(e), _) => {
            let (code, signal) = match &e.what {
                What::ServiceExit { code, signal, .. } => (*code, *signal),
                _ => (None, None),
            };
            let failed = code != Some(0);
            let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
            let took = e.t_ms - spawn_t;
            let last = log_lines.last().cloned().unwrap_or_default();
            let evidence = json!({"service": service, "exit_code": code, "signal": signal, "after_ms": round(took), "last_log_lines": log_lines.iter().rev().take(5).rev().collect::<Vec<_>>()});
            if failed && !log_lines.is_empty() {
                Verdict::new(
                    CHECK,
                    "startup.silent",
                    true,
                    format!(
                        "`{service}` failed fast under the fault: exit {code} after {:.1} s: {last}",
                        took / 1e3
                    ),
                    evidence,
                )
            } else {
                Verdict::new(
                    CHECK,
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
        (_, Some(rd)) => Verdict::new(
            CHECK,
            "startup.hang",
            true,
            format!(
                "`{service}` started despite the fault (ready after {:.1} s)",
                (rd.t_ms - spawn_t) / 1e3
            ),
            json!({"service": service, "ready_after_ms": round(rd.t_ms - spawn_t)}),
        ),
        (None, None) => match not_ready {
            Some(nr) => Verdict::new(
                CHECK,
                "startup.hang",
                false,
                format!(
                    "`{service}` neither started nor failed within its readiness deadline ({:.1} s): it hung",
                    (nr.t_ms - spawn_t) / 1e3
                ),
                json!({"service": service, "waited_ms": round(nr.t_ms - spawn_t), "last_log_lines": log_lines.iter().rev().take(5).rev().collect::<Vec<_>>()}),
            ),
            None => Verdict::skip(CHECK, "startup.hang", "the run ended before start-up did"),
        },
    };
    Ok(Some(verdict))
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
