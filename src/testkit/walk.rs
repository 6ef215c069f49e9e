//! Reference table walkers for models.
//!
//! Written from the architecture's description of the formats, not from
//! the crate's codecs: a model that walked with the codec would agree with
//! whatever the codec wrote.  LPAE / VMSAv8-64 stage 1 (Arm ARM DDI0487,
//! chapter D8: the initial lookup level from TnSZ, the table, block and page
//! descriptor formats, AP[2] as the read-only bit).  The sun50i and DART
//! walkers join here with their families.
#![forbid(unsafe_code)]

/// One LPAE stage-1 configuration as a model reads it from a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpaeWalk {
    /// Bus address of the top table.
    pub root: u64,
    /// Input address bits (64 − T0SZ).
    pub ias: u32,
    /// log2 of the granule: 12, 14 or 16.
    pub granule_shift: u32,
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
    /// A descriptor could not be read (outside the arena).
    External {
        /// Its bus address.
        at: u64,
    },
}

impl LpaeWalk {
    fn bits_per_level(&self) -> u32 {
        self.granule_shift - 3
    }

    /// The level the walk starts at (D8: enough levels of
    /// `granule_shift − 3` bits to cover `ias − granule_shift` bits).
    pub fn start_level(&self) -> u8 {
        let levels = (self.ias - self.granule_shift).div_ceil(self.bits_per_level());
        (4 - levels) as u8
    }

    /// The IOVA bit below which one entry at `level` spans.
    pub fn level_shift(&self, level: u8) -> u32 {
        self.granule_shift + self.bits_per_level() * (3 - u32::from(level))
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
                Walked {
                    pa: (d & oa_mask & !(span - 1)) | (iova & (span - 1)),
                    writable: d & (1 << 7) == 0,
                    level,
                    span,
                    leaf_table: table,
                }
            };
            match (d & 0b11, level) {
                (0b11, 3) => return Ok(leaf(d)),
                (0b01, 1 | 2) => return Ok(leaf(d)),
                (0b11, 0..=2) => {
                    table = d & oa_mask;
                    level += 1;
                }
                _ => return Err(WalkFault::Translation { level }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    #[test]
    fn start_levels_follow_the_input_size() {
        let w = |ias, g| LpaeWalk {
            root: 0,
            ias,
            granule_shift: g,
        };
        assert_eq!(w(48, 12).start_level(), 0);
        assert_eq!(w(39, 12).start_level(), 1);
        assert_eq!(w(40, 12).start_level(), 0);
        assert_eq!(w(36, 14).start_level(), 2);
        assert_eq!(w(42, 16).start_level(), 2);
        assert_eq!(w(48, 16).start_level(), 1);
    }

    #[test]
    fn walks_tables_blocks_and_pages_and_stops_on_invalid() {
        // 4K, 39 bits: L1 at 0x1000, L2 at 0x2000, L3 at 0x3000.
        let mut mem = BTreeMap::new();
        mem.insert(0x1000 + 8, 0x2000 | 0b11); // L1[1] → L2
        mem.insert(0x2000, 0x4000_0000 | 0b01 | 1 << 7); // L2[0] 2M block, RO
        mem.insert(0x2000 + 8, 0x3000 | 0b11); // L2[1] → L3
        mem.insert(0x3000 + 8 * 5, 0x8000_5000 | 0b11); // L3[5] page
        let read = |a| Some(*mem.get(&a).unwrap_or(&0));
        let w = LpaeWalk {
            root: 0x1000,
            ias: 39,
            granule_shift: 12,
        };
        let b = w.walk(read, 0x4000_1234, None).unwrap();
        assert_eq!((b.pa, b.writable, b.level), (0x4000_1234, false, 2));
        let p = w.walk(read, 0x4020_5008, None).unwrap();
        assert_eq!(
            (p.pa, p.writable, p.level, p.leaf_table),
            (0x8000_5008, true, 3, 0x3000)
        );
        assert_eq!(
            w.walk(read, 0x4020_6000, None),
            Err(WalkFault::Translation { level: 3 })
        );
        assert_eq!(w.walk(read, 1 << 39, None), Err(WalkFault::AddressSize));
        // From a cached last-level table.
        let c = w.walk(read, 0x4020_5000, Some((3, 0x3000))).unwrap();
        assert_eq!(c.pa, 0x8000_5000);
    }
}
