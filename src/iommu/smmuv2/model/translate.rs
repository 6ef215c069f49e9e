//! A client transaction's path, and an ATOS operation's: sCR0.CLIENTPD,
//! stream matching (SMR/S2CR), the context bank, the TLB, the walk cache,
//! the table walk, permissions, the next-page prefetcher, and the fault
//! records (IHI ch. 9 global faults, §16.5.8–§16.5.11 context faults,
//! §16.5.14 PAR).
//!
//! Choices (docs/hw/smmuv2.md, "Behavioural model (host)"): only valid
//! descriptors are cached by demand walks; the prefetcher caches the next
//! page's descriptor whatever it is; the walk cache keeps the table that
//! held each leaf; a stream whose S2CR translates through a bank past
//! NUMCB raises UCBF; TYPE = 3 raises ICF like TYPE = fault.
#![forbid(unsafe_code)]

use super::context::Scheme;
use super::reg::{cbar, fsr, fsynr0, par, s2cr, scr0, sctlr, sgfsr, sgfsynr0, smr, tcr, tcr2};
use super::variant::{size_bits, Aarch32};
use super::{
    AtosReq, FaultEvent, FaultKind, Misuse, Smmuv2Model, Stage, TlbEntry, Unmodelled, WalkEntry,
};
use crate::mm::host_ram;
use crate::testkit::walk::{LpaeWalk, WalkFault, Walked};
use alloc::vec::Vec;

/// One lookup: a transaction's or an ATOS operation's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Access {
    pub stream: Option<u32>,
    pub iova: u64,
    pub write: bool,
    pub privileged: bool,
    pub atos: bool,
    /// A TBU debug probe (ECATS, `model/tbu.rs`): a client read of its
    /// stream that, like ATOS, uses the TLB only with
    /// [`Knobs::atos_uses_tlb`](super::Knobs) and never prefetches.
    pub ecats: bool,
}

/// A context fault before it is recorded.
#[derive(Clone, Copy, Debug)]
pub(super) struct CtxFault {
    pub fsr: u32,
    pub level: u8,
    pub ptw: bool,
    pub unmodelled: Option<Unmodelled>,
}

impl CtxFault {
    fn at(fsr: u32, level: u8) -> Self {
        Self {
            fsr,
            level,
            ptw: false,
            unmodelled: None,
        }
    }

    fn unmodelled(what: Unmodelled) -> Self {
        Self {
            unmodelled: Some(what),
            ..Self::at(fsr::TF, 0)
        }
    }

    fn from_walk(f: WalkFault) -> Self {
        match f {
            WalkFault::AddressSize => Self::at(fsr::TF, 0),
            WalkFault::Translation { level } => Self::at(fsr::TF, level),
            WalkFault::OutputSize { level } => Self::at(fsr::ASF, level),
            WalkFault::AccessFlag { level } => Self::at(fsr::AFF, level),
            WalkFault::External { .. } => Self {
                ptw: true,
                ..Self::at(fsr::EF, 0)
            },
        }
    }
}

/// A translation's result.
#[derive(Clone, Copy, Debug)]
pub(super) struct Out {
    pub pa: u64,
    pub mattr: u8,
    pub sh: u8,
}

/// What a bank's registers say about one input address.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    stage: Stage,
    walk: LpaeWalk,
    /// The address the walk indexes with (TTBR1 addresses without their
    /// top bits).
    va_in: u64,
    /// The address the caches key on.
    key: u64,
    vmid: u16,
    asid: u16,
    root: u64,
}

const MASK48: u64 = (1 << 48) - 1;

fn granule_ok(v: &super::Variant, shift: u32) -> bool {
    match shift {
        12 => v.granule_4k,
        14 => v.granule_16k,
        16 => v.granule_64k,
        _ => false,
    }
}

impl Smmuv2Model {
    // ---- stream matching ----

    /// StreamID bits the SMRs compare.
    fn sid_mask(&self) -> u32 {
        if self.scr0 & scr0::EXIDENABLE != 0 {
            0xffff
        } else {
            (1 << self.variant.sid_bits()) - 1
        }
    }

    /// SMR `i` is valid: its VALID bit, or S2CR.EXIDVALID with EXIDENABLE.
    pub(super) fn smr_valid(&self, i: usize) -> bool {
        if self.scr0 & scr0::EXIDENABLE != 0 {
            self.s2cr[i] & s2cr::EXIDVALID != 0
        } else {
            self.smr[i] & smr::VALID != 0
        }
    }

    /// (ID, MASK) of SMR `i`.
    fn smr_fields(&self, i: usize) -> (u32, u32) {
        let v = self.smr[i];
        if self.scr0 & scr0::EXIDENABLE != 0 {
            (v & 0xffff, v >> 16)
        } else {
            (v & 0x7fff, (v >> smr::MASK_SHIFT) & 0x7fff)
        }
    }

    /// Some StreamID matches both SMR `a` and SMR `b`.
    pub(super) fn overlap(&self, a: usize, b: usize) -> bool {
        let (ia, ma) = self.smr_fields(a);
        let (ib, mb) = self.smr_fields(b);
        (ia ^ ib) & !(ma | mb) & self.sid_mask() == 0
    }

    /// The valid SMRs `stream` matches: `(stream ^ ID) & !MASK == 0`.
    fn matching(&self, stream: u32) -> Vec<usize> {
        let sid = self.sid_mask();
        (0..self.smr.len())
            .filter(|&i| {
                let (id, mask) = self.smr_fields(i);
                self.smr_valid(i) && (stream ^ id) & !mask & sid == 0
            })
            .collect()
    }

    /// Some valid stream mapping translates through bank `n`.
    pub(super) fn routed(&self, n: usize) -> bool {
        (0..self.s2cr.len()).any(|i| {
            let s = self.s2cr[i];
            (!self.variant.sms || self.smr_valid(i))
                && (s >> s2cr::TYPE_SHIFT) & 3 == s2cr::TYPE_TRANSLATE
                && (s & 0xff) as usize == n
        })
    }

    // ---- a transaction ----

    /// The bus address `stream`'s access to `iova` reaches, or `None` when
    /// the SMMU stops it (after recording the fault).
    pub fn translate(&mut self, stream: u32, iova: u64, write: bool) -> Option<u64> {
        self.client(stream, iova, write, None)
    }

    /// A TBU debug probe (ECATS) of `iova` as `stream`, privileged or not
    /// as its AXPROT says: the bus address, or `None` after the fault is
    /// recorded as a read by `stream` (docs/hw/smmuv2.md §11.7, model).
    pub fn ecats(&mut self, stream: u32, iova: u64, privileged: bool) -> Option<u64> {
        self.client(stream, iova, false, Some(privileged))
    }

    fn client(&mut self, stream: u32, iova: u64, write: bool, ecats: Option<bool>) -> Option<u64> {
        if self.scr0 & scr0::CLIENTPD != 0 {
            return Some(iova);
        }
        let privileged = ecats.unwrap_or(self.knobs.privileged_masters);
        let unmatched = |m: &mut Self| {
            if m.scr0 & scr0::USFCFG != 0 {
                m.global_fault(sgfsr::USF, stream, iova, write, privileged);
                None
            } else {
                Some(iova)
            }
        };
        let idx = if self.variant.sms {
            let m = self.matching(stream);
            match m.as_slice() {
                [] => return unmatched(self),
                [i] => *i,
                [i, ..] => {
                    if self.scr0 & scr0::SMCFCFG != 0 {
                        self.global_fault(sgfsr::SMCF, stream, iova, write, privileged);
                        return None;
                    }
                    *i
                }
            }
        } else {
            let i = (stream & self.sid_mask()) as usize;
            if i >= self.s2cr.len() {
                return unmatched(self);
            }
            i
        };
        let s = self.s2cr[idx];
        match (s >> s2cr::TYPE_SHIFT) & 3 {
            s2cr::TYPE_BYPASS => Some(iova),
            s2cr::TYPE_TRANSLATE => {
                let n = (s & 0xff) as usize;
                let privileged = match (s >> s2cr::PRIVCFG_SHIFT) & 3 {
                    2 => false,
                    3 => true,
                    _ => privileged,
                };
                if n >= self.cbs.len() {
                    self.global_fault(sgfsr::UCBF, stream, iova, write, privileged);
                    return None;
                }
                let a = Access {
                    stream: Some(stream),
                    iova,
                    write,
                    privileged,
                    atos: false,
                    ecats: ecats.is_some(),
                };
                match self.cb_translate(n, &a) {
                    Ok(o) => Some(o.pa),
                    Err(f) => {
                        self.context_fault(n, &a, f);
                        None
                    }
                }
            }
            _ => {
                self.global_fault(sgfsr::ICF, stream, iova, write, privileged);
                None
            }
        }
    }

    /// Records a global fault: the first one fills sGFSR/sGFAR/sGFSYNRn,
    /// later ones only set MULTI until software clears sGFSR.
    fn global_fault(&mut self, bit: u32, stream: u32, iova: u64, write: bool, privileged: bool) {
        let lost = self.sgfsr & sgfsr::FAULTS != 0;
        if lost {
            self.sgfsr |= sgfsr::MULTI;
        } else {
            self.sgfsr = bit;
            self.sgfar = iova;
            self.sgfsynr0 = sgfsynr0::NSSTATE
                | if write { sgfsynr0::WNR } else { 0 }
                | if privileged { sgfsynr0::PNU } else { 0 };
            self.sgfsynr1 = stream & self.stream_field();
        }
        self.faults.push(FaultEvent {
            stream: Some(stream),
            iova,
            write,
            kind: FaultKind::Global { sgfsr: bit },
            lost,
        });
    }

    /// Bits of a StreamID the syndrome registers keep ([15:0]; MMU-500
    /// [14:0]).
    fn stream_field(&self) -> u32 {
        if self.variant.mmu500 {
            0x7fff
        } else {
            0xffff
        }
    }

    /// Records a context fault in bank `n`: the first one fills FSR, FAR,
    /// FSYNR0 (IPAFAR in a stage-2 bank) and CBFRSYNRA; later ones only set
    /// MULTI until software clears FSR.
    pub(super) fn context_fault(&mut self, n: usize, a: &Access, f: CtxFault) {
        if let Some(what) = f.unmodelled {
            self.misuse.push(Misuse::Unmodelled { cb: n as u8, what });
        }
        let format = self.scheme(n).format();
        let stage2 = (self.cbs[n].cbar >> cbar::TYPE_SHIFT) & 3 == cbar::TYPE_S2;
        let sid = self.stream_field();
        let c = &mut self.cbs[n];
        let lost = c.fsr & fsr::FAULTS != 0;
        if lost {
            c.fsr |= fsr::MULTI;
        } else {
            let stall = if c.sctlr & sctlr::CFCFG != 0 {
                fsr::SS
            } else {
                0
            };
            c.fsr = f.fsr | format << fsr::FORMAT_SHIFT | stall;
            c.far = a.iova;
            if stage2 {
                c.ipafar = a.iova;
            }
            c.fsynr0 = u32::from(f.level) & fsynr0::PLVL_MASK
                | if a.write { fsynr0::WNR } else { 0 }
                | if a.privileged { fsynr0::PNU } else { 0 }
                | if a.atos { fsynr0::ATOF } else { 0 }
                | if f.ptw { fsynr0::PTWF } else { 0 };
            if let Some(s) = a.stream {
                c.cbfrsynra = s & sid;
            }
        }
        self.faults.push(FaultEvent {
            stream: a.stream,
            iova: a.iova,
            write: a.write,
            kind: FaultKind::Context {
                cb: n as u8,
                fsr: f.fsr,
                level: f.level,
                atos: a.atos,
            },
            lost,
        });
    }

    // ---- a context bank ----

    /// Translates through bank `n` without recording a fault.
    pub(super) fn cb_translate(&mut self, n: usize, a: &Access) -> Result<Out, CtxFault> {
        let c = &self.cbs[n];
        if c.sctlr & sctlr::M == 0 {
            // Translation off: the bank's attribute overrides, no walk.
            return Ok(Out {
                pa: a.iova,
                mattr: 0,
                sh: 0,
            });
        }
        let s2only = n < usize::from(self.variant.nums2cb);
        match (c.cbar >> cbar::TYPE_SHIFT) & 3 {
            cbar::TYPE_S1_BYPASS if self.variant.s1ts && !s2only => self.lookup(n, a),
            cbar::TYPE_S2 if self.variant.s2ts => self.lookup(n, a),
            cbar::TYPE_S1_FAULT => Err(CtxFault::unmodelled(Unmodelled::S1WithS2Fault)),
            cbar::TYPE_NESTED => Err(CtxFault::unmodelled(Unmodelled::Nested)),
            _ => Err(CtxFault::unmodelled(Unmodelled::CbarType)),
        }
    }

    /// The walk configuration bank `n` gives `iova` (no fault recorded).
    fn config(&self, n: usize, iova: u64) -> Result<Cfg, CtxFault> {
        let stage2 = (self.cbs[n].cbar >> cbar::TYPE_SHIFT) & 3 == cbar::TYPE_S2;
        if stage2 {
            self.s2_config(n, iova)
        } else {
            self.s1_config(n, iova)
        }
    }

    fn s1_config(&self, n: usize, iova: u64) -> Result<Cfg, CtxFault> {
        let c = &self.cbs[n];
        let v = &self.variant;
        let afaults = c.sctlr & sctlr::AFFD == 0;
        let (half, ias, g, oas, va_in) = match self.scheme(n) {
            Scheme::A32Short => return Err(CtxFault::unmodelled(Unmodelled::ShortDescriptor)),
            Scheme::A64 => {
                let ubs = v.ubs_bits();
                if iova >> ubs != 0 {
                    return Err(CtxFault::at(fsr::TF, 0));
                }
                // A[ubs-1] selects the upper range (TRM §2.3.5: A[48]).
                let va64 = if iova >> (ubs - 1) & 1 != 0 {
                    iova | !((1u64 << ubs) - 1)
                } else {
                    iova
                };
                let t0sz = c.tcr & 0x3f;
                let t1sz = (c.tcr >> tcr::T1SZ_SHIFT) & 0x3f;
                let half = if t0sz > 0 && va64 >> (64 - t0sz) == 0 {
                    0
                } else if t1sz > 0 && !va64 >> (64 - t1sz) == 0 {
                    1
                } else {
                    return Err(CtxFault::at(fsr::TF, 0));
                };
                let tsz = [t0sz, t1sz][half];
                let g = if half == 0 {
                    match (c.tcr >> tcr::TG0_SHIFT) & 3 {
                        0 => 12,
                        1 => 16,
                        2 => 14,
                        _ => 0,
                    }
                } else {
                    match (c.tcr >> tcr::TG1_SHIFT) & 3 {
                        1 => 14,
                        2 => 12,
                        3 => 16,
                        _ => 0,
                    }
                };
                if !granule_ok(v, g) {
                    return Err(CtxFault::unmodelled(Unmodelled::Granule));
                }
                if !(16..=39).contains(&tsz) {
                    return Err(CtxFault::unmodelled(Unmodelled::InputSize));
                }
                let ias = 64 - tsz;
                let pas = size_bits((c.tcr2 & tcr2::PASIZE_MASK) as u8);
                (half, ias, g, pas.min(v.oas_bits()), va64 & ((1 << ias) - 1))
            }
            Scheme::A32Long => {
                if v.aarch32 == Aarch32::None {
                    return Err(CtxFault::unmodelled(Unmodelled::Format));
                }
                if iova >> 32 != 0 {
                    return Err(CtxFault::at(fsr::TF, 0));
                }
                let t0sz = c.tcr & 7;
                let t1sz = (c.tcr >> tcr::T1SZ_SHIFT) & 7;
                let in0 = iova < 1 << (32 - t0sz);
                let in1 = if t1sz > 0 {
                    iova >= (1 << 32) - (1 << (32 - t1sz))
                } else {
                    t0sz > 0 && !in0
                };
                let half = if in0 && (t0sz > 0 || !in1) {
                    0
                } else if in1 {
                    1
                } else {
                    return Err(CtxFault::at(fsr::TF, 0));
                };
                let ias = 32 - [t0sz, t1sz][half];
                (
                    half,
                    ias,
                    12,
                    40u32.min(v.oas_bits()),
                    iova & ((1 << ias) - 1),
                )
            }
        };
        let epd = if half == 0 { tcr::EPD0 } else { tcr::EPD1 };
        if c.tcr & epd != 0 {
            return Err(CtxFault::at(fsr::TF, 0));
        }
        let root = c.ttbr[half] & MASK48 & !7;
        let walk = LpaeWalk::new(root, ias, g)
            .with_oas(oas)
            .with_access_flag_faults(afaults);
        Ok(Cfg {
            stage: Stage::S1,
            walk,
            va_in,
            key: iova & self.key_mask(n),
            vmid: self.vmid(n),
            asid: self.asid(n),
            root,
        })
    }

    /// Stage 2 (CBAR TYPE = 0), IHI §17.3.8.  AArch64 format (VA64 = 1):
    /// T0SZ [5:0], SL0 [7:6], TG0 [15:14], PASize [18:16].  AArch32 format
    /// (VA64 = 0, the only one an SMMUv1 has): T0SZ [3:0] signed (input
    /// 32 − T0SZ bits, up to 40), SL0 [7:6], 4K granule, 40-bit output.
    /// SL0 names the start level (4K: 0 → 2, 1 → 1, 2 → 0; 16K/64K: 0 → 3,
    /// 1 → 2, 2 → 1); a start level below the one the input size implies
    /// concatenates up to 16 top tables (DDI0487 D8).
    fn s2_config(&self, n: usize, iova: u64) -> Result<Cfg, CtxFault> {
        let c = &self.cbs[n];
        let v = &self.variant;
        let (ias, g, pas) = if self.scheme(n) == Scheme::A64 {
            let t0sz = c.tcr & 0x3f;
            if !(16..=39).contains(&t0sz) {
                return Err(CtxFault::unmodelled(Unmodelled::InputSize));
            }
            let g = match (c.tcr >> tcr::TG0_SHIFT) & 3 {
                0 => 12,
                1 => 16,
                2 => 14,
                _ => 0,
            };
            if !granule_ok(v, g) {
                return Err(CtxFault::unmodelled(Unmodelled::Granule));
            }
            let pas = size_bits(((c.tcr >> tcr::S2_PASIZE_SHIFT) & 7) as u8);
            (64 - t0sz, g, pas)
        } else {
            if v.aarch32 == Aarch32::None {
                return Err(CtxFault::unmodelled(Unmodelled::Format));
            }
            // Sign-extend the 4-bit T0SZ.
            let t = (c.tcr & 0xf) as i32;
            let t = if t & 8 != 0 { t - 16 } else { t };
            (32u32.wrapping_sub(t as u32), 12, 40)
        };
        if iova >> ias != 0 {
            return Err(CtxFault::at(fsr::TF, 0));
        }
        let sl0 = (c.tcr >> tcr::SL0_SHIFT) & 3;
        let a64 = self.scheme(n) == Scheme::A64;
        let start = match (g, sl0) {
            (_, 3) => None,
            (12, 2) if !a64 => None,
            (12, s) => Some(2 - s as u8),
            (_, s) => Some(3 - s as u8),
        };
        let root = c.ttbr[0] & MASK48 & !7;
        let implied = LpaeWalk::new(root, ias, g);
        let Some(start) = start.filter(|s| *s >= implied.start_level()) else {
            return Err(CtxFault::unmodelled(Unmodelled::Stage2StartLevel));
        };
        let walk = implied
            .with_start_level(start)
            .with_oas(pas.min(v.oas_bits()))
            .with_access_flag_faults(c.sctlr & sctlr::AFFD == 0);
        if walk.concatenated() > 16 {
            return Err(CtxFault::unmodelled(Unmodelled::Stage2StartLevel));
        }
        Ok(Cfg {
            stage: Stage::S2,
            walk,
            va_in: iova,
            key: iova,
            vmid: self.vmid(n),
            asid: 0,
            root,
        })
    }

    /// MAIR attribute byte `idx` of bank `n`.
    fn mattr(&self, n: usize, idx: usize) -> u8 {
        (self.cbs[n].mair[idx / 4] >> (8 * (idx % 4))) as u8
    }

    /// A TLB entry for a successful walk.
    fn entry(&self, n: usize, c: &Cfg, w: &Walked, prefetched: bool) -> TlbEntry {
        let d = w.desc;
        let (writable, user, mattr) = match c.stage {
            // AP[2] read-only, AP[1] unprivileged access, AttrIndx [4:2].
            Stage::S1 => (
                d & 1 << 7 == 0,
                d & 1 << 6 != 0,
                self.mattr(n, ((d >> 2) & 7) as usize),
            ),
            // S2AP[1] write, S2AP[0] read, MemAttr [5:2].
            Stage::S2 => (d & 1 << 7 != 0, d & 1 << 6 != 0, ((d >> 2) & 0xf) as u8),
        };
        TlbEntry {
            stage: c.stage,
            vmid: c.vmid,
            asid: c.asid,
            global: c.stage == Stage::S2 || d & 1 << 11 == 0,
            va: c.key & !(w.span - 1),
            span: w.span,
            valid: true,
            pa: w.leaf_pa(),
            writable,
            user,
            mattr,
            sh: ((d >> 8) & 3) as u8,
            level: w.level,
            root: c.root,
            cb: n as u8,
            prefetched,
        }
    }

    fn tlb_find(&self, c: &Cfg, key: u64) -> Option<TlbEntry> {
        self.tlb
            .find(|_, e| e.tagged(c.stage, c.vmid, c.asid) && e.covers(key))
            .map(|(_, e)| e)
    }

    /// TLB, then walk cache and table walk; then the permission check.
    fn lookup(&mut self, n: usize, a: &Access) -> Result<Out, CtxFault> {
        let c = self.config(n, a.iova)?;
        let probe = a.atos || a.ecats;
        let use_tlb = !probe || self.knobs.atos_uses_tlb;
        let hit = if use_tlb {
            self.tlb_find(&c, c.key)
        } else {
            None
        };
        let e = match hit {
            Some(e) => {
                if e.root != c.root {
                    let m = Misuse::AsidReuse {
                        cb: n as u8,
                        vmid: c.vmid,
                        asid: c.asid,
                        entry_root: e.root,
                        root: c.root,
                    };
                    if self.misuse.last() != Some(&m) {
                        self.misuse.push(m);
                    }
                }
                e
            }
            None => {
                self.demand_walks += 1;
                let r = self
                    .walk(&c, c.key, use_tlb)
                    .map(|w| self.entry(n, &c, &w, false));
                if let (Ok(e), true) = (r, use_tlb) {
                    self.tlb.insert((), e);
                }
                if !probe && self.prefetching(n) {
                    self.prefetch(n, &c, a.iova);
                }
                r.map_err(CtxFault::from_walk)?
            }
        };
        if !e.valid {
            return Err(CtxFault::at(fsr::TF, e.level));
        }
        let allowed = match c.stage {
            Stage::S1 => (a.privileged || e.user) && (!a.write || e.writable),
            Stage::S2 => {
                if a.write {
                    e.writable
                } else {
                    e.user
                }
            }
        };
        if !allowed {
            return Err(CtxFault::at(fsr::PF, e.level));
        }
        Ok(Out {
            pa: e.pa + (c.key - e.va),
            mattr: e.mattr,
            sh: e.sh,
        })
    }

    /// Walks `c.va_in` from the deepest walk-cache entry serving `key`, or
    /// from the root; on success caches the table that held the leaf
    /// (when `fill`).
    fn walk(&mut self, c: &Cfg, key: u64, fill: bool) -> Result<Walked, WalkFault> {
        let from = if self.knobs.walk_cache {
            self.walks
                .entries()
                .filter(|(_, w)| {
                    w.stage == c.stage && w.vmid == c.vmid && w.asid == c.asid && w.covers(key)
                })
                .max_by_key(|(_, w)| w.level)
                .map(|(_, w)| (w.level, w.table))
        } else {
            None
        };
        let window = self.window;
        let read = |a: u64| {
            let h = window.host(a);
            (a.is_multiple_of(8) && host_ram::live(h, 8)).then(|| host_ram::read_u64(h))
        };
        let r = c.walk.walk(read, c.va_in, from);
        match r {
            Err(WalkFault::External { at }) => self.misuse.push(Misuse::OutsideRam { at }),
            Ok(w) if fill && self.knobs.walk_cache && w.level > c.walk.start_level() => {
                let span = 1u64 << c.walk.level_shift(w.level - 1);
                let region = key & !(span - 1);
                let known = self.walks.find(|_, e| {
                    e.stage == c.stage
                        && e.vmid == c.vmid
                        && e.asid == c.asid
                        && e.region == region
                        && e.level == w.level
                        && e.table == w.leaf_table
                });
                if known.is_none() {
                    self.walks.insert(
                        (),
                        WalkEntry {
                            stage: c.stage,
                            vmid: c.vmid,
                            asid: c.asid,
                            region,
                            span,
                            level: w.level,
                            table: w.leaf_table,
                            root: c.root,
                        },
                    );
                }
            }
            _ => {}
        }
        r
    }

    /// The MMU-500 prefetcher runs in bank `n`: the model's switch, and the
    /// bank's ACTLR.CPRE.
    fn prefetching(&self, n: usize) -> bool {
        self.variant.mmu500
            && self.knobs.prefetch
            && self.cbs[n].actlr & super::reg::actlr::CPRE != 0
    }

    /// After a demand walk at `iova`: the next pages' descriptors into the
    /// TLB — a valid one as an entry, an invalid one as a cached
    /// translation fault (until an invalidation covering it completes).
    fn prefetch(&mut self, n: usize, c: &Cfg, iova: u64) {
        let g = 1u64 << c.walk.granule_shift;
        for k in 1..=u64::from(self.knobs.prefetch_pages) {
            let next = (iova & !(g - 1)).wrapping_add(k * g);
            let Ok(nc) = self.config(n, next) else {
                break;
            };
            if nc.root != c.root || self.tlb_find(&nc, nc.key).is_some() {
                continue;
            }
            match self.walk(&nc, nc.key, true) {
                Ok(w) => {
                    let e = self.entry(n, &nc, &w, true);
                    self.tlb.insert((), e);
                }
                Err(WalkFault::Translation { level }) => {
                    let e = TlbEntry {
                        stage: nc.stage,
                        vmid: nc.vmid,
                        asid: nc.asid,
                        global: nc.stage == Stage::S2,
                        va: nc.key & !(g - 1),
                        span: g,
                        valid: false,
                        pa: 0,
                        writable: false,
                        user: false,
                        mattr: 0,
                        sh: 0,
                        level,
                        root: nc.root,
                        cb: n as u8,
                        prefetched: true,
                    };
                    self.tlb.insert((), e);
                }
                Err(_) => {}
            }
        }
    }

    // ---- ATOS ----

    /// Runs ATOS request `r` in bank `n` and writes PAR: on success F = 0,
    /// SH, PA[47:12], MATTR; on a fault F = 1, the FSR-named bit in [7:1],
    /// FORMAT, PLVL and STAGE.
    pub(super) fn atos_complete(&mut self, n: usize, r: AtosReq) {
        let a = Access {
            stream: None,
            iova: r.va,
            write: r.write,
            privileged: r.privileged,
            atos: true,
            ecats: false,
        };
        let format = u64::from(self.scheme(n).format());
        let stage2 = (self.cbs[n].cbar >> cbar::TYPE_SHIFT) & 3 == cbar::TYPE_S2;
        let value = match self.cb_translate(n, &a) {
            Ok(o) => {
                o.pa & par::PA_MASK
                    | u64::from(o.sh) << par::SH_SHIFT
                    | u64::from(o.mattr) << par::MATTR_SHIFT
            }
            Err(f) => {
                let v = par::F
                    | u64::from(f.fsr & 0xfe)
                    | format << par::FORMAT_SHIFT
                    | u64::from(f.level & 3) << par::PLVL_SHIFT
                    | if stage2 { par::STAGE } else { 0 };
                if self.knobs.atos_fault_sets_fsr {
                    self.context_fault(n, &a, f);
                } else if let Some(what) = f.unmodelled {
                    self.misuse.push(Misuse::Unmodelled { cb: n as u8, what });
                }
                v
            }
        };
        self.cbs[n].par = value;
    }
}
