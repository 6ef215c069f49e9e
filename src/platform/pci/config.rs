//! Config-space layout: the type-0 header fields we use and the bus/device/
//! function address of a function (PCI Local Bus Spec 3.0 §6.1, PCIe Base
//! Spec §7.5).
#![forbid(unsafe_code)]

use core::fmt;

/// Vendor ID (16 bits) at 0x00, device ID at 0x02.
pub const VENDOR_DEVICE: usize = 0x00;
/// Command (16 bits) at 0x04, status at 0x06.
pub const COMMAND_STATUS: usize = 0x04;
/// Revision (8) at 0x08, class code (24) at 0x09.
pub const CLASS_REV: usize = 0x08;
/// Cache line, latency, header type (bits 16..23), BIST.
pub const HEADER: usize = 0x0c;
/// BAR0 at 0x10; six BARs of 4 bytes in a type-0 header.
pub const BAR0: usize = 0x10;
/// Capabilities pointer (type 0).
pub const CAP_PTR: usize = 0x34;

/// COMMAND.IO space enable.
pub const CMD_IO: u32 = 1 << 0;
/// COMMAND.Memory space enable.
pub const CMD_MEM: u32 = 1 << 1;
/// COMMAND.Bus master enable: without it DMA silently goes nowhere.
pub const CMD_BUS_MASTER: u32 = 1 << 2;
/// COMMAND.INTx disable.
pub const CMD_INTX_DISABLE: u32 = 1 << 10;

/// A function's address on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// Bus number.
    pub bus: u8,
    /// Device (0..31).
    pub dev: u8,
    /// Function (0..7).
    pub func: u8,
}

impl Bdf {
    /// Builds a BDF; `None` when device or function are out of range.
    pub fn new(bus: u8, dev: u8, func: u8) -> Option<Self> {
        (dev < 32 && func < 8).then_some(Self { bus, dev, func })
    }

    /// The 16-bit requester ID (`bus << 8 | dev << 3 | func`), the input of
    /// the host bridge's `iommu-map` (Linux Documentation/devicetree/bindings/
    /// pci/pci-iommu.txt).
    pub fn rid(self) -> u16 {
        u16::from(self.bus) << 8 | u16::from(self.dev) << 3 | u16::from(self.func)
    }

    /// devfn as QEMU and Linux name it (`dev << 3 | func`).
    pub fn devfn(self) -> u8 {
        self.dev << 3 | self.func
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_and_display() {
        let b = Bdf::new(0, 4, 0).unwrap();
        assert_eq!(b.rid(), 0x20, "edu at 00:04.0 is stream 0x20 on QEMU virt");
        assert_eq!(std::format!("{b}"), "00:04.0");
        assert_eq!(Bdf::new(1, 31, 7).unwrap().rid(), 0x1ff);
        assert!(Bdf::new(0, 32, 0).is_none());
        assert!(Bdf::new(0, 0, 8).is_none());
    }
}
