//! The mock model service (stub; being built).

use clap::Args;

/// Arguments of `shakedown mock-server`.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}

/// Arguments of the engine process.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {}

/// Serve until killed.
pub fn serve(_args: ServerArgs) -> std::io::Result<i32> {
    Ok(0)
}

/// The engine process's main.
pub fn engine_main(_args: EngineArgs) -> std::io::Result<i32> {
    Ok(0)
}
