//! Context Descriptors: 64 bytes (8 dwords) holding a stage-1 translation
//! regime — TCR-like fields, TTB0, MAIR, ASID.
//!
//! Layout: IHI0070 §5.4 as restated in `docs/hw/smmuv3.md` §8 (dword0
//! T0SZ, TG0, IR0, OR0, SH0, EPD0, EPD1, V, IPS, AFFD, AA64, R, A, ASET, ASID;
//! dword1 TTB0 `[51:4]`; dword3 MAIR).  The values come from the page-table
//! engine as plain numbers so this file knows nothing about page tables.
//! QEMU 10.0.2 rejects a CD (C_BAD_CD) unless V, AA64 and A are set, S/HA/HD
//! clear and 16 ≤ T0SZ ≤ 39 (`docs/hw/qemu-virt.md` §1.8).
#![forbid(unsafe_code)]

use super::error::Smmuv3Error;
use super::features::Granule;
use crate::mm::BusAddr;
use core::fmt;

const T0SZ_SHIFT: u32 = 0;
const TG0_SHIFT: u32 = 6;
const IR0_SHIFT: u32 = 8;
const OR0_SHIFT: u32 = 10;
const SH0_SHIFT: u32 = 12;
const EPD1: u64 = 1 << 30;
const V: u64 = 1 << 31;
const IPS_SHIFT: u32 = 32;
const AFFD: u64 = 1 << 35;
const AA64: u64 = 1 << 41;
const R: u64 = 1 << 45;
const A: u64 = 1 << 46;
const ASET: u64 = 1 << 47;
const ASID_SHIFT: u32 = 48;
/// dword1 TTB0 `[51:4]`.
const TTB_MASK: u64 = ((1 << 52) - 1) & !0xf;

/// Number of dwords in a CD.
pub const CD_DWORDS: usize = 8;
/// Size of a CD in bytes.
pub const CD_BYTES: usize = 64;

/// The stage-1 regime a CD describes, as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1Cd {
    /// T0SZ: 64 − input address bits (16..=48 architecturally; QEMU accepts
    /// 16..=39).
    pub t0sz: u8,
    /// TG0: translation granule of TTB0.
    pub granule: Granule,
    /// IR0: walk inner cacheability (TCR encoding: 0 NC, 1 WB-WA, 2 WT, 3 WB).
    pub irgn: u8,
    /// OR0: walk outer cacheability (same encoding).
    pub orgn: u8,
    /// SH0: walk shareability (0 NSH, 2 OSH, 3 ISH).
    pub sh: u8,
    /// IPS: output size encoding (0 = 32 bits .. 5 = 48, 6 = 52), normally
    /// the IDR5.OAS code or smaller.
    pub ips: u8,
    /// ASID tagging this context's TLB entries.
    pub asid: u16,
    /// TTB0: bus address of the root table.
    pub ttb0: BusAddr,
    /// MAIR value (dword3; attribute indices 0..7).
    pub mair: u64,
    /// R: record translation faults in the event queue.
    pub record_faults: bool,
    /// AFFD: access-flag faults disabled (a PTE with AF = 0 translates).
    pub access_flag_fault_disable: bool,
}

impl Stage1Cd {
    /// Walk attributes for a coherent walker: WB-WA, WB-WA, inner shareable
    /// (Linux's choice, docs/hw/smmuv3.md §8.2).
    pub const WALK_COHERENT: (u8, u8, u8) = (1, 1, 3);
    /// Walk attributes for a non-coherent walker: NC, NC, outer shareable.
    pub const WALK_NON_COHERENT: (u8, u8, u8) = (0, 0, 2);
}

/// A Context Descriptor, dword0 first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cd(pub [u64; CD_DWORDS]);

impl Cd {
    /// V = 0: translation through this CD aborts with C_BAD_CD.
    pub const fn invalid() -> Self {
        Self([0; CD_DWORDS])
    }

    /// A valid AArch64 stage-1 CD: TTB0 only (EPD1 = 1), A = 1 (abort on
    /// fault), AA64 = 1, ASET = 1 (not shared with CPU broadcast TLBI),
    /// S = HA = HD = 0.
    pub fn stage1(p: &Stage1Cd) -> Result<Self, Smmuv3Error> {
        let bad = |what, value| Err(Smmuv3Error::BadConfig { what, value });
        if !(16..=48).contains(&p.t0sz) {
            return bad("CD.T0SZ (16..=48)", u64::from(p.t0sz));
        }
        if p.ips > 6 {
            return bad("CD.IPS (0..=6)", u64::from(p.ips));
        }
        if p.sh == 1 || p.irgn > 3 || p.orgn > 3 || p.sh > 3 {
            return bad(
                "CD walk attributes (IR0/OR0 0..=3, SH0 0/2/3)",
                u64::from(p.irgn) << 16 | u64::from(p.orgn) << 8 | u64::from(p.sh),
            );
        }
        let ttb = p.ttb0.as_u64();
        if ttb & !TTB_MASK != 0 {
            return bad("CD.TTB0 (16-byte aligned, below 2^52)", ttb);
        }
        let mut d = [0; CD_DWORDS];
        d[0] = (u64::from(p.t0sz) << T0SZ_SHIFT)
            | (p.granule.cd_tg0() << TG0_SHIFT)
            | (u64::from(p.irgn) << IR0_SHIFT)
            | (u64::from(p.orgn) << OR0_SHIFT)
            | (u64::from(p.sh) << SH0_SHIFT)
            | EPD1
            | V
            | (u64::from(p.ips) << IPS_SHIFT)
            | AA64
            | A
            | ASET
            | (u64::from(p.asid) << ASID_SHIFT);
        if p.record_faults {
            d[0] |= R;
        }
        if p.access_flag_fault_disable {
            d[0] |= AFFD;
        }
        d[1] = ttb;
        d[3] = p.mair;
        Ok(Self(d))
    }

    /// dword0.V.
    pub const fn is_valid(&self) -> bool {
        self.0[0] & V != 0
    }

    /// The ASID.
    pub const fn asid(&self) -> u16 {
        (self.0[0] >> ASID_SHIFT) as u16
    }

    /// TTB0.
    pub const fn ttb0(&self) -> BusAddr {
        BusAddr(self.0[1] & TTB_MASK)
    }

    /// This CD with V cleared (first step of a breaking update).
    pub const fn without_valid(&self) -> Self {
        let mut d = self.0;
        d[0] &= !V;
        Self(d)
    }
}

impl fmt::Debug for Cd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cd(V={} ASID={}", self.is_valid() as u8, self.asid())?;
        for d in self.0 {
            write!(f, " {d:#018x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux_example() -> Stage1Cd {
        let (irgn, orgn, sh) = Stage1Cd::WALK_COHERENT;
        Stage1Cd {
            t0sz: 16,
            granule: Granule::Size4K,
            irgn,
            orgn,
            sh,
            ips: 5,
            asid: 1,
            ttb0: BusAddr(0x8000_1000),
            mair: 0xF404_FF44,
            record_faults: true,
            access_flag_fault_disable: false,
        }
    }

    #[test]
    fn worked_example_from_smmu_md() {
        // docs/hw/smmuv3.md §8.2: 4K, 48-bit IAS/OAS, coherent walk, ASID 1.
        let cd = Cd::stage1(&linux_example()).unwrap();
        assert_eq!(cd.0[0], 0x0001_E205_C000_3510);
        assert_eq!(cd.0[1], 0x8000_1000);
        assert_eq!(cd.0[2], 0);
        assert_eq!(cd.0[3], 0xF404_FF44);
        assert_eq!(&cd.0[4..], &[0; 4]);
        assert!(cd.is_valid() && !cd.without_valid().is_valid());
        assert_eq!(cd.asid(), 1);
        assert_eq!(cd.ttb0(), BusAddr(0x8000_1000));
    }

    #[test]
    fn qemu_probe_cd_and_granules() {
        // docs/hw/qemu-virt.md §1.10 step 3 (ASID 5, T0SZ 32, IPS 40 bits) but with
        // ASET, which QEMU ignores.
        let p = Stage1Cd {
            t0sz: 32,
            ips: 2,
            asid: 5,
            ..linux_example()
        };
        let d0 = Cd::stage1(&p).unwrap().0[0];
        let qemu = 32
            | 1 << 8
            | 1 << 10
            | 3 << 12
            | 1 << 30
            | 1 << 31
            | 2 << 32
            | 1 << 41
            | 1 << 45
            | 1 << 46
            | 5 << 48;
        assert_eq!(d0, qemu | ASET);
        let g16 = Cd::stage1(&Stage1Cd {
            granule: Granule::Size16K,
            ..p
        })
        .unwrap();
        assert_eq!((g16.0[0] >> 6) & 3, 2);
        let g64 = Cd::stage1(&Stage1Cd {
            granule: Granule::Size64K,
            ..p
        })
        .unwrap();
        assert_eq!((g64.0[0] >> 6) & 3, 1);
        let affd = Cd::stage1(&Stage1Cd {
            access_flag_fault_disable: true,
            record_faults: false,
            ..p
        })
        .unwrap();
        assert_eq!(affd.0[0] & (AFFD | R), AFFD);
    }

    #[test]
    fn bad_values_are_refused() {
        let p = linux_example();
        for bad in [
            Stage1Cd { t0sz: 15, ..p },
            Stage1Cd { ips: 7, ..p },
            Stage1Cd { sh: 1, ..p },
            Stage1Cd {
                ttb0: BusAddr(0x8000_1008),
                ..p
            },
        ] {
            assert!(matches!(
                Cd::stage1(&bad),
                Err(Smmuv3Error::BadConfig { .. })
            ));
        }
    }
}
