//! The `shakedown` binary: parse the command line, call the library, map the outcome to an
//! exit code (0 passed, 1 a verdict failed, 2 usage or suite error, 3 infrastructure, 130 interrupted).

use clap::Parser;
use shakedown::cli::{
    CertifyArgs, Cli, Command, PerfCommand, PlanArgs, ReplayArgs, RunArgs, ShrinkArgs,
};
use shakedown::plan::{self, Ask};
use shakedown::suite::{Level, Suite};
use std::path::{Path, PathBuf};

// The load generator allocates per request (reqwest, records); glibc's malloc cost ~13 % of
// its CPU under load, mimalloc far less (docs/performance.md, "The load generator's own speed").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    diagnostics(cli.verbose);
    let code = match cli.command {
        Command::Run(args) => match args.level {
            Some(level) => run_level(level, args),
            None => run(args),
        },
        Command::Plan(args) => show_plan(args),
        Command::Validate { files } => validate(&files),
        Command::Report { run_dir } => report(&run_dir),
        Command::Replay(args) => replay(args),
        Command::Certify(args) => certify(args),
        Command::Shrink(args) => shrink(args),
        Command::Perf {
            command:
                PerfCommand::Compare {
                    old,
                    new,
                    regress_pct,
                },
        } => perf_compare(&old, &new, regress_pct),
        Command::MockServer(args) => exit_io(shakedown::mock::serve(args.into())),
        Command::MockBatch(args) => exit_io(shakedown::mock::batch_main(&args.into())),
        Command::Proxy { listen, seed } => exit_io(shakedown::proxy::serve(&listen, seed)),
        Command::MockEngine(args) => exit_io(shakedown::mock::engine_main(args.into())),
        Command::MockEscapee => shakedown::mock::escapee_main(),
        Command::GpuHog(args) => shakedown::hog::gpu_main(&args.into()),
        Command::Hog { kind } => shakedown::hog::main(&kind.into()),
        Command::Doctor => shakedown::doctor::main(),
        Command::Reaper => shakedown::service::reaper::main(),
    };
    std::process::exit(code);
}

/// The framework's own diagnostics (`tracing`) on stderr: warnings only, unless `-v` (info),
/// `-vv` (debug), `-vvv` (trace) for shakedown, or `RUST_LOG` says otherwise. No colour where
/// stderr is not a terminal or `NO_COLOR` is set.
fn diagnostics(verbose: u8) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "warn,shakedown=info",
        2 => "warn,shakedown=debug",
        _ => "warn,shakedown=trace",
    };
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| EnvFilter::try_new(&v).map_err(|e| (v, e)));
    let filter = match from_env {
        Some(Ok(f)) => f,
        Some(Err((v, e))) => {
            eprintln!("shakedown: ignoring RUST_LOG={v}: {e}");
            EnvFilter::new(level)
        }
        None => EnvFilter::new(level),
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}

fn run(args: RunArgs) -> i32 {
    let Some(path) = args.suite.as_deref() else {
        eprintln!("error: a suite file is required (or --level)");
        return 2;
    };
    let mut suites = match shakedown::suite::load_all(path, &shakedown::fault::check) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Some(name) = &args.test {
        suites.retain(|s| &s.meta.name == name);
        if suites.is_empty() {
            eprintln!("error: {} has no test named `{name}`", path.display());
            return 2;
        }
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // A configuration file holds several tests: each runs in turn, in a directory of its own.
    let several = suites.len() > 1;
    let mut worst = 0;
    for suite in suites {
        let run_dir = match &args.run_dir {
            Some(d) if several => Some(d.join(&suite.meta.name)),
            d => d.clone(),
        };
        let opts = shakedown::run::RunOptions {
            seed: args.seed,
            out: args.out.clone(),
            run_dir,
            progress: !args.quiet,
            duration: args.duration.map(shakedown::units::Dur),
        };
        let code = match runtime.block_on(shakedown::run::run(suite, &opts)) {
            Ok(report) => {
                print!("{}", report.summary());
                report.status.exit_code()
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        };
        if code == INTERRUPTED {
            return code;
        }
        worst = worst.max(code);
    }
    worst
}

/// The exit code of an interrupted run: nothing after it runs.
const INTERRUPTED: i32 = 130;

/// `run --level`: every suite of the level found under the given directories, here.
fn run_level(level: Level, args: RunArgs) -> i32 {
    let dirs: Vec<PathBuf> = args.suite.into_iter().chain(args.more).collect();
    let suites = match find(&dirs) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = plan::LevelOptions {
        seed: args.seed,
        out: args.out,
        progress: !args.quiet,
        fail_fast: args.fail_fast,
        duration: args.duration.map(shakedown::units::Dur),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let each = |r: &shakedown::report::Report| print!("{}", r.summary());
    match runtime.block_on(plan::run_level(level, suites, &opts, each)) {
        Ok(report) => {
            print!("{}", report.summary());
            report.status.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            3
        }
    }
}

fn show_plan(args: PlanArgs) -> i32 {
    let suites = match find(&args.dirs) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let levels = match (args.level, &args.trigger) {
        (Some(l), _) => vec![l],
        (None, Some(t)) => plan::level::for_trigger(t),
        (None, None) => Vec::new(),
    };
    let ask = Ask {
        levels,
        trigger: args.trigger,
        hardware: args.hardware.unwrap_or_else(plan::this_machine),
    };
    let plan = plan::plan(suites, &ask);
    print!("{}", plan.render(args.format));
    if args.format != plan::Format::Text {
        for w in plan.warnings() {
            eprintln!("{w}");
        }
    }
    0
}

/// Every suite under `dirs` (default `suites`); exit code 2 after naming each bad file.
fn find(dirs: &[PathBuf]) -> Result<Vec<Suite>, i32> {
    let default = [PathBuf::from(plan::DEFAULT_DIR)];
    let dirs = if dirs.is_empty() { &default[..] } else { dirs };
    let (suites, errors) = plan::discover(dirs);
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        Ok(suites)
    } else {
        Err(2)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: failed to start the async runtime: {e}");
        3
    })
}

fn validate(files: &[std::path::PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        match shakedown::suite::load_all(f, &shakedown::fault::check) {
            Ok(_) => println!("ok: {}", f.display()),
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    code
}

fn report(dir: &Path) -> i32 {
    match shakedown::report::judge(dir) {
        Ok(report) => {
            print!("{}", report.summary());
            report.status.exit_code()
        }
        Err(e) => {
            eprintln!("error: failed to judge {}: {e}", dir.display());
            3
        }
    }
}

/// `replay`: run the run directory's resolved suite again and compare the failing ids;
/// exit 0 when they are the same, 1 when not, 2 or 3 when the replay cannot run.
fn replay(args: ReplayArgs) -> i32 {
    let opts: shakedown::replay::ReplayOptions = args.into();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(shakedown::replay::replay(&opts)) {
        Ok(r) => {
            print!("{}", r.report.summary());
            if r.report.status != shakedown::report::RunStatus::Interrupted {
                print!("{}", r.lines(&opts.run_dir));
            }
            r.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `shrink`: exit 0 with a minimal suite written, 1 when the failure does not reproduce,
/// 2 or 3 when the shrink cannot run.
fn shrink(args: ShrinkArgs) -> i32 {
    match shakedown::replay::shrink(&args.into()) {
        Ok(s) => {
            print!("{}", s.lines());
            s.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `certify`: exit 0 on PASS, 1 on FAIL, 2 usage, 3 infrastructure; `--verify`: 0 when every
/// hash holds, 1 when one does not, 2 when the certificate cannot be read.
fn certify(args: CertifyArgs) -> i32 {
    if let Some(cert) = &args.verify {
        return match shakedown::certify::verify(cert, &args.root) {
            Ok(bad) if bad.is_empty() => {
                println!(
                    "shakedown certify --verify: every hash of {} holds",
                    cert.display()
                );
                0
            }
            Ok(bad) => {
                for line in &bad {
                    println!("{line}");
                }
                println!("shakedown certify --verify: {} file(s) differ", bad.len());
                1
            }
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        };
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let opts = shakedown::certify::CertifyOptions::from(args);
    match runtime.block_on(shakedown::certify::certify(&opts)) {
        Ok((cert, out)) => {
            print!("{}", cert.summary(&out));
            match cert.overall {
                shakedown::certify::Overall::Pass => 0,
                shakedown::certify::Overall::Fail => 1,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `perf compare`: exit 0 when nothing regressed, 1 when something did, 2 when a result
/// cannot be read.
fn perf_compare(old: &Path, new: &Path, regress_pct: f64) -> i32 {
    use shakedown::verdict::sweep::{PerfResults, compare};
    let (a, b) = match (PerfResults::load(old), PerfResults::load(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let changes = compare(&a, &b, regress_pct);
    let regressed = changes.iter().filter(|c| c.regressed).count();
    println!(
        "shakedown perf compare: {} (seed {}) → {} (seed {}), {} metric(s) compared",
        a.test,
        a.seed,
        b.test,
        b.seed,
        changes.len()
    );
    print!("{}", shakedown::report::perf::changes(&changes));
    if changes.is_empty() {
        println!("  no point in common");
    }
    if regressed > 0 {
        println!("  FAIL  perf.regression: {regressed} metric(s) more than {regress_pct} % worse");
        1
    } else {
        println!("  PASS  no metric more than {regress_pct} % worse");
        0
    }
}

fn exit_io(r: std::io::Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        1
    })
}
