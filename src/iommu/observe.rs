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

use super::{InvalidationGate, Iommu, IommuError, StreamId};
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
    /// The raw record as the IOMMU wrote it, for diagnostics.
    pub raw: RawRecord,
}

/// A fault record's raw words (up to four; an SMMUv3 event is four 64-bit
/// words of which the first two are printed, a latched-register IOMMU has
/// one or two registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord {
    words: [u64; 4],
    len: u8,
}

impl RawRecord {
    /// The first (up to four) of `words`.
    pub fn new(words: &[u64]) -> Self {
        let mut w = [0; 4];
        let len = words.len().min(4);
        w[..len].copy_from_slice(&words[..len]);
        Self {
            words: w,
            len: len as u8,
        }
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.words[..usize::from(self.len)]
    }
}

impl fmt::Display for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.words().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{w:#018x}")?;
        }
        Ok(())
    }
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
        write!(f, " (raw {})", self.raw)
    }
}

/// Self-test access to a driver.
///
/// Holding, the skip-sync negative control and the invalidation cost are
/// provided once here over the driver's [`InvalidationGate`]; a driver only
/// says how to run one of its invalidations.
pub trait Observe: Iommu {
    /// One invalidation as the driver queues it (replayable later).
    type Invalidation: Copy;

    /// The driver's gate.
    fn gate(&self) -> &InvalidationGate<Self::Invalidation>;

    /// The driver's gate, mutable.
    fn gate_mut(&mut self) -> &mut InvalidationGate<Self::Invalidation>;

    /// Issues `inv` now and waits for it; counts its commands on the gate.
    fn run_invalidation(&mut self, inv: Self::Invalidation) -> Result<(), IommuError>;

    /// While `true`, [`Iommu::sync`](super::Iommu::sync) and configuration
    /// invalidations are queued instead of run.
    fn hold_invalidations(&mut self, hold: bool) {
        self.gate_mut().hold(hold);
    }

    /// Runs (and waits for) every queued invalidation, oldest first; returns
    /// how many were run.  With `inject=skip-sync` the queue is dropped
    /// instead and 0 is returned.  On an error the failed invalidation and
    /// the ones after it stay queued.
    fn release_held(&mut self) -> Result<usize, IommuError> {
        let queue = self.gate_mut().take_queue();
        for (i, inv) in queue.iter().enumerate() {
            if let Err(e) = self.run_invalidation(*inv) {
                self.gate_mut().requeue_front(&queue[i..]);
                return Err(e);
            }
        }
        Ok(queue.len())
    }

    /// Invalidation commands (or requests) issued since the last call.
    fn take_invalidation_cost(&mut self) -> u64 {
        self.gate_mut().take_cost()
    }

    /// `true` when `inject=skip-sync` is in force.
    fn skipping_syncs(&self) -> bool {
        self.gate().skipping()
    }

    /// Turns the `inject=skip-sync` negative control on or off.  The
    /// self-test turns it on once its setup (mappings, first attaches) is
    /// done, so the control hits the cases, not the setup: a master that
    /// touched its stream before it was attached would otherwise keep a
    /// stale "abort" configuration and fail every case.
    fn set_skip_sync(&mut self, on: bool) {
        self.gate_mut().set_skipping(on);
    }

    /// Fault records reported since the last call (bounded by the driver).
    fn drain_faults(&mut self) -> Vec<Fault>;

    /// Problems reported outside fault records since the last call: lost
    /// fault records (queue overflow), global errors.  The self-test fails
    /// the running case with each.
    fn health(&mut self) -> Vec<alloc::string::String> {
        Vec::new()
    }

    /// Opens a window for [`Self::cache_evidence`]: an IOMMU with hit/miss
    /// counters notes them here.  The self-test opens one right before a
    /// DMA whose caching it wants to judge and closes it right after, before
    /// any other DMA (the heartbeat), so the counts belong to that DMA.
    /// The default: nothing to note.
    fn open_cache_window(&mut self) {}

    /// Whatever hit/miss evidence the IOMMU offers about its caches (PMU
    /// counters, a model's statistics) over the window
    /// [`Self::open_cache_window`] opened, which this call closes: printed
    /// with the stale-window observations, and with the SKIP of a case that
    /// could not establish that an entry was cached (an evicted entry is
    /// not a driver bug, docs/design.md §5).  Counters that cannot be
    /// trusted must say "no evidence", never claim a hit.  `None`: the
    /// IOMMU offers none, or no window is open.
    fn cache_evidence(&mut self) -> Option<alloc::string::String> {
        None
    }

    /// One line summarising the shapes of the invalidations this driver
    /// issued so far (leaf / non-leaf, range encodings, addresses above
    /// 4 GiB), printed at the end of the group so a reader can see which
    /// paths a run reached.  `None`: the driver keeps no such count.
    fn invalidation_summary(&self) -> Option<alloc::string::String> {
        None
    }

    /// Invalidates every cached translation of the context tagged `tag` and
    /// waits.  Runs at once even while invalidations are held —
    /// `asid_invalidate` holds the unmaps' syncs of two contexts and
    /// invalidates one of them this way; dropped under `inject=skip-sync`.
    fn invalidate_context(&mut self, tag: Self::Tag) -> Result<(), IommuError>;

    /// The cases this driver's negative control (`inject=skip-sync`) must
    /// fail, in catalogue order — stated once, in the driver, and read by
    /// the host model tests, the QEMU scenarios and the board READMEs.
    fn skip_sync_failures(&self) -> &'static [&'static str];
}
