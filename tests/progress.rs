//! What a run shows while it runs: plain progress lines when stderr is not a terminal, a live
//! status line on a (pseudo-)terminal, the framework's diagnostics only with `-v` or
//! `RUST_LOG`, and no colour under `NO_COLOR`.

mod util;

use std::process::{Command, Output};
use util::{Case, code, mock_suite, show};

/// A short run: load for 2.5 s with the service frozen for 1 s of it.
fn case() -> Case {
    Case::new(&mock_suite(
        &[],
        r#"[load]
rate = 20
arrival = "constant"
timeout = "5s"
duration = "2500ms"
request = { api = "chat", stream = true, max_tokens = 4 }

[[fault]]
kind = "process.pause"
at = "500ms"
for = "1s"

[expect]
recover_within = "5s"
"#,
    ))
}

/// `shakedown run SUITE --run-dir DIR [flags]` (progress lines unless `flags` say `--quiet`),
/// with `env` set.
fn run(case: &Case, flags: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(util::bin())
        .arg("run")
        .arg(&case.suite)
        .arg("--run-dir")
        .arg(case.run_dir())
        .args(flags)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("run shakedown");
    util::assert_tree_gone(&case.run_dir());
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn diagnostics_only_with_v_and_plain_lines_otherwise() {
    let c = case();
    let plain = run(&c, &[], &[]);
    assert_eq!(code(&plain), 0, "{}", show(&plain));
    let err = stderr(&plain);
    assert!(err.contains("shakedown: running t"), "{err}");
    assert!(err.contains("  load: 20 req/s"), "{err}");
    // Not a terminal: no live line, and no diagnostics without -v.
    assert!(!err.contains("budget"), "{err}");
    assert!(!err.contains("shakedown::service"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");

    let c = case();
    let verbose = run(&c, &["-v"], &[]);
    assert_eq!(code(&verbose), 0, "{}", show(&verbose));
    let err = stderr(&verbose);
    assert!(err.contains("INFO shakedown::service: spawned"), "{err}");
    assert!(
        err.contains("INFO shakedown::run: injecting a fault"),
        "{err}"
    );
    assert!(
        err.contains("INFO shakedown::service: stop signal"),
        "{err}"
    );
    assert!(!err.contains("DEBUG"), "-v is info, not debug:\n{err}");
    // The progress lines stay as they were.
    assert!(err.contains("shakedown: running t"), "{err}");
    // Not a terminal: no colour in the diagnostics either.
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn rust_log_sets_the_diagnostics_and_quiet_keeps_only_the_summary() {
    let c = case();
    let out = run(
        &c,
        &[],
        &[("RUST_LOG", "shakedown=debug"), ("NO_COLOR", "1")],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("DEBUG shakedown::service"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !String::from_utf8_lossy(&out.stdout).contains('\u{1b}'),
        "{}",
        show(&out)
    );

    let c = case();
    let quiet = run(&c, &["--quiet"], &[]);
    assert_eq!(code(&quiet), 0, "{}", show(&quiet));
    assert_eq!(stderr(&quiet), "", "--quiet prints nothing but the summary");
    assert!(
        String::from_utf8_lossy(&quiet.stdout).contains("PASSED"),
        "{}",
        show(&quiet)
    );
}

/// `script` (util-linux) gives the run a pseudo-terminal; `None` where it is missing.
fn under_terminal(case: &Case, flags: &str, env: &[(&str, &str)]) -> Option<String> {
    let found = Command::new("script").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no util-linux `script` to give the run a terminal");
        return None;
    }
    let line = format!(
        "{} {flags} run {} --run-dir {}",
        util::bin().display(),
        case.suite.display(),
        case.run_dir().display()
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .output()
        .expect("run script");
    util::assert_tree_gone(&case.run_dir());
    assert_eq!(code(&out), 0, "{}", show(&out));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_gets_the_live_status_line_and_the_summary_intact() {
    let c = case();
    let Some(screen) = under_terminal(&c, "", &[("NO_COLOR", "1")]) else {
        return;
    };
    assert!(screen.contains("budget "), "{screen}");
    assert!(screen.contains("load "), "{screen}");
    assert!(screen.contains(" ok "), "{screen}");
    assert!(
        screen.contains("faults: process.pause[0]"),
        "the held fault shows:\n{screen}"
    );
    // The permanent lines and the summary are all there.
    assert!(screen.contains("shakedown: running t"), "{screen}");
    assert!(screen.contains("PASSED"), "{screen}");
    assert!(screen.contains("run directory:"), "{screen}");
    // Redrawing moves the cursor, but nothing is coloured (SGR `ESC [ ... m`).
    let sgr = regex::Regex::new(r"\x1b\[[0-9;]*m").expect("regex");
    assert!(!sgr.is_match(&screen), "colour under NO_COLOR:\n{screen:?}");

    // TERM=dumb, or diagnostics on: plain lines, no live line.
    for (flags, env) in [("", ("TERM", "dumb")), ("-v", ("TERM", "xterm"))] {
        let c = case();
        let Some(screen) = under_terminal(&c, flags, &[env]) else {
            return;
        };
        assert!(!screen.contains("budget "), "{flags} {env:?}:\n{screen}");
        assert!(screen.contains("shakedown: running t"), "{screen}");
    }
}
