//! A ZDMA channel as a [`DmaMaster`]: every transfer is one simple-mode
//! copy through the channel's stream.
//!
//! "The device writes `data` to memory at `iova`" is: the CPU puts the
//! bytes in a staging buffer, the channel copies staging → `iova`; "the
//! device reads" is the copy the other way, then the CPU reads the staging
//! buffer.  The staging buffer sits at a fixed IOVA in every domain (the
//! registry's [`Fixed`] mapping), like edu's.  A copy between two IOVAs is
//! one transfer.  An error bit in ZDMA_CH_ISR becomes
//! [`DmaError::Aborted`] at the side that failed (AXI_RD_DATA: the source,
//! a device read; AXI_WR_DATA: the destination, a device write); the full
//! register picture of the last failure is [`ZdmaMaster::last_error`].
//!
//! Tested on a host model only (docs/hw/zynqmp.md §2.4).
#![forbid(unsafe_code)]

use super::{Side, Zdma, ZdmaError};
use crate::dma::platform::{Fixed, OpenArgs, Opened};
use crate::dma::{DmaError, DmaMaster, DmaReport, OpenError, StreamId};
use crate::mm::dma_pool::{DmaBuf, DmaPool};
use crate::mm::Iova;
use crate::mmio::{Mmio, VolatileMmio};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::time::Duration;

/// A ZDMA channel driving DMA through its stream.
pub struct ZdmaMaster<'p, M: Mmio> {
    zdma: Zdma<M>,
    name: String,
    stream: StreamId,
    staging: DmaBuf<'p>,
    staging_iova: Iova,
    barrier: fn(),
    last: Option<ZdmaError>,
}

impl<'p, M: Mmio> ZdmaMaster<'p, M> {
    /// Wraps a channel with its stream ID, a staging buffer and the IOVA
    /// the staging buffer is mapped at in every domain; `barrier` orders
    /// the CPU's staging writes before the channel is started.
    pub fn new(
        zdma: Zdma<M>,
        name: String,
        stream: StreamId,
        staging: DmaBuf<'p>,
        staging_iova: Iova,
        barrier: fn(),
    ) -> Self {
        Self {
            zdma,
            name,
            stream,
            staging,
            staging_iova,
            barrier,
            last: None,
        }
    }

    /// The last transfer's error with its registers, if it failed.
    pub fn last_error(&self) -> Option<ZdmaError> {
        self.last
    }

    /// The channel (diagnostics).
    pub fn channel(&self) -> &Zdma<M> {
        &self.zdma
    }

    /// The channel, mutably (host tests change the model behind it).
    pub fn channel_mut(&mut self) -> &mut Zdma<M> {
        &mut self.zdma
    }

    /// One copy; `target` is the IOVA (and `target_write` the direction)
    /// an error that names neither side is reported at: the memory the
    /// caller asked the device to write or read.
    fn transfer(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        (target, target_write): (Iova, bool),
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        match self.zdma.copy(src.0, dst.0, len, timeout) {
            Ok(d) => {
                self.last = None;
                Ok(DmaReport {
                    bytes: len,
                    status: u64::from(d.isr),
                })
            }
            Err(e) => {
                self.last = Some(e);
                Err(self.dma_error(e, src, dst, (target, target_write)))
            }
        }
    }

    fn dma_error(
        &self,
        e: ZdmaError,
        src: Iova,
        dst: Iova,
        (target, target_write): (Iova, bool),
    ) -> DmaError {
        let stream = self.stream;
        match e {
            ZdmaError::Failed { isr, status, bytes } => {
                let (iova, write) = match e.side() {
                    Some(Side::Source) => (src, false),
                    Some(Side::Destination) => (dst, true),
                    None => (target, target_write),
                };
                DmaError::Aborted {
                    stream,
                    iova,
                    write,
                    bytes: bytes as usize,
                    status: u64::from(isr) | u64::from(status) << 32,
                }
            }
            ZdmaError::Timeout {
                waited,
                isr,
                status,
                ..
            } => DmaError::Timeout {
                stream,
                iova: target,
                waited,
                status: u64::from(isr) | u64::from(status) << 32,
            },
            ZdmaError::Busy { ctrl2, status } => DmaError::NotIdle {
                stream,
                status: u64::from(ctrl2) | u64::from(status) << 32,
            },
            ZdmaError::BadLength { len } => DmaError::TooLong {
                len,
                max: self.max_transfer(),
            },
            ZdmaError::AddressTooWide { side, addr } => DmaError::Aborted {
                stream,
                iova: Iova(addr),
                write: side == Side::Destination,
                bytes: 0,
                status: 0,
            },
            ZdmaError::Dead { value, .. } => DmaError::Aborted {
                stream,
                iova: target,
                write: target_write,
                bytes: 0,
                status: u64::from(value),
            },
        }
    }

    fn check_len(&self, len: usize) -> Result<(), DmaError> {
        if len == 0 || len > self.staging.len() {
            return Err(DmaError::TooLong {
                len,
                max: self.staging.len(),
            });
        }
        Ok(())
    }
}

impl<M: Mmio> DmaMaster for ZdmaMaster<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        self.staging.len()
    }

    fn write(&mut self, iova: Iova, data: &[u8], timeout: Duration) -> Result<DmaReport, DmaError> {
        self.check_len(data.len())?;
        self.staging.write(0, data);
        (self.barrier)();
        self.transfer(self.staging_iova, iova, data.len(), (iova, true), timeout)
    }

    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.check_len(buf.len())?;
        let r = self.transfer(iova, self.staging_iova, buf.len(), (iova, false), timeout)?;
        self.staging.read(0, buf);
        Ok(r)
    }

    fn copy(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        self.check_len(len)?;
        self.transfer(src, dst, len, (src, false), timeout)
    }
}

/// The registry's opener (`dma::platform`): takes the channel at its
/// mapped registers, allocates a staging buffer of one page and asks for
/// it to be mapped at the master's staging IOVA.
pub fn open<'p>(
    mmio: VolatileMmio,
    pool: &'p DmaPool,
    a: &OpenArgs<'_>,
) -> Result<Opened<'p>, OpenError> {
    let zdma = Zdma::new(mmio, a.clock).map_err(|cause| OpenError::Zdma {
        master: String::from(a.name),
        cause,
    })?;
    let bytes = a.page.max(4096);
    let staging = pool.alloc(bytes).map_err(|cause| OpenError::Staging {
        master: String::from(a.name),
        cause,
    })?;
    let fixed = Fixed {
        phys: staging.phys(),
        iova: a.staging_iova,
        size: bytes,
    };
    let name = format!("zdma@{:#x}", a.reg.base.0);
    let note = format!(
        "{name} ({}): ZynqMP ZDMA channel in simple mode, stream {}, staging buffer at IOVA {}",
        a.name, a.stream, a.staging_iova
    );
    let master = ZdmaMaster::new(zdma, name, a.stream, staging, a.staging_iova, a.barrier);
    Ok(Opened {
        master: Box::new(master),
        fixed: alloc::vec![fixed],
        notes: alloc::vec![note],
    })
}
