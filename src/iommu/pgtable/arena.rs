//! A simulated RAM arena: the host-side [`TableMemory`].
//!
//! Memory is a `Vec<u64>` of little-endian words that stands for a window of
//! bus addresses starting at `bus_base`.  Page tables live in it as plain
//! bytes, so a behavioural IOMMU model can walk them exactly like hardware
//! would (by bus address), and DMA master models can read and write buffers
//! allocated from the same arena.  The CPU side uses a *different* address
//! (`virt_base`) so mixing up CPU and bus addresses fails loudly in tests.
//!
//! Allocation: power-of-two size classes from 64 B to 64 KiB, each block
//! aligned to its size, with per-class free lists (no coalescing — the engine
//! only ever uses a handful of table sizes).  A block comes back zeroed from
//! `alloc_block`: blocks the engine freed as known-zero
//! ([`TableMemory::free_zeroed_table`]) sit on their own lists and are
//! handed out first, without filling them again, then blocks that are zero
//! but for a few named entries ([`TableMemory::free_sparse_table`]), which
//! get just those cleared.  It is plain safe code, so it also
//! builds on target, but the real target memory is the DMA frame pool.
#![forbid(unsafe_code)]

use super::{TableMemory, TablePage, TableRef};
use crate::mm::{BusAddr, VirtAddr};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

const MIN_SHIFT: u32 = 6;
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;

/// A Vec-backed stand-in for RAM that page tables and DMA buffers live in.
#[derive(Debug)]
pub struct RamArena {
    bus_base: u64,
    virt_base: u64,
    words: Vec<u64>,
    bump: u64,
    free: [Vec<u64>; CLASSES],
    /// Free blocks known to be all zero.
    zeroed: [Vec<u64>; CLASSES],
    /// Free blocks zero but for a few words: (offset, word indices, count).
    sparse: [Vec<(u64, [u32; 4], u8)>; CLASSES],
    coherent: bool,
    live_tables: usize,
    cleans: u64,
}

impl RamArena {
    /// An arena of `size` bytes (rounded up to 64 KiB) seen by devices at
    /// `bus_base` (64 KiB aligned) and by the CPU at `virt_base`.
    pub fn new(bus_base: BusAddr, virt_base: VirtAddr, size: usize, coherent: bool) -> Self {
        let size = size.next_multiple_of(1 << MAX_SHIFT);
        Self {
            bus_base: bus_base.0,
            virt_base: virt_base.0,
            words: vec![0; size / 8],
            bump: 0,
            free: Default::default(),
            zeroed: Default::default(),
            sparse: Default::default(),
            coherent,
            live_tables: 0,
            cleans: 0,
        }
    }

    /// An arena with conventional test addresses: bus 0x8000_0000, CPU
    /// 0xffff_0000_0000_0000 + the same offset, coherent walker.
    pub fn with_size(size: usize) -> Self {
        Self::new(
            BusAddr(0x8000_0000),
            VirtAddr(0xffff_0000_8000_0000),
            size,
            true,
        )
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.words.len() * 8
    }

    /// The first bus address of the arena.
    pub fn bus_base(&self) -> BusAddr {
        BusAddr(self.bus_base)
    }

    /// Table pages currently allocated (allocations minus frees).
    pub fn live_tables(&self) -> usize {
        self.live_tables
    }

    /// How many times [`TableMemory::clean`] was called.
    pub fn cleans(&self) -> u64 {
        self.cleans
    }

    /// Allocates a zeroed block for any use (DMA buffers in tests); same
    /// allocator as tables.  Returns its CPU and bus addresses.
    pub fn alloc_block(&mut self, bytes: usize, align: usize) -> Option<(VirtAddr, BusAddr)> {
        let class = class_of(bytes.max(align))?;
        if self.zeroed[class].is_empty() {
            if let Some((off, words, n)) = self.sparse[class].pop() {
                let w0 = (off / 8) as usize;
                for &w in &words[..usize::from(n)] {
                    self.words[w0 + w as usize] = 0;
                }
                self.zeroed[class].push(off);
            }
        }
        if let Some(off) = self.zeroed[class].pop() {
            let w = (off / 8) as usize;
            debug_assert!(
                self.words[w..w + (1usize << (class as u32 + MIN_SHIFT)) / 8]
                    .iter()
                    .all(|&x| x == 0),
                "a block freed as zero at offset {off:#x} was written afterwards"
            );
            return Some((VirtAddr(self.virt_base + off), BusAddr(self.bus_base + off)));
        }
        let off = match self.free[class].pop() {
            Some(off) => {
                let w = (off / 8) as usize;
                self.words[w..w + (1usize << (class as u32 + MIN_SHIFT)) / 8].fill(0);
                off
            }
            None => {
                let sz = 1u64 << (class as u32 + MIN_SHIFT);
                let off = self.bump.next_multiple_of(sz);
                let end = off.checked_add(sz)?;
                if end > self.size() as u64 {
                    return None;
                }
                // Fill the alignment hole with smaller blocks.
                let mut hole = self.bump;
                while hole < off {
                    let c = (hole.trailing_zeros().min(MAX_SHIFT) - MIN_SHIFT) as usize;
                    let c = largest_fitting(c, off - hole);
                    self.free[c].push(hole);
                    hole += 1u64 << (c as u32 + MIN_SHIFT);
                }
                self.bump = end;
                off
            }
        };
        Some((VirtAddr(self.virt_base + off), BusAddr(self.bus_base + off)))
    }

    /// Like [`alloc_block`](Self::alloc_block), but every byte of the block
    /// has a bus address below `limit`; `None` when no such block is free
    /// (the arena is full below the limit, or starts above it).
    pub fn alloc_block_below(
        &mut self,
        bytes: usize,
        align: usize,
        limit: u64,
    ) -> Option<(VirtAddr, BusAddr)> {
        let block = bytes.max(align).max(1).next_power_of_two() as u64;
        if self.bus_base.saturating_add(self.size() as u64) <= limit {
            return self.alloc_block(bytes, align);
        }
        if self.bus_base.saturating_add(block) > limit {
            return None;
        }
        // The arena straddles the limit: take blocks until one lies below
        // it, then give back the ones above (each try uses up a free block
        // or bump space, so this ends).
        let mut above = Vec::new();
        let found = loop {
            let Some((virt, bus)) = self.alloc_block(bytes, align) else {
                break None;
            };
            if bus.0.saturating_add(block) <= limit {
                break Some((virt, bus));
            }
            above.push(bus);
        };
        for bus in above {
            self.free_block(bus, bytes, align);
        }
        found
    }

    fn table_page(
        &mut self,
        virt: VirtAddr,
        bus: BusAddr,
        bytes: usize,
        align: usize,
    ) -> TablePage {
        self.live_tables += 1;
        TablePage {
            virt,
            bus,
            bytes: bytes.max(align).next_power_of_two(),
            id: self.id_of(bus.0 - self.bus_base),
        }
    }

    /// Returns a block from [`alloc_block`](Self::alloc_block).
    pub fn free_block(&mut self, bus: BusAddr, bytes: usize, align: usize) {
        if let (Some(class), Some(off)) = (class_of(bytes.max(align)), self.offset_of_bus(bus, 1)) {
            self.free[class].push(off);
        }
    }

    /// Converts a bus address inside the arena to the CPU address.
    pub fn bus_to_virt(&self, bus: BusAddr) -> Option<VirtAddr> {
        self.offset_of_bus(bus, 1)
            .map(|off| VirtAddr(self.virt_base + off))
    }

    /// Reads a 64-bit little-endian word at a bus address, as a device or a
    /// table walker would.  `None` outside the arena or unaligned.
    pub fn read_bus_u64(&self, bus: BusAddr) -> Option<u64> {
        let off = self.offset_of_bus(bus, 8)?;
        (off % 8 == 0).then(|| self.words[(off / 8) as usize])
    }

    /// Reads a 32-bit little-endian word at a bus address.
    pub fn read_bus_u32(&self, bus: BusAddr) -> Option<u32> {
        let off = self.offset_of_bus(bus, 4)?;
        (off % 4 == 0).then(|| self.read32_at(off))
    }

    /// Reads bytes at a bus address; `false` (nothing read) if the range is
    /// not entirely inside the arena.
    pub fn read_bus(&self, bus: BusAddr, buf: &mut [u8]) -> bool {
        let Some(off) = self.offset_of_bus(bus, buf.len() as u64) else {
            return false;
        };
        for (i, b) in buf.iter_mut().enumerate() {
            let o = off + i as u64;
            *b = (self.words[(o / 8) as usize] >> ((o % 8) * 8)) as u8;
        }
        true
    }

    /// Writes bytes at a bus address; `false` (nothing written) if the range
    /// is not entirely inside the arena.
    pub fn write_bus(&mut self, bus: BusAddr, data: &[u8]) -> bool {
        let Some(off) = self.offset_of_bus(bus, data.len() as u64) else {
            return false;
        };
        for (i, b) in data.iter().enumerate() {
            let o = off + i as u64;
            let w = &mut self.words[(o / 8) as usize];
            let sh = (o % 8) * 8;
            *w = (*w & !(0xff << sh)) | (u64::from(*b) << sh);
        }
        true
    }

    fn offset_of_bus(&self, bus: BusAddr, len: u64) -> Option<u64> {
        let off = bus.0.checked_sub(self.bus_base)?;
        (off.checked_add(len)? <= self.size() as u64).then_some(off)
    }

    /// Dense table ids: a 4 KiB-aligned block is numbered by its 4 KiB page
    /// (so the walker's per-table counters stay small and cache friendly);
    /// smaller blocks at other offsets get numbers above every page number.
    #[inline]
    fn id_of(&self, off: u64) -> usize {
        if off & 0xfff == 0 {
            (off >> 12) as usize
        } else {
            (self.size() >> 12) + (off >> MIN_SHIFT) as usize
        }
    }

    #[inline]
    fn word_index(&self, at: VirtAddr) -> usize {
        (at.0.wrapping_sub(self.virt_base) / 8) as usize
    }

    fn read32_at(&self, off: u64) -> u32 {
        (self.words[(off / 8) as usize] >> ((off % 8) * 8)) as u32
    }
}

fn class_of(bytes: usize) -> Option<usize> {
    let shift = bytes
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_SHIFT);
    (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
}

fn largest_fitting(c: usize, room: u64) -> usize {
    let mut c = c;
    while c > 0 && (1u64 << (c as u32 + MIN_SHIFT)) > room {
        c -= 1;
    }
    c
}

impl TableMemory for RamArena {
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
        let (virt, bus) = self.alloc_block(bytes, align)?;
        Some(self.table_page(virt, bus, bytes, align))
    }

    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        let (virt, bus) = self.alloc_block_below(bytes, align, limit)?;
        Some(self.table_page(virt, bus, bytes, align))
    }

    fn free_table(&mut self, page: TablePage) {
        self.live_tables -= 1;
        self.free_block(page.bus, page.bytes, page.bytes);
    }

    fn free_zeroed_table(&mut self, page: TablePage) {
        self.live_tables -= 1;
        if let (Some(class), Some(off)) = (class_of(page.bytes), self.offset_of_bus(page.bus, 1)) {
            self.zeroed[class].push(off);
        }
    }

    fn free_sparse_table(&mut self, page: TablePage, entry_bytes: usize, live: &[u16]) {
        let (Some(class), Some(off)) = (class_of(page.bytes), self.offset_of_bus(page.bus, 1))
        else {
            return self.free_table(page);
        };
        if live.len() > 4 || !off.is_multiple_of(8) {
            return self.free_table(page);
        }
        let mut words = [0u32; 4];
        for (w, &i) in words.iter_mut().zip(live) {
            let word = usize::from(i) * entry_bytes / 8;
            if (word + 1) * 8 > page.bytes {
                return self.free_table(page);
            }
            *w = word as u32;
        }
        self.live_tables -= 1;
        self.sparse[class].push((off, words, live.len() as u8));
    }

    #[inline]
    fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
        let off = bus.0.wrapping_sub(self.bus_base);
        (off < self.size() as u64).then_some(TableRef {
            virt: VirtAddr(self.virt_base + off),
            id: self.id_of(off),
        })
    }

    #[inline]
    fn read_u64(&self, at: VirtAddr) -> u64 {
        self.words.get(self.word_index(at)).copied().unwrap_or(0)
    }

    #[inline]
    fn write_u64(&mut self, at: VirtAddr, val: u64) {
        let i = self.word_index(at);
        if let Some(w) = self.words.get_mut(i) {
            *w = val;
        }
    }

    fn fill(&mut self, at: VirtAddr, entry_bytes: usize, first: u64, step: u64, count: usize) {
        let i = self.word_index(at);
        match self.words.get_mut(i..i + count) {
            Some(run) if entry_bytes == 8 && at.0.is_multiple_of(8) => {
                // Four at a time: the loop is store-bound, not
                // bookkeeping-bound, whatever the code alignment.
                let mut d = first;
                let mut quads = run.chunks_exact_mut(4);
                for q in &mut quads {
                    q[0] = d;
                    q[1] = d.wrapping_add(step);
                    q[2] = d.wrapping_add(step.wrapping_mul(2));
                    q[3] = d.wrapping_add(step.wrapping_mul(3));
                    d = d.wrapping_add(step.wrapping_mul(4));
                }
                for w in quads.into_remainder() {
                    *w = d;
                    d = d.wrapping_add(step);
                }
            }
            _ if entry_bytes == 4 && at.0.is_multiple_of(4) => {
                // Two 32-bit entries per word; an odd first or last one alone.
                let (mut at, mut d, mut left) = (at, first, count);
                if !at.0.is_multiple_of(8) && left > 0 {
                    self.write_u32(at, d as u32);
                    (at, d, left) = (VirtAddr(at.0 + 4), d.wrapping_add(step), left - 1);
                }
                let i = self.word_index(at);
                if let Some(run) = self.words.get_mut(i..i + left / 2) {
                    for w in run {
                        let hi = d.wrapping_add(step);
                        *w = (d & 0xffff_ffff) | (hi << 32);
                        d = hi.wrapping_add(step);
                    }
                    if left % 2 == 1 {
                        self.write_u32(VirtAddr(at.0 + 8 * (left / 2) as u64), d as u32);
                    }
                }
            }
            _ => {
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
        }
    }

    fn read_u32(&self, at: VirtAddr) -> u32 {
        let off = at.0.wrapping_sub(self.virt_base);
        if off + 4 > self.size() as u64 {
            return 0;
        }
        self.read32_at(off)
    }

    fn write_u32(&mut self, at: VirtAddr, val: u32) {
        let off = at.0.wrapping_sub(self.virt_base);
        if off + 4 > self.size() as u64 {
            return;
        }
        let w = &mut self.words[(off / 8) as usize];
        let sh = (off % 8) * 8;
        *w = (*w & !(0xffff_ffff << sh)) | (u64::from(val) << sh);
    }

    fn walker_coherent(&self) -> bool {
        self.coherent
    }

    fn clean(&mut self, _at: VirtAddr, _len: usize) {
        // Host memory is what the models read: nothing to clean, only count.
        self.cleans += 1;
    }
}

/// A shared arena: the page table writes it while models (an IOMMU's walker,
/// a DMA master) read and write the same bytes by bus address.
impl TableMemory for Rc<RefCell<RamArena>> {
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
        self.borrow_mut().alloc_table(bytes, align)
    }
    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        self.borrow_mut().alloc_table_below(bytes, align, limit)
    }
    fn free_table(&mut self, page: TablePage) {
        self.borrow_mut().free_table(page);
    }
    fn free_zeroed_table(&mut self, page: TablePage) {
        self.borrow_mut().free_zeroed_table(page);
    }
    fn free_sparse_table(&mut self, page: TablePage, entry_bytes: usize, live: &[u16]) {
        self.borrow_mut().free_sparse_table(page, entry_bytes, live);
    }
    fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
        self.borrow().lookup(bus)
    }
    fn read_u64(&self, at: VirtAddr) -> u64 {
        self.borrow().read_u64(at)
    }
    fn write_u64(&mut self, at: VirtAddr, val: u64) {
        self.borrow_mut().write_u64(at, val);
    }
    fn fill(&mut self, at: VirtAddr, entry_bytes: usize, first: u64, step: u64, count: usize) {
        self.borrow_mut().fill(at, entry_bytes, first, step, count);
    }
    fn read_u32(&self, at: VirtAddr) -> u32 {
        self.borrow().read_u32(at)
    }
    fn write_u32(&mut self, at: VirtAddr, val: u32) {
        self.borrow_mut().write_u32(at, val);
    }
    fn walker_coherent(&self) -> bool {
        self.borrow().walker_coherent()
    }
    fn clean(&mut self, at: VirtAddr, len: usize) {
        self.borrow_mut().clean(at, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fill writes what entry-by-entry writes would, for both widths and
    /// an odd 32-bit start, and nothing around it.
    #[test]
    fn fill_writes_what_single_writes_would() {
        for (bytes, start, count) in [(8usize, 8u64, 5usize), (4, 4, 5), (4, 8, 4), (4, 12, 1)] {
            let mut a = RamArena::with_size(1 << 16);
            let mut b = RamArena::with_size(1 << 16);
            let (va, _) = a.alloc_block(4096, 4096).unwrap();
            let (vb, _) = b.alloc_block(4096, 4096).unwrap();
            a.fill(va + start, bytes, 0x1_0000_1003, 0x1000, count);
            let mut d = 0x1_0000_1003u64;
            for k in 0..count as u64 {
                let at = vb + start + k * bytes as u64;
                if bytes == 8 {
                    b.write_u64(at, d);
                } else {
                    b.write_u32(at, d as u32);
                }
                d += 0x1000;
            }
            for off in (0..64).step_by(8) {
                assert_eq!(
                    a.read_u64(va + off),
                    b.read_u64(vb + off),
                    "{bytes}-byte entries from {start}, word at {off}"
                );
            }
        }
    }
}

#[cfg(test)]
mod free_tests {
    use super::*;

    /// A block freed as zero-but-for-some-entries comes back all zero, for
    /// both entry widths; an entry outside the block is refused (freed as
    /// it is, then zero-filled).
    #[test]
    fn a_sparse_free_comes_back_zero() {
        for width in [8usize, 4] {
            let mut a = RamArena::with_size(1 << 16);
            let p = a.alloc_table(4096, 4096).unwrap();
            for (i, v) in [(3u64, 0x1003u64), (511, 0x2003)] {
                a.write_u64(p.virt + i * width as u64 / 8 * 8, v);
            }
            a.free_sparse_table(p, width, &[3, 511]);
            let q = a.alloc_table(4096, 4096).unwrap();
            assert_eq!(q.bus, p.bus, "the same block is reused");
            for off in (0..4096).step_by(8) {
                assert_eq!(
                    a.read_u64(q.virt + off),
                    0,
                    "{width}-byte entries, offset {off}"
                );
            }
            a.write_u64(q.virt + 8, 7);
            a.free_sparse_table(q, 8, &[600]);
            let r = a.alloc_table(4096, 4096).unwrap();
            assert_eq!(a.read_u64(r.virt + 8), 0, "refused, then zero-filled");
        }
    }
}
