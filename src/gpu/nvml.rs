//! GPU observation through NVML, loaded at run time: free/total per device and the memory
//! each process holds.

use super::GpuError;
use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;
use serde::{Deserialize, Serialize};

/// One device's memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceMem {
    pub index: u32,
    pub name: String,
    pub free: u64,
    pub total: u64,
}

/// GPU memory a process holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcMem {
    pub pid: u32,
    pub device: u32,
    pub bytes: u64,
}

/// NVML, opened.
pub struct Gpus {
    nvml: Nvml,
}

impl Gpus {
    /// Load NVML; [`GpuError::NoNvml`] where there is none.
    pub fn open() -> Result<Self, GpuError> {
        Nvml::init()
            .map(|nvml| Gpus { nvml })
            .map_err(|e| GpuError::NoNvml(e.to_string()))
    }

    /// Driver version and CUDA version the driver supports (`12.4`).
    pub fn versions(&self) -> (String, String) {
        let driver = self
            .nvml
            .sys_driver_version()
            .unwrap_or_else(|_| "?".into());
        let cuda = self
            .nvml
            .sys_cuda_driver_version()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10))
            .unwrap_or_else(|_| "?".into());
        (driver, cuda)
    }

    /// Every device's memory.
    pub fn devices(&self) -> Vec<DeviceMem> {
        let n = self.nvml.device_count().unwrap_or(0);
        (0..n)
            .filter_map(|index| {
                let d = self.nvml.device_by_index(index).ok()?;
                let m = d.memory_info().ok()?;
                Some(DeviceMem {
                    index,
                    name: d.name().unwrap_or_default(),
                    free: m.free,
                    total: m.total,
                })
            })
            .collect()
    }

    /// Every compute process's memory, on every device.
    pub fn processes(&self) -> Vec<ProcMem> {
        let n = self.nvml.device_count().unwrap_or(0);
        let mut out = Vec::new();
        for device in 0..n {
            let Ok(d) = self.nvml.device_by_index(device) else {
                continue;
            };
            for p in d.running_compute_processes().unwrap_or_default() {
                if let UsedGpuMemory::Used(bytes) = p.used_gpu_memory {
                    out.push(ProcMem {
                        pid: p.pid,
                        device,
                        bytes,
                    });
                }
            }
        }
        out
    }
}

/// Free memory may differ from before the run by this much and still count as returned
/// (other tenants, driver bookkeeping).
const TOLERANCE: u64 = 256 << 20;
/// How long teardown waits for the driver to hand memory back.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// After teardown: wait until no process of `pids` holds GPU memory and every device has
/// its pre-run free memory back (within a tolerance), up to a bound; the evidence as JSON.
pub async fn released(gpus: &Gpus, before: &[DeviceMem], pids: &[i32]) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let now = gpus.devices();
        let held: Vec<ProcMem> = gpus
            .processes()
            .into_iter()
            .filter(|p| pids.contains(&(p.pid as i32)))
            .collect();
        let short: Vec<u32> = before
            .iter()
            .filter(|b| {
                now.iter()
                    .find(|n| n.index == b.index)
                    .is_some_and(|n| n.free + TOLERANCE < b.free)
            })
            .map(|b| b.index)
            .collect();
        let done = held.is_empty() && short.is_empty();
        if done || started.elapsed() >= RELEASE_WITHIN {
            return serde_json::json!({
                "returned": done,
                "waited_ms": started.elapsed().as_secs_f64() * 1e3,
                "before": before,
                "after": now,
                "held_by_service_processes": held,
                "devices_short": short,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
