//! GICv3/v4: make one PPI reach this CPU as a pending interrupt
//! (docs/hw/gic.md §4).
//!
//! The steps Linux's `irq-gic-v3.c` takes for the boot CPU, cut to one PPI:
//!
//! 1. the distributor with affinity routing and Group 1 on (`GICD_CTLR`
//!    = ARE_NS | EnableGrp1A | EnableGrp1, 0x13; when ARE was off, the
//!    enables go off first, since ARE may change only while they are off),
//!    waiting for `GICD_CTLR.RWP`;
//! 2. this CPU's redistributor: the frame whose `GICR_TYPER[63:32]` equals
//!    the CPU's MPIDR affinity, walking each region frame by frame
//!    (`redistributor-stride`, else 128 KiB, 256 KiB with `GICR_TYPER.VLPIS`)
//!    until `GICR_TYPER.Last`; woken (`GICR_WAKER.ProcessorSleep` cleared,
//!    then waiting for `ChildrenAsleep` to clear);
//! 3. in its SGI frame (+64 KiB) the PPI in Group 1 (`GICR_IGROUPR0`; read
//!    as zero / ignored from the Non-secure side when firmware owns the
//!    groups), priority 0xa0, enabled (`GICR_ISENABLER0`), waiting for
//!    `GICR_CTLR.RWP`;
//! 4. the CPU interface through system registers ([`CpuInterface`]):
//!    `ICC_SRE_EL1.SRE`, `ICC_PMR_EL1` = 0xf0, `ICC_IGRPEN1_EL1` = 1.
//!
//! Every wait is bounded by the clock and fails with the register and the
//! value it last read.
#![forbid(unsafe_code)]

use super::{set_priority, CpuInterface, GicError, PMR, PRIORITY};
use crate::mm::addr::{PhysAddr, PhysRange};
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use core::time::Duration;

/// `GICD_CTLR`.
pub const GICD_CTLR: usize = 0x0000;
/// `GICD_CTLR.EnableGrp1` (Non-secure view; Group 0 when `DS` = 1).
pub const CTLR_ENABLE_G1: u32 = 1 << 0;
/// `GICD_CTLR.EnableGrp1A` (Non-secure view; Group 1 when `DS` = 1).
pub const CTLR_ENABLE_G1A: u32 = 1 << 1;
/// `GICD_CTLR.ARE_NS` (`ARE` when `DS` = 1).
pub const CTLR_ARE_NS: u32 = 1 << 4;
/// `GICD_CTLR.RWP`: a write to `GICD_CTLR` is still taking effect.
pub const GICD_CTLR_RWP: u32 = 1 << 31;
/// `GICR_CTLR` (RD frame).
pub const GICR_CTLR: usize = 0x0000;
/// `GICR_CTLR.RWP`.
pub const GICR_CTLR_RWP: u32 = 1 << 3;
/// `GICR_TYPER` (RD frame, 64 bits).
pub const GICR_TYPER: usize = 0x0008;
/// `GICR_TYPER.VLPIS`: the frame has the two GICv4 vLPI frames too.
pub const TYPER_VLPIS: u64 = 1 << 1;
/// `GICR_TYPER.Last`: the last frame of its region.
pub const TYPER_LAST: u64 = 1 << 4;
/// `GICR_WAKER` (RD frame).
pub const GICR_WAKER: usize = 0x0014;
/// `GICR_WAKER.ProcessorSleep`.
pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// `GICR_WAKER.ChildrenAsleep`.
pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// `GICR_PIDR2` (RD frame): ArchRev in bits 7:4, 3 = GICv3, 4 = GICv4.
pub const GICR_PIDR2: usize = 0xffe8;
/// The SGI frame, 64 KiB after RD_base.
pub const SGI_FRAME: usize = 0x1_0000;
/// `GICR_IGROUPR0` (SGI frame).
pub const GICR_IGROUPR0: usize = SGI_FRAME + 0x0080;
/// `GICR_ISENABLER0` (SGI frame).
pub const GICR_ISENABLER0: usize = SGI_FRAME + 0x0100;
/// `GICR_IPRIORITYR0` (SGI frame, one byte per INTID).
pub const GICR_IPRIORITYR: usize = SGI_FRAME + 0x0400;
/// RD + SGI frames: what this module maps of a redistributor.
pub const FRAME_PAIR: u64 = 0x2_0000;
/// How long a `RWP` or `ChildrenAsleep` wait may take.  Linux allows 1 s
/// (`gic_do_wait_for_rwp`, `gic_enable_redist`); hardware takes
/// microseconds.
pub const TIMEOUT: Duration = Duration::from_millis(100);

/// `GICR_PIDR2.ArchRev`.
fn arch_rev(pidr2: u32) -> u32 {
    (pidr2 >> 4) & 0xf
}

/// Finds this CPU's redistributor: the frame whose `GICR_TYPER` affinity
/// is `affinity`, mapping frames through `map` as it goes.  Returns the
/// mapped RD + SGI frames and their base.
pub fn find_redistributor<M: Mmio>(
    regions: &[PhysRange],
    stride: Option<u64>,
    affinity: u32,
    map: &mut dyn FnMut(&'static str, PhysRange) -> Option<M>,
) -> Result<(M, PhysAddr), GicError> {
    let mut frames = 0usize;
    for region in regions {
        let mut off = 0u64;
        while off.saturating_add(FRAME_PAIR) <= region.size {
            let base = PhysAddr(region.base.0 + off);
            let range = PhysRange::new(base, FRAME_PAIR);
            let rd = map("GICR", range).ok_or(GicError::Unmapped {
                frame: "GICR",
                range,
            })?;
            let pidr2 = rd.read32(GICR_PIDR2);
            if !(3..=4).contains(&arch_rev(pidr2)) {
                return Err(GicError::NotARedistributor { base, pidr2 });
            }
            frames += 1;
            let typer = rd.read64(GICR_TYPER);
            if (typer >> 32) as u32 == affinity {
                return Ok((rd, base));
            }
            if typer & TYPER_LAST != 0 {
                break;
            }
            off += match stride {
                Some(s) => s,
                None if typer & TYPER_VLPIS != 0 => 2 * FRAME_PAIR,
                None => FRAME_PAIR,
            };
        }
    }
    Err(GicError::NoRedistributor { affinity, frames })
}

/// Waits until `bits` of the 32-bit register at `off` read 0.
fn wait_clear<M: Mmio>(
    regs: &M,
    clock: &dyn Clock,
    frame: &'static str,
    reg: &'static str,
    off: usize,
    bits: u32,
) -> Result<(), GicError> {
    let mut last = 0;
    poll_until(clock, TIMEOUT, reg, || {
        last = regs.read32(off);
        last & bits == 0
    })
    .map_err(|timeout| GicError::Timeout {
        frame,
        reg,
        offset: off,
        value: last,
        timeout,
    })
}

/// Enables PPI `intid` (16..=31) for this CPU: the distributor `dist`,
/// the redistributor `rd` (its RD + SGI frames, from
/// [`find_redistributor`]) and the CPU interface.
pub fn enable_ppi<M: Mmio>(
    dist: &M,
    rd: &M,
    intid: u32,
    cpu: &dyn CpuInterface,
    clock: &dyn Clock,
) -> Result<(), GicError> {
    if !cpu.has_sysregs() {
        return Err(GicError::NoSysregs);
    }
    let want = CTLR_ARE_NS | CTLR_ENABLE_G1A | CTLR_ENABLE_G1;
    let ctlr = dist.read32(GICD_CTLR);
    if ctlr & want != want {
        if ctlr & CTLR_ARE_NS == 0 {
            dist.write32(GICD_CTLR, 0);
            wait_clear(
                dist,
                clock,
                "GICD",
                "GICD_CTLR.RWP",
                GICD_CTLR,
                GICD_CTLR_RWP,
            )?;
        }
        dist.write32(GICD_CTLR, (ctlr & !GICD_CTLR_RWP) | want);
        wait_clear(
            dist,
            clock,
            "GICD",
            "GICD_CTLR.RWP",
            GICD_CTLR,
            GICD_CTLR_RWP,
        )?;
        let read = dist.read32(GICD_CTLR);
        if read & CTLR_ARE_NS == 0 {
            return Err(GicError::DidNotTake {
                frame: "GICD",
                reg: "GICD_CTLR",
                offset: GICD_CTLR,
                wrote: want,
                read,
            });
        }
    }
    let waker = rd.read32(GICR_WAKER);
    if waker & WAKER_PROCESSOR_SLEEP != 0 {
        rd.write32(GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
    }
    wait_clear(
        rd,
        clock,
        "GICR",
        "GICR_WAKER.ChildrenAsleep",
        GICR_WAKER,
        WAKER_CHILDREN_ASLEEP,
    )?;
    let bit = 1u32 << (intid % 32);
    let group = rd.read32(GICR_IGROUPR0);
    rd.write32(GICR_IGROUPR0, group | bit);
    set_priority(rd, GICR_IPRIORITYR, intid, PRIORITY);
    rd.write32(GICR_ISENABLER0, bit);
    wait_clear(rd, clock, "GICR", "GICR_CTLR.RWP", GICR_CTLR, GICR_CTLR_RWP)?;
    let enabled = rd.read32(GICR_ISENABLER0);
    if enabled & bit == 0 {
        return Err(GicError::DidNotTake {
            frame: "GICR",
            reg: "GICR_ISENABLER0",
            offset: GICR_ISENABLER0,
            wrote: bit,
            read: enabled,
        });
    }
    let sre = cpu.enable_sysregs(PMR);
    if sre & 1 == 0 {
        return Err(GicError::SreRefused { sre });
    }
    Ok(())
}
