//! What a case needs from the IOMMU under test before it can say anything:
//! declared next to each case, checked by the runner before the case runs,
//! so a case that cannot apply is a SKIP carrying the capability's own
//! reason — never a FAIL, and never a pass that proved nothing.
#![forbid(unsafe_code)]

/// One requirement of a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// A leaf-translation cache whose stale entries are observable.
    Tlb,
    /// A walk (non-leaf) cache.
    WalkCache,
    /// Two DMA masters.
    TwoMasters,
    /// Two domains in the test.
    TwoDomains,
    /// Two DMA masters, each in its own domain.
    TwoMastersTwoDomains,
    /// Streams can be attached to separate contexts (not one table shared
    /// by the whole IOMMU).
    SeparateContexts,
    /// One context can be invalidated without touching another (by tag or
    /// by the context's set of streams).
    ContextScopedInvalidation,
    /// A detached stream is blocked (not bypassing translation).
    DetachBlocks,
    /// The IOMMU checks master 0's writes against page permissions.
    PermissionCheckedMaster,
}
