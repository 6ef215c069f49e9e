//! The DART driver against a register-recording fake: the exact register
//! writes of identification, reset, stream programming, the flushes of both
//! layouts (and their bounded polls), bypass, the lock and the error
//! register, each checked against the values docs/hw/dart.md gives (m1n1's
//! golden TTBR words among them).  The fake stores what is written and
//! reads it back; it does not translate — the driver against the
//! behavioural model is `model_runs.rs`.

use super::adapter::DartIommu;
use super::hw::{DartError, DartHw};
use super::probe::{bring_up_hw, locked_reason};
use super::regs::Regs;
use super::sids::SidSet;
use super::variant::{self, Layout, Variant};
use crate::iommu::pgtable::dart::PteFormat;
use crate::iommu::pgtable::{Codec, Dart, Prot, RamArena};
use crate::iommu::{Domain, Iommu, IommuError, Observe, StreamId};
use crate::mm::{BusAddr, Iova, PhysAddr, VirtAddr};
use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use std::rc::Rc;

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 1,
    }))
}

/// Registers as a store: reads give the last value written (or the
/// preset), every write is logged.  Busy bits read set for `busy_reads`
/// reads after each command, then clear; with the lock set, TCR and TTBR
/// writes are dropped.
#[derive(Default)]
struct Fake {
    regs: BTreeMap<usize, u32>,
    log: Vec<(usize, u32)>,
    layout: Option<Layout>,
    busy_reads: u32,
    busy_left: u32,
    locked: bool,
}

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Fake>>);

impl Shared {
    fn writes(&self) -> Vec<(usize, u32)> {
        self.0.borrow().log.clone()
    }
    fn clear_log(&self) {
        self.0.borrow_mut().log.clear();
    }
    fn set(&self, off: usize, v: u32) {
        self.0.borrow_mut().regs.insert(off, v);
    }
}

fn is_config(layout: Layout, off: usize) -> bool {
    match layout {
        Layout::T8020 => (0x100..0x800).contains(&off),
        Layout::T8110 => (0x1000..0x1800).contains(&off),
    }
}

impl RegisterModel for Shared {
    fn read(&mut self, off: usize, _: Width) -> u64 {
        let mut f = self.0.borrow_mut();
        let v = f.regs.get(&off).copied().unwrap_or(0);
        let busy_reg = match f.layout {
            Some(Layout::T8020) => off == 0x020,
            Some(Layout::T8110) => off == 0x080,
            None => false,
        };
        if busy_reg && f.busy_left > 0 {
            f.busy_left -= 1;
            let bit = if off == 0x020 { 1 << 2 } else { 1 << 31 };
            return u64::from(v | bit);
        }
        u64::from(v)
    }
    fn write(&mut self, off: usize, _: Width, val: u64) {
        let mut f = self.0.borrow_mut();
        let val = val as u32;
        f.log.push((off, val));
        let layout = f.layout.unwrap_or(Layout::T8020);
        if f.locked && is_config(layout, off) {
            return;
        }
        if off == 0x020 || off == 0x080 {
            f.busy_left = f.busy_reads;
        }
        // ERROR is write-1-to-clear.
        let error = if layout == Layout::T8020 {
            0x040
        } else {
            0x100
        };
        if off == error {
            let now = f.regs.get(&off).copied().unwrap_or(0);
            f.regs.insert(off, now & !val);
            return;
        }
        f.regs.insert(off, val);
    }
}

type Hw = DartHw<ModelMmio<Shared>>;

/// A fake DART of variant `v`: PARAMS1 page shift 14, PARAMS2 bypass bit
/// `bypass`; T8110 PARAMS3 `va`/42-bit PA and PARAMS4 16 SIDs.
fn fake(v: Variant, bypass: bool, va: u32) -> Shared {
    let s = Shared::default();
    s.0.borrow_mut().layout = Some(v.layout);
    s.set(0x000, 14 << 24);
    s.set(0x004, u32::from(bypass));
    if v.layout == Layout::T8110 {
        s.set(0x008, 42 << 24 | va << 16 | 0x0201);
        s.set(0x00c, 1 << 16 | 16);
    }
    s
}

fn hw(s: &Shared, v: Variant) -> Hw {
    DartHw::identify(Regs::new(ModelMmio::new(s.clone())), v, clock()).unwrap()
}

fn brought_up(s: &Shared, v: Variant) -> (Hw, Vec<String>) {
    let mut lines = Vec::new();
    let h = bring_up_hw(
        Regs::new(ModelMmio::new(s.clone())),
        v,
        clock(),
        "iommu@0",
        &mut |l| lines.push(String::from(l)),
    )
    .unwrap();
    (h, lines)
}

#[test]
fn t8103_identifies_and_resets_as_linux_does() {
    let s = fake(variant::T8103, true, 0);
    s.set(0x040, 0x8000_0004);
    let (h, lines) = brought_up(&s, variant::T8103);
    let id = h.ident();
    assert_eq!((id.sids, id.bypass, id.lock), (16, true, None));
    assert_eq!(id.format, Dart::t8103());
    assert!(lines[0].contains("t8103 DART (T8020 layout, Dart1 PTEs), 16 streams, 2-level 32-bit IOVA, 36-bit output, bypass supported"), "{lines:?}");
    let w = s.writes();
    // Every TCR 0, then its four TTBRs 0.
    for sid in 0..16 {
        let tcr = 0x100 + 4 * sid;
        let at = w.iter().position(|&(o, _)| o == tcr).unwrap();
        assert_eq!(w[at].1, 0);
        for idx in 0..4 {
            let ttbr = 0x200 + 16 * sid + 4 * idx;
            let t = w.iter().position(|&(o, _)| o == ttbr).unwrap();
            assert!(t > at && w[t].1 == 0, "TTBR({sid},{idx})");
        }
    }
    // Streams enabled, the latched error written back, then one flush of
    // all 16 streams.
    let tail: Vec<(usize, u32)> = w.iter().copied().skip(16 * 5).collect();
    assert_eq!(
        tail,
        [
            (0x0fc, 0xffff),
            (0x040, 0x8000_0004),
            (0x034, 0xffff),
            (0x020, 0x0010_0000)
        ]
    );
    assert_eq!(s.0.borrow().regs[&0x040], 0, "error cleared");
}

#[test]
fn ttbr_and_tcr_words_match_m1n1s_golden_values() {
    // docs/hw/dart.md §M8: T8020 TTBR for an L1 at 0x8_0010_0000 is
    // 0x8080_0100, at 0x100_0010_0000 0x9000_0100; T8110 0x0080_0101 and,
    // with FOUR_LEVEL (TCR 0x9), 0x1000_0101.
    let s = fake(variant::T8103, true, 0);
    let (mut h, _) = brought_up(&s, variant::T8103);
    s.clear_log();
    h.program_stream(0, 0x8_0010_0000, &Dart::t8103()).unwrap();
    assert_eq!(
        s.writes(),
        [
            (0x200, 0x8080_0100),
            (0x204, 0),
            (0x208, 0),
            (0x20c, 0),
            (0x100, 0x80)
        ]
    );
    assert_eq!(h.ttbr_value(0x100_0010_0000), Ok(0x9000_0100));

    let s = fake(variant::T8110, true, 36);
    let (mut h, _) = brought_up(&s, variant::T8110);
    let f = h.ident().format;
    assert_eq!((f.levels(), f.input_bits(), f.output_bits()), (2, 36, 42));
    s.clear_log();
    h.program_stream(3, 0x8_0010_0000, &f).unwrap();
    assert_eq!(s.writes(), [(0x140c, 0x0080_0101), (0x100c, 0x1)]);

    let s = fake(variant::T8110, true, 42);
    let (mut h, _) = brought_up(&s, variant::T8110);
    let f = h.ident().format;
    assert_eq!((f.levels(), f.input_bits()), (3, 42));
    s.clear_log();
    h.program_stream(0, 0x100_0010_0000, &f).unwrap();
    assert_eq!(s.writes(), [(0x1400, 0x1000_0101), (0x1000, 0x9)]);
    // Tables the TTBR cannot hold.
    assert_eq!(
        h.ttbr_value(0x100_0010_1000),
        Err(DartError::BadTable {
            root: 0x100_0010_1000,
            limit: 1 << 42
        })
    );
}

#[test]
fn t8020_flush_selects_the_set_and_polls_busy() {
    let s = fake(variant::T8103, true, 0);
    let (mut h, _) = brought_up(&s, variant::T8103);
    s.0.borrow_mut().busy_reads = 5;
    s.clear_log();
    let mut set = SidSet::one(1);
    set.insert(4);
    assert_eq!(h.flush(set), Ok(1));
    assert_eq!(s.writes(), [(0x034, 0b1_0010), (0x020, 0x0010_0000)]);
    assert_eq!(s.0.borrow().busy_left, 0, "polled until BUSY cleared");
}

#[test]
fn t8110_flush_is_one_tlb_op_per_stream_at_0x080() {
    let s = fake(variant::T8110, true, 36);
    let (mut h, _) = brought_up(&s, variant::T8110);
    s.0.borrow_mut().busy_reads = 3;
    s.clear_log();
    let mut set = SidSet::one(2);
    set.insert(9);
    assert_eq!(h.flush(set), Ok(2));
    assert_eq!(s.writes(), [(0x080, 0x102), (0x080, 0x109)]);
    // The reset flushed everything with OP 0.
    let s = fake(variant::T8110, true, 36);
    let _ = brought_up(&s, variant::T8110);
    let w = s.writes();
    assert_eq!(w.last(), Some(&(0x080, 0)));
    assert!(w.contains(&(0x104, 0)), "ERROR_MASK 0");
    assert!(w.contains(&(0xc00, 0xffff)), "16 streams enabled");
    assert!(w.contains(&(0x1c0, u32::MAX)), "error streams cleared");
}

#[test]
fn a_flush_that_never_completes_ends_at_the_deadline() {
    for v in [variant::T8103, variant::T8110] {
        let s = fake(v, true, 36);
        let (mut h, _) = brought_up(&s, v);
        s.0.borrow_mut().busy_reads = u32::MAX;
        let e = h.flush(SidSet::one(0)).unwrap_err();
        let (reg, off) = match v.layout {
            Layout::T8020 => ("STREAM_COMMAND", 0x020),
            Layout::T8110 => ("TLB_OP", 0x080),
        };
        assert!(
            matches!(e, DartError::Busy { reg: r, offset, .. } if r == reg && offset == off),
            "{e:?}"
        );
        assert!(format!("{e}").contains("still busy after 1000 us"), "{e}");
    }
}

#[test]
fn a_locked_dart_is_never_written_and_its_streams_are_named() {
    for (v, lock_off, lock_val) in [
        (variant::T8103, 0x060, 1u32 << 15),
        (variant::T6000, 0x060, 1 << 15),
        (variant::T8110, 0x200, 1),
    ] {
        let s = fake(v, true, 36);
        s.set(lock_off, lock_val);
        // The boot loader left stream 0 translating.
        let (tcr, ttbr) = match v.layout {
            Layout::T8020 => (0x100, 0x200),
            Layout::T8110 => (0x1000, 0x1400),
        };
        s.set(tcr, 0x80);
        s.set(ttbr, 0x8080_0100);
        s.0.borrow_mut().locked = true;
        let (mut h, lines) = brought_up(&s, v);
        assert!(s.writes().is_empty(), "{}: wrote {:x?}", v.name, s.writes());
        assert!(lines.iter().any(|l| l.contains("locked: left as found")));
        let why = locked_reason(&h, "iommu@0").unwrap();
        assert!(why.contains("locked by the boot loader"), "{why}");
        assert!(why.contains(&format!("{lock_off:#05x}")), "{why}");
        assert!(
            why.contains("streams left configured: 0 (TCR 0x80, TTBR0 0x80800100)"),
            "{why}"
        );
        let e = h
            .program_stream(1, 0x8_0000_0000, &h.ident().format)
            .unwrap_err();
        assert!(
            matches!(e, DartError::Locked { offset, .. } if offset == lock_off),
            "{e:?}"
        );
        assert!(h.block_stream(0).is_err() && h.reset().is_err());
        assert!(s.writes().is_empty());
        // Flushes still work on a locked DART (docs/hw/dart.md §9).
        assert!(h.flush(SidSet::one(0)).is_ok());
    }
}

#[test]
fn the_ignore_lock_bug_reprograms_and_the_read_back_catches_it() {
    let s = fake(variant::T8103, true, 0);
    s.set(0x060, 1 << 15);
    s.0.borrow_mut().locked = true;
    let mut h = hw(&s, variant::T8103);
    h.bugs.ignore_lock = true;
    h.reset().unwrap();
    assert!(s.writes().iter().any(|&(o, _)| o == 0x100), "TCR written");
    let e = h
        .program_stream(0, 0x8_0010_0000, &Dart::t8103())
        .unwrap_err();
    assert_eq!(
        e,
        DartError::NotTaken {
            reg: "TTBR",
            offset: 0x200,
            wrote: 0x8080_0100,
            read: 0
        }
    );
}

#[test]
fn bypass_only_where_params2_and_the_variant_allow_it() {
    let s = fake(variant::T8103, true, 0);
    let (mut h, _) = brought_up(&s, variant::T8103);
    s.clear_log();
    h.bypass_stream(2).unwrap();
    assert_eq!(s.writes(), [(0x108, 0x1100)]);
    let s = fake(variant::T8110, true, 36);
    let (mut h, _) = brought_up(&s, variant::T8110);
    s.clear_log();
    h.bypass_stream(2).unwrap();
    assert_eq!(s.writes(), [(0x1008, 0x6)]);
    // PARAMS2 bit 0 clear.
    let s = fake(variant::T6000, false, 0);
    let (mut h, _) = brought_up(&s, variant::T6000);
    s.clear_log();
    assert_eq!(
        h.bypass_stream(2),
        Err(DartError::BypassUnsupported {
            params2: 0,
            forbidden: false
        })
    );
    assert!(s.writes().is_empty());
    // The USB4 variant never bypasses.
    let s = fake(variant::T8103_USB4, true, 0);
    let (mut h, lines) = brought_up(&s, variant::T8103_USB4);
    assert!(lines.iter().any(|l| l.contains("unconfirmed")), "{lines:?}");
    let e = h.bypass_stream(2).unwrap_err();
    assert!(format!("{e}").contains("never bypasses"), "{e}");
    // Its TTBRs sit at 0x400.
    s.clear_log();
    h.program_stream(1, 0x8_0010_0000, &Dart::t8103()).unwrap();
    assert_eq!(s.writes()[0], (0x410, 0x8080_0100));
}

#[test]
fn dead_blocks_and_other_page_sizes_are_refused_by_name() {
    let s = Shared::default();
    let e = DartHw::identify(Regs::new(ModelMmio::new(s)), variant::T8103, clock()).err();
    assert_eq!(
        e,
        Some(DartError::DeadBlock {
            params1: 0,
            params2: 0
        })
    );
    let s = fake(variant::T8103, true, 0);
    s.set(0x000, 12 << 24);
    let e = DartHw::identify(Regs::new(ModelMmio::new(s)), variant::T8103, clock()).err();
    assert_eq!(e, Some(DartError::PageSize { shift: 12 }));
    let s = fake(variant::T8110, true, 36);
    s.set(0x00c, 0);
    let e = DartHw::identify(Regs::new(ModelMmio::new(s)), variant::T8110, clock()).err();
    assert_eq!(e, Some(DartError::StreamCount { params4: 0 }));
    let s = fake(variant::T8110, true, 36);
    let mut h = hw(&s, variant::T8110);
    assert_eq!(
        h.program_stream_sid_check(16),
        Err(DartError::NoSuchStream { sid: 16, sids: 16 })
    );
}

impl Hw {
    fn program_stream_sid_check(&mut self, sid: u32) -> Result<(), DartError> {
        let f = self.ident().format;
        self.program_stream(sid, 0x8_0000_0000, &f)
    }
}

#[test]
fn errors_decode_clear_and_name_the_stream() {
    for (v, err, lo, hi, raw) in [
        (variant::T8103, 0x040, 0x050, 0x054, 0x8300_0404u32),
        (variant::T8110, 0x100, 0x170, 0x174, 0x9030_0008),
    ] {
        let s = fake(v, true, 36);
        let (h, _) = brought_up(&s, v);
        let mut d = DartIommu::new(h, "dart", false);
        assert!(d.drain_faults().is_empty());
        s.set(err, raw);
        s.set(lo, 0x8000_4040);
        s.set(hi, 0x1);
        let f = d.drain_faults();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].stream, StreamId(3));
        assert_eq!(f[0].iova, Some(Iova(0x1_8000_4040)));
        assert_eq!(f[0].access, Some(crate::iommu::Access::Write));
        assert_eq!(f[0].kind, crate::iommu::FaultKind::Translation);
        assert_eq!(s.0.borrow().regs[&err], 0, "cleared");
        if v.layout == Layout::T8110 {
            assert!(s
                .writes()
                .iter()
                .rev()
                .take(1)
                .any(|&w| w == (0x1c0, u32::MAX)));
        }
        assert!(d.health().is_empty());
    }
}

/// The driver through the core, over the fake: which flushes follow what.
#[test]
fn flushes_follow_attach_map_unmap_and_detach_and_the_gate_holds_or_drops_them() {
    let s = fake(variant::T8103, true, 0);
    let (h, _) = brought_up(&s, variant::T8103);
    let mut d = DartIommu::new(h, "dart", false);
    let arena = RamArena::new(
        BusAddr(0x8_0000_0000),
        VirtAddr(0xffff_0000_4000_0000),
        1 << 20,
        true,
    );
    let mut dom =
        Domain::new(&mut d, Dart::t8103(), arena, Iova(0x1000_0000), 0x1000_0000).unwrap();
    let flushes = |s: &Shared| -> Vec<u32> {
        s.writes()
            .windows(2)
            .filter(|w| w[1] == (0x020, 0x0010_0000))
            .map(|w| w[0].1)
            .collect()
    };
    // A map before any attach flushes nothing (no stream uses the table).
    s.clear_log();
    dom.map(
        &mut d,
        Iova(0x1000_0000),
        PhysAddr(0x8_4000_0000),
        0x4000,
        Prot::rw(),
    )
    .unwrap();
    assert!(flushes(&s).is_empty());
    dom.attach(&mut d, StreamId(5)).unwrap();
    assert_eq!(flushes(&s), [1 << 5], "attach flushes the stream");
    s.clear_log();
    dom.map(
        &mut d,
        Iova(0x1000_4000),
        PhysAddr(0x8_4000_4000),
        0x4000,
        Prot::rw(),
    )
    .unwrap();
    assert_eq!(flushes(&s), [1 << 5], "a map flushes the attached stream");
    s.clear_log();
    dom.unmap(&mut d, Iova(0x1000_4000), 0x4000).unwrap();
    assert_eq!(flushes(&s), [1 << 5], "an unmap flushes it");
    // Held: queued, nothing written until released.
    d.hold_invalidations(true);
    s.clear_log();
    dom.unmap(&mut d, Iova(0x1000_0000), 0x4000).unwrap();
    assert!(flushes(&s).is_empty());
    d.hold_invalidations(false);
    assert_eq!(d.release_held(), Ok(1));
    assert_eq!(flushes(&s), [1 << 5]);
    // Skip-sync: dropped.
    d.set_skip_sync(true);
    s.clear_log();
    dom.map(
        &mut d,
        Iova(0x1000_8000),
        PhysAddr(0x8_4000_8000),
        0x4000,
        Prot::rw(),
    )
    .unwrap();
    dom.unmap(&mut d, Iova(0x1000_8000), 0x4000).unwrap();
    assert!(flushes(&s).is_empty());
    d.set_skip_sync(false);
    // Detach blocks (TCR 0) and flushes.
    s.clear_log();
    dom.detach(&mut d, StreamId(5)).unwrap();
    assert_eq!(s.writes()[0], (0x114, 0));
    assert_eq!(flushes(&s), [1 << 5]);
    let summary = d.invalidation_summary().unwrap();
    assert!(
        summary.contains("after unmap") && summary.contains("after map"),
        "{summary}"
    );
    // A context of another shape is refused.
    let other = Dart::new(PteFormat::Dart2, 2, 32, 42).unwrap();
    assert!(matches!(
        d.new_context(&other),
        Err(IommuError::Unsupported { .. })
    ));
    assert_eq!(
        d.capabilities().invalidation,
        crate::iommu::SyncPolicy::WholeStream
    );
}

#[test]
fn the_bug_switches_change_the_writes() {
    // Wrong stream: SID 5's flush selects SID 4.
    let s = fake(variant::T8103, true, 0);
    let (mut h, _) = brought_up(&s, variant::T8103);
    h.bugs.flush_wrong_stream = true;
    s.clear_log();
    h.flush(SidSet::one(5)).unwrap();
    assert_eq!(s.writes()[0], (0x034, 1 << 4));
    // T8110 command at the T8020 offset.
    let s = fake(variant::T8110, true, 36);
    let (mut h, _) = brought_up(&s, variant::T8110);
    h.bugs.t8110_command_at_t8020_offset = true;
    s.clear_log();
    h.flush(SidSet::one(5)).unwrap();
    assert_eq!(s.writes(), [(0x020, 0x105)]);
    let _ = variant::VARIANTS.len();
}
