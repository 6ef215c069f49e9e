//! What the image would see in a DTB, as a printable report.
//!
//! `cargo xtask dt-probe FILE.dtb [--json]` runs this on the host: the same
//! discovery code the image runs at boot ([`super::discover_sections`],
//! [`super::iommus::read_iommu_node`], [`super::iommus::read_master_refs`],
//! [`super::iommus::read_pci_iommu_map`], [`super::find_console`]) turns
//! the blob into a [`Report`] of owned values, which renders as text
//! ([`Report::to_text`]) or JSON ([`Report::to_json`], hand-written: no
//! serde in a `no_std` image).  Building the report allocates; it is a host
//! and diagnostics tool, not part of the early boot path.
//!
//! The report goes section by section and node by node: a node that does
//! not read is marked broken (its `error`) and the rest is still reported,
//! and what the image would do about it is a [`Warning`] (e.g. one broken
//! provider makes the image's `find_iommus` fail, so it tests no IOMMU).
//!
//! Any blob yields either a report or a [`DtError`] (a blob with no
//! readable structure or root), never a panic: the fuzz target in `fuzz/`
//! calls [`probe`] on arbitrary bytes.
#![forbid(unsafe_code)]

use super::clocks::{read_clocks, read_resets, RefKind};
use super::console::{ConsoleKind, NS16550_COMPATIBLES};
use super::error::DtError;
use super::iommus::{
    find_iommus, for_each_pci_iommu_map, provider_kind, read_iommu_node, read_master_refs,
    read_pci_iommu_map, IommuKind, IommuList, IommuNode, MAX_IOMMU_CELLS, PAGE0_REGS_ONLY_PROPERTY,
};
use super::reader::{Fdt, Located};
use super::tbus::{served_streams, tbus_of, PortFacts, TbuNode};
use super::{discover_sections, PsciConduit};
use crate::mm::addr::{PhysAddr, PhysRange};
use crate::platform::bootargs::{Bootargs, QcomTbu};
use crate::platform::ccu::{sun50i as ccu_tables, Line};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

/// Bytes of an SMMUv3 register frame: Page 0 and Page 1 at +64 KiB (Arm
/// IHI 0070 §6.1, docs/hw/smmuv3.md §1); `src/boot/iommu_suite.rs` refuses
/// an SMMUv3 whose `reg` is smaller.
pub const SMMUV3_FRAME: u64 = 0x2_0000;

/// The frame of an SMMUv3 node with `cavium,cn9900-broken-page1-regspace`:
/// Page 0 only, its Page 1 registers at their Page 0 offsets
/// (docs/hw/smmuv3.md §1).
pub const SMMUV3_PAGE0_FRAME: u64 = 0x1_0000;

/// The loaders that write `/memory` at boot (docs/hw/board-facts.md §1).
pub const MEMORY_LOADERS: &str = "U-Boot, ABL and m1n1 do";

/// The console as discovery found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleReport {
    /// Full path of the node (`/soc/serial@5000000`).
    pub path: String,
    /// The `compatible` that decided the kind (the first one when unknown).
    pub compatible: String,
    /// `"pl011"`, `"ns16550"` or `"unknown"` (see [`kind_name`]).
    pub kind: &'static str,
    /// The image has a driver for this kind ([`ConsoleKind::driven`]);
    /// `false` means the board would be silent.
    pub driven: bool,
    /// First `reg` entry, CPU physical.
    pub reg: PhysRange,
    /// `reg-shift`.
    pub reg_shift: u32,
    /// `reg-io-width` in bytes.
    pub reg_io_width: u32,
    /// `stdout-path` options (`115200n8`).
    pub options: Option<String>,
    /// `status` absent or okay.
    pub enabled: bool,
}

/// One IOMMU provider (a node with `#iommu-cells`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IommuReport {
    /// Full path.
    pub path: String,
    /// The `compatible` that decided the kind (first one when unknown).
    pub compatible: String,
    /// [`IommuKind`] as a short name (see [`iommu_kind_name`]); a provider
    /// of a family the image has no driver for is still named
    /// ([`driverless_family`]).
    pub kind: &'static str,
    /// Which driver of this image takes it (the family registry's answer,
    /// see [`DriverLookup`]).
    pub driver: String,
    /// First `reg` entry, when it is MMIO and translates.
    pub reg: Option<PhysRange>,
    /// `#iommu-cells` (0 when it does not read).
    pub iommu_cells: u32,
    /// `phandle`.
    pub phandle: Option<u32>,
    /// `status` absent or okay.
    pub enabled: bool,
    /// `dma-coherent`.
    pub dma_coherent: bool,
    /// `#iommu-cells` is not what the kind's binding allows (discovery's
    /// [`super::iommus::CellsMismatch`]): the image fails this IOMMU.
    pub cells_mismatch: Option<String>,
    /// The node does not read ([`read_iommu_node`]'s error): the image's
    /// IOMMU discovery stops on it.
    pub error: Option<String>,
    /// The node's `clocks` then `resets`, in property order, each with the
    /// CCU line the image turns on when the loader left it off (`None`:
    /// left to the loader).
    pub clocks: Vec<ClockReport>,
    /// Why `clocks`/`resets` do not read (then all are left to the loader,
    /// as the image's plan does).
    pub clocks_error: Option<String>,
    /// The DMA master the image would test this IOMMU through, when the
    /// tree alone decides it (no PCI `iommu-map` targets it) and the image
    /// drives it: its own port, or why there is none.
    pub master: Option<String>,
    /// Apple DART `apple,dma-range`: a window the boot loader's firmware
    /// expects (the DART may be in use when the image starts).
    pub dma_range: bool,
    /// What the boot loader does to this IOMMU before the image runs, as far
    /// as the tree tells (an Apple DART m1n1 locks, or one with a firmware
    /// window); `None` when the tree says nothing.
    pub boot_state: Option<String>,
    /// The Qualcomm TBU nodes whose `qcom,stream-id-range` names it.
    pub tbus: Vec<TbuNode>,
}

/// One `clocks` or `resets` reference of an IOMMU provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockReport {
    /// Clock or reset.
    pub kind: RefKind,
    /// The provider's node name (`clock@3001000`).
    pub provider: String,
    /// The provider's first `compatible`.
    pub compatible: String,
    /// The binding header index (first argument cell).
    pub index: Option<u32>,
    /// `clock-names` / `reset-names` entry.
    pub name: Option<String>,
    /// The CCU table line the image turns on (resets first, then clocks,
    /// before the IOMMU's first register access) if the loader left it
    /// off; `None`: left to the loader.
    pub line: Option<Line>,
}

/// One `iommus` reference of a master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterRefReport {
    /// Index of the provider in [`Report::iommus`].
    pub iommu: usize,
    /// The specifier cells (stream ID, SMR mask, micro-TLB index...).
    pub args: Vec<u32>,
}

/// A DMA master: a node with `iommus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterReport {
    /// Full path.
    pub path: String,
    /// `status` absent or okay.
    pub enabled: bool,
    /// The platform-master registry's driver for one of its `compatible`
    /// strings (see [`PlatformMasterLookup`]), `None` when the image has
    /// none.
    pub driver: Option<DrivenMaster>,
    /// First `reg`, when it translates.
    pub reg: Option<PhysRange>,
    /// Its references in property order (those read before an error).
    pub refs: Vec<MasterRefReport>,
    /// Why the rest of `iommus` does not read.
    pub error: Option<String>,
}

/// One `iommu-map` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapEntryReport {
    /// First requester ID.
    pub rid_base: u32,
    /// Index of the provider in [`Report::iommus`].
    pub iommu: usize,
    /// Stream ID for `rid_base`.
    pub sid_base: u32,
    /// Number of IDs.
    pub length: u32,
}

/// A PCI host bridge with `iommu-map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciMapReport {
    /// Full path.
    pub path: String,
    /// `status` absent or okay.
    pub enabled: bool,
    /// `iommu-map-mask` (all ones when absent).
    pub mask: u32,
    /// `iommu-map-mask` is in the tree; `false`: the binding's default.
    pub mask_explicit: bool,
    /// The host bridge's `compatible` (first entry; empty when absent).
    pub compatible: String,
    /// The image enumerates this host's functions (a generic ECAM host,
    /// `platform::pci::host`); other hosts need their own bring-up (PHYs,
    /// clocks, link training) the image does not do.
    pub enumerated: bool,
    /// The entries in property order (empty when the map does not read).
    pub entries: Vec<MapEntryReport>,
    /// Why the map does not read.
    pub error: Option<String>,
}

/// Something the image would do differently from what the tree seems to
/// say, or a fact about the tree it relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `"boot"`, `"memory"`, `"console"`, `"iommus"`, `"masters"` or `"pci"`.
    pub section: &'static str,
    /// The node it is about (full path), `None` for the whole section.
    pub node: Option<String>,
    /// What is wrong and what the image does about it.
    pub message: String,
}

/// Everything dt-probe prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What [`super::discover`] returns on this blob: `None` when the image
    /// would boot on it, else the error that would stop it (e.g. the empty
    /// `/memory` of a Qualcomm DTB before ABL patches it).
    pub boot_error: Option<String>,
    /// The `memory` section failed only because no `/memory` has a
    /// non-empty `reg`: the loader is expected to write it.
    pub memory_from_loader: bool,
    /// Each discovery section that failed (`"memory"`, `"reserved"`,
    /// `"chosen"`, `"psci"`) with its error; the other sections are still
    /// reported.
    pub section_errors: Vec<(&'static str, String)>,
    /// `totalsize` of the blob.
    pub dtb_size: usize,
    /// Root `model`.
    pub model: String,
    /// First root `compatible`.
    pub compatible: String,
    /// Memory ranges.
    pub memory: Vec<PhysRange>,
    /// `/memreserve/` and static `/reserved-memory` ranges.
    pub reserved: Vec<PhysRange>,
    /// The `no-map` subset of `reserved`.
    pub no_map: Vec<PhysRange>,
    /// Dynamic `/reserved-memory` nodes (no `reg`), counted.
    pub dynamic_reserved: usize,
    /// The console, or why there is none usable.
    pub console: Result<ConsoleReport, DtError>,
    /// `"hvc"`, `"smc"` or `None` (no `/psci`).
    pub psci: Option<&'static str>,
    /// How the image's bounded waits will wait on this board: the virtual
    /// timer's interrupt and the GIC it goes through (the run still checks
    /// on the CPU that it arrives before sleeping), or why they poll
    /// (`boot::waits`, `platform::irq::discover`, docs/hw/gic.md).
    pub waits: String,
    /// `/chosen/bootargs`.
    pub bootargs: String,
    /// IOMMU providers in blob order (broken ones included, marked).
    pub iommus: Vec<IommuReport>,
    /// DMA masters in blob order.
    pub masters: Vec<MasterReport>,
    /// PCI host bridges with `iommu-map`, in blob order.
    pub pci_maps: Vec<PciMapReport>,
    /// Warnings, by section, in the order they are printed.
    pub warnings: Vec<Warning>,
}

/// Short name of a console kind.
pub fn kind_name(k: ConsoleKind) -> &'static str {
    match k {
        ConsoleKind::Pl011 => "pl011",
        ConsoleKind::Ns16550 => "ns16550",
        ConsoleKind::Geni => "geni",
        ConsoleKind::S5l => "s5l",
        ConsoleKind::Cadence => "cadence",
        _ => "unknown",
    }
}

/// Short name of an IOMMU kind.
pub fn iommu_kind_name(k: IommuKind) -> &'static str {
    match k {
        IommuKind::SmmuV3 => "smmuv3",
        IommuKind::Mmu500 => "mmu-500",
        IommuKind::SmmuV2 => "smmuv2",
        IommuKind::Sun50i => "sun50i",
        IommuKind::AppleDart => "apple-dart",
        IommuKind::VirtioIommu => "virtio-iommu",
        _ => "unknown",
    }
}

/// The family of a provider discovery does not recognise
/// ([`IommuKind::Unknown`]), by `compatible`, for the report only: the
/// image has no driver and no binding check for any of these.  Linux
/// bindings `iommu/rockchip,iommu.yaml`, `iommu/mediatek,iommu.yaml`,
/// `iommu/nvidia,tegra30-smmu.yaml` (and the `#iommu-cells` of
/// `memory-controllers/nvidia,tegra30-mc.yaml`), `iommu/samsung,sysmmu.yaml`,
/// `iommu/ti,omap-iommu.txt`, `iommu/renesas,ipmmu-vmsa.yaml`.
pub fn driverless_family(compatible: &str) -> Option<&'static str> {
    let (vendor, model) = compatible.split_once(',')?;
    let between = |pre: &str, post: &str| {
        model.len() >= pre.len() + post.len() && model.starts_with(pre) && model.ends_with(post)
    };
    match vendor {
        "rockchip" if model == "iommu" || between("rk", "-iommu") => Some("rockchip-iommu"),
        "mediatek" if between("mt", "-m4u") => Some("mediatek-m4u"),
        // Tegra30..210 put the SMMU in the memory controller node.
        "nvidia" if between("tegra", "-smmu") || between("tegra", "-mc") => Some("tegra-smmu"),
        "samsung" if between("exynos", "-sysmmu") || model.starts_with("exynos-sysmmu") => {
            Some("exynos-sysmmu")
        }
        "ti" if between("omap", "-iommu") || between("dra7", "-iommu") => Some("omap-iommu"),
        "renesas" if model.starts_with("ipmmu-") => Some("renesas-ipmmu"),
        _ => None,
    }
}

/// Says which driver of the image takes a provider of `kind` with
/// `compatible`.  The answer comes from the family registry
/// (`selftest::families::driver_for`), which this layer cannot import: the
/// caller passes it in, so there is one list of the drivers that exist.
pub type DriverLookup = fn(IommuKind, &str) -> String;

/// Whether the image can test a provider through a port of its own (no
/// other master needed), from the family registry like [`DriverLookup`]
/// (`Probe::has_self_master`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfMaster {
    /// No driver in this image for the provider's family.
    NoDriver,
    /// A driver, but no port of its own for this `compatible`.
    None,
    /// A driver and its own port, by name (`the VA debug port ...`).
    Port(&'static str),
    /// A driver and a port the tree describes beside the node (a Qualcomm
    /// TBU), with which one and why not the others
    /// (`Probe::described_port`).
    Described(String),
    /// A driver, no port of its own, and the tree describes ports none of
    /// which can be used: why.
    Unusable(String),
    /// A driver that deliberately leaves this provider alone, and why.
    LeftAlone(&'static str),
    /// A driver, no port of its own, but checks that need no master (what
    /// they check): the node runs them and SKIPs the DMA cases.
    HardwareChecks(&'static str),
}

/// Says whether a provider of `kind` with the tree's facts around it has
/// a self master ([`SelfMaster`]); passed in like [`DriverLookup`].
pub type SelfMasterLookup = fn(IommuKind, &PortFacts<'_>) -> SelfMaster;

/// The family's own reason why a provider of `kind` with `compatible` has
/// no master the image can drive (`Probe::no_master_reason`), if it gives
/// one; passed in like [`DriverLookup`].
pub type NoMasterLookup = fn(IommuKind, &str) -> Option<&'static str>;

/// One family's [`NoMasterLookup`], by `compatible` alone
/// (`Probe::no_master_reason`).
pub type NoMasterLookupFor = fn(&str) -> Option<&'static str>;

/// A platform DMA engine the image drives, as the platform-master
/// registry (`dma::platform`) describes it to reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrivenMaster {
    /// What reports call it.
    pub name: &'static str,
    /// Bytes of its first `reg` the driver needs.
    pub reg_span: u64,
}

/// Which platform master driver of the image takes a node with this
/// `compatible` string (the registry lives above this layer, so the caller
/// passes it in, like [`DriverLookup`]).
pub type PlatformMasterLookup = fn(&str) -> Option<DrivenMaster>;

/// What the family and platform-master registries answer, passed into
/// [`probe`] by the caller (`selftest::families::dt_probe`).
#[derive(Clone, Copy, Debug)]
pub struct Lookups {
    /// Which driver takes it.
    pub driver_for: DriverLookup,
    /// Whether it has a self master.
    pub self_master: SelfMasterLookup,
    /// Why it has no master, in the family's words.
    pub no_master: NoMasterLookup,
    /// Which platform master driver takes a master node.
    pub platform_master: PlatformMasterLookup,
    /// How many masters the catalogue uses per IOMMU (the plan takes the
    /// first ones).
    pub max_masters: usize,
}

/// The `clocks`/`resets` of a provider and what the image does with each:
/// a sun50i IOMMU with a driver turns on, through the CCU table of the
/// provider's `compatible` (`platform::ccu::sun50i`), every line the table
/// knows when the provider's `reg` covers the table (as the sun50i probe's
/// `turn_on_controls`); everything else is left to the loader.
fn clock_reports(loc: &Located<'_>, turns_on: bool) -> (Vec<ClockReport>, Option<String>) {
    let (clocks, resets) = match (read_clocks(loc), read_resets(loc)) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => return (Vec::new(), Some(e.to_string())),
    };
    let out = clocks
        .iter()
        .chain(resets.iter())
        .map(|r| {
            let line = ccu_tables::by_compatible(r.compatible)
                .filter(|t| turns_on && r.reg.is_some_and(|g| g.size >= t.span()))
                .and_then(|t| r.index().and_then(|i| t.line(r.kind, i)));
            ClockReport {
                kind: r.kind,
                provider: r.provider.to_string(),
                compatible: r.compatible.to_string(),
                index: r.index(),
                name: r.name.map(|n| n.to_string()),
                line,
            }
        })
        .collect();
    (out, None)
}

fn ref_kind_name(k: RefKind) -> &'static str {
    match k {
        RefKind::Clock => "clock",
        RefKind::Reset => "reset",
    }
}

/// Full path of a located node (no length limit, unlike
/// [`Located::path_name`]).
pub fn full_path(loc: &Located<'_>) -> String {
    if loc.depth() <= 1 {
        return "/".to_string();
    }
    let mut s = String::new();
    for up in (0..loc.depth() - 1).rev() {
        s.push('/');
        s.push_str(loc.ancestor(up).map(|n| n.name()).unwrap_or("?"));
    }
    s
}

/// The consoles the image drives, for the "silent" warning.
fn driven_consoles() -> String {
    let mut s = String::from("PL011 (arm,pl011), 16550/8250 (");
    for (i, c) in NS16550_COMPATIBLES.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(c);
    }
    s.push_str(
        "), Qualcomm GENI (qcom,geni-debug-uart), Apple s5l (apple,s5l-uart), Cadence (cdns,uart-r1p12)",
    );
    s
}

fn warn(ws: &mut Vec<Warning>, section: &'static str, node: Option<&str>, message: String) {
    ws.push(Warning {
        section,
        node: node.map(|n| n.to_string()),
        message,
    });
}

/// The providers, node by node: a node that does not read is reported
/// with its error and, when its `#iommu-cells` reads, kept in the list as
/// a placeholder so references to it still resolve.  Returns the list and,
/// for each list entry, its index in the report.
fn providers<'a>(
    fdt: &Fdt<'a>,
    iommus: &mut Vec<IommuReport>,
    ws: &mut Vec<Warning>,
    lookups: Lookups,
) -> (IommuList<'a>, Vec<usize>) {
    let mut list = IommuList::new();
    let mut index = Vec::new();
    let mut full = None;
    let mut first_broken = true;
    let walked = fdt.walk(|loc| {
        let n = loc.node();
        let mut resolvable = true;
        let (node, error) = match read_iommu_node(loc) {
            Ok(None) => return Ok(true),
            Ok(Some(node)) => (node, None),
            Err(e) => {
                // Not a provider the image would list: a placeholder.
                let (compatible, kind) = provider_kind(&n);
                let cells = n.prop_u32("#iommu-cells").ok().flatten();
                resolvable = cells.is_some_and(|c| c as usize <= MAX_IOMMU_CELLS);
                let cells = cells.unwrap_or(0);
                let node = IommuNode {
                    name: n.name(),
                    node_offset: n.offset(),
                    compatible,
                    kind,
                    reg: None,
                    pci_bdf: None,
                    iommu_cells: cells,
                    cells_mismatch: None,
                    phandle: n
                        .prop_u32("phandle")
                        .ok()
                        .flatten()
                        .or_else(|| n.prop_u32("linux,phandle").ok().flatten()),
                    enabled: n.is_enabled(),
                    dma_coherent: n.has_property("dma-coherent"),
                    page0_regs_only: n.has_property(PAGE0_REGS_ONLY_PROPERTY),
                    stream_match_mask: None,
                };
                (node, Some(e.to_string()))
            }
        };
        let path = full_path(loc);
        let named = match node.kind {
            IommuKind::Unknown => n.prop_strs("compatible").find_map(driverless_family),
            _ => None,
        };
        let turns_on = node.kind == IommuKind::Sun50i
            && (lookups.self_master)(node.kind, &PortFacts::bare(node.compatible))
                != SelfMaster::NoDriver;
        let (clocks, clocks_error) = if error.is_some() {
            (Vec::new(), None)
        } else {
            clock_reports(loc, turns_on)
        };
        iommus.push(IommuReport {
            path: path.clone(),
            compatible: node.compatible.to_string(),
            kind: named.unwrap_or(iommu_kind_name(node.kind)),
            driver: (lookups.driver_for)(node.kind, node.compatible),
            reg: node.reg,
            iommu_cells: node.iommu_cells,
            phandle: node.phandle,
            enabled: node.enabled,
            dma_coherent: node.dma_coherent,
            cells_mismatch: node.cells_mismatch.map(|m| m.to_string()),
            error: error.clone(),
            clocks,
            clocks_error,
            master: None,
            dma_range: node.kind == IommuKind::AppleDart && n.has_property("apple,dma-range"),
            boot_state: None,
            tbus: Vec::new(),
        });
        if let Some(e) = &error {
            let image = if first_broken {
                "the image's IOMMU discovery stops on this node"
            } else {
                "the image's IOMMU discovery has already stopped on an earlier one"
            };
            first_broken = false;
            warn(ws, "iommus", Some(&path), format!("broken: {e}; {image}"));
        }
        if let Some(m) = &node.cells_mismatch {
            warn(
                ws,
                "iommus",
                Some(&path),
                format!("{m}: the image reports this IOMMU as a failing test and does not drive it"),
            );
        }
        if node.kind == IommuKind::SmmuV3 {
            let (frame, what) = if node.page0_regs_only {
                (
                    SMMUV3_PAGE0_FRAME,
                    "Page 0, which also holds the queue pointers (cavium,cn9900-broken-page1-regspace)",
                )
            } else {
                (
                    SMMUV3_FRAME,
                    "Page 0 + Page 1 at +64 KiB, where the queue pointers are",
                )
            };
            if let Some(r) = node.reg.filter(|r| r.size < frame) {
                warn(
                    ws,
                    "iommus",
                    Some(&path),
                    format!(
                        "reg is {} ({:#x} bytes), smaller than the {} SMMUv3 frame ({what}): the image refuses to set it up",
                        size(r.size),
                        r.size,
                        size(frame)
                    ),
                );
            }
        }
        // Keep it resolvable unless its cells are past what a reference
        // can carry (then references to it are reported broken).
        if resolvable && full.is_none() {
            match list.push(node) {
                Ok(()) => index.push(iommus.len() - 1),
                Err(e) => full = Some(e),
            }
        }
        Ok(true)
    });
    if let Some(e) = full.or(walked.err()) {
        warn(
            ws,
            "iommus",
            None,
            format!("{e}: providers past this point are not resolved"),
        );
    }
    (list, index)
}

/// Runs discovery on `dtb` (as if loaded at address 0) and builds the
/// report, naming each provider's driver and self master with `lookups`
/// (callers pass `selftest::families::driver_for` and `self_master_for`;
/// `selftest::families::dt_probe` does).  A blob with no readable structure
/// gives the image's error.
pub fn probe(dtb: &[u8], lookups: Lookups) -> Result<Report, DtError> {
    let fdt = Fdt::parse(dtb)?;
    let (info, errors) = discover_sections(&fdt, PhysAddr(0))?;
    let memory_from_loader = matches!(errors.memory, Some(DtError::NoMemory));
    let section_errors = [
        ("memory", errors.memory),
        ("reserved", errors.reserved),
        ("chosen", errors.chosen),
        ("psci", errors.psci),
    ]
    .into_iter()
    .filter_map(|(s, e)| e.map(|e| (s, e.to_string())))
    .collect();
    let mut ws = Vec::new();
    if memory_from_loader {
        warn(
            &mut ws,
            "memory",
            None,
            format!("this DTB has no /memory with a non-empty reg: the loader must fill it ({MEMORY_LOADERS}); as it is, the image stops at discovery"),
        );
    }
    let console = match info.console {
        Ok(c) => {
            let path = fdt
                .find(c.path)
                .map(|l| full_path(&l))
                .unwrap_or_else(|_| c.path.to_string());
            if !c.kind.driven() {
                warn(
                    &mut ws,
                    "console",
                    Some(&path),
                    format!(
                        "the image has no driver for {}: the board would be silent (it drives {})",
                        if c.compatible.is_empty() {
                            "a console without compatible"
                        } else {
                            c.compatible
                        },
                        driven_consoles()
                    ),
                );
            } else if !c.enabled {
                warn(
                    &mut ws,
                    "console",
                    Some(&path),
                    "status is not okay: the image drives it anyway, and prints nothing if the loader left it unclocked".to_string(),
                );
            }
            Ok(ConsoleReport {
                path,
                compatible: c.compatible.to_string(),
                kind: kind_name(c.kind),
                driven: c.kind.driven(),
                reg: c.reg,
                reg_shift: c.reg_shift,
                reg_io_width: c.reg_io_width,
                options: c.options.map(|o| o.to_string()),
                enabled: c.enabled,
            })
        }
        Err(e) => {
            warn(
                &mut ws,
                "console",
                None,
                format!("no console the image can find: the board would be silent ({e})"),
            );
            Err(e)
        }
    };

    let mut iommus = Vec::new();
    let (list, index) = providers(&fdt, &mut iommus, &mut ws, lookups);
    let to_report = |i: usize| index.get(i).copied().unwrap_or(usize::MAX);
    // What the image itself does with the providers (boot/iommu_suite.rs).
    let image_list = find_iommus(&fdt);
    if let Err(e) = &image_list {
        warn(
            &mut ws,
            "iommus",
            None,
            format!("the image reports one failing `iommu_discovery` case and tests no IOMMU: {e}"),
        );
    }

    let mut masters: Vec<MasterReport> = Vec::new();
    let mut pci_maps = Vec::new();
    let walked = fdt.walk(|loc| {
        let n = loc.node();
        if n.has_property("iommus") {
            let mut m = MasterReport {
                path: full_path(loc),
                enabled: n.is_enabled(),
                driver: n
                    .prop_strs("compatible")
                    .find_map(|c| (lookups.platform_master)(c)),
                reg: super::translate_reg(loc, 0).ok(),
                refs: Vec::new(),
                error: None,
            };
            let read = read_master_refs(loc, &list, &mut |_, r| {
                m.refs.push(MasterRefReport {
                    iommu: to_report(r.iommu),
                    args: r.args.as_slice().to_vec(),
                });
                Ok(true)
            });
            if let Err(e) = read {
                let mut msg = e.to_string();
                if let DtError::BadPhandle { phandle, .. } = e {
                    // Not nowhere: a provider that does not read.
                    if let Some(p) = iommus
                        .iter()
                        .find(|i| i.error.is_some() && i.phandle == Some(phandle))
                    {
                        msg = format!(
                            "device tree: node {} property `iommus` references {} (phandle {phandle:#x}), which is broken: see iommus",
                            m.path, p.path
                        );
                    }
                }
                warn(&mut ws, "masters", Some(&m.path), format!("broken: {msg}"));
                m.error = Some(msg);
            }
            masters.push(m);
        }
        if n.has_property("iommu-map") {
            let path = full_path(loc);
            let mut p = PciMapReport {
                path: path.clone(),
                enabled: n.is_enabled(),
                mask: u32::MAX,
                mask_explicit: n.has_property("iommu-map-mask"),
                compatible: n
                    .prop_strs("compatible")
                    .next()
                    .unwrap_or("")
                    .to_string(),
                enumerated: n
                    .prop_strs("compatible")
                    .any(|c| c == crate::platform::pci::host::COMPATIBLE),
                entries: Vec::new(),
                error: None,
            };
            match read_pci_iommu_map(loc, &list) {
                Ok(Some(m)) => {
                    p.mask = m.mask;
                    p.mask_explicit = m.mask_explicit;
                    p.entries = m
                        .entries()
                        .iter()
                        .map(|e| MapEntryReport {
                            rid_base: e.rid_base,
                            iommu: to_report(e.iommu),
                            sid_base: e.sid_base,
                            length: e.length,
                        })
                        .collect();
                    let mut off: Vec<usize> = p
                        .entries
                        .iter()
                        .map(|e| e.iommu)
                        .filter(|&i| iommus.get(i).is_some_and(|n| !n.enabled))
                        .collect();
                    off.dedup();
                    for i in off {
                        warn(
                            &mut ws,
                            "pci",
                            Some(&path),
                            format!(
                                "entries target {}, which is disabled: the image does not test it, and these requester IDs get no IOMMU",
                                iommus[i].path
                            ),
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn(&mut ws, "pci", Some(&path), format!("broken: {e}"));
                    p.error = Some(e.to_string());
                }
            }
            pci_maps.push(p);
        }
        Ok(true)
    });
    if let Err(e) = walked {
        warn(
            &mut ws,
            "masters",
            None,
            format!("the tree walk stopped: {e}"),
        );
    }
    if let Ok(l) = &image_list {
        if let Err(e) = for_each_pci_iommu_map(&fdt, l, |_, _| Ok(true)) {
            warn(
                &mut ws,
                "pci",
                None,
                format!("the image fails the setup of every IOMMU it drives: PCI iommu-map: {e}"),
            );
        }
    }
    let qcom_tbu = Bootargs::parse(info.bootargs).qcom_tbu;
    for n in iommus.iter_mut() {
        if let Some(ph) = n.phandle.filter(|_| n.error.is_none()) {
            n.tbus = tbus_of(&fdt, ph).unwrap_or_default();
        }
    }
    for (i, n) in iommus.iter_mut().enumerate() {
        n.master = master_for(n, i, &masters, &pci_maps, lookups, qcom_tbu);
        n.boot_state = dart_boot_state(n, i, &masters);
    }
    ws.sort_by_key(|w| section_rank(w.section));
    Ok(Report {
        boot_error: errors.first().map(|e| e.to_string()),
        memory_from_loader,
        section_errors,
        dtb_size: fdt.total_size(),
        model: info.model.to_string(),
        compatible: info.compatible.to_string(),
        memory: info.memory.as_slice().to_vec(),
        reserved: info.reserved.as_slice().to_vec(),
        no_map: info.no_map.as_slice().to_vec(),
        dynamic_reserved: info.dynamic_reserved,
        console,
        psci: info.psci.map(|p| match p {
            PsciConduit::Hvc => "hvc",
            PsciConduit::Smc => "smc",
        }),
        bootargs: String::from_utf8_lossy(info.bootargs).into_owned(),
        waits: match crate::platform::irq::discover::timer_irq(&fdt) {
            Ok(t) => format!(
                "sleep in WFI if the run-time check sees the interrupt arrive, woken by the virtual timer's PPI {} (INTID {}, {}) through {} {} ({}); else poll",
                t.ppi,
                t.intid(),
                t.trigger(),
                t.gic.version,
                t.gic.node,
                t.gic.compatible
            ),
            Err(e) => format!("poll (no WFI): {e}"),
        },
        iommus,
        masters,
        pci_maps,
        warnings: ws,
    })
}

/// Why a platform master the image has a driver for is not used: the one
/// rule both `dt-probe` (this module) and `selftest::plan` apply, so the
/// master line `dt-probe` prints is the master the plan takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// `status` is not okay.
    Disabled,
    /// No first `reg`, or one that does not translate.
    NoReg,
    /// Its first `reg` is smaller than the register span the driver
    /// touches.
    RegTooSmall {
        /// The node's first `reg`.
        reg: PhysRange,
        /// Bytes the driver needs.
        need: u64,
    },
}

/// Applies the rule: `None` when a node that is `enabled`, with first
/// `reg`, is usable by a driver that needs `reg_span` bytes of it.
pub fn platform_master_unusable(
    enabled: bool,
    reg: Option<PhysRange>,
    reg_span: u64,
) -> Option<Unusable> {
    if !enabled {
        return Some(Unusable::Disabled);
    }
    match reg {
        Some(r) if r.size >= reg_span => None,
        Some(reg) => Some(Unusable::RegTooSmall {
            reg,
            need: reg_span,
        }),
        None => Some(Unusable::NoReg),
    }
}

/// Why the image does not use platform master `m` although it has a
/// driver for it, `None` when it does (as `selftest::plan` decides).
fn unusable(m: &MasterReport) -> Option<&'static str> {
    let d = m.driver?;
    platform_master_unusable(m.enabled, m.reg, d.reg_span).map(|u| match u {
        Unusable::Disabled => "disabled",
        Unusable::RegTooSmall { .. } => "reg too small for its driver",
        Unusable::NoReg => "no usable reg",
    })
}

/// The master the image would test provider `i` through, when the tree
/// decides it (no PCI `iommu-map` targets it): the platform masters behind
/// it that the platform-master registry drives (the first
/// [`Lookups::max_masters`], as `selftest::plan` takes them), then the
/// IOMMU's own port if fewer than that; or why there is none.  `None` when
/// the image does not drive the provider or PCI enumeration at boot
/// decides.
fn master_for(
    n: &IommuReport,
    i: usize,
    masters: &[MasterReport],
    pci_maps: &[PciMapReport],
    lookups: Lookups,
    qcom_tbu: QcomTbu,
) -> Option<String> {
    if !n.enabled || n.error.is_some() || n.cells_mismatch.is_some() {
        return None;
    }
    // PCI functions are found at run time, by enumeration: the image says
    // which it uses then.  A host it does not enumerate gives it none.
    let maps_here = |p: &&PciMapReport| p.enabled && p.entries.iter().any(|e| e.iommu == i);
    if pci_maps.iter().filter(maps_here).any(|p| p.enumerated) {
        return None;
    }
    let unenumerated: Vec<String> = pci_maps
        .iter()
        .filter(maps_here)
        .map(|p| {
            let host = p.path.rsplit('/').next().unwrap_or(&p.path);
            if p.compatible.is_empty() {
                host.to_string()
            } else {
                format!("{host}, {}", p.compatible)
            }
        })
        .collect();
    let kind = iommu_kind_by_name(n.kind)?;
    let short = |m: &MasterReport| m.path.rsplit('/').next().unwrap_or(&m.path).to_string();
    let behind: Vec<&MasterReport> = masters
        .iter()
        .filter(|m| m.refs.iter().any(|r| r.iommu == i))
        .collect();
    let usable: Vec<&MasterReport> = behind
        .iter()
        .copied()
        .filter(|m| m.driver.is_some() && unusable(m).is_none())
        .collect();
    let mut dt_streams: Vec<(u32, u32)> = behind
        .iter()
        .flat_map(|m| m.refs.iter().filter(|r| r.iommu == i))
        .filter_map(|r| {
            r.args
                .first()
                .map(|&id| (id, r.args.get(1).copied().unwrap_or(0)))
        })
        .collect();
    for e in pci_maps
        .iter()
        .flat_map(|p| p.entries.iter())
        .filter(|e| e.iommu == i)
    {
        dt_streams.extend(served_streams(&n.tbus, e.sid_base, e.length));
    }
    let facts = PortFacts {
        compatible: &n.compatible,
        tbus: &n.tbus,
        dt_streams: &dt_streams,
        qcom_tbu,
    };
    let mut unusable_port = None;
    let (port, checks) = match (lookups.self_master)(kind, &facts) {
        SelfMaster::NoDriver => return None,
        SelfMaster::LeftAlone(why) => return Some(format!("none: not tested: {why}")),
        SelfMaster::Port(port) => (Some((String::from(port), true)), None),
        SelfMaster::Described(port) => (Some((port, false)), None),
        SelfMaster::HardwareChecks(checks) => (None, Some(checks)),
        SelfMaster::Unusable(why) => {
            unusable_port = Some(why);
            (None, None)
        }
        SelfMaster::None => (None, None),
    };
    if !usable.is_empty() {
        let used = &usable[..usable.len().min(lookups.max_masters)];
        let mut s = String::new();
        for (k, m) in used.iter().enumerate() {
            if k > 0 {
                s.push_str(if k + 1 == used.len() { " and " } else { ", " });
            }
            let sid = m
                .refs
                .iter()
                .find(|r| r.iommu == i)
                .and_then(|r| r.args.first())
                .map(|a| format!(" (sid={a:#x})"))
                .unwrap_or_default();
            let driver = m.driver.map(|d| d.name).unwrap_or("");
            let _ = write!(s, "{}{sid} through the {driver} driver", short(m));
        }
        s.push_str(if used.len() == 1 {
            ", the image's master for it"
        } else {
            ", the image's masters for it"
        });
        if used.len() < lookups.max_masters {
            if let Some((p, _)) = &port {
                let _ = write!(s, ", plus {p}");
            }
        }
        let others = behind.len() - used.len();
        if others > 0 {
            let _ = write!(
                s,
                "; {others} other platform master{} behind it not used",
                if others == 1 { "" } else { "s" }
            );
        }
        return Some(s);
    }
    let platform = if behind.is_empty() {
        "no platform master references it".to_string()
    } else {
        let mut s = String::new();
        let undriven: Vec<String> = behind
            .iter()
            .filter(|m| m.driver.is_none())
            .map(|m| short(m))
            .collect();
        if !undriven.is_empty() {
            // A Qualcomm apps SMMU has thirty: name a few (the `masters:`
            // section lists them all).
            const NAMED: usize = 5;
            let mut names = undriven[..undriven.len().min(NAMED)].join(", ");
            if undriven.len() > NAMED {
                let _ = write!(names, " and {} more", undriven.len() - NAMED);
            }
            let _ = write!(
                s,
                "the platform masters behind it ({names}) have no DMA engine driver in this image yet"
            );
        }
        for m in behind.iter().filter(|m| m.driver.is_some()) {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let why = unusable(m).unwrap_or("not used");
            let _ = write!(s, "{} has a driver but is not used ({why})", short(m));
        }
        s
    };
    let platform = if unenumerated.is_empty() {
        platform
    } else {
        format!(
            "{platform}; the PCI functions its iommu-map serves are not enumerated (host {}: the image enumerates only {} hosts)",
            unenumerated.join("; "),
            crate::platform::pci::host::COMPATIBLE
        )
    };
    match (port, checks) {
        (Some((port, by_compatible)), _) => {
            // A port the family uses only after a run-time check says so.
            let note = (lookups.no_master)(kind, &n.compatible)
                .filter(|_| by_compatible)
                .map(|w| format!("; {w}"))
                .unwrap_or_default();
            Some(format!(
                "{port}, the image's own master for it: {platform}{note}"
            ))
        }
        (None, Some(checks)) => Some(format!(
            "none the image can drive: {platform}: {checks} run without one, the DMA cases SKIP"
        )),
        (None, None) => {
            let mut why = (lookups.no_master)(kind, &n.compatible)
                .map(|w| format!("; {w}"))
                .unwrap_or_default();
            if let Some(u) = unusable_port {
                let _ = write!(why, "; {u}");
            }
            Some(format!(
                "none the image can drive: {platform}, and it has no port of its own the image uses: not tested{why}"
            ))
        }
    }
}

/// What the boot loader does to an Apple DART before the image runs, as
/// far as the tree tells (docs/hw/dart.md §9): m1n1 locks the DART of the
/// display subsystem (and enables it in the tree it hands over); a DART
/// with an `apple,dma-range` window serves firmware the boot loader
/// started.  The lock itself is a register (T8020 CONFIG bit 15, T8110
/// PROTECT bit 0) no tree carries: the image reads it at run time.
fn dart_boot_state(n: &IommuReport, i: usize, masters: &[MasterReport]) -> Option<String> {
    if n.kind != iommu_kind_name(IommuKind::AppleDart) {
        return None;
    }
    let display = masters.iter().any(|m| {
        m.refs.iter().any(|r| r.iommu == i)
            && m.path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.starts_with("display-subsystem"))
    });
    if display {
        let when = if n.enabled {
            ""
        } else {
            " (disabled in this tree; m1n1 enables it in the one it hands over)"
        };
        return Some(format!(
            "locked by m1n1 before the OS boots (the display subsystem's DART){when}: the image reads CONFIG/PROTECT, leaves it as found and reports its DMA cases as SKIPs naming the lock"
        ));
    }
    n.dma_range.then(|| String::from(
        "apple,dma-range: a window for firmware the boot loader started; if the image finds the DART locked or translating it leaves it as found (its DMA cases SKIP naming why)",
    ))
}

/// The [`IommuKind`] of a short name ([`iommu_kind_name`]).
fn iommu_kind_by_name(name: &str) -> Option<IommuKind> {
    [
        IommuKind::SmmuV3,
        IommuKind::Mmu500,
        IommuKind::SmmuV2,
        IommuKind::Sun50i,
        IommuKind::AppleDart,
        IommuKind::VirtioIommu,
    ]
    .into_iter()
    .find(|k| iommu_kind_name(*k) == name)
}

/// Print order of the sections.
fn section_rank(s: &str) -> usize {
    [
        "boot", "memory", "reserved", "console", "psci", "chosen", "iommus", "masters", "pci",
    ]
    .iter()
    .position(|x| *x == s)
    .unwrap_or(usize::MAX)
}

fn range(r: &PhysRange) -> String {
    let end = r.base.0.wrapping_add(r.size).wrapping_sub(1);
    format!("{:#012x}..={:#012x} ({})", r.base.0, end, size(r.size))
}

fn size(n: u64) -> String {
    const K: u64 = 1024;
    if n != 0 && n.is_multiple_of(K * K * K) {
        format!("{} GiB", n / (K * K * K))
    } else if n != 0 && n.is_multiple_of(K * K) {
        format!("{} MiB", n / (K * K))
    } else if n != 0 && n.is_multiple_of(K) {
        format!("{} KiB", n / K)
    } else {
        format!("{n:#x} bytes")
    }
}

fn disabled(enabled: bool) -> &'static str {
    if enabled {
        ""
    } else {
        " [disabled]"
    }
}

impl Report {
    /// The stream-ID words for one `iommus` reference, by provider kind:
    /// `sid=0x6c3 mask=0x0` (SMMU with 2 cells), `sid=0x1` (SMMUv3, DART),
    /// `utlb=0` (sun50i micro-TLB index), raw cells otherwise.
    pub fn describe_args(&self, r: &MasterRefReport) -> String {
        let kind = self.iommus.get(r.iommu).map(|i| i.kind).unwrap_or("");
        match (kind, r.args.as_slice()) {
            ("sun50i", [u]) => format!("utlb={u}"),
            ("mmu-500" | "smmuv2", [s, m]) => format!("sid={s:#x} mask={m:#x}"),
            ("smmuv3" | "mmu-500" | "smmuv2" | "apple-dart" | "virtio-iommu", [s]) => {
                format!("sid={s:#x}")
            }
            (_, cells) => {
                let mut s = String::from("cells=<");
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    let _ = write!(s, "{c:#x}");
                }
                s.push('>');
                s
            }
        }
    }

    fn iommu_path(&self, i: usize) -> &str {
        self.iommus.get(i).map(|n| n.path.as_str()).unwrap_or("?")
    }

    /// Why the board would print nothing, when it would not: the console
    /// is missing or of a kind the image does not drive.
    pub fn silent_because(&self) -> Option<String> {
        match &self.console {
            Ok(c) if c.driven => None,
            Ok(c) => Some(format!(
                "no driver for its console {} ({})",
                if c.compatible.is_empty() {
                    "(no compatible)"
                } else {
                    c.compatible.as_str()
                },
                c.path
            )),
            Err(e) => Some(format!("no console found ({e})")),
        }
    }

    /// The one-line verdict: would the image boot on this tree as it is,
    /// and would anyone see it?
    pub fn boot_verdict(&self) -> String {
        let mut s = match &self.boot_error {
            None => "discovery succeeds".to_string(),
            Some(e) if self.memory_from_loader => {
                let mut s = format!(
                    "the image would stop here: {e}, unless the loader fills /memory ({MEMORY_LOADERS}); "
                );
                match self.section_errors.get(1) {
                    None => s.push_str("once it does, discovery succeeds"),
                    Some((section, _)) => {
                        let _ = write!(s, "even then it stops at the {section} error below");
                    }
                }
                s
            }
            Some(e) => format!("the image would stop here: {e}"),
        };
        if let Some(why) = self.silent_because() {
            let _ = write!(s, "; the board would be silent: {why}");
        }
        s
    }

    fn warnings_for<'s>(
        &'s self,
        section: &'s str,
        node: Option<&'s str>,
    ) -> impl Iterator<Item = &'s Warning> + 's {
        self.warnings
            .iter()
            .filter(move |w| w.section == section && w.node.as_deref() == node)
    }

    fn write_warnings(&self, o: &mut String, section: &str, node: Option<&str>, indent: &str) {
        for w in self.warnings_for(section, node) {
            let _ = writeln!(o, "{indent}warning: {}", w.message);
        }
    }

    fn iommu_enabled(&self, i: usize) -> bool {
        self.iommus.get(i).is_none_or(|n| n.enabled)
    }

    /// The human-readable picture (what `cargo xtask dt-probe` prints):
    /// section by section, each node's warnings under it, each section's
    /// after its nodes.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "model: {}", self.model);
        let _ = writeln!(o, "compatible: {}", self.compatible);
        let _ = writeln!(o, "dtb size: {} bytes", self.dtb_size);
        let _ = writeln!(o, "boot: {}", self.boot_verdict());
        let _ = writeln!(o, "warnings: {}", self.warnings.len());
        for (section, e) in &self.section_errors {
            let _ = writeln!(o, "error in {section}: {e}");
        }
        let _ = writeln!(o, "memory:");
        if self.memory.is_empty() && self.memory_from_loader {
            let _ = writeln!(o, "  (none in this DTB: left to the loader)");
        }
        for r in &self.memory {
            let _ = writeln!(o, "  {}", range(r));
        }
        self.write_warnings(&mut o, "memory", None, "  ");
        let _ = writeln!(o, "reserved:");
        for r in &self.reserved {
            let nm = if self.no_map.contains(r) {
                " no-map"
            } else {
                ""
            };
            let _ = writeln!(o, "  {}{nm}", range(r));
        }
        if self.dynamic_reserved > 0 {
            let _ = writeln!(
                o,
                "  (+{} dynamic reserved-memory node(s) without reg, placed by the OS)",
                self.dynamic_reserved
            );
        }
        match &self.console {
            Ok(c) => {
                let _ = writeln!(
                    o,
                    "console: {} compatible={} kind={} base={:#x} size={:#x} reg-shift={} io-width={}{}{}{}",
                    c.path,
                    c.compatible,
                    c.kind,
                    c.reg.base.0,
                    c.reg.size,
                    c.reg_shift,
                    c.reg_io_width,
                    c.options
                        .as_deref()
                        .map(|s| format!(" options={s}"))
                        .unwrap_or_default(),
                    disabled(c.enabled),
                    if c.driven { "" } else { " [no driver: silent]" }
                );
                self.write_warnings(&mut o, "console", Some(&c.path), "  ");
            }
            Err(e) => {
                let _ = writeln!(o, "console: none usable: {e}");
            }
        }
        self.write_warnings(&mut o, "console", None, "  ");
        let _ = writeln!(
            o,
            "psci: {}",
            self.psci.unwrap_or("none (no /psci node or no method)")
        );
        let _ = writeln!(o, "bootargs: {:?}", self.bootargs);
        let _ = writeln!(o, "waits: {}", self.waits);
        let _ = writeln!(o, "iommus: {}", self.iommus.len());
        for n in &self.iommus {
            let reg = n
                .reg
                .map(|r| format!("base={:#x} size={:#x}", r.base.0, r.size))
                .unwrap_or_else(|| "base=?".to_string());
            let _ = writeln!(
                o,
                "  {} compatible={} kind={} {} #iommu-cells={}{} -> {}{}{}",
                n.path,
                n.compatible,
                n.kind,
                reg,
                n.iommu_cells,
                if n.dma_coherent { " dma-coherent" } else { "" },
                n.driver,
                disabled(n.enabled),
                if n.error.is_some() { " [broken]" } else { "" }
            );
            if let Some(c) = clocks_text(n) {
                let _ = writeln!(o, "    clocks: {c}");
            }
            if let Some(m) = &n.master {
                let _ = writeln!(o, "    master: {m}");
            }
            if let Some(b) = &n.boot_state {
                let _ = writeln!(o, "    boot loader: {b}");
            }
            self.write_warnings(&mut o, "iommus", Some(&n.path), "    ");
        }
        self.write_warnings(&mut o, "iommus", None, "  ");
        let _ = writeln!(o, "masters: {}", self.masters.len());
        for m in &self.masters {
            let mut refs = String::new();
            for (i, r) in m.refs.iter().enumerate() {
                if i > 0 {
                    refs.push_str(", ");
                }
                let _ = write!(
                    refs,
                    "{} {}{}",
                    self.iommu_path(r.iommu),
                    self.describe_args(r),
                    if self.iommu_enabled(r.iommu) {
                        ""
                    } else {
                        " [iommu disabled]"
                    }
                );
            }
            if refs.is_empty() {
                refs.push_str("(no reference read)");
            }
            let _ = writeln!(
                o,
                "  {} -> {}{}{}{}",
                m.path,
                refs,
                disabled(m.enabled),
                if m.error.is_some() { " [broken]" } else { "" },
                m.driver
                    .map(|d| format!(" [driver: {}]", d.name))
                    .unwrap_or_default()
            );
            self.write_warnings(&mut o, "masters", Some(&m.path), "    ");
        }
        self.write_warnings(&mut o, "masters", None, "  ");
        let _ = writeln!(o, "pci iommu-maps: {}", self.pci_maps.len());
        for p in &self.pci_maps {
            let mask = if p.mask_explicit {
                format!("iommu-map-mask={:#x}", p.mask)
            } else {
                "iommu-map-mask absent (all ones)".to_string()
            };
            let _ = writeln!(
                o,
                "  {} {mask}{}{}",
                p.path,
                disabled(p.enabled),
                if p.error.is_some() { " [broken]" } else { "" }
            );
            for e in &p.entries {
                let _ = writeln!(
                    o,
                    "    rid {:#06x}..+{:#x} -> {} sid {:#x}{}",
                    e.rid_base,
                    e.length,
                    self.iommu_path(e.iommu),
                    e.sid_base,
                    if self.iommu_enabled(e.iommu) {
                        ""
                    } else {
                        " [iommu disabled]"
                    }
                );
            }
            self.write_warnings(&mut o, "pci", Some(&p.path), "    ");
        }
        self.write_warnings(&mut o, "pci", None, "  ");
        o
    }

    /// The same picture as JSON (one object): counts, cells and IDs as JSON
    /// numbers, addresses and sizes as `"0x..."` strings.  Fields are only
    /// ever added, never renamed.
    pub fn to_json(&self) -> String {
        let opt = |v: Option<&str>| v.map(json_str).unwrap_or_else(|| "null".to_string());
        let mut o = String::from("{");
        let _ = write!(o, "\"model\":{},", json_str(&self.model));
        let _ = write!(o, "\"compatible\":{},", json_str(&self.compatible));
        let _ = write!(o, "\"dtb_size\":{},", self.dtb_size);
        let _ = write!(o, "\"boot_error\":{},", opt(self.boot_error.as_deref()));
        let _ = write!(o, "\"boot\":{},", json_str(&self.boot_verdict()));
        let _ = write!(o, "\"memory_from_loader\":{},", self.memory_from_loader);
        o.push_str("\"section_errors\":{");
        for (i, (section, e)) in self.section_errors.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{}:{}", json_str(section), json_str(e));
        }
        o.push_str("},");
        let _ = write!(o, "\"memory\":{},", json_ranges(&self.memory));
        let _ = write!(o, "\"reserved\":{},", json_ranges(&self.reserved));
        let _ = write!(o, "\"no_map\":{},", json_ranges(&self.no_map));
        let _ = write!(o, "\"dynamic_reserved\":{},", self.dynamic_reserved);
        match &self.console {
            Ok(c) => {
                let _ = write!(
                    o,
                    "\"console\":{{\"path\":{},\"compatible\":{},\"kind\":{},\"base\":{},\"size\":{},\"reg_shift\":{},\"io_width\":{},\"options\":{},\"enabled\":{},\"driven\":{}}},",
                    json_str(&c.path),
                    json_str(&c.compatible),
                    json_str(c.kind),
                    json_hex(c.reg.base.0),
                    json_hex(c.reg.size),
                    c.reg_shift,
                    c.reg_io_width,
                    opt(c.options.as_deref()),
                    c.enabled,
                    c.driven
                );
            }
            Err(e) => {
                let _ = write!(
                    o,
                    "\"console\":{{\"error\":{},\"driven\":false}},",
                    json_str(&e.to_string())
                );
            }
        }
        let _ = write!(o, "\"psci\":{},", opt(self.psci));
        let _ = write!(o, "\"waits\":{},", json_str(&self.waits));
        let _ = write!(o, "\"bootargs\":{},", json_str(&self.bootargs));
        o.push_str("\"iommus\":[");
        for (i, n) in self.iommus.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let (base, sz) = match n.reg {
                Some(r) => (json_hex(r.base.0), json_hex(r.size)),
                None => ("null".to_string(), "null".to_string()),
            };
            let _ = write!(
                o,
                "{{\"path\":{},\"compatible\":{},\"kind\":{},\"driver\":{},\"base\":{},\"size\":{},\"iommu_cells\":{},\"phandle\":{},\"enabled\":{},\"dma_coherent\":{},\"cells_mismatch\":{},\"error\":{},\"clocks\":{},\"clocks_error\":{},\"master\":{},\"dma_range\":{},\"boot_state\":{}}}",
                json_str(&n.path),
                json_str(&n.compatible),
                json_str(n.kind),
                json_str(&n.driver),
                base,
                sz,
                n.iommu_cells,
                n.phandle.map(|p| p.to_string()).unwrap_or_else(|| "null".to_string()),
                n.enabled,
                n.dma_coherent,
                opt(n.cells_mismatch.as_deref()),
                opt(n.error.as_deref()),
                json_clocks(&n.clocks),
                opt(n.clocks_error.as_deref()),
                opt(n.master.as_deref()),
                n.dma_range,
                opt(n.boot_state.as_deref())
            );
        }
        o.push_str("],\"masters\":[");
        for (i, m) in self.masters.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"path\":{},\"enabled\":{},\"refs\":[",
                json_str(&m.path),
                m.enabled
            );
            for (j, r) in m.refs.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"iommu\":{},\"args\":[",
                    json_str(self.iommu_path(r.iommu))
                );
                for (k, a) in r.args.iter().enumerate() {
                    if k > 0 {
                        o.push(',');
                    }
                    let _ = write!(o, "{a}");
                }
                let _ = write!(
                    o,
                    "],\"ids\":{},\"iommu_enabled\":{}}}",
                    json_str(&self.describe_args(r)),
                    self.iommu_enabled(r.iommu)
                );
            }
            let _ = write!(
                o,
                "],\"error\":{},\"driver\":{}}}",
                opt(m.error.as_deref()),
                opt(m.driver.map(|d| d.name))
            );
        }
        o.push_str("],\"pci_maps\":[");
        for (i, p) in self.pci_maps.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"path\":{},\"enabled\":{},\"mask\":{},\"mask_explicit\":{},\"compatible\":{},\"enumerated\":{},\"error\":{},\"entries\":[",
                json_str(&p.path),
                p.enabled,
                p.mask,
                p.mask_explicit,
                json_str(&p.compatible),
                p.enumerated,
                opt(p.error.as_deref())
            );
            for (j, e) in p.entries.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"rid_base\":{},\"iommu\":{},\"sid_base\":{},\"length\":{},\"iommu_enabled\":{}}}",
                    e.rid_base,
                    json_str(self.iommu_path(e.iommu)),
                    e.sid_base,
                    e.length,
                    self.iommu_enabled(e.iommu)
                );
            }
            o.push_str("]}");
        }
        o.push_str("],\"warnings\":[");
        for (i, w) in self.warnings.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"section\":{},\"node\":{},\"message\":{}}}",
                json_str(w.section),
                opt(w.node.as_deref()),
                json_str(&w.message)
            );
        }
        o.push_str("]}");
        o
    }
}

/// The `clocks:` line of a provider: the lines the image turns on, then
/// those left to the loader; `None` when the node has no `clocks`/`resets`.
fn clocks_text(n: &IommuReport) -> Option<String> {
    if let Some(e) = &n.clocks_error {
        return Some(format!("{e}: left to the loader"));
    }
    if n.clocks.is_empty() {
        return None;
    }
    let list = |on: bool| {
        let items: Vec<String> = n
            .clocks
            .iter()
            .filter(|c| c.line.is_some() == on)
            .map(|c| match &c.line {
                Some(l) => format!(
                    "{} ({}, CCU +{:#x} bit {})",
                    l.name, l.index, l.offset, l.bit
                ),
                None => {
                    let mut s = ref_kind_name(c.kind).to_string();
                    if let Some(i) = c.index {
                        let _ = write!(s, " {i}");
                    }
                    if let Some(name) = &c.name {
                        let _ = write!(s, " \"{name}\"");
                    }
                    let compatible = if c.compatible.is_empty() {
                        "no compatible"
                    } else {
                        c.compatible.as_str()
                    };
                    let _ = write!(s, " of {} ({compatible})", c.provider);
                    s
                }
            })
            .collect();
        items.join(", ")
    };
    let mut parts = Vec::new();
    let (on, loader) = (list(true), list(false));
    if !on.is_empty() {
        parts.push(format!(
            "{on}: the image turns them on, when it tests this IOMMU, if the loader left them off"
        ));
    }
    if !loader.is_empty() {
        parts.push(format!("{loader}: left to the loader"));
    }
    Some(parts.join("; "))
}

fn json_clocks(cs: &[ClockReport]) -> String {
    let mut o = String::from("[");
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let line = match &c.line {
            Some(l) => format!(
                "{{\"name\":{},\"offset\":{},\"bit\":{}}}",
                json_str(l.name),
                json_hex(l.offset as u64),
                l.bit
            ),
            None => "null".to_string(),
        };
        let _ = write!(
            o,
            "{{\"kind\":{},\"provider\":{},\"compatible\":{},\"index\":{},\"name\":{},\"ccu_line\":{},\"turned_on_by_image\":{}}}",
            json_str(ref_kind_name(c.kind)),
            json_str(&c.provider),
            json_str(&c.compatible),
            c.index.map(|i| i.to_string()).unwrap_or_else(|| "null".to_string()),
            c.name.as_deref().map(json_str).unwrap_or_else(|| "null".to_string()),
            line,
            c.line.is_some()
        );
    }
    o.push(']');
    o
}

/// A JSON string literal (RFC 8259 §7 escapes).
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// An address as a JSON string `"0x..."`: 64-bit values do not survive
/// JSON numbers in many readers (IEEE doubles, RFC 8259 §6).
fn json_hex(v: u64) -> String {
    format!("\"{v:#x}\"")
}

fn json_ranges(rs: &[PhysRange]) -> String {
    let mut o = String::from("[");
    for (i, r) in rs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"base\":{},\"size\":{}}}",
            json_hex(r.base.0),
            json_hex(r.size)
        );
    }
    o.push(']');
    o
}

#[cfg(test)]
mod tests;
