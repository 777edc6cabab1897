//! Always on in a command suite: its imported tests pass (`command.test_failed`), it ends on
//! its own without a crash nothing explains (`command.crashed`), and within its timeout
//! (`command.timeout`). They read `command.exit`, `command.results` and `tests.jsonl`.

use super::{Course, Exit, JudgeError, RunRecords, Verdict, crash, round};
use crate::record::{Event, TestRecord, TestStatus, What, files};
use serde_json::{Value, json};

/// Failing tests listed under the verdict at most (`report.json` has them all).
const MAX_LISTED: usize = 20;
/// Lines of a failing test's text shown under it.
const TEXT_LINES: usize = 6;
/// Failing tests named in the one-line summary.
const NAMED: usize = 3;

/// What `command.exit` says.
pub(super) struct Ended<'a> {
    pub event: &'a Event,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub took_ms: f64,
    pub timeout_ms: f64,
    pub timed_out: bool,
    pub interrupted: bool,
}

/// The command's end, if it ran to one (it did unless it could not start).
pub(super) fn ended(r: &RunRecords) -> Option<Ended<'_>> {
    r.events.iter().rev().find_map(|e| match e.what {
        What::CommandExit {
            code,
            signal,
            took_ms,
            timeout_ms,
            timed_out,
            interrupted,
        } => Some(Ended {
            event: e,
            code,
            signal,
            took_ms,
            timeout_ms,
            timed_out,
            interrupted,
        }),
        _ => None,
    })
}

/// Why no results were read, as `command.results` says.
fn results_error(r: &RunRecords) -> Option<&str> {
    r.events.iter().rev().find_map(|e| match &e.what {
        What::CommandResults { error, .. } => Some(error.as_deref().unwrap_or_default()),
        _ => None,
    })
}

/// Why an interrupted run's command cannot be judged.
pub(super) fn interrupted_why(course: &Course) -> String {
    course.cut.as_ref().map_or_else(
        || "the run was interrupted before the command ended".into(),
        |c| c.why.clone(),
    )
}

/// `command_exit`/`command.crashed`: the command ends on its own, by an exit its failing
/// tests explain, having produced results. A signal, a non-zero exit with no failing test
/// (a collection error, a usage error, a crash of the runner), or no results at all fail.
pub fn exit(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "command_exit";
    const ID: &str = "command.crashed";
    if !r.command {
        return Ok(None);
    }
    let Some(x) = ended(r) else { return Ok(None) };
    if let Some(e) = &course.error {
        // The run's error (a program not found) says it once.
        return Ok(Some(Verdict::not_judged(CHECK, ID, e)));
    }
    if x.timed_out {
        let why = "the command was killed at its timeout (see command_timeout)";
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    }
    if x.interrupted {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            &interrupted_why(course),
        )));
    }
    let failing = r.tests.iter().filter(|t| t.failed()).count();
    let after = format!("after {:.1} s", x.took_ms / 1e3);
    let no_results = || match results_error(r) {
        Some(e) if !e.is_empty() => format!("produced no test results: {e}"),
        _ => "ran no tests".to_string(),
    };
    let (pass, summary) = match (x.signal, x.code) {
        (Some(sig), _) => (
            false,
            format!(
                "the command died by signal {sig} ({}) {after}",
                signal_name(sig)
            ),
        ),
        (None, Some(code)) if r.tests.is_empty() => (
            false,
            format!(
                "the command exited with code {code} {after} and {}",
                no_results()
            ),
        ),
        (None, Some(0)) => (true, format!("the command exited with code 0 {after}")),
        (None, Some(code)) if failing == 0 => (
            false,
            format!(
                "the command exited with code {code} {after}, yet none of its {} tests failed",
                r.tests.len()
            ),
        ),
        (None, Some(code)) => (
            true,
            format!(
                "the command exited with code {code} {after}, for its {failing} failing test(s)"
            ),
        ),
        (None, None) => (
            false,
            format!("the command ended {after} with no exit status"),
        ),
    };
    let lines = if pass { Vec::new() } else { last_lines(r, &x)? };
    let evidence = json!({
        "code": x.code, "signal": x.signal, "took_ms": round(x.took_ms),
        "tests": r.tests.len(), "failing": failing, "results_error": results_error(r),
        "last_log_lines": lines,
    });
    let lines = if pass {
        Vec::new()
    } else {
        under_summary(&lines)
    };
    Ok(Some(
        Verdict::new(CHECK, ID, pass, summary, evidence).with_lines(lines),
    ))
}

/// `command_timeout`/`command.timeout`: the command ends within its timeout (the suite's
/// budget at most).
pub fn timeout(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "command_timeout";
    const ID: &str = "command.timeout";
    if !r.command {
        return Ok(None);
    }
    let Some(x) = ended(r) else { return Ok(None) };
    if x.interrupted {
        return Ok(Some(Verdict::not_judged(
            CHECK,
            ID,
            &interrupted_why(course),
        )));
    }
    let limit = humantime::format_duration(std::time::Duration::from_millis(x.timeout_ms as u64));
    let evidence = json!({
        "took_ms": round(x.took_ms), "timeout_ms": round(x.timeout_ms), "timed_out": x.timed_out,
        "tests_finished": r.tests.len(),
    });
    if !x.timed_out {
        let summary = format!(
            "the command ended after {:.1} s, within its timeout of {limit}",
            x.took_ms / 1e3
        );
        return Ok(Some(Verdict::new(CHECK, ID, true, summary, evidence)));
    }
    let summary = format!(
        "the command was killed at its timeout of {limit}, {} test(s) finished before",
        r.tests.len()
    );
    let lines = under_summary(&last_lines(r, &x)?);
    Ok(Some(
        Verdict::new(CHECK, ID, false, summary, evidence).with_lines(lines),
    ))
}

/// `tests_pass`/`command.test_failed`: no imported test failed or errored. Failing tests fail
/// it even when the command was cut short; with none failing, a command that did not finish
/// is not judged.
pub fn tests_pass(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "tests_pass";
    const ID: &str = "command.test_failed";
    if !r.command {
        return Ok(None);
    }
    let failing: Vec<&TestRecord> = r.tests.iter().filter(|t| t.failed()).collect();
    let count = |s: TestStatus| r.tests.iter().filter(|t| t.status == s).count();
    let (passed, skipped) = (count(TestStatus::Pass), count(TestStatus::Skip));
    let evidence = |listed: Vec<Value>| {
        json!({
            "tests": r.tests.len(), "passed": passed, "failed": failing.len(), "skipped": skipped,
            "flaky": r.tests.iter().filter(|t| t.flaky()).map(TestRecord::full_name).collect::<Vec<_>>(),
            "failing": listed,
        })
    };
    if !failing.is_empty() {
        let mut names: Vec<String> = failing.iter().take(NAMED).map(|t| t.full_name()).collect();
        if failing.len() > NAMED {
            names.push(format!("and {} more", failing.len() - NAMED));
        }
        let summary = format!(
            "{} of {} tests failed: {}",
            failing.len(),
            r.tests.len(),
            names.join(", ")
        );
        let mut lines = Vec::new();
        for t in failing.iter().take(MAX_LISTED) {
            lines.extend(describe(t));
        }
        if failing.len() > MAX_LISTED {
            lines.push(format!(
                "... {} more in report.json",
                failing.len() - MAX_LISTED
            ));
        }
        let listed = failing
            .iter()
            .take(MAX_LISTED)
            .map(|t| {
                json!({"name": t.full_name(), "status": t.status, "time_ms": t.time_ms.map(round),
                       "message": t.message})
            })
            .collect();
        return Ok(Some(
            Verdict::new(CHECK, ID, false, summary, evidence(listed)).with_lines(lines),
        ));
    }
    let not_judged = |why: &str| Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    match ended(r) {
        None => {
            let why = course.error.as_deref().unwrap_or("the run ended before it");
            return not_judged(&format!("the command never ran: {why}"));
        }
        Some(x) if x.timed_out => {
            return not_judged(&format!(
                "the command was killed at its timeout, {passed} test(s) had passed"
            ));
        }
        Some(x) if x.interrupted => return not_judged(&interrupted_why(course)),
        Some(_) if r.tests.is_empty() => {
            return not_judged("the command produced no test results (see command_exit)");
        }
        Some(_) => {}
    }
    let mut summary = format!("all {passed} tests passed");
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} skipped"));
    }
    let flaky: Vec<String> = r
        .tests
        .iter()
        .filter(|t| t.flaky())
        .map(TestRecord::full_name)
        .collect();
    if !flaky.is_empty() {
        summary.push_str(&format!(
            "; {} flaky (passed after failing): {}",
            flaky.len(),
            flaky.join(", ")
        ));
    }
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        true,
        summary,
        evidence(Vec::new()),
    )))
}

/// A failing test under the verdict: its name, time and message, then its text's first lines.
fn describe(t: &TestRecord) -> Vec<String> {
    let what = if t.status == TestStatus::Error {
        "errored"
    } else {
        "failed"
    };
    let time = t
        .time_ms
        .map_or_else(String::new, |ms| format!(" in {:.3} s", ms / 1e3));
    let message = t.message.as_deref().and_then(|m| m.lines().next());
    let mut lines = vec![format!(
        "`{}` {what}{time}{}",
        t.full_name(),
        message.map_or_else(String::new, |m| format!(": {m}"))
    )];
    let text = t
        .text
        .as_deref()
        .or(t.output.as_deref())
        .unwrap_or_default();
    lines.extend(
        text.lines()
            .filter(|l| !l.trim().is_empty() && Some(*l) != message)
            .take(TEXT_LINES)
            .map(|l| format!("  | {l}")),
    );
    lines
}

/// The command's own last output lines before it ended.
pub(super) fn last_lines(r: &RunRecords, x: &Ended) -> Result<Vec<String>, JudgeError> {
    crash::last_lines(
        r,
        &Exit {
            service: files::COMMAND.into(),
            t_ms: x.event.t_ms,
            generation: 0,
            code: x.code,
            signal: x.signal,
        },
    )
}

/// `SIGSEGV` for 11.
pub(super) fn signal_name(sig: i32) -> &'static str {
    nix::sys::signal::Signal::try_from(sig).map_or("unknown signal", |s| s.as_str())
}

/// The command's last output lines as they stand under a verdict's summary (none: nothing).
fn under_summary(lines: &[String]) -> Vec<String> {
    if lines.is_empty() {
        return Vec::new();
    }
    std::iter::once("its last output lines:".to_string())
        .chain(lines.iter().map(|l| format!("  {l}")))
        .collect()
}
