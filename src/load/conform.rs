//! Whether an answer that succeeded has the shape the OpenAI API promises: the `object` of
//! each body or chunk, a `finish_reason` for every choice, `usage` totals that add up and
//! cover the streamed tokens. Judged by `api_conformant` (`api.schema`); the outcome stays ok.

use crate::suite::Api;
use serde_json::Value;
use std::collections::BTreeSet;

/// `object` of a whole answer.
fn full_object(api: Api) -> &'static str {
    match api {
        Api::Chat => "chat.completion",
        Api::Completions => "text_completion",
    }
}

/// `object` of a stream chunk.
fn chunk_object(api: Api) -> &'static str {
    match api {
        Api::Chat => "chat.completion.chunk",
        Api::Completions => "text_completion",
    }
}

/// What is wrong with a whole (non-streamed) answer, if anything.
pub fn full(v: &Value, api: Api) -> Option<String> {
    if let Some(o) = wrong_object(v, full_object(api)) {
        return Some(format!("object is {o}, expected \"{}\"", full_object(api)));
    }
    let choices = v["choices"].as_array().filter(|c| !c.is_empty());
    let Some(choices) = choices else {
        return Some("no choices".into());
    };
    if let Some(i) = choices.iter().position(|c| !c["finish_reason"].is_string()) {
        return Some(format!("choices[{i}] has no finish_reason"));
    }
    match usage(&v["usage"]) {
        Ok(None) => Some("no usage".into()),
        Ok(Some(_)) => None,
        Err(e) => Some(e),
    }
}

/// `v["object"]` as JSON when it is not `want`.
fn wrong_object(v: &Value, want: &str) -> Option<String> {
    (v["object"].as_str() != Some(want)).then(|| v["object"].to_string())
}

/// `usage` read and checked: `(prompt, completion)` when present and adding up.
fn usage(u: &Value) -> Result<Option<(u64, u64)>, String> {
    if u.is_null() {
        return Ok(None);
    }
    let field = |k: &str| {
        u[k].as_u64()
            .ok_or_else(|| format!("usage.{k} is not a count: {}", u[k]))
    };
    let (prompt, completion, total) = (
        field("prompt_tokens")?,
        field("completion_tokens")?,
        field("total_tokens")?,
    );
    if prompt + completion != total {
        return Err(format!(
            "usage.total_tokens is {total}, not prompt_tokens {prompt} + completion_tokens {completion}"
        ));
    }
    Ok(Some((prompt, completion)))
}

/// A stream's chunks, checked as they come.
#[derive(Debug, Default)]
pub struct Stream {
    /// The first problem seen.
    problem: Option<String>,
    /// Chunks seen.
    chunks: u64,
    /// Chunks carrying text.
    content_chunks: u64,
    /// Choice indexes seen, and those that finished.
    choices: BTreeSet<u64>,
    finished: BTreeSet<u64>,
    /// `(prompt, completion)` of the usage chunk.
    usage: Option<(u64, u64)>,
}

impl Stream {
    /// One chunk (an error event is not a chunk).
    pub fn chunk(&mut self, v: &Value, api: Api) {
        self.chunks += 1;
        if self.problem.is_some() {
            return;
        }
        let n = self.chunks;
        let want = chunk_object(api);
        if let Some(o) = wrong_object(v, want) {
            self.problem = Some(format!("chunk {n} has object {o}, expected \"{want}\""));
            return;
        }
        let Some(choices) = v["choices"].as_array() else {
            self.problem = Some(format!("chunk {n} has no choices array"));
            return;
        };
        for c in choices {
            let index = c["index"].as_u64().unwrap_or(0);
            self.choices.insert(index);
            let text = match api {
                Api::Chat => c["delta"]["content"].as_str(),
                Api::Completions => c["text"].as_str(),
            };
            if text.is_some_and(|t| !t.is_empty()) {
                self.content_chunks += 1;
            }
            if c["finish_reason"].is_string() {
                self.finished.insert(index);
            }
        }
        match usage(&v["usage"]) {
            Ok(None) => {}
            Ok(Some(u)) => self.usage = Some(u),
            Err(e) => self.problem = Some(format!("chunk {n}: {e}")),
        }
    }

    /// What was wrong with the stream, once it ended with `[DONE]`; `usage_asked`: the
    /// request asked for a usage chunk (`stream_options.include_usage`).
    pub fn finish(self, usage_asked: bool) -> Option<String> {
        if self.problem.is_some() {
            return self.problem;
        }
        if let Some(i) = self.choices.difference(&self.finished).next() {
            return Some(format!("choice {i} ended without a finish_reason"));
        }
        match self.usage {
            None if usage_asked => Some("no usage chunk, though include_usage was asked".into()),
            Some((_, completion)) if completion < self.content_chunks => Some(format!(
                "usage.completion_tokens is {completion}, fewer than the {} chunks with text",
                self.content_chunks
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat_chunk(content: Option<&str>, finish: Option<&str>) -> Value {
        json!({"object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]})
    }

    fn usage_chunk(p: u64, c: u64, t: u64) -> Value {
        json!({"object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": t}})
    }

    fn stream(chunks: &[Value]) -> Option<String> {
        let mut s = Stream::default();
        for c in chunks {
            s.chunk(c, Api::Chat);
        }
        s.finish(true)
    }

    #[test]
    fn a_conformant_stream_passes() {
        let ok = [
            chat_chunk(Some("a"), None),
            chat_chunk(Some("b"), None),
            chat_chunk(None, Some("length")),
            usage_chunk(3, 2, 5),
        ];
        assert_eq!(stream(&ok), None);
    }

    #[test]
    fn each_stream_fault_is_named() {
        let no_finish = [chat_chunk(Some("a"), None), usage_chunk(3, 1, 4)];
        assert_eq!(
            stream(&no_finish).as_deref(),
            Some("choice 0 ended without a finish_reason")
        );
        let bad_total = [chat_chunk(Some("a"), Some("stop")), usage_chunk(3, 1, 5)];
        assert!(stream(&bad_total).is_some_and(|e| e.contains("total_tokens is 5")));
        let short = [
            chat_chunk(Some("a"), None),
            chat_chunk(Some("b"), Some("stop")),
            usage_chunk(3, 1, 4),
        ];
        assert!(stream(&short).is_some_and(|e| e.contains("fewer than the 2 chunks")));
        let no_usage = [chat_chunk(Some("a"), Some("stop"))];
        assert!(stream(&no_usage).is_some_and(|e| e.contains("no usage chunk")));
        let wrong_object = [json!({"object": "chat.completion", "choices": []})];
        assert!(stream(&wrong_object).is_some_and(|e| e.contains("chunk 1 has object")));
    }

    #[test]
    fn a_whole_answer_is_checked_too() {
        let good = json!({"object": "text_completion",
            "choices": [{"index": 0, "text": "x", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        assert_eq!(full(&good, Api::Completions), None);
        assert!(full(&good, Api::Chat).is_some_and(|e| e.contains("object")));
        let mut bad = good.clone();
        bad["choices"][0]["finish_reason"] = Value::Null;
        assert_eq!(
            full(&bad, Api::Completions).as_deref(),
            Some("choices[0] has no finish_reason")
        );
        let mut bad = good;
        bad["usage"]["total_tokens"] = json!(3);
        assert!(full(&bad, Api::Completions).is_some_and(|e| e.contains("total_tokens is 3")));
    }
}
