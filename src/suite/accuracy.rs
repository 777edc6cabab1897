//! The `[accuracy]` table: a small set of probes (prompt and expected answer) sent to the
//! service before load and, on request, after it, and the least share that must be right.
//! The probes file is read when the suite loads, so the run directory holds them
//! (`suite.resolved.json`) and judging needs nothing else.

use super::Dur;
use super::check::{Field, Res};
use super::limits::{MAX_PROBES, MAX_TOKENS};
use super::load::SuiteError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `[accuracy]` table, its probes read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracySpec {
    /// The probes file as the suite names it (relative to the suite's directory).
    pub probes_file: PathBuf,
    /// The probes, in file order.
    pub probes: Vec<AccuracyProbe>,
    /// The least share of probes answered right (`accuracy.below` under it).
    pub min: f64,
    /// `max_tokens` of each probe request.
    pub max_tokens: u32,
    /// Per-probe timeout.
    pub timeout: Dur,
    /// Send the probes again after load, when every fault has cleared and had its recovery
    /// time (`accuracy.after_recovery`).
    pub after_recovery: bool,
}

/// One probe: a line of the probes file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracyProbe {
    /// The user message.
    pub prompt: String,
    /// What a right answer looks like.
    pub expect: Answer,
}

/// What a right answer looks like (`{"contains": [...]}`, `{"regex": "..."}`, `{"equals": "..."}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    /// Every keyword appears in the answer (case-insensitive).
    Contains(Vec<String>),
    /// The regex matches somewhere in the answer (Rust `regex` syntax).
    Regex(String),
    /// The answer, trimmed, is exactly this (case-insensitive).
    Equals(String),
}

/// The keys of `[accuracy]`.
const KEYS: &[&str] = &["probes", "min", "max_tokens", "timeout", "after_recovery"];

/// Read `[accuracy]` of the suite at `suite_path`, and its probes file.
pub(crate) fn accuracy(f: &Field, suite_path: &Path) -> Res<AccuracySpec> {
    let t = f.table("[accuracy]", Some(KEYS))?;
    let probes_field = t.req("probes", "the path of a JSONL probes file")?;
    let probes_file = PathBuf::from(probes_field.str("a path to a `.jsonl` file")?);
    let path = suite_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&probes_file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        probes_field.fail(format_args!(
            "names {}, which cannot be read: {e}",
            path.display()
        ))
    })?;
    let probes = probes(&path, &text)?;
    if probes.is_empty() {
        return Err(probes_field.fail(format_args!(
            "names {}, which holds no probe",
            path.display()
        )));
    }
    let min = match t.get("min") {
        Some(f) => {
            let expected = "a number from 0.0 to 1.0";
            match f.number(expected)? {
                m if (0.0..=1.0).contains(&m) => m,
                _ => return Err(f.expected(expected)),
            }
        }
        None => 0.9,
    };
    Ok(AccuracySpec {
        probes_file,
        probes,
        min,
        max_tokens: match t.get("max_tokens") {
            Some(f) => f.int(1, MAX_TOKENS)?,
            None => 16,
        },
        timeout: match t.get("timeout") {
            Some(f) => f.pos_dur()?,
            None => Dur::from_secs(30),
        },
        after_recovery: match t.get("after_recovery") {
            Some(f) => f.bool()?,
            None => false,
        },
    })
}

/// The probes of a JSONL file: one object per line, blank lines and `#` comments skipped;
/// an error names its line.
fn probes(path: &Path, text: &str) -> Res<Vec<AccuracyProbe>> {
    let at = |line: usize, col: usize, message: String| SuiteError {
        file: path.to_path_buf(),
        line,
        col,
        message,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if out.len() == MAX_PROBES {
            return Err(at(i + 1, 1, format!("more than {MAX_PROBES} probes")));
        }
        let probe: AccuracyProbe = serde_json::from_str(trimmed).map_err(|e| {
            at(
                i + 1,
                e.column().max(1),
                format!(
                    "{e}, expected {{\"prompt\": \"...\", \"expect\": {{\"contains\": [...]}} or {{\"regex\": \"...\"}} or {{\"equals\": \"...\"}}}}"
                ),
            )
        })?;
        if let Answer::Regex(re) = &probe.expect
            && let Err(e) = regex::Regex::new(re)
        {
            return Err(at(i + 1, 1, format!("invalid regex {re:?}: {e}")));
        }
        out.push(probe);
    }
    Ok(out)
}
