//! IOMMU drivers and (later) the IOMMU core; see DESIGN.md "Layers".

pub mod smmuv3;
