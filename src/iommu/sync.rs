//! How a driver invalidates, and the request the core hands it after every
//! unmap that removed something.
//!
//! The three policies are the three shapes real IOMMUs have (docs/design.md §3, "The
//! sync contract"): SMMUv3 invalidates by address range (leaf or non-leaf,
//! docs/hw/smmuv3.md §13), SMMUv2 and sun50i flush a whole context (docs/hw/smmuv2.md §11.7,
//! docs/hw/sun50i.md §7), DART flushes whole streams (docs/hw/dart.md §7).
#![forbid(unsafe_code)]

use super::{Gather, StreamId};
use crate::mm::Iova;

/// The invalidation granularity a driver implements.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SyncPolicy {
    /// Invalidate the gathered IOVA range (leaf-only unless tables were freed
    /// or a block was broken).
    Range,
    /// Invalidate everything tagged with the domain's ASID / context.
    WholeContext,
    /// Invalidate everything cached for the domain's streams.
    WholeStream,
}

/// What the core asks a driver to invalidate, then wait for.
#[derive(Clone, Copy, Debug)]
pub struct SyncRequest<'a, T> {
    /// The driver's own policy, echoed so a driver can assert on it.
    pub policy: SyncPolicy,
    /// The domain's context tag (the driver's own type).
    pub tag: T,
    /// The streams attached to the domain.
    pub streams: &'a [StreamId],
    /// First IOVA to invalidate.
    pub iova: Iova,
    /// Bytes to invalidate.
    pub size: u64,
    /// Smallest leaf size removed (range invalidation step / TTL hint).
    pub granule: u64,
    /// `true` when only leaf entries changed; `false` means walk caches must
    /// be invalidated too (tables freed or a block broken).
    pub leaf_only: bool,
    /// The full gather, for drivers that want more detail.
    pub gather: &'a Gather,
}
