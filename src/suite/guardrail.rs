//! The `[guardrail]` table: conditions that end a run early, with status `aborted`, instead
//! of letting a service that is plainly broken burn the rest of its budget.

use super::ServiceSpec;
use super::check::{Field, Res};
use crate::units::{Dur, parse_bytes};
use serde::{Deserialize, Serialize};

/// The guardrails of a suite; empty when it names none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Guardrails {
    /// `[guardrail.error_rate]`: too many requests failing outside fault windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<ErrorRateGuard>,
    /// `[guardrail.memory]`: a service's process tree above a size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryGuard>,
}

impl Guardrails {
    /// Whether the suite names no guardrail.
    pub fn is_empty(&self) -> bool {
        self.error_rate.is_none() && self.memory.is_none()
    }
}

/// More than `above` of the requests that ended in the last `sustained` failed, with none
/// of that span inside a fault window or its recovery allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRateGuard {
    /// The fraction of failed requests (0.0 to 1.0) that is too many.
    pub above: f64,
    /// How long the rate must hold (`for`).
    #[serde(rename = "for")]
    pub sustained: Dur,
}

/// A service's process tree (PSS where known, else RSS, summed) above `above` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryGuard {
    /// Bytes.
    pub above: u64,
    /// The service it watches; `None`: every service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Read the `[guardrail]` table.
pub(crate) fn guardrails(f: &Field, services: &[ServiceSpec]) -> Res<Guardrails> {
    let t = f.table("[guardrail]", Some(&["error_rate", "memory"]))?;
    let mut g = Guardrails::default();
    if let Some(f) = t.get("error_rate") {
        let t = f.table("[guardrail.error_rate]", Some(&["above", "for"]))?;
        let above = t.req("above", "a fraction from 0.0 to 1.0")?;
        let expected = "a fraction from 0.0 to 1.0 (of requests failing)";
        let rate = above.number(expected)?;
        if !(0.0..1.0).contains(&rate) {
            return Err(above.expected("a fraction from 0.0 up to, not including, 1.0"));
        }
        let sustained = t
            .req("for", "how long the rate must hold, such as \"5s\"")?
            .pos_dur()?;
        g.error_rate = Some(ErrorRateGuard {
            above: rate,
            sustained,
        });
    }
    if let Some(f) = t.get("memory") {
        let t = f.table("[guardrail.memory]", Some(&["above", "service"]))?;
        let expected = "a size such as \"4GiB\"";
        let above = t.req("above", expected)?;
        let bytes = parse_bytes(above.str(expected)?).map_err(|_| above.expected(expected))?;
        if bytes == 0 {
            return Err(above.expected(format_args!("{expected}, more than zero")));
        }
        let service = match t.get("service") {
            Some(f) => Some(f.service_name(services)?),
            None => None,
        };
        g.memory = Some(MemoryGuard {
            above: bytes,
            service,
        });
    }
    Ok(g)
}
