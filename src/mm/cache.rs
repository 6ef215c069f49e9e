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

/// CPU data-cache maintenance by address range, to the point of coherency.
pub trait CacheMaintenance: Sync {
    /// Clean `[addr, addr + len)`: the CPU's writes become visible to a
    /// non-coherent observer.  Returns once the maintenance has completed.
    fn clean(&self, addr: usize, len: usize);
    /// Clean and invalidate `[addr, addr + len)`.
    fn clean_invalidate(&self, addr: usize, len: usize);
    /// Invalidate `[addr, addr + len)` so the next CPU read comes from memory
    /// (dirty lines in the range are discarded).
    fn invalidate(&self, addr: usize, len: usize);
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
    }
}
