//! The IOMMU self-test at boot: find every IOMMU in the DT that we drive and
//! the DMA masters behind it, bring it up, and run the case catalogue on it
//! as one KTAP subtest named after the IOMMU node.
//!
//! Today that is SMMUv3 with edu masters on PCIe (QEMU `virt`); other IOMMU
//! kinds are listed with the reason they are not tested.

use super::pci_probe::{self, PciHost};
use crate::arch::aarch64::{cache, device, timer};
use crate::dma::edu_master::EduMaster;
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::smmuv3::adapter::{Smmuv3Iommu, QEMU_VIRT_CACHING};
use crate::iommu::smmuv3::coherency::CacheOps;
use crate::iommu::smmuv3::driver::{Smmuv3, Smmuv3Config};
use crate::iommu::smmuv3::regs::Regs;
use crate::iommu::{Caching, DmaMaster, Domain, StreamId};
use crate::mm::dma_pool::DmaPool;
use crate::mm::table_memory::PoolTables;
use crate::mm::{Iova, PhysRange};
use crate::platform::bootargs::{Bootargs, GranuleArg};
use crate::platform::console::active::Stdout;
use crate::platform::dt::iommus::{find_iommus, for_each_pci_iommu_map, IommuKind};
use crate::platform::dt::Fdt;
use crate::platform::pci::Function;
use crate::selftest::iommu_cases::{self, FixedMapping, IommuTest};
use crate::selftest::ktap::KtapWriter;
use crate::selftest::runner::{report_setup_failure, run_group, Totals};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Input address size of the test domains: T0SZ 24, within what every
/// granule and QEMU accept (CD.T0SZ 16..39, hw/qemu-virt.md §7).
const IAS: u32 = 40;
/// First IOVA of domain `i`'s aperture is `(i + 1) * APERTURE`.
const APERTURE: u64 = 0x1000_0000;
/// Staging IOVA of master `i` is `STAGING_IOVA + i * STAGING_STRIDE`: below
/// every aperture, clear of the virt GICv2m MSI page (0x0802_0000).
const STAGING_IOVA: u64 = 0x0800_0000;
const STAGING_STRIDE: u64 = 0x10_0000;
/// Masters used per IOMMU (isolation and asid_invalidate need two).
const MAX_MASTERS: usize = 2;

/// One IOMMU instance the suite will test.
pub struct Planned {
    /// KTAP subtest name: the DT node name.
    pub name: String,
    kind: IommuKind,
    reg: Option<PhysRange>,
    dma_coherent: bool,
    /// (PCI function, stream ID) of each master behind it.
    masters: Vec<(Function, u32)>,
}

/// The IOMMUs to test, and notes on the ones that will not be.
pub fn plan(blob: &[u8], pci: &Result<Vec<PciHost>, String>) -> (Vec<Planned>, Vec<String>) {
    let mut notes = Vec::new();
    let fdt = match Fdt::parse(blob) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), alloc::vec![format!("device tree: {e}")]),
    };
    let list = match find_iommus(&fdt) {
        Ok(l) => l,
        Err(e) => return (Vec::new(), alloc::vec![format!("IOMMU discovery: {e}")]),
    };
    let mut planned: Vec<Planned> = list
        .iter()
        .map(|n| Planned {
            name: String::from(n.name),
            kind: n.kind,
            reg: n.reg,
            dma_coherent: n.dma_coherent,
            masters: Vec::new(),
        })
        .collect();
    // PCI masters: each edu behind a host bridge whose iommu-map routes its
    // requester ID to one of the IOMMUs.
    if let Ok(hosts) = pci {
        let _ = for_each_pci_iommu_map(&fdt, &list, |loc, map| {
            let path = loc.path_name();
            for h in hosts.iter().filter(|h| h.bridge.path == path.as_str()) {
                let Ok(funcs) = &h.functions else { continue };
                for f in funcs.iter().filter(|f| pci_probe::is_edu(f)) {
                    if let Some((idx, sid)) = map.map_rid(u32::from(f.bdf.rid())) {
                        if let Some(p) = planned.get_mut(idx) {
                            p.masters.push((f.clone(), sid));
                        }
                    }
                }
            }
            Ok(true)
        });
    }
    let mut out = Vec::new();
    for (p, n) in planned.into_iter().zip(list.iter()) {
        if !n.enabled {
            notes.push(format!(
                "{} ({}) is disabled in the DT: not tested",
                p.name, n.compatible
            ));
        } else if p.kind != IommuKind::SmmuV3 {
            notes.push(format!(
                "{} ({}, {:?}): no driver in this image yet, not tested",
                p.name, n.compatible, p.kind
            ));
        } else if p.masters.is_empty() {
            notes.push(format!(
                "{} ({}): no DMA master we can drive behind it, not tested",
                p.name, n.compatible
            ));
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
    let reg = p.reg.ok_or_else(|| format!("{}: no usable reg", p.name))?;
    let mmio =
        device::device_block(reg).map_err(|e| format!("mapping {} at {reg}: {e}", p.name))?;
    let masters_used: Vec<&(Function, u32)> = p.masters.iter().take(MAX_MASTERS).collect();
    let max_sid = masters_used.iter().map(|m| m.1).max().unwrap_or(0);
    let config = Smmuv3Config {
        max_stream_id: max_sid.max(0xff),
        dt_dma_coherent: p.dma_coherent,
        cache_ops: CacheOps {
            clean: cache::clean_range,
            invalidate: cache::invalidate_range,
            barrier: dma_barrier,
        },
        ..Smmuv3Config::default()
    };
    let mut smmu = Smmuv3::probe(Regs::new(mmio), &timer::TIMER, pool, config)
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
        Caching {
            tlb: None,
            config: None,
            walk: None,
        }
    };
    let skip = args.inject.skip_sync;
    if skip {
        let _ = k.diag("iommu_bringup.inject=skip-sync: the driver drops every invalidation (negative control)");
    }
    let mut iommu = Smmuv3Iommu::new(smmu, &p.name, skip, caching);

    let oas = u32::from(features.oas_bits).min(48);
    let lpae = Lpae::new(granule(g), IAS, oas, coherent)
        .map_err(|e| format!("LPAE configuration: {e:?}"))?;
    let mut domains = Vec::new();
    for i in 0..MAX_MASTERS {
        let tables = PoolTables::new(pool, coherent, cache::clean_range);
        let d = Domain::new(
            lpae,
            tables,
            iommu_cases::asid(i),
            Iova(APERTURE * (i as u64 + 1)),
            APERTURE,
        )
        .map_err(|e| format!("domain {i}: {e}"))?;
        domains.push(d);
    }

    let page = g.bytes();
    let mut edus = Vec::new();
    let mut fixed = Vec::new();
    for (i, (f, sid)) in masters_used.iter().enumerate() {
        let e = pci_probe::open_edu(f).map_err(|e| format!("edu {}: {e}", f.bdf))?;
        let staging = pool
            .alloc(page.max(4096))
            .map_err(|e| format!("staging buffer: {e}"))?;
        let iova = Iova(STAGING_IOVA + i as u64 * STAGING_STRIDE);
        fixed.push(FixedMapping {
            phys: staging.phys(),
            iova,
            size: page.max(4096),
        });
        let name = format!("edu@{}", f.bdf);
        let _ = k.diag(&format!(
            "{name}: stream {sid:#x}, staging buffer at IOVA {iova}"
        ));
        edus.push(EduMaster::new(e, name, StreamId(*sid), staging, iova));
    }
    let masters: Vec<&mut dyn DmaMaster> =
        edus.iter_mut().map(|m| m as &mut dyn DmaMaster).collect();
    let mut t = IommuTest::setup(&mut iommu, masters, domains, &fixed, pool, page)?;
    let group = iommu_cases::group(p.name.clone());
    Ok(run_group(k, number, &group, &mut t))
}
