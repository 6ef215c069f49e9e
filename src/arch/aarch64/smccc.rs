//! SMC Calling Convention calls (PSCI), through the conduit the device tree's
//! `/psci` node names (boot converts the DT's choice into [`Conduit`]).
//!
//! Facts: Arm DEN0028 (SMCCC) and DEN0022 (PSCI): function ID in w0, results in
//! x0; PSCI_VERSION = 0x8400_0000, SYSTEM_OFF = 0x8400_0008,
//! SYSTEM_RESET = 0x8400_0009.

use core::arch::asm;

/// The instruction an SMCCC call is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0`: firmware in the hypervisor (EL2).
    Hvc,
    /// `SMC #0`: firmware in the secure monitor (EL3).
    Smc,
}

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// PSCI SYSTEM_OFF.
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
/// PSCI SYSTEM_RESET.
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;

/// Makes an SMCCC call with no arguments and returns x0.
pub fn call0(conduit: Conduit, function: u32) -> u64 {
    let mut x0 = u64::from(function);
    match conduit {
        // SAFETY: an SMCCC call with a PSCI function ID; the callee preserves
        // x4..x17 per SMCCC v1.1+ but we clobber x1..x17 to be safe with
        // SMCCC v1.0 firmware.  It touches no memory we own.
        Conduit::Hvc => unsafe {
            asm!("hvc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _,
                 out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                 out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                 out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        Conduit::Smc => unsafe {
            asm!("smc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _,
                 out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                 out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                 out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack))
        },
    }
    x0
}
