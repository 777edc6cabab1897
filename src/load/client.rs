//! One OpenAI request, timed as its bytes arrive and classified into one [`Outcome`].
//!
//! Never retries: a retry would hide exactly what a reliability run is looking for.

use crate::record::{Clock, Outcome, RequestRecord};
use crate::suite::{Api, RequestSpec};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How much of an error body a record keeps.
const SNIPPET: usize = 300;

/// Where and what to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`, no trailing slash.
    pub base_url: String,
    /// `model` in the body.
    pub model: String,
    /// The request shape.
    pub request: RequestSpec,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Goes into `X-Request-Id`, so service logs can be matched to records.
    pub run_tag: String,
}

impl Target {
    fn url(&self) -> String {
        match self.request.api {
            Api::Chat => format!("{}/v1/chat/completions", self.base_url),
            Api::Completions => format!("{}/v1/completions", self.base_url),
        }
    }

    fn body(&self) -> Value {
        let r = &self.request;
        let mut body = match r.api {
            Api::Chat => json!({
                "model": self.model,
                "messages": [{"role": "user", "content": r.prompt}],
            }),
            Api::Completions => json!({"model": self.model, "prompt": r.prompt}),
        };
        body["max_tokens"] = json!(r.max_tokens);
        body["stream"] = json!(r.stream);
        if r.stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }
}

/// Ask `/v1/models` for the first model's id.
pub async fn first_model(http: &reqwest::Client, base_url: &str) -> Result<String, String> {
    let url = format!("{base_url}/v1/models");
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("GET {url}: {status}: {e}"))?;
    v["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("GET {url}: {status}: no model in {v}"))
}

/// Send request `id` now and record how it went. Ends by the timeout or `cancel` at the latest.
pub async fn send(
    http: &reqwest::Client,
    target: &Target,
    id: u64,
    intended_ms: f64,
    clock: Clock,
    cancel: &CancellationToken,
) -> RequestRecord {
    let mut rec = RequestRecord {
        id,
        intended_ms,
        sent_ms: None,
        headers_ms: None,
        first_token_ms: None,
        done_ms: 0.0,
        status: None,
        outcome: Outcome::Aborted,
        chunks: 0,
        max_gap_ms: None,
        tokens: None,
        headers: BTreeMap::new(),
        error: None,
        clean_end: false,
    };
    let work = exchange(http, target, &mut rec, clock);
    let ended = tokio::select! {
        r = tokio::time::timeout(target.timeout, work) => Some(r),
        () = cancel.cancelled() => None,
    };
    match ended {
        Some(Ok((outcome, error))) => {
            rec.outcome = outcome;
            rec.error = error;
        }
        Some(Err(_)) => {
            rec.outcome = Outcome::Timeout;
            rec.error = Some(format!("no complete answer within {:?}", target.timeout));
        }
        None => {
            rec.outcome = Outcome::Aborted;
            rec.error = Some("run interrupted".into());
        }
    }
    rec.done_ms = clock.now_ms();
    rec
}

/// The exchange itself; fills timings into `rec` as they happen so a timeout keeps them.
async fn exchange(
    http: &reqwest::Client,
    target: &Target,
    rec: &mut RequestRecord,
    clock: Clock,
) -> (Outcome, Option<String>) {
    let req = http
        .post(target.url())
        .header("x-request-id", format!("{}-{}", target.run_tag, rec.id))
        .json(&target.body());
    rec.sent_ms = Some(clock.now_ms());
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return classify_error(&e),
    };
    rec.headers_ms = Some(clock.now_ms());
    let status = resp.status();
    rec.status = Some(status.as_u16());
    rec.headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !status.is_success() {
        let class = if status.is_client_error() {
            Outcome::Http4xx
        } else if status.is_server_error() {
            Outcome::Http5xx
        } else {
            Outcome::BadResponse
        };
        let body = resp
            .bytes()
            .await
            .map(|b| snippet(&b))
            .unwrap_or_else(|e| e.to_string());
        return (class, Some(body));
    }
    let is_sse = rec
        .headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if target.request.stream {
        if !is_sse {
            return (
                Outcome::BadResponse,
                Some("stream requested, answer is not text/event-stream".into()),
            );
        }
        read_stream(resp, target.request.api, rec, clock).await
    } else {
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return classify_error(&e),
        };
        match check_completion(&body, target.request.api) {
            Ok(tokens) => {
                rec.tokens = tokens;
                (Outcome::Ok, None)
            }
            Err(why) => (Outcome::BadResponse, Some(why)),
        }
    }
}

/// Read an SSE body event by event, stamping chunk arrival times.
async fn read_stream(
    resp: reqwest::Response,
    api: Api,
    rec: &mut RequestRecord,
    clock: Clock,
) -> (Outcome, Option<String>) {
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut last_chunk: Option<f64> = None;
    let mut done = false;
    loop {
        let bytes = match body.next().await {
            None => break,
            Some(Ok(b)) => b,
            // The stream began and the connection broke under it: cut short, visibly.
            Some(Err(e)) => {
                let (_, text) = classify_error(&e);
                return (
                    Outcome::StreamTruncated,
                    Some(format!(
                        "stream cut after {} chunks: {}",
                        rec.chunks,
                        text.unwrap_or_default()
                    )),
                );
            }
        };
        let now = clock.now_ms();
        buf.extend_from_slice(&bytes);
        // An event ends at a blank line; handle both LF and CRLF framing.
        while let Some((end, sep)) = find_event_end(&buf) {
            let event: Vec<u8> = buf.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&event[..end]).into_owned();
            for line in text.lines() {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    done = true;
                    continue;
                }
                if done {
                    return (Outcome::BadResponse, Some("data after [DONE]".into()));
                }
                let v: Value = match serde_json::from_str(data) {
                    Ok(v) => v,
                    Err(e) => {
                        return (
                            Outcome::BadResponse,
                            Some(format!("chunk is not JSON ({e}): {}", cut(data))),
                        );
                    }
                };
                if let Some(err) = v.get("error") {
                    // The service reported an error in-band: a clean, visible failure.
                    let code = err["code"].as_u64().unwrap_or(500);
                    let class = if (400..500).contains(&code) {
                        Outcome::Http4xx
                    } else {
                        Outcome::Http5xx
                    };
                    return (class, Some(cut(data)));
                }
                rec.chunks += 1;
                if let Some(prev) = last_chunk {
                    let gap = now - prev;
                    rec.max_gap_ms = Some(rec.max_gap_ms.map_or(gap, |m: f64| m.max(gap)));
                }
                last_chunk = Some(now);
                let content = match api {
                    Api::Chat => v["choices"][0]["delta"]["content"].as_str(),
                    Api::Completions => v["choices"][0]["text"].as_str(),
                };
                if content.is_some_and(|c| !c.is_empty()) && rec.first_token_ms.is_none() {
                    rec.first_token_ms = Some(now);
                }
                if let Some(t) = v["usage"]["completion_tokens"].as_u64() {
                    rec.tokens = Some(t as u32);
                }
            }
        }
    }
    if done {
        (Outcome::Ok, None)
    } else {
        // A complete HTTP body that lacks `[DONE]`: the service claimed a whole answer.
        rec.clean_end = true;
        (
            Outcome::StreamTruncated,
            Some(format!(
                "stream ended after {} chunks without [DONE] or an error",
                rec.chunks
            )),
        )
    }
}

fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A non-streamed completion must have choices with text; returns `usage.completion_tokens`.
fn check_completion(body: &[u8], api: Api) -> Result<Option<u32>, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("body is not JSON ({e}): {}", snippet(body)))?;
    let choice = &v["choices"][0];
    let text = match api {
        Api::Chat => choice["message"]["content"].as_str(),
        Api::Completions => choice["text"].as_str(),
    };
    if text.is_none() {
        return Err(format!("no choices[0] text in {}", snippet(body)));
    }
    Ok(v["usage"]["completion_tokens"].as_u64().map(|t| t as u32))
}

/// Map a transport error to an outcome: could not connect, or broke on the way.
fn classify_error(e: &reqwest::Error) -> (Outcome, Option<String>) {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let outcome = if e.is_connect() {
        Outcome::ConnectError
    } else {
        Outcome::Reset
    };
    (outcome, Some(cut(&text)))
}

fn snippet(b: &[u8]) -> String {
    cut(&String::from_utf8_lossy(b))
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(SNIPPET) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
