//! The SMMUv3 family's bring-up from a device-tree node (`arm,smmu-v3`):
//! map the register frame, read the ID registers, enable with unattached
//! streams aborting (GBPA.ABORT), and choose LPAE tables for the run's
//! granule within IDR5's granules and output size.
#![forbid(unsafe_code)]

use super::adapter::{Smmuv3Iommu, QEMU_VIRT_CACHING, SILICON_CACHING};
use super::coherency::CacheOps;
use super::driver::{Smmuv3, Smmuv3Config};
use super::regs::Regs;
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::probe::{Probe, ProbeEnv, ProbeTarget};
use crate::iommu::Iommu;
use crate::mm::dma_pool::DmaPool;
use crate::mmio::VolatileMmio;
use alloc::format;
use alloc::string::String;

/// Bytes of an SMMUv3 register frame: Page 0 + Page 1 (docs/hw/smmuv3.md
/// §1.1).
pub const SMMUV3_FRAME: u64 = 0x2_0000;

/// Input address size of the test domains: T0SZ 24, within what every
/// granule and QEMU accept (CD.T0SZ 16..39, docs/hw/qemu-virt.md §7).
pub const TEST_IAS: u32 = 40;

/// The SMMUv3 family.
pub struct Smmuv3Probe;

impl Probe for Smmuv3Probe {
    const INVALIDATION: &'static str = "invalidation";
    type Format = Lpae;
    type Driver<'p> = Smmuv3Iommu<'p, VolatileMmio>;

    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, String> {
        let reg = t.reg.ok_or_else(|| format!("{}: no usable reg", t.name))?;
        // A smaller `reg` would make the register accessor trip its bounds
        // check: refuse it here with the node's numbers.
        if reg.size < SMMUV3_FRAME {
            return Err(format!(
                "{}: reg {reg} is {:#x} bytes, smaller than the {SMMUV3_FRAME:#x}-byte SMMUv3 frame (Page 0 + Page 1)",
                t.name, reg.size
            ));
        }
        let mmio = env.map_device(t.name, reg)?;
        let defaults = Smmuv3Config::default();
        let config = Smmuv3Config {
            max_stream_id: t.max_stream_id,
            dt_dma_coherent: t.dma_coherent,
            // Boot maps the DMA pool Normal Non-cacheable on every platform
            // (docs/architecture.md "Memory"), so the SMMU gets NC/OSH
            // attributes even when coherent (docs/hw/smmuv3.md §12.1).
            cpu_cacheable: false,
            cache_ops: CacheOps {
                cache: env.cache(),
                barrier: env.dma_barrier(),
            },
            // `iommu_bringup.evtq`: a small queue that wraps during the run.
            evtq_log2: env.event_queue_log2().unwrap_or(defaults.evtq_log2),
            ..defaults
        };
        let mut smmu = Smmuv3::probe(Regs::new(mmio), env.clock(), pool, config)
            .map_err(|e| format!("{} probe: {e}", t.name))?;
        env.diag(&format!("{}: {}", t.name, smmu.features()));
        // The masters' spans get their level-2 stream tables now, while no
        // invalidation is needed; every other span stays on the shared
        // abort table (docs/hw/smmuv3.md §6.4).
        for &sid in t.stream_ids {
            smmu.prepare_stream(sid)
                .map_err(|e| format!("{} stream {sid:#x}: {e}", t.name))?;
        }
        let stale = smmu
            .reset_and_enable()
            .map_err(|e| format!("{} enable: {e}", t.name))?;
        if stale.0 != 0 {
            env.diag(&format!(
                "{}: global errors found before enable and acknowledged: {stale}",
                t.name
            ));
        }
        let caching = if env.on_qemu() {
            QEMU_VIRT_CACHING
        } else {
            SILICON_CACHING
        };
        Ok(Smmuv3Iommu::new(smmu, t.name, false, caching))
    }

    fn table_format(driver: &Self::Driver<'_>, granule: Granule) -> Result<(Lpae, bool), String> {
        let smmu = driver.smmu();
        let f = smmu.features();
        let supported = match granule {
            Granule::K4 => f.gran4k,
            Granule::K16 => f.gran16k,
            Granule::K64 => f.gran64k,
        };
        if !supported {
            return Err(format!(
                "{}: IDR5 does not offer the {} KiB granule asked for",
                Iommu::name(driver),
                granule.size() >> 10
            ));
        }
        let coherent = smmu.coherent();
        let oas = u32::from(f.oas_bits).min(48);
        let lpae = Lpae::new(granule, TEST_IAS, oas, coherent)
            .map_err(|e| format!("LPAE configuration: {e:?}"))?;
        Ok((lpae, coherent))
    }
}
