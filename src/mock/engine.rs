//! The engine: timed generation, the protocol the server speaks to it, and the engine
//! process's main.
//!
//! Protocol: newline-delimited JSON over the engine process's stdin (requests, tagged
//! `op`: `generate`, `cancel`, `ping`) and stdout (events, tagged `ev`: `ready`, `token`,
//! `done`, `pong`), sequences multiplexed by a server-chosen `id`. The inline engine runs
//! the same loop over in-process channels.

use super::args::EngineArgs;
use super::generate::{Finish, GenSpec, Generator, Step};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::{Instant, sleep_until};

/// A message from the server to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToEngine {
    /// Start generating sequence `id`.
    Generate {
        /// Sequence id, unique for the server's lifetime.
        id: u64,
        /// What to generate.
        #[serde(flatten)]
        spec: GenSpec,
    },
    /// Stop sequence `id` (its client went away or gave up); unknown ids are ignored.
    Cancel {
        /// Sequence id.
        id: u64,
    },
    /// Heartbeat; answered at once with `pong`.
    Ping {
        /// Echoed back.
        seq: u64,
    },
}

/// An event from the engine to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum FromEngine {
    /// The engine is up (first line it writes).
    Ready {
        /// Its process id.
        pid: u32,
    },
    /// One token of sequence `id`.
    Token {
        /// Sequence id.
        id: u64,
        /// The token's text.
        text: String,
    },
    /// Sequence `id` is over.
    Done {
        /// Sequence id.
        id: u64,
        /// Why it ended.
        finish: Finish,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's `seq`.
        seq: u64,
    },
}

/// How fast the engine generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time to first token.
    pub ttft: Duration,
    /// Time between tokens.
    pub itl: Duration,
}

/// Run the engine loop until its input closes: one task per sequence, pings answered in turn.
pub async fn run(
    timing: Timing,
    mut rx: UnboundedReceiver<ToEngine>,
    tx: UnboundedSender<FromEngine>,
) {
    let mut seqs: HashMap<u64, tokio::task::AbortHandle> = HashMap::new();
    // Finished sequences report here so the map only holds live ones.
    let (done_tx, mut done_rx) = unbounded_channel::<u64>();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(ToEngine::Generate { id, spec }) => {
                    let task = tokio::spawn(sequence(id, spec, timing, tx.clone(), done_tx.clone()));
                    if let Some(old) = seqs.insert(id, task.abort_handle()) {
                        old.abort();
                    }
                }
                Some(ToEngine::Cancel { id }) => {
                    if let Some(task) = seqs.remove(&id) {
                        task.abort();
                    }
                }
                Some(ToEngine::Ping { seq }) => {
                    let _ = tx.send(FromEngine::Pong { seq });
                }
            },
            Some(id) = done_rx.recv() => {
                seqs.remove(&id);
            }
        }
    }
    for task in seqs.values() {
        task.abort();
    }
}

/// One sequence: the first token after `ttft`, then one every `itl`, scheduled against the
/// start so that slow wake-ups do not accumulate drift.
async fn sequence(
    id: u64,
    spec: GenSpec,
    timing: Timing,
    tx: UnboundedSender<FromEngine>,
    done: UnboundedSender<u64>,
) {
    let mut g = Generator::new(spec);
    let mut due = Instant::now() + timing.ttft;
    let mut first = true;
    loop {
        let step = g.step();
        if first || matches!(step, Step::Token(_)) {
            sleep_until(due).await;
        }
        first = false;
        match step {
            Step::Token(text) => {
                if tx.send(FromEngine::Token { id, text }).is_err() {
                    break;
                }
                due += timing.itl;
            }
            Step::Done(finish) => {
                let _ = tx.send(FromEngine::Done { id, finish });
                break;
            }
        }
    }
    let _ = done.send(id);
}

/// The name `ps`/`top` show for the engine (15 bytes is the kernel's limit).
const ENGINE_COMM: &std::ffi::CStr = c"shakedown-engin";

/// The engine process's main: serve the protocol on stdin/stdout until stdin closes.
pub fn engine_main(args: EngineArgs) -> io::Result<i32> {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which this is.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            ENGINE_COMM.as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    if args.orphan {
        become_orphan();
    } else {
        leave_shutdown_to_the_server();
    }
    let timing = Timing {
        ttft: Duration::from_millis(args.ttft_ms),
        itl: Duration::from_millis(args.itl_ms),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let (in_tx, in_rx) = unbounded_channel::<ToEngine>();
    let (out_tx, mut out_rx) = unbounded_channel::<FromEngine>();

    // Plain threads for the pipes: blocking I/O, and nothing for the runtime to wait on at exit.
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ToEngine>(&line) {
                Ok(msg) => {
                    if in_tx.send(msg).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("WARN shakedown.engine: ignoring a bad protocol line: {e}"),
            }
        }
        // Dropping `in_tx` here (stdin closed) ends the engine loop.
    });
    let writer = std::thread::spawn(move || {
        let mut out = io::BufWriter::new(io::stdout().lock());
        while let Some(ev) = out_rx.blocking_recv() {
            let written = serde_json::to_writer(&mut out, &ev).is_ok()
                && out.write_all(b"\n").is_ok()
                // Flush once the queue is drained: batches bursts, never holds a lone event.
                && (!out_rx.is_empty() || out.flush().is_ok());
            if !written {
                // The server is gone; stdin will close too, which ends the loop.
                return;
            }
        }
        let _ = out.flush();
    });

    let _ = out_tx.send(FromEngine::Ready {
        pid: std::process::id(),
    });
    rt.block_on(run(timing, in_rx, out_tx));
    let _ = writer.join();
    if args.orphan {
        // The bug: outlive the server that started it, holding on to nothing in particular.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    Ok(0)
}

/// The `orphan-engine` bug: leave the server's process group and session, and shrug off
/// the signals a polite teardown sends.
/// The server owns the engine's lifetime: a signal to the whole process group (teardown,
/// Ctrl-C in a terminal) must reach the server alone, which then stops the engine by closing
/// its stdin. Were the engine to die of it first, the server would report an engine death
/// that never happened. SIGKILL (a fault, or the parent-death signal) still ends it at once.
fn leave_shutdown_to_the_server() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: installing SIG_IGN runs no handler code, so nothing async-signal-unsafe.
        if let Err(e) = unsafe { signal(sig, SigHandler::SigIgn) } {
            eprintln!("WARN shakedown.engine: cannot ignore {sig}: {e}");
        }
    }
}

fn become_orphan() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    if let Err(e) = nix::unistd::setsid() {
        eprintln!("WARN shakedown.engine: setsid failed: {e}");
    }
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        // SAFETY: installing SIG_IGN runs no handler code, so nothing async-signal-unsafe.
        if let Err(e) = unsafe { signal(sig, SigHandler::SigIgn) } {
            eprintln!("WARN shakedown.engine: cannot ignore {sig}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines_round_trip() {
        let spec = GenSpec {
            key: 7,
            max_tokens: 3,
            natural_stop: false,
            stop: vec![],
            space_first: true,
            answer: None,
        };
        let msg = ToEngine::Generate { id: 1, spec };
        let line = serde_json::to_string(&msg).expect("serialises");
        assert_eq!(
            line,
            r#"{"op":"generate","id":1,"key":7,"max_tokens":3,"natural_stop":false,"space_first":true}"#
        );
        assert_eq!(
            serde_json::from_str::<ToEngine>(&line).expect("parses"),
            msg
        );
        let ev: FromEngine =
            serde_json::from_str(r#"{"ev":"done","id":1,"finish":"length"}"#).expect("parses");
        assert_eq!(
            ev,
            FromEngine::Done {
                id: 1,
                finish: Finish::Length
            }
        );
    }

    #[tokio::test]
    async fn engine_loop_times_tokens_and_cancels() {
        let timing = Timing {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
        };
        let (to_tx, to_rx) = unbounded_channel();
        let (from_tx, mut from_rx) = unbounded_channel();
        let engine = tokio::spawn(run(timing, to_rx, from_tx));
        let spec = GenSpec {
            key: 1,
            max_tokens: 3,
            natural_stop: false,
            stop: vec![],
            space_first: false,
            answer: None,
        };
        let start = Instant::now();
        to_tx
            .send(ToEngine::Generate {
                id: 9,
                spec: spec.clone(),
            })
            .expect("engine alive");
        to_tx.send(ToEngine::Ping { seq: 4 }).expect("engine alive");
        assert_eq!(from_rx.recv().await, Some(FromEngine::Pong { seq: 4 }));
        let mut tokens = 0;
        loop {
            match from_rx.recv().await.expect("event") {
                FromEngine::Token { id: 9, .. } => tokens += 1,
                FromEngine::Done { id: 9, finish } => {
                    assert_eq!(finish, Finish::Length);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(tokens, 3);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(70) && took < Duration::from_secs(2),
            "{took:?}"
        );
        // A cancelled sequence sends nothing more.
        to_tx
            .send(ToEngine::Generate { id: 10, spec })
            .expect("engine alive");
        to_tx
            .send(ToEngine::Cancel { id: 10 })
            .expect("engine alive");
        to_tx.send(ToEngine::Ping { seq: 5 }).expect("engine alive");
        assert_eq!(from_rx.recv().await, Some(FromEngine::Pong { seq: 5 }));
        // Nothing more within well past its time to first token.
        let quiet = tokio::time::timeout(Duration::from_millis(200), from_rx.recv()).await;
        assert!(quiet.is_err(), "{quiet:?}");
        drop(to_tx);
        engine
            .await
            .expect("engine loop ends when its input closes");
    }
}
