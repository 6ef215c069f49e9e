//! One channel of the ZynqMP DMA engine (ZDMA: the eight GDMA channels in
//! the full-power domain, `xlnx,zynqmp-dma-1.0` at 0xfd50_0000.., and the
//! eight ADMA channels in the low-power domain) driven in **simple mode**:
//! the descriptor is written into the channel's DSCR_WORD registers, one
//! memory-to-memory copy per start, completion and errors read from
//! ZDMA_CH_ISR.  No descriptors in memory, no interrupts: every wait is a
//! bounded poll with [`poll_until`].
//!
//! The sequence (docs/hw/zynqmp.md §2.2): the channel must be idle
//! (CTRL2.EN clear); CTRL0 gets POINT_TYPE = 0 (simple), MODE = 0 (read
//! and write), no rate control, no continue; the source and destination
//! words get the address (bits [31:0] and [48:32]), the size (30 bits; the
//! same size on both sides) and WORD3 = 0 (not coherent, no descriptor
//! interrupt); ISR is cleared; CTRL2.EN = 1 starts it.  Then ISR is polled
//! until DMA_DONE or an error bit (AXI_RD_DATA, AXI_WR_DATA, the
//! descriptor-fetch bits, INV_APB) is set.  An error names the ISR value,
//! the STATUS state and the bytes TOTAL_BYTE counted; a timeout names ISR,
//! STATUS and CTRL2 as they were when the wait gave up.
//!
//! Facts from AMD UG1085 (TRM, "DMA Controller") and UG1087 (register
//! reference, module ZDMA), with Xilinx `embeddedsw` `xzdma_hw.h`, Linux
//! `drivers/dma/xilinx/zynqmp_dma.c` and QEMU `hw/dma/xlnx-zdma.c` as
//! second sources; where they differ the driver relies on neither reading
//! (docs/hw/zynqmp.md §2.1: the STATUS encodings of "busy" and "paused",
//! and how TOTAL_BYTE clears).
//!
//! **Tested on a host model only** (`zdma/model.rs`, written from the
//! register descriptions), never on a board.
#![forbid(unsafe_code)]

pub mod master;
pub mod regs;

#[cfg(test)]
mod catalogue_tests;
#[cfg(test)]
pub(crate) mod model;
#[cfg(test)]
mod tests;

use crate::mmio::Mmio;
use crate::time::{poll_until, Clock};
use core::fmt;
use core::time::Duration;

pub use master::ZdmaMaster;

/// The `compatible` of a ZDMA channel node (Linux binding
/// `dma/xilinx/xlnx,zynqmp-dma-1.0.yaml`).
pub const COMPATIBLE: &str = "xlnx,zynqmp-dma-1.0";

/// Largest simple-mode transfer: the 30-bit SIZE field.
pub const MAX_TRANSFER: usize = regs::WORD2_SIZE as usize;

/// Which side of a copy an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The source (read by the channel).
    Source,
    /// The destination (written by the channel).
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// Why a ZDMA operation did not complete; each names the registers a lab
/// needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZdmaError {
    /// The register block reads all ones: unclocked, powered down, or not
    /// a ZDMA channel.
    Dead {
        /// The register read.
        offset: usize,
        /// Its value.
        value: u32,
    },
    /// The channel was still enabled (CTRL2.EN) when a transfer was to be
    /// started: a previous transfer never finished.
    Busy {
        /// ZDMA_CH_CTRL2.
        ctrl2: u32,
        /// ZDMA_CH_STATUS.
        status: u32,
    },
    /// Zero bytes, or more than the 30-bit SIZE field holds.
    BadLength {
        /// Bytes asked for.
        len: usize,
    },
    /// An address beyond the channel's 49 address bits.
    AddressTooWide {
        /// Which side.
        side: Side,
        /// The address.
        addr: u64,
    },
    /// The transfer ended with an error bit in ZDMA_CH_ISR.
    Failed {
        /// ZDMA_CH_ISR at the end.
        isr: u32,
        /// ZDMA_CH_STATUS at the end.
        status: u32,
        /// Bytes ZDMA_CH_TOTAL_BYTE counted for this transfer.
        bytes: u32,
    },
    /// Neither DMA_DONE nor an error bit within the timeout.
    Timeout {
        /// How long the poll ran.
        waited: Duration,
        /// ZDMA_CH_ISR when it gave up.
        isr: u32,
        /// ZDMA_CH_STATUS when it gave up.
        status: u32,
        /// ZDMA_CH_CTRL2 when it gave up.
        ctrl2: u32,
    },
}

impl ZdmaError {
    /// The side an error is about: a write-data error is the destination's,
    /// a read-data error the source's (both set: the source, which failed
    /// first); `None` for errors of neither.
    pub fn side(&self) -> Option<Side> {
        match *self {
            ZdmaError::Failed { isr, .. } if isr & regs::AXI_RD_DATA != 0 => Some(Side::Source),
            ZdmaError::Failed { isr, .. } if isr & regs::AXI_WR_DATA != 0 => {
                Some(Side::Destination)
            }
            ZdmaError::AddressTooWide { side, .. } => Some(side),
            _ => None,
        }
    }
}

impl fmt::Display for ZdmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ZdmaError::Dead { offset, value } => write!(
                f,
                "{} (+{offset:#x}) reads {value:#x}: the channel does not answer (unclocked, powered down or not a ZDMA)",
                regs::name(offset)
            ),
            ZdmaError::Busy { ctrl2, status } => write!(
                f,
                "channel still enabled before a new transfer: ZDMA_CH_CTRL2 (+0x200) = {ctrl2:#x}, ZDMA_CH_STATUS (+0x11c) = {status:#x}"
            ),
            ZdmaError::BadLength { len } => write!(
                f,
                "{len} bytes: a simple-mode transfer is 1..={MAX_TRANSFER} bytes (ZDMA_CH_SRC_DSCR_WORD2.SIZE, 30 bits)"
            ),
            ZdmaError::AddressTooWide { side, addr } => write!(
                f,
                "{side} address {addr:#x} is wider than the channel's {} address bits",
                regs::ADDRESS_BITS
            ),
            ZdmaError::Failed { isr, status, bytes } => write!(
                f,
                "transfer failed: ZDMA_CH_ISR (+0x100) = {isr:#x} [{}], ZDMA_CH_STATUS (+0x11c) = {status:#x}, ZDMA_CH_TOTAL_BYTE counted {bytes} bytes",
                regs::isr_bits(isr)
            ),
            ZdmaError::Timeout {
                waited,
                isr,
                status,
                ctrl2,
            } => write!(
                f,
                "no DMA_DONE after {waited:?}: ZDMA_CH_ISR (+0x100) = {isr:#x} [{}], ZDMA_CH_STATUS (+0x11c) = {status:#x}, ZDMA_CH_CTRL2 (+0x200) = {ctrl2:#x}",
                regs::isr_bits(isr)
            ),
        }
    }
}

/// What a completed transfer reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// ZDMA_CH_ISR at the end (DMA_DONE set).
    pub isr: u32,
    /// Bytes ZDMA_CH_TOTAL_BYTE counted for this transfer.
    pub bytes: u32,
}

/// One ZDMA channel in simple mode.
pub struct Zdma<M: Mmio> {
    regs: M,
    clock: &'static dyn Clock,
}

impl<M: Mmio> Zdma<M> {
    /// Takes the channel: refuses a block that reads all ones or a channel
    /// still running, masks every interrupt (the driver polls), clears
    /// ISR, and puts CTRL0 in simple read-write mode.
    pub fn new(regs: M, clock: &'static dyn Clock) -> Result<Self, ZdmaError> {
        for off in [regs::CTRL0, regs::CTRL2, regs::STATUS] {
            let value = regs.read32(off);
            if value == u32::MAX {
                return Err(ZdmaError::Dead { offset: off, value });
            }
        }
        let z = Self { regs, clock };
        z.check_idle()?;
        z.regs.write32(regs::IDS, regs::ISR_ALL);
        z.clear_isr();
        let ctrl0 = z.regs.read32(regs::CTRL0);
        let simple = ctrl0
            & !(regs::CTRL0_POINT_TYPE
                | regs::CTRL0_MODE
                | regs::CTRL0_RATE_CTRL
                | regs::CTRL0_CONT_ADDR
                | regs::CTRL0_CONT);
        z.regs.write32(regs::CTRL0, simple);
        Ok(z)
    }

    fn check_idle(&self) -> Result<(), ZdmaError> {
        let ctrl2 = self.regs.read32(regs::CTRL2);
        if ctrl2 & regs::CTRL2_EN != 0 {
            return Err(ZdmaError::Busy {
                ctrl2,
                status: self.regs.read32(regs::STATUS),
            });
        }
        Ok(())
    }

    fn clear_isr(&self) {
        let isr = self.regs.read32(regs::ISR);
        if isr != 0 {
            self.regs.write32(regs::ISR, isr);
        }
    }

    fn check_addr(side: Side, addr: u64) -> Result<(), ZdmaError> {
        if addr >> regs::ADDRESS_BITS != 0 {
            return Err(ZdmaError::AddressTooWide { side, addr });
        }
        Ok(())
    }

    /// The raw ZDMA_CH_ISR (diagnostics).
    pub fn isr(&self) -> u32 {
        self.regs.read32(regs::ISR)
    }

    /// Copies `len` bytes from bus address `src` to `dst` (IOVAs when an
    /// IOMMU translates the channel's stream) and waits at most `timeout`
    /// for DMA_DONE or an error.
    pub fn copy(
        &mut self,
        src: u64,
        dst: u64,
        len: usize,
        timeout: Duration,
    ) -> Result<Done, ZdmaError> {
        if len == 0 || len > MAX_TRANSFER {
            return Err(ZdmaError::BadLength { len });
        }
        Self::check_addr(Side::Source, src)?;
        Self::check_addr(Side::Destination, dst)?;
        self.check_idle()?;
        let size = len as u32;
        let r = &self.regs;
        r.write32(regs::SRC_WORD0, src as u32);
        r.write32(regs::SRC_WORD1, (src >> 32) as u32 & regs::WORD1_MSB);
        r.write32(regs::SRC_WORD2, size);
        r.write32(regs::SRC_WORD3, 0);
        r.write32(regs::DST_WORD0, dst as u32);
        r.write32(regs::DST_WORD1, (dst >> 32) as u32 & regs::WORD1_MSB);
        r.write32(regs::DST_WORD2, size);
        r.write32(regs::DST_WORD3, 0);
        self.clear_isr();
        // How TOTAL_BYTE clears differs between sources (docs/hw/zynqmp.md
        // §2.1): count this transfer as the difference instead.
        let before = r.read32(regs::TOTAL_BYTE);
        r.write32(regs::CTRL2, regs::CTRL2_EN);
        let polled = poll_until(
            self.clock,
            timeout,
            "ZDMA_CH_ISR.DMA_DONE or an error bit",
            || r.read32(regs::ISR) & (regs::DMA_DONE | regs::ISR_ERRORS) != 0,
        );
        let isr = r.read32(regs::ISR);
        let status = r.read32(regs::STATUS);
        if let Err(t) = polled {
            let ctrl2 = r.read32(regs::CTRL2);
            // Stop the channel so the next transfer can tell it never
            // finished (Busy) instead of reprogramming a running channel.
            r.write32(regs::CTRL2, 0);
            return Err(ZdmaError::Timeout {
                waited: t.waited,
                isr,
                status,
                ctrl2,
            });
        }
        let bytes = r.read32(regs::TOTAL_BYTE).wrapping_sub(before);
        r.write32(regs::ISR, isr);
        if isr & regs::ISR_ERRORS != 0 || status & regs::STATUS_STATE == regs::STATE_DONE_ERR {
            // No source says whether an error leaves EN set; make sure the
            // next transfer starts from a stopped channel.
            if r.read32(regs::CTRL2) & regs::CTRL2_EN != 0 {
                r.write32(regs::CTRL2, 0);
            }
            return Err(ZdmaError::Failed { isr, status, bytes });
        }
        Ok(Done { isr, bytes })
    }
}
