//! The DART family's bring-up from a device-tree node (`apple,t8103-dart`,
//! `apple,t8103-usb4-dart`, `apple,t6000-dart`, `apple,t8110-dart`): map
//! the registers, identify (PARAMS1–4: page size, bypass, streams, widths),
//! read the lock, and — unless the boot loader locked the DART — reset it
//! so every stream is blocked until attached.
//!
//! A locked DART (m1n1 locks the display DART before it boots the OS;
//! docs/hw/dart.md §9) is left exactly as found: no reset, no TCR or TTBR
//! write, and the group is reported as a SKIP naming the lock register and
//! the streams the boot loader left translating ([`DartProbe::untestable`]).
//! Adopting its tables (m1n1, OpenBSD 1.19+, Asahi Linux) is not done: the
//! page-table engine owns the tables it walks.
#![forbid(unsafe_code)]

use super::adapter::DartIommu;
use super::checks;
use super::hw::{DartHw, REG_SPAN};
use super::regs::Regs;
use super::variant::{self, Layout};
use crate::iommu::pgtable::{Dart, Granule};
use crate::iommu::probe::{
    HardwareCheck, Probe, ProbeEnv, ProbeError, ProbeTarget, RegBlock, Step,
};
use crate::mm::dma_pool::DmaPool;
use crate::mmio::{Mmio, VolatileMmio};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The DART family.
pub struct DartProbe;

impl Probe for DartProbe {
    const INVALIDATION: &'static str =
        "whole-stream TLB flush (after an unmap, after a map, at attach and detach)";
    type Format = Dart;
    type Driver<'p> = DartIommu<VolatileMmio>;

    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        _pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, ProbeError> {
        let variant =
            variant::by_compatible(t.compatible).ok_or_else(|| ProbeError::UnknownCompatible {
                node: String::from(t.name),
                compatible: String::from(t.compatible),
                expected: "a DART this driver knows",
            })?;
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        if reg.size < REG_SPAN {
            return Err(ProbeError::RegTooSmall {
                node: String::from(t.name),
                reg,
                need: REG_SPAN,
                block: RegBlock::Dart,
            });
        }
        let mmio = env.map_device(t.name, reg)?;
        let hw = bring_up_hw(Regs::new(mmio), variant, env.clock(), t.name, &mut |l| {
            env.diag(l)
        })?;
        Ok(DartIommu::new(hw, t.name, false))
    }

    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Dart, bool), ProbeError> {
        Ok(table_format(&driver.hw().ident().format, granule))
    }

    fn untestable(driver: &Self::Driver<'_>) -> Option<String> {
        left_as_found(driver.hw(), crate::iommu::Iommu::name(driver))
    }

    const HARDWARE_CHECKS: Option<&'static str> = Some(checks::WHAT);

    /// [`checks::run`], with an empty table from the pool for the stream
    /// read-back (below the DART's output size).
    fn hardware_checks<'p>(
        driver: &mut Self::Driver<'p>,
        pool: &'p DmaPool,
        _env: &mut dyn ProbeEnv,
    ) -> Vec<HardwareCheck> {
        use crate::iommu::pgtable::Codec;
        let name = String::from(crate::iommu::Iommu::name(driver));
        let leave = left_as_found(driver.hw(), &name);
        let limit = 1u64 << driver.hw().ident().format.output_bits();
        let table = pool.alloc_below(16 << 10, limit).ok();
        let root = table
            .as_ref()
            .map(|t| t.bus_addr().0)
            .filter(|b| b % (16 << 10) == 0);
        checks::run(driver.hw_mut(), root, leave.as_deref())
    }
}

/// Identifies the DART, names it in one line, and resets it unless it is
/// locked.  Host-tested over a register fake and the model.
pub fn bring_up_hw<M: Mmio>(
    regs: Regs<M>,
    variant: variant::Variant,
    clock: &'static dyn crate::time::Clock,
    name: &str,
    diag: &mut dyn FnMut(&str),
) -> Result<DartHw<M>, ProbeError> {
    let mut hw =
        DartHw::identify(regs, variant, clock).map_err(ProbeError::driver(name, Step::Identify))?;
    diag(&identity_line(&hw, name));
    if let Some(why) = variant.unconfirmed {
        diag(&format!("{name}: unconfirmed: {why}"));
    }
    if hw.ident().lock.is_some() {
        diag(&format!(
            "{name}: locked: left as found, nothing written (docs/hw/dart.md §9)"
        ));
        return Ok(hw);
    }
    if let Some(why) = in_use_reason(&hw, name) {
        diag(&format!("{why}: left as found, nothing written"));
        return Ok(hw);
    }
    hw.reset().map_err(ProbeError::driver(name, Step::Reset))?;
    Ok(hw)
}

/// Why an unlocked DART is left as found: streams the boot loader left
/// translating through its own tables (a display or coprocessor using
/// them).  `None` when no stream translates.
pub fn in_use_reason<M: Mmio>(hw: &DartHw<M>, name: &str) -> Option<String> {
    let live = hw.streams_in_use();
    if live.is_empty() {
        return None;
    }
    let list: Vec<String> = live
        .iter()
        .map(|(sid, s)| format!("{sid} (TCR {:#x}, TTBR0 {:#x})", s.tcr, s.ttbr0))
        .collect();
    Some(format!(
        "{name} is translating for the boot loader (streams {}): resetting it would cut off the device using those tables, so it is not reset or reprogrammed (OpenBSD rev 1.16 skips such DARTs; docs/hw/dart.md §9)",
        list.join(", ")
    ))
}

/// Why nothing may be written to this DART: locked, or in use.
pub fn left_as_found<M: Mmio>(hw: &DartHw<M>, name: &str) -> Option<String> {
    locked_reason(hw, name).or_else(|| in_use_reason(hw, name))
}

/// `iommu@…: t8103 DART (T8020 layout, DART1 PTEs), 16 streams, 2-level
/// 32-bit IOVA, 36-bit output, bypass supported, PARAMS1 …`.
pub fn identity_line<M: Mmio>(hw: &DartHw<M>, name: &str) -> String {
    use crate::iommu::pgtable::Codec;
    let v = hw.variant();
    let id = hw.ident();
    let layout = match v.layout {
        Layout::T8020 => "T8020",
        Layout::T8110 => "T8110",
    };
    let bypass = if v.bypass_forbidden {
        "bypass forbidden by the variant"
    } else if id.bypass {
        "bypass supported"
    } else {
        "no bypass"
    };
    let mut s = format!(
        "{name}: {} DART ({layout} layout, {:?} PTEs), {} streams, {}-level {}-bit IOVA, {}-bit output, {bypass}, PARAMS1 {:#x} PARAMS2 {:#x}",
        v.name,
        v.pte,
        id.sids,
        id.format.levels(),
        id.format.input_bits(),
        id.format.output_bits(),
        id.params1,
        id.params2,
    );
    if let Some((p3, p4)) = id.params34 {
        s.push_str(&format!(" PARAMS3 {p3:#x} PARAMS4 {p4:#x}"));
    }
    match id.lock {
        Some((reg, off, val)) => s.push_str(&format!(", locked ({reg} {off:#05x} = {val:#x})")),
        None => s.push_str(", not locked"),
    }
    s
}

/// Why a locked DART's group cannot run: the lock register and every
/// stream the boot loader left translating.  `None` when not locked.
pub fn locked_reason<M: Mmio>(hw: &DartHw<M>, name: &str) -> Option<String> {
    let (reg, off, val) = hw.ident().lock?;
    let live: Vec<String> = (0..hw.ident().sids)
        .filter_map(|sid| {
            let s = hw.stream_state(sid);
            (s.tcr != 0).then(|| format!("{sid} (TCR {:#x}, TTBR0 {:#x})", s.tcr, s.ttbr0))
        })
        .collect();
    let streams = if live.is_empty() {
        String::from("no stream has a non-zero TCR")
    } else {
        format!("streams left configured: {}", live.join(", "))
    };
    Some(format!(
        "{name} is locked by the boot loader ({reg} {off:#05x} = {val:#x}): its TCR and TTBR registers cannot be written until reset, so none of its streams can be pointed at the test's tables; left as found ({streams})"
    ))
}

/// The DART's own format: its page size is fixed at 16 KiB (PARAMS1), so
/// the run's granule does not choose it; the tables are written for a
/// walker that does not snoop (every table line is cleaned; harmless
/// where it does, and the DMA pool is non-cacheable anyway).
pub fn table_format(format: &Dart, _granule: Granule) -> (Dart, bool) {
    (*format, false)
}
