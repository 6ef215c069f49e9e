//! The SMMUv3 driver at the hardware level: probe, reset and enable, install
//! STEs and CDs with the required ordering, issue invalidations, drain
//! events, report global errors.
//!
//! The enable sequence follows docs/hw/smmuv3.md §5 (Linux `arm_smmu_device_reset()`
//! generalised) and docs/hw/qemu-virt.md §1.10 (what worked on QEMU 10.0.2): GBPA is
//! set to abort *before* anything else so unattached streams are blocked
//! while the SMMU is disabled, and every wait is bounded by
//! [`crate::time::poll_until`].
#![forbid(unsafe_code)]

use super::cd::{Cd, Stage1Cd, CD_BYTES, CD_DWORDS};
use super::coherency::{CacheOps, DmaSync};
use super::command::{plan_tlbi, Command, TlbiForm, TlbiPolicy, TlbiRequest};
use super::error::Smmuv3Error;
use super::event::{FaultRecord, GlobalErrors};
use super::features::{Features, Granule, StallModel};
use super::queue::{CommandQueue, EventDrain, EventQueue, Hw, Issued};
use super::regs::{
    Regs, CR0, CR1, CR2, GBPA, GERROR, Q_BASE, R_AIDR, R_CMDQ_BASE, R_CMDQ_CONS, R_CMDQ_PROD,
    R_CR0, R_CR0ACK, R_CR1, R_CR2, R_EVTQ_BASE, R_EVTQ_CONS, R_EVTQ_PROD, R_GBPA, R_GERROR,
    R_GERRORN, R_IDR0, R_IDR1, R_IDR3, R_IDR5, R_IIDR, R_IRQ_CTRL, R_IRQ_CTRLACK, R_STRTAB_BASE,
    R_STRTAB_BASE_CFG,
};
use super::ste::{FetchAttrs, Stage1Ste, Ste, SteKind};
use super::strtab::{check_oas, choose_layout, StreamTable, StrtabChoice, StrtabLayout};
use crate::iommu::vecmap::VecMap;
use crate::mm::dma_pool::{DmaBuf, DmaPool};
use crate::mm::BusAddr;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::vec::Vec;
use core::time::Duration;

/// Driver parameters chosen by the platform / self-test.
#[derive(Clone, Copy, Debug)]
pub struct Smmuv3Config {
    /// Largest StreamID that will be attached (must fit IDR1.SIDSIZE); the
    /// stream table covers every StreamID the SMMU supports anyway
    /// (docs/hw/smmuv3.md §6.4).
    pub max_stream_id: u32,
    /// Stream table format.
    pub strtab: StrtabChoice,
    /// log2 of command queue entries wanted (clamped to IDR1.CMDQS).
    pub cmdq_log2: u8,
    /// log2 of event queue entries wanted (clamped to IDR1.EVENTQS).  QEMU
    /// writes one record per 4 faulting bytes (docs/hw/qemu-virt.md §1.6), so a
    /// faulting 4 KiB DMA needs 1024.
    pub evtq_log2: u8,
    /// The firmware says the SMMU is coherent (DT `dma-coherent`).
    pub dt_dma_coherent: bool,
    /// The Page 1 registers (EVTQ_PROD/CONS, PRIQ_PROD/CONS) are reached at
    /// their Page 0 offsets: DT `cavium,cn9900-broken-page1-regspace`
    /// (docs/hw/smmuv3.md §1).  The frame is then 64 KiB; build the
    /// register accessor with [`Regs::for_config`].
    pub page0_regs_only: bool,
    /// The CPU maps the memory the SMMU's structures live in (the DMA
    /// pool) Normal Write-Back.  Only then, and only on a coherent SMMU,
    /// does the driver give the SMMU cacheable attributes; otherwise every
    /// attribute it writes is Non-cacheable, Outer Shareable
    /// (docs/hw/smmuv3.md §12.1).  The image maps its pool Normal
    /// Non-cacheable (docs/architecture.md "Memory"), so its probe says
    /// `false`; so does the default.
    pub cpu_cacheable: bool,
    /// Cache maintenance and barrier routines.
    pub cache_ops: CacheOps,
    /// VMID put in every STE's S2VMID and every TLBI_NH_* (0 like Linux).
    pub vmid: u16,
    /// Bound for every hardware wait (Linux uses 1 s, docs/hw/smmuv3.md §10.5).
    pub timeout: Duration,
}

impl Default for Smmuv3Config {
    fn default() -> Self {
        Self {
            max_stream_id: 0xff,
            strtab: StrtabChoice::Auto,
            cmdq_log2: 8,
            evtq_log2: 11,
            dt_dma_coherent: true,
            cpu_cacheable: false,
            page0_regs_only: false,
            cache_ops: CacheOps::COHERENT,
            vmid: 0,
            timeout: Duration::from_secs(1),
        }
    }
}

/// An IOVA range whose translations were removed, in the terms the SMMU's
/// TLBI commands need (the driver adds the VMID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaRange {
    /// ASID of the context; `None` invalidates the range in every ASID
    /// (TLBI_NH_VAA).
    pub asid: Option<u16>,
    /// First byte.
    pub iova: u64,
    /// Length in bytes.
    pub size: u64,
    /// The context's translation granule.
    pub granule: Granule,
    /// log2 of the size of the removed entries (12 for 4 KiB pages, 21 for
    /// 2 MiB blocks with a 4K granule).
    pub leaf_shift: u32,
    /// Only leaf entries were removed (Leaf = 1); `false` after a table was
    /// freed, so walk caches are invalidated too.
    pub leaf: bool,
}

/// Identification read at probe time besides the IDRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// IIDR (implementer, product, variant, revision).
    pub iidr: u32,
    /// AIDR (architecture revision: 1 = SMMUv3.1).
    pub aidr: u32,
}

/// An SMMUv3 instance.
pub struct Smmuv3<'a, M: Mmio> {
    regs: Regs<M>,
    clock: &'a dyn Clock,
    pool: &'a DmaPool,
    features: Features,
    identity: Identity,
    config: Smmuv3Config,
    sync: DmaSync,
    cmdq: CommandQueue<'a>,
    evtq: EventQueue<'a>,
    strtab: StreamTable<'a>,
    cds: VecMap<u32, DmaBuf<'a>>,
    enabled: bool,
}

/// What [`Smmuv3::check_gerror`] found and acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GerrorReport {
    /// The active errors (CMDQ_ERR included if one was pending outside a
    /// submission; it has been recovered).
    pub active: GlobalErrors,
    /// GERROR as read.
    pub gerror: u32,
}

impl<'a, M: Mmio> Smmuv3<'a, M> {
    /// Reads the ID registers, refuses what the driver cannot handle, and
    /// allocates the stream table (every STE abort), the command queue and
    /// the event queue.  Touches no control register.
    pub fn probe(
        regs: Regs<M>,
        clock: &'a dyn Clock,
        pool: &'a DmaPool,
        config: Smmuv3Config,
    ) -> Result<Self, Smmuv3Error> {
        let features = Features::from_idrs(
            regs.read(R_IDR0).get(),
            regs.read(R_IDR1).get(),
            regs.read(R_IDR3).get(),
            regs.read(R_IDR5).get(),
        )?;
        let identity = Identity {
            iidr: regs.read_raw32(R_IIDR),
            aidr: regs.read_raw32(R_AIDR),
        };
        if u32::from(config.vmid) >> features.vmid_bits() != 0 {
            return Err(Smmuv3Error::IdOutOfRange {
                what: "VMID",
                value: u32::from(config.vmid),
                bits: features.vmid_bits(),
            });
        }
        let coherent = features.coherent && config.dt_dma_coherent;
        let sync = DmaSync {
            coherent,
            cacheable: coherent && config.cpu_cacheable,
            ops: config.cache_ops,
        };
        let layout = choose_layout(&features, config.max_stream_id, config.strtab)?;
        // At least 2 entries (a command and its CMD_SYNC).
        let cmdq_log2 = config.cmdq_log2.clamp(1, features.cmdq_max_log2);
        let evtq_log2 = config.evtq_log2.min(features.evtq_max_log2);
        let oas = table_oas_bits(&features);
        let strtab = StreamTable::new(pool, layout, &sync)?.with_oas(oas)?;
        let cmdq = CommandQueue::new(pool, cmdq_log2)?;
        check_oas("CMDQ", cmdq.ring().buf(), oas)?;
        let evtq = EventQueue::new(pool, evtq_log2)?;
        check_oas("EVTQ", evtq.ring().buf(), oas)?;
        Ok(Self {
            regs,
            clock,
            pool,
            features,
            identity,
            config,
            sync,
            cmdq,
            evtq,
            strtab,
            cds: VecMap::new(),
            enabled: false,
        })
    }

    /// The decoded ID registers.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// IIDR/AIDR.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Whether tables and queues are accessed coherently (IDR0.COHACC and
    /// DT `dma-coherent`); if not, the driver cleans/invalidates.
    pub fn coherent(&self) -> bool {
        self.sync.coherent
    }

    /// Whether the SMMU is told to access its structures Write-Back
    /// cacheable, Inner Shareable (coherent SMMU and a cacheable CPU view
    /// of the memory); otherwise Non-cacheable, Outer Shareable
    /// (docs/hw/smmuv3.md §12.1).
    pub fn cacheable(&self) -> bool {
        self.sync.cacheable
    }

    /// The stream table format in use.
    pub fn strtab_layout(&self) -> StrtabLayout {
        self.strtab.layout()
    }

    /// Level-2 stream tables of their own (two-level; diagnostics, tests).
    pub fn strtab_l2_tables(&self) -> usize {
        self.strtab.l2_tables()
    }

    /// The shared level-2 table of abort STEs (two-level).
    pub fn strtab_shared_abort_table(&self) -> Option<BusAddr> {
        self.strtab.shared_abort_table()
    }

    /// The VMID used in STEs and TLBIs.
    pub fn vmid(&self) -> u16 {
        self.config.vmid
    }

    /// The register frame (diagnostics).
    pub fn regs(&self) -> &Regs<M> {
        &self.regs
    }

    /// Commands issued since probe.
    pub fn commands_issued(&self) -> Issued {
        self.cmdq.total()
    }

    /// Command errors recovered from (most recent last, at most 16).
    pub fn command_errors(&self) -> &[super::error::CommandError] {
        self.cmdq.errors()
    }

    fn hw(&self) -> Hw<'_, M> {
        Hw {
            regs: &self.regs,
            clock: self.clock,
            sync: &self.sync,
            timeout: self.config.timeout,
        }
    }

    fn timeout_err(
        what: &'static str,
        register: &'static str,
        expected: u32,
        last: u32,
        waited: Duration,
    ) -> Smmuv3Error {
        Smmuv3Error::Timeout {
            what,
            register,
            expected,
            last,
            waited,
        }
    }

    /// Writes CR0 and waits until CR0ACK reads back the same value.
    fn write_cr0(&self, value: u32) -> Result<(), Smmuv3Error> {
        self.regs.write_raw(R_CR0, value);
        let mut last = 0;
        poll_until(
            self.clock,
            self.config.timeout,
            "CR0ACK to match CR0",
            || {
                last = self.regs.read(R_CR0ACK).get();
                last == value
            },
        )
        .map_err(|t| Self::timeout_err(t.what, "CR0ACK", value, last, t.waited))
    }

    fn write_irq_ctrl(&self, value: u32) -> Result<(), Smmuv3Error> {
        self.regs.write_raw(R_IRQ_CTRL, value);
        let mut last = 0;
        poll_until(
            self.clock,
            self.config.timeout,
            "IRQ_CTRLACK to match IRQ_CTRL",
            || {
                last = self.regs.read(R_IRQ_CTRLACK).get();
                last == value
            },
        )
        .map_err(|t| Self::timeout_err(t.what, "IRQ_CTRLACK", value, last, t.waited))
    }

    fn wait_gbpa_idle(&self, what: &'static str) -> Result<u32, Smmuv3Error> {
        let mut last = 0;
        poll_until(self.clock, self.config.timeout, what, || {
            last = self.regs.read(R_GBPA).get();
            last & GBPA::UPDATE::SET.value == 0
        })
        .map_err(|t| Self::timeout_err(t.what, "GBPA", 0, last, t.waited))?;
        Ok(last)
    }

    /// Sets GBPA.ABORT with the update handshake (docs/hw/smmuv3.md §3: wait UPDATE
    /// = 0, write with UPDATE = 1, wait UPDATE = 0): while SMMUEN = 0 every
    /// transaction aborts instead of bypassing (QEMU's reset value bypasses,
    /// docs/hw/qemu-virt.md §1.3).
    pub fn set_global_abort(&self) -> Result<(), Smmuv3Error> {
        let cur = self.wait_gbpa_idle("GBPA.UPDATE to clear before the update")?;
        let want = cur | GBPA::ABORT::SET.value | GBPA::UPDATE::SET.value;
        self.regs.write_raw(R_GBPA, want);
        self.wait_gbpa_idle("GBPA.UPDATE to clear after setting ABORT")?;
        Ok(())
    }

    /// Resets and enables the SMMU:
    ///
    /// 1. GBPA.ABORT = 1 (handshake), so nothing bypasses while disabled;
    /// 2. CR0 = 0, wait CR0ACK;
    /// 3. CR1 (queue/table attributes), CR2 = PTM | RECINVSID (RECINVSID
    ///    only when the stream table covers every StreamID);
    /// 4. STRTAB_BASE/_CFG, CMDQ_BASE/PROD/CONS, EVTQ_BASE/PROD/CONS;
    /// 5. IRQ_CTRL = 0 (we poll), wait IRQ_CTRLACK;
    /// 6. CR0 = CMDQEN | EVENTQEN, wait CR0ACK;
    /// 7. CFGI_ALL + SYNC, TLBI_EL2_ALL + SYNC (if IDR0.HYP),
    ///    TLBI_NSNH_ALL + SYNC;
    /// 8. CR0 |= SMMUEN, wait CR0ACK.
    ///
    /// Stale global errors found before enabling are acknowledged and
    /// returned.
    pub fn reset_and_enable(&mut self) -> Result<GlobalErrors, Smmuv3Error> {
        self.enabled = false;
        self.set_global_abort()?;
        self.write_cr0(0)?;

        let stale = GlobalErrors::from_regs(
            self.regs.read(R_GERROR).get(),
            self.regs.read(R_GERRORN).get(),
        );
        if !stale.is_empty() {
            self.regs
                .write_raw(R_GERRORN, self.regs.read(R_GERROR).get());
        }

        // CR1: WB/WB/ISH only when coherent and the CPU maps the memory
        // Write-Back (Linux always writes WB/ISH, its CPU view being
        // cacheable); NC/NC/OSH otherwise (docs/hw/smmuv3.md §12.1).
        let cr1 = if self.sync.cacheable {
            CR1::QUEUE_IC.val(1)
                + CR1::QUEUE_OC.val(1)
                + CR1::QUEUE_SH.val(3)
                + CR1::TABLE_IC.val(1)
                + CR1::TABLE_OC.val(1)
                + CR1::TABLE_SH.val(3)
        } else {
            CR1::QUEUE_SH.val(2) + CR1::TABLE_SH.val(2)
        };
        self.regs.write(R_CR1, cr1);
        // RECINVSID: when the table covers every StreamID of IDR1.SIDSIZE
        // (always, up to 24 bits) a C_BAD_STREAMID can only be a driver bug,
        // so record it; a table that cannot cover them all leaves the
        // uncovered masters aborted without an event each
        // (docs/hw/smmuv3.md §6.4).
        let cr2 = if self.strtab.layout().sid_bits() >= self.features.sid_bits {
            CR2::PTM::SET + CR2::RECINVSID::SET
        } else {
            CR2::PTM::SET + CR2::RECINVSID::CLEAR
        };
        self.regs.write(R_CR2, cr2);

        self.sync.barrier();
        self.regs.write64(R_STRTAB_BASE, self.strtab.base_reg());
        self.regs
            .write_raw(R_STRTAB_BASE_CFG, self.strtab.cfg_reg());

        let cmdq = self.cmdq.ring();
        self.regs.write64(
            R_CMDQ_BASE,
            (Q_BASE::ADDR.val(cmdq.bus_addr().as_u64() >> 5)
                + Q_BASE::LOG2SIZE.val(u64::from(cmdq.log2()))
                + Q_BASE::ALLOC::SET)
                .value,
        );
        self.regs.write_raw(R_CMDQ_PROD, 0);
        self.regs.write_raw(R_CMDQ_CONS, 0);
        self.cmdq.reset_positions();

        let evtq = self.evtq.ring();
        self.regs.write64(
            R_EVTQ_BASE,
            (Q_BASE::ADDR.val(evtq.bus_addr().as_u64() >> 5)
                + Q_BASE::LOG2SIZE.val(u64::from(evtq.log2()))
                + Q_BASE::ALLOC::SET)
                .value,
        );
        self.regs.write_raw(R_EVTQ_PROD, 0);
        self.regs.write_raw(R_EVTQ_CONS, 0);
        self.evtq.reset_positions();

        self.write_irq_ctrl(0)?;

        let queues = (CR0::CMDQEN::SET + CR0::EVENTQEN::SET).value;
        self.write_cr0(queues)?;

        self.submit(&[Command::cfgi_all()], true)?;
        if self.features.hyp {
            self.submit(&[Command::TlbiEl2All], true)?;
        }
        self.submit(&[Command::TlbiNsnhAll], true)?;

        self.write_cr0(queues | CR0::SMMUEN::SET.value)?;
        self.enabled = true;
        Ok(stale)
    }

    /// CR0 = 0 (wait CR0ACK).  GBPA.ABORT stays set, so traffic aborts.
    pub fn disable(&mut self) -> Result<(), Smmuv3Error> {
        self.enabled = false;
        self.write_cr0(0)
    }

    /// Whether `reset_and_enable` completed (and `disable` was not called).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Puts `cmds` on the command queue, plus a CMD_SYNC and a bounded wait
    /// for it when `sync`.  A rejected command is recovered from and
    /// returned as [`Smmuv3Error::Command`].
    pub fn submit(&mut self, cmds: &[Command], sync: bool) -> Result<Issued, Smmuv3Error> {
        let hw = Hw {
            regs: &self.regs,
            clock: self.clock,
            sync: &self.sync,
            timeout: self.config.timeout,
        };
        self.cmdq.submit(&hw, cmds, sync)
    }

    fn check_asid(&self, asid: u16) -> Result<(), Smmuv3Error> {
        if u32::from(asid) >> self.features.asid_bits() != 0 {
            return Err(Smmuv3Error::IdOutOfRange {
                what: "ASID",
                value: u32::from(asid),
                bits: self.features.asid_bits(),
            });
        }
        Ok(())
    }

    // ---- stream table entries -------------------------------------------

    /// The STE of `sid` as in memory.
    pub fn read_ste(&self, sid: u32) -> Result<Ste, Smmuv3Error> {
        self.strtab.read(sid)
    }

    /// Writes the STE of `sid` in memory with the ordering the spec needs,
    /// *without* the final CFGI_STE: the steps of [`plan_update`]
    /// (docs/hw/smmuv3.md §9, Linux `arm_smmu_write_entry`), with CFGI_STE
    /// (Leaf = 1) + CMD_SYNC between steps when `invalidate_breaking` and the
    /// SMMU is enabled.  Without them (the adapter holding or dropping
    /// invalidations, on purpose) the steps are only separated by barriers.
    ///
    /// Returns the commands issued.
    ///
    /// Used on its own by tests that must observe a stale STE
    /// (`config_invalidate`, the skip-sync negative control); everyone else
    /// calls [`Self::install_ste`].
    pub fn write_ste(
        &mut self,
        sid: u32,
        ste: &Ste,
        invalidate_breaking: bool,
    ) -> Result<Issued, Smmuv3Error> {
        // A switched L1 descriptor: the SMMU may have cached the old one.
        let mut issued = self.prepare_stream(sid)?;
        let old = self.strtab.read(sid)?;
        let steps = plan_update(
            &old.0,
            &ste.0,
            ste_used_dwords(&old),
            ste_used_dwords(ste),
            Ste::abort().0[0],
        );
        let syncs = invalidate_breaking && self.enabled;
        for step in steps {
            match step {
                Step::Write(i, v) => {
                    let slot = self.strtab.existing_slot(sid)?;
                    slot.buf.write_u64(slot.offset + 8 * i, v);
                    self.sync.cpu_wrote(slot.buf, slot.offset + 8 * i, 8);
                }
                Step::Sync => {
                    self.sync.barrier();
                    if syncs {
                        issued += self.submit(&[Command::CfgiSte { sid, leaf: true }], true)?;
                    }
                }
            }
        }
        self.sync.barrier();
        Ok(issued)
    }

    /// Gives `sid`'s span of a two-level stream table a level-2 table of its
    /// own (abort STEs) in place of the shared abort table; nothing to do
    /// for a linear table or a span that has one.  Before
    /// [`Self::reset_and_enable`] this needs no invalidation, so the probe
    /// prepares the streams of the run's masters here and their first
    /// attach costs what it costs with a linear table; later the switched
    /// L1 descriptor is invalidated with CFGI_STE (Leaf = 0) + CMD_SYNC
    /// (IHI 0070 §5.1.1; docs/hw/smmuv3.md §6.4).
    pub fn prepare_stream(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        if self.strtab.ensure(sid, &self.sync)? && self.enabled {
            return self.submit(&[Command::CfgiSte { sid, leaf: false }], true);
        }
        Ok(Issued::default())
    }

    /// CFGI_STE(sid, Leaf = 1) + CMD_SYNC.
    pub fn cfgi_ste(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.submit(&[Command::CfgiSte { sid, leaf: true }], true)
    }

    /// CFGI_ALL (CFGI_STE_RANGE, Range = 31) + CMD_SYNC.
    pub fn cfgi_all(&mut self) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.submit(&[Command::cfgi_all()], true)
    }

    /// Installs an STE: [`Self::write_ste`] then CFGI_STE + CMD_SYNC (when
    /// enabled; before that, `reset_and_enable`'s CFGI_ALL covers it).
    pub fn install_ste(&mut self, sid: u32, ste: &Ste) -> Result<Issued, Smmuv3Error> {
        let mut issued = self.write_ste(sid, ste, true)?;
        if self.enabled {
            issued += self.cfgi_ste(sid)?;
        }
        Ok(issued)
    }

    /// Makes `sid` abort silently.
    pub fn set_abort(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        self.install_ste(sid, &Ste::abort())
    }

    /// Makes `sid` bypass translation.
    pub fn set_bypass(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        let ste = Ste::bypass(self.features.attr_types_ovr);
        self.install_ste(sid, &ste)
    }

    /// The stage-1 STE this driver builds for a CD at `cd`: S2VMID = the
    /// configured VMID, CD fetch attributes from the coherence decision,
    /// S1STALLD only where the stall model allows it (never on QEMU).
    pub fn stage1_ste(&self, cd: BusAddr) -> Result<Ste, Smmuv3Error> {
        Ste::stage1(&Stage1Ste {
            cd,
            vmid: self.config.vmid,
            fetch: FetchAttrs::for_cacheable(self.sync.cacheable),
            stall_disable: self.features.stall_model == StallModel::StallAndTerminate,
        })
    }

    // ---- context descriptors -------------------------------------------

    /// Bus address of `sid`'s CD, if one was written.
    pub fn cd_addr(&self, sid: u32) -> Option<BusAddr> {
        self.cds.get(&sid).map(|b| b.bus_addr())
    }

    /// The CD of `sid` as in memory.
    pub fn read_cd(&self, sid: u32) -> Option<Cd> {
        self.cds.get(&sid).map(|b| {
            let mut d = [0; CD_DWORDS];
            for (i, w) in d.iter_mut().enumerate() {
                *w = b.read_u64(8 * i);
            }
            Cd(d)
        })
    }

    /// Writes `sid`'s CD in memory (allocating it on first use), *without*
    /// the final CFGI_CD: the steps of [`plan_update`] with CFGI_CD + CMD_SYNC
    /// between them when `invalidate_breaking` and the SMMU is enabled — a
    /// valid CD whose used dwords change in more than one place is first
    /// made invalid (V = 0), then dwords 1..7, then dword0
    /// (docs/hw/smmuv3.md §9).  Returns the CD's address and the commands
    /// issued.
    pub fn write_cd(
        &mut self,
        sid: u32,
        cd: &Cd,
        invalidate_breaking: bool,
    ) -> Result<(BusAddr, Issued), Smmuv3Error> {
        self.check_asid(cd.asid())?;
        // A CD allocated now is reachable by no STE and cached nowhere (a
        // CD buffer is only freed after the CFGI that stopped its stream
        // using it), so its writes need no intermediate CFGI_CD.
        let fresh = !self.cds.contains_key(&sid);
        if fresh {
            let buf = self.pool.alloc(CD_BYTES as u64)?;
            check_oas("CD", &buf, table_oas_bits(&self.features))?;
            self.cds.insert(sid, buf);
        }
        let old = self.read_cd(sid).unwrap_or(Cd::invalid());
        let steps = plan_update(
            &old.0,
            &cd.0,
            cd_used_dwords(&old),
            cd_used_dwords(cd),
            old.without_valid().0[0],
        );
        let syncs = invalidate_breaking && self.enabled && !fresh;
        let mut issued = Issued::default();
        for step in steps {
            match step {
                Step::Write(i, v) => {
                    let Some(buf) = self.cds.get(&sid) else {
                        return Err(Smmuv3Error::NotEnabled);
                    };
                    buf.write_u64(8 * i, v);
                    self.sync.cpu_wrote(buf, 8 * i, 8);
                }
                Step::Sync => {
                    self.sync.barrier();
                    if syncs {
                        issued += self.submit(
                            &[Command::CfgiCd {
                                sid,
                                ssid: 0,
                                leaf: true,
                            }],
                            true,
                        )?;
                    }
                }
            }
        }
        self.sync.barrier();
        let Some(buf) = self.cds.get(&sid) else {
            return Err(Smmuv3Error::NotEnabled);
        };
        Ok((buf.bus_addr(), issued))
    }

    /// CFGI_CD(sid, SSID 0, Leaf = 1) + CMD_SYNC.
    pub fn cfgi_cd(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.submit(
            &[Command::CfgiCd {
                sid,
                ssid: 0,
                leaf: true,
            }],
            true,
        )
    }

    /// Points `sid` at a stage-1 context: writes the CD (CFGI_CD + SYNC if
    /// the stream already used it), then installs a stage-1 STE pointing at
    /// it (CFGI_STE + SYNC).
    pub fn attach_stage1(&mut self, sid: u32, cd: &Cd) -> Result<Issued, Smmuv3Error> {
        let (addr, mut issued) = self.write_cd(sid, cd, true)?;
        let ste = self.stage1_ste(addr)?;
        let live = self.strtab.read(sid)? == ste;
        if live && self.enabled {
            issued += self.cfgi_cd(sid)?;
        } else {
            issued += self.install_ste(sid, &ste)?;
        }
        Ok(issued)
    }

    /// Makes `sid` abort and forgets its CD (after the CFGI has completed, so
    /// the SMMU no longer uses it).
    pub fn detach(&mut self, sid: u32) -> Result<Issued, Smmuv3Error> {
        let issued = self.set_abort(sid)?;
        self.cds.remove(&sid);
        Ok(issued)
    }

    /// IR0/OR0/SH0 for CDs on this SMMU: WB-WA/WB-WA/ISH when its
    /// attributes are cacheable ([`Self::cacheable`]), NC/NC/OSH otherwise
    /// (docs/hw/smmuv3.md §12.1).
    pub fn walk_attrs(&self) -> (u8, u8, u8) {
        if self.sync.cacheable {
            Stage1Cd::WALK_COHERENT
        } else {
            Stage1Cd::WALK_NON_COHERENT
        }
    }

    // ---- TLB invalidation ----------------------------------------------

    fn require_enabled(&self) -> Result<(), Smmuv3Error> {
        if self.enabled {
            Ok(())
        } else {
            Err(Smmuv3Error::NotEnabled)
        }
    }

    /// The invalidation policy this SMMU supports: range form when
    /// IDR3.RIL, otherwise per-entry up to Linux's threshold.
    pub fn tlbi_policy(&self, granule: Granule) -> TlbiPolicy {
        TlbiPolicy::linux_like(self.features.ril, granule)
    }

    /// Invalidates `range` (VMID = the configured VMID)
    /// with the fewest commands `policy` allows, then CMD_SYNC.  Returns the
    /// form used and the commands issued (the invalidation cost).
    pub fn tlbi_range(
        &mut self,
        range: &VaRange,
        policy: &TlbiPolicy,
    ) -> Result<(TlbiForm, Issued), Smmuv3Error> {
        let VaRange {
            asid,
            iova,
            size,
            granule,
            leaf_shift,
            leaf,
        } = *range;
        self.require_enabled()?;
        if let Some(a) = asid {
            self.check_asid(a)?;
        }
        if !self.features.supports(granule) {
            return Err(Smmuv3Error::Unsupported {
                register: "IDR5",
                value: self.features.idr5,
                reason: "granule not supported",
            });
        }
        if policy.ril && !self.features.ril {
            return Err(Smmuv3Error::Unsupported {
                register: "IDR3",
                value: self.features.idr3,
                reason: "range invalidation requested but IDR3.RIL = 0",
            });
        }
        let req = TlbiRequest {
            asid,
            vmid: self.config.vmid,
            iova,
            size,
            granule,
            leaf_shift,
            leaf,
        };
        let mut cmds = Vec::new();
        let form = plan_tlbi(&req, policy, |c| cmds.push(c));
        if form == TlbiForm::Empty {
            return Ok((form, Issued::default()));
        }
        let issued = self.submit(&cmds, true)?;
        Ok((form, issued))
    }

    /// TLBI_NH_ASID(VMID, asid) + CMD_SYNC.
    pub fn tlbi_asid(&mut self, asid: u16) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.check_asid(asid)?;
        self.submit(
            &[Command::TlbiNhAsid {
                vmid: self.config.vmid,
                asid,
            }],
            true,
        )
    }

    /// TLBI_NH_ALL(VMID) + CMD_SYNC: every stage-1 entry of our VMID.
    pub fn tlbi_nh_all(&mut self) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.submit(
            &[Command::TlbiNhAll {
                vmid: self.config.vmid,
            }],
            true,
        )
    }

    /// TLBI_S12_VMALL(VMID) + CMD_SYNC (needs IDR0.S2P; QEMU rejects it
    /// otherwise, docs/hw/qemu-virt.md §1.4).
    pub fn tlbi_s12_vmall(&mut self) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        if !self.features.s2p {
            return Err(Smmuv3Error::Unsupported {
                register: "IDR0",
                value: self.features.idr0,
                reason: "TLBI_S12_VMALL needs stage 2 (S2P=0)",
            });
        }
        self.submit(
            &[Command::TlbiS12Vmall {
                vmid: self.config.vmid,
            }],
            true,
        )
    }

    /// TLBI_NSNH_ALL + CMD_SYNC: everything.
    pub fn tlbi_nsnh_all(&mut self) -> Result<Issued, Smmuv3Error> {
        self.require_enabled()?;
        self.submit(&[Command::TlbiNsnhAll], true)
    }

    // ---- events and errors ---------------------------------------------

    /// Reads up to `max` event records.
    pub fn drain_events_max(&mut self, max: usize) -> EventDrain {
        let hw = Hw {
            regs: &self.regs,
            clock: self.clock,
            sync: &self.sync,
            timeout: self.config.timeout,
        };
        self.evtq.drain(&hw, max)
    }

    /// Reads every pending event record, at most one queue's worth.
    pub fn drain_events(&mut self) -> Vec<FaultRecord> {
        let max = self.evtq.ring().ptr().entries() as usize;
        self.drain_events_max(max).records
    }

    /// Reads GERROR: recovers a pending command-queue error, acknowledges
    /// every other active error (EVTQ_ABT_ERR means events were lost) and
    /// reports them.  Service failure is returned as an error.
    pub fn check_gerror(&mut self) -> Result<GerrorReport, Smmuv3Error> {
        let gerror = self.regs.read(R_GERROR).get();
        let active = GlobalErrors::from_regs(gerror, self.regs.read(R_GERRORN).get());
        if active.service_failure() {
            return Err(Smmuv3Error::ServiceFailure { gerror });
        }
        if active.cmdq_err() && self.enabled {
            // Recover through an empty synced submission.
            match self.submit(&[], true) {
                Ok(_) | Err(Smmuv3Error::Command(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let gerrorn = self.regs.read(R_GERRORN).get();
        let others = active.0 & !GERROR::CMDQ_ERR::SET.value;
        if others != 0 {
            self.regs.write_raw(R_GERRORN, gerrorn ^ others);
        }
        Ok(GerrorReport { active, gerror })
    }

    /// The current CMDQ_PROD/CONS (diagnostics).
    pub fn cmdq_pointers(&self) -> (u32, u32) {
        (
            self.regs.read(R_CMDQ_PROD).get(),
            self.regs.read(R_CMDQ_CONS).get(),
        )
    }

    /// The current GBPA (diagnostics).
    pub fn gbpa(&self) -> u32 {
        self.regs.read(R_GBPA).get()
    }

    /// The hardware-access bundle (for queue-level tests).
    pub fn hw_context(&self) -> Hw<'_, M> {
        self.hw()
    }
}

/// The bound [`check_oas`] applies to tables and queues: IDR5.OAS.  Host
/// builds widen it to 48 bits, because the host models' "bus" addresses are
/// host virtual addresses (up to 2^47) whatever OAS the modelled SMMU has;
/// `check_oas` itself is tested with the real bound.
fn table_oas_bits(f: &Features) -> u8 {
    if cfg!(target_os = "none") {
        f.oas_bits
    } else {
        f.oas_bits.max(48)
    }
}

/// One step of a live STE/CD update: store one dword, or end a step with
/// the structure's invalidation (CFGI_STE / CFGI_CD + CMD_SYNC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Store dword `.0` = `.1` (one 64-bit single-copy-atomic store).
    Write(usize, u64),
    /// Invalidate the structure and wait (CFGI + CMD_SYNC).
    Sync,
}

/// Dwords (bit *i* = dword *i*) the SMMU reads for an STE of this kind:
/// only dword0 for an invalid or abort STE, dwords 0–1 for bypass (SHCFG),
/// 0–2 for stage 1 (S1 attributes, S2VMID), all otherwise.
pub fn ste_used_dwords(ste: &Ste) -> u8 {
    match ste.kind() {
        SteKind::Invalid | SteKind::Abort => 0b1,
        SteKind::Bypass => 0b11,
        SteKind::Stage1 => 0b111,
        SteKind::Stage2 | SteKind::Nested => 0xff,
    }
}

/// Dwords the SMMU reads for a CD: dword0 only when V = 0, all when valid.
pub fn cd_used_dwords(cd: &Cd) -> u8 {
    if cd.is_valid() {
        0xff
    } else {
        0b1
    }
}

/// The stores and syncs that change a live 8-dword entry from `old` to
/// `new` so that the SMMU, which may fetch the dwords of an entry in any
/// order and at any time (IHI 0070 §3.21.3, "Configuration structure update
/// procedure"), never uses a mix of old and new dwords — Linux
/// `arm_smmu_write_entry` at dword granularity (docs/hw/smmuv3.md §9):
///
/// * *critical* dwords are those both entries use whose value changes;
/// * none or one critical dword (a hitless update): first store every
///   changed dword the old entry ignores, sync (so no fetch in flight can
///   pair them with the old critical dword), then store the critical dword
///   with one single-copy-atomic store;
/// * two or more: park the entry (`parked0` in dword0: an abort STE, or the
///   CD with V = 0 — neither reads the other dwords), sync, store dwords
///   1..7, sync, store dword0.
///
/// The final sync is the caller's (CFGI after the update).  Dwords the new
/// entry ignores keep whatever the old entry had there when changing them
/// would need another sync; the next update rewrites them first if it
/// needs them.  Identical entries give no steps.
pub fn plan_update(
    old: &[u64; 8],
    new: &[u64; 8],
    old_used: u8,
    new_used: u8,
    parked0: u64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let changed = |i: usize| old[i] != new[i];
    let both = old_used & new_used;
    let critical: Vec<usize> = (0..8)
        .filter(|&i| both & (1 << i) != 0 && changed(i))
        .collect();
    if critical.len() <= 1 {
        let mut wrote = false;
        for (i, &v) in new.iter().enumerate() {
            // Dwords the old entry ignores (and the new one needs, or that
            // are simply different): safe to store while the old one is live.
            if old_used & (1 << i) == 0 && changed(i) {
                steps.push(Step::Write(i, v));
                wrote = true;
            }
        }
        if let Some(&c) = critical.first() {
            if wrote {
                steps.push(Step::Sync);
            }
            steps.push(Step::Write(c, new[c]));
        }
        return steps;
    }
    steps.push(Step::Write(0, parked0));
    steps.push(Step::Sync);
    let mut wrote = false;
    for (i, &v) in new.iter().enumerate().skip(1) {
        if changed(i) {
            steps.push(Step::Write(i, v));
            wrote = true;
        }
    }
    if wrote {
        steps.push(Step::Sync);
    }
    steps.push(Step::Write(0, new[0]));
    steps
}
