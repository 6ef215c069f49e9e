//! The SMMU's circular queues in DMA memory: the command queue (software
//! produces, SMMU consumes) and the event queue (SMMU produces, software
//! consumes).
//!
//! PROD/CONS encoding (docs/hw/smmuv3.md §4.2): bits `[LOG2SIZE-1:0]` index, bit
//! `[LOG2SIZE]` wrap; empty when index and wrap are equal, full when the
//! indices are equal and the wraps differ.  Producer protocol and error
//! recovery (docs/hw/smmuv3.md §10.5): write the entries, barrier (+ clean when not
//! coherent), then publish PROD; on CMDQ_CONS.ERR the SMMU stops at the bad
//! command with GERROR.CMDQ_ERR active, software fixes the slot (CERROR_ILL:
//! replace it with a CMD_SYNC, as Linux `arm_smmu_cmdq_skip_err()` does) and
//! acknowledges through GERRORN, and the SMMU resumes at the same CONS.
//! QEMU 10.0.2 executes commands during the PROD store and resumes on the
//! GERRORN store (docs/hw/qemu-virt.md §1.4).
#![forbid(unsafe_code)]

use super::coherency::DmaSync;
use super::command::Command;
use super::error::{CommandError, CommandErrorKind, Smmuv3Error};
use super::event::{FaultRecord, GlobalErrors};
use super::regs::{
    Regs, GERROR, QPTR, R_CMDQ_CONS, R_CMDQ_PROD, R_EVTQ_CONS, R_EVTQ_PROD, R_GERROR, R_GERRORN,
};
use crate::mm::dma_pool::{DmaBuf, DmaPool};
use crate::mm::BusAddr;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::vec::Vec;
use core::time::Duration;

/// Arithmetic on PROD/CONS values of a queue with 2^log2 entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePtr {
    log2: u8,
}

impl QueuePtr {
    /// For a queue of 2^log2 entries (log2 ≤ 19 as QEMU clamps, ≤ 31 here).
    pub const fn new(log2: u8) -> Self {
        Self { log2 }
    }

    /// Mask of the index+wrap bits.
    pub const fn wrap_mask(&self) -> u32 {
        ((1u64 << (self.log2 + 1)) - 1) as u32
    }

    /// Number of entries.
    pub const fn entries(&self) -> u32 {
        1 << self.log2
    }

    /// The index part.
    pub const fn index(&self, p: u32) -> u32 {
        p & (self.entries() - 1)
    }

    /// The wrap bit.
    pub const fn wrap(&self, p: u32) -> bool {
        p & self.entries() != 0
    }

    /// The next position.
    pub const fn next(&self, p: u32) -> u32 {
        (p & self.wrap_mask()).wrapping_add(1) & self.wrap_mask()
    }

    /// Entries between `from` and `to` (how many `next` steps).
    pub const fn distance(&self, from: u32, to: u32) -> u32 {
        to.wrapping_sub(from) & self.wrap_mask()
    }

    /// Empty: same index, same wrap.
    pub const fn is_empty(&self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.wrap_mask() == 0
    }

    /// Full: same index, different wrap.
    pub const fn is_full(&self, prod: u32, cons: u32) -> bool {
        self.distance(cons, prod) == self.entries()
    }

    /// `true` when the entry at `pos` (published, i.e. in `[cons, prod)`
    /// when it was written) has been consumed given the current `cons` and
    /// `prod`.
    pub const fn consumed(&self, pos: u32, cons: u32, prod: u32) -> bool {
        self.distance(cons, pos) >= self.distance(cons, prod)
    }
}

/// A ring of 2^log2 entries of `DW` dwords in DMA memory.
pub struct Ring<'a, const DW: usize> {
    buf: DmaBuf<'a>,
    ptr: QueuePtr,
}

impl<'a, const DW: usize> Ring<'a, DW> {
    /// Allocates a zeroed ring.  The pool hands out naturally aligned
    /// power-of-two blocks, which satisfies the "base aligned to the queue
    /// size" rule (docs/hw/smmuv3.md §4.1).
    pub fn new(pool: &'a DmaPool, log2: u8) -> Result<Self, Smmuv3Error> {
        let bytes = (8 * DW as u64) << log2;
        let buf = pool.alloc(bytes.max(32))?;
        Ok(Self {
            buf,
            ptr: QueuePtr::new(log2),
        })
    }

    /// The pointer arithmetic.
    pub fn ptr(&self) -> QueuePtr {
        self.ptr
    }

    /// log2 of the entry count.
    pub fn log2(&self) -> u8 {
        self.ptr.log2
    }

    /// The ring's memory.
    pub fn buf(&self) -> &DmaBuf<'a> {
        &self.buf
    }

    /// Bus address of entry 0.
    pub fn bus_addr(&self) -> BusAddr {
        self.buf.bus_addr()
    }

    /// Byte offset of the entry at position `p`.
    fn offset(&self, p: u32) -> usize {
        self.ptr.index(p) as usize * DW * 8
    }

    /// Writes the entry at position `p` (dword stores) and makes it visible.
    pub fn write(&self, p: u32, entry: &[u64; DW], sync: &DmaSync) {
        let off = self.offset(p);
        for (i, d) in entry.iter().enumerate() {
            self.buf.write_u64(off + 8 * i, *d);
        }
        sync.cpu_wrote(&self.buf, off, DW * 8);
    }

    /// Reads back an entry the CPU wrote itself (the command queue: the SMMU
    /// only reads it, since this driver never uses MSI-to-memory CMD_SYNC
    /// completion), so no cache maintenance is needed.
    pub fn read_own(&self, p: u32) -> [u64; DW] {
        let off = self.offset(p);
        let mut e = [0; DW];
        for (i, d) in e.iter_mut().enumerate() {
            *d = self.buf.read_u64(off + 8 * i);
        }
        e
    }

    /// Reads the entry at position `p` (after invalidating it when the SMMU
    /// is not coherent).
    pub fn read(&self, p: u32, sync: &DmaSync) -> [u64; DW] {
        let off = self.offset(p);
        sync.cpu_will_read(&self.buf, off, DW * 8);
        let mut e = [0; DW];
        for (i, d) in e.iter_mut().enumerate() {
            *d = self.buf.read_u64(off + 8 * i);
        }
        e
    }
}

/// Register access, time and coherence: what queue operations need from the
/// driver.
pub struct Hw<'r, M: Mmio> {
    /// The register frame.
    pub regs: &'r Regs<M>,
    /// The clock for bounded waits.
    pub clock: &'r dyn Clock,
    /// Coherence handling.
    pub sync: &'r DmaSync,
    /// Bound for every wait.
    pub timeout: Duration,
}

/// How many commands a submission put on the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Issued {
    /// Commands other than CMD_SYNC.
    pub commands: u32,
    /// CMD_SYNCs.
    pub syncs: u32,
}

impl Issued {
    /// All entries.
    pub fn total(&self) -> u32 {
        self.commands + self.syncs
    }
}

impl core::ops::AddAssign for Issued {
    fn add_assign(&mut self, o: Self) {
        self.commands += o.commands;
        self.syncs += o.syncs;
    }
}

/// The command queue.
pub struct CommandQueue<'a> {
    ring: Ring<'a, 2>,
    /// Our producer position (what we last published, or will publish).
    prod: u32,
    /// Last CONS value read.
    cons: u32,
    /// Index of the last CERROR_ABT we left in place to be retried.
    abort_retry: Option<u32>,
    /// Running totals.
    total: Issued,
    /// Every command error seen (recovered), most recent last, bounded.
    errors: Vec<CommandError>,
}

/// Most commands between two CMD_SYNCs (MMU-700 erratum 2812531).
pub const MAX_BETWEEN_SYNCS: u32 = 63;

/// How many recovered command errors are remembered for diagnostics.
const ERROR_LOG: usize = 16;

impl<'a> CommandQueue<'a> {
    /// Allocates a queue of 2^log2 commands.
    pub fn new(pool: &'a DmaPool, log2: u8) -> Result<Self, Smmuv3Error> {
        Ok(Self {
            ring: Ring::new(pool, log2)?,
            prod: 0,
            cons: 0,
            abort_retry: None,
            total: Issued::default(),
            errors: Vec::new(),
        })
    }

    /// The ring (base address and size for CMDQ_BASE).
    pub fn ring(&self) -> &Ring<'a, 2> {
        &self.ring
    }

    /// Forgets positions after software reset CMDQ_PROD/CONS to 0.
    pub fn reset_positions(&mut self) {
        self.prod = 0;
        self.cons = 0;
        self.abort_retry = None;
    }

    /// Commands issued since creation.
    pub fn total(&self) -> Issued {
        self.total
    }

    /// Recovered command errors (most recent last, at most 16).
    pub fn errors(&self) -> &[CommandError] {
        &self.errors
    }

    fn publish<M: Mmio>(&self, hw: &Hw<'_, M>) {
        hw.sync.barrier();
        hw.regs.write_raw(R_CMDQ_PROD, self.prod);
    }

    /// Reads CMDQ_CONS and handles GERROR: returns the first recovered
    /// command error, fails on service failure.
    fn poll_cons<M: Mmio>(
        &mut self,
        hw: &Hw<'_, M>,
        first_err: &mut Option<CommandError>,
    ) -> Result<(), Smmuv3Error> {
        let active =
            GlobalErrors::from_regs(hw.regs.read(R_GERROR).get(), hw.regs.read(R_GERRORN).get());
        if active.service_failure() {
            return Err(Smmuv3Error::ServiceFailure {
                gerror: hw.regs.read(R_GERROR).get(),
            });
        }
        if active.cmdq_err() {
            let e = self.recover(hw);
            if first_err.is_none() {
                *first_err = Some(e);
            }
        }
        self.cons = hw.regs.read(R_CMDQ_CONS).read(QPTR::WR) & self.ring.ptr.wrap_mask();
        Ok(())
    }

    /// Handles an active GERROR.CMDQ_ERR: fixes the offending slot and
    /// acknowledges so the SMMU resumes (docs/hw/smmuv3.md §10.5).
    fn recover<M: Mmio>(&mut self, hw: &Hw<'_, M>) -> CommandError {
        let cons = hw.regs.read(R_CMDQ_CONS);
        let pos = cons.read(QPTR::WR) & self.ring.ptr.wrap_mask();
        let kind = CommandErrorKind::from_code(cons.read(QPTR::ERR));
        let dwords = self.ring.read_own(pos);
        let index = self.ring.ptr.index(pos);
        let replace = match kind {
            // CMDQ_ERR active but CONS.ERR = 0 (CERROR_NONE): nothing is
            // wrong with the command at CONS, so it is left alone and only
            // the error is acknowledged (IHI 0070 §7.1; Linux
            // `arm_smmu_cmdq_skip_err` rewrites only on CERROR_ILL).
            CommandErrorKind::Unknown(0) => false,
            // Retrying an illegal command fails forever: make it a no-op.
            CommandErrorKind::Illegal | CommandErrorKind::Unknown(_) => true,
            // A fetch abort may be transient: leave it for one retry, replace
            // it if it aborts again at the same slot.
            CommandErrorKind::FetchAbort => {
                let again = self.abort_retry == Some(index);
                self.abort_retry = if again { None } else { Some(index) };
                again
            }
            // CONS points at the CMD_SYNC that waited for the ATC; let the
            // SMMU repeat it (what Linux does).
            CommandErrorKind::AtcInvSync => false,
        };
        if replace {
            self.ring.write(pos, &Command::Sync.encode(), hw.sync);
        }
        hw.sync.barrier();
        let gerror = hw.regs.read(R_GERROR).get();
        let gerrorn = hw.regs.read(R_GERRORN).get();
        // Toggle only CMDQ_ERR so other errors stay visible to check_gerror.
        let mask = GERROR::CMDQ_ERR::SET.value;
        hw.regs
            .write_raw(R_GERRORN, (gerrorn & !mask) | (gerror & mask));
        let e = CommandError {
            kind,
            index,
            opcode: (dwords[0] & 0xff) as u8,
            dwords,
        };
        if self.errors.len() == ERROR_LOG {
            self.errors.remove(0);
        }
        self.errors.push(e);
        e
    }

    /// Waits (bounded) until the queue has room for one more entry.
    fn wait_space<M: Mmio>(
        &mut self,
        hw: &Hw<'_, M>,
        first_err: &mut Option<CommandError>,
    ) -> Result<(), Smmuv3Error> {
        let p = self.ring.ptr;
        if !p.is_full(self.prod, self.cons) {
            return Ok(());
        }
        self.publish(hw);
        let mut fatal = None;
        let r = poll_until(
            hw.clock,
            hw.timeout,
            "CMDQ space (CMDQ_CONS to advance)",
            || {
                if let Err(e) = self.poll_cons(hw, first_err) {
                    fatal = Some(e);
                    return true;
                }
                !p.is_full(self.prod, self.cons)
            },
        );
        if let Some(e) = fatal {
            return Err(e);
        }
        r.map_err(|t| Smmuv3Error::Timeout {
            what: t.what,
            register: "CMDQ_CONS",
            expected: self.prod,
            last: self.cons,
            waited: t.waited,
        })
    }

    /// Writes one entry at PROD (waiting for space) and returns its position.
    fn push<M: Mmio>(
        &mut self,
        hw: &Hw<'_, M>,
        cmd: &Command,
        first_err: &mut Option<CommandError>,
    ) -> Result<u32, Smmuv3Error> {
        self.wait_space(hw, first_err)?;
        let pos = self.prod;
        self.ring.write(pos, &cmd.encode(), hw.sync);
        self.prod = self.ring.ptr.next(pos);
        Ok(pos)
    }

    /// Puts `cmds` on the queue, followed by a CMD_SYNC when `sync`, publishes
    /// them and, when `sync`, waits (bounded) until the SMMU has consumed the
    /// CMD_SYNC — i.e. every command before it has completed.
    ///
    /// A command the SMMU rejects is recovered from (the queue keeps running)
    /// and reported as [`Smmuv3Error::Command`] with its opcode and index
    /// once the batch has drained.  Long batches get an extra CMD_SYNC
    /// after every 63 commands (MMU-700 erratum 2812531, which Linux works
    /// around the same way for every SMMU; docs/hw/smmuv3.md §10.5).
    pub fn submit<M: Mmio>(
        &mut self,
        hw: &Hw<'_, M>,
        cmds: &[Command],
        sync: bool,
    ) -> Result<Issued, Smmuv3Error> {
        let mut first_err = None;
        let mut issued = Issued::default();
        let mut since_sync = 0;
        for cmd in cmds {
            if matches!(cmd, Command::Sync) {
                since_sync = 0;
                issued.syncs += 1;
            } else {
                if since_sync == MAX_BETWEEN_SYNCS {
                    self.push(hw, &Command::Sync, &mut first_err)?;
                    issued.syncs += 1;
                    since_sync = 0;
                }
                since_sync += 1;
                issued.commands += 1;
            }
            self.push(hw, cmd, &mut first_err)?;
        }
        let mut sync_pos = None;
        if sync {
            sync_pos = Some(self.push(hw, &Command::Sync, &mut first_err)?);
            issued.syncs += 1;
        }
        self.total += issued;
        self.publish(hw);
        if let Some(pos) = sync_pos {
            self.wait_consumed(hw, pos, &mut first_err)?;
        }
        match first_err {
            Some(e) => Err(Smmuv3Error::Command(e)),
            None => Ok(issued),
        }
    }

    fn wait_consumed<M: Mmio>(
        &mut self,
        hw: &Hw<'_, M>,
        pos: u32,
        first_err: &mut Option<CommandError>,
    ) -> Result<(), Smmuv3Error> {
        let p = self.ring.ptr;
        let prod = self.prod;
        let mut fatal = None;
        let r = poll_until(hw.clock, hw.timeout, "CMDQ_CONS to pass CMD_SYNC", || {
            if let Err(e) = self.poll_cons(hw, first_err) {
                fatal = Some(e);
                return true;
            }
            p.consumed(pos, self.cons, prod)
        });
        if let Some(e) = fatal {
            return Err(e);
        }
        r.map_err(|t| Smmuv3Error::Timeout {
            what: t.what,
            register: "CMDQ_CONS",
            expected: p.next(pos),
            last: self.cons,
            waited: t.waited,
        })
    }
}

/// What one drain of the event queue returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventDrain {
    /// Decoded records, oldest first.
    pub records: Vec<FaultRecord>,
    /// EVTQ_PROD.OVFLG toggled since the last drain: records were lost.
    pub overflowed: bool,
    /// Records were left in the queue because the limit was reached.
    pub more_pending: bool,
}

/// The event queue.
pub struct EventQueue<'a> {
    ring: Ring<'a, 4>,
    cons: u32,
    /// The OVFLG value last acknowledged.
    ovack: bool,
}

impl<'a> EventQueue<'a> {
    /// Allocates a queue of 2^log2 records.
    pub fn new(pool: &'a DmaPool, log2: u8) -> Result<Self, Smmuv3Error> {
        Ok(Self {
            ring: Ring::new(pool, log2)?,
            cons: 0,
            ovack: false,
        })
    }

    /// The ring (base address and size for EVTQ_BASE).
    pub fn ring(&self) -> &Ring<'a, 4> {
        &self.ring
    }

    /// Forgets positions after software reset EVTQ_PROD/CONS to 0.
    pub fn reset_positions(&mut self) {
        self.cons = 0;
        self.ovack = false;
    }

    /// Reads up to `max` records (docs/hw/smmuv3.md §11.1): read PROD, copy records
    /// from CONS onwards, then publish the new CONS with OVACKFLG = OVFLG.
    pub fn drain<M: Mmio>(&mut self, hw: &Hw<'_, M>, max: usize) -> EventDrain {
        let p = self.ring.ptr;
        let prod_reg = hw.regs.read(R_EVTQ_PROD);
        let prod = prod_reg.read(QPTR::WR) & p.wrap_mask();
        let ovf = prod_reg.is_set(QPTR::OVF);
        // The records must not be read before PROD was observed: a read
        // barrier (a write barrier such as `DSB ST` does not order reads).
        hw.sync.read_barrier();
        let mut out = EventDrain::default();
        while !p.is_empty(prod, self.cons) {
            if out.records.len() >= max {
                out.more_pending = true;
                break;
            }
            out.records
                .push(FaultRecord::decode(self.ring.read(self.cons, hw.sync)));
            self.cons = p.next(self.cons);
        }
        out.overflowed = ovf != self.ovack;
        self.ovack = ovf;
        // Our reads of the slots complete before the SMMU may reuse them.
        hw.sync.full_barrier();
        hw.regs.write(
            R_EVTQ_CONS,
            QPTR::WR.val(self.cons) + QPTR::OVF.val(u32::from(ovf)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_arithmetic_wraps() {
        let p = QueuePtr::new(2); // 4 entries, wrap bit = 4
        assert_eq!(p.wrap_mask(), 7);
        assert!(p.is_empty(0, 0));
        assert!(p.is_empty(4, 4));
        assert!(!p.is_empty(4, 0));
        assert!(p.is_full(4, 0));
        assert!(p.is_full(0, 4));
        assert!(p.is_full(6, 2));
        assert!(!p.is_full(3, 0));
        assert_eq!(p.next(3), 4);
        assert_eq!(p.next(7), 0);
        assert_eq!(p.index(6), 2);
        assert!(p.wrap(6) && !p.wrap(2));
        assert_eq!(p.distance(6, 1), 3);
        // Entry at 7 published with prod = 1 (wrapped): not consumed while
        // cons is 6 or 7, consumed once cons reaches 0 or 1.
        assert!(!p.consumed(7, 6, 1));
        assert!(!p.consumed(7, 7, 1));
        assert!(p.consumed(7, 0, 1));
        assert!(p.consumed(7, 1, 1));
    }
}
