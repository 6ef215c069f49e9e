//! The CPU services `arch` provides, wired into the traits and types the
//! layers above it define, so `arch` itself never imports upward.
//!
//! - [`CpuCaches`]: `mm::cache::CacheMaintenance` over
//!   `arch::aarch64::cache` (DC CVAC / CIVAC / IVAC + DSB to the point of
//!   coherency) and the DMA barriers (`DMB OSHST` / `OSHLD` / `OSH`).
//! - [`GenericTimer`] / [`TIMER`]: `time::Clock` over the generic timer;
//!   its `sleep_until` sleeps in WFI once `boot/waits.rs` has routed the
//!   timer interrupt.
//! - [`GicCpu`]: `platform::irq::CpuInterface` over
//!   `arch::aarch64::gic` (the GICv3 system registers).
//! - [`device_block`]: a DT `reg` range mapped as device memory, as a
//!   `mmio::VolatileMmio`.
//! - [`span`]: `mm::PhysRange` as the `arch` MMU's `PhysSpan`.

use crate::arch::aarch64::mmu::{MmuError, PhysSpan};
use crate::arch::aarch64::{cache, device, gic, timer};
use crate::mm::cache::{CacheMaintenance, DmaBarrier};
use crate::mm::PhysRange;
use crate::mmio::VolatileMmio;
use crate::platform::irq::CpuInterface;
use crate::time::Clock;

/// The CPU's data caches, maintained by virtual address to the point of
/// coherency.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuCaches;

impl CacheMaintenance for CpuCaches {
    fn clean(&self, addr: usize, len: usize) {
        cache::clean_range(addr, len);
    }

    fn clean_invalidate(&self, addr: usize, len: usize) {
        cache::clean_invalidate_range(addr, len);
    }

    fn invalidate(&self, addr: usize, len: usize) {
        cache::invalidate_range(addr, len);
    }

    fn barrier(&self, kind: DmaBarrier) {
        match kind {
            DmaBarrier::Write => cache::dma_wmb(),
            DmaBarrier::Read => cache::dma_rmb(),
            DmaBarrier::Full => cache::dma_mb(),
        }
    }
}

/// The CPU caches as a `&'static dyn CacheMaintenance`.
pub static CPU_CACHES: CpuCaches = CpuCaches;

/// The ARM generic timer's physical counter as the project's [`Clock`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GenericTimer;

impl Clock for GenericTimer {
    fn ticks(&self) -> u64 {
        timer::counter()
    }

    fn freq_hz(&self) -> u64 {
        timer::frequency_hz()
    }

    fn sleep_until(&self, tick: u64) {
        timer::sleep_until(tick);
    }
}

/// The generic timer, for callers that want a `&'static dyn Clock`.
pub static TIMER: GenericTimer = GenericTimer;

/// This CPU's GICv3 system-register interface.
#[derive(Clone, Copy, Debug, Default)]
pub struct GicCpu;

impl CpuInterface for GicCpu {
    fn has_sysregs(&self) -> bool {
        gic::has_sysregs()
    }

    fn affinity(&self) -> u32 {
        gic::affinity()
    }

    fn enable_sysregs(&self, pmr: u8) -> u64 {
        gic::enable_sysregs(pmr)
    }
}

/// `range` as the `arch` MMU's range type.
pub fn span(range: PhysRange) -> PhysSpan {
    PhysSpan {
        base: range.base.as_u64(),
        size: range.size,
    }
}

/// Maps `range` as device memory in the live identity map and returns its
/// register accessor.
pub fn device_block(range: PhysRange) -> Result<VolatileMmio, MmuError> {
    device::device_block(span(range)).map(VolatileMmio::from_device_block)
}
