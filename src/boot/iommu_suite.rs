//! The IOMMU self-test at boot: every IOMMU node in the DT becomes one KTAP
//! subtest named after the node.  Its family (`selftest::families`) either
//! runs it — bring-up, masters, the case catalogue — or the node is a SKIP
//! with the reason (no driver in this image yet, disabled, no DMA master
//! this image can drive) or a failure where the tree is wrong.  Nothing in
//! the tree is left as a mere `#` comment.
//!
//! Masters come from PCI (`iommu-map`: edu and virtio-blk functions, which
//! this image drives) and from platform devices (`iommus = <...>`, found
//! and reported; no platform DMA engine has a driver yet).  Boot provides
//! the platform services ([`BootEnv`]): device mappings, the timer, cache
//! maintenance, and opening the PCI masters.

use super::pci_probe::{self, PciHost};
use super::services::{device_block, CPU_CACHES, TIMER};
use crate::arch::aarch64::cache;
use crate::dma::edu_master::EduMaster;
use crate::dma::virtio_blk::{Placement, VirtioBlkMaster};
use crate::dma::{DmaMaster, MasterSource, MasterSpec, StreamSpec};
use crate::iommu::pgtable::Granule;
use crate::iommu::probe::{ProbeEnv, ProbeTarget};
use crate::iommu::StreamId;
use crate::mm::cache::CacheMaintenance;
use crate::mm::dma_pool::DmaPool;
use crate::mm::{Iova, PhysRange};
use crate::mmio::{self, VolatileMmio};
use crate::platform::bootargs::{Bootargs, GranuleArg};
use crate::platform::console::active::Stdout;
use crate::platform::dt::iommus::{
    find_iommus, for_each_master, for_each_pci_iommu_map, IommuKind,
};
use crate::platform::dt::Fdt;
use crate::platform::pci::Function;
use crate::selftest::families::{family, FamilyEnv, FamilyTarget, OpenedMasters, MAX_MASTERS};
use crate::selftest::iommu_cases::FixedMapping;
use crate::selftest::ktap::KtapWriter;
use crate::selftest::runner::{report_setup_failure, report_setup_skip, Totals};
use crate::time::Clock;
use crate::virtio::Layout;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

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
    index: usize,
    kind: IommuKind,
    compatible: String,
    reg: Option<PhysRange>,
    dma_coherent: bool,
    /// SMMUv3 `cavium,cn9900-broken-page1-regspace`.
    page0_regs_only: bool,
    /// virtio-iommu: its own PCI function (found by the BDF in its `reg`).
    function: Option<Function>,
    /// Masters this image can drive behind it, virtio-blk first.
    masters: Vec<MasterSpec>,
    /// Platform devices whose `iommus` name it.
    platform: Vec<MasterSpec>,
    /// `#iommu-cells` is not what the binding says (the whole message).
    cells_mismatch: Option<String>,
}

impl Planned {
    /// `true` when the catalogue will run on it.
    pub fn runs(&self) -> bool {
        matches!(self.state, PlanState::Run)
    }
}

/// The IOMMUs to report on (every IOMMU node, plus a failing
/// `iommu_discovery` group when the tree cannot be read), and notes.
pub fn plan(blob: &[u8], pci: &Result<Vec<PciHost>, String>) -> (Vec<Planned>, Vec<String>) {
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
    };
    let fdt = match Fdt::parse(blob) {
        Ok(f) => f,
        Err(e) => return (alloc::vec![broken(format!("device tree: {e}"))], notes),
    };
    let list = match find_iommus(&fdt) {
        Ok(l) => l,
        Err(e) => return (alloc::vec![broken(format!("IOMMU discovery: {e}"))], notes),
    };
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
        })
        .collect();
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
                let masters = funcs
                    .iter()
                    .filter(|f| pci_probe::is_edu(f) || pci_probe::is_virtio_blk(f));
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
                                mask: 0,
                            }],
                        }),
                    }
                }
            }
            Ok(true)
        });
        map_error = walked.err().map(|e| format!("PCI iommu-map: {e}"));
        // Masters no iommu-map routes: their DMA is not translated by any
        // IOMMU we test, so say so instead of silently using fewer masters.
        for h in hosts.iter() {
            let Ok(funcs) = &h.functions else { continue };
            for f in funcs
                .iter()
                .filter(|f| pci_probe::is_edu(f) || pci_probe::is_virtio_blk(f))
            {
                let bdf = format!("{}", f.bdf);
                if !routed.iter().any(|(p, b)| *p == h.bridge.path && *b == bdf) {
                    notes.push(format!(
                        "{} {bdf} (requester {:#06x}) is outside every iommu-map entry of {}: no IOMMU here translates its DMA, so it is not used as a master",
                        if pci_probe::is_edu(f) { "edu" } else { "virtio-blk" },
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
        let stream = StreamSpec {
            iommu: r.iommu,
            id: args.first().copied().unwrap_or(0),
            mask: args.get(1).copied().unwrap_or(0),
        };
        match p.platform.iter_mut().find(|m| {
            matches!(m.source, MasterSource::Platform { offset, .. } if offset == r.master_offset)
        }) {
            Some(m) => m.streams.push(stream),
            None => p.platform.push(MasterSpec {
                name: loc.path_name().as_str().into(),
                source: MasterSource::Platform {
                    offset: r.master_offset,
                    compatible: String::from(loc.node().prop_strs("compatible").next().unwrap_or("")),
                    enabled: r.enabled,
                },
                streams: alloc::vec![stream],
            }),
        }
        Ok(true)
    })
    .err()
    .map(|e| format!("platform `iommus`: {e}"));
    if let Some(e) = &platform_error {
        notes.push(e.clone());
    }
    // virtio-blk masters first when present: fast, and they move data in
    // both directions through the IOMMU themselves (stable: BDF order kept).
    for p in planned.iter_mut() {
        p.masters
            .sort_by_key(|m| !m.pci().is_some_and(pci_probe::is_virtio_blk));
    }
    let mut out = Vec::new();
    for (p, n) in planned.into_iter().zip(list.iter()) {
        let state = judge(&p, n.enabled, n.pci_bdf, &map_error, pci);
        if let PlanState::Run = state {
            for m in p.platform.iter() {
                notes.push(format!(
                    "{}: platform master {} ({}) found, streams {}: no DMA engine driver for it yet",
                    p.name,
                    m.name,
                    platform_compatible(m),
                    streams_text(&m.streams)
                ));
            }
        }
        out.push(Planned { state, ..p });
    }
    (out, notes)
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

/// What the suite does with one IOMMU node.
fn judge(
    p: &Planned,
    enabled: bool,
    pci_bdf: Option<u16>,
    map_error: &Option<String>,
    pci: &Result<Vec<PciHost>, String>,
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
    if p.kind == IommuKind::VirtioIommu && p.function.is_none() {
        return PlanState::Fail(format!("{what}: no PCI function at its BDF {pci_bdf:?}"));
    }
    if let Some(e) = map_error {
        return PlanState::Fail(e.clone());
    }
    if let Err(e) = pci {
        return PlanState::Fail(format!(
            "PCIe discovery failed, so no DMA master could be found: {e}"
        ));
    }
    if p.masters.is_empty() {
        let platform = if p.platform.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = p.platform.iter().map(|m| m.name.as_str()).collect();
            format!(
                "; platform masters reference it ({}) but none has a DMA engine driver in this image yet",
                names.join(", ")
            )
        };
        return PlanState::Skip(format!(
            "{what}: no DMA master this image can drive sits behind it{platform}"
        ));
    }
    PlanState::Run
}

/// Runs IOMMU `p` as subtest `number`: its family's run, or the SKIP /
/// failure the plan decided.
pub fn run(
    k: &mut KtapWriter<Stdout>,
    number: usize,
    p: &Planned,
    pool: &DmaPool,
    args: &Bootargs<'_>,
    on_qemu: bool,
) -> Totals {
    match &p.state {
        PlanState::Skip(why) => return report_setup_skip(k, number, &p.name, why),
        PlanState::Fail(why) => return report_setup_failure(k, number, &p.name, why),
        PlanState::Run => {}
    }
    let Some(Ok(run_family)) = family(p.kind).map(|f| f.driver) else {
        // `plan` only lets a node with a driver run.
        return report_setup_failure(k, number, &p.name, "no family driver for this node");
    };
    let stream_ids: Vec<u32> = p
        .masters
        .iter()
        .take(MAX_MASTERS)
        .filter_map(|m| m.stream_on(p.index).map(|s| s.id))
        .collect();
    let max_stream_id = stream_ids.iter().copied().max().unwrap_or(0);
    let target = FamilyTarget {
        probe: ProbeTarget {
            name: &p.name,
            compatible: &p.compatible,
            reg: p.reg,
            dma_coherent: p.dma_coherent,
            page0_regs_only: p.page0_regs_only,
            function: p.function.as_ref(),
            max_stream_id,
            stream_ids: &stream_ids,
        },
        index: p.index,
        masters: p.masters.iter().take(MAX_MASTERS).collect(),
    };
    let mut env = BootEnv {
        granule: granule(args.granule),
        evtq_log2: args.evtq_log2,
        skip_sync: args.inject.skip_sync,
        on_qemu,
        planned: p,
    };
    let mut out = Stdout;
    let mut kw = KtapWriter::new(&mut out as &mut dyn Write);
    // A bus fault on the IOMMU's or a master's registers (wrong `reg`, an
    // unclocked block) fails this IOMMU by name; the run goes on.
    match mmio::capture(|| run_family(&mut env, pool, &mut kw, number, &target)) {
        (Ok(t), None) => t,
        (Err(e), None) => report_setup_failure(k, number, &p.name, &e),
        (Err(e), Some(f)) => report_setup_failure(
            k,
            number,
            &p.name,
            &format!("{}; then: {e}", bus_fault_message(p, &f)),
        ),
        (Ok(t), Some(f)) => {
            // The group's results are out: say what the failing cases met.
            let _ = k.diag(&format!("during the cases: {}", bus_fault_message(p, &f)));
            t
        }
    }
}

/// One line naming the node, the register offset in its `reg` and the
/// address of a survived MMIO bus fault.
fn bus_fault_message(p: &Planned, f: &mmio::BusFault) -> String {
    let at = match p.reg {
        Some(r) if f.addr >= r.base.0 && f.addr - r.base.0 < r.size => {
            format!("register offset {:#x} of its reg {r}", f.addr - r.base.0)
        }
        Some(r) => format!("outside its reg {r} (a master's or PCI function's registers)"),
        None => String::from("(the node has no reg)"),
    };
    format!("{}: bus fault at {at}, address {:#x}: {f}", p.name, f.addr)
}

fn granule(g: GranuleArg) -> Granule {
    match g {
        GranuleArg::K4 => Granule::K4,
        GranuleArg::K16 => Granule::K16,
        GranuleArg::K64 => Granule::K64,
    }
}

fn dma_barrier() {
    cache::dma_write_barrier();
}

/// The platform services a family run uses, on target.
struct BootEnv<'a> {
    granule: Granule,
    /// `iommu_bringup.evtq`.
    evtq_log2: Option<u8>,
    skip_sync: bool,
    on_qemu: bool,
    /// The IOMMU being run (named in bus-fault messages).
    planned: &'a Planned,
}

impl ProbeEnv for BootEnv<'_> {
    fn map_device(&mut self, what: &str, reg: PhysRange) -> Result<VolatileMmio, String> {
        device_block(reg).map_err(|e| format!("mapping {what} at {reg}: {e}"))
    }

    fn open_virtio(&mut self, f: &Function) -> Result<(Layout, VolatileMmio), String> {
        pci_probe::open_virtio(f)
    }

    fn clock(&self) -> &'static dyn Clock {
        &TIMER
    }

    fn cache(&self) -> &'static dyn CacheMaintenance {
        &CPU_CACHES
    }

    fn dma_barrier(&self) -> fn() {
        dma_barrier
    }

    fn on_qemu(&self) -> bool {
        self.on_qemu
    }

    fn event_queue_log2(&self) -> Option<u8> {
        self.evtq_log2
    }

    fn diag(&mut self, line: &str) {
        let _ = KtapWriter::new(Stdout).diag(line);
    }
}

impl FamilyEnv for BootEnv<'_> {
    fn granule(&self) -> Granule {
        self.granule
    }

    fn skip_sync(&self) -> bool {
        self.skip_sync
    }

    /// Opens edu and virtio-blk masters: a virtio-blk's queue sits at its
    /// staging IOVA and its request memory one page above; an edu's
    /// staging buffer (edu can only reach its own buffer by DMA) at its
    /// staging IOVA.
    fn open_masters<'p>(
        &mut self,
        pool: &'p DmaPool,
        iommu: usize,
        masters: &[&MasterSpec],
        staging: &[Iova],
        page: u64,
    ) -> Result<OpenedMasters<'p>, String> {
        let bytes = page.max(4096);
        let mut opened: Vec<Box<dyn DmaMaster + 'p>> = Vec::new();
        let mut fixed = Vec::new();
        for (m, &iova) in masters.iter().zip(staging) {
            let (Some(f), Some(stream)) = (m.pci(), m.stream_on(iommu)) else {
                return Err(format!("{}: not a PCI master this image drives", m.name));
            };
            let sid = stream.id;
            if pci_probe::is_virtio_blk(f) {
                let name = format!("virtio-blk@{}", f.bdf);
                let (layout, mmio) =
                    pci_probe::open_virtio(f).map_err(|e| format!("{name}: {e}"))?;
                let b = VirtioBlkMaster::bring_up(
                    mmio,
                    layout,
                    &TIMER,
                    pool,
                    dma_barrier,
                    Placement {
                        name: name.clone(),
                        stream: StreamId(sid),
                        queue_iova: iova,
                        req_iova: iova + bytes,
                        page,
                    },
                )
                .map_err(|e| format!("{name}: {e}"))?;
                for (phys, iova, size) in b.fixed() {
                    fixed.push(FixedMapping { phys, iova, size });
                }
                self.diag(&format!(
                    "{name}: stream {sid:#x}, queue at IOVA {iova}, request memory at IOVA {}, {} sectors",
                    iova + bytes,
                    b.capacity()
                ));
                opened.push(Box::new(b));
            } else {
                let e = pci_probe::open_edu(f).map_err(|e| format!("edu {}: {e}", f.bdf))?;
                let staging = pool
                    .alloc(bytes)
                    .map_err(|e| format!("staging buffer: {e}"))?;
                fixed.push(FixedMapping {
                    phys: staging.phys(),
                    iova,
                    size: bytes,
                });
                let name = format!("edu@{}", f.bdf);
                self.diag(&format!(
                    "{name}: stream {sid:#x}, staging buffer at IOVA {iova}"
                ));
                opened.push(Box::new(EduMaster::new(
                    e,
                    name,
                    StreamId(sid),
                    staging,
                    iova,
                )));
            }
        }
        Ok(OpenedMasters {
            masters: opened,
            fixed,
        })
    }

    fn probe_env(&mut self) -> &mut dyn ProbeEnv {
        self
    }

    /// Stops before the cases if the bring-up survived a bus fault.
    fn check_bring_up(&mut self) -> Result<(), String> {
        match mmio::take_bus_fault() {
            Some(f) => Err(bus_fault_message(self.planned, &f)),
            None => Ok(()),
        }
    }
}
