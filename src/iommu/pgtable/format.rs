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
}
