//! `no_orphans`: nothing of a service's process tree outlives teardown, and nothing escapes
//! its process group (a process out of the group is out of reach of the group's signals,
//! even when teardown found and killed it).

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
    let list = |m: &serde_json::Map<String, Value>, key: &str| {
        m.get(key).and_then(Value::as_array).cloned()
    };
    let mut survivors = Vec::new();
    let mut escaped = Vec::new();
    let mut seen = 0;
    for t in &teardowns {
        seen += t.data.get("seen").and_then(|v| v.as_u64()).unwrap_or(0);
        for s in list(&t.data, "survivors").into_iter().flatten() {
            survivors.push(json!({"service": t.service, "pid": s["pid"], "cmdline": s["cmdline"]}));
        }
        for e in list(&t.data, "escaped").into_iter().flatten() {
            escaped.push(json!({
                "service": t.service, "pid": e["pid"], "pgid": e["pgid"],
                "cmdline": e["cmdline"], "at_teardown": e["at_teardown"],
            }));
        }
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
