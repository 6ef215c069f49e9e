//! The sun50i IOMMU's VA debug port as a DMA master (docs/hw/sun50i.md §11):
//! the CPU writes an IOVA to VA (0x190), data to VA_DATA (0x194) for a
//! write, starts the access in VA_CONFIG (0x198: bit 31 debug mode, bit 8
//! write, bit 0 start), polls bit 0 until it clears, and for a read takes
//! VA_DATA.  The access is a translated 32-bit read or write through the
//! IOMMU's own walker and the one shared table, so the self-test can run
//! with no other master (`Probe::self_master`).
//!
//! * **Stream.**  The port is no micro-TLB slot; its faults flag bit 31 of
//!   L1PG_INT/L2PG_INT [M D1] (§8), so its stream is [`VA_PORT_STREAM`]
//!   (31), and `fault.rs` names bit 31 that stream.
//! * **Faults.**  After each access the port reads (never clears) INT_STA,
//!   L1PG_INT and L2PG_INT: an L1/L2-invalid status with bit 31 flagged is
//!   [`DmaError::Aborted`] at that access's IOVA.  Clearing and recovery
//!   stay the driver's (`Observe::drain_faults`), so the record reaches
//!   `fault_record`.  A port fault still latched from an earlier transfer
//!   (not drained) would hide whether the next access faulted: such a
//!   transfer is refused, aborted before its first access.  The port has
//!   no permission-fault bit (INT_STA bits 0–6 are the slots) and no
//!   DM_AUT bits of its own: whether domains apply to it is unconfirmed.
//! * **Bounded.**  Every access polls the busy bit with [`poll_until`] for
//!   at most [`VA_BUSY_TIMEOUT`] (and never longer than the transfer's
//!   timeout); a bit that stays set is [`DmaError::Timeout`] carrying
//!   VA_CONFIG as read last.  A later transfer first waits (bounded) for a
//!   still-busy port instead of starting over it.
//! * **Words.**  Data moves 4 bytes at a time; a partial word at either
//!   end is read through the port, merged and written back.
#![forbid(unsafe_code)]

use super::hw::BUSY_TIMEOUT;
use super::regs::*;
use crate::dma::{DmaError, DmaMaster, DmaReport, StreamId};
use crate::mm::Iova;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use alloc::string::String;
use core::time::Duration;

/// The stream the port's accesses carry in fault records: bit 31 of
/// L1PG_INT/L2PG_INT (docs/hw/sun50i.md §8, §11; [M D1]).
pub const VA_PORT_STREAM: StreamId = StreamId(31);

/// How long one access may keep VA_CONFIG's start bit set: the driver's
/// busy-bit bound (Linux's 2 ms for the flush; no source gives the port's
/// latency, one table walk and one 32-bit access).
pub const VA_BUSY_TIMEOUT: Duration = BUSY_TIMEOUT;

/// Largest transfer: 64 register round trips of 32 bits; enough for the
/// catalogue's 64-byte DMAs and its heartbeats.
pub const VA_MAX_TRANSFER: usize = 256;

/// INT_STA bits 16 / 17 (L1 / L2 entry invalid).
const INVALID: u32 = 3 << 16;
/// L1PG_INT / L2PG_INT bit 31: the debug port met the invalid entry.
const PG_DEBUG: u32 = 1 << 31;

/// The VA debug port of one sun50i IOMMU, over its own register handle.
pub struct VaPort<M: Mmio> {
    regs: Regs<M>,
    clock: &'static dyn Clock,
    name: String,
}

/// One access's failure, before it becomes a [`DmaError`].
enum Stop {
    /// A port fault at this IOVA (INT_STA as read).
    Fault { iova: u32, status: u32 },
    /// A port fault latched before the access (L1PG | L2PG as read).
    Stale { pg: u32 },
    /// The busy bit stayed set (VA_CONFIG as read last).
    Busy { waited: Duration, config: u32 },
}

impl<M: Mmio> VaPort<M> {
    /// The port of the IOMMU whose registers `mmio` maps; `name` for
    /// reports.
    pub fn new(mmio: M, clock: &'static dyn Clock, name: &str) -> Self {
        Self {
            regs: Regs::new(mmio),
            clock,
            name: String::from(name),
        }
    }

    /// Waits, bounded, for VA_CONFIG's start bit to read 0.
    fn wait_idle(&self, bound: Duration) -> Result<(), Stop> {
        let mut config = 0;
        let start = self.clock.ticks();
        poll_until(self.clock, bound, "sun50i VA_CONFIG start bit", || {
            config = self.regs.get(R_VA_CONFIG);
            config & VA_CONFIG::START::SET.value == 0
        })
        .map_err(|_| Stop::Busy {
            waited: self.clock.since(start),
            config,
        })
    }

    /// The port's own fault flags (L1PG | L2PG bit 31 under an L1/L2
    /// status), read without clearing anything.
    fn port_fault(&self) -> Option<(u32, u32)> {
        let status = self.regs.get(R_INT_STA);
        if status & INVALID == 0 {
            return None;
        }
        let pg = self.regs.get(R_L1PG_INT) | self.regs.get(R_L2PG_INT);
        (pg & PG_DEBUG != 0).then_some((status, pg))
    }

    /// One translated 32-bit access at `iova` (a multiple of 4): writes
    /// `data` when given, else returns the word read.
    fn access(&mut self, iova: u32, data: Option<u32>, bound: Duration) -> Result<u32, Stop> {
        self.wait_idle(bound)?;
        if let Some((_, pg)) = self.port_fault() {
            return Err(Stop::Stale { pg });
        }
        self.regs.set(R_VA, iova);
        let mut config = VA_CONFIG::MODE_SEL::SET;
        if let Some(d) = data {
            self.regs.set(R_VA_DATA, d);
            config += VA_CONFIG::WRITE::SET;
        }
        // The manual's steps: direction first, then start (§11); bit 31
        // set on both stores as the vendor driver does.
        self.regs.write(R_VA_CONFIG, config);
        self.regs.write(R_VA_CONFIG, config + VA_CONFIG::START::SET);
        self.wait_idle(bound)?;
        if let Some((status, _)) = self.port_fault() {
            return Err(Stop::Fault { iova, status });
        }
        Ok(match data {
            Some(d) => d,
            None => self.regs.get(R_VA_DATA),
        })
    }

    fn error(&self, stop: Stop, first: Iova, write: bool, done: usize) -> DmaError {
        match stop {
            Stop::Fault { iova, status } => DmaError::Aborted {
                stream: VA_PORT_STREAM,
                iova: Iova(u64::from(iova)),
                write,
                bytes: done,
                status: u64::from(status),
            },
            Stop::Stale { pg } => DmaError::Aborted {
                stream: VA_PORT_STREAM,
                iova: first,
                write,
                bytes: done,
                status: u64::from(pg),
            },
            Stop::Busy { waited, config } => DmaError::Timeout {
                stream: VA_PORT_STREAM,
                iova: first,
                waited,
                status: u64::from(config),
            },
        }
    }

    /// The words covering `len` bytes at `iova`, or why not.
    fn span(&self, iova: Iova, len: usize, write: bool) -> Result<(u32, usize), DmaError> {
        if len > VA_MAX_TRANSFER {
            return Err(DmaError::TooLong {
                len,
                max: VA_MAX_TRANSFER,
            });
        }
        // The port's IOVA register is 32 bits: a wider IOVA (or one whose
        // transfer wraps past 4 GiB) is beyond the port, as beyond the walker.
        if len == 0 {
            return Ok((0, 0));
        }
        let end = iova.0.saturating_add(len as u64);
        let Ok(start) = u32::try_from(iova.0) else {
            return Err(beyond(iova, write));
        };
        if end > 1 << 32 {
            return Err(beyond(iova, write));
        }
        let first = start & !3;
        let words = (end - u64::from(first)).div_ceil(4) as usize;
        Ok((first, words))
    }
}

/// An IOVA the port's 32-bit VA register cannot hold.
fn beyond(iova: Iova, write: bool) -> DmaError {
    DmaError::Aborted {
        stream: VA_PORT_STREAM,
        iova,
        write,
        bytes: 0,
        status: 0,
    }
}

impl<M: Mmio> DmaMaster for VaPort<M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self) -> StreamId {
        VA_PORT_STREAM
    }

    fn max_transfer(&self) -> usize {
        VA_MAX_TRANSFER
    }

    /// The port has no micro-TLB slot, so no per-master permission domain
    /// applies to it; no source says its accesses are permission-checked
    /// (docs/hw/sun50i.md §11).
    fn write_permission_unchecked(&self) -> Option<&'static str> {
        Some("the VA debug port has no micro-TLB slot and no source says its accesses are permission-checked (docs/hw/sun50i.md §11)")
    }

    fn write(&mut self, iova: Iova, data: &[u8], timeout: Duration) -> Result<DmaReport, DmaError> {
        let (first, words) = self.span(iova, data.len(), true)?;
        let bound = timeout.min(VA_BUSY_TIMEOUT);
        let lead = iova.0.wrapping_sub(u64::from(first)) as usize;
        for w in 0..words {
            let at = first + 4 * w as u32;
            // Bytes of this word inside the transfer: data[from..to] goes to
            // word bytes [from + lead - 4w ..].
            let lo = (4 * w).saturating_sub(lead);
            let hi = (4 * w + 4).saturating_sub(lead).min(data.len());
            let skip = (lead + lo) - 4 * w;
            let mut word = [0u8; 4];
            if hi - lo < 4 {
                let old = self
                    .access(at, None, bound)
                    .map_err(|s| self.error(s, iova, true, lo))?;
                word = old.to_le_bytes();
            }
            word[skip..skip + (hi - lo)].copy_from_slice(&data[lo..hi]);
            self.access(at, Some(u32::from_le_bytes(word)), bound)
                .map_err(|s| self.error(s, iova, true, lo))?;
        }
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
        let (first, words) = self.span(iova, buf.len(), false)?;
        let bound = timeout.min(VA_BUSY_TIMEOUT);
        let lead = iova.0.wrapping_sub(u64::from(first)) as usize;
        for w in 0..words {
            let at = first + 4 * w as u32;
            let lo = (4 * w).saturating_sub(lead);
            let hi = (4 * w + 4).saturating_sub(lead).min(buf.len());
            let skip = (lead + lo) - 4 * w;
            let word = self
                .access(at, None, bound)
                .map_err(|s| self.error(s, iova, false, lo))?
                .to_le_bytes();
            buf[lo..hi].copy_from_slice(&word[skip..skip + (hi - lo)]);
        }
        Ok(DmaReport {
            bytes: buf.len(),
            status: 0,
        })
    }
}
