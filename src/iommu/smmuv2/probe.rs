//! The SMMUv1/v2 family's bring-up from a device-tree node (`arm,smmu-v1`,
//! `arm,smmu-v2`, `arm,mmu-400`, `arm,mmu-401`, `arm,mmu-500`,
//! `qcom,<soc>-smmu-500`, `qcom,smmu-500`, `qcom,<soc>-smmu-v2`,
//! `qcom,smmu-v2`): the variant from the compatible, the ID registers, the
//! reset and enable sequence (docs/hw/smmuv2.md §4), and the LPAE format
//! for the run's granule in the context format ID2/ID0 offer.
//!
//! Stage-2-only parts (ID0.S1TS = 0: MMU-400/401) are decided from the ID
//! registers, not the compatible, and SKIP ([`Probe::untestable`]): this
//! driver programs stage-1 contexts only.  `qcom,adreno-smmu` nodes are
//! left alone (`variant::ADRENO_REASON`).  The ATOS port is the self
//! master where the variant may have one and ID0 says it does
//! (`atos.rs`).  Nothing here turns clocks on: the IOMMU's clocks,
//! resets and power domains are left to the loader.
#![forbid(unsafe_code)]

use super::adapter::Smmuv2Iommu;
use super::atos::AtosPort;
use super::hw::Smmuv2Hw;
use super::ids::{CbFormat, Ids};
use super::regs::*;
use super::tbu::{self, TbuPort};
use super::variant::{self, Lookup, Version};
use crate::dma::DmaMaster;
use crate::iommu::pgtable::{Granule, Lpae};
use crate::iommu::probe::{FormatError, Probe, ProbeEnv, ProbeError, ProbeTarget, Step};
use crate::iommu::Iommu;
use crate::mm::dma_pool::DmaPool;
use crate::mmio::{Mmio, VolatileMmio};
use crate::platform::dt::tbus::PortFacts;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The input size the catalogue's AArch64 domains use: 40 bits, so domain
/// 0's aperture above 4 GiB fits (as on SMMUv3), capped by ID2.UBS.
pub const TEST_IAS: u32 = 40;

/// The SMMUv1/v2 family.
pub struct Smmuv2Probe;

/// Why an MMU-500 with no master the image drives cannot be tested
/// through its own port (docs/hw/smmuv2.md §9).
pub const MMU500_NO_MASTER: &str =
    "an MMU-500 offers no ATOS port to test it through (ID0.ATOSNS = 1 on every MMU-500 whose ID registers are published; docs/hw/smmuv2.md §9)";

/// Why an SMMUv1 part (MMU-400/401) with no master cannot be tested: its
/// contexts are stage 2 only, which the bring-up would also find in ID0
/// (docs/hw/smmuv2.md §1).
pub const V1_NO_MASTER: &str =
    "an SMMUv1 part (MMU-400/401) translates stage 2 only and has no stage-1 ATOS; even with a master the driver, which programs stage-1 contexts, would SKIP it on ID0.S1TS = 0 (docs/hw/smmuv2.md §1)";

/// Why a stage-2-only SMMU is not tested (docs/hw/smmuv2.md §1).
pub fn stage2_only_reason(id0: u32) -> String {
    format!(
        "ID0 {id0:#010x} has S1TS = 0: every context bank translates stage 2 only (MMU-400/401); this driver programs stage-1 contexts only, and a stage-2 context with its own descriptors, VTCR and TLBIIPAS2/TLBIVMID maintenance is not implemented"
    )
}

/// The bring-up's KTAP line: what the ID registers say.
pub fn id_line(node: &str, v: &super::variant::Variant, ids: &super::ids::Ids) -> String {
    format!(
        "{node}: {} r{}p{}, ID0 {:#010x} ID1 {:#010x} ID2 {:#010x}: {} stream mapping groups, {} context banks ({} stage-2 only), {} KiB register pages, stage 1 {}, ATOS {}, IAS/OAS/UBS {}/{}/{} bits",
        v.name,
        ids.major,
        ids.minor,
        ids.id0,
        ids.id1,
        ids.id2,
        ids.groups,
        ids.numcb,
        ids.nums2cb,
        ids.layout.page() >> 10,
        if ids.s1 { "yes" } else { "no" },
        if ids.atos { "yes" } else { "no" },
        ids.ias_bits,
        ids.oas_bits,
        ids.ubs_bits
    )
}

/// Why `driver`'s SMMU cannot be tested ([`Probe::untestable`]): its
/// contexts are stage 2 only.
pub fn untestable<M: Mmio>(driver: &Smmuv2Iommu<M>) -> Option<String> {
    let ids = driver.hw().ids();
    (!ids.s1).then(|| format!("{}: {}", Iommu::name(driver), stage2_only_reason(ids.id0)))
}

/// The LPAE format for `granule` that an SMMU with `ids` walks: AArch64
/// with a [`TEST_IAS`]-bit input (capped by UBS) where ID2 offers the
/// granule, else AArch32 long descriptor (32-bit input, 4 KiB); output
/// bits capped by ID2.IAS and the format.
pub fn format_for(
    ids: &super::ids::Ids,
    granule: Granule,
    coherent: bool,
) -> Result<Lpae, FormatError> {
    let (ias, oas) = match ids.format_for(granule) {
        Some(CbFormat::AArch64) => (TEST_IAS.min(ids.ubs_bits), ids.ias_bits.min(48)),
        Some(CbFormat::AArch32Lpae) => (32, ids.ias_bits.min(40)),
        None => {
            return Err(FormatError::NoContextFormat {
                granule,
                id0: ids.id0,
                id2: ids.id2,
            })
        }
    };
    Ok(Lpae::new(granule, ias, oas, coherent)?)
}

impl Probe for Smmuv2Probe {
    const INVALIDATION: &'static str = "TLBIVA/TLBIVAL or TLBIASID and TLBSYNC after an unmap";
    type Format = Lpae;
    type Driver<'p> = Smmuv2Iommu<VolatileMmio>;

    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        _pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, ProbeError> {
        let v = match variant::by_compatible(t.compatible) {
            Lookup::Driven(v) => v,
            Lookup::LeftAlone(why) => {
                return Err(ProbeError::LeftAlone {
                    node: String::from(t.name),
                    why,
                })
            }
            Lookup::Unknown => {
                return Err(ProbeError::UnknownCompatible {
                    node: String::from(t.name),
                    compatible: String::from(t.compatible),
                    expected: "an SMMUv1/v2",
                })
            }
        };
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        let mmio = env.map_device(t.name, reg)?;
        let mut hw = Smmuv2Hw::probe(Regs::new(mmio), v, env.clock())
            .map_err(ProbeError::driver(t.name, Step::Identify))?;
        hw.check_reg_size(reg.size)
            .map_err(ProbeError::driver(t.name, Step::RegSize))?;
        hw.set_barrier(env.dma_barrier());
        let ids = *hw.ids();
        env.diag(&id_line(t.name, &v, &ids));
        if !ids.s1 {
            // Touch nothing: `untestable` reports the SKIP.
            let mut drv = Smmuv2Iommu::new(hw, t.name, false, false);
            drv.set_coherent(t.dma_coherent);
            return Ok(drv);
        }
        let notes = hw
            .reset()
            .map_err(ProbeError::driver(t.name, Step::Reset))?;
        for n in &notes {
            env.diag(&format!("{}: {n}", t.name));
        }
        // Boot maps the DMA pool Normal non-cacheable on every platform
        // (docs/architecture.md "Memory"), so walks are NC/OSH even on a
        // coherent SMMU (docs/hw/smmuv2.md §5.3).
        let mut drv = Smmuv2Iommu::new(hw, t.name, false, false);
        let masks: Vec<(u32, u32)> = t
            .stream_ids
            .iter()
            .zip(t.stream_masks.iter())
            .map(|(&s, &m)| (s, m))
            .collect();
        drv.set_stream_masks(&masks);
        drv.set_coherent(t.dma_coherent);
        Ok(drv)
    }

    fn untestable(driver: &Self::Driver<'_>) -> Option<String> {
        untestable(driver)
    }

    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Lpae, bool), ProbeError> {
        // The walker's coherency is the device tree's (`dma-coherent`), as
        // Linux takes it; the tables are cleaned for a non-coherent one.
        let coherent = driver.coherent();
        let lpae = format_for(driver.hw().ids(), granule, coherent).map_err(|cause| {
            ProbeError::Format {
                node: String::from(Iommu::name(driver)),
                cause,
            }
        })?;
        Ok((lpae, coherent))
    }

    fn no_master_reason(compatible: &str) -> Option<&'static str> {
        match variant::by_compatible(compatible) {
            Lookup::Driven(v) if v.version == Version::V1 => Some(V1_NO_MASTER),
            Lookup::Driven(v) if v.mmu500() => Some(MMU500_NO_MASTER),
            _ => None,
        }
    }

    fn left_alone(compatible: &str) -> Option<&'static str> {
        match variant::by_compatible(compatible) {
            Lookup::LeftAlone(why) => Some(why),
            _ => None,
        }
    }

    /// ATOS, where the variant may have it (generic and Qualcomm SMMUv2;
    /// not MMU-500, whose ID0 reports ATOSNS = 1, nor the stage-2-only
    /// SMMUv1 parts) and ID0 says it does.
    const SELF_MASTER: bool = true;

    const SELF_MASTER_NAME: &'static str =
        "ATOS (ATS1PR/ATS1PW and PAR of the context bank its stream maps to)";

    fn has_self_master(compatible: &str) -> bool {
        variant::may_have_atos(compatible)
    }

    /// On a Qualcomm MMU-500 whose tree has `qcom,<soc>-tbu` nodes: the
    /// TBU debug translation (ECATS) port `tbu::choose` picks
    /// (docs/hw/smmuv2.md §11.7).
    fn described_port(facts: &PortFacts<'_>) -> Option<Result<String, String>> {
        let Lookup::Driven(v) = variant::by_compatible(facts.compatible) else {
            return None;
        };
        if !(v.qcom && v.mmu500()) || facts.tbus.is_empty() {
            return None;
        }
        Some(
            tbu::choose(facts)
                .map(|c| c.describe())
                .map_err(|e| format!("{e}")),
        )
    }

    fn self_master<'p>(
        env: &mut dyn ProbeEnv,
        pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Option<Box<dyn DmaMaster + 'p>>, ProbeError> {
        let Lookup::Driven(v) = variant::by_compatible(t.compatible) else {
            return Ok(None);
        };
        if !variant::may_have_atos(t.compatible) {
            return tbu_port(env, pool, t, v.version);
        }
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        let mmio = env.map_device(t.name, reg)?;
        let name = format!("{} ATOS", t.name);
        match AtosPort::new(mmio, v.version, env.clock(), pool, &name) {
            Ok(port) => Ok(Some(Box::new(port))),
            Err(id0) => {
                env.diag(&format!(
                    "{}: ID0 {id0:#010x} reports no address translation operations (ATOSNS = 1) or no stage 1: no ATOS port to use as a master",
                    t.name
                ));
                Ok(None)
            }
        }
    }
}

/// The TBU debug translation port of a Qualcomm MMU-500 whose tree
/// describes its TBUs ([`Probe::described_port`]), or `None` with a note
/// saying why not.
fn tbu_port<'p>(
    env: &mut dyn ProbeEnv,
    pool: &'p DmaPool,
    t: &ProbeTarget<'_>,
    version: Version,
) -> Result<Option<Box<dyn DmaMaster + 'p>>, ProbeError> {
    let choice = match Smmuv2Probe::described_port(&t.port) {
        None => return Ok(None),
        Some(Err(why)) => {
            env.diag(&format!("{}: {why}", t.name));
            return Ok(None);
        }
        Some(Ok(_)) => match tbu::choose(&t.port) {
            Ok(c) => c,
            Err(cause) => {
                return Err(ProbeError::NoTbu {
                    node: String::from(t.name),
                    cause,
                })
            }
        },
    };
    let tbu_reg = choice.tbu.reg.map_err(|cause| ProbeError::TbuReg {
        node: String::from(t.name),
        tbu: choice.tbu.name.clone(),
        cause: Box::new(cause),
    })?;
    let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
    let mut regs = Regs::new(env.map_device(t.name, reg)?);
    let ids = Ids::decode(
        regs.get(ID0_REG),
        regs.get(ID1_REG),
        regs.get(ID2_REG),
        regs.get(ID7_REG),
        version,
    );
    regs.set_layout(ids.layout);
    let tbu_mmio = env.map_device(&choice.tbu.name, tbu_reg)?;
    env.diag(&format!("{}: self master: {}", t.name, choice.describe()));
    // A TBU that is not powered may never answer a read, which no
    // timeout bounds: leave the lab a breadcrumb before the first access.
    env.diag(&format!(
        "{}: the first access to {} registers at {:#x} comes with the first transfer through it (the preflight); a run that stops silently from here on most likely stopped on that access (TBU unpowered or unclocked: iommu_bringup.qcom-tbu=none avoids it)",
        t.name, choice.tbu.name, tbu_reg.base.0
    ));
    let name = format!("{} {} ECATS", t.name, choice.tbu.name);
    Ok(Some(Box::new(TbuPort::new(
        regs,
        ids,
        tbu_mmio,
        choice.sid,
        env.clock(),
        pool,
        &name,
    ))))
}
