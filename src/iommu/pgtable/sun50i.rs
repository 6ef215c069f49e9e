//! The Allwinner sun50i (H6, H616/H618) IOMMU page-table codec.
//!
//! Two levels of 32-bit descriptors (docs/hw/sun50i.md §4): IOVA[31:20]
//! indexes a 16 KiB, 16 KiB-aligned level-1 Directory Table of 4096 DTEs
//! (1 MiB each), IOVA[19:12] a 1 KiB level-2 Page Table of 256 PTEs, and
//! only 4 KiB pages exist — no 1 MiB sections, so the walker maps a 1 MiB
//! range as 256 pages and refuses `map_pages` with a 1 MiB page size.
//!
//! Permissions are not bits in the PTE but an index (ACI, PTE[7:4]) into
//! permission domains the driver programs in DM_AUT_CTRL0..7
//! (docs/hw/sun50i.md §4.1).  The codec holds the numbers of the scheme —
//! which ACI means read-only, write-only, both, none ([`ACI_DOMAINS`]) — and
//! the driver programs those domains to match.
//!
//! Everything is 32-bit (docs/hw/sun50i.md §4.2): output addresses at or
//! above 4 GiB are refused by the walker with
//! [`PgTableError::PhysOutOfRange`](super::PgTableError::PhysOutOfRange)
//! (`output_bits` is 32), and tables are allocated below 4 GiB through
//! [`Codec::table_address_limit`], so a descriptor is never truncated.
//!
//! Sources: Linux `drivers/iommu/sun50i-iommu.c`, the Allwinner BSP driver
//! and header, and the user manuals' register chapter, as summarised with
//! their tags in docs/hw/sun50i.md.  Written from those descriptions.
#![forbid(unsafe_code)]

use super::{Codec, MemAttr, Prot, Pte};
use crate::mm::{BusAddr, PhysAddr};

/// Level of the Directory Table (DTEs, 1 MiB each).
pub const DT_LEVEL: u8 = 1;
/// Level of the Page Tables (PTEs, 4 KiB pages).
pub const PT_LEVEL: u8 = 2;

/// DTE[31:10]: bus address of the level-2 table (1 KiB aligned).
pub const DTE_PT_ADDR_MASK: u32 = 0xFFFF_FC00;
/// DTE[1:0]: the type field; only [`DTE_TYPE_TABLE`] is valid.
pub const DTE_TYPE_MASK: u32 = 0b11;
/// DTE[1:0] = 0b01: a valid level-2 table pointer (Linux and the BSP test
/// `(dte & 3) == 1`; 0b11 and 0b10 are not valid).
pub const DTE_TYPE_TABLE: u32 = 0b01;
/// PTE[31:12]: the 4 KiB page's output address.
pub const PTE_PAGE_ADDR_MASK: u32 = 0xFFFF_F000;
/// PTE[7:4]: ACI, the permission-domain index.
pub const PTE_ACI_SHIFT: u32 = 4;
/// Mask of the ACI field (after shifting).
pub const PTE_ACI_MASK: u32 = 0xF;
/// PTE[1]: valid.
pub const PTE_VALID: u32 = 1 << 1;

/// ACI 0: domain 0, the default domain the manual calls uncontrolled —
/// every access allowed, not programmable.  This codec never writes it
/// (a cleared PTE is 0, but invalid).
pub const ACI_DEFAULT: u8 = 0;
/// ACI 1: a domain the driver programs to forbid reads and writes for
/// every master.
pub const ACI_NONE: u8 = 1;
/// ACI 2: a domain the driver programs to forbid writes (read-only).
pub const ACI_RD: u8 = 2;
/// ACI 3: a domain the driver programs to forbid reads (write-only).
pub const ACI_WR: u8 = 3;
/// ACI 4: a domain left unrestricted (read and write).
pub const ACI_RD_WR: u8 = 4;

/// The permission domains this codec's PTEs select and what the driver must
/// program each to: `(aci, read allowed, write allowed)` for every master.
/// Linux's scheme (docs/hw/sun50i.md §4.1); ACI 0 is not in the table
/// because the hardware fixes it to "allow everything".
pub const ACI_DOMAINS: [(u8, bool, bool); 4] = [
    (ACI_NONE, false, false),
    (ACI_RD, true, false),
    (ACI_WR, false, true),
    (ACI_RD_WR, true, true),
];

/// Bus addresses of tables and output addresses must be below this.
pub const ADDRESS_LIMIT: u64 = 1 << 32;

/// The sun50i format.  It has no parameters: one geometry for H6 and H616.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Sun50i;

impl Sun50i {
    /// The ACI a leaf with `prot` carries: read+write → 4, read → 2,
    /// write → 3, neither → 1 (docs/hw/sun50i.md §4.1).
    pub const fn aci(prot: Prot) -> u8 {
        match (prot.read, prot.write) {
            (true, true) => ACI_RD_WR,
            (true, false) => ACI_RD,
            (false, true) => ACI_WR,
            (false, false) => ACI_NONE,
        }
    }

    /// The permissions of a leaf carrying `aci`, as the domains are
    /// programmed ([`ACI_DOMAINS`]).  ACI 0 and the domains this codec does
    /// not use (5..=15) are unrestricted: domain 0 is fixed to allow, and
    /// the others reset to allow and are left so (docs/hw/sun50i.md §4.1).
    pub const fn prot_of_aci(aci: u8) -> Prot {
        let (read, write) = match aci {
            ACI_NONE => (false, false),
            ACI_RD => (true, false),
            ACI_WR => (false, true),
            _ => (true, true),
        };
        Prot {
            read,
            write,
            ..Prot::rw()
        }
    }

    /// The ACI field of a raw PTE.
    pub const fn pte_aci(raw: u32) -> u8 {
        ((raw >> PTE_ACI_SHIFT) & PTE_ACI_MASK) as u8
    }
}

impl Codec for Sun50i {
    const ENTRY_BYTES: usize = 4;

    #[inline]
    fn start_level(&self) -> u8 {
        DT_LEVEL
    }

    #[inline]
    fn last_level(&self) -> u8 {
        PT_LEVEL
    }

    #[inline]
    fn input_bits(&self) -> u32 {
        32
    }

    #[inline]
    fn output_bits(&self) -> u32 {
        // PTE[31:12] is the whole output address (docs/hw/sun50i.md §4.2):
        // the walker refuses an OA range reaching 4 GiB.
        32
    }

    #[inline]
    fn level_shift(&self, level: u8) -> u32 {
        // IOVA[31:20] → DTE, IOVA[19:12] → PTE (docs/hw/sun50i.md §4).
        if level == DT_LEVEL {
            20
        } else {
            12
        }
    }

    #[inline]
    fn level_entries(&self, level: u8) -> usize {
        // 4096 DTEs (16 KiB), 256 PTEs (1 KiB); docs/hw/sun50i.md §4.
        if level == DT_LEVEL {
            4096
        } else {
            256
        }
    }

    // table_bytes / table_align: the defaults (entries × 4, aligned to the
    // size) give the 16 KiB-aligned DT (TTB[31:14]) and 1 KiB-aligned PTs
    // (DTE[31:10]) the format needs (docs/hw/sun50i.md §4).

    fn table_address_limit(&self) -> Option<u64> {
        // TTB and DTE hold 32-bit table addresses (docs/hw/sun50i.md §4.2).
        Some(ADDRESS_LIMIT)
    }

    #[inline]
    fn leaf_allowed(&self, level: u8) -> bool {
        // 4 KiB pages only; a DTE is always a table pointer
        // (docs/hw/sun50i.md §4).
        level == PT_LEVEL
    }

    fn prot_supported(&self, prot: Prot) -> bool {
        // Read and write (all four combinations) are ACI domains.  The PTE
        // has no execute, privilege or memory-type field and the masters'
        // transactions carry no fetch attribute the domains could check
        // (docs/hw/sun50i.md §4.1): every page is executable and takes its
        // memory type from the master's bus attributes, which is what
        // `Prot::rw()` describes for the image's non-cacheable DMA pool.
        // Asking for what the hardware cannot do — a non-executable,
        // privileged-only, cacheable or device mapping — is refused rather
        // than silently dropped.
        prot.exec && !prot.privileged && prot.attr == MemAttr::NonCacheable
    }

    #[inline]
    fn decode(&self, level: u8, raw: u64) -> Pte {
        let raw = raw as u32;
        if level == DT_LEVEL {
            if raw & DTE_TYPE_MASK == DTE_TYPE_TABLE {
                Pte::Table(BusAddr(u64::from(raw & DTE_PT_ADDR_MASK)))
            } else {
                Pte::Invalid
            }
        } else if raw & PTE_VALID != 0 {
            Pte::Leaf(PhysAddr(u64::from(raw & PTE_PAGE_ADDR_MASK)))
        } else {
            Pte::Invalid
        }
    }

    #[inline]
    fn encode_table(&self, _level: u8, next: BusAddr) -> u64 {
        // The walker allocated `next` below `table_address_limit`; the
        // reserved DTE[9:2] stay zero (docs/hw/sun50i.md §4).
        debug_assert!(next.0 < ADDRESS_LIMIT && next.0 & !u64::from(DTE_PT_ADDR_MASK) == 0);
        u64::from((next.0 as u32 & DTE_PT_ADDR_MASK) | DTE_TYPE_TABLE)
    }

    #[inline]
    fn encode_leaf(&self, _level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        // The walker checked OA + size ≤ 4 GiB (output_bits 32); reserved
        // PTE[11:8], [3:2] and [0] stay zero (docs/hw/sun50i.md §4).
        debug_assert!(oa.0 < ADDRESS_LIMIT);
        let aci = u32::from(Self::aci(prot)) << PTE_ACI_SHIFT;
        u64::from((oa.0 as u32 & PTE_PAGE_ADDR_MASK) | aci | PTE_VALID)
    }

    #[inline]
    fn leaf_step(&self, _level: u8) -> Option<u64> {
        // PTE[31:12] holds the page address in place, and the walker keeps
        // a run below 4 GiB (output_bits 32): +4 KiB per page.
        Some(1 << 12)
    }

    fn leaf_prot(&self, _level: u8, raw: u64) -> Prot {
        Self::prot_of_aci(Self::pte_aci(raw as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_16k_directory_and_1k_page_tables_of_32_bit_entries() {
        let c = Sun50i;
        assert_eq!(Sun50i::ENTRY_BYTES, 4);
        assert_eq!((c.table_bytes(1), c.table_align(1)), (16 << 10, 16 << 10));
        assert_eq!((c.table_bytes(2), c.table_align(2)), (1 << 10, 1 << 10));
        assert_eq!(c.granule(), 4096);
        assert!(!c.leaf_allowed(1) && c.leaf_allowed(2));
        assert_eq!(c.table_address_limit(), Some(1 << 32));
    }

    #[test]
    fn only_type_0b01_is_a_table_pointer() {
        let c = Sun50i;
        assert_eq!(c.decode(1, 0x4000_4401), Pte::Table(BusAddr(0x4000_4400)));
        for ty in [0b00, 0b10, 0b11] {
            assert_eq!(c.decode(1, 0x4000_4400 | ty), Pte::Invalid, "type {ty:#b}");
        }
        // Reserved DTE[9:2] are not part of the address.
        assert_eq!(c.decode(1, 0x4000_47FD), Pte::Table(BusAddr(0x4000_4400)));
    }

    #[test]
    fn pte_valid_is_bit_1_and_aci_round_trips() {
        let c = Sun50i;
        assert_eq!(c.decode(2, 0x8000_0041), Pte::Invalid, "bit 0 is reserved");
        assert_eq!(c.decode(2, 0x8000_0042), Pte::Leaf(PhysAddr(0x8000_0000)));
        let cases = [
            (Prot::rw(), 0x8000_0042),
            (Prot::ro(), 0x8000_0022),
            (
                Prot {
                    read: false,
                    ..Prot::rw()
                },
                0x8000_0032,
            ),
            (
                Prot {
                    read: false,
                    write: false,
                    ..Prot::rw()
                },
                0x8000_0012,
            ),
        ];
        for (prot, raw) in cases {
            assert!(c.prot_supported(prot));
            assert_eq!(c.encode_leaf(2, PhysAddr(0x8000_0000), prot), raw);
            assert_eq!(c.leaf_prot(2, raw), prot);
        }
        // Domain 0 and unused domains are unrestricted.
        assert_eq!(c.leaf_prot(2, 0x8000_0002), Prot::rw());
        assert_eq!(c.leaf_prot(2, 0x8000_00F2), Prot::rw());
    }

    #[test]
    fn what_the_pte_cannot_carry_is_refused() {
        let c = Sun50i;
        assert!(!c.prot_supported(Prot {
            exec: false,
            ..Prot::rw()
        }));
        assert!(!c.prot_supported(Prot {
            privileged: true,
            ..Prot::ro()
        }));
        assert!(!c.prot_supported(Prot::rw().with_attr(MemAttr::Device)));
        assert!(!c.prot_supported(Prot::rw().with_attr(MemAttr::Cacheable)));
        assert!(c.prot_supported(Prot::rw()));
    }
}
