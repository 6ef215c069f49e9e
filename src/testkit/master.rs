//! One model DMA master for every model IOMMU: it asks the model to
//! translate each beat and moves the bytes in host RAM.
#![forbid(unsafe_code)]

use super::ram;
use crate::iommu::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::Iova;
use alloc::string::String;
use core::time::Duration;

/// What a model IOMMU offers its masters.
pub trait Translate {
    /// The physical address `iova` reaches for a `write` (or read) by
    /// `stream`, or `None` when the IOMMU blocks it (and records whatever
    /// fault it records).
    fn translate(&self, stream: u32, iova: u64, write: bool) -> Option<u64>;
}

/// A DMA master behind model `T`.
pub struct ModelMaster<T> {
    /// Stream.
    pub stream: StreamId,
    /// Name.
    pub name: String,
    /// The IOMMU it masters through.
    pub iommu: T,
    /// Bytes per translated beat: 4 behaves like QEMU's per-4-byte SMMU
    /// accesses (a fault part way stops the transfer there); `usize::MAX`
    /// translates the start of each transfer only.
    pub beat: usize,
    /// A dead device: accepts every transfer and moves nothing.
    pub dead: bool,
    /// Address bits the device drives (QEMU edu's `dma_mask`): IOVAs are
    /// truncated to them, silently, as edu does.
    pub dma_mask: u64,
    /// The stream ID the IOMMU really sees, when discovery got it wrong
    /// (a requester-ID alias, a wrong `iommu-map`); `None`: [`Self::stream`].
    pub wire_stream: Option<u32>,
    /// A device that never starts a write the IOMMU would refuse: it
    /// reports [`DmaError::NotIdle`] instead (as a channel still busy from
    /// an earlier job would), while every write that translates works — so
    /// a blocking case cannot tell "blocked" from "never tried" by bytes and
    /// heartbeat alone.
    pub never_starts_refused: bool,
}

impl<T: Translate> ModelMaster<T> {
    /// A live master with 4-byte beats.
    pub fn new(stream: u32, name: &str, iommu: T) -> Self {
        Self {
            stream: StreamId(stream),
            name: String::from(name),
            iommu,
            beat: 4,
            dead: false,
            dma_mask: u64::MAX,
            wire_stream: None,
            never_starts_refused: false,
        }
    }

    fn xlate(&self, iova: u64, write: bool, done: usize) -> Result<u64, DmaError> {
        let wire = self.wire_stream.unwrap_or(self.stream.0);
        self.iommu
            .translate(wire, iova & self.dma_mask, write)
            .ok_or(DmaError::Aborted {
                stream: self.stream,
                iova: Iova(iova),
                write,
                bytes: done,
                status: 0,
            })
    }
}

impl<T: Translate> DmaMaster for ModelMaster<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        4096
    }

    fn write(&mut self, iova: Iova, data: &[u8], _t: Duration) -> Result<DmaReport, DmaError> {
        if self.dead {
            return Ok(DmaReport {
                bytes: data.len(),
                status: 0,
            });
        }
        if self.never_starts_refused && self.xlate(iova.0, true, 0).is_err() {
            return Err(DmaError::NotIdle {
                stream: self.stream,
                status: 0,
            });
        }
        for (i, chunk) in data.chunks(self.beat.min(data.len().max(1))).enumerate() {
            let off = i * self.beat.min(data.len().max(1));
            let pa = self.xlate(iova.0 + off as u64, true, off)?;
            ram::write_bytes(pa, chunk);
        }
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }

    fn read(&mut self, iova: Iova, buf: &mut [u8], _t: Duration) -> Result<DmaReport, DmaError> {
        let beat = self.beat.min(buf.len().max(1));
        for (i, chunk) in buf.chunks_mut(beat).enumerate() {
            let pa = self.xlate(iova.0 + (i * beat) as u64, false, i * beat)?;
            ram::read_bytes(pa, chunk);
        }
        Ok(DmaReport {
            bytes: buf.len(),
            status: 0,
        })
    }
}
