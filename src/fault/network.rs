//! Network faults: toxics on the proxy between load and the entry service, driven through the
//! proxy's HTTP API (so they work the same against a real Toxiproxy).
//!
//! `network.down` disables the proxy; `network.flicker` disables and re-enables it at seeded
//! intervals; every other kind adds one toxic per stream for `for` and removes it after.

use super::{Fault, FaultCtx, FaultError, ParamError, params};
use crate::proxy::ProxyHandle;
use crate::record::{Flip, What};
use crate::seed::Rng;
use crate::suite::FaultSpec;
use crate::suite::limits::{MAX_BANDWIDTH_KBPS, MAX_SLICE_BYTES, MIN_FLICKER_INTERVAL};
use crate::units::{Dur, DurError};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Numbers toxics so two faults never share a toxic name.
static NEXT: AtomicU64 = AtomicU64::new(1);

fn err(key: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        key: vec![key.into()],
        message: message.into(),
    }
}

fn need_for(spec: &FaultSpec) -> Result<(), ParamError> {
    if spec.duration.is_none() {
        return Err(err(
            "for",
            "missing `for`, expected how long the network fault lasts, such as \"3s\"",
        ));
    }
    Ok(())
}

fn dur(key: &str, s: &str) -> Result<Duration, ParamError> {
    s.parse::<Dur>().map(|d| d.0).map_err(|e| match e {
        DurError::TooLong(_) => err(key, e.to_string()),
        DurError::Syntax(_) => err(
            key,
            format!("`{s}` is not a duration, expected one such as \"100ms\" or \"2s\""),
        ),
    })
}

/// `n`, if it is at most `max`.
fn at_most(key: &str, n: u64, max: u64) -> Result<u64, ParamError> {
    if n > max {
        return Err(err(key, format!("{key} is {n}, expected at most {max}")));
    }
    Ok(n)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn handle(ctx: &FaultCtx) -> Result<&Arc<ProxyHandle>, FaultError> {
    ctx.proxy.as_ref().ok_or_else(|| FaultError::Failed {
        action: "reach the proxy".into(),
        reason: "this run has no proxy in front of the service ([proxy] enabled = false?)".into(),
    })
}

fn failed(action: String) -> impl FnOnce(crate::proxy::ClientError) -> FaultError {
    move |e| FaultError::Failed {
        action,
        reason: e.to_string(),
    }
}

/// The keys every toxic fault has, besides its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicParams {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    toxicity: Option<f64>,
    // Kind-specific keys; which are allowed is checked per kind below.
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    jitter: Option<String>,
    #[serde(default)]
    rate: Option<u64>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    delay: Option<String>,
    #[serde(default)]
    average_size: Option<u64>,
    #[serde(default)]
    size_variation: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
}

/// A fault that adds a toxic (per stream) for `for`.
#[derive(Debug)]
pub struct ToxicFault {
    /// Toxiproxy type.
    kind: &'static str,
    streams: Vec<&'static str>,
    toxicity: f64,
    attributes: Value,
    name: String,
    added: Vec<String>,
}

impl ToxicFault {
    fn build(spec: &FaultSpec, kind: &'static str) -> Result<Box<dyn Fault>, ParamError> {
        let own: &[&str] = match kind {
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "reset_peer" | "timeout" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            _ => &["delay"], // slow_close
        };
        // Checked per kind first, so the message lists only this kind's keys.
        if let Some(k) = spec
            .params
            .keys()
            .find(|k| !own.contains(&k.as_str()) && *k != "stream" && *k != "toxicity")
        {
            return Err(err(
                k,
                format!(
                    "unknown key `{k}`, expected one of `stream`, `toxicity`{}",
                    own.iter().map(|a| format!(", `{a}`")).collect::<String>()
                ),
            ));
        }
        let p: ToxicParams = params(spec)?;
        need_for(spec)?;
        let required = |k: &str| err(k, format!("missing `{k}` for network.{kind}"));
        let d = |k: &str, v: &Option<String>| v.as_deref().map(|s| dur(k, s)).transpose();
        let attributes = match kind {
            "latency" => json!({
                "latency": ms(d("latency", &p.latency)?.ok_or_else(|| required("latency"))?),
                "jitter": ms(d("jitter", &p.jitter)?.unwrap_or_default()),
            }),
            "bandwidth" => {
                json!({"rate": at_most("rate", p.rate.ok_or_else(|| required("rate"))?, MAX_BANDWIDTH_KBPS)?})
            }
            "reset_peer" | "timeout" => {
                json!({"timeout": ms(d("timeout", &p.timeout)?.unwrap_or_default())})
            }
            "slicer" => json!({
                "average_size": at_most("average_size", p.average_size.filter(|n| *n > 0).ok_or_else(|| err("average_size", "missing `average_size` (bytes, > 0) for network.slicer"))?, MAX_SLICE_BYTES)?,
                "size_variation": at_most("size_variation", p.size_variation.unwrap_or(0), MAX_SLICE_BYTES)?,
                "delay": d("delay", &p.delay)?.unwrap_or_default().as_micros() as u64,
            }),
            "limit_data" => json!({"bytes": p.bytes.ok_or_else(|| required("bytes"))?}),
            _ => json!({"delay": ms(d("delay", &p.delay)?.ok_or_else(|| required("delay"))?)}),
        };
        let streams = match p.stream.as_deref().unwrap_or("downstream") {
            "downstream" => vec!["downstream"],
            "upstream" => vec!["upstream"],
            "both" => vec!["upstream", "downstream"],
            other => {
                return Err(err(
                    "stream",
                    format!(
                        "unknown stream `{other}`, expected \"downstream\", \"upstream\" or \"both\""
                    ),
                ));
            }
        };
        let toxicity = p.toxicity.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&toxicity) {
            return Err(err("toxicity", "expected a number from 0.0 to 1.0"));
        }
        Ok(Box::new(ToxicFault {
            kind,
            streams,
            toxicity,
            attributes,
            name: format!("shakedown_{kind}_{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            added: Vec::new(),
        }))
    }
}

impl Fault for ToxicFault {
    fn describe(&self) -> String {
        format!(
            "{} toxic {} on {} (toxicity {})",
            self.kind,
            self.attributes,
            self.streams.join("+"),
            self.toxicity
        )
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let h = handle(ctx)?;
            let mut shown = Vec::new();
            for stream in &self.streams {
                let name = format!("{}_{stream}", self.name);
                let t = h
                    .client
                    .add_toxic(
                        &h.name,
                        &name,
                        self.kind,
                        stream,
                        self.toxicity,
                        self.attributes.clone(),
                    )
                    .await
                    .map_err(failed(format!("add toxic `{name}` to proxy `{}`", h.name)))?;
                self.added.push(name);
                shown.push(t);
            }
            Ok(json!({"proxy": h.name, "toxics": shown}))
        })
    }

    fn clear<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let h = handle(ctx)?;
            let mut removed = Vec::new();
            for name in std::mem::take(&mut self.added) {
                h.client
                    .remove_toxic(&h.name, &name)
                    .await
                    .map_err(failed(format!(
                        "remove toxic `{name}` from proxy `{}`",
                        h.name
                    )))?;
                removed.push(name);
            }
            Ok(json!({"proxy": h.name, "removed": removed}))
        })
    }
}

/// Build one toxic kind.
macro_rules! toxic_kind {
    ($fn_name:ident, $kind:literal) => {
        /// Build this toxic kind from a suite entry.
        pub fn $fn_name(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
            ToxicFault::build(spec, $kind)
        }
    };
}
toxic_kind!(latency, "latency");
toxic_kind!(bandwidth, "bandwidth");
toxic_kind!(reset_peer, "reset_peer");
toxic_kind!(timeout, "timeout");
toxic_kind!(slicer, "slicer");
toxic_kind!(limit_data, "limit_data");
toxic_kind!(slow_close, "slow_close");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// `network.down`: the proxy disabled for `for` (open connections closed, new ones refused).
#[derive(Debug)]
pub struct Down;

impl Down {
    /// Build from a suite entry.
    pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let _: NoParams = params(spec)?;
        need_for(spec)?;
        Ok(Box::new(Down))
    }
}

async fn set_enabled(h: &ProxyHandle, enabled: bool) -> Result<Value, FaultError> {
    let p = h
        .client
        .set_enabled(&h.name, enabled)
        .await
        .map_err(failed(format!(
            "{} proxy `{}`",
            if enabled { "enable" } else { "disable" },
            h.name
        )))?;
    Ok(json!({"proxy": p.name, "enabled": p.enabled}))
}

impl Fault for Down {
    fn describe(&self) -> String {
        "network down: the proxy refuses and closes every connection".into()
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move { set_enabled(handle(ctx)?, false).await })
    }

    fn clear<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move { set_enabled(handle(ctx)?, true).await })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlickerParams {
    #[serde(default)]
    down: Option<[String; 2]>,
    #[serde(default)]
    up: Option<[String; 2]>,
}

/// `network.flicker`: down and up alternating for `for`, each interval drawn from a seeded range.
#[derive(Debug)]
pub struct Flicker {
    down: (Duration, Duration),
    up: (Duration, Duration),
    /// Names this fault's random stream (fork of the run seed).
    purpose: String,
    running: Option<(CancellationToken, tokio::task::JoinHandle<u64>)>,
}

impl Flicker {
    /// Build from a suite entry.
    pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: FlickerParams = params(spec)?;
        need_for(spec)?;
        let range = |key: &str, v: Option<[String; 2]>, default: (u64, u64)| {
            let Some([a, b]) = v else {
                return Ok((
                    Duration::from_millis(default.0),
                    Duration::from_millis(default.1),
                ));
            };
            let (a, b) = (dur(key, &a)?, dur(key, &b)?);
            if a > b || a < MIN_FLICKER_INTERVAL {
                return Err(err(
                    key,
                    format!(
                        "expected [shortest, longest] with {MIN_FLICKER_INTERVAL:?} <= shortest <= longest"
                    ),
                ));
            }
            Ok((a, b))
        };
        Ok(Box::new(Flicker {
            down: range("down", p.down, (200, 2000))?,
            up: range("up", p.up, (1000, 3000))?,
            purpose: format!("network.flicker@{}", spec.at),
            running: None,
        }))
    }
}

/// A flicker's seeded intervals, down first, then up, down, … (one sequence for the run and
/// for `schedule.json`).
struct Intervals {
    rng: Rng,
    down: (Duration, Duration),
    up: (Duration, Duration),
    next_down: bool,
}

impl Intervals {
    /// The next interval, alternating down and up.
    fn draw(&mut self) -> Duration {
        let (lo, hi) = if self.next_down { self.down } else { self.up };
        self.next_down = !self.next_down;
        Duration::from_secs_f64(self.rng.range(lo.as_secs_f64(), hi.as_secs_f64()))
    }
}

impl Flicker {
    /// The intervals a run with `seed` draws.
    fn intervals(&self, seed: u64) -> Intervals {
        Intervals {
            rng: Rng::fork(seed, &self.purpose),
            down: self.down,
            up: self.up,
            next_down: true,
        }
    }
}

impl Fault for Flicker {
    fn describe(&self) -> String {
        format!(
            "network flicker: down {:?}..{:?}, up {:?}..{:?}, alternating",
            self.down.0, self.down.1, self.up.0, self.up.1
        )
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let h = handle(ctx)?.clone();
            // The first down happens now, so a failure to reach the proxy is the inject's error.
            set_enabled(&h, false).await?;
            let mut intervals = self.intervals(ctx.seed);
            let first = intervals.draw();
            ctx.journal.log(
                Some(&ctx.service.spec.name),
                What::NetworkDown(Flip {
                    proxy: h.name.clone(),
                    for_ms: Some(ms(first)),
                    error: None,
                }),
            );
            let stop = CancellationToken::new();
            let (token, journal, service) = (
                stop.clone(),
                ctx.journal.clone(),
                ctx.service.spec.name.clone(),
            );
            let task = tokio::spawn(async move {
                let mut cycles = 1;
                let mut wait = first;
                let mut is_down = true;
                loop {
                    if token
                        .run_until_cancelled(tokio::time::sleep(wait))
                        .await
                        .is_none()
                    {
                        return cycles;
                    }
                    is_down = !is_down;
                    wait = intervals.draw();
                    let mut flip = Flip {
                        proxy: h.name.clone(),
                        ..Flip::default()
                    };
                    match set_enabled(&h, !is_down).await {
                        Ok(_) => flip.for_ms = Some(ms(wait)),
                        Err(e) => flip.error = Some(e.to_string()),
                    }
                    let what = if is_down {
                        What::NetworkDown(flip)
                    } else {
                        What::NetworkUp(flip)
                    };
                    journal.log(Some(&service), what);
                    if is_down {
                        cycles += 1;
                    }
                }
            });
            self.running = Some((stop, task));
            Ok(json!({"proxy": handle(ctx)?.name, "first_down_ms": ms(first)}))
        })
    }

    fn clear<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move {
            let mut cycles = 0;
            if let Some((stop, task)) = self.running.take() {
                stop.cancel();
                cycles = task.await.unwrap_or(0);
            }
            // Always end up: whatever state the last toggle left.
            let h = handle(ctx)?;
            set_enabled(h, true).await?;
            Ok(json!({"proxy": h.name, "down_cycles": cycles}))
        })
    }

    fn draws(&self, seed: u64, duration: Option<Duration>) -> Value {
        // The intervals that fit in `for`, and the one it cuts short.
        let (mut intervals, mut total, mut out) = (self.intervals(seed), Duration::ZERO, vec![]);
        while total < duration.unwrap_or_default() {
            let d = intervals.draw();
            total += d;
            out.push(d.as_secs_f64() * 1e3);
        }
        json!({"intervals_ms": out, "first": "down"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, params: Value, dur: Option<&str>) -> FaultSpec {
        FaultSpec {
            kind: kind.into(),
            name: None,
            at: Dur::from_secs(1),
            startup: false,
            after_load: false,
            reinject: 0,
            duration: dur.map(|d| d.parse().expect("dur")),
            service: "main".into(),
            params: params.as_object().cloned().unwrap_or_default(),
            origin: "t".into(),
        }
    }

    #[test]
    fn params_are_checked() {
        let ok = |k: &str, p: Value| ToxicFault::build(&spec(k, p, Some("1s")), "latency");
        assert!(
            ok(
                "network.latency",
                json!({"latency": "100ms", "jitter": "10ms"})
            )
            .is_ok()
        );
        let e = ok("network.latency", json!({"latency": "100ms", "rate": 3}))
            .err()
            .expect("an error");
        assert_eq!(e.key, vec!["rate"]);
        let e = ok("network.latency", json!({"latency": "soon"}))
            .err()
            .expect("an error");
        assert_eq!(e.key, vec!["latency"]);
        let e = ok("network.latency", json!({"bogus": 1}))
            .err()
            .expect("an error");
        assert_eq!(e.key, vec!["bogus"]);
        let e = ToxicFault::build(&spec("x", json!({"latency": "1ms"}), None), "latency")
            .err()
            .expect("an error");
        assert_eq!(e.key, vec!["for"]);
        let e = Flicker::build(&spec("f", json!({"down": ["2s", "1s"]}), Some("5s")))
            .err()
            .expect("an error");
        assert_eq!(e.key, vec!["down"]);
        assert!(Flicker::build(&spec("f", json!({}), Some("5s"))).is_ok());
        assert!(Down::build(&spec("d", json!({"x": 1}), Some("5s"))).is_err());
    }
}
