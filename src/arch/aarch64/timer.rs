//! The ARM generic timer as the project's [`Clock`].
//!
//! CNTPCT_EL0 is readable at EL1 because the loader (booting.rst: "If entered
//! at EL1, CNTHCTL_EL2.EL1PCTEN is set") or our own EL2 code (boot.S) allows it.

use crate::time::Clock;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};

/// The generic timer's physical counter.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenericTimer;

impl Clock for GenericTimer {
    fn ticks(&self) -> u64 {
        // An ISB orders the counter read after earlier instructions (Arm ARM
        // D12.1.2: reads of CNTPCT_EL0 can occur speculatively and out of order).
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        CNTPCT_EL0.get()
    }

    fn freq_hz(&self) -> u64 {
        // CNTFRQ_EL0 is programmed by firmware (booting.rst requires it); guard
        // against 0 so time arithmetic never divides by zero.
        CNTFRQ_EL0.get().max(1)
    }
}

/// The generic timer, for callers that want a `&'static dyn Clock`.
pub static TIMER: GenericTimer = GenericTimer;
