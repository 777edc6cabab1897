//! `log_forbid` and `log_forbid_teardown`: no service log line matches a forbidden pattern,
//! judged apart for lines written before teardown and during it.
//!
//! A service stopped on purpose may log its shutdown noisily (vLLM's API server logs an
//! `EngineDeadError` traceback when its engine core got the stop signal first), so a line
//! stamped at or after the `teardown` phase's start is judged only by `log_forbid_teardown`;
//! `log_forbid` still reports such lines, apart, so nobody misses them.

use super::{FaultWindow, JudgeError, RunRecords, Verdict};
use regex::Regex;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::PathBuf;

/// Most matches kept as evidence.
const KEEP: usize = 10;

/// `log_forbid`: lines written before teardown.
pub fn judge(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "log_forbid";
    const ID: &str = "log.forbidden";
    if r.expect.log_forbid.is_empty() {
        return Ok(None);
    }
    let scan = Scan::run(r, &r.expect.log_forbid)?;
    let (before, during) = (&scan.before, &scan.during);
    let pass = before.total == 0;
    let mut summary = if pass {
        format!(
            "no line of {} service log(s) written before teardown matches a forbidden pattern",
            scan.logs
        )
    } else {
        format!(
            "{} service log line(s) written before teardown match a forbidden pattern, first: {}",
            before.total,
            before.first()
        )
    };
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
pub fn judge_teardown(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
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
    let summary = if pass {
        format!(
            "no line of {} service log(s) written during teardown matches a forbidden pattern",
            scan.logs
        )
    } else {
        format!(
            "{} service log line(s) written during teardown match a forbidden pattern, first: {}",
            during.total,
            during.first()
        )
    };
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
                    pattern: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let teardown_ms = r
            .events_of("phase")
            .find(|e| e.data.get("phase").and_then(Value::as_str) == Some("teardown"))
            .map(|e| e.t_ms);
        let logs = service_logs(r)?;
        let mut scan = Scan {
            logs: logs.len(),
            teardown_ms,
            before: Matches::default(),
            during: Matches::default(),
        };
        for path in &logs {
            let file = std::fs::File::open(path).map_err(|source| JudgeError::Read {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let Ok(line) = line else { break };
                // Lines are `  T_MS STREAM TEXT`; supervisor notes (`---`) are ours, not the service's.
                let mut parts = line.trim_start().splitn(3, ' ');
                let (t, stream, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
                if stream == Some("---") {
                    continue;
                }
                let Some(p) = patterns.iter().find(|p| p.is_match(text)) else {
                    continue;
                };
                // A line whose stamp cannot be read is judged, as if written before teardown.
                let t = t.and_then(|t| t.parse::<f64>().ok());
                let during = matches!((t, teardown_ms), (Some(t), Some(td)) if t >= td);
                let slot = if during {
                    &mut scan.during
                } else {
                    &mut scan.before
                };
                slot.add(|| {
                    json!({"file": name, "line": n + 1, "t_ms": t, "pattern": p.as_str(), "text": text})
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
                .is_some_and(|n| n.starts_with("service-") && n.ends_with(".log"))
        })
        .collect();
    logs.sort();
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    /// A run directory holding one service log and, when `teardown_ms` is given, the
    /// `teardown` phase event; `[expect]` forbids `Traceback` both before and during teardown.
    fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).expect("record")
    }

    fn records(dir: &std::path::Path, log: &str, teardown_ms: Option<f64>) -> RunRecords {
        std::fs::write(dir.join("service-main.log"), log).expect("write log");
        let events = teardown_ms
            .map(|t| json!({"t_ms": t, "kind": "phase", "phase": "teardown"}))
            .into_iter()
            .map(from)
            .collect();
        RunRecords {
            dir: dir.to_path_buf(),
            expect: from(json!({
                "recover_within": null, "steady_success_rate": null, "fail_fast": null,
                "no_lost_requests": false, "no_orphans": false, "health_truthful": false,
                "window": "1s", "log_forbid": ["Traceback"], "log_forbid_teardown": ["Traceback"],
            })),
            timeline: from(json!({
                "suite": "t", "seed": 0, "started_at": "", "load_start_ms": 0.0,
                "load_end_ms": 0.0, "arrivals": 0, "faults": [],
            })),
            events,
            requests: Vec::new(),
            samples: Vec::new(),
            input: Vec::new(),
            skipped_lines: 0,
        }
    }

    fn verdicts(r: &RunRecords) -> (Verdict, Verdict) {
        let v = |j: fn(&RunRecords, &[FaultWindow]) -> Result<Option<Verdict>, JudgeError>| {
            j(r, &[]).expect("judged").expect("configured")
        };
        (v(judge), v(judge_teardown))
    }

    const LOG: &str = "      10.0 --- spawned generation 0 as pid 7\n\
                       \x20    400.0 err Traceback (most recent call last):\n\
                       \x20    500.0 out INFO stopping\n\
                       \x20    500.0 err Traceback (most recent call last):\n\
                       \x20    900.0 --- generation 0 exited: Traceback\n";

    #[test]
    fn lines_are_judged_by_when_they_were_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Teardown began at 450 ms: one traceback before it, one during it.
        let (before, during) = verdicts(&records(dir.path(), LOG, Some(450.0)));
        assert_eq!(before.status, Status::Fail, "{before:?}");
        assert_eq!(before.id, "log.forbidden");
        assert_eq!(before.evidence["matches"], 1);
        assert_eq!(before.evidence["examples"][0]["line"], 2);
        assert_eq!(before.evidence["teardown_matches"], 1);
        assert!(
            before
                .summary
                .contains("1 more match(es) during teardown, not judged"),
            "{}",
            before.summary
        );
        assert_eq!(during.status, Status::Fail, "{during:?}");
        assert_eq!(during.id, "log.forbidden_teardown");
        assert_eq!(during.evidence["examples"][0]["line"], 4);

        // A line stamped exactly at teardown's start belongs to teardown.
        let (before, during) = verdicts(&records(dir.path(), LOG, Some(400.0)));
        assert_eq!(before.status, Status::Pass, "{before:?}");
        assert_eq!(before.evidence["teardown_matches"], 2);
        assert_eq!(during.evidence["matches"], 2);

        // No teardown on record: every line is judged as written before one.
        let (before, during) = verdicts(&records(dir.path(), LOG, None));
        assert_eq!(before.evidence["matches"], 2);
        assert_eq!(during.status, Status::Skip, "{during:?}");
    }
}
