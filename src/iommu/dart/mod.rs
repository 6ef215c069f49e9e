//! Apple DART (t8103, t6000, t8110): per-stream TCR and TTBRs pointing at
//! two- or three-level tables of 16 KiB pages, a TLB kept per stream and
//! flushed only whole-stream (T8020 layout: stream select + command;
//! T8110 layout: one TLB_OP per stream), one latched error register, and a
//! lock the boot loader may set.  Register facts, their primary sources and
//! where the sources disagree: docs/hw/dart.md.
//!
//! * `regs.rs`: both register layouts over the `Mmio` seam;
//! * `variant.rs`: t8103, t8103-usb4, t6000, t8110 in one table;
//! * `sids.rs`: a stream set (what one invalidation names);
//! * `hw.rs`: identification, lock, reset, stream programming with
//!   read-back, bypass where allowed, the flushes with bounded busy polls,
//!   the error register;
//! * `adapter.rs`: `Iommu` + `Observe` (and [`SKIP_SYNC_FAILURES`]);
//! * `fault.rs`: the latched ERROR → fault records;
//! * `probe.rs`: bring-up from the device-tree node; a locked DART, or one
//!   the boot loader left translating, is left as found and its DMA cases
//!   SKIP naming why;
//! * `checks.rs`: what the driver checks with no DMA master (identity,
//!   lock, a stream read back, invalidations completing, the error
//!   register).
//!
//! The table format is `iommu::pgtable::dart`.
//!
//! Test scaffolding (`#[cfg(test)]`): `model.rs` (with `model/`) is the
//! behavioural model, built on `testkit`, which ranks above `iommu`
//! (docs/architecture.md, "Layers"); it was written from m1n1's, U-Boot's
//! and OpenBSD's descriptions of the hardware, not from this driver.
//! `model_tests.rs` programs the model through raw register accesses;
//! `tests.rs` runs this driver against a register-recording fake;
//! `model_runs.rs` runs it against the model (the catalogue on each
//! variant, the negative control, the driver bugs, locks, the register
//! checks, and the KTAP `cargo xtask test` judges); `oracle_dump.rs`
//! records its writes for the independent oracle (`tools/dart_oracle.py`).

pub mod adapter;
pub mod checks;
pub mod fault;
pub mod hw;
pub mod probe;
pub mod regs;
pub mod sids;
pub mod variant;

pub use adapter::{DartInvalidation, DartIommu, SKIP_SYNC_FAILURES};
pub use hw::{DartError, DartHw};
pub use probe::DartProbe;
pub use sids::SidSet;

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod model_runs;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod oracle_dump;
#[cfg(test)]
mod tests;
