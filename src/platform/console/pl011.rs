//! Arm PrimeCell UART (PL011) transmit driver.
//!
//! Registers (Arm DDI 0183G "PrimeCell UART (PL011) TRM", §3.2): UARTDR at
//! 0x000, UARTFR at 0x018 (TXFF = bit 5: transmit FIFO full), UARTCR at 0x030
//! (UARTEN bit 0, TXE bit 8, RXE bit 9).  Firmware has set the baud rate; we
//! only make sure the UART and its transmitter are enabled.
#![forbid(unsafe_code)]

use super::Uart;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock, Timeout};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

const UARTDR: usize = 0x000;
const UARTFR: usize = 0x018;
const UARTCR: usize = 0x030;
const FR_TXFF: u32 = 1 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;

/// Longest wait for FIFO space: far above one character time at 9600 baud.
const TX_TIMEOUT: Duration = Duration::from_millis(20);

/// A PL011 UART.
pub struct Pl011<M: Mmio> {
    regs: M,
    clock: &'static (dyn Clock + Sync),
    stalled: AtomicBool,
}

impl<M: Mmio> Pl011<M> {
    /// Wraps the register block and enables the transmitter if firmware left
    /// it off (UARTCR |= UARTEN | TXE; other bits untouched).
    pub fn new(regs: M, clock: &'static (dyn Clock + Sync)) -> Self {
        let cr = regs.read32(UARTCR);
        if cr & (CR_UARTEN | CR_TXE) != (CR_UARTEN | CR_TXE) {
            regs.write32(UARTCR, cr | CR_UARTEN | CR_TXE);
        }
        Self {
            regs,
            clock,
            stalled: AtomicBool::new(false),
        }
    }

    /// The flag register (UARTFR), e.g. to prove device memory is readable.
    pub fn flags(&self) -> u32 {
        self.regs.read32(UARTFR)
    }
}

impl<M: Mmio> Uart for Pl011<M> {
    fn put(&self, byte: u8) -> Result<(), Timeout> {
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Timeout {
                what: "PL011 UARTFR.TXFF to clear (UART stalled earlier)",
                waited: Duration::ZERO,
            });
        }
        let r = poll_until(self.clock, TX_TIMEOUT, "PL011 UARTFR.TXFF to clear", || {
            self.regs.read32(UARTFR) & FR_TXFF == 0
        });
        if let Err(e) = r {
            self.stalled.store(true, Ordering::Relaxed);
            return Err(e);
        }
        self.regs.write32(UARTDR, u32::from(byte));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::console::fake::{Access, Recorder};
    use crate::platform::console::write_str;
    use std::cell::RefCell;
    use std::vec::Vec;

    use crate::platform::console::fake::clock;

    #[test]
    fn enables_uart_and_waits_for_fifo_space() {
        // FR reports TXFF on the first poll of each byte, then space.
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, n| match off {
                UARTCR => 0,
                UARTFR if n % 2 == 0 => u64::from(FR_TXFF),
                _ => 0,
            },
        };
        let uart = Pl011::new(regs, clock());
        write_str(&uart, "ok\n").unwrap();
        assert_eq!(uart.regs.writes_to(UARTCR), [u64::from(CR_UARTEN | CR_TXE)]);
        assert_eq!(
            uart.regs.writes_to(UARTDR),
            [b'o', b'k', b'\r', b'\n'].map(u64::from)
        );
        // Every data write is preceded by a flag read that showed space.
        let log = uart.regs.log.borrow();
        for (i, a) in log.iter().enumerate() {
            if let Access::Write(UARTDR, 4, _) = a {
                assert_eq!(log[i - 1], Access::Read(UARTFR, 4, 0));
            }
        }
    }

    #[test]
    fn full_fifo_times_out_then_output_is_dropped() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| {
                if off == UARTFR {
                    u64::from(FR_TXFF)
                } else {
                    0x301
                }
            },
        };
        let uart = Pl011::new(regs, clock());
        let err = uart.put(b'x').unwrap_err();
        assert!(err.what.contains("TXFF"));
        let reads_before = uart.regs.log.borrow().len();
        assert!(uart.put(b'y').is_err());
        assert_eq!(
            uart.regs.log.borrow().len(),
            reads_before,
            "stalled UART is not polled again"
        );
        assert!(uart.regs.writes_to(UARTDR).is_empty());
    }
}
