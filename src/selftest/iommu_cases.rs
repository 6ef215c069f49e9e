//! The IOMMU case catalogue (docs/design.md §4, "The case catalogue"), written once
//! against [`Observe`] (an [`Iommu`](crate::iommu::Iommu) driver the self-test
//! can look into) and [`DmaMaster`], so it runs unchanged on every IOMMU and
//! every DMA master, on QEMU, on boards and on the host against models.
//!
//! Every case sets up and tears down its own mappings with fresh IOVAs, and
//! IOVAs are never handed back within a run, so a stale entry one case leaves
//! (which is what the negative control does) cannot decide another case.  Transfers are short (64 bytes): an SMMUv3 writes
//! one event per faulting 4 bytes (docs/hw/qemu-virt.md §1.6).
#![forbid(unsafe_code)]

use super::guarded::GuardedBuf;
use super::needs::Need;
use super::runner::{Case, Group, Report};
use crate::iommu::pgtable::{Codec, Prot, TableMemory};
use crate::iommu::{
    Access, Capabilities, ContextInvalidation, Contexts, Detach, DmaError, DmaMaster, Domain,
    Fault, FaultKind, Iommu, Observe,
};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{Iova, PhysAddr};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

/// Bytes moved by one test DMA.
pub const XFER: usize = 64;
/// Page counts `range_invalidate` unmaps, one range each: none a power of
/// two, so a range command's NUM is never 0 (an off-by-one in it shows), and
/// 35 = 3 + 32 needs two SCALE steps in the SMMUv3 RIL encoding.
pub const RANGE_PAGES: [u64; 4] = [3, 5, 17, 35];

/// Bytes of each domain's IOVA aperture.
pub const APERTURE_SIZE: u64 = 0x1000_0000;
/// Domain 0's aperture starts above 4 GiB, so every invalidation the
/// catalogue's single-domain cases cause names an address with bits above
/// 31 (a TLBI address truncated to 32 bits misses); domain 1's stays below
/// 4 GiB, so both halves are exercised.  Within a 40-bit input size and any
/// 64-bit DMA mask.
pub const HIGH_APERTURE: u64 = 0x1_4000_0000;

/// First IOVA of domain `i`'s aperture (`APERTURE_SIZE` bytes): domain 0 at
/// [`HIGH_APERTURE`], domain `i > 0` at `(i + 1) * APERTURE_SIZE`.
pub fn aperture(i: usize) -> Iova {
    Iova(if i == 0 {
        HIGH_APERTURE
    } else {
        (i as u64 + 1) * APERTURE_SIZE
    })
}

/// A test mapping with a live neighbour: `bytes` at `iova` and one page
/// right after it at `nb`, mapped separately but in the same last-level
/// table and backed by the same buffer `b` (the neighbour at offset
/// `bytes`).  Unmapping the test range then leaves the table live, so the
/// core asks for a leaf-only invalidation of exactly that range — the path
/// real unmaps take — and an invalidation or UNMAP that reaches one byte
/// too far hits the neighbour.
#[derive(Clone, Copy, Debug)]
struct Neighboured {
    b: usize,
    iova: Iova,
    bytes: u64,
    nb: Iova,
}

/// A mapping every domain must have at a fixed IOVA (a master's staging
/// buffer), so re-attaching a master to another domain keeps it working.
#[derive(Clone, Copy, Debug)]
pub struct FixedMapping {
    /// Output address.
    pub phys: PhysAddr,
    /// Input address, outside every domain's IOVA aperture.
    pub iova: Iova,
    /// Bytes.
    pub size: u64,
}

/// Everything the IOMMU cases run against.
pub struct IommuTest<'a, I: Observe, M: TableMemory> {
    /// The driver.
    pub iommu: &'a mut I,
    /// Masters; `masters[i]` starts attached to `domains[i]` (to
    /// `domains[0]` when the IOMMU has one shared context).  Two are needed
    /// for `isolation` and `asid_invalidate`.
    pub masters: Vec<&'a mut dyn DmaMaster>,
    /// Domains (tags from the driver), with disjoint IOVA apertures.
    pub domains: Vec<TestDomain<I, M>>,
    /// Where test buffers come from.
    pub pool: &'a DmaPool,
    /// IOMMU page size (the granule): mappings and guards use it.
    pub page: u64,
    /// Every buffer a case allocated, kept for `no_collateral_writes`.
    pub buffers: Vec<GuardedBuf<'a>>,
    /// Per-DMA timeout handed to the masters.
    pub timeout: Duration,
    /// Per master: a buffer mapped at a fixed IOVA in every domain.  After
    /// every DMA that should be blocked the master writes it, so "blocked"
    /// is never confused with "the device did nothing".
    heartbeats: Vec<(usize, Iova)>,
    beats: u8,
    /// Fault records drained after each DMA (so a small event queue wraps
    /// but never overflows), handed out by `faults`.
    pending_faults: Vec<Fault>,
}

/// First heartbeat IOVA (master `i` at `+ i * 0x10_0000`): below every
/// aperture, above the staging IOVAs, clear of the virt MSI page.
pub const HEARTBEAT_IOVA: u64 = 0x0c00_0000;

/// A domain of driver `I` with tables in `M`.
pub type TestDomain<I, M> = Domain<<I as Iommu>::Format, M, <I as Iommu>::Tag>;

pub use super::setup_error::SetupError;

impl<'a, I: Observe, M: TableMemory> IommuTest<'a, I, M> {
    /// Maps `fixed` in every domain and attaches `masters[i]` to
    /// `domains[i]`.
    pub fn setup(
        iommu: &'a mut I,
        masters: Vec<&'a mut dyn DmaMaster>,
        mut domains: Vec<TestDomain<I, M>>,
        fixed: &[FixedMapping],
        pool: &'a DmaPool,
        page: u64,
    ) -> Result<Self, SetupError> {
        let shared = matches!(iommu.capabilities().contexts, Contexts::Shared(_));
        if masters.is_empty() || domains.is_empty() || (!shared && domains.len() < masters.len()) {
            return Err(SetupError::TooFewDomains {
                masters: masters.len(),
                domains: domains.len(),
            });
        }
        for d in domains.iter_mut() {
            for f in fixed {
                d.map(iommu, f.iova, f.phys, f.size, Prot::rw())
                    .map_err(|cause| SetupError::MapFixed {
                        iova: f.iova,
                        domain: format!("{:?}", d.tag()),
                        cause,
                    })?;
            }
        }
        for (i, m) in masters.iter().enumerate() {
            let d = &mut domains[if shared { 0 } else { i }];
            d.attach(iommu, m.stream())
                .map_err(|cause| SetupError::Attach {
                    master: String::from(m.name()),
                    domain: format!("{:?}", d.tag()),
                    cause,
                })?;
        }
        let mut t = Self {
            iommu,
            masters,
            domains,
            pool,
            page,
            buffers: Vec::new(),
            timeout: Duration::from_secs(5),
            heartbeats: Vec::new(),
            beats: 0,
            pending_faults: Vec::new(),
        };
        for m in 0..t.masters.len() {
            let iova = Iova(HEARTBEAT_IOVA + m as u64 * 0x10_0000);
            let b = GuardedBuf::new(t.pool, page as usize, page as usize)
                .map_err(SetupError::HeartbeatBuffer)?;
            let phys = b.bus();
            t.buffers.push(b);
            for d in t.domains.iter_mut() {
                d.map(t.iommu, iova, phys, page, Prot::rw())
                    .map_err(|cause| SetupError::MapHeartbeat {
                        iova,
                        domain: format!("{:?}", d.tag()),
                        cause,
                    })?;
            }
            t.heartbeats.push((t.buffers.len() - 1, iova));
        }
        let _ = t.iommu.drain_faults();
        let _ = t.iommu.take_invalidation_cost();
        Ok(t)
    }

    /// Allocates a guarded buffer of `bytes`; returns its index.
    fn buf(&mut self, r: &mut Report, bytes: u64) -> Option<usize> {
        match GuardedBuf::new(self.pool, bytes as usize, self.page as usize) {
            Ok(b) => {
                self.buffers.push(b);
                Some(self.buffers.len() - 1)
            }
            Err(e) => {
                r.fail(format_args!("allocating a {bytes}-byte test buffer: {e}"));
                None
            }
        }
    }

    /// The IOMMU's capabilities.
    fn caps(&self) -> Capabilities {
        self.iommu.capabilities()
    }

    /// The domain master `m` starts attached to.
    fn domain_of(&self, m: usize) -> usize {
        if self.domains.len() == 1 {
            0
        } else {
            m
        }
    }

    /// A fresh guarded buffer of `bytes`, mapped in domain `d` at a fresh
    /// IOVA: the start of most cases.
    fn mapped(
        &mut self,
        r: &mut Report,
        d: usize,
        bytes: u64,
        prot: Prot,
    ) -> Option<(usize, Iova)> {
        let b = self.buf(r, bytes)?;
        let iova = self.map(r, d, b, bytes, prot)?;
        Some((b, iova))
    }

    /// What the tables map for buffer `b`: its bus address (the
    /// physical address on every platform this image runs on).
    fn phys(&self, b: usize) -> PhysAddr {
        self.buffers[b].bus()
    }

    /// Maps `bytes` of buffer `b` in domain `d` at a fresh IOVA.
    fn map(&mut self, r: &mut Report, d: usize, b: usize, bytes: u64, prot: Prot) -> Option<Iova> {
        let phys = self.phys(b);
        match self.domains[d].map_alloc(self.iommu, phys, bytes, prot) {
            Ok(iova) => Some(iova),
            Err(e) => {
                r.fail(format_args!(
                    "map {bytes:#x} bytes at {phys} in domain {d}: {e}"
                ));
                None
            }
        }
    }

    /// A fresh buffer of `bytes` plus one page, mapped in domain `d` as a
    /// test range and a live neighbour page right after it (see
    /// [`Neighboured`]).  The IOVA space is taken aligned to its own size
    /// rounded up to a power of two, so both sit in one last-level table.
    fn mapped_with_neighbour(
        &mut self,
        r: &mut Report,
        d: usize,
        bytes: u64,
        prot: Prot,
    ) -> Option<Neighboured> {
        let page = self.page;
        let total = bytes + page;
        let b = self.buf(r, total)?;
        let phys = self.phys(b);
        let iova = match self.domains[d].alloc_iova(total, total.next_power_of_two()) {
            Ok(v) => v,
            Err(e) => {
                r.fail(format_args!(
                    "taking {total:#x} bytes of IOVA space in domain {d}: {e}"
                ));
                return None;
            }
        };
        if let Err(e) = self.domains[d].map(self.iommu, iova, phys, bytes, prot) {
            r.fail(format_args!(
                "map {bytes:#x} bytes at {phys} to {iova} in domain {d}: {e}"
            ));
            return None;
        }
        let nb = iova + bytes;
        if let Err(e) = self.domains[d].map(self.iommu, nb, phys + bytes, page, Prot::rw()) {
            r.fail(format_args!(
                "map the neighbour page {nb} in domain {d}: {e}"
            ));
            self.release(d, iova, bytes);
            return None;
        }
        Some(Neighboured { b, iova, bytes, nb })
    }

    /// Master `m` writes the live neighbour of `n` after the unmap next to
    /// it: it must land (an invalidation or UNMAP that reached too far, or
    /// a table freed under it, would block it).
    fn neighbour_alive(&mut self, r: &mut Report, m: usize, n: &Neighboured, seed: u8) {
        let p = pattern(seed);
        if self.dma_write(r, m, n.nb, &p) {
            expect_bytes(
                self,
                r,
                n.b,
                n.bytes as usize,
                &p,
                &format!(
                    "live neighbour {} next to the unmapped {}+{:#x}",
                    n.nb, n.iova, n.bytes
                ),
            );
        }
    }

    /// Unmaps what is left of `n` (the test range, then the neighbour).
    fn release_neighboured(&mut self, d: usize, n: &Neighboured) {
        self.release(d, n.iova, n.bytes);
        self.release(d, n.nb, self.page);
    }

    /// Compares what the DMA of master `m` to `iova` did with what the
    /// domain the master is attached to says in its tables
    /// ([`Domain::translate`]): mapped writable to the buffer `b` at `off`
    /// ↔ the bytes `data` landed there.  On an IOMMU that never reads our
    /// tables (virtio-iommu) this is what catches a wrongly encoded or
    /// stale PTE.  Not judged while invalidations are held or dropped: then
    /// the IOMMU may rightly still use what the tables no longer say.
    fn tables_agree(
        &mut self,
        r: &mut Report,
        m: usize,
        iova: Iova,
        b: usize,
        off: usize,
        data: &[u8],
    ) {
        if self.iommu.sync_is_deferred() {
            return;
        }
        let stream = self.masters[m].stream();
        let Some(d) = self
            .domains
            .iter()
            .position(|d| d.streams().contains(&stream))
        else {
            return;
        };
        let landed = same_bytes(self, b, off, data);
        let target = self.phys(b) + off as u64;
        let tables = self.domains[d].translate(iova);
        let should_land = matches!(tables, Ok(t) if t.prot.write && t.phys == target);
        if should_land == landed {
            return;
        }
        let said = match tables {
            Ok(t) if t.phys == target => format!(
                "map it to {target} {}",
                if t.prot.write {
                    "writable"
                } else {
                    "read-only"
                }
            ),
            Ok(t) => format!("map it to {} (not {target})", t.phys),
            Err(e) => format!("do not map it ({e:?})"),
        };
        r.fail(format_args!(
            "domain {d}'s tables {said}, but {}'s write to {iova} {} {target}: the tables and the IOMMU disagree",
            self.masters[m].name(),
            if landed { "landed at" } else { "did not land at" }
        ));
    }

    /// SKIPs the case because it could not establish that an entry was
    /// cached (`what`): the architecture never promises an entry stays
    /// cached, so this is not a driver bug (docs/design.md §5).  Adds the
    /// IOMMU's hit/miss evidence over the DMAs that showed it, when it
    /// offers any ([`Self::observed_attempts`]).
    fn not_cached(
        &mut self,
        r: &mut Report,
        what: core::fmt::Arguments<'_>,
        evidence: Option<String>,
    ) {
        let mut why = format!(
            "could not establish caching: {what}; an evicted entry is not a driver bug, so this case cannot judge the invalidation here"
        );
        if let Some(e) = evidence {
            why.push_str("; cache evidence over that DMA: ");
            why.push_str(&e);
        }
        r.skip(&why);
    }

    /// Master `m`'s attempts to write `data` at each IOVA of `iovas`, with
    /// the IOMMU's cache-evidence window ([`Observe::open_cache_window`])
    /// around exactly those DMAs: the heartbeat after them, which hits a
    /// cached page by design, is outside it.  Returns the evidence.
    fn observed_attempts(
        &mut self,
        r: &mut Report,
        m: usize,
        iovas: &[Iova],
        data: &[u8],
    ) -> Option<String> {
        self.iommu.open_cache_window();
        for &iova in iovas {
            self.dma_attempt_unchecked(r, m, iova, data);
        }
        let evidence = self.iommu.cache_evidence();
        self.alive(r, m);
        evidence
    }

    fn unmap(&mut self, r: &mut Report, d: usize, iova: Iova, bytes: u64) -> bool {
        match self.domains[d].unmap(self.iommu, iova, bytes) {
            Ok(_) => true,
            Err(e) => {
                r.fail(format_args!("unmap {iova}+{bytes:#x} in domain {d}: {e}"));
                false
            }
        }
    }

    /// Unmaps what is still mapped of a case's range.  The IOVA is not
    /// returned to the allocator: IOVAs are never reused within a run.
    fn release(&mut self, d: usize, iova: Iova, bytes: u64) {
        let _ = self.domains[d].unmap(self.iommu, iova, bytes);
    }

    /// Master `m` tries to write `data` at `iova` where the IOMMU may block
    /// it: a transport error is expected and not itself a failure (edu does
    /// not report one; other masters abort) — the bytes in memory decide.
    /// The error is noted, and the master must then complete a DMA to its
    /// heartbeat page, so a dead or wedged device cannot pass as "blocked".
    fn dma_attempt(&mut self, r: &mut Report, m: usize, iova: Iova, data: &[u8]) {
        self.dma_attempt_unchecked(r, m, iova, data);
        self.alive(r, m);
    }

    /// [`Self::dma_attempt`] without the heartbeat (the caller checks
    /// liveness itself, e.g. once a detached master is attached again).
    fn dma_attempt_unchecked(&mut self, r: &mut Report, m: usize, iova: Iova, data: &[u8]) {
        let t = self.timeout;
        match self.masters[m].write(iova, data, t) {
            Ok(_) => {}
            // Nothing was started: the IOMMU never saw the access, so an
            // untouched canary says nothing about blocking.
            Err(e @ (DmaError::NotIdle { .. } | DmaError::TooLong { .. })) => r.fail(format_args!(
                "{} write to {iova} never started ({e:?}): the attempt did not reach the IOMMU, so 'blocked' cannot be judged",
                self.masters[m].name()
            )),
            Err(e) => r.note(format_args!(
                "{} write to {iova} ended with {e:?}",
                self.masters[m].name()
            )),
        }
        self.collect_faults();
    }

    /// Drains the IOMMU's fault records into `pending_faults` (after every
    /// DMA that may fault, so the event queue never holds more than one
    /// DMA's records).
    fn collect_faults(&mut self) {
        let new = self.iommu.drain_faults();
        self.pending_faults.extend(new);
    }

    /// Master `m` writes a fresh pattern to its heartbeat page (mapped in
    /// every domain, never unmapped) and it must land.
    fn alive(&mut self, r: &mut Report, m: usize) {
        let Some(&(b, iova)) = self.heartbeats.get(m) else {
            return;
        };
        self.beats = self.beats.wrapping_add(1);
        let p = pattern(0x80 | self.beats);
        let t = self.timeout;
        let landed = self.masters[m].write(iova, &p, t).is_ok() && same_bytes(self, b, 0, &p);
        if !landed {
            r.fail(format_args!(
                "{} could not complete a DMA to its mapped heartbeat page {iova} after the attempt: \
                 'blocked' cannot be told from 'device did nothing'",
                self.masters[m].name()
            ));
        }
    }

    /// Master `m` writes `data` at `iova`; a transport error is reported.
    fn dma_write(&mut self, r: &mut Report, m: usize, iova: Iova, data: &[u8]) -> bool {
        let t = self.timeout;
        let done = self.masters[m].write(iova, data, t);
        self.collect_faults();
        match done {
            Ok(_) => true,
            Err(e) => {
                r.fail(format_args!(
                    "{} write of {} bytes to {iova}: {e:?}",
                    self.masters[m].name(),
                    data.len()
                ));
                false
            }
        }
    }

    fn faults(&mut self) -> Vec<Fault> {
        self.collect_faults();
        core::mem::take(&mut self.pending_faults)
    }

    fn hold(&mut self, on: bool) {
        self.iommu.hold_invalidations(on);
    }

    fn release_held(&mut self, r: &mut Report) {
        self.iommu.hold_invalidations(false);
        if let Err(e) = self.iommu.release_held() {
            r.fail(format_args!("running the held invalidations: {e}"));
        }
    }
}

/// A distinct 64-byte pattern per (case, step).
fn pattern(seed: u8) -> [u8; XFER] {
    let mut p = [0u8; XFER];
    for (i, b) in p.iter_mut().enumerate() {
        *b = seed
            .wrapping_mul(37)
            .wrapping_add((i as u8).wrapping_mul(11))
            | 1;
    }
    p
}

/// Checks the first bytes of buffer `b` and reports expected vs seen.
fn expect_bytes<I: Observe, M: TableMemory>(
    t: &IommuTest<'_, I, M>,
    r: &mut Report,
    b: usize,
    off: usize,
    expected: &[u8],
    what: &str,
) -> bool {
    let seen = t.buffers[b].bytes(off, expected.len());
    if seen == expected {
        return true;
    }
    r.fail(format_args!(
        "{what}: at {} expected {:02x?}... seen {:02x?}...",
        t.buffers[b].phys() + off as u64,
        &expected[..8.min(expected.len())],
        &seen[..8.min(seen.len())]
    ));
    false
}

fn same_bytes<I: Observe, M: TableMemory>(
    t: &IommuTest<'_, I, M>,
    b: usize,
    off: usize,
    data: &[u8],
) -> bool {
    t.buffers[b].bytes(off, data.len()) == data
}

/// The catalogue, in the order docs/design.md §4 lists it (no_collateral_writes last).
pub fn group<'a, I: Observe + 'a, M: TableMemory + 'a>(name: String) -> Group<IommuTest<'a, I, M>> {
    let cases: Vec<Case<IommuTest<'a, I, M>>> = alloc::vec![
        Case {
            name: "map_dma_roundtrip",
            needs: &[],
            run: map_dma_roundtrip,
        },
        Case {
            name: "map_next_to_walked",
            needs: &[],
            run: map_next_to_walked,
        },
        Case {
            name: "unmap_stale_window",
            needs: &[Need::Tlb],
            run: unmap_stale_window,
        },
        Case {
            name: "unmap_invalidate_blocks_dma",
            needs: &[],
            run: unmap_invalidate_blocks_dma,
        },
        Case {
            name: "remap_stale_window",
            needs: &[Need::Tlb],
            run: remap_stale_window,
        },
        Case {
            name: "remap_invalidate_new_page",
            needs: &[],
            run: remap_invalidate_new_page,
        },
        Case {
            name: "range_invalidate",
            needs: &[],
            run: range_invalidate,
        },
        Case {
            name: "asid_invalidate",
            needs: &[
                Need::SeparateContexts,
                Need::TwoMastersTwoDomains,
                Need::Tlb,
                Need::ContextScopedInvalidation,
            ],
            run: asid_invalidate,
        },
        Case {
            name: "config_invalidate",
            needs: &[Need::SeparateContexts, Need::TwoDomains],
            run: config_invalidate,
        },
        Case {
            name: "walk_cache_invalidate",
            needs: &[Need::WalkCache],
            run: walk_cache_invalidate,
        },
        Case {
            name: "default_deny",
            needs: &[Need::DetachBlocks],
            run: default_deny,
        },
        Case {
            name: "isolation",
            needs: &[Need::TwoMasters, Need::SeparateContexts],
            run: isolation,
        },
        Case {
            name: "readonly_blocks_write",
            needs: &[Need::PermissionCheckedMaster],
            run: readonly_blocks_write,
        },
        Case {
            name: "fault_record",
            needs: &[],
            run: fault_record,
        },
        Case {
            name: "empty_gather_still_syncs",
            needs: &[],
            run: empty_gather_still_syncs,
        },
        Case {
            name: "no_collateral_writes",
            needs: &[],
            run: no_collateral_writes,
        },
    ];
    Group {
        name,
        cases,
        after_each: Some(check_health::<I, M>),
        unmet: Some(unmet::<I, M>),
    }
}

/// The cases `iommu_bringup.catalogue=quick` runs: a smoke test of the
/// bring-up (a DMA through a mapping, the cached translation seen after an
/// unmap with the invalidation held, the DMA blocked once it is released,
/// every canary intact) that costs a few DMAs.  `el1-realtime` uses it to
/// show waits work in real time without repeating the whole catalogue.
pub const QUICK: &[&str] = &[
    "map_dma_roundtrip",
    "unmap_stale_window",
    "unmap_invalidate_blocks_dma",
    "no_collateral_writes",
];

/// Why a case outside [`QUICK`] did not run.
pub const NOT_IN_QUICK: &str = "not in the quick catalogue (iommu_bringup.catalogue=quick)";

fn not_in_quick<C>(_: &mut C) -> Report {
    let mut r = Report::new();
    r.skip(NOT_IN_QUICK);
    r
}

/// `group` cut to [`QUICK`]: every other case stays in the KTAP plan as a
/// SKIP saying why (the group's health check still runs after it, so a
/// problem the hardware reports is not hidden).
pub fn quick<C>(mut group: Group<C>) -> Group<C> {
    for c in &mut group.cases {
        if !QUICK.contains(&c.name) {
            c.needs = &[];
            c.run = not_in_quick::<C>;
        }
    }
    group
}

/// Why the IOMMU under test cannot meet `need` (`None`: it can).  The
/// reasons are the capabilities' own, so a skip names the hardware fact.
fn unmet<I: Observe, M: TableMemory>(t: &IommuTest<'_, I, M>, need: Need) -> Option<String> {
    let c = t.caps();
    let two_masters = t.masters.len() >= 2;
    let two_domains = t.domains.len() >= 2;
    match need {
        Need::Tlb => c.tlb.reason().map(String::from),
        Need::WalkCache => c.walk_cache.reason().map(String::from),
        Need::TwoMasters => (!two_masters).then(|| String::from("needs two DMA masters")),
        Need::TwoDomains => (!two_domains).then(|| String::from("needs two domains")),
        Need::TwoMastersTwoDomains => (!two_masters || !two_domains)
            .then(|| String::from("needs two DMA masters in two domains")),
        Need::SeparateContexts => match c.contexts {
            Contexts::PerStream => None,
            Contexts::Shared(why) => Some(format!(
                "needs streams in separate contexts, but every stream shares one: {why}"
            )),
        },
        Need::ContextScopedInvalidation => match c.context_invalidation {
            ContextInvalidation::Tagged | ContextInvalidation::StreamSet => None,
            ContextInvalidation::WholeIommu(why) => Some(format!(
                "needs an invalidation scoped to one context, but only the whole IOMMU can be invalidated: {why}"
            )),
        },
        Need::PermissionCheckedMaster => t.masters[0]
            .write_permission_unchecked()
            .map(|why| format!("{}: {why}", t.masters[0].name())),
        Need::DetachBlocks => match c.detach {
            Detach::Blocks => None,
            Detach::Bypasses(why) => Some(format!(
                "a detached stream bypasses translation here, so there is no default deny to test: {why}"
            )),
        },
    }
}

/// After every case: anything the IOMMU reported outside fault records
/// (lost events, global errors) fails the case that was running.
fn check_health<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>, r: &mut Report) {
    for problem in t.iommu.health() {
        r.fail(format_args!("{}: {problem}", t.iommu.name()));
    }
}

fn map_dma_roundtrip<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some((b, iova)) = t.mapped(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    r.note(format_args!(
        "{} at IOVA {iova} -> {}",
        t.masters[0].name(),
        t.phys(b)
    ));
    let p1 = pattern(1);
    if t.dma_write(&mut r, 0, iova, &p1) {
        expect_bytes(t, &mut r, b, 0, &p1, "device write through the mapping");
    }
    t.tables_agree(&mut r, 0, iova, b, 0, &p1);
    let p2 = pattern(2);
    t.buffers[b].write(XFER, &p2);
    let mut back = [0u8; XFER];
    let tmo = t.timeout;
    match t.masters[0].read(iova + XFER as u64, &mut back, tmo) {
        Ok(_) if back == p2 => {}
        Ok(_) => r.fail(format_args!(
            "device read through the mapping saw {:02x?}..., expected {:02x?}...",
            &back[..8],
            &p2[..8]
        )),
        Err(e) => r.fail(format_args!("device read: {e:?}")),
    }
    for f in t.faults() {
        r.fail(format_args!("unexpected fault: {f}"));
    }
    t.release(0, iova, page);
    r
}

/// The bytes one last-level table maps in domain `d`: the span of one
/// entry of the level above, from the driver's own table format (1 MiB on
/// sun50i, 2 MiB / 32 MiB / 512 MiB for LPAE at 4K / 16K / 64K).
fn table_span<I: Observe, M: TableMemory>(t: &IommuTest<'_, I, M>, d: usize) -> u64 {
    let codec = t.domains[d].page_table().codec();
    codec.level_entries(codec.last_level()) as u64 * t.page
}

/// `map_next_to_walked`: a mapping made right next to one the IOMMU has
/// just walked must be usable at once, with no unmap (and so no unmap's
/// invalidation) in between.  An IOMMU may walk ahead of a DMA and cache
/// what it found, invalid entries included (sun50i's prefetch loads the
/// next page's PTE and the next directory entry, docs/hw/sun50i.md §5); a
/// map into such a window is only seen once the driver's map-time
/// invalidation ([`Iommu::sync_map`]) drops them.  Two probes, each a map,
/// a DMA, then a map next to it and a DMA through that:
///
/// * the next page in the same last-level table;
/// * the first page of the next last-level table's span, which had no
///   table when the page before it was used (the span is the codec's).
///
/// A third probe needs no walk ahead: a DMA to a page that is not mapped
/// yet (it faults), then a map of that page and a DMA through it.  An
/// IOMMU whose TLB keeps the result of a failed walk (the DART may cache
/// invalid entries, which is why every DART driver flushes after a map,
/// docs/hw/dart.md §7) shows that mapping only after the map-time
/// invalidation.
///
/// All live in one fresh IOVA region of three table spans, so whatever
/// the walks cache ahead of them (the page after, the next table entry)
/// falls on IOVA this case owns and no later case can meet it; nothing is
/// unmapped until both have run.  Where three spans do not fit the
/// aperture (LPAE 64K: 512 MiB each), the first probe runs alone in a
/// region of its own and the case says so.
fn map_next_to_walked<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let span = table_span(t, 0);
    let (start, end) = t.domains[0].iova_allocator().aperture();
    let across_tables = 3 * span <= end.0 - start.0;
    let (bytes, align) = if across_tables {
        (3 * span, span)
    } else {
        (4 * page, 4 * page)
    };
    let Some(b) = t.buf(&mut r, 5 * page) else {
        return r;
    };
    let base = match t.domains[0].alloc_iova(bytes, align) {
        Ok(v) => v,
        Err(e) => {
            r.fail(format_args!(
                "taking {bytes:#x} bytes of IOVA space aligned to {align:#x}: {e}"
            ));
            return r;
        }
    };
    // Nothing is unmapped before the end: an unmap between the probes
    // could free the table they share, and its sync is not what this case
    // is about.
    let mut mapped = Vec::new();
    walked_then_next(
        &mut r,
        t,
        &mut mapped,
        b,
        [(base, 0), (base + page, page)],
        "the next page in the same last-level table",
        56,
    );
    if across_tables {
        let last = base + (span - page);
        walked_then_next(
            &mut r,
            t,
            &mut mapped,
            b,
            [(last, 2 * page), (base + span, 3 * page)],
            &format!("the first page of the next {span:#x}-byte last-level table span"),
            58,
        );
    } else {
        r.note(format_args!(
            "not probed: the first page of the next last-level table span ({span:#x} bytes each; three do not fit the {:#x}-byte aperture)",
            end.0 - start.0
        ));
    }
    faulted_then_mapped(&mut r, t, &mut mapped, b, base + 2 * page, 4 * page, 60);
    for iova in mapped {
        t.release(0, iova, page);
    }
    r
}

/// `map_next_to_walked`'s third probe: a DMA to `iova` while nothing is
/// mapped there (blocked; its fault records are drained), then a map of
/// `iova` to buffer `b` at `off` and a DMA through it, which must land
/// without a fault.  `iova` shares a last-level table with a mapped page,
/// so the blocked walk reached the leaf level.
#[allow(clippy::too_many_arguments)]
fn faulted_then_mapped<I: Observe, M: TableMemory>(
    r: &mut Report,
    t: &mut IommuTest<'_, I, M>,
    mapped: &mut Vec<Iova>,
    b: usize,
    iova: Iova,
    off: u64,
    seed: u8,
) {
    let page = t.page;
    let phys = t.phys(b) + off;
    t.dma_attempt(r, 0, iova, &pattern(seed));
    let _ = t.faults();
    if let Err(e) = t.domains[0].map(t.iommu, iova, phys, page, Prot::rw()) {
        r.fail(format_args!("map {iova} -> {phys}: {e}"));
        return;
    }
    mapped.push(iova);
    let what = format!(
        "DMA through {iova}, mapped right after a DMA to it faulted (nothing was mapped there)"
    );
    let p = pattern(seed + 1);
    let landed = t.dma_write(r, 0, iova, &p) && expect_bytes(t, r, b, off as usize, &p, &what);
    t.tables_agree(r, 0, iova, b, off as usize, &p);
    let faults = t.faults();
    for f in &faults {
        r.fail(format_args!("fault on the {what}: {f}"));
    }
    if landed && faults.is_empty() {
        r.note(format_args!(
            "{iova}, mapped after a DMA to it faulted: the DMA landed at {phys}"
        ));
    } else {
        r.note(format_args!(
            "an IOMMU that caches the result of a failed walk shows a fresh mapping only after the driver's map-time invalidation (Iommu::sync_map)"
        ));
    }
}

/// One probe of [`map_next_to_walked`]: maps page `first` (buffer `b` at
/// its offset), DMAs through it, then maps page `next` with no unmap in
/// between and DMAs through that: both writes must land and nothing may
/// fault.  What it mapped is pushed to `mapped` (the caller unmaps it).
fn walked_then_next<I: Observe, M: TableMemory>(
    r: &mut Report,
    t: &mut IommuTest<'_, I, M>,
    mapped: &mut Vec<Iova>,
    b: usize,
    pages: [(Iova, u64); 2],
    what: &str,
    seed: u8,
) {
    let page = t.page;
    let phys = t.phys(b);
    let [(first, _), (next, next_off)] = pages;
    for (i, (iova, off)) in pages.into_iter().enumerate() {
        if let Err(e) = t.domains[0].map(t.iommu, iova, phys + off, page, Prot::rw()) {
            r.fail(format_args!("map {iova} -> {}: {e}", phys + off));
            break;
        }
        mapped.push(iova);
        let what_dma = if i == 0 {
            format!("DMA through {first}")
        } else {
            format!(
                "DMA through {next} ({what}), mapped right after a DMA through {first} with no unmap in between"
            )
        };
        let p = pattern(seed + i as u8);
        let landed =
            t.dma_write(r, 0, iova, &p) && expect_bytes(t, r, b, off as usize, &p, &what_dma);
        t.tables_agree(r, 0, iova, b, off as usize, &p);
        let faults = t.faults();
        for f in &faults {
            r.fail(format_args!("fault on the {what_dma}: {f}"));
        }
        if !landed || !faults.is_empty() {
            if i == 1 {
                r.note(format_args!(
                    "an IOMMU that caches invalid entries ahead of a walk shows a fresh mapping only after the driver's map-time invalidation (Iommu::sync_map)"
                ));
            }
            break;
        }
        if i == 1 {
            r.note(format_args!(
                "{next} ({what}), mapped after a DMA through {first}: the DMA landed at {}",
                phys + next_off
            ));
        }
    }
}

fn unmap_stale_window<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let (b, iova) = (n.b, n.iova);
    let p1 = pattern(3);
    if !t.dma_write(&mut r, 0, iova, &p1) || !expect_bytes(t, &mut r, b, 0, &p1, "DMA before unmap")
    {
        t.release_neighboured(0, &n);
        return r;
    }
    t.hold(true);
    t.unmap(&mut r, 0, iova, page);
    let p2 = pattern(4);
    let evidence = t.observed_attempts(&mut r, 0, &[iova], &p2);
    let stale = same_bytes(t, b, 0, &p2);
    t.release_held(&mut r);
    let _ = t.faults();
    if stale {
        r.note(format_args!(
            "DMA to {iova} after unmap, invalidation held: reached {} through the cached translation",
            t.phys(b)
        ));
        if let Some(e) = evidence {
            r.note(format_args!("cache evidence over that DMA: {e}"));
        }
    } else {
        let pb = t.phys(b);
        t.not_cached(
            &mut r,
            format_args!(
                "DMA to {iova} after unmap with the invalidation held did not reach {pb} (no cached translation was used)"
            ),
            evidence,
        );
    }
    t.neighbour_alive(&mut r, 0, &n, 30);
    t.release_neighboured(0, &n);
    r
}

fn unmap_invalidate_blocks_dma<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let (b, iova) = (n.b, n.iova);
    let p1 = pattern(5);
    t.dma_write(&mut r, 0, iova, &p1);
    let _ = t.iommu.take_invalidation_cost();
    if t.unmap(&mut r, 0, iova, page) {
        r.note(format_args!(
            "unmap of 1 page cost {} invalidation commands",
            t.iommu.take_invalidation_cost()
        ));
    }
    let p2 = pattern(6);
    t.dma_attempt(&mut r, 0, iova, &p2);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &p1,
        "DMA after unmap + invalidation must be blocked; the page",
    );
    t.tables_agree(&mut r, 0, iova, b, 0, &p2);
    let faults = t.faults();
    r.note(format_args!(
        "{} fault records after the blocked DMA",
        faults.len()
    ));
    if let Some(f) = faults.first() {
        r.note(format_args!("first: {f}"));
    }
    t.neighbour_alive(&mut r, 0, &n, 31);
    t.release_neighboured(0, &n);
    r
}

fn remap_stale_window<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(b) = t.buf(&mut r, page) else {
        return r;
    };
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let (a, iova) = (n.b, n.iova);
    let p1 = pattern(7);
    t.dma_write(&mut r, 0, iova, &p1);
    t.hold(true);
    t.unmap(&mut r, 0, iova, page);
    let pb = t.phys(b);
    if let Err(e) = t.domains[0].map(t.iommu, iova, pb, page, Prot::rw()) {
        r.fail(format_args!("remap {iova} -> {pb}: {e}"));
    }
    let p2 = pattern(8);
    let evidence = t.observed_attempts(&mut r, 0, &[iova], &p2);
    let stale = same_bytes(t, a, 0, &p2);
    t.release_held(&mut r);
    let _ = t.faults();
    let pa = t.phys(a);
    if stale {
        r.note(format_args!("after re-pointing {iova} to {pb} with the invalidation held, DMA still reached the old page {pa}"));
        if let Some(e) = evidence {
            r.note(format_args!("cache evidence over that DMA: {e}"));
        }
    } else {
        t.not_cached(
            &mut r,
            format_args!("re-pointed {iova} with the invalidation held, but DMA did not reach the old page {pa} (no stale translation to observe)"),
            evidence,
        );
    }
    t.neighbour_alive(&mut r, 0, &n, 32);
    t.release_neighboured(0, &n);
    r
}

fn remap_invalidate_new_page<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(b) = t.buf(&mut r, page) else {
        return r;
    };
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let (a, iova) = (n.b, n.iova);
    let p1 = pattern(9);
    t.dma_write(&mut r, 0, iova, &p1);
    t.unmap(&mut r, 0, iova, page);
    let pb = t.phys(b);
    if let Err(e) = t.domains[0].map(t.iommu, iova, pb, page, Prot::rw()) {
        r.fail(format_args!("remap {iova} -> {pb}: {e}"));
    }
    let p2 = pattern(10);
    t.dma_write(&mut r, 0, iova, &p2);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &p2,
        "after remap + invalidation the new page",
    );
    expect_bytes(
        t,
        &mut r,
        a,
        0,
        &p1,
        "after remap + invalidation the old page",
    );
    t.tables_agree(&mut r, 0, iova, b, 0, &p2);
    t.tables_agree(&mut r, 0, iova, a, 0, &p2);
    for f in t.faults() {
        r.fail(format_args!("unexpected fault: {f}"));
    }
    t.neighbour_alive(&mut r, 0, &n, 33);
    t.release_neighboured(0, &n);
    r
}

/// The pages of an `n`-page range `range_invalidate` checks: all of a short
/// range; of a longer one the first four (where a first RIL chunk of up to
/// three pages ends), the middle and the last two (where a NUM or SCALE one
/// short ends).
fn range_probes(n: u64) -> Vec<u64> {
    if n <= 8 {
        return (0..n).collect();
    }
    let mut v: Vec<u64> = alloc::vec![0, 1, 2, 3, n / 2, n - 2, n - 1];
    v.dedup();
    v
}

fn range_invalidate<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    for (i, &n) in RANGE_PAGES.iter().enumerate() {
        if !one_range(t, &mut r, n, 40 + 4 * i as u8) {
            break;
        }
    }
    r
}

/// One range of `n` pages with a live neighbour page on each side (three
/// mappings in one last-level table), unmapped with one unmap.  Returns
/// `false` when the case cannot go on (setup failed, or caching could not
/// be established and the case SKIPs).
fn one_range<I: Observe, M: TableMemory>(
    t: &mut IommuTest<'_, I, M>,
    r: &mut Report,
    n: u64,
    seed: u8,
) -> bool {
    let page = t.page;
    let total = (n + 2) * page;
    let Some(b) = t.buf(r, total) else {
        return false;
    };
    let phys = t.phys(b);
    let iova = match t.domains[0].alloc_iova(total, total.next_power_of_two()) {
        Ok(v) => v,
        Err(e) => {
            r.fail(format_args!("taking {total:#x} bytes of IOVA space: {e}"));
            return false;
        }
    };
    // Left neighbour, the range, right neighbour: three separate mappings.
    let pieces = [(0, 1), (1, n), (n + 1, 1)];
    for (at, pages) in pieces {
        let (v, p) = (iova + at * page, phys + at * page);
        if let Err(e) = t.domains[0].map(t.iommu, v, p, pages * page, Prot::rw()) {
            r.fail(format_args!("map {v} -> {p} ({pages} pages): {e}"));
            return false;
        }
    }
    let release = |t: &mut IommuTest<'_, I, M>| {
        for (at, pages) in pieces {
            t.release(0, iova + at * page, pages * page);
        }
    };
    let probes: Vec<u64> = range_probes(n).into_iter().map(|k| k + 1).collect();
    let first = pattern(seed);
    for &k in probes.iter().chain([0, n + 1].iter()) {
        t.dma_write(r, 0, iova + k * page, &first);
    }
    // Where the IOMMU caches, first show every probed page of the range is
    // cached: unmap with the invalidation held and DMA each page — it must
    // still land.  Otherwise "blocked" below could come from an evicted
    // entry.
    let cached_proof = t.caps().tlb.is_yes();
    let stale = pattern(seed + 1);
    let mut expect_unmapped = first;
    let _ = t.iommu.take_invalidation_cost();
    if cached_proof {
        t.hold(true);
    }
    t.unmap(r, 0, iova + page, n * page);
    if cached_proof {
        let iovas: Vec<Iova> = probes.iter().map(|&k| iova + k * page).collect();
        let evidence = t.observed_attempts(r, 0, &iovas, &stale);
        let missing: Vec<u64> = probes
            .iter()
            .filter(|&&k| !same_bytes(t, b, (k * page) as usize, &stale))
            .map(|&k| k - 1)
            .collect();
        expect_unmapped = stale;
        t.release_held(r);
        if !missing.is_empty() {
            let _ = t.faults();
            release(t);
            t.not_cached(
                r,
                format_args!(
                    "pages {missing:?} of the {n}-page range at {} were not cached (DMA after unmap with the invalidation held did not land), so 'blocked' after the invalidation would prove nothing",
                    iova + page
                ),
                evidence,
            );
            return false;
        }
        if let Some(e) = evidence {
            r.note(format_args!(
                "{n}-page range, cache evidence over the {} held DMAs: {e}",
                probes.len()
            ));
        }
    }
    let cost = t.iommu.take_invalidation_cost();
    r.note(format_args!(
        "unmapped {n} contiguous pages at {} with one unmap: {cost} invalidation commands",
        iova + page
    ));
    if t.caps().ranged && !t.iommu.skipping_syncs() {
        // One range command covers the unmap; allow one more for an IOMMU
        // that splits at a power-of-two boundary (SMMUv3 RIL NUM/SCALE).
        r.check(
            cost <= 2,
            format_args!(
                "range invalidation is available but {n} pages cost {cost} commands (want O(1))"
            ),
        );
    }
    let second = pattern(seed + 2);
    for &k in &probes {
        let v = iova + k * page;
        t.dma_attempt_unchecked(r, 0, v, &second);
        let off = (k * page) as usize;
        if expect_bytes(
            t,
            r,
            b,
            off,
            &expect_unmapped,
            &format!("page {} of the {n}-page range ({v}) must be blocked", k - 1),
        ) {
            t.tables_agree(r, 0, v, b, off, &second);
        }
    }
    t.alive(r, 0);
    for k in [0, n + 1] {
        let v = iova + k * page;
        if t.dma_write(r, 0, v, &second) {
            expect_bytes(
                t,
                r,
                b,
                (k * page) as usize,
                &second,
                &format!("neighbour page {v} of the {n}-page range (still mapped)"),
            );
        }
    }
    let _ = t.faults();
    release(t);
    true
}

fn asid_invalidate<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(na) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let Some(nb) = t.mapped_with_neighbour(&mut r, 1, page, Prot::rw()) else {
        t.release_neighboured(0, &na);
        return r;
    };
    let (a, ia, b, ib) = (na.b, na.iova, nb.b, nb.iova);
    let p1 = pattern(13);
    t.dma_write(&mut r, 0, ia, &p1);
    t.dma_write(&mut r, 1, ib, &p1);
    // Both unmaps' invalidations held: both contexts keep stale entries.
    t.hold(true);
    t.unmap(&mut r, 0, ia, page);
    t.unmap(&mut r, 1, ib, page);
    // Both contexts' pages must be cached before the context invalidation,
    // or the checks after it prove nothing.
    let p_cached = pattern(27);
    let ea = t.observed_attempts(&mut r, 0, &[ia], &p_cached);
    let a_cached = same_bytes(t, a, 0, &p_cached);
    let pb_cached = pattern(28);
    let eb = t.observed_attempts(&mut r, 1, &[ib], &pb_cached);
    let b_cached = same_bytes(t, b, 0, &pb_cached);
    let asid0 = t.domains[0].tag();
    let asid1 = t.domains[1].tag();
    if !a_cached || !b_cached {
        t.release_held(&mut r);
        let _ = t.faults();
        t.release_neighboured(0, &na);
        t.release_neighboured(1, &nb);
        let which = match (a_cached, b_cached) {
            (false, false) => format!("neither {ia} in {asid0:?} nor {ib} in {asid1:?}"),
            (false, true) => format!("{ia} in {asid0:?}"),
            _ => format!("{ib} in {asid1:?}"),
        };
        let evidence = match (ea, eb) {
            (Some(ea), Some(eb)) => Some(format!("{ia}: {ea}; {ib}: {eb}")),
            (ea, eb) => ea.or(eb),
        };
        t.not_cached(
            &mut r,
            format_args!("{which} was not cached before the context invalidation (DMA after unmap, invalidation held, did not land)"),
            evidence,
        );
        return r;
    }
    if let Err(e) = t.iommu.invalidate_context(asid0) {
        r.fail(format_args!("invalidating {asid0:?}: {e}"));
    }
    let p2 = pattern(14);
    t.dma_attempt(&mut r, 0, ia, &p2);
    t.dma_attempt(&mut r, 1, ib, &p2);
    expect_bytes(
        t,
        &mut r,
        a,
        0,
        &p_cached,
        &format!("after invalidating {asid0:?}, its unmapped page"),
    );
    let other_stale = same_bytes(t, b, 0, &p2);
    t.release_held(&mut r);
    if other_stale {
        r.note(format_args!(
            "the other context ({asid1:?}) kept its entry, as it should"
        ));
    } else {
        r.fail(format_args!(
            "{ib} was cached in {asid1:?} just before, and gone right after invalidating {asid0:?}: the context invalidation reached another context"
        ));
    }
    let _ = t.faults();
    t.neighbour_alive(&mut r, 0, &na, 34);
    t.neighbour_alive(&mut r, 1, &nb, 35);
    t.release_neighboured(0, &na);
    t.release_neighboured(1, &nb);
    r
}

fn config_invalidate<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let (Some(a), Some(b)) = (t.buf(&mut r, page), t.buf(&mut r, page)) else {
        return r;
    };
    let Some(iova) = t.map(&mut r, 0, a, page, Prot::rw()) else {
        return r;
    };
    // The same IOVA in domain 1 points at b (domain 1's aperture is disjoint,
    // so its allocator never hands this IOVA out).
    let pb = t.phys(b);
    if let Err(e) = t.domains[1].map(t.iommu, iova, pb, page, Prot::rw()) {
        r.fail(format_args!("mapping {iova} -> {pb} in domain 1: {e}"));
        t.release(0, iova, page);
        return r;
    }
    let p1 = pattern(15);
    t.dma_write(&mut r, 0, iova, &p1);
    let stream = t.masters[0].stream();
    let observable = t.caps().config_cache.is_yes();
    t.hold(true);
    let moved = t.domains[0]
        .detach(t.iommu, stream)
        .and_then(|()| t.domains[1].attach(t.iommu, stream));
    if let Err(e) = moved {
        r.fail(format_args!(
            "moving {stream} from domain 0 to domain 1: {e}"
        ));
    }
    let p2 = pattern(16);
    let evidence = t.observed_attempts(&mut r, 0, &[iova], &p2);
    let stale = same_bytes(t, a, 0, &p2);
    t.release_held(&mut r);
    let mut uncached = false;
    if observable {
        if stale {
            r.note(format_args!("with the configuration invalidation held, {stream} still used domain 0's configuration"));
        } else {
            uncached = true;
        }
    }
    let p3 = pattern(17);
    t.dma_write(&mut r, 0, iova, &p3);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &p3,
        "after the configuration invalidation, domain 1's page",
    );
    // Back to the starting state.
    let back = t.domains[1]
        .detach(t.iommu, stream)
        .and_then(|()| t.domains[0].attach(t.iommu, stream));
    if let Err(e) = back {
        r.fail(format_args!("moving {stream} back to domain 0: {e}"));
    }
    let _ = t.faults();
    let _ = t.domains[1].unmap(t.iommu, iova, page);
    t.release(0, iova, page);
    if uncached {
        t.not_cached(
            &mut r,
            format_args!("with the configuration invalidation held, {stream} already used the new configuration (nothing cached to observe)"),
            evidence,
        );
    }
    r
}

fn walk_cache_invalidate<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    // One last-level table's worth of pages: unmapping all of them frees the
    // table, and the core must ask for a non-leaf invalidation.  The span
    // comes from the driver's own table format.
    let span = {
        let codec = t.domains[0].page_table().codec();
        let last = codec.last_level();
        codec.level_entries(last) as u64 * t.page
    };
    if span > t.pool.range().size / 4 {
        r.skip("a last-level table spans more than a quarter of the DMA pool at this granule");
        return r;
    }
    let page = t.page;
    let Some(b) = t.buf(&mut r, span) else {
        return r;
    };
    // The IOVA covers exactly one last-level table (aligned to its span), so
    // the unmap frees that table whole, leaving its old entries in the freed
    // page: a walk cache still pointing at it would translate, and the check
    // below would see the DMA land.  The buffer's physical address is only
    // page aligned, so the map uses pages, not a block.
    let phys = t.phys(b);
    let iova = match t.domains[0].map_alloc_aligned(t.iommu, phys, span, Prot::rw(), span) {
        Ok(v) => v,
        Err(e) => {
            r.fail(format_args!(
                "map {span:#x} bytes at {phys}, IOVA aligned to {span:#x}: {e}"
            ));
            return r;
        }
    };
    let p1 = pattern(18);
    t.dma_write(&mut r, 0, iova, &p1);
    t.unmap(&mut r, 0, iova, span);
    let p2 = pattern(19);
    t.dma_attempt(&mut r, 0, iova, &p2);
    expect_bytes(t, &mut r, b, 0, &p1, "after freeing the table the page");
    let _ = t.faults();
    t.release(0, iova, span);
    r.note(format_args!(
        "one {}-page last-level table at {iova} freed by the unmap",
        span / page
    ));
    r
}

fn default_deny<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let m = t.masters.len() - 1;
    let d = t.domain_of(m);
    let page = t.page;
    let Some(b) = t.buf(&mut r, page) else {
        return r;
    };
    // A canary no device write of ours produces: any write that lands on
    // the page, whatever its data, shows.
    let canary = [0xa5u8; XFER];
    t.buffers[b].write(0, &canary);
    // Mapped in the master's own domain but never used before the detach,
    // so no TLB entry exists: after the detach only a configuration that is
    // still cached (the detach's invalidation missing) could translate it.
    let Some(x) = t.map(&mut r, d, b, page, Prot::rw()) else {
        return r;
    };
    let stream = t.masters[m].stream();
    if let Some(why) = t.masters[m].detach_judged_by_registers() {
        r.note(format_args!("{}: {why}", t.masters[m].name()));
    }
    if let Err(e) = t.domains[d].detach(t.iommu, stream) {
        r.fail(format_args!("detaching {stream}: {e}"));
        return r;
    }
    let p = pattern(20);
    t.dma_attempt_unchecked(&mut r, m, x, &p);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &canary,
        &format!("DMA from detached {stream} to {x}, still mapped in its old domain"),
    );
    // If the stream bypassed translation, this IOVA would be b's address.
    let target = Iova(t.phys(b).as_u64());
    t.dma_attempt_unchecked(&mut r, m, target, &p);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &canary,
        &format!("DMA from detached {stream} to {target} (= the page's physical address)"),
    );
    if let Err(e) = t.domains[d].attach(t.iommu, stream) {
        r.fail(format_args!("re-attaching {stream}: {e}"));
    }
    // Attached again, the master must work: its silence while detached was
    // the IOMMU blocking it, not a dead device.
    t.alive(&mut r, m);
    let _ = t.faults();
    t.release(d, x, page);
    r
}

fn isolation<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some((a, iova)) = t.mapped(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let p1 = pattern(21);
    t.dma_write(&mut r, 0, iova, &p1);
    expect_bytes(t, &mut r, a, 0, &p1, "domain 0's own DMA");
    let p2 = pattern(22);
    let s1 = t.masters[1].stream();
    t.dma_attempt(&mut r, 1, iova, &p2);
    expect_bytes(
        t,
        &mut r,
        a,
        0,
        &p1,
        &format!("{s1} (domain 1) writing domain 0's IOVA {iova}"),
    );
    let phys = Iova(t.phys(a).as_u64());
    t.dma_attempt(&mut r, 1, phys, &p2);
    expect_bytes(
        t,
        &mut r,
        a,
        0,
        &p1,
        &format!("{s1} writing the page's physical address as IOVA"),
    );
    let _ = t.faults();
    t.release(0, iova, page);
    r
}

fn readonly_blocks_write<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    let Some(b) = t.buf(&mut r, page) else {
        return r;
    };
    let p0 = pattern(23);
    t.buffers[b].write(0, &p0);
    let Some(iova) = t.map(&mut r, 0, b, page, Prot::ro()) else {
        return r;
    };
    let _ = t.faults();
    let p1 = pattern(24);
    t.dma_attempt(&mut r, 0, iova, &p1);
    expect_bytes(
        t,
        &mut r,
        b,
        0,
        &p0,
        "device write to a read-only mapping must be blocked; the page",
    );
    t.tables_agree(&mut r, 0, iova, b, 0, &p1);
    let stream = t.masters[0].stream();
    let faults = t.faults();
    match faults.iter().find(|f| f.stream == stream) {
        Some(f) => {
            r.note(format_args!("{f}"));
            r.check(
                f.kind == FaultKind::Permission,
                format_args!("expected a permission fault, got {:?}", f.kind),
            );
            if let Some(acc) = f.access {
                r.check(
                    acc == Access::Write,
                    format_args!("expected a write fault, got {acc:?}"),
                );
            }
            if let Some(v) = f.iova {
                r.check(
                    v >= iova && v < iova + XFER as u64,
                    format_args!("record IOVA {v} is outside the blocked write {iova}+{XFER:#x}"),
                );
            }
        }
        None => r.fail(format_args!(
            "no fault record for {stream} after a write to a read-only mapping"
        )),
    }
    let mut back = [0u8; XFER];
    match t.masters[0].read(iova, &mut back, t.timeout) {
        Ok(_) if back == p0 => {}
        Ok(_) => r.fail(format_args!(
            "device read of the read-only page saw {:02x?}...",
            &back[..8]
        )),
        Err(e) => r.fail(format_args!("device read of the read-only page: {e:?}")),
    }
    t.release(0, iova, page);
    r
}

fn fault_record<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    // A fresh IOVA that was mapped (never used) and unmapped next to a
    // live neighbour.
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let iova = n.iova;
    t.unmap(&mut r, 0, iova, page);
    let _ = t.faults();
    let target = iova + 0x40;
    t.dma_attempt(&mut r, 0, target, &[0x5a; 16]);
    let stream = t.masters[0].stream();
    let faults = t.faults();
    r.note(format_args!("{} fault records", faults.len()));
    match faults.first() {
        None => r.fail(format_args!(
            "no fault recorded for {stream} writing unmapped {target}"
        )),
        Some(f) => {
            r.note(format_args!("first: {f}"));
            r.check(
                f.stream == stream,
                format_args!("record names {} not {stream}", f.stream),
            );
            r.check(
                f.kind == FaultKind::Translation,
                format_args!("kind {:?}, expected Translation", f.kind),
            );
            let shape = t.caps().fault;
            match f.iova {
                Some(v) => r.check(
                    v.align_down(shape.iova_granule) == target.align_down(shape.iova_granule),
                    format_args!("record IOVA {v}, expected {target}"),
                ),
                None => r.fail(format_args!("record carries no IOVA")),
            }
            let lookup_only = t.masters[0].direction_not_recorded();
            match (f.access, shape.direction.reason()) {
                (Some(a), _) if a != Access::Write && lookup_only.is_some() => r.note(
                    format_args!("record says {a:?}: {}", lookup_only.unwrap_or_default()),
                ),
                (Some(a), _) => r.check(
                    a == Access::Write,
                    format_args!("record says {a:?}, expected Write"),
                ),
                (None, Some(why)) => r.note(format_args!("no direction in the record: {why}")),
                (None, None) => r.fail(format_args!("record carries no direction")),
            }
        }
    }
    t.neighbour_alive(&mut r, 0, &n, 36);
    t.release_neighboured(0, &n);
    r
}

fn empty_gather_still_syncs<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    let page = t.page;
    // The neighbour keeps the last-level table live: the unmap frees no
    // table, so only the cleared leaf makes the gather non-empty — a walker
    // that failed to record it would leave nothing to sync (the 2026
    // regression shape), and this case must see that.
    let Some(n) = t.mapped_with_neighbour(&mut r, 0, page, Prot::rw()) else {
        return r;
    };
    let (b, iova) = (n.b, n.iova);
    let p1 = pattern(25);
    t.dma_write(&mut r, 0, iova, &p1);
    let before = t.domains[0].syncs_issued();
    let _ = t.iommu.take_invalidation_cost();
    t.unmap(&mut r, 0, iova, page);
    let syncs = t.domains[0].syncs_issued() - before;
    let cost = t.iommu.take_invalidation_cost();
    r.note(format_args!(
        "unmap through the core: {syncs} driver sync(s), {cost} invalidation commands"
    ));
    r.check(
        syncs >= 1,
        format_args!("the core did not call the driver's sync after an unmap that removed a page"),
    );
    r.check(
        cost >= 1,
        format_args!("the driver's sync issued no invalidation"),
    );
    let p2 = pattern(26);
    t.dma_attempt(&mut r, 0, iova, &p2);
    expect_bytes(t, &mut r, b, 0, &p1, "DMA after the synced unmap; the page");
    t.tables_agree(&mut r, 0, iova, b, 0, &p2);
    let _ = t.faults();
    t.neighbour_alive(&mut r, 0, &n, 37);
    t.release_neighboured(0, &n);
    r
}

fn no_collateral_writes<I: Observe, M: TableMemory>(t: &mut IommuTest<'_, I, M>) -> Report {
    let mut r = Report::new();
    r.note(format_args!("{} buffers checked", t.buffers.len()));
    // Last case of the group: what the run's invalidations looked like.
    if let Some(s) = t.iommu.invalidation_summary() {
        r.note(format_args!("{}: {s}", t.iommu.name()));
    }
    for b in &t.buffers {
        if let Err(e) = b.check_guards() {
            r.fail(format_args!("{e}"));
        }
    }
    r
}
