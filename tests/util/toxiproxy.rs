//! The proxy server a proxy test talks to. By default the embedded one (or `shakedown proxy`
//! where a test needs another process); a real Toxiproxy when `SHAKEDOWN_TOXIPROXY` names a
//! `toxiproxy-server` binary. With it set, the same API, toxic and run tests check that
//! shakedown's behaviour is Toxiproxy's and that the framework drives a real Toxiproxy.

use shakedown::proxy::Server;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running proxy server; dropping it stops it.
pub enum ProxyServer {
    Embedded(Server),
    Process { child: Child, url: String },
}

impl ProxyServer {
    /// The server under test, in this process unless a real Toxiproxy is named.
    pub async fn start() -> ProxyServer {
        match toxiproxy() {
            Some(bin) => start_toxiproxy(&bin).await,
            None => ProxyServer::Embedded(Server::start("127.0.0.1:0", 1).await.expect("start")),
        }
    }

    /// The server under test in a process of its own: a real Toxiproxy if named, else
    /// `shakedown proxy`.
    pub async fn external() -> ProxyServer {
        match toxiproxy() {
            Some(bin) => start_toxiproxy(&bin).await,
            None => shakedown_proxy(),
        }
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        match self {
            ProxyServer::Embedded(s) => s.url(),
            ProxyServer::Process { url, .. } => url.clone(),
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        if let ProxyServer::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether the tests run against a real Toxiproxy (`SHAKEDOWN_TOXIPROXY` is set).
pub fn real() -> bool {
    toxiproxy().is_some()
}

fn toxiproxy() -> Option<std::ffi::OsString> {
    std::env::var_os("SHAKEDOWN_TOXIPROXY").filter(|b| !b.is_empty())
}

/// A real `toxiproxy-server` on a free loopback port, once its API answers.
async fn start_toxiproxy(bin: &std::ffi::OsStr) -> ProxyServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin)
        .args(["-host", "127.0.0.1", "-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", bin.to_string_lossy()));
    let url = format!("http://127.0.0.1:{port}");
    let server = ProxyServer::Process { child, url };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while http
        .get(format!("{}/version", server.url()))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "Toxiproxy never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

/// `shakedown proxy` on a free port; its first stdout line ends with its URL.
fn shakedown_proxy() -> ProxyServer {
    use std::io::BufRead;
    let mut child = Command::new(super::bin())
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn shakedown proxy");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address line");
    let url = line
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    ProxyServer::Process { child, url }
}
