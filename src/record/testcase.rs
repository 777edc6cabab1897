//! `tests.jsonl`: one line per test a command suite's command ran, imported from its JUnit
//! XML or libtest output once it exited (see `crate::import`).

use serde::{Deserialize, Serialize};

/// How one imported test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// Passed (also after failed attempts: see [`TestRecord::reruns`]).
    Pass,
    /// Skipped or ignored.
    Skip,
    /// An assertion failed (JUnit `<failure>`, libtest `FAILED`).
    Fail,
    /// It could not run to an assertion (JUnit `<error>`: a broken fixture, a collection error).
    Error,
}

/// One imported test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// JUnit `classname` (pytest: module and class; nextest: the test binary), else the
    /// `<testsuite>` name; libtest: the test binary, where cargo named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classname: Option<String>,
    /// The test's name as its runner gave it.
    pub name: String,
    /// How long it took, ms, where the runner says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<f64>,
    pub status: TestStatus,
    /// The `type` of a failure, error or skip, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The one-line reason of a failure, error or skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The failure's full text (a traceback, a panic with its output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What the test printed (JUnit `system-out` and `system-err`), where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Failed attempts before the final one (nextest retries); a pass with reruns is flaky.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reruns: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TestRecord {
    /// A test named `name` with `status`, nothing else known yet.
    pub fn new(classname: Option<String>, name: String, status: TestStatus) -> Self {
        TestRecord {
            classname,
            name,
            time_ms: None,
            status,
            kind: None,
            message: None,
            text: None,
            output: None,
            reruns: 0,
        }
    }

    /// `classname::name`, or the name alone: how reports name the test.
    pub fn full_name(&self) -> String {
        match &self.classname {
            Some(c) if !c.is_empty() => format!("{c}::{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// Failed or errored.
    pub fn failed(&self) -> bool {
        matches!(self.status, TestStatus::Fail | TestStatus::Error)
    }

    /// Passed, but only after failed attempts.
    pub fn flaky(&self) -> bool {
        self.status == TestStatus::Pass && self.reruns > 0
    }
}
