//! The IOMMU core: domains, the gather and the sync contract, the IOVA
//! allocator, and the trait drivers ([`Iommu`]) implement.  Page tables live
//! in [`pgtable`].  The DMA master trait ([`DmaMaster`]) and [`StreamId`] live
//! in the `dma` layer below and are re-exported here.
//!
//! No `unsafe` in this layer (docs/design.md §1, "Layers").
#![forbid(unsafe_code)]

pub mod dart;
pub mod pgtable;
pub mod probe;
pub mod probe_error;
pub mod smmuv2;
pub mod smmuv3;
pub mod sun50i;
pub mod vecmap;
pub mod virtio_iommu;

mod caps;
#[cfg(test)]
mod cost_table;
mod domain;
mod driver;
pub mod erased;
mod error;
mod gate;
mod ids;
mod iova;
mod observe;
mod sync;

pub use crate::dma::{DmaError, DmaMaster, DmaReport, StreamId};
pub use caps::{
    Capabilities, ContextInvalidation, Contexts, Detach, FaultDelivery, FaultShape, Observable,
};
pub use domain::Domain;
pub use driver::{Context, ContextOf, Iommu, MapRequest};
pub use error::IommuError;
pub use gate::InvalidationGate;
pub use ids::Asid;
pub use iova::{IovaAllocator, IovaError};
pub use observe::{Access, Fault, FaultKind, Observe, RawRecord};
pub use pgtable::Gather;
pub use sync::{SyncPolicy, SyncRequest};
