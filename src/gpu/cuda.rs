//! The CUDA driver through cudarc, loaded at run time.

use super::{Device, GpuError};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use std::sync::Arc;

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
