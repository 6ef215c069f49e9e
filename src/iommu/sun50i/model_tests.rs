//! Host tests of the sun50i model itself, through raw register accesses
//! (no driver exists yet): every behaviour docs/hw/sun50i.md says the model
//! implements.

use super::model::*;
use crate::iommu::DmaMaster;
use crate::mm::host_ram::{self, HostRam};
use crate::mm::Iova;
use crate::mmio::{Mmio, ModelMmio};
use crate::testkit::master::ModelMaster;
use core::time::Duration;

const BUS: u32 = 0x4000_0000;
/// Level-1 table at the start of the window (16 KiB aligned).
const L1: u32 = BUS;
/// Level-2 tables, one 1 KiB table per 1 MiB slot.
const L2: u32 = BUS + 0x4000;
/// Data pages.
const DATA: u32 = BUS + 0x10_0000;

struct Rig {
    hw: Sun50i,
    mmio: ModelMmio<Sun50i>,
    window: Window,
    _ram: HostRam,
}

fn rig(variant: Variant) -> Rig {
    let ram = HostRam::new(4 << 20);
    let window = Window {
        bus: BUS,
        host: ram.range().base.as_u64(),
    };
    let hw = Sun50i::new(variant, window);
    Rig {
        mmio: ModelMmio::new(hw.clone()),
        hw,
        window,
        _ram: ram,
    }
}

impl Rig {
    fn mem_write(&self, bus: u32, v: u32) {
        host_ram::write_bytes(self.window.host(bus), &v.to_le_bytes());
    }

    fn mem_read(&self, bus: u32) -> u32 {
        let mut b = [0; 4];
        host_ram::read_bytes(self.window.host(bus), &mut b);
        u32::from_le_bytes(b)
    }

    fn rd(&self, off: usize) -> u32 {
        self.mmio.read32(off)
    }

    fn wr(&self, off: usize, v: u32) {
        self.mmio.write32(off, v);
    }

    fn l2_of(iova: u32) -> u32 {
        L2 + ((iova >> 20) & 0x3f) * 0x400
    }

    /// Installs the level-2 table of `iova`'s 1 MiB slot.
    fn dir(&self, iova: u32) {
        self.mem_write(L1 + (iova >> 20) * 4, Self::l2_of(iova) | 0b01);
    }

    fn map(&self, iova: u32, pa: u32, aci: u32) {
        self.dir(iova);
        let pte = pa | aci << 4 | 0b10;
        self.mem_write(Self::l2_of(iova) + ((iova >> 12) & 0xff) * 4, pte);
    }

    fn unmap(&self, iova: u32) {
        self.mem_write(Self::l2_of(iova) + ((iova >> 12) & 0xff) * 4, 0);
    }

    /// TTB while every master is bypassed (reset), then translation on for
    /// the masters in `translated`.
    fn enable(&self, translated: u32) {
        self.wr(reg::TTB, L1);
        self.wr(reg::ENABLE, 1);
        let all = self.hw.0.borrow().variant.master_mask();
        self.wr(reg::BYPASS, all & !translated);
    }

    fn xl(&self, m: u32, iova: u32, write: bool) -> Option<u32> {
        self.hw.0.borrow_mut().translate(m, iova, write)
    }

    /// Polls `off` until `bit` clears; returns the reads that saw it set.
    fn poll(&self, off: usize, bit: u32) -> u32 {
        for n in 0..100 {
            if self.rd(off) & bit == 0 {
                return n;
            }
        }
        panic!("{off:#x} stayed busy");
    }

    fn tlb_invalidate(&self, iova: u32, mask: u32) {
        self.wr(reg::TLB_IVLD_ADDR, iova);
        self.wr(reg::TLB_IVLD_ADDR_MASK, mask);
        self.wr(reg::TLB_IVLD_ENABLE, 1);
        self.poll(reg::TLB_IVLD_ENABLE, 1);
    }

    fn ptw_invalidate(&self, iova: u32) {
        self.wr(reg::PC_IVLD_ADDR, iova);
        self.wr(reg::PC_IVLD_ENABLE, 1);
        self.poll(reg::PC_IVLD_ENABLE, 1);
    }

    fn misuse(&self) -> alloc::vec::Vec<Misuse> {
        self.hw.0.borrow().misuse.clone()
    }
}

#[test]
fn reset_values_follow_the_manual_per_variant() {
    for (v, masters) in [(H616, 0x7f), (H6, 0x3f)] {
        let r = rig(v);
        assert_eq!(r.rd(reg::VERSION), v.version, "{}", v.name);
        assert_eq!(r.rd(reg::RESET), 0x8003_0000 | masters);
        assert_eq!(r.rd(reg::ENABLE), 0);
        assert_eq!(r.rd(reg::BYPASS), masters);
        assert_eq!(r.rd(reg::AUTO_GATING), 1);
        assert_eq!(r.rd(reg::WBUF_CTRL), masters);
        assert_eq!(r.rd(reg::OOO_CTRL), masters);
        assert_eq!(r.rd(reg::BDY_PRT_CTRL), masters);
        assert_eq!(r.rd(reg::TTB), 0);
        assert_eq!(r.rd(reg::TLB_ENABLE), 0x3_0000 | masters);
        assert_eq!(r.rd(reg::TLB_PREFETCH), 0);
        assert_eq!(r.rd(reg::TLB_FLUSH_ENABLE), 0);
        assert_eq!(r.rd(reg::TLB_IVLD_ENABLE), 0);
        assert_eq!(r.rd(reg::PC_IVLD_ENABLE), 0);
        assert_eq!(r.rd(reg::DM_AUT_CTRL0), 0);
        assert_eq!(r.rd(reg::DM_AUT_OVWT), 0);
        assert_eq!(r.rd(reg::INT_STA), 0);
        assert_eq!(r.rd(reg::VA_CONFIG), 0);
        assert!(r.misuse().is_empty(), "{:?}", r.misuse());
    }
    // H6 has no seventh slot and no range invalidation registers.
    let h6 = rig(H6);
    assert_eq!(h6.rd(0x128), 0);
    assert_eq!(h6.rd(reg::TLB_IVLD_MODE_SEL), 0);
    assert_eq!(
        h6.misuse(),
        [
            Misuse::Unmapped { off: 0x128 },
            Misuse::Unmapped {
                off: reg::TLB_IVLD_MODE_SEL
            }
        ]
    );
    // With the "prefetch valid only" bits present they reset to 1.
    let fixed = rig(Variant {
        prefetch_valid_only: true,
        ..H616
    });
    assert_eq!(fixed.rd(reg::TLB_PREFETCH), 0x3_0000);
}

#[test]
fn bypass_and_disabled_pass_addresses_through_and_master_6_exists_only_on_h616() {
    let r = rig(H616);
    // Reset: translation off.
    assert_eq!(r.xl(6, 0x1234_5678, false), Some(0x1234_5678));
    r.map(0x0010_0000, DATA, 0);
    r.enable(1 << 6);
    assert_eq!(r.xl(6, 0x0010_0abc, true), Some(DATA | 0xabc));
    // Still bypassed: untranslated.
    assert_eq!(r.xl(0, 0x0010_0abc, true), Some(0x0010_0abc));
    // Bypass master 6 again.
    r.wr(reg::BYPASS, 0x7f);
    assert_eq!(r.xl(6, 0x0010_0abc, true), Some(0x0010_0abc));

    let h6 = rig(H6);
    h6.map(0x0010_0000, DATA, 0);
    h6.enable(0x3f);
    assert_eq!(h6.rd(reg::BYPASS), 0);
    assert_eq!(h6.xl(5, 0x0010_0000, false), Some(DATA));
    assert_eq!(h6.xl(6, 0x0010_0000, false), None, "no slot 6 on H6");
    // BYPASS bit 6 does not exist on H6.
    h6.wr(reg::BYPASS, 0x7f);
    assert_eq!(h6.rd(reg::BYPASS), 0x3f);
}

#[test]
fn ttb_is_written_only_while_disabled_or_all_bypassed() {
    let r = rig(H616);
    r.wr(reg::ENABLE, 1); // all masters still bypassed: no misuse
    r.wr(reg::TTB, L1 | 0x3fff);
    assert_eq!(r.rd(reg::TTB), L1, "bits [13:0] unused");
    r.wr(reg::BYPASS, 0x7e);
    r.wr(reg::TTB, L1 + 0x4000);
    assert_eq!(r.rd(reg::TTB), L1, "ignored while translating");
    assert_eq!(
        r.misuse(),
        [Misuse::TtbWhileTranslating { value: L1 + 0x4000 }]
    );
    r.wr(reg::ENABLE, 0);
    r.wr(reg::TTB, L1 + 0x4000);
    assert_eq!(r.rd(reg::TTB), L1 + 0x4000);

    let e = rig(H616);
    e.wr(reg::BYPASS, 0);
    e.wr(reg::ENABLE, 1);
    assert_eq!(e.misuse(), [Misuse::EnableWithoutTtb]);
}

#[test]
fn a_tlb_entry_stays_until_the_covering_invalidation_completes() {
    let r = rig(H616);
    let iova = 0x0020_3000;
    r.map(iova, DATA, 0);
    r.enable(1 << 2);
    assert_eq!(r.xl(2, iova, false), Some(DATA));
    // Remap behind the IOMMU's back: the micro TLB still answers.
    r.map(iova, DATA + 0x1000, 0);
    assert_eq!(r.xl(2, iova, false), Some(DATA));
    // An invalidation of another page, and a PTW-cache invalidation, leave it.
    r.tlb_invalidate(iova + 0x1000, 0xffff_f000);
    r.ptw_invalidate(iova);
    assert_eq!(r.xl(2, iova, false), Some(DATA));
    // Its own page (mask of one page) drops it from micro and macro TLBs.
    r.tlb_invalidate(iova, 0xffff_f000);
    assert_eq!(r.xl(2, iova, false), Some(DATA + 0x1000));
    // A 1 MiB mask covers every page of the slot.
    r.unmap(iova);
    r.tlb_invalidate(iova & 0xfff0_0000 | 0x5000, 0xfff0_0000);
    assert_eq!(r.xl(2, iova, false), None);
    assert_eq!(r.rd(reg::INT_STA), INT_L2);
}

#[test]
fn a_changed_dte_is_used_until_the_ptw_cache_drops_it() {
    let r = rig(H616);
    let iova = 0x0030_0000;
    r.map(iova, DATA, 0);
    r.enable(1);
    assert_eq!(r.xl(0, iova, false), Some(DATA));
    // Point the slot at another level-2 table that maps iova + 4K elsewhere.
    let other = L2 + 0x3f * 0x400;
    r.mem_write(other + 4, (DATA + 0x2000) | 0b10);
    r.mem_write(L1 + (iova >> 20) * 4, other | 1);
    // The TLBs are invalidated but the PTW cache still has the old DTE.
    r.tlb_invalidate(iova + 0x1000, 0xffff_f000);
    assert_eq!(r.xl(0, iova + 0x1000, false), None);
    r.wr(reg::INT_CLR, INT_L2);
    r.wr(reg::RESET, !1);
    r.wr(reg::RESET, 0xffff_ffff);
    r.ptw_invalidate(iova | 0x8_0000); // any address in the 1 MiB slot
    r.tlb_invalidate(iova + 0x1000, 0xffff_f000);
    assert_eq!(r.xl(0, iova + 0x1000, false), Some(DATA + 0x2000));
}

#[test]
fn busy_bits_clear_only_after_the_poll_count_and_the_operation_waits_for_it() {
    let r = rig(H616);
    r.hw.0.borrow_mut().knobs.busy_polls = 3;
    let iova = 0x0040_0000;
    r.map(iova, DATA, 0);
    r.enable(1);
    assert_eq!(r.xl(0, iova, false), Some(DATA));
    r.map(iova, DATA + 0x1000, 0);

    // TLB invalidation: three reads see 1, the fourth 0.
    r.wr(reg::TLB_IVLD_ADDR, iova);
    r.wr(reg::TLB_IVLD_ADDR_MASK, 0xffff_f000);
    r.wr(reg::TLB_IVLD_ENABLE, 1);
    assert_eq!(r.rd(reg::TLB_IVLD_ENABLE), 1);
    assert_eq!(r.xl(0, iova, false), Some(DATA), "not done yet");
    assert_eq!(r.rd(reg::TLB_IVLD_ENABLE), 1);
    // A second start while busy is refused and recorded.
    r.wr(reg::TLB_IVLD_ENABLE, 1);
    assert_eq!(
        r.misuse(),
        [Misuse::StartWhileBusy {
            off: reg::TLB_IVLD_ENABLE
        }]
    );
    assert_eq!(r.rd(reg::TLB_IVLD_ENABLE), 1);
    assert_eq!(r.rd(reg::TLB_IVLD_ENABLE), 0);
    assert_eq!(r.xl(0, iova, false), Some(DATA + 0x1000));

    // The full flush: the written bits read back until done.
    r.map(iova, DATA + 0x2000, 0);
    r.wr(reg::TLB_FLUSH_ENABLE, 0x3_007f);
    assert_eq!(r.rd(reg::TLB_FLUSH_ENABLE), 0x3_007f);
    assert_eq!(r.xl(0, iova, false), Some(DATA + 0x1000), "flush not done");
    assert_eq!(r.poll(reg::TLB_FLUSH_ENABLE, 0x3_007f), 2);
    assert_eq!(r.xl(0, iova, false), Some(DATA + 0x2000));

    // Without a poll the flush never lands (until time passes: settle).
    r.map(iova, DATA + 0x3000, 0);
    r.wr(reg::TLB_FLUSH_ENABLE, 0x3_007f);
    assert_eq!(r.xl(0, iova, false), Some(DATA + 0x2000));
    r.hw.0.borrow_mut().settle();
    assert_eq!(r.rd(reg::TLB_FLUSH_ENABLE), 0);
    assert_eq!(r.xl(0, iova, false), Some(DATA + 0x3000));

    // PTW-cache invalidation polls the same way.
    r.wr(reg::PC_IVLD_ADDR, iova);
    r.wr(reg::PC_IVLD_ENABLE, 1);
    assert!(r.hw.0.borrow().ptw_entry(iova).is_some());
    assert_eq!(r.poll(reg::PC_IVLD_ENABLE, 1), 3);
    assert!(r.hw.0.borrow().ptw_entry(iova).is_none());
}

#[test]
fn range_invalidation_on_h616_is_inclusive() {
    let r = rig(H616);
    let base = 0x0050_0000;
    for p in 0..4 {
        r.map(base + p * 0x1000, DATA + p * 0x1000, 0);
    }
    r.enable(1);
    for p in 0..4 {
        r.xl(0, base + p * 0x1000, false).unwrap();
    }
    assert_eq!(r.hw.0.borrow().micro_entries(0), 4);
    r.wr(reg::TLB_IVLD_MODE_SEL, 1);
    r.wr(reg::TLB_IVLD_STA_ADDR, base + 0x1000);
    r.wr(reg::TLB_IVLD_END_ADDR, base + 0x2000);
    r.wr(reg::TLB_IVLD_ENABLE, 1);
    r.poll(reg::TLB_IVLD_ENABLE, 1);
    assert_eq!(r.hw.0.borrow().micro_entries(0), 2);
    let m = r.hw.0.borrow();
    assert!(m.macro_entry(base).is_some());
    assert!(m.macro_entry(base + 0x1000).is_none());
    assert!(m.macro_entry(base + 0x2000).is_none());
    assert!(m.macro_entry(base + 0x3000).is_some());
}

#[test]
fn prefetch_caches_the_next_page_and_directory_entry_even_when_invalid() {
    let r = rig(H616);
    let iova = 0x0060_0000;
    r.map(iova, DATA, 0);
    r.enable(0b11);
    r.wr(reg::TLB_PREFETCH, 0b01); // master 0 only
    assert_eq!(r.xl(0, iova, false), Some(DATA));
    {
        let m = r.hw.0.borrow();
        // The next page, unmapped, sits in the macro TLB as an invalid entry.
        let next = m.macro_entry(iova + 0x1000).expect("prefetched page");
        assert_eq!(next.pte & 0b10, 0);
        // The next directory slot, invalid, sits in the PTW cache.
        let dir = m.ptw_entry(iova + 0x10_0000).expect("prefetched DTE");
        assert_eq!(dir.dte & 0b11, 0);
        assert!(m.faults.is_empty(), "prefetches latch no fault");
    }
    // Mapping the neighbours now is not enough: the invalid entries answer.
    r.map(iova + 0x1000, DATA + 0x1000, 0);
    r.map(iova + 0x10_0000, DATA + 0x2000, 0);
    assert_eq!(r.xl(1, iova + 0x1000, true), None);
    assert_eq!(r.rd(reg::INT_STA), INT_L2);
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L2), iova + 0x1000);
    assert_eq!(r.rd(reg::L2PG_INT), 1 << 1);
    r.wr(reg::INT_CLR, INT_L2);
    r.wr(reg::RESET, !(1 << 1));
    r.wr(reg::RESET, 0xffff_ffff);
    // ... until the neighbour's TLB line is invalidated.
    r.tlb_invalidate(iova + 0x1000, 0xffff_f000);
    assert_eq!(r.xl(1, iova + 0x1000, true), Some(DATA + 0x1000));
    // Same for the directory entry one MiB on, until the PTW-cache line goes.
    assert_eq!(r.xl(1, iova + 0x10_0000, false), None);
    assert_eq!(r.rd(reg::INT_STA), INT_L1);
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L1), iova + 0x10_0000);
    assert_eq!(r.rd(reg::INT_ERR_DATA_L1), 0);
    r.wr(reg::INT_CLR, INT_L1);
    r.wr(reg::RESET, !(1 << 1));
    r.wr(reg::RESET, 0xffff_ffff);
    r.ptw_invalidate(iova + 0x10_0000);
    assert_eq!(r.xl(1, iova + 0x10_0000, false), Some(DATA + 0x2000));

    // A master without prefetch leaves its neighbours alone.
    let q = rig(H616);
    q.map(iova, DATA, 0);
    q.enable(1);
    q.xl(0, iova, false).unwrap();
    assert!(q.hw.0.borrow().macro_entry(iova + 0x1000).is_none());
    assert!(q.hw.0.borrow().ptw_entry(iova + 0x10_0000).is_none());

    // With the "valid only" bits (a variant that has them), only valid
    // neighbours are loaded.
    let f = rig(Variant {
        prefetch_valid_only: true,
        ..H616
    });
    f.map(iova, DATA, 0);
    f.map(iova + 0x2000, DATA, 0);
    f.enable(1);
    f.wr(reg::TLB_PREFETCH, 0x3_0001);
    f.hw.0.borrow_mut().knobs.prefetch_pages = 2;
    f.xl(0, iova, false).unwrap();
    let m = f.hw.0.borrow();
    assert!(m.macro_entry(iova + 0x1000).is_none());
    assert!(m.macro_entry(iova + 0x2000).is_some());
    assert!(m.ptw_entry(iova + 0x10_0000).is_none());
}

#[test]
fn faults_latch_until_cleared_and_stop_the_lane_until_its_reset() {
    let r = rig(H616);
    r.map(0x0070_0000, DATA, 0);
    r.enable(0x7f);
    r.wr(reg::INT_ENABLE, 0x3_007f);
    // L1 invalid (nothing at 0x0080_0000).
    assert_eq!(r.xl(3, 0x0080_0123, true), None);
    assert_eq!(r.rd(reg::INT_STA), INT_L1);
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L1), 0x0080_0123);
    assert_eq!(r.rd(reg::L1PG_INT), 1 << 3);
    assert!(r.hw.0.borrow().irq_pending());
    // A second L1 fault (another master) keeps the first address, adds its bit.
    assert_eq!(r.xl(4, 0x0090_0000, false), None);
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L1), 0x0080_0123);
    assert_eq!(r.rd(reg::L1PG_INT), 1 << 3 | 1 << 4);
    assert!(r.hw.0.borrow().faults[1].lost);
    // The faulting lanes are stopped: even a mapped page does not go through.
    assert_eq!(r.xl(3, 0x0070_0000, false), None);
    assert_eq!(r.hw.0.borrow().stopped_lanes(), 1 << 3 | 1 << 4);
    // Clearing the status re-arms the registers but does not restart lanes.
    r.wr(reg::INT_CLR, INT_L1);
    assert_eq!(r.rd(reg::INT_STA), 0);
    assert_eq!(r.rd(reg::L1PG_INT), 0);
    assert_eq!(r.xl(3, 0x0070_0000, false), None);
    // Resetting the *other* masters' lanes (all but 3 and 4) does not help.
    r.wr(reg::RESET, 0x8003_0000 | (1 << 3 | 1 << 4));
    r.wr(reg::RESET, 0xffff_ffff);
    assert_eq!(r.xl(3, 0x0070_0000, false), None);
    // Pulsing the faulting lanes (active low) restarts them.
    r.wr(reg::RESET, !(1u32 << 3 | 1 << 4));
    assert_eq!(r.rd(reg::RESET), 0x8003_0067);
    assert_eq!(r.xl(3, 0x0070_0000, false), None, "held in reset");
    r.wr(reg::RESET, 0xffff_ffff);
    assert_eq!(r.rd(reg::RESET), 0x8003_007f);
    assert_eq!(r.xl(3, 0x0070_0000, false), Some(DATA));
    // The INT_STA bit is set even with its enable off; the line is not.
    r.wr(reg::INT_ENABLE, 0);
    assert_eq!(r.xl(5, 0x0070_1000, false), None);
    assert_eq!(r.rd(reg::INT_STA), INT_L2);
    assert_eq!(r.rd(reg::L2PG_INT), 1 << 5);
    assert!(!r.hw.0.borrow().irq_pending());
    // Read-only registers ignore writes.
    r.wr(reg::INT_STA, 0);
    assert_eq!(r.rd(reg::INT_STA), INT_L2);
    assert_eq!(r.misuse(), [Misuse::ReadOnly { off: reg::INT_STA }]);
}

#[test]
fn permission_domains_follow_the_aci_and_the_overwrite() {
    let r = rig(H616);
    let iova = 0x00a0_0000;
    // Domain 3 (DM_AUT_CTRL1 high half): master 2 may not write.
    r.map(iova, DATA, 3);
    r.wr(reg::DM_AUT_CTRL0 + 4, 1 << (16 + 2 * 2 + 1));
    r.enable(0x7f);
    r.wr(reg::TLB_PREFETCH, 0);
    assert_eq!(r.xl(2, iova, false), Some(DATA));
    assert_eq!(r.xl(1, iova, true), Some(DATA), "other masters may");
    assert_eq!(r.xl(2, iova + 4, true), None);
    assert_eq!(r.rd(reg::INT_STA), 1 << 2);
    assert_eq!(r.rd(reg::INT_ERR_ADDR0 + 8), iova + 4);
    let pte = r.rd(reg::INT_ERR_DATA0 + 8);
    assert_eq!(pte, DATA | 3 << 4 | 0b10);
    // The registers carry no direction; the model's record does.
    let f = r.hw.0.borrow().faults[0];
    assert_eq!(
        (f.kind, f.write, f.master),
        (FaultKind::Permission, true, Some(2))
    );
    r.wr(reg::INT_CLR, 1 << 2);
    r.wr(reg::RESET, !(1 << 2));
    r.wr(reg::RESET, 0xffff_ffff);
    // Domain 0 is never controlled, whatever DM_AUT_CTRL0's low half says.
    r.map(iova + 0x1000, DATA, 0);
    r.wr(reg::DM_AUT_CTRL0, 0xffff);
    assert_eq!(r.xl(2, iova + 0x1000, true), Some(DATA));
    // The overwrite replaces every domain: master 2 may not read.
    r.wr(reg::DM_AUT_OVWT, 1 << 31 | 1 << 4);
    assert_eq!(r.xl(2, iova + 0x1000, false), None);
    assert_eq!(r.rd(reg::INT_STA), 1 << 2);
    r.wr(reg::INT_CLR, 1 << 2);
    r.wr(reg::RESET, !(1 << 2));
    r.wr(reg::RESET, 0xffff_ffff);
    assert_eq!(r.xl(2, iova, true), Some(DATA), "OVWT allows the write");
}

#[test]
fn the_va_port_reads_and_writes_through_the_walk() {
    let r = rig(H616);
    let iova = 0x00b0_0000;
    r.map(iova, DATA, 0);
    r.mem_write(DATA + 8, 0xcafe_f00d);
    r.enable(0);
    // Read, the manual's procedure.
    r.wr(reg::VA, iova + 8);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE | 1);
    assert_eq!(r.poll(reg::VA_CONFIG, 1), 2);
    assert_eq!(r.rd(reg::VA_DATA), 0xcafe_f00d);
    // Write.
    r.wr(reg::VA, iova + 12);
    r.wr(reg::VA_DATA, 0x1234_5678);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE | VA_WRITE | 1);
    r.poll(reg::VA_CONFIG, 1);
    assert_eq!(r.mem_read(DATA + 12), 0x1234_5678);
    assert_eq!(r.rd(reg::VA_CONFIG), VA_DEBUG_MODE | VA_WRITE);
    // A fault flags the debug port (bit 31), and stops no master.
    r.wr(reg::VA, 0x00c0_0000);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE | 1);
    r.poll(reg::VA_CONFIG, 1);
    assert_eq!(r.rd(reg::INT_STA), INT_L1);
    assert_eq!(r.rd(reg::L1PG_INT), PG_DEBUG);
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L1), 0x00c0_0000);
    assert_eq!(r.hw.0.borrow().stopped_lanes(), 0);
    // It uses the PTW cache: a changed DTE is not seen until invalidated.
    r.wr(reg::INT_CLR, INT_L1);
    let moved = L2 + 0x3e * 0x400;
    r.mem_write(moved, (DATA + 0x1000) | 0b10);
    r.mem_write(L1 + (iova >> 20) * 4, moved | 1);
    r.mem_write(DATA + 0x1000, 0x5555_aaaa);
    r.wr(reg::VA, iova);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE | 1);
    r.poll(reg::VA_CONFIG, 1);
    assert_eq!(r.rd(reg::VA_DATA), 0, "old table, old page");
    r.ptw_invalidate(iova);
    r.wr(reg::VA_CONFIG, VA_DEBUG_MODE | 1);
    r.poll(reg::VA_CONFIG, 1);
    assert_eq!(r.rd(reg::VA_DATA), 0x5555_aaaa);

    // Without the port (an H6 that lacks it), the registers are not there.
    let h6 = rig(Variant {
        va_port: false,
        ..H6
    });
    h6.wr(reg::VA, iova);
    h6.wr(reg::VA_CONFIG, VA_DEBUG_MODE | 1);
    assert_eq!(h6.rd(reg::VA_CONFIG), 0);
    assert_eq!(h6.rd(reg::VA), 0);
}

#[test]
fn pmu_counts_accesses_and_hits_per_structure() {
    let r = rig(H616);
    let iova = 0x00d0_0000;
    r.map(iova, DATA, 0);
    r.map(iova + 0x1000, DATA + 0x1000, 0);
    r.enable(0b101);
    // Off: nothing counts.
    r.xl(0, iova, false).unwrap();
    assert_eq!(r.rd(reg::PMU_ACCESS_LOW0), 0);
    r.wr(reg::PMU_ENABLE, 1);
    r.wr(reg::PMU_CLR, 1);
    r.poll(reg::PMU_CLR, 1);
    r.wr(reg::TLB_FLUSH_ENABLE, 0x3_007f);
    r.poll(reg::TLB_FLUSH_ENABLE, 0x3_007f);
    // Master 0: miss everywhere, then a micro-TLB hit.
    r.xl(0, iova, false).unwrap();
    r.xl(0, iova + 4, false).unwrap();
    // Master 2: micro miss, macro hit.
    r.xl(2, iova, false).unwrap();
    // Master 0, next page: micro and macro miss, PTW-cache hit.
    r.xl(0, iova + 0x1000, false).unwrap();
    let c = |i: usize| {
        let base = pmu_offset(i);
        (r.rd(base), r.rd(base + 8))
    };
    assert_eq!(c(0), (3, 1));
    assert_eq!(c(2), (1, 0));
    assert_eq!(c(1), (0, 0));
    assert_eq!(c(PMU_MACRO_INDEX), (3, 1));
    assert_eq!(c(PMU_PTW_INDEX), (2, 1));
    assert_eq!(r.rd(0x2d0), 3, "macro TLB at 0x2D0");
    assert_eq!(r.rd(0x2e8), 1, "PTW-cache hits at 0x2E8");
    // 0x2A0..0x2CC is a gap, not the macro TLB and PTW cache.
    assert_eq!(r.rd(0x2a0), 0);
    assert_eq!(r.misuse(), [Misuse::Unmapped { off: 0x2a0 }]);
    // The clear is itself a busy operation.
    r.wr(reg::PMU_CLR, 1);
    assert_eq!(r.rd(reg::PMU_CLR), 1);
    assert_eq!(c(0), (3, 1));
    r.poll(reg::PMU_CLR, 1);
    assert_eq!(c(0), (0, 0));
}

#[test]
fn lane_and_global_resets_empty_what_they_name() {
    let r = rig(H616);
    let iova = 0x00e0_0000;
    r.map(iova, DATA, 0);
    r.enable(0b11);
    r.xl(0, iova, false).unwrap();
    r.xl(1, iova, false).unwrap();
    // Master 0's lane: only its micro TLB.
    r.wr(reg::RESET, !1);
    r.wr(reg::RESET, 0xffff_ffff);
    let m = r.hw.0.borrow();
    assert_eq!((m.micro_entries(0), m.micro_entries(1)), (0, 1));
    assert!(m.macro_entry(iova).is_some() && m.ptw_entry(iova).is_some());
    drop(m);
    r.wr(reg::RESET, !(MACRO_TLB | PTW_CACHE));
    r.wr(reg::RESET, 0xffff_ffff);
    let m = r.hw.0.borrow();
    assert!(m.macro_entry(iova).is_none() && m.ptw_entry(iova).is_none());
    drop(m);
    // Global: registers back to reset values.
    r.wr(reg::RESET, !RESET_GLOBAL);
    assert_eq!(r.rd(reg::ENABLE), 0);
    assert_eq!(r.rd(reg::TTB), 0);
    assert_eq!(r.rd(reg::BYPASS), 0x7f);
    assert_eq!(r.xl(1, iova, false), None, "held in reset");
    r.wr(reg::RESET, 0xffff_ffff);
    assert_eq!(r.hw.0.borrow().micro_entries(1), 0);
    assert_eq!(r.xl(1, iova, false), Some(iova), "bypassed after reset");
}

#[test]
fn a_model_master_dmas_through_the_handle() {
    let r = rig(H616);
    let iova = 0x00f0_0000;
    r.map(iova, DATA, 0);
    r.map(iova + 0x1000, DATA + 0x3000, 0);
    r.enable(1 << 6);
    let mut g2d = ModelMaster::new(6, "g2d", r.hw.clone());
    g2d.write(
        Iova(u64::from(iova) + 0xffc),
        &[1, 2, 3, 4, 5, 6, 7, 8],
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(r.mem_read(DATA + 0xffc), 0x0403_0201);
    assert_eq!(r.mem_read(DATA + 0x3000), 0x0807_0605);
    let mut back = [0u8; 8];
    g2d.read(Iova(u64::from(iova) + 0xffc), &mut back, Duration::ZERO)
        .unwrap();
    assert_eq!(back, [1, 2, 3, 4, 5, 6, 7, 8]);
    // Unmapped: the DMA stops with the fault latched.
    assert!(g2d
        .write(Iova(u64::from(iova) + 0x2000), &[0; 4], Duration::ZERO)
        .is_err());
    assert_eq!(r.rd(reg::INT_ERR_ADDR_L2), iova + 0x2000);
    assert_eq!(r.rd(reg::L2PG_INT), 1 << 6);
    // IOVAs are 32 bits.
    assert!(g2d.read(Iova(1 << 32), &mut back, Duration::ZERO).is_err());
}
