//! The ID registers decoded (docs/hw/smmuv2.md §3): what the hardware says
//! it has — stream matching groups, context banks and the register
//! geometry, stages, ATOS, table formats and address sizes — and the
//! context-bank format this driver can use for a granule.
#![forbid(unsafe_code)]

use super::regs::{Layout, ID0, ID1, ID2, ID7};
use super::variant::Version;
use crate::iommu::pgtable::Granule;
use tock_registers::LocalRegisterCopy;

/// The context-bank translation scheme a domain is programmed in
/// (docs/hw/smmuv2.md §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbFormat {
    /// AArch64 (CBA2R.VA64 = 1): TCR + TCR2, 16-bit ASIDs, any granule
    /// ID2 offers.
    AArch64,
    /// AArch32 long descriptor (VA64 = 0, TCR.EAE = 1): the same LPAE
    /// descriptors, 4 KiB granule, 32-bit input, 8-bit ASIDs; for parts
    /// without AArch64 tables (SMMUv1, or ID2 without the granule).
    AArch32Lpae,
}

/// ID0, ID1, ID2 and ID7 decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// Raw ID0.
    pub id0: u32,
    /// Raw ID1.
    pub id1: u32,
    /// Raw ID2.
    pub id2: u32,
    /// Raw ID7.
    pub id7: u32,
    /// Stream mapping groups (ID0.NUMSMRG); with stream indexing the
    /// number of S2CRs, 2^NUMSIDB.
    pub groups: usize,
    /// Stream matching (ID0.SMS); else indexing.
    pub sms: bool,
    /// 16-bit StreamIDs (ID0.EXIDS).
    pub exids: bool,
    /// StreamID bits (ID0.NUMSIDB, 16 with EXIDS).
    pub sid_bits: u32,
    /// Stage 1 (ID0.S1TS).
    pub s1: bool,
    /// Stage 2 (ID0.S2TS).
    pub s2: bool,
    /// Address translation operations (ID0.ATOSNS = 0).
    pub atos: bool,
    /// AArch32 long-descriptor contexts (ID0.PTFS bit 25 clear).
    pub aarch32_long: bool,
    /// Coherent table walks (ID0.CTTW).
    pub cttw: bool,
    /// Context banks (ID1.NUMCB).
    pub numcb: usize,
    /// Stage-2-only context banks, the lowest-numbered (ID1.NUMS2CB).
    pub nums2cb: usize,
    /// Register geometry.
    pub layout: Layout,
    /// Stage-1 output size in bits (ID2.IAS).
    pub ias_bits: u32,
    /// Stage-2 output size in bits (ID2.OAS).
    pub oas_bits: u32,
    /// Input (upstream bus) size in bits (ID2.UBS).
    pub ubs_bits: u32,
    /// AArch64 granules (ID2.PTFSv8_4K/16K/64K); none on SMMUv1.
    pub granules: [bool; 3],
    /// ID7 MAJOR (the r in rXpY).
    pub major: u8,
    /// ID7 MINOR (the p).
    pub minor: u8,
}

/// An ID2 IAS/OAS size code in bits (docs/hw/smmuv2.md §3: 0 = 32, 1 = 36,
/// 2 = 40, 3 = 42, 4 = 44, 5 = 48; larger codes read as 48, as Linux
/// `arm_smmu_id_size_to_bits` does).
pub fn size_bits(code: u32) -> u32 {
    match code {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => 48,
    }
}

/// The ID2.UBS code in bits: as [`size_bits`], and 0xF = 64 (Linux).  MMU-500
/// reports 5 for its 49-bit input; 48 is used (docs/hw/smmuv2.md §3).
pub fn ubs_bits(code: u32) -> u32 {
    if code == 0xf {
        64
    } else {
        size_bits(code)
    }
}

impl Ids {
    /// Decodes the raw registers; `version` says whether ID2's AArch64
    /// granule bits exist (SMMUv2) or not (SMMUv1).
    pub fn decode(id0: u32, id1: u32, id2: u32, id7: u32, version: Version) -> Self {
        let r0 = LocalRegisterCopy::<u32, ID0::Register>::new(id0);
        let r1 = LocalRegisterCopy::<u32, ID1::Register>::new(id1);
        let r2 = LocalRegisterCopy::<u32, ID2::Register>::new(id2);
        let r7 = LocalRegisterCopy::<u32, ID7::Register>::new(id7);
        let exids = r0.is_set(ID0::EXIDS);
        let sid_bits = if exids { 16 } else { r0.read(ID0::NUMSIDB) };
        let sms = r0.is_set(ID0::SMS);
        let groups = if sms {
            r0.read(ID0::NUMSMRG) as usize
        } else {
            1usize << sid_bits
        };
        let v2 = version == Version::V2;
        Self {
            id0,
            id1,
            id2,
            id7,
            groups,
            sms,
            exids,
            sid_bits,
            s1: r0.is_set(ID0::S1TS),
            s2: r0.is_set(ID0::S2TS),
            atos: !r0.is_set(ID0::ATOSNS),
            aarch32_long: r0.read(ID0::PTFS) & 0b10 == 0,
            cttw: r0.is_set(ID0::CTTW),
            numcb: r1.read(ID1::NUMCB) as usize,
            nums2cb: r1.read(ID1::NUMS2CB) as usize,
            layout: Layout::from_id1(r1),
            ias_bits: size_bits(r2.read(ID2::IAS)),
            oas_bits: size_bits(r2.read(ID2::OAS)),
            ubs_bits: ubs_bits(r2.read(ID2::UBS)),
            granules: [
                v2 && r2.is_set(ID2::PTFS_4K),
                v2 && r2.is_set(ID2::PTFS_16K),
                v2 && r2.is_set(ID2::PTFS_64K),
            ],
            major: r7.read(ID7::MAJOR) as u8,
            minor: r7.read(ID7::MINOR) as u8,
        }
    }

    /// `true` when the registers read like nothing is there: all ones
    /// (an unclocked block or a bus that answers every read with ones), or
    /// ID0 and ID1 both zero (no SMMU reports no groups and no context
    /// banks).
    pub fn dead(&self) -> bool {
        (self.id0 == u32::MAX && self.id1 == u32::MAX) || (self.id0 == 0 && self.id1 == 0)
    }

    /// The context-bank format for tables of `granule` (docs/hw/smmuv2.md
    /// §5.4): AArch64 where ID2 offers the granule, else AArch32 long
    /// descriptor for 4 KiB where ID0.PTFS allows AArch32 formats; `None`
    /// when neither.
    pub fn format_for(&self, granule: Granule) -> Option<CbFormat> {
        let i = match granule {
            Granule::K4 => 0,
            Granule::K16 => 1,
            Granule::K64 => 2,
        };
        if self.granules[i] {
            Some(CbFormat::AArch64)
        } else if granule == Granule::K4 && self.aarch32_long {
            Some(CbFormat::AArch32Lpae)
        } else {
            None
        }
    }

    /// The rXpY revision for reports.
    pub fn revision(&self) -> (u8, u8) {
        (self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intel_stratix_10_mmu_500_decodes() {
        // Intel Stratix 10 MMU-500 r2p1 (docs/hw/smmuv2.md §3): ID0
        // 0xFC013E40, ID1 0x40001F20, ID2 0x00005555, ID7 0x21.
        let ids = Ids::decode(0xfc01_3e40, 0x4000_1f20, 0x0000_5555, 0x21, Version::V2);
        assert_eq!(ids.groups, 64);
        assert!(ids.sms && !ids.exids && ids.s1 && ids.s2);
        assert_eq!(ids.sid_bits, 15);
        assert!(!ids.atos, "MMU-500 reports ATOSNS = 1");
        assert_eq!(ids.numcb, 32);
        assert_eq!(ids.layout.numpage, 32);
        assert_eq!((ids.ias_bits, ids.oas_bits, ids.ubs_bits), (48, 48, 48));
        assert_eq!(ids.granules, [true, false, true]);
        assert_eq!(ids.revision(), (2, 1));
        assert_eq!(ids.format_for(Granule::K4), Some(CbFormat::AArch64));
        // No 16 KiB AArch64 tables, and AArch32 formats are 4 KiB only.
        assert_eq!(ids.format_for(Granule::K16), None);
        assert!(!ids.dead());
        // The same registers on an SMMUv1 binding: no AArch64 contexts.
        let v1 = Ids::decode(0xfc01_3e40, 0x4000_1f20, 0x0000_5555, 0x21, Version::V1);
        assert_eq!(v1.format_for(Granule::K4), Some(CbFormat::AArch32Lpae));
        assert!(Ids::decode(u32::MAX, u32::MAX, u32::MAX, 0, Version::V2).dead());
        assert_eq!(ubs_bits(0xf), 64);
    }
}
