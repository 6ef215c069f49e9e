//! Enumeration below a host bridge: find functions depth-first, number the
//! buses behind PCI-to-PCI bridges (root ports, switch ports, PCIe-to-PCI
//! bridges) within the host's `bus-range`, size BARs and bridge windows,
//! assign addresses from the host bridge windows, and enable memory decode
//! and bus mastering.
//!
//! Each function also gets the requester ID its DMA carries when it reaches
//! the host bridge (and so the IOMMU): its own `bus << 8 | devfn` with the
//! bus numbers assigned here, except below a conventional PCI bus.  A
//! PCIe-to-PCI bridge takes ownership of the transactions of everything
//! below it and issues them with the requester ID (secondary bus, 00.0)
//! (PCI Express to PCI/PCI-X Bridge Spec 1.0 §2.3); a conventional
//! PCI-to-PCI bridge uses its own.  QEMU 10.0 models exactly this:
//! `pci_device_get_iommu_bus_devfn()` (hw/pci/pci.c) walks up from the
//! device and, for every non-Express bus on the way, replaces (bus, devfn)
//! with (the bridge's secondary bus, 0) for a PCIe-to-PCI bridge or with the
//! bridge's own address otherwise; the outermost such bus wins.  So every
//! device behind one `pcie-pci-bridge` shares one SMMU stream ID (seen with
//! `-trace 'smmuv3_*'`, docs/architecture.md § PCIe), and Linux's
//! `pci_for_each_dma_alias()` follows the same rules.
#![forbid(unsafe_code)]

use super::caps::{read_capabilities, Capability};
use super::config::{self, Bdf};
use super::ecam::Ecam;
use crate::mm::PhysAddr;
use crate::mmio::Mmio;
use alloc::vec::Vec;
use core::fmt;

/// Most bridges between the host bridge and any function: deeper trees are
/// refused (a root port, two switch levels and a PCIe-to-PCI bridge need 6).
pub const MAX_DEPTH: u8 = 8;
/// Memory windows of a bridge are 1 MiB grained (PCI-to-PCI Bridge Spec
/// 1.2 §3.2.5.8).
const MEM_GRANULE: u64 = 1 << 20;
/// I/O windows are 4 KiB grained (§3.2.5.6).
const IO_GRANULE: u64 = 1 << 12;

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

/// One of the three address windows of a PCI-to-PCI bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowClass {
    /// The I/O window.
    Io,
    /// The non-prefetchable memory window (32-bit addresses only).
    Mem,
    /// The prefetchable memory window (used only when it decodes 64 bits).
    Pref,
}

impl WindowClass {
    const ALL: [WindowClass; 3] = [WindowClass::Mem, WindowClass::Pref, WindowClass::Io];

    fn idx(self) -> usize {
        match self {
            WindowClass::Mem => 0,
            WindowClass::Pref => 1,
            WindowClass::Io => 2,
        }
    }

    fn granule(self) -> u64 {
        match self {
            WindowClass::Io => IO_GRANULE,
            WindowClass::Mem | WindowClass::Pref => MEM_GRANULE,
        }
    }
}

/// What a bridge is, from the Device/Port Type of its PCI Express
/// capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeKind {
    /// Root port.
    RootPort,
    /// Upstream port of a switch.
    SwitchUpstream,
    /// Downstream port of a switch.
    SwitchDownstream,
    /// PCI Express to conventional PCI/PCI-X bridge (QEMU `pcie-pci-bridge`).
    PcieToPci,
    /// Conventional PCI/PCI-X to PCI Express bridge.
    PciToPcie,
    /// A conventional PCI-to-PCI bridge: no PCI Express capability.
    Conventional,
    /// A PCI Express capability with another Device/Port Type.
    Other(u8),
}

impl BridgeKind {
    fn from_caps(caps: &[Capability]) -> Self {
        let Some(c) = caps.iter().find(|c| c.id == config::CAP_PCIE) else {
            return BridgeKind::Conventional;
        };
        match ((c.dwords[0] >> 20) & 0xf) as u8 {
            config::PCIE_TYPE_ROOT_PORT => BridgeKind::RootPort,
            config::PCIE_TYPE_UPSTREAM => BridgeKind::SwitchUpstream,
            config::PCIE_TYPE_DOWNSTREAM => BridgeKind::SwitchDownstream,
            config::PCIE_TYPE_PCIE_TO_PCI => BridgeKind::PcieToPci,
            config::PCIE_TYPE_PCI_TO_PCIE => BridgeKind::PciToPcie,
            t => BridgeKind::Other(t),
        }
    }

    /// `true` when the bus below is conventional PCI, where requester IDs
    /// are replaced by the bridge's (see the module documentation).
    pub fn conventional_below(self) -> bool {
        matches!(self, BridgeKind::PcieToPci | BridgeKind::Conventional)
    }
}

/// How a PCI-to-PCI bridge was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bridge {
    /// Kind.
    pub kind: BridgeKind,
    /// Secondary bus number (the bus right below).
    pub secondary: u8,
    /// Subordinate bus number (the highest bus below).
    pub subordinate: u8,
    /// Memory window `[start, end)` in PCI addresses; `None` = closed.
    pub mem: Option<(u64, u64)>,
    /// Prefetchable memory window; `None` = closed.
    pub pref: Option<(u64, u64)>,
    /// I/O window; `None` = closed.
    pub io: Option<(u64, u64)>,
}

/// A function found below the host bridge.
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
    /// The capability list.
    pub caps: Vec<Capability>,
    /// The bridge right above (`None` on the root bus).
    pub parent: Option<Bdf>,
    /// The requester ID of its DMA at the host bridge: the input of the
    /// `iommu-map`.  `bdf.rid()` unless a conventional PCI bus above it
    /// aliases it (module documentation).
    pub dma_rid: u16,
    /// Bus numbers and windows, for a configured bridge (header type 1).
    pub bridge: Option<Bridge>,
}

impl Function {
    /// The BAR with this index, if implemented.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|b| b.index == index)
    }

    /// `true` for PCI-to-PCI bridges (header type 1).
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
    /// A bridge needs a secondary bus number past the end of `bus-range`.
    BusNumbersExhausted {
        /// The bridge.
        bridge: Bdf,
        /// Last bus of the host bridge's `bus-range`.
        last: u8,
    },
    /// A bridge sits deeper than [`MAX_DEPTH`] bridges.
    TooDeep {
        /// The bridge.
        bridge: Bdf,
        /// The limit.
        limit: u8,
    },
    /// No host-bridge window has room for a bridge window.
    NoWindowForBridge {
        /// The bridge.
        bridge: Bdf,
        /// Which of its windows.
        class: WindowClass,
        /// Bytes needed.
        size: u64,
        /// Alignment needed.
        align: u64,
    },
    /// I/O BARs sit below a bridge without an I/O window.
    NoIoWindow {
        /// The bridge.
        bridge: Bdf,
        /// Bytes of I/O space needed below it.
        size: u64,
    },
    /// A bridge window is too large to add up, or lies where the bridge
    /// cannot decode it (a memory window above 4 GiB, a 16-bit I/O window
    /// above 64 KiB).
    WindowOutOfReach {
        /// The bridge.
        bridge: Bdf,
        /// Which of its windows.
        class: WindowClass,
        /// First PCI address (0 when the size overflowed).
        base: u64,
        /// Bytes (0 when the size overflowed).
        size: u64,
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
            PciError::BusNumbersExhausted { bridge, last } => write!(
                f,
                "bridge {bridge}: no bus number left for its secondary bus (`bus-range` ends at {last:#04x})"
            ),
            PciError::TooDeep { bridge, limit } => {
                write!(f, "bridge {bridge}: more than {limit} bridges deep")
            }
            PciError::NoWindowForBridge {
                bridge,
                class,
                size,
                align,
            } => write!(
                f,
                "bridge {bridge}: no host window has {size:#x} bytes aligned to {align:#x} free for its {class:?} window (check the host bridge `ranges`)"
            ),
            PciError::NoIoWindow { bridge, size } => write!(
                f,
                "bridge {bridge}: {size:#x} bytes of I/O BARs below it, but it has no I/O window"
            ),
            PciError::WindowOutOfReach {
                bridge,
                class,
                base,
                size,
            } => write!(
                f,
                "bridge {bridge}: its {class:?} window ({size:#x} bytes at {base:#x}) is too large or cannot be decoded there"
            ),
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

    /// Finds room for `size` bytes aligned to `align` (a power of two) in a
    /// window that can hold `kind`: 64-bit BARs prefer a 32-bit window (they
    /// work anywhere), then a 64-bit one.
    fn take(&mut self, kind: BarKind, size: u64, align: u64) -> Option<(u64, PhysAddr)> {
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
                let Some(addr) = align_up(self.next[i], align) else {
                    continue;
                };
                let Some(end) = addr.checked_add(size) else {
                    continue;
                };
                if end <= w.pci_base.saturating_add(w.size) {
                    self.next[i] = end;
                    return Some((addr, w.cpu_base + (addr - w.pci_base)));
                }
            }
        }
        None
    }
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// A BAR sized but not yet placed.
#[derive(Clone, Copy)]
struct Sized {
    index: u8,
    kind: BarKind,
    prefetchable: bool,
    size: u64,
}

/// Something that takes room in a bridge window.
#[derive(Clone, Copy)]
enum Target {
    /// `nodes[node].sized[slot]`.
    Bar { node: usize, slot: usize },
    /// A window of bridge `nodes[node]`.
    Window { node: usize, class: WindowClass },
}

#[derive(Clone, Copy)]
struct Item {
    size: u64,
    align: u64,
    target: Target,
}

/// One function during enumeration.
struct Node {
    f: Function,
    sized: Vec<Sized>,
    /// COMMAND as found, decode bits cleared.
    cmd: u32,
    /// Functions on the secondary bus (bridges).
    children: Vec<usize>,
    /// I/O window implemented; `Some(true)` when it decodes 32 bits.
    io: Option<bool>,
    /// Prefetchable window implemented with 64-bit decode.
    pref64: bool,
    /// Per [`WindowClass::idx`]: what goes through the window, largest
    /// alignment first, and the window's (size, alignment).
    plan: [Vec<Item>; 3],
    need: [Option<(u64, u64)>; 3],
    /// Per class: the window's placement (PCI base, CPU minus PCI address).
    placed: [Option<(u64, u64)>; 3],
}

struct Enumerator<'e, M: Mmio> {
    ecam: &'e Ecam<M>,
    nodes: Vec<Node>,
    next_bus: u16,
    last_bus: u8,
}

/// Enumerates everything below `ecam`'s first bus: bus numbers for every
/// bridge (depth-first, within the ECAM window's buses), BARs and bridge
/// windows from `windows`, and memory/I/O decode and bus mastering on every
/// function.  Functions come back in depth-first order (a bridge, then what
/// is below it, then its next sibling).
pub fn enumerate<M: Mmio>(ecam: &Ecam<M>, windows: &[Window]) -> Result<Vec<Function>, PciError> {
    let buses = ecam.buses();
    let mut e = Enumerator {
        ecam,
        nodes: Vec::new(),
        next_bus: u16::from(*buses.start()) + 1,
        last_bus: *buses.end(),
    };
    let roots = e.scan_bus(*buses.start(), None, None, 0)?;
    // Children come after their bridge: sizing in reverse order sees every
    // child bridge's windows before its parent needs them.
    for i in (0..e.nodes.len()).rev() {
        if e.nodes[i].f.is_bridge() {
            e.size_windows(i)?;
        }
    }
    let mut alloc = Allocator::new(windows);
    for &r in &roots {
        for slot in 0..e.nodes[r].sized.len() {
            let b = e.nodes[r].sized[slot];
            let (pci, cpu) = alloc
                .take(b.kind, b.size, b.size)
                .ok_or(PciError::NoWindowFor {
                    bdf: e.nodes[r].f.bdf,
                    bar: b.index,
                    size: b.size,
                    kind: b.kind,
                })?;
            e.place(
                Target::Bar { node: r, slot },
                pci,
                cpu.as_u64().wrapping_sub(pci),
            )?;
        }
        for class in WindowClass::ALL {
            let Some((size, align)) = e.nodes[r].need[class.idx()] else {
                continue;
            };
            let kind = match class {
                WindowClass::Io => BarKind::Io,
                WindowClass::Mem => BarKind::Mem32,
                WindowClass::Pref => BarKind::Mem64,
            };
            let (pci, cpu) = alloc
                .take(kind, size, align)
                .ok_or(PciError::NoWindowForBridge {
                    bridge: e.nodes[r].f.bdf,
                    class,
                    size,
                    align,
                })?;
            e.place(
                Target::Window { node: r, class },
                pci,
                cpu.as_u64().wrapping_sub(pci),
            )?;
        }
    }
    for n in &mut e.nodes {
        program(ecam, n);
    }
    Ok(e.nodes.into_iter().map(|n| n.f).collect())
}

impl<M: Mmio> Enumerator<'_, M> {
    /// Finds the functions on `bus`, configuring the bridges among them and
    /// what is below; returns their node indices.  `alias` is the requester
    /// ID a conventional bus above imposes.
    fn scan_bus(
        &mut self,
        bus: u8,
        parent: Option<Bdf>,
        alias: Option<u16>,
        depth: u8,
    ) -> Result<Vec<usize>, PciError> {
        let ecam = self.ecam;
        let mut here = Vec::new();
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
                let header_type = header & 0x7f;
                let bar_count = match header_type {
                    0 => 6,
                    1 => 2,
                    _ => 0,
                };
                let cmd = ecam.read32(bdf, config::COMMAND_STATUS) & 0xffff;
                // Decode off while BARs hold all-ones, and until they are
                // placed.
                let cmd = cmd & !(config::CMD_MEM | config::CMD_IO);
                ecam.write32(bdf, config::COMMAND_STATUS, cmd);
                let sized = size_bars(ecam, bdf, bar_count)?;
                let idx = self.nodes.len();
                self.nodes.push(Node {
                    f: Function {
                        bdf,
                        vendor: id as u16,
                        device: (id >> 16) as u16,
                        class: class_rev >> 8,
                        revision: class_rev as u8,
                        header_type,
                        bars: Vec::new(),
                        caps: read_capabilities(ecam, bdf),
                        parent,
                        dma_rid: alias.unwrap_or(bdf.rid()),
                        bridge: None,
                    },
                    sized,
                    cmd,
                    children: Vec::new(),
                    io: None,
                    pref64: false,
                    plan: [Vec::new(), Vec::new(), Vec::new()],
                    need: [None; 3],
                    placed: [None; 3],
                });
                here.push(idx);
                if header_type == 1 {
                    self.scan_bridge(idx, alias, depth)?;
                }
                if func == 0 && header & 0x80 == 0 {
                    break; // single-function device
                }
            }
        }
        Ok(here)
    }

    /// Numbers the buses below bridge `nodes[idx]` and scans them.
    fn scan_bridge(&mut self, idx: usize, alias: Option<u16>, depth: u8) -> Result<(), PciError> {
        let ecam = self.ecam;
        let bdf = self.nodes[idx].f.bdf;
        if depth >= MAX_DEPTH {
            return Err(PciError::TooDeep {
                bridge: bdf,
                limit: MAX_DEPTH,
            });
        }
        let secondary = match u8::try_from(self.next_bus) {
            Ok(b) if b <= self.last_bus => b,
            _ => {
                return Err(PciError::BusNumbersExhausted {
                    bridge: bdf,
                    last: self.last_bus,
                })
            }
        };
        self.next_bus += 1;
        let latency = ecam.read32(bdf, config::BRIDGE_BUSES) & 0xff00_0000;
        let buses = |sub: u8| {
            latency | u32::from(sub) << 16 | u32::from(secondary) << 8 | u32::from(bdf.bus)
        };
        // Everything up to the last bus forwarded while we look below.
        ecam.write32(bdf, config::BRIDGE_BUSES, buses(self.last_bus));
        let (io, pref64) = probe_windows(ecam, bdf);
        let kind = BridgeKind::from_caps(&self.nodes[idx].f.caps);
        let below = if kind == BridgeKind::PcieToPci {
            Bdf::new(secondary, 0, 0).map(Bdf::rid)
        } else if kind.conventional_below() {
            Some(bdf.rid())
        } else {
            None
        };
        // The outermost conventional bus decides (QEMU's walk up ends there).
        let children = self.scan_bus(secondary, Some(bdf), alias.or(below), depth + 1)?;
        let subordinate = (self.next_bus - 1) as u8;
        ecam.write32(bdf, config::BRIDGE_BUSES, buses(subordinate));
        let n = &mut self.nodes[idx];
        n.children = children;
        n.io = io;
        n.pref64 = pref64;
        n.f.bridge = Some(Bridge {
            kind,
            secondary,
            subordinate,
            mem: None,
            pref: None,
            io: None,
        });
        Ok(())
    }

    /// Which window of `bridge` a BAR (or a child's window) goes through.
    fn class_of(&self, bridge: usize, target: Target) -> WindowClass {
        let pref64 = self.nodes[bridge].pref64;
        match target {
            Target::Bar { node, slot } => {
                let b = self.nodes[node].sized[slot];
                match b.kind {
                    BarKind::Io => WindowClass::Io,
                    BarKind::Mem64 if b.prefetchable && pref64 => WindowClass::Pref,
                    _ => WindowClass::Mem,
                }
            }
            Target::Window { class, .. } => match class {
                WindowClass::Pref if !pref64 => WindowClass::Mem,
                c => c,
            },
        }
    }

    /// Sizes the windows of bridge `nodes[idx]` from everything on its
    /// secondary bus (child bridges already sized).
    fn size_windows(&mut self, idx: usize) -> Result<(), PciError> {
        let bdf = self.nodes[idx].f.bdf;
        let mut plan: [Vec<Item>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for &c in &self.nodes[idx].children {
            let child = &self.nodes[c];
            let mut targets: Vec<(Target, u64, u64)> = child
                .sized
                .iter()
                .enumerate()
                .map(|(slot, b)| (Target::Bar { node: c, slot }, b.size, b.size))
                .collect();
            for class in WindowClass::ALL {
                if let Some((size, align)) = child.need[class.idx()] {
                    targets.push((Target::Window { node: c, class }, size, align));
                }
            }
            for (target, size, align) in targets {
                let class = self.class_of(idx, target);
                plan[class.idx()].push(Item {
                    size,
                    align,
                    target,
                });
            }
        }
        let mut need = [None; 3];
        for class in WindowClass::ALL {
            let items = &mut plan[class.idx()];
            if items.is_empty() {
                continue;
            }
            // Largest alignment first: a stable order both here and when
            // placing, so the window holds exactly what was sized.
            crate::platform::order::sort_small_by_key(items, |it| core::cmp::Reverse(it.align));
            let overflow = PciError::WindowOutOfReach {
                bridge: bdf,
                class,
                base: 0,
                size: 0,
            };
            let mut end = 0u64;
            for it in items.iter() {
                end = align_up(end, it.align)
                    .and_then(|a| a.checked_add(it.size))
                    .ok_or(overflow)?;
            }
            let g = class.granule();
            let size = align_up(end, g).ok_or(overflow)?;
            let align = items[0].align.max(g);
            if class == WindowClass::Io && self.nodes[idx].io.is_none() {
                return Err(PciError::NoIoWindow { bridge: bdf, size });
            }
            need[class.idx()] = Some((size, align));
        }
        let n = &mut self.nodes[idx];
        n.plan = plan;
        n.need = need;
        Ok(())
    }

    /// Puts `target` at PCI address `pci` (CPU address `pci + delta`), and
    /// for a window everything that goes through it.
    fn place(&mut self, target: Target, pci: u64, delta: u64) -> Result<(), PciError> {
        match target {
            Target::Bar { node, slot } => {
                let b = self.nodes[node].sized[slot];
                self.nodes[node].f.bars.push(Bar {
                    index: b.index,
                    kind: b.kind,
                    prefetchable: b.prefetchable,
                    size: b.size,
                    pci_addr: pci,
                    cpu_addr: PhysAddr(pci.wrapping_add(delta)),
                });
                Ok(())
            }
            Target::Window { node, class } => {
                let n = &self.nodes[node];
                let size = n.need[class.idx()].map_or(0, |w| w.0);
                let limit = match class {
                    WindowClass::Mem => 1 << 32,
                    WindowClass::Io if n.io != Some(true) => 1 << 16,
                    WindowClass::Io => 1 << 32,
                    WindowClass::Pref => u64::MAX,
                };
                if pci.checked_add(size).is_none_or(|end| end > limit) {
                    return Err(PciError::WindowOutOfReach {
                        bridge: n.f.bdf,
                        class,
                        base: pci,
                        size,
                    });
                }
                self.nodes[node].placed[class.idx()] = Some((pci, delta));
                let items = core::mem::take(&mut self.nodes[node].plan[class.idx()]);
                let mut at = pci;
                for it in &items {
                    // Cannot overflow: sizing added up the same sequence.
                    at = align_up(at, it.align).unwrap_or(at);
                    self.place(it.target, at, delta)?;
                    at = at.wrapping_add(it.size);
                }
                Ok(())
            }
        }
    }
}

/// Whether a bridge implements an I/O window (`Some(32-bit)`) and a 64-bit
/// prefetchable window, found by writing the base registers (PCI-to-PCI
/// Bridge Spec 1.2 §3.2.5.6, §3.2.5.9: unimplemented ones read 0).  Leaves
/// both closed.
fn probe_windows<M: Mmio>(ecam: &Ecam<M>, bdf: Bdf) -> (Option<bool>, bool) {
    ecam.write32(bdf, config::BRIDGE_IO, 0xf0f0);
    let io = ecam.read32(bdf, config::BRIDGE_IO) & 0xffff;
    ecam.write32(bdf, config::BRIDGE_PREF, 0xfff0_fff0);
    let pref = ecam.read32(bdf, config::BRIDGE_PREF) & 0xffff;
    close_windows(ecam, bdf);
    ((io != 0).then_some(io & 0xf == 1), pref & 0xf == 1)
}

/// Base above limit: the window decodes nothing.
fn close_windows<M: Mmio>(ecam: &Ecam<M>, bdf: Bdf) {
    ecam.write32(bdf, config::BRIDGE_IO, 0x00f0);
    ecam.write32(bdf, config::BRIDGE_IO_HI, 0);
    ecam.write32(bdf, config::BRIDGE_MEM, 0x0000_fff0);
    ecam.write32(bdf, config::BRIDGE_PREF, 0x0000_fff0);
    ecam.write32(bdf, config::BRIDGE_PREF_BASE_HI, u32::MAX);
    ecam.write32(bdf, config::BRIDGE_PREF_LIMIT_HI, 0);
}

/// Writes the placed BARs and windows of `n` and turns on decode and bus
/// mastering.
fn program<M: Mmio>(ecam: &Ecam<M>, n: &mut Node) {
    let bdf = n.f.bdf;
    crate::platform::order::sort_small_by_key(&mut n.f.bars, |b| b.index);
    let mut enable = config::CMD_BUS_MASTER;
    for b in &n.f.bars {
        let reg = config::BAR0 + 4 * usize::from(b.index);
        ecam.write32(bdf, reg, b.pci_addr as u32);
        if b.kind == BarKind::Mem64 {
            ecam.write32(bdf, reg + 4, (b.pci_addr >> 32) as u32);
        }
        enable |= if b.kind == BarKind::Io {
            config::CMD_IO
        } else {
            config::CMD_MEM
        };
    }
    if let Some(br) = &mut n.f.bridge {
        // Memory decode on the bridge forwards its windows; bus mastering
        // forwards the DMA of everything below upstream.
        enable |= config::CMD_MEM;
        let span = |class: WindowClass| {
            let (base, _) = n.placed[class.idx()]?;
            let (size, _) = n.need[class.idx()]?;
            Some((base, base + size))
        };
        br.mem = span(WindowClass::Mem);
        br.pref = span(WindowClass::Pref);
        br.io = span(WindowClass::Io);
        close_windows(ecam, bdf);
        if let Some((base, end)) = br.mem {
            let limit = end - 1;
            let v = (limit >> 16) as u32 & 0xfff0;
            ecam.write32(
                bdf,
                config::BRIDGE_MEM,
                v << 16 | ((base >> 16) as u32 & 0xfff0),
            );
        }
        if let Some((base, end)) = br.pref {
            let limit = end - 1;
            let v = (limit >> 16) as u32 & 0xfff0;
            ecam.write32(bdf, config::BRIDGE_PREF_BASE_HI, (base >> 32) as u32);
            ecam.write32(bdf, config::BRIDGE_PREF_LIMIT_HI, (limit >> 32) as u32);
            ecam.write32(
                bdf,
                config::BRIDGE_PREF,
                v << 16 | ((base >> 16) as u32 & 0xfff0),
            );
        }
        if let Some((base, end)) = br.io {
            let limit = end - 1;
            ecam.write32(
                bdf,
                config::BRIDGE_IO_HI,
                (limit >> 16) as u32 & 0xffff_0000 | (base >> 16) as u32 & 0xffff,
            );
            ecam.write32(
                bdf,
                config::BRIDGE_IO,
                ((limit >> 8) as u32 & 0xf0) << 8 | (base >> 8) as u32 & 0xf0,
            );
            enable |= config::CMD_IO;
        }
    }
    ecam.write32(bdf, config::COMMAND_STATUS, n.cmd | enable);
}

/// Sizes the first `count` BARs of `bdf` (decode must be off).
fn size_bars<M: Mmio>(ecam: &Ecam<M>, bdf: Bdf, count: u8) -> Result<Vec<Sized>, PciError> {
    let mut out = Vec::new();
    let mut index = 0u8;
    while index < count {
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
                2 if index + 1 < count => {
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
        out.push(Sized {
            index,
            kind,
            prefetchable,
            size,
        });
        index += if kind == BarKind::Mem64 { 2 } else { 1 };
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod model {
    //! A config-space model of a PCI hierarchy, for host tests: functions on
    //! the root bus (ECAM bus 0) and, below bridges, on the buses the
    //! bridges' bus-number registers route to, as type-1 config forwarding
    //! does.
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
        /// Type-1 registers 0x18..=0x30 as written (bridges).
        pub bridge_regs: RefCell<[u32; 7]>,
        /// Device/Port Type of a PCI Express capability at 0x40, if any.
        pub pcie_type: Option<u8>,
        /// Implements a 16-bit I/O window (bridges).
        pub io_window: bool,
        /// Implements a 64-bit prefetchable window (bridges).
        pub pref64: bool,
        /// Functions on the secondary bus (bridges).
        pub children: Vec<FakeFunction>,
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
                bridge_regs: RefCell::new([0; 7]),
                pcie_type: None,
                io_window: true,
                pref64: true,
                children: Vec::new(),
            }
        }

        /// A bridge (class 0x0604) with a PCI Express capability of
        /// `pcie_type` (`None`: a conventional bridge) and `children` below.
        pub fn bridge(dev: u8, pcie_type: Option<u8>, children: Vec<FakeFunction>) -> Self {
            Self {
                class_rev: 0x0604_0000,
                pcie_type,
                children,
                ..Self::new(dev, 0, 0x000c_1b36, 1, [(0, 0); 6])
            }
        }

        /// Secondary and subordinate bus as programmed.
        pub fn buses(&self) -> (u8, u8) {
            let r = self.bridge_regs.borrow()[0];
            ((r >> 8) as u8, (r >> 16) as u8)
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

        fn bridge_read(&self, reg: usize) -> u32 {
            let v = self.bridge_regs.borrow()[(reg - 0x18) / 4];
            match reg {
                0x18 => v & 0x00ff_ffff,
                0x1c if self.io_window => v & 0xf0f0,
                0x20 => v & 0xfff0_fff0,
                0x24 if self.pref64 => v & 0xfff0_fff0 | 0x0001_0001,
                0x28 | 0x2c if self.pref64 => v,
                _ => 0,
            }
        }
    }

    /// The function at `bus`/`dev`/`func`, reached from `fs` on `this_bus`.
    fn route(fs: &[FakeFunction], this_bus: u8, bus: u8, devfn: (u8, u8)) -> Option<&FakeFunction> {
        if bus == this_bus {
            return fs.iter().find(|f| f.devfn == devfn);
        }
        fs.iter().filter(|f| f.header & 0x7f == 1).find_map(|f| {
            let (sec, sub) = f.buses();
            (sec > this_bus && (sec..=sub).contains(&bus))
                .then(|| route(&f.children, sec, bus, devfn))
                .flatten()
        })
    }

    /// A root bus of fake functions behind an ECAM window whose first bus
    /// is 0.
    pub struct FakeBus {
        /// Functions present.
        pub functions: Vec<FakeFunction>,
    }

    impl FakeBus {
        fn find(&self, off: usize) -> Option<(&FakeFunction, usize)> {
            let dev = ((off >> 15) & 31) as u8;
            let func = ((off >> 12) & 7) as u8;
            let bus = u8::try_from(off >> 20).ok()?;
            route(&self.functions, 0, bus, (dev, func)).map(|f| (f, off & 0xfff))
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
            let bridge = f.header & 0x7f == 1;
            let cap_list = if f.pcie_type.is_some() { 1 << 20 } else { 0 };
            match reg {
                0x00 => f.id,
                0x04 => *f.command.borrow() | cap_list,
                0x08 => f.class_rev,
                0x0c => u32::from(f.header) << 16,
                0x10 | 0x14 => f.bar_read((reg - 0x10) / 4),
                0x18..=0x24 if !bridge => f.bar_read((reg - 0x10) / 4),
                0x18..=0x30 if bridge => f.bridge_read(reg),
                0x34 if f.pcie_type.is_some() => 0x40,
                0x40 => f
                    .pcie_type
                    .map_or(0, |t| u32::from(config_pcie(t)) << 16 | 0x10),
                _ => 0,
            }
        }
        fn write32(&self, off: usize, val: u32) {
            let Some((f, reg)) = self.find(off) else {
                return;
            };
            let bridge = f.header & 0x7f == 1;
            match reg {
                0x04 => *f.command.borrow_mut() = val & 0xffff,
                0x10 | 0x14 => f.regs.borrow_mut()[(reg - 0x10) / 4] = val,
                0x18..=0x24 if !bridge => f.regs.borrow_mut()[(reg - 0x10) / 4] = val,
                0x18..=0x30 if bridge => f.bridge_regs.borrow_mut()[(reg - 0x18) / 4] = val,
                _ => {}
            }
        }
        fn read64(&self, _: usize) -> u64 {
            u64::MAX
        }
        fn write64(&self, _: usize, _: u64) {}
    }

    /// PCI Express Capabilities register: version 2, Device/Port Type `t`.
    fn config_pcie(t: u8) -> u16 {
        u16::from(t) << 4 | 2
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
        let ecam = Ecam::new(FakeBus { functions: mf }, 0, 255);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        let ids: std::vec::Vec<_> = found
            .iter()
            .map(|f| (f.bdf.dev, f.bdf.func, f.is_bridge()))
            .collect();
        assert_eq!(ids, [(2, 0, false), (2, 3, false), (6, 0, true)]);
        // An empty bridge gets a bus and no windows.
        let b = found[2].bridge.unwrap();
        assert_eq!((b.secondary, b.subordinate), (1, 1));
        assert_eq!((b.mem, b.pref, b.io), (None, None, None));
    }

    const ROOT_PORT: Option<u8> = Some(config::PCIE_TYPE_ROOT_PORT);
    const PCIE_TO_PCI: Option<u8> = Some(config::PCIE_TYPE_PCIE_TO_PCI);

    fn edu(dev: u8) -> FakeFunction {
        FakeFunction::new(
            dev,
            0,
            0x11e8_1234,
            0,
            [(1 << 20, 0), NONE, NONE, NONE, NONE, NONE],
        )
    }

    fn find(found: &[Function], bus: u8, dev: u8) -> &Function {
        match found.iter().find(|f| (f.bdf.bus, f.bdf.dev) == (bus, dev)) {
            Some(f) => f,
            None => panic!("no function at {bus:02x}:{dev:02x}"),
        }
    }

    fn window_regs(f: &FakeFunction) -> [u32; 7] {
        *f.bridge_regs.borrow()
    }

    #[test]
    fn root_port_then_device() {
        let bus = FakeBus {
            functions: std::vec![
                FakeFunction::bridge(1, ROOT_PORT, std::vec![edu(0)]),
                edu(4),
            ],
        };
        let ecam = Ecam::new(bus, 0, 255);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        // Depth-first: the port, what is below it, then its sibling.
        let order: std::vec::Vec<_> = found.iter().map(|f| f.bdf).collect();
        assert_eq!(
            order,
            [
                Bdf::new(0, 1, 0).unwrap(),
                Bdf::new(1, 0, 0).unwrap(),
                Bdf::new(0, 4, 0).unwrap()
            ]
        );
        let port = &found[0];
        let b = port.bridge.unwrap();
        assert_eq!(b.kind, BridgeKind::RootPort);
        assert_eq!((b.secondary, b.subordinate), (1, 1));
        let behind = find(&found, 1, 0);
        assert_eq!(behind.parent, Some(port.bdf));
        // Behind a root port the bus stays PCI Express: no alias.
        assert_eq!(behind.dma_rid, 0x100);
        assert_eq!(behind.dma_rid, behind.bdf.rid());
        let bar = behind.bar(0).unwrap();
        let (start, end) = b.mem.unwrap();
        assert!(start <= bar.pci_addr && bar.pci_addr + bar.size <= end);
        assert_eq!((start % MEM_GRANULE, end - start), (0, 1 << 20));
        assert_eq!((b.pref, b.io), (None, None), "nothing needs them");
        // The registers say the same: buses 0 → 1..=1, memory window, I/O
        // and prefetchable windows closed (base above limit).
        let model = &ecam.regs().functions[0];
        let r = window_regs(model);
        assert_eq!(r[0] & 0x00ff_ffff, 0x0001_0100);
        let mem_base = u64::from(r[2] & 0xfff0) << 16;
        let mem_limit = u64::from(r[2] >> 16 & 0xfff0) << 16 | 0xf_ffff;
        assert_eq!((mem_base, mem_limit + 1), (start, end));
        assert_eq!(r[1] & 0xf0f0, 0x00f0, "I/O window closed");
        assert_eq!(r[3] & 0xfff0_fff0, 0x0000_fff0, "prefetchable closed");
        let cmd = *model.command.borrow();
        assert_eq!(
            cmd & (config::CMD_MEM | config::CMD_BUS_MASTER | config::CMD_IO),
            config::CMD_MEM | config::CMD_BUS_MASTER
        );
        let dev = &model.children[0];
        assert_eq!(dev.regs.borrow()[0] as u64, bar.pci_addr);
        assert_eq!(
            *dev.command.borrow() & (config::CMD_MEM | config::CMD_BUS_MASTER),
            config::CMD_MEM | config::CMD_BUS_MASTER
        );
        // The root-bus edu does not overlap the window.
        let root = find(&found, 0, 4).bar(0).unwrap();
        assert!(root.pci_addr + root.size <= start || root.pci_addr >= end);
    }

    #[test]
    fn pcie_to_pci_bridge_aliases_everything_below() {
        let pref = FakeFunction::new(
            3,
            0,
            0x1111_2222,
            0,
            [(1 << 21, 0x4 | 0x8), NONE, (0x1000, 0), NONE, NONE, NONE],
        );
        let pci_bridge = FakeFunction {
            // pcie-pci-bridge's own 64-bit BAR (SHPC), on its primary bus.
            bars: [(0x100, 0x4), NONE, NONE, NONE, NONE, NONE],
            ..FakeFunction::bridge(0, PCIE_TO_PCI, std::vec![edu(1), edu(2), pref])
        };
        let bus = FakeBus {
            functions: std::vec![
                FakeFunction::bridge(1, ROOT_PORT, std::vec![pci_bridge]),
                FakeFunction::bridge(2, ROOT_PORT, std::vec![edu(0)]),
            ],
        };
        let ecam = Ecam::new(bus, 0, 255);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        assert_eq!(found.len(), 7);
        let port1 = find(&found, 0, 1).bridge.unwrap();
        let br = find(&found, 1, 0);
        let brb = br.bridge.unwrap();
        let port2 = find(&found, 0, 2).bridge.unwrap();
        assert_eq!((port1.secondary, port1.subordinate), (1, 2));
        assert_eq!(
            (brb.kind, brb.secondary, brb.subordinate),
            (BridgeKind::PcieToPci, 2, 2)
        );
        assert_eq!((port2.secondary, port2.subordinate), (3, 3));
        // The bridge itself sits on an Express bus: its own RID.
        assert_eq!(br.dma_rid, 0x100);
        // Everything behind it: (secondary bus, 00.0).
        for dev in [1, 2, 3] {
            let f = find(&found, 2, dev);
            assert_eq!(f.dma_rid, 0x200, "{}", f.bdf);
            assert_eq!(f.parent, Some(br.bdf));
        }
        assert_eq!(find(&found, 2, 1).bdf.rid(), 0x208);
        assert_eq!(find(&found, 3, 0).dma_rid, 0x300);
        // The 64-bit prefetchable BAR goes through the prefetchable windows,
        // the rest through the memory windows, nested inside each other.
        let inside = |w: Option<(u64, u64)>, a: u64, n: u64| {
            let (s, e) = w.unwrap();
            s <= a && a + n <= e
        };
        let p = find(&found, 2, 3).bar(0).unwrap();
        assert!(inside(brb.pref, p.pci_addr, p.size));
        assert!(inside(port1.pref, brb.pref.unwrap().0, 1 << 21));
        for dev in [1, 2] {
            let b = find(&found, 2, dev).bar(0).unwrap();
            assert!(inside(brb.mem, b.pci_addr, b.size));
        }
        let (ms, me) = brb.mem.unwrap();
        assert!(inside(port1.mem, ms, me - ms));
        // The bridge's own BAR is on bus 1: inside the port's window, outside
        // its own.
        let own = br.bar(0).unwrap();
        assert!(inside(port1.mem, own.pci_addr, own.size));
        assert!(!inside(brb.mem, own.pci_addr, own.size));
        // No two BARs overlap.
        let mut all: std::vec::Vec<_> = found
            .iter()
            .flat_map(|f| f.bars.iter().map(|b| (b.pci_addr, b.pci_addr + b.size)))
            .collect();
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].0), "{all:x?}");
        // The 64-bit prefetchable window's upper registers are programmed.
        let r = window_regs(&ecam.regs().functions[0].children[0]);
        let (ps, pe) = brb.pref.unwrap();
        assert_eq!(r[4], (ps >> 32) as u32);
        assert_eq!(r[5], ((pe - 1) >> 32) as u32);
    }

    #[test]
    fn conventional_bridge_aliases_to_its_own_rid() {
        // A PCI-to-PCI bridge without a PCIe capability below a root port:
        // its devices use the bridge's own RID; below a PCIe-to-PCI bridge,
        // the outer alias wins.
        let bus = FakeBus {
            functions: std::vec![
                FakeFunction::bridge(
                    1,
                    ROOT_PORT,
                    std::vec![FakeFunction::bridge(0, None, std::vec![edu(5)])]
                ),
                FakeFunction::bridge(
                    2,
                    PCIE_TO_PCI,
                    std::vec![FakeFunction::bridge(3, None, std::vec![edu(5)])]
                ),
            ],
        };
        let ecam = Ecam::new(bus, 0, 255);
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        assert_eq!(
            find(&found, 1, 0).bridge.unwrap().kind,
            BridgeKind::Conventional
        );
        assert_eq!(find(&found, 2, 5).dma_rid, 0x100, "01:00.0, the bridge");
        assert_eq!(find(&found, 3, 3).dma_rid, 0x300, "(03, 00.0)");
        assert_eq!(find(&found, 4, 5).dma_rid, 0x300, "(03, 00.0), outermost");
    }

    #[test]
    fn io_window_opens_only_when_needed() {
        let io_dev = FakeFunction::new(
            0,
            0,
            0x1af4_1000,
            0,
            [(0x40, 1), NONE, NONE, NONE, NONE, NONE],
        );
        let bus = FakeBus {
            functions: std::vec![FakeFunction::bridge(1, ROOT_PORT, std::vec![io_dev])],
        };
        let mut windows = qemu_windows().to_vec();
        windows.push(Window {
            kind: WindowKind::Io,
            prefetchable: false,
            pci_base: 0,
            cpu_base: PhysAddr(0x3eff_0000),
            size: 0x10000,
        });
        let ecam = Ecam::new(bus, 0, 255);
        let found = enumerate(&ecam, &windows).unwrap();
        let b = found[0].bridge.unwrap();
        let (s, e) = b.io.unwrap();
        assert_eq!((s % IO_GRANULE, e - s), (0, IO_GRANULE));
        assert_eq!(b.mem, None);
        let model = &ecam.regs().functions[0];
        assert_ne!(*model.command.borrow() & config::CMD_IO, 0);
        let r = window_regs(model);
        assert_eq!(u64::from(r[1] & 0xf0) << 8, s);
        // Without an I/O window in the bridge: a clear error.
        let io_dev = FakeFunction::new(
            0,
            0,
            0x1af4_1000,
            0,
            [(0x40, 1), NONE, NONE, NONE, NONE, NONE],
        );
        let no_io = FakeFunction {
            io_window: false,
            ..FakeFunction::bridge(1, ROOT_PORT, std::vec![io_dev])
        };
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![no_io],
            },
            0,
            255,
        );
        let err = enumerate(&ecam, &windows).unwrap_err();
        assert_eq!(
            err,
            PciError::NoIoWindow {
                bridge: Bdf::new(0, 1, 0).unwrap(),
                size: IO_GRANULE
            }
        );
        assert!(std::format!("{err}").contains("bridge 00:01.0"));
    }

    #[test]
    fn bus_numbers_run_out_with_the_bridge_named() {
        let ports = || {
            std::vec![
                FakeFunction::bridge(1, ROOT_PORT, std::vec![edu(0)]),
                FakeFunction::bridge(2, ROOT_PORT, std::vec![edu(0)]),
            ]
        };
        let ecam = Ecam::new(FakeBus { functions: ports() }, 0, 1);
        let err = enumerate(&ecam, &qemu_windows()).unwrap_err();
        assert_eq!(
            err,
            PciError::BusNumbersExhausted {
                bridge: Bdf::new(0, 2, 0).unwrap(),
                last: 1
            }
        );
        assert!(std::format!("{err}").contains("bridge 00:02.0"));
        assert!(enumerate(
            &Ecam::new(FakeBus { functions: ports() }, 0, 2),
            &qemu_windows()
        )
        .is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        let mut f = edu(0);
        for _ in 0..=MAX_DEPTH {
            f = FakeFunction::bridge(0, ROOT_PORT, std::vec![f]);
        }
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![f],
            },
            0,
            255,
        );
        let err = enumerate(&ecam, &qemu_windows()).unwrap_err();
        assert_eq!(
            err,
            PciError::TooDeep {
                bridge: Bdf::new(MAX_DEPTH, 0, 0).unwrap(),
                limit: MAX_DEPTH
            }
        );
        // One level less is fine.
        let mut f = edu(0);
        for _ in 0..MAX_DEPTH {
            f = FakeFunction::bridge(0, ROOT_PORT, std::vec![f]);
        }
        let ecam = Ecam::new(
            FakeBus {
                functions: std::vec![f],
            },
            0,
            255,
        );
        let found = enumerate(&ecam, &qemu_windows()).unwrap();
        assert_eq!(found.last().unwrap().bdf.bus, MAX_DEPTH);
    }

    #[test]
    fn window_exhaustion_names_the_bridge() {
        let bus = FakeBus {
            functions: std::vec![FakeFunction::bridge(1, ROOT_PORT, std::vec![edu(0)])],
        };
        let tiny = [Window {
            kind: WindowKind::Mem32,
            prefetchable: false,
            pci_base: 0x1000_0000,
            cpu_base: PhysAddr(0x1000_0000),
            size: 0x8_0000,
        }];
        let ecam = Ecam::new(bus, 0, 255);
        let err = enumerate(&ecam, &tiny).unwrap_err();
        assert_eq!(
            err,
            PciError::NoWindowForBridge {
                bridge: Bdf::new(0, 1, 0).unwrap(),
                class: WindowClass::Mem,
                size: 1 << 20,
                align: 1 << 20
            }
        );
        assert!(std::format!("{err}").contains("bridge 00:01.0"));
        // A window whose sizes cannot add up is an error, not an overflow.
        let huge = FakeFunction::new(
            0,
            0,
            0x1111_2222,
            0,
            [(1 << 63, 0x4), NONE, (1 << 63, 0x4), NONE, NONE, NONE],
        );
        let bus = FakeBus {
            functions: std::vec![FakeFunction::bridge(1, ROOT_PORT, std::vec![huge])],
        };
        let err = enumerate(&Ecam::new(bus, 0, 255), &qemu_windows()).unwrap_err();
        assert!(matches!(
            err,
            PciError::WindowOutOfReach {
                class: WindowClass::Mem,
                ..
            }
        ));
    }
}
