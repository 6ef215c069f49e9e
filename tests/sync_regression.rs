//! Host reproduction of the 2026 Linux IOMMU regression, and proof that our
//! core cannot have it.
//!
//! The bug (docs/design.md §3, "The sync contract"; docs/hw/sun50i.md §10 and docs/hw/dart.md §7 for
//! the fix "iommu: Always fill in gather when unmapping"): the core began to
//! skip `iotlb_sync` when the unmap left the gather empty.  Drivers whose
//! invalidation is whole-context or whole-stream (arm-smmu, qcom, sun50i,
//! apple-dart, virtio-iommu) never filled the gather, because they did not
//! need its range — so after the change they were never told to invalidate,
//! and devices kept using translations software believed were gone.
//!
//! Here: the same toy IOMMU (a TLB that keeps entries until invalidated), the
//! same whole-context driver and the same DMA master, once under a
//! Linux-style core with the regression and once under our `Domain`.

mod common;

use common::toy::{peek, Arena, ToyDriver, ToyIommu, ToyMaster};
use core::cell::RefCell;
use core::time::Duration;
use iommu_bringup::iommu::pgtable::{Granule, Lpae, NotLive, PageTable, Prot, RamArena};
use iommu_bringup::iommu::{
    Asid, Context, DmaError, DmaMaster, Domain, Gather, Iommu, StreamId, SyncPolicy,
};
use iommu_bringup::mm::{BusAddr, Iova, PhysAddr};
use std::rc::Rc;

const T: Duration = Duration::from_millis(10);
const SID: StreamId = StreamId(7);
const IOVA: Iova = Iova(0x10_0000);

fn arena() -> Arena {
    Rc::new(RefCell::new(RamArena::with_size(8 << 20)))
}

fn buffer(arena: &Arena) -> BusAddr {
    arena.borrow_mut().alloc_block(4096, 4096).unwrap().1
}

fn codec() -> Lpae {
    Lpae::new(Granule::K4, 39, 48, true).unwrap()
}

// ----- a Linux-style core, as it was with the regression -------------------

/// `struct iommu_iotlb_gather`: empty until a driver adds a page.
#[derive(Default)]
struct LinuxGather {
    start: u64,
    end: u64,
}

impl LinuxGather {
    fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// The two driver callbacks involved (`unmap_pages`, `iotlb_sync`).
trait LinuxDriver {
    fn unmap_pages(&mut self, iova: u64, size: u64, gather: &mut LinuxGather) -> u64;
    fn iotlb_sync(&mut self, gather: &LinuxGather);
}

/// The regressed core: `iotlb_sync` only for a non-empty gather.
fn regressed_core_unmap(drv: &mut dyn LinuxDriver, iova: u64, size: u64) -> u64 {
    let mut gather = LinuxGather::default();
    let unmapped = drv.unmap_pages(iova, size, &mut gather);
    if !gather.is_empty() {
        drv.iotlb_sync(&gather);
    }
    unmapped
}

/// A whole-context driver (arm-smmu style): it flushes the whole ASID in
/// `iotlb_sync`, so it never bothered to record the range in the gather.
struct WholeContextLinuxDriver {
    pt: PageTable<Lpae, Arena>,
    driver: ToyDriver,
    asid: Asid,
}

impl LinuxDriver for WholeContextLinuxDriver {
    fn unmap_pages(&mut self, iova: u64, size: u64, _gather: &mut LinuxGather) -> u64 {
        let mut ours = Gather::new();
        let n = self
            .pt
            .unmap(Iova(iova), size, &mut ours, &mut NotLive)
            .unwrap();
        // Tables it freed are reclaimed straight away; the Linux gather stays empty.
        self.pt.release(&mut ours);
        n
    }

    fn iotlb_sync(&mut self, _gather: &LinuxGather) {
        self.driver.hw.borrow_mut().invalidate_asid(self.asid.0);
        self.driver.syncs.push((Iova(0), 0, false));
    }
}

#[test]
fn regressed_core_lets_dma_through_an_unmapped_iova() {
    let arena = arena();
    let hw = ToyIommu::new(arena.clone());
    let buf = buffer(&arena);
    let asid = Asid(3);
    let mut drv = WholeContextLinuxDriver {
        pt: PageTable::new(codec(), arena.clone()).unwrap(),
        driver: ToyDriver::new(hw.clone(), SyncPolicy::WholeContext),
        asid,
    };
    let mut g = Gather::new();
    drv.pt
        .map(IOVA, PhysAddr(buf.0), 4096, Prot::rw(), &mut g)
        .unwrap();
    let ctx = Context {
        tag: asid,
        root: drv.pt.root(),
        format: drv.pt.codec(),
        coherent_walk: true,
    };
    drv.driver.attach(SID, &ctx).unwrap();
    let mut dev = ToyMaster {
        sid: SID,
        hw: hw.clone(),
    };

    dev.write(IOVA, b"hello", T).unwrap();
    assert_eq!(peek(&arena, buf, 5), b"hello");

    assert_eq!(regressed_core_unmap(&mut drv, IOVA.0, 4096), 4096);
    assert!(
        drv.pt.translate(IOVA).is_err(),
        "software thinks it is gone"
    );
    assert!(
        drv.driver.syncs.is_empty(),
        "the regressed core skipped the sync"
    );

    // The device still reaches the page through its cached translation.
    dev.write(IOVA, b"EVIL!", T).unwrap();
    assert_eq!(peek(&arena, buf, 5), b"EVIL!", "stale DMA corrupted memory");
}

// ----- our core ---------------------------------------------------------------

struct Rig {
    arena: Arena,
    buf: BusAddr,
    driver: ToyDriver,
    domain: Domain<Lpae, Arena, Asid>,
    dev: ToyMaster,
}

fn rig(policy: SyncPolicy) -> Rig {
    let arena = arena();
    let hw = ToyIommu::new(arena.clone());
    let buf = buffer(&arena);
    let mut driver = ToyDriver::new(hw.clone(), policy);
    driver.next_asid = 3;
    let mut domain = Domain::new(&mut driver, codec(), arena.clone(), Iova(0), 1 << 32).unwrap();
    domain.attach(&mut driver, SID).unwrap();
    Rig {
        arena,
        buf,
        driver,
        domain,
        dev: ToyMaster { sid: SID, hw },
    }
}

#[test]
fn our_core_syncs_and_the_dma_is_blocked() {
    // Whole-context policy, and the driver ignores the gather completely —
    // exactly the driver the regression broke.
    let mut r = rig(SyncPolicy::WholeContext);
    r.domain
        .map(&mut r.driver, IOVA, PhysAddr(r.buf.0), 4096, Prot::rw())
        .unwrap();
    r.dev.write(IOVA, b"hello", T).unwrap();
    assert_eq!(
        r.driver.hw.borrow().tlb_len(),
        1,
        "the IOMMU caches: the test has teeth"
    );

    assert_eq!(r.domain.unmap(&mut r.driver, IOVA, 4096), Ok(4096));
    assert_eq!(r.driver.syncs.len(), 1);
    let e = r.dev.write(IOVA, b"EVIL!", T).unwrap_err();
    assert!(
        matches!(
            e,
            DmaError::Aborted {
                stream: SID,
                iova: IOVA,
                write: true,
                bytes: 0,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(peek(&r.arena, r.buf, 5), b"hello", "target bytes unchanged");
}

#[test]
fn every_policy_gets_its_sync_after_every_unmap_that_removed_something() {
    for policy in [
        SyncPolicy::Range,
        SyncPolicy::WholeContext,
        SyncPolicy::WholeStream,
    ] {
        let mut r = rig(policy);
        let mut expected = 0;
        for round in 0..20u64 {
            let iova = Iova(IOVA.0 + round * 0x20_0000);
            // Alternate pages, blocks and partial unmaps of blocks.
            let size = if round % 2 == 0 { 0x3000 } else { 0x20_0000 };
            let pa = PhysAddr(0x8040_0000); // 2M-aligned, inside the arena
            r.domain
                .map(&mut r.driver, iova, pa, size, Prot::rw())
                .unwrap();
            r.dev.read(iova, &mut [0u8; 8], T).unwrap();
            let (at, len) = if round % 3 == 0 {
                (iova.0 + 0x1000, 0x1000)
            } else {
                (iova.0, size)
            };
            let before = r.driver.syncs.len();
            let n = r.domain.unmap(&mut r.driver, Iova(at), len).unwrap();
            assert_eq!(n, len, "{policy:?} round {round}");
            assert!(
                r.driver.syncs.len() > before,
                "{policy:?} round {round}: no sync"
            );
            expected += r.driver.syncs.len() - before;
            let e = r.dev.read(Iova(at), &mut [0u8; 8], T);
            assert!(
                e.is_err(),
                "{policy:?} round {round}: DMA went through: {e:?}"
            );
        }
        assert_eq!(r.domain.syncs_issued() as usize, expected);
        // "Empty" only means nothing was unmapped: no sync then.
        let before = r.driver.syncs.len();
        assert_eq!(
            r.domain.unmap(&mut r.driver, Iova(0x7000_0000), 0x10000),
            Ok(0)
        );
        assert_eq!(r.driver.syncs.len(), before);
    }
}

/// The negative control: a driver that withholds its invalidation (what
/// `iommu_bringup.inject=skip-sync` does on target) lets stale DMA through —
/// the check above can fail.
#[test]
fn withheld_invalidation_is_visible() {
    let mut r = rig(SyncPolicy::WholeContext);
    r.driver.withhold_invalidation = true;
    r.domain
        .map(&mut r.driver, IOVA, PhysAddr(r.buf.0), 4096, Prot::rw())
        .unwrap();
    r.dev.write(IOVA, b"hello", T).unwrap();
    r.domain.unmap(&mut r.driver, IOVA, 4096).unwrap();
    assert_eq!(r.driver.syncs.len(), 1, "the core asked");
    r.dev.write(IOVA, b"stale", T).unwrap();
    assert_eq!(peek(&r.arena, r.buf, 5), b"stale");
}
