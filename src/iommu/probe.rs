//! How a family brings one IOMMU instance up from its device-tree node: the
//! [`Probe`] trait every family with a driver implements (in its folder's
//! `probe.rs`), and the platform services it may use ([`ProbeEnv`]).
//!
//! A probe maps the registers, reads the ID registers, enables the IOMMU so
//! that streams nobody attached are blocked, and hands back the driver
//! ([`Observe`]).  It also chooses the table format for the granule the run
//! asked for — the format is the driver's (`Iommu::Format`), so only the
//! family knows how to build one.  The generic code that runs the catalogue
//! over a probed driver is `selftest::families::run_family`; boot only
//! provides the services.
#![forbid(unsafe_code)]

use super::pgtable::{Codec, Granule};
pub use super::probe_error::{DriverError, FormatError, ProbeError, RegBlock, Step};
use super::Observe;
use crate::dma::DmaMaster;
use crate::mm::cache::CacheMaintenance;
use crate::mm::dma_pool::DmaPool;
use crate::mm::PhysRange;
pub use crate::mm::{MapCause, MapError};
use crate::mmio::VolatileMmio;
use crate::platform::ccu::ControlRef;
use crate::platform::dt::tbus::PortFacts;
use crate::platform::dt::DtError;
use crate::platform::pci::Function;
use crate::time::Clock;
use crate::virtio::Layout;
pub use crate::virtio::OpenVirtioError;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The device-tree facts about one IOMMU node a probe needs.
#[derive(Clone, Copy, Debug)]
pub struct ProbeTarget<'a> {
    /// Node name (the KTAP group name).
    pub name: &'a str,
    /// The `compatible` that matched the family.
    pub compatible: &'a str,
    /// First `reg` entry, translated to a CPU physical address.
    pub reg: Option<PhysRange>,
    /// `dma-coherent`: the IOMMU's walker snoops the CPU caches.
    pub dma_coherent: bool,
    /// SMMUv3 `cavium,cn9900-broken-page1-regspace`: Page 1 registers at
    /// their Page 0 offsets, a 64 KiB frame suffices.
    pub page0_regs_only: bool,
    /// The IOMMU's own PCI function (virtio-iommu), found by its BDF.
    pub function: Option<&'a Function>,
    /// Largest stream ID of the masters that will be used.
    pub max_stream_id: u32,
    /// Every stream ID of the masters that will be used (a family may
    /// prepare per-stream structures before enabling).
    pub stream_ids: &'a [u32],
    /// The SMR-style mask of each of `stream_ids` (same order; 0 where the
    /// binding gives none): the `iommus` mask cell or the IOMMU node's
    /// `stream-match-mask`.
    pub stream_masks: &'a [u32],
    /// The node's `clocks` and `resets`, in property order (clocks
    /// first); a family turns on the ones its CCU table knows
    /// (`platform::ccu`).
    pub controls: &'a [ControlRef],
    /// Why `clocks`/`resets` could not be read (then `controls` is empty
    /// and they are left to the loader).
    pub controls_error: Option<&'a DtError>,
    /// What the tree says around the node that a self master may depend
    /// on (Qualcomm TBU nodes, every stream a DT master uses, the
    /// `qcom-tbu` bootarg): [`Probe::described_port`].
    pub port: PortFacts<'a>,
}

/// Platform services a probe may use (boot implements them on target).
pub trait ProbeEnv {
    /// Maps `reg` as device memory for `what` (named in errors).
    fn map_device(&mut self, what: &str, reg: PhysRange) -> Result<VolatileMmio, MapError>;

    /// Finds the virtio structures of PCI function `f` and maps their BAR.
    fn open_virtio(&mut self, f: &Function) -> Result<(Layout, VolatileMmio), OpenVirtioError>;

    /// The clock every bounded wait uses.
    fn clock(&self) -> &'static dyn Clock;

    /// CPU cache maintenance for non-coherent walkers and queues.
    fn cache(&self) -> &'static dyn CacheMaintenance;

    /// Orders the CPU's writes to DMA memory before a device is told to
    /// read them.
    fn dma_barrier(&self) -> fn();

    /// `true` on QEMU `virt`, whose SMMUv3 caches differently from silicon
    /// (software cannot read that from the ID registers).
    fn on_qemu(&self) -> bool;

    /// Writes one `# ` diagnostic line to the KTAP output.
    fn diag(&mut self, line: &str);

    /// The fault/event queue size asked for (`iommu_bringup.evtq`, log2 of
    /// the entries), for families with such a queue; `None`: the driver's
    /// default.
    fn event_queue_log2(&self) -> Option<u8> {
        None
    }
}

/// What one of a family's hardware checks concluded
/// ([`Probe::hardware_checks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The property held.
    Pass,
    /// It did not (the notes say what was read).
    Fail,
    /// It cannot be checked here, with the reason.
    Skip(String),
}

/// One check a family runs on its IOMMU through registers alone, with no
/// DMA master: reported as a case of the IOMMU's group, before the
/// catalogue's cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareCheck {
    /// Stable case name (`dart_identify`, ...).
    pub name: &'static str,
    /// The verdict.
    pub outcome: CheckOutcome,
    /// Evidence lines (register values read).
    pub notes: Vec<String>,
}

/// One IOMMU family's bring-up.
pub trait Probe {
    /// What the driver calls one invalidation, for the negative control's
    /// announcement ("invalidation", "UNMAP").
    const INVALIDATION: &'static str;

    /// The table format the family's driver walks.
    type Format: Codec + Clone;

    /// The driver a probe hands back, borrowing the DMA pool for `'p`.
    type Driver<'p>: Observe<Format = Self::Format>;

    /// Maps, identifies and enables the IOMMU described by `target`, with
    /// its queues and tables in `pool`.  Errors name the node and the
    /// register or value that said no.
    fn bring_up<'p>(
        env: &mut dyn ProbeEnv,
        pool: &'p DmaPool,
        target: &ProbeTarget<'_>,
    ) -> Result<Self::Driver<'p>, ProbeError>;

    /// The table format for pages of `granule` that this IOMMU can walk,
    /// and whether its tables are written for a coherent walker.
    fn table_format(
        driver: &Self::Driver<'_>,
        granule: Granule,
    ) -> Result<(Self::Format, bool), ProbeError>;

    /// `Some(reason)` when the family recognises `compatible` but its
    /// driver deliberately leaves such an IOMMU alone (an SMMU that belongs
    /// to the GPU): the plan reports the node as a SKIP with the reason and
    /// never brings it up.  The default: `None`.
    fn left_alone(_compatible: &str) -> Option<&'static str> {
        None
    }

    /// `true` when the family's IOMMUs may have a port of their own through
    /// which the CPU can drive translated accesses ([`Self::self_master`]),
    /// so they can be tested without any other DMA master.  Which of its
    /// variants have one: [`Self::has_self_master`].
    const SELF_MASTER: bool = false;

    /// `true` when the IOMMU of `compatible` has such a port (the plan runs
    /// a node without other masters only then).  The default: every
    /// variant, as [`Self::SELF_MASTER`] says.
    fn has_self_master(_compatible: &str) -> bool {
        Self::SELF_MASTER
    }

    /// What reports call that port (`dt-probe`'s `master:` line).
    const SELF_MASTER_NAME: &'static str = "the IOMMU's own translation port";

    /// A self master the device tree describes beside the IOMMU node (a
    /// Qualcomm TBU's debug block): `None` when there is none to consider,
    /// `Some(Ok(what))` with the one [`Self::self_master`] will use and
    /// why the others are not, `Some(Err(why))` when the tree describes
    /// some and none can be used.  The plan runs a node without other
    /// masters on `Some(Ok(_))`.  The default: `None`.
    fn described_port(_facts: &PortFacts<'_>) -> Option<Result<String, String>> {
        None
    }

    /// The family's own reason why an IOMMU of `compatible` with no usable
    /// master and no self master cannot be tested (the hardware facts that
    /// are missing); the plan adds it to the node's SKIP.  For a node run
    /// through its self master alone, reports add it to the master line
    /// (a port used only if a run-time check finds it).  The default:
    /// nothing to add.
    fn no_master_reason(_compatible: &str) -> Option<&'static str> {
        None
    }

    /// The IOMMU's own translation port as a DMA master (for example a
    /// CPU-driven translation or debug port), when the family has one; it
    /// maps its own registers.  Used when fewer masters than the catalogue
    /// wants sit behind the IOMMU.  The default has none.
    fn self_master<'p>(
        _env: &mut dyn ProbeEnv,
        _pool: &'p DmaPool,
        _target: &ProbeTarget<'_>,
    ) -> Result<Option<Box<dyn DmaMaster + 'p>>, ProbeError> {
        Ok(None)
    }

    /// Why no case can run on this instance although it came up (a DART
    /// the boot loader locked: its streams cannot be reprogrammed).  The
    /// group is then reported as one SKIP with this reason.  The default:
    /// `None`, every instance that comes up runs.
    fn untestable(_driver: &Self::Driver<'_>) -> Option<String> {
        None
    }

    /// What [`Self::hardware_checks`] checks, for reports (`dt-probe`);
    /// `None` when the family has no such checks.  A family with them runs
    /// an IOMMU even when no DMA master sits behind it: the checks, then
    /// the catalogue's cases as SKIPs.
    const HARDWARE_CHECKS: Option<&'static str> = None;

    /// The family's checks that need no DMA master (identification, a
    /// stream's registers read back, an invalidation that completes, the
    /// error register), run right after [`Self::bring_up`] whether or not a
    /// master sits behind the IOMMU.  The default: none.
    fn hardware_checks<'p>(
        _driver: &mut Self::Driver<'p>,
        _pool: &'p DmaPool,
        _env: &mut dyn ProbeEnv,
    ) -> Vec<HardwareCheck> {
        Vec::new()
    }

    /// Checks the IOVA ranges the catalogue will use, `(start, bytes)`,
    /// against what the IOMMU reserves or cannot translate for `streams`
    /// (virtio-iommu: the input range and each endpoint's PROBEd reserved
    /// regions).  The default accepts everything.
    fn check_test_iovas(
        _driver: &mut Self::Driver<'_>,
        _env: &mut dyn ProbeEnv,
        _streams: &[u32],
        _ranges: &[(u64, u64)],
    ) -> Result<(), ProbeError> {
        Ok(())
    }
}
