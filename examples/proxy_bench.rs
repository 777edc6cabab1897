//! Benchmark of the embedded proxy with no toxics against direct loopback, in one process and
//! one run: bulk throughput, 1 KB round trip, and 1,000 connections held open.
//!
//! ```sh
//! cargo run --release --example proxy_bench            # hold 30 s
//! cargo run --release --example proxy_bench -- 5       # hold 5 s
//! ```

use shakedown::proxy::{Client, Server};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BULK: usize = 1 << 30; // bytes per throughput transfer
const ROUNDS: usize = 20_000; // 1 KB round trips per path
const CONNS: usize = 1000;

async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Sends BULK bytes to each connection, then closes.
async fn source() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let buf = vec![7u8; 256 * 1024];
                let mut left = BULK;
                while left > 0 {
                    let n = left.min(buf.len());
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    addr
}

async fn bulk(addr: &str) -> f64 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = vec![0u8; 256 * 1024];
    let t = Instant::now();
    let mut got = 0;
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, BULK);
    got as f64 / t.elapsed().as_secs_f64() / 1e9
}

async fn rtts(addr: &str) -> Vec<f64> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let msg = [1u8; 1024];
    let mut back = [0u8; 1024];
    let mut out = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS + 1000 {
        let t = Instant::now();
        s.write_all(&msg).await.expect("write");
        s.read_exact(&mut back).await.expect("read");
        if i >= 1000 {
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let hold: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let server = Server::start("127.0.0.1:0", 0).await.expect("server");
    let client = Client::new(&server.url()).expect("client");
    let (src, ech) = (source().await, echo().await);
    let via_src = client
        .create("bulk", "127.0.0.1:0", &src.to_string())
        .await
        .expect("proxy")
        .listen;
    let via_echo = client
        .create("echo", "127.0.0.1:0", &ech.to_string())
        .await
        .expect("proxy")
        .listen;

    // Alternate the two paths so drift on a shared machine hits both alike; best of 3 each.
    let (mut direct, mut proxied) = (0f64, 0f64);
    for _ in 0..3 {
        direct = direct.max(bulk(&src.to_string()).await);
        proxied = proxied.max(bulk(&via_src).await);
    }
    println!(
        "bulk throughput (1 GiB, best of 3): direct {direct:.2} GB/s, proxy {proxied:.2} GB/s, ratio {:.2}",
        proxied / direct
    );

    let d = rtts(&ech.to_string()).await;
    let p = rtts(&via_echo).await;
    println!(
        "1 KB round trip ({ROUNDS}): direct p50 {:.1} µs p99 {:.1} µs; proxy p50 {:.1} µs p99 {:.1} µs; added p50 {:.1} µs p99 {:.1} µs",
        pct(&d, 0.5),
        pct(&d, 0.99),
        pct(&p, 0.5),
        pct(&p, 0.99),
        pct(&p, 0.5) - pct(&d, 0.5),
        pct(&p, 0.99) - pct(&d, 0.99)
    );

    let (fd0, rss0) = (fds(), rss_kb());
    let mut conns = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        conns.push(TcpStream::connect(&via_echo).await.expect("connect"));
    }
    // One exchange on each: every link is really up (upstream connected) before sampling.
    for c in &mut conns {
        let mut b = [0u8; 1];
        c.write_all(b"x").await.expect("write");
        c.read_exact(&mut b).await.expect("read");
    }
    let (fd1, rss1) = (fds(), rss_kb());
    let mut max_fd = fd1;
    let mut max_rss = rss1;
    let end = Instant::now() + Duration::from_secs(hold);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for c in &mut conns {
            let mut b = [0u8; 1];
            c.write_all(b"y").await.expect("write");
            c.read_exact(&mut b).await.expect("read");
        }
        max_fd = max_fd.max(fds());
        max_rss = max_rss.max(rss_kb());
    }
    let (fd2, rss2) = (fds(), rss_kb());
    drop(conns);
    // Links close as their sockets see EOF; poll until the fds are back or 10 s pass.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds() > fd0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{CONNS} connections held {hold} s (one echo per connection per second): fds before {fd0}, all open {fd1}, \
         max {max_fd}, end {fd2}, after close {}; RSS KB before {rss0}, all open {rss1}, max {max_rss}, end {rss2}",
        fds()
    );
    server.stop().await;
}
