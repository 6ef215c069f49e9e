//! DMA masters: the devices whose DMA the self-test drives through an IOMMU.

pub mod edu;
pub mod edu_master;
