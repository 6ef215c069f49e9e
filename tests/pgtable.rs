//! Host tests of the page-table engine: every granule and start level,
//! block-versus-page choice, partial block unmaps with break-before-make,
//! table freeing in the gather, error cases, and a seeded randomized check
//! that `translate` agrees with what `map`/`unmap` did.

mod common;

use common::XorShift;
use core::cell::RefCell;
use iommu_bringup::iommu::pgtable::{
    Codec, Granule, Lpae, LpaeConfigError, MemAttr, NotLive, PageTable, PgTableError, Prot,
    RamArena, TableMemory, TranslateError,
};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::{BusAddr, Iova, PhysAddr, VirtAddr};
use std::rc::Rc;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn table(granule: Granule, ias: u32, arena_bytes: usize) -> PageTable<Lpae, RamArena> {
    let codec = Lpae::new(granule, ias, 48, true).unwrap();
    PageTable::new(codec, RamArena::with_size(arena_bytes)).unwrap()
}

fn map(
    pt: &mut PageTable<Lpae, RamArena>,
    iova: u64,
    pa: u64,
    size: u64,
) -> Result<(), PgTableError> {
    let mut g = Gather::new();
    let r = pt.map(Iova(iova), PhysAddr(pa), size, Prot::rw(), &mut g);
    if r.is_ok() {
        assert!(g.is_empty(), "a successful map must not need a sync");
    }
    pt.release(&mut g);
    r
}

fn unmap(pt: &mut PageTable<Lpae, RamArena>, iova: u64, size: u64) -> (u64, Gather) {
    let mut g = Gather::new();
    let n = pt.unmap(Iova(iova), size, &mut g, &mut NotLive).unwrap();
    (n, g)
}

/// Start level from T0SZ: docs/hw/lpae.md §1.1's table, and the formula for every
/// input size.
#[test]
fn start_level_for_every_granule_and_input_size() {
    let known = [
        (Granule::K4, 48, 0, 512),
        (Granule::K4, 40, 0, 2),
        (Granule::K4, 39, 1, 512),
        (Granule::K4, 36, 1, 64),
        (Granule::K4, 32, 1, 4),
        (Granule::K16, 48, 0, 2),
        (Granule::K64, 48, 1, 64),
    ];
    for (g, ias, start, entries) in known {
        let c = Lpae::new(g, ias, 48, true).unwrap();
        assert_eq!(c.start_level(), start, "{g:?} ias {ias}");
        assert_eq!(c.level_entries(start), entries, "{g:?} ias {ias}");
        assert_eq!(c.t0sz(), 64 - ias);
    }
    let mut seen = std::collections::BTreeSet::new();
    for g in Granule::ALL {
        for ias in 32..=48 {
            let c = Lpae::new(g, ias, 48, true).unwrap();
            let bpl = g.shift() - 3;
            let levels = (ias - g.shift()).div_ceil(bpl);
            assert_eq!(u32::from(c.start_level()), 4 - levels);
            // The levels resolve exactly the input bits.
            let resolved: u32 = (c.start_level()..=3)
                .map(|l| c.level_entries(l).trailing_zeros())
                .sum();
            assert_eq!(resolved + g.shift(), ias, "{g:?} ias {ias}");
            seen.insert((g.shift(), c.start_level()));
        }
    }
    // 4K: start levels 0 and 1; 16K: 0, 1 and 2; 64K: 1 and 2.
    let expect = [
        (12, 0),
        (12, 1),
        (14, 0),
        (14, 1),
        (14, 2),
        (16, 1),
        (16, 2),
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), expect);
}

#[test]
fn bad_configurations_are_refused() {
    assert_eq!(
        Lpae::new(Granule::K4, 31, 48, true),
        Err(LpaeConfigError::InputBits { bits: 31 })
    );
    assert_eq!(
        Lpae::new(Granule::K4, 49, 48, true),
        Err(LpaeConfigError::InputBits { bits: 49 })
    );
    assert_eq!(
        Lpae::new(Granule::K4, 48, 38, true),
        Err(LpaeConfigError::OutputBits { bits: 38 })
    );
}

/// Map the first and the last page of the input space for every granule ×
/// input size, walk both, and check the tables built.
#[test]
fn every_granule_and_start_level_maps_and_walks() {
    for g in Granule::ALL {
        for ias in 32..=48 {
            let gs = g.size();
            let mut pt = table(g, ias, 8 << 20);
            let levels = 4 - usize::from(pt.codec().start_level());
            let top = (1u64 << ias) - gs;
            map(&mut pt, 0, 0x4000_0000, gs).unwrap();
            map(&mut pt, top, 0x5000_0000, gs).unwrap();
            let t = pt.translate(Iova(top + 8)).unwrap();
            assert_eq!(t.phys, PhysAddr(0x5000_0008));
            assert_eq!((t.level, t.leaf_size), (3, gs));
            assert_eq!(
                pt.translate(Iova(gs - 1)).unwrap().phys,
                PhysAddr(0x4000_0000 + gs - 1)
            );
            assert_eq!(
                pt.translate(Iova(gs)),
                Err(TranslateError::NotMapped {
                    iova: Iova(gs),
                    level: 3
                })
            );
            assert_eq!(
                pt.translate(Iova(1 << ias)),
                Err(TranslateError::OutOfRange {
                    iova: Iova(1 << ias)
                })
            );
            // Two disjoint paths below the top table (when the top table has
            // more than one entry they don't share anything).
            assert_eq!(pt.table_pages(), 1 + 2 * (levels - 1), "{g:?} ias {ias}");
            let (n, gather) = unmap(&mut pt, 0, 1 << ias);
            assert_eq!(n, 2 * gs);
            assert_eq!(gather.tables_freed() as usize, 2 * (levels - 1));
            assert_eq!(pt.table_pages(), 1);
        }
    }
}

#[test]
fn largest_block_alignment_allows() {
    // 4K: 1G at level 1, 2M at level 2.
    let mut pt = table(Granule::K4, 48, 8 << 20);
    map(&mut pt, GIB, 2 * GIB, GIB).unwrap();
    let t = pt.translate(Iova(GIB + 0x1234)).unwrap();
    assert_eq!(
        (t.level, t.leaf_size, t.phys),
        (1, GIB, PhysAddr(2 * GIB + 0x1234))
    );
    // IOVA 2M aligned but PA only 4K aligned: pages only.
    map(&mut pt, 4 * GIB, 0x1000, 2 * MIB).unwrap();
    assert_eq!(pt.translate(Iova(4 * GIB)).unwrap().leaf_size, 4096);
    // 4K + 2M + 4K starting 4K below a 2M boundary: page, block, page.
    let base = 8 * GIB - 4096;
    map(&mut pt, base, base, 2 * MIB + 8192).unwrap();
    let sizes: Vec<u64> = [base, base + 4096, base + 4096 + 2 * MIB]
        .iter()
        .map(|&a| pt.translate(Iova(a)).unwrap().leaf_size)
        .collect();
    assert_eq!(sizes, [4096, 2 * MIB, 4096]);
    // 16K: 32M blocks at level 2; 64K: 512M blocks at level 2.
    let mut pt = table(Granule::K16, 48, 8 << 20);
    map(&mut pt, 32 * MIB, 64 * MIB, 64 * MIB).unwrap();
    let t = pt.translate(Iova(63 * MIB)).unwrap();
    assert_eq!(
        (t.level, t.leaf_size, t.phys),
        (2, 32 * MIB, PhysAddr(95 * MIB))
    );
    let mut pt = table(Granule::K64, 48, 8 << 20);
    map(&mut pt, 512 * MIB, GIB, 512 * MIB).unwrap();
    let t = pt.translate(Iova(512 * MIB)).unwrap();
    assert_eq!((t.level, t.leaf_size), (2, 512 * MIB));
    // map_pages forces the leaf size even where a block would fit.
    let mut pt = table(Granule::K4, 39, 8 << 20);
    let mut g = Gather::new();
    pt.map_pages(Iova(0), PhysAddr(0), 4096, 512, Prot::rw(), &mut g)
        .unwrap();
    assert_eq!(pt.translate(Iova(0)).unwrap().leaf_size, 4096);
    pt.map_pages(Iova(2 * MIB), PhysAddr(0), 2 * MIB, 3, Prot::rw(), &mut g)
        .unwrap();
    assert_eq!(pt.translate(Iova(4 * MIB)).unwrap().leaf_size, 2 * MIB);
    assert!(g.is_empty());
}

#[test]
fn attribute_bits_follow_the_linux_recipe() {
    let mut pt = table(Granule::K4, 48, 1 << 20);
    map(&mut pt, 0x1000, 0x8000_1000, 0x1000).unwrap();
    // docs/hw/lpae.md §2.4: RW, cacheable, no-exec page = pa | 0x0060_0000_0000_0F47.
    let wb_noexec = Prot {
        exec: false,
        ..Prot::rw().with_attr(MemAttr::Cacheable)
    };
    let d = pt.codec().encode_leaf(3, PhysAddr(0x8000_1000), wb_noexec);
    assert_eq!(d, 0x8000_1000 | 0x0060_0000_0000_0F47);
    // Prot::rw() is the image's DMA buffer, Normal NC like the CPU's view of
    // the pool: AttrIndx 0 (MAIR 0x44), SH outer (docs/hw/smmuv3.md §12.1),
    // and executable like a Linux DMA mapping: UXN = PXN = 0 (§12.2).
    let d = pt.codec().encode_leaf(3, PhysAddr(0x8000_1000), Prot::rw());
    assert_eq!(d, 0x8000_1000 | 0x0000_0000_0000_0E43);
    let t = pt.translate(Iova(0x1000)).unwrap();
    assert_eq!(t.prot, Prot::rw());
    let ro_dev = Prot::ro().with_attr(MemAttr::Device);
    let mut g = Gather::new();
    pt.map(Iova(0x2000), PhysAddr(0x9000_0000), 0x1000, ro_dev, &mut g)
        .unwrap();
    assert_eq!(pt.translate(Iova(0x2000)).unwrap().prot, ro_dev);
    // A 2M block is type 0b01 with the same attributes.
    let b = pt.codec().encode_leaf(2, PhysAddr(0x20_0000), Prot::rw());
    assert_eq!(b & 3, 1);
    // The numbers a driver packs into its context registers: the MAIR the
    // AttrIndx fields refer to, input/output sizes, granule, coherency.
    // (The packing itself is each driver's: SMMUv3 CD TCR in its tests.)
    let c = Lpae::new(Granule::K4, 48, 48, true).unwrap();
    assert_eq!(c.mair(), 0xF404_FF44);
    assert_eq!((c.input_bits(), c.output_bits(), c.t0sz()), (48, 48, 16));
    assert!(c.coherent_walk());
    let nc = Lpae::new(Granule::K16, 36, 40, false).unwrap();
    assert_eq!(
        (nc.t0sz(), nc.granule_kind(), nc.coherent_walk()),
        (28, Granule::K16, false)
    );
    assert!(Lpae::new(Granule::K4, 48, 41, true).is_err());
}

#[test]
fn partial_unmap_of_a_2m_block_splits_with_break_before_make() {
    let arena = Rc::new(RefCell::new(RamArena::with_size(1 << 20)));
    let codec = Lpae::new(Granule::K4, 39, 48, true).unwrap();
    let mut pt = PageTable::new(codec, arena.clone()).unwrap();
    let mut g = Gather::new();
    pt.map(
        Iova(2 * MIB),
        PhysAddr(0x4020_0000),
        2 * MIB,
        Prot::ro(),
        &mut g,
    )
    .unwrap();
    let root = pt.root();
    // The L2 table holding the block: L1 index 0 of the root.
    let l1 = arena.borrow().read_bus_u64(root).unwrap();
    let l2_table = BusAddr(l1 & 0x0000_FFFF_FFFF_F000);
    let block_slot = BusAddr(l2_table.0 + 8);
    assert_eq!(arena.borrow().read_bus_u64(block_slot).unwrap() & 3, 1);

    let mut flushes = Vec::new();
    let mut flush = |iova: Iova, size: u64, level: u8| {
        // During the flush the old block must already be invalid (break) and
        // the new table not yet installed (make comes after).
        let raw = arena.borrow().read_bus_u64(block_slot).unwrap();
        flushes.push((iova, size, level, raw));
        true
    };
    let hole = 2 * MIB + 0x5000;
    let n = pt.unmap(Iova(hole), 0x2000, &mut g, &mut flush).unwrap();
    assert_eq!(n, 0x2000);
    assert_eq!(flushes, [(Iova(2 * MIB), 2 * MIB, 2, 0)]);
    assert_eq!(g.bbm_breaks(), 1);
    assert_eq!(g.range(), Some((Iova(2 * MIB), 2 * MIB)));
    assert!(!g.leaf_only());
    // The slot now holds a table; the hole faults, the rest maps 4K pages
    // to the same physical addresses with the block's permissions.
    assert_eq!(arena.borrow().read_bus_u64(block_slot).unwrap() & 3, 3);
    for off in (0..2 * MIB).step_by(0x1000) {
        let r = pt.translate(Iova(2 * MIB + off));
        if (0x5000..0x7000).contains(&off) {
            assert!(matches!(r, Err(TranslateError::NotMapped { level: 3, .. })));
        } else {
            let t = r.unwrap();
            assert_eq!(
                (t.phys, t.leaf_size, t.prot),
                (PhysAddr(0x4020_0000 + off), 4096, Prot::ro())
            );
        }
    }
}

#[test]
fn partial_unmap_of_a_1g_block_builds_two_levels() {
    let mut pt = table(Granule::K4, 39, 4 << 20);
    map(&mut pt, GIB, 0, GIB).unwrap();
    let mut g = Gather::new();
    let mut calls = 0;
    let mut flush = |_: Iova, size: u64, level: u8| {
        assert_eq!((size, level), (GIB, 1));
        calls += 1;
        true
    };
    let n = pt
        .unmap(Iova(GIB + 3 * MIB), 4096, &mut g, &mut flush)
        .unwrap();
    assert_eq!((n, calls), (4096, 1));
    assert_eq!(pt.translate(Iova(GIB)).unwrap().leaf_size, 2 * MIB);
    assert_eq!(pt.translate(Iova(GIB + 2 * MIB)).unwrap().leaf_size, 4096);
    assert!(pt.translate(Iova(GIB + 3 * MIB)).is_err());
    assert_eq!(
        pt.translate(Iova(GIB + 3 * MIB + 4096)).unwrap().phys,
        PhysAddr(3 * MIB + 4096)
    );
    assert_eq!(pt.translate(Iova(2 * GIB - 1)).unwrap().leaf_size, 2 * MIB);
    // A failed flush leaves the whole block unmapped (never the stale one).
    let mut g = Gather::new();
    let mut fail = |_: Iova, _: u64, _: u8| false;
    map(&mut pt, 2 * GIB, 0, 2 * MIB).unwrap();
    let before = pt.table_pages();
    let e = pt
        .unmap(Iova(2 * GIB), 4096, &mut g, &mut fail)
        .unwrap_err();
    assert_eq!(
        e,
        PgTableError::BreakFlushFailed {
            iova: Iova(2 * GIB),
            size: 2 * MIB
        }
    );
    assert!(pt.translate(Iova(2 * GIB + 8192)).is_err());
    assert_eq!(g.unmapped_bytes(), 2 * MIB);
    // The L2 table that only held that block is empty now and parked.
    assert_eq!(pt.table_pages(), before - 1);
    assert_eq!(g.tables_freed(), 1);
}

#[test]
fn freed_tables_are_recorded_and_parked_until_release() {
    let arena = RamArena::with_size(1 << 20);
    let codec = Lpae::new(Granule::K4, 48, 48, true).unwrap();
    let mut pt = PageTable::new(codec, arena).unwrap();
    let mut g = Gather::new();
    pt.map(
        Iova(0x7f_1234_5000),
        PhysAddr(0x1000),
        0x2000,
        Prot::rw(),
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.table_pages(), 4);
    // Unmapping one page leaves the L3 table with one entry: nothing freed.
    let mut g = Gather::new();
    pt.unmap(Iova(0x7f_1234_5000), 0x1000, &mut g, &mut NotLive)
        .unwrap();
    assert_eq!((g.leaves(), g.tables_freed()), (1, 0));
    assert!(g.leaf_only());
    assert_eq!(g.min_leaf_size(), Some(4096));
    // The last page: L3, L2 and L1 tables become empty and go.
    let mut g = Gather::new();
    pt.unmap(Iova(0x7f_1234_6000), 0x1000, &mut g, &mut NotLive)
        .unwrap();
    assert_eq!((g.leaves(), g.tables_freed()), (1, 3));
    assert!(!g.leaf_only());
    assert_eq!(g.pending_frees().count(), 3);
    // The gather spans the largest freed table (the L1 table, 512 GiB).
    let (start, size) = g.range().unwrap();
    assert_eq!((start, size), (Iova(0), 512 * GIB));
    assert_eq!(pt.table_pages(), 1);
    assert_eq!(pt.memory().live_tables(), 4, "still parked");
    pt.release(&mut g);
    assert_eq!(pt.memory().live_tables(), 1);
    assert_eq!(g.pending_frees().count(), 0);
    // Unmapping nothing leaves an empty gather.
    let mut g = Gather::new();
    assert_eq!(pt.unmap(Iova(0), GIB, &mut g, &mut NotLive), Ok(0));
    assert!(g.is_empty() && g.range().is_none());
}

#[test]
fn non_coherent_walker_gets_cleans() {
    let arena = RamArena::new(
        BusAddr(0x4000_0000),
        VirtAddr(0x1_0000_0000),
        1 << 20,
        false,
    );
    let codec = Lpae::new(Granule::K4, 48, 48, false).unwrap();
    let mut pt = PageTable::new(codec, arena).unwrap();
    let c0 = pt.memory().cleans();
    map_any(&mut pt, 0, 0x1000);
    // 3 new tables zeroed + 4 descriptor ranges written.
    assert!(pt.memory().cleans() >= c0 + 7, "{}", pt.memory().cleans());
    assert!(!pt.memory().walker_coherent());
}

fn map_any<M: TableMemory>(pt: &mut PageTable<Lpae, M>, iova: u64, size: u64) {
    let mut g = Gather::new();
    pt.map(Iova(iova), PhysAddr(iova), size, Prot::rw(), &mut g)
        .unwrap();
}

#[test]
fn error_cases_are_typed_and_never_panic() {
    let mut pt = table(Granule::K4, 39, 64 << 10);
    let e = |pt: &mut PageTable<Lpae, RamArena>, iova: u64, pa: u64, size: u64| {
        map(pt, iova, pa, size).unwrap_err()
    };
    assert_eq!(
        e(&mut pt, 0, 0, 0),
        PgTableError::ZeroSize { iova: Iova(0) }
    );
    assert_eq!(
        e(&mut pt, 0x800, 0, 0x1000),
        PgTableError::Unaligned {
            iova: Iova(0x800),
            phys: PhysAddr(0),
            size: 0x1000,
            align: 0x1000
        }
    );
    assert!(matches!(
        e(&mut pt, 0, 0x10, 0x1000),
        PgTableError::Unaligned { .. }
    ));
    assert!(matches!(
        e(&mut pt, 0, 0, 0x1001),
        PgTableError::Unaligned { .. }
    ));
    assert_eq!(
        e(&mut pt, (1 << 39) - 0x1000, 0, 0x2000),
        PgTableError::IovaOutOfRange {
            iova: Iova((1 << 39) - 0x1000),
            size: 0x2000,
            input_bits: 39
        }
    );
    assert!(matches!(
        e(&mut pt, !0xfff, 0, 0x1000),
        PgTableError::IovaOutOfRange { .. }
    ));
    assert!(matches!(
        e(&mut pt, 0, !0xfff, 0x2000),
        PgTableError::PhysOutOfRange { .. }
    ));
    assert!(matches!(
        e(&mut pt, 0, 1 << 48, 0x1000),
        PgTableError::PhysOutOfRange {
            output_bits: 48,
            ..
        }
    ));
    let mut g = Gather::new();
    let none = Prot {
        read: false,
        write: false,
        ..Prot::rw()
    };
    assert_eq!(
        pt.map(Iova(0), PhysAddr(0), 0x1000, none, &mut g),
        Err(PgTableError::UnsupportedProt { iova: Iova(0) })
    );
    assert_eq!(
        pt.map_pages(Iova(0), PhysAddr(0), 0x3000, 1, Prot::rw(), &mut g),
        Err(PgTableError::UnsupportedPageSize { page_size: 0x3000 })
    );
    assert!(matches!(
        pt.map_pages(Iova(0), PhysAddr(0), 0x1000, u64::MAX, Prot::rw(), &mut g),
        Err(PgTableError::IovaOutOfRange { .. })
    ));
    assert!(matches!(
        pt.unmap(Iova(0x10), 0x1000, &mut g, &mut NotLive),
        Err(PgTableError::Unaligned { .. })
    ));
    assert!(matches!(
        pt.unmap(Iova(0), 0, &mut g, &mut NotLive),
        Err(PgTableError::ZeroSize { .. })
    ));
    assert!(matches!(
        pt.unmap(Iova(1 << 39), 0x1000, &mut g, &mut NotLive),
        Err(PgTableError::IovaOutOfRange { .. })
    ));
    assert!(g.is_empty());

    // Overlap: a page, then a range around it.  The range's first part was
    // written before the clash and must be rolled back (and gathered).
    map(&mut pt, 0x5000, 0x5000, 0x1000).unwrap();
    let mut g = Gather::new();
    let r = pt.map(Iova(0), PhysAddr(0), 0x10000, Prot::rw(), &mut g);
    assert_eq!(
        r,
        Err(PgTableError::Overlap {
            iova: Iova(0x5000),
            level: 3
        })
    );
    assert_eq!(g.leaves(), 5);
    assert!(pt.translate(Iova(0)).is_err());
    assert_eq!(pt.translate(Iova(0x5000)).unwrap().phys, PhysAddr(0x5000));
    pt.release(&mut g);
    // A block over an existing table: overlap at level 2.
    assert_eq!(
        e(&mut pt, 0, 0, 2 * MIB),
        PgTableError::Overlap {
            iova: Iova(0),
            level: 2
        }
    );
    // A page inside an existing block.
    map(&mut pt, 2 * MIB, 2 * MIB, 2 * MIB).unwrap();
    assert_eq!(
        e(&mut pt, 3 * MIB, 0, 0x1000),
        PgTableError::Overlap {
            iova: Iova(2 * MIB),
            level: 2
        }
    );

    // Out of memory: a 64 KiB arena holds 16 tables.
    let mut pt = table(Granule::K4, 48, 64 << 10);
    let mut g = Gather::new();
    let mut hit = None;
    for i in 0..64u64 {
        if let Err(err) = pt.map(Iova(i << 39), PhysAddr(0), 0x1000, Prot::rw(), &mut g) {
            hit = Some((i, err));
            break;
        }
    }
    let (i, err) = hit.expect("arena must run out");
    assert!(
        matches!(err, PgTableError::OutOfMemory { bytes: 4096, .. }),
        "{err:?}"
    );
    // The failed map left nothing behind: the earlier ones still translate,
    // the failed IOVA does not, and the half-built path was parked.
    assert!(pt.translate(Iova((i - 1) << 39)).is_ok());
    assert!(pt.translate(Iova(i << 39)).is_err());
    pt.release(&mut g);
    let tables = pt.table_pages();
    let (_, mut g) = unmap(&mut pt, 0, 1 << 48);
    pt.release(&mut g);
    assert_eq!(pt.table_pages(), 1, "{tables} tables before");
    assert_eq!(pt.memory().live_tables(), 1);
}

/// Seeded randomized map/unmap with a shadow model; `translate` must agree
/// after every operation, for every granule.
#[test]
fn translate_agrees_with_map_on_random_sequences() {
    let configs = [
        (Granule::K4, 39, 0x5eed_0001u64),
        (Granule::K4, 48, 0x5eed_0002),
        (Granule::K16, 36, 0x5eed_0003),
        (Granule::K64, 42, 0x5eed_0004),
    ];
    let mut total_ops = 0;
    for (granule, ias, seed) in configs {
        total_ops += random_run(granule, ias, seed, 1500);
    }
    assert!(total_ops >= 6000);
}

fn random_run(granule: Granule, ias: u32, seed: u64, ops: usize) -> usize {
    let mut rng = XorShift::new(seed);
    let gs = granule.size();
    let codec = Lpae::new(granule, ias, 48, true).unwrap();
    // The largest block of the granule, so the window can hold a few.
    let block = 1u64 << codec.level_shift(2);
    let window_pages = (4 * block / gs) as usize; // 4 blocks
    let base = block * 3; // not at IOVA 0
    let mut pt = PageTable::new(codec, RamArena::with_size(64 << 20)).unwrap();
    let mut shadow: Vec<Option<u64>> = vec![None; window_pages];
    let ctx = |op: usize| format!("{granule:?} ias {ias} seed {seed:#x} op {op}");
    let (mut breaks, mut freed, mut overlaps) = (0, 0, 0);
    for op in 0..ops {
        let block_pages = (block / gs) as usize;
        let (start, len) = if rng.chance(1, 8) {
            // Exactly one aligned block, so blocks exist to be split.
            (block_pages * rng.below(4) as usize, block_pages)
        } else {
            let start = rng.below(window_pages as u64) as usize;
            let max_len =
                (window_pages - start).min(if rng.chance(1, 4) { window_pages } else { 64 });
            (start, 1 + rng.below(max_len as u64) as usize)
        };
        let iova = base + start as u64 * gs;
        let size = len as u64 * gs;
        if rng.chance(1, 2) {
            // Phys shares the IOVA's block alignment half the time.
            let pa = if rng.chance(1, 2) {
                iova + block * (1 + rng.below(8))
            } else {
                gs * (1 + rng.below(1 << 20))
            };
            let clash = shadow[start..start + len].iter().any(Option::is_some);
            let mut g = Gather::new();
            let r = pt.map(Iova(iova), PhysAddr(pa), size, Prot::rw(), &mut g);
            if clash {
                assert!(
                    matches!(r, Err(PgTableError::Overlap { .. })),
                    "{}: {r:?}",
                    ctx(op)
                );
                overlaps += 1;
            } else {
                assert_eq!(r, Ok(()), "{}", ctx(op));
                for (i, s) in shadow[start..start + len].iter_mut().enumerate() {
                    *s = Some(pa + i as u64 * gs);
                }
            }
            pt.release(&mut g);
        } else {
            let mut g = Gather::new();
            let n = pt.unmap(Iova(iova), size, &mut g, &mut NotLive).unwrap();
            let mapped = shadow[start..start + len]
                .iter()
                .filter(|s| s.is_some())
                .count() as u64;
            assert_eq!(n, mapped * gs, "{}", ctx(op));
            assert_eq!(g.is_empty(), mapped == 0, "{}", ctx(op));
            if let Some((gs_start, gsize)) = g.range() {
                // The gather covers at least the range that was unmapped.
                let first = shadow[start..start + len]
                    .iter()
                    .position(Option::is_some)
                    .unwrap();
                assert!(gs_start.0 <= iova + first as u64 * gs, "{}", ctx(op));
                assert!(gs_start.0 + gsize >= iova + gs, "{}", ctx(op));
            }
            shadow[start..start + len].fill(None);
            breaks += g.bbm_breaks();
            freed += g.tables_freed();
            pt.release(&mut g);
        }
        // Spot checks every op, a full sweep now and then.
        let checks: Vec<usize> = if op % 100 == 99 {
            (0..window_pages).collect()
        } else {
            (0..16)
                .map(|_| rng.below(window_pages as u64) as usize)
                .chain([start, start + len - 1])
                .collect()
        };
        for p in checks {
            let off = rng.below(gs) & !7;
            let r = pt.translate(Iova(base + p as u64 * gs + off));
            match shadow[p] {
                Some(pa) => assert_eq!(
                    r.map(|t| t.phys),
                    Ok(PhysAddr(pa + off)),
                    "{} page {p}",
                    ctx(op)
                ),
                None => assert!(r.is_err(), "{} page {p}: {r:?}", ctx(op)),
            }
        }
    }
    // The sequence exercised block splits, table freeing and overlaps.
    assert!(
        breaks > 0 && freed > 0 && overlaps > 0,
        "{} splits {breaks} freed {freed} overlaps {overlaps}",
        ctx(ops)
    );
    // Everything unmapped: every table but the top one is gone.
    let (_, mut g) = unmap(&mut pt, 0, 1 << ias);
    pt.release(&mut g);
    assert_eq!(pt.table_pages(), 1);
    assert_eq!(pt.memory().live_tables(), 1);
    ops
}

/// A descriptor pointing outside the table memory is reported, not followed.
#[test]
fn corrupt_table_pointer_is_an_error_not_a_panic() {
    let arena = Rc::new(RefCell::new(RamArena::with_size(1 << 20)));
    let codec = Lpae::new(Granule::K4, 39, 48, true).unwrap();
    let mut pt = PageTable::new(codec, arena.clone()).unwrap();
    let mut g = Gather::new();
    pt.map(Iova(0x1000), PhysAddr(0x1000), 0x1000, Prot::rw(), &mut g)
        .unwrap();
    // Point the root's entry 0 at a table far outside the arena.
    let root = pt.root();
    let root_virt = arena.borrow().bus_to_virt(root).unwrap();
    arena.borrow_mut().write_u64(root_virt, 0x7_0000_0000 | 3);
    let bad = BusAddr(0x7_0000_0000);
    assert_eq!(
        pt.translate(Iova(0x1000)),
        Err(TranslateError::CorruptTable {
            level: 1,
            next: bad
        })
    );
    assert_eq!(
        pt.unmap(Iova(0), 0x10000, &mut g, &mut NotLive),
        Err(PgTableError::CorruptTable {
            level: 1,
            next: bad
        })
    );
    assert!(matches!(
        pt.map(Iova(0x2000), PhysAddr(0x2000), 0x1000, Prot::rw(), &mut g),
        Err(PgTableError::CorruptTable { level: 1, .. })
    ));
}
