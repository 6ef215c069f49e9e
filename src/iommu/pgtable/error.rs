//! Errors of the page-table engine.  Every variant carries the addresses and
//! sizes involved so a failing test prints its evidence.
#![forbid(unsafe_code)]

use crate::mm::{BusAddr, Iova, PhysAddr};
use core::fmt;

/// Why a page-table operation was refused or stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PgTableError {
    /// A size of zero was requested.
    ZeroSize {
        /// The request's IOVA.
        iova: Iova,
    },
    /// IOVA, output address or size is not a multiple of the required alignment.
    Unaligned {
        /// The request's IOVA.
        iova: Iova,
        /// The request's output address (zero for unmap).
        phys: PhysAddr,
        /// The request's size.
        size: u64,
        /// The alignment every one of them must have.
        align: u64,
    },
    /// The IOVA range does not fit the table's input address size.
    IovaOutOfRange {
        /// The request's IOVA.
        iova: Iova,
        /// The request's size.
        size: u64,
        /// Input address size of the table in bits.
        input_bits: u32,
    },
    /// The output range does not fit the format's output address size.
    PhysOutOfRange {
        /// The request's output address.
        phys: PhysAddr,
        /// The request's size.
        size: u64,
        /// Output address size in bits.
        output_bits: u32,
    },
    /// The page size asked for is not a leaf size of this format.
    UnsupportedPageSize {
        /// The page size asked for.
        page_size: u64,
    },
    /// The format cannot express these permissions (for example no access at all).
    UnsupportedProt {
        /// The request's IOVA.
        iova: Iova,
    },
    /// Part of the range is already mapped.
    Overlap {
        /// Start of the span of the existing entry (leaf, or table with
        /// mappings) that the request ran into.
        iova: Iova,
        /// Table level holding the existing entry.
        level: u8,
    },
    /// No memory for a new table page.
    OutOfMemory {
        /// Level the table was needed for.
        level: u8,
        /// Bytes asked for.
        bytes: usize,
    },
    /// No memory for a new table page below the format's table-address
    /// limit ([`Codec::table_address_limit`](super::Codec::table_address_limit)):
    /// the memory is exhausted below it or lies above it.
    OutOfMemoryBelow {
        /// Level the table was needed for.
        level: u8,
        /// Bytes asked for.
        bytes: usize,
        /// Every byte of the table had to have a bus address below this.
        limit: u64,
    },
    /// A descriptor points at memory the allocator did not hand out.
    CorruptTable {
        /// Level of the descriptor.
        level: u8,
        /// The address it points at.
        next: BusAddr,
    },
    /// Splitting a block needs the old translation invalidated before the new
    /// table is installed (break-before-make) and the invalidation failed; the
    /// whole block is now unmapped.
    BreakFlushFailed {
        /// Start of the block.
        iova: Iova,
        /// Size of the block.
        size: u64,
    },
}

impl fmt::Display for PgTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroSize { iova } => write!(f, "zero-sized request at {iova:?}"),
            Self::Unaligned {
                iova,
                phys,
                size,
                align,
            } => write!(
                f,
                "{iova:?}/{phys:?} size {size:#x} not aligned to {align:#x}"
            ),
            Self::IovaOutOfRange {
                iova,
                size,
                input_bits,
            } => write!(
                f,
                "{iova:?}+{size:#x} outside a {input_bits}-bit input space"
            ),
            Self::PhysOutOfRange {
                phys,
                size,
                output_bits,
            } => write!(
                f,
                "{phys:?}+{size:#x} outside a {output_bits}-bit output space"
            ),
            Self::UnsupportedPageSize { page_size } => {
                write!(f, "page size {page_size:#x} not supported by the format")
            }
            Self::UnsupportedProt { iova } => {
                write!(f, "permissions for {iova:?} not expressible")
            }
            Self::Overlap { iova, level } => {
                write!(f, "{iova:?} already mapped at level {level}")
            }
            Self::OutOfMemory { level, bytes } => {
                write!(f, "no memory for a {bytes}-byte level-{level} table")
            }
            Self::OutOfMemoryBelow {
                level,
                bytes,
                limit,
            } => write!(
                f,
                "no memory below bus address {limit:#x} for a {bytes}-byte level-{level} table"
            ),
            Self::CorruptTable { level, next } => {
                write!(
                    f,
                    "level-{level} descriptor points at unknown table {next:?}"
                )
            }
            Self::BreakFlushFailed { iova, size } => write!(
                f,
                "invalidation during block split at {iova:?} (size {size:#x}) failed"
            ),
        }
    }
}

/// Why a software walk found no translation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TranslateError {
    /// The IOVA is beyond the table's input address size.
    OutOfRange {
        /// The IOVA.
        iova: Iova,
    },
    /// An invalid descriptor was met.
    NotMapped {
        /// The IOVA.
        iova: Iova,
        /// Level of the invalid descriptor.
        level: u8,
    },
    /// A descriptor points at memory the allocator did not hand out.
    CorruptTable {
        /// Level of the descriptor.
        level: u8,
        /// The address it points at.
        next: BusAddr,
    },
}
