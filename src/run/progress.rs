//! What a run tells the person watching it, on stderr: the permanent progress lines (`say`)
//! and, on a terminal, one live status line redrawn a few times a second below them.
//!
//! Three ways out: nothing but the summary (`--quiet`); plain lines (stderr is not a
//! terminal, `TERM=dumb`, or the framework's own diagnostics are on: a redrawn line and
//! `tracing`'s lines do not mix), with a plain status line every minute; or the live line
//! (indicatif), with every plain line printed above it. No colour in any of them, so
//! `NO_COLOR` has nothing to turn off here. The status comes from the run's
//! [`Live`] counters, never from re-reading the run directory.

use crate::record::{Clock, Live, Status};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the live line is redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// How often a run with plain lines prints its status (long runs only see one).
const PLAIN_STATUS: Duration = Duration::from_secs(60);

/// Where a run's progress goes; cheap to clone into tasks.
#[derive(Clone)]
pub(super) struct Progress {
    out: Out,
}

#[derive(Clone)]
enum Out {
    /// `--quiet`: nothing but the summary.
    Quiet,
    /// Plain lines on stderr.
    Lines,
    /// Plain lines above a live status line.
    Bar(ProgressBar),
}

impl Progress {
    /// The progress of a run: none unless `wanted`; a live line where stderr is a terminal
    /// that can redraw and diagnostics are off.
    pub(super) fn new(wanted: bool) -> Progress {
        let out = if !wanted {
            Out::Quiet
        } else if live_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_finish(ProgressFinish::AndClear);
            // `{spinner}` and `{msg}` only: no style, so no colour.
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            Out::Bar(bar)
        } else {
            Out::Lines
        };
        Progress { out }
    }

    /// Whether progress lines are printed at all.
    pub(super) fn on(&self) -> bool {
        !matches!(self.out, Out::Quiet)
    }

    /// A permanent progress line (above the live line, if there is one).
    pub(super) fn say(&self, line: &str) {
        if self.on() {
            self.notice(line);
        }
    }

    /// A line printed even under `--quiet` (an interrupt), above the live line.
    pub(super) fn notice(&self, line: &str) {
        match &self.out {
            Out::Bar(bar) => bar.println(line),
            Out::Quiet | Out::Lines => eprintln!("{line}"),
        }
    }

    /// Keep the status shown until aborted: the live line redrawn, or (with plain lines and
    /// `periodic`) a status line every minute; `None` under `--quiet`.
    pub(super) fn spawn(
        &self,
        live: Arc<Live>,
        clock: Clock,
        budget: Duration,
        periodic: bool,
    ) -> Option<JoinHandle<()>> {
        let budget_ms = budget.as_secs_f64() * 1e3;
        let status = move || line(&live.status(clock.now_ms()), budget_ms);
        match self.out.clone() {
            Out::Quiet => None,
            Out::Lines if !periodic => None,
            Out::Lines => Some(tokio::spawn(async move {
                let mut every = tokio::time::interval(PLAIN_STATUS);
                every.tick().await;
                loop {
                    every.tick().await;
                    eprintln!("  status: {}", status());
                }
            })),
            Out::Bar(bar) => Some(tokio::spawn(async move {
                let mut every = tokio::time::interval(REDRAW);
                loop {
                    every.tick().await;
                    bar.set_message(status());
                    bar.tick();
                }
            })),
        }
    }

    /// Take the live line away, before the summary.
    pub(super) fn finish(&self) {
        if let Out::Bar(bar) = &self.out {
            bar.finish_and_clear();
        }
    }
}

/// Whether stderr is a terminal that can redraw a line, with the framework's diagnostics off.
fn live_terminal() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && !tracing::enabled!(target: "shakedown", tracing::Level::INFO)
}

/// The status line: `load 12.3 s / 30 s · budget 41 s / 300 s · 1234 ok 5 failed ·
/// faults: network.flicker[2] · restarts 1` (faults and restarts only when there are some).
pub(super) fn line(s: &Status, budget_ms: f64) -> String {
    let mut parts = vec![match s.load {
        // Load's own clock while it runs (its phases share it).
        Some((at, len)) if matches!(s.phase.as_str(), "load" | "faults" | "recovery") => {
            format!("{} {:.1} s / {:.0} s", s.phase, at / 1e3, len / 1e3)
        }
        _ => format!("{} {:.1} s", s.phase, s.phase_ms / 1e3),
    }];
    parts.push(format!(
        "budget {:.0} s / {:.0} s",
        s.run_ms / 1e3,
        budget_ms / 1e3
    ));
    parts.push(format!("{} ok {} failed", s.ok, s.failed));
    if !s.faults.is_empty() {
        parts.push(format!("faults: {}", s.faults.join(", ")));
    }
    if s.restarts > 0 {
        parts.push(format!("restarts {}", s.restarts));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: &str) -> Status {
        Status {
            phase: phase.into(),
            phase_ms: 1234.0,
            load: Some((12_340.0, 30_000.0)),
            ok: 1234,
            failed: 5,
            restarts: 1,
            faults: vec!["network.flicker[2]".into(), "process.pause[3]".into()],
            run_ms: 41_000.0,
        }
    }

    #[test]
    fn a_status_line_in_load_shows_the_load_clock() {
        assert_eq!(
            line(&status("faults"), 300_000.0),
            "faults 12.3 s / 30 s · budget 41 s / 300 s · 1234 ok 5 failed \
             · faults: network.flicker[2], process.pause[3] · restarts 1"
        );
    }

    #[test]
    fn a_status_line_outside_load_shows_the_phase_clock_and_no_empty_parts() {
        let s = Status {
            load: None,
            restarts: 0,
            faults: Vec::new(),
            ..status("start")
        };
        assert_eq!(
            line(&s, 60_000.0),
            "start 1.2 s · budget 41 s / 60 s · 1234 ok 5 failed"
        );
        let s = Status {
            restarts: 0,
            faults: Vec::new(),
            ..status("teardown")
        };
        assert_eq!(
            line(&s, 60_000.0),
            "teardown 1.2 s · budget 41 s / 60 s · 1234 ok 5 failed"
        );
    }
}
