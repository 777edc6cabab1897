//! One OpenAI request, timed as its bytes arrive and classified into one [`Outcome`].
//!
//! Never retries: a retry would hide exactly what a reliability run is looking for.

use super::{conform, sse};
use crate::record::{Clock, Outcome, RequestRecord};
use crate::suite::{Api, RequestSpec};
use futures_util::StreamExt;
use serde_json::{Value, json};
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
    /// A body per request, round robin by id (a perf workload); `None`: every request sends
    /// the one body of `request`.
    pub bodies: Option<std::sync::Arc<Vec<bytes::Bytes>>>,
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

/// A target made ready for many requests: what every request shares is worked out once
/// (the URL parsed, the one body serialised), not per request.
#[derive(Debug)]
pub struct Prepared {
    /// The target as given.
    pub target: Target,
    /// `target.url()`, parsed; `None` if it does not parse, so each request fails as before.
    url: Option<reqwest::Url>,
    /// The body of every request when the target has no `bodies` of its own.
    body: bytes::Bytes,
}

impl Target {
    /// Work out once what every request to this target shares.
    pub fn prepare(self) -> Prepared {
        // Serialising a `Value` cannot fail; reqwest's `.json()` writes the same bytes.
        let body = serde_json::to_vec(&self.body()).unwrap_or_default().into();
        Prepared {
            url: reqwest::Url::parse(&self.url()).ok(),
            body,
            target: self,
        }
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

/// The text of one greedy answer (`temperature` 0, the given `seed`, not streamed) to the
/// target's request: what a server that promises determinism must repeat exactly.
pub async fn seeded_text(
    http: &reqwest::Client,
    target: &Target,
    seed: u64,
) -> Result<String, String> {
    let mut body = target.body();
    body["stream"] = json!(false);
    body["temperature"] = json!(0);
    body["seed"] = json!(seed);
    if let Some(b) = body.as_object_mut() {
        b.remove("stream_options");
    }
    let url = target.url();
    let resp = http
        .post(&url)
        .timeout(target.timeout)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("POST {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST {url}: {status}: {}", snippet(&bytes)));
    }
    let v = check_completion(&bytes, target.request.api)?;
    let text = match target.request.api {
        Api::Chat => v["choices"][0]["message"]["content"].as_str(),
        Api::Completions => v["choices"][0]["text"].as_str(),
    };
    Ok(text.unwrap_or_default().to_string())
}

/// Send request `id` now and record how it went. Ends by the timeout or `cancel` at the latest.
pub async fn send(
    http: &reqwest::Client,
    prepared: &Prepared,
    id: u64,
    intended_ms: f64,
    clock: Clock,
    cancel: &CancellationToken,
) -> RequestRecord {
    let target = &prepared.target;
    let mut rec = RequestRecord::new(id, intended_ms);
    let work = exchange(http, prepared, &mut rec, clock);
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

/// Ask one chat question, non-streaming, greedy (`temperature` 0): the HTTP status if one
/// arrived, and the answer's text (`choices[0].message.content`) or why there is none.
pub async fn ask(
    http: &reqwest::Client,
    base_url: &str,
    model: &str,
    prompt: &str,
    max_tokens: u32,
    timeout: Duration,
) -> (Option<u16>, Result<String, String>) {
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": false,
    });
    let url = format!("{base_url}/v1/chat/completions");
    let exchange = async {
        let resp = http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| (None, format!("POST {url}: {e}")))?;
        let status = resp.status();
        let code = Some(status.as_u16());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| (code, format!("failed to read the answer: {e}")))?;
        if !status.is_success() {
            return Err((code, snippet(&bytes)));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            (
                code,
                format!("the answer is not JSON ({e}): {}", snippet(&bytes)),
            )
        })?;
        match v["choices"][0]["message"]["content"].as_str() {
            Some(text) => Ok((code, text.to_string())),
            None => Err((
                code,
                format!("no choices[0].message.content in {}", snippet(&bytes)),
            )),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((code, text))) => (code, Ok(text)),
        Ok(Err((code, why))) => (code, Err(why)),
        Err(_) => (None, Err(format!("no answer within {timeout:?}"))),
    }
}

/// The exchange itself; fills timings into `rec` as they happen so a timeout keeps them.
async fn exchange(
    http: &reqwest::Client,
    prepared: &Prepared,
    rec: &mut RequestRecord,
    clock: Clock,
) -> (Outcome, Option<String>) {
    let target = &prepared.target;
    let req = match &prepared.url {
        Some(url) => http.post(url.clone()),
        None => http.post(target.url()),
    };
    // Serialised once, before the first request; a clone shares the bytes.
    let body = match &target.bodies {
        Some(b) if !b.is_empty() => b[rec.id as usize % b.len()].clone(),
        _ => prepared.body.clone(),
    };
    let req = req
        .header("x-request-id", format!("{}-{}", target.run_tag, rec.id))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
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
            Ok(v) => {
                usage(&v, rec);
                rec.nonconformant = conform::full(&v, target.request.api);
                (Outcome::Ok, None)
            }
            Err(why) => (Outcome::BadResponse, Some(why)),
        }
    }
}

/// Read an SSE body event by event; an event's time is the arrival of the bytes that completed it.
async fn read_stream(
    resp: reqwest::Response,
    api: Api,
    rec: &mut RequestRecord,
    clock: Clock,
) -> (Outcome, Option<String>) {
    let mut body = resp.bytes_stream();
    let mut events = sse::Parser::new();
    let mut last_chunk: Option<f64> = None;
    let mut done = false;
    let mut shape = conform::Stream::default();
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
        for event in events.feed(&bytes) {
            let data = event.data.trim();
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
            shape.chunk(&v, api);
            if let Some(prev) = last_chunk {
                let gap = now - prev;
                rec.max_gap_ms = Some(rec.max_gap_ms.map_or(gap, |m: f64| m.max(gap)));
                // Inter-token latency as vLLM's benchmark takes it: every chunk that
                // carries a choice after the first token, measured from the chunk before.
                if rec.first_token_ms.is_some() && has_choice(&v) {
                    rec.itl_ms.push(gap);
                }
            }
            last_chunk = Some(now);
            let content = match api {
                Api::Chat => v["choices"][0]["delta"]["content"].as_str(),
                Api::Completions => v["choices"][0]["text"].as_str(),
            };
            if content.is_some_and(|c| !c.is_empty()) && rec.first_token_ms.is_none() {
                rec.first_token_ms = Some(now);
            }
            usage(&v, rec);
        }
    }
    if done {
        // The client always asks for the usage chunk (`Target::body`).
        rec.nonconformant = shape.finish(true);
        (Outcome::Ok, None)
    } else {
        // A complete HTTP body that lacks `[DONE]`: the service claimed a whole answer.
        // (An event left open by the body's end is never dispatched, so cannot add a chunk.)
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

/// A non-streamed completion must have choices with text; returns the body.
/// Whether a chunk carries a choice (a usage-only chunk does not).
fn has_choice(v: &Value) -> bool {
    v["choices"].as_array().is_some_and(|c| !c.is_empty())
}

/// Take the token counts of a `usage` object, where the answer has one.
fn usage(v: &Value, rec: &mut RequestRecord) {
    let count = |key: &str| v["usage"][key].as_u64().map(|t| t as u32);
    if let Some(t) = count("completion_tokens") {
        rec.tokens = Some(t);
    }
    if let Some(t) = count("prompt_tokens") {
        rec.prompt_tokens = Some(t);
    }
}

fn check_completion(body: &[u8], api: Api) -> Result<Value, String> {
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
    Ok(v)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::RequestSpec;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot loopback server: reads one request whole, then answers with `pieces` as
    /// separate chunks of a chunked `text/event-stream` body, each written on its own.
    async fn serve_once(pieces: Vec<String>) -> (String, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            loop {
                let n = sock.read(&mut buf).await.expect("read request");
                assert!(n > 0, "client closed mid-request");
                req.extend_from_slice(&buf[..n]);
                let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().expect("content-length"));
                if req.len() >= end + 4 + len {
                    break;
                }
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            sock.write_all(head.as_bytes()).await.expect("write head");
            for p in pieces {
                let chunk = format!("{:x}\r\n{p}\r\n", p.len());
                sock.write_all(chunk.as_bytes()).await.expect("write chunk");
                sock.flush().await.expect("flush");
            }
            sock.write_all(b"0\r\n\r\n").await.expect("write end");
            sock.shutdown().await.expect("shutdown");
        });
        (base, task)
    }

    async fn stream_chat(pieces: Vec<String>) -> RequestRecord {
        let (base_url, server) = serve_once(pieces).await;
        let target = Target {
            base_url,
            model: "m".into(),
            request: RequestSpec {
                api: Api::Chat,
                stream: true,
                max_tokens: 3,
                model: None,
                prompt: "hi".into(),
            },
            timeout: Duration::from_secs(20),
            run_tag: "sse".into(),
            bodies: None,
        };
        let http = crate::load::http_client(1).expect("http client");
        let rec = send(
            &http,
            &target.prepare(),
            0,
            0.0,
            Clock::start(),
            &CancellationToken::new(),
        )
        .await;
        server.await.expect("server task");
        rec
    }

    /// A chat completion framed with CR line ends only, every chunk's JSON split over two
    /// `data:` lines (which the standard joins with `\n`), and one CR LF split across writes.
    fn cr_framed_chat(done: bool) -> Vec<String> {
        let mut pieces: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|t| {
                format!("data: {{\"choices\":[{{\"index\":0,\rdata: \"delta\":{{\"content\":\"{t}\"}}}}]}}\r\r")
            })
            .collect();
        pieces.insert(0, ": keep-alive\r".into());
        pieces.push("data: {\"choices\":[],\"usage\":\r".into());
        pieces.push("\ndata: {\"completion_tokens\":3}}\r\n\r".into());
        if done {
            pieces.push("\ndata: [DONE]\r\r".into());
        }
        pieces
    }

    #[tokio::test]
    async fn cr_framed_multi_line_stream_records_ok() {
        let rec = stream_chat(cr_framed_chat(true)).await;
        assert_eq!(rec.outcome, Outcome::Ok, "{rec:?}");
        assert_eq!(rec.chunks, 4, "{rec:?}");
        assert_eq!(rec.tokens, Some(3), "{rec:?}");
        assert!(
            rec.first_token_ms.is_some() && rec.max_gap_ms.is_some(),
            "{rec:?}"
        );
        assert!(!rec.clean_end && rec.error.is_none(), "{rec:?}");
    }

    #[tokio::test]
    async fn cr_framed_stream_without_done_is_a_clean_end_after_its_chunks() {
        let rec = stream_chat(cr_framed_chat(false)).await;
        assert_eq!(rec.outcome, Outcome::StreamTruncated, "{rec:?}");
        assert!(rec.clean_end, "{rec:?}");
        assert_eq!(rec.chunks, 4, "{rec:?}");
    }

    #[tokio::test]
    async fn multi_line_error_event_is_an_in_band_failure() {
        let pieces = vec![
            "data: {\"error\":\rdata: {\"code\":503,\"message\":\"busy\"}}\r\r".into(),
            "data: [DONE]\r\r".into(),
        ];
        let rec = stream_chat(pieces).await;
        assert_eq!(rec.outcome, Outcome::Http5xx, "{rec:?}");
        assert!(
            rec.error.as_deref().is_some_and(|e| e.contains("busy")),
            "{rec:?}"
        );
    }
}
