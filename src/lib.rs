//! shakedown: make a model service fail on purpose and judge how it recovers.
//!
//! A run flows `suite` → `run` (which drives `service`, `load` and `fault`, writing
//! `record`s) → `verdict` → `report`. `docs/architecture.md` has the map and invariants.

/// `shakedown certify`: a release's certificate across levels (matrix, hashes, hardware).
pub mod certify;
/// Child processes: tied to their parent's life, their exits in words.
pub mod child;
/// Command-line definitions (the thin `main.rs` calls into the library).
pub mod cli;
/// `shakedown doctor`: what this machine offers.
pub mod doctor;
/// Every fault kind behind one trait.
pub mod fault;
/// GPU memory: the hog, device discovery, NVML observation (all loaded at run time).
pub mod gpu;
/// Resource hogs: child processes that take memory or CPU away from a service.
pub mod hog;
/// Test results of other runners (JUnit XML, libtest output) read into records.
pub mod import;
/// The module layering, checked on the source (no cycles, leaves, clap at the edge).
#[cfg(test)]
mod layers;
/// Open-loop arrivals and the OpenAI client that records every request.
pub mod load;
/// The one set of request-metric definitions (TTFT, TPOT, E2E, throughput, percentiles).
pub mod metrics;
/// The mock model service (the L2 dummy model) and its engine process.
pub mod mock;
/// Levels and plans: the level registry, finding suites, what a level or trigger runs.
pub mod plan;
/// The Toxiproxy-compatible proxy that network faults act through.
pub mod proxy;
/// What a run writes: requests, events, samples (JSON lines), and its clock.
pub mod record;
/// Reproduce a run: replay it with its seed and schedule, shrink it to a minimal failing suite.
pub mod replay;
/// `report.json`, `junit.xml`, the terminal summary.
pub mod report;
/// What a suite needs set up beyond its hardware (a real engine), and where it is.
pub mod requires;
/// The orchestrator: phases, schedule, run directory.
pub mod run;
/// The one seeded random source.
pub mod seed;
/// The supervisor: spawn, readiness, restarts, process trees, teardown, the reaper.
pub mod service;
/// The declarative model: load, validate, defaults.
pub mod suite;
/// Units as suites and flags write them: durations and byte sizes (a leaf, depends on nothing).
pub mod units;
/// Pure judgements over a run directory.
pub mod verdict;
