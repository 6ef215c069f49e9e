//! A behavioural model of the Allwinner sun50i IOMMU (H6, H616) for host
//! tests, behind the MMIO seam ([`RegisterModel`]) and the model masters'
//! [`Translate`].
//!
//! Written from the user manuals' register descriptions as
//! docs/hw/sun50i.md restates them (§1, §2, §5, §6, §8, §9, §11, §12), not
//! from any driver.  Where the manuals are silent the model makes a choice
//! a test can see and docs/hw/sun50i.md §14 lists each one; where Linux
//! says otherwise, §13 records both and the model follows the manual.
//!
//! * Register map and reset values per variant ([`H6`], [`H616`]: six or
//!   seven micro-TLB slots, the VA debug port as a flag).
//! * Translation: ENABLE and per-master BYPASS, then micro TLB *m* → macro
//!   TLB → PTW cache (directory entries) → the table walk
//!   ([`crate::testkit::walk::Sun50iWalk`]) in host RAM, then the
//!   permission domain the PTE's ACI selects (DM_AUT_CTRL, DM_AUT_OVWT).
//! * Caches are [`StaleCache`]s: an entry stays until the invalidation that
//!   covers it *completes*.  A next-page prefetch (per master,
//!   TLB_PREFETCH[m]) loads the following pages into the macro TLB and the
//!   following directory entries into the PTW cache — invalid ones too,
//!   unless the variant has the "prefetch valid only" bits 16/17 and they
//!   are set.
//! * Invalidation by address + mask (and by range where the variant has
//!   it), PTW-cache invalidation, the full flush, the VA port and PMU_CLR
//!   each have a busy bit that reads 1 for [`Knobs::busy_polls`] reads and
//!   then 0; the operation takes effect when its bit clears.
//! * Faults latch (L1/L2 invalid: IOVA, entry, requesting masters; per-master
//!   permission: IOVA, PTE) until INT_CLR; the faulting master's lane stays
//!   stopped until its micro-TLB lane reset (RESET bit, active low) is
//!   pulsed ([`Knobs::fault_stops_lane`]).
//! * PMU: access and hit counts per micro TLB, macro TLB and PTW cache.
//!
//! Addresses: the hardware's bus addresses are 32 bits; host RAM lives far
//! above 4 GiB.  A [`Window`] maps a 32-bit bus range onto a host
//! allocation (test scaffolding, not a hardware fact).

use crate::mm::host_ram;
use crate::mmio::{RegisterModel, Width};
use crate::testkit::cache::StaleCache;
use crate::testkit::master::Translate;
use crate::testkit::walk::{Sun50iFault, Sun50iWalk};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// Register offsets (docs/hw/sun50i.md §2).
pub mod reg {
    /// IP version (vendor-only register, read-only).
    pub const VERSION: usize = 0x000;
    /// Lane resets, active low: bit 31 global, 17 PTW cache, 16 macro TLB,
    /// n micro TLB n.
    pub const RESET: usize = 0x010;
    /// Bit 0: translation on.
    pub const ENABLE: usize = 0x020;
    /// Bit n: master n bypassed.
    pub const BYPASS: usize = 0x030;
    /// Bit 0: automatic clock gating.
    pub const AUTO_GATING: usize = 0x040;
    /// Write buffer control (no fields documented).
    pub const WBUF_CTRL: usize = 0x044;
    /// Per-master out-of-order enable.
    pub const OOO_CTRL: usize = 0x048;
    /// Per-master 4 KiB boundary protection.
    pub const BDY_PRT_CTRL: usize = 0x04c;
    /// Level-1 table base, [31:14].
    pub const TTB: usize = 0x050;
    /// Bit n micro TLB n, 16 macro TLB, 17 PTW cache enables.
    pub const TLB_ENABLE: usize = 0x060;
    /// Bit n prefetch for micro TLB n; 16/17 "prefetch valid only" bits.
    pub const TLB_PREFETCH: usize = 0x070;
    /// Full flush: bit n micro TLB n, 16 macro TLB, 17 PTW cache; self-clearing.
    pub const TLB_FLUSH_ENABLE: usize = 0x080;
    /// Bit 0: 0 address + mask, 1 start/end range (H616 only).
    pub const TLB_IVLD_MODE_SEL: usize = 0x084;
    /// Range start [31:12].
    pub const TLB_IVLD_STA_ADDR: usize = 0x088;
    /// Range end [31:12], inclusive.
    pub const TLB_IVLD_END_ADDR: usize = 0x08c;
    /// Address [31:12].
    pub const TLB_IVLD_ADDR: usize = 0x090;
    /// Mask [31:12].
    pub const TLB_IVLD_ADDR_MASK: usize = 0x094;
    /// Bit 0: start; reads 0 when done.
    pub const TLB_IVLD_ENABLE: usize = 0x098;
    /// Directory entry to drop, [31:20].
    pub const PC_IVLD_ADDR: usize = 0x0a0;
    /// Bit 0: start; reads 0 when done.
    pub const PC_IVLD_ENABLE: usize = 0x0a8;
    /// Permission domains 2k and 2k+1 (k = 0..7 at +4k).
    pub const DM_AUT_CTRL0: usize = 0x0b0;
    /// Overwrite: bit 31 on, bit 2m read / 2m+1 write forbidden for master m.
    pub const DM_AUT_OVWT: usize = 0x0d0;
    /// Interrupt enables (same bits as INT_STA).
    pub const INT_ENABLE: usize = 0x100;
    /// Write 1 to clear.
    pub const INT_CLR: usize = 0x104;
    /// Bit n permission fault of master n, 16 L1 invalid, 17 L2 invalid.
    pub const INT_STA: usize = 0x108;
    /// Faulting IOVA of master n's permission fault at +4n.
    pub const INT_ERR_ADDR0: usize = 0x110;
    /// IOVA of the L1-invalid fault.
    pub const INT_ERR_ADDR_L1: usize = 0x130;
    /// IOVA of the L2-invalid fault.
    pub const INT_ERR_ADDR_L2: usize = 0x134;
    /// PTE of master n's permission fault at +4n.
    pub const INT_ERR_DATA0: usize = 0x150;
    /// DTE of the L1-invalid fault.
    pub const INT_ERR_DATA_L1: usize = 0x170;
    /// PTE of the L2-invalid fault.
    pub const INT_ERR_DATA_L2: usize = 0x174;
    /// Bit j: master j met the L1-invalid fault; bit 31: the debug port.
    pub const L1PG_INT: usize = 0x180;
    /// Bit j: master j met the L2-invalid fault; bit 31: the debug port.
    pub const L2PG_INT: usize = 0x184;
    /// Debug port IOVA.
    pub const VA: usize = 0x190;
    /// Debug port data.
    pub const VA_DATA: usize = 0x194;
    /// Debug port: bit 31 debug mode, bit 8 write, bit 0 start.
    pub const VA_CONFIG: usize = 0x198;
    /// Bit 0: counting on.
    pub const PMU_ENABLE: usize = 0x200;
    /// Bit 0: clear all counters; self-clearing.
    pub const PMU_CLR: usize = 0x210;
    /// Micro TLB i's ACCESS_LOW at +0x10 i (i = 0..6); ACCESS_HIGH +4,
    /// HIT_LOW +8, HIT_HIGH +0xC.  The macro TLB and PTW cache sets are
    /// not at i = 7, 8 but at [`PMU_MACRO`], [`PMU_PTW`].
    pub const PMU_ACCESS_LOW0: usize = 0x230;
    /// Macro TLB counters (index 7).
    pub const PMU_MACRO: usize = 0x2d0;
    /// PTW cache counters (index 8).
    pub const PMU_PTW: usize = 0x2e0;
}

/// RESET bit 31: the whole IOMMU.
pub const RESET_GLOBAL: u32 = 1 << 31;
/// Bit 16 of RESET, TLB_ENABLE, TLB_FLUSH_ENABLE: the macro TLB.
pub const MACRO_TLB: u32 = 1 << 16;
/// Bit 17 of RESET, TLB_ENABLE, TLB_FLUSH_ENABLE: the PTW cache.
pub const PTW_CACHE: u32 = 1 << 17;
/// INT_STA bit 16: L1 entry invalid.
pub const INT_L1: u32 = 1 << 16;
/// INT_STA bit 17: L2 entry invalid.
pub const INT_L2: u32 = 1 << 17;
/// L1PG_INT / L2PG_INT bit 31: the access came from the debug port.
pub const PG_DEBUG: u32 = 1 << 31;
/// VA_CONFIG bit 31: debug mode (0 = prefetch mode).
pub const VA_DEBUG_MODE: u32 = 1 << 31;
/// VA_CONFIG bit 8: write.
pub const VA_WRITE: u32 = 1 << 8;
/// PMU index of the macro TLB (its registers are at [`reg::PMU_MACRO`]).
pub const PMU_MACRO_INDEX: usize = 7;
/// PMU index of the PTW cache (its registers are at [`reg::PMU_PTW`]).
pub const PMU_PTW_INDEX: usize = 8;

/// Offset of PMU counter set `i`'s ACCESS_LOW (docs/hw/sun50i.md §12).
pub const fn pmu_offset(i: usize) -> usize {
    match i {
        PMU_MACRO_INDEX => reg::PMU_MACRO,
        PMU_PTW_INDEX => reg::PMU_PTW,
        _ => reg::PMU_ACCESS_LOW0 + 0x10 * i,
    }
}

/// What differs between the SoCs (docs/hw/sun50i.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// SoC name.
    pub name: &'static str,
    /// What VERSION reads.
    pub version: u32,
    /// Micro-TLB slots (masters 0..masters).
    pub masters: u8,
    /// BYPASS after reset.
    pub bypass_reset: u32,
    /// VA / VA_DATA / VA_CONFIG exist (0x190–0x198); without them the
    /// three read as zero and ignore writes.
    pub va_port: bool,
    /// TLB invalidation by start/end range (TLB_IVLD_MODE_SEL, 0x084–0x08C).
    pub tlb_range: bool,
    /// TLB_PREFETCH bits 16/17 ("prefetch does not load invalid entries")
    /// exist; they reset to 1 when present.
    pub prefetch_valid_only: bool,
}

impl Variant {
    /// One bit per micro-TLB slot.
    pub const fn master_mask(&self) -> u32 {
        (1 << self.masters) - 1
    }
}

/// H6 (sun50iw6): six slots, version 0x10; no range invalidation; the VA
/// port is taken as present (the H6 vendor BSP uses it) but no H6 manual
/// text confirms it; the BYPASS reset value is unconfirmed and modelled
/// like the documented D1 one, all slots bypassed (docs/hw/sun50i.md §1,
/// §13).
pub const H6: Variant = Variant {
    name: "H6",
    version: 0x10,
    masters: 6,
    bypass_reset: 0x3f,
    va_port: true,
    tlb_range: false,
    prefetch_valid_only: false,
};

/// H616/H618 (sun50iw9): seven slots (mask 0x7F), version 0x12, range TLB
/// invalidation, the VA port documented in the H616 manual
/// (docs/hw/sun50i.md §1, §11).
pub const H616: Variant = Variant {
    name: "H616",
    version: 0x12,
    masters: 7,
    bypass_reset: 0x7f,
    va_port: true,
    tlb_range: true,
    prefetch_valid_only: false,
};

/// Model choices where the manuals give no number (docs/hw/sun50i.md §14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Reads of a started operation's register that still see its busy bit.
    pub busy_polls: u32,
    /// Pages after a demand walk's page the prefetch loads into the macro TLB.
    pub prefetch_pages: u32,
    /// Directory entries after the demand walk's the prefetch loads into the
    /// PTW cache.
    pub prefetch_dirs: u32,
    /// A fault stops the master's lane until its lane reset is pulsed.
    pub fault_stops_lane: bool,
    /// The debug port looks up and fills the macro TLB (else it uses only
    /// the PTW cache and the tables).
    pub va_port_uses_tlb: bool,
    /// Test knob, not a hardware claim: PMU_ENABLE ignores writes (reads
    /// 0), so nothing is counted — a PMU that never starts.
    pub pmu_stuck_off: bool,
    /// Test knob, not a hardware claim: every PMU counter register reads 0
    /// whatever was counted — a counter read that is broken.
    pub pmu_reads_zero: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            busy_polls: 2,
            prefetch_pages: 1,
            prefetch_dirs: 1,
            fault_stops_lane: true,
            va_port_uses_tlb: false,
            pmu_stuck_off: false,
            pmu_reads_zero: false,
        }
    }
}

/// A 32-bit bus range standing for a host allocation: bus `bus` is host
/// address `host`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First bus address of the window.
    pub bus: u32,
    /// Host address it stands for.
    pub host: u64,
}

impl Window {
    /// Host address of bus address `bus` (wraps outside the window: such
    /// an address is in no live arena).
    pub fn host(&self, bus: u32) -> u64 {
        self.host
            .wrapping_add(u64::from(bus))
            .wrapping_sub(u64::from(self.bus))
    }

    /// Bus address of host address `host`.
    pub fn bus(&self, host: u64) -> u32 {
        (host.wrapping_sub(self.host) as u32).wrapping_add(self.bus)
    }
}

/// Something the driver did that the manual rules out or that has no
/// register; the model records it instead of guessing silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// TTB written while translation was on and some master not bypassed
    /// (docs/hw/sun50i.md §8); the write was ignored.
    TtbWhileTranslating {
        /// The value written.
        value: u32,
    },
    /// ENABLE set with TTB still 0 and some master not bypassed.
    EnableWithoutTtb,
    /// An operation started while the same register's previous one was
    /// still busy; the new start was ignored.
    StartWhileBusy {
        /// Register offset.
        off: usize,
    },
    /// A write to a read-only register (ignored).
    ReadOnly {
        /// Register offset.
        off: usize,
    },
    /// An access to no register of this variant (reads 0, writes ignored).
    Unmapped {
        /// Register offset.
        off: usize,
    },
    /// A table walk or a debug-port access left host RAM.
    OutsideRam {
        /// Bus address.
        at: u32,
    },
    /// A master drove an IOVA above 32 bits.
    WideIova {
        /// The master.
        master: u32,
        /// The address.
        iova: u64,
    },
}

/// What kind of fault the model latched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Invalid directory entry.
    L1Invalid,
    /// Invalid page entry.
    L2Invalid,
    /// The page's domain forbids the access.
    Permission,
}

/// A fault as it happened (model-side record, with the direction the
/// registers do not report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// The master, or `None` for the debug port.
    pub master: Option<u8>,
    /// The IOVA.
    pub iova: u32,
    /// A write.
    pub write: bool,
    /// Which fault.
    pub kind: FaultKind,
    /// It found its registers already latched and left them alone.
    pub lost: bool,
}

/// A TLB entry: one page and the PTE it was loaded from (invalid only when
/// a prefetch loaded it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// IOVA[31:12].
    pub page: u32,
    /// The DTE the walk went through.
    pub dte: u32,
    /// The PTE.
    pub pte: u32,
}

/// A PTW-cache entry: one directory entry (invalid only when a prefetch
/// loaded it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// IOVA[31:20].
    pub index: u32,
    /// The DTE.
    pub dte: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlbScope {
    Masked { addr: u32, mask: u32 },
    Range { start: u32, end: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    TlbInvalidate(TlbScope),
    PtwInvalidate { index: u32 },
    Flush { bits: u32 },
    Va { iova: u32, write: bool },
    PmuClear,
}

impl Op {
    fn register(&self) -> usize {
        match self {
            Self::TlbInvalidate(_) => reg::TLB_IVLD_ENABLE,
            Self::PtwInvalidate { .. } => reg::PC_IVLD_ENABLE,
            Self::Flush { .. } => reg::TLB_FLUSH_ENABLE,
            Self::Va { .. } => reg::VA_CONFIG,
            Self::PmuClear => reg::PMU_CLR,
        }
    }
}

/// One 43-bit access/hit counter pair (docs/hw/sun50i.md §12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Lookups.
    pub access: u64,
    /// Hits.
    pub hit: u64,
}

/// The register file (what reset restores).
#[derive(Clone, Debug)]
struct Regs {
    enable: u32,
    bypass: u32,
    auto_gating: u32,
    wbuf: u32,
    ooo: u32,
    bdy_prt: u32,
    ttb: u32,
    tlb_enable: u32,
    prefetch: u32,
    tlb_mode: u32,
    tlb_sta: u32,
    tlb_end: u32,
    tlb_addr: u32,
    tlb_mask: u32,
    pc_addr: u32,
    dm_aut: [u32; 8],
    dm_ovwt: u32,
    int_enable: u32,
    int_sta: u32,
    err_addr: [u32; 7],
    err_data: [u32; 7],
    err_addr_l1: u32,
    err_addr_l2: u32,
    err_data_l1: u32,
    err_data_l2: u32,
    l1pg: u32,
    l2pg: u32,
    va: u32,
    va_data: u32,
    va_config: u32,
    pmu_enable: u32,
}

impl Regs {
    fn reset(v: &Variant) -> Self {
        let m = v.master_mask();
        Self {
            enable: 0,
            bypass: v.bypass_reset,
            auto_gating: 1,
            wbuf: m,
            ooo: m,
            bdy_prt: m,
            ttb: 0,
            tlb_enable: PTW_CACHE | MACRO_TLB | m,
            prefetch: if v.prefetch_valid_only {
                PTW_CACHE | MACRO_TLB
            } else {
                0
            },
            tlb_mode: 0,
            tlb_sta: 0,
            tlb_end: 0,
            tlb_addr: 0,
            tlb_mask: 0,
            pc_addr: 0,
            dm_aut: [0; 8],
            dm_ovwt: 0,
            int_enable: 0,
            int_sta: 0,
            err_addr: [0; 7],
            err_data: [0; 7],
            err_addr_l1: 0,
            err_addr_l2: 0,
            err_data_l1: 0,
            err_data_l2: 0,
            l1pg: 0,
            l2pg: 0,
            va: 0,
            va_data: 0,
            va_config: 0,
            pmu_enable: 0,
        }
    }
}

/// The model.
#[derive(Debug)]
pub struct Sun50iModel {
    /// The SoC modelled.
    pub variant: Variant,
    /// Model choices.
    pub knobs: Knobs,
    /// Bus-to-host address window.
    pub window: Window,
    reset: u32,
    regs: Regs,
    /// (master, entry) for every micro TLB.
    micro: StaleCache<u8, TlbEntry>,
    macro_tlb: StaleCache<(), TlbEntry>,
    ptw: StaleCache<(), DirEntry>,
    /// Operations in flight: (polls left, operation).
    busy: Vec<(u32, Op)>,
    /// Masters whose lane a fault stopped.
    stopped: u32,
    pmu: [Counter; 9],
    /// Everything the driver did that the manual rules out.
    pub misuse: Vec<Misuse>,
    /// Every fault, oldest first.
    pub faults: Vec<FaultEvent>,
}

impl Sun50iModel {
    /// A model of `variant` after reset, its bus addresses mapped by `window`.
    pub fn new(variant: Variant, window: Window) -> Self {
        Self {
            variant,
            knobs: Knobs::default(),
            window,
            reset: RESET_GLOBAL | PTW_CACHE | MACRO_TLB | variant.master_mask(),
            regs: Regs::reset(&variant),
            micro: StaleCache::new(),
            macro_tlb: StaleCache::new(),
            ptw: StaleCache::new(),
            busy: Vec::new(),
            stopped: 0,
            pmu: [Counter::default(); 9],
            misuse: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// Entries master `m`'s micro TLB holds.
    pub fn micro_entries(&self, m: u8) -> usize {
        self.micro.clone().invalidate(|k, _| *k == m)
    }

    /// The macro TLB's entry for `iova`'s page, if any.
    pub fn macro_entry(&self, iova: u32) -> Option<TlbEntry> {
        self.macro_tlb
            .find(|_, e| e.page == iova >> 12)
            .map(|(_, e)| e)
    }

    /// The PTW cache's entry for `iova`'s directory slot, if any.
    pub fn ptw_entry(&self, iova: u32) -> Option<DirEntry> {
        self.ptw.find(|_, e| e.index == iova >> 20).map(|(_, e)| e)
    }

    /// The counters of PMU index `i` (0..=6 micro TLBs, 7 macro, 8 PTW).
    pub fn counter(&self, i: usize) -> Counter {
        self.pmu[i]
    }

    /// `true` while an operation started at register `off` is busy.
    pub fn busy_at(&self, off: usize) -> bool {
        self.busy.iter().any(|(_, op)| op.register() == off)
    }

    /// Time passes without polls: every operation in flight completes.
    pub fn settle(&mut self) {
        for (_, op) in core::mem::take(&mut self.busy) {
            self.complete(op);
        }
    }

    /// The interrupt line: INT_STA & INT_ENABLE (drivers poll; nothing
    /// takes it).
    pub fn irq_pending(&self) -> bool {
        self.regs.int_sta & self.regs.int_enable != 0
    }

    /// Masters a fault has stopped until their lane reset.
    pub fn stopped_lanes(&self) -> u32 {
        self.stopped
    }

    // ---- memory ----

    fn read_bus(&mut self, at: u32) -> Option<u32> {
        let host = self.window.host(at);
        if !host_ram::live(host, 4) {
            self.misuse.push(Misuse::OutsideRam { at });
            return None;
        }
        let mut b = [0u8; 4];
        host_ram::read_bytes(host, &mut b);
        Some(u32::from_le_bytes(b))
    }

    fn walker(&self) -> Sun50iWalk {
        Sun50iWalk { ttb: self.regs.ttb }
    }

    // ---- PMU ----

    fn count(&mut self, i: usize, hit: bool) {
        if self.regs.pmu_enable & 1 != 0 {
            let c = &mut self.pmu[i];
            c.access = (c.access + 1) & ((1 << 43) - 1);
            if hit {
                c.hit = (c.hit + 1) & ((1 << 43) - 1);
            }
        }
    }

    // ---- translation ----

    /// The bus address master `m`'s access to `iova` reaches, or `None`
    /// when the IOMMU stops it (and latches whatever it latches).
    pub fn translate(&mut self, m: u32, iova: u32, write: bool) -> Option<u32> {
        if m >= u32::from(self.variant.masters) {
            return None;
        }
        let bit = 1u32 << m;
        // A lane held in reset (or the whole unit) moves nothing; a lane a
        // fault stopped waits for its lane reset (docs/hw/sun50i.md §8, §14).
        if self.reset & RESET_GLOBAL == 0 || self.reset & bit == 0 || self.stopped & bit != 0 {
            return None;
        }
        if self.regs.enable & 1 == 0 || self.regs.bypass & bit != 0 {
            return Some(iova);
        }
        let m8 = m as u8;
        let pte = match self.lookup(m8, iova) {
            Ok(pte) => pte,
            Err(kind_entry) => {
                self.fault(Some(m8), iova, write, kind_entry);
                return None;
            }
        };
        if !self.permitted(m8, Sun50iWalk::aci(pte), write) {
            self.fault(Some(m8), iova, write, (FaultKind::Permission, pte));
            return None;
        }
        Some(Sun50iWalk::output(pte, iova))
    }

    /// Micro TLB → macro TLB → PTW cache → tables.  `Err` carries the fault
    /// and the entry its data register reports.
    fn lookup(&mut self, m: u8, iova: u32) -> Result<u32, (FaultKind, u32)> {
        let page = iova >> 12;
        let en = self.regs.tlb_enable;
        if en & (1 << m) != 0 {
            let hit = self.micro.find(|k, e| *k == m && e.page == page);
            self.count(usize::from(m), hit.is_some());
            if let Some((_, e)) = hit {
                return Ok(e.pte);
            }
        }
        if en & MACRO_TLB != 0 {
            let hit = self.macro_tlb.find(|_, e| e.page == page);
            self.count(PMU_MACRO_INDEX, hit.is_some());
            if let Some((_, e)) = hit {
                if !Sun50iWalk::pte_valid(e.pte) {
                    // An invalid entry a prefetch loaded.
                    return Err((FaultKind::L2Invalid, e.pte));
                }
                self.fill_micro(m, e);
                return Ok(e.pte);
            }
        }
        let result = self.demand_walk(iova);
        if self.regs.prefetch & (1 << m) != 0 {
            self.prefetch(iova);
        }
        let e = result?;
        if en & MACRO_TLB != 0 {
            self.macro_tlb.insert((), e);
        }
        self.fill_micro(m, e);
        Ok(e.pte)
    }

    fn fill_micro(&mut self, m: u8, e: TlbEntry) {
        if self.regs.tlb_enable & (1 << m) != 0 {
            self.micro.insert(m, e);
        }
    }

    /// The DTE for `iova` through the PTW cache.  Demand walks keep valid
    /// entries only (docs/hw/sun50i.md §5).
    fn dte(&mut self, iova: u32, demand: bool) -> Result<u32, (FaultKind, u32)> {
        let index = iova >> 20;
        let on = self.regs.tlb_enable & PTW_CACHE != 0;
        if on {
            let hit = self.ptw.find(|_, e| e.index == index);
            if demand {
                self.count(PMU_PTW_INDEX, hit.is_some());
            }
            if let Some((_, e)) = hit {
                return Ok(e.dte);
            }
        }
        let at = self.walker().dte_addr(iova);
        let dte = self.read_bus(at).ok_or((FaultKind::L1Invalid, 0))?;
        if on && Sun50iWalk::l2_table(dte).is_some() {
            self.ptw.insert((), DirEntry { index, dte });
        }
        Ok(dte)
    }

    fn demand_walk(&mut self, iova: u32) -> Result<TlbEntry, (FaultKind, u32)> {
        let dte = self.dte(iova, true)?;
        self.walk_from(iova, dte)
    }

    fn walk_from(&mut self, iova: u32, dte: u32) -> Result<TlbEntry, (FaultKind, u32)> {
        let mut words = Vec::new();
        if let Some(l2) = Sun50iWalk::l2_table(dte) {
            let at = Sun50iWalk::pte_addr(l2, iova);
            words.push((at, self.read_bus(at)));
        }
        let read = |a: u32| words.iter().find(|(w, _)| *w == a).and_then(|(_, v)| *v);
        match self.walker().walk(read, iova, Some(dte)) {
            Ok(w) => Ok(TlbEntry {
                page: iova >> 12,
                dte,
                pte: w.pte,
            }),
            Err(Sun50iFault::L1Invalid { dte }) => Err((FaultKind::L1Invalid, dte)),
            Err(Sun50iFault::L2Invalid { pte, .. }) => Err((FaultKind::L2Invalid, pte)),
            Err(Sun50iFault::External { .. }) => Err((FaultKind::L2Invalid, 0)),
        }
    }

    /// The next-page prefetch after a demand walk at `iova`: the following
    /// pages into the macro TLB, the following directory entries into the
    /// PTW cache; invalid entries too unless TLB_PREFETCH bit 16 (macro TLB)
    /// or 17 (PTW cache) says "valid only" (docs/hw/sun50i.md §5).  No fault
    /// is latched and no PMU count is taken for prefetches.
    fn prefetch(&mut self, iova: u32) {
        let valid_only_l2 = self.regs.prefetch & MACRO_TLB != 0;
        let valid_only_l1 = self.regs.prefetch & PTW_CACHE != 0;
        let ptw_on = self.regs.tlb_enable & PTW_CACHE != 0;
        let macro_on = self.regs.tlb_enable & MACRO_TLB != 0;
        for k in 1..=self.knobs.prefetch_dirs {
            let Some(next) = (iova >> 20).checked_add(k).filter(|i| *i < 4096) else {
                break;
            };
            let at = self.walker().dte_addr(next << 20);
            if !ptw_on || self.ptw.find(|_, e| e.index == next).is_some() {
                continue;
            }
            let Some(dte) = self.read_bus(at) else {
                continue;
            };
            if Sun50iWalk::l2_table(dte).is_some() || !valid_only_l1 {
                self.ptw.insert((), DirEntry { index: next, dte });
            }
        }
        for k in 1..=self.knobs.prefetch_pages {
            let Some(next) = (iova >> 12).checked_add(k).filter(|p| *p < 1 << 20) else {
                break;
            };
            if !macro_on || self.macro_tlb.find(|_, e| e.page == next).is_some() {
                continue;
            }
            let niova = next << 12;
            let dte = match self.ptw.find(|_, e| e.index == next >> 8) {
                Some((_, e)) if ptw_on => e.dte,
                _ => {
                    let at = self.walker().dte_addr(niova);
                    let Some(dte) = self.read_bus(at) else {
                        continue;
                    };
                    if ptw_on && (Sun50iWalk::l2_table(dte).is_some() || !valid_only_l1) {
                        self.ptw.insert(
                            (),
                            DirEntry {
                                index: next >> 8,
                                dte,
                            },
                        );
                    }
                    dte
                }
            };
            let Some(l2) = Sun50iWalk::l2_table(dte) else {
                continue;
            };
            let Some(pte) = self.read_bus(Sun50iWalk::pte_addr(l2, niova)) else {
                continue;
            };
            if Sun50iWalk::pte_valid(pte) || !valid_only_l2 {
                self.macro_tlb.insert(
                    (),
                    TlbEntry {
                        page: next,
                        dte,
                        pte,
                    },
                );
            }
        }
    }

    /// The permission domain `aci` (or DM_AUT_OVWT when its bit 31 is set)
    /// for master `m` (docs/hw/sun50i.md §9).
    fn permitted(&self, m: u8, aci: u8, write: bool) -> bool {
        let bit = 2 * u32::from(m) + u32::from(write);
        if self.regs.dm_ovwt & (1 << 31) != 0 {
            return self.regs.dm_ovwt & (1 << bit) == 0;
        }
        if aci == 0 {
            return true; // domain 0: not controlled
        }
        let word = self.regs.dm_aut[usize::from(aci / 2)];
        let shift = 16 * u32::from(aci % 2) + bit;
        word & (1 << shift) == 0
    }

    /// Latches a fault: registers hold the first one until INT_CLR clears
    /// its status bit (docs/hw/sun50i.md §8, §14).
    fn fault(
        &mut self,
        master: Option<u8>,
        iova: u32,
        write: bool,
        (kind, data): (FaultKind, u32),
    ) {
        let r = &mut self.regs;
        let who = master.map_or(PG_DEBUG, |m| 1 << m);
        let lost = match kind {
            FaultKind::Permission => {
                let m = usize::from(master.expect("the debug port has no domain check"));
                let latched = r.int_sta & (1 << m) != 0;
                if !latched {
                    r.int_sta |= 1 << m;
                    r.err_addr[m] = iova;
                    r.err_data[m] = data;
                }
                latched
            }
            FaultKind::L1Invalid => {
                let latched = r.int_sta & INT_L1 != 0;
                if !latched {
                    r.int_sta |= INT_L1;
                    r.err_addr_l1 = iova;
                    r.err_data_l1 = data;
                }
                r.l1pg |= who;
                latched
            }
            FaultKind::L2Invalid => {
                let latched = r.int_sta & INT_L2 != 0;
                if !latched {
                    r.int_sta |= INT_L2;
                    r.err_addr_l2 = iova;
                    r.err_data_l2 = data;
                }
                r.l2pg |= who;
                latched
            }
        };
        if let (Some(m), true) = (master, self.knobs.fault_stops_lane) {
            self.stopped |= 1 << m;
        }
        self.faults.push(FaultEvent {
            master,
            iova,
            write,
            kind,
            lost,
        });
    }

    // ---- operations ----

    fn start(&mut self, op: Op) {
        let off = op.register();
        if self.busy_at(off) {
            self.misuse.push(Misuse::StartWhileBusy { off });
            return;
        }
        if self.knobs.busy_polls == 0 {
            self.complete(op);
        } else {
            self.busy.push((self.knobs.busy_polls, op));
        }
    }

    /// A read of busy register `off`: `true` while still busy.  The read
    /// that finds the bit clear completes the operation first.
    fn poll(&mut self, off: usize) -> bool {
        let Some(i) = self.busy.iter().position(|(_, op)| op.register() == off) else {
            return false;
        };
        if self.busy[i].0 > 0 {
            self.busy[i].0 -= 1;
            return true;
        }
        let (_, op) = self.busy.remove(i);
        self.complete(op);
        false
    }

    fn complete(&mut self, op: Op) {
        match op {
            // Address/mask and range invalidations reach every micro TLB and
            // the macro TLB, not the PTW cache (docs/hw/sun50i.md §6).
            Op::TlbInvalidate(scope) => {
                let gone = |e: &TlbEntry| {
                    let a = e.page << 12;
                    match scope {
                        TlbScope::Masked { addr, mask } => a & mask == addr & mask,
                        TlbScope::Range { start, end } => start <= a && a <= end,
                    }
                };
                self.micro.invalidate(|_, e| gone(e));
                self.macro_tlb.invalidate(|_, e| gone(e));
            }
            Op::PtwInvalidate { index } => {
                self.ptw.invalidate(|_, e| e.index == index);
            }
            Op::Flush { bits } => {
                self.micro.invalidate(|m, _| bits & (1 << m) != 0);
                if bits & MACRO_TLB != 0 {
                    self.macro_tlb.clear();
                }
                if bits & PTW_CACHE != 0 {
                    self.ptw.clear();
                }
            }
            Op::Va { iova, write } => self.va_access(iova, write),
            Op::PmuClear => self.pmu = [Counter::default(); 9],
        }
    }

    /// The debug port's translated 32-bit access (docs/hw/sun50i.md §11):
    /// through the PTW cache and the tables (and the macro TLB with
    /// [`Knobs::va_port_uses_tlb`]); no micro TLB, no domain check, no PMU
    /// count; faults flag bit 31 of L1PG_INT/L2PG_INT.
    fn va_access(&mut self, iova: u32, write: bool) {
        let cached = if self.knobs.va_port_uses_tlb && self.regs.tlb_enable & MACRO_TLB != 0 {
            self.macro_tlb
                .find(|_, e| e.page == iova >> 12)
                .map(|(_, e)| e)
        } else {
            None
        };
        let entry = match cached {
            Some(e) if Sun50iWalk::pte_valid(e.pte) => Ok(e),
            Some(e) => Err((FaultKind::L2Invalid, e.pte)),
            None => self.dte(iova, false).and_then(|d| self.walk_from(iova, d)),
        };
        let e = match entry {
            Ok(e) => e,
            Err(f) => {
                self.fault(None, iova, write, f);
                return;
            }
        };
        if self.knobs.va_port_uses_tlb && cached.is_none() {
            self.macro_tlb.insert((), e);
        }
        let pa = Sun50iWalk::output(e.pte, iova) & !3;
        let host = self.window.host(pa);
        if !host_ram::live(host, 4) {
            self.misuse.push(Misuse::OutsideRam { at: pa });
            return;
        }
        if write {
            host_ram::write_bytes(host, &self.regs.va_data.to_le_bytes());
        } else {
            let mut b = [0u8; 4];
            host_ram::read_bytes(host, &mut b);
            self.regs.va_data = u32::from_le_bytes(b);
        }
    }

    // ---- resets ----

    fn write_reset(&mut self, val: u32) {
        let valid = RESET_GLOBAL | PTW_CACHE | MACRO_TLB | self.variant.master_mask();
        let new = val & valid;
        let asserted = self.reset & !new;
        self.reset = new;
        if asserted & RESET_GLOBAL != 0 {
            // The whole unit: registers, caches, operations, counters.
            self.regs = Regs::reset(&self.variant);
            self.micro.clear();
            self.macro_tlb.clear();
            self.ptw.clear();
            self.busy.clear();
            self.stopped = 0;
            self.pmu = [Counter::default(); 9];
            return;
        }
        if asserted & MACRO_TLB != 0 {
            self.macro_tlb.clear();
        }
        if asserted & PTW_CACHE != 0 {
            self.ptw.clear();
        }
        let lanes = asserted & self.variant.master_mask();
        self.micro.invalidate(|m, _| lanes & (1 << m) != 0);
        self.stopped &= !lanes;
    }

    fn translating(&self) -> bool {
        self.regs.enable & 1 != 0
            && self.regs.bypass & self.variant.master_mask() != self.variant.master_mask()
    }

    /// Offsets that exist on this variant.
    fn mapped(&self, off: usize) -> bool {
        let n = usize::from(self.variant.masters);
        match off {
            reg::TLB_IVLD_MODE_SEL | reg::TLB_IVLD_STA_ADDR | reg::TLB_IVLD_END_ADDR => {
                self.variant.tlb_range
            }
            0x110..=0x12c => (off - 0x110) / 4 < n,
            0x150..=0x16c => (off - 0x150) / 4 < n,
            reg::VA | reg::VA_DATA | reg::VA_CONFIG => self.variant.va_port,
            0x230..=0x29c => (off - 0x230) / 16 < n,
            0x2d0..=0x2ec => true,
            // Latency counters: present, not modelled (read 0); PMU_ML
            // only on seven-slot parts (docs/hw/sun50i.md §12).
            0x300..=0x36c => {
                (off - 0x300) / 16 < n && (off & 0xf < 8 || (off & 0xf == 8 && n == 7))
            }
            reg::VERSION
            | reg::RESET
            | reg::ENABLE
            | reg::BYPASS
            | reg::AUTO_GATING
            | reg::WBUF_CTRL
            | reg::OOO_CTRL
            | reg::BDY_PRT_CTRL
            | reg::TTB
            | reg::TLB_ENABLE
            | reg::TLB_PREFETCH
            | reg::TLB_FLUSH_ENABLE
            | reg::TLB_IVLD_ADDR
            | reg::TLB_IVLD_ADDR_MASK
            | reg::TLB_IVLD_ENABLE
            | reg::PC_IVLD_ADDR
            | reg::PC_IVLD_ENABLE
            | 0x0b0..=0x0d0
            | reg::INT_ENABLE
            | reg::INT_CLR
            | reg::INT_STA
            | reg::INT_ERR_ADDR_L1
            | reg::INT_ERR_ADDR_L2
            | reg::INT_ERR_DATA_L1
            | reg::INT_ERR_DATA_L2
            | reg::L1PG_INT
            | reg::L2PG_INT
            | reg::PMU_ENABLE
            | reg::PMU_CLR => true,
            _ => false,
        }
    }

    fn pmu_read(&self, off: usize) -> u32 {
        if self.knobs.pmu_reads_zero {
            return 0;
        }
        let i = match off {
            0x2d0..=0x2dc => PMU_MACRO_INDEX,
            0x2e0..=0x2ec => PMU_PTW_INDEX,
            _ => (off - reg::PMU_ACCESS_LOW0) / 16,
        };
        let c = self.pmu[i];
        match off % 16 {
            0 => c.access as u32,
            4 => (c.access >> 32) as u32 & 0x7ff,
            8 => c.hit as u32,
            _ => (c.hit >> 32) as u32 & 0x7ff,
        }
    }

    fn read32(&mut self, off: usize) -> u32 {
        if !self.mapped(off) {
            self.misuse.push(Misuse::Unmapped { off });
            return 0;
        }
        let r = &self.regs;
        let busy = |b: bool| u32::from(b);
        match off {
            reg::VERSION => self.variant.version,
            reg::RESET => self.reset,
            reg::ENABLE => r.enable,
            reg::BYPASS => r.bypass,
            reg::AUTO_GATING => r.auto_gating,
            reg::WBUF_CTRL => r.wbuf,
            reg::OOO_CTRL => r.ooo,
            reg::BDY_PRT_CTRL => r.bdy_prt,
            reg::TTB => r.ttb,
            reg::TLB_ENABLE => r.tlb_enable,
            reg::TLB_PREFETCH => r.prefetch,
            reg::TLB_FLUSH_ENABLE => {
                let bits = self.busy.iter().find_map(|(_, op)| match op {
                    Op::Flush { bits } => Some(*bits),
                    _ => None,
                });
                if self.poll(off) {
                    bits.unwrap_or(0)
                } else {
                    0
                }
            }
            reg::TLB_IVLD_MODE_SEL => r.tlb_mode,
            reg::TLB_IVLD_STA_ADDR => r.tlb_sta,
            reg::TLB_IVLD_END_ADDR => r.tlb_end,
            reg::TLB_IVLD_ADDR => r.tlb_addr,
            reg::TLB_IVLD_ADDR_MASK => r.tlb_mask,
            reg::TLB_IVLD_ENABLE | reg::PC_IVLD_ENABLE | reg::PMU_CLR => busy(self.poll(off)),
            reg::PC_IVLD_ADDR => r.pc_addr,
            0x0b0..=0x0cc => r.dm_aut[(off - reg::DM_AUT_CTRL0) / 4],
            reg::DM_AUT_OVWT => r.dm_ovwt,
            reg::INT_ENABLE => r.int_enable,
            reg::INT_CLR => 0,
            reg::INT_STA => r.int_sta,
            0x110..=0x12c => r.err_addr[(off - reg::INT_ERR_ADDR0) / 4],
            0x150..=0x16c => r.err_data[(off - reg::INT_ERR_DATA0) / 4],
            reg::INT_ERR_ADDR_L1 => r.err_addr_l1,
            reg::INT_ERR_ADDR_L2 => r.err_addr_l2,
            reg::INT_ERR_DATA_L1 => r.err_data_l1,
            reg::INT_ERR_DATA_L2 => r.err_data_l2,
            reg::L1PG_INT => r.l1pg,
            reg::L2PG_INT => r.l2pg,
            reg::VA => r.va,
            reg::VA_DATA => r.va_data,
            reg::VA_CONFIG => {
                let cfg = r.va_config & (VA_DEBUG_MODE | VA_WRITE);
                cfg | busy(self.poll(off))
            }
            reg::PMU_ENABLE => r.pmu_enable,
            0x230..=0x29c | 0x2d0..=0x2ec => self.pmu_read(off),
            _ => 0,
        }
    }

    fn write32(&mut self, off: usize, val: u32) {
        if !self.mapped(off) {
            self.misuse.push(Misuse::Unmapped { off });
            return;
        }
        let masters = self.variant.master_mask();
        let r = &mut self.regs;
        match off {
            reg::RESET => self.write_reset(val),
            reg::ENABLE => {
                r.enable = val & 1;
                if val & 1 != 0 && r.ttb == 0 && r.bypass & masters != masters {
                    self.misuse.push(Misuse::EnableWithoutTtb);
                }
            }
            reg::BYPASS => r.bypass = val & masters,
            reg::AUTO_GATING => r.auto_gating = val & 1,
            reg::WBUF_CTRL => r.wbuf = val & masters,
            reg::OOO_CTRL => r.ooo = val & masters,
            reg::BDY_PRT_CTRL => r.bdy_prt = val & masters,
            reg::TTB => {
                if self.translating() {
                    self.misuse.push(Misuse::TtbWhileTranslating { value: val });
                } else {
                    self.regs.ttb = val & !0x3fff;
                }
            }
            reg::TLB_ENABLE => r.tlb_enable = val & (PTW_CACHE | MACRO_TLB | masters),
            reg::TLB_PREFETCH => {
                let fix = if self.variant.prefetch_valid_only {
                    PTW_CACHE | MACRO_TLB
                } else {
                    0
                };
                r.prefetch = val & (fix | masters);
            }
            reg::TLB_FLUSH_ENABLE => {
                let bits = val & (PTW_CACHE | MACRO_TLB | masters);
                if bits != 0 {
                    self.start(Op::Flush { bits });
                }
            }
            reg::TLB_IVLD_MODE_SEL => r.tlb_mode = val & 1,
            reg::TLB_IVLD_STA_ADDR => r.tlb_sta = val & !0xfff,
            reg::TLB_IVLD_END_ADDR => r.tlb_end = val & !0xfff,
            reg::TLB_IVLD_ADDR => r.tlb_addr = val & !0xfff,
            reg::TLB_IVLD_ADDR_MASK => r.tlb_mask = val & !0xfff,
            reg::TLB_IVLD_ENABLE => {
                if val & 1 != 0 {
                    let scope = if self.variant.tlb_range && r.tlb_mode & 1 != 0 {
                        TlbScope::Range {
                            start: r.tlb_sta,
                            end: r.tlb_end,
                        }
                    } else {
                        TlbScope::Masked {
                            addr: r.tlb_addr,
                            mask: r.tlb_mask,
                        }
                    };
                    self.start(Op::TlbInvalidate(scope));
                }
            }
            reg::PC_IVLD_ADDR => r.pc_addr = val & !0xf_ffff,
            reg::PC_IVLD_ENABLE => {
                if val & 1 != 0 {
                    let index = r.pc_addr >> 20;
                    self.start(Op::PtwInvalidate { index });
                }
            }
            0x0b0..=0x0cc => r.dm_aut[(off - reg::DM_AUT_CTRL0) / 4] = val,
            reg::DM_AUT_OVWT => r.dm_ovwt = val,
            reg::INT_ENABLE => r.int_enable = val & (INT_L2 | INT_L1 | masters),
            reg::INT_CLR => {
                let clr = val & r.int_sta;
                r.int_sta &= !clr;
                if clr & INT_L1 != 0 {
                    r.l1pg = 0;
                }
                if clr & INT_L2 != 0 {
                    r.l2pg = 0;
                }
            }
            reg::VA => r.va = val,
            reg::VA_DATA => r.va_data = val,
            reg::VA_CONFIG => {
                r.va_config = val & (VA_DEBUG_MODE | VA_WRITE);
                if val & 1 != 0 {
                    let op = Op::Va {
                        iova: r.va,
                        write: val & VA_WRITE != 0,
                    };
                    self.start(op);
                }
            }
            reg::PMU_ENABLE => {
                if !self.knobs.pmu_stuck_off {
                    r.pmu_enable = val & 1;
                }
            }
            reg::PMU_CLR => {
                if val & 1 != 0 {
                    self.start(Op::PmuClear);
                }
            }
            _ => self.misuse.push(Misuse::ReadOnly { off }),
        }
    }
}

impl RegisterModel for Sun50iModel {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        assert!(
            width == Width::W32 && off.is_multiple_of(4),
            "sun50i registers are 32-bit words: {width:?} read at {off:#x}"
        );
        u64::from(self.read32(off))
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        assert!(
            width == Width::W32 && off.is_multiple_of(4),
            "sun50i registers are 32-bit words: {width:?} write at {off:#x}"
        );
        self.write32(off, val as u32);
    }
}

/// A shared handle on one model: the register seam
/// (`ModelMmio::new(handle.clone())`) and the masters
/// (`ModelMaster::new(id, name, handle.clone())`) reach the same IOMMU.
#[derive(Clone, Debug)]
pub struct Sun50i(pub Rc<RefCell<Sun50iModel>>);

impl Sun50i {
    /// A model of `variant` after reset.
    pub fn new(variant: Variant, window: Window) -> Self {
        Self(Rc::new(RefCell::new(Sun50iModel::new(variant, window))))
    }
}

impl RegisterModel for Sun50i {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        self.0.borrow_mut().read(off, width)
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.0.borrow_mut().write(off, width, val);
    }
}

impl Translate for Sun50i {
    /// `stream` is the master's micro-TLB slot; the result is a host
    /// address through the model's [`Window`].
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        let mut hw = self.0.borrow_mut();
        let Ok(iova32) = u32::try_from(iova) else {
            hw.misuse.push(Misuse::WideIova {
                master: stream,
                iova,
            });
            return None;
        };
        let pa = hw.translate(stream, iova32, write)?;
        Some(hw.window.host(pa))
    }
}
