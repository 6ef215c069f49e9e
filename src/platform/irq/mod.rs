//! Interrupt routing, for one purpose: letting a bounded wait sleep.
//!
//! `time::Wait` sleeps between checks by arming the generic timer's virtual
//! timer and executing WFI.  WFI wakes on a *pending* interrupt even while
//! the CPU masks it (PSTATE.I set; Arm ARM, "Wait for Interrupt"), so the
//! image needs no handler and no vector for it — only the timer's PPI
//! routed through the interrupt controller the device tree names, to this
//! CPU, at a priority its interface lets through.  This module finds that
//! PPI and its GIC in the DT ([`discover`]) and programs the minimum for a
//! GICv2 ([`gicv2`]) or GICv3 ([`gicv3`]); boot (`boot/waits.rs`) then
//! checks on the CPU that the interrupt really shows up pending before any
//! wait relies on it, and otherwise leaves waits polling and says why in a
//! KTAP `#` line.  Facts and sources: docs/hw/gic.md.
#![forbid(unsafe_code)]

pub mod discover;
pub mod gicv2;
pub mod gicv3;

#[cfg(test)]
mod tests;

use crate::mm::addr::{PhysAddr, PhysRange};
use crate::mmio::Mmio;
use crate::time::{Clock, Timeout};
use core::fmt;
use discover::{GicVersion, TimerIrq};

/// Priority given to the PPI (Linux's `GICD_INT_DEF_PRI`).
pub const PRIORITY: u8 = 0xa0;
/// Priority mask of the CPU interface (Linux's `DEFAULT_PMR_VALUE`): lets
/// [`PRIORITY`] through, also in the Non-secure view of a GIC with two
/// security states, where both values are shifted.
pub const PMR: u8 = 0xf0;

/// The CPU side of a GICv3 (system registers), which boot provides from
/// `arch`.
pub trait CpuInterface {
    /// `ID_AA64PFR0_EL1.GIC` is not 0: the system-register interface exists.
    fn has_sysregs(&self) -> bool;
    /// This CPU's MPIDR affinity in `GICR_TYPER[63:32]` order (Aff3 in bits
    /// 31:24, then Aff2, Aff1, Aff0).
    fn affinity(&self) -> u32;
    /// Sets `ICC_SRE_EL1.SRE`, `ICC_PMR_EL1` = `pmr` and
    /// `ICC_IGRPEN1_EL1` = 1; returns `ICC_SRE_EL1` as read back (bit 0
    /// stays 0 when a higher exception level keeps the interface off).
    fn enable_sysregs(&self, pmr: u8) -> u64;
}

/// A GIC could not be programmed as needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// A bit written did not read back.
    DidNotTake {
        /// `GICD`, `GICC` or `GICR`.
        frame: &'static str,
        /// The register.
        reg: &'static str,
        /// Its offset in the frame.
        offset: usize,
        /// The bits written.
        wrote: u32,
        /// What it read afterwards.
        read: u32,
    },
    /// A bounded wait ran out.
    Timeout {
        /// `GICD` or `GICR`.
        frame: &'static str,
        /// The register and field.
        reg: &'static str,
        /// Its offset.
        offset: usize,
        /// The last value read.
        value: u32,
        /// How long it waited.
        timeout: Timeout,
    },
    /// No redistributor frame has this CPU's affinity.
    NoRedistributor {
        /// The affinity looked for.
        affinity: u32,
        /// Frames read.
        frames: usize,
    },
    /// A redistributor region holds no GICv3/v4 frame here.
    NotARedistributor {
        /// The frame's base.
        base: PhysAddr,
        /// `GICR_PIDR2` as read.
        pidr2: u32,
    },
    /// A frame could not be mapped.
    Unmapped {
        /// `GICD`, `GICC` or `GICR`.
        frame: &'static str,
        /// The range.
        range: PhysRange,
    },
    /// The CPU has no GICv3 system-register interface.
    NoSysregs,
    /// `ICC_SRE_EL1.SRE` did not stick.
    SreRefused {
        /// `ICC_SRE_EL1` as read back.
        sre: u64,
    },
    /// The DT gave a frame the GIC version needs as absent.
    MissingFrame {
        /// Which one.
        frame: &'static str,
    },
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GicError::DidNotTake {
                frame,
                reg,
                offset,
                wrote,
                read,
            } => write!(
                f,
                "{reg} ({frame} + {offset:#x}) reads {read:#010x} after setting {wrote:#010x}"
            ),
            GicError::Timeout {
                frame,
                offset,
                value,
                timeout,
                ..
            } => write!(f, "{frame} + {offset:#x} still {value:#010x}: {timeout}"),
            GicError::NoRedistributor { affinity, frames } => write!(
                f,
                "no redistributor has this CPU's affinity {affinity:#x} ({frames} frame(s) read)"
            ),
            GicError::NotARedistributor { base, pidr2 } => write!(
                f,
                "no GICv3/v4 redistributor at {base}: GICR_PIDR2 reads {pidr2:#x}"
            ),
            GicError::Unmapped { frame, range } => {
                write!(f, "{frame} frame {range} could not be mapped")
            }
            GicError::NoSysregs => write!(
                f,
                "the CPU has no GICv3 system-register interface (ID_AA64PFR0_EL1.GIC is 0)"
            ),
            GicError::SreRefused { sre } => write!(
                f,
                "ICC_SRE_EL1.SRE does not stick (reads {sre:#x}): a higher exception level keeps the system-register interface off"
            ),
            GicError::MissingFrame { frame } => {
                write!(f, "the device tree gives no {frame} frame")
            }
        }
    }
}

/// Sets the priority byte of `intid` in the `IPRIORITYR` array at `base`,
/// with a 32-bit read-modify-write (the GIC also allows byte accesses; a
/// word access is what every bus passes).
pub(crate) fn set_priority<M: Mmio>(regs: &M, base: usize, intid: u32, prio: u8) {
    let off = base + (intid as usize & !3);
    let shift = (intid % 4) * 8;
    let v = regs.read32(off);
    regs.write32(off, (v & !(0xff << shift)) | (u32::from(prio) << shift));
}

fn frame<M>(
    map: &mut dyn FnMut(&'static str, PhysRange) -> Option<M>,
    name: &'static str,
    range: PhysRange,
) -> Result<M, GicError> {
    map(name, range).ok_or(GicError::Unmapped { frame: name, range })
}

/// Routes the timer's PPI to this CPU through its GIC: maps the frames
/// with `map` (`frame` name, range) and programs them (module docs).
pub fn route_timer<M: Mmio>(
    t: &TimerIrq<'_>,
    map: &mut dyn FnMut(&'static str, PhysRange) -> Option<M>,
    cpu: &dyn CpuInterface,
    clock: &dyn Clock,
) -> Result<(), GicError> {
    match t.gic.version {
        GicVersion::V2 => {
            let range = t.gic.cpu.ok_or(GicError::MissingFrame { frame: "GICC" })?;
            let dist = frame(map, "GICD", t.gic.dist)?;
            let cpu_if = frame(map, "GICC", range)?;
            gicv2::enable_ppi(&dist, &cpu_if, t.intid())
        }
        GicVersion::V3 => {
            if !cpu.has_sysregs() {
                return Err(GicError::NoSysregs);
            }
            if t.gic.redists().is_empty() {
                return Err(GicError::MissingFrame { frame: "GICR" });
            }
            let dist = frame(map, "GICD", t.gic.dist)?;
            let (rd, _) = gicv3::find_redistributor(
                t.gic.redists(),
                t.gic.redist_stride,
                cpu.affinity(),
                map,
            )?;
            gicv3::enable_ppi(&dist, &rd, t.intid(), cpu, clock)
        }
    }
}
