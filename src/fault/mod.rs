//! Faults (stub; being built).

use serde_json::{Map, Value};

/// A kind-specific key that is wrong: where (key path inside the fault entry) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// Path of the offending key inside the `[[fault]]` entry (`[]` means the `kind` key itself).
    pub key: Vec<String>,
    /// What was expected.
    pub message: String,
}

/// Check a fault entry's kind and kind-specific keys without building it.
pub fn check(kind: &str, params: &Map<String, Value>) -> Result<(), ParamError> {
    let _ = params;
    match kind {
        "process.kill" | "process.pause" => Ok(()),
        other => Err(ParamError {
            key: vec![],
            message: format!("unknown fault kind `{other}`, expected one of `process.kill`, `process.pause`"),
        }),
    }
}
