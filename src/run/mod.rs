//! The orchestrator: one run of one suite, phase by phase.
//!
//! start (services, in order, each ready) → load with faults on schedule → teardown →
//! judge from the run directory → report. Every action is a line in `events.jsonl`;
//! an interrupt or the budget cuts the middle short but never skips teardown or the report.

mod rundir;

use crate::proxy::{self, ProxyHandle};

use crate::fault::{self, Fault, FaultCtx};
use crate::load::{self, arrival, client};
use crate::record::{Clock, Journal, Jsonl, PlannedFault, Timeline};
use crate::report::{Report, RequestStats, RunStatus};
use crate::seed::Rng;
use crate::service::Supervisor;
use crate::suite::{Hardware, Suite};
use crate::verdict::{self, RunRecords};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

pub use rundir::{create_run_dir, utc_stamp};

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

/// Why the middle of a run ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Signal,
    Budget,
}

/// Run `suite` to a judged, written report.
pub async fn run(mut suite: Suite, opts: &RunOptions) -> Result<Report, RunError> {
    if let Some(seed) = opts.seed {
        suite.meta.seed = seed;
    }
    let seed = suite.meta.seed;
    // Every fault is built before anything starts: a bad entry costs no service start-up.
    let mut faults: Vec<Option<Box<dyn Fault>>> = Vec::new();
    for spec in &suite.faults {
        faults.push(Some(fault::build(spec).map_err(|e| RunError::Fault {
            origin: spec.origin.clone(),
            message: e.message,
        })?));
    }
    let dir = create_run_dir(opts.run_dir.as_deref(), &opts.out, &suite.meta.name, seed)
        .map_err(|(path, source)| RunError::RunDir { path, source })?;
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| RunError::Write { path, source })
    };
    write(
        "suite.resolved.json",
        serde_json::to_vec_pretty(&suite).unwrap_or_default(),
    )?;
    let started_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let clock = Clock::start();
    let mut timeline = Timeline {
        suite: suite.meta.name.clone(),
        seed,
        started_at: started_at.clone(),
        ..Timeline::default()
    };
    write(
        "timeline.json",
        serde_json::to_vec_pretty(&timeline).unwrap_or_default(),
    )?;
    let journal =
        Journal::create(&dir.join("events.jsonl"), clock).map_err(|source| RunError::Write {
            path: dir.join("events.jsonl"),
            source,
        })?;
    let say = |line: String| {
        if opts.progress {
            eprintln!("{line}");
        }
    };
    let finish = |status: Option<RunStatus>, error: Option<String>| -> Result<Report, RunError> {
        let records = RunRecords::read(&dir)?;
        // A skipped run judged nothing: its verdicts would only speak of what never ran.
        let verdicts = if status == Some(RunStatus::Skipped) {
            Vec::new()
        } else {
            verdict::judge(&records)?
        };
        let report = Report {
            shakedown: env!("CARGO_PKG_VERSION").into(),
            suite: suite.meta.name.clone(),
            level: format!("{:?}", suite.meta.level),
            seed,
            status: Report::status_of(&verdicts, status),
            error,
            started_at: started_at.clone(),
            wall_ms: clock.now_ms(),
            run_dir: dir.clone(),
            requests: RequestStats::of(&records.requests),
            input: verdict::input_rows(&records),
            verdicts,
        };
        report.write(&dir).map_err(|source| RunError::Write {
            path: dir.join("report.json"),
            source,
        })?;
        Ok(report)
    };

    if suite.meta.hardware == Hardware::Gpu
        && let Err(e) = crate::gpu::cuda::driver_present()
    {
        journal.log("run.skipped", None, json!({"reason": e.to_string()}));
        return finish(Some(RunStatus::Skipped), Some(format!("skipped: {e}")));
    }
    // GPU memory as it was before the run, to prove it comes back (only where NVML loads).
    let gpus = crate::gpu::nvml::Gpus::open().ok().map(Arc::new);
    let gpu_before = gpus.as_ref().map(|g| g.devices());

    say(format!(
        "shakedown: running {} (seed {seed}) into {}",
        suite.meta.name,
        dir.display()
    ));
    journal.log("phase", None, json!({"phase": "start", "seed": seed}));
    let cut = CancellationToken::new();
    let why = Arc::new(std::sync::Mutex::new(None::<Cut>));
    let watchers = watch_interrupts(
        cut.clone(),
        why.clone(),
        journal.clone(),
        suite.meta.budget.0,
    );

    let sup = match Supervisor::new(&suite.services, &dir, journal.clone()) {
        Ok(s) => s,
        Err(e) => return finish(Some(RunStatus::Error), Some(e.to_string())),
    };
    // Faults at "startup" meet the services as they come up.
    let release_startup = CancellationToken::new();
    let mut startup_tasks = Vec::new();
    for (index, spec) in suite.faults.iter().enumerate().filter(|(_, s)| s.startup) {
        let (Some(mut f), Some(service)) =
            (faults[index].take(), sup.service(&spec.service).cloned())
        else {
            continue;
        };
        let ctx = FaultCtx {
            service,
            journal: journal.clone(),
            seed,
            run_dir: dir.clone(),
            // Start-up comes before the proxy exists.
            proxy: None,
            cut: cut.clone(),
        };
        let planned = plan(index, spec, f.as_ref(), clock.now_ms());
        say(format!("  fault {index} at startup: {}", planned.describe));
        timeline.faults.push(planned.clone());
        // The hog must hold before anything starts: inject inline, clear later.
        if inject(&mut f, &ctx, &planned).await && spec.duration.is_some() {
            let until = clock.instant(planned.until_ms);
            let release = release_startup.clone();
            startup_tasks.push(tokio::spawn(async move {
                hold_and_clear(f, &ctx, &planned, until, &release).await;
            }));
        }
    }
    if !timeline.faults.is_empty() {
        write(
            "timeline.json",
            serde_json::to_vec_pretty(&timeline).unwrap_or_default(),
        )?;
    }
    let started = tokio::select! {
        r = sup.start_all() => Some(r),
        () = cut.cancelled() => None,
    };
    let mut error = None;
    match started {
        Some(Ok(())) => {
            for s in sup.services() {
                say(format!(
                    "  service {} ready on port {} (pid {})",
                    s.spec.name,
                    s.port,
                    s.main_pid().unwrap_or(0)
                ));
            }
            let samples =
                Jsonl::create(&dir.join("samples.jsonl")).map_err(|source| RunError::Write {
                    path: dir.join("samples.jsonl"),
                    source,
                })?;
            let stop_observing = CancellationToken::new();
            let observers = sup.observe(samples, stop_observing.clone(), gpus.clone());
            // Load reaches the entry service through the proxy; health polls stay direct.
            let proxy = if suite.uses_proxy() {
                RunProxy::open(&suite, &sup, &journal).await.map(Some)
            } else {
                Ok(None)
            };
            match proxy {
                Ok(proxy) => {
                    let handle = proxy.as_ref().map(|p| p.handle.clone());
                    if let Err(e) = drive(
                        &suite,
                        &sup,
                        faults,
                        &mut timeline,
                        &dir,
                        &journal,
                        &cut,
                        &say,
                        handle,
                    )
                    .await
                    {
                        error = Some(e);
                    }
                    // Whatever happened above, no toxic or disabled proxy outlives the run.
                    if let Some(p) = proxy {
                        p.close(&journal).await;
                    }
                }
                Err(e) => {
                    journal.log("run.error", None, json!({"error": e}));
                    error = Some(e);
                }
            }
            stop_observing.cancel();
            for o in observers {
                let _ = o.await;
            }
        }
        // Under a start-up fault, failing to start is the behaviour being judged, not a broken run.
        Some(Err(e)) if suite.faults.iter().any(|f| f.startup) => {
            journal.log("run.start_failed", None, json!({"error": e.to_string()}));
            say(format!("  start-up under the fault failed: {e}"));
        }
        Some(Err(e)) => {
            journal.log("run.error", None, json!({"error": e.to_string()}));
            error = Some(e.to_string());
        }
        None => {}
    }
    release_startup.cancel();
    for t in startup_tasks {
        let _ = t.await;
    }
    journal.log("phase", None, json!({"phase": "teardown"}));
    let survivors = sup.teardown().await;
    for s in &survivors {
        say(format!(
            "  process outlived teardown: {} `{}`",
            s.pid, s.cmdline
        ));
    }
    if let (Some(g), Some(before)) = (&gpus, &gpu_before) {
        let seen = sup
            .services()
            .iter()
            .flat_map(|s| s.seen_pids())
            .collect::<Vec<_>>();
        let after = crate::gpu::nvml::released(g, before, &seen).await;
        journal.log("gpu.after_teardown", None, after);
    }
    drop(sup);
    for w in watchers {
        w.abort();
    }
    journal.log("phase", None, json!({"phase": "judge"}));
    let cut_reason = *why.lock().unwrap_or_else(|p| p.into_inner());
    let status = match (cut_reason, &error) {
        (Some(Cut::Signal), _) => Some(RunStatus::Interrupted),
        (Some(Cut::Budget), _) => {
            error = Some(format!("budget of {} exceeded", suite.meta.budget));
            Some(RunStatus::Error)
        }
        (None, Some(_)) => Some(RunStatus::Error),
        (None, None) => None,
    };
    if status == Some(RunStatus::Interrupted) {
        error.get_or_insert_with(|| "interrupted".into());
    }
    finish(status, error)
}

/// The middle phase: load from start to end, faults on schedule, each cleared in the end.
#[allow(clippy::too_many_arguments)]
async fn drive(
    suite: &Suite,
    sup: &Supervisor,
    faults: Vec<Option<Box<dyn Fault>>>,
    timeline: &mut Timeline,
    dir: &std::path::Path,
    journal: &Journal,
    cut: &CancellationToken,
    say: &dyn Fn(String),
    proxy: Option<Arc<ProxyHandle>>,
) -> Result<(), String> {
    let clock = journal.clock();
    let entry = sup
        .service(&suite.entry().name)
        .ok_or_else(|| format!("entry service `{}` is not supervised", suite.entry().name))?
        .clone();
    let http = load::http_client(suite.load.as_ref().map_or(1, |l| l.max_in_flight))
        .map_err(|e| format!("failed to build the HTTP client: {e}"))?;
    // The plan: arrivals and fault instants, all fixed before the first request.
    let (arrivals, target, duration_ms) = match &suite.load {
        Some(l) => {
            let model = match &l.request.model {
                Some(m) => m.clone(),
                None => client::first_model(&http, &entry.base_url())
                    .await
                    .map_err(|e| format!("failed to find the model to load: {e}"))?,
            };
            let mut rng = Rng::fork(suite.meta.seed, "arrivals");
            let arrivals = arrival::schedule(l.arrival, l.rate, l.duration.as_ms(), &mut rng);
            let target = client::Target {
                base_url: match &proxy {
                    Some(h) => format!("http://{}", h.listen),
                    None => entry.base_url(),
                },
                model,
                request: l.request.clone(),
                timeout: l.timeout.0,
                run_tag: format!("shakedown-s{}", suite.meta.seed),
            };
            (
                arrivals,
                Some((target, l.max_in_flight)),
                l.duration.as_ms(),
            )
        }
        None => {
            let last = suite
                .faults
                .iter()
                .map(|f| f.at.as_ms() + f.duration.map_or(0.0, |d| d.as_ms()))
                .fold(0.0, f64::max);
            (
                Vec::new(),
                None,
                last + suite.expect.recover_within.map_or(0.0, |d| d.as_ms()),
            )
        }
    };
    let start = clock.now_ms() + 50.0;
    timeline.load_start_ms = start;
    timeline.load_end_ms = start + duration_ms;
    timeline.arrivals = arrivals.len() as u64;
    let mut scheduled = Vec::new();
    for (index, (f, spec)) in faults.into_iter().zip(&suite.faults).enumerate() {
        // Start-up faults were injected already; the rest are planned from load start.
        let Some(f) = f else { continue };
        let planned = plan(index, spec, f.as_ref(), start + spec.at.as_ms());
        timeline.faults.push(planned.clone());
        scheduled.push((f, planned));
    }
    let path = dir.join("timeline.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(timeline).unwrap_or_default(),
    )
    .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
    journal.log(
        "phase",
        None,
        json!({"phase": "baseline", "arrivals": arrivals.len(), "duration_ms": duration_ms}),
    );
    // Phase marks at the planned instants: faults begin, the last fault ends (recovery).
    let first = scheduled.iter().map(|(_, p)| p.at_ms).reduce(f64::min);
    let last = scheduled.iter().map(|(_, p)| p.until_ms).reduce(f64::max);
    for (phase, at) in [("faults", first), ("recovery", last)] {
        let Some(at) = at else { continue };
        let (journal, cut) = (journal.clone(), cut.clone());
        tokio::spawn(async move {
            let when = tokio::time::Instant::from_std(clock.instant(at));
            if cut
                .run_until_cancelled(tokio::time::sleep_until(when))
                .await
                .is_some()
            {
                journal.log("phase", None, json!({"phase": phase}));
            }
        });
    }
    if let Some(l) = &suite.load {
        say(format!(
            "  load: {} req/s ({:?}) for {} ({} requests)",
            l.rate,
            l.arrival,
            l.duration,
            arrivals.len()
        ));
    }

    // Faults stop being injected when load ends, but one already injected is always cleared.
    let faults_stop = CancellationToken::new();
    let mut fault_tasks = Vec::new();
    for (mut f, planned) in scheduled {
        let index = planned.index;
        let Some(service) = sup.service(&planned.service).cloned() else {
            journal.log(
                "fault.error",
                Some(&planned.service),
                json!({"index": index, "error": format!("no service named `{}`", planned.service)}),
            );
            continue;
        };
        let ctx = FaultCtx {
            service,
            journal: journal.clone(),
            seed: suite.meta.seed,
            run_dir: dir.to_path_buf(),
            proxy: proxy.clone(),
            cut: cut.clone(),
        };
        let (stop, cut) = (faults_stop.clone(), cut.clone());
        let duration = suite.faults[index].duration;
        say(format!(
            "  fault {index} at {:.1} s: {}",
            (planned.at_ms - start) / 1e3,
            planned.describe
        ));
        fault_tasks.push(tokio::spawn(async move {
            let when = tokio::time::Instant::from_std(clock.instant(planned.at_ms));
            tokio::select! {
                () = tokio::time::sleep_until(when) => {}
                () = stop.cancelled() => return,
                () = cut.cancelled() => return,
            }
            if inject(&mut f, &ctx, &planned).await && duration.is_some() {
                hold_and_clear(f, &ctx, &planned, clock.instant(planned.until_ms), &cut).await;
            }
        }));
    }

    let requests = Jsonl::create(&dir.join("requests.jsonl"))
        .map_err(|e| format!("failed to create requests.jsonl: {e}"))?;
    match target {
        Some((target, max_in_flight)) => {
            let summary = load::drive(
                http,
                target,
                &arrivals,
                start,
                max_in_flight,
                clock,
                requests,
                cut.clone(),
            )
            .await;
            journal.log(
                "load.finished",
                None,
                serde_json::to_value(&summary).unwrap_or_default(),
            );
        }
        None => {
            let end = tokio::time::Instant::from_std(clock.instant(start + duration_ms));
            let _ = cut.run_until_cancelled(tokio::time::sleep_until(end)).await;
        }
    }
    faults_stop.cancel();
    for t in fault_tasks {
        let _ = t.await;
    }
    Ok(())
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
    let details =
        json!({"index": planned.index, "fault": planned.kind, "describe": planned.describe});
    match f.inject(ctx).await {
        Ok(d) => {
            ctx.journal
                .log("fault.inject", Some(&service), merge(details, d));
            true
        }
        Err(e) => {
            ctx.journal.log(
                "fault.error",
                Some(&service),
                merge(details, json!({"error": e.to_string()})),
            );
            false
        }
    }
}

/// Keep an injected fault until `until` (or `early` is cancelled), then clear it and record that.
async fn hold_and_clear(
    mut f: Box<dyn Fault>,
    ctx: &FaultCtx,
    planned: &PlannedFault,
    until: std::time::Instant,
    early: &CancellationToken,
) {
    let cut_short = tokio::select! {
        () = tokio::time::sleep_until(until.into()) => false,
        () = early.cancelled() => true,
    };
    let service = ctx.service.spec.name.clone();
    let details =
        json!({"index": planned.index, "fault": planned.kind, "describe": planned.describe});
    match f.clear(ctx).await {
        Ok(c) => ctx.journal.log(
            "fault.clear",
            Some(&service),
            merge(details, merge(c, json!({"early": cut_short}))),
        ),
        Err(e) => ctx.journal.log(
            "fault.error",
            Some(&service),
            merge(details, json!({"error": format!("failed to clear: {e}")})),
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
            "proxy.create",
            Some(&entry.spec.name),
            json!({
                "server": url, "embedded": embedded.is_some(), "proxy": created.name,
                "listen": created.listen, "upstream": created.upstream,
            }),
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
                        "proxy.restore",
                        None,
                        json!({"proxy": h.name, "removed_toxic": name, "error": r.err().map(|e| e.to_string())}),
                    );
                }
                if !p.enabled {
                    let r = h.client.set_enabled(&h.name, true).await;
                    journal.log(
                        "proxy.restore",
                        None,
                        json!({"proxy": h.name, "enabled": true, "error": r.err().map(|e| e.to_string())}),
                    );
                }
            }
            Err(e) => journal.log(
                "proxy.error",
                None,
                json!({"proxy": h.name, "error": format!("failed to read the proxy at teardown: {e}")}),
            ),
        }
        let r = h.client.delete(&h.name).await;
        journal.log(
            "proxy.delete",
            None,
            json!({"proxy": h.name, "error": r.err().map(|e| e.to_string())}),
        );
        if let Some(s) = self.embedded {
            s.stop().await;
        }
    }
}

/// Turn SIGINT/SIGTERM and the budget into a cut of the run; a second signal exits at once
/// (the reaper then kills every service group).
fn watch_interrupts(
    cut: CancellationToken,
    why: Arc<std::sync::Mutex<Option<Cut>>>,
    journal: Journal,
    budget: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let (c, w, j) = (cut.clone(), why.clone(), journal.clone());
    tasks.push(tokio::spawn(async move {
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
                eprintln!("shakedown: second {name}, exiting now");
                std::process::exit(130);
            }
            j.log("interrupt", None, json!({"signal": name}));
            eprintln!("shakedown: {name} received, tearing down (again to exit at once)");
            w.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(Cut::Signal);
            c.cancel();
        }
    }));
    tasks.push(tokio::spawn(async move {
        tokio::time::sleep(budget).await;
        journal.log(
            "budget.exceeded",
            None,
            json!({"budget_ms": budget.as_secs_f64() * 1e3}),
        );
        why.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(Cut::Budget);
        cut.cancel();
    }));
    tasks
}

/// `a` with the keys of `b` added (both objects; anything else in `b` is ignored).
fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
