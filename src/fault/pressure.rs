//! Resource pressure on the host: `memory.pressure` (take memory up to a target) and
//! `cpu.pressure` (busy threads), each held by a hog process for `for`, released on clear.

use super::{Fault, FaultCtx, FaultError, ParamError, params};
use crate::hog::Hog;
use crate::suite::FaultSpec;
use crate::suite::limits::MAX_HOG_THREADS;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a hog may take to get hold of what it was asked for.
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryParams {
    #[serde(default)]
    fraction: Option<f64>,
    #[serde(default)]
    bytes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CpuParams {
    #[serde(default)]
    threads: Option<usize>,
}

fn need_for(spec: &FaultSpec, what: &str) -> Result<(), ParamError> {
    match spec.duration {
        Some(_) => Ok(()),
        None => Err(ParamError {
            key: vec!["for".into()],
            message: format!(
                "missing `for`, expected how long to hold the {what}, such as \"10s\""
            ),
        }),
    }
}

/// A fault that holds a hog process while active.
pub struct Pressure {
    describe: String,
    args: Vec<String>,
    hog: Option<Hog>,
}

impl Pressure {
    /// `memory.pressure`: `fraction` of available memory (default 0.5) or `bytes`.
    pub fn memory(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: MemoryParams = params(spec)?;
        need_for(spec, "memory")?;
        let mut args = vec!["hog".to_string(), "memory".to_string()];
        let describe = match (p.fraction, p.bytes) {
            (Some(_), Some(_)) => {
                return Err(ParamError {
                    key: vec!["bytes".into()],
                    message: "`fraction` and `bytes` exclude each other, expected one of them"
                        .into(),
                });
            }
            (_, Some(b)) => {
                let n = crate::units::parse_bytes(&b).map_err(|message| ParamError {
                    key: vec!["bytes".into()],
                    message,
                })?;
                args.extend(["--bytes".into(), n.to_string()]);
                format!("take {b} of host memory")
            }
            (f, None) => {
                let f = f.unwrap_or(0.5);
                if !(0.0..=1.0).contains(&f) {
                    return Err(ParamError {
                        key: vec!["fraction".into()],
                        message: format!("fraction {f} is out of range, expected 0.0 to 1.0"),
                    });
                }
                args.extend(["--fraction".into(), f.to_string()]);
                format!("take {:.0}% of available host memory", f * 100.0)
            }
        };
        Ok(Box::new(Pressure {
            describe,
            args,
            hog: None,
        }))
    }

    /// `cpu.pressure`: `threads` busy threads (default one per core).
    pub fn cpu(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: CpuParams = params(spec)?;
        need_for(spec, "CPU")?;
        let mut args = vec!["hog".to_string(), "cpu".to_string()];
        let describe = match p.threads {
            Some(0) => {
                return Err(ParamError {
                    key: vec!["threads".into()],
                    message: "threads is 0, expected at least 1".into(),
                });
            }
            Some(n) if n > MAX_HOG_THREADS => {
                return Err(ParamError {
                    key: vec!["threads".into()],
                    message: format!("threads is {n}, expected at most {MAX_HOG_THREADS}"),
                });
            }
            Some(n) => {
                args.extend(["--threads".into(), n.to_string()]);
                format!("keep {n} CPU thread(s) busy")
            }
            None => "keep every CPU core busy".into(),
        };
        Ok(Box::new(Pressure {
            describe,
            args,
            hog: None,
        }))
    }

    /// `gpu.preempt`-style faults build their own argument list and reuse the hold/release.
    pub fn with_args(describe: String, args: Vec<String>) -> Self {
        Pressure {
            describe,
            args,
            hog: None,
        }
    }
}

impl Fault for Pressure {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn inject<'a>(&'a mut self, _ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let hog =
                Hog::start(&self.args, READY_WITHIN)
                    .await
                    .map_err(|e| FaultError::Failed {
                        action: self.describe.clone(),
                        reason: e.to_string(),
                    })?;
            let details = json!({"hog_pid": hog.pid(), "ready": hog.ready});
            self.hog = Some(hog);
            Ok(details)
        })
    }

    fn clear<'a>(&'a mut self, _ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            if let Some(hog) = self.hog.take() {
                let pid = hog.pid();
                hog.release().await;
                return Ok(json!({"released_pid": pid}));
            }
            Ok(Value::Null)
        })
    }
}
