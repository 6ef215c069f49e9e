//! Identifiers the core passes between domains, drivers and masters.
#![forbid(unsafe_code)]

use core::fmt;

/// A stream (master) ID as the IOMMU sees it: SMMU StreamID, sun50i master
/// index, DART stream index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct StreamId(pub u32);

/// An address-space ID (ASID / context tag) carried by a domain's TLB entries.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Asid(pub u16);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sid {:#x}", self.0)
    }
}

impl fmt::Display for Asid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "asid {}", self.0)
    }
}
