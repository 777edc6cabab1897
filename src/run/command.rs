//! A command suite's run: the argv runs as the one supervised service `command` (its own
//! process group, a parent-death signal, output in `service-command.log`, the reaper told),
//! is killed at its timeout, and is torn down with the same proof as any service; then its
//! test results are read into `tests.jsonl`, so judging reads them from the run directory.
//!
//! The timeout (the budget at most) ends the command, not a budget watcher: a command killed
//! at it is the `command.timeout` verdict, not an infrastructure error.
//!
//! An offline suite's batch runs the same way; its prompts are copied into the run directory
//! first (`{input}`) and its outputs are written there (`{output}`), so judging them reads
//! only the run directory. It has no test results to import.

use super::{Faults, LoadPlan, Run, RunError, watch_signals};
use crate::gpu::nvml::{DeviceMem, Gpus};
use crate::import;
use crate::record::{Jsonl, Phase, TestRecord, What, files, read_log};
use crate::report::Report;
use crate::service::{ServiceError, Supervisor};
use crate::suite::{CommandSpec, Parse, ServiceSpec};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How the command's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It exited on its own.
    Exited,
    /// Its timeout came first.
    TimedOut,
    /// The run was interrupted first.
    Interrupted,
}

impl Run {
    /// Run the suite's command to its end or its timeout, tear it down, import its results,
    /// judge and report.
    pub(super) async fn run_command(
        mut self,
        spec: CommandSpec,
        faults: Faults,
        gpus: Option<Arc<Gpus>>,
        gpu_before: Option<Vec<DeviceMem>>,
    ) -> Result<Report, RunError> {
        self.announce();
        let signals = watch_signals(
            self.cut.clone(),
            self.journal.clone(),
            self.progress.clone(),
        );
        let budget = self.suite.meta.budget.0;
        let status = self
            .progress
            .spawn(self.journal.live(), self.clock, budget, true);
        let stop_status = || status.iter().for_each(tokio::task::JoinHandle::abort);
        let service = self.command_service(&spec);
        let sup = match Supervisor::new(
            std::slice::from_ref(&service),
            &self.dir,
            self.journal.clone(),
        ) {
            Ok(s) => s,
            Err(e) => {
                signals.abort();
                stop_status();
                self.journal.log(
                    None,
                    What::RunError {
                        error: e.to_string(),
                    },
                );
                return self.judge_and_report();
            }
        };
        // From here on, whatever fails, teardown runs and the report is written.
        let started_wall = SystemTime::now();
        let started = Instant::now();
        let timeout = spec.timeout.0.min(self.suite.meta.budget.0);
        let waited = self
            .launch_and_wait(&sup, &spec, timeout, faults, gpus.clone())
            .await;
        let exited_after = started.elapsed();
        self.teardown(&sup, gpus.as_deref(), gpu_before.as_deref())
            .await;
        let error = match waited {
            Ok(ended) => {
                let took = match ended {
                    Ended::Exited => exited_after,
                    // It ended in teardown.
                    Ended::TimedOut | Ended::Interrupted => started.elapsed(),
                };
                let code = self.record_exit(&sup, ended, took, timeout);
                let tests = match self.suite.offline {
                    Some(_) => 0,
                    None => self.import_results(&spec, started_wall),
                };
                // Shells and launchers (`sh -c`, pyenv's shims) exit 127 for a program they
                // cannot find: as much a missing program as one `exec` cannot find.
                (code == Some(127) && tests == 0).then(|| self.not_found())
            }
            Err(e) => Some(e),
        };
        drop(sup);
        signals.abort();
        stop_status();
        self.journal.log(None, What::Phase(Phase::Judge));
        if let Some(error) = error {
            self.journal.log(None, What::RunError { error });
        }
        self.judge_and_report()
    }

    /// The command as a service: no readiness to wait for, no restart, no health path.
    fn command_service(&self, spec: &CommandSpec) -> ServiceSpec {
        // Absolute, since the command may run in another directory.
        let dir = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let path = |name: &str| dir.join(name).display().to_string();
        // Validation lets each kind use only its own placeholders.
        let command = spec
            .argv
            .iter()
            .map(|a| {
                a.replace("{junit}", &path(files::COMMAND_JUNIT))
                    .replace("{input}", &path(files::OFFLINE_INPUT))
                    .replace("{output}", &path(files::OFFLINE_OUTPUT))
                    .replace("{run_dir}", &dir.display().to_string())
            })
            .collect();
        spec.service(command)
    }

    /// Start the command and wait for its exit, its timeout or an interrupt, sampling its
    /// process tree meanwhile; the error that kept it from starting, if one did.
    async fn launch_and_wait(
        &mut self,
        sup: &Supervisor,
        spec: &CommandSpec,
        timeout: Duration,
        faults: Faults,
        gpus: Option<Arc<Gpus>>,
    ) -> Result<Ended, String> {
        if let Some(cwd) = &spec.cwd
            && !cwd.is_dir()
        {
            return Err(format!(
                "failed to start the command: its working directory {} does not exist",
                cwd.display()
            ));
        }
        if let Some(offline) = &self.suite.offline {
            let to = self.dir.join(files::OFFLINE_INPUT);
            std::fs::copy(&offline.input, &to).map_err(|e| {
                format!(
                    "failed to copy the prompts {} into the run directory: {e}",
                    offline.input.display()
                )
            })?;
        }
        let path = self.dir.join(files::SAMPLES);
        let samples = Jsonl::create(&path)
            .map_err(|e| format!("failed to create {}: {e}", path.display()))?;
        let svc = sup
            .service(files::COMMAND)
            .ok_or("the command is not supervised")?;
        sup.launch_all().map_err(|e| launch_error(&e))?;
        // Seen from its first instant, however short its life: teardown proves it gone.
        let _ = svc.tree();
        self.say(format!(
            "  command started (pid {}): {}",
            svc.main_pid().unwrap_or(0),
            svc.argv.join(" ")
        ));
        let stop = tokio_util::sync::CancellationToken::new();
        let observers = sup.observe(samples, stop.clone(), gpus, &Default::default());
        // An offline batch's faults, planned from its start; the command's window is the
        // run's middle, as load's is for services.
        let start = self.clock.now_ms();
        let window = LoadPlan {
            arrivals: crate::load::arrival::Schedule::none(),
            target: None,
            duration_ms: timeout.as_secs_f64() * 1e3,
        };
        let scheduled = self.plan_faults(faults, &window, start)?;
        let fault_tasks = self.spawn_faults(sup, scheduled, None, start, &stop, None);
        let ended = tokio::select! {
            () = svc.exited() => Ended::Exited,
            () = tokio::time::sleep(timeout) => Ended::TimedOut,
            () = self.cut.cancelled() => Ended::Interrupted,
        };
        // Faults not yet due are called off; one injected is cleared.
        stop.cancel();
        for t in fault_tasks {
            let _ = t.await;
        }
        for o in observers {
            let _ = o.await;
        }
        Ok(ended)
    }

    /// The `command.exit` event: how it ended and after how long; its exit code, if any.
    fn record_exit(
        &self,
        sup: &Supervisor,
        ended: Ended,
        took: Duration,
        timeout: Duration,
    ) -> Option<i32> {
        let status = sup.service(files::COMMAND).and_then(|s| s.exit_status());
        let (code, signal) = (
            status.and_then(|s| s.code()),
            status.and_then(|s| s.signal()),
        );
        let took_ms = took.as_secs_f64() * 1e3;
        self.say(match ended {
            Ended::Exited => format!(
                "  command exited ({}) after {:.1} s",
                code.map_or_else(
                    || format!("signal {}", signal.unwrap_or(0)),
                    |c| format!("code {c}")
                ),
                took_ms / 1e3
            ),
            Ended::TimedOut => format!(
                "  command killed at its timeout of {}",
                humantime::format_duration(timeout)
            ),
            Ended::Interrupted => "  command stopped: the run was interrupted".into(),
        });
        self.journal.log(
            Some(files::COMMAND),
            What::CommandExit {
                code,
                signal,
                took_ms,
                timeout_ms: timeout.as_secs_f64() * 1e3,
                timed_out: ended == Ended::TimedOut,
                interrupted: ended == Ended::Interrupted,
            },
        );
        code
    }

    /// Read the command's results into `tests.jsonl` and record what was read
    /// (`command.results`); how many tests it ran.
    fn import_results(&self, spec: &CommandSpec, started: SystemTime) -> usize {
        let (from, file, rows, error) = match self.read_results(spec, started) {
            Ok((Some(path), rows)) => (Some("junit"), Some(path.display().to_string()), rows, None),
            Ok((None, rows)) => (Some("libtest"), None, rows, None),
            Err(e) => (None, None, Vec::new(), Some(e)),
        };
        let path = self.dir.join(files::TESTS);
        let written =
            Jsonl::create(&path).and_then(|out| rows.iter().try_for_each(|t| out.write(t)));
        let error = match written {
            Ok(()) => error,
            Err(e) => Some(format!("failed to write {}: {e}", path.display())),
        };
        let failed = rows.iter().filter(|t| t.failed()).count();
        self.say(match (&error, from) {
            (Some(e), _) => format!("  no test results: {e}"),
            (None, from) => format!(
                "  {} test(s) read from {}, {failed} failed",
                rows.len(),
                from.unwrap_or("?")
            ),
        });
        self.journal.log(
            Some(files::COMMAND),
            What::CommandResults {
                from: from.map(str::to_string),
                file,
                tests: rows.len() as u64,
                failed: failed as u64,
                error,
            },
        );
        rows.len()
    }

    /// The command's results: from its JUnit file (its path returned), else from libtest's
    /// lines in its output, as `parse` says.
    fn read_results(
        &self,
        spec: &CommandSpec,
        started: SystemTime,
    ) -> Result<(Option<PathBuf>, Vec<TestRecord>), String> {
        let kept = self.dir.join(files::COMMAND_JUNIT);
        let path = spec.junit.clone().unwrap_or_else(|| kept.clone());
        if spec.parse != Parse::Libtest {
            let read_error = |e: &dyn std::fmt::Display| {
                format!("failed to read the JUnit file {}: {e}", path.display())
            };
            if let Some(text) = written_since(&path, started).map_err(|e| read_error(&e))? {
                // The run directory keeps what was imported, wherever the command wrote it.
                if path != kept {
                    let _ = std::fs::write(&kept, &text);
                }
                let rows = import::junit(&text).map_err(|e| read_error(&e))?;
                return Ok((Some(path), rows));
            }
            if spec.parse == Parse::Junit {
                return Err(format!(
                    "the command wrote no JUnit file at {} during this run",
                    path.display()
                ));
            }
        }
        let log_path = self.dir.join(files::service_log(files::COMMAND));
        let log = read_log(&log_path)
            .map_err(|e| format!("failed to read {}: {e}", log_path.display()))?;
        let lines = log
            .iter()
            .filter(|l| !l.is_note())
            .map(|l| (l.stream.as_str(), l.text.as_str()));
        match import::libtest(lines) {
            Some(rows) => Ok((None, rows)),
            None if spec.parse == Parse::Libtest => {
                Err("the command printed no libtest result lines (`test NAME ... ok`)".to_string())
            }
            None => Err(format!(
                "the command wrote no JUnit file (at {}) and printed no libtest result lines \
                 (`test NAME ... ok`)",
                path.display()
            )),
        }
    }
}

impl Run {
    /// The error of a command that exited 127, with what it said last.
    fn not_found(&self) -> String {
        let last = read_log(&self.dir.join(files::service_log(files::COMMAND)))
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|l| !l.is_note() && !l.text.trim().is_empty())
            .map_or_else(
                || "; it printed nothing".to_string(),
                |l| format!("; it said: {}", l.text.trim()),
            );
        format!(
            "failed to run the command: it exited with code 127, which shells and launchers \
             give a program they cannot find{last}"
        )
    }
}

/// The text of `path` if it was written during this run (a file left from an earlier run is
/// not this run's result); `None` when absent or older.
fn written_since(path: &Path, started: SystemTime) -> std::io::Result<Option<String>> {
    let modified = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Whole seconds, for file systems that keep no finer times.
    let floor = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    if floor(modified) < floor(started) {
        return Ok(None);
    }
    let bytes = std::fs::read(path)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Why the command could not start, in words that say what to do.
fn launch_error(e: &ServiceError) -> String {
    match e {
        ServiceError::Spawn {
            program, source, ..
        } if source.kind() == std::io::ErrorKind::NotFound => format!(
            "failed to start the command: `{program}` was not found (is it installed and on PATH?)"
        ),
        ServiceError::Spawn {
            program, source, ..
        } => format!("failed to start the command `{program}`: {source}"),
        other => format!("failed to start the command: {other}"),
    }
}
