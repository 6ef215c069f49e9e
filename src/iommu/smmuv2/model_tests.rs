//! Host tests of the SMMUv2 model itself, programmed through its registers
//! as IHI 0062 and the MMU-500 TRM describe them (no driver), with
//! hand-written LPAE descriptors (independent of the crate's page-table
//! codec): every behaviour docs/hw/smmuv2.md ("Behavioural model (host)")
//! says the model implements.

use super::model::reg::{
    actlr, cb as cbr, cba2r, cbar, fsr, fsynr0, gr0, gr1, par, s2cr, sacr, scr0, sctlr, sgfsr,
    sgfsynr0, smr, tcr,
};
use super::model::*;
use crate::iommu::DmaMaster;
use crate::mm::host_ram::{self, HostRam};
use crate::mm::Iova;
use crate::mmio::{Mmio, ModelMmio, Width};
use crate::testkit::master::Translate;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::time::Duration;

/// Bus address of the test RAM (below 4 GiB so AArch32 LPAE's 40-bit
/// output reaches it).
const BUS: u64 = 0x8000_0000;
/// Data pages start here; tables below.
const DATA: u64 = BUS + (4 << 20);

/// Leaf attributes: AF | nG | SH inner | AP[1] (unprivileged) | AttrIndx 1.
const PAGE: u64 = 0x400 | 0x800 | 0x300 | 0x40 | 0x4;
/// AP[2]: read-only.
const RO: u64 = 1 << 7;
/// nG.
const NG: u64 = 1 << 11;
/// AP[1].
const AP1: u64 = 1 << 6;
/// MAIR0: Attr0 0x44, Attr1 0xFF, Attr2 0x04, Attr3 0xF4.
const MAIR0: u32 = 0xF404_FF44;

/// One table format: granule shift, input bits, and a stage-2 start level
/// when it is not the implied one (concatenated top tables).
#[derive(Clone, Copy)]
struct Fmt {
    gs: u32,
    ias: u32,
    sl: Option<u32>,
}

const K4: Fmt = Fmt {
    gs: 12,
    ias: 48,
    sl: None,
};
const K64: Fmt = Fmt {
    gs: 16,
    ias: 48,
    sl: None,
};
const A32: Fmt = Fmt {
    gs: 12,
    ias: 32,
    sl: None,
};

impl Fmt {
    fn stride(self) -> u32 {
        self.gs - 3
    }
    fn shift(self, l: u32) -> u32 {
        self.gs + self.stride() * (3 - l)
    }
    fn start(self) -> u32 {
        self.sl
            .unwrap_or(4 - (self.ias - self.gs).div_ceil(self.stride()))
    }
    fn index(self, l: u32, iova: u64) -> u64 {
        let bits = if l == self.start() {
            self.ias - self.shift(l)
        } else {
            self.stride()
        };
        (iova >> self.shift(l)) & ((1 << bits) - 1)
    }
}

struct Rig {
    hw: Smmuv2,
    mmio: ModelMmio<Smmuv2>,
    v: Variant,
    window: Window,
    tables: Cell<u64>,
    data: Cell<u64>,
    _ram: HostRam,
}

fn rig_with(v: Variant, k: Knobs) -> Rig {
    let ram = HostRam::new(8 << 20);
    let window = Window {
        bus: BUS,
        host: ram.range().base.as_u64(),
    };
    let hw = Smmuv2::with_window(v, k, window);
    Rig {
        mmio: hw.mmio(),
        hw,
        v,
        window,
        tables: Cell::new(BUS),
        data: Cell::new(DATA),
        _ram: ram,
    }
}

fn rig() -> Rig {
    rig_with(MMU500, Knobs::default())
}

impl Rig {
    // ---- memory ----

    fn mem(&self, bus: u64) -> u64 {
        host_ram::read_u64(self.window.host(bus))
    }

    fn set(&self, bus: u64, v: u64) {
        host_ram::write_u64(self.window.host(bus), v);
    }

    /// A zeroed table of one granule (64 KiB aligned, good for every
    /// granule).
    fn table(&self) -> u64 {
        let t = self.tables.get();
        self.tables.set(t + 0x1_0000);
        t
    }

    /// A data page of 64 KiB.
    fn page(&self) -> u64 {
        let p = self.data.get();
        self.data.set(p + 0x1_0000);
        p
    }

    fn bytes(&self, bus: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        host_ram::read_bytes(self.window.host(bus), &mut b);
        b
    }

    /// Maps one last-level page of `f` at `iova` to `pa` with `attrs`,
    /// creating tables on the way (hand-written descriptors: 0b11 table,
    /// 0b11 page at level 3).
    fn map(&self, root: u64, f: Fmt, iova: u64, pa: u64, attrs: u64) {
        let slot = self.slot(root, f, iova, true);
        self.set(slot, pa | attrs | 0b11);
    }

    /// The level-3 descriptor's address for `iova` (tables created when
    /// `create`).
    fn slot(&self, root: u64, f: Fmt, iova: u64, create: bool) -> u64 {
        let mut table = root;
        for l in f.start()..3 {
            let at = table + 8 * f.index(l, iova);
            let d = self.mem(at);
            table = if d & 3 == 3 {
                d & 0x0000_ffff_ffff_f000 & !((1 << f.gs) - 1)
            } else {
                assert!(create, "no table at level {l} for {iova:#x}");
                let t = self.table();
                self.set(at, t | 0b11);
                t
            };
        }
        table + 8 * f.index(3, iova)
    }

    fn unmap(&self, root: u64, f: Fmt, iova: u64) {
        let s = self.slot(root, f, iova, false);
        self.set(s, 0);
    }

    // ---- registers ----

    fn r0(&self, o: usize) -> u32 {
        self.mmio.read32(o)
    }

    fn w0(&self, o: usize, v: u32) {
        self.mmio.write32(o, v);
    }

    fn r1(&self, o: usize) -> u32 {
        self.mmio.read32(self.v.page_size() + o)
    }

    fn w1(&self, o: usize, v: u32) {
        self.mmio.write32(self.v.page_size() + o, v);
    }

    fn rcb(&self, n: usize, o: usize) -> u32 {
        self.mmio.read32(self.v.cb_base(n) + o)
    }

    fn wcb(&self, n: usize, o: usize, v: u32) {
        self.mmio.write32(self.v.cb_base(n) + o, v);
    }

    fn rcb64(&self, n: usize, o: usize) -> u64 {
        self.mmio.read64(self.v.cb_base(n) + o)
    }

    fn wcb64(&self, n: usize, o: usize, v: u64) {
        self.mmio.write64(self.v.cb_base(n) + o, v);
    }

    /// A stage-1 AArch64 bank (IHI §16.5): CBAR TYPE 1 with `vmid`,
    /// CBA2R.VA64, TCR2.PASize 48 bits, TCR T0SZ 16 with TG0 `tg0` and
    /// EPD1, TTBR0 = ASID | root, MAIR0, then SCTLR M | AFE | CFRE | CFIE.
    fn s1(&self, n: usize, vmid: u32, asid: u16, root: u64, tg0: u32) {
        self.w1(
            gr1::CBAR0 + 4 * n,
            cbar::TYPE_S1_BYPASS << cbar::TYPE_SHIFT | vmid,
        );
        self.w1(gr1::CBA2R0 + 4 * n, cba2r::VA64);
        self.wcb(n, cbr::TCR2, 5);
        self.wcb(n, cbr::TCR, 16 | tg0 << tcr::TG0_SHIFT | tcr::EPD1);
        self.wcb64(n, cbr::TTBR0, u64::from(asid) << 48 | root);
        self.wcb(n, cbr::MAIR0, MAIR0);
        self.wcb(
            n,
            cbr::SCTLR,
            sctlr::M | sctlr::AFE | sctlr::CFRE | sctlr::CFIE,
        );
    }

    /// S2CR `i` translates through bank `n`, then SMR `i` = ID/MASK valid.
    fn stream(&self, i: usize, id: u32, mask: u32, n: u32) {
        self.w0(gr0::S2CR0 + 4 * i, n);
        self.w0(gr0::SMR0 + 4 * i, smr::VALID | mask << smr::MASK_SHIFT | id);
    }

    /// CLIENTPD = 0, unmatched streams fault, global faults reported.
    fn enable(&self) {
        self.w0(gr0::SCR0, scr0::GFRE | scr0::GFIE | scr0::USFCFG);
    }

    /// The bus address `stream`'s access reaches (None: stopped).
    fn go(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        self.hw
            .translate(stream, iova, write)
            .map(|h| self.window.bus(h))
    }

    fn dma_write(&self, stream: u32, iova: u64, data: &[u8]) -> bool {
        let mut m = self.hw.master(stream, "dev");
        m.write(Iova(iova), data, Duration::from_millis(1)).is_ok()
    }

    /// TLBIVA in bank `n`: ASID in [63:48], VA[55:12] in [43:0].
    fn tlbiva(&self, n: usize, iova: u64, asid: u16) {
        self.wcb64(n, cbr::TLBIVA, u64::from(asid) << 48 | iova >> 12);
    }

    /// TLBSYNC, then TLBSTATUS until SACTIVE clears; the reads that saw it
    /// set.
    fn sync(&self, n: usize) -> u32 {
        self.wcb(n, cbr::TLBSYNC, 1);
        (0..100)
            .take_while(|_| self.rcb(n, cbr::TLBSTATUS) & 1 != 0)
            .count() as u32
    }

    /// sTLBGSYNC, then sTLBGSTATUS until GSACTIVE clears.
    fn gsync(&self) -> u32 {
        self.w0(gr0::STLBGSYNC, 1);
        (0..100)
            .take_while(|_| self.r0(gr0::STLBGSTATUS) & 1 != 0)
            .count() as u32
    }

    fn misuse(&self) -> Vec<Misuse> {
        self.hw.model().misuse.clone()
    }

    fn faults(&self) -> Vec<FaultEvent> {
        self.hw.model().faults.clone()
    }

    /// A 4K AArch64 bank 0 with ASID `asid`, VMID 3, one stream 0x40
    /// through it, the SMMU on, and `iova` mapped to a fresh page.
    fn basic(&self, asid: u16, iova: u64) -> (u64, u64) {
        let root = self.table();
        let pa = self.page();
        self.map(root, K4, iova, pa, PAGE);
        self.s1(0, 3, asid, root, 0);
        self.stream(0, 0x40, 0, 0);
        self.enable();
        (root, pa)
    }
}

const IOVA: u64 = 0x4000_1000;

// ---------------------------------------------------------------------
// ID registers, register space, sCR0
// ---------------------------------------------------------------------

#[test]
fn id_registers_and_the_register_space_follow_the_variant() {
    let r = rig();
    // ZynqMP's ID1 as UG1087 gives it: NUMPAGENDXB 3, NUMSSDNDXB 15,
    // NUMCB 16.  ID0: NUMSMRG 48, NUMSIDB 15, ATOSNS, SMS, S1/S2/NTS, SES.
    assert_eq!(r.r0(gr0::ID1), 0x3000_0f10);
    assert_eq!(r.r0(gr0::ID0), 0xfc01_3e30);
    assert_eq!(r.r0(gr0::ID0) & 0xff, 48);
    assert_ne!(r.r0(gr0::ID0) & 1 << 26, 0, "MMU-500: no ATOS");
    assert_eq!(r.r0(gr0::ID2), 0x5555, "48-bit IAS/OAS, UBS 5, 4K + 64K");
    assert_eq!(r.r0(gr0::ID7), 0x21);
    // NUMPAGE = 2^(3 + 1) = 16 pages: bank 3 at page 19.
    assert_eq!(MMU500.cb_base(3), 19 * 0x1000);
    assert_eq!(MMU500.size(), 32 * 0x1000);
    r.wcb(3, cbr::TCR, 0x1234);
    assert_eq!(r.mmio.read32(19 * 0x1000 + 0x30), 0x1234);
    assert_eq!(r.rcb(2, cbr::TCR), 0);
    // Pages 2..16 are IMPLEMENTATION DEFINED (nothing here), and pages
    // past the last bank are nothing.
    assert_eq!(r.mmio.read32(2 * 0x1000), 0);
    assert_eq!(r.mmio.read32(MMU500.cb_base(16)), 0);
    assert_eq!(
        r.misuse(),
        [
            Misuse::Unmapped { off: 0x2000 },
            Misuse::Unmapped {
                off: MMU500.cb_base(16)
            }
        ]
    );

    let q = rig_with(QCOM_SDM845, Knobs::default());
    assert_eq!(q.r0(gr0::ID1) & 0xff, 64);
    assert_eq!((q.r0(gr0::ID1) >> 28) & 7, 5);
    assert_eq!(q.r0(gr0::ID0) & 0xff, 96);
    assert_eq!(QCOM_SDM845.size(), 0x8_0000, "SDM845's 512 KiB space");
    assert_eq!(QCOM_SDM845.cb_base(0), 64 * 0x1000);

    let a = rig_with(MMU500.with_atos().with_exids(), Knobs::default());
    assert_eq!(a.r0(gr0::ID0) & 1 << 26, 0, "ATOSNS = 0: ATOS exists");
    assert_ne!(a.r0(gr0::ID0) & 1 << 8, 0, "EXIDS");
    // 64 KiB pages: GR1 at 64 KiB.
    let big = Variant {
        page_64k: true,
        ..MMU500
    };
    assert_eq!(big.cb_base(0), 16 * 0x1_0000);
    let b = rig_with(big, Knobs::default());
    assert_ne!(b.r0(gr0::ID1) & 1 << 31, 0);
    b.mmio.write32(0x1_0000 + gr1::CBAR0 + 4, 0x0001_0007);
    assert_eq!(b.mmio.read32(0x1_0000 + gr1::CBAR0 + 4), 0x0001_0007);
}

#[test]
fn scr0_resets_bypassing_and_keeps_its_read_only_bits() {
    let r = rig();
    // MMU-500 reset: CLIENTPD and SMCFCFG (Intel's map: 0x00200001).
    assert_eq!(r.r0(gr0::SCR0), 0x0020_0001);
    // CLIENTPD = 1: every stream bypasses, matched or not.
    assert_eq!(r.go(0x1234, 0x8000_2000, true), Some(0x8000_2000));
    // GCFGFRE, GCFGFIE, STALLD, GSE read 0 on MMU-500; SMCFCFG reads 1;
    // EXIDENABLE and VMID16EN only exist with EXIDS / VMID16S.
    r.w0(gr0::SCR0, !scr0::CLIENTPD);
    let v = r.r0(gr0::SCR0);
    for bit in [
        scr0::GCFGFRE,
        scr0::GCFGFIE,
        scr0::STALLD,
        scr0::GSE,
        scr0::EXIDENABLE,
        scr0::VMID16EN,
        scr0::CLIENTPD,
    ] {
        assert_eq!(v & bit, 0, "{bit:#x}");
    }
    r.w0(gr0::SCR0, 0);
    assert_eq!(r.r0(gr0::SCR0), scr0::SMCFCFG);
}

// ---------------------------------------------------------------------
// Stream matching and global faults
// ---------------------------------------------------------------------

#[test]
fn unmatched_streams_fault_with_usfcfg_and_bypass_without() {
    let r = rig();
    r.enable();
    assert_eq!(r.go(0x77, 0x8000_3008, true), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::USF);
    assert_eq!(r.mmio.read64(gr0::SGFAR), 0x8000_3008);
    assert_eq!(r.r0(gr0::SGFSYNR1), 0x77);
    assert_eq!(
        r.r0(gr0::SGFSYNR0),
        sgfsynr0::WNR | sgfsynr0::NSSTATE,
        "a write by an unprivileged Non-secure client"
    );
    assert!(r.hw.model().global_irq());
    // A second fault only sets MULTI; the record stays the first one's.
    assert_eq!(r.go(0x78, 0x8000_4000, false), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::USF | sgfsr::MULTI);
    assert_eq!(r.r0(gr0::SGFSYNR1), 0x77);
    assert!(r.faults()[1].lost);
    // Write 1 to clear (IHI §9.6.15).
    r.w0(gr0::SGFSR, sgfsr::USF | sgfsr::MULTI);
    assert_eq!(r.r0(gr0::SGFSR), 0);
    assert!(!r.hw.model().global_irq());
    // USFCFG = 0: unmatched streams bypass.
    r.w0(gr0::SCR0, scr0::GFRE);
    assert_eq!(r.go(0x77, 0x8000_3008, true), Some(0x8000_3008));
    assert!(r.dma_write(0x77, BUS + 0x10, b"ok"));
    assert_eq!(r.bytes(BUS + 0x10, 2), b"ok");
}

#[test]
fn a_stream_two_smrs_match_raises_smcf_and_the_conflict_is_recorded() {
    let r = rig();
    let (_, pa) = r.basic(5, IOVA);
    // SMR 1: ID 0x40 MASK 0xF overlaps SMR 0 (ID 0x40 MASK 0).
    r.stream(1, 0x40, 0xf, 0);
    assert_eq!(r.misuse(), [Misuse::SmrConflict { index: 1, with: 0 }]);
    assert_eq!(r.go(0x40, IOVA, false), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::SMCF);
    assert_eq!(r.r0(gr0::SGFSYNR1), 0x40);
    // 0x41 matches SMR 1 only.
    assert_eq!(r.go(0x41, IOVA, false), Some(pa));
    // Making SMR 1 invalid removes the conflict.
    r.w0(gr0::SMR0 + 4, 0);
    r.w0(gr0::SGFSR, sgfsr::SMCF);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
}

#[test]
fn smr_mask_bits_are_dont_care_and_an_inverted_mask_matches_the_wrong_streams() {
    let r = rig();
    let (_, pa) = r.basic(5, IOVA);
    // SMR 2: ID 0x100, MASK 0x3 → 0x100..=0x103.
    r.stream(2, 0x100, 0x3, 0);
    for s in 0x100..=0x103 {
        assert_eq!(r.go(s, IOVA, false), Some(pa), "{s:#x}");
    }
    assert_eq!(r.go(0x104, IOVA, false), None);
    r.w0(gr0::SGFSR, 0xffff_ffff);
    // The inverse of that mask: 0x101 no longer matches, 0x4100 does.
    r.w0(
        gr0::SMR0 + 8,
        smr::VALID | (!0x3 & 0x7fff) << smr::MASK_SHIFT | 0x100,
    );
    assert_eq!(r.go(0x101, IOVA, false), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::USF);
    assert_eq!(r.go(0x4100, IOVA, false), Some(pa));
    // Only NUMSIDB (15) bits of ID and MASK exist: bit 15 reads 0.
    r.w0(gr0::SMR0 + 12, 0xffff_ffff);
    assert_eq!(r.r0(gr0::SMR0 + 12), 0xffff_7fff);
}

#[test]
fn s2cr_types_bypass_fault_and_translate_through_a_missing_bank() {
    let r = rig();
    r.enable();
    let sid = |i: u32| 0x200 + i;
    r.w0(gr0::S2CR0, s2cr::TYPE_BYPASS << s2cr::TYPE_SHIFT);
    r.w0(gr0::SMR0, smr::VALID | sid(0));
    r.w0(gr0::S2CR0 + 4, s2cr::RESET); // TYPE = fault
    r.w0(gr0::SMR0 + 4, smr::VALID | sid(1));
    r.w0(gr0::S2CR0 + 8, 16); // translate through bank 16 of 16
    r.w0(gr0::SMR0 + 8, smr::VALID | sid(2));
    assert_eq!(r.go(sid(0), 0x8000_5000, true), Some(0x8000_5000));
    assert_eq!(r.go(sid(1), 0x8000_5000, true), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::ICF);
    r.w0(gr0::SGFSR, sgfsr::ICF);
    assert_eq!(r.go(sid(2), 0x8000_5000, true), None);
    assert_eq!(r.r0(gr0::SGFSR), sgfsr::UCBF);
    // The reset S2CR is TYPE = fault.
    assert_eq!(r.r0(gr0::S2CR0 + 12), 0x0002_0000);
}

#[test]
fn extended_stream_ids_take_the_valid_bit_from_s2cr() {
    let r = rig_with(MMU500.with_exids(), Knobs::default());
    let root = r.table();
    let pa = r.page();
    r.map(root, K4, IOVA, pa, PAGE);
    r.s1(0, 1, 2, root, 0);
    r.w0(gr0::SCR0, scr0::USFCFG | scr0::EXIDENABLE);
    // 16-bit ID 0x8001, MASK 0 ([31:16]); valid only with S2CR.EXIDVALID.
    r.w0(gr0::SMR0, 0x8001);
    r.w0(gr0::S2CR0, 0);
    assert_eq!(r.go(0x8001, IOVA, false), None, "EXIDVALID clear");
    r.w0(gr0::SGFSR, 0xffff_ffff);
    r.w0(gr0::S2CR0, s2cr::EXIDVALID);
    assert_eq!(r.go(0x8001, IOVA, false), Some(pa));
    assert_eq!(r.go(0x0001, IOVA, false), None, "bit 15 of the ID counts");
    // Bit 31 is a MASK bit now: MASK 0x8000 matches 0x0001 too.
    r.w0(gr0::SMR0, 0x8000_8001);
    assert_eq!(r.go(0x0001, IOVA, false), Some(pa));
}

// ---------------------------------------------------------------------
// Translation
// ---------------------------------------------------------------------

#[test]
fn translates_with_the_4k_granule_through_hand_built_tables() {
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    assert!(r.dma_write(0x40, IOVA + 0x10, b"through the SMMU"));
    assert_eq!(r.bytes(pa + 0x10, 16), b"through the SMMU");
    assert_eq!(r.go(0x40, IOVA + 0xabc, false), Some(pa + 0xabc));
    // The entry is tagged VMID 3, ASID 5, non-global, 4 KiB at level 3.
    let e = r.hw.model().tlb_entries()[0];
    assert_eq!(
        (e.vmid, e.asid, e.global, e.va, e.span, e.level, e.root),
        (3, 5, false, IOVA, 0x1000, 3, root)
    );
    assert_eq!(e.mattr, 0xff, "AttrIndx 1 of MAIR0");
    // A neighbour page is not mapped: translation fault at level 3.
    assert_eq!(r.go(0x40, IOVA + 0x2000, false), None);
    assert_eq!(r.rcb(0, cbr::FSR), fsr::TF | 2 << fsr::FORMAT_SHIFT);
    assert!(r.hw.model().misuse.is_empty());
}

#[test]
fn translates_with_the_64k_granule() {
    let r = rig();
    let root = r.table();
    let pa = r.page();
    let iova = 0x12_3456_0000;
    r.map(root, K64, iova, pa, PAGE);
    r.s1(0, 3, 5, root, 1); // TG0 = 1: 64 KiB
    r.stream(0, 0x40, 0, 0);
    r.enable();
    assert_eq!(r.go(0x40, iova + 0x8123, true), Some(pa + 0x8123));
    let e = r.hw.model().tlb_entries()[0];
    assert_eq!((e.span, e.level), (0x1_0000, 3));
    // With the 4K granule the same tables mean something else.
    r.wcb(0, cbr::TCR, 16 | tcr::EPD1);
    r.wcb(0, cbr::TLBIALL, 1);
    r.sync(0);
    assert_ne!(r.go(0x40, iova + 0x8123, true), Some(pa + 0x8123));
}

#[test]
fn translates_aarch32_lpae_banks() {
    let r = rig();
    let root = r.table();
    let pa = r.page();
    let iova = 0x1234_5000;
    r.map(root, A32, iova, pa, PAGE);
    // VA64 = 0, TCR.EAE = 1, T0SZ = T1SZ = 0: TTBR0 covers 4 GiB, 4K,
    // start level 1; ASID in TTBR0[55:48].
    r.w1(gr1::CBAR0, cbar::TYPE_S1_BYPASS << cbar::TYPE_SHIFT | 7);
    r.w1(gr1::CBA2R0, 0);
    r.wcb(0, cbr::TCR, tcr::EAE);
    r.wcb64(0, cbr::TTBR0, 9 << 48 | root);
    r.wcb(0, cbr::MAIR0, MAIR0);
    r.wcb(0, cbr::SCTLR, sctlr::M | sctlr::CFRE);
    r.stream(0, 0x40, 0, 0);
    r.enable();
    assert_eq!(r.go(0x40, iova + 0x44, false), Some(pa + 0x44));
    let e = r.hw.model().tlb_entries()[0];
    assert_eq!((e.vmid, e.asid), (7, 9));
    // TLBIVA in the AArch32 form: VA[31:12] | ASID[7:0].
    r.unmap(root, A32, iova);
    r.wcb(0, cbr::TLBIVA, (iova as u32) | 9);
    r.sync(0);
    assert_eq!(r.go(0x40, iova, false), None);
    assert_eq!(
        r.rcb(0, cbr::FSR),
        fsr::TF | 1 << fsr::FORMAT_SHIFT,
        "FORMAT 1: AArch32 long descriptor"
    );
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
}

#[test]
fn context_faults_record_fsr_far_fsynr0_and_the_stream() {
    // Without the prefetcher: it would cache the next pages' faults.
    let r = rig_with(
        MMU500,
        Knobs {
            prefetch: false,
            ..Knobs::default()
        },
    );
    let (root, pa) = r.basic(5, IOVA);
    r.stream(1, 0x99, 0, 0);
    // A write to an unmapped page in a mapped table: TF at level 3.
    assert!(!r.dma_write(0x99, IOVA + 0x1008, b"x"));
    assert_eq!(r.rcb(0, cbr::FSR), fsr::TF | 2 << fsr::FORMAT_SHIFT);
    assert_eq!(r.rcb64(0, cbr::FAR), IOVA + 0x1008);
    assert_eq!(r.rcb(0, cbr::FSYNR0), 3 | fsynr0::WNR);
    assert_eq!(r.r1(gr1::CBFRSYNRA0), 0x99, "the faulting stream");
    assert!(r.hw.model().context_irq(0));
    // Another fault: MULTI only.
    assert_eq!(r.go(0x40, 0x7000_0000, false), None);
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::MULTI, fsr::MULTI);
    assert_eq!(r.rcb64(0, cbr::FAR), IOVA + 0x1008);
    assert_eq!(r.r1(gr1::CBFRSYNRA0), 0x99);
    // Write 1 to clear.
    let v = r.rcb(0, cbr::FSR);
    r.wcb(0, cbr::FSR, v);
    assert_eq!(r.rcb(0, cbr::FSR), 0);
    assert!(!r.hw.model().context_irq(0));
    // Read-only page written: permission fault at level 3.
    let ro = IOVA + 0x3000;
    r.map(root, K4, ro, pa, PAGE | RO);
    assert_eq!(r.go(0x40, ro, false), Some(pa));
    assert_eq!(r.go(0x40, ro, true), None);
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::FAULTS, fsr::PF);
    assert_eq!(r.rcb(0, cbr::FSYNR0) & 3, 3);
    r.wcb(0, cbr::FSR, 0xffff_ffff);
    // A privileged-only page (AP[1] = 0) refuses the unprivileged client
    // unless S2CR.PRIVCFG forces privileged (3).
    let kp = IOVA + 0x4000;
    r.map(root, K4, kp, pa, PAGE & !AP1);
    assert_eq!(r.go(0x40, kp, false), None);
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::FAULTS, fsr::PF);
    r.wcb(0, cbr::FSR, 0xffff_ffff);
    r.w0(gr0::S2CR0, 3 << s2cr::PRIVCFG_SHIFT);
    assert_eq!(r.go(0x40, kp, false), Some(pa));
    // AF = 0 faults (access flag fault) unless SCTLR.AFFD.
    let noaf = IOVA + 0x5000;
    r.map(root, K4, noaf, pa, PAGE & !0x400);
    assert_eq!(r.go(0x40, noaf, false), None);
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::FAULTS, fsr::AFF);
    // A stall-mode bank sets FSR.SS; RESUME ends it.
    r.wcb(0, cbr::FSR, 0xffff_ffff);
    r.wcb(0, cbr::SCTLR, r.rcb(0, cbr::SCTLR) | sctlr::CFCFG);
    assert_eq!(r.go(0x40, 0x7000_0000, false), None);
    assert_ne!(r.rcb(0, cbr::FSR) & fsr::SS, 0);
    r.wcb(0, cbr::RESUME, 1);
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::SS, 0);
}

// ---------------------------------------------------------------------
// TLB maintenance
// ---------------------------------------------------------------------

#[test]
fn an_invalidation_takes_effect_only_when_its_sync_completes() {
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    assert_eq!(r.go(0x40, IOVA, true), Some(pa));
    r.unmap(root, K4, IOVA);
    assert_eq!(r.go(0x40, IOVA, true), Some(pa), "cached: no TLBI yet");
    r.tlbiva(0, IOVA, 5);
    assert_eq!(r.go(0x40, IOVA, true), Some(pa), "accepted, not synced");
    assert_eq!(r.hw.model().unsynced().len(), 1);
    r.wcb(0, cbr::TLBSYNC, 1);
    assert_eq!(r.rcb(0, cbr::TLBSTATUS), 1);
    assert_eq!(r.go(0x40, IOVA, true), Some(pa), "sync still active");
    assert_eq!(r.rcb(0, cbr::TLBSTATUS), 1);
    assert_eq!(r.rcb(0, cbr::TLBSTATUS), 0, "busy for busy_polls reads");
    assert_eq!(r.go(0x40, IOVA, true), None, "gone after the sync");

    // Without the sync, nothing ever removes it, even given time.
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.unmap(root, K4, IOVA);
    r.tlbiva(0, IOVA, 5);
    r.hw.model_mut().settle();
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    // A sync in another bank does not cover it either.
    assert_eq!(r.sync(1), 2);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    // The global sync covers bank operations too.
    assert_eq!(r.gsync(), 2);
    assert_eq!(r.go(0x40, IOVA, false), None);
}

#[test]
fn tlbiva_without_the_asid_in_its_operand_misses_the_entry() {
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.unmap(root, K4, IOVA);
    // VA only: ASID 0 in [63:48].
    r.wcb64(0, cbr::TLBIVA, IOVA >> 12);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa), "ASID 0 missed ASID 5");
    // The same address as a 32-bit write: the high word (ASID) is zero.
    r.wcb(0, cbr::TLBIVA, (IOVA >> 12) as u32);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.tlbiva(0, IOVA, 5);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA, false), None);

    // A global entry (nG = 0) is hit whatever the ASID; TLBIVAA hits
    // every ASID.
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    r.map(root, K4, IOVA + 0x1000, pa, PAGE & !NG);
    assert_eq!(r.go(0x40, IOVA + 0x1000, false), Some(pa));
    assert!(r.hw.model().tlb_entries().iter().any(|e| e.global));
    r.unmap(root, K4, IOVA + 0x1000);
    r.tlbiva(0, IOVA + 0x1000, 0x77);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA + 0x1000, false), None);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.unmap(root, K4, IOVA);
    r.wcb64(0, cbr::TLBIVAA, IOVA >> 12);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA, false), None);
}

#[test]
fn the_tlb_is_tagged_by_vmid_and_asid_not_by_bank() {
    let r = rig();
    let (_, pa) = r.basic(5, IOVA);
    // Bank 1: same VMID 3 and ASID 5, other tables mapping IOVA elsewhere.
    let root1 = r.table();
    let pa1 = r.page();
    r.map(root1, K4, IOVA, pa1, PAGE);
    r.s1(1, 3, 5, root1, 0);
    r.stream(1, 0x41, 0, 1);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    // Bank 1's stream hits bank 0's entry (IHI: banks with equal ASID and
    // VMID may use each other's entries).
    assert_eq!(r.go(0x41, IOVA, false), Some(pa));
    assert!(matches!(r.misuse()[..], [Misuse::AsidReuse { cb: 1, .. }]));
    // With its own ASID, bank 1 walks its own tables.
    r.wcb(1, cbr::SCTLR, 0);
    r.wcb64(1, cbr::TTBR0, 6 << 48 | root1);
    r.wcb(1, cbr::SCTLR, sctlr::M);
    assert_eq!(r.go(0x41, IOVA, false), Some(pa1));
    // Bank 1's TLBIALL removes every VMID 3 entry, bank 0's included.
    r.wcb(1, cbr::TLBIALL, 1);
    r.sync(1);
    assert!(r.hw.model().tlb_entries().is_empty());
    // Another VMID is not hit.
    r.s1(2, 4, 5, root1, 0);
    r.stream(2, 0x42, 0, 2);
    assert_eq!(r.go(0x42, IOVA, false), Some(pa1));
    r.wcb(1, cbr::TLBIALL, 1);
    r.sync(1);
    let left = r.hw.model().tlb_entries();
    assert!(
        !left.is_empty() && left.iter().all(|e| e.vmid == 4),
        "{left:?}"
    );
}

#[test]
fn tlbiasid_leaves_global_entries_and_other_asids() {
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    r.map(root, K4, IOVA + 0x1000, pa, PAGE & !NG);
    r.go(0x40, IOVA, false);
    r.go(0x40, IOVA + 0x1000, false);
    // IOVA's entry, and IOVA + 4K's (global) the prefetcher loaded.
    assert_eq!(r.hw.model().tlb_entries().len(), 2);
    r.wcb(0, cbr::TLBIASID, 5);
    r.sync(0);
    let left = r.hw.model().tlb_entries();
    assert!(left.iter().all(|e| e.global), "{left:?}");
    assert!(!left.is_empty());
    assert!(
        r.hw.model().walk_entries().is_empty(),
        "ASID's walk entries go"
    );
}

#[test]
fn tlbival_leaves_the_walk_cache_so_a_freed_table_reused_is_walked_stale() {
    // Map IOVA through level-3 table T1, translate (the walk cache keeps
    // T1 for IOVA's 2 MiB), then free T1: clear the level-2 entry, TLBIVAL
    // + sync.  T1's memory is reused (here: as another level-3 table whose
    // slot for IOVA maps `other`), and IOVA is mapped again through a new
    // table T2.  After TLBIVAL only, the walk starts from the cached T1.
    let run = |leaf_only: bool| -> (u64, u64, u64, Option<u64>) {
        let r = rig();
        let (root, pa) = r.basic(5, IOVA);
        assert_eq!(r.go(0x40, IOVA, false), Some(pa));
        let t1 = r.slot(root, K4, IOVA, false) & !0xfff;
        assert!(r
            .hw
            .model()
            .walk_entries()
            .iter()
            .any(|w| w.table == t1 && w.level == 3));
        // Free T1.
        let l2_slot = {
            let l1 = r.mem(root) & 0x0000_ffff_ffff_f000;
            let l2 = r.mem(l1 + 8 * ((IOVA >> 30) & 0x1ff)) & 0x0000_ffff_ffff_f000;
            l2 + 8 * ((IOVA >> 21) & 0x1ff)
        };
        r.set(l2_slot, 0);
        r.set(t1 + 8 * ((IOVA >> 12) & 0x1ff), 0);
        let op = if leaf_only { cbr::TLBIVAL } else { cbr::TLBIVA };
        r.wcb64(0, op, 5 << 48 | IOVA >> 12);
        r.sync(0);
        // Reuse T1; map IOVA again through a new table.
        let other = r.page();
        r.set(t1 + 8 * ((IOVA >> 12) & 0x1ff), other | PAGE | 0b11);
        let pa2 = r.page();
        r.map(root, K4, IOVA, pa2, PAGE);
        (pa2, other, t1, r.go(0x40, IOVA, false))
    };
    let (pa2, other, _, got) = run(true);
    assert_eq!(got, Some(other), "TLBIVAL: the walk went through freed T1");
    let (pa2b, _, _, got) = run(false);
    assert_eq!(got, Some(pa2b), "TLBIVA: a fresh walk");
    assert_ne!(pa2, other);
}

#[test]
fn global_operations_need_the_global_sync() {
    let r = rig();
    let (root, pa) = r.basic(5, IOVA);
    r.go(0x40, IOVA, false);
    r.unmap(root, K4, IOVA);
    r.w0(gr0::TLBIALLNSNH, 0xffff_ffff);
    r.sync(0);
    assert_eq!(
        r.go(0x40, IOVA, false),
        Some(pa),
        "a bank sync does not cover it"
    );
    r.w0(gr0::STLBGSYNC, 1);
    assert_eq!(r.r0(gr0::STLBGSTATUS), 1);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    assert_eq!(r.r0(gr0::STLBGSTATUS), 1);
    assert_eq!(r.r0(gr0::STLBGSTATUS), 0);
    assert_eq!(r.go(0x40, IOVA, false), None);
    // TLBIVMID: the bank's VMID (3), stage-1 entries included.
    r.map(root, K4, IOVA, pa, PAGE);
    r.w0(gr0::SGFSR, 0xffff_ffff);
    r.wcb(0, cbr::FSR, 0xffff_ffff);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.unmap(root, K4, IOVA);
    r.w0(gr0::TLBIVMID, 4);
    r.gsync();
    assert_eq!(r.go(0x40, IOVA, false), Some(pa), "other VMID");
    r.w0(gr0::TLBIVMID, 3);
    r.gsync();
    assert_eq!(r.go(0x40, IOVA, false), None);
}

#[test]
fn knobs_apply_at_write_and_wedge_the_sync() {
    let r = rig_with(
        MMU500,
        Knobs {
            invalidate_at_sync: false,
            ..Knobs::default()
        },
    );
    let (root, pa) = r.basic(5, IOVA);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    r.unmap(root, K4, IOVA);
    r.tlbiva(0, IOVA, 5);
    assert_eq!(r.go(0x40, IOVA, false), None, "applied at the write");

    let r = rig_with(
        MMU500,
        Knobs {
            sync_never_completes: true,
            ..Knobs::default()
        },
    );
    let (root, pa) = r.basic(5, IOVA);
    r.go(0x40, IOVA, false);
    r.unmap(root, K4, IOVA);
    r.tlbiva(0, IOVA, 5);
    assert_eq!(r.sync(0), 100, "SACTIVE never clears");
    r.hw.model_mut().settle();
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
}

// ---------------------------------------------------------------------
// The MMU-500 prefetcher
// ---------------------------------------------------------------------

#[test]
fn the_prefetcher_caches_an_invalid_next_page_unless_cpre_is_clear() {
    // Map page A; DMA to it (the prefetcher caches A + 4K, invalid); map
    // A + 4K with no invalidation (none is needed for a new mapping).
    let run = |clear_cpre: bool, knob: bool| -> Option<u64> {
        let r = rig_with(
            MMU500,
            Knobs {
                prefetch: knob,
                ..Knobs::default()
            },
        );
        let (root, pa) = r.basic(5, IOVA);
        if clear_cpre {
            // sACR.CACHE_LOCK first (reset 1 makes ACTLR read-only).
            r.w0(gr0::SACR, r.r0(gr0::SACR) & !sacr::CACHE_LOCK);
            r.wcb(0, cbr::ACTLR, actlr::CMTLB);
            assert_eq!(r.rcb(0, cbr::ACTLR), actlr::CMTLB);
        }
        assert_eq!(r.go(0x40, IOVA, false), Some(pa));
        r.map(root, K4, IOVA + 0x1000, pa + 0x1000, PAGE);
        r.go(0x40, IOVA + 0x1000, false)
    };
    assert_eq!(run(false, true), None, "prefetched invalid entry hit");
    let r = rig();
    let (_, pa) = r.basic(5, IOVA);
    r.go(0x40, IOVA, false);
    let pf: Vec<_> =
        r.hw.model()
            .tlb_entries()
            .into_iter()
            .filter(|e| e.prefetched)
            .collect();
    assert_eq!(pf.len(), 1);
    assert!(!pf[0].valid && pf[0].va == IOVA + 0x1000);
    let _ = pa;
    assert!(run(true, true).is_some(), "CPRE clear: no prefetch");
    assert!(run(false, false).is_some(), "the model's prefetcher off");
}

#[test]
fn cache_lock_makes_actlr_read_only() {
    let r = rig();
    assert_eq!(r.rcb(0, cbr::ACTLR), 0x3, "UG1087 reset value");
    assert_ne!(r.r0(gr0::SACR) & sacr::CACHE_LOCK, 0);
    r.wcb(0, cbr::ACTLR, 0);
    assert_eq!(r.rcb(0, cbr::ACTLR), 0x3);
    assert_eq!(
        r.hw.model().refusals,
        [Refusal::ActlrLocked { cb: 0, value: 0 }]
    );
    assert!(r.misuse().is_empty());
    r.w0(gr0::SACR, 0);
    assert_eq!(r.r0(gr0::SACR) & sacr::CACHE_LOCK, 0);
    r.wcb(0, cbr::ACTLR, 0);
    assert_eq!(r.rcb(0, cbr::ACTLR), 0);
    // Firmware left the Secure CACHE_LOCK set: still read-only.
    let s = rig_with(
        MMU500,
        Knobs {
            secure_cache_lock: true,
            ..Knobs::default()
        },
    );
    s.w0(gr0::SACR, 0);
    s.wcb(0, cbr::ACTLR, 0);
    assert_eq!(s.rcb(0, cbr::ACTLR), 0x3);
}

// ---------------------------------------------------------------------
// ATOS
// ---------------------------------------------------------------------

#[test]
fn atos_writes_par_for_a_translation_and_for_a_fault() {
    let r = rig_with(MMU500.with_atos(), Knobs::default());
    let (root, pa) = r.basic(5, IOVA);
    r.map(root, K4, IOVA + 0x1000, pa, PAGE | RO);
    r.wcb64(0, cbr::ATS1PR, IOVA + 0x123);
    assert_eq!(r.rcb(0, cbr::ATSR), 1);
    assert_eq!(r.rcb(0, cbr::ATSR), 1);
    assert_eq!(r.rcb(0, cbr::ATSR), 0);
    // F = 0, SH inner (3) at [8:7], PA[47:12], MATTR 0xFF at [63:56].
    assert_eq!(r.rcb64(0, cbr::PAR), pa | 3 << 7 | 0xff << 56);
    // A write to a read-only page: F = 1, PF, FORMAT 2, PLVL 3.
    r.wcb64(0, cbr::ATS1PW, IOVA + 0x1000);
    r.hw.model_mut().settle();
    assert_eq!(
        r.rcb64(0, cbr::PAR),
        par::F | u64::from(fsr::PF) | 2 << par::FORMAT_SHIFT | 3 << par::PLVL_SHIFT
    );
    // The fault is also recorded in FSR with FSYNR0.ATOF.
    assert_eq!(r.rcb(0, cbr::FSR) & fsr::FAULTS, fsr::PF);
    assert_ne!(r.rcb(0, cbr::FSYNR0) & fsynr0::ATOF, 0);
    // Unmapped: TF at level 3.
    r.wcb(0, cbr::FSR, 0xffff_ffff);
    r.wcb64(0, cbr::ATS1UR, IOVA + 0x5000);
    r.hw.model_mut().settle();
    assert_eq!(
        r.rcb64(0, cbr::PAR),
        par::F | u64::from(fsr::TF) | 2 << par::FORMAT_SHIFT | 3 << par::PLVL_SHIFT
    );

    // ATOSNS = 1 (every MMU-500): no such registers.
    let n = rig();
    n.basic(5, IOVA);
    n.wcb64(0, cbr::ATS1PR, IOVA);
    assert_eq!(
        n.misuse(),
        [Misuse::Unmapped {
            off: MMU500.cb_base(0) + cbr::ATS1PR
        }]
    );
}

#[test]
fn atos_may_return_a_stale_translation_from_the_tlb_when_the_knob_says_so() {
    let run = |uses_tlb: bool| -> u64 {
        let r = rig_with(
            MMU500.with_atos(),
            Knobs {
                atos_uses_tlb: uses_tlb,
                busy_polls: 0,
                ..Knobs::default()
            },
        );
        let (root, pa) = r.basic(5, IOVA);
        assert_eq!(r.go(0x40, IOVA, false), Some(pa));
        r.unmap(root, K4, IOVA);
        r.wcb64(0, cbr::ATS1PR, IOVA);
        r.rcb64(0, cbr::PAR)
    };
    let stale = run(true);
    assert_eq!(stale & par::F, 0, "the cached translation");
    assert_eq!(run(false) & par::F, par::F, "a fresh walk: unmapped");
}

// ---------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------

#[test]
fn live_context_writes_and_asid_reuse_without_invalidation_are_recorded() {
    let r = rig();
    let (_, pa) = r.basic(5, IOVA);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    // New tables for the same bank and ASID while it is live.
    let root2 = r.table();
    let pa2 = r.page();
    r.map(root2, K4, IOVA, pa2, PAGE);
    r.wcb64(0, cbr::TTBR0, 5 << 48 | root2);
    assert_eq!(
        r.misuse(),
        [Misuse::LiveContextWrite {
            cb: 0,
            off: MMU500.cb_base(0) + cbr::TTBR0
        }]
    );
    // The old entry is still used (no TLBIASID + sync): recorded.
    assert_eq!(r.go(0x40, IOVA, false), Some(pa));
    assert!(matches!(
        r.misuse()[1],
        Misuse::AsidReuse {
            cb: 0,
            vmid: 3,
            asid: 5,
            ..
        }
    ));
    r.wcb(0, cbr::TLBIASID, 5);
    r.sync(0);
    assert_eq!(r.go(0x40, IOVA, false), Some(pa2));
    // Disabled first (SCTLR.M = 0), the same writes are fine.
    let n = r.misuse().len();
    r.wcb(0, cbr::SCTLR, 0);
    r.wcb64(0, cbr::TTBR0, 6 << 48 | root2);
    assert_eq!(r.misuse().len(), n);
}

#[test]
fn clearing_clientpd_with_a_bank_without_tables_is_recorded() {
    let r = rig();
    r.w1(gr1::CBAR0, cbar::TYPE_S1_BYPASS << cbar::TYPE_SHIFT);
    r.w1(gr1::CBA2R0, cba2r::VA64);
    r.wcb(0, cbr::SCTLR, sctlr::M);
    r.stream(0, 0x40, 0, 0);
    r.stream(1, 0x50, 0, 20);
    r.enable();
    assert_eq!(
        r.misuse(),
        [
            Misuse::UnsafeEnable {
                smr: 0,
                problem: EnableProblem::CbWithoutTables { cb: 0 }
            },
            Misuse::UnsafeEnable {
                smr: 1,
                problem: EnableProblem::MissingCb { cb: 20 }
            }
        ]
    );
}

#[test]
fn register_widths() {
    let r = rig();
    // TTBR0 by 32-bit halves.
    r.wcb(0, cbr::TTBR0, 0x8000_1000);
    r.wcb(0, cbr::TTBR0 + 4, 0x0005_0000);
    assert_eq!(r.rcb64(0, cbr::TTBR0), 0x0005_0000_8000_1000);
    assert_eq!(r.rcb(0, cbr::TTBR0 + 4), 0x0005_0000);
    assert!(r.misuse().is_empty());
    // A 64-bit access to a 32-bit register, and a byte access.
    r.mmio.write64(MMU500.cb_base(0) + cbr::TCR, 0x1);
    r.mmio.read8(gr0::SCR0);
    assert_eq!(
        r.misuse(),
        [
            Misuse::BadWidth {
                off: MMU500.cb_base(0) + cbr::TCR,
                width: Width::W64
            },
            Misuse::BadWidth {
                off: gr0::SCR0,
                width: Width::W8
            }
        ]
    );
}

// ---------------------------------------------------------------------
// Stage 2
// ---------------------------------------------------------------------

#[test]
fn a_stage_2_bank_translates_ipas_with_s2ap_permissions() {
    let r = rig();
    let root = r.table();
    let pa = r.page();
    let ipa = 0x40_0000_0000 - 0x1000 * 3; // inside 39 bits
    let f = Fmt {
        gs: 12,
        ias: 39,
        sl: None,
    };
    // S2AP read only (bit 6), AF, SH inner, MemAttr 0xF.
    r.map(root, f, ipa, pa, 1 << 6 | 0x400 | 0x300 | 0xf << 2);
    r.w1(gr1::CBAR0 + 8, cbar::TYPE_S2 << cbar::TYPE_SHIFT | 9);
    r.w1(gr1::CBA2R0 + 8, cba2r::VA64);
    // T0SZ 25 (39 bits), SL0 1 (start level 1), TG0 4K, PASize 48.
    r.wcb(
        2,
        cbr::TCR,
        25 | 1 << tcr::SL0_SHIFT | 5 << tcr::S2_PASIZE_SHIFT,
    );
    r.wcb64(2, cbr::TTBR0, root);
    r.wcb(2, cbr::SCTLR, sctlr::M | sctlr::CFRE);
    r.stream(0, 0x60, 0, 2);
    r.enable();
    assert_eq!(r.go(0x60, ipa + 8, false), Some(pa + 8));
    assert_eq!(r.go(0x60, ipa, true), None, "S2AP: no write");
    assert_eq!(r.rcb(2, cbr::FSR) & fsr::FAULTS, fsr::PF);
    assert_eq!(r.rcb64(2, cbr::IPAFAR), ipa);
    let e = r.hw.model().tlb_entries()[0];
    assert_eq!((e.stage, e.vmid), (Stage::S2, 9));
    // TLBIIPAS2 ([35:0] = IPA[47:12]) + sync removes it.
    r.unmap(root, f, ipa);
    assert_eq!(r.go(0x60, ipa, false), Some(pa));
    r.wcb64(2, cbr::TLBIIPAS2, ipa >> 12);
    r.sync(2);
    assert_eq!(r.go(0x60, ipa, false), None);
    // SL0 that needs concatenation: not modelled, recorded.
    r.wcb(2, cbr::FSR, 0xffff_ffff);
    r.wcb(2, cbr::SCTLR, 0);
    r.wcb(2, cbr::TCR, 25 | 2 << tcr::SL0_SHIFT);
    r.wcb(2, cbr::SCTLR, sctlr::M);
    assert_eq!(r.go(0x60, ipa, false), None);
    assert!(r.misuse().contains(&Misuse::Unmodelled {
        cb: 2,
        what: Unmodelled::Stage2StartLevel
    }));
}

// ---------------------------------------------------------------------
// Qualcomm
// ---------------------------------------------------------------------

fn qcom() -> Rig {
    rig_with(QCOM_SDM845, Knobs::default())
}

#[test]
fn qcom_s2cr_bypass_reads_back_as_fault_and_faults() {
    let q = qcom();
    q.w0(gr0::S2CR0 + 4 * 10, s2cr::TYPE_BYPASS << s2cr::TYPE_SHIFT);
    assert_eq!(
        (q.r0(gr0::S2CR0 + 4 * 10) >> s2cr::TYPE_SHIFT) & 3,
        s2cr::TYPE_FAULT
    );
    assert_eq!(q.hw.model().refusals, [Refusal::Bypass { index: 10 }]);
    assert!(q.misuse().is_empty(), "probing the quirk is no misuse");
    q.w0(gr0::SMR0 + 4 * 10, smr::VALID | 0x300);
    q.enable();
    assert_eq!(q.go(0x300, 0x8000_1000, false), None);
    assert_eq!(q.r0(gr0::SGFSR), sgfsr::ICF);
    // Arm's part keeps BYPASS.
    let r = rig();
    r.w0(gr0::S2CR0, s2cr::TYPE_BYPASS << s2cr::TYPE_SHIFT);
    assert_eq!(
        (r.r0(gr0::S2CR0) >> s2cr::TYPE_SHIFT) & 3,
        s2cr::TYPE_BYPASS
    );
}

#[test]
fn qcom_drops_zero_stores_to_the_write_anything_registers() {
    let q = qcom();
    let root = q.table();
    let pa = q.page();
    q.map(root, K4, IOVA, pa, PAGE);
    q.s1(4, 3, 5, root, 0);
    q.stream(5, 0x40, 0, 4);
    q.enable();
    assert_eq!(q.go(0x40, IOVA, false), Some(pa));
    q.unmap(root, K4, IOVA);
    q.tlbiva(4, IOVA, 5);
    // TLBSYNC written with 0: dropped; TLBSTATUS reads 0 at once and the
    // invalidation never completes.
    q.wcb(4, cbr::TLBSYNC, 0);
    assert_eq!(q.rcb(4, cbr::TLBSTATUS), 0);
    assert_eq!(q.go(0x40, IOVA, false), Some(pa), "still stale");
    // GR0 ones too.
    q.w0(gr0::STLBGSYNC, 0);
    assert_eq!(q.go(0x40, IOVA, false), Some(pa));
    let base = QCOM_SDM845.cb_base(4);
    assert_eq!(
        q.misuse(),
        [
            Misuse::ZeroStoreDropped {
                off: base + cbr::TLBSYNC
            },
            Misuse::ZeroStoreDropped {
                off: gr0::STLBGSYNC
            }
        ]
    );
    // A non-zero value works.
    assert_eq!(q.sync(4), 2);
    assert_eq!(q.go(0x40, IOVA, false), None);
    q.w0(gr0::TLBIALLNSNH, 0);
    q.wcb(4, cbr::TLBIALL, 0);
    assert_eq!(q.hw.model().unsynced(), []);
}

#[test]
fn qcom_reserved_banks_ignore_writes() {
    let q = qcom();
    let sctlr0 = q.rcb(0, cbr::SCTLR);
    assert_ne!(sctlr0 & sctlr::M, 0, "another owner's bank, in use");
    q.wcb(0, cbr::SCTLR, 0);
    q.wcb64(1, cbr::TTBR0, 0x1234_5000);
    q.w1(gr1::CBAR0, 0);
    assert_eq!(q.rcb(0, cbr::SCTLR), sctlr0);
    assert_eq!(q.rcb64(1, cbr::TTBR0), 0);
    assert_eq!(q.r1(gr1::CBAR0) & 0xff, 0xff);
    assert_eq!(
        q.misuse(),
        [
            Misuse::ReservedCbWrite {
                cb: 0,
                off: QCOM_SDM845.cb_base(0)
            },
            Misuse::ReservedCbWrite {
                cb: 1,
                off: QCOM_SDM845.cb_base(1) + cbr::TTBR0
            },
            Misuse::ReservedCbWrite {
                cb: 0,
                off: 0x1000 + gr1::CBAR0
            }
        ]
    );
    // Bank 2 is the driver's.
    q.wcb(2, cbr::SCTLR, 0);
    assert_eq!(q.rcb(2, cbr::SCTLR), 0);
}

#[test]
fn qcom_boot_display_mapping_is_valid_at_construction() {
    let q = qcom();
    assert_eq!(q.r0(gr0::SMR0), QCOM_BOOT_DISPLAY.smr);
    q.enable();
    // The display's streams (0x880, 0x888) keep scanning out by bypass.
    assert_eq!(q.go(0x888, 0x8000_6000, false), Some(0x8000_6000));
    assert_eq!(q.go(0x880, 0x8000_6000, false), Some(0x8000_6000));
    assert!(q.misuse().is_empty());
    // A driver that wipes it breaks the display.
    q.w0(gr0::SMR0, 0);
    assert_eq!(q.misuse(), [Misuse::BootSmrChanged { index: 0 }]);
    assert_eq!(q.go(0x888, 0x8000_6000, false), None);
    assert_eq!(q.r0(gr0::SGFSR), sgfsr::USF);
}

#[test]
fn qcom_refused_register_writes_do_not_read_back() {
    let q = qcom();
    let before = q.r0(gr0::SACR);
    q.w0(gr0::SACR, before | sacr::SMTNMB_TLBEN | sacr::S2CRB_TLBEN);
    assert_eq!(q.r0(gr0::SACR), before);
    assert_eq!(
        q.hw.model().refusals,
        [Refusal::Register {
            off: gr0::SACR,
            value: before | sacr::SMTNMB_TLBEN | sacr::S2CRB_TLBEN
        }]
    );
    // CACHE_LOCK is clear there, so ACTLR.CPRE can be cleared.
    q.wcb(2, cbr::ACTLR, 0);
    assert_eq!(q.rcb(2, cbr::ACTLR), 0);
    // Arm's part takes the write.
    let r = rig();
    r.w0(gr0::SACR, sacr::SMTNMB_TLBEN);
    assert_eq!(r.r0(gr0::SACR), sacr::SMTNMB_TLBEN);
}

#[test]
fn a_stage_2_start_level_above_t0sz_walks_concatenated_tables() {
    // 40-bit IPA, 4K, SL0 = 1: two concatenated level-1 tables (8 KiB)
    // indexed by IPA[39:30].
    let r = rig();
    let f = Fmt {
        gs: 12,
        ias: 40,
        sl: Some(1),
    };
    let root = r.table();
    let pa = r.page();
    let ipa = 0xc0_1234_5000; // IPA[39] set: the second table
    r.map(root, f, ipa, pa, 3 << 6 | 0x400 | 0xf << 2);
    assert_ne!(r.mem(root + 8 * 0x300) & 3, 0, "entry 768 of the pair");
    r.w1(gr1::CBAR0, cbar::TYPE_S2 << cbar::TYPE_SHIFT | 9);
    r.w1(gr1::CBA2R0, cba2r::VA64);
    r.wcb(
        0,
        cbr::TCR,
        24 | 1 << tcr::SL0_SHIFT | 5 << tcr::S2_PASIZE_SHIFT,
    );
    r.wcb64(0, cbr::TTBR0, root);
    r.wcb(0, cbr::SCTLR, sctlr::M);
    r.stream(0, 0x60, 0, 0);
    r.enable();
    assert_eq!(r.go(0x60, ipa + 4, true), Some(pa + 4));
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
}

#[test]
fn an_smmuv1_stage_2_part_translates_in_the_aarch32_format() {
    // An SMMUv1, stage-2-only shape (MMU-401-like, assembled for the
    // test): no CBA2R, no TCR2, no AArch64 tables, 64 KiB pages.
    let v1 = Variant {
        name: "SMMUv1 stage 2",
        smmuv1: true,
        mmu500: false,
        s1ts: false,
        nts: false,
        page_64k: true,
        granule_4k: false,
        granule_64k: false,
        aarch32: Aarch32::LongOnly,
        ..MMU500
    };
    let r = rig_with(v1, Knobs::default());
    r.w1(gr1::CBA2R0, cba2r::VA64);
    assert_eq!(
        r.misuse(),
        [Misuse::Unmapped {
            off: 0x1_0000 + gr1::CBA2R0
        }]
    );
    // T0SZ = -8 (40-bit IPA), SL0 = 1: concatenated level-1 tables.
    let f = Fmt {
        gs: 12,
        ias: 40,
        sl: Some(1),
    };
    let root = r.table();
    let pa = r.page();
    let ipa = 0x80_0000_3000;
    r.map(root, f, ipa, pa, 3 << 6 | 0x400);
    r.w1(gr1::CBAR0, cbar::TYPE_S2 << cbar::TYPE_SHIFT | 2);
    r.wcb(0, cbr::TCR, tcr::EAE | 0x8 | 1 << tcr::SL0_SHIFT);
    r.wcb64(0, cbr::TTBR0, root);
    r.wcb(0, cbr::SCTLR, sctlr::M | sctlr::CFRE);
    r.stream(0, 0x20, 0, 0);
    r.enable();
    assert_eq!(r.go(0x20, ipa + 0x10, false), Some(pa + 0x10));
    assert_eq!(r.rcb(0, cbr::FSR), 0);
    // TLBIVMID + the global sync remove stage-2 entries of the VMID.
    r.unmap(root, f, ipa);
    r.w0(gr0::TLBIVMID, 2);
    assert_eq!(r.go(0x20, ipa, false), Some(pa), "not synced");
    r.gsync();
    assert_eq!(r.go(0x20, ipa, false), None);
    assert_eq!(
        r.rcb(0, cbr::FSR),
        fsr::TF | 1 << fsr::FORMAT_SHIFT,
        "AArch32 long format"
    );
    // No stage 1 here: a stage-1 bank type is refused and recorded.
    r.w1(gr1::CBAR0 + 4, cbar::TYPE_S1_BYPASS << cbar::TYPE_SHIFT);
    r.wcb(1, cbr::SCTLR, sctlr::M);
    r.stream(1, 0x21, 0, 1);
    assert_eq!(r.go(0x21, 0x1000, false), None);
    assert!(r.misuse().contains(&Misuse::Unmodelled {
        cb: 1,
        what: Unmodelled::CbarType
    }));
}
