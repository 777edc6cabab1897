//! The `escape-setsid` bug: at start the server runs a child that forks and exits at once;
//! the grandchild calls `setsid()` and sleeps until killed. Milliseconds after the server
//! started, the grandchild is in neither its process group, nor its session, nor its tree:
//! it was re-parented (to init, or to the nearest child subreaper) before anyone could
//! sample `/proc`.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Title of the escaped grandchild: `/proc/PID/cmdline` starts with it.
pub const TITLE: &str = "shakedown::escaped";

/// Start the child (`shakedown mock-escapee`) and wait for it; it exits as soon as the
/// grandchild exists. Called before the server starts any thread.
pub fn escape() -> io::Result<()> {
    let status = Command::new(std::env::current_exe()?)
        .arg0(TITLE)
        .arg("mock-escapee")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the escape-setsid child failed: {}",
            crate::child::describe(status)
        )))
    }
}

/// `shakedown mock-escapee`: fork; the parent names the grandchild on stderr and exits, the
/// grandchild leaves the session and sleeps until killed.
pub fn escapee_main() -> i32 {
    use nix::unistd::{ForkResult, fork, setsid};
    // SAFETY: this process has one thread (clap parsed, nothing else started), so the child
    // may do anything after the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            eprintln!(
                "INFO shakedown.mock: escape-setsid: pid {child} left the process group and session"
            );
            0
        }
        Ok(ForkResult::Child) => {
            let _ = setsid();
            // Hold none of the server's pipes: its output must end when the server does.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for fd in 0..=2 {
                    // SAFETY: dup2 onto the standard descriptors, which this process owns.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            loop {
                nix::unistd::pause();
            }
        }
        Err(e) => {
            eprintln!("ERROR shakedown.mock: escape-setsid: fork failed: {e}");
            1
        }
    }
}
