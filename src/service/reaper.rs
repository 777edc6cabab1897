//! The reaper: a tiny watchdog process that kills every service process once shakedown dies.
//!
//! A parent-death signal only reaches a service's first process, and not at all when the
//! parent is SIGKILLed mid-teardown with grandchildren around. So `run` starts
//! `shakedown __reaper` in a process group of its own, tells it over a pipe which process
//! groups (and stray processes) it owns, and when that pipe closes (shakedown exited or was
//! killed, for whatever reason) the reaper SIGKILLs them all and exits.

use super::proctree::{self, ProcId};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The framework's end of the pipe to the reaper.
#[derive(Debug)]
pub struct Reaper {
    child: Child,
    pipe: Mutex<Option<ChildStdin>>,
}

impl Reaper {
    /// Start the reaper (`shakedown __reaper`).
    pub fn start() -> io::Result<Reaper> {
        let mut cmd = Command::new(super::shakedown_exe());
        cmd.arg("__reaper")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Own group: a terminal's Ctrl-C must not kill the reaper before it has done its job.
            .process_group(0);
        let mut child = cmd.spawn()?;
        tracing::debug!(pid = child.id(), "reaper started");
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("reaper has no stdin"))?;
        Ok(Reaper {
            child,
            pipe: Mutex::new(Some(pipe)),
        })
    }

    /// The reaper's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Own process group `pgid` from now on.
    pub fn watch_group(&self, pgid: i32) {
        self.say(&format!("group {pgid}"));
    }

    /// Stop owning `pgid` (it was torn down; its number may be reused).
    pub fn forget_group(&self, pgid: i32) {
        self.say(&format!("forget {pgid}"));
    }

    /// Own a process that left its service's group.
    pub fn watch_proc(&self, id: ProcId) {
        self.say(&format!("proc {} {}", id.pid, id.start));
    }

    fn say(&self, line: &str) {
        tracing::debug!(line, "to the reaper");
        let mut pipe = self.pipe.lock().unwrap_or_else(|p| p.into_inner());
        // A reaper that died early cannot be helped; teardown still runs in-process.
        if let Some(pipe) = pipe.as_mut() {
            let _ = writeln!(pipe, "{line}");
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Closing the pipe is the order to reap; then wait so the reaper leaves no zombie.
        drop(
            self.pipe
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let _ = self.child.wait();
    }
}

/// `shakedown __reaper`: read orders from stdin until it closes, then kill what is owned.
pub fn main() -> i32 {
    let mut groups: Vec<i32> = Vec::new();
    let mut procs: Vec<ProcId> = Vec::new();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["group", g] => groups.extend(g.parse::<i32>().ok()),
            ["forget", g] => {
                if let Ok(g) = g.parse::<i32>() {
                    groups.retain(|x| *x != g);
                }
            }
            ["proc", p, s] => {
                if let (Ok(pid), Ok(start)) = (p.parse(), s.parse()) {
                    procs.push(ProcId { pid, start });
                }
            }
            _ => {}
        }
    }
    for g in groups {
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    for p in procs {
        // Only the very process we were told about, never a later one with its pid.
        if proctree::alive(p) {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
    0
}
