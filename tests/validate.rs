//! `shakedown validate` and suite loading: every malformed fixture fails at an exact `file:line:col`.

use assert_cmd::Command;
use nix::sys::signal::Signal;
use shakedown::suite::{self, Probe, Restart, StopMode, Suite};
use std::path::Path;

const INVALID: &str = "tests/suites/invalid";
const VALID: &str = "tests/suites/valid";

fn validate(files: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = Command::cargo_bin("shakedown").expect("binary builds");
    cmd.arg("validate").args(files).assert()
}

/// Runs `validate` on one invalid fixture: exit 2, nothing on stdout, one located line on stderr.
fn fails_at(fixture: &str, file: &str, line: usize, col: usize, part: &str) {
    let path = format!("{INVALID}/{fixture}");
    let out = validate(&[&path]).code(2).get_output().clone();
    assert!(out.stdout.is_empty(), "{fixture}: stdout {:?}", out.stdout);
    let err = String::from_utf8(out.stderr).expect("utf-8");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{fixture}: one line expected, got {err:?}");
    let prefix = format!("{INVALID}/{file}:{line}:{col}: ");
    assert!(
        lines[0].starts_with(&prefix),
        "{fixture}: {err:?} does not start with {prefix:?}"
    );
    assert!(lines[0].contains(part), "{fixture}: {err:?} lacks {part:?}");
}

#[test]
fn toml_syntax_error() {
    fails_at(
        "toml_syntax.toml",
        "toml_syntax.toml",
        6,
        1,
        "TOML syntax error: duplicate key",
    );
}

#[test]
fn json_syntax_error() {
    fails_at(
        "json_syntax.json",
        "json_syntax.json",
        4,
        1,
        "JSON syntax error: ",
    );
}

#[test]
fn json_duplicate_key() {
    fails_at(
        "duplicate_key.json",
        "duplicate_key.json",
        4,
        3,
        "duplicate key `suite`",
    );
}

#[test]
fn unknown_key_in_load_points_at_the_key() {
    fails_at(
        "unknown_load_key.toml",
        "unknown_load_key.toml",
        9,
        5,
        "unknown key `ratee` in [load], expected one of `rate`, `arrival`, `max_in_flight`, `timeout`, `duration`, `request`",
    );
}

#[test]
fn unknown_key_in_nested_inline_table() {
    fails_at(
        "unknown_nested_key.json",
        "unknown_nested_key.json",
        5,
        34,
        "unknown key `timeout` in [service.ready], expected one of `http`, `tcp`, `within`",
    );
}

#[test]
fn unknown_top_level_key() {
    fails_at(
        "unknown_top_key.toml",
        "unknown_top_key.toml",
        7,
        2,
        "unknown key `expects`",
    );
}

#[test]
fn bad_duration() {
    fails_at(
        "bad_duration.toml",
        "bad_duration.toml",
        3,
        1,
        "`budget` in [suite] is \"5 parsecs\", expected a duration such as",
    );
}

#[test]
fn toml_datetime_is_rejected_where_it_stands() {
    fails_at(
        "datetime.toml",
        "datetime.toml",
        3,
        1,
        "`budget` in [suite] is a datetime",
    );
}

#[test]
fn rate_zero() {
    fails_at(
        "rate_zero.json",
        "rate_zero.json",
        4,
        12,
        "`rate` in [load] is 0, expected a number",
    );
}

#[test]
fn level_out_of_range() {
    fails_at(
        "level_l9.toml",
        "level_l9.toml",
        3,
        1,
        "`level` in [suite] is \"L9\", expected one of \"L1\"",
    );
}

#[test]
fn bad_suite_name() {
    fails_at(
        "bad_name.toml",
        "bad_name.toml",
        2,
        1,
        "`name` in [suite] is \"has space\"",
    );
}

#[test]
fn missing_service_command() {
    fails_at(
        "missing_command.toml",
        "missing_command.toml",
        4,
        2,
        "missing `command` in [service]",
    );
}

#[test]
fn after_names_a_missing_service() {
    fails_at(
        "after_missing.json",
        "after_missing.json",
        4,
        62,
        "`after[1]` in [service.api] is \"cache\", expected the name of another service: `db`",
    );
}

#[test]
fn dependency_cycle_is_reported_whole() {
    fails_at(
        "cycle.toml",
        "cycle.toml",
        15,
        10,
        "dependency cycle (a after b after c after a)",
    );
}

#[test]
fn two_entry_services() {
    fails_at(
        "two_entries.toml",
        "two_entries.toml",
        10,
        1,
        "`entry` in [service.b] is true but [service.a]",
    );
}

#[test]
fn no_entry_among_several_services() {
    fails_at(
        "no_entry.json",
        "no_entry.json",
        3,
        3,
        "no service in [service] says entry = true",
    );
}

#[test]
fn use_of_a_missing_fault_file_lists_where_it_looked() {
    fails_at(
        "use_missing.toml",
        "use_missing.toml",
        8,
        1,
        "`use` in [[fault]] #1 is \"no-such-fault\", expected a fault file at one of: \
         tests/suites/invalid/faults/no-such-fault.toml, tests/suites/faults/no-such-fault.toml",
    );
}

#[test]
fn error_in_a_used_fault_file_points_into_that_file() {
    fails_at(
        "bad_fault_file.toml",
        "faults/broken.toml",
        3,
        1,
        "`at` in fault file `broken` is 10",
    );
}

#[test]
fn unknown_fault_kind_via_fault_check() {
    fails_at(
        "unknown_kind.json",
        "unknown_kind.json",
        6,
        6,
        "unknown fault kind `disk.melt`",
    );
}

#[test]
fn fault_on_a_missing_service() {
    fails_at(
        "fault_service.toml",
        "fault_service.toml",
        10,
        1,
        "`service` in [[fault]] #1 is \"db\"",
    );
}

#[test]
fn fault_without_at() {
    fails_at(
        "missing_at.toml",
        "missing_at.toml",
        7,
        1,
        "missing `at` in [[fault]] #1",
    );
}

#[test]
fn bad_regex_in_log_forbid() {
    fails_at(
        "bad_regex.toml",
        "bad_regex.toml",
        9,
        3,
        "`log_forbid[1]` in [expect] is \"panicked (at\", expected a valid regex",
    );
}

#[test]
fn unknown_port_placeholder() {
    fails_at(
        "placeholder.toml",
        "placeholder.toml",
        5,
        47,
        "has placeholder `{port.nope}`",
    );
}

#[test]
fn wrong_extension() {
    fails_at(
        "wrong_ext.yaml",
        "wrong_ext.yaml",
        1,
        1,
        "expected a `.toml` or `.json` file",
    );
}

#[test]
fn validate_reports_each_file_and_exits_2_if_any_is_bad() {
    let good = format!("{VALID}/full.toml");
    let bad = format!("{INVALID}/rate_zero.json");
    let good_json = format!("{VALID}/full.json");
    let out = validate(&[&good, &bad, &good_json])
        .code(2)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(stdout, format!("ok: {good}\nok: {good_json}\n"));
    assert!(stderr.starts_with(&format!("{bad}:4:12: ")), "{stderr}");
    validate(&[&good, &good_json]).code(0).stderr("");
}

/// The suite as JSON, minus what names the file it came from.
fn comparable(s: &Suite) -> serde_json::Value {
    let mut v = serde_json::to_value(s).expect("serializes");
    if let Some(o) = v.as_object_mut() {
        o.remove("source");
    }
    for f in v["faults"].as_array_mut().into_iter().flatten() {
        if let Some(o) = f.as_object_mut() {
            o.remove("origin");
        }
    }
    v
}

#[test]
fn toml_and_json_load_the_same_suite() {
    let t = suite::load(Path::new("tests/suites/valid/full.toml")).expect("toml loads");
    let j = suite::load(Path::new("tests/suites/valid/full.json")).expect("json loads");
    assert_eq!(comparable(&t), comparable(&j));
    assert_eq!(t.source, Path::new("tests/suites/valid/full.toml"));
    // Start order follows `after`, not file order.
    let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cache", "api"]);
    assert_eq!(t.entry().name, "api");
    assert_eq!(t.faults[0].origin, "tests/suites/valid/full.toml:30:1");
    assert_eq!(t.faults[1].service, "api", "defaults to the entry");
    assert_eq!(t.faults[0].params["signal"], "SIGKILL");
    assert_eq!(j.faults[0].origin, "tests/suites/valid/full.json:33:5");
    let load = t.load.as_ref().expect("load");
    assert_eq!(
        load.duration.to_string(),
        "60s",
        "20s + 5s + recover_within 30s + 5s"
    );
    assert_eq!(
        t.services[1].health.as_deref(),
        Some("/health"),
        "from ready.http"
    );
    assert_eq!(t.services[0].health, None, "tcp probe: nothing to poll");
}

#[test]
fn defaults_are_resolved() {
    let text = "[suite]\nname = \"d\"\n[service]\ncommand = [\"x\"]\n[load]\nrate = 1.5\n";
    let s = suite::load_str(Path::new("d.toml"), text).expect("loads");
    assert_eq!(s.meta.budget.to_string(), "600s");
    assert_eq!(s.meta.seed, 0);
    assert_eq!(s.meta.level, suite::Level::L5);
    let svc = &s.services[0];
    assert_eq!((svc.name.as_str(), svc.entry), ("main", true));
    assert_eq!(svc.ready.probe, Probe::Tcp);
    assert_eq!(svc.ready.within.to_string(), "60s");
    assert_eq!(svc.restart, Restart::Never);
    assert_eq!(svc.stop_grace.to_string(), "5s");
    let load = s.load.as_ref().expect("load");
    assert_eq!(load.rate, 1.5);
    assert_eq!(load.arrival, suite::Arrival::Poisson);
    assert_eq!(load.max_in_flight, 256);
    assert_eq!(
        load.duration.to_string(),
        "15s",
        "no faults: 10s recovery + 5s"
    );
    assert_eq!(load.request.prompt, "Say hello in one short sentence.");
    assert!(s.expect.no_lost_requests && s.expect.no_orphans && s.expect.health_truthful);
    assert_eq!(s.expect.window.to_string(), "1s");

    let text = "[suite]\nname = \"d\"\n[service]\ncommand = [\"x\"]\nhealth = false\n\
                ready = { http = \"/ready\" }\nrestart = { policy = \"on-failure\" }\n";
    let s = suite::load_str(Path::new("d.toml"), text).expect("loads");
    assert_eq!(s.services[0].health, None);
    assert_eq!(
        s.services[0].restart,
        Restart::OnFailure {
            max: 3,
            backoff: suite::Dur::from_secs(1)
        }
    );
    assert!(s.load.is_none());
}

#[test]
fn start_order_is_topological_and_otherwise_file_order() {
    let text = r#"{"suite": {"name": "o"}, "service": {
        "a": {"command": ["a"], "after": ["b"], "entry": true},
        "b": {"command": ["b"]},
        "c": {"command": ["c"], "after": ["a"]},
        "d": {"command": ["d"]}}}"#;
    let s = suite::load_str(Path::new("o.json"), text).expect("loads");
    let names: Vec<&str> = s.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["b", "a", "c", "d"]);
}

#[test]
fn use_merges_the_nearest_fault_file_and_the_entry_overrides_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    // The farther file must lose to the nearer one.
    write(
        "faults/kill.toml",
        "kind = \"process.pause\"\nat = \"99s\"\n",
    );
    write(
        "suites/faults/kill.toml",
        "description = \"dropped\"\nkind = \"process.kill\"\nat = \"10s\"\nsignal = \"SIGKILL\"\nmatch = \"engine\"\n",
    );
    let suite_text = "[suite]\nname = \"u\"\n[service]\ncommand = [\"x\"]\n\n[[fault]]\nuse = \"kill\"\nat = \"3s\"\nsignal = \"SIGTERM\"\n";
    write("suites/s.toml", suite_text);
    let path = dir.path().join("suites/s.toml");
    let s = suite::load(&path).expect("loads");
    let f = &s.faults[0];
    assert_eq!(f.kind, "process.kill");
    assert_eq!(f.name.as_deref(), Some("kill"));
    assert_eq!(f.at.to_string(), "3s", "the entry overrides the file");
    assert_eq!(f.service, "main");
    assert_eq!(f.params["signal"], "SIGTERM");
    assert_eq!(f.params["match"], "engine", "kept from the file");
    assert!(!f.params.contains_key("description"));
    assert_eq!(f.params.len(), 2);
    assert_eq!(f.origin, format!("{}:6:1", path.display()));

    // A key from the used file that is wrong is reported in that file.
    write(
        "suites/faults/kill.toml",
        "kind = \"process.kill\"\n\nfor = \"later\"\n",
    );
    let e = suite::load(&path).expect_err("bad at");
    assert!(e.file.ends_with("suites/faults/kill.toml"), "{e}");
    assert_eq!((e.line, e.col), (3, 1), "{e}");
    assert!(
        e.message
            .starts_with("`for` in fault file `kill` is \"later\""),
        "{e}"
    );
    // ... unless the entry overrides it.
    write(
        "suites/faults/kill.toml",
        "kind = \"process.kill\"\nat = \"soon\"\n",
    );
    assert!(suite::load(&path).is_ok());
}

#[test]
fn bad_signal_in_a_fault_param() {
    fails_at(
        "bad_signal.toml",
        "bad_signal.toml",
        10,
        1,
        "unknown signal `SIGNOPE`",
    );
}

#[test]
fn pause_without_for() {
    fails_at(
        "pause_without_for.toml",
        "pause_without_for.toml",
        7,
        1,
        "missing `for`, expected how long to freeze",
    );
}

#[test]
fn bad_stop_signal() {
    fails_at(
        "bad_stop_signal.toml",
        "bad_stop_signal.toml",
        6,
        1,
        "`stop_signal` in [service] is \"SIGNOPE\", expected a signal such as \"SIGTERM\"",
    );
}

#[test]
fn stop_and_restart_keys_are_read() {
    let text = "[suite]\nname = \"s\"\n[service]\ncommand = [\"x\"]\n";
    let s = suite::load_str(Path::new("s.toml"), text).expect("loads");
    let svc = &s.services[0];
    assert_eq!(svc.stop_signal, Signal::SIGTERM);
    assert_eq!(svc.stop_mode, StopMode::Main);
    assert!(s.expect.log_forbid_teardown.is_empty());

    let text = "[suite]\nname = \"s\"\n[service]\ncommand = [\"x\"]\nstop_signal = \"INT\"\n\
                stop_mode = \"group\"\nrestart = { policy = \"always\", max = 5 }\n\
                [expect]\nlog_forbid_teardown = [\"Traceback\"]\n";
    let s = suite::load_str(Path::new("s.toml"), text).expect("loads");
    let svc = &s.services[0];
    assert_eq!(
        (svc.stop_signal, svc.stop_mode),
        (Signal::SIGINT, StopMode::Group)
    );
    assert_eq!(
        svc.restart,
        Restart::Always {
            max: 5,
            backoff: suite::Dur::from_secs(1)
        }
    );
    assert_eq!(s.expect.log_forbid_teardown, ["Traceback"]);
    let resolved = serde_json::to_value(&s).expect("serialises");
    assert_eq!(resolved["services"][0]["stop_signal"], "SIGINT");
    assert_eq!(resolved["services"][0]["stop_mode"], "group");
    assert_eq!(resolved["services"][0]["restart"]["policy"], "always");

    for (bad, part) in [
        (
            "stop_mode = \"all\"",
            "`stop_mode` in [service] is \"all\", expected one of \"main\", \"group\"",
        ),
        (
            "restart = { max = 2 }",
            "expected policy = \"on-failure\" or \"always\" alongside it",
        ),
        (
            "restart = { policy = \"sometimes\" }",
            "expected one of \"never\", \"on-failure\", \"always\"",
        ),
    ] {
        let text = format!("[suite]\nname = \"s\"\n[service]\ncommand = [\"x\"]\n{bad}\n");
        let e = suite::load_str(Path::new("s.toml"), &text).expect_err(bad);
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains(part), "{e}");
    }
}
