//! L4 doc tests: every shell block in `README.md` and `docs/` marked runnable is run, and must
//! end as it says, so the commands the docs show keep working.
//!
//! A block is runnable when it is fenced ```` ```sh ```` and its first line is
//! `# shakedown:doctest`, optionally followed by settings:
//!
//! - `exit=N`: the exit status the block must end with (default 0), for a failing run;
//! - `timeout=S`: seconds it may take (default 60);
//! - `skip=REASON` (last, the rest of the line): not run, for a GPU, a real engine or
//!   anything else CI does not have; the reason is printed.
//!
//! It runs under `bash -euo pipefail` in a fresh temporary directory holding links to the
//! repository's `suites/`, `faults/`, `corpora/` and `examples/` (so `suites/...` resolves and
//! what the block writes stays in the temporary directory), with `shakedown` on `PATH` being
//! the binary under test and the repository root in `$SHAKEDOWN_ROOT`. Nothing it starts may
//! outlive it.

mod util;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::docs::{Block, blocks, markdown};

/// The first line that makes a shell block runnable.
const MARK: &str = "# shakedown:doctest";
/// What a block may take unless it says otherwise.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The repository directories a block sees in its working directory (read through links).
const LINKED: [&str; 4] = ["suites", "faults", "corpora", "examples"];
/// How much of a failing block's output a report shows (its end).
const OUTPUT_TAIL: usize = 4000;

/// What a runnable block's marker line asks for.
struct Marker {
    exit: i32,
    timeout: Duration,
    skip: Option<String>,
}

/// What running the marked blocks of some files came to.
#[derive(Default)]
struct Outcome {
    /// `file:line` of each block run and ended as it should.
    passed: Vec<String>,
    /// `file:line` and reason of each block skipped.
    skipped: Vec<(String, String)>,
    /// One message per block that failed, naming its `file:line`, text and output.
    failed: Vec<String>,
}

/// The block's marker, `None` when it is not marked, or what is wrong with the marking.
fn marker(b: &Block) -> Result<Option<Marker>, String> {
    let mut lines = b.text.lines();
    let first = lines.next().unwrap_or_default().trim();
    if lines.any(|l| l.trim().starts_with(MARK)) {
        return Err(format!("`{MARK}` must be the block's first line"));
    }
    let Some(settings) = first.strip_prefix(MARK) else {
        return Ok(None);
    };
    if b.lang != "sh" {
        return Err(format!(
            "`{MARK}` marks a `{}` block; only `sh` blocks run",
            b.lang
        ));
    }
    let mut m = Marker {
        exit: 0,
        timeout: TIMEOUT,
        skip: None,
    };
    let mut rest = settings.trim();
    while !rest.is_empty() {
        if let Some(reason) = rest.strip_prefix("skip=") {
            if reason.trim().is_empty() {
                return Err("`skip=` needs a reason".into());
            }
            m.skip = Some(reason.trim().to_string());
            break;
        }
        let (word, more) = rest.split_once(' ').unwrap_or((rest, ""));
        match word.split_once('=') {
            Some(("exit", n)) => m.exit = n.parse().map_err(|_| format!("bad `{word}`"))?,
            Some(("timeout", s)) => {
                m.timeout = Duration::from_secs(s.parse().map_err(|_| format!("bad `{word}`"))?)
            }
            _ => {
                return Err(format!(
                    "unknown setting `{word}` (exit=N, timeout=S, skip=REASON)"
                ));
            }
        }
        rest = more.trim_start();
    }
    Ok(Some(m))
}

/// Run every marked block of `files`; paths in them are relative to the repository root.
fn run_doctests(files: &[PathBuf]) -> Outcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_bin, path) = util::bin_on_path();
    let mut out = Outcome::default();
    for b in blocks(files) {
        let at = b.at();
        match marker(&b) {
            Ok(None) => {}
            Err(e) => out.failed.push(format!("{at}: {e}")),
            Ok(Some(Marker {
                skip: Some(reason), ..
            })) => out.skipped.push((at, reason)),
            Ok(Some(m)) => match run_block(&b, &m, root, &path) {
                Ok(()) => out.passed.push(at),
                Err(e) => out.failed.push(format!("{at}: {e}")),
            },
        }
    }
    out
}

/// Run one block as the module docs say; `Err` says how it failed, with its output.
fn run_block(b: &Block, m: &Marker, root: &Path, path: &std::ffi::OsStr) -> Result<(), String> {
    let cwd = tempfile::tempdir().expect("temp dir");
    for d in LINKED.iter().filter(|d| root.join(d).is_dir()) {
        std::os::unix::fs::symlink(root.join(d), cwd.path().join(d)).expect("link");
    }
    let log_path = cwd.path().join(".doctest-output");
    let log = std::fs::File::create(&log_path).expect("create output file");
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &b.text])
        .current_dir(cwd.path())
        .env("PATH", path)
        .env("SHAKEDOWN_ROOT", root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone output file"))
        .stderr(log)
        // Its own process group, so whatever it leaves behind can be found and killed.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("failed to start bash: {e}"))?;
    let group = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + m.timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for bash") {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Anything still in the group outlived the block (or the block itself timed out).
    let left_behind = killpg(group, None).is_ok();
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let problem = match status.map(|s| s.code()) {
        None => format!("timed out after {}s", m.timeout.as_secs()),
        Some(code) if code != Some(m.exit) => match code {
            Some(c) => format!("exited {c}, expected {}", m.exit),
            None => format!("killed by a signal, expected exit {}", m.exit),
        },
        Some(_) if left_behind => "left processes running after it ended".to_string(),
        Some(_) => return Ok(()),
    };
    let from = (output.len().saturating_sub(OUTPUT_TAIL)..output.len())
        .find(|&i| output.is_char_boundary(i))
        .unwrap_or(output.len());
    let tail = &output[from..];
    Err(format!(
        "{problem}\n--- the block ---\n{}--- its output (end) ---\n{tail}",
        b.text
    ))
}

#[test]
fn every_runnable_block_in_the_docs_ends_as_it_says() {
    let out = run_doctests(&markdown());
    for (at, reason) in &out.skipped {
        eprintln!("skipped {at}: {reason}");
    }
    assert!(
        out.failed.is_empty(),
        "{} doc test(s) failed:\n\n{}",
        out.failed.len(),
        out.failed.join("\n\n")
    );
    assert!(
        out.passed.iter().any(|at| at.starts_with("README.md:")),
        "no runnable block in README.md"
    );
    assert!(out.passed.len() >= 4, "only {:?} ran", out.passed);
    assert!(!out.skipped.is_empty(), "no block marked skipped");
}

/// The runner itself: each way a block can fail is reported with its `file:line`.
#[test]
fn a_failing_block_is_reported_with_its_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let md = dir.path().join("doc.md");
    // (the block's text, whether it must fail, what its report must say)
    let cases: [(&str, bool, &str); 11] = [
        (
            "# shakedown:doctest\necho visible-output\nfalse\n",
            true,
            "visible-output",
        ),
        (
            "# shakedown:doctest\nfalse | true\n",
            true,
            "exited 1, expected 0",
        ),
        (
            "# shakedown:doctest exit=1\ntrue\n",
            true,
            "exited 0, expected 1",
        ),
        (
            "# shakedown:doctest timeout=1\nsleep 30\n",
            true,
            "timed out after 1s",
        ),
        (
            "# shakedown:doctest\nsleep 30 &\n",
            true,
            "left processes running",
        ),
        (
            "# shakedown:doctest exitt=1\ntrue\n",
            true,
            "unknown setting `exitt=1`",
        ),
        (
            "echo first\n# shakedown:doctest\n",
            true,
            "must be the block's first line",
        ),
        // Passes: the environment the module docs promise.
        (
            "# shakedown:doctest\ntest \"$(readlink \"$(command -v shakedown)\")\" = \"$BIN\"\n\
             test -f suites/l2/online_serving/mock_smoke.toml\ntest -d \"$SHAKEDOWN_ROOT/docs\"\n\
             shakedown validate suites/l2/online_serving/mock_smoke.toml\n",
            false,
            "",
        ),
        ("# shakedown:doctest exit=3\nexit 3\n", false, ""),
        ("# shakedown:doctest skip=needs a GPU\nexit 7\n", false, ""),
        ("echo not marked\nexit 7\n", false, ""),
    ];
    let mut text = String::from("# A doc\n\n");
    let mut lines = Vec::new();
    for (block, _, _) in &cases {
        text.push_str("```sh\n");
        lines.push(text.lines().count() + 1);
        text.push_str(block);
        text.push_str("```\n\nSome prose.\n\n");
    }
    // The `bash` fence: marked but not runnable.
    text.push_str("```bash\n# shakedown:doctest\ntrue\n```\n");
    let bash_line = text.lines().count() - 2;
    let text = text.replace("$BIN", &util::bin().display().to_string());
    std::fs::write(&md, text).expect("write doc");

    let out = run_doctests(std::slice::from_ref(&md));
    let report = out.failed.join("\n\n");
    for ((_, fails, says), line) in cases.iter().zip(&lines) {
        let at = format!("{}:{line}:", md.display());
        let found = out.failed.iter().find(|f| f.starts_with(&at));
        match (fails, found) {
            (true, Some(f)) => assert!(f.contains(says), "{at} should say {says:?}:\n{f}"),
            (true, None) => panic!("{at} was not reported:\n{report}"),
            (false, Some(f)) => panic!("{at} should pass:\n{f}"),
            (false, None) => {}
        }
    }
    let bash_at = format!("{}:{bash_line}: ", md.display());
    assert!(
        out.failed
            .iter()
            .any(|f| f.starts_with(&bash_at) && f.contains("only `sh` blocks run")),
        "the bash block was not reported at {bash_at}:\n{report}"
    );
    assert_eq!(out.failed.len(), 8, "{report}");
    assert_eq!(out.passed.len(), 2, "{:?}", out.passed);
    assert_eq!(
        out.skipped,
        vec![(
            format!("{}:{}", md.display(), lines[9]),
            "needs a GPU".to_string()
        )]
    );
}
