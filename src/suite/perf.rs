//! A test of a perf configuration (`nightly.json`) read into a suite.

use super::check::{Field, Res, Tbl};
use super::{CheckFault, Suite};
use std::path::Path;

/// The suite of one perf test (merged over the file's defaults).
pub(crate) fn suite(_top: &Tbl, test: &Field, _path: &Path, _check: &CheckFault) -> Res<Suite> {
    Err(test.fail("is a perf test, which this build cannot read yet"))
}
