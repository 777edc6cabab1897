//! The CUDA driver through cudarc, loaded at run time; and `shakedown gpu-hog`.

use super::{Device, GpuError, HogTarget, hog, parse_bytes};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Library names the CUDA driver goes by.
const DRIVER_LIBS: &[&str] = &["libcuda.so.1", "libcuda.so"];

/// Whether the CUDA driver library can be loaded. Checked before any cudarc call, because
/// cudarc panics when its lazily loaded library is missing.
pub fn driver_present() -> Result<(), GpuError> {
    let mut errors = Vec::new();
    for name in DRIVER_LIBS {
        // SAFETY: loading the vendor's driver library runs its initialisers, as any CUDA program does.
        match unsafe { libloading::Library::new(*name) } {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(GpuError::NoDriver(format!(
        "{} could not be loaded",
        DRIVER_LIBS.join(" or ")
    )))
}

fn cuda(e: cudarc::driver::DriverError) -> GpuError {
    if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        GpuError::OutOfMemory
    } else {
        GpuError::Cuda(format!("{e:?}"))
    }
}

/// One CUDA device, holding what it allocated until dropped.
pub struct Cuda {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    held: Vec<CudaSlice<u8>>,
}

impl Cuda {
    /// Open device `ordinal`.
    pub fn open(ordinal: usize) -> Result<Self, GpuError> {
        driver_present()?;
        let count = CudaContext::device_count().map_err(cuda)? as usize;
        if ordinal >= count {
            return Err(GpuError::NoDevice(ordinal, count));
        }
        let ctx = CudaContext::new(ordinal).map_err(cuda)?;
        let stream = ctx.default_stream();
        Ok(Cuda {
            ctx,
            stream,
            held: Vec::new(),
        })
    }

    /// The device's name.
    pub fn name(&self) -> String {
        self.ctx.name().unwrap_or_else(|_| "unknown".into())
    }
}

impl Device for Cuda {
    fn mem_info(&mut self) -> Result<(u64, u64), GpuError> {
        let (free, total) = self.ctx.mem_get_info().map_err(cuda)?;
        Ok((free as u64, total as u64))
    }

    fn alloc(&mut self, bytes: u64) -> Result<(), GpuError> {
        // Zeroed so the pages are really backed, not just reserved.
        let slice = self
            .stream
            .alloc_zeros::<u8>(bytes as usize)
            .map_err(cuda)?;
        self.stream.synchronize().map_err(cuda)?;
        self.held.push(slice);
        Ok(())
    }
}

/// Arguments of `shakedown gpu-hog`.
#[derive(Debug, Clone, clap::Args)]
pub struct HogArgs {
    /// CUDA device ordinal.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Take this fraction of the free memory (0..1).
    #[arg(long, group = "target")]
    pub fraction: Option<f64>,
    /// Take all but this much of the free memory (e.g. `2GiB`).
    #[arg(long, group = "target", value_parser = parse_bytes)]
    pub leave: Option<u64>,
    /// Take exactly this much (e.g. `40GiB`).
    #[arg(long, group = "target", value_parser = parse_bytes)]
    pub bytes: Option<u64>,
    /// Hold for this long, then free and exit (default: until killed).
    #[arg(long, value_parser = |s: &str| s.parse::<crate::suite::Dur>())]
    pub hold: Option<crate::suite::Dur>,
}

impl HogArgs {
    fn target(&self) -> HogTarget {
        match (self.fraction, self.leave, self.bytes) {
            (Some(f), _, _) => HogTarget::Fraction(f),
            (_, Some(l), _) => HogTarget::Leave(l),
            (_, _, Some(b)) => HogTarget::Bytes(b),
            _ => HogTarget::Fraction(0.9),
        }
    }
}

/// `shakedown gpu-hog`: take memory, print `READY <device> <bytes held> <free after>`, hold, free on exit.
pub fn hog_main(args: &HogArgs) -> i32 {
    let mut dev = match Cuda::open(args.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu-hog: {e}");
            return 1;
        }
    };
    let held = match hog(&mut dev, args.target()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gpu-hog: failed to allocate on device {}: {e}", args.device);
            return 1;
        }
    };
    println!("READY {} {} {}", args.device, held.bytes, held.free_after);
    let _ = std::io::stdout().flush();
    eprintln!(
        "gpu-hog: holding {:.2} GiB on device {} ({}), {:.2} GiB left free",
        held.bytes as f64 / (1u64 << 30) as f64,
        args.device,
        dev.name(),
        held.free_after as f64 / (1u64 << 30) as f64
    );
    crate::hog::hold(args.hold.map(|d| d.0).unwrap_or(Duration::MAX));
    drop(dev); // frees every allocation before exit
    0
}
