//! PCI Express through a generic ECAM host bridge (`pci-host-ecam-generic`):
//! config-space access, bus-0 enumeration, BAR sizing and assignment from the
//! host bridge's `ranges` windows.
//!
//! Nobody enumerates PCI before us on QEMU `-kernel` boots (all BARs read 0,
//! COMMAND = 0; docs/hw/qemu-virt.md §6), so the image does it itself.

pub mod caps;
pub mod config;
pub mod ecam;
pub mod enumerate;
pub mod host;

pub use caps::{Capability, CAP_VENDOR};
pub use config::Bdf;
pub use ecam::Ecam;
pub use enumerate::{enumerate, Bar, BarKind, Function, PciError, Window, WindowKind};
pub use host::{EnumerationError, HostError};
