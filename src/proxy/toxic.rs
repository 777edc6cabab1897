//! Toxics: what each type does to a stream of bytes, and how it reads and writes as JSON.
//!
//! The attribute names, units and defaults are Toxiproxy's: milliseconds for `latency`,
//! `jitter`, `delay` (slow_close) and `timeout`; KB/s for `rate`; microseconds for the
//! slicer's `delay`; bytes for `limit_data`. A missing attribute is 0.

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which way the bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
}

impl Stream {
    /// Parse Toxiproxy's stream names.
    pub fn parse(s: &str) -> Option<Stream> {
        match s {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }

    /// The name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// What a toxic does, with its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Delay each chunk by `latency` ± `jitter` ms.
    Latency { latency: u64, jitter: u64 },
    /// At most `rate` KB/s.
    Bandwidth { rate: u64 },
    /// Delay the close by `delay` ms.
    SlowClose { delay: u64 },
    /// Drop data; close after `timeout` ms (0: never, until removed).
    Timeout { timeout: u64 },
    /// Reset the connection (RST) after `timeout` ms.
    ResetPeer { timeout: u64 },
    /// Cut chunks into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// Pass `bytes` bytes, then close.
    LimitData { bytes: u64 },
}

/// Every toxic type name.
pub const TYPES: &[&str] = &[
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
];

impl Effect {
    /// The attribute names of a type (`None`: unknown type).
    fn keys(kind: &str) -> Option<&'static [&'static str]> {
        Some(match kind {
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "slow_close" => &["delay"],
            "timeout" | "reset_peer" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            _ => return None,
        })
    }

    /// Whether `kind` names a toxic type.
    pub fn known(kind: &str) -> bool {
        Self::keys(kind).is_some()
    }

    /// Build from a type and its attributes (missing ones are 0, unknown ones ignored,
    /// as Toxiproxy's JSON decoding does). `Err` says which attribute is not a number.
    pub fn parse(kind: &str, attrs: &Map<String, Value>) -> Result<Effect, String> {
        let keys = Self::keys(kind).ok_or_else(|| format!("unknown toxic type `{kind}`"))?;
        let mut v = [0u64; 3];
        for (slot, key) in v.iter_mut().zip(keys) {
            *slot = match attrs.get(*key) {
                None | Some(Value::Null) => 0,
                Some(x) => x.as_u64().ok_or_else(|| {
                    format!("attribute `{key}` is {x}, expected a non-negative integer")
                })?,
            };
        }
        Ok(match kind {
            "latency" => Effect::Latency {
                latency: v[0],
                jitter: v[1],
            },
            "bandwidth" => Effect::Bandwidth { rate: v[0] },
            "slow_close" => Effect::SlowClose { delay: v[0] },
            "timeout" => Effect::Timeout { timeout: v[0] },
            "reset_peer" => Effect::ResetPeer { timeout: v[0] },
            "slicer" => Effect::Slicer {
                average_size: v[0],
                size_variation: v[1],
                delay: v[2],
            },
            _ => Effect::LimitData { bytes: v[0] },
        })
    }

    /// The type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Latency { .. } => "latency",
            Effect::Bandwidth { .. } => "bandwidth",
            Effect::SlowClose { .. } => "slow_close",
            Effect::Timeout { .. } => "timeout",
            Effect::ResetPeer { .. } => "reset_peer",
            Effect::Slicer { .. } => "slicer",
            Effect::LimitData { .. } => "limit_data",
        }
    }

    /// The attributes as JSON, every one present.
    pub fn attributes(&self) -> Value {
        match *self {
            Effect::Latency { latency, jitter } => json!({"latency": latency, "jitter": jitter}),
            Effect::Bandwidth { rate } => json!({"rate": rate}),
            Effect::SlowClose { delay } => json!({"delay": delay}),
            Effect::Timeout { timeout } | Effect::ResetPeer { timeout } => {
                json!({"timeout": timeout})
            }
            Effect::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                json!({"average_size": average_size, "size_variation": size_variation, "delay": delay})
            }
            Effect::LimitData { bytes } => json!({"bytes": bytes}),
        }
    }
}

/// Identities of toxics, so a link rolls toxicity again for a toxic removed and re-added.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Unique within the proxy, across both streams.
    pub name: String,
    /// Which way it acts.
    pub stream: Stream,
    /// Probability that it applies to a given connection (rolled once per connection and direction).
    pub toxicity: f32,
    /// What it does.
    pub effect: Effect,
    /// Identity for the lifetime of the process (kept across updates).
    pub id: u64,
}

impl Toxic {
    /// A new toxic with a fresh identity.
    pub fn new(name: String, stream: Stream, toxicity: f32, effect: Effect) -> Toxic {
        Toxic {
            name,
            stream,
            toxicity,
            effect,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Toxiproxy's JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.effect.kind(),
            "stream": self.stream.as_str(),
            // Go writes a whole float32 without a fraction (`1`, not `1.0`): so do we.
            "toxicity": if self.toxicity.fract() == 0.0 {
                json!(self.toxicity as i64)
            } else {
                json!(self.toxicity)
            },
            "attributes": self.effect.attributes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_defaults_and_errors() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            Effect::parse("latency", &m(json!({"latency": 5, "other": "x"}))),
            Ok(Effect::Latency {
                latency: 5,
                jitter: 0
            })
        );
        assert!(Effect::parse("latency", &m(json!({"latency": "5"}))).is_err());
        assert!(Effect::parse("nope", &Map::new()).is_err());
        for t in TYPES {
            let e = Effect::parse(t, &Map::new()).expect("known");
            assert_eq!(e.kind(), *t);
        }
    }
}
