//! JUnit XML as pytest, cargo-nextest and most other runners write it: `<testsuites>` (or a
//! bare `<testsuite>`) holding `<testsuite>`s of `<testcase>`s, each passed, or holding a
//! `<failure>`, `<error>` or `<skipped>`, and maybe `<system-out>`/`<system-err>`.
//!
//! Retries (cargo-nextest): `<flakyFailure>`/`<flakyError>` are failed attempts of a test that
//! passed in the end, `<rerunFailure>`/`<rerunError>` failed attempts after a first failure;
//! either counts as a rerun and its content is not read.

use super::tidy;
use crate::record::{TestRecord, TestStatus};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, escape::resolve_predefined_entity};

/// A JUnit file that could not be read: not XML, or not JUnit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JunitError(String);

/// What an open element is to the import.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// `<testsuite name>`: the class name of testcases that give none.
    Suite(Option<String>),
    /// `<testcase>`.
    Case,
    /// `<failure>`, `<error>` or `<skipped>` in a testcase; `adopted` when it set the case's
    /// status (the most severe one does), so its text is the case's.
    Result { adopted: bool },
    /// `<system-out>` or `<system-err>` in a testcase.
    Output,
    /// Anything else (properties, retried attempts): its content is not read.
    Other,
}

/// Every testcase in `text`, in document order.
pub fn junit(text: &str) -> Result<Vec<TestRecord>, JunitError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Role> = Vec::new();
    let mut case: Option<TestRecord> = None;
    let mut out = Vec::new();
    let mut root_seen = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
            JunitError(format!(
                "not well-formed XML at {}: {e}",
                line_col(text, at)
            ))
        })?;
        match event {
            Event::Start(e) => {
                check_root(&e, &mut root_seen)?;
                let role = open(&e, stack.last(), &mut case);
                stack.push(role);
            }
            Event::Empty(e) => {
                check_root(&e, &mut root_seen)?;
                let role = open(&e, stack.last(), &mut case);
                close(role, &mut case, &mut out);
            }
            Event::End(_) => {
                if let Some(role) = stack.pop() {
                    close(role, &mut case, &mut out);
                }
            }
            Event::Text(t) => collect(&stack, &mut case, &t.xml10_content()),
            Event::CData(c) => collect(&stack, &mut case, &c.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => resolve_predefined_entity(&r)
                        .map_or_else(|| format!("&{};", &*r), str::to_string),
                };
                collect(&stack, &mut case, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(JunitError(
            "not JUnit XML: no root element, expected <testsuites> or <testsuite>".into(),
        ));
    }
    Ok(out)
}

/// The first element must be `<testsuites>` or `<testsuite>`.
fn check_root(e: &BytesStart, seen: &mut bool) -> Result<(), JunitError> {
    if std::mem::replace(seen, true) {
        return Ok(());
    }
    let name = e.local_name();
    if matches!(name.as_ref(), "testsuites" | "testsuite") {
        return Ok(());
    }
    Err(JunitError(format!(
        "not JUnit XML: the root element is <{}>, expected <testsuites> or <testsuite>",
        name.as_ref()
    )))
}

/// What element `e` is, given its parent; a testcase or result starts taking shape here.
fn open(e: &BytesStart, parent: Option<&Role>, case: &mut Option<TestRecord>) -> Role {
    let name = e.local_name();
    match (parent, name.as_ref()) {
        (None | Some(Role::Suite(_)), "testsuites" | "testsuite") => Role::Suite(attr(e, "name")),
        (Some(Role::Suite(suite)), "testcase") => {
            let mut t = TestRecord::new(
                attr(e, "classname").or_else(|| suite.clone()),
                attr(e, "name").unwrap_or_default(),
                TestStatus::Pass,
            );
            t.time_ms = attr(e, "time")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| s * 1e3);
            *case = Some(t);
            Role::Case
        }
        (Some(Role::Case), tag) => {
            let Some(t) = case.as_mut() else {
                return Role::Other;
            };
            let status = match tag {
                "failure" => TestStatus::Fail,
                "error" => TestStatus::Error,
                "skipped" => TestStatus::Skip,
                "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError" => {
                    t.reruns += 1;
                    return Role::Other;
                }
                "system-out" | "system-err" => return Role::Output,
                _ => return Role::Other,
            };
            // The most severe result is the case's (a failure, then an error in teardown).
            let adopted = status > t.status;
            if adopted {
                t.status = status;
                t.kind = attr(e, "type");
                t.message = attr(e, "message");
                t.text = None;
            }
            Role::Result { adopted }
        }
        _ => Role::Other,
    }
}

/// An element ends: a testcase is complete.
fn close(role: Role, case: &mut Option<TestRecord>, out: &mut Vec<TestRecord>) {
    if role == Role::Case
        && let Some(mut t) = case.take()
    {
        tidy(&mut t);
        out.push(t);
    }
}

/// Text inside the innermost open element, kept where it belongs.
fn collect(stack: &[Role], case: &mut Option<TestRecord>, text: &str) {
    let Some(t) = case.as_mut() else { return };
    let field = match stack.last() {
        Some(Role::Result { adopted: true }) => &mut t.text,
        Some(Role::Output) => &mut t.output,
        _ => return,
    };
    field.get_or_insert_with(String::new).push_str(text);
}

/// The value of attribute `key`, unescaped.
fn attr(e: &BytesStart, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// `line L, column C` of byte offset `at` in `text`, 1-based.
fn line_col(text: &str, at: usize) -> String {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pytest 9 wrote for a pass, a failure, a skip, a fixture error and a class's test.
    const PYTEST: &str = include_str!("../../tests/data/junit/pytest.xml");
    /// What cargo-nextest wrote with one retry: a flaky test, an ignored one run anyway, a
    /// pass, a failure failing again, and a second binary.
    const NEXTEST: &str = include_str!("../../tests/data/junit/nextest.xml");

    fn find<'a>(rows: &'a [TestRecord], name: &str) -> &'a TestRecord {
        rows.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no test {name} in {rows:#?}"))
    }

    #[test]
    fn reads_pytest() {
        let rows = junit(PYTEST).expect("pytest's JUnit reads");
        let names: Vec<&str> = rows.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "test_passes",
                "test_fails",
                "test_skipped",
                "test_errors",
                "test_in_class"
            ]
        );
        let fails = find(&rows, "test_fails");
        assert_eq!(fails.status, TestStatus::Fail);
        assert_eq!(fails.full_name(), "test_sample::test_fails");
        assert_eq!(
            fails.message.as_deref(),
            Some("AssertionError: a should be 2 & not <1>\nassert 1 == 2")
        );
        let text = fails.text.as_deref().unwrap_or_default();
        assert!(
            text.contains(r#">       assert x["a"] == 2, "a should be 2 & not <1>""#),
            "{text}"
        );
        assert!(
            text.ends_with("test_sample.py:12: AssertionError"),
            "{text}"
        );
        assert_eq!(fails.time_ms, Some(0.0));
        let skipped = find(&rows, "test_skipped");
        assert_eq!(skipped.status, TestStatus::Skip);
        assert_eq!(skipped.message.as_deref(), Some("not on this machine"));
        assert_eq!(skipped.kind.as_deref(), Some("pytest.skip"));
        let errors = find(&rows, "test_errors");
        assert_eq!(errors.status, TestStatus::Error);
        assert_eq!(
            errors.message.as_deref(),
            Some("failed on setup with \"RuntimeError: fixture blew up\"")
        );
        let class = find(&rows, "test_in_class");
        assert_eq!(class.status, TestStatus::Pass);
        assert_eq!(class.classname.as_deref(), Some("test_sample.TestGroup"));
        assert_eq!(rows.iter().filter(|t| t.failed()).count(), 2);
    }

    #[test]
    fn reads_nextest_with_retries() {
        let rows = junit(NEXTEST).expect("nextest's JUnit reads");
        assert_eq!(rows.len(), 5, "{rows:#?}");
        let flaky = find(&rows, "tests::flaky");
        assert_eq!(flaky.status, TestStatus::Pass);
        assert!(flaky.flaky() && flaky.reruns == 1, "{flaky:#?}");
        // The failed attempt's text is not the test's.
        assert_eq!(flaky.text, None);
        let fails = find(&rows, "tests::fails");
        assert_eq!(fails.status, TestStatus::Fail);
        assert_eq!((fails.reruns, fails.flaky()), (1, false));
        assert_eq!(fails.full_name(), "tiny::tests::fails");
        assert_eq!(
            fails.kind.as_deref(),
            Some("test failure with exit code 101")
        );
        let text = fails.text.as_deref().unwrap_or_default();
        assert!(
            text.starts_with("thread 'tests::fails' panicked at src/lib.rs:11:9:\nassertion `left == right` failed: one and one"),
            "{text}"
        );
        let output = fails.output.as_deref().unwrap_or_default();
        assert!(output.contains("some output & <stuff>"), "{output}");
        let passes = find(&rows, "tests::passes");
        assert!((passes.time_ms.unwrap_or_default() - 32.0).abs() < 1e-9);
        assert_eq!(
            find(&rows, "integration_ok").classname.as_deref(),
            Some("tiny::it")
        );
    }

    #[test]
    fn reads_a_bare_testsuite_cdata_and_missing_classnames() {
        let xml = "<?xml version=\"1.0\"?>\n<testsuite name=\"s\">\
                   <testcase name=\"a\" time=\"1.5\"><failure><![CDATA[x < y]]> &#955;</failure>\
                   <error message=\"teardown\"/></testcase>\
                   <testcase name=\"b\" time=\"n/a\"><skipped/></testcase></testsuite>";
        let rows = junit(xml).expect("reads");
        assert_eq!(rows.len(), 2);
        // The error in teardown is more severe than the failure before it.
        assert_eq!(rows[0].status, TestStatus::Error);
        assert_eq!(rows[0].message.as_deref(), Some("teardown"));
        assert_eq!(rows[0].classname.as_deref(), Some("s"));
        assert_eq!(rows[0].time_ms, Some(1500.0));
        assert_eq!((rows[1].status, rows[1].time_ms), (TestStatus::Skip, None));
        let failure = junit("<testsuite><testcase name=\"a\"><failure>x &lt; y &#955;</failure></testcase></testsuite>")
            .expect("reads");
        assert_eq!(failure[0].text.as_deref(), Some("x < y λ"));
        assert_eq!(failure[0].classname, None);
    }

    #[test]
    fn rejects_what_is_not_junit() {
        let e = junit("<testsuites>\n  <testsuite>\n</testsuites>").expect_err("mismatched");
        assert!(e.0.starts_with("not well-formed XML at line 3"), "{e}");
        let e = junit("<html><body/></html>").expect_err("not junit");
        assert!(e.0.contains("the root element is <html>"), "{e}");
        let e = junit("plain text").expect_err("no root");
        assert!(e.0.contains("no root element"), "{e}");
        assert_eq!(junit("<testsuites/>"), Ok(Vec::new()));
    }
}
