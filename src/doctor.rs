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
    let loopback = std::net::TcpListener::bind("127.0.0.1:0").is_ok();
    println!(
        "network: loopback listen {}",
        if loopback { "ok" } else { "failed" }
    );
    0
}
