//! The CPU services `arch` provides, wired into the traits the layers above
//! it define, so `arch` itself never imports upward.
//!
//! - [`CpuCaches`]: `mm::cache::CacheMaintenance` over
//!   `arch::aarch64::cache` (DC CVAC / CIVAC / IVAC + DSB to the point of
//!   coherency).

use crate::arch::aarch64::cache;
use crate::mm::cache::CacheMaintenance;

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
}

/// The CPU caches as a `&'static dyn CacheMaintenance`.
pub static CPU_CACHES: CpuCaches = CpuCaches;
