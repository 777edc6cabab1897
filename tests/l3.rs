//! Level L3 end to end against the mock: the performance thresholds (and accuracy probes)
//! each shown passing on the healthy mock and failing on a slow or wrong one.

mod util;

use util::{Case, code, mock_suite, show};

/// The shipped L3 suite.
const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/suites/l3/mock/mock_accuracy_perf.toml"
);

fn status(case: &Case, check: &str) -> (String, String) {
    let v = case.verdict(check);
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (s("status"), s("id"))
}

/// The shipped suite, run where it is (its probes file beside it), into a temporary run dir.
fn shipped() -> Case {
    Case {
        tmp: tempfile::tempdir().expect("temp dir"),
        suite: SUITE.into(),
    }
}

#[test]
fn shipped_suite_passes_on_the_healthy_mock() {
    let case = shipped();
    let out = case.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    for (check, id) in [
        ("latency_p99", "perf.latency"),
        ("ttft_p99", "perf.ttft"),
        ("tpot_p99", "perf.tpot"),
        ("throughput_min", "perf.throughput"),
        ("accuracy", "accuracy.below"),
        ("accuracy_after_recovery", "accuracy.after_recovery"),
    ] {
        assert_eq!(status(&case, check), ("pass".into(), id.into()), "{check}");
    }
}

#[test]
fn perf_thresholds_fail_on_a_slow_mock() {
    // Every request takes at least 400 ms to its first token and 100 ms per token after it:
    // about 0.7 s in all, far over each bound, however idle the machine.
    let case = Case::new(&mock_suite(
        &["--ttft-ms", "400", "--itl-ms", "100"],
        r#"[load]
rate = 5
arrival = "constant"
timeout = "10s"
duration = "1s"
request = { api = "chat", stream = true, max_tokens = 4 }

[expect]
latency_p99 = "<300ms"
ttft_p99 = "<100ms"
tpot_p99 = "<50ms"
throughput_min = { requests_per_s = 4 }
"#,
    ));
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    for (check, id) in [
        ("latency_p99", "perf.latency"),
        ("ttft_p99", "perf.ttft"),
        ("tpot_p99", "perf.tpot"),
        ("throughput_min", "perf.throughput"),
    ] {
        assert_eq!(status(&case, check), ("fail".into(), id.into()), "{check}");
    }
}

#[test]
fn accuracy_passes_on_the_mock_and_fails_when_it_answers_wrong() {
    let probes = concat!(env!("CARGO_MANIFEST_DIR"), "/suites/l3/mock/probes.jsonl");
    let suite = |bug: &[&str]| {
        let mut args = vec!["--engine", "process"];
        args.extend_from_slice(bug);
        mock_suite(
            &args,
            &format!(
                "[load]\nrate = 5\narrival = \"constant\"\nduration = \"500ms\"\n\n\
                 [accuracy]\nprobes = {probes:?}\nmin = 0.9\nafter_recovery = true\n"
            ),
        )
    };
    let good = Case::new(&suite(&[]));
    let out = good.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    for (check, id) in [
        ("accuracy", "accuracy.below"),
        ("accuracy_after_recovery", "accuracy.after_recovery"),
    ] {
        assert_eq!(status(&good, check), ("pass".into(), id.into()), "{check}");
    }
    assert!(
        good.verdict("accuracy")["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("10 of 10 probe(s) answered right before load"),
        "{}",
        good.verdict("accuracy")
    );

    let wrong = Case::new(&suite(&["--bug", "wrong-answers"]));
    let out = wrong.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let v = wrong.verdict("accuracy");
    assert_eq!(
        status(&wrong, "accuracy"),
        ("fail".into(), "accuracy.below".into()),
        "{v}"
    );
    assert_eq!(v["evidence"]["right"], 0, "{v}");
    assert_eq!(
        v["evidence"]["wrong"][0]["answer"], "6",
        "2 + 3, off by one: {v}"
    );
    assert_eq!(
        status(&wrong, "accuracy_after_recovery"),
        ("fail".into(), "accuracy.after_recovery".into())
    );
}

#[test]
fn accuracy_after_recovery_judges_the_service_after_a_fault() {
    let probes = concat!(env!("CARGO_MANIFEST_DIR"), "/suites/l3/mock/probes.jsonl");
    // The engine is killed 300 ms into load; the mock either starts a new one or answers 503
    // for good (`stay`): up, but no longer answering.
    let suite = |on_death: &str| {
        mock_suite(
            &["--engine", "process", "--on-engine-death", on_death],
            &format!(
                "[load]\nrate = 10\narrival = \"constant\"\nduration = \"2s\"\n\n\
                 [[fault]]\nkind = \"process.kill\"\nmatch = \"shakedown::engine\"\nat = \"300ms\"\n\n\
                 [accuracy]\nprobes = {probes:?}\nafter_recovery = true\ntimeout = \"5s\"\n\n\
                 [expect]\nrecover_within = \"3s\"\n"
            ),
        )
    };
    let respawn = Case::new(&suite("respawn"));
    let out = respawn.run();
    assert_eq!(code(&out), 0, "{}", show(&out));
    for (check, id) in [
        ("accuracy", "accuracy.below"),
        ("accuracy_after_recovery", "accuracy.after_recovery"),
    ] {
        assert_eq!(
            status(&respawn, check),
            ("pass".into(), id.into()),
            "{check}"
        );
    }

    // A round right after the fault, once the service answered again, and one after load.
    let rounds: Vec<serde_json::Value> = util::jsonl(&respawn.run_dir().join("accuracy.jsonl"))
        .into_iter()
        .map(|r| r["round"].clone())
        .collect();
    assert!(
        rounds.contains(&serde_json::json!({"after_fault": 0})),
        "{rounds:?}"
    );
    assert!(
        rounds.contains(&serde_json::json!("after_recovery")),
        "{rounds:?}"
    );
    let v = respawn.verdict("accuracy_after_recovery");
    assert!(
        v["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("2 round(s): 2 passed"),
        "{v}"
    );

    // Never answering again: no round after the fault (its probes wait `recover_within`, then
    // leave it to recovery to judge); the one after load finds the service up but wrong.
    let stay = Case::new(&suite("stay"));
    let out = stay.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(
        status(&stay, "accuracy"),
        ("pass".into(), "accuracy.below".into())
    );
    let v = stay.verdict("accuracy_after_recovery");
    assert_eq!(v["status"], "fail", "{v}");
    assert_eq!(v["evidence"]["right"], 0, "{v}");
    assert_eq!(v["evidence"]["wrong"][0]["status"], 503, "{v}");
    let rounds = util::jsonl(&stay.run_dir().join("accuracy.jsonl"));
    assert!(
        rounds
            .iter()
            .all(|r| r["round"] != serde_json::json!({"after_fault": 0}))
    );
}
