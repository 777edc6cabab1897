//! A perf test's result files — `perf.json`, `perf.md`, each point's `result.json` in the
//! shape of `vllm bench serve --save-result` — and its table on the terminal.

use crate::metrics::point::PointMetrics;
use crate::record::files;
use crate::suite::PerfSpec;
use crate::verdict::sweep::{Change, PerfResults};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;

/// Write `perf.json`, `perf.md` and every measured point's `result.json` into `dir`.
pub fn write(dir: &Path, spec: &PerfSpec, results: &PerfResults) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(results).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(files::PERF), json)?;
    std::fs::write(dir.join(files::PERF_MD), markdown(results))?;
    for p in &results.points {
        let Some(m) = &p.metrics else { continue };
        let mut v = m.vllm_fields();
        v.insert(
            "request_rate".into(),
            p.point.qps.map_or(json!("inf"), |q| json!(q)),
        );
        v.insert("burstiness".into(), json!(spec.burstiness));
        v.insert("max_concurrency".into(), json!(p.point.max_concurrency));
        v.insert("num_prompts".into(), json!(spec.num_prompts));
        v.insert(
            "shakedown".into(),
            json!({"point": p.name, "saturated": p.saturated, "metrics": m, "resources": p.resources}),
        );
        let body = serde_json::to_vec_pretty(&Value::Object(v)).map_err(std::io::Error::other)?;
        std::fs::write(
            dir.join(files::POINTS).join(&p.name).join(files::RESULT),
            body,
        )?;
    }
    Ok(())
}

/// The columns of a perf table: header and how each cell reads from a point's metrics.
const COLUMNS: &[(&str, &str)] = &[
    ("req/s", "request_throughput"),
    ("out tok/s", "output_throughput"),
    ("TTFT p50", "ttft_ms.median"),
    ("TTFT p99", "ttft_ms.p99"),
    ("TPOT p50", "tpot_ms.median"),
    ("TPOT p99", "tpot_ms.p99"),
    ("ITL p50", "itl_ms.median"),
    ("ITL p99", "itl_ms.p99"),
    ("E2E p99", "e2el_ms.p99"),
    ("lag p99", "lag_ms.p99"),
    ("failed", "failed"),
];

/// One row per point: its name, then each column's cell.
pub fn rows(results: &PerfResults) -> Vec<Vec<String>> {
    results
        .points
        .iter()
        .map(|p| {
            let mut row = vec![if p.saturated {
                format!("{} (client saturated)", p.name)
            } else {
                p.name.clone()
            }];
            row.extend(
                COLUMNS
                    .iter()
                    .map(|(_, metric)| cell(p.metrics.as_ref(), metric)),
            );
            row.push(
                p.resources
                    .rss_max_mib
                    .map_or("–".into(), |m| format!("{m:.0}")),
            );
            row
        })
        .collect()
}

fn cell(m: Option<&PointMetrics>, metric: &str) -> String {
    match m.and_then(|m| m.get(metric)) {
        None => "–".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// The perf table's column headers.
pub fn header() -> Vec<&'static str> {
    std::iter::once("point")
        .chain(COLUMNS.iter().map(|(h, _)| *h))
        .chain(["RSS MiB"])
        .collect()
}

/// `perf.md`: one Markdown table of the test's points (latencies in ms).
pub fn markdown(results: &PerfResults) -> String {
    let mut s = format!(
        "# {} (seed {})\n\nLatencies in ms.\n\n",
        results.test, results.seed
    );
    let _ = writeln!(s, "| {} |", header().join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header().len()));
    for row in rows(results) {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    s
}

/// The same table for a terminal, columns aligned, indented under the run's summary.
pub fn table(results: &PerfResults) -> String {
    let mut all = vec![header().iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    all.extend(rows(results));
    let widths: Vec<usize> = (0..all[0].len())
        .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &all {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(s, "  {}", cells.join("  ").trim_end());
    }
    s
}

/// `shakedown perf compare`: every compared metric, old, new and change, regressions marked.
pub fn changes(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let mark = if c.regressed { "REGRESSED" } else { "ok" };
        let _ = writeln!(s, "  {:<9} {}", mark, c.describe());
    }
    s
}
