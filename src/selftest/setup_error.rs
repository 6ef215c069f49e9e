//! Why an IOMMU's group could not reach its first case ([`SetupError`]):
//! the failing `setup` case of the group, as the family runner
//! (`selftest::families::run_family`), the test context
//! (`iommu_cases::IommuTest::setup`) and the preflight
//! (`selftest::preflight`) report it.
//!
//! Each variant carries the data a lab acts on — the node, the domain
//! index, the master and its stream, the IOVA, the register and the value
//! — and the typed error of the layer that said no: the family's probe
//! ([`ProbeError`], with the driver's own error inside), the core
//! ([`IommuError`]), the DMA pool ([`PoolError`]), a master's opener
//! ([`OpenError`]), a survived bus fault ([`BusFault`]).  `Display`
//! renders the sentence the KTAP `setup` case prints; host tests match on
//! the fields.
#![forbid(unsafe_code)]

use crate::dma::{DmaError, OpenError, StreamId};
use crate::iommu::probe::ProbeError;
use crate::iommu::IommuError;
use crate::mm::dma_pool::DmaError as PoolError;
use crate::mm::{Iova, PhysRange};
use crate::mmio::BusFault;
use alloc::string::String;
use core::fmt;

/// What the IOMMU reported about a preflight DMA that did not land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSeen {
    /// A fault record for another stream: the stream ID the IOMMU sees
    /// for this master.
    OtherStream(StreamId),
    /// A fault record for the master's own stream: translation failed.
    OwnStream,
    /// No fault record named any stream.
    Nothing,
}

/// Why an IOMMU's group could not reach its first case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The family could not bring the IOMMU up, choose its table format,
    /// open its own port or accept the test IOVAs.
    Probe(ProbeError),
    /// Domain `index` could not be created.
    Domain {
        /// The domain's index (0 = the first master's).
        index: usize,
        /// The core's error.
        cause: IommuError,
    },
    /// A master could not be opened.
    Open(OpenError),
    /// The bring-up survived a bus fault on a register access.
    BusFault {
        /// The IOMMU's node name.
        node: String,
        /// Its `reg` (the fault is placed in it, or outside it).
        reg: Option<PhysRange>,
        /// The fault.
        fault: BusFault,
    },
    /// Fewer domains than masters on an IOMMU with a context per stream.
    TooFewDomains {
        /// Masters opened.
        masters: usize,
        /// Domains created.
        domains: usize,
    },
    /// A master's fixed mapping (staging buffer, queue) could not be made.
    MapFixed {
        /// Its IOVA.
        iova: Iova,
        /// The domain's tag, as the driver prints it.
        domain: String,
        /// The core's error.
        cause: IommuError,
    },
    /// A master could not be attached to its domain.
    Attach {
        /// The master's name.
        master: String,
        /// The domain's tag, as the driver prints it.
        domain: String,
        /// The core's error.
        cause: IommuError,
    },
    /// No heartbeat buffer from the DMA pool.
    HeartbeatBuffer(PoolError),
    /// A heartbeat buffer could not be mapped.
    MapHeartbeat {
        /// Its IOVA.
        iova: Iova,
        /// The domain's tag, as the driver prints it.
        domain: String,
        /// The core's error.
        cause: IommuError,
    },
    /// No preflight buffer from the DMA pool.
    PreflightBuffer(PoolError),
    /// A preflight IOVA could not be mapped.
    PreflightMap {
        /// The IOVA.
        iova: Iova,
        /// The master it was for.
        master: String,
        /// The core's error.
        cause: IommuError,
    },
    /// The master's DMA lands at the low preflight IOVA but not at a high
    /// one: the master's addressing limit, not the IOMMU.
    MasterTooNarrow {
        /// The master's name.
        master: String,
        /// The IOVA its DMA reached.
        low: Iova,
        /// The IOVA its DMA did not.
        iova: Iova,
        /// What the master reported (`None`: no error).
        how: Option<DmaError>,
    },
    /// A DMA to a mapped IOVA in the master's own domain did not land.
    NotLanded {
        /// The master's name.
        master: String,
        /// The stream discovery gave it.
        stream: StreamId,
        /// The IOVA.
        iova: Iova,
        /// What the master reported (`None`: no error).
        how: Option<DmaError>,
        /// What the IOMMU's fault records said.
        seen: FaultSeen,
    },
}

/// "no error reported" or the master's error, as the preflight prints it.
struct How<'a>(&'a Option<DmaError>);

impl fmt::Display for How<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("no error reported"),
            Some(e) => write!(f, "{e:?}"),
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Probe(e) => write!(f, "{e}"),
            Self::Domain { index, cause } => write!(f, "domain {index}: {cause}"),
            Self::Open(e) => write!(f, "{e}"),
            Self::BusFault { node, reg, fault } => {
                write!(f, "{node}: bus fault at ")?;
                match reg {
                    Some(r) if fault.addr >= r.base.0 && fault.addr - r.base.0 < r.size => {
                        write!(f, "register offset {:#x} of its reg {r}", fault.addr - r.base.0)?
                    }
                    Some(r) => write!(
                        f,
                        "outside its reg {r} (a master's or PCI function's registers)"
                    )?,
                    None => f.write_str("(the node has no reg)")?,
                }
                write!(f, ", address {:#x}: {fault}", fault.addr)
            }
            Self::TooFewDomains { masters, domains } => write!(
                f,
                "need one domain per master: {masters} masters, {domains} domains"
            ),
            Self::MapFixed {
                iova,
                domain,
                cause,
            } => write!(f, "mapping staging IOVA {iova} in {domain}: {cause}"),
            Self::Attach {
                master,
                domain,
                cause,
            } => write!(f, "attaching {master} to {domain}: {cause}"),
            Self::HeartbeatBuffer(e) => write!(f, "heartbeat buffer: {e}"),
            Self::MapHeartbeat {
                iova,
                domain,
                cause,
            } => write!(f, "mapping heartbeat IOVA {iova} in {domain}: {cause}"),
            Self::PreflightBuffer(e) => write!(f, "preflight buffer: {e}"),
            Self::PreflightMap {
                iova,
                master,
                cause,
            } => write!(f, "preflight: mapping {iova} for {master}: {cause}"),
            Self::MasterTooNarrow {
                master,
                low,
                iova,
                how,
            } => write!(
                f,
                "{master} reaches IOVA {low} but its DMA to IOVA {iova} did not land ({}): the master cannot address that high (on QEMU, edu's dma_mask truncates addresses; give it -device edu,dma_mask=0xffffffffffffffff), so the cases' results would not be about the IOMMU",
                How(how)
            ),
            Self::NotLanded {
                master,
                stream,
                iova,
                how,
                seen,
            } => {
                write!(
                    f,
                    "{master} ({stream}): DMA to mapped IOVA {iova} in its own domain did not land ({}); ",
                    How(how)
                )?;
                match seen {
                    FaultSeen::OtherStream(s) => write!(
                        f,
                        "the IOMMU reported a fault for {s} instead — that is the stream ID it sees for this master"
                    ),
                    FaultSeen::OwnStream => f.write_str(
                        "the IOMMU reported a fault for its stream, so translation itself failed",
                    ),
                    FaultSeen::Nothing => write!(
                        f,
                        "no fault record named any stream: the IOMMU may not see {stream} for this master (check iommu-map / iommus and requester-ID aliases)"
                    ),
                }
            }
        }
    }
}

impl From<ProbeError> for SetupError {
    fn from(e: ProbeError) -> Self {
        Self::Probe(e)
    }
}

impl From<OpenError> for SetupError {
    fn from(e: OpenError) -> Self {
        Self::Open(e)
    }
}
