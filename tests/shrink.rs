//! `shakedown shrink`: a failing run shrinks to the smallest suite that still fails with its
//! verdict id, on the mock.

mod util;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use util::{Case, bin, code, mock_suite, read_json, show, wait_for};

/// Shrink `case`'s run into `case.tmp/shrink` (quiet, `extra` flags added).
fn shrink(case: &Case, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("shrink")
        .arg(case.run_dir())
        .arg("--out")
        .arg(case.tmp.path().join("shrink"))
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("run shakedown shrink")
}

/// The minimal suite shrink wrote.
fn shrunk(case: &Case) -> Value {
    read_json(&case.tmp.path().join("shrink").join("shrunk.json"))
}

/// A suite that fails under load alone, no faults: the mock drops every stream.
fn drop_stream() -> Case {
    Case::new(&mock_suite(
        &["--bug", "drop-stream"],
        "[load]\nrate = 20\nduration = \"1s\"\nrequest = { api = \"chat\", stream = true, max_tokens = 4 }\n",
    ))
}

/// Run a suite file as `shakedown run` would, into `dir`.
fn run_file(file: &Path, dir: &Path) -> Output {
    Command::new(bin())
        .arg("run")
        .arg(file)
        .arg("--run-dir")
        .arg(dir)
        .arg("--quiet")
        .output()
        .expect("run shakedown")
}

#[test]
fn five_faults_shrink_to_the_engine_kill_that_hangs_the_service() {
    let case = Case::new(include_str!("../examples/shrink/five_faults.toml"));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(case.failed_ids().contains(&"degrade.hang".to_string()));

    let out = shrink(&case, &["--id", "degrade.hang"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = show(&out);
    assert!(
        text.contains("degrade.hang still fails with 1 of 5 fault(s)"),
        "{text}"
    );
    assert!(text.contains("fails 1 of 1 runs"), "{text}");
    assert!(text.contains("replay: shakedown replay "), "{text}");
    assert!(text.contains("--seed 3"), "{text}");
    let suite = shrunk(&case);
    let faults = suite["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 1, "{suite:#}");
    assert_eq!(faults[0]["kind"], "process.kill");
    // Every candidate ran into a directory of its own; the count is the one printed.
    let runs = std::fs::read_dir(case.tmp.path().join("shrink"))
        .expect("shrink dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    assert!(text.contains(&format!("shrink: {runs} runs")), "{text}");

    // The suite file it wrote is one `shakedown run` takes, and it fails the same way.
    let again = run_file(
        &case.tmp.path().join("shrink").join("shrunk.json"),
        &case.tmp.path().join("again"),
    );
    assert_eq!(code(&again), 1, "{}", show(&again));
    let report = read_json(&case.tmp.path().join("again").join("report.json"));
    assert!(
        report["verdicts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["id"] == "degrade.hang" && v["status"] == "fail"),
        "{report:#}"
    );
}

#[test]
fn malformed_cases_shrink_to_one_that_gets_a_500() {
    // Two of the six cases carry bad base64, which this mock answers with 500.
    let case = Case::new(&mock_suite(
        &["--bug", "500-on-bad-base64"],
        r#"[load]
rate = 5
arrival = "constant"
duration = "1s"
request = { api = "chat", stream = true, max_tokens = 4 }

[[fault]]
kind = "input.malformed"
at = "100ms"
hold = "200ms"
only = ["values.temperature_negative", "multimodal.image_invalid_base64", "values.top_p_zero",
        "json.truncated_object", "multimodal.audio_invalid_base64", "values.max_tokens_zero"]
"#,
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(case.failed_ids(), vec!["input.server_error"]);

    let out = shrink(&case, &["-k", "2"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("1 of 6 input cases"), "{text}");
    assert!(text.contains("fails 2 of 2 runs"), "{text}");
    let suite = shrunk(&case);
    let only = suite["faults"][0]["params"]["only"]
        .as_array()
        .expect("only")
        .clone();
    assert_eq!(only.len(), 1, "{suite:#}");
    assert!(
        only[0]
            .as_str()
            .is_some_and(|c| c.ends_with("_invalid_base64")),
        "{only:?}"
    );
}

#[test]
fn a_run_that_passed_has_nothing_to_shrink() {
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 5\nduration = \"500ms\"\n\n[expect]\nsteady_success_rate = 0.9\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let out = shrink(&case, &[]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(show(&out).contains("no failing verdict"), "{}", show(&out));
}

#[test]
fn ctrl_c_ends_the_search_with_the_smallest_failing_suite_so_far() {
    let case = Case::new(include_str!("../examples/shrink/five_faults.toml"));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));

    let out_dir = case.tmp.path().join("shrink");
    let child = Command::new(bin())
        .arg("shrink")
        .arg(case.run_dir())
        .arg("--out")
        .arg(&out_dir)
        .arg("--quiet")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shakedown shrink");
    // The original failed again; the first candidate is running.
    let requests = out_dir.join("002").join("requests.jsonl");
    wait_for(
        Duration::from_secs(30),
        "the first candidate's requests",
        || std::fs::read_to_string(&requests).is_ok_and(|s| s.lines().count() >= 2),
    );
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("(interrupted: smaller may exist)"), "{text}");
    // The answer so far is the original: a suite `shakedown run` takes.
    let suite = shrunk(&case);
    assert_eq!(
        suite["faults"].as_array().map(Vec::len),
        Some(5),
        "{suite:#}"
    );
    let report = read_json(&out_dir.join("002").join("report.json"));
    assert_eq!(report["status"], "interrupted", "{report:#}");
    util::assert_tree_gone(&out_dir.join("002"));
}

#[test]
fn an_id_that_did_not_fail_or_too_few_runs_is_a_usage_error() {
    let case = drop_stream();
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let failed = case.failed_ids();

    let out = shrink(&case, &["--id", "service.crash"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let expected = format!(
        "`service.crash` did not fail in {}, expected one of its failing ids: {}",
        case.run_dir().display(),
        failed.join(", ")
    );
    assert!(show(&out).contains(&expected), "{}", show(&out));

    let out = shrink(&case, &["-k", "3", "--max-runs", "2"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        show(&out).contains("--max-runs 2 is below -k 3"),
        "{}",
        show(&out)
    );
    // Nothing ran.
    assert!(!case.tmp.path().join("shrink").join("001").exists());
}

#[test]
fn a_failure_under_load_alone_shrinks_with_no_faults_to_take_away() {
    let case = drop_stream();
    assert_eq!(code(&case.run()), 1);
    let id = case.failed_ids()[0].clone();
    let out = shrink(&case, &["--id", &id]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = show(&out);
    assert!(
        text.contains(&format!("{id} still fails with no faults, load ")),
        "{text}"
    );
    assert!(!text.contains("0 of 0"), "{text}");
}
