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
    // It left the group (setsid) and ignores SIGTERM: teardown had to SIGKILL it by pid.
    let names = v["evidence"]["escaped"].to_string();
    assert!(names.contains("shakedown::engine"), "{v:#}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap_or("")
            .contains("killed at teardown"),
        "{v:#}"
    );
}

#[test]
fn escaped_grandchild_fails_no_orphans_and_teardown_kills_it() {
    let case = Case::new(&mock_suite(
        &["--bug", "escape-setsid"],
        "[load]\nrate = 10\nduration = \"1s\"\n\n[expect]\nno_orphans = true\n",
    ));
    let out = case.command().output().expect("run shakedown");
    let pid = util::escaped_pid(&case.run_dir(), "main").expect("the mock names its escapee");
    let _cleanup = util::KillOnDrop(pid, util::ESCAPED);
    // Teardown killed it: it is gone without anyone else's help.
    wait_for(Duration::from_secs(10), "the escapee to be gone", || {
        !util::alive_as(pid, util::ESCAPED)
    });
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("no_orphans");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert_eq!(v["id"], "orphan.process");
    let summary = v["summary"].as_str().unwrap_or("");
    let named = format!("{pid} `{}", util::ESCAPED);
    assert!(summary.contains("escaped their process group"), "{v:#}");
    assert!(summary.contains(&named), "{v:#}");
    assert!(summary.contains("killed at teardown"), "{v:#}");
    assert!(!summary.contains("outlived teardown"), "{v:#}");
    assert_eq!(v["evidence"]["escaped"][0]["pid"], pid, "{v:#}");
    // Re-parented to shakedown (the subreaper) and traced back through its environment.
    let adopted = case.events("service.adopted");
    assert!(
        adopted
            .iter()
            .any(|e| e["pid"] == pid && e["attributed_by"] == "environment"),
        "{adopted:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[orphan.process]") && stdout.contains(&named),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).unwrap();
    assert!(
        junit.contains("type=\"orphan.process\"") && junit.contains(&named),
        "{junit}"
    );
    util::assert_tree_gone(&case.run_dir());
}

#[test]
fn sigkill_of_shakedown_leaves_no_escaped_process() {
    let case = Case::new(&mock_suite(
        &["--bug", "escape-setsid"],
        "[load]\nrate = 10\nduration = \"30s\"\n",
    ));
    let mut child = case.spawn();
    let run_dir = case.run_dir();
    let mut pid = None;
    wait_for(Duration::from_secs(20), "the escapee to be named", || {
        pid = util::escaped_pid(&run_dir, "main");
        pid.is_some()
    });
    let pid = pid.unwrap_or_default();
    let _cleanup = util::KillOnDrop(pid, util::ESCAPED);
    // Once shakedown has recorded it, the reaper knows it too.
    wait_for(
        Duration::from_secs(10),
        "the escapee to be recorded",
        || case.events("service.stray").iter().any(|e| e["pid"] == pid),
    );
    child.kill().expect("SIGKILL shakedown");
    child.wait().expect("reap shakedown");
    wait_for(
        Duration::from_secs(10),
        "the reaper to kill the escapee",
        || !util::alive_as(pid, util::ESCAPED),
    );
    util::assert_tree_gone(&case.run_dir());
}

#[test]
fn double_forked_process_that_stays_in_the_group_passes_no_orphans() {
    // `(sleep &)` leaves a sleep whose parent is gone, re-parented out of the service's tree
    // but still in its process group: tracked, torn down with the group, not an escape.
    let command = format!(
        "(sleep 317 &); exec {:?} mock-server --port {{port}}",
        util::bin().display().to_string()
    );
    let case = Case::new(&format!(
        "[suite]\nname = \"t\"\nbudget = \"1m\"\n\n[service]\ncommand = [\"sh\", \"-c\", {command:?}]\n\
         ready = {{ http = \"/health\", within = \"20s\" }}\n\n[load]\nrate = 5\nduration = \"1s\"\n\n\
         [expect]\nno_orphans = true\n"
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(status(&case, "no_orphans"), "pass");
    let adopted = case.events("service.adopted");
    assert!(
        adopted.iter().any(|e| e["cmdline"] == "sleep 317"),
        "{adopted:?}"
    );
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
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sh\", \"-c\", \"echo bad flag --nope >&2; exit 4\"]\nenv = { PORT = \"{port}\" }\nready = { tcp = true, within = \"10s\" }\n",
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
        "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"sleep\", \"60\"]\nenv = { PORT = \"{port}\" }\nready = { tcp = true, within = \"500ms\" }\nstop_grace = \"200ms\"\n",
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
        "suites/l2/online_serving",
        "suites/l4/perf",
        "suites/l5/reliability",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = e.unwrap().path();
            // A suite's own files (suites/l1/pytest/) sit beside it.
            // Baselines are checked through the configuration that names them.
            let baseline = path.to_string_lossy().ends_with(".baseline.json");
            if path.extension().is_some_and(|x| x == "toml" || x == "json") && !baseline {
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
    std::fs::copy(
        root.join("suites/l2/online_serving/mock_smoke.toml"),
        &case.suite,
    )
    .unwrap();
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

#[test]
fn a_fault_after_load_is_injected_when_the_entry_says_after_load() {
    let case = Case::new(&mock_suite(
        &["--engine", "process"],
        r#"[load]
rate = 10
arrival = "constant"
duration = "1s"

[[fault]]
kind = "process.pause"
match = "shakedown::engine"
at = "1500ms"
for = "300ms"
after_load = true
"#,
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(status(&case, "faults_injected"), "pass");
    let timeline = util::read_json(&case.run_dir().join("timeline.json"));
    let load_end = timeline["load_end_ms"].as_f64().unwrap();
    let inject = &case.events("fault.inject")[0];
    assert!(inject["t_ms"].as_f64().unwrap() > load_end, "{inject}");
    assert_eq!(case.events("fault.clear")[0]["early"], false);
}

#[test]
fn a_service_learns_its_port_from_env_or_listens_on_its_fixed_port() {
    // A port free right now, found the way the supervisor finds one (never a fixed number).
    let fixed = shakedown::service::free_port().expect("free port");
    let bin = util::bin().display().to_string();
    let case = Case::new(&format!(
        r#"[suite]
name = "t"
budget = "1m"

[service.api]
command = ["sh", "-c", "exec \"$BIN\" mock-server --port \"$PORT\""]
env = {{ BIN = {bin:?}, PORT = "{{port}}" }}
ready = {{ http = "/health", within = "20s" }}
entry = true

[service.side]
command = ["shakedown", "mock-server", "--port", "{fixed}"]
port = {fixed}
ready = {{ tcp = true, within = "20s" }}

[load]
rate = 10
arrival = "constant"
duration = "500ms"

[expect]
steady_success_rate = 1.0
"#
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.events("load.finished")[0]["sent"], 5);
    assert_eq!(status(&case, "steady_success_rate"), "pass");
    let spawns = case.events("service.spawn");
    let side = spawns
        .iter()
        .find(|e| e["service"] == "side")
        .expect("side spawned");
    assert!(side.to_string().contains(&fixed.to_string()), "{side}");
}

/// An API server whose engine is its child, as vLLM's is. Asked to stop (SIGTERM), it pings
/// its engine: alive, it says so and exits 0, leaving the engine to the supervisor (which
/// ignores the end of its input); already dead (the stop signal reached the whole group),
/// it logs an `EngineDeadError` traceback and exits 1, as vLLM 0.32's API server does.
const ENGINE_PARENT: &str = r#"
import signal, socket, subprocess, sys
engine = subprocess.Popen(["sh", "-c", "while read x; do echo pong; done; exec sleep 600"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def stop(*_):
    try:
        engine.stdin.write("ping\n")
        engine.stdin.flush()
        alive = engine.stdout.readline() == "pong\n"
    except BrokenPipeError:
        alive = False
    if alive:
        print("INFO shutting down; the engine is left to the supervisor", flush=True)
        sys.exit(0)
    print("Traceback (most recent call last):\nEngineDeadError: the engine core died first",
          file=sys.stderr, flush=True)
    sys.exit(1)
signal.signal(signal.SIGTERM, stop)
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    server.accept()[0].close()
"#;

/// A suite around [`ENGINE_PARENT`]: `service` adds keys to `[service]`, `expect` to `[expect]`.
fn engine_parent_suite(service: &str, expect: &str) -> String {
    format!(
        "[suite]\nname = \"t\"\nbudget = \"1m\"\n\n[service]\ncommand = [\"python3\", \"-c\", {ENGINE_PARENT:?}, \"{{port}}\"]\n\
         ready = {{ tcp = true, within = \"20s\" }}\nstop_grace = \"5s\"\n{service}\n\n\
         [expect]\nno_orphans = true\nlog_forbid = [\"Traceback\"]\n{expect}"
    )
}

fn service_log(case: &Case) -> String {
    std::fs::read_to_string(case.run_dir().join("service-main.log")).expect("service log")
}

#[test]
fn default_teardown_stops_the_main_process_first_then_kills_what_it_left() {
    let case = Case::new(&engine_parent_suite("", ""));
    let out = case.run(); // `run` also asserts every process seen is gone afterwards
    assert_eq!(code(&out), 0, "{}", show(&out));
    let log = service_log(&case);
    assert!(log.contains("the engine is left"), "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    let stop = &case.events("service.stop")[0];
    assert_eq!(
        (&stop["mode"], &stop["signal"]),
        (&"main".into(), &"SIGTERM".into())
    );
    // The main process exited on its own; the engine it left got SIGKILL at once.
    let kill = &case.events("service.kill")[0];
    assert_eq!(kill["why"], "main_exited", "{kill}");
    assert_eq!(kill["members"].as_array().map(Vec::len), Some(1), "{kill}");
    let exit = &case.events("service.exit")[0];
    assert_eq!(exit["code"], 0, "{exit}");
    assert!(
        kill["after_ms"].as_f64().unwrap() < 3000.0,
        "not the grace running out: {kill}"
    );
    assert_eq!(status(&case, "no_orphans"), "pass");
    let v = case.verdict("log_forbid");
    assert_eq!(v["status"], "pass", "{v:#}");
    assert_eq!(v["evidence"]["teardown_matches"], 0, "{v:#}");
}

#[test]
fn group_teardown_traceback_is_reported_apart_and_judged_only_when_asked() {
    let case = Case::new(&engine_parent_suite("stop_mode = \"group\"", ""));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(service_log(&case).contains("Traceback"));
    assert_eq!(case.events("service.stop")[0]["mode"], "group");
    let v = case.verdict("log_forbid");
    assert_eq!(v["status"], "pass", "{v:#}");
    assert_eq!(v["evidence"]["matches"], 0, "{v:#}");
    assert_eq!(v["evidence"]["teardown_matches"], 1, "{v:#}");
    let summary = v["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 more match(es) during teardown, not judged"),
        "{summary}"
    );
    assert_eq!(status(&case, "no_orphans"), "pass");

    let judged = Case::new(&engine_parent_suite(
        "stop_mode = \"group\"",
        "log_forbid_teardown = [\"Traceback\"]\n",
    ));
    let out = judged.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = judged.verdict("log_forbid_teardown");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert_eq!(v["id"], "log.forbidden_teardown");
    assert_eq!(
        v["evidence"]["examples"][0]["text"],
        "Traceback (most recent call last):"
    );
    assert_eq!(status(&judged, "log_forbid"), "pass");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("[log.forbidden_teardown]"), "{summary}");
}

/// The mock exits with status 0 once its engine is killed, as vLLM 0.32's API server does.
fn exit_zero_suite(policy: &str) -> String {
    mock_suite(
        &["--engine", "process", "--on-engine-death", "exit-zero"],
        &kill_engine("recover_within = \"4s\"\n"),
    )
    .replace(
        "stop_grace",
        &format!("restart = {{ policy = \"{policy}\", max = 2, backoff = \"200ms\" }}\nstop_grace"),
    )
}

#[test]
fn exit_zero_under_load_is_restarted_by_policy_always() {
    let case = Case::new(&exit_zero_suite("always"));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let exit = &case.events("service.exit")[0];
    assert_eq!(
        (&exit["code"], &exit["during_teardown"]),
        (&0.into(), &false.into()),
        "{exit}"
    );
    assert_eq!(case.events("service.restart").len(), 1);
    assert!(
        case.events("service.ready")
            .iter()
            .any(|e| e["generation"] == 1),
        "generation 1 became ready"
    );
}

#[test]
fn exit_zero_under_load_is_not_restarted_by_policy_on_failure() {
    let case = Case::new(&exit_zero_suite("on-failure"));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(case.events("service.exit")[0]["code"], 0);
    assert!(case.events("service.restart").is_empty());
    assert_eq!(status(&case, "recover_within"), "fail");
}
