//! A small async client of the Toxiproxy HTTP API: the only way the framework drives a proxy,
//! so a suite can point it at a real Toxiproxy server instead of the embedded one.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// A proxy as the API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ProxyInfo {
    /// Its name.
    pub name: String,
    /// The address it listens on (the real port once started).
    pub listen: String,
    /// Where it connects.
    pub upstream: String,
    /// Whether it accepts connections.
    pub enabled: bool,
    /// Its toxics, as the API shows them.
    #[serde(default)]
    pub toxics: Vec<Value>,
}

/// A request to a proxy server that did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{method} {url}: {source}")]
    Http {
        method: &'static str,
        url: String,
        source: reqwest::Error,
    },
    #[error("{method} {url}: {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
}

/// A client of one proxy server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base_url` (`http://HOST:PORT`).
    pub fn new(base_url: &str) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("shakedown/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One request; the body of a 2xx answer.
    async fn text(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(m, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let http = |source| ClientError::Http {
            method,
            url: url.clone(),
            source,
        };
        let resp = req.send().await.map_err(http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http)?;
        if !status.is_success() {
            return Err(ClientError::Status {
                method,
                url,
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        Ok(text)
    }

    /// [`Client::text`], read as JSON (`None`: an empty or non-JSON body).
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ClientError> {
        let text = self.text(method, path, body).await?;
        Ok(serde_json::from_str(&text).ok())
    }

    /// An update (`PATCH`), sent again as `POST` where the server answers 405: Toxiproxy
    /// before PATCH took updates by POST, and still does.
    async fn update(&self, path: &str, body: Value) -> Result<Option<Value>, ClientError> {
        match self.call("PATCH", path, Some(body.clone())).await {
            Err(ClientError::Status { status: 405, .. }) => {
                self.call("POST", path, Some(body)).await
            }
            r => r,
        }
    }

    fn proxy(v: Option<Value>) -> Result<ProxyInfo, ClientError> {
        let v = v.unwrap_or(Value::Null);
        serde_json::from_value(v.clone()).map_err(|e| ClientError::Status {
            method: "GET",
            url: String::new(),
            status: 200,
            body: format!("not a proxy ({e}): {v}"),
        })
    }

    /// `GET /version`: `{"version": ...}`, or plain text from an older Toxiproxy.
    pub async fn version(&self) -> Result<String, ClientError> {
        let text = self.text("GET", "/version", None).await?;
        Ok(match serde_json::from_str::<Value>(&text) {
            Ok(v) => v["version"].as_str().unwrap_or_default().to_string(),
            Err(_) => text.trim().to_string(),
        })
    }

    /// Create a proxy (`listen` with port 0 picks a free port; the answer has the real one).
    pub async fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxyInfo, ClientError> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
        Self::proxy(self.call("POST", "/proxies", Some(body)).await?)
    }

    /// One proxy.
    pub async fn get(&self, name: &str) -> Result<ProxyInfo, ClientError> {
        Self::proxy(self.call("GET", &format!("/proxies/{name}"), None).await?)
    }

    /// Enable or disable a proxy (disabling closes every connection and refuses new ones).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyInfo, ClientError> {
        let body = json!({ "enabled": enabled });
        Self::proxy(self.update(&format!("/proxies/{name}"), body).await?)
    }

    /// Delete a proxy.
    pub async fn delete(&self, name: &str) -> Result<(), ClientError> {
        self.call("DELETE", &format!("/proxies/{name}"), None)
            .await
            .map(|_| ())
    }

    /// Add a toxic; returns it as the server shows it.
    pub async fn add_toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &str,
        stream: &str,
        toxicity: f64,
        attributes: Value,
    ) -> Result<Value, ClientError> {
        let body = json!({
            "name": name, "type": kind, "stream": stream,
            "toxicity": toxicity, "attributes": attributes,
        });
        Ok(self
            .call("POST", &format!("/proxies/{proxy}/toxics"), Some(body))
            .await?
            .unwrap_or(Value::Null))
    }

    /// Remove a toxic.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ClientError> {
        self.call("DELETE", &format!("/proxies/{proxy}/toxics/{name}"), None)
            .await
            .map(|_| ())
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.call("POST", "/reset", None).await.map(|_| ())
    }
}
