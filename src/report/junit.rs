//! JUnit XML: one testcase per verdict, so CI systems show each check by name; a command
//! suite's imported tests follow as testcases of their own, names, times and texts kept.

use super::{FAILURES_DOC, Report, RunStatus, anchor};
use crate::record::{TestRecord, TestStatus};
use crate::verdict::Status;
use std::fmt::Write as _;

/// Render `report` as a JUnit document.
pub fn render(report: &Report) -> String {
    let suite = esc(&report.suite);
    let secs = report.wall_ms / 1e3;
    let failures = report
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Fail)
        .count();
    let skipped = report
        .verdicts
        .iter()
        .filter(|v| matches!(v.status, Status::Skip | Status::NotJudged))
        .count()
        + usize::from(report.status == RunStatus::Skipped);
    let run_error = matches!(report.status, RunStatus::Error | RunStatus::Interrupted);
    let imported = |s: TestStatus| report.tests.iter().filter(|t| t.status == s).count();
    let failures = failures + imported(TestStatus::Fail);
    let skipped = skipped + imported(TestStatus::Skip);
    let tests = report.verdicts.len()
        + report.tests.len()
        + usize::from(run_error || report.status == RunStatus::Skipped);
    let errors = usize::from(run_error) + imported(TestStatus::Error);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"shakedown\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\" timestamp=\"{}\">",
        esc(&report.started_at)
    );
    let _ = writeln!(x, "    <properties>");
    for (k, v) in [
        ("level", report.level.clone()),
        ("seed", report.seed.to_string()),
        ("status", format!("{:?}", report.status).to_lowercase()),
        ("run_dir", report.run_dir.display().to_string()),
    ] {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", esc(&v));
    }
    let _ = writeln!(x, "    </properties>");
    if run_error || report.status == RunStatus::Skipped {
        let msg = report.error.clone().unwrap_or_default();
        let _ = writeln!(
            x,
            "    <testcase classname=\"shakedown.{suite}\" name=\"run\" time=\"{secs:.3}\">"
        );
        if report.status == RunStatus::Skipped {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", esc(&msg));
        } else {
            let kind = if report.status == RunStatus::Interrupted {
                "interrupted"
            } else {
                "infrastructure"
            };
            let _ = writeln!(
                x,
                "      <error type=\"{kind}\" message=\"{}\">{}</error>",
                esc(&msg),
                esc(&msg)
            );
        }
        let _ = writeln!(x, "    </testcase>");
    }
    for v in &report.verdicts {
        let _ = write!(
            x,
            "    <testcase classname=\"shakedown.{suite}\" name=\"{}\" time=\"0\"",
            esc(&v.check)
        );
        match v.status {
            Status::Pass => {
                let _ = writeln!(x, "/>");
            }
            Status::Skip | Status::NotJudged => {
                let _ = writeln!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(&v.summary)
                );
            }
            Status::Fail => {
                let evidence = serde_json::to_string_pretty(&v.evidence).unwrap_or_default();
                let lines: String = v.lines.iter().map(|l| format!("\n  {l}")).collect();
                let body = format!(
                    "{}{lines}\n\nsee {FAILURES_DOC}#{}\n\n{evidence}",
                    v.summary,
                    anchor(&v.id)
                );
                let _ = writeln!(
                    x,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    esc(&v.id),
                    esc(&v.summary),
                    esc(&body)
                );
            }
        }
    }
    for t in &report.tests {
        imported_case(&mut x, t, &suite);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// One imported test as its runner reported it: class name, name, time, failure text.
fn imported_case(x: &mut String, t: &TestRecord, suite: &str) {
    let classname = t
        .classname
        .as_deref()
        .map_or_else(|| format!("shakedown.{suite}"), esc);
    let _ = write!(
        x,
        "    <testcase classname=\"{classname}\" name=\"{}\" time=\"{:.3}\"",
        esc(&t.name),
        t.time_ms.unwrap_or(0.0) / 1e3
    );
    let mut out = t.output.clone().unwrap_or_default();
    if t.flaky() {
        out.push_str(&format!(
            "\nflaky: passed after {} failed attempt(s)",
            t.reruns
        ));
    }
    if t.status == TestStatus::Pass && out.trim().is_empty() {
        let _ = writeln!(x, "/>");
        return;
    }
    x.push('>');
    let message = t.message.as_deref().unwrap_or_default();
    let body = t.text.as_deref().unwrap_or(message);
    let element = match t.status {
        TestStatus::Pass => None,
        TestStatus::Skip => Some(("skipped", "skipped")),
        TestStatus::Fail => Some(("failure", "failure")),
        TestStatus::Error => Some(("error", "error")),
    };
    if let Some((tag, default_type)) = element {
        let _ = write!(
            x,
            "\n      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
            esc(t.kind.as_deref().unwrap_or(default_type)),
            esc(message),
            esc(body)
        );
    }
    if !out.trim().is_empty() {
        let _ = write!(x, "\n      <system-out>{}</system-out>", esc(out.trim()));
    }
    let _ = writeln!(x, "\n    </testcase>");
}

/// Escape text for XML attributes and content; drop characters XML 1.0 cannot carry.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
