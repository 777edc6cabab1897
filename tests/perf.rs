//! L4 perf tests (`nightly.json`) end to end against the mock: the meter measures the mock's
//! configured latencies back, a slower mock fails its baseline with `perf.regression`,
//! failing requests fail `perf.failures`, a client that cannot keep its schedule marks its
//! points `client.saturated` instead of judging them, and bad configurations are located.

mod util;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::{bin, code, read_json, show};

/// A perf configuration with one test `t` against the mock (`mock_args` appended), CI-sized:
/// `client` merged over a short random chat workload, `test` over the test.
fn config(mock_args: &[&str], client: Value, test: Value) -> Value {
    let mut cmd = vec!["shakedown", "mock-server", "--port", "{port}"];
    cmd.extend_from_slice(mock_args);
    let mut t = json!({"test_name": "t", "qps_list": [40]});
    merge(&mut t, test);
    json!({
        "kind": "perf",
        "seed": 5,
        "defaults": {
            "server_command": cmd,
            "ready": {"http": "/health", "within": "20s"},
            "budget": "2m",
            "cooldown": "100ms",
            "client_parameters": merged(json!({
                "backend": "openai-chat",
                "random_input_len": 16,
                "random_output_len": 8,
                "num_prompts": 60,
                "num_warmups": 4,
                "ignore_eos": true,
                // Tests share two cores: a point is the client's fault only past 100 ms.
                "max_schedule_lag_p99": "100ms"
            }), client)
        },
        "tests": [t]
    })
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
}

fn merged(mut a: Value, b: Value) -> Value {
    merge(&mut a, b);
    a
}

/// A temporary directory with `nightly.json` (and whatever else is written into it).
struct Nightly {
    tmp: tempfile::TempDir,
}

impl Nightly {
    fn new(config: &Value) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join("nightly.json"), config.to_string()).expect("write");
        Nightly { tmp }
    }

    fn file(&self, name: &str, body: &Value) {
        std::fs::write(self.tmp.path().join(name), body.to_string()).expect("write");
    }

    fn path(&self) -> PathBuf {
        self.tmp.path().join("nightly.json")
    }

    /// Run into `run/`; the one test's run directory is `run/` itself.
    fn run(&self) -> Output {
        let out = Command::new(bin())
            .arg("run")
            .arg(self.path())
            .arg("--run-dir")
            .arg(self.run_dir())
            .arg("--quiet")
            .output()
            .expect("run shakedown");
        util::assert_tree_gone(&self.run_dir());
        out
    }

    fn run_dir(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    fn verdict(&self, check: &str) -> Value {
        let report = read_json(&self.run_dir().join("report.json"));
        report["verdicts"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["check"] == check).cloned())
            .unwrap_or_else(|| panic!("no verdict `{check}` in {report:#}"))
    }

    fn result(&self, point: &str) -> Value {
        read_json(
            &self
                .run_dir()
                .join("points")
                .join(point)
                .join("result.json"),
        )
    }
}

fn status(v: &Value) -> (&str, &str) {
    (
        v["status"].as_str().unwrap_or_default(),
        v["id"].as_str().unwrap_or_default(),
    )
}

#[test]
fn the_meter_measures_the_mocks_latencies_back() {
    // The mock waits 30 ms before the first token and 10 ms between tokens; 8 tokens each.
    let n = Nightly::new(&config(
        &["--ttft-ms", "30", "--itl-ms", "10"],
        json!({}),
        json!({}),
    ));
    let out = n.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let r = n.result("qps_40");
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    assert_eq!(r["completed"], json!(60), "{r:#}");
    assert_eq!(
        r["total_output_tokens"],
        json!(480),
        "usage counts every token"
    );
    // The documented error of the meter (docs/metrics.md): medians within a few ms of the
    // configured delays, never below them by more than a timer tick.
    let within = |k: &str, lo: f64, hi: f64| {
        assert!(
            (lo..=hi).contains(&f(k)),
            "{k} = {} not in [{lo}, {hi}]: {r:#}",
            f(k)
        )
    };
    within("median_ttft_ms", 29.0, 40.0);
    within("median_tpot_ms", 9.0, 12.0);
    within("median_itl_ms", 8.5, 12.0);
    within("median_e2el_ms", 99.0, 115.0);
    within("request_throughput", 30.0, 41.0);
    // One table in the summary, the vLLM fields and shakedown's own in each result.
    assert!(show(&out).contains("TTFT p99"), "{}", show(&out));
    assert_eq!(r["request_rate"], json!(40.0));
    assert!(r["shakedown"]["metrics"]["itl_ms"]["histogram"].is_array());
    // Resource use while the point ran: the mock's resident memory, sampled.
    let rss = r["shakedown"]["resources"]["rss_max_mib"].as_f64();
    assert!(rss.is_some_and(|m| m > 1.0), "{r:#}");
    let perf = read_json(&n.run_dir().join("perf.json"));
    assert_eq!(perf["points"][0]["name"], "qps_40");
    assert!(n.run_dir().join("perf.md").exists());
    let html = std::fs::read_to_string(n.run_dir().join("report.html")).expect("report.html");
    assert!(html.contains(r#"<table class="perf">"#) && html.contains("<td>qps_40"));
    assert_eq!(
        status(&n.verdict("max_schedule_lag_p99")).1,
        "client.saturated"
    );
}

#[test]
fn a_slower_mock_fails_its_baseline_with_perf_regression() {
    // The night before: a fast mock.
    let before = Nightly::new(&config(
        &["--ttft-ms", "5", "--itl-ms", "2"],
        json!({}),
        json!({}),
    ));
    assert_eq!(code(&before.run()), 0);
    // Tonight: the first token comes 100 ms later, against bounds and last night's result.
    let cfg = config(
        &["--ttft-ms", "105", "--itl-ms", "2"],
        json!({}),
        json!({"baseline": "nightly.baseline.json"}),
    );
    let tonight = Nightly::new(&cfg);
    tonight.file(
        "nightly.baseline.json",
        &json!({
            "previous": before.run_dir(),
            "regress_pct": 50,
            "points": {"*": {"ttft_ms.median": {"max": 60}, "failed": {"max": 0}}}
        }),
    );
    let out = tonight.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = tonight.verdict("baseline");
    assert_eq!(status(&v), ("fail", "perf.regression"), "{v:#}");
    let lines = v["lines"].to_string();
    assert!(
        lines.contains("ttft_ms.median at qps_40") && lines.contains("required at most 60"),
        "{lines}"
    );
    assert!(lines.contains("more than 50 % worse"), "{lines}");
    // `perf compare` says the same, and nothing regressed between a run and itself.
    let compare = |a: &Path, b: &Path| {
        Command::new(bin())
            .args(["perf", "compare"])
            .arg(a)
            .arg(b)
            .output()
            .expect("perf compare")
    };
    let out = compare(&before.run_dir(), &tonight.run_dir());
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        show(&out).contains("REGRESSED ttft_ms.median at qps_40"),
        "{}",
        show(&out)
    );
    let same = compare(&before.run_dir(), &before.run_dir().join("perf.json"));
    assert_eq!(code(&same), 0, "{}", show(&same));
}

#[test]
fn the_same_baseline_passes_on_the_healthy_mock() {
    // Prompts from a file this time, each with its own answer length.
    let cfg = config(
        &["--ttft-ms", "5", "--itl-ms", "2"],
        json!({"dataset_name": "jsonl", "dataset_path": "prompts.jsonl"}),
        json!({"baseline": "b.baseline.json"}),
    );
    let n = Nightly::new(&cfg);
    std::fs::write(
        n.tmp.path().join("prompts.jsonl"),
        "{\"prompt\": \"Say hi\", \"max_tokens\": 3}\n{\"messages\": [{\"role\": \"user\", \"content\": \"Count\"}], \"max_tokens\": 5}\n",
    )
    .expect("write prompts");
    n.file(
        "b.baseline.json",
        &json!({"points": {"*": {"ttft_ms.median": {"max": 60}, "failed": {"max": 0}}, "qps_40": {"completed": {"min": 60}}}}),
    );
    let out = n.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(status(&n.verdict("baseline")), ("pass", "perf.regression"));
    // 60 prompts round robin over the file: 30 of 3 tokens and 30 of 5.
    assert_eq!(n.result("qps_40")["total_output_tokens"], json!(240));
    assert_eq!(
        status(&n.verdict("max_failed_pct")),
        ("pass", "perf.failures")
    );
}

#[test]
fn failed_requests_fail_perf_failures_by_outcome() {
    // Every 4th stream ends early without [DONE]: a quarter of each point fails.
    let n = Nightly::new(&config(
        &["--ttft-ms", "2", "--itl-ms", "1", "--bug", "drop-stream"],
        json!({"max_failed_pct": 10}),
        json!({"qps_list": [40, "inf"], "max_concurrency_list": [8]}),
    ));
    let out = n.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = n.verdict("max_failed_pct");
    assert_eq!(status(&v), ("fail", "perf.failures"), "{v:#}");
    let lines = v["lines"].to_string();
    assert!(
        lines.contains("qps_inf_concurrency_8: 15 of 60") && lines.contains("stream_truncated"),
        "{lines}"
    );
    // A capped point never has more requests open than its cap.
    assert!(
        n.result("qps_inf_concurrency_8")["max_concurrent_requests"]
            .as_u64()
            .is_some_and(|c| c <= 8)
    );
}

#[test]
fn a_client_that_cannot_keep_its_schedule_is_not_judged() {
    // A bound no client keeps: every point measured the client, none is judged.
    let n = Nightly::new(&config(
        &["--ttft-ms", "2"],
        json!({"max_schedule_lag_p99": "1us"}),
        json!({}),
    ));
    let out = n.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let v = n.verdict("max_schedule_lag_p99");
    assert_eq!(status(&v), ("not_judged", "client.saturated"), "{v:#}");
    assert!(
        v["lines"][0]
            .as_str()
            .is_some_and(|l| l.starts_with("qps_40: schedule lag p99")),
        "{v:#}"
    );
    let f = n.verdict("max_failed_pct");
    assert_eq!(status(&f).0, "not_judged");
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("saturated")),
        "{f:#}"
    );
    assert!(
        show(&out).contains("qps_40 (client saturated)"),
        "{}",
        show(&out)
    );
}

/// `shakedown validate` of a configuration: the exit code and what it printed.
fn validate(config: &Value, files: &[(&str, &str)]) -> (i32, String) {
    let n = Nightly::new(config);
    for (name, text) in files {
        std::fs::write(n.tmp.path().join(name), text).expect("write");
    }
    let out = Command::new(bin())
        .arg("validate")
        .arg(n.path())
        .output()
        .expect("validate");
    let text = show(&out).replace(&n.tmp.path().display().to_string(), "DIR");
    (code(&out), text)
}

#[test]
fn bad_configurations_are_located() {
    let bad_qps = json!({"kind": "perf", "defaults": {"server_command": ["x", "{port}"]}, "tests": [{"test_name": "a", "qps_list": [1, -2]}]});
    let (c, text) = validate(&bad_qps, &[]);
    assert_eq!(c, 2);
    assert!(
        text.contains("DIR/nightly.json:1:")
            && text.contains("`qps_list[1]`")
            && text.contains("or \"inf\""),
        "{text}"
    );
    let no_kind = json!({"tests": [{"test_name": "a"}]});
    assert!(validate(&no_kind, &[]).1.contains("missing `kind`"));
    let twice = json!({"kind": "perf", "defaults": {"server_command": ["x", "{port}"], "qps_list": [1]}, "tests": [{"test_name": "a"}, {"test_name": "a"}]});
    let (_, text) = validate(&twice, &[]);
    assert!(text.contains("has the name `a` of `tests[0]`"), "{text}");
    let baseline = json!({"kind": "perf", "defaults": {"server_command": ["x", "{port}"], "qps_list": [1], "baseline": "b.baseline.json"}, "tests": [{"test_name": "a"}]});
    let (c, text) = validate(
        &baseline,
        &[(
            "b.baseline.json",
            "{\"points\": {\"*\": {\n  \"ttft.p99\": {\"max\": 1}}}}",
        )],
    );
    assert_eq!(c, 2);
    assert!(
        text.contains("DIR/b.baseline.json:2:3:") && text.contains("is not a metric"),
        "{text}"
    );
    let defaults_err = json!({"kind": "perf", "defaults": {"server_command": ["x", "{port}"], "qps_list": [1], "client_parameters": {"num_prompts": 0}}, "tests": [{"test_name": "a"}]});
    let (_, text) = validate(&defaults_err, &[]);
    assert!(
        text.contains("`num_prompts`") && text.contains("from 1 to"),
        "an error in a default is located there: {text}"
    );
    // The shipped configuration is valid.
    let shipped = Command::new(bin())
        .args([
            "validate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/suites/l4/perf/nightly.json"),
        ])
        .output()
        .expect("validate");
    assert_eq!(code(&shipped), 0, "{}", show(&shipped));
}

#[test]
fn one_test_of_a_configuration_runs_by_name() {
    let mut cfg = config(&["--ttft-ms", "1"], json!({"num_prompts": 5}), json!({}));
    cfg["tests"] =
        json!([{"test_name": "t", "qps_list": [50]}, {"test_name": "u", "qps_list": [50]}]);
    let n = Nightly::new(&cfg);
    let run = |name: &str| {
        Command::new(bin())
            .arg("run")
            .arg(n.path())
            .args(["--test", name, "--run-dir"])
            .arg(n.run_dir())
            .arg("--quiet")
            .output()
            .expect("run")
    };
    let out = run("u");
    assert_eq!(code(&out), 0, "{}", show(&out));
    // One test ran, into the run directory itself.
    assert_eq!(read_json(&n.run_dir().join("perf.json"))["test"], "u");
    let out = run("v");
    assert_eq!(code(&out), 2);
    assert!(
        show(&out).contains("has no test named `v`"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_closed_loop_keeps_its_cap_drops_nothing_and_ends_with_its_duration() {
    // Arrivals far faster than any service: four clients back to back for one second.
    let load = "[load]\nrate = 100000\nconcurrency = 4\nduration = \"1s\"\n\
                request = { api = \"completions\", stream = false, max_tokens = 2 }\n";
    let case = util::Case::new(&util::mock_suite(
        &["--ttft-ms", "2", "--itl-ms", "1"],
        load,
    ));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let reqs = util::jsonl(&case.run_dir().join("requests.jsonl"));
    assert!(reqs.len() > 20, "{} requests", reqs.len());
    assert!(
        reqs.iter().all(|r| r["outcome"] == "ok"),
        "nothing dropped or failed"
    );
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    // No more than four open at once (an end before a start at the same instant).
    let mut edges: Vec<(f64, i32)> = reqs
        .iter()
        .flat_map(|r| [(f(r, "sent_ms"), 1), (f(r, "done_ms"), -1)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let peak = edges
        .iter()
        .scan(0, |n, e| {
            *n += e.1;
            Some(*n)
        })
        .max();
    assert_eq!(peak, Some(4));
    // Every request took its slot within the second after the load's start (the first
    // arrival's instant); when it then left is up to the scheduler, so it is not judged.
    let start = reqs
        .iter()
        .map(|r| f(r, "intended_ms"))
        .fold(f64::INFINITY, f64::min);
    let last = reqs.iter().map(|r| f(r, "slot_ms")).fold(0.0, f64::max);
    assert!(
        last - start < 1000.0,
        "a slot taken {} ms after the start",
        last - start
    );
}
