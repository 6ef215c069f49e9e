//! PCIe at boot: enumerate every ECAM host bridge the DT describes, map and
//! probe the devices we drive, and describe it all for `pcie_enumeration`.

use super::services::{device_block, TIMER};
use crate::dma::{edu, EduOpenError};
use crate::iommu::probe::OpenVirtioError;
use crate::mm::PhysRange;
use crate::platform::dt::Fdt;
use crate::platform::pci::{self, EnumerationError, HostError};
pub use crate::selftest::plan::{is_edu, is_virtio_blk, PciHost};
use crate::selftest::platform::{FunctionProbeError, PciFunctionFacts, PciHostFacts};
use crate::virtio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Enumerates every ECAM host bridge in the DT.  Device windows are mapped on
/// demand.  `Err` when the DT description itself is broken.
pub fn enumerate_all(blob: &[u8]) -> Result<Vec<PciHost>, HostError> {
    let fdt = Fdt::parse(blob)?;
    let hosts = pci::host::find_hosts(&fdt)?;
    Ok(hosts
        .into_iter()
        .map(|bridge| {
            let functions = device_block(bridge.ecam)
                .map_err(EnumerationError::MapEcam)
                .and_then(|regs| {
                    let ecam = pci::Ecam::new(regs, bridge.buses.0, bridge.buses.1);
                    pci::enumerate(&ecam, &bridge.windows).map_err(EnumerationError::Pci)
                });
            PciHost { bridge, functions }
        })
        .collect())
}

/// Finds the virtio structures of `f` (virtio 1.2 §4.1.4) and maps the one
/// BAR holding them.
pub fn open_virtio(
    f: &pci::Function,
) -> Result<(virtio::Layout, crate::mmio::VolatileMmio), OpenVirtioError> {
    let layout = virtio::parse_layout(&f.caps)?;
    let bar = f
        .bar(layout.common.bar)
        .ok_or(virtio::VirtioError::BarNotAssigned {
            bar: layout.common.bar,
        })?;
    layout.check_one_bar(bar.size)?;
    let regs = device_block(PhysRange::new(bar.cpu_addr, bar.size)).map_err(|cause| {
        OpenVirtioError::MapBar {
            index: bar.index,
            cause,
        }
    })?;
    Ok((layout, regs))
}

/// Maps an edu's BAR0 and checks it answers.
pub fn open_edu(f: &pci::Function) -> Result<edu::Edu<crate::mmio::VolatileMmio>, EduOpenError> {
    let bar = f.bar(0).ok_or(EduOpenError::NoBar0)?;
    let regs =
        device_block(PhysRange::new(bar.cpu_addr, bar.size)).map_err(EduOpenError::MapBar0)?;
    // The runner gives edu a full DMA mask (-device edu,dma_mask=...); the DT
    // cannot say, so the driver assumes it and IOVAs stay below 1 TiB.
    edu::Edu::probe(regs, &TIMER, u64::MAX).map_err(EduOpenError::Edu)
}

/// What `pcie_enumeration` judges.
pub fn facts(hosts: &Result<Vec<PciHost>, HostError>) -> Result<Vec<PciHostFacts>, HostError> {
    let hosts = hosts.as_ref().map_err(|e| *e)?;
    Ok(hosts
        .iter()
        .map(|h| {
            let b = &h.bridge;
            PciHostFacts {
                desc: format!(
                    "{} ECAM {} buses {}..={}",
                    b.path, b.ecam, b.buses.0, b.buses.1
                ),
                functions: h
                    .functions
                    .as_ref()
                    .map(|fs| fs.iter().map(function_facts).collect())
                    .map_err(|e| *e),
            }
        })
        .collect())
}

fn function_facts(f: &pci::Function) -> PciFunctionFacts {
    let mut desc = format!(
        "{} {:04x}:{:04x} class {:06x}",
        f.bdf, f.vendor, f.device, f.class
    );
    if let Some(b) = &f.bridge {
        desc.push_str(&format!(
            " {:?} buses {:02x}..={:02x}",
            b.kind, b.secondary, b.subordinate
        ));
        for (name, w) in [("mem", b.mem), ("pref", b.pref), ("io", b.io)] {
            if let Some((start, end)) = w {
                desc.push_str(&format!(" {name} {start:#x}..{end:#x}"));
            }
        }
    } else if f.is_bridge() {
        desc.push_str(" (bridge, not configured)");
    }
    if f.dma_rid != f.bdf.rid() {
        desc.push_str(&format!(" DMA as requester {:#06x}", f.dma_rid));
    }
    for b in &f.bars {
        desc.push_str(&format!(
            " BAR{} {:?} {:#x}@{}",
            b.index, b.kind, b.size, b.cpu_addr
        ));
    }
    let probe = if is_edu(f) {
        Some(
            open_edu(f)
                .map(|_| String::from("edu: identification and liveness registers respond"))
                .map_err(FunctionProbeError::Edu),
        )
    } else if f.vendor == virtio::pci::VENDOR {
        Some(
            virtio::parse_layout(&f.caps)
                .map_err(FunctionProbeError::Virtio)
                .map(|l| {
                    format!(
                "virtio: common, notify and device structures in BAR{} (notify multiplier {})",
                l.common.bar, l.notify_multiplier
            )
                }),
        )
    } else {
        None
    };
    PciFunctionFacts { desc, probe }
}
