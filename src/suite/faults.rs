//! The `[[fault]]` entries: `use = "NAME"` merging, the common keys, and kind-specific keys judged by
//! the [`CheckFault`] the caller passes (the fault kinds live above the suite).

use super::check::{Field, Res, Tbl};
use super::limits::{MAX_NAME_BYTES, MAX_REINJECT};
use super::load::{SuiteError, is_name, opt};
use super::tree::{self, Format, Node, Val};
use super::{CheckFault, FaultSpec, ServiceSpec};
use crate::units::Dur;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Keys every fault has; every other key is kind-specific.
const COMMON: &[&str] = &["kind", "at", "for", "service", "after_load", "reinject"];

/// What bounds a fault's `at`: the end of load (when `[load]` sets `duration`) and the budget.
pub(crate) struct Horizon {
    /// `[load] duration`, when the suite sets it (the default always covers every fault).
    pub load_end: Option<Dur>,
    /// `[suite] budget`.
    pub budget: Dur,
}

/// Read every `[[fault]]` entry in file order.
pub(crate) fn faults(
    top: &Tbl,
    services: &[ServiceSpec],
    suite: &Path,
    horizon: &Horizon,
    check: &CheckFault,
) -> Res<Vec<FaultSpec>> {
    let Some(f) = top.get("fault") else {
        return Ok(Vec::new());
    };
    let items = f.items("an array of tables ([[fault]] entries)")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| fault(i, item, services, suite, horizon, check))
        .collect()
}

fn fault(
    i: usize,
    item: &Field,
    services: &[ServiceSpec],
    suite: &Path,
    horizon: &Horizon,
    check: &CheckFault,
) -> Res<FaultSpec> {
    let t = item.table(format!("[[fault]] #{}", i + 1), None)?;

    // The used file, parsed; its fields borrow from it, so it lives for this whole function.
    let mut used: Option<(String, Node)> = None;
    if let Some(u) = t.get("use") {
        let expected = format!(
            "the name of a fault file such as \"kill-engine\" (1 to {MAX_NAME_BYTES} letters, \
             digits, `.`, `_`, `-`)"
        );
        let expected = expected.as_str();
        let name = u.str(expected)?;
        if !is_name(name) || name.starts_with('.') {
            return Err(u.expected(expected));
        }
        let path = find_fault_file(suite, name).map_err(|tried| {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            u.expected(format_args!("a fault file at one of: {}", tried.join(", ")))
        })?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            u.fail(format_args!(
                "names {} which cannot be read: {e}",
                path.display()
            ))
        })?;
        let root = tree::parse(&Rc::from(path.as_path()), &text, Format::Toml)?;
        used = Some((name.to_string(), root));
    }

    // Used file's keys first; the entry's own keys replace them.
    let mut merged: Vec<Field> = Vec::new();
    if let Some((name, root)) = &used {
        let ut = Field::root(root).table(format!("fault file `{name}`"), None)?;
        if let Some(u) = ut.get("use") {
            return Err(u.expected("no `use` (a fault file cannot use another)"));
        }
        for (k, _) in ut.entries {
            if k != "description"
                && let Some(f) = ut.get(k)
            {
                merged.push(f);
            }
        }
    }
    for (k, _) in t.entries {
        if k == "use" || k == "description" {
            continue;
        }
        let Some(f) = t.get(k) else { continue };
        match merged.iter_mut().find(|m| m.key == *k) {
            Some(slot) => *slot = f,
            None => merged.push(f),
        }
    }
    let get = |k: &str| merged.iter().find(|m| m.key == k).cloned();
    let missing = |key: &str, expected: &str| {
        let also = used
            .as_ref()
            .map(|(n, _)| format!(" (nor in fault file `{n}`)"))
            .unwrap_or_default();
        SuiteError::at(
            &t.node.at,
            format!("missing `{key}` in {}{also}, expected {expected}", t.name),
        )
    };

    let kind_expected = "a fault kind such as \"process.kill\"";
    let kind_f = get("kind").ok_or_else(|| missing("kind", kind_expected))?;
    let kind = kind_f.str(kind_expected)?;
    let at_f = get("at").ok_or_else(|| {
        missing(
            "at",
            "when to inject, a duration from load start such as \"10s\", or \"startup\"",
        )
    })?;
    // `at = "startup"`: before the services start, so start-up itself meets the fault.
    let startup = matches!(&at_f.node.val, crate::suite::tree::Val::Str(s) if s == "startup");
    let at = if startup { Dur::default() } else { at_f.dur()? };
    let after_load = opt(get("after_load"), Field::bool)?.unwrap_or(false);
    if !startup {
        check_at(&at_f, at, after_load, horizon)?;
    }
    let duration = opt(get("for"), Field::pos_dur)?;
    let reinject = match get("reinject") {
        // A start-up fault meets the first start only: there is no restart before it.
        Some(f) if startup => {
            return Err(f.fail("is not allowed with `at = \"startup\"`; re-injection follows restarts after load starts"));
        }
        Some(f) => f.int(0u32, MAX_REINJECT)?,
        None => 0,
    };
    let service = match get("service") {
        Some(f) => f.service_name(services)?,
        None => services
            .iter()
            .find(|s| s.entry)
            .or(services.first())
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    };

    let mut params = Map::new();
    for f in merged.iter().filter(|f| !COMMON.contains(&f.key.as_str())) {
        params.insert(f.key.clone(), to_json(f)?);
    }
    let o = &t.node.at;
    let spec = FaultSpec {
        kind: kind.to_string(),
        name: used.as_ref().map(|(n, _)| n.clone()),
        at,
        startup,
        after_load,
        duration,
        service,
        reinject,
        params,
        origin: format!("{}:{}:{}", o.file.display(), o.line, o.col),
    };
    check(&spec)
        .map_err(|e| SuiteError::at(&param_node(&merged, &kind_f, t.node, &e.key).at, e.message))?;
    Ok(spec)
}

/// A fault's `at` must come before the budget ends, and before load ends unless the entry says
/// `after_load = true` (otherwise the run would end its faults with its load, never injecting it).
fn check_at(at_f: &Field, at: Dur, after_load: bool, horizon: &Horizon) -> Res<()> {
    if let Some(end) = horizon.load_end
        && at >= end
        && !after_load
    {
        return Err(at_f.expected(format_args!(
            "a time before load ends at {end} (`duration` in [load]), or `after_load = true` \
             in this entry to inject it after load"
        )));
    }
    if at >= horizon.budget {
        return Err(at_f.expected(format_args!(
            "a time before the run's budget of {} ends (`budget` in [suite])",
            horizon.budget
        )));
    }
    Ok(())
}

/// Where a [`ParamError`](super::ParamError) key path points: `[]` is the `kind` key, a path is relative
/// to the entry (its first key, found in the merged keys, says which file), and a path whose first
/// key is absent is the entry itself.
fn param_node<'n>(
    merged: &[Field<'n>],
    kind: &Field<'n>,
    entry: &'n Node,
    key: &[String],
) -> &'n Node {
    match key.split_first() {
        None => kind.node,
        Some((first, rest)) => merged
            .iter()
            .find(|m| m.key == *first)
            .map_or(entry, |f| f.node.find(rest)),
    }
}

/// `<dir>/faults/NAME.toml` for the suite's directory and each ancestor, nearest first: the first
/// that exists, or every path tried.
/// The fault files a suite file's `[[fault]]` entries use (`use = "NAME"`), in file order, found
/// as loading finds them; a file that cannot be read or parsed, or names none, gives none.
pub fn used_fault_files(suite: &Path) -> Vec<PathBuf> {
    let Some(format) = Format::from_path(suite) else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(suite) else {
        return Vec::new();
    };
    let Ok(root) = tree::parse(&Rc::from(suite), &text, format) else {
        return Vec::new();
    };
    let Some(Val::Array(entries)) = root.get("fault").map(|f| &f.val) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for e in entries {
        if let Some(Val::Str(name)) = e.get("use").map(|u| &u.val)
            && let Ok(path) = find_fault_file(suite, name)
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

fn find_fault_file(suite: &Path, name: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let dir = suite
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cwd = std::env::current_dir().and_then(std::fs::canonicalize).ok();
    // Absolute ancestors reach past the working directory; shown relative to it where they can be.
    let dirs: Vec<PathBuf> = match std::fs::canonicalize(dir) {
        Ok(abs) => abs.ancestors().map(Path::to_path_buf).collect(),
        Err(_) => dir.ancestors().map(Path::to_path_buf).collect(),
    };
    let mut tried = Vec::new();
    for d in dirs {
        let candidate = d.join("faults").join(format!("{name}.toml"));
        let shown = cwd
            .as_deref()
            .and_then(|c| candidate.strip_prefix(c).ok())
            .map_or_else(|| candidate.clone(), Path::to_path_buf);
        if candidate.is_file() {
            return Ok(shown);
        }
        tried.push(shown);
    }
    Err(tried)
}

/// A kind-specific value as JSON for [`FaultSpec::params`].
fn to_json(f: &Field) -> Res<Value> {
    Ok(match &f.node.val {
        Val::Str(s) => Value::String(s.clone()),
        Val::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
            (Ok(n), _) => Value::from(n),
            (_, Ok(n)) => Value::from(n),
            _ => return Err(f.expected("an integer that fits 64 bits")),
        },
        Val::Float(x) => serde_json::Number::from_f64(*x)
            .map(Value::Number)
            .ok_or_else(|| f.expected("a finite number"))?,
        Val::Bool(b) => Value::Bool(*b),
        Val::Null => Value::Null,
        Val::Datetime(_) => {
            return Err(f.expected(
                "a string, number, boolean, array or table (dates and times are not supported)",
            ));
        }
        Val::Array(_) => Value::Array(f.items("")?.iter().map(to_json).collect::<Res<_>>()?),
        Val::Table(entries) => {
            let mut m = Map::new();
            for (k, node) in entries {
                let child = Field {
                    node,
                    key: format!("{}.{k}", f.key),
                    within: f.within.clone(),
                };
                m.insert(k.clone(), to_json(&child)?);
            }
            Value::Object(m)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_errors_are_located_by_key_path() {
        let text = "[[fault]]\nkind = \"x\"\nmatch = { path = [\"/a\", \"/b\"] }\n";
        let root = tree::parse(&Rc::from(Path::new("f.toml")), text, Format::Toml).expect("parses");
        let entry = root.find(&["fault", "0"]);
        let t = Field::root(entry)
            .table("[[fault]] #1", None)
            .expect("table");
        let merged: Vec<Field> = ["kind", "match"].iter().filter_map(|k| t.get(k)).collect();
        let kind = t.get("kind").expect("kind");
        let at = |key: &[&str]| {
            let key: Vec<String> = key.iter().map(|s| s.to_string()).collect();
            let n = param_node(&merged, &kind, entry, &key);
            (n.at.line, n.at.col)
        };
        assert_eq!(at(&[]), (2, 1));
        assert_eq!(at(&["match"]), (3, 1));
        assert_eq!(at(&["match", "path", "1"]), (3, 25));
        assert_eq!(at(&["match", "nope"]), (3, 1));
        assert_eq!(at(&["nope"]), (1, 1));
    }
}
