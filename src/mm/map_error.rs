//! Why a device block could not be mapped ([`MapError`]): what was being
//! mapped, the range, and the identity map's reason ([`MapCause`]).  Used
//! by every layer that maps registers through the boot services (an
//! IOMMU's probe, a platform master's opener, a clock controller).
#![forbid(unsafe_code)]

use super::PhysRange;
use alloc::string::String;
use core::fmt;

/// Why the identity map refused a device block: the MMU layer's error on
/// target.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub type MapCause = crate::arch::aarch64::mmu::MmuError;

/// Why the identity map refused a device block: on the host there is no
/// identity map (`arch` exists on target only), so no mapping fails.
#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
pub type MapCause = core::convert::Infallible;

/// A device block could not be mapped (`ProbeEnv::map_device`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    /// What was being mapped (a node name).
    pub what: String,
    /// The range asked for.
    pub reg: PhysRange,
    /// Why the identity map refused it.
    pub cause: MapCause,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mapping {} at {}: {}", self.what, self.reg, self.cause)
    }
}
