//! Where a virtio 1.x PCI device keeps its structures: the vendor-specific
//! capabilities `struct virtio_pci_cap` (virtio 1.2 §4.1.4) name a BAR, an
//! offset and a length for the common configuration (cfg_type 1), the
//! notification area (2, with `notify_off_multiplier`, §4.1.4.4), the ISR
//! status (3) and the device-specific configuration (4).
#![forbid(unsafe_code)]

use super::VirtioError;
use crate::platform::pci::{Capability, CAP_VENDOR};

/// `cfg_type` of the common configuration.
pub const CFG_COMMON: u8 = 1;
/// `cfg_type` of the notification structure.
pub const CFG_NOTIFY: u8 = 2;
/// `cfg_type` of the ISR status.
pub const CFG_ISR: u8 = 3;
/// `cfg_type` of the device-specific configuration.
pub const CFG_DEVICE: u8 = 4;

/// PCI vendor ID of virtio devices (§4.1.2).
pub const VENDOR: u16 = 0x1af4;
/// Modern device IDs are 0x1040 + virtio device ID (§4.1.2.1).
pub const MODERN_BASE: u16 = 0x1040;

/// One structure: `length` bytes at `offset` in BAR `bar`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// BAR index (0..5).
    pub bar: u8,
    /// Byte offset in the BAR.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The structures of one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Common configuration.
    pub common: Region,
    /// Notification area.
    pub notify: Region,
    /// Queue notify address = notify.offset + queue_notify_off * this.
    pub notify_multiplier: u32,
    /// ISR status (we poll, so it is only reported).
    pub isr: Option<Region>,
    /// Device-specific configuration (absent for devices without one).
    pub device: Option<Region>,
}

fn region(c: &Capability) -> Option<(u8, Region)> {
    let cfg_type = c.byte(3)?;
    let bar = c.byte(4)?;
    // §4.1.4: BAR values 0x6..0xff are reserved and must be ignored.
    if bar > 5 {
        return None;
    }
    Some((
        cfg_type,
        Region {
            bar,
            offset: c.dword(8)?,
            length: c.dword(12)?,
        },
    ))
}

/// Parses the capability list.  The first capability of each type wins
/// (§4.1.4: "the driver SHOULD use the first instance").
pub fn parse_layout(caps: &[Capability]) -> Result<Layout, VirtioError> {
    let mut common = None;
    let mut notify = None;
    let mut isr = None;
    let mut device = None;
    for c in caps.iter().filter(|c| c.id == CAP_VENDOR) {
        let Some((ty, r)) = region(c) else { continue };
        match ty {
            CFG_COMMON if common.is_none() => common = Some(r),
            CFG_NOTIFY if notify.is_none() => {
                if let Some(m) = c.dword(16) {
                    notify = Some((r, m));
                }
            }
            CFG_ISR if isr.is_none() => isr = Some(r),
            CFG_DEVICE if device.is_none() => device = Some(r),
            _ => {}
        }
    }
    let common = common.ok_or(VirtioError::MissingCapability {
        cfg_type: CFG_COMMON,
    })?;
    let (notify, notify_multiplier) = notify.ok_or(VirtioError::MissingCapability {
        cfg_type: CFG_NOTIFY,
    })?;
    Ok(Layout {
        common,
        notify,
        notify_multiplier,
        isr,
        device,
    })
}

impl Layout {
    /// Checks that every structure is in the common configuration's BAR,
    /// 4-byte aligned and inside its `bar_size` bytes (this transport maps
    /// one BAR; [`Transport`](super::Transport) relies on this check).
    pub fn check_one_bar(&self, bar_size: u64) -> Result<(), VirtioError> {
        let all = [
            (CFG_COMMON, Some(self.common)),
            (CFG_NOTIFY, Some(self.notify)),
            (CFG_ISR, self.isr),
            (CFG_DEVICE, self.device),
        ];
        for (cfg_type, r) in all {
            let Some(r) = r else { continue };
            if !r.offset.is_multiple_of(4) {
                return Err(VirtioError::Misaligned {
                    cfg_type,
                    offset: r.offset,
                });
            }
            if r.bar != self.common.bar {
                return Err(VirtioError::RegionsInSeveralBars {
                    common_bar: self.common.bar,
                    cfg_type,
                    bar: r.bar,
                });
            }
            if u64::from(r.offset) + u64::from(r.length) > bar_size {
                return Err(VirtioError::RegionOutsideBar {
                    cfg_type,
                    offset: r.offset,
                    length: r.length,
                    bar_size,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec::Vec;

    /// The capability list QEMU 10.0.2 gives a modern virtio-pci device:
    /// everything in BAR4, 4 KiB apart (hw/virtio/virtio-pci.c).
    pub fn qemu_caps() -> Vec<Capability> {
        let cap = |off: u8, ty: u8, offset: u32, len: u32, extra: u32| Capability {
            id: CAP_VENDOR,
            offset: off,
            dwords: [
                u32::from(CAP_VENDOR) | u32::from(ty) << 24 | 16 << 16,
                4,
                offset,
                len,
                extra,
            ],
        };
        std::vec![
            Capability {
                id: 0x11,
                offset: 0x98,
                dwords: [0x11; 5]
            },
            cap(0x84, CFG_COMMON, 0, 0x1000, 0),
            cap(0x70, CFG_ISR, 0x1000, 0x1000, 0),
            cap(0x60, CFG_DEVICE, 0x2000, 0x1000, 0),
            cap(0x50, CFG_NOTIFY, 0x3000, 0x1000, 4),
            cap(0x40, CFG_COMMON, 0x9000, 0x10, 0),
        ]
    }

    #[test]
    fn qemu_layout() {
        let l = parse_layout(&qemu_caps()).unwrap();
        assert_eq!(
            l.common,
            Region {
                bar: 4,
                offset: 0,
                length: 0x1000
            },
            "the first common capability wins"
        );
        assert_eq!(l.notify.offset, 0x3000);
        assert_eq!(l.notify_multiplier, 4);
        assert_eq!(l.device.unwrap().offset, 0x2000);
        assert_eq!(l.isr.unwrap().offset, 0x1000);
        l.check_one_bar(0x4000).unwrap();
        assert_eq!(
            l.check_one_bar(0x2000),
            Err(VirtioError::RegionOutsideBar {
                cfg_type: CFG_NOTIFY,
                offset: 0x3000,
                length: 0x1000,
                bar_size: 0x2000
            })
        );
    }

    #[test]
    fn missing_notify_is_named() {
        let caps: Vec<_> = qemu_caps()
            .into_iter()
            .filter(|c| c.byte(3) != Some(CFG_NOTIFY))
            .collect();
        assert_eq!(
            parse_layout(&caps),
            Err(VirtioError::MissingCapability {
                cfg_type: CFG_NOTIFY
            })
        );
    }
}
