//! edu as a [`DmaMaster`]: every transfer goes through the IOMMU.
//!
//! edu's 4 KiB buffer is only reachable by DMA (docs/hw/qemu-virt.md §2), so "the
//! device writes these bytes to memory" is two DMAs: the CPU puts the bytes
//! in a staging buffer, edu reads them in through the staging IOVA, then
//! writes them out to the target IOVA.  The staging IOVA must be mapped in
//! every domain the master is attached to (the self-test setup does that);
//! it is fixed per master so re-attaching to another domain keeps it valid.
#![forbid(unsafe_code)]

use super::edu::{Direction, Edu, EduError, BUFFER_SIZE};
use super::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::dma_pool::DmaBuf;
use crate::mm::Iova;
use crate::mmio::Mmio;
use alloc::string::String;
use core::time::Duration;

/// An edu device driving DMA through its stream.
pub struct EduMaster<'p, M: Mmio> {
    edu: Edu<M>,
    name: String,
    stream: StreamId,
    staging: DmaBuf<'p>,
    staging_iova: Iova,
}

impl<'p, M: Mmio> EduMaster<'p, M> {
    /// Wraps a probed edu with its stream ID, a staging buffer of at least
    /// 4 KiB and the IOVA the staging buffer is mapped at.
    pub fn new(
        edu: Edu<M>,
        name: String,
        stream: StreamId,
        staging: DmaBuf<'p>,
        staging_iova: Iova,
    ) -> Self {
        Self {
            edu,
            name,
            stream,
            staging,
            staging_iova,
        }
    }

    /// The staging buffer (to map it in each domain).
    pub fn staging(&self) -> &DmaBuf<'p> {
        &self.staging
    }

    /// The IOVA the staging buffer must be mapped at.
    pub fn staging_iova(&self) -> Iova {
        self.staging_iova
    }

    fn err(&self, iova: Iova, e: EduError) -> DmaError {
        match e {
            EduError::Timeout(t) => DmaError::Timeout {
                stream: self.stream,
                iova,
                waited: t.waited,
                status: 1,
            },
            EduError::OutsideBuffer { len, .. } => DmaError::TooLong {
                len: len as usize,
                max: BUFFER_SIZE as usize,
            },
            // edu reports no errors of its own (docs/hw/qemu-virt.md §2): anything
            // else is the driver refusing the request, reported as an abort
            // before any byte moved.
            _ => DmaError::Aborted {
                stream: self.stream,
                iova,
                write: false,
                bytes: 0,
                status: 0,
            },
        }
    }

    fn check_len(&self, len: usize) -> Result<(), DmaError> {
        if len == 0 || len > BUFFER_SIZE as usize || len > self.staging.len() {
            return Err(DmaError::TooLong {
                len,
                max: BUFFER_SIZE as usize,
            });
        }
        Ok(())
    }
}

impl<M: Mmio> DmaMaster for EduMaster<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        BUFFER_SIZE as usize
    }

    fn write(
        &mut self,
        iova: Iova,
        data: &[u8],
        _timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.check_len(data.len())?;
        let len = data.len() as u64;
        self.staging.write(0, data);
        self.edu
            .transfer(Direction::FromMemory, self.staging_iova, 0, len)
            .map_err(|e| self.err(self.staging_iova, e))?;
        self.edu
            .transfer(Direction::ToMemory, iova, 0, len)
            .map_err(|e| self.err(iova, e))?;
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }

    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.check_len(buf.len())?;
        let len = buf.len() as u64;
        self.edu
            .transfer(Direction::FromMemory, iova, 0, len)
            .map_err(|e| self.err(iova, e))?;
        self.edu
            .transfer(Direction::ToMemory, self.staging_iova, 0, len)
            .map_err(|e| self.err(self.staging_iova, e))?;
        self.staging.read(0, buf);
        Ok(DmaReport {
            bytes: buf.len(),
            status: 0,
        })
    }

    fn copy(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        _timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.check_len(len)?;
        self.edu
            .transfer(Direction::FromMemory, src, 0, len as u64)
            .map_err(|e| self.err(src, e))?;
        self.edu
            .transfer(Direction::ToMemory, dst, 0, len as u64)
            .map_err(|e| self.err(dst, e))?;
        Ok(DmaReport {
            bytes: len,
            status: 0,
        })
    }
}
