//! Reference table walker for the Apple DART, written from the register and
//! table descriptions docs/hw/dart.md restates ("Behavioural model (host)",
//! §M3: m1n1's `dart8020.py` / `dart8110.py` field layouts, U-Boot and
//! OpenBSD `apldart`), independently of the crate's DART codec: a model that
//! walked with the codec would agree with whatever the codec wrote.
//!
//! * Granule 16 KiB; every table is one 16 KiB page of 2048 little-endian
//!   64-bit entries (11 index bits per level); no block entries: every
//!   entry above the last level is a table pointer, every last-level entry a
//!   leaf.
//! * T8020 layout (t8103, t6000): four TTBRs per stream, IOVA\[37:36\]
//!   selects one; L1 index \[35:25\], L2 (leaf) index \[24:14\].  TTBR:
//!   bit 31 VALID, \[30:0\] = table PA >> 12.
//! * T8110 layout: one TTBR (bit 0 VALID, \[29:2\] = PA >> 14); the root is
//!   the L1 table (36-bit IOVA) or, with TCR.FOUR_LEVELS, an L0 table indexed
//!   by IOVA\[46:36\].
//! * DART1 entries (t8103) hold the PA in place at \[39:14\]; DART2 entries
//!   (t6000, T8110) hold PA >> 4 from bit 10 up (\[39:10\] on t6000,
//!   \[37:10\] on T8110).  Table entries need bit 0 only (bit 1 is written
//!   either way by working software and ignored here).
//! * Leaf: VALID \[0\]; SP_START \[63:52\] / SP_END \[51:40\] in 4-byte words,
//!   END inclusive.  DART1 skips the sub-page check when bit 1 (SP_PROT_DIS)
//!   is set; DART2 always checks it and has RDPROT \[3\] / WRPROT \[2\].
//!   DART1's NO_READ \[8\] / NO_WRITE \[7\] are one source's claim only and
//!   are checked only when [`DartWalk::dart1_rw_bits`] asks.
#![forbid(unsafe_code)]

/// Bytes of the DART granule (one page, one table).
pub const DART_PAGE: u64 = 1 << 14;
/// Index bits per table level.
pub const DART_INDEX_BITS: u32 = 11;

/// Which leaf/table entry format the tables use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DartFormat {
    /// DART1 (t8103): PA in place at \[39:14\].
    Dart1,
    /// DART2 (t6000, T8110): PA >> 4 from bit 10 up to bit `top`.
    Dart2 {
        /// Highest bit of the PA field: 39 on t6000, 37 on T8110.
        top: u32,
    },
}

impl DartFormat {
    /// The t6000 DART2 format (PA field \[39:10\], 44-bit PA).
    pub const T6000: Self = Self::Dart2 { top: 39 };
    /// The T8110 DART2 format (PA field \[37:10\], 42-bit PA).
    pub const T8110: Self = Self::Dart2 { top: 37 };

    /// The PA (table or page, 16 KiB aligned) an entry holds.
    pub const fn pa(self, entry: u64) -> u64 {
        match self {
            Self::Dart1 => entry & 0x00ff_ffff_c000,
            Self::Dart2 { top } => {
                let field = entry & (((1u64 << (top + 1)) - 1) & !0x3ff);
                field << 4
            }
        }
    }

    /// The largest PA the entry's field can hold, plus one.
    pub const fn pa_limit(self) -> u64 {
        match self {
            Self::Dart1 => 1 << 40,
            Self::Dart2 { top } => 1 << (top + 5),
        }
    }
}

/// The table roots of one stream, as its registers hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DartRoots {
    /// T8020 layout: the four TTBR(sid, idx) register values.
    T8020 {
        /// TTBR(sid, 0..3).
        ttbr: [u32; 4],
    },
    /// T8110 layout: the one TTBR(sid) register value and TCR.FOUR_LEVELS.
    T8110 {
        /// TTBR(sid).
        ttbr: u32,
        /// TCR(sid) bit 3: an L0 table above L1.
        four_levels: bool,
    },
}

/// The table level an entry sits at (the DART's own names: L0 "CTE",
/// L1 "STE", L2 the leaf).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DartLevel {
    /// L0 (T8110 with FOUR_LEVELS only), indexed by IOVA\[46:36\].
    L0,
    /// L1, indexed by IOVA\[35:25\].
    L1,
    /// L2, the leaf, indexed by IOVA\[24:14\].
    L2,
}

/// A DART walk configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DartWalk {
    /// Entry format.
    pub format: DartFormat,
    /// The stream's roots.
    pub roots: DartRoots,
    /// IOVA bits above the translated width are dropped (`true`, the
    /// reading of docs/hw/dart.md §M3 "Width") or fault with
    /// [`DartFault::AddressSize`].
    pub ignore_high_bits: bool,
    /// DART1 leaves honour NO_READ \[8\] / NO_WRITE \[7\] (one source only).
    pub dart1_rw_bits: bool,
}

/// A successful walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DartWalked {
    /// Output address of the IOVA walked.
    pub pa: u64,
    /// The leaf entry.
    pub pte: u64,
    /// Where the leaf was read.
    pub pte_at: u64,
    /// The TTBR used (0..3 on the T8020 layout, 0 on T8110).
    pub ttbr_index: u8,
}

/// Why a walk stopped; the variants follow the ERROR code bits of
/// docs/hw/dart.md §M6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DartFault {
    /// The IOVA is wider than the translated width and
    /// [`DartWalk::ignore_high_bits`] is off.
    AddressSize {
        /// The IOVA.
        iova: u64,
    },
    /// The selected TTBR is not valid.
    NoTtbr {
        /// Its index.
        index: u8,
    },
    /// The L0 entry is not valid (T8110 NO_PGD).
    NoPgd {
        /// The entry read.
        entry: u64,
    },
    /// The L1 entry is not valid (NO_PMD).
    NoPmd {
        /// The entry read.
        entry: u64,
    },
    /// The leaf is not valid (NO_PTE).
    NoPte {
        /// The entry read.
        pte: u64,
    },
    /// A read the leaf forbids.
    ReadProt {
        /// The leaf.
        pte: u64,
    },
    /// A write the leaf forbids.
    WriteProt {
        /// The leaf.
        pte: u64,
    },
    /// The byte lies outside the leaf's SP_START..=SP_END window.
    Subpage {
        /// The leaf.
        pte: u64,
        /// The 4-byte word of the page accessed.
        word: u32,
    },
    /// An entry could not be read.
    External {
        /// Its address.
        at: u64,
    },
}

impl DartWalk {
    /// A T8020-layout walk (t8103 with [`DartFormat::Dart1`], t6000 with
    /// [`DartFormat::T6000`]) over the four TTBR values.
    pub const fn t8020(format: DartFormat, ttbr: [u32; 4]) -> Self {
        Self {
            format,
            roots: DartRoots::T8020 { ttbr },
            ignore_high_bits: true,
            dart1_rw_bits: false,
        }
    }

    /// A T8110-layout walk over the TTBR value, 3 levels if `four_levels`.
    pub const fn t8110(ttbr: u32, four_levels: bool) -> Self {
        Self {
            format: DartFormat::T8110,
            roots: DartRoots::T8110 { ttbr, four_levels },
            ignore_high_bits: true,
            dart1_rw_bits: false,
        }
    }

    /// IOVA bits the tables translate: 38 (T8020, four TTBRs of 36 bits),
    /// 36 (T8110) or 47 (T8110 with FOUR_LEVELS).
    pub const fn iova_bits(&self) -> u32 {
        match self.roots {
            DartRoots::T8020 { .. } => 38,
            DartRoots::T8110 {
                four_levels: false, ..
            } => 36,
            DartRoots::T8110 {
                four_levels: true, ..
            } => 47,
        }
    }

    /// Decodes a T8020 TTBR: bit 31 VALID, \[30:0\] = PA >> 12.
    pub const fn t8020_root(ttbr: u32) -> Option<u64> {
        if ttbr & (1 << 31) == 0 {
            None
        } else {
            Some(((ttbr & 0x7fff_ffff) as u64) << 12)
        }
    }

    /// Decodes a T8110 TTBR: bit 0 VALID, \[29:2\] = PA >> 14.
    pub const fn t8110_root(ttbr: u32) -> Option<u64> {
        if ttbr & 1 == 0 {
            None
        } else {
            Some((((ttbr >> 2) & 0x0fff_ffff) as u64) << 14)
        }
    }

    /// The IOVA after the width rule: high bits dropped, or the fault.
    pub fn effective_iova(&self, iova: u64) -> Result<u64, DartFault> {
        let bits = self.iova_bits();
        let mask = (1u64 << bits) - 1;
        if iova & !mask != 0 && !self.ignore_high_bits {
            return Err(DartFault::AddressSize { iova });
        }
        Ok(iova & mask)
    }

    /// The TTBR index IOVA selects and the root table, or `NoTtbr`.
    pub fn root(&self, iova: u64) -> Result<(u8, u64), DartFault> {
        match self.roots {
            DartRoots::T8020 { ttbr } => {
                let index = ((iova >> 36) & 3) as u8;
                Self::t8020_root(ttbr[usize::from(index)])
                    .map(|r| (index, r))
                    .ok_or(DartFault::NoTtbr { index })
            }
            DartRoots::T8110 { ttbr, .. } => Self::t8110_root(ttbr)
                .map(|r| (0, r))
                .ok_or(DartFault::NoTtbr { index: 0 }),
        }
    }

    /// The first level below the TTBR.
    pub const fn first_level(&self) -> DartLevel {
        match self.roots {
            DartRoots::T8110 {
                four_levels: true, ..
            } => DartLevel::L0,
            _ => DartLevel::L1,
        }
    }

    /// Index of `iova` in a table of `level`.
    pub const fn index(level: DartLevel, iova: u64) -> u64 {
        let shift = match level {
            DartLevel::L0 => 36,
            DartLevel::L1 => 25,
            DartLevel::L2 => 14,
        };
        (iova >> shift) & ((1 << DART_INDEX_BITS) - 1)
    }

    /// The next table a table entry points at, or `None` when bit 0 is clear.
    pub const fn next_table(&self, entry: u64) -> Option<u64> {
        if entry & 1 == 0 {
            None
        } else {
            Some(self.format.pa(entry))
        }
    }

    /// The access check of a leaf for the byte at `iova` (page offset
    /// \[13:0\]) and the output address.  Order: VALID, then the read/write
    /// bits, then the sub-page window.
    pub fn leaf(&self, pte: u64, iova: u64, write: bool) -> Result<u64, DartFault> {
        if pte & 1 == 0 {
            return Err(DartFault::NoPte { pte });
        }
        let (no_read, no_write, sp_check) = match self.format {
            DartFormat::Dart1 => (
                self.dart1_rw_bits && pte & (1 << 8) != 0,
                self.dart1_rw_bits && pte & (1 << 7) != 0,
                pte & 0b10 == 0,
            ),
            DartFormat::Dart2 { .. } => (pte & (1 << 3) != 0, pte & (1 << 2) != 0, true),
        };
        if write && no_write {
            return Err(DartFault::WriteProt { pte });
        }
        if !write && no_read {
            return Err(DartFault::ReadProt { pte });
        }
        let offset = iova & (DART_PAGE - 1);
        let word = (offset >> 2) as u32;
        if sp_check {
            let start = (pte >> 52) as u32 & 0xfff;
            let end = (pte >> 40) as u32 & 0xfff;
            if word < start || word > end {
                return Err(DartFault::Subpage { pte, word });
            }
        }
        Ok(self.format.pa(pte) | offset)
    }

    /// Walks `iova` for a read or a `write`.  `read(level, at)` returns the
    /// 64-bit entry of `level` at address `at` (the level lets a model
    /// answer from a walk cache).
    pub fn walk(
        &self,
        mut read: impl FnMut(DartLevel, u64) -> Option<u64>,
        iova: u64,
        write: bool,
    ) -> Result<DartWalked, DartFault> {
        let iova = self.effective_iova(iova)?;
        let (ttbr_index, mut table) = self.root(iova)?;
        let mut level = self.first_level();
        loop {
            let at = table + 8 * Self::index(level, iova);
            let entry = read(level, at).ok_or(DartFault::External { at })?;
            match level {
                DartLevel::L2 => {
                    let pa = self.leaf(entry, iova, write)?;
                    return Ok(DartWalked {
                        pa,
                        pte: entry,
                        pte_at: at,
                        ttbr_index,
                    });
                }
                DartLevel::L1 => {
                    table = self.next_table(entry).ok_or(DartFault::NoPmd { entry })?;
                    level = DartLevel::L2;
                }
                DartLevel::L0 => {
                    table = self.next_table(entry).ok_or(DartFault::NoPgd { entry })?;
                    level = DartLevel::L1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Golden words: docs/hw/dart.md §M8 (m1n1-proxyclient 0.4.0's
    //! `iomap_at` on a fake bus, cases A–D, plus the U-Boot/OpenBSD forms).
    use super::*;
    use alloc::collections::BTreeMap;

    fn mem(words: &[(u64, u64)]) -> BTreeMap<u64, u64> {
        words.iter().copied().collect()
    }

    fn reader(m: &BTreeMap<u64, u64>) -> impl FnMut(DartLevel, u64) -> Option<u64> + '_ {
        |_, a| Some(*m.get(&a).unwrap_or(&0))
    }

    #[test]
    fn case_a_t8103_dart1_two_levels() {
        let m = mem(&[
            (0x8_0010_0200, 0x0000_0008_0010_4003),
            (0x8_0010_4008, 0x000f_ff08_0123_4003),
        ]);
        let w = DartWalk::t8020(DartFormat::Dart1, [0x8080_0100, 0, 0, 0]);
        assert_eq!(DartWalk::t8020_root(0x8080_0100), Some(0x8_0010_0000));
        let r = w.walk(reader(&m), 0x8000_4123, false).unwrap();
        assert_eq!(r.pa, 0x8_0123_4123);
        assert_eq!((r.pte_at, r.ttbr_index), (0x8_0010_4008, 0));
        assert_eq!(
            w.walk(reader(&m), 0x8000_7ffc, true).unwrap().pa,
            0x8_0123_7ffc
        );
        // U-Boot/OpenBSD's leaf (bit 1 clear, START 0 / END 0xFFF) is the
        // same mapping: the sub-page window covers the page.
        let m2 = mem(&[
            (0x8_0010_0200, 0x0000_0008_0010_4003),
            (0x8_0010_4008, 0x000f_ff08_0123_4001),
        ]);
        assert_eq!(
            w.walk(reader(&m2), 0x8000_7ffc, false).unwrap().pa,
            0x8_0123_7ffc
        );
        // The next page has no leaf; the next 32 MiB has no L2 table.
        assert_eq!(
            w.walk(reader(&m), 0x8000_8000, false),
            Err(DartFault::NoPte { pte: 0 })
        );
        assert_eq!(
            w.walk(reader(&m), 0x8200_0000, false),
            Err(DartFault::NoPmd { entry: 0 })
        );
    }

    #[test]
    fn case_b_t6000_dart2_shifted_pa() {
        let m = mem(&[
            (0x100_0010_0200, 0x0000_0010_0001_0403),
            (0x100_0010_4008, 0x000f_ff10_0012_3403),
        ]);
        let w = DartWalk::t8020(DartFormat::T6000, [0x9000_0100, 0, 0, 0]);
        assert_eq!(DartWalk::t8020_root(0x9000_0100), Some(0x100_0010_0000));
        assert_eq!(DartFormat::T6000.pa(0x0000_0010_0001_0403), 0x100_0010_4000);
        let r = w.walk(reader(&m), 0x8000_4123, true).unwrap();
        assert_eq!(r.pa, 0x100_0123_4123);
        // U-Boot/OpenBSD leaf: bit 1 clear, same translation.
        let m2 = mem(&[
            (0x100_0010_0200, 0x0000_0010_0001_0403),
            (0x100_0010_4008, 0x000f_ff10_0012_3401),
        ]);
        assert_eq!(
            w.walk(reader(&m2), 0x8000_4123, false).unwrap().pa,
            0x100_0123_4123
        );
    }

    #[test]
    fn case_c_t8110_two_levels_below_one_ttbr() {
        let m = mem(&[
            (0x8_0010_0200, 0x0000_0000_8001_0401),
            (0x8_0010_4008, 0x000f_ff00_8012_3401),
        ]);
        let w = DartWalk::t8110(0x0080_0101, false);
        assert_eq!(DartWalk::t8110_root(0x0080_0101), Some(0x8_0010_0000));
        assert_eq!(
            w.walk(reader(&m), 0x8000_4123, false).unwrap().pa,
            0x8_0123_4123
        );
        // U-Boot/OpenBSD's L1 (bit 1 set) walks the same.
        let m2 = mem(&[
            (0x8_0010_0200, 0x0000_0000_8001_0403),
            (0x8_0010_4008, 0x000f_ff00_8012_3401),
        ]);
        assert_eq!(
            w.walk(reader(&m2), 0x8000_4000, true).unwrap().pa,
            0x8_0123_4000
        );
        // An invalid TTBR.
        let w0 = DartWalk::t8110(0x0080_0100, false);
        assert_eq!(
            w0.walk(reader(&m), 0x8000_4000, false),
            Err(DartFault::NoTtbr { index: 0 })
        );
    }

    #[test]
    fn case_d_t8110_four_levels_three_tables() {
        let m = mem(&[
            (0x100_0010_0090, 0x0000_0010_0001_0401),
            (0x100_0010_4e00, 0x0000_0010_0001_0801),
            (0x100_0010_8008, 0x000f_ff10_0012_3401),
        ]);
        let w = DartWalk::t8110(0x1000_0101, true);
        assert_eq!(DartWalk::t8110_root(0x1000_0101), Some(0x100_0010_0000));
        assert_eq!(w.first_level(), DartLevel::L0);
        let r = w.walk(reader(&m), 0x123_8000_4123, false).unwrap();
        assert_eq!(r.pa, 0x100_0123_4123);
        // Without FOUR_LEVELS the same TTBR is an L1 table: IOVA[35:25] of
        // 0x123_8000_4000 is 448, whose slot in the L0 page is empty.
        let w3 = DartWalk::t8110(0x1000_0101, false);
        assert_eq!(
            w3.walk(reader(&m), 0x123_8000_4000, false),
            Err(DartFault::NoPmd { entry: 0 })
        );
        // An empty L0 slot (index 0x13) is NO_PGD.
        assert_eq!(
            w.walk(reader(&m), 0x133_8000_4000, false),
            Err(DartFault::NoPgd { entry: 0 })
        );
    }

    #[test]
    fn the_t8020_ttbr_index_is_iova_37_36() {
        // TTBR2's L1 at 0x4000, L2 at 0x8000; TTBR0 invalid.
        let m = mem(&[
            (0x4000 + 8 * 3, 0x8000 | 1),
            (0x8000 + 8 * 5, 0x1_0000 | 0xfff << 40 | 0b11),
        ]);
        let ttbr2 = 0x8000_0000 | (0x4000 >> 12);
        let w = DartWalk::t8020(DartFormat::Dart1, [0, 0, ttbr2, 0]);
        let iova = 2u64 << 36 | 3 << 25 | 5 << 14 | 0x10;
        let r = w.walk(reader(&m), iova, false).unwrap();
        assert_eq!((r.pa, r.ttbr_index), (0x1_0010, 2));
        assert_eq!(
            w.walk(reader(&m), iova & !(3 << 36), false),
            Err(DartFault::NoTtbr { index: 0 })
        );
        assert_eq!(
            w.walk(reader(&m), iova | 1 << 36, false),
            Err(DartFault::NoTtbr { index: 3 })
        );
        // Bit 38 and above: dropped by default, a fault when asked.
        assert_eq!(
            w.walk(reader(&m), iova | 1 << 38, false).unwrap().pa,
            0x1_0010
        );
        let strict = DartWalk {
            ignore_high_bits: false,
            ..w
        };
        assert_eq!(
            strict.walk(reader(&m), iova | 1 << 38, false),
            Err(DartFault::AddressSize {
                iova: iova | 1 << 38
            })
        );
    }

    #[test]
    fn subpage_window_and_protection_bits() {
        // DART1 leaf with bit 1 clear: START 4 (byte 16), END 7 (bytes
        // 16..=31) enforced; with bit 1 set the window is ignored.
        let w1 = DartWalk::t8020(DartFormat::Dart1, [0; 4]);
        let pte = 4u64 << 52 | 7 << 40 | 0x4000 | 1;
        assert_eq!(w1.leaf(pte, 16, false), Ok(0x4010));
        assert_eq!(w1.leaf(pte, 31, true), Ok(0x401f));
        assert_eq!(
            w1.leaf(pte, 32, false),
            Err(DartFault::Subpage { pte, word: 8 })
        );
        assert_eq!(
            w1.leaf(pte, 12, false),
            Err(DartFault::Subpage { pte, word: 3 })
        );
        assert_eq!(w1.leaf(pte | 0b10, 32, false), Ok(0x4020));
        // DART1 NO_WRITE / NO_READ only when asked.
        let ro = 0xfffu64 << 40 | 0x4000 | 1 << 7 | 0b11;
        assert_eq!(w1.leaf(ro, 0, true), Ok(0x4000));
        let w1s = DartWalk {
            dart1_rw_bits: true,
            ..w1
        };
        assert_eq!(w1s.leaf(ro, 0, true), Err(DartFault::WriteProt { pte: ro }));
        assert_eq!(w1s.leaf(ro, 0, false), Ok(0x4000));
        let wo = 0xfffu64 << 40 | 0x4000 | 1 << 8 | 0b11;
        assert_eq!(w1s.leaf(wo, 0, false), Err(DartFault::ReadProt { pte: wo }));
        // DART2: bit 1 does not switch the window off; RDPROT/WRPROT.
        let w2 = DartWalk::t8110(0, false);
        let narrow = 0xffeu64 << 40 | 0x400 | 0b11; // START 0; END excludes the last word
        assert_eq!(
            w2.leaf(narrow, 0x3ffc, false),
            Err(DartFault::Subpage {
                pte: narrow,
                word: 0xfff
            })
        );
        assert_eq!(w2.leaf(narrow, 0x3ff8, false), Ok(0x4000 | 0x3ff8));
        let rd = 0xfffu64 << 40 | 0x400 | 1 << 3 | 1;
        let wr = 0xfffu64 << 40 | 0x400 | 1 << 2 | 1;
        assert_eq!(w2.leaf(rd, 0, false), Err(DartFault::ReadProt { pte: rd }));
        assert_eq!(w2.leaf(rd, 0, true), Ok(0x4000));
        assert_eq!(w2.leaf(wr, 0, true), Err(DartFault::WriteProt { pte: wr }));
        assert_eq!(w2.leaf(wr, 0, false), Ok(0x4000));
        // A DART2 leaf with START = END = 0 grants only the first word.
        let zero = 0x400u64 | 1;
        assert_eq!(w2.leaf(zero, 0, false), Ok(0x4000));
        assert_eq!(
            w2.leaf(zero, 4, false),
            Err(DartFault::Subpage { pte: zero, word: 1 })
        );
    }

    #[test]
    fn pa_fields_stop_at_their_top_bit() {
        // DART1 [39:14]: bits 40+ (SP_END) and 13:0 are not address.
        assert_eq!(DartFormat::Dart1.pa(0xffff_ffff_ffff_ffff), 0xff_ffff_c000);
        // t6000 [39:10] → 44-bit PA; T8110 [37:10] → 42-bit PA.
        assert_eq!(DartFormat::T6000.pa(0x0000_00ff_ffff_fc00), 0xfff_ffff_c000);
        assert_eq!(DartFormat::T8110.pa(0x0000_00ff_ffff_fc00), 0x3ff_ffff_c000);
        assert_eq!(DartFormat::T6000.pa_limit(), 1 << 44);
        assert_eq!(DartFormat::T8110.pa_limit(), 1 << 42);
        assert_eq!(DartFormat::Dart1.pa_limit(), 1 << 40);
        // T8110 TTBR [29:2]: bits 30/31 are not address.
        assert_eq!(DartWalk::t8110_root(0xffff_ffff), Some(0x3ff_ffff_c000));
        assert_eq!(DartWalk::t8020_root(0xffff_ffff), Some(0x7ff_ffff_f000));
        assert_eq!(DartWalk::t8020_root(0x7fff_ffff), None);
    }

    #[test]
    fn an_unreadable_entry_names_its_address() {
        let w = DartWalk::t8110(0x0080_0101, false);
        assert_eq!(
            w.walk(|_, _| None, 0x8000_4000, false),
            Err(DartFault::External { at: 0x8_0010_0200 })
        );
        // The reader is told the level of each entry.
        let mut seen = alloc::vec::Vec::new();
        let _ = DartWalk::t8110(0x1000_0101, true).walk(
            |l, a| {
                seen.push((l, a));
                Some(0x401)
            },
            0,
            false,
        );
        assert_eq!(
            seen.iter().map(|(l, _)| *l).collect::<alloc::vec::Vec<_>>(),
            [DartLevel::L0, DartLevel::L1, DartLevel::L2]
        );
    }
}
