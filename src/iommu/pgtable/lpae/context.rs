//! The MAIR and TCR values an SMMU context needs for LPAE stage-1 tables.
//!
//! Field encodings: Arm ARM DDI0487, the TCR_EL1 and MAIR_EL1 register
//! descriptions, as the SMMUs reuse them, summarised in smmu.md C.4 and C.5;
//! the attribute layout is the one Linux `io-pgtable-arm.c` uses for stage 1
//! (smmu.md C.4), so AttrIndx values match what other drivers expect.
#![forbid(unsafe_code)]

use super::Granule;

/// AttrIndx of Normal non-cacheable (MAIR byte 0 = 0x44).
pub const MAIR_NC_IDX: u64 = 0;
/// AttrIndx of Normal write-back RW-allocate (MAIR byte 1 = 0xFF).
pub const MAIR_WB_IDX: u64 = 1;
/// AttrIndx of Device-nGnRE (MAIR byte 2 = 0x04).
pub const MAIR_DEVICE_IDX: u64 = 2;

/// MAIR: 0 = 0x44 NC, 1 = 0xFF WB, 2 = 0x04 Device-nGnRE, 3 = 0xF4
/// inner-NC/outer-WB (smmu.md C.4).
const MAIR: u64 = 0x0000_0000_F404_FF44;

/// IPS / PASize encoding of an output size (smmu.md C.5).
pub(super) const fn ips_encoding(oas: u32) -> Option<u64> {
    match oas {
        32 => Some(0),
        36 => Some(1),
        40 => Some(2),
        42 => Some(3),
        44 => Some(4),
        48 => Some(5),
        _ => None,
    }
}

/// The translation-control fields of one stage-1 context, unpacked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcrFields {
    /// 64 − input size.
    pub t0sz: u64,
    /// Granule: 0 = 4K, 1 = 64K, 2 = 16K.
    pub tg0: u64,
    /// Inner cacheability of walks: 0 NC, 1 WB-WA.
    pub irgn0: u64,
    /// Outer cacheability of walks: 0 NC, 1 WB-WA.
    pub orgn0: u64,
    /// Shareability of walks: 2 outer, 3 inner.
    pub sh0: u64,
    /// Disable walks through TTB1: always 1 (no upper region).
    pub epd1: u64,
    /// Output size encoding.
    pub ips: u64,
}

/// MAIR, TCR fields and their packed forms for one context.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LpaeContext {
    /// The TCR fields.
    pub tcr: TcrFields,
    /// The MAIR value (SMMUv2: MAIR0 = low word, MAIR1 = high word).
    pub mair: u64,
}

impl LpaeContext {
    pub(super) fn new(granule: Granule, ias: u32, oas: u32, coherent_walk: bool) -> Self {
        let tg0 = match granule {
            Granule::K4 => 0,
            Granule::K64 => 1,
            Granule::K16 => 2,
        };
        // Linux's choice: cacheable inner-shareable walks when the walker is
        // coherent, otherwise non-cacheable outer-shareable (smmu.md C.5).
        let (rgn, sh0) = if coherent_walk { (1, 3) } else { (0, 2) };
        Self {
            tcr: TcrFields {
                t0sz: u64::from(64 - ias),
                tg0,
                irgn0: rgn,
                orgn0: rgn,
                sh0,
                epd1: 1,
                ips: ips_encoding(oas).unwrap_or(5),
            },
            mair: MAIR,
        }
    }

    /// SMMUv2 context-bank TCR (LPAE/AArch64 layout, smmu.md B.5.2 / C.5):
    /// T0SZ [5:0], IRGN0 [9:8], ORGN0 [11:10], SH0 [13:12], TG0 [15:14],
    /// EPD1 [23].  PASize goes to TCR2, see [`Self::smmuv2_tcr2_pasize`].
    pub fn smmuv2_tcr(&self) -> u32 {
        let t = &self.tcr;
        (t.t0sz | t.irgn0 << 8 | t.orgn0 << 10 | t.sh0 << 12 | t.tg0 << 14 | t.epd1 << 23) as u32
    }

    /// SMMUv2 TCR2.PASize [2:0].
    pub fn smmuv2_tcr2_pasize(&self) -> u32 {
        self.tcr.ips as u32
    }

    /// The translation-control bits of an SMMUv3 context descriptor dword0
    /// (smmu.md C.5): T0SZ [5:0], TG0 [7:6], IRGN0 [9:8], ORGN0 [11:10],
    /// SH0 [13:12], EPD1 [30], IPS [34:32].  The caller adds V, AA64, ASID etc.
    pub fn smmuv3_cd_tcr(&self) -> u64 {
        let t = &self.tcr;
        t.t0sz
            | t.tg0 << 6
            | t.irgn0 << 8
            | t.orgn0 << 10
            | t.sh0 << 12
            | t.epd1 << 30
            | t.ips << 32
    }
}
