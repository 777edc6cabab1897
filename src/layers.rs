//! The module layering of `docs/architecture.md`, checked on the source text: every top-level
//! module uses only modules of lower layers (so no two reach each other, directly or round a
//! cycle), and clap is used only at the binary's edge. A scan of `crate::` paths (grouped
//! `crate::{a, b}` too, comments skipped) is enough: every cross-module reference in this crate is
//! written that way.

use std::path::Path;

/// One reference from a module to another: `from` uses `to` at `at` (`file:line`).
#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

/// The layers, top first, as `docs/architecture.md` draws them (`main.rs` is above them all).
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["certify"],
    &["doctor", "plan", "replay"],
    &["run"],
    &["fault", "report"],
    &["hog", "verdict"],
    &["service", "load", "import", "metrics"],
    &["suite", "record", "proxy", "mock"],
    &["gpu"],
    &["units", "seed", "child", "requires"],
];

/// Files that may use clap: the binary's edge.
const CLAP_AT: &[&str] = &["cli.rs", "main.rs"];

/// Every `.rs` file under `dir`, as (path relative to `dir`, text), sorted.
fn sources(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).expect("src/ is readable");
        for e in entries {
            let p = e.expect("src/ is readable").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).expect("under src/");
                let text = std::fs::read_to_string(&p).expect("source is UTF-8");
                out.push((rel.to_string_lossy().into_owned(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The top-level module a file belongs to (`suite/faults.rs` → `suite`); `None` for the crate
/// root and the binary, which declare and use modules without being one, and for this check,
/// whose examples name modules.
fn module_of(rel: &str) -> Option<&str> {
    // Test-only files (a module's `tests` and `fixture`) may use any layer: they judge it whole.
    if rel.ends_with("/tests.rs") || rel.ends_with("/fixture.rs") {
        return None;
    }
    let first = rel.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "layers")).then_some(name)
}

/// A line without its `//` comment.
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// Every reference from one top-level module to another.
fn edges(files: &[(String, String)]) -> Vec<Edge> {
    let mut out = Vec::new();
    for (rel, text) in files {
        let Some(from) = module_of(rel) else { continue };
        // Comments blanked line by line, so byte offsets still give line numbers.
        let code: String = text.lines().map(|l| format!("{}\n", code(l))).collect();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let line = code[..i].matches('\n').count() + 1;
            for to in targets(rest) {
                if to != from {
                    out.push(Edge {
                        from: from.to_string(),
                        to: to.to_string(),
                        at: format!("src/{rel}:{line}"),
                    });
                }
            }
        }
    }
    out
}

/// The top-level names a path after `crate::` reaches: `fault::x` → `fault`,
/// `{fault, suite::Dur}` → `fault`, `suite`.
fn targets(rest: &str) -> Vec<&str> {
    let ident = |s: &str| -> usize {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let Some(group) = rest.strip_prefix('{') else {
        let n = ident(rest);
        return if n > 0 { vec![&rest[..n]] } else { vec![] };
    };
    let mut out = Vec::new();
    let mut depth = 1;
    let mut at_name = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => at_name = true,
            c if at_name && depth == 1 && !c.is_whitespace() => {
                at_name = false;
                let n = ident(&group[i..]);
                if n > 0 && &group[i..i + n] != "self" {
                    out.push(&group[i..i + n]);
                }
            }
            _ => {}
        }
    }
    out
}

/// What breaks the layering: an edge that does not point to a lower layer, or names a module
/// in no layer (one line each, `file:line: ...`).
fn violations(edges: &[Edge], layers: &[&[&str]]) -> Vec<String> {
    let layer = |m: &str| layers.iter().position(|l| l.contains(&m));
    edges
        .iter()
        .filter_map(|e| {
            let missing = |m: &str| {
                format!(
                    "{}: {m} is in no layer (add it to LAYERS and the docs)",
                    e.at
                )
            };
            match (layer(&e.from), layer(&e.to)) {
                (Some(f), Some(t)) if t > f => None,
                (Some(_), Some(_)) => Some(format!(
                    "{}: {} uses {}, a module of its own layer or above",
                    e.at, e.from, e.to
                )),
                (None, _) => Some(missing(&e.from)),
                (_, None) => Some(missing(&e.to)),
            }
        })
        .collect()
}

fn crate_sources() -> Vec<(String, String)> {
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn modules_depend_downwards() {
    let edges = edges(&crate_sources());
    assert!(edges.iter().any(|e| e.from == "fault" && e.to == "suite"));
    let mut bad = violations(&edges, LAYERS);
    // A module nothing uses and that uses nothing still has its row.
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs is readable");
    for (i, line) in lib.lines().enumerate() {
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
            && !LAYERS.iter().any(|l| l.contains(&m))
        {
            bad.push(format!("src/lib.rs:{}: {m} is in no layer", i + 1));
        }
    }
    assert!(
        bad.is_empty(),
        "the layering of docs/architecture.md is broken:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn clap_only_at_the_edge() {
    let mut bad = Vec::new();
    for (rel, text) in crate_sources() {
        if CLAP_AT.contains(&rel.as_str()) || rel == "layers.rs" {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if code(line).contains("clap") {
                bad.push(format!("  src/{rel}:{}", i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "clap outside {CLAP_AT:?} (library modules take plain settings; cli converts):\n{}",
        bad.join("\n")
    );
}

#[test]
fn an_upward_use_is_found_and_located() {
    let file = |p: &str, t: &str| (p.to_string(), t.to_string());
    let files = [
        file(
            "suite/mod.rs",
            "use crate::units::Dur;\n// crate::fault in a comment\n",
        ),
        file(
            "suite/faults.rs",
            "fn f() {}\nfn g() { crate::fault::check(); }\n",
        ),
        file(
            "fault/mod.rs",
            "use crate::{\n    record,\n    suite::{self, FaultSpec},\n};\n",
        ),
        file("units.rs", "use crate::units::x;\n"),
        file("lib.rs", "pub use crate::fault;\n"),
    ];
    let edges = edges(&files);
    fn at(e: &Edge) -> (&str, &str, &str) {
        (&e.from, &e.to, &e.at)
    }
    assert_eq!(
        edges.iter().map(at).collect::<Vec<_>>(),
        [
            ("suite", "units", "src/suite/mod.rs:1"),
            ("suite", "fault", "src/suite/faults.rs:2"),
            ("fault", "record", "src/fault/mod.rs:1"),
            ("fault", "suite", "src/fault/mod.rs:1"),
        ]
    );
    let layers: &[&[&str]] = &[&["fault"], &["suite"], &["units"]];
    assert_eq!(
        violations(&edges, layers),
        [
            "src/suite/faults.rs:2: suite uses fault, a module of its own layer or above",
            "src/fault/mod.rs:1: record is in no layer (add it to LAYERS and the docs)",
        ]
    );
}
