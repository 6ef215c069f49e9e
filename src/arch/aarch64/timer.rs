//! The ARM generic timer: the physical counter and its frequency, and the
//! EL1 virtual timer that lets a bounded wait sleep.  Boot wraps these as
//! the project's `time::Clock` (`boot::services::TIMER`).
//!
//! CNTPCT_EL0 is readable at EL1 because the loader (booting.rst: "If entered
//! at EL1, CNTHCTL_EL2.EL1PCTEN is set") or our own EL2 code (boot.S) allows it.
//!
//! **Sleeping.**  [`sleep_until`] arms the virtual timer (CNTV_TVAL_EL0, a
//! relative 32-bit down-count, so CNTVOFF does not matter; CNTV_CTL_EL0
//! ENABLE=1, IMASK=0) and executes WFI with interrupts masked at the CPU
//! (DAIF.I and F set): the timer's PPI, once the GIC forwards it, is a
//! pending interrupt, which ends WFI without being taken (Arm ARM DDI 0487,
//! "Wait for Interrupt": WFI wake-up events include an IRQ or FIQ whatever
//! PSTATE.I/F).  The timer is disabled again on wake-up, which lowers its
//! level-sensitive output, so the GIC's pending state goes with it and the
//! next WFI sleeps.  Nothing takes the interrupt, so no handler exists.
//! Until boot has seen the PPI reach the CPU ([`check_wake`]) and called
//! [`set_sleep`], [`sleep_until`] only spins once: waits poll.

use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTPCT_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0,
};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set by [`set_sleep`] once the virtual timer's interrupt is known to
/// reach this CPU.
static SLEEP: AtomicBool = AtomicBool::new(false);

/// CNTV_CTL_EL0.ENABLE.
const CTL_ENABLE: u64 = 1 << 0;
/// The largest CNTV_TVAL_EL0 step (a signed 32-bit down-counter); a longer
/// sleep wakes early and the caller sleeps again.
const TVAL_MAX: u64 = i32::MAX as u64;
/// ISR_EL1.F: an FIQ is pending at the CPU.
const ISR_F: u64 = 1 << 6;
/// ISR_EL1.I: an IRQ is pending at the CPU.
const ISR_I: u64 = 1 << 7;

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

/// Masks IRQ and FIQ at the CPU (DAIF.I, DAIF.F).  The image never takes
/// an interrupt; boot.S enters Rust with them masked already, this makes
/// it explicit before a GIC is told to forward anything.
pub fn mask_interrupts() {
    // SAFETY: setting mask bits only stops asynchronous exceptions from
    // being taken; it touches no memory.
    unsafe { asm!("msr daifset, #3", options(nomem, nostack, preserves_flags)) };
}

/// ISR_EL1's I and F bits: an IRQ or FIQ is pending at this CPU, masked
/// or not (what WFI wakes on).
pub fn interrupt_pending() -> u64 {
    let isr: u64;
    // SAFETY: reading ISR_EL1 (S3_0_C12_C1_0) has no side effects and is
    // permitted at EL1.
    unsafe {
        asm!("mrs {}, S3_0_C12_C1_0", out(reg) isr, options(nomem, nostack, preserves_flags))
    };
    isr & (ISR_I | ISR_F)
}

/// Arms the virtual timer `ticks` from now (0: its condition holds at once).
pub fn arm_virtual(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks.min(TVAL_MAX));
    CNTV_CTL_EL0.set(CTL_ENABLE);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Disables the virtual timer, which drops its interrupt output.
pub fn disarm_virtual() {
    CNTV_CTL_EL0.set(0);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Lets [`sleep_until`] sleep (`true`) or only spin (`false`).
pub fn set_sleep(on: bool) {
    SLEEP.store(on, Ordering::Relaxed);
}

/// Whether [`sleep_until`] sleeps.
pub fn sleeps() -> bool {
    SLEEP.load(Ordering::Relaxed)
}

/// Rests until the physical counter reaches `target` or an interrupt is
/// pending, whichever is first (module docs); returns at once when
/// `target` has passed.  Spins once instead while sleeping is off.
pub fn sleep_until(target: u64) {
    if !sleeps() {
        core::hint::spin_loop();
        return;
    }
    let left = target.wrapping_sub(counter());
    if left == 0 || left > i64::MAX as u64 {
        return;
    }
    arm_virtual(left);
    // SAFETY: WFI only suspends execution until a wake-up event; with
    // DAIF.I/F set (`mask_interrupts`) no exception is taken on wake-up.
    // The virtual timer armed above bounds the sleep, and boot enabled
    // sleeping only after `check_wake` saw that timer's interrupt reach
    // this CPU.  Not `nomem`: the block is a compiler barrier, so no
    // device access of the caller's check moves across the sleep.
    unsafe { asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
    disarm_virtual();
}

/// Why the virtual timer cannot wake WFI here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeProblem {
    /// An interrupt is pending before the timer was armed (ISR_EL1 I/F):
    /// WFI would never sleep.
    AlreadyPending {
        /// ISR_EL1's I/F bits.
        isr: u64,
    },
    /// The timer fired but nothing reached the CPU within `ticks`.
    NeverPending {
        /// How long it was watched.
        ticks: u64,
    },
    /// The interrupt stayed pending after the timer was disabled.
    StuckPending {
        /// ISR_EL1's I/F bits.
        isr: u64,
    },
}

/// Checks, without sleeping, that the virtual timer's interrupt reaches
/// this CPU: arms it to fire at once, watches ISR_EL1 for up to `ticks`,
/// then disables it and watches the pending state go.
pub fn check_wake(ticks: u64) -> Result<(), WakeProblem> {
    mask_interrupts();
    disarm_virtual();
    let isr = interrupt_pending();
    if isr != 0 {
        return Err(WakeProblem::AlreadyPending { isr });
    }
    arm_virtual(0);
    let start = counter();
    while interrupt_pending() == 0 {
        if counter().wrapping_sub(start) > ticks {
            disarm_virtual();
            return Err(WakeProblem::NeverPending { ticks });
        }
        core::hint::spin_loop();
    }
    disarm_virtual();
    let start = counter();
    loop {
        let isr = interrupt_pending();
        if isr == 0 {
            return Ok(());
        }
        if counter().wrapping_sub(start) > ticks {
            return Err(WakeProblem::StuckPending { isr });
        }
        core::hint::spin_loop();
    }
}
