//! The supervisor: every service a suite declares, spawned in its own process group,
//! probed until ready, logged, restarted by policy, observed, and torn down with proof
//! that nothing of its process tree survived.
//!
//! Invariant: every process the framework starts belongs to a group the supervisor owns
//! and the reaper knows about; teardown happens here and nowhere else. Shakedown is the
//! child subreaper of its services, so a descendant that escapes a service's tree comes
//! back re-parented to it and is adopted by that service (see [`subreaper`]).

pub mod proctree;
pub mod reaper;
pub mod scrape;
pub mod subreaper;

pub use crate::record::Survivor;
use crate::record::{Escape, Journal, Jsonl, ProcSample, Sample, What};
use crate::suite::{Probe, ServiceSpec, StopMode};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use proctree::{Proc, ProcId};
use reaper::Reaper;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How many log lines to keep in memory for an error message.
const TAIL_LINES: usize = 20;
/// How often the process tree is sampled.
const PROC_EVERY: Duration = Duration::from_millis(250);
/// How often GPU memory is sampled.
const GPU_EVERY: Duration = Duration::from_secs(1);
/// How often the health path is polled.
const HEALTH_EVERY: Duration = Duration::from_millis(100);

/// Why the supervisor could not get services up.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("failed to find a free port: {0}")]
    Port(#[source] std::io::Error),
    #[error("failed to create log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to spawn service `{service}` ({program}): {source}")]
    Spawn {
        service: String,
        program: String,
        source: std::io::Error,
    },
    #[error("service `{service}` exited before it was ready ({status}; command: `{command}`){}", said(.tail))]
    ExitedBeforeReady {
        service: String,
        command: String,
        status: String,
        tail: String,
    },
    #[error("service `{service}` was not ready within {} (command: `{command}`){}", humantime::format_duration(*.within), said(.tail))]
    NotReady {
        service: String,
        command: String,
        within: Duration,
        tail: String,
    },
}

/// What a service printed before failing to start, for an error message: its last lines,
/// indented under the message, or plainly that it printed nothing.
fn said(tail: &str) -> String {
    if tail.trim().is_empty() {
        return "; it printed nothing".into();
    }
    let lines: String = tail.lines().map(|l| format!("\n    {l}")).collect();
    format!("; its last log lines:{lines}")
}

/// What the supervisor knows about one service's current process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Not spawned yet, or between a death and a restart.
    Down,
    /// Generation `gen` runs as `pid` (also its process group).
    Up { pid: i32, generation: u32 },
    /// Generation `gen` exited; no restart is coming.
    Dead { generation: u32 },
}

/// Pid (= process group) of every main process the supervisor spawned, with its service's
/// name. Held across each spawn, so an orphan scan never takes a main process that is
/// being born for one re-parented to shakedown.
type Mains = Arc<Mutex<HashMap<i32, String>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct Shared {
    /// Every process ever seen in this service's tree, with its title.
    seen: BTreeMap<ProcId, String>,
    /// Processes seen outside every process group of this service (they left it, or came
    /// back re-parented from a session of their own), with their group and title.
    escaped: BTreeMap<ProcId, (i32, String)>,
    /// Processes re-parented to shakedown and attributed to this service, with their group:
    /// roots of trees outside the main process's.
    adopted: BTreeMap<ProcId, i32>,
    /// The last lines of output, for error messages.
    tail: VecDeque<String>,
    /// The last exit, in words.
    last_exit: Option<String>,
    /// The last exit's status (`None` while none, or when waiting failed).
    last_status: Option<ExitStatus>,
    /// The process group of the last main process spawned (its pid).
    last_group: Option<i32>,
    restarts: u32,
    stopping: bool,
}

/// One service under supervision.
#[derive(Debug)]
pub struct Service {
    /// What the suite declared.
    pub spec: ServiceSpec,
    /// The command with placeholders filled.
    pub argv: Vec<String>,
    /// The extra environment with placeholders filled.
    pub env: BTreeMap<String, String>,
    /// The port `{port}` was filled with.
    pub port: u16,
    life: watch::Sender<Life>,
    /// The last generation whose readiness probe passed.
    ready: watch::Sender<Option<u32>>,
    shared: Mutex<Shared>,
    log: Mutex<File>,
    journal: Journal,
    reaper: Option<Arc<Reaper>>,
    mains: Mains,
}

impl Service {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Pid (= process group) of the current main process, if one runs.
    pub fn main_pid(&self) -> Option<i32> {
        match *self.life.borrow() {
            Life::Up { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// The service's process tree right now: the main process's, and those of processes
    /// re-parented to shakedown from it (empty when nothing runs).
    pub fn tree(&self) -> Vec<Proc> {
        let mut roots: Vec<(i32, i32)> = self.main_pid().map(|p| (p, p)).into_iter().collect();
        roots.extend(
            self.lock()
                .adopted
                .iter()
                .filter(|(id, _)| proctree::alive(**id))
                .map(|(id, pgid)| (id.pid, *pgid)),
        );
        if roots.is_empty() {
            return Vec::new();
        }
        let procs = proctree::tree(&roots);
        self.remember(&procs);
        procs
    }

    /// Pids of every process ever seen in this service's tree.
    pub fn seen_pids(&self) -> Vec<i32> {
        self.lock().seen.keys().map(|id| id.pid).collect()
    }

    /// How many times it was restarted.
    pub fn restarts(&self) -> u32 {
        self.lock().restarts
    }

    /// The last log lines, one per line.
    pub fn tail(&self) -> String {
        let s = self.lock();
        s.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The status of its last exit, once it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.lock().last_status
    }

    /// Whether its readiness probe passes now.
    pub async fn is_ready(&self, http: &reqwest::Client) -> bool {
        probe(http, self).await
    }

    /// Wait until it has exited for good (no restart coming); at once if it already has.
    pub async fn exited(&self) {
        let mut life = self.life.subscribe();
        let _ = life.wait_for(|l| matches!(l, Life::Dead { .. })).await;
    }

    /// The last generation that was ready (`None` before the first).
    pub fn ready_generation(&self) -> Option<u32> {
        *self.ready.borrow()
    }

    /// Wait until a generation after `after` is ready (a restart came up); false when no
    /// restart is coming (the service exited for good).
    pub async fn ready_after(&self, after: Option<u32>) -> bool {
        let (mut ready, mut life) = (self.ready.subscribe(), self.life.subscribe());
        loop {
            if ready.borrow_and_update().is_some_and(|g| Some(g) > after) {
                return true;
            }
            if matches!(*life.borrow_and_update(), Life::Dead { .. }) {
                return false;
            }
            let changed = tokio::select! {
                r = ready.changed() => r,
                r = life.changed() => r,
            };
            if changed.is_err() {
                return false;
            }
        }
    }

    /// Record that generation `generation` passed its readiness probe `after` its spawn.
    fn mark_ready(&self, generation: u32, after: Duration) {
        self.journal.log(
            Some(&self.spec.name),
            What::ServiceReady {
                after_ms: after.as_secs_f64() * 1e3,
                generation,
            },
        );
        self.ready.send_replace(Some(generation));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Add processes to the ever-seen set; one found outside every group of this service
    /// (whenever it left) is an escape, handed to the reaper.
    fn remember(&self, procs: &[Proc]) {
        let groups: Vec<i32> = lock(&self.mains)
            .iter()
            .filter(|(_, name)| **name == self.spec.name)
            .map(|(pgid, _)| *pgid)
            .collect();
        let mut s = self.lock();
        for p in procs {
            s.seen.entry(p.id()).or_insert_with(|| p.cmdline.clone());
            if !groups.contains(&p.pgid) && !s.escaped.contains_key(&p.id()) {
                s.escaped.insert(p.id(), (p.pgid, p.cmdline.clone()));
                if let Some(r) = &self.reaper {
                    r.watch_proc(p.id());
                }
                self.journal.log(
                    Some(&self.spec.name),
                    What::ServiceStray {
                        pid: p.pid,
                        pgid: p.pgid,
                        cmdline: p.cmdline.clone(),
                    },
                );
            }
        }
    }

    /// Take `root`, re-parented to shakedown, and its tree as this service's (`by`: how it
    /// was attributed).
    fn adopt(&self, root: &Proc, by: &str) {
        if self.lock().adopted.insert(root.id(), root.pgid).is_some() {
            return;
        }
        tracing::info!(service = %self.spec.name, pid = root.pid, pgid = root.pgid, by, "adopted an orphan");
        self.journal.log(
            Some(&self.spec.name),
            What::ServiceAdopted {
                pid: root.pid,
                pgid: root.pgid,
                cmdline: root.cmdline.clone(),
                attributed_by: by.to_string(),
            },
        );
        self.remember(&proctree::tree(&[(root.pid, root.pgid)]));
    }

    fn log_line(&self, stream: &str, line: &str) {
        let t = self.journal.clock().now_ms();
        let text = crate::record::LogLine::format(t, stream, line);
        {
            let mut f = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(f, "{text}");
        }
        if stream == "---" {
            // The supervisor's own notes are in the file, not in what the service said.
            return;
        }
        let mut s = self.lock();
        if s.tail.len() == TAIL_LINES {
            s.tail.pop_front();
        }
        s.tail.push_back(line.to_string());
    }

    /// Spawn generation `generation` unless teardown has begun; the check and the spawn happen
    /// under one lock so teardown never misses a process born at the same moment.
    fn spawn(&self, generation: u32) -> Option<Result<Child, ServiceError>> {
        let mut shared = self.lock();
        if shared.stopping {
            return None;
        }
        let mut mains = lock(&self.mains);
        let child = self.spawn_unchecked();
        if let Ok(c) = &child {
            let pid = c.id().map(|p| p as i32).unwrap_or(0);
            mains.insert(pid, self.spec.name.clone());
            drop(mains);
            shared.last_group = Some(pid);
            self.life.send_replace(Life::Up { pid, generation });
        }
        drop(shared);
        Some(child)
    }

    fn spawn_unchecked(&self) -> Result<Child, ServiceError> {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .envs(&self.env)
            // Inherited by every descendant: an orphan from another session says whose it is.
            .env(subreaper::SERVICE_ENV, &self.spec.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &self.spec.cwd {
            cmd.current_dir(dir);
        }
        // Dies with us even before the reaper hears about it.
        crate::child::dies_with_parent(&mut cmd);
        cmd.spawn().map_err(|source| ServiceError::Spawn {
            service: self.spec.name.clone(),
            program: self.argv[0].clone(),
            source,
        })
    }
}

/// Every service of a run.
#[derive(Debug)]
pub struct Supervisor {
    services: Vec<Arc<Service>>,
    reaper: Option<Arc<Reaper>>,
    http: reqwest::Client,
    orphans: Orphans,
    /// Stops the orphan watcher (at teardown).
    watching: CancellationToken,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Finds the processes re-parented to shakedown, its subreaper, and gives each to a service.
#[derive(Debug, Clone)]
struct Orphans {
    services: Vec<Arc<Service>>,
    mains: Mains,
    reaper: Option<i32>,
}

impl Orphans {
    /// One look at shakedown's children: an exited one it did not spawn is reaped, a living
    /// one is adopted by its service. Returns how many it found.
    fn scan(&self) -> usize {
        let own_group = nix::unistd::getpgrp().as_raw();
        let (orphans, mains) = {
            let mains = lock(&self.mains);
            // Hogs (and any other helper) stay in shakedown's own group; services are mains.
            let orphans: Vec<Proc> = proctree::children(std::process::id() as i32)
                .into_iter()
                .filter(|p| {
                    p.pgid != own_group && Some(p.pid) != self.reaper && !mains.contains_key(&p.pid)
                })
                .collect();
            (orphans, mains.clone())
        };
        let found = orphans.len();
        for p in orphans {
            if p.state == 'Z' {
                subreaper::reap(p.pid);
            } else if let Some((svc, by)) = self.attribute(&p, &mains) {
                svc.adopt(&p, by);
            }
        }
        found
    }

    /// The service an orphan came from, and how that was decided: the service whose process
    /// group it is in; else the one its environment names; else (environment scrubbed) the
    /// last service in start order that was spawned, the likeliest to be still starting.
    fn attribute(
        &self,
        p: &Proc,
        mains: &HashMap<i32, String>,
    ) -> Option<(&Arc<Service>, &'static str)> {
        let named = |name: &str| self.services.iter().find(|s| s.spec.name == name);
        if let Some(svc) = mains.get(&p.pgid).and_then(|n| named(n)) {
            return Some((svc, "group"));
        }
        if let Some(svc) = subreaper::service_of(p.pid).and_then(|n| named(&n)) {
            return Some((svc, "environment"));
        }
        self.services
            .iter()
            .rev()
            .find(|s| mains.values().any(|n| *n == s.spec.name))
            .map(|s| (s, "guess"))
    }
}

impl Supervisor {
    /// Prepare `specs` (already in start order): pick ports, fill placeholders, open logs;
    /// start the reaper and make this process the child subreaper of its descendants.
    pub fn new(
        specs: &[ServiceSpec],
        run_dir: &Path,
        journal: Journal,
    ) -> Result<Self, ServiceError> {
        let reaper = match Reaper::start() {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::warn!("failed to start the reaper ({e}); services may outlive a crash");
                None
            }
        };
        // Before any service starts: its escaped descendants must come back to us, not init.
        let tracking = match subreaper::become_subreaper() {
            Ok(()) => What::ServiceTracking {
                mode: "subreaper".into(),
                error: None,
            },
            Err(e) => {
                tracing::warn!(
                    "failed to become a child subreaper ({e}); a process that escapes a service's tree goes unseen"
                );
                What::ServiceTracking {
                    mode: "samples".into(),
                    error: Some(format!("failed to become a child subreaper: {e}")),
                }
            }
        };
        journal.log(None, tracking);
        let mains = Mains::default();
        let mut ports = HashMap::new();
        for s in specs {
            let port = match s.port {
                Some(p) => p,
                None => free_port().map_err(ServiceError::Port)?,
            };
            ports.insert(s.name.clone(), port);
        }
        let mut services = Vec::new();
        for spec in specs {
            let mut argv: Vec<String> = spec
                .command
                .iter()
                .map(|a| fill(a, &spec.name, &ports))
                .collect();
            // `shakedown` as a program means this very binary, so suites run from a checkout
            // (`cargo run -- run ...`) without an install.
            if argv[0] == "shakedown" {
                argv[0] = shakedown_exe().display().to_string();
            }
            let env = spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), fill(v, &spec.name, &ports)))
                .collect();
            let path = run_dir.join(crate::record::files::service_log(&spec.name));
            let log = File::create(&path).map_err(|source| ServiceError::Log { path, source })?;
            services.push(Arc::new(Service {
                spec: spec.clone(),
                argv,
                env,
                port: ports[&spec.name],
                life: watch::channel(Life::Down).0,
                ready: watch::channel(None).0,
                shared: Mutex::new(Shared::default()),
                log: Mutex::new(log),
                journal: journal.clone(),
                reaper: reaper.clone(),
                mains: mains.clone(),
            }));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| ServiceError::Port(std::io::Error::other(e)))?;
        let orphans = Orphans {
            services: services.clone(),
            mains,
            reaper: reaper.as_ref().map(|r| r.pid() as i32),
        };
        Ok(Supervisor {
            services,
            reaper,
            http,
            orphans,
            watching: CancellationToken::new(),
            watcher: Mutex::new(None),
        })
    }

    /// The services, in start order.
    pub fn services(&self) -> &[Arc<Service>] {
        &self.services
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.iter().find(|s| s.spec.name == name)
    }

    /// Start every service in order, each ready before the next starts.
    pub async fn start_all(&self) -> Result<(), ServiceError> {
        self.watch_orphans();
        for svc in &self.services {
            self.start(svc).await?;
        }
        Ok(())
    }

    /// Spawn every service in order without waiting for readiness: for commands, which are
    /// expected to exit, not to become ready. Each is supervised (logged, its exit recorded)
    /// and torn down like any service.
    pub fn launch_all(&self) -> Result<(), ServiceError> {
        for svc in &self.services {
            if let Some(child) = svc.spawn(0) {
                tokio::spawn(supervise(svc.clone(), child?, self.http.clone()));
            }
        }
        Ok(())
    }

    async fn start(&self, svc: &Arc<Service>) -> Result<(), ServiceError> {
        let mut life = svc.life.subscribe();
        let Some(child) = svc.spawn(0) else {
            return Ok(());
        };
        let child = child?;
        tokio::spawn(supervise(svc.clone(), child, self.http.clone()));
        let spawned = Instant::now();
        let within = svc.spec.ready.within.0;
        loop {
            let dead = matches!(*life.borrow_and_update(), Life::Dead { .. });
            if dead {
                let status = svc.lock().last_exit.clone().unwrap_or_default();
                return Err(ServiceError::ExitedBeforeReady {
                    service: svc.spec.name.clone(),
                    command: svc.argv.join(" "),
                    status,
                    tail: svc.tail(),
                });
            }
            if probe(&self.http, svc).await {
                tracing::info!(service = %svc.spec.name, after = ?spawned.elapsed(), "ready");
                svc.mark_ready(0, spawned.elapsed());
                return Ok(());
            }
            tracing::debug!(service = %svc.spec.name, after = ?spawned.elapsed(), "not ready yet");
            if spawned.elapsed() >= within {
                svc.journal.log(
                    Some(&svc.spec.name),
                    What::ServiceNotReady {
                        within: within.as_secs_f64(),
                    },
                );
                return Err(ServiceError::NotReady {
                    service: svc.spec.name.clone(),
                    command: svc.argv.join(" "),
                    within,
                    tail: svc.tail(),
                });
            }
            // Wake on an exit at once, else probe again shortly.
            let _ = tokio::time::timeout(Duration::from_millis(50), life.changed()).await;
        }
    }

    /// Look for orphans every `PROC_EVERY` from now until teardown, so one is adopted (and
    /// handed to the reaper) within a scan of escaping, whether or not samples are taken.
    fn watch_orphans(&self) {
        let (orphans, stop) = (self.orphans.clone(), self.watching.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while stop.run_until_cancelled(tick.tick()).await.is_some() {
                let o = orphans.clone();
                // Reading /proc is blocking work; keep it off the threads that time requests.
                let _ = tokio::task::spawn_blocking(move || o.scan()).await;
            }
        });
        *lock(&self.watcher) = Some(task);
    }

    /// Sample process trees and poll health paths into `samples` until `stop` is cancelled.
    pub fn observe(
        &self,
        samples: Jsonl,
        stop: CancellationToken,
        gpus: Option<Arc<crate::gpu::nvml::Gpus>>,
        how: &Observe,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let every = how.every.max(PROC_EVERY);
        if let Some((service, spec)) = &how.metrics
            && let Some(svc) = self.service(service).cloned()
        {
            tasks.push(scrape_metrics(
                svc,
                spec.clone(),
                every,
                samples.clone(),
                stop.clone(),
                self.http.clone(),
            ));
        }
        if let Some(gpus) = gpus {
            let (services, samples, stop) = (self.services.clone(), samples.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let Some(clock) = services.first().map(|s| s.journal.clock()) else {
                    return;
                };
                let mut tick = tokio::time::interval(GPU_EVERY.max(every));
                while stop.run_until_cancelled(tick.tick()).await.is_some() {
                    let (g, svcs) = (gpus.clone(), services.clone());
                    // NVML calls block; keep them off the async workers.
                    let Ok((devices, procs)) = tokio::task::spawn_blocking(move || {
                        let pids: Vec<i32> = svcs.iter().flat_map(|s| s.seen_pids()).collect();
                        let procs = g
                            .processes()
                            .into_iter()
                            .filter(|p| pids.contains(&(p.pid as i32)))
                            .collect();
                        (g.devices(), procs)
                    })
                    .await
                    else {
                        continue;
                    };
                    let _ = samples.write(&Sample::Gpu {
                        t_ms: clock.now_ms(),
                        devices,
                        procs,
                    });
                }
            }));
        }
        for svc in &self.services {
            let (svc2, samples2, stop2) = (svc.clone(), samples.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(PROC_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                // The tree is read every `PROC_EVERY` (every process must be seen); a sample
                // with memory, descriptors and threads is written every `every`.
                let mut next_sample = Instant::now();
                while stop2.run_until_cancelled(tick.tick()).await.is_some() {
                    let now = Instant::now();
                    let write = now >= next_sample;
                    if write {
                        // From now, not from the plan: a late sample does not bring a burst.
                        next_sample = now + every;
                    }
                    // Reading /proc is blocking work; keep it off the threads that time requests.
                    let sampled = svc2.clone();
                    let Ok(procs) =
                        tokio::task::spawn_blocking(move || proc_samples(&sampled, write)).await
                    else {
                        continue;
                    };
                    if procs.is_empty() {
                        continue;
                    }
                    let _ = samples2.write(&Sample::Procs {
                        t_ms: svc2.journal.clock().now_ms(),
                        service: svc2.spec.name.clone(),
                        procs,
                    });
                }
            }));
            let Some(path) = svc.spec.health.clone() else {
                continue;
            };
            let (svc, samples, stop, http) = (
                svc.clone(),
                samples.clone(),
                stop.clone(),
                self.http.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let url = format!("{}{}", svc.base_url(), path);
                let mut tick = tokio::time::interval(HEALTH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let clock = svc.journal.clock();
                while stop.run_until_cancelled(tick.tick()).await.is_some() {
                    let t = clock.now_ms();
                    let status = match stop.run_until_cancelled(http.get(&url).send()).await {
                        None => break,
                        Some(Ok(r)) => Some(r.status().as_u16()),
                        Some(Err(_)) => None,
                    };
                    let _ = samples.write(&Sample::Health {
                        t_ms: t,
                        service: svc.spec.name.clone(),
                        status,
                        latency_ms: clock.now_ms() - t,
                    });
                }
            }));
        }
        tasks
    }

    /// Stop every service, last started first, and report what outlived teardown.
    pub async fn teardown(&self) -> Vec<Survivor> {
        self.watching.cancel();
        let watcher = lock(&self.watcher).take();
        if let Some(w) = watcher {
            let _ = w.await;
        }
        let mut all = Vec::new();
        for svc in self.services.iter().rev() {
            all.extend(self.stop(svc).await);
        }
        // Reap what teardown killed among the re-parented, so no zombie lingers in shakedown.
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.orphans.scan() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        all
    }

    /// Stop one service the way `docker stop` and systemd's `KillMode=mixed` do (or, with
    /// `stop_mode = "group"`, signal the whole group): `stop_signal`, up to `stop_grace` for
    /// the main process (and, for "group", the group) to exit, then SIGKILL to whatever is
    /// left of the group. In "main" mode what outlives the main process gets SIGKILL at once:
    /// its main process is gone, so nothing of it is still being shut down in order.
    async fn stop(&self, svc: &Arc<Service>) -> Vec<Survivor> {
        let name = svc.spec.name.as_str();
        svc.lock().stopping = true;
        // A final look, so processes born or re-parented since the last sample are known too.
        self.orphans.scan();
        let _ = svc.tree();
        // A main process that has exited may have left members of its group behind (a
        // command's test server): they are the service's too, and must be gone after teardown.
        let last_group = svc.lock().last_group;
        if let (None, Some(pgid)) = (svc.main_pid(), last_group) {
            let left: Vec<Proc> = proctree::all()
                .into_iter()
                .filter(|p| p.pgid == pgid && p.state != 'Z')
                .collect();
            svc.remember(&left);
        }
        // What escaped the group: a signal to the group cannot reach it, so it gets its own.
        let escaped: Vec<ProcId> = svc
            .lock()
            .escaped
            .keys()
            .copied()
            .filter(|id| proctree::alive(*id))
            .collect();
        // Pid 0 would signal shakedown's own group.
        let main = svc.main_pid().filter(|p| *p > 0);
        let mut life = svc.life.subscribe();
        let down = |l: &Life| !matches!(l, Life::Up { .. });
        let (grace, sig, mode) = (
            svc.spec.stop_grace.0,
            svc.spec.stop_signal,
            svc.spec.stop_mode,
        );
        let started = Instant::now();
        if main.is_some() || !escaped.is_empty() {
            // Identified by start time too: the pid may be reaped and reused meanwhile.
            let main_id = main.and_then(|pid| proctree::read(pid).map(|p| p.id()));
            svc.journal.log(
                Some(name),
                What::ServiceStop {
                    pid: main,
                    signal: sig.as_str().to_string(),
                    mode: mode.word().to_string(),
                    grace_ms: grace.as_secs_f64() * 1e3,
                },
            );
            tracing::info!(service = name, pid = ?main, signal = sig.as_str(), mode = mode.word(), ?grace, escaped = escaped.len(), "stop signal");
            if let Some(pid) = main {
                let _ = match mode {
                    StopMode::Main => kill(Pid::from_raw(pid), sig),
                    StopMode::Group => killpg(Pid::from_raw(pid), sig),
                };
            }
            signal_all(None, &escaped, sig);
            let exited = poll_until(grace, || main_id.is_none_or(|id| !proctree::alive(id))).await;
            let left = match mode {
                StopMode::Group => grace.saturating_sub(started.elapsed()),
                StopMode::Main => Duration::ZERO,
            };
            let gone = wait_gone(main, &escaped, left).await;
            if !exited || !gone {
                let lingering: Vec<i32> = escaped
                    .iter()
                    .filter(|id| proctree::alive(**id))
                    .map(|id| id.pid)
                    .collect();
                svc.journal.log(
                    Some(name),
                    What::ServiceKill {
                        pid: main,
                        escaped: lingering,
                        after_ms: started.elapsed().as_secs_f64() * 1e3,
                        why: Some(if exited { "main_exited" } else { "grace" }.to_string()),
                        members: main.map(group_members).unwrap_or_default(),
                    },
                );
                tracing::info!(service = name, pid = ?main, main_exited = exited, "SIGKILL to what is left");
                signal_all(main, &escaped, Signal::SIGKILL);
                wait_gone(main, &escaped, Duration::from_secs(1)).await;
            }
            if main.is_some() {
                // So the exit is on record before the teardown is.
                let _ = tokio::time::timeout(Duration::from_secs(2), life.wait_for(down)).await;
            }
            if let (Some(pid), Some(r)) = (main, &self.reaper) {
                r.forget_group(pid);
            }
        }
        // Whatever escaped during teardown is known before the proof, too.
        self.orphans.scan();
        // The proof: nothing ever seen in this tree may still be alive.
        let (seen, all_escaped) = {
            let s = svc.lock();
            (s.seen.clone(), s.escaped.clone())
        };
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut survivors: Vec<(ProcId, String)>;
        loop {
            survivors = seen
                .iter()
                .filter(|(id, _)| proctree::alive(**id))
                .map(|(id, c)| (*id, c.clone()))
                .collect();
            if survivors.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let named: Vec<Survivor> = survivors
            .iter()
            .map(|(id, c)| Survivor {
                pid: id.pid,
                cmdline: c.clone(),
            })
            .collect();
        let escapes: Vec<_> = all_escaped
            .iter()
            .map(|(id, (pgid, cmdline))| Escape {
                pid: id.pid,
                pgid: *pgid,
                cmdline: cmdline.clone(),
                at_teardown: escaped.contains(id),
            })
            .collect();
        svc.journal.log(
            Some(name),
            What::ServiceTeardown {
                took_ms: started.elapsed().as_secs_f64() * 1e3,
                seen: seen.len() as u64,
                survivors: named.clone(),
                escaped: escapes,
            },
        );
        tracing::info!(service = %name, seen = seen.len(), survivors = ?named, "teardown proof");
        // Named in the record; now make sure they do not outlive the run either.
        for (id, _) in &survivors {
            if proctree::alive(*id) {
                let _ = kill(Pid::from_raw(id.pid), Signal::SIGKILL);
            }
        }
        named
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.watching.cancel();
    }
}

/// Watch one service: log its output, record its exit, restart it by policy.
async fn supervise(svc: Arc<Service>, mut child: Child, http: reqwest::Client) {
    let name = svc.spec.name.clone();
    let mut generation = 0u32;
    loop {
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        if let Some(r) = &svc.reaper {
            r.watch_group(pid);
        }
        svc.journal.log(
            Some(&name),
            What::ServiceSpawn {
                pid,
                generation,
                argv: svc.argv.clone(),
            },
        );
        tracing::info!(service = %name, pid, generation, argv = ?svc.argv, "spawned");
        svc.log_line(
            "---",
            &format!("spawned generation {generation} as pid {pid}"),
        );
        let readers = [
            child
                .stdout
                .take()
                .map(|o| tokio::spawn(pump(svc.clone(), o, "out"))),
            child
                .stderr
                .take()
                .map(|e| tokio::spawn(pump(svc.clone(), e, "err"))),
        ];
        let started = Instant::now();
        let status = child.wait().await;
        // Output written just before exit still belongs to this generation's log.
        for r in readers.into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_millis(500), r).await;
        }
        let (code, signal) = match &status {
            Ok(s) => (s.code(), s.signal()),
            Err(_) => (None, None),
        };
        let stopping = svc.lock().stopping;
        svc.journal.log(
            Some(&name),
            What::ServiceExit {
                pid,
                generation,
                code,
                signal,
                uptime_ms: started.elapsed().as_secs_f64() * 1e3,
                during_teardown: stopping,
            },
        );
        let words = match &status {
            Ok(s) => crate::child::describe(*s),
            Err(e) => format!("wait failed: {e}"),
        };
        tracing::info!(service = %name, pid, generation, status = %words, during_teardown = stopping, "exited");
        svc.log_line("---", &format!("generation {generation} exited: {words}"));
        {
            let mut shared = svc.lock();
            shared.last_exit = Some(words);
            shared.last_status = status.as_ref().ok().copied();
        }
        let failed = !matches!(&status, Ok(s) if s.success());
        // Never during teardown: an exit then is the one teardown asked for.
        let restart = (!stopping)
            .then(|| svc.spec.restart.after_exit(failed, svc.restarts()))
            .flatten();
        tracing::debug!(service = %name, failed, stopping, restarts = svc.restarts(), restart = ?restart, "restart decision");
        let Some(backoff) = restart.map(|d| d.0) else {
            svc.life.send_replace(Life::Dead { generation });
            return;
        };
        svc.life.send_replace(Life::Down);
        tokio::time::sleep(backoff).await;
        generation += 1;
        child = match svc.spawn(generation) {
            None => {
                svc.life.send_replace(Life::Dead { generation });
                return;
            }
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                svc.journal.log(
                    Some(&name),
                    What::ServiceSpawnFailed {
                        error: e.to_string(),
                    },
                );
                svc.life.send_replace(Life::Dead { generation });
                return;
            }
        };
        svc.lock().restarts += 1;
        tracing::info!(service = %name, generation, ?backoff, "restarted");
        svc.journal.log(
            Some(&name),
            What::ServiceRestart {
                generation,
                backoff_ms: backoff.as_secs_f64() * 1e3,
            },
        );
        // Readiness after a restart is observed, not waited for: the run goes on meanwhile.
        let (svc2, http2, gen2) = (svc.clone(), http.clone(), generation);
        tokio::spawn(async move {
            let t = Instant::now();
            while t.elapsed() < svc2.spec.ready.within.0 {
                if !matches!(*svc2.life.borrow(), Life::Up { generation, .. } if generation == gen2)
                {
                    return;
                }
                if probe(&http2, &svc2).await {
                    svc2.mark_ready(gen2, t.elapsed());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
}

/// Copy a child's output into the service log, line by line, stamped as it arrives.
async fn pump(svc: Arc<Service>, out: impl AsyncRead + Unpin, stream: &'static str) {
    let mut reader = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                svc.log_line(stream, line.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// One readiness probe.
async fn probe(http: &reqwest::Client, svc: &Service) -> bool {
    match &svc.spec.ready.probe {
        Probe::Http(path) => http
            .get(format!("{}{}", svc.base_url(), path))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK),
        Probe::Tcp => tokio::net::TcpStream::connect(("127.0.0.1", svc.port))
            .await
            .is_ok(),
    }
}

/// Send `sig` to process group `pgid` (if any) and to each of `procs` that still lives.
fn signal_all(pgid: Option<i32>, procs: &[ProcId], sig: Signal) {
    if let Some(g) = pgid {
        let _ = killpg(Pid::from_raw(g), sig);
    }
    for id in procs {
        // Only the very process recorded, never a later one with its pid.
        if proctree::alive(*id) {
            let _ = kill(Pid::from_raw(id.pid), sig);
        }
    }
}

/// Poll until process group `pgid` (if any) has no live member and none of `procs` lives,
/// up to `within`.
async fn wait_gone(pgid: Option<i32>, procs: &[ProcId], within: Duration) -> bool {
    poll_until(within, || {
        pgid.is_none_or(|g| group_members(g).is_empty())
            && !procs.iter().any(|id| proctree::alive(*id))
    })
    .await
}

/// Poll `done` every 20 ms until it holds or `within` has passed (checked at least once);
/// whether it held.
async fn poll_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pids of the live (not zombie) members of process group `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    proctree::all()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

/// Fill `{port}` (this service's) and `{port.NAME}` (another's) in one argument or `env` value.
fn fill(arg: &str, own: &str, ports: &HashMap<String, u16>) -> String {
    let mut out = arg.replace("{port}", &ports[own].to_string());
    for (name, port) in ports {
        out = out.replace(&format!("{{port.{name}}}"), &port.to_string());
    }
    out
}

/// The `shakedown` binary: `$SHAKEDOWN_BIN`, else this process if it is shakedown, else
/// `shakedown` from `PATH` (for programs that use the library).
pub fn shakedown_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("SHAKEDOWN_BIN") {
        return PathBuf::from(p);
    }
    match std::env::current_exe() {
        Ok(me)
            if me
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("shakedown")) =>
        {
            me
        }
        _ => PathBuf::from("shakedown"),
    }
}

/// A port nothing listens on right now (the kernel's pick for port 0).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// How a run observes its services beyond health polls.
#[derive(Debug, Clone)]
pub struct Observe {
    /// Time between written process samples (and GPU and `/metrics` samples); the tree is
    /// still read every 250 ms so that every process is seen.
    pub every: Duration,
    /// The service whose `/metrics` series are sampled, and which series.
    pub metrics: Option<(String, crate::suite::MetricsSpec)>,
}

impl Default for Observe {
    /// Process samples every 250 ms, no `/metrics`.
    fn default() -> Self {
        Observe {
            every: PROC_EVERY,
            metrics: None,
        }
    }
}

/// The service's tree, read (so every process is remembered); with `write`, each process as
/// a sample with its PSS and open descriptors (read only then: `smaps_rollup` walks every
/// mapping), else nothing.
fn proc_samples(svc: &Service, write: bool) -> Vec<ProcSample> {
    let procs = svc.tree();
    if !write {
        return Vec::new();
    }
    procs
        .iter()
        .map(|p| ProcSample {
            pid: p.pid,
            ppid: p.ppid,
            cmdline: p.cmdline.clone(),
            rss_bytes: p.rss_bytes,
            pss_bytes: proctree::pss_bytes(p.pid),
            fds: proctree::fd_count(p.pid),
            threads: Some(p.threads),
        })
        .collect()
}

/// Sample the series of `spec` from `svc` every `every` until `stop`; an answer that does not
/// come (or is not 200) is skipped: health polls judge availability, this judges values.
fn scrape_metrics(
    svc: Arc<Service>,
    spec: crate::suite::MetricsSpec,
    every: Duration,
    samples: Jsonl,
    stop: CancellationToken,
    http: reqwest::Client,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let url = format!("{}{}", svc.base_url(), spec.path);
        let names: Vec<&str> = spec.names().collect();
        let clock = svc.journal.clock();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while stop.run_until_cancelled(tick.tick()).await.is_some() {
            let got = stop
                .run_until_cancelled(async {
                    let r = http.get(&url).send().await.ok()?;
                    if !r.status().is_success() {
                        return None;
                    }
                    r.text().await.ok()
                })
                .await;
            let Some(text) = got else { break };
            let Some(text) = text else { continue };
            let _ = samples.write(&Sample::Metrics {
                t_ms: clock.now_ms(),
                service: svc.spec.name.clone(),
                values: scrape::values(&text, &names),
            });
        }
    })
}
