//! The sun50i family's bring-up from a device-tree node
//! (`allwinner,sun50i-h6-iommu`, `allwinner,sun50i-h616-iommu`): map the
//! registers, refuse a block that reads as nothing, run the enable
//! sequence (every master bypassed until attached), and choose the sun50i
//! table format — 4 KiB pages only.
//!
//! The VA debug port is the family's self master (`va_port.rs`) where the
//! manual documents it (H616/H618); on H6 no manual text confirms the
//! port, so an H6 node without another master stays a SKIP.  Before the
//! first register access the node's `clocks`/`resets` are turned on
//! through the CCU where `platform::ccu::sun50i` has a table for them
//! (the IOMMU's bus gate and reset, docs/hw/sun50i.md §16), and KTAP says
//! what was already on and what the image turned on; anything else is
//! left to the loader.  The PMU counters are started and cleared with the
//! driver and a `#` line says whether they count (the stale-window cases'
//! cache evidence rests on them).  No master's gates are brought up: the
//! image drives no platform master yet (docs/hw/sun50i.md §17).
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
use crate::mm::PhysRange;
use crate::mmio::{Mmio, VolatileMmio};
use crate::platform::ccu::{self, ControlRef, Outcome};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

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
        let controls = match t.controls_error {
            Some(e) => Controls {
                lines: alloc::vec![format!(
                    "{}: clocks/resets not read ({e}): the image leaves them to the loader",
                    t.name
                )],
                outcomes: Vec::new(),
            },
            None => turn_on_controls(t.name, t.controls, &mut |what, r| env.map_device(what, r)),
        };
        for line in &controls.lines {
            env.diag(line);
        }
        let mmio = env.map_device(t.name, reg)?;
        let mut hw = Sun50iHw::new(Regs::new(mmio), variant, env.clock());
        let version = hw
            .identify()
            .map_err(|e| format!("{}: {e}; {}", t.name, controls.summary()))?;
        env.diag(&format!(
            "{}: {} IOMMU, VERSION {version:#x}, {} micro-TLB slots",
            t.name, variant.name, variant.masters
        ));
        hw.enable().map_err(|e| format!("{} enable: {e}", t.name))?;
        let driver = Sun50iIommu::new(hw, t.name, false);
        env.diag(&format!("{}: {}", t.name, driver.pmu_status()));
        Ok(driver)
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

    const SELF_MASTER_NAME: &'static str = "the VA debug port (IOMMU +0x190..0x198)";

    fn has_self_master(compatible: &str) -> bool {
        variant::by_compatible(compatible).is_some_and(|v| v.va_port == Some(true))
    }

    /// H6: neither the VA port (no manual text) nor a memory-to-memory
    /// master (the deinterlacer is not in the DT and has no documented
    /// mode with a known output) can be driven (docs/hw/sun50i.md §17).
    fn no_master_reason(compatible: &str) -> Option<&'static str> {
        match variant::by_compatible(compatible) {
            Some(v) if v.va_port != Some(true) => Some(H6_NO_MASTER),
            _ => None,
        }
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

/// Why an H6 IOMMU has no master this image can drive (docs/hw/sun50i.md
/// §1, §11, §17).
pub const H6_NO_MASTER: &str = "on H6 the image has neither a self master nor a memory-to-memory master: the IOMMU's VA debug port (0x190-0x198) has no H6 manual text, and the deinterlacer (master 2, 0x01420000) is in none of the Debian 6.12 board DTBs and has no documented processing mode with a known output (docs/hw/sun50i.md §17)";

/// What the CCU bring-up did: the KTAP diagnostics, and each outcome.
#[derive(Debug)]
pub struct Controls {
    /// One line per provider (or per thing left to the loader).
    pub lines: Vec<String>,
    /// What happened to each reference a table knew or did not.
    pub outcomes: Vec<Outcome>,
}

impl Controls {
    /// For a dead-block failure: what the CCU says about the lines.
    pub fn summary(&self) -> String {
        let mut on = Vec::new();
        let mut off = Vec::new();
        for o in &self.outcomes {
            match o {
                Outcome::AlreadyOn(l) | Outcome::TurnedOn(l) => {
                    on.push(format!("{} {}", l.name, l.state_word(true)))
                }
                Outcome::Stuck(l, _) => off.push(format!("{} {}", l.name, l.state_word(false))),
                Outcome::Unknown(..) => {}
            }
        }
        match (on.is_empty(), off.is_empty()) {
            (true, true) => String::from("its clocks and resets were left to the loader"),
            (_, true) => format!("the CCU reads {}", on.join(", ")),
            _ => format!("the CCU still reads {}", off.join(", ")),
        }
    }
}

/// Turns on the node's `controls` through each provider's CCU table
/// (resets first, then clocks), mapping each known CCU with `map`.  A
/// provider without a table, without a `reg`, or one that does not map is
/// named and left to the loader.  Host-tested over a register model.
pub fn turn_on_controls<M: Mmio>(
    node: &str,
    controls: &[ControlRef],
    map: &mut dyn FnMut(&str, PhysRange) -> Result<M, String>,
) -> Controls {
    let mut c = Controls {
        lines: Vec::new(),
        outcomes: Vec::new(),
    };
    if controls.is_empty() {
        c.lines.push(format!(
            "{node}: no clocks/resets in the DT: the image relies on the loader having left the IOMMU clocked and out of reset"
        ));
        return c;
    }
    let mut providers: Vec<(&str, &str, Option<PhysRange>)> = Vec::new();
    for r in controls {
        let p = (r.provider.as_str(), r.compatible.as_str(), r.reg);
        if !providers.contains(&p) {
            providers.push(p);
        }
    }
    for (provider, compatible, reg) in providers {
        let refs: Vec<&ControlRef> = controls
            .iter()
            .filter(|r| {
                (r.provider.as_str(), r.compatible.as_str(), r.reg) == (provider, compatible, reg)
            })
            .collect();
        let leave = |why: &str| {
            format!(
                "{node}: {} on {provider} ({compatible}): {why}: the image leaves them to the loader",
                names(&refs)
            )
        };
        let Some(table) = ccu::sun50i::by_compatible(compatible) else {
            c.lines
                .push(leave("no CCU table in this image for that compatible"));
            c.outcomes
                .extend(refs.iter().map(|r| Outcome::Unknown(r.kind, r.index)));
            continue;
        };
        let Some(reg) = reg.filter(|r| r.size >= table.span()) else {
            c.lines.push(leave(&format!(
                "its reg {reg:?} does not cover the {:#x} bytes the table reaches",
                table.span()
            )));
            continue;
        };
        let mmio = match map(provider, reg) {
            Ok(m) => m,
            Err(e) => {
                c.lines
                    .push(leave(&format!("it could not be mapped ({e})")));
                continue;
            }
        };
        let outcomes = ccu::turn_on(&mmio, &table, &refs);
        let mut line = format!("{node}: {} CCU {:#x}: ", table.soc, reg.base.0);
        for (i, o) in outcomes.iter().enumerate() {
            if i > 0 {
                line.push_str("; ");
            }
            line.push_str(&format!("{o}"));
        }
        c.lines.push(line);
        c.outcomes.extend(outcomes);
    }
    c
}

/// "clock 48, reset 11" for the references of one provider.
fn names(refs: &[&ControlRef]) -> String {
    let mut s = String::new();
    for (i, r) in refs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(r.kind.prop());
        if let Some(n) = r.index {
            s.push_str(&format!(" {n}"));
        }
    }
    s
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

#[cfg(test)]
mod tests;
