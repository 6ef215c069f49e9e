//! The ARM generic timer: the physical counter and its frequency.  Boot wraps
//! these as the project's `time::Clock` (`boot::services::TIMER`).
//!
//! CNTPCT_EL0 is readable at EL1 because the loader (booting.rst: "If entered
//! at EL1, CNTHCTL_EL2.EL1PCTEN is set") or our own EL2 code (boot.S) allows it.

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};

/// The physical counter now (CNTPCT_EL0), ordered after earlier instructions.
pub fn counter() -> u64 {
    // An ISB orders the counter read after earlier instructions (Arm ARM
    // D12.1.2: reads of CNTPCT_EL0 can occur speculatively and out of order).
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTPCT_EL0.get()
}

/// The counter frequency in Hz (CNTFRQ_EL0), never 0.
pub fn frequency_hz() -> u64 {
    // CNTFRQ_EL0 is programmed by firmware (booting.rst requires it); guard
    // against 0 so time arithmetic never divides by zero.
    CNTFRQ_EL0.get().max(1)
}
