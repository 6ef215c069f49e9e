//! Global register spaces 0 and 1: configuration (sCR0, CR2, sACR), ID
//! registers, global faults, GR0 TLB maintenance, stream mapping (SMR,
//! S2CR) and the per-bank attribute registers of GR1 (CBAR, CBFRSYNRA,
//! CBA2R).  Offsets and bits: [`super::reg`].
#![forbid(unsafe_code)]

use super::reg::{gr0, gr1, s2cr, sacr, scr0, sgfsr, smr};
use super::{EnableProblem, Inval, Misuse, Refusal, Smmuv2Model};

impl Smmuv2Model {
    pub(super) fn gr0_read(&mut self, off: usize, o: usize) -> u32 {
        let v = &self.variant;
        let n_smr = self.smr.len();
        match o {
            gr0::SCR0 => self.scr0,
            gr0::SCR1 => {
                u32::from(v.numcb) | u32::from(v.numsmrg) << 8 | u32::from(v.numirpt) << 16
            }
            gr0::CR2 => self.cr2,
            gr0::SACR => self.sacr,
            gr0::ID0 => v.id0(),
            gr0::ID1 => v.id1(),
            gr0::ID2 => v.id2(),
            0x02c..=0x038 => 0,
            gr0::ID7 => v.id7(),
            gr0::SGFSR => self.sgfsr,
            gr0::SGFSYNR0 => self.sgfsynr0,
            gr0::SGFSYNR1 => self.sgfsynr1,
            gr0::SGFSRRESTORE | gr0::SGFSYNR2 => 0,
            gr0::STLBGSTATUS => self.poll_gsync(),
            gr0::TLBIVMID | gr0::TLBIALLNSNH | gr0::TLBIALLH | gr0::STLBGSYNC | gr0::TLBIVAH => 0,
            gr0::STLBIALL | gr0::DBG_FIRST..=gr0::DBG_LAST => {
                self.misuse.push(Misuse::SecureOnly { off });
                0
            }
            o if (gr0::SMR0..gr0::SMR0 + 4 * n_smr).contains(&o) && o % 4 == 0 => {
                self.smr[(o - gr0::SMR0) / 4]
            }
            o if (gr0::S2CR0..gr0::S2CR0 + 4 * n_smr).contains(&o) && o % 4 == 0 => {
                self.s2cr[(o - gr0::S2CR0) / 4]
            }
            _ => {
                self.misuse.push(Misuse::Unmapped { off });
                0
            }
        }
    }

    pub(super) fn gr0_write(&mut self, off: usize, o: usize, val: u32) {
        let q = self.variant.quirks;
        if q.refused.contains(&o) {
            self.refusals.push(Refusal::Register { off, value: val });
            return;
        }
        let anything = matches!(
            o,
            gr0::TLBIALLNSNH | gr0::TLBIALLH | gr0::STLBGSYNC | gr0::STLBIALL
        );
        if anything && val == 0 && q.drop_zero_stores {
            self.misuse.push(Misuse::ZeroStoreDropped { off });
            return;
        }
        let n_smr = self.smr.len();
        match o {
            gr0::SCR0 => self.write_scr0(val),
            gr0::SCR1 | gr0::STLBIALL | gr0::DBG_FIRST..=gr0::DBG_LAST => {
                self.misuse.push(Misuse::SecureOnly { off })
            }
            gr0::CR2 => self.cr2 = val & 0xff,
            gr0::SACR => {
                // MMU-500 only; elsewhere IMPLEMENTATION DEFINED, RAZ/WI.
                if self.variant.mmu500 {
                    self.sacr = self.sacr & !sacr::WRITABLE | val & sacr::WRITABLE;
                }
            }
            gr0::ID0..=gr0::ID7 | gr0::SGFSYNR0 | gr0::SGFSYNR1 | gr0::SGFSYNR2 => {
                self.misuse.push(Misuse::ReadOnly { off })
            }
            gr0::STLBGSTATUS => self.misuse.push(Misuse::ReadOnly { off }),
            gr0::SGFSR => self.sgfsr &= !(val & (sgfsr::FAULTS | sgfsr::MULTI)),
            gr0::SGFSRRESTORE => self.sgfsr = val & (sgfsr::FAULTS | sgfsr::MULTI),
            gr0::TLBIVMID => {
                let vmid = if self.scr0 & scr0::VMID16EN != 0 {
                    val as u16
                } else {
                    (val & 0xff) as u16
                };
                self.issue(None, Inval::Vmid { vmid });
            }
            gr0::TLBIALLNSNH => self.issue(None, Inval::All),
            // The model makes no Hyp entries: accepted, nothing to remove.
            gr0::TLBIALLH | gr0::TLBIVAH => {}
            gr0::STLBGSYNC => self.start_gsync(),
            o if (gr0::SMR0..gr0::SMR0 + 4 * n_smr).contains(&o) && o % 4 == 0 => {
                self.write_smr((o - gr0::SMR0) / 4, val)
            }
            o if (gr0::S2CR0..gr0::S2CR0 + 4 * n_smr).contains(&o) && o % 4 == 0 => {
                self.write_s2cr((o - gr0::S2CR0) / 4, val)
            }
            _ => self.misuse.push(Misuse::Unmapped { off }),
        }
    }

    fn write_scr0(&mut self, val: u32) {
        let v = &self.variant;
        let mut ro0 = scr0::HYPMODE;
        if v.mmu500 {
            ro0 |= scr0::GCFGFRE | scr0::GCFGFIE | scr0::STALLD | scr0::GSE;
        }
        if !v.exids {
            ro0 |= scr0::EXIDENABLE;
        }
        if !v.vmid16s {
            ro0 |= scr0::VMID16EN;
        }
        let mut new = val & !ro0;
        if v.mmu500 {
            new |= scr0::SMCFCFG;
        }
        let was_off = self.scr0 & scr0::CLIENTPD != 0;
        self.scr0 = new;
        if was_off && new & scr0::CLIENTPD == 0 {
            self.check_enable();
        }
    }

    /// CLIENTPD just cleared: every valid mapping must lead somewhere sane.
    fn check_enable(&mut self) {
        for i in 0..self.smr.len() {
            if !self.smr_valid(i) {
                continue;
            }
            for j in i + 1..self.smr.len() {
                if self.smr_valid(j) && self.overlap(i, j) {
                    self.misuse.push(Misuse::UnsafeEnable {
                        smr: i as u16,
                        problem: EnableProblem::Conflict { with: j as u16 },
                    });
                }
            }
            let s = self.s2cr[i];
            if (s >> s2cr::TYPE_SHIFT) & 3 != s2cr::TYPE_TRANSLATE {
                continue;
            }
            let cb = (s & 0xff) as usize;
            let problem = if cb >= self.cbs.len() {
                Some(EnableProblem::MissingCb { cb: cb as u8 })
            } else if self.cb_without_tables(cb) {
                Some(EnableProblem::CbWithoutTables { cb: cb as u8 })
            } else {
                None
            };
            if let Some(problem) = problem {
                self.misuse.push(Misuse::UnsafeEnable {
                    smr: i as u16,
                    problem,
                });
            }
        }
    }

    /// Bank `n` translates with TTBR0's base 0 and TTBR0 walks enabled.
    fn cb_without_tables(&self, n: usize) -> bool {
        let c = &self.cbs[n];
        c.sctlr & super::reg::sctlr::M != 0
            && c.ttbr[0] & 0x0000_ffff_ffff_fff8 == 0
            && c.tcr & super::reg::tcr::EPD0 == 0
    }

    fn write_smr(&mut self, i: usize, val: u32) {
        let stored = if self.scr0 & scr0::EXIDENABLE != 0 {
            val
        } else {
            let idm = (1u32 << self.variant.sid_bits()) - 1;
            val & smr::VALID | ((val >> smr::MASK_SHIFT) & idm) << smr::MASK_SHIFT | val & idm
        };
        self.boot_check(i, stored != self.smr[i]);
        self.smr[i] = stored;
        self.conflict_check(i);
    }

    fn write_s2cr(&mut self, i: usize, val: u32) {
        let mut v = val;
        if !self.variant.exids {
            v &= !s2cr::EXIDVALID;
        }
        let ty = (v >> s2cr::TYPE_SHIFT) & 3;
        if ty == s2cr::TYPE_BYPASS && self.variant.quirks.s2cr_bypass_reads_fault {
            v = v & !(3 << s2cr::TYPE_SHIFT) | s2cr::TYPE_FAULT << s2cr::TYPE_SHIFT;
            self.refusals.push(Refusal::Bypass { index: i as u16 });
        }
        self.boot_check(i, v != self.s2cr[i]);
        self.s2cr[i] = v;
        if self.scr0 & scr0::EXIDENABLE != 0 {
            self.conflict_check(i);
        }
    }

    fn boot_check(&mut self, i: usize, changed: bool) {
        let boot = self
            .variant
            .quirks
            .boot_smrs
            .iter()
            .any(|b| usize::from(b.index) == i);
        if boot && changed {
            self.misuse.push(Misuse::BootSmrChanged { index: i as u16 });
        }
    }

    fn conflict_check(&mut self, i: usize) {
        if !self.smr_valid(i) {
            return;
        }
        for j in 0..self.smr.len() {
            if j != i && self.smr_valid(j) && self.overlap(i, j) {
                self.misuse.push(Misuse::SmrConflict {
                    index: i as u16,
                    with: j as u16,
                });
            }
        }
    }

    pub(super) fn gr1_read(&mut self, off: usize, o: usize) -> u32 {
        let n = self.cbs.len();
        let (base, i) = (o & !0x3ff, (o & 0x3ff) / 4);
        let v1_a2r = self.variant.smmuv1 && base == gr1::CBA2R0;
        if !o.is_multiple_of(4) || i >= n || v1_a2r {
            self.misuse.push(Misuse::Unmapped { off });
            return 0;
        }
        match base {
            gr1::CBAR0 => self.cbs[i].cbar,
            gr1::CBFRSYNRA0 => self.cbs[i].cbfrsynra,
            gr1::CBA2R0 => self.cbs[i].cba2r,
            _ => {
                self.misuse.push(Misuse::Unmapped { off });
                0
            }
        }
    }

    pub(super) fn gr1_write(&mut self, off: usize, o: usize, val: u32) {
        let n = self.cbs.len();
        let (base, i) = (o & !0x3ff, (o & 0x3ff) / 4);
        let v1_a2r = self.variant.smmuv1 && base == gr1::CBA2R0;
        let known = matches!(base, gr1::CBAR0 | gr1::CBFRSYNRA0 | gr1::CBA2R0);
        if !o.is_multiple_of(4) || i >= n || !known || v1_a2r {
            self.misuse.push(Misuse::Unmapped { off });
            return;
        }
        if self.variant.reserved(i) {
            self.misuse
                .push(Misuse::ReservedCbWrite { cb: i as u8, off });
            return;
        }
        match base {
            gr1::CBAR0 => {
                self.live_write(i, off);
                self.cbs[i].cbar = val;
            }
            gr1::CBFRSYNRA0 => self.cbs[i].cbfrsynra = val,
            _ => {
                self.live_write(i, off);
                let vmid16 = if self.variant.vmid16s { 0xffff_0000 } else { 0 };
                self.cbs[i].cba2r = val & (super::reg::cba2r::VA64 | vmid16);
            }
        }
    }

    /// A translation register of bank `n` is being written: a misuse when
    /// the bank translates live traffic.
    pub(super) fn live_write(&mut self, n: usize, off: usize) {
        let live = self.scr0 & scr0::CLIENTPD == 0
            && self.cbs[n].sctlr & super::reg::sctlr::M != 0
            && self.routed(n);
        if live {
            self.misuse
                .push(Misuse::LiveContextWrite { cb: n as u8, off });
        }
    }
}
