//! Each toxic on real loopback connections through the embedded proxy: bytes exact with no
//! toxic, `limit_data` cuts exactly, `latency` adds its value, `timeout 0` blackholes until
//! removed, `reset_peer` resets, toxicity 0 never applies.

mod util;

use serde_json::json;
use shakedown::proxy::Client;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use util::toxiproxy::ProxyServer;

/// An upstream that echoes every byte back.
async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// An upstream that sends `n` bytes to each connection, then closes.
async fn sender(n: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(&pattern(n)).await;
            });
        }
    });
    addr
}

fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A server and one proxy to `upstream`; returns the proxy's address.
async fn proxy(upstream: SocketAddr) -> (ProxyServer, Client, String) {
    let server = ProxyServer::start().await;
    let client = Client::new(&server.url()).expect("client");
    let p = client
        .create("p", "127.0.0.1:0", &upstream.to_string())
        .await
        .expect("create");
    (server, client, p.listen)
}

async fn round_trip(addr: &str, msg: &[u8]) -> Duration {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let t = Instant::now();
    s.write_all(msg).await.expect("write");
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).await.expect("read");
    assert_eq!(back, msg);
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_byte_exact_both_ways_with_no_toxic() {
    let (_server, _client, addr) = proxy(echo().await).await;
    let data = pattern(10 * 1024 * 1024);
    let s = TcpStream::connect(&addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    let out = data.clone();
    // The write half comes back, not dropped: dropping it would half-close the connection.
    let writer = tokio::spawn(async move {
        w.write_all(&out).await.expect("write");
        w
    });
    let mut back = vec![0u8; data.len()];
    r.read_exact(&mut back).await.expect("read");
    let _w = writer.await.expect("writer");
    assert!(back == data, "bytes changed on the way");
}

#[tokio::test]
async fn a_half_close_is_passed_on_and_the_reply_still_comes() {
    if util::toxiproxy::real() {
        // Toxiproxy closes the whole connection when either side ends (docs/faults.md).
        return;
    }
    let (_server, _client, addr) = proxy(echo().await).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let data = pattern(1024 * 1024);
    s.write_all(&data).await.expect("write");
    s.shutdown().await.expect("half-close");
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.expect("read to the end");
    assert!(
        back == data,
        "reply cut after the half-close: {} bytes",
        back.len()
    );
}

#[tokio::test]
async fn limit_data_cuts_at_exactly_n_bytes() {
    let (_server, client, addr) = proxy(sender(100_000).await).await;
    client
        .add_toxic(
            "p",
            "cut",
            "limit_data",
            "downstream",
            1.0,
            json!({"bytes": 12345}),
        )
        .await
        .expect("toxic");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.expect("read to the close");
    assert_eq!(got.len(), 12345);
    assert_eq!(got, pattern(100_000)[..12345]);
}

#[tokio::test]
async fn latency_adds_at_least_its_value() {
    let (_server, client, addr) = proxy(echo().await).await;
    client
        .add_toxic(
            "p",
            "slow",
            "latency",
            "downstream",
            1.0,
            json!({"latency": 150, "jitter": 0}),
        )
        .await
        .expect("toxic");
    for _ in 0..3 {
        let took = round_trip(&addr, b"ping").await;
        assert!(took >= Duration::from_millis(150), "{took:?}");
    }
}

#[tokio::test]
async fn timeout_zero_blackholes_until_removed() {
    let (_server, client, addr) = proxy(echo().await).await;
    client
        .add_toxic(
            "p",
            "hole",
            "timeout",
            "upstream",
            1.0,
            json!({"timeout": 0}),
        )
        .await
        .expect("toxic");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"lost").await.expect("write");
    let mut buf = [0u8; 4];
    // Nothing comes back, and the connection stays open.
    let r = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    assert!(r.is_err(), "expected silence, got {r:?}");
    client.remove_toxic("p", "hole").await.expect("remove");
    // As in Toxiproxy, removing it closes the held connection (its dropped bytes are gone),
    // at once rather than leaving it hanging; and the proxy serves new connections.
    let deadline = Instant::now() + Duration::from_secs(5);
    let end = tokio::time::timeout_at(deadline.into(), s.read(&mut buf))
        .await
        .expect("the held connection ends on removal");
    assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
    round_trip(&addr, b"new").await;
}

#[tokio::test]
async fn reset_peer_gives_econnreset() {
    let (_server, client, addr) = proxy(echo().await).await;
    client
        .add_toxic(
            "p",
            "rst",
            "reset_peer",
            "downstream",
            1.0,
            json!({"timeout": 0}),
        )
        .await
        .expect("toxic");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let _ = s.write_all(b"x").await;
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the proxy answers with a reset");
    let e = r.expect_err("a reset, not data or EOF");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
}

#[tokio::test]
async fn toxicity_zero_never_applies() {
    let (_server, client, addr) = proxy(echo().await).await;
    client
        .add_toxic(
            "p",
            "hole",
            "timeout",
            "downstream",
            0.0,
            json!({"timeout": 0}),
        )
        .await
        .expect("toxic");
    client
        .add_toxic(
            "p",
            "slow",
            "latency",
            "upstream",
            0.0,
            json!({"latency": 2000}),
        )
        .await
        .expect("toxic");
    for _ in 0..20 {
        let took = round_trip(&addr, b"ping").await;
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }
}

#[tokio::test]
async fn slicer_and_bandwidth_keep_the_bytes() {
    let (_server, client, addr) = proxy(sender(50_000).await).await;
    client
        .add_toxic(
            "p",
            "s",
            "slicer",
            "downstream",
            1.0,
            json!({"average_size": 100, "size_variation": 50, "delay": 10}),
        )
        .await
        .expect("toxic");
    client
        .add_toxic(
            "p",
            "b",
            "bandwidth",
            "downstream",
            1.0,
            json!({"rate": 1000}),
        )
        .await
        .expect("toxic");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.expect("read");
    assert_eq!(got, pattern(50_000));
}

#[tokio::test]
async fn a_toxic_added_later_acts_on_an_open_connection() {
    let (_server, client, addr) = proxy(echo().await).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = [0u8; 4];
    s.write_all(b"fast").await.expect("write");
    s.read_exact(&mut buf).await.expect("read");
    client
        .add_toxic(
            "p",
            "slow",
            "latency",
            "downstream",
            1.0,
            json!({"latency": 150}),
        )
        .await
        .expect("toxic");
    let t = Instant::now();
    s.write_all(b"slow").await.expect("write");
    s.read_exact(&mut buf).await.expect("read");
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(&buf, b"slow");
}

#[tokio::test]
async fn latency_delays_each_chunk_from_its_arrival_not_after_the_previous_one() {
    // An upstream that trickles 10 bytes, 30 ms apart (like tokens of a stream).
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = l.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            for _ in 0..10 {
                let _ = s.write_all(b"t").await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });
    let (_server, client, addr) = proxy(up).await;
    client
        .add_toxic(
            "p",
            "slow",
            "latency",
            "downstream",
            1.0,
            json!({"latency": 200}),
        )
        .await
        .expect("toxic");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    let mut at = Vec::new();
    let mut b = [0u8; 16];
    let mut got = 0;
    while got < 10 {
        let n = s.read(&mut b).await.expect("read");
        assert!(n > 0, "closed after {got} bytes");
        got += n;
        at.push(start.elapsed());
    }
    assert!(at[0] >= Duration::from_millis(200), "{at:?}");
    // Serialised delays would show 200 ms gaps; pipelined ones keep the 30 ms rhythm.
    let max_gap = at.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(max_gap < Duration::from_millis(170), "{at:?}");
}
