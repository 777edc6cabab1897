//! Faults: every kind behind one trait, so the orchestrator knows none of them by name.
//!
//! Adding a kind is one file here, one line in [`KINDS`], and one entry in `docs/faults.md`.

mod gpu;
pub mod input;
mod network;
mod pressure;
mod process;

use crate::record::Journal;
use crate::service::Service;
use crate::suite::FaultSpec;
pub use crate::suite::ParamError;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// A fault that can be injected and cleared.
pub trait Fault: Send + Sync {
    /// One line for humans: what this fault does to what.
    fn describe(&self) -> String;
    /// Do it now. Returns details for the event journal (which pids, which signal).
    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>>;
    /// Undo it (for instant faults, nothing). Called at the end of `for`, and at teardown
    /// for a fault still active, so a run never leaves a fault behind.
    fn clear<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>>;
    /// What it will draw from the run's `seed` over `duration` (for `schedule.json`); the
    /// same draws `inject` makes. `null` for a kind that draws nothing.
    fn draws(&self, _seed: u64, _duration: Option<std::time::Duration>) -> Value {
        Value::Null
    }
}

/// What a fault may act on.
#[derive(Debug, Clone)]
pub struct FaultCtx {
    /// The service the fault names.
    pub service: Arc<Service>,
    /// The run's journal.
    pub journal: Journal,
    /// The run's seed (for faults that draw, each forks its own stream).
    pub seed: u64,
    /// The run directory (for faults that record what they did, such as `input.jsonl`).
    pub run_dir: std::path::PathBuf,
    /// The proxy in front of the entry service, for network faults (`None`: the run has none).
    pub proxy: Option<Arc<crate::proxy::ProxyHandle>>,
    /// Fires when the run is cut short (interrupt, budget): a long injection stops early.
    pub cut: tokio_util::sync::CancellationToken,
}

/// A fault that could not do what it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("no process of service `{service}` matches {what}; its tree is: {tree}")]
    NoTarget {
        service: String,
        what: String,
        tree: String,
    },
    #[error("failed to {action}: {reason}")]
    Failed { action: String, reason: String },
}

/// One fault kind: its name in suites and how to build it from a suite entry.
struct Kind {
    name: &'static str,
    build: fn(&FaultSpec) -> Result<Box<dyn Fault>, ParamError>,
}

/// Every fault kind.
const KINDS: &[Kind] = &[
    Kind {
        name: "process.kill",
        build: process::Kill::build,
    },
    Kind {
        name: "process.pause",
        build: process::Pause::build,
    },
    Kind {
        name: "memory.pressure",
        build: pressure::Pressure::memory,
    },
    Kind {
        name: "cpu.pressure",
        build: pressure::Pressure::cpu,
    },
    Kind {
        name: "gpu.preempt",
        build: gpu::build,
    },
    Kind {
        name: "input.malformed",
        build: input::Malformed::build,
    },
    Kind {
        name: "network.down",
        build: network::Down::build,
    },
    Kind {
        name: "network.flicker",
        build: network::Flicker::build,
    },
    Kind {
        name: "network.latency",
        build: network::latency,
    },
    Kind {
        name: "network.bandwidth",
        build: network::bandwidth,
    },
    Kind {
        name: "network.reset_peer",
        build: network::reset_peer,
    },
    Kind {
        name: "network.timeout",
        build: network::timeout,
    },
    Kind {
        name: "network.slicer",
        build: network::slicer,
    },
    Kind {
        name: "network.limit_data",
        build: network::limit_data,
    },
    Kind {
        name: "network.slow_close",
        build: network::slow_close,
    },
];

/// Names of every fault kind.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name)
}

/// Build the fault a suite entry describes.
pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
    let kind = KINDS
        .iter()
        .find(|k| k.name == spec.kind)
        .ok_or_else(|| ParamError {
            key: vec![],
            message: format!(
                "unknown fault kind `{}`, expected one of {}",
                spec.kind,
                kinds()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    (kind.build)(spec)
}

/// Check a fault entry's kind and kind-specific keys without building it for a run (the
/// [`crate::suite::CheckFault`] to load suites with).
pub fn check(spec: &FaultSpec) -> Result<(), ParamError> {
    build(spec).map(|_| ())
}

/// Read a kind's parameters from the entry's extra keys; unknown keys are errors.
fn params<T: DeserializeOwned>(spec: &FaultSpec) -> Result<T, ParamError> {
    let value = Value::Object(spec.params.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut key: Vec<String> = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let message = e.inner().to_string();
        // Point at an unknown key itself, not at the table holding it.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            key.push(name.to_string());
        }
        ParamError {
            key,
            message: message.replace("unknown field", "unknown key"),
        }
    })
}
