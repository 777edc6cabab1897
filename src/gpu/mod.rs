//! GPU memory: taking it away from a service on purpose (the hog), and watching who holds it.
//!
//! Everything here builds and runs on a machine with no CUDA toolkit or driver: the CUDA
//! driver and NVML are loaded at run time, and their absence is an error value
//! ([`GpuError::NoDriver`]), checked before any CUDA call is made.

pub mod cuda;
pub mod nvml;

/// Biggest allocation the hog asks for at once.
pub const CHUNK_MAX: u64 = 256 << 20;
/// Smallest allocation the hog bothers with.
pub const CHUNK_MIN: u64 = 1 << 20;

/// Why GPU work could not be done.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no CUDA driver found: {0}")]
    NoDriver(String),
    #[error("NVML could not be loaded: {0}")]
    NoNvml(String),
    #[error("no CUDA device {0} (found {1})")]
    NoDevice(usize, usize),
    #[error("out of device memory")]
    OutOfMemory,
    #[error("CUDA call failed: {0}")]
    Cuda(String),
}

/// How much memory the hog should take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HogTarget {
    /// This fraction of the memory free when it starts.
    Fraction(f64),
    /// All but this many bytes of what is free.
    Leave(u64),
    /// Exactly this many bytes.
    Bytes(u64),
}

impl HogTarget {
    /// Bytes to take when `free` bytes are free.
    pub fn goal(self, free: u64) -> u64 {
        match self {
            HogTarget::Fraction(f) => (free as f64 * f.clamp(0.0, 1.0)) as u64,
            HogTarget::Leave(b) => free.saturating_sub(b),
            HogTarget::Bytes(b) => b,
        }
    }
}

/// What a device must do for the hog: say what is free, and allocate (and hold) memory.
pub trait Device {
    /// Free and total bytes.
    fn mem_info(&mut self) -> Result<(u64, u64), GpuError>;
    /// Allocate and hold `bytes` more; [`GpuError::OutOfMemory`] when it does not fit.
    fn alloc(&mut self, bytes: u64) -> Result<(), GpuError>;
}

/// What the hog ended up holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub bytes: u64,
    pub free_after: u64,
}

/// Take memory from `dev` in chunks of 256 MiB, halving the chunk on every out-of-memory
/// answer down to 1 MiB, until the target is reached or nothing more fits.
pub fn hog(dev: &mut dyn Device, target: HogTarget) -> Result<Held, GpuError> {
    let (free, _) = dev.mem_info()?;
    let goal = target.goal(free);
    let mut held = 0u64;
    let mut chunk = CHUNK_MAX;
    while held < goal && chunk >= CHUNK_MIN {
        let want = chunk.min(goal - held);
        match dev.alloc(want) {
            Ok(()) => held += want,
            Err(GpuError::OutOfMemory) => chunk /= 2,
            Err(e) => return Err(e),
        }
        // A remainder smaller than the floor is not worth another call.
        if goal - held < CHUNK_MIN {
            break;
        }
    }
    let (free_after, _) = dev.mem_info()?;
    Ok(Held {
        bytes: held,
        free_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device with `free` bytes that refuses any single allocation above `largest`.
    struct Fake {
        free: u64,
        total: u64,
        largest: u64,
        calls: Vec<u64>,
    }

    impl Device for Fake {
        fn mem_info(&mut self) -> Result<(u64, u64), GpuError> {
            Ok((self.free, self.total))
        }
        fn alloc(&mut self, bytes: u64) -> Result<(), GpuError> {
            self.calls.push(bytes);
            if bytes > self.free || bytes > self.largest {
                return Err(GpuError::OutOfMemory);
            }
            self.free -= bytes;
            Ok(())
        }
    }

    fn fake(free_mib: u64, largest_mib: u64) -> Fake {
        Fake {
            free: free_mib << 20,
            total: 80 << 30,
            largest: largest_mib << 20,
            calls: Vec::new(),
        }
    }

    #[test]
    fn fraction_of_free_in_256_mib_chunks() {
        let mut d = fake(10_240, u64::MAX >> 20);
        let held = hog(&mut d, HogTarget::Fraction(0.9)).unwrap();
        assert_eq!(held.bytes, 9216 << 20);
        assert_eq!(held.free_after, 1024 << 20);
        assert!(d.calls.iter().all(|c| *c == CHUNK_MAX), "{:?}", d.calls);
    }

    #[test]
    fn halves_the_chunk_on_out_of_memory_down_to_one_mib() {
        // Fragmented: nothing above 40 MiB fits, and only 100 MiB are free.
        let mut d = fake(100, 40);
        let held = hog(&mut d, HogTarget::Bytes(1 << 40)).unwrap();
        assert!(held.bytes >= 99 << 20, "{}", held.bytes);
        assert!(d.calls.contains(&(32 << 20)));
        assert!(d.calls.iter().all(|c| *c >= CHUNK_MIN));
    }

    #[test]
    fn targets() {
        assert_eq!(HogTarget::Leave(2 << 30).goal(10 << 30), 8 << 30);
        assert_eq!(HogTarget::Leave(20 << 30).goal(10 << 30), 0);
        assert_eq!(HogTarget::Fraction(1.5).goal(100), 100);
        let mut d = fake(1000, 1000);
        assert_eq!(hog(&mut d, HogTarget::Leave(1000 << 20)).unwrap().bytes, 0);
        assert!(d.calls.is_empty());
    }
}
