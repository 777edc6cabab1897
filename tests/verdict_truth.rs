//! Bug classes the verdicts must catch and name by their own id, one failure per fault:
//! a crash nobody planned, a hang outside fault windows, a run that ends before load, and
//! a run interrupted before its checks' moments came.

mod util;

use std::time::Duration;
use util::{Case, code, mock_suite, show, wait_for};

/// The statuses of every check in `report.json`, as `check=status` lines.
fn statuses(case: &Case) -> Vec<(String, String)> {
    case.report()["verdicts"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    (s("check"), s("status"))
                })
                .collect()
        })
        .unwrap_or_default()
}

const EXPECT: &str = r#"[expect]
recover_within = "5s"
steady_success_rate = 0.95
fail_fast = "3s"
no_lost_requests = true
no_orphans = true
health_truthful = true
"#;

/// Streaming load for `secs` seconds at 20 req/s, with a short timeout so hangs show fast.
fn load(secs: u32) -> String {
    format!(
        "[load]\nrate = 20\narrival = \"constant\"\ntimeout = \"2s\"\nduration = \"{secs}s\"\nrequest = {{ api = \"chat\", stream = true, max_tokens = 8 }}\n\n"
    )
}

#[test]
fn a_crash_under_load_is_service_crash_and_its_outage_a_crash_window() {
    let suite = mock_suite(
        &["--bug", "crash-under-load", "--bug-after", "30"],
        &format!(
            "restart = {{ policy = \"on-failure\", max = 2, backoff = \"200ms\" }}\n\n{}{EXPECT}",
            load(5)
        ),
    );
    // The restart policy belongs to the service table, which mock_suite ends.
    let case = Case::new(&suite);
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(case.failed_ids(), ["service.crash"], "{}", show(&out));
    let crash = case.verdict("no_unplanned_exits");
    assert_eq!(crash["id"], "service.crash");
    let text = show(&out);
    // Named in the terminal: service, status, time, and its last words.
    assert!(text.contains("[service.crash]"), "{text}");
    assert!(text.contains("`main` exited on its own at"), "{text}");
    assert!(text.contains("exit code 1"), "{text}");
    assert!(
        text.contains("fatal: corrupted state after 30 requests"),
        "{text}"
    );
    // The outage is judged as a window: recovery after the restart, measured from the exit.
    assert_eq!(case.verdict("recover_within")["status"], "pass", "{text}");
    assert_eq!(
        case.verdict("steady_success_rate")["status"],
        "pass",
        "{text}"
    );
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
    assert!(junit.contains("type=\"service.crash\""), "{junit}");
    assert!(junit.contains("fatal: corrupted state"), "{junit}");
}

#[test]
fn a_suite_testing_its_restart_policy_turns_the_crash_check_off() {
    let suite = mock_suite(
        &["--bug", "crash-under-load", "--bug-after", "30"],
        &format!(
            "restart = {{ policy = \"on-failure\", max = 2, backoff = \"200ms\" }}\n\n{}{EXPECT}no_unplanned_exits = false\n",
            load(5)
        ),
    );
    let case = Case::new(&suite);
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        statuses(&case)
            .iter()
            .all(|(c, _)| c != "no_unplanned_exits"),
        "{}",
        show(&out)
    );
    // Its recovery is still judged, from each exit (each generation crashes after 30).
    let rec = case.verdict("recover_within");
    assert_eq!(rec["status"], "pass", "{rec:#}");
    assert!(
        rec["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("crash(es)"),
        "{rec:#}"
    );
}

#[test]
fn the_healthy_mock_has_no_unplanned_exit_and_no_hang() {
    let case = Case::new(&mock_suite(&[], &format!("{}{EXPECT}", load(3))));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.verdict("no_unplanned_exits")["status"], "pass");
    assert_eq!(case.verdict("no_hangs")["status"], "pass");
}

#[test]
fn a_hang_outside_fault_windows_is_steady_hang_not_a_low_success_rate() {
    let case = Case::new(&mock_suite(
        &["--bug", "hang-under-load", "--bug-after", "20"],
        &format!("{}{EXPECT}", load(3)),
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let hang = case.verdict("no_hangs");
    assert_eq!(hang["status"], "fail", "{}", show(&out));
    assert_eq!(hang["id"], "steady.hang");
    assert_eq!(hang["evidence"]["first_id"], 20, "{hang:#}");
    assert!(show(&out).contains("[steady.hang]"), "{}", show(&out));
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
    assert!(junit.contains("type=\"steady.hang\""), "{junit}");
    assert_ne!(
        case.verdict("steady_success_rate")["status"],
        "fail",
        "{}",
        show(&out)
    );
}

#[test]
fn a_run_that_ends_before_load_judges_nothing_that_needs_load() {
    let case = Case::new(&format!(
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sleep\", \"60\"]\nenv = {{ PORT = \"{{port}}\" }}\nready = {{ http = \"/health\", within = \"500ms\" }}\nstop_grace = \"200ms\"\n\n{}{EXPECT}",
        load(3)
    ));
    let out = case.run();
    assert_eq!(code(&out), 3, "{}", show(&out));
    let text = show(&out);
    assert!(
        text.contains("was not ready within 500ms (command: `sleep 60`); it printed nothing"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    let report = case.report();
    assert_eq!(report["status"], "error");
    for check in [
        "recover_within",
        "steady_success_rate",
        "no_lost_requests",
        "fail_fast",
    ] {
        let v = case.verdict(check);
        assert_eq!(v["status"], "not_judged", "{v:#}");
        assert!(
            v["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("the run ended before load: service `main` was not ready within 500ms"),
            "{v:#}"
        );
    }
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
    assert!(junit.contains("failures=\"0\" errors=\"1\""), "{junit}");
    assert_eq!(junit.matches("<error ").count(), 1, "{junit}");
}

#[test]
fn a_start_up_failure_indents_what_the_service_printed() {
    let case = Case::new(
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sh\", \"-c\", \"echo first >&2; echo second >&2; exit 4\"]\nenv = { PORT = \"{port}\" }\nready = { tcp = true, within = \"10s\" }\n",
    );
    let out = case.run();
    assert_eq!(code(&out), 3, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("exited before it was ready (exit code 4; command: `sh -c echo first >&2; echo second >&2; exit 4`); its last log lines:\n      first\n      second\n"),
        "{text}"
    );
}

#[test]
fn an_interrupt_before_the_fault_and_its_deadline_fails_no_check() {
    // The fault is due at 4 s and recovery may take 5 s: an interrupt at ~2 s reaches neither.
    let case = Case::new(&mock_suite(
        &["--engine", "process"],
        &format!(
            "{}[[fault]]\nkind = \"process.kill\"\nmatch = \"shakedown::engine\"\nat = \"4s\"\n\n{EXPECT}",
            load(20)
        ),
    ));
    let child = case.spawn();
    let requests = case.run_dir().join("requests.jsonl");
    wait_for(Duration::from_secs(20), "requests to flow", || {
        std::fs::read_to_string(&requests).is_ok_and(|s| s.lines().count() >= 5)
    });
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", show(&out));
    let text = show(&out);
    assert!(!text.contains("FAIL"), "{text}");
    let injected = case.verdict("faults_injected");
    assert_eq!(injected["status"], "not_judged", "{injected:#}");
    assert!(
        injected["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted by SIGINT"),
        "{injected:#}"
    );
    assert_eq!(case.report()["status"], "interrupted");
    util::assert_tree_gone(&case.run_dir());
}

#[test]
fn an_interrupt_inside_the_recovery_window_does_not_fail_recovery() {
    // The engine is killed at 1 s and the server restarts only after 3 s of backoff:
    // an interrupt right after the kill cuts the 5 s recovery window short.
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--on-engine-death", "exit"],
        &format!(
            "restart = {{ policy = \"on-failure\", max = 1, backoff = \"3s\" }}\n\n{}[[fault]]\nkind = \"process.kill\"\nmatch = \"shakedown::engine\"\nat = \"1s\"\n\n{EXPECT}",
            load(20)
        ),
    ));
    let child = case.spawn();
    let events = case.run_dir().join("events.jsonl");
    wait_for(Duration::from_secs(20), "the fault", || {
        std::fs::read_to_string(&events).is_ok_and(|s| s.contains("\"fault.inject\""))
    });
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", show(&out));
    let text = show(&out);
    assert!(!text.contains("FAIL"), "{text}");
    assert_eq!(case.verdict("faults_injected")["status"], "pass");
    let rec = case.verdict("recover_within");
    assert_eq!(rec["status"], "not_judged", "{rec:#}");
}
