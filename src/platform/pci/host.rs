//! The DT description of a generic ECAM host bridge
//! (`pci-host-ecam-generic`; Linux Documentation/devicetree/bindings/pci/
//! host-generic-pci.yaml): the ECAM window (`reg`), the buses it decodes
//! (`bus-range`) and the windows through which the CPU reaches PCI space
//! (`ranges`, decoded per the IEEE 1275 PCI bus binding: 3 PCI address cells,
//! the parent's address cells, 2 size cells).
#![forbid(unsafe_code)]

use super::enumerate::{PciError, Window, WindowKind};
use crate::mm::{MapCause, PhysAddr, PhysRange};
use crate::platform::dt::address::{translate_address, translate_reg, Cells};
use crate::platform::dt::reader::Fdt;
use crate::platform::dt::DtError;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The `compatible` string of the generic ECAM host bridge.
pub const COMPATIBLE: &str = "pci-host-ecam-generic";

/// A malformed host-bridge property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The generic device-tree layer refused a property.
    Dt(DtError),
    /// `ranges` length is not a multiple of one entry.
    RangesLength {
        /// Bytes in the property.
        len: usize,
        /// Bytes per entry implied by the cell counts.
        entry: usize,
    },
    /// Parent `#address-cells` outside 1..=2.
    ParentCells {
        /// The value found.
        cells: u32,
    },
    /// `bus-range` is not two cells, or is reversed / above 255.
    BusRange {
        /// First bus as found.
        first: u32,
        /// Last bus as found.
        last: u32,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Dt(e) => write!(f, "{e}"),
            HostError::RangesLength { len, entry } => write!(
                f,
                "PCI host `ranges` is {len} bytes, not a multiple of its {entry}-byte entries"
            ),
            HostError::ParentCells { cells } => {
                write!(
                    f,
                    "PCI host parent #address-cells = {cells}, expected 1 or 2"
                )
            }
            HostError::BusRange { first, last } => {
                write!(
                    f,
                    "PCI host `bus-range` <{first:#x} {last:#x}> is not a valid bus span"
                )
            }
        }
    }
}

/// Why the functions below one host bridge could not be listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumerationError {
    /// The ECAM window could not be mapped.
    MapEcam(MapCause),
    /// Enumeration itself failed.
    Pci(PciError),
}

impl fmt::Display for EnumerationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MapEcam(e) => write!(f, "mapping ECAM: {e}"),
            Self::Pci(e) => write!(f, "{e}"),
        }
    }
}

fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

fn join(hi: u32, lo: u32) -> u64 {
    u64::from(hi) << 32 | u64::from(lo)
}

/// Decodes `ranges` of a PCI host bridge whose parent has
/// `parent_addr_cells` address cells.  Configuration-space entries (space
/// code 0) and empty windows are skipped.
pub fn parse_ranges(bytes: &[u8], parent_addr_cells: u32) -> Result<Vec<Window>, HostError> {
    if !(1..=2).contains(&parent_addr_cells) {
        return Err(HostError::ParentCells {
            cells: parent_addr_cells,
        });
    }
    let entry_cells = 3 + parent_addr_cells as usize + 2;
    let entry = entry_cells * 4;
    if !bytes.len().is_multiple_of(entry) {
        return Err(HostError::RangesLength {
            len: bytes.len(),
            entry,
        });
    }
    let mut out = Vec::new();
    for e in bytes.chunks_exact(entry) {
        let c: Vec<u32> = cells(e).collect();
        let phys_hi = c[0];
        let pci_base = join(c[1], c[2]);
        let (cpu_base, size_at) = if parent_addr_cells == 2 {
            (join(c[3], c[4]), 5)
        } else {
            (u64::from(c[3]), 4)
        };
        let size = join(c[size_at], c[size_at + 1]);
        let kind = match (phys_hi >> 24) & 3 {
            0b01 => WindowKind::Io,
            0b10 => WindowKind::Mem32,
            0b11 => WindowKind::Mem64,
            _ => continue,
        };
        if size == 0 {
            continue;
        }
        out.push(Window {
            kind,
            prefetchable: phys_hi & (1 << 30) != 0,
            pci_base,
            cpu_base: PhysAddr(cpu_base),
            size,
        });
    }
    Ok(out)
}

/// Decodes `bus-range`; absent means 0..=255 (binding default).
pub fn parse_bus_range(bytes: Option<&[u8]>) -> Result<(u8, u8), HostError> {
    let Some(b) = bytes else { return Ok((0, 255)) };
    let c: Vec<u32> = cells(b).collect();
    match c.as_slice() {
        [first, last] if first <= last && *last <= 255 => Ok((*first as u8, *last as u8)),
        [first, last] => Err(HostError::BusRange {
            first: *first,
            last: *last,
        }),
        _ => Err(HostError::BusRange {
            first: u32::MAX,
            last: u32::MAX,
        }),
    }
}

impl From<DtError> for HostError {
    fn from(e: DtError) -> Self {
        HostError::Dt(e)
    }
}

/// A generic ECAM host bridge as the DT describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBridge {
    /// Node path.
    pub path: String,
    /// The ECAM window (CPU physical).
    pub ecam: PhysRange,
    /// Buses decoded (`bus-range`).
    pub buses: (u8, u8),
    /// Windows, with CPU addresses translated to the root.
    pub windows: Vec<Window>,
    /// `dma-coherent` is present.
    pub dma_coherent: bool,
}

/// Finds every enabled `pci-host-ecam-generic` node.
pub fn find_hosts(fdt: &Fdt<'_>) -> Result<Vec<HostBridge>, HostError> {
    let mut hosts = Vec::new();
    let mut err = None;
    fdt.walk(|loc| {
        let node = loc.node();
        if !node.is_compatible(COMPATIBLE) || !node.is_enabled() {
            return Ok(true);
        }
        match host_from(loc) {
            Ok(h) => hosts.push(h),
            Err(e) => {
                err = Some(e);
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(hosts),
    }
}

fn host_from(loc: &crate::platform::dt::reader::Located<'_>) -> Result<HostBridge, HostError> {
    let node = loc.node();
    let path = String::from(loc.path_name().as_str());
    let ecam = translate_reg(loc, 0)?;
    let buses = parse_bus_range(node.property("bus-range").map(|p| p.value))?;
    let parent = loc.parent_located().ok_or(DtError::NotFound {
        what: "parent of PCI host",
        path: loc.path_name(),
    })?;
    let parent_cells = Cells::of(&parent.node(), || parent.path_name())?;
    let raw = node.property("ranges").map(|p| p.value).unwrap_or(&[]);
    let mut windows = parse_ranges(raw, parent_cells.address)?;
    for w in &mut windows {
        // ranges' parent addresses are in the host's parent bus space.
        w.cpu_base = translate_address(loc, u128::from(w.cpu_base.as_u64()))?;
    }
    Ok(HostBridge {
        path,
        ecam,
        buses,
        windows,
        dma_coherent: node.has_property("dma-coherent"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(cells: &[u32]) -> Vec<u8> {
        cells.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    #[test]
    fn qemu_virt_ranges() {
        // Verbatim from docs/hw/qemu-virt.md §1.1 (QEMU 10.0.2 -M virt).
        let r = be(&[
            0x1000000, 0x00, 0x00, 0x00, 0x3eff0000, 0x00, 0x10000, //
            0x2000000, 0x00, 0x10000000, 0x00, 0x10000000, 0x00, 0x2eff0000, //
            0x3000000, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00,
        ]);
        let w = parse_ranges(&r, 2).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].kind, w[0].cpu_base, w[0].size),
            (WindowKind::Io, PhysAddr(0x3eff_0000), 0x10000)
        );
        assert_eq!(
            (w[1].kind, w[1].pci_base, w[1].size),
            (WindowKind::Mem32, 0x1000_0000, 0x2eff_0000)
        );
        assert_eq!(
            (w[2].kind, w[2].cpu_base, w[2].size),
            (WindowKind::Mem64, PhysAddr(0x80_0000_0000), 0x80_0000_0000)
        );
    }

    #[test]
    fn malformed_properties_are_errors() {
        assert_eq!(
            parse_ranges(&[0; 20], 2),
            Err(HostError::RangesLength { len: 20, entry: 28 })
        );
        assert_eq!(
            parse_ranges(&[], 3),
            Err(HostError::ParentCells { cells: 3 })
        );
        assert_eq!(parse_bus_range(Some(&be(&[0, 0xff]))), Ok((0, 255)));
        assert_eq!(parse_bus_range(None), Ok((0, 255)));
        assert!(parse_bus_range(Some(&be(&[5, 1]))).is_err());
        assert!(parse_bus_range(Some(&be(&[0, 0x100]))).is_err());
        assert!(parse_bus_range(Some(&be(&[0]))).is_err());
    }

    #[test]
    fn one_cell_parent_and_prefetch_bit() {
        let r = be(&[0x4200_0000, 0, 0x2000_0000, 0x2000_0000, 0, 0x100_0000]);
        let w = parse_ranges(&r, 1).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].prefetchable);
        assert_eq!(w[0].kind, WindowKind::Mem32);
    }
}

#[cfg(test)]
mod qemu_tests {
    use super::*;
    use crate::platform::dt::tests::qemu_dtb_with;

    #[test]
    fn finds_qemu_virt_host_bridge() {
        let Some(blob) = qemu_dtb_with("iommu=smmuv3", &["-device", "edu,addr=4.0"]) else {
            std::eprintln!("SKIP finds_qemu_virt_host_bridge: qemu-system-aarch64 not available");
            return;
        };
        let fdt = Fdt::parse(&blob).unwrap();
        let hosts = find_hosts(&fdt).unwrap();
        assert_eq!(hosts.len(), 1);
        let h = &hosts[0];
        assert_eq!(h.path, "/pcie@10000000");
        // High ECAM (docs/hw/qemu-virt.md §6): 256 MiB at 0x40_1000_0000.
        assert_eq!(
            h.ecam,
            PhysRange::new(PhysAddr(0x40_1000_0000), 0x1000_0000)
        );
        assert_eq!(h.buses, (0, 255));
        assert!(h.dma_coherent);
        assert!(h
            .windows
            .iter()
            .any(|w| w.kind == WindowKind::Mem32 && w.cpu_base == PhysAddr(0x1000_0000)));
    }
}
