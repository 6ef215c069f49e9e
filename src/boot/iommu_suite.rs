//! The IOMMU self-test at boot: find every IOMMU in the DT that we drive and
//! the DMA masters behind it, bring it up, and run the case catalogue on it
//! as one KTAP subtest named after the IOMMU node.
//!
//! Today that is SMMUv3 (MMIO) and virtio-iommu (a PCI function found
//! through the `virtio,pci-iommu` node), with edu masters on PCIe (QEMU
//! `virt`); other IOMMU kinds are listed with the reason they are not
//! tested.

use super::pci_probe::{self, PciHost};
use super::services::{device_block, CPU_CACHES, TIMER};
use crate::arch::aarch64::cache;
use crate::dma::edu_master::EduMaster;
use crate::dma::virtio_blk::{Placement, VirtioBlkMaster};
use crate::iommu::pgtable::{Granule, Lpae, PoolTables};
use crate::iommu::smmuv3::adapter::{Smmuv3Iommu, QEMU_VIRT_CACHING, SILICON_CACHING};
use crate::iommu::smmuv3::coherency::CacheOps;
use crate::iommu::smmuv3::driver::{Smmuv3, Smmuv3Config};
use crate::iommu::smmuv3::regs::Regs;
use crate::iommu::virtio_iommu::{VirtioIommu, VirtioIommuDevice};
use crate::iommu::{Contexts, DmaMaster, Domain, Observe, StreamId};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{Iova, PhysRange};
use crate::platform::bootargs::{Bootargs, GranuleArg};
use crate::platform::console::active::Stdout;
use crate::platform::dt::iommus::{find_iommus, for_each_pci_iommu_map, IommuKind};
use crate::platform::dt::Fdt;
use crate::platform::pci::Function;
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::runner::{report_setup_failure, report_setup_skip, run_group, Totals};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Input address size of the test domains: T0SZ 24, within what every
/// granule and QEMU accept (CD.T0SZ 16..39, docs/hw/qemu-virt.md §7).
const IAS: u32 = 40;
// Domain `i`'s aperture: `iommu_cases::aperture(i)`, `APERTURE_SIZE` bytes
// (domain 0 above 4 GiB, domain 1 below; the host tests use the same).
use iommu_cases::{aperture, APERTURE_SIZE};
/// Staging IOVA of master `i` is `STAGING_IOVA + i * STAGING_STRIDE`: below
/// every aperture, clear of the virt GICv2m MSI page (0x0802_0000).
const STAGING_IOVA: u64 = 0x0800_0000;
const STAGING_STRIDE: u64 = 0x10_0000;
/// Bytes of an SMMUv3 register frame: Page 0 + Page 1.
const SMMUV3_FRAME: u64 = 0x2_0000;
/// Masters used per IOMMU (isolation and asid_invalidate need two).
const MAX_MASTERS: usize = 2;

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
    kind: IommuKind,
    reg: Option<PhysRange>,
    dma_coherent: bool,
    /// virtio-iommu: its own PCI function (found by the BDF in its `reg`).
    function: Option<Function>,
    /// (PCI function, stream ID) of each master behind it.
    masters: Vec<(Function, u32)>,
}

/// The IOMMUs to test, and notes on the ones that will not be.
pub fn plan(blob: &[u8], pci: &Result<Vec<PciHost>, String>) -> (Vec<Planned>, Vec<String>) {
    let mut notes = Vec::new();
    let broken = |why: String| Planned {
        name: String::from("iommu_discovery"),
        state: PlanState::Fail(why),
        kind: IommuKind::Unknown,
        reg: None,
        dma_coherent: false,
        function: None,
        masters: Vec::new(),
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
        .map(|n| Planned {
            name: String::from(n.name),
            state: PlanState::Run,
            kind: n.kind,
            reg: n.reg,
            dma_coherent: n.dma_coherent,
            function: None,
            masters: Vec::new(),
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
    // PCI masters: each edu behind a host bridge whose iommu-map routes its
    // requester ID to one of the IOMMUs.  The requester ID is the one the
    // IOMMU sees (`dma_rid`: behind a PCIe-to-PCI bridge every device shares
    // the bridge's), so masters sharing a stream are one group: only the
    // first is used, or the cases' "two masters" would be one stream.
    let mut map_error = None;
    let mut shared = Vec::new();
    if let Ok(hosts) = pci {
        let walked = for_each_pci_iommu_map(&fdt, &list, |loc, map| {
            let path = loc.path_name();
            for h in hosts.iter().filter(|h| h.bridge.path == path.as_str()) {
                let Ok(funcs) = &h.functions else { continue };
                let masters = funcs
                    .iter()
                    .filter(|f| pci_probe::is_edu(f) || pci_probe::is_virtio_blk(f));
                for f in masters {
                    if let Some((idx, sid)) = map.map_rid(u32::from(f.dma_rid)) {
                        if let Some(p) = planned.get_mut(idx) {
                            match p.masters.iter().find(|(_, s)| *s == sid) {
                                Some((first, _)) => shared.push(format!(
                                    "{}: {} issues DMA as requester {:#06x}, stream {sid:#x}, like {}: not used as a second master",
                                    p.name, f.bdf, f.dma_rid, first.bdf
                                )),
                                None => p.masters.push((f.clone(), sid)),
                            }
                        }
                    }
                }
            }
            Ok(true)
        });
        map_error = walked.err().map(|e| format!("PCI iommu-map: {e}"));
    }
    notes.extend(shared);
    // virtio-blk masters first when present: fast, and they move data in
    // both directions through the IOMMU themselves (stable: BDF order kept).
    for p in planned.iter_mut() {
        p.masters.sort_by_key(|(f, _)| !pci_probe::is_virtio_blk(f));
    }
    let mut out = Vec::new();
    for (p, n) in planned.into_iter().zip(list.iter()) {
        if let Some(e) = &n.cells_mismatch {
            // The binding's cell count is wrong: every reference to this
            // IOMMU is read with the wrong shape, so fail it by name.
            out.push(Planned {
                state: PlanState::Fail(format!("{e}")),
                ..p
            });
        } else if !n.enabled {
            notes.push(format!(
                "{} ({}) is disabled in the DT: not tested",
                p.name, n.compatible
            ));
        } else if p.kind != IommuKind::SmmuV3 && p.kind != IommuKind::VirtioIommu {
            notes.push(format!(
                "{} ({}, {:?}): no driver in this image yet, not tested",
                p.name, n.compatible, p.kind
            ));
        } else if p.kind == IommuKind::VirtioIommu && p.function.is_none() {
            let why = format!(
                "{} ({}): no PCI function at its BDF {:?}",
                p.name, n.compatible, n.pci_bdf
            );
            out.push(Planned {
                state: PlanState::Fail(why),
                ..p
            });
        } else if let Some(e) = &map_error {
            out.push(Planned {
                state: PlanState::Fail(e.clone()),
                ..p
            });
        } else if let Err(e) = pci {
            let why = format!("PCIe discovery failed, so no DMA master could be found: {e}");
            out.push(Planned {
                state: PlanState::Fail(why),
                ..p
            });
        } else if p.masters.is_empty() {
            let why = format!(
                "{} ({}): no DMA master this image can drive sits behind it",
                p.name, n.compatible
            );
            out.push(Planned {
                state: PlanState::Skip(why),
                ..p
            });
        } else {
            out.push(p);
        }
    }
    (out, notes)
}

/// Runs the catalogue on `p` as subtest `number`.
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
    match run_inner(k, number, p, pool, args, on_qemu) {
        Ok(t) => t,
        Err(e) => report_setup_failure(k, number, &p.name, &e),
    }
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

fn run_inner(
    k: &mut KtapWriter<Stdout>,
    number: usize,
    p: &Planned,
    pool: &DmaPool,
    args: &Bootargs<'_>,
    on_qemu: bool,
) -> Result<Totals, String> {
    match p.kind {
        IommuKind::VirtioIommu => run_virtio(k, number, p, pool, args),
        _ => run_smmuv3(k, number, p, pool, args, on_qemu),
    }
}

fn run_smmuv3(
    k: &mut KtapWriter<Stdout>,
    number: usize,
    p: &Planned,
    pool: &DmaPool,
    args: &Bootargs<'_>,
    on_qemu: bool,
) -> Result<Totals, String> {
    let reg = p.reg.ok_or_else(|| format!("{}: no usable reg", p.name))?;
    // Page 0 and Page 1 (at +64 KiB) of the SMMUv3 register frame
    // (docs/hw/smmuv3.md §1): a smaller `reg` would make the register accessor trip
    // its bounds check, so refuse it here with the node's numbers.
    if p.kind == IommuKind::SmmuV3 && reg.size < SMMUV3_FRAME {
        return Err(format!(
            "{}: reg {reg} is {:#x} bytes, smaller than the {SMMUV3_FRAME:#x}-byte SMMUv3 frame (Page 0 + Page 1)",
            p.name, reg.size
        ));
    }
    let mmio = device_block(reg).map_err(|e| format!("mapping {} at {reg}: {e}", p.name))?;
    let masters_used: Vec<&(Function, u32)> = p.masters.iter().take(MAX_MASTERS).collect();
    let max_sid = masters_used.iter().map(|m| m.1).max().unwrap_or(0);
    let defaults = Smmuv3Config::default();
    let config = Smmuv3Config {
        max_stream_id: max_sid.max(0xff),
        dt_dma_coherent: p.dma_coherent,
        cache_ops: CacheOps {
            cache: &CPU_CACHES,
            barrier: dma_barrier,
        },
        // `iommu_bringup.evtq`: a small queue that wraps during the run.
        evtq_log2: args.evtq_log2.unwrap_or(defaults.evtq_log2),
        ..defaults
    };
    let mut smmu = Smmuv3::probe(Regs::new(mmio), &TIMER, pool, config)
        .map_err(|e| format!("{} probe: {e}", p.name))?;
    let _ = k.diag(&format!("{}: {}", p.name, smmu.features()));
    let stale = smmu
        .reset_and_enable()
        .map_err(|e| format!("{} enable: {e}", p.name))?;
    if stale.0 != 0 {
        let _ = k.diag(&format!(
            "{}: global errors found before enable and acknowledged: {stale}",
            p.name
        ));
    }
    let features = *smmu.features();
    let g = args.granule;
    let supported = match g {
        GranuleArg::K4 => features.gran4k,
        GranuleArg::K16 => features.gran16k,
        GranuleArg::K64 => features.gran64k,
    };
    if !supported {
        return Err(format!(
            "{}: IDR5 does not offer the {} KiB granule asked for",
            p.name,
            g.bytes() >> 10
        ));
    }
    let coherent = smmu.coherent();
    let caching = if on_qemu {
        QEMU_VIRT_CACHING
    } else {
        SILICON_CACHING
    };
    let skip = args.inject.skip_sync;
    if skip {
        let _ = k.diag("iommu_bringup.inject=skip-sync: from the first case on, the driver drops every invalidation (negative control)");
    }
    let mut iommu = Smmuv3Iommu::new(smmu, &p.name, false, caching);
    let oas = u32::from(features.oas_bits).min(48);
    run_catalogue(k, number, p, pool, g, coherent, oas, &mut iommu, skip)
}

/// The fixed IOVA ranges and apertures the catalogue will use, for the
/// reserved-region check (two pages per master: edu's staging buffer, or
/// virtio-blk's queue and request memory).
fn test_iova_ranges(page: u64, masters: usize) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = (0..masters)
        .map(|i| (STAGING_IOVA + i as u64 * STAGING_STRIDE, 2 * page.max(4096)))
        .collect();
    v.extend((0..MAX_MASTERS).map(|i| (aperture(i).0, APERTURE_SIZE)));
    v
}

fn run_virtio(
    k: &mut KtapWriter<Stdout>,
    number: usize,
    p: &Planned,
    pool: &DmaPool,
    args: &Bootargs<'_>,
) -> Result<Totals, String> {
    let f = p
        .function
        .as_ref()
        .ok_or_else(|| format!("{}: no PCI function", p.name))?;
    let what = |e: &dyn core::fmt::Display| format!("{} ({}): {e}", p.name, f.bdf);
    let (layout, mmio) = pci_probe::open_virtio(f).map_err(|e| what(&e))?;
    let dev = VirtioIommuDevice::bring_up(mmio, layout, &TIMER, pool, dma_barrier)
        .map_err(|e| what(&e))?;
    let _ = k.diag(&format!(
        "{}: virtio-iommu at {}: {}",
        p.name,
        f.bdf,
        dev.info()
    ));
    let g = args.granule;
    let page = g.bytes();
    let mask = dev.info().page_size_mask;
    if mask == 0 || !page.is_multiple_of(1u64 << mask.trailing_zeros()) {
        return Err(format!(
            "{}: page_size_mask {mask:#x} has no page size dividing the {} KiB granule",
            p.name,
            page >> 10
        ));
    }
    let skip = args.inject.skip_sync;
    if skip {
        let _ = k.diag(
            "iommu_bringup.inject=skip-sync: from the first case on, the driver drops every UNMAP (negative control)",
        );
    }
    let mut iommu = VirtioIommu::new(dev, &p.name, false);
    // PROBE every master for reserved regions; the catalogue's IOVAs must
    // stay out of them (docs/hw/qemu-virt.md §4: the MSI doorbell page).
    let used = p.masters.len().min(MAX_MASTERS);
    let ranges = test_iova_ranges(page, used);
    let (lo, hi) = iommu.device_mut().info().input_range;
    for &(start, size) in &ranges {
        if start < lo || start + size - 1 > hi {
            return Err(format!(
                "{}: test IOVAs {start:#x}+{size:#x} outside the input range {lo:#x}..={hi:#x}",
                p.name
            ));
        }
    }
    for (_, sid) in p.masters.iter().take(MAX_MASTERS) {
        let regions = iommu
            .device_mut()
            .probe_endpoint(*sid)
            .map_err(|e| what(&e))?;
        for r in &regions {
            let _ = k.diag(&format!(
                "{}: endpoint {sid:#x} reserved {:?} [{:#x}..={:#x}]",
                p.name, r.kind, r.start, r.end
            ));
            if let Some(&(s, n)) = ranges.iter().find(|&&(s, n)| r.overlaps(s, n)) {
                return Err(format!(
                    "{}: test IOVAs {s:#x}+{n:#x} collide with endpoint {sid:#x}'s reserved region {:#x}..={:#x}",
                    p.name, r.start, r.end
                ));
            }
        }
    }
    // The device walks no tables: the LPAE tables are the core's record
    // only, written as for a coherent walker, with a 48-bit output.
    run_catalogue(k, number, p, pool, g, true, 48, &mut iommu, skip)
}

/// Builds the domains and masters and runs the catalogue on `iommu`.
#[allow(clippy::too_many_arguments)]
fn run_catalogue<I: Observe<Format = Lpae>>(
    k: &mut KtapWriter<Stdout>,
    number: usize,
    p: &Planned,
    pool: &DmaPool,
    g: GranuleArg,
    coherent: bool,
    oas: u32,
    iommu: &mut I,
    skip: bool,
) -> Result<Totals, String> {
    let masters_used: Vec<&(Function, u32)> = p.masters.iter().take(MAX_MASTERS).collect();
    let lpae = Lpae::new(granule(g), IAS, oas, coherent)
        .map_err(|e| format!("LPAE configuration: {e:?}"))?;
    // One domain per master, or the one context every stream shares; the
    // driver checks the format against its hardware and tags each domain.
    let contexts = match iommu.capabilities().contexts {
        Contexts::PerStream => MAX_MASTERS,
        Contexts::Shared(_) => 1,
    };
    let mut domains = Vec::new();
    for i in 0..contexts {
        let tables = PoolTables::with_cache(pool, coherent, &CPU_CACHES);
        let d = Domain::new(iommu, lpae, tables, aperture(i), APERTURE_SIZE)
            .map_err(|e| format!("domain {i}: {e}"))?;
        domains.push(d);
    }

    let page = g.bytes();
    let bytes = page.max(4096);
    let mut edus = Vec::new();
    let mut blks = Vec::new();
    let mut fixed = Vec::new();
    for (i, (f, sid)) in masters_used.iter().enumerate() {
        let iova = Iova(STAGING_IOVA + i as u64 * STAGING_STRIDE);
        if pci_probe::is_virtio_blk(f) {
            let name = format!("virtio-blk@{}", f.bdf);
            let (layout, mmio) = pci_probe::open_virtio(f).map_err(|e| format!("{name}: {e}"))?;
            let m = VirtioBlkMaster::bring_up(
                mmio,
                layout,
                &TIMER,
                pool,
                dma_barrier,
                Placement {
                    name: name.clone(),
                    stream: StreamId(*sid),
                    queue_iova: iova,
                    req_iova: iova + bytes,
                    page,
                },
            )
            .map_err(|e| format!("{name}: {e}"))?;
            for (phys, iova, size) in m.fixed() {
                fixed.push(FixedMapping { phys, iova, size });
            }
            let _ = k.diag(&format!(
                "{name}: stream {sid:#x}, queue at IOVA {iova}, request memory at IOVA {}, {} sectors",
                iova + bytes,
                m.capacity()
            ));
            blks.push(m);
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
            let _ = k.diag(&format!(
                "{name}: stream {sid:#x}, staging buffer at IOVA {iova}"
            ));
            edus.push(EduMaster::new(e, name, StreamId(*sid), staging, iova));
        }
    }
    // Same order as `masters_used`: virtio-blk first (see `plan`).
    let masters: Vec<&mut dyn DmaMaster> = blks
        .iter_mut()
        .map(|m| m as &mut dyn DmaMaster)
        .chain(edus.iter_mut().map(|m| m as &mut dyn DmaMaster))
        .collect();
    let mut t = IommuTest::setup(iommu, masters, domains, &fixed, pool, page)?;
    // The negative control starts with the cases, not with the setup.
    t.iommu.set_skip_sync(skip);
    let group = iommu_cases::group(p.name.clone());
    Ok(run_group(k, number, &group, &mut t))
}
