//! Always on when a suite has faults: every planned fault was injected. A fault that found
//! no target is a failure, never a silent pass.

use super::{FaultWindow, JudgeError, RunRecords, Verdict};
use serde_json::json;

pub fn judge(r: &RunRecords, _: &[FaultWindow]) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "faults_injected";
    const ID: &str = "fault.not_injected";
    if r.timeline.faults.is_empty() {
        return Ok(None);
    }
    let mut missing = Vec::new();
    for f in &r.timeline.faults {
        let idx = |e: &&crate::record::Event| {
            e.data.get("index").and_then(|v| v.as_u64()) == Some(f.index as u64)
        };
        if r.events_of("fault.inject").any(|e| idx(&e)) {
            continue;
        }
        let why = r
            .events_of("fault.error")
            .find(|e| idx(e))
            .and_then(|e| {
                e.data
                    .get("error")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "never reached (run ended first)".into());
        missing.push(json!({"fault": f.index, "kind": f.kind, "describe": f.describe, "why": why}));
    }
    let pass = missing.is_empty();
    let summary = if pass {
        format!("all {} fault(s) were injected", r.timeline.faults.len())
    } else {
        format!(
            "{} of {} fault(s) were not injected: {}",
            missing.len(),
            r.timeline.faults.len(),
            missing[0]["why"].as_str().unwrap_or("")
        )
    };
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"not_injected": missing}),
    )))
}
