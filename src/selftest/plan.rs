//! The plan of the IOMMU self-test: from the device tree and what PCIe
//! enumeration found, every IOMMU node becomes one [`Planned`] group —
//! run by its family, a SKIP with the reason (disabled, no driver in this
//! image, no master this image can drive), or a failure where the tree is
//! wrong (no `#iommu-cells`, a bad `reg`, a broken `iommu-map`) — plus
//! notes on masters that are not used and why.  Host-built, so every
//! verdict is unit-tested (`plan/tests.rs`); boot runs the groups.
#![forbid(unsafe_code)]

use super::families::{family, hardware_checks_for, no_master_reason};
use crate::dma::{edu, platform, virtio_blk, MasterSource, MasterSpec, StreamSpec};
use crate::mm::PhysRange;
use crate::platform::bootargs::QcomTbu;
use crate::platform::ccu::ControlRef;
use crate::platform::dt::clocks::{read_clocks, read_resets};
use crate::platform::dt::iommus::{
    for_each_master, for_each_pci_iommu_map, locate, provider_kind, read_iommu_node, IommuKind,
    IommuList,
};
use crate::platform::dt::report::{platform_master_unusable, Unusable};
use crate::platform::dt::tbus::{served_streams, tbus_of, PortFacts, TbuNode};
use crate::platform::dt::{translate_reg, DtError, Fdt};
use crate::platform::pci::{self, EnumerationError, Function, HostError};
use crate::virtio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// A host bridge and what enumeration found behind it.
pub struct PciHost {
    /// The DT description.
    pub bridge: pci::host::HostBridge,
    /// Functions below it (depth-first), or why enumeration failed.
    pub functions: Result<Vec<pci::Function>, EnumerationError>,
}

/// `true` for QEMU's edu device.
pub fn is_edu(f: &pci::Function) -> bool {
    f.vendor == edu::VENDOR && f.device == edu::DEVICE
}

/// `true` for a virtio-blk PCI function (modern or transitional).
pub fn is_virtio_blk(f: &pci::Function) -> bool {
    f.vendor == virtio::pci::VENDOR
        && (f.device == virtio_blk::PCI_DEVICE || f.device == virtio_blk::PCI_DEVICE_TRANSITIONAL)
}

/// What the suite will do with one planned IOMMU.
pub enum PlanState {
    /// Bring it up and run the catalogue.
    Run,
    /// Report the group skipped with this reason (nothing we can drive).
    Skip(String),
    /// Report the group failed with this reason (something that should
    /// work did not: a silent pass would hide it from the lab).
    Fail(String),
}

/// One IOMMU instance the suite will report on.
pub struct Planned {
    /// KTAP subtest name: the DT node name.
    pub name: String,
    /// Run, skip or fail.
    pub state: PlanState,
    /// Index in discovery order (what the masters' streams name).
    pub index: usize,
    /// Its discovery kind (the family registry's key).
    pub kind: IommuKind,
    /// The `compatible` that matched.
    pub compatible: String,
    /// First `reg` entry, translated.
    pub reg: Option<PhysRange>,
    /// `dma-coherent`.
    pub dma_coherent: bool,
    /// SMMUv3 `cavium,cn9900-broken-page1-regspace`.
    pub page0_regs_only: bool,
    /// virtio-iommu: its own PCI function (found by the BDF in its `reg`).
    pub function: Option<Function>,
    /// Masters this image can drive behind it, virtio-blk first.
    pub masters: Vec<MasterSpec>,
    /// Platform devices whose `iommus` name it.
    pub platform: Vec<MasterSpec>,
    /// `#iommu-cells` is not what the binding says (the whole message).
    pub cells_mismatch: Option<String>,
    /// Its `clocks` then `resets` (`platform::dt::clocks`).
    pub controls: Vec<ControlRef>,
    /// Why they could not be read.
    pub controls_error: Option<DtError>,
    /// The Qualcomm TBU nodes that name it (`platform::dt::tbus`).
    pub tbus: Vec<TbuNode>,
    /// Every stream (ID, mask) a DT master uses on it that a TBU port
    /// must avoid: platform `iommus` references, and the IDs of PCI
    /// `iommu-map` entries one of [`Self::tbus`] serves, used or not.
    pub dt_streams: Vec<(u32, u32)>,
    /// `iommu_bringup.qcom-tbu`.
    pub qcom_tbu: QcomTbu,
}

impl Planned {
    /// The tree's facts around the node for a self master
    /// (`Probe::described_port`).
    pub fn port_facts(&self) -> PortFacts<'_> {
        PortFacts {
            compatible: &self.compatible,
            tbus: &self.tbus,
            dt_streams: &self.dt_streams,
            qcom_tbu: self.qcom_tbu,
        }
    }
}

impl Planned {
    /// `true` when the catalogue will run on it.
    pub fn runs(&self) -> bool {
        matches!(self.state, PlanState::Run)
    }
}

/// The IOMMUs to report on (every IOMMU node, plus a failing
/// `iommu_discovery` group when the tree cannot be read), and notes.
pub fn plan(blob: &[u8], pci: &Result<Vec<PciHost>, HostError>) -> (Vec<Planned>, Vec<String>) {
    plan_with(blob, pci, QcomTbu::default())
}

/// [`plan`] with `iommu_bringup.qcom-tbu` as the bootargs set it.
pub fn plan_with(
    blob: &[u8],
    pci: &Result<Vec<PciHost>, HostError>,
    qcom_tbu: QcomTbu,
) -> (Vec<Planned>, Vec<String>) {
    let mut notes = Vec::new();
    let broken = |why: String| Planned {
        name: String::from("iommu_discovery"),
        state: PlanState::Fail(why),
        index: 0,
        kind: IommuKind::Unknown,
        compatible: String::new(),
        reg: None,
        dma_coherent: false,
        page0_regs_only: false,
        function: None,
        masters: Vec::new(),
        platform: Vec::new(),
        cells_mismatch: None,
        controls: Vec::new(),
        controls_error: None,
        tbus: Vec::new(),
        dt_streams: Vec::new(),
        qcom_tbu,
    };
    let fdt = match Fdt::parse(blob) {
        Ok(f) => f,
        Err(e) => return (alloc::vec![broken(format!("device tree: {e}"))], notes),
    };
    // Node by node, so one broken provider does not hide the others: each
    // broken node becomes a failing group of its own, and a node with an
    // IOMMU compatible but no `#iommu-cells` is one too (nothing could
    // reference it, so it would otherwise vanish from the report).
    let mut list = IommuList::new();
    let mut broken_nodes: Vec<Planned> = Vec::new();
    let node_failure = |name: &str, why: String| Planned {
        name: String::from(name),
        state: PlanState::Fail(why),
        ..broken(String::new())
    };
    let walked = fdt.walk(|loc| {
        let n = loc.node();
        match read_iommu_node(loc) {
            Ok(Some(node)) => {
                if let Err(e) = list.push(node) {
                    broken_nodes.push(node_failure(n.name(), format!("{e}")));
                }
            }
            Ok(None) => {
                let (compatible, kind) = provider_kind(&n);
                if kind != IommuKind::Unknown {
                    broken_nodes.push(node_failure(
                        n.name(),
                        format!(
                            "{} ({compatible}) has no #iommu-cells: no master can reference it, so nothing behind it can be tested (the binding requires the property)",
                            loc.path_name()
                        ),
                    ));
                }
            }
            Err(e) => broken_nodes.push(node_failure(
                n.name(),
                format!("{}: {e}", loc.path_name()),
            )),
        }
        Ok(true)
    });
    if let Err(e) = walked {
        return (alloc::vec![broken(format!("IOMMU discovery: {e}"))], notes);
    }
    let mut planned: Vec<Planned> = list
        .iter()
        .enumerate()
        .map(|(index, n)| Planned {
            name: String::from(n.name),
            state: PlanState::Run,
            index,
            kind: n.kind,
            compatible: String::from(n.compatible),
            reg: n.reg,
            dma_coherent: n.dma_coherent,
            page0_regs_only: n.page0_regs_only,
            function: None,
            masters: Vec::new(),
            platform: Vec::new(),
            cells_mismatch: n.cells_mismatch.as_ref().map(|e| format!("{e}")),
            controls: Vec::new(),
            controls_error: None,
            tbus: Vec::new(),
            dt_streams: Vec::new(),
            qcom_tbu,
        })
        .collect();
    for (p, n) in planned.iter_mut().zip(list.iter()) {
        match read_controls(&fdt, n.node_offset) {
            Ok(c) => p.controls = c,
            Err(e) => p.controls_error = Some(e),
        }
        if let Some(ph) = n.phandle {
            p.tbus = tbus_of(&fdt, ph).unwrap_or_default();
        }
    }
    // Every stream a PCI `iommu-map` routes to one of the IOMMU's TBUs,
    // enumerated or not: a TBU port must not take one (`dt-probe` counts
    // them the same way).
    let _ = for_each_pci_iommu_map(&fdt, &list, |_, map| {
        for e in map.entries() {
            if let Some(p) = planned.get_mut(e.iommu) {
                p.dt_streams
                    .extend(served_streams(&p.tbus, e.sid_base, e.length));
            }
        }
        Ok(true)
    });
    // A virtio-iommu is itself a PCI function: find it by its BDF.
    if let Ok(hosts) = pci {
        for (p, n) in planned.iter_mut().zip(list.iter()) {
            let Some(bdf) = n.pci_bdf else { continue };
            p.function = hosts
                .iter()
                .filter_map(|h| h.functions.as_ref().ok())
                .flatten()
                .find(|f| f.bdf.rid() == bdf)
                .cloned();
        }
    }
    // PCI masters: each edu / virtio-blk behind a host bridge whose
    // iommu-map routes its requester ID to one of the IOMMUs.  The
    // requester ID is the one the IOMMU sees (`dma_rid`: behind a
    // PCIe-to-PCI bridge every device shares the bridge's), so masters
    // sharing a stream are one group: only the first is used, or the cases'
    // "two masters" would be one stream.
    let mut map_error = None;
    let mut shared = Vec::new();
    // (host path, BDF) of every master function some iommu-map routes.
    let mut routed: Vec<(String, String)> = Vec::new();
    if let Ok(hosts) = pci {
        let walked = for_each_pci_iommu_map(&fdt, &list, |loc, map| {
            let path = loc.path_name();
            for h in hosts.iter().filter(|h| h.bridge.path == path.as_str()) {
                let Ok(funcs) = &h.functions else { continue };
                let masters = funcs.iter().filter(|f| is_edu(f) || is_virtio_blk(f));
                for f in masters {
                    let Some((idx, sid)) = map.map_rid(u32::from(f.dma_rid)) else {
                        continue;
                    };
                    routed.push((String::from(path.as_str()), format!("{}", f.bdf)));
                    let Some(p) = planned.get_mut(idx) else {
                        continue;
                    };
                    let first = p
                        .masters
                        .iter()
                        .find(|m| m.stream_on(idx).is_some_and(|s| s.id == sid));
                    match first {
                        Some(first) => shared.push(format!(
                            "{}: {} issues DMA as requester {:#06x}, stream {sid:#x}, like {}: not used as a second master",
                            p.name, f.bdf, f.dma_rid, first.name
                        )),
                        None => p.masters.push(MasterSpec {
                            name: format!("{}", f.bdf),
                            source: MasterSource::Pci(f.clone()),
                            streams: alloc::vec![StreamSpec {
                                iommu: idx,
                                id: sid,
                                mask: list
                                    .get(idx)
                                    .and_then(|n| n.stream_match_mask)
                                    .unwrap_or(0),
                            }],
                        }),
                    }
                }
            }
            Ok(true)
        });
        map_error = walked.err().map(|e| format!("PCI iommu-map: {e}"));
        // Masters no iommu-map routes: their DMA is not translated by any
        // IOMMU we test, so say so instead of silently using fewer masters
        // (only when every map could be read).
        for h in hosts.iter().filter(|_| map_error.is_none()) {
            let Ok(funcs) = &h.functions else { continue };
            for f in funcs.iter().filter(|f| is_edu(f) || is_virtio_blk(f)) {
                let bdf = format!("{}", f.bdf);
                if !routed.iter().any(|(p, b)| *p == h.bridge.path && *b == bdf) {
                    notes.push(format!(
                        "{} {bdf} (requester {:#06x}) is outside every iommu-map entry of {}: no IOMMU here translates its DMA, so it is not used as a master",
                        if is_edu(f) { "edu" } else { "virtio-blk" },
                        f.dma_rid,
                        h.bridge.path
                    ));
                }
            }
        }
    }
    notes.extend(shared);
    // Platform masters: every `iommus` reference, grouped per device node
    // and IOMMU (a device may name several stream IDs).
    let platform_error = for_each_master(&fdt, &list, |loc, r| {
        let Some(p) = planned.get_mut(r.iommu) else {
            return Ok(true);
        };
        let args = r.args.as_slice();
        // The mask cell, or with one cell the SMMU's `stream-match-mask`
        // (`iommu/arm,smmu.yaml`).
        let node_mask = list.get(r.iommu).and_then(|n| n.stream_match_mask);
        let stream = StreamSpec {
            iommu: r.iommu,
            id: args.first().copied().unwrap_or(0),
            mask: args.get(1).copied().or(node_mask).unwrap_or(0),
        };
        match p.platform.iter_mut().find(|m| {
            matches!(m.source, MasterSource::Platform { offset, .. } if offset == r.master_offset)
        }) {
            Some(m) => m.streams.push(stream),
            None => {
                let node = loc.node();
                // The compatible the registry takes, else the first.
                let compatible = platform::for_node(node.prop_strs("compatible"))
                    .map(|(c, _)| c)
                    .or_else(|| node.prop_strs("compatible").next())
                    .unwrap_or("");
                let controls = if platform::by_compatible(compatible).is_some() {
                    read_controls(&fdt, r.master_offset)
                } else {
                    Ok(Vec::new())
                };
                p.platform.push(MasterSpec {
                    name: loc.path_name().as_str().into(),
                    source: MasterSource::Platform {
                        offset: r.master_offset,
                        compatible: String::from(compatible),
                        enabled: r.enabled,
                        reg: translate_reg(loc, 0).ok(),
                        controls,
                    },
                    streams: alloc::vec![stream],
                })
            }
        }
        Ok(true)
    })
    .err()
    .map(|e| format!("platform `iommus`: {e}"));
    // virtio-blk masters first when present: fast, and they move data in
    // both directions through the IOMMU themselves (stable: BDF order kept).
    for p in planned.iter_mut() {
        crate::platform::order::sort_small_by_key(&mut p.masters, |m| {
            !m.pci().is_some_and(is_virtio_blk)
        });
    }
    let mut out = Vec::new();
    // A broken `iommu-map` or `iommus` no runnable IOMMU absorbs is still
    // a tree error: report it as its own failing group.
    let absorbed = |e: &Option<String>| {
        e.is_none()
            || planned
                .iter()
                .zip(list.iter())
                .any(|(p, n)| n.enabled && family(p.kind).is_some_and(|f| f.driver.is_ok()))
    };
    if !absorbed(&map_error) {
        out.push(broken(map_error.clone().unwrap_or_default()));
    }
    if let Some(e) = &platform_error {
        out.push(Planned {
            name: String::from("iommu_masters"),
            ..broken(e.clone())
        });
    }
    out.append(&mut broken_nodes);
    for (mut p, n) in planned.into_iter().zip(list.iter()) {
        let platform_streams: Vec<(u32, u32)> = p
            .platform
            .iter()
            .flat_map(|m| m.streams.iter())
            .filter(|s| s.iommu == p.index)
            .map(|s| (s.id, s.mask))
            .collect();
        p.dt_streams.extend(platform_streams);
        // Platform masters the registry drives join the PCI ones, in tree
        // order after them (`dma::platform`).
        let usable: Vec<MasterSpec> = p
            .platform
            .iter()
            .filter(|m| platform_unusable(m).is_none())
            .cloned()
            .collect();
        p.masters.extend(usable);
        let state = judge(&p, n.enabled, n.pci_bdf, &map_error, pci);
        if let PlanState::Run = state {
            for m in p.platform.iter() {
                if let Some(why) = platform_unusable(m) {
                    notes.push(format!(
                        "{}: platform master {} ({}) found, streams {}: {why}",
                        p.name,
                        m.name,
                        platform_compatible(m),
                        streams_text(&m.streams)
                    ));
                }
            }
        }
        out.push(Planned { state, ..p });
    }
    (out, notes)
}

/// Why a platform master is not used: no line in the registry, or its
/// node is disabled or has no `reg` the driver can use; `None` when the
/// image drives it.
fn platform_unusable(m: &MasterSpec) -> Option<String> {
    let MasterSource::Platform { enabled, reg, .. } = &m.source else {
        return Some(String::from("not a platform master"));
    };
    let Some(d) = m.platform_driver() else {
        return Some(String::from("no DMA engine driver for it yet"));
    };
    Some(match platform_master_unusable(*enabled, *reg, d.reg_span)? {
        Unusable::Disabled => format!(
            "{} driver, but the node is disabled in the DT (status): not used",
            d.name
        ),
        Unusable::NoReg => format!(
            "{} driver, but the node has no usable reg: not used",
            d.name
        ),
        Unusable::RegTooSmall { reg, need } => format!(
            "{} driver, but its reg {reg} is smaller than the {need:#x} bytes the driver uses: not used",
            d.name
        ),
    })
}

fn platform_compatible(m: &MasterSpec) -> &str {
    match &m.source {
        MasterSource::Platform { compatible, .. } if !compatible.is_empty() => compatible,
        _ => "no compatible",
    }
}

fn streams_text(s: &[StreamSpec]) -> String {
    let mut t = String::new();
    for (i, s) in s.iter().enumerate() {
        if i > 0 {
            t.push_str(", ");
        }
        let _ = write!(t, "{:#x}", s.id);
        if s.mask != 0 {
            let _ = write!(t, "/mask {:#x}", s.mask);
        }
    }
    t
}

/// The node's `clocks` then `resets`, owned.
fn read_controls(fdt: &Fdt<'_>, offset: usize) -> Result<Vec<ControlRef>, DtError> {
    let loc = locate(fdt, offset)?;
    let clocks = read_clocks(&loc)?;
    let resets = read_resets(&loc)?;
    Ok(clocks
        .iter()
        .chain(resets.iter())
        .map(ControlRef::from)
        .collect())
}

/// What the suite does with one IOMMU node.
fn judge(
    p: &Planned,
    enabled: bool,
    pci_bdf: Option<u16>,
    map_error: &Option<String>,
    pci: &Result<Vec<PciHost>, HostError>,
) -> PlanState {
    let what = format!("{} ({})", p.name, p.compatible);
    if let Some(e) = &p.cells_mismatch {
        // The binding's cell count is wrong: every reference to this IOMMU
        // is read with the wrong shape, so fail it by name.
        return PlanState::Fail(e.clone());
    }
    if !enabled {
        return PlanState::Skip(format!("{what} is disabled in the DT (status): not tested"));
    }
    let fam = match family(p.kind) {
        None => {
            return PlanState::Skip(format!(
                "{what}: no IOMMU family of this image takes this compatible: not tested"
            ))
        }
        Some(f) => f,
    };
    if let Err(why) = fam.driver {
        return PlanState::Skip(format!("{what}: {} family: {why}, not tested", fam.name));
    }
    if let Some(why) = (fam.left_alone)(&p.compatible) {
        return PlanState::Skip(format!(
            "{what}: the {} driver leaves it alone: {why}",
            fam.name
        ));
    }
    if p.kind == IommuKind::VirtioIommu && p.function.is_none() {
        return PlanState::Fail(format!("{what}: no PCI function at its BDF {pci_bdf:?}"));
    }
    if let Some(e) = map_error {
        return PlanState::Fail(e.clone());
    }
    if let Err(e) = pci {
        if !p.masters.iter().any(|m| m.pci().is_none()) {
            return PlanState::Fail(format!(
                "PCIe discovery failed, so no DMA master could be found: {e}"
            ));
        }
    }
    let described = (fam.described_port)(&p.port_facts());
    if p.masters.is_empty()
        && !(fam.self_master)(&p.compatible)
        && !matches!(described, Some(Ok(_)))
        && hardware_checks_for(p.kind).is_none()
    {
        let platform = if p.platform.is_empty() {
            String::new()
        } else {
            let undriven: Vec<&str> = p
                .platform
                .iter()
                .filter(|m| m.platform_driver().is_none())
                .map(|m| m.name.as_str())
                .collect();
            let mut s = String::new();
            if !undriven.is_empty() {
                s = format!(
                    "; platform masters reference it ({}) but none has a DMA engine driver in this image yet",
                    undriven.join(", ")
                );
            }
            for m in p.platform.iter().filter(|m| m.platform_driver().is_some()) {
                if let Some(why) = platform_unusable(m) {
                    let _ = write!(s, "; {}: {why}", m.name);
                }
            }
            s
        };
        let mut family_reason = no_master_reason(p.kind, &p.compatible)
            .map(|why| format!("; {why}"))
            .unwrap_or_default();
        if let Some(Err(why)) = described {
            let _ = write!(family_reason, "; {why}");
        }
        return PlanState::Skip(format!(
            "{what}: no DMA master this image can drive sits behind it{platform}{family_reason}"
        ));
    }
    PlanState::Run
}

#[cfg(test)]
mod tests;
