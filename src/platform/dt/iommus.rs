//! IOMMU providers and the DMA masters that reference them.
//!
//! Bindings (Linux `Documentation/devicetree/bindings/`):
//! * `iommu/iommu.txt`: a provider has `#iommu-cells`; a master has
//!   `iommus = <&provider args...>`, each reference taking the provider's
//!   `#iommu-cells` argument cells.
//! * `pci/pci-iommu.txt`: a PCI host bridge has `iommu-map = <rid-base
//!   &provider iommu-base length>` (always 4 cells per entry) and optional
//!   `iommu-map-mask` (default all ones) applied to the requester ID first;
//!   the lookup follows Linux `drivers/of/base.c` `of_map_id`.
//! * `iommu/arm,smmu-v3.yaml`, `iommu/arm,smmu.yaml` (SMMUv1/v2, MMU-500,
//!   the Qualcomm `qcom,*-smmu-500` / `qcom,*-smmu-v2` variants),
//!   `iommu/allwinner,sun50i-h6-iommu.yaml`, `iommu/apple,dart.yaml`,
//!   `virtio/iommu.yaml` (virtio-iommu is a PCI function: its `reg` is a
//!   PCI config-space address, not MMIO).
//!
//! Every node with `#iommu-cells` is recorded (kind [`IommuKind::Unknown`]
//! when we have no driver), so every `iommus` reference resolves to an
//! index in the [`IommuList`].  A recognised provider whose `#iommu-cells`
//! is not its binding's value is still recorded, with a [`CellsMismatch`]
//! that the self-test reports as a failing result for that IOMMU.  Nothing allocates: providers go into a fixed
//! list, masters and PCI maps are visited.
#![forbid(unsafe_code)]

use super::address::translate_reg;
use super::error::{DtError, DtName};
use super::reader::{Fdt, Located, Node};
use crate::mm::addr::PhysRange;
use core::fmt;

/// Capacity of an [`IommuList`] (an M1 has about 20 DARTs).
pub const MAX_IOMMUS: usize = 32;
/// Largest `#iommu-cells` accepted (bindings in use have 0..=2).
pub const MAX_IOMMU_CELLS: usize = 4;
/// Capacity of one PCI host's `iommu-map` (SDM845 PCIe0 uses 16).
pub const MAX_MAP_ENTRIES: usize = 32;

/// Which IOMMU programming model a provider needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IommuKind {
    /// Arm SMMUv3 (`arm,smmu-v3`).
    SmmuV3,
    /// Arm MMU-500 (`arm,mmu-500`, `qcom,smmu-500`, `qcom,*-smmu-500`).
    Mmu500,
    /// Arm SMMUv1/v2 (`arm,smmu-v1`, `arm,smmu-v2`, `arm,mmu-400`,
    /// `arm,mmu-401`, `qcom,smmu-v2`, `qcom,*-smmu-v2`).
    SmmuV2,
    /// Allwinner sun50i IOMMU (`allwinner,sun50i-h6-iommu`,
    /// `allwinner,sun50i-h616-iommu`).
    Sun50i,
    /// Apple DART (`apple,t8103-dart`, `apple,t8103-usb4-dart`,
    /// `apple,t6000-dart`, `apple,t8110-dart`); the compatible tells the
    /// register layout.
    AppleDart,
    /// virtio-iommu on PCI (`virtio,pci-iommu`).
    VirtioIommu,
    /// A provider (`#iommu-cells`) we have no driver for.
    Unknown,
}

impl IommuKind {
    /// The kind for one `compatible` string, `None` when not one of ours.
    pub fn from_compatible(c: &str) -> Option<IommuKind> {
        let qcom_variant = |suffix: &str| c.starts_with("qcom,") && c.ends_with(suffix);
        match c {
            "arm,smmu-v3" => Some(IommuKind::SmmuV3),
            "arm,mmu-500" | "qcom,smmu-500" => Some(IommuKind::Mmu500),
            "arm,smmu-v1" | "arm,smmu-v2" | "arm,mmu-400" | "arm,mmu-401" | "qcom,smmu-v2" => {
                Some(IommuKind::SmmuV2)
            }
            "allwinner,sun50i-h6-iommu" | "allwinner,sun50i-h616-iommu" => Some(IommuKind::Sun50i),
            "apple,t8103-dart"
            | "apple,t8103-usb4-dart"
            | "apple,t6000-dart"
            | "apple,t8110-dart" => Some(IommuKind::AppleDart),
            "virtio,pci-iommu" => Some(IommuKind::VirtioIommu),
            _ if qcom_variant("-smmu-500") => Some(IommuKind::Mmu500),
            _ if qcom_variant("-smmu-v2") => Some(IommuKind::SmmuV2),
            _ => None,
        }
    }
}

impl IommuKind {
    /// The `#iommu-cells` values the kind's binding allows, `None` when we
    /// do not judge ([`IommuKind::Unknown`]): `arm,smmu-v3.yaml`,
    /// `allwinner,sun50i-h6-iommu.yaml`, `apple,dart.yaml` and
    /// `virtio/iommu.yaml` say 1 (the stream / master / endpoint ID);
    /// `arm,smmu.yaml` says 1 or 2 (stream ID, optionally an SMR mask).
    pub fn binding_iommu_cells(self) -> Option<&'static [u32]> {
        match self {
            IommuKind::SmmuV3
            | IommuKind::VirtioIommu
            | IommuKind::Sun50i
            | IommuKind::AppleDart => Some(&[1]),
            IommuKind::Mmu500 | IommuKind::SmmuV2 => Some(&[1, 2]),
            IommuKind::Unknown => None,
        }
    }
}

/// A provider whose `#iommu-cells` is not what its binding allows.  Not a
/// discovery error: the provider is still listed (so references to it
/// resolve), and the self-test reports it as a failing result of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellsMismatch<'a> {
    /// Path of the provider node.
    pub node: DtName,
    /// The `compatible` whose binding was checked.
    pub compatible: &'a str,
    /// The values the binding allows.
    pub expected: &'static [u32],
    /// The value in the tree.
    pub found: u32,
}

impl fmt::Display for CellsMismatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: #iommu-cells is <{}>, but the {} binding requires ",
            self.node, self.found, self.compatible
        )?;
        for (i, v) in self.expected.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "<{v}>")?;
        }
        Ok(())
    }
}

/// One IOMMU provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IommuNode<'a> {
    /// Node name (`iommu@15000000`).
    pub name: &'a str,
    /// Structure offset of the node (see [`super::Node::offset`]); with
    /// [`locate`] it gives the node back, e.g. to read more `reg` entries.
    pub node_offset: usize,
    /// The `compatible` string that decided [`Self::kind`] (the first one
    /// when unknown, `""` when absent).
    pub compatible: &'a str,
    /// The programming model.
    pub kind: IommuKind,
    /// First `reg` entry, translated.  `None` for virtio-iommu (its `reg`
    /// is a PCI address) and for unknown providers whose `reg` does not
    /// translate; a recognised MMIO IOMMU with a bad `reg` is an error.
    pub reg: Option<PhysRange>,
    /// virtio-iommu only: bus/device/function from `reg` phys.hi bits
    /// 23:8 (IEEE 1275 PCI bus binding).
    pub pci_bdf: Option<u16>,
    /// `#iommu-cells`.
    pub iommu_cells: u32,
    /// `Some` when [`Self::iommu_cells`] is not what the binding of
    /// [`Self::kind`] allows ([`IommuKind::binding_iommu_cells`]).
    pub cells_mismatch: Option<CellsMismatch<'a>>,
    /// The node's `phandle` (or legacy `linux,phandle`).
    pub phandle: Option<u32>,
    /// `status` absent or `"okay"` (m1n1 flips a locked DART to okay).
    pub enabled: bool,
    /// `dma-coherent`: the IOMMU's table walker snoops CPU caches.
    pub dma_coherent: bool,
    /// The boolean property `cavium,cn9900-broken-page1-regspace` (SMMUv3
    /// binding; Linux `ARM_SMMU_OPT_PAGE0_REGS_ONLY`): the Page 1 registers
    /// are reached at their Page 0 offsets (docs/hw/smmuv3.md §1).
    pub page0_regs_only: bool,
    /// `stream-match-mask` (`iommu/arm,smmu.yaml`): with `#iommu-cells` =
    /// 1, the SMR mask of every stream of this SMMU (docs/hw/smmuv2.md §6).
    pub stream_match_mask: Option<u32>,
}

/// A fixed-capacity list of providers, in blob order.
#[derive(Clone, Copy, Debug)]
pub struct IommuList<'a> {
    items: [Option<IommuNode<'a>>; MAX_IOMMUS],
    len: usize,
}

impl Default for IommuList<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> IommuList<'a> {
    /// An empty list.
    pub fn new() -> Self {
        IommuList {
            items: [None; MAX_IOMMUS],
            len: 0,
        }
    }

    /// Number of providers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the tree has no provider.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Provider `i`.
    pub fn get(&self, i: usize) -> Option<&IommuNode<'a>> {
        self.items.get(i).and_then(|o| o.as_ref())
    }

    /// The providers in blob order.
    pub fn iter(&self) -> impl Iterator<Item = &IommuNode<'a>> {
        self.items.iter().take(self.len).filter_map(|o| o.as_ref())
    }

    /// Index of the provider with `phandle`.
    pub fn by_phandle(&self, phandle: u32) -> Option<usize> {
        self.iter().position(|n| n.phandle == Some(phandle))
    }

    /// Appends a provider; [`DtError::ListFull`] past [`MAX_IOMMUS`].
    pub fn push(&mut self, n: IommuNode<'a>) -> Result<(), DtError> {
        let slot = self.items.get_mut(self.len).ok_or(DtError::ListFull {
            list: "iommu",
            capacity: MAX_IOMMUS,
        })?;
        *slot = Some(n);
        self.len += 1;
        Ok(())
    }
}

fn phandle_of(n: &Node<'_>) -> Result<Option<u32>, DtError> {
    match n.prop_u32("phandle")? {
        Some(p) => Ok(Some(p)),
        None => n.prop_u32("linux,phandle"),
    }
}

/// Finds every provider (`#iommu-cells`) in the tree.  The first node that
/// does not read ([`read_iommu_node`]) makes it an error.
pub fn find_iommus<'a>(fdt: &Fdt<'a>) -> Result<IommuList<'a>, DtError> {
    let mut list = IommuList::new();
    fdt.walk(|loc| {
        if let Some(n) = read_iommu_node(loc)? {
            list.push(n)?;
        }
        Ok(true)
    })?;
    Ok(list)
}

/// Reads one node as a provider: `Ok(None)` when it has no
/// `#iommu-cells`.  An error names what [`find_iommus`] would stop on
/// (`#iommu-cells` above [`MAX_IOMMU_CELLS`], a recognised MMIO IOMMU whose
/// `reg` does not translate, an unreadable `phandle`); `cargo xtask
/// dt-probe` calls it node by node to report every broken provider.
pub fn read_iommu_node<'a>(loc: &Located<'a>) -> Result<Option<IommuNode<'a>>, DtError> {
    let n = loc.node();
    let Some(cells) = n.prop_u32("#iommu-cells")? else {
        return Ok(None);
    };
    if cells as usize > MAX_IOMMU_CELLS {
        return Err(DtError::BadCells {
            node: loc.path_name(),
            prop: "#iommu-cells",
            value: cells,
            max: MAX_IOMMU_CELLS as u32,
        });
    }
    let (compatible, kind) = provider_kind(&n);
    let (reg, pci_bdf) = match kind {
        IommuKind::VirtioIommu => {
            let hi = n
                .property("reg")
                .and_then(|p| p.value.get(..4))
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            (None, hi.map(|h| ((h >> 8) & 0xffff) as u16))
        }
        IommuKind::Unknown => (translate_reg(loc, 0).ok(), None),
        _ => (Some(translate_reg(loc, 0)?), None),
    };
    let cells_mismatch = match kind.binding_iommu_cells() {
        Some(expected) if !expected.contains(&cells) => Some(CellsMismatch {
            node: loc.path_name(),
            compatible,
            expected,
            found: cells,
        }),
        _ => None,
    };
    Ok(Some(IommuNode {
        name: n.name(),
        node_offset: n.offset(),
        compatible,
        kind,
        reg,
        pci_bdf,
        iommu_cells: cells,
        cells_mismatch,
        phandle: phandle_of(&n)?,
        enabled: n.is_enabled(),
        dma_coherent: n.has_property("dma-coherent"),
        page0_regs_only: n.has_property(PAGE0_REGS_ONLY_PROPERTY),
        stream_match_mask: n.prop_u32("stream-match-mask")?,
    }))
}

/// The SMMUv3 node property that says Page 1 is not decoded (Cavium
/// ThunderX2 CN99xx; docs/hw/smmuv3.md §1).
pub const PAGE0_REGS_ONLY_PROPERTY: &str = "cavium,cn9900-broken-page1-regspace";

/// The `compatible` that decides a provider's kind and the kind: the first
/// string we recognise, else the first string (`""` when absent) and
/// [`IommuKind::Unknown`].  A recognised SMMU that also lists
/// [`ADRENO_SMMU`] is the GPU's own instance, which its family treats
/// apart: that string decides (the kind stays the first recognised one's).
pub fn provider_kind<'a>(n: &Node<'a>) -> (&'a str, IommuKind) {
    let found = n
        .prop_strs("compatible")
        .find_map(|c| IommuKind::from_compatible(c).map(|k| (c, k)));
    match found {
        Some((_, k)) if n.prop_strs("compatible").any(|c| c == ADRENO_SMMU) => {
            let adreno = n
                .prop_strs("compatible")
                .find(|c| *c == ADRENO_SMMU)
                .unwrap_or(ADRENO_SMMU);
            (adreno, k)
        }
        Some(f) => f,
        None => (
            n.prop_strs("compatible").next().unwrap_or(""),
            IommuKind::Unknown,
        ),
    }
}

/// The compatible Qualcomm adds to the GPU's own SMMU instance
/// (`iommu/arm,smmu.yaml`).
pub const ADRENO_SMMU: &str = "qcom,adreno-smmu";

/// The node at structure offset `offset` with its ancestors (a tree walk).
pub fn locate<'a>(fdt: &Fdt<'a>, offset: usize) -> Result<Located<'a>, DtError> {
    let mut found = None;
    fdt.walk(|l| {
        if l.node().offset() == offset {
            found = Some(*l);
            return Ok(false);
        }
        Ok(true)
    })?;
    found.ok_or(DtError::BadStructure {
        struct_offset: offset,
        token: 0,
        problem: "no node starts at this offset",
    })
}

/// The argument cells of one `iommus` reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IommuArgs {
    cells: [u32; MAX_IOMMU_CELLS],
    len: usize,
}

impl IommuArgs {
    /// The cells (`[sid]`, `[sid, smr_mask]`, `[utlb]`, ...).
    pub fn as_slice(&self) -> &[u32] {
        self.cells.get(..self.len).unwrap_or(&[])
    }
}

/// One `iommus` reference of a DMA master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterRef<'a> {
    /// The master's node name.
    pub master: &'a str,
    /// The master's structure offset.
    pub master_offset: usize,
    /// The master's `status` is absent or `"okay"`.
    pub enabled: bool,
    /// Position of this reference in the master's `iommus` list.
    pub index: usize,
    /// Index of the provider in the [`IommuList`].
    pub iommu: usize,
    /// Argument cells (as many as the provider's `#iommu-cells`).
    pub args: IommuArgs,
}

fn be32_at(v: &[u8], cell: usize) -> Option<u32> {
    let b = v.get(cell * 4..cell * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Visits every `iommus` reference of every node (each master once per
/// reference), with the master's location.  Stops when `f` returns
/// `Ok(false)` or an error.
pub fn for_each_master<'a, F>(
    fdt: &Fdt<'a>,
    iommus: &IommuList<'a>,
    mut f: F,
) -> Result<(), DtError>
where
    F: FnMut(&Located<'a>, &MasterRef<'a>) -> Result<bool, DtError>,
{
    fdt.walk(|loc| read_master_refs(loc, iommus, &mut f))
}

/// Visits the `iommus` references of one node (none when it has no
/// `iommus`), as [`for_each_master`] does; `Ok(false)` when `f` stopped.
/// An error (a length not a whole number of cells, a phandle that is no
/// provider, a reference cut short) comes before or after some references
/// were visited.
pub fn read_master_refs<'a, F>(
    loc: &Located<'a>,
    iommus: &IommuList<'a>,
    f: &mut F,
) -> Result<bool, DtError>
where
    F: FnMut(&Located<'a>, &MasterRef<'a>) -> Result<bool, DtError>,
{
    let n = loc.node();
    let Some(p) = n.property("iommus") else {
        return Ok(true);
    };
    if p.value.len() % 4 != 0 {
        return Err(DtError::BadPropertyLength {
            node: loc.path_name(),
            prop: "iommus",
            len: p.value.len(),
            expected: 4,
            exact: false,
        });
    }
    let ncells = p.value.len() / 4;
    let mut cell = 0usize;
    let mut index = 0usize;
    while cell < ncells {
        let phandle = be32_at(p.value, cell).unwrap_or(0);
        let iommu = iommus.by_phandle(phandle).ok_or(DtError::BadPhandle {
            node: loc.path_name(),
            prop: "iommus",
            phandle,
            problem: "no node with #iommu-cells has this phandle",
        })?;
        let nargs = iommus
            .get(iommu)
            .map(|i| i.iommu_cells as usize)
            .unwrap_or(0);
        if cell + 1 + nargs > ncells {
            return Err(DtError::BadPropertyLength {
                node: loc.path_name(),
                prop: "iommus",
                len: p.value.len(),
                expected: (1 + nargs) * 4,
                exact: false,
            });
        }
        let mut args = IommuArgs {
            cells: [0; MAX_IOMMU_CELLS],
            len: nargs,
        };
        for (k, slot) in args.cells.iter_mut().take(nargs).enumerate() {
            *slot = be32_at(p.value, cell + 1 + k).unwrap_or(0);
        }
        let r = MasterRef {
            master: n.name(),
            master_offset: n.offset(),
            enabled: n.is_enabled(),
            index,
            iommu,
            args,
        };
        if !f(loc, &r)? {
            return Ok(false);
        }
        cell += 1 + nargs;
        index += 1;
    }
    Ok(true)
}

/// One `iommu-map` entry, provider resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IommuMapEntry {
    /// First requester ID (after masking) of the range.
    pub rid_base: u32,
    /// Index of the provider in the [`IommuList`].
    pub iommu: usize,
    /// Stream ID (first IOMMU specifier cell) for `rid_base`.
    pub sid_base: u32,
    /// Number of consecutive IDs.
    pub length: u32,
}

/// A PCI host bridge's `iommu-map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciIommuMap<'a> {
    /// The host bridge's node name.
    pub host: &'a str,
    /// Its structure offset.
    pub host_offset: usize,
    /// Its `status` is absent or `"okay"`.
    pub enabled: bool,
    /// `iommu-map-mask` (all ones when absent).
    pub mask: u32,
    /// `iommu-map-mask` is in the tree (else [`Self::mask`] is the
    /// binding's default).
    pub mask_explicit: bool,
    entries: [IommuMapEntry; MAX_MAP_ENTRIES],
    len: usize,
}

impl PciIommuMap<'_> {
    /// The entries in property order.
    pub fn entries(&self) -> &[IommuMapEntry] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    /// The provider index and stream ID for requester ID `rid`
    /// (bus << 8 | devfn), as Linux `of_map_id`: mask, then the first
    /// entry with `rid_base <= masked < rid_base + length`.
    pub fn map_rid(&self, rid: u32) -> Option<(usize, u32)> {
        let masked = rid & self.mask;
        self.entries().iter().find_map(|e| {
            let off = masked.checked_sub(e.rid_base)?;
            (off < e.length).then(|| (e.iommu, e.sid_base.wrapping_add(off)))
        })
    }
}

/// Visits every node with an `iommu-map` (PCI host bridges).
pub fn for_each_pci_iommu_map<'a, F>(
    fdt: &Fdt<'a>,
    iommus: &IommuList<'a>,
    mut f: F,
) -> Result<(), DtError>
where
    F: FnMut(&Located<'a>, &PciIommuMap<'a>) -> Result<bool, DtError>,
{
    fdt.walk(|loc| match read_pci_iommu_map(loc, iommus)? {
        Some(map) => f(loc, &map),
        None => Ok(true),
    })
}

/// Reads one node's `iommu-map` (`Ok(None)` when it has none), as
/// [`for_each_pci_iommu_map`] does.
pub fn read_pci_iommu_map<'a>(
    loc: &Located<'a>,
    iommus: &IommuList<'a>,
) -> Result<Option<PciIommuMap<'a>>, DtError> {
    let n = loc.node();
    let Some(p) = n.property("iommu-map") else {
        return Ok(None);
    };
    if p.value.is_empty() || p.value.len() % 16 != 0 {
        return Err(DtError::BadPropertyLength {
            node: loc.path_name(),
            prop: "iommu-map",
            len: p.value.len(),
            expected: 16,
            exact: false,
        });
    }
    let explicit_mask = n.prop_u32("iommu-map-mask")?;
    let mask = explicit_mask.unwrap_or(u32::MAX);
    let mut map = PciIommuMap {
        host: n.name(),
        host_offset: n.offset(),
        enabled: n.is_enabled(),
        mask,
        mask_explicit: explicit_mask.is_some(),
        entries: [IommuMapEntry::default(); MAX_MAP_ENTRIES],
        len: 0,
    };
    for chunk in p.value.chunks_exact(16) {
        let c = |i| be32_at(chunk, i).unwrap_or(0);
        let (rid_base, phandle, sid_base, length) = (c(0), c(1), c(2), c(3));
        let iommu = iommus.by_phandle(phandle).ok_or(DtError::BadPhandle {
            node: loc.path_name(),
            prop: "iommu-map",
            phandle,
            problem: "no node with #iommu-cells has this phandle",
        })?;
        // of_map_id rejects a base with bits outside the mask.
        if rid_base & !mask != 0 {
            return Err(DtError::BadValue {
                node: loc.path_name(),
                prop: "iommu-map",
                found: rid_base,
                expected: "rid-base within iommu-map-mask",
            });
        }
        let slot = map.entries.get_mut(map.len).ok_or(DtError::ListFull {
            list: "iommu-map",
            capacity: MAX_MAP_ENTRIES,
        })?;
        *slot = IommuMapEntry {
            rid_base,
            iommu,
            sid_base,
            length,
        };
        map.len += 1;
    }
    Ok(Some(map))
}

#[cfg(test)]
mod tests;
