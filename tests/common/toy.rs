//! Host models for the sync-contract tests: a toy IOMMU that walks LPAE
//! (4K granule) tables in the shared RAM arena like hardware would and keeps
//! a TLB whose entries live until invalidated; a driver for it with a
//! selectable invalidation policy; and a DMA master behind it.
//!
//! The model walker decodes descriptors itself (from smmu.md C.2), not with
//! the crate's codec, so it cross-checks what the engine wrote.
#![allow(dead_code)]

use core::cell::RefCell;
use core::time::Duration;
use iommu_bringup::iommu::pgtable::{RamArena, TableFormat};
use iommu_bringup::iommu::{
    Asid, Context, DmaError, DmaMaster, DmaReport, Iommu, IommuError, StreamId, SyncPolicy,
    SyncRequest,
};
use iommu_bringup::mm::{BusAddr, Iova};
use std::collections::BTreeMap;
use std::rc::Rc;

pub type Arena = Rc<RefCell<RamArena>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TlbEntry {
    asid: u16,
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
    tlb: Vec<TlbEntry>,
    pub walks: u64,
    pub tlb_hits: u64,
}

impl ToyIommu {
    pub fn new(arena: Arena) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self {
            arena,
            contexts: BTreeMap::new(),
            tlb: Vec::new(),
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
        if let Some(e) = self
            .tlb
            .iter()
            .find(|e| e.asid == ctx.asid && e.va_page == va_page)
        {
            self.tlb_hits += 1;
            if write && !e.writable {
                return Err(Fault::Permission);
            }
            return Ok(e.pa_page << 12 | (iova & 0xfff));
        }
        self.walks += 1;
        let (pa, writable) = self.walk(ctx, iova)?;
        self.tlb.push(TlbEntry {
            asid: ctx.asid,
            va_page,
            pa_page: pa >> 12,
            writable,
        });
        if write && !writable {
            return Err(Fault::Permission);
        }
        Ok(pa)
    }

    /// VMSAv8-64 4K-granule stage-1 walk over the arena (smmu.md C.1, C.2).
    fn walk(&self, ctx: Ctx, iova: u64) -> Result<(u64, bool), Fault> {
        if iova >> ctx.ias != 0 {
            return Err(Fault::Translation(0));
        }
        let levels = (ctx.ias - 12).div_ceil(9);
        let mut level = 4 - levels;
        let mut table = ctx.root.0;
        let arena = self.arena.borrow();
        loop {
            let shift = 12 + 9 * (3 - level);
            let idx = (iova >> shift) & 0x1ff;
            let d = arena
                .read_bus_u64(BusAddr(table + 8 * idx))
                .ok_or(Fault::Translation(level as u8))?;
            let oa = d & 0x0000_FFFF_FFFF_F000;
            match (d & 3, level) {
                (3, 3) | (1, 1) | (1, 2) => {
                    let span = 1u64 << shift;
                    let pa = (oa & !(span - 1)) | (iova & (span - 1));
                    let writable = d & (1 << 7) == 0;
                    return Ok((pa, writable));
                }
                (3, _) => {
                    table = oa;
                    level += 1;
                }
                _ => return Err(Fault::Translation(level as u8)),
            }
        }
    }

    pub fn invalidate_asid(&mut self, asid: u16) {
        self.tlb.retain(|e| e.asid != asid);
    }

    pub fn invalidate_range(&mut self, asid: u16, iova: u64, size: u64) {
        let (s, e) = (iova >> 12, (iova + size).div_ceil(4096));
        self.tlb
            .retain(|t| t.asid != asid || t.va_page < s || t.va_page >= e);
    }

    pub fn invalidate_streams(&mut self, sids: &[StreamId]) {
        let asids: Vec<u16> = sids
            .iter()
            .filter_map(|s| self.contexts.get(&s.0).map(|c| c.asid))
            .collect();
        self.tlb.retain(|e| !asids.contains(&e.asid));
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
}

impl ToyDriver {
    pub fn new(hw: Rc<RefCell<ToyIommu>>, policy: SyncPolicy) -> Self {
        Self {
            hw,
            policy,
            withhold_invalidation: false,
            syncs: Vec::new(),
        }
    }
}

impl Iommu for ToyDriver {
    fn name(&self) -> &str {
        "toy-iommu"
    }

    fn sync_policy(&self) -> SyncPolicy {
        self.policy
    }

    fn attach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let TableFormat::Lpae(l) = ctx.format else {
            return Err(IommuError::Unsupported { value: 0 });
        };
        if l.tcr.tg0 != 0 {
            return Err(IommuError::Unsupported { value: l.tcr.tg0 });
        }
        let c = Ctx {
            asid: ctx.asid.0,
            root: ctx.root,
            ias: 64 - l.tcr.t0sz as u32,
        };
        let mut hw = self.hw.borrow_mut();
        hw.contexts.insert(stream.0, c);
        hw.invalidate_asid(ctx.asid.0);
        Ok(())
    }

    fn detach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let mut hw = self.hw.borrow_mut();
        hw.contexts.remove(&stream.0);
        hw.invalidate_asid(ctx.asid.0);
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_>) -> Result<(), IommuError> {
        assert_eq!(req.policy, self.policy);
        self.syncs.push((req.iova, req.size, req.leaf_only));
        if self.withhold_invalidation {
            return Ok(());
        }
        let mut hw = self.hw.borrow_mut();
        match self.policy {
            SyncPolicy::Range => hw.invalidate_range(req.asid.0, req.iova.0, req.size),
            SyncPolicy::WholeContext => hw.invalidate_asid(req.asid.0),
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

    fn copy(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        t: Duration,
    ) -> Result<DmaReport, DmaError> {
        let mut tmp = vec![0u8; len];
        self.read(src, &mut tmp, t)?;
        self.write(dst, &tmp, t)
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
