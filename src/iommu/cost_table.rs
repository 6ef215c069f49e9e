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
//! Adding a family (SMMUv2, DART): write `fn <family>(pages) -> Row` like
//! [`sun50i`] over the family's model, put its Linux column in
//! [`linux`], and add it to [`rows`].
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
        cost,
        seen,
        mmio_writes,
    }
}

/// Maps `pages` pages at 1 GiB (one `map_pages`), then the neighbour page
/// after them (its own map), to output addresses from `phys`.
fn map_n_and_neighbour<C, M, T, I>(dom: &mut Domain<C, M, T>, iommu: &mut I, pages: u64, phys: u64)
where
    C: super::pgtable::Codec,
    M: super::pgtable::TableMemory,
    T: Copy + Eq + core::fmt::Debug,
    I: super::Iommu<Format = C, Tag = T>,
{
    dom.map_pages(iommu, Iova(GIB), PhysAddr(phys), PAGE, pages, Prot::rw())
        .unwrap();
    dom.map(
        iommu,
        Iova(GIB + pages * PAGE),
        PhysAddr(phys + pages * PAGE),
        PAGE,
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
        cost,
        seen: format!("{cost} full flush (TLB_FLUSH_ENABLE)"),
        mmio_writes,
    }
}

/// What Linux issues for the same unmap (docs/performance.md lists the
/// sources): the iommu core cuts the range into the largest page sizes
/// the domain supports (`iommu_pgsize`); io-pgtable-arm flushes a removed
/// table's span at once (`tlb_flush_walk`, non-leaf) and gathers removed
/// leaves for `iotlb_sync`; `__arm_smmu_tlb_inv_range` covers a range with
/// RIL commands of up to 5 bits of page count each, or one command per
/// granule without RIL (v6.12); virtio-iommu sends one UNMAP per
/// `unmap_pages` call and kicks once in `iotlb_sync`; sun50i clears PTEs
/// and does one full flush in `iotlb_sync`.
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
    // SMMUv2 and DART: add their rows here (see the module docs).
    v
}

/// The markdown table docs/performance.md keeps.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| driver | pages | driver's count | what the model saw | MMIO writes | Linux for the same unmap |\n\
         |---|---:|---:|---|---:|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.family,
            r.pages,
            r.cost,
            r.seen,
            r.mmio_writes,
            linux(r.family, r.pages)
        ));
    }
    s
}

/// The shapes docs/performance.md states: every unmap is invalidated, and
/// no driver pays per page for a large unmap.
#[test]
fn every_unmap_is_invalidated_and_none_costs_per_page() {
    for r in rows() {
        assert!(
            r.cost >= 1,
            "{r:?}: an unmap that removed pages was not invalidated"
        );
        assert!(r.mmio_writes >= 1, "{r:?}: the IOMMU was never told");
        assert!(
            r.cost <= 4 && r.mmio_writes <= 8,
            "{r:?}: the cost grows with the size"
        );
    }
    // SMMUv3 with RIL: one range command and its sync, whatever the size,
    // as Linux; without RIL, per page up to the context-wide threshold.
    for &p in &PAGES {
        assert_eq!(
            smmuv3(true, p).seen,
            "1 TLBI_NH_VA + 1 CMD_SYNC",
            "{p} pages"
        );
    }
    assert_eq!(smmuv3(false, 3).seen, "3 TLBI_NH_VA + 1 CMD_SYNC");
    assert_eq!(smmuv3(false, 512).seen, "1 TLBI_NH_ASID + 1 CMD_SYNC");
    assert_eq!(virtio_iommu(3).seen, "1 UNMAP");
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
