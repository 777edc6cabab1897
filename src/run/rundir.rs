//! The run directory: `OUT/<suite>-<utc time>-s<seed>/`, never reused.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Compact UTC time for directory names: `20261125T120102Z`.
pub fn utc_stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// Create the run directory: `exact` if given (must not exist yet, or be empty), else a
/// fresh one under `out`, suffixed `-2`, `-3`, ... if a run in the same second took the name.
pub fn create_run_dir(
    exact: Option<&Path>,
    out: &Path,
    suite: &str,
    seed: u64,
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    if let Some(dir) = exact {
        std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
        let empty = std::fs::read_dir(dir)
            .map_err(|e| (dir.to_path_buf(), e))?
            .next()
            .is_none();
        if !empty {
            let e = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it is not empty");
            return Err((dir.to_path_buf(), e));
        }
        return Ok(dir.to_path_buf());
    }
    create_fresh_dir(
        out,
        &format!("{suite}-{}-s{seed}", utc_stamp(SystemTime::now())),
    )
}

/// Create `out/base`, suffixed `-2`, `-3`, ... when the name is taken.
pub fn create_fresh_dir(out: &Path, base: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(out).map_err(|e| (out.to_path_buf(), e))?;
    for n in 1.. {
        let name = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err((dir, e)),
        }
    }
    unreachable!("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names() {
        let tmp = std::env::temp_dir().join(format!("shakedown-rundir-{}", std::process::id()));
        let a = create_run_dir(None, &tmp, "s", 7).unwrap();
        let b = create_run_dir(None, &tmp, "s", 7).unwrap();
        assert_ne!(a, b);
        assert!(a.file_name().unwrap().to_str().unwrap().ends_with("-s7"));
        assert!(
            create_run_dir(Some(&tmp), &tmp, "s", 7).is_err(),
            "non-empty exact dir refused"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(utc_stamp(SystemTime::UNIX_EPOCH), "19700101T000000Z");
    }
}
