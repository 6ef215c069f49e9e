//! What an SMMUv2 instance is (its ID registers, its register geometry and
//! its vendor's behaviour: [`Variant`], [`Quirks`]) and how the model
//! behaves where the architecture leaves a choice ([`Knobs`]).
//!
//! ID register layouts: IHI 0062 ch. 9 as the MMU-500 register references
//! (UG1087, Intel's MMU-500 map) give them; observed MMU-500 values and
//! why each shape was chosen: docs/hw/smmuv2.md, "Behavioural model
//! (host)".
#![forbid(unsafe_code)]

use super::reg::{id0, id1, id2, sacr, smr};

/// AArch32 translation formats an instance offers (ID0.PTFS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aarch32 {
    /// Short and long descriptors (PTFS = 0).
    ShortAndLong,
    /// Long descriptor only (PTFS bit 24).
    LongOnly,
    /// No AArch32 format (PTFS bit 25).
    None,
}

/// A stream mapping a bootloader left valid (Qualcomm continuous splash):
/// SMR and S2CR values at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootSmr {
    /// SMR / S2CR index.
    pub index: u16,
    /// The SMR value.
    pub smr: u32,
    /// The S2CR value (kept as given, whatever the S2CR quirk does to
    /// later writes).
    pub s2cr: u32,
}

/// The Qualcomm behaviour of an MMU-500 behind the hypervisor (and any
/// other vendor's, if one appears).  [`Quirks::NONE`] is Arm's part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quirks {
    /// An S2CR write of TYPE = bypass is stored as TYPE = fault (the other
    /// bits kept): BYPASS reads back as FAULT and streams mapped that way
    /// fault.
    pub s2cr_bypass_reads_fault: bool,
    /// A store of literal zero to a write-anything register (GR0
    /// TLBIALLNSNH, TLBIALLH, sTLBGSYNC, STLBIALL; CB TLBIALL, TLBSYNC) is
    /// dropped: no invalidation, no sync.
    pub drop_zero_stores: bool,
    /// Context banks another owner holds: they read their preset state and
    /// ignore every write (GR1 CBAR/CBA2R included).
    pub reserved_cbs: &'static [u8],
    /// Stream mappings valid at construction.
    pub boot_smrs: &'static [BootSmr],
    /// GR0 offsets whose writes the hypervisor drops: the value does not
    /// read back.
    pub refused: &'static [usize],
}

impl Quirks {
    /// No quirk: the architecture and the MMU-500 TRM only.
    pub const NONE: Quirks = Quirks {
        s2cr_bypass_reads_fault: false,
        drop_zero_stores: false,
        reserved_cbs: &[],
        boot_smrs: &[],
        refused: &[],
    };
}

/// One SMMUv2 instance: what its ID registers say, and its quirks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// A name for test output.
    pub name: &'static str,
    /// ID0.NUMSMRG: stream mapping groups (SMR/S2CR pairs), at most 128.
    pub numsmrg: u8,
    /// ID0.NUMSIDB: StreamID bits (at most 15 without EXIDENABLE).
    pub numsidb: u8,
    /// ID0.EXIDS: 16-bit StreamIDs with sCR0.EXIDENABLE.
    pub exids: bool,
    /// ID0.SMS: stream matching (else the StreamID indexes the S2CRs).
    pub sms: bool,
    /// ID0.S1TS.
    pub s1ts: bool,
    /// ID0.S2TS.
    pub s2ts: bool,
    /// ID0.NTS.
    pub nts: bool,
    /// Address translation operations exist (ID0.ATOSNS = 0).
    pub atos: bool,
    /// ID0.SES.
    pub ses: bool,
    /// ID0.BTM.
    pub btm: bool,
    /// ID0.CTTW.
    pub cttw: bool,
    /// ID0.NUMIRPT.
    pub numirpt: u8,
    /// ID0.PTFS.
    pub aarch32: Aarch32,
    /// ID1.NUMCB: context banks, at most 128.
    pub numcb: u8,
    /// ID1.NUMS2CB: the lowest banks that are stage-2 only.
    pub nums2cb: u8,
    /// ID1.NUMSSDNDXB.
    pub numssdndxb: u8,
    /// ID1.NUMPAGENDXB: the global space is 2^(n + 1) pages.
    pub numpagendxb: u8,
    /// ID1.PAGESIZE: 64 KiB register pages.
    pub page_64k: bool,
    /// ID2.IAS code (0 = 32 … 5 = 48 bits).
    pub ias: u8,
    /// ID2.OAS code.
    pub oas: u8,
    /// ID2.UBS code.
    pub ubs: u8,
    /// ID2.PTFSv8_4K.
    pub granule_4k: bool,
    /// ID2.PTFSv8_16K.
    pub granule_16k: bool,
    /// ID2.PTFSv8_64K.
    pub granule_64k: bool,
    /// ID2.VMID16S.
    pub vmid16s: bool,
    /// ID7.MAJOR (MMU-500: the rXpY "X").
    pub major: u8,
    /// ID7.MINOR.
    pub minor: u8,
    /// An SMMUv1 (IHI 0062 v1, e.g. MMU-400/401): no CBA2R and no TCR2
    /// (unmapped), so every bank uses the AArch32 formats.
    pub smmuv1: bool,
    /// An Arm MMU-500: sACR and CBn_ACTLR as the TRM defines them, the
    /// next-page prefetcher, sCR0's read-only bits, a 49-bit input
    /// (UBS code 5 read as 49 bits, TRM §2.3.5).
    pub mmu500: bool,
    /// sACR after reset (MMU-500).
    pub sacr_reset: u32,
    /// Vendor behaviour.
    pub quirks: Quirks,
}

/// An MMU-500 shaped like the ZynqMP one: 48 stream mapping groups, 16
/// context banks, 16 pages of global space (ID1 = 0x30000F10 on the
/// UG1087 reference), stage 1, 2 and nested, 4K and 64K granules, 48-bit
/// IAS/OAS, no ATOS (ATOSNS = 1, as on every MMU-500 seen).  ID0 and ID2
/// follow Intel's MMU-500 r2p1 values with NUMSMRG 48; ID7 = 0x21.
pub const MMU500: Variant = Variant {
    name: "MMU-500 (ZynqMP shape)",
    numsmrg: 48,
    numsidb: 15,
    exids: false,
    sms: true,
    s1ts: true,
    s2ts: true,
    nts: true,
    atos: false,
    ses: true,
    btm: true,
    cttw: false,
    numirpt: 1,
    aarch32: Aarch32::ShortAndLong,
    numcb: 16,
    nums2cb: 0,
    numssdndxb: 15,
    numpagendxb: 3,
    page_64k: false,
    ias: 5,
    oas: 5,
    ubs: 5,
    granule_4k: true,
    granule_16k: false,
    granule_64k: true,
    vmid16s: false,
    major: 2,
    minor: 1,
    smmuv1: false,
    mmu500: true,
    sacr_reset: sacr::CACHE_LOCK | sacr::S1WC2EN,
    quirks: Quirks::NONE,
};

/// The display stream the Qualcomm variant's bootloader leaves mapped:
/// StreamIDs 0x880 and 0x888 (ID 0x880, MASK 0x8), bypass.
pub const QCOM_BOOT_DISPLAY: BootSmr = BootSmr {
    index: 0,
    smr: smr::VALID | 0x8 << smr::MASK_SHIFT | 0x880,
    s2cr: super::reg::s2cr::TYPE_BYPASS << super::reg::s2cr::TYPE_SHIFT,
};

/// A Qualcomm MMU-500 behind the hypervisor, shaped like an SDM845 apps
/// SMMU (a 512 KiB register space: 64 pages of global space, NUMPAGENDXB
/// = 5; the SMR and CB counts are the model's choice, not a read-out):
/// 96 stream mapping groups, 64 context banks, no security extensions
/// visible, no ATOS, ID7 = 0x21 (r2p1, a choice).  Quirks: BYPASS reads back as
/// FAULT, zero stores to the write-anything registers dropped, context
/// banks 0 and 1 reserved, [`QCOM_BOOT_DISPLAY`] valid at construction,
/// sACR writes refused (it resets with CACHE_LOCK clear).
pub const QCOM_SDM845: Variant = Variant {
    name: "Qualcomm MMU-500 (SDM845 apps shape)",
    numsmrg: 96,
    numsidb: 15,
    exids: false,
    sms: true,
    s1ts: true,
    s2ts: true,
    nts: true,
    atos: false,
    ses: false,
    btm: true,
    cttw: true,
    numirpt: 1,
    aarch32: Aarch32::ShortAndLong,
    numcb: 64,
    nums2cb: 0,
    numssdndxb: 15,
    numpagendxb: 5,
    page_64k: false,
    ias: 5,
    oas: 5,
    ubs: 5,
    granule_4k: true,
    granule_16k: false,
    granule_64k: true,
    vmid16s: false,
    major: 2,
    minor: 1,
    smmuv1: false,
    mmu500: true,
    sacr_reset: sacr::S1WC2EN,
    quirks: Quirks {
        s2cr_bypass_reads_fault: true,
        drop_zero_stores: true,
        reserved_cbs: &[0, 1],
        boot_smrs: &[QCOM_BOOT_DISPLAY],
        refused: &[super::reg::gr0::SACR],
    },
};

/// Address size code (ID2 IAS/OAS/UBS, TCR2.PASize) to bits.
pub const fn size_bits(code: u8) -> u32 {
    match code {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => 48,
    }
}

impl Variant {
    /// With address translation operations (ID0.ATOSNS = 0).
    pub const fn with_atos(self) -> Self {
        Self { atos: true, ..self }
    }

    /// With extended StreamIDs (ID0.EXIDS = 1).
    pub const fn with_exids(self) -> Self {
        Self {
            exids: true,
            ..self
        }
    }

    /// With `quirks`.
    pub const fn with_quirks(self, quirks: Quirks) -> Self {
        Self { quirks, ..self }
    }

    /// ID0 as it reads.
    pub fn id0(&self) -> u32 {
        let b = |on: bool, bit: u32| if on { bit } else { 0 };
        let ptfs = match self.aarch32 {
            Aarch32::ShortAndLong => 0,
            Aarch32::LongOnly => 1,
            Aarch32::None => 2,
        };
        u32::from(self.numsmrg)
            | b(self.exids, id0::EXIDS)
            | u32::from(self.numsidb & 0xf) << id0::NUMSIDB_SHIFT
            | b(self.btm, id0::BTM)
            | b(self.cttw, id0::CTTW)
            | u32::from(self.numirpt) << id0::NUMIRPT_SHIFT
            | ptfs << id0::PTFS_SHIFT
            | b(!self.atos, id0::ATOSNS)
            | b(self.sms, id0::SMS)
            | b(self.nts, id0::NTS)
            | b(self.s2ts, id0::S2TS)
            | b(self.s1ts, id0::S1TS)
            | b(self.ses, id0::SES)
    }

    /// ID1 as it reads.
    pub fn id1(&self) -> u32 {
        u32::from(self.numcb)
            | u32::from(self.numssdndxb & 0xf) << id1::NUMSSDNDXB_SHIFT
            | u32::from(self.nums2cb) << id1::NUMS2CB_SHIFT
            | u32::from(self.numpagendxb & 7) << id1::NUMPAGENDXB_SHIFT
            | if self.page_64k { id1::PAGESIZE } else { 0 }
    }

    /// ID2 as it reads.
    pub fn id2(&self) -> u32 {
        let b = |on: bool, bit: u32| if on { bit } else { 0 };
        u32::from(self.ias & 0xf)
            | u32::from(self.oas & 0xf) << id2::OAS_SHIFT
            | u32::from(self.ubs & 0xf) << id2::UBS_SHIFT
            | b(self.granule_4k, id2::PTFS_4K)
            | b(self.granule_16k, id2::PTFS_16K)
            | b(self.granule_64k, id2::PTFS_64K)
            | b(self.vmid16s, id2::VMID16S)
    }

    /// ID7 as it reads.
    pub fn id7(&self) -> u32 {
        u32::from(self.major & 0xf) << 4 | u32::from(self.minor & 0xf)
    }

    /// Bytes of one register page.
    pub const fn page_size(&self) -> usize {
        if self.page_64k {
            0x1_0000
        } else {
            0x1000
        }
    }

    /// Pages of global space: 2^(NUMPAGENDXB + 1); the context banks
    /// start after them (IHI address map, as the references lay it out).
    pub const fn numpage(&self) -> usize {
        1 << (self.numpagendxb + 1)
    }

    /// Bytes of the whole register space: 2 × NUMPAGE × PAGESIZE.
    pub const fn size(&self) -> usize {
        2 * self.numpage() * self.page_size()
    }

    /// Offset of context bank `n`'s page: (NUMPAGE + n) × PAGESIZE.
    pub const fn cb_base(&self, n: usize) -> usize {
        (self.numpage() + n) * self.page_size()
    }

    /// Upstream (input) address bits: UBS, with code 5 read as 49 bits on
    /// an MMU-500 (its input is 49 bits, TRM §2.3.5).
    pub const fn ubs_bits(&self) -> u32 {
        if self.mmu500 && self.ubs == 5 {
            49
        } else {
            size_bits(self.ubs)
        }
    }

    /// Output address bits (ID2.OAS).
    pub const fn oas_bits(&self) -> u32 {
        size_bits(self.oas)
    }

    /// StreamID bits without EXIDENABLE (NUMSIDB, at most 15).
    pub const fn sid_bits(&self) -> u32 {
        if self.numsidb > 15 {
            15
        } else {
            self.numsidb as u32
        }
    }

    /// `true` when bank `n` is one the quirks reserve.
    pub fn reserved(&self, n: usize) -> bool {
        self.quirks
            .reserved_cbs
            .iter()
            .any(|r| usize::from(*r) == n)
    }
}

/// Model behaviour where the architecture gives a choice or a test wants a
/// switch.  [`Knobs::default`] is the adversarial setting every choice
/// permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Reads of TLBSTATUS / sTLBGSTATUS / ATSR that still see the
    /// operation active after it was started (0: done at the write).
    pub busy_polls: u32,
    /// Invalidations take effect when a sync covering them completes
    /// (`false`: at the TLBI write, the simplest legal behaviour).
    pub invalidate_at_sync: bool,
    /// Syncs never complete (a wedged SMMU: SACTIVE stays 1).
    pub sync_never_completes: bool,
    /// The MMU-500 next-page prefetcher runs in banks whose ACTLR.CPRE is
    /// set.
    pub prefetch: bool,
    /// Pages after a demand walk's page the prefetcher loads.
    pub prefetch_pages: u32,
    /// Intermediate walk entries are cached (and survive TLBIVAL).
    pub walk_cache: bool,
    /// ATOS, and a TBU's debug probe (ECATS), look up and fill the TLB
    /// and walk cache like a transaction (so they may return a stale
    /// translation).
    pub atos_uses_tlb: bool,
    /// An ATOS fault is also recorded in FSR/FAR/FSYNR0 (with FSYNR0.ATOF)
    /// besides PAR.
    pub atos_fault_sets_fsr: bool,
    /// Client transactions are privileged where S2CR.PRIVCFG leaves it to
    /// the client (default: unprivileged, as device DMA usually is).
    pub privileged_masters: bool,
    /// The Secure sACR.CACHE_LOCK is still 1 (firmware did not clear it):
    /// CBn_ACTLR stays read-only whatever the Non-secure copy says.
    pub secure_cache_lock: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            busy_polls: 2,
            invalidate_at_sync: true,
            sync_never_completes: false,
            prefetch: true,
            prefetch_pages: 1,
            walk_cache: true,
            atos_uses_tlb: true,
            atos_fault_sets_fsr: true,
            privileged_masters: false,
            secure_cache_lock: false,
        }
    }
}
