//! The one page-table walker, generic over a descriptor [`Codec`] and a
//! [`TableMemory`].
//!
//! It maps ranges with the largest leaves alignment allows (or exactly the
//! page size asked for), unmaps into a [`Gather`], frees tables whose last
//! entry went away, splits blocks with break-before-make when an unmap covers
//! only part of one, and walks in software for `translate`.
//!
//! Bookkeeping: per table (indexed by [`TablePage::id`]) a count of live
//! entries and bounds on where they sit ([`Meta`]), so "this table is now
//! empty" costs nothing, and an unmap that covers every live entry of a
//! last-level table detaches it without reading it.  Ordering
//! rules follow docs/hw/lpae.md §6: a new table is zeroed and made visible before the
//! descriptor pointing at it is written; cleared tables are parked in the
//! gather until the invalidation has completed.
#![forbid(unsafe_code)]

use super::memory::table_below;
use super::{BreakFlush, Codec, Gather, NotLive, PgTableError, Prot, Pte, TableMemory, TablePage};
use super::{TableRef, TranslateError};
use crate::mm::{BusAddr, Iova, PhysAddr, VirtAddr};
use alloc::vec::Vec;

/// The result of a software walk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Translation {
    /// Output address of the IOVA.
    pub phys: PhysAddr,
    /// Level of the leaf that mapped it.
    pub level: u8,
    /// Size of that leaf (page or block).
    pub leaf_size: u64,
    /// Its permissions.
    pub prot: Prot,
}

/// How many live entries a table's [`Meta`] can name exactly.
const FEW: usize = 4;

/// What the walker knows about one table without reading it.
#[derive(Clone, Copy, Debug)]
struct Meta {
    /// Live (non-invalid) entries.
    live: u32,
    /// Every live entry's index is in `lo..=hi` (conservative: an unmap
    /// that does not know what is left does not narrow it; reset when the
    /// table empties).  `lo > hi` when the table is empty.
    lo: u32,
    hi: u32,
    /// When `known`: the indices of the live entries (`live` ≤ [`FEW`] of
    /// them), so unmapping a page of a sparse table needs no read of it.
    few: [u16; FEW],
    known: bool,
}

impl Meta {
    const EMPTY: Self = Self {
        live: 0,
        lo: u32::MAX,
        hi: 0,
        few: [0; FEW],
        known: true,
    };

    /// `Some(live)` when the entry at `idx` is known to be live or not
    /// without reading it.
    #[inline]
    fn knows(&self, idx: usize) -> Option<bool> {
        if self.live == 0 || idx < self.lo as usize || idx > self.hi as usize {
            return Some(false);
        }
        self.known
            .then(|| self.few[..self.live as usize].contains(&(idx as u16)))
    }
}

/// A page table of format `C` whose pages live in `M`.
#[derive(Debug)]
pub struct PageTable<C: Codec, M: TableMemory> {
    codec: C,
    mem: M,
    root: TablePage,
    meta: Vec<Meta>,
    tables: usize,
}

/// Allocates a table for `level`, below the codec's table-address limit if
/// it has one.  A page the memory placed above the limit anyway is given
/// back unlinked and refused: the format could not point at it.
fn alloc_for<C: Codec, M: TableMemory>(
    codec: &C,
    mem: &mut M,
    level: u8,
) -> Result<TablePage, PgTableError> {
    let bytes = codec.table_bytes(level);
    let align = codec.table_align(level);
    let Some(limit) = codec.table_address_limit() else {
        return mem
            .alloc_table(bytes, align)
            .ok_or(PgTableError::OutOfMemory { level, bytes });
    };
    let refused = PgTableError::OutOfMemoryBelow {
        level,
        bytes,
        limit,
    };
    let page = mem.alloc_table_below(bytes, align, limit).ok_or(refused)?;
    if !table_below(&page, limit) {
        mem.free_table(page);
        return Err(refused);
    }
    Ok(page)
}

/// A failure inside the recursive map, with how far the map had got.
struct MapStop {
    err: PgTableError,
    at: u64,
}

impl<C: Codec, M: TableMemory> PageTable<C, M> {
    /// Allocates the top table.
    pub fn new(codec: C, mut mem: M) -> Result<Self, PgTableError> {
        let level = codec.start_level();
        let bytes = codec.table_bytes(level);
        let root = alloc_for(&codec, &mut mem, level)?;
        if !mem.walker_coherent() {
            mem.clean(root.virt, bytes);
        }
        // The zeroed root is visible before anyone points the IOMMU at it.
        mem.publish();
        let mut pt = Self {
            codec,
            mem,
            root,
            meta: Vec::new(),
            tables: 1,
        };
        pt.reset_meta(root.id);
        Ok(pt)
    }

    /// The format.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The table memory (for models that walk it).
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Mutable access to the table memory.
    pub fn memory_mut(&mut self) -> &mut M {
        &mut self.mem
    }

    /// Bus address of the top table (what TTBR/TTB0 is programmed with).
    pub fn root(&self) -> BusAddr {
        self.root.bus
    }

    /// Table pages in the tree, the top table included.
    pub fn table_pages(&self) -> usize {
        self.tables
    }

    /// Maps `[iova, iova + size)` to `[phys, phys + size)` using the largest
    /// leaves the alignment of both allows.
    ///
    /// On failure nothing of this call stays mapped: entries already written
    /// are cleared again and recorded in `gather`, which the caller must sync
    /// like any unmap.  On success `gather` is untouched.
    pub fn map(
        &mut self,
        iova: Iova,
        phys: PhysAddr,
        size: u64,
        prot: Prot,
        gather: &mut Gather,
    ) -> Result<(), PgTableError> {
        let g = self.codec.granule();
        self.check_map(iova, phys, size, g, prot)?;
        let r = self.map_checked(iova.0, phys.0, size, prot, u64::MAX, gather);
        // The new descriptors are visible before the caller lets a master
        // use them (Linux: `wmb()` at the end of `arm_lpae_map_pages`).
        self.mem.publish();
        r
    }

    /// Maps `count` leaves of exactly `page_size` bytes (a page or block size
    /// of the format), like Linux's `map_pages`.
    pub fn map_pages(
        &mut self,
        iova: Iova,
        phys: PhysAddr,
        page_size: u64,
        count: u64,
        prot: Prot,
        gather: &mut Gather,
    ) -> Result<(), PgTableError> {
        if !self.is_leaf_size(page_size) {
            return Err(PgTableError::UnsupportedPageSize { page_size });
        }
        let size = page_size
            .checked_mul(count)
            .ok_or(PgTableError::IovaOutOfRange {
                iova,
                size: u64::MAX,
                input_bits: self.codec.input_bits(),
            })?;
        self.check_map(iova, phys, size, page_size, prot)?;
        let r = self.map_checked(iova.0, phys.0, size, prot, page_size, gather);
        self.mem.publish();
        r
    }

    /// Unmaps whatever is mapped in `[iova, iova + size)` and returns the
    /// number of bytes that stopped being mapped.  Holes are skipped.
    ///
    /// Cleared leaves and removed tables are recorded in `gather`; removed
    /// table pages stay parked there until [`release`](Self::release).  A
    /// block only partly inside the range is split with break-before-make,
    /// calling `flush` between the break and the make.
    pub fn unmap(
        &mut self,
        iova: Iova,
        size: u64,
        gather: &mut Gather,
        flush: &mut impl BreakFlush,
    ) -> Result<u64, PgTableError> {
        let g = self.codec.granule();
        if size == 0 {
            return Err(PgTableError::ZeroSize { iova });
        }
        // The granule is a power of two.
        if (iova.0 | size) & (g - 1) != 0 {
            return Err(PgTableError::Unaligned {
                iova,
                phys: PhysAddr(0),
                size,
                align: g,
            });
        }
        let end = self.check_iova(iova, size)?;
        if size == g {
            if let Some(unmapped) = self.unmap_page(iova.0, gather) {
                self.mem.publish();
                return Ok(unmapped);
            }
        }
        let before = gather.unmapped_bytes();
        let level = self.codec.start_level();
        let root = self.root_ref();
        let r = self.unmap_level(
            level,
            root,
            iova.0,
            end,
            gather,
            flush as &mut dyn BreakFlush,
        );
        // The cleared descriptors are visible before the invalidation that
        // the caller issues next.
        self.mem.publish();
        r?;
        Ok(gather.unmapped_bytes() - before)
    }

    /// Returns the table pages parked in `gather` to the memory.  Call only
    /// after the invalidation for that gather has completed.
    ///
    /// A page whose entries were all cleared one by one (its live count is
    /// 0) is known to be zero and freed with
    /// [`TableMemory::free_zeroed_table`]; a last-level table detached
    /// whole still holds its old leaves: freed with
    /// [`TableMemory::free_sparse_table`] naming them when they are the few
    /// the walker knows, as it is otherwise.
    pub fn release(&mut self, gather: &mut Gather) {
        let width = self.codec.entry_bytes();
        gather.drain_frees(|page| {
            let m = self.meta_of(page.id);
            if m.live == 0 {
                self.mem.free_zeroed_table(page);
            } else if m.known {
                self.mem
                    .free_sparse_table(page, width, &m.few[..m.live as usize]);
            } else {
                self.mem.free_table(page);
            }
        });
    }

    /// Walks the tables for `iova` like the hardware would.
    pub fn translate(&self, iova: Iova) -> Result<Translation, TranslateError> {
        if iova.0 >> self.codec.input_bits() != 0 {
            return Err(TranslateError::OutOfRange { iova });
        }
        let mut t = self.root_ref();
        let mut level = self.codec.start_level();
        loop {
            let shift = self.codec.level_shift(level);
            let raw = self.rd(t.virt, self.index(level, iova.0));
            match self.codec.decode(level, raw) {
                Pte::Invalid => return Err(TranslateError::NotMapped { iova, level }),
                Pte::Leaf(oa) => {
                    let span = 1u64 << shift;
                    return Ok(Translation {
                        phys: PhysAddr(oa.0 + (iova.0 & (span - 1))),
                        level,
                        leaf_size: span,
                        prot: self.codec.leaf_prot(level, raw),
                    });
                }
                Pte::Table(next) => {
                    if level >= self.codec.last_level() {
                        return Err(TranslateError::CorruptTable { level, next });
                    }
                    t = self
                        .mem
                        .lookup(next)
                        .ok_or(TranslateError::CorruptTable { level, next })?;
                    level += 1;
                }
            }
        }
    }

    /// Frees every table (the caller has made sure no walker uses them any
    /// more) and gives the memory back.
    pub fn destroy(mut self) -> M {
        let level = self.codec.start_level();
        let root = self.root;
        self.free_subtree(level, root);
        self.mem
    }

    // ----- validation -------------------------------------------------------

    fn is_leaf_size(&self, size: u64) -> bool {
        (self.codec.start_level()..=self.codec.last_level())
            .any(|l| self.codec.leaf_allowed(l) && size == 1u64 << self.codec.level_shift(l))
    }

    fn check_iova(&self, iova: Iova, size: u64) -> Result<u64, PgTableError> {
        let input_bits = self.codec.input_bits();
        match iova.0.checked_add(size) {
            Some(end) if end <= 1u64 << input_bits => Ok(end),
            _ => Err(PgTableError::IovaOutOfRange {
                iova,
                size,
                input_bits,
            }),
        }
    }

    fn check_map(
        &self,
        iova: Iova,
        phys: PhysAddr,
        size: u64,
        align: u64,
        prot: Prot,
    ) -> Result<(), PgTableError> {
        if size == 0 {
            return Err(PgTableError::ZeroSize { iova });
        }
        if (iova.0 | phys.0 | size) & (align - 1) != 0 {
            return Err(PgTableError::Unaligned {
                iova,
                phys,
                size,
                align,
            });
        }
        self.check_iova(iova, size)?;
        let output_bits = self.codec.output_bits();
        match phys.0.checked_add(size) {
            Some(end) if end <= 1u64 << output_bits => {}
            _ => {
                return Err(PgTableError::PhysOutOfRange {
                    phys,
                    size,
                    output_bits,
                })
            }
        }
        if !self.codec.prot_supported(prot) {
            return Err(PgTableError::UnsupportedProt { iova });
        }
        Ok(())
    }

    // ----- entry access -----------------------------------------------------

    #[inline]
    fn root_ref(&self) -> TableRef {
        TableRef {
            virt: self.root.virt,
            id: self.root.id,
        }
    }

    #[inline]
    fn index(&self, level: u8, va: u64) -> usize {
        ((va >> self.codec.level_shift(level)) as usize) & (self.codec.level_entries(level) - 1)
    }

    #[inline]
    fn entry_at(&self, t: VirtAddr, i: usize) -> VirtAddr {
        VirtAddr(t.0 + (i * self.codec.entry_bytes()) as u64)
    }

    #[inline]
    fn rd(&self, t: VirtAddr, i: usize) -> u64 {
        let at = self.entry_at(t, i);
        if self.codec.entry_bytes() == 8 {
            self.mem.read_u64(at)
        } else {
            u64::from(self.mem.read_u32(at))
        }
    }

    #[inline]
    fn wr(&mut self, t: VirtAddr, i: usize, val: u64) {
        let at = self.entry_at(t, i);
        if self.codec.entry_bytes() == 8 {
            self.mem.write_u64(at, val);
        } else {
            self.mem.write_u32(at, val as u32);
        }
    }

    /// Cleans entries `first..=last` of a table if the walker is not coherent.
    fn clean_entries(&mut self, t: VirtAddr, first: usize, last: usize) {
        if first <= last && !self.mem.walker_coherent() {
            let len = (last - first + 1) * self.codec.entry_bytes();
            self.mem.clean(self.entry_at(t, first), len);
        }
    }

    fn reset_meta(&mut self, id: usize) {
        if id >= self.meta.len() {
            self.meta.resize(id + 1, Meta::EMPTY);
        }
        self.meta[id] = Meta::EMPTY;
    }

    #[inline]
    fn meta_of(&self, id: usize) -> Meta {
        self.meta.get(id).copied().unwrap_or(Meta::EMPTY)
    }

    #[inline]
    fn count(&self, id: usize) -> u32 {
        self.meta_of(id).live
    }

    /// Records `added` entries written live within `first..=last` (all of
    /// them when `added` is the run's length) and `removed` entries
    /// cleared somewhere (the table's live set stops being known).
    #[inline]
    fn adjust_count(&mut self, id: usize, added: u32, removed: u32, first: usize, last: usize) {
        if id >= self.meta.len() {
            self.meta.resize(id + 1, Meta::EMPTY);
        }
        let m = &mut self.meta[id];
        let before = m.live as usize;
        m.live = (m.live + added).saturating_sub(removed);
        if m.live == 0 {
            *m = Meta::EMPTY;
            return;
        }
        if added != 0 && first <= last {
            m.lo = m.lo.min(first as u32);
            m.hi = m.hi.max(last as u32);
        }
        let run = last.wrapping_sub(first).wrapping_add(1);
        if m.known
            && removed == 0
            && added as usize == run
            && m.live as usize <= FEW
            && last <= usize::from(u16::MAX)
        {
            for (k, i) in (first..=last).enumerate() {
                m.few[before + k] = i as u16;
            }
        } else if added != 0 || removed != 0 {
            m.known = false;
        }
    }

    /// Records the one live entry at `idx` cleared.
    #[inline]
    fn remove_one(&mut self, id: usize, idx: usize) {
        let Some(m) = self.meta.get_mut(id) else {
            return;
        };
        let n = m.live as usize;
        m.live = m.live.saturating_sub(1);
        if m.live == 0 {
            *m = Meta::EMPTY;
        } else if m.known {
            match m.few[..n].iter().position(|&i| usize::from(i) == idx) {
                Some(k) => {
                    m.few.swap(k, n - 1);
                    let few = &m.few[..n - 1];
                    m.lo = few.iter().copied().min().map_or(u32::MAX, u32::from);
                    m.hi = few.iter().copied().max().map_or(0, u32::from);
                }
                None => m.known = false,
            }
        }
    }

    /// `true` when every live entry of the table `id` at `level` lies in the
    /// byte range `[from, to)` of its span.
    #[inline]
    fn covers_all_live(&self, id: usize, level: u8, from: u64, to: u64) -> bool {
        let m = self.meta_of(id);
        let shift = self.codec.level_shift(level);
        // Entries wholly inside the range: a partly covered first or last
        // entry is not (granule-aligned ranges at the last level have none).
        let lo = from.div_ceil(1u64 << shift);
        let hi = (to >> shift).checked_sub(1);
        m.live == 0 || hi.is_some_and(|hi| u64::from(m.lo) >= lo && u64::from(m.hi) <= hi)
    }

    fn alloc_table(&mut self, level: u8) -> Result<TablePage, PgTableError> {
        let bytes = self.codec.table_bytes(level);
        let page = alloc_for(&self.codec, &mut self.mem, level)?;
        // The walker must see the zeroed table before any descriptor points
        // at it (docs/hw/lpae.md §6.1 step 2).
        if !self.mem.walker_coherent() {
            self.mem.clean(page.virt, bytes);
        }
        // Zero-fill before link: without this barrier a coherent walker may
        // follow the new table descriptor and read the page's previous
        // contents (Linux `dma_wmb()` in `arm_lpae_install_table`).
        self.mem.publish();
        self.reset_meta(page.id);
        self.tables += 1;
        Ok(page)
    }

    fn free_table_now(&mut self, page: TablePage) {
        self.tables -= 1;
        self.mem.free_table(page);
    }

    /// Frees a table and everything below it, without touching any parent.
    fn free_subtree(&mut self, level: u8, page: TablePage) {
        if level < self.codec.last_level() {
            let child_bytes = self.codec.table_bytes(level + 1);
            for i in 0..self.codec.level_entries(level) {
                if let Pte::Table(next) = self.codec.decode(level, self.rd(page.virt, i)) {
                    if let Some(r) = self.mem.lookup(next) {
                        let child = TablePage {
                            virt: r.virt,
                            bus: next,
                            bytes: child_bytes,
                            id: r.id,
                        };
                        self.free_subtree(level + 1, child);
                    }
                }
            }
        }
        self.free_table_now(page);
    }

    // ----- map --------------------------------------------------------------

    fn map_checked(
        &mut self,
        iova: u64,
        phys: u64,
        size: u64,
        prot: Prot,
        max_leaf: u64,
        gather: &mut Gather,
    ) -> Result<(), PgTableError> {
        let level = self.codec.start_level();
        let root = self.root_ref();
        match self.map_level(level, root, iova, iova + size, phys, prot, max_leaf, gather) {
            Ok(()) => Ok(()),
            Err(stop) => {
                // Undo exactly what this call wrote: everything before the
                // failure point (no block of ours straddles it, so no split).
                if stop.at > iova {
                    let root = self.root_ref();
                    let _ = self.unmap_level(level, root, iova, stop.at, gather, &mut NotLive);
                }
                Err(stop.err)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn map_level(
        &mut self,
        level: u8,
        t: TableRef,
        mut va: u64,
        end: u64,
        mut pa: u64,
        prot: Prot,
        max_leaf: u64,
        gather: &mut Gather,
    ) -> Result<(), MapStop> {
        let shift = self.codec.level_shift(level);
        let span = 1u64 << shift;
        let leaf_ok = self.codec.leaf_allowed(level) && span <= max_leaf;
        let mut idx = self.index(level, va);
        let entries = self.codec.level_entries(level);
        // An empty table has nothing to overlap: its entries need not be
        // read before they are written.  (Entries this call writes lie
        // below `idx`, so this stays true for the ones after it.)
        let empty = self.count(t.id) == 0;
        let mut added = 0u32;
        let mut removed = 0u32;
        let (mut first, mut last) = (usize::MAX, 0usize);
        let mut result = Ok(());
        while va < end {
            if leaf_ok && (va | pa) & (span - 1) == 0 && end - va >= span {
                // A run of whole, aligned leaves: write them in one tight
                // loop, stopping at the first entry that is not invalid
                // (handled below: overlap, or a table to descend into).
                let n = (((end - va) >> shift) as usize).min(entries - idx);
                let mut j = 0;
                if empty {
                    if let Some(step) = self.codec.leaf_step(level) {
                        let d = self.codec.encode_leaf(level, PhysAddr(pa), prot);
                        let at = self.entry_at(t.virt, idx);
                        self.mem.fill(at, self.codec.entry_bytes(), d, step, n);
                        j = n;
                    }
                }
                while j < n {
                    if !empty && self.codec.decode(level, self.rd(t.virt, idx + j)) != Pte::Invalid
                    {
                        break;
                    }
                    let d = self
                        .codec
                        .encode_leaf(level, PhysAddr(pa + j as u64 * span), prot);
                    self.wr(t.virt, idx + j, d);
                    j += 1;
                }
                if j > 0 {
                    added += j as u32;
                    first = first.min(idx);
                    last = idx + j - 1;
                    va += j as u64 * span;
                    pa += j as u64 * span;
                    idx += j;
                    continue;
                }
            }
            let next = (va | (span - 1)) + 1;
            let stop = next.min(end);
            let raw = self.rd(t.virt, idx);
            let whole = va & (span - 1) == 0 && stop == next;
            match self.codec.decode(level, raw) {
                Pte::Invalid if level < self.codec.last_level() => {
                    let child = match self.alloc_table(level + 1) {
                        Ok(c) => c,
                        Err(err) => {
                            result = Err(MapStop { err, at: va });
                            break;
                        }
                    };
                    let d = self.codec.encode_table(level, child.bus);
                    self.wr(t.virt, idx, d);
                    added += 1;
                    first = first.min(idx);
                    last = idx;
                    let cref = TableRef {
                        virt: child.virt,
                        id: child.id,
                    };
                    let r = self.map_level(level + 1, cref, va, stop, pa, prot, max_leaf, gather);
                    if let Err(e) = r {
                        if self.count(child.id) == 0 {
                            // Nothing landed in the new table: take it out
                            // again (parked; a walker may have seen it).
                            self.wr(t.virt, idx, 0);
                            removed += 1;
                            self.tables -= 1;
                            gather.add_freed_table(va & !(span - 1), span, child);
                        }
                        result = Err(e);
                        break;
                    }
                }
                Pte::Invalid => {
                    // Unreachable with checked input: the last level always
                    // takes granule-aligned leaves.
                    result = Err(MapStop {
                        err: PgTableError::UnsupportedPageSize { page_size: span },
                        at: va,
                    });
                    break;
                }
                Pte::Table(next) if !(leaf_ok && whole) && level < self.codec.last_level() => {
                    let Some(cref) = self.mem.lookup(next) else {
                        result = Err(MapStop {
                            err: PgTableError::CorruptTable { level, next },
                            at: va,
                        });
                        break;
                    };
                    let r = self.map_level(level + 1, cref, va, stop, pa, prot, max_leaf, gather);
                    if let Err(e) = r {
                        result = Err(e);
                        break;
                    }
                }
                Pte::Table(_) | Pte::Leaf(_) => {
                    result = Err(MapStop {
                        err: PgTableError::Overlap {
                            iova: Iova(va & !(span - 1)),
                            level,
                        },
                        at: va,
                    });
                    break;
                }
            }
            pa += stop - va;
            va = stop;
            idx += 1;
        }
        self.adjust_count(t.id, added, removed, first, last);
        self.clean_entries(t.virt, first, last);
        result
    }

    // ----- unmap ------------------------------------------------------------

    fn unmap_level(
        &mut self,
        level: u8,
        t: TableRef,
        mut va: u64,
        end: u64,
        gather: &mut Gather,
        flush: &mut dyn BreakFlush,
    ) -> Result<(), PgTableError> {
        let shift = self.codec.level_shift(level);
        let span = 1u64 << shift;
        let mut idx = self.index(level, va);
        let mut removed = 0u32;
        let (mut first, mut last) = (usize::MAX, 0usize);
        let (mut leaf_lo, mut leaf_hi, mut leaves) = (u64::MAX, 0u64, 0u64);
        let mut result = Ok(());
        while va < end {
            let next = (va | (span - 1)) + 1;
            let stop = next.min(end);
            let raw = self.rd(t.virt, idx);
            let base = va & !(span - 1);
            match self.codec.decode(level, raw) {
                Pte::Invalid => {}
                Pte::Leaf(_) if va == base && stop == next => {
                    // Clear this and the whole leaves that follow it in one
                    // tight run; gathered in one go below.
                    let whole = ((end - base) >> shift) as usize;
                    let run_end = idx + whole.min(self.codec.level_entries(level) - idx);
                    let mut j = idx;
                    while j < run_end
                        && matches!(self.codec.decode(level, self.rd(t.virt, j)), Pte::Leaf(_))
                    {
                        self.wr(t.virt, j, 0);
                        j += 1;
                    }
                    let n = j - idx;
                    removed += n as u32;
                    first = first.min(idx);
                    last = j - 1;
                    leaf_lo = leaf_lo.min(base);
                    leaf_hi = base + n as u64 * span;
                    leaves += n as u64;
                    va = leaf_hi;
                    idx = j;
                    continue;
                }
                Pte::Leaf(oa) => {
                    let r = self.split(level, t, idx, raw, base, oa.0, va, stop, gather, flush);
                    match r {
                        Ok(()) => {}
                        Err(e) => {
                            if matches!(e, PgTableError::BreakFlushFailed { .. }) {
                                removed += 1;
                            }
                            result = Err(e);
                            break;
                        }
                    }
                }
                Pte::Table(next_bus) => {
                    let Some(cref) = self
                        .mem
                        .lookup(next_bus)
                        .filter(|_| level < self.codec.last_level())
                    else {
                        result = Err(PgTableError::CorruptTable {
                            level,
                            next: next_bus,
                        });
                        break;
                    };
                    if level + 1 == self.codec.last_level()
                        && self.covers_all_live(cref.id, level + 1, va - base, stop - base)
                    {
                        // Every live entry of this last-level table is in
                        // the range (the whole table is, or its bounds say
                        // so): it goes whole, and its live entries are
                        // exactly its count, so detach it without reading
                        // them (as Linux frees a fully covered table).
                        // Walkers may still see its old contents until the
                        // sync, which covers its span non-leaf — the same
                        // invalidation as clearing them one by one and
                        // freeing the emptied table.
                        let leaf = 1u64 << self.codec.level_shift(level + 1);
                        gather.add_leaves(base, span, leaf, u64::from(self.count(cref.id)));
                        self.wr(t.virt, idx, 0);
                        removed += 1;
                        first = first.min(idx);
                        last = idx;
                        self.tables -= 1;
                        let page = TablePage {
                            virt: cref.virt,
                            bus: next_bus,
                            bytes: self.codec.table_bytes(level + 1),
                            id: cref.id,
                        };
                        gather.add_freed_table(base, span, page);
                        va = stop;
                        idx += 1;
                        continue;
                    }
                    let r = self.unmap_level(level + 1, cref, va, stop, gather, flush);
                    if self.count(cref.id) == 0 {
                        self.wr(t.virt, idx, 0);
                        removed += 1;
                        first = first.min(idx);
                        last = idx;
                        self.tables -= 1;
                        let page = TablePage {
                            virt: cref.virt,
                            bus: next_bus,
                            bytes: self.codec.table_bytes(level + 1),
                            id: cref.id,
                        };
                        gather.add_freed_table(base, span, page);
                    }
                    if let Err(e) = r {
                        result = Err(e);
                        break;
                    }
                }
            }
            va = stop;
            idx += 1;
        }
        if leaves != 0 {
            gather.add_leaves(leaf_lo, leaf_hi - leaf_lo, span, leaves);
        }
        self.adjust_count(t.id, 0, removed, first, last);
        self.clean_entries(t.virt, first, last);
        result
    }

    /// Unmaps the one page (granule) at `va` without recursion: walk down,
    /// clear the leaf, free the tables that became empty bottom up — the
    /// same gather and the same tables as [`unmap_level`](Self::unmap_level)
    /// makes for it, with less work per call (most unmaps are one page).
    /// Whether the page is live is taken from the table's [`Meta`] when it
    /// knows (a sparse table, or a page outside the live bounds), without
    /// reading the table; a page that is its table's only live entry is not
    /// even cleared — the table is detached whole.  Returns the bytes
    /// unmapped (the granule, or 0 when the page was not mapped); `None`,
    /// having changed nothing, when the general walk must decide (a block
    /// covers the page, a table pointer is corrupt).
    fn unmap_page(&mut self, va: u64, gather: &mut Gather) -> Option<u64> {
        const MAX_DEPTH: usize = 4;
        let last = self.codec.last_level();
        let mut level = self.codec.start_level();
        let mut t = self.root_ref();
        let mut bus = self.root.bus;
        // The tables above the last level: (table, its bus address, the
        // index followed).
        let mut path = [(t, bus, 0usize); MAX_DEPTH];
        let mut depth = 0;
        while level < last {
            let idx = self.index(level, va);
            match self.codec.decode(level, self.rd(t.virt, idx)) {
                Pte::Invalid => return Some(0),
                Pte::Leaf(_) => return None,
                Pte::Table(next) => {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    path[depth] = (t, bus, idx);
                    depth += 1;
                    t = self.mem.lookup(next)?;
                    bus = next;
                    level += 1;
                }
            }
        }
        let idx = self.index(last, va);
        match self.meta_of(t.id).knows(idx) {
            Some(false) => return Some(0),
            Some(true) => {}
            None => match self.codec.decode(last, self.rd(t.virt, idx)) {
                Pte::Invalid => return Some(0),
                Pte::Leaf(_) => {}
                Pte::Table(_) => return None,
            },
        }
        let span = 1u64 << self.codec.level_shift(last);
        gather.add_leaves(va, span, span, 1);
        // The table's only live entry: detach the table whole without
        // touching it, like a fully covered one (freed as it is after the
        // sync).  Otherwise clear the entry.
        let mut emptied = depth > 0 && self.count(t.id) == 1;
        if !emptied {
            self.wr(t.virt, idx, 0);
            self.clean_entries(t.virt, idx, idx);
            self.remove_one(t.id, idx);
            emptied = self.count(t.id) == 0;
        }
        while depth > 0 && emptied {
            depth -= 1;
            let (parent, parent_bus, pidx) = path[depth];
            let pspan = 1u64 << self.codec.level_shift(level - 1);
            self.wr(parent.virt, pidx, 0);
            self.clean_entries(parent.virt, pidx, pidx);
            self.remove_one(parent.id, pidx);
            self.tables -= 1;
            let page = TablePage {
                virt: t.virt,
                bus,
                bytes: self.codec.table_bytes(level),
                id: t.id,
            };
            gather.add_freed_table(va & !(pspan - 1), pspan, page);
            (t, bus) = (parent, parent_bus);
            level -= 1;
            emptied = self.count(t.id) == 0;
        }
        Some(span)
    }

    /// Unmaps `[va, stop)` out of the leaf at `t[idx]` (spanning
    /// `[base, base + span)`), keeping the rest mapped: build the replacement
    /// subtree off-line, break (write invalid), flush, make (point at the new
    /// table).  Arm ARM DDI0487 D8 "break-before-make"; docs/hw/lpae.md §6.3.
    #[allow(clippy::too_many_arguments)]
    fn split(
        &mut self,
        level: u8,
        t: TableRef,
        idx: usize,
        raw: u64,
        base: u64,
        oa: u64,
        va: u64,
        stop: u64,
        gather: &mut Gather,
        flush: &mut dyn BreakFlush,
    ) -> Result<(), PgTableError> {
        let span = 1u64 << self.codec.level_shift(level);
        let prot = self.codec.leaf_prot(level, raw);
        let child = self.build_split(level + 1, base, oa, prot, va, stop)?;
        // Break.
        self.wr(t.virt, idx, 0);
        self.clean_entries(t.virt, idx, idx);
        gather.add_break(base, span);
        gather.add_unmapped(stop - va);
        if !flush.flush_break(Iova(base), span, level) {
            // Never published: free it directly.  The whole block stays
            // unmapped.
            self.free_subtree(level + 1, child);
            gather.add_unmapped(span - (stop - va));
            return Err(PgTableError::BreakFlushFailed {
                iova: Iova(base),
                size: span,
            });
        }
        // Make: the filled child is visible before the descriptor that
        // links it.
        self.mem.publish();
        let d = self.codec.encode_table(level, child.bus);
        self.wr(t.virt, idx, d);
        self.clean_entries(t.virt, idx, idx);
        Ok(())
    }

    /// Builds a table at `level` that maps `[base, base + span(level - 1))` to
    /// `oa..` with `prot`, except the hole `[hole, hole_end)`.
    fn build_split(
        &mut self,
        level: u8,
        base: u64,
        oa: u64,
        prot: Prot,
        hole: u64,
        hole_end: u64,
    ) -> Result<TablePage, PgTableError> {
        let page = self.alloc_table(level)?;
        let span = 1u64 << self.codec.level_shift(level);
        let entries = self.codec.level_entries(level);
        let mut live = 0u32;
        let (mut first, mut last) = (usize::MAX, 0usize);
        for i in 0..entries {
            let s = base + i as u64 * span;
            let e = s + span;
            let o = oa + i as u64 * span;
            let d = if e <= hole || s >= hole_end {
                if self.codec.leaf_allowed(level) {
                    self.codec.encode_leaf(level, PhysAddr(o), prot)
                } else {
                    match self.build_split(level + 1, s, o, prot, 0, 0) {
                        Ok(c) => self.codec.encode_table(level, c.bus),
                        Err(err) => {
                            self.free_subtree(level, page);
                            return Err(err);
                        }
                    }
                }
            } else if (s >= hole && e <= hole_end) || level >= self.codec.last_level() {
                // Inside the hole.  (A last-level entry is never partly in a
                // granule-aligned hole.)
                continue;
            } else {
                match self.build_split(level + 1, s, o, prot, hole, hole_end) {
                    Ok(c) => self.codec.encode_table(level, c.bus),
                    Err(err) => {
                        self.free_subtree(level, page);
                        return Err(err);
                    }
                }
            };
            self.wr(page.virt, i, d);
            live += 1;
            first = first.min(i);
            last = i;
        }
        self.adjust_count(page.id, live, 0, first, last);
        self.clean_entries(page.virt, 0, entries - 1);
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::pgtable::{Granule, Lpae, RamArena};
    use std::vec;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        Alloc(u64),
        Write(u64),
        Publish,
    }

    /// A coherent table memory that records allocations, descriptor writes
    /// (their values) and publication barriers, in order.
    struct Recording {
        inner: RamArena,
        ops: Vec<Op>,
    }

    impl TableMemory for Recording {
        fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
            let p = self.inner.alloc_table(bytes, align)?;
            self.ops.push(Op::Alloc(p.bus.0));
            Some(p)
        }
        fn free_table(&mut self, page: TablePage) {
            self.inner.free_table(page)
        }
        fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
            self.inner.lookup(bus)
        }
        fn read_u64(&self, at: VirtAddr) -> u64 {
            self.inner.read_u64(at)
        }
        fn write_u64(&mut self, at: VirtAddr, val: u64) {
            self.ops.push(Op::Write(val));
            self.inner.write_u64(at, val)
        }
        fn read_u32(&self, at: VirtAddr) -> u32 {
            self.inner.read_u32(at)
        }
        fn write_u32(&mut self, at: VirtAddr, val: u32) {
            self.ops.push(Op::Write(u64::from(val)));
            self.inner.write_u32(at, val)
        }
        fn walker_coherent(&self) -> bool {
            true
        }
        fn clean(&mut self, _: VirtAddr, _: usize) {
            unreachable!("coherent walker")
        }
        fn publish(&mut self) {
            self.ops.push(Op::Publish);
        }
    }

    /// Issue 11 item 2: every new table is published (barrier) after its
    /// zero-fill and before the descriptor that links it, and a map and an
    /// unmap end with a barrier (Linux `arm_lpae_install_table`'s
    /// `dma_wmb()`, the `wmb()` after a map; docs/hw/lpae.md §6.1).  The old
    /// engine issued no barrier on a coherent walker.
    #[test]
    fn new_tables_are_published_before_they_are_linked_and_maps_end_with_a_barrier() {
        let mem = Recording {
            inner: RamArena::with_size(1 << 20),
            ops: vec![],
        };
        let mut pt = PageTable::new(Lpae::new(Granule::K4, 48, 48, true).unwrap(), mem).unwrap();
        let mut g = Gather::new();
        pt.memory_mut().ops.clear();
        pt.map(
            Iova(0x40_0000_0000),
            PhysAddr(0x8000_0000),
            0x3000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        let ops = pt.memory().ops.clone();
        let allocs: Vec<(usize, u64)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Op::Alloc(b) => Some((i, *b)),
                _ => None,
            })
            .collect();
        assert_eq!(allocs.len(), 3, "L1, L2, L3 tables under the root: {ops:?}");
        for (ai, bus) in allocs {
            let link = ops
                .iter()
                .position(
                    |o| matches!(o, Op::Write(v) if v & 3 == 3 && v & 0x0000_FFFF_FFFF_F000 == bus),
                )
                .expect("the table is linked");
            assert!(ai < link);
            assert!(
                ops[ai..link].contains(&Op::Publish),
                "no barrier between allocating {bus:#x} and linking it: {ops:?}"
            );
        }
        assert_eq!(ops.last(), Some(&Op::Publish), "map ends with a barrier");
        pt.memory_mut().ops.clear();
        let unmapped = pt
            .unmap(Iova(0x40_0000_0000), 0x1000, &mut g, &mut NotLive)
            .unwrap();
        assert_eq!(unmapped, 0x1000);
        let ops = &pt.memory().ops;
        assert_eq!(ops.first(), Some(&Op::Write(0)));
        assert_eq!(ops.last(), Some(&Op::Publish), "unmap ends with a barrier");
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::iommu::pgtable::{Granule, Lpae, RamArena, Sun50i};
    use core::cell::Cell;

    /// A coherent arena that counts entry reads inside one watched page.
    struct Counting {
        inner: RamArena,
        watch: Option<(u64, u64)>,
        reads: Cell<u64>,
        zeroed_frees: u64,
        plain_frees: u64,
        sparse_frees: u64,
    }

    impl Counting {
        fn new() -> Self {
            Self {
                inner: RamArena::with_size(4 << 20),
                watch: None,
                reads: Cell::new(0),
                zeroed_frees: 0,
                plain_frees: 0,
                sparse_frees: 0,
            }
        }
        fn note(&self, at: VirtAddr) {
            if let Some((lo, hi)) = self.watch {
                if (lo..hi).contains(&at.0) {
                    self.reads.set(self.reads.get() + 1);
                }
            }
        }
    }

    impl TableMemory for Counting {
        fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
            self.inner.alloc_table(bytes, align)
        }
        fn free_table(&mut self, page: TablePage) {
            self.plain_frees += 1;
            self.inner.free_table(page)
        }
        fn free_zeroed_table(&mut self, page: TablePage) {
            self.zeroed_frees += 1;
            self.inner.free_zeroed_table(page)
        }
        fn free_sparse_table(&mut self, page: TablePage, width: usize, live: &[u16]) {
            self.sparse_frees += 1;
            self.inner.free_sparse_table(page, width, live)
        }
        fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
            self.inner.lookup(bus)
        }
        fn read_u64(&self, at: VirtAddr) -> u64 {
            self.note(at);
            self.inner.read_u64(at)
        }
        fn write_u64(&mut self, at: VirtAddr, val: u64) {
            self.inner.write_u64(at, val)
        }
        fn read_u32(&self, at: VirtAddr) -> u32 {
            self.note(at);
            self.inner.read_u32(at)
        }
        fn write_u32(&mut self, at: VirtAddr, val: u32) {
            self.inner.write_u32(at, val)
        }
        fn walker_coherent(&self) -> bool {
            true
        }
        fn clean(&mut self, _: VirtAddr, _: usize) {}
    }

    const BASE: u64 = 0x40_0000_0000;

    fn lpae() -> Lpae {
        Lpae::new(Granule::K4, 48, 48, true).unwrap()
    }

    /// The last-level table holding `iova`, as (CPU address, bytes).
    fn leaf_table<C: Codec, M: TableMemory>(pt: &PageTable<C, M>, iova: u64) -> (u64, u64) {
        let mut t = pt.root_ref();
        let mut level = pt.codec.start_level();
        while level < pt.codec.last_level() {
            let raw = pt.rd(t.virt, pt.index(level, iova));
            let Pte::Table(next) = pt.codec.decode(level, raw) else {
                panic!("no table at level {level}");
            };
            t = pt.mem.lookup(next).unwrap();
            level += 1;
        }
        let bytes = pt.codec.table_bytes(level) as u64;
        (t.virt.0, t.virt.0 + bytes)
    }

    /// Mapping into a table that is empty writes its leaves without
    /// reading them; unmapping a page of a table whose few live entries
    /// are known does not read its table either, and one outside the live
    /// bounds is not looked for.  Past [`FEW`] live entries it reads.
    #[test]
    fn known_entries_are_not_read() {
        let mut pt = PageTable::new(lpae(), Counting::new()).unwrap();
        let mut g = Gather::new();
        let page = |i: u64| Iova(BASE + i * 0x1000);
        let map = |pt: &mut PageTable<Lpae, Counting>, i: u64, n: u64| {
            let mut g = Gather::new();
            pt.map(
                page(i),
                PhysAddr(0x9000_0000 + i * 0x1000),
                n * 0x1000,
                Prot::rw(),
                &mut g,
            )
            .unwrap();
        };
        let unmap = |pt: &mut PageTable<Lpae, Counting>, i: u64| {
            let mut g = Gather::new();
            let n = pt.unmap(page(i), 0x1000, &mut g, &mut NotLive).unwrap();
            pt.release(&mut g);
            let r = pt.memory().reads.get();
            (n, r)
        };
        map(&mut pt, 0, 1);
        pt.memory_mut().watch = Some(leaf_table(&pt, BASE));
        map(&mut pt, 16, 3);
        assert_eq!(
            pt.memory().reads.get(),
            3,
            "a table with entries checks each one it fills"
        );
        assert_eq!(
            unmap(&mut pt, 256),
            (0, 3),
            "outside the bounds: nothing read"
        );
        assert_eq!(unmap(&mut pt, 0), (0x1000, 3), "known live: cleared unread");
        assert_eq!(unmap(&mut pt, 17), (0x1000, 3));
        assert_eq!(unmap(&mut pt, 17), (0, 3), "known gone");
        map(&mut pt, 20, 2);
        assert_eq!(pt.memory().reads.get(), 5);
        assert_eq!(
            unmap(&mut pt, 21),
            (0x1000, 5),
            "four live entries are still known"
        );
        map(&mut pt, 21, 1);
        map(&mut pt, 30, 1);
        assert_eq!(pt.memory().reads.get(), 7);
        assert_eq!(unmap(&mut pt, 18), (0x1000, 8), "five are not: read");
        assert_eq!(pt.translate(page(20)).unwrap().phys.0, 0x9001_4000);
        assert!(pt.translate(page(18)).is_err());

        // A fresh empty table: the map reads none of its entries.
        let mut pt = PageTable::new(lpae(), Counting::new()).unwrap();
        pt.map(
            Iova(BASE),
            PhysAddr(0x8000_0000),
            0x1000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        let w = leaf_table(&pt, BASE);
        let n = pt.unmap(Iova(BASE), 0x1000, &mut g, &mut NotLive).unwrap();
        assert_eq!(n, 0x1000);
        pt.release(&mut g);
        pt.memory_mut().watch = Some(w);
        pt.map(
            Iova(BASE),
            PhysAddr(0x8000_0000),
            0x20_0000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        assert_eq!(pt.memory().reads.get(), 0);
    }

    /// Tables emptied entry by entry are freed as known-zero; a last-level
    /// table detached without visiting it is freed naming its few live
    /// entries when the walker knows them (a lone page's table), as it is
    /// otherwise (a fully covered one) — and the arena never hands out a
    /// block that is not zero.
    #[test]
    fn only_tables_known_to_be_zero_are_freed_as_zero() {
        let mut pt = PageTable::new(lpae(), Counting::new()).unwrap();
        let mut g = Gather::new();
        pt.map_pages(Iova(BASE), PhysAddr(0), 0x1000, 512, Prot::rw(), &mut g)
            .unwrap();
        // Whole last-level table: detached unread (0 reads), freed dirty.
        pt.memory_mut().watch = Some(leaf_table(&pt, BASE));
        let n = pt
            .unmap(Iova(BASE), 0x20_0000, &mut g, &mut NotLive)
            .unwrap();
        assert_eq!(n, 0x20_0000);
        assert_eq!(pt.memory().reads.get(), 0);
        assert_eq!(g.tables_freed(), 3, "the leaf table and the two above it");
        pt.release(&mut g);
        let frees = |pt: &PageTable<Lpae, Counting>| {
            let m = pt.memory();
            (m.plain_frees, m.zeroed_frees, m.sparse_frees)
        };
        assert_eq!(frees(&pt), (1, 2, 0));
        // Reuse: every table the next map gets is zero apart from what it wrote.
        pt.map(
            Iova(BASE + 0x5000),
            PhysAddr(0x7000),
            0x1000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        for p in 0..512u64 {
            let r = pt.translate(Iova(BASE + p * 0x1000));
            assert_eq!(r.is_ok(), p == 5, "page {p}: {r:?}");
        }
        // A lone page: its table detached unread and untouched (freed naming
        // the page's entry), the two above emptied entry by entry (zero).
        pt.memory_mut().watch = Some(leaf_table(&pt, BASE));
        let reads = pt.memory().reads.get();
        let mut g = Gather::new();
        let n = pt
            .unmap(Iova(BASE + 0x5000), 0x1000, &mut g, &mut NotLive)
            .unwrap();
        assert_eq!((n, g.tables_freed()), (0x1000, 3));
        assert_eq!(pt.memory().reads.get(), reads);
        pt.release(&mut g);
        assert_eq!(frees(&pt), (1, 4, 1));
        assert_eq!(pt.table_pages(), 1);
        // Reused: the page comes back zero (the arena cleared the one entry).
        pt.map(
            Iova(BASE + 0x9000),
            PhysAddr(0x7000),
            0x1000,
            Prot::rw(),
            &mut g,
        )
        .unwrap();
        for p in 0..512u64 {
            assert_eq!(
                pt.translate(Iova(BASE + p * 0x1000)).is_ok(),
                p == 9,
                "page {p}"
            );
        }
    }

    /// The one-page path and the general walk make the same gathers, the
    /// same tables and the same translations, over random map/unmap
    /// sequences on LPAE (with blocks, so the fallback for a page inside a
    /// block is taken too) and sun50i.
    #[test]
    fn one_page_unmap_matches_the_general_walk() {
        fn run<C: Codec + Clone>(
            codec: C,
            base: u64,
            block: u64,
            seed: u64,
            sparse: bool,
        ) -> usize {
            let page = codec.granule();
            let mut fast = PageTable::new(codec.clone(), RamArena::with_size(8 << 20)).unwrap();
            let mut slow = PageTable::new(codec, RamArena::with_size(8 << 20)).unwrap();
            let window = 4 * block / page;
            let mut x = seed;
            let mut rnd = |n: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % n
            };
            let mut single = 0;
            let per_block = block / page;
            for _ in 0..3000 {
                // Sparse: six candidate pages per last-level table, so
                // tables hover around a few live entries.
                let start = if sparse {
                    let slot = [0, 7, 100, 101, 200, per_block - 1][rnd(6) as usize];
                    rnd(4) * per_block + slot
                } else {
                    rnd(window)
                };
                let cap = if sparse {
                    1
                } else if rnd(4) == 0 {
                    window
                } else {
                    8
                };
                let len = 1 + rnd((window - start).min(cap));
                let iova = base + start * page;
                if rnd(2) == 0 {
                    let pa = if rnd(3) == 0 {
                        iova
                    } else {
                        page * (1 + rnd(1 << 18))
                    };
                    let (mut g1, mut g2) = (Gather::new(), Gather::new());
                    let r1 = fast.map(Iova(iova), PhysAddr(pa), len * page, Prot::rw(), &mut g1);
                    let r2 = slow.map(Iova(iova), PhysAddr(pa), len * page, Prot::rw(), &mut g2);
                    assert_eq!(r1, r2);
                    fast.release(&mut g1);
                    slow.release(&mut g2);
                    continue;
                }
                let (mut g1, mut g2) = (Gather::new(), Gather::new());
                let n1 = fast
                    .unmap(Iova(iova), len * page, &mut g1, &mut NotLive)
                    .unwrap();
                // The general walk, whatever the size.
                let level = slow.codec.start_level();
                let root = slow.root_ref();
                let before = g2.unmapped_bytes();
                slow.unmap_level(level, root, iova, iova + len * page, &mut g2, &mut NotLive)
                    .unwrap();
                slow.mem.publish();
                let n2 = g2.unmapped_bytes() - before;
                single += usize::from(len == 1);
                assert_eq!(n1, n2, "unmapped bytes at {iova:#x} + {len} pages");
                assert_eq!(g1.range(), g2.range(), "range at {iova:#x}");
                assert_eq!(
                    (
                        g1.leaves(),
                        g1.leaf_sizes(),
                        g1.tables_freed(),
                        g1.leaf_only()
                    ),
                    (
                        g2.leaves(),
                        g2.leaf_sizes(),
                        g2.tables_freed(),
                        g2.leaf_only()
                    ),
                    "gather at {iova:#x}"
                );
                fast.release(&mut g1);
                slow.release(&mut g2);
                assert_eq!(fast.table_pages(), slow.table_pages());
                for p in 0..window {
                    let a = Iova(base + p * page);
                    assert_eq!(fast.translate(a), slow.translate(a), "page {p}");
                }
            }
            single
        }
        assert!(run(lpae(), BASE, 0x20_0000, 0x1234_5678, false) > 100);
        assert!(run(Sun50i, 0x4000_0000, 0x10_0000, 0x8765_4321, false) > 100);
        assert!(run(lpae(), BASE, 0x20_0000, 0x5555_1234, true) > 1000);
        assert!(run(Sun50i, 0x4000_0000, 0x10_0000, 0x4242_4242, true) > 1000);
    }

    /// A run of leaves is written as one fill: the codecs that say their
    /// leaves grow linearly do.
    #[test]
    fn leaf_steps_are_what_encoding_gives() {
        let l = lpae();
        for level in [1u8, 2, 3] {
            let step = l.leaf_step(level).unwrap();
            let span = 1u64 << l.level_shift(level);
            for prot in [
                Prot::rw(),
                Prot::ro(),
                Prot {
                    exec: false,
                    ..Prot::rw()
                },
            ] {
                let oa = 5 * span;
                assert_eq!(
                    l.encode_leaf(level, PhysAddr(oa + span), prot),
                    l.encode_leaf(level, PhysAddr(oa), prot) + step
                );
            }
        }
        let s = Sun50i;
        let step = s.leaf_step(2).unwrap();
        assert_eq!(
            s.encode_leaf(2, PhysAddr(0xfff0_0000), Prot::ro()) + step,
            s.encode_leaf(2, PhysAddr(0xfff0_1000), Prot::ro())
        );
    }
}
