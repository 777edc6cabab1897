//! Network faults end to end: the shipped flicker suite passes on the healthy mock and fails
//! with `recovery.timeout` when broken connections leak the mock's slots; network fault keys
//! and the `[proxy]` table are checked by `shakedown validate`.

mod util;

use std::process::Command;
use util::{Case, bin};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/suites/l5/reliability/mock_network_flicker.toml"
);

fn suite_text() -> String {
    std::fs::read_to_string(SUITE).expect("read the flicker suite")
}

fn show(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn flicker_suite_passes_on_the_healthy_mock() {
    let case = Case::new(&suite_text());
    let out = case.run();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let report = case.report();
    // The network really broke: clients saw refused or reset connections, cleanly.
    let by = &report["requests"]["by_outcome"];
    let broken = by["connect_error"].as_u64().unwrap_or(0) + by["reset"].as_u64().unwrap_or(0);
    assert!(broken > 0, "{report:#}");
    assert!(!case.events("network.down").is_empty());
    assert!(!case.events("network.up").is_empty());
    assert_eq!(case.events("proxy.create").len(), 1);
    assert_eq!(case.events("proxy.delete").len(), 1);
    assert_eq!(
        case.events("proxy.delete")[0]["error"],
        serde_json::Value::Null
    );
    // Load went through the proxy, health polls did not.
    let created = &case.events("proxy.create")[0];
    assert_ne!(created["listen"], created["upstream"]);
}

#[test]
fn flicker_suite_fails_recovery_when_broken_connections_leak_slots() {
    let text = suite_text().replace(
        r#""--max-num-seqs", "8""#,
        r#""--max-num-seqs", "8", "--bug", "leak-on-disconnect""#,
    );
    let case = Case::new(&text);
    let out = case.run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v = case.verdict("recover_within");
    assert_eq!(v["status"], "fail", "{v:#}");
    assert_eq!(v["id"], "recovery.timeout");
    // Teardown still restored and removed the proxy.
    assert_eq!(case.events("proxy.delete").len(), 1);
}

fn validate(text: &str) -> String {
    let case = Case::new(text);
    let out = Command::new(bin())
        .arg("validate")
        .arg(&case.suite)
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn validate_locates_bad_network_keys_and_proxy_table() {
    let base = "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"x\"]\n\n";
    let err = validate(&format!(
        "{base}[[fault]]\nkind = \"network.latency\"\nat = \"1s\"\nfor = \"1s\"\nlatency = \"1ms\"\nrate = 3\n"
    ));
    assert!(err.contains("suite.toml:12:1: unknown key `rate`"), "{err}");
    let err = validate(&format!(
        "{base}[[fault]]\nkind = \"network.flicker\"\nat = \"1s\"\nfor = \"1s\"\ndown = [\"2s\", \"1s\"]\n"
    ));
    assert!(err.contains("suite.toml:11:"), "{err}");
    let err = validate(&format!(
        "{base}[proxy]\nserver = \"http://h:1\"\nport = 3\n"
    ));
    assert!(
        err.contains("suite.toml:9:1: unknown key `port` in [proxy]"),
        "{err}"
    );
    let err = validate(&format!(
        "{base}[proxy]\nenabled = false\n\n[[fault]]\nkind = \"network.down\"\nat = \"1s\"\nfor = \"1s\"\n"
    ));
    assert!(
        err.contains("suite.toml:8:1: `enabled` in [proxy] is false"),
        "{err}"
    );
}
