//! The run-directory contract: what a run writes, under which file names, in which types.
//!
//! `requests.jsonl`, `events.jsonl` (typed in [`event`]), `samples.jsonl`, `input.jsonl`,
//! `tests.jsonl`, `command-junit.xml`, `timeline.json`, `suite.resolved.json`, `service-NAME.log`, `report.json`, `junit.xml`:
//! writers (`run`, `service`, `fault`, `load`, `report`) and readers (`verdict`, `report`)
//! name them only through [`files`].
//!
//! Every line is flushed as it is written, so a crash of the framework loses nothing
//! already observed, and verdicts can be judged again later from the files alone.
//! Times are milliseconds since the run's origin (`t0` in `timeline.json`), from a monotonic clock.

pub mod event;
mod live;
mod schedule;
mod testcase;

pub use event::{Escape, Event, FaultRef, Flip, Journal, LoadSummary, Phase, Survivor, What};
pub use live::{Live, Status};
pub use schedule::{
    LinkRolls, PlannedArrivals, PlannedService, Schedule, ScheduledFault, Toxicity,
    first_difference_json,
};
pub use testcase::{TestRecord, TestStatus};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx with a well-formed body (streams: ended with `[DONE]`).
    Ok,
    /// 4xx answer.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// 5xx answer.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made (refused, unreachable).
    ConnectError,
    /// The connection broke mid-request or mid-response (reset, cut body).
    Reset,
    /// A stream that began but ended without `[DONE]` and without an error event: cut by the
    /// connection breaking, or ended by the service as if complete (`clean_end`, a silent loss).
    StreamTruncated,
    /// 2xx whose body is not what the API promises.
    BadResponse,
    /// `max_in_flight` was reached: the client never sent it.
    Dropped,
    /// The run was interrupted while the request was open.
    Aborted,
}

impl Outcome {
    /// Its name as records write it (`http_5xx`).
    pub fn word(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Counts toward the success rate.
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// The request went out on the wire (so the service owes it an answer).
    pub fn was_sent(self) -> bool {
        self != Outcome::Dropped
    }
}

/// One request, written once when it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Sequence number, 0.. in arrival order.
    pub id: u64,
    /// When the schedule wanted it sent.
    pub intended_ms: f64,
    /// When it was handed to the socket (`None` if never sent).
    pub sent_ms: Option<f64>,
    /// When the response headers arrived.
    pub headers_ms: Option<f64>,
    /// When the first token arrived (streams: first chunk with content).
    pub first_token_ms: Option<f64>,
    /// When it ended, whatever the outcome.
    pub done_ms: f64,
    /// HTTP status, if one arrived.
    pub status: Option<u16>,
    /// How it ended.
    pub outcome: Outcome,
    /// Stream chunks received.
    #[serde(default)]
    pub chunks: u32,
    /// Largest gap between stream chunks.
    #[serde(default)]
    pub max_gap_ms: Option<f64>,
    /// Completion tokens reported by `usage` (or counted chunks).
    #[serde(default)]
    pub tokens: Option<u32>,
    /// Response headers (lower-case names).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The first bytes of an error body, or the error text.
    #[serde(default)]
    pub error: Option<String>,
    /// A `stream_truncated` whose HTTP body ended properly: the service ended the stream as
    /// if complete, without `[DONE]` or an error (silent loss), rather than the connection breaking.
    #[serde(default)]
    pub clean_end: bool,
    /// What was wrong with the shape of an answer that otherwise succeeded (no
    /// `finish_reason`, `usage` totals that do not add up); `None`: it conformed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonconformant: Option<String>,
    /// Prompt tokens reported by `usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Every gap between stream chunks from the first token on, in order (ms): the
    /// inter-token latencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub itl_ms: Vec<f64>,
    /// When a concurrency slot came free, for a request that had to wait for one
    /// (`max_concurrency`); the generator's own lag is counted from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_ms: Option<f64>,
}

impl RequestRecord {
    /// Request `id`, meant to leave at `intended_ms`, before anything happened to it.
    pub fn new(id: u64, intended_ms: f64) -> Self {
        RequestRecord {
            id,
            intended_ms,
            sent_ms: None,
            headers_ms: None,
            first_token_ms: None,
            done_ms: intended_ms,
            status: None,
            outcome: Outcome::Aborted,
            chunks: 0,
            max_gap_ms: None,
            tokens: None,
            headers: BTreeMap::new(),
            error: None,
            clean_end: false,
            nonconformant: None,
            prompt_tokens: None,
            itl_ms: Vec::new(),
            slot_ms: None,
        }
    }

    /// From send (or intent, if never sent) to end.
    pub fn latency_ms(&self) -> f64 {
        self.done_ms - self.sent_ms.unwrap_or(self.intended_ms)
    }

    /// The instant the request started to be the service's problem.
    pub fn start_ms(&self) -> f64 {
        self.sent_ms.unwrap_or(self.intended_ms)
    }
}

/// The file names of a run directory, in one place.
pub mod files {
    /// The suite as it ran, every default resolved.
    pub const SUITE: &str = "suite.resolved.json";
    /// The plan: load window, arrivals, faults ([`super::Timeline`]).
    pub const TIMELINE: &str = "timeline.json";
    /// The exact planned schedule, written before load ([`super::Schedule`]).
    pub const SCHEDULE: &str = "schedule.json";
    /// The journal ([`super::Event`]).
    pub const EVENTS: &str = "events.jsonl";
    /// One line per request ([`super::RequestRecord`]).
    pub const REQUESTS: &str = "requests.jsonl";
    /// Health polls, process trees, GPU memory ([`super::Sample`]).
    pub const SAMPLES: &str = "samples.jsonl";
    /// One line per malformed-input case ([`super::InputRecord`]).
    pub const INPUT: &str = "input.jsonl";
    /// One line per accuracy probe sent ([`super::AccuracyRecord`]).
    pub const ACCURACY: &str = "accuracy.jsonl";
    /// The judged report.
    pub const REPORT: &str = "report.json";
    /// The report for CI systems.
    pub const JUNIT: &str = "junit.xml";
    /// The report for a person: one self-contained page, opened from the run directory.
    pub const REPORT_HTML: &str = "report.html";
    /// One line per test a command suite's command ran ([`super::TestRecord`]).
    pub const TESTS: &str = "tests.jsonl";
    /// Where `{junit}` points a command suite's command; a `junit = PATH` file is copied here.
    pub const COMMAND_JUNIT: &str = "command-junit.xml";
    /// An offline suite's prompts, copied from its `input` (where `{input}` points).
    pub const OFFLINE_INPUT: &str = "offline-input.jsonl";
    /// Where `{output}` points an offline suite's command: its outputs, one JSON line each.
    pub const OFFLINE_OUTPUT: &str = "offline-output.jsonl";
    /// A soak's plot: each sampled series, latency and throughput against time (SVG).
    pub const STABILITY_SVG: &str = "stability.svg";
    /// The service name a command runs under, so its output is `service-command.log`.
    pub const COMMAND: &str = "command";

    /// A perf test's sweep points, one directory each (`points/qps_4/`), holding
    /// [`REQUESTS`] for the point's measured requests, [`WARMUP`] and [`RESULT`].
    pub const POINTS: &str = "points";
    /// A point's warm-up requests, left out of its metrics.
    pub const WARMUP: &str = "warmup.jsonl";
    /// A point's metrics in the shape of `vllm bench serve --save-result`, plus shakedown's own.
    pub const RESULT: &str = "result.json";
    /// A perf test's metrics, every point: what baselines and `perf compare` read.
    pub const PERF: &str = "perf.json";
    /// The same as a Markdown table.
    pub const PERF_MD: &str = "perf.md";

    /// A service's output, stamped per line: `service-NAME.log`.
    pub fn service_log(service: &str) -> String {
        format!("service-{service}.log")
    }

    /// The service a log file belongs to, if `file_name` is one.
    pub fn service_of_log(file_name: &str) -> Option<&str> {
        file_name.strip_prefix("service-")?.strip_suffix(".log")
    }
}

/// One periodic observation: a health poll or a process-tree sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sample {
    /// A poll of the service's health path.
    Health {
        t_ms: f64,
        service: String,
        /// HTTP status, `None` when no answer came (refused, timed out).
        status: Option<u16>,
        latency_ms: f64,
    },
    /// GPU memory per device, and held by processes of the service trees (where NVML loads).
    Gpu {
        t_ms: f64,
        devices: Vec<crate::gpu::nvml::DeviceMem>,
        procs: Vec<crate::gpu::nvml::ProcMem>,
    },
    /// The service's process tree.
    Procs {
        t_ms: f64,
        service: String,
        procs: Vec<ProcSample>,
    },
    /// Chosen `/metrics` series of a service (a soak's `metrics`), each summed over its labels.
    Metrics {
        t_ms: f64,
        service: String,
        values: BTreeMap<String, f64>,
    },
}

impl Sample {
    /// When it was taken.
    pub fn t_ms(&self) -> f64 {
        match self {
            Sample::Health { t_ms, .. }
            | Sample::Gpu { t_ms, .. }
            | Sample::Procs { t_ms, .. }
            | Sample::Metrics { t_ms, .. } => *t_ms,
        }
    }
}

/// One process of a service tree at sample time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcSample {
    pub pid: i32,
    pub ppid: i32,
    /// Title as `/proc/PID/cmdline` shows it (what `ps` shows).
    pub cmdline: String,
    pub rss_bytes: u64,
    /// Proportional set size (`Pss` of `/proc/PID/smaps_rollup`): shared pages split among
    /// their sharers, so the sum over a tree counts each page once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_bytes: Option<u64>,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fds: Option<u32>,
    /// Threads (`num_threads` of `/proc/PID/stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
}

/// The run's clock: milliseconds since `t0`.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Clock(Instant::now())
    }

    /// Milliseconds since zero.
    pub fn now_ms(&self) -> f64 {
        self.ms_at(Instant::now())
    }

    /// Milliseconds from zero to `at`.
    pub fn ms_at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.0).as_secs_f64() * 1e3
    }

    /// The instant `ms` after zero.
    pub fn instant(&self, ms: f64) -> Instant {
        self.0 + std::time::Duration::from_secs_f64(ms.max(0.0) / 1e3)
    }
}

/// An append-only JSON-lines file shared across tasks; each line is written whole and flushed.
#[derive(Debug, Clone)]
pub struct Jsonl(Arc<Mutex<File>>);

impl Jsonl {
    /// Create (truncate) `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Jsonl(Arc::new(Mutex::new(File::create(path)?))))
    }

    /// Open `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Jsonl(Arc::new(Mutex::new(f))))
    }

    /// Append one value as one line.
    pub fn write<T: Serialize>(&self, value: &T) -> io::Result<()> {
        // Sized for a request record, so the line is built without growing.
        let mut line = Vec::with_capacity(512);
        serde_json::to_writer(&mut line, value).map_err(io::Error::other)?;
        line.push(b'\n');
        // One write call per line: a line is never interleaved with another, and a
        // crash leaves at worst a torn last line, which readers skip.
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)
    }
}

/// One line of a `service-NAME.log`, as the supervisor writes it: `T_MS STREAM TEXT`, where
/// `STREAM` is `out`, `err`, or `---` for the supervisor's own notes.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When the line arrived, ms after `t0`.
    pub t_ms: f64,
    /// `out`, `err` or `---`.
    pub stream: String,
    /// The line as the service wrote it.
    pub text: String,
}

impl LogLine {
    /// The line as it is written to the log.
    pub fn format(t_ms: f64, stream: &str, text: &str) -> String {
        format!("{t_ms:>10.1} {stream} {text}")
    }

    /// Parse one written line; `None` for a line not in the format.
    pub fn parse(line: &str) -> Option<LogLine> {
        let mut parts = line.trim_start().splitn(3, ' ');
        let t_ms = parts.next()?.parse().ok()?;
        let stream = parts.next()?.to_string();
        let text = parts.next().unwrap_or("").to_string();
        Some(LogLine { t_ms, stream, text })
    }

    /// A note of the supervisor's (spawn, exit), not the service's own output.
    pub fn is_note(&self) -> bool {
        self.stream == "---"
    }
}

/// Every line of a service log in the [`LogLine`] format (a missing file has none).
pub fn read_log(path: &Path) -> io::Result<Vec<LogLine>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(LogLine::parse)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Follows a JSON-lines file as another task appends to it: each [`Follow::read`] returns
/// the lines completed since the last one (a line still being written waits for its newline).
#[derive(Debug)]
pub struct Follow {
    path: std::path::PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follow {
    /// Follow `path` from its start (it need not exist yet).
    pub fn new(path: &Path) -> Follow {
        Follow {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The values of the lines completed since the last call; foreign lines are skipped.
    pub fn read<T: DeserializeOwned>(&mut self) -> io::Result<Vec<T>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        // What was read counts even if the read then failed, so nothing is read twice.
        let before = self.partial.len();
        let read = file.read_to_end(&mut self.partial);
        self.offset += (self.partial.len() - before) as u64;
        read?;
        let complete = match self.partial.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(Vec::new()),
        };
        let lines: Vec<u8> = self.partial.drain(..complete).collect();
        Ok(lines
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }
}

/// Read every complete line of a JSON-lines file; a torn or foreign line is skipped
/// (a crash can leave the last line half-written) and counted.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> io::Result<(Vec<T>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut skipped = 0;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(v) => out.push(v),
            Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// The plan of a run, written before load starts (`timeline.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// Suite name.
    pub suite: String,
    /// The seed in force.
    pub seed: u64,
    /// Wall-clock time of `t0`, RFC 3339 UTC.
    pub started_at: String,
    /// When load starts (services ready), ms after `t0`.
    pub load_start_ms: f64,
    /// When the last arrival is due, ms after `t0`.
    pub load_end_ms: f64,
    /// Requests scheduled.
    pub arrivals: u64,
    /// The faults, in suite order.
    pub faults: Vec<PlannedFault>,
}

/// One fault as planned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedFault {
    /// Position in the suite's `[[fault]]` list.
    pub index: usize,
    /// Fault kind.
    pub kind: String,
    /// The `use` name, if any.
    pub name: Option<String>,
    /// The service it acts on.
    pub service: String,
    /// What it does, in words.
    pub describe: String,
    /// Planned injection, ms after `t0`.
    pub at_ms: f64,
    /// Planned clearing, ms after `t0` (= `at_ms` for instant faults).
    pub until_ms: f64,
    /// Injected before the services started (`at = "startup"`).
    #[serde(default)]
    pub startup: bool,
}

impl PlannedFault {
    /// How events refer to this fault.
    pub fn fault_ref(&self) -> FaultRef {
        FaultRef {
            index: self.index,
            fault: Some(self.kind.clone()),
            describe: Some(self.describe.clone()),
        }
    }
}

/// Which round of accuracy probes a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeRound {
    /// Before load.
    Baseline,
    /// After load, every fault cleared.
    AfterRecovery,
    /// After fault N, once the service answered again.
    AfterFault(usize),
}

impl ProbeRound {
    /// When the round was sent, in words.
    pub fn when(self) -> String {
        match self {
            ProbeRound::Baseline => "before load".into(),
            ProbeRound::AfterRecovery => "after load and recovery".into(),
            ProbeRound::AfterFault(i) => format!("after fault {i} recovered"),
        }
    }
}

/// One accuracy probe as sent and answered (`accuracy.jsonl`). Facts only: whether the answer
/// is right is judged from the suite's probes (`verdict`), so re-judging agrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRecord {
    /// The round.
    pub round: ProbeRound,
    /// The probe's position in the suite's probe list.
    pub index: usize,
    /// When it was sent, ms after `t0`.
    pub sent_ms: f64,
    /// When it ended.
    pub done_ms: f64,
    /// HTTP status, if one arrived.
    #[serde(default)]
    pub status: Option<u16>,
    /// The answer's text (`choices[0].message.content`), if one arrived.
    #[serde(default)]
    pub answer: Option<String>,
    /// Why there is no answer (transport error, timeout, error body).
    #[serde(default)]
    pub error: Option<String>,
}

/// One malformed-input case as sent and judged (`input.jsonl`, written by `input.malformed`).
/// Facts only; the `input.*` verdicts derive everything else from them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InputRecord {
    /// Case name, unique in its corpus.
    pub case: String,
    /// `json`, `schema`, `values`, `multimodal` or `protocol`.
    pub category: String,
    /// Where the case comes from (an issue reference), if anywhere.
    pub origin: Option<String>,
    /// `4xx` or `not_5xx`.
    pub expect: String,
    /// How it was sent (`normal`, `slow_headers`, `disconnect_mid_stream`, ...).
    pub mode: String,
    /// When it was sent, ms after `t0`.
    pub t_ms: f64,
    /// The HTTP status it got, if any (the worst one for modes sending several requests).
    pub status: Option<u16>,
    /// `answered`, `closed` (no answer, connection closed), `timeout`, `refused`,
    /// `disconnected` (the client left on purpose), `waiting` (a slow case still open), `error`.
    pub result: String,
    /// From send to answer (or to the end of the case), ms.
    pub elapsed_ms: f64,
    /// The bound an answer must come within, ms; `None` where the case expects no answer.
    pub answer_bound_ms: Option<f64>,
    /// For a 4xx/5xx answer: whether the body has `error.message`, `error.type` and `error.code`.
    pub error_shaped: Option<bool>,
    /// The start of the body or the error, for humans.
    pub evidence: String,
    /// `/health` status right after the case (`None`: no answer at all).
    pub health_after: Option<u16>,
    /// Status of a valid request sent right after the case (during it, for slow cases).
    pub valid_after: Option<u16>,
    /// Why that valid request failed, if it did.
    pub valid_error: Option<String>,
    /// `vllm:num_requests_running` around a disconnect case, if the service exports it.
    pub gauge: Option<GaugeCheck>,
}

/// The running gauge before a disconnect case and whether it came back after.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GaugeCheck {
    /// Lowest value seen just before the case.
    pub baseline: f64,
    /// Last value seen after it.
    pub last: f64,
    /// How long after the case it was back at or below the baseline; `None`: never within the bound.
    pub settled_ms: Option<f64>,
    /// How long it was given, ms.
    pub bound_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_reads_each_completed_line_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        let mut f = Follow::new(&path);
        assert!(f.read::<u32>().expect("missing file").is_empty());
        std::fs::write(&path, "1\n2\n3").expect("write");
        assert_eq!(f.read::<u32>().expect("read"), [1, 2]);
        // The torn line waits for its newline, then reads whole.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(b"4\nnot json\n5\n").expect("append");
        assert_eq!(f.read::<u32>().expect("read"), [34, 5]);
        assert!(f.read::<u32>().expect("read").is_empty());
    }
}
