//! The virtio-iommu protocol (virtio 1.2 §5.13): feature bits, the
//! configuration layout, request encodings, status codes, the fault event
//! and PROBE properties.  Pure functions over byte slices, tested on the
//! host; QEMU 10.0.2 specifics are from docs/hw/qemu-virt.md §4.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// VIRTIO_IOMMU_F_INPUT_RANGE (§5.13.3).
pub const F_INPUT_RANGE: u64 = 1 << 0;
/// VIRTIO_IOMMU_F_DOMAIN_RANGE.
pub const F_DOMAIN_RANGE: u64 = 1 << 1;
/// VIRTIO_IOMMU_F_MAP_UNMAP.
pub const F_MAP_UNMAP: u64 = 1 << 2;
/// VIRTIO_IOMMU_F_PROBE.
pub const F_PROBE: u64 = 1 << 4;
/// VIRTIO_IOMMU_F_BYPASS_CONFIG: `config.bypass` is writable.
pub const F_BYPASS_CONFIG: u64 = 1 << 6;

/// `struct virtio_iommu_config` offsets (§5.13.4).
pub mod cfg {
    /// le64 page_size_mask.
    pub const PAGE_SIZE_MASK: usize = 0;
    /// le64 input_range.start.
    pub const INPUT_START: usize = 8;
    /// le64 input_range.end (inclusive).
    pub const INPUT_END: usize = 16;
    /// le32 domain_range.start.
    pub const DOMAIN_START: usize = 24;
    /// le32 domain_range.end (inclusive).
    pub const DOMAIN_END: usize = 28;
    /// le32 probe_size.
    pub const PROBE_SIZE: usize = 32;
    /// u8 bypass.
    pub const BYPASS: usize = 36;
}

/// Request types (§5.13.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReqType {
    /// VIRTIO_IOMMU_T_ATTACH.
    Attach = 1,
    /// VIRTIO_IOMMU_T_DETACH.
    Detach = 2,
    /// VIRTIO_IOMMU_T_MAP.
    Map = 3,
    /// VIRTIO_IOMMU_T_UNMAP.
    Unmap = 4,
    /// VIRTIO_IOMMU_T_PROBE.
    Probe = 5,
}

/// VIRTIO_IOMMU_S_OK.
pub const S_OK: u8 = 0;
/// Bytes of `struct virtio_iommu_req_tail` (u8 status, u8 reserved[3]).
pub const TAIL: usize = 4;

/// Status names, for reports (§5.13.6.1: S_OK..S_NOMEM = 0..8).
pub fn status_name(s: u8) -> &'static str {
    match s {
        0 => "OK",
        1 => "IOERR",
        2 => "UNSUPP",
        3 => "DEVERR",
        4 => "INVAL",
        5 => "RANGE",
        6 => "NOENT",
        7 => "FAULT",
        8 => "NOMEM",
        _ => "unknown",
    }
}

/// VIRTIO_IOMMU_MAP_F_READ.
pub const MAP_READ: u32 = 1;
/// VIRTIO_IOMMU_MAP_F_WRITE.
pub const MAP_WRITE: u32 = 2;

/// A request ready to send: the device-readable part (head + body, the
/// tail excluded) and how many bytes the device writes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Type.
    pub kind: ReqType,
    /// Device-readable bytes.
    pub out: Vec<u8>,
    /// Device-writable bytes (properties for PROBE, then the tail).
    pub in_len: usize,
}

fn head(kind: ReqType) -> Vec<u8> {
    alloc::vec![kind as u8, 0, 0, 0]
}

/// `struct virtio_iommu_req_attach` (§5.13.6.3): domain, endpoint, flags
/// (0: not a bypass domain), reserved[4].
pub fn attach(domain: u32, endpoint: u32) -> Request {
    let mut out = head(ReqType::Attach);
    out.extend_from_slice(&domain.to_le_bytes());
    out.extend_from_slice(&endpoint.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    Request {
        kind: ReqType::Attach,
        out,
        in_len: TAIL,
    }
}

/// `struct virtio_iommu_req_detach` (§5.13.6.4): domain, endpoint,
/// reserved[8].
pub fn detach(domain: u32, endpoint: u32) -> Request {
    let mut out = head(ReqType::Detach);
    out.extend_from_slice(&domain.to_le_bytes());
    out.extend_from_slice(&endpoint.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    Request {
        kind: ReqType::Detach,
        out,
        in_len: TAIL,
    }
}

/// `struct virtio_iommu_req_map` (§5.13.6.6): domain, virt_start,
/// virt_end (inclusive), phys_start, flags.
pub fn map(domain: u32, virt_start: u64, virt_end: u64, phys: u64, flags: u32) -> Request {
    let mut out = head(ReqType::Map);
    out.extend_from_slice(&domain.to_le_bytes());
    out.extend_from_slice(&virt_start.to_le_bytes());
    out.extend_from_slice(&virt_end.to_le_bytes());
    out.extend_from_slice(&phys.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    Request {
        kind: ReqType::Map,
        out,
        in_len: TAIL,
    }
}

/// `struct virtio_iommu_req_unmap` (§5.13.6.7): domain, virt_start,
/// virt_end (inclusive), reserved[4].  It must cover whole mappings: one
/// it would split fails with S_RANGE (docs/hw/qemu-virt.md §4).
pub fn unmap(domain: u32, virt_start: u64, virt_end: u64) -> Request {
    let mut out = head(ReqType::Unmap);
    out.extend_from_slice(&domain.to_le_bytes());
    out.extend_from_slice(&virt_start.to_le_bytes());
    out.extend_from_slice(&virt_end.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    Request {
        kind: ReqType::Unmap,
        out,
        in_len: TAIL,
    }
}

/// `struct virtio_iommu_req_probe` (§5.13.6.8): endpoint, reserved[64];
/// the device writes `probe_size` bytes of properties, then the tail.
/// QEMU asserts that the writable part is exactly that large.
pub fn probe(endpoint: u32, probe_size: usize) -> Request {
    let mut out = head(ReqType::Probe);
    out.extend_from_slice(&endpoint.to_le_bytes());
    out.extend_from_slice(&[0; 64]);
    Request {
        kind: ReqType::Probe,
        out,
        in_len: probe_size + TAIL,
    }
}

/// RESV_MEM subtype (§5.13.6.8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResvKind {
    /// VIRTIO_IOMMU_RESV_MEM_T_RESERVED: accesses fault.
    Reserved,
    /// VIRTIO_IOMMU_RESV_MEM_T_MSI: a doorbell passed through untranslated.
    Msi,
    /// Another subtype.
    Other(u8),
}

/// One reserved region an endpoint reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResvRegion {
    /// Subtype.
    pub kind: ResvKind,
    /// First IOVA.
    pub start: u64,
    /// Last IOVA (inclusive).
    pub end: u64,
}

impl ResvRegion {
    /// `true` when `[start, start + size)` touches this region.
    pub fn overlaps(&self, start: u64, size: u64) -> bool {
        size != 0 && start <= self.end && start.saturating_add(size - 1) >= self.start
    }
}

/// A PROBE answer that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadProperty {
    /// Offset of the property in the buffer.
    pub offset: usize,
    /// Its type.
    pub kind: u16,
    /// Its length field.
    pub length: u16,
}

/// PROBE property type RESV_MEM.
const PROBE_T_RESV_MEM: u16 = 1;
/// The type field is 12 bits (§5.13.6.8).
const PROBE_T_MASK: u16 = 0xfff;

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses PROBE properties: `{le16 type, le16 length}` heads, each
/// followed by `length` bytes, ending at type 0 (NONE) or the buffer end.
/// Unknown types are skipped; a property running past the buffer or a
/// RESV_MEM shorter than its fields is an error.
pub fn parse_probe(props: &[u8]) -> Result<Vec<ResvRegion>, BadProperty> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(t), Some(length)) = (le16(props, at), le16(props, at + 2)) {
        let kind = t & PROBE_T_MASK;
        if kind == 0 {
            break;
        }
        let body = at + 4;
        let bad = BadProperty {
            offset: at,
            kind,
            length,
        };
        let end = body + usize::from(length);
        if end > props.len() {
            return Err(bad);
        }
        if kind == PROBE_T_RESV_MEM {
            // struct virtio_iommu_probe_resv_mem: u8 subtype, reserved[3],
            // le64 start, le64 end.
            if length < 20 {
                return Err(bad);
            }
            let (Some(start), Some(last)) = (le64(props, body + 4), le64(props, body + 12)) else {
                return Err(bad);
            };
            let kind = match props[body] {
                0 => ResvKind::Reserved,
                1 => ResvKind::Msi,
                k => ResvKind::Other(k),
            };
            out.push(ResvRegion {
                kind,
                start,
                end: last,
            });
        }
        at = end;
    }
    Ok(out)
}

/// `struct virtio_iommu_fault` (§5.13.7.1), 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// 0 unknown, 1 DOMAIN, 2 MAPPING.
    pub reason: u8,
    /// READ 1, WRITE 2, EXEC 4, ADDRESS 0x100.
    pub flags: u32,
    /// Endpoint ID (PCI RID).
    pub endpoint: u32,
    /// Faulting address (valid with F_ADDRESS).
    pub address: u64,
}

/// VIRTIO_IOMMU_FAULT_R_DOMAIN.
pub const FAULT_R_DOMAIN: u8 = 1;
/// VIRTIO_IOMMU_FAULT_R_MAPPING.
pub const FAULT_R_MAPPING: u8 = 2;
/// VIRTIO_IOMMU_FAULT_F_READ.
pub const FAULT_F_READ: u32 = 1;
/// VIRTIO_IOMMU_FAULT_F_WRITE.
pub const FAULT_F_WRITE: u32 = 2;
/// VIRTIO_IOMMU_FAULT_F_ADDRESS.
pub const FAULT_F_ADDRESS: u32 = 0x100;
/// Size of the fault event.
pub const FAULT_BYTES: usize = 24;

impl FaultEvent {
    /// Decodes the 24 bytes the device wrote; `None` when fewer came back.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < FAULT_BYTES {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(Self {
            reason: b[0],
            flags: u32_at(4),
            endpoint: u32_at(8),
            address: le64(b, 16)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_match_the_spec_structs() {
        // Sizes of the Linux/QEMU packed structs minus the 4-byte tail.
        assert_eq!(attach(1, 0x20).out.len(), 20);
        assert_eq!(detach(1, 0x20).out.len(), 20);
        assert_eq!(map(1, 0x1000, 0x1fff, 0x4000_0000, 3).out.len(), 36);
        assert_eq!(unmap(1, 0x1000, 0x1fff).out.len(), 28);
        let p = probe(0x20, 512);
        assert_eq!((p.out.len(), p.in_len), (72, 516));
        let m = map(
            2,
            0x1000_0000,
            0x1000_0fff,
            0x48a2_5000,
            MAP_READ | MAP_WRITE,
        );
        assert_eq!(m.out[0], 3);
        assert_eq!(&m.out[4..8], &2u32.to_le_bytes());
        assert_eq!(&m.out[8..16], &0x1000_0000u64.to_le_bytes());
        assert_eq!(&m.out[16..24], &0x1000_0fffu64.to_le_bytes());
        assert_eq!(&m.out[24..32], &0x48a2_5000u64.to_le_bytes());
        assert_eq!(&m.out[32..36], &3u32.to_le_bytes());
    }

    fn resv(subtype: u8, start: u64, end: u64) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&20u16.to_le_bytes());
        v.extend_from_slice(&[subtype, 0, 0, 0]);
        v.extend_from_slice(&start.to_le_bytes());
        v.extend_from_slice(&end.to_le_bytes());
        v
    }

    #[test]
    fn probe_properties_parse() {
        // What QEMU virt with GICv2 answers: the GICv2m MSI page.
        let mut b = resv(1, 0x0802_0000, 0x0802_0fff);
        b.resize(512, 0);
        let r = parse_probe(&b).unwrap();
        assert_eq!(
            r,
            [ResvRegion {
                kind: ResvKind::Msi,
                start: 0x0802_0000,
                end: 0x0802_0fff
            }]
        );
        assert!(r[0].overlaps(0x0800_0000, 0x4_0000));
        assert!(!r[0].overlaps(0x0800_0000, 0x1_0000));
        assert!(!r[0].overlaps(0x0802_1000, 0x1000));
        // Unknown type skipped, then a RESERVED region.
        let mut b = std::vec![0x34, 0x02, 4, 0, 9, 9, 9, 9];
        b.extend(resv(0, 0x100, 0x1ff));
        assert_eq!(parse_probe(&b).unwrap()[0].kind, ResvKind::Reserved);
        // Truncated.
        let b = resv(1, 0, 1);
        assert_eq!(
            parse_probe(&b[..20]),
            Err(BadProperty {
                offset: 0,
                kind: 1,
                length: 20
            })
        );
        assert!(parse_probe(&[]).unwrap().is_empty());
    }

    #[test]
    fn fault_event_decodes() {
        let mut b = [0u8; 24];
        b[0] = FAULT_R_MAPPING;
        b[4..8].copy_from_slice(&(FAULT_F_WRITE | FAULT_F_ADDRESS).to_le_bytes());
        b[8..12].copy_from_slice(&0x20u32.to_le_bytes());
        b[16..24].copy_from_slice(&0x1000_2040u64.to_le_bytes());
        let f = FaultEvent::decode(&b).unwrap();
        assert_eq!(f.reason, FAULT_R_MAPPING);
        assert_eq!(f.endpoint, 0x20);
        assert_eq!(f.address, 0x1000_2040);
        assert_eq!(f.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
        assert!(FaultEvent::decode(&b[..23]).is_none());
    }
}
