//! What a level (or a CI trigger) would run: the suites found, selected by level and
//! hardware, each with its estimated time and, when left out, the reason.
//!
//! `shakedown plan` prints a [`Plan`] (text, JSON, a GitHub Actions matrix or a Buildkite
//! pipeline, so a CI's own agents run the suites); `shakedown run --level` runs one here.

mod discover;
mod execute;
pub mod level;
mod output;
mod yaml;

pub use discover::{FindError, discover};
pub use execute::{LEVEL_JSON, LevelOptions, LevelReport, SuiteResult, run_level};
pub use output::Format;

use crate::suite::{Hardware, Level, Suite};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where suites are looked for when no directory is given.
pub const DEFAULT_DIR: &str = "suites";

/// What a plan is asked for.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The levels asked for (`--level`, or a trigger's levels); empty: every level.
    pub levels: Vec<Level>,
    /// The trigger the levels came from, if any.
    pub trigger: Option<String>,
    /// The hardware the suites would run on.
    pub hardware: Hardware,
}

/// What would run, and why everything else would not.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The levels asked for, cheapest first.
    pub levels: Vec<Level>,
    /// Every level those run (with the levels they include), cheapest first.
    pub runs: Vec<Level>,
    /// The trigger the levels came from, if any.
    pub trigger: Option<String>,
    /// The hardware planned for.
    pub hardware: Hardware,
    /// Every suite found, in run order (cheapest level first, then file name).
    pub suites: Vec<Entry>,
    /// Each level asked for: its suites' estimated time against its budget.
    pub budgets: Vec<LevelBudget>,
}

/// One suite in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The suite's name.
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// Its level.
    pub level: Level,
    /// The hardware it needs.
    pub hardware: Hardware,
    /// Its own budget (past it the run is cut and reported `budget.exceeded`), seconds.
    pub budget_s: f64,
    /// Its expected wall time, seconds.
    pub estimate_s: f64,
    /// Where the estimate comes from.
    pub basis: Basis,
    /// Whether it runs.
    pub run: bool,
    /// Why not, when it does not.
    pub skip: Option<Skip>,
    /// The loaded suite.
    #[serde(skip)]
    pub suite: Suite,
}

impl Entry {
    /// Whether the suite belongs to the levels planned (it runs, or is skipped for its hardware).
    pub fn in_levels(&self) -> bool {
        self.skip
            .as_ref()
            .is_none_or(|s| s.because == SkipBecause::Hardware)
    }
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The suite's timings: each service's readiness deadline and stop grace, and the load
    /// (or the faults and their recovery); an upper estimate short of the budget.
    Estimate,
    /// Those timings add up to more than the suite's budget, where the run is cut.
    Budget,
}

/// Why a suite is left out.
#[derive(Debug, Clone, Serialize)]
pub struct Skip {
    /// Which rule left it out.
    pub because: SkipBecause,
    /// In words.
    pub reason: String,
}

/// The rules that leave a suite out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipBecause {
    /// Its level is not among those planned.
    Level,
    /// It needs hardware the plan does not have.
    Hardware,
}

/// One level asked for: the sum of its suites' estimates against its budget.
#[derive(Debug, Clone, Serialize)]
pub struct LevelBudget {
    /// The level.
    pub level: Level,
    /// Its budget, seconds; `None`: as needed.
    pub budget_s: Option<f64>,
    /// The estimates of every suite it runs (its own and its included levels'), summed.
    pub estimate_s: f64,
    /// How many suites that is.
    pub suites: usize,
    /// Whether the estimate is over the budget.
    pub over: bool,
}

/// The hardware this machine offers: `gpu` where the CUDA driver loads.
pub fn this_machine() -> Hardware {
    match crate::gpu::cuda::driver_present() {
        Ok(()) => Hardware::Gpu,
        Err(_) => Hardware::Cpu,
    }
}

/// Seconds rounded up, as people read them (`1m 36s`).
fn secs(s: f64) -> String {
    humantime::format_duration(Duration::from_secs(s.ceil() as u64)).to_string()
}

/// `cpu` or `gpu`, as suites write it.
pub fn hardware_name(h: Hardware) -> &'static str {
    match h {
        Hardware::Cpu => "cpu",
        Hardware::Gpu => "gpu",
    }
}

/// `cpu` or `gpu`, as `--hardware` takes it.
pub fn parse_hardware(s: &str) -> Result<Hardware, String> {
    match s.to_ascii_lowercase().as_str() {
        "cpu" => Ok(Hardware::Cpu),
        "gpu" => Ok(Hardware::Gpu),
        _ => Err(format!("unknown hardware `{s}`, expected cpu or gpu")),
    }
}

/// Plan `suites` for `ask`.
pub fn plan(suites: Vec<Suite>, ask: &Ask) -> Plan {
    let levels: Vec<Level> = if ask.levels.is_empty() {
        level::LEVELS.iter().map(|l| l.level).collect()
    } else {
        let mut ls = ask.levels.clone();
        ls.sort_by_key(|&l| level::rank(l));
        ls.dedup();
        ls
    };
    let mut runs: Vec<Level> = levels.iter().flat_map(|&l| level::closure(l)).collect();
    runs.sort_by_key(|&l| level::rank(l));
    runs.dedup();
    let mut suites: Vec<Entry> = suites
        .into_iter()
        .map(|s| entry(s, &runs, ask.hardware))
        .collect();
    suites.sort_by(|a, b| (level::rank(a.level), &a.file).cmp(&(level::rank(b.level), &b.file)));
    let budgets = levels
        .iter()
        .map(|&l| {
            let covered = level::closure(l);
            let mine: Vec<&Entry> = suites
                .iter()
                .filter(|e| e.run && covered.contains(&e.level))
                .collect();
            let estimate_s = mine.iter().map(|e| e.estimate_s).sum();
            let budget_s = level::info(l).budget.map(|b| b.as_secs_f64());
            LevelBudget {
                level: l,
                budget_s,
                estimate_s,
                suites: mine.len(),
                over: budget_s.is_some_and(|b| estimate_s > b),
            }
        })
        .collect();
    Plan {
        levels,
        runs,
        trigger: ask.trigger.clone(),
        hardware: ask.hardware,
        suites,
        budgets,
    }
}

/// A suite's place in a plan running the levels `runs` on `hardware`.
fn entry(suite: Suite, runs: &[Level], hardware: Hardware) -> Entry {
    let meta = &suite.meta;
    let skip = if !runs.contains(&meta.level) {
        let ids: Vec<&str> = runs.iter().map(|&l| level::info(l).id).collect();
        Some(Skip {
            because: SkipBecause::Level,
            reason: format!(
                "level {} is not in this plan (it runs {})",
                level::info(meta.level).id,
                ids.join(", ")
            ),
        })
    } else if meta.hardware == Hardware::Gpu && hardware == Hardware::Cpu {
        Some(Skip {
            because: SkipBecause::Hardware,
            reason: "needs a GPU".into(),
        })
    } else {
        None
    };
    let (estimate, basis) = estimate(&suite);
    Entry {
        name: meta.name.clone(),
        file: suite.source.clone(),
        level: meta.level,
        hardware: meta.hardware,
        budget_s: meta.budget.0.as_secs_f64(),
        estimate_s: estimate.as_secs_f64(),
        basis,
        run: skip.is_none(),
        skip,
        suite,
    }
}

/// A suite's expected wall time: services started one after another (each up to its
/// readiness deadline), the middle of the run, each service's stop grace; never past the
/// budget, where the run is cut.
pub fn estimate(suite: &Suite) -> (Duration, Basis) {
    let ready: Duration = suite.services.iter().map(|s| s.ready.within.0).sum();
    let stop: Duration = suite.services.iter().map(|s| s.stop_grace.0).sum();
    // A command runs until it is done: its timeout is all that is known of it.
    let command = suite
        .command
        .as_ref()
        .map_or(Duration::ZERO, |c| c.timeout.0 + c.stop_grace.0);
    // Probes go one at a time, each within its timeout: before load, and after it on request.
    let probes = suite.accuracy.as_ref().map_or(Duration::ZERO, |a| {
        let rounds = 1 + u32::from(a.after_recovery);
        a.timeout.0 * (a.probes.len() as u32).saturating_mul(rounds)
    });
    // A sweep: each point's arrivals at its rate (at once for "inf"), and a cool-down between.
    let sweep = suite.perf.as_ref().map_or(Duration::ZERO, |p| {
        let each = |qps: Option<f64>| {
            qps.map_or(Duration::ZERO, |q| {
                Duration::from_secs_f64(p.num_prompts as f64 / q)
            })
        };
        let points: Duration = p.points.iter().map(|pt| each(pt.qps) + p.cooldown.0).sum();
        points
    });
    let timed = ready + suite.drive_duration().0 + stop + command + probes + sweep;
    let budget = suite.meta.budget.0;
    if timed > budget {
        (budget, Basis::Budget)
    } else {
        (timed, Basis::Estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn suite(name: &str, level: &str, hardware: &str, budget: &str) -> Suite {
        let text = format!(
            "[suite]\nname = \"{name}\"\nlevel = \"{level}\"\nhardware = \"{hardware}\"\nbudget = \"{budget}\"\n\n\
             [service]\ncommand = [\"x\", \"{{port}}\"]\nready = {{ tcp = true, within = \"10s\" }}\nstop_grace = \"2s\"\n\n\
             [load]\nrate = 1\nduration = \"30s\"\n"
        );
        crate::suite::load_str(
            Path::new(&format!("{name}.toml")),
            &text,
            &crate::fault::check,
        )
        .unwrap()
    }

    #[test]
    fn estimates_stop_at_the_budget() {
        assert_eq!(
            estimate(&suite("a", "L1", "cpu", "1m")),
            (Duration::from_secs(42), Basis::Estimate)
        );
        assert_eq!(
            estimate(&suite("a", "L1", "cpu", "35s")),
            (Duration::from_secs(35), Basis::Budget)
        );
    }

    #[test]
    fn estimates_count_each_probe_timeout_of_each_round() {
        let tmp = tempfile::tempdir().unwrap();
        let probe = r#"{"prompt": "What is 2 + 3?", "expect": {"equals": "5"}}"#;
        std::fs::write(
            tmp.path().join("p.jsonl"),
            format!("{probe}\n{probe}\n{probe}\n"),
        )
        .unwrap();
        let text = "[suite]\nname = \"a\"\nbudget = \"5m\"\n[service]\ncommand = [\"x\", \"{port}\"]\n\
                    ready = { tcp = true, within = \"10s\" }\nstop_grace = \"2s\"\n[load]\nrate = 1\nduration = \"30s\"\n\
                    [accuracy]\nprobes = \"p.jsonl\"\ntimeout = \"5s\"\nafter_recovery = true\n";
        let s =
            crate::suite::load_str(&tmp.path().join("a.toml"), text, &crate::fault::check).unwrap();
        // 10 s ready + 30 s load + 2 s stop + 3 probes × 5 s × 2 rounds.
        assert_eq!(estimate(&s), (Duration::from_secs(72), Basis::Estimate));
    }

    #[test]
    fn levels_include_and_hardware_skips() {
        let suites = vec![
            suite("l5", "L5", "cpu", "1m"),
            suite("l3gpu", "L3", "gpu", "1m"),
            suite("l1", "L1", "cpu", "1m"),
            suite("l2", "L2", "cpu", "1m"),
        ];
        let ask = Ask {
            levels: vec![Level::L3],
            trigger: None,
            hardware: Hardware::Cpu,
        };
        let p = plan(suites, &ask);
        let names: Vec<&str> = p.suites.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["l1", "l2", "l3gpu", "l5"]);
        let run: Vec<bool> = p.suites.iter().map(|e| e.run).collect();
        assert_eq!(run, [true, true, false, false]);
        assert_eq!(p.suites[2].skip.as_ref().unwrap().reason, "needs a GPU");
        assert!(p.suites[2].in_levels());
        assert_eq!(
            p.suites[3].skip.as_ref().unwrap().because,
            SkipBecause::Level
        );
        assert_eq!(p.budgets.len(), 1);
        assert_eq!(p.budgets[0].estimate_s, 84.0);
        assert_eq!(p.budgets[0].suites, 2);
        assert!(!p.budgets[0].over);
    }
}
