//! The platform-master registry: one line per platform DMA engine this
//! image drives, keyed by `compatible`.  A device-tree node with `iommus`
//! whose `compatible` is in [`PLATFORM_MASTERS`] is planned and used like
//! a PCI master (`selftest::plan` puts it among the IOMMU's masters, boot
//! opens it through the line's [`OpenFn`], `dt-probe` names it as the
//! master the image will use); any other node with `iommus` is reported and
//! left alone.
//!
//! Each line says how to open the engine as a [`DmaMaster`], what the
//! image does about its clocks and resets, and which of its streams it
//! uses.  Adding a master is a driver under `dma/` with an [`OpenFn`] and
//! one line here (docs/architecture.md, "Adding a master").  The table is
//! plain data, host-tested; only the openers touch hardware.
#![forbid(unsafe_code)]

use super::zdma;
use super::{DmaMaster, OpenError, StreamId};
use crate::mm::dma_pool::DmaPool;
use crate::mm::{Iova, PhysAddr, PhysRange};
use crate::mmio::VolatileMmio;
use crate::time::Clock;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// What the image does about a master's `clocks`/`resets` before opening
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controls {
    /// Firmware owns them (for example ZynqMP's PMU firmware, reached only
    /// through EEMI calls): the image relies on the loader having left the
    /// engine clocked, powered and out of reset, and says so.  The text
    /// names what it relies on.
    Firmware(&'static str),
    /// Turn on the node's clocks and resets that a `platform::ccu` table
    /// knows, as the sun50i IOMMU probe does for its own (resets first,
    /// then clocks), and say in KTAP what was already on.
    Ccu,
}

/// Which of a master's streams on the IOMMU under test the image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamUse {
    /// The first `iommus` reference to that IOMMU (a ZDMA channel has
    /// exactly one).
    First,
}

/// What boot hands an opener besides the mapped registers and the pool.
#[derive(Clone, Copy)]
pub struct OpenArgs<'a> {
    /// The node's path (named in errors and KTAP notes).
    pub name: &'a str,
    /// The `compatible` that matched the table.
    pub compatible: &'a str,
    /// The node's first `reg`, translated (already mapped as `mmio`).
    pub reg: PhysRange,
    /// The stream ID the master's DMA carries on the IOMMU under test.
    pub stream: StreamId,
    /// Where the master's fixed buffers (staging, queues) must sit in
    /// every domain.
    pub staging_iova: Iova,
    /// The run's page size.
    pub page: u64,
    /// The clock every bounded wait uses.
    pub clock: &'static dyn Clock,
    /// Orders the CPU's writes to DMA memory before the device is started.
    pub barrier: fn(),
}

/// A buffer a master needs mapped at a fixed IOVA in every domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// Its physical address.
    pub phys: PhysAddr,
    /// The IOVA it must be mapped at.
    pub iova: Iova,
    /// Bytes.
    pub size: u64,
}

/// An opened platform master.
pub struct Opened<'p> {
    /// The master.
    pub master: Box<dyn DmaMaster + 'p>,
    /// Mappings every domain must have for it to work.
    pub fixed: Vec<Fixed>,
    /// KTAP diagnostics about what was opened.
    pub notes: Vec<String>,
}

/// Opens one platform master at its mapped registers.
pub type OpenFn =
    for<'p> fn(VolatileMmio, &'p DmaPool, &OpenArgs<'_>) -> Result<Opened<'p>, OpenError>;

/// One platform DMA engine the image drives.
#[derive(Clone, Copy)]
pub struct PlatformMaster {
    /// The `compatible` strings it takes (any entry of the node's list).
    pub compatibles: &'static [&'static str],
    /// What reports call it (`dt-probe`'s master line, plan notes).
    pub name: &'static str,
    /// Bytes of register space from the node's first `reg` it needs.
    pub reg_span: u64,
    /// Its clocks and resets.
    pub controls: Controls,
    /// Which of its streams it uses.
    pub streams: StreamUse,
    /// How to open it.
    pub open: OpenFn,
}

/// Every platform master this image drives, one line each.
pub const PLATFORM_MASTERS: &[PlatformMaster] = &[
    PlatformMaster {
        compatibles: &[zdma::COMPATIBLE],
        name: "ZynqMP ZDMA channel (simple mode; model-tested only)",
        reg_span: zdma::regs::REG_SPAN,
        controls: Controls::Firmware(
            "PMU firmware: power domain PD_GDMA/PD_ADMA and clocks clk_main/clk_apb are left to the loader",
        ),
        streams: StreamUse::First,
        open: zdma::master::open,
    },
];

/// The line that takes `compatible`.
pub fn by_compatible(compatible: &str) -> Option<&'static PlatformMaster> {
    PLATFORM_MASTERS
        .iter()
        .find(|m| m.compatibles.contains(&compatible))
}

/// The first of a node's `compatible` strings the table takes, with its
/// line.
pub fn for_node<'c>(
    compatibles: impl IntoIterator<Item = &'c str>,
) -> Option<(&'c str, &'static PlatformMaster)> {
    compatibles
        .into_iter()
        .find_map(|c| by_compatible(c).map(|m| (c, m)))
}

/// What reports call the master that takes `compatible` (the `dt-probe`
/// lookup), `None` when the image has no driver for it.
pub fn name_for(compatible: &str) -> Option<&'static str> {
    by_compatible(compatible).map(|m| m.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zdma_is_in_the_table_and_others_are_not() {
        let m = by_compatible("xlnx,zynqmp-dma-1.0").expect("ZDMA line");
        assert!(m.name.contains("ZDMA"));
        assert_eq!(m.streams, StreamUse::First);
        assert!(matches!(m.controls, Controls::Firmware(_)));
        assert!(by_compatible("arm,pl330").is_none());
        assert!(by_compatible("").is_none());
        assert_eq!(
            for_node(["acme,thing", "xlnx,zynqmp-dma-1.0"]).map(|(c, _)| c),
            Some("xlnx,zynqmp-dma-1.0")
        );
        assert!(for_node(["arm,pl330", "arm,primecell"]).is_none());
    }

    #[test]
    fn one_line_per_compatible() {
        for (i, a) in PLATFORM_MASTERS.iter().enumerate() {
            assert!(!a.compatibles.is_empty(), "{}", a.name);
            for b in &PLATFORM_MASTERS[i + 1..] {
                for c in a.compatibles {
                    assert!(!b.compatibles.contains(c), "{c} in two lines");
                }
            }
        }
    }
}
