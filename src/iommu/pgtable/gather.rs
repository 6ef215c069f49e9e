//! The record of what one unmap removed.
//!
//! The page-table walker fills it while it clears entries (the driver cannot:
//! its mutators are crate-private), and the core turns it into the driver's
//! sync.  "Empty" means exactly "nothing was unmapped": no leaf cleared, no
//! table freed.  That is the project's answer to the 2026 Linux regression,
//! where drivers that never filled the gather lost their `iotlb_sync`
//! (docs/design.md §3, "The sync contract").
//!
//! Nothing outside the crate can add to a gather (or reset one), so no driver
//! can decide what the core syncs:
//!
//! ```compile_fail
//! let mut g = iommu_bringup::iommu::Gather::new();
//! g.add_leaves(0x1000, 0x1000, 0x1000, 1); // crate-private
//! ```
//!
//! Table pages removed from the tree are parked here, not freed: walk caches
//! may still point into them until the non-leaf invalidation has completed
//! (docs/hw/lpae.md §6.2 step 3), so the core frees them only after the sync.
#![forbid(unsafe_code)]

use super::TablePage;
use crate::mm::Iova;
use alloc::vec::Vec;

/// What an unmap removed: the IOVA span to invalidate, the leaf sizes seen,
/// freed tables and block splits.
#[derive(Debug, Default)]
pub struct Gather {
    start: u64,
    end: u64,
    leaf_sizes: u64,
    leaves: u64,
    unmapped: u64,
    tables_freed: u32,
    bbm_breaks: u32,
    /// The first few parked pages live inline so a typical unmap does not
    /// allocate; more spill to `freed`.  `inline[..parked]` are `Some`.
    inline: [Option<TablePage>; INLINE],
    parked: u8,
    freed: Vec<TablePage>,
}

const INLINE: usize = 4;

#[cfg(test)]
std::thread_local! {
    static DROP_LEAF_RECORDS: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Test-only mutation: while on (in this thread), the walker's records of
/// cleared leaves are lost, as in a walker that clears entries without
/// recording them — the gather of an unmap that frees no table is then
/// empty and the core issues no sync (the 2026 regression's shape).  Freed
/// tables are still recorded.  Returns the previous setting.
#[cfg(test)]
pub(crate) fn drop_leaf_records(on: bool) -> bool {
    DROP_LEAF_RECORDS.with(|c| c.replace(on))
}

impl Gather {
    /// An empty gather.
    pub const fn new() -> Self {
        Self {
            start: 0,
            end: 0,
            leaf_sizes: 0,
            leaves: 0,
            unmapped: 0,
            tables_freed: 0,
            bbm_breaks: 0,
            // Written out, not `[None; INLINE]`: the repeat was built as a
            // 160-byte template and copied in (a `memcpy` call on x86-64 at
            // opt-level "s"; a gather is made for every unmap), the literal
            // is four discriminant stores (docs/performance.md, "What
            // makes it fast").  A change of INLINE fails to compile here.
            inline: [None, None, None, None],
            parked: 0,
            freed: Vec::new(),
        }
    }

    /// `true` when nothing was unmapped (no leaf cleared, no table freed).
    pub fn is_empty(&self) -> bool {
        self.leaves == 0 && self.tables_freed == 0
    }

    /// The IOVA span that needs invalidating, as `(start, size)`.
    pub fn range(&self) -> Option<(Iova, u64)> {
        (!self.is_empty()).then(|| (Iova(self.start), self.end - self.start))
    }

    /// Bit mask of the leaf sizes cleared: bit `n` set when a leaf of `1 << n`
    /// bytes was removed (the TTL/granule hint of range invalidations).
    pub fn leaf_sizes(&self) -> u64 {
        self.leaf_sizes
    }

    /// The smallest leaf size cleared, if any.
    pub fn min_leaf_size(&self) -> Option<u64> {
        (self.leaf_sizes != 0).then(|| 1u64 << self.leaf_sizes.trailing_zeros())
    }

    /// Number of leaf descriptors cleared.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Bytes of IOVA space that were mapped and no longer are.
    pub fn unmapped_bytes(&self) -> u64 {
        self.unmapped
    }

    /// Number of table pages removed from the tree; non-zero means the
    /// invalidation must include walk caches (non-leaf).
    pub fn tables_freed(&self) -> u32 {
        self.tables_freed
    }

    /// `true` when only leaf entries changed (a leaf-only invalidation is enough).
    pub fn leaf_only(&self) -> bool {
        self.tables_freed == 0 && self.bbm_breaks == 0
    }

    /// Number of blocks broken (replaced by an invalid entry, invalidated,
    /// then replaced by a table) to unmap part of them.
    pub fn bbm_breaks(&self) -> u32 {
        self.bbm_breaks
    }

    /// Table pages waiting for the sync before they may be reused.
    pub fn pending_frees(&self) -> impl Iterator<Item = &TablePage> + '_ {
        self.inline[..usize::from(self.parked)]
            .iter()
            .flatten()
            .chain(self.freed.iter())
    }

    fn widen(&mut self, iova: u64, size: u64) {
        let end = iova.saturating_add(size);
        if self.start == self.end {
            self.start = iova;
            self.end = end;
        } else {
            self.start = self.start.min(iova);
            self.end = self.end.max(end);
        }
    }

    /// Records `count` leaves of `leaf` bytes cleared inside `[iova, iova + span)`.
    pub(crate) fn add_leaves(&mut self, iova: u64, span: u64, leaf: u64, count: u64) {
        if count == 0 {
            return;
        }
        #[cfg(test)]
        if DROP_LEAF_RECORDS.with(|c| c.get()) {
            return;
        }
        self.widen(iova, span);
        self.leaf_sizes |= leaf;
        self.leaves += count;
        self.unmapped += count * leaf;
    }

    /// Records that `[iova, iova + size)` stopped being mapped as part of a
    /// broken block (the block itself is recorded with [`Self::add_break`]).
    pub(crate) fn add_unmapped(&mut self, size: u64) {
        self.unmapped += size;
    }

    /// Records a block of `size` bytes at `iova` that was broken for a split.
    pub(crate) fn add_break(&mut self, iova: u64, size: u64) {
        self.widen(iova, size);
        self.leaf_sizes |= size;
        self.leaves += 1;
        self.bbm_breaks += 1;
    }

    /// Records a table spanning `[iova, iova + span)` removed from the tree.
    pub(crate) fn add_freed_table(&mut self, iova: u64, span: u64, page: TablePage) {
        self.widen(iova, span);
        self.tables_freed += 1;
        match self.inline.get_mut(usize::from(self.parked)) {
            Some(slot) => {
                *slot = Some(page);
                self.parked += 1;
            }
            None => self.freed.push(page),
        }
    }

    /// Takes the parked table pages (after the sync).
    pub(crate) fn take_frees(&mut self) -> impl Iterator<Item = TablePage> {
        let mut v = Vec::new();
        self.drain_frees(|p| v.push(p));
        v.into_iter()
    }

    /// Hands each parked table page to `f`, oldest first, and forgets it
    /// (after the sync).
    pub(crate) fn drain_frees(&mut self, mut f: impl FnMut(TablePage)) {
        for slot in &mut self.inline[..usize::from(self.parked)] {
            if let Some(p) = slot.take() {
                f(p);
            }
        }
        self.parked = 0;
        if !self.freed.is_empty() {
            for p in self.freed.drain(..) {
                f(p);
            }
        }
    }
}
