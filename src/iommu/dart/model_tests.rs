//! Host tests of the DART model itself, through raw register accesses (no
//! driver): the bring-up sequences and golden values of docs/hw/dart.md
//! "Behavioural model (host)" §M8, and every behaviour §M9 says the model
//! implements.  Table entries are encoded here by hand from §M3, not by the
//! crate's codec.

use super::model::regs::{params, t8020, t8110};
use super::model::*;
use crate::iommu::DmaMaster;
use crate::mm::host_ram::{self, HostRam};
use crate::mm::Iova;
use crate::mmio::{Mmio, ModelMmio};
use crate::testkit::master::ModelMaster;
use crate::testkit::walk_dart::{DartFault, DartLevel};
use alloc::vec::Vec;
use core::time::Duration;

/// Bus address of the table window (2 MiB).
const TB: u64 = 0x8_0000_0000;
/// L1 (or L0) table of stream 0.
const L1: u64 = TB;
/// An L2 table.
const L2: u64 = TB + 0x4000;
/// A second L2 table.
const L2B: u64 = TB + 0x8000;
/// An L1 table below an L0 (four-level walks), or a second root.
const L1B: u64 = TB + 0xc000;
/// Bus address of the data window (2 MiB).
const DB: u64 = 0x8_1000_0000;

/// Host RAM behind two windows: tables and data.
struct Rig {
    dart: Dart,
    mmio: ModelMmio<Dart>,
    tables: Window,
    data: Window,
    _ram: (HostRam, HostRam),
}

fn rig_at(variant: Variant, knobs: Knobs, table_bus: u64, data_bus: u64) -> Rig {
    let t = HostRam::new(2 << 20);
    let d = HostRam::new(2 << 20);
    let tables = Window::over(&t, table_bus);
    let data = Window::over(&d, data_bus);
    assert_eq!(
        tables.host(table_bus + 8),
        Some(t.range().base.as_u64() + 8)
    );
    assert_eq!(tables.host(table_bus + (2 << 20)), None);
    assert_eq!(data.bus(d.range().base.as_u64()), Some(data_bus));
    let dart = Dart::from_model(
        DartModel::new(variant, knobs)
            .with_window(tables)
            .with_window(data),
    );
    Rig {
        mmio: ModelMmio::new(dart.clone()),
        dart,
        tables,
        data,
        _ram: (t, d),
    }
}

fn rig(variant: Variant) -> Rig {
    rig_at(variant, Knobs::default(), TB, DB)
}

const VARIANTS: [Variant; 3] = [T8103, T6000, T8110];

impl Rig {
    fn variant(&self) -> Variant {
        self.dart.model().variant
    }

    fn t8110(&self) -> bool {
        self.variant().layout == Layout::T8110
    }

    fn rd(&self, off: usize) -> u32 {
        self.mmio.read32(off)
    }

    fn wr(&self, off: usize, v: u32) {
        self.mmio.write32(off, v);
    }

    fn host(&self, bus: u64) -> u64 {
        self.tables
            .host(bus)
            .or_else(|| self.data.host(bus))
            .expect("bus address in a window")
    }

    fn mem_write(&self, bus: u64, v: u64) {
        host_ram::write_u64(self.host(bus), v);
    }

    /// Where `iova`'s leaf sits in [`L2`].
    fn leaf_at(iova: u64) -> u64 {
        L2 + 8 * ((iova >> 14) & 0x7ff)
    }

    // ---- entries, encoded from §M3 ----

    /// The PA field of an entry: in place (DART1) or PA >> 4 (DART2).
    fn pa_field(&self, pa: u64) -> u64 {
        match self.variant().format {
            crate::testkit::walk_dart::DartFormat::Dart1 => pa,
            crate::testkit::walk_dart::DartFormat::Dart2 { .. } => pa >> 4,
        }
    }

    /// A table entry: PA field | VALID.
    fn table(&self, pa: u64) -> u64 {
        self.pa_field(pa) | 1
    }

    /// A whole-page leaf: SP_START 0, SP_END 0xFFF, PA field, VALID.
    fn leaf(&self, pa: u64) -> u64 {
        0xfff << 40 | self.pa_field(pa) | 1
    }

    fn tcr_reg(&self, sid: u32) -> usize {
        if self.t8110() {
            t8110::TCR + 4 * sid as usize
        } else {
            t8020::TCR + 4 * sid as usize
        }
    }

    fn ttbr_reg(&self, sid: u32, idx: usize) -> usize {
        if self.t8110() {
            t8110::TTBR + 4 * sid as usize
        } else {
            t8020::TTBR + 16 * sid as usize + 4 * idx
        }
    }

    /// TTBR value for a root table at `pa`.
    fn ttbr_value(&self, pa: u64) -> u32 {
        if self.t8110() {
            (pa >> 12) as u32 | t8110::TTBR_VALID
        } else {
            (pa >> 12) as u32 | t8020::TTBR_VALID
        }
    }

    fn translate_value(&self) -> u32 {
        if self.t8110() {
            t8110::TCR_TRANSLATE
        } else {
            t8020::TCR_TRANSLATE
        }
    }

    fn enable_stream(&self, sid: u32) {
        if self.t8110() {
            self.wr(
                t8110::ENABLE_STREAMS + 4 * (sid / 32) as usize,
                1 << (sid % 32),
            );
        } else {
            let e = self.rd(t8020::ENABLED_STREAMS);
            self.wr(t8020::ENABLED_STREAMS, e | 1 << sid);
        }
    }

    /// m1n1-C's `dart_init` for one stream (§M8.1): enable, TTBR 0 → `root`,
    /// TCR translate, flush the SID.
    fn bring_up(&self, sid: u32, root: u64) {
        self.enable_stream(sid);
        self.wr(self.ttbr_reg(sid, 0), self.ttbr_value(root));
        self.wr(self.tcr_reg(sid), self.translate_value());
        self.flush_sid(sid);
    }

    /// Maps one 16 KiB page at `iova` (36-bit, TTBR 0) through L1 → `l2`.
    fn map_in(&self, l1: u64, l2: u64, iova: u64, pa: u64) {
        self.mem_write(l1 + 8 * ((iova >> 25) & 0x7ff), self.table(l2));
        self.mem_write(l2 + 8 * ((iova >> 14) & 0x7ff), self.leaf(pa));
    }

    fn map(&self, iova: u64, pa: u64) {
        self.map_in(L1, L2, iova, pa);
    }

    fn unmap(&self, iova: u64) {
        self.mem_write(Self::leaf_at(iova), 0);
    }

    // ---- commands ----

    fn command_reg(&self) -> usize {
        if self.t8110() {
            t8110::TLB_OP
        } else {
            t8020::STREAM_COMMAND
        }
    }

    fn busy_bit(&self) -> u32 {
        if self.t8110() {
            t8110::OP_BUSY
        } else {
            t8020::CMD_BUSY
        }
    }

    /// Issues the layout's flush of one SID without waiting.
    fn issue_flush_sid(&self, sid: u32) {
        if self.t8110() {
            self.wr(t8110::TLB_OP, t8110::OP_FLUSH_SID << t8110::OP_SHIFT | sid);
        } else {
            self.wr(t8020::STREAM_SELECT, 1 << sid);
            self.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
        }
    }

    /// Polls BUSY until clear (bounded); the reads that saw it set.
    fn wait(&self) -> u32 {
        let (off, bit) = (self.command_reg(), self.busy_bit());
        for n in 0..100 {
            if self.rd(off) & bit == 0 {
                return n;
            }
        }
        panic!("command register {off:#x} stayed busy");
    }

    fn flush_sid(&self, sid: u32) {
        self.issue_flush_sid(sid);
        self.wait();
    }

    // ---- traffic and records ----

    fn xl(&self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        self.dart.model_mut().translate_bus(sid, iova, write)
    }

    fn misuse(&self) -> Vec<Misuse> {
        self.dart.model().misuse().to_vec()
    }

    fn last_fault(&self) -> FaultEvent {
        *self.dart.model().faults().last().expect("a fault")
    }

    fn error_reg(&self) -> usize {
        if self.t8110() {
            t8110::ERROR
        } else {
            t8020::ERROR
        }
    }
}

// ---- identification ----

#[test]
fn identification_registers_per_variant() {
    for v in VARIANTS {
        let r = rig(v);
        // PARAMS1 [27:24] = 14: 16 KiB pages; PARAMS2 bit 0: bypass.
        assert_eq!(r.rd(params::P0) >> 24 & 0xf, 14, "{}", v.name);
        assert_eq!(r.rd(params::P4) & params::BYPASS_SUPPORTED, 1);
        r.wr(params::P0, 0);
        r.wr(params::P4, 0);
        assert_eq!(r.rd(params::P0) >> 24 & 0xf, 14);
        assert_eq!(r.rd(params::P4) & 1, 1);
        assert_eq!(
            r.misuse(),
            [
                Misuse::ReadOnly { off: params::P0 },
                Misuse::ReadOnly { off: params::P4 }
            ]
        );
        let nb = rig(v.with_bypass(false));
        assert_eq!(nb.rd(params::P4) & params::BYPASS_SUPPORTED, 0);
    }
    // T8110: PARAMS3 PA/VA widths, PARAMS4 SIDs, PARAMS2 lock bit.
    let r = rig(T8110.with_sids(32));
    assert_eq!(r.rd(params::P8) >> 24 & 0x3f, 42);
    assert_eq!(r.rd(params::P8) >> 16 & 0x3f, 36);
    assert_eq!(r.rd(params::PC) & 0x1ff, 32);
    assert_ne!(r.rd(params::P4) & params::LOCK_SUPPORTED, 0);
    // T8020: 0x008/0x00C are plain storage.
    let r = rig(T8103);
    r.wr(params::P8, 0x1234);
    assert_eq!(r.rd(params::P8), 0x1234);
    assert!(r.misuse().is_empty());
}

// ---- golden register writes and PTE words (§M8) ----

#[test]
fn golden_case_a_t8103_m1n1_initialize_and_iomap() {
    let r = rig_at(T8103, Knobs::default(), 0x8_0010_0000, 0x8_0120_0000);
    // m1n1-py `initialize` (T8020).
    for sid in 0..15 {
        r.wr(t8020::TCR + 4 * sid, 0x80);
    }
    r.wr(t8020::TCR + 4 * 15, 0x100);
    for i in 0..64 {
        r.wr(0x200 + 4 * i, 0);
    }
    r.wr(t8020::ERROR, 0xffff_ffff);
    r.wr(t8020::UNK_0F8, 0);
    r.wr(t8020::ENABLED_STREAMS, 0);
    r.wr(t8020::STREAM_SELECT, 0xffff_ffff);
    r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
    assert_eq!(r.wait(), 2, "Knobs::default().busy_polls reads see BUSY");
    // `iomap_at(0, 0x8000_4000, 0x8_0123_4000, 16K)`.
    r.wr(t8020::ENABLED_STREAMS, 1);
    r.wr(t8020::TTBR, 0x8080_0100);
    r.mem_write(0x8_0010_0200, 0x0000_0008_0010_4003);
    r.mem_write(0x8_0010_4008, 0x000f_ff08_0123_4003);
    // `invalidate_streams(1)`.
    r.wr(t8020::STREAM_SELECT, 1);
    r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
    r.wait();
    assert_eq!(r.xl(0, 0x8000_4123, false), Some(0x8_0123_4123));
    assert_eq!(r.xl(0, 0x8000_7ffc, true), Some(0x8_0123_7ffc));
    // SID 15 is BYPASS_DART only: identity (bypass supported), once enabled.
    assert_eq!(r.xl(15, 0x8_0120_0040, false), None);
    r.wr(t8020::ENABLED_STREAMS, 1 | 1 << 15);
    assert_eq!(r.xl(15, 0x8_0120_0040, false), Some(0x8_0120_0040));
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
    let flushes = r.dart.model().flushes().to_vec();
    assert_eq!(flushes.len(), 2);
    assert_eq!(flushes[0].scope, FlushScope::Select(0xffff_ffff));
    assert_eq!(flushes[1].scope, FlushScope::Select(1));
}

#[test]
fn golden_case_b_t6000_dart2_on_the_t8020_layout() {
    let r = rig_at(T6000, Knobs::default(), 0x100_0010_0000, 0x100_0120_0000);
    r.wr(t8020::TCR, 0x80);
    r.wr(t8020::ENABLED_STREAMS, 1);
    r.wr(t8020::TTBR, 0x9000_0100);
    r.mem_write(0x100_0010_0200, 0x0000_0010_0001_0403);
    r.mem_write(0x100_0010_4008, 0x000f_ff10_0012_3403);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x8000_4123, false), Some(0x100_0123_4123));
    // U-Boot/OpenBSD's leaf, bit 1 clear: the same page.
    r.mem_write(0x100_0010_4008, 0x000f_ff10_0012_3401);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x8000_4123, true), Some(0x100_0123_4123));
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
}

#[test]
fn golden_case_c_t8110_m1n1_initialize_and_iomap() {
    let r = rig_at(T8110, Knobs::default(), 0x8_0010_0000, 0x8_0120_0000);
    // m1n1-py `initialize` (T8110).
    for sid in 0..15 {
        r.wr(t8110::TCR + 4 * sid, 0x1);
    }
    r.wr(t8110::TCR + 4 * 15, 0x2);
    for sid in 0..16 {
        r.wr(t8110::TTBR + 4 * sid, 0);
    }
    r.wr(t8110::DISABLE_STREAMS, 0xffff);
    for sid in 0..16 {
        r.wr(t8110::TLB_OP, 0x100 | sid);
        r.wait();
    }
    // `iomap_at`: 0xC00 ← 1; 0x1400 ← 0x0080_0101.
    r.wr(t8110::ENABLE_STREAMS, 1);
    r.wr(t8110::TTBR, 0x0080_0101);
    r.mem_write(0x8_0010_0200, 0x0000_0000_8001_0401);
    r.mem_write(0x8_0010_4008, 0x000f_ff00_8012_3401);
    r.wr(t8110::TLB_OP, 0x100);
    r.wait();
    assert_eq!(r.xl(0, 0x8000_4123, false), Some(0x8_0123_4123));
    // U-Boot/OpenBSD's L1 (bit 1 set) walks the same.
    r.mem_write(0x8_0010_0200, 0x0000_0000_8001_0403);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x8000_4123, true), Some(0x8_0123_4123));
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
    let scopes: Vec<_> = r.dart.model().flushes().iter().map(|f| f.scope).collect();
    assert_eq!(
        scopes[..16],
        (0..16).map(FlushScope::One).collect::<Vec<_>>()[..]
    );
}

#[test]
fn golden_case_d_t8110_four_levels() {
    let r = rig_at(T8110, Knobs::default(), 0x100_0010_0000, 0x100_0120_0000);
    r.wr(t8110::ENABLE_STREAMS, 1);
    r.wr(t8110::TCR, 0x9);
    r.wr(t8110::TTBR, 0x1000_0101);
    r.mem_write(0x100_0010_0090, 0x0000_0010_0001_0401);
    r.mem_write(0x100_0010_4e00, 0x0000_0010_0001_0801);
    r.mem_write(0x100_0010_8008, 0x000f_ff10_0012_3401);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x123_8000_4123, false), Some(0x100_0123_4123));
    // The same tables without FOUR_LEVELS: the root is read as an L1.
    r.wr(t8110::TCR, 0x1);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x123_8000_4123, false), None);
    assert_eq!(
        r.last_fault().kind,
        BlockKind::Walk(DartFault::NoPmd { entry: 0 })
    );
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
}

#[test]
fn four_levels_is_refused_where_the_variant_lacks_it() {
    let v = Variant {
        four_levels: false,
        ..T8110
    };
    let r = rig(v);
    r.wr(t8110::TCR, 0x9);
    assert_eq!(r.rd(t8110::TCR), 0x1);
    assert_eq!(r.misuse(), [Misuse::FourLevelsUnsupported { sid: 0 }]);
}

#[test]
fn the_t8020_ttbr_index_selects_the_root() {
    for v in [T8103, T6000] {
        let r = rig(v);
        r.enable_stream(2);
        r.wr(r.tcr_reg(2), r.translate_value());
        // TTBR 1 (IOVA[37:36] = 1) → L1B → L2B.
        r.wr(r.ttbr_reg(2, 1), r.ttbr_value(L1B));
        let iova = 1u64 << 36 | 0x4000;
        r.map_in(L1B, L2B, iova, DB + 0x8000);
        r.flush_sid(2);
        assert_eq!(r.xl(2, iova | 0x10, false), Some(DB + 0x8010), "{}", v.name);
        // TTBR 0 is not valid.
        assert_eq!(r.xl(2, 0x4000, false), None);
        assert_eq!(
            r.last_fault().kind,
            BlockKind::Walk(DartFault::NoTtbr { index: 0 })
        );
        assert_eq!(r.dart.model().error() & 0xff, t8020::ERR_NO_TTBR);
    }
}

#[test]
fn a_master_moves_bytes_through_each_variant() {
    for v in VARIANTS {
        let r = rig(v);
        r.bring_up(1, L1);
        r.map(0x40_0000, DB + 0x4000);
        r.flush_sid(1);
        let mut m = ModelMaster::new(1, "dma", r.dart.clone());
        let t = Duration::from_millis(1);
        m.write(Iova(0x40_0010), &[1, 2, 3, 4, 5, 6, 7, 8], t)
            .unwrap();
        let mut b = [0u8; 8];
        host_ram::read_bytes(r.host(DB + 0x4010), &mut b);
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8], "{}", v.name);
        let mut back = [0u8; 8];
        m.read(Iova(0x40_0010), &mut back, t).unwrap();
        assert_eq!(back, b);
        // An unmapped page aborts the transfer.
        assert!(m.read(Iova(0x40_4000), &mut back, t).is_err());
    }
}

// ---- the TLB ----

#[test]
fn an_invalid_result_is_cached_until_a_flush() {
    for v in VARIANTS {
        let r = rig(v);
        r.bring_up(0, L1);
        r.map(0x10_0000, DB);
        r.flush_sid(0);
        // Touch the next page while it is unmapped ...
        assert_eq!(r.xl(0, 0x10_4000, false), None, "{}", v.name);
        let e = r.dart.model().tlb_entry(0, 0x10_4000).expect("cached");
        assert!(!e.valid());
        // ... map it without a flush: it still faults, from the TLB.
        r.map(0x10_4000, DB + 0x4000);
        assert_eq!(r.xl(0, 0x10_4000, false), None);
        assert_eq!(
            r.last_fault().kind,
            BlockKind::Walk(DartFault::NoPte { pte: 0 })
        );
        // The flush clears it.
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_4000, false), Some(DB + 0x4000));
        assert!(r.dart.model().tlb_entry(0, 0x10_4000).unwrap().valid());
        // A page whose L1 slot is empty is cached as a stopped walk too.
        assert_eq!(r.xl(0, 0x2_0000_0000, false), None);
        let stopped = r.dart.model().tlb_entry(0, 0x2_0000_0000).unwrap();
        assert!(matches!(
            stopped.cached,
            Cached::Stopped(DartFault::NoPmd { .. })
        ));
    }
}

#[test]
fn without_negative_caching_a_new_mapping_is_seen_at_once() {
    // The knob the test above depends on: off, the same sequence passes
    // without the flush (so that test fails if the model stops caching).
    let knobs = Knobs {
        cache_invalid: false,
        ..Knobs::default()
    };
    let r = rig_at(T8103, knobs, TB, DB);
    r.bring_up(0, L1);
    assert_eq!(r.xl(0, 0x10_4000, false), None);
    assert!(r.dart.model().tlb_entry(0, 0x10_4000).is_none());
    r.map(0x10_4000, DB);
    assert_eq!(r.xl(0, 0x10_4000, false), Some(DB));
}

#[test]
fn an_unmapped_page_stays_reachable_until_the_flush_completes() {
    for v in VARIANTS {
        let r = rig(v);
        r.bring_up(0, L1);
        r.map(0x10_0000, DB);
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_0000, true), Some(DB));
        r.unmap(0x10_0000);
        // Stale: no flush yet.
        assert_eq!(r.xl(0, 0x10_0000, true), Some(DB), "{}", v.name);
        r.issue_flush_sid(0);
        // Still stale while BUSY reads 1 (two polls by default).
        assert_ne!(r.rd(r.command_reg()) & r.busy_bit(), 0);
        assert_eq!(r.xl(0, 0x10_0000, true), Some(DB));
        assert_ne!(r.rd(r.command_reg()) & r.busy_bit(), 0);
        assert_eq!(r.xl(0, 0x10_0000, true), Some(DB));
        assert!(r.dart.model().busy());
        // The read that sees BUSY clear completes the flush.
        assert_eq!(r.rd(r.command_reg()) & r.busy_bit(), 0);
        assert_eq!(r.xl(0, 0x10_0000, true), None);
        let f = *r.dart.model().flushes().last().unwrap();
        assert_eq!(f.tlb_dropped, 1);
    }
}

#[test]
fn busy_lasts_the_configured_polls_and_settle_completes() {
    for polls in [0, 1, 5] {
        let knobs = Knobs {
            busy_polls: polls,
            ..Knobs::default()
        };
        for v in VARIANTS {
            let r = rig_at(v, knobs, TB, DB);
            r.issue_flush_sid(0);
            assert_eq!(r.wait(), polls, "{} {polls}", v.name);
            assert_eq!(r.dart.model().flushes().len(), 1);
        }
    }
    let r = rig(T8110);
    r.issue_flush_sid(0);
    assert!(r.dart.model().busy());
    r.dart.model_mut().settle();
    assert!(!r.dart.model().busy());
    assert_eq!(r.dart.model().flushes().len(), 1);
}

/// Streams 0 and 1 sharing the tables (OpenBSD's mirrored streams), page
/// 0x10_0000 → [`DB`] cached in both TLBs, then unmapped in memory with
/// no flush yet.
fn cached_on_two_streams(v: Variant) -> Rig {
    let r = rig(v);
    r.bring_up(0, L1);
    r.bring_up(1, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(0);
    r.flush_sid(1);
    assert!(r.xl(0, 0x10_0000, false).is_some(), "{}", v.name);
    assert!(r.xl(1, 0x10_0000, false).is_some(), "{}", v.name);
    r.unmap(0x10_0000);
    r
}

#[test]
fn a_command_while_busy_is_ignored_and_recorded() {
    for v in VARIANTS {
        let r = cached_on_two_streams(v);
        r.issue_flush_sid(1);
        // A second command before the first completes.
        if r.t8110() {
            r.wr(t8110::TLB_OP, 0x100);
        } else {
            r.wr(t8020::STREAM_SELECT, 1);
            r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
        }
        r.wait();
        assert!(r.xl(0, 0x10_0000, false).is_some(), "{}", v.name);
        assert!(r.xl(1, 0x10_0000, false).is_none());
        let m = r.misuse();
        assert!(
            m.iter()
                .any(|x| matches!(x, Misuse::CommandWhileBusy { .. })),
            "{m:?}"
        );
        if !r.t8110() {
            assert!(m.contains(&Misuse::SelectWhileBusy { value: 1 }));
        }
    }
}

#[test]
fn flushing_the_wrong_stream_leaves_the_entry() {
    for v in VARIANTS {
        let r = cached_on_two_streams(v);
        r.flush_sid(1);
        assert_eq!(r.xl(0, 0x10_0000, false), Some(DB), "{}", v.name);
        assert_eq!(r.xl(1, 0x10_0000, false), None);
        assert_eq!(r.dart.model().tlb_entries(0).len(), 1);
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_0000, false), None);
    }
}

#[test]
fn whole_dart_flushes_reach_every_stream() {
    // T8110 OP 0; T8020 select all-ones.
    for v in VARIANTS {
        let r = rig(v);
        for sid in [0, 5, 15] {
            r.bring_up(sid, L1);
        }
        r.map(0x10_0000, DB);
        for sid in [0, 5, 15] {
            r.flush_sid(sid);
            assert!(r.xl(sid, 0x10_0000, false).is_some());
        }
        r.unmap(0x10_0000);
        if r.t8110() {
            r.wr(t8110::TLB_OP, 0);
        } else {
            r.wr(t8020::STREAM_SELECT, 0xffff);
            r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
        }
        r.wait();
        for sid in [0, 5, 15] {
            assert_eq!(r.xl(sid, 0x10_0000, false), None, "{} {sid}", v.name);
        }
    }
}

#[test]
fn a_cached_l1_entry_hides_a_new_l2_table_until_a_flush() {
    for v in VARIANTS {
        let r = rig(v);
        r.bring_up(0, L1);
        r.map_in(L1, L2, 0x10_0000, DB);
        r.flush_sid(0);
        assert!(r.xl(0, 0x10_0000, false).is_some());
        assert_eq!(r.dart.model().walk_entries(0).len(), 1);
        assert_eq!(r.dart.model().walk_entries(0)[0].level, DartLevel::L1);
        // Re-point the L1 slot at L2B, which maps another page of the same
        // 32 MiB; the cached L1 entry still leads to L2 (no leaf there).
        r.map_in(L1, L2B, 0x10_4000, DB + 0x4000);
        assert_eq!(r.xl(0, 0x10_4000, false), None, "{}", v.name);
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_4000, false), Some(DB + 0x4000));
        assert_eq!(r.dart.model().flushes().last().unwrap().walk_dropped, 1);
    }
}

// ---- the other layout's offsets and the sources' known bugs ----

#[test]
fn the_t8110_command_at_the_t8020_offset_does_nothing() {
    let r = rig(T8110);
    r.bring_up(0, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(0);
    let before = r.dart.model().flushes().len();
    assert!(r.xl(0, 0x10_0000, false).is_some());
    r.unmap(0x10_0000);
    // A T8020-style flush on a T8110: select + command at 0x034 / 0x020.
    r.wr(t8020::STREAM_SELECT, 1);
    r.wr(t8020::STREAM_COMMAND, 0x100);
    r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
    assert_eq!(r.rd(t8020::STREAM_COMMAND), t8020::CMD_INVALIDATE);
    assert_eq!(r.xl(0, 0x10_0000, false), Some(DB));
    assert_eq!(r.dart.model().flushes().len(), before);
    assert_eq!(
        r.misuse(),
        [
            Misuse::OtherLayout {
                off: t8020::STREAM_SELECT,
                value: 1
            },
            Misuse::OtherLayout {
                off: t8020::STREAM_COMMAND,
                value: 0x100
            },
            Misuse::OtherLayout {
                off: t8020::STREAM_COMMAND,
                value: t8020::CMD_INVALIDATE
            },
        ]
    );
    // U-Boot's T8110 flush: 0x100 written to ERROR (0x100).
    r.wr(t8110::ERROR, 0x100);
    assert_eq!(r.xl(0, 0x10_0000, false), Some(DB));
    assert_eq!(
        r.misuse().last(),
        Some(&Misuse::NotAnErrorClear { value: 0x100 })
    );
    // m1n1-C's poll of 0x700 after a real TLB_OP.
    r.issue_flush_sid(0);
    let _ = r.rd(t8110::PERF_INTR_ENABLE);
    assert_eq!(
        r.misuse().last(),
        Some(&Misuse::PolledWrongOffset { off: 0x700 })
    );
    assert!(r.dart.model().busy(), "the 0x700 read did not complete it");
    r.wait();
    assert_eq!(r.xl(0, 0x10_0000, false), None);
}

#[test]
fn the_t8110_command_on_a_t8020_dart_lands_in_remap() {
    for v in [T8103, T6000] {
        let r = rig(v);
        r.bring_up(0, L1);
        r.map(0x10_0000, DB);
        r.flush_sid(0);
        assert!(r.xl(0, 0x10_0000, false).is_some());
        r.unmap(0x10_0000);
        r.wr(t8110::TLB_OP, 0x100);
        assert_eq!(r.rd(t8020::REMAP0), 0x100);
        assert_eq!(r.xl(0, 0x10_0000, false), Some(DB), "{}", v.name);
        assert_eq!(
            r.misuse(),
            [Misuse::OtherLayout {
                off: t8110::TLB_OP,
                value: 0x100
            }]
        );
        // T8110 TCR/TTBR/enable offsets are recorded too.
        r.wr(t8110::TCR, 1);
        r.wr(t8110::ENABLE_STREAMS, 1);
        assert_eq!(r.misuse().len(), 3);
    }
}

#[test]
fn unknown_commands_are_ignored_and_recorded() {
    let r = rig(T8110);
    r.wr(t8110::TLB_OP, 2 << t8110::OP_SHIFT); // OP 2, TLB read
    r.wr(t8110::TLB_OP, 1 << 14 | 0x100); // FLUSH_VA_RANGE
    assert!(!r.dart.model().busy());
    assert!(r.dart.model().flushes().is_empty());
    assert_eq!(
        r.misuse(),
        [
            Misuse::UnknownCommand { value: 0x200 },
            Misuse::UnknownCommand { value: 0x4100 }
        ]
    );
    let r = rig(T8103);
    r.wr(t8020::STREAM_COMMAND, 1 << 21);
    assert!(r.dart.model().flushes().is_empty());
    assert_eq!(r.misuse(), [Misuse::UnknownCommand { value: 1 << 21 }]);
}

// ---- locks ----

#[test]
fn a_locked_t8020_dart_ignores_reprogramming() {
    for v in [T8103, T6000] {
        let r = rig(v);
        r.bring_up(0, L1);
        r.map(0x10_0000, DB);
        r.flush_sid(0);
        // The boot loader's lock: CONFIG |= LOCK (m1n1 `dart_lock_adt`).
        let c = r.rd(t8020::CONFIG);
        r.wr(t8020::CONFIG, c | t8020::CONFIG_LOCK);
        assert!(r.dart.model().locked());
        let ttbr = r.rd(t8020::TTBR);
        r.wr(t8020::TTBR, r.ttbr_value(L1B));
        r.wr(t8020::TCR, 0);
        r.wr(t8020::TCR + 4, 0x1100);
        assert_eq!(r.rd(t8020::TTBR), ttbr, "{}", v.name);
        assert_eq!(r.rd(t8020::TCR), 0x80);
        assert_eq!(r.rd(t8020::TCR + 4), 0);
        // The lock sticks; other CONFIG bits stay writable.
        r.wr(t8020::CONFIG, 0x100);
        assert_eq!(r.rd(t8020::CONFIG), 0x100 | t8020::CONFIG_LOCK);
        assert_eq!(
            r.misuse(),
            [
                Misuse::WhileLocked {
                    off: t8020::TTBR,
                    value: r.ttbr_value(L1B)
                },
                Misuse::WhileLocked {
                    off: t8020::TCR,
                    value: 0
                },
                Misuse::WhileLocked {
                    off: t8020::TCR + 4,
                    value: 0x1100
                },
                Misuse::Unlock {
                    off: t8020::CONFIG,
                    value: 0x100
                },
            ]
        );
        // Still usable: tables, flushes, stream enables, errors.
        assert_eq!(r.xl(0, 0x10_0000, false), Some(DB));
        r.map(0x10_4000, DB + 0x4000);
        r.enable_stream(3);
        assert_eq!(r.rd(t8020::ENABLED_STREAMS), 1 | 1 << 3);
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_4000, false), Some(DB + 0x4000));
        assert_eq!(r.xl(0, 0x20_0000, false), None);
        assert_ne!(r.rd(t8020::ERROR), 0);
        r.wr(t8020::ERROR, 0xffff_ffff);
        assert_eq!(r.rd(t8020::ERROR), 0);
        // Until a power cycle.
        r.dart.model_mut().reset();
        assert!(!r.dart.model().locked());
        r.wr(t8020::TCR, 0x80);
        assert_eq!(r.rd(t8020::TCR), 0x80);
    }
}

#[test]
fn a_locked_t8110_dart_ignores_reprogramming_and_protect_lock_pins_it() {
    let r = rig(T8110);
    r.bring_up(0, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(0);
    r.wr(t8110::PROTECT, t8110::PROTECT_TCR_TTBR);
    assert!(r.dart.model().locked());
    r.wr(t8110::TCR, 0x6);
    r.wr(t8110::TTBR, 0);
    assert_eq!(r.rd(t8110::TCR), 0x1);
    assert_eq!(r.rd(t8110::TTBR), r.ttbr_value(L1));
    assert_eq!(r.misuse().len(), 2);
    // Writing PROTECT sets bits; it does not clear them.
    r.wr(t8110::PROTECT, t8110::PROTECT_REG_4XX);
    assert_eq!(r.rd(t8110::PROTECT), 0x3);
    r.wr(0x404, 0x55);
    assert_eq!(r.rd(0x404), 0);
    // UNPROTECT clears, until PROTECT_LOCK.
    r.wr(t8110::UNPROTECT, t8110::PROTECT_REG_4XX);
    assert_eq!(r.rd(t8110::PROTECT), t8110::PROTECT_TCR_TTBR);
    r.wr(t8110::PROTECT_LOCK, 1);
    r.wr(t8110::UNPROTECT, t8110::PROTECT_TCR_TTBR);
    assert!(r.dart.model().locked());
    r.wr(t8110::TCR, 0);
    assert_eq!(r.rd(t8110::TCR), 0x1);
    assert_eq!(
        r.misuse()[2..],
        [
            Misuse::WhileLocked {
                off: 0x404,
                value: 0x55
            },
            Misuse::Unlock {
                off: t8110::UNPROTECT,
                value: 1
            },
            Misuse::WhileLocked {
                off: t8110::TCR,
                value: 0
            },
        ]
    );
    // Flushes and stream banks keep working.
    r.unmap(0x10_0000);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 0x10_0000, false), None);
    r.wr(t8110::ENABLE_STREAMS, 1 << 4);
    assert_eq!(r.rd(t8110::ENABLE_STREAMS), 0x11);
    // UNPROTECT before PROTECT_LOCK does unlock.
    let r = rig(T8110);
    r.dart.model_mut().lock();
    r.wr(t8110::UNPROTECT, 1);
    assert!(!r.dart.model().locked());
}

#[test]
fn ttbr_changes_under_a_translating_stream_are_recorded() {
    for v in VARIANTS {
        let r = rig(v);
        r.bring_up(0, L1);
        r.wr(r.ttbr_reg(0, 0), r.ttbr_value(L1B));
        assert_eq!(
            r.misuse(),
            [Misuse::TtbrWhileTranslating {
                sid: 0,
                index: 0,
                value: r.ttbr_value(L1B)
            }],
            "{}",
            v.name
        );
        // Applied.
        assert_eq!(r.rd(r.ttbr_reg(0, 0)), r.ttbr_value(L1B));
    }
}

// ---- errors ----

#[test]
fn t8020_error_latch_contents_and_clearing() {
    let r = rig(T8103);
    r.bring_up(3, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(3);
    assert!(!r.dart.model().irq_pending());
    // A write into a 32 MiB with no L2 table: NO_PMD, direction, SID.
    assert_eq!(r.xl(3, 0x1_2345_4008, true), None);
    let e = r.rd(t8020::ERROR);
    assert_eq!(
        e,
        t8020::ERR_FLAG | 3 << 24 | t8020::ERR_WRITE | t8020::ERR_NO_PMD
    );
    assert_eq!(r.rd(t8020::ERROR_ADDR_LO), 0x2345_4008);
    assert_eq!(r.rd(t8020::ERROR_ADDR_HI), 0x1);
    assert!(r.dart.model().irq_pending());
    // A second fault leaves the latch alone.
    assert_eq!(r.xl(3, 0x10_4000, false), None);
    assert_eq!(r.rd(t8020::ERROR), e);
    assert!(!r.last_fault().latched);
    // Write 1 to clear (m1n1-py writes all-ones; OpenBSD the value read).
    r.wr(t8020::ERROR, e);
    assert_eq!(r.rd(t8020::ERROR), 0);
    assert!(!r.dart.model().irq_pending());
    assert_eq!(r.xl(3, 0x10_4000, false), None);
    assert_eq!(
        r.rd(t8020::ERROR),
        t8020::ERR_FLAG | 3 << 24 | t8020::ERR_NO_PTE
    );
    assert_eq!(r.rd(t8020::ERROR_ADDR_LO), 0x10_4000);
    // Writes to ERROR_ADDR are ignored.
    r.wr(t8020::ERROR_ADDR_LO, 0);
    assert_eq!(r.rd(t8020::ERROR_ADDR_LO), 0x10_4000);
    // Sub-page protection: a DART1 leaf with bit 1 clear and END = 3.
    r.wr(t8020::ERROR, 0xffff_ffff);
    r.mem_write(Rig::leaf_at(0x10_8000), 3 << 40 | (DB + 0x8000) | 1);
    r.flush_sid(3);
    assert_eq!(r.xl(3, 0x10_800c, false), Some(DB + 0x800c));
    assert_eq!(r.xl(3, 0x10_8010, false), None);
    assert_eq!(
        r.rd(t8020::ERROR),
        t8020::ERR_FLAG | 3 << 24 | t8020::ERR_SUBPAGE_PROT
    );
    // Bit 1 set turns the window off.
    r.mem_write(Rig::leaf_at(0x10_8000), 3 << 40 | (DB + 0x8000) | 0b11);
    r.flush_sid(3);
    assert_eq!(r.xl(3, 0x10_8010, false), Some(DB + 0x8010));
}

#[test]
fn t8110_error_latch_contents_and_clearing() {
    let r = rig(T8110.with_sids(64));
    r.bring_up(40, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(40);
    assert_eq!(r.xl(40, 0x10_4000, true), None);
    let e = r.rd(t8110::ERROR);
    assert_eq!(
        e,
        t8110::ERR_FLAG | 40 << 20 | t8110::ERR_WRITE | t8110::ERR_NO_PTE
    );
    assert_eq!(r.rd(t8110::ERROR_ADDR_LO), 0x10_4000);
    assert_eq!(r.rd(t8110::ERR_SECONDARY + 4), 1 << 8);
    // A second fault sets SECONDARY and leaves the rest.
    assert_eq!(r.xl(40, 0x4000_0000, false), None);
    assert_eq!(r.rd(t8110::ERROR), e | t8110::ERR_SECONDARY_BIT);
    assert_eq!(r.rd(t8110::ERROR_ADDR_LO), 0x10_4000);
    // OpenBSD's clear: write back what was read.
    let now = r.rd(t8110::ERROR);
    r.wr(t8110::ERROR, now);
    assert_eq!(r.rd(t8110::ERROR), 0);
    assert!(!r.dart.model().irq_pending());
    r.wr(t8110::ERR_SECONDARY + 4, 0xffff_ffff);
    assert_eq!(r.rd(t8110::ERR_SECONDARY + 4), 0);
    // DART2 RDPROT / WRPROT.
    r.mem_write(Rig::leaf_at(0x10_c000), r.leaf(DB + 0xc000) | 1 << 3);
    r.mem_write(Rig::leaf_at(0x11_0000), r.leaf(DB + 0x10000) | 1 << 2);
    r.flush_sid(40);
    assert_eq!(r.xl(40, 0x10_c000, true), Some(DB + 0xc000));
    assert_eq!(r.xl(40, 0x10_c000, false), None);
    assert_eq!(r.rd(t8110::ERROR) & 0xfff, t8110::ERR_READ_FAULT);
    r.wr(t8110::ERROR, 0xffff_ffff);
    assert_eq!(r.xl(40, 0x11_0000, false), Some(DB + 0x10000));
    assert_eq!(r.xl(40, 0x11_0000, true), None);
    assert_eq!(
        r.rd(t8110::ERROR),
        t8110::ERR_FLAG | 40 << 20 | t8110::ERR_WRITE | t8110::ERR_WRITE_FAULT
    );
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
}

#[test]
fn t8110_four_level_walks_report_a_missing_l0_entry() {
    let r = rig(T8110);
    r.enable_stream(0);
    r.wr(t8110::TCR, t8110::TCR_TRANSLATE | t8110::TCR_FOUR_LEVELS);
    r.wr(t8110::TTBR, r.ttbr_value(L1));
    r.flush_sid(0);
    assert_eq!(r.xl(0, 1 << 36, false), None);
    assert_eq!(r.rd(t8110::ERROR), t8110::ERR_FLAG | t8110::ERR_NO_PGD);
    // L0[1] → L1B → L2 → page.
    r.mem_write(L1 + 8, r.table(L1B));
    r.map_in(L1B, L2, 0x4000, DB);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 1 << 36 | 0x4004, false), Some(DB + 4));
}

// ---- TCR modes ----

#[test]
fn bypass_works_where_params2_allows_and_is_refused_where_not() {
    for v in VARIANTS {
        let byp = if v.layout == Layout::T8110 {
            0x6
        } else {
            0x1100
        };
        let dapf = if v.layout == Layout::T8110 {
            0x4
        } else {
            0x1000
        };
        let r = rig(v);
        r.enable_stream(0);
        r.wr(r.tcr_reg(0), byp);
        assert_eq!(r.rd(r.tcr_reg(0)), byp);
        assert_eq!(r.xl(0, DB + 0x40, true), Some(DB + 0x40), "{}", v.name);
        let r = rig(v.with_bypass(false));
        r.enable_stream(0);
        r.wr(r.tcr_reg(0), byp);
        assert_eq!(r.rd(r.tcr_reg(0)), dapf, "{}", v.name);
        assert_eq!(
            r.misuse(),
            [Misuse::BypassUnsupported { sid: 0, value: byp }]
        );
        assert_eq!(r.xl(0, DB + 0x40, true), None);
        assert_eq!(r.last_fault().kind, BlockKind::TcrOff);
    }
}

#[test]
fn tcr_off_and_invalid_block_and_the_knob_makes_off_fault() {
    for v in VARIANTS {
        let r = rig(v);
        r.enable_stream(0);
        assert_eq!(r.xl(0, 0, false), None);
        assert_eq!(r.last_fault().kind, BlockKind::TcrOff);
        assert_eq!(r.rd(r.error_reg()), 0, "{}: nothing latched", v.name);
        let both = if v.layout == Layout::T8110 {
            0x3
        } else {
            0x180
        };
        r.wr(r.tcr_reg(0), both);
        assert_eq!(
            r.misuse(),
            [Misuse::InvalidTcr {
                sid: 0,
                value: both
            }]
        );
        assert_eq!(r.xl(0, 0, false), None);
        assert_eq!(r.last_fault().kind, BlockKind::TcrInvalid);
        let knobs = Knobs {
            tcr_off: TcrOff::Fault,
            ..Knobs::default()
        };
        let r = rig_at(v, knobs, TB, DB);
        r.enable_stream(0);
        assert_eq!(r.xl(0, 0x4000, true), None);
        assert_eq!(r.rd(r.error_reg()) & 0xff, 1, "NO_TTBR");
        assert!(r.last_fault().latched);
    }
}

#[test]
fn stream_enable_banks() {
    // T8110: write 1 to set at 0xC00, write 1 to clear at 0xC20; both read
    // the enabled set.
    let r = rig(T8110.with_sids(64));
    r.wr(t8110::ENABLE_STREAMS, 0x5);
    r.wr(t8110::ENABLE_STREAMS, 0x2);
    r.wr(t8110::ENABLE_STREAMS + 4, 0x1);
    assert_eq!(r.rd(t8110::ENABLE_STREAMS), 0x7);
    r.wr(t8110::DISABLE_STREAMS, 0x4);
    assert_eq!(r.rd(t8110::ENABLE_STREAMS), 0x3);
    assert_eq!(r.rd(t8110::DISABLE_STREAMS), 0x3);
    assert!(r.dart.model().stream_enabled(32));
    // A disabled stream's transaction is dropped, nothing latched.
    r.bring_up(5, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(5);
    assert!(r.xl(5, 0x10_0000, false).is_some());
    r.wr(t8110::DISABLE_STREAMS, 1 << 5);
    assert_eq!(r.xl(5, 0x10_0000, false), None);
    assert_eq!(r.last_fault().kind, BlockKind::StreamDisabled);
    assert_eq!(r.rd(t8110::ERROR), 0);
    // T8020: one read/write word.
    let r = rig(T8103);
    r.wr(t8020::ENABLED_STREAMS, 0x8001);
    r.wr(t8020::ENABLED_STREAMS, 0x0002);
    assert_eq!(r.rd(t8020::ENABLED_STREAMS), 0x2);
    // With the gate off, enable bits do not matter.
    let knobs = Knobs {
        enable_gates: false,
        ..Knobs::default()
    };
    let r = rig_at(T8103, knobs, TB, DB);
    r.wr(t8020::TCR, 0x1100);
    assert_eq!(r.xl(0, DB, false), Some(DB));
}

#[test]
fn iova_bits_above_the_translated_width() {
    // T8110 without FOUR_LEVELS translates 36 bits: bit 40 is dropped by
    // default (DCP-style firmware IOVAs), a fault with the knob off.
    let r = rig(T8110);
    r.bring_up(0, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 1 << 40 | 0x10_0000, false), Some(DB));
    let knobs = Knobs {
        ignore_high_bits: false,
        ..Knobs::default()
    };
    let r = rig_at(T8110, knobs, TB, DB);
    r.bring_up(0, L1);
    r.map(0x10_0000, DB);
    r.flush_sid(0);
    assert_eq!(r.xl(0, 1 << 40 | 0x10_0000, false), None);
    assert_eq!(r.rd(t8110::ERROR_ADDR_HI), 1 << 8);
    assert_eq!(r.rd(t8110::ERROR) & 0xff, t8110::ERR_NO_TTBR);
}

#[test]
fn dart1_rw_bits_only_with_the_knob() {
    for (on, expect) in [(false, Some(DB)), (true, None)] {
        let knobs = Knobs {
            dart1_rw_bits: on,
            ..Knobs::default()
        };
        let r = rig_at(T8103, knobs, TB, DB);
        r.bring_up(0, L1);
        r.map(0x10_0000, DB);
        r.mem_write(Rig::leaf_at(0x10_0000), r.leaf(DB) | 1 << 7); // NO_WRITE
        r.flush_sid(0);
        assert_eq!(r.xl(0, 0x10_0000, true), expect);
        if on {
            assert_eq!(r.rd(t8020::ERROR) & 0xff, t8020::ERR_WRITE_FAULT);
        }
    }
}

// ---- access shape and memory ----

#[test]
fn bad_accesses_and_outside_ram_are_recorded() {
    let r = rig(T8103);
    let _ = r.mmio.read64(0x100);
    r.mmio.write32(0x4000, 1);
    r.mmio.write8(0x101, 1);
    assert_eq!(
        r.misuse(),
        [
            Misuse::BadAccess {
                off: 0x100,
                bytes: 8
            },
            Misuse::BadAccess {
                off: 0x4000,
                bytes: 4
            },
            Misuse::BadAccess {
                off: 0x101,
                bytes: 1
            },
        ]
    );
    // A TTBR pointing outside every window: the walk's fetch fails.
    let r = rig(T8103);
    r.bring_up(0, 0x10_0000_0000);
    assert_eq!(r.xl(0, 0x4000, false), None);
    assert_eq!(r.rd(t8020::ERROR) & 0xff, t8020::ERR_PTE_READ_FAULT);
    assert_eq!(r.misuse(), [Misuse::OutsideRam { at: 0x10_0000_0000 }]);
    // A leaf pointing outside every window: blocked at the output.
    let r = rig(T8103);
    r.bring_up(0, L1);
    r.map(0x4000, 0x20_0000_0000);
    r.flush_sid(0);
    assert_eq!(r.dart.model_mut().translate(0, 0x4000, false), None);
    assert_eq!(r.last_fault().kind, BlockKind::OutsideRam);
    // A flush of a SID the DART does not have.
    let r = rig(T8110);
    r.flush_sid(200);
    assert_eq!(r.misuse(), [Misuse::NoSuchStream { sid: 200 }]);
}
