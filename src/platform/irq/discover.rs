//! Finding, in the device tree, the generic timer's virtual-timer interrupt
//! and the interrupt controller it is wired to (docs/hw/gic.md §1, §2).
//!
//! * The timer node is the first enabled node compatible with
//!   `arm,armv8-timer` or `arm,armv7-timer`.  Its `interrupts` list the
//!   secure physical, non-secure physical, virtual and hypervisor timers in
//!   that order (binding `timer/arm,arch_timer.yaml`); `interrupt-names`,
//!   when present, names them (`virt`).  The image sleeps on the virtual
//!   timer, which EL1 may always program.
//! * Its controller is found the way Linux's `of_irq_find_parent` does: the
//!   node's own `interrupt-parent`, else its parent's, climbing until a node
//!   with `#interrupt-cells`; or, for a timer with `interrupts-extended`
//!   (some Renesas trees), from the entry's own phandle.
//! * A GIC specifier is three cells (four on a GICv3 with PPI partitions):
//!   type (0 SPI, 1 PPI), number, flags (trigger in bits 3:0, the GICv2 PPI
//!   CPU mask in bits 15:8) — binding `interrupt-controller/arm,gic.yaml`,
//!   `arm,gic-v3.yaml`.  A PPI's INTID is 16 + number.
//!
//! Nothing allocates; strings are borrowed from the blob.
#![forbid(unsafe_code)]

use crate::mm::addr::PhysRange;
use crate::platform::dt::clocks::by_phandle;
use crate::platform::dt::{translate_reg, DtError, Fdt, Located};
use core::fmt;

/// Timer node compatibles (binding `timer/arm,arch_timer.yaml`).
pub const TIMER_COMPATIBLES: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
/// Controllers with the GICv2 distributor and memory-mapped CPU interface
/// this image programs (binding `interrupt-controller/arm,gic.yaml`; QEMU
/// `virt` names its GICv2 `arm,cortex-a15-gic`, Allwinner H6/H616 theirs
/// `arm,gic-400`).
pub const GICV2_COMPATIBLES: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a7-gic",
    "qcom,msm-qgic2",
];
/// GICv3/v4 with redistributors and the system-register CPU interface
/// (binding `interrupt-controller/arm,gic-v3.yaml`; QEMU `virt` with
/// `gic-version=3`, the Qualcomm boards).
pub const GICV3_COMPATIBLES: &[&str] = &["arm,gic-v3"];
/// Position of the virtual timer in the timer's `interrupts` when the node
/// has no `interrupt-names`.
pub const VIRT_TIMER_INDEX: usize = 2;
/// Its name in `interrupt-names`.
pub const VIRT_TIMER_NAME: &str = "virt";
/// Redistributor regions read from a GICv3 node (`#redistributor-regions`;
/// one on every board in `docs/hw/board-facts.md`).
pub const MAX_REDIST_REGIONS: usize = 4;
/// Interrupt-parent hops before giving up (a loop in the tree).
const MAX_HOPS: usize = 16;

/// The GIC architecture the controller's `compatible` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (and GIC-400): MMIO distributor and CPU interface.
    V2,
    /// GICv3/v4: MMIO distributor and redistributors, system-register CPU
    /// interface.
    V3,
}

impl fmt::Display for GicVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GicVersion::V2 => "GICv2",
            GicVersion::V3 => "GICv3",
        })
    }
}

/// A GIC node and its register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gic<'a> {
    /// Version.
    pub version: GicVersion,
    /// Node name (`intc@8000000`).
    pub node: &'a str,
    /// The compatible that matched.
    pub compatible: &'a str,
    /// Distributor (`reg` 0).
    pub dist: PhysRange,
    /// GICv2 CPU interface (`reg` 1); `None` on a GICv3.
    pub cpu: Option<PhysRange>,
    /// GICv3 redistributor regions (`reg` 1..), in order.
    redists: [PhysRange; MAX_REDIST_REGIONS],
    nredists: usize,
    /// GICv3 `redistributor-stride`, when the node gives one.
    pub redist_stride: Option<u64>,
}

impl Gic<'_> {
    /// The GICv3 redistributor regions.
    pub fn redists(&self) -> &[PhysRange] {
        self.redists.get(..self.nredists).unwrap_or(&[])
    }
}

/// Trigger of an interrupt, from the specifier's flags (bits 3:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// 1: rising edge.
    EdgeRising,
    /// 2: falling edge.
    EdgeFalling,
    /// 4: level, active high.
    LevelHigh,
    /// 8: level, active low.
    LevelLow,
    /// 0 or a combination the binding does not define.
    Other(u32),
}

impl Trigger {
    /// Decodes flags bits 3:0.
    pub fn from_flags(flags: u32) -> Self {
        match flags & 0xf {
            1 => Trigger::EdgeRising,
            2 => Trigger::EdgeFalling,
            4 => Trigger::LevelHigh,
            8 => Trigger::LevelLow,
            other => Trigger::Other(other),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::EdgeRising => f.write_str("edge rising"),
            Trigger::EdgeFalling => f.write_str("edge falling"),
            Trigger::LevelHigh => f.write_str("level high"),
            Trigger::LevelLow => f.write_str("level low"),
            Trigger::Other(v) => write!(f, "trigger {v:#x}"),
        }
    }
}

/// The virtual timer's interrupt and the GIC it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrq<'a> {
    /// The timer node's name.
    pub timer_node: &'a str,
    /// PPI number (the specifier's second cell).
    pub ppi: u32,
    /// The specifier's flags cell.
    pub flags: u32,
    /// The controller.
    pub gic: Gic<'a>,
}

impl TimerIrq<'_> {
    /// The INTID the GIC uses: PPIs are 16..=31.
    pub fn intid(&self) -> u32 {
        16 + self.ppi
    }

    /// The trigger the DT gives.
    pub fn trigger(&self) -> Trigger {
        Trigger::from_flags(self.flags)
    }
}

/// Why the DT gives no timer interrupt this image can route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoTimerIrq<'a> {
    /// No enabled node compatible with [`TIMER_COMPATIBLES`].
    NoTimerNode,
    /// The timer node has no `interrupts`.
    NoInterrupts {
        /// The timer node.
        timer_node: &'a str,
    },
    /// Neither the timer nor an ancestor names an interrupt parent with
    /// `#interrupt-cells`.
    NoController {
        /// The timer node.
        timer_node: &'a str,
    },
    /// The controller is not one this image drives (Apple's AIC, a GICv1).
    UnknownController {
        /// The controller node.
        node: &'a str,
        /// Its first `compatible` (`""` without one).
        compatible: &'a str,
    },
    /// The virtual timer's entry is missing or is not a PPI of the GIC.
    BadSpecifier {
        /// The timer node.
        timer_node: &'a str,
        /// The controller's `#interrupt-cells`.
        cells: u32,
        /// Cells found for the entry.
        have: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A property could not be read.
    Dt(DtError),
}

impl From<DtError> for NoTimerIrq<'_> {
    fn from(e: DtError) -> Self {
        NoTimerIrq::Dt(e)
    }
}

impl fmt::Display for NoTimerIrq<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoTimerIrq::NoTimerNode => write!(
                f,
                "the device tree has no enabled arm,armv8-timer / arm,armv7-timer node"
            ),
            NoTimerIrq::NoInterrupts { timer_node } => {
                write!(f, "timer node {timer_node} has no `interrupts`")
            }
            NoTimerIrq::NoController { timer_node } => write!(
                f,
                "timer node {timer_node}: no interrupt-parent with #interrupt-cells"
            ),
            NoTimerIrq::UnknownController { node, compatible } => write!(
                f,
                "the timer's interrupt controller {node} ({compatible}) is not a GICv2/GICv3 this image drives"
            ),
            NoTimerIrq::BadSpecifier {
                timer_node,
                cells,
                have,
                problem,
            } => write!(
                f,
                "timer node {timer_node}: the virtual timer's entry ({have} cells, #interrupt-cells {cells}): {problem}"
            ),
            NoTimerIrq::Dt(e) => write!(f, "{e}"),
        }
    }
}

fn cell(v: &[u8], i: usize) -> Option<u32> {
    let b = v.get(i * 4..i * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The first enabled timer node.
fn timer_node<'a>(fdt: &Fdt<'a>) -> Result<Option<Located<'a>>, DtError> {
    let mut found = None;
    fdt.walk(|l| {
        let n = l.node();
        if n.is_enabled() && TIMER_COMPATIBLES.iter().any(|c| n.is_compatible(c)) {
            found = Some(*l);
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(found)
}

/// The interrupt controller of `loc` (Linux `of_irq_find_parent`).
fn interrupt_parent<'a>(loc: &Located<'a>) -> Result<Option<Located<'a>>, DtError> {
    let mut cur = *loc;
    for _ in 0..MAX_HOPS {
        let next = match cur.node().prop_u32("interrupt-parent")? {
            Some(ph) => match by_phandle(&cur, ph)? {
                Some(p) => p,
                None => return Ok(None),
            },
            None => match cur.parent_located() {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        if next.node().has_property("#interrupt-cells") {
            return Ok(Some(next));
        }
        cur = next;
    }
    Ok(None)
}

/// Reads the GIC's frames from its node.
fn gic<'a>(loc: &Located<'a>) -> Result<Result<Gic<'a>, NoTimerIrq<'a>>, DtError> {
    let n = loc.node();
    let matched = |list: &[&'static str]| list.iter().copied().find(|c| n.is_compatible(c));
    let (version, compatible) = match (matched(GICV2_COMPATIBLES), matched(GICV3_COMPATIBLES)) {
        (Some(c), _) => (GicVersion::V2, c),
        (None, Some(c)) => (GicVersion::V3, c),
        (None, None) => {
            return Ok(Err(NoTimerIrq::UnknownController {
                node: n.display_name(),
                compatible: n.prop_strs("compatible").next().unwrap_or(""),
            }))
        }
    };
    let mut g = Gic {
        version,
        node: n.display_name(),
        compatible,
        dist: translate_reg(loc, 0)?,
        cpu: None,
        redists: [PhysRange::default(); MAX_REDIST_REGIONS],
        nredists: 0,
        redist_stride: None,
    };
    match version {
        GicVersion::V2 => g.cpu = Some(translate_reg(loc, 1)?),
        GicVersion::V3 => {
            let regions = n.prop_u32("#redistributor-regions")?.unwrap_or(1) as usize;
            for i in 0..regions.min(MAX_REDIST_REGIONS) {
                g.redists[i] = translate_reg(loc, 1 + i)?;
                g.nredists += 1;
            }
            g.redist_stride = n.property("redistributor-stride").and_then(|p| {
                let hi = cell(p.value, 0)?;
                let lo = cell(p.value, 1)?;
                Some(u64::from(hi) << 32 | u64::from(lo)).filter(|s| *s != 0)
            });
        }
    }
    Ok(Ok(g))
}

/// The virtual timer's specifier (its cells) and the controller it names:
/// from `interrupts` with the node's interrupt parent, or from
/// `interrupts-extended` (`<phandle specifier>` per entry, each entry as
/// long as its controller's `#interrupt-cells`).
fn virt_entry<'a>(
    timer: &Located<'a>,
    index: usize,
) -> Result<(&'a [u8], Located<'a>, u32), NoTimerIrq<'a>> {
    let tn = timer.node();
    let timer_node = tn.display_name();
    let cells_of = |l: &Located<'a>| l.node().prop_u32("#interrupt-cells");
    if let Some(irqs) = tn.property("interrupts") {
        let parent = interrupt_parent(timer)?.ok_or(NoTimerIrq::NoController { timer_node })?;
        let cells = cells_of(&parent)?.unwrap_or(0);
        let n = cells as usize;
        let spec = irqs
            .value
            .get(index * n * 4..(index + 1) * n * 4)
            .unwrap_or(&[]);
        return Ok((spec, parent, cells));
    }
    let ext = tn
        .property("interrupts-extended")
        .ok_or(NoTimerIrq::NoInterrupts { timer_node })?;
    let mut at = 0usize;
    for i in 0.. {
        let Some(phandle) = cell(ext.value, at) else {
            return Ok((&[], *timer, 0));
        };
        let ctrl = by_phandle(timer, phandle)?.ok_or(NoTimerIrq::NoController { timer_node })?;
        let cells = cells_of(&ctrl)?.unwrap_or(0);
        let n = cells as usize;
        if i == index {
            let spec = ext.value.get((at + 1) * 4..(at + 1 + n) * 4).unwrap_or(&[]);
            return Ok((spec, ctrl, cells));
        }
        at += 1 + n;
    }
    Ok((&[], *timer, 0))
}

/// Finds the virtual timer's interrupt and its GIC.
pub fn timer_irq<'a>(fdt: &Fdt<'a>) -> Result<TimerIrq<'a>, NoTimerIrq<'a>> {
    let timer = timer_node(fdt)?.ok_or(NoTimerIrq::NoTimerNode)?;
    let tn = timer.node();
    let timer_node = tn.display_name();
    let index = tn
        .prop_strs("interrupt-names")
        .position(|name| name == VIRT_TIMER_NAME)
        .unwrap_or(VIRT_TIMER_INDEX);
    let (spec, parent, cells) = virt_entry(&timer, index)?;
    let gic = gic(&parent)??;
    let bad = |problem| NoTimerIrq::BadSpecifier {
        timer_node,
        cells,
        have: spec.len() / 4,
        problem,
    };
    if !(3..=4).contains(&cells) {
        return Err(bad("a GIC specifier has 3 cells (4 with PPI partitions)"));
    }
    let (Some(kind), Some(ppi), Some(flags)) = (cell(spec, 0), cell(spec, 1), cell(spec, 2)) else {
        return Err(bad("no entry for the virtual timer"));
    };
    if kind != 1 {
        return Err(bad("the virtual timer's entry is not a PPI (type cell 1)"));
    }
    if ppi > 15 {
        return Err(bad("PPI number above 15"));
    }
    if cells == 4 && cell(spec, 3).is_some_and(|p| p != 0) {
        return Err(bad(
            "the PPI is partitioned (4th cell), which this image does not read",
        ));
    }
    Ok(TimerIrq {
        timer_node,
        ppi,
        flags,
        gic,
    })
}
