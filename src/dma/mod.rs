//! DMA masters: the devices whose DMA the self-test drives through an IOMMU
//! (QEMU edu, virtio-blk).

pub mod edu;
pub mod edu_master;
pub mod virtio_blk;
