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
use crate::iommu::probe::{FormatError, Probe, ProbeEnv, ProbeError, ProbeTarget, RegBlock, Step};
use crate::iommu::Iommu;
use crate::mm::dma_pool::DmaPool;
use crate::mm::PhysRange;
use crate::mmio::VolatileMmio;
use alloc::format;
use alloc::string::String;

/// Bytes of an SMMUv3 register frame: Page 0 + Page 1 (docs/hw/smmuv3.md
/// §1.1).
pub const SMMUV3_FRAME: u64 = 0x2_0000;

/// Bytes of the register frame of an SMMU whose Page 1 registers sit at
/// their Page 0 offsets (DT `cavium,cn9900-broken-page1-regspace`; Linux
/// `arm_smmu_resource_size`: 64 KiB; docs/hw/smmuv3.md §1).
pub const SMMUV3_PAGE0_FRAME: u64 = 0x1_0000;

/// Refuses a `reg` smaller than the frame the register accessor will reach
/// (it would trip its bounds check), with the node's numbers: 128 KiB, or
/// 64 KiB when Page 1 is reached through Page 0.
pub fn check_frame(name: &str, reg: PhysRange, page0_regs_only: bool) -> Result<(), ProbeError> {
    let need = if page0_regs_only {
        SMMUV3_PAGE0_FRAME
    } else {
        SMMUV3_FRAME
    };
    if reg.size < need {
        return Err(ProbeError::RegTooSmall {
            node: String::from(name),
            reg,
            need,
            block: RegBlock::Smmuv3 {
                page0_only: page0_regs_only,
            },
        });
    }
    Ok(())
}

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
    ) -> Result<Self::Driver<'p>, ProbeError> {
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        check_frame(t.name, reg, t.page0_regs_only)?;
        let mmio = env.map_device(t.name, reg)?;
        let defaults = Smmuv3Config::default();
        let config = Smmuv3Config {
            max_stream_id: t.max_stream_id,
            dt_dma_coherent: t.dma_coherent,
            // Boot maps the DMA pool Normal Non-cacheable on every platform
            // (docs/architecture.md "Memory"), so the SMMU gets NC/OSH
            // attributes even when coherent (docs/hw/smmuv3.md §12.1).
            cpu_cacheable: false,
            page0_regs_only: t.page0_regs_only,
            cache_ops: CacheOps {
                cache: env.cache(),
                barrier: env.dma_barrier(),
            },
            // `iommu_bringup.evtq`: a small queue that wraps during the run.
            evtq_log2: env.event_queue_log2().unwrap_or(defaults.evtq_log2),
            ..defaults
        };
        let mut smmu = Smmuv3::probe(Regs::for_config(mmio, &config), env.clock(), pool, config)
            .map_err(ProbeError::driver(t.name, Step::Probe))?;
        env.diag(&format!("{}: {}", t.name, smmu.features()));
        // The masters' spans get their level-2 stream tables now, while no
        // invalidation is needed; every other span stays on the shared
        // abort table (docs/hw/smmuv3.md §6.4).
        for &sid in t.stream_ids {
            smmu.prepare_stream(sid)
                .map_err(ProbeError::driver(t.name, Step::Stream(sid)))?;
        }
        let stale = smmu
            .reset_and_enable()
            .map_err(ProbeError::driver(t.name, Step::Enable))?;
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

    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Lpae, bool), ProbeError> {
        let node = || String::from(Iommu::name(driver));
        let smmu = driver.smmu();
        let f = smmu.features();
        let supported = match granule {
            Granule::K4 => f.gran4k,
            Granule::K16 => f.gran16k,
            Granule::K64 => f.gran64k,
        };
        if !supported {
            return Err(ProbeError::Format {
                node: node(),
                cause: FormatError::Idr5 { granule },
            });
        }
        let coherent = smmu.coherent();
        let oas = u32::from(f.oas_bits).min(48);
        let lpae = Lpae::new(granule, TEST_IAS, oas, coherent).map_err(|e| ProbeError::Format {
            node: node(),
            cause: FormatError::Lpae(e),
        })?;
        Ok((lpae, coherent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::PhysAddr;

    /// Issue 11 item 7: a 64 KiB `reg` is enough for an SMMU whose Page 1
    /// registers are at Page 0 offsets, not for an architected one.
    #[test]
    fn frame_size_follows_the_page0_option() {
        let r64 = PhysRange::new(PhysAddr(0x0900_0000), 0x1_0000);
        let r128 = PhysRange::new(PhysAddr(0x0900_0000), 0x2_0000);
        let err = check_frame("smmu@9000000", r64, false).unwrap_err();
        assert_eq!(
            err,
            ProbeError::RegTooSmall {
                node: String::from("smmu@9000000"),
                reg: r64,
                need: SMMUV3_FRAME,
                block: RegBlock::Smmuv3 { page0_only: false },
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("0x20000-byte") && text.contains("Page 0 + Page 1"),
            "{text}"
        );
        assert_eq!(check_frame("smmu@9000000", r64, true), Ok(()));
        assert_eq!(check_frame("smmu@9000000", r128, false), Ok(()));
        let small = PhysRange::new(PhysAddr(0x0900_0000), 0x8000);
        let err = check_frame("smmu@9000000", small, true).unwrap_err();
        assert!(
            matches!(err, ProbeError::RegTooSmall { need: SMMUV3_PAGE0_FRAME, reg, .. } if reg == small)
        );
        assert!(err.to_string().contains("0x10000-byte"), "{err}");
    }
}
