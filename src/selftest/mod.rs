//! The self-test: the case catalogue, the runner, and the KTAP reporter.
//!
//! Cases are plain functions over a context; they return an [`Outcome`] with
//! the evidence as diagnostics.  No `unsafe` here: whatever a case needs from
//! the hardware is gathered by lower layers and handed over as data or traits.
#![forbid(unsafe_code)]

pub mod early;
pub mod families;
pub mod guarded;
pub mod iommu_cases;
pub mod ktap;
pub mod needs;
pub mod plan;
pub mod platform;
pub mod preflight;
pub mod relr;
pub mod runner;
pub mod setup_error;

pub use runner::{Case, Group, Outcome, Totals};
