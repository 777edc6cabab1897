//! The declarative model of a suite: what to start, how to load it, which faults, what to expect.
//!
//! `load` turns a TOML or JSON file into a validated [`Suite`] with every default resolved;
//! every error points at `file:line:col` and says what was expected.

mod check;
mod command;
mod duration;
mod faults;
mod load;
mod locate;
mod services;
mod tree;

pub use duration::Dur;
pub use load::{SuiteError, load, load_str};
pub use locate::locate;
pub use tree::Format;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A validated suite, defaults resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    /// The `[suite]` table.
    pub meta: Meta,
    /// Services in start order (every `after` dependency comes before its dependents).
    pub services: Vec<ServiceSpec>,
    /// The `[load]` table; `None` runs no load (a suite of faults and checks only).
    pub load: Option<LoadSpec>,
    /// The faults, `use = "NAME"` already merged, in file order.
    pub faults: Vec<FaultSpec>,
    /// The `[expect]` table.
    pub expect: Expect,
    /// The `[proxy]` table; `None` when absent (a proxy is still put in front of the entry
    /// service when a fault needs one).
    pub proxy: Option<ProxySpec>,
    /// The file this suite was read from.
    pub source: PathBuf,
    /// The `[command]` table of a command suite (`kind = "command"`); `None` for a service suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
}

impl Suite {
    /// Whether load goes through a proxy: a `[proxy]` table that is not disabled, or a
    /// network fault.
    pub fn uses_proxy(&self) -> bool {
        match &self.proxy {
            Some(p) => p.enabled,
            None => self
                .faults
                .iter()
                .any(|f| crate::fault::needs_proxy(&f.kind)),
        }
    }

    /// The service that load targets.
    pub fn entry(&self) -> &ServiceSpec {
        self.services
            .iter()
            .find(|s| s.entry)
            .unwrap_or(&self.services[0])
    }
}

/// The `[suite]` table.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Short name, used in the run directory's name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Test level, L1..L5.
    pub level: Level,
    /// What the suite needs to run.
    pub hardware: Hardware,
    /// Hard wall-clock limit for the whole run.
    pub budget: Dur,
    /// Seed for arrivals, fault timing and corpus order (`--seed` overrides).
    pub seed: u64,
    /// What the suite runs: services under load and faults, or one command.
    pub kind: Kind,
}

/// What a suite runs (`[suite] kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Services under the supervisor, load and faults (`[service]`, `[load]`, `[[fault]]`).
    Service,
    /// One command under the supervisor whose test results are imported (`[command]`).
    Command,
}

/// Level in the five-level test system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    L1,
    L2,
    L3,
    L4,
    L5,
}

/// Hardware a suite needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hardware {
    Cpu,
    Gpu,
}

/// One service instance under the supervisor.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSpec {
    /// `main` for a bare `[service]`, else the table's name.
    pub name: String,
    /// Argv, never run through a shell; `{port}` and `{port.NAME}` are filled in at start.
    pub command: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Readiness probe.
    pub ready: Ready,
    /// Restart policy.
    pub restart: Restart,
    /// Services that must be ready before this one starts.
    pub after: Vec<String>,
    /// Whether load targets this service (exactly one service is the entry).
    pub entry: bool,
    /// HTTP path polled through the run for `health_truthful`; `None` polls nothing.
    pub health: Option<String>,
    /// Time between SIGTERM and SIGKILL at teardown.
    pub stop_grace: Dur,
    /// Working directory; `None`: shakedown's own (set only for a command suite's command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

/// The `[command]` table: an argv run once under the supervisor, its test results imported.
#[derive(Debug, Clone, Serialize)]
pub struct CommandSpec {
    /// Argv, never run through a shell; `{junit}` and `{run_dir}` are filled in at start.
    pub argv: Vec<String>,
    /// Working directory, resolved against the suite file's directory; `None`: shakedown's own.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Killed this long after it starts (SIGTERM to its group, `stop_grace`, SIGKILL).
    pub timeout: Dur,
    /// Time between SIGTERM and SIGKILL.
    pub stop_grace: Dur,
    /// A JUnit file the command writes itself, resolved against `cwd`; `None`: `{junit}`'s file.
    pub junit: Option<PathBuf>,
    /// How its results are read.
    pub parse: Parse,
}

/// How a command's test results are read (`[command] parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Parse {
    /// The JUnit file if the command wrote one, else libtest's result lines in its output.
    Auto,
    /// The JUnit file only.
    Junit,
    /// libtest's result lines (`test NAME ... ok`) in its standard output only.
    Libtest,
}

/// How to tell a service is ready.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    /// What to probe.
    pub probe: Probe,
    /// Deadline from spawn.
    pub within: Dur,
}

/// A readiness probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// `GET path` on the service's port answers 200.
    Http(String),
    /// A TCP connect to the service's port succeeds.
    Tcp,
}

/// What to do when a service exits on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Restart {
    /// Leave it dead.
    Never,
    /// Restart after a non-zero exit or a signal, at most `max` times, waiting `backoff` first.
    OnFailure { max: u32, backoff: Dur },
}

/// The `[load]` table.
#[derive(Debug, Clone, Serialize)]
pub struct LoadSpec {
    /// Requests per second, open loop.
    pub rate: f64,
    /// Arrival process.
    pub arrival: Arrival,
    /// Requests open at once; an arrival past this is recorded as dropped by the client, never queued.
    pub max_in_flight: usize,
    /// Per-request timeout.
    pub timeout: Dur,
    /// How long load runs; default: last fault end + `recover_within` + 5 s, at least 10 s.
    pub duration: Dur,
    /// What each request is.
    pub request: RequestSpec,
}

/// Arrival process of the open-loop load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced.
    Constant,
    /// Exponential gaps.
    Poisson,
}

/// The request every arrival sends.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSpec {
    /// Which endpoint.
    pub api: Api,
    /// SSE streaming.
    pub stream: bool,
    /// `max_tokens` in the body.
    pub max_tokens: u32,
    /// `model` in the body; `None` asks `/v1/models` once and takes the first.
    pub model: Option<String>,
    /// The prompt (chat: one user message).
    pub prompt: String,
}

/// OpenAI endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions`.
    Completions,
}

/// One `[[fault]]` entry, `use` merged in.
#[derive(Debug, Clone, Serialize)]
pub struct FaultSpec {
    /// The fault kind, e.g. `process.kill`.
    pub kind: String,
    /// The `use = "NAME"` it came from, if any.
    pub name: Option<String>,
    /// When to inject, from load start (zero when `startup`).
    pub at: Dur,
    /// `at = "startup"`: injected before any service starts.
    pub startup: bool,
    /// How long it lasts (`for`); `None` for instant faults.
    pub duration: Option<Dur>,
    /// Which service it acts on; default the entry.
    pub service: String,
    /// Kind-specific keys, checked by the fault kind itself.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Where this entry stands, for errors found later (`file:line:col`).
    pub origin: String,
}

/// The `[proxy]` table: the Toxiproxy-compatible proxy between load and the entry service.
#[derive(Debug, Clone, Serialize)]
pub struct ProxySpec {
    /// `http://HOST:PORT` of an external proxy API (a real Toxiproxy); `None`: the embedded one.
    pub server: Option<String>,
    /// `false`: load goes straight to the service (no network faults allowed).
    pub enabled: bool,
}

/// The `[expect]` table: each key is one verdict.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Expect {
    /// After each fault, success returns to `steady_success_rate` within this.
    pub recover_within: Option<Dur>,
    /// Success rate required outside fault windows (also the recovery target).
    pub steady_success_rate: Option<f64>,
    /// During a fault every request ends within this.
    pub fail_fast: Option<Dur>,
    /// Every request sent has exactly one terminal record, none silently dropped.
    pub no_lost_requests: bool,
    /// Nothing of a service's process tree outlives teardown.
    pub no_orphans: bool,
    /// Regexes no service log line may match.
    pub log_forbid: Vec<String>,
    /// `/health` must not answer 200 while requests fail because the service is broken.
    pub health_truthful: bool,
    /// No service exits on its own: outside a fault and its recovery, and before teardown.
    #[serde(default = "yes")]
    pub no_unplanned_exits: bool,
    /// Outside fault and crash windows no request hangs (times out, or outlives `hang_after`).
    #[serde(default = "yes")]
    pub no_hangs: bool,
    /// A request outside every window open longer than this is a hang (`None`: only timeouts).
    #[serde(default)]
    pub hang_after: Option<Dur>,
    /// Sliding window for success rates.
    pub window: Dur,
}

/// `true`, for keys that are on unless a suite says otherwise (older run directories lack them).
fn yes() -> bool {
    true
}
