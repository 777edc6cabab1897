//! `shakedown doctor`: what this machine offers a run, in a few lines.

use crate::gpu::{cuda, nvml::Gpus};

const GIB: f64 = (1u64 << 30) as f64;

/// Print what was found; always exits 0 (it reports, it does not judge).
pub fn main() -> i32 {
    println!("shakedown {}", env!("CARGO_PKG_VERSION"));
    match cuda::driver_present() {
        Ok(()) => println!("cuda driver: loaded"),
        Err(e) => println!("cuda driver: {e}"),
    }
    match Gpus::open() {
        Ok(g) => {
            let (driver, cuda) = g.versions();
            println!("nvml: loaded (driver {driver}, CUDA {cuda})");
            for d in g.devices() {
                println!(
                    "  gpu {}: {} — {:.1} GiB free of {:.1} GiB",
                    d.index,
                    d.name,
                    d.free as f64 / GIB,
                    d.total as f64 / GIB
                );
            }
        }
        Err(e) => println!("nvml: {e}"),
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let avail = crate::hog::mem_available().unwrap_or(0);
    println!(
        "host: {cores} cores, {:.1} GiB memory available",
        avail as f64 / GIB
    );
    println!(
        "processes: /proc {}, signals to own process groups, parent-death signal (Linux)",
        if std::path::Path::new("/proc/self/stat").exists() {
            "readable"
        } else {
            "missing"
        }
    );
    let subreaper = match crate::service::subreaper::become_subreaper() {
        Ok(()) if crate::service::subreaper::is_subreaper() => "subreaper".to_string(),
        Ok(()) => "process-tree samples only (the subreaper setting did not hold)".to_string(),
        Err(e) => format!("process-tree samples only (failed to become a child subreaper: {e})"),
    };
    println!(
        "process tracking: {subreaper}; cgroup v2 per service: not used ({})",
        cgroup_v2()
    );
    // What `[suite] requires` may name, and whether each is set up here.
    for r in crate::requires::REQUIREMENTS {
        match r.locate() {
            Ok(dir) => println!(
                "{}: set up in {} (suites that require it run; `{{{}}}` is that directory)",
                r.name,
                dir.display(),
                r.placeholder
            ),
            Err(e) => println!("{}: no, suites that require it are skipped: {e}", r.name),
        }
    }
    let loopback = std::net::TcpListener::bind("127.0.0.1:0").is_ok();
    println!(
        "network: loopback listen {}",
        if loopback { "ok" } else { "failed" }
    );
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
