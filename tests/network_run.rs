//! Network faults end to end: the shipped flicker suite passes on the healthy mock and fails
//! with `recovery.timeout` when broken connections leak the mock's slots; network fault keys
//! and the `[proxy]` table are checked by `shakedown validate`.

mod util;

use std::process::Command;
use std::time::Duration;
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
    let count = |o: &str| by[o].as_u64().unwrap_or(0);
    let broken = count("connect_error") + count("reset") + count("stream_truncated");
    assert!(broken > 0, "{report:#}");
    // A stream the network cut is recorded as cut short, never as success and never as a
    // stream the service ended on its own.
    let reqs = util::jsonl(&case.run_dir().join("requests.jsonl"));
    for r in reqs.iter().filter(|r| r["outcome"] == "stream_truncated") {
        assert_eq!(r["clean_end"], false, "{r}");
        assert!(
            r["error"]
                .as_str()
                .unwrap_or("")
                .starts_with("stream cut after"),
            "{r}"
        );
    }
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
        r#""--max-num-seqs", "8", "--bug", "stall-on-disconnect""#,
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
    let base = "[suite]\nname = \"t\"\n\n[service]\ncommand = [\"x\", \"{port}\"]\n\n";
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

#[tokio::test]
async fn an_external_server_is_driven_and_left_clean_after_an_interrupt() {
    // `shakedown proxy`, or a real Toxiproxy when SHAKEDOWN_TOXIPROXY names one.
    let server = util::toxiproxy::ProxyServer::external().await;
    let url = server.url();
    let case = Case::new(&util::mock_suite(
        &[],
        &format!(
            r#"[proxy]
server = "{url}"

[load]
rate = 20
arrival = "constant"
timeout = "5s"
duration = "30s"
request = {{ api = "chat", stream = true, max_tokens = 8 }}

[[fault]]
kind = "network.latency"
at = "500ms"
for = "30s"
latency = "20ms"

[[fault]]
kind = "network.down"
at = "500ms"
for = "30s"
"#
        ),
    ));
    let child = case.spawn();
    let events = case.run_dir().join("events.jsonl");
    util::wait_for(Duration::from_secs(30), "both faults injected", || {
        std::fs::read_to_string(&events).is_ok_and(|s| s.matches("\"fault.inject\"").count() >= 2)
    });
    // Mid-fault: the external server holds our proxy, disabled, with its toxic.
    let proxies: serde_json::Value = reqwest::get(format!("{url}/proxies"))
        .await
        .expect("GET /proxies")
        .json()
        .await
        .expect("json");
    let ours = proxies.as_object().and_then(|m| m.values().next().cloned());
    let ours = ours.unwrap_or_else(|| panic!("no proxy on the server: {proxies}"));
    assert_eq!(ours["enabled"], false, "{ours}");
    assert_eq!(ours["toxics"][0]["type"], "latency", "{ours}");
    util::sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    util::assert_tree_gone(&case.run_dir());
    let created = &case.events("proxy.create")[0];
    assert_eq!(created["embedded"], false);
    assert_eq!(created["server"], url.as_str());
    // Both faults cleared early, then the proxy deleted: nothing left on the server.
    let cleared = case.events("fault.clear");
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared.iter().all(|c| c["early"] == true), "{cleared:?}");
    assert_eq!(
        case.events("proxy.delete")[0]["error"],
        serde_json::Value::Null
    );
    let left: serde_json::Value = reqwest::get(format!("{url}/proxies"))
        .await
        .expect("GET /proxies")
        .json()
        .await
        .expect("json");
    assert_eq!(left, serde_json::json!({}));
}
