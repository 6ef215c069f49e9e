//! Errors of the virtio transport.  Every variant names the structure,
//! queue or register involved and the value that was wrong; the driver that
//! owns the device adds the device's name when it reports one.
#![forbid(unsafe_code)]

use crate::mm::MapCause;
use core::fmt;
use core::time::Duration;

/// A virtio transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioError {
    /// A required `virtio_pci_cap` is missing (virtio 1.2 §4.1.4).
    MissingCapability {
        /// `cfg_type` (1 common, 2 notify, 3 ISR, 4 device).
        cfg_type: u8,
    },
    /// The structures live in different BARs; this transport maps one BAR.
    RegionsInSeveralBars {
        /// BAR of the common configuration.
        common_bar: u8,
        /// `cfg_type` of the structure elsewhere.
        cfg_type: u8,
        /// Its BAR.
        bar: u8,
    },
    /// A structure does not fit in its BAR.
    RegionOutsideBar {
        /// `cfg_type`.
        cfg_type: u8,
        /// Offset in the BAR.
        offset: u32,
        /// Length.
        length: u32,
        /// BAR size.
        bar_size: u64,
    },
    /// A structure's offset is not 4-byte aligned (§4.1.4.1: offsets are
    /// 4-byte aligned), so register accesses to it would be misaligned.
    Misaligned {
        /// `cfg_type`.
        cfg_type: u8,
        /// Offset in the BAR.
        offset: u32,
    },
    /// A queue's notify address (`queue_notify_off` × multiplier) falls
    /// outside the notification structure or is misaligned.
    NotifyOutside {
        /// Queue index.
        queue: u16,
        /// `queue_notify_off` as read.
        notify_off: u16,
        /// The resulting BAR offset.
        at: usize,
    },
    /// The BAR the capabilities name is not assigned.
    BarNotAssigned {
        /// BAR index.
        bar: u8,
    },
    /// `device_status` did not read back 0 after a reset (§4.1.4.3.2).
    ResetTimeout {
        /// Last status read.
        status: u8,
    },
    /// The device does not offer VIRTIO_F_VERSION_1 (legacy only).
    NoVersion1 {
        /// Features offered.
        offered: u64,
    },
    /// Features the driver requires are not offered.
    MissingFeatures {
        /// The missing feature bits.
        missing: u64,
    },
    /// FEATURES_OK did not stick (§3.1.1 step 6).
    FeaturesRejected {
        /// Status read back.
        status: u8,
    },
    /// The device has no such queue (`queue_size` reads 0).
    NoQueue {
        /// Queue index.
        queue: u16,
    },
    /// The queue size is not a power of two or exceeds the device's.
    BadQueueSize {
        /// Queue index.
        queue: u16,
        /// Size asked for.
        want: u16,
        /// Device maximum.
        max: u16,
    },
    /// The queue memory is too small for the rings.
    QueueMemory {
        /// Queue index.
        queue: u16,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// Not enough free descriptors for a chain.
    QueueFull {
        /// Queue index.
        queue: u16,
        /// Descriptors needed.
        need: usize,
        /// Descriptors free.
        free: usize,
    },
    /// The device returned a used element naming no chain in flight.
    BadUsedId {
        /// Queue index.
        queue: u16,
        /// The id it returned.
        id: u32,
    },
    /// The device did not return a buffer in time.
    UsedTimeout {
        /// Queue index.
        queue: u16,
        /// How long we waited.
        waited: Duration,
        /// `device_status` when we gave up.
        status: u8,
    },
    /// The device set DEVICE_NEEDS_RESET (§2.1.1): it met an error (QEMU
    /// does this when a descriptor does not translate).
    NeedsReset {
        /// Queue being waited on.
        queue: u16,
        /// `device_status`.
        status: u8,
    },
    /// A device-config access outside the device-specific structure.
    ConfigOutside {
        /// Offset asked for.
        offset: usize,
        /// Length of the structure.
        length: u32,
    },
    /// No DMA memory for a queue or a request.
    NoMemory {
        /// Bytes asked for.
        bytes: u64,
    },
}

impl fmt::Display for VirtioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::MissingCapability { cfg_type } => {
                write!(f, "no virtio_pci_cap of cfg_type {cfg_type}")
            }
            Self::RegionsInSeveralBars {
                common_bar,
                cfg_type,
                bar,
            } => write!(
                f,
                "common config in BAR{common_bar} but cfg_type {cfg_type} in BAR{bar}"
            ),
            Self::RegionOutsideBar {
                cfg_type,
                offset,
                length,
                bar_size,
            } => write!(
                f,
                "cfg_type {cfg_type} at {offset:#x}+{length:#x} outside its {bar_size:#x}-byte BAR"
            ),
            Self::Misaligned { cfg_type, offset } => {
                write!(f, "cfg_type {cfg_type} at misaligned offset {offset:#x}")
            }
            Self::NotifyOutside {
                queue,
                notify_off,
                at,
            } => write!(
                f,
                "queue {queue}: queue_notify_off {notify_off} puts the notify register at {at:#x}, outside the notify structure"
            ),
            Self::BarNotAssigned { bar } => write!(f, "BAR{bar} not assigned"),
            Self::ResetTimeout { status } => {
                write!(f, "device_status {status:#x} after reset, waited for 0")
            }
            Self::NoVersion1 { offered } => {
                write!(f, "VIRTIO_F_VERSION_1 not offered (features {offered:#x})")
            }
            Self::MissingFeatures { missing } => {
                write!(f, "required features {missing:#x} not offered")
            }
            Self::FeaturesRejected { status } => {
                write!(f, "FEATURES_OK not accepted (device_status {status:#x})")
            }
            Self::NoQueue { queue } => write!(f, "queue {queue}: queue_size reads 0"),
            Self::BadQueueSize { queue, want, max } => {
                write!(f, "queue {queue}: size {want} (device maximum {max})")
            }
            Self::QueueMemory { queue, need, have } => {
                write!(f, "queue {queue}: rings need {need} bytes, have {have}")
            }
            Self::QueueFull { queue, need, free } => {
                write!(f, "queue {queue}: {need} descriptors needed, {free} free")
            }
            Self::BadUsedId { queue, id } => {
                write!(
                    f,
                    "queue {queue}: used ring returned id {id}, not in flight"
                )
            }
            Self::UsedTimeout {
                queue,
                waited,
                status,
            } => write!(
                f,
                "queue {queue}: no used buffer after {waited:?} (device_status {status:#x})"
            ),
            Self::NeedsReset { queue, status } => write!(
                f,
                "queue {queue}: device set DEVICE_NEEDS_RESET (device_status {status:#x})"
            ),
            Self::ConfigOutside { offset, length } => write!(
                f,
                "device config access at {offset:#x} outside its {length:#x} bytes"
            ),
            Self::NoMemory { bytes } => write!(f, "no DMA memory for {bytes:#x} bytes"),
        }
    }
}

/// A virtio PCI function's structures could not be found or mapped
/// (`iommu::probe::ProbeEnv::open_virtio`, a virtio-blk master).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenVirtioError {
    /// The capabilities or the BAR do not describe usable structures.
    Virtio(VirtioError),
    /// The BAR holding them could not be mapped.
    MapBar {
        /// BAR index.
        index: u8,
        /// Why the identity map refused it.
        cause: MapCause,
    },
}

impl fmt::Display for OpenVirtioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Virtio(e) => write!(f, "{e}"),
            Self::MapBar { index, cause } => write!(f, "mapping BAR{index}: {cause}"),
        }
    }
}

impl From<VirtioError> for OpenVirtioError {
    fn from(e: VirtioError) -> Self {
        Self::Virtio(e)
    }
}
