//! Reading a suite file: parse, validate, resolve defaults; every error located at `file:line:col`.

use super::check::{Field, Res, Tbl};
use super::tree::{self, Format, Loc};
use super::{
    Api, Arrival, Dur, Expect, FaultSpec, Hardware, Kind, Level, LoadSpec, Meta, ProxySpec,
    RequestSpec, Suite, command, faults, services,
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
    fn whole(file: &Path, message: impl Into<String>) -> Self {
        SuiteError {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            message: message.into(),
        }
    }
}

/// Load and validate a suite file.
pub fn load(path: &Path) -> Result<Suite, SuiteError> {
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
    load_str(path, &text)
}

/// Load from text, as if read from `path` (the extension picks the format; `use` looks next to `path`).
pub fn load_str(path: &Path, text: &str) -> Result<Suite, SuiteError> {
    let format = format_of(path)?;
    let file: Rc<Path> = Rc::from(path);
    let root = tree::parse(&file, text, format)?;
    let top = Field::root(&root).table(
        "the top level",
        Some(&[
            "suite", "service", "load", "fault", "expect", "proxy", "command",
        ]),
    )?;
    let meta = meta(&top)?;
    if meta.kind == Kind::Command {
        return command::suite(&top, meta, path);
    }
    command::refuse(&top)?;
    let services = services::services(&top)?;
    let expect = expect(top.get("expect"))?;
    let faults = faults::faults(&top, &services, path)?;
    let proxy = top.get("proxy").map(|f| proxy(&f, &faults)).transpose()?;
    let load = top
        .get("load")
        .map(|f| load_spec(&f, &faults, &expect))
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

/// Whether `s` is usable in a directory or file name: `[A-Za-z0-9._-]+`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
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
            ]),
        )?;
    let name_expected = "a name of letters, digits, `.`, `_` and `-`";
    let name_f = t.req("name", name_expected)?;
    let name = name_f.str(name_expected)?;
    if !is_name(name) {
        return Err(name_f.expected(name_expected));
    }
    let kind = match t.get("kind") {
        Some(f) => f.one_of(&[("service", Kind::Service), ("command", Kind::Command)])?,
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
        seed: match t.get("seed") {
            Some(f) => u64::try_from(f.int(0, i128::from(u64::MAX), "an integer >= 0")?)
                .unwrap_or_default(),
            None => 0,
        },
        kind,
    })
}

/// Read an optional field with `read`.
pub(crate) fn opt<'n, T>(
    f: Option<Field<'n>>,
    read: impl Fn(&Field<'n>) -> Res<T>,
) -> Res<Option<T>> {
    f.map(|f| read(&f)).transpose()
}

fn load_spec(f: &Field, faults: &[FaultSpec], expect: &Expect) -> Res<LoadSpec> {
    let t = f.table(
        "[load]",
        Some(&[
            "rate",
            "arrival",
            "max_in_flight",
            "timeout",
            "duration",
            "request",
        ]),
    )?;
    let rate_expected = "a number of requests per second > 0";
    let rate_f = t.req("rate", rate_expected)?;
    let rate = rate_f.number(rate_expected)?;
    if rate <= 0.0 {
        return Err(rate_f.expected(rate_expected));
    }
    let arrival = match t.get("arrival") {
        Some(f) => f.one_of(&[
            ("constant", Arrival::Constant),
            ("poisson", Arrival::Poisson),
        ])?,
        None => Arrival::Poisson,
    };
    let max_in_flight = match t.get("max_in_flight") {
        Some(f) => usize::try_from(f.int(1, i128::from(u32::MAX), "an integer >= 1")?)
            .unwrap_or(usize::MAX),
        None => 256,
    };
    let duration = match t.get("duration") {
        Some(f) => f.pos_dur()?,
        None => default_duration(faults, expect),
    };
    Ok(LoadSpec {
        rate,
        arrival,
        max_in_flight,
        timeout: opt(t.get("timeout"), Field::pos_dur)?.unwrap_or(Dur::from_secs(30)),
        duration,
        request: request(t.get("request"))?,
    })
}

/// Last fault end (or start, for instant faults) + `recover_within` (or 10 s) + 5 s, at least 10 s.
fn default_duration(faults: &[FaultSpec], expect: &Expect) -> Dur {
    let last = faults
        .iter()
        .map(|f| f.at.0 + f.duration.map_or(std::time::Duration::ZERO, |d| d.0))
        .max()
        .unwrap_or_default();
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
        r.max_tokens =
            u32::try_from(f.int(1, i128::from(u32::MAX), "an integer >= 1")?).unwrap_or(u32::MAX);
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
                .find(|(_, nf)| !on && crate::fault::needs_proxy(&nf.kind))
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
    let mut e = Expect {
        recover_within: None,
        steady_success_rate: None,
        fail_fast: None,
        no_lost_requests: true,
        no_orphans: true,
        log_forbid: Vec::new(),
        health_truthful: true,
        no_unplanned_exits: true,
        no_hangs: true,
        hang_after: None,
        window: Dur::from_secs(1),
    };
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
            "health_truthful",
            "no_unplanned_exits",
            "no_hangs",
            "hang_after",
            "window",
        ]),
    )?;
    e.recover_within = opt(t.get("recover_within"), Field::pos_dur)?;
    e.fail_fast = opt(t.get("fail_fast"), Field::pos_dur)?;
    e.hang_after = opt(t.get("hang_after"), Field::pos_dur)?;
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
        ("no_unplanned_exits", &mut e.no_unplanned_exits),
        ("no_hangs", &mut e.no_hangs),
    ] {
        if let Some(f) = t.get(key) {
            *slot = f.bool()?;
        }
    }
    if let Some(f) = t.get("log_forbid") {
        let expected = "an array of regexes (strings)";
        for item in f.items(expected)? {
            let re = item.str(expected)?;
            if let Err(err) = regex::Regex::new(re) {
                return Err(item.expected(format_args!("a valid regex ({})", regex_error(&err))));
            }
            e.log_forbid.push(re.to_string());
        }
    }
    if let Some(f) = t.get("window") {
        e.window = f.pos_dur()?;
    }
    Ok(e)
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
