//! Settings of the mock server and its engine process. Plain data: the flags that fill them
//! (`shakedown mock-server`, `shakedown mock-engine`) are defined in `crate::cli`.

/// Settings of `shakedown mock-server`.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// Address to bind.
    pub host: String,
    /// Port to listen on; 0 picks a free port (the chosen one is printed).
    pub port: u16,
    /// The one model name served; requests naming another get 404.
    pub model: String,
    /// Seed of the generated text (mixed with the prompt and the request's parameters).
    pub seed: u64,
    /// Time to first token, in milliseconds.
    pub ttft_ms: u64,
    /// Time between tokens, in milliseconds.
    pub itl_ms: u64,
    /// Requests generating at once (at least 1); further requests wait in the queue.
    pub max_num_seqs: u32,
    /// Requests allowed to wait for a slot; past it requests get 503.
    pub max_waiting: u32,
    /// Context length in tokens (whitespace-separated words): prompt + max_tokens must fit.
    pub max_model_len: u32,
    /// Where generation runs: in the server process or in a child engine process.
    pub engine: EngineMode,
    /// What the server does when the engine process dies.
    pub on_engine_death: OnEngineDeath,
    /// Fail an in-flight request after this long (at least 1 ms) without progress from an
    /// unresponsive engine.
    pub engine_timeout_ms: u64,
    /// Deliberate misbehaviours.
    pub bugs: Vec<Bug>,
    /// Generation requests served normally before `crash-under-load`, `hang-under-load` or
    /// `stall-after` strikes.
    pub bug_after: u64,
    /// Log one line per request to stderr.
    pub log_requests: bool,
}

impl ServerArgs {
    /// Whether `bug` was asked for.
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }
}

/// Settings of the engine process (`shakedown mock-engine`, started by the server).
#[derive(Debug, Clone)]
pub struct EngineArgs {
    /// Time to first token, in milliseconds.
    pub ttft_ms: u64,
    /// Time between tokens, in milliseconds.
    pub itl_ms: u64,
    /// The `orphan-engine` bug: leave the process group, ignore SIGTERM/SIGHUP, outlive stdin.
    pub orphan: bool,
}

/// Where generation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    /// Tasks inside the server process (it cannot die on its own).
    Inline,
    /// A child process (`shakedown::engine`) spoken to over its stdin/stdout.
    Process,
}

/// What the server does when the engine process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Deliberate misbehaviours, so each verdict can be shown failing (`--bug NAME`; the names and
/// what each does are in the module docs and `docs/mock.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// `hang-on-engine-death`.
    HangOnEngineDeath,
    /// `health-lies`.
    HealthLies,
    /// `orphan-engine`.
    OrphanEngine,
    /// `drop-stream`.
    DropStream,
    /// `500-on-bad-base64`.
    FiveHundredOnBadBase64,
    /// `crash-on-empty-prompt`.
    CrashOnEmptyPrompt,
    /// `leak-on-disconnect`.
    LeakOnDisconnect,
    /// `crash-under-load`.
    CrashUnderLoad,
    /// `hang-under-load`.
    HangUnderLoad,
    /// `stall-on-disconnect`.
    StallOnDisconnect,
    /// `escape-setsid`.
    EscapeSetsid,
    /// `wrong-answers`.
    WrongAnswers,
    /// `bad-usage`.
    BadUsage,
    /// `no-finish-reason`.
    NoFinishReason,
    /// `nondeterministic`.
    Nondeterministic,
    /// `slow-leak`.
    SlowLeak,
    /// `slow-drift`.
    SlowDrift,
    /// `fd-leak`.
    FdLeak,
    /// `stall-after`.
    StallAfter,
}
