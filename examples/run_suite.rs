//! Drive a run from Rust: load a suite, run it, print the summary, exit with the run's code.
//!
//! ```sh
//! cargo build && SHAKEDOWN_BIN=target/debug/shakedown \
//!     cargo run --example run_suite -- suites/l2/online_serving/mock_smoke.toml
//! ```
//!
//! `SHAKEDOWN_BIN` names the binary that serves `shakedown` in service commands (the mock)
//! and the reaper; without it, `shakedown` is looked up on `PATH`.

use anyhow::Context;
use shakedown::run::{RunOptions, run};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: run_suite SUITE_FILE")?
        .into();
    let suite = shakedown::suite::load(&path, &shakedown::fault::check)?;
    let opts = RunOptions {
        seed: None,
        out: "shakedown-runs".into(),
        run_dir: None,
        progress: true,
        duration: None,
    };
    let report = run(suite, &opts).await?;
    print!("{}", report.summary());
    for v in &report.verdicts {
        // Every verdict is data: evidence is JSON, ids are stable.
        if v.status == shakedown::verdict::Status::Fail {
            println!("{} evidence: {}", v.id, v.evidence);
        }
    }
    std::process::exit(report.status.exit_code());
}
