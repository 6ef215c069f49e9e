//! The trait every DMA master implements (QEMU edu, virtio-blk, board
//! engines, host models), so the self-test is written once against
//! `Iommu` + [`DmaMaster`].  It lives in `dma`, below the IOMMU core, so
//! masters do not import the layer above them; `crate::iommu` re-exports it.
#![forbid(unsafe_code)]

use super::StreamId;
use crate::mm::Iova;
use core::time::Duration;

/// What the device reported for a transfer that completed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DmaReport {
    /// Bytes the device says it transferred.
    pub bytes: usize,
    /// The device's raw status register (or completion record) at the end.
    pub status: u64,
}

/// Why a transfer did not complete.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DmaError {
    /// The device saw a bus error / abort (what an IOMMU fault looks like
    /// from the master's side).
    Aborted {
        /// The master's stream.
        stream: StreamId,
        /// The IOVA it was accessing when it stopped.
        iova: Iova,
        /// `true` for a write to memory.
        write: bool,
        /// Bytes done before the abort.
        bytes: usize,
        /// The device's raw status.
        status: u64,
    },
    /// The device did not finish in time.
    Timeout {
        /// The master's stream.
        stream: StreamId,
        /// The first IOVA of the transfer.
        iova: Iova,
        /// How long we waited.
        waited: Duration,
        /// The device's raw status when we gave up.
        status: u64,
    },
    /// The device was still busy from an earlier job (or from whoever ran
    /// before the image) when asked to start: nothing was started, so the
    /// IOMMU is not judged by it.
    NotIdle {
        /// The master's stream.
        stream: StreamId,
        /// The device's raw status (channel state) when it was found busy.
        status: u64,
    },
    /// The transfer is larger than the device supports.
    TooLong {
        /// Bytes asked for.
        len: usize,
        /// The device's limit.
        max: usize,
    },
}

/// A device that can move bytes through its IOMMU.
pub trait DmaMaster {
    /// A short name for reports ("edu@0000:00:02.0").
    fn name(&self) -> &str;

    /// The stream ID its transactions carry.
    fn stream(&self) -> StreamId;

    /// Largest single transfer.
    fn max_transfer(&self) -> usize;

    /// `Some(reason)` when the IOMMU is not known to check this master's
    /// writes against page permissions (an IOMMU's own debug port outside
    /// the per-master permission machinery): `readonly_blocks_write` then
    /// SKIPs with the reason instead of judging the IOMMU by it.  The
    /// default — an ordinary master — is `None`.
    fn write_permission_unchecked(&self) -> Option<&'static str> {
        None
    }

    /// `Some(reason)` when the IOMMU's fault records for this master carry
    /// the direction of the master's own lookup, not of the transfer (a
    /// debug port whose translations are all of one kind): `fault_record`
    /// then notes a record whose direction is not the write's instead of
    /// failing on it.  The default is `None`.
    fn direction_not_recorded(&self) -> Option<&'static str> {
        None
    }

    /// `Some(reason)` when this master finds its translation context by
    /// reading the IOMMU's stream-mapping registers and refuses a stream
    /// they do not map without sending a transaction (a CPU-driven
    /// translation port): `default_deny` then says its verdict comes from
    /// those registers, not from the IOMMU's cached configuration.  The
    /// default — a master whose transactions the IOMMU matches itself — is
    /// `None`.
    fn detach_judged_by_registers(&self) -> Option<&'static str> {
        None
    }

    /// Device writes `data` to memory at `iova`.
    fn write(&mut self, iova: Iova, data: &[u8], timeout: Duration) -> Result<DmaReport, DmaError>;

    /// Device reads `buf.len()` bytes from memory at `iova`.
    fn read(
        &mut self,
        iova: Iova,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<DmaReport, DmaError>;

    /// Device copies `len` bytes from `src` to `dst` (both IOVAs).  The
    /// default reads into a buffer, then writes it (refusing more than
    /// [`max_transfer`](Self::max_transfer)); a device with a copy engine of
    /// its own (edu, virtio-blk) overrides it.
    fn copy(
        &mut self,
        src: Iova,
        dst: Iova,
        len: usize,
        timeout: Duration,
    ) -> Result<DmaReport, DmaError> {
        let max = self.max_transfer();
        if len > max {
            return Err(DmaError::TooLong { len, max });
        }
        let mut tmp = alloc::vec![0u8; len];
        self.read(src, &mut tmp, timeout)?;
        self.write(dst, &tmp, timeout)
    }
}
