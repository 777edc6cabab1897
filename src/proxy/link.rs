//! One proxied TCP connection: two directions, each passing its bytes through the proxy's
//! current toxics for that stream.
//!
//! Each direction re-reads the toxic list before every chunk (and wakes on a change), so adding
//! or removing a toxic acts on connections already open. With no toxic a chunk is written as
//! read: nothing lost, reordered or changed; once a direction carries bulk data (a read fills
//! the buffer) it forwards through a pipe with splice(2) while no toxic applies.

use super::splice::Pipe;
use super::toxic::{Effect, Stream, Toxic};
use crate::seed::Rng;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes read at once; large enough that bulk transfer costs few wake-ups.
const CHUNK: usize = 64 * 1024;

/// Most chunks held back by latency per direction; past it, reading waits (backpressure).
const MAX_HELD: usize = 64;

/// A chunk held back by latency.
struct Held {
    due: Instant,
    data: Vec<u8>,
    /// `limit_data` reached: close the link once it is written.
    close: bool,
}

/// The toxic list every link of a proxy watches.
pub type Toxics = watch::Receiver<Arc<Vec<Toxic>>>;

/// The toxicity rolls of one direction of link `n` (numbered in accept order across the
/// server) of a server seeded with `seed`: one stream per link and direction, so the rolls
/// depend on the seed and the link's number alone, never on the proxy's name.
pub fn rolls(seed: u64, n: u64, stream: Stream) -> Rng {
    let link = Rng::fork(seed, &format!("link/{n}")).next_u64();
    Rng::fork(
        link,
        match stream {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        },
    )
}

/// Run one connection until both directions end or `kill` fires; the sockets close on return.
pub async fn run(
    client: TcpStream,
    upstream: TcpStream,
    toxics: Toxics,
    kill: CancellationToken,
    (seed, n): (u64, u64),
) {
    // Small writes must not wait for Nagle: the proxy should add no delay of its own.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let client = Arc::new(client);
    let upstream = Arc::new(upstream);
    let up = Direction {
        stream: Stream::Upstream,
        src: client.clone(),
        dst: upstream.clone(),
        client: client.clone(),
        toxics: toxics.clone(),
        kill: kill.clone(),
        rng: rolls(seed, n, Stream::Upstream),
        seen: HashMap::new(),
        pipe: None,
    };
    let down = Direction {
        stream: Stream::Downstream,
        src: upstream.clone(),
        dst: client.clone(),
        client: client.clone(),
        toxics,
        kill: kill.clone(),
        rng: rolls(seed, n, Stream::Downstream),
        seen: HashMap::new(),
        pipe: None,
    };
    tokio::join!(up.pump(), down.pump());
}

/// What a toxic is to one direction of one link: whether it applies, since when, bytes it let through.
struct Seen {
    applies: bool,
    /// A `timeout` toxic: removing it, where it applied, closes the link.
    timeout: bool,
    since: Instant,
    passed: u64,
}

/// One direction of a link.
struct Direction {
    stream: Stream,
    src: Arc<TcpStream>,
    dst: Arc<TcpStream>,
    /// The client's socket: where `reset_peer` sends its RST.
    client: Arc<TcpStream>,
    toxics: Toxics,
    /// Ends the whole link (both directions).
    kill: CancellationToken,
    rng: Rng,
    seen: HashMap<u64, Seen>,
    /// Taken once this direction carries bulk data; used while no toxic applies.
    pipe: Option<Pipe>,
}

/// How a direction ends.
enum End {
    /// The source closed: pass the close on.
    Eof,
    /// Close the whole link now.
    Close,
    /// Reset the client's connection, then close the link.
    Reset,
}

impl Direction {
    /// The toxics that apply to this direction now, in the order they were added; `None`
    /// when a `timeout` that applied was removed. As in Toxiproxy, the link then closes: the
    /// bytes it dropped are gone, so the stream cannot go on as if nothing happened.
    fn active(&mut self) -> Option<Vec<Toxic>> {
        let list = self.toxics.borrow_and_update().clone();
        let now = Instant::now();
        let mut out = Vec::new();
        for t in list.iter().filter(|t| t.stream == self.stream) {
            let rng = &mut self.rng;
            let seen = self.seen.entry(t.id).or_insert_with(|| Seen {
                // Rolled once per connection and direction; 0 never applies, 1 always does.
                applies: rng.f64() < f64::from(t.toxicity),
                timeout: matches!(t.effect, Effect::Timeout { .. }),
                since: now,
                passed: 0,
            });
            if seen.applies {
                out.push(t.clone());
            }
        }
        let live: Vec<u64> = list.iter().map(|t| t.id).collect();
        let mut broken = false;
        self.seen.retain(|id, s| {
            let keep = live.contains(id);
            broken |= !keep && s.applies && s.timeout;
            keep
        });
        (!broken).then_some(out)
    }

    async fn pump(mut self) {
        let mut buf = vec![0u8; CHUNK];
        // Chunks held back by latency, each due at its read time + its delay, as Toxiproxy
        // does: a chunk read while another waits is not delayed twice.
        let mut held: VecDeque<Held> = VecDeque::new();
        let mut eof = false;
        // Bytes spliced into the pipe and not yet out.
        let mut piped = 0usize;
        let end = loop {
            if eof && held.is_empty() && piped == 0 {
                break End::Eof;
            }
            let Some(chain) = self.active() else {
                break End::Close;
            };
            // A timeout or reset_peer ends the link at a fixed instant after it first applied.
            let deadline = chain
                .iter()
                .filter_map(|t| match t.effect {
                    Effect::Timeout { timeout } if timeout > 0 => {
                        Some((self.since(t) + ms(timeout), End::Close))
                    }
                    Effect::ResetPeer { timeout } => {
                        Some((self.since(t) + ms(timeout), End::Reset))
                    }
                    _ => None,
                })
                .min_by_key(|(at, _)| *at);
            let (at, on_deadline) = match deadline {
                Some((at, what)) => (Some(at), what),
                None => (None, End::Close),
            };
            // A timer already due must win over data that is waiting.
            if at.is_some_and(|at| at <= Instant::now()) {
                break on_deadline;
            }
            let due = held.front().map(|h| h.due);
            let can_read = !eof && held.len() < MAX_HELD;
            // Nothing to apply and nothing held back: the kernel may move the bytes itself. A
            // toxic added meanwhile applies once the pipe is empty, so bytes keep their order.
            let quiet = chain.is_empty() && held.is_empty();
            let room = self.pipe.as_ref().map_or(0, |p| p.capacity() - piped);
            let splice_in = quiet && room > 0;
            let copy_in = piped == 0 && (self.pipe.is_none() || !quiet);
            let n = tokio::select! {
                biased;
                () = self.kill.cancelled() => return,
                () = sleep_until(at) => break on_deadline,
                Ok(()) = self.toxics.changed() => continue,
                () = sleep_until(due), if due.is_some() => {
                    let Some(h) = held.pop_front() else { continue };
                    match self.write_out(&chain, &h.data).await {
                        Ok(true) if !h.close => continue,
                        _ => break End::Close,
                    }
                }
                r = drain(self.pipe.as_ref(), &self.dst, piped), if piped > 0 => match r {
                    Ok(n) => {
                        piped -= n;
                        continue;
                    }
                    Err(_) => break End::Close,
                },
                r = fill(self.pipe.as_ref(), &self.src, room), if can_read && splice_in => match r {
                    Ok(0) => {
                        eof = true;
                        continue;
                    }
                    Ok(n) => {
                        piped += n;
                        continue;
                    }
                    Err(_) => break End::Close,
                },
                r = read(&self.src, &mut buf), if can_read && copy_in => match r {
                    Ok(0) => {
                        eof = true;
                        continue;
                    }
                    Ok(n) => n,
                    Err(_) => break End::Close,
                },
            };
            if n == CHUNK && chain.is_empty() && self.pipe.is_none() {
                // Bulk data: splice from now on. Without a pipe (fd limit) copying still works.
                self.pipe = Pipe::new().ok();
            }
            let Some((delay, len, close)) = self.admit(&chain, &buf[..n]) else {
                continue; // dropped by a timeout toxic
            };
            if delay.is_zero() && held.is_empty() {
                match self.write_out(&chain, &buf[..len]).await {
                    Ok(true) if !close => {}
                    _ => break End::Close,
                }
            } else {
                held.push_back(Held {
                    due: Instant::now() + delay,
                    data: buf[..len].to_vec(),
                    close,
                });
            }
        };
        match end {
            End::Eof => {
                let delay = self
                    .active()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| match t.effect {
                        Effect::SlowClose { delay } => Some(delay),
                        _ => None,
                    })
                    .max();
                if let Some(d) = delay {
                    tokio::select! {
                        () = self.kill.cancelled() => return,
                        () = tokio::time::sleep(ms(d)) => {}
                    }
                }
                // Half-close: the other direction may still carry bytes.
                let _ = socket2::SockRef::from(&*self.dst).shutdown(std::net::Shutdown::Write);
            }
            End::Close => self.kill.cancel(),
            End::Reset => {
                // SO_LINGER 0: close() sends RST instead of FIN.
                let _ = socket2::SockRef::from(&*self.client).set_linger(Some(Duration::ZERO));
                self.kill.cancel();
            }
        }
    }

    fn since(&self, t: &Toxic) -> Instant {
        self.seen.get(&t.id).map_or_else(Instant::now, |s| s.since)
    }

    /// What the read-side toxics make of a chunk just read: its delay, how much of it passes
    /// (`limit_data`), and whether the link closes after it; `None`: dropped (`timeout`).
    fn admit(&mut self, chain: &[Toxic], data: &[u8]) -> Option<(Duration, usize, bool)> {
        let mut len = data.len();
        let mut delay = Duration::ZERO;
        let mut close = false;
        for t in chain {
            match t.effect {
                Effect::Latency { latency, jitter } => {
                    let j = if jitter > 0 {
                        self.rng.range(-(jitter as f64), jitter as f64)
                    } else {
                        0.0
                    };
                    delay += Duration::from_secs_f64(((latency as f64 + j) / 1e3).max(0.0));
                }
                Effect::Timeout { .. } => return None,
                Effect::LimitData { bytes } => {
                    let Some(seen) = self.seen.get_mut(&t.id) else {
                        continue;
                    };
                    let left = bytes.saturating_sub(seen.passed);
                    if (len as u64) >= left {
                        len = left as usize;
                        close = true;
                    }
                    seen.passed += len as u64;
                }
                _ => {}
            }
        }
        Some((delay, len, close))
    }

    /// Write one chunk through the write-side toxics (`slicer`, `bandwidth`). `Ok(false)`:
    /// the link was killed meanwhile.
    async fn write_out(&mut self, chain: &[Toxic], data: &[u8]) -> io::Result<bool> {
        let mut slices: Option<(u64, u64, u64)> = None;
        let mut rate: Option<u64> = None;
        for t in chain {
            match t.effect {
                Effect::Bandwidth { rate: r } => {
                    rate = Some(rate.map_or(r, |old: u64| old.min(r)));
                }
                Effect::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => slices = Some((average_size, size_variation, delay)),
                _ => {}
            }
        }
        if slices.is_none() && rate.is_none() {
            self.write(data).await?;
            return Ok(true);
        }
        let mut pieces: Vec<&[u8]> = Vec::new();
        match slices {
            Some((avg, var, _)) if avg > 0 => {
                let mut rest = data;
                while !rest.is_empty() {
                    let v = if var > 0 {
                        self.rng.range(-(var as f64), var as f64) as i64
                    } else {
                        0
                    };
                    let size = (avg as i64 + v).max(1) as usize;
                    let (a, b) = rest.split_at(size.min(rest.len()));
                    pieces.push(a);
                    rest = b;
                }
            }
            _ => pieces.push(data),
        }
        let gap = slices.map_or(Duration::ZERO, |(_, _, d)| Duration::from_micros(d));
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 && !gap.is_zero() {
                tokio::select! {
                    () = self.kill.cancelled() => return Ok(false),
                    () = tokio::time::sleep(gap) => {}
                }
            }
            match rate {
                // Pace in 100 ms portions, as Toxiproxy does.
                Some(r) => {
                    let per = ((r * 1024) / 10).max(1) as usize;
                    for part in piece.chunks(per) {
                        let start = Instant::now();
                        self.write(part).await?;
                        let due = start
                            + Duration::from_secs_f64(part.len() as f64 / (r.max(1) * 1024) as f64);
                        tokio::select! {
                            () = self.kill.cancelled() => return Ok(false),
                            () = tokio::time::sleep_until(due) => {}
                        }
                    }
                }
                None => self.write(piece).await?,
            }
        }
        Ok(true)
    }

    async fn write(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            tokio::select! {
                () = self.kill.cancelled() => return Err(io::ErrorKind::ConnectionAborted.into()),
                r = self.dst.writable() => r?,
            }
            match self.dst.try_write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Read what is there; cancel-safe (nothing is consumed until `try_read` succeeds).
async fn read(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// See [`Pipe::fill`]; never ready without a pipe.
async fn fill(pipe: Option<&Pipe>, src: &TcpStream, room: usize) -> io::Result<usize> {
    match pipe {
        Some(p) => p.fill(src, room).await,
        None => std::future::pending().await,
    }
}

/// See [`Pipe::drain`]; never ready without a pipe.
async fn drain(pipe: Option<&Pipe>, dst: &TcpStream, held: usize) -> io::Result<usize> {
    match pipe {
        Some(p) => p.drain(dst, held).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
