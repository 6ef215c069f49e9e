//! Page-table memory from the DMA frame pool: the target-side
//! [`TableMemory`] (docs/design.md §2.2, "Seams → Memory").
//!
//! Every table page is a [`DmaBuf`], so the walker gets both the CPU address
//! it writes through and the bus address the IOMMU walks, and every entry
//! access is one [`DmaBuf::read_u64`]/[`DmaBuf::write_u64`] (or the 32-bit
//! forms): a single-copy-atomic load or store, never torn, which is what a
//! walker reading descriptors concurrently needs (docs/hw/lpae.md §6.1).  No
//! `unsafe` here: the buffers do the accesses.
//!
//! When the IOMMU's walker does not snoop CPU caches (`dma-coherent` absent),
//! [`TableMemory::clean`] cleans through the shared cache-maintenance service
//! ([`CacheMaintenance`], on target boot's `CpuCaches`: `DC CVAC` + `DSB`), or
//! through a bare clean hook (host tests: a no-op or a counter).
//!
//! Addresses this memory did not hand out are refused without panicking:
//! [`TableMemory::lookup`] returns `None`, reads return 0 (an invalid
//! descriptor in every format we support), writes and frees are ignored, and
//! each refused write, clean or free is counted in [`PoolTables::refused`]
//! so tests and the self-test can tell (reads cannot count: the trait gives
//! them `&self`).
#![forbid(unsafe_code)]

use super::{TableMemory, TablePage, TableRef};
use crate::mm::cache::{CacheMaintenance, DmaBarrier};
use crate::mm::dma_pool::{DmaBuf, DmaError, DmaPool};
use crate::mm::{BusAddr, VirtAddr};
use alloc::vec::Vec;
use core::fmt;

/// Table addresses to ids, sorted by address: a domain has tens to a few
/// hundred tables, so a sorted vector's binary search is as quick as a
/// tree and much smaller in the image than a `BTreeMap` instance.
#[derive(Default)]
struct ByAddr(Vec<(u64, usize)>);

impl ByAddr {
    fn insert(&mut self, addr: u64, id: usize) {
        match self.0.binary_search_by_key(&addr, |e| e.0) {
            Ok(i) => self.0[i].1 = id,
            Err(i) => self.0.insert(i, (addr, id)),
        }
    }

    fn get(&self, addr: u64) -> Option<usize> {
        let i = self.0.binary_search_by_key(&addr, |e| e.0).ok()?;
        Some(self.0[i].1)
    }

    fn remove(&mut self, addr: u64) {
        if let Ok(i) = self.0.binary_search_by_key(&addr, |e| e.0) {
            self.0.remove(i);
        }
    }

    /// The entry with the greatest address at or below `addr`.
    fn at_or_below(&self, addr: u64) -> Option<(u64, usize)> {
        let n = self.0.partition_point(|e| e.0 <= addr);
        n.checked_sub(1).map(|i| self.0[i])
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// How [`TableMemory::clean`] reaches the CPU caches.
#[derive(Clone, Copy)]
enum Cleaner<'p> {
    /// A bare `clean(cpu_address, len)` routine.
    Hook(fn(usize, usize)),
    /// The shared cache-maintenance service.
    Service(&'p dyn CacheMaintenance),
}

impl Cleaner<'_> {
    fn clean(self, addr: usize, len: usize) {
        match self {
            Cleaner::Hook(f) => f(addr, len),
            Cleaner::Service(c) => c.clean(addr, len),
        }
    }

    /// The DMA write barrier (the service's, `DMB OSHST` on target; a
    /// release fence with a bare hook).
    fn publish(self) {
        match self {
            Cleaner::Hook(_) => core::sync::atomic::fence(core::sync::atomic::Ordering::Release),
            Cleaner::Service(c) => c.barrier(DmaBarrier::Write),
        }
    }
}

/// Page tables allocated from a [`DmaPool`].
pub struct PoolTables<'p> {
    pool: &'p DmaPool,
    /// Live tables by [`TablePage::id`]; `None` = free slot.
    tables: Vec<Option<DmaBuf<'p>>>,
    /// Free ids, reused first so ids stay dense.
    free_ids: Vec<usize>,
    /// Bus address of a table's first byte → id.
    by_bus: ByAddr,
    /// CPU address of a table's first byte → id.
    by_cpu: ByAddr,
    coherent: bool,
    cleaner: Cleaner<'p>,
    cleans: u64,
    publishes: u64,
    refused: u64,
    last_error: Option<DmaError>,
}

impl fmt::Debug for PoolTables<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolTables")
            .field("pool", &self.pool.range())
            .field("live", &self.by_bus.len())
            .field("coherent", &self.coherent)
            .field("cleans", &self.cleans)
            .field("refused", &self.refused)
            .finish()
    }
}

impl<'p> PoolTables<'p> {
    /// Tables from `pool`.  `walker_coherent`: the IOMMU's table walker
    /// snoops CPU caches (DT `dma-coherent`), so [`TableMemory::clean`] is
    /// never needed; otherwise every written range is passed to
    /// `clean_hook(cpu_address, len)`.  Host tests use this form; on target
    /// use [`PoolTables::with_cache`].
    pub fn new(pool: &'p DmaPool, walker_coherent: bool, clean_hook: fn(usize, usize)) -> Self {
        Self::build(pool, walker_coherent, Cleaner::Hook(clean_hook))
    }

    /// Tables from `pool`, cleaned through the shared cache-maintenance
    /// service when the walker does not snoop (`walker_coherent` false).
    pub fn with_cache(
        pool: &'p DmaPool,
        walker_coherent: bool,
        cache: &'p dyn CacheMaintenance,
    ) -> Self {
        Self::build(pool, walker_coherent, Cleaner::Service(cache))
    }

    fn build(pool: &'p DmaPool, walker_coherent: bool, cleaner: Cleaner<'p>) -> Self {
        Self {
            pool,
            tables: Vec::new(),
            free_ids: Vec::new(),
            by_bus: ByAddr::default(),
            by_cpu: ByAddr::default(),
            coherent: walker_coherent,
            cleaner,
            cleans: 0,
            publishes: 0,
            refused: 0,
            last_error: None,
        }
    }

    /// Table pages currently allocated.
    pub fn live_tables(&self) -> usize {
        self.by_bus.len()
    }

    /// How many times [`TableMemory::clean`] ran the hook.
    pub fn cleans(&self) -> u64 {
        self.cleans
    }

    /// How many publication barriers ([`TableMemory::publish`]) were issued.
    pub fn publishes(&self) -> u64 {
        self.publishes
    }

    /// Writes, cleans and frees refused because the address was not in a
    /// table this memory handed out (should stay 0).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The pool the tables come from.
    pub fn pool(&self) -> &'p DmaPool {
        self.pool
    }

    /// The table holding `[at, at + len)` and the offset of `at` in it.
    fn locate(&self, at: VirtAddr, len: usize) -> Option<(&DmaBuf<'p>, usize)> {
        let (base, id) = self.by_cpu.at_or_below(at.as_u64())?;
        let buf = self.tables.get(id)?.as_ref()?;
        let off = usize::try_from(at.as_u64() - base).ok()?;
        (off.checked_add(len)? <= buf.len()).then_some((buf, off))
    }

    /// The pool's blocks are whole frames naturally aligned to their
    /// power-of-two size, so asking for max(bytes, align) rounded up to a
    /// power of two gives both.
    fn block_bytes(bytes: usize, align: usize) -> Option<u64> {
        Some(bytes.max(align).max(1).checked_next_power_of_two()? as u64)
    }

    /// Records a pool allocation as a table page.
    fn install(&mut self, buf: Result<DmaBuf<'p>, DmaError>, align: usize) -> Option<TablePage> {
        let buf = match buf {
            Ok(buf) => buf,
            Err(e) => {
                self.last_error = Some(e);
                return None;
            }
        };
        let bus = buf.bus_addr();
        let virt = buf.cpu_addr();
        if !bus.is_aligned(align.max(1) as u64) || !virt.is_aligned(align.max(1) as u64) {
            // A bus offset that breaks the alignment: refuse rather than
            // hand the walker a misaligned table.
            return None;
        }
        let page_bytes = buf.len();
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.tables.push(None);
                self.tables.len() - 1
            }
        };
        self.tables[id] = Some(buf);
        self.by_bus.insert(bus.as_u64(), id);
        self.by_cpu.insert(virt.as_u64(), id);
        Some(TablePage {
            virt,
            bus,
            bytes: page_bytes,
            id,
        })
    }

    /// Why the last table allocation the pool refused was refused (for
    /// example [`DmaError::NoneBelow`] naming the address limit), or `None`
    /// if none was.
    pub fn last_error(&self) -> Option<DmaError> {
        self.last_error
    }

    fn note_refused(&mut self) {
        self.refused = self.refused.saturating_add(1);
    }
}

impl TableMemory for PoolTables<'_> {
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
        let want = Self::block_bytes(bytes, align)?;
        let buf = self.pool.alloc(want);
        self.install(buf, align)
    }

    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        let want = Self::block_bytes(bytes, align)?;
        let buf = self.pool.alloc_below(want, limit);
        self.install(buf, align)
    }

    fn free_table(&mut self, page: TablePage) {
        let ours = self.by_bus.get(page.bus.as_u64()) == Some(page.id)
            && self.by_cpu.get(page.virt.as_u64()) == Some(page.id);
        if !ours {
            self.note_refused();
            return;
        }
        self.by_bus.remove(page.bus.as_u64());
        self.by_cpu.remove(page.virt.as_u64());
        if let Some(slot) = self.tables.get_mut(page.id) {
            // Dropping the DmaBuf returns its frames to the pool.
            *slot = None;
            self.free_ids.push(page.id);
        }
    }

    fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
        let id = self.by_bus.get(bus.as_u64())?;
        let buf = self.tables.get(id)?.as_ref()?;
        Some(TableRef {
            virt: buf.cpu_addr(),
            id,
        })
    }

    fn read_u64(&self, at: VirtAddr) -> u64 {
        match self.locate(at, 8) {
            Some((buf, off)) if off.is_multiple_of(8) => buf.read_u64(off),
            _ => 0,
        }
    }

    fn write_u64(&mut self, at: VirtAddr, val: u64) {
        match self.locate(at, 8) {
            Some((buf, off)) if off.is_multiple_of(8) => buf.write_u64(off, val),
            _ => self.note_refused(),
        }
    }

    fn read_u32(&self, at: VirtAddr) -> u32 {
        match self.locate(at, 4) {
            Some((buf, off)) if off.is_multiple_of(4) => buf.read_u32(off),
            _ => 0,
        }
    }

    fn write_u32(&mut self, at: VirtAddr, val: u32) {
        match self.locate(at, 4) {
            Some((buf, off)) if off.is_multiple_of(4) => buf.write_u32(off, val),
            _ => self.note_refused(),
        }
    }

    /// One table lookup for the whole run, then single-copy-atomic stores.
    fn fill(&mut self, at: VirtAddr, entry_bytes: usize, first: u64, step: u64, count: usize) {
        let len = entry_bytes.saturating_mul(count);
        match self.locate(at, len) {
            Some((buf, off)) if entry_bytes == 8 && off.is_multiple_of(8) => {
                let mut d = first;
                for k in 0..count {
                    buf.write_u64(off + 8 * k, d);
                    d = d.wrapping_add(step);
                }
            }
            Some((buf, off)) if entry_bytes == 4 && off.is_multiple_of(4) => {
                let mut d = first;
                for k in 0..count {
                    buf.write_u32(off + 4 * k, d as u32);
                    d = d.wrapping_add(step);
                }
            }
            _ => self.note_refused(),
        }
    }

    fn walker_coherent(&self) -> bool {
        self.coherent
    }

    fn clean(&mut self, at: VirtAddr, len: usize) {
        if self.coherent || len == 0 {
            return;
        }
        // Only clean memory we own: cache maintenance by VA on someone
        // else's range is at best useless.
        if self.locate(at, len).is_none() {
            self.note_refused();
            return;
        }
        let Ok(addr) = usize::try_from(at.as_u64()) else {
            self.note_refused();
            return;
        };
        self.cleaner.clean(addr, len);
        self.cleans += 1;
    }

    /// Coherent or not, through the cache service's write barrier.
    fn publish(&mut self) {
        self.cleaner.publish();
        self.publishes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::pgtable::{Gather, Granule, Lpae, PageTable, Prot};
    use crate::mm::host_ram::{self, HostRam};
    use crate::mm::{Iova, PhysAddr};
    use core::sync::atomic::{AtomicUsize, Ordering};

    fn no_clean(_: usize, _: usize) {}

    #[test]
    fn tables_are_zeroed_aligned_and_resolvable_by_bus_address() {
        let ram = HostRam::new(1 << 20);
        let pool = ram.pool();
        let mut t = PoolTables::new(&pool, true, no_clean);
        let free0 = pool.free_bytes();
        let a = t.alloc_table(4096, 4096).unwrap();
        let b = t.alloc_table(64, 16384).unwrap();
        assert!(a.bus.is_aligned(4096) && b.bus.is_aligned(16384));
        assert_eq!(b.bytes, 16384);
        assert_ne!(a.id, b.id);
        assert_eq!(t.read_u64(a.virt + 8), 0);
        t.write_u64(a.virt + 8, 0x1122_3344_5566_7788);
        // The model side (by bus address) sees the same bytes.
        assert_eq!(
            host_ram::read_u64(a.bus.as_u64() + 8),
            0x1122_3344_5566_7788
        );
        assert_eq!(t.read_u32(a.virt + 12), 0x1122_3344);
        t.write_u32(a.virt + 16, 0xdead_beef);
        assert_eq!(host_ram::read_u64(a.bus.as_u64() + 16), 0xdead_beef);
        assert_eq!(t.read_u32(a.virt + 16), 0xdead_beef);
        assert_eq!(
            t.lookup(b.bus),
            Some(TableRef {
                virt: b.virt,
                id: b.id
            })
        );
        assert_eq!(t.live_tables(), 2);
        t.free_table(a);
        assert_eq!(t.lookup(a.bus), None);
        // Ids are reused (dense).
        let c = t.alloc_table(4096, 4096).unwrap();
        assert_eq!(c.id, a.id);
        assert_eq!(t.read_u64(c.virt + 8), 0, "a reused table is zeroed");
        t.free_table(b);
        t.free_table(c);
        assert_eq!(pool.free_bytes(), free0, "frames returned to the pool");
        assert_eq!(t.refused(), 0);
    }

    #[test]
    fn foreign_addresses_are_refused_without_panicking() {
        let ram = HostRam::new(1 << 20);
        let pool = ram.pool();
        let mut t = PoolTables::new(&pool, false, no_clean);
        let a = t.alloc_table(4096, 4096).unwrap();
        // Not a table base, outside every table, misaligned, past the end.
        assert_eq!(t.lookup(BusAddr(a.bus.as_u64() + 8)), None);
        assert_eq!(t.lookup(BusAddr(0x1234_5000)), None);
        assert_eq!(t.read_u64(VirtAddr(0x10)), 0);
        assert_eq!(t.read_u64(a.virt + 4), 0);
        assert_eq!(t.read_u64(a.virt + 4096), 0);
        assert_eq!(t.read_u32(a.virt + 2), 0);
        t.write_u64(VirtAddr(0x10), 1);
        t.write_u64(a.virt + 4092, 1);
        t.write_u32(a.virt + 4096, 1);
        t.clean(a.virt + 4000, 200);
        t.free_table(TablePage {
            bus: BusAddr(a.bus.as_u64() + 4096),
            ..a
        });
        assert_eq!(t.refused(), 5);
        assert_eq!(t.live_tables(), 1);
        let mut all_zero = true;
        for i in 0..512 {
            all_zero &= t.read_u64(a.virt + 8 * i) == 0;
        }
        assert!(all_zero, "refused writes did not land in the table");
    }

    #[test]
    fn a_fill_finds_its_table_once_and_stays_inside_it() {
        let ram = HostRam::new(1 << 20);
        let pool = ram.pool();
        let mut t = PoolTables::new(&pool, true, no_clean);
        let a = t.alloc_table(4096, 4096).unwrap();
        t.fill(a.virt + 8, 8, 0x1003, 0x1000, 3);
        let words: Vec<u64> = (0..5).map(|i| t.read_u64(a.virt + 8 * i)).collect();
        assert_eq!(words, [0, 0x1003, 0x2003, 0x3003, 0]);
        t.fill(a.virt + 16, 4, 0x11, 0x100, 2);
        assert_eq!(t.read_u32(a.virt + 16), 0x11);
        assert_eq!(t.read_u32(a.virt + 20), 0x111);
        assert_eq!(t.refused(), 0);
        // Past the end of the table: refused as a whole, nothing written.
        t.fill(a.virt + 4088, 8, 7, 1, 2);
        assert_eq!(t.read_u64(a.virt + 4088), 0);
        assert_eq!(t.refused(), 1);
    }

    static CLEANED: AtomicUsize = AtomicUsize::new(0);
    fn count_clean(_: usize, len: usize) {
        CLEANED.fetch_add(len, Ordering::Relaxed);
    }

    #[test]
    fn clean_hook_runs_only_for_a_non_coherent_walker() {
        let ram = HostRam::new(2 << 20);
        let pool = ram.pool();
        let mut coherent = PoolTables::new(&pool, true, count_clean);
        let a = coherent.alloc_table(4096, 4096).unwrap();
        coherent.clean(a.virt, 64);
        assert_eq!(coherent.cleans(), 0);
        let before = CLEANED.load(Ordering::Relaxed);
        // A real page table over non-coherent pool memory cleans what it writes.
        let mut pt = PageTable::new(
            Lpae::new(Granule::K4, 32, 40, false).unwrap(),
            PoolTables::new(&pool, false, count_clean),
        )
        .unwrap();
        let mut g = Gather::new();
        pt.map(
            Iova(0x10_0000),
            PhysAddr(0x4000_0000),
            0x2000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        assert!(pt.memory().cleans() > 0);
        assert!(CLEANED.load(Ordering::Relaxed) > before);
        let t = pt.translate(Iova(0x10_1008)).unwrap();
        assert_eq!(t.phys, PhysAddr(0x4000_1008));
        assert_eq!(pt.memory().refused(), 0);
    }

    /// Counts bytes cleaned through the shared service; nothing else.
    struct CountingService(AtomicUsize);
    impl CacheMaintenance for CountingService {
        fn clean(&self, _: usize, len: usize) {
            self.0.fetch_add(len, Ordering::Relaxed);
        }
        fn clean_invalidate(&self, _: usize, _: usize) {
            unreachable!("table memory only cleans");
        }
        fn invalidate(&self, _: usize, _: usize) {
            unreachable!("table memory only cleans");
        }
    }

    static WRITE_BARRIERS: AtomicUsize = AtomicUsize::new(0);
    struct BarrierCounter;
    impl CacheMaintenance for BarrierCounter {
        fn clean(&self, _: usize, _: usize) {}
        fn clean_invalidate(&self, _: usize, _: usize) {}
        fn invalidate(&self, _: usize, _: usize) {}
        fn barrier(&self, kind: DmaBarrier) {
            assert_eq!(kind, DmaBarrier::Write);
            WRITE_BARRIERS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Issue 11 item 2: a coherent walker gets the service's write barrier
    /// (DMB OSHST on target) for every new table and at the end of a map.
    #[test]
    fn publication_barrier_goes_through_the_cache_service_even_when_coherent() {
        let ram = HostRam::new(2 << 20);
        let pool = ram.pool();
        let mut pt = PageTable::new(
            Lpae::new(Granule::K4, 32, 40, true).unwrap(),
            PoolTables::with_cache(&pool, true, &BarrierCounter),
        )
        .unwrap();
        let before = WRITE_BARRIERS.load(Ordering::Relaxed);
        let mut g = Gather::new();
        pt.map(
            Iova(0x10_0000),
            PhysAddr(0x4000_0000),
            0x1000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        // Two new tables (L2, L3 under a 3-level root) and the end of the map.
        assert_eq!(pt.memory().publishes(), 1 + 3, "root + 2 tables + map");
        assert_eq!(WRITE_BARRIERS.load(Ordering::Relaxed) - before, 3);
        assert_eq!(pt.memory().cleans(), 0);
    }

    #[test]
    fn the_shared_cache_service_cleans_for_a_non_coherent_walker() {
        let ram = HostRam::new(1 << 20);
        let pool = ram.pool();
        let svc = CountingService(AtomicUsize::new(0));
        let mut coherent = PoolTables::with_cache(&pool, true, &svc);
        let a = coherent.alloc_table(4096, 4096).unwrap();
        coherent.clean(a.virt, 64);
        assert_eq!(svc.0.load(Ordering::Relaxed), 0);
        let mut t = PoolTables::with_cache(&pool, false, &svc);
        let b = t.alloc_table(4096, 4096).unwrap();
        t.clean(b.virt, 64);
        assert_eq!((t.cleans(), svc.0.load(Ordering::Relaxed)), (1, 64));
    }
}
