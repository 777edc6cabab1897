//! The declarative model of a suite: what to start, how to load it, which faults, what to expect.
//!
//! `load` turns a TOML or JSON file into a validated [`Suite`] with every default resolved;
//! every error points at `file:line:col` and says what was expected.

mod accuracy;
mod check;
mod command;
mod config;
mod faults;
mod guardrail;
pub mod limits;
mod load;
mod locate;
mod perf;
mod services;
mod soak;
mod tree;

pub use crate::units::{Below, Dur, DurError};
/// The duration type of every suite key that takes one (it lives in the leaf [`crate::units`]).
pub use accuracy::{AccuracyProbe, AccuracySpec, Answer};
pub use config::load_all;
pub use faults::used_fault_files;
pub use guardrail::{ErrorRateGuard, Guardrails, MemoryGuard};
pub use load::{SuiteError, load, load_str};
pub use locate::locate;
pub use perf::{BASELINE_SUFFIX, LATENCIES, STATISTICS, TOTALS, higher_is_better, is_metric};
pub use services::signal;
pub use soak::{MetricsSpec, StabilitySpec};
pub use tree::Format;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A validated suite, defaults resolved.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// The `[accuracy]` table, its probes read; `None` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<AccuracySpec>,
    /// What an offline suite (`kind = "offline"`) expects of its batch; its argv is `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<OfflineSpec>,
    /// The sweep of a perf test (`kind = "perf"`, from a `nightly.json`); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<PerfSpec>,
    /// What a soak (`kind: "soak"` configuration) adds: warm-up, sampling, stability thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<StabilitySpec>,
    /// The `[guardrail]` table: what ends the run early (status `aborted`).
    #[serde(default, skip_serializing_if = "Guardrails::is_empty")]
    pub guardrails: Guardrails,
}

impl Suite {
    /// Whether load goes through a proxy: a `[proxy]` table that is not disabled, or a
    /// network fault.
    pub fn uses_proxy(&self) -> bool {
        match &self.proxy {
            Some(p) => p.enabled,
            None => self.faults.iter().any(FaultSpec::needs_proxy),
        }
    }

    /// How long the middle of a run lasts: the load's duration, or without load, until the
    /// last fault has ended and had `recover_within` to recover.
    pub fn drive_duration(&self) -> Dur {
        match &self.load {
            Some(l) => l.duration,
            None => Dur(last_fault_end(&self.faults)
                + self.expect.recover_within.map_or(Duration::ZERO, |d| d.0)),
        }
    }

    /// Fill each found requirement's placeholder (`{vllm_cpu}`) in every command and `env`
    /// value, so the resolved suite shows what ran.
    pub fn fill_requires(&mut self, found: &[(&'static crate::requires::Requirement, PathBuf)]) {
        let fill = |s: &mut String| *s = crate::requires::fill(s, found);
        for svc in &mut self.services {
            svc.command.iter_mut().for_each(fill);
            svc.env.values_mut().for_each(fill);
        }
        if let Some(c) = &mut self.command {
            c.argv.iter_mut().for_each(fill);
            c.env.values_mut().for_each(fill);
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    /// What it needs set up on the machine (`crate::requires`): skipped where missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

impl Meta {
    /// The placeholders its `requires` fill (`vllm_cpu`).
    pub fn provided(&self) -> Vec<&'static str> {
        self.requires
            .iter()
            .filter_map(|n| crate::requires::find(n))
            .map(|r| r.placeholder)
            .collect()
    }
}

/// What a suite runs (`[suite] kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Services under the supervisor, load and faults (`[service]`, `[load]`, `[[fault]]`).
    Service,
    /// One command under the supervisor whose test results are imported (`[command]`).
    Command,
    /// One batch command (offline inference) whose outputs are judged (`[offline]`).
    Offline,
    /// A service swept over request rates and concurrencies, metrics per point (`nightly.json`).
    Perf,
}

/// Level in the five-level test system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Level {
    L1,
    L2,
    L3,
    L4,
    L5,
}

/// Hardware a suite needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hardware {
    Cpu,
    Gpu,
}

/// One service instance under the supervisor.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ServiceSpec {
    /// `main` for a bare `[service]`, else the table's name.
    pub name: String,
    /// Argv, never run through a shell; `{port}` and `{port.NAME}` are filled in at start.
    pub command: Vec<String>,
    /// Extra environment variables; placeholders are filled in as in `command`.
    pub env: BTreeMap<String, String>,
    /// `port = N`: the service always listens on N; `None`: a free port is picked at start
    /// (and reaches the service through `{port}`).
    pub port: Option<u16>,
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
    /// Time between `stop_signal` and SIGKILL at teardown.
    pub stop_grace: Dur,
    /// The signal that asks the service to stop at teardown.
    #[serde(serialize_with = "signal_name", deserialize_with = "signal_named")]
    pub stop_signal: nix::sys::signal::Signal,
    /// Who gets `stop_signal` at teardown.
    pub stop_mode: StopMode,
    /// Working directory; `None`: shakedown's own (set only for a command suite's command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

/// Who gets the stop signal at teardown; whatever is left of the group afterwards gets SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// The main process alone (as `docker stop` and systemd's `KillMode=mixed` do): it may
    /// stop its children in its own order; once it exits, or the grace runs out, the rest
    /// of its process group gets SIGKILL.
    Main,
    /// The whole process group at once; SIGKILL to the group after the grace.
    Group,
}

impl StopMode {
    /// As suites write it: `main`, `group`.
    pub fn word(self) -> &'static str {
        match self {
            StopMode::Main => "main",
            StopMode::Group => "group",
        }
    }
}

/// A signal as suites name it: `"SIGTERM"`.
fn signal_name<S: serde::Serializer>(
    sig: &nix::sys::signal::Signal,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(sig.as_str())
}

/// A signal named as [`signal_name`] writes it.
fn signal_named<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<nix::sys::signal::Signal, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    signal(&name).ok_or_else(|| serde::de::Error::custom(format!("no signal `{name}`")))
}

/// The `[command]` table: an argv run once under the supervisor, its test results imported.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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

impl CommandSpec {
    /// The command as the one supervised service `command`, running `argv` (its
    /// placeholders filled in): no readiness to wait for, no restart, no health path.
    pub fn service(&self, argv: Vec<String>) -> ServiceSpec {
        ServiceSpec {
            // `record::files::COMMAND`: its log is `service-command.log`.
            name: "command".into(),
            command: argv,
            env: self.env.clone(),
            // Never probed: a command is launched, not waited on to be ready.
            ready: Ready {
                probe: Probe::Tcp,
                within: self.timeout,
            },
            restart: Restart::Never,
            after: Vec::new(),
            entry: true,
            health: None,
            stop_grace: self.stop_grace,
            // A command told to stop (its timeout) stops as a whole: test servers with it.
            stop_signal: nix::sys::signal::Signal::SIGTERM,
            stop_mode: StopMode::Group,
            // Nothing reaches a command on a port: it needs none.
            port: None,
            cwd: self.cwd.clone(),
        }
    }
}

/// The `[offline]` table beyond its command: the prompts and what the outputs must be.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OfflineSpec {
    /// The prompts file (JSON lines), resolved against the suite file's directory; copied
    /// into the run directory, where `{input}` points.
    pub input: PathBuf,
    /// Outputs expected; `None`: one per input line.
    #[serde(default)]
    pub count: Option<u64>,
    /// The batch must end within this (`offline.slow`); `None`: only its timeout bounds it.
    #[serde(default)]
    pub within: Option<Dur>,
}

/// How a command's test results are read (`[command] parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Ready {
    /// What to probe.
    pub probe: Probe,
    /// Deadline from spawn.
    pub within: Dur,
}

/// A readiness probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// `GET path` on the service's port answers 200.
    Http(String),
    /// A TCP connect to the service's port succeeds.
    Tcp,
}

/// What to do when a service exits on its own.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Restart {
    /// Leave it dead.
    Never,
    /// Restart after a non-zero exit or a signal, at most `max` times, waiting `backoff` first.
    OnFailure { max: u32, backoff: Dur },
    /// Restart after any exit outside teardown, status 0 included, at most `max` times,
    /// waiting `backoff` first.
    Always { max: u32, backoff: Dur },
}

impl Restart {
    /// The backoff before restart number `restarts + 1` after an exit outside teardown
    /// (`failed`: non-zero status or a signal); `None`: no restart.
    pub fn after_exit(&self, failed: bool, restarts: u32) -> Option<Dur> {
        match *self {
            Restart::OnFailure { max, backoff } if failed && restarts < max => Some(backoff),
            Restart::Always { max, backoff } if restarts < max => Some(backoff),
            _ => None,
        }
    }
}

/// The `[load]` table.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LoadSpec {
    /// Requests per second, open loop.
    pub rate: f64,
    /// Arrival process.
    pub arrival: Arrival,
    /// Requests open at once; an arrival past this is recorded as dropped by the client, never queued.
    pub max_in_flight: usize,
    /// A concurrency cap instead: an arrival waits for one of this many slots, and arrivals
    /// stop at the end of `duration` (a closed loop, at a rate no service keeps up with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Per-request timeout.
    pub timeout: Dur,
    /// How long load runs; default: last fault end + `recover_within` + 5 s, at least 10 s.
    pub duration: Dur,
    /// What each request is.
    pub request: RequestSpec,
}

/// Arrival process of the open-loop load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced.
    Constant,
    /// Exponential gaps.
    Poisson,
}

/// The request every arrival sends.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions`.
    Completions,
}

/// One `[[fault]]` entry, `use` merged in.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FaultSpec {
    /// The fault kind, e.g. `process.kill`.
    pub kind: String,
    /// The `use = "NAME"` it came from, if any.
    pub name: Option<String>,
    /// When to inject, from load start (zero when `startup`).
    pub at: Dur,
    /// `at = "startup"`: injected before any service starts.
    pub startup: bool,
    /// `after_load = true`: `at` may fall after load ends; the run then waits to inject it
    /// (otherwise faults not yet injected when load ends never are).
    pub after_load: bool,
    /// How long it lasts (`for`); `None` for instant faults.
    pub duration: Option<Dur>,
    /// Which service it acts on; default the entry.
    pub service: String,
    /// `reinject = N`: after each restart of its service (once ready again), inject it again,
    /// at most N times (a crash loop).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reinject: u32,
    /// Kind-specific keys, checked by the fault kind itself.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Where this entry stands, for errors found later (`file:line:col`).
    pub origin: String,
}

impl FaultSpec {
    /// Whether this fault acts through the proxy in front of the entry service (the `network.*`
    /// family does).
    pub fn needs_proxy(&self) -> bool {
        self.kind.starts_with("network.")
    }
}

/// A kind-specific key that is wrong: where (key path inside the fault entry) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// Path of the offending key inside the `[[fault]]` entry (`[]` means the `kind` key itself).
    pub key: Vec<String>,
    /// What was expected.
    pub message: String,
}

/// Judges one fault entry's kind and kind-specific keys. The fault kinds live above the suite
/// (`crate::fault` depends on it, never the other way), so whoever loads a suite passes theirs:
/// `shakedown::fault::check`; the suite turns the error's key path into `file:line:col`.
pub type CheckFault = dyn Fn(&FaultSpec) -> Result<(), ParamError>;

/// The `[proxy]` table: the Toxiproxy-compatible proxy between load and the entry service.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    /// Regexes no service log line written before teardown may match.
    pub log_forbid: Vec<String>,
    /// Regexes no service log line written during teardown may match (empty: those lines
    /// are only reported).
    #[serde(default)]
    pub log_forbid_teardown: Vec<String>,
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
    /// The suite starts a service with a bad configuration on purpose: refusing it (fast, with
    /// a message) is the pass, starting is `startup.accepted`.
    #[serde(default)]
    pub startup_fails: bool,
    /// Every service is ready within this of its spawn (`startup.slow`).
    #[serde(default)]
    pub ready_within: Option<Dur>,
    /// Every answer that succeeded has the shape the OpenAI API promises (`api.schema`).
    #[serde(default)]
    pub api_conformant: bool,
    /// The same seeded, greedy request gives the same text twice (`api.nondeterministic`).
    #[serde(default)]
    pub deterministic: bool,
    /// Sliding window for success rates.
    pub window: Dur,
    /// p99 end-to-end latency of successful requests outside fault and crash windows.
    #[serde(default)]
    pub latency_p99: Option<Below>,
    /// p99 time to first token of those requests (streams).
    #[serde(default)]
    pub ttft_p99: Option<Below>,
    /// p99 time per output token after the first of those requests (streams).
    #[serde(default)]
    pub tpot_p99: Option<Below>,
    /// Least throughput of those requests over the undisturbed part of the load.
    #[serde(default)]
    pub throughput_min: Option<ThroughputMin>,
    /// Failure ids the service under test is known to have: reported `xfail`, not failing
    /// the run; one that does not occur is `xpass` and fails it (strict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_failures: Vec<KnownFailure>,
}

/// One `[expect] known_failures` entry.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KnownFailure {
    /// The failure id (`health.lie`).
    pub id: String,
    /// Why it is known and accepted.
    pub reason: String,
    /// Where it is tracked (an issue), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl KnownFailure {
    /// Its reason and link, in one line.
    pub fn words(&self) -> String {
        match &self.link {
            Some(l) => format!("{} ({l})", self.reason),
            None => self.reason.clone(),
        }
    }
}

/// `throughput_min`: the least requests and output tokens per second; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct ThroughputMin {
    /// Completed successful requests per second.
    #[serde(default)]
    pub requests_per_s: Option<f64>,
    /// Their output tokens per second.
    #[serde(default)]
    pub output_tokens_per_s: Option<f64>,
}

/// When the last fault ends (or strikes, for an instant fault), from load start.
fn last_fault_end(faults: &[FaultSpec]) -> Duration {
    faults
        .iter()
        .map(|f| f.at.0 + f.duration.map_or(Duration::ZERO, |d| d.0))
        .max()
        .unwrap_or_default()
}

impl Default for Expect {
    /// What a suite expects when its `[expect]` says nothing: the checks that need no
    /// threshold are on, the ones that do are off.
    fn default() -> Self {
        Expect {
            recover_within: None,
            steady_success_rate: None,
            fail_fast: None,
            no_lost_requests: true,
            no_orphans: true,
            log_forbid: Vec::new(),
            log_forbid_teardown: Vec::new(),
            health_truthful: true,
            no_unplanned_exits: true,
            no_hangs: true,
            hang_after: None,
            window: Dur::from_secs(1),
            latency_p99: None,
            ttft_p99: None,
            tpot_p99: None,
            throughput_min: None,
            api_conformant: false,
            deterministic: false,
            startup_fails: false,
            ready_within: None,
            known_failures: Vec::new(),
        }
    }
}

/// `true`, for keys that are on unless a suite says otherwise (older run directories lack them).
fn yes() -> bool {
    true
}

/// A perf test: one service, swept over points, the same workload at each.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PerfSpec {
    /// The sweep points, in order: each rate with each concurrency.
    pub points: Vec<SweepPoint>,
    /// Measured requests per point.
    pub num_prompts: usize,
    /// Requests sent before each point's measured ones, left out of its metrics.
    pub num_warmups: usize,
    /// Gamma shape of the gaps between arrivals: 1 is Poisson, less is burstier.
    pub burstiness: f64,
    /// What each request asks.
    pub workload: Workload,
    /// Endpoint and body shape.
    pub request: RequestSpec,
    /// Send `ignore_eos` (vLLM's extension) so every answer runs to `max_tokens`.
    pub ignore_eos: bool,
    /// Per-request timeout.
    pub timeout: Dur,
    /// Pause between points, after the last request of one and before the next.
    pub cooldown: Dur,
    /// Service-level objectives a request must meet to count toward goodput.
    pub goodput: Goodput,
    /// A point whose schedule lag p99 exceeds this measured the client, not the service:
    /// it is marked `client.saturated` and not judged.
    pub lag_p99_max: Dur,
    /// Failed requests allowed per point, as a fraction of its requests.
    pub max_failed: f64,
    /// Expected values to judge each point against.
    pub baseline: Option<Baseline>,
}

impl PerfSpec {
    /// The most requests any point may have in flight at once.
    pub fn most_in_flight(&self) -> usize {
        let n = self.num_prompts.max(self.num_warmups);
        let each = self
            .points
            .iter()
            .map(|p| p.max_concurrency.unwrap_or(n).min(n));
        each.max()
            .unwrap_or(1)
            .clamp(1, limits::MAX_IN_FLIGHT as usize)
    }
}

/// One point of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct SweepPoint {
    /// Requests per second; `None` is `"inf"`: every request at once.
    pub qps: Option<f64>,
    /// Requests in flight at most; `None`: no cap.
    pub max_concurrency: Option<usize>,
}

impl SweepPoint {
    /// The point's name, also its directory: `qps_4`, `qps_inf_concurrency_16`.
    pub fn name(&self) -> String {
        let qps = self.qps.map_or("inf".to_string(), |q| format!("{q}"));
        match self.max_concurrency {
            Some(c) => format!("qps_{qps}_concurrency_{c}"),
            None => format!("qps_{qps}"),
        }
    }
}

/// Where a perf test's prompts come from.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "dataset")]
pub enum Workload {
    /// Synthetic prompts of seeded random words (`dataset_name = "random"`).
    Random(RandomLens),
    /// Synthetic chat prompts with generated images (`dataset_name = "random-mm"`).
    RandomImages {
        /// Prompt and answer lengths.
        lens: RandomLens,
        /// Images per request.
        images: usize,
        /// Width and height of each image, pixels.
        size: u32,
    },
    /// Prompts read from a JSON-lines file (`dataset_name = "jsonl"`), used in order, round robin.
    Jsonl {
        /// The file.
        path: PathBuf,
        /// Its prompts.
        prompts: Vec<FilePrompt>,
    },
}

/// Lengths of synthetic prompts and answers: each drawn uniformly within `range_ratio` of its mean.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct RandomLens {
    /// Mean prompt length, in words (about one token each).
    pub input_len: u32,
    /// Mean answer length, tokens (`max_tokens`).
    pub output_len: u32,
    /// 0 for fixed lengths; 0.5 draws from half to one and a half times the mean.
    pub range_ratio: f64,
}

/// One prompt of a JSON-lines workload.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FilePrompt {
    /// The body's `prompt` (completions) or one user message (chat), or whole `messages`.
    pub prompt: FilePromptText,
    /// `max_tokens` for it; the test's output length when the line has none.
    pub max_tokens: Option<u32>,
}

/// The text of a file prompt.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum FilePromptText {
    /// Plain text.
    Text(String),
    /// Chat messages as written (JSON).
    Messages(serde_json::Value),
}

/// Goodput objectives (vLLM's `--goodput`): a request is good when it meets every one set.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Goodput {
    /// Time to first token at most.
    pub ttft: Option<Dur>,
    /// Time per output token at most.
    pub tpot: Option<Dur>,
    /// End-to-end latency at most.
    pub e2el: Option<Dur>,
}

impl Goodput {
    /// Whether any objective is set.
    pub fn is_set(&self) -> bool {
        self.ttft.is_some() || self.tpot.is_some() || self.e2el.is_some()
    }
}

/// Expected values for a perf test's points.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Baseline {
    /// The baseline file.
    pub file: PathBuf,
    /// Bounds per point: a point name or `*` for every point.
    pub bounds: Vec<Bound>,
    /// A previous result (`perf.json` or its run directory) each point is compared with.
    pub previous: Option<PathBuf>,
    /// With `previous`: how much worse, in percent, a metric may get.
    pub regress_pct: f64,
}

/// One bound of a baseline: `"ttft_ms.p99": {"max": 500}` for a point.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Bound {
    /// Point name, or `*`.
    pub point: String,
    /// Metric name, e.g. `ttft_ms.p99` or `request_throughput`.
    pub metric: String,
    /// Smallest allowed value.
    pub min: Option<f64>,
    /// Largest allowed value.
    pub max: Option<f64>,
}

/// Serde's test for a count left out when zero.
fn is_zero(n: &u32) -> bool {
    *n == 0
}
