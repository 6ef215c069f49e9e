//! The Allwinner H6 and H616/H618 CCUs: the bus-gate and reset bits the
//! IOMMU's node names (docs/hw/sun50i.md §16).
//!
//! Both put the IOMMU's Bus Gating Reset Register at CCU + 0x7BC: gate bit
//! 0, reset bit 16 (1 = deasserted).  Indices from Linux
//! `include/dt-bindings/{clock,reset}/sun50i-h6-ccu.h` and `...-h616-ccu.h`;
//! register and bits from `drivers/clk/sunxi-ng/ccu-sun50i-h6.c` and
//! `ccu-sun50i-h616.c` (`bus_iommu_clk` 0x7bc BIT(0), `[RST_BUS_IOMMU] =
//! { 0x7bc, BIT(16) }`).  Neither driver nor node has an MBUS gate for the
//! IOMMU; the MBUS gates (CCU + 0x804) belong to the DMA masters, which
//! this image does not drive yet.
#![forbid(unsafe_code)]

use super::Line;
use crate::platform::dt::clocks::RefKind;

/// One SoC's CCU table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ccu {
    /// SoC name for reports.
    pub soc: &'static str,
    /// The CCU node's compatible.
    pub compatible: &'static str,
    /// The lines this image may turn on.
    pub lines: &'static [Line],
}

impl Ccu {
    /// The line of `kind` with binding index `index`.
    pub fn line(&self, kind: RefKind, index: u32) -> Option<Line> {
        self.lines
            .iter()
            .copied()
            .find(|l| l.kind == kind && l.index == index)
    }

    /// Bytes of the CCU block the table reaches.
    pub fn span(&self) -> u64 {
        self.lines
            .iter()
            .map(|l| l.offset as u64 + 4)
            .max()
            .unwrap_or(0)
    }
}

/// The IOMMU's Bus Gating Reset Register (both SoCs).
pub const IOMMU_BGR: usize = 0x7bc;

/// H6 (`allwinner,sun50i-h6-ccu`): CLK_BUS_IOMMU 51, RST_BUS_IOMMU 15.
pub const H6: Ccu = Ccu {
    soc: "H6",
    compatible: "allwinner,sun50i-h6-ccu",
    lines: &[
        Line {
            kind: RefKind::Clock,
            index: 51,
            name: "CLK_BUS_IOMMU",
            offset: IOMMU_BGR,
            bit: 0,
        },
        Line {
            kind: RefKind::Reset,
            index: 15,
            name: "RST_BUS_IOMMU",
            offset: IOMMU_BGR,
            bit: 16,
        },
    ],
};

/// H616/H618 (`allwinner,sun50i-h616-ccu`): CLK_BUS_IOMMU 48,
/// RST_BUS_IOMMU 11.
pub const H616: Ccu = Ccu {
    soc: "H616",
    compatible: "allwinner,sun50i-h616-ccu",
    lines: &[
        Line {
            kind: RefKind::Clock,
            index: 48,
            name: "CLK_BUS_IOMMU",
            offset: IOMMU_BGR,
            bit: 0,
        },
        Line {
            kind: RefKind::Reset,
            index: 11,
            name: "RST_BUS_IOMMU",
            offset: IOMMU_BGR,
            bit: 16,
        },
    ],
};

/// Every table.
pub const CCUS: [Ccu; 2] = [H6, H616];

/// The table for a CCU `compatible`.
pub fn by_compatible(compatible: &str) -> Option<Ccu> {
    CCUS.into_iter().find(|c| c.compatible == compatible)
}
