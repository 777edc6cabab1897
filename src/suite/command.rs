//! Command suites (`[suite] kind = "command"`): one `[command]` table instead of services,
//! load and faults; `[expect]` holds only what applies to a command.

use super::check::{Field, Res, Tbl, list};
use super::load::{self, opt};
use super::services::{PLACEHOLDER, env};
use super::{CommandSpec, Dur, Meta, Parse, Suite};
use std::path::{Path, PathBuf};

/// The keys of `[command]`.
const COMMAND_KEYS: &[&str] = &[
    "argv",
    "cwd",
    "env",
    "timeout",
    "stop_grace",
    "junit",
    "parse",
];

/// The placeholders an argv element may hold.
const PLACEHOLDERS: &[&str] = &["junit", "run_dir"];

/// The `[expect]` keys that apply to a command; the others judge services under load.
const EXPECT_KEYS: &[&str] = &["no_orphans", "log_forbid"];

/// The tables a command suite has no place for.
const SERVICE_TABLES: &[&str] = &["service", "load", "fault", "proxy", "accuracy"];

/// A command suite: `[suite]` already read as `meta`, then `[command]` and `[expect]`.
pub(crate) fn suite(top: &Tbl, meta: Meta, path: &Path) -> Res<Suite> {
    for key in SERVICE_TABLES {
        if let Some(f) = top.get(key) {
            return Err(f.fail(
                "has no place in a command suite (kind = \"command\" in [suite]), \
                 expected only [suite], [command] and [expect]",
            ));
        }
    }
    let command = command(
        &top.req("command", "a [command] table with `argv`")?,
        &meta,
        path,
    )?;
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
        faults: Vec::new(),
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
    })
}

/// A `[command]` table in a service suite is an error (most likely a forgotten `kind`).
pub(crate) fn refuse(top: &Tbl) -> Res<()> {
    match top.get("command") {
        Some(f) => Err(f.fail(
            "is for command suites, expected `kind = \"command\"` in [suite] (or no [command])",
        )),
        None => Ok(()),
    }
}

fn command(f: &Field, meta: &Meta, path: &Path) -> Res<CommandSpec> {
    let t = f.table("[command]", Some(COMMAND_KEYS))?;
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
            if !PLACEHOLDERS.contains(&inner) {
                return Err(item.fail(format_args!(
                    "has placeholder `{{{inner}}}`, expected one of {}",
                    list(&["{junit}", "{run_dir}"])
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
