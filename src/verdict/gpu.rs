//! `gpu_memory_released`: after teardown no process of the service trees holds GPU memory,
//! and every device's free memory is back to its pre-run level (where NVML could be loaded).

use super::{Course, JudgeError, RunRecords, Verdict};
use crate::record::What;

pub fn judge(r: &RunRecords, _: &Course) -> Result<Option<Verdict>, JudgeError> {
    const CHECK: &str = "gpu_memory_released";
    const ID: &str = "gpu.memory_held";
    let after = r.events.iter().rev().find_map(|e| match &e.what {
        What::GpuAfterTeardown(m) => Some(m),
        _ => None,
    });
    let Some(after) = after else {
        // No NVML on this machine: nothing to judge, and nothing to report.
        return Ok(None);
    };
    let evidence = serde_json::Value::Object(after.clone());
    let returned = evidence["returned"].as_bool().unwrap_or(false);
    let summary = if returned {
        "GPU memory was back to its pre-run level after teardown".to_string()
    } else {
        format!(
            "GPU memory still held after teardown: {} service process(es), device(s) short of pre-run free memory: {}",
            evidence["held_by_service_processes"]
                .as_array()
                .map_or(0, Vec::len),
            evidence["devices_short"]
        )
    };
    Ok(Some(Verdict::new(CHECK, ID, returned, summary, evidence)))
}
