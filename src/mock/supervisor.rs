//! The server's side of the engine: starting it, routing its events to requests, the
//! heartbeat, and what happens when it dies or freezes.

use super::api::ApiError;
use super::args::{EngineMode, OnEngineDeath};
use super::engine::{self, FromEngine, Timing, ToEngine};
use super::generate::{Finish, GenSpec};
use std::collections::HashMap;
use std::io;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{oneshot, watch};

/// How often the server pings the engine.
const PING_EVERY: Duration = Duration::from_millis(200);
/// Silence after which the engine counts as unresponsive (health 503).
const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(1);
/// Pause before exiting or respawning after the engine died.
const DEATH_GRACE: Duration = Duration::from_millis(200);
/// How long startup waits for the first engine to say it is ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The supervisor's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inline tasks or a child process.
    pub mode: EngineMode,
    /// What to do when the engine dies.
    pub on_death: OnEngineDeath,
    /// Generation timing.
    pub timing: Timing,
    /// Fail a request after this long with neither its own progress nor a word from the engine.
    pub engine_timeout: Duration,
    /// Bug `hang-on-engine-death`.
    pub hang_on_death: bool,
    /// Bug `health-lies`.
    pub health_lies: bool,
    /// Bug `orphan-engine`.
    pub orphan: bool,
}

/// Where the engine is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineState {
    /// Spawned, not yet ready.
    Starting,
    /// Taking requests.
    Ready,
    /// Died and not (yet) replaced.
    Dead,
    /// The server is shutting down.
    Stopped,
}

/// Why a sequence failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The engine died (500, vLLM's EngineDeadError).
    Dead,
    /// The engine stopped answering (503).
    Timeout(Duration),
    /// The server is shutting down (503).
    ShuttingDown,
}

impl Failure {
    /// The error a client sees.
    pub fn to_api(self) -> ApiError {
        match self {
            Failure::Dead => ApiError::engine_dead(),
            Failure::Timeout(t) => ApiError::unavailable(format!(
                "EngineTimeoutError: the engine made no progress for {} ms",
                t.as_millis()
            )),
            Failure::ShuttingDown => ApiError::unavailable("The server is shutting down"),
        }
    }
}

/// What a sequence's receiver gets.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqEvent {
    /// One token.
    Token(String),
    /// Finished normally (final).
    Done(Finish),
    /// Failed (final).
    Failed(Failure),
}

/// What the front door does with a new request.
#[derive(Debug)]
pub enum Door {
    /// Let it in.
    Open,
    /// Answer it with this error.
    Refuse(ApiError),
    /// Never answer it (bug `hang-on-engine-death`).
    Hang,
}

/// One running sequence, as the router sees it.
struct Inflight {
    tx: UnboundedSender<SeqEvent>,
    last_progress: Instant,
}

/// The pipe to one engine incarnation.
struct Link {
    tx: UnboundedSender<ToEngine>,
    pid: u32,
    /// Tells the link's reader to stop (and kill the process) at shutdown.
    stop: Option<oneshot::Sender<()>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

struct Inner {
    /// Incarnation number; events from an older one are ignored.
    generation: u64,
    state: EngineState,
    link: Option<Link>,
    last_heard: Instant,
    /// Whether the current silence has been logged.
    silence_logged: bool,
    inflight: HashMap<u64, Inflight>,
    /// Bug `hang-on-engine-death`: senders kept alive so their requests wait forever.
    graveyard: Vec<UnboundedSender<SeqEvent>>,
}

/// Owns the engine and the table of running sequences.
pub struct Supervisor {
    cfg: Config,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    state_tx: watch::Sender<EngineState>,
    exit_tx: watch::Sender<Option<i32>>,
    /// Tokens generated for live requests.
    pub tokens_total: AtomicU64,
    /// Engine respawns.
    pub restarts: AtomicU64,
}

impl Supervisor {
    /// Start the first engine and wait until it is ready.
    pub async fn start(cfg: Config) -> io::Result<Arc<Self>> {
        let sup = Arc::new(Supervisor {
            cfg,
            inner: Mutex::new(Inner {
                generation: 0,
                state: EngineState::Starting,
                link: None,
                last_heard: Instant::now(),
                silence_logged: false,
                inflight: HashMap::new(),
                graveyard: Vec::new(),
            }),
            next_id: AtomicU64::new(1),
            state_tx: watch::channel(EngineState::Starting).0,
            exit_tx: watch::channel(None).0,
            tokens_total: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        });
        let link = sup.spawn_link(0)?;
        sup.lock().link = Some(link);
        tokio::spawn(heartbeat(Arc::clone(&sup)));

        let mut state = sup.state_tx.subscribe();
        let ready = tokio::time::timeout(
            STARTUP_TIMEOUT,
            state.wait_for(|s| *s != EngineState::Starting),
        )
        .await;
        match ready.as_ref().map(|r| r.as_deref().copied()) {
            Ok(Ok(EngineState::Ready)) => Ok(sup),
            Ok(_) => Err(io::Error::other("the engine died during startup")),
            Err(_) => Err(io::Error::other(format!(
                "the engine was not ready within {STARTUP_TIMEOUT:?}"
            ))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; the table itself stays consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, g: &mut Inner, s: EngineState) {
        g.state = s;
        self.state_tx.send_replace(s);
    }

    /// Resolves with an exit code when the server should exit on its own.
    pub async fn exit_requested(&self) -> i32 {
        let mut rx = self.exit_tx.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(code) => code.unwrap_or(1),
            // The sender lives in `self`, so this cannot close while we wait.
            Err(_) => std::future::pending().await,
        }
    }

    /// Resolves once the server is shutting down.
    pub async fn stopped(&self) {
        let mut rx = self.state_tx.subscribe();
        let _ = rx.wait_for(|s| *s == EngineState::Stopped).await;
    }

    /// Whether `/health` should say 200.
    pub fn healthy(&self) -> bool {
        self.cfg.health_lies || self.engine_up()
    }

    /// Whether the engine is ready and has answered within the last second.
    pub fn engine_up(&self) -> bool {
        let g = self.lock();
        g.state == EngineState::Ready && g.last_heard.elapsed() < UNRESPONSIVE_AFTER
    }

    /// Sequences in the engine now.
    pub fn inflight(&self) -> usize {
        self.lock().inflight.len()
    }

    /// Decide about a new request at the front door.
    pub fn door(&self) -> Door {
        match self.lock().state {
            EngineState::Ready => Door::Open,
            EngineState::Starting => Door::Refuse(ApiError::unavailable("The engine is starting")),
            EngineState::Dead if self.cfg.hang_on_death => Door::Hang,
            EngineState::Dead => Door::Refuse(ApiError::unavailable(
                "EngineDeadError: the engine is not running",
            )),
            EngineState::Stopped => Door::Refuse(Failure::ShuttingDown.to_api()),
        }
    }

    /// Start one sequence; its events arrive on the returned handle.
    pub fn submit(self: &Arc<Self>, spec: GenSpec) -> Result<SeqHandle, Failure> {
        let (tx, rx) = unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        match g.state {
            EngineState::Ready => {}
            EngineState::Dead | EngineState::Starting if self.cfg.hang_on_death => {
                g.graveyard.push(tx);
                return Ok(SeqHandle {
                    id,
                    rx,
                    sup: Arc::clone(self),
                    finished: false,
                });
            }
            EngineState::Dead | EngineState::Starting => return Err(Failure::Dead),
            EngineState::Stopped => return Err(Failure::ShuttingDown),
        }
        g.inflight.insert(
            id,
            Inflight {
                tx,
                last_progress: Instant::now(),
            },
        );
        if let Some(link) = &g.link {
            // A failed send means the engine is going away; its death fails this sequence.
            let _ = link.tx.send(ToEngine::Generate { id, spec });
        }
        Ok(SeqHandle {
            id,
            rx,
            sup: Arc::clone(self),
            finished: false,
        })
    }

    fn cancel(&self, id: u64) {
        let mut g = self.lock();
        if g.inflight.remove(&id).is_some()
            && let Some(link) = &g.link
        {
            let _ = link.tx.send(ToEngine::Cancel { id });
        }
    }

    /// Stop taking work: new submissions fail, running sequences fail with `ShuttingDown`.
    pub fn begin_shutdown(&self) {
        let mut g = self.lock();
        self.set_state(&mut g, EngineState::Stopped);
        for (_, f) in g.inflight.drain() {
            let _ = f.tx.send(SeqEvent::Failed(Failure::ShuttingDown));
        }
        for tx in g.graveyard.drain(..) {
            let _ = tx.send(SeqEvent::Failed(Failure::ShuttingDown));
        }
    }

    /// Kill the engine now, as a crash inside it would (bug `crash-on-empty-prompt`): a
    /// process engine gets SIGKILL and its death is noticed as any other; an inline one is
    /// declared dead on the spot.
    pub fn crash_engine(self: &Arc<Self>, why: &str) {
        let (generation, pid) = {
            let g = self.lock();
            (g.generation, g.link.as_ref().map(|l| l.pid))
        };
        eprintln!("ERROR shakedown.mock: the engine {why}");
        match (self.cfg.mode, pid) {
            (EngineMode::Process, Some(pid)) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            _ => self.on_death(generation, pid.unwrap_or(0), why),
        }
    }

    /// Stop the engine: close its input and kill it (except the orphan, which is left to
    /// outlive us, that being its bug), and wait for it.
    pub async fn stop_engine(&self) {
        self.begin_shutdown();
        let link = self.lock().link.take();
        if let Some(mut link) = link {
            if let Some(stop) = link.stop.take() {
                let _ = stop.send(());
            }
            drop(link.tx);
            if let Some(reader) = link.reader.take() {
                let _ = tokio::time::timeout(Duration::from_millis(1500), reader).await;
            }
        }
    }

    /// Start engine incarnation `generation`.
    fn spawn_link(self: &Arc<Self>, generation: u64) -> io::Result<Link> {
        let (to_tx, to_rx) = unbounded_channel::<ToEngine>();
        match self.cfg.mode {
            EngineMode::Inline => {
                let (from_tx, mut from_rx) = unbounded_channel::<FromEngine>();
                let _ = from_tx.send(FromEngine::Ready {
                    pid: std::process::id(),
                });
                tokio::spawn(engine::run(self.cfg.timing, to_rx, from_tx));
                let sup = Arc::clone(self);
                let reader = tokio::spawn(async move {
                    while let Some(ev) = from_rx.recv().await {
                        sup.on_event(generation, ev);
                    }
                });
                Ok(Link {
                    tx: to_tx,
                    pid: std::process::id(),
                    stop: None,
                    reader: Some(reader),
                })
            }
            EngineMode::Process => self.spawn_process(generation, to_tx, to_rx),
        }
    }

    fn spawn_process(
        self: &Arc<Self>,
        generation: u64,
        to_tx: UnboundedSender<ToEngine>,
        to_rx: UnboundedReceiver<ToEngine>,
    ) -> io::Result<Link> {
        let exe = std::env::current_exe()?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg0("shakedown::engine")
            .arg("mock-engine")
            .arg("--ttft-ms")
            .arg(self.cfg.timing.ttft.as_millis().to_string())
            .arg("--itl-ms")
            .arg(self.cfg.timing.itl.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(!self.cfg.orphan);
        if self.cfg.orphan {
            cmd.arg("--orphan");
        } else {
            // Die with the server, however it dies.
            crate::child::dies_with_parent(&mut cmd);
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the engine's pipes were not set up"));
        };
        tokio::spawn(write_engine(stdin, to_rx));
        let (stop_tx, stop_rx) = oneshot::channel();
        let reader =
            tokio::spawn(Arc::clone(self).read_engine(generation, pid, child, stdout, stop_rx));
        Ok(Link {
            tx: to_tx,
            pid,
            stop: Some(stop_tx),
            reader: Some(reader),
        })
    }

    /// Route the engine's output until it ends, then report its death (unless told to stop).
    async fn read_engine(
        self: Arc<Self>,
        generation: u64,
        pid: u32,
        mut child: tokio::process::Child,
        stdout: tokio::process::ChildStdout,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut lines = BufReader::new(stdout).lines();
        let stopping = loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) if line.trim().is_empty() => {}
                    Ok(Some(line)) => match serde_json::from_str::<FromEngine>(&line) {
                        Ok(ev) => self.on_event(generation, ev),
                        Err(e) => eprintln!("WARN shakedown.mock: ignoring a bad line from the engine: {e}"),
                    },
                    Ok(None) | Err(_) => break false,
                },
                _ = &mut stop => break true,
            }
        };
        if stopping {
            if !self.cfg.orphan {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            }
            return;
        }
        // Output closed: the engine died, or is about to.
        let how = match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
            Ok(Ok(status)) => crate::child::describe(status),
            Ok(Err(e)) => format!("status unknown ({e})"),
            Err(_) => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
                "closed its output (killed)".to_string()
            }
        };
        self.on_death(generation, pid, &how);
    }

    /// One event from engine incarnation `generation`.
    fn on_event(&self, generation: u64, ev: FromEngine) {
        let mut g = self.lock();
        if g.generation != generation {
            return;
        }
        g.last_heard = Instant::now();
        if g.silence_logged {
            g.silence_logged = false;
            eprintln!("INFO shakedown.mock: the engine answers again");
        }
        match ev {
            FromEngine::Ready { .. } | FromEngine::Pong { .. } => {
                if g.state == EngineState::Starting {
                    self.set_state(&mut g, EngineState::Ready);
                    if generation > 0 {
                        let pid = g.link.as_ref().map_or(0, |l| l.pid);
                        eprintln!("INFO shakedown.mock: engine process (pid {pid}) ready");
                    }
                }
            }
            FromEngine::Token { id, text } => {
                if let Some(f) = g.inflight.get_mut(&id) {
                    f.last_progress = Instant::now();
                    self.tokens_total.fetch_add(1, Ordering::Relaxed);
                    let _ = f.tx.send(SeqEvent::Token(text));
                }
            }
            FromEngine::Done { id, finish } => {
                if let Some(f) = g.inflight.remove(&id) {
                    let _ = f.tx.send(SeqEvent::Done(finish));
                }
            }
        }
    }

    /// Engine incarnation `generation` died: fail its requests, then exit, respawn or stay.
    fn on_death(self: &Arc<Self>, generation: u64, pid: u32, how: &str) {
        let mut g = self.lock();
        if g.generation != generation || g.state == EngineState::Stopped {
            return;
        }
        eprintln!("ERROR shakedown.mock: EngineDeadError: engine process (pid {pid}) died: {how}");
        self.set_state(&mut g, EngineState::Dead);
        g.link = None;
        let inflight: Vec<Inflight> = g.inflight.drain().map(|(_, f)| f).collect();
        if self.cfg.hang_on_death {
            // The bug: keep the senders so nobody ever hears back; no restart, no exit.
            g.graveyard.extend(inflight.into_iter().map(|f| f.tx));
            return;
        }
        for f in inflight {
            let _ = f.tx.send(SeqEvent::Failed(Failure::Dead));
        }
        drop(g);
        match self.cfg.on_death {
            OnEngineDeath::Exit | OnEngineDeath::ExitZero => {
                let code = i32::from(self.cfg.on_death == OnEngineDeath::Exit);
                eprintln!("ERROR shakedown.mock: exiting with code {code} because the engine died");
                let sup = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(DEATH_GRACE).await;
                    sup.exit_tx.send_replace(Some(code));
                });
            }
            OnEngineDeath::Respawn => {
                tokio::spawn(Arc::clone(self).respawn());
            }
            OnEngineDeath::Stay => {}
        }
    }

    /// Start a new engine after a backoff, retrying with longer backoffs if spawning fails.
    async fn respawn(self: Arc<Self>) {
        let mut backoff = DEATH_GRACE;
        loop {
            tokio::time::sleep(backoff).await;
            let generation = {
                let mut g = self.lock();
                if g.state != EngineState::Dead {
                    return;
                }
                g.generation += 1;
                self.set_state(&mut g, EngineState::Starting);
                g.last_heard = Instant::now();
                g.generation
            };
            self.restarts.fetch_add(1, Ordering::Relaxed);
            eprintln!("INFO shakedown.mock: respawning the engine");
            match self.spawn_link(generation) {
                Ok(link) => {
                    let mut g = self.lock();
                    if g.generation == generation && g.state == EngineState::Starting {
                        g.link = Some(link);
                    }
                    // Else shutdown began meanwhile; dropping the link kills the new engine.
                    return;
                }
                Err(e) => {
                    eprintln!("ERROR shakedown.mock: cannot start the engine: {e}");
                    let mut g = self.lock();
                    if g.state == EngineState::Starting {
                        self.set_state(&mut g, EngineState::Dead);
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Write protocol lines to the engine, batching what has queued up.
async fn write_engine(mut stdin: tokio::process::ChildStdin, mut rx: UnboundedReceiver<ToEngine>) {
    let mut buf = Vec::new();
    while let Some(msg) = rx.recv().await {
        buf.clear();
        let mut next = Some(msg);
        while let Some(m) = next {
            if serde_json::to_writer(&mut buf, &m).is_err() {
                return;
            }
            buf.push(b'\n');
            next = rx.try_recv().ok();
        }
        if stdin.write_all(&buf).await.is_err() || stdin.flush().await.is_err() {
            // The engine is gone; its reader notices and reports the death.
            return;
        }
    }
    // Channel closed (shutdown): dropping stdin gives the engine EOF.
}

/// Ping every `PING_EVERY`; fail sequences stuck behind an unresponsive engine.
async fn heartbeat(sup: Arc<Supervisor>) {
    let mut tick = tokio::time::interval(PING_EVERY / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    loop {
        tick.tick().await;
        seq += 1;
        let mut g = sup.lock();
        if g.state == EngineState::Stopped {
            return;
        }
        if seq.is_multiple_of(2)
            && let Some(link) = &g.link
        {
            let _ = link.tx.send(ToEngine::Ping { seq });
        }
        if g.state != EngineState::Ready {
            continue;
        }
        let silence = g.last_heard.elapsed();
        if silence >= UNRESPONSIVE_AFTER && !g.silence_logged {
            g.silence_logged = true;
            eprintln!(
                "WARN shakedown.mock: the engine has not answered for {} ms",
                silence.as_millis()
            );
        }
        let timeout = sup.cfg.engine_timeout;
        if silence < timeout {
            continue;
        }
        let stale: Vec<u64> = g
            .inflight
            .iter()
            .filter(|(_, f)| f.last_progress.elapsed() >= timeout)
            .map(|(id, _)| *id)
            .collect();
        if !stale.is_empty() {
            eprintln!(
                "ERROR shakedown.mock: EngineTimeoutError: failing {} sequence(s) after {} ms without progress",
                stale.len(),
                timeout.as_millis()
            );
        }
        for id in stale {
            if let Some(f) = g.inflight.remove(&id) {
                let _ = f.tx.send(SeqEvent::Failed(Failure::Timeout(timeout)));
            }
            if let Some(link) = &g.link {
                let _ = link.tx.send(ToEngine::Cancel { id });
            }
        }
    }
}

/// The receiving end of one sequence; dropping it early cancels the sequence.
pub struct SeqHandle {
    id: u64,
    rx: mpsc::UnboundedReceiver<SeqEvent>,
    sup: Arc<Supervisor>,
    finished: bool,
}

impl SeqHandle {
    /// The next event; `None` after the final one.
    pub async fn next(&mut self) -> Option<SeqEvent> {
        if self.finished {
            return None;
        }
        // A closed channel without a final event cannot happen by design; call it a death.
        let ev = self
            .rx
            .recv()
            .await
            .unwrap_or(SeqEvent::Failed(Failure::Dead));
        if matches!(ev, SeqEvent::Done(_) | SeqEvent::Failed(_)) {
            self.finished = true;
        }
        Some(ev)
    }
}

impl Drop for SeqHandle {
    fn drop(&mut self) {
        if !self.finished {
            self.sup.cancel(self.id);
        }
    }
}
