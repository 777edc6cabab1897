//! Child processes the framework and the mock spawn: tied to their parent's life, and their
//! exits put in words. One set-up for services, hogs and the mock's engine.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use tokio::process::Command;

/// Have the kernel SIGKILL `cmd`'s child when its parent dies (`PR_SET_PDEATHSIG`), and fail
/// the spawn if the parent died before that took effect.
pub fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, getppid); it touches no memory of the parent but the copied `parent`.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other("the parent died while starting the child"));
            }
            Ok(())
        })
    }
}

/// `exit code 3` or `signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn describes_codes_and_signals() {
        let out = Command::new("sh")
            .args(["-c", "exit 3"])
            .status()
            .await
            .expect("sh runs");
        assert_eq!(describe(out), "exit code 3");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "kill -9 $$"]);
        let out = dies_with_parent(&mut cmd).status().await.expect("sh runs");
        assert_eq!(describe(out), "signal 9");
    }
}
