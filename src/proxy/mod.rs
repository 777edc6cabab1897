//! A Toxiproxy-compatible TCP proxy: the network between load and service, where network
//! faults happen.
//!
//! - `api`: the Toxiproxy HTTP API (routes, status codes, error bodies, the browser guard).
//! - `collection`: the proxies of one server and every operation on them.
//! - `link`: one proxied connection, two directions, each through the current toxics.
//! - `splice`: zero-copy forwarding for a direction no toxic applies to.
//! - `toxic`: the toxic types, their attributes and JSON.
//! - `client`: the async client the framework drives any proxy server with (ours or Toxiproxy).
//!
//! `shakedown proxy --listen ADDR` serves it alone; a run embeds one ([`Server::start`]) unless
//! the suite names an external server.

mod api;
mod client;
mod collection;
mod link;
mod splice;
mod toxic;

pub use api::{VERSION, router};
pub use client::{Client, ClientError, ProxyInfo};
pub use collection::{ApiError, Collection};
pub use link::rolls;
pub use toxic::{Effect, Stream, TYPES, Toxic};

use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A proxy server running inside this process; stopping it (or dropping it) closes every
/// listener and connection it made.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Bind the API on `listen` and serve it on the current runtime.
    pub async fn start(listen: &str, seed: u64) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let proxies = Arc::new(Collection::new(seed));
        let app = router(proxies.clone());
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(token.clone().cancelled_owned())
                .await;
            proxies.stop_all().await;
        });
        Ok(Server {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving and close every proxy's listener and connections.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serve the API on `listen` until SIGINT/SIGTERM (`shakedown proxy`); returns the exit code.
pub fn serve(listen: &str, seed: u64) -> std::io::Result<i32> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // Handlers first: a signal sent as soon as the address is printed must stop us cleanly.
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let server = Server::start(listen, seed).await?;
        println!("toxiproxy-compatible API on {}", server.url());
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        server.stop().await;
        Ok(0)
    })
}

/// The proxy in front of a run's entry service, as network faults see it.
#[derive(Debug, Clone)]
pub struct ProxyHandle {
    /// The client of the server that holds it.
    pub client: Client,
    /// The proxy's name on that server.
    pub name: String,
    /// Where load connects (the proxy's listen address).
    pub listen: String,
    /// The service's own address.
    pub upstream: String,
}
