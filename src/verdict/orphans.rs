//! `no_orphans`: nothing of a service's process tree outlives teardown, and nothing escapes
//! its process group (a process out of the group is out of reach of the group's signals,
//! even when teardown found and killed it).

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
    let (mut survivors, mut escaped) = (Vec::new(), Vec::new());
    let mut seen = 0;
    for e in &r.events {
        let What::ServiceTeardown {
            seen: n,
            survivors: left,
            escaped: out,
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
        for x in out {
            escaped.push(json!({
                "service": e.service, "pid": x.pid, "pgid": x.pgid,
                "cmdline": x.cmdline, "at_teardown": x.at_teardown,
            }));
        }
    }
    if teardowns == 0 {
        // No teardown yet (a soak's partial report) or never (killed): nothing to prove yet.
        if let Some(at_ms) = r.unfinished_at() {
            return Ok(Some(Verdict::not_judged(
                CHECK,
                ID,
                &super::unfinished(at_ms),
            )));
        }
        return Ok(Some(Verdict::new(
            CHECK,
            ID,
            false,
            "no teardown was recorded, so no process can be proven gone".into(),
            Value::Null,
        )));
    }
    let pass = survivors.is_empty() && escaped.is_empty();
    let summary = if pass {
        format!("all {seen} processes seen in service trees were gone after teardown")
    } else {
        let name = |p: &Value| format!("{} `{}`", p["pid"], p["cmdline"].as_str().unwrap_or("?"));
        let mut parts = Vec::new();
        if !escaped.is_empty() {
            let names: Vec<String> = escaped
                .iter()
                .map(|e| {
                    let outlived = survivors
                        .iter()
                        .any(|s| s["service"] == e["service"] && s["pid"] == e["pid"]);
                    let fate = if outlived {
                        "outlived teardown"
                    } else if e["at_teardown"] == true {
                        "killed at teardown"
                    } else {
                        "ended before teardown"
                    };
                    let service = e["service"].as_str().unwrap_or("?");
                    format!("{} (service {service}, {fate})", name(e))
                })
                .collect();
            parts.push(format!(
                "{} process(es) escaped their process group: {}",
                escaped.len(),
                names.join(", ")
            ));
        }
        if !survivors.is_empty() {
            let names: Vec<String> = survivors.iter().map(name).collect();
            parts.push(format!(
                "{} process(es) outlived teardown: {}",
                survivors.len(),
                names.join(", ")
            ));
        }
        parts.join("; ")
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"seen": seen, "survivors": survivors, "escaped": escaped}),
    )))
}
