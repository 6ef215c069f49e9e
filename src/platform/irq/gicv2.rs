//! GICv2 (GIC-400): make one PPI reach this CPU's interface as a pending
//! interrupt (docs/hw/gic.md §3).
//!
//! The minimum Linux's `irq-gic.c` also does for a PPI: the distributor on
//! (`GICD_CTLR` bit 0), the PPI enabled (`GICD_ISENABLER0`, banked per CPU)
//! at priority 0xa0, the CPU interface on (`GICC_CTLR` bit 0) with a
//! priority mask of 0xf0.  Groups are left as reset or firmware set them:
//! without the Security Extensions everything is Group 0, signalled as IRQ
//! while `GICC_CTLR.FIQEn` is 0; with them, bit 0 of the Non-secure views
//! enables Group 1, where firmware puts the PPIs the OS owns.  Nothing is
//! acknowledged: the CPU keeps interrupts masked and WFI wakes on the
//! pending interrupt alone.
#![forbid(unsafe_code)]

use super::{set_priority, GicError, PMR, PRIORITY};
use crate::mmio::Mmio;

/// `GICD_CTLR`.
pub const GICD_CTLR: usize = 0x000;
/// `GICD_ISENABLER0` (SGIs and PPIs, banked per CPU).
pub const GICD_ISENABLER0: usize = 0x100;
/// `GICD_IPRIORITYR0` (one byte per INTID).
pub const GICD_IPRIORITYR: usize = 0x400;
/// `GICC_CTLR`.
pub const GICC_CTLR: usize = 0x000;
/// `GICC_PMR`.
pub const GICC_PMR: usize = 0x004;
/// Enable bit of `GICD_CTLR` and `GICC_CTLR` (Group 0 without the
/// Security Extensions, Group 1 in the Non-secure view with them).
pub const ENABLE: u32 = 1 << 0;

/// Enables PPI `intid` (16..=31) at the distributor and this CPU's
/// interface.  An enable bit that does not read back set fails by register
/// name and value (a PPI firmware made Secure reads 0 from the Non-secure
/// side).
pub fn enable_ppi<M: Mmio>(dist: &M, cpu: &M, intid: u32) -> Result<(), GicError> {
    let bit = 1u32 << (intid % 32);
    let ctlr = dist.read32(GICD_CTLR);
    if ctlr & ENABLE == 0 {
        dist.write32(GICD_CTLR, ctlr | ENABLE);
    }
    set_priority(dist, GICD_IPRIORITYR, intid, PRIORITY);
    dist.write32(GICD_ISENABLER0, bit);
    let enabled = dist.read32(GICD_ISENABLER0);
    if enabled & bit == 0 {
        return Err(GicError::DidNotTake {
            frame: "GICD",
            reg: "GICD_ISENABLER0",
            offset: GICD_ISENABLER0,
            wrote: bit,
            read: enabled,
        });
    }
    let ctlr = dist.read32(GICD_CTLR);
    if ctlr & ENABLE == 0 {
        return Err(GicError::DidNotTake {
            frame: "GICD",
            reg: "GICD_CTLR",
            offset: GICD_CTLR,
            wrote: ENABLE,
            read: ctlr,
        });
    }
    cpu.write32(GICC_PMR, u32::from(PMR));
    let cctlr = cpu.read32(GICC_CTLR);
    cpu.write32(GICC_CTLR, cctlr | ENABLE);
    let cctlr = cpu.read32(GICC_CTLR);
    if cctlr & ENABLE == 0 {
        return Err(GicError::DidNotTake {
            frame: "GICC",
            reg: "GICC_CTLR",
            offset: GICC_CTLR,
            wrote: ENABLE,
            read: cctlr,
        });
    }
    Ok(())
}
