//! The level registry: the five-level test system as data.
//!
//! A level is a row, not a code path: its budget, the triggers that run it, the hardware it
//! usually needs and the levels it also runs. A new trigger is a word in a row's `triggers`;
//! a new level is a row here and a variant of [`Level`] (a test checks they agree).

use crate::suite::Level;
use std::time::Duration;

/// One level of the test system.
#[derive(Debug)]
pub struct LevelInfo {
    /// The level.
    pub level: Level,
    /// Its name in suites and on the command line (`L3`).
    pub id: &'static str,
    /// What its suites test.
    pub scope: &'static str,
    /// Wall-clock bound of all its suites together (included levels too); `None`: as needed.
    pub budget: Option<Duration>,
    /// CI events that run it (`shakedown plan --trigger`).
    pub triggers: &'static [&'static str],
    /// The hardware its suites usually need (each suite's `hardware` decides).
    pub hardware: &'static str,
    /// Levels whose suites it runs too, before its own; inclusion is transitive.
    pub includes: &'static [Level],
    /// Where its suites live in this repository.
    pub location: &'static str,
}

const MIN: u64 = 60;

/// Every level, cheapest first: the order levels run in.
pub const LEVELS: &[LevelInfo] = &[
    LevelInfo {
        level: Level::L1,
        id: "L1",
        scope: "unit and logic tests of components",
        budget: Some(Duration::from_secs(15 * MIN)),
        triggers: &["pr"],
        hardware: "cpu",
        includes: &[],
        location: "suites/l1",
    },
    LevelInfo {
        level: Level::L2,
        id: "L2",
        scope: "e2e online serving and offline inference on a dummy model: output format, streaming, instance start-up",
        budget: Some(Duration::from_secs(15 * MIN)),
        triggers: &["pr"],
        hardware: "gpu (cpu with the mock)",
        includes: &[],
        location: "suites/l2/online_serving, suites/l2/offline_inference",
    },
    LevelInfo {
        level: Level::L3,
        id: "L3",
        scope: "real models in several deployment scenarios: inference works, accuracy meets its baseline, key performance meets its thresholds",
        budget: Some(Duration::from_secs(30 * MIN)),
        triggers: &["merge"],
        hardware: "gpu",
        includes: &[Level::L1, Level::L2],
        location: "suites/l3",
    },
    LevelInfo {
        level: Level::L4,
        id: "L4",
        scope: "full function (L3 and what it includes) + performance + doc tests",
        budget: Some(Duration::from_secs(180 * MIN)),
        triggers: &["nightly"],
        hardware: "gpu",
        includes: &[Level::L3],
        location: "suites/l4/perf",
    },
    LevelInfo {
        level: Level::L5,
        id: "L5",
        scope: "stability (12 h and more) and reliability (faults injected, recovery judged)",
        budget: None,
        triggers: &["weekly", "release"],
        hardware: "gpu",
        includes: &[],
        location: "suites/l5/stability, suites/l5/reliability",
    },
];

/// The row of `level`.
pub fn info(level: Level) -> &'static LevelInfo {
    LEVELS
        .iter()
        .find(|l| l.level == level)
        .unwrap_or_else(|| unreachable!("every level has a row (checked by a test)"))
}

/// A level by its name (`L3`, or `l3`).
pub fn parse(id: &str) -> Result<Level, String> {
    LEVELS
        .iter()
        .find(|l| l.id.eq_ignore_ascii_case(id))
        .map(|l| l.level)
        .ok_or_else(|| {
            let ids: Vec<&str> = LEVELS.iter().map(|l| l.id).collect();
            format!("unknown level `{id}`, expected one of {}", ids.join(", "))
        })
}

/// The level's position in [`LEVELS`]: the run order.
pub fn rank(level: Level) -> usize {
    LEVELS.iter().position(|l| l.level == level).unwrap_or(0)
}

/// `level` and every level it includes, transitively, cheapest first.
pub fn closure(level: Level) -> Vec<Level> {
    let mut seen = vec![level];
    let mut todo = vec![level];
    while let Some(l) = todo.pop() {
        for &inc in info(l).includes {
            if !seen.contains(&inc) {
                seen.push(inc);
                todo.push(inc);
            }
        }
    }
    seen.sort_by_key(|&l| rank(l));
    seen
}

/// Every trigger some level names, in table order.
pub fn triggers() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    for t in LEVELS.iter().flat_map(|l| l.triggers) {
        if !all.contains(t) {
            all.push(t);
        }
    }
    all
}

/// A trigger by its name: checked against the triggers the table names.
pub fn parse_trigger(name: &str) -> Result<String, String> {
    let all = triggers();
    all.iter()
        .find(|t| t.eq_ignore_ascii_case(name))
        .map(|t| t.to_string())
        .ok_or_else(|| {
            format!(
                "unknown trigger `{name}`, expected one of {}",
                all.join(", ")
            )
        })
}

/// The levels a trigger runs, cheapest first.
pub fn for_trigger(trigger: &str) -> Vec<Level> {
    LEVELS
        .iter()
        .filter(|l| l.triggers.contains(&trigger))
        .map(|l| l.level)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_one_row_named_as_suites_write_it() {
        for l in [Level::L1, Level::L2, Level::L3, Level::L4, Level::L5] {
            let rows: Vec<_> = LEVELS.iter().filter(|r| r.level == l).collect();
            assert_eq!(rows.len(), 1, "{l:?}");
            assert_eq!(serde_json::to_value(l).unwrap(), rows[0].id);
        }
        assert_eq!(LEVELS.len(), 5);
    }

    #[test]
    fn inclusion_and_triggers() {
        assert_eq!(closure(Level::L3), [Level::L1, Level::L2, Level::L3]);
        assert_eq!(
            closure(Level::L4),
            [Level::L1, Level::L2, Level::L3, Level::L4]
        );
        assert_eq!(closure(Level::L5), [Level::L5]);
        assert_eq!(for_trigger("pr"), [Level::L1, Level::L2]);
        assert_eq!(for_trigger("merge"), [Level::L3]);
        assert_eq!(for_trigger("nightly"), [Level::L4]);
        assert_eq!(for_trigger("weekly"), [Level::L5]);
        assert_eq!(parse("l3"), Ok(Level::L3));
        assert!(parse("L9").unwrap_err().contains("L1, L2, L3, L4, L5"));
        assert_eq!(parse_trigger("Nightly"), Ok("nightly".into()));
        assert!(parse_trigger("hourly").unwrap_err().contains("pr, merge"));
    }
}
