//! The Apple DART page-table codec: the DART1 (t8103) and DART2 (t6000,
//! t8110) descriptor formats.
//!
//! Shape (docs/hw/dart.md §5): a 16 KiB granule, 64-bit little-endian
//! entries, 2048 per 16 KiB table (11 index bits per level), no block
//! entries — every entry above the last level points at a table and every
//! last-level entry is a 16 KiB page.  IOVA\[24:14\] indexes the last
//! level (L2), \[35:25\] L1, and with the T8110 TCR.FOUR_LEVEL walk
//! \[46:36\] an L0 table above it.  Levels are numbered as m1n1 numbers
//! them: L0 (only in the three-level walk), L1, L2.
//!
//! On the T8020 register layout (t8103, t6000) a stream has up to four
//! TTBRs and IOVA\[37:36\] — the bits just above the L1 index — choose one
//! ([`ttbr_index`]).  Every user of that layout with a known window
//! (Linux IAS 32, U-Boot and OpenBSD's 4 GiB window, m1n1's Python masking
//! IOVAs to 32 bits) stays within TTBR0, and so does this codec: its input
//! size is at most 36 bits in the two-level walk, so every IOVA it maps
//! has TTBR index 0 and the driver programs TTBR0 and clears the other
//! three.
//!
//! Leaf entries (docs/hw/dart.md §5):
//!
//! * both formats: SP_START \[63:52\] = 0 and SP_END \[51:40\] = 0xFFF,
//!   the sub-page protection window covering the whole page (the hardware
//!   enforces the window; U-Boot, OpenBSD, m1n1 and Linux all write 0 /
//!   0xFFF), VALID \[0\];
//! * DART1: the PA in place (page aligned), SP_DIS \[1\] set as m1n1 and
//!   Linux do (U-Boot and OpenBSD leave it clear and rely on the window,
//!   which also covers the page), NO_READ \[8\] / NO_WRITE \[7\] (Linux
//!   only, unconfirmed by a second source);
//! * DART2: PA\[41:14\] at \[37:10\] (the PA shifted right by 4),
//!   NO_READ \[3\] / NO_WRITE \[2\] (Linux and m1n1's T8110 register
//!   file agree), bit 1 clear (its meaning is disputed: Linux "no-cache",
//!   m1n1 "uncachable" / "realtime"; m1n1's C code, U-Boot and OpenBSD leave
//!   it clear).
//!
//! Table entries carry the next table's address encoded like a leaf's PA
//! and VALID only, as Linux and m1n1's C code write them (U-Boot, OpenBSD
//! and m1n1's Python also set bit 1; every source treats it as don't-care
//! when walking).
//!
//! Output size: what both readings of the PA field agree on — 36 bits for
//! DART1 (Linux's OAS; m1n1's field \[39:14\] is wider) and 42 for DART2
//! (Linux and m1n1's T8110 \[37:10\]; m1n1's t6000 field reaches 44).  Table
//! addresses go through the same field, so tables must lie below
//! `1 << output_bits` ([`Codec::table_address_limit`]).
//!
//! Sources: Linux `drivers/iommu/io-pgtable-dart.c`, m1n1
//! `proxyclient/m1n1/hw/dart8020.py` / `dart8110.py` and `src/dart.c`,
//! U-Boot `drivers/iommu/apple_dart.c`, OpenBSD `apldart.c`, as summarised
//! with their tags in docs/hw/dart.md.  Written from those descriptions.
#![forbid(unsafe_code)]

use super::{Codec, MemAttr, Prot, Pte};
use crate::mm::{BusAddr, PhysAddr};
use core::fmt;

/// log2 of the granule: 16 KiB pages (PARAMS1 \[27:24\] = 14 on every Apple
/// Silicon DART; docs/hw/dart.md §2).
pub const PAGE_SHIFT: u32 = 14;
/// The granule in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Index bits per level (2048 eight-byte entries in a 16 KiB table).
pub const INDEX_BITS: u32 = 11;
/// Entries per table.
pub const ENTRIES: usize = 1 << INDEX_BITS;

/// L0: the top table of the T8110 three-level walk (TCR.FOUR_LEVEL).
pub const L0: u8 = 0;
/// L1: the top table of the two-level walk.
pub const L1: u8 = 1;
/// L2: the last level (16 KiB pages).
pub const L2: u8 = 2;

/// Entry bit 0: valid (tables and leaves).
pub const VALID: u64 = 1;
/// SP_START \[63:52\]: first allowed 4-byte word of the page.
pub const SP_START_SHIFT: u32 = 52;
/// SP_END \[51:40\]: last allowed 4-byte word, inclusive.
pub const SP_END_SHIFT: u32 = 40;
/// Mask of one sub-page field (after shifting).
pub const SP_FIELD: u64 = 0xfff;
/// START 0, END 0xFFF: the whole 16 KiB page is accessible.
pub const SP_WHOLE_PAGE: u64 = SP_FIELD << SP_END_SHIFT;

/// DART1 leaf bit 1: sub-page protection disabled (m1n1, Linux).
pub const DART1_SP_DIS: u64 = 1 << 1;
/// DART1 leaf bit 7: writes refused (Linux only; unconfirmed).
pub const DART1_NO_WRITE: u64 = 1 << 7;
/// DART1 leaf bit 8: reads refused (Linux only; unconfirmed).
pub const DART1_NO_READ: u64 = 1 << 8;
/// DART1 address field as m1n1 reads it: PA\[39:14\] in place.  Linux's
/// mask is \[35:12\]; for a page-aligned PA below 2^36 both agree.
pub const DART1_PA_FIELD: u64 = 0x0000_00ff_ffff_c000;

/// DART2 leaf bit 1: disputed meaning (Linux NO_CACHE, m1n1 UNCACHABLE /
/// REALTIME); never set by this codec.
pub const DART2_BIT1: u64 = 1 << 1;
/// DART2 leaf bit 2: writes refused (m1n1 WRPROT, Linux NO_WRITE).
pub const DART2_NO_WRITE: u64 = 1 << 2;
/// DART2 leaf bit 3: reads refused (m1n1 RDPROT, Linux NO_READ).
pub const DART2_NO_READ: u64 = 1 << 3;
/// DART2 address field: PA\[41:14\] stored at \[37:10\].
pub const DART2_PA_FIELD: u64 = 0x0000_003f_ffff_fc00;
/// DART2 stores the PA shifted right by this many bits.
pub const DART2_PA_SHIFT: u32 = 4;

/// IOVA bit where the T8020 layout's TTBR index starts (\[37:36\], just
/// above the L1 index).
pub const TTBR_INDEX_SHIFT: u32 = 36;
/// TTBRs per stream on the T8020 layout.
pub const T8020_TTBRS: usize = 4;

/// The largest input size of the two-level walk: one TTBR's table covers
/// 2^36 bytes (11 + 11 + 14 bits).
pub const TWO_LEVEL_MAX_INPUT: u32 = PAGE_SHIFT + 2 * INDEX_BITS;
/// The largest input size of the three-level walk (11 more bits).
pub const THREE_LEVEL_MAX_INPUT: u32 = PAGE_SHIFT + 3 * INDEX_BITS;
/// The largest output size of a DART1 entry this codec writes.
pub const DART1_MAX_OUTPUT: u32 = 36;
/// The largest output size of a DART2 entry this codec writes.
pub const DART2_MAX_OUTPUT: u32 = 42;

/// The TTBR a T8020-layout stream uses for `iova`: IOVA\[37:36\].
pub const fn ttbr_index(iova: u64) -> usize {
    ((iova >> TTBR_INDEX_SHIFT) & (T8020_TTBRS as u64 - 1)) as usize
}

/// The leaf (PTE) format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteFormat {
    /// DART1: t8103 (and its USB4 DARTs), PA in place.
    Dart1,
    /// DART2: t6000 and the T8110 layout, PA shifted right by 4.
    Dart2,
}

impl PteFormat {
    /// The widest output this codec writes in the format.
    pub const fn max_output_bits(self) -> u32 {
        match self {
            Self::Dart1 => DART1_MAX_OUTPUT,
            Self::Dart2 => DART2_MAX_OUTPUT,
        }
    }

    /// The address field holding a table's or page's `pa`.
    pub const fn encode_pa(self, pa: u64) -> u64 {
        match self {
            Self::Dart1 => pa & DART1_PA_FIELD,
            Self::Dart2 => (pa >> DART2_PA_SHIFT) & DART2_PA_FIELD,
        }
    }

    /// The address an entry's field holds.
    pub const fn decode_pa(self, raw: u64) -> u64 {
        match self {
            Self::Dart1 => raw & DART1_PA_FIELD,
            Self::Dart2 => (raw & DART2_PA_FIELD) << DART2_PA_SHIFT,
        }
    }

    /// The (no-read, no-write) bits.
    pub const fn prot_bits(self) -> (u64, u64) {
        match self {
            Self::Dart1 => (DART1_NO_READ, DART1_NO_WRITE),
            Self::Dart2 => (DART2_NO_READ, DART2_NO_WRITE),
        }
    }
}

/// A geometry the DART cannot walk, with the numbers that said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DartFormatError {
    /// Only two or three table levels exist.
    Levels {
        /// Levels asked for.
        levels: u8,
    },
    /// The input size does not fit the walk.
    InputBits {
        /// Bits asked for.
        input_bits: u32,
        /// Table levels of the walk.
        levels: u8,
    },
    /// The output size is wider than the entry format holds.
    OutputBits {
        /// Bits asked for.
        output_bits: u32,
        /// The format.
        pte: PteFormat,
    },
}

impl fmt::Display for DartFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Levels { levels } => write!(
                f,
                "{levels} table levels: a DART walks two (L1, L2) or, with T8110 TCR.FOUR_LEVEL, three (L0, L1, L2)"
            ),
            Self::InputBits { input_bits, levels } => write!(
                f,
                "{input_bits}-bit IOVA: {levels} levels of 16 KiB tables cover {} bits at most",
                PAGE_SHIFT + u32::from(*levels) * INDEX_BITS
            ),
            Self::OutputBits { output_bits, pte } => write!(
                f,
                "{output_bits}-bit output: {pte:?} entries hold {} bits",
                pte.max_output_bits()
            ),
        }
    }
}

/// One DART table format: the leaf format, the number of table levels,
/// and the input and output sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dart {
    pte: PteFormat,
    levels: u8,
    input_bits: u32,
    output_bits: u32,
}

impl Dart {
    /// A format after checking the geometry: two levels reach at most 36
    /// input bits, three at most 47; the output fits the format's field.
    pub const fn new(
        pte: PteFormat,
        levels: u8,
        input_bits: u32,
        output_bits: u32,
    ) -> Result<Self, DartFormatError> {
        let max_input = match levels {
            2 => TWO_LEVEL_MAX_INPUT,
            3 => THREE_LEVEL_MAX_INPUT,
            _ => return Err(DartFormatError::Levels { levels }),
        };
        if input_bits <= PAGE_SHIFT || input_bits > max_input {
            return Err(DartFormatError::InputBits { input_bits, levels });
        }
        if output_bits <= PAGE_SHIFT || output_bits > pte.max_output_bits() {
            return Err(DartFormatError::OutputBits { output_bits, pte });
        }
        Ok(Self {
            pte,
            levels,
            input_bits,
            output_bits,
        })
    }

    /// t8103: DART1 entries, two levels, 32-bit IOVA (TTBR0 only, L1
    /// entries 0..127), 36-bit output.
    pub const fn t8103() -> Self {
        Self {
            pte: PteFormat::Dart1,
            levels: 2,
            input_bits: 32,
            output_bits: DART1_MAX_OUTPUT,
        }
    }

    /// t6000: DART2 entries on the T8020 layout, two levels, 32-bit IOVA,
    /// 42-bit output.
    pub const fn t6000() -> Self {
        Self {
            pte: PteFormat::Dart2,
            levels: 2,
            input_bits: 32,
            output_bits: DART2_MAX_OUTPUT,
        }
    }

    /// The leaf format.
    pub const fn pte_format(&self) -> PteFormat {
        self.pte
    }

    /// Table levels below the TTBR: 2 or 3.
    pub const fn levels(&self) -> u8 {
        self.levels
    }

    /// `true` for the three-level walk (T8110 TCR.FOUR_LEVEL).
    pub const fn three_level(&self) -> bool {
        self.levels == 3
    }

    /// The sub-page window of a leaf: (SP_START, SP_END).
    pub const fn subpage(raw: u64) -> (u16, u16) {
        (
            ((raw >> SP_START_SHIFT) & SP_FIELD) as u16,
            ((raw >> SP_END_SHIFT) & SP_FIELD) as u16,
        )
    }
}

impl Codec for Dart {
    const ENTRY_BYTES: usize = 8;

    #[inline]
    fn start_level(&self) -> u8 {
        if self.levels == 3 {
            L0
        } else {
            L1
        }
    }

    #[inline]
    fn last_level(&self) -> u8 {
        L2
    }

    #[inline]
    fn input_bits(&self) -> u32 {
        self.input_bits
    }

    #[inline]
    fn output_bits(&self) -> u32 {
        self.output_bits
    }

    #[inline]
    fn level_shift(&self, level: u8) -> u32 {
        // L2 [24:14], L1 [35:25], L0 [46:36] (docs/hw/dart.md §5).
        PAGE_SHIFT + INDEX_BITS * u32::from(L2 - level.min(L2))
    }

    #[inline]
    fn level_entries(&self, _level: u8) -> usize {
        // Every table is one 16 KiB page, the top one included: the TTBR
        // points at a whole page even when the input size reaches only
        // part of it.
        ENTRIES
    }

    // table_bytes / table_align: 2048 × 8 = 16 KiB, aligned to 16 KiB —
    // what the T8110 TTBR (PA >> 14) needs and more than the T8020 TTBR's
    // 4 KiB (docs/hw/dart.md §2).

    fn table_address_limit(&self) -> Option<u64> {
        // Table entries hold the next table in the leaf's address field,
        // and both TTBR encodings reach at least 42 bits.
        Some(1u64 << self.output_bits)
    }

    #[inline]
    fn leaf_allowed(&self, level: u8) -> bool {
        // No block entries in any source (docs/hw/dart.md §5).
        level == L2
    }

    fn prot_supported(&self, prot: Prot) -> bool {
        // A leaf has a read and a write prohibit bit and nothing else: no
        // execute, privilege or memory-type field, so every page is
        // executable and takes its memory type from the master.  A mapping
        // with neither read nor write is refused as Linux refuses it
        // (io-pgtable-dart `dart_map_pages`): the hardware's behaviour for
        // both bits set is not described by any source.
        (prot.read || prot.write)
            && prot.exec
            && !prot.privileged
            && prot.attr == MemAttr::NonCacheable
    }

    #[inline]
    fn decode(&self, level: u8, raw: u64) -> Pte {
        if raw & VALID == 0 {
            return Pte::Invalid;
        }
        let pa = self.pte.decode_pa(raw);
        if level < L2 {
            // Bit 1 of a table entry is don't-care (docs/hw/dart.md §5).
            Pte::Table(BusAddr(pa))
        } else {
            Pte::Leaf(PhysAddr(pa))
        }
    }

    #[inline]
    fn encode_table(&self, _level: u8, next: BusAddr) -> u64 {
        // The walker allocated `next` below `table_address_limit`, 16 KiB
        // aligned, so the field holds it exactly.
        debug_assert!(next.0 >> self.output_bits == 0 && next.0.is_multiple_of(PAGE_SIZE));
        self.pte.encode_pa(next.0) | VALID
    }

    #[inline]
    fn encode_leaf(&self, _level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        // The walker checked that OA + size fits `output_bits`.
        debug_assert!(oa.0 >> self.output_bits == 0 && oa.0.is_multiple_of(PAGE_SIZE));
        let (no_read, no_write) = self.pte.prot_bits();
        let mut raw = SP_WHOLE_PAGE | self.pte.encode_pa(oa.0) | VALID;
        if self.pte == PteFormat::Dart1 {
            raw |= DART1_SP_DIS;
        }
        if !prot.read {
            raw |= no_read;
        }
        if !prot.write {
            raw |= no_write;
        }
        raw
    }

    #[inline]
    fn leaf_step(&self, _level: u8) -> Option<u64> {
        // The address field holds the PA in place (DART1) or PA >> 4
        // (DART2), and the walker keeps a run within `output_bits`, which
        // either field holds whole: +16 KiB or +1 KiB per page.
        Some(self.pte.encode_pa(PAGE_SIZE))
    }

    fn leaf_prot(&self, _level: u8, raw: u64) -> Prot {
        let (no_read, no_write) = self.pte.prot_bits();
        Prot {
            read: raw & no_read == 0,
            write: raw & no_write == 0,
            ..Prot::rw()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_16k_tables_of_2048_entries_at_14_25_36() {
        let c = Dart::t8103();
        assert_eq!(Dart::ENTRY_BYTES, 8);
        assert_eq!((c.start_level(), c.last_level()), (1, 2));
        assert_eq!((c.table_bytes(1), c.table_align(1)), (16 << 10, 16 << 10));
        assert_eq!(c.granule(), 16 << 10);
        assert_eq!((c.level_shift(2), c.level_shift(1)), (14, 25));
        let t = Dart::new(PteFormat::Dart2, 3, 42, 42).unwrap();
        assert_eq!(t.start_level(), 0);
        assert_eq!(t.level_shift(0), 36);
        assert!(!t.leaf_allowed(0) && !t.leaf_allowed(1) && t.leaf_allowed(2));
        assert_eq!(c.table_address_limit(), Some(1 << 36));
        assert_eq!(Dart::t6000().table_address_limit(), Some(1 << 42));
    }

    /// A run of leaves is written as one fill (`Codec::leaf_step`): the
    /// next page's leaf is this one's plus the step, up to the last page
    /// the output size holds, in both formats and every permission.
    #[test]
    fn leaf_step_is_what_encoding_gives() {
        for c in [Dart::t8103(), Dart::t6000()] {
            let step = c.leaf_step(L2).unwrap();
            let top = (1u64 << c.output_bits()) - PAGE_SIZE;
            for prot in [
                Prot::rw(),
                Prot::ro(),
                Prot {
                    read: false,
                    ..Prot::rw()
                },
            ] {
                for oa in [0, PAGE_SIZE, 0x8_0000_0000, top - PAGE_SIZE] {
                    assert_eq!(
                        c.encode_leaf(L2, PhysAddr(oa), prot) + step,
                        c.encode_leaf(L2, PhysAddr(oa + PAGE_SIZE), prot),
                        "{c:?} {oa:#x} {prot:?}"
                    );
                }
                assert_eq!(
                    c.decode(L2, c.encode_leaf(L2, PhysAddr(top), prot)),
                    Pte::Leaf(PhysAddr(top))
                );
            }
        }
    }

    #[test]
    fn geometries_the_walk_cannot_reach_are_refused_with_the_numbers() {
        assert_eq!(
            Dart::new(PteFormat::Dart2, 2, 37, 42),
            Err(DartFormatError::InputBits {
                input_bits: 37,
                levels: 2
            })
        );
        assert!(Dart::new(PteFormat::Dart2, 2, 36, 42).is_ok());
        assert!(Dart::new(PteFormat::Dart2, 3, 47, 42).is_ok());
        assert!(Dart::new(PteFormat::Dart2, 3, 48, 42).is_err());
        assert_eq!(
            Dart::new(PteFormat::Dart1, 2, 32, 40),
            Err(DartFormatError::OutputBits {
                output_bits: 40,
                pte: PteFormat::Dart1
            })
        );
        assert_eq!(
            Dart::new(PteFormat::Dart1, 4, 32, 36),
            Err(DartFormatError::Levels { levels: 4 })
        );
        let e = Dart::new(PteFormat::Dart2, 2, 40, 42).unwrap_err();
        assert!(format!("{e}").contains("cover 36 bits"), "{e}");
    }

    #[test]
    fn ttbr_index_is_iova_37_36() {
        assert_eq!(ttbr_index(0xffff_ffff), 0);
        assert_eq!(ttbr_index(0x1_0000_0000 << 4), 1);
        assert_eq!(ttbr_index(0x3_0000_0000 << 4), 3);
        assert_eq!(ttbr_index(0x4_0000_0000 << 4), 0);
    }

    #[test]
    fn leaves_cover_the_whole_page_and_carry_the_format_bits() {
        // Hand-written words (docs/hw/dart.md §5): DART1 PA in place with
        // SP_DIS, DART2 PA >> 4 with bit 1 clear.
        let d1 = Dart::t8103();
        assert_eq!(
            d1.encode_leaf(2, PhysAddr(0x8_0123_4000), Prot::rw()),
            0x000f_ff08_0123_4003
        );
        assert_eq!(
            d1.encode_leaf(2, PhysAddr(0x8_0123_4000), Prot::ro()),
            0x000f_ff08_0123_4083
        );
        let d2 = Dart::t6000();
        assert_eq!(
            d2.encode_leaf(2, PhysAddr(0x100_0123_4000), Prot::rw()),
            0x000f_ff10_0012_3401
        );
        assert_eq!(
            d2.encode_leaf(2, PhysAddr(0x100_0123_4000), Prot::ro()),
            0x000f_ff10_0012_3405
        );
        let wo = Prot {
            read: false,
            ..Prot::rw()
        };
        assert_eq!(
            d2.encode_leaf(2, PhysAddr(0x100_0123_4000), wo),
            0x000f_ff10_0012_3409
        );
        assert_eq!(d2.leaf_prot(2, 0x000f_ff10_0012_3409), wo);
        assert_eq!(d1.leaf_prot(2, 0x000f_ff08_0123_4083), Prot::ro());
        assert_eq!(Dart::subpage(0x000f_ff08_0123_4003), (0, 0xfff));
    }

    #[test]
    fn tables_carry_valid_only_and_bit1_is_dont_care() {
        let d1 = Dart::t8103();
        assert_eq!(d1.encode_table(1, BusAddr(0x8_0010_4000)), 0x8_0010_4001);
        assert_eq!(
            d1.decode(1, 0x8_0010_4003),
            Pte::Table(BusAddr(0x8_0010_4000))
        );
        let d2 = Dart::t6000();
        assert_eq!(d2.encode_table(1, BusAddr(0x100_0010_4000)), 0x10_0001_0401);
        assert_eq!(
            d2.decode(1, 0x10_0001_0403),
            Pte::Table(BusAddr(0x100_0010_4000))
        );
        assert_eq!(d2.decode(1, 0x10_0001_0402), Pte::Invalid);
        assert_eq!(
            d2.decode(2, 0x000f_ff10_0012_3403),
            Pte::Leaf(PhysAddr(0x100_0123_4000))
        );
    }

    #[test]
    fn what_the_leaf_cannot_carry_is_refused() {
        let c = Dart::t6000();
        assert!(c.prot_supported(Prot::rw()) && c.prot_supported(Prot::ro()));
        let none = Prot {
            read: false,
            write: false,
            ..Prot::rw()
        };
        assert!(!c.prot_supported(none));
        assert!(!c.prot_supported(Prot {
            exec: false,
            ..Prot::rw()
        }));
        assert!(!c.prot_supported(Prot {
            privileged: true,
            ..Prot::rw()
        }));
        assert!(!c.prot_supported(Prot::rw().with_attr(MemAttr::Device)));
    }
}
