//! virtio-iommu (virtio 1.2 §5.13) on the virtio PCI transport: the
//! protocol ([`proto`]), the device ([`device`]: bring-up, requests, fault
//! events) and the adapter to the core ([`adapter`]: mirroring the domain's
//! mappings with MAP/UNMAP).  QEMU 10.0.2 specifics: docs/hw/qemu-virt.md §4.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod device;
pub mod probe;
pub mod proto;

pub use adapter::{DomainId, Unmap, VirtioIommu, SKIP_SYNC_FAILURES, VIRTIO_IOMMU_CAPABILITIES};
pub use device::{DeviceInfo, ViommuError, VirtioIommuDevice};

/// Modern virtio-pci device ID of virtio-iommu (0x1040 + 23).
pub const PCI_DEVICE: u16 = 0x1057;

#[cfg(test)]
pub mod model;
#[cfg(test)]
mod tests;
