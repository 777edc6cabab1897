//! The load generator: open-loop arrivals, one task per request, one record per request.
//!
//! Open loop means arrivals never wait for answers: a stalled service sees requests pile
//! up (up to `max_in_flight`, past which arrivals are recorded as `dropped`), exactly as
//! real clients would pile up.

pub mod arrival;
pub mod client;
pub mod conform;
pub mod sse;
pub mod workload;

use crate::record::{Clock, Jsonl, Live, Outcome, RequestRecord};
use client::Target;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use crate::record::LoadSummary;

/// The HTTP client every request of a run shares (HTTP/1.1 keep-alive pool, no proxy from the environment).
pub fn http_client(max_in_flight: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_in_flight)
        .build()
}

/// What happens to an arrival when the requests already in flight reach the bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Open loop: past `max_in_flight` an arrival is recorded as `dropped`, never sent.
    Drop(usize),
    /// A concurrency cap (vLLM's `max_concurrency`): an arrival waits for a slot, then goes.
    /// With every arrival at once this is a closed loop of that many clients.
    Wait(usize),
    /// As `Wait`, but no arrival is taken once this many ms have passed since the load's
    /// start: a closed loop that lasts a duration, as `oha -c N -z D` does.
    WaitFor(usize, f64),
}

impl Limit {
    fn bound(self) -> usize {
        match self {
            Limit::Drop(n) | Limit::Wait(n) | Limit::WaitFor(n, _) => n,
        }
    }

    /// Whether a slot got `elapsed_ms` after the load's start comes too late to be taken.
    fn over(self, elapsed_ms: f64) -> bool {
        matches!(self, Limit::WaitFor(_, duration_ms) if elapsed_ms >= duration_ms)
    }
}

/// Send one request at each of `arrivals` (ms after `start_ms` on `clock`, in order, taken
/// one at a time as they come due), write each record to `out` as it ends, and return once
/// every request has ended; each ended request is counted in `live`.
#[allow(clippy::too_many_arguments)]
pub async fn drive(
    http: reqwest::Client,
    target: Target,
    arrivals: impl IntoIterator<Item = f64>,
    start_ms: f64,
    limit: Limit,
    clock: Clock,
    out: Jsonl,
    cancel: CancellationToken,
    live: Arc<Live>,
) -> LoadSummary {
    tracing::info!(target = %target.base_url, ?limit, "load starts");
    let target = Arc::new(target.prepare());
    let slots = Arc::new(Semaphore::new(limit.bound()));
    let mut tasks = JoinSet::new();
    let mut summary = LoadSummary::default();
    let mut counts: BTreeMap<Outcome, u64> = BTreeMap::new();
    for (id, t) in arrivals.into_iter().enumerate() {
        let intended = start_ms + t;
        let wake = clock.instant(intended);
        if cancel.run_until_cancelled(arrive_at(wake)).await.is_none() {
            break;
        }
        summary.scheduled += 1;
        // Reap finished tasks as we go so the set stays small at high rates.
        while let Some(done) = tasks.try_join_next() {
            tally(done, &mut counts);
        }
        let (permit, slot_ms) = match slots.clone().try_acquire_owned() {
            // Under a cap, arrivals queue behind each other's slots: each is due from when
            // it got one, so the lag of the client itself is counted from there.
            Ok(p) if !matches!(limit, Limit::Drop(_)) => {
                let now = clock.now_ms();
                if limit.over(now - start_ms) {
                    summary.scheduled -= 1;
                    break;
                }
                (p, Some(now))
            }
            Ok(p) => (p, None),
            Err(_) => match limit {
                Limit::Drop(max_in_flight) => {
                    let mut rec = RequestRecord::new(id as u64, intended);
                    rec.done_ms = clock.now_ms();
                    rec.outcome = Outcome::Dropped;
                    rec.error = Some(format!("{max_in_flight} requests already in flight"));
                    tracing::debug!(id, max_in_flight, "arrival dropped");
                    write(&out, &rec);
                    live.request(false);
                    summary.dropped += 1;
                    continue;
                }
                Limit::Wait(_) | Limit::WaitFor(..) => {
                    let Some(Ok(p)) = cancel
                        .run_until_cancelled(slots.clone().acquire_owned())
                        .await
                    else {
                        break;
                    };
                    let now = clock.now_ms();
                    if limit.over(now - start_ms) {
                        summary.scheduled -= 1;
                        break;
                    }
                    (p, Some(now))
                }
            },
        };
        summary.sent += 1;
        let (http, target, out, cancel, live) = (
            http.clone(),
            target.clone(),
            out.clone(),
            cancel.clone(),
            live.clone(),
        );
        tasks.spawn(async move {
            let mut rec = client::send(&http, &target, id as u64, intended, clock, &cancel).await;
            drop(permit);
            rec.slot_ms = slot_ms;
            write(&out, &rec);
            live.request(rec.outcome == Outcome::Ok);
            rec.outcome
        });
    }
    while let Some(done) = tasks.join_next().await {
        tally(done, &mut counts);
    }
    summary.aborted = counts.get(&Outcome::Aborted).copied().unwrap_or(0);
    tracing::info!(?summary, "load ends");
    summary
}

/// Wait until `at`, to well under a millisecond: the timer wheel has millisecond ticks and
/// rounds up, so sleep to just short of `at` and yield the rest of the way.
async fn arrive_at(at: std::time::Instant) {
    const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(2);
    if let Some(early) = at.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(early.into()).await;
    }
    while std::time::Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

fn tally(done: Result<Outcome, tokio::task::JoinError>, counts: &mut BTreeMap<Outcome, u64>) {
    if let Ok(o) = done {
        *counts.entry(o).or_default() += 1;
    }
}

fn write(out: &Jsonl, rec: &RequestRecord) {
    if let Err(e) = out.write(rec) {
        tracing::warn!("failed to write request record {}: {e}", rec.id);
    }
}
