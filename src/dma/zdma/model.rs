//! A behavioural model of one ZDMA channel for host tests, written from the
//! register descriptions (UG1087 module ZDMA, UG1085 "DMA Controller";
//! docs/hw/zynqmp.md §2), not from the driver: simple mode only (the
//! descriptor is the DSCR_WORD registers), a copy runs to completion when
//! CTRL2.EN is written 1, beat by beat through the IOMMU model's
//! [`Translate`] into host RAM.
//!
//! * ZDMA_CH_ISR is write-1-to-clear; IEN/IDS unmask/mask IMR.
//! * ZDMA_CH_STATUS: 0 done (idle), 2 busy, 3 done with errors — the
//!   `embeddedsw` encoding (§2.1 notes QEMU's differs for busy).
//! * A read the IOMMU refuses sets AXI_RD_DATA, a write AXI_WR_DATA; the
//!   transfer stops there, STATUS = 3, EN clears.  Bytes already written
//!   stay written and count in TOTAL_BYTE (which counts on every write
//!   response, even under an AXI error: UG1085).
//! * Any write to TOTAL_BYTE clears it (UG1085: "can be cleared by software
//!   by writing to the total transferred byte register").
//! * Knobs: `hang` (the channel never finishes: EN stays set, STATUS busy,
//!   until software writes EN = 0), `dead` (every register reads all ones),
//!   `fail_isr` (the transfer ends at once with these ISR bits and STATE 3,
//!   moving nothing: an error that names neither data side).
//!
//! Anything the driver should never do (scatter-gather pointer type, a
//! non read-write mode, starting a running channel, an access to an
//! unimplemented offset) is recorded in `misuse` (and INV_APB set for the
//! last), so a test can insist there was none.
#![forbid(unsafe_code)]

use super::regs::*;
use crate::mmio::{RegisterModel, Width};
use crate::testkit::master::Translate;
use crate::testkit::ram;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Bytes per data beat: the GDMA's 128-bit AXI bus (`xlnx,bus-width`).
pub const BEAT: usize = 16;

/// One ZDMA channel behind IOMMU model `T`.
pub struct ZdmaModel<T> {
    regs: [u32; 0x204 / 4],
    /// The IOMMU its stream goes through.
    pub iommu: T,
    /// The stream ID its transactions carry.
    pub stream: u32,
    /// The channel never finishes a transfer.
    pub hang: bool,
    /// Every register reads all ones (unclocked block).
    pub dead: bool,
    /// Nonzero: every start ends at once with these ISR bits set and STATE
    /// done-with-errors, moving no data.
    pub fail_isr: u32,
    /// Transfers started.
    pub starts: usize,
    /// What the driver should not have done.
    pub misuse: Vec<String>,
}

impl<T: Translate> ZdmaModel<T> {
    /// A channel out of reset.
    pub fn new(iommu: T, stream: u32) -> Self {
        let mut regs = [0u32; 0x204 / 4];
        regs[IMR / 4] = ISR_ALL;
        regs[CTRL0 / 4] = CTRL0_RESET;
        Self {
            regs,
            iommu,
            stream,
            hang: false,
            dead: false,
            fail_isr: 0,
            starts: 0,
            misuse: Vec::new(),
        }
    }

    /// A register's current value.
    pub fn reg(&self, off: usize) -> u32 {
        self.regs[off / 4]
    }

    fn implemented(off: usize) -> bool {
        matches!(
            off,
            ISR | IMR
                | IEN
                | IDS
                | CTRL0
                | STATUS
                | SRC_WORD0
                | SRC_WORD1
                | SRC_WORD2
                | SRC_WORD3
                | DST_WORD0
                | DST_WORD1
                | DST_WORD2
                | DST_WORD3
                | TOTAL_BYTE
                | CTRL2
        )
    }

    fn addr(&self, lo: usize, hi: usize) -> u64 {
        u64::from(self.regs[lo / 4]) | u64::from(self.regs[hi / 4] & WORD1_MSB) << 32
    }

    fn set_state(&mut self, state: u32) {
        self.regs[STATUS / 4] = state;
    }

    fn start(&mut self) {
        self.starts += 1;
        let ctrl0 = self.regs[CTRL0 / 4];
        if ctrl0 & CTRL0_POINT_TYPE != 0 {
            self.misuse
                .push(format!("started in scatter-gather mode (CTRL0 {ctrl0:#x})"));
        }
        if ctrl0 & CTRL0_MODE != 0 {
            self.misuse.push(format!(
                "started in a non read-write mode (CTRL0 {ctrl0:#x})"
            ));
        }
        self.regs[CTRL2 / 4] = CTRL2_EN;
        if self.hang {
            self.set_state(2);
            return;
        }
        if self.fail_isr != 0 {
            self.regs[CTRL2 / 4] = 0;
            self.regs[ISR / 4] |= self.fail_isr & ISR_ALL;
            self.set_state(STATE_DONE_ERR);
            return;
        }
        let src = self.addr(SRC_WORD0, SRC_WORD1);
        let dst = self.addr(DST_WORD0, DST_WORD1);
        // Simple read-write mode moves the source size (the destination
        // size is not used in this mode).
        let size = (self.regs[SRC_WORD2 / 4] & WORD2_SIZE) as usize;
        let mut done = 0usize;
        let mut error = 0u32;
        let mut beat = [0u8; BEAT];
        while done < size {
            // A beat never crosses a 16-byte boundary of the source.
            let n = (BEAT - ((src as usize + done) % BEAT)).min(size - done);
            let s = src + done as u64;
            let Some(pa) = self.iommu.translate(self.stream, s, false) else {
                error = AXI_RD_DATA;
                break;
            };
            ram::read_bytes(pa, &mut beat[..n]);
            let d = dst + done as u64;
            let Some(pa) = self.iommu.translate(self.stream, d, true) else {
                error = AXI_WR_DATA;
                break;
            };
            ram::write_bytes(pa, &beat[..n]);
            done += n;
            self.regs[TOTAL_BYTE / 4] = self.regs[TOTAL_BYTE / 4].wrapping_add(n as u32);
        }
        self.regs[CTRL2 / 4] = 0;
        if error != 0 {
            self.regs[ISR / 4] |= error;
            self.set_state(STATE_DONE_ERR);
        } else {
            self.regs[ISR / 4] |= DMA_DONE;
            self.set_state(0);
        }
    }
}

impl<T: Translate> RegisterModel for ZdmaModel<T> {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        if self.dead {
            return u64::MAX >> (64 - 8 * width.bytes());
        }
        if width != Width::W32 || !Self::implemented(off) {
            self.misuse
                .push(format!("read of +{off:#x} ({} bytes)", width.bytes()));
            self.regs[ISR / 4] |= INV_APB;
            return 0;
        }
        u64::from(self.regs[off / 4])
    }

    fn write(&mut self, off: usize, width: Width, val: u64) {
        if self.dead {
            return;
        }
        let v = val as u32;
        if width != Width::W32 || !Self::implemented(off) {
            self.misuse.push(format!(
                "write of {val:#x} to +{off:#x} ({} bytes)",
                width.bytes()
            ));
            self.regs[ISR / 4] |= INV_APB;
            return;
        }
        match off {
            ISR => self.regs[ISR / 4] &= !(v & ISR_ALL),
            IMR | STATUS => self
                .misuse
                .push(format!("write of {v:#x} to read-only +{off:#x}")),
            IEN => self.regs[IMR / 4] &= !(v & ISR_ALL),
            IDS => self.regs[IMR / 4] |= v & ISR_ALL,
            TOTAL_BYTE => self.regs[TOTAL_BYTE / 4] = 0,
            SRC_WORD1 | DST_WORD1 => self.regs[off / 4] = v & WORD1_MSB,
            SRC_WORD2 | DST_WORD2 => self.regs[off / 4] = v & WORD2_SIZE,
            CTRL2 => {
                let running = self.regs[CTRL2 / 4] & CTRL2_EN != 0;
                match (running, v & CTRL2_EN != 0) {
                    (false, true) => self.start(),
                    (true, true) => self
                        .misuse
                        .push(String::from("CTRL2.EN written 1 while the channel runs")),
                    (true, false) => {
                        // Software stops a hung channel.
                        self.regs[CTRL2 / 4] = 0;
                        self.set_state(0);
                    }
                    (false, false) => {}
                }
            }
            _ => self.regs[off / 4] = v,
        }
    }
}
