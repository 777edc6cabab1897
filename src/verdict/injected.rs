//! Always on when a suite has faults: every planned fault was injected. A fault that found
//! no target is a failure, never a silent pass.

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::What;
use serde_json::json;

pub fn judge(r: &RunRecords, course: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "faults_injected";
    const ID: &str = "fault.not_injected";
    if r.timeline.faults.is_empty() {
        return Ok(None);
    }
    let (mut missing, mut unreached) = (Vec::new(), Vec::new());
    for f in &r.timeline.faults {
        let mut error = None;
        for e in r.fault_events(f.index) {
            match &e.what {
                What::FaultInject { .. } => error = Some(None),
                What::FaultError { error: msg, .. } if error.is_none() => {
                    error = Some(Some(msg.clone()));
                }
                _ => {}
            }
        }
        let why = match error {
            Some(None) => continue,
            Some(Some(msg)) => msg,
            None => match course.unreached(f.at_ms) {
                // Its instant never came: not the fault's failure, nor the service's.
                Some(_) => {
                    unreached.push(format!("fault {} at {:.1} s", f.index, f.at_ms / 1e3));
                    continue;
                }
                None => "never reached (run ended first)".into(),
            },
        };
        missing.push(json!({"fault": f.index, "kind": f.kind, "describe": f.describe, "why": why}));
    }
    let cut = course.cut.as_ref().map_or("", |c| c.why.as_str());
    if missing.is_empty() && unreached.len() == r.timeline.faults.len() {
        let why = format!("{cut}, before {}", unreached.join(", "));
        return Ok(Some(Verdict::not_judged(CHECK, ID, &why)));
    }
    let pass = missing.is_empty();
    let mut summary = if pass {
        format!(
            "all {} fault(s) were injected",
            r.timeline.faults.len() - unreached.len()
        )
    } else {
        format!(
            "{} of {} fault(s) were not injected: {}",
            missing.len(),
            r.timeline.faults.len(),
            missing[0]["why"].as_str().unwrap_or("")
        )
    };
    if !unreached.is_empty() {
        summary.push_str(&format!("; not judged: {} ({cut})", unreached.join(", ")));
    }
    Ok(Some(Verdict::new(
        CHECK,
        ID,
        pass,
        summary,
        json!({"not_injected": missing, "not_reached": unreached}),
    )))
}
