//! SMMUv2 fault registers → [`Fault`] records (docs/hw/smmuv2.md §8).
//!
//! * **Context faults** latch in the bank's FSR (write one to clear), with
//!   the input address in FAR, the direction in FSYNR0.WNR and the stream
//!   in GR1 CBFRSYNRAn.  The kind is the first FSR class bit set: TF
//!   translation, AFF access flag, PF permission, ASF address size;
//!   anything else (EF, TLBMCF, TLBLKF, UUT) is `Other` with the FSR bit.
//!   FAR's bits below the translation granule may be UNKNOWN, so the
//!   driver claims the address only to the granule.  A fault from an
//!   address translation operation (FSYNR0.ATOF) is the ATOS port's,
//!   named with its stream.
//! * **Global faults** latch in sGFSR: an unmatched stream (USF, with
//!   sCR0.USFCFG = 1 — every detached stream), an invalid context (ICF),
//!   a stream match conflict (SMCF) and the others; the stream is in
//!   sGFSYNR1, the address in sGFAR, the direction in sGFSYNR0.WNR.  A
//!   configuration fault: [`FaultKind::Config`].
#![forbid(unsafe_code)]

use super::hw::{CbFault, GlobalFault};
use super::regs::{FSR, FSYNR0, SGFSYNR0};
use crate::iommu::{Access, Fault, FaultKind, RawRecord, StreamId};
use crate::mm::Iova;
use tock_registers::LocalRegisterCopy;

/// The kind of a context fault from its FSR.
pub fn context_kind(fsr: u32) -> FaultKind {
    let r = LocalRegisterCopy::<u32, FSR::Register>::new(fsr);
    if r.is_set(FSR::TF) {
        FaultKind::Translation
    } else if r.is_set(FSR::AFF) {
        FaultKind::AccessFlag
    } else if r.is_set(FSR::PF) {
        FaultKind::Permission
    } else if r.is_set(FSR::ASF) {
        FaultKind::AddressSize
    } else {
        // The lowest other class bit (EF 4, TLBMCF 5, TLBLKF 6, UUT 8).
        FaultKind::Other((fsr & 0x1fe).trailing_zeros() as u8)
    }
}

/// The record of a context fault.  `stream_bits` masks CBFRSYNRA's ID;
/// `atos_stream` is the stream an ATOS fault is named with.
pub fn decode_context(f: &CbFault, stream_bits: u32, atos_stream: StreamId) -> Fault {
    let syn = LocalRegisterCopy::<u32, FSYNR0::Register>::new(f.fsynr0);
    let stream = if syn.is_set(FSYNR0::ATOF) {
        atos_stream
    } else {
        StreamId(f.cbfrsynra & stream_bits)
    };
    Fault {
        stream,
        iova: Some(Iova(f.far)),
        access: Some(if syn.is_set(FSYNR0::WNR) {
            Access::Write
        } else {
            Access::Read
        }),
        kind: context_kind(f.fsr),
        raw: RawRecord::new(&[
            u64::from(f.fsr),
            f.far,
            u64::from(f.fsynr0),
            u64::from(f.cbfrsynra) | (f.cb as u64) << 32,
        ]),
    }
}

/// The record of a global fault.
pub fn decode_global(f: &GlobalFault, stream_bits: u32) -> Fault {
    let syn = LocalRegisterCopy::<u32, SGFSYNR0::Register>::new(f.gfsynr0);
    Fault {
        stream: StreamId(f.gfsynr1 & stream_bits),
        iova: Some(Iova(f.gfar)),
        access: Some(if syn.is_set(SGFSYNR0::WNR) {
            Access::Write
        } else {
            Access::Read
        }),
        kind: FaultKind::Config,
        raw: RawRecord::new(&[
            u64::from(f.gfsr),
            f.gfar,
            u64::from(f.gfsynr0),
            u64::from(f.gfsynr1),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_and_global_records_name_stream_address_direction_and_kind() {
        let f = CbFault {
            cb: 2,
            fsr: 1 << 3,
            far: 0x1_4000_0040,
            fsynr0: 1 << 4,
            cbfrsynra: 0x8000_0814,
        };
        let r = decode_context(&f, 0x7fff, StreamId(0x7fff));
        assert_eq!(r.kind, FaultKind::Permission);
        assert_eq!(r.access, Some(Access::Write));
        assert_eq!(r.stream, StreamId(0x814));
        assert_eq!(r.iova, Some(Iova(0x1_4000_0040)));
        // An ATOS fault names the port.
        let atos = CbFault {
            fsr: 1 << 1,
            fsynr0: 1 << 9,
            ..f
        };
        let r = decode_context(&atos, 0x7fff, StreamId(0x7fff));
        assert_eq!(
            (r.kind, r.stream),
            (FaultKind::Translation, StreamId(0x7fff))
        );
        assert_eq!(r.access, Some(Access::Read));
        assert_eq!(context_kind(1 << 4), FaultKind::Other(4));
        let g = GlobalFault {
            gfsr: 1 << 1,
            gfsynr0: 1 << 1,
            gfsynr1: 0x14e8,
            gfar: 0x9000,
        };
        let r = decode_global(&g, 0x7fff);
        assert_eq!(
            (r.kind, r.stream, r.access),
            (FaultKind::Config, StreamId(0x14e8), Some(Access::Write))
        );
    }
}
