//! `report.html`: the judged run for a person, one self-contained file that opens from the
//! run directory with no network: inline CSS and SVG, no script, no external reference.
//!
//! Top to bottom: the header (suite, status, seed, start, duration, the error, the replay
//! command of a failing run), the verdict table, request counts, the charts (`chart`: latency
//! and outcome over time with windows and restarts, health polls, memory), the per-case
//! table of an input suite, a command's failing tests, a perf test's table, a soak's
//! `stability.svg`, and the section of `failures.md` for each failing id, which the table
//! links to. A part with no data is left out. The markup is XHTML-compatible (every element
//! closed, attributes quoted) so tests parse it as XML.

use super::junit::esc;
use super::{FAILURES_DOC, Report, RunStatus, chart};
use crate::record::{TestStatus, files};
use crate::verdict::{Course, RunRecords, Status, Verdict};
use std::fmt::Write as _;
use std::path::Path;

/// The failure ids' explanations, compiled in so their links work offline.
const FAILURES: &str = include_str!("../../docs/contributing/ci/failures.md");

/// Failing tests of a command suite listed at most (`report.json` has them all).
const MAX_TEST_ROWS: usize = 200;

/// The page's style: status colours, tables, and the charts' classes.
const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.status{padding:.1em .5em;border-radius:4px;color:#fff;font-weight:bold}
.passed,.pass{background:#2e7d32}.failed,.fail,.xpass{background:#c62828}
.error{background:#6a1b9a}.interrupted,.aborted{background:#ef6c00}.skipped,.skip,.not_judged{background:#757575}
.xfail{background:#8d6e63}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dl.meta dt{color:#666}dl.meta dd{margin:0}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td{overflow-wrap:anywhere}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.row-fail td,tr.row-xpass td{background:#ffebee}tr.row-xfail td{background:#efebe9}
td .status{font-size:.85em}td pre{white-space:pre-wrap;word-break:break-word}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;margin:.3em 0}
code{background:#f3f3f3;padding:0 .2em}
section.failure{border-left:4px solid #c62828;padding:.1em 1em;margin:1em 0}
section.failure:target{background:#fff8e1}tr:target td{background:#fff8e1}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:50%;margin-right:.3em;vertical-align:middle}
svg{display:block;background:#fff;border:1px solid #eee;margin:.3em 0}
svg .grid{stroke:#eee}svg .tick,svg .label{font-size:11px;fill:#555}
svg .window.fault{fill:#ffcc80;fill-opacity:.45}svg .window.crash{fill:#ef9a9a;fill-opacity:.5}
svg .in-force{fill:#e65100}svg .restart{stroke:#6a1b9a;stroke-width:2;stroke-dasharray:4 3}
svg .dots{fill:none;stroke-width:3.5;stroke-linecap:round}
.o-ok{stroke:#2e7d32;background:#2e7d32}.o-http_4xx{stroke:#f9a825;background:#f9a825}
.o-http_5xx{stroke:#c62828;background:#c62828}.o-timeout{stroke:#6a1b9a;background:#6a1b9a}
.o-connect_error{stroke:#000;background:#000}.o-reset{stroke:#d81b60;background:#d81b60}
.o-stream_truncated{stroke:#1565c0;background:#1565c0}.o-bad_response{stroke:#00838f;background:#00838f}
.o-dropped{stroke:#9e9e9e;background:#9e9e9e}.o-aborted{stroke:#795548;background:#795548}
.swatch.fault{background:#ffcc80;border-radius:0}.swatch.crash{background:#ef9a9a;border-radius:0}
.swatch.restart{background:#6a1b9a;width:.2em;border-radius:0}
svg .poll.ok{fill:#66bb6a}svg .poll.fail{fill:#e53935}.swatch.poll-ok{background:#66bb6a;border-radius:0}.swatch.poll-fail{background:#e53935;border-radius:0}
svg .line{fill:none;stroke-width:1.5}
.line-0{stroke:#1565c0;background:#1565c0}.line-1{stroke:#c62828;background:#c62828}.line-2{stroke:#2e7d32;background:#2e7d32}
.line-3{stroke:#ef6c00;background:#ef6c00}.line-4{stroke:#6a1b9a;background:#6a1b9a}.line-5{stroke:#00838f;background:#00838f}
footer{margin-top:2em;color:#777;font-size:.9em}
"#;

/// The anchor of a failure id's section in the page (`failure-service.crash`).
pub fn anchor(id: &str) -> String {
    format!("failure-{id}")
}

/// Write `report.html` into the run directory.
pub fn write(
    dir: &Path,
    report: &Report,
    records: &RunRecords,
    course: &Course,
) -> std::io::Result<()> {
    // A soak's plot, inlined so the page stands alone; one that cannot be read is left out.
    let stability = report
        .plots
        .iter()
        .find(|p| p.as_str() == files::STABILITY_SVG)
        .and_then(|p| std::fs::read_to_string(dir.join(p)).ok());
    let page = render(report, records, course, stability.as_deref());
    std::fs::write(dir.join(files::REPORT_HTML), page)
}

/// The page of a judged run; `stability_svg` is a soak's plot, drawn in.
pub fn render(
    report: &Report,
    records: &RunRecords,
    course: &Course,
    stability_svg: Option<&str>,
) -> String {
    let mut p = String::new();
    let status = report.status.word();
    let _ = write!(
        p,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width"/>
<title>{status}: {} (shakedown)</title><style>{STYLE}</style></head><body>
"#,
        esc(&report.suite)
    );
    header(&mut p, report);
    let failures = failure_ids(report);
    verdicts(&mut p, report, &failures);
    requests(&mut p, report);
    charts(&mut p, records, course);
    cases(&mut p, report);
    tests(&mut p, report);
    perf(&mut p, report);
    if let Some(svg) = stability_svg {
        // Namespaces are implied for SVG inside HTML; the page names no URL at all.
        let svg = svg.replace(r#" xmlns="http://www.w3.org/2000/svg""#, "");
        let _ = write!(
            p,
            r#"<section id="stability"><h2>Stability</h2>{svg}</section>"#
        );
    }
    explanations(&mut p, &failures);
    let _ = write!(
        p,
        "<footer>Written by shakedown {} from the run directory <code>{}</code>; \
         <code>shakedown report DIR</code> judges it again and rewrites this page.</footer>\n</body></html>\n",
        esc(&report.shakedown),
        esc(&report.run_dir.display().to_string())
    );
    p
}

/// Suite, status, seed, start, duration, the error, the replay command of a failing run.
fn header(p: &mut String, r: &Report) {
    let _ = write!(
        p,
        r#"<header><h1>{} <span class="status {}">{}</span></h1><dl class="meta">"#,
        esc(&r.suite),
        status_class(r.status),
        r.status.word()
    );
    let mut item = |k: &str, v: &str| {
        let _ = write!(p, "<dt>{k}</dt><dd>{}</dd>", esc(v));
    };
    item("level", &r.level);
    item("seed", &r.seed.to_string());
    item("started at", &r.started_at);
    item("duration", &format!("{:.1} s", r.wall_ms / 1e3));
    item("run directory", &r.run_dir.display().to_string());
    item("shakedown", &r.shakedown);
    p.push_str("</dl>");
    if let Some(e) = &r.error {
        let _ = write!(p, r#"<pre class="run-error">{}</pre>"#, esc(e));
    }
    if let Some(cmd) = r.replay_command() {
        let _ = write!(
            p,
            r#"<p>Replay (the same suite, seed and schedule): </p><pre class="replay"><code>{}</code></pre>"#,
            esc(&cmd)
        );
    }
    p.push_str("</header>\n");
}

/// The class of a run status (`failed`).
fn status_class(s: RunStatus) -> String {
    s.word().to_lowercase()
}

/// The class of a verdict's status, as `report.json` spells it (`not_judged`).
fn verdict_class(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The ids the page explains: those that failed, were known failures or passed when listed
/// as one, and `budget.exceeded` or the guardrail's id when the budget or a guardrail cut
/// the run; each once, in report order,
/// and only those `failures.md` has a section for.
fn failure_ids(r: &Report) -> Vec<(String, &'static str)> {
    let mut ids: Vec<&str> = Vec::new();
    if let Some(id) = r.ending_id() {
        ids.push(id);
    }
    ids.extend(
        r.verdicts
            .iter()
            .filter(|v| matches!(v.status, Status::Fail | Status::XFail | Status::XPass))
            .map(|v| v.id.as_str()),
    );
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for id in ids {
        if out.iter().any(|(seen, _)| seen == id) {
            continue;
        }
        if let Some(text) = section(FAILURES, id) {
            out.push((id.to_string(), text));
        }
    }
    out
}

/// One row per verdict: status, check, id (a link to its explanation when the page has
/// one), summary with its lines, and the evidence folded away.
fn verdicts(p: &mut String, r: &Report, explained: &[(String, &str)]) {
    if r.verdicts.is_empty() {
        return;
    }
    p.push_str(
        r#"<section id="verdicts"><h2>Verdicts</h2><table class="verdicts"><thead><tr><th>status</th><th>check</th><th>id</th><th>what was seen</th></tr></thead><tbody>"#,
    );
    let mut seen: Vec<&str> = Vec::new();
    for v in &r.verdicts {
        let class = verdict_class(v.status);
        // A row's anchor is its check (`#check-recover_within`), numbered when a check repeats.
        let n = seen.iter().filter(|c| **c == v.check).count();
        seen.push(&v.check);
        let row = if n == 0 {
            format!("check-{}", v.check)
        } else {
            format!("check-{}-{}", v.check, n + 1)
        };
        let id = if explained.iter().any(|(id, _)| *id == v.id) {
            format!(r##"<a href="#{}">{}</a>"##, esc(&anchor(&v.id)), esc(&v.id))
        } else {
            esc(&v.id)
        };
        let _ = write!(
            p,
            r#"<tr class="row-{class}" id="{}"><td><span class="status {class}">{}</span></td><td>{}</td><td>{id}</td><td>{}"#,
            esc(&row),
            v.status.tag(),
            esc(&v.check),
            esc(&v.summary)
        );
        if !v.lines.is_empty() {
            let _ = write!(p, "<pre>{}</pre>", esc(&v.lines.join("\n")));
        }
        evidence(p, v);
        p.push_str("</td></tr>");
    }
    p.push_str("</tbody></table></section>\n");
}

/// A verdict's evidence as JSON, folded, when it has any.
fn evidence(p: &mut String, v: &Verdict) {
    let empty = match &v.evidence {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty {
        return;
    }
    let json = serde_json::to_string_pretty(&v.evidence).unwrap_or_default();
    let _ = write!(
        p,
        "<details><summary>evidence</summary><pre>{}</pre></details>",
        esc(&json)
    );
}

/// Request counts by outcome and the latency percentiles of successful ones.
fn requests(p: &mut String, r: &Report) {
    let q = &r.requests;
    if q.total == 0 {
        return;
    }
    let _ = write!(
        p,
        r#"<section id="requests"><h2>Requests</h2><table class="requests"><tr><th>outcome</th><th>requests</th></tr>"#
    );
    for (o, n) in &q.by_outcome {
        let _ = write!(
            p,
            r#"<tr><td><span class="swatch {}"></span>{}</td><td class="num">{n}</td></tr>"#,
            chart::outcome_class(*o),
            o.word()
        );
    }
    let _ = write!(
        p,
        r#"<tr><th>total</th><th class="num">{}</th></tr></table>"#,
        q.total
    );
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1} ms"));
    let _ = writeln!(
        p,
        "<p>Successful requests: E2E p50 {}, p99 {}; TTFT p50 {}. Schedule lag p50 {}, p99 {}.</p></section>",
        ms(q.ok_latency_p50_ms),
        ms(q.ok_latency_p99_ms),
        ms(q.ttft_p50_ms),
        ms(q.lag_p50_ms),
        ms(q.lag_p99_ms)
    );
}

/// The charts on one time axis, each with its legend; none when nothing was recorded.
fn charts(p: &mut String, r: &RunRecords, course: &Course) {
    let Some(axis) = chart::Axis::of(r, course) else {
        return;
    };
    let requests = chart::requests(r, course, &axis);
    let health = chart::health(r, &axis);
    let memory = chart::memory(r, &axis);
    if requests.is_none() && health.is_none() && memory.is_none() {
        return;
    }
    p.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    if let Some(svg) = requests {
        p.push_str("<h3>Request latency (log scale) and outcome, by start time</h3>");
        p.push_str(&svg);
        p.push_str(r#"<ul class="legend">"#);
        for (o, (drawn, k)) in chart::thin(&r.requests) {
            let thinned = if k > 1 {
                format!(", every {k}th drawn ({} dots)", drawn.len())
            } else {
                String::new()
            };
            let n = r.requests.iter().filter(|q| q.outcome == o).count();
            let _ = write!(
                p,
                r#"<li><span class="swatch {}"></span>{} ({n}{thinned})</li>"#,
                chart::outcome_class(o),
                o.word()
            );
        }
        let faults = course
            .windows
            .iter()
            .filter(|w| matches!(w.cause, crate::verdict::Cause::Fault(_)))
            .count();
        let marks = [
            (
                "fault",
                faults,
                "fault until recovery (the dark bar: the fault in force)",
            ),
            (
                "crash",
                course.windows.len() - faults,
                "unplanned exit until recovery",
            ),
            ("restart", chart::restarts(r).len(), "service restart"),
        ];
        for (class, n, what) in marks.into_iter().filter(|m| m.1 > 0) {
            let _ = write!(
                p,
                r#"<li><span class="swatch {class}"></span>{what} ({n})</li>"#
            );
        }
        p.push_str("</ul>");
    }
    if let Some(svg) = health {
        p.push_str("<h3>Health polls</h3>");
        p.push_str(&svg);
        p.push_str(r#"<ul class="legend"><li><span class="swatch poll-ok"></span>answered 2xx</li><li><span class="swatch poll-fail"></span>another status or no answer</li></ul>"#);
    }
    if let Some((svg, names)) = memory {
        p.push_str("<h3>Process-tree memory (PSS, RSS where PSS is unreadable)</h3>");
        p.push_str(&svg);
        p.push_str(r#"<ul class="legend">"#);
        for (i, name) in names.iter().enumerate() {
            let _ = write!(
                p,
                r#"<li><span class="swatch line-{}"></span>{}</li>"#,
                i % 6,
                esc(name)
            );
        }
        p.push_str("</ul>");
    }
    p.push_str("</section>\n");
}

/// An input suite's per-case table, every case in the order sent.
fn cases(p: &mut String, r: &Report) {
    if r.input.is_empty() {
        return;
    }
    let failing = r.input.iter().filter(|c| c.verdict != "ok").count();
    let _ = write!(
        p,
        r#"<section id="cases"><h2>Malformed-input cases</h2><p>{} sent, {} ok, {failing} failing.</p><table class="cases"><thead><tr><th>case</th><th>category</th><th>expect</th><th>status</th><th>time</th><th>verdict</th><th>evidence</th></tr></thead><tbody>"#,
        r.input.len(),
        r.input.len() - failing
    );
    for c in &r.input {
        let class = if c.verdict == "ok" { "pass" } else { "fail" };
        let _ = write!(
            p,
            r#"<tr class="row-{class}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{:.1} ms</td><td>{}</td><td>{}</td></tr>"#,
            esc(&c.case),
            esc(&c.category),
            esc(&c.expect),
            esc(&c.status),
            c.time_ms,
            esc(&c.verdict),
            esc(&c.evidence)
        );
    }
    p.push_str("</tbody></table></section>\n");
}

/// A command suite's tests: counts, then the ones that did not pass (or passed on a rerun).
fn tests(p: &mut String, r: &Report) {
    if r.tests.is_empty() {
        return;
    }
    let count = |s: TestStatus| r.tests.iter().filter(|t| t.status == s).count();
    let _ = write!(
        p,
        r#"<section id="tests"><h2>Tests</h2><p>{} tests: {} passed, {} failed, {} errors, {} skipped.</p>"#,
        r.tests.len(),
        count(TestStatus::Pass),
        count(TestStatus::Fail),
        count(TestStatus::Error),
        count(TestStatus::Skip)
    );
    let shown: Vec<_> = r.tests.iter().filter(|t| t.failed() || t.flaky()).collect();
    if !shown.is_empty() {
        p.push_str(r#"<table class="tests"><thead><tr><th>test</th><th>status</th><th>message</th></tr></thead><tbody>"#);
        for t in shown.iter().take(MAX_TEST_ROWS) {
            let status = if t.flaky() {
                format!("{:?} after {} rerun(s)", t.status, t.reruns)
            } else {
                format!("{:?}", t.status)
            };
            let _ = write!(
                p,
                r#"<tr class="row-fail"><td>{}</td><td>{}</td><td>{}"#,
                esc(&t.full_name()),
                esc(&status),
                esc(t.message.as_deref().unwrap_or(""))
            );
            if let Some(text) = &t.text {
                let _ = write!(
                    p,
                    "<details><summary>output</summary><pre>{}</pre></details>",
                    esc(text)
                );
            }
            p.push_str("</td></tr>");
        }
        p.push_str("</tbody></table>");
        if shown.len() > MAX_TEST_ROWS {
            let _ = write!(
                p,
                "<p>... {} more in report.json.</p>",
                shown.len() - MAX_TEST_ROWS
            );
        }
    }
    p.push_str("</section>\n");
}

/// A perf test's points, as `perf.md` has them.
fn perf(p: &mut String, r: &Report) {
    let Some(results) = &r.perf else { return };
    p.push_str(r#"<section id="perf"><h2>Performance (latencies in ms)</h2><table class="perf"><thead><tr>"#);
    for h in super::perf::header() {
        let _ = write!(p, "<th>{}</th>", esc(h));
    }
    p.push_str("</tr></thead><tbody>");
    for row in super::perf::rows(results) {
        p.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i == 0 { "" } else { r#" class="num""# };
            let _ = write!(p, "<td{class}>{}</td>", esc(cell));
        }
        p.push_str("</tr>");
    }
    p.push_str("</tbody></table></section>\n");
}

/// The section of `failures.md` for each id the page explains, anchored.
fn explanations(p: &mut String, explained: &[(String, &str)]) {
    if explained.is_empty() {
        return;
    }
    let _ = write!(
        p,
        r#"<section id="failures"><h2>What the failures mean</h2><p>From <code>{FAILURES_DOC}</code>.</p>"#
    );
    for (id, text) in explained {
        let _ = write!(
            p,
            r#"<section class="failure" id="{}"><h3>{}</h3>{}</section>"#,
            esc(&anchor(id)),
            esc(id),
            markdown(text)
        );
    }
    p.push_str("</section>\n");
}

/// Whether a line opens or closes a fenced code block.
fn fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// The body of `id`'s section in a Markdown document: the lines under a heading that is
/// exactly the id (`## service.crash`), up to the next heading outside a code block.
pub fn section<'a>(doc: &'a str, id: &str) -> Option<&'a str> {
    let mut in_code = false;
    let mut start = None;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        if fence(line) {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            if let Some(s) = start {
                return Some(&doc[s..offset]);
            }
            if line.trim_start_matches('#').trim() == id {
                start = Some(offset + line.len());
            }
        }
        offset += line.len();
    }
    start.map(|s| &doc[s..])
}

/// The little Markdown `failures.md` uses, as HTML: paragraphs, `- ` lists, fenced code,
/// inline code, emphasis; a link keeps its text (its target is a file of the checkout).
fn markdown(text: &str) -> String {
    let mut out = String::new();
    let mut para: Vec<&str> = Vec::new();
    let mut list: Vec<String> = Vec::new();
    let mut code: Option<Vec<&str>> = None;
    let flush = |out: &mut String, para: &mut Vec<&str>, list: &mut Vec<String>| {
        if !para.is_empty() {
            let _ = write!(out, "<p>{}</p>", inline(&para.join(" ")));
            para.clear();
        }
        if !list.is_empty() {
            out.push_str("<ul>");
            for item in list.drain(..) {
                let _ = write!(out, "<li>{}</li>", inline(&item));
            }
            out.push_str("</ul>");
        }
    };
    for line in text.lines() {
        if let Some(lines) = &mut code {
            if fence(line) {
                let _ = write!(out, "<pre><code>{}</code></pre>", esc(&lines.join("\n")));
                code = None;
            } else if !line.starts_with("# shakedown:doctest") {
                // The docs' test directives mean nothing to a reader.
                lines.push(line);
            }
        } else if fence(line) {
            flush(&mut out, &mut para, &mut list);
            code = Some(Vec::new());
        } else if line.trim().is_empty() {
            flush(&mut out, &mut para, &mut list);
        } else if let Some(item) = line.strip_prefix("- ") {
            if !para.is_empty() {
                flush(&mut out, &mut para, &mut list);
            }
            list.push(item.to_string());
        } else if !list.is_empty() && line.starts_with("  ") {
            if let Some(last) = list.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            para.push(line);
        }
    }
    if let Some(lines) = code {
        let _ = write!(out, "<pre><code>{}</code></pre>", esc(&lines.join("\n")));
    }
    flush(&mut out, &mut para, &mut list);
    out
}

/// Inline Markdown: `code`, *emphasis* (which may span code), and `[text](target)` as its
/// text.
fn inline(text: &str) -> String {
    let parts: Vec<String> = text
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                part.to_string()
            } else {
                links(part)
            }
        })
        .collect();
    // Stars pair up in order; an odd last one stays a star.
    let stars: usize = parts
        .iter()
        .step_by(2)
        .map(|p| p.matches('*').count())
        .sum();
    let mut toggles = stars - stars % 2;
    let mut em = false;
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
            continue;
        }
        for (k, piece) in part.split('*').enumerate() {
            if k > 0 {
                if toggles > 0 {
                    out.push_str(if em { "</em>" } else { "<em>" });
                    em = !em;
                    toggles -= 1;
                } else {
                    out.push('*');
                }
            }
            out.push_str(&esc(piece));
        }
    }
    out
}

/// `[text](target)` replaced by its text.
fn links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else { break };
        let Some(end) = after[close + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after[..close]);
        rest = &after[close + 2 + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Sample, What};
    use crate::verdict::fixture::{LOAD_END, Run};
    use quick_xml::events::Event as Xml;

    /// Judge `run` as `shakedown report DIR` does and read back its page.
    fn page(run: &Run) -> (Report, String) {
        let dir = run.write();
        let report = crate::report::judge(dir.path()).expect("the fixture is judged");
        let html = std::fs::read_to_string(dir.path().join(files::REPORT_HTML))
            .expect("report.html is written");
        (report, html)
    }

    /// The page parsed as XML: every element closed and nested, every entity known. Returns
    /// each element's `id` and `href` attribute values, and whether a `<script>` or
    /// anything loading a resource (`src`, `<link>`, `<object>`, `<iframe>`) occurs.
    fn parse(html: &str) -> (Vec<String>, Vec<String>) {
        let body = html
            .strip_prefix("<!DOCTYPE html>\n")
            .expect("an HTML5 doctype");
        let mut reader = quick_xml::Reader::from_str(body);
        let (mut ids, mut hrefs) = (Vec::new(), Vec::new());
        loop {
            let e = match reader.read_event() {
                Ok(Xml::Eof) => break,
                Ok(Xml::Start(e) | Xml::Empty(e)) => e,
                Ok(Xml::GeneralRef(r)) => {
                    let name = r.into_inner().to_string();
                    assert!(
                        ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str())
                            || name.starts_with('#'),
                        "an entity XML does not know: &{name};"
                    );
                    continue;
                }
                Ok(_) => continue,
                Err(e) => panic!("not well-formed at {}: {e}", reader.buffer_position()),
            };
            let name = e.name().into_inner().to_string();
            assert!(
                !["script", "link", "object", "iframe", "embed", "img"].contains(&name.as_str()),
                "<{name}> in the page"
            );
            for a in e.attributes() {
                let a = a.expect("a well-formed attribute");
                let key = a.key.into_inner().to_string();
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .expect("an attribute decodes")
                    .to_string();
                assert_ne!(key, "src", "a src attribute on <{name}>");
                match key.as_str() {
                    "id" => ids.push(value),
                    "href" => hrefs.push(value),
                    _ => {}
                }
            }
        }
        (ids, hrefs)
    }

    /// A page that stands alone: well-formed, no external reference, every link an anchor
    /// of the page itself.
    fn assert_self_contained(html: &str) {
        let (ids, hrefs) = parse(html);
        for needle in ["http://", "https://", "url(", "@import", "<script"] {
            assert!(!html.contains(needle), "`{needle}` in the page");
        }
        for href in &hrefs {
            let target = href
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("a link out of the page: {href}"));
            assert!(ids.iter().any(|id| id == target), "no anchor {href}");
        }
    }

    /// A run with one fault (a kill at 3 s, failing 300 ms of requests), a crash nobody
    /// planned at 7 s followed by a restart, health polls and process samples.
    fn disturbed() -> Run {
        let mut run = Run::new()
            .fault(3000.0, 3000.0)
            .outcome(3000.0, 3300.0, Outcome::ConnectError)
            .exit(7000.0, 1)
            .event(
                7500.0,
                What::ServiceRestart {
                    generation: 1,
                    backoff_ms: 500.0,
                },
            )
            .outcome(7000.0, 7400.0, Outcome::Http5xx)
            .health(500.0, LOAD_END, 200)
            .procs(|t| ((20 << 20) + (t as u64) * 1000, 8, 2));
        run.timeline.suite = "fixture".into();
        run
    }

    #[test]
    fn a_failing_run_has_its_verdicts_windows_restarts_and_explanations() {
        let run = disturbed();
        let (report, html) = page(&run);
        assert_eq!(report.status, RunStatus::Failed);
        assert_self_contained(&html);
        assert!(html.contains(r#"<span class="status failed">FAILED</span>"#));
        // One row per verdict.
        assert_eq!(html.matches(r#"id="check-"#).count(), report.verdicts.len());
        // Each failing id links to its explanation, which the page holds.
        let failed = report.failed_ids();
        assert!(failed.contains(&"service.crash".to_string()), "{failed:?}");
        for id in &failed {
            assert!(html.contains(&format!(r##"href="#failure-{id}""##)), "{id}");
            assert!(html.contains(&format!(r#"<section class="failure" id="failure-{id}">"#)));
        }
        // The replay line of a failing run.
        let replay = report.replay_command().expect("a failing run replays");
        assert!(html.contains(&esc(&replay)));
        // One shaded window per fault and per crash, one line per restart.
        let course = Course::of(&RunRecords::read(run.write().path()).expect("reads"));
        let faults = course
            .windows
            .iter()
            .filter(|w| matches!(w.cause, crate::verdict::Cause::Fault(_)))
            .count();
        assert_eq!((faults, course.windows.len() - faults), (1, 1));
        assert_eq!(html.matches(r#"<rect class="window fault""#).count(), 1);
        assert_eq!(html.matches(r#"<rect class="window crash""#).count(), 1);
        assert_eq!(html.matches(r#"<line class="restart""#).count(), 1);
        // A dot path per outcome, the health strip and the memory line.
        for o in ["o-ok", "o-connect_error", "o-http_5xx"] {
            assert!(html.contains(&format!(r#"<path class="dots {o}""#)), "{o}");
        }
        assert!(html.contains(r#"<rect class="poll ok""#));
        assert!(html.contains("main (tree)"));
        assert!(html.contains(r#"<polyline class="line line-0""#));
    }

    #[test]
    fn a_passing_run_has_no_failures_section_and_no_replay() {
        let (report, html) = page(&Run::new().health(500.0, LOAD_END, 200));
        assert_eq!(report.status, RunStatus::Passed);
        assert_self_contained(&html);
        assert!(!html.contains(r#"id="failures""#));
        assert!(!html.contains("shakedown replay"));
        assert!(!html.contains("<a href"), "a passing id links nowhere");
        assert!(html.contains(r#"<svg class="timeline""#));
        // Polls that all answered 200 merge into one mark.
        assert_eq!(html.matches(r#"<rect class="poll"#).count(), 1);
        assert!(!html.contains(r#"class="poll fail""#));
    }

    #[test]
    fn a_run_that_never_loaded_keeps_the_header_and_verdicts_and_leaves_out_the_rest() {
        let (report, html) = page(&Run::before_load("service main was not ready within 20s"));
        assert_eq!(report.status, RunStatus::Error);
        assert_self_contained(&html);
        assert!(html.contains("service main was not ready within 20s"));
        assert!(html.contains(r#"id="verdicts""#));
        for part in [
            "timeline",
            "requests",
            "cases",
            "tests",
            "perf",
            "stability",
        ] {
            assert!(
                !html.contains(&format!(r#"id="{part}""#)),
                "{part} shown empty"
            );
        }
    }

    #[test]
    fn every_string_from_the_records_is_escaped() {
        let mut run = disturbed().log(6900.0, "err", "<script>alert(1)</script> & \"quoted\"");
        run.timeline.suite = "<script>alert(0)</script>".into();
        run.samples.push(Sample::Health {
            t_ms: 600.0,
            service: "<b>svc</b>".into(),
            status: None,
            latency_ms: 1.0,
        });
        let (_, html) = page(&run);
        assert_self_contained(&html);
        assert!(html.contains("&lt;script&gt;alert(0)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
        assert!(html.contains("&lt;b&gt;svc&lt;/b&gt;"));
        assert!(
            html.contains(r#"class="poll fail""#),
            "no answer is a failing poll"
        );
    }

    #[test]
    fn a_soak_has_its_stability_plot_inline() {
        let run = Run::soak().procs(|_| (20 << 20, 8, 2));
        let (report, html) = page(&run);
        assert_eq!(report.plots, vec![files::STABILITY_SVG.to_string()]);
        assert_self_contained(&html);
        assert!(html.contains(r#"<section id="stability"><h2>Stability</h2><svg"#));
    }

    #[test]
    fn thinned_requests_say_so_and_stay_bounded() {
        let mut run = Run::new();
        run.requests = (0..25_000u64)
            .map(|i| crate::verdict::fixture::req(i, 1000.0 + i as f64 * 0.4, 20.0, Outcome::Ok))
            .collect();
        let (_, html) = page(&run);
        assert!(
            html.contains("every 5th drawn (5000 dots)"),
            "the legend says how"
        );
        let dots = html.matches("h0").count();
        assert_eq!(dots, 5000);
    }

    #[test]
    fn sections_end_at_the_next_heading_outside_code() {
        let doc = "# T\n\n## a.b\n\nText `x` *y* [m](m.md).\n\n```sh\n# not a heading\n```\n\n## c.d\n\nOther.\n";
        let a = section(doc, "a.b").expect("a.b has a section");
        assert!(a.contains("# not a heading") && !a.contains("Other"), "{a}");
        assert_eq!(section(doc, "c.d"), Some("\nOther.\n"));
        assert_eq!(section(doc, "e.f"), None);
        assert_eq!(
            markdown(a),
            "<p>Text <code>x</code> <em>y</em> m.</p><pre><code># not a heading</code></pre>"
        );
        assert_eq!(
            inline("*Check `a`, on.* 2 * 3 <b>"),
            "<em>Check <code>a</code>, on.</em> 2 * 3 &lt;b&gt;"
        );
    }

    /// Every failure id a check can report (the string constants of `src/verdict/`), and
    /// `budget.exceeded` and the guardrails' ids, has its section in `failures.md`, so the page can explain it.
    #[test]
    fn every_failure_id_has_a_section() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/verdict");
        // The run's own ending ids: the budget, and each guardrail.
        let mut ids = vec![crate::report::BUDGET_EXCEEDED.to_string()];
        for g in ["error_rate", "memory"] {
            ids.push(format!("{}.{g}", crate::report::GUARDRAIL));
        }
        for entry in std::fs::read_dir(&dir).expect("src/verdict reads") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "tests.rs" || name == "fixture.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file reads");
            // Ids are `family.name` literals; file names, metric names and fault kinds are not.
            for lit in text.split('"').skip(1).step_by(2) {
                let Some((family, rest)) = lit.split_once('.') else {
                    continue;
                };
                let word = |s: &str| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                };
                if word(family)
                    && word(rest)
                    && !["jsonl", "json", "xml", "md", "toml"].contains(&rest)
                    && !family.ends_with("_ms")
                    && family != "process"
                {
                    ids.push(lit.to_string());
                }
            }
        }
        ids.sort();
        ids.dedup();
        assert!(ids.len() > 40, "{ids:?}");
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| section(FAILURES, id).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "no section in {FAILURES_DOC}: {missing:?}"
        );
    }
}
