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
