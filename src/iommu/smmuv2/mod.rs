//! Arm SMMUv1/v2 (generic SMMUv1/v2, CoreLink MMU-400/401/500, Qualcomm's
//! MMU-500 and SMMUv2): stream mapping groups (SMR/S2CR) route streams to
//! translation context banks, each with its own LPAE stage-1 tables and
//! ASID; TLB maintenance by VA or ASID through memory-mapped registers,
//! completed by TLBSYNC.  Register facts, their primary sources and where
//! sources disagree: docs/hw/smmuv2.md.
//!
//! * `regs.rs`: the GR0/GR1/context-bank register map over the `Mmio`
//!   seam and the page geometry;
//! * `variant.rs`: the implementations and their compatibles;
//! * `ids.rs`: the ID registers decoded;
//! * `context.rs`: packing a stage-1 context bank from the LPAE codec;
//! * `hw.rs`: reset and enable, stream mapping, context banks, TLB
//!   maintenance with bounded syncs, fault registers, MMU-500 and
//!   Qualcomm behaviour;
//! * `adapter.rs`: `Iommu` + `Observe` (and [`SKIP_SYNC_FAILURES`]);
//! * `fault.rs`: fault registers → fault records;
//! * `probe.rs`: bring-up from the device-tree node;
//! * `atos.rs`: the address translation operations as a DMA master (the
//!   self master);
//! * `tbu.rs`: a Qualcomm TBU's debug translation (ECATS) as a DMA master,
//!   the self master of a Qualcomm MMU-500 whose DT describes its TBUs.
//!
//! The behavioural model (`model`, with its own tests in `model_tests`) is
//! test scaffolding (`#[cfg(test)]`): it builds on `testkit`, which ranks
//! above `iommu` (docs/architecture.md, "Layers").  It was written from the
//! architecture (IHI 0062, the MMU-500 TRM DDI 0517), not from this driver.

pub mod adapter;
pub mod atos;
pub mod context;
pub mod fault;
pub mod hw;
pub mod ids;
pub mod probe;
pub mod regs;
pub mod tbu;
pub mod variant;

pub use adapter::{
    Smmuv2Invalidation, Smmuv2Iommu, Smmuv2Tag, SKIP_SYNC_FAILURES,
    SKIP_SYNC_FAILURES_TBU_PORT_ALONE, SKIP_SYNC_FAILURES_WITHOUT_WALK_CACHE,
};
pub use atos::AtosPort;
pub use hw::{Smmuv2Error, Smmuv2Hw};
pub use probe::Smmuv2Probe;
pub use tbu::TbuPort;

#[cfg(test)]
mod hw_tests;
#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
