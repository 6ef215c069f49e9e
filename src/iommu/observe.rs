//! What the self-test observes and controls in a driver beyond the
//! [`Iommu`](super::Iommu) contract: held invalidations (to prove a cached
//! translation exists), the fault records the IOMMU reported, and the cost of
//! invalidation.
//!
//! Holding invalidations is how `unmap_stale_window` withholds a sync without
//! a core that can skip one: the core still calls [`Iommu::sync`] after every
//! unmap (the contract), the driver queues the request instead of running it,
//! and [`Observe::release_held`] runs the queue later.  The fault-injection
//! switch `iommu_bringup.inject=skip-sync` is the same mechanism with the
//! queue dropped — the negative control that must make the invalidation
//! cases fail.
//!
//! [`Iommu::sync`]: super::Iommu::sync
#![forbid(unsafe_code)]

use super::{Iommu, IommuError, StreamId};
use crate::mm::Iova;
use alloc::vec::Vec;
use core::fmt;

/// Direction of the faulting access, from memory's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The device read memory.
    Read,
    /// The device wrote memory.
    Write,
}

/// What kind of translation failure the IOMMU reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// No valid translation (SMMUv3 F_TRANSLATION, virtio-iommu MAPPING).
    Translation,
    /// Permission (write to a read-only page; SMMUv3 F_PERMISSION).
    Permission,
    /// Access flag clear (SMMUv3 F_ACCESS).
    AccessFlag,
    /// Output address out of range (SMMUv3 F_ADDR_SIZE).
    AddressSize,
    /// The stream's configuration blocked it (abort STE, bad STE/CD,
    /// virtio-iommu DOMAIN).
    Config,
    /// Something else; the driver's raw event type.
    Other(u8),
}

/// One fault record, in the driver-independent form the cases check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Stream that faulted.
    pub stream: StreamId,
    /// Input address of the faulting access (when the IOMMU reports one).
    pub iova: Option<Iova>,
    /// Direction (when reported).
    pub access: Option<Access>,
    /// Kind.
    pub kind: FaultKind,
    /// The raw record (first two 64-bit words), for diagnostics.
    pub raw: [u64; 2],
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} fault, {}", self.kind, self.stream)?;
        if let Some(iova) = self.iova {
            write!(f, ", IOVA {iova}")?;
        }
        if let Some(a) = self.access {
            write!(f, ", {a:?}")?;
        }
        write!(f, " (raw {:#018x} {:#018x})", self.raw[0], self.raw[1])
    }
}

/// What a cache of this IOMMU can show the self-test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caching {
    /// `None`: leaf translations are cached and a stale one is observable.
    /// `Some(reason)`: they are not (virtio-iommu), and the stale-window
    /// cases are skipped with this reason.
    pub tlb: Option<&'static str>,
    /// Same for the stream/context configuration cache.
    pub config: Option<&'static str>,
    /// Same for walk (non-leaf) caches.
    pub walk: Option<&'static str>,
}

/// Self-test access to a driver.
pub trait Observe: Iommu {
    /// While `true`, [`Iommu::sync`](super::Iommu::sync) and configuration
    /// invalidations are queued instead of run.
    fn hold_invalidations(&mut self, hold: bool);

    /// Runs (and waits for) every queued invalidation; returns how many
    /// were run.  With `inject=skip-sync` the queue is dropped instead and 0
    /// is returned.
    fn release_held(&mut self) -> Result<usize, IommuError>;

    /// Fault records reported since the last call (bounded by the driver).
    fn drain_faults(&mut self) -> Vec<Fault>;

    /// Invalidation commands (or requests) issued since the last call.
    fn take_invalidation_cost(&mut self) -> u64;

    /// Which caches the self-test can observe on this IOMMU.
    fn caching(&self) -> Caching;

    /// `true` when `inject=skip-sync` is in force.
    fn skipping_syncs(&self) -> bool;

    /// Turns the `inject=skip-sync` negative control on or off.  The
    /// self-test turns it on once its setup (mappings, first attaches) is
    /// done, so the control hits the cases, not the setup: a master that
    /// touched its stream before it was attached would otherwise keep a
    /// stale "abort" configuration and fail every case.
    fn set_skip_sync(&mut self, on: bool);

    /// `true` when one command invalidates a whole IOVA range (SMMUv3 with
    /// IDR3.RIL): then unmapping N contiguous pages must cost O(1)
    /// invalidation commands, and `range_invalidate` checks it.
    fn ranged_invalidation(&self) -> bool {
        false
    }

    /// Problems reported outside fault records since the last call: lost
    /// fault records (queue overflow), global errors.  The self-test fails
    /// the running case with each.
    fn health(&mut self) -> Vec<alloc::string::String> {
        Vec::new()
    }

    /// `None` when a translation-fault record says whether the access was
    /// a read or a write; `Some(reason)` when this IOMMU's record format
    /// leaves it out (then `fault_record` notes the reason instead of
    /// failing).
    fn translation_fault_direction(&self) -> Option<&'static str> {
        None
    }

    /// Invalidates every cached translation tagged with `asid` (SMMUv3
    /// TLBI_NH_ASID) and waits.  Runs at once even while invalidations are
    /// held — `asid_invalidate` holds the unmaps' syncs of two contexts and
    /// invalidates one of them this way; dropped under `inject=skip-sync`.
    fn invalidate_context(&mut self, asid: super::Asid) -> Result<(), IommuError>;
}
