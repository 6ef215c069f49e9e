//! The GICv3 CPU interface's system registers (docs/hw/gic.md §4.4): the
//! part of a GIC that is not memory-mapped.  `platform::irq` programs the
//! distributor and redistributor over MMIO and reaches these through the
//! `CpuInterface` trait that `boot/services.rs` implements with them.
//!
//! Register encodings (Arm IHI 0069, §12.2): ICC_SRE_EL1 S3_0_C12_C12_5,
//! ICC_PMR_EL1 S3_0_C4_C6_0, ICC_IGRPEN1_EL1 S3_0_C12_C12_7.  EL1 may use
//! them when EL2 set ICC_SRE_EL2.Enable and SRE (boot.S does when the image
//! enters at EL2; booting.rst asks it of a loader entering at EL1).

use aarch64_cpu::registers::{Readable, ID_AA64PFR0_EL1, MPIDR_EL1};
use core::arch::asm;

/// ID_AA64PFR0_EL1.GIC (bits 27:24) is not 0: the CPU has the GICv3
/// system-register interface.
pub fn has_sysregs() -> bool {
    (ID_AA64PFR0_EL1.get() >> 24) & 0xf != 0
}

/// This CPU's affinity (MPIDR_EL1 Aff3 in bits 39:32, Aff2..Aff0 in 23:0)
/// in GICR_TYPER[63:32] order: Aff3 in bits 31:24, then Aff2, Aff1, Aff0.
pub fn affinity() -> u32 {
    let m = MPIDR_EL1.get();
    (((m >> 32) & 0xff) << 24 | (m & 0xff_ffff)) as u32
}

/// Turns the system-register interface on at EL1 (ICC_SRE_EL1.SRE), sets
/// the priority mask and enables Group 1 (ICC_IGRPEN1_EL1); returns
/// ICC_SRE_EL1 as read back.  Call only when [`has_sysregs`].
pub fn enable_sysregs(pmr: u8) -> u64 {
    let mut sre: u64;
    // SAFETY: ICC_SRE_EL1 exists (`has_sysregs`); setting SRE only selects
    // the system-register interface for this CPU, and the ISB makes the
    // change visible before the next ICC_* access.  Read back: a higher EL
    // may keep it RAO/WI or RAZ/WI.
    unsafe {
        asm!(
            "mrs {s}, S3_0_C12_C12_5",
            "orr {s}, {s}, #1",
            "msr S3_0_C12_C12_5, {s}",
            "isb",
            "mrs {s}, S3_0_C12_C12_5",
            s = out(reg) sre,
            options(nomem, nostack, preserves_flags)
        )
    };
    if sre & 1 == 0 {
        return sre;
    }
    // SAFETY: with SRE set these registers are accessible at EL1; the
    // priority mask and the Group 1 enable only decide which pending
    // interrupts the CPU interface signals, and DAIF keeps them untaken.
    unsafe {
        asm!(
            "msr S3_0_C4_C6_0, {pmr}",
            "msr S3_0_C12_C12_7, {one}",
            "isb",
            pmr = in(reg) u64::from(pmr),
            one = in(reg) 1u64,
            options(nomem, nostack, preserves_flags)
        )
    };
    sre
}
