//! A behavioural model of an Arm SMMUv2 (CoreLink MMU-500, and a Qualcomm
//! MMU-500 behind its hypervisor) for host tests, behind the MMIO seam
//! ([`RegisterModel`]) and the model masters' [`Translate`].
//!
//! Written from the architecture — Arm IHI 0062 (SMMU architecture v1/v2,
//! section numbers of issue D.c) and the MMU-500 TRM (DDI 0517), with the
//! register layouts the Arm-derived references give (Xilinx UG1087,
//! Intel's MMU-500 map) — not from any driver.  Where those texts are
//! silent the model makes a choice a test can see; docs/hw/smmuv2.md,
//! "Behavioural model (host)", lists each one.  Offsets and bits, each
//! with its source: [`reg`].
//!
//! # API
//!
//! ```ignore
//! let hw = Smmuv2::new(MMU500, Knobs::default());   // one shared model
//! let mmio = hw.mmio();                 // ModelMmio: the driver's registers
//! let dev = hw.master(0x14e8, "zdma");  // ModelMaster: DMA through it
//! // … program through `mmio`, DMA through `dev` …
//! assert!(hw.model().misuse.is_empty());
//! let f = hw.model().faults.clone();    // every fault, oldest first
//! ```
//!
//! [`Smmuv2`] is an `Rc<RefCell<Smmuv2Model>>` handle: every clone (the
//! register side, any number of masters, the test) reaches the same SMMU.
//! Do not hold `hw.model()` across a register access or a DMA (the borrow
//! would conflict).  [`Variant`] is the instance ([`MMU500`],
//! [`QCOM_SDM845`], or either with fields changed), [`Knobs`] the model's
//! choices.  [`Smmuv2::with_window`] gives a bus-to-host address window for
//! output sizes narrower than host addresses (AArch32 LPAE: 40 bits).
//!
//! # What is modelled
//!
//! * Register space: GR0 in page 0, GR1 in page 1, pages 2..NUMPAGE
//!   IMPLEMENTATION DEFINED (unmapped), context bank *n* at page
//!   NUMPAGE + *n* — NUMPAGE = 2^(ID1.NUMPAGENDXB + 1), the page size
//!   from ID1.PAGESIZE ([`Variant::cb_base`]).
//! * ID0/ID1/ID2/ID7 from the [`Variant`]; sCR0 (CLIENTPD, USFCFG,
//!   SMCFCFG, GFRE/GFIE, EXIDENABLE, VMID16EN); sGFSR/sGFAR/sGFSYNR0/1
//!   global faults (ICF, USF, SMCF, UCBF), first fault wins, MULTI,
//!   write 1 to clear (IHI §9.6.15).
//! * Stream matching: SMRs (ID/MASK/VALID; the EXIDENABLE form with
//!   S2CR.EXIDVALID), multiple matches raise SMCF; S2CR translate /
//!   bypass / fault.
//! * Context banks: CBAR types 1 (stage 1, stage 2 bypass) and 0 (stage
//!   2, AArch64 or AArch32 format, concatenated top tables); CBA2R.VA64
//!   (absent with [`Variant::smmuv1`]); AArch64 and
//!   AArch32-LPAE stage 1 (TCR, TCR2, TTBR0/1, MAIR); SCTLR.M/AFFD/CFIE/
//!   CFCFG; FSR/FAR/FSYNR0/CBFRSYNRA, first fault wins, MULTI, W1C.
//!   Tables are walked by the reference walker
//!   ([`crate::testkit::walk::LpaeWalk`]) in host RAM.
//! * A TLB and a walk cache tagged by stage, VMID, ASID / global and
//!   address — never the bank (IHI, before §2.5.1) — as
//!   [`StaleCache`]s; TLBIVA/VAA/VAL/VAAL/ASID/ALL/IPAS2(L) per bank,
//!   TLBIVMID/TLBIALLNSNH in GR0.  With [`Knobs::invalidate_at_sync`] an
//!   invalidation takes effect only when a sync that covers it completes:
//!   a bank's TLBSYNC covers that bank's earlier operations, sTLBGSYNC
//!   covers everything; the status bit reads 1 for [`Knobs::busy_polls`]
//!   reads and the read that finds it 0 applies the operations.  A driver
//!   that skips the sync (or syncs the wrong scope) keeps translating
//!   through the stale entry.
//! * The MMU-500 next-page prefetcher (ACTLR.CPRE, sACR.CACHE_LOCK), which
//!   caches the next page's descriptor after a demand walk, an invalid one
//!   included.
//! * ATOS (ATS1PR/PW/UR/UW, ATSR, PAR) when ID0.ATOSNS = 0, optionally
//!   through the TLB ([`Knobs::atos_uses_tlb`]).
//! * Qualcomm quirks ([`Quirks`]).
//! * [`Misuse`]: what a driver did that the architecture (or the vendor)
//!   rules out; [`Refusal`]: writes the instance did not take that a
//!   correct driver may still make, and must notice.
//!
//! Not modelled: Secure state and the Secure aliases, Hyp and monitor
//! contexts, stage-1-then-2 nesting, AArch32 short descriptors, the
//! global ATOS (sGATS*), TLB locking, performance monitors, bypass
//! caching (sACR *_TLBEN), stalls beyond FSR.SS/RESUME.

use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::testkit::cache::StaleCache;
use crate::testkit::master::{ModelMaster, Translate};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Ref, RefCell, RefMut};

mod context;
mod global;
mod maintenance;
pub mod record;
pub mod reg;
pub mod tbu;
pub mod tlb;
mod translate;
pub mod variant;

pub use record::{EnableProblem, FaultEvent, FaultKind, Misuse, Refusal, Unmodelled};
pub use tlb::{Inval, Stage, TlbEntry, WalkEntry};
pub use variant::{
    size_bits, Aarch32, BootSmr, Knobs, Quirks, Variant, MMU500, QCOM_BOOT_DISPLAY, QCOM_SDM845,
};

/// A bus range standing for host memory: bus address `bus` is host address
/// `host`.  The identity window ([`Window::IDENTITY`]) makes bus addresses
/// host addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// A bus address.
    pub bus: u64,
    /// The host address it stands for.
    pub host: u64,
}

impl Window {
    /// Bus addresses are host addresses.
    pub const IDENTITY: Window = Window { bus: 0, host: 0 };

    /// Host address of bus address `bus`.
    pub fn host(&self, bus: u64) -> u64 {
        bus.wrapping_sub(self.bus).wrapping_add(self.host)
    }

    /// Bus address of host address `host`.
    pub fn bus(&self, host: u64) -> u64 {
        host.wrapping_sub(self.host).wrapping_add(self.bus)
    }
}

/// A sync in progress: reads left that see it active, and the operations
/// it completes.
#[derive(Clone, Debug, Default)]
struct Sync {
    polls: u32,
    ops: Vec<Inval>,
}

/// An ATOS operation in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AtosReq {
    polls: u32,
    va: u64,
    write: bool,
    privileged: bool,
}

/// One context bank's registers (its page and its GR1 words).
#[derive(Clone, Debug, Default)]
struct Cb {
    sctlr: u32,
    actlr: u32,
    tcr2: u32,
    ttbr: [u64; 2],
    tcr: u32,
    contextidr: u32,
    mair: [u32; 2],
    par: u64,
    fsr: u32,
    far: u64,
    fsynr0: u32,
    fsynr1: u32,
    ipafar: u64,
    cbar: u32,
    cbfrsynra: u32,
    cba2r: u32,
    sync: Option<Sync>,
    atos: Option<AtosReq>,
}

/// Where an offset lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    Gr0(usize),
    Gr1(usize),
    Cb(usize, usize),
    Nothing,
}

/// The model.  Shared through [`Smmuv2`].
#[derive(Debug)]
pub struct Smmuv2Model {
    /// The instance modelled.
    pub variant: Variant,
    /// Model choices (may be changed between accesses).
    pub knobs: Knobs,
    /// Bus-to-host window for table reads and outputs.
    pub window: Window,
    scr0: u32,
    cr2: u32,
    sacr: u32,
    sgfar: u64,
    sgfsr: u32,
    sgfsynr0: u32,
    sgfsynr1: u32,
    smr: Vec<u32>,
    s2cr: Vec<u32>,
    cbs: Vec<Cb>,
    tlb: StaleCache<(), TlbEntry>,
    walks: StaleCache<(), WalkEntry>,
    /// Accepted, not yet covered by a sync: (bank that accepted it or
    /// `None` for GR0, operation).
    pending: Vec<(Option<usize>, Inval)>,
    gsync: Option<Sync>,
    /// Everything the driver did that the architecture rules out, oldest
    /// first.
    pub misuse: Vec<Misuse>,
    /// Writes the instance refused that a correct driver may still make
    /// (and should notice by reading back), oldest first.
    pub refusals: Vec<Refusal>,
    /// Every fault, oldest first.
    pub faults: Vec<FaultEvent>,
    /// Demand table walks made (TLB misses of transactions and ATOS).
    pub demand_walks: u64,
    /// Every invalidation operation accepted, oldest first: (bank that
    /// accepted it or `None` for GR0, operation).
    pub issued: Vec<(Option<usize>, Inval)>,
    /// Every sync started, oldest first: the bank's TLBSYNC (`Some`) or
    /// sTLBGSYNC (`None`).
    pub syncs: Vec<Option<usize>>,
}

impl Smmuv2Model {
    /// A model of `variant` after reset (and after the bootloader, where
    /// the quirks say one ran).
    pub fn new(variant: Variant, knobs: Knobs, window: Window) -> Self {
        let n_smr = usize::from(variant.numsmrg);
        let mut m = Self {
            variant,
            knobs,
            window,
            scr0: reg::scr0::CLIENTPD | reg::scr0::SMCFCFG,
            cr2: 0,
            sacr: if variant.mmu500 {
                variant.sacr_reset
            } else {
                0
            },
            sgfar: 0,
            sgfsr: 0,
            sgfsynr0: 0,
            sgfsynr1: 0,
            smr: alloc::vec![0; n_smr],
            s2cr: alloc::vec![reg::s2cr::RESET; n_smr],
            cbs: alloc::vec![Cb::default(); usize::from(variant.numcb)],
            tlb: StaleCache::new(),
            walks: StaleCache::new(),
            pending: Vec::new(),
            gsync: None,
            misuse: Vec::new(),
            refusals: Vec::new(),
            faults: Vec::new(),
            demand_walks: 0,
            issued: Vec::new(),
            syncs: Vec::new(),
        };
        for (n, cb) in m.cbs.iter_mut().enumerate() {
            // SCTLR resets with HUPCF (UG1087: 0x100); MMU-500 ACTLR 0x3.
            cb.sctlr = reg::sctlr::HUPCF;
            cb.actlr = if variant.mmu500 {
                reg::actlr::CMTLB | reg::actlr::CPRE
            } else {
                0
            };
            if variant.reserved(n) {
                // Another owner's bank: translating, VMID 0xFF, AArch64,
                // both halves disabled (EPD0/EPD1), fault reporting on.
                cb.sctlr = reg::sctlr::M | reg::sctlr::CFRE | reg::sctlr::CFIE;
                cb.cbar = reg::cbar::TYPE_S1_BYPASS << reg::cbar::TYPE_SHIFT | 0xff;
                cb.cba2r = reg::cba2r::VA64;
                cb.tcr = reg::tcr::EPD0 | reg::tcr::EPD1;
            }
        }
        for b in variant.quirks.boot_smrs {
            let i = usize::from(b.index);
            if i < n_smr {
                m.smr[i] = b.smr;
                m.s2cr[i] = b.s2cr;
            }
        }
        m
    }

    // ---- what a test inspects ----

    /// The TLB's entries, oldest first.
    pub fn tlb_entries(&self) -> Vec<TlbEntry> {
        self.tlb.entries().map(|(_, e)| e).collect()
    }

    /// The walk cache's entries, oldest first.
    pub fn walk_entries(&self) -> Vec<WalkEntry> {
        self.walks.entries().map(|(_, e)| e).collect()
    }

    /// Invalidations accepted and not yet covered by any sync.
    pub fn unsynced(&self) -> Vec<(Option<usize>, Inval)> {
        self.pending.clone()
    }

    /// `true` while bank `cb`'s sync is active.
    pub fn sync_active(&self, cb: usize) -> bool {
        self.cbs.get(cb).is_some_and(|c| c.sync.is_some())
    }

    /// `true` while the global sync is active.
    pub fn gsync_active(&self) -> bool {
        self.gsync.is_some()
    }

    /// Time passes without polls: every sync and ATOS operation in flight
    /// completes (unless [`Knobs::sync_never_completes`]).  Invalidations
    /// no sync covers stay pending.
    pub fn settle(&mut self) {
        for n in 0..self.cbs.len() {
            if let Some(a) = self.cbs[n].atos.take() {
                self.atos_complete(n, a);
            }
        }
        if self.knobs.sync_never_completes {
            return;
        }
        for n in 0..self.cbs.len() {
            if let Some(s) = self.cbs[n].sync.take() {
                self.apply(&s.ops);
            }
        }
        if let Some(s) = self.gsync.take() {
            self.apply(&s.ops);
        }
    }

    /// The global fault interrupt: a fault recorded in sGFSR with
    /// sCR0.GFIE set.
    pub fn global_irq(&self) -> bool {
        self.sgfsr & reg::sgfsr::FAULTS != 0 && self.scr0 & reg::scr0::GFIE != 0
    }

    /// Bank `cb`'s context interrupt: a fault recorded in FSR with
    /// SCTLR.CFIE set.
    pub fn context_irq(&self, cb: usize) -> bool {
        self.cbs
            .get(cb)
            .is_some_and(|c| c.fsr & reg::fsr::FAULTS != 0 && c.sctlr & reg::sctlr::CFIE != 0)
    }

    /// sCR0 as it reads.
    pub fn scr0(&self) -> u32 {
        self.scr0
    }

    // ---- the register space ----

    fn region(&self, off: usize) -> Region {
        let ps = self.variant.page_size();
        let page = off / ps;
        let o = off % ps;
        let np = self.variant.numpage();
        match page {
            0 => Region::Gr0(o),
            1 => Region::Gr1(o),
            p if p >= np && p - np < self.cbs.len() => Region::Cb(p - np, o),
            _ => Region::Nothing,
        }
    }

    /// 64-bit registers (8-aligned `off`).
    fn is64(&self, off: usize) -> bool {
        use reg::cb::*;
        match self.region(off) {
            Region::Gr0(o) => o == reg::gr0::SGFAR,
            Region::Cb(_, o) => matches!(o, TTBR0 | TTBR1 | PAR | FAR | IPAFAR) || Self::is_op64(o),
            _ => false,
        }
    }

    /// 64-bit operation registers (write-only; a write starts something).
    fn is_op64(o: usize) -> bool {
        use reg::cb::*;
        matches!(
            o,
            TLBIVA | TLBIVAA | TLBIVAL | TLBIVAAL | TLBIIPAS2 | TLBIIPAS2L
        ) || matches!(o, ATS1PR | ATS1PW | ATS1UR | ATS1UW)
    }

    fn read32(&mut self, off: usize) -> u32 {
        match self.region(off) {
            Region::Gr0(o) => self.gr0_read(off, o),
            Region::Gr1(o) => self.gr1_read(off, o),
            Region::Cb(n, o) => self.cb_read32(off, n, o),
            Region::Nothing => {
                self.misuse.push(Misuse::Unmapped { off });
                0
            }
        }
    }

    fn write32(&mut self, off: usize, val: u32) {
        match self.region(off) {
            Region::Gr0(o) => self.gr0_write(off, o, val),
            Region::Gr1(o) => self.gr1_write(off, o, val),
            Region::Cb(n, o) => self.cb_write32(off, n, o, val),
            Region::Nothing => self.misuse.push(Misuse::Unmapped { off }),
        }
    }

    fn read64(&mut self, off: usize) -> u64 {
        match self.region(off) {
            Region::Gr0(_) => self.sgfar,
            Region::Cb(n, o) => self.cb_read64(off, n, o),
            _ => 0,
        }
    }

    fn write64(&mut self, off: usize, val: u64) {
        match self.region(off) {
            Region::Gr0(_) => self.misuse.push(Misuse::ReadOnly { off }),
            Region::Cb(n, o) => self.cb_write64(off, n, o, val),
            _ => {}
        }
    }
}

impl RegisterModel for Smmuv2Model {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        match width {
            Width::W8 | Width::W16 => {
                self.misuse.push(Misuse::BadWidth { off, width });
                0
            }
            Width::W64 if off.is_multiple_of(8) && self.is64(off) => self.read64(off),
            Width::W64 => {
                self.misuse.push(Misuse::BadWidth { off, width });
                let lo = self.read32(off);
                let hi = self.read32(off + 4);
                u64::from(lo) | u64::from(hi) << 32
            }
            Width::W32 => {
                let base = off & !7;
                if self.is64(base) {
                    let v = self.read64(base);
                    if off & 4 != 0 {
                        v >> 32
                    } else {
                        v & 0xffff_ffff
                    }
                } else {
                    u64::from(self.read32(off))
                }
            }
        }
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        match width {
            Width::W8 | Width::W16 => self.misuse.push(Misuse::BadWidth { off, width }),
            Width::W64 if off.is_multiple_of(8) && self.is64(off) => self.write64(off, val),
            Width::W64 => {
                self.misuse.push(Misuse::BadWidth { off, width });
                self.write32(off, val as u32);
                self.write32(off + 4, (val >> 32) as u32);
            }
            Width::W32 => {
                let base = off & !7;
                if !self.is64(base) {
                    self.write32(off, val as u32);
                } else if let Region::Cb(_, o) = self.region(base) {
                    if Self::is_op64(o) {
                        if off & 4 == 0 {
                            // The whole operand, high word zero (the
                            // AArch32 forms are 32-bit).
                            self.write64(base, val & 0xffff_ffff);
                        } else {
                            self.misuse.push(Misuse::BadWidth { off, width });
                        }
                    } else {
                        let old = self.read64(base);
                        let new = if off & 4 != 0 {
                            old & 0xffff_ffff | (val & 0xffff_ffff) << 32
                        } else {
                            old & !0xffff_ffff | (val & 0xffff_ffff)
                        };
                        self.write64(base, new);
                    }
                } else {
                    self.write64(base, val);
                }
            }
        }
    }
}

/// A shared handle on one model: the register seam ([`Smmuv2::mmio`]), the
/// masters ([`Smmuv2::master`], or `ModelMaster::new(id, name,
/// hw.clone())`) and the test reach the same SMMU.
#[derive(Clone, Debug)]
pub struct Smmuv2(pub Rc<RefCell<Smmuv2Model>>);

impl Smmuv2 {
    /// A model of `variant` after reset, bus addresses = host addresses.
    pub fn new(variant: Variant, knobs: Knobs) -> Self {
        Self::with_window(variant, knobs, Window::IDENTITY)
    }

    /// A model whose bus addresses map to host memory through `window`.
    pub fn with_window(variant: Variant, knobs: Knobs, window: Window) -> Self {
        Self(Rc::new(RefCell::new(Smmuv2Model::new(
            variant, knobs, window,
        ))))
    }

    /// The register side, for a driver (`Mmio`).
    pub fn mmio(&self) -> ModelMmio<Smmuv2> {
        ModelMmio::new(self.clone())
    }

    /// A DMA master with StreamID `stream` behind this SMMU.
    pub fn master(&self, stream: u32, name: &str) -> ModelMaster<Smmuv2> {
        ModelMaster::new(stream, name, self.clone())
    }

    /// Looks at the model (assertions).  Drop the guard before the next
    /// register access or DMA.
    pub fn model(&self) -> Ref<'_, Smmuv2Model> {
        self.0.borrow()
    }

    /// Changes the model behind the driver's back (knobs, time).
    pub fn model_mut(&self) -> RefMut<'_, Smmuv2Model> {
        self.0.borrow_mut()
    }
}

impl RegisterModel for Smmuv2 {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        self.0.borrow_mut().read(off, width)
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.0.borrow_mut().write(off, width, val);
    }
}

impl Translate for Smmuv2 {
    /// The host address `stream`'s access to `iova` reaches (through the
    /// model's [`Window`]), or `None` when the SMMU stops it.
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        let mut hw = self.0.borrow_mut();
        let pa = hw.translate(stream, iova, write)?;
        Some(hw.window.host(pa))
    }
}
