//! A direction with no toxic forwards bulk bytes by splice(2); a toxic added later still
//! applies to the same connection. One test in its own binary, so the pipes it counts are its own.

use serde_json::json;
use shakedown::proxy::{Client, Server};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Pipes this process holds open.
fn pipes() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("fd dir")
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("pipe:"))
        })
        .count()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// Write `data` and read the echo back, both at once.
async fn echo_round(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = s.split();
    let mut back = vec![0u8; data.len()];
    let (wr, rd) = tokio::join!(w.write_all(data), r.read_exact(&mut back));
    wr.expect("write");
    rd.expect("read");
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_is_spliced_and_a_toxic_added_later_still_applies() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                // Echo in large writes, so the way back carries bulk too.
                let mut buf = vec![0u8; 1 << 20];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let server = Server::start("127.0.0.1:0", 7).await.expect("server");
    let client = Client::new(&server.url()).expect("client");
    let addr = client
        .create("p", "127.0.0.1:0", &up.to_string())
        .await
        .expect("create")
        .listen;

    let before = pipes();
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let data = pattern(16 * 1024 * 1024);
    assert!(
        echo_round(&mut s, &data).await == data,
        "bytes changed on the way"
    );
    // A pipe (two descriptors) per direction.
    assert!(
        pipes() >= before + 4,
        "bulk took no pipe both ways: not spliced"
    );

    // Quiet now; a toxic added to the open connection applies to the next bytes.
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
    assert_eq!(echo_round(&mut s, b"slow").await, b"slow");
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );

    // Removed again: the next bulk goes through whole, then a cut applies at exactly N bytes.
    client.remove_toxic("p", "slow").await.expect("remove");
    assert!(
        echo_round(&mut s, &data).await == data,
        "bytes changed on the way"
    );
    client
        .add_toxic(
            "p",
            "cut",
            "limit_data",
            "downstream",
            1.0,
            json!({"bytes": 1000}),
        )
        .await
        .expect("toxic");
    // Small enough to pass upstream whole before the echo comes back: the close is a FIN.
    s.write_all(&data[..2000]).await.expect("write");
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.expect("read to the close");
    assert_eq!(got, data[..1000]);
    server.stop().await;
}
