//! What the image would see in a DTB, as a printable report.
//!
//! `cargo xtask dt-probe FILE.dtb [--json]` runs this on the host: the same
//! discovery code the image runs at boot ([`super::discover`],
//! [`super::iommus::find_iommus`], [`super::iommus::for_each_master`],
//! [`super::iommus::for_each_pci_iommu_map`], [`super::find_console`]) turns
//! the blob into a [`Report`] of owned values, which renders as text
//! ([`Report::to_text`]) or JSON ([`Report::to_json`], hand-written: no
//! serde in a `no_std` image).  Building the report allocates; it is a host
//! and diagnostics tool, not part of the early boot path.
//!
//! Any blob yields either a report or a [`DtError`], never a panic: the
//! fuzz target in `fuzz/` calls [`probe`] on arbitrary bytes.
#![forbid(unsafe_code)]

use super::console::ConsoleKind;
use super::error::DtError;
use super::iommus::{for_each_master, for_each_pci_iommu_map, locate, IommuKind};
use super::reader::{Fdt, Located};
use super::{discover_sections, PsciConduit};
use crate::mm::addr::{PhysAddr, PhysRange};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

/// The console as discovery found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleReport {
    /// Full path of the node (`/soc/serial@5000000`).
    pub path: String,
    /// The `compatible` that decided the kind (the first one when unknown).
    pub compatible: String,
    /// `"pl011"`, `"ns16550"` or `"unknown"` (see [`kind_name`]).
    pub kind: &'static str,
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
    /// [`IommuKind`] as a short name (see [`iommu_kind_name`]).
    pub kind: &'static str,
    /// Which driver of this image takes it (see [`driver_for`]).
    pub driver: String,
    /// First `reg` entry, when it is MMIO and translates.
    pub reg: Option<PhysRange>,
    /// `#iommu-cells`.
    pub iommu_cells: u32,
    /// `phandle`.
    pub phandle: Option<u32>,
    /// `status` absent or okay.
    pub enabled: bool,
    /// `dma-coherent`.
    pub dma_coherent: bool,
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
    /// Its references in property order.
    pub refs: Vec<MasterRefReport>,
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
    /// The entries in property order.
    pub entries: Vec<MapEntryReport>,
}

/// Everything dt-probe prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What [`super::discover`] returns on this blob: `None` when the image
    /// would boot on it, else the error that would stop it (e.g. the empty
    /// `/memory` of a Qualcomm DTB before ABL patches it).
    pub boot_error: Option<String>,
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
    pub console: Result<ConsoleReport, String>,
    /// `"hvc"`, `"smc"` or `None` (no `/psci`).
    pub psci: Option<&'static str>,
    /// `/chosen/bootargs`.
    pub bootargs: String,
    /// IOMMU providers in blob order.
    pub iommus: Vec<IommuReport>,
    /// DMA masters in blob order.
    pub masters: Vec<MasterReport>,
    /// PCI host bridges with `iommu-map`, in blob order.
    pub pci_maps: Vec<PciMapReport>,
}

/// Short name of a console kind.
pub fn kind_name(k: ConsoleKind) -> &'static str {
    match k {
        ConsoleKind::Pl011 => "pl011",
        ConsoleKind::Ns16550 => "ns16550",
        ConsoleKind::Geni => "geni",
        ConsoleKind::S5l => "s5l",
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

/// Which driver of this image takes a provider: SMMUv3 is the only one
/// today (`src/iommu/smmuv3`, chosen in `src/boot/iommu_suite.rs`); known
/// kinds without a driver say so; anything else is `unsupported:
/// <compatible>`.
pub fn driver_for(kind: IommuKind, compatible: &str) -> String {
    match kind {
        IommuKind::SmmuV3 => "smmuv3".to_string(),
        IommuKind::Unknown if compatible.is_empty() => "unsupported: (no compatible)".to_string(),
        IommuKind::Unknown => format!("unsupported: {compatible}"),
        _ => "no driver yet".to_string(),
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

/// Runs discovery on `dtb` (as if loaded at address 0) and builds the
/// report.  A blob the image would reject gives the image's error.
pub fn probe(dtb: &[u8]) -> Result<Report, DtError> {
    let fdt = Fdt::parse(dtb)?;
    let (info, errors) = discover_sections(&fdt, PhysAddr(0))?;
    let section_errors = [
        ("memory", errors.memory),
        ("reserved", errors.reserved),
        ("chosen", errors.chosen),
        ("psci", errors.psci),
    ]
    .into_iter()
    .filter_map(|(s, e)| e.map(|e| (s, e.to_string())))
    .collect();
    let console = match info.console {
        Ok(c) => {
            let path = fdt
                .find(c.path)
                .map(|l| full_path(&l))
                .unwrap_or_else(|_| c.path.to_string());
            Ok(ConsoleReport {
                path,
                compatible: c.compatible.to_string(),
                kind: kind_name(c.kind),
                reg: c.reg,
                reg_shift: c.reg_shift,
                reg_io_width: c.reg_io_width,
                options: c.options.map(|o| o.to_string()),
                enabled: c.enabled,
            })
        }
        Err(e) => Err(e.to_string()),
    };
    let list = super::iommus::find_iommus(&fdt)?;
    let mut iommus = Vec::new();
    for n in list.iter() {
        iommus.push(IommuReport {
            path: full_path(&locate(&fdt, n.node_offset)?),
            compatible: n.compatible.to_string(),
            kind: iommu_kind_name(n.kind),
            driver: driver_for(n.kind, n.compatible),
            reg: n.reg,
            iommu_cells: n.iommu_cells,
            phandle: n.phandle,
            enabled: n.enabled,
            dma_coherent: n.dma_coherent,
        });
    }
    let mut masters: Vec<MasterReport> = Vec::new();
    let mut last_offset = None;
    for_each_master(&fdt, &list, |loc, r| {
        let entry = MasterRefReport {
            iommu: r.iommu,
            args: r.args.as_slice().to_vec(),
        };
        match masters.last_mut() {
            Some(m) if last_offset == Some(r.master_offset) => m.refs.push(entry),
            _ => {
                last_offset = Some(r.master_offset);
                masters.push(MasterReport {
                    path: full_path(loc),
                    enabled: r.enabled,
                    refs: alloc::vec![entry],
                });
            }
        }
        Ok(true)
    })?;
    let mut pci_maps = Vec::new();
    for_each_pci_iommu_map(&fdt, &list, |loc, m| {
        pci_maps.push(PciMapReport {
            path: full_path(loc),
            enabled: m.enabled,
            mask: m.mask,
            entries: m
                .entries()
                .iter()
                .map(|e| MapEntryReport {
                    rid_base: e.rid_base,
                    iommu: e.iommu,
                    sid_base: e.sid_base,
                    length: e.length,
                })
                .collect(),
        });
        Ok(true)
    })?;
    Ok(Report {
        boot_error: errors.first().map(|e| e.to_string()),
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
        iommus,
        masters,
        pci_maps,
    })
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

    /// The human-readable picture (what `cargo xtask dt-probe` prints).
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "model: {}", self.model);
        let _ = writeln!(o, "compatible: {}", self.compatible);
        let _ = writeln!(o, "dtb size: {} bytes", self.dtb_size);
        match &self.boot_error {
            None => {
                let _ = writeln!(o, "boot: discovery succeeds");
            }
            Some(e) => {
                let _ = writeln!(o, "boot: the image would stop here: {e}");
            }
        }
        for (section, e) in &self.section_errors {
            let _ = writeln!(o, "error in {section}: {e}");
        }
        let _ = writeln!(o, "memory:");
        for r in &self.memory {
            let _ = writeln!(o, "  {}", range(r));
        }
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
                    "console: {} compatible={} kind={} base={:#x} size={:#x} reg-shift={} io-width={}{}{}",
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
                    disabled(c.enabled)
                );
            }
            Err(e) => {
                let _ = writeln!(o, "console: none usable: {e}");
            }
        }
        let _ = writeln!(
            o,
            "psci: {}",
            self.psci.unwrap_or("none (no /psci node or no method)")
        );
        let _ = writeln!(o, "bootargs: {:?}", self.bootargs);
        let _ = writeln!(o, "iommus: {}", self.iommus.len());
        for n in &self.iommus {
            let reg = n
                .reg
                .map(|r| format!("base={:#x} size={:#x}", r.base.0, r.size))
                .unwrap_or_else(|| "base=?".to_string());
            let _ = writeln!(
                o,
                "  {} compatible={} kind={} {} #iommu-cells={}{} -> {}{}",
                n.path,
                n.compatible,
                n.kind,
                reg,
                n.iommu_cells,
                if n.dma_coherent { " dma-coherent" } else { "" },
                n.driver,
                disabled(n.enabled)
            );
        }
        let _ = writeln!(o, "masters: {}", self.masters.len());
        for m in &self.masters {
            let mut refs = String::new();
            for (i, r) in m.refs.iter().enumerate() {
                if i > 0 {
                    refs.push_str(", ");
                }
                let _ = write!(
                    refs,
                    "{} {}",
                    self.iommu_path(r.iommu),
                    self.describe_args(r)
                );
            }
            let _ = writeln!(o, "  {} -> {}{}", m.path, refs, disabled(m.enabled));
        }
        let _ = writeln!(o, "pci iommu-maps: {}", self.pci_maps.len());
        for p in &self.pci_maps {
            let _ = writeln!(
                o,
                "  {} iommu-map-mask={:#x}{}",
                p.path,
                p.mask,
                disabled(p.enabled)
            );
            for e in &p.entries {
                let _ = writeln!(
                    o,
                    "    rid {:#06x}..+{:#x} -> {} sid {:#x}",
                    e.rid_base,
                    e.length,
                    self.iommu_path(e.iommu),
                    e.sid_base
                );
            }
        }
        o
    }

    /// The same picture as JSON (one object): counts, cells and IDs as JSON
    /// numbers, addresses and sizes as `"0x..."` strings.
    pub fn to_json(&self) -> String {
        let mut o = String::from("{");
        let _ = write!(o, "\"model\":{},", json_str(&self.model));
        let _ = write!(o, "\"compatible\":{},", json_str(&self.compatible));
        let _ = write!(o, "\"dtb_size\":{},", self.dtb_size);
        let _ = write!(
            o,
            "\"boot_error\":{},",
            self.boot_error
                .as_deref()
                .map(json_str)
                .unwrap_or_else(|| "null".to_string())
        );
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
                    "\"console\":{{\"path\":{},\"compatible\":{},\"kind\":{},\"base\":{},\"size\":{},\"reg_shift\":{},\"io_width\":{},\"options\":{},\"enabled\":{}}},",
                    json_str(&c.path),
                    json_str(&c.compatible),
                    json_str(c.kind),
                    json_hex(c.reg.base.0),
                    json_hex(c.reg.size),
                    c.reg_shift,
                    c.reg_io_width,
                    c.options.as_deref().map(json_str).unwrap_or_else(|| "null".to_string()),
                    c.enabled
                );
            }
            Err(e) => {
                let _ = write!(o, "\"console\":{{\"error\":{}}},", json_str(e));
            }
        }
        let _ = write!(
            o,
            "\"psci\":{},",
            self.psci
                .map(json_str)
                .unwrap_or_else(|| "null".to_string())
        );
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
                "{{\"path\":{},\"compatible\":{},\"kind\":{},\"driver\":{},\"base\":{},\"size\":{},\"iommu_cells\":{},\"phandle\":{},\"enabled\":{},\"dma_coherent\":{}}}",
                json_str(&n.path),
                json_str(&n.compatible),
                json_str(n.kind),
                json_str(&n.driver),
                base,
                sz,
                n.iommu_cells,
                n.phandle.map(|p| p.to_string()).unwrap_or_else(|| "null".to_string()),
                n.enabled,
                n.dma_coherent
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
                let _ = write!(o, "],\"ids\":{}}}", json_str(&self.describe_args(r)));
            }
            o.push_str("]}");
        }
        o.push_str("],\"pci_maps\":[");
        for (i, p) in self.pci_maps.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"path\":{},\"enabled\":{},\"mask\":{},\"entries\":[",
                json_str(&p.path),
                p.enabled,
                p.mask
            );
            for (j, e) in p.entries.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"rid_base\":{},\"iommu\":{},\"sid_base\":{},\"length\":{}}}",
                    e.rid_base,
                    json_str(self.iommu_path(e.iommu)),
                    e.sid_base,
                    e.length
                );
            }
            o.push_str("]}");
        }
        o.push_str("]}");
        o
    }
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
