//! Configuration files in the shape of vLLM's benchmark configs: `{"kind": …, "defaults":
//! {…}, "tests": [{…}, …]}` (`suites/l4/perf/nightly.json`, `suites/l5/stability/weekly.json`).
//!
//! Each test, merged over `defaults`, becomes one [`Suite`]; the kind says how a test reads.
//! Every value keeps the place it was written, so an error in a default points at the default.

use super::check::{Field, Res, list};
use super::limits::{MAX_ARRIVALS, MAX_IN_FLIGHT, MAX_RATE, MAX_REINJECT, number};
use super::load::SuiteError;
use super::tree::{self, Format, Node, Val};
use super::{CheckFault, Suite};
use std::path::Path;
use std::rc::Rc;

/// What the tests of a configuration file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigKind {
    /// Serving benchmarks swept over rates and concurrencies (L4 nightly).
    Perf,
    /// Long soaks under steady load (L5 weekly).
    Soak,
}

/// Every suite in `path`: one for a suite file, one per test for a configuration file.
pub fn load_all(path: &Path, check: &CheckFault) -> Result<Vec<Suite>, SuiteError> {
    if path.to_string_lossy().ends_with(super::BASELINE_SUFFIX) {
        return Err(SuiteError::whole(
            path,
            "is a perf baseline, not a suite: it is read (and checked) through the \
             configuration whose `baseline` names it",
        ));
    }
    if Format::from_path(path) != Some(Format::Json) || path.is_dir() {
        return super::load(path, check).map(|s| vec![s]);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SuiteError::whole(path, format!("cannot read the suite file: {e}")))?;
    let file: Rc<Path> = Rc::from(path);
    let root = tree::parse(&file, &text, Format::Json)?;
    if root.get("meta").is_some() {
        return resolved(path, &text).map(|s| vec![s]);
    }
    if root.get("tests").is_none() {
        return super::load_str(path, &text, check).map(|s| vec![s]);
    }
    let top = Field::root(&root).table(
        "the top level",
        Some(&["kind", "name", "level", "seed", "defaults", "tests"]),
    )?;
    let kind = top
        .req("kind", "`\"perf\"` or `\"soak\"`: what the tests are")?
        .one_of(&[("perf", ConfigKind::Perf), ("soak", ConfigKind::Soak)])?;
    let defaults = top.get("defaults");
    if let Some(d) = &defaults {
        d.table("`defaults`", None)?;
    }
    let tests = top
        .req("tests", "a list of tests")?
        .items("a list of tests")?;
    if tests.is_empty() {
        return Err(top
            .req("tests", "")?
            .fail("is empty, expected at least one test"));
    }
    let mut suites = Vec::with_capacity(tests.len());
    for t in &tests {
        t.table(format!("`{}`", t.key), None)?;
        let node = match &defaults {
            Some(d) => merged(d.node, t.node),
            None => t.node.clone(),
        };
        let test = Field {
            node: &node,
            key: t.key.clone(),
            within: t.within.clone(),
        };
        suites.push(match kind {
            ConfigKind::Perf => super::perf::suite(&top, &test, path, check)?,
            ConfigKind::Soak => super::soak::suite(&top, &test, path, check)?,
        });
    }
    unique_names(&tests, &suites)?;
    Ok(suites)
}

/// A suite as a run directory keeps it (`suite.resolved.json`): every default already
/// resolved, so it is read as written, and runs again exactly as it ran.
fn resolved(path: &Path, text: &str) -> Result<Suite, SuiteError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let suite: Suite = serde_path_to_error::deserialize(de).map_err(|e| SuiteError {
        file: path.to_path_buf(),
        line: e.inner().line(),
        col: e.inner().column(),
        message: format!(
            "`{}` of a resolved suite (a run directory's `suite.resolved.json`): {}",
            e.path(),
            e.inner()
        ),
    })?;
    invariants(&suite).map_err(|(key, what)| {
        SuiteError::whole(
            path,
            format!("`{key}` of a resolved suite (a run directory's `suite.resolved.json`) {what}"),
        )
    })?;
    Ok(suite)
}

/// What a suite file's checks guarantee and a run relies on, for a resolved suite read as
/// written (a hand-edited one may break them): the key and what is wrong with it.
fn invariants(suite: &Suite) -> Result<(), (String, String)> {
    let fail = |key: &str, what: String| Err((key.to_string(), what));
    if suite.command.is_none() && suite.services.is_empty() {
        return fail(
            "services",
            "is empty, expected a service (or a `command`)".into(),
        );
    }
    let names: Vec<&str> = suite.services.iter().map(|s| s.name.as_str()).collect();
    for (i, f) in suite.faults.iter().enumerate() {
        if !names.is_empty() && !names.contains(&f.service.as_str()) {
            let expected = format!("the name of a service: {}", list(&names));
            return fail(
                &format!("faults[{i}].service"),
                format!("is `{}`, expected {expected}", f.service),
            );
        }
        if f.reinject > MAX_REINJECT {
            return fail(
                &format!("faults[{i}].reinject"),
                format!("is {}, expected at most {MAX_REINJECT}", f.reinject),
            );
        }
    }
    if let Some(l) = &suite.load {
        if !(l.rate > 0.0 && l.rate <= MAX_RATE) {
            return fail(
                "load.rate",
                format!(
                    "is {}, expected more than 0 and at most {}",
                    l.rate,
                    number(MAX_RATE)
                ),
            );
        }
        let arrivals = l.rate * l.duration.0.as_secs_f64();
        if arrivals > MAX_ARRIVALS {
            return fail(
                "load.duration",
                format!(
                    "gives {} arrivals at rate {}/s, expected at most {}",
                    number(arrivals),
                    number(l.rate),
                    number(MAX_ARRIVALS)
                ),
            );
        }
        let (key, cap) = match l.concurrency {
            Some(c) => ("load.concurrency", c),
            None => ("load.max_in_flight", l.max_in_flight),
        };
        if cap == 0 || cap > MAX_IN_FLIGHT as usize {
            return fail(key, format!("is {cap}, expected 1 to {MAX_IN_FLIGHT}"));
        }
    }
    Ok(())
}

/// `over` with every key of `under` it lacks; tables present in both merge, key by key.
fn merged(under: &Node, over: &Node) -> Node {
    let (Val::Table(low), Val::Table(high)) = (&under.val, &over.val) else {
        return over.clone();
    };
    let mut entries = high.clone();
    for (k, n) in low {
        match entries.iter_mut().find(|(hk, _)| hk == k) {
            Some((_, mine)) => *mine = merged(n, mine),
            None => entries.push((k.clone(), n.clone())),
        }
    }
    Node {
        at: over.at.clone(),
        val: Val::Table(entries),
    }
}

/// Two tests of one file may not share a name: their run directories would collide.
fn unique_names(tests: &[Field], suites: &[Suite]) -> Res<()> {
    for (i, s) in suites.iter().enumerate() {
        if let Some(j) = suites[..i].iter().position(|o| o.meta.name == s.meta.name) {
            return Err(tests[i].fail(format_args!(
                "has the name `{}` of `{}`, expected a name of its own",
                s.meta.name, tests[j].key
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(json: &str) -> Node {
        tree::parse(&Rc::from(Path::new("t.json")), json, Format::Json).expect("parses")
    }

    #[test]
    fn a_test_merges_over_the_defaults_key_by_key() {
        let d = tree(r#"{"a": 1, "t": {"x": 1, "y": 2}, "list": [1, 2]}"#);
        let t = tree(r#"{"t": {"y": 3}, "list": [9], "b": 4}"#);
        let m = merged(&d, &t);
        let v = |path: &[&str]| match &m.find(path).val {
            Val::Int(i) => *i,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (v(&["a"]), v(&["b"]), v(&["t", "x"]), v(&["t", "y"])),
            (1, 4, 1, 3)
        );
        // Lists are values, not merged: the test's list replaces the default's.
        assert!(matches!(&m.get("list").map(|n| &n.val), Some(Val::Array(a)) if a.len() == 1));
        // A default keeps its own place for errors.
        assert_eq!(m.find(&["t", "x"]).at.line, 1);
    }
}
