//! The DART codec through the engine's walker: golden table words for a
//! fixed map sequence on each format, every expected word written by hand
//! from the format (docs/hw/dart.md §5: leaf = SP_START 0 | SP_END 0xFFF |
//! PA field | permission bits | VALID, DART1 with SP_DIS and the PA in
//! place, DART2 with the PA >> 4 at [37:10]; table = PA field | VALID),
//! never computed with the codec; the four worked examples of m1n1's
//! register and PTE golden values (docs/hw/dart.md §M8) in the form this
//! codec writes them; sizes the format lacks; and the output and
//! table-memory limits.

use iommu_bringup::iommu::pgtable::dart::{PteFormat, PAGE_SIZE};
use iommu_bringup::iommu::pgtable::{
    Codec, Dart, NotLive, PageTable, PgTableError, Prot, RamArena, TranslateError,
};
use iommu_bringup::iommu::Gather;
use iommu_bringup::mm::{BusAddr, Iova, PhysAddr, VirtAddr};

const RO: Prot = Prot::ro();
const RW: Prot = Prot::rw();
const WO: Prot = Prot {
    read: false,
    ..Prot::rw()
};
const K16: u64 = PAGE_SIZE;

/// An arena the DART sees at `bus` (16 KiB aligned); its bump allocator
/// hands out the root table first, then one 16 KiB table after the other.
fn arena(bus: u64) -> RamArena {
    RamArena::new(BusAddr(bus), VirtAddr(0xffff_0000_4000_0000), 1 << 20, true)
}

fn map(pt: &mut PageTable<Dart, RamArena>, iova: u64, pa: u64, size: u64, prot: Prot) {
    let mut g = Gather::new();
    pt.map(Iova(iova), PhysAddr(pa), size, prot, &mut g)
        .unwrap_or_else(|e| panic!("map {iova:#x}: {e}"));
}

fn unmap(pt: &mut PageTable<Dart, RamArena>, iova: u64, size: u64) -> Gather {
    let mut g = Gather::new();
    let n = pt.unmap(Iova(iova), size, &mut g, &mut NotLive).unwrap();
    assert_eq!(n, size);
    g
}

/// Compares a whole 16 KiB table (2048 words) with `set`, zero elsewhere,
/// and names the first differing word.
fn check(pt: &PageTable<Dart, RamArena>, what: &str, bus: u64, set: &[(usize, u64)]) {
    for i in 0..2048usize {
        let got = pt
            .memory()
            .read_bus_u64(BusAddr(bus + 8 * i as u64))
            .unwrap_or_else(|| panic!("{what}: {bus:#x} outside the arena"));
        let want = set.iter().find(|(j, _)| *j == i).map_or(0, |(_, w)| *w);
        assert_eq!(
            got, want,
            "{what}: word {i} is {got:#018x}, expected {want:#018x}"
        );
    }
}

/// m1n1's worked example, case A (T8020 / DART1): IOVA 0x8000_4000 → PA
/// 0x8_0123_4000, tables at 0x8_0010_0000 (L1) and 0x8_0010_4000 (L2).
/// m1n1's Python writes L1[64] = 0x0000_0008_0010_4003 (bit 1 set);
/// this codec writes VALID only, as Linux and m1n1's C code do.  The leaf
/// is m1n1's word exactly.
#[test]
fn worked_example_a_t8103() {
    let mut pt = PageTable::new(Dart::t8103(), arena(0x8_0010_0000)).unwrap();
    map(&mut pt, 0x8000_4000, 0x8_0123_4000, K16, RW);
    check(&pt, "L1", 0x8_0010_0000, &[(64, 0x0000_0008_0010_4001)]);
    check(&pt, "L2", 0x8_0010_4000, &[(1, 0x000F_FF08_0123_4003)]);
    let t = pt.translate(Iova(0x8000_4123)).unwrap();
    assert_eq!((t.phys, t.level), (PhysAddr(0x8_0123_4123), 2));
}

/// Case B (T8020 / DART2, t6000): PA 0x100_0123_4000, tables at
/// 0x100_0010_0000 / 0x100_0010_4000.  m1n1's Python sets bit 1 in both
/// words (…0403 / …3403); U-Boot, OpenBSD and m1n1's C code leave the
/// leaf's bit 1 clear, as this codec does.
#[test]
fn worked_example_b_t6000() {
    let mut pt = PageTable::new(Dart::t6000(), arena(0x100_0010_0000)).unwrap();
    map(&mut pt, 0x8000_4000, 0x100_0123_4000, K16, RW);
    check(&pt, "L1", 0x100_0010_0000, &[(64, 0x0000_0010_0001_0401)]);
    check(&pt, "L2", 0x100_0010_4000, &[(1, 0x000F_FF10_0012_3401)]);
}

/// Case C (T8110, two levels): PA 0x8_0123_4000; m1n1's words exactly.
#[test]
fn worked_example_c_t8110() {
    let c = Dart::new(PteFormat::Dart2, 2, 36, 42).unwrap();
    let mut pt = PageTable::new(c, arena(0x8_0010_0000)).unwrap();
    map(&mut pt, 0x8000_4000, 0x8_0123_4000, K16, RW);
    check(&pt, "L1", 0x8_0010_0000, &[(64, 0x0000_0000_8001_0401)]);
    check(&pt, "L2", 0x8_0010_4000, &[(1, 0x000F_FF00_8012_3401)]);
}

/// Case D (T8110 with FOUR_LEVEL): IOVA 0x123_8000_4000 → PA
/// 0x100_0123_4000, L0/L1/L2 at 0x100_0010_0000/_4000/_8000; m1n1's
/// words exactly.
#[test]
fn worked_example_d_t8110_three_levels() {
    let c = Dart::new(PteFormat::Dart2, 3, 42, 42).unwrap();
    let mut pt = PageTable::new(c, arena(0x100_0010_0000)).unwrap();
    map(&mut pt, 0x123_8000_4000, 0x100_0123_4000, K16, RW);
    check(&pt, "L0", 0x100_0010_0000, &[(18, 0x0000_0010_0001_0401)]);
    check(&pt, "L1", 0x100_0010_4000, &[(448, 0x0000_0010_0001_0801)]);
    check(&pt, "L2", 0x100_0010_8000, &[(1, 0x000F_FF10_0012_3401)]);
    let t = pt.translate(Iova(0x123_8000_4ffc)).unwrap();
    assert_eq!(t.phys, PhysAddr(0x100_0123_4ffc));
}

#[test]
fn golden_tables_for_a_fixed_map_sequence_dart1() {
    const L1: u64 = 0x8_0000_0000;
    const L2A: u64 = L1 + 0x4000;
    const L2B: u64 = L1 + 0x8000;
    let mut pt = PageTable::new(Dart::t8103(), arena(L1)).unwrap();
    assert_eq!(pt.root(), BusAddr(L1));
    // Two read/write pages at the start of the second 32 MiB span: L1[1].
    map(&mut pt, 0x0200_0000, 0x8_4000_0000, 2 * K16, RW);
    // L1[127] (the last reachable with 32 bits): a read-only page and, at
    // the span's last L2 entry, another read-only page.
    map(&mut pt, 0xFE00_8000, 0x9_0000_0000, K16, RO);
    map(&mut pt, 0xFFFF_C000, 0x9_1000_0000, K16, RO);
    check(&pt, "L1", L1, &[(1, 0x8_0000_4001), (127, 0x8_0000_8001)]);
    check(
        &pt,
        "L2 A",
        L2A,
        &[(0, 0x000F_FF08_4000_0003), (1, 0x000F_FF08_4000_4003)],
    );
    let l2b = [(2, 0x000F_FF09_0000_0083), (2047, 0x000F_FF09_1000_0083)];
    check(&pt, "L2 B", L2B, &l2b);
    // Unmap one page, remap it elsewhere read-only.
    let g = unmap(&mut pt, 0x0200_4000, K16);
    assert_eq!(g.tables_freed(), 0);
    check(&pt, "L2 A after unmap", L2A, &[(0, 0x000F_FF08_4000_0003)]);
    map(&mut pt, 0x0200_4000, 0xA_0000_0000, K16, RO);
    check(
        &pt,
        "L2 A after remap",
        L2A,
        &[(0, 0x000F_FF08_4000_0003), (1, 0x000F_FF0A_0000_0083)],
    );
    // The walk agrees with the words.
    let t = pt.translate(Iova(0x0200_4ABC)).unwrap();
    assert_eq!(
        (t.phys, t.level, t.leaf_size, t.prot),
        (PhysAddr(0xA_0000_0ABC), 2, K16, RO)
    );
    assert_eq!(
        pt.translate(Iova(0x0200_8000)),
        Err(TranslateError::NotMapped {
            iova: Iova(0x0200_8000),
            level: 2
        })
    );
    assert_eq!(
        pt.translate(Iova(0x0400_0000)),
        Err(TranslateError::NotMapped {
            iova: Iova(0x0400_0000),
            level: 1
        })
    );
    // Emptying L1[1] clears it and parks L2 A for release.
    let mut g = unmap(&mut pt, 0x0200_0000, 2 * K16);
    assert_eq!(g.tables_freed(), 1);
    check(&pt, "L1 after emptying", L1, &[(127, 0x8_0000_8001)]);
    pt.release(&mut g);
    assert_eq!(pt.memory().live_tables(), 2);
}

#[test]
fn golden_tables_for_a_fixed_map_sequence_dart2() {
    const L1: u64 = 0x8_0000_0000;
    const L2A: u64 = L1 + 0x4000;
    let mut pt = PageTable::new(Dart::t6000(), arena(L1)).unwrap();
    map(&mut pt, 0x0000_4000, 0x8_4000_0000, K16, RW);
    map(&mut pt, 0x0000_8000, 0x8_4000_4000, K16, RO);
    map(&mut pt, 0x0000_C000, 0x8_4000_8000, K16, WO);
    check(&pt, "L1", L1, &[(0, 0x0000_0000_8000_0401)]);
    check(
        &pt,
        "L2",
        L2A,
        &[
            (1, 0x000F_FF00_8400_0001),
            (2, 0x000F_FF00_8400_0405),
            (3, 0x000F_FF00_8400_0809),
        ],
    );
    assert_eq!(pt.translate(Iova(0xC010)).unwrap().prot, WO);
    assert_eq!(
        pt.translate(Iova(0x8010)).unwrap().phys,
        PhysAddr(0x8_4000_4010)
    );
}

#[test]
fn sizes_the_format_lacks_are_split_or_refused() {
    let mut pt = PageTable::new(Dart::t6000(), arena(0x8_0000_0000)).unwrap();
    let mut g = Gather::new();
    // A 32 MiB-aligned 32 MiB map is 2048 pages (there are no blocks).
    map(&mut pt, 0x0400_0000, 0x8_4000_0000, 32 << 20, RW);
    let t = pt.translate(Iova(0x05FF_F123)).unwrap();
    assert_eq!(
        (t.phys, t.level, t.leaf_size),
        (PhysAddr(0x8_41FF_F123), 2, K16)
    );
    // 4 KiB and 32 MiB page sizes do not exist.
    for size in [0x1000, 32 << 20] {
        assert_eq!(
            pt.map_pages(
                Iova(0x0800_0000),
                PhysAddr(0x8_4000_0000),
                size,
                1,
                RW,
                &mut g
            ),
            Err(PgTableError::UnsupportedPageSize { page_size: size })
        );
    }
    assert!(matches!(
        pt.map(Iova(0x0800_1000), PhysAddr(0x8_4000_0000), K16, RW, &mut g),
        Err(PgTableError::Unaligned { align: 0x4000, .. })
    ));
    // IOVAs are 32 bits on t6000.
    assert!(matches!(
        pt.map(
            Iova(0xFFFF_C000),
            PhysAddr(0x8_4000_0000),
            2 * K16,
            RW,
            &mut g
        ),
        Err(PgTableError::IovaOutOfRange { input_bits: 32, .. })
    ));
    // Neither read nor write: refused, as Linux refuses it.
    let none = Prot {
        read: false,
        write: false,
        ..RW
    };
    assert_eq!(
        pt.map(
            Iova(0x0800_0000),
            PhysAddr(0x8_4000_0000),
            K16,
            none,
            &mut g
        ),
        Err(PgTableError::UnsupportedProt {
            iova: Iova(0x0800_0000)
        })
    );
}

#[test]
fn output_addresses_beyond_the_field_are_refused_not_truncated() {
    for (codec, bits) in [(Dart::t8103(), 36u32), (Dart::t6000(), 42)] {
        let mut pt = PageTable::new(codec, arena(0x8_0000_0000)).unwrap();
        let mut g = Gather::new();
        let pa = 1u64 << bits;
        assert_eq!(
            pt.map(Iova(0x4000), PhysAddr(pa), K16, RW, &mut g),
            Err(PgTableError::PhysOutOfRange {
                phys: PhysAddr(pa),
                size: K16,
                output_bits: bits
            })
        );
        map(&mut pt, 0x4000, pa - K16, K16, RW);
        assert_eq!(pt.translate(Iova(0x7ffc)).unwrap().phys, PhysAddr(pa - 4));
        assert_eq!(pt.codec().output_bits(), bits);
    }
}

#[test]
fn table_memory_beyond_the_field_is_refused_with_the_limit_named() {
    // DART1 table entries hold 36-bit addresses: an arena at 64 GiB
    // cannot hold even the L1 table.
    let above = arena(1 << 36);
    let e = PageTable::new(Dart::t8103(), above).unwrap_err();
    assert_eq!(
        e,
        PgTableError::OutOfMemoryBelow {
            level: 1,
            bytes: 16 << 10,
            limit: 1 << 36
        }
    );
    // DART2 reaches 42 bits: the same arena is fine.
    assert!(PageTable::new(Dart::t6000(), arena(1 << 36)).is_ok());
}

/// The codec's tables walked by the reference walker
/// (`testkit::walk_dart`, written by another hand from the non-Linux
/// sources, docs/hw/dart.md §M3): every page the sequence maps reaches the
/// same output, reads and writes are allowed or refused as the codec's
/// permissions say, and unmapped pages fault at the level the engine says.
#[test]
fn the_reference_walker_reads_the_codecs_tables_as_the_engine_does() {
    use iommu_bringup::testkit::walk_dart::{DartFault, DartFormat, DartWalk};
    let cases = [
        ("t8103", Dart::t8103(), 0x8_0000_0000u64),
        ("t6000", Dart::t6000(), 0x100_0000_0000),
        (
            "t8110",
            Dart::new(PteFormat::Dart2, 2, 36, 42).unwrap(),
            0x8_0000_0000,
        ),
        (
            "t8110 three levels",
            Dart::new(PteFormat::Dart2, 3, 42, 42).unwrap(),
            0x100_0000_0000,
        ),
    ];
    for (name, codec, bus) in cases {
        let mut pt = PageTable::new(codec, arena(bus)).unwrap();
        let root = pt.root().0;
        let high = if codec.input_bits() > 36 {
            0x123_0000_0000
        } else {
            0
        };
        let maps = [
            (high + 0x4000, 0x8_4000_0000u64, 2u64, RW),
            (high + 0x0200_0000, 0x8_5000_0000, 1, RO),
            (high + 0x0200_4000, 0x8_5000_4000, 1, WO),
            (high + 0xFFFF_C000, 0x8_6000_0000, 1, RW),
        ];
        for &(iova, pa, n, prot) in &maps {
            map(&mut pt, iova, pa, n * K16, prot);
        }
        let w = match (codec.pte_format(), codec.levels()) {
            (PteFormat::Dart1, _) => DartWalk {
                dart1_rw_bits: true,
                ..DartWalk::t8020(DartFormat::Dart1, [(root >> 12) as u32 | 1 << 31, 0, 0, 0])
            },
            (PteFormat::Dart2, 2) if name == "t6000" => {
                DartWalk::t8020(DartFormat::T6000, [(root >> 12) as u32 | 1 << 31, 0, 0, 0])
            }
            (_, levels) => DartWalk::t8110((root >> 12) as u32 | 1, levels == 3),
        };
        let mem = pt.memory();
        let read = |_, at: u64| mem.read_bus_u64(BusAddr(at));
        for &(iova, pa, n, prot) in &maps {
            for k in 0..n {
                let v = iova + k * K16 + 0x123;
                let engine = pt.translate(Iova(v)).unwrap();
                let r = w.walk(read, v, false);
                let wr = w.walk(read, v, true);
                assert_eq!(engine.phys, PhysAddr(pa + k * K16 + 0x123), "{name} {v:#x}");
                match r {
                    Ok(done) => assert!(
                        prot.read && done.pa == engine.phys.0,
                        "{name} {v:#x}: {done:?}"
                    ),
                    Err(f) => assert!(!prot.read, "{name} {v:#x} read: {f:?}"),
                }
                match wr {
                    Ok(done) => assert!(prot.write && done.pa == engine.phys.0, "{name} {v:#x}"),
                    Err(f) => assert!(
                        !prot.write && matches!(f, DartFault::WriteProt { .. }),
                        "{name} {v:#x} write: {f:?}"
                    ),
                }
            }
        }
        // Not mapped: a leaf-level miss next to a mapping, an L1 miss far
        // from any.
        let near = high + 0xC000;
        assert!(
            matches!(w.walk(read, near, false), Err(DartFault::NoPte { .. })),
            "{name}"
        );
        assert!(pt.translate(Iova(near)).is_err());
        let far = high + 0x4000_0000;
        assert!(
            matches!(w.walk(read, far, false), Err(DartFault::NoPmd { .. })),
            "{name}: {:?}",
            w.walk(read, far, false)
        );
    }
}
