//! shakedown: make a model service fail on purpose and judge how it recovers.
//!
//! The table of contents, in the order a run uses them:

pub mod cli; // command-line definitions (thin `main.rs` calls into these)
pub mod suite; // the declarative model: load, validate, defaults
pub mod service; // supervisor: spawn, ready, restart, process tree, teardown
pub mod load; // open-loop arrivals and the OpenAI client that records every request
pub mod fault; // every fault kind behind one trait
pub mod run; // the orchestrator: phases, schedule, run directory
pub mod record; // what a run writes: requests, events, samples (JSON lines)
pub mod verdict; // pure judgements over a run directory
pub mod report; // report.json, junit.xml, terminal summary
pub mod mock; // the mock model service (the L2 dummy model) and its engine
pub mod seed; // the one seeded random source
