//! Command-line definitions: the only place clap is used. The library takes plain settings;
//! each flag set here converts into them (`From`).

use crate::units::{Dur, parse_bytes};
use crate::{gpu, hog, mock};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Make a model service fail on purpose and judge how it recovers.
#[derive(Debug, Parser)]
#[command(name = "shakedown", version, about)]
pub struct Cli {
    /// Show the framework's own diagnostics on stderr (supervisor, proxy, faults, load):
    /// `-v` info, `-vv` debug, `-vvv` trace; `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
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
    /// Run a run directory's suite again — the same suite, seed and schedule, from
    /// `suite.resolved.json` — and say whether the same verdict ids fail (exit 0) or not (1).
    Replay(ReplayArgs),
    /// Certify a release: run levels here (`--level`) or collect run and level directories,
    /// and write one certificate (JSON, HTML, JUnit) with an overall PASS (exit 0) or FAIL (1);
    /// `--verify CERT` checks its hashes against a checkout.
    Certify(CertifyArgs),
    /// Shrink a failing run: the smallest suite (fewer faults, earlier and shorter, fewer
    /// malformed-input cases, shorter load) that still fails with its verdict id.
    Shrink(ShrinkArgs),
    /// Perf results: compare two runs of a perf test.
    Perf {
        #[command(subcommand)]
        command: PerfCommand,
    },
    /// Serve the mock model service (the L2 dummy model).
    MockServer(MockServerArgs),
    /// The mock's offline twin: answer a prompts JSONL file into an outputs JSONL file.
    MockBatch(MockBatchArgs),
    /// Take GPU memory and hold it (another tenant on the GPU).
    GpuHog(GpuHogArgs),
    /// Take host memory or CPU and hold it (another tenant on the host).
    Hog {
        #[command(subcommand)]
        kind: HogKind,
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
    MockEngine(MockEngineArgs),
    /// The mock's `escape-setsid` child: forks a grandchild that leaves the session.
    #[command(hide = true)]
    MockEscapee,
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
    /// Run only the test of this name from a configuration file (`nightly.json`,
    /// `weekly.json`); on a suite file, its name.
    #[arg(long, value_name = "NAME", conflicts_with = "level")]
    pub test: Option<String>,
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
    /// Scale every soak (L5 stability) to this length of load, keeping the proportions of its
    /// warm-up, windows and faults (`90s`, `2m`); other suites run as written.
    #[arg(long, value_parser = parse_dur)]
    pub duration: Option<Duration>,
}

/// Arguments of `shakedown certify`.
#[derive(Debug, Clone, Args)]
pub struct CertifyArgs {
    /// The release certified (`v1.4.0`).
    #[arg(long, required_unless_present = "verify", conflicts_with = "verify")]
    pub release: Option<String>,
    /// Run this level's own suites here (repeatable); without it, DIRs are run directories
    /// or level directories to collect.
    #[arg(long, value_parser = crate::plan::level::parse, conflicts_with = "verify")]
    pub level: Vec<crate::suite::Level>,
    /// With `--level`: where suites are found (default `suites`); else the run and level
    /// directories to collect.
    #[arg(value_name = "DIR", conflicts_with = "verify")]
    pub dirs: Vec<PathBuf>,
    /// The certificate's directory (default: shakedown-runs/certify-<release>-<utc>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The checkout root: hashed paths are recorded, and verified, relative to it.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Check the hashes of this certificate.json against the checkout instead.
    #[arg(long, value_name = "CERT")]
    pub verify: Option<PathBuf>,
    /// Override every suite's seed (with `--level`).
    #[arg(long, requires = "level")]
    pub seed: Option<u64>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

impl From<CertifyArgs> for crate::certify::CertifyOptions {
    fn from(a: CertifyArgs) -> Self {
        crate::certify::CertifyOptions {
            release: a.release.unwrap_or_default(),
            levels: a.level,
            dirs: a.dirs,
            out: a.out,
            root: a.root,
            seed: a.seed,
            progress: !a.quiet,
        }
    }
}

/// Arguments of `shakedown replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// A run directory written by `shakedown run`.
    pub run_dir: PathBuf,
    /// Run another build of the service: this command line (words split on spaces, with the
    /// placeholders of `[service] command`) replaces the entry service's.
    #[arg(long, value_name = "CMD")]
    pub against: Option<String>,
    /// Where the replay's run directory goes.
    #[arg(long, default_value = crate::run::DEFAULT_OUT)]
    pub out: PathBuf,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

impl From<ReplayArgs> for crate::replay::ReplayOptions {
    fn from(a: ReplayArgs) -> Self {
        crate::replay::ReplayOptions {
            run_dir: a.run_dir,
            against: a.against,
            out: a.out,
            progress: !a.quiet,
        }
    }
}

/// Arguments of `shakedown shrink`.
#[derive(Debug, Clone, Args)]
pub struct ShrinkArgs {
    /// A failing run directory written by `shakedown run`.
    pub run_dir: PathBuf,
    /// Runs per candidate; a candidate fails only if every run fails with the id.
    #[arg(short, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub k: u32,
    /// The verdict id that must keep failing (default: the run's first failing id).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Where the candidates' run directories and `shrunk.json` go, an empty or new
    /// directory (default: `RUN_DIR-shrink` beside the run).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Runs at most; past them the smallest failing suite so far is written.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_runs: u64,
    /// Print only the result.
    #[arg(long, short)]
    pub quiet: bool,
}

impl From<ShrinkArgs> for crate::replay::ShrinkOptions {
    fn from(a: ShrinkArgs) -> Self {
        crate::replay::ShrinkOptions {
            run_dir: a.run_dir,
            id: a.id,
            k: a.k,
            out: a.out,
            max_runs: a.max_runs as usize,
            progress: !a.quiet,
        }
    }
}

/// `shakedown perf` subcommands.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Print every compared metric of every point two perf runs share, old, new and change;
    /// exit 1 when one got worse by more than `--regress-pct` (`perf.regression`).
    Compare {
        /// The earlier run: its directory or its `perf.json`.
        old: PathBuf,
        /// The later run: its directory or its `perf.json`.
        new: PathBuf,
        /// How much worse, in percent, a metric may get.
        #[arg(long, default_value_t = 10.0)]
        regress_pct: f64,
    },
}

/// Arguments of `shakedown mock-server`.
#[derive(Debug, Clone, Args)]
pub struct MockServerArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free port (the chosen one is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The one model name served; requests naming another get 404.
    #[arg(long, default_value = "mock-model")]
    pub model: String,
    /// Seed of the generated text (mixed with the prompt and the request's parameters).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Time to first token, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub ttft_ms: u64,
    /// Time between tokens, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub itl_ms: u64,
    /// Requests generating at once; further requests wait in the queue.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_num_seqs: u32,
    /// Requests allowed to wait for a slot; past it requests get 503.
    #[arg(long, default_value_t = 1024)]
    pub max_waiting: u32,
    /// Context length in tokens (whitespace-separated words): prompt + max_tokens must fit.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_model_len: u32,
    /// Where generation runs: in the server process or in a child engine process.
    #[arg(long, value_enum, default_value_t = EngineMode::Inline)]
    pub engine: EngineMode,
    /// What the server does when the engine process dies.
    #[arg(long, value_enum, default_value_t = OnEngineDeath::Exit)]
    pub on_engine_death: OnEngineDeath,
    /// Fail an in-flight request after this long without progress from an unresponsive engine.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub engine_timeout_ms: u64,
    /// Misbehave on purpose (repeatable); see the module docs.
    #[arg(long = "bug", value_enum, value_name = "NAME")]
    pub bugs: Vec<Bug>,
    /// Generation requests served normally before `crash-under-load`, `hang-under-load` or
    /// `stall-after` strikes.
    #[arg(long, default_value_t = 50)]
    pub bug_after: u64,
    /// Log one line per request to stderr.
    #[arg(long)]
    pub log_requests: bool,
}

impl From<MockServerArgs> for mock::ServerArgs {
    fn from(a: MockServerArgs) -> Self {
        mock::ServerArgs {
            host: a.host,
            port: a.port,
            model: a.model,
            seed: a.seed,
            ttft_ms: a.ttft_ms,
            itl_ms: a.itl_ms,
            max_num_seqs: a.max_num_seqs,
            max_waiting: a.max_waiting,
            max_model_len: a.max_model_len,
            engine: a.engine.into(),
            on_engine_death: a.on_engine_death.into(),
            engine_timeout_ms: a.engine_timeout_ms,
            bugs: a.bugs.into_iter().map(Into::into).collect(),
            bug_after: a.bug_after,
            log_requests: a.log_requests,
        }
    }
}

/// Arguments of the engine process (`shakedown mock-engine`, started by the server).
#[derive(Debug, Clone, Args)]
pub struct MockEngineArgs {
    /// Time to first token, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub ttft_ms: u64,
    /// Time between tokens, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub itl_ms: u64,
    /// The `orphan-engine` bug: leave the process group, ignore SIGTERM/SIGHUP, outlive stdin.
    #[arg(long, hide = true)]
    pub orphan: bool,
}

impl From<MockEngineArgs> for mock::EngineArgs {
    fn from(a: MockEngineArgs) -> Self {
        mock::EngineArgs {
            ttft_ms: a.ttft_ms,
            itl_ms: a.itl_ms,
            orphan: a.orphan,
        }
    }
}

/// Where generation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineMode {
    /// Tasks inside the server process (it cannot die on its own).
    Inline,
    /// A child process (`shakedown::engine`) spoken to over its stdin/stdout.
    Process,
}

impl From<EngineMode> for mock::EngineMode {
    fn from(m: EngineMode) -> Self {
        match m {
            EngineMode::Inline => mock::EngineMode::Inline,
            EngineMode::Process => mock::EngineMode::Process,
        }
    }
}

/// What the server does when the engine process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnEngineDeath {
    /// Exit with code 1 shortly after.
    Exit,
    /// Exit with code 0 shortly after (like vLLM 0.32's API server once its engine core is gone).
    ExitZero,
    /// Start a new engine after a short backoff.
    Respawn,
    /// Keep running and answer 503 forever.
    Stay,
}

impl From<OnEngineDeath> for mock::OnEngineDeath {
    fn from(o: OnEngineDeath) -> Self {
        match o {
            OnEngineDeath::Exit => mock::OnEngineDeath::Exit,
            OnEngineDeath::ExitZero => mock::OnEngineDeath::ExitZero,
            OnEngineDeath::Respawn => mock::OnEngineDeath::Respawn,
            OnEngineDeath::Stay => mock::OnEngineDeath::Stay,
        }
    }
}

/// Flags of `shakedown mock-batch`.
#[derive(Debug, Clone, Args)]
pub struct MockBatchArgs {
    /// Prompts: one JSON object with a `prompt` string per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Outputs: one `{"prompt","text","tokens","finish_reason"}` line per prompt.
    #[arg(long)]
    pub output: PathBuf,
    /// Seed of the generated text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokens generated per prompt.
    #[arg(long, default_value_t = 8)]
    pub max_tokens: u32,
    /// Milliseconds spent on each prompt.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Deliberate misbehaviour (repeatable).
    #[arg(long = "bug", value_enum, value_name = "NAME")]
    pub bugs: Vec<BatchBug>,
}

impl From<MockBatchArgs> for mock::BatchArgs {
    fn from(a: MockBatchArgs) -> Self {
        mock::BatchArgs {
            input: a.input,
            output: a.output,
            seed: a.seed,
            max_tokens: a.max_tokens,
            delay_ms: a.delay_ms,
            bugs: a.bugs.into_iter().map(Into::into).collect(),
        }
    }
}

/// Deliberate misbehaviours of `mock-batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchBug {
    /// The second prompt's output is never written; the batch still exits 0.
    DropOutput,
    /// After half the outputs, an error line and exit 1.
    CrashMidBatch,
}

impl From<BatchBug> for mock::BatchBug {
    fn from(b: BatchBug) -> Self {
        match b {
            BatchBug::DropOutput => mock::BatchBug::DropOutput,
            BatchBug::CrashMidBatch => mock::BatchBug::CrashMidBatch,
        }
    }
}

/// Deliberate misbehaviours, so each verdict can be shown failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bug {
    /// After the engine dies, requests hang forever and nothing restarts or exits.
    HangOnEngineDeath,
    /// `/health` answers 200 whatever the engine's state.
    HealthLies,
    /// The engine leaves the process group and survives the server's death and teardown.
    OrphanEngine,
    /// Every 4th streaming response ends early, cleanly, without `[DONE]` or an error.
    DropStream,
    /// Undecodable base64 in an image or audio part is answered with a 500, not a 400.
    #[value(name = "500-on-bad-base64")]
    FiveHundredOnBadBase64,
    /// An empty prompt kills the engine (the engine process exits; inline, it counts as dead).
    CrashOnEmptyPrompt,
    /// A client that disconnects leaves `vllm:num_requests_running` counting its request forever.
    LeakOnDisconnect,
    /// After `--bug-after` generation requests the server process exits on its own (code 1),
    /// with a last error line and no fault to explain it.
    CrashUnderLoad,
    /// After `--bug-after` generation requests every new one hangs forever, while `/health`
    /// keeps answering 200.
    HangUnderLoad,
    /// A stream whose client goes away (broken connection) never frees its generation slot:
    /// after `--max-num-seqs` such breaks every new request waits forever.
    StallOnDisconnect,
    /// At start, a child double-forks; the grandchild calls `setsid()` and sleeps until
    /// killed, outside the server's process group, session and tree.
    EscapeSetsid,
    /// Questions the mock knows (`What is 2 + 3?`) are answered off by one.
    WrongAnswers,
    /// `usage.total_tokens` is one more than `prompt_tokens` + `completion_tokens`.
    BadUsage,
    /// Every `finish_reason` is null, streamed or not.
    NoFinishReason,
    /// Each request gets other text, even with a fixed `seed` and `temperature` 0.
    Nondeterministic,
    /// Every generation request keeps 1 MiB of the server's memory for good.
    SlowLeak,
    /// Every generation request waits 5 ms more before its first token than the one before.
    SlowDrift,
    /// Every generation request leaves one file descriptor open for good.
    FdLeak,
    /// After `--bug-after` generation requests the engine stops producing tokens; `/health` stays 200.
    StallAfter,
}

impl From<Bug> for mock::Bug {
    fn from(b: Bug) -> Self {
        match b {
            Bug::HangOnEngineDeath => mock::Bug::HangOnEngineDeath,
            Bug::HealthLies => mock::Bug::HealthLies,
            Bug::OrphanEngine => mock::Bug::OrphanEngine,
            Bug::DropStream => mock::Bug::DropStream,
            Bug::FiveHundredOnBadBase64 => mock::Bug::FiveHundredOnBadBase64,
            Bug::CrashOnEmptyPrompt => mock::Bug::CrashOnEmptyPrompt,
            Bug::LeakOnDisconnect => mock::Bug::LeakOnDisconnect,
            Bug::CrashUnderLoad => mock::Bug::CrashUnderLoad,
            Bug::HangUnderLoad => mock::Bug::HangUnderLoad,
            Bug::StallOnDisconnect => mock::Bug::StallOnDisconnect,
            Bug::EscapeSetsid => mock::Bug::EscapeSetsid,
            Bug::WrongAnswers => mock::Bug::WrongAnswers,
            Bug::BadUsage => mock::Bug::BadUsage,
            Bug::NoFinishReason => mock::Bug::NoFinishReason,
            Bug::Nondeterministic => mock::Bug::Nondeterministic,
            Bug::SlowLeak => mock::Bug::SlowLeak,
            Bug::SlowDrift => mock::Bug::SlowDrift,
            Bug::FdLeak => mock::Bug::FdLeak,
            Bug::StallAfter => mock::Bug::StallAfter,
        }
    }
}

/// Arguments of `shakedown gpu-hog`.
#[derive(Debug, Clone, Args)]
pub struct GpuHogArgs {
    /// CUDA device ordinal.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Take this fraction of the free memory (0..1).
    #[arg(long, group = "target")]
    pub fraction: Option<f64>,
    /// Take all but this much of the free memory (e.g. `2GiB`).
    #[arg(long, group = "target", value_parser = parse_bytes)]
    pub leave: Option<u64>,
    /// Take exactly this much (e.g. `40GiB`).
    #[arg(long, group = "target", value_parser = parse_bytes)]
    pub bytes: Option<u64>,
    /// Hold for this long, then free and exit (default: until killed).
    #[arg(long, value_parser = parse_dur)]
    pub hold: Option<Duration>,
}

impl From<GpuHogArgs> for hog::GpuHogArgs {
    fn from(a: GpuHogArgs) -> Self {
        let target = match (a.fraction, a.leave, a.bytes) {
            (Some(f), _, _) => gpu::HogTarget::Fraction(f),
            (_, Some(l), _) => gpu::HogTarget::Leave(l),
            (_, _, Some(b)) => gpu::HogTarget::Bytes(b),
            _ => gpu::HogTarget::Fraction(0.9),
        };
        hog::GpuHogArgs {
            device: a.device,
            target,
            hold: a.hold,
        }
    }
}

/// What `shakedown hog` takes.
#[derive(Debug, Clone, Subcommand)]
pub enum HogKind {
    /// Take host memory (and touch every page, so it is really resident).
    Memory {
        /// Take this fraction of `MemAvailable` (0..1).
        #[arg(long, group = "target")]
        fraction: Option<f64>,
        /// Take exactly this much (e.g. `512MiB`).
        #[arg(long, group = "target", value_parser = parse_bytes)]
        bytes: Option<u64>,
        /// Hold for this long (default: until killed).
        #[arg(long, value_parser = parse_dur)]
        hold: Option<Duration>,
    },
    /// Keep CPU cores busy.
    Cpu {
        /// Busy threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Hold for this long (default: until killed).
        #[arg(long, value_parser = parse_dur)]
        hold: Option<Duration>,
    },
}

impl From<HogKind> for hog::HogKind {
    fn from(k: HogKind) -> Self {
        match k {
            HogKind::Memory {
                fraction,
                bytes,
                hold,
            } => hog::HogKind::Memory {
                fraction,
                bytes,
                hold,
            },
            HogKind::Cpu { threads, hold } => hog::HogKind::Cpu { threads, hold },
        }
    }
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

/// A duration flag, written as suites write them (`250ms`, `10s`, `5m`).
fn parse_dur(s: &str) -> Result<Duration, String> {
    s.parse::<Dur>().map(|d| d.0).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Command {
        let argv = std::iter::once("shakedown").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("parses").command
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_fill_the_library_settings() {
        let Command::MockServer(a) = parse(&[
            "mock-server",
            "--engine",
            "process",
            "--on-engine-death",
            "respawn",
            "--bug",
            "health-lies",
            "--bug",
            "500-on-bad-base64",
        ]) else {
            panic!("not mock-server");
        };
        let s = mock::ServerArgs::from(a);
        assert_eq!(s.engine, mock::EngineMode::Process);
        assert_eq!(s.on_engine_death, mock::OnEngineDeath::Respawn);
        assert_eq!(
            s.bugs,
            [mock::Bug::HealthLies, mock::Bug::FiveHundredOnBadBase64]
        );
        // Every bug flag names a bug of its own.
        let bugs: Vec<mock::Bug> = Bug::value_variants().iter().map(|&b| b.into()).collect();
        for (i, b) in bugs.iter().enumerate() {
            assert!(!bugs[..i].contains(b), "{b:?} twice");
        }

        let Command::GpuHog(a) = parse(&["gpu-hog", "--leave", "2GiB", "--hold", "1.5s"]) else {
            panic!("not gpu-hog");
        };
        let g = hog::GpuHogArgs::from(a);
        assert_eq!(g.target, gpu::HogTarget::Leave(2 << 30));
        assert_eq!(g.hold, Some(Duration::from_millis(1500)));

        let Command::Hog { kind } = parse(&["hog", "cpu", "--threads", "2", "--hold", "10ms"])
        else {
            panic!("not hog");
        };
        let hog::HogKind::Cpu { threads, hold } = kind.into() else {
            panic!("not cpu");
        };
        assert_eq!((threads, hold), (Some(2), Some(Duration::from_millis(10))));
    }
}
