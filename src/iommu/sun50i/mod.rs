//! Allwinner sun50i IOMMU (H6, H616/H618): one IOMMU with one two-level
//! table shared by up to seven masters (micro-TLB slots), a macro TLB and a
//! PTW (directory-entry) cache, invalidated through address/mask and
//! single-directory-entry registers with self-clearing busy bits.
//! Register facts, their primary sources and where Linux disagrees with the
//! manuals: docs/hw/sun50i.md.
//!
//! Only the host behavioural model lives here so far (`model.rs`, written
//! from the manuals' register descriptions, not from any driver); the driver
//! files (`regs.rs`, `variant.rs`, `hw.rs`, `adapter.rs`, `fault.rs`,
//! `probe.rs`) come with the driver.
//!
//! The model is test scaffolding (`#[cfg(test)]`): it builds on `testkit`,
//! which ranks above `iommu` (docs/architecture.md, "Layers").

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_tests;
