//! A soak of a stability configuration (`weekly.json`) read into a suite.
//!
//! A soak is a service suite written flat: its `service`, `load`, `faults`, `expect` and
//! `proxy` are the suite format's tables, read by the same readers (the soak is rebuilt as a
//! suite-format tree, every node keeping its place), plus what only a soak has: `duration`,
//! `warmup`, `sample_every`, `window`, `report_every`, `thresholds` and `metrics`
//! ([`StabilitySpec`]). A fault with `every` repeats through the soak.

use super::check::{Field, Res, Tbl};
use super::limits::{MAX_REPEATS, MIN_REPORT_EVERY, MIN_SAMPLE_EVERY};
use super::load::{from_tree, opt};
use super::tree::{Node, Val};
use super::{CheckFault, Suite};
use crate::units::{Dur, parse_bytes};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Keys a soak may have.
const KEYS: &[&str] = &[
    "name",
    "description",
    "level",
    "hardware",
    "requires",
    "budget",
    "seed",
    "duration",
    "warmup",
    "sample_every",
    "window",
    "report_every",
    "service",
    "load",
    "faults",
    "expect",
    "proxy",
    "guardrail",
    "thresholds",
    "metrics",
];

/// Keys of `thresholds`.
const THRESHOLDS: &[&str] = &[
    "failures",
    "memory_growth",
    "gpu_memory_growth",
    "fd_growth",
    "thread_growth",
    "latency_drift",
    "throughput_drift",
    "stuck_after",
    "confidence",
];

/// What a soak adds to a service suite: its warm-up, sampling and stability thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilitySpec {
    /// The start of load left out of every trend and drift (cache warm-up, first compiles).
    pub warmup: Dur,
    /// Time between samples of memory, descriptors, threads and `/metrics`.
    pub sample_every: Dur,
    /// Length of the first and last windows after warm-up that the drift checks compare.
    pub window: Dur,
    /// A partial report is judged and written this often while the soak runs.
    pub report_every: Dur,
    /// Failed requests allowed over the whole soak (`stability.failures`).
    pub max_failures: u64,
    /// Host memory growth allowed per 24 h, bytes (the tree's sum and each process).
    pub memory_growth: u64,
    /// GPU memory growth allowed per 24 h, bytes.
    pub gpu_memory_growth: u64,
    /// Open file descriptors gained per 24 h allowed.
    pub fd_growth: f64,
    /// Threads gained per 24 h allowed.
    pub thread_growth: f64,
    /// How much worse (percent) the last window's p50 or p99 latency may be than the first's.
    pub latency_drift: f64,
    /// How much lower (percent) the last window's throughput may be than the first's.
    pub throughput_drift: f64,
    /// Requests in flight and no token for this long is a stuck engine.
    pub stuck_after: Dur,
    /// One-sided confidence of the lower bound a growth must exceed (0.5 to 0.9999).
    pub confidence: f64,
    /// `/metrics` series sampled from the entry service; `None`: none.
    #[serde(default)]
    pub metrics: Option<MetricsSpec>,
}

/// Which `/metrics` series a soak samples, and which of them say whether the engine moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSpec {
    /// The HTTP path of the Prometheus text (`/metrics`).
    pub path: String,
    /// The gauge of requests being generated (`vllm:num_requests_running`).
    pub running: Option<String>,
    /// The counter of generated tokens (`vllm:generation_tokens_total`).
    pub tokens: Option<String>,
    /// Further series recorded (and plotted), not judged.
    pub extra: Vec<String>,
}

impl MetricsSpec {
    /// Every series name sampled.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.running
            .iter()
            .chain(&self.tokens)
            .chain(&self.extra)
            .map(String::as_str)
    }
}

impl Suite {
    /// This soak as if written to last `d`: warm-up, windows, partial reports and fault
    /// instants keep their share of the load; sampling keeps its share down to
    /// [`MIN_SAMPLE_EVERY`]; the budget keeps its time beyond the load. A fault's own length
    /// (`for`) and the thresholds (per 24 h, per window, `stuck_after`) stay as written: a
    /// flicker is still a flicker, a leak still projected per day. Any other suite is
    /// returned unchanged.
    pub fn scaled(mut self, d: Dur) -> Suite {
        let (Some(st), Some(load)) = (self.stability.as_mut(), self.load.as_mut()) else {
            return self;
        };
        let from = load.duration.0.as_secs_f64();
        if from <= 0.0 || d.0.is_zero() {
            return self;
        }
        let f = d.0.as_secs_f64() / from;
        let scale = |x: Dur| Dur(x.0.mul_f64(f));
        let overhead = self.meta.budget.0.saturating_sub(load.duration.0);
        load.duration = d;
        self.meta.budget = Dur(d.0 + overhead);
        st.warmup = scale(st.warmup);
        st.window = scale(st.window).max(Dur::from_millis(1));
        st.report_every = Dur(scale(st.report_every).0.max(MIN_REPORT_EVERY));
        st.sample_every = Dur(scale(st.sample_every).0.max(MIN_SAMPLE_EVERY));
        for fault in self.faults.iter_mut().filter(|f| !f.startup) {
            fault.at = scale(fault.at);
        }
        self
    }
}

/// The suite of one soak (merged over the file's defaults).
pub(crate) fn suite(top: &Tbl, test: &Field, path: &Path, check: &CheckFault) -> Res<Suite> {
    let t = test.table(format!("`{}`", test.key), Some(KEYS))?;
    let duration_f = t.req("duration", "how long the soak lasts, such as \"12h\"")?;
    let duration = duration_f.pos_dur()?;
    let tree = suite_tree(top, &t, test, duration)?;
    let mut suite = from_tree(path, &tree, check)?;
    suite.stability = Some(stability(&t, duration)?);
    Ok(suite)
}

/// The soak rebuilt as a suite-format tree: `[suite]` from its own keys (and the file's
/// `level` and `seed`), `[load]` with the soak's `duration`, `[[fault]]` with every repeat.
fn suite_tree(top: &Tbl, t: &Tbl, test: &Field, duration: Dur) -> Res<Node> {
    let at = &test.node.at;
    let node = |val: Val| Node {
        at: at.clone(),
        val,
    };
    let mut meta: Vec<(String, Node)> = Vec::new();
    for key in [
        "name",
        "description",
        "level",
        "hardware",
        "requires",
        "budget",
        "seed",
    ] {
        if let Some(f) = t.get(key) {
            meta.push((key.into(), f.node.clone()));
        }
    }
    for key in ["level", "seed"] {
        if t.get(key).is_none()
            && let Some(f) = top.get(key)
        {
            meta.push((key.into(), f.node.clone()));
        }
    }
    if t.get("budget").is_none() {
        // Start-up and teardown need time of their own beyond the load.
        let budget = Dur(duration.0 + Duration::from_secs(600));
        meta.push(("budget".into(), node(Val::Str(budget.to_string()))));
    }
    let mut entries = vec![("suite".to_string(), node(Val::Table(meta)))];
    for key in ["service", "expect", "proxy", "guardrail"] {
        if let Some(f) = t.get(key) {
            entries.push((key.into(), f.node.clone()));
        }
    }
    let load = t.req(
        "load",
        "a table: the suite format's [load] without `duration`",
    )?;
    let lt = load.table("`load`", None)?;
    if let Some(d) = lt.get("duration") {
        return Err(d.fail("is the soak's own `duration`, expected it beside `load`"));
    }
    let mut load_node = load.node.clone();
    if let Val::Table(e) = &mut load_node.val {
        e.push((
            "duration".into(),
            Node {
                at: t.get("duration").map_or(at.clone(), |f| f.node.at.clone()),
                val: Val::Str(duration.to_string()),
            },
        ));
    }
    entries.push(("load".into(), load_node));
    if let Some(f) = t.get("faults") {
        entries.push(("fault".into(), node(Val::Array(faults(&f, duration)?))));
    }
    Ok(node(Val::Table(entries)))
}

/// The soak's faults, each with `every` repeated through the soak: at `at` (default `every`),
/// then every `every` while before the end of load.
fn faults(f: &Field, duration: Dur) -> Res<Vec<Node>> {
    let mut out = Vec::new();
    for item in f.items("a list of faults (the suite format's [[fault]] entries)")? {
        let t = item.table(format!("`{}`", item.key), None)?;
        let Some(every_f) = t.get("every") else {
            out.push(item.node.clone());
            continue;
        };
        let every = every_f.pos_dur()?;
        let first = opt(t.get("at"), Field::dur)?.unwrap_or(every);
        let repeats = if first.0 < duration.0 {
            1 + ((duration.0 - first.0).as_secs_f64() / every.0.as_secs_f64()).ceil() as u64
        } else {
            0
        };
        if repeats > MAX_REPEATS {
            return Err(every_f.expected(format_args!(
                "at most {MAX_REPEATS} repeats within the soak's duration of {duration}"
            )));
        }
        let Val::Table(entries) = &item.node.val else {
            continue;
        };
        for k in 0..repeats {
            let at = Dur(first.0 + every.0.mul_f64(k as f64));
            if at.0 >= duration.0 {
                break;
            }
            let mut e: Vec<(String, Node)> = entries
                .iter()
                .filter(|(k, _)| k != "every" && k != "at")
                .cloned()
                .collect();
            e.push((
                "at".into(),
                Node {
                    at: every_f.node.at.clone(),
                    val: Val::Str(at.to_string()),
                },
            ));
            out.push(Node {
                at: item.node.at.clone(),
                val: Val::Table(e),
            });
        }
    }
    Ok(out)
}

/// The soak's own keys.
fn stability(t: &Tbl, duration: Dur) -> Res<StabilitySpec> {
    let within = |f: &Field, d: Dur| -> Res<Dur> {
        if d.0 >= duration.0 {
            return Err(f.expected(format_args!(
                "a duration shorter than the soak's {duration}"
            )));
        }
        Ok(d)
    };
    let warmup = match t.get("warmup") {
        Some(f) => within(&f, f.dur()?)?,
        None => Dur(duration.0 / 10),
    };
    let window = match t.get("window") {
        Some(f) => within(&f, f.pos_dur()?)?,
        None => Dur((duration.0 - warmup.0) / 10),
    };
    if warmup.0 + window.0 > duration.0 {
        let f = t.get("window").or_else(|| t.get("warmup"));
        if let Some(f) = f {
            return Err(f.fail(format_args!(
                "leaves no room: warm-up {warmup} + window {window} exceed the soak's {duration}"
            )));
        }
    }
    let sample_every = match t.get("sample_every") {
        Some(f) => {
            let d = within(&f, f.pos_dur()?)?;
            if d.0 < MIN_SAMPLE_EVERY {
                return Err(f.expected(format_args!("at least {}", Dur(MIN_SAMPLE_EVERY))));
            }
            d
        }
        None => Dur((duration.0 / 2000).max(MIN_SAMPLE_EVERY)),
    };
    let report_every = match t.get("report_every") {
        Some(f) => {
            let d = f.pos_dur()?;
            if d.0 < MIN_REPORT_EVERY {
                return Err(f.expected(format_args!("at least {}", Dur(MIN_REPORT_EVERY))));
            }
            d
        }
        None => Dur((duration.0 / 12).max(MIN_REPORT_EVERY)),
    };
    let mut spec = StabilitySpec {
        warmup,
        sample_every,
        window,
        report_every,
        max_failures: 0,
        memory_growth: 256 << 20,
        gpu_memory_growth: 1 << 30,
        fd_growth: 100.0,
        thread_growth: 50.0,
        latency_drift: 25.0,
        throughput_drift: 10.0,
        stuck_after: Dur::from_secs(30),
        confidence: 0.99,
        metrics: None,
    };
    if let Some(f) = t.get("thresholds") {
        thresholds(&f, &mut spec)?;
    }
    spec.metrics = opt(t.get("metrics"), metrics)?;
    Ok(spec)
}

/// `thresholds`: each key overrides its default.
fn thresholds(f: &Field, s: &mut StabilitySpec) -> Res<()> {
    let t = f.table("`thresholds`", Some(THRESHOLDS))?;
    if let Some(f) = t.get("failures") {
        s.max_failures = f.int(0, u64::MAX)?;
    }
    for (key, slot) in [
        ("memory_growth", &mut s.memory_growth),
        ("gpu_memory_growth", &mut s.gpu_memory_growth),
    ] {
        if let Some(f) = t.get(key) {
            let expected = "a size per 24 h such as \"64MiB\"";
            *slot = parse_bytes(f.str(expected)?).map_err(|_| f.expected(expected))?;
        }
    }
    for (key, slot, what) in [
        ("fd_growth", &mut s.fd_growth, "descriptors per 24 h"),
        ("thread_growth", &mut s.thread_growth, "threads per 24 h"),
        ("latency_drift", &mut s.latency_drift, "a percentage"),
        ("throughput_drift", &mut s.throughput_drift, "a percentage"),
    ] {
        if let Some(f) = t.get(key) {
            let expected = format!("a number of {what}, 0 or more");
            match f.number(&expected)? {
                n if n >= 0.0 => *slot = n,
                _ => return Err(f.expected(expected)),
            }
        }
    }
    if let Some(f) = t.get("stuck_after") {
        s.stuck_after = f.pos_dur()?;
    }
    if let Some(f) = t.get("confidence") {
        let expected = "a number from 0.5 to 0.9999";
        match f.number(expected)? {
            c if (0.5..=0.9999).contains(&c) => s.confidence = c,
            _ => return Err(f.expected(expected)),
        }
    }
    Ok(())
}

/// `metrics`: `{"path": "/metrics", "running": NAME, "tokens": NAME, "extra": [NAME, ...]}`.
fn metrics(f: &Field) -> Res<MetricsSpec> {
    let t = f.table("`metrics`", Some(&["path", "running", "tokens", "extra"]))?;
    let name = |key: &str| -> Res<Option<String>> {
        opt(t.get(key), |f| {
            f.str("a series name such as \"vllm:num_requests_running\"")
                .map(str::to_string)
        })
    };
    let path = match t.get("path") {
        Some(f) => {
            let p = f.str("an HTTP path such as \"/metrics\"")?;
            if !p.starts_with('/') {
                return Err(f.expected("an HTTP path such as \"/metrics\""));
            }
            p.to_string()
        }
        None => "/metrics".into(),
    };
    let extra = match t.get("extra") {
        Some(f) => f
            .items("a list of series names")?
            .iter()
            .map(|i| i.str("a series name (a string)").map(str::to_string))
            .collect::<Res<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(MetricsSpec {
        path,
        running: name("running")?,
        tokens: name("tokens")?,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{FaultSpec, ParamError, SuiteError, load_all};

    fn no_check(_: &FaultSpec) -> Result<(), ParamError> {
        Ok(())
    }

    fn load(text: &str) -> Result<Vec<Suite>, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("weekly.json");
        std::fs::write(&path, text).expect("write");
        load_all(&path, &no_check).map_err(|mut e| {
            e.file = "weekly.json".into();
            e
        })
    }

    const SERVICE: &str = r#""service": {"command": ["serve", "{port}"]}"#;

    fn soak(test: &str) -> String {
        format!(
            r#"{{"kind": "soak", "level": "L5", "seed": 4,
  "defaults": {{"duration": "12h", "warmup": "1h", "window": "2h", {SERVICE},
    "load": {{"rate": 5}}}},
  "tests": [{test}]}}"#
        )
    }

    #[test]
    fn a_soak_reads_into_a_service_suite_with_its_settings() {
        let suites = load(&soak(
            r#"{"name": "a", "thresholds": {"memory_growth": "64MiB", "failures": 3},
               "faults": [{"kind": "network.flicker", "every": "4h", "for": "2s"}]}"#,
        ))
        .expect("loads");
        let s = &suites[0];
        assert_eq!((s.meta.name.as_str(), s.meta.seed), ("a", 4));
        assert_eq!(s.meta.budget, Dur::from_secs(12 * 3600 + 600));
        let load = s.load.as_ref().expect("load");
        assert_eq!(load.duration, Dur::from_secs(12 * 3600));
        let st = s.stability.as_ref().expect("a soak");
        assert_eq!((st.memory_growth, st.max_failures), (64 << 20, 3));
        assert_eq!(st.window, Dur::from_secs(7200));
        // Every 4 h within 12 h: at 4 h and 8 h.
        let at: Vec<u64> = s.faults.iter().map(|f| f.at.0.as_secs()).collect();
        assert_eq!(at, [4 * 3600, 8 * 3600]);
    }

    #[test]
    fn a_soak_s_own_level_and_seed_win_over_the_file_s() {
        let s = &load(&soak(r#"{"name": "a", "level": "L4", "seed": 9}"#)).expect("loads")[0];
        assert_eq!((s.meta.level, s.meta.seed), (crate::suite::Level::L4, 9));
    }

    #[test]
    fn scaling_keeps_proportions_and_the_fault_lengths() {
        let s = load(&soak(
            r#"{"name": "a", "faults": [{"kind": "x", "every": "4h", "for": "2s"}]}"#,
        ))
        .expect("loads")
        .remove(0)
        .scaled(Dur::from_secs(120));
        let st = s.stability.as_ref().expect("a soak");
        assert_eq!(
            (st.warmup, st.window),
            (Dur::from_secs(10), Dur::from_secs(20))
        );
        assert_eq!(st.sample_every, Dur(MIN_SAMPLE_EVERY));
        assert_eq!(s.meta.budget, Dur::from_secs(720));
        let f = &s.faults[0];
        assert_eq!(
            (f.at, f.duration),
            (Dur::from_secs(40), Some(Dur::from_secs(2)))
        );
    }

    #[test]
    fn errors_point_at_the_soak_key() {
        // (the test, the text the error points at, what it says)
        let cases = [
            (
                r#"{"name": "a", "colour": 1}"#,
                r#""colour""#,
                "unknown key `colour` in `tests[0]`",
            ),
            (
                r#"{"name": "a", "warmup": "13h"}"#,
                r#""warmup""#,
                "`warmup` in `tests[0]` is \"13h\", expected a duration shorter than the soak's 43200s",
            ),
            (
                r#"{"name": "a", "load": {"duration": "1h"}}"#,
                r#""duration""#,
                "`duration` in `load` is the soak's own `duration`",
            ),
            (
                r#"{"name": "a", "thresholds": {"latency_drift": -1}}"#,
                r#""latency_drift""#,
                "`latency_drift` in `thresholds` is -1, expected a number of a percentage, 0 or more",
            ),
            (
                r#"{"name": "a", "faults": [{"kind": "x", "every": "1ms"}]}"#,
                r#""every""#,
                "is \"1ms\", expected at most 10000 repeats",
            ),
        ];
        for (test, at, says) in cases {
            let text = soak(test);
            let (line, row) = text
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains(test))
                .expect("the test's line");
            let col = row.find(at).expect("the key") + 1;
            let e = load(&text).expect_err(test).to_string();
            let want = format!("weekly.json:{}:{col}: ", line + 1);
            assert!(
                e.starts_with(&want) && e.contains(says),
                "{e}\nwanted: {want}{says}"
            );
        }
    }
}
