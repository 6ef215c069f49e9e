//! The walker is format-agnostic: the real sun50i codec (two levels of
//! 32-bit entries, a 16 KiB level-1 table and 1 KiB level-2 tables;
//! docs/hw/sun50i.md §4) and a codec written here in the shape of DART2
//! (16 KiB granule, 64-bit entries with the PA stored shifted;
//! docs/hw/dart.md §5) run through the same `PageTable` unchanged.

mod common;

use common::XorShift;
use iommu_bringup::iommu::pgtable::{
    Codec, NotLive, PageTable, PgTableError, Prot, Pte, RamArena, Sun50i, TranslateError,
};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::{BusAddr, Iova, PhysAddr};

/// DART2-shaped: 16K pages, IAS 32 → 128-entry level 1, 2048-entry level 2;
/// PA[41:14] stored at [37:10]; SP_END = 0xFFF so the whole page is allowed.
#[derive(Debug)]
struct DartShape;

const DART_VALID: u64 = 1;
const DART_SP_END: u64 = 0xFFF << 40;

impl Codec for DartShape {
    const ENTRY_BYTES: usize = 8;
    fn start_level(&self) -> u8 {
        1
    }
    fn last_level(&self) -> u8 {
        2
    }
    fn input_bits(&self) -> u32 {
        32
    }
    fn output_bits(&self) -> u32 {
        42
    }
    fn level_shift(&self, level: u8) -> u32 {
        if level == 1 {
            25
        } else {
            14
        }
    }
    fn level_entries(&self, level: u8) -> usize {
        if level == 1 {
            128
        } else {
            2048
        }
    }
    fn table_align(&self, _level: u8) -> usize {
        16384
    }
    fn leaf_allowed(&self, level: u8) -> bool {
        level == 2
    }
    fn prot_supported(&self, prot: Prot) -> bool {
        prot.read || prot.write
    }
    fn decode(&self, _level: u8, raw: u64) -> Pte {
        if raw & DART_VALID == 0 {
            return Pte::Invalid;
        }
        let pa = ((raw >> 10) & ((1 << 28) - 1)) << 14;
        if _level == 1 {
            Pte::Table(BusAddr(pa))
        } else {
            Pte::Leaf(PhysAddr(pa))
        }
    }
    fn encode_table(&self, _level: u8, next: BusAddr) -> u64 {
        (next.0 >> 14) << 10 | DART_VALID
    }
    fn encode_leaf(&self, _level: u8, oa: PhysAddr, prot: Prot) -> u64 {
        let mut d = (oa.0 >> 14) << 10 | DART_SP_END | DART_VALID;
        if !prot.read {
            d |= 1 << 3;
        }
        if !prot.write {
            d |= 1 << 2;
        }
        d
    }
    fn leaf_prot(&self, _level: u8, raw: u64) -> Prot {
        Prot {
            read: raw & (1 << 3) == 0,
            write: raw & (1 << 2) == 0,
            ..Prot::rw()
        }
    }
}

#[test]
fn sun50i_uses_32_bit_entries_and_1k_tables() {
    let mut pt = PageTable::new(Sun50i, RamArena::with_size(1 << 20)).unwrap();
    let mut g = Gather::new();
    // 3 pages straddling a 1 MiB boundary: two level-2 tables.
    pt.map(
        Iova(0x0FF_F000),
        PhysAddr(0x4000_0000),
        0x3000,
        Prot::rw(),
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.table_pages(), 3);
    assert_eq!(
        pt.translate(Iova(0x100_1234)).unwrap().phys,
        PhysAddr(0x4000_2234)
    );
    // The DTE for IOVA 0x100_0000 is 32-bit entry 16 of the 16 KiB root.
    let arena = pt.memory();
    let dte = arena.read_bus_u32(BusAddr(pt.root().0 + 16 * 4)).unwrap();
    assert_eq!(dte & 3, 1);
    let l2 = BusAddr(u64::from(dte & 0xFFFF_FC00));
    // PA | ACI 4 (read/write) << 4 | valid (docs/hw/sun50i.md §4, §4.1).
    assert_eq!(arena.read_bus_u32(BusAddr(l2.0 + 4)).unwrap(), 0x4000_2042);
    // Neighbouring 32-bit entries untouched.
    assert_eq!(arena.read_bus_u32(BusAddr(l2.0 + 8)).unwrap(), 0);
    // 32-bit output: a PA above 4 GiB is refused.
    assert!(matches!(
        pt.map(Iova(0), PhysAddr(1 << 32), 0x1000, Prot::rw(), &mut g),
        Err(PgTableError::PhysOutOfRange {
            output_bits: 32,
            ..
        })
    ));
    let n = pt.unmap(Iova(0), 1 << 32, &mut g, &mut NotLive).unwrap();
    assert_eq!((n, g.tables_freed()), (0x3000, 2));
    pt.release(&mut g);
    assert_eq!(pt.memory().live_tables(), 1);
    assert_eq!(
        pt.translate(Iova(0x100_0000)),
        Err(TranslateError::NotMapped {
            iova: Iova(0x100_0000),
            level: 1
        })
    );
}

#[test]
fn dart_shape_stores_shifted_addresses_in_16k_tables() {
    let mut pt = PageTable::new(DartShape, RamArena::with_size(1 << 20)).unwrap();
    let mut g = Gather::new();
    let pa = 0x3_1234_4000u64; // above 4 GiB: fine for a 42-bit PA
    pt.map(Iova(0x200_0000), PhysAddr(pa), 0x8000, Prot::ro(), &mut g)
        .unwrap();
    let t = pt.translate(Iova(0x200_4010)).unwrap();
    assert_eq!((t.phys, t.leaf_size), (PhysAddr(pa + 0x4010), 16384));
    assert!(!t.prot.write);
    let root_entry = pt.memory().read_bus_u64(BusAddr(pt.root().0 + 8)).unwrap();
    let l2 = BusAddr(((root_entry >> 10) & ((1 << 28) - 1)) << 14);
    let pte = pt.memory().read_bus_u64(l2).unwrap();
    assert_eq!(pte, (pa >> 14) << 10 | DART_SP_END | 1 << 2 | 1);
    assert!(matches!(
        pt.map(Iova(0x200_2000), PhysAddr(0), 0x4000, Prot::rw(), &mut g),
        Err(PgTableError::Unaligned { align: 16384, .. })
    ));
}

/// The randomized agreement check on the 32-bit format too.
#[test]
fn sun50i_random_sequence_agrees() {
    let mut rng = XorShift::new(0x5a50_1234);
    let mut pt = PageTable::new(Sun50i, RamArena::with_size(8 << 20)).unwrap();
    const PAGES: usize = 2048; // 8 MiB window: eight level-2 tables
    let mut shadow = vec![None::<u64>; PAGES];
    for op in 0..3000 {
        let start = rng.below(PAGES as u64) as usize;
        let len = 1 + rng.below((PAGES - start).min(300) as u64) as usize;
        let iova = 0x1000_0000 + start as u64 * 4096;
        let mut g = Gather::new();
        if rng.chance(1, 2) {
            let pa = 4096 * rng.below(1 << 18);
            let clash = shadow[start..start + len].iter().any(Option::is_some);
            let r = pt.map(
                Iova(iova),
                PhysAddr(pa),
                len as u64 * 4096,
                Prot::rw(),
                &mut g,
            );
            assert_eq!(r.is_err(), clash, "op {op}");
            if !clash {
                for (i, s) in shadow[start..start + len].iter_mut().enumerate() {
                    *s = Some(pa + i as u64 * 4096);
                }
            }
        } else {
            let n = pt
                .unmap(Iova(iova), len as u64 * 4096, &mut g, &mut NotLive)
                .unwrap();
            let had = shadow[start..start + len].iter().flatten().count() as u64;
            assert_eq!(n, had * 4096, "op {op}");
            shadow[start..start + len].fill(None);
        }
        pt.release(&mut g);
        for _ in 0..8 {
            let p = rng.below(PAGES as u64) as usize;
            let r = pt.translate(Iova(0x1000_0000 + p as u64 * 4096 + 4));
            assert_eq!(
                r.ok().map(|t| t.phys.0),
                shadow[p].map(|pa| pa + 4),
                "op {op} page {p}"
            );
        }
    }
}
