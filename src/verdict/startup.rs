//! Always on when a fault strikes at start-up (`at = "startup"`): the service must either
//! start anyway or fail fast and say why — exit non-zero with a message in its log within
//! its readiness deadline. Hanging in between is `startup.hang`; dying without a word is
//! `startup.silent`.

use super::{FaultWindow, JudgeError, RunRecords, Verdict, round};
use crate::record::Event;
use serde_json::json;

const CHECK: &str = "startup_under_fault";

pub fn judge(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
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
    let of = |kind: &'static str| -> Option<&Event> {
        r.events_of(kind).find(|e| {
            e.service.as_deref() == Some(service)
                && e.data
                    .get("generation")
                    .and_then(|g| g.as_u64())
                    .unwrap_or(0)
                    == 0
        })
    };
    let spawn_t = of("service.spawn").map_or(0.0, |e| e.t_ms);
    let exit = of("service.exit").filter(|e| e.data.get("during_teardown") != Some(&json!(true)));
    let ready = of("service.ready");
    let log_lines = service_output(r, service);
    // An exit counts only if it came before readiness (a later one is another story).
    let exited_first = exit.filter(|e| ready.is_none_or(|rd| e.t_ms < rd.t_ms));
    let verdict = match (exited_first, ready) {
        (Some(e), _) => {
            let code = e.data.get("code").cloned().unwrap_or_default();
            let signal = e.data.get("signal").cloned().unwrap_or_default();
            let failed = code != json!(0);
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
        (None, None) => match r
            .events_of("service.not_ready")
            .find(|e| e.service.as_deref() == Some(service))
        {
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
    let text =
        std::fs::read_to_string(r.dir.join(format!("service-{service}.log"))).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.trim_start().splitn(3, ' ');
            let (_, stream, rest) = (parts.next(), parts.next()?, parts.next().unwrap_or(""));
            (stream != "---" && !rest.trim().is_empty()).then(|| rest.to_string())
        })
        .collect()
}
