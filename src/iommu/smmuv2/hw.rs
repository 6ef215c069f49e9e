//! The SMMUv1/v2 hardware layer: ID probe, reset and enable, stream
//! mapping (SMR/S2CR, the extended-ID form, conflict detection), context
//! banks, TLB maintenance with bounded sync polls, fault registers, and the
//! MMU-500 and Qualcomm behaviour (docs/hw/smmuv2.md §3–§11).
//!
//! Every wait is bounded by the clock ([`poll_until`]) and fails with the
//! register and the value it last read.  A write the hardware must keep
//! (sCR0, SMR, S2CR, ACR, ACTLR) is read back; on a Qualcomm part, where a
//! hypervisor mediates the global space, a write that does not read back
//! is [`Smmuv2Error::Refused`], named as the hypervisor's doing rather than
//! left a mystery.
#![forbid(unsafe_code)]

use super::context::CbConfig;
use super::ids::{CbFormat, Ids};
use super::regs::*;
use super::variant::Variant;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;
use tock_registers::LocalRegisterCopy;

/// How long a TLB sync may stay active: Linux's `TLB_LOOP_TIMEOUT`, 1 s
/// (docs/hw/smmuv2.md §7).
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(1);

/// Every FSR fault bit (and SS, MULTI), written to clear a context bank's
/// record (FSR is write-one-to-clear, docs/hw/smmuv2.md §8).
pub const FSR_ALL: u32 = 0xc000_01fe;

/// The most stream mapping groups a Qualcomm hypervisor is known to
/// emulate reliably (docs/hw/smmuv2.md §11.3).
pub const QCOM_RELIABLE_GROUPS: usize = 128;

/// What went wrong, naming the register and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smmuv2Error {
    /// The ID registers read like nothing is there.
    DeadBlock {
        /// ID0 as read.
        id0: u32,
        /// ID1 as read.
        id1: u32,
    },
    /// The node's `reg` does not cover the context banks.
    RegTooSmall {
        /// Bytes the DT gives.
        size: u64,
        /// Bytes the ID registers say the block has.
        needed: u64,
    },
    /// A bounded wait ran out.
    Timeout {
        /// Register polled.
        reg: &'static str,
        /// Its byte offset in the block.
        offset: usize,
        /// The value read last.
        value: u32,
        /// How long it was polled, in microseconds.
        waited_us: u64,
    },
    /// A register did not keep what was written.
    NotTaken {
        /// Register name.
        reg: &'static str,
        /// Its byte offset in the block.
        offset: usize,
        /// Written.
        wrote: u32,
        /// Read back.
        read: u32,
    },
    /// A Qualcomm part's global-space write did not read back: the
    /// hypervisor that mediates the global space refused or changed it.
    Refused {
        /// Register name.
        reg: &'static str,
        /// Its byte offset in the block.
        offset: usize,
        /// Written.
        wrote: u32,
        /// Read back.
        read: u32,
    },
    /// A stream ID or mask with bits the SMRs do not implement.
    StreamOutOfRange {
        /// The stream.
        sid: u32,
        /// Its mask.
        mask: u32,
        /// Implemented ID bits.
        id_bits: u32,
        /// Implemented mask bits.
        mask_bits: u32,
    },
    /// Another valid SMR of this driver would match some of the same
    /// stream IDs (a stream match conflict, docs/hw/smmuv2.md §6).
    StreamConflict {
        /// The stream asked for.
        sid: u32,
        /// Its mask.
        mask: u32,
        /// The group already holding an overlapping entry.
        group: usize,
        /// That entry's ID.
        other_id: u32,
        /// That entry's mask.
        other_mask: u32,
    },
    /// A valid SMR the bootloader left (adopted, not wiped) matches the
    /// stream: its translation belongs to whoever set it up.
    StreamAdopted {
        /// The stream asked for.
        sid: u32,
        /// The adopted group.
        group: usize,
        /// Its SMR as read at reset.
        smr: u32,
        /// Its S2CR as read at reset.
        s2cr: u32,
    },
    /// Every stream mapping group is in use.
    NoFreeGroup {
        /// The stream asked for.
        sid: u32,
        /// Groups in use.
        groups: usize,
    },
    /// The stream is not mapped by this driver.
    NotMapped {
        /// The stream.
        sid: u32,
    },
    /// Every context bank that can hold a stage-1 context is in use or
    /// kept off.
    NoFreeContext {
        /// Context banks the hardware has.
        numcb: usize,
        /// Of which kept off (stage-2 only, the bootloader's, reserved).
        kept_off: usize,
    },
    /// MMU-500: a context bank's ACTLR.CPRE (the next-page prefetcher,
    /// errata 841119/826419) did not clear; ACR.CACHE_LOCK (or its Secure
    /// copy) still locks the ACTLRs.
    PrefetcherOn {
        /// The context bank.
        cb: usize,
        /// ACTLR as read back.
        actlr: u32,
    },
}

impl fmt::Display for Smmuv2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeadBlock { id0, id1 } => write!(
                f,
                "ID registers read as a dead block (ID0 {id0:#010x}, ID1 {id1:#010x}): unclocked, unpowered, or a wrong reg"
            ),
            Self::RegTooSmall { size, needed } => write!(
                f,
                "reg is {size:#x} bytes, but ID1 says the global and context-bank pages take {needed:#x}"
            ),
            Self::Timeout {
                reg,
                offset,
                value,
                waited_us,
            } => write!(
                f,
                "{reg} ({offset:#x}) still active after {waited_us} us: reads {value:#x}"
            ),
            Self::NotTaken {
                reg,
                offset,
                wrote,
                read,
            } => write!(f, "{reg} ({offset:#x}): wrote {wrote:#010x}, reads {read:#010x}"),
            Self::Refused {
                reg,
                offset,
                wrote,
                read,
            } => write!(
                f,
                "{reg} ({offset:#x}): wrote {wrote:#010x}, reads {read:#010x}: the write did not read back; on Qualcomm parts a hypervisor mediates the SMMU's global space and refused or changed it (docs/hw/smmuv2.md §11.1)"
            ),
            Self::StreamOutOfRange {
                sid,
                mask,
                id_bits,
                mask_bits,
            } => write!(
                f,
                "stream {sid:#x} mask {mask:#x}: the SMRs implement ID bits {id_bits:#x} and mask bits {mask_bits:#x}"
            ),
            Self::StreamConflict {
                sid,
                mask,
                group,
                other_id,
                other_mask,
            } => write!(
                f,
                "stream {sid:#x} mask {mask:#x} overlaps SMR{group} (id {other_id:#x} mask {other_mask:#x}): two valid SMRs matching one stream is a stream match conflict"
            ),
            Self::StreamAdopted {
                sid,
                group,
                smr,
                s2cr,
            } => write!(
                f,
                "stream {sid:#x} is matched by SMR{group} {smr:#010x} (S2CR {s2cr:#010x}), which the bootloader left valid and the driver adopted instead of wiping"
            ),
            Self::NoFreeGroup { sid, groups } => {
                write!(f, "stream {sid:#x}: all {groups} stream mapping groups in use")
            }
            Self::NotMapped { sid } => write!(f, "stream {sid:#x} is not mapped by this driver"),
            Self::NoFreeContext { numcb, kept_off } => write!(
                f,
                "no free stage-1 context bank: {numcb} banks, {kept_off} kept off, the rest in use"
            ),
            Self::PrefetcherOn { cb, actlr } => write!(
                f,
                "context bank {cb}: ACTLR.CPRE still set ({actlr:#x}) after clearing it: the next-page prefetcher stays on (errata 841119/826419); ACR.CACHE_LOCK locks the ACTLRs"
            ),
        }
    }
}

/// Driver bugs the host tests switch on to show a case catches each
/// (issue 13 "Done when"); all off in a real driver, and absent from the
/// image (`cfg(test)`).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// The TLBIVA/TLBIVAL writes are issued, but no TLBSYNC follows.
    pub no_tlbsync_after_tlbiva: bool,
    /// TLBIVA/TLBIVAL operands carry the address without the ASID.
    pub tlbiva_without_asid: bool,
    /// SMR.MASK written inverted (within the implemented mask bits).
    pub inverted_smr_mask: bool,
    /// A detached stream's S2CR is set to BYPASS (its SMR left valid)
    /// instead of the stream being unmatched: BYPASS relied on.
    pub bypass_on_detach: bool,
    /// MMU-500: ACTLR.CPRE is not cleared (the next-page prefetcher left
    /// on).
    pub prefetcher_left_on: bool,
    /// Write-anything registers stored with 0 instead of a non-zero value.
    pub zero_write_anything: bool,
    /// A freed table gets the leaf-only TLBIVAL too (the walk cache's
    /// pointer to it survives).
    pub leaf_only_when_freeing: bool,
}

/// One stream mapping group as the driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Invalid, ours to use.
    Free,
    /// Programmed by this driver.
    Ours {
        /// SMR ID.
        id: u32,
        /// SMR mask.
        mask: u32,
        /// The context bank S2CR translates to.
        cb: usize,
        /// Attached streams sharing the entry.
        refs: u32,
    },
    /// Left valid by the bootloader and adopted (Qualcomm): never
    /// rewritten.
    Adopted {
        /// SMR at reset.
        smr: u32,
        /// S2CR at reset.
        s2cr: u32,
    },
}

/// Why a context bank is kept off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeptOff {
    /// Below ID1.NUMS2CB: stage 2 only.
    Stage2Only,
    /// An adopted S2CR translates to it.
    Bootloader {
        /// The adopted group.
        group: usize,
    },
    /// Qualcomm: the last bank (docs/hw/smmuv2.md §11.4).
    QcomLast,
    /// Qualcomm: translating (SCTLR.M = 1) when the driver came, with no
    /// adopted stream mapping pointing at it: another owner's (TZ, the
    /// hypervisor); never written (docs/hw/smmuv2.md §11.4).
    Live {
        /// SCTLR as read.
        sctlr: u32,
    },
}

/// One context bank as the driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bank {
    /// Disabled, ours to use.
    Free,
    /// Allocated; `Some` once programmed.
    Ours(Option<CbConfig>),
    /// Not touched.
    KeptOff(KeptOff),
}

/// A context bank's latched fault (docs/hw/smmuv2.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbFault {
    /// The context bank.
    pub cb: usize,
    /// FSR.
    pub fsr: u32,
    /// FAR.
    pub far: u64,
    /// FSYNR0.
    pub fsynr0: u32,
    /// CBFRSYNRA.
    pub cbfrsynra: u32,
}

/// The latched global fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalFault {
    /// sGFSR.
    pub gfsr: u32,
    /// sGFSYNR0.
    pub gfsynr0: u32,
    /// sGFSYNR1 (the StreamID).
    pub gfsynr1: u32,
    /// sGFAR.
    pub gfar: u64,
}

/// What the reset did that a lab should read (KTAP diagnostics).
pub type Notes = Vec<String>;

/// Counts of the TLB maintenance issued, for the run's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbStats {
    /// TLBIVAL writes (leaf only).
    pub tlbival: u64,
    /// TLBIVA writes (all levels).
    pub tlbiva: u64,
    /// TLBIASID writes.
    pub tlbiasid: u64,
    /// TLBSYNC + TLBSTATUS polls.
    pub tlbsync: u64,
    /// Global syncs.
    pub gsync: u64,
    /// TLBIVA(L) operands with an address at or above 4 GiB.
    pub above_4g: u64,
}

/// The hardware layer of one SMMUv1/v2.
pub struct Smmuv2Hw<M: Mmio> {
    regs: Regs<M>,
    variant: Variant,
    clock: &'static dyn Clock,
    barrier: fn(),
    ids: Ids,
    exids: bool,
    id_mask: u32,
    mask_mask: u32,
    groups: Vec<Group>,
    banks: Vec<Bank>,
    bypass_quirk: Option<bool>,
    stats: TlbStats,
    /// Test-only driver bugs.
    #[cfg(test)]
    pub bugs: Bugs,
}

fn no_barrier() {}

/// Does SMR entry (`id`, `mask`) match every stream of (`sid`, `smask`)?
fn covers(id: u32, mask: u32, sid: u32, smask: u32) -> bool {
    smask & !mask == 0 && (sid ^ id) & !mask == 0
}

/// Could one stream ID match both entries?
fn overlaps(id: u32, mask: u32, sid: u32, smask: u32) -> bool {
    (sid ^ id) & !(mask | smask) == 0
}

impl<M: Mmio> Smmuv2Hw<M> {
    /// Reads the ID registers (no writes) and sets the register geometry.
    pub fn probe(
        mut regs: Regs<M>,
        variant: Variant,
        clock: &'static dyn Clock,
    ) -> Result<Self, Smmuv2Error> {
        let ids = Ids::decode(
            regs.get(ID0_REG),
            regs.get(ID1_REG),
            regs.get(ID2_REG),
            regs.get(ID7_REG),
            variant.version,
        );
        if ids.dead() {
            return Err(Smmuv2Error::DeadBlock {
                id0: ids.id0,
                id1: ids.id1,
            });
        }
        regs.set_layout(ids.layout);
        let id_mask = ((1u64 << ids.sid_bits) - 1) as u32;
        Ok(Self {
            regs,
            variant,
            clock,
            barrier: no_barrier,
            groups: alloc::vec![Group::Free; ids.groups],
            banks: alloc::vec![Bank::Free; ids.numcb],
            exids: ids.exids,
            id_mask,
            mask_mask: id_mask,
            ids,
            bypass_quirk: None,
            stats: TlbStats::default(),
            #[cfg(test)]
            bugs: Bugs::default(),
        })
    }

    /// The barrier that orders table writes before a TLBI (the DMA pool's
    /// write barrier on target).
    pub fn set_barrier(&mut self, barrier: fn()) {
        self.barrier = barrier;
    }

    /// The decoded ID registers.
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The registers.
    pub fn regs(&self) -> &Regs<M> {
        &self.regs
    }

    /// The stream mapping groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The context banks.
    pub fn banks(&self) -> &[Bank] {
        &self.banks
    }

    /// Qualcomm: `Some(true)` when the S2CR quirk (BYPASS reads back as
    /// FAULT) was found at reset; `None` before reset or elsewhere.
    pub fn bypass_quirk(&self) -> Option<bool> {
        self.bypass_quirk
    }

    /// Implemented SMR ID bits and mask bits (probed at reset).
    pub fn smr_bits(&self) -> (u32, u32) {
        (self.id_mask, self.mask_mask)
    }

    /// TLB maintenance issued so far.
    pub fn stats(&self) -> TlbStats {
        self.stats
    }

    /// Checks the DT `reg` covers the pages ID1 describes (docs/hw/smmuv2.md §2).
    pub fn check_reg_size(&self, size: u64) -> Result<(), Smmuv2Error> {
        let needed = self.ids.layout.span(self.ids.numcb) as u64;
        if size < needed {
            return Err(Smmuv2Error::RegTooSmall { size, needed });
        }
        Ok(())
    }

    fn write_anything(&self) -> u32 {
        #[cfg(test)]
        if self.bugs.zero_write_anything {
            return 0;
        }
        WRITE_ANYTHING
    }

    /// A read-back mismatch, named for the variant.
    fn mismatch(&self, reg: &'static str, offset: usize, wrote: u32, read: u32) -> Smmuv2Error {
        if self.variant.qcom {
            Smmuv2Error::Refused {
                reg,
                offset,
                wrote,
                read,
            }
        } else {
            Smmuv2Error::NotTaken {
                reg,
                offset,
                wrote,
                read,
            }
        }
    }

    /// Waits, bounded, for bit 0 of `reg` (of context bank `cb`) to read 0.
    fn wait_inactive(
        &self,
        cb: usize,
        reg: Reg<ACTIVE::Register>,
        what: &'static str,
        timeout: Duration,
    ) -> Result<(), Smmuv2Error> {
        let mut value = 0;
        let start = self.clock.ticks();
        let at = self.regs.offset_of(reg, cb);
        poll_until(self.clock, timeout, what, || {
            value = self.regs.mmio().read32(at);
            value & 1 == 0
        })
        .map_err(|_| Smmuv2Error::Timeout {
            reg: reg.name,
            offset: at,
            value,
            waited_us: self.clock.since(start).as_micros() as u64,
        })
    }

    // ---- stream mapping entries ----------------------------------------

    /// SMR and S2CR of group `g`: is it valid, and its ID/mask, in the
    /// form sCR0.EXIDENABLE = `exids` gives them (docs/hw/smmuv2.md §6).
    fn read_entry(&self, g: usize, exids: bool) -> (bool, u32, u32, u32, u32) {
        let smr = self.regs.get(smr(g));
        let s2cr = self.regs.get(s2cr(g));
        let r = LocalRegisterCopy::<u32, SMR::Register>::new(smr);
        let (valid, id, mask) = if exids {
            let s = LocalRegisterCopy::<u32, S2CR::Register>::new(s2cr);
            (
                s.is_set(S2CR::EXIDVALID),
                r.read(SMR::ID),
                r.read(SMR::MASK),
            )
        } else {
            (
                r.is_set(SMR::VALID),
                r.read(SMR::ID) & 0x7fff,
                r.read(SMR::MASK) & 0x7fff,
            )
        };
        (valid, id, mask, smr, s2cr)
    }

    fn s2cr_fault() -> u32 {
        S2CR::TYPE::Fault.value
    }

    // ---- reset ----------------------------------------------------------

    /// The reset and enable sequence (docs/hw/smmuv2.md §4): clear global
    /// faults; Qualcomm: adopt the SMRs the bootloader left valid and
    /// detect the S2CR quirk; every other group invalid (unmatched streams
    /// then fault) with a FAULT S2CR; every context bank not kept off
    /// disabled with its FSR cleared; MMU-500: ACR.CACHE_LOCK cleared
    /// (r2p0 on) and every bank's next-page prefetcher off; invalidate
    /// all with a global sync; sCR0 with USFCFG = 1, CLIENTPD = 0, read
    /// back; then the SMR ID/mask bits probed.  Returns notes for KTAP.
    pub fn reset(&mut self) -> Result<Notes, Smmuv2Error> {
        let mut notes = Notes::new();
        let gfsr = self.regs.get(SGFSR_REG);
        if gfsr != 0 {
            self.regs.set(SGFSR_REG, gfsr);
            notes.push(format!(
                "sGFSR was {gfsr:#x} before reset (a global fault from before this image); cleared"
            ));
        }
        // Banks below NUMS2CB take stage 2 only.
        for b in self.banks.iter_mut().take(self.ids.nums2cb) {
            *b = Bank::KeptOff(KeptOff::Stage2Only);
        }
        let boot_exids = self.regs.read(SCR0_REG).is_set(SCR0::EXIDENABLE);
        if self.variant.qcom {
            self.adopt_boot_entries(boot_exids, &mut notes);
            self.detect_s2cr_quirk(&mut notes);
            if let Some(last) = self.banks.len().checked_sub(1) {
                if self.banks[last] == Bank::Free {
                    self.banks[last] = Bank::KeptOff(KeptOff::QcomLast);
                    notes.push(format!(
                        "context bank {last} (the last) kept off: Linux reserves it on Qualcomm parts (bypass emulation, the shared stage-2 context), and TZ protects the top banks on some (docs/hw/smmuv2.md §11.4)"
                    ));
                }
            }
        }
        // With adopted entries the boot-time ID form stays, or they would
        // change meaning; otherwise EXIDENABLE follows ID0.EXIDS.
        let adopted = self
            .groups
            .iter()
            .any(|g| matches!(g, Group::Adopted { .. }));
        self.exids = if adopted { boot_exids } else { self.ids.exids };
        if !self.exids {
            self.id_mask &= 0x7fff;
            self.mask_mask &= 0x7fff;
        }
        for g in 0..self.groups.len() {
            if self.groups[g] == Group::Free {
                self.clear_entry(g);
            }
        }
        if self.variant.mmu500() {
            self.mmu500_unlock_actlr(&mut notes);
        }
        for cb in 0..self.banks.len() {
            if matches!(self.banks[cb], Bank::KeptOff(KeptOff::Bootloader { .. })) {
                continue;
            }
            if self.variant.qcom {
                let sctlr = self.regs.cb_get(cb, CB_SCTLR);
                if sctlr & SCTLR::M::SET.value != 0 {
                    self.banks[cb] = Bank::KeptOff(KeptOff::Live { sctlr });
                    notes.push(format!(
                        "context bank {cb} translates already (SCTLR {sctlr:#x}) and no adopted stream mapping uses it: another owner's (TZ or the hypervisor), kept off and never written (docs/hw/smmuv2.md §11.4)"
                    ));
                    continue;
                }
            }
            self.regs.cb_set(cb, CB_SCTLR, 0);
            self.regs.cb_set(cb, CB_FSR, FSR_ALL);
            if self.variant.mmu500() {
                self.prefetcher_off(cb)?;
            }
        }
        let any = self.write_anything();
        self.regs.set(TLBIALLH, any);
        self.regs.set(TLBIALLNSNH, any);
        self.global_sync()?;
        self.enable(&mut notes)?;
        self.probe_smr_bits();
        Ok(notes)
    }

    /// Qualcomm: every valid boot-time entry is adopted as it is (never
    /// rewritten), and a context bank its S2CR translates to is kept off
    /// (docs/hw/smmuv2.md §11.3).
    fn adopt_boot_entries(&mut self, exids: bool, notes: &mut Notes) {
        for g in 0..self.groups.len() {
            let (valid, id, mask, smr, s2cr) = self.read_entry(g, exids);
            if !valid {
                continue;
            }
            self.groups[g] = Group::Adopted { smr, s2cr };
            let s = LocalRegisterCopy::<u32, S2CR::Register>::new(s2cr);
            let mut what = format!(
                "SMR{g} {smr:#010x} (id {id:#x} mask {mask:#x}) was left valid by the bootloader: adopted, not wiped; S2CR {s2cr:#010x}"
            );
            if s.read(S2CR::TYPE) == 0 {
                let cb = s.read(S2CR::CBNDX) as usize;
                if let Some(b) = self.banks.get_mut(cb) {
                    *b = Bank::KeptOff(KeptOff::Bootloader { group: g });
                    what.push_str(&format!(" translates through context bank {cb}, kept off"));
                }
            }
            notes.push(what);
        }
    }

    /// Qualcomm: writes BYPASS to the S2CR of a free group (its SMR
    /// invalid, so nothing matches it) and reads it back: FAULT means the
    /// firmware's S2CR quirk (docs/hw/smmuv2.md §11.2).  The driver never
    /// relies on BYPASS either way; with the quirk FAULT writes are
    /// ignored too, so unmatched streams are blocked by sCR0.USFCFG alone.
    fn detect_s2cr_quirk(&mut self, notes: &mut Notes) {
        let reliable = self.groups.len().min(QCOM_RELIABLE_GROUPS);
        let Some(g) = (0..reliable).rev().find(|&g| self.groups[g] == Group::Free) else {
            notes.push(String::from(
                "S2CR quirk not probed: no free stream mapping group",
            ));
            return;
        };
        let bypass = (S2CR::TYPE::Bypass + S2CR::CBNDX.val(0xff)).value;
        self.regs.set(s2cr(g), bypass);
        let read = self.regs.get(s2cr(g));
        let quirk = LocalRegisterCopy::<u32, S2CR::Register>::new(read).read(S2CR::TYPE) != 1;
        self.regs.set(s2cr(g), Self::s2cr_fault());
        self.bypass_quirk = Some(quirk);
        if quirk {
            notes.push(format!(
                "S2CR quirk: BYPASS written to S2CR{g} (no stream matches it) reads back {read:#010x}, not BYPASS: the firmware's S2CR quirk (Linux: BYPASS stored as FAULT, FAULT writes ignored); the driver relies on neither: unmatched and detached streams fault by sCR0.USFCFG (docs/hw/smmuv2.md §11.2)"
            ));
            if self.groups.len() > QCOM_RELIABLE_GROUPS {
                notes.push(format!(
                    "{} stream mapping groups reported; only the first {QCOM_RELIABLE_GROUPS} are used (the hypervisor does not emulate the others reliably)",
                    self.groups.len()
                ));
                self.groups.truncate(QCOM_RELIABLE_GROUPS);
            }
        }
    }

    /// Group `g` invalid: nothing matches it, and its S2CR says FAULT.
    fn clear_entry(&mut self, g: usize) {
        if self.ids.sms {
            if self.exids {
                self.regs.set(s2cr(g), Self::s2cr_fault());
                self.regs.set(smr(g), 0);
            } else {
                self.regs.set(smr(g), 0);
                self.regs.set(s2cr(g), Self::s2cr_fault());
            }
        } else {
            self.regs.set(s2cr(g), Self::s2cr_fault());
        }
    }

    /// MMU-500 r2p0 on: clear ACR.CACHE_LOCK so the Non-secure ACTLRs can
    /// be written (docs/hw/smmuv2.md §10).
    fn mmu500_unlock_actlr(&mut self, notes: &mut Notes) {
        if self.ids.major < 2 {
            return;
        }
        let acr = self.regs.read(SACR_REG);
        if !acr.is_set(SACR::CACHE_LOCK) {
            return;
        }
        let mut v = acr;
        v.modify(SACR::CACHE_LOCK::CLEAR);
        self.regs.set(SACR_REG, v.get());
        let read = self.regs.read(SACR_REG);
        if read.is_set(SACR::CACHE_LOCK) {
            notes.push(format!(
                "ACR.CACHE_LOCK did not clear (wrote {:#x}, reads {:#x}): the context banks' ACTLRs may stay locked",
                v.get(),
                read.get()
            ));
        }
    }

    /// MMU-500: ACTLR.CPRE cleared on `cb` and read back
    /// (errata 841119, 826419; docs/hw/smmuv2.md §10).
    fn prefetcher_off(&mut self, cb: usize) -> Result<(), Smmuv2Error> {
        #[cfg(test)]
        if self.bugs.prefetcher_left_on {
            return Ok(());
        }
        let mut actlr = self.regs.cb_read(cb, CB_ACTLR);
        if !actlr.is_set(ACTLR::CPRE) {
            return Ok(());
        }
        actlr.modify(ACTLR::CPRE::CLEAR);
        self.regs.cb_set(cb, CB_ACTLR, actlr.get());
        let read = self.regs.cb_get(cb, CB_ACTLR);
        if read & ACTLR::CPRE::SET.value != 0 {
            return Err(Smmuv2Error::PrefetcherOn { cb, actlr: read });
        }
        Ok(())
    }

    /// sCR0: report global faults (abort), unmatched streams fault
    /// (USFCFG), private TLB maintenance and VMID namespace, no forced
    /// broadcast, the ID form chosen, CLIENTPD clear; interrupts off (the
    /// driver polls).  Read back (docs/hw/smmuv2.md §4).
    fn enable(&mut self, notes: &mut Notes) -> Result<(), Smmuv2Error> {
        let mut v = self.regs.read(SCR0_REG);
        v.modify(
            SCR0::GFRE::SET
                + SCR0::GCFGFRE::SET
                + SCR0::USFCFG::SET
                + SCR0::VMIDPNE::SET
                + SCR0::PTM::SET
                + SCR0::CLIENTPD::CLEAR
                + SCR0::GFIE::CLEAR
                + SCR0::GCFGFIE::CLEAR
                + SCR0::FB::CLEAR
                + SCR0::BSU.val(0)
                + SCR0::VMID16EN::CLEAR,
        );
        if self.exids {
            v.modify(SCR0::EXIDENABLE::SET);
        } else {
            v.modify(SCR0::EXIDENABLE::CLEAR);
        }
        self.regs.set(SCR0_REG, v.get());
        let read = self.regs.read(SCR0_REG);
        let must = (SCR0::USFCFG::SET + SCR0::EXIDENABLE::SET + SCR0::CLIENTPD::SET).mask();
        let wanted = v.get();
        if (read.get() ^ wanted) & must != 0 {
            return Err(self.mismatch(SCR0_REG.name, SCR0_REG.offset, wanted, read.get()));
        }
        if read.get() != wanted {
            notes.push(format!(
                "sCR0: wrote {wanted:#010x}, reads {:#010x} (read-only or unimplemented fields)",
                read.get()
            ));
        }
        Ok(())
    }

    /// The implemented SMR ID and mask bits, probed on a free group by
    /// writing ones and reading back (docs/hw/smmuv2.md §6).  The entry is
    /// never valid while probed.
    fn probe_smr_bits(&mut self) {
        if !self.ids.sms {
            return;
        }
        let Some(g) = self.groups.iter().rposition(|g| *g == Group::Free) else {
            return;
        };
        self.regs.set(smr(g), self.id_mask);
        let ids = self.regs.get(smr(g)) & 0xffff;
        self.regs.set(smr(g), self.id_mask << 16);
        let masks = (self.regs.get(smr(g)) >> 16) & 0xffff;
        self.regs.set(smr(g), 0);
        let limit = if self.exids { 0xffff } else { 0x7fff };
        if ids != 0 {
            self.id_mask = ids & limit;
        }
        if masks != 0 {
            self.mask_mask = masks & limit;
        }
    }

    // ---- streams ------------------------------------------------------

    /// Maps (`sid`, `mask`) to context bank `cb` (docs/hw/smmuv2.md §6):
    /// reuses this driver's entry that already covers it for the same
    /// bank; refuses an entry that would overlap another (a stream match
    /// conflict), one the bootloader left, or ID/mask bits the SMRs do not
    /// implement.  A new entry's S2CR is written before its SMR becomes
    /// valid (EXIDS: SMR first, then S2CR with EXIDVALID), so the stream
    /// never matches an entry with a stale S2CR.  Both are read back.
    pub fn map_stream(&mut self, sid: u32, mask: u32, cb: usize) -> Result<usize, Smmuv2Error> {
        if !self.ids.sms {
            return self.map_indexed(sid, cb);
        }
        if sid & !self.id_mask != 0 || mask & !self.mask_mask != 0 {
            return Err(Smmuv2Error::StreamOutOfRange {
                sid,
                mask,
                id_bits: self.id_mask,
                mask_bits: self.mask_mask,
            });
        }
        for (g, e) in self.groups.iter_mut().enumerate() {
            match *e {
                Group::Free => {}
                Group::Ours {
                    id,
                    mask: m,
                    cb: c,
                    ref mut refs,
                } => {
                    if covers(id, m, sid, mask) && c == cb {
                        *refs += 1;
                        return Ok(g);
                    }
                    if overlaps(id, m, sid, mask) {
                        return Err(Smmuv2Error::StreamConflict {
                            sid,
                            mask,
                            group: g,
                            other_id: id,
                            other_mask: m,
                        });
                    }
                }
                Group::Adopted { smr: r, s2cr: s } => {
                    let v = LocalRegisterCopy::<u32, SMR::Register>::new(r);
                    let (id, m) = if self.exids {
                        (v.read(SMR::ID), v.read(SMR::MASK))
                    } else {
                        (v.read(SMR::ID) & 0x7fff, v.read(SMR::MASK) & 0x7fff)
                    };
                    if overlaps(id, m, sid, mask) {
                        return Err(Smmuv2Error::StreamAdopted {
                            sid,
                            group: g,
                            smr: r,
                            s2cr: s,
                        });
                    }
                }
            }
        }
        let g =
            self.groups
                .iter()
                .position(|e| *e == Group::Free)
                .ok_or(Smmuv2Error::NoFreeGroup {
                    sid,
                    groups: self.groups.len(),
                })?;
        #[allow(unused_mut)]
        let mut smr_mask = mask;
        #[cfg(test)]
        if self.bugs.inverted_smr_mask {
            smr_mask = !mask & self.mask_mask;
        }
        let translate = (S2CR::TYPE::Translate + S2CR::CBNDX.val(cb as u32)).value;
        let smr_val = (SMR::ID.val(sid) + SMR::MASK.val(smr_mask)).value;
        let implemented = self.id_mask | self.mask_mask << 16;
        if self.exids {
            self.write_checked(smr(g), smr_val, implemented)?;
            let s = translate | S2CR::EXIDVALID::SET.value;
            self.write_checked(s2cr(g), s, S2CR_CHECKED | S2CR::EXIDVALID::SET.value)?;
        } else {
            self.write_checked(s2cr(g), translate, S2CR_CHECKED)?;
            let v = smr_val | SMR::VALID::SET.value;
            self.write_checked(smr(g), v, SMR::VALID::SET.value | implemented)?;
        }
        self.groups[g] = Group::Ours {
            id: sid,
            mask,
            cb,
            refs: 1,
        };
        Ok(g)
    }

    /// Stream indexing (ID0.SMS = 0): S2CR n is stream n.
    fn map_indexed(&mut self, sid: u32, cb: usize) -> Result<usize, Smmuv2Error> {
        let g = sid as usize;
        if g >= self.groups.len() {
            return Err(Smmuv2Error::StreamOutOfRange {
                sid,
                mask: 0,
                id_bits: self.id_mask,
                mask_bits: 0,
            });
        }
        let translate = (S2CR::TYPE::Translate + S2CR::CBNDX.val(cb as u32)).value;
        self.write_checked(s2cr(g), translate, S2CR_CHECKED)?;
        self.groups[g] = Group::Ours {
            id: sid,
            mask: 0,
            cb,
            refs: 1,
        };
        Ok(g)
    }

    /// One store, read back under `checked`.
    fn write_checked<R: tock_registers::RegisterLongName>(
        &mut self,
        reg: Reg<R>,
        value: u32,
        checked: u32,
    ) -> Result<(), Smmuv2Error> {
        self.regs.set(reg, value);
        let read = self.regs.get(reg);
        if (read ^ value) & checked != 0 {
            return Err(self.mismatch(reg.name, self.regs.offset_of(reg, 0), value, read));
        }
        Ok(())
    }

    /// Unmaps (`sid`, `mask`): when its entry has no other user, the SMR
    /// goes invalid first (EXIDS: S2CR.EXIDVALID clear), then the S2CR
    /// says FAULT — the stream is unmatched and faults by sCR0.USFCFG,
    /// which works on Qualcomm firmware that ignores FAULT writes too.
    pub fn unmap_stream(&mut self, sid: u32, mask: u32) -> Result<(), Smmuv2Error> {
        let g = self
            .groups
            .iter()
            .position(|e| matches!(*e, Group::Ours { id, mask: m, .. } if id == sid && m == mask))
            .ok_or(Smmuv2Error::NotMapped { sid })?;
        if let Group::Ours { ref mut refs, .. } = self.groups[g] {
            *refs -= 1;
            if *refs > 0 {
                return Ok(());
            }
        }
        #[cfg(test)]
        if self.bugs.bypass_on_detach {
            let bypass = S2CR::TYPE::Bypass.value
                | if self.exids {
                    S2CR::EXIDVALID::SET.value
                } else {
                    0
                };
            self.regs.set(s2cr(g), bypass);
            self.groups[g] = Group::Free;
            return Ok(());
        }
        self.clear_entry(g);
        self.groups[g] = Group::Free;
        Ok(())
    }

    /// Reads the stream mapping table the way the hardware matches it and
    /// returns the context bank `sid` translates through, if any
    /// (`None`: unmatched, bypass or fault).  Used by the ATOS port.
    pub fn context_of(&self, sid: u32) -> Option<usize> {
        context_of(&self.regs, self.ids.groups, self.ids.sms, self.exids, sid)
    }

    // ---- context banks --------------------------------------------------

    /// The lowest free context bank that can hold a stage-1 context.
    pub fn alloc_bank(&mut self) -> Result<usize, Smmuv2Error> {
        let cb =
            self.banks
                .iter()
                .position(|b| *b == Bank::Free)
                .ok_or(Smmuv2Error::NoFreeContext {
                    numcb: self.banks.len(),
                    kept_off: self
                        .banks
                        .iter()
                        .filter(|b| matches!(b, Bank::KeptOff(_)))
                        .count(),
                })?;
        self.banks[cb] = Bank::Ours(None);
        Ok(cb)
    }

    /// Context bank `cb` disabled (SCTLR = 0) and free again.
    pub fn free_bank(&mut self, cb: usize) {
        if matches!(self.banks.get(cb), Some(Bank::Ours(_))) {
            self.regs.cb_set(cb, CB_SCTLR, 0);
            self.banks[cb] = Bank::Free;
        }
    }

    /// The configuration programmed into `cb`, if any.
    pub fn bank_config(&self, cb: usize) -> Option<CbConfig> {
        match self.banks.get(cb) {
            Some(Bank::Ours(c)) => *c,
            _ => None,
        }
    }

    /// Programs stage-1 context bank `cb` in the documented order
    /// (docs/hw/smmuv2.md §5.3): CBA2R, CBAR, TCR2, TCR (before the TTBRs,
    /// whose ASID field it decides), TTBR0, TTBR1, MAIR0, MAIR1, and
    /// SCTLR last; any earlier fault cleared first.  MMU-500: the
    /// prefetcher is checked off again.
    pub fn program_bank(&mut self, cb: usize, c: &CbConfig) -> Result<(), Smmuv2Error> {
        self.regs.cb_set(cb, CB_SCTLR, 0);
        self.regs.cb_set(cb, CB_FSR, FSR_ALL);
        if let Some(v) = c.cba2r {
            self.regs.set(cba2r(cb), v);
        }
        self.regs.set(cbar(cb), c.cbar);
        if let Some(v) = c.tcr2 {
            self.regs.cb_set(cb, CB_TCR2, v);
        }
        self.regs.cb_set(cb, CB_TCR, c.tcr);
        self.regs.set64(cb, CB_TTBR0, c.ttbr0);
        self.regs.set64(cb, CB_TTBR1, c.ttbr1);
        self.regs.cb_set(cb, CB_MAIR0, c.mair0);
        self.regs.cb_set(cb, CB_MAIR1, c.mair1);
        if self.variant.mmu500() {
            self.prefetcher_off(cb)?;
        }
        self.regs.cb_set(cb, CB_SCTLR, c.sctlr);
        self.banks[cb] = Bank::Ours(Some(*c));
        Ok(())
    }

    // ---- TLB maintenance ----------------------------------------------

    /// Orders the table writes before the TLBIs that follow.
    pub fn barrier(&self) {
        (self.barrier)();
    }

    /// TLBIVAL (`leaf`) or TLBIVA of `va` in context bank `cb` with its
    /// ASID (docs/hw/smmuv2.md §7): AArch64 one 64-bit store of
    /// `ASID << 48 | VA >> 12`, AArch32 one 32-bit store of
    /// `VA[31:12] | ASID`.  No sync.
    pub fn tlbi_va(&mut self, cb: usize, va: u64, leaf: bool) {
        let Some(c) = self.bank_config(cb) else {
            return;
        };
        #[allow(unused_mut)]
        let mut asid = c.asid;
        #[cfg(test)]
        if self.bugs.tlbiva_without_asid {
            asid = 0;
        }
        let reg = if leaf { CB_TLBIVAL } else { CB_TLBIVA };
        match c.format {
            CbFormat::AArch64 => {
                let op = (u64::from(asid) << 48) | ((va >> 12) & ((1 << 44) - 1));
                self.regs.set64(cb, reg, op);
            }
            CbFormat::AArch32Lpae => {
                let op = (va as u32 & !0xfff) | u32::from(asid & 0xff);
                self.regs.set64_as32(cb, reg, op);
            }
        }
        if leaf {
            self.stats.tlbival += 1;
        } else {
            self.stats.tlbiva += 1;
        }
        if va >= 1 << 32 {
            self.stats.above_4g += 1;
        }
    }

    /// TLBIASID for context bank `cb`'s ASID.  No sync.
    pub fn tlbi_asid(&mut self, cb: usize) {
        let Some(c) = self.bank_config(cb) else {
            return;
        };
        self.regs.cb_set(cb, CB_TLBIASID, u32::from(c.asid));
        self.stats.tlbiasid += 1;
    }

    /// TLBSYNC on context bank `cb` and a bounded poll of TLBSTATUS
    /// (docs/hw/smmuv2.md §7).
    pub fn tlb_sync(&mut self, cb: usize) -> Result<(), Smmuv2Error> {
        self.regs.cb_set(cb, CB_TLBSYNC, self.write_anything());
        self.stats.tlbsync += 1;
        self.wait_inactive(cb, CB_TLBSTATUS, "SMMUv2 TLBSTATUS.SACTIVE", SYNC_TIMEOUT)
    }

    /// sTLBGSYNC and a bounded poll of sTLBGSTATUS: completes global
    /// operations (TLBIALL*, TLBIVMID), which a context bank's TLBSYNC
    /// does not cover (docs/hw/smmuv2.md §7).
    pub fn global_sync(&mut self) -> Result<(), Smmuv2Error> {
        self.regs.set(STLBGSYNC, self.write_anything());
        self.stats.gsync += 1;
        self.wait_inactive(0, STLBGSTATUS, "SMMUv2 sTLBGSTATUS.GSACTIVE", SYNC_TIMEOUT)
    }

    /// Test hook: was this driver's last sync skipped by a bug?
    #[cfg(test)]
    pub fn skips_tlbsync(&self) -> bool {
        self.bugs.no_tlbsync_after_tlbiva
    }

    // ---- faults ---------------------------------------------------------

    /// Context bank `cb`'s latched fault, if FSR has one.
    pub fn context_fault(&self, cb: usize) -> Option<CbFault> {
        let fsr = self.regs.cb_get(cb, CB_FSR);
        if fsr & FSR_ALL == 0 {
            return None;
        }
        Some(CbFault {
            cb,
            fsr,
            far: self.regs.get64(cb, CB_FAR),
            fsynr0: self.regs.cb_get(cb, CB_FSYNR0),
            cbfrsynra: self.regs.get(cbfrsynra(cb)),
        })
    }

    /// Clears `f`'s record (FSR written back, write one to clear).
    pub fn clear_context_fault(&mut self, f: &CbFault) {
        self.regs.cb_set(f.cb, CB_FSR, f.fsr);
    }

    /// The latched global fault, if sGFSR has one.
    pub fn global_fault(&self) -> Option<GlobalFault> {
        let gfsr = self.regs.get(SGFSR_REG);
        if gfsr == 0 {
            return None;
        }
        Some(GlobalFault {
            gfsr,
            gfsynr0: self.regs.get(SGFSYNR0_REG),
            gfsynr1: self.regs.get(SGFSYNR1),
            gfar: self.regs.get64(0, SGFAR),
        })
    }

    /// Clears the global record (sGFSR written back).
    pub fn clear_global_fault(&mut self, f: &GlobalFault) {
        self.regs.set(SGFSR_REG, f.gfsr);
    }

    /// The implemented StreamID bits (CBFRSYNRA/sGFSYNR1 masked by them).
    pub fn stream_bits(&self) -> u32 {
        self.id_mask
    }
}

/// The S2CR fields a translate entry is read back under: TYPE and CBNDX.
const S2CR_CHECKED: u32 = 0x0003_00ff;

/// The context bank stream `sid` translates through, read from the
/// stream mapping registers the way matching works (docs/hw/smmuv2.md
/// §6): the first valid SMR that matches, its S2CR of TYPE translate.
/// `None` when unmatched, or matched to bypass or fault.
pub fn context_of<M: Mmio>(
    regs: &Regs<M>,
    groups: usize,
    sms: bool,
    exids: bool,
    sid: u32,
) -> Option<usize> {
    let g = if sms {
        (0..groups).find(|&g| {
            let smr = LocalRegisterCopy::<u32, SMR::Register>::new(regs.get(smr(g)));
            let (valid, id, mask) = if exids {
                let s = LocalRegisterCopy::<u32, S2CR::Register>::new(regs.get(s2cr(g)));
                (
                    s.is_set(S2CR::EXIDVALID),
                    smr.read(SMR::ID),
                    smr.read(SMR::MASK),
                )
            } else {
                (
                    smr.is_set(SMR::VALID),
                    smr.read(SMR::ID) & 0x7fff,
                    smr.read(SMR::MASK) & 0x7fff,
                )
            };
            valid && (sid ^ id) & !mask == 0
        })?
    } else {
        let g = sid as usize;
        if g >= groups {
            return None;
        }
        g
    };
    let s = LocalRegisterCopy::<u32, S2CR::Register>::new(regs.get(s2cr(g)));
    (s.read(S2CR::TYPE) == 0).then(|| s.read(S2CR::CBNDX) as usize)
}
