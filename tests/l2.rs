//! L2 on the dummy model: the shipped API-conformance suites pass on the healthy mock and
//! fail as `api.schema` (terminal, `report.json`, `junit.xml`, a level's `level.json`) on the
//! mock's `bad-usage` and `no-finish-reason` bugs, streamed chat and whole completions alike;
//! the shipped offline suite passes on `mock-batch` and fails with `offline.*` on each of its
//! faults.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::{Case, show};

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

/// The shipped offline suite with `extra` argv elements (TOML) after `{output}`, its
/// prompts file named absolutely so the suite can be written anywhere.
fn batch_suite(extra: &str) -> String {
    let dir = root().join("suites/l2/offline_inference");
    let text = std::fs::read_to_string(dir.join("mock_batch.toml")).expect("read shipped suite");
    let (argv_end, input) = ("\"{output}\"]", "input = \"mock_batch_prompts.jsonl\"");
    assert!(text.contains(argv_end) && text.contains(input), "{text}");
    let prompts = dir.join("mock_batch_prompts.jsonl");
    text.replace(argv_end, &format!("\"{{output}}\"{extra}]"))
        .replace(
            input,
            &format!("input = {:?}", prompts.display().to_string()),
        )
}

/// Run the offline suite `text`; the exit code and the ids of the failed verdicts.
fn run_batch(text: &str) -> (Case, Output, Vec<String>) {
    let case = Case::new(text);
    let out = case.run();
    let failed = case.report()["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter(|v| v["status"] == "fail")
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    (case, out, failed)
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
        assert_eq!(case.verdict("deterministic")["status"], "pass");
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
fn nondeterministic_fails_as_api_nondeterministic() {
    for name in CONFORMANCE {
        let case = Case::new(&with_bug(name, Some("nondeterministic")));
        let out = case.run();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", show(&out));
        let v = case.verdict("deterministic");
        assert_eq!(
            (v["status"].as_str(), v["id"].as_str()),
            (Some("fail"), Some("api.nondeterministic")),
            "{v:#}"
        );
        assert!(
            v["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("gave two texts"),
            "{v:#}"
        );
        // Every answer still had the API's shape.
        assert_eq!(case.verdict("api_conformant")["status"], "pass");
        assert_eq!(case.events("api.determinism").len(), 1);
    }
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
    let batch = batch_suite(", \"--bug\", \"crash-mid-batch\"");
    std::fs::write(suites.join("mock_batch.toml"), batch).expect("write suite");
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
    let failed: Vec<(String, serde_json::Value)> = level["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("?").to_string(),
                s["failed"].clone(),
            )
        })
        .collect();
    let api = serde_json::json!(["api.schema"]);
    assert_eq!(
        failed,
        [
            ("mock-api-conformance".into(), api.clone()),
            ("mock-api-conformance-completions".into(), api),
            ("mock-batch".into(), serde_json::json!(["offline.exit"])),
        ],
        "{level:#}"
    );
}

#[test]
fn shipped_offline_suite_passes_on_mock_batch() {
    let (case, out, failed) = run_batch(&batch_suite(""));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(failed.is_empty(), "{failed:?}");
    let checks: Vec<String> = case.report()["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter(|v| v["status"] == "pass")
        .filter_map(|v| v["check"].as_str().map(str::to_string))
        .collect();
    for c in [
        "offline_exit",
        "offline_within",
        "offline_count",
        "offline_schema",
        "offline_keywords",
    ] {
        assert!(checks.iter().any(|x| x == c), "{c} passed: {checks:?}");
    }
    // The run directory holds what was judged: the prompts and the outputs.
    let outputs = util::jsonl(&case.run_dir().join("offline-output.jsonl"));
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[0]["prompt"], "Name a river.");
    assert!(case.run_dir().join("offline-input.jsonl").is_file());
}

#[test]
fn each_batch_fault_fails_with_its_own_id() {
    let cases = [
        (
            ", \"--bug\", \"crash-mid-batch\"",
            "offline.exit",
            "exited with code 1",
        ),
        (
            ", \"--bug\", \"drop-output\"",
            "offline.count",
            "wrote 3 outputs, expected 4",
        ),
        (
            ", \"--seed\", \"5\"",
            "offline.keywords",
            "lack expected keywords",
        ),
    ];
    for (extra, id, needle) in cases {
        let (case, out, failed) = run_batch(&batch_suite(extra));
        assert_eq!(out.status.code(), Some(1), "{id}: {}", show(&out));
        assert_eq!(failed, [id], "{}", show(&out));
        let terminal = String::from_utf8_lossy(&out.stdout);
        assert!(
            terminal.contains(&format!("[{id}]")) && terminal.contains(needle),
            "{terminal}"
        );
        let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit");
        assert!(junit.contains(&format!("type=\"{id}\"")), "{junit}");
    }
    // Slower than its bound: 4 prompts at 400 ms each against 1 s.
    let slow =
        batch_suite(", \"--delay-ms\", \"400\"").replace("within = \"10s\"", "within = \"1s\"");
    let (_, out, failed) = run_batch(&slow);
    assert_eq!(failed, ["offline.slow"], "{}", show(&out));
}

#[test]
fn process_faults_apply_to_the_batch() {
    // 4 prompts at 200 ms each; a fault 300 ms after the batch starts, on its one process.
    let with_fault = |fault: &str| {
        batch_suite(", \"--delay-ms\", \"200\"")
            + &format!("\n[[fault]]\nat = \"300ms\"\n{fault}\n")
    };
    let (case, out, failed) = run_batch(&with_fault("kind = \"process.pause\"\nfor = \"500ms\""));
    assert!(failed.is_empty(), "{failed:?}: {}", show(&out));
    assert_eq!(case.verdict("faults_injected")["status"], "pass");
    let took = case.verdict("offline_exit")["evidence"]["took_ms"]
        .as_f64()
        .unwrap_or(0.0);
    // Unpaused it takes 800 ms; stopped from 300 ms to 800 ms, the last two prompts start late.
    assert!(took >= 1100.0, "the pause held the batch: {took} ms");
    let (case, out, failed) = run_batch(&with_fault("kind = \"process.kill\""));
    assert_eq!(failed, ["offline.exit"], "{}", show(&out));
    let summary = case.verdict("offline_exit")["summary"].clone();
    assert!(
        summary
            .as_str()
            .unwrap_or_default()
            .contains("signal 9 (SIGKILL)"),
        "{summary}"
    );
    assert_eq!(case.verdict("faults_injected")["status"], "pass");
}

#[test]
fn a_batch_writing_malformed_outputs_fails_offline_schema() {
    // Any program can be the batch: this one answers the one prompt without `text`.
    let dir = tempfile::tempdir().expect("temp dir");
    let prompts = dir.path().join("p.jsonl");
    std::fs::write(&prompts, "{\"prompt\": \"hi\"}\n").expect("write prompts");
    let text = format!(
        "[suite]\nname = \"t\"\nkind = \"offline\"\nbudget = \"30s\"\n\n[offline]\n\
         argv = [\"sh\", \"-c\", \"echo '{{\\\"prompt\\\": \\\"hi\\\", \\\"tokens\\\": 1}}' > $0\", \"{{output}}\"]\n\
         input = {:?}\n",
        prompts.display().to_string()
    );
    let (_, out, failed) = run_batch(&text);
    assert_eq!(failed, ["offline.schema"], "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("line 1: `text` is not a string"),
        "{stdout}"
    );
}

#[test]
fn offline_suite_errors_are_located() {
    let bad = |text: &str, needle: &str| {
        let case = Case::new(text);
        let out = Command::new(util::bin())
            .arg("validate")
            .arg(&case.suite)
            .output()
            .expect("run shakedown");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "`{needle}` not in {err}");
    };
    let head = "[suite]\nname = \"t\"\nkind = \"offline\"\n";
    bad(
        &format!("{head}[offline]\nargv = [\"x\", \"{{junit}}\"]\ninput = \"p\"\n"),
        "has placeholder `{junit}`, expected one of `{input}`, `{output}`, `{run_dir}`",
    );
    bad(&format!("{head}[offline]\nargv = [\"x\"]\n"), "input");
    bad(
        &format!("{head}[command]\nargv = [\"x\"]\n"),
        "has no place in an offline suite",
    );
    bad(
        &format!(
            "{head}[offline]\nargv = [\"x\"]\ninput = \"p\"\n\
             [[fault]]\nkind = \"network.down\"\nat = \"1s\"\nfor = \"1s\"\n"
        ),
        "has kind `network.down`, expected a fault on the batch's processes (`process.kill`, `process.pause`)",
    );
    bad(
        "[suite]\nname = \"t\"\n[service]\ncommand = [\"x\"]\n[offline]\nargv = [\"x\"]\n",
        "is for offline suites, expected `kind = \"offline\"`",
    );
}

#[test]
fn a_bad_configuration_refused_fast_passes_and_one_accepted_is_startup_accepted() {
    // The shipped start-up suite: the mock refuses `--max-model-len 0` at once, saying why.
    let text = std::fs::read_to_string(online("mock_bad_config")).expect("read shipped suite");
    let case = Case::new(&text);
    let out = case.run();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v = case.verdict("startup_refused");
    assert_eq!(v["status"], "pass", "{v:#}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid value '0' for '--max-model-len"),
        "{v:#}"
    );
    // The same suite with a configuration the mock accepts: starting is the failure.
    let case =
        Case::new(&text.replace("\"--max-model-len\", \"0\"", "\"--max-model-len\", \"100\""));
    let out = case.run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(case.failed_ids(), ["startup.accepted"], "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[startup.accepted]"));
}

#[test]
fn a_service_slower_to_start_than_ready_within_is_startup_slow() {
    let bin = util::bin().display().to_string();
    let suite = |bound: &str| {
        format!(
            "[suite]\nname = \"slow-start\"\nlevel = \"L2\"\n\n[service]\n\
             command = [\"sh\", \"-c\", \"sleep 1; exec \\\"$BIN\\\" mock-server --port \\\"$PORT\\\"\"]\n\
             env = {{ BIN = {bin:?}, PORT = \"{{port}}\" }}\nready = {{ http = \"/health\", within = \"20s\" }}\n\n\
             [expect]\nready_within = \"{bound}\"\n"
        )
    };
    let case = Case::new(&suite("300ms"));
    let out = case.run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(case.failed_ids(), ["startup.slow"], "{}", show(&out));
    let case = Case::new(&suite("15s"));
    let out = case.run();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(case.verdict("ready_within")["status"], "pass");
}
