//! Guardrails end a run early with status `aborted` (a judged prefix, full teardown), and
//! a fault with `reinject` acts again after each restart of its service.

mod util;

use serde_json::Value;
use util::{Case, code, jsonl, mock_suite, show};

/// Streaming load for `secs` seconds at 20 req/s, with a short timeout.
fn load(secs: u32) -> String {
    format!(
        "[load]\nrate = 20\narrival = \"constant\"\ntimeout = \"2s\"\nduration = \"{secs}s\"\nrequest = {{ api = \"chat\", stream = true, max_tokens = 8 }}\n\n"
    )
}

/// Run `case` to its guardrail's end: exit 1, status `aborted` with the guardrail's id,
/// long before its 30 s of load. Returns the report and the output.
fn aborted(case: &Case, guardrail: &str) -> (Value, String) {
    let out = case.run();
    let text = show(&out);
    assert_eq!(code(&out), 1, "{text}");
    let report = case.report();
    assert_eq!(report["status"], "aborted", "{text}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.starts_with(&format!("{guardrail}: ")), "{error}");
    // Ended long before the 30 s of load: a prefix, judged.
    assert!(
        report["wall_ms"].as_f64().unwrap_or(f64::MAX) < 20_000.0,
        "{report:#}"
    );
    (report, text)
}

#[test]
fn a_service_failing_outside_faults_trips_the_error_rate_guardrail() {
    // The mock dies for good after 20 requests: every later request fails.
    let suite = mock_suite(
        &["--bug", "crash-under-load", "--bug-after", "20"],
        &format!(
            "{}[guardrail.error_rate]\nabove = 0.5\nfor = \"2s\"\n",
            load(30)
        ),
    );
    let case = Case::new(&suite);
    let (report, text) = aborted(&case, "guardrail.error_rate");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("outside fault windows"), "{error}");
    assert!(text.contains("ABORTED"), "{text}");
    assert!(text.contains("guardrail.error_rate"), "{text}");
    assert!(text.contains("replay: shakedown replay"), "{text}");
    assert_eq!(case.events("guardrail.tripped").len(), 1, "{text}");
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
    assert!(
        junit.contains("<failure type=\"guardrail.error_rate\""),
        "{junit}"
    );
}

#[test]
fn a_healthy_service_and_errors_inside_a_fault_window_trip_nothing() {
    // A kill fault makes requests fail while the service restarts: those errors are the
    // fault's, inside its window, so the guardrail holds; memory stays far below 4 GiB.
    let suite = mock_suite(
        &[],
        &format!(
            "restart = {{ policy = \"always\", max = 3, backoff = \"100ms\" }}\n\n{}\
             [[fault]]\nkind = \"process.kill\"\nat = \"1s\"\n\n\
             [expect]\nrecover_within = \"3s\"\n\n\
             [guardrail.error_rate]\nabove = 0.1\nfor = \"1s\"\n\n\
             [guardrail.memory]\nabove = \"4GiB\"\n",
            load(4)
        ),
    );
    let case = Case::new(&suite);
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.report()["status"], "passed", "{}", show(&out));
    assert!(
        case.events("guardrail.tripped").is_empty(),
        "{}",
        show(&out)
    );
    // The fault did make requests fail: the guardrail had something to ignore.
    let failed = jsonl(&case.run_dir().join("requests.jsonl"))
        .iter()
        .filter(|r| r["outcome"] != "ok")
        .count();
    assert!(failed > 0, "{}", show(&out));
}

#[test]
fn a_process_tree_above_the_memory_bound_trips_the_memory_guardrail() {
    let suite = mock_suite(
        &[],
        &format!(
            "{}[guardrail.memory]\nabove = \"1MiB\"\nservice = \"main\"\n",
            load(30)
        ),
    );
    let case = Case::new(&suite);
    let (report, _) = aborted(&case, "guardrail.memory");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("the process tree of `main` held"), "{error}");
}

#[test]
fn a_reinjected_kill_acts_after_each_restart_and_each_is_a_window() {
    let suite = mock_suite(
        &[],
        &format!(
            "restart = {{ policy = \"always\", max = 5, backoff = \"100ms\" }}\n\n{}\
             [[fault]]\nkind = \"process.kill\"\nat = \"1s\"\nreinject = 2\n\n\
             [expect]\nrecover_within = \"3s\"\n",
            load(8)
        ),
    );
    let case = Case::new(&suite);
    let out = case.run();
    let text = show(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert_eq!(case.events("fault.inject").len(), 3, "{text}");
    let rounds: Vec<u64> = case
        .events("fault.reinject")
        .iter()
        .filter_map(|e| e["round"].as_u64())
        .collect();
    assert_eq!(rounds, [1, 2], "{text}");
    assert!(case.events("service.restart").len() >= 3, "{text}");
    // Each kill's exit lies in its own window: no crash nobody planned.
    assert!(case.failed_ids().is_empty(), "{text}");
    let recovery = case.verdict("recover_within");
    assert_eq!(recovery["status"], "pass", "{text}");
}

#[test]
fn reinject_at_startup_is_refused_where_it_stands() {
    let suite = mock_suite(
        &[],
        &format!(
            "{}[[fault]]\nkind = \"process.kill\"\nat = \"startup\"\nreinject = 2\n",
            load(2)
        ),
    );
    let case = Case::new(&suite);
    let out = std::process::Command::new(util::bin())
        .arg("validate")
        .arg(&case.suite)
        .output()
        .expect("run shakedown validate");
    assert_eq!(code(&out), 2, "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("suite.toml:"), "{text}");
    assert!(text.contains("`reinject`"), "{text}");
    assert!(
        text.contains("not allowed with `at = \"startup\"`"),
        "{text}"
    );
}

#[test]
fn a_wrong_guardrail_is_refused_where_it_stands() {
    for (table, needle) in [
        (
            "[guardrail.error_rate]\nabove = 1.5\nfor = \"2s\"\n",
            "`above` in [guardrail.error_rate] is 1.5, expected a fraction from 0.0 up to",
        ),
        (
            "[guardrail.error_rate]\nabove = 0.5\n",
            "missing `for` in [guardrail.error_rate]",
        ),
        (
            "[guardrail.memory]\nabove = \"lots\"\n",
            "expected a size such as \"4GiB\"",
        ),
        (
            "[guardrail.memory]\nabove = \"1GiB\"\nservice = \"nope\"\n",
            "expected the name of a service: `main`",
        ),
        ("[guardrail]\ncpu = 3\n", "unknown key `cpu` in [guardrail]"),
    ] {
        let case = Case::new(&mock_suite(&[], &format!("{}{table}", load(2))));
        let out = std::process::Command::new(util::bin())
            .arg("validate")
            .arg(&case.suite)
            .output()
            .expect("run shakedown validate");
        let text = show(&out);
        assert_eq!(code(&out), 2, "{text}");
        assert!(text.contains("suite.toml:"), "{text}");
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}
