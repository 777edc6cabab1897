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
    /// With `--level`, run every suite of a level here, cheapest level first.
    Run(RunArgs),
    /// Say what a level or trigger would run: suites, estimated time against the budget,
    /// and why every other suite is skipped; also as a GitHub matrix or Buildkite pipeline.
    Plan(PlanArgs),
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
    GpuHog(crate::gpu::cuda::HogArgs),
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
    /// The suite file; with `--level`, a directory (or suite file) to take the level's
    /// suites from (default `suites`).
    #[arg(required_unless_present = "level")]
    pub suite: Option<PathBuf>,
    /// More directories or suite files for `--level`.
    #[arg(requires = "level", value_name = "DIR")]
    pub more: Vec<PathBuf>,
    /// Run every suite of this level (and the levels it includes) instead of one suite.
    #[arg(long, value_parser = crate::plan::level::parse, conflicts_with = "run_dir")]
    pub level: Option<crate::suite::Level>,
    /// With `--level`: stop at the first suite that fails or errs.
    #[arg(long, requires = "level")]
    pub fail_fast: bool,
    /// Override the suite's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where run directories go.
    #[arg(long, default_value = crate::run::DEFAULT_OUT)]
    pub out: PathBuf,
    /// Exact run directory to write (default: OUT/<suite>-<utc time>-s<seed>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `shakedown plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The level to plan (with the levels it includes); default: every level.
    #[arg(long, value_parser = crate::plan::level::parse, conflicts_with = "trigger")]
    pub level: Option<crate::suite::Level>,
    /// Plan the levels a CI event runs: pr, merge, nightly, weekly, release.
    #[arg(long, value_parser = crate::plan::level::parse_trigger)]
    pub trigger: Option<String>,
    /// The hardware the suites would run on, cpu or gpu (default: this machine's).
    #[arg(long, value_parser = crate::plan::parse_hardware)]
    pub hardware: Option<crate::suite::Hardware>,
    /// text, json, github-matrix or buildkite.
    #[arg(long, default_value = "text")]
    pub format: crate::plan::Format,
    /// Directories (or suite files) to find suites in (default `suites`).
    pub dirs: Vec<PathBuf>,
}
