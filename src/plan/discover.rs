//! Finding suites: every `.toml` and `.json` file under the given directories, loaded.

use crate::suite::{self, Format, Suite, SuiteError};
use std::path::{Path, PathBuf};

/// Directories that hold fault definitions (`use = "NAME"`), not suites; never walked.
const FAULT_LIBRARY: &str = "faults";

/// Why a plan cannot be made: a suite file that does not load, or a path that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A suite file that does not load (`file:line:col: ...`).
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// A directory or file that cannot be read.
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Load every suite under `paths`: a file is taken as a suite, a directory is walked
/// (sorted, skipping hidden entries, `faults/` libraries and the run and level directories
/// shakedown writes) for `.toml` and `.json` files.
/// Returns the suites that loaded and every error, so all bad files are named at once.
pub fn discover(paths: &[PathBuf]) -> (Vec<Suite>, Vec<FindError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut errors);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            errors.push(FindError::Read {
                path: p.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
    }
    files.dedup();
    let mut suites = Vec::new();
    for f in files {
        match suite::load_all(&f, &crate::fault::check) {
            Ok(s) => suites.extend(s),
            Err(e) => errors.push(e.into()),
        }
    }
    (suites, errors)
}

/// Whether `dir` is a run or level directory written by shakedown (its JSON files are records).
fn is_record(dir: &Path) -> bool {
    dir.join(crate::record::files::EVENTS).exists() || dir.join(super::execute::LEVEL_JSON).exists()
}

/// Collect suite files under `dir`, in name order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<FindError>) {
    let read = |path: &Path, source| FindError::Read {
        path: path.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let mut paths: Vec<PathBuf> = match entries {
        Ok(es) => es.into_iter().map(|e| e.path()).collect(),
        Err(e) => return errors.push(read(dir, e)),
    };
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            if name != FAULT_LIBRARY && !is_record(&p) {
                walk(&p, files, errors);
            }
        } else if Format::from_path(&p).is_some() && !name.ends_with(suite::BASELINE_SUFFIX) {
            files.push(p);
        }
    }
}
