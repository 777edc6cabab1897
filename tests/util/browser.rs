//! A real headless browser for the tests that open `report.html`: Debian's chromium, found
//! at `SHAKEDOWN_CHROMIUM` or `/usr/bin/chromium`; a test without one is skipped, saying why.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromium may take to load and dump a page.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The chromium to use, or why there is none.
pub fn chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("SHAKEDOWN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no chromium at {} (set SHAKEDOWN_CHROMIUM, or apt-get install chromium)",
            path.display()
        ))
    }
}

/// The DOM chromium builds from the local file `page`, serialised: headless, no network
/// use of its own, a fresh profile. Chromium and its helpers run in a process group of
/// their own, killed whole when it is done or past [`TIMEOUT`].
pub fn dump_dom(chromium: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn chromium");
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut stdout = child.stdout.take().expect("chromium's stdout");
    // Read while it runs: a DOM larger than a pipe's buffer would block it otherwise.
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever is left of its helpers goes too (an error: the group is gone already).
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let dom = reader.join().expect("the reader thread");
    let status = status.unwrap_or_else(|| panic!("chromium took over {TIMEOUT:?}"));
    assert!(status.success(), "chromium failed: {status}");
    dom
}
