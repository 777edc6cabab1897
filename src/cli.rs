//! Command-line definitions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Make a model service fail on purpose and judge how it recovers.
#[derive(Debug, Parser)]
#[command(name = "shakedown", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a suite: start its services, drive load, inject faults, judge, report.
    Run(RunArgs),
    /// Check suite files without running them.
    Validate {
        /// Suite files (.toml or .json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Judge a run directory again from its records and rewrite its reports.
    Report {
        /// A run directory written by `shakedown run`.
        run_dir: PathBuf,
    },
    /// Serve the mock model service (the L2 dummy model).
    MockServer(crate::mock::ServerArgs),
    /// Take GPU memory and hold it (another tenant on the GPU).
    GpuHog(crate::hog::GpuHogArgs),
    /// Take host memory or CPU and hold it (another tenant on the host).
    Hog {
        #[command(subcommand)]
        kind: crate::hog::HogKind,
    },
    /// Say what this machine offers: CUDA driver, devices, NVML, process and proxy capabilities.
    Doctor,
    /// Serve a Toxiproxy-compatible proxy API (network faults; works with Toxiproxy clients).
    Proxy {
        /// Address of the HTTP API (loopback unless told otherwise).
        #[arg(long, default_value = "127.0.0.1:8474")]
        listen: String,
        /// Seed of the toxicity rolls.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// The mock service's engine process (started by `mock-server --engine process`).
    #[command(hide = true)]
    MockEngine(crate::mock::EngineArgs),
    /// Kills the process groups it is told about once its parent dies (started by `run`).
    #[command(hide = true, name = "__reaper")]
    Reaper,
}

/// Arguments of `shakedown run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The suite file.
    pub suite: PathBuf,
    /// Override the suite's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where run directories go.
    #[arg(long, default_value = "shakedown-runs")]
    pub out: PathBuf,
    /// Exact run directory to write (default: OUT/<suite>-<utc time>-s<seed>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}
