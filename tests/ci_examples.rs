//! The example pipelines in `examples/ci/` work: each parses as YAML, has the shape its CI
//! expects, its plan step (run here as the CI would run it, against this repository's suites)
//! yields exactly what `shakedown plan` does for the trigger its event stands for, and every
//! suite it names or plans exists.

mod util;

use serde_yaml_ng::Value;
use std::path::Path;
use std::process::Command;

const GITHUB: &str = "examples/ci/github-actions.yml";
const BUILDKITE: &str = "examples/ci/buildkite.yml";

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// A string at `v[keys...]`, or a panic naming the path.
fn string<'a>(file: &str, v: &'a Value, keys: &[&str]) -> &'a str {
    keys.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: no string at {}", keys.join(".")))
}

/// `shakedown plan --trigger T --hardware gpu --format F` run directly, its stdout.
fn plan(trigger: &str, format: &str) -> String {
    let out = Command::new(util::bin())
        .args([
            "plan",
            "--trigger",
            trigger,
            "--hardware",
            "gpu",
            "--format",
            format,
        ])
        .output()
        .expect("run shakedown plan");
    assert!(out.status.success(), "plan --trigger {trigger} failed");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Run a step's script with `bash -eo pipefail`, `shakedown` on `PATH`, in the repository
/// root (the checkout), with `env` added.
fn step(file: &str, script: &str, path: &std::ffi::OsStr, env: &[(String, String)]) {
    let out = Command::new("bash")
        .args(["-eo", "pipefail", "-c", script])
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{file}: the plan step failed with {env:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `suites/...` file the pipeline's text names exists.
fn named_suites_exist(file: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    let re = regex::Regex::new(r"suites/[A-Za-z0-9_./-]+\.(toml|json)").expect("pattern");
    for m in re.find_iter(&text) {
        assert!(
            Path::new(m.as_str()).is_file(),
            "{file} names {}, which does not exist",
            m.as_str()
        );
    }
}

#[test]
fn the_github_actions_example_plans_per_event_and_runs_each_suite_as_a_job() {
    let doc = yaml(GITHUB);
    named_suites_exist(GITHUB);
    let jobs = doc.get("jobs").expect("jobs");
    assert_eq!(
        string(GITHUB, jobs, &["plan", "outputs", "matrix"]),
        "${{ steps.plan.outputs.matrix }}"
    );
    let steps = jobs["plan"]["steps"].as_sequence().expect("plan steps");
    let plan_step = steps
        .iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some("plan"))
        .expect("a step with id `plan`");
    let script = string(GITHUB, plan_step, &["run"]);
    let crons: Vec<&str> = doc["on"]["schedule"]
        .as_sequence()
        .expect("on.schedule")
        .iter()
        .map(|s| string(GITHUB, s, &["cron"]))
        .collect();
    assert_eq!(crons.len(), 2, "a nightly and a weekly schedule");

    // Each event, as GitHub would fill in the step's expressions, and the trigger it means.
    let (_bin, path) = util::bin_on_path();
    let tmp = tempfile::tempdir().expect("temp dir");
    let events = [
        ("pull_request", "", "pr"),
        ("push", "", "merge"),
        ("schedule", crons[0], "nightly"),
        ("schedule", crons[1], "weekly"),
    ];
    let mut keys = std::collections::BTreeSet::new();
    for (event, schedule, trigger) in events {
        let output = tmp.path().join(format!("output-{trigger}"));
        let mut env = vec![("GITHUB_OUTPUT".to_string(), output.display().to_string())];
        for (k, v) in plan_step["env"].as_mapping().expect("plan step env") {
            let v = match v.as_str().expect("env value") {
                "${{ github.event_name }}" => event,
                "${{ github.event.schedule }}" => schedule,
                other => panic!("{GITHUB}: the test does not know {other}"),
            };
            env.push((k.as_str().expect("env key").to_string(), v.to_string()));
        }
        step(GITHUB, script, &path, &env);
        let written = std::fs::read_to_string(&output).expect("read GITHUB_OUTPUT");
        let matrix = written
            .lines()
            .find_map(|l| l.strip_prefix("matrix="))
            .unwrap_or_else(|| panic!("{GITHUB}: no matrix= output for {event} {schedule}"));
        assert_eq!(
            matrix,
            plan(trigger, "github-matrix").trim(),
            "{event} {schedule}"
        );
        let rows: serde_json::Value = serde_json::from_str(matrix).expect("matrix JSON");
        let rows = rows["include"].as_array().expect("include");
        assert!(!rows.is_empty(), "{trigger} plans no suite");
        for row in rows {
            let suite = row["suite"].as_str().expect("suite");
            assert!(
                Path::new(suite).is_file(),
                "{trigger} plans {suite}, not a file"
            );
            keys.extend(row.as_object().expect("row").keys().cloned());
        }
    }

    // The matrix job: one per planned suite, on its runner, its run directory uploaded.
    let suite = &jobs["suite"];
    assert_eq!(string(GITHUB, suite, &["needs"]), "plan");
    assert_eq!(
        string(GITHUB, suite, &["strategy", "matrix"]),
        "${{ fromJSON(needs.plan.outputs.matrix) }}"
    );
    assert_eq!(string(GITHUB, suite, &["runs-on"]), "${{ matrix.runs-on }}");
    let steps = suite["steps"].as_sequence().expect("suite steps");
    assert!(
        steps
            .iter()
            .filter_map(|s| s.get("run").and_then(Value::as_str))
            .any(|r| r.starts_with("shakedown run \"${{ matrix.suite }}\" --test \"${{ matrix.name }}\" --out shakedown-runs")),
        "{GITHUB}: no step runs the matrix suite"
    );
    assert!(
        steps.iter().any(|s| {
            s.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                && string(GITHUB, s, &["with", "path"]) == "shakedown-runs"
                && string(GITHUB, s, &["if"]) == "always()"
        }),
        "{GITHUB}: the run directories are not uploaded always"
    );
    // Every `matrix.KEY` the workflow reads is a key the plan writes.
    let text = std::fs::read_to_string(GITHUB).expect("read");
    let re = regex::Regex::new(r"matrix\.([a-z-]+)").expect("pattern");
    for c in re.captures_iter(&text) {
        assert!(
            keys.contains(&c[1]),
            "{GITHUB} reads matrix.{}, which the plan lacks",
            &c[1]
        );
    }
}

#[test]
fn the_buildkite_example_uploads_the_plan_for_its_trigger() {
    let doc = yaml(BUILDKITE);
    named_suites_exist(BUILDKITE);
    let first = &doc["steps"][0];
    let command = string(BUILDKITE, first, &["command"]);
    assert!(
        command.starts_with("shakedown plan ")
            && command.ends_with("--format buildkite | buildkite-agent pipeline upload"),
        "{BUILDKITE}: the first step does not upload a plan: {command}"
    );
    // Buildkite reads `$$` as a literal `$` when it loads the pipeline.
    let command = command.replace("$$", "$");

    // A stand-in agent that keeps what it is asked to upload.
    let (bin, path) = util::bin_on_path();
    let agent = bin.path().join("buildkite-agent");
    std::fs::write(
        &agent,
        "#!/bin/sh\n[ \"$*\" = 'pipeline upload' ] || exit 64\ncat > \"$UPLOADED\"\n",
    )
    .expect("write agent");
    let mut perms = std::fs::metadata(&agent).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&agent, perms).expect("chmod");

    let uploaded = bin.path().join("uploaded.yml");
    for (set, trigger) in [
        (None, "merge"),
        (Some("nightly"), "nightly"),
        (Some("weekly"), "weekly"),
    ] {
        let mut env = vec![("UPLOADED".to_string(), uploaded.display().to_string())];
        env.extend(set.map(|t| ("SHAKEDOWN_TRIGGER".to_string(), t.to_string())));
        step(BUILDKITE, &command, &path, &env);
        let text = std::fs::read_to_string(&uploaded).expect("read upload");
        assert_eq!(
            text,
            plan(trigger, "buildkite"),
            "SHAKEDOWN_TRIGGER={set:?}"
        );
        let pipeline: Value = serde_yaml_ng::from_str(&text).expect("the upload is YAML");
        let steps = pipeline["steps"].as_sequence().expect("steps");
        assert!(!steps.is_empty(), "{trigger} uploads no step");
        for s in steps {
            let run = string(BUILDKITE, s, &["command"]);
            let suite = run
                .strip_prefix("shakedown run ")
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_else(|| panic!("{trigger}: step command {run}"));
            assert!(
                Path::new(suite).is_file(),
                "{trigger} uploads {suite}, not a file"
            );
            let queue = string(BUILDKITE, s, &["agents", "queue"]);
            assert!(["cpu", "gpu"].contains(&queue), "queue {queue}");
        }
    }
}
