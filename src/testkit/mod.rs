//! The host-model kit: everything a family's behavioural model and its
//! host tests share, so no model carries its own copy (docs/design.md, "The
//! shape for five families", item 5).
//!
//! * [`ram`] — host memory standing in for RAM and the page-table arena;
//! * [`walk`] — reference table walkers, written from the architecture
//!   text independently of the crate's codecs, so a model cross-checks what
//!   the page-table engine wrote instead of agreeing with it by
//!   construction; [`walk_dart`] is the Apple DART's (both PTE formats,
//!   2 or 3 table levels, the T8020 layout's four TTBRs);
//! * [`cache`] — a cache whose entries stay until invalidated (TLB, walk
//!   cache, configuration cache), with configurable keying;
//! * [`master`] — one model DMA master over any model's translation;
//! * [`mutate`] — table memory that corrupts the entries written, to show
//!   which case catches a wrong PTE;
//! * [`toy`] — a toy IOMMU built from the pieces above whose shape
//!   (contexts, caches, invalidation scope, detach behaviour) is chosen per
//!   test, so the catalogue can be run against every combination of
//!   capabilities.
//!
//! Built for unit tests and, with the `testkit` cargo feature, for `tests/`
//! and `benches/`; never part of the image.
#![forbid(unsafe_code)]

pub mod cache;
pub mod master;
pub mod mutate;
pub mod ram;
pub mod toy;
pub mod walk;
pub mod walk_dart;

#[cfg(test)]
mod tests;
