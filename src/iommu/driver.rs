//! The trait every IOMMU driver implements (SMMUv3, SMMUv2, sun50i, DART,
//! virtio-iommu, and the host models).
//!
//! A driver does not touch page tables and never sees an unmap: the core's
//! walker fills the [`Gather`](super::Gather) and the core decides when the
//! driver must invalidate.  The driver only programs contexts and runs the
//! invalidation it is asked for.  This is what makes the 2026 Linux bug
//! (drivers that did not fill the gather lost their sync) impossible to write
//! here.
#![forbid(unsafe_code)]

use super::pgtable::{Prot, TableFormat};
use super::{Asid, IommuError, StreamId, SyncPolicy, SyncRequest};
use crate::mm::{BusAddr, Iova, PhysAddr};

/// What a driver needs to point a stream at a domain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Context {
    /// The domain's ASID.
    pub asid: Asid,
    /// Bus address of the top-level table.
    pub root: BusAddr,
    /// Format-specific values (TCR, MAIR, ...).
    pub format: TableFormat,
    /// `true` when the tables were written for a walker that snoops caches.
    pub coherent_walk: bool,
}

/// What a successful map installed: `[iova, iova + size)` now translates
/// linearly to `[phys, phys + size)` with `prot`.  Handed to
/// [`Iommu::sync_map`] so an IOMMU that keeps mappings itself instead of
/// walking our tables (virtio-iommu: MAP requests, virtio 1.2 §5.13.6.6)
/// can mirror the page table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapRequest {
    /// First IOVA.
    pub iova: Iova,
    /// Output address of `iova`.
    pub phys: PhysAddr,
    /// Bytes.
    pub size: u64,
    /// Permissions.
    pub prot: Prot,
}

/// An IOMMU driver.
pub trait Iommu {
    /// A short name for reports ("smmuv3@9050000").
    fn name(&self) -> &str;

    /// The invalidation granularity this IOMMU implements.
    fn sync_policy(&self) -> SyncPolicy;

    /// Makes `stream` translate through `ctx` (program STE/CD, SMR/S2CR/CB,
    /// TTB, ...), including whatever configuration-cache invalidation that
    /// needs.
    fn attach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError>;

    /// Stops `stream` translating through `ctx`; afterwards its DMA is blocked
    /// (never bypassed), and nothing of `ctx` is cached for it.
    fn detach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError>;

    /// Runs the invalidation `req` describes and waits for it to complete.
    /// Called by the core after every unmap that removed something, and in
    /// the middle of a block split.
    fn sync(&mut self, req: &SyncRequest<'_>) -> Result<(), IommuError>;

    /// Called after every successful map with what it installed.  IOMMUs
    /// that may cache invalid entries (DART) flush here; an IOMMU without
    /// page tables (virtio-iommu) sends its MAP here; the default does
    /// nothing, as Linux does for the SMMUs (smmu.md C.6.1 step 3).
    fn sync_map(&mut self, _ctx: &Context, _map: &MapRequest) -> Result<(), IommuError> {
        Ok(())
    }

    /// `true` while [`sync`](Self::sync) only queues or drops the
    /// invalidation instead of completing it (the self-test holding
    /// invalidations, or the `skip-sync` negative control).  The core then
    /// keeps the table pages an unmap removed instead of freeing them: a
    /// walk cache may still point at them, and a freed page reused as a
    /// data buffer would be walked as descriptors (smmu.md C.6.2).
    fn sync_is_deferred(&self) -> bool {
        false
    }
}
