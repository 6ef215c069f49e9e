//! Stream Table Entries: 64 bytes (8 dwords) that say what the SMMU does with
//! a stream's transactions — abort, bypass, or stage-1 translation through a
//! context descriptor.
//!
//! Layout: IHI0070 §5.2 as restated in `docs/hw/smmuv3.md` §7 (dword0 V,
//! Config, S1Fmt, S1ContextPtr, S1CDMax; dword1 S1DSS/S1CIR/S1COR/S1CSH,
//! S1STALLD, EATS, STRW, SHCFG; dword2 S2VMID).  QEMU 10.0.2 constraints
//! (`docs/hw/qemu-virt.md` §1.8): S1CDMax must be 0 and S1STALLD must be 0
//! on its terminate-only stall model; S2VMID tags the IOTLB on `-M virt`.
//! The update ordering lives in the driver (`driver.rs`), which is the only
//! code that writes STEs into a live table.
#![forbid(unsafe_code)]

use super::error::Smmuv3Error;
use crate::mm::BusAddr;
use core::fmt;

/// dword0 V.
const V: u64 = 1;
const CONFIG_SHIFT: u32 = 1;
const CONFIG_ABORT: u64 = 0b000;
const CONFIG_BYPASS: u64 = 0b100;
const CONFIG_S1_TRANS: u64 = 0b101;
/// dword0 S1ContextPtr `[51:6]`.
const CTXPTR_MASK: u64 = ((1 << 52) - 1) & !0x3f;
/// dword1 fields.
const S1CIR_SHIFT: u32 = 2;
const S1COR_SHIFT: u32 = 4;
const S1CSH_SHIFT: u32 = 6;
const S1STALLD: u64 = 1 << 27;
const SHCFG_SHIFT: u32 = 44;
const SHCFG_INCOMING: u64 = 1;

/// Number of dwords in an STE.
pub const STE_DWORDS: usize = 8;
/// Size of an STE in bytes.
pub const STE_BYTES: usize = 64;

/// What an STE's dword0 says the SMMU does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteKind {
    /// V = 0: transactions abort and C_BAD_STE is recorded.
    Invalid,
    /// V = 1, Config 0b0xx: silent abort.
    Abort,
    /// Config 0b100: bypass both stages.
    Bypass,
    /// Config 0b101: stage-1 translation, stage 2 bypass.
    Stage1,
    /// Config 0b110: stage-2 only.
    Stage2,
    /// Config 0b111: nested.
    Nested,
}

/// Cacheability/shareability the SMMU uses to fetch CDs (STE.S1CIR/S1COR/
/// S1CSH) — WB/ISH when the SMMU is coherent and the CPU maps the CDs
/// Write-Back, NC/OSH otherwise (docs/hw/smmuv3.md §12.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchAttrs {
    /// Inner cacheability: 0 NC, 1 WB-RA, 2 WT, 3 WB.
    pub inner: u8,
    /// Outer cacheability (same encoding).
    pub outer: u8,
    /// Shareability: 0 NSH, 2 OSH, 3 ISH.
    pub share: u8,
}

impl FetchAttrs {
    /// Cacheable attributes: WB-RA, WB-RA, inner shareable.
    pub const COHERENT: Self = Self {
        inner: 1,
        outer: 1,
        share: 3,
    };
    /// Non-cacheable, outer shareable.
    pub const NON_COHERENT: Self = Self {
        inner: 0,
        outer: 0,
        share: 2,
    };

    /// [`Self::COHERENT`] when `cacheable`, else [`Self::NON_COHERENT`].
    pub const fn for_cacheable(cacheable: bool) -> Self {
        if cacheable {
            Self::COHERENT
        } else {
            Self::NON_COHERENT
        }
    }
}

/// Parameters of a stage-1 STE with a single CD (S1CDMax = 0, S1Fmt = 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1Ste {
    /// Bus address of the 64-byte CD (64-byte aligned).
    pub cd: BusAddr,
    /// S2VMID.  On a stage-2-capable SMMU this tags the stream's IOTLB
    /// entries, so TLBI_NH_* must carry the same value (docs/hw/qemu-virt.md §1.4).
    pub vmid: u16,
    /// How the SMMU fetches the CD.
    pub fetch: FetchAttrs,
    /// Set S1STALLD (disable stalls).  Only legal when IDR0.STALL_MODEL = 0;
    /// with terminate-only (QEMU) or stall-forced models it must be `false`.
    pub stall_disable: bool,
}

/// A Stream Table Entry, dword0 first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ste(pub [u64; STE_DWORDS]);

impl Ste {
    /// V = 0: the SMMU aborts and records C_BAD_STE.
    pub const fn invalid() -> Self {
        Self([0; STE_DWORDS])
    }

    /// V = 1, Config = abort: silent abort (what every unused stream gets).
    pub const fn abort() -> Self {
        let mut d = [0; STE_DWORDS];
        d[0] = V | (CONFIG_ABORT << CONFIG_SHIFT);
        Self(d)
    }

    /// V = 1, Config = bypass.  `use_incoming_shareability` sets
    /// SHCFG = "use incoming" (only meaningful with IDR1.ATTR_TYPES_OVR,
    /// docs/hw/smmuv3.md §7.2).
    pub const fn bypass(use_incoming_shareability: bool) -> Self {
        let mut d = [0; STE_DWORDS];
        d[0] = V | (CONFIG_BYPASS << CONFIG_SHIFT);
        if use_incoming_shareability {
            d[1] = SHCFG_INCOMING << SHCFG_SHIFT;
        }
        Self(d)
    }

    /// Stage-1 translation through one CD, stage 2 bypassed, StreamWorld
    /// NS-EL1 (STRW = 0, so TLBI_NH_* apply), ATS off (EATS = 0).
    pub fn stage1(p: &Stage1Ste) -> Result<Self, Smmuv3Error> {
        let cd = p.cd.as_u64();
        if cd & !CTXPTR_MASK != 0 {
            return Err(Smmuv3Error::BadConfig {
                what: "STE.S1ContextPtr (CD address, must be 64-byte aligned below 2^52)",
                value: cd,
            });
        }
        let mut d = [0; STE_DWORDS];
        d[0] = V | (CONFIG_S1_TRANS << CONFIG_SHIFT) | cd;
        d[1] = (u64::from(p.fetch.inner & 3) << S1CIR_SHIFT)
            | (u64::from(p.fetch.outer & 3) << S1COR_SHIFT)
            | (u64::from(p.fetch.share & 3) << S1CSH_SHIFT);
        if p.stall_disable {
            d[1] |= S1STALLD;
        }
        d[2] = u64::from(p.vmid);
        Ok(Self(d))
    }

    /// dword0.V.
    pub const fn is_valid(&self) -> bool {
        self.0[0] & V != 0
    }

    /// What the entry does.
    pub const fn kind(&self) -> SteKind {
        if !self.is_valid() {
            return SteKind::Invalid;
        }
        match (self.0[0] >> CONFIG_SHIFT) & 7 {
            0b100 => SteKind::Bypass,
            0b101 => SteKind::Stage1,
            0b110 => SteKind::Stage2,
            0b111 => SteKind::Nested,
            _ => SteKind::Abort,
        }
    }

    /// `true` when the SMMU reads dwords 1..7 for this entry (anything but
    /// invalid and abort), so changing them while it is live is unsafe
    /// without first making the entry abort.
    pub const fn uses_upper_dwords(&self) -> bool {
        !matches!(self.kind(), SteKind::Invalid | SteKind::Abort)
    }

    /// S1ContextPtr.
    pub const fn cd_ptr(&self) -> BusAddr {
        BusAddr(self.0[0] & CTXPTR_MASK)
    }

    /// S2VMID.
    pub const fn vmid(&self) -> u16 {
        (self.0[2] & 0xffff) as u16
    }
}

impl fmt::Debug for Ste {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ste({:?}", self.kind())?;
        for d in self.0 {
            write!(f, " {d:#018x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_match_smmu_md() {
        // docs/hw/smmuv3.md §7.2: abort dword0 = 0x1, bypass dword0 = 0x9.
        assert_eq!(Ste::abort().0, [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Ste::abort().kind(), SteKind::Abort);
        assert_eq!(Ste::bypass(false).0[0], 0x9);
        assert_eq!(Ste::bypass(true).0[1], 1 << 44);
        assert_eq!(Ste::invalid().kind(), SteKind::Invalid);
        // Stage 1: dword0 = 0xB | CD PA; dword1 with S1CIR=1, S1COR=1,
        // S1CSH=3 (+S1STALLD) = 0x0800_00D4 without S1DSS (docs/hw/smmuv3.md gives
        // 0x0800_00D6 with Linux's S1DSS=2, which needs S1CDMax > 0 to matter).
        let s = Ste::stage1(&Stage1Ste {
            cd: BusAddr(0x4101_0000),
            vmid: 0,
            fetch: FetchAttrs::COHERENT,
            stall_disable: true,
        })
        .unwrap();
        assert_eq!(s.0[0], 0x4101_000B);
        assert_eq!(s.0[1], 0x0800_00D4);
        assert_eq!(s.0[2], 0);
        assert_eq!(s.kind(), SteKind::Stage1);
        assert_eq!(s.cd_ptr(), BusAddr(0x4101_0000));
        assert!(s.uses_upper_dwords() && !Ste::abort().uses_upper_dwords());
        let q = Ste::stage1(&Stage1Ste {
            cd: BusAddr(0x4101_0040),
            vmid: 7,
            fetch: FetchAttrs::NON_COHERENT,
            stall_disable: false,
        })
        .unwrap();
        assert_eq!(q.0[1], 2 << 6);
        assert_eq!(q.vmid(), 7);
        assert!(matches!(
            Ste::stage1(&Stage1Ste {
                cd: BusAddr(0x4101_0020),
                vmid: 0,
                fetch: FetchAttrs::COHERENT,
                stall_disable: false
            }),
            Err(Smmuv3Error::BadConfig { .. })
        ));
        assert!(std::format!("{s:?}").contains("Stage1"));
    }
}
