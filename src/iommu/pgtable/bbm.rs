//! The hook the walker calls in the middle of a break-before-make sequence.
//!
//! Splitting a live block into a table changes the block size of a valid
//! translation, which the architecture only allows as: write invalid, make it
//! visible, invalidate the TLBs for the block and wait, then write the new
//! descriptor (Arm ARM DDI0487, chapter D8, "Using break-before-make when updating
//! translation table entries"; docs/hw/lpae.md §6.3).  The walker does the writes;
//! the invalidation belongs to the driver, so the core hands the walker a
//! [`BreakFlush`] that runs the driver's sync for the broken block.
#![forbid(unsafe_code)]

use crate::mm::Iova;

/// Invalidates one broken block and waits for completion.
pub trait BreakFlush {
    /// Invalidate `[iova, iova + size)` (a block of that size at `level`, now
    /// invalid in memory) and wait.  `false` if that failed; the walker then
    /// leaves the block unmapped.
    fn flush_break(&mut self, iova: Iova, size: u64, level: u8) -> bool;
}

/// For tables no walker can see yet (never attached): nothing to invalidate.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotLive;

impl BreakFlush for NotLive {
    fn flush_break(&mut self, _iova: Iova, _size: u64, _level: u8) -> bool {
        true
    }
}

impl<F: FnMut(Iova, u64, u8) -> bool> BreakFlush for F {
    fn flush_break(&mut self, iova: Iova, size: u64, level: u8) -> bool {
        self(iova, size, level)
    }
}
