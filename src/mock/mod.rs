//! The mock model service (`shakedown mock-server`): the default target and the L2 "dummy
//! model". A real HTTP server speaking the OpenAI API the way vLLM does, generating
//! deterministic words with realistic timing, optionally in a separate engine process that
//! faults can kill or freeze, and with deliberate bugs so every verdict can be seen failing.
//!
//! Flags (they fill [`ServerArgs`]):
//! - `--host` (127.0.0.1), `--port` (8000; 0 picks a free one). Once the engine is ready it
//!   prints `listening on http://HOST:PORT` on stdout.
//! - `--model` (`mock-model`): the one model served; any other name gets 404.
//! - `--seed` (0): the text is a function of this seed, the prompt, and the request's
//!   `seed`, `temperature`, `top_p`, `max_tokens` and choice index (greedy requests,
//!   `temperature: 0`, give every choice the same text).
//! - `--ttft-ms` (20), `--itl-ms` (10): time to first token and between tokens.
//! - `--max-num-seqs` (64) requests generate at once; up to `--max-waiting` (1024) more
//!   wait; beyond that, 503.
//! - `--max-model-len` (4096) tokens, where a token is a whitespace-separated word (chat
//!   prompts are rendered as `role: content` lines; token-id prompts count one per id).
//!   Without `max_tokens` a choice stops on its own after 8 to 32 words (`stop`); with it,
//!   exactly `max_tokens` come out (`length`) unless a `stop` string (whole word) ends it.
//! - `--engine inline|process` (inline). `process` runs generation in a child process
//!   (`/proc/PID/cmdline` starts with `shakedown::engine`, comm `shakedown-engin`) in the
//!   server's process group, killed by the kernel if the server dies (PDEATHSIG). It ignores
//!   SIGTERM and SIGINT: a signal to the whole group reaches the server, which stops it.
//! - `--on-engine-death exit|exit-zero|respawn|stay` (exit): when the engine dies, in-flight requests
//!   fail (500 `EngineDeadError`, or an SSE error event once a stream has started), new
//!   ones get 503, `/health` 503, and stderr gets
//!   `ERROR shakedown.mock: EngineDeadError: engine process (pid N) died: signal 9`.
//!   Then `exit` exits with code 1 after 200 ms; `exit-zero` with
//!   code 0 (as vLLM 0.32's API server does); `respawn` starts a new engine after
//!   200 ms (health 200 once it answers); `stay` answers 503 for good.
//! - `--engine-timeout-ms` (3000): the engine is pinged every 200 ms; silent for 1 s, it
//!   counts as unresponsive (health 503 until it answers again); silent for this long, each
//!   request that has made no progress for as long fails with 503 `EngineTimeoutError`.
//! - `--log-requests`: one stderr line per request.
//! - `--bug NAME` (repeatable), deliberate misbehaviour:
//!   - `hang-on-engine-death`: after the engine dies, in-flight and new requests are never
//!     answered, nothing restarts or exits; `/health` still says 503.
//!   - `health-lies`: `/health` says 200 whatever the engine's state.
//!   - `orphan-engine`: the engine calls `setsid()`, has no parent-death signal, ignores
//!     SIGTERM/SIGHUP/SIGINT, outlives its stdin, and is not killed at shutdown.
//!   - `drop-stream`: every 4th streaming response ends cleanly after 3 tokens, with
//!     neither `[DONE]` nor an error.
//!   - `500-on-bad-base64`: undecodable base64 in an `image_url` or `input_audio` part is
//!     answered 500 `InternalServerError` (`binascii.Error: ...`) instead of 400 (vllm#32636).
//!   - `crash-on-empty-prompt`: a request whose prompt is empty (a completions prompt of
//!     only whitespace, or a chat whose every message is empty) kills the engine (vllm#7283):
//!     with `--engine process` the engine process gets SIGKILL; inline, the engine is declared
//!     dead on the spot. Either way `--on-engine-death` then applies.
//!   - `leak-on-disconnect`: a request whose client disconnects before it ends is never
//!     counted down: `vllm:num_requests_running` stays up for good (vllm#54947).
//!   - `stall-on-disconnect`: when a streaming client goes away mid-answer (reset, closed
//!     connection), the request's generation slot is never freed; after `--max-num-seqs`
//!     such breaks every new request waits forever (the vLLM-style abort-on-disconnect bug).
//!   - `escape-setsid`: at start, a child (`shakedown mock-escapee`) forks and exits; the
//!     grandchild (title `shakedown::escaped`) calls `setsid()` and sleeps until killed,
//!     re-parented out of the server's tree within milliseconds. The child writes
//!     `INFO shakedown.mock: escape-setsid: pid N left the process group and session`.
//!   - `wrong-answers`: the arithmetic questions the mock answers (`answers`) get the
//!     answer plus one, so accuracy probes fail.
//!   - `bad-usage`: `usage.total_tokens` is one more than `prompt_tokens` +
//!     `completion_tokens`, streamed or not.
//!   - `no-finish-reason`: every `finish_reason` is null, streamed or not.
//!   - `nondeterministic`: each request draws other words, even with a fixed `seed` and
//!     `temperature` 0.
//!   - `slow-leak`: every generation request keeps 1 MiB of memory for good.
//!   - `slow-drift`: request N waits N × 5 ms before it is served.
//!   - `fd-leak`: every generation request leaves `/dev/null` open for good.
//!   - `stall-after`: after `--bug-after` generation requests the engine stops producing
//!     tokens; later requests hold a slot and never get one, `/health` stays 200.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions` (JSON or SSE),
//! `GET /v1/models`, `GET /health`, `GET /metrics`. Every error body is OpenAI-shaped.
//! SIGTERM/SIGINT: stop accepting, give in-flight requests 300 ms, fail the rest with 503,
//! stop the engine, exit 0.

mod answers;
mod api;
mod args;
mod batch;
mod engine;
mod escape;
mod generate;
/// Image and audio parts checked as vLLM checks them.
pub mod media;

pub use generate::WORDS;
mod metrics;
mod responses;
mod server;
mod supervisor;

pub use args::{Bug, EngineArgs, EngineMode, OnEngineDeath, ServerArgs};
pub use batch::{BatchArgs, BatchBug, batch_main};

/// Serve until SIGTERM/SIGINT; returns the process exit code.
pub fn serve(args: ServerArgs) -> std::io::Result<i32> {
    server::serve(args)
}

/// The engine child process's main (`shakedown mock-engine`).
pub fn engine_main(args: EngineArgs) -> std::io::Result<i32> {
    engine::engine_main(args)
}

/// The `escape-setsid` child's main (`shakedown mock-escapee`).
pub fn escapee_main() -> i32 {
    escape::escapee_main()
}
