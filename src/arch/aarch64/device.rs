//! Device blocks: map a DT `reg` range as Device-nGnRE and hand out the
//! [`VolatileMmio`] that accesses it.

use super::mmu::{self, MmuError};
use crate::mm::PhysRange;
use crate::mmio::VolatileMmio;
use core::ptr::NonNull;

/// Maps `range` as device memory in the live identity map and returns its
/// register accessor.
pub fn device_block(range: PhysRange) -> Result<VolatileMmio, MmuError> {
    let base = NonNull::new(range.base.as_u64() as usize as *mut u8)
        .ok_or(MmuError::OutOfRange { range })?;
    let len = usize::try_from(range.size).map_err(|_| MmuError::OutOfRange { range })?;
    mmu::map_device(range)?;
    // SAFETY: the range was just mapped Device-nGnRE at its identity address
    // and mappings are never removed; nothing creates Rust references into it.
    Ok(unsafe { VolatileMmio::new(base, len) })
}
