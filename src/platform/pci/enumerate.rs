//! Bus-0 enumeration: find functions, size their BARs, assign addresses from
//! the host bridge windows, and enable memory decode and bus mastering.
//!
//! Bridges are found and reported but not configured: devices we test sit on
//! the root bus (hw/qemu-virt.md §1.2: an unconfigured bridge yields bus 0 and
//! stream-ID collisions).
#![forbid(unsafe_code)]

use super::caps::{read_capabilities, Capability};
use super::config::{self, Bdf};
use super::ecam::Ecam;
use crate::mm::PhysAddr;
use crate::mmio::Mmio;
use alloc::vec::Vec;
use core::fmt;

/// Kind of a host-bridge window (DT `ranges` phys.hi space code, IEEE 1275
/// PCI binding §2.2.1.1: 0b01 I/O, 0b10 32-bit memory, 0b11 64-bit memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// I/O space.
    Io,
    /// 32-bit memory space.
    Mem32,
    /// 64-bit memory space.
    Mem64,
}

/// One host-bridge window: PCI addresses `pci_base..pci_base+size` appear to
/// the CPU at `cpu_base..`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Space.
    pub kind: WindowKind,
    /// Prefetchable (phys.hi bit 30).
    pub prefetchable: bool,
    /// First PCI bus address.
    pub pci_base: u64,
    /// CPU physical address of `pci_base`.
    pub cpu_base: PhysAddr,
    /// Bytes.
    pub size: u64,
}

/// Kind of a BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O BAR.
    Io,
    /// 32-bit memory BAR.
    Mem32,
    /// 64-bit memory BAR (occupies two BAR slots).
    Mem64,
}

/// A sized (and possibly assigned) BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// BAR index 0..5.
    pub index: u8,
    /// Kind.
    pub kind: BarKind,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// Assigned PCI bus address.
    pub pci_addr: u64,
    /// Where the CPU reaches it.
    pub cpu_addr: PhysAddr,
}

/// A function found on the root bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// Address.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code (base, sub, prog-if).
    pub class: u32,
    /// Revision ID.
    pub revision: u8,
    /// Header type (without the multi-function bit).
    pub header_type: u8,
    /// Assigned memory/I/O BARs.
    pub bars: Vec<Bar>,
    /// The capability list (type-0 functions; empty for bridges).
    pub caps: Vec<Capability>,
}

impl Function {
    /// The BAR with this index, if implemented.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|b| b.index == index)
    }

    /// `true` for PCI-to-PCI bridges (header type 1), which we do not configure.
    pub fn is_bridge(&self) -> bool {
        self.header_type == 1
    }
}

/// Enumeration failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciError {
    /// No window of the right kind has room for a BAR.
    NoWindowFor {
        /// Function.
        bdf: Bdf,
        /// BAR index.
        bar: u8,
        /// Size needed.
        size: u64,
        /// Kind needed.
        kind: BarKind,
    },
    /// A BAR read back a value no valid BAR can have.
    BadBar {
        /// Function.
        bdf: Bdf,
        /// BAR index.
        bar: u8,
        /// Value read after writing all-ones.
        readback: u32,
    },
}

impl fmt::Display for PciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PciError::NoWindowFor { bdf, bar, size, kind } => write!(
                f,
                "{bdf} BAR{bar}: no {kind:?} window has {size:#x} free bytes (check the host bridge `ranges`)"
            ),
            PciError::BadBar { bdf, bar, readback } => {
                write!(f, "{bdf} BAR{bar}: read back {readback:#010x} after sizing")
            }
        }
    }
}

/// Next free address in each window.
struct Allocator<'w> {
    windows: &'w [Window],
    next: Vec<u64>,
}

impl<'w> Allocator<'w> {
    fn new(windows: &'w [Window]) -> Self {
        Self {
            windows,
            next: windows.iter().map(|w| w.pci_base).collect(),
        }
    }

    /// Finds room for `size` bytes (aligned to `size`) in a window that can
    /// hold `kind`: 64-bit BARs prefer a 32-bit window (they work anywhere),
    /// then a 64-bit one.
    fn take(&mut self, kind: BarKind, size: u64) -> Option<(u64, PhysAddr)> {
        let order: &[WindowKind] = match kind {
            BarKind::Io => &[WindowKind::Io],
            BarKind::Mem32 => &[WindowKind::Mem32],
            BarKind::Mem64 => &[WindowKind::Mem32, WindowKind::Mem64],
        };
        for want in order {
            for (i, w) in self.windows.iter().enumerate() {
                if w.kind != *want {
                    continue;
                }
                let Some(addr) = self.next[i].checked_add(size - 1).map(|a| a & !(size - 1)) else {
                    continue;
                };
                let end = addr.checked_add(size)?;
                if end <= w.pci_base.saturating_add(w.size) {
                    self.next[i] = end;
                    return Some((addr, w.cpu_base + (addr - w.pci_base)));
                }
            }
        }
        None
    }
}

/// Enumerates the first bus of `ecam`, assigning BARs from `windows` and
/// enabling memory/I/O decode and bus mastering on every function with BARs.
/// Bridges are listed, not configured.
pub fn enumerate<M: Mmio>(ecam: &Ecam<M>, windows: &[Window]) -> Result<Vec<Function>, PciError> {
    let bus = *ecam.buses().start();
    let mut alloc = Allocator::new(windows);
    let mut found = Vec::new();
    for dev in 0..32u8 {
        for func in 0..8u8 {
            let Some(bdf) = Bdf::new(bus, dev, func) else {
                continue;
            };
            let id = ecam.read32(bdf, config::VENDOR_DEVICE);
            if id & 0xffff == 0xffff || id == 0 {
                if func == 0 {
                    break;
                }
                continue;
            }
            let header = (ecam.read32(bdf, config::HEADER) >> 16) as u8;
            let class_rev = ecam.read32(bdf, config::CLASS_REV);
            let mut f = Function {
                bdf,
                vendor: id as u16,
                device: (id >> 16) as u16,
                class: class_rev >> 8,
                revision: class_rev as u8,
                header_type: header & 0x7f,
                bars: Vec::new(),
                caps: Vec::new(),
            };
            if f.header_type == 0 {
                configure(ecam, &mut f, &mut alloc)?;
                f.caps = read_capabilities(ecam, bdf);
            }
            found.push(f);
            if func == 0 && header & 0x80 == 0 {
                break; // single-function device
            }
        }
    }
    Ok(found)
}

/// Sizes, assigns and enables the BARs of a type-0 function.
fn configure<M: Mmio>(
    ecam: &Ecam<M>,
    f: &mut Function,
    alloc: &mut Allocator<'_>,
) -> Result<(), PciError> {
    let bdf = f.bdf;
    let cmd = ecam.read32(bdf, config::COMMAND_STATUS) & 0xffff;
    // Decode off while BARs hold all-ones.
    ecam.write32(
        bdf,
        config::COMMAND_STATUS,
        cmd & !(config::CMD_MEM | config::CMD_IO),
    );
    let mut index = 0u8;
    let mut enable = config::CMD_BUS_MASTER;
    while index < 6 {
        let reg = config::BAR0 + 4 * usize::from(index);
        let orig = ecam.read32(bdf, reg);
        ecam.write32(bdf, reg, u32::MAX);
        let lo = ecam.read32(bdf, reg);
        ecam.write32(bdf, reg, orig);
        if lo == 0 {
            index += 1;
            continue;
        }
        let (kind, prefetchable, mask) = if lo & 1 == 1 {
            (
                BarKind::Io,
                false,
                u64::from(lo & !0x3) | 0xffff_ffff_0000_0000,
            )
        } else {
            match (lo >> 1) & 3 {
                0 => (
                    BarKind::Mem32,
                    lo & 8 != 0,
                    u64::from(lo & !0xf) | 0xffff_ffff_0000_0000,
                ),
                2 if index < 5 => {
                    let hreg = reg + 4;
                    let horig = ecam.read32(bdf, hreg);
                    ecam.write32(bdf, hreg, u32::MAX);
                    let hi = ecam.read32(bdf, hreg);
                    ecam.write32(bdf, hreg, horig);
                    (
                        BarKind::Mem64,
                        lo & 8 != 0,
                        u64::from(hi) << 32 | u64::from(lo & !0xf),
                    )
                }
                _ => {
                    return Err(PciError::BadBar {
                        bdf,
                        bar: index,
                        readback: lo,
                    })
                }
            }
        };
        let size = (!mask).wrapping_add(1);
        if size == 0 || !size.is_power_of_two() {
            return Err(PciError::BadBar {
                bdf,
                bar: index,
                readback: lo,
            });
        }
        let (pci_addr, cpu_addr) = alloc.take(kind, size).ok_or(PciError::NoWindowFor {
            bdf,
            bar: index,
            size,
            kind,
        })?;
        ecam.write32(bdf, reg, pci_addr as u32);
        if kind == BarKind::Mem64 {
            ecam.write32(bdf, reg + 4, (pci_addr >> 32) as u32);
        }
        enable |= if kind == BarKind::Io {
            config::CMD_IO
        } else {
            config::CMD_MEM
        };
        f.bars.push(Bar {
            index,
            kind,
            prefetchable,
            size,
            pci_addr,
            cpu_addr,
        });
        index += if kind == BarKind::Mem64 { 2 } else { 1 };
    }
    ecam.write32(bdf, config::COMMAND_STATUS, cmd | enable);
    Ok(())
}

#[cfg(test)]
pub(crate) mod model {
    //! A config-space model of a root bus, for host tests.
    use crate::mmio::Mmio;
    use std::cell::RefCell;
    use std::vec::Vec;

    /// One modelled function.
    pub struct FakeFunction {
        /// (dev, func)
        pub devfn: (u8, u8),
        /// vendor | device << 16
        pub id: u32,
        /// class << 8 | revision
        pub class_rev: u32,
        /// header type byte (bit 7 multi-function)
        pub header: u8,
        /// Per BAR: (size, type bits); size 0 = unimplemented. A 64-bit BAR
        /// lists its size at the low index and (0, 0) at the high one.
        pub bars: [(u64, u32); 6],
        /// BAR registers as written.
        pub regs: RefCell<[u32; 6]>,
        /// COMMAND register.
        pub command: RefCell<u32>,
    }

    impl FakeFunction {
        /// A function with the given BARs.
        pub fn new(dev: u8, func: u8, id: u32, header: u8, bars: [(u64, u32); 6]) -> Self {
            Self {
                devfn: (dev, func),
                id,
                class_rev: 0x00ff_0010,
                header,
                bars,
                regs: RefCell::new([0; 6]),
                command: RefCell::new(0),
            }
        }

        fn bar_read(&self, i: usize) -> u32 {
            let (size, ty) = self.bars[i];
            let raw = self.regs.borrow()[i];
            if size != 0 {
                let mask = !(size - 1);
                return (raw & mask as u32 & !0xf) | ty;
            }
            // High half of a 64-bit BAR below us?
            if i > 0 && self.bars[i - 1].1 & 0x6 == 0x4 {
                let size = self.bars[i - 1].0;
                return raw & ((!(size - 1)) >> 32) as u32;
            }
            0
        }
    }

    /// A root bus of fake functions behind an ECAM window.
    pub struct FakeBus {
        /// Functions present.
        pub functions: Vec<FakeFunction>,
    }

    impl FakeBus {
        fn find(&self, off: usize) -> Option<(&FakeFunction, usize)> {
            let dev = ((off >> 15) & 31) as u8;
            let func = ((off >> 12) & 7) as u8;
            let bus = off >> 20;
            if bus != 0 {
                return None;
            }
            self.functions
                .iter()
                .find(|f| f.devfn == (dev, func))
                .map(|f| (f, off & 0xfff))
        }
    }

    impl Mmio for FakeBus {
        fn read8(&self, _: usize) -> u8 {
            0xff
        }
        fn write8(&self, _: usize, _: u8) {}
        fn read16(&self, _: usize) -> u16 {
            0xffff
        }
        fn write16(&self, _: usize, _: u16) {}
        fn read32(&self, off: usize) -> u32 {
            let Some((f, reg)) = self.find(off) else {
                return u32::MAX;
            };
            match reg {
                0x00 => f.id,
                0x04 => *f.command.borrow(),
                0x08 => f.class_rev,
                0x0c => u32::from(f.header) << 16,
                0x10..=0x24 => f.bar_read((reg - 0x10) / 4),
                _ => 0,
            }
        }
        fn write32(&self, off: usize, val: u32) {
            let Some((f, reg)) = self.find(off) else {
                return;
            };
            match reg {
                0x04 => *f.command.borrow_mut() = val & 0xffff,
                0x10..=0x24 => f.regs.borrow_mut()[(reg - 0x10) / 4] = val,
                _ => {}
            }
        }
        fn read64(&self, _: usize) -> u64 {
            u64::MAX
        }
        fn write64(&self, _: usize, _: u64) {}
    }
}

#[cfg(test)]
mod tests {
    use super::model::{FakeBus, FakeFunction};
    use super::*;

    const NONE: (u64, u32) = (0, 0);

    fn qemu_windows() -> [Window; 2] {
        [
            Window {
                kind: WindowKind::Mem32,
                prefetchable: false,
                pci_base: 0x1000_0000,
                cpu_base: PhysAddr(0x1000_0000),
                size: 0x2eff_0000,
            },
            Window {
                kind: WindowKind::Mem64,
                prefetchable: false,
                pci_base: 0x80_0000_0000,
                cpu_base: PhysAddr(0x80_0000_0000),
                size: 0x80_0000_0000,
            },
        ]
    }

    #[test]
    fn two_edus_get_aligned_bars_and_bus_mastering() {
        let edu = |dev| {
            FakeFunction::new(
                dev,
                0,
                0x11e8_1234,
                0,
                [(1 << 20, 0), NONE, NONE, NONE, NONE, NONE],
            )
        };
        let bus = FakeBus {
            functions: std::vec![edu(4), edu(5)],
        };
        let ecam = Ecam::new(bus, 0, 255);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].bdf.rid(), 0x20);
        assert_eq!(found[1].bdf.rid(), 0x28);
        let b0 = found[0].bar(0).unwrap();
        let b1 = found[1].bar(0).unwrap();
        assert_eq!(
            (b0.pci_addr, b0.size, b0.kind),
            (0x1000_0000, 1 << 20, BarKind::Mem32)
        );
        assert_eq!(b1.pci_addr, 0x1010_0000);
        for f in &ecam.regs().functions {
            let cmd = *f.command.borrow();
            assert_eq!(
                cmd & (config::CMD_MEM | config::CMD_BUS_MASTER),
                config::CMD_MEM | config::CMD_BUS_MASTER
            );
        }
        assert_eq!(ecam.regs().functions[1].regs.borrow()[0], 0x1010_0000);
    }

    #[test]
    fn sixty_four_bit_bar_takes_two_slots_and_prefers_low_window() {
        let f = FakeFunction::new(
            3,
            0,
            0x1057_1af4,
            0,
            [(0x4000, 0x4 | 0x8), NONE, (0x1000, 0), NONE, NONE, NONE],
        );
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![f],
            },
            0,
            0,
        );
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        let bars = &found[0].bars;
        assert_eq!(bars.len(), 2);
        assert_eq!(
            (bars[0].index, bars[0].kind, bars[0].prefetchable),
            (0, BarKind::Mem64, true)
        );
        assert_eq!(bars[1].index, 2);
        assert_eq!(bars[0].pci_addr % 0x4000, 0);
    }

    #[test]
    fn no_room_is_a_clear_error() {
        let f = FakeFunction::new(
            1,
            0,
            0x1111_2222,
            0,
            [(1 << 30, 0), NONE, NONE, NONE, NONE, NONE],
        );
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![f],
            },
            0,
            0,
        );
        let tiny = [Window {
            kind: WindowKind::Mem32,
            prefetchable: false,
            pci_base: 0x1000_0000,
            cpu_base: PhysAddr(0x1000_0000),
            size: 0x1000,
        }];
        let err = enumerate(&ecam, &tiny).unwrap_err();
        assert!(matches!(
            err,
            PciError::NoWindowFor {
                bar: 0,
                size: 0x4000_0000,
                ..
            }
        ));
        assert!(std::format!("{err}").contains("00:01.0 BAR0"));
    }

    #[test]
    fn empty_bus_and_multifunction() {
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![],
            },
            0,
            0,
        );
        assert!(enumerate(&ecam, &qemu_windows()).unwrap().is_empty());
        let mf = std::vec![
            FakeFunction::new(2, 0, 0xaaaa_bbbb, 0x80, [NONE; 6]),
            FakeFunction::new(2, 3, 0xaaaa_cccc, 0, [NONE; 6]),
            FakeFunction::new(6, 0, 0xdddd_eeee, 1, [NONE; 6]),
        ];
        let ecam = Ecam::new(FakeBus { functions: mf }, 0, 0);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        let ids: std::vec::Vec<_> = found
            .iter()
            .map(|f| (f.bdf.dev, f.bdf.func, f.is_bridge()))
            .collect();
        assert_eq!(ids, [(2, 0, false), (2, 3, false), (6, 0, true)]);
    }
}
