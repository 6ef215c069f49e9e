//! The SMMUv1/v2 family as the core sees it: [`Smmuv2Iommu`] implements
//! [`Iommu`] (format [`Lpae`], tag [`Smmuv2Tag`] = context bank + ASID) and
//! [`Observe`] over the shared [`InvalidationGate`].
//!
//! * **Contexts.**  [`Iommu::new_context`] checks the codec against the ID
//!   registers (granule, input and output sizes, through the same packing
//!   the attach uses) and takes the lowest free stage-1 context bank; the
//!   ASID is the bank index + 1, so no two live contexts share one and no
//!   TLBI operand or TLBIASID ever carries ASID 0 (docs/hw/smmuv2.md §13).
//!   The bank is programmed at its first attach (the root is known then).
//! * **Attach** maps the stream's SMR/S2CR to the bank (the mask from the
//!   device tree, [`Smmuv2Iommu::set_stream_masks`]); **detach** makes the
//!   stream unmatched again, so it faults (sCR0.USFCFG = 1):
//!   [`Detach::Blocks`].  Neither needs TLB maintenance: entries are
//!   tagged by ASID, not by stream, and SMMUv2 defines no
//!   configuration-invalidation operation (docs/hw/smmuv2.md §6).
//! * **Sync** after an unmap: TLBIVAL per granule over the range when only
//!   leaves changed, TLBIVA per granule when a table was freed or a block
//!   broken — TLBIASID instead on Qualcomm parts (Linux's
//!   `flush_walk_prefer_tlbiasid`) or past [`MAX_VA_OPS`] steps — then
//!   TLBSYNC with a bounded TLBSTATUS poll (docs/hw/smmuv2.md §7, §12).
//!   Every one goes through the gate: held while the self-test holds,
//!   dropped under `skip-sync`.
//! * **Faults** are polled, never taken: [`Observe::drain_faults`] reads
//!   each owned bank's FSR and sGFSR (`fault.rs`) and clears them; a global
//!   fault other than an unmatched stream (a detached stream's DMA) is
//!   also a health problem, since the driver never programs an entry that
//!   produces one.
#![forbid(unsafe_code)]

use super::atos;
use super::context::{self, ContextError};
use super::fault;
use super::hw::{Bank, Smmuv2Error, Smmuv2Hw};
use super::regs::SGFSR;
use crate::iommu::pgtable::{Codec, Lpae};
use crate::iommu::{
    Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault, FaultDelivery, FaultShape,
    InvalidationGate, Iommu, IommuError, Observable, Observe, StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::BusAddr;
use crate::mmio::Mmio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Above this many per-granule TLBIs one TLBIASID is issued instead (as
/// Fuchsia's driver switches above 256 pages; docs/hw/smmuv2.md §7): one
/// 4 KiB last-level table's span (512 pages) still goes page by page.
pub const MAX_VA_OPS: u64 = 512;

/// A domain's tag: its context bank and the ASID its TTBRs and every TLBI
/// operand carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Smmuv2Tag {
    /// Context bank index.
    pub cb: u8,
    /// ASID.
    pub asid: u16,
}

impl fmt::Display for Smmuv2Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cb {} asid {}", self.cb, self.asid)
    }
}

/// One invalidation the driver owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smmuv2Invalidation {
    /// TLBIVAL (`leaf`) or TLBIVA per `granule` over `[iova, iova + size)`
    /// in bank `cb`, then TLBSYNC.
    Range {
        /// Context bank.
        cb: u8,
        /// First IOVA.
        iova: u64,
        /// Bytes.
        size: u64,
        /// Step.
        granule: u64,
        /// Last level only.
        leaf: bool,
    },
    /// TLBIASID of bank `cb`'s ASID, then TLBSYNC.
    Asid {
        /// Context bank.
        cb: u8,
    },
}

/// The SMMUv1/v2 driver.
pub struct Smmuv2Iommu<M: Mmio> {
    hw: Smmuv2Hw<M>,
    name: String,
    gate: InvalidationGate<Smmuv2Invalidation>,
    /// Stream masks from the device tree: (stream, mask).
    masks: Vec<(u32, u32)>,
    /// Walks WB/inner shareable (coherent walker, write-back CPU view).
    cacheable_walks: bool,
    /// The walker snoops the CPU caches (device tree `dma-coherent`).
    coherent: bool,
    /// The finest translation granule of a live context (FAR's exactness).
    fault_granule: u64,
    faults: Vec<Fault>,
    problems: Vec<String>,
}

/// Why the configuration cache is not observable.
pub const NO_CONFIG_CACHE: &str =
    "SMMUv2 defines no configuration-invalidation operation: SMR, S2CR and context-bank writes take effect without maintenance, and TLB entries are tagged by ASID, not by stream or context bank (IHI 0062; docs/hw/smmuv2.md §6)";

fn ctx_error(e: ContextError) -> IommuError {
    let value = match e {
        ContextError::Granule { size, .. } => size,
        ContextError::InputBits { bits, .. } | ContextError::OutputBits { bits, .. } => {
            u64::from(bits)
        }
        ContextError::Root { root } => root,
    };
    IommuError::Unsupported { value }
}

impl From<Smmuv2Error> for IommuError {
    fn from(e: Smmuv2Error) -> Self {
        match e {
            Smmuv2Error::Timeout { offset, value, .. } => IommuError::RegisterTimeout {
                offset,
                value: u64::from(value),
                mask: 1,
                expected: 0,
            },
            Smmuv2Error::NotTaken { offset, read, .. }
            | Smmuv2Error::Refused { offset, read, .. } => IommuError::CommandError {
                offset,
                value: u64::from(read),
            },
            Smmuv2Error::StreamOutOfRange { sid, .. }
            | Smmuv2Error::StreamConflict { sid, .. }
            | Smmuv2Error::StreamAdopted { sid, .. }
            | Smmuv2Error::NoFreeGroup { sid, .. }
            | Smmuv2Error::NotMapped { sid } => IommuError::NoSuchStream {
                stream: StreamId(sid),
            },
            Smmuv2Error::NoFreeContext { numcb, .. } => IommuError::NoFreeContext {
                contexts: numcb as u32,
            },
            Smmuv2Error::PrefetcherOn { actlr, .. } => IommuError::Unsupported {
                value: u64::from(actlr),
            },
            Smmuv2Error::DeadBlock { id0, .. } => IommuError::Unsupported {
                value: u64::from(id0),
            },
            Smmuv2Error::RegTooSmall { size, .. } => IommuError::Unsupported { value: size },
        }
    }
}

impl<M: Mmio> Smmuv2Iommu<M> {
    /// The driver over a reset hardware layer; `skip_sync` starts the
    /// negative control; `cacheable_walks` when the walker snoops and the
    /// CPU maps tables write-back.
    pub fn new(hw: Smmuv2Hw<M>, name: &str, skip_sync: bool, cacheable_walks: bool) -> Self {
        Self {
            hw,
            name: String::from(name),
            gate: InvalidationGate::new(skip_sync),
            masks: Vec::new(),
            cacheable_walks,
            coherent: false,
            fault_granule: 4096,
            faults: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The hardware layer.
    pub fn hw(&self) -> &Smmuv2Hw<M> {
        &self.hw
    }

    /// The hardware layer, mutable (tests switch driver bugs on here).
    pub fn hw_mut(&mut self) -> &mut Smmuv2Hw<M> {
        &mut self.hw
    }

    /// The SMR masks of streams (device tree `iommus` second cell or
    /// `stream-match-mask`); a stream not listed is matched exactly.
    pub fn set_stream_masks(&mut self, masks: &[(u32, u32)]) {
        self.masks = masks.to_vec();
    }

    /// Whether the walker snoops the CPU caches (device tree
    /// `dma-coherent`): tables are cleaned to memory when it does not.
    pub fn set_coherent(&mut self, coherent: bool) {
        self.coherent = coherent;
    }

    /// See [`set_coherent`](Self::set_coherent).
    pub fn coherent(&self) -> bool {
        self.coherent
    }

    /// The stream the ATOS port's accesses are matched as.
    pub fn atos_stream(&self) -> StreamId {
        atos::atos_stream(self.hw.ids(), self.hw.regs())
    }

    fn mask_of(&self, sid: u32) -> u32 {
        self.masks
            .iter()
            .find(|(s, _)| *s == sid)
            .map_or(0, |(_, m)| *m)
    }

    fn invalidate(&mut self, inv: Smmuv2Invalidation) -> Result<(), IommuError> {
        match self.gate.admit(inv) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn run(&mut self, inv: Smmuv2Invalidation) -> Result<(), IommuError> {
        self.hw.barrier();
        let cb = match inv {
            Smmuv2Invalidation::Range {
                cb,
                iova,
                size,
                granule,
                leaf,
            } => {
                let steps = size.div_ceil(granule.max(1));
                for i in 0..steps {
                    self.hw.tlbi_va(usize::from(cb), iova + i * granule, leaf);
                }
                self.gate.count(steps);
                cb
            }
            Smmuv2Invalidation::Asid { cb } => {
                self.hw.tlbi_asid(usize::from(cb));
                self.gate.count(1);
                cb
            }
        };
        #[cfg(test)]
        if self.hw.skips_tlbsync() && matches!(inv, Smmuv2Invalidation::Range { .. }) {
            return Ok(());
        }
        self.hw.tlb_sync(usize::from(cb)).map_err(IommuError::from)
    }

    /// The invalidation a sync of `req` needs (docs/hw/smmuv2.md §11.7).
    fn plan(&self, req: &SyncRequest<'_, Smmuv2Tag>) -> Smmuv2Invalidation {
        let cb = req.tag.cb;
        let granule = req.granule.max(4096);
        let steps = req.size.div_ceil(granule);
        let walk = !req.leaf_only;
        #[cfg(test)]
        if self.hw.bugs.leaf_only_when_freeing {
            return Smmuv2Invalidation::Range {
                cb,
                iova: req.iova.0,
                size: req.size,
                granule,
                leaf: true,
            };
        }
        if steps > MAX_VA_OPS || (walk && self.hw.variant().qcom) {
            return Smmuv2Invalidation::Asid { cb };
        }
        Smmuv2Invalidation::Range {
            cb,
            iova: req.iova.0,
            size: req.size,
            granule,
            leaf: !walk,
        }
    }

    /// Reads and clears what the fault registers latched.
    fn poll_faults(&mut self) {
        let bits = self.hw.stream_bits();
        let atos = self.atos_stream();
        for cb in 0..self.hw.banks().len() {
            if !matches!(self.hw.banks()[cb], Bank::Ours(Some(_))) {
                continue;
            }
            if let Some(f) = self.hw.context_fault(cb) {
                self.faults.push(fault::decode_context(&f, bits, atos));
                self.hw.clear_context_fault(&f);
            }
        }
        if let Some(g) = self.hw.global_fault() {
            let rec = fault::decode_global(&g, bits);
            let usf = SGFSR::USF::SET.value;
            if g.gfsr & !(usf | SGFSR::MULTI::SET.value) != 0 {
                self.problems.push(format!(
                    "global fault sGFSR {:#x} (sGFSYNR0 {:#x}, stream {}, sGFAR {:#x}): the driver programs no entry that should raise it",
                    g.gfsr, g.gfsynr0, rec.stream, g.gfar
                ));
            }
            self.faults.push(rec);
            self.hw.clear_global_fault(&g);
        }
    }
}

impl<M: Mmio> Iommu for Smmuv2Iommu<M> {
    type Format = Lpae;
    type Tag = Smmuv2Tag;

    fn name(&self) -> &str {
        &self.name
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tlb: Observable::Yes,
            config_cache: Observable::No(NO_CONFIG_CACHE),
            walk_cache: Observable::Yes,
            contexts: Contexts::PerStream,
            context_invalidation: ContextInvalidation::Tagged,
            detach: Detach::Blocks,
            invalidation: SyncPolicy::Range,
            ranged: false,
            fault: FaultShape {
                direction: Observable::Yes,
                // FAR's bits below the translation granule may be UNKNOWN
                // (docs/hw/smmuv2.md §8).
                iova_granule: self.fault_granule,
                delivery: FaultDelivery::Latched,
            },
        }
    }

    fn new_context(&mut self, format: &Lpae) -> Result<Smmuv2Tag, IommuError> {
        let ids = *self.hw.ids();
        // The packing the attach will do, with a placeholder root: the
        // granule, sizes and format are checked now.
        context::stage1(
            &ids,
            self.hw.variant().version,
            format,
            BusAddr(0),
            1,
            self.cacheable_walks,
        )
        .map_err(ctx_error)?;
        let cb = self.hw.alloc_bank()?;
        self.fault_granule = self.fault_granule.max(format.granule());
        Ok(Smmuv2Tag {
            cb: cb as u8,
            asid: cb as u16 + 1,
        })
    }

    fn release_context(&mut self, tag: Smmuv2Tag) {
        let cb = usize::from(tag.cb);
        if self.hw.bank_config(cb).is_some() {
            // Nothing of this ASID may outlive the context (the next owner
            // of the bank reuses it); cleanup, not a test invalidation.
            self.hw.tlbi_asid(cb);
            if let Err(e) = self.hw.tlb_sync(cb) {
                self.problems
                    .push(format!("{}: releasing {tag}: {e}", self.name));
            }
        }
        self.hw.free_bank(cb);
    }

    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Smmuv2Tag>,
    ) -> Result<(), IommuError> {
        let cb = usize::from(ctx.tag.cb);
        let cfg = context::stage1(
            self.hw.ids(),
            self.hw.variant().version,
            ctx.format,
            ctx.root,
            ctx.tag.asid,
            self.cacheable_walks,
        )
        .map_err(ctx_error)?;
        if self.hw.bank_config(cb) != Some(cfg) {
            self.hw.program_bank(cb, &cfg)?;
        }
        let mask = self.mask_of(stream.0);
        self.hw.map_stream(stream.0, mask, cb)?;
        Ok(())
    }

    fn detach(
        &mut self,
        stream: StreamId,
        _ctx: &Context<'_, Lpae, Smmuv2Tag>,
    ) -> Result<(), IommuError> {
        let mask = self.mask_of(stream.0);
        self.hw.unmap_stream(stream.0, mask)?;
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_, Smmuv2Tag>) -> Result<(), IommuError> {
        let inv = self.plan(req);
        self.invalidate(inv)
    }

    fn sync_is_deferred(&self) -> bool {
        self.gate.deferred()
    }
}

/// The cases the SMMUv2 negative control (`inject=skip-sync`) must fail,
/// measured on the model with its walk cache (`smmuv2/tests.rs`; the
/// MMU-500 caches table walks, TRM §1.3).  Skip-sync drops every TLBI +
/// TLBSYNC the driver owes after an unmap and the self-test's explicit
/// context invalidation.  Two groups:
///
/// * the unmapped page stays in the TLB, so the DMA that must be blocked
///   lands (`unmap_invalidate_blocks_dma`, `range_invalidate`,
///   `empty_gather_still_syncs`), reaches the old page after a remap
///   (`remap_invalidate_new_page`), survives the TLBIASID of its own
///   context (`asid_invalidate`), or keeps reaching a freed table's pages
///   (`walk_cache_invalidate`) — these six fail on a model without a walk
///   cache too;
/// * the first case's unmap (`map_dma_roundtrip` maps one page alone)
///   frees the tables that held it, and with no invalidation the walk
///   cache keeps pointing at them: every later mapping in that span gets
///   new tables the walk never reaches, so the first DMA to it faults —
///   `unmap_stale_window`, `remap_stale_window`, `config_invalidate`,
///   `isolation`, `readonly_blocks_write` (a translation fault where a
///   permission fault is due) and `fault_record` (its record is right, but
///   the live neighbour it then writes faults).
///
/// Attach and detach owe no invalidation on SMMUv2, so `default_deny`
/// passes; `map_next_to_walked` uses a fresh region whose tables are never
/// freed.
pub const SKIP_SYNC_FAILURES: &[&str] = &[
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "remap_stale_window",
    "remap_invalidate_new_page",
    "range_invalidate",
    "asid_invalidate",
    "config_invalidate",
    "walk_cache_invalidate",
    "isolation",
    "readonly_blocks_write",
    "fault_record",
    "empty_gather_still_syncs",
];

/// What the negative control fails when the TBU debug translation port is
/// the only master (a Qualcomm board, `tbu.rs`): [`SKIP_SYNC_FAILURES`]
/// less `asid_invalidate` and `isolation`, which need a second master, and
/// `readonly_blocks_write`, which a probe without a direction cannot judge
/// — all three SKIP.
pub const SKIP_SYNC_FAILURES_TBU_PORT_ALONE: &[&str] = &[
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "remap_stale_window",
    "remap_invalidate_new_page",
    "range_invalidate",
    "config_invalidate",
    "walk_cache_invalidate",
    "fault_record",
    "empty_gather_still_syncs",
];

/// The part of [`SKIP_SYNC_FAILURES`] that does not depend on a walk cache:
/// what the negative control fails on an SMMUv2 that caches leaves only
/// (the model with its walk cache off).
pub const SKIP_SYNC_FAILURES_WITHOUT_WALK_CACHE: &[&str] = &[
    "unmap_invalidate_blocks_dma",
    "remap_invalidate_new_page",
    "range_invalidate",
    "asid_invalidate",
    "walk_cache_invalidate",
    "empty_gather_still_syncs",
];

impl<M: Mmio> Observe for Smmuv2Iommu<M> {
    type Invalidation = Smmuv2Invalidation;

    fn gate(&self) -> &InvalidationGate<Smmuv2Invalidation> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<Smmuv2Invalidation> {
        &mut self.gate
    }

    fn run_invalidation(&mut self, inv: Smmuv2Invalidation) -> Result<(), IommuError> {
        self.run(inv)
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        self.poll_faults();
        core::mem::take(&mut self.faults)
    }

    fn health(&mut self) -> Vec<String> {
        core::mem::take(&mut self.problems)
    }

    fn invalidation_summary(&self) -> Option<String> {
        let s = self.hw.stats();
        Some(format!(
            "TLBIVAL {}, TLBIVA {}, TLBIASID {}, TLBSYNC {}, global syncs {}, TLBI addresses at or above 4 GiB {}",
            s.tlbival, s.tlbiva, s.tlbiasid, s.tlbsync, s.gsync, s.above_4g
        ))
    }

    fn invalidate_context(&mut self, tag: Smmuv2Tag) -> Result<(), IommuError> {
        match self
            .gate
            .admit_unheld(Smmuv2Invalidation::Asid { cb: tag.cb })
        {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    fn skip_sync_failures(&self) -> &'static [&'static str] {
        SKIP_SYNC_FAILURES
    }
}
