//! Process faults: `process.kill` (a signal) and `process.pause` (SIGSTOP, later SIGCONT),
//! aimed at the service's main process, its whole tree, or the processes of its tree whose
//! title/command line contains a substring (`shakedown::engine`, `VLLM::EngineCore`).

use super::{Fault, FaultCtx, FaultError, ParamError, params};
use crate::service::proctree::{Proc, ProcId};
use crate::suite::FaultSpec;
use futures_util::future::BoxFuture;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::{Value, json};

/// Which processes of a service a process fault hits.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// The process the supervisor started.
    Main,
    /// Every process of the tree.
    Tree,
    /// Every process of the tree whose command line contains this.
    Matching(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillParams {
    #[serde(default)]
    target: Option<String>,
    #[serde(default, rename = "match")]
    matching: Option<String>,
    #[serde(default)]
    signal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseParams {
    #[serde(default)]
    target: Option<String>,
    #[serde(default, rename = "match")]
    matching: Option<String>,
}

fn target(target: Option<String>, matching: Option<String>) -> Result<Target, ParamError> {
    let err = |key: &str, message: String| ParamError {
        key: vec![key.into()],
        message,
    };
    match (target.as_deref(), matching) {
        (_, Some(m)) if m.is_empty() => Err(err(
            "match",
            "expected a non-empty substring of a command line".into(),
        )),
        (None | Some("match"), Some(m)) => Ok(Target::Matching(m)),
        (Some(t), Some(_)) => Err(err(
            "target",
            format!(
                "`target = \"{t}\"` and `match` exclude each other: `match` already picks the processes"
            ),
        )),
        (None | Some("main"), None) => Ok(Target::Main),
        (Some("tree"), None) => Ok(Target::Tree),
        (Some(other), None) => Err(err(
            "target",
            format!(
                "unknown target `{other}`, expected `main`, `tree`, or a `match = \"substring\"` key"
            ),
        )),
    }
}

fn parse_signal(s: &str) -> Result<Signal, ParamError> {
    crate::suite::signal(s).ok_or_else(|| ParamError {
        key: vec!["signal".into()],
        message: format!(
            "unknown signal `{s}`, expected a name such as \"SIGKILL\", \"TERM\" or a number"
        ),
    })
}

/// The processes `target` names in `service`'s tree right now.
fn resolve(ctx: &FaultCtx, target: &Target) -> Result<Vec<Proc>, FaultError> {
    let tree = ctx.service.tree();
    let main = ctx.service.main_pid();
    let hit: Vec<Proc> = match target {
        Target::Main => tree
            .iter()
            .filter(|p| Some(p.pid) == main)
            .cloned()
            .collect(),
        Target::Tree => tree.clone(),
        Target::Matching(m) => tree.iter().filter(|p| p.matches(m)).cloned().collect(),
    };
    if hit.is_empty() {
        let what = match target {
            Target::Main => "its main process (it is not running)".to_string(),
            Target::Tree => "anything (no process is running)".to_string(),
            Target::Matching(m) => format!("`{m}`"),
        };
        let listing = tree
            .iter()
            .map(|p| format!("{} `{}`", p.pid, p.cmdline))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(FaultError::NoTarget {
            service: ctx.service.spec.name.clone(),
            what,
            tree: if listing.is_empty() {
                "empty".into()
            } else {
                listing
            },
        });
    }
    Ok(hit)
}

fn signal_all(procs: &[Proc], sig: Signal) -> Result<Value, FaultError> {
    let mut hit = Vec::new();
    for p in procs {
        match kill(Pid::from_raw(p.pid), sig) {
            Ok(()) => hit.push(json!({"pid": p.pid, "cmdline": p.cmdline})),
            // Gone between the look and the shot: it is dead, which is what a kill wanted.
            Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => {
                return Err(FaultError::Failed {
                    action: format!("send {sig} to pid {}", p.pid),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(json!({"signal": sig.as_str(), "processes": hit}))
}

/// `process.kill`: send a signal (default SIGKILL) once.
#[derive(Debug)]
pub struct Kill {
    target: Target,
    signal: Signal,
}

impl Kill {
    pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: KillParams = params(spec)?;
        let signal = match &p.signal {
            Some(s) => parse_signal(s)?,
            None => Signal::SIGKILL,
        };
        Ok(Box::new(Kill {
            target: target(p.target, p.matching)?,
            signal,
        }))
    }
}

impl Fault for Kill {
    fn describe(&self) -> String {
        format!("send {} to {}", self.signal, describe_target(&self.target))
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move { signal_all(&resolve(ctx, &self.target)?, self.signal) })
    }

    fn clear<'a>(&'a mut self, _ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async { Ok(Value::Null) })
    }
}

/// `process.pause`: SIGSTOP for `for`, then SIGCONT to exactly the processes stopped.
#[derive(Debug)]
pub struct Pause {
    target: Target,
    stopped: Vec<(ProcId, String)>,
}

impl Pause {
    pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: PauseParams = params(spec)?;
        if spec.duration.is_none() {
            return Err(ParamError {
                key: vec!["for".into()],
                message: "missing `for`, expected how long to freeze, such as \"3s\"".into(),
            });
        }
        Ok(Box::new(Pause {
            target: target(p.target, p.matching)?,
            stopped: Vec::new(),
        }))
    }
}

impl Fault for Pause {
    fn describe(&self) -> String {
        format!(
            "freeze {} (SIGSTOP, then SIGCONT)",
            describe_target(&self.target)
        )
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let procs = resolve(ctx, &self.target)?;
            let details = signal_all(&procs, Signal::SIGSTOP)?;
            self.stopped = procs.iter().map(|p| (p.id(), p.cmdline.clone())).collect();
            Ok(details)
        })
    }

    fn clear<'a>(&'a mut self, _ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let mut resumed = Vec::new();
            for (id, cmdline) in self.stopped.drain(..) {
                // Never signal a stranger that inherited the pid.
                if crate::service::proctree::alive(id)
                    && kill(Pid::from_raw(id.pid), Signal::SIGCONT).is_ok()
                {
                    resumed.push(json!({"pid": id.pid, "cmdline": cmdline}));
                }
            }
            Ok(json!({"signal": "SIGCONT", "processes": resumed}))
        })
    }
}

fn describe_target(t: &Target) -> String {
    match t {
        Target::Main => "the main process".into(),
        Target::Tree => "every process of the tree".into(),
        Target::Matching(m) => format!("processes matching `{m}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_signals() {
        assert_eq!(target(None, None), Ok(Target::Main));
        assert_eq!(target(Some("tree".into()), None), Ok(Target::Tree));
        assert_eq!(
            target(None, Some("x".into())),
            Ok(Target::Matching("x".into()))
        );
        assert_eq!(
            target(Some("bogus".into()), None).unwrap_err().key,
            vec!["target"]
        );
        assert_eq!(
            target(Some("tree".into()), Some("x".into()))
                .unwrap_err()
                .key,
            vec!["target"]
        );
        assert_eq!(parse_signal("SIGKILL"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Ok(Signal::SIGKILL));
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
