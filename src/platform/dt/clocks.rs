//! A node's `clocks` and `resets` references, resolved to their providers.
//!
//! Bindings (Linux `Documentation/devicetree/bindings/`): `clock/clock-bindings.txt`
//! (`clocks = <&provider args...>`, each reference taking the provider's
//! `#clock-cells` argument cells; optional `clock-names`, one string per
//! reference) and `reset/reset.txt` (`resets`, `#reset-cells`,
//! `reset-names`, the same shape).  A sunxi CCU has `#clock-cells =
//! <1>` and `#reset-cells = <1>`: the one cell is the index in the SoC's
//! `dt-bindings` header (`CLK_BUS_IOMMU`, `RST_BUS_IOMMU`).
//!
//! Nothing allocates: the references go into a fixed list, strings are
//! borrowed from the blob.  Finding a provider walks the tree once per
//! reference (a node has a handful).
#![forbid(unsafe_code)]

use super::address::translate_reg;
use super::error::DtError;
use super::reader::{Located, Node};
use crate::mm::addr::PhysRange;

/// Capacity of a [`ProviderRefs`] (the sunxi DE mixers use 2, MMC 2-4).
pub const MAX_REFS: usize = 8;
/// Largest `#clock-cells` / `#reset-cells` accepted (bindings in use: 0..=2).
pub const MAX_ARG_CELLS: usize = 2;

/// Which property a reference came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// `clocks` (`#clock-cells`, `clock-names`).
    Clock,
    /// `resets` (`#reset-cells`, `reset-names`).
    Reset,
}

impl RefKind {
    /// The referencing property.
    pub const fn prop(self) -> &'static str {
        match self {
            RefKind::Clock => "clocks",
            RefKind::Reset => "resets",
        }
    }
    /// The provider's cell-count property.
    pub const fn cells_prop(self) -> &'static str {
        match self {
            RefKind::Clock => "#clock-cells",
            RefKind::Reset => "#reset-cells",
        }
    }
    /// The optional names property.
    pub const fn names_prop(self) -> &'static str {
        match self {
            RefKind::Clock => "clock-names",
            RefKind::Reset => "reset-names",
        }
    }
}

/// One `clocks` or `resets` reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderRef<'a> {
    /// Clock or reset.
    pub kind: RefKind,
    /// The provider's node name (`clock@3001000`).
    pub provider: &'a str,
    /// The provider's structure offset.
    pub provider_offset: usize,
    /// The provider's first `compatible` (`""` when absent).
    pub compatible: &'a str,
    /// The provider's first `reg` entry, translated (`None`: no `reg`, or
    /// it does not translate — e.g. a fixed clock).
    pub reg: Option<PhysRange>,
    /// Argument cells (the provider's `#clock-cells` / `#reset-cells`).
    args: [u32; MAX_ARG_CELLS],
    nargs: usize,
    /// This reference's entry in `clock-names` / `reset-names`.
    pub name: Option<&'a str>,
}

impl ProviderRef<'_> {
    /// The argument cells.
    pub fn args(&self) -> &[u32] {
        self.args.get(..self.nargs).unwrap_or(&[])
    }

    /// The first argument cell: the index in the provider's binding header
    /// (`None` for a provider with zero cells).
    pub fn index(&self) -> Option<u32> {
        self.args().first().copied()
    }
}

/// A node's references of one kind, in property order.
#[derive(Clone, Copy, Debug)]
pub struct ProviderRefs<'a> {
    items: [Option<ProviderRef<'a>>; MAX_REFS],
    len: usize,
}

impl<'a> ProviderRefs<'a> {
    /// The references.
    pub fn iter(&self) -> impl Iterator<Item = &ProviderRef<'a>> {
        self.items.iter().take(self.len).filter_map(|o| o.as_ref())
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the node has none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn be32_at(v: &[u8], cell: usize) -> Option<u32> {
    let b = v.get(cell * 4..cell * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The node's `phandle` (or legacy `linux,phandle`).
pub fn phandle_of(n: &Node<'_>) -> Option<u32> {
    match n.prop_u32("phandle") {
        Ok(Some(p)) => Some(p),
        _ => n.prop_u32("linux,phandle").ok().flatten(),
    }
}

/// The node with `phandle`, with its ancestors (also used by
/// `platform::irq` for `interrupt-parent`).
pub fn by_phandle<'a>(loc: &Located<'a>, phandle: u32) -> Result<Option<Located<'a>>, DtError> {
    let mut found = None;
    loc.fdt().walk(|l| {
        if phandle_of(&l.node()) == Some(phandle) {
            found = Some(*l);
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(found)
}

/// Reads the node's `clocks` (empty when it has none).
pub fn read_clocks<'a>(loc: &Located<'a>) -> Result<ProviderRefs<'a>, DtError> {
    read_refs(loc, RefKind::Clock)
}

/// Reads the node's `resets` (empty when it has none).
pub fn read_resets<'a>(loc: &Located<'a>) -> Result<ProviderRefs<'a>, DtError> {
    read_refs(loc, RefKind::Reset)
}

/// Reads `kind`'s property of the node: each reference's provider (by
/// phandle), its argument cells (the provider's cell count) and its name.
/// An error names the node and property: a length not a whole number of
/// cells, a phandle no node has, a provider without (or with too many)
/// cells, a reference cut short, more than [`MAX_REFS`] references.
pub fn read_refs<'a>(loc: &Located<'a>, kind: RefKind) -> Result<ProviderRefs<'a>, DtError> {
    let n = loc.node();
    let mut out = ProviderRefs {
        items: [None; MAX_REFS],
        len: 0,
    };
    let prop = kind.prop();
    let Some(p) = n.property(prop) else {
        return Ok(out);
    };
    if p.value.len() % 4 != 0 {
        return Err(DtError::BadPropertyLength {
            node: loc.path_name(),
            prop,
            len: p.value.len(),
            expected: 4,
            exact: false,
        });
    }
    let ncells = p.value.len() / 4;
    let mut names = n.prop_strs(kind.names_prop());
    let mut cell = 0usize;
    while cell < ncells {
        let phandle = be32_at(p.value, cell).unwrap_or(0);
        let provider = by_phandle(loc, phandle)?.ok_or(DtError::BadPhandle {
            node: loc.path_name(),
            prop,
            phandle,
            problem: "no node has this phandle",
        })?;
        let pn = provider.node();
        let cells = pn.prop_u32(kind.cells_prop())?.ok_or(DtError::BadPhandle {
            node: loc.path_name(),
            prop,
            phandle,
            problem: match kind {
                RefKind::Clock => "the node it names has no #clock-cells",
                RefKind::Reset => "the node it names has no #reset-cells",
            },
        })?;
        if cells as usize > MAX_ARG_CELLS {
            return Err(DtError::BadCells {
                node: provider.path_name(),
                prop: kind.cells_prop(),
                value: cells,
                max: MAX_ARG_CELLS as u32,
            });
        }
        let nargs = cells as usize;
        if cell + 1 + nargs > ncells {
            return Err(DtError::BadPropertyLength {
                node: loc.path_name(),
                prop,
                len: p.value.len(),
                expected: (1 + nargs) * 4,
                exact: false,
            });
        }
        let mut args = [0u32; MAX_ARG_CELLS];
        for (k, slot) in args.iter_mut().take(nargs).enumerate() {
            *slot = be32_at(p.value, cell + 1 + k).unwrap_or(0);
        }
        let r = ProviderRef {
            kind,
            provider: pn.name(),
            provider_offset: pn.offset(),
            compatible: pn.prop_strs("compatible").next().unwrap_or(""),
            reg: translate_reg(&provider, 0).ok(),
            args,
            nargs,
            name: names.next(),
        };
        let slot = out.items.get_mut(out.len).ok_or(DtError::ListFull {
            list: prop,
            capacity: MAX_REFS,
        })?;
        *slot = Some(r);
        out.len += 1;
        cell += 1 + nargs;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
