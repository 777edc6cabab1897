//! OpenAI response bodies and server-sent-event chunks, shaped like vLLM's.

use super::api::{ApiError, Endpoint};
use super::generate::Finish;
use bytes::Bytes;
use serde_json::{Value, json};

/// The stream's terminator.
pub const DONE: &str = "data: [DONE]\n\n";

/// What every object of one response shares.
#[derive(Debug, Clone)]
pub struct RespCtx {
    /// `chatcmpl-…` or `cmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The served model.
    pub model: String,
    /// Chat or completions.
    pub endpoint: Endpoint,
    /// Bug `bad-usage`: `usage.total_tokens` one more than the sum of its parts.
    pub bad_usage: bool,
    /// Bug `no-finish-reason`: every `finish_reason` is null.
    pub no_finish_reason: bool,
}

/// One finished choice of a non-streaming response.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Its index.
    pub index: u32,
    /// All its text.
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
}

/// Token counts.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt: u64,
    /// Generated tokens.
    pub completion: u64,
}

impl Usage {
    /// As vLLM writes it (the details null, as it leaves them without prefix caching or
    /// reasoning); `skew` is added to the total (bug `bad-usage`).
    fn json(self, skew: u64) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion + skew,
            "prompt_tokens_details": null,
            "completion_tokens_details": null,
        })
    }
}

/// One SSE event carrying `v`.
pub fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// An SSE event carrying an error object.
pub fn sse_error(e: &ApiError) -> Bytes {
    sse(&e.body())
}

impl RespCtx {
    /// `usage` of this response.
    fn usage(&self, usage: Usage) -> Value {
        usage.json(u64::from(self.bad_usage))
    }

    /// `finish_reason` of a finished choice.
    fn finish(&self, finish: Finish) -> Value {
        if self.no_finish_reason {
            Value::Null
        } else {
            Value::from(finish.as_str())
        }
    }

    /// The whole non-streaming response.
    pub fn full(&self, choices: &[Choice], usage: Usage) -> Value {
        let (object, choices): (&str, Vec<Value>) = match self.endpoint {
            Endpoint::Chat => (
                "chat.completion",
                choices
                    .iter()
                    .map(|c| {
                        json!({
                            "index": c.index,
                            "message": {"role": "assistant", "content": c.text, "tool_calls": []},
                            "logprobs": null,
                            "finish_reason": self.finish(c.finish),
                            "stop_reason": null,
                        })
                    })
                    .collect(),
            ),
            Endpoint::Completions => (
                "text_completion",
                choices
                    .iter()
                    .map(|c| {
                        json!({
                            "index": c.index,
                            "text": c.text,
                            "logprobs": null,
                            "finish_reason": self.finish(c.finish),
                            "stop_reason": null,
                        })
                    })
                    .collect(),
            ),
        };
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage(usage),
        })
    }

    fn chunk(&self, choices: Value) -> Bytes {
        sse(&self.chunk_value(choices))
    }

    fn chunk_value(&self, choices: Value) -> Value {
        let object = match self.endpoint {
            Endpoint::Chat => "chat.completion.chunk",
            Endpoint::Completions => "text_completion",
        };
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// The chat stream's first chunk of a choice: the assistant role, no text yet.
    pub fn role_chunk(&self, index: u32) -> Bytes {
        self.chunk(json!([{
            "index": index,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null,
        }]))
    }

    /// One token of a choice.
    pub fn token_chunk(&self, index: u32, text: &str) -> Bytes {
        self.chunk(json!([match self.endpoint {
            Endpoint::Chat => json!({
                "index": index,
                "delta": {"content": text},
                "logprobs": null,
                "finish_reason": null,
            }),
            Endpoint::Completions => json!({
                "index": index,
                "text": text,
                "logprobs": null,
                "finish_reason": null,
                "stop_reason": null,
            }),
        }]))
    }

    /// The last chunk of a choice, carrying its finish reason.
    pub fn finish_chunk(&self, index: u32, finish: Finish) -> Bytes {
        self.chunk(json!([match self.endpoint {
            Endpoint::Chat => json!({
                "index": index,
                "delta": {},
                "logprobs": null,
                "finish_reason": self.finish(finish),
                "stop_reason": null,
            }),
            Endpoint::Completions => json!({
                "index": index,
                "text": "",
                "logprobs": null,
                "finish_reason": self.finish(finish),
                "stop_reason": null,
            }),
        }]))
    }

    /// The usage chunk (`stream_options.include_usage`): no choices.
    pub fn usage_chunk(&self, usage: Usage) -> Bytes {
        let mut v = self.chunk_value(json!([]));
        v["usage"] = self.usage(usage);
        sse(&v)
    }
}
