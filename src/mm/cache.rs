//! The one CPU cache-maintenance service: what a non-coherent agent (an IOMMU
//! table walker, an SMMU reading its queues, a DMA master without
//! `dma-coherent`) needs so it and the CPU see the same bytes.
//!
//! Addresses are CPU virtual addresses of identity-mapped memory the caller
//! owns, lengths in bytes.  On target the implementation is boot's
//! `CpuCaches` (DC CVAC / CIVAC / IVAC to the point of coherency, then DSB:
//! `arch::aarch64::cache`); on the host and for coherent agents it is
//! [`NoMaintenance`].  Users: the SMMUv3 layer
//! (`iommu::smmuv3::coherency::CacheOps`) and page-table memory
//! (`iommu::pgtable::PoolTables`).  Nothing here is `unsafe`: the instructions
//! live in `arch`.
#![forbid(unsafe_code)]

use core::sync::atomic::{fence, Ordering};

/// The memory barriers a driver sharing memory with a DMA agent (an SMMU,
/// its table walker, a master) needs, named after Linux's `dma_wmb()`,
/// `dma_rmb()` and `mb()`/`__iomb()` (docs/hw/smmuv3.md §10.5, §11.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaBarrier {
    /// Earlier writes to DMA memory are observed by the agent before later
    /// writes (a table zero-filled before the descriptor that links it, a
    /// map's descriptors before the master is told to use them).  On
    /// target `DMB OSHST`.
    Write,
    /// Earlier reads (an MMIO read of a producer index) complete before later
    /// reads of DMA memory (the entries it published), so the CPU cannot
    /// read an entry before it has seen the index move.  On target
    /// `DMB OSHLD`.
    Read,
    /// Every earlier access to DMA memory completes before later accesses
    /// (the reads of consumed entries before the consumer-index write that
    /// lets the agent overwrite them).  On target `DMB OSH`.
    Full,
}

/// CPU data-cache maintenance by address range, to the point of coherency,
/// and the DMA barriers that go with it.
pub trait CacheMaintenance: Sync {
    /// Clean `[addr, addr + len)`: the CPU's writes become visible to a
    /// non-coherent observer.  Returns once the maintenance has completed.
    fn clean(&self, addr: usize, len: usize);
    /// Clean and invalidate `[addr, addr + len)`.
    fn clean_invalidate(&self, addr: usize, len: usize);
    /// Invalidate `[addr, addr + len)` so the next CPU read comes from memory
    /// (dirty lines in the range are discarded).
    fn invalidate(&self, addr: usize, len: usize);
    /// A DMA barrier of `kind`.  The default is the nearest Rust fence (on
    /// aarch64 an inner-shareable `DMB`), right for the host and for agents
    /// in the CPU's inner-shareable domain; boot's `CpuCaches` issues the
    /// outer-shareable forms.  Test services override it to record the order.
    fn barrier(&self, kind: DmaBarrier) {
        fence(match kind {
            DmaBarrier::Write => Ordering::Release,
            DmaBarrier::Read => Ordering::Acquire,
            DmaBarrier::Full => Ordering::SeqCst,
        });
    }
}

/// No maintenance: for coherent agents and the host, where there is nothing
/// to clean.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMaintenance;

impl CacheMaintenance for NoMaintenance {
    fn clean(&self, _addr: usize, _len: usize) {}
    fn clean_invalidate(&self, _addr: usize, _len: usize) {}
    fn invalidate(&self, _addr: usize, _len: usize) {}
}

/// The no-op service, for a `&'static dyn CacheMaintenance`.
pub static NO_MAINTENANCE: NoMaintenance = NoMaintenance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_maintenance_is_usable_as_a_shared_service() {
        let svc: &'static dyn CacheMaintenance = &NO_MAINTENANCE;
        svc.clean(0x1000, 64);
        svc.clean_invalidate(0x1000, 64);
        svc.invalidate(0x1000, 0);
        svc.barrier(DmaBarrier::Write);
        svc.barrier(DmaBarrier::Read);
        svc.barrier(DmaBarrier::Full);
    }
}
