//! sun50i fault registers → [`Fault`] records (docs/hw/sun50i.md §8).
//!
//! * L1 / L2 entry invalid (INT_STA bits 16 / 17): the IOVA in
//!   INT_ERR_ADDR_L1/_L2, the entry in INT_ERR_DATA_L1/_L2, the masters
//!   that met it in L1PG_INT/L2PG_INT.  A `Translation` fault; no register
//!   says read or write.  When several masters are flagged the latched
//!   IOVA belongs to one of them, which one is not reported: each gets a
//!   record, the IOVA only when a single master is flagged.
//! * Permission fault of master n (INT_STA bit n): IOVA in INT_ERR_ADDR(n),
//!   the PTE in INT_ERR_DATA(n).  The direction is inferred from the PTE's
//!   ACI where its domain forbids exactly one direction (read-only domain:
//!   the access was a write; write-only: a read), as Linux does; the
//!   no-access domain leaves it unknown (Linux assumes a read).
//! * The VA debug port is flagged by bit 31 of L1PG/L2PG (§8, §11): its
//!   records carry [`VA_PORT_STREAM`] (31), the stream the port master
//!   (`va_port.rs`) reports, and count as one more flagged requester when
//!   deciding whether the latched IOVA is unambiguous.
#![forbid(unsafe_code)]

use super::hw::Latched;
use super::va_port::VA_PORT_STREAM;
use super::variant::Variant;
use crate::iommu::pgtable::sun50i::{Sun50i, ACI_RD, ACI_WR};
use crate::iommu::{Access, Fault, FaultKind, RawRecord, StreamId};
use crate::mm::Iova;
use alloc::vec::Vec;

/// INT_STA bit 16.
const L1_INVALID: u32 = 1 << 16;
/// INT_STA bit 17.
const L2_INVALID: u32 = 1 << 17;
/// L1PG_INT / L2PG_INT bit 31: the VA debug port.
const PG_DEBUG: u32 = 1 << 31;

/// The direction a permission fault implies from the refusing domain.
pub fn direction_of_aci(aci: u8) -> Option<Access> {
    match aci {
        ACI_RD => Some(Access::Write),
        ACI_WR => Some(Access::Read),
        _ => None,
    }
}

/// The records of everything `l` latched, in register order (L1, L2, then
/// permission faults by master).
pub fn decode(l: &Latched, v: &Variant) -> Vec<Fault> {
    let mut out = Vec::new();
    let masters = v.master_mask();
    let mut invalid = |bit: u32, pg: u32, (addr, data): (u32, u32)| {
        if l.status & bit == 0 {
            return;
        }
        let who = pg & (masters | PG_DEBUG);
        let single = who.count_ones() == 1;
        let streams = (0..v.masters)
            .filter(|m| who & 1 << m != 0)
            .map(|m| StreamId(u32::from(m)))
            .chain((who & PG_DEBUG != 0).then_some(VA_PORT_STREAM));
        for stream in streams {
            out.push(Fault {
                stream,
                iova: single.then_some(Iova(u64::from(addr))),
                access: None,
                kind: FaultKind::Translation,
                raw: RawRecord::new(&[
                    u64::from(l.status),
                    u64::from(pg),
                    u64::from(addr),
                    u64::from(data),
                ]),
            });
        }
    };
    invalid(L1_INVALID, l.l1pg, l.l1);
    invalid(L2_INVALID, l.l2pg, l.l2);
    for m in 0..usize::from(v.masters) {
        if l.status & 1 << m == 0 {
            continue;
        }
        let (addr, pte) = l.perm[m];
        out.push(Fault {
            stream: StreamId(m as u32),
            iova: Some(Iova(u64::from(addr))),
            access: direction_of_aci(Sun50i::pte_aci(pte)),
            kind: FaultKind::Permission,
            raw: RawRecord::new(&[u64::from(l.status), u64::from(addr), u64::from(pte)]),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iommu::sun50i::variant::H616;

    #[test]
    fn invalid_and_permission_faults_decode_with_master_iova_and_direction() {
        let mut l = Latched {
            status: L2_INVALID | 1 << 6,
            l2pg: 1 << 3,
            l2: (0x1234_5000, 0),
            ..Latched::default()
        };
        l.perm[6] = (0x2000_0040, 0x4000_0000 | u32::from(ACI_RD) << 4 | 2);
        let f = decode(&l, &H616);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].stream, StreamId(3));
        assert_eq!(f[0].kind, FaultKind::Translation);
        assert_eq!(f[0].iova, Some(Iova(0x1234_5000)));
        assert_eq!(f[0].access, None);
        assert_eq!(f[1].stream, StreamId(6));
        assert_eq!(f[1].kind, FaultKind::Permission);
        assert_eq!(f[1].access, Some(Access::Write));
        // Two masters met the invalid entry: neither record claims the IOVA.
        l.l2pg = 0b11;
        l.status = L2_INVALID;
        let f = decode(&l, &H616);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.iova.is_none()));
        // The VA port alone (bit 31): its stream, with the IOVA.
        l.l2pg = PG_DEBUG;
        let f = decode(&l, &H616);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].stream, VA_PORT_STREAM);
        assert_eq!(f[0].iova, Some(Iova(0x1234_5000)));
        // The port and a master: both recorded, neither claims the IOVA.
        l.l2pg = PG_DEBUG | 1;
        let f = decode(&l, &H616);
        assert_eq!(
            f.iter().map(|f| f.stream).collect::<Vec<_>>(),
            [StreamId(0), VA_PORT_STREAM]
        );
        assert!(f.iter().all(|f| f.iova.is_none()));
    }
}
