//! Device blocks: map a DT `reg` range as Device-nGnRE and hand out a
//! [`DeviceBlock`], which `mmio::VolatileMmio::from_device_block` turns into
//! the register accessor.

use super::mmu::{self, MmuError, PhysSpan};
use core::ptr::NonNull;

/// A block mapped as Device-nGnRE in the live identity map.  Only
/// [`device_block`] makes one, after the mapping succeeded; mappings are
/// never removed, so it stays mapped for the rest of the run.
#[derive(Debug)]
pub struct DeviceBlock {
    base: NonNull<u8>,
    len: usize,
}

impl DeviceBlock {
    /// First byte (identity address).
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a zero-length block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Maps `range` as device memory in the live identity map.
pub fn device_block(range: PhysSpan) -> Result<DeviceBlock, MmuError> {
    let base =
        NonNull::new(range.base as usize as *mut u8).ok_or(MmuError::OutOfRange { range })?;
    let len = usize::try_from(range.size).map_err(|_| MmuError::OutOfRange { range })?;
    mmu::map_device(range)?;
    Ok(DeviceBlock { base, len })
}
