//! What an SMMUv3 implements, read from IDR0/1/3/5, and a typed refusal of
//! what this driver cannot drive.
//!
//! Field meanings: IHI0070 §6.3.1–6.3.6 as restated in `docs/hw/smmuv3.md`
//! §2; the refusal list follows the probe step of docs/hw/smmuv3.md §5 (the same
//! checks Linux `arm_smmu_device_hw_probe()` makes).
#![forbid(unsafe_code)]

use super::error::Smmuv3Error;
use super::regs::{IDR0, IDR1, IDR3, IDR5};
use core::fmt;
use tock_registers::LocalRegisterCopy;

/// A stage-1 translation granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Granule {
    /// 4 KiB.
    Size4K,
    /// 16 KiB.
    Size16K,
    /// 64 KiB.
    Size64K,
}

impl Granule {
    /// log2 of the granule size in bytes.
    pub const fn shift(self) -> u32 {
        match self {
            Self::Size4K => 12,
            Self::Size16K => 14,
            Self::Size64K => 16,
        }
    }

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.shift()
    }

    /// The TLBI range-form TG encoding: 1 = 4K, 2 = 16K, 3 = 64K
    /// (docs/hw/smmuv3.md §10.3).
    pub const fn tlbi_tg(self) -> u64 {
        match self {
            Self::Size4K => 1,
            Self::Size16K => 2,
            Self::Size64K => 3,
        }
    }

    /// The CD.TG0 encoding: 0 = 4K, 1 = 64K, 2 = 16K (docs/hw/smmuv3.md §8.1; same as
    /// TCR_EL1.TG0).
    pub const fn cd_tg0(self) -> u64 {
        match self {
            Self::Size4K => 0,
            Self::Size64K => 1,
            Self::Size16K => 2,
        }
    }

    /// The granule of a given size, if it is one.
    pub const fn from_bytes(bytes: u64) -> Option<Self> {
        match bytes {
            0x1000 => Some(Self::Size4K),
            0x4000 => Some(Self::Size16K),
            0x1_0000 => Some(Self::Size64K),
            _ => None,
        }
    }
}

/// IDR0.STALL_MODEL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallModel {
    /// 0: stall and terminate both supported (STE.S1STALLD may be set).
    StallAndTerminate,
    /// 1: terminate only; stalls unsupported (STE.S1STALLD must be 0 —
    /// QEMU 10.0.2 rejects the STE otherwise, docs/hw/qemu-virt.md §1.8).
    TerminateOnly,
    /// 2: stall forced.
    StallForced,
    /// 3: reserved.
    Reserved,
}

/// Decoded ID registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Raw IDR0.
    pub idr0: u32,
    /// Raw IDR1.
    pub idr1: u32,
    /// Raw IDR3.
    pub idr3: u32,
    /// Raw IDR5.
    pub idr5: u32,
    /// Stage-1 translation (required).
    pub s1p: bool,
    /// Stage-2 translation.  When set (QEMU 10.0.2 `-M virt`), the IOTLB is
    /// tagged with STE.S2VMID even for stage-1-only STEs, so every TLBI_NH_*
    /// must carry that VMID (docs/hw/qemu-virt.md §1.4).
    pub s2p: bool,
    /// AArch32 LPAE tables supported (IDR0.TTF bit 0).
    pub ttf_aarch32: bool,
    /// AArch64 tables supported (IDR0.TTF bit 1; required).
    pub ttf_aarch64: bool,
    /// IDR0.COHACC: the SMMU can access tables/queues coherently.
    pub coherent: bool,
    /// Broadcast TLB maintenance.
    pub btm: bool,
    /// Hardware table updates (0 none, 1 AF, 2 AF + dirty).
    pub httu: u8,
    /// EL2 StreamWorld and TLBI_EL2_*.
    pub hyp: bool,
    /// PCIe ATS.
    pub ats: bool,
    /// MSIs.
    pub msi: bool,
    /// CMD_SYNC may signal SEV.
    pub sev: bool,
    /// PCIe PRI.
    pub pri: bool,
    /// 16-bit ASIDs (else 8).
    pub asid16: bool,
    /// 16-bit VMIDs (else 8).
    pub vmid16: bool,
    /// Two-level CD tables.
    pub cd2l: bool,
    /// Stall model.
    pub stall_model: StallModel,
    /// Two-level stream tables supported (IDR0.ST_LEVEL = 1).
    pub two_level_strtab: bool,
    /// StreamID bits.
    pub sid_bits: u8,
    /// SubstreamID bits.
    pub ssid_bits: u8,
    /// log2 of the largest command queue.
    pub cmdq_max_log2: u8,
    /// log2 of the largest event queue.
    pub evtq_max_log2: u8,
    /// Incoming memory type/shareability overridable (STE.SHCFG honoured).
    pub attr_types_ovr: bool,
    /// Range invalidation (IDR3.RIL).
    pub ril: bool,
    /// Hierarchical attribute disable.
    pub had: bool,
    /// Break-before-make level.
    pub bbml: u8,
    /// Output address size in bits (IDR5.OAS).
    pub oas_bits: u8,
    /// The IDR5.OAS encoding itself (what CD.IPS takes).
    pub oas_code: u8,
    /// 4 KiB granule.
    pub gran4k: bool,
    /// 16 KiB granule.
    pub gran16k: bool,
    /// 64 KiB granule.
    pub gran64k: bool,
    /// 52-bit input addresses (IDR5.VAX = 1).
    pub vax52: bool,
}

fn refuse(register: &'static str, value: u32, reason: &'static str) -> Smmuv3Error {
    Smmuv3Error::Unsupported {
        register,
        value,
        reason,
    }
}

/// IDR5.OAS / CD.IPS encoding → bits (docs/hw/smmuv3.md §2).
pub const fn oas_bits(code: u8) -> Option<u8> {
    match code {
        0 => Some(32),
        1 => Some(36),
        2 => Some(40),
        3 => Some(42),
        4 => Some(44),
        5 => Some(48),
        6 => Some(52),
        _ => None,
    }
}

impl Features {
    /// Decodes the four ID registers, refusing an SMMU this driver cannot
    /// drive: no stage 1, no AArch64 table format, big-endian-only tables,
    /// relative or preset bases (Linux refuses those too, docs/hw/smmuv3.md §2), a
    /// reserved OAS, no granule at all, or a command queue too small to hold
    /// a command and its CMD_SYNC.
    pub fn from_idrs(idr0: u32, idr1: u32, idr3: u32, idr5: u32) -> Result<Self, Smmuv3Error> {
        let r0: LocalRegisterCopy<u32, IDR0::Register> = LocalRegisterCopy::new(idr0);
        let r1: LocalRegisterCopy<u32, IDR1::Register> = LocalRegisterCopy::new(idr1);
        let r3: LocalRegisterCopy<u32, IDR3::Register> = LocalRegisterCopy::new(idr3);
        let r5: LocalRegisterCopy<u32, IDR5::Register> = LocalRegisterCopy::new(idr5);

        if !r0.is_set(IDR0::S1P) {
            return Err(refuse("IDR0", idr0, "no stage-1 translation (S1P=0)"));
        }
        let ttf = r0.read(IDR0::TTF);
        if ttf & 2 == 0 {
            return Err(refuse(
                "IDR0",
                idr0,
                "no AArch64 translation table format (TTF lacks bit 1)",
            ));
        }
        match r0.read(IDR0::TTENDIAN) {
            0 | 2 => {}
            3 => {
                return Err(refuse(
                    "IDR0",
                    idr0,
                    "big-endian translation tables only (TTENDIAN=3)",
                ))
            }
            _ => return Err(refuse("IDR0", idr0, "reserved TTENDIAN value")),
        }
        if r1.is_set(IDR1::REL) || r1.is_set(IDR1::QUEUES_PRESET) || r1.is_set(IDR1::TABLES_PRESET)
        {
            return Err(refuse(
                "IDR1",
                idr1,
                "relative or preset table/queue bases (REL/QUEUES_PRESET/TABLES_PRESET)",
            ));
        }
        let cmdq_max_log2 = r1.read(IDR1::CMDQS) as u8;
        if cmdq_max_log2 < 1 {
            return Err(refuse(
                "IDR1",
                idr1,
                "command queue cannot hold a command and a CMD_SYNC (CMDQS=0)",
            ));
        }
        let oas_code = r5.read(IDR5::OAS) as u8;
        let Some(oas) = oas_bits(oas_code) else {
            return Err(refuse("IDR5", idr5, "reserved OAS encoding"));
        };
        let (gran4k, gran16k, gran64k) = (
            r5.is_set(IDR5::GRAN4K),
            r5.is_set(IDR5::GRAN16K),
            r5.is_set(IDR5::GRAN64K),
        );
        if !(gran4k || gran16k || gran64k) {
            return Err(refuse("IDR5", idr5, "no translation granule supported"));
        }
        let stall_model = match r0.read(IDR0::STALL_MODEL) {
            0 => StallModel::StallAndTerminate,
            1 => StallModel::TerminateOnly,
            2 => StallModel::StallForced,
            _ => StallModel::Reserved,
        };
        // Stall forced: a CD with S = 0 is ILLEGAL (C_BAD_CD for every
        // stream), and a CD with S = 1 would stall faulting transactions
        // until software resumes them (CMD_RESUME), which this driver never
        // does — a faulting DMA would hang the master instead of being
        // reported and aborted.  Refused at probe (docs/hw/smmuv3.md §2;
        // Linux only enables stalls for masters that can take them).
        match stall_model {
            StallModel::StallForced => {
                return Err(refuse(
                    "IDR0",
                    idr0,
                    "IDR0.STALL_MODEL = 0b10 (stall forced): every CD would need S = 1 and faulting transactions a CMD_RESUME; this driver only terminates",
                ))
            }
            StallModel::Reserved => {
                return Err(refuse("IDR0", idr0, "IDR0.STALL_MODEL = 0b11 is reserved"))
            }
            StallModel::StallAndTerminate | StallModel::TerminateOnly => {}
        }
        Ok(Self {
            idr0,
            idr1,
            idr3,
            idr5,
            s1p: true,
            s2p: r0.is_set(IDR0::S2P),
            ttf_aarch32: ttf & 1 != 0,
            ttf_aarch64: true,
            coherent: r0.is_set(IDR0::COHACC),
            btm: r0.is_set(IDR0::BTM),
            httu: r0.read(IDR0::HTTU) as u8,
            hyp: r0.is_set(IDR0::HYP),
            ats: r0.is_set(IDR0::ATS),
            msi: r0.is_set(IDR0::MSI),
            sev: r0.is_set(IDR0::SEV),
            pri: r0.is_set(IDR0::PRI),
            asid16: r0.is_set(IDR0::ASID16),
            vmid16: r0.is_set(IDR0::VMID16),
            cd2l: r0.is_set(IDR0::CD2L),
            stall_model,
            two_level_strtab: r0.read(IDR0::ST_LEVEL) == 1,
            sid_bits: r1.read(IDR1::SIDSIZE) as u8,
            ssid_bits: r1.read(IDR1::SSIDSIZE) as u8,
            cmdq_max_log2,
            evtq_max_log2: r1.read(IDR1::EVENTQS) as u8,
            attr_types_ovr: r1.is_set(IDR1::ATTR_TYPES_OVR),
            ril: r3.is_set(IDR3::RIL),
            had: r3.is_set(IDR3::HAD),
            bbml: r3.read(IDR3::BBML) as u8,
            oas_bits: oas,
            oas_code,
            gran4k,
            gran16k,
            gran64k,
            vax52: r5.read(IDR5::VAX) == 1,
        })
    }

    /// ASID width in bits.
    pub fn asid_bits(&self) -> u8 {
        if self.asid16 {
            16
        } else {
            8
        }
    }

    /// VMID width in bits.
    pub fn vmid_bits(&self) -> u8 {
        if self.vmid16 {
            16
        } else {
            8
        }
    }

    /// Whether `g` is a supported stage-1 granule.
    pub fn supports(&self, g: Granule) -> bool {
        match g {
            Granule::Size4K => self.gran4k,
            Granule::Size16K => self.gran16k,
            Granule::Size64K => self.gran64k,
        }
    }

    /// Page and block sizes available with granule `g` (bitmap of sizes, as
    /// Linux derives it from IDR5, docs/hw/smmuv3.md §2): 4K → 4K|2M|1G,
    /// 16K → 16K|32M, 64K → 64K|512M (+4T with 52-bit OAS).  0 when `g` is
    /// not supported.
    pub fn page_sizes(&self, g: Granule) -> u64 {
        if !self.supports(g) {
            return 0;
        }
        match g {
            Granule::Size4K => (1 << 12) | (1 << 21) | (1 << 30),
            Granule::Size16K => (1 << 14) | (1 << 25),
            Granule::Size64K => {
                let base = (1u64 << 16) | (1 << 29);
                if self.oas_bits == 52 {
                    base | (1 << 42)
                } else {
                    base
                }
            }
        }
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "S1P S2P={} ASID{} VMID{} SID={}b {} strtab, CMDQ<=2^{} EVTQ<=2^{}, OAS={}b, gran{}{}{}, RIL={} COHACC={} HYP={} stall={:?}",
            self.s2p as u8,
            self.asid_bits(),
            self.vmid_bits(),
            self.sid_bits,
            if self.two_level_strtab { "2-level" } else { "linear" },
            self.cmdq_max_log2,
            self.evtq_max_log2,
            self.oas_bits,
            if self.gran4k { " 4K" } else { "" },
            if self.gran16k { " 16K" } else { "" },
            if self.gran64k { " 64K" } else { "" },
            self.ril as u8,
            self.coherent as u8,
            self.hyp as u8,
            self.stall_model,
        )
    }
}

/// QEMU 10.0.2 `-M virt,iommu=smmuv3` ID registers (docs/hw/qemu-virt.md §1.3),
/// for host tests: IDR0, IDR1, IDR3, IDR5.
pub const QEMU_VIRT_IDRS: [u32; 4] = [0x0D44_101B, 0x0273_0010, 0x1414, 0x74];

/// QEMU 10.0.2 `-M virt-9.1,iommu=smmuv3` (stage-1 only) ID registers.
pub const QEMU_VIRT91_IDRS: [u32; 4] = [0x0D44_101A, 0x0273_0010, 0x1404, 0x74];

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu() -> Features {
        let [a, b, c, d] = QEMU_VIRT_IDRS;
        Features::from_idrs(a, b, c, d).unwrap()
    }

    #[test]
    fn qemu_virt_decodes_as_measured() {
        let f = qemu();
        assert!(f.s1p && f.s2p);
        assert!(f.ttf_aarch64 && !f.ttf_aarch32);
        assert!(f.coherent && f.asid16 && f.vmid16);
        assert!(!f.msi && !f.sev && !f.hyp && !f.cd2l && !f.pri && !f.ats);
        assert_eq!(f.stall_model, StallModel::TerminateOnly);
        assert!(f.two_level_strtab);
        assert_eq!(f.sid_bits, 16);
        assert_eq!(f.ssid_bits, 0);
        assert_eq!(f.cmdq_max_log2, 19);
        assert_eq!(f.evtq_max_log2, 19);
        assert!(f.ril && f.had);
        assert_eq!(f.bbml, 2);
        assert_eq!(f.oas_bits, 44);
        assert!(f.gran4k && f.gran16k && f.gran64k && !f.vax52);
        assert_eq!(f.page_sizes(Granule::Size4K), 0x4020_1000);
        let [a, b, c, d] = QEMU_VIRT91_IDRS;
        let s1 = Features::from_idrs(a, b, c, d).unwrap();
        assert!(!s1.s2p);
        let text = std::format!("{f}");
        assert!(text.contains("RIL=1"), "{text}");
    }

    #[test]
    fn refusals_name_register_and_reason() {
        let [a, b, c, d] = QEMU_VIRT_IDRS;
        let no_s1 = Features::from_idrs(a & !2, b, c, d).unwrap_err();
        assert!(matches!(
            no_s1,
            Smmuv3Error::Unsupported { register: "IDR0", reason, .. } if reason.contains("S1P")
        ));
        let aarch32 = Features::from_idrs((a & !0xc) | 0x4, b, c, d).unwrap_err();
        assert!(
            matches!(aarch32, Smmuv3Error::Unsupported { reason, .. } if reason.contains("AArch64"))
        );
        let be = Features::from_idrs(a | (3 << 21), b, c, d).unwrap_err();
        assert!(
            matches!(be, Smmuv3Error::Unsupported { reason, .. } if reason.contains("big-endian"))
        );
        let preset = Features::from_idrs(a, b | (1 << 29), c, d).unwrap_err();
        assert!(
            matches!(preset, Smmuv3Error::Unsupported { register: "IDR1", value, .. } if value == b | (1 << 29))
        );
        let no_gran = Features::from_idrs(a, b, c, d & !0x70).unwrap_err();
        assert!(matches!(
            no_gran,
            Smmuv3Error::Unsupported {
                register: "IDR5",
                ..
            }
        ));
        let oas = Features::from_idrs(a, b, c, (d & !7) | 7).unwrap_err();
        assert!(matches!(oas, Smmuv3Error::Unsupported { reason, .. } if reason.contains("OAS")));
        // Issue 11 item 5: stall forced would make every CD C_BAD_CD (S = 0)
        // or hang faulting masters (S = 1 without CMD_RESUME).
        let forced = (a & !(3 << 24)) | (2 << 24);
        let stall = Features::from_idrs(forced, b, c, d).unwrap_err();
        assert!(matches!(
            stall,
            Smmuv3Error::Unsupported { register: "IDR0", value, reason }
                if value == forced && reason.contains("STALL_MODEL = 0b10")
        ));
        let reserved = Features::from_idrs(a | (3 << 24), b, c, d).unwrap_err();
        assert!(
            matches!(reserved, Smmuv3Error::Unsupported { reason, .. } if reason.contains("0b11"))
        );
        // Stall-and-terminate is fine (S1STALLD is set in the STE instead).
        assert!(Features::from_idrs(a & !(3 << 24), b, c, d).is_ok());
    }

    #[test]
    fn granule_encodings() {
        assert_eq!(Granule::Size4K.tlbi_tg(), 1);
        assert_eq!(Granule::Size16K.tlbi_tg(), 2);
        assert_eq!(Granule::Size64K.tlbi_tg(), 3);
        assert_eq!(Granule::Size16K.cd_tg0(), 2);
        assert_eq!(Granule::Size64K.cd_tg0(), 1);
        assert_eq!(Granule::from_bytes(0x4000), Some(Granule::Size16K));
        assert_eq!(Granule::from_bytes(0x2000), None);
    }
}
