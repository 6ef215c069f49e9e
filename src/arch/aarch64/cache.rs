//! Data cache maintenance by virtual address, to the Point of Coherency.
//!
//! Used when a non-coherent agent (an IOMMU walker or a DMA master without
//! `dma-coherent`) must see what the CPU wrote, or the CPU must see what the
//! agent wrote, and at boot to drop stale lines for memory written with the
//! MMU off.

use core::arch::asm;

/// Smallest data cache line size in bytes (CTR_EL0.DminLine, Arm ARM D19.2.34).
pub fn dcache_line_size() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects and is permitted at EL1
    // (SCTLR_EL1.UCT only concerns EL0).
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

macro_rules! dc_range {
    ($(#[$doc:meta])* $name:ident, $op:literal) => {
        $(#[$doc])*
        pub fn $name(start: usize, len: usize) {
            if len == 0 {
                return;
            }
            let line = dcache_line_size();
            let mut addr = start & !(line - 1);
            let end = start.saturating_add(len);
            while addr < end {
                // SAFETY: DC by VA operates on the cache line holding `addr`;
                // it never faults for a mapped address and, with the MMU off,
                // every address is treated as flat physical memory.  Callers
                // pass ranges they own (see the public function's doc).
                unsafe { asm!(concat!("dc ", $op, ", {}"), in(reg) addr, options(nostack, preserves_flags)) };
                addr += line;
            }
            // SAFETY: a barrier has no memory-safety effect.
            unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
        }
    };
}

dc_range!(
    /// Clean `[start, start+len)` to PoC: the CPU's writes become visible to a
    /// non-coherent observer.  The range must be memory the caller owns.
    clean_range,
    "cvac"
);
dc_range!(
    /// Clean and invalidate `[start, start+len)` to PoC.  The range must be
    /// memory the caller owns.
    clean_invalidate_range,
    "civac"
);
dc_range!(
    /// Invalidate `[start, start+len)` to PoC, discarding any cached copy
    /// (dirty data in the range is lost).  The range must be memory the
    /// caller owns and whose cached contents it does not need.
    invalidate_range,
    "ivac"
);

/// Orders earlier normal-memory writes (tables, queue entries) before a later
/// MMIO write that hands them to a device (`DSB ST`; Linux uses a DMA write
/// barrier at this point, docs/hw/smmuv3.md §10.5).
pub fn dma_write_barrier() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb st", options(nostack, preserves_flags)) };
}

/// `DMB OSHST`: earlier normal-memory writes are observed by an
/// outer-shareable agent (an SMMU walker) before later ones — Linux's
/// `dma_wmb()`, which `arm_lpae_install_table` issues between zero-filling a
/// table and linking it (docs/hw/lpae.md §6.1).
pub fn dma_wmb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dmb oshst", options(nostack, preserves_flags)) };
}

/// `DMB OSHLD`: earlier reads (an MMIO read of a queue's PROD) complete
/// before later reads and writes — Linux's `dma_rmb()`, the barrier in
/// `readl()` that `queue_sync_prod_in` relies on so queue entries are never
/// read before PROD (docs/hw/smmuv3.md §11.1).
pub fn dma_rmb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dmb oshld", options(nostack, preserves_flags)) };
}

/// `DMB OSH`: every earlier memory access completes before later ones —
/// Linux's `__iomb()` before the EVTQ_CONS write in `queue_sync_cons_out`
/// (docs/hw/smmuv3.md §11.1).
pub fn dma_mb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dmb osh", options(nostack, preserves_flags)) };
}

/// Invalidates the whole instruction cache to PoU.
pub fn invalidate_icache_all() {
    // SAFETY: IC IALLU only drops instruction cache contents; instructions are
    // refetched from memory, which is what we want after writing code or data
    // with the MMU off.
    unsafe {
        asm!(
            "ic iallu",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
