//! DMA masters: the devices whose DMA the self-test drives through an IOMMU
//! (QEMU edu, virtio-blk; platform engines from the [`platform`] registry:
//! the ZynqMP ZDMA), and the [`DmaMaster`] trait they implement with the
//! [`StreamId`] their transactions carry.

pub mod edu;
pub mod edu_master;
pub mod master;
pub mod open_error;
pub mod platform;
pub mod spec;
pub mod stream;
pub mod virtio_blk;
pub mod zdma;

pub use master::{DmaError, DmaMaster, DmaReport};
pub use open_error::{EduOpenError, OpenError};
pub use spec::{MasterSource, MasterSpec, StreamSpec};
pub use stream::StreamId;
