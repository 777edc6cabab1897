//! The mock model service as a real process: HTTP shape, validation, metrics, the engine
//! process's deaths and freezes, each deliberate bug, and shutdown.

#[path = "util/mock.rs"]
mod mock;

use futures_util::StreamExt;
use mock::{Mock, alive, client, eventually, gone, sse_events};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn chat_body(max_tokens: u32) -> Value {
    json!({"model": "mock-model", "messages": [{"role": "user", "content": "Say something."}], "max_tokens": max_tokens})
}

async fn post(m: &Mock, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(m.url(path))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn post_json(m: &Mock, path: &str, body: &Value) -> (u16, Value) {
    let r = post(m, path, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

async fn health(m: &Mock) -> u16 {
    match client().get(m.url("/health")).timeout(SECOND).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn wait_health(m: &Mock, want: u16, within: Duration) {
    eventually(within, &format!("/health {want}"), || async {
        (health(m).await == want).then_some(())
    })
    .await;
}

/// A streaming response being read chunk by chunk.
struct Sse {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    text: String,
}

impl Sse {
    async fn open(m: &Mock, path: &str, body: &Value) -> Sse {
        let r = post(m, path, body).await;
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/event-stream")
        );
        Sse {
            stream: r.bytes_stream().boxed(),
            text: String::new(),
        }
    }

    /// Read until `needle` shows up in the body; false if the body ends first.
    async fn read_until(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.text.contains(needle) {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.text.push_str(&String::from_utf8_lossy(&b)),
                Ok(Some(Err(e))) => panic!("stream broke: {e}"),
                Ok(None) => return false,
                Err(_) => panic!("`{needle}` not seen within {within:?}; got:\n{}", self.text),
            }
        }
        true
    }

    /// Read to the clean end of the body; `Err` if still open after `within`.
    async fn finish(&mut self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.text.push_str(&String::from_utf8_lossy(&b)),
                Ok(Some(Err(e))) => panic!("stream broke: {e}"),
                Ok(None) => return Ok(()),
                Err(_) => return Err(self.text.clone()),
            }
        }
    }
}

fn assert_openai_error(body: &Value, code: u16, kind: &str, param: Option<&str>) {
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(e["type"], kind, "{body}");
    assert_eq!(e["code"], code, "{body}");
    assert_eq!(e["param"].as_str(), param, "{body}");
}

#[tokio::test]
async fn non_streaming_responses_have_the_openai_shape() {
    let m = Mock::start(&[]);
    let r = client()
        .post(m.url("/v1/chat/completions"))
        .header("X-Request-Id", "req-42")
        .json(&chat_body(5))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "chatcmpl-req-42");
    assert_eq!(v["model"], "mock-model");
    assert!(v["created"].as_u64().is_some());
    let c = &v["choices"][0];
    assert_eq!(
        (c["index"].as_u64(), c["finish_reason"].as_str()),
        (Some(0), Some("length"))
    );
    assert_eq!(c["message"]["role"], "assistant");
    assert_eq!(
        c["message"]["content"]
            .as_str()
            .expect("content")
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["prompt_tokens"], 3); // "user: Say something."
    assert_eq!(v["usage"]["total_tokens"], 8);

    let (status, v) = post_json(
        &m,
        "/v1/completions",
        &json!({"prompt": "Once upon", "max_tokens": 4, "n": 2}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("cmpl-")));
    let choices = v["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 2);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert!(
            c["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(' ') && t.split_whitespace().count() == 4)
        );
    }
    assert_ne!(choices[0]["text"], choices[1]["text"]);
    assert_eq!(v["usage"]["completion_tokens"], 8);

    // Without max_tokens the model stops on its own.
    let (_, v) = post_json(&m, "/v1/completions", &json!({"prompt": "Once upon"})).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let r = client()
        .get(m.url("/v1/models"))
        .send()
        .await
        .expect("sent");
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        (v["object"].as_str(), v["data"][0]["id"].as_str()),
        (Some("list"), Some("mock-model"))
    );
    assert_eq!(health(&m).await, 200);
}

#[tokio::test]
async fn streams_carry_tokens_usage_and_done() {
    let m = Mock::start(&[]);
    let mut body = chat_body(6);
    body["seed"] = json!(11);
    let (_, full) = post_json(&m, "/v1/chat/completions", &body).await;
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let mut s = Sse::open(&m, "/v1/chat/completions", &body).await;
    s.finish(5 * SECOND).await.expect("stream ends");
    let events = sse_events(&s.text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    // Streaming or not, the same request gives the same text.
    assert_eq!(
        text,
        full["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 6);

    let body = json!({"prompt": "abc", "max_tokens": 3, "stream": true});
    let mut s = Sse::open(&m, "/v1/completions", &body).await;
    s.finish(5 * SECOND).await.expect("stream ends");
    let events = sse_events(&s.text);
    assert_eq!(events.len(), 5, "{events:?}"); // 3 tokens, finish, [DONE]
    assert_eq!(events[4], "[DONE]");
    let first: Value = serde_json::from_str(&events[0]).expect("chunk");
    assert_eq!(first["object"], "text_completion");
    assert!(
        first["choices"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn output_follows_the_seeds() {
    let a = Mock::start(&[]);
    let b = Mock::start(&["--seed", "7"]);
    let text = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
            .to_string()
    };
    let mut body = chat_body(12);
    body["seed"] = json!(1);
    let first = text(post_json(&a, "/v1/chat/completions", &body).await.1);
    assert_eq!(
        first,
        text(post_json(&a, "/v1/chat/completions", &body).await.1)
    );
    assert_ne!(
        first,
        text(post_json(&b, "/v1/chat/completions", &body).await.1)
    );
    body["seed"] = json!(2);
    assert_ne!(
        first,
        text(post_json(&a, "/v1/chat/completions", &body).await.1)
    );
}

#[tokio::test]
async fn invalid_requests_get_openai_errors() {
    let m = Mock::start(&["--max-model-len", "100"]);
    let raw = |body: &'static str, ct: &'static str| {
        let req = client()
            .post(m.url("/v1/chat/completions"))
            .header("content-type", ct)
            .body(body);
        async move {
            let r = req.send().await.expect("sent");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("JSON error body"))
        }
    };
    let (status, v) = raw("{not json", "application/json").await;
    assert_eq!(status, 400);
    assert_openai_error(&v, 400, "BadRequestError", None);
    let (status, v) = raw(
        r#"{"messages":[{"role":"user","content":"x"}]}"#,
        "text/plain",
    )
    .await;
    assert_eq!(status, 400);
    assert_openai_error(&v, 400, "BadRequestError", None);

    let msgs = json!([{"role": "user", "content": "x"}]);
    let cases = [
        (json!({"messages": "hello"}), "messages"),
        (
            json!({"messages": [{"role": "user"}], "max_tokens": 1, "stream": "yes"}),
            "stream",
        ),
        (json!({"messages": msgs, "stream": "yes"}), "stream"),
        (
            json!({"messages": msgs, "temperature": "warm"}),
            "temperature",
        ),
        (json!({"messages": msgs, "temperature": 2.5}), "temperature"),
        (json!({"messages": msgs, "top_p": 0}), "top_p"),
        (json!({"messages": msgs, "max_tokens": 0}), "max_tokens"),
        (json!({"messages": msgs, "max_tokens": 101}), "max_tokens"),
        (json!({"messages": msgs, "n": 0}), "n"),
        (
            json!({"messages": msgs, "presence_penalty": -3}),
            "presence_penalty",
        ),
        (json!({"messages": msgs, "top_logprobs": 3}), "top_logprobs"),
    ];
    for (body, param) in cases {
        let (status, v) = post_json(&m, "/v1/chat/completions", &body).await;
        assert_eq!(status, 400, "{body}");
        assert_openai_error(&v, 400, "BadRequestError", Some(param));
    }
    for (body, param) in [
        (json!({"max_tokens": 2}), "prompt"),
        (json!({"prompt": "x", "logprobs": 21}), "logprobs"),
    ] {
        let (status, v) = post_json(&m, "/v1/completions", &body).await;
        assert_eq!(status, 400, "{body}");
        assert_openai_error(&v, 400, "BadRequestError", Some(param));
    }

    let (status, v) = post_json(
        &m,
        "/v1/chat/completions",
        &json!({"model": "gpt-9", "messages": msgs}),
    )
    .await;
    assert_eq!(status, 404);
    assert_openai_error(&v, 404, "NotFoundError", Some("model"));
    assert_eq!(v["error"]["message"], "The model `gpt-9` does not exist.");

    let r = client()
        .get(m.url("/v2/nothing"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 404);
    assert_openai_error(&r.json().await.expect("json"), 404, "NotFoundError", None);
    let r = client()
        .get(m.url("/v1/chat/completions"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 405);
    assert_openai_error(
        &r.json().await.expect("json"),
        405,
        "MethodNotAllowedError",
        None,
    );
    assert_eq!(health(&m).await, 200, "bad input must not hurt the server");
}

#[tokio::test]
async fn queue_overflow_is_503() {
    let m = Mock::start(&[
        "--max-num-seqs",
        "1",
        "--max-waiting",
        "1",
        "--ttft-ms",
        "400",
    ]);
    let body = chat_body(1);
    let (a, b, c) = tokio::join!(
        post_json(&m, "/v1/chat/completions", &body),
        post_json(&m, "/v1/chat/completions", &body),
        post_json(&m, "/v1/chat/completions", &body),
    );
    let mut statuses = [a.0, b.0, c.0];
    statuses.sort();
    assert_eq!(statuses, [200, 200, 503]);
    let rejected = [a, b, c]
        .into_iter()
        .find(|(s, _)| *s == 503)
        .expect("one rejected")
        .1;
    assert_openai_error(&rejected, 503, "ServiceUnavailableError", None);
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn metrics_show_running_requests() {
    let m = Mock::start(&["--ttft-ms", "600", "--model", "tiny"]);
    let scrape = || async {
        client()
            .get(m.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text")
    };
    let text = scrape().await;
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:generation_tokens_total",
        "http_requests_total",
        "process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} HELP missing:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} TYPE missing:\n{text}"
        );
    }
    assert!(
        text.contains("vllm:num_requests_running{model_name=\"tiny\"} 0"),
        "{text}"
    );
    assert_eq!(gauge(&text, "vllm:generation_tokens_total"), Some(0.0));

    let body = json!({"model": "tiny", "prompt": "x", "max_tokens": 2});
    let slow = tokio::spawn({
        let req = client().post(m.url("/v1/completions")).json(&body);
        async move { req.send().await.expect("sent").status().as_u16() }
    });
    eventually(SECOND, "running gauge at 1", || async {
        (gauge(&scrape().await, "vllm:num_requests_running") == Some(1.0)).then_some(())
    })
    .await;
    assert_eq!(slow.await.expect("joined"), 200);
    eventually(SECOND, "running gauge back at 0", || async {
        (gauge(&scrape().await, "vllm:num_requests_running") == Some(0.0)).then_some(())
    })
    .await;
    let text = scrape().await;
    assert_eq!(gauge(&text, "vllm:generation_tokens_total"), Some(2.0));
    assert!(
        text.contains(
            "http_requests_total{handler=\"/v1/completions\",method=\"POST\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        gauge(
            &text.replace(
                "process_resident_memory_bytes ",
                "process_resident_memory_bytes{} "
            ),
            "process_resident_memory_bytes"
        )
        .is_some_and(|b| b > 0.0)
    );
}

#[tokio::test]
async fn killed_engine_fails_requests_and_the_server_exits() {
    let mut m = Mock::start(&["--engine", "process", "--itl-ms", "20"]);
    let engine = m.engine_pid();
    assert_eq!(mock::argv(engine)[0], "shakedown::engine");
    assert_eq!(mock::comm(engine), "shakedown-engin");
    assert_eq!(
        mock::pgid(engine),
        mock::pgid(m.pid()),
        "the engine stays in the server's group"
    );

    let mut body = chat_body(1000);
    body["stream"] = json!(true);
    let mut s = Sse::open(&m, "/v1/chat/completions", &body).await;
    assert!(s.read_until("\"content\":\" ", 2 * SECOND).await);
    let pending = tokio::spawn(post_json_owned(
        m.url("/v1/completions"),
        json!({"prompt": "x", "max_tokens": 1000}),
    ));
    // Let the non-streaming request reach the engine before the kill.
    eventually(SECOND, "two requests in the engine", || async {
        let t = client()
            .get(m.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (gauge(&t, "vllm:num_requests_running") == Some(2.0)).then_some(())
    })
    .await;

    let killed = Instant::now();
    mock::signal(engine, libc::SIGKILL);
    s.finish(2 * SECOND)
        .await
        .expect("stream closed after the engine died");
    assert!(killed.elapsed() < 2 * SECOND);
    let last = sse_events(&s.text).pop().expect("an event");
    assert!(!s.text.contains("[DONE]"));
    assert_openai_error(
        &serde_json::from_str(&last).expect("error JSON"),
        500,
        "InternalServerError",
        None,
    );
    let (status, v) = pending.await.expect("joined");
    assert_eq!(status, 500);
    assert_eq!(
        v,
        json!({"error": {"message": "EngineDeadError: engine process died", "type": "InternalServerError", "param": null, "code": 500}})
    );

    let status = m
        .wait_exit(3 * SECOND)
        .expect("server exits after its engine died");
    assert_eq!(status.code(), Some(1));
    let log = m.stderr();
    assert!(
        log.contains(&format!(
            "ERROR shakedown.mock: EngineDeadError: engine process (pid {engine}) died: signal 9"
        )),
        "{log}"
    );
}

async fn post_json_owned(url: String, body: Value) -> (u16, Value) {
    let r = client().post(url).json(&body).send().await.expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

#[tokio::test]
async fn engine_dies_with_the_server() {
    let mut m = Mock::start(&["--engine", "process"]);
    let engine = m.engine_pid();
    m.signal(libc::SIGKILL);
    m.wait_exit(2 * SECOND).expect("server killed");
    gone(engine, 2 * SECOND).await;
}

#[tokio::test]
async fn respawn_brings_a_new_engine() {
    let m = Mock::start(&["--engine", "process", "--on-engine-death", "respawn"]);
    let first = m.engine_pid();
    mock::signal(first, libc::SIGKILL);
    wait_health(&m, 503, SECOND).await;
    wait_health(&m, 200, 3 * SECOND).await;
    let second = m.engine_pid();
    assert_ne!(first, second);
    let (status, _) = post_json(&m, "/v1/chat/completions", &chat_body(3)).await;
    assert_eq!(status, 200);
    let text = client()
        .get(m.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert_eq!(
        gauge(&text, "shakedown_mock_engine_restarts_total"),
        Some(1.0)
    );
}

#[tokio::test]
async fn stay_answers_503_after_engine_death() {
    let mut m = Mock::start(&["--engine", "process", "--on-engine-death", "stay"]);
    let engine = m.engine_pid();
    mock::signal(engine, libc::SIGKILL);
    wait_health(&m, 503, SECOND).await;
    let (status, v) = post_json(&m, "/v1/chat/completions", &chat_body(3)).await;
    assert_eq!(status, 503);
    assert_openai_error(&v, 503, "ServiceUnavailableError", None);
    assert!(
        m.wait_exit(Duration::from_millis(500)).is_none(),
        "stay keeps the server up"
    );
    assert_eq!(health(&m).await, 503);
}

#[tokio::test]
async fn frozen_engine_turns_health_red_and_times_requests_out() {
    let m = Mock::start(&[
        "--engine",
        "process",
        "--engine-timeout-ms",
        "1200",
        "--itl-ms",
        "20",
    ]);
    let engine = m.engine_pid();
    let mut body = chat_body(1000);
    body["stream"] = json!(true);
    let mut s = Sse::open(&m, "/v1/chat/completions", &body).await;
    assert!(s.read_until("\"content\":\" ", 2 * SECOND).await);

    mock::signal(engine, libc::SIGSTOP);
    let frozen = Instant::now();
    wait_health(&m, 503, 1500 * Duration::from_millis(1)).await;
    s.finish(3 * SECOND)
        .await
        .expect("the stuck stream gets an error and ends");
    assert!(frozen.elapsed() < 3 * SECOND);
    let last = sse_events(&s.text).pop().expect("an event");
    let err: Value = serde_json::from_str(&last).expect("error JSON");
    assert_openai_error(&err, 503, "ServiceUnavailableError", None);
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|msg| msg.contains("EngineTimeoutError"))
    );

    mock::signal(engine, libc::SIGCONT);
    wait_health(&m, 200, 1500 * Duration::from_millis(1)).await;
    let (status, _) = post_json(&m, "/v1/chat/completions", &chat_body(2)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bug_hang_on_engine_death_leaves_requests_hanging() {
    let mut m = Mock::start(&["--engine", "process", "--bug", "hang-on-engine-death"]);
    let engine = m.engine_pid();
    let mut body = chat_body(1000);
    body["stream"] = json!(true);
    let mut s = Sse::open(&m, "/v1/chat/completions", &body).await;
    assert!(s.read_until("\"content\":\" ", 2 * SECOND).await);
    mock::signal(engine, libc::SIGKILL);
    wait_health(&m, 503, SECOND).await;
    let fresh = client()
        .post(m.url("/v1/chat/completions"))
        .json(&chat_body(2))
        .timeout(2 * SECOND)
        .send();
    let (fresh, open) = tokio::join!(fresh, s.finish(2500 * Duration::from_millis(1)));
    assert!(
        fresh.is_err_and(|e| e.is_timeout()),
        "a new request must hang"
    );
    let seen = open.expect_err("the in-flight stream must stay open");
    assert!(!seen.contains("error") && !seen.contains("[DONE]"));
    assert!(m.wait_exit(Duration::ZERO).is_none(), "nothing exits");
    assert!(
        mock::children(m.pid()).iter().all(|p| !alive(*p)),
        "nothing restarts"
    );
}

#[tokio::test]
async fn bug_health_lies_after_engine_death() {
    let m = Mock::start(&[
        "--engine",
        "process",
        "--on-engine-death",
        "stay",
        "--bug",
        "health-lies",
    ]);
    let engine = m.engine_pid();
    mock::signal(engine, libc::SIGKILL);
    gone(engine, SECOND).await;
    eventually(SECOND, "requests failing", || async {
        (post_json(&m, "/v1/chat/completions", &chat_body(2)).await.0 == 503).then_some(())
    })
    .await;
    assert_eq!(health(&m).await, 200);
}

#[tokio::test]
async fn bug_orphan_engine_outlives_the_server() {
    let mut m = Mock::start(&["--engine", "process", "--bug", "orphan-engine"]);
    let engine = m.engine_pid();
    m.also_kill(engine);
    assert_ne!(mock::pgid(engine), mock::pgid(m.pid()));
    assert_ne!(mock::sid(engine), mock::sid(m.pid()));
    m.signal(libc::SIGKILL);
    m.wait_exit(2 * SECOND).expect("server killed");
    // Give a parent-death signal, were there one, ample time to land.
    let check = Instant::now() + Duration::from_millis(500);
    while Instant::now() < check {
        assert!(alive(engine), "the orphan should outlive its server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mock::signal(engine, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(alive(engine), "the orphan ignores SIGTERM");
    mock::signal(engine, libc::SIGKILL);
    gone(engine, 2 * SECOND).await;
}

#[tokio::test]
async fn bug_drop_stream_ends_every_fourth_stream_early() {
    let m = Mock::start(&["--bug", "drop-stream", "--itl-ms", "2"]);
    let body = json!({"prompt": "x", "max_tokens": 10, "stream": true});
    let mut done = Vec::new();
    for _ in 0..4 {
        let mut s = Sse::open(&m, "/v1/completions", &body).await;
        s.finish(5 * SECOND).await.expect("the body ends cleanly");
        assert!(!s.text.contains("\"error\""));
        done.push(s.text.ends_with("data: [DONE]\n\n"));
    }
    assert_eq!(done, [true, true, true, false]);
}

#[tokio::test]
async fn sigterm_exits_zero_and_takes_the_engine_down() {
    let mut m = Mock::start(&["--engine", "process"]);
    let engine = m.engine_pid();
    let mut body = chat_body(1000);
    body["stream"] = json!(true);
    let mut s = Sse::open(&m, "/v1/chat/completions", &body).await;
    assert!(s.read_until("\"content\":\" ", 2 * SECOND).await);
    let t = Instant::now();
    m.signal(libc::SIGTERM);
    s.finish(2 * SECOND).await.expect("in-flight stream ended");
    let status = m.wait_exit(2 * SECOND).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < 2 * SECOND, "took {:?}", t.elapsed());
    assert!(!alive(engine));
}

#[test]
fn unknown_bug_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["mock-server", "--port", "0", "--bug", "set-fire"])
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set-fire"));
}

#[tokio::test]
async fn first_token_is_not_held_back_by_the_socket() {
    // With Nagle's algorithm on, the role and first token chunks (two small writes) wait for
    // a delayed ACK: 40 ms or more on every keep-alive request after the first.
    let m = Mock::start(&["--ttft-ms", "0", "--itl-ms", "1"]);
    let http = client();
    let mut body = chat_body(3);
    body["stream"] = json!(true);
    let mut waits = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let r = http
            .post(m.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let mut stream = r.bytes_stream();
        let mut text = String::new();
        let mut first = None;
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if first.is_none() && text.contains("\"delta\":{\"content\":\"") {
                first = Some(t.elapsed());
            }
        }
        assert!(text.ends_with("data: [DONE]\n\n"));
        waits.push(first.expect("a content chunk"));
    }
    waits.sort();
    assert!(
        waits[3] < Duration::from_millis(35),
        "time to first token: {waits:?}"
    );
}
