//! Every range a suite value must fall in, in one place (`docs/suite-format.md`, "Limits",
//! lists them all).
//!
//! They exist so that nothing a suite says can take the framework down: no value makes the
//! planner or the load generator allocate without bound, a timer overflow, or a run start
//! something that cannot work. `validate` rejects a value outside them, located.

use std::time::Duration;

/// The longest duration anywhere in a suite or a fault file (it bounds [`crate::units::Dur`]).
pub use crate::units::{MAX_DURATION, max_duration_text};

/// The highest `[load] rate`, requests per second.
pub const MAX_RATE: f64 = 100_000.0;

/// The most arrivals one load may plan: `rate × duration` (100 million; at 1,000 req/s that
/// is a 27-hour soak).
pub const MAX_ARRIVALS: f64 = 1e8;

/// The highest `[load] max_in_flight` (each request in flight holds a socket).
pub const MAX_IN_FLIGHT: u32 = 100_000;

/// The highest `[load.request] max_tokens`.
pub const MAX_TOKENS: u32 = 1_000_000;

/// The most probes an `[accuracy]` probes file may hold.
pub const MAX_PROBES: usize = 10_000;

/// The highest `restart.max` of a service.
pub const MAX_RESTARTS: u32 = 1_000;

/// Most re-injections of one fault after restarts (`reinject`): as many as restarts.
pub const MAX_REINJECT: u32 = MAX_RESTARTS;

/// The longest `[suite] name`, in bytes (it names the run directory, whose name must fit
/// the file system's 255 bytes with the time and seed added).
pub const MAX_NAME_BYTES: usize = 100;

/// The most busy threads a `cpu.pressure` hog may start.
pub const MAX_HOG_THREADS: usize = 1_024;

/// The highest GPU index a `gpu.preempt` may name.
pub const MAX_GPU_DEVICE: usize = 255;

/// The shortest `network.flicker` interval (each `down` and `up` bound): every change is an
/// API call and an event, so intervals near zero would only flood the journal.
pub const MIN_FLICKER_INTERVAL: Duration = Duration::from_millis(10);

/// The highest `network.bandwidth` rate, KB/s (10 GB/s, more than loopback carries).
pub const MAX_BANDWIDTH_KBPS: u64 = 10_000_000;

/// The largest `network.slicer` `average_size` and `size_variation`, bytes (a proxied chunk
/// is at most 64 KiB, so larger slices change nothing).
pub const MAX_SLICE_BYTES: u64 = 1 << 20;

/// The shortest soak `sample_every`, also after `--duration` scales a soak down: the
/// process tree is read this often anyway.
pub const MIN_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The shortest soak `report_every` (each partial report judges everything recorded so far).
pub const MIN_REPORT_EVERY: Duration = Duration::from_secs(5);

/// The most faults a soak's periodic fault (`every`) may expand to.
pub const MAX_REPEATS: u64 = 10_000;

/// A count or rate as messages write it: plain below a million, else `3.6e12`.
pub fn number(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(max_duration_text(), "\"168h\" (7 days)");
        assert_eq!(number(MAX_ARRIVALS), "1e8");
        assert_eq!(number(3.6e12), "3.6e12");
        assert_eq!(number(MAX_RATE), "100000");
        assert_eq!(number(2.5), "2.5");
    }
}
