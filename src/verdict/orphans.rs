//! `no_orphans`: nothing of a service's process tree outlives teardown.

use super::{FaultWindow, JudgeError, RunRecords, Verdict};
use serde_json::{Value, json};

pub fn judge(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "no_orphans";
    const ID: &str = "orphan.process";
    if !r.expect.no_orphans {
        return Ok(None);
    }
    let teardowns: Vec<_> = r.events_of("service.teardown").collect();
    if teardowns.is_empty() {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            false,
            "no teardown was recorded, so no process can be proven gone".into(),
            Value::Null,
        )));
    }
    let mut survivors = Vec::new();
    let mut seen = 0;
    for t in &teardowns {
        seen += t.data.get("seen").and_then(|v| v.as_u64()).unwrap_or(0);
        for s in t
            .data
            .get("survivors")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            survivors.push(json!({"service": t.service, "pid": s["pid"], "cmdline": s["cmdline"]}));
        }
    }
    let pass = survivors.is_empty();
    let summary = if pass {
        format!("all {seen} processes seen in service trees were gone after teardown")
    } else {
        let names: Vec<String> = survivors
            .iter()
            .map(|s| format!("{} `{}`", s["pid"], s["cmdline"].as_str().unwrap_or("?")))
            .collect();
        format!(
            "{} process(es) outlived teardown: {}",
            survivors.len(),
            names.join(", ")
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"seen": seen, "survivors": survivors}),
    )))
}
