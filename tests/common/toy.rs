//! Host models for the sync-contract tests: a toy IOMMU that walks LPAE
//! (4K granule) tables in the shared RAM arena like hardware would and keeps
//! a TLB whose entries live until invalidated; a driver for it with a
//! selectable invalidation policy; and a DMA master behind it.
//!
//! The model walks with the host-model kit's reference walker
//! (`testkit::walk`, written from the architecture, not with the crate's
//! codec), so it cross-checks what the engine wrote, and keeps its TLB in
//! the kit's stale-until-invalidated cache.  Its master differs from the
//! kit's `ModelMaster` on purpose: it moves bytes in the page-table arena
//! one byte at a time, so a fault part way is exact to the byte.
#![allow(dead_code)]

use core::cell::RefCell;
use core::time::Duration;
use iommu_bringup::iommu::pgtable::{Codec, Granule, Lpae, RamArena};
use iommu_bringup::iommu::{
    Asid, Capabilities, Context, DmaError, DmaMaster, DmaReport, Iommu, IommuError, StreamId,
    SyncPolicy, SyncRequest,
};
use iommu_bringup::mm::{BusAddr, Iova};
use iommu_bringup::testkit::cache::StaleCache;
use iommu_bringup::testkit::walk::{LpaeWalk, WalkFault};
use std::collections::BTreeMap;
use std::rc::Rc;

pub type Arena = Rc<RefCell<RamArena>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TlbEntry {
    va_page: u64,
    pa_page: u64,
    writable: bool,
}

/// Why the model refused a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No context for the stream: blocked (default deny).
    NoContext,
    /// Walk found an invalid descriptor at this level.
    Translation(u8),
    /// Write to a read-only page.
    Permission,
}

#[derive(Clone, Copy, Debug)]
struct Ctx {
    asid: u16,
    root: BusAddr,
    ias: u32,
}

/// A toy IOMMU with a TLB that keeps entries until invalidated.
pub struct ToyIommu {
    pub arena: Arena,
    contexts: BTreeMap<u32, Ctx>,
    /// Keyed by ASID.
    tlb: StaleCache<u16, TlbEntry>,
    pub walks: u64,
    pub tlb_hits: u64,
}

impl ToyIommu {
    pub fn new(arena: Arena) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self {
            arena,
            contexts: BTreeMap::new(),
            tlb: StaleCache::new(),
            walks: 0,
            tlb_hits: 0,
        }))
    }

    pub fn tlb_len(&self) -> usize {
        self.tlb.len()
    }

    /// Translates one access of stream `sid` at `iova`.
    pub fn translate(&mut self, sid: u32, iova: u64, write: bool) -> Result<u64, Fault> {
        let ctx = *self.contexts.get(&sid).ok_or(Fault::NoContext)?;
        let va_page = iova >> 12;
        if let Some((_, e)) = self.tlb.find(|a, e| *a == ctx.asid && e.va_page == va_page) {
            self.tlb_hits += 1;
            if write && !e.writable {
                return Err(Fault::Permission);
            }
            return Ok(e.pa_page << 12 | (iova & 0xfff));
        }
        self.walks += 1;
        let w = LpaeWalk::new(ctx.root.0, ctx.ias, 12);
        let arena = self.arena.clone();
        let done = w
            .walk(|at| arena.borrow().read_bus_u64(BusAddr(at)), iova, None)
            .map_err(|f| match f {
                WalkFault::AddressSize => Fault::Translation(0),
                WalkFault::Translation { level }
                | WalkFault::OutputSize { level }
                | WalkFault::AccessFlag { level } => Fault::Translation(level),
                WalkFault::External { .. } => Fault::Translation(w.start_level()),
            })?;
        self.tlb.insert(
            ctx.asid,
            TlbEntry {
                va_page,
                pa_page: done.pa >> 12,
                writable: done.writable,
            },
        );
        if write && !done.writable {
            return Err(Fault::Permission);
        }
        Ok(done.pa)
    }

    pub fn invalidate_asid(&mut self, asid: u16) {
        self.tlb.invalidate(|a, _| *a == asid);
    }

    pub fn invalidate_range(&mut self, asid: u16, iova: u64, size: u64) {
        let (s, e) = (iova >> 12, (iova + size).div_ceil(4096));
        self.tlb
            .invalidate(|a, t| *a == asid && t.va_page >= s && t.va_page < e);
    }

    pub fn invalidate_streams(&mut self, sids: &[StreamId]) {
        let asids: Vec<u16> = sids
            .iter()
            .filter_map(|s| self.contexts.get(&s.0).map(|c| c.asid))
            .collect();
        self.tlb.invalidate(|a, _| asids.contains(a));
    }
}

/// A driver for [`ToyIommu`] with a chosen invalidation policy.  Like
/// arm-smmu's whole-context flush, `WholeContext` ignores the gather's range
/// entirely.
pub struct ToyDriver {
    pub hw: Rc<RefCell<ToyIommu>>,
    pub policy: SyncPolicy,
    /// Fault injection: accept syncs but do not invalidate (negative control).
    pub withhold_invalidation: bool,
    pub syncs: Vec<(Iova, u64, bool)>,
    /// The ASID the next domain gets.
    pub next_asid: u16,
}

impl ToyDriver {
    pub fn new(hw: Rc<RefCell<ToyIommu>>, policy: SyncPolicy) -> Self {
        Self {
            hw,
            policy,
            withhold_invalidation: false,
            syncs: Vec::new(),
            next_asid: 1,
        }
    }
}

impl Iommu for ToyDriver {
    type Format = Lpae;
    type Tag = Asid;

    fn name(&self) -> &str {
        "toy-iommu"
    }

    fn sync_policy(&self) -> SyncPolicy {
        self.policy
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            invalidation: self.policy,
            ..Capabilities::FULL
        }
    }

    /// 4K tables only; ASIDs in order from `next_asid`.
    fn new_context(&mut self, format: &Lpae) -> Result<Asid, IommuError> {
        if format.granule_kind() != Granule::K4 {
            return Err(IommuError::Unsupported {
                value: format.granule(),
            });
        }
        let a = self.next_asid;
        self.next_asid += 1;
        Ok(Asid(a))
    }

    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        let c = Ctx {
            asid: ctx.tag.0,
            root: ctx.root,
            ias: ctx.format.input_bits(),
        };
        let mut hw = self.hw.borrow_mut();
        hw.contexts.insert(stream.0, c);
        hw.invalidate_asid(ctx.tag.0);
        Ok(())
    }

    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        let mut hw = self.hw.borrow_mut();
        hw.contexts.remove(&stream.0);
        hw.invalidate_asid(ctx.tag.0);
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_, Asid>) -> Result<(), IommuError> {
        assert_eq!(req.policy, self.policy);
        self.syncs.push((req.iova, req.size, req.leaf_only));
        if self.withhold_invalidation {
            return Ok(());
        }
        let mut hw = self.hw.borrow_mut();
        match self.policy {
            SyncPolicy::Range => hw.invalidate_range(req.tag.0, req.iova.0, req.size),
            SyncPolicy::WholeContext => hw.invalidate_asid(req.tag.0),
            SyncPolicy::WholeStream => hw.invalidate_streams(req.streams),
        }
        Ok(())
    }
}

/// A DMA master behind [`ToyIommu`]: every byte goes through translation.
pub struct ToyMaster {
    pub sid: StreamId,
    pub hw: Rc<RefCell<ToyIommu>>,
}

impl ToyMaster {
    fn xlate(&self, iova: u64, write: bool, done: usize) -> Result<u64, DmaError> {
        self.hw
            .borrow_mut()
            .translate(self.sid.0, iova, write)
            .map_err(|f| DmaError::Aborted {
                stream: self.sid,
                iova: Iova(iova),
                write,
                bytes: done,
                status: match f {
                    Fault::NoContext => 0xd0,
                    Fault::Translation(l) => 0x10 | u64::from(l),
                    Fault::Permission => 0xe0,
                },
            })
    }
}

impl DmaMaster for ToyMaster {
    fn name(&self) -> &str {
        "toy-master"
    }

    fn stream(&self) -> StreamId {
        self.sid
    }

    fn max_transfer(&self) -> usize {
        1 << 20
    }

    fn write(&mut self, iova: Iova, data: &[u8], _t: Duration) -> Result<DmaReport, DmaError> {
        // Translate everything first (a fault stops the transfer before any
        // byte of the faulting page lands).
        for (i, b) in data.iter().enumerate() {
            let pa = self.xlate(iova.0 + i as u64, true, i)?;
            let arena = self.hw.borrow().arena.clone();
            assert!(arena.borrow_mut().write_bus(BusAddr(pa), &[*b]));
        }
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }

    fn read(&mut self, iova: Iova, buf: &mut [u8], _t: Duration) -> Result<DmaReport, DmaError> {
        for i in 0..buf.len() {
            let pa = self.xlate(iova.0 + i as u64, false, i)?;
            let arena = self.hw.borrow().arena.clone();
            assert!(arena.borrow().read_bus(BusAddr(pa), &mut buf[i..=i]));
        }
        Ok(DmaReport {
            bytes: buf.len(),
            status: 0,
        })
    }
}

/// Reads bytes straight from the arena (what the CPU would see).
pub fn peek(arena: &Arena, bus: BusAddr, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    assert!(arena.borrow().read_bus(bus, &mut v));
    v
}

pub fn asid(n: u16) -> Asid {
    Asid(n)
}
