//! `shakedown run` end to end against the mock model service: every verdict shown passing
//! on the healthy mock and failing on the `--bug` mode that breaks it.

mod util;

use std::time::Duration;
use util::{Case, code, mock_suite, show, wait_for};

/// Load and a kill of the engine 1.5 s in; the run lasts about 5 s.
fn kill_engine(expect: &str) -> String {
    format!(
        r#"[load]
rate = 20
arrival = "constant"
timeout = "8s"
duration = "5s"
request = {{ api = "chat", stream = true, max_tokens = 8 }}

[[fault]]
kind = "process.kill"
match = "shakedown::engine"
at = "1500ms"

[expect]
{expect}
"#
    )
}

fn status(case: &Case, check: &str) -> String {
    case.verdict(check)["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

const ALL_CHECKS: &str = r#"recover_within = "5s"
steady_success_rate = 0.95
fail_fast = "3s"
no_lost_requests = true
no_orphans = true
log_forbid = ["panicked at"]
health_truthful = true
"#;

#[test]
fn healthy_mock_respawning_engine_passes_every_check() {
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--on-engine-death", "respawn"],
        &kill_engine(ALL_CHECKS),
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = case.report();
    assert_eq!(report["status"], "passed");
    for check in [
        "faults_injected",
        "recover_within",
        "steady_success_rate",
        "fail_fast",
        "no_lost_requests",
        "no_orphans",
        "log_forbid",
        "health_truthful",
    ] {
        assert_eq!(
            status(&case, check),
            "pass",
            "{check}: {:#}",
            case.verdict(check)
        );
    }
    let rec = case.verdict("recover_within");
    let took = rec["evidence"]["windows"][0]["recovery_ms"]
        .as_f64()
        .expect("recovery measured");
    assert!(took < 5000.0, "{rec:#}");
    // The kill really hit: some requests failed, and /health said 503 meanwhile.
    assert!(
        report["requests"]["by_outcome"]["http_5xx"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{report:#}"
    );
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"recover_within\""), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn healthy_mock_restarted_by_the_supervisor_passes() {
    let mut text = mock_suite(
        &["--engine", "process", "--on-engine-death", "exit"],
        &kill_engine(ALL_CHECKS),
    );
    text = text.replace(
        "stop_grace",
        "restart = { policy = \"on-failure\", max = 2, backoff = \"200ms\" }\nstop_grace",
    );
    let case = Case::new(&text);
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.events("service.restart").len(), 1);
    assert!(
        case.events("service.exit").iter().any(|e| e["code"] == 1),
        "the API server exited non-zero"
    );
}

#[test]
fn hang_on_engine_death_fails_fail_fast_and_recovery() {
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--bug", "hang-on-engine-death"],
        &kill_engine(ALL_CHECKS).replace("timeout = \"8s\"", "timeout = \"4s\""),
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(status(&case, "fail_fast"), "fail");
    assert_eq!(case.verdict("fail_fast")["id"], "degrade.hang");
    assert_eq!(status(&case, "recover_within"), "fail");
    assert_eq!(case.verdict("recover_within")["id"], "recovery.timeout");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("[degrade.hang]"), "{summary}");
}

#[test]
fn health_lies_fails_health_truthful() {
    let expect = "health_truthful = true\n";
    let healthy = Case::new(&mock_suite(
        &["--engine", "process", "--on-engine-death", "stay"],
        &kill_engine(expect),
    ));
    let liar = Case::new(&mock_suite(
        &[
            "--engine",
            "process",
            "--on-engine-death",
            "stay",
            "--bug",
            "health-lies",
        ],
        &kill_engine(expect),
    ));
    let (a, b) = (healthy.run(), liar.run());
    assert_eq!(status(&healthy, "health_truthful"), "pass", "{}", show(&a));
    assert_eq!(status(&liar, "health_truthful"), "fail", "{}", show(&b));
    assert_eq!(liar.verdict("health_truthful")["id"], "health.lie");
    assert_eq!(code(&b), 1);
}

#[test]
fn orphan_engine_fails_no_orphans_and_is_still_killed() {
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--bug", "orphan-engine"],
        "[load]\nrate = 10\nduration = \"1s\"\n\n[expect]\nno_orphans = true\n",
    ));
    let out = case.run(); // `run` also asserts every process seen is gone afterwards
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("no_orphans");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert_eq!(v["id"], "orphan.process");
    let names = v["evidence"]["survivors"].to_string();
    assert!(names.contains("shakedown::engine"), "{v:#}");
}

#[test]
fn drop_stream_fails_no_lost_requests_and_steady_rate() {
    let case = Case::new(&mock_suite(
        &["--bug", "drop-stream"],
        "[load]\nrate = 20\nduration = \"2s\"\nrequest = { stream = true, max_tokens = 8 }\n\n[expect]\nno_lost_requests = true\nsteady_success_rate = 0.99\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(status(&case, "no_lost_requests"), "fail");
    assert_eq!(case.verdict("no_lost_requests")["id"], "loss.request");
    assert_eq!(status(&case, "steady_success_rate"), "fail");
    let truncated = util::jsonl(&case.run_dir().join("requests.jsonl"))
        .iter()
        .filter(|r| r["outcome"] == "stream_truncated")
        .count();
    assert!(truncated > 0);
}

#[test]
fn healthy_mock_without_faults_passes_steady_and_loss() {
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 20\nduration = \"2s\"\nrequest = { stream = true, max_tokens = 8 }\n\n[expect]\nno_lost_requests = true\nsteady_success_rate = 1.0\nlog_forbid = [\"ERROR\"]\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    for check in [
        "no_lost_requests",
        "steady_success_rate",
        "log_forbid",
        "no_orphans",
        "health_truthful",
    ] {
        assert_eq!(
            status(&case, check),
            "pass",
            "{check}: {:#}",
            case.verdict(check)
        );
    }
}

#[test]
fn forbidden_log_line_fails_log_forbid() {
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--on-engine-death", "respawn"],
        &kill_engine("log_forbid = [\"EngineDeadError\"]\n"),
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("log_forbid");
    assert_eq!(v["status"], "fail");
    assert_eq!(v["id"], "log.forbidden");
    assert!(
        v["evidence"]["examples"][0]["file"] == "service-main.log",
        "{v:#}"
    );
}

#[test]
fn fault_without_a_target_fails_faults_injected() {
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 10\nduration = \"2s\"\n\n[[fault]]\nkind = \"process.kill\"\nmatch = \"VLLM::EngineCore\"\nat = \"500ms\"\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("faults_injected");
    assert_eq!(v["id"], "fault.not_injected");
    assert!(
        v["summary"].as_str().unwrap().contains("VLLM::EngineCore"),
        "{v:#}"
    );
}

#[test]
fn service_that_exits_before_ready_is_an_infrastructure_error() {
    let case = Case::new(
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sh\", \"-c\", \"echo bad flag --nope >&2; exit 4\"]\nready = { tcp = true, within = \"10s\" }\n",
    );
    let out = case.run();
    assert_eq!(code(&out), 3, "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("exited before it was ready"), "{text}");
    assert!(
        text.contains("exit code 4") && text.contains("bad flag --nope"),
        "{text}"
    );
    assert_eq!(case.report()["status"], "error");
}

#[test]
fn service_never_ready_is_an_infrastructure_error_and_is_torn_down() {
    let case = Case::new(
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sleep\", \"60\"]\nready = { tcp = true, within = \"500ms\" }\nstop_grace = \"200ms\"\n",
    );
    let out = case.run();
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(
        show(&out).contains("was not ready within"),
        "{}",
        show(&out)
    );
    let teardown = case.events("service.teardown");
    assert_eq!(
        teardown[0]["survivors"].as_array().map(Vec::len),
        Some(0),
        "{teardown:?}"
    );
}

#[test]
fn sigkill_of_shakedown_leaves_no_service_process() {
    let case = Case::new(&mock_suite(
        &["--engine", "process"],
        "[load]\nrate = 10\nduration = \"30s\"\n",
    ));
    let mut child = case.spawn();
    let samples = case.run_dir().join("samples.jsonl");
    // Wait until the engine has been seen, so the tree to clean up is the whole one.
    wait_for(Duration::from_secs(20), "the engine to be sampled", || {
        std::fs::read_to_string(&samples).is_ok_and(|s| s.contains("shakedown::engine"))
    });
    child.kill().expect("SIGKILL shakedown");
    child.wait().expect("reap shakedown");
    util::assert_tree_gone(&case.run_dir());
    // Records written so far stay readable.
    assert!(!case.events("service.spawn").is_empty());
}

#[test]
fn sigint_tears_down_reports_interrupted_and_exits_130() {
    let case = Case::new(&mock_suite(
        &["--engine", "process"],
        "[load]\nrate = 10\nduration = \"30s\"\n\n[expect]\nno_orphans = true\n",
    ));
    let child = case.spawn();
    let requests = case.run_dir().join("requests.jsonl");
    wait_for(Duration::from_secs(20), "requests to flow", || {
        std::fs::read_to_string(&requests).is_ok_and(|s| s.lines().count() >= 3)
    });
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", show(&out));
    let report = case.report();
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(status(&case, "no_orphans"), "pass");
    util::assert_tree_gone(&case.run_dir());
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).unwrap();
    assert!(junit.contains("type=\"interrupted\""), "{junit}");
}

#[test]
fn report_rejudges_a_run_directory_to_the_same_verdicts() {
    let case = Case::new(&mock_suite(
        &["--bug", "drop-stream"],
        "[load]\nrate = 20\nduration = \"1s\"\n\n[expect]\nno_lost_requests = true\n",
    ));
    case.run();
    let before = case.report()["verdicts"].clone();
    std::fs::remove_file(case.run_dir().join("report.json")).unwrap();
    let out = std::process::Command::new(util::bin())
        .arg("report")
        .arg(case.run_dir())
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(case.report()["verdicts"], before);
}

#[test]
fn dependency_starts_first_gets_its_port_passed_and_can_be_faulted() {
    let case = Case::new(
        r#"[suite]
name = "pipeline"
budget = "1m"

[service.cache]
command = ["shakedown", "mock-server", "--port", "{port}", "--model", "cache"]
ready = { http = "/health", within = "20s" }
stop_grace = "2s"

[service.api]
command = ["shakedown", "mock-server", "--port", "{port}", "--model", "api-for-{port.cache}"]
ready = { http = "/health", within = "20s" }
after = ["cache"]
entry = true
stop_grace = "2s"

[load]
rate = 10
duration = "2s"

[[fault]]
kind = "process.kill"
service = "cache"
at = "500ms"

[expect]
steady_success_rate = 1.0
no_orphans = true
"#,
    );
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let spawns = case.events("service.spawn");
    assert_eq!(spawns[0]["service"], "cache", "the dependency starts first");
    assert_eq!(spawns[1]["service"], "api");
    let cache_port = spawns[0]["argv"][3].as_str().unwrap().to_string();
    let api_argv = spawns[1]["argv"].to_string();
    assert!(
        api_argv.contains(&format!("api-for-{cache_port}")),
        "{api_argv}"
    );
    let ready: Vec<_> = case.events("service.ready");
    assert!(
        ready[0]["t_ms"].as_f64() < spawns[1]["t_ms"].as_f64(),
        "cache ready before api spawned"
    );
    // The fault hit the dependency, not the entry: load to the entry kept succeeding.
    let inject = &case.events("fault.inject")[0];
    assert_eq!(inject["service"], "cache");
    assert!(
        case.events("service.exit")
            .iter()
            .any(|e| e["service"] == "cache" && e["signal"] == 9)
    );
    assert_eq!(case.events("service.teardown").len(), 2);
}

#[test]
fn frozen_engine_is_reported_by_health_and_recovers_after_sigcont() {
    let case = Case::new(&mock_suite(
        &["--engine", "process", "--engine-timeout-ms", "1500"],
        r#"[load]
rate = 20
arrival = "constant"
timeout = "8s"
duration = "6s"
request = { api = "chat", stream = true, max_tokens = 8 }

[[fault]]
kind = "process.pause"
match = "shakedown::engine"
at = "1s"
for = "2s"

[expect]
recover_within = "3s"
fail_fast = "4s"
health_truthful = true
no_lost_requests = true
"#,
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let clear = &case.events("fault.clear")[0];
    assert_eq!(clear["signal"], "SIGCONT");
    assert_eq!(clear["early"], false);
    // /health went 503 while the engine was frozen.
    let samples = util::jsonl(&case.run_dir().join("samples.jsonl"));
    let inject_t = case.events("fault.inject")[0]["t_ms"].as_f64().unwrap();
    let clear_t = clear["t_ms"].as_f64().unwrap();
    assert!(
        samples.iter().any(|s| s["kind"] == "health"
            && s["status"] == 503
            && (inject_t..clear_t).contains(&s["t_ms"].as_f64().unwrap())),
        "no 503 health poll during the freeze"
    );
}

#[test]
fn completions_without_streaming_are_judged_too() {
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 20\nduration = \"1s\"\nrequest = { api = \"completions\", stream = false, max_tokens = 4 }\n\n[expect]\nsteady_success_rate = 1.0\n",
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let reqs = util::jsonl(&case.run_dir().join("requests.jsonl"));
    assert!(reqs.len() >= 15);
    assert!(
        reqs.iter()
            .all(|r| r["outcome"] == "ok" && r["tokens"] == 4),
        "{reqs:?}"
    );
}

#[test]
fn shipped_suites_validate_and_the_smoke_suite_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "suites/l1",
        "suites/l2",
        "suites/l4",
        "suites/l5/reliability",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = e.unwrap().path();
            // A suite's own files (suites/l1/pytest/) sit beside it.
            if path.extension().is_some_and(|x| x == "toml" || x == "json") {
                files.push(path);
            }
        }
    }
    let out = std::process::Command::new(util::bin())
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let case = Case::new("");
    std::fs::copy(root.join("suites/l2/mock_smoke.toml"), &case.suite).unwrap();
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.report()["level"], "L2");
}

#[test]
fn a_record_that_cannot_be_written_still_gets_teardown() {
    // The service takes a second to come up; meanwhile a directory takes samples.jsonl's name.
    let command = format!(
        "sleep 1; exec {:?} mock-server --port {{port}}",
        util::bin().display().to_string()
    );
    let case = Case::new(&format!(
        "[suite]\nname = \"t\"\nbudget = \"1m\"\n\n[service]\ncommand = [\"sh\", \"-c\", {command:?}]\n\
         ready = {{ http = \"/health\", within = \"20s\" }}\n\n[load]\nrate = 5\nduration = \"1s\"\n"
    ));
    let child = case.spawn();
    let events = case.run_dir().join("events.jsonl");
    wait_for(Duration::from_secs(10), "the run to start", || {
        events.exists()
    });
    std::fs::create_dir(case.run_dir().join("samples.jsonl")).expect("mkdir");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(show(&out).contains("samples.jsonl"), "{}", show(&out));
    // Not left to the reaper: the run logged its error and tore its services down itself.
    assert!(!case.events("run.error").is_empty(), "{}", show(&out));
    let phases: Vec<_> = case
        .events("phase")
        .iter()
        .map(|e| e["phase"].clone())
        .collect();
    assert!(phases.contains(&"teardown".into()), "{phases:?}");
    util::assert_tree_gone(&case.run_dir());
}
