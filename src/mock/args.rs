//! Command-line arguments of the mock server and its engine process.

use clap::{Args, ValueEnum};

/// Arguments of `shakedown mock-server`.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
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
    /// Log one line per request to stderr.
    #[arg(long)]
    pub log_requests: bool,
}

impl ServerArgs {
    /// Whether `bug` was asked for.
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }
}

/// Arguments of the engine process (`shakedown mock-engine`, started by the server).
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
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

/// Where generation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineMode {
    /// Tasks inside the server process (it cannot die on its own).
    Inline,
    /// A child process (`shakedown::engine`) spoken to over its stdin/stdout.
    Process,
}

/// What the server does when the engine process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnEngineDeath {
    /// Exit with code 1 shortly after (like vLLM's API server).
    Exit,
    /// Exit with code 0 shortly after (like vLLM 0.32's API server).
    ExitZero,
    /// Start a new engine after a short backoff.
    Respawn,
    /// Keep running and answer 503 forever.
    Stay,
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
    /// A stream whose client goes away (broken connection) never frees its generation slot:
    /// after `--max-num-seqs` such breaks every new request waits forever.
    StallOnDisconnect,
}
