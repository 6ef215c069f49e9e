//! Why a family could not bring an IOMMU up ([`ProbeError`]), and the
//! errors of the platform services a probe uses ([`MapError`],
//! [`OpenVirtioError`]).
//!
//! Every variant carries the data a lab needs to act on the failure — the
//! node, the `reg`, the register or value that said no, the stream — and
//! the driver's own typed error where a driver said no ([`DriverError`]).
//! `Display` renders the line the `setup` case of the IOMMU's KTAP group
//! prints (`selftest::setup_error::SetupError` wraps this type), so host
//! tests can match on fields and a board's log still reads as a sentence.
#![forbid(unsafe_code)]

use super::dart::DartError;
use super::pgtable::{Granule, LpaeConfigError};
use super::smmuv2::tbu::NoTbu;
use super::smmuv2::Smmuv2Error;
use super::smmuv3::Smmuv3Error;
use super::sun50i::Sun50iError;
use super::virtio_iommu::ViommuError;
use crate::mm::MapError;
use crate::mm::PhysRange;
use crate::platform::dt::DtError;
use crate::platform::pci::Bdf;
use crate::virtio::OpenVirtioError;
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

/// The typed error of one of the five drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverError {
    /// The SMMUv3 driver's.
    Smmuv3(Smmuv3Error),
    /// The virtio-iommu driver's.
    VirtioIommu(ViommuError),
    /// The SMMUv1/v2 driver's.
    Smmuv2(Smmuv2Error),
    /// The DART driver's.
    Dart(DartError),
    /// The sun50i driver's.
    Sun50i(Sun50iError),
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smmuv3(e) => write!(f, "{e}"),
            Self::VirtioIommu(e) => write!(f, "{e}"),
            Self::Smmuv2(e) => write!(f, "{e}"),
            Self::Dart(e) => write!(f, "{e}"),
            Self::Sun50i(e) => write!(f, "{e}"),
        }
    }
}

impl From<Smmuv3Error> for DriverError {
    fn from(e: Smmuv3Error) -> Self {
        Self::Smmuv3(e)
    }
}

impl From<ViommuError> for DriverError {
    fn from(e: ViommuError) -> Self {
        Self::VirtioIommu(e)
    }
}

impl From<Smmuv2Error> for DriverError {
    fn from(e: Smmuv2Error) -> Self {
        Self::Smmuv2(e)
    }
}

impl From<DartError> for DriverError {
    fn from(e: DartError) -> Self {
        Self::Dart(e)
    }
}

impl From<Sun50iError> for DriverError {
    fn from(e: Sun50iError) -> Self {
        Self::Sun50i(e)
    }
}

/// The bring-up step at which a driver said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading the ID registers (SMMUv3 `probe`).
    Probe,
    /// Identifying the hardware (SMMUv2, DART: the ID/PARAMS registers).
    Identify,
    /// Checking `reg` against the register pages the ID registers imply.
    RegSize,
    /// Preparing the stream table of this stream ID (SMMUv3).
    Stream(u32),
    /// The reset sequence.
    Reset,
    /// The enable sequence.
    Enable,
    /// Bringing up the virtio device of this PCI function.
    Function(Bdf),
}

/// The register block whose size a `reg` must cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegBlock {
    /// An SMMUv3 frame: Page 0 + Page 1, or Page 0 alone when Page 1's
    /// registers are at Page 0 offsets (`cavium,cn9900-broken-page1-regspace`).
    Smmuv3 {
        /// Page 0 only.
        page0_only: bool,
    },
    /// The DART binding's register span.
    Dart,
    /// The sun50i register block.
    Sun50i,
}

/// Why no table format of the run's granule fits the IOMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// SMMUv3 IDR5 does not offer the granule.
    Idr5 {
        /// The granule asked for.
        granule: Granule,
    },
    /// virtio-iommu `page_size_mask` has no page size dividing the granule.
    PageSizeMask {
        /// The device's `page_size_mask`.
        mask: u64,
        /// The granule asked for.
        granule: Granule,
    },
    /// SMMUv2: no context format walks tables of the granule.
    NoContextFormat {
        /// The granule asked for.
        granule: Granule,
        /// SMMU_IDR0.
        id0: u32,
        /// SMMU_IDR2.
        id2: u32,
    },
    /// sun50i: 4 KiB pages only (docs/hw/sun50i.md §4).
    FourKibOnly {
        /// The granule asked for.
        granule: Granule,
    },
    /// The LPAE codec refused the configuration.
    Lpae(LpaeConfigError),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = |g: &Granule| g.size() >> 10;
        match self {
            Self::Idr5 { granule } => write!(
                f,
                "IDR5 does not offer the {} KiB granule asked for",
                kib(granule)
            ),
            Self::PageSizeMask { mask, granule } => write!(
                f,
                "page_size_mask {mask:#x} has no page size dividing the {} KiB granule",
                kib(granule)
            ),
            Self::NoContextFormat { granule, id0, id2 } => write!(
                f,
                "no context format walks {} KiB tables: ID2 {id2:#010x} offers no AArch64 table of that granule and AArch32 long-descriptor contexts are 4 KiB only (ID0 {id0:#010x})",
                kib(granule)
            ),
            Self::FourKibOnly { granule } => write!(
                f,
                "the IOMMU has 4 KiB pages only (docs/hw/sun50i.md §4); the {} KiB granule asked for cannot be walked",
                kib(granule)
            ),
            Self::Lpae(e) => write!(f, "LPAE configuration: {e}"),
        }
    }
}

impl From<LpaeConfigError> for FormatError {
    fn from(e: LpaeConfigError) -> Self {
        Self::Lpae(e)
    }
}

/// Why a family could not bring an IOMMU up, choose its table format,
/// open its own port, or accept the test IOVAs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The node has no `reg` the image can translate.
    NoReg {
        /// Node name.
        node: String,
    },
    /// `reg` is smaller than the register block the driver reaches.
    RegTooSmall {
        /// Node name.
        node: String,
        /// The node's `reg`.
        reg: PhysRange,
        /// Bytes the block needs.
        need: u64,
        /// Which block.
        block: RegBlock,
    },
    /// The family took the node, but its driver knows no variant of this
    /// `compatible`.
    UnknownCompatible {
        /// Node name.
        node: String,
        /// The node's `compatible`.
        compatible: String,
        /// What the driver takes ("an SMMUv1/v2").
        expected: &'static str,
    },
    /// The driver deliberately leaves such an IOMMU alone.
    LeftAlone {
        /// Node name.
        node: String,
        /// Why.
        why: &'static str,
    },
    /// A virtio-iommu node without its PCI function.
    NoFunction {
        /// Node name.
        node: String,
    },
    /// A register block could not be mapped.
    Map(MapError),
    /// The virtio-iommu's PCI function could not be opened.
    OpenVirtio {
        /// Node name.
        node: String,
        /// The function.
        bdf: Bdf,
        /// Why.
        cause: OpenVirtioError,
    },
    /// The driver said no at `step`.
    Driver {
        /// Node name.
        node: String,
        /// Where in the bring-up.
        step: Step,
        /// The driver's error.
        cause: DriverError,
    },
    /// A sun50i block that reads as nothing, with what the CCU reads for
    /// its clocks and resets.
    Unanswered {
        /// Node name.
        node: String,
        /// The driver's error (which register read what).
        cause: Sun50iError,
        /// What the CCU reads for the node's clocks and resets
        /// (`sun50i::probe::Controls::summary`).
        ccu: String,
    },
    /// No table format of the run's granule fits.
    Format {
        /// Node name.
        node: String,
        /// Why.
        cause: FormatError,
    },
    /// The tree describes TBUs, none usable as the debug port.
    NoTbu {
        /// Node name.
        node: String,
        /// Why each is not.
        cause: NoTbu,
    },
    /// The chosen TBU's `reg` does not translate.
    TbuReg {
        /// Node name of the SMMU.
        node: String,
        /// Node name of the TBU.
        tbu: String,
        /// Why its `reg` does not translate (boxed: a `DtError` owns its
        /// node name, and this failure is rare).
        cause: Box<DtError>,
    },
    /// A test IOVA range lies outside the IOMMU's input range.
    IovaOutsideInput {
        /// Node name.
        node: String,
        /// Start of the test range.
        start: u64,
        /// Its bytes.
        size: u64,
        /// Lowest input address.
        lo: u64,
        /// Highest input address.
        hi: u64,
    },
    /// Asking an endpoint for its reserved regions failed (virtio-iommu
    /// PROBE).
    Endpoint {
        /// Node name.
        node: String,
        /// The endpoint (stream) ID.
        sid: u32,
        /// The driver's error.
        cause: ViommuError,
    },
    /// A test IOVA range collides with an endpoint's reserved region.
    IovaReserved {
        /// Node name.
        node: String,
        /// Start of the test range.
        start: u64,
        /// Its bytes.
        size: u64,
        /// The endpoint (stream) ID.
        sid: u32,
        /// First address of the reserved region.
        region_start: u64,
        /// Last address of the reserved region.
        region_end: u64,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoReg { node } => write!(f, "{node}: no usable reg"),
            Self::RegTooSmall {
                node,
                reg,
                need,
                block,
            } => match block {
                RegBlock::Smmuv3 { page0_only } => write!(
                    f,
                    "{node}: reg {reg} is {:#x} bytes, smaller than the {need:#x}-byte SMMUv3 frame ({})",
                    reg.size,
                    if *page0_only {
                        "Page 0 only, cavium,cn9900-broken-page1-regspace"
                    } else {
                        "Page 0 + Page 1"
                    }
                ),
                RegBlock::Dart => write!(
                    f,
                    "{node}: reg {reg} is {:#x} bytes; the DART binding requires {need:#x}",
                    reg.size
                ),
                RegBlock::Sun50i => write!(
                    f,
                    "{node}: reg {reg} is {:#x} bytes, smaller than the {need:#x}-byte register block",
                    reg.size
                ),
            },
            Self::UnknownCompatible {
                node,
                compatible,
                expected,
            } => write!(f, "{node}: compatible {compatible:?} is not {expected}"),
            Self::LeftAlone { node, why } => write!(f, "{node}: {why}"),
            Self::NoFunction { node } => write!(f, "{node}: no PCI function"),
            Self::Map(e) => write!(f, "{e}"),
            Self::OpenVirtio { node, bdf, cause } => write!(f, "{node} ({bdf}): {cause}"),
            Self::Driver { node, step, cause } => match step {
                Step::Probe => write!(f, "{node} probe: {cause}"),
                Step::Identify | Step::RegSize => write!(f, "{node}: {cause}"),
                Step::Stream(sid) => write!(f, "{node} stream {sid:#x}: {cause}"),
                Step::Reset => write!(f, "{node} reset: {cause}"),
                Step::Enable => write!(f, "{node} enable: {cause}"),
                Step::Function(bdf) => write!(f, "{node} ({bdf}): {cause}"),
            },
            Self::Unanswered { node, cause, ccu } => write!(f, "{node}: {cause}; {ccu}"),
            Self::Format { node, cause } => write!(f, "{node}: {cause}"),
            Self::NoTbu { node, cause } => write!(f, "{node}: {cause}"),
            Self::TbuReg { node, tbu, cause } => write!(f, "{node} {tbu}: reg: {cause}"),
            Self::IovaOutsideInput {
                node,
                start,
                size,
                lo,
                hi,
            } => write!(
                f,
                "{node}: test IOVAs {start:#x}+{size:#x} outside the input range {lo:#x}..={hi:#x}"
            ),
            Self::Endpoint { node, sid, cause } => {
                write!(f, "{node}: PROBE endpoint {sid:#x}: {cause}")
            }
            Self::IovaReserved {
                node,
                start,
                size,
                sid,
                region_start,
                region_end,
            } => write!(
                f,
                "{node}: test IOVAs {start:#x}+{size:#x} collide with endpoint {sid:#x}'s reserved region {region_start:#x}..={region_end:#x}"
            ),
        }
    }
}

impl From<MapError> for ProbeError {
    fn from(e: MapError) -> Self {
        Self::Map(e)
    }
}

impl ProbeError {
    /// `node`'s driver said no at `step` (for `map_err`).
    pub fn driver<E: Into<DriverError>>(node: &str, step: Step) -> impl FnOnce(E) -> Self + '_ {
        move |cause| Self::Driver {
            node: String::from(node),
            step,
            cause: cause.into(),
        }
    }

    /// [`ProbeError::NoReg`] for `node`.
    pub fn no_reg(node: &str) -> Self {
        Self::NoReg {
            node: String::from(node),
        }
    }
}
