//! The ARM VMSAv8-64 ("LPAE") stage-1 descriptor codec used by SMMUv2 and
//! SMMUv3 contexts.
//!
//! Sources: Arm ARM DDI0487, chapter D8 "The AArch64 Virtual Memory System
//! Architecture" (sections on translation granules, the starting level of a
//! stage 1 walk derived from TnSZ, and the VMSAv8-64 descriptor formats), as
//! summarised in `docs/hw/lpae.md`; Linux
//! `drivers/iommu/io-pgtable-arm.c` for the attribute recipe IOMMU drivers use.
//! The code is written from those descriptions, not copied.
#![forbid(unsafe_code)]

mod context;

pub use context::{MAIR, MAIR_DEVICE_IDX, MAIR_NC_IDX, MAIR_WB_IDX, OUTPUT_SIZES};

use super::{Codec, MemAttr, Prot, Pte};
use crate::mm::{BusAddr, PhysAddr};
use core::fmt;

/// Translation granule (the page size and the size of every non-top table).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Granule {
    /// 4 KiB pages, 9 index bits per level.
    K4,
    /// 16 KiB pages, 11 index bits per level.
    K16,
    /// 64 KiB pages, 13 index bits per level.
    K64,
}

impl Granule {
    /// log2 of the granule size.
    pub const fn shift(self) -> u32 {
        match self {
            Self::K4 => 12,
            Self::K16 => 14,
            Self::K64 => 16,
        }
    }

    /// Granule size in bytes.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    /// Index bits resolved per level: a table is one granule of 8-byte
    /// entries (docs/hw/lpae.md §1).
    pub const fn bits_per_level(self) -> u32 {
        self.shift() - 3
    }

    /// All three granules.
    pub const ALL: [Granule; 3] = [Self::K4, Self::K16, Self::K64];
}

/// Why an LPAE configuration was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LpaeConfigError {
    /// Input address size outside 32..=48 bits.
    InputBits {
        /// The size asked for.
        bits: u32,
    },
    /// Output address size not one of 32, 36, 40, 42, 44, 48.
    OutputBits {
        /// The size asked for.
        bits: u32,
    },
}

impl fmt::Display for LpaeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InputBits { bits } => write!(f, "input size {bits} not in 32..=48"),
            Self::OutputBits { bits } => write!(f, "output size {bits} has no IPS encoding"),
        }
    }
}

// Descriptor bits: Arm ARM DDI0487 chapter D8, VMSAv8-64 translation table
// descriptor formats; docs/hw/lpae.md §2.
const TYPE_MASK: u64 = 0b11;
const TYPE_BLOCK: u64 = 0b01;
const TYPE_TABLE_OR_PAGE: u64 = 0b11;
const ATTR_INDX_SHIFT: u32 = 2;
const AP_UNPRIV: u64 = 1 << 6; // AP[1]
const AP_RDONLY: u64 = 1 << 7; // AP[2]
const SH_SHIFT: u32 = 8;
const SH_OUTER: u64 = 2;
const SH_INNER: u64 = 3;
const AF: u64 = 1 << 10;
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output-address field: bits [47:12] (48-bit OA, no FEAT_LPA).
const OA_MASK: u64 = 0x0000_FFFF_FFFF_F000;

/// An LPAE stage-1 table configuration: granule, input and output sizes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lpae {
    granule: Granule,
    ias: u32,
    oas: u32,
    start: u8,
    coherent_walk: bool,
}

impl Lpae {
    /// A configuration with `ias` input bits (32..=48, so T0SZ = 64 − ias)
    /// and `oas` output bits (32, 36, 40, 42, 44 or 48).  `coherent_walk`
    /// selects the TCR cacheability/shareability of walks (docs/hw/lpae.md §5).
    pub fn new(
        granule: Granule,
        ias: u32,
        oas: u32,
        coherent_walk: bool,
    ) -> Result<Self, LpaeConfigError> {
        if !(32..=48).contains(&ias) {
            return Err(LpaeConfigError::InputBits { bits: ias });
        }
        if !OUTPUT_SIZES.contains(&oas) {
            return Err(LpaeConfigError::OutputBits { bits: oas });
        }
        // Stage 1 has no SL0: the walk starts at the level that leaves exactly
        // `levels` levels of `bits_per_level` bits above the page offset
        // (Arm ARM DDI0487 chapter D8, the initial lookup level of a stage 1
        // walk; docs/hw/lpae.md §1.1).
        let va_bits = ias - granule.shift();
        let levels = va_bits.div_ceil(granule.bits_per_level());
        let start = (4 - levels) as u8;
        Ok(Self {
            granule,
            ias,
            oas,
            start,
            coherent_walk,
        })
    }

    /// The granule.
    pub const fn granule_kind(&self) -> Granule {
        self.granule
    }

    /// T0SZ for this input size.
    pub const fn t0sz(&self) -> u32 {
        64 - self.ias
    }

    /// `true` when the tables are written for a walker that snoops the CPU
    /// caches (the driver then programs cacheable, inner-shareable walks).
    pub const fn coherent_walk(&self) -> bool {
        self.coherent_walk
    }

    /// The MAIR value the descriptors' AttrIndx fields refer to.
    pub const fn mair(&self) -> u64 {
        MAIR
    }
}

impl Codec for Lpae {
    const ENTRY_BYTES: usize = 8;

    #[inline]
    fn start_level(&self) -> u8 {
        self.start
    }

    #[inline]
    fn last_level(&self) -> u8 {
        3
    }

    #[inline]
    fn input_bits(&self) -> u32 {
        self.ias
    }

    #[inline]
    fn output_bits(&self) -> u32 {
        self.oas
    }

    #[inline]
    fn level_shift(&self, level: u8) -> u32 {
        self.granule.shift() + self.granule.bits_per_level() * (3 - u32::from(level))
    }

    #[inline]
    fn level_entries(&self, level: u8) -> usize {
        if level == self.start {
            // The top table only resolves the bits that are left.
            1usize << (self.ias - self.level_shift(level))
        } else {
            1usize << self.granule.bits_per_level()
        }
    }

    fn table_bytes(&self, level: u8) -> usize {
        // A small top table still needs 64-byte alignment; keep it at least
        // that big (docs/hw/lpae.md §1.1).
        (self.level_entries(level) * 8).max(64)
    }

    fn table_align(&self, _level: u8) -> usize {
        // Tables below the top are one granule by construction; the top is
        // page aligned too, as Linux does (docs/hw/lpae.md §1.1).
        self.granule.size() as usize
    }

    #[inline]
    fn leaf_allowed(&self, level: u8) -> bool {
        // Pages at level 3; blocks at level 2 for every granule and at level 1
        // for 4K only (level-1 16K blocks and level-0 4K blocks need
        // FEAT_LPA2, 64K level-1 blocks need 52-bit OA; docs/hw/lpae.md §1, §2).
        match level {
            3 | 2 => true,
            1 => self.granule == Granule::K4,
            _ => false,
        }
    }

    fn prot_supported(&self, prot: Prot) -> bool {
        // VMSAv8-64 cannot express "no read": write-only is mapped read-write
        // (as Linux does); no access at all is refused.
        prot.read || prot.write
    }

    #[inline]
    fn decode(&self, level: u8, raw: u64) -> Pte {
        match raw & TYPE_MASK {
            TYPE_TABLE_OR_PAGE if level == 3 => Pte::Leaf(PhysAddr(raw & OA_MASK)),
            TYPE_TABLE_OR_PAGE => Pte::Table(BusAddr(raw & OA_MASK)),
            TYPE_BLOCK if level != 3 && self.leaf_allowed(level) => {
                let span = (1u64 << self.level_shift(level)) - 1;
                Pte::Leaf(PhysAddr(raw & OA_MASK & !span))
            }
            // 0bx0 is invalid; 0b01 at level 3 or where blocks are not
            // supported is reserved and faults like an invalid entry.
            _ => Pte::Invalid,
        }
    }

    #[inline]
    fn encode_table(&self, _level: u8, next: BusAddr) -> u64 {
        // NSTable/APTable/XNTable left zero (docs/hw/lpae.md §2.2).
        (next.0 & OA_MASK) | TYPE_TABLE_OR_PAGE
    }

    #[inline]
    fn encode_leaf(&self, level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        // Linux io-pgtable-arm leaf recipe (docs/hw/lpae.md §2.4): nG so per-ASID
        // invalidation works, AF set (no hardware AF update), AP[1] unless
        // privileged, AP[2] when read-only, AttrIndx from the MAIR layout in
        // `context`, SH inner for cacheable and outer otherwise, both XN bits
        // for no-exec.
        let ty = if level == 3 {
            TYPE_TABLE_OR_PAGE
        } else {
            TYPE_BLOCK
        };
        let (idx, sh) = match prot.attr {
            MemAttr::Cacheable => (MAIR_WB_IDX, SH_INNER),
            MemAttr::NonCacheable => (MAIR_NC_IDX, SH_OUTER),
            MemAttr::Device => (MAIR_DEVICE_IDX, SH_OUTER),
        };
        let mut d = (oa.0 & OA_MASK) | ty | AF | NG | (idx << ATTR_INDX_SHIFT) | (sh << SH_SHIFT);
        if !prot.privileged {
            d |= AP_UNPRIV;
        }
        if !prot.write {
            d |= AP_RDONLY;
        }
        if !prot.exec {
            d |= PXN | UXN;
        }
        d
    }

    #[inline]
    fn leaf_step(&self, level: u8) -> Option<u64> {
        // The OA field holds the address in place (bits [47:12]) and the
        // walker keeps a run within the output size: +span per leaf.
        Some(1u64 << self.level_shift(level))
    }

    fn leaf_prot(&self, _level: u8, raw: u64) -> Prot {
        let attr = match (raw >> ATTR_INDX_SHIFT) & 0b111 {
            MAIR_WB_IDX => MemAttr::Cacheable,
            MAIR_DEVICE_IDX => MemAttr::Device,
            _ => MemAttr::NonCacheable,
        };
        Prot {
            read: true,
            write: raw & AP_RDONLY == 0,
            exec: raw & (PXN | UXN) == 0,
            privileged: raw & AP_UNPRIV == 0,
            attr,
        }
    }
}
