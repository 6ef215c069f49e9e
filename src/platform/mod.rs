//! Platform discovery: what the firmware tells us about the machine.
//!
//! Each submodule describes one source of platform facts; see
//! `docs/architecture.md` for the layering.

pub mod dt;
