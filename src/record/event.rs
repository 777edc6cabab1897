//! `events.jsonl`: every action and observation of the orchestrator, supervisor and faults,
//! as one typed enum. Writer and judge share these types, so a field cannot be spelt two ways.
//!
//! The JSON shape is the one run directories have always had — `{"t_ms", "kind", "service",
//! ...fields}` — so older run directories still read; a kind this build does not know reads
//! as [`What::Unknown`] and is ignored by every check.

use super::Clock;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One line of `events.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// When, ms after `t0`.
    pub t_ms: f64,
    /// Which service, where it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What happened (the `kind` field and its data).
    #[serde(flatten)]
    pub what: What,
}

/// The marks of a run's phases (`kind = "phase"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The run began.
    Start { seed: u64 },
    /// Every service is ready and load is planned.
    Baseline { arrivals: u64, duration_ms: f64 },
    /// The first planned fault's instant.
    Faults,
    /// The last planned fault's end.
    Recovery,
    /// Teardown begins: service output from here on is written while stopping.
    Teardown,
    /// Judging begins.
    Judge,
}

/// What the load generator did (`load.finished`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Arrivals in the schedule that came due.
    #[serde(default)]
    pub scheduled: u64,
    /// Requests handed to a sending task (each owes exactly one record).
    #[serde(default)]
    pub sent: u64,
    /// Arrivals past `max_in_flight`.
    #[serde(default)]
    pub dropped: u64,
    /// Requests cut by an interrupt.
    #[serde(default)]
    pub aborted: u64,
}

/// A process of a service tree that outlived teardown or escaped its process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survivor {
    pub pid: i32,
    pub cmdline: String,
}

/// A process seen outside its service's process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escape {
    pub pid: i32,
    pub pgid: i32,
    pub cmdline: String,
    /// Still alive when teardown began (and so killed by it).
    pub at_teardown: bool,
}

/// Which fault an event is about: its index in the suite, kind and description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRef {
    /// Position in the suite's `[[fault]]` list.
    pub index: usize,
    /// The fault kind (absent where the fault could not even be started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// What it does, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe: Option<String>,
}

/// One flip of a flickering network: which proxy, for how long, or why it failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flip {
    pub proxy: String,
    /// How long until the next flip, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Why the flip could not be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything that can happen in a run, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum What {
    /// A phase mark.
    #[serde(rename = "phase")]
    Phase(Phase),
    /// SIGINT or SIGTERM reached the framework; the run is cut short.
    #[serde(rename = "interrupt")]
    Interrupt { signal: String },
    /// The suite's budget ran out; the run is cut short.
    #[serde(rename = "budget.exceeded")]
    BudgetExceeded { budget_ms: f64 },
    /// A guardrail of the suite tripped (`guardrail`: `error_rate`, `memory`); the run is cut
    /// short and ends `aborted`.
    #[serde(rename = "guardrail.tripped")]
    GuardrailTripped { guardrail: String, reason: String },
    /// The run could not go on (a service never ready, a record that cannot be written).
    #[serde(rename = "run.error")]
    RunError { error: String },
    /// A service failed to start under a start-up fault (judged, not an error).
    #[serde(rename = "run.start_failed")]
    RunStartFailed { error: String },
    /// The suite cannot run on this machine.
    #[serde(rename = "run.skipped")]
    RunSkipped { reason: String },
    /// A service process was started.
    #[serde(rename = "service.spawn")]
    ServiceSpawn {
        pid: i32,
        generation: u32,
        #[serde(default)]
        argv: Vec<String>,
    },
    /// A service generation answered its readiness probe.
    #[serde(rename = "service.ready")]
    ServiceReady { after_ms: f64, generation: u32 },
    /// A service was not ready within its deadline.
    #[serde(rename = "service.not_ready")]
    ServiceNotReady {
        /// The deadline, seconds.
        within: f64,
    },
    /// A service's main process exited.
    #[serde(rename = "service.exit")]
    ServiceExit {
        pid: i32,
        generation: u32,
        code: Option<i32>,
        signal: Option<i32>,
        #[serde(default)]
        uptime_ms: f64,
        /// The framework was stopping it.
        #[serde(default)]
        during_teardown: bool,
    },
    /// A service was restarted by its policy.
    #[serde(rename = "service.restart")]
    ServiceRestart { generation: u32, backoff_ms: f64 },
    /// A restart could not spawn the service.
    #[serde(rename = "service.spawn_failed")]
    ServiceSpawnFailed { error: String },
    /// A process of the service's tree left its process group.
    #[serde(rename = "service.stray")]
    ServiceStray {
        pid: i32,
        pgid: i32,
        cmdline: String,
    },
    /// How escaped descendants are tracked: `subreaper`, or `samples` (with why not).
    #[serde(rename = "service.tracking")]
    ServiceTracking {
        mode: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A process re-parented to shakedown was taken as the service's (`attributed_by`:
    /// `group`, `environment` or `guess`).
    #[serde(rename = "service.adopted")]
    ServiceAdopted {
        pid: i32,
        pgid: i32,
        cmdline: String,
        attributed_by: String,
    },
    /// Teardown began for a service: `signal` to its main process (`mode = "main"`) or its
    /// whole group (`"group"`), and to each escaped process; up to `grace_ms` to exit.
    #[serde(rename = "service.stop")]
    ServiceStop {
        pid: Option<i32>,
        signal: String,
        mode: String,
        grace_ms: f64,
    },
    /// What was left got SIGKILL: the group (`pid`, if the main process was left; `members`
    /// alive then) and the escaped processes still alive; `why`: `grace` (it ran out) or
    /// `main_exited` (the main process is gone, the rest is killed at once).
    #[serde(rename = "service.kill")]
    ServiceKill {
        pid: Option<i32>,
        #[serde(default)]
        escaped: Vec<i32>,
        after_ms: f64,
        #[serde(default)]
        why: Option<String>,
        #[serde(default)]
        members: Vec<i32>,
    },
    /// A service was stopped; `survivors` outlived it (then were killed); `escaped` left
    /// its process group at some point.
    #[serde(rename = "service.teardown")]
    ServiceTeardown {
        took_ms: f64,
        /// Processes ever seen in its tree.
        seen: u64,
        #[serde(default)]
        survivors: Vec<Survivor>,
        #[serde(default)]
        escaped: Vec<Escape>,
    },
    /// A fault with `reinject` is about to act again (its `round`, from 1), its service having
    /// restarted and become ready; its window begins here.
    #[serde(rename = "fault.reinject")]
    FaultReinject {
        #[serde(flatten)]
        fault: FaultRef,
        round: u32,
    },
    /// A fault took effect; `details` are the fault's own.
    #[serde(rename = "fault.inject")]
    FaultInject {
        #[serde(flatten)]
        fault: FaultRef,
        #[serde(flatten)]
        details: Map<String, Value>,
    },
    /// A fault was cleared (`early`: the run was cut first).
    #[serde(rename = "fault.clear")]
    FaultClear {
        #[serde(flatten)]
        fault: FaultRef,
        #[serde(flatten)]
        details: Map<String, Value>,
    },
    /// A fault could not be injected or cleared.
    #[serde(rename = "fault.error")]
    FaultError {
        #[serde(flatten)]
        fault: FaultRef,
        error: String,
    },
    /// The network went down during a flicker.
    #[serde(rename = "network.down")]
    NetworkDown(Flip),
    /// The network came back during a flicker.
    #[serde(rename = "network.up")]
    NetworkUp(Flip),
    /// The load generator finished.
    #[serde(rename = "load.finished")]
    LoadFinished(LoadSummary),
    /// A perf test's sweep point began: its warm-ups, then its measured requests.
    #[serde(rename = "perf.point_start")]
    PerfPointStart {
        point: String,
        warmups: u64,
        requests: u64,
    },
    /// A perf test's sweep point ended (its measured requests).
    #[serde(rename = "perf.point_end")]
    PerfPointEnd {
        point: String,
        #[serde(flatten)]
        summary: LoadSummary,
    },
    /// The run's proxy was created on `server` (the embedded one, or an external Toxiproxy).
    #[serde(rename = "proxy.create")]
    ProxyCreate {
        server: String,
        embedded: bool,
        proxy: String,
        listen: String,
        upstream: String,
    },
    /// After load, a toxic was removed (`removed_toxic`) or the proxy re-enabled (`enabled`).
    #[serde(rename = "proxy.restore")]
    ProxyRestore {
        proxy: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removed_toxic: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        #[serde(default)]
        error: Option<String>,
    },
    /// The run's proxy was deleted (`error`: it could not be).
    #[serde(rename = "proxy.delete")]
    ProxyDelete {
        proxy: String,
        #[serde(default)]
        error: Option<String>,
    },
    /// The proxy could not be read back at teardown.
    #[serde(rename = "proxy.error")]
    ProxyError { proxy: String, error: String },
    /// GPU memory after teardown, against before the run (where NVML loads).
    #[serde(rename = "gpu.after_teardown")]
    GpuAfterTeardown(Map<String, Value>),
    /// A command suite's command ended: on its own, at its timeout, or stopped by an interrupt.
    #[serde(rename = "command.exit")]
    CommandExit {
        code: Option<i32>,
        signal: Option<i32>,
        /// From start to exit, ms.
        took_ms: f64,
        /// Its timeout (the suite's budget at most), ms.
        timeout_ms: f64,
        /// It was killed at its timeout.
        timed_out: bool,
        /// It was stopped because the run was interrupted.
        #[serde(default)]
        interrupted: bool,
    },
    /// A command suite's test results were read (`tests.jsonl`).
    #[serde(rename = "command.results")]
    CommandResults {
        /// `junit` or `libtest`; `None` when neither gave any result.
        from: Option<String>,
        /// The JUnit file read, if one was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        /// Tests imported.
        tests: u64,
        /// Of which failed or errored.
        failed: u64,
        /// Why no results could be read (no JUnit file, not valid XML, no libtest lines).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The determinism probe (`[expect] deterministic`): the same seeded, greedy request
    /// sent twice after load, and the two texts.
    #[serde(rename = "api.determinism")]
    Determinism {
        /// The first answer's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first: Option<String>,
        /// The second answer's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        second: Option<String>,
        /// Why a probe got no answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A kind this build does not know (a newer or older writer).
    #[serde(other)]
    Unknown,
}

impl What {
    /// The fault an event is about, if any.
    pub fn fault(&self) -> Option<&FaultRef> {
        match self {
            What::FaultInject { fault, .. }
            | What::FaultReinject { fault, .. }
            | What::FaultClear { fault, .. }
            | What::FaultError { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// A JSON value as the free-form details of an event: an object's fields, anything else
    /// under `value`. Names the envelope or a [`FaultRef`] owns are kept as `data_NAME`, so
    /// details can never shadow them.
    pub fn map(value: Value) -> Map<String, Value> {
        let mut m = match value {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        for key in ["t_ms", "kind", "service", "index", "fault", "describe"] {
            if let Some(v) = m.remove(key) {
                m.insert(format!("data_{key}"), v);
            }
        }
        m
    }
}

/// The event journal: [`Event`]s stamped with the run clock, one flushed line each.
#[derive(Debug, Clone)]
pub struct Journal {
    file: super::Jsonl,
    clock: Clock,
    /// What the live display shows, kept up to date by every event logged.
    live: std::sync::Arc<super::Live>,
}

impl Journal {
    /// A journal writing to `path` with times from `clock`.
    pub fn create(path: &std::path::Path, clock: Clock) -> std::io::Result<Self> {
        Ok(Journal {
            file: super::Jsonl::create(path)?,
            clock,
            live: Default::default(),
        })
    }

    /// The run's live state, which every event logged here updates.
    pub fn live(&self) -> std::sync::Arc<super::Live> {
        self.live.clone()
    }

    /// The run clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Record `what` now, about `service` if given.
    pub fn log(&self, service: Option<&str>, what: What) {
        let event = Event {
            t_ms: self.clock.now_ms(),
            service: service.map(str::to_string),
            what,
        };
        self.live.see(event.t_ms, &event.what);
        // A journal that cannot be written is not worth stopping a teardown for.
        if let Err(e) = self.file.write(&event) {
            tracing::warn!("failed to write an event: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as run directories of earlier builds wrote them read as the same events.
    #[test]
    fn reads_what_earlier_builds_wrote() {
        let lines = [
            r#"{"t_ms":1.0,"kind":"phase","phase":"start","seed":7}"#,
            r#"{"t_ms":2.0,"kind":"phase","phase":"baseline","arrivals":10,"duration_ms":500.0}"#,
            r#"{"t_ms":3.0,"kind":"service.exit","service":"main","pid":5,"generation":0,"code":null,"signal":9,"uptime_ms":10.0,"during_teardown":false}"#,
            r#"{"t_ms":4.0,"kind":"fault.inject","service":"main","index":0,"fault":"process.kill","describe":"kill","killed":[{"pid":6}]}"#,
            r#"{"t_ms":5.0,"kind":"load.finished","scheduled":3,"sent":3,"dropped":0,"aborted":0}"#,
            r#"{"t_ms":6.0,"kind":"service.teardown","service":"main","took_ms":1.0,"seen":2,"survivors":[{"pid":9,"cmdline":"x"}]}"#,
            r#"{"t_ms":7.0,"kind":"fault.error","service":"main","index":1,"error":"no service"}"#,
            r#"{"t_ms":8.0,"kind":"something.new","x":1}"#,
        ];
        let events: Vec<Event> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("an earlier line reads"))
            .collect();
        assert_eq!(
            events[1].what,
            What::Phase(Phase::Baseline {
                arrivals: 10,
                duration_ms: 500.0
            })
        );
        assert!(matches!(
            events[2].what,
            What::ServiceExit {
                signal: Some(9),
                during_teardown: false,
                ..
            }
        ));
        match &events[3].what {
            What::FaultInject { fault, details } => {
                assert_eq!(fault.index, 0);
                assert_eq!(fault.fault.as_deref(), Some("process.kill"));
                assert_eq!(details["killed"][0]["pid"], 6);
                assert!(!details.contains_key("index"), "{details:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[4].what,
            What::LoadFinished(LoadSummary {
                scheduled: 3,
                sent: 3,
                ..Default::default()
            })
        );
        assert_eq!(events[6].what.fault().map(|f| f.index), Some(1));
        assert_eq!(events[7].what, What::Unknown);
        // And each reads back from what this build writes.
        for e in &events[..7] {
            let again: Event = serde_json::from_str(&serde_json::to_string(e).expect("writes"))
                .expect("reads back");
            assert_eq!(again.what, e.what);
            assert_eq!(again.service, e.service);
        }
    }
}
