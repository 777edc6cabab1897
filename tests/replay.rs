//! `shakedown replay`: a run directory runs again from its `suite.resolved.json` alone, and
//! says whether the same verdict ids fail.

mod util;

use serde_json::{Value, json};
use shakedown::suite;
use std::path::Path;
use std::process::Command;
use util::{Case, bin, code, mock_suite, show};

#[test]
fn every_shipped_suite_reads_back_from_its_resolved_form_unchanged() {
    let (suites, errors) = shakedown::plan::discover(&[Path::new("suites").to_path_buf()]);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(suites.len() > 20);
    let dir = tempfile::tempdir().expect("temp dir");
    for s in suites {
        let first = serde_json::to_string_pretty(&s).expect("serialises");
        let path = dir.path().join("suite.resolved.json");
        std::fs::write(&path, &first).expect("write");
        let back = suite::load_all(&path, &shakedown::fault::check)
            .unwrap_or_else(|e| panic!("{}: {e}", s.meta.name));
        assert_eq!(back.len(), 1);
        let again = serde_json::to_string_pretty(&back[0]).expect("serialises");
        assert_eq!(first, again, "{} changes on the way back", s.meta.name);
    }
}

#[test]
fn a_failing_run_replays_to_the_same_failure_and_not_against_a_fixed_service() {
    // Every 4th stream ends early without [DONE]: a silent loss, every time.
    let load = "[load]\nrate = 20\narrival = \"constant\"\nduration = \"1s\"\n\
                request = { api = \"chat\", stream = true, max_tokens = 4 }\n\n\
                [expect]\nsteady_success_rate = 1.0\n";
    let case = Case::new(&mock_suite(&["--bug", "drop-stream"], load));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let before = case.failed_ids();
    assert!(!before.is_empty());
    let line = format!("replay: shakedown replay {}", case.run_dir().display());
    assert!(show(&out).contains(&line), "{}", show(&out));

    let replay = |against: Option<&str>| {
        let out_dir = case.tmp.path().join("replays");
        let mut c = Command::new(bin());
        c.arg("replay")
            .arg(case.run_dir())
            .arg("--out")
            .arg(&out_dir)
            .arg("--quiet");
        if let Some(a) = against {
            c.args(["--against", a]);
        }
        c.output().expect("replay")
    };
    let same = replay(None);
    assert_eq!(code(&same), 0, "{}", show(&same));
    assert!(
        show(&same).contains("replay: the same verdict ids fail"),
        "{}",
        show(&same)
    );
    assert!(
        show(&same).contains("replay: the planned schedule is the recorded one"),
        "{}",
        show(&same)
    );
    // The same build fixed: nothing fails any more, which is a different outcome.
    let fixed = replay(Some("shakedown mock-server --port {port}"));
    assert_eq!(code(&fixed), 1, "{}", show(&fixed));
    assert!(show(&fixed).contains("now none"), "{}", show(&fixed));
}

#[test]
fn a_directory_without_a_run_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(bin())
        .arg("replay")
        .arg(dir.path())
        .output()
        .expect("replay");
    assert_eq!(code(&out), 2);
    assert!(show(&out).contains("suite.resolved.json"), "{}", show(&out));
}

#[test]
fn two_runs_with_one_seed_plan_the_same_schedule_byte_for_byte() {
    // Every seeded draw: Poisson arrivals, flicker intervals, corpus order, toxicity rolls.
    let load = "[load]\nrate = 20\narrival = \"poisson\"\nduration = \"1s\"\n\
                request = { api = \"chat\", stream = true, max_tokens = 4 }\n\n\
                [[fault]]\nkind = \"network.flicker\"\nat = \"200ms\"\nfor = \"600ms\"\n\
                down = [\"100ms\", \"200ms\"]\nup = [\"100ms\", \"200ms\"]\n\n\
                [[fault]]\nkind = \"input.malformed\"\nat = \"100ms\"\ncategories = [\"values\"]\n";
    let case = Case::new(&mock_suite(&[], load));
    let first = case.run();
    assert!(code(&first) <= 1, "{}", show(&first));
    let second_dir = case.tmp.path().join("run2");
    let second = Command::new(bin())
        .arg("run")
        .arg(&case.suite)
        .arg("--run-dir")
        .arg(&second_dir)
        .arg("--quiet")
        .output()
        .expect("run");
    assert!(code(&second) <= 1, "{}", show(&second));
    let read = |d: &Path| std::fs::read(d.join("schedule.json")).expect("schedule.json");
    let (a, b) = (read(&case.run_dir()), read(&second_dir));
    assert_eq!(a, b, "two runs with one seed planned different schedules");
    let plan: serde_json::Value = serde_json::from_slice(&a).expect("JSON");
    assert!(
        plan["arrivals"]["count"].as_u64().is_some_and(|n| n > 5),
        "{plan:#}"
    );
    assert!(
        plan["faults"][0]["draws"]["intervals_ms"].is_array(),
        "{plan:#}"
    );
    assert!(
        plan["faults"][1]["draws"]["case_order"].is_array(),
        "{plan:#}"
    );
    assert!(plan["toxicity"]["links"].is_array(), "{plan:#}");
    // Another seed plans another schedule.
    let third_dir = case.tmp.path().join("run3");
    let third = Command::new(bin())
        .args(["run", "--seed", "4", "--quiet", "--run-dir"])
        .arg(&third_dir)
        .arg(&case.suite)
        .output()
        .expect("run");
    assert!(code(&third) <= 1, "{}", show(&third));
    assert_ne!(a, read(&third_dir));

    // A recorded schedule that differs (another build planned it) is named in a warning.
    let tampered = String::from_utf8_lossy(&a).replacen(
        &format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"version\": \"0.0.0-other\"",
        1,
    );
    std::fs::write(case.run_dir().join("schedule.json"), tampered).expect("write");
    let replay = Command::new(bin())
        .arg("replay")
        .arg(case.run_dir())
        .arg("--out")
        .arg(case.tmp.path().join("replays"))
        .arg("--quiet")
        .output()
        .expect("replay");
    assert!(
        show(&replay).contains(
            "warning: the planned schedule differs from the recorded one, first at `version`"
        ),
        "{}",
        show(&replay)
    );
}

#[test]
fn a_hand_edited_resolved_suite_is_refused_where_a_run_would_break() {
    let case = Case::new(&mock_suite(
        &[],
        "[load]\nrate = 5\nduration = \"1s\"\n\n[[fault]]\nkind = \"process.kill\"\nat = \"200ms\"\n",
    ));
    let suites = suite::load_all(&case.suite, &shakedown::fault::check).expect("loads");
    let resolved = serde_json::to_value(&suites[0]).expect("serialises");
    let path = case.tmp.path().join("suite.resolved.json");
    type Edit = fn(&mut Value);
    let edits: [(Edit, &str); 4] = [
        (
            |s| s["services"] = json!([]),
            "`services` of a resolved suite (a run directory's `suite.resolved.json`) is empty",
        ),
        (
            |s| s["load"]["rate"] = json!(1e12),
            "`load.rate` of a resolved suite",
        ),
        (
            |s| s["load"]["duration"] = json!("1000000h"),
            "`load.duration` of a resolved suite",
        ),
        (
            |s| s["faults"][0]["service"] = json!("nope"),
            "`faults[0].service` of a resolved suite (a run directory's `suite.resolved.json`) \
             is `nope`, expected the name of a service: `main`",
        ),
    ];
    for (edit, needle) in edits {
        let mut edited = resolved.clone();
        edit(&mut edited);
        std::fs::write(&path, serde_json::to_vec(&edited).expect("json")).expect("write");
        let err = match suite::load_all(&path, &shakedown::fault::check) {
            Ok(_) => panic!("taken: {needle}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{needle}\n{err}");
        // `shakedown replay` of the directory says it the same way, as a suite error.
        let out = Command::new(bin())
            .arg("replay")
            .arg(case.tmp.path())
            .output()
            .expect("replay");
        assert_eq!(code(&out), 2, "{}", show(&out));
        assert!(show(&out).contains(needle), "{}", show(&out));
    }
}

#[test]
fn a_replay_that_reaches_no_verdict_has_nothing_to_compare() {
    let case = Case::new(&mock_suite(&[], "[load]\nrate = 5\nduration = \"500ms\"\n"));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    // A build that cannot start: an error, not "the same ids (none) fail".
    let out = Command::new(bin())
        .arg("replay")
        .arg(case.run_dir())
        .arg("--out")
        .arg(case.tmp.path().join("replays"))
        .args(["--against", "/nonexistent/server --port {port}"])
        .arg("--quiet")
        .output()
        .expect("replay");
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(
        show(&out).contains("replay: ended ERROR before any verdict, nothing to compare"),
        "{}",
        show(&out)
    );
}

#[test]
fn against_replaces_a_command_suites_command() {
    let case = Case::new("");
    let script = |name: &str, body: &str| {
        let path = case.tmp.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        path.display().to_string()
    };
    let failing = script("failing.sh", "echo 'test a ... FAILED'; exit 101");
    let fixed = script("fixed.sh", "echo 'test a ... ok'");
    std::fs::write(
        &case.suite,
        format!(
            "[suite]\nname = \"t\"\nkind = \"command\"\nbudget = \"1m\"\n\n\
             [command]\nargv = [\"{failing}\"]\n"
        ),
    )
    .expect("write suite");
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let before = case.failed_ids();
    assert!(!before.is_empty(), "{}", show(&out));
    let out = Command::new(bin())
        .arg("replay")
        .arg(case.run_dir())
        .arg("--out")
        .arg(case.tmp.path().join("replays"))
        .args(["--against", &fixed])
        .arg("--quiet")
        .output()
        .expect("replay");
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(show(&out).contains(", now none"), "{}", show(&out));
}
