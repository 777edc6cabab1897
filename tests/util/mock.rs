//! Helpers for tests that run `shakedown mock-server` as a real process.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A running mock server; killed (and its engine with it) when dropped.
pub struct Mock {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stderr: Arc<Mutex<String>>,
    /// Extra processes to kill on drop (an orphaned engine).
    also_kill: Vec<i32>,
}

impl Mock {
    /// Start `shakedown mock-server --port 0 ARGS…` and wait for its `listening on` line.
    pub fn start(args: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("mock-server")
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shakedown mock-server");
        let stderr = Arc::new(Mutex::new(String::new()));
        // Drain both pipes on threads, so the server never blocks on a full pipe.
        let err_pipe = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("stderr buffer");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out_pipe = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_string();
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "no `listening on` line ({e}); stderr:\n{}",
                        stderr.lock().expect("stderr")
                    );
                }
            }
        };
        Mock {
            child,
            base,
            stderr,
            also_kill: Vec::new(),
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Kill `pid` too when this is dropped.
    pub fn also_kill(&mut self, pid: i32) {
        self.also_kill.push(pid);
    }

    /// Send `sig` to the server.
    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    /// The server's exit status, if it exits within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The engine process (a child whose argv[0] is `shakedown::engine`), waiting up to 5 s.
    pub fn engine_pid(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = children(self.pid())
                .into_iter()
                .find(|p| argv(*p).first().is_some_and(|a| a == "shakedown::engine"));
            if let Some(p) = found.filter(|p| alive(*p)) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no engine child of {}",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for &p in &self.also_kill {
            signal(p, libc::SIGKILL);
        }
    }
}

/// Send a signal (errors ignored: the process may be gone already).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, session, …
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z" && s != "X"))
}

/// Process group of `pid`.
pub fn pgid(pid: i32) -> i32 {
    stat_fields(pid)
        .and_then(|f| f.get(2)?.parse().ok())
        .expect("pgid readable")
}

/// Session of `pid`.
pub fn sid(pid: i32) -> i32 {
    stat_fields(pid)
        .and_then(|f| f.get(3)?.parse().ok())
        .expect("sid readable")
}

/// `/proc/PID/comm`.
pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `/proc/PID/cmdline`, split.
pub fn argv(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pids whose parent is `ppid`.
pub fn children(ppid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| stat_fields(*p).and_then(|f| f.get(1)?.parse::<i32>().ok()) == Some(ppid))
        .collect()
}

/// Poll `f` every 20 ms until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `pid` is gone (or a zombie), failing after `within`.
pub async fn gone(pid: i32, within: Duration) {
    eventually(within, &format!("pid {pid} to be gone"), || async move {
        (!alive(pid)).then_some(())
    })
    .await;
}

/// An HTTP client that ignores proxy settings from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}
