//! Known failures (`[expect] known_failures`), as pytest's strict xfail: a failing verdict
//! whose id is listed is `xfail` and does not fail the run; a listed id that no verdict
//! fails is `xpass` and does (the failure is gone: take it off the list).

use super::{Status, Verdict};
use crate::suite::KnownFailure;
use serde_json::json;

/// The check name of the verdict that stands for a listed id no check reported.
pub const CHECK: &str = "known_failures";

/// Mark `verdicts` against the suite's `known` failures. A listed id whose check did not
/// judge (skipped, not judged) is left as it is: neither xfail nor xpass.
pub fn apply(known: &[KnownFailure], verdicts: &mut Vec<Verdict>) {
    for k in known {
        let why = k.words();
        let mut seen = false;
        for v in verdicts.iter_mut().filter(|v| v.id == k.id) {
            seen = true;
            match v.status {
                Status::Fail => {
                    v.status = Status::XFail;
                    v.lines.insert(0, format!("known failure: {why}"));
                }
                Status::Pass => {
                    v.status = Status::XPass;
                    v.summary = format!(
                        "known failure `{}` did not occur ({}); take it off [expect] known_failures",
                        k.id, v.summary
                    );
                    v.lines.insert(0, format!("listed as: {why}"));
                }
                _ => {}
            }
        }
        // An id no check reports (a typo, a check this suite does not run) cannot fail.
        if !seen {
            let summary = format!(
                "known failure `{}` was reported by no check; take it off [expect] known_failures",
                k.id
            );
            let mut v = Verdict::new(CHECK, &k.id, true, summary, json!({"listed": k}));
            v.status = Status::XPass;
            v.lines.push(format!("listed as: {why}"));
            verdicts.push(v);
        }
    }
}
