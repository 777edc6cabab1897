//! Benchmark of the embedded proxy with no toxics against direct loopback, in one process and
//! one run: bulk throughput (and the CPU spent per GB), 1 KB round trip, and 1,000
//! connections held open. A minimal blocking splice proxy runs beside it as the floor: what
//! any proxy costs on this machine; with `SHAKEDOWN_TOXIPROXY` naming a `toxiproxy-server`
//! binary, a real Toxiproxy too (its CPU counted with ours).
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
const BULK_ROUNDS: usize = 7;

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

/// The floor to compare with: the least a proxy can do, a blocking thread per connection that
/// splices upstream → pipe → client with no runtime and no toxics (bulk downstream only).
fn minimal_proxy(upstream: SocketAddr) -> SocketAddr {
    use nix::fcntl::{SpliceFFlags, splice};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let up = std::net::TcpStream::connect(upstream).expect("connect");
            std::thread::spawn(move || {
                let (r, w) = nix::unistd::pipe().expect("pipe");
                let flags = SpliceFFlags::SPLICE_F_MOVE;
                while let Ok(n @ 1..) = splice(&up, None, &w, None, 1 << 20, flags) {
                    let mut left = n;
                    while left > 0 {
                        match splice(&r, None, &client, None, left, flags) {
                            Ok(m @ 1..) => left -= m,
                            _ => return,
                        }
                    }
                }
            });
        }
    });
    addr
}

/// CPU seconds (user + system) used so far by this process and, when one runs, the Toxiproxy.
fn cpu() -> f64 {
    let toxiproxy = TOXIPROXY_PID.load(std::sync::atomic::Ordering::Relaxed);
    cpu_of("self")
        + if toxiproxy > 0 {
            cpu_of(&toxiproxy.to_string())
        } else {
            0.0
        }
}

/// The pid of a real Toxiproxy beside ours (`SHAKEDOWN_TOXIPROXY` names its binary), or 0.
static TOXIPROXY_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// One bulk transfer's (GB/s, CPU seconds per GB).
type Sample = (f64, f64);

/// Start a real Toxiproxy on a free port; it and its API URL, once it answers.
async fn start_toxiproxy(bin: &str) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = std::process::Command::new(bin)
        .args(["-host", "127.0.0.1", "-port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start toxiproxy");
    TOXIPROXY_PID.store(child.id(), std::sync::atomic::Ordering::Relaxed);
    let url = format!("http://127.0.0.1:{port}");
    let client = Client::new(&url).expect("client");
    while client.version().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, url)
}

fn cpu_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ...": utime and stime are the 12th and 13th fields after comm.
    let f: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |x| x.1)
        .split(' ')
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ
}

/// One bulk transfer: GB/s, and CPU seconds per GB (both ends, and the proxy when on the path).
async fn bulk(addr: &str) -> Sample {
    let c0 = cpu();
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
    let gb = got as f64 / 1e9;
    (gb / t.elapsed().as_secs_f64(), (cpu() - c0) / gb)
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
    // On the same runtime as the ends, as in a run (where load and proxy share one).
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

    let via_minimal = minimal_proxy(src).to_string();
    // Bulk paths: (name, source address); round-trip paths: (name, echo address).
    let mut bulk_paths = vec![
        ("direct", src.to_string()),
        ("shakedown proxy", via_src),
        ("minimal splice proxy", via_minimal),
    ];
    let mut echo_paths = vec![
        ("direct", ech.to_string()),
        ("shakedown proxy", via_echo.clone()),
    ];
    let mut toxiproxy_process = None;
    if let Ok(bin) = std::env::var("SHAKEDOWN_TOXIPROXY") {
        let (child, url) = start_toxiproxy(&bin).await;
        toxiproxy_process = Some(child);
        let toxiproxy = Client::new(&url).expect("client");
        for (name, to, paths) in [
            ("bulk", src, &mut bulk_paths),
            ("echo", ech, &mut echo_paths),
        ] {
            let p = toxiproxy
                .create(name, "127.0.0.1:0", &to.to_string())
                .await
                .expect("toxiproxy proxy");
            paths.push(("Toxiproxy", p.listen));
        }
    }

    // Alternate the paths so drift on a shared machine hits all alike; medians of 7 rounds,
    // each ratio taken within its round.
    let mut rounds: Vec<Vec<Sample>> = Vec::new();
    for _ in 0..BULK_ROUNDS {
        let mut round = Vec::new();
        for (_, addr) in &bulk_paths {
            round.push(bulk(addr).await);
        }
        rounds.push(round);
    }
    let med = |f: &dyn Fn(&[Sample]) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "bulk throughput, 1 GiB, median of {BULK_ROUNDS} rounds (ratio: to direct within each round):"
    );
    for (i, (name, _)) in bulk_paths.iter().enumerate() {
        let ratios = rounds.iter().map(|r| r[i].0 / r[0].0);
        println!(
            "  {name:<22} {:.2} GB/s  ratio {:.2} (range {:.2}–{:.2})  CPU {:.3} s per GB",
            med(&|r| r[i].0),
            med(&|r| r[i].0 / r[0].0),
            ratios.clone().fold(f64::MAX, f64::min),
            ratios.fold(0.0, f64::max),
            med(&|r| r[i].1),
        );
    }

    println!("1 KB round trip, {ROUNDS} after 1,000 warm-up (added: over direct):");
    let mut direct = Vec::new();
    for (name, addr) in &echo_paths {
        let v = rtts(addr).await;
        if direct.is_empty() {
            direct = v.clone();
        }
        println!(
            "  {name:<22} p50 {:.1} µs  p99 {:.1} µs  added p50 {:.1} µs  p99 {:.1} µs",
            pct(&v, 0.5),
            pct(&v, 0.99),
            pct(&v, 0.5) - pct(&direct, 0.5),
            pct(&v, 0.99) - pct(&direct, 0.99)
        );
    }

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
    if let Some(mut c) = toxiproxy_process {
        let _ = c.kill();
        let _ = c.wait();
    }
}
