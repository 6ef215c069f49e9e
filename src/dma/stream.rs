//! The stream (master) ID a DMA master's transactions carry.  It lives in
//! `dma`, below the IOMMU core, because masters report it; `crate::iommu`
//! re-exports it next to `Asid`.
#![forbid(unsafe_code)]

use core::fmt;

/// A stream (master) ID as the IOMMU sees it: SMMU StreamID, sun50i master
/// index, DART stream index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct StreamId(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sid {:#x}", self.0)
    }
}
