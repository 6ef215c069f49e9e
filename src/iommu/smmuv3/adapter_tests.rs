//! Tests of [`Smmuv3Iommu`](super::Smmuv3Iommu) through the real core: a
//! `Domain<Lpae, PoolTables>` over host RAM, attached through the adapter to
//! the behavioural SMMUv3 model (`model.rs`), checked against what the model
//! saw — the STE/CD it decodes, the commands it executed, its IOTLB (stale
//! until a matching TLBI, docs/hw/qemu-virt.md §1.4, §1.9) and its event queue.

use super::adapter::{fault_from_record, Caching, Invalidation, Smmuv3Iommu, QEMU_VIRT_CACHING};
use super::command::op;
use super::driver::{Smmuv3, Smmuv3Config};
use super::event::FaultRecord;
use super::features::{QEMU_VIRT91_IDRS, QEMU_VIRT_IDRS};
use super::model::{SmmuModel, StreamConfig, TestMem};
use super::regs::Regs;
use super::ste::SteKind;
use crate::iommu::pgtable::PoolTables;
use crate::iommu::pgtable::{Codec, Granule, Lpae, Prot};
use crate::iommu::{
    Access, Asid, Domain, Fault, FaultKind, Iommu, IommuError, Observable, Observe, StreamId,
};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{BusAddr, Iova, PhysAddr};
use crate::time::fake::SteppingClock;
use core::cell::Cell;
use core::time::Duration;
use std::vec::Vec;

const SID: u32 = 0x20;
const VMID: u16 = 3;
const IOVA: u64 = 0x10_0000;

type Adapter<'a> = Smmuv3Iommu<'a, &'a SmmuModel>;
type Dom<'a> = Domain<Lpae, PoolTables<'a>, Asid>;

fn clock() -> SteppingClock {
    SteppingClock {
        now: Cell::new(0),
        step: 10,
    }
}

fn no_clean(_: usize, _: usize) {}

/// An enabled SMMU (VMID 3, so a TLBI that forgets the VMID misses on the
/// nested-capable model) wrapped in the adapter; the enable sequence's
/// commands are forgotten.
fn adapter<'a>(
    model: &'a SmmuModel,
    clk: &'a SteppingClock,
    pool: &'a DmaPool,
    skip_sync: bool,
) -> Adapter<'a> {
    let config = Smmuv3Config {
        vmid: VMID,
        timeout: Duration::from_millis(5),
        ..Smmuv3Config::default()
    };
    let mut smmu = Smmuv3::probe(Regs::new(model), clk, pool, config).unwrap();
    // As probe.rs does for the run's masters (SID's span).
    smmu.prepare_stream(SID).unwrap();
    smmu.reset_and_enable().unwrap();
    model.st.borrow_mut().executed.clear();
    Smmuv3Iommu::new(smmu, "smmuv3@test", skip_sync, QEMU_VIRT_CACHING)
}

/// `rig!(model, pool, smmu, skip_sync = b [, idrs])`: host RAM, its pool,
/// the model (QEMU `virt` ID registers unless given) and the adapter.
macro_rules! rig {
    ($model:ident, $pool:ident, $smmu:ident, skip_sync = $skip:expr) => {
        rig!($model, $pool, $smmu, skip_sync = $skip, QEMU_VIRT_IDRS)
    };
    ($model:ident, $pool:ident, $smmu:ident, skip_sync = $skip:expr, $idrs:expr) => {
        let mem = TestMem::new(8 << 20);
        let $pool = mem.pool();
        let $model = SmmuModel::new(mem.range(), $idrs);
        let clk = clock();
        let mut $smmu = adapter(&$model, &clk, &$pool, $skip);
    };
}

/// A 4K-granule, 32-bit IAS, 48-bit OAS domain in pool memory (host
/// addresses, which stand for physical ones here, need up to 47 bits).
/// The driver hands out ASIDs itself (lowest free from 1); `asid` makes it
/// hand out that one by taking the ones below it first.
fn domain<'a>(smmu: &mut Adapter<'a>, pool: &'a DmaPool, asid: u16) -> Dom<'a> {
    smmu.take_asids_below(asid);
    let d = Domain::new(
        smmu,
        Lpae::new(Granule::K4, 32, 48, true).unwrap(),
        PoolTables::new(pool, true, no_clean),
        Iova(IOVA),
        1 << 30,
    )
    .unwrap();
    assert_eq!(d.tag(), Asid(asid));
    d
}

fn executed(model: &SmmuModel) -> Vec<[u64; 2]> {
    model.st.borrow().executed.clone()
}

fn opcodes(model: &SmmuModel) -> Vec<u8> {
    executed(model)
        .iter()
        .map(|c| (c[0] & 0xff) as u8)
        .collect()
}

fn clear(model: &SmmuModel) {
    model.st.borrow_mut().executed.clear();
}

/// `(asid, vmid, lo, hi, leaf)` of every TLBI_NH_VA the model executed.
fn tlbi_vas(model: &SmmuModel) -> Vec<(u16, u16, u64, u64, bool)> {
    executed(model)
        .iter()
        .filter(|c| c[0] & 0xff == u64::from(op::TLBI_NH_VA))
        .map(|c| {
            let tg = (c[1] >> 10) & 3;
            assert_eq!(tg, 1, "4K granule in TG");
            let pages = (((c[0] >> 12) & 0x1f) + 1) << ((c[0] >> 20) & 0x1f);
            let lo = c[1] & !0xfff;
            (
                (c[0] >> 48) as u16,
                (c[0] >> 32) as u16,
                lo,
                lo + (pages << 12),
                c[1] & 1 != 0,
            )
        })
        .collect()
}

#[test]
fn attach_points_the_ste_and_cd_at_the_domain() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    assert_eq!(smmu.name(), "smmuv3@test");
    assert_eq!(smmu.sync_policy(), crate::iommu::SyncPolicy::Range);
    dom.attach(&mut smmu, StreamId(SID)).unwrap();

    let StreamConfig::Stage1 { cd, vmid } = model.stream_config(SID) else {
        panic!("not stage 1: {:?}", model.stream_config(SID));
    };
    assert_eq!(vmid, VMID, "STE.S2VMID = the driver's VMID");
    assert_eq!(
        cd[1],
        dom.page_table().root().as_u64(),
        "TTB0 = domain root"
    );
    assert_eq!(cd[0] >> 48, 5, "ASID");
    let lpae = *dom.context().format;
    // The driver packs the codec's numbers (IHI0070 §5.4): T0SZ = 64 − 32,
    // TG0 = 0 (4K), IR0 = OR0 = 0 (NC) and SH0 = 2 (outer): the walker is
    // coherent but the CPU maps the tables NC (docs/hw/smmuv3.md §12.1);
    // EPD1 = 1; IPS clamped from the tables' 48 bits to IDR5.OAS = 44 bits
    // on QEMU.
    let tcr_mask = 0x3f | 3 << 6 | 3 << 8 | 3 << 10 | 3 << 12 | 1 << 30;
    let want = 32 | 2 << 12 | 1 << 30;
    assert_eq!(cd[0] & tcr_mask, want);
    assert_eq!(u64::from(64 - lpae.input_bits()), cd[0] & 0x3f);
    assert_eq!((cd[0] >> 32) & 7, 4);
    for (bit, name) in [(31, "V"), (41, "AA64"), (45, "R"), (46, "A")] {
        assert_ne!(cd[0] & (1 << bit), 0, "CD.{name}");
    }
    assert_eq!(cd[3], lpae.mair());
    assert_eq!(
        executed(&model),
        [
            [u64::from(op::CFGI_STE) | u64::from(SID) << 32, 1],
            [0x46, 0],
            [u64::from(op::CFGI_STE) | u64::from(SID) << 32, 1],
            [0x46, 0]
        ],
        "CFGI_STE + SYNC between the STE's dwords 1..7 and dword0, then the final one (docs/hw/smmuv3.md §9)"
    );
    assert_eq!(smmu.take_invalidation_cost(), 2);
    assert_eq!(smmu.take_invalidation_cost(), 0, "reset by take");
    assert_eq!(
        smmu.smmu().read_cd(SID).unwrap().ttb0(),
        dom.page_table().root()
    );
}

#[test]
fn ips_is_clamped_to_the_smmu_output_size() {
    rig!(model, pool, smmu, skip_sync = false);
    // 48-bit OAS tables on a 44-bit SMMU: IPS = 44 bits (4).
    let mut dom = Domain::new(
        &mut smmu,
        Lpae::new(Granule::K4, 39, 48, true).unwrap(),
        PoolTables::new(&pool, true, no_clean),
        Iova(IOVA),
        1 << 30,
    )
    .unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    let cd = smmu.smmu().read_cd(SID).unwrap();
    assert_eq!((cd.0[0] >> 32) & 7, 4);
    assert_eq!(cd.0[0] & 0x3f, 25);
}

#[test]
fn unmap_sends_a_range_tlbi_with_asid_and_vmid_and_the_stale_entry_goes() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    let buf = pool.alloc(0x8000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    // Eight pages, four unmapped: the L3 table stays (leaf-only).
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x8000, Prot::rw())
        .unwrap();
    // DMA through every page: the model caches four leaves.
    for p in 0..4 {
        let at = IOVA + p * 0x1000 + 8;
        assert_eq!(
            model.translate(SID, at, true),
            Ok(buf.phys().as_u64() + p * 0x1000 + 8)
        );
    }
    assert_eq!(model.st.borrow().iotlb.len(), 4);
    clear(&model);
    smmu.take_invalidation_cost();

    assert_eq!(dom.unmap(&mut smmu, Iova(IOVA), 0x4000).unwrap(), 0x4000);
    let tlbis = tlbi_vas(&model);
    assert_eq!(tlbis.len(), 1, "one RIL command: {:x?}", executed(&model));
    let (asid, vmid, lo, hi, leaf) = tlbis[0];
    assert_eq!((asid, vmid, leaf), (5, VMID, true));
    assert_eq!((lo, hi), (IOVA, IOVA + 0x4000), "exactly the range");
    assert_eq!(
        (executed(&model)[0][1] >> 8) & 3,
        3,
        "TTL = level 3 (4K leaves)"
    );
    assert_eq!(opcodes(&model).last(), Some(&op::CMD_SYNC));
    assert_eq!(smmu.take_invalidation_cost(), 1);
    assert!(model.st.borrow().iotlb.is_empty());
    assert_eq!(model.translate(SID, IOVA + 8, true), Err(0x10));
    // The neighbour is still mapped (range_invalidate).
    assert_eq!(
        model.translate(SID, IOVA + 0x4000, true),
        Ok(buf.phys().as_u64() + 0x4000)
    );
    let faults = smmu.drain_faults();
    assert_eq!(
        faults,
        [Fault {
            stream: StreamId(SID),
            iova: Some(Iova(IOVA + 8)),
            access: Some(Access::Write),
            kind: FaultKind::Translation,
            raw: faults[0].raw,
        }]
    );
}

#[test]
fn freeing_a_table_makes_the_invalidation_non_leaf() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    // A whole 2 MiB of 4K pages: one L3 table, freed by the unmap.
    let two_m = 2 << 20;
    dom.map_pages(
        &mut smmu,
        Iova(two_m),
        PhysAddr(0x8000_0000),
        0x1000,
        512,
        Prot::rw(),
    )
    .unwrap();
    clear(&model);
    dom.unmap(&mut smmu, Iova(two_m), two_m).unwrap();
    let tlbis = tlbi_vas(&model);
    assert!(!tlbis.is_empty());
    assert!(tlbis.iter().all(|t| !t.4), "Leaf = 0: {tlbis:x?}");
    assert!(tlbis.iter().all(|t| t.0 == 5 && t.1 == VMID));
    // At least the 2 MiB; more when the freed tables' spans widen the gather.
    assert!(tlbis.first().unwrap().2 <= two_m);
    assert!(tlbis.last().unwrap().3 >= 2 * two_m);
}

#[test]
fn mixed_leaf_sizes_drop_the_ttl_hint() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    // A 2 MiB block followed by two 4K pages; unmap the block and one page
    // (the L3 table keeps the other page, so no table is freed).
    let two_m = 2 << 20;
    dom.map(
        &mut smmu,
        Iova(two_m),
        PhysAddr(0x8000_0000),
        two_m + 0x2000,
        Prot::rw(),
    )
    .unwrap();
    clear(&model);
    dom.unmap(&mut smmu, Iova(two_m), two_m + 0x1000).unwrap();
    let tlbis = tlbi_vas(&model);
    assert!(!tlbis.is_empty());
    assert!(tlbis.iter().all(|t| !t.4), "Leaf = 0: {tlbis:x?}");
    assert!(executed(&model)
        .iter()
        .filter(|c| c[0] & 0xff == u64::from(op::TLBI_NH_VA))
        .all(|c| (c[1] >> 8) & 3 == 0));
    assert_eq!(tlbis[0].2, two_m);
    assert!(tlbis.last().unwrap().3 >= 2 * two_m + 0x1000);
}

#[test]
fn moving_a_stream_to_another_context_drops_the_old_asid() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut a = domain(&mut smmu, &pool, 5);
    let mut b = domain(&mut smmu, &pool, 6);
    a.attach(&mut smmu, StreamId(SID)).unwrap();
    clear(&model);
    // Straight to B without detaching from A: the live STE's CD changes.
    b.attach(&mut smmu, StreamId(SID)).unwrap();
    let ops = opcodes(&model);
    assert!(ops.ends_with(&[op::CFGI_CD, op::CMD_SYNC, op::TLBI_NH_ASID, op::CMD_SYNC]));
    assert_eq!(
        executed(&model).iter().rev().nth(1).unwrap()[0] >> 48,
        5,
        "ASID 5 dropped"
    );
    let StreamConfig::Stage1 { cd, .. } = model.stream_config(SID) else {
        panic!("not stage 1");
    };
    assert_eq!(cd[0] >> 48, 6);
    assert_eq!(cd[1], b.page_table().root().as_u64());
}

#[test]
fn held_invalidation_leaves_a_stale_translation_until_release() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    let buf = pool.alloc(0x1000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    let pa = buf.phys().as_u64();
    assert_eq!(model.translate(SID, IOVA, true), Ok(pa));
    clear(&model);
    smmu.take_invalidation_cost();

    smmu.hold_invalidations(true);
    dom.unmap(&mut smmu, Iova(IOVA), 0x1000).unwrap();
    assert_eq!(dom.syncs_issued(), 1, "the core still called sync");
    assert!(executed(&model).is_empty(), "nothing reached the SMMU");
    assert!(matches!(smmu.held(), [Invalidation::Range(r)] if r.asid == Some(5)));
    assert!(dom.translate(Iova(IOVA)).is_err(), "the PTE is gone");
    // unmap_stale_window: the device still reaches the old page.
    assert_eq!(model.translate(SID, IOVA + 0x10, true), Ok(pa + 0x10));
    assert_eq!(smmu.take_invalidation_cost(), 0);

    smmu.hold_invalidations(false);
    assert_eq!(smmu.release_held().unwrap(), 1);
    assert!(smmu.held().is_empty());
    assert_eq!(tlbi_vas(&model).len(), 1);
    assert_eq!(smmu.take_invalidation_cost(), 1);
    assert_eq!(model.translate(SID, IOVA + 0x10, true), Err(0x10));
    assert_eq!(smmu.release_held().unwrap(), 0, "queue empty");
}

#[test]
fn skip_sync_drops_every_invalidation_but_still_writes_the_config() {
    rig!(model, pool, smmu, skip_sync = true);
    assert!(smmu.skipping_syncs());
    let mut dom = domain(&mut smmu, &pool, 5);
    let buf = pool.alloc(0x1000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    assert!(executed(&model).is_empty(), "no CFGI on attach");
    assert_eq!(
        smmu.smmu().read_ste(SID).unwrap().kind(),
        SteKind::Stage1,
        "STE written"
    );
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    let pa = buf.phys().as_u64();
    assert_eq!(model.translate(SID, IOVA, false), Ok(pa));

    dom.unmap(&mut smmu, Iova(IOVA), 0x1000).unwrap();
    assert!(executed(&model).is_empty(), "no TLBI on sync");
    assert_eq!(model.translate(SID, IOVA, false), Ok(pa), "stale");
    smmu.invalidate_context(Asid(5)).unwrap();
    assert_eq!(model.translate(SID, IOVA, false), Ok(pa), "still stale");

    // Holding under skip-sync queues nothing; release drops and says 0.
    smmu.hold_invalidations(true);
    dom.detach(&mut smmu, StreamId(SID)).unwrap();
    assert!(smmu.held().is_empty());
    assert_eq!(smmu.release_held().unwrap(), 0);
    assert!(executed(&model).is_empty(), "no CFGI on detach");
    assert_eq!(smmu.smmu().read_ste(SID).unwrap().kind(), SteKind::Abort);
    // The config cache still has the stage-1 STE: the stream keeps
    // translating (config_invalidate must fail under the negative control).
    assert!(matches!(
        model.stream_config(SID),
        StreamConfig::Stage1 { .. }
    ));
    assert_eq!(smmu.take_invalidation_cost(), 0);
}

#[test]
fn detach_installs_an_abort_ste_with_cfgi_and_drops_the_asid() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    let buf = pool.alloc(0x1000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.attach(&mut smmu, StreamId(SID + 1)).unwrap();
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    assert!(model.translate(SID, IOVA, true).is_ok());
    clear(&model);
    smmu.take_invalidation_cost();

    // Another stream still uses ASID 5: only the STE is invalidated.
    dom.detach(&mut smmu, StreamId(SID)).unwrap();
    assert_eq!(smmu.smmu().read_ste(SID).unwrap().kind(), SteKind::Abort);
    assert_eq!(
        executed(&model),
        [
            [u64::from(op::CFGI_STE) | u64::from(SID) << 32, 1],
            [0x46, 0]
        ]
    );
    assert_eq!(model.stream_config(SID), StreamConfig::Abort);
    let before = model.st.borrow().events_lost;
    assert_eq!(model.translate(SID, IOVA, true), Err(0), "silent abort");
    assert!(smmu.drain_faults().is_empty(), "abort STE records nothing");
    assert_eq!(model.st.borrow().events_lost, before);
    assert!(model.translate(SID + 1, IOVA, true).is_ok());

    // The last stream of ASID 5: CFGI_STE and TLBI_NH_ASID(VMID, 5).
    clear(&model);
    dom.detach(&mut smmu, StreamId(SID + 1)).unwrap();
    let ops = opcodes(&model);
    assert_eq!(
        ops,
        [op::CFGI_STE, op::CMD_SYNC, op::TLBI_NH_ASID, op::CMD_SYNC]
    );
    assert_eq!(
        executed(&model)[2][0],
        u64::from(op::TLBI_NH_ASID) | u64::from(VMID) << 32 | 5 << 48
    );
    assert!(model.st.borrow().iotlb.is_empty());
    assert_eq!(
        smmu.take_invalidation_cost(),
        3,
        "2 CFGI_STE + 1 TLBI_NH_ASID"
    );
}

#[test]
fn held_config_invalidation_keeps_the_old_ste_until_release() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    let buf = pool.alloc(0x1000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    assert!(model.translate(SID, IOVA, true).is_ok());
    clear(&model);

    smmu.hold_invalidations(true);
    dom.detach(&mut smmu, StreamId(SID)).unwrap();
    assert_eq!(
        smmu.held(),
        [Invalidation::Ste(SID), Invalidation::Context(5)]
    );
    assert!(executed(&model).is_empty());
    assert_eq!(smmu.smmu().read_ste(SID).unwrap().kind(), SteKind::Abort);
    assert!(
        model.translate(SID, IOVA, true).is_ok(),
        "stale config and TLB"
    );
    assert_eq!(smmu.release_held().unwrap(), 2);
    assert_eq!(model.stream_config(SID), StreamConfig::Abort);
    assert_eq!(model.translate(SID, IOVA, true), Err(0));

    // Re-attach while holding: the new STE is written but not seen.
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    assert_eq!(model.stream_config(SID), StreamConfig::Abort, "stale abort");
    assert_eq!(smmu.release_held().unwrap(), 1);
    assert!(matches!(
        model.stream_config(SID),
        StreamConfig::Stage1 { .. }
    ));
}

#[test]
fn context_invalidation_drops_one_asid_only() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut a = domain(&mut smmu, &pool, 5);
    let mut b = domain(&mut smmu, &pool, 6);
    let buf = pool.alloc(0x2000).unwrap();
    a.attach(&mut smmu, StreamId(SID)).unwrap();
    b.attach(&mut smmu, StreamId(SID + 8)).unwrap();
    a.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    b.map(
        &mut smmu,
        Iova(IOVA),
        buf.phys() + 0x1000,
        0x1000,
        Prot::rw(),
    )
    .unwrap();
    assert!(model.translate(SID, IOVA, true).is_ok());
    assert!(model.translate(SID + 8, IOVA, true).is_ok());
    assert_eq!(model.st.borrow().iotlb.len(), 2);
    clear(&model);

    // Runs at once even while other invalidations are held (the Observe
    // contract asid_invalidate relies on).
    smmu.hold_invalidations(true);
    smmu.invalidate_context(Asid(5)).unwrap();
    assert!(smmu.held().is_empty());
    assert_eq!(smmu.release_held().unwrap(), 0);
    let left: Vec<u16> = model.iotlb().iter().map(|e| e.asid).collect();
    assert_eq!(left, [6]);
    assert_eq!(
        executed(&model)[0][0],
        u64::from(op::TLBI_NH_ASID) | u64::from(VMID) << 32 | 5 << 48
    );
}

#[test]
fn a_tlbi_with_the_wrong_vmid_would_miss_on_the_nested_model() {
    // Why the adapter always sends the driver's VMID (docs/hw/qemu-virt.md §1.9 T5).
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.map(
        &mut smmu,
        Iova(IOVA),
        PhysAddr(0x8000_0000),
        0x1000,
        Prot::rw(),
    )
    .unwrap();
    assert!(model.translate(SID, IOVA, true).is_ok());
    smmu.smmu_mut().tlbi_nsnh_all().unwrap();
    assert!(model.st.borrow().iotlb.is_empty());
    assert!(model.translate(SID, IOVA, true).is_ok());
    let wrong = super::command::Command::TlbiNhAsid { vmid: 0, asid: 5 };
    smmu.smmu_mut().submit(&[wrong], true).unwrap();
    assert_eq!(model.st.borrow().iotlb.len(), 1, "VMID 0 missed VMID 3");
    smmu.invalidate_context(Asid(5)).unwrap();
    assert!(model.st.borrow().iotlb.is_empty());
}

#[test]
fn read_only_mapping_faults_writes_with_a_permission_record() {
    rig!(model, pool, smmu, skip_sync = false, QEMU_VIRT91_IDRS);
    let mut dom = domain(&mut smmu, &pool, 5);
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.map(
        &mut smmu,
        Iova(IOVA),
        PhysAddr(0x8000_0000),
        0x1000,
        Prot::ro(),
    )
    .unwrap();
    assert_eq!(model.translate(SID, IOVA + 4, false), Ok(0x8000_0004));
    assert_eq!(model.translate(SID, IOVA + 4, true), Err(0x13));
    let f = smmu.drain_faults();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FaultKind::Permission);
    assert_eq!(f[0].access, Some(Access::Write));
    assert_eq!(f[0].iova, Some(Iova(IOVA + 4)));
    assert_eq!(f[0].stream, StreamId(SID));
}

#[test]
fn fault_records_convert_to_core_faults() {
    let rec =
        |t: u64, d1: u64, iova: u64| FaultRecord::decode([t | (0x20 << 32), d1, iova, 0x4000_0000]);
    let read = 1 << 35;
    let cases: [(u64, u64, FaultKind, bool); 12] = [
        (0x10, read, FaultKind::Translation, true),
        (0x11, 0, FaultKind::AddressSize, true),
        (0x12, read, FaultKind::AccessFlag, true),
        (0x13, 0, FaultKind::Permission, true),
        (0x02, 0, FaultKind::Config, false),
        (0x03, 0, FaultKind::Config, false),
        (0x04, 0, FaultKind::Config, false),
        (0x09, 0, FaultKind::Config, false),
        (0x0a, 0, FaultKind::Config, false),
        (0x0b, read, FaultKind::Other(0x0b), true),
        (0x20, 0, FaultKind::Other(0x20), true),
        (0x7f, 0, FaultKind::Other(0x7f), false),
    ];
    for (t, d1, kind, transaction) in cases {
        let r = rec(t, d1, 0x12_3450);
        let f = fault_from_record(&r);
        assert_eq!(f.kind, kind, "type {t:#x}");
        assert_eq!(f.stream, StreamId(0x20));
        assert_eq!(f.raw.words(), &r.raw[..2], "raw dwords kept");
        if transaction {
            assert_eq!(f.iova, Some(Iova(0x12_3450)));
            let access = if d1 & read != 0 {
                Access::Read
            } else {
                Access::Write
            };
            assert_eq!(f.access, Some(access));
        } else {
            assert_eq!((f.iova, f.access), (None, None), "type {t:#x}");
        }
    }
}

#[test]
fn faults_are_drained_from_the_event_queue() {
    rig!(model, pool, smmu, skip_sync = false);
    // A stream nobody attached: its STE is abort (default_deny, silent);
    // an invalid STE records C_BAD_STE.
    assert_eq!(model.translate(0x30, IOVA, false), Err(0));
    smmu.smmu_mut()
        .write_ste(0x31, &super::ste::Ste::invalid(), false)
        .unwrap();
    assert_eq!(model.translate(0x31, IOVA, false), Err(0x04));
    let f = smmu.drain_faults();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FaultKind::Config);
    assert_eq!(f[0].stream, StreamId(0x31));
    assert!(smmu.drain_faults().is_empty());
}

#[test]
fn unknown_asid_gets_a_context_wide_invalidation() {
    rig!(model, pool, smmu, skip_sync = false);
    // Never attached: the adapter does not know the granule.
    let mut dom = domain(&mut smmu, &pool, 9);
    dom.map(
        &mut smmu,
        Iova(IOVA),
        PhysAddr(0x8000_0000),
        0x1000,
        Prot::rw(),
    )
    .unwrap();
    dom.unmap(&mut smmu, Iova(IOVA), 0x1000).unwrap();
    assert_eq!(opcodes(&model), [op::TLBI_NH_ASID, op::CMD_SYNC]);
}

#[test]
fn errors_keep_the_stream_and_register() {
    rig!(model, pool, smmu, skip_sync = false);
    let mut dom = domain(&mut smmu, &pool, 5);
    // The stream table covers SIDSIZE (16 bits on QEMU): 0x1_0000 is beyond.
    assert_eq!(
        dom.attach(&mut smmu, StreamId(0x1_0000)),
        Err(IommuError::NoSuchStream {
            stream: StreamId(0x1_0000)
        })
    );
    // Tables written for a coherent walker on a non-coherent SMMU.
    let nc_model = SmmuModel::new(pool.range(), QEMU_VIRT_IDRS);
    let nc_clk = clock();
    let nc = Smmuv3::probe(
        Regs::new(&nc_model),
        &nc_clk,
        &pool,
        Smmuv3Config {
            dt_dma_coherent: false,
            ..Smmuv3Config::default()
        },
    )
    .unwrap();
    let mut nc = Smmuv3Iommu::new(
        nc,
        "nc",
        false,
        Caching {
            tlb: Observable::Yes,
            config: Observable::Yes,
            walk: Observable::Yes,
        },
    );
    assert!(matches!(
        dom.attach(&mut nc, StreamId(SID)),
        Err(IommuError::Unsupported { .. })
    ));
    // Not enabled: the command is refused, naming CR0 (offset 0x20, SMMUEN
    // and CMDQEN clear).
    assert_eq!(
        nc.invalidate_context(Asid(5)),
        Err(IommuError::CommandError {
            offset: 0x20,
            value: 0
        })
    );
    // A command queue that never advances: a bounded wait naming CMDQ_CONS.
    model.st.borrow_mut().frozen = true;
    assert!(matches!(
        smmu.invalidate_context(Asid(5)),
        Err(IommuError::RegisterTimeout { offset: 0x9c, .. })
    ));
    model.st.borrow_mut().frozen = false;
    // A TTB0 the CD encoder refuses (not 16-byte aligned): the value is kept.
    let ttb = dom.page_table().root().as_u64() + 8;
    let bad = crate::iommu::Context {
        root: BusAddr(ttb),
        ..dom.context()
    };
    assert_eq!(
        smmu.attach(StreamId(SID), &bad),
        Err(IommuError::Unsupported { value: ttb })
    );
}

#[test]
fn lost_events_and_global_errors_are_health_problems() {
    rig!(model, pool, smmu, skip_sync = false);
    assert!(smmu.health().is_empty());
    // QEMU-style loss: a full queue drops records and raises
    // GERROR.EVTQ_ABT_ERR (docs/hw/qemu-virt.md §1.6).
    for _ in 0..5000 {
        model.inject_event([0x04 | (7 << 32), 0, 0, 0]);
    }
    let _ = smmu.drain_faults();
    let h = smmu.health();
    assert!(h.iter().any(|p| p.contains("global errors")), "{h:?}");
    assert!(smmu.health().is_empty(), "acknowledged once reported");
    // Spec-style loss: EVTQ_PROD.OVFLG.
    model.st.borrow_mut().overflow_flag = true;
    for _ in 0..5000 {
        model.inject_event([0x04 | (7 << 32), 0, 0, 0]);
    }
    let _ = smmu.drain_faults();
    let h = smmu.health();
    assert!(h.iter().any(|p| p.contains("overflowed")), "{h:?}");
}

#[test]
fn tlbi_shapes_count_leaf_ril_num_and_addresses_above_4_gib() {
    rig!(model, pool, smmu, skip_sync = false);
    let base = 0x1_4000_0000u64;
    let mut dom = Domain::new(
        &mut smmu,
        Lpae::new(Granule::K4, 40, 48, true).unwrap(),
        PoolTables::new(&pool, true, no_clean),
        Iova(base),
        1 << 30,
    )
    .unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    let buf = pool.alloc(8 * 4096).unwrap();
    dom.map(&mut smmu, Iova(base), buf.phys(), 8 * 4096, Prot::rw())
        .unwrap();
    // One page next to live ones: leaf, single page.
    dom.unmap(&mut smmu, Iova(base), 4096).unwrap();
    // Three pages: leaf, RIL NUM = 2.
    dom.unmap(&mut smmu, Iova(base + 0x1000), 3 * 4096).unwrap();
    // The last four: the table goes, non-leaf.
    dom.unmap(&mut smmu, Iova(base + 0x4000), 4 * 4096).unwrap();
    let s = smmu.tlbi_shapes();
    // The last unmap empties every table up to the top one, so its
    // non-leaf range starts at the freed level-1 table's span: IOVA 0.
    assert_eq!(
        (s.ranges, s.leaf, s.leaf_single, s.non_leaf, s.high),
        (3, 2, 1, 1, 2),
        "{s:?}"
    );
    assert!(s.ril_num >= 1, "{s:?}");
    assert_eq!(s.ril_multi, 0, "{s:?}");
    let line = smmu.invalidation_summary().unwrap();
    assert!(
        line.contains("reached: leaf single-page, RIL NUM>0, IOVA>=4GiB;"),
        "{line}"
    );
    // The leaf TLBIs carried the address bits above 31.
    let vas = tlbi_vas(&model);
    assert!(
        vas.iter()
            .filter(|v| v.4)
            .all(|&(_, _, lo, _, _)| lo >= base),
        "{vas:?}"
    );
}

/// Issue 11 item 4: an adapter over `config` with one domain attached to
/// `SID` and a page mapped the way the catalogue maps its buffers
/// (`Prot::rw()`), then every attribute the model decodes.
fn attributes_under(config: Smmuv3Config) -> Vec<super::model::AttrUse> {
    let mem = TestMem::new(8 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        timeout: Duration::from_millis(5),
        ..config
    };
    let mut inner = Smmuv3::probe(Regs::new(&model), &clk, &pool, config).unwrap();
    inner.reset_and_enable().unwrap();
    let coherent = inner.coherent();
    let mut smmu = Smmuv3Iommu::new(inner, "smmuv3@test", false, QEMU_VIRT_CACHING);
    let mut dom = Domain::new(
        &mut smmu,
        Lpae::new(Granule::K4, 32, 48, coherent).unwrap(),
        PoolTables::new(&pool, coherent, no_clean),
        Iova(IOVA),
        1 << 30,
    )
    .unwrap();
    let buf = pool.alloc(0x2000).unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    dom.map(&mut smmu, Iova(IOVA), buf.phys(), 0x1000, Prot::rw())
        .unwrap();
    dom.map(
        &mut smmu,
        Iova(IOVA + 0x1000),
        buf.phys(),
        0x1000,
        Prot::ro(),
    )
    .unwrap();
    let uses = model.attribute_uses();
    for kind in ["CR1.QUEUE", "CR1.TABLE", "STE[", "CD[", "PTE["] {
        assert!(
            uses.iter().any(|u| u.what.starts_with(kind)),
            "the model decoded no {kind}: {uses:#?}"
        );
    }
    assert_eq!(
        uses.iter().filter(|u| u.what.starts_with("PTE[")).count(),
        2
    );
    uses
}

fn cacheable_or_inner(uses: &[super::model::AttrUse]) -> Vec<&super::model::AttrUse> {
    uses.iter()
        .filter(|u| u.cacheable || u.shareability == 3)
        .collect()
}

/// Issue 11 item 4: a non-coherent SMMU (no `dma-coherent`) is given no
/// cacheable or inner-shareable attribute anywhere — CR1, STE, CD, PTE —
/// whatever the CPU's view, and the catalogue's buffers are NC like the
/// CPU's mapping of the pool.  Failed before: PTEs said WB/ISH.
#[test]
fn a_non_coherent_smmu_is_given_no_cacheable_attribute_anywhere() {
    for cpu_cacheable in [false, true] {
        let uses = attributes_under(Smmuv3Config {
            dt_dma_coherent: false,
            cpu_cacheable,
            ..Smmuv3Config::default()
        });
        let bad = cacheable_or_inner(&uses);
        assert!(bad.is_empty(), "cpu_cacheable {cpu_cacheable}: {bad:#?}");
        assert!(uses.iter().all(|u| u.shareability == 2), "{uses:#?}");
    }
}

/// Issue 11 item 4: a coherent SMMU behind the image's NC pool (what
/// probe.rs configures) is also NC/OSH everywhere; only a coherent SMMU
/// whose memory the CPU maps Write-Back gets WB/ISH for CR1, the STE's CD
/// fetch and the CD's walks, while the buffers keep their Prot's NC.
/// Failed before: the coherent config wrote WB/ISH in CR1, STE, CD and PTEs.
#[test]
fn a_coherent_smmu_is_cacheable_only_where_the_cpu_is() {
    let uses = attributes_under(Smmuv3Config {
        dt_dma_coherent: true,
        cpu_cacheable: false,
        ..Smmuv3Config::default()
    });
    assert!(cacheable_or_inner(&uses).is_empty(), "{uses:#?}");

    let uses = attributes_under(Smmuv3Config {
        dt_dma_coherent: true,
        cpu_cacheable: true,
        ..Smmuv3Config::default()
    });
    for u in &uses {
        let structure = !u.what.starts_with("PTE[");
        assert_eq!(u.cacheable, structure, "{u:?}");
        assert_eq!(u.shareability, if structure { 3 } else { 2 }, "{u:?}");
    }
}

/// Issue 11 item 7: the catalogue's buffers (`Prot::rw()`, `Prot::ro()`)
/// are executable like Linux's DMA mappings: no leaf has UXN or PXN, so a
/// master that marks its reads as instruction fetches is not refused by a
/// permission fault.  Failed before: both XN bits were set.
#[test]
fn catalogue_mappings_are_not_execute_never() {
    let uses = attributes_under(Smmuv3Config::default());
    let xn: Vec<_> = uses
        .iter()
        .filter(|u| u.what.starts_with("PTE[") && u.execute_never)
        .collect();
    assert!(xn.is_empty(), "{xn:#?}");
}
