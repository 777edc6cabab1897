//! `shakedown plan` on the shipped suites, in every format, parsed; `shakedown run --level`
//! end to end against the mock (order, level.json, one JUnit testsuite per suite,
//! --fail-fast, Ctrl-C); a suite cut at its budget reported `budget.exceeded`.

mod util;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use util::{code, show, wait_for};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `shakedown ARGS` from the repository root (so `suites` is the default directory).
fn shakedown(args: &[&str]) -> Output {
    Command::new(util::bin())
        .current_dir(root())
        .args(args)
        .output()
        .expect("run shakedown")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `shakedown plan ARGS --format json`, parsed.
fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let out = shakedown(&all);
    assert_eq!(code(&out), 0, "{}", show(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

fn suites(plan: &Value) -> &Vec<Value> {
    plan["suites"].as_array().expect("suites")
}

fn names<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<String> {
    rows.map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn l3_on_cpu_runs_l1_and_l2_and_says_why_not_the_rest() {
    let plan = plan_json(&["--level", "L3", "--hardware", "cpu"]);
    assert_eq!(plan["levels"], serde_json::json!(["L3"]));
    assert_eq!(plan["runs"], serde_json::json!(["L1", "L2", "L3"]));
    assert_eq!(plan["hardware"], "cpu");
    let all = suites(&plan);
    assert_eq!(all.len(), 29, "every shipped suite is listed: {plan:#}");
    // A shipped suite's level is its directory's.
    for s in all {
        let file = s["file"].as_str().unwrap();
        let level = s["level"].as_str().unwrap().to_lowercase();
        assert!(
            file.starts_with(&format!("suites/{level}/")),
            "{file} is level {level}"
        );
    }
    let run: Vec<&Value> = all.iter().filter(|s| s["run"] == true).collect();
    assert_eq!(
        names(run.iter().copied()),
        [
            "pytest-core-model",
            "mock-batch",
            "mock-api-conformance",
            "mock-api-conformance-completions",
            "mock-bad-config",
            "mock-smoke",
            "mock-accuracy-perf",
            "vllm-cpu-offline",
            "vllm-cpu-online"
        ]
    );
    for s in all.iter().filter(|s| s["run"] == false) {
        assert_eq!(s["skip"]["because"], "level", "{s:#}");
        let reason = s["skip"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("is not in this plan (it runs L1, L2, L3)"),
            "{reason}"
        );
        assert!(["L4", "L5"].contains(&s["level"].as_str().unwrap()));
    }
    // The level's budget: the sum of what it runs against 30 minutes.
    let b = &plan["budgets"][0];
    assert_eq!(b["level"], "L3");
    assert_eq!(b["budget_s"], 1800.0);
    let sum: f64 = run.iter().map(|s| s["estimate_s"].as_f64().unwrap()).sum();
    assert_eq!(b["estimate_s"].as_f64(), Some(sum));
    // The real-engine suites (a vLLM start each) weigh most; where vLLM's CPU build is not
    // set up they are skipped in seconds.
    assert!(
        sum > 3.0 && sum <= 1200.0,
        "within the suites' budgets: {sum}"
    );
    assert_eq!(b["over"], false);

    // The same plan as text: one line per suite, a reason on every skip, the budget line.
    let out = shakedown(&["plan", "--level", "L3", "--hardware", "cpu"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("shakedown plan: L3 (runs L1, L2, L3) on cpu\n"),
        "{text}"
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("  run ") || l.starts_with("  skip "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 29, "{text}");
    let smoke = rows
        .iter()
        .find(|r| r[2] == "mock-smoke")
        .expect("mock-smoke row");
    assert_eq!(&smoke[..4], ["run", "L2", "mock-smoke", "cpu"]);
    assert_eq!(smoke[4], "est.");
    assert_eq!(
        smoke.last(),
        Some(&"suites/l2/online_serving/mock_smoke.toml")
    );
    for r in rows.iter().filter(|r| r[0] == "skip") {
        assert!(r.join(" ").ends_with("(it runs L1, L2, L3)"), "{r:?}");
    }
    assert!(
        text.contains("  L3: ") && text.contains("within the budget of 30m"),
        "{text}"
    );
    assert!(text.contains("9 to run, 20 skipped"), "{text}");
}

#[test]
fn gpu_suites_are_skipped_for_their_hardware_with_the_reason() {
    let plan = plan_json(&["--trigger", "weekly", "--hardware", "cpu"]);
    assert_eq!(plan["levels"], serde_json::json!(["L5"]));
    assert_eq!(plan["trigger"], "weekly");
    let gpu: Vec<&Value> = suites(&plan)
        .iter()
        .filter(|s| s["hardware"] == "gpu")
        .collect();
    assert_eq!(gpu.len(), 2, "{plan:#}");
    for s in &gpu {
        assert_eq!(s["run"], false);
        assert_eq!(s["skip"]["because"], "hardware");
        assert_eq!(s["skip"]["reason"], "needs a GPU");
    }
    let run = names(suites(&plan).iter().filter(|s| s["run"] == true));
    assert_eq!(
        run,
        [
            "mock-engine-kill",
            "mock-malformed-input",
            "mock-network-flicker",
            "mock-resource-pressure",
            "vllm-cpu-engine-freeze",
            "vllm-cpu-engine-kill",
            "vllm-cpu-malformed-input",
            "vllm-cpu-network-flicker",
            "vllm-cpu-steady",
            "mock-steady",
            "mock-hourly-flicker"
        ]
    );
    // L5 has no budget: nothing to be over.
    assert_eq!(plan["budgets"][0]["budget_s"], Value::Null);
    // On a GPU machine they run.
    let plan = plan_json(&["--trigger", "weekly", "--hardware", "gpu"]);
    assert!(
        suites(&plan)
            .iter()
            .filter(|s| s["level"] == "L5")
            .all(|s| s["run"] == true)
    );
    // The nightly plan: L4 runs L3 and what it includes.
    let plan = plan_json(&["--trigger", "nightly", "--hardware", "cpu"]);
    let run = names(suites(&plan).iter().filter(|s| s["run"] == true));
    assert_eq!(
        run,
        [
            "pytest-core-model",
            "mock-batch",
            "mock-api-conformance",
            "mock-api-conformance-completions",
            "mock-bad-config",
            "mock-smoke",
            "mock-accuracy-perf",
            "vllm-cpu-offline",
            "vllm-cpu-online",
            "load-lag-1000",
            "load-lag-20",
            "mock_chat_load",
            "mock_chat_stress",
            "mock_chat_bursty",
            "mock_chat_images",
            "mock_chat_endurance"
        ]
    );
}

/// `shakedown plan ARGS --format github-matrix`: one line, parsed.
fn matrix(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["plan", "--format", "github-matrix"];
    all.extend_from_slice(args);
    let out = shakedown(&all);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().count(),
        1,
        "one line for $GITHUB_OUTPUT: {text}"
    );
    let v: Value = serde_json::from_str(&text).expect("matrix JSON");
    v["include"].as_array().expect("include").clone()
}

#[test]
fn github_matrix_has_one_job_per_suite_of_the_levels() {
    let rows = matrix(&["--level", "L3", "--hardware", "cpu"]);
    assert_eq!(rows.len(), 9, "{rows:?}");
    assert_eq!(rows[0]["suite"], "suites/l1/pytest_core_model.toml");
    assert_eq!(rows[6]["suite"], "suites/l3/mock/mock_accuracy_perf.toml");
    assert_eq!(
        rows[1]["suite"],
        "suites/l2/offline_inference/mock_batch.toml"
    );
    assert_eq!(
        rows[2]["suite"],
        "suites/l2/online_serving/mock_api_conformance.toml"
    );
    assert_eq!(
        rows[5..6],
        [serde_json::json!({
            "suite": "suites/l2/online_serving/mock_smoke.toml",
            "name": "mock-smoke",
            "level": "L2",
            "hardware": "cpu",
            "runs-on": "ubuntu-latest",
            "budget": "60s",
            "soft-fail": false,
            "skip-reason": "",
        })]
    );
    // Weekly on CPU agents: GPU suites become soft jobs on a CPU runner, which records the skip.
    let rows = matrix(&["--trigger", "weekly", "--hardware", "cpu"]);
    assert_eq!(rows.len(), 13);
    for r in &rows {
        let gpu = r["hardware"] == "gpu";
        assert_eq!(r["soft-fail"], gpu, "{r}");
        assert_eq!(r["runs-on"], "ubuntu-latest", "{r}");
        assert_eq!(
            r["skip-reason"],
            if gpu { "needs a GPU" } else { "" },
            "{r}"
        );
        assert!(root().join(r["suite"].as_str().unwrap()).is_file(), "{r}");
    }
    // With GPU agents, GPU suites go to them.
    let rows = matrix(&["--trigger", "weekly", "--hardware", "gpu"]);
    for r in &rows {
        let gpu = r["hardware"] == "gpu";
        assert_eq!(
            r["runs-on"],
            if gpu { "gpu" } else { "ubuntu-latest" },
            "{r}"
        );
        assert_eq!(r["soft-fail"], false, "{r}");
    }
}

#[test]
fn buildkite_pipeline_has_one_step_per_suite() {
    let out = shakedown(&[
        "plan",
        "--trigger",
        "weekly",
        "--hardware",
        "cpu",
        "--format",
        "buildkite",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = stdout(&out);
    let v: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 13, "{text}");
    for s in steps {
        let label = s["label"].as_str().unwrap();
        let command = s["command"].as_str().unwrap();
        let file = command
            .strip_prefix("shakedown run ")
            .and_then(|c| c.strip_suffix(" --out shakedown-runs"))
            .and_then(|c| c.split_once(" --test "))
            .map(|(file, _)| file)
            .unwrap_or_else(|| panic!("{command}"));
        assert!(root().join(file).is_file(), "{command}");
        assert!(label.starts_with("L5 "), "{label}");
        assert_eq!(
            s["artifact_paths"],
            serde_json::json!(["shakedown-runs/**/*"])
        );
        assert_eq!(s["agents"]["queue"], "cpu");
        let gpu_suite = file.contains("gpu_");
        assert_eq!(s["soft_fail"], gpu_suite, "{s}");
        assert_eq!(
            label.ends_with("(skipped: needs a GPU)"),
            gpu_suite,
            "{label}"
        );
    }
    let out = shakedown(&[
        "plan",
        "--trigger",
        "merge",
        "--hardware",
        "gpu",
        "--format",
        "buildkite",
    ]);
    let v: Value = serde_yaml_ng::from_str(&stdout(&out)).expect("yaml");
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(9), "{v}");
    assert_eq!(v["steps"][0]["label"], "L1 pytest-core-model");
    assert_eq!(v["steps"][1]["label"], "L2 mock-batch");
    assert_eq!(v["steps"][5]["label"], "L2 mock-smoke");
    assert_eq!(v["steps"][6]["label"], "L3 mock-accuracy-perf");
}

#[test]
fn a_bad_suite_file_stops_the_plan_with_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(root().join("suites/l2/online_serving/mock_smoke.toml")).unwrap();
    std::fs::write(tmp.path().join("good.toml"), good).unwrap();
    std::fs::write(
        tmp.path().join("bad.toml"),
        "[suite]\nname = \"bad\"\nlevel = \"L9\"\n",
    )
    .unwrap();
    // A fault library is not a suite, and neither is anything but .toml and .json.
    std::fs::create_dir(tmp.path().join("faults")).unwrap();
    std::fs::write(
        tmp.path().join("faults/kill.toml"),
        "kind = \"process.kill\"\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("README.md"), "# not a suite\n").unwrap();
    // Nor is a run directory shakedown wrote, JSON files and all.
    let run = tmp.path().join("out/level-L2-x/mock-smoke-x");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("events.jsonl"), "").unwrap();
    std::fs::write(run.join("report.json"), "{}").unwrap();
    std::fs::write(run.parent().unwrap().join("level.json"), "{}").unwrap();
    let dir = tmp.path().to_str().unwrap();
    let out = shakedown(&["plan", "--hardware", "cpu", dir]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let bad = tmp.path().join("bad.toml");
    // file:line:col, at the `level` key on line 3.
    let at = format!("{}:3:", bad.display());
    assert!(err.starts_with(&at) && err.contains("`level`"), "{err}");
    assert_eq!(err.lines().count(), 1, "only the bad file: {err}");
    assert!(out.stdout.is_empty(), "no plan: {}", show(&out));
    // Nor does a level run start anything.
    let out = shakedown(&["run", "--level", "L2", dir, "--out", dir]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    // Without the bad file the same directory plans.
    std::fs::remove_file(&bad).unwrap();
    let plan = plan_json(&["--hardware", "cpu", dir]);
    assert_eq!(names(suites(&plan).iter()), ["mock-smoke"]);
}

/// A mock suite of `level`, `load` seconds of load, plus `extra` lines (mock flags, expect).
fn mock_suite(name: &str, level: &str, mock_args: &str, rest: &str) -> String {
    format!(
        "[suite]\nname = \"{name}\"\nlevel = \"{level}\"\nbudget = \"1m\"\nseed = 3\n\n\
         [service]\ncommand = [\"shakedown\", \"mock-server\", \"--port\", \"{{port}}\"{mock_args}]\n\
         ready = {{ http = \"/health\", within = \"20s\" }}\nstop_grace = \"2s\"\n\n{rest}"
    )
}

const ONE_SECOND: &str = "[load]\nrate = 20\narrival = \"constant\"\nduration = \"1s\"\n\
    request = { api = \"chat\", stream = true, max_tokens = 8 }\n\n[expect]\nsteady_success_rate = 1.0\n";

/// A temporary directory with `suites/` holding `files` (name, text) and room for `out/`.
fn level_case(files: &[(&str, String)]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let suites = tmp.path().join("suites");
    std::fs::create_dir(&suites).unwrap();
    for (name, text) in files {
        std::fs::write(suites.join(name), text).unwrap();
    }
    let out = tmp.path().join("out");
    (tmp, suites, out)
}

/// `shakedown run --level LEVEL SUITES --out OUT --quiet` plus `more` arguments.
fn run_level(level: &str, suites: &Path, out: &Path, more: &[&str]) -> Output {
    let mut c = Command::new(util::bin());
    c.current_dir(root())
        .args(["run", "--level", level, "--quiet", "--out"])
        .arg(out)
        .arg(suites)
        .args(more);
    c.output().expect("run shakedown")
}

/// The one level directory under `out`, and its `level.json`.
fn level_dir(out: &Path) -> (PathBuf, Value) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("level-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let json = util::read_json(&dirs[0].join("level.json"));
    for s in json["suites"].as_array().unwrap() {
        if let Some(d) = s["run_dir"].as_str() {
            util::assert_tree_gone(Path::new(d));
        }
    }
    (dirs[0].clone(), json)
}

/// The `<testsuite name="...">` names of a JUnit file, in order.
fn testsuites(junit: &Path) -> Vec<String> {
    let xml = std::fs::read_to_string(junit).unwrap();
    xml.split("<testsuite ")
        .skip(1)
        .map(|t| {
            t.split("name=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn run_level_runs_included_levels_first_with_one_report_for_all() {
    // A GPU suite too: skipped with the reason where there is no CUDA driver, else it runs.
    let gpu = mock_suite("gpu-l1", "L1", "", ONE_SECOND)
        .replace("level = \"L1\"", "level = \"L1\"\nhardware = \"gpu\"");
    let (_tmp, extra, out_dir) = level_case(&[
        ("a.toml", mock_suite("quick-l1", "L1", "", ONE_SECOND)),
        ("b.toml", gpu),
    ]);
    // The shipped L2 suites and two more (the shipped L1 suite needs pytest, which a machine
    // may lack; tests/command.rs runs it where pytest is).
    let out = run_level(
        "L3",
        Path::new("suites/l2"),
        &out_dir,
        &[extra.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    let (dir, level) = level_dir(&out_dir);
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("level-L3-"),
        "{dir:?}"
    );
    assert_eq!(level["level"], "L3");
    assert_eq!(level["status"], "passed");
    assert_eq!(level["budget_s"], 1800.0);
    assert_eq!(level["over_budget"], false);
    let rows = level["suites"].as_array().unwrap();
    // The included levels first: L1, then L2; L4 and L5 suites are not part of L3.
    let l2 = [
        "mock-batch",
        "mock-api-conformance",
        "mock-api-conformance-completions",
        "mock-bad-config",
        "mock-smoke",
    ];
    assert_eq!(
        names(rows.iter()),
        [&["quick-l1", "gpu-l1"][..], &l2].concat()
    );
    for r in rows {
        let run_dir = Path::new(r["run_dir"].as_str().unwrap());
        assert!(
            run_dir.starts_with(&dir),
            "run directories inside the level's"
        );
        let report = util::read_json(&run_dir.join("report.json"));
        assert_eq!(r["status"], report["status"], "{r:#}");
        assert_eq!(r["failed"], serde_json::json!([]));
        if r["name"] == "gpu-l1" && r["status"] == "skipped" {
            let reason = r["reason"].as_str().unwrap();
            assert!(reason.starts_with("skipped: "), "{reason}");
        } else {
            assert_eq!(r["status"], "passed", "{r:#}");
        }
    }
    assert_eq!(
        testsuites(&dir.join("junit.xml")),
        [&["quick-l1", "gpu-l1"][..], &l2].concat()
    );
    let text = stdout(&out);
    assert!(
        text.contains("shakedown: level L3 (runs L1, L2, L3): PASSED"),
        "{text}"
    );
}

#[test]
fn fail_fast_stops_the_level_at_the_first_failure() {
    // Every 4th stream ends early without [DONE]: steady success below 100 %.
    let (_tmp, suites, out_dir) = level_case(&[
        (
            "a.toml",
            mock_suite("drops", "L1", ", \"--bug\", \"drop-stream\"", ONE_SECOND),
        ),
        ("b.toml", mock_suite("fine", "L2", "", ONE_SECOND)),
    ]);
    let out = run_level("L3", &suites, &out_dir, &["--fail-fast"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let (dir, level) = level_dir(&out_dir);
    assert_eq!(level["status"], "failed");
    let rows = level["suites"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "failed");
    let ids = rows[0]["failed"].as_array().unwrap();
    assert!(ids.contains(&"steady.success_rate".into()), "{ids:?}");
    assert_eq!(rows[1]["status"], "skipped");
    assert_eq!(rows[1]["run_dir"], Value::Null);
    let reason = rows[1]["reason"].as_str().unwrap();
    assert!(reason.contains("--fail-fast"), "{reason}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(testsuites(&dir.join("junit.xml")), ["drops", "fine"]);
    assert!(
        junit.contains("<failure type=\"steady.success_rate\""),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped message=\"not run: `drops` FAILED"),
        "{junit}"
    );
}

#[test]
fn ctrl_c_stops_the_level() {
    let long = ONE_SECOND.replace("duration = \"1s\"", "duration = \"20s\"");
    let (_tmp, suites, out_dir) = level_case(&[
        ("first.toml", mock_suite("first", "L1", "", &long)),
        ("second.toml", mock_suite("second", "L1", "", &long)),
    ]);
    let child = Command::new(util::bin())
        .args(["run", "--level", "L1", "--quiet", "--out"])
        .arg(&out_dir)
        .arg(&suites)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once load is under way in the first suite.
    wait_for(Duration::from_secs(20), "the first suite's load", || {
        std::fs::read_dir(&out_dir)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|l| std::fs::read_dir(l.path()).into_iter().flatten().flatten())
            .any(|r| {
                std::fs::read_to_string(r.path().join("events.jsonl"))
                    .is_ok_and(|t| t.contains("\"baseline\""))
            })
    });
    util::sigint(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", show(&out));
    let (_, level) = level_dir(&out_dir);
    assert_eq!(level["status"], "interrupted");
    let rows = level["suites"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "interrupted");
    assert_eq!(rows[1]["status"], "skipped");
    assert_eq!(rows[1]["reason"], "not run: the level was interrupted");
}

#[test]
fn a_suite_past_its_budget_is_reported_budget_exceeded() {
    // Load fits the budget, but the service stops answering: open requests outlive it.
    let long = ONE_SECOND.replace("duration = \"1s\"", "duration = \"1s\"\ntimeout = \"30s\"");
    let over = mock_suite(
        "over",
        "L1",
        ", \"--bug\", \"hang-under-load\", \"--bug-after\", \"5\"",
        &long,
    )
    .replace("budget = \"1m\"", "budget = \"3s\"");
    let (_tmp, suites, out_dir) = level_case(&[("over.toml", over)]);
    let out = run_level("L1", &suites, &out_dir, &[]);
    assert_eq!(code(&out), 3, "{}", show(&out));
    let (dir, level) = level_dir(&out_dir);
    let row = &level["suites"][0];
    assert_eq!(row["status"], "error");
    assert_eq!(row["failed"], serde_json::json!(["budget.exceeded"]));
    let run_dir = Path::new(row["run_dir"].as_str().unwrap());
    let report = util::read_json(&run_dir.join("report.json"));
    let error = report["error"].as_str().unwrap();
    assert!(error.starts_with("budget.exceeded: "), "{error}");
    assert!(error.contains("3s"), "{error}");
    // Cut, not run to its end: torn down well before 30 s of load.
    assert!(report["wall_ms"].as_f64().unwrap() < 15_000.0, "{report:#}");
    for junit in [run_dir.join("junit.xml"), dir.join("junit.xml")] {
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains("<error type=\"budget.exceeded\""), "{xml}");
    }
    let text = stdout(&out);
    assert!(text.contains("failures.md#budgetexceeded"), "{text}");
}
