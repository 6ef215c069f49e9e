//! Table memory that corrupts what the page-table engine writes, so a host
//! test can show which catalogue case catches a wrong page-table entry on
//! an IOMMU that never reads our tables (virtio-iommu keeps the mappings
//! its MAP requests gave it; only the self-test's cross-check against
//! `Domain::translate` can see the tables lie).
#![forbid(unsafe_code)]

use crate::iommu::pgtable::{TableMemory, TablePage, TableRef};
use crate::mm::{BusAddr, VirtAddr};

/// LPAE descriptor bits the mutations look at (docs/hw/lpae.md §2).
const VALID: u64 = 1;
const AF: u64 = 1 << 10;
const AP_RDONLY: u64 = 1 << 7;

/// How the tables are corrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteMutation {
    /// Every leaf is written without AP[2]: a read-only mapping is encoded
    /// read-write.
    ReadOnlyAsWritable,
    /// Clearing a leaf (page or block; recognised by AF, which table
    /// descriptors do not carry) is dropped: the unmapped PTE stays valid.
    ClearedLeafStaysValid,
}

/// `M` with `mutation` applied to every 64-bit entry written (`None`: as is).
#[derive(Debug)]
pub struct MutatedTables<M> {
    /// The real table memory.
    pub inner: M,
    /// The corruption.
    pub mutation: Option<PteMutation>,
}

impl<M: TableMemory> TableMemory for MutatedTables<M> {
    fn alloc_table(&mut self, bytes: usize, align: usize) -> Option<TablePage> {
        self.inner.alloc_table(bytes, align)
    }
    fn alloc_table_below(&mut self, bytes: usize, align: usize, limit: u64) -> Option<TablePage> {
        self.inner.alloc_table_below(bytes, align, limit)
    }
    fn free_table(&mut self, page: TablePage) {
        self.inner.free_table(page);
    }
    fn lookup(&self, bus: BusAddr) -> Option<TableRef> {
        self.inner.lookup(bus)
    }
    fn read_u64(&self, at: VirtAddr) -> u64 {
        self.inner.read_u64(at)
    }
    fn write_u64(&mut self, at: VirtAddr, val: u64) {
        let leaf = |v: u64| v & VALID != 0 && v & AF != 0;
        let val = match self.mutation {
            Some(PteMutation::ReadOnlyAsWritable) if leaf(val) => val & !AP_RDONLY,
            Some(PteMutation::ClearedLeafStaysValid)
                if val & VALID == 0 && leaf(self.inner.read_u64(at)) =>
            {
                return
            }
            _ => val,
        };
        self.inner.write_u64(at, val);
    }
    fn read_u32(&self, at: VirtAddr) -> u32 {
        self.inner.read_u32(at)
    }
    fn write_u32(&mut self, at: VirtAddr, val: u32) {
        self.inner.write_u32(at, val);
    }
    fn walker_coherent(&self) -> bool {
        self.inner.walker_coherent()
    }
    fn clean(&mut self, at: VirtAddr, len: usize) {
        self.inner.clean(at, len);
    }
}
