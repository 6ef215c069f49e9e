//! Consoles: polled UART transmit drivers and the global console the KTAP
//! reporter writes to.
//!
//! The console is chosen from `/chosen/stdout-path` by device-tree discovery.
//! Drivers only transmit (the self-test never reads input) and every wait for
//! FIFO space is bounded; a UART that stops draining is marked stalled and
//! further output is dropped rather than hanging the run.

pub mod active;
pub mod cadence;
pub mod geni;
pub mod ns16550;
pub mod pl011;
pub mod s5l;

use crate::time::Timeout;

/// A transmit-only serial console.
pub trait Uart {
    /// Sends one byte, waiting (bounded) for FIFO space.
    fn put(&self, byte: u8) -> Result<(), Timeout>;
}

/// Writes `s` to `uart`, turning `\n` into `\r\n`.  Stops at the first timeout.
pub fn write_str(uart: &dyn Uart, s: &str) -> Result<(), Timeout> {
    for b in s.bytes() {
        if b == b'\n' {
            uart.put(b'\r')?;
        }
        uart.put(b)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fake {
    //! A recording register block for console tests.
    use crate::mmio::Mmio;
    use std::cell::RefCell;
    use std::vec::Vec;

    /// One recorded access.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Access {
        /// (offset, width in bytes, value read)
        Read(usize, u8, u64),
        /// (offset, width in bytes, value written)
        Write(usize, u8, u64),
    }

    /// A 1 MHz test clock that advances 1 ms on every read, so bounded waits
    /// in the drivers time out after a few polls.
    pub struct Ticker(core::sync::atomic::AtomicU64);

    impl crate::time::Clock for Ticker {
        fn ticks(&self) -> u64 {
            self.0
                .fetch_add(1000, core::sync::atomic::Ordering::Relaxed)
        }
        fn freq_hz(&self) -> u64 {
            1_000_000
        }
    }

    /// A fresh test clock per call (leaked: drivers keep `&'static` clocks),
    /// so tests running in parallel never advance each other's time.
    pub fn clock() -> &'static Ticker {
        std::boxed::Box::leak(std::boxed::Box::new(Ticker(
            core::sync::atomic::AtomicU64::new(0),
        )))
    }

    /// A register block whose reads come from `read_value` and whose accesses are logged.
    pub struct Recorder {
        /// Log of accesses.
        pub log: RefCell<Vec<Access>>,
        /// Produces the value of a read at (offset, width, nth read of that offset).
        pub read_value: fn(usize, u8, usize) -> u64,
    }

    impl Recorder {
        fn rd(&self, off: usize, w: u8) -> u64 {
            let n = self
                .log
                .borrow()
                .iter()
                .filter(|a| matches!(a, Access::Read(o, _, _) if *o == off))
                .count();
            let v = (self.read_value)(off, w, n);
            self.log.borrow_mut().push(Access::Read(off, w, v));
            v
        }
        fn wr(&self, off: usize, w: u8, v: u64) {
            self.log.borrow_mut().push(Access::Write(off, w, v));
        }
        /// Values written to `off`, in order.
        pub fn writes_to(&self, off: usize) -> Vec<u64> {
            self.log
                .borrow()
                .iter()
                .filter_map(|a| match a {
                    Access::Write(o, _, v) if *o == off => Some(*v),
                    _ => None,
                })
                .collect()
        }
    }

    impl Mmio for Recorder {
        fn read8(&self, off: usize) -> u8 {
            self.rd(off, 1) as u8
        }
        fn write8(&self, off: usize, val: u8) {
            self.wr(off, 1, val.into())
        }
        fn read16(&self, off: usize) -> u16 {
            self.rd(off, 2) as u16
        }
        fn write16(&self, off: usize, val: u16) {
            self.wr(off, 2, val.into())
        }
        fn read32(&self, off: usize) -> u32 {
            self.rd(off, 4) as u32
        }
        fn write32(&self, off: usize, val: u32) {
            self.wr(off, 4, val.into())
        }
        fn read64(&self, off: usize) -> u64 {
            self.rd(off, 8)
        }
        fn write64(&self, off: usize, val: u64) {
            self.wr(off, 8, val)
        }
    }
}
