//! The `shakedown` binary: parse the command line, call the library, map the outcome to an
//! exit code (0 passed, 1 a verdict failed, 2 usage or suite error, 3 infrastructure, 130 interrupted).

use clap::Parser;
use shakedown::cli::{Cli, Command, RunArgs};
use std::path::Path;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::Validate { files } => validate(&files),
        Command::Report { run_dir } => report(&run_dir),
        Command::MockServer(args) => exit_io(shakedown::mock::serve(args.into())),
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

fn run(args: RunArgs) -> i32 {
    let suite = match shakedown::suite::load(&args.suite, &shakedown::fault::check) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let opts = shakedown::run::RunOptions {
        seed: args.seed,
        out: args.out,
        run_dir: args.run_dir,
        progress: !args.quiet,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return 3;
        }
    };
    match runtime.block_on(shakedown::run::run(suite, &opts)) {
        Ok(report) => {
            print!("{}", report.summary());
            report.status.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn validate(files: &[std::path::PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        match shakedown::suite::load(f, &shakedown::fault::check) {
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

fn exit_io(r: std::io::Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        1
    })
}
