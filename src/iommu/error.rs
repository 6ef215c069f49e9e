//! Errors of the IOMMU core and drivers.  Every variant carries the stream,
//! IOVA, register or value involved.
#![forbid(unsafe_code)]

use super::pgtable::PgTableError;
use super::{IovaError, StreamId};
use crate::mm::Iova;
use core::fmt;

/// An IOMMU core or driver failure.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IommuError {
    /// The page-table engine refused or stopped.
    PageTable(PgTableError),
    /// The IOVA allocator refused.
    Iova(IovaError),
    /// The stream is already attached to this domain.
    AlreadyAttached {
        /// The stream.
        stream: StreamId,
    },
    /// The stream is not attached to this domain.
    NotAttached {
        /// The stream.
        stream: StreamId,
    },
    /// The IOMMU has no slot for this stream (stream ID out of range, no free
    /// SMR/context bank).
    NoSuchStream {
        /// The stream.
        stream: StreamId,
    },
    /// A register did not reach the expected value in time.
    RegisterTimeout {
        /// Byte offset of the register.
        offset: usize,
        /// Value last read.
        value: u64,
        /// The bits polled for.
        mask: u64,
        /// The value wanted under `mask`.
        expected: u64,
    },
    /// The IOMMU reported an error while processing a command or sync.
    CommandError {
        /// Byte offset of the register that reported it.
        offset: usize,
        /// Its value.
        value: u64,
    },
    /// The driver could not invalidate `iova..iova+size`.
    SyncFailed {
        /// First IOVA of the request.
        iova: Iova,
        /// Bytes of the request.
        size: u64,
    },
    /// Every translation context the IOMMU has is in use (the sun50i IOMMU
    /// has one: a single table base for all masters).
    NoFreeContext {
        /// How many contexts the IOMMU has.
        contexts: u32,
    },
    /// The driver does not support this page-table format or configuration.
    Unsupported {
        /// A driver-defined code (e.g. the ID register value that said no).
        value: u64,
    },
    /// A request-based IOMMU (virtio-iommu) completed a request with an
    /// error status.
    RequestStatus {
        /// Request type (virtio-iommu: 1 ATTACH .. 5 PROBE).
        request: u8,
        /// Status the device returned (virtio-iommu: 1 IOERR .. 8 NOMEM).
        status: u8,
        /// The IOVA or endpoint the request was about.
        subject: u64,
    },
    /// The transport of a paravirtual IOMMU failed.
    Virtio(crate::virtio::VirtioError),
}

impl From<PgTableError> for IommuError {
    fn from(e: PgTableError) -> Self {
        Self::PageTable(e)
    }
}

impl From<IovaError> for IommuError {
    fn from(e: IovaError) -> Self {
        Self::Iova(e)
    }
}

impl fmt::Display for IommuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PageTable(e) => write!(f, "page table: {e}"),
            Self::Iova(e) => write!(f, "iova allocator: {e:?}"),
            Self::AlreadyAttached { stream } => write!(f, "{stream} already attached"),
            Self::NotAttached { stream } => write!(f, "{stream} not attached"),
            Self::NoSuchStream { stream } => write!(f, "{stream} not available"),
            Self::RegisterTimeout {
                offset,
                value,
                mask,
                expected,
            } => write!(
                f,
                "register {offset:#x} = {value:#x}, waited for {expected:#x} under mask {mask:#x}"
            ),
            Self::CommandError { offset, value } => {
                write!(f, "command error: register {offset:#x} = {value:#x}")
            }
            Self::SyncFailed { iova, size } => {
                write!(f, "invalidation of {iova:?}+{size:#x} failed")
            }
            Self::NoFreeContext { contexts } => write!(
                f,
                "no free translation context: the IOMMU has {contexts}, all in use"
            ),
            Self::Unsupported { value } => write!(f, "unsupported ({value:#x})"),
            Self::RequestStatus {
                request,
                status,
                subject,
            } => write!(
                f,
                "request type {request} for {subject:#x} completed with status {status}"
            ),
            Self::Virtio(e) => write!(f, "virtio transport: {e}"),
        }
    }
}
