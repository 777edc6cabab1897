//! A soak of a stability configuration (`weekly.json`) read into a suite.

use super::check::{Field, Res, Tbl};
use super::{CheckFault, Suite};
use std::path::Path;

/// The suite of one soak (merged over the file's defaults).
pub(crate) fn suite(_top: &Tbl, test: &Field, _path: &Path, _check: &CheckFault) -> Res<Suite> {
    Err(test.fail("is a soak, which this build cannot read yet"))
}
