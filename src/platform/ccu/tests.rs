//! Host tests of the CCU service over a tiny register model: a 4 KiB block
//! of 32-bit registers that logs writes and can hold bits stuck at 0.
#![forbid(unsafe_code)]

use super::sun50i::{by_compatible, H6, H616, IOMMU_BGR};
use super::*;
use crate::mm::addr::PhysAddr;
use crate::mmio::{ModelMmio, RegisterModel, Width};
use std::format;
use std::vec;
use std::vec::Vec;

#[derive(Default)]
struct CcuModel {
    regs: Vec<u32>,
    writes: Vec<(usize, u32)>,
    stuck_low: u32,
}

impl CcuModel {
    fn with(off: usize, v: u32) -> ModelMmio<Self> {
        let mut m = CcuModel {
            regs: vec![0; 0x400],
            ..Default::default()
        };
        m.regs[off / 4] = v;
        ModelMmio::new(m)
    }
}

impl RegisterModel for CcuModel {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        assert_eq!(width, Width::W32);
        u64::from(self.regs[off / 4])
    }
    fn write(&mut self, off: usize, width: Width, val: u64) {
        assert_eq!(width, Width::W32);
        self.writes.push((off, val as u32));
        self.regs[off / 4] = val as u32 & !self.stuck_low;
    }
}

fn r(kind: RefKind, compatible: &str, index: u32) -> ControlRef {
    ControlRef {
        kind,
        provider: "clock@3001000".into(),
        compatible: compatible.into(),
        reg: Some(PhysRange::new(PhysAddr(0x0300_1000), 0x1000)),
        index: Some(index),
        name: None,
    }
}

fn iommu_refs(h6: bool) -> [ControlRef; 2] {
    let (c, clk, rst) = if h6 {
        ("allwinner,sun50i-h6-ccu", 51, 15)
    } else {
        ("allwinner,sun50i-h616-ccu", 48, 11)
    };
    [r(RefKind::Clock, c, clk), r(RefKind::Reset, c, rst)]
}

#[test]
fn tables_by_compatible() {
    assert_eq!(by_compatible("allwinner,sun50i-h6-ccu"), Some(H6));
    assert_eq!(by_compatible("allwinner,sun50i-h616-ccu"), Some(H616));
    assert_eq!(by_compatible("allwinner,sun50i-a64-ccu"), None);
    for t in [H6, H616] {
        assert_eq!(t.span(), 0x7c0);
        let clk = t.lines.iter().find(|l| l.kind == RefKind::Clock).unwrap();
        let rst = t.lines.iter().find(|l| l.kind == RefKind::Reset).unwrap();
        assert_eq!(
            (clk.offset, clk.bit, rst.offset, rst.bit),
            (0x7bc, 0, 0x7bc, 16)
        );
    }
    assert_eq!(H6.line(RefKind::Clock, 0x33).unwrap().name, "CLK_BUS_IOMMU");
    assert_eq!(H6.line(RefKind::Reset, 0x0f).unwrap().name, "RST_BUS_IOMMU");
    assert_eq!(
        H616.line(RefKind::Clock, 0x30).unwrap().name,
        "CLK_BUS_IOMMU"
    );
    assert_eq!(
        H616.line(RefKind::Reset, 0x0b).unwrap().name,
        "RST_BUS_IOMMU"
    );
    // The H6's reset index is not the H616's.
    assert_eq!(H616.line(RefKind::Reset, 15), None);
}

#[test]
fn off_lines_are_turned_on_reset_first_keeping_the_other_bits() {
    for h6 in [true, false] {
        // Another bit of the register (as if the loader used it) survives.
        let ccu = CcuModel::with(IOMMU_BGR, 0x0000_0100);
        let refs = iommu_refs(h6);
        let t = if h6 { H6 } else { H616 };
        let out = turn_on(&ccu, &t, &[&refs[0], &refs[1]]);
        assert!(matches!(out[0], Outcome::TurnedOn(l) if l.kind == RefKind::Reset));
        assert!(matches!(out[1], Outcome::TurnedOn(l) if l.kind == RefKind::Clock));
        assert!(out.iter().all(Outcome::is_on));
        assert_eq!(
            ccu.model().writes,
            [(IOMMU_BGR, 0x0001_0100), (IOMMU_BGR, 0x0001_0101)]
        );
        let Outcome::TurnedOn(l) = out[0] else {
            unreachable!()
        };
        let text = format!("{}", out[0]);
        assert_eq!(
            text,
            format!(
                "RST_BUS_IOMMU ({}, +0x7bc bit 16) was asserted: deasserted by the image",
                l.index
            )
        );
    }
}

#[test]
fn lines_the_loader_left_on_are_not_written() {
    let ccu = CcuModel::with(IOMMU_BGR, 0x0001_0001);
    let refs = iommu_refs(true);
    let out = turn_on(&ccu, &H6, &[&refs[0], &refs[1]]);
    assert!(out.iter().all(|o| matches!(o, Outcome::AlreadyOn(_))));
    assert!(ccu.model().writes.is_empty());
    assert_eq!(
        format!("{}", out[1]),
        "CLK_BUS_IOMMU (51, +0x7bc bit 0) already ungated"
    );
    assert!(H6.lines.iter().all(|l| l.is_on(&ccu)));
}

#[test]
fn unknown_indices_are_left_to_the_loader() {
    let ccu = CcuModel::with(IOMMU_BGR, 0);
    let odd = r(RefKind::Clock, "allwinner,sun50i-h6-ccu", 0x35);
    let out = turn_on(&ccu, &H6, &[&odd]);
    assert_eq!(out, [Outcome::Unknown(RefKind::Clock, Some(0x35))]);
    assert!(out[0].is_on());
    assert!(ccu.model().writes.is_empty());
    assert_eq!(
        format!("{}", out[0]),
        "clock 53: not in this image's table, left to the loader"
    );
}

#[test]
fn a_bit_that_does_not_take_is_stuck_with_the_value_read() {
    let ccu = CcuModel::with(IOMMU_BGR, 0);
    ccu.model_mut().stuck_low = 1 << 16;
    let refs = iommu_refs(false);
    let out = turn_on(&ccu, &H616, &[&refs[0], &refs[1]]);
    assert!(matches!(out[0], Outcome::Stuck(_, 0)));
    assert!(!out[0].is_on());
    assert!(matches!(out[1], Outcome::TurnedOn(_)));
    assert!(format!("{}", out[0]).ends_with("written, still reads asserted (register 0x0)"));
}
