//! The HTTP front end: routes, admission (slots and the waiting queue), responses and
//! streams, metrics, and the server's lifecycle from bind to graceful shutdown.

use super::api::{self, ApiError, Endpoint, GenRequest, Limits, SeqPlan};
use super::args::{Bug, ServerArgs};
use super::engine::Timing;
use super::generate::KeyHasher;
use super::metrics::{EngineSample, Metrics};
use super::responses::{Choice, DONE, RespCtx, Usage, sse_error};
use super::supervisor::{self, Door, Failure, SeqEvent, SeqHandle, Supervisor};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::json;
use std::collections::HashSet;
use std::convert::Infallible;
use std::future::IntoFuture;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Largest request body accepted.
const BODY_LIMIT: usize = 16 << 20;
/// On SIGTERM, how long in-flight requests may still finish before they are failed.
const DRAIN: Duration = Duration::from_millis(300);
/// After that, how long to wait for the last responses to go out.
const CLOSE_WAIT: Duration = Duration::from_millis(700);
/// Bug `drop-stream`: token chunks a dropped stream still carries.
const DROP_AFTER_TOKENS: usize = 3;
/// Bug `slow-leak`: memory every generation request keeps.
const LEAK_BYTES: usize = 1 << 20;
/// Bug `slow-drift`: how much longer each generation request waits than the one before.
const DRIFT_PER_REQUEST: Duration = Duration::from_millis(5);

/// Shared state of the server.
struct App {
    args: ServerArgs,
    sup: Arc<Supervisor>,
    metrics: Metrics,
    slots: Arc<Semaphore>,
    /// Streaming responses started (bug `drop-stream` drops every 4th).
    streams: AtomicU64,
    /// Request ids generated so far.
    ids: AtomicU64,
    /// Generation requests received (bugs `crash-under-load`, `hang-under-load` count them).
    received: AtomicU64,
    /// Makes generated request ids differ between server runs.
    nonce: u64,
    /// Bugs `slow-leak` and `fd-leak`: what every request kept for good.
    kept: std::sync::Mutex<Kept>,
}

/// What the slow bugs keep from every request.
#[derive(Default)]
struct Kept {
    /// `slow-leak`: [`LEAK_BYTES`] per request, written so that it is resident.
    memory: Vec<Vec<u8>>,
    /// `fd-leak`: one open descriptor per request.
    files: Vec<std::fs::File>,
}

type Shared = Arc<App>;

/// The request id (from `X-Request-Id`, or generated), for handlers.
#[derive(Debug, Clone)]
struct RequestId(String);

/// Serve until SIGTERM/SIGINT (exit code 0) or until the dead engine asks for an exit (1).
pub fn serve(args: ServerArgs) -> io::Result<i32> {
    if args.has_bug(Bug::EscapeSetsid) {
        // Before any thread starts, and before the port is bound: the escapee holds nothing.
        super::escape::escape()?;
    }
    // One thread: plenty for a mock, and it keeps the engine's parent-death signal tied to
    // the main thread (PDEATHSIG fires when the *thread* that forked the child exits).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(args: ServerArgs) -> io::Result<i32> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let addr = listener.local_addr()?;
    let cfg = supervisor::Config {
        mode: args.engine,
        on_death: args.on_engine_death,
        timing: Timing {
            ttft: Duration::from_millis(args.ttft_ms),
            itl: Duration::from_millis(args.itl_ms),
        },
        engine_timeout: Duration::from_millis(args.engine_timeout_ms),
        hang_on_death: args.has_bug(Bug::HangOnEngineDeath),
        health_lies: args.has_bug(Bug::HealthLies),
        orphan: args.has_bug(Bug::OrphanEngine),
    };
    // Like vLLM, announce the address only once the engine is up.
    let sup = tokio::select! {
        sup = Supervisor::start(cfg) => sup?,
        _ = sigterm.recv() => return Ok(0),
        _ = sigint.recv() => return Ok(0),
    };
    let app = Arc::new(App {
        slots: Arc::new(Semaphore::new(args.max_num_seqs as usize)),
        args,
        sup: Arc::clone(&sup),
        metrics: Metrics::default(),
        streams: AtomicU64::new(0),
        ids: AtomicU64::new(0),
        received: AtomicU64::new(0),
        nonce: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()),
        kept: std::sync::Mutex::default(),
    });
    {
        // A closed stdout only means nobody wants the line; it is no reason to stop serving.
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}").and_then(|()| out.flush());
    }

    let (stop_tx, mut stop_rx) = watch::channel(false);
    // Without TCP_NODELAY, Nagle plus delayed ACKs hold back small SSE chunks by ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("WARN shakedown.mock: cannot set TCP_NODELAY: {e}");
        }
    });
    let server = axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .into_future();
    let mut server = tokio::spawn(server);
    let code = tokio::select! {
        _ = sigterm.recv() => { eprintln!("INFO shakedown.mock: SIGTERM received; shutting down"); 0 }
        _ = sigint.recv() => { eprintln!("INFO shakedown.mock: SIGINT received; shutting down"); 0 }
        code = sup.exit_requested() => code,
        r = &mut server => {
            eprintln!("ERROR shakedown.mock: the HTTP server stopped: {r:?}");
            sup.stop_engine().await;
            return Ok(1);
        }
    };

    // Stop accepting, let in-flight requests finish for a moment, then fail the rest.
    stop_tx.send_replace(true);
    let deadline = Instant::now() + DRAIN;
    while sup.inflight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sup.begin_shutdown();
    if tokio::time::timeout(CLOSE_WAIT, &mut server).await.is_err() {
        server.abort();
    }
    sup.stop_engine().await;
    Ok(code)
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), frame))
        .with_state(app)
}

/// The `handler` label: known routes by name, everything else lumped so stray paths cannot
/// grow the metric without bound.
fn handler_label(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/completions" => "/v1/completions",
        "/v1/models" => "/v1/models",
        "/health" => "/health",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

/// Around every request: the request id, `http_requests_total`, and the optional log line.
async fn frame(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_string)
        .unwrap_or_else(|| app.new_request_id());
    req.extensions_mut().insert(RequestId(rid.clone()));
    let start = Instant::now();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    app.metrics
        .http(handler_label(&path), method.as_str(), status);
    if app.args.log_requests {
        eprintln!(
            "INFO shakedown.mock: {method} {path} {status} {}ms request_id={rid}",
            start.elapsed().as_millis()
        );
    }
    resp
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::no_route(method.as_str(), uri.path())
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::wrong_method(method.as_str(), uri.path())
}

async fn health(State(app): State<Shared>) -> StatusCode {
    if app.sup.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn models(State(app): State<Shared>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": app.args.model,
            "object": "model",
            "created": unix_now(),
            "owned_by": "shakedown",
            "root": app.args.model,
            "parent": null,
            "max_model_len": app.args.max_model_len,
            "permission": [],
        }],
    }))
    .into_response()
}

async fn metrics(State(app): State<Shared>) -> Response {
    let sample = EngineSample {
        generation_tokens: app.sup.tokens_total.load(Ordering::Relaxed),
        up: app.sup.engine_up(),
        restarts: app.sup.restarts.load(Ordering::Relaxed),
    };
    let text = app.metrics.render(&app.args.model, sample);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn chat(State(app): State<Shared>, req: Request) -> Response {
    generate(app, Endpoint::Chat, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completions(State(app): State<Shared>, req: Request) -> Response {
    generate(app, Endpoint::Completions, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A generation request from body to response.
async fn generate(app: Shared, endpoint: Endpoint, req: Request) -> Result<Response, ApiError> {
    let n = app.received.fetch_add(1, Ordering::Relaxed);
    if n >= app.args.bug_after {
        if app.args.has_bug(Bug::CrashUnderLoad) {
            // A crash nobody planned: a last word on stderr, then gone.
            eprintln!(
                "ERROR shakedown.mock: fatal: corrupted state after {n} requests (bug crash-under-load)"
            );
            std::process::exit(1);
        }
        if app.args.has_bug(Bug::HangUnderLoad) {
            // Never answer; `/health` is untouched and keeps saying 200.
            app.sup.stopped().await;
            return Err(Failure::ShuttingDown.to_api());
        }
    }
    app.keep_something();
    if app.args.has_bug(Bug::SlowDrift) {
        // Latency that grows with the requests served: a queue or cache that degrades.
        tokio::time::sleep(DRIFT_PER_REQUEST.saturating_mul(n.min(u64::from(u32::MAX)) as u32))
            .await;
    }
    let rid = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| app.new_request_id());
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    if !api::content_type_ok(ct) {
        return Err(ApiError::bad_request(format!(
            "Unsupported Content-Type `{}`; expected application/json",
            ct.unwrap_or_default()
        )));
    }
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| {
            // Over the limit is 413; a body cut short or badly framed is the client's 400.
            if error_chain(&e).contains("length limit") {
                ApiError::too_large(BODY_LIMIT)
            } else {
                ApiError::bad_request(format!(
                    "Failed to read the request body: {}",
                    error_chain(&e)
                ))
            }
        })?;
    let limits = Limits {
        model: &app.args.model,
        max_model_len: app.args.max_model_len,
        base64_500: app.args.has_bug(Bug::FiveHundredOnBadBase64),
        empty_prompt_taken: app.args.has_bug(Bug::CrashOnEmptyPrompt),
    };
    let gr = api::parse(endpoint, &body, limits)?;

    match app.sup.door() {
        Door::Open => {}
        Door::Refuse(e) => return Err(e),
        Door::Hang => {
            // Bug `hang-on-engine-death`: say nothing until the server shuts down.
            app.sup.stopped().await;
            return Err(Failure::ShuttingDown.to_api());
        }
    }
    let mut slot = app.take_slot().await?;
    if n >= app.args.bug_after && app.args.has_bug(Bug::StallAfter) {
        // The engine froze: the request holds its slot (`num_requests_running` counts it),
        // no token ever comes, and `/health` still says 200.
        app.sup.stopped().await;
        return Err(Failure::ShuttingDown.to_api());
    }
    app.metrics
        .prompt_tokens
        .fetch_add(gr.prompt_tokens(), Ordering::Relaxed);
    let wrong = app.args.has_bug(Bug::WrongAnswers);
    let mut plans = gr.plan(app.args.seed, app.args.max_model_len, wrong);
    if app.args.has_bug(Bug::Nondeterministic) {
        // Each request draws other words, whatever its seed or temperature.
        let n = app.ids.load(Ordering::Relaxed);
        for p in &mut plans {
            p.spec.key ^= n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    let seqs = plans
        .iter()
        .map(|p| app.sup.submit(p.spec.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::to_api)?;
    if gr.empty_prompt && app.args.has_bug(Bug::CrashOnEmptyPrompt) {
        // The bug (vllm#7283): the engine dies under the request; it fails as vLLM's did.
        app.sup.crash_engine("crashed on an empty prompt");
    }
    let prefix = match endpoint {
        Endpoint::Chat => "chatcmpl",
        Endpoint::Completions => "cmpl",
    };
    let ctx = RespCtx {
        id: format!("{prefix}-{rid}"),
        created: unix_now(),
        model: app.args.model.clone(),
        endpoint,
        bad_usage: app.args.has_bug(Bug::BadUsage),
        no_finish_reason: app.args.has_bug(Bug::NoFinishReason),
    };
    if gr.stream {
        stream_response(app, ctx, &gr, &plans, seqs, slot).await
    } else {
        // Dropped before this line only if the client left (the future is cancelled).
        let r = full_response(app, ctx, &gr, &plans, seqs).await;
        slot.finished = true;
        r
    }
}

/// Collect every choice, then answer with one JSON body.
async fn full_response(
    app: Shared,
    ctx: RespCtx,
    gr: &GenRequest,
    plans: &[SeqPlan],
    seqs: Vec<SeqHandle>,
) -> Result<Response, ApiError> {
    let choices = futures_util::future::try_join_all(seqs.into_iter().zip(plans).map(
        |(mut h, p)| async move {
            let mut text = String::new();
            let mut tokens = 0u64;
            loop {
                match h.next().await {
                    Some(SeqEvent::Token(t)) => {
                        text.push_str(&t);
                        tokens += 1;
                    }
                    Some(SeqEvent::Done(finish)) => {
                        return Ok((
                            Choice {
                                index: p.index,
                                text,
                                finish,
                            },
                            tokens,
                        ));
                    }
                    Some(SeqEvent::Failed(f)) => return Err(f),
                    None => return Err(Failure::Dead),
                }
            }
        },
    ))
    .await
    .map_err(Failure::to_api)?;
    let completion = choices.iter().map(|(_, t)| t).sum();
    let choices: Vec<Choice> = choices.into_iter().map(|(c, _)| c).collect();
    for c in &choices {
        app.metrics.finished(c.finish);
    }
    let usage = Usage {
        prompt: gr.prompt_tokens(),
        completion,
    };
    Ok(axum::Json(ctx.full(&choices, usage)).into_response())
}

/// Answer with server-sent events. The status is committed only once the first event is
/// in, so an engine that dies before the first token still yields a plain 500.
async fn stream_response(
    app: Shared,
    ctx: RespCtx,
    gr: &GenRequest,
    plans: &[SeqPlan],
    seqs: Vec<SeqHandle>,
    mut slot: Slot,
) -> Result<Response, ApiError> {
    let mut merged = stream::select_all(seqs.into_iter().zip(plans.iter().map(|p| p.index)).map(
        |(h, index)| {
            stream::unfold(h, |mut h| async move { h.next().await.map(|ev| (ev, h)) })
                .map(move |ev| (index, ev))
                .boxed()
        },
    ));
    let first = match merged.next().await {
        Some((_, SeqEvent::Failed(f))) => {
            slot.finished = true;
            return Err(f.to_api());
        }
        Some(first) => first,
        None => {
            slot.finished = true;
            return Err(Failure::Dead.to_api());
        }
    };
    let drop_after = (app.args.has_bug(Bug::DropStream)
        && app.streams.fetch_add(1, Ordering::Relaxed) % 4 == 3)
        .then_some(DROP_AFTER_TOKENS);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let job = StreamJob {
        app,
        ctx,
        include_usage: gr.include_usage,
        prompt_tokens: gr.prompt_tokens(),
        open: plans.len(),
        drop_after,
        slot,
    };
    tokio::spawn(job.run(first, merged, tx));
    let body = Body::from_stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// Turns one request's sequence events into SSE frames.
struct StreamJob {
    app: Shared,
    ctx: RespCtx,
    include_usage: bool,
    prompt_tokens: u64,
    /// Choices not yet finished.
    open: usize,
    /// Bug `drop-stream`: end the body after this many token chunks.
    drop_after: Option<usize>,
    /// Holds the generation slot for as long as the stream runs.
    slot: Slot,
}

impl StreamJob {
    /// The client went away mid-stream: free the slot (bug `stall-on-disconnect`: never).
    fn client_left(self) {
        if self.app.args.has_bug(Bug::StallOnDisconnect) {
            std::mem::forget(self.slot);
        }
    }

    async fn run(
        mut self,
        first: (u32, SeqEvent),
        mut merged: stream::SelectAll<BoxStream<'static, (u32, SeqEvent)>>,
        tx: mpsc::Sender<Bytes>,
    ) {
        let chat = self.ctx.endpoint == Endpoint::Chat;
        let mut started: HashSet<u32> = HashSet::new();
        let mut completion = 0u64;
        let mut next = Some(first);
        while let Some((index, ev)) = next {
            let mut frames = Vec::with_capacity(2);
            let is_new = started.insert(index);
            match ev {
                SeqEvent::Token(text) => {
                    if chat && is_new {
                        frames.push(self.ctx.role_chunk(index));
                    }
                    completion += 1;
                    frames.push(self.ctx.token_chunk(index, &text));
                }
                SeqEvent::Done(finish) => {
                    if chat && is_new {
                        frames.push(self.ctx.role_chunk(index));
                    }
                    self.app.metrics.finished(finish);
                    self.open = self.open.saturating_sub(1);
                    frames.push(self.ctx.finish_chunk(index, finish));
                }
                SeqEvent::Failed(f) => {
                    // vLLM-style error event; the body then ends, without `[DONE]`.
                    self.slot.finished = true;
                    let _ = tx.send(sse_error(&f.to_api())).await;
                    return;
                }
            }
            for frame in frames {
                if tx.send(frame).await.is_err() {
                    // The client left; dropping `merged` cancels the sequences.
                    return self.client_left();
                }
            }
            if self.drop_after.is_some_and(|n| completion as usize >= n) {
                self.slot.finished = true;
                return; // Bug `drop-stream`: a clean end of the body, mid-answer.
            }
            if self.open == 0 {
                break;
            }
            next = tokio::select! {
                ev = merged.next() => ev,
                _ = tx.closed() => return self.client_left(),
            };
        }
        self.slot.finished = true;
        if self.open > 0 {
            let _ = tx.send(sse_error(&Failure::Dead.to_api())).await;
            return;
        }
        if self.include_usage {
            let usage = Usage {
                prompt: self.prompt_tokens,
                completion,
            };
            if tx.send(self.ctx.usage_chunk(usage)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Bytes::from_static(DONE.as_bytes())).await;
    }
}

/// A generation slot; counts as running while held.
struct Slot {
    app: Shared,
    _permit: OwnedSemaphorePermit,
    /// The request ended other than by its client leaving.
    finished: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Bug `leak-on-disconnect`: a request whose client left is never counted down.
        if !self.finished && self.app.args.has_bug(Bug::LeakOnDisconnect) {
            return;
        }
        self.app.metrics.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts as waiting while held.
struct Waiting<'a>(&'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl App {
    /// A slot now, or after waiting in the queue; 503 when the queue is full.
    async fn take_slot(self: &Arc<Self>) -> Result<Slot, ApiError> {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let before = self.metrics.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&self.metrics);
                if before >= i64::from(self.args.max_waiting) {
                    return Err(ApiError::unavailable(format!(
                        "The server is overloaded: {} requests are already waiting",
                        self.args.max_waiting
                    )));
                }
                Arc::clone(&self.slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| Failure::ShuttingDown.to_api())?
            }
        };
        self.metrics.running.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            app: Arc::clone(self),
            _permit: permit,
            finished: false,
        })
    }

    /// Bugs `slow-leak` and `fd-leak`: keep memory or a descriptor of this request for good.
    fn keep_something(&self) {
        let (leak, fds) = (
            self.args.has_bug(Bug::SlowLeak),
            self.args.has_bug(Bug::FdLeak),
        );
        if !(leak || fds) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if leak {
            // Non-zero bytes: every page is written, so the leak is resident, not just reserved.
            kept.memory.push(vec![1u8; LEAK_BYTES]);
        }
        if fds && let Ok(f) = std::fs::File::open("/dev/null") {
            kept.files.push(f);
        }
    }

    /// A fresh 32-hex-digit request id.
    fn new_request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let a = KeyHasher::default().u64(self.nonce).u64(n).u64(0).finish();
        let b = KeyHasher::default().u64(self.nonce).u64(n).u64(1).finish();
        format!("{a:016x}{b:016x}")
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
