//! Why a DMA master behind an IOMMU could not be opened ([`OpenError`]):
//! which master, and the typed cause (the registers could not be mapped,
//! the device's own driver said no, no staging buffer).
//!
//! `Display` renders the line the IOMMU group's failing `setup` case
//! prints (`selftest::setup_error::SetupError::Open`).
#![forbid(unsafe_code)]

use crate::dma::edu::EduError;
use crate::dma::virtio_blk::BlkError;
use crate::dma::zdma::ZdmaError;
use crate::mm::dma_pool::DmaError as PoolError;
use crate::mm::{MapCause, MapError};
use crate::platform::pci::Bdf;
use crate::virtio::OpenVirtioError;
use alloc::string::String;
use core::fmt;

/// Why a QEMU edu function could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduOpenError {
    /// The function has no BAR0 assigned.
    NoBar0,
    /// BAR0 could not be mapped.
    MapBar0(MapCause),
    /// The device did not answer as an edu.
    Edu(EduError),
}

impl fmt::Display for EduOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBar0 => f.write_str("edu without BAR0"),
            Self::MapBar0(e) => write!(f, "mapping BAR0: {e}"),
            Self::Edu(e) => write!(f, "{e}"),
        }
    }
}

/// Why a DMA master could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// A registry line was used for a master that is no platform device.
    NotPlatform {
        /// The master's name.
        master: String,
    },
    /// The platform master has no `reg` the image can translate.
    NoReg {
        /// The master's name.
        master: String,
    },
    /// Its registers could not be mapped.
    Map(MapError),
    /// The ZDMA channel did not come up.
    Zdma {
        /// The master's name.
        master: String,
        /// The driver's error.
        cause: ZdmaError,
    },
    /// The master's staging buffer could not be allocated from the pool.
    Staging {
        /// The master's name.
        master: String,
        /// The pool's error.
        cause: PoolError,
    },
    /// The master is neither a platform master of the registry nor a PCI
    /// function the image drives.
    NotDriven {
        /// The master's name.
        master: String,
    },
    /// A virtio PCI function's structures could not be opened.
    Virtio {
        /// The master's name (`virtio-blk@00:02.0`).
        master: String,
        /// Why.
        cause: OpenVirtioError,
    },
    /// The virtio-blk device did not come up.
    Blk {
        /// The master's name.
        master: String,
        /// The driver's error.
        cause: BlkError,
    },
    /// An edu function could not be opened.
    Edu {
        /// The function.
        bdf: Bdf,
        /// Why.
        cause: EduOpenError,
    },
    /// An edu's staging buffer could not be allocated from the pool.
    EduStaging {
        /// The function.
        bdf: Bdf,
        /// The pool's error.
        cause: PoolError,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPlatform { master } => write!(f, "{master}: not a platform master"),
            Self::NoReg { master } => write!(f, "{master}: no usable reg"),
            Self::Map(e) => write!(f, "{e}"),
            Self::Zdma { master, cause } => write!(f, "{master}: {cause}"),
            Self::Staging { master, cause } => write!(f, "{master}: staging buffer: {cause}"),
            Self::NotDriven { master } => {
                write!(f, "{master}: not a master this image drives")
            }
            Self::Virtio { master, cause } => write!(f, "{master}: {cause}"),
            Self::Blk { master, cause } => write!(f, "{master}: {cause}"),
            Self::Edu { bdf, cause } => write!(f, "edu {bdf}: {cause}"),
            Self::EduStaging { cause, .. } => write!(f, "staging buffer: {cause}"),
        }
    }
}

impl From<MapError> for OpenError {
    fn from(e: MapError) -> Self {
        Self::Map(e)
    }
}
