//! libtest's output, as plain `cargo test` prints it (it writes no JUnit):
//!
//! ```text
//! running 2 tests                                  (stdout)
//! test tests::passes ... ok
//! test tests::fails ... FAILED
//! test tests::slow ... ignored, too slow
//!
//! failures:
//!
//! ---- tests::fails stdout ----
//! thread 'tests::fails' panicked at src/lib.rs:9:9:
//! assertion failed
//!
//! failures:
//!     tests::fails
//!
//! test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; ...
//! ```
//!
//! Result lines and failure sections are read from standard output; cargo's
//! `Running unittests src/lib.rs (target/debug/deps/NAME-HASH)` and `Doc-tests NAME` lines on
//! standard error name the test binary, which becomes each test's class name.

use super::tidy;
use crate::record::{TestRecord, TestStatus};

/// Every test result in `lines` (each `(stream, text)`, stream `out` or `err`, in the order
/// printed); `None` when no line of libtest output is among them.
pub fn libtest<'a>(lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Vec<TestRecord>> {
    let mut seen = false;
    let mut out: Vec<TestRecord> = Vec::new();
    let mut binary: Option<String> = None;
    // Where the current binary's tests start in `out` (names repeat across binaries).
    let mut first = 0;
    // The test whose failure section is being read.
    let mut section: Option<usize> = None;
    for (stream, line) in lines {
        let plain = strip_colour(line);
        let line = plain.as_str();
        if stream != "out" {
            if let Some(b) = cargo_binary(line) {
                binary = Some(b);
                first = out.len();
                section = None;
            }
            continue;
        }
        if is_running(line) || line.starts_with("test result: ") {
            seen = true;
            section = None;
        } else if let Some(t) = result(line, &binary) {
            seen = true;
            out.push(t);
        } else if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            section = out[first..]
                .iter()
                .rposition(|t| t.name == name)
                .map(|i| first + i);
        } else if line == "failures:" {
            section = None;
        } else if let Some(t) = section.and_then(|i| out.get_mut(i)) {
            let text = t.text.get_or_insert_with(String::new);
            text.push_str(line);
            text.push('\n');
        }
    }
    for t in &mut out {
        if let Some(m) = t.text.as_deref().and_then(panic_message) {
            t.message = Some(m);
        }
        tidy(t);
    }
    seen.then_some(out)
}

/// `line` without ANSI colour sequences (`cargo test -- --color always` colours `ok`).
fn strip_colour(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ending at a letter.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `running 3 tests` (or `running 1 test`).
fn is_running(line: &str) -> bool {
    line.strip_prefix("running ")
        .and_then(|l| l.strip_suffix(" tests").or_else(|| l.strip_suffix(" test")))
        .is_some_and(|n| n.parse::<u64>().is_ok())
}

/// `test NAME ... ok|FAILED|ignored[, reason]|bench: ...`, maybe with a time (`ok <0.012s>`).
fn result(line: &str, binary: &Option<String>) -> Option<TestRecord> {
    let (name, outcome) = line.strip_prefix("test ")?.split_once(" ... ")?;
    let name = name.strip_suffix(" - should panic").unwrap_or(name);
    let (status, message) = if outcome.starts_with("ok") || outcome.starts_with("bench:") {
        (TestStatus::Pass, None)
    } else if outcome.starts_with("FAILED") {
        (TestStatus::Fail, None)
    } else if let Some(rest) = outcome.strip_prefix("ignored") {
        let reason = rest.strip_prefix(", ").map(str::to_string);
        (TestStatus::Skip, reason)
    } else {
        return None;
    };
    let mut t = TestRecord::new(binary.clone(), name.to_string(), status);
    t.message = message;
    // `--report-time` adds `<0.012s>`.
    t.time_ms = outcome
        .rsplit_once('<')
        .and_then(|(_, r)| r.strip_suffix("s>"))
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| s * 1e3);
    Some(t)
}

/// The test binary a cargo status line names: `Running unittests src/lib.rs
/// (target/debug/deps/tiny-0123abcd)` → `tiny`, `Doc-tests tiny` → `tiny`.
fn cargo_binary(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some(krate) = line.strip_prefix("Doc-tests ") {
        return Some(krate.trim().to_string());
    }
    let rest = line.strip_prefix("Running ")?;
    let path = match rest.rsplit_once('(') {
        Some((_, p)) => p.trim_end_matches(')'),
        None => rest,
    };
    let file = path.rsplit('/').next().unwrap_or(path);
    // Cargo names test binaries `NAME-HASH`, the hash 16 hex digits.
    let name = match file.rsplit_once('-') {
        Some((n, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => n,
        _ => file,
    };
    Some(name.to_string())
}

/// The panic's message: the line after `thread '...' panicked at FILE:LINE:COL:` (or the quoted
/// of that line, as older toolchains print it), else the first line of the section.
fn panic_message(text: &str) -> Option<String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.clone().next()?.to_string();
    while let Some(line) = lines.next() {
        // `thread 'NAME' panicked at`, with ` (TID)` after the name in newer toolchains.
        let Some((_, at)) = line
            .strip_prefix("thread '")
            .and_then(|l| l.split_once(" panicked at "))
        else {
            continue;
        };
        // Older toolchains: `thread 'x' panicked at 'message', src/lib.rs:9:9`.
        if let Some(old) = at.strip_prefix('\'') {
            return Some(old.rsplit_once("', ").map_or(old, |(m, _)| m).to_string());
        }
        return Some(lines.next().map_or(first, str::to_string));
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo test` printed for a crate with a failing, an ignored, a failing and a
    /// passing test, then a second binary; `err` lines are cargo's own.
    const CARGO_TEST: &[(&str, &str)] = &[
        ("err", "   Compiling tiny v0.1.0 (/tmp/tiny)"),
        (
            "err",
            "     Running unittests src/lib.rs (target/debug/deps/tiny-b8411d1b6389d6df)",
        ),
        ("out", ""),
        ("out", "running 4 tests"),
        ("out", "test tests::fails ... FAILED"),
        ("out", "test tests::ignored ... ignored, slow"),
        ("out", "test tests::boom - should panic ... ok"),
        ("out", "test tests::passes ... ok"),
        ("out", ""),
        ("out", "failures:"),
        ("out", ""),
        ("out", "---- tests::fails stdout ----"),
        ("out", "some output & <stuff>"),
        ("out", ""),
        (
            "out",
            "thread 'tests::fails' (27048) panicked at src/lib.rs:11:9:",
        ),
        ("out", "assertion `left == right` failed: one and one"),
        ("out", "  left: 2"),
        ("out", " right: 3"),
        ("out", ""),
        ("out", ""),
        ("out", "failures:"),
        ("out", "    tests::fails"),
        ("out", ""),
        (
            "out",
            "test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        ),
        (
            "err",
            "     Running tests/it.rs (target/debug/deps/it-0123456789abcdef)",
        ),
        ("out", "running 1 test"),
        (
            "out",
            "test tests::fails ... \u{1b}[32mok\u{1b}[0m <0.012s>",
        ),
        ("out", "test result: ok. 1 passed; 0 failed"),
    ];

    #[test]
    fn reads_cargo_test_output() {
        let rows = libtest(CARGO_TEST.iter().copied()).expect("libtest output");
        let got: Vec<(String, TestStatus)> =
            rows.iter().map(|t| (t.full_name(), t.status)).collect();
        assert_eq!(
            got,
            [
                ("tiny::tests::fails".to_string(), TestStatus::Fail),
                ("tiny::tests::ignored".to_string(), TestStatus::Skip),
                ("tiny::tests::boom".to_string(), TestStatus::Pass),
                ("tiny::tests::passes".to_string(), TestStatus::Pass),
                ("it::tests::fails".to_string(), TestStatus::Pass),
            ]
        );
        let fails = &rows[0];
        assert_eq!(
            fails.message.as_deref(),
            Some("assertion `left == right` failed: one and one")
        );
        assert_eq!(
            fails.text.as_deref(),
            Some(
                "some output & <stuff>\n\nthread 'tests::fails' (27048) panicked at src/lib.rs:11:9:\n\
                 assertion `left == right` failed: one and one\n  left: 2\n right: 3"
            )
        );
        assert_eq!(rows[1].message.as_deref(), Some("slow"));
        // The second binary's test of the same name took no text from the first's section.
        assert_eq!((rows[4].text.as_ref(), rows[4].time_ms), (None, Some(12.0)));
    }

    #[test]
    fn tells_no_output_from_no_tests() {
        assert_eq!(libtest([("out", "hello"), ("err", "test x ... ok")]), None);
        assert_eq!(
            libtest([
                ("out", "running 0 tests"),
                ("out", "test result: ok. 0 passed")
            ]),
            Some(Vec::new())
        );
        let old = libtest([
            ("out", "test a ... FAILED"),
            ("out", "---- a stdout ----"),
            ("out", "thread 'a' panicked at 'old style', src/lib.rs:1:1"),
        ])
        .expect("output");
        assert_eq!(old[0].message.as_deref(), Some("old style"));
        assert_eq!(old[0].classname, None);
    }
}
