//! Command suites (`kind = "command"`): a real `cargo test` of a crate written into a temp
//! dir, a real pytest run where pytest is installed, JUnit files in pytest's and nextest's
//! dialects, a timeout, a crash, a missing program, and the suite format's errors.

mod util;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use util::{Case, code, show};

/// A command suite running `argv` (TOML array elements), with more `[command]` lines.
fn command_suite(argv: &[&str], more: &str) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[suite]\nname = \"t\"\nkind = \"command\"\nbudget = \"2m\"\n\n[command]\nargv = [{}]\n{more}\n",
        argv.join(", ")
    )
}

/// The imported test `name` in `report.json`.
fn test_row(report: &Value, name: &str) -> Value {
    report["tests"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no test `{name}` in {report:#}"))
}

/// A crate with one passing and one failing test (unless `fixed`), outside any workspace.
fn write_crate(dir: &Path, fixed: bool) {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("write Cargo.toml");
    let expected = if fixed { 2 } else { 3 };
    std::fs::write(
        dir.join("src/lib.rs"),
        format!(
            "#[cfg(test)]\nmod tests {{\n    #[test]\n    fn passes() {{ assert_eq!(1 + 1, 2); }}\n\n    \
             #[test]\n    fn fails() {{ assert_eq!(1 + 1, {expected}, \"one and one\"); }}\n}}\n"
        ),
    )
    .expect("write lib.rs");
}

#[test]
fn cargo_test_of_a_temp_crate_reports_its_failing_test_by_name() {
    let case = Case::new("");
    let krate = case.tmp.path().join("tiny");
    write_crate(&krate, false);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = case.tmp.path().join("target");
    let suite = command_suite(
        &[&cargo, "test", "--offline"],
        &format!(
            "cwd = \"tiny\"\nenv = {{ CARGO_TARGET_DIR = {:?}, RUST_BACKTRACE = \"0\", CARGO_TERM_COLOR = \"never\" }}",
            target.display().to_string()
        ),
    );
    std::fs::write(&case.suite, &suite).expect("write suite");
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[command.test_failed] 1 of 2 tests failed: tiny::tests::fails"),
        "{}",
        show(&out)
    );
    // Its panic message is under the verdict.
    assert!(stdout.contains("one and one"), "{}", show(&out));
    let v = case.verdict("tests_pass");
    assert_eq!(
        (v["status"].as_str(), v["id"].as_str()),
        (Some("fail"), Some("command.test_failed"))
    );
    assert_eq!(v["evidence"]["failing"][0]["name"], "tiny::tests::fails");
    let report = case.report();
    assert_eq!(test_row(&report, "tests::passes")["status"], "pass");
    let fails = test_row(&report, "tests::fails");
    assert_eq!(
        (fails["status"].as_str(), fails["classname"].as_str()),
        (Some("fail"), Some("tiny"))
    );
    assert!(
        fails["text"]
            .as_str()
            .unwrap_or_default()
            .contains("assertion `left == right` failed: one and one"),
        "{fails:#}"
    );
    // The failing test's exit explains the command's code 101: no crash.
    assert_eq!(case.verdict("command_exit")["status"], "pass");
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("<testcase classname=\"tiny\" name=\"tests::fails\" time=\"0.000\">\n      <failure type=\"failure\" message=\"assertion `left == right` failed: one and one\">"),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase classname=\"tiny\" name=\"tests::passes\" time=\"0.000\"/>"),
        "{junit}"
    );
    // Judged from the run directory alone: `shakedown report` says the same.
    let again = Command::new(util::bin())
        .arg("report")
        .arg(case.run_dir())
        .output()
        .expect("run shakedown report");
    assert_eq!(code(&again), 1, "{}", show(&again));
    assert_eq!(case.verdict("tests_pass"), v);

    // The same crate with the test fixed passes, every verdict with it.
    write_crate(&krate, true);
    std::fs::remove_dir_all(case.run_dir()).expect("remove the first run");
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(case.verdict("tests_pass")["summary"], "all 2 tests passed");
}

#[test]
fn junit_files_in_pytest_and_nextest_dialects_are_imported() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit");
    // nextest's file, written where `{junit}` says.
    let nextest = data.join("nextest.xml").display().to_string();
    let case = Case::new(&command_suite(
        &[
            "sh",
            "-c",
            &format!("cp {nextest:?} \"$1\"; exit 100"),
            "sh",
            "{junit}",
        ],
        "parse = \"junit\"",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("tests_pass");
    assert_eq!(v["summary"], "1 of 5 tests failed: tiny::tests::fails");
    assert_eq!(v["evidence"]["flaky"][0], "tiny::tests::flaky");
    let report = case.report();
    let flaky = test_row(&report, "tests::flaky");
    assert_eq!(
        (flaky["status"].as_str(), flaky["reruns"].as_u64()),
        (Some("pass"), Some(1))
    );
    assert_eq!(test_row(&report, "tests::passes")["time_ms"], 32.0);
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("flaky: passed after 1 failed attempt(s)"),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase classname=\"tiny::it\" name=\"integration_ok\" time=\"0.006\"/>"),
        "{junit}"
    );

    // pytest's file, written where the command likes (`junit = PATH`, relative to `cwd`).
    let pytest = data.join("pytest.xml").display().to_string();
    let case = Case::new(&command_suite(
        &["sh", "-c", &format!("cp {pytest:?} out.xml; exit 1")],
        "cwd = \".\"\njunit = \"out.xml\"",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("tests_pass");
    assert_eq!(
        v["summary"],
        "2 of 5 tests failed: test_sample::test_fails, test_sample::test_errors"
    );
    let lines: Vec<&str> = v["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        lines.contains(
            &"`test_sample::test_fails` failed in 0.000 s: AssertionError: a should be 2 & not <1>"
        ),
        "{lines:#?}"
    );
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("<error type=\"error\" message=\"failed on setup with &quot;RuntimeError: fixture blew up&quot;\">"),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped type=\"pytest.skip\" message=\"not on this machine\">"),
        "{junit}"
    );
    // The page lists the failing tests, their messages escaped.
    let html = std::fs::read_to_string(case.run_dir().join("report.html")).expect("report.html");
    assert!(html.contains(r#"<section id="tests">"#), "{html}");
    assert!(html.contains("a should be 2 &amp; not &lt;1&gt;"), "{html}");
    // The run directory keeps the file it imported.
    assert!(case.run_dir().join("command-junit.xml").is_file());
    // pytest's own exit 1 is explained by its failing tests.
    assert_eq!(case.verdict("command_exit")["status"], "pass");
}

#[test]
fn a_command_that_passes_or_breaks_without_failing_tests() {
    let libtest = "echo 'running 1 test'; echo 'test a ... ok'; echo 'test result: ok. 1 passed'";
    // Passing tests and exit 0: every verdict passes.
    let case = Case::new(&command_suite(&["sh", "-c", libtest], ""));
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        case.verdict("command_exit")["summary"]
            .as_str()
            .map(|s| s.starts_with("the command exited with code 0")),
        Some(true)
    );

    for (script, says) in [
        // Killed by a signal: a crash, whatever it printed.
        (
            format!("{libtest}; kill -SEGV $$"),
            "died by signal 11 (SIGSEGV)",
        ),
        (
            format!("{libtest}; kill -ABRT $$"),
            "died by signal 6 (SIGABRT)",
        ),
        // A non-zero exit no failing test explains.
        (format!("{libtest}; exit 3"), "exited with code 3"),
        // Exit 0 having run nothing it could report.
        ("echo hello".to_string(), "exited with code 0"),
    ] {
        let case = Case::new(&command_suite(&["sh", "-c", &script], ""));
        let out = case.run();
        assert_eq!(code(&out), 1, "{script}: {}", show(&out));
        let v = case.verdict("command_exit");
        assert_eq!(v["id"], "command.crashed", "{v:#}");
        assert_eq!(v["status"], "fail", "{script}: {v:#}");
        assert!(
            v["summary"].as_str().unwrap_or_default().contains(says),
            "{script}: {v:#}"
        );
    }
}

#[test]
fn a_command_past_its_timeout_is_killed_with_its_group() {
    let case = Case::new(&command_suite(
        &[
            "sh",
            "-c",
            "echo 'running 1 test'; echo 'test a ... ok'; sleep 60 & wait",
        ],
        "timeout = \"1s\"\nstop_grace = \"1s\"",
    ));
    let started = std::time::Instant::now();
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let v = case.verdict("command_timeout");
    assert_eq!(
        (v["status"].as_str(), v["id"].as_str()),
        (Some("fail"), Some("command.timeout"))
    );
    assert!(
        v["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("the command was killed at its timeout of 1s"),
        "{v:#}"
    );
    // What passed before is kept; what it would have said about the rest is not judged.
    assert_eq!(case.report()["tests"][0]["status"], "pass");
    assert_eq!(case.verdict("tests_pass")["status"], "not_judged");
    assert_eq!(case.verdict("no_orphans")["status"], "pass");
    let exit = &case.events("command.exit")[0];
    assert_eq!(exit["timed_out"], true, "{exit}");
}

#[test]
fn processes_a_command_leaves_behind_are_orphans() {
    let case = Case::new(&command_suite(
        // Started between two tree samples just before the command exits, and letting go of
        // the output pipes: no sample sees it, but teardown finds it in the command's group.
        &[
            "sh",
            "-c",
            "sleep 0.1; echo 'running 1 test'; echo 'test a ... ok'; (sleep 1; sleep 60) >/dev/null 2>&1 &",
        ],
        "",
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = case.verdict("no_orphans");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("outlived teardown"),
        "{v:#}"
    );
}

#[test]
fn a_program_that_is_not_there_is_an_infrastructure_error() {
    for argv in [
        vec!["shakedown-no-such-program"],
        vec!["sh", "-c", "exec shakedown-no-such-program"],
    ] {
        let case = Case::new(&command_suite(&argv, ""));
        let out = case.run();
        assert_eq!(code(&out), 3, "{argv:?}: {}", show(&out));
        let error = case.report()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("shakedown-no-such-program"), "{error}");
        assert!(
            error.contains("not found") || error.contains("cannot find"),
            "{error}"
        );
        // The error is the run's, not a failed verdict besides.
        let verdicts = case.report()["verdicts"].clone();
        assert!(
            verdicts
                .as_array()
                .into_iter()
                .flatten()
                .all(|v| v["status"] != "fail"),
            "{verdicts:#}"
        );
    }
}

/// Whether `pytest` runs here; the pytest tests say why they skip where it does not.
fn pytest() -> bool {
    let ok = Command::new("pytest")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: pytest is not installed (pip install pytest)");
    }
    ok
}

#[test]
fn a_real_pytest_run_reports_its_failing_test_by_name() {
    if !pytest() {
        return;
    }
    let case = Case::new("");
    std::fs::write(
        case.tmp.path().join("test_tiny.py"),
        "def test_passes():\n    assert 1 + 1 == 2\n\n\ndef test_fails():\n    assert 1 + 1 == 3, 'one and one'\n",
    )
    .expect("write the test file");
    std::fs::write(
        &case.suite,
        command_suite(
            &[
                "pytest",
                "-p",
                "no:cacheprovider",
                "--junitxml={junit}",
                "test_tiny.py",
            ],
            "cwd = \".\"\nenv = { PYTHONDONTWRITEBYTECODE = \"1\" }",
        ),
    )
    .expect("write suite");
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 of 2 tests failed: test_tiny::test_fails"),
        "{}",
        show(&out)
    );
    let report = case.report();
    assert_eq!(test_row(&report, "test_passes")["status"], "pass");
    let fails = test_row(&report, "test_fails");
    assert!(
        fails["message"]
            .as_str()
            .unwrap_or_default()
            .contains("one and one"),
        "{fails:#}"
    );
    let junit = std::fs::read_to_string(case.run_dir().join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("<testcase classname=\"test_tiny\" name=\"test_fails\""),
        "{junit}"
    );
}

#[test]
fn the_shipped_pytest_suite_passes_where_pytest_runs() {
    if !pytest() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let case = Case::new("");
    let out = Command::new(util::bin())
        .arg("run")
        .arg(root.join("suites/l1/pytest_core_model.toml"))
        .arg("--run-dir")
        .arg(case.run_dir())
        .arg("--quiet")
        .output()
        .expect("run shakedown");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let names: Vec<String> = case.report()["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    // The GPU test is deselected by the marker expression.
    assert_eq!(
        names,
        [
            "test_tokenize_splits_on_whitespace",
            "test_tokenize_empty_text"
        ],
        "{}",
        show(&out)
    );
}

/// Load a suite from text; the error line if it fails.
fn load(text: &str) -> Result<shakedown::suite::Suite, String> {
    shakedown::suite::load_str(Path::new("s.toml"), text, &shakedown::fault::check)
        .map_err(|e| e.to_string())
}

#[test]
fn command_suites_are_validated_with_located_errors() {
    let head = "[suite]\nname = \"t\"\nkind = \"command\"\nbudget = \"1m\"\n\n";
    let ok = load(&format!(
        "{head}[command]\nargv = [\"x\", \"--out={{junit}}\", \"{{run_dir}}\"]\ncwd = \"sub\"\n"
    ))
    .expect("valid");
    let spec = ok.command.expect("a command");
    assert_eq!(spec.cwd.as_deref(), Some(Path::new("sub")));
    assert_eq!(spec.timeout.0, std::time::Duration::from_secs(60));
    assert_eq!(ok.meta.level, shakedown::suite::Level::L1);
    assert!(ok.services.is_empty() && !ok.expect.no_unplanned_exits);
    for (text, at) in [
        (
            format!("{head}[command]\nargv = [\"x\"]\n\n[service]\ncommand = [\"y\"]\n"),
            "s.toml:9:2: `service` in the top level has no place in a command suite",
        ),
        (
            format!("{head}[command]\nargv = [\"x\"]\n\n[guardrail.memory]\nabove = \"1GiB\"\n"),
            "s.toml:9:2: `guardrail` in the top level has no place in a command suite",
        ),
        (
            format!("{head}[command]\nargv = [\"x\", \"{{port}}\"]\n"),
            "s.toml:7:14: `argv[1]` in [command] has placeholder `{port}`",
        ),
        (
            format!("{head}[command]\nargv = [\"x\"]\ntimeout = \"2m\"\n"),
            "s.toml:8:1: `timeout` in [command] is \"2m\", expected a duration no longer than the suite's budget (1m)",
        ),
        (
            format!("{head}[command]\nargv = [\"x\"]\n\n[expect]\nrecover_within = \"5s\"\n"),
            "s.toml:10:1: unknown key `recover_within` in [expect], expected one of `no_orphans`, `log_forbid`",
        ),
        (
            format!("{head}[command]\nargv = [\"x\"]\nparse = \"libtest\"\njunit = \"a.xml\"\n"),
            "s.toml:9:1: `junit` in [command] has no effect with parse = \"libtest\"",
        ),
        (
            format!("{head}[comand]\nargv = [\"x\"]\n"),
            "s.toml:6:2: unknown key `comand` in the top level",
        ),
        (
            "[suite]\nname = \"t\"\n\n[command]\nargv = [\"x\"]\n".to_string(),
            "s.toml:4:2: `command` in the top level is for command suites, expected `kind = \"command\"` in [suite]",
        ),
    ] {
        let e = load(&text).expect_err(&text);
        assert!(e.starts_with(at), "{e}\n  expected to start with\n{at}");
    }
}
