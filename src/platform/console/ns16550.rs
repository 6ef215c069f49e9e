//! 8250/16550-family UART transmit driver (`ns16550a`, `ns16550`,
//! `snps,dw-apb-uart` as on Allwinner, ...).
//!
//! Registers (TI PC16550D datasheet): THR at index 0, LSR at index 5 with THRE
//! = bit 5 (transmit holding register empty).  The register index is shifted
//! by the DT's `reg-shift` and accessed with `reg-io-width` bytes
//! (Linux Documentation/devicetree/bindings/serial/8250.yaml; Allwinner
//! DW-APB UARTs use reg-shift 2, reg-io-width 4).
#![forbid(unsafe_code)]

use super::Uart;
use crate::mmio::Mmio;
use crate::time::{poll_until, Clock, Timeout};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

const THR: usize = 0;
const LSR: usize = 5;
const LSR_THRE: u32 = 1 << 5;
const TX_TIMEOUT: Duration = Duration::from_millis(20);

/// Register access width from `reg-io-width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoWidth {
    /// 8-bit accesses (the default).
    Byte,
    /// 32-bit accesses (`reg-io-width = <4>`).
    Word,
}

impl IoWidth {
    /// From the DT property value; `None` for widths we do not drive (2 is
    /// not used by any board we support).
    pub fn from_dt(width: u32) -> Option<Self> {
        match width {
            1 => Some(IoWidth::Byte),
            4 => Some(IoWidth::Word),
            _ => None,
        }
    }
}

/// A 16550-compatible UART.
pub struct Ns16550<M: Mmio> {
    regs: M,
    shift: u32,
    width: IoWidth,
    clock: &'static (dyn Clock + Sync),
    stalled: AtomicBool,
}

impl<M: Mmio> Ns16550<M> {
    /// Wraps a register block with the DT's `reg-shift` and access width.
    pub fn new(
        regs: M,
        reg_shift: u32,
        width: IoWidth,
        clock: &'static (dyn Clock + Sync),
    ) -> Self {
        Self {
            regs,
            shift: reg_shift.min(4),
            width,
            clock,
            stalled: AtomicBool::new(false),
        }
    }

    fn read(&self, index: usize) -> u32 {
        let off = index << self.shift;
        match self.width {
            IoWidth::Byte => u32::from(self.regs.read8(off)),
            IoWidth::Word => self.regs.read32(off),
        }
    }

    fn write(&self, index: usize, v: u8) {
        let off = index << self.shift;
        match self.width {
            IoWidth::Byte => self.regs.write8(off, v),
            IoWidth::Word => self.regs.write32(off, u32::from(v)),
        }
    }

    /// The line status register (LSR).
    pub fn line_status(&self) -> u32 {
        self.read(LSR)
    }
}

impl<M: Mmio> Uart for Ns16550<M> {
    fn put(&self, byte: u8) -> Result<(), Timeout> {
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Timeout {
                what: "16550 LSR.THRE (UART stalled earlier)",
                waited: Duration::ZERO,
            });
        }
        let r = poll_until(self.clock, TX_TIMEOUT, "16550 LSR.THRE", || {
            self.read(LSR) & LSR_THRE != 0
        });
        if let Err(e) = r {
            self.stalled.store(true, Ordering::Relaxed);
            return Err(e);
        }
        self.write(THR, byte);
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
    fn dw_apb_uart_uses_shift_2_and_32_bit_accesses() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, _| u64::from(LSR_THRE),
        };
        let uart = Ns16550::new(regs, 2, IoWidth::Word, clock());
        write_str(&uart, "A").unwrap();
        let log = uart.regs.log.borrow();
        assert_eq!(
            *log,
            [
                Access::Read(0x14, 4, 0x20),
                Access::Write(0x0, 4, u64::from(b'A'))
            ]
        );
    }

    #[test]
    fn ns16550a_uses_byte_accesses_without_shift() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, n| if n == 0 { 0 } else { u64::from(LSR_THRE) },
        };
        let uart = Ns16550::new(regs, 0, IoWidth::Byte, clock());
        uart.put(b'Z').unwrap();
        let log = uart.regs.log.borrow();
        assert_eq!(log[0], Access::Read(5, 1, 0));
        assert_eq!(log[1], Access::Read(5, 1, 0x20));
        assert_eq!(log[2], Access::Write(0, 1, u64::from(b'Z')));
    }

    #[test]
    fn silent_uart_times_out() {
        let regs = Recorder {
            log: RefCell::new(Vec::new()),
            read_value: |_, _, _| 0,
        };
        let uart = Ns16550::new(regs, 2, IoWidth::Word, clock());
        assert_eq!(uart.put(b'x').unwrap_err().what, "16550 LSR.THRE");
        assert!(uart.put(b'y').is_err());
    }

    #[test]
    fn io_width_from_dt() {
        assert_eq!(IoWidth::from_dt(1), Some(IoWidth::Byte));
        assert_eq!(IoWidth::from_dt(4), Some(IoWidth::Word));
        assert_eq!(IoWidth::from_dt(2), None);
    }
}
