//! The SHA-256 of everything a certified run depended on (suite files, the fault files they
//! use, corpora, probe files, the shakedown binary, each service's program), and their
//! re-computation against a checkout (`certify --verify`).

use crate::suite::Suite;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a hashed file is to the runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A suite file (or configuration file) the runs were read from.
    Suite,
    /// A fault file a suite uses (`use = "NAME"`).
    Fault,
    /// A malformed-input corpus (`file:PATH`, or `builtin:openai`'s `corpora/openai.jsonl`).
    Corpus,
    /// An `[accuracy]` probes file.
    Probes,
    /// The shakedown binary that certified.
    Binary,
    /// A service's (or command's) program, resolved through `PATH`.
    Program,
}

/// One hashed file of a certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hash {
    pub kind: Kind,
    /// Relative to the checkout root where it lies under it, else absolute.
    pub path: String,
    /// Hex SHA-256; `None` when the file was missing.
    pub sha256: Option<String>,
    /// Whether the file was missing (a program not found, a suite file gone).
    #[serde(default)]
    pub missing: bool,
    /// A program as the suite names it (`python3`), or a corpus as the fault names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named: Option<String>,
}

/// The hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hex SHA-256 of a file; `None` when it cannot be read.
fn sha256_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// Collects the hashes of a certificate, each path once.
pub struct Hasher {
    /// The checkout root, absolute.
    root: PathBuf,
    /// The working directory, against which relative paths of suites are read.
    cwd: PathBuf,
    hashes: Vec<Hash>,
}

impl Hasher {
    /// A hasher with the running binary already hashed.
    pub fn new(root: &Path) -> Hasher {
        let cwd = std::env::current_dir().unwrap_or_default();
        let root = normalize(&cwd.join(root));
        let mut h = Hasher {
            root,
            cwd,
            hashes: Vec::new(),
        };
        match std::env::current_exe() {
            Ok(exe) => h.file(Kind::Binary, &exe, None),
            Err(_) => h.missing(Kind::Binary, "shakedown".into(), None),
        }
        h
    }

    /// Every file `suite` depends on.
    pub fn suite(&mut self, suite: &Suite) {
        let source = &self.locate(&suite.source);
        self.file(Kind::Suite, source, None);
        for f in crate::suite::used_fault_files(source) {
            self.file(Kind::Fault, &f, None);
        }
        for fault in &suite.faults {
            for (spec, file) in crate::fault::input::corpora(fault) {
                match file {
                    Some(f) => self.file(Kind::Corpus, &f, Some(spec)),
                    None => {
                        let (text, path) = crate::fault::input::corpus::builtin_openai();
                        self.push(Hash {
                            kind: Kind::Corpus,
                            path: path.into(),
                            sha256: Some(sha256_hex(text.as_bytes())),
                            missing: false,
                            named: Some(spec),
                        });
                    }
                }
            }
        }
        if let Some(a) = &suite.accuracy {
            let dir = source.parent().unwrap_or(Path::new(""));
            self.file(Kind::Probes, &dir.join(&a.probes_file), None);
        }
        let services = suite.services.iter().map(|s| (&s.command, s.cwd.as_ref()));
        let command = suite.command.iter().map(|c| (&c.argv, c.cwd.as_ref()));
        for (argv, cwd) in services.chain(command) {
            let Some(program) = argv.first() else {
                continue;
            };
            match resolve_program(program, cwd.map(PathBuf::as_path)) {
                Some(p) => self.file(Kind::Program, &p, Some(program.clone())),
                None => self.missing(Kind::Program, program.clone(), Some(program.clone())),
            }
        }
    }

    /// A suite file that no longer loads: the file alone.
    pub fn suite_file(&mut self, file: &Path) {
        self.file(Kind::Suite, file, None);
    }

    /// The hashes collected, in the order first met.
    pub fn finish(self) -> Vec<Hash> {
        self.hashes
    }

    /// Hash one file (recorded missing when it cannot be read).
    fn file(&mut self, kind: Kind, path: &Path, named: Option<String>) {
        let shown = self.shown(path);
        if self.hashes.iter().any(|h| h.path == shown) {
            return;
        }
        let sha256 = sha256_file(&self.locate(path));
        self.push(Hash {
            kind,
            path: shown,
            missing: sha256.is_none(),
            sha256,
            named,
        });
    }

    fn missing(&mut self, kind: Kind, path: String, named: Option<String>) {
        self.push(Hash {
            kind,
            path,
            sha256: None,
            missing: true,
            named,
        });
    }

    fn push(&mut self, h: Hash) {
        if !self.hashes.iter().any(|o| o.path == h.path) {
            self.hashes.push(h);
        }
    }

    /// Where a path a run recorded lies: relative paths are read against the working
    /// directory, else against the checkout root (runs made there, certified from elsewhere).
    fn locate(&self, path: &Path) -> PathBuf {
        let here = self.cwd.join(path);
        if path.is_relative() && !here.exists() && self.root.join(path).exists() {
            return self.root.join(path);
        }
        here
    }

    /// `path` relative to the root where it lies under it, else absolute.
    fn shown(&self, path: &Path) -> String {
        let abs = normalize(&self.locate(path));
        abs.strip_prefix(&self.root)
            .unwrap_or(&abs)
            .display()
            .to_string()
    }
}

/// `path` without `.` and with each `..` taken back, as written: links are not followed, so a
/// file reached through a linked directory of the checkout is recorded under the checkout.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Where a program runs from, as `which` finds it: `shakedown` is this binary (as the
/// supervisor runs it), a name with a `/` is a path (relative to the service's `cwd`), any
/// other name the first executable file of that name on `PATH`. `None`: not found.
pub fn resolve_program(program: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program == "shakedown" {
        return Some(crate::service::shakedown_exe()).filter(|p| executable(p));
    }
    if program.contains('/') {
        let p = cwd.unwrap_or(Path::new("")).join(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// One recorded hash that no longer holds, in words (`changed: PATH: sha256 OLD… ≠ NEW…`).
pub fn mismatch(h: &Hash, root: &Path) -> Option<String> {
    let now = match (h.kind, &h.named) {
        (Kind::Binary, _) => std::env::current_exe().ok().and_then(|p| sha256_file(&p)),
        // A program not found then is looked for again as the suite names it.
        (Kind::Program, Some(named)) if h.missing => {
            resolve_program(named, None).and_then(|p| sha256_file(&p))
        }
        _ => sha256_file(&root.join(&h.path)),
    };
    let short = |s: &str| format!("{}…", s.chars().take(12).collect::<String>());
    match (&h.sha256, &now) {
        (Some(a), Some(b)) if a == b => None,
        (None, None) => None,
        (Some(a), Some(b)) => Some(format!(
            "changed: {}: sha256 {} ≠ {}",
            h.path,
            short(a),
            short(b)
        )),
        (Some(a), None) => Some(format!("missing: {}: sha256 {} recorded", h.path, short(a))),
        (None, Some(b)) => Some(format!(
            "appeared: {}: recorded missing, now sha256 {}",
            h.path,
            short(b)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn programs_resolve_like_which() {
        assert!(resolve_program("sh", None).is_some());
        assert!(resolve_program("no-such-program-shakedown-xyz", None).is_none());
        assert!(resolve_program("./no/such/file", None).is_none());
    }

    #[test]
    fn paths_normalize_as_written() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c/d.toml")),
            PathBuf::from("/a/c/d.toml")
        );
    }
}
