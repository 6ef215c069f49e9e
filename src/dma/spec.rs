//! A DMA master as discovery finds it, before any driver opens it: where it
//! is (a PCI function, a platform device node, or the IOMMU's own port) and
//! every stream it issues DMA with, each as (IOMMU, ID, mask) — so a master
//! with several stream IDs, or one behind two IOMMUs, is one master.
#![forbid(unsafe_code)]

use super::platform::{self, PlatformMaster};
use crate::mm::PhysRange;
use crate::platform::ccu::ControlRef;
use crate::platform::dt::DtError;
use crate::platform::pci::Function;
use alloc::string::String;
use alloc::vec::Vec;

/// One stream of a master: which IOMMU (index in the discovery list), the
/// stream ID, and the SMR-style mask of ID bits the IOMMU ignores (0 when
/// the binding has no mask cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// Index of the IOMMU in discovery order.
    pub iommu: usize,
    /// Stream (master, endpoint) ID.
    pub id: u32,
    /// ID bits the IOMMU ignores when matching.
    pub mask: u32,
}

/// Where a master sits.
#[derive(Clone, Debug)]
pub enum MasterSource {
    /// A PCI function, reached through a host bridge's `iommu-map`.
    Pci(Function),
    /// A platform device with an `iommus` property.
    Platform {
        /// Its node offset in the blob.
        offset: usize,
        /// The `compatible` the platform-master registry takes
        /// ([`platform::for_node`]), else its first one (empty when it has
        /// none).
        compatible: String,
        /// `status` is okay.
        enabled: bool,
        /// Its first `reg`, translated (`None`: absent or untranslatable).
        reg: Option<PhysRange>,
        /// Its `clocks` then `resets` (read for masters the registry
        /// drives; empty otherwise), or why they do not read.
        controls: Result<Vec<ControlRef>, DtError>,
    },
}

/// One DMA master and its streams.
#[derive(Clone, Debug)]
pub struct MasterSpec {
    /// For reports: the node name, or `edu@00:04.0`-style for PCI.
    pub name: String,
    /// Where it sits.
    pub source: MasterSource,
    /// Every stream it issues DMA with.
    pub streams: Vec<StreamSpec>,
}

impl MasterSpec {
    /// Its stream on IOMMU `iommu`, if any.
    pub fn stream_on(&self, iommu: usize) -> Option<StreamSpec> {
        self.streams.iter().copied().find(|s| s.iommu == iommu)
    }

    /// The registry line that drives this platform master, if any.
    pub fn platform_driver(&self) -> Option<&'static PlatformMaster> {
        match &self.source {
            MasterSource::Platform { compatible, .. } => platform::by_compatible(compatible),
            MasterSource::Pci(_) => None,
        }
    }

    /// The PCI function, for a PCI master.
    pub fn pci(&self) -> Option<&Function> {
        match &self.source {
            MasterSource::Pci(f) => Some(f),
            MasterSource::Platform { .. } => None,
        }
    }
}
