//! Host tests of the sun50i probe's CCU step: the KTAP lines for an IOMMU
//! the loader left off, one it left on, a CCU without a table, and the
//! summary a dead-block failure carries.
#![forbid(unsafe_code)]

use super::*;
use crate::mm::addr::PhysAddr;
use crate::mmio::{ModelMmio, RegisterModel, Width};
use crate::platform::dt::clocks::RefKind;
use core::cell::RefCell;
use std::rc::Rc;
use std::string::ToString;
use std::vec;

/// A CCU block: 32-bit registers; `stuck_low` bits never take a 1.
struct Ccu {
    regs: Rc<RefCell<Vec<u32>>>,
    stuck_low: u32,
}

impl RegisterModel for Ccu {
    fn read(&mut self, off: usize, _: Width) -> u64 {
        u64::from(self.regs.borrow()[off / 4])
    }
    fn write(&mut self, off: usize, _: Width, val: u64) {
        self.regs.borrow_mut()[off / 4] = val as u32 & !self.stuck_low;
    }
}

const BASE: u64 = 0x0300_1000;

fn refs(compatible: &str, clk: u32, rst: u32) -> Vec<ControlRef> {
    let r = |kind, index| ControlRef {
        kind,
        provider: "clock@3001000".to_string(),
        compatible: compatible.to_string(),
        reg: Some(PhysRange::new(PhysAddr(BASE), 0x1000)),
        index: Some(index),
        name: None,
    };
    vec![r(RefKind::Clock, clk), r(RefKind::Reset, rst)]
}

fn run(controls: &[ControlRef], bgr: u32, stuck_low: u32) -> (Controls, u32, Vec<String>) {
    let mut mapped = Vec::new();
    let mut regs = vec![0u32; 0x400];
    regs[0x7bc / 4] = bgr;
    let regs = Rc::new(RefCell::new(regs));
    let c = turn_on_controls("iommu@30f0000", controls, &mut |what, r| {
        mapped.push(std::format!("{what} {r}"));
        Ok(ModelMmio::new(Ccu {
            regs: regs.clone(),
            stuck_low,
        }))
    });
    let after = regs.borrow()[0x7bc / 4];
    (c, after, mapped)
}

#[test]
fn an_iommu_the_loader_left_off_is_turned_on_and_ktap_says_so() {
    let (c, bgr, mapped) = run(&refs("allwinner,sun50i-h616-ccu", 0x30, 0x0b), 0, 0);
    assert_eq!(bgr, 0x0001_0001);
    assert_eq!(mapped.len(), 1);
    assert_eq!(
        c.lines,
        [
            "iommu@30f0000: H616 CCU 0x3001000: RST_BUS_IOMMU (11, +0x7bc bit 16) was asserted: deasserted by the image; CLK_BUS_IOMMU (48, +0x7bc bit 0) was gated: ungated by the image"
        ]
    );
    assert_eq!(
        c.summary(),
        "the CCU reads RST_BUS_IOMMU deasserted, CLK_BUS_IOMMU ungated"
    );
}

#[test]
fn an_iommu_the_loader_left_on_is_reported_and_not_written() {
    let (c, bgr, _) = run(&refs("allwinner,sun50i-h6-ccu", 0x33, 0x0f), 0x0001_0001, 0);
    assert_eq!(bgr, 0x0001_0001);
    assert_eq!(
        c.lines,
        [
            "iommu@30f0000: H6 CCU 0x3001000: RST_BUS_IOMMU (15, +0x7bc bit 16) already deasserted; CLK_BUS_IOMMU (51, +0x7bc bit 0) already ungated"
        ]
    );
}

#[test]
fn an_unknown_ccu_or_index_is_left_to_the_loader() {
    let (c, bgr, mapped) = run(&refs("allwinner,sun50i-a64-ccu", 1, 2), 0, 0);
    assert_eq!((bgr, mapped.len()), (0, 0), "nothing mapped or written");
    assert_eq!(
        c.lines,
        ["iommu@30f0000: clocks 1, resets 2 on clock@3001000 (allwinner,sun50i-a64-ccu): no CCU table in this image for that compatible: the image leaves them to the loader"]
    );
    assert_eq!(c.summary(), "its clocks and resets were left to the loader");
    // A known CCU, an index its table lacks (the H616's reset index on an H6).
    let (c, bgr, _) = run(&refs("allwinner,sun50i-h6-ccu", 0x33, 0x0b), 0, 0);
    assert_eq!(bgr, 0x1, "the clock it knows is ungated");
    assert!(
        c.lines[0].contains("reset 11: not in this image's table, left to the loader"),
        "{}",
        c.lines[0]
    );
    // No references at all.
    let (c, _, _) = run(&[], 0, 0);
    assert!(
        c.lines[0].contains("no clocks/resets in the DT"),
        "{}",
        c.lines[0]
    );
}

#[test]
fn a_reset_that_does_not_release_is_in_the_dead_block_summary() {
    let (c, _, _) = run(&refs("allwinner,sun50i-h616-ccu", 0x30, 0x0b), 0, 1 << 16);
    assert!(
        c.lines[0].contains("written, still reads asserted"),
        "{}",
        c.lines[0]
    );
    assert_eq!(c.summary(), "the CCU still reads RST_BUS_IOMMU asserted");
}
