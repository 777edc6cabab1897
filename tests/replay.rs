//! `shakedown replay`: a run directory runs again from its `suite.resolved.json` alone, and
//! says whether the same verdict ids fail.

mod util;

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
