//! virtio 1.x over PCI (virtio 1.2 §4.1): the transport every virtio device
//! we drive shares — capability parsing ([`pci`]), reset and feature
//! negotiation ([`transport`]), split virtqueues in DMA-pool memory
//! ([`queue`]) and bounded used-ring polling.  The device drivers live with
//! their layer: `iommu::virtio_iommu`, `dma::virtio_blk`.
//!
//! No `unsafe`: rings go through `DmaBuf` accessors, registers through
//! `Mmio`.
#![forbid(unsafe_code)]

mod error;
#[cfg(test)]
pub mod model;
pub mod pci;
pub mod queue;
pub mod transport;

pub use error::{OpenVirtioError, VirtioError};
pub use pci::{parse_layout, Layout, Region};
pub use queue::{Buffer, SplitQueue, Used};
pub use transport::Transport;
