//! Apple DART (t8103, t6000, T8110): the IOMMU in front of Apple Silicon
//! peripherals — per-stream TCR/TTBR, 16 KiB two- or three-level tables in
//! two PTE formats (DART1, DART2), whole-stream TLB invalidation, boot
//! loader locks.  Register facts, their primary sources and where the
//! sources disagree: docs/hw/dart.md.
//!
//! * `model.rs` (with `model/`): the behavioural model, test scaffolding
//!   (`#[cfg(test)]`) built on `testkit`, which ranks above `iommu`
//!   (docs/architecture.md, "Layers").  It was written from m1n1's,
//!   U-Boot's and OpenBSD's descriptions of the hardware, not from any
//!   driver;
//! * `model_tests.rs`: the model programmed through raw register accesses.

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_tests;
