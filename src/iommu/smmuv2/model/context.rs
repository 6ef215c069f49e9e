//! A context bank's page: translation registers (SCTLR, ACTLR, TCR, TCR2,
//! TTBRn, MAIRn), the fault record (FSR, FAR, FSYNR0, RESUME), the bank's
//! TLB maintenance and sync (IHI §16.5.30–§16.5.37, §17.3.4–§17.3.5) and
//! ATOS (§16.5.2–§16.5.6, §16.5.14).  Offsets and bits: [`super::reg`].
//!
//! Operand decoding (§16.5.32 and the register references): in an AArch64
//! bank (CBA2R.VA64 = 1) TLBIVA/TLBIVAL carry ASID in [63:48] (only
//! [55:48] significant unless TCR2.AS = 1) and VA[55:12] in [43:0]; in an
//! AArch32 bank VA[31:12] in [31:12] and ASID in [7:0].  TLBIVAA/TLBIVAAL
//! carry the address only.  The VMID is the bank's at the time of the
//! write.  A 32-bit write to an AArch64 operand register is the operand
//! with its high word zero (so an AArch64 TLBIVA written with 32 bits
//! names ASID 0).
#![forbid(unsafe_code)]

use super::reg::{actlr, cb, cba2r, fsr, sacr, sctlr, tcr, tcr2};
use super::{AtosReq, Inval, Misuse, Refusal, Smmuv2Model};

/// The translation scheme of a bank (IHI §16.5.38).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    /// CBA2R.VA64 = 1.
    A64,
    /// VA64 = 0, TCR.EAE = 1.
    A32Long,
    /// VA64 = 0, TCR.EAE = 0.
    A32Short,
}

impl Scheme {
    /// The FSR/PAR FORMAT code (model choice).
    pub(super) fn format(self) -> u32 {
        match self {
            Self::A32Short => 0,
            Self::A32Long => 1,
            Self::A64 => 2,
        }
    }
}

impl Smmuv2Model {
    pub(super) fn scheme(&self, n: usize) -> Scheme {
        let c = &self.cbs[n];
        if c.cba2r & cba2r::VA64 != 0 {
            Scheme::A64
        } else if c.tcr & tcr::EAE != 0 {
            Scheme::A32Long
        } else {
            Scheme::A32Short
        }
    }

    /// The bank's VMID: CBAR[7:0], or CBA2R.VMID16 with sCR0.VMID16EN.
    pub(super) fn vmid(&self, n: usize) -> u16 {
        let c = &self.cbs[n];
        if self.scr0 & super::reg::scr0::VMID16EN != 0 {
            (c.cba2r >> cba2r::VMID16_SHIFT) as u16
        } else {
            (c.cbar & 0xff) as u16
        }
    }

    /// Significant ASID bits: 16 in an AArch64 bank with TCR2.AS, else 8.
    pub(super) fn asid_mask(&self, n: usize) -> u16 {
        if self.scheme(n) == Scheme::A64 && self.cbs[n].tcr2 & tcr2::AS != 0 {
            0xffff
        } else {
            0xff
        }
    }

    /// The bank's ASID: from TTBR0 (TTBR1 with TCR.A1) in the long
    /// formats, CONTEXTIDR[7:0] in the short one.
    pub(super) fn asid(&self, n: usize) -> u16 {
        let c = &self.cbs[n];
        match self.scheme(n) {
            Scheme::A32Short => (c.contextidr & 0xff) as u16,
            _ => {
                let t = c.ttbr[usize::from(c.tcr & tcr::A1 != 0)];
                (t >> 48) as u16 & self.asid_mask(n)
            }
        }
    }

    /// Input addresses the caches key on: the upstream bus bits (AArch64)
    /// or 32 bits (AArch32).
    pub(super) fn key_mask(&self, n: usize) -> u64 {
        match self.scheme(n) {
            Scheme::A64 => {
                let b = self.variant.ubs_bits();
                (1u64 << b) - 1
            }
            _ => 0xffff_ffff,
        }
    }

    fn actlr_locked(&self) -> bool {
        self.knobs.secure_cache_lock || self.sacr & sacr::CACHE_LOCK != 0
    }

    pub(super) fn cb_read32(&mut self, off: usize, n: usize, o: usize) -> u32 {
        let c = &self.cbs[n];
        match o {
            cb::SCTLR => c.sctlr,
            cb::ACTLR => c.actlr,
            cb::TCR2 if !self.variant.smmuv1 => c.tcr2,
            cb::TCR => c.tcr,
            cb::CONTEXTIDR => c.contextidr,
            cb::MAIR0 => c.mair[0],
            cb::MAIR1 => c.mair[1],
            cb::FSR => c.fsr,
            cb::FSYNR0 => c.fsynr0,
            cb::FSYNR1 => c.fsynr1,
            cb::RESUME | cb::FSRRESTORE | cb::TLBIASID | cb::TLBIALL | cb::TLBSYNC => 0,
            cb::TLBSTATUS => self.poll_cb_sync(n),
            cb::ATSR if self.variant.atos => self.poll_atos(n),
            _ => {
                self.misuse.push(Misuse::Unmapped { off });
                0
            }
        }
    }

    pub(super) fn cb_read64(&mut self, off: usize, n: usize, o: usize) -> u64 {
        let c = &self.cbs[n];
        match o {
            cb::TTBR0 => c.ttbr[0],
            cb::TTBR1 => c.ttbr[1],
            cb::PAR if self.variant.atos => c.par,
            cb::FAR => c.far,
            cb::IPAFAR => c.ipafar,
            cb::ATS1PR | cb::ATS1PW | cb::ATS1UR | cb::ATS1UW if self.variant.atos => 0,
            cb::TLBIVA
            | cb::TLBIVAA
            | cb::TLBIVAL
            | cb::TLBIVAAL
            | cb::TLBIIPAS2
            | cb::TLBIIPAS2L => 0,
            _ => {
                self.misuse.push(Misuse::Unmapped { off });
                0
            }
        }
    }

    /// Drops writes to a reserved bank, and literal-zero stores to its
    /// write-anything registers where the quirks say so; `true` when the
    /// write goes ahead.
    fn cb_write_allowed(&mut self, off: usize, n: usize, o: usize, val: u64) -> bool {
        if self.variant.reserved(n) {
            self.misuse
                .push(Misuse::ReservedCbWrite { cb: n as u8, off });
            return false;
        }
        let anything = matches!(o, cb::TLBIALL | cb::TLBSYNC);
        if anything && val == 0 && self.variant.quirks.drop_zero_stores {
            self.misuse.push(Misuse::ZeroStoreDropped { off });
            return false;
        }
        true
    }

    pub(super) fn cb_write32(&mut self, off: usize, n: usize, o: usize, val: u32) {
        if !self.cb_write_allowed(off, n, o, u64::from(val)) {
            return;
        }
        let mmu500 = self.variant.mmu500;
        match o {
            cb::SCTLR => {
                let ro0 = if mmu500 { sctlr::ASIDPNE } else { 0 } | 1 << 31;
                self.cbs[n].sctlr = val & !ro0;
            }
            cb::ACTLR => {
                // MMU-500: CMTLB, CPRE; read-only while CACHE_LOCK
                // (TRM Table 3.7).  Elsewhere IMPLEMENTATION DEFINED: RAZ/WI.
                if mmu500 && self.actlr_locked() {
                    self.refusals.push(Refusal::ActlrLocked {
                        cb: n as u8,
                        value: val,
                    });
                } else if mmu500 {
                    self.cbs[n].actlr = val & (actlr::CMTLB | actlr::CPRE);
                }
            }
            cb::RESUME => {
                // TnR: terminate or retry the stalled transaction; the
                // model's masters have already seen an abort, so either way
                // the stall ends.
                self.cbs[n].fsr &= !fsr::SS;
            }
            cb::TCR2 if !self.variant.smmuv1 => {
                self.live_write(n, off);
                self.cbs[n].tcr2 = val;
            }
            cb::TCR => {
                self.live_write(n, off);
                self.cbs[n].tcr = val;
            }
            cb::CONTEXTIDR => self.cbs[n].contextidr = val,
            cb::MAIR0 | cb::MAIR1 => {
                self.live_write(n, off);
                self.cbs[n].mair[(o - cb::MAIR0) / 4] = val;
            }
            cb::FSR => {
                let c = &mut self.cbs[n];
                c.fsr &= !(val & (fsr::FAULTS | fsr::SS | fsr::MULTI));
                if c.fsr & fsr::FAULTS == 0 {
                    c.fsr &= !(3 << fsr::FORMAT_SHIFT);
                }
            }
            cb::FSRRESTORE => self.cbs[n].fsr = val & fsr::ALL,
            cb::FSYNR0 => self.cbs[n].fsynr0 = val,
            cb::FSYNR1 => self.cbs[n].fsynr1 = val,
            cb::TLBIASID => {
                let asid = val as u16 & self.asid_mask(n);
                let vmid = self.vmid(n);
                self.issue(Some(n), Inval::Asid { vmid, asid });
            }
            cb::TLBIALL => {
                let vmid = self.vmid(n);
                self.issue(Some(n), Inval::Vmid { vmid });
            }
            cb::TLBSYNC => self.start_cb_sync(n),
            cb::TLBSTATUS => self.misuse.push(Misuse::ReadOnly { off }),
            cb::ATSR if self.variant.atos => self.misuse.push(Misuse::ReadOnly { off }),
            _ => self.misuse.push(Misuse::Unmapped { off }),
        }
    }

    pub(super) fn cb_write64(&mut self, off: usize, n: usize, o: usize, val: u64) {
        if !self.cb_write_allowed(off, n, o, val) {
            return;
        }
        let a64 = self.scheme(n) == Scheme::A64;
        let vmid = self.vmid(n);
        let key = self.key_mask(n);
        let (va, asid) = if a64 {
            let va = (val & ((1 << 44) - 1)) << 12;
            (va & key, (val >> 48) as u16 & self.asid_mask(n))
        } else {
            (val & 0xffff_f000, (val & 0xff) as u16)
        };
        match o {
            cb::TTBR0 | cb::TTBR1 => {
                self.live_write(n, off);
                self.cbs[n].ttbr[(o - cb::TTBR0) / 8] = val;
            }
            cb::PAR if self.variant.atos => self.cbs[n].par = val,
            cb::FAR => self.cbs[n].far = val,
            cb::IPAFAR => self.cbs[n].ipafar = val,
            cb::TLBIVA | cb::TLBIVAL | cb::TLBIVAA | cb::TLBIVAAL => {
                let by_asid = matches!(o, cb::TLBIVA | cb::TLBIVAL);
                let op = Inval::Va {
                    vmid,
                    asid: by_asid.then_some(asid),
                    va,
                    leaf_only: matches!(o, cb::TLBIVAL | cb::TLBIVAAL),
                };
                self.issue(Some(n), op);
            }
            cb::TLBIIPAS2 | cb::TLBIIPAS2L => {
                let ipa = (val & ((1 << 36) - 1)) << 12;
                let op = Inval::Ipa {
                    vmid,
                    ipa,
                    leaf_only: o == cb::TLBIIPAS2L,
                };
                self.issue(Some(n), op);
            }
            cb::ATS1PR | cb::ATS1PW | cb::ATS1UR | cb::ATS1UW if self.variant.atos => {
                let va = if a64 { val & !0xfff } else { val & 0xffff_f000 };
                self.start_atos(
                    n,
                    va,
                    matches!(o, cb::ATS1PW | cb::ATS1UW),
                    matches!(o, cb::ATS1PR | cb::ATS1PW),
                );
            }
            _ => self.misuse.push(Misuse::Unmapped { off }),
        }
    }

    fn start_atos(&mut self, n: usize, va: u64, write: bool, privileged: bool) {
        if self.cbs[n].atos.is_some() {
            self.misuse.push(Misuse::AtosWhileActive { cb: n as u8 });
            return;
        }
        let req = AtosReq {
            polls: self.knobs.busy_polls,
            va,
            write,
            privileged,
        };
        if req.polls == 0 {
            self.atos_complete(n, req);
        } else {
            self.cbs[n].atos = Some(req);
        }
    }

    /// An ATSR read: ACTIVE while polls are left; the read that finds it
    /// clear completes the operation (PAR is written) first.
    fn poll_atos(&mut self, n: usize) -> u32 {
        let Some(mut a) = self.cbs[n].atos else {
            return 0;
        };
        if a.polls > 0 {
            a.polls -= 1;
            self.cbs[n].atos = Some(a);
            return 1;
        }
        self.cbs[n].atos = None;
        self.atos_complete(n, a);
        0
    }
}
