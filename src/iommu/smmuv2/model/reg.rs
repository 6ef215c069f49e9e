//! Register offsets and bit positions the model implements, each under the
//! primary source that defines it.
//!
//! Sources: **IHI** Arm IHI 0062 *SMMU architecture specification, SMMUv1
//! and SMMUv2*, section numbers of issue D.c; **TRM** Arm DDI 0517
//! *CoreLink MMU-500 TRM*; **UG1087** the Zynq UltraScale+ register
//! reference (an MMU-500 instance whose fields "refer to IHI 0062B").
//! Fields whose layout comes from a register reference rather than the
//! IHI text are marked so; docs/hw/smmuv2.md ("Behavioural model (host)")
//! lists them with the model's choices.
#![forbid(unsafe_code)]

/// Global register space 0 (page 0).  IHI chapter 9 (GR0); sGFSR is §9.6.15.
pub mod gr0 {
    /// sCR0: global configuration (bits in [`super::scr0`]).
    pub const SCR0: usize = 0x000;
    /// sCR1: Secure only (NSNUMCBO [7:0], NSNUMSMRGO [15:8], NSNUMIRPTO
    /// [23:16]); the model is the Non-secure view: reads give the counts,
    /// writes are refused.
    pub const SCR1: usize = 0x004;
    /// CR2: BPVMID [7:0] (the other fields are not modelled).
    pub const CR2: usize = 0x008;
    /// sACR (MMU-500, TRM §3.3 Table 3.7; bits in [`super::sacr`]).
    pub const SACR: usize = 0x010;
    /// ID0 (fields in [`super::id0`]).
    pub const ID0: usize = 0x020;
    /// ID1 (fields in [`super::id1`]).
    pub const ID1: usize = 0x024;
    /// ID2 (fields in [`super::id2`]).
    pub const ID2: usize = 0x028;
    /// ID3..ID6 read 0 (contents not established).
    pub const ID3: usize = 0x02c;
    /// ID7: MAJOR [7:4], MINOR [3:0].
    pub const ID7: usize = 0x03c;
    /// sGFAR, 64-bit: the faulting input address.
    pub const SGFAR: usize = 0x040;
    /// sGFSR: write 1 to clear (IHI §9.6.15; bits in [`super::sgfsr`]).
    pub const SGFSR: usize = 0x048;
    /// sGFSRRESTORE: a write sets sGFSR to the value.
    pub const SGFSRRESTORE: usize = 0x04c;
    /// sGFSYNR0 (bits in [`super::sgfsynr0`]).
    pub const SGFSYNR0: usize = 0x050;
    /// sGFSYNR1: StreamID [15:0] (MMU-500: [14:0]).
    pub const SGFSYNR1: usize = 0x054;
    /// sGFSYNR2: IMPLEMENTATION DEFINED, reads 0.
    pub const SGFSYNR2: usize = 0x058;
    /// STLBIALL: Secure only; a Non-secure write is refused.
    pub const STLBIALL: usize = 0x060;
    /// TLBIVMID: VMID [7:0] ([15:0] with sCR0.VMID16EN).
    pub const TLBIVMID: usize = 0x064;
    /// TLBIALLNSNH: every Non-secure non-Hyp entry; data reserved.
    pub const TLBIALLNSNH: usize = 0x068;
    /// TLBIALLH: every Hyp entry (the model makes none); data reserved.
    pub const TLBIALLH: usize = 0x06c;
    /// sTLBGSYNC: starts a global sync; data reserved.
    pub const STLBGSYNC: usize = 0x070;
    /// sTLBGSTATUS: GSACTIVE [0].
    pub const STLBGSTATUS: usize = 0x074;
    /// TLBIVAH: Hyp entries by VA (the model makes none).
    pub const TLBIVAH: usize = 0x078;
    /// First MMU-500 debug register (0x80..0x8C, Secure only, TRM §3.5.2).
    pub const DBG_FIRST: usize = 0x080;
    /// Last MMU-500 debug register.
    pub const DBG_LAST: usize = 0x08c;
    /// SMRn at 0x800 + 4n (fields in [`super::smr`]).
    pub const SMR0: usize = 0x800;
    /// S2CRn at 0xC00 + 4n (fields in [`super::s2cr`]).
    pub const S2CR0: usize = 0xc00;
}

/// Global register space 1 (page 1).  IHI chapter 10.
pub mod gr1 {
    /// CBARn at 0x000 + 4n (IHI §10.2.1; fields in [`super::cbar`]).
    pub const CBAR0: usize = 0x000;
    /// CBFRSYNRAn at 0x400 + 4n: StreamID [15:0] of the CB's recorded
    /// fault (IHI §10.2.3; MMU-500 [14:0]).
    pub const CBFRSYNRA0: usize = 0x400;
    /// CBA2Rn at 0x800 + 4n (IHI §10.2.2; fields in [`super::cba2r`]).
    pub const CBA2R0: usize = 0x800;
}

/// Offsets inside a context bank's page.  IHI §16.5 (stage 1) and §17.3
/// (stage 2).
pub mod cb {
    /// SCTLR (§16.5.29, §17.3.3; bits in [`super::sctlr`]).
    pub const SCTLR: usize = 0x000;
    /// ACTLR (§16.5.1, IMPLEMENTATION DEFINED; MMU-500: [`super::actlr`]).
    pub const ACTLR: usize = 0x004;
    /// RESUME: TnR [0] (§16.5.28).
    pub const RESUME: usize = 0x008;
    /// TCR2 (§16.5.39): PASize [2:0], AS [4].
    pub const TCR2: usize = 0x010;
    /// TTBR0, 64-bit (§16.5.40): ASID [63:48], base [47:0].
    pub const TTBR0: usize = 0x020;
    /// TTBR1, 64-bit.
    pub const TTBR1: usize = 0x028;
    /// TCR (§16.5.38, §17.3.8; fields in [`super::tcr`]).
    pub const TCR: usize = 0x030;
    /// CONTEXTIDR (§16.5.7).
    pub const CONTEXTIDR: usize = 0x034;
    /// MAIR0: Attr0..3 (§16.5.12).
    pub const MAIR0: usize = 0x038;
    /// MAIR1: Attr4..7.
    pub const MAIR1: usize = 0x03c;
    /// PAR, 64-bit (§16.5.14; fields in [`super::par`]).
    pub const PAR: usize = 0x050;
    /// FSR: write 1 to clear (§16.5.9; bits in [`super::fsr`]).
    pub const FSR: usize = 0x058;
    /// FSRRESTORE: a write sets FSR to the value (§16.5.10).
    pub const FSRRESTORE: usize = 0x05c;
    /// FAR, 64-bit: the faulting input address (§16.5.8).
    pub const FAR: usize = 0x060;
    /// FSYNR0 (§16.5.11, §17.3.1; bits in [`super::fsynr0`]).
    pub const FSYNR0: usize = 0x068;
    /// FSYNR1: IMPLEMENTATION DEFINED, kept as written.
    pub const FSYNR1: usize = 0x06c;
    /// IPAFAR, 64-bit, stage-2 banks (§17.3.2).
    pub const IPAFAR: usize = 0x070;
    /// TLBIVA, 64-bit (§16.5.32): AArch64 [63:48] ASID, [43:0] VA[55:12];
    /// AArch32 [31:12] VA, [7:0] ASID.
    pub const TLBIVA: usize = 0x600;
    /// TLBIVAA, 64-bit (§16.5.33): [43:0] VA[55:12], every ASID.
    pub const TLBIVAA: usize = 0x608;
    /// TLBIASID, 32-bit (§16.5.31): ASID [15:0].
    pub const TLBIASID: usize = 0x610;
    /// TLBIALL, 32-bit (§16.5.30): "requires no arguments".
    pub const TLBIALL: usize = 0x618;
    /// TLBIVAL, 64-bit (§16.5.35): as TLBIVA, last level only.
    pub const TLBIVAL: usize = 0x620;
    /// TLBIVAAL, 64-bit (§16.5.34): as TLBIVAA, last level only.
    pub const TLBIVAAL: usize = 0x628;
    /// TLBIIPAS2, 64-bit (§17.3.4): [35:0] IPA[47:12].
    pub const TLBIIPAS2: usize = 0x630;
    /// TLBIIPAS2L, 64-bit (§17.3.5): last level only.
    pub const TLBIIPAS2L: usize = 0x638;
    /// TLBSYNC (§16.5.37): data reserved.
    pub const TLBSYNC: usize = 0x7f0;
    /// TLBSTATUS (§16.5.36): SACTIVE [0].
    pub const TLBSTATUS: usize = 0x7f4;
    /// ATS1PR, 64-bit (§16.5.2): [63:12] VA, privileged read.
    pub const ATS1PR: usize = 0x800;
    /// ATS1PW (§16.5.3): privileged write.
    pub const ATS1PW: usize = 0x808;
    /// ATS1UR (§16.5.4): unprivileged read.
    pub const ATS1UR: usize = 0x810;
    /// ATS1UW (§16.5.5): unprivileged write.
    pub const ATS1UW: usize = 0x818;
    /// ATSR (§16.5.6): ACTIVE [0].
    pub const ATSR: usize = 0x8f0;
}

/// sCR0 bits (IHI ch. 9; layout from the register references: UG1087,
/// Intel's MMU-500 map).
pub mod scr0 {
    /// 1: every client transaction bypasses the SMMU.  Reset 1.
    pub const CLIENTPD: u32 = 1 << 0;
    /// Global fault report enable.
    pub const GFRE: u32 = 1 << 1;
    /// Global fault interrupt enable.
    pub const GFIE: u32 = 1 << 2;
    /// Extended (16-bit) StreamIDs; only with ID0.EXIDS.
    pub const EXIDENABLE: u32 = 1 << 3;
    /// Global configuration fault report enable (RO 0 on MMU-500).
    pub const GCFGFRE: u32 = 1 << 4;
    /// Global configuration fault interrupt enable (RO 0 on MMU-500).
    pub const GCFGFIE: u32 = 1 << 5;
    /// Stall disable (RO 0 on MMU-500).
    pub const STALLD: u32 = 1 << 8;
    /// Global stall enable (RO 0 on MMU-500).
    pub const GSE: u32 = 1 << 9;
    /// Unidentified stream: 1 fault (sGFSR.USF), 0 bypass.
    pub const USFCFG: u32 = 1 << 10;
    /// VMID private namespace.
    pub const VMIDPNE: u32 = 1 << 11;
    /// Private TLB maintenance.
    pub const PTM: u32 = 1 << 12;
    /// Stream match conflict: 1 raises sGFSR.SMCF (RO 1 on MMU-500).
    pub const SMCFCFG: u32 = 1 << 21;
    /// HYPMODE (only with ID2.E2HS; RO 0 here).
    pub const HYPMODE: u32 = 1 << 30;
    /// 16-bit VMIDs in CBA2R; only with ID2.VMID16S.
    pub const VMID16EN: u32 = 1 << 31;
}

/// MMU-500 sACR bits (TRM §3.3 Table 3.7; the others from Intel's map).
pub mod sacr {
    /// Stage-1 walk-cache level-2 enable.
    pub const S1WC2EN: u32 = 1 << 2;
    /// Stream-match-miss bypass may allocate TLB entries.
    pub const SMTNMB_TLBEN: u32 = 1 << 8;
    /// SCTLR.M = 0 bypass may allocate TLB entries.
    pub const MMUDISB_TLBEN: u32 = 1 << 9;
    /// S2CR bypass may allocate TLB entries.
    pub const S2CRB_TLBEN: u32 = 1 << 10;
    /// Context page size, Secure copy only (read-only here).
    pub const PAGESIZE: u32 = 1 << 16;
    /// 1: the Non-secure CBn_ACTLR registers are read-only.  Reset 1.
    pub const CACHE_LOCK: u32 = 1 << 26;
    /// Bits a Non-secure write may change.
    pub const WRITABLE: u32 = 0x0700_071c;
}

/// ID0 fields (register references; IHI ch. 9).
pub mod id0 {
    /// 16-bit StreamIDs supported.
    pub const EXIDS: u32 = 1 << 8;
    /// NUMSIDB [12:9].
    pub const NUMSIDB_SHIFT: u32 = 9;
    /// Broadcast TLB maintenance.
    pub const BTM: u32 = 1 << 13;
    /// Coherent table walks.
    pub const CTTW: u32 = 1 << 14;
    /// NUMIRPT [23:16].
    pub const NUMIRPT_SHIFT: u32 = 16;
    /// PTFS [25:24]: bit 24 no AArch32 short descriptor, bit 25 no
    /// AArch32 formats.
    pub const PTFS_SHIFT: u32 = 24;
    /// 1 = address translation operations NOT supported.
    pub const ATOSNS: u32 = 1 << 26;
    /// Stream matching (else indexing).
    pub const SMS: u32 = 1 << 27;
    /// Nested translation.
    pub const NTS: u32 = 1 << 28;
    /// Stage 2.
    pub const S2TS: u32 = 1 << 29;
    /// Stage 1.
    pub const S1TS: u32 = 1 << 30;
    /// Security extensions.
    pub const SES: u32 = 1 << 31;
}

/// ID1 fields.
pub mod id1 {
    /// NUMSSDNDXB [11:8].
    pub const NUMSSDNDXB_SHIFT: u32 = 8;
    /// SSDTP [12].
    pub const SSDTP: u32 = 1 << 12;
    /// NUMS2CB [23:16].
    pub const NUMS2CB_SHIFT: u32 = 16;
    /// NUMPAGENDXB [30:28]: 2^(NUMPAGENDXB + 1) pages of global space.
    pub const NUMPAGENDXB_SHIFT: u32 = 28;
    /// PAGESIZE: 0 = 4 KiB, 1 = 64 KiB register pages.
    pub const PAGESIZE: u32 = 1 << 31;
}

/// ID2 fields.  Sizes: 0 = 32, 1 = 36, 2 = 40, 3 = 42, 4 = 44, 5 = 48 bits.
pub mod id2 {
    /// OAS [7:4].
    pub const OAS_SHIFT: u32 = 4;
    /// UBS [11:8].
    pub const UBS_SHIFT: u32 = 8;
    /// AArch64 4K granule.
    pub const PTFS_4K: u32 = 1 << 12;
    /// AArch64 16K granule.
    pub const PTFS_16K: u32 = 1 << 13;
    /// AArch64 64K granule.
    pub const PTFS_64K: u32 = 1 << 14;
    /// 16-bit VMIDs.
    pub const VMID16S: u32 = 1 << 15;
}

/// SMRn fields (register references; IHI ch. 9).
pub mod smr {
    /// VALID (without EXIDENABLE).
    pub const VALID: u32 = 1 << 31;
    /// MASK at [30:16] ([31:16] with EXIDENABLE).
    pub const MASK_SHIFT: u32 = 16;
}

/// S2CRn fields.
pub mod s2cr {
    /// EXIDVALID [10]: the SMR's valid bit with EXIDENABLE.
    pub const EXIDVALID: u32 = 1 << 10;
    /// TYPE [17:16].
    pub const TYPE_SHIFT: u32 = 16;
    /// TYPE = translate through CBNDX [7:0].
    pub const TYPE_TRANSLATE: u32 = 0;
    /// TYPE = bypass.
    pub const TYPE_BYPASS: u32 = 1;
    /// TYPE = fault (invalid context fault, sGFSR.ICF).
    pub const TYPE_FAULT: u32 = 2;
    /// PRIVCFG [25:24] (translate type): 0 default, 2 unprivileged,
    /// 3 privileged.
    pub const PRIVCFG_SHIFT: u32 = 24;
    /// Reset value on the MMU-500 references (TYPE = fault).
    pub const RESET: u32 = TYPE_FAULT << TYPE_SHIFT;
}

/// CBARn fields (IHI §10.2.1).
pub mod cbar {
    /// TYPE [17:16].
    pub const TYPE_SHIFT: u32 = 16;
    /// Stage 2 only.
    pub const TYPE_S2: u32 = 0;
    /// Stage 1 with stage 2 bypass.
    pub const TYPE_S1_BYPASS: u32 = 1;
    /// Stage 1 with stage 2 fault.
    pub const TYPE_S1_FAULT: u32 = 2;
    /// Stage 1 then stage 2 (nested).
    pub const TYPE_NESTED: u32 = 3;
}

/// CBA2Rn fields (IHI §10.2.2).
pub mod cba2r {
    /// AArch64 translation format.
    pub const VA64: u32 = 1 << 0;
    /// VMID16 [31:16] (with sCR0.VMID16EN).
    pub const VMID16_SHIFT: u32 = 16;
}

/// SCTLR bits (IHI §16.5.29).
pub mod sctlr {
    /// Translation enable.
    pub const M: u32 = 1 << 0;
    /// TEX remap.
    pub const TRE: u32 = 1 << 1;
    /// Access flag enable.
    pub const AFE: u32 = 1 << 2;
    /// Access flag fault disable: AF = 0 does not fault.
    pub const AFFD: u32 = 1 << 3;
    /// Context fault report enable (abort vs RAZ/WI).
    pub const CFRE: u32 = 1 << 5;
    /// Context fault interrupt enable.
    pub const CFIE: u32 = 1 << 6;
    /// 1: stall on a context fault (FSR.SS).
    pub const CFCFG: u32 = 1 << 7;
    /// Hit under previous context fault.
    pub const HUPCF: u32 = 1 << 8;
    /// ASID private namespace (RO 0 on MMU-500, Intel's map).
    pub const ASIDPNE: u32 = 1 << 12;
}

/// MMU-500 CBn_ACTLR bits (UG1087; reset 0x3).
pub mod actlr {
    /// Context caching in the macro TLB.
    pub const CMTLB: u32 = 1 << 0;
    /// Context caching in the prefetch buffer: the next-page prefetcher
    /// (errata 841119 / 826419 context).
    pub const CPRE: u32 = 1 << 1;
}

/// TCR fields (IHI §16.5.38 AArch64 / AArch32 long; §17.3.8 stage 2).
pub mod tcr {
    /// EPD0 [7] (stage 1): no walks through TTBR0.
    pub const EPD0: u32 = 1 << 7;
    /// TG0 [15:14]: 0 4K, 1 64K, 2 16K.
    pub const TG0_SHIFT: u32 = 14;
    /// T1SZ [21:16] (AArch32 long: [18:16]).
    pub const T1SZ_SHIFT: u32 = 16;
    /// A1 [22]: the ASID comes from TTBR1.
    pub const A1: u32 = 1 << 22;
    /// EPD1 [23].
    pub const EPD1: u32 = 1 << 23;
    /// TG1 [31:30]: 1 16K, 2 4K, 3 64K.
    pub const TG1_SHIFT: u32 = 30;
    /// EAE [31] (AArch32): 1 long descriptor.
    pub const EAE: u32 = 1 << 31;
    /// Stage 2: SL0 [7:6].
    pub const SL0_SHIFT: u32 = 6;
    /// Stage 2 (VA64): PASize [18:16].
    pub const S2_PASIZE_SHIFT: u32 = 16;
}

/// TCR2 fields (IHI §16.5.39).
pub mod tcr2 {
    /// PASize [2:0].
    pub const PASIZE_MASK: u32 = 0x7;
    /// AS [4]: 16-bit ASIDs.
    pub const AS: u32 = 1 << 4;
}

/// FSR bits (IHI §16.5.9).
pub mod fsr {
    /// Translation fault.
    pub const TF: u32 = 1 << 1;
    /// Access flag fault.
    pub const AFF: u32 = 1 << 2;
    /// Permission fault.
    pub const PF: u32 = 1 << 3;
    /// External fault (a table walk read no memory).
    pub const EF: u32 = 1 << 4;
    /// TLB match conflict.
    pub const TLBMCF: u32 = 1 << 5;
    /// TLB lock fault.
    pub const TLBLKF: u32 = 1 << 6;
    /// Address size fault.
    pub const ASF: u32 = 1 << 7;
    /// Unsupported upstream transaction.
    pub const UUT: u32 = 1 << 8;
    /// FORMAT [10:9] (model choice: 0 AArch32 short, 1 AArch32 long,
    /// 2 AArch64).
    pub const FORMAT_SHIFT: u32 = 9;
    /// A transaction is stalled (SCTLR.CFCFG = 1).
    pub const SS: u32 = 1 << 30;
    /// A further fault happened while one was recorded.
    pub const MULTI: u32 = 1 << 31;
    /// The fault-class bits.
    pub const FAULTS: u32 = 0x1fe;
    /// Every implemented bit.
    pub const ALL: u32 = FAULTS | 3 << FORMAT_SHIFT | SS | MULTI;
}

/// FSYNR0 bits (IHI §16.5.11, §17.3.1).
pub mod fsynr0 {
    /// PLVL [1:0]: lookup level.
    pub const PLVL_MASK: u32 = 0x3;
    /// Write, not read.
    pub const WNR: u32 = 1 << 4;
    /// Privileged (model: 1 = privileged access).
    pub const PNU: u32 = 1 << 5;
    /// The fault came from an address translation operation.
    pub const ATOF: u32 = 1 << 9;
    /// The fault happened on a table walk read.
    pub const PTWF: u32 = 1 << 10;
}

/// sGFSR bits (IHI §9.6.15).
pub mod sgfsr {
    /// Invalid context fault (S2CR TYPE = fault or reserved).
    pub const ICF: u32 = 1 << 0;
    /// Unidentified stream fault (no SMR matched, USFCFG = 1).
    pub const USF: u32 = 1 << 1;
    /// Stream match conflict fault (more than one SMR matched).
    pub const SMCF: u32 = 1 << 2;
    /// Unimplemented context bank fault (S2CR CBNDX past NUMCB).
    pub const UCBF: u32 = 1 << 3;
    /// A further fault happened while one was recorded.
    pub const MULTI: u32 = 1 << 31;
    /// The fault-class bits.
    pub const FAULTS: u32 = 0x1ff;
}

/// sGFSYNR0 bits.
pub mod sgfsynr0 {
    /// Write, not read.
    pub const WNR: u32 = 1 << 1;
    /// Privileged access.
    pub const PNU: u32 = 1 << 2;
    /// Non-secure client (always 1 here).
    pub const NSSTATE: u32 = 1 << 4;
}

/// PAR fields, AArch32 long / AArch64 format (IHI §16.5.14).
pub mod par {
    /// F [0]: 1 the operation faulted.
    pub const F: u64 = 1;
    /// SH [8:7] (success).
    pub const SH_SHIFT: u32 = 7;
    /// PA [47:12] (success).
    pub const PA_MASK: u64 = 0x0000_ffff_ffff_f000;
    /// MATTR [63:56] (success).
    pub const MATTR_SHIFT: u32 = 56;
    /// FORMAT [9:8] (fault; same encoding as FSR.FORMAT).
    pub const FORMAT_SHIFT: u32 = 8;
    /// PLVL [33:32] (fault).
    pub const PLVL_SHIFT: u32 = 32;
    /// STAGE [35] (fault): 1 = stage 2.
    pub const STAGE: u64 = 1 << 35;
}
