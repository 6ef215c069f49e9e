//! Arm SMMUv3 hardware layer: registers, ID probing, command and event
//! queues, stream table entries, context descriptors, fault records and the
//! driver that enables the SMMU and issues invalidations.
//!
//! This layer sits below the IOMMU core (Domain/Gather/SyncPolicy and the
//! page-table engine): it takes plain values (TCR-like fields, TTB, MAIR,
//! ASID, IOVA ranges) and knows nothing about how they were chosen.
//! References: `shared/hw/smmu.md` Part A (restating Arm IHI0070, Linux
//! `arm-smmu-v3.[ch]`, FreeBSD `smmureg.h`, QEMU `smmuv3-internal.h`) and
//! `shared/hw/qemu-virt.md` §1 (what QEMU 10.0.2 really does).

pub mod cd;
pub mod coherency;
pub mod command;
pub mod driver;
pub mod error;
pub mod event;
pub mod features;
pub mod queue;
pub mod regs;
pub mod ste;
pub mod strtab;

pub use command::{Command, TlbiForm, TlbiPolicy, TlbiRequest};
pub use driver::{Smmuv3, Smmuv3Config, VaRange};
pub use error::{CommandError, CommandErrorKind, Smmuv3Error};
pub use features::{Features, Granule, StallModel};

#[cfg(test)]
pub(crate) mod model;
#[cfg(test)]
mod tests;
