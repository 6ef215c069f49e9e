//! Allwinner sun50i IOMMU (H6, H616/H618): one IOMMU with one two-level
//! table shared by up to seven masters (micro-TLB slots), a macro TLB and a
//! PTW (directory-entry) cache, invalidated through address/mask and
//! single-directory-entry registers with self-clearing busy bits.
//! Register facts, their primary sources and where Linux disagrees with the
//! manuals: docs/hw/sun50i.md.
//!
//! * `regs.rs`: the register map over the `Mmio` seam;
//! * `variant.rs`: H6 / H616 (slots, range invalidation, VA port);
//! * `hw.rs`: enable, TTB, bypass, flush / zaps with bounded busy polls,
//!   fault latching and lane-reset recovery;
//! * `adapter.rs`: `Iommu` + `Observe` (and [`SKIP_SYNC_FAILURES`]);
//! * `fault.rs`: latched registers → fault records;
//! * `pmu.rs`: the PMU counters, read around a DMA as cache evidence;
//! * `probe.rs`: bring-up from the device-tree node;
//! * `va_port.rs`: the VA debug port as a DMA master (the self master).
//!
//! The model is test scaffolding (`#[cfg(test)]`): it builds on `testkit`,
//! which ranks above `iommu` (docs/architecture.md, "Layers").  It was
//! written from the manuals, not from this driver.

pub mod adapter;
pub mod fault;
pub mod hw;
pub mod pmu;
pub mod probe;
pub mod regs;
pub mod va_port;
pub mod variant;

pub use adapter::{Sun50iInvalidation, Sun50iIommu, SKIP_SYNC_FAILURES};
pub use hw::{Sun50iError, Sun50iHw};
pub use probe::Sun50iProbe;
pub use va_port::{VaPort, VA_PORT_STREAM};

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
