//! Helpers shared by the integration tests: write a suite, run the binary, read its records.
#![allow(dead_code)]

pub mod browser;
pub mod docs;
pub mod toxiproxy;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `shakedown` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shakedown"))
}

/// A directory holding `shakedown` (a link to the binary under test), and a `PATH` that
/// searches it first: what a shell script needs to run `shakedown ...` as the docs write it.
pub fn bin_on_path() -> (tempfile::TempDir, std::ffi::OsString) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(bin(), dir.path().join("shakedown")).expect("link binary");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(dir.path().to_path_buf()).chain(std::env::split_paths(&rest)),
    )
    .expect("PATH");
    (dir, path)
}

/// A temporary directory holding one suite file and the run directory.
pub struct Case {
    pub tmp: tempfile::TempDir,
    pub suite: PathBuf,
}

impl Case {
    /// A case whose suite file is `text` (TOML).
    pub fn new(text: &str) -> Case {
        let tmp = tempfile::tempdir().expect("temp dir");
        let suite = tmp.path().join("suite.toml");
        std::fs::write(&suite, text).expect("write suite");
        Case { tmp, suite }
    }

    /// Where the run writes.
    pub fn run_dir(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    /// The `shakedown run` command for this case.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("run")
            .arg(&self.suite)
            .arg("--run-dir")
            .arg(self.run_dir())
            .arg("--quiet");
        c
    }

    /// Run to the end.
    pub fn run(&self) -> Output {
        let out = self.command().output().expect("run shakedown");
        assert_tree_gone(&self.run_dir());
        out
    }

    /// Start without waiting.
    pub fn spawn(&self) -> Child {
        self.command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shakedown")
    }

    /// `report.json`.
    pub fn report(&self) -> Value {
        read_json(&self.run_dir().join("report.json"))
    }

    /// The verdict for `check` in `report.json`.
    pub fn verdict(&self, check: &str) -> Value {
        let report = self.report();
        report["verdicts"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["check"] == check).cloned())
            .unwrap_or_else(|| panic!("no verdict `{check}` in {report:#}"))
    }

    /// The ids of the checks that failed, in report order.
    pub fn failed_ids(&self) -> Vec<String> {
        self.report()["verdicts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["status"] == "fail")
            .map(|v| v["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Events of one kind from `events.jsonl`.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        jsonl(&self.run_dir().join("events.jsonl"))
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }
}

/// A suite around the mock model service: `mock_args` extend its command line.
pub fn mock_suite(mock_args: &[&str], rest: &str) -> String {
    let mut cmd = vec!["shakedown", "mock-server", "--port", "{port}"];
    cmd.extend_from_slice(mock_args);
    let cmd: Vec<String> = cmd.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[suite]\nname = \"t\"\nbudget = \"1m\"\nseed = 3\n\n[service]\ncommand = [{}]\nready = {{ http = \"/health\", within = \"20s\" }}\nstop_grace = \"2s\"\n\n{rest}",
        cmd.join(", ")
    )
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

pub fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every pid a run saw in its service trees (spawns and process samples).
pub fn seen_pids(run_dir: &Path) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for e in jsonl(&run_dir.join("events.jsonl")) {
        if e["kind"] == "service.spawn" {
            out.push((
                e["pid"].as_i64().unwrap_or(0),
                e["argv"][0].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    for s in jsonl(&run_dir.join("samples.jsonl")) {
        for p in s["procs"].as_array().into_iter().flatten() {
            out.push((
                p["pid"].as_i64().unwrap_or(0),
                p["cmdline"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `pid` is alive and still runs something like `cmdline` (guards against pid reuse).
pub fn alive_as(pid: i64, cmdline: &str) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|r| r.trim_start().starts_with('Z'));
    let now = String::from_utf8_lossy(&raw).replace('\0', " ");
    let first = cmdline.split(' ').next().unwrap_or("");
    !zombie && !raw.is_empty() && now.contains(first)
}

/// Poll until every process the run saw is gone; panic naming survivors after 10 s.
pub fn assert_tree_gone(run_dir: &Path) {
    let pids = seen_pids(run_dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<_> = pids.iter().filter(|(p, c)| alive_as(*p, c)).collect();
        if alive.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for (p, _) in &alive {
                let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
            }
            panic!("processes outlived the run: {alive:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exit code of a finished run (-1 if killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The exit status and both outputs of a run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Send SIGINT (Ctrl-C) to `pid`.
pub fn sigint(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
}

/// Poll `cond` every 20 ms until it holds; panic with `what` after `within`.
pub fn wait_for(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of the mock's `escape-setsid` grandchild, as its service log names it.
pub fn escaped_pid(run_dir: &Path, service: &str) -> Option<i64> {
    let log = std::fs::read_to_string(run_dir.join(format!("service-{service}.log"))).ok()?;
    let (_, rest) = log.split_once("escape-setsid: pid ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Title of the mock's `escape-setsid` grandchild.
pub const ESCAPED: &str = "shakedown::escaped";

/// SIGKILLs `pid` on drop if it still runs `title`: a failing test leaves nothing behind.
pub struct KillOnDrop(pub i64, pub &'static str);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive_as(self.0, self.1) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0 as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
