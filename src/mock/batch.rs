//! `shakedown mock-batch`: the mock's offline twin. Reads prompts (`{"prompt": ...}` JSON
//! lines), generates each answer with the mock's deterministic generator, and writes one
//! `{"prompt","text","tokens","finish_reason"}` line per prompt, in input order, flushed as
//! it goes. Exit 0 when every prompt was answered; 2 when the input cannot be read.

use super::generate::{GenSpec, Generator, KeyHasher, Step};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of `shakedown mock-batch`.
#[derive(Debug, Clone)]
pub struct BatchArgs {
    /// Prompts, one JSON object with a `prompt` string per line.
    pub input: PathBuf,
    /// Where the outputs go, one JSON line per prompt.
    pub output: PathBuf,
    /// Seed of the generated text (mixed with each prompt).
    pub seed: u64,
    /// Tokens generated per prompt.
    pub max_tokens: u32,
    /// Time spent on each prompt, in milliseconds (a batch that takes a while).
    pub delay_ms: u64,
    /// Deliberate misbehaviours.
    pub bugs: Vec<BatchBug>,
}

/// Deliberate misbehaviours of `mock-batch` (`--bug NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchBug {
    /// `drop-output`: the second prompt's output is never written; exit 0 all the same.
    DropOutput,
    /// `crash-mid-batch`: after half the outputs, an error line and exit 1.
    CrashMidBatch,
}

/// The text, token count and finish reason of one prompt.
fn answer(seed: u64, prompt: &str, max_tokens: u32) -> Value {
    let key = KeyHasher::default()
        .u64(seed)
        .bytes(b"batch")
        .bytes(prompt.as_bytes())
        .finish();
    let mut g = Generator::new(GenSpec {
        key,
        max_tokens,
        natural_stop: false,
        stop: Vec::new(),
        space_first: false,
        answer: None,
    });
    let (mut text, mut tokens) = (String::new(), 0u32);
    let finish = loop {
        match g.step() {
            Step::Token(t) => {
                text.push_str(&t);
                tokens += 1;
            }
            Step::Done(f) => break f,
        }
    };
    json!({"prompt": prompt, "text": text, "tokens": tokens, "finish_reason": finish.as_str()})
}

/// The batch's main; returns the process exit code.
pub fn batch_main(args: &BatchArgs) -> std::io::Result<i32> {
    let text = match std::fs::read_to_string(&args.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ERROR failed to read {}: {e}", args.input.display());
            return Ok(2);
        }
    };
    let mut prompts = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let Some(p) = v["prompt"].as_str() else {
            eprintln!(
                "ERROR failed to read {} line {}: expected a JSON object with a `prompt` string",
                args.input.display(),
                i + 1
            );
            return Ok(2);
        };
        prompts.push(p.to_string());
    }
    let mut out = std::fs::File::create(&args.output)?;
    eprintln!("INFO mock-batch: {} prompts", prompts.len());
    for (i, p) in prompts.iter().enumerate() {
        if args.bugs.contains(&BatchBug::CrashMidBatch) && i == prompts.len() / 2 {
            eprintln!("ERROR mock-batch: crash-mid-batch after {i} outputs");
            return Ok(1);
        }
        std::thread::sleep(Duration::from_millis(args.delay_ms));
        if args.bugs.contains(&BatchBug::DropOutput) && i == 1 {
            continue;
        }
        // One write per line, so a reader sees whole lines however the batch ends.
        out.write_all(format!("{}\n", answer(args.seed, p, args.max_tokens)).as_bytes())?;
    }
    eprintln!("INFO mock-batch: done");
    Ok(0)
}
