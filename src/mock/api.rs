//! The OpenAI request types, their validation (vLLM's rules), and OpenAI-shaped errors.
//!
//! Bodies are parsed by hand from `serde_json::Value` so that every rejection, down to a
//! wrong type in one field, comes back as an OpenAI error object rather than a framework's
//! plain-text message.

use super::generate::{GenSpec, KeyHasher};
use super::media::{self, MediaError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Upper bound of `n`, as in vLLM.
const MAX_N: i64 = 128;
/// Upper bound of (completions) `logprobs` and (chat) `top_logprobs`, vLLM's default.
const MAX_LOGPROBS: i64 = 20;
/// Upper bound of sequences one request may ask for (prompts × n), so a batch cannot
/// make the mock allocate without limit.
const MAX_SEQS: usize = 1024;
/// Token ids (in prompts and `logit_bias`) must be below this, as a tokenizer's vocabulary.
pub const VOCAB_SIZE: u64 = 32_000;
/// `logit_bias` values beyond ± this are clamped to it, as vLLM's `SamplingParams` does.
const MAX_BIAS: f64 = 100.0;
/// vLLM's answer to a completions request whose `prompt` is `""`.
const EMPTY_PROMPT: &str = "Either prompt or prompt_embeds must be provided and non-empty.";

/// An error answered as `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    /// HTTP status (also the body's `code`).
    pub status: StatusCode,
    /// The OpenAI error `type`, e.g. `BadRequestError`.
    pub kind: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The offending request field, if one.
    pub param: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
        }
    }

    /// 400 about `param`.
    pub fn bad_param(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.to_string()),
            ..Self::bad_request(message)
        }
    }

    /// 400 not tied to one field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestError", message)
    }

    /// 404 for a model this server does not serve (vLLM's wording).
    pub fn unknown_model(model: &str) -> Self {
        ApiError {
            param: Some("model".into()),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "NotFoundError",
                format!("The model `{model}` does not exist."),
            )
        }
    }

    /// 404 for an unknown route.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!("Not found: {method} {path}"),
        )
    }

    /// 405 for a known route with the wrong method.
    pub fn wrong_method(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowedError",
            format!("Method {method} not allowed on {path}"),
        )
    }

    /// 413 for a body over the size limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BadRequestError",
            format!("Request body larger than {limit} bytes"),
        )
    }

    /// 500: the engine died under the request (vLLM's EngineDeadError).
    pub fn engine_dead() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "EngineDeadError: engine process died",
        )
    }

    /// 500 for undecodable base64, as vLLM once answered it (bug `500-on-bad-base64`).
    pub fn base64_crash(detail: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("binascii.Error: {detail}"),
        )
    }

    /// 503: the server cannot take requests now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            message,
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.status.as_u16(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Which generation endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions`.
    Completions,
}

impl Endpoint {
    /// The field holding the prompt, for error `param`s.
    fn prompt_field(self) -> &'static str {
        match self {
            Endpoint::Chat => "messages",
            Endpoint::Completions => "prompt",
        }
    }
}

/// One prompt, as the mock sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Canonical text, hashed into the generation key.
    pub text: String,
    /// Its length in tokens: whitespace-separated words (token ids count one each), at least 1.
    pub tokens: u32,
}

/// A validated generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The prompts (chat: one; completions: one per batch entry).
    pub prompts: Vec<Prompt>,
    /// Choices per prompt.
    pub n: u32,
    /// Tokens per choice the client asked for (`None`: the model stops on its own).
    pub max_tokens: Option<u32>,
    /// Server-sent events instead of one JSON body.
    pub stream: bool,
    /// Add a usage chunk at the end of the stream.
    pub include_usage: bool,
    /// `seed` from the body.
    pub seed: Option<i64>,
    /// `temperature` (0 is greedy: all choices equal).
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Whether a prompt is empty (a completions prompt of only whitespace, or a chat whose
    /// every message is empty): bug `crash-on-empty-prompt` kills the engine on it.
    pub empty_prompt: bool,
}

/// What the validation needs to know about the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// The served model's name.
    pub model: &'a str,
    /// Context length in tokens.
    pub max_model_len: u32,
    /// Bug `500-on-bad-base64`: undecodable media base64 is a 500, not a 400.
    pub base64_500: bool,
    /// Bug `crash-on-empty-prompt`: a completions `prompt` of `""` is taken (as the vLLM of
    /// vllm#7283 took it), not refused with a 400 (as vLLM 0.32 refuses it).
    pub empty_prompt_taken: bool,
}

/// One sequence to generate: which choice it fills and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqPlan {
    /// The choice's `index` in the response.
    pub index: u32,
    /// Its prompt's token count (for usage).
    pub prompt_tokens: u32,
    /// The generation spec.
    pub spec: GenSpec,
}

impl GenRequest {
    /// Prompt tokens for `usage`: each prompt counted once, however many choices it has.
    pub fn prompt_tokens(&self) -> u64 {
        self.prompts.iter().map(|p| p.tokens as u64).sum()
    }

    /// The sequences to run, keyed by the server seed, prompt and sampling parameters; a
    /// question the mock knows is answered (off by one with `wrong_answers`).
    pub fn plan(&self, server_seed: u64, max_model_len: u32, wrong_answers: bool) -> Vec<SeqPlan> {
        let mut out = Vec::new();
        for (pi, p) in self.prompts.iter().enumerate() {
            let budget = max_model_len.saturating_sub(p.tokens).max(1);
            for c in 0..self.n {
                let mut h = KeyHasher::default();
                h.u64(server_seed)
                    .bytes(match self.endpoint {
                        Endpoint::Chat => b"chat",
                        Endpoint::Completions => b"completions",
                    })
                    .bytes(p.text.as_bytes());
                match self.seed {
                    Some(s) => h.u64(1).u64(s as u64),
                    None => h.u64(0),
                };
                h.u64(self.temperature.map_or(u64::MAX, f64::to_bits))
                    .u64(self.top_p.map_or(u64::MAX, f64::to_bits))
                    .u64(self.max_tokens.map_or(u64::MAX, u64::from));
                // Greedy sampling gives every choice the same text, as a real model would.
                if self.temperature != Some(0.0) {
                    h.u64(c as u64);
                }
                out.push(SeqPlan {
                    index: pi as u32 * self.n + c,
                    prompt_tokens: p.tokens,
                    spec: GenSpec {
                        key: h.finish(),
                        max_tokens: self.max_tokens.unwrap_or(budget),
                        natural_stop: self.max_tokens.is_none(),
                        stop: self.stop.clone(),
                        space_first: self.endpoint == Endpoint::Completions,
                        answer: super::answers::answer(&p.text, wrong_answers),
                    },
                });
            }
        }
        out
    }
}

/// Whether a `Content-Type` header value means JSON; a missing header is let through.
pub fn content_type_ok(ct: Option<&str>) -> bool {
    match ct {
        None => true,
        Some(v) => {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        }
    }
}

/// Parse and validate a generation request body, in vLLM's order: shape and ranges (400),
/// then the model (404), then the context length (400).
pub fn parse(endpoint: Endpoint, body: &[u8], limits: Limits<'_>) -> Result<GenRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    let o = Fields(&map);

    let model = o.string("model")?;
    let prompts = match endpoint {
        Endpoint::Chat => vec![chat_prompt(o.get("messages"), limits.base64_500)?],
        Endpoint::Completions => {
            if !limits.empty_prompt_taken && o.get("prompt").and_then(Value::as_str) == Some("") {
                return Err(ApiError::bad_param("prompt", EMPTY_PROMPT));
            }
            completion_prompts(o.get("prompt"))?
        }
    };
    let stream = o.bool("stream")?.unwrap_or(false);
    let include_usage = match o.get("stream_options") {
        None => false,
        Some(Value::Object(so)) => {
            if !stream {
                return Err(ApiError::bad_param(
                    "stream_options",
                    "Stream options can only be defined when `stream=True`.",
                ));
            }
            let so = Fields(so);
            so.bool("continuous_usage_stats")
                .map_err(|e| renamed(e, "stream_options"))?;
            so.bool("include_usage")
                .map_err(|e| renamed(e, "stream_options"))?
                .unwrap_or(false)
        }
        Some(_) => {
            return Err(ApiError::bad_param(
                "stream_options",
                "`stream_options` must be an object",
            ));
        }
    };

    let n = o.int_in("n", 1, MAX_N)?.unwrap_or(1) as u32;
    let max_tokens_field = match endpoint {
        Endpoint::Chat if o.get("max_completion_tokens").is_some() => "max_completion_tokens",
        _ => "max_tokens",
    };
    let max_tokens = o
        .int_in(max_tokens_field, 1, limits.max_model_len as i64)?
        .map(|v| v as u32);
    let temperature = o.num_in("temperature", 0.0, 2.0)?;
    let top_p = o.number("top_p")?;
    if let Some(p) = top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(ApiError::bad_param(
            "top_p",
            format!("top_p must be in (0, 1], got {p}."),
        ));
    }
    o.int_in("top_k", -1, i64::MAX)?;
    o.num_in("min_p", 0.0, 1.0)?;
    o.num_in("presence_penalty", -2.0, 2.0)?;
    o.num_in("frequency_penalty", -2.0, 2.0)?;
    if let Some(r) = o.number("repetition_penalty")?
        && r <= 0.0
    {
        return Err(ApiError::bad_param(
            "repetition_penalty",
            format!("repetition_penalty must be greater than zero, got {r}."),
        ));
    }
    let seed = o.int_in("seed", i64::MIN, i64::MAX)?;
    logit_bias(o.get("logit_bias"))?;
    if endpoint == Endpoint::Chat {
        response_format(o.get("response_format"))?;
        tools(o.get("tools"))?;
    }
    let stop = stop_strings(o.get("stop"))?;
    o.string("user")?;
    match endpoint {
        Endpoint::Completions => {
            o.int_in("logprobs", 0, MAX_LOGPROBS)?;
        }
        Endpoint::Chat => {
            let logprobs = o.bool("logprobs")?.unwrap_or(false);
            if o.int_in("top_logprobs", 0, MAX_LOGPROBS)?.is_some() && !logprobs {
                return Err(ApiError::bad_param(
                    "top_logprobs",
                    "when using `top_logprobs`, `logprobs` must be set to true.",
                ));
            }
        }
    }
    if prompts.len().saturating_mul(n as usize) > MAX_SEQS {
        return Err(ApiError::bad_param(
            endpoint.prompt_field(),
            format!("A request may ask for at most {MAX_SEQS} sequences (prompts × n)."),
        ));
    }

    if let Some(m) = model
        && m != limits.model
    {
        return Err(ApiError::unknown_model(m));
    }

    for p in &prompts {
        let asked = max_tokens.unwrap_or(0);
        if p.tokens >= limits.max_model_len
            || p.tokens as u64 + asked as u64 > limits.max_model_len as u64
        {
            let (param, what) = match endpoint {
                Endpoint::Chat => ("messages", "messages"),
                Endpoint::Completions => ("prompt", "prompt"),
            };
            let param = if p.tokens < limits.max_model_len {
                max_tokens_field
            } else {
                param
            };
            return Err(ApiError::bad_param(
                param,
                format!(
                    "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the {what}, {asked} in the completion). Please reduce the length of the {what} or completion.",
                    limits.max_model_len,
                    p.tokens as u64 + asked as u64,
                    p.tokens,
                ),
            ));
        }
    }

    let empty_prompt = is_empty_prompt(endpoint, &o);
    Ok(GenRequest {
        empty_prompt,
        endpoint,
        prompts,
        n,
        max_tokens,
        stream,
        include_usage,
        seed,
        temperature,
        top_p,
        stop,
    })
}

/// Whether the prompt is empty: see [`GenRequest::empty_prompt`].
fn is_empty_prompt(endpoint: Endpoint, o: &Fields<'_>) -> bool {
    let blank = |v: &Value| match v {
        Value::String(s) => s.trim().is_empty(),
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    match (endpoint, o.get("prompt"), o.get("messages")) {
        (Endpoint::Completions, Some(Value::String(s)), _) => s.trim().is_empty(),
        (Endpoint::Completions, Some(Value::Array(a)), _) => a
            .iter()
            .any(|p| p.as_str().is_some_and(|s| s.trim().is_empty())),
        (Endpoint::Chat, _, Some(Value::Array(msgs))) => {
            msgs.iter().all(|m| m.get("content").is_none_or(blank))
        }
        _ => false,
    }
}

/// `logit_bias`: an object mapping token ids (as strings) to biases in [-100, 100].
fn logit_bias(v: Option<&Value>) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_param("logit_bias", m);
    let Some(v) = v else { return Ok(()) };
    let Value::Object(map) = v else {
        return Err(bad(
            "`logit_bias` must be an object of token id → bias".into()
        ));
    };
    for (k, b) in map {
        let id: i64 = k.trim().parse().map_err(|_| {
            bad(format!(
                "logit_bias key `{k}` is not a token id (an integer)"
            ))
        })?;
        if id < 0 || id as u64 >= VOCAB_SIZE {
            return Err(bad(format!(
                "token_id(s) [{id}] in logit_bias contain out-of-vocab token ids. Vocabulary size: {VOCAB_SIZE}"
            )));
        }
        // Any number: vLLM clamps it to ±MAX_BIAS rather than refusing it.
        if b.as_f64().is_none() {
            return Err(bad(format!(
                "logit_bias value for token {id} must be a number (clamped to ±{MAX_BIAS}), got {b}"
            )));
        }
    }
    Ok(())
}

/// `response_format`: `{type: text | json_object | json_schema | structural_tag}`; a
/// `json_schema` one needs `json_schema: {name, schema?: object}`.
fn response_format(v: Option<&Value>) -> Result<(), ApiError> {
    let bad = |m: &str| ApiError::bad_param("response_format", m);
    let Some(v) = v else { return Ok(()) };
    let Value::Object(rf) = v else {
        return Err(bad("`response_format` must be an object"));
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text" | "json_object" | "structural_tag") => Ok(()),
        Some("json_schema") => {
            let Some(Value::Object(js)) = rf.get("json_schema") else {
                return Err(bad(
                    "`response_format.json_schema` is required when type is `json_schema`",
                ));
            };
            if !js.get("name").is_some_and(Value::is_string) {
                return Err(bad("`response_format.json_schema.name` must be a string"));
            }
            match js.get("schema") {
                None | Some(Value::Object(_)) | Some(Value::Bool(_)) => Ok(()),
                Some(_) => Err(bad(
                    "`response_format.json_schema.schema` must be a JSON schema object",
                )),
            }
        }
        _ => Err(bad(
            "`response_format.type` must be one of `text`, `json_object`, `json_schema`, `structural_tag`",
        )),
    }
}

/// `tools`: an array of `{type: "function", function: {name, parameters?: object}}`.
fn tools(v: Option<&Value>) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_param("tools", m);
    let Some(v) = v else { return Ok(()) };
    let Value::Array(tools) = v else {
        return Err(bad("`tools` must be an array of tools".into()));
    };
    for (i, t) in tools.iter().enumerate() {
        if t.get("type").and_then(Value::as_str) != Some("function") {
            return Err(bad(format!("tools[{i}].type must be `function`")));
        }
        let Some(Value::Object(f)) = t.get("function") else {
            return Err(bad(format!("tools[{i}].function must be an object")));
        };
        if !f.get("name").is_some_and(Value::is_string) {
            return Err(bad(format!("tools[{i}].function.name must be a string")));
        }
        if f.get("parameters").is_some_and(|p| !p.is_object()) {
            return Err(bad(format!(
                "tools[{i}].function.parameters must be a JSON schema object"
            )));
        }
    }
    Ok(())
}

/// Re-point a nested field's error at its parent.
fn renamed(mut e: ApiError, param: &str) -> ApiError {
    e.param = Some(param.to_string());
    e
}

/// A JSON object's fields, with typed getters that fail as OpenAI 400s naming the field.
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The field, treating JSON `null` as absent (as pydantic's Optional does).
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn string(&self, k: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_param(k, format!("`{k}` must be a string"))),
        }
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_param(k, format!("`{k}` must be a boolean"))),
        }
    }

    fn number(&self, k: &str) -> Result<Option<f64>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(ApiError::bad_param(
                    k,
                    format!("`{k}` must be a finite number"),
                )),
            },
            Some(_) => Err(ApiError::bad_param(k, format!("`{k}` must be a number"))),
        }
    }

    fn num_in(&self, k: &str, lo: f64, hi: f64) -> Result<Option<f64>, ApiError> {
        let v = self.number(k)?;
        if let Some(x) = v
            && !(lo..=hi).contains(&x)
        {
            return Err(ApiError::bad_param(
                k,
                format!("{k} must be in [{lo}, {hi}], got {x}."),
            ));
        }
        Ok(v)
    }

    /// An integer; an integral float such as `5.0` counts, as pydantic lets it.
    fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        let not_int = || ApiError::bad_param(k, format!("`{k}` must be an integer"));
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    return Ok(Some(i));
                }
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
                        Ok(Some(f as i64))
                    }
                    _ => Err(not_int()),
                }
            }
            Some(_) => Err(not_int()),
        }
    }

    fn int_in(&self, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        let v = self.int(k)?;
        if let Some(x) = v
            && !(lo..=hi).contains(&x)
        {
            let msg = if hi == i64::MAX {
                format!("{k} must be at least {lo}, got {x}.")
            } else {
                format!("{k} must be in [{lo}, {hi}], got {x}.")
            };
            return Err(ApiError::bad_param(k, msg));
        }
        Ok(v)
    }
}

/// Count tokens the way the mock documents: whitespace-separated words, at least one.
fn count_words(text: &str) -> u32 {
    (text.split_whitespace().count().min(u32::MAX as usize) as u32).max(1)
}

/// Chat `messages`: a non-empty array of `{role, content}`; content is a string, null, or
/// an array of content parts (text, `image_url`, `input_audio`; media checked by [`media`]). The prompt is rendered as `role: content` lines.
fn chat_prompt(v: Option<&Value>, base64_500: bool) -> Result<Prompt, ApiError> {
    let bad = |m: String| ApiError::bad_param("messages", m);
    let Some(v) = v else {
        return Err(bad("`messages` is required".into()));
    };
    let Value::Array(msgs) = v else {
        return Err(bad("`messages` must be an array of messages".into()));
    };
    if msgs.is_empty() {
        return Err(bad("`messages` must not be empty".into()));
    }
    let mut text = String::new();
    for (i, m) in msgs.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(bad(format!(
                "messages[{i}] must be an object with `role` and `content`"
            )));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r.as_str(),
            Some(_) => return Err(bad(format!("messages[{i}].role must be a string"))),
            None => return Err(bad(format!("messages[{i}].role is required"))),
        };
        // Any role: vLLM hands custom roles to the chat template, which renders them.
        text.push_str(role);
        text.push(':');
        match m.get("content") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                text.push(' ');
                text.push_str(s);
            }
            Some(Value::Array(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    let t = part.get("type").and_then(Value::as_str);
                    match (t, part.get("text")) {
                        (Some("text"), Some(Value::String(s))) => {
                            text.push(' ');
                            text.push_str(s);
                        }
                        (Some("text"), _) => {
                            return Err(bad(format!(
                                "messages[{i}].content[{j}].text must be a string"
                            )));
                        }
                        (Some("image_url"), _) => {
                            let url = match part.get("image_url") {
                                Some(Value::Object(u)) => u.get("url").and_then(Value::as_str),
                                Some(Value::String(u)) => Some(u.as_str()),
                                _ => None,
                            }
                            .ok_or_else(|| {
                                bad(format!(
                                    "messages[{i}].content[{j}].image_url.url must be a string"
                                ))
                            })?;
                            let (w, h) = media::image_url(url)
                                .map_err(|e| media_error(e, i, j, base64_500))?;
                            text.push_str(&format!(" <image {w}x{h}>"));
                        }
                        (Some("input_audio"), _) => {
                            let a = part.get("input_audio");
                            let field = |k: &str| a.and_then(|a| a.get(k)).and_then(Value::as_str);
                            let (Some(data), Some(format)) = (field("data"), field("format"))
                            else {
                                return Err(bad(format!(
                                    "messages[{i}].content[{j}].input_audio needs string `data` and `format`"
                                )));
                            };
                            media::audio(data, format)
                                .map_err(|e| media_error(e, i, j, base64_500))?;
                            text.push_str(" <audio>");
                        }
                        (Some(other), _) => {
                            return Err(bad(format!(
                                "messages[{i}].content[{j}] has unsupported type `{other}`"
                            )));
                        }
                        (None, _) => {
                            return Err(bad(format!(
                                "messages[{i}].content[{j}] needs a string `type`"
                            )));
                        }
                    }
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "messages[{i}].content must be a string, an array of content parts, or null"
                )));
            }
        }
        text.push('\n');
    }
    Ok(Prompt {
        tokens: count_words(&text),
        text,
    })
}

/// A media part's error as the client sees it.
fn media_error(e: MediaError, i: usize, j: usize, base64_500: bool) -> ApiError {
    match e {
        MediaError::BadBase64(detail) if base64_500 => ApiError::base64_crash(&detail),
        e => ApiError::bad_param("messages", format!("messages[{i}].content[{j}]: {e}")),
    }
}

/// Completions `prompt`: a string, an array of strings (a batch), an array of token ids,
/// or an array of arrays of token ids.
fn completion_prompts(v: Option<&Value>) -> Result<Vec<Prompt>, ApiError> {
    let bad = |m: &str| ApiError::bad_param("prompt", m);
    let shape = "`prompt` must be a string, an array of strings, an array of token ids, or an array of arrays of token ids";
    match v {
        None => Err(bad("`prompt` is required")),
        Some(Value::String(s)) => Ok(vec![Prompt {
            tokens: count_words(s),
            text: s.clone(),
        }]),
        Some(Value::Array(items)) if items.is_empty() => Err(bad("`prompt` must not be empty")),
        Some(Value::Array(items)) => {
            if items.iter().all(Value::is_string) {
                Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| Prompt {
                        tokens: count_words(s),
                        text: s.to_string(),
                    })
                    .collect())
            } else if items.iter().all(Value::is_number) {
                Ok(vec![token_prompt(items)?.ok_or_else(|| bad(shape))?])
            } else if items.iter().all(Value::is_array) {
                items
                    .iter()
                    .map(|i| match i {
                        Value::Array(ids) if !ids.is_empty() => {
                            token_prompt(ids)?.ok_or_else(|| bad(shape))
                        }
                        _ => Err(bad("token id prompts must not be empty")),
                    })
                    .collect()
            } else {
                Err(bad(shape))
            }
        }
        Some(_) => Err(bad(shape)),
    }
}

/// A prompt of token ids (non-negative integers); `None` if any is not one, an error if
/// one is past the vocabulary.
fn token_prompt(ids: &[Value]) -> Result<Option<Prompt>, ApiError> {
    let Some(ids) = ids.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>() else {
        return Ok(None);
    };
    if let Some(id) = ids.iter().find(|id| **id >= VOCAB_SIZE) {
        return Err(ApiError::bad_param(
            "prompt",
            format!("Token id {id} is out of vocabulary (size {VOCAB_SIZE})"),
        ));
    }
    let text = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    Ok(Some(Prompt {
        tokens: (ids.len().min(u32::MAX as usize) as u32).max(1),
        text,
    }))
}

/// `stop`: a string or an array of strings.
fn stop_strings(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_param("stop", "`stop` must be a string or an array of strings");
    match v {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits<'static> = Limits {
        model: "m",
        max_model_len: 100,
        base64_500: false,
        empty_prompt_taken: false,
    };

    fn chat(body: Value) -> Result<GenRequest, ApiError> {
        parse(Endpoint::Chat, body.to_string().as_bytes(), LIM)
    }

    fn cmpl(body: Value) -> Result<GenRequest, ApiError> {
        parse(Endpoint::Completions, body.to_string().as_bytes(), LIM)
    }

    fn param_of(r: Result<GenRequest, ApiError>) -> (u16, Option<String>) {
        let e = r.expect_err("should be rejected");
        (e.status.as_u16(), e.param)
    }

    fn msgs() -> Value {
        json!([{"role": "user", "content": "hello there"}])
    }

    #[test]
    fn accepts_minimal_requests() {
        let r = chat(json!({"messages": msgs()})).expect("valid");
        assert_eq!(
            (r.n, r.stream, r.max_tokens, r.prompts[0].tokens),
            (1, false, None, 3)
        );
        let r = cmpl(json!({"model": "m", "prompt": ["a b", "c"], "n": 2, "max_tokens": 5}))
            .expect("valid");
        assert_eq!(r.prompts.len(), 2);
        let plan = r.plan(0, 100, false);
        assert_eq!(
            plan.iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(cmpl(json!({"prompt": [1, 2, 3]})).is_ok());
        assert!(cmpl(json!({"prompt": [[1, 2], [3]], "n": 2.0})).is_ok());
        let multimodal_text = json!([{"role": "user", "content": [{"type": "text", "text": "x"}]}]);
        assert!(chat(json!({"messages": multimodal_text, "temperature": null})).is_ok());
    }

    #[test]
    fn malformed_bodies_are_400_without_param() {
        for body in [&b"{"[..], b"", b"[1]", b"\"x\"", b"\xff"] {
            let e = parse(Endpoint::Chat, body, LIM).expect_err("rejected");
            assert_eq!(
                (e.status.as_u16(), e.param, e.kind),
                (400, None, "BadRequestError")
            );
        }
    }

    #[test]
    fn field_errors_name_the_field() {
        let m = msgs();
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "messages"),
            (json!({"messages": "hi"}), "messages"),
            (json!({"messages": []}), "messages"),
            (json!({"messages": [{"content": "x"}]}), "messages"),
            (
                json!({"messages": [{"role": "user", "content": 3}]}),
                "messages",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "messages",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "!!", "format": "wav"}}]}]}),
                "messages",
            ),
            (
                json!({"messages": m, "logit_bias": {"hello": 1}}),
                "logit_bias",
            ),
            (
                json!({"messages": m, "logit_bias": {"99999999": 1}}),
                "logit_bias",
            ),
            (json!({"messages": m, "logit_bias": [1]}), "logit_bias"),
            (
                json!({"messages": m, "response_format": {"type": "json_schema"}}),
                "response_format",
            ),
            (
                json!({"messages": m, "response_format": {"type": "yaml"}}),
                "response_format",
            ),
            (
                json!({"messages": m, "tools": [{"type": "function"}]}),
                "tools",
            ),
            (json!({"messages": m, "tools": "x"}), "tools"),
            (json!({"messages": m, "stream": "yes"}), "stream"),
            (json!({"messages": m, "temperature": "hot"}), "temperature"),
            (json!({"messages": m, "temperature": 2.5}), "temperature"),
            (json!({"messages": m, "temperature": -0.1}), "temperature"),
            (json!({"messages": m, "top_p": 0}), "top_p"),
            (json!({"messages": m, "top_p": 1.5}), "top_p"),
            (json!({"messages": m, "max_tokens": 0}), "max_tokens"),
            (json!({"messages": m, "max_tokens": 101}), "max_tokens"),
            (json!({"messages": m, "max_tokens": 99}), "max_tokens"),
            (
                json!({"messages": m, "max_completion_tokens": 1.5}),
                "max_completion_tokens",
            ),
            (json!({"messages": m, "n": 0}), "n"),
            (json!({"messages": m, "n": 129}), "n"),
            (
                json!({"messages": m, "presence_penalty": 3}),
                "presence_penalty",
            ),
            (
                json!({"messages": m, "frequency_penalty": -2.5}),
                "frequency_penalty",
            ),
            (json!({"messages": m, "logprobs": 1}), "logprobs"),
            (json!({"messages": m, "top_logprobs": 2}), "top_logprobs"),
            (
                json!({"messages": m, "logprobs": true, "top_logprobs": 21}),
                "top_logprobs",
            ),
            (
                json!({"messages": m, "stream_options": {"include_usage": true}}),
                "stream_options",
            ),
            (
                json!({"messages": m, "stream": true, "stream_options": {"include_usage": 1}}),
                "stream_options",
            ),
            (json!({"messages": m, "seed": "1"}), "seed"),
            (json!({"messages": m, "stop": [1]}), "stop"),
            (json!({"messages": m, "model": 5}), "model"),
        ];
        for (body, param) in cases {
            assert_eq!(
                param_of(chat(body.clone())),
                (400, Some(param.into())),
                "{body}"
            );
        }
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "prompt"),
            (json!({"prompt": 5}), "prompt"),
            (json!({"prompt": []}), "prompt"),
            (json!({"prompt": ["a", 1]}), "prompt"),
            (json!({"prompt": [-1]}), "prompt"),
            (json!({"prompt": [1, 99999999]}), "prompt"),
            (json!({"prompt": "x", "logprobs": 21}), "logprobs"),
            (json!({"prompt": "x", "logprobs": true}), "logprobs"),
        ];
        for (body, param) in cases {
            assert_eq!(
                param_of(cmpl(body.clone())),
                (400, Some(param.into())),
                "{body}"
            );
        }
        let big = json!({"prompt": vec!["x"; 9], "n": 128});
        assert_eq!(param_of(cmpl(big)), (400, Some("prompt".into())));
    }

    #[test]
    fn unknown_model_is_404_after_shape_checks() {
        let e = chat(json!({"messages": msgs(), "model": "other"})).expect_err("404");
        assert_eq!(e.status.as_u16(), 404);
        assert_eq!(
            e.body()["error"]["message"],
            "The model `other` does not exist."
        );
        assert_eq!(e.body()["error"]["type"], "NotFoundError");
        // A shape error wins over the model, as in vLLM (pydantic runs first).
        assert_eq!(
            param_of(chat(json!({"messages": 1, "model": "other"}))).0,
            400
        );
    }

    #[test]
    fn content_types() {
        assert!(content_type_ok(None));
        assert!(content_type_ok(Some("application/json; charset=utf-8")));
        assert!(content_type_ok(Some("Application/JSON")));
        assert!(!content_type_ok(Some("text/plain")));
        assert!(!content_type_ok(Some("application/x-www-form-urlencoded")));
    }

    #[test]
    fn keys_follow_seed_and_greedy_choices_agree() {
        let r = chat(json!({"messages": msgs(), "n": 2})).expect("valid");
        let p = r.plan(0, 100, false);
        assert_ne!(p[0].spec.key, p[1].spec.key);
        assert_ne!(p[0].spec.key, r.plan(1, 100, false)[0].spec.key);
        let seeded = chat(json!({"messages": msgs(), "seed": 3})).expect("valid");
        assert_ne!(seeded.plan(0, 100, false)[0].spec.key, p[0].spec.key);
        let greedy = chat(json!({"messages": msgs(), "n": 2, "temperature": 0})).expect("valid");
        let g = greedy.plan(0, 100, false);
        assert_eq!(g[0].spec.key, g[1].spec.key);
        assert_eq!(g[0].spec.max_tokens, 97);
        assert!(g[0].spec.natural_stop);
    }
}

/// Where vLLM 0.32 was found to answer otherwise (docs/mock.md, "The mock held to vLLM").
#[cfg(test)]
mod as_vllm {
    use super::*;

    fn parse_with(
        endpoint: Endpoint,
        body: Value,
        empty_prompt_taken: bool,
    ) -> Result<GenRequest, ApiError> {
        let limits = Limits {
            model: "m",
            max_model_len: 100,
            base64_500: false,
            empty_prompt_taken,
        };
        parse(endpoint, body.to_string().as_bytes(), limits)
    }

    #[test]
    fn custom_roles_and_huge_logit_bias_are_taken() {
        let custom = json!({"messages": [{"role": "wizard", "content": "hi"}]});
        assert!(parse_with(Endpoint::Chat, custom, false).is_ok());
        let huge =
            json!({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": 1e9}});
        assert!(parse_with(Endpoint::Chat, huge, false).is_ok());
        let text =
            json!({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": "x"}});
        assert_eq!(
            parse_with(Endpoint::Chat, text, false)
                .map(|_| ())
                .unwrap_err()
                .param
                .as_deref(),
            Some("logit_bias")
        );
    }

    #[test]
    fn an_empty_completions_prompt_is_refused_unless_the_bug_takes_it() {
        let empty = json!({"prompt": "", "max_tokens": 4});
        let e = parse_with(Endpoint::Completions, empty.clone(), false)
            .map(|_| ())
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.message.as_str()), (400, EMPTY_PROMPT));
        assert!(parse_with(Endpoint::Completions, empty, true).is_ok_and(|g| g.empty_prompt));
        // Only `""`: a blank prompt has a token for vLLM.
        assert!(
            parse_with(
                Endpoint::Completions,
                json!({"prompt": " ", "max_tokens": 4}),
                false
            )
            .is_ok()
        );
    }
}
