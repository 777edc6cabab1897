//! L5 stability: the shipped `weekly.json`, scaled to CI size with `--duration`, passes on the
//! healthy mock, and each stability check fails on the mock bug built for it.

mod util;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::{assert_tree_gone, bin, read_json, show};

/// The shipped soaks.
const WEEKLY: &str = "suites/l5/stability/weekly.json";
/// How long each shipped soak runs here.
const CI_DURATION: &str = "15s";
/// How long a soak with a mock bug runs here: each bug shows within seconds, and ending well
/// before the healthy soaks running beside them keeps their judging and teardown out of the
/// healthy soaks' last window (on two cores, that contention alone can move a p50).
const BUG_DURATION: &str = "8s";
/// The checks of a soak.
const CHECKS: &[&str] = &[
    "failures",
    "memory_growth",
    "fd_growth",
    "thread_growth",
    "latency_drift",
    "throughput_drift",
    "stuck_after",
];

fn weekly() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(WEEKLY);
    read_json(&path)
}

/// Run configuration file `file` scaled to `duration` into `run_dir`.
fn run(file: &Path, run_dir: &Path, duration: &str) -> Output {
    Command::new(bin())
        .args(["run", "--quiet", "--duration", duration])
        .arg(file)
        .arg("--run-dir")
        .arg(run_dir)
        .output()
        .expect("run shakedown")
}

/// The verdict of `check` in `dir`'s report.
fn verdict(dir: &Path, check: &str) -> Value {
    let report = read_json(&dir.join("report.json"));
    report["verdicts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["check"] == check).cloned())
        .unwrap_or_else(|| panic!("no verdict {check} in {report:#}"))
}

/// The shipped soak `name` alone, its mock given `mock_args` and its load `load` (merged over
/// the shipped one), run at CI size: its directory and the run's output.
fn soak(
    name: &str,
    mock_args: &[&str],
    load: Value,
    duration: &str,
) -> (tempfile::TempDir, PathBuf, Output) {
    let mut file = weekly();
    let mut command = file["defaults"]["service"]["command"].clone();
    if let Some(argv) = command.as_array_mut() {
        argv.extend(mock_args.iter().map(|&a| Value::from(a)));
    }
    let mut test = file["tests"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no soak {name} in {WEEKLY}"));
    test["service"] = json!({ "command": command });
    test["load"] = load;
    file["tests"] = json!([test]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("weekly.json");
    std::fs::write(&path, file.to_string()).expect("write the soak");
    let dir = tmp.path().join("run");
    let out = run(&path, &dir, duration);
    assert_tree_gone(&dir);
    (tmp, dir, out)
}

/// The healthy `mock-steady` soak, its mock given `--bug BUG --bug-after 20`.
fn with_bug(bug: &str) -> (tempfile::TempDir, PathBuf, Output) {
    // A stalled request gives up after 3 s, so the run does not wait out the usual timeout.
    soak(
        "mock-steady",
        &["--bug", bug, "--bug-after", "20"],
        json!({"timeout": "3s"}),
        BUG_DURATION,
    )
}

/// `bug` fails the soak (exit 1) with `id` from `check`.
fn fails_with(bug: &str, check: &str, id: &str) {
    let (_tmp, dir, out) = with_bug(bug);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v = verdict(&dir, check);
    assert_eq!(
        (v["status"].as_str(), v["id"].as_str()),
        (Some("fail"), Some(id)),
        "{v:#}"
    );
}

/// Shipped soak `name` passes every check on the healthy mock, scaled in proportion.
fn passes(name: &str) {
    let (_tmp, dir, out) = soak(name, &[], json!({}), CI_DURATION);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for check in CHECKS {
        let v = verdict(&dir, check);
        assert_eq!(v["status"], "pass", "{v:#}");
    }
    let suite = read_json(&dir.join("suite.resolved.json"));
    assert_eq!(suite["load"]["duration"], CI_DURATION, "{suite:#}");
    // The plot, self-contained and referenced from the report.
    let report = read_json(&dir.join("report.json"));
    assert_eq!(report["plots"], json!(["stability.svg"]), "{report:#}");
    let svg = std::fs::read_to_string(dir.join("stability.svg")).expect("the plot");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for title in [
        "memory",
        "open fds",
        "threads",
        "p99",
        "throughput",
        "warm-up",
        "fit",
    ] {
        assert!(svg.contains(title), "no `{title}` in the plot");
    }
    // 2 h of 12 h.
    assert_eq!(suite["stability"]["window"], "2500ms", "{suite:#}");
}

// Soaks mostly wait on their load: each test runs its soaks side by side, in threads, so the
// whole file takes about one soak's time (CI has two cores, hence two test threads).

#[test]
fn weekly_passes_on_the_healthy_mock_at_ci_size() {
    let names: Vec<String> = weekly()["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    std::thread::scope(|s| {
        for name in &names {
            s.spawn(move || passes(name));
        }
    });
}

#[test]
fn each_mock_bug_fails_the_check_built_for_it() {
    std::thread::scope(|s| {
        s.spawn(|| fails_with("slow-leak", "memory_growth", "stability.memory_growth"));
        s.spawn(|| fails_with("slow-drift", "latency_drift", "stability.latency_drift"));
        s.spawn(|| fails_with("fd-leak", "fd_growth", "stability.fd_growth"));
        s.spawn(stall_after_fails_stuck_failures_and_throughput_drift);
    });
}

/// `stall-after`: the engine freezes while `/health` says 200.
fn stall_after_fails_stuck_failures_and_throughput_drift() {
    let (_tmp, dir, out) = with_bug("stall-after");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    for (check, id) in [
        ("stuck_after", "stability.stuck"),
        ("failures", "stability.failures"),
        ("throughput_drift", "stability.throughput_drift"),
    ] {
        let v = verdict(&dir, check);
        assert_eq!(
            (v["status"].as_str(), v["id"].as_str()),
            (Some("fail"), Some(id)),
            "{v:#}"
        );
    }
    let stuck = verdict(&dir, "stuck_after");
    assert!(
        stuck["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("/metrics"),
        "{stuck:#}"
    );
}

#[test]
fn a_soak_killed_midway_has_a_partial_report_and_is_judged_again_up_to_its_cut() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("run");
    // 60 s scaled: a partial report every 5 s (10 min of 12 h, at least 5 s).
    let mut child = Command::new(bin())
        .args(["run", "--duration", "60s"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(WEEKLY))
        .arg("--run-dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn shakedown");
    let steady = dir.join("mock-steady");
    util::wait_for(
        std::time::Duration::from_secs(30),
        "a partial report",
        || steady.join("report.json").is_file(),
    );
    child.kill().expect("SIGKILL shakedown");
    let out = child.wait_with_output().expect("reap shakedown");
    assert_tree_gone(&steady);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("  soak: ")
            && progress.contains("of 1m (")
            && progress.contains(" ok, 0 failed"),
        "{progress}"
    );
    let again = Command::new(bin())
        .arg("report")
        .arg(&steady)
        .output()
        .expect("run shakedown report");
    assert_eq!(again.status.code(), Some(130), "{}", show(&again));
    let report = read_json(&steady.join("report.json"));
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert!(
        report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not finish"),
        "{report:#}"
    );
    assert_eq!(verdict(&steady, "failures")["status"], "pass");
}
