//! A plan as text, as JSON, as a GitHub Actions matrix, or as a Buildkite pipeline.
//!
//! The CI formats hold one job per suite of the levels planned: shakedown never schedules
//! machines, the CI's own agents run the suites. A suite skipped for its hardware is still a
//! job, on the hardware the plan has, where `shakedown run` records the skip and its reason
//! (exit 0); the job is marked to fail softly.

use super::yaml::Node;
use super::{Basis, Entry, Plan, level, secs};
use crate::suite::Hardware;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::str::FromStr;

/// How `shakedown plan` prints a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Text,
    /// The whole plan, machine-readable.
    Json,
    /// A GitHub Actions `strategy.matrix` (`{"include": [...]}`), on one line.
    GithubMatrix,
    /// A Buildkite pipeline (YAML), one step per suite.
    Buildkite,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "github-matrix" => Ok(Format::GithubMatrix),
            "buildkite" => Ok(Format::Buildkite),
            _ => Err(format!(
                "unknown format `{s}`, expected text, json, github-matrix or buildkite"
            )),
        }
    }
}

/// Where run directories go in CI jobs (`shakedown run`'s default `--out`).
const RUNS: &str = crate::run::DEFAULT_OUT;

/// The GitHub runner label (`runs-on`) and the Buildkite agent queue of each kind of hardware.
fn runner(h: Hardware) -> (&'static str, &'static str) {
    match h {
        Hardware::Cpu => ("ubuntu-latest", "cpu"),
        Hardware::Gpu => ("gpu", "gpu"),
    }
}

impl Plan {
    /// The plan in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::GithubMatrix => {
                let include: Vec<Value> = self.jobs().map(|e| self.matrix_row(e)).collect();
                format!("{}\n", json!({ "include": include }))
            }
            Format::Buildkite => self.buildkite().to_yaml(),
        }
    }

    /// The suites that become CI jobs: those of the levels planned.
    fn jobs(&self) -> impl Iterator<Item = &Entry> {
        self.suites.iter().filter(|e| e.in_levels())
    }

    /// The hardware a suite's job runs on: its own, unless the plan lacks it.
    fn job_hardware(&self, e: &Entry) -> Hardware {
        if e.run { e.hardware } else { self.hardware }
    }

    /// Why the suite's job is expected to skip, or "".
    fn skip_reason(e: &Entry) -> &str {
        e.skip.as_ref().map_or("", |s| s.reason.as_str())
    }

    /// One `include` row of the GitHub matrix.
    fn matrix_row(&self, e: &Entry) -> Value {
        json!({
            "suite": e.file.display().to_string(),
            "name": e.name,
            "level": level::info(e.level).id,
            "hardware": e.hardware,
            "runs-on": runner(self.job_hardware(e)).0,
            "budget": e.suite.meta.budget.to_string(),
            "soft-fail": !e.run,
            "skip-reason": Self::skip_reason(e),
        })
    }

    /// The Buildkite pipeline: one step per suite.
    fn buildkite(&self) -> Node {
        let steps = self
            .jobs()
            .map(|e| {
                let mut label = format!("{} {}", level::info(e.level).id, e.name);
                if !e.run {
                    let _ = write!(label, " (skipped: {})", Self::skip_reason(e));
                }
                Node::map([
                    ("label", Node::leaf(label)),
                    (
                        "command",
                        Node::leaf(format!(
                            "shakedown run {} --test {} --out {RUNS}",
                            sh_quote(&e.file.display().to_string()),
                            sh_quote(&e.name)
                        )),
                    ),
                    (
                        "agents",
                        Node::map([("queue", Node::leaf(runner(self.job_hardware(e)).1))]),
                    ),
                    (
                        "artifact_paths",
                        Node::Seq(vec![Node::leaf(format!("{RUNS}/**/*"))]),
                    ),
                    ("soft_fail", Node::leaf(!e.run)),
                ])
            })
            .collect();
        Node::map([("steps", Node::Seq(steps))])
    }

    /// The table for people: every suite, then each level's time against its budget.
    fn text(&self) -> String {
        let mut s = String::new();
        let ids = |ls: &[crate::suite::Level]| {
            ls.iter()
                .map(|&l| level::info(l).id)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let from = self
            .trigger
            .as_ref()
            .map(|t| format!(" (trigger {t})"))
            .unwrap_or_default();
        let runs = if self.runs == self.levels {
            String::new()
        } else {
            format!(" (runs {})", ids(&self.runs))
        };
        let _ = writeln!(
            s,
            "shakedown plan: {}{runs}{from} on {}",
            ids(&self.levels),
            super::hardware_name(self.hardware)
        );
        let name_w = self.suites.iter().map(|e| e.name.len()).max().unwrap_or(0);
        let file_w = self
            .suites
            .iter()
            .map(|e| e.file.display().to_string().len())
            .max()
            .unwrap_or(0);
        for e in &self.suites {
            let tag = if e.run { "run " } else { "skip" };
            let basis = match e.basis {
                Basis::Estimate => "est.",
                Basis::Budget => "budget",
            };
            let time = format!("{basis} {}", secs(e.estimate_s));
            let line = format!(
                "  {tag}  {}  {:name_w$}  {}  {time:>12}  {:file_w$}  {}",
                level::info(e.level).id,
                e.name,
                super::hardware_name(e.hardware),
                e.file.display().to_string(),
                Self::skip_reason(e)
            );
            let _ = writeln!(s, "{}", line.trim_end());
        }
        if self.suites.is_empty() {
            let _ = writeln!(s, "  no suites found");
        }
        for b in &self.budgets {
            let id = level::info(b.level).id;
            let sum = secs(b.estimate_s);
            let line = match b.budget_s {
                Some(budget) if b.over => format!(
                    "{sum} estimated for {} suite(s), OVER the budget of {}",
                    b.suites,
                    secs(budget)
                ),
                Some(budget) => format!(
                    "{sum} estimated for {} suite(s), within the budget of {}",
                    b.suites,
                    secs(budget)
                ),
                None => format!("{sum} estimated for {} suite(s), no budget", b.suites),
            };
            let _ = writeln!(s, "  {id}: {line}");
        }
        let run = self.suites.iter().filter(|e| e.run).count();
        let _ = writeln!(s, "  {run} to run, {} skipped", self.suites.len() - run);
        s
    }

    /// The levels over their budget, as one warning line each (for stderr).
    pub fn warnings(&self) -> Vec<String> {
        self.budgets
            .iter()
            .filter(|b| b.over)
            .map(|b| {
                format!(
                    "warning: level {}: an estimated {} is over its budget of {}",
                    level::info(b.level).id,
                    secs(b.estimate_s),
                    secs(b.budget_s.unwrap_or_default())
                )
            })
            .collect()
    }
}

/// `s` as one shell word.
fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '=')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(sh_quote("suites/l2/a.toml"), "suites/l2/a.toml");
        assert_eq!(sh_quote("my suites/it's.toml"), r"'my suites/it'\''s.toml'");
        assert_eq!(sh_quote(""), "''");
    }
}
