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

use super::pgtable::{Codec, Prot};
use super::{Capabilities, IommuError, StreamId, SyncPolicy, SyncRequest};
use crate::mm::{BusAddr, Iova, PhysAddr};
use core::fmt;

/// What a driver needs to point a stream at a domain: the domain's context
/// tag (which the driver itself handed out), its root table and the codec
/// the tables were written with.
#[derive(Debug)]
pub struct Context<'a, F, T> {
    /// The tag the driver gave this domain ([`Iommu::new_context`]).
    pub tag: T,
    /// Bus address of the top-level table.
    pub root: BusAddr,
    /// The table format (numbers only; the driver packs its registers).
    pub format: &'a F,
    /// `true` when the tables were written for a walker that snoops caches.
    pub coherent_walk: bool,
}

impl<F, T: Copy> Clone for Context<'_, F, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F, T: Copy> Copy for Context<'_, F, T> {}

/// The [`Context`] type of driver `I`.
pub type ContextOf<'a, I> = Context<'a, <I as Iommu>::Format, <I as Iommu>::Tag>;

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
///
/// The driver owns its table format and its context tags: a domain is
/// created through [`new_context`](Self::new_context), which checks the
/// format's geometry against what the hardware reports and hands out the
/// tag (ASID, context bank, domain id, or `()` where the hardware has
/// none).  A domain whose codec is not the driver's `Format` cannot be
/// attached to it: that is a type error.
pub trait Iommu {
    /// The page-table codec this IOMMU walks.
    type Format: Codec;
    /// What tags a context's cached entries (`()` when nothing does).
    type Tag: Copy + Eq + fmt::Debug;

    /// A short name for reports ("smmuv3@9050000").
    fn name(&self) -> &str;

    /// The invalidation granularity this IOMMU implements.
    fn sync_policy(&self) -> SyncPolicy;

    /// What this instance caches and how it is organised (read by the
    /// self-test to decide which cases can say anything here).
    fn capabilities(&self) -> Capabilities;

    /// Checks that tables of `format` can be walked here (granule, input and
    /// output sizes against the ID registers, coherency) and allocates a
    /// context tag for a new domain.
    fn new_context(&mut self, format: &Self::Format) -> Result<Self::Tag, IommuError>;

    /// The domain tagged `tag` was destroyed (all its streams detached):
    /// the tag may be handed out again.
    fn release_context(&mut self, _tag: Self::Tag) {}

    /// Makes `stream` translate through `ctx` (program STE/CD, SMR/S2CR/CB,
    /// TTB, ...), including whatever configuration-cache invalidation that
    /// needs.
    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Self::Format, Self::Tag>,
    ) -> Result<(), IommuError>;

    /// Stops `stream` translating through `ctx`; afterwards nothing of `ctx`
    /// is cached for it, and its DMA is blocked — or, on hardware whose
    /// detach can only bypass, passes untranslated, which the driver states
    /// as `Capabilities::detach` = `Detach::Bypasses` so `default_deny`
    /// skips instead of failing.
    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Self::Format, Self::Tag>,
    ) -> Result<(), IommuError>;

    /// Runs the invalidation `req` describes and waits for it to complete.
    /// Called by the core after every unmap that removed something, and in
    /// the middle of a block split.
    fn sync(&mut self, req: &SyncRequest<'_, Self::Tag>) -> Result<(), IommuError>;

    /// Called after every successful map with what it installed.  IOMMUs
    /// that may cache invalid entries (DART) flush here; an IOMMU without
    /// page tables (virtio-iommu) sends its MAP here; the default does
    /// nothing, as Linux does for the SMMUs (`io-pgtable-arm.c`: a new
    /// valid entry needs no TLB maintenance).
    fn sync_map(
        &mut self,
        _ctx: &Context<'_, Self::Format, Self::Tag>,
        _map: &MapRequest,
    ) -> Result<(), IommuError> {
        Ok(())
    }

    /// `true` while [`sync`](Self::sync) only queues or drops the
    /// invalidation instead of completing it (the self-test holding
    /// invalidations, or the `skip-sync` negative control).  The core then
    /// keeps the table pages an unmap removed instead of freeing them: a
    /// walk cache may still point at them, and a freed page reused as a
    /// data buffer would be walked as descriptors (docs/hw/lpae.md §6.2).
    fn sync_is_deferred(&self) -> bool {
        false
    }
}
