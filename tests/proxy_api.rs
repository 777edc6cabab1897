//! The Toxiproxy HTTP API, row by row: status codes and bodies as Toxiproxy's own API tests
//! assert them. Each test runs its own embedded server on a free loopback port (or a real
//! Toxiproxy: `SHAKEDOWN_TOXIPROXY`, see `util/toxiproxy.rs`).

mod util;

use serde_json::{Value, json};
use util::toxiproxy::ProxyServer;

struct Api {
    server: ProxyServer,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        let server = ProxyServer::start().await;
        Api {
            server,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.server.url());
        let mut req = self
            .http
            .request(method.parse().expect("method"), &url)
            .header("user-agent", "test");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn create(&self, name: &str) -> Value {
        let body = json!({"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"});
        let (s, v) = self.call("POST", "/proxies", Some(&body.to_string())).await;
        assert_eq!(s, 201, "{v}");
        v
    }
}

fn err(v: &Value, message: &str, status: u16) {
    assert_eq!(v, &json!({"error": message, "status": status}));
}

fn port_of(v: &Value) -> u16 {
    v["listen"]
        .as_str()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("listen has a port")
}

#[tokio::test]
async fn index_is_a_map_by_name() {
    let api = Api::start().await;
    let (s, v) = api.call("GET", "/proxies", None).await;
    assert_eq!((s, v), (200, json!({})));
    api.create("a").await;
    let (s, v) = api.call("GET", "/proxies", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["a"]["name"], "a");
    assert_eq!(v["a"]["toxics"], json!([]));
}

#[tokio::test]
async fn create_reports_the_real_port_and_defaults_enabled() {
    let api = Api::start().await;
    let v = api.create("a").await;
    assert_eq!(v["name"], "a");
    assert_eq!(v["upstream"], "127.0.0.1:1");
    assert_eq!(v["enabled"], true);
    assert_eq!(v["toxics"], json!([]));
    let port = port_of(&v);
    assert_ne!(port, 0);
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("proxy listens");
}

#[tokio::test]
async fn create_disabled_does_not_listen() {
    let api = Api::start().await;
    let body = r#"{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":false}"#;
    let (s, v) = api.call("POST", "/proxies", Some(body)).await;
    assert_eq!(s, 201);
    assert_eq!(v["enabled"], false);
}

#[tokio::test]
async fn create_twice_is_409() {
    let api = Api::start().await;
    api.create("a").await;
    let body = json!({"name": "a", "upstream": "127.0.0.1:1"}).to_string();
    let (s, v) = api.call("POST", "/proxies", Some(&body)).await;
    assert_eq!(s, 409);
    err(&v, "proxy already exists", 409);
}

#[tokio::test]
async fn create_missing_fields_or_bad_body_is_400() {
    let api = Api::start().await;
    let (s, v) = api
        .call("POST", "/proxies", Some(r#"{"upstream":"x:1"}"#))
        .await;
    assert_eq!(s, 400);
    err(&v, "missing required field: name", 400);
    let (s, v) = api.call("POST", "/proxies", Some(r#"{"name":"a"}"#)).await;
    assert_eq!(s, 400);
    err(&v, "missing required field: upstream", 400);
    let (s, v) = api.call("POST", "/proxies", Some("{not json")).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("bad request body"),
        "{v}"
    );
    assert_eq!(v["status"], 400);
}

#[tokio::test]
async fn populate_creates_all_and_keeps_identical_ones() {
    let api = Api::start().await;
    let body = r#"[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"},
                   {"name":"b","listen":"127.0.0.1:0","upstream":"127.0.0.1:2","enabled":false}]"#;
    let (s, v) = api.call("POST", "/populate", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let proxies = v["proxies"].as_array().expect("list");
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[1]["enabled"], false);
    // Same name, listen and upstream: left alone, toxics included.
    let a = api.call("GET", "/proxies/a", None).await.1;
    let listen = a["listen"].as_str().expect("listen").to_string();
    api.call(
        "POST",
        "/proxies/a/toxics",
        Some(r#"{"type":"latency","attributes":{"latency":10}}"#),
    )
    .await;
    let again = json!([{"name": "a", "listen": listen, "upstream": "127.0.0.1:1"}]).to_string();
    let (s, v) = api.call("POST", "/populate", Some(&again)).await;
    assert_eq!(s, 201);
    let kept = api.call("GET", "/proxies/a", None).await.1;
    assert_eq!(kept["toxics"][0]["name"], "latency_downstream", "{kept}");
    assert_eq!(kept["listen"], listen);
    if !util::toxiproxy::real() {
        // Toxiproxy answers with a fresh, unstarted copy here; the kept proxy is more use.
        assert_eq!(v["proxies"][0], kept);
    }
}

#[tokio::test]
async fn populate_with_a_bad_entry_creates_nothing() {
    let api = Api::start().await;
    let body = r#"[{"name":"a","upstream":"127.0.0.1:1"},{"name":"b"}]"#;
    let (s, v) = api.call("POST", "/populate", Some(body)).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "missing required field: upstream at proxy 2");
    assert_eq!(v["status"], 400);
    assert_eq!(api.call("GET", "/proxies", None).await.1, json!({}));
    let (s, v) = api.call("POST", "/populate", Some("{}")).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("bad request body")
    );
}

#[tokio::test]
async fn show_and_unknown_proxy() {
    let api = Api::start().await;
    let created = api.create("a").await;
    let (s, v) = api.call("GET", "/proxies/a", None).await;
    assert_eq!((s, &v), (200, &created));
    let (s, v) = api.call("GET", "/proxies/nope", None).await;
    assert_eq!(s, 404);
    err(&v, "proxy not found", 404);
}

#[tokio::test]
async fn patch_keeps_unset_fields_and_disabling_refuses_connections() {
    let api = Api::start().await;
    let created = api.create("a").await;
    let port = port_of(&created);
    let (s, v) = api
        .call("PATCH", "/proxies/a", Some(r#"{"enabled":false}"#))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["upstream"], created["upstream"]);
    assert_eq!(v["listen"], created["listen"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // The deprecated POST does the same; re-enabling listens on the same port again.
    let (s, v) = api
        .call("POST", "/proxies/a", Some(r#"{"enabled":true}"#))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["enabled"], true);
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("listens again");
    let (s, v) = api
        .call("PATCH", "/proxies/a", Some(r#"{"upstream":"127.0.0.1:3"}"#))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["upstream"], "127.0.0.1:3");
    assert_eq!(v["enabled"], true);
    let (s, v) = api.call("PATCH", "/proxies/nope", Some("{}")).await;
    assert_eq!(s, 404);
    err(&v, "proxy not found", 404);
}

#[tokio::test]
async fn delete_proxy() {
    let api = Api::start().await;
    let port = port_of(&api.create("a").await);
    let (s, _) = api.call("DELETE", "/proxies/a", None).await;
    assert_eq!(s, 204);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let (s, v) = api.call("DELETE", "/proxies/a", None).await;
    assert_eq!(s, 404);
    err(&v, "proxy not found", 404);
}

#[tokio::test]
async fn toxic_create_defaults_and_index() {
    let api = Api::start().await;
    api.create("a").await;
    let (s, v) = api
        .call(
            "POST",
            "/proxies/a/toxics",
            Some(r#"{"type":"latency","attributes":{"latency":100}}"#),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
               "toxicity": 1, "attributes": {"latency": 100, "jitter": 0}})
    );
    let (s, list) = api.call("GET", "/proxies/a/toxics", None).await;
    assert_eq!((s, list), (200, json!([v])));
    let (s, v) = api.call("GET", "/proxies/nope/toxics", None).await;
    assert_eq!(s, 404);
    err(&v, "proxy not found", 404);
}

#[tokio::test]
async fn toxic_names_are_one_space_across_streams() {
    let api = Api::start().await;
    api.create("a").await;
    let body = r#"{"name":"x","type":"timeout","stream":"upstream"}"#;
    assert_eq!(
        api.call("POST", "/proxies/a/toxics", Some(body)).await.0,
        200
    );
    let body = r#"{"name":"x","type":"latency","stream":"downstream"}"#;
    let (s, v) = api.call("POST", "/proxies/a/toxics", Some(body)).await;
    assert_eq!(s, 409);
    err(&v, "toxic already exists", 409);
}

#[tokio::test]
async fn toxic_unknown_type_or_stream_is_400() {
    let api = Api::start().await;
    api.create("a").await;
    let (s, v) = api
        .call("POST", "/proxies/a/toxics", Some(r#"{"type":"nope"}"#))
        .await;
    assert_eq!(s, 400);
    err(&v, "invalid toxic type", 400);
    let (s, v) = api
        .call(
            "POST",
            "/proxies/a/toxics",
            Some(r#"{"type":"latency","stream":"sideways"}"#),
        )
        .await;
    assert_eq!(s, 400);
    err(
        &v,
        "stream was invalid, can be either upstream or downstream",
        400,
    );
}

#[tokio::test]
async fn toxic_show_patch_delete() {
    let api = Api::start().await;
    api.create("a").await;
    let body =
        r#"{"name":"l","type":"latency","toxicity":0.5,"attributes":{"latency":100,"jitter":5}}"#;
    api.call("POST", "/proxies/a/toxics", Some(body)).await;
    let (s, v) = api.call("GET", "/proxies/a/toxics/l", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["toxicity"], 0.5);
    // Attributes merge; toxicity stays when omitted.
    let (s, v) = api
        .call(
            "PATCH",
            "/proxies/a/toxics/l",
            Some(r#"{"attributes":{"latency":7}}"#),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["attributes"], json!({"latency": 7, "jitter": 5}));
    assert_eq!(v["toxicity"], 0.5);
    let (s, v) = api
        .call("PATCH", "/proxies/a/toxics/nope", Some("{}"))
        .await;
    assert_eq!(s, 404);
    err(&v, "toxic not found", 404);
    let (s, _) = api.call("DELETE", "/proxies/a/toxics/l", None).await;
    assert_eq!(s, 204);
    let (s, v) = api.call("GET", "/proxies/a/toxics/l", None).await;
    assert_eq!(s, 404);
    err(&v, "toxic not found", 404);
    let (s, v) = api.call("DELETE", "/proxies/a/toxics/l", None).await;
    assert_eq!(s, 404);
    err(&v, "toxic not found", 404);
}

#[tokio::test]
async fn reset_enables_all_and_removes_toxics() {
    let api = Api::start().await;
    api.create("a").await;
    api.call("POST", "/proxies/a/toxics", Some(r#"{"type":"timeout"}"#))
        .await;
    api.call("PATCH", "/proxies/a", Some(r#"{"enabled":false}"#))
        .await;
    let (s, v) = api.call("POST", "/reset", None).await;
    assert_eq!(s, 204, "{v}");
    let (_, v) = api.call("GET", "/proxies/a", None).await;
    assert_eq!(v["enabled"], true);
    assert_eq!(v["toxics"], json!([]));
}

#[tokio::test]
async fn version() {
    let api = Api::start().await;
    let (s, v) = api.call("GET", "/version", None).await;
    assert_eq!(s, 200);
    if !util::toxiproxy::real() {
        assert_eq!(v["version"], shakedown::proxy::VERSION);
    }
}

#[tokio::test]
async fn the_client_updates_by_post_where_patch_is_405() {
    // An older Toxiproxy: updates by POST only (PATCH answers 405 Method Not Allowed).
    let app = axum::Router::new().route(
        "/proxies/{name}",
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move {
            axum::Json(
                json!({"name": "p", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2",
                              "enabled": v["enabled"], "toxics": []}),
            )
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(l, app).await });
    let client = shakedown::proxy::Client::new(&url).expect("client");
    let p = client
        .set_enabled("p", false)
        .await
        .expect("update by POST");
    assert!(!p.enabled);
}

#[tokio::test]
async fn browsers_are_refused() {
    let api = Api::start().await;
    let resp = api
        .http
        .get(format!("{}/proxies", api.server.url()))
        .header("user-agent", "Mozilla/5.0 (X11)")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(
        resp.text().await.expect("body").trim(),
        "User agent not allowed"
    );
}

#[tokio::test]
async fn cli_serves_the_api_on_the_given_address() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn shakedown proxy");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the address line");
    let url = line
        .split_whitespace()
        .last()
        .expect("a URL at the end")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let v: Value = reqwest::get(format!("{url}/version"))
        .await
        .expect("GET /version")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"], shakedown::proxy::VERSION);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}
