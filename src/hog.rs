//! Resource hogs: child processes that take host memory or CPU away from a service, print
//! one `READY ...` line when they hold it, and give it back when killed.
//!
//! Hogs run as separate processes (`shakedown hog ...`, `shakedown gpu-hog`) so the kernel's
//! OOM killer and the scheduler see them as the other tenant they stand for, and so a hog
//! dies with the framework (parent-death signal, the framework's process group).

use crate::gpu;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// What `shakedown hog` takes.
#[derive(Debug, Clone)]
pub enum HogKind {
    /// Host memory, every page touched so it is really resident.
    Memory {
        /// This fraction of `MemAvailable` (0..1); neither this nor `bytes`: half of it.
        fraction: Option<f64>,
        /// Exactly this many bytes (before `fraction`).
        bytes: Option<u64>,
        /// Hold for this long (`None`: until killed).
        hold: Option<Duration>,
    },
    /// Busy CPU cores.
    Cpu {
        /// Busy threads (`None`: one per core).
        threads: Option<usize>,
        /// Hold for this long (`None`: until killed).
        hold: Option<Duration>,
    },
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `shakedown hog memory|cpu`.
pub fn main(kind: &HogKind) -> i32 {
    match kind {
        HogKind::Memory {
            fraction,
            bytes,
            hold: how_long,
        } => {
            let available = mem_available().unwrap_or(0);
            let goal = match (fraction, bytes) {
                (_, Some(b)) => *b,
                (Some(f), None) => (available as f64 * f.clamp(0.0, 1.0)) as u64,
                (None, None) => available / 2,
            };
            const CHUNK: usize = 256 << 20;
            let mut held: Vec<Resident> = Vec::new();
            let mut total = 0u64;
            while total < goal {
                let n = CHUNK.min((goal - total) as usize);
                match Resident::new(n) {
                    Some(r) => held.push(r),
                    // The kernel said no: hold what we have, as a real tenant would.
                    None => break,
                }
                total += n as u64;
            }
            ready(&format!("memory {total} {}", mem_available().unwrap_or(0)));
            hold(how_long.unwrap_or(Duration::MAX));
            drop(held);
            0
        }
        HogKind::Cpu {
            threads,
            hold: how_long,
        } => {
            let n = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            for _ in 0..n {
                std::thread::spawn(|| {
                    let mut x: u64 = 1;
                    loop {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                });
            }
            ready(&format!("cpu {n}"));
            hold(how_long.unwrap_or(Duration::MAX));
            0
        }
    }
}

/// What `shakedown gpu-hog` takes, and for how long.
#[derive(Debug, Clone)]
pub struct GpuHogArgs {
    /// CUDA device ordinal.
    pub device: usize,
    /// How much of its memory.
    pub target: gpu::HogTarget,
    /// Hold for this long, then free and exit (`None`: until killed).
    pub hold: Option<Duration>,
}

/// `shakedown gpu-hog`: take memory, print `READY <device> <bytes held> <free after>`, hold, free on exit.
pub fn gpu_main(args: &GpuHogArgs) -> i32 {
    let mut dev = match gpu::cuda::Cuda::open(args.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu-hog: {e}");
            return 1;
        }
    };
    let held = match gpu::hog(&mut dev, args.target) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gpu-hog: failed to allocate on device {}: {e}", args.device);
            return 1;
        }
    };
    ready(&format!(
        "{} {} {}",
        args.device, held.bytes, held.free_after
    ));
    eprintln!(
        "gpu-hog: holding {:.2} GiB on device {} ({}), {:.2} GiB left free",
        held.bytes as f64 / (1u64 << 30) as f64,
        args.device,
        dev.name(),
        held.free_after as f64 / (1u64 << 30) as f64
    );
    hold(args.hold.unwrap_or(Duration::MAX));
    drop(dev); // frees every allocation before exit
    0
}

/// Anonymous memory the kernel populated up front (`MAP_POPULATE`): resident at once,
/// without a page fault per page, and returned by `munmap` on drop.
struct Resident {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Resident {
    fn new(len: usize) -> Option<Self> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Resident { ptr, len })
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn ready(what: &str) {
    println!("READY {what}");
    let _ = std::io::stdout().flush();
}

/// Block until SIGTERM or SIGINT arrives, or `how_long` passes.
pub fn hold(how_long: Duration) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    // Blocked signals stay pending for sigtimedwait instead of killing us mid-free.
    let _ = set.thread_block();
    let deadline = Instant::now().checked_add(how_long);
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return;
        }
        let step = left.min(Duration::from_secs(3600));
        let ts = libc::timespec {
            tv_sec: step.as_secs() as libc::time_t,
            tv_nsec: step.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set` is a valid sigset_t, the info pointer may be null, `ts` lives across the call.
        let r = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
        if r > 0 {
            return;
        }
    }
}

/// A hog child process of the framework, ready and holding.
#[derive(Debug)]
pub struct Hog {
    child: tokio::process::Child,
    /// The `READY ...` line, without `READY `.
    pub ready: String,
}

/// Why a hog could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HogError {
    #[error("failed to start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} exited before it was ready: {message}")]
    Failed { what: String, message: String },
    #[error("{what} was not ready within {within:?}")]
    NotReady { what: String, within: Duration },
}

impl Hog {
    /// Start `shakedown ARGS` and wait for its `READY` line.
    pub async fn start(args: &[String], within: Duration) -> Result<Hog, HogError> {
        let what = format!("shakedown {}", args.join(" "));
        let mut cmd = tokio::process::Command::new(crate::service::shakedown_exe());
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // Dies with the framework; stays in its process group.
        crate::child::dies_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| HogError::Spawn {
            what: what.clone(),
            source,
        })?;
        let stdout = child.stdout.take();
        let read = async {
            let mut lines = tokio::io::BufReader::new(stdout?).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("READY ") {
                    return Some(rest.to_string());
                }
            }
            None
        };
        match tokio::time::timeout(within, read).await {
            Ok(Some(ready)) => Ok(Hog { child, ready }),
            Ok(None) => {
                let _ = child.wait().await;
                let mut message = String::new();
                if let Some(mut err) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = err.read_to_string(&mut message).await;
                }
                Err(HogError::Failed {
                    what,
                    message: message.trim().to_string(),
                })
            }
            Err(_) => {
                let _ = child.kill().await;
                Err(HogError::NotReady { what, within })
            }
        }
    }

    /// Pid of the hog.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Release: SIGTERM (so it frees cleanly), then SIGKILL if it lingers.
    pub async fn release(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
