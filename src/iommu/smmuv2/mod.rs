//! Arm SMMUv2 (IHI 0062): CoreLink MMU-500 and Qualcomm's MMU-500 behind
//! its hypervisor.  Register facts and their primary sources:
//! docs/hw/smmuv2.md.
//!
//! The behavioural model (`model`, with its own tests in `model_tests`) is
//! test scaffolding (`#[cfg(test)]`): it builds on `testkit`, which ranks
//! above `iommu` (docs/architecture.md, "Layers").  It was written from the
//! architecture (IHI 0062, the MMU-500 TRM DDI 0517), not from any driver.

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_tests;
