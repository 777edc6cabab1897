//! `input.malformed` end to end: the shipped suite `mock_malformed_input` passes on the
//! healthy mock and fails with the right id on each of the mock's input bugs.

mod util;

use util::Case;

const SUITE: &str = include_str!("../suites/l5/reliability/mock_malformed_input.toml");

/// The shipped suite; with a bug, the mock runs with it and only the category that shows
/// it is sent (under shorter load, with a shorter leak bound), to keep the tests quick.
fn suite_with(bug: Option<(&str, &str)>) -> String {
    let mut text = SUITE.to_string();
    if let Some((bug, category)) = bug {
        let line = r#""--engine", "process"]"#;
        assert!(text.contains(line), "the suite's command line changed");
        text = text.replacen(
            line,
            &format!(r#""--engine", "process", "--bug", "{bug}"]"#),
            1,
        );
        text = text.replacen(
            "hold = \"1s\"",
            &format!("hold = \"1s\"\nleak_within = \"1s\"\ncategories = [\"{category}\"]"),
            1,
        );
        text = text.replacen("duration = \"15s\"", "duration = \"4s\"", 1);
    }
    text
}

fn run(bug: Option<(&str, &str)>) -> Case {
    let case = Case::new(&suite_with(bug));
    let out = case.run();
    let code = out.status.code().unwrap_or(-1);
    let expected = if bug.is_some() { 1 } else { 0 };
    assert_eq!(
        code,
        expected,
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    case
}

/// The cases of `report.json` whose verdict names `id`.
fn cases_failing(case: &Case, id: &str) -> Vec<String> {
    case.report()["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["verdict"].as_str().is_some_and(|v| v.contains(id)))
        .filter_map(|r| r["case"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn healthy_mock_passes_the_whole_corpus() {
    let case = run(None);
    let report = case.report();
    assert_eq!(report["status"], "passed", "{report:#}");
    let rows = report["input"].as_array().expect("per-case table");
    assert!(rows.len() >= 60, "only {} cases sent", rows.len());
    assert!(rows.iter().all(|r| r["verdict"] == "ok"));
    for check in [
        "input_no_server_error",
        "input_no_crash",
        "input_no_leak",
        "input_error_shape",
        "input_answer_time",
    ] {
        assert_eq!(case.verdict(check)["status"], "pass", "{check}");
    }
    let lines = util::jsonl(&case.run_dir().join("input.jsonl"));
    assert_eq!(lines.len(), rows.len());
    assert!(
        lines
            .iter()
            .any(|l| l["gauge"]["settled_ms"].is_number() && l["mode"] == "disconnect_many")
    );
    // Judging the run directory again gives the same table and verdicts.
    let again = std::process::Command::new(util::bin())
        .arg("report")
        .arg(case.run_dir())
        .output()
        .expect("run shakedown report");
    assert_eq!(again.status.code(), Some(0));
    let after = case.report();
    assert_eq!(report["input"], after["input"]);
    assert_eq!(report["verdicts"], after["verdicts"]);
}

#[test]
fn bad_base64_500_fails_server_error() {
    let case = run(Some(("500-on-bad-base64", "multimodal")));
    assert_eq!(case.failed_ids(), vec!["input.server_error"]);
    let bad = cases_failing(&case, "input.server_error");
    assert!(
        bad.contains(&"multimodal.audio_invalid_base64".to_string()),
        "{bad:?}"
    );
}

#[test]
fn crash_on_empty_prompt_fails_crash() {
    let case = run(Some(("crash-on-empty-prompt", "values")));
    let ids = case.failed_ids();
    assert!(ids.contains(&"input.crash".to_string()), "{ids:?}");
    let crashed = cases_failing(&case, "input.crash");
    assert_eq!(crashed.len(), 1, "{crashed:?}");
    assert!(crashed[0].contains("empty"), "{crashed:?}");
}

#[test]
fn leak_on_disconnect_fails_leak() {
    let case = run(Some(("leak-on-disconnect", "protocol")));
    assert_eq!(case.failed_ids(), vec!["input.leak"]);
    assert!(!cases_failing(&case, "input.leak").is_empty());
}

fn validate(path: &str) -> std::process::Output {
    std::process::Command::new(util::bin())
        .arg("validate")
        .arg(path)
        .output()
        .expect("run shakedown validate")
}

#[test]
fn a_suite_adds_its_own_corpus_next_to_it() {
    let out = validate("tests/suites/valid/malformed_input.toml");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unknown_corpus_is_a_located_suite_error() {
    let out = validate("tests/suites/invalid/unknown_corpus.toml");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("tests/suites/invalid/unknown_corpus.toml:10:1: ")
            && err.contains("unknown corpus `builtin:nope`"),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_the_corpus_mid_way_and_keeps_its_records() {
    let case = Case::new(&suite_with(None));
    let child = case.spawn();
    let records = case.run_dir().join("input.jsonl");
    util::wait_for(
        std::time::Duration::from_secs(30),
        "the first cases",
        || util::jsonl(&records).len() >= 3,
    );
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", util::show(&out));
    // Stopped between cases, not after the whole corpus; what was sent stays readable.
    let sent = util::jsonl(&records).len();
    let inject = &case.events("fault.inject")[0];
    assert_eq!(inject["stopped"], "the run was cut short", "{inject}");
    assert_eq!(inject["sent"], sent, "{inject}");
    assert!(
        sent < inject["cases"].as_u64().unwrap_or(0) as usize,
        "{inject}"
    );
    util::assert_tree_gone(&case.run_dir());
}
