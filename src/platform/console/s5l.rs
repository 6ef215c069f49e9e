//! Apple / Samsung S5L UART (`apple,s5l-uart`) transmit driver, as on the
//! M1 (t8103) at 0x2_3520_0000 behind m1n1.
//!
//! Registers are 32 bits wide (`reg-io-width = <4>`, docs/hw/board-facts.md §2):
//! `UTRSTAT` at 0x10 with `TXBE` = bit 1 (transmit buffer empty), `UFSTAT` at
//! 0x18, `UTXH` at 0x20.  Transmit is exactly what m1n1 `src/uart.c` does
//! (docs/hw/board-facts.md §2): wait for `UTRSTAT.TXBE`, then write `UTXH`.  m1n1 has set
//! the line up (115200 8N1 from the 24 MHz clock); we change nothing.
//!
//! `UFSTAT` is only read once, for the platform facts: its TX-full bit
//! (bit 9) and TX count (bits 7:4) follow the S3C2410 layout Linux
//! `drivers/tty/serial/samsung_tty.c` uses for `apple,s5l-uart`, which
//! docs/hw/board-facts.md does not state; waiting for TXBE does not depend on it and is
//! correct whether or not the FIFO is enabled.
#![forbid(unsafe_code)]

use super::Uart;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock, Timeout};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

/// `UTRSTAT`: transmit/receive status.
pub const UTRSTAT: usize = 0x10;
/// `UFSTAT`: FIFO status.
pub const UFSTAT: usize = 0x18;
/// `UTXH`: transmit holding register.
pub const UTXH: usize = 0x20;
/// `UTRSTAT.TXBE`.
const UTRSTAT_TXBE: u32 = 1 << 1;
const TX_TIMEOUT: Duration = Duration::from_millis(20);

/// An S5L UART.
pub struct S5l<M: Mmio> {
    regs: M,
    clock: &'static (dyn Clock + Sync),
    stalled: AtomicBool,
}

impl<M: Mmio> S5l<M> {
    /// Wraps the register block; no register is written.
    pub fn new(regs: M, clock: &'static (dyn Clock + Sync)) -> Self {
        Self {
            regs,
            clock,
            stalled: AtomicBool::new(false),
        }
    }

    /// `UTRSTAT` in bits 15:0 and `UFSTAT` in bits 31:16, for the facts.
    pub fn status(&self) -> u32 {
        let trstat = self.regs.read32(UTRSTAT) & 0xffff;
        let fstat = self.regs.read32(UFSTAT) & 0xffff;
        trstat | (fstat << 16)
    }
}

impl<M: Mmio> Uart for S5l<M> {
    fn put(&self, byte: u8) -> Result<(), Timeout> {
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Timeout {
                what: "s5l UTRSTAT.TXBE (0x10 bit 1) (UART stalled earlier)",
                waited: Duration::ZERO,
            });
        }
        let r = poll_until(
            self.clock,
            TX_TIMEOUT,
            "s5l UTRSTAT.TXBE (0x10 bit 1)",
            || self.regs.read32(UTRSTAT) & UTRSTAT_TXBE != 0,
        );
        if let Err(e) = r {
            self.stalled.store(true, Ordering::Relaxed);
            return Err(e);
        }
        self.regs.write32(UTXH, u32::from(byte));
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

    /// A transmitter whose holding register drains `drain` status reads
    /// after each write; writing while it is full is an overrun.
    #[derive(Default)]
    struct TxModel {
        busy_for: u32,
        drain: u32,
        wire: Vec<u8>,
        overruns: usize,
    }

    impl crate::mmio::RegisterModel for TxModel {
        fn read(&mut self, off: usize, _: crate::mmio::Width) -> u64 {
            if off != UTRSTAT {
                return 0;
            }
            if self.busy_for > 0 {
                self.busy_for -= 1;
                0
            } else {
                u64::from(UTRSTAT_TXBE) | 0x4
            }
        }
        fn write(&mut self, off: usize, _: crate::mmio::Width, val: u64) {
            if off == UTXH {
                if self.busy_for > 0 {
                    self.overruns += 1;
                }
                self.wire.push(val as u8);
                self.busy_for = self.drain;
            }
        }
    }

    #[test]
    fn behavioural_model_never_overruns() {
        let regs = crate::mmio::ModelMmio::new(TxModel {
            drain: 3,
            ..TxModel::default()
        });
        let uart = S5l::new(regs, clock());
        write_str(&uart, "not ok 2 dart\n").unwrap();
        let m = uart.regs.model();
        assert_eq!(m.wire, b"not ok 2 dart\r\n");
        assert_eq!(m.overruns, 0);
    }

    #[test]
    fn waits_for_txbe_then_writes_utxh_32_bit() {
        // TXBE clear on the first poll of each byte, set on the second.
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, n| if n % 2 == 0 { 0 } else { 0x6 },
        };
        let uart = S5l::new(regs, clock());
        write_str(&uart, "a\n").unwrap();
        let w = |b: u8| Access::Write(UTXH, 4, u64::from(b));
        let rd = |v: u64| Access::Read(UTRSTAT, 4, v);
        assert_eq!(
            *uart.regs.log.borrow(),
            [
                rd(0),
                rd(6),
                w(b'a'),
                rd(0),
                rd(6),
                w(b'\r'),
                rd(0),
                rd(6),
                w(b'\n'),
            ]
        );
    }

    #[test]
    fn new_writes_nothing_and_status_packs_both_registers() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |off, _, _| match off {
                UTRSTAT => 0x6,
                UFSTAT => 0x200,
                _ => 0xdead,
            },
        };
        let uart = S5l::new(regs, clock());
        assert!(uart.regs.log.borrow().is_empty());
        assert_eq!(uart.status(), 0x0200_0006);
    }

    #[test]
    fn stuck_transmitter_times_out_once_then_drops() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, _| 0,
        };
        let uart = S5l::new(regs, clock());
        let e = uart.put(b'x').unwrap_err();
        assert!(e.what.contains("TXBE"));
        let n = uart.regs.log.borrow().len();
        assert!(uart.put(b'y').is_err());
        assert_eq!(uart.regs.log.borrow().len(), n);
        assert!(uart.regs.writes_to(UTXH).is_empty());
    }
}
