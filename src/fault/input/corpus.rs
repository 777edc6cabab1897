//! Malformed-input corpora: cases as data, one JSON object per line, one file per corpus.
//!
//! `builtin:openai` is `corpora/openai.jsonl`, compiled in; `file:PATH` is a suite's own.
//! Huge bodies are never stored: a case's `gen` describes them (`open` × count, `middle`,
//! `close` × count) and `$GEN` in its body marks where they go.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The built-in OpenAI-API corpus.
const BUILTIN_OPENAI: &str = include_str!("../../../corpora/openai.jsonl");
/// Largest generated body part, so a typo in a corpus cannot exhaust memory.
const MAX_GEN_BYTES: usize = 256 << 20;

/// What part of a request a case attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The body as JSON: truncated, not UTF-8, deep, huge, wrong content type.
    Json,
    /// Fields missing or of the wrong type.
    Schema,
    /// Fields of the right type with values out of range.
    Values,
    /// Image and audio content parts.
    Multimodal,
    /// HTTP itself: slow clients, disconnects, malformed framing.
    Protocol,
}

impl Category {
    /// Every category, in corpus order.
    pub const ALL: [Category; 5] = [
        Category::Json,
        Category::Schema,
        Category::Values,
        Category::Multimodal,
        Category::Protocol,
    ];

    /// The name used in corpora and records.
    pub fn name(self) -> &'static str {
        match self {
            Category::Json => "json",
            Category::Schema => "schema",
            Category::Values => "values",
            Category::Multimodal => "multimodal",
            Category::Protocol => "protocol",
        }
    }
}

/// What a correct OpenAI-compatible server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expectation {
    /// A client error with an OpenAI-shaped body.
    #[serde(rename = "4xx")]
    ClientError,
    /// Anything but a server error (servers legitimately differ), and still healthy.
    #[serde(rename = "not_5xx")]
    Not5xx,
}

impl Expectation {
    /// The name used in corpora and records.
    pub fn name(self) -> &'static str {
        match self {
            Expectation::ClientError => "4xx",
            Expectation::Not5xx => "not_5xx",
        }
    }
}

/// How a case is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One ordinary HTTP request.
    #[default]
    Normal,
    /// The same request twice at once (same headers, e.g. a duplicate request id).
    Twice,
    /// `body` is the whole raw request, sent as is over TCP (`$HOST` is host:port).
    Raw,
    /// `Content-Length` promises more than is sent, then the client half-closes.
    Truncated,
    /// Headers trickled one byte at a time (slowloris) while a valid request must succeed.
    SlowHeaders,
    /// The body trickled one byte at a time while a valid request must succeed.
    SlowBody,
    /// The client leaves once the request is admitted, before any answer.
    DisconnectBeforeFirstToken,
    /// The client leaves after the first streamed bytes.
    DisconnectMidStream,
    /// `count` clients send at once and all leave.
    DisconnectMany,
}

impl Mode {
    /// The name used in corpora and records.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Twice => "twice",
            Mode::Raw => "raw",
            Mode::Truncated => "truncated",
            Mode::SlowHeaders => "slow_headers",
            Mode::SlowBody => "slow_body",
            Mode::DisconnectBeforeFirstToken => "disconnect_before_first_token",
            Mode::DisconnectMidStream => "disconnect_mid_stream",
            Mode::DisconnectMany => "disconnect_many",
        }
    }

    /// Whether the client leaves on purpose (the in-flight gauge must come back).
    pub fn disconnects(self) -> bool {
        matches!(
            self,
            Mode::DisconnectBeforeFirstToken | Mode::DisconnectMidStream | Mode::DisconnectMany
        )
    }

    /// Whether an answer within the bound is owed (raw framing errors and slow or leaving
    /// clients may legitimately get none).
    pub fn owes_answer(self) -> bool {
        matches!(self, Mode::Normal | Mode::Twice)
    }
}

/// A generated body part: `open` × `count`, then `middle`, then `close` × `count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gen {
    pub open: String,
    #[serde(default)]
    pub middle: String,
    #[serde(default)]
    pub close: String,
    pub count: usize,
}

impl Gen {
    fn len(&self) -> usize {
        (self.open.len() + self.close.len())
            .saturating_mul(self.count)
            .saturating_add(self.middle.len())
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(self.open.repeat(self.count).as_bytes());
        out.extend_from_slice(self.middle.as_bytes());
        out.extend_from_slice(self.close.repeat(self.count).as_bytes());
        out
    }
}

fn post() -> String {
    "POST".into()
}

fn chat_path() -> String {
    "/v1/chat/completions".into()
}

/// One case of a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique in its corpus, such as `values.max_tokens_1e12`.
    pub name: String,
    pub category: Category,
    /// An issue reference such as `vllm#7283`, where the case comes from one.
    #[serde(default)]
    pub origin: Option<String>,
    pub expect: Expectation,
    /// What the case sends, in words.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default = "chat_path")]
    pub path: String,
    /// Extra headers; `content-type` defaults to `application/json`, `""` leaves it out.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body as JSON (strings `$MODEL` become the served model).
    #[serde(default)]
    pub json: Option<Value>,
    /// Body as text (`$MODEL`, `$GEN`, `$HOST` are replaced).
    #[serde(default)]
    pub body: Option<String>,
    /// Body as base64, for bytes that are not text.
    #[serde(default)]
    pub body_b64: Option<String>,
    #[serde(default)]
    #[serde(rename = "gen")]
    pub generate: Option<Gen>,
    #[serde(default)]
    pub mode: Mode,
    /// Clients for `disconnect_many`.
    #[serde(default)]
    pub count: Option<u32>,
}

/// Why a corpus cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{corpus}, line {line}: {message}")]
    Line {
        corpus: String,
        line: usize,
        message: String,
    },
    #[error("cannot read corpus {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "unknown corpus `{0}`, expected \"builtin:openai\" or \"file:PATH\" (a .jsonl file, relative to the working directory or the suite's directory)"
    )]
    Unknown(String),
}

/// Load the cases `spec` names (`builtin:openai` or `file:PATH`); a relative `PATH` is looked
/// up in the working directory first, then in `suite_dir`.
pub fn load(spec: &str, suite_dir: Option<&Path>) -> Result<Vec<Case>, CorpusError> {
    if spec == "builtin:openai" {
        return parse(spec, BUILTIN_OPENAI);
    }
    let path = file_of(spec, suite_dir).ok_or_else(|| CorpusError::Unknown(spec.into()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| CorpusError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    parse(&path.display().to_string(), &text)
}

/// The file a `file:PATH` spec names: a relative `PATH` in the working directory if it is
/// there, else in `suite_dir`; `None` for any other spec.
pub fn file_of(spec: &str, suite_dir: Option<&Path>) -> Option<PathBuf> {
    let given = PathBuf::from(spec.strip_prefix("file:")?);
    Some(match suite_dir {
        Some(dir) if given.is_relative() && !given.exists() => dir.join(&given),
        _ => given,
    })
}

/// The built-in corpus's text and the checkout file it is compiled from.
pub fn builtin_openai() -> (&'static str, &'static str) {
    (BUILTIN_OPENAI, "corpora/openai.jsonl")
}

/// Parse a corpus: one case per non-empty line (`#` lines are comments); names must be unique.
pub fn parse(source: &str, text: &str) -> Result<Vec<Case>, CorpusError> {
    let mut cases = Vec::new();
    let mut names = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| CorpusError::Line {
            corpus: source.into(),
            line: i + 1,
            message,
        };
        let case: Case = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        case.check().map_err(err)?;
        if !names.insert(case.name.clone()) {
            return Err(err(format!("duplicate case name `{}`", case.name)));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(CorpusError::Line {
            corpus: source.into(),
            line: 0,
            message: "no cases".into(),
        });
    }
    Ok(cases)
}

/// `target` with every `needle` replaced by `with`.
fn replace(target: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(target.len());
    let mut rest = target;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

impl Case {
    /// Consistency a line's JSON shape cannot express.
    fn check(&self) -> Result<(), String> {
        let bodies = [
            self.json.is_some(),
            self.body.is_some(),
            self.body_b64.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err(format!(
                "case `{}`: at most one of `json`, `body`, `body_b64`",
                self.name
            ));
        }
        if let Some(b) = &self.body_b64 {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("case `{}`: `body_b64` is not base64: {e}", self.name))?;
        }
        if let Some(g) = &self.generate {
            if !self.body.as_deref().is_some_and(|b| b.contains("$GEN")) {
                return Err(format!(
                    "case `{}`: `gen` needs a text `body` holding `$GEN`",
                    self.name
                ));
            }
            if g.len() > MAX_GEN_BYTES {
                return Err(format!(
                    "case `{}`: `gen` makes {} bytes, more than {MAX_GEN_BYTES}",
                    self.name,
                    g.len()
                ));
            }
        }
        if self.mode == Mode::DisconnectMany
            && !self.count.is_some_and(|c| (1..=10_000).contains(&c))
        {
            return Err(format!(
                "case `{}`: `disconnect_many` needs `count` between 1 and 10000",
                self.name
            ));
        }
        if !self.path.starts_with('/') {
            return Err(format!("case `{}`: `path` must start with `/`", self.name));
        }
        Ok(())
    }

    /// The body bytes for a server serving `model` at `host` (`127.0.0.1:PORT`).
    pub fn body(&self, model: &str, host: &str) -> Vec<u8> {
        use base64::Engine as _;
        let raw: Vec<u8> = if let Some(j) = &self.json {
            j.to_string().into_bytes()
        } else if let Some(b) = &self.body {
            b.clone().into_bytes()
        } else if let Some(b) = &self.body_b64 {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        // The model goes in as the inside of a JSON string, so a quote in its name stays JSON.
        let quoted = Value::String(model.into()).to_string();
        let inner = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(model);
        let mut out = replace(&raw, b"$MODEL", inner.as_bytes());
        if self.mode == Mode::Raw {
            out = replace(&out, b"$HOST", host.as_bytes());
        }
        if let Some(g) = &self.generate
            && let Some(at) = out.windows(4).position(|w| w == b"$GEN")
        {
            let made = g.bytes();
            let mut whole = Vec::with_capacity(out.len() + made.len());
            whole.extend_from_slice(&out[..at]);
            whole.extend_from_slice(&made);
            whole.extend_from_slice(&out[at + 4..]);
            out = whole;
        }
        out
    }

    /// The `Content-Type` to send: the case's own, `None` if it says `""`, else JSON.
    pub fn content_type(&self) -> Option<&str> {
        match self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            Some((_, v)) if v.is_empty() => None,
            Some((_, v)) => Some(v),
            None => Some("application/json"),
        }
    }

    /// Headers other than `Content-Type`.
    pub fn other_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The built-in corpus (for docs and tests).
pub fn builtin() -> Vec<Case> {
    parse("builtin:openai", BUILTIN_OPENAI).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_loads_with_unique_names_and_every_category() {
        let cases = parse("builtin:openai", BUILTIN_OPENAI).expect("builtin corpus parses");
        assert!(cases.len() >= 60, "only {} cases", cases.len());
        let names: HashSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), cases.len());
        for cat in Category::ALL {
            assert!(
                cases.iter().any(|c| c.category == cat),
                "no case of category {cat:?}"
            );
        }
        for origin in [
            "vllm#7283",
            "vllm#5963",
            "vllm#16529",
            "vllm#1543",
            "vllm#6521",
            "vllm#8954",
            "vllm#32636",
            "vllm#15041",
            "vllm#54947",
        ] {
            assert!(
                cases.iter().any(|c| c.origin.as_deref() == Some(origin)),
                "no case from {origin}"
            );
        }
    }

    #[test]
    fn docs_list_every_builtin_case() {
        let doc = include_str!("../../../docs/faults.md");
        for c in builtin() {
            assert!(
                doc.contains(&format!("| `{}` |", c.name)),
                "docs/faults.md does not list `{}`",
                c.name
            );
        }
    }

    #[test]
    fn bodies_are_generated_and_templated() {
        let cases = builtin();
        let deep = cases
            .iter()
            .find(|c| c.name == "json.nesting_10000")
            .expect("deep case");
        let body = deep.body("m\"x", "h:1");
        assert!(body.starts_with(br#"{"model": "m\"x""#));
        assert_eq!(body.iter().filter(|b| **b == b'[').count(), 10_000);
        let big = cases
            .iter()
            .find(|c| c.name == "json.body_50mb")
            .expect("50 MB case");
        assert!(big.body("m", "h").len() > 50 << 20);
        let raw = cases
            .iter()
            .find(|c| c.name == "protocol.header_without_colon")
            .expect("raw case");
        assert!(
            String::from_utf8_lossy(&raw.body("m", "127.0.0.1:9")).contains("Host: 127.0.0.1:9")
        );
    }

    #[test]
    fn bad_corpora_are_rejected_with_the_line() {
        let dup = r#"{"name":"a","category":"json","expect":"4xx"}
{"name":"a","category":"json","expect":"4xx"}"#;
        let e = parse("x", dup).expect_err("duplicate");
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(parse("x", r#"{"name":"a","category":"nope","expect":"4xx"}"#).is_err());
        assert!(
            parse(
                "x",
                r#"{"name":"a","category":"json","expect":"4xx","gen":{"open":"a","count":1}}"#
            )
            .is_err()
        );
        assert!(matches!(
            load("builtin:nope", None),
            Err(CorpusError::Unknown(_))
        ));
    }
}
