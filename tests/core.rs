//! The IOMMU core on the host: IOVA allocator, domain attach/detach, the
//! self-test's basic cases (roundtrip, default deny, read-only, isolation)
//! against the toy IOMMU and master, and the sync contract on failure paths.

mod common;

use common::toy::{peek, Arena, ToyDriver, ToyIommu, ToyMaster};
use common::XorShift;
use core::cell::RefCell;
use core::time::Duration;
use iommu_bringup::iommu::pgtable::{Granule, Lpae, PgTableError, Prot, RamArena};
use iommu_bringup::iommu::{
    Asid, DmaError, DmaMaster, Domain, IommuError, IovaAllocator, IovaError, StreamId, SyncPolicy,
};
use iommu_bringup::mm::{Iova, PhysAddr};
use std::rc::Rc;

const T: Duration = Duration::from_millis(1);

#[test]
fn iova_allocator_aligns_merges_and_refuses_double_frees() {
    let mut a = IovaAllocator::new(Iova(0x1000), 0x10_0000, 0x1000);
    assert_eq!(a.aperture(), (Iova(0x1000), Iova(0x10_1000)));
    let x = a.alloc(0x1000, 0).unwrap();
    assert_eq!(x, Iova(0x1000));
    let y = a.alloc(0x2000, 0x1_0000).unwrap();
    assert_eq!(y, Iova(0x1_0000));
    assert_eq!(a.free_bytes(), 0x10_0000 - 0x3000);
    assert_eq!(
        a.alloc(0x1800, 0),
        Err(IovaError::BadRequest {
            size: 0x1800,
            align: 0x1000
        })
    );
    assert_eq!(
        a.alloc(0x20_0000, 0),
        Err(IovaError::Exhausted {
            size: 0x20_0000,
            align: 0x1000
        })
    );
    a.free(y, 0x2000).unwrap();
    assert_eq!(
        a.free(y, 0x2000),
        Err(IovaError::NotAllocated {
            iova: y,
            size: 0x2000
        })
    );
    assert!(a.free(Iova(0x20_0000), 0x1000).is_err());
    a.free(x, 0x1000).unwrap();
    assert_eq!(a.free_bytes(), 0x10_0000);
    // Everything merged back: the whole aperture is one range again.
    assert_eq!(a.alloc(0x10_0000, 0), Ok(Iova(0x1000)));
}

#[test]
fn iova_allocator_random_never_overlaps() {
    let mut rng = XorShift::new(77);
    let mut a = IovaAllocator::new(Iova(0), 1 << 24, 0x1000);
    let mut live: Vec<(u64, u64)> = Vec::new();
    for _ in 0..3000 {
        if rng.chance(3, 5) || live.is_empty() {
            let size = 0x1000 * (1 + rng.below(32));
            let align = 0x1000 << rng.below(5);
            if let Ok(i) = a.alloc(size, align) {
                assert_eq!(i.0 % align, 0);
                assert!(live.iter().all(|&(s, l)| i.0 + size <= s || s + l <= i.0));
                live.push((i.0, size));
            }
        } else {
            let k = rng.below(live.len() as u64) as usize;
            let (s, l) = live.swap_remove(k);
            a.free(Iova(s), l).unwrap();
        }
    }
    let used: u64 = live.iter().map(|&(_, l)| l).sum();
    assert_eq!(a.free_bytes(), (1 << 24) - used);
}

struct Rig {
    arena: Arena,
    hw: Rc<RefCell<ToyIommu>>,
    driver: ToyDriver,
}

fn rig(policy: SyncPolicy) -> Rig {
    let arena: Arena = Rc::new(RefCell::new(RamArena::with_size(8 << 20)));
    let hw = ToyIommu::new(arena.clone());
    let driver = ToyDriver::new(hw.clone(), policy);
    Rig { arena, hw, driver }
}

fn domain(r: &mut Rig, asid: u16) -> Domain<Lpae, Arena, Asid> {
    let codec = Lpae::new(Granule::K4, 39, 48, true).unwrap();
    r.driver.next_asid = asid;
    let d = Domain::new(
        &mut r.driver,
        codec,
        r.arena.clone(),
        Iova(0x100_0000),
        1 << 30,
    )
    .unwrap();
    assert_eq!(d.tag(), Asid(asid));
    d
}

fn buffer(r: &Rig) -> PhysAddr {
    PhysAddr(r.arena.borrow_mut().alloc_block(4096, 4096).unwrap().1 .0)
}

#[test]
fn roundtrip_default_deny_readonly_and_isolation() {
    let mut r = rig(SyncPolicy::Range);
    let (mut d1, mut d2) = (domain(&mut r, 1), domain(&mut r, 2));
    let (s1, s2, s3) = (StreamId(1), StreamId(2), StreamId(3));
    d1.attach(&mut r.driver, s1).unwrap();
    d2.attach(&mut r.driver, s2).unwrap();
    assert_eq!(
        d1.attach(&mut r.driver, s1),
        Err(IommuError::AlreadyAttached { stream: s1 })
    );
    let (b1, b2, b3) = (buffer(&r), buffer(&r), buffer(&r));
    let i1 = d1.map_alloc(&mut r.driver, b1, 4096, Prot::rw()).unwrap();
    let i2 = d2.map_alloc(&mut r.driver, b2, 4096, Prot::rw()).unwrap();
    let ro = d1.map_alloc(&mut r.driver, b3, 4096, Prot::ro()).unwrap();
    assert_ne!(i1, ro);
    let mut m1 = ToyMaster {
        sid: s1,
        hw: r.hw.clone(),
    };
    let mut m2 = ToyMaster {
        sid: s2,
        hw: r.hw.clone(),
    };
    let mut m3 = ToyMaster {
        sid: s3,
        hw: r.hw.clone(),
    };

    // map_dma_roundtrip
    m1.write(i1, b"abcd", T).unwrap();
    let mut back = [0u8; 4];
    m1.read(i1, &mut back, T).unwrap();
    assert_eq!(&back, b"abcd");
    m1.copy(i1, Iova(i1.0 + 8), 4, T).unwrap();
    assert_eq!(
        peek(&r.arena, iommu_bringup::mm::BusAddr(b1.0 + 8), 4),
        b"abcd"
    );
    // default_deny: stream 3 is attached to nothing.
    assert!(matches!(
        m3.write(i1, b"x", T),
        Err(DmaError::Aborted { status: 0xd0, .. })
    ));
    // readonly_blocks_write
    m1.read(ro, &mut back, T).unwrap();
    assert!(matches!(
        m1.write(ro, b"x", T),
        Err(DmaError::Aborted { status: 0xe0, .. })
    ));
    // isolation: m2 cannot reach d1's buffer (its IOVA i1 is not mapped in d2,
    // or maps d2's own buffer).
    m2.write(i2, b"mine", T).unwrap();
    let r2 = m2.write(i1, b"evil", T);
    if i1 != i2 {
        assert!(r2.is_err());
    }
    assert_eq!(peek(&r.arena, iommu_bringup::mm::BusAddr(b1.0), 4), b"abcd");

    // Detach: blocked afterwards, and not twice.
    d1.detach(&mut r.driver, s1).unwrap();
    assert!(m1.read(i1, &mut back, T).is_err());
    assert_eq!(
        d1.detach(&mut r.driver, s1),
        Err(IommuError::NotAttached { stream: s1 })
    );

    // unmap_free returns the IOVA.
    let before = d2.iova_allocator().free_bytes();
    assert_eq!(d2.unmap_free(&mut r.driver, i2, 4096), Ok(4096));
    assert_eq!(d2.iova_allocator().free_bytes(), before + 4096);
}

#[test]
fn failed_map_rolls_back_and_still_syncs() {
    let mut r = rig(SyncPolicy::WholeContext);
    let mut d = domain(&mut r, 5);
    d.attach(&mut r.driver, StreamId(9)).unwrap();
    let base = Iova(0x200_0000);
    d.map(
        &mut r.driver,
        Iova(base.0 + 0x5000),
        PhysAddr(0x8000_0000),
        0x1000,
        Prot::rw(),
    )
    .unwrap();
    assert!(
        r.driver.syncs.is_empty(),
        "a map that succeeded needs no sync"
    );
    let e = d.map(
        &mut r.driver,
        base,
        PhysAddr(0x8000_0000),
        0x10000,
        Prot::rw(),
    );
    assert_eq!(
        e,
        Err(IommuError::PageTable(PgTableError::Overlap {
            iova: Iova(base.0 + 0x5000),
            level: 3
        }))
    );
    // The five pages written before the clash were taken out again, and
    // that removal was synced like any unmap.
    assert_eq!(r.driver.syncs, [(base, 0x5000, true)]);
    assert!(d.translate(base).is_err());
    assert!(d.translate(Iova(base.0 + 0x5000)).is_ok());
}

#[test]
fn block_split_syncs_between_break_and_make() {
    let mut r = rig(SyncPolicy::Range);
    let mut d = domain(&mut r, 6);
    d.attach(&mut r.driver, StreamId(4)).unwrap();
    let base = Iova(0x4000_0000);
    d.map(
        &mut r.driver,
        base,
        PhysAddr(0x8000_0000),
        2 << 20,
        Prot::rw(),
    )
    .unwrap();
    let n = d
        .unmap(&mut r.driver, Iova(base.0 + 0x3000), 0x1000)
        .unwrap();
    assert_eq!(n, 0x1000);
    // First the break (whole block, non-leaf), then the final sync of the
    // gather (which also covers the block).
    assert_eq!(
        r.driver.syncs,
        [(base, 2 << 20, false), (base, 2 << 20, false)]
    );
    assert_eq!(d.syncs_issued(), 2);
    assert_eq!(
        d.translate(Iova(base.0 + 0x4000)).unwrap().phys,
        PhysAddr(0x8000_4000)
    );
}

#[test]
fn destroy_detaches_and_frees_every_table() {
    let mut r = rig(SyncPolicy::WholeStream);
    let before = r.arena.borrow().live_tables();
    let mut d = domain(&mut r, 8);
    d.attach(&mut r.driver, StreamId(1)).unwrap();
    d.attach(&mut r.driver, StreamId(2)).unwrap();
    d.map(
        &mut r.driver,
        Iova(0x100_0000),
        PhysAddr(0x8000_0000),
        0x40_3000,
        Prot::rw(),
    )
    .unwrap();
    assert!(r.arena.borrow().live_tables() > before + 1);
    let mut m = ToyMaster {
        sid: StreamId(2),
        hw: r.hw.clone(),
    };
    m.read(Iova(0x100_0000), &mut [0u8; 4], T).unwrap();
    let arena = d.destroy(&mut r.driver).unwrap();
    assert_eq!(arena.borrow().live_tables(), before);
    assert!(m.read(Iova(0x100_0000), &mut [0u8; 4], T).is_err());
}
