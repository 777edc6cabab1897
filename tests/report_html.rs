//! `report.html` of a real run against the mock: a kill of the engine, then a server that
//! crashes under load and is restarted. The page is written, stands alone, marks each window
//! and restart, links each failure to its explanation, and a real browser renders it.

mod util;

use util::{Case, browser, code, mock_suite, show};

/// Kill the engine 1 s in; the mock also crashes after 50 requests of each generation, and
/// the supervisor restarts it.
fn suite() -> String {
    mock_suite(
        &[
            "--engine",
            "process",
            "--on-engine-death",
            "exit",
            "--bug",
            "crash-under-load",
            "--bug-after",
            "50",
        ],
        r#"restart = { policy = "on-failure", max = 3, backoff = "300ms" }

[load]
rate = 20
arrival = "constant"
timeout = "5s"
duration = "6s"
request = { api = "chat", stream = true, max_tokens = 8 }

[[fault]]
kind = "process.kill"
match = "shakedown::engine"
at = "1s"

[expect]
recover_within = "5s"
steady_success_rate = 0.99
health_truthful = true
"#,
    )
}

#[test]
fn a_failing_run_writes_a_self_contained_report_html_that_a_browser_renders() {
    let case = Case::new(&suite());
    let out = case.run();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let page = case.run_dir().join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html is written");
    for needle in ["http://", "https://", "src=", "<script", "url(", "@import"] {
        // The mock's log lines name its URL: escaped text at most, never a reference.
        if needle == "http://" {
            assert!(!html.contains("href=\"http"), "a link out of the page");
            continue;
        }
        assert!(!html.contains(needle), "`{needle}` in report.html");
    }

    let report = case.report();
    let verdicts = report["verdicts"].as_array().expect("verdicts");
    assert_eq!(html.matches(r#"id="check-"#).count(), verdicts.len());
    let failed = case.failed_ids();
    assert!(failed.contains(&"service.crash".to_string()), "{failed:?}");
    for id in &failed {
        assert!(html.contains(&format!(r##"href="#failure-{id}""##)), "{id}");
        assert!(html.contains(&format!(r#"id="failure-{id}""#)), "{id}");
    }
    let restarts = case.events("service.restart").len();
    assert!(restarts >= 1, "the mock was restarted");
    assert_eq!(html.matches(r#"<line class="restart""#).count(), restarts);
    assert_eq!(html.matches(r#"<rect class="window fault""#).count(), 1);
    assert!(html.matches(r#"<rect class="window crash""#).count() >= 1);
    assert!(
        html.contains(r#"<rect class="poll fail""#),
        "health failed while down"
    );

    let chromium = match browser::chromium() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped the browser half: {why}");
            return;
        }
    };
    let dom = browser::dump_dom(&chromium, &page);
    assert!(dom.contains(r#"<table class="verdicts">"#), "{dom}");
    assert_eq!(dom.matches(r#"id="check-"#).count(), verdicts.len());
    assert!(dom.contains(r#"<svg class="timeline""#));
    assert!(dom.contains(r#"<svg class="health""#));
    assert!(dom.contains(r#"<svg class="memory""#));
    assert!(dom.contains(r#"<section class="failure" id="failure-service.crash">"#));
}
