//! L2 on the dummy model: the shipped API-conformance suites pass on the healthy mock and
//! fail as `api.schema` (terminal, `report.json`, `junit.xml`, a level's `level.json`) on the
//! mock's `bad-usage` and `no-finish-reason` bugs, streamed chat and whole completions alike.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::Case;

/// The shipped online L2 suites this file runs.
const CONFORMANCE: &[&str] = &["mock_api_conformance", "mock_api_conformance_completions"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn online(name: &str) -> PathBuf {
    root().join(format!("suites/l2/online_serving/{name}.toml"))
}

/// A shipped suite's text with `--bug BUG` added to the mock's command line.
fn with_bug(name: &str, bug: Option<&str>) -> String {
    let text = std::fs::read_to_string(online(name)).expect("read shipped suite");
    let port = "\"{port}\"]";
    assert!(text.contains(port), "{name} starts the mock with {port}");
    match bug {
        Some(b) => text.replace(port, &format!("\"{{port}}\", \"--bug\", \"{b}\"]")),
        None => text,
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run shipped suite `name` on the mock with `bug`; its `api_conformant` verdict.
fn run(name: &str, bug: Option<&str>) -> (Case, Output, serde_json::Value) {
    let case = Case::new(&with_bug(name, bug));
    let out = case.run();
    let v = case.verdict("api_conformant");
    (case, out, v)
}

/// Each shipped suite fails on `bug` as `api.schema`, saying `what` in every report.
fn fails_as_api_schema(bug: &str, what: &str) {
    for name in CONFORMANCE {
        let (case, out, v) = run(name, Some(bug));
        assert_eq!(out.status.code(), Some(1), "{name}: {}", show(&out));
        assert_eq!(
            (v["status"].as_str(), v["id"].as_str()),
            (Some("fail"), Some("api.schema")),
            "{v:#}"
        );
        let summary = v["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("the first, request 0") && summary.contains(what),
            "{v:#}"
        );
        let terminal = String::from_utf8_lossy(&out.stdout);
        assert!(
            terminal.contains("FAIL  api_conformant       [api.schema]"),
            "{}",
            show(&out)
        );
        let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
        assert!(junit.contains("type=\"api.schema\""), "{junit}");
        // Only the shape is wrong: every request still succeeded.
        assert_eq!(case.verdict("steady_success_rate")["status"], "pass");
    }
}

#[test]
fn shipped_conformance_suites_pass_on_the_healthy_mock() {
    for name in CONFORMANCE {
        let (case, out, v) = run(name, None);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", show(&out));
        assert_eq!(v["status"], "pass", "{v:#}");
        assert_eq!(case.report()["status"], "passed");
    }
}

#[test]
fn bad_usage_fails_as_api_schema() {
    fails_as_api_schema("bad-usage", "usage.total_tokens is");
}

#[test]
fn no_finish_reason_fails_as_api_schema() {
    fails_as_api_schema("no-finish-reason", "finish_reason");
}

#[test]
fn a_level_run_of_l2_with_a_broken_mock_fails_with_the_id() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let suites = tmp.path().join("suites");
    std::fs::create_dir(&suites).expect("mkdir");
    for name in CONFORMANCE {
        let text = with_bug(name, Some("bad-usage"));
        std::fs::write(suites.join(format!("{name}.toml")), text).expect("write suite");
    }
    let out_dir = tmp.path().join("out");
    let out = Command::new(util::bin())
        .current_dir(root())
        .args(["run", "--level", "L2", "--quiet", "--out"])
        .arg(&out_dir)
        .arg(&suites)
        .output()
        .expect("run shakedown");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let level = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .filter_map(Result::ok)
        .map(|e| e.path().join("level.json"))
        .find(|p| p.is_file())
        .expect("level.json");
    let level = util::read_json(&level);
    assert_eq!(level["status"], "failed", "{level:#}");
    for s in level["suites"].as_array().expect("suites") {
        assert_eq!(s["failed"], serde_json::json!(["api.schema"]), "{s:#}");
    }
}
