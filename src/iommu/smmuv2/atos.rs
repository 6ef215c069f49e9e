//! ATOS — the SMMU's address translation operations — as a DMA master
//! (docs/hw/smmuv2.md §9): for each page of a transfer the CPU writes the
//! IOVA to the context bank's ATS1PR (a read) or ATS1PW (a write), polls
//! ATSR until it is idle, and reads PAR: F = 0 gives the output address,
//! F = 1 the fault.  The CPU then moves the bytes itself at that address,
//! inside the DMA pool ([`DmaPool::read_bus`]).  So the self-test can run
//! on an SMMU whose own port is its only master (`Probe::self_master`),
//! where ID0.ATOSNS = 0.
//!
//! * **Which context.**  ATOS runs in a context bank, not on a stream.
//!   The port is given a stream of its own, [`atos_stream`] (the highest
//!   stream ID the SMRs hold), which the driver maps like any other, and
//!   on every transfer it reads the stream mapping registers the way
//!   matching works (`hw::context_of`) to find the bank: attach, detach
//!   and a move between domains take effect for the port exactly as they
//!   do for a device, and an unmatched stream is a blocked transfer.  A
//!   real device using that stream ID would share the mapping (no board
//!   this image knows uses it).
//! * **Stale results.**  Whether an ATOS lookup may be served from the TLB
//!   is not settled by any SMMUv2 text found (docs/hw/smmuv2.md §9): a
//!   stale result after an unmap whose invalidation is held is what the
//!   stale-window cases report in KTAP ("reached … through the cached
//!   translation"), and evidence of caching; a fresh walk there makes
//!   them SKIP with "could not establish caching".
//! * **Bounded.**  ATSR is polled with [`poll_until`] for at most
//!   [`ATOS_TIMEOUT`]; a bit that stays set is [`DmaError::Timeout`] with
//!   ATSR as read last.
#![forbid(unsafe_code)]

use super::hw::context_of;

/// What `default_deny` says about a CPU-driven port (ATOS here, the
/// Qualcomm TBU probe in `tbu.rs`): it finds its context bank by reading
/// the SMRs and S2CRs on every transfer and refuses an unmatched or
/// faulting stream itself, so a detach is judged from those registers.
pub const BY_REGISTERS: &str = "through this port a detach is judged from the SMR/S2CR registers it reads before each probe (an unmatched or faulting stream is refused without a translation), not from configuration the SMMU may still have cached";
use super::ids::Ids;
use super::regs::*;
use super::variant::Version;
use crate::dma::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{BusAddr, Iova};
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::string::String;
use core::time::Duration;
use tock_registers::LocalRegisterCopy;

/// How long one ATOS operation may keep ATSR.ACTIVE set: twenty times
/// Linux's 50 µs (`arm_smmu_iova_to_phys_hard`), which falls back to a
/// software walk where this port reports a timeout.
pub const ATOS_TIMEOUT: Duration = Duration::from_millis(1);

/// Largest transfer (one ATOS operation per 4 KiB page it touches).
pub const ATOS_MAX_TRANSFER: usize = 4096;

/// The stream ID the port is mapped as: all ones in the stream ID width
/// (16 bits with extended IDs enabled, else NUMSIDB bits, at most 15).
pub fn atos_sid(ids: &Ids, exids_enabled: bool) -> u32 {
    if exids_enabled {
        0xffff
    } else {
        ((1u32 << ids.sid_bits.min(15)) - 1) & 0x7fff
    }
}

/// [`atos_sid`] with sCR0.EXIDENABLE read from `regs`.
pub fn atos_stream<M: Mmio>(ids: &Ids, regs: &Regs<M>) -> StreamId {
    let exids = regs.read(SCR0_REG).is_set(SCR0::EXIDENABLE);
    StreamId(atos_sid(ids, exids))
}

/// Why one page's translation did not give an address.
enum Stop {
    /// The port's stream matches no translating entry (detached).
    Unmatched,
    /// PAR.F = 1.
    Fault { par: u64 },
    /// ATSR stayed active.
    Busy { atsr: u32, waited: Duration },
    /// The output address is not DMA-pool memory the CPU may touch.
    Outside { pa: u64 },
}

/// The ATOS port of one SMMUv2, over its own register mapping.
pub struct AtosPort<'p, M: Mmio> {
    regs: Regs<M>,
    ids: Ids,
    version: Version,
    clock: &'static dyn Clock,
    pool: &'p DmaPool,
    name: String,
    stream: StreamId,
}

impl<'p, M: Mmio> AtosPort<'p, M> {
    /// The port of the SMMU whose registers `mmio` maps, if ID0 says it
    /// has stage 1 and ATOS (`Err` with the ID0 value otherwise); bytes
    /// move inside `pool`.
    pub fn new(
        mmio: M,
        version: Version,
        clock: &'static dyn Clock,
        pool: &'p DmaPool,
        name: &str,
    ) -> Result<Self, u32> {
        let mut regs = Regs::new(mmio);
        let ids = Ids::decode(
            regs.get(ID0_REG),
            regs.get(ID1_REG),
            regs.get(ID2_REG),
            regs.get(ID7_REG),
            version,
        );
        if !ids.atos || !ids.s1 || ids.dead() {
            return Err(ids.id0);
        }
        regs.set_layout(ids.layout);
        let stream = atos_stream(&ids, &regs);
        Ok(Self {
            regs,
            ids,
            version,
            clock,
            pool,
            name: String::from(name),
            stream,
        })
    }

    fn wait_idle(&self, cb: usize, bound: Duration) -> Result<(), Stop> {
        let mut atsr = 0;
        let start = self.clock.ticks();
        let at = self.regs.offset_of(CB_ATSR, cb);
        poll_until(self.clock, bound, "SMMUv2 ATSR.ACTIVE", || {
            atsr = self.regs.mmio().read32(at);
            atsr & 1 == 0
        })
        .map_err(|_| Stop::Busy {
            atsr,
            waited: self.clock.since(start),
        })
    }

    /// The output address of `iova` for a read or a write.
    fn translate(&self, iova: u64, write: bool, bound: Duration) -> Result<u64, Stop> {
        let exids = self.regs.read(SCR0_REG).is_set(SCR0::EXIDENABLE);
        let cb = context_of(
            &self.regs,
            self.ids.groups,
            self.ids.sms,
            exids,
            self.stream.0,
        )
        .ok_or(Stop::Unmatched)?;
        let va64 = self.version == Version::V2
            && LocalRegisterCopy::<u32, CBA2R::Register>::new(self.regs.get(cba2r(cb)))
                .is_set(CBA2R::VA64);
        self.wait_idle(cb, bound)?;
        let reg = if write { CB_ATS1PW } else { CB_ATS1PR };
        let page = iova & !0xfff;
        if va64 {
            self.regs.set64(cb, reg, page);
        } else {
            self.regs.set64_as32(cb, reg, page as u32);
        }
        self.wait_idle(cb, bound)?;
        let par = LocalRegisterCopy::<u64, PAR::Register>::new(self.regs.get64(cb, CB_PAR));
        if par.is_set(PAR::F) {
            return Err(Stop::Fault { par: par.get() });
        }
        Ok(par.read(PAR::PA) << 12 | (iova & 0xfff))
    }

    fn error(&self, stop: Stop, at: u64, first: Iova, write: bool, done: usize) -> DmaError {
        match stop {
            Stop::Unmatched => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: 0,
            },
            Stop::Fault { par } => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: par,
            },
            Stop::Outside { pa } => DmaError::Aborted {
                stream: self.stream,
                iova: Iova(at),
                write,
                bytes: done,
                status: pa,
            },
            Stop::Busy { atsr, waited } => DmaError::Timeout {
                stream: self.stream,
                iova: first,
                waited,
                status: u64::from(atsr),
            },
        }
    }

    /// Runs `f(pa, offset, len)` for each page-bounded piece of the
    /// transfer after translating it.
    fn each_page(
        &mut self,
        iova: Iova,
        len: usize,
        write: bool,
        timeout: Duration,
        mut f: impl FnMut(&DmaPool, u64, usize, usize) -> Result<(), u64>,
    ) -> Result<DmaReport, DmaError> {
        if len > ATOS_MAX_TRANSFER {
            return Err(DmaError::TooLong {
                len,
                max: ATOS_MAX_TRANSFER,
            });
        }
        let bound = timeout.min(ATOS_TIMEOUT);
        let mut done = 0usize;
        while done < len {
            let at = iova.0.wrapping_add(done as u64);
            let n = (0x1000 - (at & 0xfff) as usize).min(len - done);
            let pa = self
                .translate(at, write, bound)
                .map_err(|s| self.error(s, at, iova, write, done))?;
            f(self.pool, pa, done, n)
                .map_err(|pa| self.error(Stop::Outside { pa }, at, iova, write, done))?;
            done += n;
        }
        Ok(DmaReport {
            bytes: len,
            status: 0,
        })
    }
}

impl<M: Mmio> DmaMaster for AtosPort<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        ATOS_MAX_TRANSFER
    }

    fn detach_judged_by_registers(&self) -> Option<&'static str> {
        Some(BY_REGISTERS)
    }

    fn write(&mut self, iova: Iova, data: &[u8], timeout: Duration) -> Result<DmaReport, DmaError> {
        self.each_page(iova, data.len(), true, timeout, |pool, pa, off, n| {
            pool.write_bus(BusAddr(pa), &data[off..off + n])
                .map_err(|_| pa)
        })
    }

    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        let len = buf.len();
        self.each_page(iova, len, false, timeout, |pool, pa, off, n| {
            pool.read_bus(BusAddr(pa), &mut buf[off..off + n])
                .map_err(|_| pa)
        })
    }
}
