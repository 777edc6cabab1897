//! `shakedown certify`: a release certificate from levels run here or run directories
//! collected, its PASS/FAIL, its hashes (which `--verify` checks) and its HTML and JUnit.

mod util;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::{bin, code, read_json, show};

/// A mock suite of level L3 named `name`: twenty streamed requests that must all succeed;
/// `bug` makes the mock drop every 4th stream's end, so the suite fails.
fn suite(name: &str, bug: bool) -> String {
    let bug = if bug {
        ", \"--bug\", \"drop-stream\""
    } else {
        ""
    };
    format!(
        "[suite]\nname = \"{name}\"\nlevel = \"L3\"\nbudget = \"1m\"\nseed = 3\n\n\
         [service]\ncommand = [\"shakedown\", \"mock-server\", \"--port\", \"{{port}}\"{bug}]\n\
         ready = {{ http = \"/health\", within = \"20s\" }}\nstop_grace = \"2s\"\n\n\
         [load]\nrate = 20\narrival = \"constant\"\nduration = \"1s\"\n\
         request = {{ api = \"chat\", stream = true, max_tokens = 4 }}\n\n\
         [expect]\nsteady_success_rate = 1.0\n"
    )
}

/// A checkout in a temporary directory: `suites/pass.toml` and `suites/fail.toml`.
fn checkout() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let suites = tmp.path().join("suites");
    std::fs::create_dir(&suites).expect("mkdir");
    std::fs::write(suites.join("pass.toml"), suite("pass", false)).expect("write");
    std::fs::write(suites.join("fail.toml"), suite("fail", true)).expect("write");
    tmp
}

/// The failing suite with its failures listed as known: it passes, its cells `xfail`.
fn known(name: &str) -> String {
    format!(
        "{}known_failures = [\n  {{ id = \"loss.request\", reason = \"drops streams\" }},\n  \
         {{ id = \"steady.success_rate\", reason = \"drops streams\" }},\n]\n",
        suite(name, true)
    )
}

/// `shakedown ARGS` in `dir`.
fn shakedown(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run shakedown")
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash entry of `path` in a certificate.
fn hash<'a>(cert: &'a Value, path: &str) -> &'a Value {
    cert["hashes"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["path"] == path))
        .unwrap_or_else(|| panic!("no hash of {path} in {:#}", cert["hashes"]))
}

fn suite_row<'a>(cert: &'a Value, level: &str, name: &str) -> &'a Value {
    cert["levels"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["level"] == level))
        .and_then(|l| l["suites"].as_array())
        .and_then(|s| s.iter().find(|s| s["suite"] == name))
        .unwrap_or_else(|| panic!("no {level} {name} in {cert:#}"))
}

#[test]
fn a_level_run_here_is_certified_and_a_level_without_suites_fails_it() {
    let tmp = checkout();
    let dir = tmp.path();
    std::fs::write(dir.join("suites/known.toml"), known("known")).expect("write");
    let out = shakedown(
        dir,
        &[
            "certify",
            "--release",
            "v1.0",
            "--level",
            "L3",
            "--level",
            "L4",
            "--out",
            "cert",
            "-q",
            "suites",
        ],
    );
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        show(&out).contains("shakedown certify: FAIL"),
        "{}",
        show(&out)
    );
    let cert_dir = dir.join("cert");
    let cert = read_json(&cert_dir.join("certificate.json"));
    assert_eq!(cert["overall"], "FAIL");
    assert_eq!(cert["release"], "v1.0");
    let reasons = cert["reasons"].to_string();
    assert!(reasons.contains("L3 fail: FAILED"), "{reasons}");
    assert!(reasons.contains("L4: no suite ran"), "{reasons}");
    assert!(!reasons.contains("pass"), "{reasons}");
    // A known failure does not fail the certificate.
    assert!(!reasons.contains("known"), "{reasons}");
    let known = suite_row(&cert, "L3", "known");
    assert_eq!(known["status"], "passed");
    assert_eq!(known["cells"]["loss.request"], "xfail");
    // The matrix: suites × verdict ids, each cell the verdict's status.
    let pass = suite_row(&cert, "L3", "pass");
    assert_eq!(pass["status"], "passed");
    assert_eq!(pass["cells"]["steady.success_rate"], "pass");
    let fail = suite_row(&cert, "L3", "fail");
    assert_eq!(fail["cells"]["loss.request"], "fail");
    // Links are relative to the certificate's directory and lead to the run.
    let run_dir = fail["run_dir"].as_str().expect("run_dir");
    assert!(Path::new(run_dir).is_relative(), "{run_dir}");
    assert!(cert_dir.join(run_dir).join("report.json").is_file());
    assert_eq!(
        fail["report_html"].as_str(),
        Some(format!("{run_dir}/report.html").as_str())
    );
    // The suite files, relative to the checkout, hashed as sha256sum would.
    for s in ["suites/pass.toml", "suites/fail.toml"] {
        assert_eq!(hash(&cert, s)["sha256"], sha256_of(&dir.join(s)), "{s}");
    }
    assert_eq!(
        cert["hashes"][0]["sha256"],
        sha256_of(&bin()),
        "the binary is hashed"
    );
    assert!(cert["hardware"]["cores"].as_u64().is_some_and(|c| c > 0));
    // JUnit: one testsuite per level, one testcase per suite.
    let junit = std::fs::read_to_string(cert_dir.join("certificate.junit.xml")).expect("junit");
    assert!(
        junit.contains("<testsuite name=\"L3\" tests=\"3\" failures=\"1\""),
        "{junit}"
    );
    assert!(junit.contains("<testsuite name=\"L4\""), "{junit}");
    assert!(junit.contains("name=\"no suite ran\""), "{junit}");
}

#[test]
fn collected_runs_pass_or_fail_and_verify_catches_a_changed_suite() {
    let tmp = checkout();
    let dir = tmp.path();
    for name in ["pass", "fail"] {
        let suite = format!("suites/{name}.toml");
        let run = shakedown(dir, &["run", &suite, "--run-dir", name, "-q"]);
        assert_eq!(code(&run), i32::from(name == "fail"), "{}", show(&run));
    }

    let pass = shakedown(
        dir,
        &["certify", "--release", "r1", "--out", "c-pass", "pass"],
    );
    assert_eq!(code(&pass), 0, "{}", show(&pass));
    let cert = read_json(&dir.join("c-pass/certificate.json"));
    assert_eq!(cert["overall"], "PASS", "{cert:#}");
    assert_eq!(suite_row(&cert, "L3", "pass")["run_dir"], "../pass");

    let both = shakedown(
        dir,
        &[
            "certify",
            "--release",
            "r1",
            "--out",
            "c-both",
            "pass",
            "fail",
        ],
    );
    assert_eq!(code(&both), 1, "{}", show(&both));
    let cert = read_json(&dir.join("c-both/certificate.json"));
    assert_eq!(cert["overall"], "FAIL");
    assert_eq!(suite_row(&cert, "L3", "fail")["status"], "failed");

    // Untouched, every hash holds; one byte more in a suite file, and verify names it.
    let verify = |d: &Path| shakedown(d, &["certify", "--verify", "c-both/certificate.json"]);
    let ok = verify(dir);
    assert_eq!(code(&ok), 0, "{}", show(&ok));
    let mut text = std::fs::read(dir.join("suites/fail.toml")).expect("read");
    text.push(b'\n');
    std::fs::write(dir.join("suites/fail.toml"), text).expect("write");
    let changed = verify(dir);
    assert_eq!(code(&changed), 1, "{}", show(&changed));
    assert!(
        show(&changed).contains("changed: suites/fail.toml: sha256"),
        "{}",
        show(&changed)
    );
    assert!(!show(&changed).contains("pass.toml"), "{}", show(&changed));
    // --root reads the checkout elsewhere; a missing certificate is exit 2.
    let cert_path = dir.join("c-both/certificate.json");
    let elsewhere = Command::new(bin())
        .args(["certify", "--verify"])
        .arg(&cert_path)
        .arg("--root")
        .arg(dir)
        .output()
        .expect("verify");
    assert_eq!(code(&elsewhere), 1, "{}", show(&elsewhere));
    let none = shakedown(dir, &["certify", "--verify", "no-such.json"]);
    assert_eq!(code(&none), 2, "{}", show(&none));

    // A hostile suite name in a report is escaped in the page, which references nothing outside.
    let report_path = dir.join("pass/report.json");
    let mut report = read_json(&report_path);
    report["suite"] = Value::from("<script>alert(1)</script>");
    std::fs::write(&report_path, report.to_string()).expect("write");
    let hostile = shakedown(
        dir,
        &[
            "certify",
            "--release",
            "<b>r&1</b>",
            "--out",
            "c-hostile",
            "pass",
        ],
    );
    assert_eq!(code(&hostile), 0, "{}", show(&hostile));
    let html = std::fs::read_to_string(dir.join("c-hostile/certificate.html")).expect("html");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;r&amp;1&lt;/b&gt;"), "{html}");
    for external in ["<script", "http://", "https://", "src=", "<link", "@import"] {
        assert!(!html.contains(external), "{external} in {html}");
    }
}

#[test]
fn every_file_a_suite_depends_on_is_hashed_and_a_missing_program_is_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    for d in ["suites", "faults", "corpora", "level"] {
        std::fs::create_dir(dir.join(d)).expect("mkdir");
    }
    std::fs::write(
        dir.join("faults/kill-main.toml"),
        "kind = \"process.kill\"\nservice = \"main\"\n",
    )
    .expect("write");
    std::fs::copy(
        root.join("tests/suites/valid/corpora/mine.jsonl"),
        dir.join("suites/mine.jsonl"),
    )
    .expect("copy corpus");
    std::fs::copy(
        root.join("suites/l3/mock/probes.jsonl"),
        dir.join("suites/probes.jsonl"),
    )
    .expect("copy probes");
    let suite = "[suite]\nname = \"deps\"\nlevel = \"L3\"\n\n\
                 [service.main]\ncommand = [\"no-such-program-for-certify\", \"{port}\"]\n\
                 entry = true\n\n\
                 [service.helper]\ncommand = [\"sh\", \"-c\", \"sleep 1 {port}\"]\n\n\
                 [[fault]]\nuse = \"kill-main\"\nat = \"1s\"\n\n\
                 [[fault]]\nkind = \"input.malformed\"\nat = \"1s\"\n\
                 cases = [\"builtin:openai\", \"file:mine.jsonl\"]\n\n\
                 [accuracy]\nprobes = \"probes.jsonl\"\n";
    std::fs::write(dir.join("suites/deps.toml"), suite).expect("write suite");
    let check = shakedown(dir, &["validate", "suites/deps.toml"]);
    assert_eq!(code(&check), 0, "{}", show(&check));
    // A level directory whose one suite was skipped: certified from its file alone.
    let level = serde_json::json!({"suites": [{
        "name": "deps", "file": "suites/deps.toml", "level": "L3", "status": "skipped",
        "run_dir": null, "reason": "skipped: needs a GPU"
    }]});
    std::fs::write(dir.join("level/level.json"), level.to_string()).expect("write");
    let out = shakedown(dir, &["certify", "--release", "r", "--out", "c", "level"]);
    // Its only suite skipped, the level ran nothing: that fails the certificate.
    assert_eq!(code(&out), 1, "{}", show(&out));
    let cert = read_json(&dir.join("c/certificate.json"));
    assert_eq!(
        suite_row(&cert, "L3", "deps")["reason"],
        "skipped: needs a GPU"
    );
    for (path, kind) in [
        ("suites/deps.toml", "suite"),
        ("faults/kill-main.toml", "fault"),
        ("suites/mine.jsonl", "corpus"),
        ("suites/probes.jsonl", "probes"),
    ] {
        let h = hash(&cert, path);
        assert_eq!(h["kind"], kind, "{h}");
        assert_eq!(h["sha256"], sha256_of(&dir.join(path)), "{path}");
    }
    let builtin = hash(&cert, "corpora/openai.jsonl");
    assert_eq!(
        builtin["sha256"],
        sha256_of(&root.join("corpora/openai.jsonl"))
    );
    let missing = hash(&cert, "no-such-program-for-certify");
    assert_eq!(missing["kind"], "program");
    assert_eq!(missing["missing"], true);
    assert_eq!(missing["sha256"], Value::Null);
    let sh = cert["hashes"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["named"] == "sh"))
        .unwrap_or_else(|| panic!("sh not hashed: {cert:#}"));
    let sh_path = PathBuf::from(sh["path"].as_str().expect("path"));
    assert!(sh_path.is_absolute());
    assert_eq!(sh["sha256"], sha256_of(&sh_path));
    // The built-in corpus is verified against the checkout's corpora/openai.jsonl.
    let verify = || shakedown(dir, &["certify", "--verify", "c/certificate.json"]);
    let no_corpus = verify();
    assert_eq!(code(&no_corpus), 1, "{}", show(&no_corpus));
    assert!(
        show(&no_corpus).contains("missing: corpora/openai.jsonl"),
        "{}",
        show(&no_corpus)
    );
    std::fs::copy(
        root.join("corpora/openai.jsonl"),
        dir.join("corpora/openai.jsonl"),
    )
    .expect("copy corpus");
    // A program missing then and now is no mismatch.
    let ok = verify();
    assert_eq!(code(&ok), 0, "{}", show(&ok));
    // Found on PATH now, it appeared.
    let bin_dir = dir.join("bin");
    std::fs::create_dir(&bin_dir).expect("mkdir");
    let program = bin_dir.join("no-such-program-for-certify");
    std::fs::write(&program, "#!/bin/sh\n").expect("write program");
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let appeared = Command::new(bin())
        .current_dir(dir)
        .env("PATH", path)
        .args(["certify", "--verify", "c/certificate.json"])
        .output()
        .expect("verify");
    assert_eq!(code(&appeared), 1, "{}", show(&appeared));
    assert!(
        show(&appeared)
            .contains("appeared: no-such-program-for-certify: recorded missing, now sha256"),
        "{}",
        show(&appeared)
    );
}

#[test]
fn runs_certified_from_elsewhere_hash_the_checkout_given_as_root() {
    let tmp = checkout();
    let dir = tmp.path();
    let run = shakedown(dir, &["run", "suites/pass.toml", "--run-dir", "pass", "-q"]);
    assert_eq!(code(&run), 0, "{}", show(&run));
    // The run recorded `suites/pass.toml`, relative to the checkout; certify runs elsewhere.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let cert_dir = elsewhere.path().join("c");
    let out = Command::new(bin())
        .current_dir(elsewhere.path())
        .args(["certify", "--release", "r1", "--root"])
        .arg(dir)
        .arg("--out")
        .arg(&cert_dir)
        .arg(dir.join("pass"))
        .output()
        .expect("certify");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let cert_path = cert_dir.join("certificate.json");
    let cert = read_json(&cert_path);
    let h = hash(&cert, "suites/pass.toml");
    assert_eq!(h["missing"], false, "{h}");
    assert_eq!(h["sha256"], sha256_of(&dir.join("suites/pass.toml")));

    let verify = || {
        Command::new(bin())
            .current_dir(elsewhere.path())
            .args(["certify", "--verify"])
            .arg(&cert_path)
            .arg("--root")
            .arg(dir)
            .output()
            .expect("verify")
    };
    let ok = verify();
    assert_eq!(code(&ok), 0, "{}", show(&ok));
    std::fs::write(dir.join("suites/pass.toml"), suite("pass", true)).expect("write");
    let changed = verify();
    assert_eq!(code(&changed), 1, "{}", show(&changed));
    assert!(
        show(&changed).contains("changed: suites/pass.toml: sha256"),
        "{}",
        show(&changed)
    );
    // A hand-edited hash, however odd, is a mismatch, not a crash.
    let mut edited = cert.clone();
    if let Some(h) = edited["hashes"]
        .as_array_mut()
        .and_then(|hs| hs.iter_mut().find(|h| h["path"] == "suites/pass.toml"))
    {
        h["sha256"] = Value::from("aéééééééééééééé");
    }
    std::fs::write(&cert_path, edited.to_string()).expect("write");
    let odd = verify();
    assert_eq!(code(&odd), 1, "{}", show(&odd));
    assert!(
        show(&odd).contains("changed: suites/pass.toml: sha256 aééééééééééé… ≠"),
        "{}",
        show(&odd)
    );
}

#[test]
fn an_aborted_run_fails_the_certificate_under_its_guardrail_id() {
    let tmp = checkout();
    let dir = tmp.path();
    let aborting = suite("abort", false).replace("duration = \"1s\"", "duration = \"30s\"")
        + "\n[guardrail.memory]\nabove = \"1MiB\"\n";
    std::fs::write(dir.join("suites/abort.toml"), aborting).expect("write");
    let run = shakedown(
        dir,
        &["run", "suites/abort.toml", "--run-dir", "abort", "-q"],
    );
    assert_eq!(code(&run), 1, "{}", show(&run));
    let out = shakedown(dir, &["certify", "--release", "r1", "--out", "c", "abort"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let cert = read_json(&dir.join("c/certificate.json"));
    assert_eq!(cert["overall"], "FAIL", "{cert:#}");
    let row = suite_row(&cert, "L3", "abort");
    assert_eq!(row["status"], "aborted", "{row}");
    assert_eq!(row["cells"]["guardrail.memory"], "fail", "{row}");
    let junit = std::fs::read_to_string(dir.join("c/certificate.junit.xml")).expect("junit");
    assert!(junit.contains("failures=\"1\""), "{junit}");
    assert!(!junit.contains("no suite ran"), "{junit}");
    assert!(
        junit.contains("<failure message=\"failed: guardrail.memory"),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.join("c/certificate.html")).expect("html");
    assert!(html.contains("aborted"), "{html}");
}

#[test]
fn nothing_to_certify_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = shakedown(tmp.path(), &["certify", "--release", "r"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let out = shakedown(tmp.path(), &["certify", "--release", "r", "."]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        show(&out).contains("neither a run directory"),
        "{}",
        show(&out)
    );
}
