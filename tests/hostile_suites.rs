//! Hostile and careless suite files cannot take the framework down: generated and mutated
//! suites never panic the loader, every error is located, and any suite it accepts starts its
//! load at once with planning memory that does not grow with the load.

mod util;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use shakedown::fault;
use shakedown::load::arrival::Schedule;
use shakedown::suite::limits::{MAX_ARRIVALS, MAX_NAME_BYTES, MAX_RATE};
use shakedown::suite::{self, Suite};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};
use util::{Case, jsonl, read_json};

/// Counts the bytes each thread holds, so a test can bound what one call allocates.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed to `System` unchanged; only thread-local counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most bytes `f` held at once beyond what the thread held before, and its result.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (PEAK.with(Cell::get) - base, out)
}

/// What planning an accepted suite's load costs, checked: the first arrival within a second
/// (in practice microseconds) and a few KiB at most, whatever the rate and duration.
fn plan_is_cheap(s: &Suite) -> Result<(), TestCaseError> {
    let Some(load) = &s.load else { return Ok(()) };
    let begun = Instant::now();
    let (bytes, (planned, first)) = peak_bytes(|| {
        let schedule = Schedule::of(load, s.meta.seed);
        let first = schedule.iter().next();
        (schedule.len(), first)
    });
    prop_assert!(
        begun.elapsed() < Duration::from_secs(1),
        "{:?}",
        begun.elapsed()
    );
    prop_assert!(bytes <= 4096, "planning held {bytes} bytes");
    prop_assert!(planned as f64 <= MAX_ARRIVALS + 1.0, "{planned}");
    prop_assert!(first.is_none_or(|t| t < load.duration.as_ms()));
    Ok(())
}

/// What `validate` promises about any suite it accepts.
fn accepted(s: &Suite) -> Result<(), TestCaseError> {
    prop_assert!((1..=MAX_NAME_BYTES).contains(&s.meta.name.len()));
    for svc in &s.services {
        let told = svc
            .command
            .iter()
            .chain(svc.env.values())
            .any(|a| a.contains("{port}"));
        prop_assert!(told || svc.port.is_some(), "{} has no port", svc.name);
    }
    if let Some(l) = &s.load {
        prop_assert!(l.rate > 0.0 && l.rate <= MAX_RATE);
        prop_assert!(l.rate * l.duration.0.as_secs_f64() <= MAX_ARRIVALS);
        prop_assert!(l.duration < s.meta.budget);
    }
    for f in s.faults.iter().filter(|f| !f.startup) {
        prop_assert!(f.at < s.meta.budget);
        if let Some(l) = &s.load {
            prop_assert!(f.at < l.duration || f.after_load, "{} at {}", f.kind, f.at);
        }
    }
    plan_is_cheap(s)
}

/// The loader's answer to `text` as if read from `path`: no panic (proptest reports one as a
/// failure), a located one-line error, or a suite that keeps every promise.
fn judge(path: &Path, text: &str) -> Result<(), TestCaseError> {
    match suite::load_str(path, text, &fault::check) {
        Ok(s) => accepted(&s),
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(e.line >= 1 && e.col >= 1, "{shown}");
            let prefix = format!("{}:{}:{}: ", e.file.display(), e.line, e.col);
            prop_assert!(shown.starts_with(&prefix), "{shown}");
            prop_assert!(!shown.contains('\n') && shown.len() < 2000, "{shown}");
            if e.file == path {
                prop_assert!(e.line <= text.lines().count() + 1, "{shown}");
            }
            Ok(())
        }
    }
}

/// Suites to mutate: the shipped and test suites, and the largest loads allowed.
const SEEDS: &[&str] = &[
    "tests/suites/valid/full.toml",
    "tests/suites/valid/full.json",
    "tests/suites/valid/malformed_input.toml",
    "suites/l2/online_serving/mock_smoke.toml",
    "suites/l3/mock/mock_accuracy_perf.toml",
    "suites/l4/perf/load_lag_1000.toml",
    "suites/l5/reliability/mock_engine_kill.toml",
    "suites/l5/reliability/mock_network_flicker.toml",
    "suites/l5/reliability/mock_resource_pressure.toml",
    "suites/l5/reliability/gpu_preempt_vllm_under_load.toml",
    "suites/l5/reliability/vllm_cpu_engine_freeze.toml",
];

const BIG_TOML: &str = "[suite]\nname = \"big\"\nbudget = \"168h\"\nseed = 5\n\n[service]\n\
    command = [\"x\", \"--port\", \"{port}\"]\n\n[load]\nrate = 100000\narrival = \"poisson\"\n\
    duration = \"1000s\"\n\n[[fault]]\nkind = \"process.kill\"\nat = \"10s\"\n";

const BIG_JSON: &str = r#"{"suite": {"name": "big", "budget": "13h"},
 "service": {"command": ["x", "{port}"]},
 "load": {"rate": 2000, "arrival": "constant", "duration": "12h"}}"#;

fn seeds() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = SEEDS
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {p}: {e}"));
            (p.to_string(), text)
        })
        .collect();
    // As if next to the test suites, so `use` and corpus paths resolve as there.
    out.push(("tests/suites/valid/big.toml".into(), BIG_TOML.into()));
    out.push(("tests/suites/valid/big.json".into(), BIG_JSON.into()));
    out
}

/// One edit to a suite's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the i-th number (counted modulo how many there are).
    Number(usize, String),
    /// Replace the i-th duration string's content.
    Duration(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertLine(usize, String),
    Truncate(usize),
    Char(usize, char),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "0.5",
            "1e9",
            "1e300",
            "1e-300",
            "-0.0",
            "1e5",
            "100000",
            "100001",
            "65535",
            "65536",
            "4294967296",
            "9223372036854775807",
            "18446744073709551615",
            "nan",
            "inf",
        ])
        .prop_map(String::from),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:e}")),
        (0u32..200_000).prop_map(|n| n.to_string()),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0s",
            "1us",
            "10ms",
            "100000h",
            "168h",
            "169h",
            "1e9h",
            "-1s",
            "",
            "99999999999999999999999s",
            "1.5",
            "startup",
            "soon",
        ])
        .prop_map(String::from),
        (
            0u64..10_000_000,
            prop::sample::select(vec!["us", "ms", "s", "m", "min", "h"])
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "rate",
        "duration",
        "at",
        "for",
        "after_load",
        "port",
        "max_in_flight",
        "max_tokens",
        "name",
        "budget",
        "seed",
        "timeout",
        "window",
        "threads",
        "max",
        "entry",
        "command",
        "use",
        "kind",
        "down",
    ]);
    let value = prop_oneof![
        number(),
        duration().prop_map(|d| format!("{d:?}")),
        Just("true".to_string()),
        Just("[\"x\", \"{port}\"]".to_string()),
        Just("[\"1ms\", \"2ms\"]".to_string()),
        Just("{}".to_string()),
        "[a-z.{}]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[load]",
            "[[fault]]",
            "[service.x]",
            "[expect]",
            "[proxy]",
            "\"rate\": 1e9,",
        ])
        .prop_map(String::from),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = 0usize..10_000;
    prop_oneof![
        4 => (i.clone(), number()).prop_map(|(i, n)| Mutation::Number(i, n)),
        4 => (i.clone(), duration()).prop_map(|(i, d)| Mutation::Duration(i, d)),
        1 => i.clone().prop_map(Mutation::DeleteLine),
        1 => i.clone().prop_map(Mutation::DuplicateLine),
        3 => (i.clone(), line()).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        1 => i.clone().prop_map(Mutation::Truncate),
        1 => (i, any::<char>()).prop_map(|(i, c)| Mutation::Char(i, c)),
    ]
}

/// Replace the `i`-th match of `re` (modulo their count) in `text` with what `with` makes of it.
fn replace_nth(text: &str, re: &regex::Regex, i: usize, with: impl Fn(&str) -> String) -> String {
    let found: Vec<_> = re.captures_iter(text).collect();
    if found.is_empty() {
        return text.to_string();
    }
    let c = &found[i % found.len()];
    let Some(m) = c.get(1) else {
        return text.to_string();
    };
    format!(
        "{}{}{}",
        &text[..m.start()],
        with(m.as_str()),
        &text[m.end()..]
    )
}

fn apply(text: &str, m: &Mutation) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = |i: usize| i % lines.len().max(1);
    let joined = |v: Vec<&str>| v.join("\n") + "\n";
    match m {
        Mutation::Number(i, n) => {
            let re = regex::Regex::new(r"[=:\[,]\s*(-?\d[\d.eE+-]*)").expect("pattern");
            replace_nth(text, &re, *i, |_| n.clone())
        }
        Mutation::Duration(i, d) => {
            let re =
                regex::Regex::new(r#""(\d[\d.]*(?:us|ms|s|m|min|h)|startup)""#).expect("pattern");
            replace_nth(text, &re, *i, |_| d.clone())
        }
        Mutation::DeleteLine(i) => {
            let mut v = lines.clone();
            if !v.is_empty() {
                v.remove(at(*i));
            }
            joined(v)
        }
        Mutation::DuplicateLine(i) => {
            let mut v = lines.clone();
            if !v.is_empty() {
                v.insert(at(*i), lines[at(*i)]);
            }
            joined(v)
        }
        Mutation::InsertLine(i, l) => {
            let mut v = lines.clone();
            v.insert(at(*i).min(v.len()), l);
            joined(v)
        }
        Mutation::Truncate(i) => {
            let mut cut = i % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        Mutation::Char(i, c) => {
            let chars: Vec<char> = text.chars().collect();
            if chars.is_empty() {
                return c.to_string();
            }
            let k = i % chars.len();
            chars[..k]
                .iter()
                .chain(std::iter::once(c))
                .chain(&chars[k + 1..])
                .collect()
        }
    }
}

fn config() -> Config {
    Config {
        cases: 600,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_2025),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_suites_never_panic_and_every_error_is_located(
        which in 0..SEEDS.len() + 2,
        edits in vec(mutation(), 0..4),
    ) {
        let (path, mut text) = seeds().swap_remove(which);
        for m in &edits {
            text = apply(&text, m);
        }
        judge(Path::new(&path), &text)?;
    }
}

#[test]
fn the_unmutated_seeds_are_accepted() {
    for (path, text) in seeds() {
        let s = suite::load_str(Path::new(&path), &text, &fault::check)
            .unwrap_or_else(|e| panic!("{path} must be valid: {e}"));
        accepted(&s).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn the_largest_allowed_load_plans_in_constant_memory_and_one_more_is_refused() {
    for arrival in ["constant", "poisson"] {
        let text = BIG_TOML.replace("\"poisson\"", &format!("{arrival:?}"));
        let s = suite::load_str(Path::new("big.toml"), &text, &fault::check)
            .expect("the bound is allowed");
        let load = s.load.as_ref().expect("load");
        assert_eq!(load.rate * load.duration.0.as_secs_f64(), MAX_ARRIVALS);
        plan_is_cheap(&s).unwrap_or_else(|e| panic!("{arrival}: {e}"));
        let over = text.replace("\"1000s\"", "\"1001s\"");
        let e = suite::load_str(Path::new("big.toml"), &over, &fault::check)
            .expect_err("past the bound");
        assert!(
            e.message
                .contains("= 1.001e8 arrivals, more than the bound of 1e8"),
            "{e}"
        );
    }
}

/// A real run at the highest allowed rate: it starts sending at once, every arrival is
/// accounted for, and the framework's memory stays modest.
#[test]
fn a_run_at_the_highest_rate_starts_at_once_and_accounts_for_every_arrival() {
    let case = Case::new(&util::mock_suite(
        &["--ttft-ms", "1", "--itl-ms", "1"],
        "[load]\nrate = 100000\narrival = \"constant\"\nduration = \"200ms\"\nmax_in_flight = 32\n\
         request = { stream = false, max_tokens = 2 }\n",
    ));
    let stderr = std::fs::File::create(case.tmp.path().join("stderr")).expect("stderr file");
    #[allow(clippy::zombie_processes)] // reaped by `wait4`, which also reports its peak memory
    let child = case
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn shakedown");
    let (code, max_rss_kib) = wait_with_peak_rss(child.id() as i32);
    let log = std::fs::read_to_string(case.tmp.path().join("stderr")).unwrap_or_default();
    util::assert_tree_gone(&case.run_dir());
    assert_eq!(code, 0, "{log}");

    let timeline = read_json(&case.run_dir().join("timeline.json"));
    let finished = case.events("load.finished");
    let scheduled = finished[0]["scheduled"].as_u64().expect("scheduled");
    assert_eq!(scheduled, 20_000, "100000/s for 200 ms, constant");
    assert_eq!(timeline["arrivals"].as_u64(), Some(scheduled));
    let requests = jsonl(&case.run_dir().join("requests.jsonl"));
    assert_eq!(requests.len() as u64, scheduled);
    let start = timeline["load_start_ms"].as_f64().expect("load start");
    let first_sent = requests
        .iter()
        .filter_map(|r| r["sent_ms"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert!(
        first_sent - start < 1000.0,
        "first request {first_sent} ms, load start {start} ms"
    );
    assert!(
        max_rss_kib < 512 * 1024,
        "the framework peaked at {max_rss_kib} KiB"
    );
}

/// Reap `pid` and return its exit code and its own peak resident memory (KiB).
fn wait_with_peak_rss(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: plain syscall on a child of this process; both pointers outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss)
}
