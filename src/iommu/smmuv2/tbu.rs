//! Qualcomm's TBU debug translation ("ECATS") as a DMA master: the self
//! master of a Qualcomm MMU-500, which has no ATOS (ID0.ATOSNS = 1), when
//! the device tree describes its TBUs (docs/hw/smmuv2.md §11.7).
//!
//! **Single source.**  Everything here — the registers, their bits, the
//! sequence, the timeout — comes from Linux's
//! `drivers/iommu/arm/arm-smmu/arm-smmu-qcom-debug.c`; no other public
//! description of the block was found.  The host model
//! (`model/tbu.rs`) comes from the same file, so driver and model agree by
//! construction on anything that file gets wrong: only silicon can tell.
//!
//! For each page of a transfer the CPU, through the TBU's registers:
//! halts the TBU (DEBUG_SID_HALT.HALT, then DEBUG_SR_HALT_ACK.HALT_ACK);
//! terminates a stalled fault ahead of it in the context bank and turns
//! the bank's fault interrupt and stall (SCTLR.CFIE/CFCFG) off; writes the
//! stream ID, the VA, DEBUG_AXUSER.CDMID = 0xff, and DEBUG_TXN_TRIGG
//! (AXCACHE 0xf, AXPROT privileged non-secure, TRIGGER); polls until
//! DEBUG_SR_HALT_ACK.ECATS_RUNNING clears or DEBUG_PAR.FAULT sets; reads
//! DEBUG_PAR; clears TRIGG, VA and the stream ID; restores SCTLR; resumes
//! the TBU.  Then the CPU moves the bytes itself at PAR's address, inside
//! the DMA pool, as the ATOS port does (`atos.rs`).
//!
//! * **Reads only.**  Linux's trigger carries no direction, so every probe
//!   is one translation of one kind: write permissions are not checked
//!   through it ([`DmaMaster::write_permission_unchecked`]), and its fault
//!   records carry the probe's direction, not the transfer's.
//! * **Stale results.**  Linux treats the result as possibly served from
//!   the TLB (it compares it across a TLBIALL when it debugs a fault): a
//!   stale address after an unmap whose invalidation is held is what the
//!   stale-window cases report, the same evidence path as ATOS.
//! * **Faults stay recorded.**  Unlike Linux, which clears the bank's FSR
//!   after each probe (its fault handler is what called it), the port
//!   leaves a fault its probe raised in FSR for the driver's fault reader:
//!   the catalogue's fault cases judge it.  Only a stalled fault ahead of
//!   the halt (FSR.SS, which this driver never configures) is cleared and
//!   terminated, as Linux does, or the halt could not complete.
//! * **One attempt.**  Linux retries a failed probe twice; a retry here
//!   would hide a flaky TBU from the report, so a failure is reported.
//! * **Bounded.**  Every poll is [`poll_until`] for at most
//!   [`TBU_TIMEOUT`]; what stayed set is in the error, with its register.
//! * **Which TBU, which stream.**  [`choose`]: only a TBU with no
//!   `power-domains` and no `clocks` unless `iommu_bringup.qcom-tbu=all`
//!   (an unpowered TBU can hang the bus on access, which no timeout
//!   bounds), and the highest stream ID it serves that no DT master uses.
#![forbid(unsafe_code)]

use super::hw::context_of;
use super::ids::Ids;
use super::regs::*;
use crate::dma::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{BusAddr, Iova};
use crate::mmio::Mmio;
use crate::platform::bootargs::QcomTbu;
use crate::platform::dt::tbus::{PortFacts, TbuNode};
use crate::time::{poll_until, Clock};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;
use tock_registers::LocalRegisterCopy;

/// The TBU debug registers (byte offsets in the TBU's `reg`) and bits.
pub mod reg {
    /// DEBUG_SID_HALT: HALT [16], SID [9:0].
    pub const SID_HALT: usize = 0x00;
    /// DEBUG_SID_HALT.HALT.
    pub const HALT: u32 = 1 << 16;
    /// DEBUG_SID_HALT.SID.
    pub const SID_MASK: u32 = 0x3ff;
    /// DEBUG_VA_ADDR: the address to translate.
    pub const VA_ADDR: usize = 0x08;
    /// DEBUG_TXN_TRIGG: TRIGGER [0], AXCACHE [5:2], AXPROT [8:6].
    pub const TXN_TRIGG: usize = 0x18;
    /// DEBUG_TXN_TRIGG.TRIGGER.
    pub const TRIGGER: u64 = 1;
    /// DEBUG_TXN_TRIGG.AXCACHE shift.
    pub const AXCACHE_SHIFT: u32 = 2;
    /// DEBUG_TXN_TRIGG.AXPROT shift.
    pub const AXPROT_SHIFT: u32 = 6;
    /// AXPROT: privileged.
    pub const AXPROT_PRIV: u64 = 0x1;
    /// AXPROT: non-secure.
    pub const AXPROT_NSEC: u64 = 0x2;
    /// DEBUG_SR_HALT_ACK: ECATS_RUNNING [0], HALT_ACK [1].
    pub const SR_HALT_ACK: usize = 0x20;
    /// DEBUG_SR_HALT_ACK.ECATS_RUNNING.
    pub const ECATS_RUNNING: u32 = 1 << 0;
    /// DEBUG_SR_HALT_ACK.HALT_ACK.
    pub const HALT_ACK: u32 = 1 << 1;
    /// DEBUG_PAR: FAULT [0], PA [47:12].
    pub const PAR: usize = 0x28;
    /// DEBUG_PAR.FAULT.
    pub const PAR_FAULT: u64 = 1;
    /// DEBUG_PAR.PA.
    pub const PAR_PA: u64 = ((1 << 48) - 1) & !0xfff;
    /// DEBUG_AXUSER: CDMID [43:36].
    pub const AXUSER: usize = 0x30;
    /// DEBUG_AXUSER.CDMID shift.
    pub const CDMID_SHIFT: u32 = 36;
    /// The CDMID Linux writes.
    pub const CDMID: u64 = 0xff;
}

/// How long the TBU may take to acknowledge a halt or finish a probe: ten
/// times Linux's `TBU_DBG_TIMEOUT_US` (100 µs).
pub const TBU_TIMEOUT: Duration = Duration::from_millis(1);

/// Largest transfer (one probe per 4 KiB page it touches).
pub const TBU_MAX_TRANSFER: usize = 4096;

/// Bytes of a TBU's `reg` the port reaches: DEBUG_SID_HALT (+0x0) to the
/// end of DEBUG_AXUSER (+0x30, 64 bits).  A smaller `reg` is not used: the
/// MMIO layer would refuse the access (a panic), not the TBU.
pub const TBU_REG_SPAN: u64 = reg::AXUSER as u64 + 8;

/// Why one probe gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TbuError {
    /// DEBUG_SR_HALT_ACK (+0x20) never showed HALT_ACK after HALT was set
    /// in DEBUG_SID_HALT (+0x0); HALT was cleared again.
    HaltTimeout {
        /// DEBUG_SR_HALT_ACK as read last.
        sr: u32,
        /// How long it was polled.
        waited: Duration,
    },
    /// DEBUG_SR_HALT_ACK (+0x20) kept ECATS_RUNNING and DEBUG_PAR (+0x28)
    /// showed no fault.
    EcatsTimeout {
        /// DEBUG_SR_HALT_ACK as read last.
        sr: u32,
        /// DEBUG_PAR as read last.
        par: u64,
        /// How long it was polled.
        waited: Duration,
    },
    /// DEBUG_PAR (+0x28) has FAULT set: the SMMU stopped the probe.
    Fault {
        /// DEBUG_PAR.
        par: u64,
    },
    /// The port's stream matches no SMR whose S2CR translates (detached):
    /// nothing was sent to the TBU.
    Unmatched {
        /// The stream.
        sid: u32,
    },
    /// DEBUG_PAR's address is not DMA-pool memory the CPU may touch.
    Outside {
        /// The address.
        pa: u64,
    },
}

impl fmt::Display for TbuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TbuError::HaltTimeout { sr, waited } => write!(
                f,
                "TBU halt not acknowledged: DEBUG_SR_HALT_ACK (+0x20) = {sr:#x} after {waited:?}"
            ),
            TbuError::EcatsTimeout { sr, par, waited } => write!(
                f,
                "ECATS still running: DEBUG_SR_HALT_ACK (+0x20) = {sr:#x}, DEBUG_PAR (+0x28) = {par:#x} after {waited:?}"
            ),
            TbuError::Fault { par } => write!(f, "DEBUG_PAR (+0x28) = {par:#x}: FAULT"),
            TbuError::Unmatched { sid } => {
                write!(f, "stream {sid:#x} maps to no translating context bank")
            }
            TbuError::Outside { pa } => write!(f, "DEBUG_PAR address {pa:#x} is outside the DMA pool"),
        }
    }
}

/// Driver mistakes a host test can switch on, each of which the model
/// must catch (a test that cannot fail proves nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TbuBugs {
    /// Trigger without halting the TBU first.
    pub no_halt: bool,
    /// Never write the stream ID into DEBUG_SID_HALT.
    pub no_sid: bool,
    /// Take DEBUG_PAR's address even when FAULT is set.
    pub ignore_fault: bool,
}

/// The TBU the port uses and the stream it probes as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TbuChoice<'t> {
    /// The TBU node.
    pub tbu: &'t TbuNode,
    /// The stream ID (one it serves, none of the DT's masters uses).
    pub sid: u32,
    /// Why each other TBU is not used, one line per reason.
    pub others: Vec<String>,
}

impl TbuChoice<'_> {
    /// One line for reports: which TBU, which stream, why not the others.
    pub fn describe(&self) -> String {
        let t = self.tbu;
        let power = if t.power_domains || t.clocks {
            "its power domain or clock trusted to be on: iommu_bringup.qcom-tbu=all"
        } else {
            "no power-domains or clocks in the DT"
        };
        let mut s = format!(
            "the TBU debug translation (ECATS) of {} as stream {:#x} (it serves {:#x}..={:#x}; {power}",
            t.name,
            self.sid,
            t.first_sid,
            t.first_sid.saturating_add(t.count.saturating_sub(1)),
        );
        for o in &self.others {
            s.push_str("; ");
            s.push_str(o);
        }
        s.push(')');
        s
    }
}

/// Why `t` cannot serve as the port under `policy`, if it cannot.
pub fn unusable(t: &TbuNode, policy: QcomTbu) -> Option<&'static str> {
    if !t.enabled {
        return Some("disabled in the DT");
    }
    match &t.reg {
        Err(_) => return Some("its reg does not translate"),
        Ok(r) if r.size < TBU_REG_SPAN => {
            return Some("its reg is smaller than the 0x38 bytes of debug registers the port uses")
        }
        Ok(_) => {}
    }
    // Both numbers come from the DT: no addition may overflow.
    let last = t
        .count
        .checked_sub(1)
        .and_then(|n| t.first_sid.checked_add(n));
    let Some(last) = last.filter(|last| t.first_sid >> 10 == last >> 10) else {
        return Some("its stream-id range does not fit one 10-bit DEBUG_SID_HALT.SID window");
    };
    if last > 0xffff {
        return Some("its stream IDs are wider than the 16 bits an SMMUv2 stream ID has");
    }
    match policy {
        QcomTbu::None => Some("iommu_bringup.qcom-tbu=none"),
        QcomTbu::Ungated if t.power_domains || t.clocks => Some(
            "power-domains or clocks the image leaves to the loader, and an access to an unpowered TBU can hang the bus; iommu_bringup.qcom-tbu=all would use them",
        ),
        _ => None,
    }
}

/// The highest stream ID `t` serves that none of `used` (ID, SMR mask)
/// matches.
pub fn free_sid(t: &TbuNode, used: &[(u32, u32)]) -> Option<u32> {
    let last = t.first_sid.checked_add(t.count.checked_sub(1)?)?;
    (t.first_sid..=last).rev().find(|&sid| {
        !used
            .iter()
            .any(|&(id, mask)| (sid ^ id) & !mask & 0xffff == 0)
    })
}

/// Why a Qualcomm MMU-500's described TBUs offer no debug port
/// ([`choose`]): each unused TBU's reason, grouped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoTbu {
    /// `not tbu@…, tbu@…: why` per reason, in tree order.
    pub others: Vec<String>,
}

impl fmt::Display for NoTbu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no TBU can serve as its own port (")?;
        for (i, o) in self.others.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(o)?;
        }
        f.write_str(")")
    }
}

/// The TBU and stream the port uses for an IOMMU with `facts`: a TBU with
/// no power domain or clock first, then (with `qcom-tbu=all`) any, in tree
/// order; `Err` with why none can be.
pub fn choose<'t>(facts: &PortFacts<'t>) -> Result<TbuChoice<'t>, NoTbu> {
    let tbus = facts.tbus;
    let gated = |t: &TbuNode| t.power_domains || t.clocks;
    let candidates = tbus
        .iter()
        .filter(|t| !gated(t))
        .chain(tbus.iter().filter(|t| gated(t)));
    let mut picked = None;
    for t in candidates {
        if unusable(t, facts.qcom_tbu).is_some() {
            continue;
        }
        if let Some(sid) = free_sid(t, facts.dt_streams) {
            picked = Some((t, sid));
            break;
        }
    }
    // Why the others are not used, grouped by reason.
    let mut reasons: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for t in tbus {
        if picked.is_some_and(|(p, _)| core::ptr::eq(p, t)) {
            continue;
        }
        let why = match unusable(t, facts.qcom_tbu) {
            Some(w) => w,
            None if free_sid(t, facts.dt_streams).is_none() => {
                "every stream ID it serves is used by a DT master"
            }
            None => "one TBU is enough",
        };
        match reasons.iter_mut().find(|(w, _)| *w == why) {
            Some((_, names)) => names.push(&t.name),
            None => reasons.push((why, alloc::vec![t.name.as_str()])),
        }
    }
    let others: Vec<String> = reasons
        .iter()
        .map(|(why, names)| format!("not {}: {why}", names.join(", ")))
        .collect();
    match picked {
        Some((tbu, sid)) => Ok(TbuChoice { tbu, sid, others }),
        None => Err(NoTbu { others }),
    }
}

/// The ECATS port of one TBU of a Qualcomm MMU-500: the SMMU's registers
/// (to find and quiet the context bank) and the TBU's.
pub struct TbuPort<'p, M: Mmio, T: Mmio> {
    smmu: Regs<M>,
    ids: Ids,
    tbu: T,
    clock: &'static dyn Clock,
    pool: &'p DmaPool,
    name: String,
    stream: StreamId,
    /// Mistakes switched on by host tests.
    pub bugs: TbuBugs,
}

impl<'p, M: Mmio, T: Mmio> TbuPort<'p, M, T> {
    /// The port of the TBU whose registers `tbu` maps, probing as stream
    /// `sid` through the SMMU whose registers `smmu` maps (`ids` from its
    /// bring-up); bytes move inside `pool`.
    pub fn new(
        smmu: Regs<M>,
        ids: Ids,
        tbu: T,
        sid: u32,
        clock: &'static dyn Clock,
        pool: &'p DmaPool,
        name: &str,
    ) -> Self {
        Self {
            smmu,
            ids,
            tbu,
            clock,
            pool,
            name: String::from(name),
            stream: StreamId(sid),
            bugs: TbuBugs::default(),
        }
    }

    fn sr(&self) -> u32 {
        self.tbu.read32(reg::SR_HALT_ACK)
    }

    fn halt(&self) -> Result<(), TbuError> {
        let v = self.tbu.read32(reg::SID_HALT);
        self.tbu.write32(reg::SID_HALT, v | reg::HALT);
        let mut sr = 0;
        let start = self.clock.ticks();
        poll_until(
            self.clock,
            TBU_TIMEOUT,
            "TBU DEBUG_SR_HALT_ACK.HALT_ACK",
            || {
                sr = self.sr();
                sr & reg::HALT_ACK != 0
            },
        )
        .map_err(|_| {
            let v = self.tbu.read32(reg::SID_HALT);
            self.tbu.write32(reg::SID_HALT, v & !reg::HALT);
            TbuError::HaltTimeout {
                sr,
                waited: self.clock.since(start),
            }
        })
    }

    fn resume(&self) {
        let v = self.tbu.read32(reg::SID_HALT);
        self.tbu.write32(reg::SID_HALT, v & !reg::HALT);
        // A read completes the writes before it (Linux does the same).
        let _ = self.sr();
    }

    /// Terminates a stalled fault in bank `cb` (it would keep the halt
    /// from completing).
    fn terminate_stall(&self, cb: usize) {
        let fsr = self.smmu.cb_read(cb, CB_FSR);
        if fsr.is_set(FSR::SS) {
            self.smmu.cb_set(cb, CB_FSR, fsr.get());
            self.smmu.cb_set(cb, CB_RESUME, RESUME_TERMINATE);
        }
    }

    /// One probe of `va`'s page as the port's stream: DEBUG_PAR.
    fn trigger(&self, va: u64) -> Result<u64, TbuError> {
        if !self.bugs.no_sid {
            let v = self.tbu.read32(reg::SID_HALT) & !reg::SID_MASK;
            self.tbu
                .write32(reg::SID_HALT, v | (self.stream.0 & reg::SID_MASK));
        }
        self.tbu.write64(reg::VA_ADDR, va);
        self.tbu
            .write64(reg::AXUSER, reg::CDMID << reg::CDMID_SHIFT);
        let prot = reg::AXPROT_NSEC | reg::AXPROT_PRIV;
        self.tbu.write64(
            reg::TXN_TRIGG,
            0xf << reg::AXCACHE_SHIFT | prot << reg::AXPROT_SHIFT | reg::TRIGGER,
        );
        let (mut sr, mut par) = (0, 0);
        let start = self.clock.ticks();
        let waited = poll_until(self.clock, TBU_TIMEOUT, "TBU ECATS_RUNNING", || {
            sr = self.sr();
            if sr & reg::ECATS_RUNNING == 0 {
                return true;
            }
            par = self.tbu.read64(reg::PAR);
            par & reg::PAR_FAULT != 0
        });
        let result = match waited {
            Err(_) => Err(TbuError::EcatsTimeout {
                sr,
                par,
                waited: self.clock.since(start),
            }),
            Ok(()) => {
                let par = self.tbu.read64(reg::PAR);
                if par & reg::PAR_FAULT != 0 && !self.bugs.ignore_fault {
                    Err(TbuError::Fault { par })
                } else {
                    Ok(par)
                }
            }
        };
        // Reset the block for the next probe, as Linux does.
        self.tbu.write64(reg::TXN_TRIGG, 0);
        self.tbu.write64(reg::VA_ADDR, 0);
        let v = self.tbu.read32(reg::SID_HALT);
        self.tbu.write32(reg::SID_HALT, v & !reg::SID_MASK);
        result
    }

    /// The output address of `iova` (a whole probe, halt to resume).
    pub fn translate(&self, iova: u64) -> Result<u64, TbuError> {
        let exids = self.smmu.read(SCR0_REG).is_set(SCR0::EXIDENABLE);
        let cb = context_of(
            &self.smmu,
            self.ids.groups,
            self.ids.sms,
            exids,
            self.stream.0,
        )
        .ok_or(TbuError::Unmatched { sid: self.stream.0 })?;
        if !self.bugs.no_halt {
            self.terminate_stall(cb);
            self.halt()?;
        }
        let sctlr = self.smmu.cb_get(cb, CB_SCTLR);
        let quiet = LocalRegisterCopy::<u32, SCTLR::Register>::new(sctlr);
        let off = (SCTLR::CFIE::SET + SCTLR::CFCFG::SET).mask();
        if quiet.get() & off != 0 {
            self.smmu.cb_set(cb, CB_SCTLR, sctlr & !off);
        }
        let par = self.trigger(iova & !0xfff);
        if quiet.get() & off != 0 {
            self.smmu.cb_set(cb, CB_SCTLR, sctlr);
        }
        if !self.bugs.no_halt {
            self.resume();
        }
        let par = par?;
        Ok(par & reg::PAR_PA | (iova & 0xfff))
    }

    fn error(&self, e: TbuError, at: u64, first: Iova, write: bool, done: usize) -> DmaError {
        match e {
            TbuError::HaltTimeout { sr, waited } => DmaError::Timeout {
                stream: self.stream,
                iova: first,
                waited,
                status: u64::from(sr),
            },
            TbuError::EcatsTimeout { sr, waited, .. } => DmaError::Timeout {
                stream: self.stream,
                iova: first,
                waited,
                status: u64::from(sr),
            },
            TbuError::Fault { par } => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: par,
            },
            TbuError::Unmatched { .. } => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: 0,
            },
            TbuError::Outside { pa } => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: pa,
            },
        }
    }

    fn each_page(
        &mut self,
        iova: Iova,
        len: usize,
        write: bool,
        mut f: impl FnMut(&DmaPool, u64, usize, usize) -> Result<(), u64>,
    ) -> Result<DmaReport, DmaError> {
        if len > TBU_MAX_TRANSFER {
            return Err(DmaError::TooLong {
                len,
                max: TBU_MAX_TRANSFER,
            });
        }
        let mut done = 0usize;
        while done < len {
            let at = iova.0.wrapping_add(done as u64);
            let n = (0x1000 - (at & 0xfff) as usize).min(len - done);
            let pa = self
                .translate(at)
                .map_err(|e| self.error(e, at, iova, write, done))?;
            f(self.pool, pa, done, n)
                .map_err(|pa| self.error(TbuError::Outside { pa }, at, iova, write, done))?;
            done += n;
        }
        Ok(DmaReport {
            bytes: len,
            status: 0,
        })
    }
}

/// What the port says about write permissions and fault directions.
pub const READS_ONLY: &str = "the TBU debug translation (ECATS) carries no direction in Linux's sequence, the only public description (docs/hw/smmuv2.md §11.7): every probe is one kind of lookup, so write permissions are not checked through it";

impl<M: Mmio, T: Mmio> DmaMaster for TbuPort<'_, M, T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        TBU_MAX_TRANSFER
    }

    fn write_permission_unchecked(&self) -> Option<&'static str> {
        Some(READS_ONLY)
    }

    fn direction_not_recorded(&self) -> Option<&'static str> {
        Some(READS_ONLY)
    }

    fn detach_judged_by_registers(&self) -> Option<&'static str> {
        Some(super::atos::BY_REGISTERS)
    }

    fn write(
        &mut self,
        iova: Iova,
        data: &[u8],
        _timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.each_page(iova, data.len(), true, |pool, pa, off, n| {
            pool.write_bus(BusAddr(pa), &data[off..off + n])
                .map_err(|_| pa)
        })
    }

    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        let len = buf.len();
        self.each_page(iova, len, false, |pool, pa, off, n| {
            pool.read_bus(BusAddr(pa), &mut buf[off..off + n])
                .map_err(|_| pa)
        })
    }
}
