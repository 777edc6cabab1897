//! `log_forbid` and `log_forbid_teardown`: no service log line matches a forbidden pattern,
//! judged apart for lines written before teardown and during it.
//!
//! A service stopped on purpose may log its shutdown noisily (vLLM's API server logs an
//! `EngineDeadError` traceback when its engine core got the stop signal first), so a line
//! stamped at or after the `teardown` phase's start is judged only by `log_forbid_teardown`;
//! `log_forbid` still reports such lines, apart, so nobody misses them.

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::{Phase, What, files, read_log};
use regex::Regex;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Most matches kept as evidence.
const KEEP: usize = 10;

/// `log_forbid`: lines written before teardown.
pub fn judge(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "log_forbid";
    const ID: &str = "log.forbidden";
    if r.expect.log_forbid.is_empty() {
        return Ok(None);
    }
    let scan = Scan::run(r, &r.expect.log_forbid)?;
    let (before, during) = (&scan.before, &scan.during);
    let pass = before.total == 0;
    let mut summary = before.summary(scan.logs, "before");
    if during.total > 0 {
        summary += &format!(
            "; {} more match(es) during teardown, not judged (first: {})",
            during.total,
            during.first()
        );
    }
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({
            "matches": before.total, "examples": before.examples,
            "teardown_ms": scan.teardown_ms,
            "teardown_matches": during.total, "teardown_examples": during.examples,
        }),
    )))
}

/// `log_forbid_teardown`: lines written during teardown.
pub fn judge_teardown(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "log_forbid_teardown";
    const ID: &str = "log.forbidden_teardown";
    if r.expect.log_forbid_teardown.is_empty() {
        return Ok(None);
    }
    let scan = Scan::run(r, &r.expect.log_forbid_teardown)?;
    if scan.teardown_ms.is_none() {
        return Ok(Some(Verdict::skip(
            CHECK,
            ID,
            "the run recorded no teardown, so no line was written during one",
        )));
    }
    let during = &scan.during;
    let pass = during.total == 0;
    let summary = during.summary(scan.logs, "during");
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"teardown_ms": scan.teardown_ms, "matches": during.total, "examples": during.examples}),
    )))
}

/// Matching lines: how many, and the first few.
#[derive(Default)]
struct Matches {
    total: usize,
    examples: Vec<Value>,
}

impl Matches {
    fn add(&mut self, example: impl FnOnce() -> Value) {
        self.total += 1;
        if self.examples.len() < KEEP {
            self.examples.push(example());
        }
    }

    /// In words, for lines written `when` (`before`, `during`) teardown across `logs` logs.
    fn summary(&self, logs: usize, when: &str) -> String {
        if self.total == 0 {
            format!(
                "no line of {logs} service log(s) written {when} teardown matches a forbidden pattern"
            )
        } else {
            format!(
                "{} service log line(s) written {when} teardown match a forbidden pattern, first: {}",
                self.total,
                self.first()
            )
        }
    }

    /// The first match's text.
    fn first(&self) -> &str {
        self.examples
            .first()
            .and_then(|e| e["text"].as_str())
            .unwrap_or("")
    }
}

/// The service logs of a run, searched for some patterns.
struct Scan {
    /// How many service logs there were.
    logs: usize,
    /// When teardown began (the `teardown` phase event), if it did.
    teardown_ms: Option<f64>,
    /// Matching lines stamped before teardown began.
    before: Matches,
    /// Matching lines stamped since.
    during: Matches,
}

impl Scan {
    fn run(r: &RunRecords, patterns: &[String]) -> Result<Scan, JudgeError> {
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|source| JudgeError::Regex {
                    key: "log_forbid",
                    pattern: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let teardown_ms = r
            .events
            .iter()
            .find(|e| e.what == What::Phase(Phase::Teardown))
            .map(|e| e.t_ms);
        let logs = service_logs(r)?;
        let mut scan = Scan {
            logs: logs.len(),
            teardown_ms,
            before: Matches::default(),
            during: Matches::default(),
        };
        for path in &logs {
            let lines = read_log(path).map_err(|source| JudgeError::Read {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            for (n, line) in lines.iter().enumerate() {
                // Supervisor notes (`---`) are ours, not the service's.
                if line.is_note() {
                    continue;
                }
                let Some(p) = patterns.iter().find(|p| p.is_match(&line.text)) else {
                    continue;
                };
                let during = teardown_ms.is_some_and(|td| line.t_ms >= td);
                let slot = if during {
                    &mut scan.during
                } else {
                    &mut scan.before
                };
                slot.add(|| {
                    json!({"file": name, "line": n + 1, "t_ms": line.t_ms, "pattern": p.as_str(), "text": line.text})
                });
            }
        }
        Ok(scan)
    }
}

/// The run's `service-NAME.log` files, sorted.
fn service_logs(r: &RunRecords) -> Result<Vec<PathBuf>, JudgeError> {
    let mut logs: Vec<_> = std::fs::read_dir(&r.dir)
        .map_err(|source| JudgeError::Read {
            path: r.dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| files::service_of_log(n).is_some())
        })
        .collect();
    logs.sort();
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::super::Status::{Fail, Pass, Skip};
    use super::super::fixture::{LOAD_END, Run};

    /// A healthy run whose log has a traceback just before teardown and one during it;
    /// `[expect]` forbids `Traceback` both before and during teardown.
    fn run(teardown_at: Option<f64>) -> Run {
        let teardown = LOAD_END + 200.0;
        let mut run = Run::new()
            .log(teardown - 50.0, "err", "Traceback (most recent call last):")
            .log(teardown + 50.0, "out", "INFO stopping")
            .log(teardown + 50.0, "err", "Traceback (most recent call last):")
            .log(teardown + 400.0, "---", "generation 0 exited: Traceback");
        run.expect.log_forbid = vec!["Traceback".into()];
        run.expect.log_forbid_teardown = vec!["Traceback".into()];
        let is_teardown =
            |e: &super::super::Event| e.what == super::What::Phase(super::Phase::Teardown);
        match teardown_at {
            Some(t) => run
                .events
                .iter_mut()
                .filter(|e| is_teardown(e))
                .for_each(|e| e.t_ms = t),
            None => run.events.retain(|e| !is_teardown(e)),
        }
        run
    }

    #[test]
    fn lines_are_judged_by_when_they_were_written() {
        let teardown = LOAD_END + 200.0;
        // One traceback before teardown, one during it.
        let r = run(Some(teardown));
        let before = r.assert(
            "log_forbid",
            Fail,
            "log.forbidden",
            "1 more match(es) during teardown, not judged",
        );
        assert_eq!(before.evidence["matches"], 1);
        assert_eq!(before.evidence["teardown_matches"], 1);
        r.assert(
            "log_forbid_teardown",
            Fail,
            "log.forbidden_teardown",
            "1 service log line(s) written during teardown",
        );

        // A line stamped exactly at teardown's start belongs to teardown.
        let r = run(Some(teardown - 50.0));
        let before = r.assert(
            "log_forbid",
            Pass,
            "log.forbidden",
            "2 more match(es) during teardown",
        );
        assert_eq!(before.evidence["teardown_matches"], 2);

        // No teardown on record: every line is judged as written before one.
        let r = run(None);
        let before = r.assert("log_forbid", Fail, "log.forbidden", "2 service log line(s)");
        assert_eq!(before.evidence["matches"], 2);
        r.assert(
            "log_forbid_teardown",
            Skip,
            "log.forbidden_teardown",
            "no teardown",
        );
    }
}
