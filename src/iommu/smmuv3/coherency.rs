//! Making CPU writes to tables and queues visible to the SMMU, and the SMMU's
//! writes visible to the CPU, on coherent and non-coherent systems.
//!
//! The SMMU is treated as coherent only when IDR0.COHACC = 1 *and* the
//! firmware says so (DT `dma-coherent`); docs/hw/smmuv3.md §12 notes firmware is
//! authoritative.  When not coherent, every structure the CPU writes is
//! cleaned to the point of coherency and every event record is invalidated
//! before it is read, through the shared [`CacheMaintenance`] service the
//! caller passes in (the arch cache functions on target, no-ops on the host).
//! This keeps `unsafe` and inline assembly out of the driver.
#![forbid(unsafe_code)]

use crate::mm::cache::{CacheMaintenance, DmaBarrier, NO_MAINTENANCE};
use crate::mm::dma_pool::DmaBuf;
use core::fmt;
use core::sync::atomic::{fence, Ordering};

/// The platform routines the driver needs.
#[derive(Clone, Copy)]
pub struct CacheOps {
    /// Cache maintenance for structures the CPU writes (clean) and event
    /// records the SMMU writes (invalidate); the arch cache functions on
    /// target (boot's `CpuCaches`).
    pub cache: &'static dyn CacheMaintenance,
    /// Order earlier normal-memory writes before a later MMIO write that
    /// hands them to the SMMU (Linux uses a DMA write barrier here, docs/hw/smmuv3.md
    /// §10.5).  On target pass a `dmb oshst`/`dsb st` routine; the default
    /// is a sequentially consistent fence.
    pub barrier: fn(),
}

fn full_fence() {
    fence(Ordering::SeqCst);
}

impl CacheOps {
    /// No cache maintenance, a compiler+CPU fence as barrier: for coherent
    /// systems and the host.
    pub const COHERENT: Self = Self {
        cache: &NO_MAINTENANCE,
        barrier: full_fence,
    };
}

impl Default for CacheOps {
    fn default() -> Self {
        Self::COHERENT
    }
}

impl fmt::Debug for CacheOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheOps")
    }
}

/// The coherence decision plus the routines to honour it.
#[derive(Clone, Copy, Debug)]
pub struct DmaSync {
    /// `true`: no cache maintenance needed, barriers only.
    pub coherent: bool,
    /// `true`: the SMMU accesses its tables, queues, CDs and page tables
    /// Write-Back cacheable and Inner Shareable (CR1, STE.S1C*, CD.IR0/OR0/
    /// SH0); `false`: Non-cacheable and Outer Shareable.  Cacheable only
    /// when the SMMU is coherent *and* the CPU maps that memory Write-Back:
    /// the two sides must not disagree on the attributes of the same memory
    /// (docs/hw/smmuv3.md §12.1).
    pub cacheable: bool,
    /// The routines.
    pub ops: CacheOps,
}

impl DmaSync {
    /// After the CPU wrote `[off, off+len)` of `buf`: make it visible to the
    /// SMMU.
    pub fn cpu_wrote(&self, buf: &DmaBuf<'_>, off: usize, len: usize) {
        if !self.coherent {
            self.ops
                .cache
                .clean(buf.cpu_addr().as_u64() as usize + off, len);
        }
    }

    /// Before the CPU reads `[off, off+len)` of `buf` that the SMMU wrote.
    pub fn cpu_will_read(&self, buf: &DmaBuf<'_>, off: usize, len: usize) {
        if !self.coherent {
            self.ops
                .cache
                .invalidate(buf.cpu_addr().as_u64() as usize + off, len);
        }
    }

    /// Order memory writes before the next MMIO write.
    pub fn barrier(&self) {
        (self.ops.barrier)();
    }

    /// Order an earlier read (a queue's PROD register) before later reads of
    /// DMA memory (the entries it published): Linux's `dma_rmb()` inside
    /// `readl()` in `queue_sync_prod_in` (docs/hw/smmuv3.md §11.1).  Needed on
    /// coherent and non-coherent systems alike.
    pub fn read_barrier(&self) {
        self.ops.cache.barrier(DmaBarrier::Read);
    }

    /// Order every earlier access to DMA memory (reads of consumed entries)
    /// before a later MMIO write (the CONS that frees their slots): Linux's
    /// `__iomb()` in `queue_sync_cons_out` (docs/hw/smmuv3.md §11.1).
    pub fn full_barrier(&self) {
        self.ops.cache.barrier(DmaBarrier::Full);
    }
}
