//! The SMMUv3 as the IOMMU core sees it: [`Smmuv3Iommu`] wraps the hardware
//! layer ([`Smmuv3`]) and implements [`Iommu`] (attach/detach a stream to a
//! domain's LPAE context, range invalidation after every unmap) and
//! [`Observe`] (held invalidations, the `skip-sync` negative control, fault
//! records, invalidation cost) for the self-test.
//!
//! Invalidation is by range ([`SyncPolicy::Range`], DESIGN.md "The sync
//! contract"; smmu.md §A.13): TLBI_NH_VA tagged with the domain's ASID and
//! the driver's VMID — on QEMU's nested-capable `virt` machine the IOTLB is
//! tagged by ASID *and* VMID = STE.S2VMID, so a TLBI with another VMID
//! misses (qemu-virt.md §1.4, probe step T5) — using the RIL range form when
//! IDR3.RIL says so.
//!
//! Holding: while [`Observe::hold_invalidations`] is on, the *commands* of
//! every invalidation (TLBI after a sync, CFGI_STE/CFGI_CD after attach or
//! detach, TLBI_NH_ASID) are queued; the STE/CD memory writes still happen
//! at once, so the SMMU's config cache (flushed only by CFGI_*, qemu-virt.md
//! §1.4) and IOTLB keep the stale state until [`Observe::release_held`].
//! With `skip_sync` (bootargs `iommu_bringup.inject=skip-sync`) the same
//! commands are dropped instead: that is the negative control that must
//! make the invalidation cases fail (DESIGN.md, "The case catalogue").
#![forbid(unsafe_code)]

use super::cd::{Cd, Stage1Cd};
use super::driver::{Smmuv3, VaRange};
use super::error::{CommandErrorKind, Smmuv3Error};
use super::event::{EventKind, FaultRecord};
use super::features::Granule;
use super::queue::Issued;
use super::regs::{R_CMDQ_CONS, R_CR0, R_CR0ACK, R_GBPA, R_GERROR, R_IRQ_CTRLACK};
use super::ste::Ste;
use crate::iommu::pgtable::{LpaeContext, TableFormat};
use crate::iommu::{
    Access, Asid, Caching, Context, Fault, FaultKind, Iommu, IommuError, Observe, StreamId,
    SyncPolicy, SyncRequest,
};
use crate::mm::Iova;
use crate::mmio::Mmio;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// What QEMU 10.0.2's SMMUv3 lets the self-test observe: a real IOTLB and a
/// config cache, both stale until invalidated, but no walk cache
/// (qemu-virt.md §1.4).  Use it when the platform is QEMU `virt`; real
/// SMMUs (MMU-600/700) cache walks too and want [`Caching`] with all `None`.
pub const QEMU_VIRT_CACHING: Caching = Caching {
    tlb: None,
    config: None,
    walk: Some("QEMU's SMMUv3 models no walk cache (hw/qemu-virt.md §1.4)"),
};

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
    skip_sync: bool,
    holding: bool,
    held: Vec<Invalidation>,
    /// Commands (CMD_SYNC excluded) issued since the last
    /// `take_invalidation_cost`.
    cost: u64,
    /// Streams attached through this adapter.
    streams: BTreeMap<u32, Attached>,
    /// Granule of every ASID ever attached (kept after detach: its IOTLB
    /// entries may outlive the stream, qemu-virt.md §1.4).
    granules: BTreeMap<u16, Granule>,
    /// A drain saw the event queue overflow since the last `health` call.
    lost_events: bool,
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
            skip_sync,
            holding: false,
            held: Vec::new(),
            cost: 0,
            streams: BTreeMap::new(),
            granules: BTreeMap::new(),
            lost_events: false,
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

    /// Invalidations queued while holding, oldest first.
    pub fn held(&self) -> &[Invalidation] {
        &self.held
    }

    /// Runs `inv` now, queues it (holding) or drops it (`skip_sync`).
    fn invalidate(&mut self, inv: Invalidation) -> Result<(), IommuError> {
        if self.skip_sync {
            return Ok(());
        }
        if self.holding {
            self.held.push(inv);
            return Ok(());
        }
        self.run(inv)
    }

    /// Issues `inv` and its CMD_SYNC, and counts its commands.
    fn run(&mut self, inv: Invalidation) -> Result<(), IommuError> {
        let issued = match inv {
            Invalidation::Range(r) => {
                let policy = self.smmu.tlbi_policy(r.granule);
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
        self.cost = self.cost.saturating_add(u64::from(issued.commands));
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
                    // GBPA.UPDATE, bit 31 (smmu.md §A.3).
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
                // CMDQ_CONS as it read: ERR [30:24], RD [19:0] (smmu.md
                // §A.10.5); the command's opcode goes above bit 32.
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
            Smmuv3Error::NotEnabled => IommuError::CommandError {
                offset: R_CR0.offset,
                value: u64::from(self.smmu.regs().read_raw32(R_CR0.offset)),
            },
            Smmuv3Error::Dma(d) => IommuError::Unsupported {
                value: match d {
                    crate::mm::dma_pool::DmaError::Exhausted { requested, .. }
                    | crate::mm::dma_pool::DmaError::BadSize { requested } => requested,
                },
            },
        }
    }

    /// The CD for `ctx` on this SMMU.
    fn stage1_cd(&self, ctx: &Context) -> Result<(Cd, Granule), IommuError> {
        #[allow(unreachable_patterns)] // other formats belong to other IOMMUs
        let lpae: LpaeContext = match ctx.format {
            TableFormat::Lpae(l) => l,
            _ => return Err(IommuError::Unsupported { value: 0 }),
        };
        let t = lpae.tcr;
        // TG0 encoding, as TCR_EL1 (smmu.md §A.8.1).
        let granule = match t.tg0 {
            0 => Granule::Size4K,
            1 => Granule::Size64K,
            2 => Granule::Size16K,
            other => return Err(IommuError::Unsupported { value: other }),
        };
        let f = self.smmu.features();
        if !f.supports(granule) {
            return Err(IommuError::Unsupported {
                value: u64::from(f.idr5),
            });
        }
        if ctx.coherent_walk && !self.smmu.coherent() {
            // Tables written without cache cleaning, but this walker does
            // not snoop: it would read stale memory.
            return Err(IommuError::Unsupported {
                value: u64::from(f.idr0),
            });
        }
        let small = |v: u64| u8::try_from(v).map_err(|_| IommuError::Unsupported { value: v });
        let cd = Cd::stage1(&Stage1Cd {
            // QEMU takes T0SZ 16..=39 (qemu-virt.md §1.8); the LPAE codec
            // gives 16..=32 (IAS 32..=48).
            t0sz: small(t.t0sz)?,
            granule,
            irgn: small(t.irgn0)?,
            orgn: small(t.orgn0)?,
            sh: small(t.sh0)?,
            // IPS no larger than what IDR5.OAS reports (the encodings are
            // ordered; QEMU clamps to 44 bits anyway, qemu-virt.md §1.8).
            ips: small(t.ips)?.min(f.oas_code),
            asid: ctx.asid.0,
            ttb0: ctx.root,
            mair: lpae.mair,
            // R = 1: translation faults are recorded (QEMU records nothing
            // otherwise, qemu-virt.md §1.6).  A = 1 and AA64 = 1 come with
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

/// CMDQ_CONS.ERR of a command error (smmu.md §A.10.5).
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
    // smmu.md §A.11.3).
    let transaction = r.kind.has_transaction();
    Fault {
        stream: StreamId(r.stream_id),
        iova: transaction.then_some(Iova(r.iova)),
        access: transaction.then_some(if r.read { Access::Read } else { Access::Write }),
        kind,
        raw: [r.raw[0], r.raw[1]],
    }
}

impl<M: Mmio> Iommu for Smmuv3Iommu<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    /// Held or skip-sync invalidations have not run: the SMMU's walk caches
    /// may still reference removed tables.
    fn sync_is_deferred(&self) -> bool {
        self.holding || self.skip_sync
    }

    fn sync_policy(&self) -> SyncPolicy {
        SyncPolicy::Range
    }

    /// Writes the CD (breaking update if it was valid), then a stage-1 STE
    /// pointing at it (S2VMID = the driver's VMID), then CFGI_STE (or
    /// CFGI_CD when the STE was already live) + CMD_SYNC — smmu.md §A.9.
    fn attach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let sid = stream.0;
        let (cd, granule) = self.stage1_cd(ctx)?;
        // The break-before-make CFGI inside a breaking CD/STE update is an
        // invalidation too: held or dropped like the final one.
        let now = !self.holding && !self.skip_sync;
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
            asid: ctx.asid.0,
            granule,
        };
        let previous = self.streams.insert(sid, attached);
        self.granules.insert(ctx.asid.0, granule);
        self.invalidate(inv)?;
        // Moved from another context nobody else uses: its entries would
        // outlive it (see `detach`).
        if let Some(old) = previous.filter(|p| p.asid != ctx.asid.0) {
            if !self.asid_in_use(old.asid) {
                self.invalidate(Invalidation::Context(old.asid))?;
            }
        }
        Ok(())
    }

    /// Abort STE (dword0 first), CFGI_STE + CMD_SYNC: blocked, never
    /// bypassed, and no event recorded (qemu-virt.md §1.6).  When no other
    /// stream here uses the context's ASID, also TLBI_NH_ASID: QEMU's IOTLB
    /// has no StreamID in its key (qemu-virt.md §1.4), so the entries would
    /// outlive the stream and serve a later attach that reuses the ASID.
    fn detach(&mut self, stream: StreamId, ctx: &Context) -> Result<(), IommuError> {
        let sid = stream.0;
        let issued = self
            .smmu
            .write_ste(sid, &Ste::abort(), false)
            .map_err(|e| self.error(e))?;
        self.count(issued);
        self.streams.remove(&sid);
        self.invalidate(Invalidation::Ste(sid))?;
        if !self.asid_in_use(ctx.asid.0) {
            self.invalidate(Invalidation::Context(ctx.asid.0))?;
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
    /// other entries cached (smmu.md §A.10.3); Linux never mixes sizes in
    /// one gather, our walker does.  Such a request is sent with Leaf = 0,
    /// which carries TTL = 0 and matches every level — over-invalidation,
    /// never under.
    fn sync(&mut self, req: &SyncRequest<'_>) -> Result<(), IommuError> {
        let asid = req.asid.0;
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
    fn hold_invalidations(&mut self, hold: bool) {
        self.holding = hold;
    }

    /// Runs the queue in order (each with its CMD_SYNC).  On an error the
    /// failed invalidation and the ones after it stay queued.
    fn release_held(&mut self) -> Result<usize, IommuError> {
        let queue = core::mem::take(&mut self.held);
        if self.skip_sync {
            return Ok(0);
        }
        for (i, inv) in queue.iter().enumerate() {
            if let Err(e) = self.run(*inv) {
                let mut rest = queue[i..].to_vec();
                rest.append(&mut self.held);
                self.held = rest;
                return Err(e);
            }
        }
        Ok(queue.len())
    }

    fn drain_faults(&mut self) -> Vec<Fault> {
        // Bounded even if a device keeps faulting while we drain: the
        // largest event queue is 2^19 records (IDR1.EVENTQS).
        let drain = self.smmu.drain_events_max(1 << 19);
        self.lost_events |= drain.overflowed;
        drain.records.iter().map(fault_from_record).collect()
    }

    /// Event-queue overflow seen by a drain (records lost: EVTQ_PROD.OVFLG,
    /// smmu.md §A.11) and active GERROR bits (acknowledged here).
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

    /// Commands issued (TLBI and CFGI; CMD_SYNC not counted).
    fn take_invalidation_cost(&mut self) -> u64 {
        core::mem::take(&mut self.cost)
    }

    fn caching(&self) -> Caching {
        self.caching
    }

    fn set_skip_sync(&mut self, on: bool) {
        self.skip_sync = on;
    }

    fn skipping_syncs(&self) -> bool {
        self.skip_sync
    }

    /// IDR3.RIL: one TLBI covers a range (smmu.md §A.10.3).
    fn ranged_invalidation(&self) -> bool {
        self.smmu.features().ril
    }

    /// TLBI_NH_ASID(VMID, asid) + CMD_SYNC, run at once even while other
    /// invalidations are held (the `Observe` contract: `asid_invalidate`
    /// holds two contexts' unmaps and invalidates one); dropped under
    /// skip-sync like every other invalidation.
    fn invalidate_context(&mut self, asid: Asid) -> Result<(), IommuError> {
        let holding = core::mem::replace(&mut self.holding, false);
        let r = self.invalidate(Invalidation::Context(asid.0));
        self.holding = holding;
        r
    }
}
