//! `no_orphans`: nothing of a service's process tree outlives teardown.

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::What;
use serde_json::{Value, json};

pub fn judge(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "no_orphans";
    const ID: &str = "orphan.process";
    if !r.expect.no_orphans {
        return Ok(None);
    }
    let mut teardowns = 0;
    let mut survivors = Vec::new();
    let mut seen = 0;
    for e in &r.events {
        let What::ServiceTeardown {
            seen: n,
            survivors: left,
            ..
        } = &e.what
        else {
            continue;
        };
        teardowns += 1;
        seen += n;
        for s in left {
            survivors.push(json!({"service": e.service, "pid": s.pid, "cmdline": s.cmdline}));
        }
    }
    if teardowns == 0 {
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            false,
            "no teardown was recorded, so no process can be proven gone".into(),
            Value::Null,
        )));
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
