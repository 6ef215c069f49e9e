//! The virtio-iommu family's bring-up (`virtio,pci-iommu`): the IOMMU is
//! itself a PCI function, found by the BDF in its node's `reg`; its virtio
//! structures are mapped, the device negotiated and brought up with
//! `config.bypass` cleared, so streams nobody attached are blocked.
#![forbid(unsafe_code)]

use super::{VirtioIommu, VirtioIommuDevice};
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::probe::{Probe, ProbeEnv, ProbeTarget};
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
    ) -> Result<Self::Driver<'p>, String> {
        let f = t
            .function
            .ok_or_else(|| format!("{}: no PCI function", t.name))?;
        let what = |e: &dyn core::fmt::Display| format!("{} ({}): {e}", t.name, f.bdf);
        let (layout, mmio) = env.open_virtio(f).map_err(|e| what(&e))?;
        let dev = VirtioIommuDevice::bring_up(mmio, layout, env.clock(), pool, env.dma_barrier())
            .map_err(|e| what(&e))?;
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
    fn table_format(driver: &Self::Driver<'_>, granule: Granule) -> Result<(Lpae, bool), String> {
        let mask = driver.device().info().page_size_mask;
        let page = granule.size();
        if mask == 0 || !page.is_multiple_of(1u64 << mask.trailing_zeros()) {
            return Err(format!(
                "{}: page_size_mask {mask:#x} has no page size dividing the {} KiB granule",
                crate::iommu::Iommu::name(driver),
                page >> 10
            ));
        }
        let lpae = Lpae::new(granule, RECORD_IAS, 48, true)
            .map_err(|e| format!("LPAE configuration: {e:?}"))?;
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
    ) -> Result<(), String> {
        let name = String::from(crate::iommu::Iommu::name(driver));
        let (lo, hi) = driver.device().info().input_range;
        for &(start, size) in ranges {
            if start < lo || start + size - 1 > hi {
                return Err(format!(
                    "{name}: test IOVAs {start:#x}+{size:#x} outside the input range {lo:#x}..={hi:#x}"
                ));
            }
        }
        for &sid in streams {
            let regions = driver
                .device_mut()
                .probe_endpoint(sid)
                .map_err(|e| format!("{name}: PROBE endpoint {sid:#x}: {e}"))?;
            for r in &regions {
                env.diag(&format!(
                    "{name}: endpoint {sid:#x} reserved {:?} [{:#x}..={:#x}]",
                    r.kind, r.start, r.end
                ));
                if let Some(&(s, n)) = ranges.iter().find(|&&(s, n)| r.overlaps(s, n)) {
                    return Err(format!(
                        "{name}: test IOVAs {s:#x}+{n:#x} collide with endpoint {sid:#x}'s reserved region {:#x}..={:#x}",
                        r.start, r.end
                    ));
                }
            }
        }
        Ok(())
    }
}
