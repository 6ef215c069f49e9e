//! The sun50i IOMMU as the core sees it: [`Sun50iIommu`] implements
//! [`Iommu`] (format [`Sun50i`], no context tag: one table for the whole
//! IOMMU) and [`Observe`] over the shared [`InvalidationGate`].
//!
//! * **One context.**  The IOMMU has a single IOMMU_TTB_REG
//!   (docs/hw/sun50i.md §3), so [`Iommu::new_context`] hands out `()` once;
//!   a second domain is refused with [`IommuError::NoFreeContext`] until
//!   the first is released.
//! * **Attach** points TTB at the domain's level-1 table (written only
//!   while every master bypasses, §8) and clears the master's BYPASS bit;
//!   **detach** sets it again — the hardware has no per-master block, so a
//!   detached master bypasses ([`Detach::Bypasses`]) — and flushes.
//! * **Sync** after an unmap is what Linux's `iotlb_sync` does: the full
//!   flush (every micro TLB, the macro TLB, the PTW cache) with its busy
//!   poll; the gathered range is not used (§7).  One command whatever the
//!   range.
//! * **sync_map** is the map-time zap of the neighbouring TLB and PTW-cache
//!   lines the hardware prefetches (§5, §7).  It is an invalidation the
//!   driver owes after a map (Linux's `iotlb_sync_map`), so it goes through
//!   the gate like the others: held while the self-test holds, dropped
//!   under `skip-sync`.  Fault recovery's zap (hw.rs `recover`) is not: it
//!   repairs the hardware after a fault, whatever the test withholds.
//! * **Faults** are polled, never taken: [`Observe::drain_faults`] decodes
//!   the latched registers (`fault.rs`) and recovers the faulting masters'
//!   lanes (hw.rs `recover`).
//! * **Cache evidence** comes from the PMU counters (`pmu.rs`, §12),
//!   started and cleared with the driver: [`Observe::open_cache_window`]
//!   reads them, [`Observe::cache_evidence`] reads them again and judges
//!   the deltas; [`Observe::invalidation_summary`] adds the counts since
//!   bring-up to the invalidations the driver issued.
#![forbid(unsafe_code)]

use super::fault;
use super::hw::{Sun50iError, Sun50iHw};
use super::pmu::{Deltas, Evidence, Reading};
use super::va_port::VA_PORT_STREAM;
use crate::iommu::pgtable::sun50i::Sun50i;
use crate::iommu::{
    Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault, FaultDelivery, FaultShape,
    InvalidationGate, Iommu, IommuError, MapRequest, Observable, Observe, StreamId, SyncPolicy,
    SyncRequest,
};
use crate::mmio::Mmio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// One invalidation the driver owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sun50iInvalidation {
    /// The full flush: after an unmap, a detach, or a context invalidation.
    FullFlush,
    /// The map-time zap of `size` bytes at `iova` (hw.rs `zap_range`).
    Zap {
        /// First IOVA mapped.
        iova: u32,
        /// Bytes mapped.
        size: u32,
    },
}

/// The sun50i driver.
pub struct Sun50iIommu<M: Mmio> {
    hw: Sun50iHw<M>,
    name: String,
    gate: InvalidationGate<Sun50iInvalidation>,
    /// The one context is handed out.
    context: bool,
    /// Fault records drained from the registers, not yet handed out.
    faults: Vec<Fault>,
    /// Problems found while draining (a failed recovery).
    problems: Vec<String>,
    /// Whether the PMU started (hw.rs `start_pmu`).
    pmu: Result<(), Sun50iError>,
    /// The counters right after they were started.
    pmu_baseline: Reading,
    /// The counters when the open cache-evidence window opened.
    window: Option<Reading>,
    /// What the driver issued, for [`Observe::invalidation_summary`].
    issued: Issued,
}

/// Counts of what the driver issued.
#[derive(Clone, Copy, Debug, Default)]
struct Issued {
    /// Full flushes.
    flushes: u64,
    /// Map-time zaps, and the address/PTW commands they took.
    zaps: u64,
    zap_commands: u64,
    /// Fault recoveries (lane resets and zaps of faulting IOVAs).
    recoveries: u64,
}

impl<M: Mmio> Sun50iIommu<M> {
    /// The driver over an enabled hardware layer; `skip_sync` starts the
    /// negative control.  Starts and clears the PMU counters (a failure is
    /// kept and reported by [`Self::pmu_status`], never fatal).
    pub fn new(mut hw: Sun50iHw<M>, name: &str, skip_sync: bool) -> Self {
        let pmu = hw.start_pmu();
        let pmu_baseline = hw.pmu_reading();
        Self {
            hw,
            name: String::from(name),
            gate: InvalidationGate::new(skip_sync),
            context: false,
            faults: Vec::new(),
            problems: Vec::new(),
            pmu,
            pmu_baseline,
            window: None,
            issued: Issued::default(),
        }
    }

    /// One line for KTAP: whether the PMU counts, so a reader knows what
    /// the cache evidence lines rest on.
    pub fn pmu_status(&self) -> String {
        match self.pmu {
            Ok(()) => String::from(
                "PMU counters started and cleared (PMU_ENABLE reads 1): the stale-window cases report their deltas per micro TLB, macro TLB and PTW cache",
            ),
            Err(e) => format!(
                "PMU not started ({e}): the stale-window cases carry no counter evidence"
            ),
        }
    }

    /// Evidence over the window from `before` to now: "no evidence" when
    /// the PMU did not start, whatever the counters read.
    fn evidence_since(&self, before: &Reading) -> String {
        match self.pmu {
            Ok(()) => format!("{}", Evidence::judge(before, &self.hw.pmu_reading())),
            Err(e) => format!("no evidence: the PMU did not start ({e})"),
        }
    }

    /// The hardware layer.
    pub fn hw(&self) -> &Sun50iHw<M> {
        &self.hw
    }

    /// The hardware layer, mutable (tests switch driver bugs on here).
    pub fn hw_mut(&mut self) -> &mut Sun50iHw<M> {
        &mut self.hw
    }

    fn invalidate(&mut self, inv: Sun50iInvalidation) -> Result<(), IommuError> {
        match self.gate.admit(inv) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn run(&mut self, inv: Sun50iInvalidation) -> Result<(), IommuError> {
        match inv {
            Sun50iInvalidation::FullFlush => {
                self.gate.count(1);
                self.issued.flushes += 1;
                self.hw.flush_all().map_err(IommuError::from)
            }
            Sun50iInvalidation::Zap { iova, size } => {
                let n = self.hw.zap_range(iova, size).map_err(IommuError::from)?;
                self.gate.count(n);
                self.issued.zaps += 1;
                self.issued.zap_commands += n;
                Ok(())
            }
        }
    }

    /// Reads what the registers latched, recovers, and keeps the records.
    fn poll_faults(&mut self) {
        let Some(l) = self.hw.latched() else {
            return;
        };
        self.faults.extend(fault::decode(&l, &self.hw.variant()));
        self.issued.recoveries += 1;
        if let Err(e) = self.hw.recover(&l) {
            self.problems
                .push(format!("{}: fault recovery: {e}", self.name));
        }
    }
}

/// Why the cases that need per-stream contexts skip here.
pub const SHARED_CONTEXT: &str =
    "one table base for the whole IOMMU: the sun50i IOMMU has a single IOMMU_TTB_REG shared by every master (docs/hw/sun50i.md §3)";

/// What a context invalidation reaches.
pub const WHOLE_IOMMU: &str =
    "the sun50i full flush (TLB_FLUSH_ENABLE) empties every micro TLB, the macro TLB and the PTW cache; no entry carries a context tag (docs/hw/sun50i.md §6)";

/// What a detach does.
pub const DETACH_BYPASSES: &str =
    "a detached master's BYPASS bit (0x030) passes its DMA untranslated: with one table for every master there is no other domain to block it with, and the manual names no per-master block (docs/hw/sun50i.md §8)";

/// Why the stream configuration cache is not observable.
pub const NO_CONFIG_CACHE: &str =
    "the sun50i IOMMU caches no stream configuration: BYPASS and the one TTB act directly (docs/hw/sun50i.md §8)";

/// Why a fault record carries no direction.
pub const NO_DIRECTION: &str =
    "no sun50i fault register says read or write; only a permission fault's domain (the ACI in INT_ERR_DATA) implies one (docs/hw/sun50i.md §8)";

impl<M: Mmio> Iommu for Sun50iIommu<M> {
    type Format = Sun50i;
    type Tag = ();

    fn name(&self) -> &str {
        &self.name
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::WholeContext
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tlb: Observable::Yes,
            config_cache: Observable::No(NO_CONFIG_CACHE),
            walk_cache: Observable::Yes,
            contexts: Contexts::Shared(SHARED_CONTEXT),
            context_invalidation: ContextInvalidation::WholeIommu(WHOLE_IOMMU),
            detach: Detach::Bypasses(DETACH_BYPASSES),
            invalidation: SyncPolicy::WholeContext,
            // The sync is one full flush whatever the range.
            ranged: true,
            fault: FaultShape {
                direction: Observable::No(NO_DIRECTION),
                // INT_ERR_ADDR holds the faulting IOVA; whether its low 12
                // bits are exact is not documented, so only the page is
                // claimed.
                iova_granule: 4096,
                delivery: FaultDelivery::Latched,
            },
        }
    }

    fn new_context(&mut self, _format: &Sun50i) -> Result<(), IommuError> {
        // The codec has one geometry (4 KiB pages, 32-bit IOVA and
        // output) and every variant walks it; only the count is limited.
        if self.context {
            return Err(IommuError::NoFreeContext { contexts: 1 });
        }
        self.context = true;
        Ok(())
    }

    fn release_context(&mut self, _tag: ()) {
        self.context = false;
    }

    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Sun50i, ()>,
    ) -> Result<(), IommuError> {
        self.hw.set_ttb(ctx.root.0)?;
        if stream == VA_PORT_STREAM {
            // No BYPASS bit: the port walks the TTB just written.
            self.hw.check_va_port()?;
        } else {
            self.hw.set_bypass(stream.0, false)?;
        }
        Ok(())
    }

    fn detach(
        &mut self,
        stream: StreamId,
        _ctx: &Context<'_, Sun50i, ()>,
    ) -> Result<(), IommuError> {
        // The VA port has no BYPASS bit (§11): it keeps walking the TTB,
        // but only when the CPU drives it.
        if stream != VA_PORT_STREAM {
            self.hw.set_bypass(stream.0, true)?;
        }
        // Nothing of the table may stay cached for the master.
        self.invalidate(Sun50iInvalidation::FullFlush)
    }

    fn sync(&mut self, _req: &SyncRequest<'_, ()>) -> Result<(), IommuError> {
        self.invalidate(Sun50iInvalidation::FullFlush)
    }

    fn sync_map(
        &mut self,
        _ctx: &Context<'_, Sun50i, ()>,
        map: &MapRequest,
    ) -> Result<(), IommuError> {
        let (Ok(iova), Ok(size)) = (u32::try_from(map.iova.0), u32::try_from(map.size)) else {
            return Err(IommuError::SyncFailed {
                iova: map.iova,
                size: map.size,
            });
        };
        self.invalidate(Sun50iInvalidation::Zap { iova, size })
    }

    fn sync_is_deferred(&self) -> bool {
        self.gate.deferred()
    }
}

/// The cases the sun50i negative control (`inject=skip-sync`) must fail,
/// measured on the model (`sun50i/tests.rs`).  Skip-sync drops both
/// invalidations this driver owes: the full flush after an unmap and the
/// map-time neighbour zap.  Two groups:
///
/// * the unmapped page stays in the micro and macro TLBs (no flush), so the
///   DMA that must be blocked lands, or reaches the old page after a remap:
///   `unmap_invalidate_blocks_dma`, `range_invalidate`,
///   `empty_gather_still_syncs`; and `walk_cache_invalidate`, whose freed
///   level-2 table stays reachable through the PTW cache's directory entry;
/// * a fresh mapping sits behind an invalid entry the prefetch cached when
///   the page before it (or the 1 MiB slot before it) was used, and no zap
///   drops it, so the first DMA to it faults: `map_next_to_walked` (which
///   maps right next to a page it has just used, the window this zap
///   exists for), `unmap_stale_window`, `remap_stale_window` and
///   `remap_invalidate_new_page` (their first DMA to a fresh page),
///   `readonly_blocks_write` (a translation fault where a permission fault
///   is expected).
///
/// `fault_record` passes (its IOVA was never used before the unmap, so
/// nothing cached it); the cases that need separate contexts or a blocking
/// detach SKIP with the capability's reason.
pub const SKIP_SYNC_FAILURES: &[&str] = &[
    "map_next_to_walked",
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "remap_stale_window",
    "remap_invalidate_new_page",
    "range_invalidate",
    "walk_cache_invalidate",
    "readonly_blocks_write",
    "empty_gather_still_syncs",
];

impl<M: Mmio> Observe for Sun50iIommu<M> {
    type Invalidation = Sun50iInvalidation;

    fn gate(&self) -> &InvalidationGate<Sun50iInvalidation> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<Sun50iInvalidation> {
        &mut self.gate
    }

    fn run_invalidation(&mut self, inv: Sun50iInvalidation) -> Result<(), IommuError> {
        self.run(inv)
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        self.poll_faults();
        core::mem::take(&mut self.faults)
    }

    fn health(&mut self) -> Vec<String> {
        core::mem::take(&mut self.problems)
    }

    /// Reads every PMU counter of the variant.
    fn open_cache_window(&mut self) {
        self.window = Some(self.hw.pmu_reading());
    }

    /// The PMU deltas since [`Observe::open_cache_window`] and what they
    /// say (`pmu.rs`): a micro- or macro-TLB hit, lookups without one, or
    /// "no evidence" when the PMU is off, silent or inconsistent.
    fn cache_evidence(&mut self) -> Option<String> {
        let before = self.window.take()?;
        Some(self.evidence_since(&before))
    }

    /// The invalidations issued (full flushes, map-time zaps and their
    /// commands, fault recoveries) and the PMU counts since bring-up.
    fn invalidation_summary(&self) -> Option<String> {
        let i = self.issued;
        let pmu = match self.pmu {
            Ok(()) => format!(
                "PMU since bring-up: {}",
                Deltas::between(&self.pmu_baseline, &self.hw.pmu_reading())
            ),
            Err(e) => format!("PMU not started ({e})"),
        };
        Some(format!(
            "{} full flushes, {} map-time zaps ({} TLB/PTW-cache invalidation commands), {} fault recoveries; {pmu}",
            i.flushes, i.zaps, i.zap_commands, i.recoveries
        ))
    }

    fn invalidate_context(&mut self, _tag: ()) -> Result<(), IommuError> {
        match self.gate.admit_unheld(Sun50iInvalidation::FullFlush) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn skip_sync_failures(&self) -> &'static [&'static str] {
        SKIP_SYNC_FAILURES
    }
}
