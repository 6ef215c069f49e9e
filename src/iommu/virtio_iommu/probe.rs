//! The virtio-iommu family's bring-up (`virtio,pci-iommu`): the IOMMU is
//! itself a PCI function, found by the BDF in its node's `reg`; its virtio
//! structures are mapped, the device negotiated and brought up with
//! `config.bypass` cleared, so streams nobody attached are blocked.
#![forbid(unsafe_code)]

use super::{VirtioIommu, VirtioIommuDevice};
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::probe::{FormatError, Probe, ProbeEnv, ProbeError, ProbeTarget, Step};
use crate::mm::dma_pool::DmaPool;
use crate::mmio::VolatileMmio;
use alloc::format;
use alloc::string::String;

/// Input size of the LPAE record the domains keep (the device walks no
/// tables; 40 bits like the SMMUv3 runs, so IOVA layouts match).
pub const RECORD_IAS: u32 = 40;

/// The virtio-iommu family.
pub struct VirtioIommuProbe;

impl Probe for VirtioIommuProbe {
    const INVALIDATION: &'static str = "UNMAP";
    type Format = Lpae;
    type Driver<'p> = VirtioIommu<'p, 'static, VolatileMmio>;

    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, ProbeError> {
        let f = t.function.ok_or_else(|| ProbeError::NoFunction {
            node: String::from(t.name),
        })?;
        let (layout, mmio) = env.open_virtio(f).map_err(|cause| ProbeError::OpenVirtio {
            node: String::from(t.name),
            bdf: f.bdf,
            cause,
        })?;
        let dev = VirtioIommuDevice::bring_up(mmio, layout, env.clock(), pool, env.dma_barrier())
            .map_err(ProbeError::driver(t.name, Step::Function(f.bdf)))?;
        env.diag(&format!(
            "{}: virtio-iommu at {}: {}",
            t.name,
            f.bdf,
            dev.info()
        ));
        Ok(VirtioIommu::new(dev, t.name, false))
    }

    /// The device walks no tables: the LPAE tables are the core's record
    /// only, written as for a coherent walker, with a 48-bit output.  The
    /// granule must be one of the device's page sizes (`page_size_mask`).
    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Lpae, bool), ProbeError> {
        let format_error = |cause| ProbeError::Format {
            node: String::from(crate::iommu::Iommu::name(driver)),
            cause,
        };
        let mask = driver.device().info().page_size_mask;
        let page = granule.size();
        if mask == 0 || !page.is_multiple_of(1u64 << mask.trailing_zeros()) {
            return Err(format_error(FormatError::PageSizeMask { mask, granule }));
        }
        let lpae = Lpae::new(granule, RECORD_IAS, 48, true)
            .map_err(|e| format_error(FormatError::Lpae(e)))?;
        Ok((lpae, true))
    }

    /// The test IOVAs must lie in the device's input range and outside
    /// every endpoint's PROBEd reserved regions (docs/hw/qemu-virt.md §4:
    /// the MSI doorbell page).
    fn check_test_iovas(
        driver: &mut Self::Driver<'_>,
        env: &mut dyn ProbeEnv,
        streams: &[u32],
        ranges: &[(u64, u64)],
    ) -> Result<(), ProbeError> {
        let name = String::from(crate::iommu::Iommu::name(driver));
        let (lo, hi) = driver.device().info().input_range;
        for &(start, size) in ranges {
            if start < lo || start + size - 1 > hi {
                return Err(ProbeError::IovaOutsideInput {
                    node: name,
                    start,
                    size,
                    lo,
                    hi,
                });
            }
        }
        for &sid in streams {
            let regions =
                driver
                    .device_mut()
                    .probe_endpoint(sid)
                    .map_err(|cause| ProbeError::Endpoint {
                        node: name.clone(),
                        sid,
                        cause,
                    })?;
            for r in &regions {
                env.diag(&format!(
                    "{name}: endpoint {sid:#x} reserved {:?} [{:#x}..={:#x}]",
                    r.kind, r.start, r.end
                ));
                if let Some(&(s, n)) = ranges.iter().find(|&&(s, n)| r.overlaps(s, n)) {
                    return Err(ProbeError::IovaReserved {
                        node: name,
                        start: s,
                        size: n,
                        sid,
                        region_start: r.start,
                        region_end: r.end,
                    });
                }
            }
        }
        Ok(())
    }
}
