//! Sending a case: ordinary requests with reqwest, everything a well-behaved client would
//! never do (slow bytes, half-closes, leaving mid-answer) over raw TCP.

use super::corpus::{Case, Mode};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most bytes of an answer kept (enough for any error body and the first stream chunks).
const KEEP: usize = 64 << 10;
/// How long a raw or half-closed request waits for an answer it is not owed.
const RAW_WAIT: Duration = Duration::from_secs(2);
/// Between trickled bytes of the slow cases.
const DRIP: Duration = Duration::from_millis(50);

/// What came back for one case.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    /// `answered`, `closed`, `timeout`, `refused`, `disconnected`, `waiting`, `error`.
    pub result: &'static str,
    pub body: Vec<u8>,
    /// Why there was no answer, if there was none.
    pub error: Option<String>,
    pub elapsed_ms: f64,
}

impl Answer {
    fn failed(result: &'static str, error: String, start: Instant) -> Self {
        Answer {
            result,
            error: Some(error),
            elapsed_ms: ms(start),
            ..Answer::default()
        }
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Where and to whom a case goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub http: reqwest::Client,
    pub base_url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub model: String,
    /// An answer is owed within this.
    pub answer_within: Duration,
}

/// One ordinary request with reqwest.
pub async fn normal(t: &Target, case: &Case, body: Vec<u8>) -> Answer {
    let start = Instant::now();
    let method =
        reqwest::Method::from_bytes(case.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut req = t
        .http
        .request(method, format!("{}{}", t.base_url, case.path))
        .timeout(t.answer_within);
    if let Some(ct) = case.content_type() {
        req = req.header("content-type", ct);
    }
    for (k, v) in case.other_headers() {
        req = req.header(k, v);
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return from_reqwest(&e, start),
    };
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut resp = resp;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() < KEEP {
                    body.extend_from_slice(&c);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let mut a = from_reqwest(&e, start);
                a.status = Some(status);
                a.body = body;
                return a;
            }
        }
    }
    Answer {
        status: Some(status),
        result: "answered",
        body,
        error: None,
        elapsed_ms: ms(start),
    }
}

fn from_reqwest(e: &reqwest::Error, start: Instant) -> Answer {
    let result = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "refused"
    } else {
        "closed"
    };
    // The chain holds the cause (reset, closed before message completed).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Answer::failed(result, msg, start)
}

/// The same request twice at once; the worse answer (a 5xx, else a missing one) is kept.
pub async fn twice(t: &Target, case: &Case, body: Vec<u8>) -> Answer {
    let (a, b) = tokio::join!(normal(t, case, body.clone()), normal(t, case, body));
    let rank = |x: &Answer| match x.status {
        Some(s) if s >= 500 => 0,
        None => 1,
        Some(_) => 2,
    };
    if rank(&b) < rank(&a) { b } else { a }
}

/// The request head for the raw modes (`Connection: close`, so the answer ends with EOF).
fn head(t: &Target, case: &Case, content_length: usize) -> Vec<u8> {
    let mut h = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        case.method, case.path, t.host
    );
    if let Some(ct) = case.content_type() {
        h.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for (k, v) in case.other_headers() {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
    h.into_bytes()
}

/// Read what the server sends until EOF, `until` holds for what was read, or `wait` passes.
async fn read_answer(
    s: &mut TcpStream,
    wait: Duration,
    until: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, &'static str) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return (buf, "waiting"),
            Ok(Ok(0)) => return (buf, "eof"),
            Ok(Ok(n)) => {
                if buf.len() < KEEP {
                    buf.extend_from_slice(&chunk[..n]);
                }
                if until(&buf) {
                    return (buf, "enough");
                }
            }
            Ok(Err(_)) => return (buf, "reset"),
        }
    }
}

/// Status and body of a raw HTTP/1.1 answer (chunked bodies are left as they are: only the
/// first bytes serve as evidence, and error bodies come with a length).
fn split(raw: &[u8]) -> (Option<u16>, Vec<u8>) {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (status_of(raw), Vec::new());
    };
    (status_of(raw), raw[end + 4..].to_vec())
}

fn status_of(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|p| p.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

async fn connect(t: &Target, start: Instant) -> Result<TcpStream, Answer> {
    match tokio::time::timeout(t.answer_within, TcpStream::connect(t.host.as_str())).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(Answer::failed("refused", e.to_string(), start)),
        Err(_) => Err(Answer::failed("timeout", "connect timed out".into(), start)),
    }
}

fn finish(raw: Vec<u8>, how: &'static str, start: Instant) -> Answer {
    let (status, body) = split(&raw);
    let result = match (status, how) {
        (Some(_), _) => "answered",
        (None, "waiting") => "waiting",
        (None, _) => "closed",
    };
    Answer {
        status,
        result,
        body,
        error: None,
        elapsed_ms: ms(start),
    }
}

/// `raw` (the body is the whole request) and `truncated` (the body falls short of its length).
pub async fn raw(t: &Target, case: &Case, body: Vec<u8>) -> Answer {
    let start = Instant::now();
    let mut s = match connect(t, start).await {
        Ok(s) => s,
        Err(a) => return a,
    };
    let bytes = if case.mode == Mode::Truncated {
        let mut b = head(t, case, body.len() + 100);
        b.extend_from_slice(&body);
        b
    } else {
        body
    };
    if let Err(e) = s.write_all(&bytes).await {
        return Answer::failed("closed", e.to_string(), start);
    }
    if case.mode == Mode::Truncated {
        let _ = s.shutdown().await;
    }
    let (raw, how) = read_answer(&mut s, RAW_WAIT.min(t.answer_within), |_| false).await;
    finish(raw, how, start)
}

/// `slow_headers` / `slow_body`: trickle for `hold` while `during` runs (a valid request that
/// must still succeed), then read whatever the server said.
pub async fn slow<F: std::future::Future<Output = T>, T>(
    t: &Target,
    case: &Case,
    body: Vec<u8>,
    hold: Duration,
    during: F,
) -> (Answer, T) {
    let start = Instant::now();
    let mut s = match connect(t, start).await {
        Ok(s) => s,
        Err(a) => return (a, during.await),
    };
    let head = head(t, case, body.len());
    let (fast, slow): (Vec<u8>, Vec<u8>) = if case.mode == Mode::SlowHeaders {
        let mut all = head;
        all.extend_from_slice(&body);
        (Vec::new(), all)
    } else {
        (head, body)
    };
    let drip = async {
        if s.write_all(&fast).await.is_err() {
            return Some("closed");
        }
        let until = Instant::now() + hold;
        for b in &slow {
            if Instant::now() >= until {
                return None;
            }
            if s.write_all(std::slice::from_ref(b)).await.is_err() {
                return Some("closed");
            }
            tokio::time::sleep(DRIP).await;
        }
        None
    };
    let (closed, out) = tokio::join!(drip, during);
    if closed.is_some() {
        // The server gave up on us: what it said before closing is the answer.
        let (raw, _) = read_answer(&mut s, Duration::from_millis(300), |_| false).await;
        return (finish(raw, "eof", start), out);
    }
    let (raw, how) = read_answer(&mut s, Duration::from_millis(300), |_| false).await;
    (finish(raw, how, start), out)
}

/// Send one streaming request and keep the socket open; `None` if it cannot be sent.
async fn open_stream(t: &Target, case: &Case, body: &[u8]) -> Option<TcpStream> {
    let mut s = TcpStream::connect(t.host.as_str()).await.ok()?;
    let _ = s.set_nodelay(true);
    let mut bytes = head(t, case, body.len());
    bytes.extend_from_slice(body);
    s.write_all(&bytes).await.ok()?;
    Some(s)
}

/// `disconnect_before_first_token`: leave once `admitted` resolves (the server counts the
/// request as running) or nothing has come back yet.
pub async fn disconnect_early(
    t: &Target,
    case: &Case,
    body: Vec<u8>,
    admitted: impl std::future::Future<Output = ()>,
) -> Answer {
    let start = Instant::now();
    let Some(mut s) = open_stream(t, case, &body).await else {
        return Answer::failed("refused", "could not send the request".into(), start);
    };
    // Whatever arrives first: the server admits it, or it answers (an error, or a token).
    let (raw, how) = tokio::select! {
        () = admitted => (Vec::new(), "left"),
        r = read_answer(&mut s, t.answer_within, |b| !b.is_empty()) => r,
    };
    drop(s);
    left(raw, how, start)
}

fn left(raw: Vec<u8>, how: &'static str, start: Instant) -> Answer {
    let (status, body) = split(&raw);
    match status {
        // An error answer instead of a stream: the case got a status, judged as usual.
        Some(code) if code != 200 => Answer {
            status,
            result: "answered",
            body,
            error: None,
            elapsed_ms: ms(start),
        },
        _ => Answer {
            status,
            result: if how == "reset" || how == "eof" {
                "closed"
            } else {
                "disconnected"
            },
            body,
            error: None,
            elapsed_ms: ms(start),
        },
    }
}

/// Whether a raw answer holds the first streamed event.
fn has_event(b: &[u8]) -> bool {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    status_of(b) != Some(200) || b[end..].windows(5).any(|w| w == b"data:")
}

/// `disconnect_mid_stream`: leave after the first streamed event.
pub async fn disconnect_mid(t: &Target, case: &Case, body: Vec<u8>) -> Answer {
    let start = Instant::now();
    let Some(mut s) = open_stream(t, case, &body).await else {
        return Answer::failed("refused", "could not send the request".into(), start);
    };
    let (raw, how) = read_answer(&mut s, t.answer_within, has_event).await;
    drop(s);
    left(raw, how, start)
}

/// `disconnect_many`: `count` clients at once, all leaving after `admitted` resolves.
pub async fn disconnect_many(
    t: &Target,
    case: &Case,
    body: Vec<u8>,
    admitted: impl std::future::Future<Output = ()>,
) -> Answer {
    let start = Instant::now();
    let n = case.count.unwrap_or(1) as usize;
    let opened = futures_util::future::join_all((0..n).map(|_| open_stream(t, case, &body))).await;
    let sent = opened.iter().filter(|s| s.is_some()).count();
    admitted.await;
    drop(opened);
    Answer {
        status: None,
        result: if sent == 0 { "refused" } else { "disconnected" },
        body: format!("{sent} of {n} clients sent and left").into_bytes(),
        error: None,
        elapsed_ms: ms(start),
    }
}
