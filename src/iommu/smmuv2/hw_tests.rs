//! The SMMUv2 hardware layer against a register-recording fake: the order
//! and values of what the driver writes (reset, stream mapping, context
//! programming, TLB maintenance) and how it meets the Qualcomm behaviour
//! (adopted boot SMRs, the S2CR quirk, refused writes, no zero stores to
//! the write-anything registers), the MMU-500 prefetcher and bounded syncs.
//! The fake is not a model: it stores what is written, answers ID
//! registers, and implements only the few register semantics a test names
//! (write-one-to-clear status, the Qualcomm S2CR rewrite, ignored writes).

use super::adapter::{Smmuv2Iommu, Smmuv2Tag};
use super::context;
use super::hw::{Bank, Group, Smmuv2Error, Smmuv2Hw, FSR_ALL};
use super::probe::{stage2_only_reason, untestable};
use super::regs::*;
use super::variant::{self, Variant};
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::{Iommu, IommuError, StreamId};
use crate::mm::BusAddr;
use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::Cell;

/// ID1: 4 KiB pages, NUMPAGENDXB 3 (16 global pages), 8 context banks.
const ID1: u32 = 0x3000_0008;
/// ID0 of an MMU-500 with 16 groups, 15-bit stream IDs, stage 1 and 2, no
/// ATOS.
const ID0_MMU500: u32 = 0x7c01_3e10;
/// ID2: IAS/OAS/UBS 48 bits, 4K and 64K AArch64 granules.
const ID2: u32 = 0x0000_5555;
/// GR1 page.
const GR1: usize = 0x1000;
/// Context bank n's page.
const fn cb(n: usize) -> usize {
    0x1_0000 + n * 0x1000
}

#[derive(Default)]
struct Fake {
    regs: BTreeMap<usize, u64>,
    log: Vec<(usize, Width, u64)>,
    /// Qualcomm firmware's S2CR quirk: FAULT writes ignored, BYPASS
    /// stored as FAULT.
    quirk: bool,
    /// sCR0 writes ignored (a hypervisor that refuses them).
    refuse_scr0: bool,
    /// TLBSTATUS / sTLBGSTATUS read active forever.
    stuck_sync: bool,
    /// ACTLR writes ignored (ACR.CACHE_LOCK still in force).
    actlr_locked: bool,
}

fn is_s2cr(off: usize) -> bool {
    (0xc00..0x1000).contains(&off)
}

fn is_w1c(off: usize) -> bool {
    off == 0x048 || (off >= cb(0) && off & 0xfff == 0x058)
}

impl RegisterModel for Fake {
    fn read(&mut self, off: usize, _w: Width) -> u64 {
        let active = off == 0x074 || (off >= cb(0) && off & 0xfff == 0x7f4);
        if active && self.stuck_sync {
            return 1;
        }
        self.regs.get(&off).copied().unwrap_or(0)
    }

    fn write(&mut self, off: usize, w: Width, val: u64) {
        self.log.push((off, w, val));
        if self.refuse_scr0 && off == 0 {
            return;
        }
        if self.actlr_locked && off >= cb(0) && off & 0xfff == 0x004 {
            return;
        }
        if is_w1c(off) {
            let old = self.regs.get(&off).copied().unwrap_or(0);
            self.regs.insert(off, old & !val);
            return;
        }
        if self.quirk && is_s2cr(off) {
            match (val >> 16) & 3 {
                2 => return,
                1 => {
                    self.regs.insert(off, (val & !(3 << 16)) | 2 << 16);
                    return;
                }
                _ => {}
            }
        }
        self.regs.insert(off, val);
    }
}

impl Fake {
    fn new(id0: u32) -> Self {
        let mut f = Fake::default();
        f.regs.insert(0x020, u64::from(id0));
        f.regs.insert(0x024, u64::from(ID1));
        f.regs.insert(0x028, u64::from(ID2));
        f.regs.insert(0x03c, 0x21);
        // Reset values seen on MMU-500: sCR0 CLIENTPD | SMCFCFG, ACR
        // CACHE_LOCK, every ACTLR CMTLB | CPRE, S2CR FAULT.
        f.regs.insert(0x000, 0x0020_0001);
        f.regs.insert(0x010, 0x0400_0004);
        for n in 0..8 {
            f.regs.insert(cb(n) + 4, 3);
        }
        for g in 0..16 {
            f.regs.insert(0xc00 + 4 * g, 0x2_0000);
        }
        f
    }

    fn writes_to(&self, off: usize) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(o, _, _)| *o == off)
            .map(|(_, _, v)| *v)
            .collect()
    }
}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

type Hw = Smmuv2Hw<ModelMmio<Fake>>;

fn hw_of(f: Fake, v: Variant) -> Hw {
    Smmuv2Hw::probe(Regs::new(ModelMmio::new(f)), v, clock()).unwrap()
}

fn fake(hw: &Hw) -> core::cell::Ref<'_, Fake> {
    hw.regs().mmio().model()
}

#[test]
fn reset_clears_every_free_group_and_bank_then_enables_with_unmatched_streams_faulting() {
    let mut f = Fake::new(ID0_MMU500);
    f.regs.insert(0x048, 0x2); // a USF left from before
    let mut hw = hw_of(f, variant::MMU_500);
    let notes = hw.reset().unwrap();
    assert!(
        notes.iter().any(|n| n.contains("sGFSR was 0x2")),
        "{notes:?}"
    );
    let f = fake(&hw);
    // Every group: SMR invalid, S2CR FAULT; every bank disabled, FSR
    // cleared, the prefetcher off; invalidate all, global sync, sCR0.
    for g in 0..16 {
        assert_eq!(f.regs[&(0x800 + 4 * g)] & 1 << 31, 0);
        assert_eq!(f.regs[&(0xc00 + 4 * g)], 0x2_0000);
    }
    for n in 0..8 {
        assert_eq!(f.writes_to(cb(n)), [0], "SCTLR {n}");
        assert_eq!(f.writes_to(cb(n) + 0x58), [u64::from(FSR_ALL)]);
        assert_eq!(f.regs[&(cb(n) + 4)] & 2, 0, "ACTLR.CPRE of {n}");
    }
    assert_eq!(f.regs[&0x010] & 1 << 26, 0, "ACR.CACHE_LOCK cleared on r2");
    let order: Vec<usize> = f
        .log
        .iter()
        .map(|(o, _, _)| *o)
        .filter(|o| [0x06c, 0x068, 0x070, 0x000].contains(o))
        .collect();
    assert_eq!(
        order,
        [0x06c, 0x068, 0x070, 0x000],
        "TLBIALL*, sync, then sCR0"
    );
    let scr0 = f.regs[&0];
    assert_eq!(scr0 & 1, 0, "CLIENTPD clear");
    assert_ne!(scr0 & 1 << 10, 0, "USFCFG: unmatched streams fault");
    assert_ne!(scr0 & 1 << 12, 0, "PTM");
    assert_eq!(scr0 & 1 << 3, 0, "no extended IDs on this part");
    assert_eq!(hw.smr_bits(), (0x7fff, 0x7fff));
}

#[test]
fn write_anything_registers_never_get_zero() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::QCOM_MMU_500);
    hw.reset().unwrap();
    hw.tlb_sync(0).unwrap();
    let check = |hw: &Hw| -> Vec<usize> {
        let f = fake(hw);
        [0x068, 0x06c, 0x070, cb(0) + 0x7f0]
            .into_iter()
            .filter(|&o| f.writes_to(o).is_empty() || f.writes_to(o).contains(&0))
            .collect()
    };
    assert_eq!(check(&hw), Vec::<usize>::new());
    // The check can fail: the same sequence with zero stores.
    let mut bad = hw_of(Fake::new(ID0_MMU500), variant::QCOM_MMU_500);
    bad.bugs.zero_write_anything = true;
    bad.reset().unwrap();
    bad.tlb_sync(0).unwrap();
    assert_eq!(check(&bad), [0x068, 0x06c, 0x070, cb(0) + 0x7f0]);
}

#[test]
fn qualcomm_adopts_boot_smrs_keeps_their_bank_and_detects_the_s2cr_quirk() {
    let mut f = Fake::new(ID0_MMU500);
    f.quirk = true;
    // The bootloader's display stream: SMR3 valid, id 0x880 mask 0x8,
    // translating through context bank 5.
    let smr3 = 1 << 31 | 0x8 << 16 | 0x880;
    f.regs.insert(0x80c, smr3);
    f.regs.insert(0xc0c, 5);
    let mut hw = hw_of(f, variant::QCOM_MMU_500);
    let notes = hw.reset().unwrap();
    assert_eq!(hw.bypass_quirk(), Some(true), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("S2CR quirk")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("SMR3")), "{notes:?}");
    {
        let f = fake(&hw);
        assert!(f.writes_to(0x80c).is_empty(), "adopted SMR rewritten");
        assert!(f.writes_to(0xc0c).is_empty(), "adopted S2CR rewritten");
        assert!(
            f.writes_to(cb(5)).is_empty(),
            "the bootloader's bank touched"
        );
        // The quirk probe went to a free group, never an adopted one.
        assert!(f.writes_to(0xc3c).contains(&(1 << 16 | 0xff)));
    }
    assert!(matches!(hw.groups()[3], Group::Adopted { .. }));
    assert_eq!(
        hw.banks()[5],
        Bank::KeptOff(super::hw::KeptOff::Bootloader { group: 3 })
    );
    assert_eq!(hw.banks()[7], Bank::KeptOff(super::hw::KeptOff::QcomLast));
    // A stream the adopted entry matches is refused by name.
    let cb0 = hw.alloc_bank().unwrap();
    assert!(matches!(
        hw.map_stream(0x888, 0, cb0),
        Err(Smmuv2Error::StreamAdopted { group: 3, .. })
    ));
    // Others map; detaching writes no BYPASS anywhere.
    hw.map_stream(0x14e8, 0, cb0).unwrap();
    hw.unmap_stream(0x14e8, 0).unwrap();
    let f = fake(&hw);
    let bypass_writes: Vec<usize> = f
        .log
        .iter()
        .filter(|(o, _, v)| is_s2cr(*o) && (v >> 16) & 3 == 1 && *o != 0xc3c)
        .map(|(o, _, _)| *o)
        .collect();
    assert!(bypass_writes.is_empty(), "{bypass_writes:x?}");
}

#[test]
fn a_refused_scr0_write_is_named_as_the_hypervisors() {
    let mut f = Fake::new(ID0_MMU500);
    f.refuse_scr0 = true;
    let mut hw = hw_of(f, variant::QCOM_MMU_500);
    let e = hw.reset().unwrap_err();
    assert!(
        matches!(
            e,
            Smmuv2Error::Refused {
                reg: "sCR0",
                read: 0x0020_0001,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(format!("{e}").contains("hypervisor"), "{e}");
    // Elsewhere the same is a plain read-back mismatch.
    let mut f = Fake::new(ID0_MMU500);
    f.refuse_scr0 = true;
    let e = hw_of(f, variant::MMU_500).reset().unwrap_err();
    assert!(
        matches!(e, Smmuv2Error::NotTaken { reg: "sCR0", .. }),
        "{e:?}"
    );
}

#[test]
fn a_locked_actlr_leaves_the_prefetcher_on_and_is_an_error() {
    let mut f = Fake::new(ID0_MMU500);
    f.actlr_locked = true;
    let e = hw_of(f, variant::MMU_500).reset().unwrap_err();
    assert_eq!(e, Smmuv2Error::PrefetcherOn { cb: 0, actlr: 3 });
    // Not an MMU-500: ACTLR is IMPLEMENTATION DEFINED and left alone.
    let mut f = Fake::new(ID0_MMU500);
    f.actlr_locked = true;
    hw_of(f, variant::SMMU_V2).reset().unwrap();
}

#[test]
fn stream_entries_are_reused_or_refused_on_overlap() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::MMU_500);
    hw.reset().unwrap();
    let a = hw.alloc_bank().unwrap();
    let b = hw.alloc_bank().unwrap();
    let g = hw.map_stream(0x10, 0xf, a).unwrap();
    {
        let f = fake(&hw);
        let smr = 0x800 + 4 * g;
        let s2cr = 0xc00 + 4 * g;
        // S2CR (translate to a) before the SMR turns valid.
        let i_s2cr = f.log.iter().rposition(|(o, _, _)| *o == s2cr).unwrap();
        let i_smr = f.log.iter().rposition(|(o, _, _)| *o == smr).unwrap();
        assert!(i_s2cr < i_smr);
        assert_eq!(f.regs[&s2cr], a as u64);
        assert_eq!(f.regs[&smr], 1 << 31 | 0xf << 16 | 0x10);
    }
    // Covered and to the same bank: the same entry.
    assert_eq!(hw.map_stream(0x13, 0, a), Ok(g));
    // Covered but to another bank, or partly overlapping: a conflict.
    assert!(matches!(
        hw.map_stream(0x13, 0, b),
        Err(Smmuv2Error::StreamConflict { group, .. }) if group == g
    ));
    assert!(matches!(
        hw.map_stream(0x18, 0x30, b),
        Err(Smmuv2Error::StreamConflict { .. })
    ));
    hw.map_stream(0x20, 0, b).unwrap();
    assert!(matches!(
        hw.map_stream(0x8000, 0, b),
        Err(Smmuv2Error::StreamOutOfRange {
            id_bits: 0x7fff,
            ..
        })
    ));
    // The shared entry stays until its last user goes.
    hw.unmap_stream(0x13, 0).unwrap_err();
    hw.unmap_stream(0x10, 0xf).unwrap();
    assert_eq!(fake(&hw).regs[&(0x800 + 4 * g)] >> 31, 1);
    hw.unmap_stream(0x10, 0xf).unwrap();
    assert_eq!(fake(&hw).regs[&(0x800 + 4 * g)], 0);
    assert_eq!(hw.groups()[g], Group::Free);
}

#[test]
fn the_inverted_mask_bug_writes_what_it_says() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::MMU_500);
    hw.reset().unwrap();
    hw.bugs.inverted_smr_mask = true;
    let a = hw.alloc_bank().unwrap();
    let g = hw.map_stream(0x10, 0, a).unwrap();
    assert_eq!(
        fake(&hw).regs[&(0x800 + 4 * g)],
        1 << 31 | 0x7fff << 16 | 0x10
    );
}

#[test]
fn a_context_bank_is_programmed_in_the_documented_order() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::MMU_500);
    hw.reset().unwrap();
    let n = hw.alloc_bank().unwrap();
    let lpae = Lpae::new(Granule::K4, 40, 40, false).unwrap();
    let cfg = context::stage1(
        hw.ids(),
        variant::MMU_500.version,
        &lpae,
        BusAddr(0x8020_0000),
        7,
        false,
    )
    .unwrap();
    let start = fake(&hw).log.len();
    hw.program_bank(n, &cfg).unwrap();
    let f = fake(&hw);
    let order: Vec<(usize, u64)> = f.log[start..]
        .iter()
        .map(|(o, _, v)| (*o, *v))
        .filter(|(o, _)| *o != cb(n) + 0x58 && *o != cb(n) + 4)
        .collect();
    let base = cb(n);
    assert_eq!(
        order,
        [
            (base, 0),
            (GR1 + 0x800 + 4 * n, 1),
            (GR1 + 4 * n, 0x1_f300),
            (base + 0x10, u64::from(cfg.tcr2.unwrap())),
            (base + 0x30, u64::from(cfg.tcr)),
            (base + 0x20, 7 << 48 | 0x8020_0000),
            (base + 0x28, 7 << 48),
            (base + 0x38, 0xf404_ff44),
            (base + 0x3c, 0),
            (base, 0x1027),
        ]
    );
    // The TTBRs are single 64-bit stores.
    assert!(f
        .log
        .iter()
        .any(|(o, w, _)| *o == base + 0x20 && *w == Width::W64));
}

#[test]
fn tlbi_operands_carry_the_asid_and_a_sync_follows_with_a_bounded_poll() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::MMU_500);
    hw.reset().unwrap();
    let n = hw.alloc_bank().unwrap();
    let lpae = Lpae::new(Granule::K4, 40, 40, false).unwrap();
    let cfg = context::stage1(
        hw.ids(),
        variant::MMU_500.version,
        &lpae,
        BusAddr(0x8020_0000),
        9,
        false,
    )
    .unwrap();
    hw.program_bank(n, &cfg).unwrap();
    hw.tlbi_va(n, 0x1_4000_3000, true);
    hw.tlbi_va(n, 0x1_4000_4000, false);
    hw.tlbi_asid(n);
    hw.tlb_sync(n).unwrap();
    {
        let f = fake(&hw);
        assert_eq!(f.writes_to(cb(n) + 0x620), [9 << 48 | 0x14_0003]);
        assert_eq!(f.writes_to(cb(n) + 0x600), [9 << 48 | 0x14_0004]);
        assert_eq!(f.writes_to(cb(n) + 0x610), [9]);
        assert_eq!(f.writes_to(cb(n) + 0x7f0), [0xffff_ffff]);
    }
    let s = hw.stats();
    assert_eq!((s.tlbival, s.tlbiva, s.tlbiasid, s.above_4g), (1, 1, 1, 2));
    // The bug: the same operand without the ASID.
    hw.bugs.tlbiva_without_asid = true;
    hw.tlbi_va(n, 0x1_4000_3000, true);
    assert_eq!(
        *fake(&hw).writes_to(cb(n) + 0x620).last().unwrap(),
        0x14_0003
    );
    // A sync that never completes ends at the bound with the register.
    hw.regs().mmio().model_mut().stuck_sync = true;
    let e = hw.tlb_sync(n).unwrap_err();
    assert!(
        matches!(e, Smmuv2Error::Timeout { reg: "TLBSTATUS", value: 1, waited_us, .. }
            if (1_000_000..1_100_000).contains(&waited_us)),
        "{e:?}"
    );
}

#[test]
fn aarch32_contexts_take_32_bit_operands_with_an_8_bit_asid() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::SMMU_V1);
    hw.reset().unwrap();
    let n = hw.alloc_bank().unwrap();
    let lpae = Lpae::new(Granule::K4, 32, 40, false).unwrap();
    let cfg = context::stage1(
        hw.ids(),
        variant::SMMU_V1.version,
        &lpae,
        BusAddr(0x8020_0000),
        0x103,
        false,
    )
    .unwrap();
    hw.program_bank(n, &cfg).unwrap();
    hw.tlbi_va(n, 0x3000_5123, true);
    let f = fake(&hw);
    assert!(f
        .log
        .iter()
        .any(|(o, w, v)| *o == cb(n) + 0x620 && *w == Width::W32 && *v == 0x3000_5003));
    // SMMUv1: no CBA2R written.
    assert!(f.writes_to(GR1 + 0x800 + 4 * n).is_empty());
}

#[test]
fn a_stage_2_only_part_is_a_skip_decided_from_id0() {
    // MMU-401-like: S1TS = 0, S2TS = 1, whatever the compatible says.
    let id0 = ID0_MMU500 & !(1 << 30);
    let hw = hw_of(Fake::new(id0), variant::MMU_500);
    let drv = Smmuv2Iommu::new(hw, "iommu@7fb00000", false, false);
    let why = untestable(&drv).unwrap();
    assert!(why.contains("S1TS = 0"), "{why}");
    assert!(why.ends_with(&stage2_only_reason(id0)));
    let hw = hw_of(Fake::new(ID0_MMU500), variant::SMMU_V1);
    assert_eq!(untestable(&Smmuv2Iommu::new(hw, "x", false, false)), None);
}

#[test]
fn contexts_get_a_bank_and_a_nonzero_asid_and_refuse_what_id2_cannot_walk() {
    let mut hw = hw_of(Fake::new(ID0_MMU500), variant::QCOM_MMU_500);
    hw.reset().unwrap();
    let mut drv = Smmuv2Iommu::new(hw, "apps_smmu", false, false);
    let lpae = Lpae::new(Granule::K4, 40, 40, false).unwrap();
    let t0 = drv.new_context(&lpae).unwrap();
    let t1 = drv.new_context(&lpae).unwrap();
    assert_eq!(
        (t0, t1),
        (Smmuv2Tag { cb: 0, asid: 1 }, Smmuv2Tag { cb: 1, asid: 2 })
    );
    // No 16K AArch64 tables in this ID2.
    let k16 = Lpae::new(Granule::K16, 40, 40, false).unwrap();
    assert_eq!(
        drv.new_context(&k16),
        Err(IommuError::Unsupported { value: 0x4000 })
    );
    // Banks 2..=6 left, the last kept off on Qualcomm: five more.
    for _ in 0..5 {
        drv.new_context(&lpae).unwrap();
    }
    assert_eq!(
        drv.new_context(&lpae),
        Err(IommuError::NoFreeContext { contexts: 8 })
    );
    drv.release_context(t1);
    assert_eq!(drv.new_context(&lpae).unwrap(), t1);
    let _ = StreamId(0);
}
