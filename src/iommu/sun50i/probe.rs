//! The sun50i family's bring-up from a device-tree node
//! (`allwinner,sun50i-h6-iommu`, `allwinner,sun50i-h616-iommu`): map the
//! registers, refuse a block that reads as nothing, run the enable
//! sequence (every master bypassed until attached), and choose the sun50i
//! table format — 4 KiB pages only.
//!
//! The VA debug port is the family's self master (`va_port.rs`) where the
//! manual documents it (H616/H618); on H6 no manual text confirms the
//! port, so an H6 node without another master stays a SKIP.  Clocks and
//! resets (the CCU gates of the IOMMU and its masters) and the PMU are not
//! brought up here yet: the image relies on the loader having left the
//! IOMMU clocked and out of reset (docs/architecture.md, "sun50i").
#![forbid(unsafe_code)]

use super::adapter::Sun50iIommu;
use super::hw::{Sun50iHw, REG_SPAN};
use super::regs::Regs;
use super::va_port::VaPort;
use super::variant;
use crate::dma::DmaMaster;
use crate::iommu::pgtable::sun50i::Sun50i;
use crate::iommu::pgtable::Granule;
use crate::iommu::probe::{Probe, ProbeEnv, ProbeTarget};
use crate::mm::dma_pool::DmaPool;
use crate::mmio::VolatileMmio;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

/// The sun50i family.
pub struct Sun50iProbe;

impl Probe for Sun50iProbe {
    const INVALIDATION: &'static str = "full flush (TLB_FLUSH_ENABLE) after an unmap";
    type Format = Sun50i;
    type Driver<'p> = Sun50iIommu<VolatileMmio>;

    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        _pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, String> {
        let variant = variant::by_compatible(t.compatible).ok_or_else(|| {
            format!(
                "{}: compatible {:?} is not an H6 or H616 IOMMU",
                t.name, t.compatible
            )
        })?;
        let reg = t.reg.ok_or_else(|| format!("{}: no usable reg", t.name))?;
        if reg.size < REG_SPAN {
            return Err(format!(
                "{}: reg {reg} is {:#x} bytes, smaller than the {REG_SPAN:#x}-byte register block",
                t.name, reg.size
            ));
        }
        let mmio = env.map_device(t.name, reg)?;
        let mut hw = Sun50iHw::new(Regs::new(mmio), variant, env.clock());
        let version = hw.identify().map_err(|e| format!("{}: {e}", t.name))?;
        env.diag(&format!(
            "{}: {} IOMMU, VERSION {version:#x}, {} micro-TLB slots",
            t.name, variant.name, variant.masters
        ));
        hw.enable().map_err(|e| format!("{} enable: {e}", t.name))?;
        Ok(Sun50iIommu::new(hw, t.name, false))
    }

    fn table_format(
        _driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Sun50i, bool), String> {
        table_format(granule)
    }

    /// The VA debug port (docs/hw/sun50i.md §11) on variants whose manual
    /// documents it.
    const SELF_MASTER: bool = true;

    fn has_self_master(compatible: &str) -> bool {
        variant::by_compatible(compatible).is_some_and(|v| v.va_port == Some(true))
    }

    /// The VA port over a second mapping of the IOMMU's registers.  H6:
    /// none, with a note — no H6 manual text documents the port (only the
    /// H6 vendor BSP drives it, §1), and no register tells a present port
    /// from reserved space that reads 0 and ignores writes, so it is not
    /// probed for.
    fn self_master<'p>(
        env: &mut dyn ProbeEnv,
        _pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Option<Box<dyn DmaMaster + 'p>>, String> {
        let Some(v) = variant::by_compatible(t.compatible) else {
            return Ok(None);
        };
        if v.va_port != Some(true) {
            env.diag(&format!(
                "{}: the VA debug port (0x190-0x198) is unconfirmed on {}: no manual text documents it there (docs/hw/sun50i.md §1, §11), so it is not used as a master",
                t.name, v.name
            ));
            return Ok(None);
        }
        let reg = t.reg.ok_or_else(|| format!("{}: no usable reg", t.name))?;
        let mmio = env.map_device(t.name, reg)?;
        let name = format!("{} VA port", t.name);
        Ok(Some(Box::new(VaPort::new(mmio, env.clock(), &name))))
    }
}

/// 4 KiB only (docs/hw/sun50i.md §4); the walker does not snoop the CPU
/// caches (Linux cleans every table line), so tables are written for a
/// non-coherent walker.
pub fn table_format(granule: Granule) -> Result<(Sun50i, bool), String> {
    if granule != Granule::K4 {
        return Err(format!(
            "sun50i: the IOMMU has 4 KiB pages only (docs/hw/sun50i.md §4); the {} KiB granule asked for cannot be walked",
            granule.size() >> 10
        ));
    }
    Ok((Sun50i, false))
}
