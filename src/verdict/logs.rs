//! `log_forbid`: no service log line matches a forbidden pattern.

use super::{Course, JudgeError, RunRecords, Verdict};
use regex::Regex;
use serde_json::json;
use std::io::BufRead;

/// Most matches kept as evidence.
const KEEP: usize = 10;

pub fn judge(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "log_forbid";
    const ID: &str = "log.forbidden";
    if r.expect.log_forbid.is_empty() {
        return Ok(None);
    }
    let patterns = r
        .expect
        .log_forbid
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|source| JudgeError::Regex {
                pattern: p.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    let mut hits = Vec::new();
    let mut total = 0;
    for path in &logs {
        let file = std::fs::File::open(path).map_err(|source| JudgeError::Read {
            path: path.clone(),
            source,
        })?;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let Ok(line) = line else { break };
            // Lines are `  T_MS STREAM TEXT`; supervisor notes (`---`) are ours, not the service's.
            let mut parts = line.trim_start().splitn(3, ' ');
            let (_, stream, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            if stream == Some("---") {
                continue;
            }
            if let Some(p) = patterns.iter().find(|p| p.is_match(text)) {
                total += 1;
                if hits.len() < KEEP {
                    let file = path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    hits.push(
                        json!({"file": file, "line": n + 1, "pattern": p.as_str(), "text": text}),
                    );
                }
            }
        }
    }
    let pass = total == 0;
    let summary = if pass {
        format!(
            "no line of {} service log(s) matches a forbidden pattern",
            logs.len()
        )
    } else {
        format!(
            "{total} service log line(s) match a forbidden pattern, first: {}",
            hits[0]["text"].as_str().unwrap_or("")
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"matches": total, "examples": hits}),
    )))
}
