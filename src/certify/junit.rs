//! The certificate as JUnit, for a CI's test view: one testsuite per level, one testcase per
//! suite (failed, aborted, erred and interrupted suites fail; skipped ones are skipped with their
//! reason), and a testcase `no suite ran` that fails in a level where none did.

use super::{Certificate, Row};
use crate::report::RunStatus;
use crate::report::junit::esc;
use std::fmt::Write as _;

/// Render the certificate as one JUnit document.
pub fn render(cert: &Certificate) -> String {
    let mut body = String::new();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for l in &cert.levels {
        let count = |f: fn(&Row) -> bool| l.suites.iter().filter(|r| f(r)).count();
        let none_ran = super::none_ran(&l.suites);
        let t = l.suites.len() + usize::from(none_ran);
        let f = count(|r| matches!(r.status, RunStatus::Failed | RunStatus::Aborted))
            + usize::from(none_ran);
        let e = count(|r| matches!(r.status, RunStatus::Error | RunStatus::Interrupted));
        let s = count(|r| r.status == RunStatus::Skipped);
        (tests, failures, errors, skipped) = (tests + t, failures + f, errors + e, skipped + s);
        let level = esc(&l.level);
        let _ = writeln!(
            body,
            "  <testsuite name=\"{level}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\">"
        );
        for r in &l.suites {
            case(&mut body, &level, r);
        }
        if none_ran {
            let _ = writeln!(
                body,
                "    <testcase classname=\"certify.{level}\" name=\"no suite ran\">\n      <failure message=\"no suite of {level} ran\"/>\n    </testcase>"
            );
        }
        body.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"shakedown certify {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n\
         {body}</testsuites>\n",
        esc(&cert.release)
    )
}

/// One suite's testcase.
fn case(x: &mut String, level: &str, r: &Row) {
    let _ = write!(
        x,
        "    <testcase classname=\"certify.{level}\" name=\"{}\"",
        esc(&r.suite)
    );
    let reason = esc(r.reason.as_deref().unwrap_or_default());
    let failed = r.failed_ids();
    let _ = match r.status {
        RunStatus::Passed => writeln!(x, "/>"),
        RunStatus::Skipped => writeln!(
            x,
            ">\n      <skipped message=\"{reason}\"/>\n    </testcase>"
        ),
        RunStatus::Failed | RunStatus::Aborted => writeln!(
            x,
            ">\n      <failure message=\"failed: {}\">{reason}</failure>\n    </testcase>",
            esc(&failed.join(", "))
        ),
        RunStatus::Error | RunStatus::Interrupted => writeln!(
            x,
            ">\n      <error type=\"{}\" message=\"{reason}\"/>\n    </testcase>",
            r.status.word().to_lowercase()
        ),
    };
}
