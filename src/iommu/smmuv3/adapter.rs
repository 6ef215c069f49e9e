//! The SMMUv3 as the IOMMU core sees it: [`Smmuv3Iommu`] wraps the hardware
//! layer ([`Smmuv3`]) and implements [`Iommu`] (attach/detach a stream to a
//! domain's LPAE context, range invalidation after every unmap) and
//! [`Observe`] (held invalidations, the `skip-sync` negative control, fault
//! records, invalidation cost) for the self-test.
//!
//! Invalidation is by range ([`SyncPolicy::Range`], docs/design.md §3 "The sync
//! contract"; docs/hw/smmuv3.md §13): TLBI_NH_VA tagged with the domain's ASID and
//! the driver's VMID — on QEMU's nested-capable `virt` machine the IOTLB is
//! tagged by ASID *and* VMID = STE.S2VMID, so a TLBI with another VMID
//! misses (docs/hw/qemu-virt.md §1.4, probe step T5) — using the RIL range form when
//! IDR3.RIL says so.
//!
//! Holding: while [`Observe::hold_invalidations`] is on, the *commands* of
//! every invalidation (TLBI after a sync, CFGI_STE/CFGI_CD after attach or
//! detach, TLBI_NH_ASID) are queued; the STE/CD memory writes still happen
//! at once, so the SMMU's config cache (flushed only by CFGI_*, docs/hw/qemu-virt.md
//! §1.4) and IOTLB keep the stale state until [`Observe::release_held`].
//! With `skip_sync` (bootargs `iommu_bringup.inject=skip-sync`) the same
//! commands are dropped instead: that is the negative control that must
//! make the invalidation cases fail (docs/design.md §4, "The case catalogue").
#![forbid(unsafe_code)]

use super::cd::{Cd, Stage1Cd};
use super::command::{plan_tlbi, Command, TlbiPolicy, TlbiRequest};
use super::driver::{Smmuv3, VaRange};
use super::error::{CommandErrorKind, Smmuv3Error};
use super::event::{EventKind, FaultRecord};
use super::features::Granule;
use super::queue::Issued;
use super::regs::{R_CMDQ_CONS, R_CR0, R_CR0ACK, R_EVTQ_BASE, R_GBPA, R_GERROR, R_IRQ_CTRLACK};
use super::ste::Ste;
use crate::iommu::pgtable::{Codec, Granule as LpaeGranule, Lpae};
use crate::iommu::vecmap::VecMap;
use crate::iommu::{
    Access, Asid, Capabilities, Context, ContextInvalidation, Contexts, Detach, Fault,
    FaultDelivery, FaultKind, FaultShape, InvalidationGate, Iommu, IommuError, Observable, Observe,
    RawRecord, StreamId, SyncPolicy, SyncRequest,
};
use crate::mm::Iova;
use crate::mmio::Mmio;
use alloc::string::String;
use alloc::vec::Vec;

/// Which of an SMMUv3's caches the self-test can observe.  Software cannot
/// read this from the ID registers, so the platform states it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Caching {
    /// The IOTLB.
    pub tlb: Observable,
    /// The STE/CD configuration cache.
    pub config: Observable,
    /// The walk cache.
    pub walk: Observable,
}

/// What QEMU 10.0.2's SMMUv3 lets the self-test observe: a real IOTLB and a
/// config cache, both stale until invalidated, but no walk cache
/// (docs/hw/qemu-virt.md §1.4).  Use it when the platform is QEMU `virt`; real
/// SMMUs (MMU-600/700) cache walks too and want [`SILICON_CACHING`].
pub const QEMU_VIRT_CACHING: Caching = Caching {
    tlb: Observable::Yes,
    config: Observable::Yes,
    walk: Observable::No("QEMU's SMMUv3 models no walk cache (docs/hw/qemu-virt.md §1.4)"),
};

/// An SMMUv3 in silicon (MMU-600/700): every cache the architecture
/// allows may hold entries until invalidated.
pub const SILICON_CACHING: Caching = Caching {
    tlb: Observable::Yes,
    config: Observable::Yes,
    walk: Observable::Yes,
};

/// The cases the SMMUv3 negative control (`inject=skip-sync`) must fail,
/// whatever the DMA master: exactly the cases that prove an invalidation
/// works.  `default_deny` is among them because the detach's configuration
/// invalidation is dropped too, so the detached stream keeps translating
/// through its old domain.  The one definition: the host model tests, the
/// QEMU scenarios and the board READMEs read this list.
pub const SKIP_SYNC_FAILURES: &[&str] = &[
    "unmap_invalidate_blocks_dma",
    "remap_invalidate_new_page",
    "range_invalidate",
    "asid_invalidate",
    "config_invalidate",
    "default_deny",
    "empty_gather_still_syncs",
];

/// One invalidation, as the core or the self-test asked for it: enough to
/// replay it later when held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// TLBI_NH_VA(A) over a range (RIL planner), then CMD_SYNC.
    Range(VaRange),
    /// TLBI_NH_ASID(VMID, ASID), then CMD_SYNC.
    Context(u16),
    /// CFGI_STE(sid) (the STE changed), then CMD_SYNC.
    Ste(u32),
    /// CFGI_CD(sid) (only the CD of a live STE changed), then CMD_SYNC.
    Cd(u32),
}

/// What the range invalidations this adapter ran looked like: which paths
/// of the TLBI encoding a run reached (docs/design.md §5, "A test must
/// reach the path it names").  Counted when an invalidation runs, not when
/// it is held or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbiShapes {
    /// Range invalidations run.
    pub ranges: u64,
    /// Of them, Leaf = 1 (only last-level entries removed).
    pub leaf: u64,
    /// Of the leaf ones, exactly one granule.
    pub leaf_single: u64,
    /// Leaf = 0 (a table was freed, or mixed leaf sizes).
    pub non_leaf: u64,
    /// Invalidations with a RIL range command whose NUM > 0.
    pub ril_num: u64,
    /// Invalidations that needed more than one RIL command (several SCALE
    /// steps).
    pub ril_multi: u64,
    /// Invalidations whose first address is at or above 4 GiB.
    pub high: u64,
}

impl TlbiShapes {
    /// Counts one range invalidation of `r` planned under `policy`.
    fn count(&mut self, r: &VaRange, policy: &TlbiPolicy) {
        self.ranges += 1;
        if r.leaf {
            self.leaf += 1;
            if r.size <= 1 << r.granule.shift() {
                self.leaf_single += 1;
            }
        } else {
            self.non_leaf += 1;
        }
        if r.iova >= 1 << 32 {
            self.high += 1;
        }
        let req = TlbiRequest {
            asid: r.asid,
            vmid: 0,
            iova: r.iova,
            size: r.size,
            granule: r.granule,
            leaf_shift: r.leaf_shift,
            leaf: r.leaf,
        };
        let (mut ranged, mut num) = (0u32, false);
        plan_tlbi(&req, policy, |c| {
            if let Command::TlbiVa(v) = c {
                if let Some(rr) = v.range {
                    ranged += 1;
                    num |= rr.num > 0;
                }
            }
        });
        self.ril_num += u64::from(num);
        self.ril_multi += u64::from(ranged > 1);
    }
}

impl core::fmt::Display for TlbiShapes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "invalidation shapes: {} TLBI ranges, {} leaf-only ({} single-page), {} non-leaf; {} with RIL NUM>0, {} with several SCALE steps; {} at IOVA>=4GiB",
            self.ranges, self.leaf, self.leaf_single, self.non_leaf, self.ril_num, self.ril_multi, self.high
        )?;
        let reached: Vec<&str> = [
            (self.leaf_single, "leaf single-page"),
            (self.ril_num, "RIL NUM>0"),
            (self.ril_multi, "several SCALEs"),
            (self.high, "IOVA>=4GiB"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, what)| *what)
        .collect();
        write!(f, "; reached: {}", reached.join(", "))
    }
}

/// The context a stream is attached to, as far as invalidation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Attached {
    asid: u16,
    granule: Granule,
}

/// An SMMUv3 driving the core's [`Iommu`] and [`Observe`] contracts.
pub struct Smmuv3Iommu<'a, M: Mmio> {
    smmu: Smmuv3<'a, M>,
    name: String,
    caching: Caching,
    /// Hold / skip-sync / cost (commands, CMD_SYNC excluded).
    gate: InvalidationGate<Invalidation>,
    /// ASIDs handed out to live domains.
    asids: VecMap<u16, ()>,
    /// Streams attached through this adapter.
    streams: VecMap<u32, Attached>,
    /// Granule of every ASID ever attached (kept after detach: its IOTLB
    /// entries may outlive the stream, docs/hw/qemu-virt.md §1.4).
    granules: VecMap<u16, Granule>,
    /// A drain saw the event queue overflow since the last `health` call.
    lost_events: bool,
    /// Shapes of the range invalidations run.
    shapes: TlbiShapes,
    /// Event records drained so far.
    events: u64,
}

impl<'a, M: Mmio> Smmuv3Iommu<'a, M> {
    /// Wraps `smmu`, which the caller has probed and normally already
    /// enabled ([`Smmuv3::reset_and_enable`]; until then every operation
    /// fails with a command error naming CR0).
    ///
    /// * `name`: for reports, e.g. `"smmuv3@9050000"`.
    /// * `skip_sync`: `iommu_bringup.inject=skip-sync` — drop every
    ///   invalidation command the core asks for (config writes still happen).
    /// * `caching`: what the platform knows this SMMU caches; on QEMU `virt`
    ///   pass [`QEMU_VIRT_CACHING`] (the adapter cannot detect it).
    pub fn new(smmu: Smmuv3<'a, M>, name: &str, skip_sync: bool, caching: Caching) -> Self {
        Self {
            smmu,
            name: String::from(name),
            caching,
            gate: InvalidationGate::new(skip_sync),
            asids: VecMap::new(),
            streams: VecMap::new(),
            granules: VecMap::new(),
            lost_events: false,
            shapes: TlbiShapes::default(),
            events: 0,
        }
    }

    /// The hardware layer (diagnostics: STEs, CDs, GERROR, queue pointers).
    pub fn smmu(&self) -> &Smmuv3<'a, M> {
        &self.smmu
    }

    /// The hardware layer, mutable (tests that bypass the core on purpose,
    /// e.g. writing an STE without CFGI).  Invalidations issued through it
    /// are neither held nor counted.
    pub fn smmu_mut(&mut self) -> &mut Smmuv3<'a, M> {
        &mut self.smmu
    }

    /// Gives the hardware layer back.
    pub fn into_inner(self) -> Smmuv3<'a, M> {
        self.smmu
    }

    /// Marks ASIDs 1..`asid` taken, so the next domain gets `asid` (tests
    /// that assert on ASID values in commands).
    #[cfg(test)]
    pub(crate) fn take_asids_below(&mut self, asid: u16) {
        for taken in 1..asid {
            self.asids.insert(taken, ());
        }
    }

    /// Shapes of the range invalidations run so far.
    pub fn tlbi_shapes(&self) -> TlbiShapes {
        self.shapes
    }

    /// Invalidations queued while holding, oldest first.
    pub fn held(&self) -> &[Invalidation] {
        self.gate.held()
    }

    /// Runs `inv` now, queues it (holding) or drops it (`skip_sync`).
    fn invalidate(&mut self, inv: Invalidation) -> Result<(), IommuError> {
        match self.gate.admit(inv) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }

    /// Issues `inv` and its CMD_SYNC, and counts its commands.
    fn run(&mut self, inv: Invalidation) -> Result<(), IommuError> {
        let issued = match inv {
            Invalidation::Range(r) => {
                let policy = self.smmu.tlbi_policy(r.granule);
                self.shapes.count(&r, &policy);
                self.smmu.tlbi_range(&r, &policy).map(|(_, issued)| issued)
            }
            Invalidation::Context(asid) => self.smmu.tlbi_asid(asid),
            Invalidation::Ste(sid) => self.smmu.cfgi_ste(sid),
            Invalidation::Cd(sid) => self.smmu.cfgi_cd(sid),
        }
        .map_err(|e| self.error(e))?;
        self.count(issued);
        Ok(())
    }

    fn count(&mut self, issued: Issued) {
        self.gate.count(u64::from(issued.commands));
    }

    /// Converts a hardware-layer error, keeping the register offset, value
    /// and stream it names.
    fn error(&self, e: Smmuv3Error) -> IommuError {
        match e {
            Smmuv3Error::Unsupported { value, .. } => IommuError::Unsupported {
                value: u64::from(value),
            },
            Smmuv3Error::Timeout {
                register,
                expected,
                last,
                ..
            } => {
                // The hardware layer names the register; the core wants its
                // offset and the bits polled.
                let (offset, mask) = match register {
                    "CR0ACK" => (R_CR0ACK.offset, u64::from(u32::MAX)),
                    "IRQ_CTRLACK" => (R_IRQ_CTRLACK.offset, u64::from(u32::MAX)),
                    // GBPA.UPDATE, bit 31 (docs/hw/smmuv3.md §3).
                    "GBPA" => (R_GBPA.offset, 1 << 31),
                    "CMDQ_CONS" => (R_CMDQ_CONS.offset, u64::from(u32::MAX)),
                    _ => (usize::MAX, u64::from(u32::MAX)),
                };
                IommuError::RegisterTimeout {
                    offset,
                    value: u64::from(last),
                    mask,
                    expected: u64::from(expected),
                }
            }
            Smmuv3Error::Command(c) => IommuError::CommandError {
                offset: R_CMDQ_CONS.offset,
                // CMDQ_CONS as it read: ERR [30:24], RD [19:0] (docs/hw/smmuv3.md
                // §10.5); the command's opcode goes above bit 32.
                value: u64::from(cerror_code(c.kind)) << 24
                    | u64::from(c.index)
                    | u64::from(c.opcode) << 32,
            },
            Smmuv3Error::ServiceFailure { gerror } => IommuError::CommandError {
                offset: R_GERROR.offset,
                value: u64::from(gerror),
            },
            Smmuv3Error::StreamIdOutOfRange { sid, .. } => IommuError::NoSuchStream {
                stream: StreamId(sid),
            },
            Smmuv3Error::IdOutOfRange { value, .. } => IommuError::Unsupported {
                value: u64::from(value),
            },
            Smmuv3Error::BadConfig { value, .. } => IommuError::Unsupported { value },
            Smmuv3Error::BeyondOas { addr, .. } => IommuError::Unsupported { value: addr },
            Smmuv3Error::NotEnabled => IommuError::CommandError {
                offset: R_CR0.offset,
                value: u64::from(self.smmu.regs().read_raw32(R_CR0.offset)),
            },
            Smmuv3Error::Dma(d) => IommuError::Unsupported {
                value: match d {
                    crate::mm::dma_pool::DmaError::Exhausted { requested, .. }
                    | crate::mm::dma_pool::DmaError::BadSize { requested }
                    | crate::mm::dma_pool::DmaError::NoneBelow { requested, .. } => requested,
                },
            },
        }
    }

    /// The SMMU's granule for an LPAE codec's.
    fn granule_of(lpae: &Lpae) -> Granule {
        match lpae.granule_kind() {
            LpaeGranule::K4 => Granule::Size4K,
            LpaeGranule::K16 => Granule::Size16K,
            LpaeGranule::K64 => Granule::Size64K,
        }
    }

    /// Checks tables of `lpae` can be walked by this SMMU.
    fn check_format(&self, lpae: &Lpae, coherent_walk: bool) -> Result<Granule, IommuError> {
        let granule = Self::granule_of(lpae);
        let f = self.smmu.features();
        if !f.supports(granule) {
            return Err(IommuError::Unsupported {
                value: u64::from(f.idr5),
            });
        }
        if coherent_walk && !self.smmu.coherent() {
            // Tables written without cache cleaning, but this walker does
            // not snoop: it would read stale memory.
            return Err(IommuError::Unsupported {
                value: u64::from(f.idr0),
            });
        }
        Ok(granule)
    }

    /// The CD for `ctx` on this SMMU: the LPAE codec's numbers packed into
    /// CD dword0's translation-control fields (IHI0070 §5.4, docs/hw/smmuv3.md §8).
    fn stage1_cd(&self, ctx: &Context<'_, Lpae, Asid>) -> Result<(Cd, Granule), IommuError> {
        let lpae = ctx.format;
        let granule = self.check_format(lpae, ctx.coherent_walk)?;
        let f = self.smmu.features();
        // Cacheable inner-shareable walks only when the walker is coherent
        // *and* the CPU maps the tables Write-Back (the driver's
        // `cacheable`); otherwise non-cacheable outer-shareable, Linux's
        // non-coherent choice (docs/hw/smmuv3.md §8.2, §12.1).
        let (irgn, orgn, sh) = if ctx.coherent_walk && self.smmu.cacheable() {
            Stage1Cd::WALK_COHERENT
        } else {
            Stage1Cd::WALK_NON_COHERENT
        };
        let cd = Cd::stage1(&Stage1Cd {
            // QEMU takes T0SZ 16..=39 (docs/hw/qemu-virt.md §1.8); the LPAE codec
            // gives 16..=32 (IAS 32..=48).
            t0sz: (64 - lpae.input_bits()) as u8,
            granule,
            irgn,
            orgn,
            sh,
            // IPS no larger than what IDR5.OAS reports (the encodings are
            // ordered; QEMU clamps to 44 bits anyway, docs/hw/qemu-virt.md §1.8).
            ips: ips_code(lpae.output_bits()).min(f.oas_code),
            asid: ctx.tag.0,
            ttb0: ctx.root,
            mair: lpae.mair(),
            // R = 1: translation faults are recorded (QEMU records nothing
            // otherwise, docs/hw/qemu-virt.md §1.6).  A = 1 and AA64 = 1 come with
            // `Cd::stage1`.
            record_faults: true,
            access_flag_fault_disable: false,
        })
        .map_err(|e| self.error(e))?;
        Ok((cd, granule))
    }

    /// `true` when another stream attached here still uses `asid`.
    fn asid_in_use(&self, asid: u16) -> bool {
        self.streams.values().any(|a| a.asid == asid)
    }
}

/// The CD.IPS / TCR.IPS encoding of an output size in bits (IHI0070 §5.4;
/// the TCR_EL1.IPS encoding of Arm ARM DDI0487).  The LPAE codec only
/// accepts sizes that have one.
fn ips_code(oas: u32) -> u8 {
    match oas {
        32 => 0,
        36 => 1,
        40 => 2,
        42 => 3,
        44 => 4,
        _ => 5,
    }
}

/// CMDQ_CONS.ERR of a command error (docs/hw/smmuv3.md §10.5).
fn cerror_code(kind: CommandErrorKind) -> u8 {
    match kind {
        CommandErrorKind::Illegal => 1,
        CommandErrorKind::FetchAbort => 2,
        CommandErrorKind::AtcInvSync => 3,
        CommandErrorKind::Unknown(c) => c,
    }
}

/// A fault record in the driver-independent form.
pub fn fault_from_record(r: &FaultRecord) -> Fault {
    let kind = match r.kind {
        EventKind::Translation => FaultKind::Translation,
        EventKind::Permission => FaultKind::Permission,
        EventKind::Access => FaultKind::AccessFlag,
        EventKind::AddressSize => FaultKind::AddressSize,
        EventKind::BadStreamId
        | EventKind::SteFetch
        | EventKind::BadSte
        | EventKind::StreamDisabled
        | EventKind::TranslationForbidden
        | EventKind::BadSubstreamId
        | EventKind::CdFetch
        | EventKind::BadCd
        | EventKind::ConfigConflict
        | EventKind::VmsFetch => FaultKind::Config,
        other => FaultKind::Other(other.code()),
    };
    // Only transaction faults carry InputAddr and RnW (IHI0070 §7.3,
    // docs/hw/smmuv3.md §11.3).
    let transaction = r.kind.has_transaction();
    Fault {
        stream: StreamId(r.stream_id),
        iova: transaction.then_some(Iova(r.iova)),
        access: transaction.then_some(if r.read { Access::Read } else { Access::Write }),
        kind,
        raw: RawRecord::new(&r.raw[..2]),
    }
}

impl<M: Mmio> Iommu for Smmuv3Iommu<'_, M> {
    type Format = Lpae;
    type Tag = Asid;

    fn name(&self) -> &str {
        &self.name
    }

    /// Held or skip-sync invalidations have not run: the SMMU's walk caches
    /// may still reference removed tables.
    fn sync_is_deferred(&self) -> bool {
        self.gate.deferred()
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }

    /// Per-stream STEs, ASID-tagged TLB entries, abort STE on detach,
    /// queued events with RnW and the input address; range invalidation in
    /// one command when IDR3.RIL (docs/hw/smmuv3.md §10.3).
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tlb: self.caching.tlb,
            config_cache: self.caching.config,
            walk_cache: self.caching.walk,
            contexts: Contexts::PerStream,
            context_invalidation: ContextInvalidation::Tagged,
            detach: Detach::Blocks,
            invalidation: SyncPolicy::Range,
            ranged: self.smmu.features().ril,
            fault: FaultShape {
                direction: Observable::Yes,
                iova_granule: 4,
                delivery: FaultDelivery::Queue,
            },
        }
    }

    /// Checks granule and coherency against IDR0/IDR5 and hands out the
    /// lowest free ASID from 1 (ASID 0 is left unused; 8-bit ASIDs unless
    /// IDR0.ASID16).
    fn new_context(&mut self, format: &Lpae) -> Result<Asid, IommuError> {
        self.check_format(format, format.coherent_walk())?;
        let max: u16 = if self.smmu.features().asid16 {
            u16::MAX
        } else {
            u8::MAX.into()
        };
        let asid =
            (1..=max)
                .find(|a| !self.asids.contains_key(a))
                .ok_or(IommuError::Unsupported {
                    value: u64::from(self.smmu.features().idr0),
                })?;
        self.asids.insert(asid, ());
        Ok(Asid(asid))
    }

    fn release_context(&mut self, tag: Asid) {
        self.asids.remove(&tag.0);
    }

    /// Writes the CD (breaking update if it was valid), then a stage-1 STE
    /// pointing at it (S2VMID = the driver's VMID), then CFGI_STE (or
    /// CFGI_CD when the STE was already live) + CMD_SYNC — docs/hw/smmuv3.md §9.
    fn attach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        let sid = stream.0;
        let (cd, granule) = self.stage1_cd(ctx)?;
        // The break-before-make CFGI inside a breaking CD/STE update is an
        // invalidation too: held or dropped like the final one.
        let now = self.gate.runs_now();
        let (addr, issued) = self
            .smmu
            .write_cd(sid, &cd, now)
            .map_err(|e| self.error(e))?;
        self.count(issued);
        let ste = self.smmu.stage1_ste(addr).map_err(|e| self.error(e))?;
        let live = self.smmu.read_ste(sid).map_err(|e| self.error(e))? == ste;
        let inv = if live {
            Invalidation::Cd(sid)
        } else {
            let issued = self
                .smmu
                .write_ste(sid, &ste, now)
                .map_err(|e| self.error(e))?;
            self.count(issued);
            Invalidation::Ste(sid)
        };
        let attached = Attached {
            asid: ctx.tag.0,
            granule,
        };
        let previous = self.streams.insert(sid, attached);
        self.granules.insert(ctx.tag.0, granule);
        self.invalidate(inv)?;
        // Moved from another context nobody else uses: its entries would
        // outlive it (see `detach`).
        if let Some(old) = previous.filter(|p| p.asid != ctx.tag.0) {
            if !self.asid_in_use(old.asid) {
                self.invalidate(Invalidation::Context(old.asid))?;
            }
        }
        Ok(())
    }

    /// Abort STE (dword0 first), CFGI_STE + CMD_SYNC: blocked, never
    /// bypassed, and no event recorded (docs/hw/qemu-virt.md §1.6).  When no other
    /// stream here uses the context's ASID, also TLBI_NH_ASID: QEMU's IOTLB
    /// has no StreamID in its key (docs/hw/qemu-virt.md §1.4), so the entries would
    /// outlive the stream and serve a later attach that reuses the ASID.
    fn detach(
        &mut self,
        stream: StreamId,
        ctx: &Context<'_, Lpae, Asid>,
    ) -> Result<(), IommuError> {
        let sid = stream.0;
        let issued = self
            .smmu
            .write_ste(sid, &Ste::abort(), false)
            .map_err(|e| self.error(e))?;
        self.count(issued);
        self.streams.remove(&sid);
        self.invalidate(Invalidation::Ste(sid))?;
        if !self.asid_in_use(ctx.tag.0) {
            self.invalidate(Invalidation::Context(ctx.tag.0))?;
        }
        Ok(())
    }

    /// TLBI_NH_VA over `[iova, iova + size)` (range form when IDR3.RIL),
    /// Leaf = `req.leaf_only`, TTL from the removed leaf size, then
    /// CMD_SYNC.  An ASID this adapter never attached gets TLBI_NH_ASID
    /// (its granule is unknown; over-invalidating is always correct).
    ///
    /// A gather holding leaves of several sizes (a block and pages) has no
    /// single right TTL, and a TTL naming the wrong level may leave the
    /// other entries cached (docs/hw/smmuv3.md §10.3); Linux never mixes sizes in
    /// one gather, our walker does.  Such a request is sent with Leaf = 0,
    /// which carries TTL = 0 and matches every level — over-invalidation,
    /// never under.
    fn sync(&mut self, req: &SyncRequest<'_, Asid>) -> Result<(), IommuError> {
        let asid = req.tag.0;
        let inv = match self.granules.get(&asid) {
            Some(&granule) => {
                let leaf_shift = if req.granule.is_power_of_two() {
                    req.granule.trailing_zeros().max(granule.shift())
                } else {
                    granule.shift()
                };
                Invalidation::Range(VaRange {
                    asid: Some(asid),
                    iova: req.iova.0,
                    size: req.size,
                    granule,
                    leaf_shift,
                    leaf: req.leaf_only && req.gather.leaf_sizes().count_ones() <= 1,
                })
            }
            None => Invalidation::Context(asid),
        };
        self.invalidate(inv)
    }
}

impl<M: Mmio> Observe for Smmuv3Iommu<'_, M> {
    type Invalidation = Invalidation;

    fn gate(&self) -> &InvalidationGate<Invalidation> {
        &self.gate
    }

    fn gate_mut(&mut self) -> &mut InvalidationGate<Invalidation> {
        &mut self.gate
    }

    /// Issues the commands and their CMD_SYNC.
    fn run_invalidation(&mut self, inv: Invalidation) -> Result<(), IommuError> {
        self.run(inv)
    }

    fn skip_sync_failures(&self) -> &'static [&'static str] {
        SKIP_SYNC_FAILURES
    }

    /// The TLBI shapes, and how many event records went through the event
    /// queue (EVTQ_BASE.LOG2SIZE as programmed) and how often it wrapped.
    fn invalidation_summary(&self) -> Option<String> {
        let log2 = self.smmu.regs().read_raw32(R_EVTQ_BASE.offset) & 0x1f;
        let wraps = self.events >> log2;
        let wrapped = if wraps == 0 {
            String::from("never wrapped")
        } else {
            alloc::format!("wrapped {wraps} times")
        };
        Some(alloc::format!(
            "{}; {} event records through a 2^{log2}-entry event queue, {wrapped}",
            self.shapes,
            self.events
        ))
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        // Bounded even if a device keeps faulting while we drain: the
        // largest event queue is 2^19 records (IDR1.EVENTQS).
        let drain = self.smmu.drain_events_max(1 << 19);
        self.lost_events |= drain.overflowed;
        self.events += drain.records.len() as u64;
        drain.records.iter().map(fault_from_record).collect()
    }

    /// Event-queue overflow seen by a drain (records lost: EVTQ_PROD.OVFLG,
    /// docs/hw/smmuv3.md §11) and active GERROR bits (acknowledged here).
    fn health(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if core::mem::take(&mut self.lost_events) {
            problems.push(String::from(
                "event queue overflowed: fault records were lost (EVTQ_PROD.OVFLG)",
            ));
        }
        match self.smmu.check_gerror() {
            Ok(g) if g.active.0 != 0 => problems.push(alloc::format!(
                "global errors active: {} (GERROR {:#x})",
                g.active,
                g.gerror
            )),
            Ok(_) => {}
            Err(e) => problems.push(alloc::format!("reading GERROR: {e}")),
        }
        problems
    }

    /// TLBI_NH_ASID(VMID, asid) + CMD_SYNC, run at once even while other
    /// invalidations are held (the `Observe` contract: `asid_invalidate`
    /// holds two contexts' unmaps and invalidates one); dropped under
    /// skip-sync like every other invalidation.
    fn invalidate_context(&mut self, asid: Asid) -> Result<(), IommuError> {
        match self.gate.admit_unheld(Invalidation::Context(asid.0)) {
            Some(inv) => self.run(inv),
            None => Ok(()),
        }
    }
}
