//! JUnit XML: one testcase per verdict, so CI systems show each check by name; a command
//! suite's imported tests follow as testcases of their own, names, times and texts kept.

use super::{FAILURES_DOC, Report, RunStatus, anchor};
use crate::record::{TestRecord, TestStatus};
use crate::verdict::Status;
use std::fmt::Write as _;

/// Render `report` as a JUnit document.
pub fn render(report: &Report) -> String {
    render_all(std::slice::from_ref(report))
}

/// Render several reports as one JUnit document, one `<testsuite>` each (a level's runs).
pub fn render_all(reports: &[Report]) -> String {
    let mut total = Counts::default();
    let mut suites = String::new();
    for r in reports {
        let counts = Counts::of(r);
        testsuite(r, &counts, &mut suites);
        total.add(&counts);
    }
    let Counts {
        tests,
        failures,
        errors,
        skipped,
        secs,
    } = total;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"shakedown\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\">\n\
         {suites}</testsuites>\n"
    )
}

/// The counts a `<testsuite>` (and `<testsuites>`) element carries.
#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    secs: f64,
}

impl Counts {
    /// One testcase per verdict, plus one named `run` when the run itself errored, was
    /// interrupted or was skipped.
    fn of(report: &Report) -> Counts {
        let failures = report
            .verdicts
            .iter()
            .filter(|v| v.status.fails_run())
            .count();
        // A known failure is reported as pytest reports an xfail: skipped, with its reason.
        let skipped = report
            .verdicts
            .iter()
            .filter(|v| matches!(v.status, Status::Skip | Status::NotJudged | Status::XFail))
            .count()
            + usize::from(report.status == RunStatus::Skipped);
        let run_error = matches!(report.status, RunStatus::Error | RunStatus::Interrupted);
        let aborted = report.status == RunStatus::Aborted;
        // Tests a command suite imported are testcases too, each as its runner judged it.
        let imported = |s: TestStatus| report.tests.iter().filter(|t| t.status == s).count();
        Counts {
            tests: report.verdicts.len()
                + report.tests.len()
                + usize::from(run_error || aborted || report.status == RunStatus::Skipped),
            failures: failures + usize::from(aborted) + imported(TestStatus::Fail),
            errors: usize::from(run_error) + imported(TestStatus::Error),
            skipped: skipped + imported(TestStatus::Skip),
            secs: report.wall_ms / 1e3,
        }
    }

    fn add(&mut self, c: &Counts) {
        self.tests += c.tests;
        self.failures += c.failures;
        self.errors += c.errors;
        self.skipped += c.skipped;
        self.secs += c.secs;
    }
}

/// Append the `<testsuite>` element of one run.
fn testsuite(report: &Report, counts: &Counts, x: &mut String) {
    let suite = esc(&report.suite);
    let Counts {
        tests,
        failures,
        errors,
        skipped,
        secs,
    } = *counts;
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
    let run_error = matches!(report.status, RunStatus::Error | RunStatus::Interrupted);
    let aborted = report.status == RunStatus::Aborted;
    if run_error || aborted || report.status == RunStatus::Skipped {
        let msg = report.error.clone().unwrap_or_default();
        let _ = writeln!(
            x,
            "    <testcase classname=\"shakedown.{suite}\" name=\"run\" time=\"{secs:.3}\">"
        );
        if report.status == RunStatus::Skipped {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", esc(&msg));
        } else if aborted {
            // A guardrail judged the service: a failure of the run, not of the framework.
            let _ = writeln!(
                x,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                esc(report.error_type()),
                esc(&msg),
                esc(&msg)
            );
        } else {
            let _ = writeln!(
                x,
                "      <error type=\"{}\" message=\"{}\">{}</error>",
                report.error_type(),
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
            Status::XFail => {
                let reason = v.lines.first().map_or("", String::as_str);
                let _ = writeln!(
                    x,
                    ">\n      <skipped type=\"xfail\" message=\"{}\">[{}] {}</skipped>\n    </testcase>",
                    esc(reason),
                    esc(&v.id),
                    esc(&v.summary)
                );
            }
            Status::Fail | Status::XPass => {
                let evidence = serde_json::to_string_pretty(&v.evidence).unwrap_or_default();
                let lines: String = v.lines.iter().map(|l| format!("\n  {l}")).collect();
                let body = format!(
                    "{}{lines}\n\nsee {FAILURES_DOC}#{}\n\n{evidence}",
                    v.summary,
                    anchor(&v.id)
                );
                let kind = match v.status {
                    Status::XPass => format!("xpass {}", v.id),
                    _ => v.id.clone(),
                };
                let _ = writeln!(
                    x,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    esc(&kind),
                    esc(&v.summary),
                    esc(&body)
                );
            }
        }
    }
    for t in &report.tests {
        imported_case(x, t, &suite);
    }
    x.push_str("  </testsuite>\n");
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

/// Escape text for XML (and HTML) attributes and content; drop characters XML 1.0 cannot carry.
pub fn esc(s: &str) -> String {
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
