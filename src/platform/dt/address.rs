//! `reg` decoding and address translation through parents' `ranges`.
//!
//! Devicetree Specification v0.4:
//! * §2.3.5 `#address-cells` / `#size-cells`: they describe the *children*
//!   of the node carrying them; when absent, assume 2 and 1.
//! * §2.3.6 `reg`: `(address, length)` pairs in the parent's cells.
//! * §2.3.8 `ranges`: `(child-bus-address, parent-bus-address, length)`
//!   triplets, child address in this node's `#address-cells`, parent address
//!   in the parent's `#address-cells`, length in this node's `#size-cells`.
//!   An empty `ranges` means identity; no `ranges` means the children's
//!   addresses are not CPU addresses (not translatable).
//!
//! Matching follows Linux `drivers/of/address.c` (`of_bus_default_map`): an
//! entry matches when the *start* address lies in
//! `[child-bus-address, child-bus-address + length)`.  PCI's bus-specific
//! matching (ignoring phys.hi flag bits) is not implemented: a `reg` below a
//! PCI host bridge is translated with the generic rule.
#![forbid(unsafe_code)]

use super::error::{DtError, DtName};
use super::reader::{Fdt, Located, Node};
use crate::mm::addr::{PhysAddr, PhysRange};

/// Largest `#address-cells` accepted (Linux `OF_MAX_ADDR_CELLS`, also enough
/// for PCI's 3-cell addresses).
pub const MAX_ADDRESS_CELLS: u32 = 4;
/// Largest `#size-cells` accepted: sizes must fit in 64 bits.
pub const MAX_SIZE_CELLS: u32 = 2;

/// `#address-cells` and `#size-cells` of a node (what its children use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    /// `#address-cells` (default 2).
    pub address: u32,
    /// `#size-cells` (default 1).
    pub size: u32,
}

impl Cells {
    /// Reads a node's cells, applying the spec §2.3.5 defaults and our limits.
    pub fn of(node: &Node<'_>, name: impl FnOnce() -> DtName) -> Result<Cells, DtError> {
        let address = node.prop_u32("#address-cells")?.unwrap_or(2);
        let size = node.prop_u32("#size-cells")?.unwrap_or(1);
        if address > MAX_ADDRESS_CELLS {
            return Err(DtError::BadCells {
                node: name(),
                prop: "#address-cells",
                value: address,
                max: MAX_ADDRESS_CELLS,
            });
        }
        if size > MAX_SIZE_CELLS {
            return Err(DtError::BadCells {
                node: name(),
                prop: "#size-cells",
                value: size,
                max: MAX_SIZE_CELLS,
            });
        }
        Ok(Cells { address, size })
    }
}

/// Reads `cells` big-endian 32-bit cells (at most 4) at `bytes[0..]`.
pub(crate) fn read_number(bytes: &[u8], cells: u32) -> Option<u128> {
    let mut v: u128 = 0;
    for i in 0..cells as usize {
        let c = bytes.get(i * 4..i * 4 + 4)?;
        v = (v << 32) | u128::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    Some(v)
}

/// One raw `reg` entry, in the parent bus's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawReg {
    /// Address (up to 4 cells).
    pub addr: u128,
    /// Size (up to 2 cells; 0 when the parent has `#size-cells = 0`).
    pub size: u64,
}

fn located_cells(loc: &Located<'_>, up: usize) -> Result<Cells, DtError> {
    let l = loc.ancestor_located(up).ok_or(DtError::NotFound {
        what: "parent node",
        path: loc.path_name(),
    })?;
    Cells::of(&l.node(), || l.path_name())
}

/// Number of entries of a `reg`-like property (`prop`) of `loc`, checking
/// that its length is a multiple of the parent's entry size.  0 when absent.
pub fn reg_count(loc: &Located<'_>, prop: &'static str) -> Result<usize, DtError> {
    let node = loc.node();
    let Some(p) = node.property(prop) else {
        return Ok(0);
    };
    let cells = located_cells(loc, 1)?;
    if cells.address == 0 {
        return Err(DtError::BadValue {
            node: parent_path(loc),
            prop: "#address-cells",
            found: 0,
            expected: "at least 1 on a parent of a node with `reg`",
        });
    }
    let entry = ((cells.address + cells.size) * 4) as usize;
    if p.value.len() % entry != 0 {
        return Err(DtError::BadPropertyLength {
            node: loc.path_name(),
            prop,
            len: p.value.len(),
            expected: entry,
            exact: false,
        });
    }
    Ok(p.value.len() / entry)
}

fn parent_path(loc: &Located<'_>) -> DtName {
    loc.parent_located()
        .map(|p| p.path_name())
        .unwrap_or_else(|| DtName::new("/"))
}

/// Entry `index` of a `reg`-like property, untranslated.
pub fn raw_reg(loc: &Located<'_>, prop: &'static str, index: usize) -> Result<RawReg, DtError> {
    let count = reg_count(loc, prop)?;
    let node = loc.node();
    let p = node.property(prop).ok_or(DtError::MissingProperty {
        node: loc.path_name(),
        prop,
    })?;
    if index >= count {
        return Err(DtError::IndexOutOfRange {
            node: loc.path_name(),
            prop,
            index,
            count,
        });
    }
    let cells = located_cells(loc, 1)?;
    let entry = ((cells.address + cells.size) * 4) as usize;
    let bytes = p.value.get(index * entry..).unwrap_or(&[]);
    let too_large = || DtError::AddressTooLarge {
        node: loc.path_name(),
        prop,
    };
    let addr = read_number(bytes, cells.address).ok_or_else(too_large)?;
    let size = read_number(
        bytes.get((cells.address * 4) as usize..).unwrap_or(&[]),
        cells.size,
    )
    .ok_or_else(too_large)?;
    let size = u64::try_from(size).map_err(|_| too_large())?;
    Ok(RawReg { addr, size })
}

/// Translates `addr`, an address in the address space of `loc`'s parent
/// bus, up to the CPU physical address space (the root's), through every
/// ancestor's `ranges`.
pub fn translate_address(loc: &Located<'_>, mut addr: u128) -> Result<PhysAddr, DtError> {
    // `up` = 1: the parent bus, whose space `addr` is in.
    let mut up = 1usize;
    // Stops when `loc` is the root (nothing to translate).
    while let Some(bus_loc) = loc.ancestor_located(up) {
        if bus_loc.depth() <= 1 {
            break; // The bus is the root: `addr` is a CPU physical address.
        }
        let bus = bus_loc.node();
        let bus_name = || bus_loc.path_name();
        let Some(ranges) = bus.property("ranges") else {
            return Err(DtError::NotTranslatable {
                node: loc.path_name(),
                bus: bus_name(),
            });
        };
        if !ranges.value.is_empty() {
            let child = Cells::of(&bus, bus_name)?;
            let parent = located_cells(loc, up + 1)?;
            let entry = ((child.address + parent.address + child.size) * 4) as usize;
            if entry == 0 || ranges.value.len() % entry != 0 {
                return Err(DtError::BadPropertyLength {
                    node: bus_name(),
                    prop: "ranges",
                    len: ranges.value.len(),
                    expected: entry,
                    exact: false,
                });
            }
            let mut hit = None;
            for e in ranges.value.chunks_exact(entry) {
                let a = child.address as usize * 4;
                let b = a + parent.address as usize * 4;
                let (Some(cb), Some(pb), Some(len)) = (
                    read_number(e, child.address),
                    read_number(e.get(a..).unwrap_or(&[]), parent.address),
                    read_number(e.get(b..).unwrap_or(&[]), child.size),
                ) else {
                    continue;
                };
                if addr >= cb && addr - cb < len {
                    hit = pb.checked_add(addr - cb);
                    break;
                }
            }
            addr = hit.ok_or(DtError::NoRangeMatch {
                node: loc.path_name(),
                bus: bus_name(),
                addr: addr as u64,
            })?;
        }
        up += 1;
    }
    u64::try_from(addr)
        .map(PhysAddr)
        .map_err(|_| DtError::AddressTooLarge {
            node: loc.path_name(),
            prop: "reg",
        })
}

/// Entry `index` of `loc`'s `reg`, translated to a CPU physical range.
pub fn translate_reg(loc: &Located<'_>, index: usize) -> Result<PhysRange, DtError> {
    translate_prop(loc, "reg", index)
}

/// Like [`translate_reg`] for another property with `reg` layout.
pub fn translate_prop(
    loc: &Located<'_>,
    prop: &'static str,
    index: usize,
) -> Result<PhysRange, DtError> {
    let raw = raw_reg(loc, prop, index)?;
    let base = translate_address(loc, raw.addr)?;
    if base.0.checked_add(raw.size).is_none() {
        return Err(DtError::AddressTooLarge {
            node: loc.path_name(),
            prop,
        });
    }
    Ok(PhysRange::new(base, raw.size))
}

/// Finds the node at `path` (full path or alias, see [`Fdt::find`]) and
/// returns its `reg` entry `index`, translated: the call a driver makes.
pub fn node_reg(fdt: &Fdt<'_>, path: &str, index: usize) -> Result<PhysRange, DtError> {
    translate_reg(&fdt.find(path)?, index)
}
