//! Reference table walkers for models.
//!
//! Written from the architecture's description of the formats, not from
//! the crate's codecs: a model that walked with the codec would agree with
//! whatever the codec wrote.  LPAE / VMSAv8-64 stage 1 (Arm ARM DDI0487,
//! chapter D8), each rule under the name of the section it comes from:
//!
//! * "Translation process" (the initial lookup level): enough levels of
//!   `granule_shift − 3` bits to resolve `ias − granule_shift` bits, for
//!   the 4K, 16K and 64K granules;
//! * "Translation table descriptor formats": bits\[1:0\] = 0b11 is a table
//!   descriptor above level 3 and a page descriptor at level 3, 0b01 a block
//!   descriptor where the granule has blocks (4K: levels 1 and 2; 16K and
//!   64K: level 2 — the other levels only with 52-bit addressing, which is
//!   not modelled) and reserved elsewhere; bit\[0\] = 0 is invalid; the
//!   output and next-level table address is bits\[47:granule\] (bits\[49:48\]
//!   are RES0 and \[51:50\] attributes without 52-bit addressing);
//! * "Memory access control" (data access permissions): AP\[2\] set is
//!   read-only;
//! * "The Access flag" (hardware updates to the translation tables): a
//!   leaf with AF = 0 gives an Access flag fault unless hardware management
//!   of the flag is on (on an SMMU: unless CD.AFFD = 1);
//! * "MMU fault types" (Address size fault): a table or output address at
//!   or above the configured output size faults at the level of the
//!   descriptor that holds it.
//!
//! Allwinner sun50i ([`Sun50iWalk`]): two levels of 32-bit entries as the
//! sun50i page describes them (docs/hw/sun50i.md §4).  The Apple DART's
//! walker is its own file, [`super::walk_dart`].
#![forbid(unsafe_code)]

/// One LPAE stage-1 configuration as a model reads it from a context.
/// [`LpaeWalk::new`] gives the architecture's defaults for everything but
/// the root, input size and granule; the other fields are a model's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpaeWalk {
    /// Bus address of the top table.
    pub root: u64,
    /// Input address bits (64 − T0SZ).
    pub ias: u32,
    /// log2 of the granule: 12, 14 or 16.
    pub granule_shift: u32,
    /// Output address bits (the PS/IPS field's size, at most 48): a table
    /// or output address at or above `1 << oas` is an Address size fault.
    pub oas: u32,
    /// A leaf with AF = 0 is an Access flag fault (`false`: the flag is
    /// ignored, as with hardware AF management or an SMMU's CD.AFFD = 1).
    pub access_flag_faults: bool,
    /// Block descriptors are accepted at every level above 3, whatever the
    /// granule — what QEMU's SMMU walker does (docs/hw/qemu-virt.md §1.8);
    /// `false` keeps to the levels the architecture gives blocks.
    pub blocks_at_every_level: bool,
    /// A stage-2 initial level below the one the input size implies
    /// (`None`: the implied one): the top table is then 2^k concatenated
    /// tables indexed by the extra `k` input bits (DDI0487 D8,
    /// "Concatenated translation tables for the initial stage 2 lookup";
    /// the caller checks `k` ≤ 4).
    pub start: Option<u8>,
}

/// A successful walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    /// Output address of the input address walked.
    pub pa: u64,
    /// AP[2] clear: writes allowed.
    pub writable: bool,
    /// Level of the leaf.
    pub level: u8,
    /// Bytes the leaf spans.
    pub span: u64,
    /// Bus address of the table holding the leaf (what a walk cache keeps).
    pub leaf_table: u64,
    /// The leaf descriptor as read: the attribute bits (AttrIndx, AP, SH,
    /// nG, XN) a model decodes itself.
    pub desc: u64,
}

impl Walked {
    /// First input address the leaf maps (`iova` rounded down to the span).
    pub fn leaf_iova(&self, iova: u64) -> u64 {
        iova & !(self.span - 1)
    }

    /// Output address of the leaf's first byte.
    pub fn leaf_pa(&self) -> u64 {
        self.pa & !(self.span - 1)
    }
}

/// Why a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkFault {
    /// The input address is wider than the configuration's input size.
    AddressSize,
    /// An invalid or reserved descriptor at `level`.
    Translation {
        /// Level of the descriptor.
        level: u8,
    },
    /// The descriptor at `level` holds a table or output address at or
    /// above the output size ([`LpaeWalk::oas`]).
    OutputSize {
        /// Level of the descriptor.
        level: u8,
    },
    /// The leaf at `level` has AF = 0 and [`LpaeWalk::access_flag_faults`]
    /// is set.
    AccessFlag {
        /// Level of the leaf.
        level: u8,
    },
    /// A descriptor could not be read (outside the arena).
    External {
        /// Its bus address.
        at: u64,
    },
}

impl LpaeWalk {
    /// A walk of the tables at `root` with the architecture's defaults:
    /// 48-bit output, AF not checked, blocks only where the granule has them.
    pub fn new(root: u64, ias: u32, granule_shift: u32) -> Self {
        Self {
            root,
            ias,
            granule_shift,
            oas: 48,
            access_flag_faults: false,
            blocks_at_every_level: false,
            start: None,
        }
    }

    /// Starting at `level` with concatenated top tables (stage 2 SL0).
    pub fn with_start_level(self, level: u8) -> Self {
        Self {
            start: Some(level),
            ..self
        }
    }

    /// Tables concatenated at the top: 2^(index bits − bits per level),
    /// 1 without concatenation.
    pub fn concatenated(&self) -> u64 {
        let bits = self.ias - self.level_shift(self.start_level());
        1 << bits.saturating_sub(self.bits_per_level())
    }

    /// With an output size of `oas` bits.
    pub fn with_oas(self, oas: u32) -> Self {
        Self { oas, ..self }
    }

    /// With AF = 0 faulting (`true`) or ignored.
    pub fn with_access_flag_faults(self, on: bool) -> Self {
        Self {
            access_flag_faults: on,
            ..self
        }
    }

    /// With blocks accepted at every level above 3 (`true`).
    pub fn with_blocks_at_every_level(self, on: bool) -> Self {
        Self {
            blocks_at_every_level: on,
            ..self
        }
    }

    fn bits_per_level(&self) -> u32 {
        self.granule_shift - 3
    }

    /// The level the walk starts at (D8: enough levels of
    /// `granule_shift − 3` bits to cover `ias − granule_shift` bits, or
    /// the level [`Self::with_start_level`] set).
    pub fn start_level(&self) -> u8 {
        if let Some(l) = self.start {
            return l;
        }
        let levels = (self.ias - self.granule_shift).div_ceil(self.bits_per_level());
        (4 - levels) as u8
    }

    /// The IOVA bit below which one entry at `level` spans.
    pub fn level_shift(&self, level: u8) -> u32 {
        self.granule_shift + self.bits_per_level() * (3 - u32::from(level))
    }

    /// Whether a block descriptor is valid at `level` ("Translation table
    /// descriptor formats", without 52-bit addressing: 4K at levels 1 and
    /// 2, 16K and 64K at level 2).
    pub fn block_allowed(&self, level: u8) -> bool {
        match level {
            0..=2 if self.blocks_at_every_level => true,
            2 => true,
            1 => self.granule_shift == 12,
            _ => false,
        }
    }

    /// Walks `iova`.  `read` returns the 64-bit descriptor at a bus
    /// address.  `from` starts at a cached (level, table) instead of the
    /// root — how a model with a walk cache uses a cached table pointer.
    pub fn walk(
        &self,
        read: impl Fn(u64) -> Option<u64>,
        iova: u64,
        from: Option<(u8, u64)>,
    ) -> Result<Walked, WalkFault> {
        if self.ias < 64 && iova >> self.ias != 0 {
            return Err(WalkFault::AddressSize);
        }
        let (mut level, mut table) = from.unwrap_or((self.start_level(), self.root));
        let oa_mask: u64 = 0x0000_ffff_ffff_ffff & !((1u64 << self.granule_shift) - 1);
        let too_wide = |a: u64| self.oas < 64 && a >> self.oas != 0;
        loop {
            let shift = self.level_shift(level);
            let index_bits = if level == self.start_level() {
                self.ias - shift
            } else {
                self.bits_per_level()
            };
            let index = (iova >> shift) & ((1u64 << index_bits) - 1);
            let at = table + 8 * index;
            let d = read(at).ok_or(WalkFault::External { at })?;
            let leaf = |d: u64| {
                let span = 1u64 << shift;
                let out = d & oa_mask & !(span - 1);
                if too_wide(out) {
                    return Err(WalkFault::OutputSize { level });
                }
                if self.access_flag_faults && d & (1 << 10) == 0 {
                    return Err(WalkFault::AccessFlag { level });
                }
                Ok(Walked {
                    pa: out | (iova & (span - 1)),
                    writable: d & (1 << 7) == 0,
                    level,
                    span,
                    leaf_table: table,
                    desc: d,
                })
            };
            match (d & 0b11, level) {
                (0b11, 3) => return leaf(d),
                (0b01, l) if self.block_allowed(l) => return leaf(d),
                (0b11, 0..=2) => {
                    table = d & oa_mask;
                    if too_wide(table) {
                        return Err(WalkFault::OutputSize { level });
                    }
                    level += 1;
                }
                _ => return Err(WalkFault::Translation { level }),
            }
        }
    }
}

/// The sun50i IOMMU's walk: one level-1 table of 4096 32-bit directory
/// entries (DTEs, 1 MiB each, 16 KiB aligned at TTB[31:14]) and level-2
/// tables of 256 32-bit page entries (PTEs, 4 KiB each, 1 KiB tables).
/// Every address is 32 bits (docs/hw/sun50i.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sun50iWalk {
    /// The TTB register; bits [13:0] are ignored.
    pub ttb: u32,
}

/// A successful sun50i walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sun50iWalked {
    /// Output address of the IOVA walked.
    pub pa: u32,
    /// The PTE's permission-domain index, PTE[7:4] (docs/hw/sun50i.md §9).
    pub aci: u8,
    /// The directory entry used.
    pub dte: u32,
    /// The page entry used.
    pub pte: u32,
}

/// Why a sun50i walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sun50iFault {
    /// The DTE is not `0b01` in bits [1:0].
    L1Invalid {
        /// The entry read.
        dte: u32,
    },
    /// The PTE's valid bit [1] is clear.
    L2Invalid {
        /// The directory entry that led there.
        dte: u32,
        /// The entry read.
        pte: u32,
    },
    /// An entry could not be read.
    External {
        /// Its bus address.
        at: u32,
    },
}

impl Sun50iWalk {
    /// Level-1 table base: TTB[31:14].
    pub const fn l1_base(&self) -> u32 {
        self.ttb & !0x3fff
    }

    /// Bus address of the DTE for `iova`: index IOVA[31:20].
    pub const fn dte_addr(&self, iova: u32) -> u32 {
        self.l1_base() | (iova >> 20) << 2
    }

    /// The level-2 table a DTE points at, or `None` when it is not valid
    /// (bits [1:0] must be `0b01`; the table address is DTE[31:10]).
    pub const fn l2_table(dte: u32) -> Option<u32> {
        if dte & 0b11 == 0b01 {
            Some(dte & !0x3ff)
        } else {
            None
        }
    }

    /// Bus address of the PTE for `iova` in level-2 table `l2`: index
    /// IOVA[19:12].
    pub const fn pte_addr(l2: u32, iova: u32) -> u32 {
        l2 | ((iova >> 12) & 0xff) << 2
    }

    /// `true` when a PTE's valid bit [1] is set.
    pub const fn pte_valid(pte: u32) -> bool {
        pte & 0b10 != 0
    }

    /// The output address of `iova` through a valid `pte`: PTE[31:12] and
    /// the IOVA's page offset.
    pub const fn output(pte: u32, iova: u32) -> u32 {
        (pte & !0xfff) | (iova & 0xfff)
    }

    /// The ACI field, PTE[7:4].
    pub const fn aci(pte: u32) -> u8 {
        ((pte >> 4) & 0xf) as u8
    }

    /// Reads the DTE for `iova`.
    pub fn read_dte(
        &self,
        read: impl Fn(u32) -> Option<u32>,
        iova: u32,
    ) -> Result<u32, Sun50iFault> {
        let at = self.dte_addr(iova);
        read(at).ok_or(Sun50iFault::External { at })
    }

    /// Walks `iova`.  `read` returns the 32-bit word at a bus address.
    /// `dte` is a directory entry already in hand (a PTW-cache hit): the
    /// walk then reads only the level-2 table.
    pub fn walk(
        &self,
        read: impl Fn(u32) -> Option<u32>,
        iova: u32,
        dte: Option<u32>,
    ) -> Result<Sun50iWalked, Sun50iFault> {
        let dte = match dte {
            Some(d) => d,
            None => self.read_dte(&read, iova)?,
        };
        let l2 = Self::l2_table(dte).ok_or(Sun50iFault::L1Invalid { dte })?;
        let at = Self::pte_addr(l2, iova);
        let pte = read(at).ok_or(Sun50iFault::External { at })?;
        if !Self::pte_valid(pte) {
            return Err(Sun50iFault::L2Invalid { dte, pte });
        }
        Ok(Sun50iWalked {
            pa: Self::output(pte, iova),
            aci: Self::aci(pte),
            dte,
            pte,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// Reads from a sparse memory: absent words are 0 (invalid).
    fn reader(mem: &BTreeMap<u64, u64>) -> impl Fn(u64) -> Option<u64> + '_ {
        |a| Some(*mem.get(&a).unwrap_or(&0))
    }

    const AF: u64 = 1 << 10;

    #[test]
    fn start_levels_follow_the_input_size() {
        // "Translation process": the initial lookup level.
        let w = LpaeWalk::new;
        assert_eq!(w(0, 48, 12).start_level(), 0);
        assert_eq!(w(0, 39, 12).start_level(), 1);
        assert_eq!(w(0, 40, 12).start_level(), 0);
        assert_eq!(w(0, 36, 14).start_level(), 2);
        assert_eq!(w(0, 47, 14).start_level(), 1);
        assert_eq!(w(0, 48, 14).start_level(), 0);
        assert_eq!(w(0, 42, 16).start_level(), 2);
        assert_eq!(w(0, 48, 16).start_level(), 1);
    }

    #[test]
    fn walks_tables_blocks_and_pages_and_stops_on_invalid() {
        // 4K, 39 bits: L1 at 0x1000, L2 at 0x2000, L3 at 0x3000.
        let mut mem = BTreeMap::new();
        mem.insert(0x1000 + 8, 0x2000 | 0b11); // L1[1] → L2
        mem.insert(0x2000, 0x4000_0000 | 0b01 | 1 << 7); // L2[0] 2M block, RO
        mem.insert(0x2000 + 8, 0x3000 | 0b11); // L2[1] → L3
        mem.insert(0x3000 + 8 * 5, 0x8000_5000 | 0b11); // L3[5] page
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1000, 39, 12);
        let b = w.walk(&read, 0x4000_1234, None).unwrap();
        assert_eq!((b.pa, b.writable, b.level), (0x4000_1234, false, 2));
        let p = w.walk(&read, 0x4020_5008, None).unwrap();
        assert_eq!(
            (p.pa, p.writable, p.level, p.leaf_table),
            (0x8000_5008, true, 3, 0x3000)
        );
        assert_eq!(
            w.walk(&read, 0x4020_6000, None),
            Err(WalkFault::Translation { level: 3 })
        );
        assert_eq!(w.walk(&read, 1 << 39, None), Err(WalkFault::AddressSize));
        // From a cached last-level table.
        let c = w.walk(&read, 0x4020_5000, Some((3, 0x3000))).unwrap();
        assert_eq!(c.pa, 0x8000_5000);
    }

    #[test]
    fn the_leaf_span_and_its_first_addresses_come_back() {
        // A 2M block at level 2 and a 4K page at level 3 (what an IOTLB
        // keeps for range and TTL matching).
        let mut mem = BTreeMap::new();
        mem.insert(0x1000, 0x2000 | 0b11);
        mem.insert(0x2000, 0x4000_0000 | 0b01);
        mem.insert(0x2000 + 8, 0x3000 | 0b11);
        mem.insert(0x3000 + 8 * 3, 0x9000_0000 | 0b11);
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1000, 39, 12);
        let b = w.walk(&read, 0x12_3456, None).unwrap();
        assert_eq!((b.level, b.span), (2, 0x20_0000));
        assert_eq!((b.leaf_iova(0x12_3456), b.leaf_pa()), (0, 0x4000_0000));
        let p = w.walk(&read, 0x20_3abc, None).unwrap();
        assert_eq!((p.level, p.span), (3, 0x1000));
        assert_eq!(
            (p.leaf_iova(0x20_3abc), p.leaf_pa(), p.pa),
            (0x20_3000, 0x9000_0000, 0x9000_0abc)
        );
    }

    #[test]
    fn the_16k_and_64k_granules_walk_with_their_own_strides() {
        // 16K, 36 bits: start at level 2 (11-bit strides, 32M blocks).
        let mut mem = BTreeMap::new();
        mem.insert(0x10_0000 + 8 * 2, 0x20_0000 | 0b11); // L2[2] → L3
        mem.insert(0x20_0000 + 8 * 7, 0x8001_c000 | 0b11); // L3[7] 16K page
        mem.insert(0x10_0000 + 8 * 3, 0x4000_0000 | 0b01); // L2[3] 32M block
        let read = reader(&mem);
        let w = LpaeWalk::new(0x10_0000, 36, 14);
        let p = w.walk(&read, 2 << 25 | 7 << 14 | 0x123, None).unwrap();
        assert_eq!((p.pa, p.level, p.span), (0x8001_c123, 3, 0x4000));
        let b = w.walk(&read, 3 << 25 | 0x1_2345, None).unwrap();
        assert_eq!((b.pa, b.level, b.span), (0x4001_2345, 2, 1 << 25));

        // 64K, 42 bits: start at level 2 (13-bit strides, 512M blocks).
        let mut mem = BTreeMap::new();
        mem.insert(0x10_0000 + 8, 0x20_0000 | 0b11); // L2[1] → L3
        mem.insert(0x20_0000 + 8 * 9, 0x8009_0000 | 0b11); // L3[9] 64K page
        mem.insert(0x10_0000 + 8 * 2, 0x6000_0000 | 0b01); // L2[2] 512M block
        let read = reader(&mem);
        let w = LpaeWalk::new(0x10_0000, 42, 16);
        let p = w.walk(&read, 1 << 29 | 9 << 16 | 0xfff8, None).unwrap();
        assert_eq!((p.pa, p.level, p.span), (0x8009_fff8, 3, 0x1_0000));
        let b = w.walk(&read, 2 << 29 | 0x10, None).unwrap();
        assert_eq!((b.pa, b.level, b.span), (0x6000_0010, 2, 1 << 29));
    }

    #[test]
    fn blocks_only_where_the_granule_has_them_unless_told_otherwise() {
        // "Translation table descriptor formats": without 52-bit addressing
        // a 4K level-0 block and 16K/64K level-1 blocks are reserved
        // (Translation fault); QEMU's SMMU walker takes them.
        let mut mem = BTreeMap::new();
        mem.insert(0x1000, 0b01); // 4K, 48 bits: L0[0] block of 512G
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1000, 48, 12);
        assert_eq!(
            w.walk(&read, 0x1234, None),
            Err(WalkFault::Translation { level: 0 })
        );
        let q = w.with_blocks_at_every_level(true);
        let b = q.walk(&read, 0x1234, None).unwrap();
        assert_eq!((b.pa, b.level, b.span), (0x1234, 0, 1 << 39));

        // 16K, 47 bits and 64K, 48 bits start at level 1: blocks there
        // are reserved, at level 2 they are fine.
        for (ias, g) in [(47, 14), (48, 16)] {
            let w = LpaeWalk::new(0x1000, ias, g);
            assert_eq!(w.start_level(), 1);
            assert!(!w.block_allowed(1) && w.block_allowed(2));
            assert!(!w.block_allowed(3));
            assert_eq!(
                w.walk(&read, 0x1234, None),
                Err(WalkFault::Translation { level: 1 })
            );
            let b = w
                .with_blocks_at_every_level(true)
                .walk(&read, 0x1234, None)
                .unwrap();
            assert_eq!((b.level, b.span), (1, 1u64 << w.level_shift(1)));
        }
        // 4K keeps its level-1 blocks; no granule has a level-3 block.
        let w = LpaeWalk::new(0x1000, 39, 12);
        assert!(w.block_allowed(1) && w.block_allowed(2) && !w.block_allowed(3));
        assert!(!w.with_blocks_at_every_level(true).block_allowed(3));
    }

    #[test]
    fn a_stage_2_start_level_concatenates_the_top_tables() {
        // 4K, 40-bit IPA starting at level 1: two concatenated level-1
        // tables (8 KiB), indexed by IPA[39:30].
        let mut mem = BTreeMap::new();
        mem.insert(0x1_0000 + 8 * 512, 0x4000_0000 | 0b01); // 2nd table, [0]
        mem.insert(0x1_0000 + 8, 0x8000_0000 | 0b01); // 1st table, [1]
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1_0000, 40, 12);
        assert_eq!((w.start_level(), w.concatenated()), (0, 1));
        let c = w.with_start_level(1);
        assert_eq!((c.start_level(), c.concatenated()), (1, 2));
        let b = c.walk(&read, 1 << 39 | 0x123, None).unwrap();
        assert_eq!((b.pa, b.level), (0x4000_0123, 1));
        assert_eq!(c.walk(&read, 1 << 30, None).unwrap().pa, 0x8000_0000);
        // Without concatenation the same tables mean something else.
        assert!(w.walk(&read, 1 << 39 | 0x123, None).is_err());
    }

    #[test]
    fn af_clear_faults_only_when_asked() {
        // "The Access flag": AF = 0 in a leaf is an Access flag fault
        // unless the flag is managed (SMMU: CD.AFFD = 1).  Tables have no AF.
        let mut mem = BTreeMap::new();
        mem.insert(0x1000, 0x2000 | 0b11); // L1[0] → L2 (no AF bit)
        mem.insert(0x2000, 0x3000 | 0b11); // L2[0] → L3
        mem.insert(0x3000, 0x5000 | 0b11); // L3[0] page, AF = 0
        mem.insert(0x3000 + 8, 0x6000 | 0b11 | AF); // L3[1] page, AF = 1
        mem.insert(0x2000 + 8, 0x4000_0000 | 0b01); // L2[1] block, AF = 0
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1000, 39, 12);
        assert!(w.walk(&read, 0, None).is_ok(), "off by default");
        let w = w.with_access_flag_faults(true);
        assert_eq!(
            w.walk(&read, 0, None),
            Err(WalkFault::AccessFlag { level: 3 })
        );
        assert_eq!(w.walk(&read, 0x1000, None).unwrap().pa, 0x6000);
        assert_eq!(
            w.walk(&read, 0x20_0000, None),
            Err(WalkFault::AccessFlag { level: 2 })
        );
    }

    #[test]
    fn addresses_beyond_the_output_size_fault_at_their_descriptor() {
        // "MMU fault types", Address size fault: a next-level table or an
        // output address wider than the configured output size; it is
        // reported before an Access flag fault on the same leaf.
        let mut mem = BTreeMap::new();
        mem.insert(0x1000, 0x2000 | 0b11); // L1[0] → L2 at 0x2000
        mem.insert(0x1000 + 8, 0x100_0000_0000 | 0b11); // L1[1] → 2^40
        mem.insert(0x2000, 0x3000 | 0b11); // L2[0] → L3
        mem.insert(0x3000, 0xff_ffff_f000 | 0b11 | AF); // just below 2^40
        mem.insert(0x3000 + 8, 0x100_0000_0000 | 0b11); // 2^40, AF = 0
        let read = reader(&mem);
        let w = LpaeWalk::new(0x1000, 39, 12).with_oas(40);
        assert_eq!(w.walk(&read, 0, None).unwrap().pa, 0xff_ffff_f000);
        let w = w.with_access_flag_faults(true);
        assert_eq!(
            w.walk(&read, 0x1000, None),
            Err(WalkFault::OutputSize { level: 3 })
        );
        assert_eq!(
            w.walk(&read, 1 << 30, None),
            Err(WalkFault::OutputSize { level: 1 })
        );
        // At the default 48 bits both are in range.
        let w = LpaeWalk::new(0x1000, 39, 12);
        assert_eq!(w.walk(&read, 0x1000, None).unwrap().pa, 0x100_0000_0000);
        assert_eq!(w.oas, 48);
    }

    #[test]
    fn sun50i_walks_two_levels_and_names_the_failing_level() {
        // L1 at 0x4000_0000 (16 KiB aligned), one L2 table at 0x4000_4400.
        let mut mem = BTreeMap::new();
        let w = Sun50iWalk {
            ttb: 0x4000_0000 | 0x123, // low bits ignored
        };
        assert_eq!(w.dte_addr(0x0120_0000), 0x4000_0000 + 0x12 * 4);
        assert_eq!(w.dte_addr(0xfff0_0000), 0x4000_3ffc);
        mem.insert(0x4000_0000 + 0x12 * 4, 0x4000_4400 | 0b01);
        // PTE index 0x34: page 0x5678_9000, ACI 3, valid.
        mem.insert(0x4000_4400 + 0x34 * 4, 0x5678_9000 | 3 << 4 | 0b10);
        // PTE index 0x35: ACI set but not valid.
        mem.insert(0x4000_4400 + 0x35 * 4, 0x5678_a000 | 1 << 4);
        // DTE with bits [1:0] = 0b11 is not valid.
        mem.insert(0x4000_0000 + 0x13 * 4, 0x4000_4400 | 0b11);
        let read = |a: u32| Some(*mem.get(&a).unwrap_or(&0));
        let ok = w.walk(read, 0x0123_4abc, None).unwrap();
        assert_eq!(ok.pa, 0x5678_9abc);
        assert_eq!(ok.aci, 3);
        assert_eq!(ok.dte, 0x4000_4401);
        assert_eq!(
            w.walk(read, 0x0123_5000, None),
            Err(Sun50iFault::L2Invalid {
                dte: 0x4000_4401,
                pte: 0x5678_a010
            })
        );
        assert_eq!(
            w.walk(read, 0x0130_0000, None),
            Err(Sun50iFault::L1Invalid { dte: 0x4000_4403 })
        );
        assert_eq!(
            w.walk(read, 0x0200_0000, None),
            Err(Sun50iFault::L1Invalid { dte: 0 })
        );
        // A cached DTE is used as given, even when memory has changed.
        let stale = w.walk(|_| Some(0x9000_0002), 0x0123_4000, Some(0x4000_4401));
        assert_eq!(stale.unwrap().pa, 0x9000_0000);
        // An unreadable entry names its address.
        assert_eq!(
            w.walk(|_| None, 0x0010_0000, None),
            Err(Sun50iFault::External { at: 0x4000_0004 })
        );
    }

    #[test]
    fn sun50i_field_helpers() {
        assert_eq!(Sun50iWalk::l2_table(0xffff_fc01), Some(0xffff_fc00));
        assert_eq!(Sun50iWalk::l2_table(0x1000), None);
        assert_eq!(Sun50iWalk::l2_table(0x1002), None);
        assert_eq!(Sun50iWalk::pte_addr(0x4000_0400, 0xffff_ffff), 0x4000_07fc);
        assert!(Sun50iWalk::pte_valid(0b10));
        assert!(!Sun50iWalk::pte_valid(0b01));
        assert_eq!(Sun50iWalk::output(0xffff_f0f2, 0x0000_0123), 0xffff_f123);
        assert_eq!(Sun50iWalk::aci(0x0000_00f2), 15);
    }
}
