//! The sun50i family's bring-up from a device-tree node
//! (`allwinner,sun50i-h6-iommu`, `allwinner,sun50i-h616-iommu`): map the
//! registers, refuse a block that reads as nothing, run the enable
//! sequence (every master bypassed until attached), and choose the sun50i
//! table format — 4 KiB pages only.
//!
//! The VA debug port is the family's self master (`va_port.rs`): used
//! directly where the manual documents it (H616/H618); on H6, where no
//! manual text confirms it, only after a run-time self-check finds it
//! (`va_detect.rs`), else the group SKIPs with what the check saw.  Before the
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
use super::va_detect;
use super::va_port::VaPort;
use super::variant;
use crate::dma::DmaMaster;
use crate::iommu::pgtable::sun50i::Sun50i;
use crate::iommu::pgtable::Granule;
use crate::iommu::probe::{
    FormatError, MapError, Probe, ProbeEnv, ProbeError, ProbeTarget, RegBlock, Step,
};
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
    ) -> Result<Self::Driver<'p>, ProbeError> {
        let variant =
            variant::by_compatible(t.compatible).ok_or_else(|| ProbeError::UnknownCompatible {
                node: String::from(t.name),
                compatible: String::from(t.compatible),
                expected: "an H6 or H616 IOMMU",
            })?;
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        if reg.size < REG_SPAN {
            return Err(ProbeError::RegTooSmall {
                node: String::from(t.name),
                reg,
                need: REG_SPAN,
                block: RegBlock::Sun50i,
            });
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
        let version = hw.identify().map_err(|cause| ProbeError::Unanswered {
            node: String::from(t.name),
            cause,
            ccu: controls.summary(),
        })?;
        env.diag(&format!(
            "{}: {} IOMMU, VERSION {version:#x}, {} micro-TLB slots",
            t.name, variant.name, variant.masters
        ));
        hw.enable()
            .map_err(ProbeError::driver(t.name, Step::Enable))?;
        let driver = Sun50iIommu::new(hw, t.name, false);
        env.diag(&format!("{}: {}", t.name, driver.pmu_status()));
        Ok(driver)
    }

    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Sun50i, bool), ProbeError> {
        table_format(granule).map_err(|cause| ProbeError::Format {
            node: String::from(crate::iommu::Iommu::name(driver)),
            cause,
        })
    }

    /// The VA debug port (docs/hw/sun50i.md §11): documented on H616; on
    /// H6 planned too, but used only if the run-time check finds it.
    const SELF_MASTER: bool = true;

    const SELF_MASTER_NAME: &'static str = "the VA debug port (IOMMU +0x190..0x198)";

    /// H616: documented.  H6: unconfirmed, planned with the port "if the
    /// run-time check finds it" (`self_master`; reports say so through
    /// [`H6_VA_PORT_CONDITIONAL`]).
    fn has_self_master(compatible: &str) -> bool {
        variant::by_compatible(compatible).is_some_and(|v| v.va_port != Some(false))
    }

    /// What the plan adds for a node run through its port alone: on H6 the
    /// port is conditional on the run-time check (docs/hw/sun50i.md §11,
    /// §17).
    fn no_master_reason(compatible: &str) -> Option<&'static str> {
        match variant::by_compatible(compatible) {
            Some(v) if v.va_port.is_none() => Some(H6_VA_PORT_CONDITIONAL),
            _ => None,
        }
    }

    /// The VA port over a second mapping of the IOMMU's registers.  H6:
    /// first the run-time check (`va_detect.rs`: VA_DATA holds a pattern
    /// and its complement; a translated read of a page mapped by a private
    /// table returns its words); the port is handed out only if it passes,
    /// else `Ok(None)` with a `#` line saying what was seen.
    fn self_master<'p>(
        env: &mut dyn ProbeEnv,
        pool: &'p DmaPool,
        t: &ProbeTarget<'_>,
    ) -> Result<Option<Box<dyn DmaMaster + 'p>>, ProbeError> {
        let Some(v) = variant::by_compatible(t.compatible) else {
            return Ok(None);
        };
        if v.va_port == Some(false) {
            return Ok(None);
        }
        let reg = t.reg.ok_or_else(|| ProbeError::no_reg(t.name))?;
        let mmio = env.map_device(t.name, reg)?;
        let name = format!("{} VA port", t.name);
        let port = VaPort::new(mmio, env.clock(), &name);
        if v.va_port.is_none() {
            let mut hw = Sun50iHw::new(Regs::new(env.map_device(t.name, reg)?), v, env.clock());
            let cache = env.cache();
            let mut lines = Vec::new();
            let found =
                va_detect::checked_port(t.name, v.name, &mut hw, port, pool, cache, &mut |l| {
                    lines.push(String::from(l))
                });
            for l in &lines {
                env.diag(l);
            }
            return Ok(found.map(|p| Box::new(p) as Box<dyn DmaMaster + 'p>));
        }
        Ok(Some(Box::new(port)))
    }
}

/// What reports add for an H6 IOMMU: its master is the VA debug port only
/// if the run-time check finds it (docs/hw/sun50i.md §1, §11); no
/// memory-to-memory master is driven (the deinterlacer/G2D facts: §17).
pub const H6_VA_PORT_CONDITIONAL: &str = "on H6 the IOMMU's VA debug port (0x190-0x198) has no manual text: it is used if the run-time check finds it (a register holding a pattern and its complement, and a translated read returning a mapped page's words), else the group SKIPs naming what the check saw (docs/hw/sun50i.md §11, §17)";

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
    map: &mut dyn FnMut(&str, PhysRange) -> Result<M, MapError>,
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
pub fn table_format(granule: Granule) -> Result<(Sun50i, bool), FormatError> {
    if granule != Granule::K4 {
        return Err(FormatError::FourKibOnly { granule });
    }
    Ok((Sun50i, false))
}

#[cfg(test)]
mod tests;
