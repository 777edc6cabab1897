use clap::Parser;
use shakedown::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::MockServer(args) => exit_io(shakedown::mock::serve(args)),
        Command::MockEngine(args) => exit_io(shakedown::mock::engine_main(args)),
        Command::Validate { files } => validate(&files),
        _ => 2,
    };
    std::process::exit(code);
}

/// `ok: FILE` on stdout per good file, the located error on stderr per bad one; 2 if any was bad.
fn validate(files: &[std::path::PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        match shakedown::suite::load(f) {
            Ok(_) => println!("ok: {}", f.display()),
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    code
}

fn exit_io(r: std::io::Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        1
    })
}
