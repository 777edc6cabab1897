//! What a suite needs beyond its hardware (`[suite] requires`): a real engine set up on this
//! machine by its set-up script. A suite whose requirement is missing is skipped with the
//! reason (`run.skipped`, exit 0), as a GPU suite is without a GPU; where it is found, its
//! directory fills the suite's placeholder (`{vllm_cpu}`) in commands and `env` values.

use std::path::{Path, PathBuf};

/// One thing a suite may require.
#[derive(Debug)]
pub struct Requirement {
    /// As `[suite] requires` names it: `vllm-cpu`.
    pub name: &'static str,
    /// The placeholder its directory fills: `vllm_cpu` (written `{vllm_cpu}`).
    pub placeholder: &'static str,
    /// The environment variable naming its directory.
    pub env: &'static str,
    /// Its directory when the variable is unset, under `$HOME`.
    pub home_default: &'static str,
    /// Files that must be in the directory for it to count as set up.
    pub files: &'static [&'static str],
    /// The command that sets it up.
    pub setup: &'static str,
}

/// Every requirement a suite may name.
pub const REQUIREMENTS: &[Requirement] = &[Requirement {
    name: "vllm-cpu",
    placeholder: "vllm_cpu",
    env: "SHAKEDOWN_VLLM_CPU",
    home_default: ".cache/shakedown/vllm-cpu",
    files: &[
        "venv/bin/python",
        "model/config.json",
        "model/tokenizer.json",
    ],
    setup: "scripts/setup-vllm-cpu.sh",
}];

/// A requirement not met on this machine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Missing {
    #[error("unknown requirement `{0}`")]
    Unknown(String),
    #[error(
        "{name} is not set up: {missing} not found (the directory is {how}; set it up with `{setup}`)"
    )]
    NotSetUp {
        name: &'static str,
        missing: PathBuf,
        how: String,
        setup: &'static str,
    },
}

/// The requirement called `name`.
pub fn find(name: &str) -> Option<&'static Requirement> {
    REQUIREMENTS.iter().find(|r| r.name == name)
}

impl Requirement {
    /// Its directory on this machine: `$ENV`, else `$HOME/DEFAULT`, and how it was chosen.
    pub fn dir(&self) -> (PathBuf, String) {
        match std::env::var_os(self.env).filter(|v| !v.is_empty()) {
            Some(d) => (PathBuf::from(d), format!("${}", self.env)),
            None => {
                let home = std::env::var_os("HOME").map_or_else(PathBuf::new, PathBuf::from);
                (
                    home.join(self.home_default),
                    format!("~/{}, as ${} is unset", self.home_default, self.env),
                )
            }
        }
    }

    /// Its directory, when every file it needs is there.
    pub fn locate(&'static self) -> Result<PathBuf, Missing> {
        let (dir, how) = self.dir();
        check(self, &dir, how)
    }
}

/// `dir` when it holds every file `r` needs.
fn check(r: &'static Requirement, dir: &Path, how: String) -> Result<PathBuf, Missing> {
    match r.files.iter().map(|f| dir.join(f)).find(|p| !p.exists()) {
        Some(missing) => Err(Missing::NotSetUp {
            name: r.name,
            missing,
            how,
            setup: r.setup,
        }),
        None => Ok(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
    }
}

/// Each requirement of `names` with its directory; the first one missing is the error.
pub fn locate_all(names: &[String]) -> Result<Vec<(&'static Requirement, PathBuf)>, Missing> {
    names
        .iter()
        .map(|n| {
            let r = find(n).ok_or_else(|| Missing::Unknown(n.clone()))?;
            Ok((r, r.locate()?))
        })
        .collect()
}

/// `s` with each found requirement's placeholder replaced by its directory.
pub fn fill(s: &str, found: &[(&'static Requirement, PathBuf)]) -> String {
    let mut out = s.to_string();
    for (r, dir) in found {
        out = out.replace(
            &format!("{{{}}}", r.placeholder),
            &dir.display().to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_the_first_and_the_setup() {
        let r = &REQUIREMENTS[0];
        let tmp = std::env::temp_dir().join(format!("shakedown-requires-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("venv/bin")).unwrap();
        std::fs::write(tmp.join("venv/bin/python"), "").unwrap();
        let err = check(r, &tmp, "given".into()).unwrap_err();
        assert!(err.to_string().contains("model/config.json"), "{err}");
        assert!(
            err.to_string().contains("scripts/setup-vllm-cpu.sh"),
            "{err}"
        );
        std::fs::create_dir_all(tmp.join("model")).unwrap();
        std::fs::write(tmp.join("model/config.json"), "{}").unwrap();
        std::fs::write(tmp.join("model/tokenizer.json"), "{}").unwrap();
        let dir = check(r, &tmp, "given".into()).unwrap();
        let found = [(r, dir.clone())];
        assert_eq!(
            fill("{vllm_cpu}/venv/bin/python {port}", &found),
            format!("{}/venv/bin/python {{port}}", dir.display())
        );
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(matches!(
            locate_all(&["nope".into()]),
            Err(Missing::Unknown(_))
        ));
    }
}
