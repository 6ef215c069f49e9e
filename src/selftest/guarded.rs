//! DMA buffers with guard pages full of canaries on both sides, so a DMA that
//! lands one byte outside the buffer it was meant for is caught
//! (`no_collateral_writes`).
#![forbid(unsafe_code)]

use crate::mm::dma_pool::{DmaBuf, DmaError, DmaPool};
use crate::mm::PhysAddr;
use core::fmt;

/// The canary byte at offset `i` of a guard area (varies, so a shifted copy
/// of the guard is not mistaken for an intact one).
fn canary(i: usize) -> u8 {
    0xc5 ^ (i as u8).wrapping_mul(31)
}

/// Which guard area of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The one before the data.
    Below,
    /// The one after it.
    Above,
}

/// A damaged canary: where, and what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardDamaged {
    /// Which guard area.
    pub side: Side,
    /// The buffer's data area.
    pub buffer: PhysAddr,
    /// The damaged byte.
    pub at: PhysAddr,
    /// What it reads.
    pub seen: u8,
    /// What it should read.
    pub canary: u8,
}

impl fmt::Display for GuardDamaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let area = match self.side {
            Side::Below => "below",
            Side::Above => "above",
        };
        write!(
            f,
            "guard {area} buffer {}: byte at {} is {:#04x}, canary {:#04x}",
            self.buffer, self.at, self.seen, self.canary
        )
    }
}

/// A buffer of `len` bytes with `guard` bytes of canaries before and after.
pub struct GuardedBuf<'p> {
    buf: DmaBuf<'p>,
    guard: usize,
    len: usize,
}

impl<'p> GuardedBuf<'p> {
    /// Allocates from `pool`: the data area is `len` bytes (rounded up to
    /// `guard`), zeroed; both guard areas (one `guard` each, normally one
    /// IOMMU page) are filled with canaries.
    pub fn new(pool: &'p DmaPool, len: usize, guard: usize) -> Result<Self, DmaError> {
        let len = len.div_ceil(guard) * guard;
        let buf = pool.alloc((len + 2 * guard) as u64)?;
        let g = Self { buf, guard, len };
        g.fill_guards();
        Ok(g)
    }

    fn fill_guards(&self) {
        let mut c = alloc::vec![0u8; self.guard];
        for (i, b) in c.iter_mut().enumerate() {
            *b = canary(i);
        }
        self.buf.write(0, &c);
        self.buf.write(self.guard + self.len, &c);
    }

    /// Physical address of the data area (aligned to `guard`).
    pub fn phys(&self) -> PhysAddr {
        self.buf.phys() + self.guard as u64
    }

    /// The address devices and IOMMU tables use for the data area: its bus
    /// address.  Equal to [`phys`](Self::phys) on every platform this image
    /// runs on; differs on host models with a 32-bit bus window.
    pub fn bus(&self) -> PhysAddr {
        PhysAddr(self.buf.bus_addr().0.wrapping_add(self.guard as u64))
    }

    /// Data length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads data bytes.
    pub fn read(&self, off: usize, out: &mut [u8]) {
        self.buf.read(self.guard + off, out);
    }

    /// Writes data bytes.
    pub fn write(&self, off: usize, data: &[u8]) {
        self.buf.write(self.guard + off, data);
    }

    /// `n` data bytes at `off`.
    pub fn bytes(&self, off: usize, n: usize) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; n];
        self.read(off, &mut v);
        v
    }

    /// The first damaged canary, naming its physical address.
    pub fn check_guards(&self) -> Result<(), GuardDamaged> {
        for (side, start) in [(Side::Below, 0), (Side::Above, self.guard + self.len)] {
            let mut seen = alloc::vec![0u8; self.guard];
            self.buf.read(start, &mut seen);
            if let Some(i) = (0..self.guard).find(|&i| seen[i] != canary(i)) {
                return Err(GuardDamaged {
                    side,
                    buffer: self.phys(),
                    at: self.buf.phys() + (start + i) as u64,
                    seen: seen[i],
                    canary: canary(i),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::host_ram::HostRam;

    #[test]
    fn guards_catch_a_write_one_byte_outside() {
        let ram = HostRam::new(1 << 20);
        let pool = ram.pool();
        let g = GuardedBuf::new(&pool, 100, 4096).unwrap();
        assert_eq!(g.len(), 4096);
        assert!(g.phys().is_aligned(4096));
        g.write(0, &[1; 4096]);
        assert!(g.check_guards().is_ok());
        crate::mm::host_ram::write_bytes(g.phys().as_u64() + 4096, &[0]);
        let e = g.check_guards().unwrap_err();
        assert_eq!(e.side, Side::Above);
        assert_eq!(e.at, g.phys() + 4096);
        assert_eq!((e.seen, e.canary), (0, canary(0)));
        assert!(std::format!("{e}").contains("above"), "{e}");
        let g2 = GuardedBuf::new(&pool, 4096, 4096).unwrap();
        crate::mm::host_ram::write_bytes(g2.phys().as_u64() - 1, &[0xff]);
        let e = g2.check_guards().unwrap_err();
        assert_eq!(
            (e.side, e.at),
            (Side::Below, PhysAddr(g2.phys().as_u64() - 1))
        );
        assert!(std::format!("{e}").contains("below"));
    }
}
