//! What one IOMMU instance can show the self-test and how it is organised:
//! the capability record every driver fills in once, and from which the
//! catalogue decides — before a case runs — whether the case can say
//! anything on this IOMMU (docs/design.md, "The shape for five families", item 2).
//!
//! A capability that is absent carries its reason, so a skipped case prints
//! *why* ("QEMU's SMMUv3 models no walk cache"), never only "not supported".
//! The values are facts about the hardware (or the platform, where software
//! cannot detect them, e.g. QEMU's SMMUv3 having no walk cache); they are
//! not a way to make a failing case pass.
#![forbid(unsafe_code)]

use super::SyncPolicy;

/// Whether something is there to observe, and if not, why.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Observable {
    /// Present: entries stay cached until invalidated, so a withheld
    /// invalidation shows.
    Yes,
    /// Absent or hidden, with the reason a skipped case prints.
    No(&'static str),
}

impl Observable {
    /// `true` when present.
    pub fn is_yes(self) -> bool {
        self == Self::Yes
    }

    /// The reason it is absent, if it is.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Yes => None,
            Self::No(r) => Some(r),
        }
    }
}

/// How translation contexts relate to streams.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Contexts {
    /// Each stream can be attached to its own context (SMMUv3 STE/CD,
    /// SMMUv2 context banks, DART per-stream TTBRs, virtio-iommu domains).
    PerStream,
    /// One table base for the whole IOMMU; every attached stream shares it
    /// (the reason says which hardware, e.g. the sun50i IOMMU's single
    /// IOMMU_TTB_REG).
    Shared(&'static str),
}

/// What invalidating "one context" really reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContextInvalidation {
    /// Entries carry a context tag (ASID, context bank): one context can be
    /// invalidated without touching the others.
    Tagged,
    /// Invalidation names a set of streams (DART's stream-select mask):
    /// everything cached for those streams goes.
    StreamSet,
    /// Only the whole IOMMU can be invalidated (the reason names the
    /// register, e.g. a global flush bit).
    WholeIommu(&'static str),
}

/// What a stream does after it is detached from every context.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Detach {
    /// Its DMA is blocked (abort STE, fault-on-unmatched SMR, …).
    Blocks,
    /// It bypasses translation (the reason names the register bit, e.g. a
    /// per-master bypass bit).
    Bypasses(&'static str),
}

/// How the IOMMU reports a translation fault.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultDelivery {
    /// Records in a queue in memory (SMMUv3 EVTQ, virtio-iommu events).
    Queue,
    /// One record latched in registers until software clears it (SMMUv2
    /// FSR/FAR, sun50i, DART ERROR registers): a second fault before the
    /// clear is not recorded.
    Latched,
}

/// The shape of the fault records this IOMMU produces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FaultShape {
    /// Whether a translation-fault record says read or write.
    pub direction: Observable,
    /// The record's IOVA is exact to this many bytes (a power of two; an
    /// SMMUv3 reports the faulting 4-byte beat on QEMU, so 4).
    pub iova_granule: u64,
    /// Queue or latched registers.
    pub delivery: FaultDelivery,
}

/// Everything the catalogue needs to know about one IOMMU instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Capabilities {
    /// A leaf-translation cache (IOTLB) whose stale entries are observable.
    pub tlb: Observable,
    /// A stream/context configuration cache (STE/CD, SMR/S2CR/CB, TTBR).
    pub config_cache: Observable,
    /// A walk (non-leaf) cache.
    pub walk_cache: Observable,
    /// Per-stream contexts or one shared table.
    pub contexts: Contexts,
    /// What a context-wide invalidation reaches.
    pub context_invalidation: ContextInvalidation,
    /// What a detached stream does.
    pub detach: Detach,
    /// The invalidation shape after an unmap (range, whole context, whole
    /// stream); equal to [`Iommu::sync_policy`](super::Iommu::sync_policy).
    pub invalidation: SyncPolicy,
    /// `true` when one command invalidates a whole IOVA range (SMMUv3
    /// IDR3.RIL, virtio-iommu UNMAP): N contiguous pages then cost O(1)
    /// commands, and `range_invalidate` checks that.
    pub ranged: bool,
    /// The fault records.
    pub fault: FaultShape,
}

impl Capabilities {
    /// Everything present: per-stream tagged contexts, all caches
    /// observable, detach blocks, queued faults with direction, exact to
    /// 4 bytes.  Drivers start from this and state what differs.
    pub const FULL: Self = Self {
        tlb: Observable::Yes,
        config_cache: Observable::Yes,
        walk_cache: Observable::Yes,
        contexts: Contexts::PerStream,
        context_invalidation: ContextInvalidation::Tagged,
        detach: Detach::Blocks,
        invalidation: SyncPolicy::Range,
        ranged: false,
        fault: FaultShape {
            direction: Observable::Yes,
            iova_granule: 4,
            delivery: FaultDelivery::Queue,
        },
    };
}
