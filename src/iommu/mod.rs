//! The IOMMU core: domains, the gather and the sync contract, the IOVA
//! allocator, and the traits drivers ([`Iommu`]) and DMA masters
//! ([`DmaMaster`]) implement.  Page tables live in [`pgtable`].
//!
//! No `unsafe` in this layer (DESIGN.md, "Layers").
#![forbid(unsafe_code)]

pub mod pgtable;
pub mod smmuv3;
pub mod virtio_iommu;

mod domain;
mod driver;
mod error;
mod ids;
mod iova;
mod master;
mod observe;
mod sync;

pub use domain::Domain;
pub use driver::{Context, Iommu, MapRequest};
pub use error::IommuError;
pub use ids::{Asid, StreamId};
pub use iova::{IovaAllocator, IovaError};
pub use master::{DmaError, DmaMaster, DmaReport};
pub use observe::{Access, Caching, Fault, FaultKind, Observe};
pub use pgtable::Gather;
pub use sync::{SyncPolicy, SyncRequest};
