//! Packing one stage-1 translation context bank from the LPAE codec's
//! numbers (docs/hw/smmuv2.md §5): CBAR, CBA2R, TCR2, TCR, TTBR0/1, MAIR0/1
//! and SCTLR, in AArch64 or AArch32 long-descriptor format.  The codec
//! holds numbers only; the register layouts are the driver's (the
//! positions differ from the SMMUv3 CD: docs/hw/smmuv2.md §5.2).
#![forbid(unsafe_code)]

use super::ids::{CbFormat, Ids};
use super::regs::{CBA2R, CBAR, SCTLR, TCR, TCR2};
use super::variant::Version;
use crate::iommu::pgtable::{Codec, Granule, Lpae};
use crate::mm::BusAddr;
use core::fmt;
use tock_registers::fields::FieldValue;

/// TCR IRGN/ORGN: write-back read/write-allocate.
const RGN_WBWA: u32 = 1;
/// TCR IRGN/ORGN: non-cacheable.
const RGN_NC: u32 = 0;
/// TCR SH: inner shareable.
const SH_IS: u32 = 3;
/// TCR SH: outer shareable.
const SH_OS: u32 = 2;

/// Everything written to one context bank, in the documented order
/// (docs/hw/smmuv2.md §5.3): CBA2R, CBAR, TCR2, TCR, TTBR0, TTBR1, MAIR0,
/// MAIR1, then SCTLR last (it turns translation on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbConfig {
    /// The translation scheme.
    pub format: CbFormat,
    /// The ASID in TTBR0/TTBR1 and in every TLBI operand.
    pub asid: u16,
    /// CBARn: stage 1 with stage 2 bypassed.
    pub cbar: u32,
    /// CBA2Rn (SMMUv2 only).
    pub cba2r: Option<u32>,
    /// TCR2 (AArch64 only).
    pub tcr2: Option<u32>,
    /// TCR.
    pub tcr: u32,
    /// TTBR0: ASID and the root table.
    pub ttbr0: u64,
    /// TTBR1: ASID only (EPD1 = 1: no TTBR1 region).
    pub ttbr1: u64,
    /// MAIR0 (attribute slots 0–3).
    pub mair0: u32,
    /// MAIR1 (slots 4–7).
    pub mair1: u32,
    /// SCTLR: M, TRE, AFE, CFRE, ASIDPNE.
    pub sctlr: u32,
}

/// Why a codec cannot be programmed into a context bank here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextError {
    /// Neither context format walks this granule (ID2.PTFSv8_*, ID0.PTFS).
    Granule {
        /// The granule's size in bytes.
        size: u64,
        /// ID0 and ID2 as read.
        id0: u32,
        /// ID2.
        id2: u32,
    },
    /// The codec's input size exceeds what the context format or ID2.UBS
    /// allows.
    InputBits {
        /// The codec's input bits.
        bits: u32,
        /// The limit.
        limit: u32,
    },
    /// The codec's output size exceeds ID2.IAS (the stage-1 output) or
    /// the format's.
    OutputBits {
        /// The codec's output bits.
        bits: u32,
        /// The limit.
        limit: u32,
    },
    /// The root table is not addressable by TTBR0 ([47:0], aligned).
    Root {
        /// Its bus address.
        root: u64,
    },
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Granule { size, id0, id2 } => write!(
                f,
                "no context format walks {} KiB tables (ID0 {id0:#010x}, ID2 {id2:#010x})",
                size >> 10
            ),
            Self::InputBits { bits, limit } => {
                write!(f, "{bits}-bit input, the context allows {limit}")
            }
            Self::OutputBits { bits, limit } => {
                write!(f, "{bits}-bit output, the context allows {limit}")
            }
            Self::Root { root } => write!(f, "root table {root:#x} cannot go in TTBR0"),
        }
    }
}

/// TCR2.PASize / TCR IPS code of an output size (the ID2 size scale,
/// docs/hw/smmuv2.md §3).
pub fn pasize_code(bits: u32) -> u32 {
    match bits {
        0..=32 => 0,
        33..=36 => 1,
        37..=40 => 2,
        41..=42 => 3,
        43..=44 => 4,
        _ => 5,
    }
}

/// The stage-1 context of `lpae` rooted at `root`, tagged `asid`, in the
/// format the ID registers give for its granule.  `cacheable_walks`:
/// the walker snoops and the CPU maps the tables write-back, so walks are
/// WB/inner shareable; otherwise non-cacheable/outer shareable
/// (docs/hw/smmuv2.md §5.3).
pub fn stage1(
    ids: &Ids,
    version: Version,
    lpae: &Lpae,
    root: BusAddr,
    asid: u16,
    cacheable_walks: bool,
) -> Result<CbConfig, ContextError> {
    let granule = lpae.granule_kind();
    let format = ids.format_for(granule).ok_or(ContextError::Granule {
        size: granule.size(),
        id0: ids.id0,
        id2: ids.id2,
    })?;
    let ias = lpae.input_bits();
    let oas = lpae.output_bits();
    let (in_limit, out_limit) = match format {
        CbFormat::AArch64 => (ids.ubs_bits.min(48), ids.ias_bits.min(48)),
        // Long-descriptor AArch32 stage 1: 32-bit VA, 40-bit output.
        CbFormat::AArch32Lpae => (32, ids.ias_bits.min(40)),
    };
    if ias > in_limit {
        return Err(ContextError::InputBits {
            bits: ias,
            limit: in_limit,
        });
    }
    if oas > out_limit {
        return Err(ContextError::OutputBits {
            bits: oas,
            limit: out_limit,
        });
    }
    if root.0 >> 48 != 0 || root.0 & 0x3f != 0 || root.0 >> oas != 0 {
        return Err(ContextError::Root { root: root.0 });
    }
    let (rgn, sh) = if cacheable_walks {
        (RGN_WBWA, SH_IS)
    } else {
        (RGN_NC, SH_OS)
    };
    let walk: FieldValue<u32, TCR::Register> =
        TCR::IRGN0.val(rgn) + TCR::ORGN0.val(rgn) + TCR::SH0.val(sh) + TCR::EPD1::SET;
    let (tcr, tcr2, asid) = match format {
        CbFormat::AArch64 => {
            let tg = match granule {
                Granule::K4 => TCR::TG0::K4,
                Granule::K16 => TCR::TG0::K16,
                Granule::K64 => TCR::TG0::K64,
            };
            let tcr = walk + TCR::T0SZ.val(lpae.t0sz()) + tg;
            let tcr2 = TCR2::PASIZE.val(pasize_code(oas)) + TCR2::AS::SET + TCR2::SEP.val(7);
            (tcr.value, Some(tcr2.value), asid)
        }
        CbFormat::AArch32Lpae => {
            // T0SZ [2:0] = 32 - input bits (0 for the 32-bit input); EAE.
            let tcr = walk + TCR::T0SZ.val(32 - ias) + TCR::EAE::SET;
            // 8-bit ASIDs in the long-descriptor AArch32 scheme.
            (tcr.value, None, asid & 0xff)
        }
    };
    let cbar = CBAR::TYPE::S1TransS2Bypass + CBAR::BPSHCFG.val(3) + CBAR::MEMATTR.val(0xf);
    let cba2r = match (version, format) {
        (Version::V1, _) => None,
        (Version::V2, CbFormat::AArch64) => Some(CBA2R::VA64::SET.value),
        (Version::V2, CbFormat::AArch32Lpae) => Some(CBA2R::VA64::CLEAR.value),
    };
    let tag = u64::from(asid) << 48;
    let mair = lpae.mair();
    let sctlr =
        SCTLR::M::SET + SCTLR::TRE::SET + SCTLR::AFE::SET + SCTLR::CFRE::SET + SCTLR::ASIDPNE::SET;
    Ok(CbConfig {
        format,
        asid,
        cbar: cbar.value,
        cba2r,
        tcr2,
        tcr,
        ttbr0: tag | root.0,
        ttbr1: tag,
        mair0: mair as u32,
        mair1: (mair >> 32) as u32,
        sctlr: sctlr.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmu500() -> Ids {
        Ids::decode(0xfc01_3e40, 0x4000_1f20, 0x0000_5555, 0x21, Version::V2)
    }

    #[test]
    fn the_documented_example_packs() {
        // docs/hw/smmuv2.md §5.2: stage 1, 4K, 48-bit VA and PA, coherent
        // walk: TCR 0x0080_3510, TCR2 0x0003_8015.
        let lpae = Lpae::new(Granule::K4, 48, 48, true).unwrap();
        let c = stage1(
            &mmu500(),
            Version::V2,
            &lpae,
            BusAddr(0x8_0000_0000),
            3,
            true,
        )
        .unwrap();
        assert_eq!(c.tcr, 0x0080_3510);
        assert_eq!(c.tcr2, Some(0x0003_8015));
        assert_eq!(c.cbar, 0x0001_f300);
        assert_eq!(c.cba2r, Some(1));
        assert_eq!(c.ttbr0, 3 << 48 | 0x8_0000_0000);
        assert_eq!(c.ttbr1, 3 << 48);
        assert_eq!((c.mair0, c.mair1), (0xf404_ff44, 0));
        assert_eq!(c.sctlr, 0x1027);
        // Non-coherent walks: NC/NC/OSH; 40-bit input, 64K granule.
        let lpae = Lpae::new(Granule::K64, 40, 40, false).unwrap();
        let c = stage1(
            &mmu500(),
            Version::V2,
            &lpae,
            BusAddr(0x4000_0000),
            1,
            false,
        )
        .unwrap();
        assert_eq!(c.tcr, 24 | 1 << 14 | 2 << 12 | 1 << 23);
        assert_eq!(c.tcr2, Some(2 | 1 << 4 | 7 << 15));
    }

    #[test]
    fn without_aarch64_tables_the_long_descriptor_aarch32_format_is_used() {
        let v1 = Ids::decode(0xfc01_3e40, 0x4000_1f20, 0x0000_5555, 0x21, Version::V1);
        let lpae = Lpae::new(Granule::K4, 32, 40, false).unwrap();
        let c = stage1(&v1, Version::V1, &lpae, BusAddr(0x4000_0000), 0x1ff, false).unwrap();
        assert_eq!(c.format, CbFormat::AArch32Lpae);
        assert_eq!(c.tcr, 1 << 31 | 2 << 12 | 1 << 23);
        assert_eq!((c.tcr2, c.cba2r), (None, None));
        assert_eq!(c.asid, 0xff, "8-bit ASIDs");
        // A 40-bit input cannot be walked by a 32-bit AArch32 context.
        let wide = Lpae::new(Granule::K4, 40, 40, false).unwrap();
        assert_eq!(
            stage1(&v1, Version::V1, &wide, BusAddr(0x4000_0000), 1, false),
            Err(ContextError::InputBits {
                bits: 40,
                limit: 32
            })
        );
        // No 16K AArch64 tables on this MMU-500 and none in AArch32.
        let k16 = Lpae::new(Granule::K16, 40, 40, false).unwrap();
        assert!(matches!(
            stage1(&mmu500(), Version::V2, &k16, BusAddr(0x4000_0000), 1, false),
            Err(ContextError::Granule { size: 0x4000, .. })
        ));
    }
}
