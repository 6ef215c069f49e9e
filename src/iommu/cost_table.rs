//! Invalidation cost per unmap, measured on each family's driver over its
//! model: what one unmap of 1, 3, 512 and 262,144 pages costs in
//! invalidation commands, requests and MMIO register writes, next to what
//! Linux issues for the same unmap (docs/performance.md, "Invalidation cost
//! per family"; `cargo xtask cost` regenerates the table).
//!
//! The scenario is the same for every family: N pages mapped as 4 KiB
//! pages (one `map_pages`) at a 1 GiB-aligned IOVA, one more page mapped
//! right after them by a separate map (so no table above the range
//! empties, and virtio-iommu's device holds the N pages as one mapping), a
//! stream attached, then one `Domain::unmap` of the N pages.  Counted from
//! just before that unmap to just after it: the driver's own invalidation
//! cost ([`Observe::take_invalidation_cost`], the `InvalidationGate`
//! counter), what the model executed or received, and every MMIO write the
//! driver made (a counting [`Mmio`] between driver and model).
//!
//! DART's page is 16 KiB, so its rows count 16 KiB pages ([`DART_PAGES`]):
//! the two smallest unmaps (1 and 3 pages) and the same bytes as the
//! others' 512 and 262,144 pages (2 MiB, 1 GiB); 262,144 DART pages
//! (4 GiB) do not fit t8103's 32-bit IOVA space.
//!
//! Adding a family: write `fn <family>(pages) -> Row` like [`sun50i`]
//! over the family's model, put its Linux column in [`linux`], and add it
//! to [`rows`].
#![cfg(test)]

use super::pgtable::{Granule, Lpae, PoolTables, Prot, RamArena};
use super::{Domain, Observe, StreamId};
use crate::mm::host_ram::HostRam;
use crate::mm::{Iova, PhysAddr};
use crate::mmio::Mmio;
use crate::time::fake::SteppingClock;
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;

/// The unmap sizes of the table, in 4 KiB pages.
pub const PAGES: [u64; 4] = [1, 3, 512, 262_144];

/// DART's unmap sizes, in its 16 KiB pages: 1 and 3 pages, then 2 MiB and
/// 1 GiB (the bytes of 512 and 262,144 4 KiB pages).
pub const DART_PAGES: [u64; 4] = [1, 3, 128, 65_536];

const PAGE: u64 = 4096;
const GIB: u64 = 1 << 30;

/// An [`Mmio`] that counts the writes passing through it.
struct Counting<M> {
    inner: M,
    writes: Rc<Cell<u64>>,
}

impl<M: Mmio> Counting<M> {
    fn new(inner: M) -> (Self, Rc<Cell<u64>>) {
        let writes = Rc::new(Cell::new(0));
        (
            Self {
                inner,
                writes: writes.clone(),
            },
            writes,
        )
    }

    fn count(&self) {
        self.writes.set(self.writes.get() + 1);
    }
}

impl<M: Mmio> Mmio for Counting<M> {
    fn read8(&self, off: usize) -> u8 {
        self.inner.read8(off)
    }
    fn write8(&self, off: usize, val: u8) {
        self.count();
        self.inner.write8(off, val);
    }
    fn read16(&self, off: usize) -> u16 {
        self.inner.read16(off)
    }
    fn write16(&self, off: usize, val: u16) {
        self.count();
        self.inner.write16(off, val);
    }
    fn read32(&self, off: usize) -> u32 {
        self.inner.read32(off)
    }
    fn write32(&self, off: usize, val: u32) {
        self.count();
        self.inner.write32(off, val);
    }
    fn read64(&self, off: usize) -> u64 {
        self.inner.read64(off)
    }
    fn write64(&self, off: usize, val: u64) {
        self.count();
        self.inner.write64(off, val);
    }
}

/// One measured unmap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The driver (and its configuration).
    pub family: &'static str,
    /// Pages unmapped.
    pub pages: u64,
    /// The page size, bytes (16 KiB on DART, 4 KiB elsewhere).
    pub page: u64,
    /// The driver's own count (`InvalidationGate`): invalidation commands
    /// (SMMUv3, without CMD_SYNC), requests (virtio-iommu), flush or zap
    /// operations (sun50i).
    pub cost: u64,
    /// What the model saw, spelled out.
    pub seen: String,
    /// MMIO writes the driver made during the unmap.
    pub mmio_writes: u64,
}

fn clock() -> &'static SteppingClock {
    Box::leak(Box::new(SteppingClock {
        now: Cell::new(0),
        step: 10,
    }))
}

fn no_clean(_: usize, _: usize) {}

/// `n × NAME` parts, in order, for what appeared.
fn spell(parts: &[(u64, &str)]) -> String {
    let v: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
    if v.is_empty() {
        String::from("nothing")
    } else {
        v.join(" + ")
    }
}

/// SMMUv3 over its model, with or without range invalidation (IDR3.RIL).
pub fn smmuv3(ril: bool, pages: u64) -> Row {
    use super::smmuv3::adapter::{Smmuv3Iommu, QEMU_VIRT_CACHING};
    use super::smmuv3::command::op;
    use super::smmuv3::driver::{Smmuv3, Smmuv3Config};
    use super::smmuv3::features::QEMU_VIRT_IDRS;
    use super::smmuv3::model::{SmmuModel, TestMem};
    use super::smmuv3::regs::Regs;
    const SID: u32 = 0x20;
    const RIL: u32 = 1 << 10;

    let mem = TestMem::new(8 << 20);
    let pool = mem.pool();
    let mut idrs = QEMU_VIRT_IDRS;
    if !ril {
        idrs[2] &= !RIL;
    }
    let model = SmmuModel::new(mem.range(), idrs);
    let (mmio, writes) = Counting::new(&model);
    let config = Smmuv3Config {
        timeout: Duration::from_millis(5),
        ..Smmuv3Config::default()
    };
    let mut hw = Smmuv3::probe(Regs::new(mmio), clock(), &pool, config).unwrap();
    hw.prepare_stream(SID).unwrap();
    hw.reset_and_enable().unwrap();
    let mut smmu = Smmuv3Iommu::new(hw, "smmuv3@cost", false, QEMU_VIRT_CACHING);
    // Tables in a host arena, not the DMA pool: no DMA walks them here,
    // and the model watches every pool store for torn entries, which a
    // 262,144-page map would make slow.
    let arena = Rc::new(RefCell::new(RamArena::with_size(8 << 20)));
    let mut dom = Domain::new(
        &mut smmu,
        Lpae::new(Granule::K4, 40, 44, true).unwrap(),
        arena,
        Iova(GIB),
        GIB,
    )
    .unwrap();
    dom.attach(&mut smmu, StreamId(SID)).unwrap();
    map_n_and_neighbour(&mut dom, &mut smmu, pages, 0x10_0000_0000);

    model.st.borrow_mut().executed.clear();
    let _ = smmu.take_invalidation_cost();
    let before = writes.get();
    let n = dom.unmap(&mut smmu, Iova(GIB), pages * PAGE).unwrap();
    assert_eq!(n, pages * PAGE);
    let mmio_writes = writes.get() - before;
    let cost = smmu.take_invalidation_cost();
    let ops: Vec<u8> = model
        .st
        .borrow()
        .executed
        .iter()
        .map(|c| (c[0] & 0xff) as u8)
        .collect();
    let count = |o: u8| ops.iter().filter(|&&x| x == o).count() as u64;
    let known = [
        op::TLBI_NH_VA,
        op::TLBI_NH_ASID,
        op::TLBI_NH_ALL,
        op::CMD_SYNC,
    ];
    let other = ops.iter().filter(|o| !known.contains(o)).count() as u64;
    let seen = spell(&[
        (count(op::TLBI_NH_VA), "TLBI_NH_VA"),
        (count(op::TLBI_NH_ASID), "TLBI_NH_ASID"),
        (count(op::TLBI_NH_ALL), "TLBI_NH_ALL"),
        (other, "other command"),
        (count(op::CMD_SYNC), "CMD_SYNC"),
    ]);
    Row {
        family: if ril { "SMMUv3, RIL" } else { "SMMUv3, no RIL" },
        pages,
        page: PAGE,
        cost,
        seen,
        mmio_writes,
    }
}

/// Maps `pages` 4 KiB pages at 1 GiB (one `map_pages`), then the
/// neighbour page after them (its own map), to output addresses from
/// `phys`.
fn map_n_and_neighbour<C, M, T, I>(dom: &mut Domain<C, M, T>, iommu: &mut I, pages: u64, phys: u64)
where
    C: super::pgtable::Codec,
    M: super::pgtable::TableMemory,
    T: Copy + Eq + core::fmt::Debug,
    I: super::Iommu<Format = C, Tag = T>,
{
    map_sized(dom, iommu, pages, PAGE, phys);
}

/// [`map_n_and_neighbour`] with pages of `page` bytes.
fn map_sized<C, M, T, I>(dom: &mut Domain<C, M, T>, iommu: &mut I, pages: u64, page: u64, phys: u64)
where
    C: super::pgtable::Codec,
    M: super::pgtable::TableMemory,
    T: Copy + Eq + core::fmt::Debug,
    I: super::Iommu<Format = C, Tag = T>,
{
    dom.map_pages(iommu, Iova(GIB), PhysAddr(phys), page, pages, Prot::rw())
        .unwrap();
    dom.map(
        iommu,
        Iova(GIB + pages * page),
        PhysAddr(phys + pages * page),
        page,
        Prot::rw(),
    )
    .unwrap();
}

/// virtio-iommu over its model (QEMU's behaviour).
pub fn virtio_iommu(pages: u64) -> Row {
    use super::virtio_iommu::model::{layout, ViommuModel};
    use super::virtio_iommu::{VirtioIommu, VirtioIommuDevice};
    const UNMAP: u8 = 4;

    let ram = HostRam::new(1 << 20);
    let pool = ram.pool();
    let model = ViommuModel::viommu();
    let (mmio, writes) = Counting::new(model.clone());
    let dev = VirtioIommuDevice::bring_up(mmio, layout(), clock(), &pool, || {}).unwrap();
    let mut v = VirtioIommu::new(dev, "viommu@cost", false);
    let arena = Rc::new(RefCell::new(RamArena::with_size(8 << 20)));
    let mut dom = Domain::new(
        &mut v,
        Lpae::new(Granule::K4, 40, 48, true).unwrap(),
        arena,
        Iova(GIB),
        GIB,
    )
    .unwrap();
    dom.attach(&mut v, StreamId(0x20)).unwrap();
    map_n_and_neighbour(&mut dom, &mut v, pages, 0x10_0000_0000);

    let requests_before = model.0.borrow().backend.requests.len();
    let _ = v.take_invalidation_cost();
    let before = writes.get();
    let n = dom.unmap(&mut v, Iova(GIB), pages * PAGE).unwrap();
    assert_eq!(n, pages * PAGE);
    let mmio_writes = writes.get() - before;
    let cost = v.take_invalidation_cost();
    let reqs: Vec<u8> = model.0.borrow().backend.requests[requests_before..].to_vec();
    let unmaps = reqs.iter().filter(|&&r| r == UNMAP).count() as u64;
    let seen = spell(&[
        (unmaps, "UNMAP"),
        (reqs.len() as u64 - unmaps, "other request"),
    ]);
    Row {
        family: "virtio-iommu",
        pages,
        page: PAGE,
        cost,
        seen,
        mmio_writes,
    }
}

/// sun50i (H616) over its model.
pub fn sun50i(pages: u64) -> Row {
    use super::pgtable::Sun50i;
    use super::sun50i::adapter::Sun50iIommu;
    use super::sun50i::hw::Sun50iHw;
    use super::sun50i::model::{self, Sun50i as Model, Window};
    use super::sun50i::regs::Regs;
    use super::sun50i::variant;
    use crate::mmio::ModelMmio;
    const BUS: u64 = 0x4000_0000;

    let ram = HostRam::new(8 << 20);
    let pool = ram.pool_at_bus(BUS);
    let window = Window {
        bus: BUS as u32,
        host: ram.range().base.as_u64(),
    };
    let hw = Model::new(model::H616, window);
    let (mmio, writes) = Counting::new(ModelMmio::new(hw.clone()));
    let mut drv = Sun50iHw::new(Regs::new(mmio), variant::H616, clock());
    drv.enable().unwrap();
    let mut iommu = Sun50iIommu::new(drv, "sun50i@cost", false);
    let mut dom = Domain::new(
        &mut iommu,
        Sun50i,
        PoolTables::new(&pool, false, no_clean),
        Iova(GIB),
        GIB,
    )
    .unwrap();
    dom.attach(&mut iommu, StreamId(0)).unwrap();
    map_n_and_neighbour(&mut dom, &mut iommu, pages, 0x8000_0000);

    let _ = iommu.take_invalidation_cost();
    let before = writes.get();
    let n = dom.unmap(&mut iommu, Iova(GIB), pages * PAGE).unwrap();
    assert_eq!(n, pages * PAGE);
    let mmio_writes = writes.get() - before;
    let cost = iommu.take_invalidation_cost();
    Row {
        family: "sun50i (H616)",
        pages,
        page: PAGE,
        cost,
        seen: format!("{cost} full flush (TLB_FLUSH_ENABLE)"),
        mmio_writes,
    }
}

/// SMMUv2 over its model: the MMU-500 (ZynqMP-shaped) or Qualcomm's
/// MMU-500 (SDM845-shaped, `qcom`), AArch64 stage 1 with 4 KiB pages.
pub fn smmuv2(qcom: bool, pages: u64) -> Row {
    use super::smmuv2::adapter::Smmuv2Iommu;
    use super::smmuv2::hw::Smmuv2Hw;
    use super::smmuv2::model::{self, Inval, Knobs, Smmuv2};
    use super::smmuv2::probe::format_for;
    use super::smmuv2::regs::Regs;
    use super::smmuv2::variant;
    // The model masters' streams of smmuv2/tests.rs: a ZynqMP ZDMA
    // channel, SDM845's QUP GPI DMA.
    let (part, driver, sid) = if qcom {
        (model::QCOM_SDM845, variant::QCOM_MMU_500, 0x6d6)
    } else {
        (model::MMU500, variant::MMU_500, 0x14e8)
    };
    let hw = Smmuv2::new(part, Knobs::default());
    let (mmio, writes) = Counting::new(hw.mmio());
    let mut drv = Smmuv2Hw::probe(Regs::new(mmio), driver, clock()).unwrap();
    drv.reset().unwrap();
    let mut iommu = Smmuv2Iommu::new(drv, "smmuv2@cost", false, false);
    let lpae = format_for(iommu.hw().ids(), Granule::K4, false).unwrap();
    // Tables in a host arena: no DMA walks them here.
    let arena = Rc::new(RefCell::new(RamArena::with_size(8 << 20)));
    let mut dom = Domain::new(&mut iommu, lpae, arena, Iova(GIB), GIB).unwrap();
    dom.attach(&mut iommu, StreamId(sid)).unwrap();
    map_n_and_neighbour(&mut dom, &mut iommu, pages, 0x10_0000_0000);

    let (issued, syncs) = {
        let m = hw.model();
        (m.issued.len(), m.syncs.len())
    };
    let _ = iommu.take_invalidation_cost();
    let before = writes.get();
    let n = dom.unmap(&mut iommu, Iova(GIB), pages * PAGE).unwrap();
    assert_eq!(n, pages * PAGE);
    let mmio_writes = writes.get() - before;
    let cost = iommu.take_invalidation_cost();
    let m = hw.model();
    let ops = &m.issued[issued..];
    let count = |f: &dyn Fn(&Inval) -> bool| ops.iter().filter(|(_, o)| f(o)).count() as u64;
    let tlbival = count(&|o| {
        matches!(
            o,
            Inval::Va {
                leaf_only: true,
                ..
            }
        )
    });
    let tlbiva = count(&|o| {
        matches!(
            o,
            Inval::Va {
                leaf_only: false,
                ..
            }
        )
    });
    let tlbiasid = count(&|o| matches!(o, Inval::Asid { .. }));
    let other = ops.len() as u64 - tlbival - tlbiva - tlbiasid;
    let bank_syncs = m.syncs[syncs..].iter().filter(|s| s.is_some()).count() as u64;
    let global_syncs = m.syncs[syncs..].len() as u64 - bank_syncs;
    let seen = spell(&[
        (tlbival, "TLBIVAL"),
        (tlbiva, "TLBIVA"),
        (tlbiasid, "TLBIASID"),
        (other, "other TLBI"),
        (bank_syncs, "TLBSYNC"),
        (global_syncs, "sTLBGSYNC"),
    ]);
    Row {
        family: if qcom {
            "SMMUv2 (Qualcomm MMU-500)"
        } else {
            "SMMUv2 (MMU-500)"
        },
        pages,
        page: PAGE,
        cost,
        seen,
        mmio_writes,
    }
}

/// DART over its model: t8103 (T8020 register layout, DART1 entries) or
/// t8110 (T8110 layout); `pages` 16 KiB pages.
pub fn dart(t8110: bool, pages: u64) -> Row {
    use super::dart::adapter::DartIommu;
    use super::dart::hw::DartHw;
    use super::dart::model::{self, Dart as Model, FlushScope, Knobs};
    use super::dart::regs::Regs;
    use super::dart::variant;
    use super::pgtable::dart::PAGE_SIZE;
    use crate::mmio::ModelMmio;

    let (part, driver) = if t8110 {
        (model::T8110, variant::T8110)
    } else {
        (model::T8103, variant::T8103)
    };
    let m = Model::new(part, Knobs::default());
    let (mmio, writes) = Counting::new(ModelMmio::new(m.clone()));
    let mut hw = DartHw::identify(Regs::new(mmio), driver, clock()).unwrap();
    hw.reset().unwrap();
    let format = hw.ident().format;
    let mut iommu = DartIommu::new(hw, "dart@cost", false);
    // Tables in a host arena: no DMA walks them here.
    let arena = Rc::new(RefCell::new(RamArena::with_size(8 << 20)));
    let mut dom = Domain::new(&mut iommu, format, arena, Iova(GIB), GIB).unwrap();
    dom.attach(&mut iommu, StreamId(0)).unwrap();
    map_sized(&mut dom, &mut iommu, pages, PAGE_SIZE, 0x8_0000_0000);

    let flushes = m.model().flushes().len();
    let _ = iommu.take_invalidation_cost();
    let before = writes.get();
    let n = dom.unmap(&mut iommu, Iova(GIB), pages * PAGE_SIZE).unwrap();
    assert_eq!(n, pages * PAGE_SIZE);
    let mmio_writes = writes.get() - before;
    let cost = iommu.take_invalidation_cost();
    let model = m.model();
    let done = &model.flushes()[flushes..];
    let count =
        |f: &dyn Fn(&FlushScope) -> bool| done.iter().filter(|d| f(&d.scope)).count() as u64;
    let seen = spell(&[
        (
            count(&|s| matches!(s, FlushScope::Select(_))),
            "stream-set flush (STREAM_SELECT + STREAM_COMMAND)",
        ),
        (
            count(&|s| matches!(s, FlushScope::One(_))),
            "stream flush (TLB_OP FLUSH_SID)",
        ),
        (
            count(&|s| matches!(s, FlushScope::All)),
            "flush of every stream",
        ),
    ]);
    Row {
        family: if t8110 {
            "DART t8110 (T8110 layout)"
        } else {
            "DART t8103 (T8020 layout)"
        },
        pages,
        page: PAGE_SIZE,
        cost,
        seen,
        mmio_writes,
    }
}

/// What Linux issues for the same unmap (docs/performance.md lists the
/// sources): the iommu core cuts the range into the largest page sizes
/// the domain supports (`iommu_pgsize`); io-pgtable-arm flushes a removed
/// table's span at once (`tlb_flush_walk`, non-leaf) and gathers removed
/// leaves for `iotlb_sync`; `__arm_smmu_tlb_inv_range` covers a range with
/// RIL commands of up to 5 bits of page count each, or one command per
/// granule without RIL (v6.12); arm-smmu writes TLBIVAL per removed leaf at
/// once (`tlb_add_page`), TLBIVA per granule of a removed table's span
/// with its own TLBSYNC (`tlb_flush_walk`; TLBIASID instead on Qualcomm,
/// `flush_walk_prefer_tlbiasid`) and makes `iotlb_sync` one TLBSYNC;
/// virtio-iommu sends one UNMAP per `unmap_pages` call and kicks once in
/// `iotlb_sync`; sun50i clears PTEs and does one full flush in
/// `iotlb_sync`; apple-dart flushes the domain's streams whole in
/// `iotlb_sync` (T8020 layout: one STREAM_SELECT + STREAM_COMMAND per
/// stream set; T8110: one TLB_CMD per stream).
pub fn linux(family: &str, pages: u64) -> &'static str {
    match (family, pages) {
        ("SMMUv3, RIL", _) => "1 TLBI_NH_VA + 1 CMD_SYNC (1 CMDQ_PROD write)",
        ("SMMUv3, no RIL", 1) => "1 TLBI_NH_VA + 1 CMD_SYNC (1 CMDQ_PROD write)",
        ("SMMUv3, no RIL", 3) => "3 TLBI_NH_VA + 1 CMD_SYNC (1 CMDQ_PROD write)",
        ("SMMUv3, no RIL", 512) => {
            "v6.12: 512 TLBI_NH_VA + 1 CMD_SYNC (8 CMDQ_PROD writes); 2025 series: 1 TLBI_NH_ASID + 1 CMD_SYNC"
        }
        ("SMMUv3, no RIL", 262_144) => {
            "v6.12: 262,144 TLBI_NH_VA + 1 CMD_SYNC (4,096 CMDQ_PROD writes); 2025 series: 1 TLBI_NH_ASID + 1 CMD_SYNC"
        }
        ("virtio-iommu", 3) => "2 UNMAP (8 KiB and 4 KiB chunks) + 1 notify",
        ("virtio-iommu", _) => "1 UNMAP + 1 notify",
        ("sun50i (H616)", _) => "1 full flush: 1 TLB_FLUSH_ENABLE write + polls",
        ("SMMUv2 (MMU-500)" | "SMMUv2 (Qualcomm MMU-500)", 1) => {
            "1 TLBIVAL + 1 TLBSYNC (2 writes)"
        }
        ("SMMUv2 (MMU-500)" | "SMMUv2 (Qualcomm MMU-500)", 3) => {
            "3 TLBIVAL + 1 TLBSYNC (4 writes)"
        }
        ("SMMUv2 (MMU-500)", 512) => {
            "512 TLBIVA + 2 TLBSYNC (514 writes): the 2 MiB chunk finds a table, flushed by walk with its own TLBSYNC, then `iotlb_sync`"
        }
        ("SMMUv2 (MMU-500)", 262_144) => {
            "262,144 TLBIVA + 2 TLBSYNC (262,146 writes): the 1 GiB chunk finds a table"
        }
        ("SMMUv2 (Qualcomm MMU-500)", _) => {
            "1 TLBIASID + 2 TLBSYNC (3 writes): a freed table's walk flush is TLBIASID (`flush_walk_prefer_tlbiasid`)"
        }
        ("DART t8103 (T8020 layout)", _) => {
            "1 stream-set flush: STREAM_SELECT + STREAM_COMMAND (2 writes) + polls"
        }
        ("DART t8110 (T8110 layout)", _) => "1 TLB_CMD FLUSH_SID per stream (1 write) + polls",
        _ => "?",
    }
}

/// Every family × every size.
pub fn rows() -> Vec<Row> {
    let mut v = Vec::new();
    for &p in &PAGES {
        v.push(smmuv3(true, p));
    }
    for &p in &PAGES {
        v.push(smmuv3(false, p));
    }
    for &p in &PAGES {
        v.push(virtio_iommu(p));
    }
    for &p in &PAGES {
        v.push(sun50i(p));
    }
    for qcom in [false, true] {
        for &p in &PAGES {
            v.push(smmuv2(qcom, p));
        }
    }
    for t8110 in [false, true] {
        for &p in &DART_PAGES {
            v.push(dart(t8110, p));
        }
    }
    v
}

/// The markdown table docs/performance.md keeps.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| driver | pages | driver's count | what the model saw | MMIO writes | Linux for the same unmap |\n\
         |---|---:|---:|---|---:|---|\n",
    );
    for r in rows {
        let pages = if r.page == PAGE {
            format!("{}", r.pages)
        } else {
            format!("{} × {} KiB", r.pages, r.page >> 10)
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.family,
            pages,
            r.cost,
            r.seen,
            r.mmio_writes,
            linux(r.family, r.pages)
        ));
    }
    s
}

/// The shapes docs/performance.md states: every unmap is invalidated; the
/// 1 GiB unmap costs at most 4 invalidations and 8 register writes in every
/// family; below it, a family without range invalidation (SMMUv3 without
/// RIL, SMMUv2) pays at most one operation per page, and never more than
/// one last-level table's span of them (`MAX_VA_OPS`, 512).
#[test]
fn every_unmap_is_invalidated_and_none_costs_per_page() {
    use super::smmuv2::adapter::MAX_VA_OPS;
    let all = rows();
    let seen = |family: &str, pages: u64| -> &str {
        &all.iter()
            .find(|r| r.family == family && r.pages == pages)
            .unwrap_or_else(|| panic!("no row {family} {pages}"))
            .seen
    };
    for r in &all {
        assert!(
            r.cost >= 1,
            "{r:?}: an unmap that removed pages was not invalidated"
        );
        assert!(r.mmio_writes >= 1, "{r:?}: the IOMMU was never told");
        let cap = r.pages.clamp(4, MAX_VA_OPS);
        assert!(
            r.cost <= cap && r.mmio_writes <= cap + 4,
            "{r:?}: more than one operation per page, or more than a table's span of them"
        );
    }
    let large: Vec<&Row> = all.iter().filter(|r| r.pages * r.page == GIB).collect();
    assert_eq!(large.len(), 8, "one 1 GiB row per driver");
    for r in large {
        assert!(
            r.cost <= 4 && r.mmio_writes <= 8,
            "{r:?}: the cost grows with the size"
        );
    }
    // SMMUv3 with RIL: one range command and its sync, whatever the size,
    // as Linux; without RIL, per page up to the context-wide threshold.
    for &p in &PAGES {
        assert_eq!(
            seen("SMMUv3, RIL", p),
            "1 TLBI_NH_VA + 1 CMD_SYNC",
            "{p} pages"
        );
    }
    assert_eq!(seen("SMMUv3, no RIL", 3), "3 TLBI_NH_VA + 1 CMD_SYNC");
    assert_eq!(seen("SMMUv3, no RIL", 512), "1 TLBI_NH_ASID + 1 CMD_SYNC");
    assert_eq!(seen("virtio-iommu", 3), "1 UNMAP");
    // SMMUv2: leaves by TLBIVAL, a freed table's span by TLBIVA (as
    // Linux), TLBIASID past MAX_VA_OPS (Linux: one TLBIVA per page) and
    // for any freed table on Qualcomm (as Linux); one TLBSYNC each.
    for fam in ["SMMUv2 (MMU-500)", "SMMUv2 (Qualcomm MMU-500)"] {
        assert_eq!(seen(fam, 1), "1 TLBIVAL + 1 TLBSYNC", "{fam}");
        assert_eq!(seen(fam, 3), "3 TLBIVAL + 1 TLBSYNC", "{fam}");
        assert_eq!(seen(fam, 262_144), "1 TLBIASID + 1 TLBSYNC", "{fam}");
    }
    assert_eq!(seen("SMMUv2 (MMU-500)", 512), "512 TLBIVA + 1 TLBSYNC");
    assert_eq!(
        seen("SMMUv2 (Qualcomm MMU-500)", 512),
        "1 TLBIASID + 1 TLBSYNC"
    );
    // DART: one whole-stream flush whatever the size, as Linux; two
    // register writes on the T8020 layout (select + command), one on
    // T8110 (the stream's TLB_OP).
    for r in all.iter().filter(|r| r.family.starts_with("DART")) {
        let writes = if r.family.contains("T8110") { 1 } else { 2 };
        assert_eq!((r.cost, r.mmio_writes), (1, writes), "{r:?}");
    }
}

/// Writes the table to `$IOMMU_BRINGUP_COST_TABLE` (or prints it):
/// `cargo xtask cost` runs this.
#[test]
#[ignore]
fn write_cost_table() {
    let table = render(&rows());
    match std::env::var("IOMMU_BRINGUP_COST_TABLE") {
        Ok(path) => std::fs::write(&path, &table).unwrap(),
        Err(_) => std::print!("{table}"),
    }
}
