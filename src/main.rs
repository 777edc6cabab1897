use clap::Parser;
use shakedown::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::MockServer(args) => exit_io(shakedown::mock::serve(args)),
        Command::MockEngine(args) => exit_io(shakedown::mock::engine_main(args)),
        _ => 2,
    };
    std::process::exit(code);
}

fn exit_io(r: std::io::Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        1
    })
}
