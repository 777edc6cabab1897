//! The orchestrator: one run of one suite, phase by phase.
//!
//! start (services, in order, each ready) → load with faults on schedule → teardown →
//! judge from the run directory → report. Every action is a line in `events.jsonl`;
//! an interrupt or the budget cuts the middle short but never skips teardown or the report.

mod command;
mod guard;
mod perf;
mod probes;
mod progress;
mod rundir;
pub mod schedule;
mod soak;

use crate::proxy::{self, ProxyHandle};
use progress::Progress;

use crate::fault::{self, Fault, FaultCtx};
use crate::gpu::nvml::{DeviceMem, Gpus};
use crate::load::{self, arrival, client};
use crate::record::{
    Clock, Journal, Jsonl, Phase, PlannedFault, ProbeRound, Timeline, What, files,
};
use crate::report::{Report, ReportError};
use crate::service::{Observe, Service, ServiceError, Supervisor};
use crate::suite::{Hardware, Suite};
use crate::verdict;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use rundir::{create_fresh_dir, create_run_dir, utc_stamp};

/// Where run directories go unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "shakedown-runs";

/// How a run is asked for, beyond the suite.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Override the suite's seed.
    pub seed: Option<u64>,
    /// Parent of run directories.
    pub out: PathBuf,
    /// Exact run directory (else `out/<suite>-<utc>-s<seed>`).
    pub run_dir: Option<PathBuf>,
    /// Print progress lines to stderr.
    pub progress: bool,
    /// Scale a soak to this length of load ([`Suite::scaled`]); other suites run as written.
    pub duration: Option<crate::units::Dur>,
}

/// Why a run could not even start (no run directory, or a fault entry that cannot be built).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{origin}: {message}")]
    Fault { origin: String, message: String },
    #[error("failed to create run directory {path}: {source}")]
    RunDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to judge the run: {0}")]
    Judge(#[from] verdict::JudgeError),
}

impl RunError {
    /// Exit code: 2 for a suite problem, 3 for infrastructure.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Fault { .. } => 2,
            _ => 3,
        }
    }
}

/// Run `suite` to a judged, written report.
///
/// The phases, in order. An interrupt or the budget cuts start-up, load and faults short,
/// never teardown or the report.
pub async fn run(mut suite: Suite, opts: &RunOptions) -> Result<Report, RunError> {
    if let Some(seed) = opts.seed {
        suite.meta.seed = seed;
    }
    if let Some(d) = opts.duration {
        suite = suite.scaled(d);
    }
    // Every fault is built before anything starts: a bad entry costs no service start-up.
    let mut faults = build_faults(&suite)?;
    // What the suite requires is found before the run directory is written, so the
    // resolved suite holds the directories it ran with.
    let required = crate::requires::locate_all(&suite.meta.requires);
    if let Ok(found) = &required {
        suite.fill_requires(found);
    }
    let mut run = Run::prepare(suite, opts)?;
    // The exact plan, before anything starts: what a replay holds itself to.
    let planned = schedule::to_json(&schedule::of(&run.suite, &faults));
    write_file(&run.dir, files::SCHEDULE, planned)?;
    let skip = match required {
        Err(e) => Some(e.to_string()),
        Ok(_) if run.suite.meta.hardware == Hardware::Gpu => crate::gpu::cuda::driver_present()
            .err()
            .map(|e| e.to_string()),
        Ok(_) => None,
    };
    if let Some(reason) = skip {
        run.journal.log(None, What::RunSkipped { reason });
        return run.judge_and_report();
    }
    // GPU memory as it was before the run, to prove it comes back (only where NVML loads).
    let gpus = Gpus::open().ok().map(Arc::new);
    let gpu_before = gpus.as_ref().map(|g| g.devices());

    if let Some(command) = run.suite.command.clone() {
        return run.run_command(command, faults, gpus, gpu_before).await;
    }
    let watchers = run.begin();
    let sup = match Supervisor::new(&run.suite.services, &run.dir, run.journal.clone()) {
        Ok(s) => s,
        Err(e) => {
            run.journal.log(
                None,
                What::RunError {
                    error: e.to_string(),
                },
            );
            return run.judge_and_report();
        }
    };
    // From here on, whatever fails, teardown runs and the report is written.
    let (startup_faults, planned) = run.inject_startup_faults(&sup, &mut faults).await;
    let error = match planned {
        Err(e) => Some(e.to_string()),
        Ok(()) => match run.start_services(&sup).await {
            Some(Ok(())) => run.observe_and_drive(&sup, faults, gpus.clone()).await,
            Some(Err(e)) => run.start_failed(&e),
            // Cut before every service was ready.
            None => None,
        },
    };
    startup_faults.release().await;
    run.teardown(&sup, gpus.as_deref(), gpu_before.as_deref())
        .await;
    drop(sup);
    for w in watchers {
        w.abort();
    }
    run.journal.log(None, What::Phase(Phase::Judge));
    // The one record of why the run could not go on; the report reads it from here.
    if let Some(error) = error {
        run.journal.log(None, What::RunError { error });
    }
    run.judge_and_report()
}

/// The suite's faults, by index; a start-up fault's slot is emptied when it is injected.
type Faults = Vec<Option<Box<dyn Fault>>>;

/// Faults planned from load start, waiting for their instants.
type Scheduled = Vec<(Box<dyn Fault>, PlannedFault)>;

/// Build every fault of `suite`; the first entry that cannot be built is the error.
fn build_faults(suite: &Suite) -> Result<Faults, RunError> {
    let mut faults = Vec::new();
    for spec in &suite.faults {
        faults.push(Some(fault::build(spec).map_err(|e| RunError::Fault {
            origin: spec.origin.clone(),
            message: e.message,
        })?));
    }
    Ok(faults)
}

/// Write the file `name` in the run directory `dir`.
fn write_file(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<(), RunError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| RunError::Write { path, source })
}

/// One run under way: what every phase shares.
struct Run {
    suite: Suite,
    seed: u64,
    /// The run directory.
    dir: PathBuf,
    clock: Clock,
    journal: Journal,
    /// What `timeline.json` holds: start-up faults, then the load window and the other faults.
    timeline: Timeline,
    /// Fires when the middle of the run is cut short (the journal says what cut it).
    cut: CancellationToken,
    /// Where progress lines and the live status go.
    progress: Progress,
}

/// The tasks holding start-up faults until their end or their release.
struct StartupFaults {
    release: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl StartupFaults {
    /// Clear every start-up fault still held, and wait until each is cleared.
    async fn release(self) {
        self.release.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The load a run drives, fixed before the first request.
struct LoadPlan {
    /// Arrival instants, in milliseconds from load start, generated as they are sent.
    arrivals: arrival::Schedule,
    /// Where requests go, and how many may be in flight (`None`: the suite has no load).
    target: Option<(client::Target, load::Limit)>,
    /// How long the middle of the run lasts.
    duration_ms: f64,
}

impl Run {
    /// Create the run directory and the records every run starts with (`suite.resolved.json`,
    /// `timeline.json`, `events.jsonl`); the run clock starts here.
    fn prepare(suite: Suite, opts: &RunOptions) -> Result<Run, RunError> {
        let seed = suite.meta.seed;
        let dir = create_run_dir(opts.run_dir.as_deref(), &opts.out, &suite.meta.name, seed)
            .map_err(|(path, source)| RunError::RunDir { path, source })?;
        write_file(
            &dir,
            files::SUITE,
            serde_json::to_vec_pretty(&suite).unwrap_or_default(),
        )?;
        let started_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let clock = Clock::start();
        let timeline = Timeline {
            suite: suite.meta.name.clone(),
            seed,
            started_at,
            ..Timeline::default()
        };
        write_file(
            &dir,
            files::TIMELINE,
            serde_json::to_vec_pretty(&timeline).unwrap_or_default(),
        )?;
        let journal =
            Journal::create(&dir.join(files::EVENTS), clock).map_err(|source| RunError::Write {
                path: dir.join(files::EVENTS),
                source,
            })?;
        Ok(Run {
            suite,
            seed,
            dir,
            clock,
            journal,
            timeline,
            cut: CancellationToken::new(),
            progress: Progress::new(opts.progress),
        })
    }

    /// A progress line, when asked for.
    fn say(&self, line: String) {
        self.progress.say(&line);
    }

    /// Announce the start and watch for interrupts and the budget from here on.
    fn begin(&self) -> Vec<JoinHandle<()>> {
        self.announce();
        let budget = self.suite.meta.budget.0;
        // A soak prints its own periodic line.
        let periodic = self.suite.stability.is_none();
        let status = self
            .progress
            .spawn(self.journal.live(), self.clock, budget, periodic);
        let mut watchers = vec![
            watch_signals(
                self.cut.clone(),
                self.journal.clone(),
                self.progress.clone(),
            ),
            watch_budget(self.cut.clone(), self.journal.clone(), budget),
        ];
        watchers.extend(status);
        watchers
    }

    /// Say the run starts, and mark it in the journal.
    fn announce(&self) {
        self.say(format!(
            "shakedown: running {} (seed {}) into {}",
            self.suite.meta.name,
            self.seed,
            self.dir.display()
        ));
        self.journal
            .log(None, What::Phase(Phase::Start { seed: self.seed }));
    }

    /// Faults at "startup" meet the services as they come up: each is injected now, before
    /// any service starts, and one with a duration is held by a task until its end or release.
    async fn inject_startup_faults(
        &mut self,
        sup: &Supervisor,
        faults: &mut Faults,
    ) -> (StartupFaults, Result<(), RunError>) {
        let release = CancellationToken::new();
        let mut tasks = Vec::new();
        for (index, spec) in self
            .suite
            .faults
            .iter()
            .enumerate()
            .filter(|(_, s)| s.startup)
        {
            let (Some(mut f), Some(service)) =
                (faults[index].take(), sup.service(&spec.service).cloned())
            else {
                continue;
            };
            let ctx = FaultCtx {
                service,
                journal: self.journal.clone(),
                seed: self.seed,
                run_dir: self.dir.clone(),
                // Start-up comes before the proxy exists.
                proxy: None,
                cut: self.cut.clone(),
            };
            let planned = plan(index, spec, f.as_ref(), self.clock.now_ms());
            self.say(format!("  fault {index} at startup: {}", planned.describe));
            self.timeline.faults.push(planned.clone());
            // The hog must hold before anything starts: inject inline, clear later.
            if inject(&mut f, &ctx, &planned).await && spec.duration.is_some() {
                let until = self.clock.instant(planned.until_ms);
                let release = release.clone();
                tasks.push(tokio::spawn(async move {
                    hold_and_clear(&mut f, &ctx, &planned, until, &release).await;
                }));
            }
        }
        // Held faults come back even when the plan cannot be written: teardown must run.
        let written = if self.timeline.faults.is_empty() {
            Ok(())
        } else {
            write_file(
                &self.dir,
                files::TIMELINE,
                serde_json::to_vec_pretty(&self.timeline).unwrap_or_default(),
            )
        };
        (StartupFaults { release, tasks }, written)
    }

    /// Start the services in order, each ready; `None` if the run was cut first.
    async fn start_services(&self, sup: &Supervisor) -> Option<Result<(), ServiceError>> {
        let started = tokio::select! {
            r = sup.start_all() => Some(r),
            () = self.cut.cancelled() => None,
        };
        if matches!(started, Some(Ok(()))) {
            for s in sup.services() {
                self.say(format!(
                    "  service {} ready on port {} (pid {})",
                    s.spec.name,
                    s.port,
                    s.main_pid().unwrap_or(0)
                ));
            }
        }
        started
    }

    /// Record a failed start; the run's error, unless a start-up fault may have caused it.
    fn start_failed(&self, e: &ServiceError) -> Option<String> {
        // Under a start-up fault, failing to start is the behaviour being judged, not a broken run.
        // So is a start the suite expects to fail (a bad configuration on purpose).
        if self.suite.faults.iter().any(|f| f.startup) || self.suite.expect.startup_fails {
            self.journal.log(
                None,
                What::RunStartFailed {
                    error: e.to_string(),
                },
            );
            self.say(format!("  start-up failed, as judged: {e}"));
            None
        } else {
            Some(e.to_string())
        }
    }

    /// With every service ready: observe them (`samples.jsonl`) while load and faults run;
    /// the error that ended the middle early, if one did.
    async fn observe_and_drive(
        &mut self,
        sup: &Supervisor,
        faults: Faults,
        gpus: Option<Arc<Gpus>>,
    ) -> Option<String> {
        let path = self.dir.join(files::SAMPLES);
        let samples = match Jsonl::create(&path) {
            Ok(s) => s,
            Err(source) => {
                let e = RunError::Write { path, source }.to_string();
                return Some(e);
            }
        };
        let stop_observing = CancellationToken::new();
        let observers = sup.observe(samples, stop_observing.clone(), gpus, &self.observe());
        let error = self.drive_through_proxy(sup, faults).await;
        stop_observing.cancel();
        for o in observers {
            let _ = o.await;
        }
        error
    }

    /// How the services are observed: a soak samples at its own interval, and its `/metrics`.
    fn observe(&self) -> Observe {
        match &self.suite.stability {
            Some(st) => Observe {
                every: st.sample_every.0,
                metrics: st
                    .metrics
                    .clone()
                    .map(|m| (self.suite.entry().name.clone(), m)),
            },
            None => Observe::default(),
        }
    }

    /// Open the run's proxy (when the suite uses one), drive, and close the proxy.
    async fn drive_through_proxy(&mut self, sup: &Supervisor, faults: Faults) -> Option<String> {
        // Load reaches the entry service through the proxy; health polls stay direct.
        let proxy = if self.suite.uses_proxy() {
            match RunProxy::open(&self.suite, sup, &self.journal).await {
                Ok(p) => Some(p),
                Err(e) => {
                    return Some(e);
                }
            }
        } else {
            None
        };
        let handle = proxy.as_ref().map(|p| p.handle.clone());
        let error = self.drive(sup, faults, handle).await.err();
        // Whatever happened above, no toxic or disabled proxy outlives the run.
        if let Some(p) = proxy {
            p.close(&self.journal).await;
        }
        error
    }

    /// The middle phase: load from start to end, faults on schedule, each cleared in the end.
    async fn drive(
        &mut self,
        sup: &Supervisor,
        faults: Faults,
        proxy: Option<Arc<ProxyHandle>>,
    ) -> Result<(), String> {
        let entry = sup.service(&self.suite.entry().name).ok_or_else(|| {
            format!(
                "entry service `{}` is not supervised",
                self.suite.entry().name
            )
        })?;
        let pool = match (&self.suite.load, &self.suite.perf) {
            (Some(l), _) => l.max_in_flight,
            (None, Some(p)) => p.most_in_flight(),
            (None, None) => 1,
        };
        let http =
            load::http_client(pool).map_err(|e| format!("failed to build the HTTP client: {e}"))?;
        if let Some(spec) = self.suite.perf.clone() {
            return self.drive_sweep(&spec, &http, entry).await;
        }
        // The accuracy baseline: the probes, before any load or fault.
        let prober = self.prober(&http, entry).await?;
        if let Some(p) = &prober {
            p.round(ProbeRound::Baseline).await?;
        }
        // The plan: arrivals and fault instants, all fixed before the first request.
        let load = self.plan_load(&http, entry, proxy.as_ref()).await?;
        let start = self.clock.now_ms() + 50.0;
        let scheduled = self.plan_faults(faults, &load, start)?;
        self.journal.log(
            None,
            What::Phase(Phase::Baseline {
                arrivals: load.arrivals.len() as u64,
                duration_ms: load.duration_ms,
            }),
        );
        self.mark_phases(&scheduled);
        if let Some(l) = &self.suite.load {
            self.say(format!(
                "  load: {} req/s ({:?}) for {} ({} requests)",
                l.rate,
                l.arrival,
                l.duration,
                load.arrivals.len()
            ));
        }
        // Faults stop being injected when load ends (unless `after_load`), but one already
        // injected is always cleared.
        let faults_stop = CancellationToken::new();
        let fault_tasks = self.spawn_faults(
            sup,
            scheduled,
            proxy.as_ref(),
            start,
            &faults_stop,
            prober.as_ref(),
        );
        let watching = CancellationToken::new();
        let watcher = self.watch_soak(start, load.duration_ms, &watching);
        let guarding = CancellationToken::new();
        let guard = self.watch_guardrails(start, &guarding);
        let driven = self.drive_load(http.clone(), load, start).await;
        watching.cancel();
        if let Some(w) = watcher {
            let _ = w.await;
        }
        faults_stop.cancel();
        for t in fault_tasks {
            let _ = t.await;
        }
        guarding.cancel();
        if let Some(g) = guard {
            let _ = g.await;
        }
        driven?;
        // Every fault cleared: is the service still right, not just up?
        match &prober {
            Some(p) => p.round(ProbeRound::AfterRecovery).await,
            None => Ok(()),
        }
    }

    /// The seeded arrivals and their target (the proxy when there is one, else the entry
    /// service); with no load, no arrivals for long enough to see every fault and its recovery.
    async fn plan_load(
        &self,
        http: &reqwest::Client,
        entry: &Service,
        proxy: Option<&Arc<ProxyHandle>>,
    ) -> Result<LoadPlan, String> {
        let suite = &self.suite;
        Ok(match &suite.load {
            Some(l) => {
                let model = match &l.request.model {
                    Some(m) => m.clone(),
                    None => client::first_model(http, &entry.base_url())
                        .await
                        .map_err(|e| format!("failed to find the model to load: {e}"))?,
                };
                let arrivals = arrival::Schedule::of(l, suite.meta.seed);
                let target = client::Target {
                    base_url: match proxy {
                        Some(h) => format!("http://{}", h.listen),
                        None => entry.base_url(),
                    },
                    model,
                    request: l.request.clone(),
                    timeout: l.timeout.0,
                    run_tag: format!("shakedown-s{}", suite.meta.seed),
                    bodies: None,
                };
                LoadPlan {
                    arrivals,
                    target: Some((
                        target,
                        match l.concurrency {
                            Some(c) => load::Limit::WaitFor(c, l.duration.as_ms()),
                            None => load::Limit::Drop(l.max_in_flight),
                        },
                    )),
                    duration_ms: l.duration.as_ms(),
                }
            }
            None => LoadPlan {
                arrivals: arrival::Schedule::none(),
                target: None,
                duration_ms: suite.drive_duration().as_ms(),
            },
        })
    }

    /// Fix the load window and the instants of every fault not yet injected (from load
    /// `start`) in the timeline, and write `timeline.json`.
    fn plan_faults(
        &mut self,
        faults: Faults,
        load: &LoadPlan,
        start: f64,
    ) -> Result<Scheduled, String> {
        self.timeline.load_start_ms = start;
        self.timeline.load_end_ms = start + load.duration_ms;
        self.timeline.arrivals = load.arrivals.len() as u64;
        let mut scheduled = Vec::new();
        for (index, (f, spec)) in faults.into_iter().zip(&self.suite.faults).enumerate() {
            // Start-up faults were injected already; the rest are planned from load start.
            let Some(f) = f else { continue };
            let planned = plan(index, spec, f.as_ref(), start + spec.at.as_ms());
            self.timeline.faults.push(planned.clone());
            scheduled.push((f, planned));
        }
        let path = self.dir.join(files::TIMELINE);
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&self.timeline).unwrap_or_default(),
        )
        .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        Ok(scheduled)
    }

    /// Phase marks at the planned instants: faults begin, the last fault ends (recovery).
    fn mark_phases(&self, scheduled: &Scheduled) {
        let first = scheduled.iter().map(|(_, p)| p.at_ms).reduce(f64::min);
        let last = scheduled.iter().map(|(_, p)| p.until_ms).reduce(f64::max);
        for (phase, at) in [(Phase::Faults, first), (Phase::Recovery, last)] {
            let Some(at) = at else { continue };
            let (journal, cut, clock) = (self.journal.clone(), self.cut.clone(), self.clock);
            tokio::spawn(async move {
                let when = tokio::time::Instant::from_std(clock.instant(at));
                if cut
                    .run_until_cancelled(tokio::time::sleep_until(when))
                    .await
                    .is_some()
                {
                    journal.log(None, What::Phase(phase));
                }
            });
        }
    }

    /// One task per scheduled fault: wait for its instant (unless `stop`, which an
    /// `after_load` fault ignores, or the cut comes first), inject, and clear it at its end or
    /// at the cut.
    fn spawn_faults(
        &self,
        sup: &Supervisor,
        scheduled: Scheduled,
        proxy: Option<&Arc<ProxyHandle>>,
        start: f64,
        stop: &CancellationToken,
        prober: Option<&probes::Prober>,
    ) -> Vec<JoinHandle<()>> {
        let clock = self.clock;
        let mut tasks = Vec::new();
        for (mut f, planned) in scheduled {
            let index = planned.index;
            let Some(service) = sup.service(&planned.service).cloned() else {
                self.journal.log(
                    Some(&planned.service),
                    What::FaultError {
                        fault: planned.fault_ref(),
                        error: format!("no service named `{}`", planned.service),
                    },
                );
                continue;
            };
            let ctx = FaultCtx {
                service,
                journal: self.journal.clone(),
                seed: self.seed,
                run_dir: self.dir.clone(),
                proxy: proxy.cloned(),
                cut: self.cut.clone(),
            };
            let (stop, cut) = (stop.clone(), self.cut.clone());
            // With `after_recovery`, the probes again once the service answers after this fault.
            let prober = prober.filter(|p| p.after_recovery()).cloned();
            let journal = self.journal.clone();
            let duration = self.suite.faults[index].duration;
            // `after_load = true`: the end of load does not call this fault off.
            let after_load = self.suite.faults[index].after_load;
            let reinject = self.suite.faults[index].reinject;
            self.say(format!(
                "  fault {index} at {:.1} s: {}",
                (planned.at_ms - start) / 1e3,
                planned.describe
            ));
            tasks.push(tokio::spawn(async move {
                let when = tokio::time::Instant::from_std(clock.instant(planned.at_ms));
                tracing::debug!(index, at_ms = planned.at_ms, "fault waits for its instant");
                tokio::select! {
                    () = tokio::time::sleep_until(when) => {}
                    () = stop.cancelled(), if !after_load => return,
                    () = cut.cancelled() => return,
                }
                let mut planned = planned;
                let mut ready = None;
                for round in 0..=reinject {
                    if round > 0 {
                        // Again once its service has restarted and is ready (a crash loop).
                        // No restart before load ends: the rounds end, the probes still run.
                        tokio::select! {
                            up = ctx.service.ready_after(ready) => if !up { break },
                            () = stop.cancelled(), if !after_load => break,
                            () = cut.cancelled() => return,
                        }
                        let now = clock.now_ms();
                        planned.until_ms = now + (planned.until_ms - planned.at_ms);
                        planned.at_ms = now;
                        ctx.journal.log(
                            Some(&planned.service),
                            What::FaultReinject {
                                fault: planned.fault_ref(),
                                round,
                            },
                        );
                    }
                    // Taken before the injection: a restart it causes is after it.
                    ready = ctx.service.ready_generation();
                    if !inject(&mut f, &ctx, &planned).await {
                        return;
                    }
                    if duration.is_some() {
                        let until = clock.instant(planned.until_ms);
                        hold_and_clear(&mut f, &ctx, &planned, until, &cut).await;
                    }
                }
                if let Some(p) = prober
                    && let Err(error) = p.after_fault(index).await
                {
                    journal.log(None, What::RunError { error });
                }
            }));
        }
        tasks
    }

    /// A soak's partial reports and progress line, from load `start` until `stop`.
    fn watch_soak(
        &self,
        start: f64,
        duration_ms: f64,
        stop: &CancellationToken,
    ) -> Option<JoinHandle<()>> {
        let st = self.suite.stability.as_ref()?;
        let watch = soak::Watch {
            dir: self.dir.clone(),
            clock: self.clock,
            start_ms: start,
            duration_ms,
            service: self.suite.entry().name.clone(),
            report_every: st.report_every.0,
            progress: self.progress.clone(),
        };
        Some(soak::spawn(watch, stop.clone()))
    }

    /// The suite's guardrails, watched from load `start` until `stop` (none: no task).
    fn watch_guardrails(&self, start: f64, stop: &CancellationToken) -> Option<JoinHandle<()>> {
        if self.suite.guardrails.is_empty() {
            return None;
        }
        let planned: Vec<(usize, f64, f64)> = self
            .timeline
            .faults
            .iter()
            .map(|p| (p.index, p.at_ms, p.until_ms))
            .collect();
        let guard = guard::Guard::new(&self.suite, start, &planned);
        let watch = guard::Watch {
            dir: self.dir.clone(),
            clock: self.clock,
            journal: self.journal.clone(),
            cut: self.cut.clone(),
            progress: self.progress.clone(),
        };
        Some(guard::spawn(watch, guard, stop.clone()))
    }

    /// Send the planned arrivals from load `start` (`requests.jsonl`); with no load, wait out
    /// the planned duration. Either ends early when the run is cut.
    async fn drive_load(
        &self,
        http: reqwest::Client,
        load: LoadPlan,
        start: f64,
    ) -> Result<(), String> {
        let requests = Jsonl::create(&self.dir.join(files::REQUESTS))
            .map_err(|e| format!("failed to create {}: {e}", files::REQUESTS))?;
        match load.target {
            Some((target, limit)) => {
                let probe = self.suite.expect.deterministic.then(|| target.clone());
                let summary = load::drive(
                    http.clone(),
                    target,
                    &load.arrivals,
                    start,
                    limit,
                    self.clock,
                    requests,
                    self.cut.clone(),
                    self.journal.live(),
                )
                .await;
                self.journal.log(None, What::LoadFinished(summary));
                if let Some(target) = probe
                    && !self.cut.is_cancelled()
                {
                    self.probe_determinism(&http, &target).await;
                }
            }
            None => {
                let end =
                    tokio::time::Instant::from_std(self.clock.instant(start + load.duration_ms));
                let _ = self
                    .cut
                    .run_until_cancelled(tokio::time::sleep_until(end))
                    .await;
            }
        }
        Ok(())
    }

    /// `[expect] deterministic`: the same seeded, greedy request twice, one after the other
    /// (`api.determinism`); the first failure ends it.
    async fn probe_determinism(&self, http: &reqwest::Client, target: &client::Target) {
        let seed = self.suite.meta.seed;
        let (mut first, mut second, mut error) = (None, None, None);
        match client::seeded_text(http, target, seed).await {
            Ok(t) => first = Some(t),
            Err(e) => error = Some(e),
        }
        if error.is_none() {
            match client::seeded_text(http, target, seed).await {
                Ok(t) => second = Some(t),
                Err(e) => error = Some(e),
            }
        }
        self.journal.log(
            None,
            What::Determinism {
                first,
                second,
                error,
            },
        );
    }

    /// Stop every service and name any process that outlived it; where NVML loads, record
    /// whether GPU memory came back to what it was before the run.
    async fn teardown(
        &self,
        sup: &Supervisor,
        gpus: Option<&Gpus>,
        gpu_before: Option<&[DeviceMem]>,
    ) {
        self.journal.log(None, What::Phase(Phase::Teardown));
        let survivors = sup.teardown().await;
        for s in &survivors {
            self.say(format!(
                "  process outlived teardown: {} `{}`",
                s.pid, s.cmdline
            ));
        }
        if let (Some(g), Some(before)) = (gpus, gpu_before) {
            let seen = sup
                .services()
                .iter()
                .flat_map(|s| s.seen_pids())
                .collect::<Vec<_>>();
            let after = crate::gpu::nvml::released(g, before, &seen).await;
            self.journal
                .log(None, What::GpuAfterTeardown(What::map(after)));
        }
    }

    /// Judge the run from its directory and write its reports.
    fn judge_and_report(&self) -> Result<Report, RunError> {
        self.progress.finish();
        crate::report::judge(&self.dir).map_err(|e| match e {
            ReportError::Judge(e) => RunError::Judge(e),
            ReportError::Write(source) => RunError::Write {
                path: self.dir.join(files::REPORT),
                source,
            },
        })
    }
}

/// The plan of fault `index`, injected at `at_ms`.
fn plan(index: usize, spec: &crate::suite::FaultSpec, f: &dyn Fault, at_ms: f64) -> PlannedFault {
    PlannedFault {
        index,
        kind: spec.kind.clone(),
        name: spec.name.clone(),
        service: spec.service.clone(),
        describe: f.describe(),
        at_ms,
        until_ms: at_ms + spec.duration.map_or(0.0, |d| d.as_ms()),
        startup: spec.startup,
    }
}

/// Inject `f` and record the outcome; true if it took effect.
async fn inject(f: &mut Box<dyn Fault>, ctx: &FaultCtx, planned: &PlannedFault) -> bool {
    let service = ctx.service.spec.name.clone();
    tracing::info!(index = planned.index, kind = %planned.kind, %service, "injecting a fault");
    match f.inject(ctx).await {
        Ok(d) => {
            ctx.journal.log(
                Some(&service),
                What::FaultInject {
                    fault: planned.fault_ref(),
                    details: What::map(d),
                },
            );
            true
        }
        Err(e) => {
            ctx.journal.log(
                Some(&service),
                What::FaultError {
                    fault: planned.fault_ref(),
                    error: e.to_string(),
                },
            );
            false
        }
    }
}

/// Keep an injected fault until `until` (or `early` is cancelled), then clear it and record that.
async fn hold_and_clear(
    f: &mut Box<dyn Fault>,
    ctx: &FaultCtx,
    planned: &PlannedFault,
    until: std::time::Instant,
    early: &CancellationToken,
) {
    let live = ctx.journal.live();
    live.fault_held(planned.index, &planned.kind);
    tracing::debug!(index = planned.index, "holding a fault until its end");
    let cut_short = tokio::select! {
        () = tokio::time::sleep_until(until.into()) => false,
        () = early.cancelled() => true,
    };
    let service = ctx.service.spec.name.clone();
    tracing::info!(index = planned.index, cut_short, "clearing a fault");
    let cleared = f.clear(ctx).await;
    live.fault_cleared(planned.index);
    match cleared {
        Ok(c) => {
            let mut details = What::map(c);
            details.insert("early".into(), cut_short.into());
            ctx.journal.log(
                Some(&service),
                What::FaultClear {
                    fault: planned.fault_ref(),
                    details,
                },
            )
        }
        Err(e) => ctx.journal.log(
            Some(&service),
            What::FaultError {
                fault: planned.fault_ref(),
                error: format!("failed to clear: {e}"),
            },
        ),
    }
}

/// The proxy in front of the entry service for one run, and the embedded server holding it.
struct RunProxy {
    handle: Arc<ProxyHandle>,
    embedded: Option<proxy::Server>,
}

impl RunProxy {
    /// Start the embedded server (unless the suite names one) and create the proxy.
    async fn open(suite: &Suite, sup: &Supervisor, journal: &Journal) -> Result<RunProxy, String> {
        let entry = sup
            .service(&suite.entry().name)
            .ok_or_else(|| format!("entry service `{}` is not supervised", suite.entry().name))?;
        let external = suite.proxy.as_ref().and_then(|p| p.server.clone());
        let embedded = match external {
            Some(_) => None,
            None => Some(
                proxy::Server::start("127.0.0.1:0", suite.meta.seed)
                    .await
                    .map_err(|e| format!("failed to start the embedded proxy: {e}"))?,
            ),
        };
        let url =
            external.unwrap_or_else(|| embedded.as_ref().map(|s| s.url()).unwrap_or_default());
        let client = proxy::Client::new(&url)
            .map_err(|e| format!("failed to build the proxy client: {e}"))?;
        let name = format!("shakedown_{}_{}", entry.spec.name, std::process::id());
        let upstream = format!("127.0.0.1:{}", entry.port);
        let created = match client.create(&name, "127.0.0.1:0", &upstream).await {
            Err(proxy::ClientError::Status { status: 409, .. }) => {
                // Left over from an earlier run that died: start clean.
                let _ = client.delete(&name).await;
                client.create(&name, "127.0.0.1:0", &upstream).await
            }
            other => other,
        }
        .map_err(|e| format!("failed to create the proxy for `{}`: {e}", entry.spec.name))?;
        journal.log(
            Some(&entry.spec.name),
            What::ProxyCreate {
                server: url,
                embedded: embedded.is_some(),
                proxy: created.name.clone(),
                listen: created.listen.clone(),
                upstream: created.upstream.clone(),
            },
        );
        Ok(RunProxy {
            handle: Arc::new(ProxyHandle {
                client,
                name: created.name,
                listen: created.listen,
                upstream,
            }),
            embedded,
        })
    }

    /// Remove every toxic left, enable the proxy, delete it, stop the embedded server;
    /// each step is an event.
    async fn close(self, journal: &Journal) {
        let h = &self.handle;
        match h.client.get(&h.name).await {
            Ok(p) => {
                for t in &p.toxics {
                    let name = t["name"].as_str().unwrap_or_default();
                    let r = h.client.remove_toxic(&h.name, name).await;
                    journal.log(
                        None,
                        What::ProxyRestore {
                            proxy: h.name.clone(),
                            removed_toxic: Some(name.to_string()),
                            enabled: None,
                            error: r.err().map(|e| e.to_string()),
                        },
                    );
                }
                if !p.enabled {
                    let r = h.client.set_enabled(&h.name, true).await;
                    journal.log(
                        None,
                        What::ProxyRestore {
                            proxy: h.name.clone(),
                            removed_toxic: None,
                            enabled: Some(true),
                            error: r.err().map(|e| e.to_string()),
                        },
                    );
                }
            }
            Err(e) => journal.log(
                None,
                What::ProxyError {
                    proxy: h.name.clone(),
                    error: format!("failed to read the proxy at teardown: {e}"),
                },
            ),
        }
        let r = h.client.delete(&h.name).await;
        journal.log(
            None,
            What::ProxyDelete {
                proxy: h.name.clone(),
                error: r.err().map(|e| e.to_string()),
            },
        );
        if let Some(s) = self.embedded {
            s.stop().await;
        }
    }
}

/// A token cancelled at the first SIGINT or SIGTERM, for a caller that makes several runs
/// (a level, a shrink): it hears a signal between runs as during one (each run also hears it
/// and tears down). Call it inside a runtime.
pub fn watch_interrupts() -> CancellationToken {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let t = token.clone();
    // Registered before the task starts, so no signal falls between.
    let signals = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = signals else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        t.cancel();
    });
    token
}

/// Turn SIGINT/SIGTERM into a cut of the run; a second signal exits at once (the reaper then
/// kills every service group).
fn watch_signals(c: CancellationToken, j: Journal, progress: Progress) -> JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for n in 0.. {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if n > 0 {
                progress.notice(&format!("shakedown: second {name}, exiting now"));
                std::process::exit(130);
            }
            j.log(
                None,
                What::Interrupt {
                    signal: name.into(),
                },
            );
            progress.notice(&format!(
                "shakedown: {name} received, tearing down (again to exit at once)"
            ));
            c.cancel();
        }
    })
}

/// Turn the end of the budget into a cut of the run.
fn watch_budget(cut: CancellationToken, journal: Journal, budget: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(budget).await;
        journal.log(
            None,
            What::BudgetExceeded {
                budget_ms: budget.as_secs_f64() * 1e3,
            },
        );
        cut.cancel();
    })
}
