//! Where page-table pages come from, and how the engine reads and writes them.
//!
//! The engine never dereferences a pointer: it asks a [`TableMemory`] to
//! allocate a table page (getting the CPU address it writes through and the bus
//! address the IOMMU walker uses), to read and write entries, and to clean the
//! cache lines it wrote when the walker does not snoop CPU caches
//! (docs/design.md §2.2, "Seams → Memory"; docs/hw/lpae.md §6.1 step 4 for why every PTE write is
//! cleaned on a non-coherent walker).
//!
//! On target the DMA frame pool implements this trait (that is where the
//! `unsafe` pointer accesses and `DC CVAC` live); on the host
//! [`RamArena`](super::RamArena) does, with the tables stored as bytes a model
//! can walk.
#![forbid(unsafe_code)]

use crate::mm::{BusAddr, VirtAddr};

/// One allocated table page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TablePage {
    /// Where the CPU reads and writes the table.
    pub virt: VirtAddr,
    /// Where the IOMMU walker finds the table.
    pub bus: BusAddr,
    /// Size in bytes (a power of two, the allocation is aligned to it).
    pub bytes: usize,
    /// Small dense number the allocator assigns (for example the page's index
    /// in its pool); the walker uses it to keep per-table bookkeeping.
    pub id: usize,
}

/// A table found by following a descriptor: its CPU address and its id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TableRef {
    /// Where the CPU reads and writes the table.
    pub virt: VirtAddr,
    /// The id the allocator gave the page (see [`TablePage::id`]).
    pub id: usize,
}

/// `true` when every byte of `page` has a bus address below `limit`.
pub(crate) fn table_below(page: &TablePage, limit: u64) -> bool {
    page.bus
        .as_u64()
        .checked_add(page.bytes as u64)
        .is_some_and(|end| end <= limit)
}

/// Allocation of, and access to, page-table memory.
pub trait TableMemory {
    /// Allocates a zeroed table of `bytes` bytes aligned to `align` (both
    /// powers of two).  `None` when memory is exhausted.
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage>;

    /// Like [`alloc_table`](Self::alloc_table), but every byte of the table
    /// must have a bus address below `limit` (a format whose descriptors and
    /// base register hold 32-bit addresses, [`Codec::table_address_limit`];
    /// docs/hw/sun50i.md §4.2).  `None` when no such memory is free.
    ///
    /// The default allocates anywhere and gives back a page that is not
    /// entirely below the limit: never wrong, but it may fail while memory
    /// below the limit is still free.  Memories that can choose where they
    /// allocate ([`PoolTables`](super::PoolTables),
    /// [`RamArena`](super::RamArena)) override it.
    ///
    /// [`Codec::table_address_limit`]: super::Codec::table_address_limit
    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        let page = self.alloc_table(bytes, align)?;
        if table_below(&page, limit) {
            Some(page)
        } else {
            self.free_table(page);
            None
        }
    }

    /// Returns a table page.  The engine only calls this once no walker can
    /// reach the page any more (after the invalidation that followed its
    /// removal).
    fn free_table(&mut self, page: TablePage);

    /// Like [`free_table`](Self::free_table) for a page the engine knows is
    /// all zero (it cleared every entry it had written), so an allocator
    /// that zero-fills on allocation may hand it out again without doing
    /// so.  The default frees it like any other page.
    fn free_zeroed_table(&mut self, page: TablePage) {
        self.free_table(page);
    }

    /// Like [`free_table`](Self::free_table) for a page the engine knows
    /// is zero apart from the entries at indices `live` (entries of
    /// `entry_bytes`; a table detached whole while it held a few leaves),
    /// so an allocator that zero-fills on allocation may clear just those.
    /// The default frees it like any other page.
    fn free_sparse_table(&mut self, page: TablePage, entry_bytes: usize, live: &[u16]) {
        let _ = (entry_bytes, live);
        self.free_table(page);
    }

    /// Resolves a bus address found in a table descriptor back to the table.
    /// `None` if the address is not a table this memory handed out.
    fn lookup(&self, bus: BusAddr) -> Option<TableRef>;

    /// Reads a 64-bit little-endian entry.
    fn read_u64(&self, at: VirtAddr) -> u64;
    /// Writes a 64-bit little-endian entry (a single-copy-atomic store on target).
    fn write_u64(&mut self, at: VirtAddr, val: u64);
    /// Reads a 32-bit little-endian entry.
    fn read_u32(&self, at: VirtAddr) -> u32;
    /// Writes a 32-bit little-endian entry.
    fn write_u32(&mut self, at: VirtAddr, val: u32);

    /// Writes `count` entries of `entry_bytes` (8 or 4) from `at`: the
    /// first `first`, each next one `step` more (a run of leaves whose
    /// descriptors grow by the page size; `Codec::leaf_step`).  The default
    /// writes them one by one; a memory that can find the table once for
    /// the whole run overrides it.
    fn fill(&mut self, at: VirtAddr, entry_bytes: usize, first: u64, step: u64, count: usize) {
        let mut d = first;
        for k in 0..count {
            let a = VirtAddr(at.0 + (k * entry_bytes) as u64);
            if entry_bytes == 8 {
                self.write_u64(a, d);
            } else {
                self.write_u32(a, d as u32);
            }
            d = d.wrapping_add(step);
        }
    }

    /// `true` when the IOMMU's table walker snoops CPU caches
    /// (`dma-coherent` in the device tree); then [`clean`](Self::clean) is
    /// never called.
    fn walker_coherent(&self) -> bool;

    /// Cleans `[at, at + len)` from the CPU caches to the point of coherency
    /// and orders it before later accesses (on target `DC CVAC` + `DSB`).
    fn clean(&mut self, at: VirtAddr, len: usize);
    /// Publication barrier: every table write made so far is observed by the
    /// walker before any later one (Linux's `dma_wmb()` between zero-filling
    /// a table and linking it in `arm_lpae_install_table`, and the `wmb()`
    /// at the end of a map; docs/hw/lpae.md §6.1).  On a coherent walker
    /// there is no clean to order things, so without it a walk through the
    /// new descriptor may see the page's old contents (a recycled page's
    /// stale descriptors) or a master told to start may miss the new leaf.
    /// The engine calls it after every table allocation (before the link)
    /// and at the end of every map and unmap.  On target `DMB OSHST`; the
    /// default is a release fence, enough for host models.
    fn publish(&mut self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    }
}
