//! Event queue records and global errors, decoded into values a lab log can
//! read.
//!
//! Record layout (32 bytes, 4 dwords): IHI0070 §7.3 as restated in
//! `docs/hw/smmuv3.md` §11.2–§11.3; QEMU 10.0.2's word view and the event
//! types it actually produces are in `docs/hw/qemu-virt.md` §1.6.  Nothing
//! here panics on a hardware value: unknown types decode to
//! [`EventKind::Unknown`], reserved classes to [`FaultClass::Reserved`].
#![forbid(unsafe_code)]

use super::regs::GERROR_MASK;
use core::fmt;

/// Event types (EventType, `dword0[7:0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// 0x01 F_UUT: unsupported upstream transaction.
    UnsupportedTransaction,
    /// 0x02 C_BAD_STREAMID: StreamID outside the stream table.
    BadStreamId,
    /// 0x03 F_STE_FETCH: external abort fetching an STE.
    SteFetch,
    /// 0x04 C_BAD_STE: STE invalid or illegal.
    BadSte,
    /// 0x05 F_BAD_ATS_TREQ.
    BadAtsRequest,
    /// 0x06 F_STREAM_DISABLED.
    StreamDisabled,
    /// 0x07 F_TRANSL_FORBIDDEN.
    TranslationForbidden,
    /// 0x08 C_BAD_SUBSTREAMID.
    BadSubstreamId,
    /// 0x09 F_CD_FETCH: external abort fetching a CD.
    CdFetch,
    /// 0x0A C_BAD_CD: CD invalid or illegal.
    BadCd,
    /// 0x0B F_WALK_EABT: external abort during a table walk.
    WalkExternalAbort,
    /// 0x10 F_TRANSLATION: no valid descriptor.
    Translation,
    /// 0x11 F_ADDR_SIZE: address outside the configured sizes.
    AddressSize,
    /// 0x12 F_ACCESS: access flag clear.
    Access,
    /// 0x13 F_PERMISSION: permissions forbid the access.
    Permission,
    /// 0x20 F_TLB_CONFLICT.
    TlbConflict,
    /// 0x21 F_CFG_CONFLICT.
    ConfigConflict,
    /// 0x24 E_PAGE_REQUEST.
    PageRequest,
    /// 0x25 F_VMS_FETCH.
    VmsFetch,
    /// A type this driver does not know.
    Unknown(u8),
}

impl EventKind {
    /// Decodes EventType.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0x01 => Self::UnsupportedTransaction,
            0x02 => Self::BadStreamId,
            0x03 => Self::SteFetch,
            0x04 => Self::BadSte,
            0x05 => Self::BadAtsRequest,
            0x06 => Self::StreamDisabled,
            0x07 => Self::TranslationForbidden,
            0x08 => Self::BadSubstreamId,
            0x09 => Self::CdFetch,
            0x0A => Self::BadCd,
            0x0B => Self::WalkExternalAbort,
            0x10 => Self::Translation,
            0x11 => Self::AddressSize,
            0x12 => Self::Access,
            0x13 => Self::Permission,
            0x20 => Self::TlbConflict,
            0x21 => Self::ConfigConflict,
            0x24 => Self::PageRequest,
            0x25 => Self::VmsFetch,
            c => Self::Unknown(c),
        }
    }

    /// The EventType value.
    pub const fn code(&self) -> u8 {
        match *self {
            Self::UnsupportedTransaction => 0x01,
            Self::BadStreamId => 0x02,
            Self::SteFetch => 0x03,
            Self::BadSte => 0x04,
            Self::BadAtsRequest => 0x05,
            Self::StreamDisabled => 0x06,
            Self::TranslationForbidden => 0x07,
            Self::BadSubstreamId => 0x08,
            Self::CdFetch => 0x09,
            Self::BadCd => 0x0A,
            Self::WalkExternalAbort => 0x0B,
            Self::Translation => 0x10,
            Self::AddressSize => 0x11,
            Self::Access => 0x12,
            Self::Permission => 0x13,
            Self::TlbConflict => 0x20,
            Self::ConfigConflict => 0x21,
            Self::PageRequest => 0x24,
            Self::VmsFetch => 0x25,
            Self::Unknown(c) => c,
        }
    }

    /// The architectural name.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::UnsupportedTransaction => "F_UUT",
            Self::BadStreamId => "C_BAD_STREAMID",
            Self::SteFetch => "F_STE_FETCH",
            Self::BadSte => "C_BAD_STE",
            Self::BadAtsRequest => "F_BAD_ATS_TREQ",
            Self::StreamDisabled => "F_STREAM_DISABLED",
            Self::TranslationForbidden => "F_TRANSL_FORBIDDEN",
            Self::BadSubstreamId => "C_BAD_SUBSTREAMID",
            Self::CdFetch => "F_CD_FETCH",
            Self::BadCd => "C_BAD_CD",
            Self::WalkExternalAbort => "F_WALK_EABT",
            Self::Translation => "F_TRANSLATION",
            Self::AddressSize => "F_ADDR_SIZE",
            Self::Access => "F_ACCESS",
            Self::Permission => "F_PERMISSION",
            Self::TlbConflict => "F_TLB_CONFLICT",
            Self::ConfigConflict => "F_CFG_CONFLICT",
            Self::PageRequest => "E_PAGE_REQUEST",
            Self::VmsFetch => "F_VMS_FETCH",
            Self::Unknown(_) => "unknown",
        }
    }

    /// The four stage-1/2 translation faults (0x10..=0x13) plus F_WALK_EABT
    /// and F_TLB_CONFLICT: records whose dword1 flags and dword2 input
    /// address describe the faulting transaction.
    pub const fn has_transaction(&self) -> bool {
        matches!(
            self,
            Self::Translation
                | Self::AddressSize
                | Self::Access
                | Self::Permission
                | Self::WalkExternalAbort
                | Self::TlbConflict
                | Self::UnsupportedTransaction
        )
    }

    /// Records that carry a fetch address in dword3 `[51:3]`.
    pub const fn has_fetch_address(&self) -> bool {
        matches!(
            self,
            Self::SteFetch | Self::CdFetch | Self::WalkExternalAbort | Self::VmsFetch
        )
    }
}

/// What the SMMU was doing when the fault arose (dword1 CLASS `[41:40]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultClass {
    /// 0: fetching a CD.
    Cd,
    /// 1: walking translation tables.
    TranslationTable,
    /// 2: translating the input address itself.
    Input,
    /// 3: reserved.
    Reserved,
}

impl FaultClass {
    /// Short name.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Cd => "CD",
            Self::TranslationTable => "TT",
            Self::Input => "IN",
            Self::Reserved => "reserved",
        }
    }
}

/// One decoded event record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// Event type.
    pub kind: EventKind,
    /// StreamID (`dword0[63:32]`).
    pub stream_id: u32,
    /// SubstreamID when SSV = 1.
    pub ssid: Option<u32>,
    /// InputAddr: the IOVA of the transaction (dword2).
    pub iova: u64,
    /// RnW: `true` for a read, `false` for a write (`dword1[35]`).
    pub read: bool,
    /// InD: instruction fetch (`dword1[34]`).
    pub instruction: bool,
    /// PnU: privileged (`dword1[33]`).
    pub privileged: bool,
    /// S2: the fault arose at stage 2 (`dword1[39]`).
    pub stage2: bool,
    /// Stall: the transaction is held and needs CMD_RESUME (`dword1[31]`).
    pub stalled: bool,
    /// STAG (`dword1[15:0]`).
    pub stag: u16,
    /// CLASS (`dword1[41:40]`).
    pub class: FaultClass,
    /// dword3 `[51:3]`: fetch address (F_STE_FETCH/F_CD_FETCH/F_WALK_EABT) or
    /// IPA (stage-2 faults, `[51:12]`).
    pub addr2: u64,
    /// The record as read.
    pub raw: [u64; 4],
}

impl FaultRecord {
    /// Decodes a 32-byte record; every bit pattern decodes.
    pub const fn decode(raw: [u64; 4]) -> Self {
        let d0 = raw[0];
        let d1 = raw[1];
        let ssv = d0 & (1 << 11) != 0;
        Self {
            kind: EventKind::from_code((d0 & 0xff) as u8),
            stream_id: (d0 >> 32) as u32,
            ssid: if ssv {
                Some(((d0 >> 12) & 0xf_ffff) as u32)
            } else {
                None
            },
            iova: raw[2],
            read: d1 & (1 << 35) != 0,
            instruction: d1 & (1 << 34) != 0,
            privileged: d1 & (1 << 33) != 0,
            stage2: d1 & (1 << 39) != 0,
            stalled: d1 & (1 << 31) != 0,
            stag: (d1 & 0xffff) as u16,
            class: match (d1 >> 40) & 3 {
                0 => FaultClass::Cd,
                1 => FaultClass::TranslationTable,
                2 => FaultClass::Input,
                _ => FaultClass::Reserved,
            },
            addr2: raw[3] & (((1 << 52) - 1) & !7),
            raw,
        }
    }
}

impl fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:#04x}) sid={:#x}",
            self.kind.name(),
            self.kind.code(),
            self.stream_id
        )?;
        if let Some(ssid) = self.ssid {
            write!(f, " ssid={ssid:#x}")?;
        }
        if self.kind.has_transaction() {
            write!(
                f,
                " iova={:#x} {} {} {} class={}",
                self.iova,
                if self.read { "read" } else { "write" },
                if self.instruction { "insn" } else { "data" },
                if self.privileged { "priv" } else { "unpriv" },
                self.class.name()
            )?;
            if self.stage2 {
                write!(f, " stage2 ipa={:#x}", self.addr2)?;
            }
            if self.stalled {
                write!(f, " STALLED stag={:#x}", self.stag)?;
            }
        }
        if self.kind.has_fetch_address() {
            write!(f, " fetch={:#x}", self.addr2)?;
        }
        write!(
            f,
            " raw=[{:#018x} {:#018x} {:#018x} {:#018x}]",
            self.raw[0], self.raw[1], self.raw[2], self.raw[3]
        )
    }
}

/// Active global errors: the GERROR bits that differ from GERRORN
/// (docs/hw/smmuv3.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GlobalErrors(pub u32);

impl GlobalErrors {
    const NAMES: [(u32, &'static str); 8] = [
        (0, "CMDQ_ERR"),
        (2, "EVTQ_ABT_ERR"),
        (3, "PRIQ_ABT_ERR"),
        (4, "MSI_CMDQ_ABT_ERR"),
        (5, "MSI_EVTQ_ABT_ERR"),
        (6, "MSI_PRIQ_ABT_ERR"),
        (7, "MSI_GERROR_ABT_ERR"),
        (8, "SFM_ERR"),
    ];

    /// Active errors from the two registers.
    pub const fn from_regs(gerror: u32, gerrorn: u32) -> Self {
        Self((gerror ^ gerrorn) & GERROR_MASK)
    }

    /// No active error.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Command queue error.
    pub const fn cmdq_err(&self) -> bool {
        self.0 & 1 != 0
    }

    /// Event queue write aborted (QEMU also reports a full event queue this
    /// way, docs/hw/qemu-virt.md §1.6): events were lost.
    pub const fn evtq_abort(&self) -> bool {
        self.0 & (1 << 2) != 0
    }

    /// Service failure mode.
    pub const fn service_failure(&self) -> bool {
        self.0 & (1 << 8) != 0
    }
}

impl fmt::Display for GlobalErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (bit, name) in Self::NAMES {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn qemu_translation_fault_decodes() {
        // docs/hw/qemu-virt.md §1.9 T6: type 0x10, SID 0x20, w3 = 0x200 (CLASS=IN,
        // RnW=0: a device write), InputAddr 0x20000.
        let raw = [0x0000_0020_0000_0010, 0x200 << 32, 0x2_0000, 0];
        let r = FaultRecord::decode(raw);
        assert_eq!(r.kind, EventKind::Translation);
        assert_eq!(r.stream_id, 0x20);
        assert_eq!(r.ssid, None);
        assert_eq!(r.iova, 0x2_0000);
        assert!(!r.read && !r.instruction && !r.privileged && !r.stage2);
        assert_eq!(r.class, FaultClass::Input);
        let s = r.to_string();
        assert!(
            s.starts_with("F_TRANSLATION (0x10) sid=0x20 iova=0x20000 write data unpriv class=IN"),
            "{s}"
        );
    }

    #[test]
    fn every_type_byte_decodes_without_panic() {
        for code in 0..=255u8 {
            let k = EventKind::from_code(code);
            assert_eq!(k.code(), code);
            let r = FaultRecord::decode([
                u64::from(code) | (1 << 11) | (7 << 12),
                u64::MAX,
                1,
                u64::MAX,
            ]);
            let _ = r.to_string();
        }
        assert_eq!(EventKind::from_code(0x0c), EventKind::Unknown(0x0c));
        assert_eq!(EventKind::from_code(0x13).name(), "F_PERMISSION");
        let r = FaultRecord::decode([0x03 | (5 << 32), 0, 0, 0x4100_0047]);
        assert_eq!(r.kind, EventKind::SteFetch);
        assert_eq!(r.addr2, 0x4100_0040);
        assert!(r.to_string().contains("fetch=0x41000040"));
        let p = FaultRecord::decode([
            0x13 | (1 << 11) | (3 << 12),
            (1 << 35) | (1 << 33) | (1 << 40),
            0x1000,
            0,
        ]);
        assert_eq!(p.ssid, Some(3));
        assert!(p.read && p.privileged);
        assert_eq!(p.class, FaultClass::TranslationTable);
    }

    #[test]
    fn gerror_names() {
        let g = GlobalErrors::from_regs(0x105, 0x000);
        assert!(g.cmdq_err() && g.evtq_abort() && g.service_failure());
        assert_eq!(g.to_string(), "CMDQ_ERR|EVTQ_ABT_ERR|SFM_ERR");
        assert!(GlobalErrors::from_regs(0x5, 0x5).is_empty());
        assert_eq!(
            GlobalErrors::from_regs(0x2, 0).0,
            0,
            "bit 1 is not architected"
        );
        assert_eq!(GlobalErrors::default().to_string(), "none");
    }
}
