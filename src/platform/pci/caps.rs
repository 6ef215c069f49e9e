//! The PCI capability list of a function (PCI Local Bus Spec 3.0 §6.7):
//! Status bit 4 says a list exists, the byte at 0x34 points at the first
//! entry, each entry starts with `{u8 id, u8 next}`.  Vendor-specific
//! capabilities (ID 0x09) carry the virtio 1.x PCI layout (virtio 1.2
//! §4.1.4), which is why the first bytes of every entry are kept.
#![forbid(unsafe_code)]

use super::config::{self, Bdf};
use super::ecam::Ecam;
use crate::mmio::Mmio;
use alloc::vec::Vec;

/// Capability ID of a vendor-specific capability (PCI 3.0 Appendix H).
pub const CAP_VENDOR: u8 = 0x09;
/// Status register bit 4 (bit 20 of the dword at 0x04): capability list.
const STATUS_CAP_LIST: u32 = 1 << 20;
/// Dwords kept per capability: enough for `struct virtio_pci_notify_cap`
/// (20 bytes, virtio 1.2 §4.1.4.4).
pub const CAP_DWORDS: usize = 5;
/// A list longer than this is a loop (config space has room for 48 4-dword
/// entries after the 64-byte header).
const MAX_CAPS: usize = 48;

/// One entry of the capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Capability ID.
    pub id: u8,
    /// Config-space offset of the entry.
    pub offset: u8,
    /// The first [`CAP_DWORDS`] dwords of the entry, as read.
    pub dwords: [u32; CAP_DWORDS],
}

impl Capability {
    /// The byte at `off` within the entry (`None` past what was kept).
    pub fn byte(&self, off: usize) -> Option<u8> {
        let w = self.dwords.get(off / 4)?;
        Some((w >> ((off % 4) * 8)) as u8)
    }

    /// The little-endian dword at `off` (4-byte aligned) within the entry.
    pub fn dword(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) {
            return None;
        }
        self.dwords.get(off / 4).copied()
    }
}

/// Walks the capability list of `bdf`.  Pointers below the 64-byte header
/// end the walk, and so does a list longer than config space can hold, so a
/// broken or looping list cannot hang enumeration.
pub fn read_capabilities<M: Mmio>(ecam: &Ecam<M>, bdf: Bdf) -> Vec<Capability> {
    let mut caps = Vec::new();
    if ecam.read32(bdf, config::COMMAND_STATUS) & STATUS_CAP_LIST == 0 {
        return caps;
    }
    let mut ptr = (ecam.read32(bdf, config::CAP_PTR) & 0xfc) as u8;
    while ptr >= 0x40 && caps.len() < MAX_CAPS {
        let mut dwords = [0u32; CAP_DWORDS];
        for (i, d) in dwords.iter_mut().enumerate() {
            let off = usize::from(ptr) + 4 * i;
            *d = if off < 256 { ecam.read32(bdf, off) } else { 0 };
        }
        caps.push(Capability {
            id: dwords[0] as u8,
            offset: ptr,
            dwords,
        });
        ptr = ((dwords[0] >> 8) & 0xfc) as u8;
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_and_dword_accessors() {
        let c = Capability {
            id: CAP_VENDOR,
            offset: 0x40,
            dwords: [0x0110_5009, 0x0000_0004, 0x1000, 0x1000, 4],
        };
        assert_eq!(c.byte(0), Some(0x09));
        assert_eq!(c.byte(1), Some(0x50));
        assert_eq!(c.byte(3), Some(0x01));
        assert_eq!(c.byte(4), Some(0x04));
        assert_eq!(c.byte(20), None);
        assert_eq!(c.dword(8), Some(0x1000));
        assert_eq!(c.dword(6), None);
        assert_eq!(c.dword(20), None);
    }
}
