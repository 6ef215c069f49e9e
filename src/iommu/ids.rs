//! Identifiers the core passes between domains and drivers.  The stream ID
//! masters carry is `crate::dma::StreamId` (re-exported by the core).
#![forbid(unsafe_code)]

use core::fmt;

/// An address-space ID (ASID / context tag) carried by a domain's TLB entries.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Asid(pub u16);

impl fmt::Display for Asid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "asid {}", self.0)
    }
}
