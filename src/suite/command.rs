//! Command suites (`[suite] kind = "command"`): one `[command]` table instead of services,
//! load and faults; `[expect]` holds only what applies to a command. Offline suites
//! (`kind = "offline"`) are read the same way from `[offline]`, which adds the prompts file
//! and what the outputs must be.

use super::check::{Field, Res, Tbl, list};
use super::load::{self, opt};
use super::services::{PLACEHOLDER, env, provided_hint};
use super::{
    CheckFault, CommandSpec, Dur, FaultSpec, Kind, Meta, OfflineSpec, Parse, Suite, faults,
};
use std::path::{Path, PathBuf};

/// What differs between the tables that run one command.
struct Form {
    /// `[command]` or `[offline]`.
    table: &'static str,
    /// Its keys.
    keys: &'static [&'static str],
    /// The placeholders an argv element may hold.
    placeholders: &'static [&'static str],
}

/// A command suite's `[command]`.
const COMMAND: Form = Form {
    table: "command",
    keys: &[
        "argv",
        "cwd",
        "env",
        "timeout",
        "stop_grace",
        "junit",
        "parse",
    ],
    placeholders: &["junit", "run_dir"],
};

/// An offline suite's `[offline]`.
const OFFLINE: Form = Form {
    table: "offline",
    keys: &[
        "argv",
        "cwd",
        "env",
        "timeout",
        "stop_grace",
        "input",
        "count",
        "within",
    ],
    placeholders: &["input", "output", "run_dir"],
};

/// The `[expect]` keys that apply to a command; the others judge services under load.
const EXPECT_KEYS: &[&str] = &["no_orphans", "log_forbid", "known_failures"];

/// The tables a command suite has no place for.
const SERVICE_TABLES: &[&str] = &["service", "load", "fault", "proxy", "accuracy", "guardrail"];

/// A command or offline suite: `[suite]` already read as `meta`, then `[command]` (or
/// `[offline]`) and `[expect]`.
pub(crate) fn suite(top: &Tbl, meta: Meta, path: &Path, check: &CheckFault) -> Res<Suite> {
    let (form, other) = match meta.kind {
        Kind::Offline => (&OFFLINE, COMMAND.table),
        _ => (&COMMAND, OFFLINE.table),
    };
    let kind = form.table;
    // An offline batch takes process faults; a command suite none.
    let takes_faults = meta.kind == Kind::Offline;
    let refused = SERVICE_TABLES
        .iter()
        .filter(|t| !(takes_faults && **t == "fault"));
    for key in refused.chain([&other]) {
        if let Some(f) = top.get(key) {
            return Err(f.fail(format_args!(
                "has no place in {} {kind} suite (kind = \"{kind}\" in [suite]), \
                 expected only [suite], [{kind}] and [expect]",
                if kind == OFFLINE.table { "an" } else { "a" }
            )));
        }
    }
    let table = top.req(kind, &format!("a [{kind}] table with `argv`"))?;
    let command = command(&table, form, &meta, path)?;
    let (offline, faults) = match meta.kind {
        Kind::Offline => (
            Some(offline(&table, path)?),
            batch_faults(top, &command, &meta, path, check)?,
        ),
        _ => (None, Vec::new()),
    };
    let expect = match top.get("expect") {
        Some(f) => {
            // Checked here for the narrower key set; the values are read as in any suite.
            f.table("[expect]", Some(EXPECT_KEYS))?;
            load::expect(Some(f))?
        }
        None => load::expect(None)?,
    };
    Ok(Suite {
        meta,
        services: Vec::new(),
        load: None,
        faults,
        // What judges services under load is off: a command has no load, health or restarts.
        expect: super::Expect {
            no_lost_requests: false,
            health_truthful: false,
            no_unplanned_exits: false,
            no_hangs: false,
            ..expect
        },
        proxy: None,
        source: path.to_path_buf(),
        command: Some(command),
        accuracy: None,
        offline,
        perf: None,
        stability: None,
        guardrails: Default::default(),
    })
}

/// A `[command]` or `[offline]` table in a service suite is an error (most likely a
/// forgotten `kind`).
pub(crate) fn refuse(top: &Tbl) -> Res<()> {
    for kind in [COMMAND.table, OFFLINE.table] {
        if let Some(f) = top.get(kind) {
            return Err(f.fail(format_args!(
                "is for {kind} suites, expected `kind = \"{kind}\"` in [suite] (or no [{kind}])"
            )));
        }
    }
    Ok(())
}

/// `input`, `count` and `within` of `[offline]`.
fn offline(f: &Field, path: &Path) -> Res<OfflineSpec> {
    let t = f.table("[offline]", Some(OFFLINE.keys))?;
    let expected = "a path to the prompts file (JSON lines), relative to the suite file";
    let input_f = t.req("input", expected)?;
    let input = input_f.str(expected)?;
    if input.is_empty() {
        return Err(input_f.expected(expected));
    }
    let input = PathBuf::from(input);
    Ok(OfflineSpec {
        // Relative to the suite file, so a suite runs the same from any directory.
        input: path
            .parent()
            .map_or_else(|| input.clone(), |d| d.join(&input)),
        count: opt(t.get("count"), |f| f.int(0, MAX_OUTPUTS))?,
        within: opt(t.get("within"), Field::pos_dur)?,
    })
}

/// The fault kinds an offline batch takes: signals to its processes.
const BATCH_FAULTS: &[&str] = &["process.kill", "process.pause"];

/// An offline suite's `[[fault]]` entries: process faults on the batch (service `command`),
/// their `at` from the batch's start.
fn batch_faults(
    top: &Tbl,
    command: &CommandSpec,
    meta: &Meta,
    path: &Path,
    check: &CheckFault,
) -> Res<Vec<FaultSpec>> {
    let services = [command.service(command.argv.clone())];
    let horizon = faults::Horizon {
        load_end: None,
        budget: meta.budget,
    };
    let specs = faults::faults(top, &services, path, &horizon, check)?;
    let Some(f) = top.get("fault") else {
        return Ok(specs);
    };
    let items = f.items("an array of tables ([[fault]] entries)")?;
    for (spec, item) in specs.iter().zip(&items) {
        if spec.startup || !BATCH_FAULTS.contains(&spec.kind.as_str()) {
            return Err(item.fail(format_args!(
                "has kind `{}`{}, expected a fault on the batch's processes ({}) at a time \
                 after it starts (an offline suite has no server, proxy or start-up)",
                spec.kind,
                if spec.startup { " at start-up" } else { "" },
                list(BATCH_FAULTS)
            )));
        }
    }
    Ok(specs)
}

/// The most outputs an offline suite may expect.
const MAX_OUTPUTS: u64 = 10_000_000;

fn command(f: &Field, form: &Form, meta: &Meta, path: &Path) -> Res<CommandSpec> {
    let t = f.table(format!("[{}]", form.table), Some(form.keys))?;
    let parse = match t.get("parse") {
        Some(f) => f.one_of(&[
            ("auto", Parse::Auto),
            ("junit", Parse::Junit),
            ("libtest", Parse::Libtest),
        ])?,
        None => Parse::Auto,
    };
    let junit_f = t.get("junit");

    let argv_expected = "a non-empty array of strings (the argv)";
    let argv_f = t.req("argv", argv_expected)?;
    let items = argv_f.items(argv_expected)?;
    if items.is_empty() {
        return Err(argv_f.expected(argv_expected));
    }
    let mut argv = Vec::new();
    for item in &items {
        let arg = item.str(argv_expected)?;
        for cap in PLACEHOLDER.captures_iter(arg) {
            let inner = cap.get(1).map_or("", |m| m.as_str());
            if !form.placeholders.contains(&inner) && !meta.provided().contains(&inner) {
                let names: Vec<String> = form
                    .placeholders
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                return Err(item.fail(format_args!(
                    "has placeholder `{{{inner}}}`, expected one of {}{}",
                    list(&names),
                    provided_hint(&meta.provided())
                )));
            }
            if inner == "junit" && parse == Parse::Libtest {
                return Err(item.fail(
                    "has `{junit}`, but parse = \"libtest\" reads no JUnit file, \
                     expected parse = \"junit\" or \"auto\" alongside it",
                ));
            }
            if inner == "junit" && junit_f.is_some() {
                return Err(item.fail(
                    "has `{junit}` while [command] names its own `junit` file, \
                     expected one of the two",
                ));
            }
        }
        argv.push(arg.to_string());
    }

    let path_expected = "a path (a non-empty string)";
    let read_path = |f: &Field| -> Res<PathBuf> {
        let s = f.str(path_expected)?;
        if s.is_empty() {
            return Err(f.expected(path_expected));
        }
        Ok(PathBuf::from(s))
    };
    // Relative to the suite file, so a suite runs the same from any directory.
    let cwd = opt(t.get("cwd"), read_path)?
        .map(|c| path.parent().map_or_else(|| c.clone(), |dir| dir.join(&c)));
    let junit = match junit_f {
        Some(f) if parse == Parse::Libtest => {
            return Err(f.fail(
                "has no effect with parse = \"libtest\", expected parse = \"junit\" or \"auto\" alongside it",
            ));
        }
        // Relative to where the command runs, as the command itself would write it.
        Some(f) => Some(read_path(&f).map(|j| match &cwd {
            Some(dir) => dir.join(j),
            None => j,
        })?),
        None => None,
    };

    let timeout = match t.get("timeout") {
        Some(f) => {
            let d = f.pos_dur()?;
            if d.0 > meta.budget.0 {
                return Err(f.expected(format_args!(
                    "a duration no longer than the suite's budget ({})",
                    humantime::format_duration(meta.budget.0)
                )));
            }
            d
        }
        None => meta.budget,
    };
    Ok(CommandSpec {
        argv,
        cwd,
        env: env(&t, &|_, _| Ok(()))?,
        timeout,
        stop_grace: opt(t.get("stop_grace"), Field::dur)?.unwrap_or(Dur::from_secs(5)),
        junit,
        parse,
    })
}
