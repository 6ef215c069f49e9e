//! The IOMMU self-test at boot: every IOMMU node in the DT becomes one KTAP
//! subtest named after the node.  Its family (`selftest::families`) either
//! runs it — bring-up, masters, the case catalogue — or the node is a SKIP
//! with the reason (no driver in this image yet, disabled, no DMA master
//! this image can drive) or a failure where the tree is wrong.  Nothing in
//! the tree is left as a mere `#` comment.
//!
//! Masters come from PCI (`iommu-map`: edu and virtio-blk functions, which
//! this image drives) and from platform devices (`iommus = <...>`): those
//! whose `compatible` has a line in the platform-master registry
//! (`dma::platform`, e.g. the ZynqMP ZDMA) are opened through that line,
//! the others are reported.  Boot provides the platform services
//! ([`BootEnv`]): device mappings, the timer, cache maintenance, and
//! opening the masters.

use super::pci_probe;
use super::services::{device_block, CPU_CACHES, TIMER};
use crate::arch::aarch64::cache;
use crate::dma::edu_master::EduMaster;
use crate::dma::platform::{Controls, OpenArgs, Opened, PlatformMaster};
use crate::dma::virtio_blk::{Placement, VirtioBlkMaster};
use crate::dma::{DmaMaster, MasterSource, MasterSpec, OpenError};
use crate::iommu::pgtable::Granule;
use crate::iommu::probe::{MapError, OpenVirtioError, ProbeEnv, ProbeTarget};
use crate::iommu::sun50i::probe::turn_on_controls;
use crate::iommu::StreamId;
use crate::mm::cache::CacheMaintenance;
use crate::mm::dma_pool::DmaPool;
use crate::mm::{Iova, PhysRange};
use crate::mmio::{self, VolatileMmio};
use crate::platform::bootargs::{Bootargs, GranuleArg};
use crate::platform::console::active::Stdout;
use crate::platform::pci::Function;
use crate::selftest::families::{family, FamilyEnv, FamilyTarget, OpenedMasters, MAX_MASTERS};
use crate::selftest::iommu_cases::FixedMapping;
use crate::selftest::ktap::KtapWriter;
pub use crate::selftest::plan::{plan_with, PlanState, Planned};
use crate::selftest::runner::{report_setup_failure, report_setup_skip, Totals};
use crate::selftest::setup_error::SetupError;
use crate::time::Clock;
use crate::virtio::Layout;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

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
    let stream_masks: Vec<u32> = p
        .masters
        .iter()
        .take(MAX_MASTERS)
        .filter_map(|m| m.stream_on(p.index).map(|s| s.mask))
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
            stream_masks: &stream_masks,
            controls: &p.controls,
            controls_error: p.controls_error.as_ref(),
            port: p.port_facts(),
        },
        index: p.index,
        masters: p.masters.iter().take(MAX_MASTERS).collect(),
    };
    let mut env = BootEnv {
        granule: granule(args.granule),
        evtq_log2: args.evtq_log2,
        skip_sync: args.inject.skip_sync,
        quick: args.quick_catalogue,
        on_qemu,
        planned: p,
    };
    let mut out = Stdout;
    let mut kw = KtapWriter::new(&mut out as &mut dyn Write);
    // A bus fault on the IOMMU's or a master's registers (wrong `reg`, an
    // unclocked block) fails this IOMMU by name; the run goes on.
    match mmio::capture(|| run_family(&mut env, pool, &mut kw, number, &target)) {
        (Ok(t), None) => t,
        (Err(e), None) => report_setup_failure(k, number, &p.name, &format!("{e}")),
        (Err(e), Some(f)) => report_setup_failure(
            k,
            number,
            &p.name,
            &format!("{}; then: {e}", bus_fault(p, f)),
        ),
        (Ok(t), Some(f)) => {
            // The group's results are out: say what the failing cases met.
            let _ = k.diag(&format!("during the cases: {}", bus_fault(p, f)));
            t
        }
    }
}

/// A survived MMIO bus fault on IOMMU `p`'s run: its `Display` names the
/// node, the register offset in its `reg` and the address.
fn bus_fault(p: &Planned, fault: mmio::BusFault) -> SetupError {
    SetupError::BusFault {
        node: p.name.clone(),
        reg: p.reg,
        fault,
    }
}

/// Maps `reg` as device memory for `what` (named in the error).
fn map_device(what: &str, reg: PhysRange) -> Result<VolatileMmio, MapError> {
    device_block(reg).map_err(|cause| MapError {
        what: String::from(what),
        reg,
        cause,
    })
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
    /// `iommu_bringup.catalogue=quick`.
    quick: bool,
    on_qemu: bool,
    /// The IOMMU being run (named in bus-fault messages).
    planned: &'a Planned,
}

impl ProbeEnv for BootEnv<'_> {
    fn map_device(&mut self, what: &str, reg: PhysRange) -> Result<VolatileMmio, MapError> {
        map_device(what, reg)
    }

    fn open_virtio(&mut self, f: &Function) -> Result<(Layout, VolatileMmio), OpenVirtioError> {
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

impl BootEnv<'_> {
    /// Opens a platform master through its registry line: its clocks and
    /// resets as the line says, its first `reg` mapped, then the line's
    /// opener.
    fn open_platform<'p>(
        &mut self,
        pool: &'p DmaPool,
        m: &MasterSpec,
        line: &PlatformMaster,
        stream: StreamId,
        staging_iova: Iova,
        page: u64,
    ) -> Result<Opened<'p>, OpenError> {
        let MasterSource::Platform {
            compatible,
            reg,
            controls,
            ..
        } = &m.source
        else {
            return Err(OpenError::NotPlatform {
                master: m.name.clone(),
            });
        };
        let reg = reg.ok_or_else(|| OpenError::NoReg {
            master: m.name.clone(),
        })?;
        match (line.controls, controls) {
            (Controls::Firmware(what), _) => {
                self.diag(&format!("{}: clocks/resets: {what}", m.name));
            }
            (Controls::Ccu, Ok(refs)) => {
                let c = turn_on_controls(&m.name, refs, &mut map_device);
                for l in &c.lines {
                    self.diag(l);
                }
            }
            (Controls::Ccu, Err(e)) => self.diag(&format!(
                "{}: clocks/resets not read ({e}): the image leaves them to the loader",
                m.name
            )),
        }
        let mmio = self.map_device(&m.name, reg)?;
        let args = OpenArgs {
            name: &m.name,
            compatible,
            reg,
            stream,
            staging_iova,
            page,
            clock: &TIMER,
            barrier: dma_barrier,
        };
        (line.open)(mmio, pool, &args)
    }
}

impl FamilyEnv for BootEnv<'_> {
    fn granule(&self) -> Granule {
        self.granule
    }

    fn skip_sync(&self) -> bool {
        self.skip_sync
    }

    fn quick_catalogue(&self) -> bool {
        self.quick
    }

    /// Opens edu and virtio-blk masters and the platform masters of the
    /// registry: a virtio-blk's queue sits at its staging IOVA and its
    /// request memory one page above; an edu's staging buffer (edu can only
    /// reach its own buffer by DMA) at its staging IOVA; a platform master
    /// puts whatever its opener asks for there (ZDMA: its staging buffer).
    fn open_masters<'p>(
        &mut self,
        pool: &'p DmaPool,
        iommu: usize,
        masters: &[&MasterSpec],
        staging: &[Iova],
        page: u64,
    ) -> Result<OpenedMasters<'p>, OpenError> {
        let bytes = page.max(4096);
        let mut opened: Vec<Box<dyn DmaMaster + 'p>> = Vec::new();
        let mut fixed = Vec::new();
        for (m, &iova) in masters.iter().zip(staging) {
            if let (Some(line), Some(stream)) = (m.platform_driver(), m.stream_on(iommu)) {
                let o = self.open_platform(pool, m, line, StreamId(stream.id), iova, page)?;
                fixed.extend(o.fixed.iter().map(|f| FixedMapping {
                    phys: f.phys,
                    iova: f.iova,
                    size: f.size,
                }));
                for n in &o.notes {
                    self.diag(n);
                }
                opened.push(o.master);
                continue;
            }
            let (Some(f), Some(stream)) = (m.pci(), m.stream_on(iommu)) else {
                return Err(OpenError::NotDriven {
                    master: m.name.clone(),
                });
            };
            let sid = stream.id;
            if pci_probe::is_virtio_blk(f) {
                let name = format!("virtio-blk@{}", f.bdf);
                let (layout, mmio) =
                    pci_probe::open_virtio(f).map_err(|cause| OpenError::Virtio {
                        master: name.clone(),
                        cause,
                    })?;
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
                .map_err(|cause| OpenError::Blk {
                    master: name.clone(),
                    cause,
                })?;
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
                let e =
                    pci_probe::open_edu(f).map_err(|cause| OpenError::Edu { bdf: f.bdf, cause })?;
                let staging = pool
                    .alloc(bytes)
                    .map_err(|cause| OpenError::EduStaging { bdf: f.bdf, cause })?;
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
    fn check_bring_up(&mut self) -> Result<(), SetupError> {
        match mmio::take_bus_fault() {
            Some(f) => Err(bus_fault(self.planned, f)),
            None => Ok(()),
        }
    }
}
