//! A domain: one page table, the context tag its driver gave it, an IOVA
//! allocator and the streams attached to it — and the sync contract.
//!
//! Every operation that can remove a translation (unmap, and a map that
//! failed half way and rolled back) ends with the driver's
//! [`sync`](super::Iommu::sync) whenever the gather is not empty, and the
//! gather is filled by the walker, never by the driver.  There is no switch
//! to skip it (docs/design.md §3, "The sync contract"; the Linux regression it
//! prevents is reproduced in `tests/sync_regression.rs`).  Table pages removed
//! by an unmap are freed only after that sync succeeded (Arm's break-before-make and TLB-maintenance rules for freed tables, Arm ARM DDI0487 D8.16).
#![forbid(unsafe_code)]

use super::pgtable::{Codec, PageTable, Prot, TableMemory, TranslateError, Translation};
use super::{Context, Gather, Iommu, IommuError, IovaAllocator, MapRequest, StreamId, SyncRequest};
use crate::mm::{Iova, PhysAddr};
use alloc::vec::Vec;

/// One translation context, in the format `C` of the driver whose tag `T`
/// it carries.
#[derive(Debug)]
pub struct Domain<C: Codec, M: TableMemory, T> {
    tag: T,
    pt: PageTable<C, M>,
    iova: IovaAllocator,
    streams: Vec<StreamId>,
    syncs: u64,
    /// Table pages removed while the driver's syncs were deferred: never
    /// freed during the run (see [`Iommu::sync_is_deferred`]).
    parked: Vec<super::pgtable::TablePage>,
}

impl<C: Codec, M: TableMemory, T: Copy + Eq + core::fmt::Debug> Domain<C, M, T> {
    /// A domain on `iommu` with tables of format `codec` in `mem`, whose IOVA
    /// allocator hands out `[aperture_base, aperture_base + aperture_size)`.
    /// The driver checks the format against its hardware and gives the
    /// domain its tag.
    pub fn new<I: Iommu<Format = C, Tag = T> + ?Sized>(
        iommu: &mut I,
        codec: C,
        mem: M,
        aperture_base: Iova,
        aperture_size: u64,
    ) -> Result<Self, IommuError> {
        let tag = iommu.new_context(&codec)?;
        let granule = codec.granule();
        let pt = match PageTable::new(codec, mem) {
            Ok(pt) => pt,
            Err(e) => {
                iommu.release_context(tag);
                return Err(e.into());
            }
        };
        Ok(Self {
            tag,
            pt,
            iova: IovaAllocator::new(aperture_base, aperture_size, granule),
            streams: Vec::new(),
            syncs: 0,
            parked: Vec::new(),
        })
    }

    /// The context tag the driver gave this domain.
    pub fn tag(&self) -> T {
        self.tag
    }

    /// Streams currently attached.
    pub fn streams(&self) -> &[StreamId] {
        &self.streams
    }

    /// The page table (read-only: changes go through the domain so the sync
    /// contract holds).
    pub fn page_table(&self) -> &PageTable<C, M> {
        &self.pt
    }

    /// The IOVA allocator.
    pub fn iova_allocator(&self) -> &IovaAllocator {
        &self.iova
    }

    /// Table pages kept out of the allocator because they were removed while
    /// the driver's syncs were deferred.
    pub fn parked_tables(&self) -> usize {
        self.parked.len()
    }

    /// Number of driver syncs this domain has issued (tests count them).
    pub fn syncs_issued(&self) -> u64 {
        self.syncs
    }

    /// What a driver needs to program this domain into a context.
    pub fn context(&self) -> Context<'_, C, T> {
        Context {
            tag: self.tag,
            root: self.pt.root(),
            format: self.pt.codec(),
            coherent_walk: self.pt.memory().walker_coherent(),
        }
    }

    /// Attaches `stream`.
    pub fn attach<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        stream: StreamId,
    ) -> Result<(), IommuError> {
        if self.streams.contains(&stream) {
            return Err(IommuError::AlreadyAttached { stream });
        }
        iommu.attach(stream, &self.context())?;
        self.streams.push(stream);
        Ok(())
    }

    /// Detaches `stream`; its DMA is blocked afterwards.
    pub fn detach<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        stream: StreamId,
    ) -> Result<(), IommuError> {
        let Some(pos) = self.streams.iter().position(|&s| s == stream) else {
            return Err(IommuError::NotAttached { stream });
        };
        iommu.detach(stream, &self.context())?;
        self.streams.remove(pos);
        Ok(())
    }

    /// Maps `[iova, iova + size)` to `phys` with the largest leaves possible.
    pub fn map<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        iova: Iova,
        phys: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), IommuError> {
        let mut gather = Gather::new();
        let r = self.pt.map(iova, phys, size, prot, &mut gather);
        let done = MapRequest {
            iova,
            phys,
            size,
            prot,
        };
        self.finish_map(iommu, r, gather, &done)
    }

    /// Maps `count` leaves of exactly `page_size` bytes.
    pub fn map_pages<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        iova: Iova,
        phys: PhysAddr,
        page_size: u64,
        count: u64,
        prot: Prot,
    ) -> Result<(), IommuError> {
        let mut gather = Gather::new();
        let r = self
            .pt
            .map_pages(iova, phys, page_size, count, prot, &mut gather);
        let done = MapRequest {
            iova,
            phys,
            size: page_size.saturating_mul(count),
            prot,
        };
        self.finish_map(iommu, r, gather, &done)
    }

    /// Allocates an IOVA range for `size` bytes and maps it to `phys`.
    pub fn map_alloc<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        phys: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<Iova, IommuError> {
        self.map_alloc_aligned(iommu, phys, size, prot, 0)
    }

    /// Like [`map_alloc`](Self::map_alloc), with the IOVA aligned to
    /// `align` (a power of two; 0 = the granule), e.g. to cover exactly one
    /// last-level table.
    pub fn map_alloc_aligned<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        phys: PhysAddr,
        size: u64,
        prot: Prot,
        align: u64,
    ) -> Result<Iova, IommuError> {
        let iova = self.iova.alloc(size, align)?;
        if let Err(e) = self.map(iommu, iova, phys, size, prot) {
            let _ = self.iova.free(iova, size);
            return Err(e);
        }
        Ok(iova)
    }

    /// Takes `size` bytes of IOVA space aligned to `align` (a power of two;
    /// 0 = the granule) from this domain's aperture without mapping it, for
    /// a caller that maps it in several pieces (e.g. a test page and a live
    /// neighbour in the same last-level table).
    pub fn alloc_iova(&mut self, size: u64, align: u64) -> Result<Iova, IommuError> {
        Ok(self.iova.alloc(size, align)?)
    }

    /// Unmaps `[iova, iova + size)` and returns the bytes that were mapped.
    /// Always ends with the driver's sync when anything was unmapped, even if
    /// the unmap stopped with an error part way.
    pub fn unmap<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        iova: Iova,
        size: u64,
    ) -> Result<u64, IommuError> {
        let mut gather = Gather::new();
        let policy = iommu.sync_policy();
        let tag = self.tag;
        let streams = &self.streams;
        let mut break_syncs = 0u64;
        let mut break_err = None;
        let r = {
            // Break-before-make: the broken block must be invalidated before
            // the replacement table is installed.
            let mut flush = |at: Iova, bytes: u64, _level: u8| {
                let mut g = Gather::new();
                g.add_break(at.0, bytes);
                let req = SyncRequest {
                    policy,
                    tag,
                    streams,
                    iova: at,
                    size: bytes,
                    granule: bytes,
                    leaf_only: false,
                    gather: &g,
                };
                break_syncs += 1;
                match iommu.sync(&req) {
                    Ok(()) => true,
                    Err(e) => {
                        break_err = Some(e);
                        false
                    }
                }
            };
            self.pt.unmap(iova, size, &mut gather, &mut flush)
        };
        self.syncs += break_syncs;
        let synced = self.sync_gather(iommu, &mut gather);
        if let Some(e) = break_err {
            return Err(e);
        }
        let n = r?;
        synced?;
        Ok(n)
    }

    /// Unmaps a range obtained from [`map_alloc`](Self::map_alloc) and gives
    /// the IOVA back.
    pub fn unmap_free<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        iova: Iova,
        size: u64,
    ) -> Result<u64, IommuError> {
        let n = self.unmap(iommu, iova, size)?;
        self.iova.free(iova, size)?;
        Ok(n)
    }

    /// Detaches every stream (each detach leaves nothing of this context
    /// cached, per [`Iommu::detach`]), then frees all table pages and gives
    /// the memory back.  If a detach fails the table pages are leaked, never
    /// freed, because a walker may still use them.
    pub fn destroy<I: Iommu<Format = C, Tag = T> + ?Sized>(
        mut self,
        iommu: &mut I,
    ) -> Result<M, IommuError> {
        while let Some(&stream) = self.streams.last() {
            self.detach(iommu, stream)?;
        }
        iommu.release_context(self.tag);
        Ok(self.pt.destroy())
    }

    /// Software walk of this domain's tables.
    pub fn translate(&self, iova: Iova) -> Result<Translation, TranslateError> {
        self.pt.translate(iova)
    }

    fn finish_map<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        r: Result<(), super::pgtable::PgTableError>,
        mut gather: Gather,
        done: &MapRequest,
    ) -> Result<(), IommuError> {
        // A failed map rolled back what it wrote: that is an unmap too.
        let synced = self.sync_gather(iommu, &mut gather);
        r?;
        synced?;
        iommu.sync_map(&self.context(), done)
    }

    /// The contract: a non-empty gather is always synced before its table
    /// pages are released.
    fn sync_gather<I: Iommu<Format = C, Tag = T> + ?Sized>(
        &mut self,
        iommu: &mut I,
        gather: &mut Gather,
    ) -> Result<(), IommuError> {
        let Some((iova, size)) = gather.range() else {
            return Ok(());
        };
        let req = SyncRequest {
            policy: iommu.sync_policy(),
            tag: self.tag,
            streams: &self.streams,
            iova,
            size,
            granule: gather.min_leaf_size().unwrap_or(self.pt.codec().granule()),
            leaf_only: gather.leaf_only(),
            gather,
        };
        self.syncs += 1;
        iommu.sync(&req)?;
        if iommu.sync_is_deferred() {
            // The invalidation has not run: a walker may still reach the
            // removed tables.  Keep them out of the allocator for good.
            self.parked.extend(gather.take_frees());
            return Ok(());
        }
        // Only now can no walker reach the removed tables.
        self.pt.release(gather);
        Ok(())
    }
}
