//! virtio-blk (virtio 1.2 §5.2) as a [`DmaMaster`]: a second, fast kind of
//! DMA engine that reads and writes memory through its IOMMU.
//!
//! With `iommu_platform=on` (VIRTIO_F_ACCESS_PLATFORM) everything the device
//! touches is an IOVA: its virtqueue, the request headers and status bytes,
//! and the data buffers.  The queue and a page of request memory are
//! mapped at fixed IOVAs in every domain (like edu's staging buffer).
//!
//! "The device writes `data` to memory at `iova`" is two requests through
//! scratch sector 0 of the disk: the CPU stages `data` in request memory,
//! VIRTIO_BLK_T_OUT makes the device read it into the sector, then
//! VIRTIO_BLK_T_IN makes the device write the sector to `iova`.  Requests
//! move whole 512-byte sectors (QEMU `virtio_blk_sect_range_ok`), so the
//! data buffer is chained with a pad/sink buffer to fill the sector: only
//! `len` bytes are read from or written to `iova`.
//!
//! A DMA the IOMMU blocks makes QEMU mark the device broken
//! ("virtio: bogus descriptor", DEVICE_NEEDS_RESET, §2.1.1) and never
//! return the request; the master then resets and re-initialises the device
//! and reports the transfer as aborted.
#![forbid(unsafe_code)]

use super::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::dma_pool::{DmaBuf, DmaPool};
use crate::mm::{Iova, PhysAddr};
use crate::mmio::Mmio;
use crate::time::Clock;
use crate::virtio::transport::F_ACCESS_PLATFORM;
use crate::virtio::{Buffer, Layout, SplitQueue, Transport, VirtioError};
use alloc::string::String;
use core::time::Duration;

/// Modern virtio-pci device ID of virtio-blk (0x1040 + 2, virtio 1.2 §4.1.2.1).
pub const PCI_DEVICE: u16 = 0x1042;
/// Transitional virtio-pci device ID (also has the modern capabilities).
pub const PCI_DEVICE_TRANSITIONAL: u16 = 0x1001;

/// Sector size of requests (§5.2.6).
pub const SECTOR: usize = 512;
/// VIRTIO_BLK_T_IN: device writes memory.
const T_IN: u32 = 0;
/// VIRTIO_BLK_T_OUT: device reads memory.
const T_OUT: u32 = 1;
/// VIRTIO_BLK_S_OK.
const S_OK: u8 = 0;
/// Queue entries (a request is at most 4 descriptors).
const QUEUE_SIZE: u16 = 8;
/// Scratch sector every transfer goes through.
const SCRATCH_SECTOR: u64 = 0;

/// Request memory layout (one page at a fixed IOVA).
const HDR: usize = 0;
const STATUS: usize = 16;
const STAGING: usize = 512;
const SINK: usize = 1024;

/// Why bring-up failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// The transport failed.
    Transport(VirtioError),
    /// The disk has no sector to scratch.
    NoCapacity,
}

impl From<VirtioError> for BlkError {
    fn from(e: VirtioError) -> Self {
        Self::Transport(e)
    }
}

impl core::fmt::Display for BlkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "{e}"),
            Self::NoCapacity => write!(f, "capacity 0 sectors"),
        }
    }
}

/// Who the master is and where its fixed memory sits in IOVA space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Name for reports (`virtio-blk@00:06.0`).
    pub name: String,
    /// Stream ID its DMA carries.
    pub stream: StreamId,
    /// IOVA of the virtqueue.
    pub queue_iova: Iova,
    /// IOVA of the request memory.
    pub req_iova: Iova,
    /// Bytes of each (the IOMMU page size, at least 4 KiB).
    pub page: u64,
}

/// A virtio-blk device driving DMA through its stream.
pub struct VirtioBlkMaster<'p, 'c, M: Mmio> {
    t: Transport<'c, M>,
    q: SplitQueue<'p>,
    req: DmaBuf<'p>,
    name: String,
    stream: StreamId,
    req_iova: Iova,
    capacity: u64,
    resets: u32,
}

impl<'p, 'c, M: Mmio> VirtioBlkMaster<'p, 'c, M> {
    /// Brings the device up with its queue and request memory from `pool`
    /// at the IOVAs `at` names.  VIRTIO_F_ACCESS_PLATFORM is required:
    /// without it the device's DMA would bypass the IOMMU under test.
    pub fn bring_up(
        bar: M,
        layout: Layout,
        clock: &'c dyn Clock,
        pool: &'p DmaPool,
        barrier: fn(),
        at: Placement,
    ) -> Result<Self, BlkError> {
        let Placement {
            name,
            stream,
            queue_iova,
            req_iova,
            page,
        } = at;
        let bytes = page.max(4096);
        let alloc = |b: u64| {
            pool.alloc(b)
                .map_err(|_| VirtioError::NoMemory { bytes: b })
        };
        let qmem = alloc(bytes)?;
        let req = alloc(bytes)?;
        let q = SplitQueue::new(0, qmem, queue_iova.0, QUEUE_SIZE, barrier)?;
        let mut m = Self {
            t: Transport::new(bar, layout, clock),
            q,
            req,
            name,
            stream,
            req_iova,
            capacity: 0,
            resets: 0,
        };
        m.init()?;
        m.capacity = m.t.cfg_read64(0)?;
        if m.capacity == 0 {
            return Err(BlkError::NoCapacity);
        }
        Ok(m)
    }

    fn init(&mut self) -> Result<(), VirtioError> {
        self.t.negotiate(F_ACCESS_PLATFORM, 0)?;
        self.q.reset();
        self.t.setup_queue(&self.q)?;
        self.t.driver_ok();
        Ok(())
    }

    /// (physical address, IOVA, bytes) of the queue and the request memory:
    /// both must be mapped read/write in every domain the master uses.
    pub fn fixed(&self) -> [(PhysAddr, Iova, u64); 2] {
        [
            (
                self.q.memory().phys(),
                Iova(self.q.desc_addr()),
                self.q.memory().len() as u64,
            ),
            (self.req.phys(), self.req_iova, self.req.len() as u64),
        ]
    }

    /// Disk capacity in sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Device resets after blocked transfers so far.
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Runs one request moving the scratch sector from/to `data` (chained
    /// buffers filling exactly one sector).
    fn request(
        &mut self,
        kind: u32,
        data: &[Buffer],
        at: Iova,
        timeout: Duration,
    ) -> Result<(), DmaError> {
        self.req.write_u32(HDR, kind);
        self.req.write_u32(HDR + 4, 0);
        self.req.write_u64(HDR + 8, SCRATCH_SECTOR);
        self.req.write(STATUS, &[0xff]);
        let mut chain = [Buffer {
            addr: 0,
            len: 0,
            device_writes: false,
        }; 4];
        chain[0] = Buffer {
            addr: self.req_iova.0 + HDR as u64,
            len: 16,
            device_writes: false,
        };
        let n = data.len().min(2);
        chain[1..1 + n].copy_from_slice(&data[..n]);
        chain[1 + n] = Buffer {
            addr: self.req_iova.0 + STATUS as u64,
            len: 1,
            device_writes: true,
        };
        let write = kind == T_IN;
        let stream = self.stream;
        let aborted = |status: u64| DmaError::Aborted {
            stream,
            iova: at,
            write,
            bytes: 0,
            status,
        };
        if self.q.push(&chain[..2 + n]).is_err() {
            return Err(aborted(0));
        }
        self.t.notify(0);
        // Polled, not slept: QEMU completes the disk I/O in its main loop,
        // which a sleeping guest under `-icount ...,sleep=off` starves
        // (time::Wait::polling).
        match self.t.wait_used_polling(&mut self.q, timeout) {
            Ok(_) => {
                let s = self.req.byte(STATUS);
                if s == S_OK {
                    Ok(())
                } else {
                    Err(aborted(u64::from(s)))
                }
            }
            Err(e) => {
                // The request will never come back (QEMU marked the device
                // broken, or it could not even read its ring): start over.
                self.resets += 1;
                let _ = self.init();
                Err(match e {
                    VirtioError::UsedTimeout { waited, status, .. } => DmaError::Timeout {
                        stream,
                        iova: at,
                        waited,
                        status: u64::from(status),
                    },
                    VirtioError::NeedsReset { status, .. } => aborted(u64::from(status)),
                    _ => aborted(0),
                })
            }
        }
    }

    /// `[iova, len]` followed by `SECTOR - len` bytes of request memory at
    /// `filler`, so the request moves exactly one sector.
    fn sector_chain(&self, iova: Iova, len: usize, filler: usize, dev_writes: bool) -> [Buffer; 2] {
        [
            Buffer {
                addr: iova.0,
                len: len as u32,
                device_writes: dev_writes,
            },
            Buffer {
                addr: self.req_iova.0 + filler as u64,
                len: (SECTOR - len) as u32,
                device_writes: dev_writes,
            },
        ]
    }

    fn data_bufs(chain: &[Buffer; 2]) -> &[Buffer] {
        if chain[1].len == 0 {
            &chain[..1]
        } else {
            &chain[..]
        }
    }

    fn check_len(len: usize) -> Result<(), DmaError> {
        if len == 0 || len > SECTOR {
            return Err(DmaError::TooLong { len, max: SECTOR });
        }
        Ok(())
    }
}

impl<M: Mmio> DmaMaster for VirtioBlkMaster<'_, '_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn max_transfer(&self) -> usize {
        SECTOR
    }

    fn write(&mut self, iova: Iova, data: &[u8], timeout: Duration) -> Result<DmaReport, DmaError> {
        Self::check_len(data.len())?;
        self.req.write(STAGING, &[0u8; SECTOR]);
        self.req.write(STAGING, data);
        let staged = [Buffer {
            addr: self.req_iova.0 + STAGING as u64,
            len: SECTOR as u32,
            device_writes: false,
        }];
        let at = Iova(self.req_iova.0 + STAGING as u64);
        self.request(T_OUT, &staged, at, timeout)?;
        let chain = self.sector_chain(iova, data.len(), SINK, true);
        self.request(T_IN, Self::data_bufs(&chain), iova, timeout)?;
        Ok(DmaReport {
            bytes: data.len(),
            status: 0,
        })
    }

    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        Self::check_len(buf.len())?;
        let chain = self.sector_chain(iova, buf.len(), SINK, false);
        self.request(T_OUT, Self::data_bufs(&chain), iova, timeout)?;
        let staged = [Buffer {
            addr: self.req_iova.0 + STAGING as u64,
            len: SECTOR as u32,
            device_writes: true,
        }];
        let at = Iova(self.req_iova.0 + STAGING as u64);
        self.request(T_IN, &staged, at, timeout)?;
        self.req.read(STAGING, buf);
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
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        Self::check_len(len)?;
        let from = self.sector_chain(src, len, SINK, false);
        self.request(T_OUT, Self::data_bufs(&from), src, timeout)?;
        let to = self.sector_chain(dst, len, SINK, true);
        self.request(T_IN, Self::data_bufs(&to), dst, timeout)?;
        Ok(DmaReport {
            bytes: len,
            status: 0,
        })
    }
}

#[cfg(test)]
mod tests;
