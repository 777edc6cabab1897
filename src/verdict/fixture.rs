//! Hand-written run directories for the checks' unit tests: typed records in, the files of
//! the run-directory contract out, judged exactly as `shakedown report DIR` judges them.
//!
//! [`Run::new`] is a run that went well: one service `main`, ready before load, one request
//! every [`GAP`] ms from [`LOAD_START`] to [`LOAD_END`], each ok in [`TOOK`] ms, a clean
//! teardown. Tests change only what their check is about.

use super::{RunRecords, Status, Verdict};
use crate::record::{
    AccuracyRecord, Event, FaultRef, InputRecord, LoadSummary, LogLine, Outcome, Phase,
    PlannedFault, RequestRecord, Sample, Timeline, What, files,
};
use crate::suite::{Dur, Expect, OfflineSpec};
use serde_json::json;

/// The one service of a fixture run.
pub const SERVICE: &str = "main";
/// When load starts, ms.
pub const LOAD_START: f64 = 1000.0;
/// When load ends, ms.
pub const LOAD_END: f64 = 11_000.0;
/// Time between arrivals, ms.
pub const GAP: f64 = 100.0;
/// How long a request takes, ms (a timeout: [`TIMEOUT`]).
pub const TOOK: f64 = 20.0;
/// The request timeout, ms.
pub const TIMEOUT: f64 = 5000.0;

/// One request, sent at `start_ms`, ending `took` ms later.
pub fn req(id: u64, start_ms: f64, took: f64, outcome: Outcome) -> RequestRecord {
    RequestRecord {
        sent_ms: outcome.was_sent().then_some(start_ms),
        done_ms: start_ms + took,
        status: match outcome {
            Outcome::Ok => Some(200),
            Outcome::Http4xx => Some(400),
            Outcome::Http5xx => Some(503),
            _ => None,
        },
        outcome,
        ..RequestRecord::new(id, start_ms)
    }
}

/// A run directory to be, as typed records.
#[derive(Clone)]
pub struct Run {
    pub expect: Expect,
    pub has_load: bool,
    pub timeline: Timeline,
    pub events: Vec<Event>,
    pub requests: Vec<RequestRecord>,
    pub samples: Vec<Sample>,
    pub input: Vec<InputRecord>,
    /// `service-main.log`, line by line.
    pub log: Vec<LogLine>,
    /// The suite's `[accuracy]`.
    pub accuracy: Option<crate::suite::AccuracySpec>,
    /// `accuracy.jsonl`.
    pub probes: Vec<AccuracyRecord>,
    /// An offline suite's batch: what it expects, its prompts file's lines and its outputs
    /// file's lines (`None`: no outputs file).
    pub offline: Option<(OfflineSpec, Vec<String>, Option<Vec<String>>)>,
    /// A soak's settings (`None`: not a soak).
    pub stability: Option<crate::suite::StabilitySpec>,
}

impl Run {
    /// What every run has, load or not: its start, the service spawned, and teardown.
    /// Every check is on; windows are 1 s.
    pub fn bare() -> Run {
        let expect = Expect {
            recover_within: Some(Dur::from_secs(3)),
            steady_success_rate: Some(0.95),
            fail_fast: Some(Dur::from_secs(2)),
            api_conformant: true,
            ..Expect::default()
        };
        let timeline = Timeline {
            suite: "fixture".into(),
            seed: 7,
            started_at: "2025-01-01T00:00:00Z".into(),
            ..Timeline::default()
        };
        Run {
            expect,
            has_load: true,
            timeline,
            events: Vec::new(),
            requests: Vec::new(),
            samples: Vec::new(),
            input: Vec::new(),
            log: Vec::new(),
            accuracy: None,
            probes: Vec::new(),
            offline: None,
            stability: None,
        }
        .event(0.0, What::Phase(Phase::Start { seed: 7 }))
        .event(
            10.0,
            What::ServiceSpawn {
                pid: 100,
                generation: 0,
                argv: vec!["serve".into()],
            },
        )
        .event(LOAD_END + 200.0, What::Phase(Phase::Teardown))
        .event(
            LOAD_END + 400.0,
            What::ServiceTeardown {
                took_ms: 100.0,
                seen: 2,
                survivors: Vec::new(),
                escaped: Vec::new(),
            },
        )
        .event(LOAD_END + 500.0, What::Phase(Phase::Judge))
    }

    /// A run that went well: ready, load with every request ok, a clean teardown.
    pub fn new() -> Run {
        let arrivals = ((LOAD_END - LOAD_START) / GAP) as u64;
        let mut run = Run::bare()
            .event(
                500.0,
                What::ServiceReady {
                    after_ms: 490.0,
                    generation: 0,
                },
            )
            .event(
                LOAD_START,
                What::Phase(Phase::Baseline {
                    arrivals,
                    duration_ms: LOAD_END - LOAD_START,
                }),
            )
            .event(
                LOAD_END + 100.0,
                What::LoadFinished(LoadSummary {
                    scheduled: arrivals,
                    sent: arrivals,
                    ..LoadSummary::default()
                }),
            )
            .event(
                LOAD_END + 300.0,
                What::ServiceExit {
                    pid: 100,
                    generation: 0,
                    code: None,
                    signal: Some(15),
                    uptime_ms: LOAD_END,
                    during_teardown: true,
                },
            );
        run.timeline.load_start_ms = LOAD_START;
        run.timeline.load_end_ms = LOAD_END;
        run.timeline.arrivals = arrivals;
        run.requests = (0..arrivals)
            .map(|id| req(id, LOAD_START + id as f64 * GAP, TOOK, Outcome::Ok))
            .collect();
        run
    }

    /// An offline suite's run: the batch answered `input` (prompts file lines) with `output`
    /// and exited with `code` after `took_ms`, bound by `within_ms`.
    pub fn offline(
        input: &[&str],
        output: Option<&[&str]>,
        code: i32,
        took_ms: f64,
        within_ms: Option<u64>,
    ) -> Run {
        let mut run = Run::bare().event(
            took_ms,
            What::CommandExit {
                code: Some(code),
                signal: None,
                took_ms,
                timeout_ms: 30_000.0,
                timed_out: false,
                interrupted: false,
            },
        );
        run.has_load = false;
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        run.offline = Some((
            OfflineSpec {
                input: "prompts.jsonl".into(),
                count: None,
                within: within_ms.map(Dur::from_millis),
            },
            lines(input),
            output.map(lines),
        ));
        run
    }

    /// A run that ended before load with `error` (a service never ready).
    pub fn before_load(error: &str) -> Run {
        Run::bare().event(
            LOAD_END + 600.0,
            What::RunError {
                error: error.into(),
            },
        )
    }

    /// Add an event at `t_ms` (about `main` when it is a service's or a fault's).
    pub fn event(mut self, t_ms: f64, what: What) -> Run {
        let about_service = matches!(
            what,
            What::ServiceSpawn { .. }
                | What::ServiceReady { .. }
                | What::ServiceNotReady { .. }
                | What::ServiceExit { .. }
                | What::ServiceRestart { .. }
                | What::ServiceTeardown { .. }
                | What::FaultInject { .. }
                | What::FaultClear { .. }
                | What::FaultError { .. }
        );
        self.events.push(Event {
            t_ms,
            service: about_service.then(|| SERVICE.to_string()),
            what,
        });
        self
    }

    /// Plan a fault on `main` from `at_ms` until `until_ms` (= `at_ms`: an instant fault).
    pub fn planned_fault(mut self, at_ms: f64, until_ms: f64) -> Run {
        let index = self.timeline.faults.len();
        self.timeline.faults.push(PlannedFault {
            index,
            kind: if until_ms > at_ms {
                "process.pause"
            } else {
                "process.kill"
            }
            .into(),
            name: None,
            service: SERVICE.into(),
            describe: format!("fault {index}"),
            at_ms,
            until_ms,
            startup: false,
        });
        self
    }

    /// A fault as planned, injected on time and (unless instant) cleared on time.
    pub fn fault(self, at_ms: f64, until_ms: f64) -> Run {
        let index = self.timeline.faults.len();
        let run = self.planned_fault(at_ms, until_ms).inject(index, at_ms);
        if until_ms > at_ms {
            run.clear(index, until_ms)
        } else {
            run
        }
    }

    /// Fault `index` takes effect at `t_ms`.
    pub fn inject(self, index: usize, t_ms: f64) -> Run {
        let fault = self.fault_ref(index);
        self.event(
            t_ms,
            What::FaultInject {
                fault,
                details: Default::default(),
            },
        )
    }

    /// Fault `index` is cleared at `t_ms`.
    pub fn clear(self, index: usize, t_ms: f64) -> Run {
        let fault = self.fault_ref(index);
        self.event(
            t_ms,
            What::FaultClear {
                fault,
                details: Default::default(),
            },
        )
    }

    fn fault_ref(&self, index: usize) -> FaultRef {
        self.timeline.faults[index].fault_ref()
    }

    /// `main`'s process exits on its own at `t_ms` with `code`.
    pub fn exit(self, t_ms: f64, code: i32) -> Run {
        self.event(
            t_ms,
            What::ServiceExit {
                pid: 100,
                generation: 0,
                code: Some(code),
                signal: None,
                uptime_ms: t_ms,
                during_teardown: false,
            },
        )
    }

    /// SIGINT at `t_ms`: no request starts later, those open are aborted, load ends there.
    pub fn interrupt(mut self, t_ms: f64) -> Run {
        self.requests.retain(|q| q.start_ms() < t_ms);
        for q in self.requests.iter_mut().filter(|q| q.done_ms > t_ms) {
            q.done_ms = t_ms;
            q.outcome = Outcome::Aborted;
        }
        let n = self.requests.len() as u64;
        let aborted = self
            .requests
            .iter()
            .filter(|q| q.outcome == Outcome::Aborted);
        let summary = LoadSummary {
            scheduled: n,
            sent: n,
            dropped: 0,
            aborted: aborted.count() as u64,
        };
        for e in &mut self.events {
            if let What::LoadFinished(s) = &mut e.what {
                (e.t_ms, *s) = (t_ms + 10.0, summary.clone());
            }
        }
        self.event(
            t_ms,
            What::Interrupt {
                signal: "SIGINT".into(),
            },
        )
    }

    /// Every request sent in `[from_ms, to_ms)` ends with `outcome` (a timeout: after [`TIMEOUT`]).
    pub fn outcome(mut self, from_ms: f64, to_ms: f64, outcome: Outcome) -> Run {
        let took = if outcome == Outcome::Timeout {
            TIMEOUT
        } else {
            TOOK
        };
        for q in self
            .requests
            .iter_mut()
            .filter(|q| (from_ms..to_ms).contains(&q.start_ms()))
        {
            *q = req(q.id, q.start_ms(), took, outcome);
        }
        self
    }

    /// Every request sent in `[from_ms, to_ms)` streams `tokens` tokens, its first `ttft_ms`
    /// after sending, and ends `took_ms` after sending.
    pub fn stream(
        mut self,
        from_ms: f64,
        to_ms: f64,
        ttft_ms: f64,
        took_ms: f64,
        tokens: u32,
    ) -> Run {
        for q in self
            .requests
            .iter_mut()
            .filter(|q| (from_ms..to_ms).contains(&q.start_ms()))
        {
            let sent = q.start_ms();
            q.first_token_ms = Some(sent + ttft_ms);
            q.done_ms = sent + took_ms;
            q.tokens = Some(tokens);
            q.chunks = tokens;
        }
        self
    }

    /// `[accuracy]` with three probes (`What is 2 + 3?` equals `5`, contains `42`, regex
    /// `^-3$`), `min` and `after_recovery`.
    pub fn accuracy(mut self, min: f64, after_recovery: bool) -> Run {
        use crate::suite::{AccuracyProbe, AccuracySpec, Answer};
        let probe = |prompt: &str, expect: Answer| AccuracyProbe {
            prompt: prompt.into(),
            expect,
        };
        self.accuracy = Some(AccuracySpec {
            probes_file: "probes.jsonl".into(),
            probes: vec![
                probe("What is 2 + 3?", Answer::Equals("5".into())),
                probe("What is 7 * 6?", Answer::Contains(vec!["42".into()])),
                probe("What is 10 - 13?", Answer::Regex("^-3$".into())),
            ],
            min,
            max_tokens: 16,
            timeout: Dur::from_secs(30),
            after_recovery,
        });
        self
    }

    /// The answers of one round of probes, in probe order (`None`: an error, no answer),
    /// sent 10 ms apart from `t_ms`.
    pub fn answers(
        mut self,
        round: crate::record::ProbeRound,
        t_ms: f64,
        answers: &[Option<&str>],
    ) -> Run {
        for (index, a) in answers.iter().enumerate() {
            let sent_ms = t_ms + index as f64 * 10.0;
            self.probes.push(AccuracyRecord {
                round,
                index,
                sent_ms,
                done_ms: sent_ms + 5.0,
                status: Some(if a.is_some() { 200 } else { 503 }),
                answer: a.map(str::to_string),
                error: a.is_none().then(|| "engine dead".to_string()),
            });
        }
        self
    }

    /// Health polls every 250 ms in `[from_ms, to_ms)`, each answering `status`.
    pub fn health(mut self, from_ms: f64, to_ms: f64, status: u16) -> Run {
        let mut t = from_ms;
        while t < to_ms {
            self.samples.push(Sample::Health {
                t_ms: t,
                service: SERVICE.into(),
                status: Some(status),
                latency_ms: 1.0,
            });
            t += 250.0;
        }
        self
    }

    /// A soak that went well ([`Run::new`]): 1 s of warm-up, 3 s windows, nothing allowed to
    /// grow, stuck after 2 s.
    pub fn soak() -> Run {
        let mut run = Run::new();
        run.stability = Some(crate::suite::StabilitySpec {
            warmup: Dur::from_secs(1),
            sample_every: Dur::from_millis(100),
            window: Dur::from_secs(3),
            report_every: Dur::from_secs(60),
            max_failures: 0,
            memory_growth: 0,
            gpu_memory_growth: 0,
            fd_growth: 0.0,
            thread_growth: 0.0,
            latency_drift: 25.0,
            throughput_drift: 10.0,
            stuck_after: Dur::from_secs(2),
            confidence: 0.99,
            metrics: None,
        });
        run
    }

    /// Process samples of `main` (two processes, the second a steady 10 MiB, 4 fds, 1 thread)
    /// every 100 ms through the load; the first's RSS, fds and threads are `f(t_ms)`.
    pub fn procs(mut self, f: impl Fn(f64) -> (u64, u32, u32)) -> Run {
        let mut t = LOAD_START;
        while t < LOAD_END {
            let (rss, fds, threads) = f(t);
            let p = |pid, rss_bytes, fds, threads| crate::record::ProcSample {
                pid,
                ppid: 1,
                cmdline: format!("proc{pid}"),
                rss_bytes,
                pss_bytes: Some(rss_bytes),
                fds: Some(fds),
                threads: Some(threads),
            };
            self.samples.push(Sample::Procs {
                t_ms: t,
                service: SERVICE.into(),
                procs: vec![p(100, rss, fds, threads), p(101, 10 << 20, 4, 1)],
            });
            t += 100.0;
        }
        self
    }

    /// `/metrics` samples every 100 ms through the load: `f(t_ms)` is (running, tokens).
    pub fn engine_metrics(mut self, f: impl Fn(f64) -> (f64, f64)) -> Run {
        if let Some(st) = &mut self.stability {
            st.metrics = Some(crate::suite::MetricsSpec {
                path: "/metrics".into(),
                running: Some("running".into()),
                tokens: Some("tokens".into()),
                extra: Vec::new(),
            });
        }
        let mut t = LOAD_START;
        while t < LOAD_END {
            let (running, tokens) = f(t);
            self.samples.push(Sample::Metrics {
                t_ms: t,
                service: SERVICE.into(),
                values: [
                    ("running".to_string(), running),
                    ("tokens".to_string(), tokens),
                ]
                .into(),
            });
            t += 100.0;
        }
        self
    }

    /// A line of `service-main.log` (`stream`: `out`, `err`, or `---` for a supervisor note).
    pub fn log(mut self, t_ms: f64, stream: &str, text: &str) -> Run {
        self.log.push(LogLine {
            t_ms,
            stream: stream.into(),
            text: text.into(),
        });
        self
    }

    /// Write the run into a fresh temporary directory: events in time order, as a journal
    /// writes them.
    pub fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = self.has_load.then(|| json!({"rate": 1000.0 / GAP}));
        let mut suite = json!({
            "meta": {"level": "L5"}, "load": load, "expect": self.expect, "accuracy": self.accuracy,
            "stability": self.stability,
        });
        let mut events = self.events.clone();
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        let log: Vec<String> = self
            .log
            .iter()
            .map(|l| LogLine::format(l.t_ms, &l.stream, &l.text) + "\n")
            .collect();
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write a fixture file");
        };
        write(files::SUITE, suite.to_string());
        write(files::TIMELINE, json!(self.timeline).to_string());
        write(files::EVENTS, jsonl(&events));
        write(files::REQUESTS, jsonl(&self.requests));
        write(files::SAMPLES, jsonl(&self.samples));
        if !self.probes.is_empty() {
            write(files::ACCURACY, jsonl(&self.probes));
        }
        if !self.input.is_empty() {
            write(files::INPUT, jsonl(&self.input));
        }
        write(&files::service_log(SERVICE), log.concat());
        if let Some((spec, input, output)) = &self.offline {
            suite["meta"]["kind"] = json!("offline");
            suite["offline"] = json!(spec);
            let lines = |l: &[String]| l.iter().map(|s| format!("{s}\n")).collect::<String>();
            write(files::OFFLINE_INPUT, lines(input));
            if let Some(output) = output {
                write(files::OFFLINE_OUTPUT, lines(output));
            }
        }
        write(files::SUITE, suite.to_string());
        dir
    }

    /// Every verdict, judged from the written directory.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let dir = self.write();
        super::judge(&RunRecords::read(dir.path()).expect("the fixture reads back"))
            .expect("the fixture is judged")
    }

    /// The verdict of `check`, if the run has one.
    pub fn verdict(&self, check: &str) -> Option<Verdict> {
        self.verdicts().into_iter().find(|v| v.check == check)
    }

    /// The verdict of `check`, asserted to have `status` and `id` and a summary containing `needle`.
    #[track_caller]
    pub fn assert(&self, check: &str, status: Status, id: &str, needle: &str) -> Verdict {
        let v = self
            .verdict(check)
            .unwrap_or_else(|| panic!("no verdict for {check}"));
        assert_eq!((v.status, v.id.as_str()), (status, id), "{v:#?}");
        assert!(v.summary.contains(needle), "`{needle}` not in {v:#?}");
        v
    }
}

/// Values as JSON lines.
fn jsonl<T: serde::Serialize>(values: &[T]) -> String {
    values.iter().map(|v| json!(v).to_string() + "\n").collect()
}
