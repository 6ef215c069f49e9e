//! Cadence UART (`cdns,uart-r1p12`, `xlnx,zynqmp-uart`; the ZynqMP PS
//! UARTs at 0xff00_0000 and 0xff01_0000) transmit driver.
//!
//! Registers are 32 bits (docs/hw/zynqmp.md §3; Linux
//! `drivers/tty/serial/xilinx_uartps.c`, UG1087 module UART): CR at 0x00
//! (TX_EN bit 4, TX_DIS bit 5), SR (channel status) at 0x2c (TXEMPTY bit 3,
//! TXFULL bit 4), FIFO at 0x30.  A byte is written to the FIFO only while
//! SR.TXFULL is clear, each wait bounded.  The loader set the baud rate;
//! the driver only makes sure the transmitter is enabled (TX_EN set, TX_DIS
//! clear) and changes nothing else.
#![forbid(unsafe_code)]

use super::Uart;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock, Timeout};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

/// CR: control register.
pub const CR: usize = 0x00;
/// SR: channel status register.
pub const SR: usize = 0x2c;
/// FIFO: transmit/receive FIFO.
pub const FIFO: usize = 0x30;
/// CR.TX_EN.
pub const CR_TX_EN: u32 = 1 << 4;
/// CR.TX_DIS.
pub const CR_TX_DIS: u32 = 1 << 5;
/// SR.TXEMPTY.
pub const SR_TXEMPTY: u32 = 1 << 3;
/// SR.TXFULL.
pub const SR_TXFULL: u32 = 1 << 4;

/// Longest wait for FIFO space: far above one character time at 9600 baud.
const TX_TIMEOUT: Duration = Duration::from_millis(20);

/// A Cadence UART.
pub struct Cadence<M: Mmio> {
    regs: M,
    clock: &'static (dyn Clock + Sync),
    stalled: AtomicBool,
}

impl<M: Mmio> Cadence<M> {
    /// Wraps the register block and enables the transmitter if the loader
    /// left it off or disabled (CR: TX_EN set, TX_DIS cleared; the reset
    /// bits and the receiver bits written as 0, which leaves them alone).
    pub fn new(regs: M, clock: &'static (dyn Clock + Sync)) -> Self {
        let cr = regs.read32(CR);
        if cr & (CR_TX_EN | CR_TX_DIS) != CR_TX_EN {
            regs.write32(CR, (cr & !CR_TX_DIS & !0x3) | CR_TX_EN);
        }
        Self {
            regs,
            clock,
            stalled: AtomicBool::new(false),
        }
    }

    /// The channel status register (SR), for the platform facts.
    pub fn status(&self) -> u32 {
        self.regs.read32(SR)
    }
}

impl<M: Mmio> Uart for Cadence<M> {
    fn put(&self, byte: u8) -> Result<(), Timeout> {
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Timeout {
                what: "Cadence UART SR.TXFULL (0x2c bit 4) to clear (UART stalled earlier)",
                waited: Duration::ZERO,
            });
        }
        let r = poll_until(
            self.clock,
            TX_TIMEOUT,
            "Cadence UART SR.TXFULL (0x2c bit 4) to clear",
            || self.regs.read32(SR) & SR_TXFULL == 0,
        );
        if let Err(e) = r {
            self.stalled.store(true, Ordering::Relaxed);
            return Err(e);
        }
        self.regs.write32(FIFO, u32::from(byte));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::console::fake::{clock, Access, Recorder};
    use crate::platform::console::write_str;
    use std::cell::RefCell;
    use std::vec::Vec;

    #[test]
    fn enables_the_transmitter_and_waits_for_fifo_space() {
        // CR as a loader that disabled TX left it (TX_DIS | RX_EN); SR
        // reports TXFULL on the first poll of each byte, then space.
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, n| match off {
                CR => u64::from(CR_TX_DIS | (1 << 2)),
                SR if n % 2 == 0 => u64::from(SR_TXFULL),
                _ => u64::from(SR_TXEMPTY),
            },
        };
        let uart = Cadence::new(regs, clock());
        write_str(&uart, "ok\n").unwrap();
        assert_eq!(
            uart.regs.writes_to(CR),
            [u64::from(CR_TX_EN | (1 << 2))],
            "TX enabled, TX_DIS cleared, RX_EN kept"
        );
        assert_eq!(
            uart.regs.writes_to(FIFO),
            [b'o', b'k', b'\r', b'\n'].map(u64::from)
        );
        let log = uart.regs.log.borrow();
        for (i, a) in log.iter().enumerate() {
            if let Access::Write(FIFO, 4, _) = a {
                assert_eq!(
                    log[i - 1],
                    Access::Read(SR, 4, u64::from(SR_TXEMPTY)),
                    "every byte follows a status read showing space"
                );
            }
        }
    }

    #[test]
    fn an_enabled_transmitter_is_left_alone() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| match off {
                CR => u64::from(CR_TX_EN | (1 << 2)),
                _ => 0,
            },
        };
        let uart = Cadence::new(regs, clock());
        assert!(uart.regs.writes_to(CR).is_empty());
    }

    #[test]
    fn a_full_fifo_times_out_then_output_is_dropped() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| match off {
                SR => u64::from(SR_TXFULL),
                _ => u64::from(CR_TX_EN),
            },
        };
        let uart = Cadence::new(regs, clock());
        let err = uart.put(b'x').unwrap_err();
        assert!(err.what.contains("TXFULL"), "{}", err.what);
        let before = uart.regs.log.borrow().len();
        assert!(uart.put(b'y').is_err());
        assert_eq!(uart.regs.log.borrow().len(), before, "not polled again");
        assert!(uart.regs.writes_to(FIFO).is_empty());
    }
}
