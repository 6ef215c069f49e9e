//! The model's translation caches and the invalidations that reach them.
//!
//! Tagging follows IHI 0062 (the paragraph before §2.5.1: banks with the
//! same ASID and VMID may use each other's entries) and the invalidation
//! scopes of §16.5.30–§16.5.35 and ch. 9: an entry carries the stage, the
//! VMID, the ASID or the global property (nG = 0), and its input range —
//! never the context bank.  Leaf entries ([`TlbEntry`]) and intermediate
//! walk entries ([`WalkEntry`]) are separate so a leaf-only operation
//! (TLBIVAL, TLBIVAAL, TLBIIPAS2L) can leave the walk cache stale, as the
//! TLBIVAL description allows ("only the last level … is required").
#![forbid(unsafe_code)]

/// Translation stage of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Stage 1 (VA → PA, S2 bypass): tagged VMID + ASID / global.
    S1,
    /// Stage 2 (IPA → PA): tagged VMID.
    S2,
}

/// One leaf (or a cached invalid descriptor the prefetcher loaded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// Stage.
    pub stage: Stage,
    /// VMID tag.
    pub vmid: u16,
    /// ASID tag (meaningless when `global`).
    pub asid: u16,
    /// nG = 0: matches every ASID.
    pub global: bool,
    /// First input address covered (the upstream address, [`super::Smmuv2Model`]
    /// keys AArch64 addresses by their UBS bits).
    pub va: u64,
    /// Bytes covered.
    pub span: u64,
    /// `false`: an invalid descriptor the prefetcher cached; a hit is a
    /// translation fault at `level`.
    pub valid: bool,
    /// Output address of the first byte.
    pub pa: u64,
    /// Writes allowed (stage 1: AP[2] = 0; stage 2: S2AP[1] = 1).
    pub writable: bool,
    /// Stage 1: unprivileged access allowed (AP[1] = 1).  Stage 2: reads
    /// allowed (S2AP[0] = 1).
    pub user: bool,
    /// Memory attribute byte (stage 1: MAIR[AttrIndx]).
    pub mattr: u8,
    /// Shareability, descriptor SH [9:8].
    pub sh: u8,
    /// Lookup level of the leaf.
    pub level: u8,
    /// Table base the walk started from (diagnostics: the TLB does not
    /// match on it).
    pub root: u64,
    /// The bank whose walk made it (diagnostics only, never matched).
    pub cb: u8,
    /// Loaded by the prefetcher, not by a demand walk.
    pub prefetched: bool,
}

impl TlbEntry {
    /// `true` when the entry covers input address `va`.
    pub fn covers(&self, va: u64) -> bool {
        va >= self.va && va - self.va < self.span
    }

    /// `true` when the entry answers a lookup tagged (`stage`, `vmid`,
    /// `asid`).
    pub fn tagged(&self, stage: Stage, vmid: u16, asid: u16) -> bool {
        self.stage == stage && self.vmid == vmid && (self.global || self.asid == asid)
    }
}

/// One cached table pointer: the table at `level` serving the input range
/// `[region, region + span)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// Stage.
    pub stage: Stage,
    /// VMID tag.
    pub vmid: u16,
    /// ASID tag (stage 1).
    pub asid: u16,
    /// First input address served.
    pub region: u64,
    /// Bytes served.
    pub span: u64,
    /// Level of the table.
    pub level: u8,
    /// Bus address of the table.
    pub table: u64,
    /// Table base the walk started from (diagnostics).
    pub root: u64,
}

impl WalkEntry {
    /// `true` when the entry serves input address `va`.
    pub fn covers(&self, va: u64) -> bool {
        va >= self.region && va - self.region < self.span
    }
}

/// One accepted invalidation, with the scope it had when accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inval {
    /// TLBIVA / TLBIVAL (`asid` set) and TLBIVAA / TLBIVAAL (`asid` =
    /// `None`: every ASID): stage-1 entries of `vmid` covering `va`, the
    /// global ones included; the walk cache too unless `leaf_only`.
    Va {
        /// VMID of the bank that accepted it.
        vmid: u16,
        /// ASID from the operand.
        asid: Option<u16>,
        /// Address from the operand.
        va: u64,
        /// The L form.
        leaf_only: bool,
    },
    /// TLBIASID: stage-1 entries of `vmid` with that ASID (not the global
    /// ones — a model choice, the SMMUv2 text is silent) and its walk
    /// entries.
    Asid {
        /// VMID of the bank.
        vmid: u16,
        /// ASID from the operand.
        asid: u16,
    },
    /// CB TLBIALL in a Non-secure non-Hyp bank, and GR0 TLBIVMID: every
    /// entry of the VMID, either stage, whichever bank made it.
    Vmid {
        /// The VMID.
        vmid: u16,
    },
    /// TLBIIPAS2 / TLBIIPAS2L: stage-2 entries of `vmid` covering `ipa`.
    Ipa {
        /// VMID of the bank.
        vmid: u16,
        /// Address from the operand.
        ipa: u64,
        /// The L form.
        leaf_only: bool,
    },
    /// TLBIALLNSNH: every Non-secure non-Hyp entry (all the model makes).
    All,
}

impl Inval {
    /// `true` when the operation removes leaf entry `e`.
    pub fn hits(&self, e: &TlbEntry) -> bool {
        match *self {
            Self::Va { vmid, asid, va, .. } => {
                e.stage == Stage::S1
                    && e.vmid == vmid
                    && e.covers(va)
                    && asid.is_none_or(|a| e.global || e.asid == a)
            }
            Self::Asid { vmid, asid } => {
                e.stage == Stage::S1 && e.vmid == vmid && !e.global && e.asid == asid
            }
            Self::Vmid { vmid } => e.vmid == vmid,
            Self::Ipa { vmid, ipa, .. } => e.stage == Stage::S2 && e.vmid == vmid && e.covers(ipa),
            Self::All => true,
        }
    }

    /// `true` when the operation removes walk entry `w`.
    pub fn hits_walk(&self, w: &WalkEntry) -> bool {
        match *self {
            Self::Va {
                vmid,
                asid,
                va,
                leaf_only,
            } => {
                !leaf_only
                    && w.stage == Stage::S1
                    && w.vmid == vmid
                    && w.covers(va)
                    && asid.is_none_or(|a| w.asid == a)
            }
            Self::Asid { vmid, asid } => w.stage == Stage::S1 && w.vmid == vmid && w.asid == asid,
            Self::Vmid { vmid } => w.vmid == vmid,
            Self::Ipa {
                vmid,
                ipa,
                leaf_only,
            } => !leaf_only && w.stage == Stage::S2 && w.vmid == vmid && w.covers(ipa),
            Self::All => true,
        }
    }
}
