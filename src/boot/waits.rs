//! Letting the bounded waits sleep: route the generic timer's virtual-timer
//! interrupt to this CPU through the GIC the device tree names, check on
//! the CPU that it really arrives, and only then switch
//! `arch::aarch64::timer::sleep_until` from spinning to WFI (see
//! `platform::irq` and docs/hw/gic.md).  Whatever happens, the run goes on:
//! a tree without a usable timer interrupt, an interrupt controller this
//! image does not drive (Apple's AIC), a GIC that refuses, all leave the
//! waits polling, and the KTAP `#` line [`enable`] returns says which and
//! why.

use super::services::{device_block, GicCpu, TIMER};
use crate::arch::aarch64::timer::{self, WakeProblem};
use crate::platform::dt::Fdt;
use crate::platform::irq::{discover, route_timer};
use crate::time::{duration_to_ticks, Clock};
use alloc::format;
use alloc::string::String;
use core::time::Duration;

/// How long [`timer::check_wake`] watches for the interrupt (and for it to
/// go): far longer than a GIC needs to forward a level change.
const CHECK: Duration = Duration::from_millis(10);

/// Tries to make waits sleep; returns the line for the KTAP header, which
/// starts with `waits sleep` or `waits poll`.
pub fn enable(fdt: &Fdt<'_>) -> String {
    let t = match discover::timer_irq(fdt) {
        Ok(t) => t,
        Err(e) => return format!("waits poll (no WFI): {e}"),
    };
    let via = format!(
        "the virtual timer's PPI {} (INTID {}, {}) through {} {} ({})",
        t.ppi,
        t.intid(),
        t.trigger(),
        t.gic.version,
        t.gic.node,
        t.gic.compatible
    );
    timer::mask_interrupts();
    let mut map = |_: &'static str, r| device_block(r).ok();
    if let Err(e) = route_timer(&t, &mut map, &GicCpu, &TIMER) {
        return format!("waits poll (no WFI): {via}: {e}");
    }
    let ticks = duration_to_ticks(CHECK, TIMER.freq_hz());
    match timer::check_wake(ticks) {
        Ok(()) => {
            timer::set_sleep(true);
            format!("waits sleep in WFI, woken by {via}")
        }
        Err(p) => {
            let why = match p {
                WakeProblem::AlreadyPending { isr } => format!(
                    "an interrupt is already pending at the CPU (ISR_EL1 {isr:#x}), so WFI would not sleep"
                ),
                WakeProblem::NeverPending { .. } => format!(
                    "the timer fired but nothing was pending at the CPU (ISR_EL1) within {} ms",
                    CHECK.as_millis()
                ),
                WakeProblem::StuckPending { isr } => format!(
                    "the interrupt stayed pending (ISR_EL1 {isr:#x}) after the timer was disabled"
                ),
            };
            format!("waits poll (no WFI): {via}: {why}")
        }
    }
}
