//! The DART's latched ERROR register → a [`Fault`] record
//! (docs/hw/dart.md §8).
//!
//! * T8020 ERROR (0x040): FLAG \[31\], SID \[27:24\], code bits NO_TTBR 0,
//!   NO_PMD 1, NO_PTE 2 (a translation fault at the TTBR, L1 or L2),
//!   WRITE_FAULT 3 / READ_FAULT 4 (a permission fault), SUBPAGE_PROT 7
//!   (outside the sub-page window: a permission fault), WRITE 10 (m1n1:
//!   the access was a write).
//! * T8110 ERROR (0x100): FLAG \[31\], WRITE_nREAD \[28\] (m1n1), SID
//!   \[27:20\], code bits NO_TTBR 0, NO_PGD 1 (L0), NO_PMD 2, NO_PTE 3,
//!   WRITE_FAULT 4, READ_FAULT 5.
//!
//! The direction: a WRITE_FAULT is a write and a READ_FAULT a read (every
//! source); otherwise m1n1's direction bit (T8020 bit 10, T8110 bit 28;
//! named in m1n1's register files only).  The address is ERROR_ADDR_HI:LO.
#![forbid(unsafe_code)]

use super::hw::ErrorRecord;
use super::variant::Layout;
use crate::iommu::{Access, Fault, FaultKind, RawRecord, StreamId};
use crate::mm::Iova;

/// Code bits of one layout.
struct Codes {
    translation: u32,
    write_fault: u32,
    read_fault: u32,
    subpage: u32,
    write_dir: u32,
}

const T8020: Codes = Codes {
    translation: 0b111,
    write_fault: 1 << 3,
    read_fault: 1 << 4,
    subpage: 1 << 7,
    write_dir: 1 << 10,
};

const T8110: Codes = Codes {
    translation: 0b1111,
    write_fault: 1 << 4,
    read_fault: 1 << 5,
    subpage: 0,
    write_dir: 1 << 28,
};

/// The record of one latched error.
pub fn decode(e: &ErrorRecord, layout: Layout) -> Fault {
    let c = match layout {
        Layout::T8020 => T8020,
        Layout::T8110 => T8110,
    };
    let code = e.code;
    let kind = if code & c.translation != 0 {
        FaultKind::Translation
    } else if code & (c.write_fault | c.read_fault | c.subpage) != 0 {
        FaultKind::Permission
    } else {
        FaultKind::Other((code & 0xff) as u8)
    };
    let access = if code & c.write_fault != 0 {
        Access::Write
    } else if code & c.read_fault != 0 {
        Access::Read
    } else if e.raw & c.write_dir != 0 {
        Access::Write
    } else {
        Access::Read
    };
    Fault {
        stream: StreamId(e.sid),
        iova: Some(Iova(e.iova)),
        access: Some(access),
        kind,
        raw: RawRecord::new(&[u64::from(e.raw), e.iova]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(raw: u32, sid: u32, code: u32) -> ErrorRecord {
        ErrorRecord {
            raw,
            sid,
            code,
            iova: 0x1_2345_6040,
        }
    }

    #[test]
    fn t8020_codes_and_direction() {
        // NO_PTE on a write by SID 3.
        let f = decode(&rec(0x8300_0404, 3, 0x404), Layout::T8020);
        assert_eq!(f.stream, StreamId(3));
        assert_eq!(
            (f.kind, f.access),
            (FaultKind::Translation, Some(Access::Write))
        );
        assert_eq!(f.iova, Some(Iova(0x1_2345_6040)));
        // WRITE_FAULT: a permission fault, a write whatever bit 10 says.
        let f = decode(&rec(0x8000_0008, 0, 0x8), Layout::T8020);
        assert_eq!(
            (f.kind, f.access),
            (FaultKind::Permission, Some(Access::Write))
        );
        // NO_PMD without the direction bit: a read.
        let f = decode(&rec(0x8000_0002, 0, 0x2), Layout::T8020);
        assert_eq!(
            (f.kind, f.access),
            (FaultKind::Translation, Some(Access::Read))
        );
        // SUBPAGE_PROT.
        assert_eq!(
            decode(&rec(0x8000_0080, 0, 0x80), Layout::T8020).kind,
            FaultKind::Permission
        );
    }

    #[test]
    fn t8110_codes_and_direction() {
        // NO_PTE (bit 3) by SID 0x21, WRITE_nREAD set.
        let f = decode(&rec(0x9210_0008, 0x21, 0x8), Layout::T8110);
        assert_eq!(f.stream, StreamId(0x21));
        assert_eq!(
            (f.kind, f.access),
            (FaultKind::Translation, Some(Access::Write))
        );
        // READ_FAULT (bit 5).
        let f = decode(&rec(0x8000_0020, 0, 0x20), Layout::T8110);
        assert_eq!(
            (f.kind, f.access),
            (FaultKind::Permission, Some(Access::Read))
        );
        // NO_PGD (bit 1): the L0 entry of the three-level walk.
        assert_eq!(
            decode(&rec(0x8000_0002, 0, 0x2), Layout::T8110).kind,
            FaultKind::Translation
        );
        // AXI_ERROR (bit 7): neither kind.
        assert_eq!(
            decode(&rec(0x8000_0080, 0, 0x80), Layout::T8110).kind,
            FaultKind::Other(0x80)
        );
    }
}
