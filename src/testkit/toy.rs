//! A toy IOMMU whose shape is chosen per test, and its driver.
//!
//! The hardware half ([`ToyHw`]) walks LPAE 4K tables in the arena with the
//! reference walker, keeps a TLB, an optional walk cache and an optional
//! configuration cache — all stale until invalidated — and records faults.
//! The driver half ([`ToyIommu`]) implements [`Iommu`] and [`Observe`] over
//! it through the shared [`InvalidationGate`].  [`ToyShape`] picks what the
//! hardware has:
//!
//! * [`ToyShape::FULL`]: per-stream contexts, ASID-tagged TLB, walk cache,
//!   configuration cache, range invalidation in one command, detach blocks;
//! * [`ToyShape::MINIMAL`]: one table shared by the whole IOMMU, no context
//!   tag (`Tag = ()` in spirit: every entry is keyed alike), invalidation
//!   of the whole IOMMU only, no observable configuration cache, and a
//!   detach that leaves the stream bypassing translation — the shape of
//!   the sun50i IOMMU.
//!
//! The catalogue must run unchanged on both: on the first every case
//! passes, on the second the cases that need what it lacks SKIP with the
//! capability's reason and the rest pass (`testkit/tests.rs`).
#![forbid(unsafe_code)]

use super::cache::{Keying, StaleCache};
use super::master::Translate;
use super::ram::Arena;
use super::walk::LpaeWalk;
use crate::iommu::pgtable::{Codec, Granule, Lpae};
use crate::iommu::{
    Access, Asid, Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault,
    FaultDelivery, FaultKind, FaultShape, InvalidationGate, Iommu, IommuError, Observable, Observe,
    RawRecord, StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::{BusAddr, Iova};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// What the toy hardware has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToyShape {
    /// One table base for the whole IOMMU instead of one per stream.
    pub shared_context: bool,
    /// TLB entries carry no context tag and only the whole IOMMU can be
    /// invalidated.
    pub whole_iommu_invalidation: bool,
    /// Stream configuration is cached until a configuration invalidation.
    pub config_cache: bool,
    /// A walk cache (last-level table per 2 MiB region).
    pub walk_cache: bool,
    /// A detached stream bypasses translation instead of being blocked.
    pub detach_bypasses: bool,
    /// One command invalidates any range.
    pub ranged: bool,
    /// Every cache evicts everything after each access: nothing stays
    /// cached long enough to be observed (what silicon may do under
    /// pressure; the architecture never promises an entry stays).
    pub evicts: bool,
}

impl ToyShape {
    /// Every capability.
    pub const FULL: Self = Self {
        shared_context: false,
        whole_iommu_invalidation: false,
        config_cache: true,
        walk_cache: true,
        detach_bypasses: false,
        ranged: true,
        evicts: false,
    };

    /// The least an IOMMU may have and still be tested: one shared
    /// context, whole-IOMMU invalidation, no observable configuration
    /// cache, a detach that bypasses.
    pub const MINIMAL: Self = Self {
        shared_context: true,
        whole_iommu_invalidation: true,
        config_cache: false,
        walk_cache: false,
        detach_bypasses: true,
        ranged: false,
        evicts: false,
    };
}

/// How a stream is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamCfg {
    /// Translate through the tables at `root`, tagged `tag`.
    Translate { tag: u16, root: u64 },
    /// Pass addresses through untranslated.
    Bypass,
}

/// A TLB entry: page → (physical page, writable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TlbEntry {
    va_page: u64,
    pa_page: u64,
    writable: bool,
}

/// The toy hardware.
#[derive(Debug)]
pub struct ToyHw {
    shape: ToyShape,
    arena: Arena,
    /// What software last wrote (absent: abort).
    streams: BTreeMap<u32, StreamCfg>,
    /// What the hardware cached of it (only with a config cache).
    config_cache: BTreeMap<u32, Option<StreamCfg>>,
    tlb: StaleCache<u32, TlbEntry>,
    /// (key, 2 MiB region) → last-level table.
    walks: StaleCache<(u32, u64), u64>,
    faults: Vec<Fault>,
}

impl ToyHw {
    fn keying(&self) -> Keying {
        if self.shape.whole_iommu_invalidation {
            Keying::Global
        } else {
            Keying::ByTag
        }
    }

    fn config(&mut self, sid: u32) -> Option<StreamCfg> {
        if !self.shape.config_cache {
            return self.streams.get(&sid).copied();
        }
        if let Some(c) = self.config_cache.get(&sid) {
            return *c;
        }
        let c = self.streams.get(&sid).copied();
        self.config_cache.insert(sid, c);
        c
    }

    fn fault(&mut self, sid: u32, iova: u64, write: bool, kind: FaultKind) {
        self.faults.push(Fault {
            stream: StreamId(sid),
            iova: Some(Iova(iova)),
            access: Some(if write { Access::Write } else { Access::Read }),
            kind,
            raw: RawRecord::new(&[0, iova]),
        });
    }

    /// Translates one access; records a fault and returns `None` on failure.
    fn translate(&mut self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        let (tag, root) = match self.config(sid)? {
            StreamCfg::Bypass => return Some(iova),
            StreamCfg::Translate { tag, root } => (tag, root),
        };
        let key = self.keying().key(u32::from(tag), sid);
        let page = iova >> 12;
        let hit = self.tlb.find(|k, e| *k == key && e.va_page == page);
        let e = match hit {
            Some((_, e)) => e,
            None => {
                let w = LpaeWalk::new(root, TOY_IAS, 12);
                let region = (key, iova >> 21);
                let from = if self.shape.walk_cache {
                    self.walks.find(|k, _| *k == region).map(|(_, t)| (3, t))
                } else {
                    None
                };
                let arena = self.arena.clone();
                let read = |at: u64| arena.borrow().read_bus_u64(BusAddr(at));
                match w.walk(read, iova, from) {
                    Ok(done) => {
                        if self.shape.walk_cache && done.level == 3 && from.is_none() {
                            self.walks.insert(region, done.leaf_table);
                        }
                        let e = TlbEntry {
                            va_page: page,
                            pa_page: done.pa >> 12,
                            writable: done.writable,
                        };
                        self.tlb.insert(key, e);
                        e
                    }
                    Err(_) => {
                        self.fault(sid, iova, write, FaultKind::Translation);
                        return None;
                    }
                }
            }
        };
        if write && !e.writable {
            self.fault(sid, iova, write, FaultKind::Permission);
            return None;
        }
        Some(e.pa_page << 12 | (iova & 0xfff))
    }
}

/// Input size the toy's domains must use (T0SZ 24).
pub const TOY_IAS: u32 = 40;

/// A shared handle on the toy hardware, as its masters hold it.
#[derive(Clone, Debug)]
pub struct ToyPort(pub Rc<RefCell<ToyHw>>);

impl Translate for ToyPort {
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        let mut hw = self.0.borrow_mut();
        let out = hw.translate(stream, iova, write);
        if hw.shape.evicts {
            hw.tlb.clear();
            hw.walks.clear();
            hw.config_cache.clear();
        }
        out
    }
}

/// One invalidation of the toy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyInvalidation {
    /// A range of one context (or of everything, with whole-IOMMU
    /// invalidation).
    Range {
        /// Tag key.
        key: u32,
        /// First IOVA.
        iova: u64,
        /// Bytes.
        size: u64,
        /// Leaves only: the walk cache keeps its tables.
        leaf_only: bool,
    },
    /// Everything of one context (or everything).
    Context {
        /// Tag key.
        key: u32,
    },
    /// One stream's configuration.
    Config(u32),
}

/// The negative-control list of the full toy.  With a walk cache, dropping
/// the non-leaf invalidation of an unmap that freed a last-level table
/// leaves the walk cache pointing at that (parked) table, so every later
/// mapping in the same 2 MiB region is invisible to the device until the
/// region's walk-cache entry goes — which under skip-sync it never does.
/// The cases after the first freed table therefore fail on their first
/// DMA, not only the invalidation cases: what a real SMMU with a walk
/// cache would do with a driver that never invalidates.  `default_deny`
/// passes here because its IOVA's region was never walked before the
/// detach.  `fault_record` fails too since its unmap sits next to a live
/// neighbour page, which it writes afterwards: that mapping is invisible
/// through the stale walk-cache entry like every other later one.
pub const FULL_SKIP_SYNC_FAILURES: &[&str] = &[
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "remap_stale_window",
    "remap_invalidate_new_page",
    "range_invalidate",
    "asid_invalidate",
    "config_invalidate",
    "walk_cache_invalidate",
    "isolation",
    "readonly_blocks_write",
    "fault_record",
    "empty_gather_still_syncs",
];

/// The negative-control list of the full toy without a walk cache: the
/// shape QEMU's SMMUv3 has, so it is that driver's list (one definition).
pub const NO_WALK_CACHE_SKIP_SYNC_FAILURES: &[&str] = crate::iommu::smmuv3::SKIP_SYNC_FAILURES;

/// The negative-control list of the minimal toy: the cases that can run
/// there and prove an invalidation.
pub const MINIMAL_SKIP_SYNC_FAILURES: &[&str] = &[
    "unmap_invalidate_blocks_dma",
    "remap_invalidate_new_page",
    "range_invalidate",
    "empty_gather_still_syncs",
];

/// The toy's driver.
#[derive(Debug)]
pub struct ToyIommu {
    /// The hardware.
    pub hw: Rc<RefCell<ToyHw>>,
    gate: InvalidationGate<ToyInvalidation>,
    tags: BTreeSet<u16>,
    /// Charge one command per page of a range (an IOMMU that claims range
    /// invalidation but does not have it).
    pub per_page_cost: bool,
    /// A broken driver that invalidates only leaves, even when the core
    /// asks for a non-leaf invalidation.
    pub leaf_only_driver: bool,
    /// A broken driver that truncates every invalidation address to 32
    /// bits (a TLBI address field filled from a `u32`).
    pub truncate_tlbi_32: bool,
    /// A broken driver whose range invalidation covers one page less than
    /// asked whenever the page count is not a power of two (the SMMUv3
    /// RIL NUM field off by one: NUM is 0 for a power of two).
    pub range_one_page_short: bool,
}

impl ToyIommu {
    /// A toy of `shape` over `arena`; `skip_sync` is the negative control.
    pub fn new(shape: ToyShape, arena: Arena, skip_sync: bool) -> Self {
        Self {
            hw: Rc::new(RefCell::new(ToyHw {
                shape,
                arena,
                streams: BTreeMap::new(),
                config_cache: BTreeMap::new(),
                tlb: StaleCache::new(),
                walks: StaleCache::new(),
                faults: Vec::new(),
            })),
            gate: InvalidationGate::new(skip_sync),
            tags: BTreeSet::new(),
            per_page_cost: false,
            leaf_only_driver: false,
            truncate_tlbi_32: false,
            range_one_page_short: false,
        }
    }

    /// The port masters use.
    pub fn port(&self) -> ToyPort {
        ToyPort(self.hw.clone())
    }

    fn shape(&self) -> ToyShape {
        self.hw.borrow().shape
    }

    fn key(&self, tag: Asid) -> u32 {
        if self.shape().whole_iommu_invalidation {
            0
        } else {
            u32::from(tag.0)
        }
    }

    fn invalidate(&mut self, inv: ToyInvalidation) {
        if let Some(inv) = self.gate.admit(inv) {
            self.run(inv);
        }
    }

    fn run(&mut self, inv: ToyInvalidation) {
        let shape = self.shape();
        self.gate.count(match inv {
            ToyInvalidation::Range { size, .. } if self.per_page_cost || !shape.ranged => {
                size.div_ceil(4096)
            }
            _ => 1,
        });
        let leaf_only_driver = self.leaf_only_driver;
        let mut hw = self.hw.borrow_mut();
        match inv {
            ToyInvalidation::Range {
                key,
                iova,
                size,
                leaf_only,
            } => {
                let iova = if self.truncate_tlbi_32 {
                    iova & 0xffff_ffff
                } else {
                    iova
                };
                let pages = size.div_ceil(4096);
                let size = if self.range_one_page_short && pages > 1 && !pages.is_power_of_two() {
                    size - 4096
                } else {
                    size
                };
                let (first, last) = (iova >> 12, (iova + size - 1) >> 12);
                hw.tlb
                    .invalidate(|k, e| *k == key && e.va_page >= first && e.va_page <= last);
                if !leaf_only && !leaf_only_driver {
                    let (r0, r1) = (iova >> 21, (iova + size - 1) >> 21);
                    hw.walks
                        .invalidate(|(k, r), _| *k == key && *r >= r0 && *r <= r1);
                }
            }
            ToyInvalidation::Context { key } => {
                hw.tlb.invalidate(|k, _| *k == key);
                hw.walks.invalidate(|(k, _), _| *k == key);
            }
            ToyInvalidation::Config(sid) => {
                hw.config_cache.remove(&sid);
            }
        }
    }
}

impl Iommu for ToyIommu {
    type Format = Lpae;
    type Tag = Asid;

    fn name(&self) -> &str {
        "toy-iommu"
    }

    fn sync_is_deferred(&self) -> bool {
        self.gate.deferred()
    }

    fn sync_policy(&self) -> SyncPolicy {
        if self.shape().whole_iommu_invalidation {
            SyncPolicy::WholeContext
        } else {
            SyncPolicy::Range
        }
    }

    fn capabilities(&self) -> Capabilities {
        let s = self.shape();
        Capabilities {
            tlb: Observable::Yes,
            config_cache: if s.config_cache {
                Observable::Yes
            } else {
                Observable::No("the toy applies stream configuration at once")
            },
            walk_cache: if s.walk_cache {
                Observable::Yes
            } else {
                Observable::No("the toy caches no walks")
            },
            contexts: if s.shared_context {
                Contexts::Shared("the toy has one table base for the whole IOMMU")
            } else {
                Contexts::PerStream
            },
            context_invalidation: if s.whole_iommu_invalidation {
                ContextInvalidation::WholeIommu("the toy's only flush empties its whole TLB")
            } else {
                ContextInvalidation::Tagged
            },
            detach: if s.detach_bypasses {
                Detach::Bypasses("the toy's per-stream bypass bit")
            } else {
                Detach::Blocks
            },
            invalidation: self.sync_policy(),
            ranged: s.ranged,
            fault: FaultShape {
                direction: Observable::Yes,
                iova_granule: 4,
                delivery: FaultDelivery::Queue,
            },
        }
    }

    fn new_context(&mut self, format: &Lpae) -> Result<Asid, IommuError> {
        if format.granule_kind() != Granule::K4 || format.input_bits() != TOY_IAS {
            return Err(IommuError::Unsupported {
                value: u64::from(format.input_bits()),
            });
        }
        let tag = (1..=u16::MAX)
            .find(|t| !self.tags.contains(t))
            .ok_or(IommuError::Unsupported { value: 0 })?;
        self.tags.insert(tag);
        Ok(Asid(tag))
    }

    fn release_context(&mut self, tag: Asid) {
        self.tags.remove(&tag.0);
    }

    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        let cfg = StreamCfg::Translate {
            tag: ctx.tag.0,
            root: ctx.root.0,
        };
        {
            let mut hw = self.hw.borrow_mut();
            if hw.shape.shared_context {
                // One table base: every translating stream must use it.
                let other = hw.streams.iter().find_map(|(&s, c)| match c {
                    StreamCfg::Translate { root, .. } if s != stream.0 && *root != ctx.root.0 => {
                        Some(*root)
                    }
                    _ => None,
                });
                if let Some(root) = other {
                    return Err(IommuError::Unsupported { value: root });
                }
            }
            hw.streams.insert(stream.0, cfg);
        }
        self.invalidate(ToyInvalidation::Config(stream.0));
        Ok(())
    }

    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        {
            let mut hw = self.hw.borrow_mut();
            if hw.shape.detach_bypasses {
                hw.streams.insert(stream.0, StreamCfg::Bypass);
            } else {
                hw.streams.remove(&stream.0);
            }
        }
        self.invalidate(ToyInvalidation::Config(stream.0));
        let key = self.key(ctx.tag);
        self.invalidate(ToyInvalidation::Context { key });
        Ok(())
    }

    fn sync(&mut self, req: &SyncRequest<'_, Asid>) -> Result<(), IommuError> {
        let key = self.key(req.tag);
        let inv = if self.shape().whole_iommu_invalidation {
            ToyInvalidation::Context { key }
        } else {
            ToyInvalidation::Range {
                key,
                iova: req.iova.0,
                size: req.size,
                leaf_only: req.leaf_only,
            }
        };
        self.invalidate(inv);
        Ok(())
    }
}

impl Observe for ToyIommu {
    type Invalidation = ToyInvalidation;

    fn gate(&self) -> &InvalidationGate<ToyInvalidation> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<ToyInvalidation> {
        &mut self.gate
    }

    fn run_invalidation(&mut self, inv: ToyInvalidation) -> Result<(), IommuError> {
        self.run(inv);
        Ok(())
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        core::mem::take(&mut self.hw.borrow_mut().faults)
    }

    fn invalidate_context(&mut self, tag: Asid) -> Result<(), IommuError> {
        let key = self.key(tag);
        if let Some(inv) = self.gate.admit_unheld(ToyInvalidation::Context { key }) {
            self.run(inv);
        }
        Ok(())
    }

    /// Declared for the three shapes the tests judge a negative control
    /// on: [`ToyShape::FULL`], FULL without a walk cache, and
    /// [`ToyShape::MINIMAL`].  Other shapes are variations for single cases
    /// and answer with the full list.
    fn skip_sync_failures(&self) -> &'static [&'static str] {
        let s = self.shape();
        if s == ToyShape::MINIMAL {
            MINIMAL_SKIP_SYNC_FAILURES
        } else if !s.walk_cache {
            NO_WALK_CACHE_SKIP_SYNC_FAILURES
        } else {
            FULL_SKIP_SYNC_FAILURES
        }
    }
}
