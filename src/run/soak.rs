//! What a soak does beside its load: a partial report every `report_every`, so a run killed
//! at hour 11 still has a judged prefix (`shakedown report DIR` judges it the same way), and a
//! progress line (elapsed of total, requests ok and failed, the entry tree's memory slope).
//!
//! Both stay cheap at 12 h: the progress line reads only what was appended to
//! `requests.jsonl` and `samples.jsonl` since its last look and fits its slope to a bounded
//! ring of points; a partial report is the one judge (`report::judge`), off the async workers.

use crate::metrics::trend;
use crate::record::{Clock, RequestRecord, Sample, files};
use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Memory points the progress line fits its slope to.
const RING: usize = 240;

/// What the watcher needs of the run.
pub(super) struct Watch {
    pub dir: PathBuf,
    pub clock: Clock,
    /// Load start and length, ms.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// The entry service, whose tree's memory the line shows.
    pub service: String,
    pub report_every: Duration,
    /// Where the progress line goes.
    pub progress: super::Progress,
}

/// Until `stop`: a partial report every `report_every`, and (when asked) a progress line
/// every fiftieth of the load, between 1 s and 1 min.
pub(super) fn spawn(w: Watch, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs_f64((w.duration_ms / 50.0 / 1e3).clamp(1.0, 60.0));
        let mut lines = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        lines.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let first = tokio::time::Instant::now() + w.report_every;
        let mut reports = tokio::time::interval_at(first, w.report_every);
        reports.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tail = Some(Tail::new(&w.dir, &w.service));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = lines.tick(), if w.progress.on() => {
                    let Some(mut t) = tail.take() else { continue };
                    let (now, start, total) = (w.clock.now_ms(), w.start_ms, w.duration_ms);
                    // Reading files is blocking work: off the threads that time requests.
                    if let Ok((t, line)) = tokio::task::spawn_blocking(move || {
                        let line = t.line(now - start, total);
                        (t, line)
                    })
                    .await
                    {
                        w.progress.say(&line);
                        tail = Some(t);
                    }
                }
                _ = reports.tick() => {
                    let dir = w.dir.clone();
                    // A partial report that cannot be written is no reason to stop the soak.
                    let _ = tokio::task::spawn_blocking(move || crate::report::judge(&dir)).await;
                }
            }
        }
    })
}

/// The progress line's incremental reading of the records.
struct Tail {
    requests: Follow,
    samples: Follow,
    service: String,
    ok: u64,
    failed: u64,
    /// The latest `(t_ms, bytes)` of the service tree's memory, at most [`RING`].
    memory: VecDeque<(f64, f64)>,
}

impl Tail {
    fn new(dir: &Path, service: &str) -> Tail {
        Tail {
            requests: Follow::new(dir.join(files::REQUESTS)),
            samples: Follow::new(dir.join(files::SAMPLES)),
            service: service.to_string(),
            ok: 0,
            failed: 0,
            memory: VecDeque::with_capacity(RING),
        }
    }

    /// Read what was appended, and say where the soak stands `elapsed_ms` into `total_ms`.
    fn line(&mut self, elapsed_ms: f64, total_ms: f64) -> String {
        for r in self.requests.read::<RequestRecord>() {
            if r.outcome.is_ok() {
                self.ok += 1;
            } else {
                self.failed += 1;
            }
        }
        for s in self.samples.read::<Sample>() {
            if let Sample::Procs {
                t_ms,
                service,
                procs,
            } = s
                && service == self.service
            {
                let pss = procs.iter().all(|p| p.pss_bytes.is_some());
                let bytes: u64 = procs
                    .iter()
                    .map(|p| if pss { p.pss_bytes } else { None }.unwrap_or(p.rss_bytes))
                    .sum();
                if self.memory.len() == RING {
                    self.memory.pop_front();
                }
                self.memory.push_back((t_ms, bytes as f64));
            }
        }
        let points: Vec<(f64, f64)> = self.memory.iter().copied().collect();
        let slope = match (trend::theil_sen(&points), points.last()) {
            (Some((s, _)), Some((_, now))) => format!(
                ", memory {:.1} MiB, {:+.1} MiB/24h lately",
                now / MIB,
                s * 86_400_000.0 / MIB
            ),
            _ => String::new(),
        };
        let elapsed = elapsed_ms.clamp(0.0, total_ms);
        format!(
            "  soak: {} of {} ({:.0}%), requests {} ok, {} failed{slope}",
            short(elapsed),
            short(total_ms),
            elapsed / total_ms.max(1.0) * 100.0,
            self.ok,
            self.failed
        )
    }
}

const MIB: f64 = (1u64 << 20) as f64;

/// Milliseconds as `1h 2m 3s`.
fn short(ms: f64) -> String {
    humantime::format_duration(Duration::from_secs((ms / 1e3) as u64)).to_string()
}

/// A JSON-lines file read from where the last read stopped; a torn last line waits for its end.
struct Follow {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follow {
    fn new(path: PathBuf) -> Follow {
        Follow {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The whole lines appended since the last call that parse as `T`.
    fn read<T: serde::de::DeserializeOwned>(&mut self) -> Vec<T> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = std::mem::take(&mut self.partial);
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let Ok(n) = f.read_to_end(&mut bytes) else {
            return Vec::new();
        };
        self.offset += n as u64;
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(end);
        bytes
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follow_reads_each_whole_line_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        let mut f = std::fs::File::create(&path).expect("create");
        let mut follow = Follow::new(path);
        f.write_all(b"1\n2\n3").expect("write");
        assert_eq!(follow.read::<u32>(), [1, 2]);
        f.write_all(b"4\n").expect("write");
        assert_eq!(follow.read::<u32>(), [34]);
        assert!(follow.read::<u32>().is_empty());
    }
}
