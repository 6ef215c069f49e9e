//! iommu-bringup: a bootable aarch64 image that proves a board's IOMMU does
//! what its driver believes — in particular that an unmapped translation is
//! really gone once the documented invalidation has run.
//!
//! The crate is a library plus a thin binary (`src/main.rs`).  Everything that
//! is not tied to the CPU builds and is unit tested on the host; `arch` only
//! exists on `aarch64-unknown-none`.  See `docs/architecture.md` for the
//! layering.
#![cfg_attr(not(any(test, feature = "testkit")), no_std)]
#![deny(missing_docs)]

extern crate alloc;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod arch;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod boot;
pub mod dma;
pub mod iommu;
pub mod mm;
pub mod mmio;
pub mod platform;
pub mod selftest;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod virtio;
