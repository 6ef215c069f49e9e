//! The per-format descriptor codec the walker is generic over.
//!
//! A codec describes the shape of a format (levels, index bits per level,
//! table sizes, entry width, where leaves may sit) and converts descriptors to
//! and from the walker's neutral view ([`Pte`]).  The walker owns everything
//! else: allocation, counting live entries, freeing, splitting, cache cleaning.
//!
//! The trait is shaped so the three formats the project needs fit without
//! touching the walker:
//!
//! * ARM LPAE / VMSAv8-64 stage 1 (this module's [`Lpae`](super::Lpae)):
//!   64-bit entries, 2–4 levels, top table possibly smaller than a granule,
//!   blocks at intermediate levels (docs/hw/lpae.md §1, §2).
//! * Allwinner sun50i: 2 levels of 32-bit entries, a 16 KiB level-1 table and
//!   1 KiB level-2 tables, 4 KiB pages only (docs/hw/sun50i.md §4) —
//!   `ENTRY_BYTES = 4`, [`Codec::table_bytes`] per level.
//! * Apple DART: 16 KiB granule, 64-bit entries with the PA stored shifted and
//!   sub-page protection fields (docs/hw/dart.md §5) — handled inside
//!   [`Codec::encode_leaf`] / [`Codec::decode`].
//!
//! Levels are numbered as the format's documentation numbers them (LPAE: the
//! start level derived from T0SZ up to 3), so gathers and errors speak the
//! hardware's language.
#![forbid(unsafe_code)]

use super::Prot;
use crate::mm::{BusAddr, PhysAddr};

/// A descriptor as the walker sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pte {
    /// Nothing mapped (or a reserved encoding the hardware treats as a fault).
    Invalid,
    /// Points at a next-level table.
    Table(BusAddr),
    /// A block or page: the output address of the first byte of its span.
    Leaf(PhysAddr),
}

/// A page-table format.  The codec holds numbers only (shape, descriptor
/// encodings); packing a context register for tables of this format is the
/// driver's job, which names the codec as its `Iommu::Format`.
pub trait Codec: core::fmt::Debug {
    /// Bytes per descriptor: 8 (LPAE, DART) or 4 (sun50i).
    const ENTRY_BYTES: usize;

    /// Bytes per descriptor of this instance: what the walker reads.  The
    /// default is [`Self::ENTRY_BYTES`]; only a codec that stands for
    /// several formats ([`AnyCodec`](super::AnyCodec)) overrides it.
    #[inline]
    fn entry_bytes(&self) -> usize {
        Self::ENTRY_BYTES
    }

    /// Level of the top table.
    fn start_level(&self) -> u8;
    /// Level of the last table (where the smallest pages live).
    fn last_level(&self) -> u8;
    /// Input (IOVA) address size in bits.
    fn input_bits(&self) -> u32;
    /// Output address size in bits.
    fn output_bits(&self) -> u32;
    /// Bit position of the lowest IOVA bit indexing `level`; one entry at this
    /// level spans `1 << level_shift(level)` bytes.
    fn level_shift(&self, level: u8) -> u32;
    /// Number of entries in a table at `level`.
    fn level_entries(&self, level: u8) -> usize;
    /// Bytes of a table at `level` (its allocation size).
    fn table_bytes(&self, level: u8) -> usize {
        self.level_entries(level) * Self::ENTRY_BYTES
    }
    /// Alignment a table at `level` needs.
    fn table_align(&self, level: u8) -> usize {
        self.table_bytes(level)
    }
    /// Bus address every byte of every table must lie below, when the format
    /// stores table addresses in fewer bits than the bus has (sun50i: 32-bit
    /// TTB and DTE fields, so `Some(1 << 32)`; docs/hw/sun50i.md §4.2).  The
    /// walker allocates with [`TableMemory::alloc_table_below`] then, and
    /// refuses a table the memory placed above the limit with
    /// [`PgTableError::OutOfMemoryBelow`] rather than write a truncated
    /// descriptor.  `None` (the default): anywhere.
    ///
    /// [`TableMemory::alloc_table_below`]: super::TableMemory::alloc_table_below
    /// [`PgTableError::OutOfMemoryBelow`]: super::PgTableError::OutOfMemoryBelow
    fn table_address_limit(&self) -> Option<u64> {
        None
    }
    /// `true` when a leaf (block or page) may be written at `level`.
    fn leaf_allowed(&self, level: u8) -> bool;
    /// Checks that `prot` is expressible; [`encode_leaf`](Self::encode_leaf)
    /// is only called with permissions that passed.
    fn prot_supported(&self, prot: Prot) -> bool;

    /// Decodes a raw descriptor found at `level`.
    fn decode(&self, level: u8, raw: u64) -> Pte;
    /// Encodes a descriptor pointing at a next-level table.
    fn encode_table(&self, level: u8, next: BusAddr) -> u64;
    /// Encodes a leaf at `level` mapping `oa` (aligned to the level's span).
    fn encode_leaf(&self, level: u8, oa: PhysAddr, prot: Prot) -> u64;
    /// Recovers the permissions of a leaf descriptor.
    fn leaf_prot(&self, level: u8, raw: u64) -> Prot;

    /// The smallest page size (the granule).
    fn granule(&self) -> u64 {
        1u64 << self.level_shift(self.last_level())
    }

    /// `Some(step)` when leaves at `level` encode their output address
    /// linearly: for a span-aligned `oa` whose run stays within the output
    /// size, `encode_leaf(level, oa + span, prot)` is always
    /// `encode_leaf(level, oa, prot) + step`.  The walker then writes a run
    /// of leaves as one fill ([`TableMemory::fill`]) instead of encoding
    /// each.  The default `None` makes it encode every leaf — always right.
    ///
    /// [`TableMemory::fill`]: super::TableMemory::fill
    fn leaf_step(&self, _level: u8) -> Option<u64> {
        None
    }
}
