//! Shakedown as child subreaper (`PR_SET_CHILD_SUBREAPER`): a descendant whose parent exits
//! (a double fork, a daemon) is re-parented to shakedown instead of init, so it can still
//! be found, attributed to its service, killed and reaped.
//!
//! Sampling `/proc` alone cannot promise that: a grandchild that double-forks and calls
//! `setsid()` within milliseconds of start has left the tree, the process group and the
//! session before the first sample. Re-parented to shakedown, it stays findable for as
//! long as it lives. cgroup v2 would also attribute it at birth, but needs a delegated
//! hierarchy; the subreaper works everywhere on Linux, so it is what shakedown uses.

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::io;

/// Names the service on every service process; descendants inherit it, so a process
/// re-parented from another session still says where it came from.
pub const SERVICE_ENV: &str = "SHAKEDOWN_SERVICE";

/// Make this process the subreaper of every descendant orphaned from now on.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments has no memory preconditions.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this process is a child subreaper.
pub fn is_subreaper() -> bool {
    let mut on: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer, which lives across the call.
    let r = unsafe {
        libc::prctl(
            libc::PR_GET_CHILD_SUBREAPER,
            &mut on as *mut libc::c_int as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    r == 0 && on != 0
}

/// The service named in process `pid`'s environment, when it is readable.
pub fn service_of(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{SERVICE_ENV}=");
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))
        .map(|name| String::from_utf8_lossy(name).into_owned())
}

/// Collect `pid`, a re-parented process that has exited. Only that pid: `waitpid(-1)` would
/// take the exits of the children tokio waits for.
pub fn reap(pid: i32) {
    let r = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    tracing::debug!(pid, reaped = ?r, "reaped a re-parented process");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_service_from_the_environment() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env(SERVICE_ENV, "api")
            .spawn()
            .expect("sleep runs");
        let pid = child.id() as i32;
        // The environment shows once the child has exec'd; poll rather than race it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = service_of(pid);
        while seen.is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            seen = service_of(pid);
        }
        assert_eq!(seen.as_deref(), Some("api"));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(service_of(i32::MAX), None);
    }
}
