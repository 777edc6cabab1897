//! The proxies of one server: their listeners, links and toxics, and every operation the API offers.
//!
//! Operations are synchronous and hold the lock only briefly (binding a listener is a
//! syscall); links and listeners run as tasks that are told to stop through tokens.

use super::link;
use super::toxic::{Effect, Stream, Toxic};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, MutexGuard, watch};
use tokio_util::sync::CancellationToken;

/// An API error: Toxiproxy's message and status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Toxiproxy's text, e.g. `proxy not found`.
    pub message: String,
    /// HTTP status.
    pub status: u16,
}

impl ApiError {
    fn new(message: impl Into<String>, status: u16) -> Self {
        ApiError {
            message: message.into(),
            status,
        }
    }
    fn bad_body(e: impl std::fmt::Display) -> Self {
        Self::new(format!("bad request body: {e}"), 400)
    }
    fn missing(field: &str) -> Self {
        Self::new(format!("missing required field: {field}"), 400)
    }
    fn proxy_not_found() -> Self {
        Self::new("proxy not found", 404)
    }
    fn toxic_not_found() -> Self {
        Self::new("toxic not found", 404)
    }
}

/// The body of a proxy create, update or populate entry.
#[derive(Debug, Default, Deserialize)]
struct ProxyInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// The body of a toxic create.
#[derive(Debug, Deserialize)]
struct ToxicInput {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    toxicity: Option<f32>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
}

/// The body of a toxic update.
#[derive(Debug, Deserialize)]
struct ToxicPatch {
    #[serde(default)]
    toxicity: Option<f32>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
}

/// One proxy.
struct Proxy {
    name: String,
    /// What was asked for, then (once bound) the real address, so a re-enable reuses the port.
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    /// Stops the listener and every link; `Some` while enabled.
    running: Option<CancellationToken>,
    /// The accept loop, awaited on stop so the port is free again when stop returns.
    accepting: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics.borrow().iter().map(Toxic::to_json).collect::<Vec<_>>(),
        })
    }

    fn start(&mut self, seed: u64, links: Arc<AtomicU64>) -> Result<(), ApiError> {
        if self.running.is_some() {
            return Ok(());
        }
        let std_listener = std::net::TcpListener::bind(&self.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| ApiError::new(format!("listen tcp {}: {e}", self.listen), 500))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| ApiError::new(format!("listen tcp {}: {e}", self.listen), 500))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| ApiError::new(format!("listen tcp {}: {e}", self.listen), 500))?;
        self.listen = addr.to_string();
        let stop = CancellationToken::new();
        let (toxics, upstream) = (self.toxics.subscribe(), self.upstream.clone());
        let token = stop.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else {
                    // Out of fds or similar: back off instead of spinning on the error.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let (toxics, upstream, kill) =
                    (toxics.clone(), upstream.clone(), token.child_token());
                // Each link draws its toxicity rolls from its own seeded stream (`link::rolls`).
                let n = links.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let connect = tokio::select! {
                        () = kill.cancelled() => return,
                        c = tokio::net::TcpStream::connect(&upstream) => c,
                    };
                    // Upstream refused: close the client at once, as Toxiproxy does.
                    let Ok(up) = connect else {
                        tracing::debug!(link = n, %upstream, "upstream refused; client closed");
                        return;
                    };
                    tracing::debug!(link = n, %upstream, "connection open");
                    link::run(client, up, toxics, kill, (seed, n)).await;
                    tracing::debug!(link = n, "connection closed");
                });
            }
        });
        self.running = Some(stop);
        self.accepting = Some(accepting);
        self.enabled = true;
        Ok(())
    }

    async fn stop(&mut self) {
        self.cancel();
        if let Some(t) = self.accepting.take() {
            let _ = t.await;
        }
    }

    /// Stop without waiting for the listener to close.
    fn cancel(&mut self) {
        if let Some(t) = self.running.take() {
            t.cancel();
        }
        self.enabled = false;
    }

    fn find(&self, name: &str) -> Option<Toxic> {
        self.toxics
            .borrow()
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }
}

/// Every proxy of one server.
pub struct Collection {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    seed: u64,
    links: Arc<AtomicU64>,
}

impl Drop for Collection {
    fn drop(&mut self) {
        for p in self.proxies.get_mut().values_mut() {
            p.cancel();
        }
    }
}

impl Collection {
    /// An empty collection; toxicity rolls derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Collection {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            links: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Proxy>> {
        self.proxies.lock().await
    }

    /// Stop every listener and link (the server is going away).
    pub async fn stop_all(&self) {
        for p in self.lock().await.values_mut() {
            p.stop().await;
        }
    }

    /// `GET /proxies`: every proxy by name.
    pub async fn list(&self) -> Value {
        Value::Object(
            self.lock()
                .await
                .iter()
                .map(|(k, p)| (k.clone(), p.to_json()))
                .collect(),
        )
    }

    fn new_proxy(&self, input: &ProxyInput) -> Proxy {
        Proxy {
            name: input.name.clone(),
            listen: listen_or_default(input.listen.as_deref()),
            upstream: input.upstream.clone().unwrap_or_default(),
            enabled: false,
            toxics: watch::channel(Arc::new(Vec::new())).0,
            running: None,
            accepting: None,
        }
    }

    /// `POST /proxies`.
    pub async fn create(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: ProxyInput = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        if input.name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if input.upstream.as_deref().unwrap_or("").is_empty() {
            return Err(ApiError::missing("upstream"));
        }
        let mut proxies = self.lock().await;
        if proxies.contains_key(&input.name) {
            return Err(ApiError::new("proxy already exists", 409));
        }
        let mut proxy = self.new_proxy(&input);
        if input.enabled.unwrap_or(true) {
            proxy.start(self.seed, self.links.clone())?;
        }
        let out = proxy.to_json();
        tracing::info!(proxy = %out, "proxy created");
        proxies.insert(input.name, proxy);
        Ok(out)
    }

    /// `POST /populate`: every entry checked first; an identical proxy is kept with its toxics.
    /// On an error after checking, the body also lists the proxies made so far.
    pub async fn populate(&self, body: &[u8]) -> Result<Value, (ApiError, Vec<Value>)> {
        let inputs: Vec<ProxyInput> =
            serde_json::from_slice(body).map_err(|e| (ApiError::bad_body(e), Vec::new()))?;
        for (i, p) in inputs.iter().enumerate() {
            if p.name.is_empty() {
                return Err((
                    ApiError::missing(&format!("name at proxy {}", i + 1)),
                    vec![],
                ));
            }
            if p.upstream.as_deref().unwrap_or("").is_empty() {
                return Err((
                    ApiError::missing(&format!("upstream at proxy {}", i + 1)),
                    vec![],
                ));
            }
        }
        let mut proxies = self.lock().await;
        let mut out = Vec::new();
        for input in &inputs {
            let listen = listen_or_default(input.listen.as_deref());
            let upstream = input.upstream.clone().unwrap_or_default();
            if let Some(existing) = proxies.get_mut(&input.name) {
                if existing.listen == listen && existing.upstream == upstream {
                    out.push(existing.to_json());
                    continue;
                }
                existing.stop().await;
            }
            let mut proxy = self.new_proxy(input);
            if input.enabled.unwrap_or(true)
                && let Err(e) = proxy.start(self.seed, self.links.clone())
            {
                proxies.remove(&input.name);
                return Err((e, out));
            }
            out.push(proxy.to_json());
            proxies.insert(input.name.clone(), proxy);
        }
        Ok(json!({ "proxies": out }))
    }

    /// `GET /proxies/{name}`.
    pub async fn get(&self, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .await
            .get(name)
            .map(Proxy::to_json)
            .ok_or_else(ApiError::proxy_not_found)
    }

    /// `PATCH /proxies/{name}`: unset fields stay; a new listen or upstream restarts the listener.
    pub async fn update(&self, name: &str, body: &[u8]) -> Result<Value, ApiError> {
        let mut proxies = self.lock().await;
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let input: ProxyInput = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let listen = input.listen.unwrap_or_else(|| proxy.listen.clone());
        let upstream = input.upstream.unwrap_or_else(|| proxy.upstream.clone());
        let enabled = input.enabled.unwrap_or(proxy.enabled);
        if listen != proxy.listen || upstream != proxy.upstream {
            proxy.stop().await;
            proxy.listen = listen;
            proxy.upstream = upstream;
        }
        if enabled && !proxy.enabled {
            proxy.start(self.seed, self.links.clone())?;
        } else if !enabled && proxy.enabled {
            proxy.stop().await;
        }
        let out = proxy.to_json();
        tracing::info!(proxy = %out, "proxy updated");
        Ok(out)
    }

    /// `DELETE /proxies/{name}`: closes its listener and every connection.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut p = self
            .lock()
            .await
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        p.stop().await;
        tracing::info!(proxy = name, "proxy deleted");
        Ok(())
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ApiError> {
        for p in self.lock().await.values_mut() {
            p.toxics.send_replace(Arc::new(Vec::new()));
            p.start(self.seed, self.links.clone())?;
        }
        Ok(())
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, proxy: &str) -> Result<Value, ApiError> {
        let proxies = self.lock().await;
        let p = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        Ok(Value::Array(
            p.toxics.borrow().iter().map(Toxic::to_json).collect(),
        ))
    }

    /// `POST /proxies/{name}/toxics`: default stream downstream, toxicity 1, name `TYPE_STREAM`.
    pub async fn add_toxic(&self, proxy: &str, body: &[u8]) -> Result<Value, ApiError> {
        let proxies = self.lock().await;
        let p = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let input: ToxicInput = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let stream =
            Stream::parse(input.stream.as_deref().unwrap_or("downstream")).ok_or_else(|| {
                ApiError::new(
                    "stream was invalid, can be either upstream or downstream",
                    400,
                )
            })?;
        let name = if input.name.is_empty() {
            format!("{}_{}", input.kind, stream.as_str())
        } else {
            input.name
        };
        if !Effect::known(&input.kind) {
            return Err(ApiError::new("invalid toxic type", 400));
        }
        if p.find(&name).is_some() {
            return Err(ApiError::new("toxic already exists", 409));
        }
        let effect = Effect::parse(&input.kind, &input.attributes.unwrap_or_default())
            .map_err(ApiError::bad_body)?;
        let toxic = Toxic::new(name, stream, input.toxicity.unwrap_or(1.0), effect);
        let out = toxic.to_json();
        tracing::info!(proxy, toxic = %out, "toxic added");
        p.toxics.send_modify(|list| Arc::make_mut(list).push(toxic));
        Ok(out)
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<Value, ApiError> {
        let proxies = self.lock().await;
        let p = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        p.find(toxic)
            .map(|t| t.to_json())
            .ok_or_else(ApiError::toxic_not_found)
    }

    /// `PATCH /proxies/{name}/toxics/{toxic}`: attributes merged, toxicity kept if omitted.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let proxies = self.lock().await;
        let p = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let mut t = p.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        let patch: ToxicPatch = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let mut attrs = match t.effect.attributes() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        attrs.extend(patch.attributes.unwrap_or_default());
        t.effect = Effect::parse(t.effect.kind(), &attrs).map_err(ApiError::bad_body)?;
        if let Some(x) = patch.toxicity {
            t.toxicity = x;
        }
        let out = t.to_json();
        p.toxics.send_modify(|list| {
            if let Some(slot) = Arc::make_mut(list).iter_mut().find(|x| x.name == t.name) {
                *slot = t;
            }
        });
        Ok(out)
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ApiError> {
        let proxies = self.lock().await;
        let p = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        p.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        tracing::info!(proxy, toxic, "toxic removed");
        p.toxics
            .send_modify(|list| Arc::make_mut(list).retain(|t| t.name != toxic));
        Ok(())
    }
}

/// A missing or empty listen address binds a free loopback port.
fn listen_or_default(listen: Option<&str>) -> String {
    match listen {
        Some(l) if !l.is_empty() => l.to_string(),
        _ => "127.0.0.1:0".into(),
    }
}
