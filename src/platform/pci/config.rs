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
/// Capabilities pointer (type 0 and type 1).
pub const CAP_PTR: usize = 0x34;

/// Type 1 (PCI-to-PCI bridge) header, PCI-to-PCI Bridge Architecture Spec
/// 1.2 §3.2: primary (bits 0..7), secondary (8..15) and subordinate
/// (16..23) bus numbers, secondary latency timer (24..31).
pub const BRIDGE_BUSES: usize = 0x18;
/// Type 1: I/O base (byte 0x1c) and limit (0x1d), secondary status (0x1e,
/// write-1-to-clear).  Address bits 15..12 sit in bits 7..4; bits 3..0 say
/// 16-bit (0) or 32-bit (1) decode.
pub const BRIDGE_IO: usize = 0x1c;
/// Type 1: memory base (bits 15..4 = address bits 31..20) and limit (bits
/// 31..20 = limit address bits 31..20); non-prefetchable, 32-bit only.
pub const BRIDGE_MEM: usize = 0x20;
/// Type 1: prefetchable memory base/limit, laid out as [`BRIDGE_MEM`]; bits
/// 3..0 of the base say 32-bit (0) or 64-bit (1) decode.
pub const BRIDGE_PREF: usize = 0x24;
/// Type 1: prefetchable base, address bits 63..32.
pub const BRIDGE_PREF_BASE_HI: usize = 0x28;
/// Type 1: prefetchable limit, address bits 63..32.
pub const BRIDGE_PREF_LIMIT_HI: usize = 0x2c;
/// Type 1: I/O base (bits 15..0) and limit (31..16), address bits 31..16.
pub const BRIDGE_IO_HI: usize = 0x30;

/// Capability ID of the PCI Express capability (PCIe Base Spec §7.5.3).
pub const CAP_PCIE: u8 = 0x10;
/// PCIe capability register, Device/Port Type (bits 7..4 of the byte at
/// capability + 2): Root Port of a Root Complex.
pub const PCIE_TYPE_ROOT_PORT: u8 = 0x4;
/// Device/Port Type: upstream port of a switch.
pub const PCIE_TYPE_UPSTREAM: u8 = 0x5;
/// Device/Port Type: downstream port of a switch.
pub const PCIE_TYPE_DOWNSTREAM: u8 = 0x6;
/// Device/Port Type: PCI Express to PCI/PCI-X bridge.
pub const PCIE_TYPE_PCIE_TO_PCI: u8 = 0x7;
/// Device/Port Type: PCI/PCI-X to PCI Express bridge.
pub const PCIE_TYPE_PCI_TO_PCIE: u8 = 0x8;

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
