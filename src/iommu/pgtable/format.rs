//! The format-specific context values a driver needs besides the root table's
//! bus address (TCR/MAIR for LPAE; the sun50i and DART variants come with
//! their codecs).
#![forbid(unsafe_code)]

use super::LpaeContext;

/// Context programming values for one page-table format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TableFormat {
    /// ARM VMSAv8-64 stage 1.
    Lpae(LpaeContext),
    /// Allwinner sun50i: nothing beyond the root table, which goes to
    /// IOMMU_TTB_REG (sun50i-dart.md A.3, A.4).
    Sun50i,
    /// Apple DART: the granule (PARAMS1) the tables were built for; the root
    /// goes to the stream's TTBR (sun50i-dart.md B.5).
    Dart {
        /// Page size in bytes (16 KiB on Apple silicon).
        granule: u64,
    },
}
