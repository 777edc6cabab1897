//! `gpu.preempt`: another tenant takes GPU memory, before the service starts
//! (`at = "startup"`) or under load, through a `shakedown gpu-hog` process.

use super::pressure::Pressure;
use super::{Fault, ParamError, params};
use crate::suite::FaultSpec;
use crate::suite::limits::MAX_GPU_DEVICE;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreemptParams {
    #[serde(default)]
    device: Option<usize>,
    #[serde(default)]
    fraction: Option<f64>,
    #[serde(default)]
    leave: Option<String>,
    #[serde(default)]
    bytes: Option<String>,
}

/// Build `gpu.preempt`: `fraction` of free memory (default 0.9), or `leave` bytes free, or `bytes`.
pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
    let p: PreemptParams = params(spec)?;
    let err = |key: &str, message: String| ParamError {
        key: vec![key.into()],
        message,
    };
    if spec.duration.is_none() {
        return Err(err(
            "for",
            "missing `for`, expected how long to hold the GPU memory, such as \"30s\"".into(),
        ));
    }
    let device = p.device.unwrap_or(0);
    if device > MAX_GPU_DEVICE {
        return Err(err(
            "device",
            format!("device is {device}, expected a GPU index from 0 to {MAX_GPU_DEVICE}"),
        ));
    }
    let mut args = vec!["gpu-hog".to_string(), "--device".into(), device.to_string()];
    let size = |key: &str, v: &str| crate::units::parse_bytes(v).map_err(|m| err(key, m));
    let given = [p.fraction.is_some(), p.leave.is_some(), p.bytes.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(err(
            "fraction",
            "`fraction`, `leave` and `bytes` exclude each other, expected one of them".into(),
        ));
    }
    let what = if let Some(l) = p.leave {
        args.extend(["--leave".into(), size("leave", &l)?.to_string()]);
        format!("all but {l}")
    } else if let Some(b) = p.bytes {
        args.extend(["--bytes".into(), size("bytes", &b)?.to_string()]);
        b
    } else {
        let f = p.fraction.unwrap_or(0.9);
        if !(0.0..=1.0).contains(&f) {
            return Err(err(
                "fraction",
                format!("fraction {f} is out of range, expected 0.0 to 1.0"),
            ));
        }
        args.extend(["--fraction".into(), f.to_string()]);
        format!("{:.0}%", f * 100.0)
    };
    let when = if spec.startup { " before start-up" } else { "" };
    Ok(Box::new(Pressure::with_args(
        format!("take {what} of free memory on GPU {device}{when}"),
        args,
    )))
}
