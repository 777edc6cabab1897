//! Every check on small hand-written run directories (see [`super::fixture`]): for each, a
//! run that passes and one that fails, then the run-course semantics every check shares
//! (a run that ended before load, an interrupt, a crash nobody planned, a hang).
//!
//! Fixture runs: load from 1 s to 11 s, one request every 100 ms (request `n` is sent at
//! `1 + n/10` s), each ok in 20 ms; windows of 1 s (recovery looks at 2 s), target 95%,
//! `recover_within = 3s`, `fail_fast = 2s`, timeouts after 5 s.

use super::fixture::{LOAD_END, LOAD_START, Run, req};
use super::{JudgeError, RunRecords, Status::*};
use crate::record::{FaultRef, GaugeCheck, InputRecord, Outcome, Survivor, What};
use crate::suite::Dur;
use serde_json::json;

/// A fault error for fault `index`.
fn fault_error(index: usize, error: &str) -> What {
    What::FaultError {
        fault: FaultRef {
            index,
            ..FaultRef::default()
        },
        error: error.into(),
    }
}

/// A fault planned at start-up, injected before the service is spawned.
fn startup_fault(run: Run) -> Run {
    let mut run = run.planned_fault(0.0, 0.0).inject(0, 5.0);
    run.timeline.faults[0].startup = true;
    run
}

/// Every tenth request (ids 0, 10, ... 90) ends with `outcome`.
fn every_tenth(run: Run, outcome: Outcome) -> Run {
    (0..10).fold(run, |run, n| {
        let t = LOAD_START + n as f64 * 1000.0;
        run.outcome(t, t + 1.0, outcome)
    })
}

// faults_injected

#[test]
fn faults_injected_passes_when_every_fault_took_effect() {
    let run = Run::new().fault(3000.0, 4000.0).fault(6000.0, 6000.0);
    run.assert(
        "faults_injected",
        Pass,
        "fault.not_injected",
        "all 2 fault(s) were injected",
    );
    assert!(Run::new().verdict("faults_injected").is_none());
}

#[test]
fn faults_injected_fails_on_an_error_or_a_fault_never_reached() {
    let error = Run::new()
        .planned_fault(3000.0, 4000.0)
        .event(3000.0, fault_error(0, "no process matched `engine`"));
    error.assert(
        "faults_injected",
        Fail,
        "fault.not_injected",
        "1 of 1 fault(s) were not injected: no process matched `engine`",
    );
    // The run went on past its instant, yet nothing happened: not excused as unreached.
    let silent = Run::new()
        .fault(2000.0, 2000.0)
        .planned_fault(3000.0, 4000.0);
    silent.assert(
        "faults_injected",
        Fail,
        "fault.not_injected",
        "1 of 2 fault(s) were not injected: never reached (run ended first)",
    );
}

// startup_under_fault

#[test]
fn startup_under_fault_passes_when_started_or_failed_fast_with_a_message() {
    startup_fault(Run::new()).assert(
        "startup_under_fault",
        Pass,
        "startup.hang",
        "`main` started despite the fault (ready after 0.5 s)",
    );
    let failed = startup_fault(Run::bare())
        .log(150.0, "err", "error: not enough memory to load the model")
        .exit(210.0, 1)
        .log(210.0, "---", "exited with code 1");
    failed.assert(
        "startup_under_fault",
        Pass,
        "startup.silent",
        "`main` failed fast under the fault: exit 1 after 0.2 s: error: not enough memory to load the model",
    );
}

#[test]
fn startup_under_fault_fails_on_a_silent_exit_or_a_hang() {
    // The supervisor's own note is not the service saying why.
    let silent = startup_fault(Run::bare())
        .exit(210.0, 1)
        .log(210.0, "---", "exited with code 1");
    silent.assert(
        "startup_under_fault",
        Fail,
        "startup.silent",
        "`main` exited (code 1) after 0.2 s without a clear message in its log",
    );
    // Exit 0 is no failing fast, whatever it printed.
    let zero = startup_fault(Run::bare())
        .log(150.0, "out", "bye")
        .exit(210.0, 0);
    zero.assert("startup_under_fault", Fail, "startup.silent", "(code 0)");
    let hung = startup_fault(Run::bare()).event(5010.0, What::ServiceNotReady { within: 5.0 });
    hung.assert(
        "startup_under_fault",
        Fail,
        "startup.hang",
        "neither started nor failed within its readiness deadline (5.0 s)",
    );
}

// no_unplanned_exits

#[test]
fn no_unplanned_exits_passes_on_teardown_exits_and_exits_before_ready() {
    // `Run::new` ends with an exit during teardown.
    Run::new().assert(
        "no_unplanned_exits",
        Pass,
        "service.crash",
        "no service exited outside faults and teardown",
    );
    // Dying before ever being ready is a start-up failure (the run's error), not a crash.
    let never_ready =
        Run::before_load("service `main` exited before it was ready (exit status: 1)")
            .exit(200.0, 1);
    never_ready.assert("no_unplanned_exits", Pass, "service.crash", "no service");
    let mut off = Run::new().exit(5000.0, 1);
    off.expect.no_unplanned_exits = false;
    assert!(off.verdict("no_unplanned_exits").is_none());
}

#[test]
fn no_unplanned_exits_fails_with_the_status_and_last_log_lines() {
    let run = Run::new()
        .log(4800.0, "out", "INFO serving")
        .log(
            4900.0,
            "err",
            "RuntimeError: CUDA error: an illegal memory access",
        )
        .log(5000.0, "---", "exited with code 1")
        .exit(5000.0, 1)
        .log(5100.0, "err", "written after the exit");
    let v = run.assert(
        "no_unplanned_exits",
        Fail,
        "service.crash",
        "`main` exited on its own at 5.0 s (exit code 1) with no fault planned",
    );
    assert_eq!(
        v.lines,
        [
            "`main` (generation 0) exited on its own at 5.0 s: exit code 1; its last log lines:",
            "  INFO serving",
            "  RuntimeError: CUDA error: an illegal memory access",
        ]
    );
    // vLLM's API server exits 0 once its engine is gone: still a crash.
    Run::new()
        .exit(5000.0, 0)
        .assert("no_unplanned_exits", Fail, "service.crash", "(exit code 0)");
}

#[test]
fn an_exit_in_a_fault_window_is_planned_one_after_recovery_is_not() {
    // Killed at 3 s, the exit recorded just before the injection; down until 4 s.
    let run = Run::new()
        .planned_fault(3000.0, 3000.0)
        .exit(3000.5, 1)
        .inject(0, 3001.0)
        .exit(3500.0, 1)
        .outcome(3000.0, 4000.0, Outcome::ConnectError);
    run.assert(
        "no_unplanned_exits",
        Pass,
        "service.crash",
        "no service exited",
    );
    // Recovered at 4 s: an exit at 8 s is nobody's plan.
    run.exit(8000.0, 1).assert(
        "no_unplanned_exits",
        Fail,
        "service.crash",
        "`main` exited on its own at 8.0 s",
    );
}

// recover_within

#[test]
fn recover_within_passes_when_success_returns_in_time() {
    let run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 4500.0, Outcome::Http5xx);
    run.assert(
        "recover_within",
        Pass,
        "recovery.timeout",
        "recovered within 0.50 s (limit 3s) after 1 fault(s)",
    );
    Run::new().assert(
        "recover_within",
        Skip,
        "recovery.timeout",
        "no fault was injected and no service crashed",
    );
}

#[test]
fn recovery_is_dated_at_the_first_success_of_the_good_window() {
    // 95% over 2 s (20 requests) tolerates one failure, so the first good window after the
    // clearing at 4 s holds the last failure (4.4 s) at its head. Recovery is the success
    // after it (4.5 s), and the failure belongs to the fault, not to the steady rate.
    let run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 4500.0, Outcome::Http5xx);
    let v = run.assert("recover_within", Pass, "recovery.timeout", "0.50 s");
    assert_eq!(v.evidence["windows"][0]["recovered_ms"], json!(4500.0));
    let v = run.assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00%",
    );
    assert_eq!(v.evidence["by_outcome"], json!({"ok": 85}));
}

#[test]
fn recover_within_fails_when_success_never_returns() {
    let run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, LOAD_END, Outcome::Http5xx);
    run.assert(
        "recover_within",
        Fail,
        "recovery.timeout",
        "success rate did not return to 95% within 3s after fault 0",
    );
}

#[test]
fn recover_within_judges_recovery_from_an_unplanned_exit() {
    let recovered = Run::new()
        .exit(5000.0, 1)
        .outcome(5000.0, 6000.0, Outcome::ConnectError);
    recovered.assert(
        "recover_within",
        Pass,
        "recovery.timeout",
        "recovered within 1.00 s (limit 3s) after 1 crash(es)",
    );
    let dead = Run::new()
        .exit(5000.0, 1)
        .outcome(5000.0, LOAD_END, Outcome::ConnectError);
    dead.assert(
        "recover_within",
        Fail,
        "recovery.timeout",
        "within 3s after crash of `main` at 5.0 s",
    );
}

// steady_success_rate

#[test]
fn steady_success_rate_passes_and_fails_on_the_rate() {
    Run::new().assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00% of 100 requests outside fault and crash windows succeeded (required 95.00%)",
    );
    let v = every_tenth(Run::new(), Outcome::Http5xx).assert(
        "steady_success_rate",
        Fail,
        "steady.success_rate",
        "90.00% of 100 requests",
    );
    assert_eq!(v.evidence["by_outcome"], json!({"ok": 90, "http_5xx": 10}));
}

#[test]
fn steady_success_rate_leaves_fault_and_crash_windows_out() {
    // Down from 5 s to 6 s: 10 failures of 100 would be 90%.
    let down = Run::new().outcome(5000.0, 6000.0, Outcome::ConnectError);
    down.assert("steady_success_rate", Fail, "steady.success_rate", "90.00%");
    // The same outage after a crash is the crash's window, judged by recovery.
    down.exit(5000.0, 1).assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00% of 90 requests",
    );
    // And after a fault: from 3 s until recovery at 4.5 s.
    let fault = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 4500.0, Outcome::Http5xx);
    fault.assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00% of 85 requests",
    );
}

// no_hangs

#[test]
fn a_timeout_outside_windows_is_a_hang_not_a_low_rate() {
    Run::new().assert(
        "no_hangs",
        Pass,
        "steady.hang",
        "no request outside fault and crash windows timed out",
    );
    let run = Run::new().outcome(4000.0, 4001.0, Outcome::Timeout);
    run.assert(
        "no_hangs",
        Fail,
        "steady.hang",
        "1 request(s) outside fault and crash windows timed out: the service hung; first: request 30 sent at 4.0 s, open 5.0 s",
    );
    run.assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00% of 99 requests outside fault and crash windows succeeded (required 95.00%); 1 hung request(s) judged by no_hangs",
    );
    let mut no_load = Run::new();
    no_load.has_load = false;
    assert!(no_load.verdict("no_hangs").is_none());
}

#[test]
fn with_hang_after_a_slow_success_is_a_hang() {
    let mut run = Run::new();
    run.requests[30] = req(30, 4000.0, 1500.0, Outcome::Ok);
    run.assert("no_hangs", Pass, "steady.hang", "timed out");
    run.expect.hang_after = Some(Dur::from_secs(1));
    run.assert(
        "no_hangs",
        Fail,
        "steady.hang",
        "1 request(s) outside fault and crash windows timed out or stayed open past 1s",
    );
}

#[test]
fn a_timeout_in_a_fault_window_is_fail_fasts_business() {
    let run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 3500.0, Outcome::Timeout);
    run.assert("no_hangs", Pass, "steady.hang", "no request");
    run.assert(
        "fail_fast",
        Fail,
        "degrade.hang",
        "5 of 10 requests during faults and crashes stayed open longer than 2s (slowest 5000 ms)",
    );
}

// fail_fast

#[test]
fn fail_fast_passes_on_quick_errors_and_skips_without_windows() {
    let run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 4000.0, Outcome::Http5xx);
    run.assert(
        "fail_fast",
        Pass,
        "degrade.hang",
        "all 10 requests during faults and crashes ended within 2s (slowest 20 ms)",
    );
    Run::new().assert(
        "fail_fast",
        Skip,
        "degrade.hang",
        "no fault was injected and no service crashed",
    );
}

#[test]
fn fail_fast_fails_on_a_request_hanging_after_a_crash() {
    let run = Run::new()
        .exit(5000.0, 1)
        .outcome(5000.0, 5100.0, Outcome::Timeout)
        .outcome(5100.0, 6000.0, Outcome::ConnectError);
    run.assert(
        "fail_fast",
        Fail,
        "degrade.hang",
        "1 of 10 requests during faults and crashes stayed open longer than 2s",
    );
}

// offline_*

const PROMPTS: &[&str] = &[
    r#"{"prompt": "a", "expect": ["river"]}"#,
    r#"{"prompt": "b"}"#,
];

const ANSWERS: &[&str] = &[
    r#"{"prompt": "a", "text": "the River flows", "tokens": 3, "finish_reason": "length"}"#,
    r#"{"prompt": "b", "text": "x", "tokens": 1, "finish_reason": "stop"}"#,
];

#[test]
fn offline_checks_pass_on_a_batch_that_did_its_work() {
    let run = Run::offline(PROMPTS, Some(ANSWERS), 0, 800.0, Some(1000));
    run.assert(
        "offline_exit",
        Pass,
        "offline.exit",
        "exited with code 0 after 0.8 s",
    );
    run.assert(
        "offline_within",
        Pass,
        "offline.slow",
        "within its bound of 1s",
    );
    run.assert(
        "offline_count",
        Pass,
        "offline.count",
        "wrote 2 outputs, expected 2",
    );
    run.assert("offline_schema", Pass, "offline.schema", "all 2 outputs");
    run.assert(
        "offline_keywords",
        Pass,
        "offline.keywords",
        "all 1 answers",
    );
    // Not an offline suite: none of them.
    assert!(Run::new().verdict("offline_exit").is_none());
    // No bound, no keywords expected: those two are not checks of this suite.
    let plain = Run::offline(&[PROMPTS[1]], Some(&[ANSWERS[1]]), 0, 800.0, None);
    assert!(plain.verdict("offline_within").is_none());
    assert!(plain.verdict("offline_keywords").is_none());
}

#[test]
fn offline_checks_fail_each_on_its_own_fault() {
    let crashed = Run::offline(PROMPTS, Some(&ANSWERS[..1]), 1, 300.0, None);
    crashed.assert(
        "offline_exit",
        Fail,
        "offline.exit",
        "exited with code 1 after 0.3 s",
    );
    // A crash is one failure: what it left unwritten is not counted again.
    crashed.assert(
        "offline_count",
        NotJudged,
        "offline.count",
        "did not finish",
    );
    let slow = Run::offline(PROMPTS, Some(ANSWERS), 0, 1500.0, Some(1000));
    slow.assert(
        "offline_within",
        Fail,
        "offline.slow",
        "after 1.5 s (past its bound of 1s)",
    );
    let short = Run::offline(PROMPTS, Some(&ANSWERS[..1]), 0, 300.0, None);
    short.assert(
        "offline_count",
        Fail,
        "offline.count",
        "wrote 1 outputs, expected 2; 1 prompt(s) unanswered, the first: \"b\"",
    );
    Run::offline(PROMPTS, None, 0, 300.0, None).assert(
        "offline_count",
        Fail,
        "offline.count",
        "wrote no outputs file",
    );
    let malformed = [
        ANSWERS[0],
        r#"{"prompt": "b", "text": "x", "tokens": "1", "finish_reason": "stop"}"#,
    ];
    Run::offline(PROMPTS, Some(&malformed), 0, 300.0, None).assert(
        "offline_schema",
        Fail,
        "offline.schema",
        "1 of 2 outputs are malformed; the first, line 2: `tokens` is not a count",
    );
    let stranger = [
        ANSWERS[0],
        r#"{"prompt": "c", "text": "x", "tokens": 1, "finish_reason": "stop"}"#,
    ];
    Run::offline(PROMPTS, Some(&stranger), 0, 300.0, None).assert(
        "offline_schema",
        Fail,
        "offline.schema",
        "its prompt \"c\" is none of the input's",
    );
    let off_topic = [
        r#"{"prompt": "a", "text": "a lake", "tokens": 2, "finish_reason": "stop"}"#,
        ANSWERS[1],
    ];
    Run::offline(PROMPTS, Some(&off_topic), 0, 300.0, None).assert(
        "offline_keywords",
        Fail,
        "offline.keywords",
        "1 of 1 answers lack expected keywords; the first, to \"a\": lacks [\"river\"]",
    );
}

// api_conformant

#[test]
fn api_conformant_passes_when_every_answer_conforms_and_is_off_unless_asked() {
    Run::new().assert(
        "api_conformant",
        Pass,
        "api.schema",
        "all 100 answers had the shape the API promises",
    );
    let mut off = Run::new();
    off.expect.api_conformant = false;
    off.requests[3].nonconformant = Some("no usage".into());
    assert!(off.verdict("api_conformant").is_none());
}

#[test]
fn api_conformant_fails_naming_the_first_nonconformant_answer() {
    let mut run = Run::new();
    run.requests[12].nonconformant = Some("choice 0 ended without a finish_reason".into());
    run.requests[40].outcome = Outcome::BadResponse;
    run.requests[40].error = Some("data after [DONE]".into());
    // A failed request is not an answer: other checks judge it.
    run.requests[50].outcome = Outcome::Http5xx;
    let v = run.assert(
        "api_conformant",
        Fail,
        "api.schema",
        "2 of 99 answers broke the API's shape; the first, request 12 at 2.2 s: \
         choice 0 ended without a finish_reason",
    );
    assert_eq!(
        v.evidence["examples"][1]["problem"],
        json!("data after [DONE]")
    );
    Run::before_load("service `main` never became ready").assert(
        "api_conformant",
        NotJudged,
        "api.schema",
        "never became ready",
    );
}

// deterministic

/// A fixture run whose determinism probe got `first` and `second`, or `error`.
fn probed(first: Option<&str>, second: Option<&str>, error: Option<&str>) -> super::fixture::Run {
    let mut run = Run::new().event(
        LOAD_END + 150.0,
        What::Determinism {
            first: first.map(str::to_string),
            second: second.map(str::to_string),
            error: error.map(str::to_string),
        },
    );
    run.expect.deterministic = true;
    run
}

#[test]
fn deterministic_passes_on_the_same_text_twice() {
    probed(Some("a b c"), Some("a b c"), None).assert(
        "deterministic",
        Pass,
        "api.nondeterministic",
        "gave the same text twice (5 chars)",
    );
    assert!(Run::new().verdict("deterministic").is_none());
}

#[test]
fn deterministic_fails_on_two_texts_or_no_answer() {
    probed(Some("a b"), Some("a c"), None).assert(
        "deterministic",
        Fail,
        "api.nondeterministic",
        "gave two texts: \"a b\" then \"a c\"",
    );
    probed(Some("a b"), None, Some("POST /v1/completions: 503")).assert(
        "deterministic",
        Fail,
        "api.nondeterministic",
        "the seeded probe got no answer: POST /v1/completions: 503",
    );
    let mut never = Run::new();
    never.expect.deterministic = true;
    never.assert(
        "deterministic",
        NotJudged,
        "api.nondeterministic",
        "never ran",
    );
}

// no_lost_requests

#[test]
fn no_lost_requests_passes_when_every_request_has_one_record() {
    Run::new().assert(
        "no_lost_requests",
        Pass,
        "loss.request",
        "all 100 requests sent have exactly one terminal record",
    );
    // A stream cut by the connection breaking is an error the client saw, not a silent loss.
    let mut cut = Run::new();
    cut.requests[7].outcome = Outcome::StreamTruncated;
    cut.assert("no_lost_requests", Pass, "loss.request", "all 100");
    let mut no_load = Run::new();
    no_load.has_load = false;
    no_load.assert(
        "no_lost_requests",
        Skip,
        "loss.request",
        "the suite sends no load",
    );
}

#[test]
fn no_lost_requests_fails_on_missing_duplicated_or_silently_ended_requests() {
    let mut missing = Run::new();
    missing.requests.remove(7);
    let v = missing.assert(
        "no_lost_requests",
        Fail,
        "loss.request",
        "100 requests sent, 99 records: 1 missing, 0 duplicated",
    );
    assert_eq!(v.evidence["missing_ids"], json!([7]));
    let mut twice = Run::new();
    twice.requests.push(twice.requests[7].clone());
    twice.assert(
        "no_lost_requests",
        Fail,
        "loss.request",
        "100 requests sent, 101 records: 0 missing, 1 duplicated",
    );
    let mut silent = Run::new();
    silent.requests[7].outcome = Outcome::StreamTruncated;
    silent.requests[7].clean_end = true;
    silent.assert(
        "no_lost_requests",
        Fail,
        "loss.request",
        "1 stream(s) ended without [DONE] and without an error",
    );
    let mut unfinished = Run::new();
    unfinished
        .events
        .retain(|e| !matches!(e.what, What::LoadFinished(_)));
    unfinished.assert(
        "no_lost_requests",
        Fail,
        "loss.request",
        "the load generator never finished",
    );
}

// no_orphans

#[test]
fn no_orphans_passes_when_teardown_left_nothing() {
    Run::new().assert(
        "no_orphans",
        Pass,
        "orphan.process",
        "all 2 processes seen in service trees were gone after teardown",
    );
}

#[test]
fn no_orphans_fails_on_a_survivor_or_no_teardown() {
    let mut left = Run::new();
    for e in &mut left.events {
        if let What::ServiceTeardown { survivors, .. } = &mut e.what {
            survivors.push(Survivor {
                pid: 4242,
                cmdline: "python -m engine".into(),
            });
        }
    }
    left.assert(
        "no_orphans",
        Fail,
        "orphan.process",
        "1 process(es) outlived teardown: 4242 `python -m engine`",
    );
    let mut escaped = Run::new();
    for e in &mut escaped.events {
        if let What::ServiceTeardown { escaped, .. } = &mut e.what {
            escaped.push(crate::record::Escape {
                pid: 4343,
                pgid: 4343,
                cmdline: "shakedown::escaped".into(),
                at_teardown: true,
            });
        }
    }
    escaped.assert(
        "no_orphans",
        Fail,
        "orphan.process",
        "1 process(es) escaped their process group: 4343 `shakedown::escaped` (service main, killed at teardown)",
    );
    let mut none = Run::new();
    none.events
        .retain(|e| !matches!(e.what, What::ServiceTeardown { .. }));
    none.assert(
        "no_orphans",
        Fail,
        "orphan.process",
        "no teardown was recorded",
    );
}

// log_forbid

#[test]
fn log_forbid_passes_and_fails_on_the_services_own_lines() {
    let mut run = Run::new().log(2000.0, "out", "INFO serving").log(
        11_300.0,
        "---",
        "Traceback in a supervisor note is not the service's",
    );
    assert!(run.verdict("log_forbid").is_none());
    run.expect.log_forbid = vec!["Traceback".into(), "CUDA error".into()];
    run.assert(
        "log_forbid",
        Pass,
        "log.forbidden",
        "no line of 1 service log(s) written before teardown matches a forbidden pattern",
    );
    let run = run.log(3000.0, "err", "RuntimeError: CUDA error: out of memory");
    run.assert(
        "log_forbid",
        Fail,
        "log.forbidden",
        "1 service log line(s) written before teardown match a forbidden pattern, first: RuntimeError: CUDA error: out of memory",
    );
}

#[test]
fn log_forbid_with_a_bad_regex_is_an_error_not_a_verdict() {
    let mut run = Run::new();
    run.expect.log_forbid = vec!["(unclosed".into()];
    let dir = run.write();
    let records = RunRecords::read(dir.path()).expect("reads");
    assert!(matches!(
        super::judge(&records),
        Err(JudgeError::Regex { .. })
    ));
}

// health_truthful

#[test]
fn health_truthful_passes_when_health_tells_the_truth() {
    let healthy = Run::new().health(LOAD_START, LOAD_END, 200);
    healthy.assert(
        "health_truthful",
        Pass,
        "health.lie",
        "40 health polls; none answered 200 while requests were failing",
    );
    let honest = Run::new()
        .outcome(4000.0, 8000.0, Outcome::Http5xx)
        .health(LOAD_START, 4000.0, 200)
        .health(4000.0, 8500.0, 503)
        .health(8500.0, LOAD_END, 200);
    honest.assert("health_truthful", Pass, "health.lie", "40 health polls");
    Run::new().assert(
        "health_truthful",
        Skip,
        "health.lie",
        "no health path was polled",
    );
}

#[test]
fn health_truthful_fails_on_200_while_requests_fail() {
    // Failing from 4 s to 8 s; the lie counts once no success is left in the last 2 s (6 s)
    // and until one is (the request sent at 8 s ends after the 8 s poll).
    let run = Run::new()
        .outcome(4000.0, 8000.0, Outcome::Http5xx)
        .health(LOAD_START, LOAD_END, 200);
    run.assert(
        "health_truthful",
        Fail,
        "health.lie",
        "health answered 200 in 9 poll(s) while requests were failing or hanging, first at 6.0 s",
    );
}

// gpu_memory_released

#[test]
fn gpu_memory_released_judges_the_after_teardown_record() {
    assert!(Run::new().verdict("gpu_memory_released").is_none());
    let after = |evidence: serde_json::Value| {
        Run::new().event(11_450.0, What::GpuAfterTeardown(What::map(evidence)))
    };
    after(json!({"returned": true, "held_by_service_processes": [], "devices_short": []})).assert(
        "gpu_memory_released",
        Pass,
        "gpu.memory_held",
        "GPU memory was back to its pre-run level after teardown",
    );
    after(json!({"returned": false, "held_by_service_processes": [{"pid": 300, "used": 1024}], "devices_short": [0]}))
        .assert(
            "gpu_memory_released",
            Fail,
            "gpu.memory_held",
            "GPU memory still held after teardown: 1 service process(es), device(s) short of pre-run free memory: [0]",
        );
}

// latency_p99, ttft_p99, tpot_p99, throughput_min

/// A bound as a suite writes it.
fn below(s: &str) -> Option<crate::units::Below> {
    Some(s.parse().expect("a valid bound"))
}

#[test]
fn latency_p99_passes_under_its_bound_and_ignores_fault_windows() {
    let mut run = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, 4000.0, Outcome::Ok);
    // Inside the fault window requests are slow; outside they take 20 ms.
    run = run.stream(3000.0, 4000.0, 1500.0, 2500.0, 4);
    run.expect.latency_p99 = below("<100ms");
    run.assert(
        "latency_p99",
        Pass,
        "perf.latency",
        "p99 end-to-end latency 20.0 ms",
    );
    assert!(Run::new().verdict("latency_p99").is_none());
}

#[test]
fn latency_p99_fails_over_its_bound() {
    // 2 requests in 100 take 300 ms: the p99 (nearest rank, the 99th of 100) is 300 ms.
    let mut run = Run::new().stream(1000.0, 1200.0, 50.0, 300.0, 4);
    run.expect.latency_p99 = below("<= 250ms");
    run.assert(
        "latency_p99",
        Fail,
        "perf.latency",
        "p99 end-to-end latency 300.0 ms",
    );
}

#[test]
fn ttft_p99_is_judged_on_streams_and_not_without_them() {
    let mut run = Run::new().stream(LOAD_START, LOAD_END, 5.0, 20.0, 4);
    run.expect.ttft_p99 = below("<10ms");
    run.assert(
        "ttft_p99",
        Pass,
        "perf.ttft",
        "p99 time to first token 5.0 ms",
    );
    run.expect.ttft_p99 = below("<5ms");
    run.assert("ttft_p99", Fail, "perf.ttft", "(required < 5ms)");
    let mut plain = Run::new();
    plain.expect.ttft_p99 = below("<10ms");
    plain.assert(
        "ttft_p99",
        NotJudged,
        "perf.ttft",
        "had a time to first token",
    );
}

#[test]
fn tpot_p99_is_the_time_per_token_after_the_first() {
    // (20 − 5) / (4 − 1) = 5 ms per token.
    let mut run = Run::new().stream(LOAD_START, LOAD_END, 5.0, 20.0, 4);
    run.expect.tpot_p99 = below("<= 5ms");
    run.assert(
        "tpot_p99",
        Pass,
        "perf.tpot",
        "p99 time per output token 5.0 ms",
    );
    run.expect.tpot_p99 = below("<5ms");
    run.assert("tpot_p99", Fail, "perf.tpot", "5.0 ms");
}

#[test]
fn throughput_min_counts_steady_requests_over_the_undisturbed_load() {
    use crate::suite::ThroughputMin;
    // 100 requests of 4 tokens over the 10 s load: 10 requests/s, 40 tokens/s.
    let mut run = Run::new().stream(LOAD_START, LOAD_END, 5.0, 20.0, 4);
    run.expect.throughput_min = Some(ThroughputMin {
        requests_per_s: Some(10.0),
        output_tokens_per_s: Some(40.0),
    });
    run.assert(
        "throughput_min",
        Pass,
        "perf.throughput",
        "10.00 requests/s, 40.0 output tokens/s over 10.0 s",
    );
    run.expect.throughput_min = Some(ThroughputMin {
        requests_per_s: None,
        output_tokens_per_s: Some(50.0),
    });
    run.assert(
        "throughput_min",
        Fail,
        "perf.throughput",
        "only 40.0 output tokens/s (required 50)",
    );
    // Half the requests fail: 5 requests/s.
    let mut failing = every_tenth(Run::new(), Outcome::Http5xx);
    for n in 0..50 {
        let t = LOAD_START + n as f64 * 200.0;
        failing = failing.outcome(t, t + 1.0, Outcome::Http5xx);
    }
    failing.expect.steady_success_rate = None;
    failing.expect.throughput_min = Some(ThroughputMin {
        requests_per_s: Some(6.0),
        output_tokens_per_s: None,
    });
    failing.assert(
        "throughput_min",
        Fail,
        "perf.throughput",
        "only 5.00 requests/s",
    );
}

#[test]
fn perf_thresholds_are_not_judged_before_load() {
    let mut run = Run::before_load("the service never became ready");
    run.expect.latency_p99 = below("<1s");
    run.assert("latency_p99", NotJudged, "perf.latency", "before load");
}

// accuracy, accuracy_after_recovery

#[test]
fn accuracy_passes_when_enough_probes_are_right() {
    use crate::record::ProbeRound::*;
    let run = Run::new()
        .accuracy(0.6, true)
        .answers(
            Baseline,
            500.0,
            &[Some(" 5 "), Some("The answer is 42."), Some("-3")],
        )
        // After recovery one is wrong (2 of 3 = 66.7% >= 60%).
        .answers(
            AfterRecovery,
            11_100.0,
            &[Some("5"), Some("41"), Some("-3")],
        );
    run.assert(
        "accuracy",
        Pass,
        "accuracy.below",
        "3 of 3 probe(s) answered right before load",
    );
    run.assert(
        "accuracy_after_recovery",
        Pass,
        "accuracy.after_recovery",
        "2 of 3 probe(s) answered right after load and recovery (66.7%, required 60.0%)",
    );
    assert!(Run::new().verdict("accuracy").is_none());
    let no_after = Run::new()
        .accuracy(0.6, false)
        .answers(Baseline, 500.0, &[Some("5"); 3]);
    assert!(no_after.verdict("accuracy_after_recovery").is_none());
}

#[test]
fn accuracy_fails_on_wrong_or_missing_answers() {
    use crate::record::ProbeRound::*;
    // "6" is not "5", "4 2" does not contain "42", "-3." does not match ^-3$.
    let run = Run::new()
        .accuracy(0.9, true)
        .answers(Baseline, 500.0, &[Some("6"), Some("4 2"), Some("-3.")])
        .answers(AfterRecovery, 11_100.0, &[Some("5"), None, Some("-3")]);
    let v = run.assert(
        "accuracy",
        Fail,
        "accuracy.below",
        "0 of 3 probe(s) answered right",
    );
    assert_eq!(v.evidence["wrong"][0]["answer"], "6");
    let v = run.assert(
        "accuracy_after_recovery",
        Fail,
        "accuracy.after_recovery",
        "2 of 3 probe(s)",
    );
    assert_eq!(v.evidence["wrong"][0]["error"], "engine dead");
}

#[test]
fn accuracy_after_recovery_judges_each_fault_round_and_the_worst_speaks() {
    use crate::record::ProbeRound::*;
    let run = Run::new()
        .accuracy(0.9, true)
        .answers(Baseline, 500.0, &[Some("5"), Some("42"), Some("-3")])
        // Right after fault 0 the service is up but wrong; after load it is right again.
        .answers(AfterFault(0), 5_000.0, &[Some("6"), Some("42"), Some("-3")])
        .answers(
            AfterRecovery,
            11_100.0,
            &[Some("5"), Some("42"), Some("-3")],
        );
    let v = run.assert(
        "accuracy_after_recovery",
        Fail,
        "accuracy.after_recovery",
        "2 of 3 probe(s) answered right after fault 0 recovered (66.7%, required 90.0%); 2 round(s): 1 passed, 1 failed",
    );
    assert_eq!(v.lines.len(), 2, "{v:#?}");
}

#[test]
fn accuracy_is_not_judged_when_the_probes_were_never_sent() {
    let run = Run::before_load("the service never became ready").accuracy(0.9, true);
    run.assert("accuracy", NotJudged, "accuracy.below", "before load");
    run.assert(
        "accuracy_after_recovery",
        NotJudged,
        "accuracy.after_recovery",
        "before load",
    );
}

// input.*

/// A malformed-input case answered as it should be: a shaped 400, in time, service fine after.
fn case(name: &str) -> InputRecord {
    InputRecord {
        case: name.into(),
        category: "json".into(),
        expect: "4xx".into(),
        mode: "normal".into(),
        t_ms: 2000.0,
        status: Some(400),
        result: "answered".into(),
        elapsed_ms: 5.0,
        answer_bound_ms: Some(1000.0),
        error_shaped: Some(true),
        health_after: Some(200),
        valid_after: Some(200),
        ..InputRecord::default()
    }
}

/// A disconnect case whose running gauge came back (`settled`) or did not.
fn disconnect(name: &str, settled: bool) -> InputRecord {
    InputRecord {
        expect: "not_5xx".into(),
        mode: "disconnect_mid_stream".into(),
        status: None,
        result: "disconnected".into(),
        answer_bound_ms: None,
        error_shaped: None,
        gauge: Some(GaugeCheck {
            baseline: 0.0,
            last: if settled { 0.0 } else { 1.0 },
            settled_ms: settled.then_some(50.0),
            bound_ms: 5000.0,
        }),
        ..case(name)
    }
}

#[test]
fn input_checks_pass_on_well_answered_cases() {
    assert!(Run::new().verdict("input_no_server_error").is_none());
    let mut run = Run::new();
    run.input = vec![case("good"), disconnect("gone", true)];
    for (check, id, summary) in [
        (
            "input_no_server_error",
            "input.server_error",
            "2 case(s): none got a 5xx",
        ),
        (
            "input_no_crash",
            "input.crash",
            "2 case(s): none left the service",
        ),
        (
            "input_no_leak",
            "input.leak",
            "1 case(s): none left the running gauge",
        ),
        (
            "input_error_shape",
            "input.error_shape",
            "1 case(s): none expecting a 4xx",
        ),
        (
            "input_answer_time",
            "input.slow",
            "1 case(s): none went unanswered",
        ),
    ] {
        run.assert(check, Pass, id, summary);
    }
}

#[test]
fn each_input_check_fails_on_its_own_bad_case() {
    let bad: [(&str, &str, InputRecord); 5] = [
        (
            "input_no_server_error",
            "input.server_error",
            InputRecord {
                expect: "not_5xx".into(),
                status: Some(500),
                ..case("bad")
            },
        ),
        (
            "input_no_crash",
            "input.crash",
            InputRecord {
                health_after: None,
                ..case("bad")
            },
        ),
        ("input_no_leak", "input.leak", disconnect("bad", false)),
        (
            "input_error_shape",
            "input.error_shape",
            InputRecord {
                error_shaped: Some(false),
                ..case("bad")
            },
        ),
        (
            "input_answer_time",
            "input.slow",
            InputRecord {
                status: None,
                result: "timeout".into(),
                elapsed_ms: 1000.0,
                ..case("bad")
            },
        ),
    ];
    for (check, id, record) in bad {
        let mut run = Run::new();
        run.input = vec![case("good"), record];
        let v = run.assert(check, Fail, id, "1 of ");
        assert!(v.summary.ends_with(": bad"), "{v:#?}");
    }
    // A disconnect with no running gauge to read cannot be judged for leaks.
    let mut run = Run::new();
    let mut blind = disconnect("blind", true);
    blind.gauge = None;
    run.input = vec![blind];
    run.assert(
        "input_no_leak",
        Skip,
        "input.leak",
        "the service exports no vllm:num_requests_running",
    );
}

// The course of a run: ended before load.

const NOT_READY: &str = "service `main` was not ready within 60s (command: `vllm serve m`); its last log lines:\n    loading weights 40%";

#[test]
fn checks_of_load_are_not_judged_when_the_run_ended_before_load() {
    let verdicts = Run::before_load(NOT_READY).verdicts();
    for check in [
        "recover_within",
        "steady_success_rate",
        "no_hangs",
        "fail_fast",
        "no_lost_requests",
        "health_truthful",
    ] {
        let v = verdicts
            .iter()
            .find(|v| v.check == check)
            .unwrap_or_else(|| panic!("no verdict for {check}"));
        assert_eq!(v.status, NotJudged, "{v:#?}");
        assert_eq!(
            v.summary,
            "not judged: the run ended before load: service `main` was not ready within 60s (command: `vllm serve m`)",
        );
    }
    assert!(!verdicts.iter().any(|v| v.status == Fail), "{verdicts:#?}");
}

#[test]
fn a_run_that_ended_before_load_reports_its_error_once() {
    let dir = Run::before_load(NOT_READY).write();
    let report = crate::report::judge(dir.path()).expect("judged");
    assert_eq!(report.status, crate::report::RunStatus::Error);
    assert_eq!(report.error.as_deref(), Some(NOT_READY));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<error ").count(), 1, "{junit}");
    assert!(junit.contains("loading weights 40%"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

// The course of a run: interrupted.

#[test]
fn a_fault_whose_instant_never_came_is_not_judged() {
    let run = Run::new().planned_fault(8000.0, 9000.0).interrupt(6000.0);
    run.assert(
        "faults_injected",
        NotJudged,
        "fault.not_injected",
        "not judged: the run was interrupted by SIGINT at 6.0 s, before fault 0 at 8.0 s",
    );
}

#[test]
fn a_recovery_whose_deadline_never_came_is_not_judged() {
    // Cleared at 4 s, deadline 7 s, interrupted at 5 s while still failing.
    let cut = Run::new()
        .fault(3000.0, 4000.0)
        .outcome(3000.0, LOAD_END, Outcome::Http5xx);
    cut.clone().interrupt(5000.0).assert(
        "recover_within",
        NotJudged,
        "recovery.timeout",
        "not judged: the run was interrupted by SIGINT at 5.0 s, before the recovery deadline of fault 0",
    );
    // Interrupted past the deadline, still failing: that is a failure.
    cut.interrupt(8000.0)
        .assert("recover_within", Fail, "recovery.timeout", "after fault 0");
}

#[test]
fn a_fault_injected_and_recovered_before_the_interrupt_still_passes() {
    let run = Run::new()
        .fault(2000.0, 2500.0)
        .outcome(2000.0, 3000.0, Outcome::Http5xx)
        .planned_fault(8000.0, 9000.0)
        .interrupt(6000.0);
    run.assert(
        "faults_injected",
        Pass,
        "fault.not_injected",
        "all 1 fault(s) were injected; not judged: fault 1 at 8.0 s (the run was interrupted by SIGINT at 6.0 s)",
    );
    run.assert(
        "recover_within",
        Pass,
        "recovery.timeout",
        "recovered within 0.50 s (limit 3s) after 1 fault(s)",
    );
    // Requests the interrupt cut are nobody's failure.
    run.assert("no_lost_requests", Pass, "loss.request", "all 50 requests");
}

#[test]
fn requests_aborted_by_an_interrupt_count_for_nothing() {
    let run = Run::new()
        .outcome(5900.0, 6000.0, Outcome::Timeout)
        .interrupt(6000.0);
    run.assert("no_hangs", Pass, "steady.hang", "no request");
    run.assert(
        "steady_success_rate",
        Pass,
        "steady.success_rate",
        "100.00% of 49 requests",
    );
}

// ready_within, startup_refused

#[test]
fn ready_within_passes_and_fails_on_the_first_readiness() {
    let mut run = Run::new();
    assert!(run.verdict("ready_within").is_none());
    run.expect.ready_within = Some(Dur::from_secs(1));
    run.assert(
        "ready_within",
        Pass,
        "startup.slow",
        "every service was ready within 1s of its start",
    );
    run.expect.ready_within = Some(Dur::from_millis(100));
    run.assert(
        "ready_within",
        Fail,
        "startup.slow",
        "ready later than 100ms: `main` after 0.49 s",
    );
}

#[test]
fn startup_refused_fails_when_the_service_starts_and_passes_when_it_refuses_saying_why() {
    let mut started = Run::new();
    assert!(started.verdict("startup_refused").is_none());
    started.expect.startup_fails = true;
    started.assert(
        "startup_refused",
        Fail,
        "startup.accepted",
        "`main` accepted the configuration it should refuse: ready after 0.5 s",
    );
    let mut refused = Run::bare()
        .event(
            10.0,
            What::ServiceSpawn {
                pid: 100,
                generation: 0,
                argv: vec!["serve".into()],
            },
        )
        .log(30.0, "err", "error: --max-model-len must be at least 1")
        .log(31.0, "err", "For more information, try '--help'.")
        .event(
            40.0,
            What::ServiceExit {
                pid: 100,
                generation: 0,
                code: Some(2),
                signal: None,
                uptime_ms: 30.0,
                during_teardown: false,
            },
        );
    refused.expect.startup_fails = true;
    refused.assert(
        "startup_refused",
        Pass,
        "startup.silent",
        "failed fast refusing its configuration: exit 2 after 0.0 s: error: --max-model-len must be at least 1",
    );
}

/// A soak's process samples: steady, and noisy by a seeded ±1 MiB.
fn steady_procs(run: Run) -> Run {
    use rand::Rng;
    let mut rng = crate::seed::stream(9, "fixture-noise");
    let noise: Vec<u64> = (0..200).map(|_| rng.random_range(0..2u64 << 20)).collect();
    run.procs(move |t| (100 << 20 | noise[(t / 100.0) as usize % 200], 12, 3))
}

#[test]
fn stability_checks_stay_off_outside_a_soak() {
    for check in [
        "failures",
        "memory_growth",
        "fd_growth",
        "thread_growth",
        "latency_drift",
        "throughput_drift",
        "stuck_after",
    ] {
        assert!(Run::new().verdict(check).is_none(), "{check}");
    }
}

#[test]
fn stability_failures_fail_past_the_budget_and_pass_within_it() {
    Run::soak().assert(
        "failures",
        Pass,
        "stability.failures",
        "none of 100 requests failed",
    );
    let failing = Run::soak().outcome(5000.0, 5500.0, Outcome::Http5xx);
    failing.assert(
        "failures",
        Fail,
        "stability.failures",
        "5 of 100 requests failed (5 Http5xx), allowed 0",
    );
    let mut budget = failing;
    if let Some(st) = &mut budget.stability {
        st.max_failures = 5;
    }
    budget.assert("failures", Pass, "stability.failures", "allowed 5");
}

#[test]
fn stability_memory_growth_fails_on_a_leak_and_passes_on_noise_and_a_step() {
    steady_procs(Run::soak()).assert(
        "memory_growth",
        Pass,
        "stability.memory_growth",
        "3 series of memory",
    );
    // 1 MiB per 100 ms sample: 81 MiB over the 9 s after warm-up.
    Run::soak()
        .procs(|t| ((100 << 20) + (((t / 100.0) as u64) << 20), 12, 3))
        .assert(
            "memory_growth",
            Fail,
            "stability.memory_growth",
            "main (tree) grows 843.75 GiB/24h",
        );
    // Cache warm-up: +64 MiB once, at 3 s, then flat.
    Run::soak()
        .procs(|t| ((100 << 20) + if t >= 3000.0 { 64 << 20 } else { 0 }, 12, 3))
        .assert("memory_growth", Pass, "stability.memory_growth", "steepest");
    // No process samples after the warm-up: nothing to judge.
    Run::soak().assert(
        "memory_growth",
        NotJudged,
        "stability.memory_growth",
        "fewer than 8 samples",
    );
}

#[test]
fn stability_fd_and_thread_growth_fail_on_a_leak_and_pass_when_flat() {
    let flat = steady_procs(Run::soak());
    flat.assert(
        "fd_growth",
        Pass,
        "stability.fd_growth",
        "3 series of open fds",
    );
    flat.assert(
        "thread_growth",
        Pass,
        "stability.thread_growth",
        "3 series of threads",
    );
    let leaking =
        Run::soak().procs(|t| (100 << 20, 12 + (t / 100.0) as u32, 3 + (t / 500.0) as u32));
    leaking.assert(
        "fd_growth",
        Fail,
        "stability.fd_growth",
        "main (tree) grows",
    );
    leaking.assert(
        "thread_growth",
        Fail,
        "stability.thread_growth",
        "main (tree) grows",
    );
}

#[test]
fn stability_latency_drift_fails_when_the_last_window_is_slower() {
    Run::soak().assert(
        "latency_drift",
        Pass,
        "stability.latency_drift",
        "within 25% of the first (30 and 30 requests; p50 only, p99 needs 100 per window)",
    );
    let mut slow = Run::soak();
    for q in slow.requests.iter_mut().filter(|q| q.start_ms() >= 8000.0) {
        q.done_ms = q.start_ms() + 60.0;
    }
    slow.assert(
        "latency_drift",
        Fail,
        "stability.latency_drift",
        "p50 20.0 → 60.0 ms (+200%)",
    );
}

#[test]
fn stability_throughput_drift_fails_when_the_last_window_serves_less() {
    Run::soak().assert(
        "throughput_drift",
        Pass,
        "stability.throughput_drift",
        "10.00 → 10.00 requests/s",
    );
    Run::soak()
        .outcome(8000.0, 9500.0, Outcome::Http5xx)
        .assert(
            "throughput_drift",
            Fail,
            "stability.throughput_drift",
            "(-50%), allowed -10%",
        );
}

#[test]
fn stability_stuck_fails_when_requests_wait_without_tokens() {
    Run::soak().assert(
        "stuck_after",
        Pass,
        "stability.stuck",
        "by the requests' tokens",
    );
    // From 6 s every request times out: open, no token, until the end.
    Run::soak()
        .outcome(6000.0, LOAD_END, Outcome::Timeout)
        .assert(
            "stuck_after",
            Fail,
            "stability.stuck",
            "from 6.0 s: by the requests' tokens",
        );
    // The engine's word: tokens advance, then stop for 3 s while a request runs.
    Run::soak().engine_metrics(|t| (1.0, t.min(5000.0))).assert(
        "stuck_after",
        Fail,
        "stability.stuck",
        "by the engine's counters (/metrics)",
    );
    Run::soak()
        .engine_metrics(|t| (if t < 5000.0 { 1.0 } else { 0.0 }, t.min(5000.0)))
        .assert(
            "stuck_after",
            Pass,
            "stability.stuck",
            "by the engine's counters",
        );
}

#[test]
fn an_unfinished_soak_is_judged_up_to_its_last_record() {
    // Killed at 8 s (or still running): no load end, no teardown, no judge phase.
    let mut run = Run::soak().procs(|t| ((100 << 20) + (((t / 100.0) as u64) << 20), 12, 3));
    run.events.retain(|e| e.t_ms < 8000.0);
    run.requests.retain(|q| q.done_ms < 8000.0);
    run.samples.retain(|s| s.t_ms() < 8000.0);
    let records_end = run.requests.iter().map(|q| q.done_ms).fold(0.0, f64::max);
    let dir = run.write();
    let records = RunRecords::read(dir.path()).expect("reads");
    assert_eq!(records.unfinished_at(), Some(records_end));
    run.assert(
        "memory_growth",
        Fail,
        "stability.memory_growth",
        "main (tree) grows",
    );
    let v = run.assert(
        "failures",
        Pass,
        "stability.failures",
        "none of 70 requests failed",
    );
    assert_eq!(v.evidence["requests"], 70);
    // 5.9 s after the warm-up: two windows of 3 s do not fit, so nothing is compared.
    run.assert(
        "throughput_drift",
        NotJudged,
        "stability.throughput_drift",
        "5.9 s after the warm-up, less than two windows of 3s",
    );
    // Nothing has been torn down and requests are still open: neither is a failure yet.
    run.assert(
        "no_lost_requests",
        NotJudged,
        "loss.request",
        "the run did not finish",
    );
    run.assert(
        "no_orphans",
        NotJudged,
        "orphan.process",
        "the run did not finish",
    );
    // A run that reached its judge phase is finished.
    let done = Run::soak().write();
    assert_eq!(
        RunRecords::read(done.path())
            .expect("reads")
            .unfinished_at(),
        None
    );
}

// known_failures

/// A known failure as a suite lists it.
fn known(id: &str) -> crate::suite::KnownFailure {
    crate::suite::KnownFailure {
        id: id.into(),
        reason: "the engine's health does not see a frozen engine".into(),
        link: Some("https://example.invalid/issue/1".into()),
    }
}

#[test]
fn known_failures_turn_a_listed_failure_into_xfail_and_leave_others_failing() {
    let mut lying = Run::new()
        .outcome(5000.0, 9000.0, Outcome::Http5xx)
        .health(LOAD_START, LOAD_END, 200);
    lying.expect.known_failures = vec![known("health.lie")];
    let v = lying.assert(
        "health_truthful",
        XFail,
        "health.lie",
        "health answered 200",
    );
    assert!(
        v.lines[0].starts_with("known failure: the engine's health"),
        "{v:#?}"
    );
    // Only the listed id is excused: the steady rate the 5xx broke still fails.
    let verdicts = lying.verdicts();
    assert!(verdicts.iter().any(|v| v.status == Fail), "{verdicts:#?}");
    assert!(!verdicts.iter().any(|v| v.status == XPass), "{verdicts:#?}");
}

#[test]
fn known_failures_that_do_not_occur_are_xpass() {
    // The service told the truth: the listed lie is gone, strictly a failure of the run.
    let mut honest = Run::new().health(LOAD_START, LOAD_END, 200);
    honest.expect.known_failures = vec![known("health.lie"), known("no.such_id")];
    let v = honest.assert("health_truthful", XPass, "health.lie", "did not occur");
    assert!(v.status.fails_run());
    honest.assert(
        "known_failures",
        XPass,
        "no.such_id",
        "reported by no check",
    );
    // A listed check that did not judge (no health path polled) is neither.
    let mut unpolled = Run::new();
    unpolled.expect.known_failures = vec![known("health.lie")];
    unpolled.assert(
        "health_truthful",
        Skip,
        "health.lie",
        "no health path was polled",
    );
}

// The course of a run: aborted by a guardrail.

#[test]
fn a_tripped_guardrail_aborts_the_run_and_names_its_id_once() {
    let run = Run::new()
        .outcome(3000.0, LOAD_END, Outcome::Http5xx)
        .event(
            6000.0,
            What::GuardrailTripped {
                guardrail: "error_rate".into(),
                reason: "30 of 30 requests (100 %) failed in the last 3s".into(),
            },
        );
    let dir = run.write();
    let report = crate::report::judge(dir.path()).expect("judged");
    assert_eq!(report.status, crate::report::RunStatus::Aborted);
    assert_eq!(report.status.exit_code(), 1);
    assert_eq!(report.ending_id(), Some("guardrail.error_rate"));
    assert!(
        report
            .failed_ids()
            .contains(&"guardrail.error_rate".to_string())
    );
    let summary = report.summary();
    assert!(summary.contains("ABORTED"), "{summary}");
    assert!(
        summary.contains("failures.md#guardrailerror_rate"),
        "{summary}"
    );
    assert!(summary.contains("replay: shakedown replay"), "{summary}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    assert_eq!(
        junit
            .matches("<failure type=\"guardrail.error_rate\"")
            .count(),
        1,
        "{junit}"
    );
    assert!(!junit.contains("<error "), "{junit}");
}

#[test]
fn checks_after_a_guardrail_cut_are_not_judged() {
    // A fault planned at 8 s never came: the guardrail cut the run at 6 s.
    Run::new()
        .planned_fault(8000.0, 9000.0)
        .event(
            6000.0,
            What::GuardrailTripped {
                guardrail: "memory".into(),
                reason: "the process tree of `main` held 900 MiB".into(),
            },
        )
        .assert(
            "faults_injected",
            NotJudged,
            "fault.not_injected",
            "not judged: the guardrail memory ended the run at 6.0 s",
        );
}

#[test]
fn each_reinjection_is_a_window_of_its_own() {
    // A kill at 2 s, re-injected at 5 s; the exit of the second lands just before its
    // `fault.inject` is recorded, yet inside its window (it began at `fault.reinject`).
    let run = Run::new().fault(2000.0, 2000.0);
    let fault = run.timeline.faults[0].fault_ref();
    let run = run
        .event(
            5000.0,
            What::FaultReinject {
                fault: fault.clone(),
                round: 1,
            },
        )
        .exit(5010.0, 137)
        .inject(0, 5020.0)
        .outcome(2000.0, 2500.0, Outcome::ConnectError)
        .outcome(5000.0, 5500.0, Outcome::ConnectError);
    let dir = run.write();
    let records = RunRecords::read(dir.path()).expect("records");
    let windows = super::recovery::fault_windows(&records);
    assert_eq!(windows.len(), 2, "{windows:#?}");
    assert_eq!(windows[0].start_ms, 2000.0);
    assert_eq!(windows[1].start_ms, 5000.0);
    assert_eq!(windows[1].from_ms, 5020.0);
    let course = super::Course::of(&records);
    assert!(course.unplanned_exits.is_empty(), "{course:#?}");
}
