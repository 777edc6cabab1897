//! Test results of other test runners, read into [`TestRecord`]s: JUnit XML (pytest,
//! cargo-nextest and most others) and libtest's output (plain `cargo test`, which writes no
//! JUnit). A command suite's run reads them once its command has exited (`tests.jsonl`).

mod junit;
mod libtest;

pub use junit::{JunitError, junit};
pub use libtest::libtest;

use crate::record::TestRecord;

/// Most characters kept of one test's text or output; a runaway log must not swell the records.
const MAX_TEXT: usize = 64 * 1024;

/// `s` cut to [`MAX_TEXT`] characters, saying how much was cut.
fn clip(s: String) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        None => s,
        Some((at, _)) => format!("{}\n... ({} more bytes cut)", &s[..at], s.len() - at),
    }
}

/// `Some(s)` unless it is blank.
fn non_blank(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

/// Trim and clip what was collected for a record's text fields.
fn tidy(t: &mut TestRecord) {
    for field in [&mut t.text, &mut t.output, &mut t.message] {
        *field = field
            .take()
            .and_then(|s| non_blank(s.trim_matches('\n').trim_end().to_string()))
            .map(clip);
    }
}
