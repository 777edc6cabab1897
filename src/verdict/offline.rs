//! An offline suite's batch (`kind = "offline"`), judged from the run directory: it exits 0
//! on its own (`offline.exit`), within its bound (`offline.slow`), writes one output per
//! prompt (`offline.count`), each of the expected shape (`offline.schema`) and holding the
//! keywords its prompt expects (`offline.keywords`). Reads `command.exit`, the prompts copied
//! to `offline-input.jsonl` and the outputs in `offline-output.jsonl`.

use super::command::{Ended, ended, interrupted_why, last_lines, signal_name};
use super::{Course, JudgeError, RunRecords, Verdict, round};
use crate::record::files;
use crate::suite::OfflineSpec;
use serde_json::{Value, json};
use std::path::Path;

/// An offline batch as recorded.
#[derive(Debug, Clone)]
pub struct Batch {
    /// What the outputs must be.
    pub spec: OfflineSpec,
    /// The prompts file's lines (blank ones left out), each as JSON (`Null` if it is not).
    pub input: Vec<Value>,
    /// The outputs file's lines (blank ones left out); `None`: no such file.
    pub output: Option<Vec<String>>,
}

impl Batch {
    /// Read from `dir`, with `spec` as `suite.resolved.json` holds it.
    pub fn read(dir: &Path, spec: OfflineSpec) -> Result<Batch, JudgeError> {
        let lines = |name: &str| -> Result<Option<Vec<String>>, JudgeError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(t) => Ok(Some(
                    t.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_string)
                        .collect(),
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(JudgeError::Read { path, source }),
            }
        };
        let input = lines(files::OFFLINE_INPUT)?
            .unwrap_or_default()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect();
        Ok(Batch {
            spec,
            input,
            output: lines(files::OFFLINE_OUTPUT)?,
        })
    }

    /// Outputs expected: `count`, else one per prompt.
    fn expected(&self) -> u64 {
        self.spec.count.unwrap_or(self.input.len() as u64)
    }

    /// The prompt of input line `i`.
    fn prompt(&self, i: usize) -> Option<&str> {
        self.input.get(i).and_then(|v| v["prompt"].as_str())
    }
}

/// The batch and its end, or the verdict that says why it cannot be judged; `None`: not an
/// offline suite, or the batch never started (the run's error says why).
fn batch_and_end<'a>(
    r: &'a RunRecords,
    course: &Course,
    check: &str,
    id: &str,
) -> Option<Result<(&'a Batch, Ended<'a>), Verdict>> {
    let b = r.offline.as_ref()?;
    let x = ended(r)?;
    if let Some(e) = &course.error {
        return Some(Err(Verdict::not_judged(check, id, e)));
    }
    if x.interrupted {
        return Some(Err(Verdict::not_judged(
            check,
            id,
            &interrupted_why(course),
        )));
    }
    Some(Ok((b, x)))
}

/// Unwrap `batch_and_end`, returning early with its verdict or nothing.
macro_rules! batch_or_return {
    ($r:expr, $course:expr, $check:expr, $id:expr) => {
        match batch_and_end($r, $course, $check, $id) {
            None => return Ok(None),
            Some(Err(v)) => return Ok(Some(v)),
            Some(Ok(bx)) => bx,
        }
    };
}

/// How the batch ended, in words; `None` when it exited 0 on its own.
fn failed_end(x: &Ended) -> Option<String> {
    let after = format!("after {:.1} s", x.took_ms / 1e3);
    if x.timed_out {
        let limit = std::time::Duration::from_millis(x.timeout_ms as u64);
        return Some(format!(
            "the batch was killed at its timeout of {}",
            humantime::format_duration(limit)
        ));
    }
    match (x.signal, x.code) {
        (Some(sig), _) => Some(format!(
            "the batch died by signal {sig} ({}) {after}",
            signal_name(sig)
        )),
        (None, Some(0)) => None,
        (None, Some(code)) => Some(format!("the batch exited with code {code} {after}")),
        (None, None) => Some(format!("the batch ended {after} with no exit status")),
    }
}

/// `offline_exit`/`offline.exit`: the batch exits 0 on its own, before its timeout.
pub fn exit(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "offline_exit";
    const ID: &str = "offline.exit";
    let (_, x) = batch_or_return!(r, course, CHECK, ID);
    let evidence = |lines: &[String]| {
        json!({"code": x.code, "signal": x.signal, "took_ms": round(x.took_ms),
               "timed_out": x.timed_out, "last_log_lines": lines})
    };
    let Some(summary) = failed_end(&x) else {
        let summary = format!(
            "the batch exited with code 0 after {:.1} s",
            x.took_ms / 1e3
        );
        return Ok(Some(Verdict::new(CHECK, ID, true, summary, evidence(&[]))));
    };
    let lines = last_lines(r, &x)?;
    let shown = if lines.is_empty() {
        Vec::new()
    } else {
        std::iter::once("its last output lines:".to_string())
            .chain(lines.iter().map(|l| format!("  {l}")))
            .collect()
    };
    Ok(Some(
        Verdict::new(CHECK, ID, false, summary, evidence(&lines)).with_lines(shown),
    ))
}

/// `offline_within`/`offline.slow`: the batch ends within `within`.
pub fn slow(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "offline_within";
    const ID: &str = "offline.slow";
    let (b, x) = batch_or_return!(r, course, CHECK, ID);
    let Some(within) = b.spec.within else {
        return Ok(None);
    };
    let bound = humantime::format_duration(within.0);
    let pass = !x.timed_out && x.took_ms <= within.as_ms();
    let summary = if x.timed_out {
        format!("the batch was killed at its timeout, past its bound of {bound}")
    } else {
        format!(
            "the batch ended after {:.1} s ({} its bound of {bound})",
            x.took_ms / 1e3,
            if pass { "within" } else { "past" }
        )
    };
    let evidence = json!({"took_ms": round(x.took_ms), "within_ms": round(within.as_ms())});
    Ok(Some(Verdict::new(CHECK, ID, pass, summary, evidence)))
}

/// `offline_count`/`offline.count`: a batch that exited 0 wrote as many outputs as expected.
pub fn count(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "offline_count";
    const ID: &str = "offline.count";
    let (b, x) = batch_or_return!(r, course, CHECK, ID);
    if failed_end(&x).is_some() {
        let why = "the batch did not finish (see offline_exit)";
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    }
    let expected = b.expected();
    let Some(output) = &b.output else {
        let summary = format!(
            "the batch wrote no outputs file ({}), expected {expected} outputs",
            files::OFFLINE_OUTPUT
        );
        let evidence = json!({"expected": expected, "outputs": Value::Null});
        return Ok(Some(Verdict::new(CHECK, ID, false, summary, evidence)));
    };
    let answered: Vec<String> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&str> = (0..b.input.len())
        .filter_map(|i| b.prompt(i))
        .filter(|p| !answered.iter().any(|a| a == p))
        .collect();
    let n = output.len() as u64;
    let pass = n == expected;
    let mut summary = format!("the batch wrote {n} outputs, expected {expected}");
    if !pass && let Some(first) = missing.first() {
        summary.push_str(&format!(
            "; {} prompt(s) unanswered, the first: {first:?}",
            missing.len()
        ));
    }
    let evidence = json!({"expected": expected, "outputs": n,
                          "unanswered": missing.iter().take(5).collect::<Vec<_>>()});
    Ok(Some(Verdict::new(CHECK, ID, pass, summary, evidence)))
}

/// What is wrong with one output line, if anything.
fn output_problem(b: &Batch, line: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Some("it is not JSON".into());
    };
    if !v.is_object() {
        return Some("it is not a JSON object".into());
    }
    for key in ["prompt", "text", "finish_reason"] {
        if !v[key].is_string() {
            return Some(format!("`{key}` is not a string"));
        }
    }
    if !v["tokens"].is_u64() {
        return Some("`tokens` is not a count".into());
    }
    let prompt = v["prompt"].as_str().unwrap_or_default();
    if !(0..b.input.len()).any(|i| b.prompt(i) == Some(prompt)) {
        return Some(format!("its prompt {prompt:?} is none of the input's"));
    }
    None
}

/// `offline_schema`/`offline.schema`: every output is a JSON object with `prompt`, `text`,
/// `finish_reason` (strings) and `tokens` (a count), answering one of the prompts.
pub fn schema(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "offline_schema";
    const ID: &str = "offline.schema";
    let (b, _) = batch_or_return!(r, course, CHECK, ID);
    let Some(output) = b.output.as_ref().filter(|o| !o.is_empty()) else {
        let why = "the batch wrote no outputs (see offline_count)";
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    };
    let bad: Vec<(usize, String)> = output
        .iter()
        .enumerate()
        .filter_map(|(i, l)| output_problem(b, l).map(|p| (i + 1, p)))
        .collect();
    let evidence = json!({"outputs": output.len(), "bad": bad.len(),
        "examples": bad.iter().take(5).map(|(n, p)| json!({"line": n, "problem": p})).collect::<Vec<_>>()});
    let summary = match bad.first() {
        None => format!("all {} outputs have the expected shape", output.len()),
        Some((n, p)) => format!(
            "{} of {} outputs are malformed; the first, line {n}: {p}",
            bad.len(),
            output.len()
        ),
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        bad.is_empty(),
        summary,
        evidence,
    )))
}

/// `offline_keywords`/`offline.keywords`: each output whose prompt lists `expect` keywords
/// holds every one of them (case-insensitive). Skipped when no prompt lists any.
pub fn keywords(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "offline_keywords";
    const ID: &str = "offline.keywords";
    let Some(b) = &r.offline else { return Ok(None) };
    let expecting: Vec<(&str, Vec<&str>)> = b
        .input
        .iter()
        .filter_map(|v| {
            let words: Vec<&str> = v["expect"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            Some((v["prompt"].as_str()?, words))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    if expecting.is_empty() {
        return Ok(None);
    }
    let (b, _) = batch_or_return!(r, course, CHECK, ID);
    let outputs: Vec<Value> = b
        .output
        .iter()
        .flatten()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let text_of = |prompt: &str| {
        outputs
            .iter()
            .find(|v| v["prompt"] == prompt)
            .and_then(|v| v["text"].as_str())
            .map(str::to_lowercase)
    };
    let (mut judged, mut misses) = (0usize, Vec::new());
    for (prompt, words) in &expecting {
        // An unanswered prompt is offline_count's.
        let Some(text) = text_of(prompt) else {
            continue;
        };
        judged += 1;
        let lacking: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !text.contains(&w.to_lowercase()))
            .collect();
        if !lacking.is_empty() {
            misses.push(json!({"prompt": prompt, "lacking": lacking, "text": text}));
        }
    }
    if judged == 0 {
        let why = "no prompt that expects keywords was answered (see offline_count)";
        return Ok(Some(Verdict::not_judged(CHECK, ID, why)));
    }
    let evidence = json!({"judged": judged, "missing": misses});
    let summary = match misses.first() {
        None => format!("all {judged} answers hold the keywords their prompts expect"),
        Some(m) => format!(
            "{} of {judged} answers lack expected keywords; the first, to {}: lacks {}",
            misses.len(),
            m["prompt"],
            m["lacking"]
        ),
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        misses.is_empty(),
        summary,
        evidence,
    )))
}
