//! The sun50i codec through the engine's walker: golden byte-for-byte table
//! dumps for a fixed map sequence, with every expected DTE and PTE written
//! by hand from the format (docs/hw/sun50i.md §4, §4.1: DTE = PT address
//! [31:10] | 0b01; PTE = page [31:12] | ACI << 4 | valid bit 1; ACI 1 none,
//! 2 read, 3 write, 4 read/write), never computed with the codec; the
//! software walk; sizes the format lacks; and the 4 GiB limits
//! (docs/hw/sun50i.md §4.2) on output addresses and on table memory.

use iommu_bringup::iommu::pgtable::{
    Codec, NotLive, PageTable, PgTableError, PoolTables, Prot, RamArena, Sun50i, TableMemory,
    TranslateError,
};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::dma_pool::DmaError;
use iommu_bringup::mm::host_ram::HostRam;
use iommu_bringup::mm::{BusAddr, Iova, PhysAddr, VirtAddr};
use iommu_bringup::testkit::walk::{Sun50iFault, Sun50iWalk};

/// Arena seen by the IOMMU at 0x4000_0000 (below 4 GiB, 16 KiB aligned).
const BUS: u64 = 0x4000_0000;
/// Where the arena's bump allocator puts things: the 16 KiB DT first, then
/// 1 KiB page tables one after the other.
const DT: u64 = BUS;
const PT_A: u64 = BUS + 0x4000;
const PT_B: u64 = BUS + 0x4400;

const RO: Prot = Prot::ro();
const RW: Prot = Prot::rw();
const WO: Prot = Prot {
    read: false,
    ..Prot::rw()
};
const NONE: Prot = Prot {
    read: false,
    write: false,
    ..Prot::rw()
};

fn arena() -> RamArena {
    RamArena::new(
        BusAddr(BUS),
        VirtAddr(0xffff_0000_4000_0000),
        1 << 20,
        false,
    )
}

/// The bytes of a table of `n` 32-bit words that are zero except `set`.
fn image(n: usize, set: &[(usize, u32)]) -> Vec<u8> {
    let mut words = vec![0u32; n];
    for &(i, w) in set {
        words[i] = w;
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn dump(pt: &PageTable<Sun50i, RamArena>, bus: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * 4];
    assert!(pt.memory().read_bus(BusAddr(bus), &mut out), "{bus:#x}");
    out
}

/// Compares a whole table byte for byte and names the first differing word.
fn check(pt: &PageTable<Sun50i, RamArena>, what: &str, bus: u64, n: usize, set: &[(usize, u32)]) {
    let got = dump(pt, bus, n);
    let want = image(n, set);
    if got != want {
        let i = (0..n)
            .find(|i| got[i * 4..i * 4 + 4] != want[i * 4..i * 4 + 4])
            .unwrap();
        let w = |b: &[u8]| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        panic!(
            "{what}: word {i} is {:#010x}, expected {:#010x}",
            w(&got),
            w(&want)
        );
    }
}

fn map(pt: &mut PageTable<Sun50i, RamArena>, iova: u64, pa: u64, size: u64, prot: Prot) {
    let mut g = Gather::new();
    pt.map(Iova(iova), PhysAddr(pa), size, prot, &mut g)
        .unwrap_or_else(|e| panic!("map {iova:#x}: {e}"));
}

fn unmap(pt: &mut PageTable<Sun50i, RamArena>, iova: u64, size: u64) -> Gather {
    let mut g = Gather::new();
    let n = pt.unmap(Iova(iova), size, &mut g, &mut NotLive).unwrap();
    assert_eq!(n, size);
    g
}

#[test]
fn golden_tables_for_a_fixed_map_sequence() {
    let mut pt = PageTable::new(Sun50i, arena()).unwrap();
    assert_eq!(pt.root(), BusAddr(DT));
    check(&pt, "empty DT", DT, 4096, &[]);

    // Two read/write pages in the second 1 MiB region: DTE 1 → PT A.
    map(&mut pt, 0x0010_0000, 0x8000_0000, 0x2000, RW);
    // The third region: a read-only page (PTE 3), a write-only page at the
    // region's last PTE, a no-access page (PTE 4).  DTE 2 → PT B.
    map(&mut pt, 0x0020_3000, 0x9000_0000, 0x1000, RO);
    map(&mut pt, 0x002F_F000, 0x9100_0000, 0x1000, WO);
    map(&mut pt, 0x0020_4000, 0x9200_0000, 0x1000, NONE);
    check(&pt, "DT", DT, 4096, &[(1, 0x4000_4001), (2, 0x4000_4401)]);
    check(
        &pt,
        "PT A",
        PT_A,
        256,
        &[(0, 0x8000_0042), (1, 0x8000_1042)],
    );
    let pt_b = [(3, 0x9000_0022), (4, 0x9200_0012), (255, 0x9100_0032)];
    check(&pt, "PT B", PT_B, 256, &pt_b);

    // Unmap one page: its PTE is zero, the table stays (one page left).
    let g = unmap(&mut pt, 0x0010_1000, 0x1000);
    assert_eq!(g.tables_freed(), 0);
    check(&pt, "PT A after unmap", PT_A, 256, &[(0, 0x8000_0042)]);
    // Remap it elsewhere, read-only.
    map(&mut pt, 0x0010_1000, 0xA000_0000, 0x1000, RO);
    check(
        &pt,
        "PT A after remap",
        PT_A,
        256,
        &[(0, 0x8000_0042), (1, 0xA000_0022)],
    );
    check(
        &pt,
        "DT after remap",
        DT,
        4096,
        &[(1, 0x4000_4001), (2, 0x4000_4401)],
    );
    // Nothing else in the arena was written: the bytes after PT B are zero.
    check(&pt, "after PT B", PT_B + 0x400, 256, &[]);

    // The engine's own walk agrees with the hand-written words.
    let t = pt.translate(Iova(0x0010_1ABC)).unwrap();
    assert_eq!(
        (t.phys, t.level, t.leaf_size),
        (PhysAddr(0xA000_0ABC), 2, 4096)
    );
    assert_eq!(t.prot, RO);
    assert_eq!(
        pt.translate(Iova(0x0010_0008)).unwrap().phys,
        PhysAddr(0x8000_0008)
    );
    assert_eq!(pt.translate(Iova(0x002F_FFFC)).unwrap().prot, WO);
    assert_eq!(pt.translate(Iova(0x0020_4000)).unwrap().prot, NONE);
    assert_eq!(
        pt.translate(Iova(0x0020_5000)),
        Err(TranslateError::NotMapped {
            iova: Iova(0x0020_5000),
            level: 2
        })
    );
    assert_eq!(
        pt.translate(Iova(0x0030_0000)),
        Err(TranslateError::NotMapped {
            iova: Iova(0x0030_0000),
            level: 1
        })
    );

    // The reference walker (written from the format description, not from
    // the codec) reads the same tables the same way: output and ACI.
    let w = Sun50iWalk { ttb: DT as u32 };
    let read = |a: u32| pt.memory().read_bus_u32(BusAddr(u64::from(a)));
    for (iova, pa, aci) in [
        (0x0010_0008u32, 0x8000_0008u32, 4u8),
        (0x0010_1ABC, 0xA000_0ABC, 2),
        (0x0020_3010, 0x9000_0010, 2),
        (0x002F_FFFC, 0x9100_0FFC, 3),
        (0x0020_4000, 0x9200_0000, 1),
    ] {
        let r = w.walk(read, iova, None).unwrap();
        assert_eq!((r.pa, r.aci), (pa, aci), "IOVA {iova:#x}");
    }
    assert!(matches!(
        w.walk(read, 0x0020_5000, None),
        Err(Sun50iFault::L2Invalid { .. })
    ));
    assert!(matches!(
        w.walk(read, 0x0030_0000, None),
        Err(Sun50iFault::L1Invalid { .. })
    ));

    // Emptying region 1 clears DTE 1 and parks PT A for release after the
    // invalidation.
    let mut g = unmap(&mut pt, 0x0010_0000, 0x2000);
    assert_eq!(g.tables_freed(), 1);
    check(
        &pt,
        "DT after emptying region 1",
        DT,
        4096,
        &[(2, 0x4000_4401)],
    );
    pt.release(&mut g);
    assert_eq!(pt.memory().live_tables(), 2);
}

#[test]
fn sizes_the_format_lacks_are_split_or_refused() {
    let mut pt = PageTable::new(Sun50i, arena()).unwrap();
    let mut g = Gather::new();
    // A 1 MiB-aligned 1 MiB map is 256 pages (there are no sections).
    map(&mut pt, 0x0040_0000, 0x8000_0000, 0x10_0000, RW);
    let t = pt.translate(Iova(0x004F_F123)).unwrap();
    assert_eq!(
        (t.phys, t.level, t.leaf_size),
        (PhysAddr(0x800F_F123), 2, 4096)
    );
    let pt_bus = {
        let dte = pt.memory().read_bus_u32(BusAddr(DT + 4 * 4)).unwrap();
        assert_eq!(dte & 3, 1);
        u64::from(dte & 0xFFFF_FC00)
    };
    let words: Vec<(usize, u32)> = (0..256)
        .map(|i| (i, 0x8000_0042 + (i as u32) * 0x1000))
        .collect();
    check(&pt, "PT of the 1 MiB map", pt_bus, 256, &words);
    // A 1 MiB page size does not exist.
    assert_eq!(
        pt.map_pages(
            Iova(0x0100_0000),
            PhysAddr(0x8010_0000),
            0x10_0000,
            1,
            RW,
            &mut g
        ),
        Err(PgTableError::UnsupportedPageSize {
            page_size: 0x10_0000
        })
    );
    // Nor do 16 KiB or 64 KiB pages.
    for size in [0x4000, 0x1_0000] {
        assert_eq!(
            pt.map_pages(
                Iova(0x0100_0000),
                PhysAddr(0x8010_0000),
                size,
                1,
                RW,
                &mut g
            ),
            Err(PgTableError::UnsupportedPageSize { page_size: size })
        );
    }
    // Sub-page alignment is refused.
    assert!(matches!(
        pt.map(Iova(0x0100_0800), PhysAddr(0x8010_0000), 0x1000, RW, &mut g),
        Err(PgTableError::Unaligned { align: 4096, .. })
    ));
    // A partial unmap inside the 1 MiB run takes exactly those pages: no
    // block to split, so no break-before-make.
    let split = unmap(&mut pt, 0x0040_1000, 0x2000);
    assert_eq!(split.bbm_breaks(), 0);
    assert!(pt.translate(Iova(0x0040_2000)).is_err());
    assert!(pt.translate(Iova(0x0040_3000)).is_ok());
    // IOVAs are 32 bits.
    assert!(matches!(
        pt.map(Iova(0xFFFF_F000), PhysAddr(0x8000_0000), 0x2000, RW, &mut g),
        Err(PgTableError::IovaOutOfRange { input_bits: 32, .. })
    ));
    // What the PTE cannot carry.
    let exec = Prot { exec: false, ..RW };
    assert_eq!(
        pt.map(
            Iova(0x0100_0000),
            PhysAddr(0x8010_0000),
            0x1000,
            exec,
            &mut g
        ),
        Err(PgTableError::UnsupportedProt {
            iova: Iova(0x0100_0000)
        })
    );
}

#[test]
fn output_addresses_at_or_above_4_gib_are_refused_not_truncated() {
    let mut pt = PageTable::new(Sun50i, arena()).unwrap();
    let mut g = Gather::new();
    let before = dump(&pt, DT, 4096);
    for (pa, size) in [
        (0x1_0000_0000, 0x1000), // at 4 GiB (would truncate to PA 0)
        (0x1_4000_0000, 0x1000), // an H616 4 GiB board's top GiB
        (0xFFFF_F000, 0x2000),   // a range running over 4 GiB
    ] {
        assert_eq!(
            pt.map(Iova(0x0010_0000), PhysAddr(pa), size, RW, &mut g),
            Err(PgTableError::PhysOutOfRange {
                phys: PhysAddr(pa),
                size,
                output_bits: 32
            }),
            "{pa:#x}+{size:#x}"
        );
    }
    assert_eq!(dump(&pt, DT, 4096), before, "nothing written");
    assert_eq!(pt.table_pages(), 1);
    // The last page below 4 GiB is fine.
    map(&mut pt, 0x0010_0000, 0xFFFF_F000, 0x1000, RW);
    assert_eq!(
        pt.translate(Iova(0x0010_0ffc)).unwrap().phys,
        PhysAddr(0xFFFF_FFFC)
    );
}

#[test]
fn table_memory_above_4_gib_is_refused_with_the_limit_named() {
    // An arena the IOMMU would see entirely above 4 GiB: not even the DT.
    let above = RamArena::new(
        BusAddr(0x1_0000_0000),
        VirtAddr(0xffff_0001_0000_0000),
        1 << 20,
        false,
    );
    let e = PageTable::new(Sun50i, above).unwrap_err();
    assert_eq!(
        e,
        PgTableError::OutOfMemoryBelow {
            level: 1,
            bytes: 16 << 10,
            limit: 1 << 32
        }
    );
    assert!(e.to_string().contains("0x100000000"), "{e}");

    // An arena straddling 4 GiB: 64 KiB below it.  The DT and then 1 KiB
    // tables fill that; the next table is refused, not placed above.
    let straddle = RamArena::new(
        BusAddr(0xFFFF_0000),
        VirtAddr(0xffff_0000_ffff_0000),
        1 << 20,
        false,
    );
    let mut pt = PageTable::new(Sun50i, straddle).unwrap();
    assert_eq!(pt.root(), BusAddr(0xFFFF_0000));
    let mut g = Gather::new();
    // 48 KiB left below 4 GiB = 48 page tables, one per 1 MiB region.
    for r in 0..48u64 {
        map(&mut pt, r << 20, 0x8000_0000, 0x1000, RW);
    }
    assert_eq!(
        pt.map(Iova(48 << 20), PhysAddr(0x8000_0000), 0x1000, RW, &mut g),
        Err(PgTableError::OutOfMemoryBelow {
            level: 2,
            bytes: 1024,
            limit: 1 << 32
        })
    );
    // Every DTE points below 4 GiB, and the arena above it stayed free.
    for r in 0..48u64 {
        let dte = pt
            .memory()
            .read_bus_u32(BusAddr(0xFFFF_0000 + 4 * r))
            .unwrap();
        assert_eq!(dte & 3, 1);
        assert!(u64::from(dte & 0xFFFF_FC00) + 1024 <= 1 << 32);
    }
    let (_, bus) = pt.memory_mut().alloc_block(1024, 1024).unwrap();
    assert!(bus.0 >= 1 << 32, "the arena above 4 GiB is still there");
}

#[test]
fn pool_tables_honour_the_limit() {
    // Host RAM addresses stand for physical ones; where the allocator put
    // this arena decides whether a sun50i table can live in it.
    let ram = HostRam::new(2 << 20);
    let pool = ram.pool();
    let range = pool.range();
    let below_4g = range.end().as_u64() <= 1 << 32;
    let r = PageTable::new(Sun50i, PoolTables::new(&pool, false, |_, _| {}));
    match r {
        Ok(mut pt) => {
            assert!(below_4g, "a DT above 4 GiB was accepted");
            map_pool(&mut pt);
        }
        Err(e) => {
            assert!(!below_4g, "{e}");
            assert_eq!(
                e,
                PgTableError::OutOfMemoryBelow {
                    level: 1,
                    bytes: 16 << 10,
                    limit: 1 << 32
                }
            );
        }
    }

    // The same seam with a limit relative to the pool, so both outcomes run
    // wherever the host put it.
    let mut mem = PoolTables::new(&pool, false, |_, _| {});
    let base = range.base.as_u64();
    assert!(mem.alloc_table_below(1024, 1024, base + 0x1000).is_some());
    let full = mem.alloc_table_below(1024, 1024, base + 0x1000);
    assert!(full.is_none(), "only one frame lies below the limit");
    assert_eq!(
        mem.last_error(),
        Some(DmaError::NoneBelow {
            requested: 1024,
            limit: base + 0x1000,
            pool: range
        })
    );
    let e = mem.last_error().unwrap().to_string();
    assert!(e.contains(&format!("{:#x}", base + 0x1000)), "{e}");
    let p = mem
        .alloc_table_below(16 << 10, 16 << 10, range.end().as_u64())
        .unwrap();
    assert!(p.bus.0 + (16 << 10) <= range.end().as_u64() && p.bus.0.is_multiple_of(16 << 10));
    assert!(mem.alloc_table_below(1024, 1024, base).is_none());
}

fn map_pool(pt: &mut PageTable<Sun50i, PoolTables<'_>>) {
    let mut g = Gather::new();
    pt.map(
        Iova(0x0010_0000),
        PhysAddr(0x8000_0000),
        0x1000,
        Prot::rw(),
        &mut g,
    )
    .unwrap();
    assert_eq!(
        pt.translate(Iova(0x0010_0010)).unwrap().phys,
        PhysAddr(0x8000_0010)
    );
    assert!(pt.root().0 < 1 << 32 && pt.codec().table_address_limit() == Some(1 << 32));
}
