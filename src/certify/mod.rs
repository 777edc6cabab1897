//! `shakedown certify`: one certificate for a release across levels — the per-level matrix of
//! suites × verdicts, the SHA-256 of every file the runs depended on, this machine's hardware,
//! and an overall PASS/FAIL a release pipeline gates on (`certificate.json`, `.html`,
//! `.junit.xml`); `certify --verify` re-computes the hashes against a checkout.

pub mod hashes;
mod html;
mod junit;

use crate::plan::{self, LevelOptions};
use crate::record::files;
use crate::report::{Report, RunStatus};
use crate::suite::{Level, Suite};
use crate::verdict::Status;
use hashes::{Hash, Hasher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The certificate's JSON document in its directory.
pub const CERTIFICATE_JSON: &str = "certificate.json";
/// The certificate as a self-contained HTML page.
pub const CERTIFICATE_HTML: &str = "certificate.html";
/// The certificate as JUnit: one testsuite per level, one testcase per suite.
pub const CERTIFICATE_JUNIT: &str = "certificate.junit.xml";

/// How a certificate is made.
#[derive(Debug, Clone)]
pub struct CertifyOptions {
    /// The release certified (`v1.4.0`).
    pub release: String,
    /// Levels to run here; empty: collect the run and level directories in `dirs`.
    pub levels: Vec<Level>,
    /// With `levels`: where suites are found (default `suites/`); without: the directories
    /// to collect.
    pub dirs: Vec<PathBuf>,
    /// The certificate's directory; `None`: a fresh `shakedown-runs/certify-<release>-<utc>`.
    pub out: Option<PathBuf>,
    /// The checkout root hashed paths are relative to.
    pub root: PathBuf,
    /// Override every suite's seed (with `levels`).
    pub seed: Option<u64>,
    /// Print each run's progress lines to stderr (with `levels`).
    pub progress: bool,
}

/// Why no certificate could be made.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// The command line or a directory given is not usable (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A level could not run, or the certificate could not be written (exit 3).
    #[error("{0}")]
    Infra(String),
}

impl CertifyError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CertifyError::Usage(_) => 2,
            CertifyError::Infra(_) => 3,
        }
    }
}

/// A release's overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overall {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
}

/// What `certificate.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub release: String,
    pub created_at: String,
    /// The shakedown version that certified.
    pub shakedown: String,
    /// PASS, or FAIL with `reasons`.
    pub overall: Overall,
    /// Why it failed: each suite that failed, erred or was interrupted; each level where no
    /// suite ran.
    pub reasons: Vec<String>,
    /// One matrix per level, cheapest first.
    pub levels: Vec<LevelMatrix>,
    /// Every file the runs depended on.
    pub hashes: Vec<Hash>,
    /// This machine, as `shakedown doctor` sees it.
    pub hardware: serde_json::Value,
}

/// One level's suites × verdict ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelMatrix {
    /// `L3`.
    pub level: String,
    /// The columns: every verdict id any of its suites reported, sorted.
    pub verdicts: Vec<String>,
    /// The rows.
    pub suites: Vec<Row>,
}

/// One suite of a level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub suite: String,
    pub status: RunStatus,
    /// Why it did not pass (its error, why it was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its run directory, relative to the certificate's directory where possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
    /// Its `report.html`, relative to the certificate's directory where possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_html: Option<String>,
    /// The cells: verdict id → status (the worst where an id is reported more than once).
    pub cells: BTreeMap<String, Status>,
}

/// Whether no suite of a level ran to a verdict (all skipped, erred or interrupted).
pub fn none_ran(suites: &[Row]) -> bool {
    !suites.iter().any(|r| {
        matches!(
            r.status,
            RunStatus::Passed | RunStatus::Failed | RunStatus::Aborted
        )
    })
}

impl Row {
    /// The verdict ids whose cells fail the run.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.cells
            .iter()
            .filter(|(_, s)| s.fails_run())
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

/// A suite found in a directory to collect: its report, or only its line in `level.json`.
struct Found {
    level: String,
    row: Row,
    /// Its suite, read from the run directory's `suite.resolved.json` (else its file).
    suite: Option<Suite>,
    /// Its suite file, when the suite itself could not be read.
    file: Option<PathBuf>,
}

/// The fields of a `level.json` line a certificate reads.
#[derive(Deserialize)]
struct LevelJson {
    suites: Vec<LevelSuite>,
}

#[derive(Deserialize)]
struct LevelSuite {
    name: String,
    file: PathBuf,
    level: Level,
    status: RunStatus,
    run_dir: Option<PathBuf>,
    reason: Option<String>,
}

/// Run the levels asked for (or collect the directories given), then write the certificate.
pub async fn certify(opts: &CertifyOptions) -> Result<(Certificate, PathBuf), CertifyError> {
    if opts.release.trim().is_empty() {
        return Err(CertifyError::Usage("--release is empty".into()));
    }
    if opts.levels.is_empty() && opts.dirs.is_empty() {
        return Err(CertifyError::Usage(
            "nothing to certify: give --level (run levels here) or run/level directories to collect"
                .into(),
        ));
    }
    let now = SystemTime::now();
    let out = match &opts.out {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                CertifyError::Infra(format!("failed to create {}: {e}", d.display()))
            })?;
            d.clone()
        }
        None => {
            let base = format!(
                "certify-{}-{}",
                safe_name(&opts.release),
                crate::run::utc_stamp(now)
            );
            crate::run::create_fresh_dir(Path::new(crate::run::DEFAULT_OUT), &base).map_err(
                |(p, e)| CertifyError::Infra(format!("failed to create {}: {e}", p.display())),
            )?
        }
    };
    let (dirs, asked) = if opts.levels.is_empty() {
        (opts.dirs.clone(), Vec::new())
    } else {
        (run_levels(opts, &out).await?, opts.levels.clone())
    };
    let mut found = Vec::new();
    for d in &dirs {
        found.extend(collect(d)?);
    }
    let cert = build(opts, &out, now, &asked, found);
    write(&cert, &out)?;
    Ok((cert, out))
}

/// Run each level asked for into the certificate's directory; their level directories.
async fn run_levels(opts: &CertifyOptions, out: &Path) -> Result<Vec<PathBuf>, CertifyError> {
    let default = [PathBuf::from(plan::DEFAULT_DIR)];
    let dirs = if opts.dirs.is_empty() {
        &default[..]
    } else {
        &opts.dirs[..]
    };
    let (suites, errors) = plan::discover(dirs);
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(CertifyError::Usage(lines.join("\n")));
    }
    let level_opts = LevelOptions {
        seed: opts.seed,
        out: out.to_path_buf(),
        progress: opts.progress,
        fail_fast: false,
        duration: None,
    };
    let mut levels = opts.levels.clone();
    levels.sort_by_key(|&l| l as u8);
    levels.dedup();
    let mut out_dirs = Vec::new();
    for level in levels {
        // A level's own run includes the levels below it; each is certified once, as its own.
        let own: Vec<Suite> = suites
            .iter()
            .filter(|s| s.meta.level == level)
            .cloned()
            .collect();
        let report = plan::run_level(level, own, &level_opts, |r| {
            if opts.progress {
                eprint!("{}", r.summary());
            }
        })
        .await
        .map_err(|e| CertifyError::Infra(e.to_string()))?;
        if report.status == RunStatus::Interrupted {
            return Err(CertifyError::Infra(format!(
                "level {} was interrupted: no certificate",
                plan::level::info(level).id
            )));
        }
        out_dirs.push(report.dir);
    }
    Ok(out_dirs)
}

/// The suites of a run directory (`report.json`) or a level directory (`level.json`).
fn collect(dir: &Path) -> Result<Vec<Found>, CertifyError> {
    let level_json = dir.join(plan::LEVEL_JSON);
    if level_json.is_file() {
        let level: LevelJson = read_json(&level_json)?;
        return Ok(level.suites.into_iter().map(from_level).collect());
    }
    if dir.join(files::REPORT).is_file() {
        let report: Report = read_json(&dir.join(files::REPORT))?;
        return Ok(vec![from_report(&report, dir, None)]);
    }
    Err(CertifyError::Usage(format!(
        "{} is neither a run directory (no {}) nor a level directory (no {})",
        dir.display(),
        files::REPORT,
        plan::LEVEL_JSON
    )))
}

/// A suite of `level.json`: from its run directory's report when it has one.
fn from_level(s: LevelSuite) -> Found {
    let id = plan::level::info(s.level).id.to_string();
    if let Some(d) = &s.run_dir
        && let Ok(report) = read_json::<Report>(&d.join(files::REPORT))
    {
        return from_report(&report, d, Some(s.file));
    }
    let suite = load_named(&s.file, &s.name);
    Found {
        level: id,
        row: Row {
            suite: s.name,
            status: s.status,
            reason: s.reason,
            run_dir: s.run_dir.map(|d| d.display().to_string()),
            report_html: None,
            cells: BTreeMap::new(),
        },
        file: suite.is_none().then_some(s.file),
        suite,
    }
}

fn from_report(r: &Report, dir: &Path, file: Option<PathBuf>) -> Found {
    let mut cells: BTreeMap<String, Status> = BTreeMap::new();
    // The run's own ending (a guardrail, the budget) is a failing id of its row too.
    if let Some(id) = r.ending_id() {
        cells.insert(id.to_string(), Status::Fail);
    }
    for v in &r.verdicts {
        let cell = cells.entry(v.id.clone()).or_insert(v.status);
        if rank(v.status) > rank(*cell) {
            *cell = v.status;
        }
    }
    let resolved = dir.join(files::SUITE);
    let suite = crate::suite::load_all(&resolved, &crate::fault::check)
        .ok()
        .and_then(|mut s| (s.len() == 1).then(|| s.remove(0)))
        .or_else(|| file.as_deref().and_then(|f| load_named(f, &r.suite)));
    Found {
        level: r.level.clone(),
        row: Row {
            suite: r.suite.clone(),
            status: r.status,
            reason: r.error.clone(),
            run_dir: Some(dir.display().to_string()),
            report_html: Some(dir.join("report.html").display().to_string()),
            cells,
        },
        file: if suite.is_none() { file } else { None },
        suite,
    }
}

/// The suite named `name` in `file`, if it still loads.
fn load_named(file: &Path, name: &str) -> Option<Suite> {
    crate::suite::load_all(file, &crate::fault::check)
        .ok()?
        .into_iter()
        .find(|s| s.meta.name == name)
}

/// How much a cell's status weighs when one id is reported more than once.
fn rank(s: Status) -> u8 {
    match s {
        Status::Skip | Status::NotJudged => 0,
        Status::Pass => 1,
        Status::XFail => 2,
        Status::Fail | Status::XPass => 3,
    }
}

/// The certificate of what was found.
fn build(
    opts: &CertifyOptions,
    out: &Path,
    now: SystemTime,
    asked: &[Level],
    found: Vec<Found>,
) -> Certificate {
    let mut hasher = Hasher::new(&opts.root);
    let mut by_level: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for l in asked {
        by_level.entry(plan::level::info(*l).id.into()).or_default();
    }
    for f in found {
        match (&f.suite, &f.file) {
            (Some(s), _) => hasher.suite(s),
            (None, Some(file)) => hasher.suite_file(file),
            (None, None) => {}
        }
        let mut row = f.row;
        row.run_dir = row.run_dir.map(|d| relative_to(out, &d));
        row.report_html = row.report_html.map(|d| relative_to(out, &d));
        by_level.entry(f.level).or_default().push(row);
    }
    let mut reasons = Vec::new();
    let levels: Vec<LevelMatrix> = by_level
        .into_iter()
        .map(|(level, suites)| {
            for r in &suites {
                if matches!(
                    r.status,
                    RunStatus::Failed
                        | RunStatus::Aborted
                        | RunStatus::Error
                        | RunStatus::Interrupted
                ) {
                    let why = r.reason.as_deref().and_then(|e| e.lines().next());
                    let failed = r.failed_ids();
                    let detail = match why {
                        Some(w) => format!(": {w}"),
                        None if !failed.is_empty() => format!(": {}", failed.join(", ")),
                        None => String::new(),
                    };
                    reasons.push(format!("{level} {}: {}{detail}", r.suite, r.status.word()));
                }
            }
            if none_ran(&suites) {
                reasons.push(format!("{level}: no suite ran"));
            }
            let mut verdicts: Vec<String> = suites
                .iter()
                .flat_map(|r| r.cells.keys().cloned())
                .collect();
            verdicts.sort();
            verdicts.dedup();
            LevelMatrix {
                level,
                verdicts,
                suites,
            }
        })
        .collect();
    Certificate {
        release: opts.release.clone(),
        created_at: humantime::format_rfc3339_seconds(now).to_string(),
        shakedown: env!("CARGO_PKG_VERSION").into(),
        overall: if reasons.is_empty() {
            Overall::Pass
        } else {
            Overall::Fail
        },
        reasons,
        levels,
        hashes: hasher.finish(),
        hardware: serde_json::to_value(crate::doctor::Facts::gather()).unwrap_or_default(),
    }
}

/// `path` relative to the certificate's directory `out` (both read against the working
/// directory), so the links hold wherever the pair is copied; else as given.
fn relative_to(out: &Path, path: &str) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let (Some(out), Some(target)) = (
        canon(out),
        canon(Path::new(path)).or_else(|| {
            // report.html may not be there (yet): its directory is.
            let p = Path::new(path);
            Some(canon(p.parent()?)?.join(p.file_name()?))
        }),
    ) else {
        return path.to_string();
    };
    // Climb from `out` to the nearest common ancestor, then descend.
    let common = out.ancestors().find(|a| target.starts_with(a));
    let Some(common) = common else {
        return path.to_string();
    };
    let ups = out.components().count() - common.components().count();
    let mut rel = PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    rel.push(target.strip_prefix(common).unwrap_or(&target));
    rel.display().to_string()
}

/// Write `certificate.json`, `certificate.html` and `certificate.junit.xml`.
fn write(cert: &Certificate, out: &Path) -> Result<(), CertifyError> {
    let json = serde_json::to_vec_pretty(cert)
        .map_err(|e| CertifyError::Infra(format!("failed to serialize the certificate: {e}")))?;
    for (name, bytes) in [
        (CERTIFICATE_JSON, json),
        (CERTIFICATE_HTML, html::render(cert).into_bytes()),
        (CERTIFICATE_JUNIT, junit::render(cert).into_bytes()),
    ] {
        let path = out.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| CertifyError::Infra(format!("failed to write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CertifyError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CertifyError::Usage(format!("failed to read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CertifyError::Usage(format!("failed to parse {}: {e}", path.display())))
}

/// A release name fit for a directory name.
fn safe_name(release: &str) -> String {
    release
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Certificate {
    /// The terminal summary: one line per level, the reasons, the verdict.
    pub fn summary(&self, out: &Path) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "shakedown certify: release {}", self.release);
        for l in &self.levels {
            let count = |st: RunStatus| l.suites.iter().filter(|r| r.status == st).count();
            let _ = writeln!(
                s,
                "  {}: {} suites: {} passed, {} failed, {} error, {} interrupted, {} skipped",
                l.level,
                l.suites.len(),
                count(RunStatus::Passed),
                // An aborted suite failed: a guardrail judged its service.
                count(RunStatus::Failed) + count(RunStatus::Aborted),
                count(RunStatus::Error),
                count(RunStatus::Interrupted),
                count(RunStatus::Skipped)
            );
        }
        for r in &self.reasons {
            let _ = writeln!(s, "  FAIL  {r}");
        }
        let missing = self.hashes.iter().filter(|h| h.missing).count();
        let _ = writeln!(
            s,
            "  hashes: {} files ({missing} missing)",
            self.hashes.len()
        );
        let _ = writeln!(s, "  certificate: {}", out.join(CERTIFICATE_JSON).display());
        let _ = writeln!(
            s,
            "shakedown certify: {}",
            match self.overall {
                Overall::Pass => "PASS",
                Overall::Fail => "FAIL",
            }
        );
        s
    }
}

/// Recompute every hash of the certificate at `cert` against the checkout at `root`: the
/// mismatches, one line each (empty when all hold).
pub fn verify(cert: &Path, root: &Path) -> Result<Vec<String>, CertifyError> {
    let c: Certificate = read_json(cert)?;
    Ok(c.hashes
        .iter()
        .filter_map(|h| hashes::mismatch(h, root))
        .collect())
}
