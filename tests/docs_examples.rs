//! Every example in the docs is one that runs: each suite (TOML or JSON), fault file and
//! `[[fault]]` snippet validates, each `shakedown` command line in a suite or a shell block
//! parses (so no example passes the mock a flag it lacks), and the limits the docs state are
//! the ones the code enforces.

use clap::Parser;
use shakedown::cli::Cli;
use shakedown::suite::{self, Suite, limits};
use std::path::Path;
use util::docs::{blocks, markdown};

mod util;

/// A minimal suite around `[[fault]]` snippets.
const AROUND: &str = "[suite]\nname = \"doc-snippet\"\n\n[service]\n\
    command = [\"shakedown\", \"mock-server\", \"--port\", \"{port}\", \"--engine\", \"process\"]\n\n";

/// Parse `shakedown ARGS…` as the binary would.
fn parses(at: &str, argv: &[String]) {
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!("{at}: `{}` does not parse: {e}", argv.join(" "));
    }
}

/// Each service that runs `shakedown` has a command line the binary takes.
fn commands_parse(at: &str, s: &Suite) {
    let re = regex::Regex::new(r"\{port(\.[A-Za-z0-9_.-]+)?\}").expect("pattern");
    for svc in &s.services {
        if svc.command[0] != "shakedown" {
            continue;
        }
        let argv: Vec<String> = svc
            .command
            .iter()
            .map(|a| re.replace_all(a, "8000").into_owned())
            .collect();
        parses(&format!("{at} [service.{}]", svc.name), &argv);
    }
}

fn load(at: &str, path: &Path, text: &str) -> Suite {
    suite::load_str(path, text, &shakedown::fault::check)
        .unwrap_or_else(|e| panic!("{at}: the example does not validate: {e}"))
}

#[test]
fn every_suite_example_in_the_docs_validates_and_its_commands_parse() {
    let mut checked = 0;
    for b in blocks(&markdown()) {
        let at = b.at();
        match b.lang.as_str() {
            "toml" if b.text.lines().any(|l| l.trim() == "[suite]") => {
                let s = load(&at, &b.file.with_extension("toml"), &b.text);
                commands_parse(&at, &s);
            }
            "toml" if b.text.starts_with("# faults/") => {
                // A fault file: used from a suite next to it.
                let name = b.text["# faults/".len()..]
                    .split(".toml")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let dir = tempfile::tempdir().expect("tempdir");
                std::fs::create_dir(dir.path().join("faults")).expect("mkdir");
                std::fs::write(dir.path().join(format!("faults/{name}.toml")), &b.text)
                    .expect("write");
                let text = format!("{AROUND}[[fault]]\nuse = \"{name}\"\n");
                load(&at, &dir.path().join("s.toml"), &text);
            }
            "toml" if b.text.starts_with("[[fault]]") => {
                // As if next to the test suites, where `corpora/mine.jsonl` exists.
                let path = Path::new("tests/suites/valid/doc-snippet.toml");
                load(&at, path, &format!("{AROUND}{}", b.text));
            }
            "toml" if b.text.starts_with("[command]") => {
                // A command suite's table, under a suite header of its kind.
                let text = format!("[suite]\nname = \"doc\"\nkind = \"command\"\n\n{}", b.text);
                load(&at, &b.file.with_extension("toml"), &text);
            }
            "toml" => panic!("{at}: a TOML example this test does not know how to check"),
            // A synopsis or output, not commands to run.
            "text" => {}
            "json" => {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.text) else {
                    continue; // one JSON line of a corpus, not a suite
                };
                if v.get("tests").is_some() {
                    // A configuration (`nightly.json`): every test reads into a suite.
                    let dir = tempfile::tempdir().expect("tempdir");
                    let path = dir.path().join("config.json");
                    std::fs::write(&path, &b.text).expect("write");
                    let all = suite::load_all(&path, &shakedown::fault::check)
                        .unwrap_or_else(|e| panic!("{at}: the example does not validate: {e}"));
                    for s in &all {
                        commands_parse(&at, s);
                    }
                    checked += 1;
                    continue;
                }
                if v.get("suite").is_none() {
                    continue;
                }
                let s = load(&at, &b.file.with_extension("json"), &b.text);
                commands_parse(&at, &s);
            }
            _ => {
                // Files the block writes itself (`cat > NAME <<'EOF' ... EOF`), by name.
                let written = heredocs(&b.text);
                for l in b.text.lines() {
                    let l = l
                        .split(" #")
                        .next()
                        .unwrap_or(l)
                        .trim_end_matches(['&', ' ']);
                    let args = match (l.strip_prefix("shakedown "), l.split_once(" -- ")) {
                        (Some(rest), _) => rest,
                        // `cargo run --example X -- ARGS` runs an example, not shakedown.
                        (None, Some((cargo, rest)))
                            if cargo.starts_with("cargo run") && !cargo.contains("--example") =>
                        {
                            rest
                        }
                        _ => continue,
                    };
                    let argv: Vec<String> = std::iter::once("shakedown")
                        .chain(args.split_whitespace())
                        .map(str::to_string)
                        .collect();
                    parses(&at, &argv);
                    // A suite a command names must exist and validate (a certificate
                    // `certify --verify` reads is no suite).
                    for (i, a) in argv.iter().enumerate().skip(1) {
                        if argv[i - 1] == "--verify" {
                            continue;
                        }
                        if let Some(text) = written.get(a.as_str()) {
                            load(&at, Path::new(a), text);
                        } else if a.ends_with(".toml") || a.ends_with(".json") {
                            suite::load_all(Path::new(a), &shakedown::fault::check)
                                .unwrap_or_else(|e| panic!("{at}: `{a}` does not validate: {e}"));
                        }
                    }
                }
                continue;
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} suite examples found");
}

#[test]
fn the_suite_format_states_every_limit_the_code_enforces() {
    let doc = std::fs::read_to_string("docs/suite-format.md").expect("read");
    let limits = doc
        .split("## Limits")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a `## Limits` section");
    for (what, shown) in [
        (
            "MAX_DURATION",
            format!("`\"{}h\"`", limits::MAX_DURATION.as_secs() / 3600),
        ),
        ("MAX_RATE", format!("{}", limits::MAX_RATE)),
        ("MAX_ARRIVALS", limits::number(limits::MAX_ARRIVALS)),
        ("MAX_IN_FLIGHT", limits::MAX_IN_FLIGHT.to_string()),
        ("MAX_TOKENS", limits::MAX_TOKENS.to_string()),
        ("MAX_RESTARTS", limits::MAX_RESTARTS.to_string()),
        ("MAX_NAME_BYTES", limits::MAX_NAME_BYTES.to_string()),
        ("MAX_HOG_THREADS", limits::MAX_HOG_THREADS.to_string()),
        ("MAX_GPU_DEVICE", limits::MAX_GPU_DEVICE.to_string()),
        (
            "MIN_FLICKER_INTERVAL",
            format!("`\"{}ms\"`", limits::MIN_FLICKER_INTERVAL.as_millis()),
        ),
        ("MAX_BANDWIDTH_KBPS", limits::MAX_BANDWIDTH_KBPS.to_string()),
        ("MAX_SLICE_BYTES", limits::MAX_SLICE_BYTES.to_string()),
        (
            "MIN_SAMPLE_EVERY",
            format!("`\"{}ms\"`", limits::MIN_SAMPLE_EVERY.as_millis()),
        ),
        (
            "MIN_REPORT_EVERY",
            format!("`\"{}s\"`", limits::MIN_REPORT_EVERY.as_secs()),
        ),
        ("MAX_REPEATS", limits::MAX_REPEATS.to_string()),
    ] {
        let row = format!("`{what}`");
        let line = limits
            .lines()
            .find(|l| l.contains(&row))
            .unwrap_or_else(|| panic!("no row names {row}"));
        assert!(line.contains(&shown), "{row}: expected {shown} in {line:?}");
    }
}

/// The files a shell block writes with `cat > NAME <<'EOF'` ... `EOF`, by name.
fn heredocs(text: &str) -> std::collections::HashMap<&str, String> {
    let mut out = std::collections::HashMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.trim().strip_prefix("cat > ") else {
            continue;
        };
        let Some((name, marker)) = rest.split_once(" <<") else {
            continue;
        };
        let marker = marker.trim_matches(['\'', '"', ' ']);
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != marker).collect();
        out.insert(name.trim(), body.join("\n") + "\n");
    }
    out
}
